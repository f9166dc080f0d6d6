//! SM2 (GB/T 32918): signatures, public-key encryption and key generation on the
//! recommended curve, in constant time for every secret.
//!
//! The arithmetic is this crate's own ([`field`], [`point`]); the hash is this crate's SM3.
//! What depends on a secret (the private scalar, a signing or encryption nonce, the shared
//! point of encryption) runs without secret-dependent branches or memory indices; the
//! [`ct`] module marks secrets for a check of exactly that under valgrind. Verification
//! works on public data only and takes the faster variable-time path.
//!
//! ```
//! use wearpay_crypto::DEFAULT_SM2_ID;
//! use wearpay_shangmi::PROVIDER;
//!
//! let key = PROVIDER.sm2.generate(PROVIDER.random).unwrap();
//! let wearpay_crypto::PublicKey::Sm2(public) = wearpay_crypto::SigningKey::public_key(&*key) else { unreachable!() };
//! let sig = key.sign(b"pay 12.00 CNY").unwrap();
//! PROVIDER.sm2.verify(&public, DEFAULT_SM2_ID, b"pay 12.00 CNY", &sig).unwrap();
//!
//! let ct = PROVIDER.sm2.encrypt(&public, b"pre-master secret", PROVIDER.random).unwrap();
//! assert_eq!(&key.decrypt(&ct).unwrap()[..], b"pre-master secret");
//! ```
use alloc::{boxed::Box, vec::Vec};
use core::fmt;

use wearpay_crypto::{
    DecryptingKey, Error, HashOutput, PrivateKey, PublicKey, SecureRandom, SignatureScheme, SigningKey, Sm2,
    Sm2Ciphertext, Sm2PublicKey, Zeroize, Zeroizing, portable,
    sm2::{signature_from_der, signature_to_der, z_value},
};

use crate::sm3::{SM3, Sm3};

// The valgrind client request is inline assembly.
#[allow(unsafe_code)]
pub mod ct;
pub mod field;
pub mod point;
mod prepared;
mod safegcd;

use field::Scalar;
use point::{Affine, Jacobian, mul_base, mul_point};

/// SM2 on this crate's arithmetic.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sm2Impl;

/// The SM2 implementation the provider uses.
pub static SM2: Sm2Impl = Sm2Impl;

/// n − 1: the largest valid private scalar is n − 2 (GB/T 32918.1 §6.1), since 1 + d must be
/// invertible.
const N_MINUS_1: [u64; 4] = [Scalar::MODULUS[0] - 1, Scalar::MODULUS[1], Scalar::MODULUS[2], Scalar::MODULUS[3]];

/// An SM2 private key in memory: signs with its distinguishing ID and decrypts.
pub struct Sm2Key {
    /// The private scalar d.
    d: Scalar,
    /// (1 + d)⁻¹, which every signature needs.
    d_plus_1_inv: Scalar,
    public: Sm2PublicKey,
    /// Z for the key's distinguishing ID, computed once.
    z: HashOutput,
    /// Where signature nonces come from: the OS, or a pinned source in tests.
    random: &'static dyn SecureRandom,
}

impl fmt::Debug for Sm2Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2Key").field("public", &self.public).finish_non_exhaustive()
    }
}

impl Drop for Sm2Key {
    fn drop(&mut self) {
        self.d.zeroize();
        self.d_plus_1_inv.zeroize();
    }
}

/// Parses a private scalar, checking d ∈ [1, n − 2] in constant time; only the verdict is
/// revealed.
fn scalar_in_key_range(bytes: &[u8; 32]) -> Option<Scalar> {
    let (d, below_n) = Scalar::from_be_bytes_masked(bytes);
    let limbs = field_limbs_from_be(bytes);
    let nonzero = !field::is_zero_mask(limbs[0] | limbs[1] | limbs[2] | limbs[3]);
    let not_n_minus_1 = !(field::eq_mask(limbs[0], N_MINUS_1[0])
        & field::eq_mask(limbs[1], N_MINUS_1[1])
        & field::eq_mask(limbs[2], N_MINUS_1[2])
        & field::eq_mask(limbs[3], N_MINUS_1[3]));
    (ct::declassify(below_n & nonzero & not_n_minus_1) != 0).then_some(d)
}

fn field_limbs_from_be(bytes: &[u8; 32]) -> [u64; 4] {
    let mut out = [0u64; 4];
    for (i, chunk) in bytes.chunks_exact(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        out[3 - i] = u64::from_be_bytes(w);
    }
    out
}

/// Draws a nonce in [1, n − 1] as 32 big-endian bytes from `rng`, drawing again when out of
/// range (about once in 2^32); a rejected draw is discarded, so its verdict may be public.
fn random_nonce(rng: &dyn SecureRandom) -> Result<Scalar, Error> {
    loop {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill(bytes.as_mut())?;
        let (k, below_n) = Scalar::from_be_bytes_masked(&bytes);
        if ct::declassify(below_n & !k.is_zero_mask()) != 0 {
            return Ok(k);
        }
    }
}

/// The public point of a private scalar.
fn public_of(d: &Scalar) -> Sm2PublicKey {
    let mut sec1 = mul_base(d).to_affine_unchecked().to_sec1();
    // The public key is public: nothing secret-dependent follows from reading it.
    ct::mark_public(&mut sec1);
    Sm2PublicKey::from_sec1(&sec1).unwrap_or_else(|_| unreachable!("an uncompressed point"))
}

impl Sm2Key {
    fn new(scalar: &[u8], id: &[u8], random: &'static dyn SecureRandom) -> Result<Self, Error> {
        // Exactly 32 bytes, as the portable provider takes them.
        let bytes: &[u8; 32] = scalar.try_into().map_err(|_| Error::InvalidKey)?;
        let d = scalar_in_key_range(bytes).ok_or(Error::InvalidKey)?;
        let public = public_of(&d);
        // Fails for an ID longer than 8191 bytes (ENTL is 16 bits).
        let z = z_value(&SM3, id, &public)?;
        let d_plus_1_inv = d.add(&Scalar::ONE).invert();
        Ok(Self { d, d_plus_1_inv, public, z, random })
    }

    /// The signature (r, s) on the digest e, with nonces from `self.random`.
    fn sign_digest(&self, e: &[u8; 32]) -> Result<([u8; 32], [u8; 32]), Error> {
        let e = Scalar::from_be_bytes_reduced(e);
        loop {
            let k = random_nonce(self.random)?;
            let x1 = mul_base(&k).to_affine_unchecked().x;
            let r = e.add(&Scalar::from_field(&x1));
            // Draw again if r = 0 or r + k = n (GB/T 32918.2 §6.1 A5); the verdict is public.
            if ct::declassify(r.is_zero_mask() | r.add(&k).is_zero_mask()) != 0 {
                continue;
            }
            // s = (1 + d)⁻¹·(k − r·d) = (1 + d)⁻¹·(k + r) − r.
            let s = self.d_plus_1_inv.mul(&k.add(&r)).sub(&r);
            if ct::declassify(s.is_zero_mask()) != 0 {
                continue;
            }
            let (mut r, mut s) = (r.to_be_bytes(), s.to_be_bytes());
            // The signature is the output: public from here on.
            ct::mark_public(&mut r);
            ct::mark_public(&mut s);
            return Ok((r, s));
        }
    }
}

/// The SM2 key derivation function (GB/T 32918.4 §5.4.3) with SM3, XORed into `data`:
/// data ⊕ KDF(x2 ‖ y2, len). Returns all ones if the key stream was all zero.
fn xor_kdf(x2y2: &[u8; 64], data: &mut [u8]) -> u64 {
    let mut acc = 0u8;
    for (i, chunk) in data.chunks_mut(32).enumerate() {
        let mut h = Sm3::new();
        h.update(x2y2);
        // ct starts at 1; the length limits of the callers keep it below 2^32.
        h.update(&(i as u32).wrapping_add(1).to_be_bytes());
        let mut block = Zeroizing::new(h.finalize());
        for (d, t) in chunk.iter_mut().zip(block.iter()) {
            *d ^= t;
            acc |= t;
        }
        block.zeroize();
    }
    field::is_zero_mask(u64::from(acc))
}

/// C3 = SM3(x2 ‖ M ‖ y2).
fn check_value(x2y2: &[u8; 64], msg: &[u8]) -> [u8; 32] {
    let mut h = Sm3::new();
    h.update(&x2y2[..32]);
    h.update(msg);
    h.update(&x2y2[32..]);
    h.finalize()
}

/// Affine coordinates of a point as `x ‖ y`.
fn xy_bytes(p: &Affine) -> Zeroizing<[u8; 64]> {
    let mut out = Zeroizing::new([0u8; 64]);
    out[..32].copy_from_slice(&p.x.to_be_bytes());
    out[32..].copy_from_slice(&p.y.to_be_bytes());
    out
}

/// A public key as a curve point, or `InvalidPublicKey` (off the curve, non-canonical).
fn public_point(public: &Sm2PublicKey) -> Result<Affine, Error> {
    Affine::from_sec1(public.as_sec1()).ok_or(Error::InvalidPublicKey)
}

impl SigningKey for Sm2Key {
    fn public_key(&self) -> PublicKey {
        PublicKey::Sm2(self.public)
    }
    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::Sm2Sm3
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let mut h = Sm3::new();
        h.update(self.z.as_ref());
        h.update(msg);
        let (r, s) = self.sign_digest(&h.finalize())?;
        Ok(signature_to_der(&r, &s))
    }
}

impl DecryptingKey for Sm2Key {
    fn public_key(&self) -> PublicKey {
        PublicKey::Sm2(self.public)
    }
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let ct = Sm2Ciphertext::from_der(ciphertext).map_err(|_| Error::DecryptionFailed)?;
        if ct.c2.is_empty() {
            return Err(Error::DecryptionFailed);
        }
        // C1 must be a point of the curve (B1); the cofactor is 1, so S = h·C1 ≠ O (B2)
        // follows.
        let mut sec1 = [0u8; 65];
        sec1[0] = 0x04;
        sec1[1..33].copy_from_slice(&ct.x);
        sec1[33..].copy_from_slice(&ct.y);
        let c1 = Affine::from_sec1(&sec1).ok_or(Error::DecryptionFailed)?;
        // d·C1 is finite: d ∈ [1, n − 2] and C1 has order n.
        let x2y2 = xy_bytes(&mul_point(&self.d, &c1).to_affine_unchecked());
        let mut msg = Zeroizing::new(ct.c2);
        let all_zero = xor_kdf(&x2y2, &mut msg);
        let u = check_value(&x2y2, &msg);
        let matches = field::is_zero_mask(u.iter().zip(&ct.c3).fold(0u64, |acc, (a, b)| acc | u64::from(a ^ b)));
        // Only the verdict is revealed, once, after every check has run.
        if ct::declassify(!all_zero & matches) == 0 {
            return Err(Error::DecryptionFailed);
        }
        Ok(msg)
    }
}

impl PrivateKey for Sm2Key {
    fn export(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        Ok(Zeroizing::new(self.d.to_be_bytes().to_vec()))
    }
}

impl Sm2 for Sm2Impl {
    fn generate(&self, rng: &dyn SecureRandom) -> Result<Box<dyn PrivateKey>, Error> {
        loop {
            let mut scalar = Zeroizing::new([0u8; 32]);
            rng.fill(scalar.as_mut())?;
            // Rejection sampling, as the portable provider does: the same draws give the
            // same key.
            if let Ok(k) = Sm2Key::new(scalar.as_ref(), wearpay_crypto::DEFAULT_SM2_ID, portable::PROVIDER.random) {
                return Ok(Box::new(k));
            }
        }
    }

    fn from_secret(&self, scalar: &[u8], id: &[u8]) -> Result<Box<dyn PrivateKey>, Error> {
        Ok(Box::new(Sm2Key::new(scalar, id, portable::PROVIDER.random)?))
    }

    fn from_secret_with_random(
        &self,
        scalar: &[u8],
        id: &[u8],
        random: &'static dyn SecureRandom,
    ) -> Result<Box<dyn PrivateKey>, Error> {
        Ok(Box::new(Sm2Key::new(scalar, id, random)?))
    }

    fn validate(&self, public: &Sm2PublicKey) -> Result<(), Error> {
        public_point(public).map(|_| ())
    }

    fn verify(&self, public: &Sm2PublicKey, id: &[u8], msg: &[u8], sig_der: &[u8]) -> Result<(), Error> {
        let (r, s) = signature_from_der(sig_der).map_err(|_| Error::BadSignature)?;
        // r, s ∈ [1, n − 1] (B1, B2).
        let r = Scalar::from_be_bytes(&r).filter(|r| !r.is_zero_vartime()).ok_or(Error::BadSignature)?;
        let s = Scalar::from_be_bytes(&s).filter(|s| !s.is_zero_vartime()).ok_or(Error::BadSignature)?;
        // The key's table and Z, prepared at its first verification (see `prepared`).
        let key = prepared::prepared(public, id)?;
        let z = key.z(public, id)?;
        let mut h = Sm3::new();
        h.update(z.as_ref());
        h.update(msg);
        let e = Scalar::from_be_bytes_reduced(&h.finalize());
        // t = r + s ≠ 0 (B5); (x1, y1) = s·G + t·P (B6); R = e + x1 = r (B7).
        let t = r.add(&s);
        if t.is_zero_vartime() {
            return Err(Error::BadSignature);
        }
        let point = key.mul_double_vartime(&s, &t);
        // The point at infinity has no x (B6); checked on Z, without the inversion.
        if point.is_identity_vartime() {
            return Err(Error::BadSignature);
        }
        // x1 ≡ r − e (mod n), checked without an inversion.
        if point.x_mod_n_is_vartime(&r.sub(&e)) { Ok(()) } else { Err(Error::BadSignature) }
    }

    fn encrypt(&self, public: &Sm2PublicKey, msg: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, Error> {
        if msg.is_empty() {
            return Err(Error::InvalidLength);
        }
        // The point, checked, and its comb if it is encrypted to often (see `prepared`).
        let p = prepared::encryption_key(public)?;
        loop {
            let k = random_nonce(rng)?;
            // Both k·G and k·P are finite: k ∈ [1, n − 1] and G, P have order n. One
            // inversion serves both.
            let (c1, shared) = Jacobian::to_affine_pair_unchecked(&mul_base(&k), &p.mul(&k));
            let x2y2 = xy_bytes(&shared);
            let mut c2 = msg.to_vec();
            // An all-zero key stream means drawing k again (A5).
            if ct::declassify(xor_kdf(&x2y2, &mut c2)) != 0 {
                continue;
            }
            let mut c3 = check_value(&x2y2, msg);
            let (mut x, mut y) = (c1.x.to_be_bytes(), c1.y.to_be_bytes());
            // The ciphertext is published: its DER encoding may branch on it.
            ct::mark_public(&mut x);
            ct::mark_public(&mut y);
            ct::mark_public(&mut c3);
            ct::mark_public(&mut c2);
            return Ok(Sm2Ciphertext { x, y, c3, c2 }.to_der());
        }
    }
}

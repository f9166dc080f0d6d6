//! The portable provider, on the RustCrypto crates.
//!
//! It runs wherever `alloc` does and is the oracle the fast provider is tested against.
//! Its SM4 looks the S-box up in a table, so it is not constant time on a shared cache;
//! prefer a hardware or bitsliced provider where one exists.
use alloc::{boxed::Box, vec::Vec};
use core::{convert::Infallible, fmt};

use aes_gcm::{AeadInOut, KeyInit};
use cipher::{BlockCipherDecrypt, BlockCipherEncrypt};
use rsa::{
    pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey, EncodeRsaPrivateKey},
    traits::PublicKeyParts,
};
use sha2::Digest as _;
use signature::hazmat::PrehashVerifier;
use zeroize::Zeroizing;

use crate::{
    AeadCipher, AeadKey, BlockCipher, CbcCipher, CbcKey, CryptoProvider, DecryptingKey, Error, GCM_NONCE_LEN,
    GCM_TAG_LEN, Hash, HashAlgorithm, HashContext, HashOutput, PrivateKey, PublicKey, Rsa, RsaPublicKey, SecureRandom,
    SignatureScheme, SigningKey, Sm2, Sm2PublicKey,
    sm2::{Sm2Ciphertext, message_digest, z_value},
};

/// The portable provider.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    name: "rustcrypto",
    sm3: &Sm3Hash,
    sha256: &Sha256Hash,
    sm4_cbc: &Sm4CbcCipher,
    sm4_gcm: &Sm4GcmCipher,
    sm1_cbc: None,
    aes256_cbc: Some(&Aes256CbcCipher),
    sm2: &Sm2Impl,
    rsa: Some(&RsaImpl),
    random: &OsRandom,
};

// ---- hashes ----

macro_rules! digest_hash {
    ($name:ident, $ctx:ident, $inner:ty, $alg:expr) => {
        #[derive(Debug)]
        struct $name;
        #[derive(Clone)]
        struct $ctx($inner);
        impl Hash for $name {
            fn algorithm(&self) -> HashAlgorithm {
                $alg
            }
            fn start(&self) -> Box<dyn HashContext> {
                Box::new($ctx(<$inner>::new()))
            }
            fn hash(&self, data: &[u8]) -> HashOutput {
                HashOutput::new(&<$inner>::digest(data))
            }
        }
        impl HashContext for $ctx {
            fn update(&mut self, data: &[u8]) {
                self.0.update(data);
            }
            fn fork(&self) -> Box<dyn HashContext> {
                Box::new(self.clone())
            }
            fn finish(self: Box<Self>) -> HashOutput {
                HashOutput::new(&self.0.finalize())
            }
            fn finish_with(&self, parts: &[&[u8]]) -> HashOutput {
                let mut ctx = self.0.clone();
                for p in parts {
                    ctx.update(p);
                }
                HashOutput::new(&ctx.finalize())
            }
        }
    };
}

digest_hash!(Sm3Hash, Sm3Ctx, sm3::Sm3, HashAlgorithm::Sm3);
digest_hash!(Sha256Hash, Sha256Ctx, sha2::Sha256, HashAlgorithm::Sha256);

// ---- block ciphers ----

/// CBC over any 16-byte block cipher, reusing one key schedule for every record.
struct CbcWith<C>(C);

impl<C: BlockCipherEncrypt<BlockSize = cipher::consts::U16> + BlockCipherDecrypt + Send + Sync> CbcKey for CbcWith<C> {
    fn encrypt(&self, iv: &[u8; 16], blocks: &mut [u8]) -> Result<(), Error> {
        if !blocks.len().is_multiple_of(16) {
            return Err(Error::InvalidLength);
        }
        let mut chain = *iv;
        for block in blocks.chunks_exact_mut(16) {
            for (b, c) in block.iter_mut().zip(&chain) {
                *b ^= c;
            }
            let block: &mut cipher::Block<C> = block.try_into().map_err(|_| Error::InvalidLength)?;
            self.0.encrypt_block(block);
            chain.copy_from_slice(block);
        }
        Ok(())
    }

    fn decrypt(&self, iv: &[u8; 16], blocks: &mut [u8]) -> Result<(), Error> {
        if !blocks.len().is_multiple_of(16) {
            return Err(Error::InvalidLength);
        }
        let mut chain = *iv;
        for block in blocks.chunks_exact_mut(16) {
            let mut next = [0u8; 16];
            next.copy_from_slice(block);
            let b: &mut cipher::Block<C> = block.try_into().map_err(|_| Error::InvalidLength)?;
            self.0.decrypt_block(b);
            for (b, c) in block.iter_mut().zip(&chain) {
                *b ^= c;
            }
            chain = next;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Sm4CbcCipher;

impl CbcCipher for Sm4CbcCipher {
    fn cipher(&self) -> BlockCipher {
        BlockCipher::Sm4
    }
    fn key_len(&self) -> usize {
        16
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn CbcKey>, Error> {
        let c = sm4::Sm4::new_from_slice(key).map_err(|_| Error::InvalidLength)?;
        Ok(Box::new(CbcWith(c)))
    }
}

#[derive(Debug)]
struct Aes256CbcCipher;

impl CbcCipher for Aes256CbcCipher {
    fn cipher(&self) -> BlockCipher {
        BlockCipher::Aes256
    }
    fn key_len(&self) -> usize {
        32
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn CbcKey>, Error> {
        let c = aes::Aes256::new_from_slice(key).map_err(|_| Error::InvalidLength)?;
        Ok(Box::new(CbcWith(c)))
    }
}

type Sm4Gcm = aes_gcm::AesGcm<sm4::Sm4, cipher::consts::U12>;

#[derive(Debug)]
struct Sm4GcmCipher;

struct Sm4GcmKey(Sm4Gcm);

impl AeadCipher for Sm4GcmCipher {
    fn cipher(&self) -> BlockCipher {
        BlockCipher::Sm4
    }
    fn key_len(&self) -> usize {
        16
    }
    fn new_key(&self, key: &[u8]) -> Result<Box<dyn AeadKey>, Error> {
        let k = <Sm4Gcm as KeyInit>::new_from_slice(key).map_err(|_| Error::InvalidLength)?;
        Ok(Box::new(Sm4GcmKey(k)))
    }
}

impl AeadKey for Sm4GcmKey {
    fn seal(&self, nonce: &[u8; GCM_NONCE_LEN], aad: &[u8], in_out: &mut [u8]) -> Result<[u8; GCM_TAG_LEN], Error> {
        let tag = self.0.encrypt_inout_detached(nonce.into(), aad, in_out.into()).map_err(|_| Error::InvalidLength)?;
        Ok(tag.into())
    }

    fn open(
        &self,
        nonce: &[u8; GCM_NONCE_LEN],
        aad: &[u8],
        in_out: &mut [u8],
        tag: &[u8; GCM_TAG_LEN],
    ) -> Result<(), Error> {
        self.0.decrypt_inout_detached(nonce.into(), aad, in_out.into(), tag.into()).map_err(|_| Error::DecryptionFailed)
    }
}

// ---- randomness ----

#[derive(Debug)]
struct OsRandom;

impl SecureRandom for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        getrandom::fill(dest).map_err(|_| Error::Random)
    }
}

/// Adapts a [`SecureRandom`] to the `rand_core` traits the RustCrypto crates take.
struct RngAdapter<'a>(&'a dyn SecureRandom);

impl rand_core::TryRng for RngAdapter<'_> {
    type Error = Error;
    fn try_next_u32(&mut self) -> Result<u32, Error> {
        let mut b = [0u8; 4];
        self.0.fill(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Error> {
        let mut b = [0u8; 8];
        self.0.fill(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Error> {
        self.0.fill(dst)
    }
}

impl rand_core::TryCryptoRng for RngAdapter<'_> {}

// ---- SM2 ----

#[derive(Debug)]
struct Sm2Impl;

/// An SM2 private key in memory: signs (with its ID) and decrypts.
struct Sm2Key {
    sign: sm2::dsa::SigningKey,
    decrypt: sm2::pke::DecryptingKey,
    public: Sm2PublicKey,
    /// Z for the key's distinguishing ID, computed once.
    z: HashOutput,
    /// Where the RFC 6979 hedge comes from: the OS, or a pinned source in tests.
    random: &'static dyn SecureRandom,
}

impl fmt::Debug for Sm2Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sm2Key").field("public", &self.public).finish_non_exhaustive()
    }
}

fn sm2_point(public: &Sm2PublicKey) -> Result<sm2::PublicKey, Error> {
    sm2::PublicKey::from_sec1_bytes(public.as_sec1()).map_err(|_| Error::InvalidPublicKey)
}

/// n − 1 of sm2p256v1, big-endian.
const SM2_N_MINUS_1: [u8; 32] = [
    0xff, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x72, 0x03, 0xdf,
    0x6b, 0x21, 0xc6, 0x05, 0x2b, 0x53, 0xbb, 0xf4, 0x09, 0x39, 0xd5, 0x41, 0x22,
];

/// The sm2 crate wants the distinguishing ID as a `&str`, but uses it only for a Z of its own,
/// which prehash signing and verification never read: we hash the raw ID bytes into Z
/// ourselves, so any byte string (GB/T 32918.2 §5.5) works, UTF-8 or not.
const UNUSED_DISTID: &str = "";

impl Sm2Key {
    fn new(scalar: &[u8], id: &[u8], random: &'static dyn SecureRandom) -> Result<Self, Error> {
        // Exactly 32 bytes: `SecretKey::from_slice` would left-pad a 24- to 31-byte slice.
        if scalar.len() != 32 {
            return Err(Error::InvalidKey);
        }
        // GB/T 32918.1 §6.1: d ∈ [1, n − 2]. For d = n − 1, 1 + d has no inverse and the key
        // could never sign. (0 and values ≥ n are refused by `from_slice`.)
        if crate::ct_eq(scalar, &SM2_N_MINUS_1) {
            return Err(Error::InvalidKey);
        }
        let secret = sm2::SecretKey::from_slice(scalar).map_err(|_| Error::InvalidKey)?;
        let sign = sm2::dsa::SigningKey::new(UNUSED_DISTID, &secret).map_err(|_| Error::InvalidKey)?;
        let decrypt = sm2::pke::DecryptingKey::new_with_mode(secret.to_nonzero_scalar(), sm2::pke::Mode::C1C3C2);
        let point = secret.public_key().to_sec1_bytes();
        let public = Sm2PublicKey::from_sec1(&point)?;
        // Fails for an ID longer than 8191 bytes (ENTL is 16 bits).
        let z = z_value(&Sm3Hash, id, &public)?;
        Ok(Self { sign, decrypt, public, z, random })
    }
}

impl SigningKey for Sm2Key {
    fn public_key(&self) -> PublicKey {
        PublicKey::Sm2(self.public)
    }
    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::Sm2Sm3
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let mut h = Sm3Hash.start();
        h.update(self.z.as_ref());
        h.update(msg);
        let e = h.finish();
        // RFC 6979 nonces, hedged with fresh randomness against fault attacks.
        let mut extra = [0u8; 32];
        self.random.fill(&mut extra)?;
        let sig: sm2::dsa::Signature = signature::hazmat::RandomizedPrehashSigner::sign_prehash_with_rng(
            &self.sign,
            &mut FixedBytes(&extra),
            e.as_ref(),
        )
        .map_err(|_| Error::InvalidKey)?;
        let (r, s) = (sig.r_bytes(), sig.s_bytes());
        Ok(crate::sm2::signature_to_der(&r.into(), &s.into()))
    }
}

impl DecryptingKey for Sm2Key {
    fn public_key(&self) -> PublicKey {
        PublicKey::Sm2(self.public)
    }
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let ct = Sm2Ciphertext::from_der(ciphertext).map_err(|_| Error::DecryptionFailed)?;
        self.decrypt.decrypt(&ct.to_c1c3c2()).map(Zeroizing::new).map_err(|_| Error::DecryptionFailed)
    }
}

impl PrivateKey for Sm2Key {
    fn export(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        Ok(Zeroizing::new(self.sign.to_bytes().to_vec()))
    }
}

/// Hands out exactly the bytes it holds (the hedge for RFC 6979).
struct FixedBytes<'a>(&'a [u8]);

impl rand_core::TryRng for FixedBytes<'_> {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(0)
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(0)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for (d, s) in dst.iter_mut().zip(self.0.iter().cycle()) {
            *d = *s;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for FixedBytes<'_> {}

impl Sm2 for Sm2Impl {
    fn generate(&self, rng: &dyn SecureRandom) -> Result<Box<dyn PrivateKey>, Error> {
        loop {
            let mut scalar = Zeroizing::new([0u8; 32]);
            rng.fill(scalar.as_mut())?;
            // Rejection sampling: about one draw in 2^32 is out of range.
            if let Ok(k) = Sm2Key::new(scalar.as_ref(), crate::DEFAULT_SM2_ID, &OsRandom) {
                return Ok(Box::new(k));
            }
        }
    }

    fn from_secret(&self, scalar: &[u8], id: &[u8]) -> Result<Box<dyn PrivateKey>, Error> {
        Ok(Box::new(Sm2Key::new(scalar, id, &OsRandom)?))
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
        sm2_point(public).map(|_| ())
    }

    fn verify(&self, public: &Sm2PublicKey, id: &[u8], msg: &[u8], sig_der: &[u8]) -> Result<(), Error> {
        let (r, s) = crate::sm2::signature_from_der(sig_der).map_err(|_| Error::BadSignature)?;
        let sig = sm2::dsa::Signature::from_scalars(r, s).map_err(|_| Error::BadSignature)?;
        let point = sm2_point(public)?;
        let vk = sm2::dsa::VerifyingKey::new(UNUSED_DISTID, point).map_err(|_| Error::InvalidPublicKey)?;
        let e = message_digest(&Sm3Hash, id, public, msg)?;
        vk.verify_prehash(e.as_ref(), &sig).map_err(|_| Error::BadSignature)
    }

    fn encrypt(&self, public: &Sm2PublicKey, msg: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, Error> {
        if msg.is_empty() {
            return Err(Error::InvalidLength);
        }
        let point = sm2_point(public)?;
        let ek = sm2::pke::EncryptingKey::new_with_mode(point, sm2::pke::Mode::C1C3C2);
        let raw = ek.encrypt(&mut RngAdapter(rng), msg).map_err(|_| Error::Random)?;
        Ok(Sm2Ciphertext::from_c1c3c2(&raw)?.to_der())
    }
}

// ---- RSA ----

#[derive(Debug)]
struct RsaImpl;

struct RsaKey(rsa::PrivateKey);

impl fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaKey({} bits)", self.0.size() * 8)
    }
}

fn rsa_public(key: &RsaPublicKey) -> Result<rsa::PublicKey, Error> {
    let mut body = Vec::new();
    crate::sm2::der_uint(&mut body, &key.n);
    crate::sm2::der_uint(&mut body, &key.e);
    let mut der = Vec::new();
    der.push(0x30);
    crate::sm2::der_len(&mut der, body.len());
    der.extend_from_slice(&body);
    rsa::PublicKey::from_pkcs1_der(&der).map_err(|_| Error::InvalidPublicKey)
}

fn rsa_digest_info(scheme: SignatureScheme, msg: &[u8]) -> Result<Vec<u8>, Error> {
    // DigestInfo prefixes (RFC 8017 §9.2 note 1; SM3's OID 1.2.156.10197.1.401).
    const SHA256: &[u8] = &[
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
        0x20,
    ];
    const SM3: &[u8] =
        &[0x30, 0x30, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x11, 0x05, 0x00, 0x04, 0x20];
    let (prefix, digest) = match scheme {
        SignatureScheme::RsaPkcs1Sha256 => (SHA256, Sha256Hash.hash(msg)),
        SignatureScheme::RsaPkcs1Sm3 => (SM3, Sm3Hash.hash(msg)),
        _ => return Err(Error::Unsupported("signature scheme for RSA")),
    };
    let mut out = prefix.to_vec();
    out.extend_from_slice(digest.as_ref());
    Ok(out)
}

impl RsaKey {
    fn public(&self) -> RsaPublicKey {
        let p = self.0.to_public_key();
        RsaPublicKey { n: strip(p.n().to_be_bytes().as_ref()), e: strip(p.e().to_be_bytes().as_ref()) }
    }

    fn sign_scheme(&self, scheme: SignatureScheme, msg: &[u8]) -> Result<Vec<u8>, Error> {
        let info = rsa_digest_info(scheme, msg)?;
        // Blinded: without the rsa crate's `getrandom` feature (which this crate leaves off for
        // no_std) the unblinded private-key operation would be the default.
        self.0
            .sign_with_rng(&mut RngAdapter(&OsRandom), rsa::Pkcs1v15Sign::new_unprefixed(), &info)
            .map_err(|_| Error::InvalidKey)
    }
}

fn strip(be: &[u8]) -> Vec<u8> {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len().saturating_sub(1));
    be[start..].to_vec()
}

impl SigningKey for RsaKey {
    fn public_key(&self) -> PublicKey {
        PublicKey::Rsa(self.public())
    }
    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::RsaPkcs1Sha256
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, Error> {
        self.sign_scheme(SignatureScheme::RsaPkcs1Sha256, msg)
    }
    fn sign_with(&self, scheme: SignatureScheme, msg: &[u8]) -> Result<Vec<u8>, Error> {
        self.sign_scheme(scheme, msg)
    }
}

impl DecryptingKey for RsaKey {
    fn public_key(&self) -> PublicKey {
        PublicKey::Rsa(self.public())
    }
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        // Blinded, as for signing. The rsa crate answers a bad padding with a synthetic
        // plaintext (implicit rejection), not an error.
        self.0
            .decrypt_blinded(&mut RngAdapter(&OsRandom), rsa::Pkcs1v15Encrypt, ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| Error::DecryptionFailed)
    }
}

impl PrivateKey for RsaKey {
    fn export(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let der = self.0.to_pkcs1_der().map_err(|_| Error::InvalidKey)?;
        Ok(Zeroizing::new(der.as_bytes().to_vec()))
    }
}

impl Rsa for RsaImpl {
    fn generate(&self, bits: usize, rng: &dyn SecureRandom) -> Result<Box<dyn PrivateKey>, Error> {
        if !matches!(bits, 2048 | 3072 | 4096) {
            return Err(Error::Unsupported("RSA key size"));
        }
        let key = rsa::PrivateKey::new(&mut RngAdapter(rng), bits).map_err(|_| Error::Random)?;
        Ok(Box::new(RsaKey(key)))
    }

    fn from_pkcs1_der(&self, der: &[u8]) -> Result<Box<dyn PrivateKey>, Error> {
        let key = rsa::PrivateKey::from_pkcs1_der(der).map_err(|_| Error::InvalidKey)?;
        Ok(Box::new(RsaKey(key)))
    }

    fn verify(&self, key: &RsaPublicKey, scheme: SignatureScheme, msg: &[u8], sig: &[u8]) -> Result<(), Error> {
        let info = rsa_digest_info(scheme, msg)?;
        let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new_unprefixed(rsa_public(key)?);
        let sig = rsa::pkcs1v15::Signature::try_from(sig).map_err(|_| Error::BadSignature)?;
        vk.verify_prehash(&info, &sig).map_err(|_| Error::BadSignature)
    }

    fn encrypt(&self, key: &RsaPublicKey, msg: &[u8], rng: &dyn SecureRandom) -> Result<Vec<u8>, Error> {
        rsa_public(key)?.encrypt(&mut RngAdapter(rng), rsa::Pkcs1v15Encrypt, msg).map_err(|_| Error::InvalidLength)
    }
}

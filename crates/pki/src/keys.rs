//! Keys: SubjectPublicKeyInfo ↔ [`PublicKey`], and private keys in PKCS#8 (plain or PBES2
//! encrypted), SEC1 and PKCS#1, loaded into the crypto provider.
use alloc::{boxed::Box, string::String, vec::Vec};

use der::{
    Decode, Encode, Sequence,
    asn1::{Any, BitString, Null, ObjectIdentifier, OctetString, Uint},
};
use pkcs8::PrivateKeyInfoRef;
use sec1::EcPrivateKey;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use wearpay_crypto::{
    BlockCipher, CryptoProvider, DEFAULT_SM2_ID, HashAlgorithm, KeyAlgorithm, PrivateKey, PublicKey, RsaPublicKey,
    SigningKey, Sm2PublicKey, Zeroizing, pbkdf2_hmac, pkcs7_pad, pkcs7_unpad,
};

use crate::{DecodeErrorKind, Error, oid, pem};

/// PEM label of PKCS#8.
pub const PKCS8_LABEL: &str = "PRIVATE KEY";
/// PEM label of encrypted PKCS#8.
pub const ENCRYPTED_PKCS8_LABEL: &str = "ENCRYPTED PRIVATE KEY";
/// PEM label of SEC1.
pub const SEC1_LABEL: &str = "EC PRIVATE KEY";
/// PEM label of PKCS#1.
pub const PKCS1_LABEL: &str = "RSA PRIVATE KEY";

/// The RSA sizes this crate accepts, in bits.
pub const RSA_BITS: core::ops::RangeInclusive<usize> = 2048..=4096;

/// The most PBKDF2 iterations a key file may ask for (a bound on the work a file can make
/// us do).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;

// ---- public keys ----

/// Decodes a DER SubjectPublicKeyInfo into a provider public key.
///
/// SM2 keys are `id-ecPublicKey` with the curve 1.2.156.10197.1.301, or that OID as the
/// algorithm itself; RSA keys are `rsaEncryption` of 2048 to 4096 bits.
pub fn public_key_from_spki(spki_der: &[u8]) -> Result<PublicKey, Error> {
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der).map_err(Error::der("public key"))?;
    public_key_from_spki_info(&spki)
}

pub(crate) fn public_key_from_spki_info(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, Error> {
    let alg = &spki.algorithm;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| Error::malformed("public key", "BIT STRING with unused bits"))?;
    if alg.oid == oid::EC_PUBLIC_KEY || alg.oid == oid::SM2 {
        check_sm2_params(alg)?;
        let pk = Sm2PublicKey::from_sec1(bits).map_err(|_| {
            Error::UnsupportedAlgorithm(String::from("SM2 public key that is not an uncompressed point"))
        })?;
        Ok(PublicKey::Sm2(pk))
    } else if alg.oid == oid::RSA_ENCRYPTION {
        let seq = RsaPublicKeyDer::from_der(bits).map_err(Error::der("RSA public key"))?;
        let key = RsaPublicKey { n: seq.modulus.as_bytes().to_vec(), e: seq.public_exponent.as_bytes().to_vec() };
        let n = key.bits();
        if !RSA_BITS.contains(&n) {
            return Err(Error::UnsupportedAlgorithm(alloc::format!("RSA-{n}")));
        }
        Ok(PublicKey::Rsa(key))
    } else {
        Err(Error::UnsupportedAlgorithm(alloc::format!("public key algorithm {}", alg.oid)))
    }
}

/// id-ecPublicKey must name the SM2 curve; the SM2 OID as algorithm takes no parameters or
/// the curve again.
fn check_sm2_params(alg: &AlgorithmIdentifierOwned) -> Result<(), Error> {
    match &alg.parameters {
        None if alg.oid == oid::SM2 => Ok(()),
        Some(p) if alg.oid == oid::SM2 && p.is_null() => Ok(()),
        Some(p) => {
            let curve: ObjectIdentifier = p.decode_as().map_err(Error::der("EC parameters"))?;
            if curve == oid::SM2 {
                Ok(())
            } else {
                Err(Error::UnsupportedAlgorithm(alloc::format!("EC curve {curve}")))
            }
        }
        None => Err(Error::UnsupportedAlgorithm(String::from("EC key without a named curve"))),
    }
}

#[derive(Sequence)]
struct RsaPublicKeyDer {
    modulus: Uint,
    public_exponent: Uint,
}

/// Encodes a public key as DER SubjectPublicKeyInfo (SM2 as id-ecPublicKey + sm2 curve,
/// the way OpenSSL 3 and Tongsuo write it).
pub fn public_key_to_spki(key: &PublicKey) -> Result<Vec<u8>, Error> {
    let spki = match key {
        PublicKey::Sm2(pk) => SubjectPublicKeyInfoOwned {
            algorithm: sm2_alg_id()?,
            subject_public_key: BitString::from_bytes(pk.as_sec1()).map_err(Error::encode)?,
        },
        PublicKey::Rsa(rsa) => {
            let inner = RsaPublicKeyDer {
                modulus: Uint::new(&rsa.n).map_err(Error::encode)?,
                public_exponent: Uint::new(&rsa.e).map_err(Error::encode)?,
            }
            .to_der()
            .map_err(Error::encode)?;
            SubjectPublicKeyInfoOwned {
                algorithm: rsa_alg_id()?,
                subject_public_key: BitString::from_bytes(&inner).map_err(Error::encode)?,
            }
        }
    };
    spki.to_der().map_err(Error::encode)
}

fn sm2_alg_id() -> Result<AlgorithmIdentifierOwned, Error> {
    Ok(AlgorithmIdentifierOwned {
        oid: oid::EC_PUBLIC_KEY,
        parameters: Some(Any::encode_from(&oid::SM2).map_err(Error::encode)?),
    })
}

fn rsa_alg_id() -> Result<AlgorithmIdentifierOwned, Error> {
    Ok(AlgorithmIdentifierOwned {
        oid: oid::RSA_ENCRYPTION,
        parameters: Some(Any::encode_from(&Null).map_err(Error::encode)?),
    })
}

/// A short description: `SM2` or `RSA-2048`.
pub fn describe_public_key(key: &PublicKey) -> String {
    match key.algorithm() {
        KeyAlgorithm::Sm2 => String::from("SM2"),
        KeyAlgorithm::Rsa(bits) => alloc::format!("RSA-{bits}"),
        other => alloc::format!("{other:?}"),
    }
}

// ---- generating ----

/// Generates a key with the provider: SM2, or RSA of 2048 or 3072 bits.
pub fn generate_key(provider: &CryptoProvider, alg: KeyAlgorithm) -> Result<Box<dyn PrivateKey>, Error> {
    match alg {
        KeyAlgorithm::Sm2 => Ok(provider.sm2.generate(provider.random)?),
        KeyAlgorithm::Rsa(bits) if RSA_BITS.contains(&bits) => Ok(provider.rsa()?.generate(bits, provider.random)?),
        other => Err(Error::UnsupportedAlgorithm(alloc::format!("{other:?}"))),
    }
}

// ---- loading private keys ----

/// Loads a private key from PEM or DER: PKCS#8 (`PRIVATE KEY`), encrypted PKCS#8
/// (`ENCRYPTED PRIVATE KEY`, PBES2), SEC1 (`EC PRIVATE KEY` or `SM2 PRIVATE KEY`; an
/// `EC PARAMETERS` or `SM2 PARAMETERS` block before it is skipped) or PKCS#1 (`RSA PRIVATE KEY`). DER input is tried as PKCS#8, then
/// encrypted PKCS#8, SEC1 and PKCS#1.
///
/// SM2 keys sign with the ID `1234567812345678`.
pub fn load_private_key(
    provider: &CryptoProvider,
    input: &[u8],
    password: Option<&[u8]>,
) -> Result<Box<dyn PrivateKey>, Error> {
    if !pem::is_pem(input) {
        return load_der_any(provider, input, password);
    }
    let blocks = pem::decode_all(input)?;
    // `openssl ecparam -genkey` writes the curve in a block of its own before the key.
    let keys: Vec<&pem::PemBlock> =
        blocks.iter().filter(|b| b.label != "EC PARAMETERS" && b.label != "SM2 PARAMETERS").collect();
    let [block] = keys.as_slice() else {
        return Err(Error::decode("private key", DecodeErrorKind::TrailingData));
    };
    match block.label.as_str() {
        PKCS8_LABEL => load_pkcs8(provider, &block.der),
        ENCRYPTED_PKCS8_LABEL => {
            let password = password.ok_or(Error::PasswordRequired)?;
            load_encrypted_pkcs8(provider, &block.der, password)
        }
        SEC1_LABEL | "SM2 PRIVATE KEY" => load_sec1(provider, &block.der),
        PKCS1_LABEL => load_pkcs1(provider, &block.der),
        other => Err(Error::decode(
            "PEM",
            DecodeErrorKind::UnexpectedLabel {
                expected: "PRIVATE KEY, ENCRYPTED PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY",
                found: String::from(other),
            },
        )),
    }
}

fn load_der_any(provider: &CryptoProvider, der: &[u8], password: Option<&[u8]>) -> Result<Box<dyn PrivateKey>, Error> {
    let first = match load_pkcs8(provider, der) {
        Err(Error::Decode(e)) => e,
        other => return other,
    };
    if EncryptedPrivateKeyInfo::from_der(der).is_ok() {
        return load_encrypted_pkcs8(provider, der, password.ok_or(Error::PasswordRequired)?);
    }
    if EcPrivateKey::from_der(der).is_ok() {
        return load_sec1(provider, der);
    }
    if let Ok(key) = load_pkcs1(provider, der) {
        return Ok(key);
    }
    Err(Error::Decode(first))
}

/// Loads an unencrypted PKCS#8 `PrivateKeyInfo` (v1 or v2) in DER.
pub fn load_pkcs8(provider: &CryptoProvider, der: &[u8]) -> Result<Box<dyn PrivateKey>, Error> {
    let info = PrivateKeyInfoRef::from_der(der).map_err(Error::der("private key"))?;
    let alg =
        AlgorithmIdentifierOwned { oid: info.algorithm.oid, parameters: info.algorithm.parameters.map(Any::from) };
    if alg.oid == oid::EC_PUBLIC_KEY || alg.oid == oid::SM2 {
        check_sm2_params(&alg)?;
        load_sec1(provider, info.private_key.as_bytes())
    } else if alg.oid == oid::RSA_ENCRYPTION {
        load_pkcs1(provider, info.private_key.as_bytes())
    } else {
        Err(Error::UnsupportedAlgorithm(alloc::format!("private key algorithm {}", alg.oid)))
    }
}

/// Loads an SEC1 `ECPrivateKey` on the SM2 curve (parameters, when present, must name it).
fn load_sec1(provider: &CryptoProvider, der: &[u8]) -> Result<Box<dyn PrivateKey>, Error> {
    let ec = EcPrivateKey::from_der(der).map_err(Error::der("EC private key"))?;
    if let Some(params) = ec.parameters {
        match params.named_curve() {
            Some(curve) if curve == oid::SM2 => {}
            Some(curve) => return Err(Error::UnsupportedAlgorithm(alloc::format!("EC curve {curve}"))),
            None => return Err(Error::UnsupportedAlgorithm(String::from("EC key with explicit curve parameters"))),
        }
    }
    if ec.private_key.len() > 32 {
        return Err(Error::malformed("EC private key", "scalar longer than 32 bytes"));
    }
    let mut scalar = Zeroizing::new([0u8; 32]);
    scalar[32 - ec.private_key.len()..].copy_from_slice(ec.private_key);
    let key = provider.sm2.from_secret(scalar.as_ref(), DEFAULT_SM2_ID)?;
    if let Some(public) = ec.public_key {
        let PublicKey::Sm2(derived) = SigningKey::public_key(&*key) else {
            return Err(Error::malformed("EC private key", "not an SM2 key"));
        };
        if derived.as_sec1().as_slice() != public {
            return Err(Error::malformed("EC private key", "public key does not match the private key"));
        }
    }
    Ok(key)
}

/// Loads a PKCS#1 `RSAPrivateKey` in DER.
fn load_pkcs1(provider: &CryptoProvider, der: &[u8]) -> Result<Box<dyn PrivateKey>, Error> {
    let key = provider
        .rsa()?
        .from_pkcs1_der(der)
        .map_err(|_| Error::malformed("RSA private key", "not a valid PKCS#1 RSAPrivateKey"))?;
    if let KeyAlgorithm::Rsa(bits) = SigningKey::public_key(&*key).algorithm()
        && !RSA_BITS.contains(&bits)
    {
        return Err(Error::UnsupportedAlgorithm(alloc::format!("RSA-{bits}")));
    }
    Ok(key)
}

// ---- PBES2 ----

/// The cipher of a PBES2-encrypted key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pbes2Cipher {
    /// AES-256-CBC (what OpenSSL 3 writes and reads by default).
    Aes256Cbc,
    /// SM4-CBC (1.2.156.10197.1.104.2).
    Sm4Cbc,
}

/// The PBKDF2 pseudo-random function of a PBES2-encrypted key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Pbes2Prf {
    /// HMAC-SHA256 (what OpenSSL 3 reads).
    HmacSha256,
    /// HMAC-SM3 (1.2.156.10197.1.401.2, as GmSSL writes it; OpenSSL 3.0 cannot read it).
    HmacSm3,
}

/// How to encrypt a private key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyEncryption {
    /// The block cipher.
    pub cipher: Pbes2Cipher,
    /// The PBKDF2 PRF.
    pub prf: Pbes2Prf,
    /// PBKDF2 iterations.
    pub iterations: u32,
}

impl KeyEncryption {
    /// PBKDF2-HMAC-SHA256 and AES-256-CBC: `openssl pkey` reads it.
    pub const OPENSSL: Self = Self { cipher: Pbes2Cipher::Aes256Cbc, prf: Pbes2Prf::HmacSha256, iterations: 100_000 };
    /// PBKDF2-HMAC-SM3 and SM4-CBC, all Chinese commercial algorithms (GmSSL reads it).
    pub const SHANGMI: Self = Self { cipher: Pbes2Cipher::Sm4Cbc, prf: Pbes2Prf::HmacSm3, iterations: 100_000 };
}

impl Default for KeyEncryption {
    fn default() -> Self {
        Self::OPENSSL
    }
}

#[derive(Sequence)]
struct EncryptedPrivateKeyInfo {
    encryption_algorithm: AlgorithmIdentifierOwned,
    encrypted_data: OctetString,
}

#[derive(Sequence)]
struct Pbes2Params {
    key_derivation_func: AlgorithmIdentifierOwned,
    encryption_scheme: AlgorithmIdentifierOwned,
}

#[derive(Sequence)]
struct Pbkdf2Params {
    salt: OctetString,
    iteration_count: u32,
    key_length: Option<u32>,
    prf: Option<AlgorithmIdentifierOwned>,
}

fn cipher_of(oid: &ObjectIdentifier) -> Result<(BlockCipher, usize), Error> {
    if *oid == oid::AES256_CBC {
        Ok((BlockCipher::Aes256, 32))
    } else if *oid == oid::SM4_CBC {
        Ok((BlockCipher::Sm4, 16))
    } else {
        Err(Error::UnsupportedAlgorithm(alloc::format!("key encryption cipher {oid}")))
    }
}

fn prf_of(prf: Option<&AlgorithmIdentifierOwned>) -> Result<HashAlgorithm, Error> {
    let Some(prf) = prf else {
        return Err(Error::UnsupportedAlgorithm(String::from("PBKDF2 with HMAC-SHA1")));
    };
    if prf.parameters.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(Error::malformed("encrypted private key", "PRF parameters"));
    }
    if prf.oid == oid::HMAC_SHA256 {
        Ok(HashAlgorithm::Sha256)
    } else if prf.oid == oid::HMAC_SM3 || prf.oid == oid::HMAC_SM3_OPENSSL {
        Ok(HashAlgorithm::Sm3)
    } else {
        Err(Error::UnsupportedAlgorithm(alloc::format!("PBKDF2 PRF {}", prf.oid)))
    }
}

/// Decrypts a DER `EncryptedPrivateKeyInfo` (PBES2 + PBKDF2) and loads the key inside.
pub fn load_encrypted_pkcs8(
    provider: &CryptoProvider,
    der: &[u8],
    password: &[u8],
) -> Result<Box<dyn PrivateKey>, Error> {
    let plain = decrypt_pkcs8(provider, der, password)?;
    match load_pkcs8(provider, &plain) {
        Err(Error::Decode(_)) => Err(Error::WrongPassword),
        other => other,
    }
}

/// Decrypts a DER `EncryptedPrivateKeyInfo` to the DER `PrivateKeyInfo` inside.
pub fn decrypt_pkcs8(provider: &CryptoProvider, der: &[u8], password: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    const WHAT: &str = "encrypted private key";
    let info = EncryptedPrivateKeyInfo::from_der(der).map_err(Error::der(WHAT))?;
    if info.encryption_algorithm.oid != oid::PBES2 {
        return Err(Error::UnsupportedAlgorithm(alloc::format!(
            "key encryption {} (only PBES2 is supported)",
            info.encryption_algorithm.oid
        )));
    }
    let params: Pbes2Params = info
        .encryption_algorithm
        .parameters
        .as_ref()
        .ok_or_else(|| Error::malformed(WHAT, "PBES2 without parameters"))?
        .decode_as()
        .map_err(Error::der(WHAT))?;
    if params.key_derivation_func.oid != oid::PBKDF2 {
        return Err(Error::UnsupportedAlgorithm(alloc::format!("key derivation {}", params.key_derivation_func.oid)));
    }
    let kdf: Pbkdf2Params = params
        .key_derivation_func
        .parameters
        .as_ref()
        .ok_or_else(|| Error::malformed(WHAT, "PBKDF2 without parameters"))?
        .decode_as()
        .map_err(Error::der(WHAT))?;
    let hash = prf_of(kdf.prf.as_ref())?;
    let (cipher, key_len) = cipher_of(&params.encryption_scheme.oid)?;
    if kdf.key_length.is_some_and(|l| l as usize != key_len) {
        return Err(Error::malformed(WHAT, "PBKDF2 key length does not fit the cipher"));
    }
    if kdf.iteration_count == 0 || kdf.iteration_count > MAX_PBKDF2_ITERATIONS {
        return Err(Error::UnsupportedAlgorithm(alloc::format!("{} PBKDF2 iterations", kdf.iteration_count)));
    }
    let iv: OctetString = params
        .encryption_scheme
        .parameters
        .as_ref()
        .ok_or_else(|| Error::malformed(WHAT, "cipher without IV"))?
        .decode_as()
        .map_err(Error::der(WHAT))?;
    let iv: [u8; 16] = iv.as_bytes().try_into().map_err(|_| Error::malformed(WHAT, "IV is not 16 bytes"))?;

    let mut dk = Zeroizing::new([0u8; 32]);
    pbkdf2_hmac(provider.hash(hash), password, kdf.salt.as_bytes(), kdf.iteration_count, &mut dk[..key_len]);
    let key = provider.cbc(cipher)?.new_key(&dk[..key_len])?;
    let mut data = Zeroizing::new(info.encrypted_data.as_bytes().to_vec());
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(Error::malformed(WHAT, "ciphertext is not whole blocks"));
    }
    key.decrypt(&iv, &mut data)?;
    let plain = pkcs7_unpad(&data).map_err(|_| Error::WrongPassword)?;
    Ok(Zeroizing::new(plain.to_vec()))
}

/// Encrypts a DER `PrivateKeyInfo` as a DER `EncryptedPrivateKeyInfo` (PBES2).
pub fn encrypt_pkcs8(
    provider: &CryptoProvider,
    pkcs8_der: &[u8],
    password: &[u8],
    how: &KeyEncryption,
) -> Result<Vec<u8>, Error> {
    if how.iterations == 0 || how.iterations > MAX_PBKDF2_ITERATIONS {
        return Err(Error::InvalidRequest(alloc::format!("{} PBKDF2 iterations", how.iterations)));
    }
    let (cipher_oid, cipher, key_len) = match how.cipher {
        Pbes2Cipher::Aes256Cbc => (oid::AES256_CBC, BlockCipher::Aes256, 32),
        Pbes2Cipher::Sm4Cbc => (oid::SM4_CBC, BlockCipher::Sm4, 16),
    };
    let (prf_oid, hash) = match how.prf {
        Pbes2Prf::HmacSha256 => (oid::HMAC_SHA256, HashAlgorithm::Sha256),
        Pbes2Prf::HmacSm3 => (oid::HMAC_SM3, HashAlgorithm::Sm3),
    };
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    provider.fill_random(&mut salt)?;
    provider.fill_random(&mut iv)?;
    let mut dk = Zeroizing::new([0u8; 32]);
    pbkdf2_hmac(provider.hash(hash), password, &salt, how.iterations, &mut dk[..key_len]);
    let key = provider.cbc(cipher)?.new_key(&dk[..key_len])?;
    let mut data = Zeroizing::new(pkcs8_der.to_vec());
    pkcs7_pad(&mut data);
    key.encrypt(&iv, &mut data)?;

    let null = Any::encode_from(&Null).map_err(Error::encode)?;
    let kdf = Pbkdf2Params {
        salt: OctetString::new(salt.as_slice()).map_err(Error::encode)?,
        iteration_count: how.iterations,
        key_length: None,
        prf: Some(AlgorithmIdentifierOwned { oid: prf_oid, parameters: Some(null) }),
    };
    let params = Pbes2Params {
        key_derivation_func: AlgorithmIdentifierOwned {
            oid: oid::PBKDF2,
            parameters: Some(Any::encode_from(&kdf).map_err(Error::encode)?),
        },
        encryption_scheme: AlgorithmIdentifierOwned {
            oid: cipher_oid,
            parameters: Some(
                Any::encode_from(&OctetString::new(iv.as_slice()).map_err(Error::encode)?).map_err(Error::encode)?,
            ),
        },
    };
    let info = EncryptedPrivateKeyInfo {
        encryption_algorithm: AlgorithmIdentifierOwned {
            oid: oid::PBES2,
            parameters: Some(Any::encode_from(&params).map_err(Error::encode)?),
        },
        encrypted_data: OctetString::new(data.as_slice()).map_err(Error::encode)?,
    };
    info.to_der().map_err(Error::encode)
}

// ---- writing private keys ----

/// Encodes a private key as DER PKCS#8 `PrivateKeyInfo` (v1): SM2 as id-ecPublicKey with
/// the sm2 curve and an `ECPrivateKey` holding the public point, RSA as rsaEncryption.
///
/// Keys that cannot be exported (hardware) give [`Error::Crypto`].
pub fn private_key_to_pkcs8(key: &dyn PrivateKey) -> Result<Zeroizing<Vec<u8>>, Error> {
    let secret = key.export()?;
    let (alg, inner) = match SigningKey::public_key(key) {
        PublicKey::Sm2(pk) => {
            let ec = EcPrivateKey { private_key: &secret, parameters: None, public_key: Some(pk.as_sec1()) };
            (sm2_alg_id()?, Zeroizing::new(ec.to_der().map_err(Error::encode)?))
        }
        PublicKey::Rsa(_) => (rsa_alg_id()?, Zeroizing::new(secret.to_vec())),
    };
    let info = pkcs8::PrivateKeyInfoOwned::new(alg, OctetString::new(inner.as_slice()).map_err(Error::encode)?);
    Ok(Zeroizing::new(info.to_der().map_err(Error::encode)?))
}

/// Encodes a private key as PKCS#8 PEM, encrypted with PBES2 when a password is given.
pub fn private_key_to_pem(
    provider: &CryptoProvider,
    key: &dyn PrivateKey,
    encryption: Option<(&[u8], &KeyEncryption)>,
) -> Result<Zeroizing<String>, Error> {
    let der = private_key_to_pkcs8(key)?;
    Ok(Zeroizing::new(match encryption {
        None => pem::encode(PKCS8_LABEL, &der),
        Some((password, how)) => {
            let enc = encrypt_pkcs8(provider, &der, password, how)?;
            pem::encode(ENCRYPTED_PKCS8_LABEL, &enc)
        }
    }))
}

//! Object identifiers this crate reads and writes.
use alloc::string::ToString;

use const_oid::ObjectIdentifier as Oid;

/// SM2 signature with SM3 (GM/T 0006: sm2sign-with-sm3).
pub const SM2_WITH_SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.501");
/// The SM2 curve sm2p256v1; some tools also write it as the key algorithm itself.
pub const SM2: Oid = Oid::new_unwrap("1.2.156.10197.1.301");
/// id-ecPublicKey.
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// rsaEncryption.
pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
/// sha256WithRSAEncryption.
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
/// sm3WithRSAEncryption (GM/T 0006).
pub const SM3_WITH_RSA: Oid = Oid::new_unwrap("1.2.156.10197.1.504");

/// PBES2 (RFC 8018).
pub const PBES2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.13");
/// PBKDF2 (RFC 8018).
pub const PBKDF2: Oid = Oid::new_unwrap("1.2.840.113549.1.5.12");
/// hmacWithSHA256.
pub const HMAC_SHA256: Oid = Oid::new_unwrap("1.2.840.113549.2.9");
/// HMAC-SM3 as GmSSL writes it in PBKDF2 parameters.
pub const HMAC_SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.401.2");
/// hmacWithSM3 as OpenSSL's object table names it (read only).
pub const HMAC_SM3_OPENSSL: Oid = Oid::new_unwrap("1.2.156.10197.1.401.3.1");
/// SM4-CBC.
pub const SM4_CBC: Oid = Oid::new_unwrap("1.2.156.10197.1.104.2");
/// AES-256-CBC.
pub const AES256_CBC: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.1.42");

/// basicConstraints.
pub const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
/// keyUsage.
pub const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
/// extKeyUsage.
pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
/// subjectKeyIdentifier.
pub const SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
/// authorityKeyIdentifier.
pub const AUTHORITY_KEY_ID: Oid = Oid::new_unwrap("2.5.29.35");
/// subjectAltName.
pub const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
/// cRLNumber.
pub const CRL_NUMBER: Oid = Oid::new_unwrap("2.5.29.20");
/// reasonCode (CRL entry).
pub const CRL_REASON: Oid = Oid::new_unwrap("2.5.29.21");
/// invalidityDate (CRL entry).
pub const INVALIDITY_DATE: Oid = Oid::new_unwrap("2.5.29.24");
/// deltaCRLIndicator: delta CRLs are not supported.
pub const DELTA_CRL_INDICATOR: Oid = Oid::new_unwrap("2.5.29.27");
/// issuingDistributionPoint.
pub const ISSUING_DISTRIBUTION_POINT: Oid = Oid::new_unwrap("2.5.29.28");

/// id-kp-serverAuth.
pub const KP_SERVER_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.1");
/// id-kp-clientAuth.
pub const KP_CLIENT_AUTH: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.2");
/// anyExtendedKeyUsage.
pub const ANY_EKU: Oid = Oid::new_unwrap("2.5.29.37.0");

/// PKCS#9 challengePassword.
pub const CHALLENGE_PASSWORD: Oid = Oid::new_unwrap("1.2.840.113549.1.9.7");
/// PKCS#9 extensionRequest.
pub const EXTENSION_REQUEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.14");

/// Short names of the usual extended key usages, for display.
pub(crate) fn eku_name(oid: &Oid) -> Option<&'static str> {
    Some(match oid.to_string().as_str() {
        "1.3.6.1.5.5.7.3.1" => "serverAuth",
        "1.3.6.1.5.5.7.3.2" => "clientAuth",
        "1.3.6.1.5.5.7.3.3" => "codeSigning",
        "1.3.6.1.5.5.7.3.4" => "emailProtection",
        "1.3.6.1.5.5.7.3.8" => "timeStamping",
        "1.3.6.1.5.5.7.3.9" => "OCSPSigning",
        "2.5.29.37.0" => "anyExtendedKeyUsage",
        _ => return None,
    })
}

/// Short names of the extensions `show` prints.
pub(crate) fn extension_name(oid: &Oid) -> Option<&'static str> {
    Some(match oid.to_string().as_str() {
        "2.5.29.19" => "basicConstraints",
        "2.5.29.15" => "keyUsage",
        "2.5.29.37" => "extKeyUsage",
        "2.5.29.14" => "subjectKeyIdentifier",
        "2.5.29.35" => "authorityKeyIdentifier",
        "2.5.29.17" => "subjectAltName",
        "2.5.29.20" => "cRLNumber",
        "2.5.29.21" => "reasonCode",
        "2.5.29.31" => "cRLDistributionPoints",
        "2.5.29.32" => "certificatePolicies",
        "1.3.6.1.5.5.7.1.1" => "authorityInfoAccess",
        _ => return None,
    })
}

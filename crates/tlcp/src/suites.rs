//! Cipher suites: their numbers, names and the sizes the key schedule and record layer need.

use crate::codec::wire_enum;

wire_enum! {
    /// A cipher suite number. Variants use the GB/T 38636 names.
    #[allow(non_camel_case_types)]
    pub enum CipherSuite: u16 {
        /// SM2 key transport, SM4-GCM, SM3.
        ECC_SM4_GCM_SM3 = 0xe053 => "ECC_SM4_GCM_SM3",
        /// SM2 key transport, SM4-CBC, HMAC-SM3.
        ECC_SM4_CBC_SM3 = 0xe013 => "ECC_SM4_CBC_SM3",
        /// RSA key transport, SM4-GCM, SM3.
        RSA_SM4_GCM_SM3 = 0xe059 => "RSA_SM4_GCM_SM3",
        /// RSA key transport, SM4-CBC, HMAC-SM3.
        RSA_SM4_CBC_SM3 = 0xe019 => "RSA_SM4_CBC_SM3",
        /// RSA key transport, SM4-GCM, SHA-256.
        RSA_SM4_GCM_SHA256 = 0xe05a => "RSA_SM4_GCM_SHA256",
        /// RSA key transport, SM4-CBC, HMAC-SHA-256.
        RSA_SM4_CBC_SHA256 = 0xe01c => "RSA_SM4_CBC_SHA256",
        /// SM2 key transport, SM1-CBC, HMAC-SM3: only with a secure element that has SM1.
        ECC_SM1_SM3 = 0xe003 => "ECC_SM1_SM3",
        /// RSA key transport, SM1-CBC, HMAC-SM3: only with a secure element that has SM1.
        RSA_SM1_SM3 = 0xe009 => "RSA_SM1_SM3",
        /// SM2 key agreement, SM4-CBC; named here, not implemented.
        ECDHE_SM4_CBC_SM3 = 0xe011 => "ECDHE_SM4_CBC_SM3",
        /// SM2 key agreement, SM4-GCM; named here, not implemented.
        ECDHE_SM4_GCM_SM3 = 0xe051 => "ECDHE_SM4_GCM_SM3",
        /// RFC 5746 signalling value: the client supports secure renegotiation.
        EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff => "EMPTY_RENEGOTIATION_INFO_SCSV",
    }
}

/// Names other implementations use for the same suites, compared case-insensitively.
/// The first entry per suite is what [`CipherSuite::openssl_name`] returns; the rest are
/// accepted aliases (Tongsuo's GM/T 0024-2014 spellings).
const OPENSSL_NAMES: &[(CipherSuite, &str)] = &[
    (CipherSuite::ECC_SM4_GCM_SM3, "ECC-SM2-SM4-GCM-SM3"),
    (CipherSuite::ECC_SM4_CBC_SM3, "ECC-SM2-SM4-CBC-SM3"),
    (CipherSuite::RSA_SM4_GCM_SM3, "RSA-SM4-GCM-SM3"),
    (CipherSuite::RSA_SM4_CBC_SM3, "RSA-SM4-CBC-SM3"),
    (CipherSuite::RSA_SM4_GCM_SHA256, "RSA-SM4-GCM-SHA256"),
    (CipherSuite::RSA_SM4_CBC_SHA256, "RSA-SM4-CBC-SHA256"),
    (CipherSuite::ECC_SM1_SM3, "ECC-SM2-WITH-SM1-SM3"),
    (CipherSuite::RSA_SM1_SM3, "RSA-WITH-SM1-SM3"),
    (CipherSuite::ECDHE_SM4_CBC_SM3, "ECDHE-SM2-SM4-CBC-SM3"),
    (CipherSuite::ECDHE_SM4_GCM_SM3, "ECDHE-SM2-SM4-GCM-SM3"),
    (CipherSuite::EMPTY_RENEGOTIATION_INFO_SCSV, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV"),
    (CipherSuite::ECC_SM4_CBC_SM3, "ECC-SM2-WITH-SM4-SM3"),
    (CipherSuite::ECDHE_SM4_CBC_SM3, "ECDHE-SM2-WITH-SM4-SM3"),
    (CipherSuite::RSA_SM4_CBC_SM3, "RSA-WITH-SM4-SM3"),
];

impl CipherSuite {
    /// The GB/T 38636 name, such as `ECC_SM4_GCM_SM3`.
    pub const fn name(&self) -> Option<&'static str> {
        self.as_str()
    }

    /// The OpenSSL/Tongsuo name, such as `ECC-SM2-SM4-GCM-SM3`, for configuration that
    /// has to interoperate with those tools. Tongsuo has no SM1 suites; their names
    /// follow its GM/T 0024 pattern.
    pub fn openssl_name(&self) -> Option<&'static str> {
        OPENSSL_NAMES.iter().find(|(suite, _)| suite == self).map(|(_, name)| *name)
    }

    /// The suite with this GB/T or OpenSSL/Tongsuo name, in any case.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .iter()
            .copied()
            .find(|s| s.name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            .or_else(|| OPENSSL_NAMES.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)).map(|(s, _)| *s))
    }

    /// Every named suite, SCSV included.
    pub const ALL: &'static [Self] = &[
        Self::ECC_SM4_GCM_SM3,
        Self::ECC_SM4_CBC_SM3,
        Self::RSA_SM4_GCM_SM3,
        Self::RSA_SM4_CBC_SM3,
        Self::RSA_SM4_GCM_SHA256,
        Self::RSA_SM4_CBC_SHA256,
        Self::ECC_SM1_SM3,
        Self::RSA_SM1_SM3,
        Self::ECDHE_SM4_CBC_SM3,
        Self::ECDHE_SM4_GCM_SM3,
        Self::EMPTY_RENEGOTIATION_INFO_SCSV,
    ];

    /// The parameters of an implemented suite; `None` for ECDHE, the SCSV and unknown
    /// numbers, which therefore can never be selected.
    pub fn params(&self) -> Option<&'static SuiteParams> {
        SuiteParams::ALL.iter().find(|p| p.suite == *self)
    }
}

impl core::fmt::Display for CipherSuite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Unknown(0x{:04x})", u16::from(*self)),
        }
    }
}

/// How the pre-master secret reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyExchange {
    /// Encrypted with SM2 to the server's encryption certificate (F5).
    Ecc,
    /// Encrypted with RSA to the server's encryption certificate.
    Rsa,
}

/// The record cipher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BulkCipher {
    /// SM4 in CBC mode with HMAC, MAC-then-encrypt.
    Sm4Cbc,
    /// SM4 in GCM mode.
    Sm4Gcm,
    /// SM1 in CBC mode with HMAC; hardware only.
    Sm1Cbc,
}

impl BulkCipher {
    /// Whether the cipher authenticates by itself (no separate MAC).
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::Sm4Gcm)
    }
}

/// The hash behind the PRF and, for CBC suites, the record HMAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SM3 (GB/T 32905).
    Sm3,
    /// SHA-256, for the two RSA suites that name it.
    Sha256,
}

impl HashAlgorithm {
    /// Digest size in bytes.
    pub const fn output_len(self) -> usize {
        32
    }
}

/// Everything the key schedule and record layer need to know about a suite.
///
/// CBC suites: 32-byte MAC keys, 16-byte cipher keys, a 16-byte IV from the key block and
/// a fresh explicit 16-byte IV on every record. GCM suites: no MAC key, 16-byte keys, a
/// 4-byte implicit nonce salt, an 8-byte explicit nonce per record and a 16-byte tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SuiteParams {
    /// The suite described.
    pub suite: CipherSuite,
    /// Key transport algorithm.
    pub key_exchange: KeyExchange,
    /// Record cipher.
    pub bulk: BulkCipher,
    /// PRF and HMAC hash.
    pub hash: HashAlgorithm,
    /// Bytes of each direction's MAC key in the key block.
    pub mac_key_len: usize,
    /// Bytes of each direction's cipher key in the key block.
    pub enc_key_len: usize,
    /// Bytes of each direction's IV (CBC) or nonce salt (GCM) in the key block.
    pub fixed_iv_len: usize,
    /// Bytes of IV or nonce sent in front of each record's ciphertext.
    pub record_iv_len: usize,
    /// Bytes of AEAD tag after each record's ciphertext (0 for CBC).
    pub tag_len: usize,
}

impl SuiteParams {
    const fn cbc(suite: CipherSuite, key_exchange: KeyExchange, bulk: BulkCipher, hash: HashAlgorithm) -> Self {
        Self {
            suite,
            key_exchange,
            bulk,
            hash,
            mac_key_len: hash.output_len(),
            enc_key_len: 16,
            fixed_iv_len: 16,
            record_iv_len: 16,
            tag_len: 0,
        }
    }

    const fn gcm(suite: CipherSuite, key_exchange: KeyExchange, hash: HashAlgorithm) -> Self {
        Self {
            suite,
            key_exchange,
            bulk: BulkCipher::Sm4Gcm,
            hash,
            mac_key_len: 0,
            enc_key_len: 16,
            fixed_iv_len: 4,
            record_iv_len: 8,
            tag_len: 16,
        }
    }

    /// Every implemented suite, in wearpay's order of preference (AEAD first, SM2 first).
    pub const ALL: &'static [Self] = &[
        Self::gcm(CipherSuite::ECC_SM4_GCM_SM3, KeyExchange::Ecc, HashAlgorithm::Sm3),
        Self::cbc(CipherSuite::ECC_SM4_CBC_SM3, KeyExchange::Ecc, BulkCipher::Sm4Cbc, HashAlgorithm::Sm3),
        Self::cbc(CipherSuite::ECC_SM1_SM3, KeyExchange::Ecc, BulkCipher::Sm1Cbc, HashAlgorithm::Sm3),
        Self::gcm(CipherSuite::RSA_SM4_GCM_SM3, KeyExchange::Rsa, HashAlgorithm::Sm3),
        Self::cbc(CipherSuite::RSA_SM4_CBC_SM3, KeyExchange::Rsa, BulkCipher::Sm4Cbc, HashAlgorithm::Sm3),
        Self::gcm(CipherSuite::RSA_SM4_GCM_SHA256, KeyExchange::Rsa, HashAlgorithm::Sha256),
        Self::cbc(CipherSuite::RSA_SM4_CBC_SHA256, KeyExchange::Rsa, BulkCipher::Sm4Cbc, HashAlgorithm::Sha256),
        Self::cbc(CipherSuite::RSA_SM1_SM3, KeyExchange::Rsa, BulkCipher::Sm1Cbc, HashAlgorithm::Sm3),
    ];

    /// Bytes of key block the PRF must produce: both directions' MAC key, key and IV.
    pub const fn key_block_len(&self) -> usize {
        2 * (self.mac_key_len + self.enc_key_len + self.fixed_iv_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Codec;

    #[test]
    fn names_both_ways() {
        for (suite, gbt, openssl) in [
            (CipherSuite::ECC_SM4_GCM_SM3, "ECC_SM4_GCM_SM3", "ECC-SM2-SM4-GCM-SM3"),
            (CipherSuite::ECC_SM4_CBC_SM3, "ECC_SM4_CBC_SM3", "ECC-SM2-SM4-CBC-SM3"),
            (CipherSuite::RSA_SM4_GCM_SM3, "RSA_SM4_GCM_SM3", "RSA-SM4-GCM-SM3"),
            (CipherSuite::RSA_SM4_CBC_SM3, "RSA_SM4_CBC_SM3", "RSA-SM4-CBC-SM3"),
            (CipherSuite::RSA_SM4_GCM_SHA256, "RSA_SM4_GCM_SHA256", "RSA-SM4-GCM-SHA256"),
            (CipherSuite::RSA_SM4_CBC_SHA256, "RSA_SM4_CBC_SHA256", "RSA-SM4-CBC-SHA256"),
            (CipherSuite::ECC_SM1_SM3, "ECC_SM1_SM3", "ECC-SM2-WITH-SM1-SM3"),
            (CipherSuite::RSA_SM1_SM3, "RSA_SM1_SM3", "RSA-WITH-SM1-SM3"),
            (CipherSuite::ECDHE_SM4_CBC_SM3, "ECDHE_SM4_CBC_SM3", "ECDHE-SM2-SM4-CBC-SM3"),
            (CipherSuite::ECDHE_SM4_GCM_SM3, "ECDHE_SM4_GCM_SM3", "ECDHE-SM2-SM4-GCM-SM3"),
        ] {
            assert_eq!(suite.name(), Some(gbt));
            assert_eq!(suite.openssl_name(), Some(openssl));
            assert_eq!(CipherSuite::from_name(gbt), Some(suite));
            assert_eq!(CipherSuite::from_name(openssl), Some(suite));
            assert_eq!(CipherSuite::from_name(&gbt.to_ascii_lowercase()), Some(suite));
            assert_eq!(CipherSuite::from_name(&openssl.to_ascii_lowercase()), Some(suite));
        }
        assert_eq!(CipherSuite::from_name("ecc-sm2-with-sm4-sm3"), Some(CipherSuite::ECC_SM4_CBC_SM3));
        assert_eq!(CipherSuite::from_name("AES128-SHA"), None);
        assert_eq!(CipherSuite::from_name(""), None);
        assert_eq!(CipherSuite::Unknown(0x1301).name(), None);
        assert_eq!(CipherSuite::Unknown(0x1301).openssl_name(), None);
        assert_eq!(alloc::format!("{}", CipherSuite::Unknown(0x1301)), "Unknown(0x1301)");
        assert_eq!(alloc::format!("{}", CipherSuite::ECC_SM4_GCM_SM3), "ECC_SM4_GCM_SM3");
    }

    #[test]
    fn numbers() {
        for (suite, n) in [
            (CipherSuite::ECC_SM4_GCM_SM3, 0xe053),
            (CipherSuite::ECC_SM4_CBC_SM3, 0xe013),
            (CipherSuite::RSA_SM4_GCM_SM3, 0xe059),
            (CipherSuite::RSA_SM4_CBC_SM3, 0xe019),
            (CipherSuite::RSA_SM4_GCM_SHA256, 0xe05a),
            (CipherSuite::RSA_SM4_CBC_SHA256, 0xe01c),
            (CipherSuite::ECC_SM1_SM3, 0xe003),
            (CipherSuite::RSA_SM1_SM3, 0xe009),
            (CipherSuite::ECDHE_SM4_CBC_SM3, 0xe011),
            (CipherSuite::ECDHE_SM4_GCM_SM3, 0xe051),
            (CipherSuite::EMPTY_RENEGOTIATION_INFO_SCSV, 0x00ff),
        ] {
            assert_eq!(u16::from(suite), n);
            assert_eq!(CipherSuite::from(n), suite);
            assert_eq!(CipherSuite::read_bytes(&n.to_be_bytes()), Ok(suite));
        }
    }

    #[test]
    fn params() {
        let gcm = CipherSuite::ECC_SM4_GCM_SM3.params().map(|p| {
            (p.key_exchange, p.bulk, p.hash, p.mac_key_len, p.enc_key_len, p.fixed_iv_len, p.record_iv_len, p.tag_len)
        });
        assert_eq!(gcm, Some((KeyExchange::Ecc, BulkCipher::Sm4Gcm, HashAlgorithm::Sm3, 0, 16, 4, 8, 16)));
        let cbc = CipherSuite::ECC_SM4_CBC_SM3.params();
        assert_eq!(
            cbc.map(|p| (p.mac_key_len, p.enc_key_len, p.fixed_iv_len, p.record_iv_len, p.tag_len)),
            Some((32, 16, 16, 16, 0))
        );
        assert_eq!(cbc.map(SuiteParams::key_block_len), Some(128));
        assert_eq!(CipherSuite::RSA_SM4_CBC_SHA256.params().map(|p| p.hash), Some(HashAlgorithm::Sha256));
        assert_eq!(CipherSuite::RSA_SM1_SM3.params().map(|p| p.bulk), Some(BulkCipher::Sm1Cbc));
        assert_eq!(CipherSuite::ECDHE_SM4_GCM_SM3.params(), None);
        assert_eq!(CipherSuite::EMPTY_RENEGOTIATION_INFO_SCSV.params(), None);
        assert_eq!(CipherSuite::Unknown(1).params(), None);
        for p in SuiteParams::ALL {
            assert_eq!(p.bulk.is_aead(), p.tag_len != 0);
        }
    }
}

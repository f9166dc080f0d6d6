//! Certificate profiles: key usage bits and the roles of wearpay's PKI.
use core::{fmt, ops::BitOr, str::FromStr};

use const_oid::ObjectIdentifier as Oid;

use crate::{Error, oid};

/// X.509 key usage bits (RFC 5280 §4.2.1.3).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct KeyUsage(u16);

const KU_NAMES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

impl KeyUsage {
    /// digitalSignature.
    pub const DIGITAL_SIGNATURE: Self = Self(1 << 0);
    /// nonRepudiation (contentCommitment).
    pub const NON_REPUDIATION: Self = Self(1 << 1);
    /// keyEncipherment.
    pub const KEY_ENCIPHERMENT: Self = Self(1 << 2);
    /// dataEncipherment.
    pub const DATA_ENCIPHERMENT: Self = Self(1 << 3);
    /// keyAgreement.
    pub const KEY_AGREEMENT: Self = Self(1 << 4);
    /// keyCertSign.
    pub const KEY_CERT_SIGN: Self = Self(1 << 5);
    /// cRLSign.
    pub const CRL_SIGN: Self = Self(1 << 6);
    /// encipherOnly.
    pub const ENCIPHER_ONLY: Self = Self(1 << 7);
    /// decipherOnly.
    pub const DECIPHER_ONLY: Self = Self(1 << 8);

    /// No bits.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// From the bit mask (bit 0 = digitalSignature).
    pub const fn from_bits(bits: u16) -> Self {
        Self(bits & 0x1ff)
    }

    /// The bit mask (bit 0 = digitalSignature).
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// True if every bit of `other` is set here.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The names of the bits set, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        KU_NAMES.iter().enumerate().filter(move |(i, _)| self.0 & (1 << i) != 0).map(|(_, n)| *n)
    }
}

impl BitOr for KeyUsage {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Display for KeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.names().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(n)?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyUsage({self})")
    }
}

/// What a certificate is for in wearpay's PKI.
///
/// Issuance writes the full profile ([`Role::key_usage`], [`Role::extended_key_usage`]);
/// verification asks for the bits the role cannot do without ([`Role::required_key_usage`]),
/// so that certificates from other CAs (Tongsuo's, for example) with a narrower but
/// sufficient key usage are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The offline root: CA:TRUE (pathlen 1 by default), keyCertSign, cRLSign.
    RootCa,
    /// An issuing CA (for center or terminal certificates): CA:TRUE, pathlen 0 by default.
    IssuingCa,
    /// The center's channel signing certificate: digitalSignature, nonRepudiation; serverAuth.
    CenterSign,
    /// The center's channel encryption certificate: keyEncipherment, dataEncipherment,
    /// keyAgreement; serverAuth.
    CenterEnc,
    /// The center's receipt signing certificate: digitalSignature, nonRepudiation; no
    /// TLS extended key usage, so it cannot stand in for a channel certificate.
    CenterReceipt,
    /// The center's PIN encipherment certificate: keyEncipherment, dataEncipherment; no
    /// TLS extended key usage.
    CenterPin,
    /// A band's signing certificate: digitalSignature, nonRepudiation; clientAuth.
    Terminal,
    /// A band's encryption certificate: keyEncipherment, dataEncipherment, keyAgreement;
    /// clientAuth.
    TerminalEnc,
}

/// What a role asks of the extended key usage extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EkuRule {
    /// The EKU extension, if present, must list this purpose (or anyExtendedKeyUsage).
    Requires(Oid),
    /// The certificate must not be usable for TLS/TLCP authentication: no serverAuth,
    /// clientAuth or anyExtendedKeyUsage.
    NoChannelAuth,
    /// CAs: no rule.
    Any,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 8] = [
        Role::RootCa,
        Role::IssuingCa,
        Role::CenterSign,
        Role::CenterEnc,
        Role::CenterReceipt,
        Role::CenterPin,
        Role::Terminal,
        Role::TerminalEnc,
    ];

    /// The role's name on the command line (`center-sign`, `terminal`, …).
    pub const fn name(self) -> &'static str {
        match self {
            Self::RootCa => "root-ca",
            Self::IssuingCa => "issuing-ca",
            Self::CenterSign => "center-sign",
            Self::CenterEnc => "center-enc",
            Self::CenterReceipt => "center-receipt",
            Self::CenterPin => "center-pin",
            Self::Terminal => "terminal",
            Self::TerminalEnc => "terminal-enc",
        }
    }

    /// True for the CA roles.
    pub const fn is_ca(self) -> bool {
        matches!(self, Self::RootCa | Self::IssuingCa)
    }

    /// The key usage written at issuance.
    pub fn key_usage(self) -> KeyUsage {
        match self {
            Self::RootCa | Self::IssuingCa => KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN,
            Self::CenterSign | Self::Terminal | Self::CenterReceipt => {
                KeyUsage::DIGITAL_SIGNATURE | KeyUsage::NON_REPUDIATION
            }
            Self::CenterEnc | Self::TerminalEnc => {
                KeyUsage::KEY_ENCIPHERMENT | KeyUsage::DATA_ENCIPHERMENT | KeyUsage::KEY_AGREEMENT
            }
            Self::CenterPin => KeyUsage::KEY_ENCIPHERMENT | KeyUsage::DATA_ENCIPHERMENT,
        }
    }

    /// The key usage bits verification requires (when the extension is present).
    pub fn required_key_usage(self) -> KeyUsage {
        match self {
            Self::RootCa | Self::IssuingCa => KeyUsage::KEY_CERT_SIGN,
            Self::CenterSign | Self::Terminal => KeyUsage::DIGITAL_SIGNATURE,
            Self::CenterReceipt => KeyUsage::DIGITAL_SIGNATURE | KeyUsage::NON_REPUDIATION,
            Self::CenterEnc | Self::TerminalEnc | Self::CenterPin => KeyUsage::KEY_ENCIPHERMENT,
        }
    }

    /// The extended key usage written at issuance (none for CAs, receipts and PIN).
    pub fn extended_key_usage(self) -> Option<Oid> {
        match self {
            Self::CenterSign | Self::CenterEnc => Some(oid::KP_SERVER_AUTH),
            Self::Terminal | Self::TerminalEnc => Some(oid::KP_CLIENT_AUTH),
            _ => None,
        }
    }

    /// What verification asks of the extended key usage.
    pub fn eku_rule(self) -> EkuRule {
        match self {
            Self::RootCa | Self::IssuingCa => EkuRule::Any,
            Self::CenterSign | Self::CenterEnc => EkuRule::Requires(oid::KP_SERVER_AUTH),
            Self::Terminal | Self::TerminalEnc => EkuRule::Requires(oid::KP_CLIENT_AUTH),
            Self::CenterReceipt | Self::CenterPin => EkuRule::NoChannelAuth,
        }
    }

    /// The default pathLenConstraint of a new CA of this role.
    pub const fn default_path_len(self) -> Option<u8> {
        match self {
            Self::RootCa => Some(1),
            Self::IssuingCa => Some(0),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Role::ALL
            .into_iter()
            .find(|r| r.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::InvalidRequest(alloc::format!("unknown role {s}")))
    }
}

//! Distinguished names: parsed from `CN=foo,O=bar` or OpenSSL's `/CN=foo/O=bar`, kept as
//! DER, shown as `CN=foo, O=bar`.
use alloc::{
    string::{String, ToString},
    vec::Vec,
};
use core::fmt;

use const_oid::ObjectIdentifier as Oid;
use der::{
    Decode, Encode, Tag, Tagged,
    asn1::{Any, BmpString, Ia5StringRef, PrintableStringRef, TeletexStringRef, Utf8StringRef},
};
use x509_cert::name::Name;

use crate::Error;

/// Attribute types by short name, in the spelling OpenSSL prints.
const ATTRIBUTES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("serialNumber", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("street", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("title", "2.5.4.12"),
    ("GN", "2.5.4.42"),
    ("initials", "2.5.4.43"),
    ("pseudonym", "2.5.4.65"),
    ("emailAddress", "1.2.840.113549.1.9.1"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
];

/// Aliases accepted on input.
const ALIASES: &[(&str, &str)] =
    &[("S", "ST"), ("E", "emailAddress"), ("EMAIL", "emailAddress"), ("SERIALNUMBER", "serialNumber")];

fn short_name(oid: &Oid) -> Option<&'static str> {
    let dotted = oid.to_string();
    ATTRIBUTES.iter().find(|(_, o)| *o == dotted).map(|(n, _)| *n)
}

fn lookup(key: &str) -> Option<Oid> {
    let key = ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(key)).map_or(key, |(_, n)| n);
    if let Some((_, dotted)) = ATTRIBUTES.iter().find(|(n, _)| n.eq_ignore_ascii_case(key)) {
        return Oid::new(dotted).ok();
    }
    if key.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Oid::new(key).ok();
    }
    None
}

/// An X.501 distinguished name, kept in its exact DER encoding.
///
/// Names compare by their DER bytes (what issuer/subject chaining uses when no key
/// identifiers are present).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DistinguishedName {
    der: Vec<u8>,
    /// (attribute type, value) in encoding order; multi-valued RDNs are flattened.
    attrs: Vec<(Oid, String)>,
}

impl DistinguishedName {
    /// Parses `CN=foo,O=bar` or `/CN=foo/O=bar`.
    ///
    /// Attributes are encoded in the order written (OpenSSL's `-subj` order, so
    /// `CN=foo,O=bar` and `/CN=foo/O=bar` give the same name). A backslash escapes the
    /// next character. `C` and `serialNumber` are PrintableString, `emailAddress` and `DC`
    /// IA5String, the rest UTF8String, as OpenSSL 3 writes them.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidName(alloc::format!("{s}: {why}"));
        let trimmed = s.trim();
        let (body, sep) = match trimmed.strip_prefix('/') {
            Some(rest) => (rest, '/'),
            None => (trimmed, ','),
        };
        let mut parts: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                cur.push('\\');
                cur.push(chars.next().ok_or_else(|| bad("dangling backslash"))?);
            } else if c == sep {
                parts.push(core::mem::take(&mut cur));
            } else {
                cur.push(c);
            }
        }
        parts.push(cur);
        let mut attrs = Vec::new();
        for part in parts {
            if part.trim().is_empty() && sep == '/' {
                continue; // tolerate a trailing slash
            }
            let (key, value) = split_unescaped(&part, '=').ok_or_else(|| bad("expected TYPE=value"))?;
            let key = key.trim();
            let oid = lookup(key).ok_or_else(|| bad(&alloc::format!("unknown attribute type {key}")))?;
            let value = unescape(value.trim());
            if value.is_empty() {
                return Err(bad(&alloc::format!("empty value for {key}")));
            }
            attrs.push((oid, value));
        }
        if attrs.is_empty() {
            return Err(bad("empty name"));
        }
        Self::from_attributes(&attrs).map_err(|e| bad(&e.to_string()))
    }

    /// Builds a name of one attribute per RDN, in the given order.
    pub fn from_attributes(attrs: &[(Oid, String)]) -> Result<Self, Error> {
        let mut rdns = Vec::new();
        for (oid, value) in attrs {
            let dotted = oid.to_string();
            let any = match dotted.as_str() {
                "2.5.4.6" | "2.5.4.5" => {
                    let v = PrintableStringRef::new(value)
                        .map_err(|_| Error::InvalidName(alloc::format!("{value} is not a PrintableString")))?;
                    if dotted == "2.5.4.6" && value.len() != 2 {
                        return Err(Error::InvalidName(alloc::format!("country {value} is not two letters")));
                    }
                    Any::encode_from(&v).map_err(Error::encode)?
                }
                "1.2.840.113549.1.9.1" | "0.9.2342.19200300.100.1.25" => {
                    let v = Ia5StringRef::new(value)
                        .map_err(|_| Error::InvalidName(alloc::format!("{value} is not ASCII")))?;
                    Any::encode_from(&v).map_err(Error::encode)?
                }
                _ => Any::encode_from(&Utf8StringRef::new(value).map_err(Error::encode)?).map_err(Error::encode)?,
            };
            // AttributeTypeAndValue ::= SEQUENCE { type, value }; RDN ::= SET OF it.
            let mut atv = Vec::new();
            oid.encode_to_vec(&mut atv).map_err(Error::encode)?;
            any.encode_to_vec(&mut atv).map_err(Error::encode)?;
            let atv = tlv(0x30, &atv);
            rdns.extend_from_slice(&tlv(0x31, &atv));
        }
        Self::from_der(&tlv(0x30, &rdns))
    }

    /// Decodes a DER `Name`.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let name = Name::from_der(der).map_err(Error::der("name"))?;
        Self::from_x509(&name)
    }

    pub(crate) fn from_x509(name: &Name) -> Result<Self, Error> {
        let der = name.to_der().map_err(Error::der("name"))?;
        let mut attrs = Vec::new();
        for atv in name.iter() {
            attrs.push((atv.oid, any_to_string(&atv.value)));
        }
        Ok(Self { der, attrs })
    }

    pub(crate) fn to_x509(&self) -> Result<Name, Error> {
        Name::from_der(&self.der).map_err(Error::der("name"))
    }

    /// The exact DER encoding.
    pub fn as_der(&self) -> &[u8] {
        &self.der
    }

    /// The attributes in encoding order, values as text.
    pub fn attributes(&self) -> &[(Oid, String)] {
        &self.attrs
    }

    /// The first commonName, if any.
    pub fn common_name(&self) -> Option<&str> {
        let cn = Oid::new_unwrap("2.5.4.3");
        self.attrs.iter().find(|(o, _)| *o == cn).map(|(_, v)| v.as_str())
    }

    /// True for the empty name.
    pub fn is_empty(&self) -> bool {
        self.attrs.is_empty()
    }
}

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 4);
    out.push(tag);
    let n = value.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else if n < 0x1_0000 {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    } else {
        out.extend_from_slice(&[0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(value);
    out
}

fn split_unescaped(s: &str, sep: char) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            return Some((&s[..i], &s[i + c.len_utf8()..]));
        }
    }
    None
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A directory string (or anything else) as text; unknown encodings as `#hex`.
pub(crate) fn any_to_string(any: &Any) -> String {
    let value = any.value();
    let text = match any.tag() {
        Tag::Utf8String => Utf8StringRef::try_from(any).ok().map(|s| s.as_str().to_string()),
        Tag::PrintableString => PrintableStringRef::try_from(any).ok().map(|s| s.as_str().to_string()),
        Tag::Ia5String => Ia5StringRef::try_from(any).ok().map(|s| s.as_str().to_string()),
        Tag::TeletexString => TeletexStringRef::try_from(any).ok().map(|s| s.as_str().to_string()),
        Tag::BmpString => BmpString::from_der(&any.to_der().unwrap_or_default()).ok().map(|s| s.to_string()),
        _ => None,
    };
    text.unwrap_or_else(|| {
        let mut s = String::from("#");
        for b in value {
            s.push_str(&alloc::format!("{b:02x}"));
        }
        s
    })
}

impl fmt::Display for DistinguishedName {
    /// `C=CN, O=Interop, CN=Root` in encoding order; `,`, `+`, `=` and `\` in values are
    /// escaped with a backslash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (oid, value)) in self.attrs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match short_name(oid) {
                Some(n) => f.write_str(n)?,
                None => write!(f, "{oid}")?,
            }
            f.write_str("=")?;
            for c in value.chars() {
                if matches!(c, ',' | '+' | '=' | '\\' | '/') {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for DistinguishedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DistinguishedName(\"{self}\")")
    }
}

impl core::str::FromStr for DistinguishedName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

//! API tokens: who may call what.
//!
//! A token is `wpt_` and 64 hex digits (32 random bytes), handed out once. The tokens file
//! (`[http] tokens`, TOML, mode 0600) keeps for each token its role and the SM3 hash of
//! its text, never the token itself:
//!
//! ```toml
//! [[token]]
//! role = "admin"
//! sm3 = "9b1c…"             # SM3 of the token's text, hex
//! created_at = 1750000000
//!
//! [[token]]
//! role = "merchant"
//! merchant = "M-0001"        # the one merchant whose data it sees
//! sm3 = "04aa…"
//! ```
//!
//! A token is 256 random bits, so a plain hash is as good as a slow one; what matters is
//! that a copy of the file lets no one call the API. A call's token is hashed and compared
//! with every entry in constant time, without stopping at the first match.
extern crate alloc;

use alloc::{format, string::String, sync::Arc, vec::Vec};
use core::fmt;
use std::{
    fs,
    path::{Path, PathBuf},
    sync::Mutex,
    time::SystemTime,
};

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts},
};
use serde::{Deserialize, Serialize};
use wearpay_crypto::{CryptoProvider, Zeroizing, ct_eq};
use wearpay_pay::{MerchantId, Timestamp};
use wearpay_pki::files;

use super::{ApiError, State};
use crate::{Merchant, node::Error};

/// Every token starts with this, so a leaked one is recognisable in a scan.
pub const TOKEN_PREFIX: &str = "wpt_";

/// What a token may do.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ApiRole {
    /// Everything under `/v1/admin`.
    Admin,
    /// The merchant endpoints, for this merchant's data only.
    Merchant(MerchantId),
}

impl fmt::Display for ApiRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Admin => f.write_str("admin"),
            Self::Merchant(id) => write!(f, "merchant {}", id.as_str()),
        }
    }
}

/// A token just made: its text (shown once, wiped when dropped) and its role.
pub struct NewToken {
    /// The token.
    pub token: Zeroizing<String>,
    /// What it may do.
    pub role: ApiRole,
}

impl fmt::Debug for NewToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewToken").field("role", &self.role).field("token", &"<secret>").finish()
    }
}

/// The file's form.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    #[serde(default, rename = "token")]
    tokens: Vec<EntryForm>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryForm {
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    merchant: Option<String>,
    sm3: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<u64>,
}

/// One usable entry.
#[derive(Debug, Clone)]
struct Entry {
    hash: [u8; 32],
    role: ApiRole,
}

fn config_error(why: impl Into<String>) -> Error {
    Error::Config { what: "API tokens file", why: why.into() }
}

fn parse_file(text: &str) -> Result<Vec<Entry>, Error> {
    let form: FileForm = toml::from_str(text).map_err(|e| config_error(e.message().to_owned()))?;
    form.tokens
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let n = i + 1;
            let hash = hex::decode(&e.sm3)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| config_error(format!("token {n}: sm3 is not 64 hex digits")))?;
            let role = match (e.role.as_str(), e.merchant) {
                ("admin", None) => ApiRole::Admin,
                ("merchant", Some(id)) => ApiRole::Merchant(
                    MerchantId::new(&id).map_err(|_| config_error(format!("token {n}: invalid merchant id")))?,
                ),
                ("admin", Some(_)) => return Err(config_error(format!("token {n}: an admin token names no merchant"))),
                ("merchant", None) => return Err(config_error(format!("token {n}: a merchant token needs merchant"))),
                _ => return Err(config_error(format!("token {n}: role must be admin or merchant"))),
            };
            Ok(Entry { hash, role })
        })
        .collect()
}

fn token_hash(token: &str) -> [u8; 32] {
    crate::sm3(&[token.as_bytes()])
}

/// Makes a new random token for `role`.
pub fn new_token(provider: &CryptoProvider, role: ApiRole) -> Result<NewToken, Error> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    provider.fill_random(bytes.as_mut()).map_err(|e| Error::Config { what: "random", why: e.to_string() })?;
    let token = Zeroizing::new(format!("{TOKEN_PREFIX}{}", hex::encode(bytes.as_ref())));
    Ok(NewToken { token, role })
}

/// The file entry of `token`, as TOML.
fn entry_text(token: &NewToken, now: Timestamp) -> String {
    let merchant = match &token.role {
        ApiRole::Admin => String::new(),
        ApiRole::Merchant(id) => format!("merchant = \"{}\"\n", toml_escape(id.as_str())),
    };
    let role = match token.role {
        ApiRole::Admin => "admin",
        ApiRole::Merchant(_) => "merchant",
    };
    format!(
        "\n[[token]]\nrole = \"{role}\"\n{merchant}sm3 = \"{}\"\ncreated_at = {}\n",
        hex::encode(token_hash(&token.token)),
        now.0
    )
}

fn toml_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

const FILE_HEADER: &str = "# wearpay API tokens: each token's role and the SM3 hash of its text (never the token).\n\
                           # Add one with: wearpay center token add --merchant ID\n";

/// Appends `token`'s hash and role to the tokens file at `path` (made, mode 0600, if
/// missing). The file is replaced whole through a temporary file, so the API never reads
/// half of it.
pub fn append_token(path: &Path, token: &NewToken, now: Timestamp) -> Result<(), Error> {
    let existing = match fs::read_to_string(path) {
        Ok(text) => {
            // Refuse to extend a file the API could not read.
            parse_file(&text)?;
            text
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::from(FILE_HEADER),
        Err(source) => return Err(Error::Io { path: path.to_path_buf(), source }),
    };
    let text = format!("{existing}{}", entry_text(token, now));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    files::write_new(&tmp, text.as_bytes(), true)?;
    fs::rename(&tmp, path).map_err(|source| Error::Io { path: path.to_path_buf(), source })
}

/// What `init` writes: the tokens file with one admin token, and that token in
/// `admin_token_path` (mode 0600).
pub fn write_initial(tokens_path: &Path, admin_token_path: &Path, provider: &CryptoProvider) -> Result<(), Error> {
    let token = new_token(provider, ApiRole::Admin)?;
    let text = Zeroizing::new(format!("{}\n", token.token.as_str()));
    files::write_new(admin_token_path, text.as_bytes(), true)?;
    append_token(tokens_path, &token, super::now())
}

/// The tokens file as the API reads it: parsed again whenever its modification time or
/// length changes.
#[derive(Debug)]
pub(crate) struct TokenFile {
    path: PathBuf,
    cache: Mutex<Option<Cached>>,
}

#[derive(Debug, Clone)]
struct Cached {
    stamp: (Option<SystemTime>, u64),
    entries: Arc<Vec<Entry>>,
}

impl TokenFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self { path, cache: Mutex::new(None) }
    }

    fn entries(&self) -> Result<Arc<Vec<Entry>>, ApiError> {
        let meta = match fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::error!(path = %self.path.display(), "the API tokens file is missing: every call is refused");
                return Ok(Arc::new(Vec::new()));
            }
            Err(e) => return Err(ApiError::internal(&e)),
        };
        let stamp = (meta.modified().ok(), meta.len());
        let mut cache = self.cache.lock().map_err(|_| ApiError::internal(&"token cache poisoned"))?;
        if let Some(c) = cache.as_ref().filter(|c| c.stamp == stamp) {
            return Ok(c.entries.clone());
        }
        let text = fs::read_to_string(&self.path).map_err(|e| ApiError::internal(&e))?;
        let entries = Arc::new(parse_file(&text).map_err(|e| ApiError::internal(&e))?);
        *cache = Some(Cached { stamp, entries: entries.clone() });
        Ok(entries)
    }

    /// The role of `token`, if it is in the file.
    fn role_of(&self, token: &str) -> Result<Option<ApiRole>, ApiError> {
        let hash = token_hash(token);
        let mut found = None;
        // Every entry is compared, so the time taken does not tell which one matched.
        for entry in self.entries()?.iter() {
            if ct_eq(&entry.hash, &hash) {
                found = Some(entry.role.clone());
            }
        }
        Ok(found)
    }
}

/// The caller's role from `Authorization: Bearer <token>`.
fn caller(parts: &Parts, api: &State) -> Result<ApiRole, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::unauthorized("an Authorization: Bearer token is required"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::unauthorized("expected Authorization: Bearer <token>"))?;
    api.tokens.role_of(token)?.ok_or(ApiError::unauthorized("unknown token"))
}

/// An administrator's call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admin;

impl FromRequestParts<State> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &State) -> Result<Self, ApiError> {
        match caller(parts, api)? {
            ApiRole::Admin => Ok(Admin),
            ApiRole::Merchant(_) => Err(ApiError::forbidden("this endpoint needs an admin token")),
        }
    }
}

/// A merchant's call, with its registered merchant.
#[derive(Debug, Clone)]
pub(crate) struct MerchantCaller(pub(crate) Merchant);

impl FromRequestParts<State> for MerchantCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &State) -> Result<Self, ApiError> {
        match caller(parts, api)? {
            ApiRole::Merchant(id) => {
                let merchant = api
                    .center
                    .store()
                    .merchant(&id)
                    .await?
                    .ok_or(ApiError::forbidden("the token's merchant is not registered"))?;
                Ok(Self(merchant))
            }
            ApiRole::Admin => Err(ApiError::forbidden("this endpoint needs a merchant token")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn entries_round_trip_and_bad_files_are_named() {
        let token =
            new_token(&wearpay_crypto::portable::PROVIDER, ApiRole::Merchant(MerchantId::new("M-1").unwrap())).unwrap();
        assert!(token.token.starts_with(TOKEN_PREFIX) && token.token.len() == 4 + 64);
        let text = format!("{FILE_HEADER}{}", entry_text(&token, Timestamp(1)));
        assert!(!text.contains(token.token.as_str()));
        let entries = parse_file(&text).unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].role, token.role);
        assert_eq!(entries[0].hash, token_hash(&token.token));
        let bad = text.replace("role = \"merchant\"", "role = \"root\"");
        assert!(parse_file(&bad).unwrap_err().to_string().contains("role must be"));
        let bad = text.replace("sm3 = \"", "sm3 = \"zz");
        assert!(parse_file(&bad).unwrap_err().to_string().contains("64 hex"));
    }

    #[test]
    fn sm3_matches_the_published_vector() {
        // GB/T 32905-2016, example 1.
        assert_eq!(hex::encode(token_hash("abc")), "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
    }
}

use alloc::boxed::Box;
use core::fmt::Debug;

/// The hash functions wearpay uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SM3, GB/T 32905-2016.
    Sm3,
    /// SHA-256, FIPS 180-4 (the `_SHA256` RSA suites and PBKDF2 as OpenSSL writes it).
    Sha256,
}

impl HashAlgorithm {
    /// Digest length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sm3 | Self::Sha256 => 32,
        }
    }

    /// Internal block length in bytes (what HMAC pads the key to).
    pub const fn block_len(self) -> usize {
        match self {
            Self::Sm3 | Self::Sha256 => 64,
        }
    }
}

/// A digest value; as long as its algorithm's output.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct HashOutput {
    buf: [u8; Self::MAX_LEN],
    len: usize,
}

impl HashOutput {
    /// The longest digest any supported algorithm produces.
    pub const MAX_LEN: usize = 32;

    /// Wraps digest bytes; panics only on a provider bug (longer than [`Self::MAX_LEN`]).
    pub fn new(bytes: &[u8]) -> Self {
        let mut buf = [0u8; Self::MAX_LEN];
        buf[..bytes.len()].copy_from_slice(bytes);
        Self { buf, len: bytes.len() }
    }
}

impl AsRef<[u8]> for HashOutput {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Debug for HashOutput {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.as_ref() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A hash function.
pub trait Hash: Send + Sync + Debug {
    /// Which algorithm this is.
    fn algorithm(&self) -> HashAlgorithm;
    /// Starts an incremental computation.
    fn start(&self) -> Box<dyn HashContext>;
    /// Hashes one message.
    fn hash(&self, data: &[u8]) -> HashOutput {
        let mut ctx = self.start();
        ctx.update(data);
        ctx.finish()
    }
}

/// An incremental hash computation.
pub trait HashContext: Send + Sync {
    /// Absorbs more input.
    fn update(&mut self, data: &[u8]);
    /// A copy of the state so far, so a running transcript hash can be read and go on.
    fn fork(&self) -> Box<dyn HashContext>;
    /// The digest of everything absorbed.
    fn finish(self: Box<Self>) -> HashOutput;
    /// The digest of everything absorbed so far followed by `parts`, leaving `self` as it
    /// was: a fork, updates and a finish, but implementations copy their state on the stack
    /// instead of the heap. HMAC and the handshake transcript read their running states this
    /// way dozens of times a handshake.
    fn finish_with(&self, parts: &[&[u8]]) -> HashOutput {
        let mut ctx = self.fork();
        for p in parts {
            ctx.update(p);
        }
        ctx.finish()
    }
}

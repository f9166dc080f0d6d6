//! The key schedule: TLS 1.2's PRF (RFC 5246 §5) over HMAC-SM3, or HMAC-SHA256 for the
//! `_SHA256` suites, as GB/T 38636 §6.5 prescribes.
use alloc::vec::Vec;

use wearpay_crypto::{CryptoProvider, HashAlgorithm, HashOutput, HmacKey, Zeroizing};

/// Length of the master secret.
pub const MASTER_SECRET_LEN: usize = 48;
/// Length of a Finished message's verify_data.
pub const VERIFY_DATA_LEN: usize = 12;

/// P_hash(secret, label ‖ seed), filling `out`.
pub fn prf(
    provider: &CryptoProvider,
    hash: HashAlgorithm,
    secret: &[u8],
    label: &[u8],
    seed: &[&[u8]],
    out: &mut [u8],
) {
    prf_keyed(&provider.hmac(hash, secret), hash, label, seed, out);
}

/// [`prf`] with the secret's HMAC key already prepared.
fn prf_keyed(key: &HmacKey, hash: HashAlgorithm, label: &[u8], seed: &[&[u8]], out: &mut [u8]) {
    // A(1) = HMAC(secret, label ‖ seed); A(i) = HMAC(secret, A(i-1)).
    let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len() + 1);
    parts.push(label);
    parts.extend_from_slice(seed);
    let mut a: HashOutput = key.sign(&parts);
    let mut chunks = out.chunks_mut(hash.output_len()).peekable();
    while let Some(chunk) = chunks.next() {
        let mut with_a: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
        with_a.push(a.as_ref());
        with_a.extend_from_slice(&parts);
        let block = key.sign(&with_a);
        chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        // The next A only if another chunk needs it: a Finished takes one chunk, and the
        // master secret and an SM4-GCM key block two.
        if chunks.peek().is_some() {
            a = key.sign(&[a.as_ref()]);
        }
    }
}

/// master_secret = PRF(pre_master_secret, "master secret", client_random ‖ server_random)[0..48].
pub fn master_secret(
    provider: &CryptoProvider,
    hash: HashAlgorithm,
    pre_master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
) -> Zeroizing<[u8; MASTER_SECRET_LEN]> {
    let mut ms = Zeroizing::new([0u8; MASTER_SECRET_LEN]);
    prf(provider, hash, pre_master, b"master secret", &[client_random, server_random], ms.as_mut());
    ms
}

/// The master secret with its HMAC key prepared once. The key block and both Finished
/// messages are PRF outputs under it, and preparing an HMAC key hashes two blocks: done
/// once instead of three times, that is about a tenth of the hashing in a resumed
/// handshake.
pub struct MasterSecret {
    bytes: Zeroizing<[u8; MASTER_SECRET_LEN]>,
    hash: HashAlgorithm,
    /// Zeroized on drop: the provider's hash states clear themselves.
    key: HmacKey,
}

impl core::fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MasterSecret(..)")
    }
}

impl MasterSecret {
    /// A master secret (derived now, or kept from a session) for the suite's PRF hash.
    pub fn new(provider: &CryptoProvider, hash: HashAlgorithm, bytes: Zeroizing<[u8; MASTER_SECRET_LEN]>) -> Self {
        let key = provider.hmac(hash, bytes.as_ref());
        Self { bytes, hash, key }
    }

    /// F5's master secret from the pre-master secret ([`master_secret`]).
    pub fn derive(
        provider: &CryptoProvider,
        hash: HashAlgorithm,
        pre_master: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
    ) -> Self {
        Self::new(provider, hash, master_secret(provider, hash, pre_master, client_random, server_random))
    }

    /// The secret itself (for a session store and the exporter).
    pub fn bytes(&self) -> &[u8; MASTER_SECRET_LEN] {
        &self.bytes
    }

    /// The secret, giving up the prepared key.
    pub fn into_bytes(self) -> Zeroizing<[u8; MASTER_SECRET_LEN]> {
        self.bytes
    }

    /// [`key_block`] under this secret.
    pub fn key_block(&self, client_random: &[u8; 32], server_random: &[u8; 32], len: usize) -> Zeroizing<Vec<u8>> {
        key_block_keyed(&self.key, self.hash, client_random, server_random, len)
    }

    /// [`verify_data`] under this secret.
    pub fn verify_data(&self, label: &[u8], transcript_hash: &[u8]) -> [u8; VERIFY_DATA_LEN] {
        verify_data_keyed(&self.key, self.hash, label, transcript_hash)
    }
}

/// The key block: PRF(master_secret, "key expansion", server_random ‖ client_random).
pub fn key_block(
    provider: &CryptoProvider,
    hash: HashAlgorithm,
    master: &[u8],
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    len: usize,
) -> Zeroizing<Vec<u8>> {
    key_block_keyed(&provider.hmac(hash, master), hash, client_random, server_random, len)
}

fn key_block_keyed(
    key: &HmacKey,
    hash: HashAlgorithm,
    client_random: &[u8; 32],
    server_random: &[u8; 32],
    len: usize,
) -> Zeroizing<Vec<u8>> {
    let mut kb = Zeroizing::new(alloc::vec![0u8; len]);
    prf_keyed(key, hash, b"key expansion", &[server_random, client_random], kb.as_mut());
    kb
}

/// Finished verify_data = PRF(master_secret, label, Hash(handshake_messages))[0..12].
pub fn verify_data(
    provider: &CryptoProvider,
    hash: HashAlgorithm,
    master: &[u8],
    label: &[u8],
    transcript_hash: &[u8],
) -> [u8; VERIFY_DATA_LEN] {
    verify_data_keyed(&provider.hmac(hash, master), hash, label, transcript_hash)
}

fn verify_data_keyed(
    key: &HmacKey,
    hash: HashAlgorithm,
    label: &[u8],
    transcript_hash: &[u8],
) -> [u8; VERIFY_DATA_LEN] {
    let mut out = [0u8; VERIFY_DATA_LEN];
    prf_keyed(key, hash, label, &[transcript_hash], &mut out);
    out
}

//! Public keys prepared for verification and for encryption, once per key.
//!
//! Verifying under a key needs the point, checked to be on the curve, tables of its multiples
//! for the wNAF, and Z for the signer's ID (two SM3 compressions), the same every time for
//! the same key. The center verifies the same bands' keys again and again (each
//! CertificateVerify and each payment request), so with `std` prepared keys are kept in a
//! process-wide map keyed by the full encoded point, with a randomly keyed hasher, up to
//! [`CAPACITY`] keys; when full it starts afresh. A key verified more than [`SPLIT_AFTER`]
//! times also gets the split tables ([`SplitOddMultiples`]): they cost about a verification
//! to make and halve each verification after, so they go only to keys that recur, and a
//! key verified once or twice costs what it did without them. Everything in it is derived
//! from public data. Without `std` each verification prepares its key.
use alloc::{boxed::Box, sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use wearpay_crypto::{Error, HashOutput, Sm2PublicKey, sm2::z_value};

use super::field::Scalar;
use super::point::{Affine, CombTable, Jacobian, OddMultiples, SplitOddMultiples, mul_point};
use crate::sm3::SM3;

/// How many keys the map holds before it starts afresh (about 700 bytes each, 2.8 KiB with
/// the split tables).
#[cfg(feature = "std")]
pub const CAPACITY: usize = 4096;

/// Verifications under a key with its plain table before it gets the split tables.
pub const SPLIT_AFTER: u32 = 2;

/// A table a key gets once it has been used more than `after` times: the policy of both the
/// split verification tables and the encryption comb, which cost more to make than one use
/// of the key saves.
#[derive(Debug)]
struct ForRecurring<T> {
    table: once_cell::race::OnceBox<T>,
    uses: AtomicU32,
    after: u32,
}

impl<T> ForRecurring<T> {
    const fn new(after: u32) -> Self {
        Self { table: once_cell::race::OnceBox::new(), uses: AtomicU32::new(0), after }
    }

    /// Counts a use; the table if it is made or this use is the one past `after` (which
    /// makes it), else `None`. Which it is depends only on the count, never on secrets.
    fn get(&self, make: impl FnOnce() -> T) -> Option<&T> {
        if let Some(table) = self.table.get() {
            return Some(table);
        }
        if self.uses.fetch_add(1, Relaxed) < self.after {
            return None;
        }
        // Racing threads may both make it; one is kept.
        Some(self.table.get_or_init(|| Box::new(make())))
    }
}

/// A public key ready for verification.
#[derive(Debug)]
pub(crate) struct PreparedKey {
    multiples: OddMultiples,
    split: ForRecurring<SplitOddMultiples>,
    /// The ID Z was computed for, and Z.
    id: Vec<u8>,
    z: HashOutput,
}

impl PreparedKey {
    /// Fails for a point off the curve, or an ID too long for Z.
    fn new(public: &Sm2PublicKey, id: &[u8]) -> Result<Self, Error> {
        let point = super::public_point(public)?;
        Ok(Self {
            multiples: OddMultiples::new(&point),
            split: ForRecurring::new(SPLIT_AFTER),
            id: id.to_vec(),
            z: z_value(&SM3, id, public)?,
        })
    }

    /// u1·G + u2·P for public u1 and u2, with the split tables once the key has recurred.
    pub(crate) fn mul_double_vartime(&self, u1: &Scalar, u2: &Scalar) -> Jacobian {
        match self.split.get(|| SplitOddMultiples::new(self.multiples.point())) {
            Some(split) => split.mul_double_vartime(u1, u2),
            None => self.multiples.mul_double_vartime(u1, u2),
        }
    }

    /// Z for `id`: the one kept if `id` is the ID it was prepared with.
    pub(crate) fn z(&self, public: &Sm2PublicKey, id: &[u8]) -> Result<HashOutput, Error> {
        if id == self.id.as_slice() { Ok(self.z) } else { z_value(&SM3, id, public) }
    }
}

/// The process-wide maps of prepared keys, by encoded point.
#[cfg(feature = "std")]
type KeyMap<T> = std::sync::Mutex<Option<std::collections::HashMap<[u8; 65], Arc<T>>>>;

/// The key of `public` in `map`, or made by `make` and kept; when the map holds `capacity`
/// keys it starts afresh.
#[cfg(feature = "std")]
fn kept<T>(
    map: &KeyMap<T>,
    capacity: usize,
    public: &Sm2PublicKey,
    make: impl FnOnce() -> Result<T, Error>,
) -> Result<Arc<T>, Error> {
    let sec1 = public.as_sec1();
    // A poisoned lock only means another thread panicked mid-insert: the map is still a map.
    let lock = || map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(key) = lock().as_ref().and_then(|m| m.get(sec1).cloned()) {
        return Ok(key);
    }
    // Made outside the lock; racing threads may both make the same key, harmlessly.
    let key = Arc::new(make()?);
    let mut guard = lock();
    let map = guard.get_or_insert_with(std::collections::HashMap::new);
    if map.len() >= capacity {
        map.clear();
    }
    map.insert(*sec1, key.clone());
    Ok(key)
}

/// `public` prepared for verification, from the map if it was seen before.
#[cfg(feature = "std")]
pub(crate) fn prepared(public: &Sm2PublicKey, id: &[u8]) -> Result<Arc<PreparedKey>, Error> {
    static KEYS: KeyMap<PreparedKey> = std::sync::Mutex::new(None);
    kept(&KEYS, CAPACITY, public, || PreparedKey::new(public, id))
}

/// `public` prepared for verification (no map without `std`).
#[cfg(not(feature = "std"))]
pub(crate) fn prepared(public: &Sm2PublicKey, id: &[u8]) -> Result<Arc<PreparedKey>, Error> {
    PreparedKey::new(public, id).map(Arc::new)
}

/// How many encryption keys the map holds before it starts afresh (up to 88 KiB each).
#[cfg(feature = "std")]
pub const ENCRYPTION_CAPACITY: usize = 16;

/// Encryptions to a key by the variable-base ladder before it gets its comb. The comb takes
/// about as long to make as ten ladders and makes each k·P after it cost what k·G does,
/// under a quarter of a ladder, so it pays for itself within about thirteen encryptions;
/// waiting for 32 keeps it to keys that are plainly in steady use.
pub const COMB_AFTER: u32 = 32;

/// A public key ready for encryption: its point, checked once, and the comb of a key
/// encrypted to more than [`COMB_AFTER`] times. A TLCP client encrypts each premaster
/// secret to the same center key, so with `std` encryption keys are kept like verification
/// keys, in a smaller map.
#[derive(Debug)]
pub(crate) struct EncryptionKey {
    point: Affine,
    comb: ForRecurring<CombTable>,
}

impl EncryptionKey {
    /// Fails for a point off the curve.
    fn new(public: &Sm2PublicKey) -> Result<Self, Error> {
        let point = super::public_point(public)?;
        Ok(Self { point, comb: ForRecurring::new(COMB_AFTER) })
    }

    /// k·P for a secret k, in constant time in k (which route is taken depends only on how
    /// often the key was used).
    pub(crate) fn mul(&self, k: &Scalar) -> Jacobian {
        match self.comb.get(|| CombTable::new(&self.point)) {
            Some(comb) => comb.mul(k),
            None => mul_point(k, &self.point),
        }
    }
}

/// `public` ready for encryption, from the map if it was seen before.
#[cfg(feature = "std")]
pub(crate) fn encryption_key(public: &Sm2PublicKey) -> Result<Arc<EncryptionKey>, Error> {
    static KEYS: KeyMap<EncryptionKey> = std::sync::Mutex::new(None);
    kept(&KEYS, ENCRYPTION_CAPACITY, public, || EncryptionKey::new(public))
}

/// `public` ready for encryption (no map without `std`).
#[cfg(not(feature = "std"))]
pub(crate) fn encryption_key(public: &Sm2PublicKey) -> Result<Arc<EncryptionKey>, Error> {
    EncryptionKey::new(public).map(Arc::new)
}

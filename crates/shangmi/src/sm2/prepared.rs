//! Public keys prepared for verification, once per key.
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
use super::point::{Jacobian, OddMultiples, SplitOddMultiples};
use crate::sm3::SM3;

/// How many keys the map holds before it starts afresh (about 700 bytes each, 2.8 KiB with
/// the split tables).
#[cfg(feature = "std")]
pub const CAPACITY: usize = 4096;

/// Verifications under a key with its plain table before it gets the split tables.
pub const SPLIT_AFTER: u32 = 2;

/// A public key ready for verification.
#[derive(Debug)]
pub(crate) struct PreparedKey {
    multiples: OddMultiples,
    split: once_cell::race::OnceBox<SplitOddMultiples>,
    verified: AtomicU32,
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
            split: once_cell::race::OnceBox::new(),
            verified: AtomicU32::new(0),
            id: id.to_vec(),
            z: z_value(&SM3, id, public)?,
        })
    }

    /// u1·G + u2·P for public u1 and u2, with the split tables once the key has recurred.
    pub(crate) fn mul_double_vartime(&self, u1: &Scalar, u2: &Scalar) -> Jacobian {
        if let Some(split) = self.split.get() {
            return split.mul_double_vartime(u1, u2);
        }
        if self.verified.fetch_add(1, Relaxed) < SPLIT_AFTER {
            return self.multiples.mul_double_vartime(u1, u2);
        }
        // Racing threads may both make the tables; one set is kept.
        let split = self.split.get_or_init(|| Box::new(SplitOddMultiples::new(self.multiples.point())));
        split.mul_double_vartime(u1, u2)
    }

    /// Z for `id`: the one kept if `id` is the ID it was prepared with.
    pub(crate) fn z(&self, public: &Sm2PublicKey, id: &[u8]) -> Result<HashOutput, Error> {
        if id == self.id.as_slice() { Ok(self.z) } else { z_value(&SM3, id, public) }
    }
}

/// `public` prepared, from the map if it was seen before.
#[cfg(feature = "std")]
pub(crate) fn prepared(public: &Sm2PublicKey, id: &[u8]) -> Result<Arc<PreparedKey>, Error> {
    use std::{collections::HashMap, sync::Mutex};
    static KEYS: Mutex<Option<HashMap<[u8; 65], Arc<PreparedKey>>>> = Mutex::new(None);

    let sec1 = public.as_sec1();
    // A poisoned lock only means another thread panicked mid-insert: the map is still a map.
    let lock = || KEYS.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(key) = lock().as_ref().and_then(|m| m.get(sec1).cloned()) {
        return Ok(key);
    }
    // Prepared outside the lock; racing threads may both prepare the same key, harmlessly.
    let key = Arc::new(PreparedKey::new(public, id)?);
    let mut guard = lock();
    let map = guard.get_or_insert_with(HashMap::new);
    if map.len() >= CAPACITY {
        map.clear();
    }
    map.insert(*sec1, key.clone());
    Ok(key)
}

/// `public` prepared (no map without `std`).
#[cfg(not(feature = "std"))]
pub(crate) fn prepared(public: &Sm2PublicKey, id: &[u8]) -> Result<Arc<PreparedKey>, Error> {
    PreparedKey::new(public, id).map(Arc::new)
}

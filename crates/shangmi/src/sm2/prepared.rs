//! Public keys prepared for verification and for encryption, once per key.
//!
//! Verifying under a key needs the point, checked to be on the curve, tables of its multiples
//! for the wNAF, and Z for the signer's ID (two SM3 compressions), the same every time for
//! the same key. The center verifies the same bands' keys again and again (each
//! CertificateVerify and each payment request), so with `std` prepared keys are kept in a
//! process-wide map keyed by the full encoded point, with a randomly keyed hasher, up to
//! [`CAPACITY`] keys; when full it drops the keys not asked for again since it last filled.
//! A key verified more than [`SPLIT_AFTER`] times also gets the split tables
//! ([`SplitOddMultiples`]): they cost about a verification to make and halve each
//! verification after, so they go only to keys that recur, and a key verified once or
//! twice costs what it did without them. Everything in it is derived from public data.
//! Without `std` each verification prepares its key.
use alloc::{boxed::Box, sync::Arc, vec::Vec};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use wearpay_crypto::{Error, HashOutput, Sm2PublicKey, sm2::z_value};

use super::field::Scalar;
use super::point::{Affine, CombTable, Jacobian, OddMultiples, SplitOddMultiples, mul_point};
use crate::sm3::SM3;

/// How many keys the map holds before it makes room (about 700 bytes each, 2.8 KiB with the
/// split tables).
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

/// A kept key, and whether it was asked for again since the map last filled.
#[cfg(feature = "std")]
#[derive(Debug)]
struct Kept<T> {
    key: Arc<T>,
    used: bool,
}

/// The process-wide maps of prepared keys, by encoded point.
#[cfg(feature = "std")]
type KeyMap<T> = std::sync::Mutex<Option<std::collections::HashMap<[u8; 65], Kept<T>>>>;

/// The key of `public` in `map`, or made by `make` and kept; a full map makes room first
/// ([`make_room`]).
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
    {
        let mut guard = lock();
        if let Some(kept) = guard.as_mut().and_then(|m| m.get_mut(sec1)) {
            kept.used = true;
            return Ok(kept.key.clone());
        }
    }
    // Made outside the lock; racing threads may both make the same key, harmlessly.
    let key = Arc::new(make()?);
    let mut guard = lock();
    let map = guard.get_or_insert_with(std::collections::HashMap::new);
    if map.len() >= capacity {
        make_room(map, capacity);
    }
    map.insert(*sec1, Kept { key: key.clone(), used: false });
    Ok(key)
}

/// Empties a full map down to at most three quarters: keeps the keys asked for again since
/// it last filled, and clears their marks (one bit of "least recently used", as a clock
/// does). So the keys in steady use, a center's active bands, stay through any stream of keys
/// seen once, which go first. If more than three quarters were used, arbitrary ones go
/// too (the hasher is randomly keyed). Each sweep reads the whole map but frees a quarter
/// of it, so it costs a few entries per key kept.
#[cfg(feature = "std")]
fn make_room<T>(map: &mut std::collections::HashMap<[u8; 65], Kept<T>>, capacity: usize) {
    map.retain(|_, kept| core::mem::take(&mut kept.used));
    let keep = capacity / 4 * 3;
    if map.len() > keep {
        let excess: Vec<[u8; 65]> = map.keys().take(map.len() - keep).copied().collect();
        for sec1 in &excess {
            map.remove(sec1);
        }
    }
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

/// How many encryption keys the map holds before it makes room (up to 88 KiB each).
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

#[cfg(all(test, feature = "std"))]
mod tests {
    #![allow(clippy::unwrap_used)]
    use core::cell::Cell;

    use super::*;

    fn key(i: u8) -> Sm2PublicKey {
        let mut sec1 = [i; 65];
        sec1[0] = 0x04;
        Sm2PublicKey::from_sec1(&sec1).unwrap()
    }

    /// Asks `map` for key `i`; true if it had to be made.
    fn ask(map: &KeyMap<u8>, i: u8) -> bool {
        let made = Cell::new(false);
        let got = kept(map, 8, &key(i), || {
            made.set(true);
            Ok(i)
        })
        .unwrap();
        assert_eq!(*got, i);
        made.get()
    }

    #[test]
    fn keys_asked_for_again_outlive_keys_seen_once() {
        let map: KeyMap<u8> = std::sync::Mutex::new(None);
        for i in 0..8 {
            assert!(ask(&map, i));
        }
        for i in 0..4 {
            assert!(!ask(&map, i), "key {i} is kept");
        }
        // Full: the ninth key drops the four not asked for again.
        assert!(ask(&map, 8));
        assert_eq!(map.lock().unwrap().as_ref().unwrap().len(), 5);
        for i in 0..4 {
            assert!(!ask(&map, i), "key {i} in use survives");
        }
        for i in 4..8 {
            assert!(ask(&map, i), "key {i} seen once was dropped");
        }
        // A failed make keeps nothing.
        assert!(kept(&map, 8, &key(9), || Err(Error::InvalidPublicKey)).is_err());
        assert!(ask(&map, 9));
    }

    #[test]
    fn a_full_map_of_keys_in_use_still_makes_room() {
        let map: KeyMap<u8> = std::sync::Mutex::new(None);
        for i in 0..8 {
            assert!(ask(&map, i));
            assert!(!ask(&map, i));
        }
        assert!(ask(&map, 8));
        let m = map.lock().unwrap();
        let m = m.as_ref().unwrap();
        // Six of the eight stay, their marks cleared, and the new key.
        assert_eq!(m.len(), 7);
        assert!(m.contains_key(key(8).as_sec1()));
        assert!(m.values().all(|k| !k.used));
    }
}

//! The heap one thread holds: the band's, in `wearpay bench payment`.
//!
//! [`ThreadHeap`] is the binary's global allocator. It hands every request to the system
//! allocator and, only for the thread marked with [`count_this_thread`], adds and subtracts
//! the sizes in two atomics: the bytes held now and the most held since the last
//! [`reset_peak`]. The center, the bridge and the runtime allocate on other threads and are
//! not counted, so the band's peak is measured in the same process as its peers.
//!
//! The hot path is one thread-local read (a `const`-initialised `Cell<bool>`, which needs
//! no allocation and no destructor) and, on the counted thread, two atomic operations.
//! Nothing here allocates.
// A global allocator is an `unsafe impl` by definition; each block says why it is sound.
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::sync::atomic::{AtomicIsize, Ordering};
use std::alloc::System;

/// The system allocator, counting what the marked thread holds.
#[derive(Debug)]
pub struct ThreadHeap;

#[global_allocator]
static HEAP: ThreadHeap = ThreadHeap;

thread_local! {
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

/// Bytes the counted thread holds (it may free what another thread allocated, so this can
/// dip below what it held when counting began; it is signed for that reason).
static CURRENT: AtomicIsize = AtomicIsize::new(0);
/// The most `CURRENT` has been since the last reset.
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn counted() -> bool {
    // `try_with` cannot fail for a const `Cell` without a destructor, but an allocator
    // must never panic: a thread being torn down is simply not counted.
    COUNTED.try_with(Cell::get).unwrap_or(false)
}

fn grew(by: usize) {
    let by = isize::try_from(by).unwrap_or(isize::MAX);
    let now = CURRENT.fetch_add(by, Ordering::Relaxed).saturating_add(by);
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(by: usize) {
    CURRENT.fetch_sub(isize::try_from(by).unwrap_or(isize::MAX), Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract holds exactly as it does for `System`; the bookkeeping around it
// touches only atomics and a `Cell<bool>` thread-local, and never allocates or unwinds.
unsafe impl GlobalAlloc for ThreadHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size), passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && counted() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && counted() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, which is `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        if counted() {
            shrank(layout.size());
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds `new_size`'s
        // contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && counted() {
            // Counted as the new block arriving before the old one leaves, which is what a
            // moving reallocation holds at its peak.
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
}

/// Counts (or stops counting) the calling thread's allocations.
pub fn count_this_thread(on: bool) {
    // Setting a `Cell` allocates nothing; a thread being torn down has nothing to count.
    let _ = COUNTED.try_with(|c| c.set(on));
}

/// Starts a new peak at what the counted thread holds now, and returns that.
pub fn reset_peak() -> isize {
    let now = CURRENT.load(Ordering::Relaxed);
    PEAK.store(now, Ordering::Relaxed);
    now
}

/// The most bytes the counted thread held since [`reset_peak`].
pub fn peak() -> isize {
    PEAK.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The bytes the counted thread holds now.
    fn current() -> isize {
        CURRENT.load(Ordering::Relaxed)
    }

    #[test]
    fn only_the_marked_thread_is_counted() {
        // Tests share the process (and the counters): this is the only test that marks a
        // thread, and it marks a fresh one.
        std::thread::spawn(|| {
            count_this_thread(true);
            let base = reset_peak();
            let block = vec![7u8; 40_000];
            assert!(current() - base >= 40_000, "{}", current() - base);
            // Another thread's allocation leaves the count alone.
            let before = current();
            std::thread::scope(|s| {
                s.spawn(|| drop(core::hint::black_box(vec![1u8; 1 << 20])));
            });
            assert!(current() - before < 1 << 20, "another thread's megabyte was counted");
            drop(block);
            assert!(current() - base < 40_000);
            // The peak remembers the block; a reset forgets it.
            assert!(peak() - base >= 40_000);
            let base = reset_peak();
            assert_eq!(peak(), base);
            // Growing a vector counts its final capacity.
            let mut v: Vec<u8> = Vec::with_capacity(16);
            v.resize(100_000, 0);
            assert!(current() - base >= 100_000);
            drop(v);
            count_this_thread(false);
        })
        .join()
        .unwrap();
    }
}

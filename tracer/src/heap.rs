//! The process's heap, counted as it is used: the aggregator keeps its state under a bound
//! (core's `aggregate::budget`) and needs to know the heap to do so. The system allocator does
//! the work; this only adds the sizes up.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The system allocator, counting the bytes it hands out and takes back.
pub struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to `System` with the caller's arguments unchanged; the counter is
// only arithmetic beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as is.
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            IN_USE.fetch_add(l.size(), Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(l) };
        if !p.is_null() {
            IN_USE.fetch_add(l.size(), Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(p, l) };
        IN_USE.fetch_sub(l.size(), Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new >= l.size() {
                IN_USE.fetch_add(new - l.size(), Relaxed);
            } else {
                IN_USE.fetch_sub(l.size() - new, Relaxed);
            }
        }
        q
    }
}

/// Heap bytes in use now.
pub fn in_use() -> usize {
    IN_USE.load(Relaxed)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_what_is_held_and_gives_it_back() {
        const BIG: usize = 64 << 20;
        let before = super::in_use();
        let v: Vec<u8> = Vec::with_capacity(BIG);
        let held = super::in_use();
        assert!(held >= before + BIG, "a 64 MiB vector is counted: {before} -> {held}");
        drop(v);
        // Other test threads allocate too: only a loose bound holds.
        let after = super::in_use();
        assert!(after + BIG / 2 < held, "and given back when dropped: {held} -> {after}");
    }
}

//! Cache prefetch hints for the batched table lookups.

/// Ask the CPU to start loading the cache line holding `r`. Only a hint: it changes no value
/// and cannot fault; on targets without the instruction it does nothing.
#[inline(always)]
pub fn hint<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 reads nothing into the program and never faults, whatever the
    // address; this one comes from a live reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((r as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

/// [`hint`] for every cache line `r` touches (entries larger than a line, or straddling two).
#[inline(always)]
pub fn hint_all<T>(r: &T) {
    hint(r);
    let size = std::mem::size_of::<T>();
    if size > 1 {
        // The last byte of `r`: a pointer within the same object.
        let last = (r as *const T).cast::<u8>().wrapping_add(size - 1);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `hint`; the address lies inside `r`.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(last.cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = last;
    }
}

/// [`hint`] for every cache line of `r`, however many it spans.
#[inline(always)]
pub fn hint_lines<T>(r: &T) {
    let start = (r as *const T).cast::<u8>();
    // From the start of the line holding the first byte, a line at a time past the last byte.
    let lead = start as usize % 64;
    let line = start.wrapping_sub(lead);
    let mut at = 0;
    while at < lead + std::mem::size_of::<T>().max(1) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `hint`: a hint never faults, and the address is within a line `r` touches.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.wrapping_add(at).cast());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = line;
        at += 64;
    }
}

//! tuntrace's kernel side. `linux/*.bpf.c` are compiled by build.rs (clang-19) and embedded here;
//! [`layout`] mirrors every struct of `linux/tuntrace.h` for the userspace that reads them.
//! DTrace scripts for macOS (`macos/*.d`) will sit beside them.

pub mod layout;

/// Embeds a file 32-byte aligned: ELF parsers read the object's headers in place, which needs at
/// least 8-byte alignment (what aya's `include_bytes_aligned!` does, without depending on aya here,
/// so this crate builds on any host).
macro_rules! include_bytes_aligned {
    ($path:expr) => {{
        #[repr(C, align(32))]
        struct Aligned<Bytes: ?Sized> {
            bytes: Bytes,
        }
        const ALIGNED: &Aligned<[u8]> = &Aligned { bytes: *include_bytes!($path) };
        &ALIGNED.bytes
    }};
}

/// The live tracer (`linux/tracer.bpf.c`): every program and map of a `tuntrace trace` session.
pub const TRACER_OBJ: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer.bpf.o"));

//! The `tuntrace` binary's library half: everything the CLI drives that is not the pure core.

/// `eprintln!` for every message on standard error: names in it (files, interfaces, processes,
/// Call-IDs) came from outside, so the whole message goes through the core's escaping
/// ([`tuntrace_core::escape::block`]) and nothing in it acts on the terminal.
#[macro_export]
macro_rules! say {
    () => {
        eprintln!()
    };
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::escape::block(&format!($($arg)*)))
    };
}

/// The core's escaping, for [`say!`] and the CLI.
pub use tuntrace_core::escape;

pub mod heap;

/// Every program built on this library counts its heap, so that the aggregator can keep its
/// state under its bound (core's `aggregate::budget`); `main` hands the count to the core.
#[global_allocator]
static HEAP: heap::Counting = heap::Counting;

#[cfg(target_os = "linux")]
pub mod demo;
#[cfg(target_os = "linux")]
pub mod explain;
#[cfg(target_os = "linux")]
pub mod host;
#[cfg(target_os = "linux")]
pub mod live;

/// The lab is a crate of its own (`tuntrace-lab`, tracer/lab/); the old path `tuntrace::lab`
/// still names it, so code written against it keeps compiling.
pub use tuntrace_lab as lab;

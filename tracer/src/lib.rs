//! The `tuntrace` binary's library half: everything the CLI drives that is not the pure core.

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

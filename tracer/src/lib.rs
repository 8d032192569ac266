//! The `tuntrace` binary's library half: everything the CLI drives that is not the pure core.

pub mod demo;
#[cfg(target_os = "linux")]
pub mod host;
pub mod lab;

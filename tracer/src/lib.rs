//! The `tuntrace` binary's library half: everything the CLI drives that is not the pure core.

pub mod demo;
pub mod lab;
#[cfg(target_os = "linux")]
pub mod live;

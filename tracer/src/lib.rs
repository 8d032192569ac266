//! The `tuntrace` binary's library half: everything the CLI drives that is not the pure core.

pub mod demo;
pub mod lab;

//! tuntrace's pure core.
//!
//! Everything in this crate is a function of its input: capture readers turn bytes into
//! [`event::Event`]s, decoders turn packet bytes into protocol values, the [`aggregate`]
//! step folds events into a [`report::Report`], and [`rules`] say what it means. No clock, no platform calls: the same input
//! gives the same report, byte for byte.

pub mod aggregate;
pub mod capture;
pub mod decode;
pub mod digits;
pub mod event;
pub mod replay;
pub mod report;
pub mod rules;
pub mod sip;
pub mod time;

pub use decode::Malformed;

//! tuntrace's pure core.
//!
//! Everything in this crate is a function of its input: capture readers turn bytes into
//! [`event::Event`]s, decoders turn packet bytes into protocol values, the [`aggregate`]
//! step folds events into a [`report::Report`], and [`rules`] say what it means. No clock, no platform calls: the same input
//! gives the same report, byte for byte.
//!
//! The layers, each using only those before it: [`event`], [`time`], [`digits`] and
//! [`linktype`] (the vocabulary and its spellings); [`capture`] (files into events);
//! [`decode`] and [`sip`] (pure readers of one packet's bytes, each with its own types; the
//! SIP dialog tracker keeps its own state); [`reassembly`] (IP fragments and TCP streams,
//! state across packets); [`report`] (the `--json` contract, types only); [`aggregate`] (the
//! fold, and the one place report values are made); [`replay`] (capture files and standard
//! input into one report).

pub mod aggregate;
pub mod capture;
pub mod decode;
pub mod digits;
pub mod escape;
pub mod event;
pub mod history;
pub mod linktype;
pub mod reassembly;
pub mod redact;
pub mod replay;
pub mod report;
pub mod rules;
pub mod sip;
pub mod time;

pub use decode::Malformed;

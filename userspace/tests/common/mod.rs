//! Shared helpers for the core's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

/// The public capture corpus: `$TUNTRACE_CORPUS`, else `../shared/corpus` beside the repository.
/// Returns `None` only when it is absent and `TUNTRACE_REQUIRE_CORPUS` is unset; `.ci/run` sets
/// that variable, so in CI a missing corpus fails instead of skipping.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TUNTRACE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus"));
    if dir.join("MANIFEST.tsv").is_file() {
        return Some(dir);
    }
    if std::env::var_os("TUNTRACE_REQUIRE_CORPUS").is_some() {
        panic!("corpus not found at {} (TUNTRACE_REQUIRE_CORPUS is set)", dir.display());
    }
    eprintln!("corpus not found at {}: corpus tests are not run (set TUNTRACE_CORPUS)", dir.display());
    None
}

pub fn corpus_file(name: &str) -> Option<PathBuf> {
    corpus_dir().map(|d| d.join(name))
}

/// A captured frame on interface `iface` at `ns` (nanoseconds since the epoch), as a source
/// hands it to the aggregator: counted in full, no process named.
pub fn frame(ns: i64, iface: u32, data: &[u8]) -> tuntrace_core::event::Event<'_> {
    tuntrace_core::event::Event::Packet(tuntrace_core::event::PacketEvent {
        ts: tuntrace_core::time::Timestamp(ns),
        data,
        cookie: 0,
        pid: None,
        effective_pid: None,
        iface,
        orig_len: data.len() as u32,
        direction: tuntrace_core::event::Direction::Unknown,
        sampled: false,
    })
}

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

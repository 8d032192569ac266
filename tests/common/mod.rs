//! Shared helpers for the workspace's integration tests (they drive the real `tuntrace` binary).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn tuntrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tuntrace"))
}

/// The public capture corpus: `$TUNTRACE_CORPUS`, else `../shared/corpus` beside the repository.
/// `None` only when it is absent and `TUNTRACE_REQUIRE_CORPUS` is unset (`ci/test` sets it, so
/// in CI a missing corpus fails instead of skipping).
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
    eprintln!("corpus not found at {}: corpus tests not run (set TUNTRACE_CORPUS)", dir.display());
    None
}

/// Every capture named in the corpus manifest.
pub fn corpus_files(dir: &Path) -> Vec<PathBuf> {
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|n| !n.is_empty())
        .map(|n| dir.join(n))
        .collect()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Run {
    let out = tuntrace().args(args).output().expect("run tuntrace");
    let code = out.status.code().unwrap_or_else(|| panic!("tuntrace {args:?} killed by a signal: {:?}", out.status));
    Run { code, stdout: String::from_utf8_lossy(&out.stdout).into(), stderr: String::from_utf8_lossy(&out.stderr).into() }
}

/// `tuntrace replay --json FILE`, parsed. Exit code 0 or 1 (input damaged) is accepted.
pub fn replay_json(file: &Path) -> serde_json::Value {
    let r = run(&["replay", "--json", file.to_str().unwrap()]);
    assert!(r.code == 0 || r.code == 1, "{}: exit {} stderr {}", file.display(), r.code, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{}: bad JSON {e}: {}", file.display(), r.stdout))
}

/// tshark is the decoding oracle; CI installs it (ci/setup).
pub fn tshark_fields(file: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(file);
    cmd.args(["--enable-heuristic", "sip_udp", "--enable-heuristic", "sip_tcp"]);
    cmd.args(["-Y", filter, "-T", "fields", "-E", "separator=\t", "-E", "aggregator=\u{1f}"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark not found: run ci/setup");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

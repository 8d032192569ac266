//! The report types are the one definition of the `--json` document: a report read back
//! from its JSON is the report written, for every capture we have, and the command prints
//! exactly that JSON.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use tuntrace_core::replay::replay_files;
use tuntrace_core::report::Report;

/// The generator is a binary of its own crate, built beside `tuntrace` by `cargo test --workspace`.
fn generator() -> PathBuf {
    let gen = Path::new(env!("CARGO_BIN_EXE_tuntrace")).with_file_name("tuntrace-pcapgen");
    assert!(
        gen.is_file(),
        "{} not built: run `cargo build -p tuntrace-pcapgen` (or test the workspace)",
        gen.display()
    );
    gen
}

fn lab_fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/lab");
    vec![dir.join("outer.pcap"), dir.join("inner.pcap")]
}

/// Every capture under `dir`, its subdirectories included, in name order.
fn captures_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(captures_under(&p));
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("pcap" | "pcapng")) {
            out.push(p);
        }
    }
    out
}

/// A small generated capture (pcapng carries nanosecond timestamps, below what the JSON spells).
fn generated(format: &str) -> PathBuf {
    let out = std::env::temp_dir().join(format!("tuntrace-report-json-{}.{format}", std::process::id()));
    let st = Command::new(generator())
        .args(["--out", out.to_str().unwrap(), "--size-mb", "2", "--seed", "3", "--format", format])
        .status()
        .unwrap();
    assert!(st.success());
    out
}

/// `inputs` replayed in this process and by the command: the report reads back equal from its
/// JSON, and the command's `--json` is that JSON byte for byte.
fn check(inputs: &[PathBuf]) {
    // As the program does: its report then has the same `memory` limits row.
    tuntrace_core::aggregate::set_memory_probe(tuntrace::heap::in_use);
    let report = replay_files(inputs);
    let text = report.to_json();
    let back: Report = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{inputs:?}: {e}"));
    assert!(back == report, "{inputs:?}: the report read back differs from the one written");
    let out = common::tuntrace().arg("replay").arg("--json").args(inputs).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{inputs:?}: {:?}", out.status);
    assert!(out.stdout == text.as_bytes(), "{inputs:?}: the command's JSON is not the report's");
}

#[test]
fn corpus_reports_read_back_equal() {
    let Some(dir) = common::corpus_dir() else { return };
    let files = captures_under(&dir);
    assert!(files.len() >= 30, "only {} captures under {}", files.len(), dir.display());
    for f in files {
        check(&[f]);
    }
}

#[test]
fn lab_and_generated_reports_read_back_equal() {
    let lab = lab_fixtures();
    for f in &lab {
        check(std::slice::from_ref(f));
    }
    // Both lab captures as one stream, as the demo reads them.
    check(&lab);
    for format in ["pcap", "pcapng"] {
        let f = generated(format);
        check(std::slice::from_ref(&f));
        let _ = std::fs::remove_file(&f);
        let _ = std::fs::remove_file(f.with_extension(format!("{format}.summary")));
    }
}

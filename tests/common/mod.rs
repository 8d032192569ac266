//! Shared helpers for the workspace's integration tests (they drive the real `tuntrace` binary).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use tuntrace_core::report::{Report, SipMessage};

pub mod pcap;
pub mod tracer;

pub fn tuntrace() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tuntrace"))
}

// One corpus locator for both crates' tests (same depth below the repository root).
#[path = "../../userspace/tests/common/mod.rs"]
mod corpus;
#[allow(unused_imports)] // not every test binary reads the corpus
pub use corpus::corpus_dir;

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
    Run {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

/// `tuntrace replay --json FILE`, read into the report types. Exit code 0 or 1 (input damaged)
/// is accepted.
pub fn replay_json(file: &Path) -> Report {
    let r = run(&["replay", "--json", file.to_str().unwrap()]);
    assert!(r.code == 0 || r.code == 1, "{}: exit {} stderr {}", file.display(), r.code, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{}: bad report JSON {e}: {}", file.display(), r.stdout))
}

/// A SIP message as a sequence item: its method, else its status (`null` for neither, as the
/// JSON value prints).
pub fn method_or_status(m: &SipMessage) -> String {
    m.method.clone().unwrap_or_else(|| m.status.map_or_else(|| "null".to_string(), |c| c.to_string()))
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
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

/// What a report lists of a sequence of `all` items: the first `gap.after` and the latest
/// `listed - gap.after`, and how many it skips; the whole sequence when nothing is skipped.
pub fn as_listed<T: Clone>(all: &[T], listed: usize, gap: Option<tuntrace_core::report::Elided>) -> (Vec<T>, u64) {
    match gap {
        None => (all.to_vec(), 0),
        Some(g) => {
            let tail = listed.saturating_sub(g.after).min(all.len());
            let mut v = all[..g.after.min(all.len())].to_vec();
            v.extend_from_slice(&all[all.len() - tail..]);
            (v, all.len().saturating_sub(listed) as u64)
        }
    }
}

/// Whether this process runs as root (the lab and the live tracer need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True as root. Otherwise the test says it was skipped and returns false, or, when
/// TUNTRACE_REQUIRE_ROOT is set (ci/test sets it), fails: in CI a root test never skips.
pub fn root_or_skip() -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var_os("TUNTRACE_REQUIRE_ROOT").is_none(),
        "these tests need root (TUNTRACE_REQUIRE_ROOT is set)"
    );
    eprintln!("SKIPPED: not root (set TUNTRACE_REQUIRE_ROOT=1 to make this a failure)");
    false
}

/// A report's tunnels of `kind` as JSON, without what a live source and a capture of the same
/// wire tell differently: the interface's name (a capture's is unnamed), the owner (a capture
/// knows none), times (the kernel's coarse clock against tcpdump's), and what was decoded inside
/// (a live session reads the outer headers of GTP-U, VXLAN and Geneve only).
pub fn tunnels_of(r: &Report, kind: &str) -> Vec<serde_json::Value> {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for k in ["iface", "pid", "comm", "first", "last", "started", "inner_flows"] {
                    m.remove(k);
                }
                m.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(&r.tunnels).unwrap();
    strip(&mut v);
    let serde_json::Value::Array(all) = v else { unreachable!() };
    all.into_iter().filter(|t| t["kind"] == kind).collect()
}

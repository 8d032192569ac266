//! ci/packages.tsv is the one list of what Debian 12 must provide; these tests keep it from
//! drifting without needing a fresh machine:
//!
//! - every program the sources run and every file the lab checks has a row, and the lab checks
//!   every row it is named in;
//! - `dpkg -S` on the file (or the program as the lab finds it) names the row's package, so the
//!   lab's message and ci/setup's install name the package that really provides it;
//! - ci/setup installs every row's package.
//!
//! They ask dpkg, so they need Debian (no root). Run by ci/test after ci/setup.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use tuntrace_lab::prerequisites::{self, all_programs, files, find_program, rows, Row};

const NEEDED_BY: [&str; 5] = ["build", "test", "lab", "live", "bench"];

fn workspace() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::canonicalize(&root).unwrap_or(root)
}

fn row_of(what: &str) -> Option<Row> {
    rows().find(|r| r.what == what)
}

#[test]
fn rows_are_well_formed() {
    let mut seen = BTreeSet::new();
    for line in prerequisites::PACKAGES_TSV.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), 3, "ci/packages.tsv: {line:?} needs three tab-separated fields");
        assert!(f.iter().all(|x| !x.is_empty() && x.trim() == *x), "ci/packages.tsv: {line:?}: empty or padded field");
        assert!(
            f[1].bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b)),
            "ci/packages.tsv: {line:?}: {:?} is not a Debian package name",
            f[1]
        );
        assert!(
            f[2].split(',').all(|w| NEEDED_BY.contains(&w)),
            "ci/packages.tsv: {line:?}: needed-by is one of {NEEDED_BY:?}"
        );
        assert!(seen.insert(f[0]), "ci/packages.tsv: {} has two rows", f[0]);
    }
    assert_eq!(rows().count(), seen.len(), "every row is read by the lab");
}

/// Every program the lab runs and every file it loads has a `lab` row, and every `lab` row is
/// something the lab checks (a stale row would install a package nothing uses).
#[test]
fn every_lab_prerequisite_has_a_row() {
    // Every scenario's programs: IPsec, WireGuard and OpenVPN.
    let mut wanted: Vec<String> = all_programs().iter().map(|p| p.to_string()).collect();
    wanted.extend(files().iter().map(|f| f.to_string_lossy().into_owned()));
    let mut bad = Vec::new();
    for w in &wanted {
        match row_of(w) {
            None => bad.push(format!("{w}: checked by the lab but has no row in ci/packages.tsv")),
            Some(r) if !r.is_needed_by("lab") => bad.push(format!("{w}: its row does not say `lab`")),
            Some(_) => {}
        }
    }
    for r in rows().filter(|r| r.is_needed_by("lab")) {
        if !wanted.iter().any(|w| w == r.what) {
            bad.push(format!(
                "{}: row says `lab` but the lab does not check it (prerequisites::programs_for, strongswan::PLUGINS)",
                r.what
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// Program names in the literal spawn sites of a source text: `Command::new("X")`,
/// `exec_in(ns, "X")` (a program run inside a lab namespace) and the tests' `run("X", &[…])`.
fn spawned(text: &str) -> Vec<String> {
    /// A leading string literal that looks like a program name, and the text after it.
    fn program(s: &str) -> Option<(&str, &str)> {
        let s = s.trim_start().strip_prefix('"')?;
        let (name, after) = s.split_once('"')?;
        let ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_+.".contains(&b));
        ok.then_some((name, after))
    }
    let mut out = Vec::new();
    for (at, _) in text.match_indices("Command::new(") {
        out.extend(program(&text[at + "Command::new(".len()..]).map(|(n, _)| n.to_string()));
    }
    for (at, _) in text.match_indices("exec_in(") {
        let args = &text[at + "exec_in(".len()..];
        let second = args.split_once(',').and_then(|(_, rest)| program(rest));
        out.extend(second.map(|(n, _)| n.to_string()));
    }
    for (at, _) in text.match_indices("run(") {
        // Other helpers named `run` take a file name and nothing else.
        match program(&text[at + "run(".len()..]) {
            Some((n, after)) if after.starts_with(", &[") => out.push(n.to_string()),
            _ => {}
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// A program run by the build (build.rs), the tests or the tracer without a row would be missing
/// on a fresh machine; this finds its spawn site.
#[test]
fn every_program_the_sources_run_has_a_row() {
    let root = workspace();
    let mut sources = Vec::new();
    for dir in ["userspace", "tracer", "probes", "tests"] {
        rust_files(&root.join(dir), &mut sources);
    }
    assert!(sources.len() > 20, "found only {} sources under {}", sources.len(), root.display());
    let mut bad = BTreeSet::new();
    let mut found = BTreeSet::new();
    for src in &sources {
        let text = std::fs::read_to_string(src).unwrap();
        // Comments may show spawn sites as examples (this file's do).
        let code: String = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
        for prog in spawned(&code) {
            if row_of(&prog).is_none() {
                let src = src.strip_prefix(&root).unwrap_or(src);
                bad.insert(format!("{prog} (run by {}) has no row in ci/packages.tsv", src.display()));
            }
            found.insert(prog);
        }
    }
    // The scan itself must see what is known to be there.
    for p in ["ip", "swanctl", "sipp", "tcpdump", "tshark", "kill", "wg", "openssl", "openvpn"] {
        assert!(found.contains(p), "spawn-site scan missed {p}: {found:?}");
    }
    assert!(bad.is_empty(), "{}", bad.into_iter().collect::<Vec<_>>().join("\n"));
}

/// The paths dpkg may know a file by: the path itself, each hop of its symlinks (alternatives
/// such as cc -> /etc/alternatives/cc -> /usr/bin/gcc), the final target, and the other side of
/// Debian 12's merged /usr (dpkg records /bin/ip, PATH finds /usr/sbin/ip).
fn dpkg_names(path: &Path) -> Vec<PathBuf> {
    let mut hops = vec![path.to_path_buf()];
    let mut cur = path.to_path_buf();
    for _ in 0..16 {
        let Ok(target) = std::fs::read_link(&cur) else { break };
        cur = cur.parent().unwrap_or(Path::new("/")).join(target);
        hops.push(cur.clone());
    }
    if let Ok(c) = std::fs::canonicalize(path) {
        hops.push(c);
    }
    let mut out = Vec::new();
    for h in hops {
        out.extend(merged_usr_twin(&h.to_string_lossy()).map(PathBuf::from));
        out.push(h);
    }
    out.sort();
    out.dedup();
    out
}

/// /bin/x for /usr/bin/x and the other way round (likewise sbin and lib).
fn merged_usr_twin(s: &str) -> Option<String> {
    for d in ["/bin/", "/sbin/", "/lib/"] {
        if s.starts_with(d) {
            return Some(format!("/usr{s}"));
        }
        if let Some(r) = s.strip_prefix("/usr").filter(|r| r.starts_with(d)) {
            return Some(r.to_string());
        }
    }
    None
}

/// `dpkg -S` over many paths at once: path -> owning packages (architecture qualifier dropped).
fn dpkg_owners(paths: &BTreeSet<PathBuf>) -> BTreeMap<PathBuf, BTreeSet<String>> {
    let out = Command::new("dpkg")
        .arg("-S")
        .args(paths)
        .output()
        .unwrap_or_else(|e| panic!("dpkg -S: {e}: this check needs Debian's dpkg (ci/test runs on Debian 12)"));
    // dpkg exits 1 when some path is unknown; those are simply absent from the map.
    let mut owners: BTreeMap<PathBuf, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.starts_with("diversion by ") {
            continue;
        }
        let Some((pkgs, path)) = line.split_once(": ") else { continue };
        let pkgs = pkgs.split(", ").map(|p| p.split(':').next().unwrap_or(p).to_string());
        owners.entry(PathBuf::from(path)).or_default().extend(pkgs);
    }
    owners
}

/// dpkg says the row's package provides the row's file: the package the lab's message names
/// and ci/setup installs is the one that really brings the file.
#[test]
fn dpkg_names_each_rows_package() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut bad = Vec::new();
    let mut candidates: Vec<(Row, Vec<PathBuf>)> = Vec::new();
    for r in rows() {
        let found = if r.what.starts_with('/') {
            Some(PathBuf::from(r.what)).filter(|p| p.exists())
        } else {
            find_program(r.what, &path)
        };
        match found {
            Some(p) => candidates.push((r, dpkg_names(&p))),
            None => bad.push(format!("{}: not found (package {}): run ci/setup", r.what, r.package)),
        }
    }
    let all: BTreeSet<PathBuf> = candidates.iter().flat_map(|(_, c)| c.iter().cloned()).collect();
    let owners = dpkg_owners(&all);
    for (r, names) in &candidates {
        let said: BTreeSet<&String> = names.iter().filter_map(|n| owners.get(n)).flatten().collect();
        if !said.iter().any(|p| *p == r.package) {
            bad.push(format!(
                "{}: ci/packages.tsv says package {}, dpkg -S says {:?} (for {:?})",
                r.what, r.package, said, names
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// ci/setup installs every package the table names (it reads the table; this asks it what it
/// would install, so a hand-kept list in ci/setup cannot drift from the table either).
#[test]
fn ci_setup_installs_every_rows_package() {
    let setup = workspace().join("ci/setup");
    let out = Command::new("sh").arg(&setup).arg("--print-packages").output().expect("run ci/setup");
    assert!(out.status.success(), "ci/setup --print-packages: {}", String::from_utf8_lossy(&out.stderr));
    let installs: BTreeSet<String> =
        String::from_utf8_lossy(&out.stdout).split_whitespace().map(str::to_string).collect();
    let missing: BTreeSet<&str> = rows().map(|r| r.package).filter(|p| !installs.contains(*p)).collect();
    assert!(missing.is_empty(), "ci/setup does not install {missing:?}; it installs {installs:?}");
    let unused: Vec<&String> = installs.iter().filter(|p| !rows().any(|r| r.package == p.as_str())).collect();
    assert!(unused.is_empty(), "ci/setup installs {unused:?}, which no row of ci/packages.tsv needs");
}

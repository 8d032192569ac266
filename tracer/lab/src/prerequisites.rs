//! What the lab needs from the system, checked up front, each missing piece named with the one
//! Debian package that provides it.
//!
//! The packages come from `ci/packages.tsv`, compiled in: the list ci/setup installs from, so the
//! message and the installer cannot disagree. `tracer/lab/tests/packages.rs` checks that every
//! piece named here has a row and that dpkg agrees with each row's package.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::{strongswan, LabError, Tunnel};

/// ci/packages.tsv: file or program, package, needed-by (comma-separated), tab-separated.
pub const PACKAGES_TSV: &str = include_str!("../../../ci/packages.tsv");

/// Programs the lab runs (directly, or inside `unshare … sh -c 'mount …'`) for its IPsec scenario;
/// all but swanctl serve every scenario.
pub const PROGRAMS: &[&str] = &["swanctl", "sipp", "tcpdump", "ip", "sysctl", "kill", "unshare", "mount", "sh"];

/// What the WireGuard scenario runs beside the common programs: the daemon, its configuration
/// tool (also the key generator), and tshark, which reads the session indices off the capture.
pub const WIREGUARD_PROGRAMS: &[&str] = &["wireguard-go", "wg", "tshark"];

/// What the OpenVPN scenarios run beside the common programs: the daemon, openssl for the
/// run-time CA and certificates, and tshark for opcodes, key and session IDs off the capture.
pub const OPENVPN_PROGRAMS: &[&str] = &["openvpn", "openssl", "tshark"];

/// The programs one scenario needs.
pub fn programs_for(tunnel: Tunnel) -> Vec<&'static str> {
    let common = PROGRAMS.iter().copied().filter(|p| tunnel == Tunnel::Ipsec || *p != "swanctl");
    let own: &[&str] = match tunnel {
        Tunnel::Ipsec => &[],
        Tunnel::WireGuard => WIREGUARD_PROGRAMS,
        Tunnel::OpenVpn { .. } => OPENVPN_PROGRAMS,
    };
    common.chain(own.iter().copied()).collect()
}

/// Every program some scenario of the lab runs.
pub fn all_programs() -> Vec<&'static str> {
    let mut v: Vec<&str> = Tunnel::ALL.into_iter().flat_map(programs_for).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The files one scenario loads by path (only strongSwan's are loaded by path).
pub fn files_for(tunnel: Tunnel) -> Vec<PathBuf> {
    if tunnel == Tunnel::Ipsec {
        files()
    } else {
        Vec::new()
    }
}

/// One row of ci/packages.tsv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// An absolute path, or a program name looked up like [`find_program`] does.
    pub what: &'static str,
    pub package: &'static str,
    /// Comma-separated: build, test, lab, live, bench.
    pub needed_by: &'static str,
}

impl Row {
    pub fn is_needed_by(&self, who: &str) -> bool {
        self.needed_by.split(',').any(|w| w == who)
    }
}

/// The rows of ci/packages.tsv, comments and blank lines left out. A line without three
/// tab-separated fields is left out too (the packages test fails on it).
pub fn rows() -> impl Iterator<Item = Row> {
    PACKAGES_TSV.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(|l| {
        let mut f = l.split('\t');
        let row = Row { what: f.next()?, package: f.next()?, needed_by: f.next()? };
        f.next().is_none().then_some(row)
    })
}

/// The package that provides a file or program, as ci/packages.tsv says.
pub fn package_of(what: &str) -> Option<&'static str> {
    rows().find(|r| r.what == what).map(|r| r.package)
}

/// Every file the lab loads by path: charon and each plugin of [`strongswan::PLUGINS`].
pub fn files() -> Vec<PathBuf> {
    let plugins = strongswan::PLUGINS
        .split_whitespace()
        .map(|p| Path::new(strongswan::PLUGIN_DIR).join(format!("libstrongswan-{p}.so")));
    std::iter::once(PathBuf::from(strongswan::CHARON)).chain(plugins).collect()
}

/// Where `name` is found: the directories of `path`, then the sbin directories, which root's
/// PATH in CI may lack.
pub fn find_program(name: &str, path: &OsStr) -> Option<PathBuf> {
    find_under(name, path, Path::new("/"))
}

/// `path` under `root`, for tests that want nothing to be found.
fn under(root: &Path, path: &Path) -> PathBuf {
    root.join(path.strip_prefix("/").unwrap_or(path))
}

fn find_under(name: &str, path: &OsStr, root: &Path) -> Option<PathBuf> {
    std::env::split_paths(path)
        .chain(["/usr/sbin", "/sbin"].map(|d| under(root, Path::new(d))))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

fn package_text(what: &str) -> String {
    match package_of(what) {
        Some(p) => format!("package {p}"),
        // The packages test fails before this can ship; said plainly if it ever does.
        None => "no package known: add a row to ci/packages.tsv".into(),
    }
}

/// Missing programs and files given a PATH, each as "what (package P)".
#[cfg(test)]
fn missing_with_path(path: &OsStr) -> Vec<String> {
    missing_under(path, Path::new("/"), Tunnel::Ipsec)
}

/// As [`missing_with_path`] for one scenario, with files and the sbin directories looked for
/// under `root`.
fn missing_under(path: &OsStr, root: &Path, tunnel: Tunnel) -> Vec<String> {
    let mut missing = Vec::new();
    for prog in programs_for(tunnel) {
        if find_under(prog, path, root).is_none() {
            missing.push(format!("{prog} ({})", package_text(prog)));
        }
    }
    for file in files_for(tunnel) {
        if under(root, &file).is_file() {
            continue;
        }
        let what = file.to_string_lossy();
        let plugin = file
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("libstrongswan-"))
            .and_then(|n| n.strip_suffix(".so"));
        missing.push(match plugin {
            Some(name) => format!("strongSwan plugin {name} ({what}, {})", package_text(&what)),
            None => format!("{what} ({})", package_text(&what)),
        });
    }
    missing
}

/// Everything the lab's IPsec scenario needs, checked up front so a missing piece is named
/// instead of surfacing as a cryptic failure halfway through bring-up.
pub fn check_prerequisites() -> Result<(), LabError> {
    check_prerequisites_for(Tunnel::Ipsec)
}

/// Everything one scenario needs (each scenario needs only its own daemons).
pub fn check_prerequisites_for(tunnel: Tunnel) -> Result<(), LabError> {
    if !is_root() {
        return Err(LabError::NotRoot);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut missing = missing_under(&path, Path::new("/"), tunnel);
    if !Path::new("/dev/net/tun").exists() {
        missing.push("/dev/net/tun (kernel TUN support: modprobe tun)".into());
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LabError::Missing(missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tools_are_named_with_their_package() {
        // An empty PATH still finds sbin tools (searched always), but not sipp or tcpdump.
        let m = missing_with_path(std::ffi::OsStr::new("/nonexistent"));
        let text = LabError::Missing(m).to_string();
        assert!(text.contains("sipp (package sip-tester)"), "{text}");
        assert!(text.contains("run ci/setup"), "{text}");
    }

    #[test]
    fn every_missing_piece_names_exactly_one_package() {
        // Nothing is found under an empty root: every program and file is reported.
        let m = missing_under(OsStr::new("/nonexistent"), Path::new("/nonexistent"), Tunnel::Ipsec);
        assert_eq!(m.len(), PROGRAMS.len() + files().len(), "{m:#?}");
        for line in &m {
            assert_eq!(line.matches("(package ").count() + line.matches(", package ").count(), 1, "{line}");
            assert!(!line.contains(" or ") && !line.contains("no package known"), "{line}");
        }
        let openssl = m.iter().find(|l| l.contains("plugin openssl")).expect("openssl reported");
        assert_eq!(
            openssl,
            "strongSwan plugin openssl (/usr/lib/ipsec/plugins/libstrongswan-openssl.so, \
             package libstrongswan-standard-plugins)"
        );
        assert!(m.contains(&"/usr/lib/ipsec/charon (package strongswan-charon)".to_string()), "{m:#?}");
        assert!(m.contains(&"sh (package dash)".to_string()), "{m:#?}");
    }

    #[test]
    fn each_scenario_needs_its_own_daemons_only() {
        let none = |t| missing_under(OsStr::new("/nonexistent"), Path::new("/nonexistent"), t);
        let wg = none(Tunnel::WireGuard);
        assert!(wg.contains(&"wireguard-go (package wireguard-go)".to_string()), "{wg:#?}");
        assert!(wg.contains(&"wg (package wireguard-tools)".to_string()), "{wg:#?}");
        assert!(
            !wg.iter().any(|l| l.contains("swanctl") || l.contains("strongSwan") || l.contains("openvpn")),
            "{wg:#?}"
        );
        let ovpn = none(Tunnel::OpenVpn { tcp: true });
        assert!(ovpn.contains(&"openvpn (package openvpn)".to_string()), "{ovpn:#?}");
        assert!(ovpn.contains(&"openssl (package openssl)".to_string()), "{ovpn:#?}");
        assert!(ovpn.contains(&"tshark (package tshark)".to_string()), "{ovpn:#?}");
        assert!(!ovpn.iter().any(|l| l.contains("wireguard")), "{ovpn:#?}");
        assert_eq!(programs_for(Tunnel::Ipsec), PROGRAMS.to_vec(), "the IPsec lab needs what it always did");
        for p in ["wireguard-go", "wg", "openvpn", "openssl", "tshark", "swanctl", "sipp"] {
            assert!(all_programs().contains(&p), "{p}");
        }
    }

    #[test]
    fn rows_are_read_from_the_table() {
        let ip = rows().find(|r| r.what == "ip").expect("a row for ip");
        assert_eq!((ip.package, ip.is_needed_by("lab"), ip.is_needed_by("la")), ("iproute2", true, false));
        assert_eq!(package_of("/usr/include/bpf/bpf_helpers.h"), Some("libbpf-dev"));
        assert_eq!(package_of("no-such-thing"), None);
    }
}

//! The two network namespaces and the veth between them, driven through iproute2.
//!
//! The outer link uses the benchmarking ranges (198.18.0.0/15, and 2001:2::/48 for the IPv6
//! variant): nothing routes there, and no default route exists in either namespace, so lab
//! traffic cannot leave the machine.

use std::path::Path;
use std::process::{Command, Stdio};

use super::LabError;

pub const UE_V4: &str = "198.18.0.2";
pub const EPDG_V4: &str = "198.18.0.1";
pub const UE_V6: &str = "2001:2::2";
pub const EPDG_V6: &str = "2001:2::1";
/// The P-CSCF lives on the ePDG's loopback, reachable from the UE only through the tunnel.
pub const PCSCF: &str = "198.19.0.1";
pub const IMS_NET: &str = "198.19.0.0/24";
pub const VIP_POOL: &str = "198.19.1.0/24";
/// Locally administered MACs for the veth ends.
const UE_MAC: &str = "02:54:54:00:00:02";
const EPDG_MAC: &str = "02:54:54:00:00:01";

/// Names derived from the lab prefix, so parallel labs never share a namespace or interface.
#[derive(Debug, Clone)]
pub struct Names {
    pub ns_ue: String,
    pub ns_epdg: String,
    pub veth_ue: String,
    pub veth_epdg: String,
}

impl Names {
    pub fn new(prefix: &str) -> Names {
        Names {
            ns_ue: format!("{prefix}ue"),
            ns_epdg: format!("{prefix}epdg"),
            veth_ue: format!("{prefix}ue0"),
            veth_epdg: format!("{prefix}gw0"),
        }
    }
}

/// Run a command to completion; a failure carries its stderr.
pub fn run(cmd: &mut Command) -> Result<String, LabError> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| LabError::io(format!("run {shown}"), e))?;
    if !out.status.success() {
        return Err(LabError::Command {
            cmd: shown,
            status: out.status.to_string(),
            output: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn ip(args: &[&str]) -> Result<String, LabError> {
    run(Command::new("ip").args(args))
}

/// A command that runs inside namespace `ns`. `ip netns exec` execs in place (no fork), so the
/// child's pid ends up being the program's own pid.
pub fn exec_in(ns: &str, program: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, program]);
    c
}

pub fn exists(ns: &str) -> bool {
    Path::new("/run/netns").join(ns).exists()
}

/// Identity of a namespace, comparable with /proc/PID/ns/net of processes inside it.
pub fn inode(ns: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(Path::new("/run/netns").join(ns)).ok().map(|m| m.ino())
}

fn sysctl(ns: &str, setting: &str) -> Result<(), LabError> {
    run(exec_in(ns, "sysctl").args(["-q", "-w", setting])).map(|_| ())
}

/// Create both namespaces, the veth pair and the addresses. IPv6 is turned off everywhere except
/// on the veth in the IPv6 variant, so ipsec0 carries only the tunnel's own traffic (no router
/// solicitations or MLD reports in the inner capture).
pub fn create(n: &Names, ipv6_outer: bool) -> Result<(), LabError> {
    ip(&["netns", "add", &n.ns_ue])?;
    ip(&["netns", "add", &n.ns_epdg])?;
    for ns in [&n.ns_ue, &n.ns_epdg] {
        sysctl(ns, "net.ipv6.conf.all.disable_ipv6=1")?;
        sysctl(ns, "net.ipv6.conf.default.disable_ipv6=1")?;
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
    }
    ip(&[
        "link",
        "add",
        &n.veth_ue,
        "netns",
        &n.ns_ue,
        "type",
        "veth",
        "peer",
        "name",
        &n.veth_epdg,
        "netns",
        &n.ns_epdg,
    ])?;
    // Fixed MACs and permanent neighbour entries: no ARP or neighbour discovery on the outer
    // link, so its capture holds exactly IKE and ESP, the same in every run.
    let sides = [
        (&n.ns_ue, &n.veth_ue, UE_V4, UE_V6, UE_MAC, EPDG_V4, EPDG_V6, EPDG_MAC),
        (&n.ns_epdg, &n.veth_epdg, EPDG_V4, EPDG_V6, EPDG_MAC, UE_V4, UE_V6, UE_MAC),
    ];
    for (ns, dev, v4, v6, mac, peer_v4, peer_v6, peer_mac) in sides {
        ip(&["-n", ns, "link", "set", dev, "address", mac])?;
        let peer = if ipv6_outer { peer_v6 } else { peer_v4 };
        if ipv6_outer {
            // No link-local address and no router solicitations; the multicast listener reports
            // for the solicited-node group cannot be switched off, so they are squeezed into the
            // first milliseconds, long before any capture starts.
            for setting in [
                "addr_gen_mode=1",
                "router_solicitations=0",
                "accept_ra=0",
                "mldv2_unsolicited_report_interval=1",
                "disable_ipv6=0",
            ] {
                sysctl(ns, &format!("net.ipv6.conf.{dev}.{setting}"))?;
            }
            // nodad: duplicate address detection would hold the address tentative for ~1 s.
            ip(&["-n", ns, "addr", "add", &format!("{v6}/64"), "dev", dev, "nodad"])?;
        } else {
            ip(&["-n", ns, "addr", "add", &format!("{v4}/30"), "dev", dev])?;
        }
        ip(&["-n", ns, "link", "set", dev, "up"])?;
        ip(&["-n", ns, "neigh", "replace", peer, "lladdr", peer_mac, "dev", dev, "nud", "permanent"])?;
    }
    ip(&["-n", &n.ns_epdg, "addr", "add", &format!("{PCSCF}/32"), "dev", "lo"])?;
    Ok(())
}

/// Wait until both veth ends report carrier.
pub fn wait_carrier(n: &Names) -> Result<(), LabError> {
    // The kernel reports carrier changes from a deferred worker (up to a second late when many
    // links change at once), and IPv6 sends its listener reports only then: wait for it, so that
    // nothing of the link's own start-up lands in a capture started after bring-up.
    for (ns, dev) in [(&n.ns_ue, &n.veth_ue), (&n.ns_epdg, &n.veth_epdg)] {
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let out = ip(&["-n", ns, "-o", "link", "show", "dev", dev])?;
            if out.contains("state UP") {
                break;
            }
            if std::time::Instant::now() >= end {
                return Err(LabError::Peer { what: format!("{dev} in {ns} did not come up within 5 s"), log: out });
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    Ok(())
}

/// Delete a namespace; its veth end goes with it (and takes the peer end along).
pub fn delete(ns: &str) -> Result<(), LabError> {
    if !exists(ns) {
        return Ok(());
    }
    ip(&["netns", "del", ns]).map(|_| ())
}

/// Interfaces in a namespace (names only).
pub fn links(ns: &str) -> Result<Vec<String>, LabError> {
    let out = ip(&["-n", ns, "-o", "link", "show"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name).to_string())
        .collect())
}

/// IPv4 addresses on one interface of a namespace.
pub fn addrs_v4(ns: &str, dev: &str) -> Result<Vec<String>, LabError> {
    let out = ip(&["-n", ns, "-o", "-4", "addr", "show", "dev", dev])?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            it.find(|w| *w == "inet")?;
            it.next().map(|a| a.split('/').next().unwrap_or(a).to_string())
        })
        .collect())
}

/// Namespaces whose name starts with `prefix` (leftovers of an earlier run).
pub fn list_with_prefix(prefix: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir("/run/netns") else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_interface_limit() {
        let n = Names::new("tt-long-12-");
        assert_eq!(n.veth_ue, "tt-long-12-ue0");
        assert!(n.veth_epdg.len() <= 15);
        assert_eq!(n.ns_epdg, "tt-long-12-epdg");
    }
}

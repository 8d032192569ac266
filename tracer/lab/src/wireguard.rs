//! WireGuard peers: Debian's wireguard-go (userspace, on a TUN named `wg0`) configured with `wg`
//! from wireguard-tools, and a reader for `wg show wg0 dump`.
//!
//! wireguard-go puts its control socket at /var/run/wireguard/wg0.sock whatever the network
//! namespace, so two instances on one machine would share it. Each instance, and every `wg` that
//! talks to it, runs in a private mount namespace with /run bound to a per-instance directory (as
//! for charon): the socket lives in that directory, and `wg` finds it where it always looks.

use std::path::Path;
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::netns;

/// The TUN wireguard-go creates on each side.
pub const IFACE: &str = "wg0";
/// The ePDG side listens here; the UE's port is whatever wireguard-go bound, as on a phone.
pub const PORT: u16 = 51820;
pub const EPDG_ADDR: &str = "198.19.2.1";
pub const UE_ADDR: &str = "198.19.2.2";
pub const TUNNEL_NET: &str = "198.19.2.0/24";
/// Also the trigger of the first handshake: wireguard-go sends a keepalive as soon as it is set,
/// which makes the UE initiate (a phone behind NAT keeps the same setting).
pub const PERSISTENT_KEEPALIVE: u16 = 25;

/// `sh -c` text that binds `run_dir` over /run in a fresh mount namespace, then runs `program`.
fn in_private_run(run_dir: &Path, program: &str) -> String {
    format!("mount --bind '{}' /run && exec {program} \"$@\"", run_dir.display())
}

/// wireguard-go for `wg0` in namespace `ns`, in the foreground (so the pid we hold is the daemon's),
/// with its control socket under `run_dir`.
pub fn daemon_command(ns: &str, run_dir: &Path) -> Command {
    let mut c = netns::exec_in(ns, "unshare");
    c.args(["--mount", "sh", "-c", &in_private_run(run_dir, "wireguard-go"), "sh", IFACE]);
    c.env("WG_PROCESS_FOREGROUND", "1");
    // Handshakes and key rotations in the log: what the daemon did, in its own words.
    c.env("LOG_LEVEL", "verbose");
    c
}

/// `wg ARGS...` against the wireguard-go whose /run is `run_dir`, inside namespace `ns`.
pub fn wg(ns: &str, run_dir: &Path, args: &[&str]) -> Command {
    let mut c = netns::exec_in(ns, "unshare");
    c.args(["--mount", "sh", "-c", &in_private_run(run_dir, "wg"), "sh"]);
    c.args(args);
    c
}

/// Where wireguard-go's control socket appears on the host (run_dir is its /run).
pub fn socket(run_dir: &Path) -> std::path::PathBuf {
    run_dir.join("wireguard").join(format!("{IFACE}.sock"))
}

/// One interface as `wg show wg0 dump` prints it. The private key it also prints is not kept.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WgInterface {
    pub public_key: String,
    pub listen_port: u16,
    pub peers: Vec<WgPeer>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WgPeer {
    pub public_key: String,
    /// ip:port as the daemon knows it (configured, or learned from the peer's packets); None
    /// before any.
    pub endpoint: Option<String>,
    pub allowed_ips: Vec<String>,
    /// Unix seconds of the latest completed handshake; 0 means none yet.
    pub latest_handshake: u64,
    /// Bytes of WireGuard messages received from and sent to this peer (UDP payloads: handshake
    /// messages included).
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Seconds, None when off.
    pub persistent_keepalive: Option<u16>,
}

/// Read `wg show IFACE dump`: one tab-separated line for the interface (private key, public key,
/// listen port, fwmark), then one per peer (public key, preshared key, endpoint, allowed IPs,
/// latest handshake, rx, tx, persistent keepalive).
pub fn parse_dump(text: &str) -> Result<WgInterface, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines.next().ok_or("empty dump")?;
    let f: Vec<&str> = first.split('\t').collect();
    if f.len() != 4 {
        return Err(format!("interface line has {} fields, want 4: {first:?}", f.len()));
    }
    let listen_port = f[2].parse().map_err(|_| format!("listen port {:?}", f[2]))?;
    let mut iface = WgInterface { public_key: f[1].to_string(), listen_port, peers: Vec::new() };
    for line in lines {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() != 8 {
            return Err(format!("peer line has {} fields, want 8: {line:?}", f.len()));
        }
        let num = |i: usize| f[i].parse::<u64>().map_err(|_| format!("field {} {:?} is not a number", i + 1, f[i]));
        iface.peers.push(WgPeer {
            public_key: f[0].to_string(),
            endpoint: (f[2] != "(none)").then(|| f[2].to_string()),
            allowed_ips: if f[3] == "(none)" { Vec::new() } else { f[3].split(',').map(str::to_string).collect() },
            latest_handshake: num(4)?,
            rx_bytes: num(5)?,
            tx_bytes: num(6)?,
            persistent_keepalive: if f[7] == "off" {
                None
            } else {
                Some(f[7].parse().map_err(|_| format!("persistent keepalive {:?}", f[7]))?)
            },
        });
    }
    Ok(iface)
}

/// Latest handshake of every peer (`wg show wg0 latest-handshakes`: key, tab, unix seconds).
pub fn parse_latest_handshakes(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let (k, t) = l.split_once('\t')?;
            Some((k.to_string(), t.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from this lab's ePDG after a handshake (keys generated for that run).
    const DUMP: &str =
        "oNm9xZagEfo/sN0XMY5xsiNfoVc5iskKBRwZIjf4cko=\t5MlWpDMCWX7pIbHvSwwz0rFmQ2f/gq48haokfuG2fG4=\t51820\toff\n\
9/M4NFFAaHaWOmL6lLBvHS10YDiJcEMHa/pyPid2Lmc=\t(none)\t198.18.0.2:40024\t198.19.2.2/32\t1796338813\t1332\t812\toff\n";

    #[test]
    fn reads_a_real_dump() {
        let i = parse_dump(DUMP).unwrap();
        assert_eq!(i.public_key, "5MlWpDMCWX7pIbHvSwwz0rFmQ2f/gq48haokfuG2fG4=");
        assert_eq!(i.listen_port, 51820);
        assert_eq!(i.peers.len(), 1);
        let p = &i.peers[0];
        assert_eq!(p.endpoint.as_deref(), Some("198.18.0.2:40024"));
        assert_eq!(p.allowed_ips, vec!["198.19.2.2/32".to_string()]);
        assert_eq!((p.latest_handshake, p.rx_bytes, p.tx_bytes, p.persistent_keepalive), (1796338813, 1332, 812, None));
        assert!(!format!("{i:?}").contains("oNm9xZag"), "the private key is not kept");
    }

    #[test]
    fn peer_before_any_handshake() {
        let d = "k\tpub\t0\toff\npeer\t(none)\t(none)\t(none)\t0\t0\t0\t25\n";
        let p = &parse_dump(d).unwrap().peers[0];
        assert_eq!((p.endpoint.clone(), p.allowed_ips.len(), p.persistent_keepalive), (None, 0, Some(25)));
    }

    #[test]
    fn damaged_dumps_are_errors() {
        assert!(parse_dump("").is_err());
        assert!(parse_dump("a\tb\n").is_err());
        assert!(parse_dump("a\tb\tx\toff\n").is_err());
        assert!(parse_dump("a\tb\t1\toff\np\t(none)\t(none)\t(none)\tlate\t0\t0\toff\n").is_err());
    }

    #[test]
    fn reads_latest_handshakes() {
        let v = parse_latest_handshakes("abc=\t1796338813\ndef=\t0\n");
        assert_eq!(v, vec![("abc=".to_string(), 1796338813), ("def=".to_string(), 0)]);
    }

    #[test]
    fn commands_run_in_a_private_run() {
        let c = wg("ns1", Path::new("/run/tuntrace-lab/p-/run-ue"), &["show", "wg0", "dump"]);
        let args: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args[..5], ["netns", "exec", "ns1", "unshare", "--mount"]);
        assert!(args[7].starts_with("mount --bind '/run/tuntrace-lab/p-/run-ue' /run && exec wg"), "{args:?}");
        assert_eq!(args[8..], ["sh", "show", "wg0", "dump"]);
        let d = daemon_command("ns1", Path::new("/x"));
        assert!(d.get_envs().any(|(k, v)| k == "WG_PROCESS_FOREGROUND" && v == Some("1".as_ref())));
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_read_without_panic(s in "(\\PC|\\t|\\n){0,300}") {
            let _ = parse_dump(&s);
            let _ = parse_latest_handshakes(&s);
        }
    }
}

//! Which processes hold TUN/TAP devices: an open /dev/net/tun whose fdinfo names the device
//! (`iff:\tNAME`, Linux ≥ 3.18).
//!
//! Device names are per network namespace, and a process in another namespace can hold a TUN
//! with the same name as ours, so every holder comes with its namespace's inode.

use std::collections::BTreeMap;
use std::fs;

use super::HostError;

/// One open /dev/net/tun attached to a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TunHolder {
    pub pid: u32,
    pub fd: u32,
    /// Inode of the holder's network namespace (/proc/PID/ns/net); `None` if it exited
    /// meanwhile. Compare with [`super::netns::NetnsId::inode`].
    pub netns: Option<u64>,
}

/// Holders by device name, over every process of the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TunHolders {
    pub by_name: BTreeMap<String, Vec<TunHolder>>,
    /// Open /dev/net/tun not attached to any device (before TUNSETIFF, or a detached queue).
    pub unattached: Vec<TunHolder>,
    /// Processes whose fd table we could not read (no privilege, or they exited).
    pub unreadable: u32,
}

impl TunHolders {
    /// Holders of `name` in the namespace with inode `netns`.
    pub fn holders(&self, name: &str, netns: u64) -> Vec<TunHolder> {
        self.by_name
            .get(name)
            .map(|v| v.iter().filter(|h| h.netns == Some(netns)).copied().collect())
            .unwrap_or_default()
    }

    /// Only the holders in the namespace with inode `netns`.
    pub fn in_netns(&self, netns: u64) -> TunHolders {
        let keep = |v: &Vec<TunHolder>| v.iter().filter(|h| h.netns == Some(netns)).copied().collect::<Vec<_>>();
        TunHolders {
            by_name: self.by_name.iter().map(|(n, v)| (n.clone(), keep(v))).filter(|(_, v)| !v.is_empty()).collect(),
            unattached: keep(&self.unattached),
            unreadable: self.unreadable,
        }
    }
}

/// The device name in the text of /proc/PID/fdinfo/N for a TUN fd (`iff:\ttun0`).
pub fn parse_fdinfo_iff(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("iff:")).map(str::trim).filter(|n| !n.is_empty())
}

/// Every TUN holder on the host. Processes that vanish or that we may not inspect are skipped
/// (and counted); only a missing /proc is an error.
pub fn holders() -> Result<TunHolders, HostError> {
    super::error::require_proc()?;
    let proc = fs::read_dir("/proc").map_err(|source| HostError::Read { path: "/proc".into(), source })?;
    let mut out = TunHolders::default();
    for entry in proc.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            out.unreadable += 1;
            continue;
        };
        let mut netns = None;
        for fd in fds.flatten() {
            let Some(n) = fd.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if fs::read_link(fd.path()).ok().as_deref() != Some(std::path::Path::new("/dev/net/tun")) {
                continue;
            }
            let netns = *netns.get_or_insert_with(|| super::netns::of_pid(pid));
            let holder = TunHolder { pid, fd: n, netns };
            match fs::read_to_string(format!("/proc/{pid}/fdinfo/{n}")) {
                Ok(text) => match parse_fdinfo_iff(&text) {
                    Some(name) => out.by_name.entry(name.to_string()).or_default().push(holder),
                    None => out.unattached.push(holder),
                },
                Err(_) => continue, // closed between the two reads
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_names_the_device() {
        let text = "pos:\t0\nflags:\t02\nmnt_id:\t27\nino:\t1041\niff:\tipsec0\n";
        assert_eq!(parse_fdinfo_iff(text), Some("ipsec0"));
        assert_eq!(parse_fdinfo_iff("pos:\t0\nflags:\t02\nmnt_id:\t27\n"), None);
        assert_eq!(parse_fdinfo_iff("iff:\t\n"), None);
        // The name is the whole rest of the line, without the tab.
        assert_eq!(parse_fdinfo_iff("iff:\twg-home\nother:\t1\n"), Some("wg-home"));
    }

    #[test]
    fn holders_are_filtered_by_namespace() {
        let mut h = TunHolders::default();
        h.by_name.insert(
            "tun0".into(),
            vec![
                TunHolder { pid: 10, fd: 3, netns: Some(111) },
                TunHolder { pid: 20, fd: 5, netns: Some(222) },
                TunHolder { pid: 30, fd: 4, netns: None },
            ],
        );
        h.by_name.insert("wg0".into(), vec![TunHolder { pid: 40, fd: 7, netns: Some(222) }]);
        assert_eq!(h.holders("tun0", 111), [TunHolder { pid: 10, fd: 3, netns: Some(111) }]);
        let mine = h.in_netns(222);
        assert_eq!(mine.by_name.keys().collect::<Vec<_>>(), ["tun0", "wg0"]);
        assert_eq!(mine.by_name["tun0"], [TunHolder { pid: 20, fd: 5, netns: Some(222) }]);
        assert!(h.in_netns(333).by_name.is_empty());
    }
}

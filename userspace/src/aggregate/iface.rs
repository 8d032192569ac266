//! Interfaces and processes as the aggregator keeps them.

use std::collections::BTreeMap;

use crate::event::{IfaceId, InterfaceInfo};
use crate::linktype;
use crate::report::InterfaceKind;
use crate::time::Timestamp;

#[derive(Debug, Clone, Default)]
pub struct IfaceState {
    pub info: InterfaceInfo,
    pub packets: u64,
    pub bytes: u64,
    /// When a live source saw it removed.
    pub removed: Option<Timestamp>,
}

/// The kind of an interface: from the kernel's link kind when a live source gave it, else from
/// its name, as the operating systems name them.
pub fn kind_of(name: Option<&str>, link: u32, link_kind: Option<&str>) -> InterfaceKind {
    // A TUN named like an IPsec, WireGuard or macOS tunnel says more by its name: strongSwan's
    // kernel-libipsec device `ipsec0`, wireguard-go's and boringtun's `wg0` are TUN devices.
    let named_tunnel = name.is_some_and(|n| n.starts_with("ipsec") || n.starts_with("utun") || n.starts_with("wg"));
    if let (Some(k), false) = (link_kind, named_tunnel) {
        match k {
            "tun" | "tap" => return InterfaceKind::Tun,
            "wireguard" => return InterfaceKind::Wireguard,
            "xfrm" => return InterfaceKind::Xfrm,
            "vti" | "vti6" => return InterfaceKind::Vti,
            "gre" | "gretap" | "ip6gre" | "ip6gretap" | "erspan" | "ip6erspan" => return InterfaceKind::Gre,
            "ipip" | "sit" | "ip6tnl" => return InterfaceKind::Ipip,
            "veth" | "bridge" | "bond" | "macvlan" | "ipvlan" | "vlan" => return InterfaceKind::Ethernet,
            _ => {}
        }
    }
    let Some(n) = name else {
        return if link == linktype::EN10MB { InterfaceKind::Ethernet } else { InterfaceKind::Other };
    };
    let starts = |p: &str| n.starts_with(p);
    if starts("ipsec") {
        InterfaceKind::Ipsec
    } else if starts("utun") {
        InterfaceKind::Utun
    } else if starts("tun") || starts("tap") {
        InterfaceKind::Tun
    } else if starts("wg") {
        InterfaceKind::Wireguard
    } else if starts("xfrm") {
        InterfaceKind::Xfrm
    } else if starts("gre") || starts("gretap") || starts("ip6gre") {
        InterfaceKind::Gre
    } else if starts("vti") || starts("ip_vti") || starts("ip6_vti") {
        InterfaceKind::Vti
    } else if n == "lo" || starts("lo0") {
        InterfaceKind::Loopback
    } else if starts("en")
        || starts("eth")
        || starts("wl")
        || starts("veth")
        || starts("bond")
        || starts("br")
        || link == linktype::EN10MB
    {
        InterfaceKind::Ethernet
    } else {
        InterfaceKind::Other
    }
}

/// Ids below this are also kept in a flat table.
const SMALL_IDS: usize = 4096;

/// Interfaces kept with a name of their own. A capture's metadata can name any number (PKTAP
/// frames, pcapng interface blocks); past this, PKTAP frames stay on the capture's own
/// interface and announced interfaces share one unnamed entry per link type, all counted.
pub const MAX_IFACES: usize = 16_384;
/// Unnamed entries for announced interfaces past [`MAX_IFACES`], one per link type.
const MAX_OVERFLOW_LINKTYPES: usize = 64;

/// Interfaces by event id, plus interfaces named inside frames (PKTAP).
#[derive(Default)]
pub struct Ifaces {
    pub list: Vec<IfaceState>,
    by_id: BTreeMap<IfaceId, usize>,
    /// `by_id` for the small ids that capture files hand out (0, 1, 2…), looked up once per
    /// packet: an index instead of a tree walk. `usize::MAX` marks a hole.
    small: Vec<usize>,
    by_name: BTreeMap<String, usize>,
    /// Live interfaces by (network namespace, kernel index), while they exist.
    by_index: rustc_hash::FxHashMap<(Option<u64>, u32), usize>,
    /// The shared entries of announced interfaces past [`MAX_IFACES`], by link type.
    overflow: BTreeMap<u32, usize>,
    /// Announcements and PKTAP frames that named an interface past [`MAX_IFACES`].
    pub refused: u64,
}

impl Ifaces {
    /// What a source says of an interface: a new one, or news of one it announced before (the
    /// news replaces what was said, except who created and holds it, which a later
    /// announcement that does not know them leaves as they were).
    pub fn announce(&mut self, info: &InterfaceInfo) -> usize {
        if let Some(&i) = self.by_id.get(&info.id) {
            if self.overflow.values().any(|&o| o == i) {
                // Past the cap: the shared entry keeps no interface's own facts.
                return i;
            }
            let cur = &mut self.list[i].info;
            let (owner, created_by, before) = (cur.owner, cur.created_by, cur.created_before_start);
            *cur = info.clone();
            cur.owner = cur.owner.or(owner);
            cur.created_by = cur.created_by.or(created_by);
            cur.created_before_start = cur.created_by.is_none() && (cur.created_before_start || before);
            if let Some(n) = &info.name {
                self.by_name.entry(n.clone()).or_insert(i);
            }
            if let (Some(x), None) = (info.ifindex, self.list[i].removed) {
                self.by_index.insert((info.netns, x), i);
            }
            return i;
        }
        let i = if self.list.len() >= MAX_IFACES {
            self.refused += 1;
            self.overflow_entry(info)
        } else {
            self.list.push(IfaceState { info: info.clone(), ..Default::default() });
            self.list.len() - 1
        };
        self.by_id.insert(info.id, i);
        if let Some(x) = info.ifindex {
            self.by_index.insert((info.netns, x), i);
        }
        if let Ok(id) = usize::try_from(info.id) {
            if id < SMALL_IDS {
                if self.small.len() <= id {
                    self.small.resize(id + 1, usize::MAX);
                }
                self.small[id] = i;
            }
        }
        if let (Some(n), false) = (&info.name, self.list[i].info.name.is_none()) {
            self.by_name.entry(n.clone()).or_insert(i);
        }
        i
    }

    /// The unnamed entry that interfaces announced past the cap with `info`'s link type share
    /// (their frames still decode by their own link type).
    #[cold]
    fn overflow_entry(&mut self, info: &InterfaceInfo) -> usize {
        let link = match self.overflow.len() < MAX_OVERFLOW_LINKTYPES {
            true => info.linktype,
            // A crafted file with ever new link types: they are undecodable anyway.
            false => *self.overflow.keys().next().expect("full"),
        };
        if let Some(&i) = self.overflow.get(&link) {
            return i;
        }
        let shared = InterfaceInfo { id: info.id, linktype: link, ..Default::default() };
        self.list.push(IfaceState { info: shared, ..Default::default() });
        let i = self.list.len() - 1;
        self.overflow.insert(link, i);
        i
    }

    #[inline]
    pub fn index(&self, id: IfaceId) -> Option<usize> {
        match self.small.get(id as usize) {
            Some(&i) if i != usize::MAX => Some(i),
            // Not announced, or an id too large for the table (live sources may use kernel
            // ifindexes): the tree knows.
            _ => self.by_id.get(&id).copied(),
        }
    }

    /// The interface a PKTAP header names; created on first sight, `None` (counted) past
    /// [`MAX_IFACES`].
    pub fn named(&mut self, name: &str, link: u32) -> Option<usize> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(i);
        }
        if self.list.len() >= MAX_IFACES {
            self.refused += 1;
            return None;
        }
        let id = IfaceId::MAX - self.by_name.len() as u32;
        let info = InterfaceInfo { id, name: Some(name.to_string()), linktype: link, ..Default::default() };
        self.list.push(IfaceState { info, ..Default::default() });
        let i = self.list.len() - 1;
        self.by_name.insert(name.to_string(), i);
        Some(i)
    }

    pub fn name(&self, idx: usize) -> Option<String> {
        self.list.get(idx).and_then(|s| s.info.name.clone())
    }

    /// The interface a live source announced as `name` in network namespace `netns`, newest
    /// first (a name can come back after its interface vanished).
    pub fn by_netns_name(&self, netns: Option<u64>, name: &str) -> Option<usize> {
        self.list.iter().rposition(|s| s.info.name.as_deref() == Some(name) && s.info.netns == netns)
    }

    /// The interface with kernel index `ifindex` in `netns` that has not been removed.
    pub fn by_ifindex(&self, netns: Option<u64>, ifindex: u32) -> Option<usize> {
        self.by_index.get(&(netns, ifindex)).copied()
    }

    /// A live source saw interface `idx` removed: it stays in the report, marked, and its
    /// kernel index no longer names it.
    pub fn remove(&mut self, idx: usize, at: crate::time::Timestamp) {
        let Some(s) = self.list.get_mut(idx) else { return };
        s.removed.get_or_insert(at);
        if let Some(x) = s.info.ifindex {
            let key = (s.info.netns, x);
            if self.by_index.get(&key) == Some(&idx) {
                self.by_index.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_finds_small_and_large_ids() {
        let mut f = Ifaces::default();
        let info = |id| InterfaceInfo { id, ..Default::default() };
        assert_eq!(f.announce(&info(2)), 0);
        assert_eq!(f.announce(&info(70_000)), 1);
        assert_eq!(f.announce(&info(0)), 2);
        assert_eq!(f.announce(&info(2)), 0);
        assert_eq!((f.index(0), f.index(1), f.index(2), f.index(3)), (Some(2), None, Some(0), None));
        assert_eq!((f.index(70_000), f.index(70_001), f.index(u32::MAX)), (Some(1), None, None));
    }
}

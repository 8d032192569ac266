//! Interfaces and processes as the aggregator keeps them.

use std::collections::{BTreeMap, BTreeSet};

use crate::capture::linktype;
use crate::event::{IfaceId, InterfaceInfo, ProcessInfo};
use crate::report::{self, InterfaceKind};

#[derive(Debug, Clone, Default)]
pub struct IfaceState {
    pub info: InterfaceInfo,
    pub packets: u64,
    pub bytes: u64,
}

/// The kind of an interface from its name, as the operating systems name them.
pub fn kind_of(name: Option<&str>, link: u32) -> InterfaceKind {
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

#[derive(Debug, Clone, Default)]
pub struct ProcState {
    pub info: ProcessInfo,
    pub packets: u64,
    pub bytes: u64,
    pub ifaces: BTreeSet<String>,
}

#[derive(Default)]
pub struct Processes {
    pub map: BTreeMap<u32, ProcState>,
}

impl Processes {
    /// Merge what a source says about a process: later facts fill gaps, never erase.
    pub fn learn(&mut self, p: &ProcessInfo) {
        let e = self.map.entry(p.pid).or_insert_with(|| ProcState {
            info: ProcessInfo { pid: p.pid, ..Default::default() },
            ..Default::default()
        });
        let i = &mut e.info;
        if p.comm.is_some() {
            i.comm = p.comm.clone();
        }
        if p.exe.is_some() {
            i.exe = p.exe.clone();
        }
        if p.cmdline.is_some() {
            i.cmdline = p.cmdline.clone();
        }
        if p.uid.is_some() {
            i.uid = p.uid;
        }
    }

    pub fn comm(&self, pid: u32) -> Option<String> {
        self.map.get(&pid).and_then(|p| p.info.comm.clone())
    }

    pub fn proc_ref(&self, pid: u32) -> report::ProcRef {
        let info = self.map.get(&pid).map(|p| &p.info);
        report::ProcRef { pid, comm: info.and_then(|i| i.comm.clone()), exe: info.and_then(|i| i.exe.clone()) }
    }
}

/// Ids below this are also kept in a flat table.
const SMALL_IDS: usize = 4096;

/// Interfaces by event id, plus interfaces named inside frames (PKTAP).
#[derive(Default)]
pub struct Ifaces {
    pub list: Vec<IfaceState>,
    by_id: BTreeMap<IfaceId, usize>,
    /// `by_id` for the small ids that capture files hand out (0, 1, 2…), looked up once per
    /// packet: an index instead of a tree walk. `usize::MAX` marks a hole.
    small: Vec<usize>,
    by_name: BTreeMap<String, usize>,
}

impl Ifaces {
    pub fn announce(&mut self, info: &InterfaceInfo) -> usize {
        if let Some(&i) = self.by_id.get(&info.id) {
            self.list[i].info = info.clone();
            return i;
        }
        self.list.push(IfaceState { info: info.clone(), packets: 0, bytes: 0 });
        let i = self.list.len() - 1;
        self.by_id.insert(info.id, i);
        if let Ok(id) = usize::try_from(info.id) {
            if id < SMALL_IDS {
                if self.small.len() <= id {
                    self.small.resize(id + 1, usize::MAX);
                }
                self.small[id] = i;
            }
        }
        if let Some(n) = &info.name {
            self.by_name.entry(n.clone()).or_insert(i);
        }
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

    /// The interface a PKTAP header names; created on first sight.
    pub fn named(&mut self, name: &str, link: u32) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let id = IfaceId::MAX - self.by_name.len() as u32;
        let info = InterfaceInfo { id, name: Some(name.to_string()), linktype: link, ..Default::default() };
        self.list.push(IfaceState { info, packets: 0, bytes: 0 });
        let i = self.list.len() - 1;
        self.by_name.insert(name.to_string(), i);
        i
    }

    pub fn name(&self, idx: usize) -> Option<String> {
        self.list.get(idx).and_then(|s| s.info.name.clone())
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

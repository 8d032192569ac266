//! Link and address changes while a session runs, from the kernel's rtnetlink notifications
//! (the multicast groups `ip monitor link address` listens to).
//!
//! The watch keeps its own view of the links and reports differences against it, so a
//! notification that changes nothing we describe (statistics, carrier counters) is not an
//! event, a link seen both in the first dump and in a queued notification is reported once,
//! and a burst the kernel could not queue (ENOBUFS) is made good by dumping again and
//! reporting what differs.

use std::collections::{BTreeMap, VecDeque};

use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::links::{address_from_message, snapshot_with, IfAddr, Link, Links};
use super::netlink::{messages, recv_datagram, Rtnl};
use super::HostError;

/// One change of our namespace's links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    Added(Box<Link>),
    /// Something we describe changed: `what` says which of the fields.
    Changed {
        before: Box<Link>,
        after: Box<Link>,
        what: LinkChange,
    },
    /// The link is gone (deleted, or moved to another namespace); its last known state.
    Removed(Box<Link>),
    AddressAdded {
        index: u32,
        name: Option<String>,
        addr: IfAddr,
    },
    AddressRemoved {
        index: u32,
        name: Option<String>,
        addr: IfAddr,
    },
}

/// Which fields of a link changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkChange {
    pub name: bool,
    pub mtu: bool,
    pub flags: bool,
    /// Kind, TUN details, link type, lower link or its namespace.
    pub other: bool,
}

impl LinkChange {
    fn between(a: &Link, b: &Link) -> LinkChange {
        LinkChange {
            name: a.name != b.name,
            mtu: a.mtu != b.mtu,
            flags: a.flags != b.flags,
            other: a.kind != b.kind
                || a.tun != b.tun
                || a.link_type != b.link_type
                || a.link != b.link
                || a.link_netnsid != b.link_netnsid,
        }
    }

    fn any(self) -> bool {
        self.name || self.mtu || self.flags || self.other
    }
}

/// A running watch. [`LinkWatch::next`] waits for the next change; dropping the watch
/// unsubscribes.
pub struct LinkWatch {
    sock: AsyncFd<Socket>,
    state: State,
    buf: Vec<u8>,
    overruns: u64,
}

/// What the watch knows and has yet to report; the socket-free half of it.
#[derive(Default)]
struct State {
    links: BTreeMap<u32, Link>,
    pending: VecDeque<LinkEvent>,
}

// RTNLGRP_* numbers: link changes and the addresses of both families.
const GROUPS: [u32; 3] = [libc::RTNLGRP_LINK, libc::RTNLGRP_IPV4_IFADDR, libc::RTNLGRP_IPV6_IFADDR];

/// Starts watching the calling thread's network namespace. Subscribes first and dumps second,
/// so no change between the two is missed; [`LinkWatch::links`] is the starting view. Needs
/// a Tokio runtime with I/O enabled.
pub fn watch() -> Result<LinkWatch, HostError> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(HostError::NoRuntime);
    }
    let open = |source| HostError::NetlinkOpen { source };
    let mut sock = Socket::new(NETLINK_ROUTE).map_err(open)?;
    sock.bind_auto().map_err(open)?;
    for g in GROUPS {
        sock.add_membership(g).map_err(|e| HostError::netlink("NETLINK_ADD_MEMBERSHIP", e))?;
    }
    // Room for a burst (a lab coming up adds dozens of links and addresses at once); past it
    // the kernel drops and says ENOBUFS, and we dump again.
    let _ = sock.set_rx_buf_sz(1 << 20);
    sock.set_non_blocking(true).map_err(open)?;
    let start = snapshot_with(&mut Rtnl::open()?)?;
    // SAFETY: the socket owns its descriptor and closes it only when dropped, which happens
    // with the AsyncFd that owns it.
    let sock = unsafe { AsyncFd::register_with_interest(sock, Interest::READABLE) }
        .map_err(|e| HostError::netlink("registering with the Tokio reactor", e.into()))?;
    Ok(LinkWatch {
        sock,
        state: State { links: start.links.into_iter().map(|l| (l.index, l)).collect(), pending: VecDeque::new() },
        buf: Vec::new(),
        overruns: 0,
    })
}

impl LinkWatch {
    /// The current view of the links, every event so far applied.
    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.state.links.values()
    }

    /// How many times the kernel dropped notifications (each followed by a new dump).
    pub fn overruns(&self) -> u64 {
        self.overruns
    }

    /// The next change. Cancel-safe: a `next()` dropped before it returns loses nothing, so
    /// it can sit in a `tokio::select!` beside the session's other sources.
    pub async fn next(&mut self) -> Result<LinkEvent, HostError> {
        loop {
            if let Some(e) = self.state.pending.pop_front() {
                return Ok(e);
            }
            let mut guard =
                self.sock.readable().await.map_err(|e| HostError::netlink("reading link notifications", e))?;
            let buf = &mut self.buf;
            match guard.try_io(|s| recv_datagram(s.get_ref(), buf)) {
                Ok(Ok(())) => {
                    let msgs: Vec<RouteNetlinkMessage> = messages(&self.buf)
                        .filter_map(|m| match m.ok()?.payload {
                            netlink_packet_core::NetlinkPayload::InnerMessage(i) => Some(i),
                            _ => None,
                        })
                        .collect();
                    for m in msgs {
                        self.state.apply(m);
                    }
                }
                Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.overruns += 1;
                    // After lost notifications: a fresh dump, reported as the changes it shows.
                    let now = snapshot_with(&mut Rtnl::open()?)?;
                    self.state.diff(now);
                }
                Ok(Err(e)) => return Err(HostError::netlink("reading link notifications", e)),
                Err(_would_block) => {}
            }
        }
    }
}

impl State {
    fn apply(&mut self, m: RouteNetlinkMessage) {
        match m {
            RouteNetlinkMessage::NewLink(l) => {
                let mut new = Link::from_message(&l);
                match self.links.get_mut(&new.index) {
                    Some(old) => {
                        new.addresses = std::mem::take(&mut old.addresses);
                        let what = LinkChange::between(old, &new);
                        let before = std::mem::replace(old, new.clone());
                        if what.any() {
                            self.pending.push_back(LinkEvent::Changed {
                                before: Box::new(before),
                                after: Box::new(new),
                                what,
                            });
                        }
                    }
                    None => {
                        self.links.insert(new.index, new.clone());
                        self.pending.push_back(LinkEvent::Added(Box::new(new)));
                    }
                }
            }
            RouteNetlinkMessage::DelLink(l) => {
                if let Some(old) = self.links.remove(&l.header.index) {
                    self.pending.push_back(LinkEvent::Removed(Box::new(old)));
                }
            }
            RouteNetlinkMessage::NewAddress(a) => {
                let Some((index, addr)) = address_from_message(&a) else { return };
                let link = self.links.get_mut(&index);
                let name = link.as_ref().map(|l| l.name.clone());
                if let Some(l) = link {
                    // IPv6 re-announces an address as its flags change (DAD): one event only.
                    if l.addresses.contains(&addr) {
                        return;
                    }
                    l.addresses.push(addr);
                }
                self.pending.push_back(LinkEvent::AddressAdded { index, name, addr });
            }
            RouteNetlinkMessage::DelAddress(a) => {
                let Some((index, addr)) = address_from_message(&a) else { return };
                let link = self.links.get_mut(&index);
                let name = link.as_ref().map(|l| l.name.clone());
                if let Some(l) = link {
                    let before = l.addresses.len();
                    l.addresses.retain(|x| *x != addr);
                    if l.addresses.len() == before {
                        return;
                    }
                }
                self.pending.push_back(LinkEvent::AddressRemoved { index, name, addr });
            }
            _ => {}
        }
    }

    fn diff(&mut self, now: Links) {
        let mut now: BTreeMap<u32, Link> = now.links.into_iter().map(|l| (l.index, l)).collect();
        let gone: Vec<u32> = self.links.keys().filter(|i| !now.contains_key(i)).copied().collect();
        for i in gone {
            if let Some(old) = self.links.remove(&i) {
                self.pending.push_back(LinkEvent::Removed(Box::new(old)));
            }
        }
        for (i, new) in std::mem::take(&mut now) {
            match self.links.remove(&i) {
                None => self.pending.push_back(LinkEvent::Added(Box::new(new.clone()))),
                Some(old) => {
                    let what = LinkChange::between(&old, &new);
                    let name = Some(new.name.clone());
                    for addr in old.addresses.iter().filter(|a| !new.addresses.contains(a)) {
                        self.pending.push_back(LinkEvent::AddressRemoved { index: i, name: name.clone(), addr: *addr });
                    }
                    for addr in new.addresses.iter().filter(|a| !old.addresses.contains(a)) {
                        self.pending.push_back(LinkEvent::AddressAdded { index: i, name: name.clone(), addr: *addr });
                    }
                    if what.any() {
                        self.pending.push_back(LinkEvent::Changed {
                            before: Box::new(old),
                            after: Box::new(new.clone()),
                            what,
                        });
                    }
                }
            }
            self.links.insert(i, new);
        }
    }
}

#[cfg(test)]
mod tests {
    use netlink_packet_route::address::AddressMessage;
    use netlink_packet_route::link::{LinkAttribute, LinkMessage};

    use super::super::links::LinkFlags;
    use super::*;

    fn link(index: u32, name: &str, mtu: u32, addrs: &[&str]) -> Link {
        Link {
            index,
            name: name.into(),
            kind: None,
            tun: None,
            link_type: libc::ARPHRD_ETHER,
            mtu: Some(mtu),
            flags: LinkFlags(0),
            link: None,
            link_netnsid: None,
            addresses: addrs.iter().map(|a| IfAddr { addr: a.parse().unwrap(), prefix_len: 24, peer: None }).collect(),
        }
    }

    fn shown(pending: &VecDeque<LinkEvent>) -> Vec<String> {
        pending
            .iter()
            .map(|e| match e {
                LinkEvent::Added(l) => format!("added {}", l.name),
                LinkEvent::Removed(l) => format!("removed {}", l.name),
                LinkEvent::Changed { after, what, .. } => format!("changed {} {what:?}", after.name),
                LinkEvent::AddressAdded { addr, name, .. } => format!("+{addr} on {name:?}"),
                LinkEvent::AddressRemoved { addr, name, .. } => format!("-{addr} on {name:?}"),
            })
            .collect()
    }

    fn new_link(index: u32, name: &str, mtu: u32) -> RouteNetlinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.link_layer_type = netlink_packet_route::link::LinkLayerType::Ether;
        m.attributes = vec![LinkAttribute::IfName(name.into()), LinkAttribute::Mtu(mtu)];
        RouteNetlinkMessage::NewLink(m)
    }

    fn addr(index: u32, a: &str) -> AddressMessage {
        let mut m = AddressMessage::default();
        m.header.index = index;
        m.header.prefix_len = 24;
        m.attributes = vec![netlink_packet_route::address::AddressAttribute::Address(a.parse().unwrap())];
        m
    }

    /// Notifications become events against the known state: repeats and no-op changes vanish.
    #[test]
    fn notifications_are_reported_once_and_only_when_something_changed() {
        let mut s = State::default();
        s.apply(new_link(5, "d0", 1500));
        s.apply(new_link(5, "d0", 1500)); // the dump raced the notification: same state
        s.apply(new_link(5, "d0", 1400));
        s.apply(RouteNetlinkMessage::NewAddress(addr(5, "198.18.0.1")));
        s.apply(RouteNetlinkMessage::NewAddress(addr(5, "198.18.0.1"))); // flag update
        s.apply(RouteNetlinkMessage::NewAddress(addr(9, "198.18.1.1"))); // link not seen yet
        s.apply(new_link(5, "d1", 1400));
        s.apply(RouteNetlinkMessage::DelAddress(addr(5, "198.18.0.1")));
        s.apply(RouteNetlinkMessage::DelAddress(addr(5, "198.18.0.1")));
        let mut del = LinkMessage::default();
        del.header.index = 5;
        s.apply(RouteNetlinkMessage::DelLink(del.clone()));
        s.apply(RouteNetlinkMessage::DelLink(del));
        assert_eq!(
            shown(&s.pending),
            [
                "added d0",
                "changed d0 LinkChange { name: false, mtu: true, flags: false, other: false }",
                "+198.18.0.1/24 on Some(\"d0\")",
                "+198.18.1.1/24 on None",
                "changed d1 LinkChange { name: true, mtu: false, flags: false, other: false }",
                "-198.18.0.1/24 on Some(\"d1\")",
                "removed d1",
            ]
        );
        assert!(s.links.is_empty());
    }

    /// The resync after an overrun reports exactly what differs.
    #[test]
    fn a_new_dump_is_reported_as_its_differences() {
        let mut s = State::default();
        for l in [link(1, "lo", 65536, &[]), link(2, "a", 1500, &["198.18.0.1"]), link(3, "gone", 1500, &[])] {
            s.links.insert(l.index, l);
        }
        s.diff(Links {
            links: vec![link(1, "lo", 65536, &[]), link(2, "a", 1400, &["198.18.0.2"]), link(4, "new", 1500, &[])],
            undecoded: 0,
        });
        assert_eq!(
            shown(&s.pending),
            [
                "removed gone",
                "-198.18.0.1/24 on Some(\"a\")",
                "+198.18.0.2/24 on Some(\"a\")",
                "changed a LinkChange { name: false, mtu: true, flags: false, other: false }",
                "added new",
            ]
        );
        assert_eq!(s.links.keys().copied().collect::<Vec<_>>(), [1, 2, 4]);
        assert_eq!(s.links[&2].addresses.len(), 1);
    }
}

//! The links of our network namespace as rtnetlink describes them (what `ip -d link` and
//! `ip addr` show), and which of them are tunnels.

use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoData, LinkAttribute, LinkInfo, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use tuntrace_core::capture::linktype;
use tuntrace_core::event::{IfaceId, InterfaceInfo};

use super::netlink::{nla_bytes, Rtnl};
use super::HostError;

/// ARPHRD_* values libc does not name.
const ARPHRD_RAWIP: u16 = 519;
const ARPHRD_IP6GRE: u16 = 823;

/// One link of our network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// The driver kind of IFLA_LINKINFO; `None` for devices without one (loopback, NICs).
    pub kind: Option<LinkKind>,
    /// TUN/TAP details, when the kernel gives them (IFLA_INFO_DATA of kind `tun`).
    pub tun: Option<TunDetails>,
    /// ARPHRD_* link type; see [`Link::l2_header_len`].
    pub link_type: u16,
    pub mtu: Option<u32>,
    pub flags: LinkFlags,
    /// IFLA_LINK: the veth peer's or a tunnel's underlying ifindex, in the namespace
    /// `link_netnsid` names when that is set, else in ours.
    pub link: Option<u32>,
    /// IFLA_LINK_NETNSID: our namespace's id for the namespace the peer/underlay lives in.
    pub link_netnsid: Option<i32>,
    pub addresses: Vec<IfAddr>,
}

/// Link kinds the tracer tells apart; anything else keeps the kernel's name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LinkKind {
    Tun,
    Wireguard,
    Gre,
    GreTap,
    Ip6Gre,
    Ip6GreTap,
    Erspan,
    Ip6Erspan,
    Ipip,
    Sit,
    Ip6Tnl,
    Vti,
    Vti6,
    Xfrm,
    Gtp,
    Veth,
    Vxlan,
    Geneve,
    Dummy,
    Bridge,
    Vlan,
    Macvlan,
    Bond,
    Vrf,
    Other(String),
}

const KINDS: &[(&str, LinkKind)] = &[
    ("tun", LinkKind::Tun),
    ("wireguard", LinkKind::Wireguard),
    ("gre", LinkKind::Gre),
    ("gretap", LinkKind::GreTap),
    ("ip6gre", LinkKind::Ip6Gre),
    ("ip6gretap", LinkKind::Ip6GreTap),
    ("erspan", LinkKind::Erspan),
    ("ip6erspan", LinkKind::Ip6Erspan),
    ("ipip", LinkKind::Ipip),
    ("sit", LinkKind::Sit),
    ("ip6tnl", LinkKind::Ip6Tnl),
    ("vti", LinkKind::Vti),
    ("vti6", LinkKind::Vti6),
    ("xfrm", LinkKind::Xfrm),
    ("gtp", LinkKind::Gtp),
    ("veth", LinkKind::Veth),
    ("vxlan", LinkKind::Vxlan),
    ("geneve", LinkKind::Geneve),
    ("dummy", LinkKind::Dummy),
    ("bridge", LinkKind::Bridge),
    ("vlan", LinkKind::Vlan),
    ("macvlan", LinkKind::Macvlan),
    ("bond", LinkKind::Bond),
    ("vrf", LinkKind::Vrf),
];

impl LinkKind {
    /// From the kernel's IFLA_INFO_KIND string.
    pub fn from_kernel(name: &str) -> LinkKind {
        KINDS.iter().find(|(n, _)| *n == name).map(|(_, k)| k.clone()).unwrap_or_else(|| LinkKind::Other(name.into()))
    }

    /// The kernel's IFLA_INFO_KIND string (what `ip -d link` prints).
    pub fn as_str(&self) -> &str {
        match self {
            LinkKind::Other(s) => s,
            known => KINDS.iter().find(|(_, k)| k == known).map(|(n, _)| *n).unwrap_or(""),
        }
    }

    /// Kinds whose devices carry a host's traffic inside another protocol (VPNs, IPsec, IP in
    /// IP). VXLAN and Geneve are left out: they are L2 overlays for bridges and containers,
    /// not the tunnels tuntrace explains, and a caller that wants them can match the kind.
    pub fn is_tunnel(&self) -> bool {
        use LinkKind::*;
        matches!(
            self,
            Tun | Wireguard
                | Gre
                | GreTap
                | Ip6Gre
                | Ip6GreTap
                | Erspan
                | Ip6Erspan
                | Ipip
                | Sit
                | Ip6Tnl
                | Vti
                | Vti6
                | Xfrm
                | Gtp
        )
    }

    /// Kinds we know are not tunnels whatever their name says.
    fn is_known_plain(&self) -> bool {
        use LinkKind::*;
        matches!(self, Veth | Vxlan | Geneve | Dummy | Bridge | Vlan | Macvlan | Bond | Vrf)
    }
}

/// What the kernel says about a TUN/TAP device (IFLA_TUN_*; Linux ≥ 4.15).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TunDetails {
    /// `None` when the kernel did not send IFLA_TUN_TYPE.
    pub mode: Option<TunMode>,
    /// Only the owner/group set with TUNSETOWNER/TUNSETGROUP; the kernel sends none otherwise.
    pub owner: Option<u32>,
    pub group: Option<u32>,
    /// IFF_NO_PI unset: frames carry the 4-byte packet-information header to the holder.
    pub pi: Option<bool>,
    pub vnet_hdr: Option<bool>,
    pub persist: Option<bool>,
    pub multi_queue: Option<bool>,
    pub num_queues: Option<u32>,
    pub num_disabled_queues: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunMode {
    /// IFF_TUN: IP packets, no link-layer header.
    Tun,
    /// IFF_TAP: Ethernet frames.
    Tap,
}

// IFLA_TUN_* from <linux/if_link.h>; netlink-packet-route leaves them undecoded.
const IFLA_TUN_OWNER: u16 = 1;
const IFLA_TUN_GROUP: u16 = 2;
const IFLA_TUN_TYPE: u16 = 3;
const IFLA_TUN_PI: u16 = 4;
const IFLA_TUN_VNET_HDR: u16 = 5;
const IFLA_TUN_PERSIST: u16 = 6;
const IFLA_TUN_MULTI_QUEUE: u16 = 7;
const IFLA_TUN_NUM_QUEUES: u16 = 8;
const IFLA_TUN_NUM_DISABLED_QUEUES: u16 = 9;

impl TunDetails {
    /// From (IFLA_TUN_* type, value) pairs. The kernel sends u8 flags and u32 ids and counts
    /// in host byte order; a value of the wrong size is taken as absent.
    pub fn from_attributes<'a>(attrs: impl IntoIterator<Item = (u16, &'a [u8])>) -> TunDetails {
        let flag = |v: &[u8]| if v.len() == 1 { Some(v[0] != 0) } else { None };
        let word = |v: &[u8]| <[u8; 4]>::try_from(v).ok().map(u32::from_ne_bytes);
        let mut t = TunDetails::default();
        for (kind, v) in attrs {
            match kind {
                IFLA_TUN_OWNER => t.owner = word(v),
                IFLA_TUN_GROUP => t.group = word(v),
                IFLA_TUN_TYPE => {
                    t.mode = match v.first().map(|b| *b as i32) {
                        Some(libc::IFF_TUN) => Some(TunMode::Tun),
                        Some(libc::IFF_TAP) => Some(TunMode::Tap),
                        _ => None,
                    }
                }
                IFLA_TUN_PI => t.pi = flag(v),
                IFLA_TUN_VNET_HDR => t.vnet_hdr = flag(v),
                IFLA_TUN_PERSIST => t.persist = flag(v),
                IFLA_TUN_MULTI_QUEUE => t.multi_queue = flag(v),
                IFLA_TUN_NUM_QUEUES => t.num_queues = word(v),
                IFLA_TUN_NUM_DISABLED_QUEUES => t.num_disabled_queues = word(v),
                _ => {}
            }
        }
        t
    }
}

/// IFF_* flags of a link (`ip link`'s `<UP,LOWER_UP,…>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkFlags(pub u32);

impl LinkFlags {
    fn has(self, f: i32) -> bool {
        self.0 & f as u32 != 0
    }
    pub fn up(self) -> bool {
        self.has(libc::IFF_UP)
    }
    /// Operationally up (IFF_RUNNING): for a TUN, a process has it open.
    pub fn running(self) -> bool {
        self.has(libc::IFF_RUNNING)
    }
    pub fn lower_up(self) -> bool {
        self.has(libc::IFF_LOWER_UP)
    }
    pub fn point_to_point(self) -> bool {
        self.has(libc::IFF_POINTOPOINT)
    }
    pub fn noarp(self) -> bool {
        self.has(libc::IFF_NOARP)
    }
    pub fn loopback(self) -> bool {
        self.has(libc::IFF_LOOPBACK)
    }
}

/// An address on a link, with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IfAddr {
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// The far end of a point-to-point address (`ip addr add A peer B`).
    pub peer: Option<IpAddr>,
}

impl std::fmt::Display for IfAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)?;
        if let Some(p) = self.peer {
            write!(f, " peer {p}")?;
        }
        Ok(())
    }
}

impl Link {
    /// Bytes of link-layer header in front of the network header in this device's frames (what a
    /// tc program or packet socket sees): 14 for Ethernet (TAP, veth, loopback too), 0 for
    /// TUN, WireGuard and IP tunnels (ARPHRD_NONE, TUNNEL, SIT, IPGRE…). `None` for link types
    /// we do not know. A GRE device without a fixed remote (NBMA mode) is the exception the
    /// link type does not show: the kernel puts a header in front there.
    pub fn l2_header_len(&self) -> Option<u8> {
        match self.link_type {
            libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => Some(14),
            libc::ARPHRD_NONE
            | libc::ARPHRD_TUNNEL
            | libc::ARPHRD_TUNNEL6
            | libc::ARPHRD_SIT
            | libc::ARPHRD_IPGRE
            | libc::ARPHRD_PPP
            | ARPHRD_IP6GRE
            | ARPHRD_RAWIP => Some(0),
            _ => None,
        }
    }

    /// The pcap LINKTYPE of frames captured on this link: Ethernet, or raw IP.
    pub fn pcap_linktype(&self) -> Option<u32> {
        match self.l2_header_len()? {
            14 => Some(linktype::EN10MB),
            _ => Some(linktype::RAW),
        }
    }

    /// Whether this is a tunnel: by kind when the kernel names one we know (TUN and TAP
    /// included), else by name (see [`tunnel_name`]).
    pub fn is_tunnel(&self) -> bool {
        match &self.kind {
            Some(k) if k.is_tunnel() => true,
            Some(k) if k.is_known_plain() => false,
            _ => tunnel_name(&self.name),
        }
    }

    /// The link as the event vocabulary announces it; `id` is the stream's index for it and
    /// `netns` the namespace it lives in (as the stream names namespaces).
    pub fn to_interface_info(&self, id: IfaceId, netns: Option<u64>) -> InterfaceInfo {
        InterfaceInfo {
            id,
            name: Some(self.name.clone()),
            linktype: self.pcap_linktype().unwrap_or(linktype::EN10MB),
            mtu: self.mtu,
            addresses: self.addresses.iter().map(|a| a.addr.to_string()).collect(),
            owner: None,
            created_by: None,
            netns,
            ifindex: Some(self.index),
            link_kind: self.kind.as_ref().map(|k| k.as_str().to_string()),
            created_before_start: false,
        }
    }

    /// From an RTM_NEWLINK/RTM_DELLINK message (addresses come separately).
    pub(crate) fn from_message(m: &LinkMessage) -> Link {
        let mut link = Link {
            index: m.header.index,
            name: String::new(),
            kind: None,
            tun: None,
            link_type: m.header.link_layer_type.into(),
            mtu: None,
            flags: LinkFlags(m.header.flags.bits()),
            link: None,
            link_netnsid: None,
            addresses: Vec::new(),
        };
        for attr in &m.attributes {
            match attr {
                LinkAttribute::IfName(n) => link.name = n.clone(),
                LinkAttribute::Mtu(v) => link.mtu = Some(*v),
                LinkAttribute::Link(v) => link.link = Some(*v),
                LinkAttribute::LinkNetNsId(v) => link.link_netnsid = Some(*v),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        match info {
                            LinkInfo::Kind(k) => link.kind = Some(LinkKind::from_kernel(&k.to_string())),
                            LinkInfo::Data(InfoData::Tun(attrs)) => {
                                let raw: Vec<(u16, Vec<u8>)> = attrs
                                    .iter()
                                    .map(|a| match a {
                                        netlink_packet_route::link::InfoTun::Other(nla) => nla_bytes(nla),
                                        // A later crate may decode some; those we then do not read.
                                        #[allow(unreachable_patterns)]
                                        _ => (0, Vec::new()),
                                    })
                                    .collect();
                                link.tun = Some(TunDetails::from_attributes(raw.iter().map(|(k, v)| (*k, &v[..]))));
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if link.kind == Some(LinkKind::Tun) && link.tun.is_none() {
            // Kernels before 4.15 send no IFLA_INFO_DATA for tun.
            link.tun = Some(TunDetails::default());
        }
        link
    }
}

/// Names that userspace tunnels take (strongSwan's kernel-libipsec `ipsec0`, macOS `utun3`,
/// OpenVPN `tun0`, wireguard-go `wg0`, wg-quick `wg-home`): `ipsec*`, `utun*`, `tun*`, `wg*`.
pub fn tunnel_name(name: &str) -> bool {
    ["ipsec", "utun", "tun", "wg"].iter().any(|p| name.starts_with(p))
}

/// An address from an RTM_NEWADDR/RTM_DELADDR message, with the ifindex it belongs to.
pub(crate) fn address_from_message(m: &AddressMessage) -> Option<(u32, IfAddr)> {
    let mut address = None;
    let mut local = None;
    for attr in &m.attributes {
        match attr {
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Local(a) => local = Some(*a),
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address when present; IFA_ADDRESS is then the peer of
    // a point-to-point link (or the same address again).
    let (addr, peer) = match (local, address) {
        (Some(l), Some(a)) if l != a => (l, Some(a)),
        (Some(l), _) => (l, None),
        (None, Some(a)) => (a, None),
        (None, None) => return None,
    };
    Some((m.header.index, IfAddr { addr, prefix_len: m.header.prefix_len, peer }))
}

/// Every link of our namespace at one moment, with its addresses.
#[derive(Debug, Clone, Default)]
pub struct Links {
    pub links: Vec<Link>,
    /// Kernel messages the netlink crate could not decode (skipped, not guessed at).
    pub undecoded: u32,
}

impl Links {
    pub fn by_index(&self, index: u32) -> Option<&Link> {
        self.links.iter().find(|l| l.index == index)
    }

    pub fn by_name(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }

    pub fn tunnels(&self) -> impl Iterator<Item = &Link> {
        self.links.iter().filter(|l| l.is_tunnel())
    }
}

/// All links of the calling thread's network namespace, with their addresses (RTM_GETLINK and
/// RTM_GETADDR dumps).
pub fn snapshot() -> Result<Links, HostError> {
    let mut rtnl = Rtnl::open()?;
    snapshot_with(&mut rtnl)
}

pub(crate) fn snapshot_with(rtnl: &mut Rtnl) -> Result<Links, HostError> {
    let answer = rtnl.dump("RTM_GETLINK", RouteNetlinkMessage::GetLink(LinkMessage::default()))?;
    let mut links = Links { links: Vec::new(), undecoded: answer.undecoded };
    for m in answer.messages {
        if let RouteNetlinkMessage::NewLink(l) = m {
            links.links.push(Link::from_message(&l));
        }
    }
    let answer = rtnl.dump("RTM_GETADDR", RouteNetlinkMessage::GetAddress(AddressMessage::default()))?;
    links.undecoded += answer.undecoded;
    for m in answer.messages {
        if let RouteNetlinkMessage::NewAddress(a) = m {
            if let Some((index, addr)) = address_from_message(&a) {
                if let Some(l) = links.links.iter_mut().find(|l| l.index == index) {
                    l.addresses.push(addr);
                }
            }
        }
    }
    links.links.sort_by_key(|l| l.index);
    Ok(links)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, kind: Option<&str>, link_type: u16) -> Link {
        Link {
            index: 1,
            name: name.into(),
            kind: kind.map(LinkKind::from_kernel),
            tun: None,
            link_type,
            mtu: None,
            flags: LinkFlags::default(),
            link: None,
            link_netnsid: None,
            addresses: Vec::new(),
        }
    }

    #[test]
    fn kinds_round_trip_through_the_kernel_names() {
        for (name, kind) in KINDS {
            assert_eq!(&LinkKind::from_kernel(name), kind);
            assert_eq!(kind.as_str(), *name);
        }
        assert_eq!(LinkKind::from_kernel("macsec"), LinkKind::Other("macsec".into()));
        assert_eq!(LinkKind::Other("macsec".into()).as_str(), "macsec");
    }

    #[test]
    fn tunnels_by_kind_first_then_by_name() {
        for kind in ["tun", "wireguard", "gre", "ipip", "sit", "ip6tnl", "vti", "vti6", "xfrm", "ip6gre"] {
            assert!(link("x0", Some(kind), libc::ARPHRD_NONE).is_tunnel(), "{kind}");
        }
        for kind in ["veth", "dummy", "bridge", "vxlan", "geneve"] {
            assert!(!link("eth0", Some(kind), libc::ARPHRD_ETHER).is_tunnel(), "{kind}");
        }
        // A dummy named like a tunnel is still a dummy.
        assert!(!link("wg0", Some("dummy"), libc::ARPHRD_ETHER).is_tunnel());
        // No kind (or one we do not know): the name decides.
        for name in ["ipsec0", "utun3", "tun0", "tun", "wg0", "wg-home", "tunnel"] {
            assert!(link(name, None, libc::ARPHRD_NONE).is_tunnel(), "{name}");
            assert!(link(name, Some("mystery"), libc::ARPHRD_NONE).is_tunnel(), "{name}");
        }
        for name in ["lo", "eth0", "wlan0", "ppp0", "xwg0", "gretun"] {
            assert!(!link(name, None, libc::ARPHRD_ETHER).is_tunnel(), "{name}");
        }
        // A TAP is a tunnel whatever it is called.
        let mut tap = link("vm-net", Some("tun"), libc::ARPHRD_ETHER);
        tap.tun = Some(TunDetails { mode: Some(TunMode::Tap), ..Default::default() });
        assert!(tap.is_tunnel());
    }

    #[test]
    fn link_layer_header_lengths() {
        assert_eq!(link("tun0", Some("tun"), libc::ARPHRD_NONE).l2_header_len(), Some(0));
        assert_eq!(link("tap0", Some("tun"), libc::ARPHRD_ETHER).l2_header_len(), Some(14));
        assert_eq!(link("lo", None, libc::ARPHRD_LOOPBACK).l2_header_len(), Some(14));
        assert_eq!(link("sit0", Some("sit"), libc::ARPHRD_SIT).l2_header_len(), Some(0));
        assert_eq!(link("gre1", Some("gre"), libc::ARPHRD_IPGRE).l2_header_len(), Some(0));
        assert_eq!(link("ip6gre1", Some("ip6gre"), ARPHRD_IP6GRE).l2_header_len(), Some(0));
        assert_eq!(link("can0", None, 280).l2_header_len(), None);
        assert_eq!(link("tun0", Some("tun"), libc::ARPHRD_NONE).pcap_linktype(), Some(linktype::RAW));
        assert_eq!(link("veth0", Some("veth"), libc::ARPHRD_ETHER).pcap_linktype(), Some(linktype::EN10MB));
    }

    #[test]
    fn tun_attributes() {
        let uid = 1000u32.to_ne_bytes();
        let queues = 4u32.to_ne_bytes();
        let t = TunDetails::from_attributes([
            (IFLA_TUN_TYPE, &[libc::IFF_TAP as u8][..]),
            (IFLA_TUN_OWNER, &uid[..]),
            (IFLA_TUN_PI, &[0][..]),
            (IFLA_TUN_PERSIST, &[1][..]),
            (IFLA_TUN_MULTI_QUEUE, &[1][..]),
            (IFLA_TUN_NUM_QUEUES, &queues[..]),
            // Wrong size: ignored rather than misread.
            (IFLA_TUN_GROUP, &[1, 2][..]),
            (99, &[7][..]),
        ]);
        assert_eq!(t.mode, Some(TunMode::Tap));
        assert_eq!(t.owner, Some(1000));
        assert_eq!(t.group, None);
        assert_eq!(t.pi, Some(false));
        assert_eq!(t.persist, Some(true));
        assert_eq!(t.multi_queue, Some(true));
        assert_eq!(t.num_queues, Some(4));
        assert_eq!(t.vnet_hdr, None);
        let t = TunDetails::from_attributes([(IFLA_TUN_TYPE, &[libc::IFF_TUN as u8][..])]);
        assert_eq!(t.mode, Some(TunMode::Tun));
    }

    #[test]
    fn point_to_point_addresses_keep_the_peer() {
        use netlink_packet_route::address::AddressHeader;
        let mut m = AddressMessage::default();
        m.header = AddressHeader { index: 7, prefix_len: 32, ..Default::default() };
        m.attributes = vec![
            AddressAttribute::Address("198.18.0.9".parse().unwrap()),
            AddressAttribute::Local("198.18.0.8".parse().unwrap()),
        ];
        let (index, a) = address_from_message(&m).unwrap();
        assert_eq!(index, 7);
        assert_eq!(a.to_string(), "198.18.0.8/32 peer 198.18.0.9");
        m.attributes = vec![AddressAttribute::Address("2001:2::1".parse().unwrap())];
        m.header.prefix_len = 64;
        assert_eq!(address_from_message(&m).unwrap().1.to_string(), "2001:2::1/64");
        m.attributes.clear();
        assert_eq!(address_from_message(&m), None);
    }
}

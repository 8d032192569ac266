//! Link layers: from a captured frame to the network-layer bytes it carries.
//!
//! Hot path: every packet of a replay goes through [`decode`], so it only reads fixed offsets and
//! returns borrowed slices. Nothing here allocates or copies.

use crate::decode::{be16, Malformed};
use crate::event::Direction;

// pcap LINKTYPE_* numbers: one table for the readers and the decoders.
pub use crate::linktype::{
    C_HDLC, EN10MB, ENC, ERF, IEEE802_11, IEEE802_11_AVS, IEEE802_11_PRISM, IEEE802_11_RADIOTAP, IPV4, IPV6, LINUX_SLL,
    LINUX_SLL2, LOOP, NFLOG, NULL, PKTAP, PPI, RAW, RAW_DLT12 as DLT_RAW_12, RAW_DLT14 as DLT_RAW_14, USER2,
};

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Reverse ARP: same packet format, reported as ARP.
pub const ETHERTYPE_RARP: u16 = 0x8035;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;
pub const ETHERTYPE_PPPOE_DISCOVERY: u16 = 0x8863;
/// pcap link types of PPP (9), PPP in HDLC-like framing or Cisco HDLC (50), and PPP with a
/// direction byte (204).
pub const PPP: u32 = 9;
pub const PPP_HDLC: u32 = 50;
pub const PPP_WITH_DIR: u32 = 204;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
const ETHERTYPE_MPLS: u16 = 0x8847;
const ETHERTYPE_MPLS_MULTICAST: u16 = 0x8848;

/// Labels walked before an MPLS stack is taken for garbage (real stacks hold two to four).
const MAX_MPLS_LABELS: usize = 16;

/// Stacked VLAN tags beyond this are not real traffic (QinQ uses two); stop walking.
const MAX_VLAN_TAGS: usize = 8;

/// Size of the pktap header Apple's tcpdump writes (v1 layout); longer headers are allowed.
pub const PKTAP_MIN_HEADER: usize = 108;

/// Network-layer content of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3<'a> {
    /// Starts at the IPv4 header; may carry link padding after the datagram (ip trims it).
    Ipv4(&'a [u8]),
    Ipv6(&'a [u8]),
    Arp,
    /// PPPoE's session stage (ethertype 0x8864): the bytes after the ethertype.
    Pppoe(&'a [u8]),
    /// PPPoE's discovery stage (ethertype 0x8863): the bytes after the ethertype.
    PppoeDiscovery(&'a [u8]),
    /// An Ethernet/SLL protocol we do not decode.
    Other {
        ethertype: u16,
    },
    /// A link type, address family or frame format we do not decode.
    Unsupported,
}

/// Process and interface facts from an Apple PKTAP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PktapMeta<'a> {
    /// Interface the packet went through (`en0`, `utun3`, `ipsec0`).
    pub ifname: &'a str,
    /// `None` when the kernel recorded no process (-1).
    pub pid: Option<u32>,
    pub comm: Option<&'a str>,
    /// Process the owner acted for (delegation, e.g. nsurlsessiond for an app).
    pub epid: Option<u32>,
    pub ecomm: Option<&'a str>,
    pub direction: Direction,
    /// Raw `pth_flags` (direction, delegation, retransmission bits).
    pub flags: u32,
    /// DLT of the frame that follows the header.
    pub inner_dlt: u32,
    pub protocol_family: u32,
    pub svc: u32,
    pub iftype: u16,
    pub ifunit: u16,
}

/// A decoded link layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link<'a> {
    pub l3: L3<'a>,
    /// Present for PKTAP / USER2 frames.
    pub pktap: Option<PktapMeta<'a>>,
    /// From the link header when it says (SLL packet type, pktap flags); else `Unknown`.
    pub direction: Direction,
    /// Interface index from a LINUX_SLL2 header (captures on Linux's `any` device).
    pub ifindex: Option<u32>,
}

impl<'a> Link<'a> {
    #[inline]
    fn plain(l3: L3<'a>) -> Self {
        Link { l3, pktap: None, direction: Direction::Unknown, ifindex: None }
    }
}

/// Decode the link header of `frame`, captured with pcap link type `linktype`.
#[inline]
pub fn decode(linktype: u32, frame: &[u8]) -> Result<Link<'_>, Malformed> {
    match linktype {
        PKTAP | USER2 => pktap(frame),
        _ => decode_plain(linktype, frame),
    }
}

/// Every link type except PKTAP, which is only allowed one level deep.
#[inline]
fn decode_plain(linktype: u32, frame: &[u8]) -> Result<Link<'_>, Malformed> {
    use crate::decode::{erf, wifi};
    match linktype {
        EN10MB => ethernet(frame).map(Link::plain),
        RAW | DLT_RAW_12 | DLT_RAW_14 => raw(frame).map(Link::plain),
        NULL => {
            let af = frame.get(..4).ok_or(Malformed::new("null header truncated"))?;
            let le = u32::from_le_bytes([af[0], af[1], af[2], af[3]]);
            // Host byte order of the writer: address families are small, so a value with high
            // bits set was written big-endian.
            let af = if le > 0xffff { le.swap_bytes() } else { le };
            Ok(Link::plain(address_family(af, &frame[4..])))
        }
        LOOP => {
            let af = crate::decode::be32(frame, 0).ok_or(Malformed::new("loop header truncated"))?;
            Ok(Link::plain(address_family(af, &frame[4..])))
        }
        PPP => ppp_l3(crate::decode::tunnel::ppp::link_frame(frame)).map(Link::plain),
        PPP_HDLC | C_HDLC => ppp_l3(crate::decode::tunnel::ppp::hdlc_frame(frame)).map(Link::plain),
        IEEE802_11 => wifi_l3(frame, false).map(Link::plain),
        IEEE802_11_RADIOTAP => {
            let (frame, datapad) = wifi::radiotap(frame)?;
            wifi_l3(frame, datapad).map(Link::plain)
        }
        IEEE802_11_PRISM => wifi_l3(wifi::prism(frame)?, false).map(Link::plain),
        IEEE802_11_AVS => wifi_l3(wifi::avs(frame)?, false).map(Link::plain),
        PPI => match wifi::ppi(frame)? {
            // One level: PPI (or PKTAP) inside PPI is not followed.
            (PPI | PKTAP | USER2, _) => Ok(Link::plain(L3::Unsupported)),
            (dlt, inner) => decode_plain(crate::linktype::canonical(dlt), inner),
        },
        ERF => ppp_l3(erf::record(frame)).map(Link::plain),
        PPP_WITH_DIR => {
            let (sent, payload) = crate::decode::tunnel::ppp::with_dir_frame(frame)?;
            let direction = if sent { Direction::Out } else { Direction::In };
            Ok(Link { direction, ..Link::plain(ppp_l3(Ok(payload))?) })
        }
        IPV4 => Ok(Link::plain(L3::Ipv4(frame))),
        IPV6 => Ok(Link::plain(L3::Ipv6(frame))),
        LINUX_SLL => {
            if frame.len() < 16 {
                return Err(Malformed::new("sll header truncated"));
            }
            let pkttype = be16(frame, 0).unwrap_or(0);
            let hatype = be16(frame, 2).unwrap_or(0);
            let proto = be16(frame, 14).unwrap_or(0);
            let l3 = sll_protocol(hatype, proto, &frame[16..])?;
            Ok(Link { l3, pktap: None, direction: sll_direction(pkttype), ifindex: None })
        }
        LINUX_SLL2 => {
            if frame.len() < 20 {
                return Err(Malformed::new("sll2 header truncated"));
            }
            let proto = be16(frame, 0).unwrap_or(0);
            let ifindex = crate::decode::be32(frame, 4);
            let hatype = be16(frame, 8).unwrap_or(0);
            let pkttype = frame[10] as u16;
            let l3 = sll_protocol(hatype, proto, &frame[20..])?;
            Ok(Link { l3, pktap: None, direction: sll_direction(pkttype), ifindex })
        }
        NFLOG => nflog(frame),
        ENC => {
            // OpenBSD's struct enchdr: address family and flags in the writer's byte order,
            // the SA's SPI between them; the packet follows.
            let af = frame.get(..4).ok_or(Malformed::new("enc header truncated"))?;
            let rest = frame.get(12..).ok_or(Malformed::new("enc header truncated"))?;
            let le = u32::from_le_bytes([af[0], af[1], af[2], af[3]]);
            let af = if le > 0xffff { le.swap_bytes() } else { le };
            Ok(Link::plain(address_family(af, rest)))
        }
        _ => Ok(Link::plain(L3::Unsupported)),
    }
}

/// NFLOG's attributes this decoder reads (linux/netfilter/nfnetlink_log.h).
const NFULA_IFINDEX_INDEV: u16 = 4;
const NFULA_IFINDEX_OUTDEV: u16 = 5;
const NFULA_PAYLOAD: u16 = 9;
/// The highest attribute type Linux defines (NFULA_CT_INFO); a type read above it means the
/// other byte order.
const NFULA_MAX: u16 = 19;

/// LINKTYPE_NFLOG (239), what `tcpdump -i nflog:N` writes of packets an iptables or nftables
/// NFLOG rule logged (strongSwan's way to see IPsec traffic before encryption and after
/// decryption): an address family, a version (0) and a resource ID (the group), then netlink
/// attributes whose length and type are in the byte order of the host that captured. The
/// packet, from its IP header, is the payload attribute; the interfaces say the direction
/// (only an input device: received; only an output device: sent; both: forwarded).
fn nflog(frame: &[u8]) -> Result<Link<'_>, Malformed> {
    let [family, version, _, _] = *frame.first_chunk::<4>().ok_or(Malformed::new("nflog header truncated"))?;
    if version != 0 {
        return Err(Malformed::new("nflog version unknown"));
    }
    // Types are small numbers: the order that reads the first one as such is the writer's.
    let little = match frame.get(4..8) {
        Some(t) => {
            let ty = u16::from_le_bytes([t[2], t[3]]) & 0x3fff;
            (1..=NFULA_MAX).contains(&ty)
        }
        None => true,
    };
    let u16_at = |b: &[u8]| if little { u16::from_le_bytes([b[0], b[1]]) } else { u16::from_be_bytes([b[0], b[1]]) };
    let (mut indev, mut outdev, mut payload) = (None, None, None);
    let mut at = 4;
    while at < frame.len() {
        let h = frame.get(at..at + 4).ok_or(Malformed::new("nflog attribute truncated"))?;
        let (len, ty) = (usize::from(u16_at(&h[..2])), u16_at(&h[2..]) & 0x3fff);
        if len < 4 {
            return Err(Malformed::new("nflog attribute length"));
        }
        let value = frame.get(at + 4..at + len).ok_or(Malformed::new("nflog attribute truncated"))?;
        match ty {
            // Interface indices are in network byte order whatever the host's.
            NFULA_IFINDEX_INDEV => indev = crate::decode::be32(value, 0),
            NFULA_IFINDEX_OUTDEV => outdev = crate::decode::be32(value, 0),
            NFULA_PAYLOAD => payload = Some(value),
            _ => {}
        }
        // Attributes are padded to 4 bytes; the last one's padding may be left out.
        at += (len + 3) & !3;
    }
    let packet = payload.ok_or(Malformed::new("nflog record without the packet"))?;
    let l3 = match (family, packet.first().map(|b| b >> 4)) {
        (2, _) | (_, Some(4)) => L3::Ipv4(packet),
        (10, _) | (_, Some(6)) => L3::Ipv6(packet),
        _ => L3::Unsupported,
    };
    let (direction, ifindex) = match (indev, outdev) {
        (Some(i), None) => (Direction::In, Some(i)),
        (None, Some(o)) => (Direction::Out, Some(o)),
        _ => (Direction::Unknown, indev),
    };
    Ok(Link { l3, pktap: None, direction, ifindex })
}

/// The network layer of a PPP link's frame: IP by its version nibble, nothing for control
/// protocols (LCP, IPCP…).
fn ppp_l3(p: Result<crate::decode::tunnel::Payload<'_>, Malformed>) -> Result<L3<'_>, Malformed> {
    use crate::decode::tunnel::Payload;
    Ok(match p? {
        Payload::Ip(b) => raw(b)?,
        Payload::Ethernet(b) => ethernet(b)?,
        Payload::Ppp(_) | Payload::None => L3::Unsupported,
    })
}

/// An 802.11 frame's network layer: the ethertype its LLC/SNAP header names (VLAN tags and
/// all, as on Ethernet), or nothing for frames that carry no packet.
fn wifi_l3(frame: &[u8], datapad: bool) -> Result<L3<'_>, Malformed> {
    Ok(match crate::decode::wifi::data_payload(frame, datapad)? {
        Some((ethertype, rest)) => ethertype_payload(ethertype, rest)?,
        None => L3::Unsupported,
    })
}

#[inline]
fn address_family(af: u32, rest: &[u8]) -> L3<'_> {
    match af {
        2 => L3::Ipv4(rest),
        // AF_INET6 differs per OS: Linux, OpenBSD/NetBSD, FreeBSD, Darwin.
        10 | 24 | 28 | 30 => L3::Ipv6(rest),
        _ => L3::Unsupported,
    }
}

#[inline]
fn raw(frame: &[u8]) -> Result<L3<'_>, Malformed> {
    match frame.first().map(|b| b >> 4) {
        None => Err(Malformed::new("raw frame empty")),
        Some(4) => Ok(L3::Ipv4(frame)),
        Some(6) => Ok(L3::Ipv6(frame)),
        Some(_) => Err(Malformed::new("raw ip version unknown")),
    }
}

#[inline]
fn ethernet(frame: &[u8]) -> Result<L3<'_>, Malformed> {
    let ethertype = be16(frame, 12).ok_or(Malformed::new("ethernet header truncated"))?;
    ethertype_payload(ethertype, &frame[14..])
}

/// Dispatch on an ethertype, walking any 802.1Q / 802.1ad tags first.
#[inline]
fn ethertype_payload(ethertype: u16, rest: &[u8]) -> Result<L3<'_>, Malformed> {
    ethertype_payload_in(ethertype, rest, true)
}

/// [`ethertype_payload`], following an MPLS label stack only when `mpls` (not inside a
/// pseudowire's frame: each level would be a frame inside a frame, without bound).
#[inline]
fn ethertype_payload_in(mut ethertype: u16, mut rest: &[u8], mpls: bool) -> Result<L3<'_>, Malformed> {
    let mut tags = 0;
    while matches!(ethertype, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
        tags += 1;
        if tags > MAX_VLAN_TAGS {
            return Err(Malformed::new("too many vlan tags"));
        }
        ethertype = be16(rest, 2).ok_or(Malformed::new("vlan tag truncated"))?;
        rest = &rest[4..];
    }
    Ok(match ethertype {
        ETHERTYPE_IPV4 => L3::Ipv4(rest),
        ETHERTYPE_IPV6 => L3::Ipv6(rest),
        ETHERTYPE_ARP | ETHERTYPE_RARP => L3::Arp,
        ETHERTYPE_PPPOE_SESSION => L3::Pppoe(rest),
        ETHERTYPE_PPPOE_DISCOVERY => L3::PppoeDiscovery(rest),
        ETHERTYPE_MPLS | ETHERTYPE_MPLS_MULTICAST if mpls => mpls_payload(ethertype, rest)?,
        // Below 0x0600 the field is an 802.3 length and LLC follows: not decoded.
        t if t < 0x0600 => L3::Unsupported,
        t => L3::Other { ethertype: t },
    })
}

/// Where an MPLS label stack (RFC 3032) ends: the offset just past the label with the
/// bottom-of-stack bit. `Err` for a stack cut short or deeper than [`MAX_MPLS_LABELS`].
pub(crate) fn mpls_stack_end(b: &[u8]) -> Result<usize, Malformed> {
    for label in 0..MAX_MPLS_LABELS {
        let entry = b.get(label * 4..label * 4 + 4).ok_or(Malformed::new("mpls label stack truncated"))?;
        if entry[2] & 0x01 != 0 {
            return Ok(label * 4 + 4);
        }
    }
    Err(Malformed::new("mpls label stack too deep"))
}

/// What an MPLS-labelled frame carries: IPv4 or IPv6 when the first nibble after the stack
/// says so (as tcpdump and tshark read it); otherwise an Ethernet pseudowire (RFC 4448), with
/// or without its control word (RFC 4385: four bytes, first nibble 0), followed into its frame
/// once (VLAN tags included, not another label stack). Which of the two it is shows in where
/// an ethertype tuntrace decodes sits (tshark guesses from the first bytes' vendor codes);
/// when both read, the frame without a control word is taken. Anything else is not decoded.
fn mpls_payload(ethertype: u16, rest: &[u8]) -> Result<L3<'_>, Malformed> {
    let at = mpls_stack_end(rest)?;
    let payload = &rest[at..];
    let first = payload.first().map(|v| v >> 4);
    if let Some(4) = first {
        return Ok(L3::Ipv4(payload));
    }
    if let Some(6) = first {
        return Ok(L3::Ipv6(payload));
    }
    let Some(frame) = pseudowire_frame(payload) else {
        return Ok(L3::Other { ethertype });
    };
    Ok(match ethertype_payload_in(be16(frame, 12).unwrap_or(0), &frame[14..], false)? {
        L3::Other { .. } | L3::Unsupported => L3::Other { ethertype },
        l3 => l3,
    })
}

/// The Ethernet frame an MPLS pseudowire carries after its label stack (`payload`), behind a
/// control word (RFC 4385: four bytes, first nibble 0) or not: the form with a decoded
/// ethertype where an Ethernet header has one; without the control word when both read.
pub(crate) fn pseudowire_frame(payload: &[u8]) -> Option<&[u8]> {
    let decoded_at = |off: usize| be16(payload, off).is_some_and(pseudowire_ethertype);
    if decoded_at(12) {
        Some(payload)
    } else if payload.first().is_some_and(|b| b >> 4 == 0) && decoded_at(16) {
        Some(&payload[4..])
    } else {
        None
    }
}

/// Ethertypes that tell a pseudowire's Ethernet header apart: those decoded here.
fn pseudowire_ethertype(t: u16) -> bool {
    matches!(
        t,
        ETHERTYPE_IPV4
            | ETHERTYPE_IPV6
            | ETHERTYPE_VLAN
            | ETHERTYPE_QINQ
            | ETHERTYPE_QINQ_OLD
            | ETHERTYPE_PPPOE_SESSION
            | ETHERTYPE_PPPOE_DISCOVERY
    )
}

/// Linux "cooked" headers carry an ethertype, except for a few device types where the field
/// means something else (netlink family, 802.2 LLC markers).
#[inline]
fn sll_protocol(hatype: u16, proto: u16, rest: &[u8]) -> Result<L3<'_>, Malformed> {
    const ARPHRD_NETLINK: u16 = 824;
    // A monitor-mode 802.11 interface in a `tcpdump -i any` capture: the frame as the link type
    // of the same name holds it.
    const ARPHRD_IEEE80211: u16 = 801;
    const ARPHRD_IEEE80211_PRISM: u16 = 802;
    const ARPHRD_IEEE80211_RADIOTAP: u16 = 803;
    match hatype {
        ARPHRD_NETLINK => Ok(L3::Unsupported),
        ARPHRD_IEEE80211 => wifi_l3(rest, false),
        ARPHRD_IEEE80211_PRISM => wifi_l3(crate::decode::wifi::prism(rest)?, false),
        ARPHRD_IEEE80211_RADIOTAP => {
            let (frame, datapad) = crate::decode::wifi::radiotap(rest)?;
            wifi_l3(frame, datapad)
        }
        _ => ethertype_payload(proto, rest),
    }
}

#[inline]
fn sll_direction(pkttype: u16) -> Direction {
    match pkttype {
        // host, broadcast, multicast, to another host (promiscuous): all arrived here.
        0..=3 => Direction::In,
        4 => Direction::Out,
        _ => Direction::Unknown,
    }
}

#[inline]
fn le32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

#[inline]
fn le16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_le_bytes([s[0], s[1]]),
        None => 0,
    }
}

/// A fixed-size C string field: up to the first NUL, and up to the last valid UTF-8 character
/// (names are ASCII in practice; a damaged name is shortened rather than refused).
fn c_str(field: &[u8]) -> &str {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    let bytes = &field[..end];
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
    }
}

fn pid_field(v: u32) -> Option<u32> {
    // pid_t; -1 (and any negative value) means "no process".
    if (v as i32) < 0 {
        None
    } else {
        Some(v)
    }
}

/// Apple PKTAP: a little-endian (writer's host order, always little-endian on Apple hardware
/// since the PowerPC era ended) header describing interface and process, then a frame of
/// link type `pth_dlt`.
fn pktap(frame: &[u8]) -> Result<Link<'_>, Malformed> {
    // Field offsets of struct pktap_header (xnu bsd/net/pktap.h, v1 layout).
    const LENGTH: usize = 0;
    const TYPE_NEXT: usize = 4;
    const DLT: usize = 8;
    const IFNAME: usize = 12; // char[24]
    const FLAGS: usize = 36;
    const PROTOCOL_FAMILY: usize = 40;
    const PID: usize = 52;
    const COMM: usize = 56; // char[17]
    const SVC: usize = 76;
    const IFTYPE: usize = 80;
    const IFUNIT: usize = 82;
    const EPID: usize = 84;
    const ECOMM: usize = 88; // char[17]
    const REC_NONE: u32 = 0;
    const REC_PACKET: u32 = 1;
    const FLAG_DIR_IN: u32 = 0x1;
    const FLAG_DIR_OUT: u32 = 0x2;

    if frame.len() < 4 {
        return Err(Malformed::new("pktap header truncated"));
    }
    // The announced length is checked before the captured one, as tcpdump does, so both
    // tools name the same damage.
    let hdr_len = le32(frame, LENGTH) as usize;
    if hdr_len < PKTAP_MIN_HEADER {
        return Err(Malformed::new("pktap header length too short"));
    }
    if frame.len() < PKTAP_MIN_HEADER {
        return Err(Malformed::new("pktap header truncated"));
    }
    let inner = frame.get(hdr_len..).ok_or(Malformed::new("pktap header length past frame"))?;
    let flags = le32(frame, FLAGS);
    let meta = PktapMeta {
        ifname: c_str(&frame[IFNAME..IFNAME + 24]),
        pid: pid_field(le32(frame, PID)),
        comm: Some(c_str(&frame[COMM..COMM + 17])).filter(|s| !s.is_empty()),
        epid: pid_field(le32(frame, EPID)),
        ecomm: Some(c_str(&frame[ECOMM..ECOMM + 17])).filter(|s| !s.is_empty()),
        direction: match flags & (FLAG_DIR_IN | FLAG_DIR_OUT) {
            FLAG_DIR_IN => Direction::In,
            FLAG_DIR_OUT => Direction::Out,
            _ => Direction::Unknown,
        },
        flags,
        inner_dlt: le32(frame, DLT),
        protocol_family: le32(frame, PROTOCOL_FAMILY),
        svc: le32(frame, SVC),
        iftype: le16(frame, IFTYPE),
        ifunit: le16(frame, IFUNIT),
    };
    let l3 = match le32(frame, TYPE_NEXT) {
        REC_NONE => L3::Unsupported,
        REC_PACKET => {
            if inner.is_empty() {
                return Err(Malformed::new("pktap inner frame empty"));
            }
            if matches!(meta.inner_dlt, PKTAP | USER2) {
                return Err(Malformed::new("pktap nested in pktap"));
            }
            // An inner frame we cannot decode still carries useful process facts: keep them.
            decode_plain(meta.inner_dlt, inner)?.l3
        }
        _ => return Err(Malformed::new("pktap record type unknown")),
    };
    Ok(Link { l3, pktap: Some(meta), direction: meta.direction, ifindex: None })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const IP4: [u8; 20] = [0x45, 0, 0, 20, 0, 0, 0x40, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2];
    const IP6_HEAD: [u8; 8] = [0x60, 0, 0, 0, 0, 0, 59, 64];

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0, 0x1e, 0x49, 0x1f, 0xf2, 0xc4, 0x70, 0x73, 0xcb, 0x0b, 0x26, 0x2a];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn ethernet_ipv4_ipv6_arp_other() {
        let f = eth(0x0800, &IP4);
        assert_eq!(decode(EN10MB, &f).unwrap().l3, L3::Ipv4(&IP4[..]));
        let f = eth(0x86dd, &IP6_HEAD);
        assert_eq!(decode(EN10MB, &f).unwrap().l3, L3::Ipv6(&IP6_HEAD[..]));
        assert_eq!(decode(EN10MB, &eth(0x0806, &[0; 28])).unwrap().l3, L3::Arp);
        assert_eq!(decode(EN10MB, &eth(0x8035, &[0; 28])).unwrap().l3, L3::Arp);
        assert_eq!(decode(EN10MB, &eth(0x88cc, &[1])).unwrap().l3, L3::Other { ethertype: 0x88cc });
        assert_eq!(decode(EN10MB, &eth(46, &[0xaa, 0xaa, 3])).unwrap().l3, L3::Unsupported);
        assert_eq!(decode(EN10MB, &[0; 13]), Err(Malformed::new("ethernet header truncated")));
    }

    #[test]
    fn mpls_label_stacks() {
        // Two labels (16, then 17 with the bottom-of-stack bit), then IPv4; behind a VLAN tag too.
        let stack = [0x00, 0x01, 0x00, 0x40, 0x00, 0x01, 0x11, 0x40];
        let p = [&stack[..], &IP4].concat();
        assert_eq!(decode(EN10MB, &eth(0x8847, &p)).unwrap().l3, L3::Ipv4(&IP4[..]));
        let tagged = [&[0x00, 0x64, 0x88, 0x47][..], &p].concat();
        assert_eq!(decode(EN10MB, &eth(0x8100, &tagged)).unwrap().l3, L3::Ipv4(&IP4[..]));
        let p6 = [&stack[4..], &IP6_HEAD].concat();
        assert_eq!(decode(EN10MB, &eth(0x8848, &p6)).unwrap().l3, L3::Ipv6(&IP6_HEAD[..]));
        // An Ethernet pseudowire behind its control word, carrying IPv4, and one without (its
        // destination address starting with a 0 nibble too); VLAN-tagged inside.
        let pw = [&stack[..], &[0, 0, 0x12, 0x34], &eth(0x0800, &IP4)].concat();
        assert_eq!(decode(EN10MB, &eth(0x8847, &pw)).unwrap().l3, L3::Ipv4(&IP4[..]));
        let mut plain = eth(0x86dd, &IP6_HEAD);
        plain[0] = 0x00;
        let pw = [&stack[..], &plain].concat();
        assert_eq!(decode(EN10MB, &eth(0x8847, &pw)).unwrap().l3, L3::Ipv6(&IP6_HEAD[..]));
        let tagged_pw = [&stack[..], &eth(0x8100, &[&[0, 7, 0x08, 0x00][..], &IP4].concat())].concat();
        assert_eq!(decode(EN10MB, &eth(0x8847, &tagged_pw)).unwrap().l3, L3::Ipv4(&IP4[..]));
        // Labels again behind the pseudowire's VLAN tag: not followed, however deep it goes.
        let mut nested = [&stack[..], &IP4].concat();
        for _ in 0..2_000 {
            let tagged = eth(0x8100, &[&[0, 7, 0x88, 0x47][..], &nested].concat());
            nested = [&stack[..], &tagged].concat();
        }
        assert_eq!(decode(EN10MB, &eth(0x8847, &nested)).unwrap().l3, L3::Other { ethertype: 0x8847 });
        // A pseudowire whose frame is labelled again, or carries what is not decoded: not followed.
        let again = [&stack[..], &[0, 0, 0, 0], &eth(0x8847, &p)].concat();
        assert_eq!(decode(EN10MB, &eth(0x8847, &again)).unwrap().l3, L3::Other { ethertype: 0x8847 });
        let lldp = [&stack[..], &[0, 0, 0, 0], &eth(0x88cc, &[1; 20])].concat();
        assert_eq!(decode(EN10MB, &eth(0x8847, &lldp)).unwrap().l3, L3::Other { ethertype: 0x8847 });
        // Something else after the stack, a stack cut short, one that never ends.
        let other = [&stack[..], &[0x20; 8]].concat();
        assert_eq!(decode(EN10MB, &eth(0x8847, &other)).unwrap().l3, L3::Other { ethertype: 0x8847 });
        assert_eq!(decode(EN10MB, &eth(0x8847, &stack[..6])), Err(Malformed::new("mpls label stack truncated")));
        let endless = [0x00, 0x01, 0x00, 0x40].repeat(MAX_MPLS_LABELS + 1);
        assert_eq!(decode(EN10MB, &eth(0x8847, &endless)), Err(Malformed::new("mpls label stack too deep")));
    }

    #[test]
    fn ethernet_vlan_and_qinq() {
        // 802.1ad outer tag (VID 100), 802.1Q inner (VID 200), then IPv4.
        let mut p = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0xc8, 0x08, 0x00];
        p.extend_from_slice(&IP4);
        assert_eq!(decode(EN10MB, &eth(0x88a8, &p)).unwrap().l3, L3::Ipv4(&IP4[..]));
        let mut p = vec![0x00, 0x64, 0x86, 0xdd];
        p.extend_from_slice(&IP6_HEAD);
        assert_eq!(decode(EN10MB, &eth(0x9100, &p)).unwrap().l3, L3::Ipv6(&IP6_HEAD[..]));
        assert_eq!(decode(EN10MB, &eth(0x8100, &[0, 1, 8])).unwrap_err(), Malformed::new("vlan tag truncated"));
        let many: Vec<u8> = [0u8, 1, 0x81, 0].repeat(20);
        assert_eq!(decode(EN10MB, &eth(0x8100, &many)).unwrap_err(), Malformed::new("too many vlan tags"));
    }

    /// An NFLOG record: header, then (type, value) attributes in `little` or big byte order.
    fn nflog_frame(family: u8, little: bool, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut f = vec![family, 0, 0, 5];
        for (ty, v) in attrs {
            let len = 4 + v.len() as u16;
            let (l, t) =
                if little { (len.to_le_bytes(), ty.to_le_bytes()) } else { (len.to_be_bytes(), ty.to_be_bytes()) };
            f.extend_from_slice(&l);
            f.extend_from_slice(&t);
            f.extend_from_slice(v);
            f.resize(f.len().next_multiple_of(4), 0);
        }
        f
    }

    #[test]
    fn nflog_either_byte_order_with_its_direction() {
        let prefix = b"ipsec-in\0";
        for little in [true, false] {
            // Packet header (hw protocol, hook), prefix, input device 3, then the packet.
            let attrs: [(u16, &[u8]); 4] =
                [(1, &[0x08, 0x00, 1, 0]), (10, prefix), (4, &3u32.to_be_bytes()), (9, &IP4)];
            let f = nflog_frame(2, little, &attrs);
            let l = decode(NFLOG, &f).unwrap();
            assert_eq!((l.l3, l.direction, l.ifindex), (L3::Ipv4(&IP4[..]), Direction::In, Some(3)), "little {little}");
            let sent: [(u16, &[u8]); 2] = [(5, &7u32.to_be_bytes()), (9, &IP6_HEAD)];
            let f = nflog_frame(10, little, &sent);
            let l = decode(NFLOG, &f).unwrap();
            assert_eq!((l.l3, l.direction, l.ifindex), (L3::Ipv6(&IP6_HEAD[..]), Direction::Out, Some(7)));
            let fwd: [(u16, &[u8]); 3] = [(4, &3u32.to_be_bytes()), (5, &7u32.to_be_bytes()), (9, &IP4)];
            assert_eq!(decode(NFLOG, &nflog_frame(2, little, &fwd)).unwrap().direction, Direction::Unknown);
        }
        // The last attribute's padding may be missing.
        let mut f = nflog_frame(2, true, &[(9, &IP4[..IP4.len() - 1])]);
        f.truncate(f.len() - 1);
        assert!(decode(NFLOG, &f).is_ok());
        assert_eq!(
            decode(NFLOG, &nflog_frame(2, true, &[(10, b"x")])).unwrap_err(),
            Malformed::new("nflog record without the packet")
        );
        let mut cut = nflog_frame(2, true, &[(9, &IP4)]);
        cut.truncate(10);
        assert_eq!(decode(NFLOG, &cut).unwrap_err(), Malformed::new("nflog attribute truncated"));
        assert_eq!(decode(NFLOG, &[2, 0, 0, 5, 2, 0, 9, 0]).unwrap_err(), Malformed::new("nflog attribute length"));
        assert_eq!(decode(NFLOG, &[2, 1, 0, 5]).unwrap_err(), Malformed::new("nflog version unknown"));
        assert_eq!(decode(NFLOG, &[2, 0]).unwrap_err(), Malformed::new("nflog header truncated"));
    }

    #[test]
    fn openbsd_enc_either_byte_order() {
        for (af, v) in [(2u32, &IP4[..]), (24, &IP6_HEAD[..])] {
            for hdr in [af.to_le_bytes(), af.to_be_bytes()] {
                let mut f = hdr.to_vec();
                f.extend_from_slice(&0x1234_5678u32.to_be_bytes());
                f.extend_from_slice(&0x0c00u32.to_le_bytes());
                f.extend_from_slice(v);
                let want = if af == 2 { L3::Ipv4(v) } else { L3::Ipv6(v) };
                assert_eq!(decode(ENC, &f).unwrap().l3, want, "af {af}");
            }
        }
        assert_eq!(decode(ENC, &[2, 0, 0, 0, 1, 2]).unwrap_err(), Malformed::new("enc header truncated"));
    }

    #[test]
    fn null_both_byte_orders_and_all_inet6_values() {
        let mut le = 2u32.to_le_bytes().to_vec();
        le.extend_from_slice(&IP4);
        assert_eq!(decode(NULL, &le).unwrap().l3, L3::Ipv4(&IP4[..]));
        let mut be = 2u32.to_be_bytes().to_vec();
        be.extend_from_slice(&IP4);
        assert_eq!(decode(NULL, &be).unwrap().l3, L3::Ipv4(&IP4[..]));
        for af in [10u32, 24, 28, 30] {
            for hdr in [af.to_le_bytes(), af.to_be_bytes()] {
                let mut f = hdr.to_vec();
                f.extend_from_slice(&IP6_HEAD);
                assert_eq!(decode(NULL, &f).unwrap().l3, L3::Ipv6(&IP6_HEAD[..]), "af {af}");
            }
        }
        assert_eq!(decode(NULL, &7u32.to_le_bytes()).unwrap().l3, L3::Unsupported);
        assert!(decode(NULL, &[2, 0, 0]).is_err());
    }

    #[test]
    fn loop_is_network_order() {
        let mut f = 30u32.to_be_bytes().to_vec();
        f.extend_from_slice(&IP6_HEAD);
        assert_eq!(decode(LOOP, &f).unwrap().l3, L3::Ipv6(&IP6_HEAD[..]));
        // Little-endian 2 read in network order is 0x02000000: not an address family.
        let mut f = 2u32.to_le_bytes().to_vec();
        f.extend_from_slice(&IP4);
        assert_eq!(decode(LOOP, &f).unwrap().l3, L3::Unsupported);
    }

    #[test]
    fn raw_by_version_nibble() {
        for lt in [RAW, DLT_RAW_12, DLT_RAW_14] {
            assert_eq!(decode(lt, &IP4).unwrap().l3, L3::Ipv4(&IP4[..]));
            assert_eq!(decode(lt, &IP6_HEAD).unwrap().l3, L3::Ipv6(&IP6_HEAD[..]));
            assert_eq!(decode(lt, &[0x55]).unwrap_err(), Malformed::new("raw ip version unknown"));
            assert_eq!(decode(lt, &[]).unwrap_err(), Malformed::new("raw frame empty"));
        }
        assert_eq!(decode(IPV4, &IP4).unwrap().l3, L3::Ipv4(&IP4[..]));
        assert_eq!(decode(IPV6, &IP6_HEAD).unwrap().l3, L3::Ipv6(&IP6_HEAD[..]));
        assert_eq!(decode(9999, &IP4).unwrap().l3, L3::Unsupported);
    }

    #[test]
    fn linux_sll_and_sll2() {
        // SLL: outgoing (4), ARPHRD_NONE (tun), no address, IPv6.
        let mut f = vec![0, 4, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xdd];
        f.extend_from_slice(&IP6_HEAD);
        let l = decode(LINUX_SLL, &f).unwrap();
        assert_eq!(l.l3, L3::Ipv6(&IP6_HEAD[..]));
        assert_eq!(l.direction, Direction::Out);
        // SLL2: IPv4 on ifindex 7, incoming, Ethernet hatype.
        let mut f = vec![0x08, 0, 0, 0, 0, 0, 0, 7, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
        f.extend_from_slice(&IP4);
        let l = decode(LINUX_SLL2, &f).unwrap();
        assert_eq!(l.l3, L3::Ipv4(&IP4[..]));
        assert_eq!(l.direction, Direction::In);
        assert_eq!(l.ifindex, Some(7));
        // Netlink monitor traffic: the protocol field is a netlink family, not an ethertype.
        let f = [0, 4, 0x03, 0x38, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00, 1, 2];
        assert_eq!(decode(LINUX_SLL, &f).unwrap().l3, L3::Unsupported);
        assert!(decode(LINUX_SLL, &f[..15]).is_err());
        assert!(decode(LINUX_SLL2, &[0x08, 0, 0, 0]).is_err());
    }

    #[allow(clippy::too_many_arguments)]
    fn pktap_header(
        len: u32,
        rec: u32,
        dlt: u32,
        ifname: &str,
        flags: u32,
        pid: i32,
        comm: &str,
        epid: i32,
        ecomm: &str,
    ) -> Vec<u8> {
        let mut h = vec![0u8; 108];
        h[0..4].copy_from_slice(&len.to_le_bytes());
        h[4..8].copy_from_slice(&rec.to_le_bytes());
        h[8..12].copy_from_slice(&dlt.to_le_bytes());
        h[12..12 + ifname.len()].copy_from_slice(ifname.as_bytes());
        h[36..40].copy_from_slice(&flags.to_le_bytes());
        h[40..44].copy_from_slice(&2u32.to_le_bytes());
        h[52..56].copy_from_slice(&pid.to_le_bytes());
        h[56..56 + comm.len()].copy_from_slice(comm.as_bytes());
        h[80..82].copy_from_slice(&6u16.to_le_bytes());
        h[82..84].copy_from_slice(&3u16.to_le_bytes());
        h[84..88].copy_from_slice(&epid.to_le_bytes());
        h[88..88 + ecomm.len()].copy_from_slice(ecomm.as_bytes());
        h
    }

    #[test]
    fn pktap_utun_with_process() {
        // utun3 carries DLT_NULL frames with AF 30 (Darwin IPv6).
        let mut f = pktap_header(108, 1, 0, "utun3", 0x1, 812, "Safari", 401, "com.apple.WebKit");
        f.extend_from_slice(&30u32.to_le_bytes());
        f.extend_from_slice(&IP6_HEAD);
        for lt in [PKTAP, USER2] {
            let l = decode(lt, &f).unwrap();
            assert_eq!(l.l3, L3::Ipv6(&IP6_HEAD[..]));
            assert_eq!(l.direction, Direction::In);
            let m = l.pktap.unwrap();
            assert_eq!(m.ifname, "utun3");
            assert_eq!((m.pid, m.comm), (Some(812), Some("Safari")));
            assert_eq!((m.epid, m.ecomm), (Some(401), Some("com.apple.WebKit")));
            assert_eq!((m.inner_dlt, m.iftype, m.ifunit, m.protocol_family), (0, 6, 3, 2));
        }
    }

    #[test]
    fn pktap_bad_headers_are_malformed() {
        let mut f = pktap_header(0, 1, 1, "en0", 0, -1, "", -1, "");
        f.extend_from_slice(&eth(0x0800, &IP4));
        assert_eq!(decode(USER2, &f).unwrap_err(), Malformed::new("pktap header length too short"));
        f[0..4].copy_from_slice(&5000u32.to_le_bytes());
        assert_eq!(decode(USER2, &f).unwrap_err(), Malformed::new("pktap header length past frame"));
        // Header length swallowing the whole frame: nothing to decode.
        let f = pktap_header(108, 1, 50, "en0", 0, -1, "", -1, "");
        assert_eq!(decode(PKTAP, &f).unwrap_err(), Malformed::new("pktap inner frame empty"));
        let mut f = pktap_header(108, 1, PKTAP, "en0", 0, -1, "", -1, "");
        f.extend_from_slice(&pktap_header(108, 1, 1, "en0", 0, -1, "", -1, ""));
        assert_eq!(decode(PKTAP, &f).unwrap_err(), Malformed::new("pktap nested in pktap"));
        let mut f = pktap_header(108, 7, 1, "en0", 0, -1, "", -1, "");
        f.push(0);
        assert_eq!(decode(PKTAP, &f).unwrap_err(), Malformed::new("pktap record type unknown"));
        assert_eq!(decode(PKTAP, &[108, 0, 0]).unwrap_err(), Malformed::new("pktap header truncated"));
        assert_eq!(decode(PKTAP, &[108, 0, 0, 0, 1]).unwrap_err(), Malformed::new("pktap header truncated"));
        assert_eq!(decode(PKTAP, &[0, 0, 0, 0, 1]).unwrap_err(), Malformed::new("pktap header length too short"));
    }

    #[test]
    fn ppp_link_types() {
        let ip = [0x45u8, 0, 0, 20];
        let framed = [&[0xff, 0x03, 0x00, 0x21][..], &ip].concat();
        assert_eq!(decode(PPP, &framed).unwrap().l3, L3::Ipv4(&ip));
        assert_eq!(decode(PPP, &framed[2..]).unwrap().l3, L3::Ipv4(&ip));
        assert_eq!(decode(PPP_HDLC, &framed).unwrap().l3, L3::Ipv4(&ip));
        let v6 = [0x60u8, 0, 0, 0];
        assert_eq!(decode(PPP_HDLC, &[&[0x0f, 0x00, 0x86, 0xdd][..], &v6].concat()).unwrap().l3, L3::Ipv6(&v6));
        let (out, inb) = ([&[1][..], &framed].concat(), [&[0][..], &framed].concat());
        let sent = decode(PPP_WITH_DIR, &out).unwrap();
        assert_eq!((sent.l3, sent.direction), (L3::Ipv4(&ip), Direction::Out));
        let got = decode(PPP_WITH_DIR, &inb).unwrap();
        assert_eq!(got.direction, Direction::In);
        assert_eq!(decode(PPP, &[0xff, 0x03, 0xc0, 0x21, 1]).unwrap().l3, L3::Unsupported);
        assert!(decode(PPP, &[0xff, 0x03]).is_err());
        // PPPoE's session stage behind Ethernet.
        let mut e = vec![0u8; 12];
        e.extend_from_slice(&[0x88, 0x64, 0x11, 0, 0, 1]);
        assert_eq!(decode(EN10MB, &e).unwrap().l3, L3::Pppoe(&[0x11, 0, 0, 1]));
    }

    #[test]
    fn pktap_keeps_metadata_for_unknown_inner_link() {
        let mut f = pktap_header(112, 1, 147, "pdp_ip0", 0x2, 77, "CommCenter", -1, "");
        f.extend_from_slice(&[0, 0, 0, 0, 0xff, 0x03]);
        let l = decode(PKTAP, &f).unwrap();
        assert_eq!(l.l3, L3::Unsupported);
        // PPP inside is decoded (an LCP frame: nothing at layer 3).
        let mut p = pktap_header(112, 1, PPP, "ppp0", 0x2, 77, "pppd", -1, "");
        p.extend_from_slice(&[0, 0, 0, 0, 0xff, 0x03, 0xc0, 0x21, 1]);
        assert_eq!(decode(PKTAP, &p).unwrap().l3, L3::Unsupported);
        let m = l.pktap.unwrap();
        assert_eq!((m.ifname, m.pid, m.epid, m.direction), ("pdp_ip0", Some(77), None, Direction::Out));
        // A name that is not UTF-8 is cut at the damage, not refused.
        let mut f = pktap_header(108, 0, 1, "en", 0, 1, "ok", 1, "");
        f[14] = 0xff;
        assert_eq!(decode(PKTAP, &f).unwrap().pktap.unwrap().ifname, "en");
    }

    #[test]
    fn linux_cooked_monitor_interfaces() {
        let ip = [0x45u8, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        let mut wlan = vec![0x08, 0x01, 0, 0];
        wlan.extend([0x02; 18]);
        wlan.extend([0x10, 0]);
        wlan.extend([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
        wlan.extend(ip);
        let sll = |hatype: u16, frame: &[u8]| {
            let mut f = vec![0, 0];
            f.extend(hatype.to_be_bytes());
            f.extend([0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0x19]);
            f.extend(frame);
            f
        };
        let radiotap = [&[0u8, 0, 8, 0, 0, 0, 0, 0][..], &wlan].concat();
        let mut prism = vec![0x41, 0, 0, 0, 144, 0, 0, 0];
        prism.resize(144, 0);
        prism.extend(&wlan);
        for (hatype, frame) in [(801, &wlan), (803, &radiotap), (802, &prism)] {
            assert_eq!(decode(LINUX_SLL, &sll(hatype, frame)).unwrap().l3, L3::Ipv4(&ip), "{hatype}");
        }
        assert!(decode(LINUX_SLL, &sll(803, &[1, 0, 8])).is_err());
    }

    proptest! {
        #[test]
        fn decode_never_panics(lt in prop::sample::select(vec![NULL, EN10MB, 12, 14, RAW, LOOP, LINUX_SLL, USER2, IPV4, IPV6, PKTAP, LINUX_SLL2, C_HDLC, IEEE802_11, IEEE802_11_RADIOTAP, IEEE802_11_PRISM, IEEE802_11_AVS, PPI, ERF, 9999]),
                               frame in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(lt, &frame);
        }

        #[test]
        fn mpls_frames_never_panic(mpls in any::<bool>(), body in prop::collection::vec(any::<u8>(), 0..120)) {
            let _ = decode(EN10MB, &eth(if mpls { 0x8847 } else { 0x8848 }, &body));
            // Behind a label, the body as a pseudowire's frame (control word or not).
            let _ = decode(EN10MB, &eth(0x8847, &[&[0, 1, 1, 64][..], &body].concat()));
        }

        #[test]
        fn radio_and_erf_headers_never_panic(lt in prop::sample::select(vec![IEEE802_11_RADIOTAP, PPI, ERF, IEEE802_11_AVS]),
                                             hlen in 0u16..80, inner in 0u32..300, body in prop::collection::vec(any::<u8>(), 16..200)) {
            // Header lengths the decoders accept often enough to reach what follows them.
            let mut f = body;
            match lt {
                ERF => f[10..12].copy_from_slice(&hlen.to_be_bytes()),
                IEEE802_11_AVS => f[4..8].copy_from_slice(&u32::from(hlen).to_be_bytes()),
                _ => {
                    f[0] = 0;
                    f[2..4].copy_from_slice(&hlen.to_le_bytes());
                    if lt == PPI {
                        f[4..8].copy_from_slice(&inner.to_le_bytes());
                    }
                }
            }
            let _ = decode(lt, &f);
        }

        #[test]
        fn wifi_data_frames_never_panic(subtype in 0u8..16, flags in any::<u8>(), body in prop::collection::vec(any::<u8>(), 0..120)) {
            let f = [&[0x08 | subtype << 4, flags][..], &body].concat();
            let _ = decode(IEEE802_11, &f);
        }

        #[test]
        fn pktap_with_valid_length_never_panics(dlt in 0u32..300, rec in 0u32..3, body in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut f = pktap_header(108, rec, dlt, "en0", 0, 1, "x", 2, "y");
            f.extend_from_slice(&body);
            let _ = decode(PKTAP, &f);
        }
    }
}

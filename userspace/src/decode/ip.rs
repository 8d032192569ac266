//! IPv4, IPv6 (with extension headers), UDP and TCP headers.
//!
//! Hot path: fixed-offset reads over borrowed slices, no allocation. Captures cut at snaplen are
//! common, so a datagram longer than the captured bytes is not an error: the packet is kept with
//! what is there and marked `truncated`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::decode::link::L3;
use crate::decode::{be16, be32, Malformed};

pub const PROTO_HOPOPT: u8 = 0;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_IPV6_ROUTE: u8 = 43;
pub const PROTO_IPV6_FRAG: u8 = 44;
pub const PROTO_ESP: u8 = 50;
pub const PROTO_AH: u8 = 51;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_IPV6_NONXT: u8 = 59;
pub const PROTO_IPV6_OPTS: u8 = 60;

/// Real packets carry a handful of extension headers; a longer chain is an attack or garbage.
const MAX_V6_EXT_HEADERS: usize = 8;

/// Fragment facts of one IP packet (IPv4 header or IPv6 fragment header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Frag {
    /// IPv4 identification (16 bits) or IPv6 fragment identification (32 bits).
    pub id: u32,
    /// Offset of this fragment's data in the original payload, in bytes.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Upper-layer protocol: for IPv6 after hop-by-hop, routing, destination options and the
    /// fragment header. AH (51) is an upper layer here.
    pub proto: u8,
    /// Bytes after the IP header(s), cut to the datagram length (never link padding). For a
    /// fragment: this fragment's data.
    pub payload: &'a [u8],
    pub frag: Option<Frag>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// Datagram length the header announces (IPv6: 40 + payload length).
    pub total_len: u32,
    /// The capture holds fewer bytes than the header announces (snaplen); `payload` is short.
    pub truncated: bool,
}

impl IpPacket<'_> {
    #[inline]
    pub fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }
}

/// Parse the network layer of a decoded link frame. `Ok(None)` for frames that are not IP
/// (ARP, other ethertypes, unsupported links): those are not malformed.
#[inline]
pub fn parse(l3: L3<'_>) -> Result<Option<IpPacket<'_>>, Malformed> {
    match l3 {
        L3::Ipv4(b) => parse_v4(b).map(Some),
        L3::Ipv6(b) => parse_v6(b).map(Some),
        L3::Arp | L3::Pppoe(_) | L3::PppoeDiscovery(_) | L3::Other { .. } | L3::Unsupported => Ok(None),
    }
}

#[inline]
pub fn parse_v4(b: &[u8]) -> Result<IpPacket<'_>, Malformed> {
    let h = b.get(..20).ok_or(Malformed::new("ipv4 header truncated"))?;
    if h[0] >> 4 != 4 {
        return Err(Malformed::new("ipv4 version mismatch"));
    }
    let ihl = ((h[0] & 0x0f) as usize) * 4;
    if ihl < 20 {
        return Err(Malformed::new("ipv4 header length below 20"));
    }
    if ihl > b.len() {
        return Err(Malformed::new("ipv4 options truncated"));
    }
    let announced = u16::from_be_bytes([h[2], h[3]]) as usize;
    // 0 is what Linux shows for TSO super-segments captured before segmentation: trust the
    // captured length then.
    let total = if announced == 0 { b.len() } else { announced };
    if total < ihl {
        return Err(Malformed::new("ipv4 total length below header"));
    }
    let truncated = total > b.len();
    let end = total.min(b.len());
    let frag_field = u16::from_be_bytes([h[6], h[7]]);
    let offset = (frag_field & 0x1fff) << 3;
    let more = frag_field & 0x2000 != 0;
    let frag = if offset != 0 || more {
        Some(Frag { id: u16::from_be_bytes([h[4], h[5]]) as u32, offset, more })
    } else {
        None
    };
    Ok(IpPacket {
        src: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
        dst: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
        proto: h[9],
        payload: &b[ihl..end],
        frag,
        ttl: h[8],
        total_len: total as u32,
        truncated,
    })
}

#[inline]
fn v6_addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

#[inline]
pub fn parse_v6(b: &[u8]) -> Result<IpPacket<'_>, Malformed> {
    let h = b.get(..40).ok_or(Malformed::new("ipv6 header truncated"))?;
    if h[0] >> 4 != 6 {
        return Err(Malformed::new("ipv6 version mismatch"));
    }
    let plen = u16::from_be_bytes([h[4], h[5]]) as usize;
    // Payload length 0 means a jumbogram or a TSO capture: use what was captured.
    let total = if plen == 0 { b.len() } else { 40 + plen };
    let truncated = total > b.len();
    let datagram = &b[40..total.min(b.len())];
    let mut frag = None;
    let (proto, payload) = walk_v6_ext(h[6], datagram, &mut frag)?;
    Ok(IpPacket {
        src: IpAddr::V6(v6_addr(&h[8..24])),
        dst: IpAddr::V6(v6_addr(&h[24..40])),
        proto,
        payload,
        frag,
        ttl: h[7],
        total_len: total as u32,
        truncated,
    })
}

/// Skip IPv6 extension headers (hop-by-hop, routing, destination options) in front of the
/// upper layer. Used again by the reassembler on a reassembled payload, where destination
/// options may precede the upper layer.
pub fn skip_v6_ext(next: u8, bytes: &[u8]) -> Result<(u8, &[u8]), Malformed> {
    let mut frag = None;
    let r = walk_v6_ext(next, bytes, &mut frag)?;
    if frag.is_some() {
        return Err(Malformed::new("ipv6 fragment header inside fragment"));
    }
    Ok(r)
}

/// Stops after a fragment header: what follows is fragment data, whose headers can only be
/// read once the datagram is whole.
#[inline]
fn walk_v6_ext<'a>(mut next: u8, mut rest: &'a [u8], frag: &mut Option<Frag>) -> Result<(u8, &'a [u8]), Malformed> {
    for _ in 0..MAX_V6_EXT_HEADERS {
        match next {
            PROTO_HOPOPT | PROTO_IPV6_ROUTE | PROTO_IPV6_OPTS => {
                let len_byte = *rest.get(1).ok_or(Malformed::new("ipv6 extension header truncated"))?;
                let len = (len_byte as usize + 1) * 8;
                if len > rest.len() {
                    return Err(Malformed::new("ipv6 extension header truncated"));
                }
                next = rest[0];
                rest = &rest[len..];
            }
            PROTO_IPV6_FRAG => {
                let fh = rest.get(..8).ok_or(Malformed::new("ipv6 fragment header truncated"))?;
                let of = u16::from_be_bytes([fh[2], fh[3]]);
                let offset = of & 0xfff8;
                let more = of & 1 != 0;
                *frag = Some(Frag { id: u32::from_be_bytes([fh[4], fh[5], fh[6], fh[7]]), offset, more });
                return Ok((fh[0], &rest[8..]));
            }
            _ => return Ok((next, rest)),
        }
    }
    Err(Malformed::new("ipv6 extension header chain too long"))
}

/// UDP header: `(source port, destination port, payload)`. The payload is cut to the UDP
/// length when the capture holds all of it.
#[inline]
pub fn udp(payload: &[u8]) -> Result<(u16, u16, &[u8]), Malformed> {
    let h = payload.get(..8).ok_or(Malformed::new("udp header truncated"))?;
    let sport = u16::from_be_bytes([h[0], h[1]]);
    let dport = u16::from_be_bytes([h[2], h[3]]);
    let ulen = u16::from_be_bytes([h[4], h[5]]) as usize;
    let body = match ulen {
        // 0 is used by UDP-over-IPv6 jumbograms and GSO captures.
        0 => &payload[8..],
        1..=7 => return Err(Malformed::new("udp length below header")),
        _ => &payload[8..ulen.min(payload.len())],
    };
    Ok((sport, dport, body))
}

pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSeg<'a> {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    /// The low flag byte; see [`tcp_flags`].
    pub flags: u8,
    pub window: u16,
    pub payload: &'a [u8],
}

impl TcpSeg<'_> {
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags & tcp_flags::SYN != 0
    }
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags & tcp_flags::FIN != 0
    }
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags & tcp_flags::RST != 0
    }
    #[inline]
    pub fn ack_flag(&self) -> bool {
        self.flags & tcp_flags::ACK != 0
    }
}

#[inline]
pub fn tcp(payload: &[u8]) -> Result<TcpSeg<'_>, Malformed> {
    let h = payload.get(..20).ok_or(Malformed::new("tcp header truncated"))?;
    let doff = ((h[12] >> 4) as usize) * 4;
    if doff < 20 {
        return Err(Malformed::new("tcp data offset below 20"));
    }
    if doff > payload.len() {
        return Err(Malformed::new("tcp options truncated"));
    }
    Ok(TcpSeg {
        sport: be16(h, 0).unwrap_or(0),
        dport: be16(h, 2).unwrap_or(0),
        seq: be32(h, 4).unwrap_or(0),
        ack: be32(h, 8).unwrap_or(0),
        flags: h[13],
        window: be16(h, 14).unwrap_or(0),
        payload: &payload[doff..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// IPv4 UDP 192.0.2.1:5060 -> 198.51.100.2:5060 "hi", ident 0x1234, then 2 bytes padding.
    fn v4_udp() -> Vec<u8> {
        vec![
            0x45, 0x00, 0x00, 30, 0x12, 0x34, 0x40, 0x00, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2, // ip
            0x13, 0xc4, 0x13, 0xc4, 0, 10, 0, 0, b'h', b'i', // udp
            0, 0, // ethernet padding
        ]
    }

    #[test]
    fn ipv4_udp_trims_padding() {
        let b = v4_udp();
        let p = parse_v4(&b).unwrap();
        assert_eq!(p.src, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(p.dst, "198.51.100.2".parse::<IpAddr>().unwrap());
        assert_eq!((p.proto, p.ttl, p.total_len, p.truncated, p.frag), (17, 64, 30, false, None));
        assert_eq!(p.payload.len(), 10);
        assert_eq!(udp(p.payload).unwrap(), (5060, 5060, &b"hi"[..]));
        assert_eq!(parse(L3::Ipv4(&b)).unwrap(), Some(p));
        assert_eq!(parse(L3::Arp).unwrap(), None);
    }

    #[test]
    fn ipv4_options_fragments_and_damage() {
        // IHL 6 (one 4-byte option: NOP NOP NOP EOL), MF set, offset 185*8.
        let mut b = vec![0x46, 0, 0, 28, 0xbe, 0xef, 0x20, 185, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, 1, 1, 1, 0];
        b.extend_from_slice(&[1, 2, 3, 4]);
        let p = parse_v4(&b).unwrap();
        assert_eq!(p.payload, &[1, 2, 3, 4]);
        assert_eq!(p.frag, Some(Frag { id: 0xbeef, offset: 1480, more: true }));
        // Cut at snaplen: keep what is there.
        let p = parse_v4(&b[..26]).unwrap();
        assert!(p.truncated);
        assert_eq!(p.payload, &[1, 2]);
        assert_eq!(parse_v4(&b[..22]).unwrap_err(), Malformed::new("ipv4 options truncated"));
        assert_eq!(parse_v4(&b[..19]).unwrap_err(), Malformed::new("ipv4 header truncated"));
        b[0] = 0x44;
        assert_eq!(parse_v4(&b).unwrap_err(), Malformed::new("ipv4 header length below 20"));
        b[0] = 0x65;
        assert_eq!(parse_v4(&b).unwrap_err(), Malformed::new("ipv4 version mismatch"));
        let mut b = v4_udp();
        b[3] = 10;
        assert_eq!(parse_v4(&b).unwrap_err(), Malformed::new("ipv4 total length below header"));
        b[3] = 0; // TSO: captured length wins
        assert_eq!(parse_v4(&b).unwrap().payload.len(), 12);
    }

    fn v6(next: u8, ext_and_payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0x60, 0, 0, 0];
        b.extend_from_slice(&(ext_and_payload.len() as u16).to_be_bytes());
        b.extend_from_slice(&[next, 255]);
        b.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        b.extend_from_slice(ext_and_payload);
        b
    }

    #[test]
    fn ipv6_plain_and_extension_chain() {
        let b = v6(17, &[0, 1, 0, 2, 0, 9, 0, 0, 7]);
        let p = parse_v6(&b).unwrap();
        assert_eq!((p.proto, p.ttl, p.total_len), (17, 255, 49));
        assert_eq!(udp(p.payload).unwrap(), (1, 2, &[7u8][..]));
        // hop-by-hop (8) -> dest opts (16) -> fragment (offset 0, M) -> ESP
        let mut e = vec![60, 0, 1, 4, 0, 0, 0, 0];
        e.extend_from_slice(&[44, 1, 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        e.extend_from_slice(&[50, 0, 0, 1, 0xca, 0xfe, 0, 1]);
        e.extend_from_slice(&[0xc1, 0xa2, 0xb3, 0xc4, 0, 0, 0, 1]);
        let b = v6(0, &e);
        let p = parse_v6(&b).unwrap();
        assert_eq!(p.proto, 50);
        assert_eq!(p.frag, Some(Frag { id: 0xcafe0001, offset: 0, more: true }));
        assert_eq!(p.payload, &[0xc1, 0xa2, 0xb3, 0xc4, 0, 0, 0, 1]);
        // AH is not skipped.
        let b = v6(51, &[50, 4, 0, 0, 1, 2, 3, 4]);
        assert_eq!(parse_v6(&b).unwrap().proto, 51);
        // Extension header longer than the packet.
        let b = v6(43, &[17, 3, 0, 0, 0, 0, 0, 0]);
        assert_eq!(parse_v6(&b).unwrap_err(), Malformed::new("ipv6 extension header truncated"));
        // A loop of destination options headers.
        let chain = [60, 0, 0, 0, 0, 0, 0, 0].repeat(10);
        let b = v6(60, &chain);
        assert_eq!(parse_v6(&b).unwrap_err(), Malformed::new("ipv6 extension header chain too long"));
        assert_eq!(parse_v6(&b[..39]).unwrap_err(), Malformed::new("ipv6 header truncated"));
        // No next header: an empty upper layer, not an error.
        let empty = v6(59, &[]);
        let p = parse_v6(&empty).unwrap();
        assert_eq!((p.proto, p.payload.len()), (59, 0));
    }

    #[test]
    fn ipv6_truncated_and_padded() {
        let mut b = v6(17, &[0, 1, 0, 2, 0, 9, 0, 0, 7]);
        let p = parse_v6(&b[..44]).unwrap();
        assert!(p.truncated);
        assert_eq!(p.payload.len(), 4);
        b.extend_from_slice(&[0xee; 6]);
        let p = parse_v6(&b).unwrap();
        assert!(!p.truncated);
        assert_eq!(p.payload.len(), 9);
        assert_eq!(skip_v6_ext(60, &[17, 0, 0, 0, 0, 0, 0, 0, 9]).unwrap(), (17, &[9u8][..]));
        assert!(skip_v6_ext(44, &[17, 0, 0, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn udp_lengths() {
        assert_eq!(udp(&[0, 1, 0, 2, 0, 8, 0, 0, 0xaa]).unwrap().2, &[] as &[u8]);
        // Announced longer than captured: keep what is there.
        assert_eq!(udp(&[0, 1, 0, 2, 0, 100, 0, 0, 0xaa]).unwrap().2, &[0xaa]);
        assert_eq!(udp(&[0, 1, 0, 2, 0, 0, 0, 0, 0xaa]).unwrap().2, &[0xaa]);
        assert_eq!(udp(&[0, 1, 0, 2, 0, 7, 0, 0]).unwrap_err(), Malformed::new("udp length below header"));
        assert_eq!(udp(&[0, 1, 0, 2, 0, 8, 0]).unwrap_err(), Malformed::new("udp header truncated"));
    }

    #[test]
    fn tcp_header() {
        // 58882 -> 5060, seq 0x01020304, ack 0x0a0b0c0d, doff 6 (MSS option), PSH|ACK, window 512
        let b = [
            0xe6, 0x02, 0x13, 0xc4, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0x60, 0x18, 0x02, 0x00, 0, 0, 0, 0, 2, 4, 5,
            0xb4, b'S', b'I', b'P',
        ];
        let s = tcp(&b).unwrap();
        assert_eq!((s.sport, s.dport, s.seq, s.ack, s.window), (58882, 5060, 0x01020304, 0x0a0b0c0d, 512));
        assert_eq!(s.flags, tcp_flags::PSH | tcp_flags::ACK);
        assert!(s.ack_flag() && !s.syn() && !s.fin() && !s.rst());
        assert_eq!(s.payload, b"SIP");
        assert_eq!(tcp(&b[..22]).unwrap_err(), Malformed::new("tcp options truncated"));
        assert_eq!(tcp(&b[..19]).unwrap_err(), Malformed::new("tcp header truncated"));
        let mut b = b;
        b[12] = 0x40;
        assert_eq!(tcp(&b).unwrap_err(), Malformed::new("tcp data offset below 20"));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(b in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_v4(&b);
            let _ = parse_v6(&b);
            let _ = udp(&b);
            let _ = tcp(&b);
            let _ = skip_v6_ext(0, &b);
        }

        #[test]
        fn v4_with_fuzzed_fields_stays_in_bounds(mut b in prop::collection::vec(any::<u8>(), 20..120)) {
            b[0] = 0x40 | (b[0] & 0x0f);
            if let Ok(p) = parse_v4(&b) {
                prop_assert!(p.payload.len() <= b.len());
                prop_assert!(p.truncated == (p.total_len as usize > b.len()));
            }
        }

        #[test]
        fn v6_with_fuzzed_chain_stays_in_bounds(next in prop::sample::select(vec![0u8, 43, 44, 60, 17, 6]), body in prop::collection::vec(any::<u8>(), 0..120)) {
            let b = v6(next, &body);
            if let Ok(p) = parse_v6(&b) {
                prop_assert!(p.payload.len() <= body.len());
            }
        }
    }
}

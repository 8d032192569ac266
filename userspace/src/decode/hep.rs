//! HEP (Homer's encapsulation protocol, "EEP"): capture agents (Kamailio, OpenSIPS,
//! FreeSWITCH, rtpengine, heplify, captagent) send a copy of each SIP message they see to a
//! collector, with the message's original addresses and ports. A capture taken at a collector
//! holds the calls only inside it. Version 3 carries typed chunks, over UDP or TCP (where each
//! message starts with its own length); versions 1 and 2 (Kamailio's siptrace still defaults
//! to 1) a fixed header: version, header length, address family, IP protocol, ports, the two
//! addresses, and in version 2 the agent's time and capture id, then the SIP message.

use std::net::IpAddr;

use super::{be16, Malformed};

/// Homer's collector port.
pub const PORT_HEP: u16 = 9060;
/// `proto type` chunk value of a SIP payload.
pub const PROTO_TYPE_SIP: u8 = 1;

/// One HEP3 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hep<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    /// IP protocol the message travelled on (17, 6, 132).
    pub ip_proto: u8,
    /// What the payload is (1: SIP; others are RTCP, logs, QoS reports…).
    pub proto_type: u8,
    pub payload: &'a [u8],
    /// The payload chunk was the compressed one (type 16): not read.
    pub compressed: bool,
}

/// Does a datagram hold one HEP3 message: the magic, then a total length equal to its own?
pub fn is_hep3(b: &[u8]) -> bool {
    b.starts_with(b"HEP3") && be16(b, 4).is_some_and(|l| usize::from(l) == b.len())
}

/// A HEP message of any version: version 3 by its magic, else versions 1 and 2.
pub fn parse_any(b: &[u8]) -> Result<Hep<'_>, Malformed> {
    if b.starts_with(b"HEP3") {
        parse(b)
    } else {
        parse_v12(b)
    }
}

/// `struct hep_timehdr` of version 2 as the agents write it: seconds and microseconds (4 bytes
/// each) and a 2-byte capture id, padded to 12 by the C compiler.
const V2_TIME_LEN: usize = 12;

/// A HEP version 1 or 2 message: the fixed header, then the payload (always SIP: these
/// versions carry nothing else). The header's length byte must agree with the address family
/// (8 + 8 for IPv4, 8 + 32 for IPv6), which with the version byte makes the test strict
/// enough for a caller that also asks the payload to read as SIP.
pub fn parse_v12(b: &[u8]) -> Result<Hep<'_>, Malformed> {
    let (version, head, family, ip_proto) = match b {
        [v @ (1 | 2), l, f, p, ..] => (*v, usize::from(*l), *f, *p),
        _ => return Err(Malformed::new("hep v1/v2 header truncated or wrong version")),
    };
    let (sport, dport) = (be16(b, 4), be16(b, 6));
    let (src, dst): (IpAddr, IpAddr) = match (family, head) {
        // AF_INET; AF_INET6 as Linux (10) and the BSDs (24, 28, 30) number it.
        (2, 16) => {
            let a = b.get(8..16).ok_or(Malformed::new("hep v1/v2 header truncated"))?;
            (
                <[u8; 4]>::try_from(&a[..4]).unwrap_or_default().into(),
                <[u8; 4]>::try_from(&a[4..]).unwrap_or_default().into(),
            )
        }
        (10 | 24 | 28 | 30, 40) => {
            let a = b.get(8..40).ok_or(Malformed::new("hep v1/v2 header truncated"))?;
            (
                <[u8; 16]>::try_from(&a[..16]).unwrap_or_default().into(),
                <[u8; 16]>::try_from(&a[16..]).unwrap_or_default().into(),
            )
        }
        _ => return Err(Malformed::new("hep v1/v2 header length does not match its address family")),
    };
    let at = head + if version == 2 { V2_TIME_LEN } else { 0 };
    let payload = b.get(at..).filter(|p| !p.is_empty()).ok_or(Malformed::new("hep v1/v2 message without payload"))?;
    Ok(Hep {
        src,
        dst,
        sport: sport.unwrap_or(0),
        dport: dport.unwrap_or(0),
        ip_proto,
        proto_type: PROTO_TYPE_SIP,
        payload,
        compressed: false,
    })
}

/// Where a HEP3 message ends in a TCP stream (each starts with the magic and its length).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpFrame {
    /// A whole message of this many bytes starts the buffer.
    Message(usize),
    /// The start of one of this many bytes (0: its length is not there yet).
    Awaiting(usize),
    /// The buffer does not start with a HEP3 message.
    NotHep,
}

/// Where the next HEP3 message may start in a TCP stream buffer that does not start with one
/// (a stream picked up mid-way, a gap): the next magic followed by a generic chunk's vendor 0.
/// `None` when there is none yet; the last bytes may still be the start of one.
pub fn tcp_resync(b: &[u8]) -> Option<usize> {
    memchr::memmem::find_iter(b, b"HEP3").find(|&at| at > 0 && b.get(at + 6..at + 8).is_none_or(|v| v == [0, 0]))
}

/// Frame one HEP3 message at the front of a TCP stream buffer.
pub fn tcp_frame(b: &[u8]) -> TcpFrame {
    let magic = &b"HEP3"[..b.len().min(4)];
    if !b.starts_with(magic) {
        return TcpFrame::NotHep;
    }
    match be16(b, 4).map(usize::from) {
        None => TcpFrame::Awaiting(0),
        Some(len) if len < 6 => TcpFrame::NotHep,
        Some(len) if len <= b.len() => TcpFrame::Message(len),
        Some(len) => TcpFrame::Awaiting(len),
    }
}

/// Read a HEP3 message's chunks (generic vendor 0; vendors' own are skipped).
pub fn parse(b: &[u8]) -> Result<Hep<'_>, Malformed> {
    if !b.starts_with(b"HEP3") {
        return Err(Malformed::new("hep magic missing"));
    }
    let total = usize::from(be16(b, 4).ok_or(Malformed::new("hep header truncated"))?);
    let body = b.get(6..total).ok_or(Malformed::new("hep length past datagram end"))?;
    let (mut src4, mut dst4, mut src6, mut dst6) = (None, None, None, None);
    let (mut sport, mut dport, mut ip_proto, mut proto_type) = (None, None, None, None);
    let (mut payload, mut compressed) = (None, false);
    let mut rest = body;
    while !rest.is_empty() {
        let h = rest.get(..6).ok_or(Malformed::new("hep chunk header truncated"))?;
        let (vendor, kind, len) =
            (be16(h, 0).unwrap_or(0), be16(h, 2).unwrap_or(0), usize::from(be16(h, 4).unwrap_or(0)));
        if len < 6 {
            return Err(Malformed::new("hep chunk length below 6"));
        }
        let value = rest.get(6..len).ok_or(Malformed::new("hep chunk past message end"))?;
        rest = &rest[len..];
        if vendor != 0 {
            continue;
        }
        let byte = || value.first().copied();
        let port = || be16(value, 0);
        match kind {
            2 => ip_proto = byte(),
            3 => src4 = <[u8; 4]>::try_from(value).ok(),
            4 => dst4 = <[u8; 4]>::try_from(value).ok(),
            5 => src6 = <[u8; 16]>::try_from(value).ok(),
            6 => dst6 = <[u8; 16]>::try_from(value).ok(),
            7 => sport = port(),
            8 => dport = port(),
            11 => proto_type = byte(),
            15 => payload = Some(value),
            16 => {
                payload = Some(value);
                compressed = true;
            }
            _ => {}
        }
    }
    let (src, dst): (IpAddr, IpAddr) = match (src4, dst4, src6, dst6) {
        (Some(s), Some(d), _, _) => (s.into(), d.into()),
        (_, _, Some(s), Some(d)) => (s.into(), d.into()),
        _ => return Err(Malformed::new("hep addresses missing")),
    };
    let missing = Malformed::new("hep chunk missing");
    Ok(Hep {
        src,
        dst,
        sport: sport.ok_or(missing)?,
        dport: dport.ok_or(missing)?,
        ip_proto: ip_proto.unwrap_or(17),
        proto_type: proto_type.ok_or(missing)?,
        payload: payload.ok_or(missing)?,
        compressed,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A HEP3 message from the generic chunks (addresses by family), then `extra` chunks.
    pub(crate) fn hep3(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, proto_type: u8, payload: &[u8]) -> Vec<u8> {
        let chunk = |kind: u16, v: &[u8]| {
            [&0u16.to_be_bytes()[..], &kind.to_be_bytes(), &((6 + v.len()) as u16).to_be_bytes(), v].concat()
        };
        let (family, s, d): (u8, Vec<u8>, Vec<u8>) = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (2, chunk(3, &s.octets()), chunk(4, &d.octets())),
            (IpAddr::V6(s), IpAddr::V6(d)) => (10, chunk(5, &s.octets()), chunk(6, &d.octets())),
            _ => unreachable!(),
        };
        let body = [
            chunk(1, &[family]),
            chunk(2, &[17]),
            s,
            d,
            chunk(7, &sport.to_be_bytes()),
            chunk(8, &dport.to_be_bytes()),
            chunk(9, &1_700_000_000u32.to_be_bytes()),
            chunk(10, &5u32.to_be_bytes()),
            chunk(11, &[proto_type]),
            chunk(12, &2001u32.to_be_bytes()),
            [&0x0025u16.to_be_bytes()[..], &1u16.to_be_bytes(), &8u16.to_be_bytes(), &[9, 9]].concat(),
            chunk(15, payload),
        ]
        .concat();
        [&b"HEP3"[..], &((6 + body.len()) as u16).to_be_bytes(), &body].concat()
    }

    #[test]
    fn reads_the_generic_chunks() {
        let b = hep3([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 5060, 5080, 1, b"OPTIONS sip:x SIP/2.0\r\n\r\n");
        assert!(is_hep3(&b));
        let h = parse(&b).unwrap();
        assert_eq!(
            (h.src, h.dst, h.sport, h.dport),
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), 5060, 5080)
        );
        assert_eq!((h.ip_proto, h.proto_type, h.compressed), (17, 1, false));
        assert_eq!(h.payload, b"OPTIONS sip:x SIP/2.0\r\n\r\n");
        let v6 = hep3("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap(), 1, 2, 5, b"rtcp");
        assert_eq!(parse(&v6).unwrap().src, "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn damage() {
        let b = hep3([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 5060, 5080, 1, b"x");
        assert!(!is_hep3(&b[..b.len() - 1]));
        assert!(parse(&b[..b.len() - 1]).is_err(), "length past the datagram");
        assert!(parse(b"HEP2\0\x06").is_err());
        assert!(parse(b"HEP3\0\x06").is_err(), "no chunks: addresses missing");
        let mut short = b.clone();
        short[6 + 4..6 + 6].copy_from_slice(&3u16.to_be_bytes());
        assert!(parse(&short).is_err());
    }

    /// A HEP version 1 or 2 message as the agents build it.
    pub(crate) fn hep12(version: u8, src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let (family, len, addrs) = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (2u8, 16u8, [&s.octets()[..], &d.octets()].concat()),
            (IpAddr::V6(s), IpAddr::V6(d)) => (10, 40, [&s.octets()[..], &d.octets()].concat()),
            _ => unreachable!(),
        };
        let mut m = vec![version, len, family, 17];
        m.extend(sport.to_be_bytes());
        m.extend(dport.to_be_bytes());
        m.extend(addrs);
        if version == 2 {
            m.extend(1_700_000_000u32.to_le_bytes());
            m.extend(5u32.to_le_bytes());
            m.extend([0xd1, 0x07, 0, 0]);
        }
        m.extend_from_slice(payload);
        m
    }

    #[test]
    fn reads_versions_1_and_2() {
        let sip = b"OPTIONS sip:x SIP/2.0\r\n\r\n";
        for v in [1, 2] {
            let b = hep12(v, [10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 5060, 5080, sip);
            let h = parse_any(&b).unwrap();
            assert_eq!((h.src, h.sport, h.dport, h.ip_proto), ("10.0.0.1".parse().unwrap(), 5060, 5080, 17));
            assert_eq!(h.payload, sip, "version {v}");
            let b = hep12(v, "2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap(), 1, 2, sip);
            let h = parse_any(&b).unwrap();
            assert_eq!((h.dst, h.payload), ("2001:db8::2".parse().unwrap(), &sip[..]));
        }
        let mut b = hep12(1, [10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 1, 2, sip);
        b[1] = 40;
        assert!(parse_v12(&b).is_err(), "a length that is not the family's");
        assert!(parse_v12(&b[..16]).is_err(), "no payload");
        assert!(parse_v12(b"\x03\x10\x02\x11").is_err());
    }

    #[test]
    fn finds_the_next_message_after_a_gap() {
        let m = hep3([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 5060, 5080, 1, b"x");
        let b = [&m[7..], &m[..]].concat();
        assert_eq!(tcp_resync(&b), Some(m.len() - 7));
        assert_eq!(tcp_resync(&b[..m.len() - 7 + 3]), None, "not the magic yet");
        assert_eq!(tcp_resync(b"..HEP3\x00\x30\x99\x99"), None, "no generic chunk after it");
        assert_eq!(tcp_resync(b"..HEP3\x00"), Some(2), "cut before its chunk: a candidate");
    }

    #[test]
    fn frames_hep3_in_a_stream() {
        let m = hep3([10, 0, 0, 1].into(), [10, 0, 0, 2].into(), 5060, 5080, 1, b"x");
        let two = [&m[..], &m].concat();
        assert_eq!(tcp_frame(&two), TcpFrame::Message(m.len()));
        assert_eq!(tcp_frame(&m[..m.len() - 1]), TcpFrame::Awaiting(m.len()));
        assert_eq!(tcp_frame(&m[..5]), TcpFrame::Awaiting(0));
        assert_eq!(tcp_frame(b"HE"), TcpFrame::Awaiting(0));
        assert_eq!(tcp_frame(b"HEP3\0\x02"), TcpFrame::NotHep);
        assert_eq!(tcp_frame(b"GET / HTTP/1.1"), TcpFrame::NotHep);
    }

    proptest! {
        #[test]
        fn v12_never_panics(b in prop::collection::vec(any::<u8>(), 0..120)) {
            let _ = parse_v12(&b);
            let _ = tcp_frame(&b);
        }

        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..120)) {
            let mut m = b"HEP3".to_vec();
            m.extend(((b.len() + 6) as u16).to_be_bytes());
            m.extend(&b);
            let _ = is_hep3(&m);
            let _ = parse(&m);
            let _ = parse(&b);
        }
    }
}

//! PPP (RFC 1661) as tunnels and link types carry it: HDLC-like framing (RFC 1662: address
//! 0xff, control 0x03), which may be left out, a protocol field of two bytes or, compressed,
//! one; PPPoE's session stage (RFC 2516); and the pcap link types PPP (9), PPP_HDLC (50,
//! which also holds Cisco HDLC) and PPP_WITH_DIR (204, a direction byte first).

use crate::decode::{be16, Malformed};

use super::Payload;

pub const PROTO_IPV4: u16 = 0x0021;
pub const PROTO_IPV6: u16 = 0x0057;

/// The frame without its HDLC address and control bytes, when it has them.
#[inline]
pub fn strip_hdlc(b: &[u8]) -> &[u8] {
    match b {
        [0xff, 0x03, rest @ ..] => rest,
        _ => b,
    }
}

/// The protocol field of a PPP frame (after [`strip_hdlc`]) and what follows it. A first byte
/// with its low bit set is a compressed one-byte field (RFC 1661 section 6.5).
pub fn protocol(b: &[u8]) -> Result<(u16, &[u8]), Malformed> {
    match b {
        [p, rest @ ..] if p & 1 == 1 => Ok((u16::from(*p), rest)),
        [hi, lo, rest @ ..] if lo & 1 == 1 => Ok((u16::from_be_bytes([*hi, *lo]), rest)),
        [_, _, ..] => Err(Malformed::new("ppp protocol field invalid")),
        _ => Err(Malformed::new("ppp frame truncated")),
    }
}

/// What a PPP frame (from its protocol field) carries: IP, or nothing followed (LCP, IPCP,
/// compressed or encrypted datagrams).
pub fn payload(b: &[u8]) -> Result<Payload<'_>, Malformed> {
    let (proto, rest) = protocol(b)?;
    Ok(match proto {
        PROTO_IPV4 | PROTO_IPV6 => Payload::Ip(rest),
        _ => Payload::None,
    })
}

/// A frame of link type PPP_HDLC (50): PPP in HDLC-like framing, or Cisco HDLC (address 0x0f
/// or 0x8f, control 0, an ethertype).
pub fn hdlc_frame(b: &[u8]) -> Result<Payload<'_>, Malformed> {
    match b {
        [0x0f | 0x8f, 0x00, ..] => {
            let et = be16(b, 2).ok_or(Malformed::new("cisco hdlc header truncated"))?;
            Ok(super::by_ethertype(et, &b[4..]))
        }
        _ => payload(strip_hdlc(b)),
    }
}

/// A frame of link type PPP (9): HDLC-like framing when it starts with 0xff 0x03, else the
/// PPP header directly.
pub fn link_frame(b: &[u8]) -> Result<Payload<'_>, Malformed> {
    payload(strip_hdlc(b))
}

/// A frame of link type PPP_WITH_DIR (204): a direction byte (0 received, 1 sent), then as
/// link type PPP. Returns whether it was sent, and the payload.
pub fn with_dir_frame(b: &[u8]) -> Result<(bool, Payload<'_>), Malformed> {
    let (dir, rest) = b.split_first().ok_or(Malformed::new("ppp direction byte missing"))?;
    Ok((*dir != 0, link_frame(rest)?))
}

/// PPPoE session stage (ethertype 0x8864).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pppoe<'a> {
    pub session_id: u16,
    pub payload: Payload<'a>,
}

/// Decode a PPPoE session packet (the bytes after the ethertype).
pub fn pppoe_session(b: &[u8]) -> Result<Pppoe<'_>, Malformed> {
    let h = b.get(..6).ok_or(Malformed::new("pppoe header truncated"))?;
    if h[0] != 0x11 {
        return Err(Malformed::new("pppoe version or type not 1"));
    }
    if h[1] != 0 {
        return Err(Malformed::new("pppoe session packet with a discovery code"));
    }
    let session_id = be16(h, 2).unwrap_or(0);
    let len = usize::from(be16(h, 4).unwrap_or(0));
    // The length cuts Ethernet padding; a capture cut at snaplen may hold less.
    let body = &b[6..(6 + len).min(b.len())];
    Ok(Pppoe { session_id, payload: payload(body)? })
}

/// PPPoE discovery (ethertype 0x8863): the code (PADI 0x09, PADO 0x07, PADR 0x19, PADS 0x65,
/// PADT 0xa7) and the session ID (assigned by PADS, 0 before).
pub fn pppoe_discovery(b: &[u8]) -> Result<(u8, u16), Malformed> {
    let h = b.get(..6).ok_or(Malformed::new("pppoe header truncated"))?;
    if h[0] != 0x11 {
        return Err(Malformed::new("pppoe version or type not 1"));
    }
    if !matches!(h[1], 0x09 | 0x07 | 0x19 | 0x65 | 0xa7) {
        return Err(Malformed::new("pppoe discovery code unknown"));
    }
    Ok((h[1], be16(h, 2).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn framing_and_protocol_compression() {
        assert_eq!(link_frame(&[0xff, 0x03, 0x00, 0x21, 0x45]).unwrap(), Payload::Ip(&[0x45]));
        assert_eq!(link_frame(&[0x00, 0x57, 0x60]).unwrap(), Payload::Ip(&[0x60]));
        assert_eq!(link_frame(&[0x21, 0x45]).unwrap(), Payload::Ip(&[0x45]));
        assert_eq!(link_frame(&[0xc0, 0x21, 1, 1]).unwrap(), Payload::None);
        assert_eq!(link_frame(&[0x00, 0x20]).unwrap_err().reason, "ppp protocol field invalid");
        assert_eq!(link_frame(&[0x00]).unwrap_err().reason, "ppp frame truncated");
        assert_eq!(with_dir_frame(&[1, 0xff, 0x03, 0x00, 0x21, 0x45]).unwrap(), (true, Payload::Ip(&[0x45])));
        assert_eq!(hdlc_frame(&[0x0f, 0, 0x86, 0xdd, 0x60]).unwrap(), Payload::Ip(&[0x60]));
        assert_eq!(hdlc_frame(&[0xff, 0x03, 0x00, 0x21, 0x45]).unwrap(), Payload::Ip(&[0x45]));
    }

    #[test]
    fn pppoe_session_stage() {
        let b = [0x11, 0x00, 0x12, 0x34, 0x00, 0x03, 0x00, 0x21, 0x45, 0, 0, 0];
        assert_eq!(pppoe_session(&b).unwrap(), Pppoe { session_id: 0x1234, payload: Payload::Ip(&[0x45]) });
        assert_eq!(pppoe_session(&b[..5]).unwrap_err().reason, "pppoe header truncated");
        let mut d = b;
        d[1] = 0x09;
        assert!(pppoe_session(&d).is_err());
        assert_eq!(pppoe_discovery(&[0x11, 0x65, 0x12, 0x34, 0, 0]).unwrap(), (0x65, 0x1234));
        assert!(pppoe_discovery(&[0x11, 0x00, 0, 0, 0, 0]).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..40)) {
            let _ = link_frame(&b);
            let _ = hdlc_frame(&b);
            let _ = with_dir_frame(&b);
            let _ = pppoe_session(&b);
            let _ = pppoe_discovery(&b);
        }
    }
}

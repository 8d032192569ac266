//! L2TP: version 2 (RFC 2661) on UDP 1701, with tunnel and session IDs and PPP inside, and
//! version 3 (RFC 3931) over UDP (same port, version field 3) or directly over IP (protocol
//! 115), with 32-bit session IDs and usually Ethernet pseudowires inside.

use crate::decode::{be16, be32, Malformed};

use super::Payload;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2tp<'a> {
    pub version: u8,
    /// A control message (T bit, or L2TPv3 over IP with session 0).
    pub control: bool,
    /// L2TPv2's tunnel ID; L2TPv3's control connection ID on control messages.
    pub tunnel_id: Option<u32>,
    /// L2TPv2's 16-bit or L2TPv3's 32-bit session ID (absent on v3 control messages).
    pub session_id: Option<u32>,
    pub payload: Payload<'a>,
}

/// Decode an L2TP message carried in UDP (both versions; the version field tells).
pub fn parse_udp(b: &[u8]) -> Result<L2tp<'_>, Malformed> {
    let flags = be16(b, 0).ok_or(Malformed::new("l2tp header truncated"))?;
    match flags & 0x000f {
        2 => v2(b, flags),
        3 => v3_udp(b, flags),
        _ => Err(Malformed::new("l2tp version unknown")),
    }
}

fn v2(b: &[u8], flags: u16) -> Result<L2tp<'_>, Malformed> {
    let control = flags & 0x8000 != 0;
    let (len_bit, seq_bit, off_bit) = (flags & 0x4000 != 0, flags & 0x0800 != 0, flags & 0x0200 != 0);
    // RFC 2661: control messages have L and S set and no offset.
    if control && (!len_bit || !seq_bit || off_bit) {
        return Err(Malformed::new("l2tp control message without length and sequence"));
    }
    let trunc = Malformed::new("l2tp header truncated");
    let mut at = 2;
    let mut end = b.len();
    if len_bit {
        let len = usize::from(be16(b, at).ok_or(trunc)?);
        if len < 6 {
            return Err(Malformed::new("l2tp length below header"));
        }
        end = end.min(len);
        at += 2;
    }
    let tunnel_id = be16(b, at).ok_or(trunc)?;
    let session_id = be16(b, at + 2).ok_or(trunc)?;
    at += 4;
    if seq_bit {
        at += 4;
    }
    if off_bit {
        let off = usize::from(be16(b, at).ok_or(trunc)?);
        at += 2 + off;
    }
    let body = b.get(at..end.max(at)).ok_or(trunc)?;
    let payload = if control { Payload::None } else { super::ppp::payload(super::ppp::strip_hdlc(body))? };
    Ok(L2tp {
        version: 2,
        control,
        tunnel_id: Some(u32::from(tunnel_id)),
        session_id: Some(u32::from(session_id)),
        payload,
    })
}

fn v3_udp(b: &[u8], flags: u16) -> Result<L2tp<'_>, Malformed> {
    let trunc = Malformed::new("l2tp header truncated");
    if flags & 0x8000 != 0 {
        // Control: flags, length, control connection ID, Ns, Nr.
        let conn = be32(b, 4).ok_or(trunc)?;
        return Ok(L2tp { version: 3, control: true, tunnel_id: Some(conn), session_id: None, payload: Payload::None });
    }
    // Data: flags, reserved, session ID, then as over IP.
    let session = be32(b, 4).ok_or(trunc)?;
    Ok(L2tp {
        version: 3,
        control: false,
        tunnel_id: None,
        session_id: Some(session),
        payload: v3_data_payload(&b[8..]),
    })
}

/// Decode L2TPv3 directly over IP (protocol 115): a 32-bit session ID, 0 for control
/// messages (which then have the header of L2TPv3 over UDP without its first 4 bytes' meaning).
pub fn parse_ip(b: &[u8]) -> Result<L2tp<'_>, Malformed> {
    let session = be32(b, 0).ok_or(Malformed::new("l2tp header truncated"))?;
    if session == 0 {
        let conn = be32(b, 8).ok_or(Malformed::new("l2tp header truncated"))?;
        return Ok(L2tp { version: 3, control: true, tunnel_id: Some(conn), session_id: None, payload: Payload::None });
    }
    Ok(L2tp {
        version: 3,
        control: false,
        tunnel_id: None,
        session_id: Some(session),
        payload: v3_data_payload(&b[4..]),
    })
}

/// What follows an L2TPv3 session ID: a cookie of 0, 4 or 8 bytes and an optional 4-byte
/// L2-specific sublayer, both configured out of band, then (commonly) an Ethernet frame. The
/// first layout after which an Ethernet header carrying IPv4 or IPv6 is found is taken, as
/// Wireshark's cookie detection does; nothing is followed otherwise.
fn v3_data_payload(b: &[u8]) -> Payload<'_> {
    for skip in [0usize, 4, 8, 12] {
        let Some(frame) = b.get(skip..) else { break };
        let ip_version = frame.get(14).map(|v| v >> 4);
        match (be16(frame, 12), ip_version) {
            (Some(0x0800), Some(4)) | (Some(0x86dd), Some(6)) => return Payload::Ethernet(frame),
            _ => {}
        }
    }
    Payload::None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn v2_data_and_control() {
        // Data with L: length 12, tunnel 7, session 9, then PPP IPv4.
        let b = [0x40, 0x02, 0, 12, 0, 7, 0, 9, 0xff, 0x03, 0x00, 0x21, 0xee];
        let l = parse_udp(&b).unwrap();
        assert_eq!((l.version, l.control, l.tunnel_id, l.session_id), (2, false, Some(7), Some(9)));
        assert_eq!(l.payload, Payload::Ip(&[]), "cut at the length");
        let b = [0x00, 0x02, 0, 7, 0, 9, 0x00, 0x21, 0x45];
        assert_eq!(parse_udp(&b).unwrap().payload, Payload::Ip(&[0x45]));
        // SCCRQ: T L S, length 12, tunnel 0, session 0, Ns Nr.
        let c = [0xc8, 0x02, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0];
        let l = parse_udp(&c).unwrap();
        assert!(l.control);
        assert_eq!(l.payload, Payload::None);
        assert!(parse_udp(&[0x80, 0x02, 0, 0, 0, 0]).is_err());
        assert_eq!(parse_udp(&[0x00, 0x05, 0, 0]).unwrap_err().reason, "l2tp version unknown");
    }

    #[test]
    fn v3_over_ip_and_udp() {
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
        let mut ip = vec![0, 0, 0x10, 0x01, 0xde, 0xad, 0xbe, 0xef];
        ip.extend_from_slice(&eth);
        let l = parse_ip(&ip).unwrap();
        assert_eq!((l.session_id, l.control), (Some(0x1001), false));
        assert_eq!(l.payload, Payload::Ethernet(&eth[..]), "a 4-byte cookie is found");
        let mut udp = vec![0x00, 0x03, 0, 0];
        udp.extend_from_slice(&ip);
        assert_eq!(parse_udp(&udp).unwrap().payload, Payload::Ethernet(&eth[..]));
        let ctl = [0, 0, 0, 0, 0xc8, 0x03, 0, 20, 0, 0, 0, 5];
        assert_eq!(parse_ip(&ctl).unwrap().tunnel_id, Some(5));
    }

    proptest! {
        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..60)) {
            let _ = parse_udp(&b);
            let _ = parse_ip(&b);
        }
    }
}

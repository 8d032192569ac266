//! GRE (RFC 2784 with RFC 2890's key and sequence number, RFC 1701's routing) and PPTP's
//! enhanced GRE (RFC 2637: version 1, key = payload length and call ID, optional ack).
//! ERSPAN types II and III (GRE protocols 0x88be, 0x22eb) are followed to the mirrored frame.

use crate::decode::{be16, be32, Malformed};

use super::{by_ethertype, Payload};

const ERSPAN_II: u16 = 0x88be;
const ERSPAN_III: u16 = 0x22eb;
/// Source route entries allowed before the list is taken for garbage.
const MAX_SRE: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gre<'a> {
    /// 0 (RFC 2784/2890) or 1 (PPTP).
    pub version: u8,
    pub protocol: u16,
    /// The key (version 0, K bit). For PPTP the key field's low half is the call ID, in
    /// `call_id`, and this is `None`.
    pub key: Option<u32>,
    pub call_id: Option<u16>,
    pub seq: Option<u32>,
    pub ack: Option<u32>,
    pub payload: Payload<'a>,
}

/// Decode a GRE header (IP payload of protocol 47, or UDP 4754's payload).
pub fn parse(b: &[u8]) -> Result<Gre<'_>, Malformed> {
    let h = b.get(..4).ok_or(Malformed::new("gre header truncated"))?;
    let (c, r, k, s) = (h[0] & 0x80 != 0, h[0] & 0x40 != 0, h[0] & 0x20 != 0, h[0] & 0x10 != 0);
    let version = h[1] & 0x07;
    let protocol = be16(h, 2).unwrap_or(0);
    let mut at = 4;
    let word = |at: &mut usize| {
        let v = be32(b, *at).ok_or(Malformed::new("gre optional fields truncated"));
        *at += 4;
        v
    };
    let (mut key, mut call_id, mut seq, mut ack) = (None, None, None, None);
    // PPTP's payload length (the key's high half): 0 for an acknowledgment alone.
    let mut pptp_len = None;
    match version {
        0 => {
            if c || r {
                word(&mut at)?;
            }
            if k {
                key = Some(word(&mut at)?);
            }
            if s {
                seq = Some(word(&mut at)?);
            }
            if r {
                at = skip_routing(b, at)?;
            }
        }
        1 => {
            // PPTP: no checksum or routing, the key always present, and PPP inside.
            if c || r || !k || protocol != 0x880b {
                return Err(Malformed::new("pptp gre header not as RFC 2637 says"));
            }
            let key_word = word(&mut at)?;
            call_id = Some(key_word as u16);
            pptp_len = Some(usize::from((key_word >> 16) as u16));
            if s {
                seq = Some(word(&mut at)?);
            }
            if h[1] & 0x80 != 0 {
                ack = Some(word(&mut at)?);
            }
        }
        _ => return Err(Malformed::new("gre version unknown")),
    }
    let rest = b.get(at..).ok_or(Malformed::new("gre optional fields truncated"))?;
    let payload = match protocol {
        // Type II: an 8-byte header (type I, without the S bit, has none).
        ERSPAN_II if s => Payload::Ethernet(rest.get(8..).ok_or(Malformed::new("erspan header truncated"))?),
        ERSPAN_II => Payload::Ethernet(rest),
        ERSPAN_III => {
            let e = rest.get(..12).ok_or(Malformed::new("erspan header truncated"))?;
            // O bit: an 8-byte platform-specific subheader follows.
            let skip = if e[11] & 0x01 != 0 { 20 } else { 12 };
            Payload::Ethernet(rest.get(skip..).ok_or(Malformed::new("erspan header truncated"))?)
        }
        // An acknowledgment alone carries nothing; a payload is bounded by its announced
        // length (all there is when a capture cut it shorter).
        0x880b => match pptp_len {
            Some(0) => Payload::None,
            Some(n) => Payload::Ppp(super::ppp::strip_hdlc(&rest[..n.min(rest.len())])),
            None => Payload::Ppp(super::ppp::strip_hdlc(rest)),
        },
        p => by_ethertype(p, rest),
    };
    Ok(Gre { version, protocol, key, call_id, seq, ack, payload })
}

/// RFC 1701 source route entries: address family, offset, length, then `length` bytes, up to
/// the entry with family 0 and length 0.
fn skip_routing(b: &[u8], mut at: usize) -> Result<usize, Malformed> {
    for _ in 0..MAX_SRE {
        let af = be16(b, at).ok_or(Malformed::new("gre routing truncated"))?;
        let len = usize::from(*b.get(at + 3).ok_or(Malformed::new("gre routing truncated"))?);
        at += 4;
        if af == 0 && len == 0 {
            return Ok(at);
        }
        at += len;
    }
    Err(Malformed::new("gre routing list too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_key_sequence_and_checksum() {
        let b = [0, 0, 0x08, 0x00, 0x45];
        let g = parse(&b).unwrap();
        assert_eq!((g.version, g.key, g.seq, g.payload), (0, None, None, Payload::Ip(&[0x45])));
        // C, K, S: checksum word, key 1000, sequence 5, IPv6 inside.
        let b = [0xb0, 0, 0x86, 0xdd, 0xab, 0xcd, 0, 0, 0, 0, 0x03, 0xe8, 0, 0, 0, 5, 0x60];
        let g = parse(&b).unwrap();
        assert_eq!((g.key, g.seq, g.payload), (Some(1000), Some(5), Payload::Ip(&[0x60])));
        assert_eq!(parse(&b[..12]).unwrap_err().reason, "gre optional fields truncated");
        assert_eq!(parse(&[0, 3, 8, 0]).unwrap_err().reason, "gre version unknown");
        assert_eq!(parse(&[0, 0, 8]).unwrap_err().reason, "gre header truncated");
    }

    #[test]
    fn pptp_enhanced_gre() {
        // K S, version 1 with A: payload length 5, call ID 6016, seq 3, ack 2, PPP IPv4.
        let b = [0x30, 0x81, 0x88, 0x0b, 0, 5, 0x17, 0x80, 0, 0, 0, 3, 0, 0, 0, 2, 0xff, 0x03, 0x00, 0x21, 0x45];
        let g = parse(&b).unwrap();
        assert_eq!((g.version, g.call_id, g.seq, g.ack), (1, Some(6016), Some(3), Some(2)));
        assert_eq!(g.payload, Payload::Ppp(&[0x00, 0x21, 0x45]));
        // Bytes past the announced length are not the payload's; a payload cut short is all
        // there is.
        let long = [&b[..], &[0xee, 0xee]].concat();
        assert_eq!(parse(&long).unwrap().payload, Payload::Ppp(&[0x00, 0x21, 0x45]));
        assert_eq!(parse(&b[..20]).unwrap().payload, Payload::Ppp(&[0x00, 0x21]));
        // An acknowledgment alone (no S, payload length 0): nothing inside, and no damage.
        let g = parse(&[0x20, 0x81, 0x88, 0x0b, 0, 0, 0x17, 0x80, 0, 0, 0, 9]).unwrap();
        assert_eq!((g.seq, g.ack, g.payload), (None, Some(9), Payload::None));
        // Version 1 without the key is not PPTP.
        assert!(parse(&[0x10, 0x01, 0x88, 0x0b, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn routing_and_erspan() {
        // R: checksum/offset word, one SRE of 4 bytes, then the terminator.
        let b = [0x40, 0, 0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0, 0x45];
        assert_eq!(parse(&b).unwrap().payload, Payload::Ip(&[0x45]));
        assert_eq!(parse(&b[..14]).unwrap_err().reason, "gre routing truncated");
        // ERSPAN III with the O bit: 12 + 8 header bytes before the frame.
        let mut b = vec![0x10, 0, 0x22, 0xeb, 0, 0, 0, 1];
        b.extend_from_slice(&[0x20, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]);
        b.extend_from_slice(&[0; 8]);
        b.push(0xee);
        assert_eq!(parse(&b).unwrap().payload, Payload::Ethernet(&[0xee]));
        let b = [0x10, 0, 0x88, 0xbe, 0, 0, 0, 1, 0x10, 0, 0, 1, 0, 0, 0, 0, 0xee];
        assert_eq!(parse(&b).unwrap().payload, Payload::Ethernet(&[0xee]));
    }

    proptest! {
        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse(&b);
        }
    }
}

//! GTP-U (3GPP TS 29.281): the user plane of mobile cores, on UDP 2152. Version 1, protocol
//! type 1, a message type, a length that must agree with the datagram, the TEID, then the
//! optional sequence/N-PDU/next-extension word and the chain of extension headers. G-PDUs
//! (type 255) carry the subscriber's IP packet.

use crate::decode::{be16, be32, Malformed};

use super::Payload;

/// Extension headers followed before the chain is taken for garbage.
const MAX_EXTENSIONS: usize = 16;

pub const G_PDU: u8 = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gtp<'a> {
    pub message_type: u8,
    pub teid: u32,
    pub seq: Option<u16>,
    /// Extension headers seen (PDU session container, UDP port…).
    pub extensions: u8,
    /// The IP packet of a G-PDU; `None` for signalling on the user plane (echo, end marker,
    /// error indication).
    pub payload: Payload<'a>,
}

/// Message types defined for GTPv1-U (the structure test: anything else is not GTP-U).
fn known_type(t: u8) -> bool {
    matches!(t, 1 | 2 | 26 | 31 | 253 | 254 | G_PDU)
}

/// Decode a GTP-U message (UDP payload). `Err` for anything that is not well-formed GTPv1-U,
/// so a datagram on port 2152 of another protocol is never decapsulated.
pub fn parse(b: &[u8]) -> Result<Gtp<'_>, Malformed> {
    let h = b.get(..8).ok_or(Malformed::new("gtp-u header truncated"))?;
    // Version 1, protocol type 1 (GTP, not GTP'), spare bit 0.
    if h[0] & 0xf8 != 0x30 {
        return Err(Malformed::new("gtp-u version or protocol type wrong"));
    }
    let message_type = h[1];
    if !known_type(message_type) {
        return Err(Malformed::new("gtp-u message type unknown"));
    }
    let len = usize::from(be16(h, 2).unwrap_or(0));
    // The length counts what follows the 8 mandatory bytes; a capture cut at snaplen may hold
    // less, never more.
    if 8 + len < b.len() {
        return Err(Malformed::new("gtp-u length shorter than the datagram"));
    }
    let teid = be32(h, 4).unwrap_or(0);
    let end = (8 + len).min(b.len());
    let (mut at, mut seq, mut extensions) = (8, None, 0u8);
    if h[0] & 0x07 != 0 {
        let opt = b.get(8..12).ok_or(Malformed::new("gtp-u optional fields truncated"))?;
        if len < 4 {
            return Err(Malformed::new("gtp-u length below its optional fields"));
        }
        if h[0] & 0x02 != 0 {
            seq = be16(opt, 0);
        }
        let mut next = if h[0] & 0x04 != 0 { opt[3] } else { 0 };
        at = 12;
        while next != 0 {
            if usize::from(extensions) == MAX_EXTENSIONS {
                return Err(Malformed::new("gtp-u extension header chain too long"));
            }
            // Length in 4-byte units, counting itself and the next-type byte.
            let units = usize::from(*b.get(at).ok_or(Malformed::new("gtp-u extension header truncated"))?);
            if units == 0 {
                return Err(Malformed::new("gtp-u extension header length 0"));
            }
            let ext_end = at + units * 4;
            if ext_end > end {
                return Err(Malformed::new("gtp-u extension header truncated"));
            }
            next = b[ext_end - 1];
            at = ext_end;
            extensions += 1;
        }
    }
    let body = &b[at.min(end)..end];
    let payload = match (message_type, body.first().map(|v| v >> 4)) {
        (G_PDU, Some(4 | 6)) => Payload::Ip(body),
        _ => Payload::None,
    };
    Ok(Gtp { message_type, teid, seq, extensions, payload })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn g_pdu_with_extension_headers() {
        // E and S set, sequence 7, next extension 0x85 (PDU session container, 1 unit), then IP.
        let mut b = vec![0x36, 0xff, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0, 7, 0, 0x85];
        b.extend_from_slice(&[1, 0x10, 0x09, 0x00]);
        b.extend_from_slice(&[0x45, 0, 0, 20]);
        let len = (b.len() - 8) as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        let g = parse(&b).unwrap();
        assert_eq!((g.message_type, g.teid, g.seq, g.extensions), (255, 0xdeadbeef, Some(7), 1));
        assert_eq!(g.payload, Payload::Ip(&[0x45, 0, 0, 20]));
        // Cut at snaplen: what is there is kept.
        assert_eq!(parse(&b[..17]).unwrap().payload, Payload::Ip(&[0x45]));
        // A zero-length extension header would loop.
        let mut z = b.clone();
        z[12] = 0;
        assert_eq!(parse(&z).unwrap_err().reason, "gtp-u extension header length 0");
    }

    #[test]
    fn not_gtp_is_refused() {
        // DNS on port 2152 (the corpus's false positive): id 0x6bcb, flags 0x0100.
        let dns = [0x6b, 0xcb, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        assert!(parse(&dns).is_err());
        // Right flags, unknown type.
        assert_eq!(parse(&[0x30, 0x10, 0, 0, 0, 0, 0, 1]).unwrap_err().reason, "gtp-u message type unknown");
        // Trailing bytes beyond the announced length.
        assert_eq!(
            parse(&[0x30, 0xff, 0, 0, 0, 0, 0, 1, 9]).unwrap_err().reason,
            "gtp-u length shorter than the datagram"
        );
        // Echo request: GTP-U, no payload.
        let g = parse(&[0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap();
        assert_eq!((g.message_type, g.seq, g.payload), (1, Some(1), Payload::None));
    }

    proptest! {
        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse(&b);
        }

        #[test]
        fn never_panics_on_gtp_like_headers(flags in 0x30u8..0x38, ty in prop::sample::select(vec![1u8, 255]), body in prop::collection::vec(any::<u8>(), 0..60)) {
            let mut b = vec![flags, ty];
            b.extend_from_slice(&(body.len() as u16).to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 1]);
            b.extend_from_slice(&body);
            let _ = parse(&b);
        }
    }
}

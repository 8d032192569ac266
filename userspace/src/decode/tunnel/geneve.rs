//! Geneve (RFC 8926): version 0, options in 4-byte words, a protocol type and a 24-bit VNI.

use crate::decode::{be16, Malformed};

use super::{by_ethertype, Payload};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geneve<'a> {
    pub vni: u32,
    /// The O bit: a control message, whose payload is not user traffic.
    pub oam: bool,
    pub protocol: u16,
    pub payload: Payload<'a>,
}

pub fn parse(b: &[u8]) -> Result<Geneve<'_>, Malformed> {
    let h = b.get(..8).ok_or(Malformed::new("geneve header truncated"))?;
    if h[0] >> 6 != 0 {
        return Err(Malformed::new("geneve version not 0"));
    }
    let opt_len = usize::from(h[0] & 0x3f) * 4;
    let rest = b.get(8 + opt_len..).ok_or(Malformed::new("geneve options truncated"))?;
    let protocol = be16(h, 2).unwrap_or(0);
    let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    Ok(Geneve { vni, oam: h[1] & 0x80 != 0, protocol, payload: by_ethertype(protocol, rest) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn options_are_skipped() {
        // One option word, Ethernet, VNI 7.
        let b = [0x01, 0, 0x65, 0x58, 0, 0, 7, 0, 1, 2, 3, 4, 0xee];
        let g = parse(&b).unwrap();
        assert_eq!((g.vni, g.oam, g.payload), (7, false, Payload::Ethernet(&[0xee])));
        assert_eq!(parse(&b[..10]).unwrap_err().reason, "geneve options truncated");
        assert_eq!(parse(&[0x40, 0, 0x65, 0x58, 0, 0, 7, 0]).unwrap_err().reason, "geneve version not 0");
        let ip = [0x00, 0x80, 0x08, 0x00, 0, 1, 0, 0, 0x45];
        let g = parse(&ip).unwrap();
        assert_eq!((g.vni, g.oam, g.payload), (256, true, Payload::Ip(&[0x45])));
    }

    proptest! {
        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&b);
        }
    }
}

//! VXLAN (RFC 7348): an 8-byte header with the I flag and a 24-bit VNI, then an Ethernet frame.

use crate::decode::Malformed;

use super::Payload;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vxlan<'a> {
    pub vni: u32,
    pub payload: Payload<'a>,
}

/// Decode a VXLAN header (UDP payload). The I flag must be set: without it the VNI is not
/// valid and, on a port that is not VXLAN's, the datagram is something else.
pub fn parse(b: &[u8]) -> Result<Vxlan<'_>, Malformed> {
    let h = b.get(..8).ok_or(Malformed::new("vxlan header truncated"))?;
    if h[0] & 0x08 == 0 {
        return Err(Malformed::new("vxlan without the I flag"));
    }
    let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    Ok(Vxlan { vni, payload: Payload::Ethernet(&b[8..]) })
}

/// Decode VXLAN-GPE (UDP 4790, draft-ietf-nvo3-vxlan-gpe): the P flag and a next-protocol
/// byte (1 IPv4, 2 IPv6, 3 Ethernet; NSH and others are not followed).
pub fn parse_gpe(b: &[u8]) -> Result<Vxlan<'_>, Malformed> {
    let h = b.get(..8).ok_or(Malformed::new("vxlan header truncated"))?;
    if h[0] & 0x08 == 0 {
        return Err(Malformed::new("vxlan without the I flag"));
    }
    let vni = u32::from_be_bytes([0, h[4], h[5], h[6]]);
    let rest = &b[8..];
    let payload = match (h[0] & 0x04 != 0, h[3]) {
        (false, _) | (true, 3) => Payload::Ethernet(rest),
        (true, 1 | 2) => Payload::Ip(rest),
        _ => Payload::None,
    };
    Ok(Vxlan { vni, payload })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn vni_and_frame() {
        let b = [0x08, 0, 0, 0, 0x00, 0x12, 0x34, 0, 0xaa];
        assert_eq!(parse(&b).unwrap(), Vxlan { vni: 0x1234, payload: Payload::Ethernet(&[0xaa]) });
        assert_eq!(parse(&b[..7]).unwrap_err().reason, "vxlan header truncated");
        assert_eq!(parse(&[0; 8]).unwrap_err().reason, "vxlan without the I flag");
        let gpe = [0x0c, 0, 0, 2, 0, 0, 9, 0, 0x60];
        assert_eq!(parse_gpe(&gpe).unwrap(), Vxlan { vni: 9, payload: Payload::Ip(&[0x60]) });
        assert_eq!(parse_gpe(&[0x0c, 0, 0, 4, 0, 0, 9, 0]).unwrap().payload, Payload::None);
    }

    proptest! {
        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse(&b);
            let _ = parse_gpe(&b);
        }
    }
}

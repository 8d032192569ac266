//! Teredo (RFC 4380): IPv6 in UDP, the server on port 3544, optionally behind an
//! authentication indicator and an origin indication.

use crate::decode::{be16, Malformed};

use super::Payload;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Teredo<'a> {
    /// The origin indication's port and IPv4 address, de-obfuscated.
    pub origin: Option<(u16, [u8; 4])>,
    pub payload: Payload<'a>,
}

/// Decode a Teredo datagram. The IPv6 header must be whole and its payload length must agree
/// with the datagram: that, not the port alone, is what says it is Teredo.
pub fn parse(b: &[u8]) -> Result<Teredo<'_>, Malformed> {
    let mut rest = b;
    let mut origin = None;
    if rest.starts_with(&[0, 1]) {
        // Authentication: 0x0001, id length, auth length, id, auth, nonce (8), confirmation (1).
        let (id, au) = match rest.get(2..4) {
            Some(l) => (usize::from(l[0]), usize::from(l[1])),
            None => return Err(Malformed::new("teredo authentication truncated")),
        };
        rest = rest.get(4 + id + au + 9..).ok_or(Malformed::new("teredo authentication truncated"))?;
    }
    if rest.starts_with(&[0, 0]) {
        let o = rest.get(..8).ok_or(Malformed::new("teredo origin indication truncated"))?;
        let port = be16(o, 2).unwrap_or(0) ^ 0xffff;
        origin = Some((port, [o[4] ^ 0xff, o[5] ^ 0xff, o[6] ^ 0xff, o[7] ^ 0xff]));
        rest = &rest[8..];
    }
    let h = rest.get(..40).ok_or(Malformed::new("teredo ipv6 header truncated"))?;
    if h[0] >> 4 != 6 {
        return Err(Malformed::new("teredo payload not ipv6"));
    }
    if usize::from(be16(h, 4).unwrap_or(0)) + 40 != rest.len() {
        return Err(Malformed::new("teredo ipv6 length disagrees with the datagram"));
    }
    Ok(Teredo { origin, payload: Payload::Ip(rest) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bubble() -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0, 0, 0, 59, 21];
        v.extend_from_slice(&[0x20, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        v
    }

    #[test]
    fn bubble_with_origin() {
        let mut b = vec![0, 0, 0xff ^ 0x13, 0xff ^ 0x88, 0xff ^ 192, 0xff, 0xff ^ 2, 0xff ^ 1];
        b.extend_from_slice(&bubble());
        let t = parse(&b).unwrap();
        assert_eq!(t.origin, Some((0x1388, [192, 0, 2, 1])));
        assert_eq!(t.payload, Payload::Ip(&b[8..]));
        assert!(parse(&bubble()).unwrap().origin.is_none());
        let mut long = bubble();
        long.push(0);
        assert_eq!(parse(&long).unwrap_err().reason, "teredo ipv6 length disagrees with the datagram");
        assert!(parse(&[0x45; 60]).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = parse(&b);
        }
    }
}

//! WireGuard's four messages on the wire (whitepaper section 5.4): a type byte, three zero
//! bytes, then fixed fields. Handshake initiation is 148 bytes, response 92, cookie reply 64;
//! transport data is a 16-byte header and an encrypted, padded body of a multiple of 16 bytes
//! (at least the 16-byte tag: 32 bytes in all for a keepalive). Indices are little-endian.
//! Everything after the indices is encrypted or random, so the exact lengths and the zero
//! bytes are the whole structure test.

use crate::decode::Malformed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// Type 1: the initiator's index.
    Initiation { sender: u32 },
    /// Type 2: the responder's index and the initiator's.
    Response { sender: u32, receiver: u32 },
    /// Type 3: sent under load instead of a response; names the index it answers.
    CookieReply { receiver: u32 },
    /// Type 4: the index the receiver chose, the nonce counter, and the encrypted length.
    Transport { receiver: u32, counter: u64, len: usize },
}

#[inline]
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decode a UDP payload as a WireGuard message; `Err` when it is not one.
pub fn parse(b: &[u8]) -> Result<Message, Malformed> {
    let h = b.get(..4).ok_or(Malformed::new("wireguard header truncated"))?;
    if h[1..4] != [0, 0, 0] {
        return Err(Malformed::new("wireguard reserved bytes not zero"));
    }
    match (h[0], b.len()) {
        (1, 148) => Ok(Message::Initiation { sender: le32(b, 4) }),
        (2, 92) => Ok(Message::Response { sender: le32(b, 4), receiver: le32(b, 8) }),
        (3, 64) => Ok(Message::CookieReply { receiver: le32(b, 4) }),
        (4, n) if n >= 32 && n % 16 == 0 => Ok(Message::Transport {
            receiver: le32(b, 4),
            counter: u64::from_le_bytes(b[8..16].try_into().unwrap_or([0; 8])),
            len: n - 16,
        }),
        (1..=4, _) => Err(Malformed::new("wireguard message length wrong for its type")),
        _ => Err(Malformed::new("wireguard message type unknown")),
    }
}

/// A handshake message (types 1 to 3): what recognises WireGuard on a port that does not
/// say so. Transport data alone is too plain a shape to go on.
pub fn is_handshake(b: &[u8]) -> bool {
    matches!(parse(b), Ok(Message::Initiation { .. } | Message::Response { .. } | Message::CookieReply { .. }))
}

/// Transport data whose nonce counter is one a session reaches (below 2^48: counters start at
/// 0 and a session rekeys long before): what recognises a WireGuard session already under way
/// on a port that does not say so, as tshark's heuristic does.
pub fn looks_like_transport(b: &[u8]) -> bool {
    matches!(parse(b), Ok(Message::Transport { counter, .. }) if counter < 1 << 48)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(ty: u8, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0] = ty;
        b[4..8].copy_from_slice(&0xf0b0b683u32.to_le_bytes());
        if len >= 12 {
            b[8..12].copy_from_slice(&0xa1e2207eu32.to_le_bytes());
        }
        b
    }

    #[test]
    fn the_four_messages() {
        assert_eq!(parse(&msg(1, 148)).unwrap(), Message::Initiation { sender: 0xf0b0b683 });
        assert_eq!(parse(&msg(2, 92)).unwrap(), Message::Response { sender: 0xf0b0b683, receiver: 0xa1e2207e });
        assert_eq!(parse(&msg(3, 64)).unwrap(), Message::CookieReply { receiver: 0xf0b0b683 });
        let Message::Transport { receiver, counter, len } = parse(&msg(4, 32)).unwrap() else { panic!() };
        assert_eq!((receiver, counter, len), (0xf0b0b683, 0xa1e2207e, 16));
        assert!(is_handshake(&msg(3, 64)) && !is_handshake(&msg(4, 48)));
        assert!(looks_like_transport(&msg(4, 48)) && !looks_like_transport(&msg(1, 148)));
        let mut big = msg(4, 48);
        big[15] = 1;
        assert!(!looks_like_transport(&big), "a counter no session reaches");
        assert_eq!(parse(&msg(1, 147)).unwrap_err().reason, "wireguard message length wrong for its type");
        assert_eq!(parse(&msg(4, 40)).unwrap_err().reason, "wireguard message length wrong for its type");
        assert_eq!(parse(&msg(5, 148)).unwrap_err().reason, "wireguard message type unknown");
        let mut r = msg(1, 148);
        r[2] = 1;
        assert_eq!(parse(&r).unwrap_err().reason, "wireguard reserved bytes not zero");
    }

    proptest! {
        #[test]
        fn never_panics(ty in 0u8..6, len in 0usize..200, fill in any::<u8>()) {
            let mut b = vec![fill; len];
            if let Some(x) = b.first_mut() { *x = ty; }
            for x in b.iter_mut().skip(1).take(3) { *x = 0; }
            let _ = parse(&b);
        }
    }
}

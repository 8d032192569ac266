//! OpenVPN's packets on the wire (OpenVPN's ssl_pkt.h and the protocol notes): an opcode
//! (5 bits) and key ID (3 bits) byte; control and ACK packets then carry the sender's 64-bit
//! session ID, data packets a peer ID (P_DATA_V2) and the encrypted payload. Between the
//! session ID and the acknowledgements sits what the server was configured with:
//! nothing (no tls-auth), an HMAC with a replay packet ID and time (tls-auth), or, with
//! tls-crypt and tls-crypt-v2, a packet ID, time and tag in front of an encrypted remainder.
//! Over TCP each packet has a 2-byte length in front.

use crate::decode::{be16, be32, Malformed};

pub const P_CONTROL_HARD_RESET_CLIENT_V1: u8 = 1;
pub const P_CONTROL_HARD_RESET_SERVER_V1: u8 = 2;
pub const P_CONTROL_SOFT_RESET_V1: u8 = 3;
pub const P_CONTROL_V1: u8 = 4;
pub const P_ACK_V1: u8 = 5;
pub const P_DATA_V1: u8 = 6;
pub const P_CONTROL_HARD_RESET_CLIENT_V2: u8 = 7;
pub const P_CONTROL_HARD_RESET_SERVER_V2: u8 = 8;
pub const P_DATA_V2: u8 = 9;
pub const P_CONTROL_HARD_RESET_CLIENT_V3: u8 = 10;
pub const P_CONTROL_WKC_V1: u8 = 11;

/// Acknowledgements one packet can carry (OpenVPN sends at most 8).
const MAX_ACKS: usize = 8;
/// HMAC lengths tls-auth uses (MD5, SHA1, SHA256, SHA384, SHA512), most common first.
const HMAC_LENS: [usize; 5] = [20, 32, 16, 48, 64];
/// tls-crypt's fixed layout: packet ID and time (8), HMAC-SHA256 tag (32).
const TLS_CRYPT_HEAD: usize = 8 + 32;

/// How the control channel is protected, as far as the wire shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// No HMAC: acknowledgements and packet IDs in the clear.
    Plain,
    /// tls-auth: an HMAC of this many bytes, then packet ID and time.
    TlsAuth(u8),
    /// tls-crypt: the control channel after the session ID is encrypted.
    TlsCrypt,
    /// tls-crypt-v2 (opcodes 10 and 11 name it): as tls-crypt, with the client's wrapped key.
    TlsCryptV2,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Plain => "plain",
            Variant::TlsAuth(_) => "tls-auth",
            Variant::TlsCrypt => "tls-crypt",
            Variant::TlsCryptV2 => "tls-crypt-v2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    pub opcode: u8,
    pub key_id: u8,
    /// The sender's session ID (control and ACK packets).
    pub session_id: Option<u64>,
    /// P_DATA_V2's peer ID.
    pub peer_id: Option<u32>,
    /// The control-channel protection this packet shows, when it shows one (control and ACK
    /// packets whose layout fits exactly one reading).
    pub variant: Option<Variant>,
}

impl Packet {
    pub fn is_data(&self) -> bool {
        matches!(self.opcode, P_DATA_V1 | P_DATA_V2)
    }
    pub fn is_ack(&self) -> bool {
        self.opcode == P_ACK_V1
    }
    pub fn is_control(&self) -> bool {
        !self.is_data() && !self.is_ack()
    }
    /// The first packet of a session from the client.
    pub fn is_client_reset(&self) -> bool {
        matches!(
            self.opcode,
            P_CONTROL_HARD_RESET_CLIENT_V1 | P_CONTROL_HARD_RESET_CLIENT_V2 | P_CONTROL_HARD_RESET_CLIENT_V3
        )
    }
}

/// Decode one OpenVPN packet (a UDP payload, or a TCP record without its length).
pub fn parse(b: &[u8]) -> Result<Packet, Malformed> {
    let first = *b.first().ok_or(Malformed::new("openvpn packet empty"))?;
    let (opcode, key_id) = (first >> 3, first & 0x07);
    match opcode {
        P_DATA_V1 => Ok(Packet { opcode, key_id, session_id: None, peer_id: None, variant: None }),
        P_DATA_V2 => {
            let h = b.get(..4).ok_or(Malformed::new("openvpn data header truncated"))?;
            let peer = u32::from_be_bytes([0, h[1], h[2], h[3]]);
            Ok(Packet { opcode, key_id, session_id: None, peer_id: Some(peer), variant: None })
        }
        1..=5 | 7 | 8 | 10 | 11 => {
            let sid = b.get(1..9).ok_or(Malformed::new("openvpn session id truncated"))?;
            let session_id = u64::from_be_bytes(sid.try_into().unwrap_or([0; 8]));
            let variant = variant_of(opcode, b);
            Ok(Packet { opcode, key_id, session_id: Some(session_id), peer_id: None, variant })
        }
        _ => Err(Malformed::new("openvpn opcode unknown")),
    }
}

/// Does the control-channel layout after the session ID read as `Plain` at offset `at`?
/// The acknowledgement count, the acknowledged IDs, the remote session ID and (except on an
/// ACK) the packet ID must fit; an ACK must end exactly there, a control packet may carry TLS.
fn plain_fits(opcode: u8, b: &[u8], at: usize) -> bool {
    let Some(&n) = b.get(at) else { return false };
    let n = usize::from(n);
    if n > MAX_ACKS || (opcode == P_ACK_V1 && n == 0) {
        return false;
    }
    let after_acks = at + 1 + 4 * n + if n > 0 { 8 } else { 0 };
    if opcode == P_ACK_V1 {
        b.len() == after_acks
    } else {
        b.len() >= after_acks + 4
    }
}

/// A Unix time of this century, which tls-auth and tls-crypt put after their packet ID.
fn plausible_time(t: u32) -> bool {
    (946_684_800..4_102_444_800).contains(&u64::from(t))
}

/// The protection the layout shows. Checked from the most to the least specific reading:
/// tls-crypt-v2's own opcodes; tls-auth (after an HMAC of a known length, a small replay packet
/// ID and a time of this century, then acknowledgements that fit); tls-crypt (the packet ID
/// and time at once after the session ID); no HMAC (the acknowledgements fit). A packet ID
/// counts from 1, so a random HMAC or tag rarely reads as one, and a plain reset is too short
/// to hold an HMAC.
fn variant_of(opcode: u8, b: &[u8]) -> Option<Variant> {
    if matches!(opcode, P_CONTROL_HARD_RESET_CLIENT_V3 | P_CONTROL_WKC_V1) {
        return Some(Variant::TlsCryptV2);
    }
    let replay_id_at = |at: usize| {
        be32(b, at).is_some_and(|id| id != 0 && id < 0x0100_0000) && be32(b, at + 4).is_some_and(plausible_time)
    };
    if let Some(&h) = HMAC_LENS.iter().find(|&&h| replay_id_at(9 + h) && plain_fits(opcode, b, 9 + h + 8)) {
        return Some(Variant::TlsAuth(h as u8));
    }
    if replay_id_at(9) && b.len() >= 9 + TLS_CRYPT_HEAD {
        return Some(Variant::TlsCrypt);
    }
    plain_fits(opcode, b, 9).then_some(Variant::Plain)
}

/// Is this the first packet a client sends (a hard reset, key ID 0) with a layout that reads
/// one way? What recognises OpenVPN on a port that is not 1194, so it asks for what a session's
/// first packet holds beyond a plausible layout: random bytes (QUIC, TLS records, anything
/// encrypted) start with a reset's opcode one time in 256, and the layout checks alone let
/// one in a few thousand of those through.
/// - No HMAC, tls-auth: no acknowledgements and message packet ID 0 (the first control
///   message), in the clear.
/// - tls-crypt: ciphertext after the tag no longer than a reset's (acknowledgements, the
///   message packet ID, an early-negotiation TLV).
/// - tls-crypt-v2: the wrapped client key at the end, its length in the last two bytes, and
///   as little ciphertext before it.
pub fn looks_like_client_reset(b: &[u8]) -> bool {
    let Ok(p) = parse(b) else { return false };
    if !p.is_client_reset() || p.key_id != 0 {
        return false;
    }
    // Opcode and session ID, packet ID and time, tag: then the reset's own few bytes.
    const CRYPT_HEAD: usize = 9 + TLS_CRYPT_HEAD;
    let small_ciphertext = |n: usize| (5..=RESET_MAX_BODY).contains(&n);
    match p.variant {
        Some(Variant::Plain) => first_message_at(b, 9),
        Some(Variant::TlsAuth(h)) => first_message_at(b, 9 + usize::from(h) + 8),
        Some(Variant::TlsCrypt) => small_ciphertext(b.len() - CRYPT_HEAD),
        Some(Variant::TlsCryptV2) => {
            let wkc = b.len().checked_sub(2).and_then(|at| be16(b, at)).map_or(0, usize::from);
            (MIN_WKC..=MAX_WKC).contains(&wkc)
                && b.len() >= CRYPT_HEAD + wkc
                && small_ciphertext(b.len() - CRYPT_HEAD - wkc)
                && be32(b, 13).is_some_and(plausible_time)
        }
        None => false,
    }
}

/// Most ciphertext a client's hard reset carries under tls-crypt: acknowledgements, the message
/// packet ID and an early-negotiation TLV are a few bytes.
const RESET_MAX_BODY: usize = 64;
/// The shortest wrapped client key of tls-crypt-v2: its tag (32), the client key (two 64-byte
/// cipher and two 64-byte HMAC keys: 256) and its own 2-byte length.
const MIN_WKC: usize = 32 + 256 + 2;
/// The longest: with OpenVPN's largest metadata (733 bytes).
const MAX_WKC: usize = MIN_WKC + 733;

/// No acknowledgement, then message packet ID 0 at `at`: a session's first control message.
fn first_message_at(b: &[u8], at: usize) -> bool {
    b.get(at) == Some(&0) && be32(b, at + 1) == Some(0)
}

/// The length of the first record in an OpenVPN-over-TCP stream: its 2-byte length and the
/// packet. `None` while the length is not all there.
pub fn tcp_record_len(b: &[u8]) -> Option<usize> {
    be16(b, 0).map(|l| 2 + usize::from(l))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SID: [u8; 8] = [0x1d, 0x4a, 0x3f, 0x29, 0xe4, 0x3c, 0x0a, 0xb1];

    fn control(op: u8, middle: &[u8], rest: &[u8]) -> Vec<u8> {
        let mut v = vec![op << 3];
        v.extend_from_slice(&SID);
        v.extend_from_slice(middle);
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn plain_reset_ack_and_data() {
        let reset = control(7, &[], &[0, 0, 0, 0, 0]);
        let p = parse(&reset).unwrap();
        assert_eq!((p.opcode, p.key_id, p.session_id), (7, 0, Some(0x1d4a3f29e43c0ab1)));
        assert_eq!(p.variant, Some(Variant::Plain));
        assert!(looks_like_client_reset(&reset));
        // ACK of one packet: count 1, id, remote session ID; nothing after.
        let ack = control(5, &[], &[1, 0, 0, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9]);
        assert_eq!(parse(&ack).unwrap().variant, Some(Variant::Plain));
        let d = parse(&[9 << 3 | 1, 0, 0, 5, 0xaa]).unwrap();
        assert_eq!((d.opcode, d.key_id, d.peer_id, d.is_data()), (9, 1, Some(5), true));
        assert_eq!(parse(&[0xf8]).unwrap_err().reason, "openvpn opcode unknown");
        assert_eq!(parse(&[7 << 3, 1, 2]).unwrap_err().reason, "openvpn session id truncated");
    }

    #[test]
    fn tls_auth_and_tls_crypt() {
        let time = 1_700_000_000u32.to_be_bytes();
        // tls-auth with SHA1: HMAC (20), packet ID 1, time, no acks, message packet ID 0.
        let mut mid = vec![0x5a; 20];
        mid.extend_from_slice(&[0, 0, 0, 1]);
        mid.extend_from_slice(&time);
        let p = parse(&control(7, &mid, &[0, 0, 0, 0, 0])).unwrap();
        assert_eq!(p.variant, Some(Variant::TlsAuth(20)));
        // tls-crypt: packet ID 1 and time at once, then the tag and ciphertext.
        let mut mid = vec![0, 0, 0, 1];
        mid.extend_from_slice(&time);
        mid.extend_from_slice(&[0x77; 32]);
        let p = parse(&control(8, &mid, &[0x10; 20])).unwrap();
        assert_eq!(p.variant, Some(Variant::TlsCrypt));
        assert_eq!(parse(&control(10, &mid, &[0; 200])).unwrap().variant, Some(Variant::TlsCryptV2));
        // A client's tls-crypt reset: a few bytes of ciphertext after the tag.
        assert!(looks_like_client_reset(&control(7, &mid, &[0x10; 5])));
        assert!(!looks_like_client_reset(&control(7, &mid, &[0x10; 400])), "too much for a reset");
        // tls-crypt-v2 (the corpus's capture: 5 bytes of ciphertext, then a 299-byte key).
        let mut wkc = vec![0x42; 297];
        wkc.extend_from_slice(&299u16.to_be_bytes());
        assert!(looks_like_client_reset(&control(10, &mid, &[&[0x10; 5][..], &wkc].concat())));
        assert!(!looks_like_client_reset(&control(10, &mid, &[0x10; 310])), "no wrapped key at the end");
        // tls-auth's reset holds no acknowledgement and message packet ID 0.
        let mut auth = vec![0x5a; 20];
        auth.extend_from_slice(&[0, 0, 0, 1]);
        auth.extend_from_slice(&time);
        assert!(looks_like_client_reset(&control(7, &auth, &[0, 0, 0, 0, 0])));
        assert!(!looks_like_client_reset(&control(7, &auth, &[0, 0, 0, 0, 3])));
        // tls-auth whose HMAC begins with a byte that could be an acknowledgement count is
        // still tls-auth, with SHA256 too.
        let mut mid = vec![0x03; 32];
        mid.extend_from_slice(&[0, 0, 0, 1]);
        mid.extend_from_slice(&time);
        assert_eq!(parse(&control(7, &mid, &[0, 0, 0, 0, 0])).unwrap().variant, Some(Variant::TlsAuth(32)));
        assert_eq!(tcp_record_len(&[0, 14, 0x38]), Some(16));
        assert_eq!(tcp_record_len(&[0]), None);
    }

    /// Random payloads (QUIC, TLS, ciphertext) that happen to begin with a reset's opcode are
    /// rarely taken for OpenVPN: none without an HMAC or with tls-auth (the first message's
    /// zeros are in the clear), and fewer than one in a thousand as tls-crypt or tls-crypt-v2,
    /// whose resets show only lengths and a time (so one random datagram in about 300 000).
    /// Before these checks every payload starting with 0x50 was a tls-crypt-v2 reset.
    #[test]
    fn random_bytes_with_a_reset_opcode_are_not_openvpn() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut taken = [0usize; 3];
        for i in 0..300_000 {
            let len = 20 + (next() % 1300) as usize;
            let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            b[0] = [0x38, 0x08, 0x50][i % 3];
            if looks_like_client_reset(&b) {
                let v = parse(&b).unwrap().variant;
                assert!(matches!(v, Some(Variant::TlsCrypt | Variant::TlsCryptV2)), "{v:?}");
                taken[i % 3] += 1;
            }
        }
        // 100 000 of each opcode.
        assert!(taken.iter().all(|&n| n < 100), "{taken:?}");
    }

    proptest! {
        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..120)) {
            let _ = parse(&b);
            let _ = looks_like_client_reset(&b);
        }
    }
}

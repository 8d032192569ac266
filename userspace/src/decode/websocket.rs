//! The WebSocket protocol (RFC 6455) as far as SIP over WebSocket (RFC 7118) needs it: the
//! HTTP handshake that asks for the `sip` subprotocol, and the frames that follow, each SIP
//! message in one WebSocket message (text or binary), client frames masked.

use super::Malformed;

/// Longest HTTP handshake head waited for before the stream is taken for something else.
pub const MAX_HANDSHAKE: usize = 16 * 1024;
/// Largest frame payload accepted: SIP messages are a few KiB; a larger length is garbage.
pub const MAX_PAYLOAD: u64 = 1024 * 1024;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;

/// Does a TCP stream's first payload ask to upgrade to WebSocket with the `sip` subprotocol
/// (a GET with `Upgrade: websocket` and `Sec-WebSocket-Protocol` naming `sip`)?
pub fn is_sip_upgrade(payload: &[u8]) -> bool {
    if !payload.starts_with(b"GET ") {
        return false;
    }
    let head = match find(payload, b"\r\n\r\n") {
        Some(end) => &payload[..end],
        None => &payload[..payload.len().min(MAX_HANDSHAKE)],
    };
    let (mut upgrade, mut sip) = (false, false);
    for line in head.split(|&c| c == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&c| c == b':') else { continue };
        let (name, value) = (trim(&line[..colon]), &line[colon + 1..]);
        let tokens = || value.split(|&c| c == b',').map(trim);
        if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade |= tokens().any(|t| t.eq_ignore_ascii_case(b"websocket"));
        } else if name.eq_ignore_ascii_case(b"sec-websocket-protocol") {
            sip |= tokens().any(|t| t.eq_ignore_ascii_case(b"sip"));
        }
    }
    upgrade && sip
}

/// One direction of a WebSocket stream, framed: an HTTP head (the handshake's request or
/// response) to skip, a whole message, or not enough bytes yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framed {
    /// An HTTP head of this many bytes (blank line included).
    Http(usize),
    /// A whole message of this many bytes: one frame, or a data frame without FIN and the
    /// frames up to the continuation that ends it (control frames between them included).
    Message(usize),
    Incomplete,
    Malformed(Malformed),
}

/// Frames one message may span before it is taken for garbage.
const MAX_FRAGMENTS: usize = 1024;

/// One frame's header at the start of `b`: the frame's whole length, FIN bit and opcode, with
/// the payload's offset; `None` when the bytes end first.
fn frame_at(b: &[u8]) -> Result<Option<Frame>, Malformed> {
    let Some(&[b0, b1]) = b.first_chunk::<2>() else { return Ok(None) };
    if b0 & 0x70 != 0 {
        // No extension is negotiated for SIP: reserved bits set are not a frame start.
        return Err(Malformed::new("websocket reserved bits set"));
    }
    let (len_bytes, short) = match b1 & 0x7f {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let masked = b1 & 0x80 != 0;
    let data_at = 2 + len_bytes + if masked { 4 } else { 0 };
    let len = match short {
        Some(n) => n,
        None => match b.get(2..2 + len_bytes) {
            Some(l) => l.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x)),
            None => return Ok(None),
        },
    };
    if len > MAX_PAYLOAD {
        return Err(Malformed::new("websocket frame too long"));
    }
    if b.len() < data_at {
        return Ok(None);
    }
    Ok(Some(Frame {
        len: data_at + len as usize,
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0f,
        data_at,
        mask: masked.then(|| [b[data_at - 4], b[data_at - 3], b[data_at - 2], b[data_at - 1]]),
    }))
}

struct Frame {
    len: usize,
    fin: bool,
    opcode: u8,
    data_at: usize,
    mask: Option<[u8; 4]>,
}

impl Frame {
    fn is_control(&self) -> bool {
        self.opcode & 0x08 != 0
    }
}

/// Frame the head of a WebSocket stream direction.
pub fn frame_len(b: &[u8]) -> Framed {
    if b.starts_with(b"HTTP/") || b.starts_with(b"GET ") {
        return match find(b, b"\r\n\r\n") {
            Some(end) => Framed::Http(end + 4),
            None if b.len() < MAX_HANDSHAKE => Framed::Incomplete,
            None => Framed::Malformed(Malformed::new("websocket handshake too long")),
        };
    }
    let mut at = 0;
    for n in 0..MAX_FRAGMENTS {
        let f = match frame_at(&b[at..]) {
            Ok(Some(f)) => f,
            Ok(None) => return Framed::Incomplete,
            Err(m) => return Framed::Malformed(m),
        };
        if b.len() < at + f.len {
            return Framed::Incomplete;
        }
        at += f.len;
        // A control frame or a final frame alone is a message; a message begun without FIN
        // runs to the continuation with FIN (control frames may come between).
        if n > 0 && !f.is_control() && f.opcode != OP_CONTINUATION {
            return Framed::Malformed(Malformed::new("websocket message interrupted"));
        }
        let ends = if n == 0 { f.fin || f.is_control() } else { f.fin && !f.is_control() };
        if ends {
            return Framed::Message(at);
        }
        if at > MAX_PAYLOAD as usize {
            return Framed::Malformed(Malformed::new("websocket frame too long"));
        }
    }
    Framed::Malformed(Malformed::new("websocket message in too many frames"))
}

/// A whole message (as [`frame_len`] cut it): its opcode, and its payload unmasked and joined
/// into `out` (cleared first; control frames inside a fragmented message left out).
pub fn payload(message: &[u8], out: &mut Vec<u8>) -> Option<u8> {
    out.clear();
    let mut at = 0;
    let mut opcode = None;
    while at < message.len() {
        let f = frame_at(&message[at..]).ok()??;
        let data = message.get(at + f.data_at..at + f.len)?;
        let first = opcode.is_none();
        if first || !f.is_control() {
            opcode.get_or_insert(f.opcode);
            match f.mask {
                Some(k) => out.extend(data.iter().enumerate().map(|(i, &c)| c ^ k[i % 4])),
                None => out.extend_from_slice(data),
            }
        }
        at += f.len;
    }
    opcode
}

/// The first bytes (at most `max`) of the payload of a final text or binary frame starting `b`,
/// unmasked into `out`: what a stream picked up after its handshake shows of a message. `None`
/// when `b` does not start such a frame.
pub fn first_message_head(b: &[u8], max: usize, out: &mut Vec<u8>) -> Option<()> {
    let f = frame_at(b).ok()??;
    if !f.fin || !matches!(f.opcode, OP_TEXT | OP_BINARY) {
        return None;
    }
    let end = b.len().min(f.len).min(f.data_at + max);
    let data = b.get(f.data_at..end)?;
    out.clear();
    match f.mask {
        Some(k) => out.extend(data.iter().enumerate().map(|(i, &c)| c ^ k[i % 4])),
        None => out.extend_from_slice(data),
    }
    Some(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: sip.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n";

    /// A frame: `b0` is the first byte (FIN and opcode).
    fn frame(b0: u8, mask: Option<[u8; 4]>, data: &[u8]) -> Vec<u8> {
        let mut f = vec![b0];
        let m = if mask.is_some() { 0x80 } else { 0 };
        match data.len() {
            n if n < 126 => f.push(m | n as u8),
            n if n < 65536 => {
                f.push(m | 126);
                f.extend((n as u16).to_be_bytes());
            }
            n => {
                f.push(m | 127);
                f.extend((n as u64).to_be_bytes());
            }
        }
        match mask {
            Some(k) => {
                f.extend(k);
                f.extend(data.iter().enumerate().map(|(i, &c)| c ^ k[i % 4]));
            }
            None => f.extend(data),
        }
        f
    }

    #[test]
    fn sip_upgrade_requests() {
        assert!(is_sip_upgrade(UPGRADE));
        let lists = String::from_utf8_lossy(UPGRADE)
            .replace("Protocol: sip", "protocol:  xmpp , SIP ")
            .replace("Upgrade: websocket", "UPGRADE: WebSocket");
        assert!(is_sip_upgrade(lists.as_bytes()));
        let other = String::from_utf8_lossy(UPGRADE).replace("Protocol: sip", "Protocol: mqtt");
        assert!(!is_sip_upgrade(other.as_bytes()));
        let no_upgrade = String::from_utf8_lossy(UPGRADE).replace("Upgrade: websocket\r\n", "");
        assert!(!is_sip_upgrade(no_upgrade.as_bytes()));
        assert!(!is_sip_upgrade(b"POST / HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: sip\r\n\r\n"));
        assert!(!is_sip_upgrade(b"GET "));
    }

    #[test]
    fn frames_and_heads() {
        assert_eq!(frame_len(UPGRADE), Framed::Http(UPGRADE.len()));
        assert_eq!(frame_len(&UPGRADE[..20]), Framed::Incomplete);
        let resp = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00";
        assert_eq!(frame_len(resp), Framed::Http(resp.len() - 2));
        let msg = b"OPTIONS sip:x SIP/2.0\r\n\r\n";
        let mut out = Vec::new();
        for (mask, size) in [(None, 25), (Some([1, 2, 3, 4]), 25), (None, 300), (Some([9, 8, 7, 6]), 70_000)] {
            let data: Vec<u8> = msg.iter().copied().cycle().take(size).collect();
            let f = frame(0x80 | OP_TEXT, mask, &data);
            assert_eq!(frame_len(&f), Framed::Message(f.len()));
            assert_eq!(frame_len(&f[..f.len() - 1]), Framed::Incomplete);
            assert_eq!(frame_len(&f[..1]), Framed::Incomplete);
            assert_eq!(payload(&f, &mut out), Some(OP_TEXT));
            assert_eq!(out, data);
        }
        assert!(matches!(frame_len(&[0xc1, 0x00]), Framed::Malformed(_)));
        // A ping alone is a message of its own.
        let ping = frame(0x89, Some([1, 1, 1, 1]), b"hi");
        assert_eq!(frame_len(&ping), Framed::Message(ping.len()));
        assert_eq!(payload(&ping, &mut out), Some(0x9));
        let huge = [&[0x82u8, 127][..], &(1u64 << 40).to_be_bytes()].concat();
        assert!(matches!(frame_len(&huge), Framed::Malformed(_)));
        assert!(matches!(frame_len(&[b'G', b'E', b'T', b' ', b'x'].repeat(MAX_HANDSHAKE)), Framed::Malformed(_)));
    }

    #[test]
    fn message_heads_mid_stream() {
        let mut out = Vec::new();
        let msg = b"OPTIONS sip:x SIP/2.0\r\nCall-ID: a\r\n\r\n";
        let f = frame(0x80 | OP_TEXT, Some([3, 1, 4, 1]), msg);
        assert_eq!(first_message_head(&f, 10, &mut out), Some(()));
        assert_eq!(out, &msg[..10]);
        assert_eq!(first_message_head(&f[..12], 64, &mut out), Some(()), "a segment cut inside");
        assert_eq!(out, &msg[..6]);
        assert_eq!(first_message_head(&frame(OP_TEXT, None, msg), 10, &mut out), None, "not final");
        assert_eq!(first_message_head(&frame(0x89, None, msg), 10, &mut out), None, "ping");
        assert_eq!(first_message_head(b"OPTIONS sip:x SIP/2.0", 10, &mut out), None);
    }

    #[test]
    fn fragmented_messages_are_joined() {
        let k = Some([5, 6, 7, 8]);
        let parts = [
            frame(OP_TEXT, k, b"OPTIONS sip:x "),
            frame(0x89, k, b"ping"),
            frame(OP_CONTINUATION, k, b"SIP/2.0\r\n"),
            frame(0x80 | OP_CONTINUATION, k, b"\r\n"),
        ];
        let all = parts.concat();
        let mut next = frame(0x80 | OP_TEXT, None, b"x");
        next.splice(0..0, all.iter().copied());
        assert_eq!(frame_len(&next), Framed::Message(all.len()));
        for cut in 1..all.len() {
            assert_eq!(frame_len(&all[..cut]), Framed::Incomplete, "{cut}");
        }
        let mut out = Vec::new();
        assert_eq!(payload(&all, &mut out), Some(OP_TEXT));
        assert_eq!(out, b"OPTIONS sip:x SIP/2.0\r\n\r\n");
        // A new data frame before the message ended.
        let broken = [frame(OP_TEXT, k, b"a"), frame(0x80 | OP_TEXT, k, b"b")].concat();
        assert!(matches!(frame_len(&broken), Framed::Malformed(_)));
    }

    proptest! {
        #[test]
        fn never_panic(b in prop::collection::vec(any::<u8>(), 0..200)) {
            let _ = is_sip_upgrade(&b);
            if let Framed::Message(n) = frame_len(&b) {
                let mut out = Vec::new();
                prop_assert!(payload(&b[..n], &mut out).is_some());
                prop_assert!(out.len() < n);
            }
        }
    }
}

//! Framing on stream transports: where one message ends in a TCP or TLS byte stream, RFC 5626
//! keepalives, and the strict test that tells a SIP start line from other payloads. None of
//! it allocates: it runs on every segment of a candidate stream.

use super::headers::{blank_line_after, memchr, strip_cr, RawHeaders};
use super::start_line::start_line_ok;
use super::values::parse_content_length;
use super::{MAX_BODY, MAX_HEAD};
use crate::decode::Malformed;

/// Result of framing the front of a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameResult {
    /// A whole message of this many bytes starts the buffer.
    Complete(usize),
    /// RFC 5626 keepalive of this many bytes starts the buffer (skip it, then frame again).
    Keepalive(Keepalive),
    /// What is there could be the start of a SIP message; wait for more bytes.
    Incomplete,
    /// A message of this many bytes starts the buffer (its head is all there), not all of
    /// it yet: the caller may wait for that many without framing again.
    Awaiting(usize),
    /// The buffer does not start with a SIP start line.
    NotSip,
    /// It starts like SIP but cannot be framed (bad or absurd Content-Length, endless head).
    Malformed(Malformed),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keepalive {
    /// `\r\n\r\n`, sent by the client.
    Ping,
    /// `\r\n`, the server's answer.
    Pong,
}

impl Keepalive {
    pub fn bytes(self) -> usize {
        match self {
            Keepalive::Ping => 4,
            Keepalive::Pong => 2,
        }
    }
}

/// Frame one SIP message at the front of a TCP/TLS stream buffer.
pub fn frame_len(buf: &[u8]) -> FrameResult {
    if buf.is_empty() {
        return FrameResult::Incomplete;
    }
    if buf.starts_with(b"\r\n\r\n") {
        return FrameResult::Keepalive(Keepalive::Ping);
    }
    if buf.starts_with(b"\r\n") {
        // A lone CRLF that might grow into a ping is still reported as a pong: a server answer
        // must not hang the stream waiting for bytes that never come.
        return FrameResult::Keepalive(Keepalive::Pong);
    }
    if buf == b"\r" {
        return FrameResult::Incomplete;
    }
    let Some(line_end) = memchr(b'\n', buf) else {
        if buf.len() > MAX_HEAD || !start_line_ok(buf, false) {
            return FrameResult::NotSip;
        }
        return FrameResult::Incomplete;
    };
    if !start_line_ok(strip_cr(&buf[..line_end]), true) {
        return FrameResult::NotSip;
    }
    let (cl, head_end) = match blank_line_after(buf, line_end) {
        Some(body_at) => (Ok(None), Some((line_end + 1, body_at))),
        None => {
            let mut lines = RawHeaders::head_at(buf, line_end + 1);
            (content_length(&mut lines), lines.head_end)
        }
    };
    let Some((_, body_at)) = head_end else {
        if buf.len() > MAX_HEAD {
            return FrameResult::Malformed(Malformed::new("sip head too long"));
        }
        return FrameResult::Incomplete;
    };
    if body_at > MAX_HEAD {
        return FrameResult::Malformed(Malformed::new("sip head too long"));
    }
    let cl = match cl {
        Ok(cl) => cl.unwrap_or(0), // streams must carry it (RFC 3261 20.14); absent means none
        Err(e) => return FrameResult::Malformed(e),
    };
    if cl > MAX_BODY {
        return FrameResult::Malformed(Malformed::new("sip content-length too large"));
    }
    let total = body_at.saturating_add(cl);
    if buf.len() >= total {
        FrameResult::Complete(total)
    } else {
        FrameResult::Awaiting(total)
    }
}

/// Where a stream that could not be framed at its head may start again: the first line after
/// the head's first line that is a SIP start line (or, at the end, the start of one still
/// arriving). `buf.len()` when there is none: nothing buffered can be a message.
///
/// A gap, a pickup mid-stream or one message the framer refuses (an absurd Content-Length, an
/// endless head) must not cost the rest of the connection: its next message starts a line.
pub fn resync_at(buf: &[u8]) -> usize {
    let mut at = 0;
    while let Some(lf) = memchr(b'\n', &buf[at..]) {
        at += lf + 1;
        let rest = &buf[at..];
        match memchr(b'\n', rest) {
            Some(end) if start_line_ok(strip_cr(&rest[..end]), true) => return at,
            Some(_) => {}
            None if !rest.is_empty() && rest.len() <= MAX_HEAD && start_line_ok(rest, false) => return at,
            None => break,
        }
    }
    buf.len()
}

/// Strict test for a SIP message on any port: a request line `METHOD scheme:uri SIP/2.0` or a
/// status line `SIP/2.0 NNN `, ended by a line break.
///
/// Runs on every UDP payload, so it stops at the first control byte instead of searching the
/// whole datagram for a line end: binary payloads (RTP, ESP) have one within a few bytes.
pub fn looks_like_sip(b: &[u8]) -> bool {
    match b.iter().position(|&c| c == b'\n' || (c < 0x20 && c != b'\r' && c != b'\t') || c == 0x7f) {
        Some(e) if b[e] == b'\n' => start_line_ok(strip_cr(&b[..e]), true),
        _ => false,
    }
}

/// The Content-Length among the header lines `lines` yields, walking them all (a head
/// cut out, or up to the blank line); no allocation. Other bad header lines are not its
/// business: the stream stays in step and `parse` reports them.
fn content_length(lines: &mut RawHeaders<'_>) -> Result<Option<usize>, Malformed> {
    let mut found: Result<Option<usize>, Malformed> = Ok(None);
    for raw in lines.filter_map(Result::ok) {
        let is_length = raw.name.eq_ignore_ascii_case(b"content-length") || raw.name.eq_ignore_ascii_case(b"l");
        // The first bad value decides; the walk still goes on, to find the blank line.
        let (true, Ok(prev)) = (is_length, &found) else { continue };
        found = match parse_content_length(raw.value) {
            Ok(n) if prev.is_some_and(|p| p != n) => Err(Malformed::new("sip content-length conflicting")),
            Ok(n) => Ok(Some(n)),
            Err(e) => Err(e),
        };
    }
    found
}

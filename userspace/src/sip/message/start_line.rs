//! The start line: a request line `METHOD scheme:uri SIP/2.0` or a status line
//! `SIP/2.0 NNN reason`, checked whole or, on a stream, as a prefix that could still become one.

use super::headers::{memchr, strip_cr};
use super::values::trim;
use super::{span_of, sub, Span};
use crate::decode::Malformed;

/// The start line, as spans of the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    Request { method: Span, uri: Span },
    Response { code: u16, reason: Span },
}

pub(super) fn is_token_char(c: u8) -> bool {
    const fn table() -> [bool; 256] {
        let mut t = [false; 256];
        let mut c = 0;
        while c < 256 {
            let b = c as u8;
            t[c] = b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~');
            c += 1;
        }
        t
    }
    static TOKEN: [bool; 256] = table();
    TOKEN[usize::from(c)]
}

/// Longest method we believe in: known ones are ≤ 9 chars; a long "token" is likelier text.
const MAX_METHOD: usize = 32;
const VERSION: &[u8] = b"SIP/2.0";

fn prefix_ci(have: &[u8], want: &[u8]) -> bool {
    let n = have.len().min(want.len());
    have[..n].eq_ignore_ascii_case(&want[..n])
}

/// Whether `line` (no line terminator) is a SIP start line; with `complete == false` whether
/// it could still become one once more bytes arrive (a trailing `\r` is then allowed).
pub(super) fn start_line_ok(line: &[u8], complete: bool) -> bool {
    let line = if !complete && line.last() == Some(&b'\r') { &line[..line.len() - 1] } else { line };
    if prefix_ci(line, b"SIP/2.0 ") && (line.len() >= 8 || !complete) {
        if line.len() < 8 {
            // Could also be a method named "SIP…" but that is no less SIP.
            return true;
        }
        let rest = &line[8..];
        let digits = rest.iter().take(3).take_while(|c| c.is_ascii_digit()).count();
        if digits < rest.len().min(3) {
            return false;
        }
        if rest.len() < 4 {
            return !complete;
        }
        if rest[0] == b'0' || rest[3] != b' ' {
            return false;
        }
        return rest[4..].iter().all(|&c| c >= 0x20 && c != 0x7f || c == b'\t' || c >= 0x80);
    }
    // Request line: method SP uri SP SIP/2.0
    let m = line.iter().take_while(|&&c| is_token_char(c)).count();
    if m == 0 || m > MAX_METHOD {
        return false;
    }
    let Some(&sp) = line.get(m) else { return !complete };
    if sp != b' ' {
        return false;
    }
    let uri_rest = &line[m + 1..];
    let u = uri_len(uri_rest);
    let uri = &uri_rest[..u];
    if !uri_scheme_ok(uri, complete || u < uri_rest.len()) {
        return false;
    }
    let Some(&sp) = uri_rest.get(u) else { return !complete };
    if sp != b' ' {
        return false;
    }
    let ver = &uri_rest[u + 1..];
    if complete {
        ver.eq_ignore_ascii_case(VERSION)
    } else {
        ver.len() <= VERSION.len() && prefix_ci(ver, VERSION)
    }
}

/// Length of the run of bytes above 0x20 other than DEL that starts `b`: the URI of a
/// request line. Eight bytes per step, as [`memchr`]: it is the longest part of the line.
/// (The memchr crate finds up to three given bytes, not a class such as this one.)
pub(super) fn uri_len(b: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut chunks = b.chunks_exact(8);
    let mut base = 0usize;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w);
        // Bytes below 0x21, and bytes equal to DEL (zero after the xor). In each mask the
        // lowest flagged byte is a true one (a borrow only flags bytes above a true one), so
        // the lower of the two is the first byte that ends the run.
        let low = x.wrapping_sub(LO * 0x21) & !x & HI;
        let d = x ^ (LO * 0x7f);
        let del = d.wrapping_sub(LO) & !d & HI;
        let stop = low.trailing_zeros().min(del.trailing_zeros());
        if stop < 64 {
            return base + (stop / 8) as usize;
        }
        base += 8;
    }
    base + chunks.remainder().iter().take_while(|&&c| c > 0x20 && c != 0x7f).count()
}

/// `scheme:` with an alphabetic start, as every SIP Request-URI has (`sip:`, `sips:`, `tel:`).
fn uri_scheme_ok(uri: &[u8], complete: bool) -> bool {
    match uri.first() {
        None => !complete,
        Some(c) if !c.is_ascii_alphabetic() => false,
        Some(_) => {
            let s = uri.iter().take_while(|&&c| c.is_ascii_alphanumeric() || b"+-.".contains(&c)).count();
            match uri.get(s) {
                Some(b':') => s + 1 < uri.len() || !complete,
                Some(_) => false,
                None => !complete,
            }
        }
    }
}

/// Check a start line (no line terminator); the status code of a response.
pub(super) fn check_start_line(line: &[u8]) -> Result<Option<u16>, Malformed> {
    if !start_line_ok(line, true) {
        return Err(Malformed::new("sip bad start line"));
    }
    if !(line.len() >= 8 && line[..8].eq_ignore_ascii_case(b"SIP/2.0 ")) {
        return Ok(None);
    }
    // start_line_ok saw three digits after the version.
    let code = line.get(8..11).map_or(0, |d| d.iter().fold(0u16, |n, &c| n * 10 + u16::from(c - b'0')));
    if !(100..=699).contains(&code) {
        return Err(Malformed::new("sip status code out of range"));
    }
    Ok(Some(code))
}

/// Where method and URI, or the reason phrase, sit in a checked start line (the first
/// line of `text`).
// Per message, from the parse in another module: inlined there as when they shared one.
#[inline]
pub(super) fn start_spans(text: &str, code: Option<u16>, lf: usize) -> Start {
    let b = text.as_bytes();
    let line = strip_cr(&b[..lf]);
    match code {
        // The 12 bytes before the reason are `SIP/2.0 NNN `, all ASCII.
        Some(code) => Start::Response { code, reason: span_of(text, trim(sub(text, (12, line.len()))).as_bytes()) },
        None => {
            let sp = memchr(b' ', line).unwrap_or(line.len());
            let uri_end = memchr(b' ', line.get(sp + 1..).unwrap_or(&[])).map_or(line.len(), |e| sp + 1 + e);
            Start::Request { method: (0, sp), uri: (sp + 1, uri_end) }
        }
    }
}

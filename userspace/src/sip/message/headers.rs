//! The header block: lines scanned eight bytes at a time, continuation lines attached, names
//! matched in any spelling and compact form, folded values joined.

use super::start_line::is_token_char;
use crate::decode::Malformed;

/// First `needle` in `hay`: sixteen bytes per step with SSE2 (part of every x86_64 CPU, so
/// no feature dispatch), eight per step elsewhere and for the tail.
///
/// Kept rather than the memchr crate, measured slower here: parsing the 1,179 SIP messages
/// of a 50 MiB generated capture took 209 ns a message with the word loop alone, 248 ns with
/// `memchr::memchr` (a call through its CPU-feature dispatch for every line) and 238 ns with
/// its portable `arch::all::memchr::One` (best of 40 runs, one core). SIP lines are a few
/// dozen bytes: inlined steps win. The SSE2 step then took the SIP parser from 3.9 k to
/// 3.5 k instructions a message on the signaling bench capture (callgrind).
#[inline]
pub(crate) fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
        let mut base = 0usize;
        // SAFETY: SSE2 is part of the x86_64 baseline, and each unaligned load reads the 16
        // bytes at `base..base + 16`, which lie within `hay`.
        unsafe {
            let pattern = _mm_set1_epi8(needle as i8);
            while base + 16 <= hay.len() {
                let v = _mm_loadu_si128(hay.as_ptr().add(base).cast());
                let hits = _mm_movemask_epi8(_mm_cmpeq_epi8(v, pattern)) as u32;
                if hits != 0 {
                    return Some(base + hits.trailing_zeros() as usize);
                }
                base += 16;
            }
        }
        memchr_words(needle, &hay[base..]).map(|p| base + p)
    }
    #[cfg(not(target_arch = "x86_64"))]
    memchr_words(needle, hay)
}

/// [`memchr`] eight bytes per step, with a word's zero-byte test.
#[inline]
fn memchr_words(needle: u8, hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let pattern = LO.wrapping_mul(u64::from(needle));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0usize;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w) ^ pattern;
        // Classic zero-byte test: the lowest flagged byte is exactly the first zero byte
        // (false flags only appear above a true one).
        let z = x.wrapping_sub(LO) & !x & HI;
        if z != 0 {
            return Some(base + (z.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks.remainder().iter().position(|&c| c == needle).map(|p| base + p)
}

/// Headers the parser reads into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Known {
    CallId,
    From,
    To,
    CSeq,
    ContentType,
    ContentLength,
    Other,
}

/// Which field a header name (token chars only, as [`split_header`] checked) feeds, by any
/// spelling, without building a lower-case copy.
pub(super) fn known(name: &[u8]) -> Known {
    let is = |long: &str| token_is(name, long.as_bytes());
    // Most lines are Via, Max-Forwards, Contact, Authorization…: the first letter (every
    // long form here starts with c, f or t) rules them out before any full comparison.
    if name.len() > 1 && !matches!(name[0] | 0x20, b'c' | b'f' | b't') {
        return Known::Other;
    }
    match name.len() {
        1 => match name[0].to_ascii_lowercase() {
            b'i' => Known::CallId,
            b'f' => Known::From,
            b't' => Known::To,
            b'c' => Known::ContentType,
            b'l' => Known::ContentLength,
            _ => Known::Other,
        },
        2 if is("to") => Known::To,
        4 if is("from") => Known::From,
        4 if is("cseq") => Known::CSeq,
        7 if is("call-id") => Known::CallId,
        12 if is("content-type") => Known::ContentType,
        14 if is("content-length") => Known::ContentLength,
        _ => Known::Other,
    }
}

/// Whether `name`, all token chars, is `lower` (lower-case letters and `-`) in any case.
/// OR-ing 0x20 lower-cases a letter and keeps `-`, and turns no other token char into
/// either, so one pass of ORs and XORs decides: no branch per byte, unlike
/// `eq_ignore_ascii_case`, which was most of the cost of naming each kept line.
fn token_is(name: &[u8], lower: &[u8]) -> bool {
    name.len() == lower.len() && name.iter().zip(lower).fold(0u8, |d, (&a, &b)| d | ((a | 0x20) ^ b)) == 0
}

/// Whether a header name as written is `key` (a lower-case long form from [`canonical_name`]).
pub(super) fn name_is(name: &str, key: &str) -> bool {
    if name.len() == 1 {
        if let Some(long) = compact_long(name.as_bytes()[0]) {
            return long == key;
        }
    }
    name.eq_ignore_ascii_case(key)
}

pub(super) fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// End of the header block: `(end of the last header line incl. its LF, start of body)`.
/// The blank line may be CRLF or bare LF, independently of the other lines.
pub(super) fn find_head_end(b: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(off) = memchr(b'\n', &b[i..]) {
        let lf = i + off;
        match (b.get(lf + 1), b.get(lf + 2)) {
            (Some(b'\n'), _) => return Some((lf + 1, lf + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((lf + 1, lf + 3)),
            _ => {}
        }
        i = lf + 1;
    }
    None
}

pub(super) struct RawHeader<'a> {
    pub(super) name: &'a [u8],
    /// Everything after the colon, folded continuation lines included, line breaks as written.
    pub(super) value: &'a [u8],
    /// The value spans continuation lines, so its line breaks must be joined.
    pub(super) folded: bool,
}

/// Header lines of a head block (start line and blank line excluded), continuation lines
/// attached to their header. No allocation: framing uses it per segment. After a bad line
/// it goes on with the next one, so framing can skip what parsing rejects.
pub(super) struct RawHeaders<'a> {
    b: &'a [u8],
    pos: usize,
    /// Stop after the line that a blank line follows (parsing a whole message), rather
    /// than running to the end of `b` (a head block already cut out).
    to_blank: bool,
    /// `(end of the header block, start of body)` once the blank line was met.
    pub(super) head_end: Option<(usize, usize)>,
}

impl<'a> RawHeaders<'a> {
    pub(super) fn new(b: &'a [u8]) -> Self {
        RawHeaders { b, pos: 0, to_blank: false, head_end: None }
    }

    /// The header lines of a whole message from `pos` (just after the start line) up to
    /// the blank line, which is found in the same pass.
    pub(super) fn head_at(b: &'a [u8], pos: usize) -> Self {
        RawHeaders { b, pos, to_blank: true, head_end: None }
    }
}

/// Where the body starts when the line break at `lf` ends the header block: the next line
/// is blank (CRLF or bare LF, independently of the other lines).
pub(super) fn blank_line_after(b: &[u8], lf: usize) -> Option<usize> {
    match (b.get(lf + 1), b.get(lf + 2)) {
        (Some(b'\n'), _) => Some(lf + 2),
        (Some(b'\r'), Some(b'\n')) => Some(lf + 3),
        _ => None,
    }
}

impl<'a> Iterator for RawHeaders<'a> {
    type Item = Result<RawHeader<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.b;
        let (region, folded) = loop {
            if self.pos >= b.len() || self.head_end.is_some() {
                return None;
            }
            let (start, end, folded) = header_line(b, self.pos);
            self.pos = end.saturating_add(1);
            if self.to_blank && end < b.len() {
                self.head_end = blank_line_after(b, end).map(|body| (end + 1, body));
            }
            let region = strip_cr(&b[start..end]);
            // An empty line can only be the tail of an unterminated head: nothing to report.
            if !region.is_empty() {
                break (region, folded);
            }
        };
        Some(split_header(region, folded))
    }
}

/// The header line starting at `start`, continuation lines included: `(start, end, folded)`
/// where `end` is the index of its last LF (or the end of `b`).
#[inline(always)]
pub(super) fn header_line(b: &[u8], start: usize) -> (usize, usize, bool) {
    let line_end = |from: usize| memchr(b'\n', &b[from..]).map_or(b.len(), |o| from + o);
    let mut end = line_end(start);
    let mut folded = false;
    // Each round consumes at least one byte, so this ends.
    while end + 1 < b.len() && matches!(b[end + 1], b' ' | b'\t') {
        end = line_end(end + 1);
        folded = true;
    }
    (start, end, folded)
}

/// `Name: value` of one non-empty header line (line break stripped).
#[inline(always)]
pub(super) fn split_header(region: &[u8], folded: bool) -> Result<RawHeader<'_>, Malformed> {
    // The usual `Name: value`: a token right up to the colon needs no other checks.
    let n = region.iter().take_while(|&&c| is_token_char(c)).count();
    if n > 0 && region.get(n) == Some(&b':') {
        return Ok(RawHeader { name: &region[..n], value: &region[n + 1..], folded });
    }
    if matches!(region[0], b' ' | b'\t') {
        return Err(Malformed::new("sip continuation line without header"));
    }
    let Some(colon) = memchr(b':', region) else {
        return Err(Malformed::new("sip header without colon"));
    };
    let name = trim_ws(&region[..colon]);
    if name.is_empty() || !name.iter().all(|&c| is_token_char(c)) {
        return Err(Malformed::new("sip bad header name"));
    }
    Ok(RawHeader { name, value: &region[colon + 1..], folded })
}

pub(super) fn trim_ws(mut s: &[u8]) -> &[u8] {
    while let [c, rest @ ..] = s {
        if c.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., c] = s {
        if c.is_ascii_whitespace() {
            s = rest;
        } else {
            break;
        }
    }
    s
}

/// Join folded lines: each line break with the whitespace around it becomes one space.
/// Appends to `out`: the value trimmed, breaks joined.
pub(super) fn unfold_into(v: &str, out: &mut String) {
    let v = v.trim_matches(|c: char| c.is_ascii_whitespace());
    let mut rest = v;
    while let Some(br) = rest.find(['\r', '\n']) {
        out.push_str(rest[..br].trim_end_matches([' ', '\t']));
        rest = rest[br..].trim_start_matches(['\r', '\n', ' ', '\t']);
        out.push(' ');
    }
    out.push_str(rest);
}

/// Lower-case long form of a header name; compact forms per RFC 3261 7.3.3 and the RFCs
/// that registered the later ones (3265, 3515, 3892, 3903, 3841, 4028, 4474).
pub fn canonical_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.len() == 1 {
        return match compact_long(name.as_bytes()[0]) {
            Some(long) => long.into(),
            None => name.to_ascii_lowercase().into(),
        };
    }
    if name.bytes().any(|c| c.is_ascii_uppercase()) {
        name.to_ascii_lowercase().into()
    } else {
        name.into()
    }
}

/// Long form of a one-letter compact header name.
fn compact_long(c: u8) -> Option<&'static str> {
    Some(match c.to_ascii_lowercase() {
        b'i' => "call-id",
        b'f' => "from",
        b't' => "to",
        b'v' => "via",
        b'm' => "contact",
        b'l' => "content-length",
        b'c' => "content-type",
        b'k' => "supported",
        b's' => "subject",
        b'e' => "content-encoding",
        b'o' => "event",
        b'r' => "refer-to",
        b'b' => "referred-by",
        b'x' => "session-expires",
        b'u' => "allow-events",
        b'a' => "accept-contact",
        b'j' => "reject-contact",
        b'd' => "request-disposition",
        b'y' => "identity",
        b'n' => "identity-info",
        _ => return None,
    })
}

/// Headers whose grammar is a comma-separated list (`1#element`), so a comma separates values.
/// Others (WWW-Authenticate, Date, Subject…) keep their commas.
pub(super) fn is_list_header(key: &str) -> bool {
    matches!(
        key,
        "via"
            | "contact"
            | "route"
            | "record-route"
            | "path"
            | "service-route"
            | "allow"
            | "allow-events"
            | "supported"
            | "require"
            | "proxy-require"
            | "unsupported"
            | "accept"
            | "accept-encoding"
            | "accept-language"
            | "content-encoding"
            | "content-language"
            | "in-reply-to"
            | "call-info"
            | "alert-info"
            | "error-info"
            | "warning"
            | "reason"
            | "history-info"
            | "p-associated-uri"
            | "security-client"
            | "security-server"
            | "security-verify"
            | "accept-contact"
            | "reject-contact"
    )
}

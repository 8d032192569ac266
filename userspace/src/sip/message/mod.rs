//! SIP messages (RFC 3261): start line, headers, body, and framing on stream transports.
//!
//! A parsed message borrows its text from the packet: one pass over the header lines
//! checks them and notes where the fields the dialog tracker reads sit (Call-ID, From, To,
//! CSeq, Content-Type, Content-Length). Everything else (Via, Contact, any header by name)
//! is looked up again on demand, which only tests and tools do. So the usual message costs
//! no allocation; a head that is not UTF-8, or a kept value folded over lines, is copied.
//! Framing ([`frame_len`]) and detection ([`looks_like_sip`]) never allocate, because they
//! run on every segment of a candidate stream.
//!
//! The modules: `parse` the one pass that reads a message, `start_line` the request and
//! status lines, `headers` the header block (line scanning, names, folding), `values` the
//! header values (name-addr, URI parameters, CSeq, Via, lists), `framing` messages cut from a
//! stream and [`looks_like_sip`].

mod framing;
mod headers;
mod parse;
mod start_line;
mod values;

use std::borrow::Cow;
use std::cell::OnceCell;

use memchr::memmem;

use crate::sip::sdp::{self, Sdp};
pub use framing::{frame_len, looks_like_sip, resync_at, FrameResult, Keepalive};
pub use headers::canonical_name;
pub(crate) use headers::memchr;
use headers::{find_head_end, is_list_header, name_is, trim_ws, unfold_into, RawHeaders};
pub use parse::parse;
use start_line::Start;
use values::{params, parse_via, split_list_each};
pub use values::{parse_name_addr, split_list, CSeq, NameAddr, Via};

/// Longest start line or header block we wait for on a stream before calling it garbage:
/// real SIP heads are a few KiB; this bounds what a stream buffer may hold for nothing.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest body we accept on a stream. SIP bodies (SDP, XML, SMS) are small; a larger
/// Content-Length means we are framing something else.
pub const MAX_BODY: usize = 1024 * 1024;
/// Bounds the per-message work and memory on a crafted header flood.
pub const MAX_HEADERS: usize = 512;

/// Byte range `start..end` of a message's text.
type Span = (usize, usize);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage<'a> {
    /// Start line and header block (lossy only when not UTF-8); after `head_len`, the joined
    /// values of kept headers that were folded over lines. The spans below point into it.
    text: Cow<'a, str>,
    /// Where the header lines start (after the start line) and end in `text`.
    head: Span,
    start: Start,
    call_id: Option<Span>,
    from: Option<Span>,
    to: Option<Span>,
    /// Number and method span of the first CSeq.
    cseq: Option<(u32, Span)>,
    content_type: Option<Span>,
    pub content_length: Option<usize>,
    pub body: Cow<'a, [u8]>,
    /// The datagram ended before the blank line or before Content-Length bytes of body
    /// (snaplen, or a lost IP fragment): what is here is kept, flagged.
    pub truncated: bool,
    /// A Content-Length that could not be used (not a number, or two that disagree): the
    /// message was taken to the end of the datagram instead (RFC 3261 18.3 lets the datagram
    /// bound a message); the reason is here for the report's damage counts.
    pub content_length_damage: Option<&'static str>,
    /// A header line that could not be read and was skipped (the first one's reason), for the
    /// report's damage counts; the message stands on its other headers.
    pub header_damage: Option<&'static str>,
    /// The SDP body, read on first demand: the tracker and the RTP labeller both ask.
    sdp: OnceCell<Option<Sdp>>,
    /// Every header line, indexed on the first by-name lookup.
    index: OnceCell<Index>,
}

/// Header lines in order, for by-name lookups.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Index {
    lines: Vec<Line>,
    /// Joined values of folded lines (those whose `unfolded` is set point here).
    unfolded: String,
}

/// One header line: its name (spelling kept) and its value (trimmed, folds joined).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Line {
    name: Span,
    value: Span,
    unfolded: bool,
}

impl<'a> SipMessage<'a> {
    fn span(&self, (a, b): Span) -> &str {
        self.text.get(a..b).unwrap_or("")
    }

    pub fn method(&self) -> Option<&str> {
        match self.start {
            Start::Request { method, .. } => Some(self.span(method)),
            Start::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self.start {
            Start::Response { code, .. } => Some(code),
            Start::Request { .. } => None,
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self.start {
            Start::Response { reason, .. } => Some(self.span(reason)),
            Start::Request { .. } => None,
        }
    }

    pub fn request_uri(&self) -> Option<&str> {
        match self.start {
            Start::Request { uri, .. } => Some(self.span(uri)),
            Start::Response { .. } => None,
        }
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, Start::Request { .. })
    }

    /// First Call-ID value.
    pub fn call_id(&self) -> Option<&str> {
        self.call_id.map(|s| self.span(s))
    }

    /// First From value, read on each call (it is a few comparisons, no allocation).
    pub fn from(&self) -> Option<NameAddr<'_>> {
        self.from.map(|s| parse_name_addr(self.span(s)))
    }

    /// First To value, read on each call.
    pub fn to(&self) -> Option<NameAddr<'_>> {
        self.to.map(|s| parse_name_addr(self.span(s)))
    }

    /// First CSeq (every CSeq line was checked when parsing).
    pub fn cseq(&self) -> Option<CSeq<'_>> {
        self.cseq.map(|(seq, m)| CSeq { seq, method: self.span(m) })
    }

    pub fn content_type(&self) -> Option<&str> {
        self.content_type.map(|s| self.span(s))
    }

    /// Every Via value, top first, multi-value lines split; one we cannot read is left out.
    pub fn via(&self) -> Vec<Via> {
        self.header_values("via").into_iter().filter_map(parse_via).collect()
    }

    /// Every Contact value as written (`*` included), multi-value lines split.
    pub fn contact(&self) -> Vec<&str> {
        self.header_values("contact")
    }

    /// The same message owning its text and body, to keep it past the packet buffer.
    pub fn into_owned(self) -> SipMessage<'static> {
        SipMessage {
            text: Cow::Owned(self.text.into_owned()),
            head: self.head,
            start: self.start,
            call_id: self.call_id,
            from: self.from,
            to: self.to,
            cseq: self.cseq,
            content_type: self.content_type,
            content_length: self.content_length,
            body: Cow::Owned(self.body.into_owned()),
            truncated: self.truncated,
            content_length_damage: self.content_length_damage,
            header_damage: self.header_damage,
            sdp: self.sdp,
            index: self.index,
        }
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| {
            let t: &str = &self.text;
            let mut ix = Index::default();
            let head = t.as_bytes().get(self.head.0..self.head.1).unwrap_or(&[]);
            // Lines that do not read were skipped (and noted) by parsing; so they are here.
            for raw in RawHeaders::new(head).filter_map(Result::ok) {
                let (value, unfolded) = if raw.folded {
                    let from = ix.unfolded.len();
                    unfold_into(sub(t, span_of(t, raw.value)), &mut ix.unfolded);
                    ((from, ix.unfolded.len()), true)
                } else {
                    (span_of(t, trim_ws(raw.value)), false)
                };
                ix.lines.push(Line { name: span_of(t, raw.name), value, unfolded });
            }
            ix
        })
    }

    /// Every header line as `(name as written, value)`, in message order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let ix = self.index();
        ix.lines.iter().map(move |l| {
            let value = if l.unfolded { sub(&ix.unfolded, l.value) } else { self.span(l.value) };
            (self.span(l.name), value)
        })
    }

    /// First value of a header, by any spelling (`call-id`, `Call-ID`, `i`).
    pub fn header(&self, name: &str) -> Option<&str> {
        let key = canonical_name(name);
        self.headers().find(|(n, _)| name_is(n, &key)).map(|(_, v)| v)
    }

    /// All values of a header, across lines; list headers (Via, Contact, Allow, Supported…)
    /// are split on commas outside quotes and angle brackets.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        let key = canonical_name(name);
        let list = is_list_header(&key);
        let mut out = Vec::new();
        for (_, v) in self.headers().filter(|(n, _)| name_is(n, &key)) {
            if list {
                split_list_each(v, |item| out.push(item));
            } else {
                out.push(v);
            }
        }
        out
    }

    /// The SDP body, when the message carries one: Content-Type application/sdp, or an
    /// application/sdp part of a multipart body (IMS puts SDP beside ISUP or resource lists).
    pub fn sdp(&self) -> Option<Sdp> {
        self.sdp_ref().cloned()
    }

    /// [`SipMessage::sdp`] without the copy; parsed once per message.
    pub fn sdp_ref(&self) -> Option<&Sdp> {
        self.sdp.get_or_init(|| self.read_sdp()).as_ref()
    }

    /// The SDP body read anew, without keeping it in the message (for a caller that keeps
    /// what it reads itself: [`SipMessage::sdp_ref`] would leave a copy here too).
    pub(crate) fn read_sdp(&self) -> Option<Sdp> {
        let ct = self.content_type()?;
        if self.body.is_empty() {
            return None;
        }
        let media_type = ct.split(';').next().unwrap_or("").trim();
        if media_type.eq_ignore_ascii_case("application/sdp") {
            return Some(sdp::parse(&self.body));
        }
        if media_type.as_bytes().get(..10).is_some_and(|p| p.eq_ignore_ascii_case(b"multipart/")) {
            let boundary = params(ct).find(|(k, _)| k.eq_ignore_ascii_case("boundary")).and_then(|(_, v)| v)?;
            return multipart_sdp(&self.body, boundary.as_bytes()).map(sdp::parse);
        }
        None
    }
}
/// Parts we look at in one multipart body before giving up.
const MAX_PARTS: usize = 16;

/// The first `application/sdp` part of a multipart body (RFC 2046 5.1).
fn multipart_sdp<'a>(body: &'a [u8], boundary: &[u8]) -> Option<&'a [u8]> {
    if boundary.is_empty() {
        return None;
    }
    let delimiter = [b"--", boundary].concat();
    let find =
        |hay: &[u8], from: usize| -> Option<usize> { memmem::find(hay.get(from..)?, &delimiter).map(|p| from + p) };
    let mut at = find(body, 0)?;
    for _ in 0..MAX_PARTS {
        let after = at + 2 + boundary.len();
        if body.get(after..after + 2) == Some(b"--") {
            return None; // closing delimiter
        }
        let part_start = after + memchr(b'\n', body.get(after..)?)? + 1;
        let next = find(body, part_start)?;
        // The line break before the next delimiter belongs to the delimiter.
        let part = body.get(part_start..next)?;
        let part = part.strip_suffix(b"\n").unwrap_or(part);
        let part = part.strip_suffix(b"\r").unwrap_or(part);
        let (head, content) = if part.starts_with(b"\r\n") || part.starts_with(b"\n") {
            (&part[..0], part)
        } else {
            match find_head_end(part) {
                Some((he, ba)) => (&part[..he], &part[ba..]),
                None => (part, &part[part.len()..]),
            }
        };
        let is_sdp = RawHeaders::new(head).filter_map(Result::ok).any(|h| {
            (h.name.eq_ignore_ascii_case(b"content-type") || h.name.eq_ignore_ascii_case(b"c"))
                && trim_ws(h.value.split(|&c| c == b';').next().unwrap_or(&[])).eq_ignore_ascii_case(b"application/sdp")
        });
        if is_sdp {
            return Some(content);
        }
        at = next;
    }
    None
}

/// Byte range of `part`, a subslice of `whole`.
fn span_of(whole: &str, part: &[u8]) -> Span {
    span_of_bytes(whole.as_bytes(), part)
}

fn span_of_bytes(whole: &[u8], part: &[u8]) -> Span {
    let a = (part.as_ptr() as usize).wrapping_sub(whole.as_ptr() as usize).min(whole.len());
    (a, a.saturating_add(part.len()).min(whole.len()))
}

fn sub(s: &str, (a, b): (usize, usize)) -> &str {
    s.get(a..b).unwrap_or("")
}

#[cfg(test)]
mod tests;

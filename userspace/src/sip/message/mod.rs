//! SIP messages (RFC 3261): start line, headers, body, and framing on stream transports.
//!
//! A parsed message borrows its text from the packet: one pass over the header lines
//! checks them and notes where the fields the dialog tracker reads sit (Call-ID, From, To,
//! CSeq, Content-Type, Content-Length). Everything else (Via, Contact, any header by name)
//! is looked up again on demand, which only tests and tools do. So the usual message costs
//! no allocation; a head that is not UTF-8, or a kept value folded over lines, is copied.
//! Framing ([`frame_len`]) and detection ([`looks_like_sip`]) never allocate, because they
//! run on every segment of a candidate stream.

use std::borrow::Cow;
use std::cell::OnceCell;

use memchr::memmem;

use crate::decode::Malformed;
use crate::sip::sdp::{self, Sdp};

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

/// The start line, as spans of the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Request { method: Span, uri: Span },
    Response { code: u16, reason: Span },
}

/// From, To, Contact and the like: `"Display" <uri>;params`, borrowed from the header value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameAddr<'m> {
    /// Unquoted; owned only when the quoted string has backslash escapes.
    pub display: Option<Cow<'m, str>>,
    pub uri: &'m str,
    pub tag: Option<&'m str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Upper-cased transport token: `UDP`, `TCP`, `TLS`, `WS`, `SCTP`…
    pub transport: String,
    pub host: String,
    pub port: Option<u16>,
    pub branch: Option<String>,
    pub received: Option<String>,
    /// `Some("")` for a bare `;rport` (a request asking for it), `Some("5060")` when filled in.
    pub rport: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq<'m> {
    pub seq: u32,
    pub method: &'m str,
}

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
            sdp: self.sdp,
            index: self.index,
        }
    }

    fn index(&self) -> &Index {
        self.index.get_or_init(|| {
            let t: &str = &self.text;
            let mut ix = Index::default();
            let head = t.as_bytes().get(self.head.0..self.head.1).unwrap_or(&[]);
            // Parsing already rejected any bad line, so every line here reads.
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

    fn read_sdp(&self) -> Option<Sdp> {
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

/// Result of framing the front of a stream buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameResult {
    /// A whole message of this many bytes starts the buffer.
    Complete(usize),
    /// RFC 5626 keepalive of this many bytes starts the buffer (skip it, then frame again).
    Keepalive(Keepalive),
    /// What is there could be the start of a SIP message; wait for more bytes.
    Incomplete,
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
        FrameResult::Incomplete
    }
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

/// Parse one SIP message from a datagram or a framed stream slice.
pub fn parse(b: &[u8]) -> Result<SipMessage<'_>, Malformed> {
    // Stream peers may put CRLFs before a start line (RFC 3261 7.5); skip a bounded run.
    let lead = b.iter().take(64).take_while(|&&c| c == b'\r' || c == b'\n').count();
    let b = &b[lead..];
    if b.is_empty() {
        return Err(Malformed::new("sip empty message"));
    }
    let line_end = memchr(b'\n', b);
    let code = check_start_line(strip_cr(&b[..line_end.unwrap_or(b.len())]))?;
    let (kept, head_end) = match line_end {
        None => (Kept::default(), None),
        Some(lf) => match blank_line_after(b, lf) {
            Some(body_at) => (Kept::default(), Some((lf + 1, body_at))),
            None => read_head(b, lf + 1)?,
        },
    };
    let (head_len, body_at, mut truncated) = match head_end {
        Some((he, ba)) => (he, ba, false),
        None => (b.len(), b.len(), true),
    };

    let mut msg = match std::str::from_utf8(&b[..head_len]) {
        // Borrowed, the text starts with the same bytes: the start line ends where found.
        Ok(t) if !kept.folded() => SipMessage::new(Cow::Borrowed(t), code, kept, line_end),
        _ => {
            let (t, kept) = copied_text(&b[..head_len])?;
            let lf = memchr(b'\n', t.as_bytes());
            SipMessage::new(Cow::Owned(t), code, kept, lf)
        }
    };

    let rest = b.get(body_at..).unwrap_or(&[]);
    msg.body = Cow::Borrowed(match msg.content_length {
        Some(n) if n > rest.len() => {
            truncated = true;
            rest
        }
        Some(n) => &rest[..n],
        // Over UDP the datagram bounds the message (RFC 3261 18.3).
        None => rest,
    });
    msg.truncated = truncated;
    Ok(msg)
}

/// A kept header value: where it sits, and whether continuation lines must be joined.
#[derive(Debug, Clone, Copy)]
struct KeptValue {
    span: Span,
    folded: bool,
}

/// What one pass over the header lines keeps (first value of each), as spans of the text.
#[derive(Debug, Default)]
struct Kept {
    /// End of the header lines (the start of the blank line, or the end of the text).
    end: usize,
    call_id: Option<KeptValue>,
    from: Option<KeptValue>,
    to: Option<KeptValue>,
    content_type: Option<KeptValue>,
    cseq: Option<(u32, Span)>,
    content_length: Option<usize>,
}

impl Kept {
    fn values(&mut self) -> impl Iterator<Item = &mut KeptValue> {
        [&mut self.call_id, &mut self.from, &mut self.to, &mut self.content_type].into_iter().flatten()
    }

    /// A kept value spans lines, so the message cannot borrow it as it stands.
    fn folded(&self) -> bool {
        [self.call_id, self.from, self.to, self.content_type].iter().flatten().any(|v| v.folded)
    }
}

impl<'a> SipMessage<'a> {
    /// A message over `text` (start line, then header lines up to `kept.end`); the body
    /// is set by the caller. `lf` is the first line break of `text`, which the caller found.
    fn new(text: Cow<'a, str>, code: Option<u16>, kept: Kept, lf: Option<usize>) -> Self {
        let start_end = lf.map_or(text.len(), |e| e + 1);
        let span = |k: Option<KeptValue>| k.map(|k| k.span);
        SipMessage {
            start: start_spans(&text, code, lf.unwrap_or(text.len())),
            head: (start_end.min(kept.end), kept.end),
            text,
            call_id: span(kept.call_id),
            from: span(kept.from),
            to: span(kept.to),
            cseq: kept.cseq,
            content_type: span(kept.content_type),
            content_length: kept.content_length,
            body: Cow::Borrowed(&[]),
            truncated: false,
            sdp: OnceCell::new(),
            index: OnceCell::new(),
        }
    }
}

impl Kept {
    /// Note one header line of message `b` if it is one the report keeps (the first of each,
    /// but every CSeq and Content-Length is checked, and Content-Lengths must agree).
    #[inline(always)]
    fn note(&mut self, b: &[u8], raw: &RawHeader<'_>) -> Result<(), Malformed> {
        let value = || Some(KeptValue { span: span_of_bytes(b, trim_ws(raw.value)), folded: raw.folded });
        match known(raw.name) {
            Known::CallId if self.call_id.is_none() => self.call_id = value(),
            Known::From if self.from.is_none() => self.from = value(),
            Known::To if self.to.is_none() => self.to = value(),
            Known::ContentType if self.content_type.is_none() => self.content_type = value(),
            Known::CSeq => {
                let (seq, method) = parse_cseq(raw.value)?;
                if self.cseq.is_none() {
                    self.cseq = Some((seq, span_of_bytes(b, method)));
                }
            }
            Known::ContentLength => {
                let n = parse_content_length(raw.value)?;
                match self.content_length {
                    Some(prev) if prev != n => return Err(Malformed::new("sip content-length conflicting")),
                    _ => self.content_length = Some(n),
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Check the header lines of `b` from `from` up to the blank line, noting the kept
/// fields. Returns them and, when there is a blank line, `(end of the header block, start
/// of body)`.
///
/// The lines are those [`RawHeaders::head_at`] yields, walked here in a plain loop: this
/// runs once per message on every header line, and the iterator's per-line bookkeeping cost
/// as much as reading the line.
fn read_head(b: &[u8], from: usize) -> Result<(Kept, Option<(usize, usize)>), Malformed> {
    let mut kept = Kept::default();
    let mut head_end = None;
    let mut pos = from;
    let mut count = 0usize;
    while pos < b.len() && head_end.is_none() {
        let (start, end, folded) = header_line(b, pos);
        pos = end.saturating_add(1);
        if end < b.len() {
            head_end = blank_line_after(b, end).map(|body| (end + 1, body));
        }
        let region = strip_cr(&b[start..end]);
        if region.is_empty() {
            continue;
        }
        let raw = split_header(region, folded)?;
        if count >= MAX_HEADERS {
            return Err(Malformed::new("sip too many headers"));
        }
        count += 1;
        kept.note(b, &raw)?;
    }
    kept.end = head_end.map_or(b.len(), |(he, _)| he);
    Ok((kept, head_end))
}

/// The message text when it cannot be borrowed from the wire: bytes that are not UTF-8 are
/// replaced, and kept values folded over lines are joined and appended after the head.
/// Every cut the header scan makes is at an ASCII byte, which replacement leaves in place,
/// so this second scan sees the same lines (and fails, if at all, the same way).
fn copied_text(head: &[u8]) -> Result<(String, Kept), Malformed> {
    let mut text = lossy(head);
    let start_end = memchr(b'\n', text.as_bytes()).map_or(text.len(), |e| e + 1);
    let (mut kept, _) = read_head(text.as_bytes(), start_end)?;
    let mut joined = String::new();
    for v in kept.values().filter(|v| v.folded) {
        let from = joined.len();
        unfold_into(sub(&text, v.span), &mut joined);
        *v = KeptValue { span: (text.len() + from, text.len() + joined.len()), folded: false };
    }
    text.push_str(&joined);
    Ok((text, kept))
}

// ---------------------------------------------------------------------------------------------
// Start line

fn is_token_char(c: u8) -> bool {
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
fn start_line_ok(line: &[u8], complete: bool) -> bool {
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
fn uri_len(b: &[u8]) -> usize {
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
fn check_start_line(line: &[u8]) -> Result<Option<u16>, Malformed> {
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
fn start_spans(text: &str, code: Option<u16>, lf: usize) -> Start {
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

// ---------------------------------------------------------------------------------------------
// Header block

/// First `needle` in `hay`, eight bytes per step: line scanning is most of what parsing
/// and framing do, and a byte loop costs several instructions per byte.
///
/// Kept rather than the memchr crate, measured slower here: parsing the 1,179 SIP messages
/// of a 50 MiB generated capture took 209 ns a message with this, 248 ns with
/// `memchr::memchr` (a call through its CPU-feature dispatch for every line) and 238 ns with
/// its portable `arch::all::memchr::One` (best of 40 runs, one core). SIP lines are a few
/// dozen bytes: the first word or two holds the end, and inlined word steps win.
pub(crate) fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
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

/// Owned text of wire bytes: a plain copy when they are UTF-8 (the common case, checked
/// fast), lossy only otherwise.
fn lossy(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
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

/// Headers the parser reads into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
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
fn known(name: &[u8]) -> Known {
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
fn name_is(name: &str, key: &str) -> bool {
    if name.len() == 1 {
        if let Some(long) = compact_long(name.as_bytes()[0]) {
            return long == key;
        }
    }
    name.eq_ignore_ascii_case(key)
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// End of the header block: `(end of the last header line incl. its LF, start of body)`.
/// The blank line may be CRLF or bare LF, independently of the other lines.
fn find_head_end(b: &[u8]) -> Option<(usize, usize)> {
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

struct RawHeader<'a> {
    name: &'a [u8],
    /// Everything after the colon, folded continuation lines included, line breaks as written.
    value: &'a [u8],
    /// The value spans continuation lines, so its line breaks must be joined.
    folded: bool,
}

/// Header lines of a head block (start line and blank line excluded), continuation lines
/// attached to their header. No allocation: framing uses it per segment. After a bad line
/// it goes on with the next one, so framing can skip what parsing rejects.
struct RawHeaders<'a> {
    b: &'a [u8],
    pos: usize,
    /// Stop after the line that a blank line follows (parsing a whole message), rather
    /// than running to the end of `b` (a head block already cut out).
    to_blank: bool,
    /// `(end of the header block, start of body)` once the blank line was met.
    head_end: Option<(usize, usize)>,
}

impl<'a> RawHeaders<'a> {
    fn new(b: &'a [u8]) -> Self {
        RawHeaders { b, pos: 0, to_blank: false, head_end: None }
    }

    /// The header lines of a whole message from `pos` (just after the start line) up to
    /// the blank line, which is found in the same pass.
    fn head_at(b: &'a [u8], pos: usize) -> Self {
        RawHeaders { b, pos, to_blank: true, head_end: None }
    }
}

/// Where the body starts when the line break at `lf` ends the header block: the next line
/// is blank (CRLF or bare LF, independently of the other lines).
fn blank_line_after(b: &[u8], lf: usize) -> Option<usize> {
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
fn header_line(b: &[u8], start: usize) -> (usize, usize, bool) {
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
fn split_header(region: &[u8], folded: bool) -> Result<RawHeader<'_>, Malformed> {
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

fn trim_ws(mut s: &[u8]) -> &[u8] {
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
fn unfold_into(v: &str, out: &mut String) {
    let v = v.trim_matches(|c: char| c.is_ascii_whitespace());
    let mut rest = v;
    while let Some(br) = rest.find(['\r', '\n']) {
        out.push_str(rest[..br].trim_end_matches([' ', '\t']));
        rest = rest[br..].trim_start_matches(['\r', '\n', ' ', '\t']);
        out.push(' ');
    }
    out.push_str(rest);
}

fn parse_content_length(v: &[u8]) -> Result<usize, Malformed> {
    let d = trim_ws(v);
    // 9 digits keeps the value far from overflow and far above any real SIP body.
    if d.is_empty() || d.len() > 9 || !d.iter().all(u8::is_ascii_digit) {
        return Err(Malformed::new("sip content-length invalid"));
    }
    Ok(d.iter().fold(0usize, |n, &c| n * 10 + usize::from(c - b'0')))
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
fn is_list_header(key: &str) -> bool {
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

/// Split on commas that are outside double quotes and angle brackets; empty items dropped.
pub fn split_list(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    split_list_each(v, |item| out.push(item));
    out
}

/// [`split_list`] without the vector. Scans bytes: every delimiter is ASCII, and the
/// continuation bytes of a multi-byte char never equal one.
fn split_list_each<'a>(v: &'a str, mut f: impl FnMut(&'a str)) {
    // Most values hold one item: without a comma there is nothing to split.
    if memchr(b',', v.as_bytes()).is_none() {
        let item = trim(v);
        if !item.is_empty() {
            f(item);
        }
        return;
    }
    let (mut quotes, mut angle) = (Quotes::default(), 0usize);
    let mut start = 0;
    for (i, &c) in v.as_bytes().iter().enumerate() {
        if !quotes.outside(c) {
            continue;
        }
        match c {
            b'<' => angle = angle.saturating_add(1),
            b'>' => angle = angle.saturating_sub(1),
            b',' if angle == 0 => {
                let item = trim(v.get(start..i).unwrap_or(""));
                if !item.is_empty() {
                    f(item);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let item = trim(v.get(start..).unwrap_or(""));
    if !item.is_empty() {
        f(item);
    }
}

/// Position of `needle` (ASCII) outside double-quoted strings.
fn find_unquoted(v: &str, needle: char) -> Option<usize> {
    let needle = u8::try_from(needle).ok()?;
    let first = memchr(needle, v.as_bytes())?;
    // No quote before it: the first one is outside quotes (the common case, found fast).
    if memchr(b'"', &v.as_bytes()[..first]).is_none() {
        return Some(first);
    }
    let mut quotes = Quotes::default();
    v.as_bytes().iter().position(|&c| quotes.outside(c) && c == needle)
}

/// Double-quote tracking shared by the header-value scans (RFC 3261 quoted-string with
/// backslash escapes).
#[derive(Default)]
struct Quotes {
    quoted: bool,
    escaped: bool,
}

impl Quotes {
    /// Feed the next byte; true when it stands outside any quoted string (the quote marks
    /// themselves count as inside).
    #[inline]
    fn outside(&mut self, c: u8) -> bool {
        if self.quoted {
            match c {
                _ if self.escaped => self.escaped = false,
                b'\\' => self.escaped = true,
                b'"' => self.quoted = false,
                _ => {}
            }
            false
        } else if c == b'"' {
            self.quoted = true;
            false
        } else {
            true
        }
    }
}

/// `;name=value` parameters (outside quotes) after a URI or a Via.
/// Text before the first `;` is not a parameter. Quotes never span a `;` that ends a
/// parameter, so each search may start afresh after the previous one.
fn params(s: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    let mut next = find_unquoted(s, ';').map(|p| p + 1);
    std::iter::from_fn(move || loop {
        let start = next?;
        let after = s.get(start..)?;
        let end = find_unquoted(after, ';');
        next = end.map(|e| start + e + 1);
        let p = trim(after.get(..end.unwrap_or(after.len()))?);
        if p.is_empty() {
            continue;
        }
        return Some(match p.as_bytes().iter().position(|&c| c == b'=') {
            Some(eq) => (trim(&p[..eq]), Some(trim_quotes(trim(&p[eq + 1..])))),
            None => (p, None),
        });
    })
}

/// `str::trim`, skipping its char decoding when both ends are visible ASCII (nearly always).
fn trim(s: &str) -> &str {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (None, _) => s,
        (Some(f), Some(l)) if f.is_ascii_graphic() && l.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// `trim_matches('"')` on bytes.
fn trim_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    let a = b.iter().take_while(|&&c| c == b'"').count();
    let z = b[a..].iter().rev().take_while(|&&c| c == b'"').count();
    &s[a..s.len() - z]
}

/// A display name without its quotes and escapes; a copy only when it has escapes.
fn unquote(s: &str) -> Cow<'_, str> {
    let s = trim(s);
    let Some(inner) = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) else {
        return Cow::Borrowed(s);
    };
    if memchr(b'\\', inner.as_bytes()).is_none() {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut esc = false;
    for c in inner.chars() {
        if esc || c != '\\' {
            out.push(c);
            esc = false;
        } else {
            esc = true;
        }
    }
    Cow::Owned(out)
}

/// `"Display" <uri>;tag=x` or a bare `uri;tag=x` (whose `;` params belong to the header,
/// RFC 3261 20.10).
pub fn parse_name_addr(v: &str) -> NameAddr<'_> {
    let v = trim(v);
    if let Some(lt) = find_unquoted(v, '<') {
        let after = &v[lt + 1..];
        let gt = memchr(b'>', after.as_bytes()).unwrap_or(after.len());
        let display = unquote(&v[..lt]);
        let tail = after.get(gt + 1..).unwrap_or("");
        return NameAddr {
            display: (!display.is_empty()).then_some(display),
            uri: trim(&after[..gt]),
            tag: tag_of(tail),
        };
    }
    let semi = find_unquoted(v, ';').unwrap_or(v.len());
    NameAddr { display: None, uri: trim(&v[..semi]), tag: tag_of(&v[semi..]) }
}

fn tag_of(tail: &str) -> Option<&str> {
    // The usual tail is exactly `;tag=value`.
    if let Some(v) = tail.strip_prefix(";tag=") {
        if v.bytes().all(|c| c.is_ascii_graphic() && !matches!(c, b';' | b'"' | b'=')) {
            return Some(v);
        }
    }
    params(tail).find(|(k, _)| k.eq_ignore_ascii_case("tag")).and_then(|(_, v)| v)
}

/// `CSeq: <number> <method>`: the number and the method token. Works on the raw value,
/// folds included: its line breaks are whitespace between the two tokens.
fn parse_cseq(v: &[u8]) -> Result<(u32, &[u8]), Malformed> {
    let bad = || Malformed::new("sip cseq invalid");
    let v = trim_ws(v);
    let digits_end = v.iter().position(u8::is_ascii_whitespace).ok_or_else(bad)?;
    let (digits, rest) = v.split_at(digits_end);
    // Whitespace is no token char, so a third word fails the method check.
    let method = trim_ws(rest);
    if digits.len() > 10
        || !digits.iter().all(u8::is_ascii_digit)
        || method.is_empty()
        || !method.iter().all(|&c| is_token_char(c))
    {
        return Err(bad());
    }
    let seq = u32::try_from(digits.iter().fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'))).map_err(|_| bad())?;
    Ok((seq, method))
}

/// `SIP / 2.0 / UDP host:port;params`. A Via we cannot read is dropped, not fatal: the rest
/// of the message still tells the call's story.
fn parse_via(v: &str) -> Option<Via> {
    let semi = find_unquoted(v, ';').unwrap_or(v.len());
    let (proto, tail) = v.split_at(semi);
    let s1 = memchr(b'/', proto.as_bytes())?;
    let s2 = s1 + 1 + memchr(b'/', &proto.as_bytes()[s1 + 1..])?;
    let name = trim(&proto[..s1]);
    let version = trim(&proto[s1 + 1..s2]);
    let rest = proto[s2 + 1..].trim_start();
    if !name.eq_ignore_ascii_case("SIP") || version.is_empty() {
        return None;
    }
    let t_end = rest.bytes().position(|c| c.is_ascii_whitespace()).unwrap_or(rest.len());
    let transport = rest[..t_end].to_ascii_uppercase();
    let sent_by = trim(&rest[t_end..]);
    if transport.is_empty() || sent_by.is_empty() {
        return None;
    }
    let (host, port) = split_host_port(sent_by)?;
    let mut via = Via { transport, host: host.to_owned(), port, branch: None, received: None, rport: None };
    for (k, val) in params(tail) {
        if k.eq_ignore_ascii_case("branch") {
            via.branch = val.map(str::to_owned);
        } else if k.eq_ignore_ascii_case("received") {
            via.received = val.map(str::to_owned);
        } else if k.eq_ignore_ascii_case("rport") {
            via.rport = Some(val.unwrap_or("").to_owned());
        }
    }
    Some(via)
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(r) = s.strip_prefix('[') {
        let close = r.find(']')?;
        let after = &r[close + 1..];
        (&s[..close + 2], after.strip_prefix(':'))
    } else {
        match s.bytes().rposition(|c| c == b':') {
            // A bare IPv6 address (several colons) has no port.
            Some(c) if memchr(b':', &s.as_bytes()[..c]).is_none() => (&s[..c], Some(&s[c + 1..])),
            _ => (s, None),
        }
    };
    let port = match port.map(trim) {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    Some((trim(host), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Frame 1 of sip_udp_5060_5061.pcap (Cloudshark sample via suricata-verify), byte for byte.
    const INVITE_CLOUDSHARK: &[u8] = b"INVITE sip:francisco@bestel.com:55060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 200.57.7.195;branch=z9hG4bKff9b46fb055c0521cc24024da96cd290\r\n\
Via: SIP/2.0/UDP 200.57.7.195:55061;branch=z9hG4bK291d90e31a47b225bd0ddff4353e9cc0\r\n\
From: <sip:200.57.7.195:55061;user=phone>;tag=GR52RWG346-34\r\n\
To: \"francisco@bestel.com\" <sip:francisco@bestel.com:55060>\r\n\
Call-ID: 12013223@200.57.7.195\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:200.57.7.195:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length:   229\r\n\
\r\n\
v=0\r\n\
o=Clarent 120386 120387 IN IP4 200.57.7.196\r\n\
s=Clarent C5CM\r\n\
c=IN IP4 200.57.7.196\r\n\
t=0 0\r\n\
m=audio 40376 RTP/AVP 8 18 4 0\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:18 G729/8000\r\n\
a=rtpmap:4 G723/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=SendRecv\r\n";

    /// Frame 2 of sip_udp_register_invite_rtp.pcap (nDPI's sip.pcap).
    const RESP_401: &[u8] = b"SIP/2.0 401 Unauthorized\r\n\
Call-ID: 578222729-4665d775@578222732-4665d772\r\n\
CSeq: 68 REGISTER\r\n\
From: <sip:voi18063@sip.cybercity.dk>;tag=903df0a\r\n\
To: <sip:voi18063@sip.cybercity.dk>;tag=00-04092-1701af62-120c67172\r\n\
Via: SIP/2.0/UDP 192.168.1.2;received=80.230.219.70;rport=5060;branch=z9hG4bKnp151248737-46ea715e192.168.1.2\r\n\
WWW-Authenticate: Digest realm=\"sip.cybercity.dk\",nonce=\"1701af566be182070084c6f740706bb\",opaque=\"1701a1351f70795\",stale=false,algorithm=MD5\r\n\
Content-Length: 0\r\n\
\r\n";

    /// sip_tcp_register.pcap: the REGISTER as its two TCP segments (400 + 185 bytes).
    const TCP_REG_1: &[u8] = b"REGISTER sip:192.168.43.100;transport=TCP SIP/2.0\r\n\
Via: SIP/2.0/TCP 192.168.43.1:48376;branch=z9hG4bK-524287-1---dcf4eddfaf9f1239;rport\r\n\
Max-Forwards: 70\r\n\
Contact: <sip:987654@192.168.43.1:48376;rinstance=be2ec98d0f43e70c;transport=tcp>\r\n\
To: <sip:987654@192.168.43.100;transport=TCP>\r\n\
From: <sip:987654@192.168.43.100;transport=TCP>;tag=9b99167f\r\n\
Call-ID: 8OmtYUU8EdlafUh4g4jiAw..\r\n\
CSeq: 1 REGISTER\r\n";
    const TCP_REG_2: &[u8] = b"Expires: 600\r\n\
Allow: INVITE, ACK, CANCEL, BYE, NOTIFY, REFER, MESSAGE, OPTIONS, INFO, SUBSCRIBE\r\n\
User-Agent: Zoiper rv2.10.3.2\r\n\
Allow-Events: presence, kpml, talk\r\n\
Content-Length: 0\r\n\
\r\n";

    #[test]
    fn corpus_segment_sizes_are_as_captured() {
        assert_eq!(TCP_REG_1.len(), 400);
        assert_eq!(TCP_REG_2.len(), 185);
        assert_eq!(
            INVITE_CLOUDSHARK.len() - INVITE_CLOUDSHARK.windows(4).position(|w| w == b"\r\n\r\n").unwrap() - 4,
            229
        );
    }

    #[test]
    fn parses_invite_with_sdp() {
        let m = parse(INVITE_CLOUDSHARK).unwrap();
        assert_eq!((m.method(), m.request_uri()), (Some("INVITE"), Some("sip:francisco@bestel.com:55060")));
        assert_eq!(m.call_id(), Some("12013223@200.57.7.195"));
        assert_eq!(m.cseq(), Some(CSeq { seq: 1, method: "INVITE" }));
        let from = m.from().unwrap();
        assert_eq!(from.uri, "sip:200.57.7.195:55061;user=phone");
        assert_eq!(from.tag, Some("GR52RWG346-34"));
        let to = m.to().unwrap();
        assert_eq!(to.display.as_deref(), Some("francisco@bestel.com"));
        assert_eq!(to.uri, "sip:francisco@bestel.com:55060");
        assert_eq!(to.tag, None);
        assert_eq!(m.via().len(), 2);
        assert_eq!(m.via()[0].transport, "UDP");
        assert_eq!(m.via()[0].host, "200.57.7.195");
        assert_eq!(m.via()[0].port, None);
        assert_eq!(m.via()[1].port, Some(55061));
        assert_eq!(m.via()[0].branch.as_deref(), Some("z9hG4bKff9b46fb055c0521cc24024da96cd290"));
        assert_eq!(m.content_length, Some(229));
        assert_eq!(m.body.len(), 229);
        assert!(m.body.starts_with(b"v=0\r\n") && m.body.ends_with(b"a=SendRecv\r\n"));
        assert!(!m.truncated);
        let sdp = m.sdp().unwrap();
        assert_eq!(sdp.media.len(), 1);
        assert_eq!(sdp.media[0].port, 40376);
        assert_eq!(m.contact(), vec!["<sip:200.57.7.195:5060>"]);
    }

    #[test]
    fn parses_status_line_and_keeps_auth_commas() {
        let m = parse(RESP_401).unwrap();
        assert_eq!(m.status(), Some(401));
        assert_eq!(m.reason(), Some("Unauthorized"));
        assert_eq!(m.method(), None);
        assert_eq!(m.cseq().unwrap().method, "REGISTER");
        assert_eq!(m.to().unwrap().tag, Some("00-04092-1701af62-120c67172"));
        let via = m.via();
        let v = &via[0];
        assert_eq!(v.received.as_deref(), Some("80.230.219.70"));
        assert_eq!(v.rport.as_deref(), Some("5060"));
        // WWW-Authenticate is not a list header: its commas stay.
        assert_eq!(m.header_values("www-authenticate").len(), 1);
        assert!(m.body.is_empty());
    }

    #[test]
    fn compact_forms_and_case_insensitive_names() {
        let raw = b"MESSAGE sip:bob@example.com SIP/2.0\r\n\
v: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1\r\n\
f: Alice <sip:alice@example.com>;tag=a1\r\n\
t: sip:bob@example.com\r\n\
i: abc@10.0.0.1\r\n\
CSEQ: 7 MESSAGE\r\n\
m: <sip:alice@10.0.0.1>\r\n\
k: path, gruu\r\n\
s: hi\r\n\
o: presence\r\n\
u: dialog\r\n\
x: 1800;refresher=uac\r\n\
r: <sip:carol@example.com>\r\n\
b: <sip:alice@example.com>\r\n\
e: gzip\r\n\
c: text/plain\r\n\
l: 5\r\n\
\r\n\
hello";
        let m = parse(raw).unwrap();
        assert_eq!(m.call_id(), Some("abc@10.0.0.1"));
        assert_eq!(m.from().unwrap().display.as_deref(), Some("Alice"));
        assert_eq!(m.from().unwrap().tag, Some("a1"));
        assert_eq!(m.to().unwrap().uri, "sip:bob@example.com");
        assert_eq!(m.cseq().unwrap().seq, 7);
        assert_eq!(m.via()[0].transport, "TCP");
        assert_eq!(m.contact(), vec!["<sip:alice@10.0.0.1>"]);
        assert_eq!(m.content_type(), Some("text/plain"));
        assert_eq!(&m.body[..], b"hello");
        assert_eq!(m.header_values("Supported"), vec!["path", "gruu"]);
        assert_eq!(m.header("subject"), Some("hi"));
        assert_eq!(m.header("Event"), Some("presence"));
        assert_eq!(m.header("allow-events"), Some("dialog"));
        assert_eq!(m.header("Session-Expires"), Some("1800;refresher=uac"));
        assert_eq!(m.header("refer-to"), Some("<sip:carol@example.com>"));
        assert_eq!(m.header("referred-by"), Some("<sip:alice@example.com>"));
        assert_eq!(m.header("content-encoding"), Some("gzip"));
        assert_eq!(m.header("CALL-ID"), Some("abc@10.0.0.1"));
        assert_eq!(m.headers().next(), Some(("v", "SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bK1")));
    }

    #[test]
    fn folded_headers_are_joined() {
        let raw = b"OPTIONS sip:x@example.com SIP/2.0\r\n\
Subject: I know you're there,\r\n   pick up the phone\r\n\tand talk to me!\r\n\
Call-ID: fold@x\r\n\
Content-Length:\r\n 0\r\n\
\r\n";
        let m = parse(raw).unwrap();
        assert_eq!(m.header("subject"), Some("I know you're there, pick up the phone and talk to me!"));
        assert_eq!(m.call_id(), Some("fold@x"));
        assert_eq!(m.content_length, Some(0));
        assert_eq!(frame_len(raw), FrameResult::Complete(raw.len()));
    }

    #[test]
    fn multi_value_via_and_contact_split_outside_quotes_and_brackets() {
        let raw = b"INVITE sip:b@example.com SIP/2.0\n\
Via: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKa, SIP / 2.0 / tcp proxy.example.com;branch=z9hG4bKb;received=192.0.2.1\n\
Via: SIP/2.0/TLS 192.0.2.9:5061;branch=z9hG4bKc\n\
Contact: \"Doe, John\" <sip:j@h;x=a,b>;q=0.5, <sip:k@h>\n\
Call-ID: lf-only\n\
\n";
        let m = parse(raw).unwrap();
        let via = m.via();
        let hosts: Vec<_> = via.iter().map(|v| (v.transport.as_str(), v.host.as_str(), v.port)).collect();
        assert_eq!(
            hosts,
            vec![
                ("UDP", "[2001:db8::1]", Some(5062)),
                ("TCP", "proxy.example.com", None),
                ("TLS", "192.0.2.9", Some(5061))
            ]
        );
        assert_eq!(m.via()[1].received.as_deref(), Some("192.0.2.1"));
        assert_eq!(m.contact(), vec!["\"Doe, John\" <sip:j@h;x=a,b>;q=0.5", "<sip:k@h>"]);
        assert_eq!(m.header_values("via").len(), 3);
        assert_eq!(m.content_length, None);
        assert!(m.body.is_empty());
    }

    #[test]
    fn missing_content_length_over_udp_takes_rest_of_datagram() {
        let raw = b"MESSAGE sip:b@example.com SIP/2.0\r\nCall-ID: x\r\nContent-Type: text/plain\r\n\r\nrest of it";
        let m = parse(raw).unwrap();
        assert_eq!(&m.body[..], b"rest of it");
        assert!(!m.truncated);
        // On a stream the same message has no body.
        assert_eq!(frame_len(raw), FrameResult::Complete(raw.len() - 10));
    }

    #[test]
    fn short_body_and_missing_blank_line_are_flagged_truncated() {
        let raw = b"MESSAGE sip:b@example.com SIP/2.0\r\nCall-ID: x\r\nContent-Length: 50\r\n\r\nshort";
        let m = parse(raw).unwrap();
        assert!(m.truncated);
        assert_eq!(&m.body[..], b"short");
        let m = parse(b"SIP/2.0 200 OK\r\nCall-ID: y\r\nCSeq: 1 BYE").unwrap();
        assert!(m.truncated);
        assert_eq!(m.cseq().unwrap().method, "BYE");
        // Longer datagram than Content-Length: the extra bytes are not body.
        let m = parse(b"SIP/2.0 200 OK\r\nl: 2\r\n\r\nokJUNK").unwrap();
        assert_eq!(&m.body[..], b"ok");
    }

    #[test]
    fn bad_input_is_malformed_with_stable_reasons() {
        let r = |b: &[u8]| parse(b).unwrap_err().reason;
        assert_eq!(r(b""), "sip empty message");
        assert_eq!(r(b"HTTP/1.1 200 OK\r\n\r\n"), "sip bad start line");
        assert_eq!(r(b"SIP/2.0 099 Nope\r\n\r\n"), "sip bad start line");
        assert_eq!(r(b"SIP/2.0 700 Nope\r\n\r\n"), "sip status code out of range");
        assert_eq!(r(b"SIP/2.0 200 OK\r\nContent-Length: x\r\n\r\n"), "sip content-length invalid");
        assert_eq!(r(b"SIP/2.0 200 OK\r\nl: 1\r\nl: 2\r\n\r\nab"), "sip content-length conflicting");
        assert_eq!(r(b"SIP/2.0 200 OK\r\nCSeq: one INVITE\r\n\r\n"), "sip cseq invalid");
        assert_eq!(r(b"SIP/2.0 200 OK\r\nno colon here\r\n\r\n"), "sip header without colon");
        assert_eq!(r(b"SIP/2.0 200 OK\r\nBad Name: x\r\n\r\n"), "sip bad header name");
    }

    #[test]
    fn sdp_inside_multipart_body() {
        let raw = b"INVITE sip:b@example.com SIP/2.0\r\n\
Call-ID: mp\r\n\
Content-Type: multipart/mixed;boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: application/ISUP;version=itu-t92+\r\n\
\r\n\
\x01\x00\x49\x00\r\n\
--b1\r\n\
Content-Type: application/sdp\r\n\
\r\n\
v=0\r\nc=IN IP4 192.0.2.4\r\nm=audio 4000 RTP/AVP 0\r\n\
--b1--\r\n";
        let sdp = parse(raw).unwrap().sdp().unwrap();
        assert_eq!(sdp.describe(), vec!["audio 192.0.2.4:4000 RTP/AVP PCMU/8000"]);
        // No SDP part, or a boundary that never appears: nothing.
        let none = b"MESSAGE sip:b@x SIP/2.0\r\nc: multipart/mixed;boundary=zz\r\n\r\n--zz\r\nc: text/plain\r\n\r\nhi\r\n--zz--";
        assert_eq!(parse(none).unwrap().sdp(), None);
        // Multi-byte characters where "multipart/" would end must not split a char.
        let odd = "MESSAGE sip:b@x SIP/2.0\r\nc: multipar\u{20ac}x\r\n\r\nbody";
        assert_eq!(parse(odd.as_bytes()).unwrap().sdp(), None);
        let lost = b"MESSAGE sip:b@x SIP/2.0\r\nc: multipart/mixed;boundary=qq\r\n\r\n--zz\r\n";
        assert_eq!(parse(lost).unwrap().sdp(), None);
    }

    #[test]
    fn looks_like_sip_is_strict() {
        assert!(looks_like_sip(INVITE_CLOUDSHARK));
        assert!(looks_like_sip(RESP_401));
        assert!(looks_like_sip(b"FOO-BAR sips:x@y SIP/2.0\n"));
        assert!(looks_like_sip(b"SIP/2.0 180 \r\n"));
        assert!(!looks_like_sip(b"SIP/2.0 180\r\n"));
        assert!(!looks_like_sip(b"GET / HTTP/1.1\r\n"));
        assert!(!looks_like_sip(b"INVITE sip:x SIP/2.0")); // no line end
        assert!(!looks_like_sip(b"INVITE sip:x SIP/2.0 \r\n"));
        assert!(!looks_like_sip(b"INVITE  sip:x SIP/2.0\r\n"));
        assert!(!looks_like_sip(b"INVITE x SIP/2.0\r\n"));
        assert!(!looks_like_sip(b"INV\x01TE sip:x SIP/2.0\r\n"));
        assert!(!looks_like_sip(b"\x45\x00\x01\x00 sip:x SIP/2.0\r\n"));
        assert!(!looks_like_sip(b""));
        // RTP (PCMA) from frame 95 of sip_udp_register_invite_rtp.pcap: rejected at byte 1.
        assert!(!looks_like_sip(b"\x80\x08\x6f\xae\x00\x00\x04\xd8\x37\x96\xcb\x71\xd5\xd5"));
        assert!(!looks_like_sip(b"     ")); // the NAT keepalives of the same capture
    }

    #[test]
    fn frame_len_on_corpus_register_split_in_two_segments() {
        assert_eq!(frame_len(TCP_REG_1), FrameResult::Incomplete);
        let whole = [TCP_REG_1, TCP_REG_2].concat();
        assert_eq!(frame_len(&whole), FrameResult::Complete(585));
        let m = parse(&whole).unwrap();
        assert_eq!(m.method(), Some("REGISTER"));
        assert_eq!(m.request_uri(), Some("sip:192.168.43.100;transport=TCP"));
        assert_eq!(m.via()[0].rport.as_deref(), Some(""));
        assert_eq!(m.header_values("allow").len(), 10);
        assert_eq!(m.header_values("Allow-Events"), vec!["presence", "kpml", "talk"]);
    }

    #[test]
    fn frame_len_two_messages_in_one_buffer_and_body() {
        let a = b"MESSAGE sip:b@x SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
        let b = RESP_401;
        let buf = [&a[..], b].concat();
        let FrameResult::Complete(n) = frame_len(&buf) else { panic!() };
        assert_eq!(n, a.len());
        assert_eq!(&parse(&buf[..n]).unwrap().body[..], b"abc");
        assert_eq!(frame_len(&buf[n..]), FrameResult::Complete(b.len()));
        // Body not all there yet.
        assert_eq!(frame_len(&a[..a.len() - 1]), FrameResult::Incomplete);
    }

    #[test]
    fn frame_len_keepalives_and_garbage() {
        assert_eq!(frame_len(b"\r\n\r\nSIP/2.0"), FrameResult::Keepalive(Keepalive::Ping));
        assert_eq!(frame_len(b"\r\nSIP/2.0 200"), FrameResult::Keepalive(Keepalive::Pong));
        assert_eq!(frame_len(b"\r\n"), FrameResult::Keepalive(Keepalive::Pong));
        assert_eq!(frame_len(b"\r"), FrameResult::Incomplete);
        assert_eq!(frame_len(b""), FrameResult::Incomplete);
        assert_eq!(frame_len(b"INVI"), FrameResult::Incomplete);
        assert_eq!(frame_len(b"INVITE sip:a@b SI"), FrameResult::Incomplete);
        assert_eq!(frame_len(b"SIP/2.0 20"), FrameResult::Incomplete);
        assert_eq!(frame_len(b"\x16\x03\x01\x02\x00"), FrameResult::NotSip);
        assert_eq!(frame_len(b"GET / HTTP/1.1\r\n"), FrameResult::NotSip);
        assert_eq!(frame_len(b"INVITE sip:a@b HTTP"), FrameResult::NotSip);
        assert_eq!(
            frame_len(b"SIP/2.0 200 OK\r\nContent-Length: 99999999\r\n\r\n"),
            FrameResult::Malformed(Malformed::new("sip content-length too large"))
        );
        assert_eq!(
            frame_len(b"SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n"),
            FrameResult::Malformed(Malformed::new("sip content-length invalid"))
        );
        let endless = [&b"SIP/2.0 200 OK\r\n"[..], &vec![b'a'; MAX_HEAD + 1]].concat();
        assert_eq!(frame_len(&endless), FrameResult::Malformed(Malformed::new("sip head too long")));
    }

    #[test]
    fn a_bad_header_line_does_not_break_stream_framing() {
        let a = b"SIP/2.0 200 OK\r\nthis line has no colon\r\nContent-Length: 2\r\n\r\nok";
        let buf = [&a[..], RESP_401].concat();
        assert_eq!(frame_len(&buf), FrameResult::Complete(a.len()));
        assert_eq!(parse(a).unwrap_err().reason, "sip header without colon");
        assert_eq!(frame_len(&buf[a.len()..]), FrameResult::Complete(RESP_401.len()));
    }

    #[test]
    fn every_prefix_of_a_message_is_incomplete() {
        let whole = [TCP_REG_1, TCP_REG_2].concat();
        for cut in 1..whole.len() {
            assert_eq!(frame_len(&whole[..cut]), FrameResult::Incomplete, "cut at {cut}");
        }
        for cut in 1..INVITE_CLOUDSHARK.len() {
            assert_eq!(frame_len(&INVITE_CLOUDSHARK[..cut]), FrameResult::Incomplete, "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse(&b);
            let _ = looks_like_sip(&b);
            if let FrameResult::Complete(n) = frame_len(&b) {
                prop_assert!(n <= b.len());
            }
        }

        #[test]
        fn mutated_messages_never_panic(
            idx in 0usize..INVITE_CLOUDSHARK.len(),
            byte in any::<u8>(),
            cut in 0usize..INVITE_CLOUDSHARK.len(),
        ) {
            let mut b = INVITE_CLOUDSHARK.to_vec();
            b[idx] = byte;
            b.truncate(cut.max(idx + 1));
            let _ = parse(&b);
            if let FrameResult::Complete(n) = frame_len(&b) {
                prop_assert!(n <= b.len());
            }
        }

        #[test]
        fn built_messages_frame_and_parse(
            compact in any::<bool>(),
            lf_only in any::<bool>(),
            call_id in "[a-zA-Z0-9.@-]{1,40}",
            body in proptest::collection::vec(any::<u8>(), 0..300),
            cut in any::<proptest::sample::Index>(),
        ) {
            let nl = if lf_only { "\n" } else { "\r\n" };
            let (i, l) = if compact { ("i", "l") } else { ("Call-ID", "Content-Length") };
            let mut m = format!(
                "MESSAGE sip:bob@example.com SIP/2.0{nl}Via: SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK1{nl}\
    {i}: {call_id}{nl}CSeq: 1 MESSAGE{nl}{l}: {}{nl}{nl}",
                body.len()
            )
            .into_bytes();
            m.extend_from_slice(&body);
            let two = [&m[..], &m[..]].concat();
            prop_assert_eq!(frame_len(&two), FrameResult::Complete(m.len()));
            prop_assert_eq!(frame_len(&m[..cut.index(m.len())]), FrameResult::Incomplete);
            let p = parse(&m).unwrap();
            prop_assert_eq!(p.call_id(), Some(call_id.as_str()));
            prop_assert_eq!(&p.body[..], &body[..]);
        }

        #[test]
        fn unicode_header_values_never_panic(v in "\\PC{0,60}", w in "[\\PC;<>\"]{0,60}") {
            let msg = format!(
                "INVITE sip:a@b SIP/2.0\r\nContent-Type: {v}\r\nFrom: {w}\r\nTo: {v}\r\nVia: {w}\r\n\
    Contact: {w}, {v}\r\nCall-ID: {v}\r\n\r\n--{w}\r\nc: application/sdp\r\n\r\nm=audio 1 RTP/AVP 0\r\n"
            );
            if let Ok(m) = parse(msg.as_bytes()) {
                let _ = m.sdp();
                let _ = m.header_values("contact");
            }
            let multipart = format!("SIP/2.0 200 OK\r\nc: multipart/{v};boundary={w}\r\n\r\n--{w}\r\n{v}");
            if let Ok(m) = parse(multipart.as_bytes()) {
                let _ = m.sdp();
            }
        }

        #[test]
        fn fast_memchr_agrees_with_a_byte_loop(hay in proptest::collection::vec(any::<u8>(), 0..80), needle in any::<u8>()) {
            prop_assert_eq!(memchr(needle, &hay), hay.iter().position(|&c| c == needle));
        }

        #[test]
        fn fast_uri_len_agrees_with_a_byte_loop(hay in proptest::collection::vec(any::<u8>(), 0..80), pick in proptest::collection::vec(0usize..6, 0..80)) {
            // Random bytes end the run at once; bias half of them towards the edge values.
            let edge = [0x20u8, 0x21, 0x7f, 0x7e, 0x80, 0xff];
            let hay: Vec<u8> = hay.iter().zip(pick.iter().chain(std::iter::repeat(&9))).map(|(&c, &p)| {
                match p { 0..=5 if c % 2 == 0 => edge[p], _ => c | 0x40 }
            }).collect();
            prop_assert_eq!(uri_len(&hay), hay.iter().take_while(|&&c| c > 0x20 && c != 0x7f).count());
        }

        #[test]
        fn known_names_match_case_insensitively(name in "([cCfFtTiIlL]|[cC][aAsSoO][a-zA-Z-]{0,12}|[fFtT][a-zA-Z0-9!%*_+`'~.-]{0,5})") {
            let reference = |long: &str| name.as_bytes().eq_ignore_ascii_case(long.as_bytes());
            let want = if name.len() == 1 {
                known(name.as_bytes())
            } else if reference("to") {
                Known::To
            } else if reference("from") {
                Known::From
            } else if reference("cseq") {
                Known::CSeq
            } else if reference("call-id") {
                Known::CallId
            } else if reference("content-type") {
                Known::ContentType
            } else if reference("content-length") {
                Known::ContentLength
            } else {
                Known::Other
            };
            prop_assert_eq!(known(name.as_bytes()), want);
            // Every case variant of a long name is found.
            for long in ["to", "from", "cseq", "call-id", "content-type", "content-length"] {
                let mixed: String = long.chars().zip(name.bytes().cycle()).map(|(c, b)| if b % 2 == 0 { c.to_ascii_uppercase() } else { c }).collect();
                prop_assert_ne!(known(mixed.as_bytes()), Known::Other);
            }
        }

        #[test]
        fn cseq_reads_like_a_split_into_two_words(s in "[0-9A-Za-z \t\r\n-]{0,24}") {
            let words: Vec<&str> = s.split_ascii_whitespace().collect();
            let reference = match words[..] {
                [d, m] if d.len() <= 10 && d.bytes().all(|c| c.is_ascii_digit()) && m.bytes().all(is_token_char) => {
                    d.parse::<u32>().ok().map(|n| (n, m))
                }
                _ => None,
            };
            let got = parse_cseq(s.as_bytes()).ok().map(|(n, m)| (n, std::str::from_utf8(m).unwrap()));
            prop_assert_eq!(got, reference);
        }

        #[test]
        fn fast_paths_agree_with_the_char_scan(s in "[a-z;\"<>,= \\\\\u{e9}]{0,40}") {
            // Reference: the quote-aware scan every fast path must match.
            let slow = |v: &str, needle: char| {
                let (mut q, mut e) = (false, false);
                for (i, c) in v.char_indices() {
                    if q {
                        match c { _ if e => e = false, '\\' => e = true, '"' => q = false, _ => {} }
                    } else if c == '"' { q = true } else if c == needle { return Some(i) }
                }
                None
            };
            prop_assert_eq!(find_unquoted(&s, ';'), slow(&s, ';'));
            prop_assert_eq!(find_unquoted(&s, '<'), slow(&s, '<'));
            let tail = format!(";tag={s}");
            let by_params = params(&tail).find(|(k, _)| k.eq_ignore_ascii_case("tag")).and_then(|(_, v)| v);
            prop_assert_eq!(tag_of(&tail), by_params);
        }

        #[test]
        fn read_head_agrees_with_the_line_iterator(s in "[A-Za-z:;<> \t\r\n=@.0-9-]{0,300}", extra in 0usize..600) {
            // Reference: the walk read_head made before it had its own loop.
            fn by_iterator(b: &[u8], from: usize) -> Result<(Kept, Option<(usize, usize)>), Malformed> {
                let mut kept = Kept::default();
                let mut lines = RawHeaders::head_at(b, from);
                for (count, raw) in (&mut lines).enumerate() {
                    let raw = raw?;
                    if count >= MAX_HEADERS {
                        return Err(Malformed::new("sip too many headers"));
                    }
                    kept.note(b, &raw)?;
                }
                let head_end = lines.head_end;
                kept.end = head_end.map_or(b.len(), |(he, _)| he);
                Ok((kept, head_end))
            }
            // Known names in every spelling, mixed into the random lines; sometimes past the
            // header cap.
            let known_lines = "Call-ID: a@b\r\nf: <sip:x>;tag=1\r\nTO: y\r\nCSeq: 4 INVITE\r\nl: 3\r\nc: application/sdp\r\n";
            let text = format!("SIP/2.0 200 OK\r\n{}{s}\r\nx: {}\r\n\r\nabc", known_lines.repeat(extra / 100), "v\r\n y".repeat(extra % 7));
            let b = text.as_bytes();
            let from = memchr(b'\n', b).unwrap() + 1;
            prop_assert_eq!(format!("{:?}", read_head(b, from)), format!("{:?}", by_iterator(b, from)));
            let many = format!("SIP/2.0 200 OK\r\n{}", "a: 1\r\n".repeat(MAX_HEADERS - 3 + extra % 8) + &s);
            let b = many.as_bytes();
            let from = memchr(b'\n', b).unwrap() + 1;
            prop_assert_eq!(format!("{:?}", read_head(b, from)), format!("{:?}", by_iterator(b, from)));
        }

        #[test]
        fn text_like_heads_never_panic(s in "[A-Za-z:;,<>\"\\\\ \t\r\n=/@.0-9\\[\\]-]{0,400}") {
            let msg = format!("SIP/2.0 200 OK\r\n{s}");
            let _ = parse(msg.as_bytes());
            let _ = frame_len(msg.as_bytes());
            let _ = split_list(&s);
            let _ = parse_name_addr(&s);
            let _ = parse_via(&s);
        }
    }
}

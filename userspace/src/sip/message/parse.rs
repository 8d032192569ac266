//! [`parse`]: one pass over a message's start line and header lines, which checks them and
//! notes where the fields the dialog tracker reads sit, then cuts the body.

use std::borrow::Cow;
use std::cell::OnceCell;

use super::headers::{blank_line_after, header_line, known, memchr, split_header, strip_cr, trim_ws, unfold_into};
use super::headers::{Known, RawHeader};
use super::start_line::{check_start_line, start_spans};
use super::values::{parse_content_length, parse_cseq};
use super::{span_of_bytes, sub, SipMessage, Span, MAX_HEADERS};
use crate::decode::Malformed;

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
pub(super) struct Kept {
    /// End of the header lines (the start of the blank line, or the end of the text).
    pub(super) end: usize,
    call_id: Option<KeptValue>,
    from: Option<KeptValue>,
    to: Option<KeptValue>,
    content_type: Option<KeptValue>,
    cseq: Option<(u32, Span)>,
    content_length: Option<usize>,
    /// Why Content-Length was set aside (then `content_length` is `None` for good).
    content_length_damage: Option<&'static str>,
    /// The first header line that could not be read (no colon, a bad name, a continuation
    /// with nothing to continue), skipped; the others still count.
    pub(super) header_damage: Option<&'static str>,
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
            content_length_damage: kept.content_length_damage,
            header_damage: kept.header_damage,
            sdp: OnceCell::new(),
            index: OnceCell::new(),
        }
    }
}

impl Kept {
    /// Note one header line of message `b` if it is one the report keeps (the first of each,
    /// but every CSeq and Content-Length is checked, and Content-Lengths must agree).
    #[inline(always)]
    pub(super) fn note(&mut self, b: &[u8], raw: &RawHeader<'_>) -> Result<(), Malformed> {
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
            // A bad or conflicting length does not lose the message: a datagram bounds it. On a
            // stream the framer has already refused such a message, so this only serves UDP.
            Known::ContentLength if self.content_length_damage.is_none() => {
                let damage = match (parse_content_length(raw.value), self.content_length) {
                    (Ok(n), Some(prev)) if prev != n => Some("sip content-length conflicting"),
                    (Ok(n), _) => {
                        self.content_length = Some(n);
                        None
                    }
                    (Err(e), _) => Some(e.reason),
                };
                if damage.is_some() {
                    self.content_length = None;
                    self.content_length_damage = damage;
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
pub(super) fn read_head(b: &[u8], from: usize) -> Result<(Kept, Option<(usize, usize)>), Malformed> {
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
        if count >= MAX_HEADERS {
            return Err(Malformed::new("sip too many headers"));
        }
        count += 1;
        // A line that does not read is skipped, as Wireshark does: the message's other
        // headers (Call-ID, CSeq) still say what it is.
        let raw = match split_header(region, folded) {
            Ok(raw) => raw,
            Err(e) => {
                kept.header_damage.get_or_insert(e.reason);
                continue;
            }
        };
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

/// Owned text of wire bytes: a plain copy when they are UTF-8 (the common case, checked
/// fast), lossy only otherwise.
fn lossy(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    }
}

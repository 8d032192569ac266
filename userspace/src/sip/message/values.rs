//! Header values: name-addr (`"Display" <uri>;tag=x`), `;name=value` parameters, CSeq, Via,
//! Content-Length and comma-separated lists, read from the text without copying it.

use std::borrow::Cow;

use super::headers::{memchr, trim_ws};
use super::start_line::is_token_char;
use crate::decode::Malformed;

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

// Per message, from the parse in another module: inlined there as when they shared one.
#[inline]
pub(super) fn parse_content_length(v: &[u8]) -> Result<usize, Malformed> {
    let d = trim_ws(v);
    // 9 digits keeps the value far from overflow and far above any real SIP body.
    if d.is_empty() || d.len() > 9 || !d.iter().all(u8::is_ascii_digit) {
        return Err(Malformed::new("sip content-length invalid"));
    }
    Ok(d.iter().fold(0usize, |n, &c| n * 10 + usize::from(c - b'0')))
}

/// Split on commas that are outside double quotes and angle brackets; empty items dropped.
pub fn split_list(v: &str) -> Vec<&str> {
    let mut out = Vec::new();
    split_list_each(v, |item| out.push(item));
    out
}

/// [`split_list`] without the vector. Scans bytes: every delimiter is ASCII, and the
/// continuation bytes of a multi-byte char never equal one.
pub(super) fn split_list_each<'a>(v: &'a str, mut f: impl FnMut(&'a str)) {
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
pub(super) fn find_unquoted(v: &str, needle: char) -> Option<usize> {
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
pub(super) fn params(s: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
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
pub(super) fn trim(s: &str) -> &str {
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

pub(super) fn tag_of(tail: &str) -> Option<&str> {
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
// Per message, from the parse in another module: inlined there as when they shared one.
#[inline]
pub(super) fn parse_cseq(v: &[u8]) -> Result<(u32, &[u8]), Malformed> {
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
pub(super) fn parse_via(v: &str) -> Option<Via> {
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

//! Terminal-safe text: the one place where strings that came from outside (packets, capture
//! files, the host, file names) are made fit for a terminal.
//!
//! A SIP Call-ID, a pcapng interface name or a process name is chosen by whoever made the
//! packet or the file; printed as is, `ESC[2J` clears the analyst's screen, `ESC]0;…BEL`
//! retitles the window, and a bidi override reorders what follows it. Every text writer (the
//! report, the ladder, explain's answer, messages on standard error) passes such strings
//! through [`field`], and the finished text through [`block`]. JSON is never escaped here:
//! serde writes every character exactly (control characters as `\u001b`).
//!
//! The form, close to tcpdump's intent but reversible and unambiguous per character:
//! - ASCII control characters (C0, 0x00–0x1f) and DEL become `\xNN` (`ESC` is `\x1b`);
//! - bytes that are not UTF-8 become `\xNN`, one per byte;
//! - C1 controls (U+0080–U+009F) and the invisible format characters that can reorder or hide
//!   text (bidi embeddings, overrides and isolates, marks, zero-width characters, line and
//!   paragraph separators, BOM, interlinear annotation) become `\u{NNNN}`.
//!
//! Everything else, letters of any script included, is kept. A backslash is kept as is: the
//! point is that nothing reaches the terminal as a control, not a lossless encoding.

use std::borrow::Cow;

/// Whether `c` is printed escaped. `keep_newline` lets `\n` through (a finished text block).
#[inline]
fn escaped(c: char, keep_newline: bool) -> bool {
    match c {
        '\n' => !keep_newline,
        '\0'..='\x1f' | '\x7f'..='\u{9f}' => true,
        // Arabic letter mark, zero-width space/joiners and LRM/RLM, line/paragraph separators,
        // bidi embeddings and overrides (202A–202E), word joiner .. bidi isolates (2060–2069),
        // BOM / zero-width no-break space, interlinear annotation characters.
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' => true,
        '\u{feff}' | '\u{fff9}'..='\u{fffb}' => true,
        _ => false,
    }
}

fn push_escaped(out: &mut String, c: char) {
    use std::fmt::Write as _;
    if c.is_ascii() {
        push_byte(out, c as u8);
    } else {
        let _ = write!(out, "\\u{{{:04x}}}", c as u32);
    }
}

fn push_byte(out: &mut String, b: u8) {
    use std::fmt::Write as _;
    let _ = write!(out, "\\x{b:02x}");
}

fn escape_str(s: &str, keep_newline: bool) -> Cow<'_, str> {
    // Most strings are printable ASCII: a byte test decides without decoding characters.
    let clean = s.bytes().all(|b| (0x20..0x7f).contains(&b) || (keep_newline && b == b'\n'));
    if clean || !s.chars().any(|c| escaped(c, keep_newline)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if escaped(c, keep_newline) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// One value from outside (a Call-ID, an interface or process name, a file name): every
/// control character escaped, line breaks included, so it stays on its line.
pub fn field(s: &str) -> Cow<'_, str> {
    escape_str(s, false)
}

/// A finished text (a report, a message for standard error): as [`field`], but its own line
/// breaks are kept. The writers escape each outside value with [`field`] first, so a value
/// cannot add lines; this pass makes sure nothing else gets through.
pub fn block(s: &str) -> Cow<'_, str> {
    escape_str(s, true)
}

/// Bytes that may not be UTF-8 (a file name, a name read from a capture): each byte of an
/// invalid sequence as `\xNN`, the rest as [`field`].
pub fn bytes(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => field(s),
        Err(_) => {
            let mut out = String::with_capacity(b.len() + 16);
            for chunk in b.utf8_chunks() {
                out.push_str(&field(chunk.valid()));
                chunk.invalid().iter().for_each(|&x| push_byte(&mut out, x));
            }
            Cow::Owned(out)
        }
    }
}

/// A path as text, escaped as [`bytes`] (on Unix a path is any bytes but NUL).
pub fn path(p: &std::path::Path) -> Cow<'_, str> {
    path_bytes(p).map_or_else(|| field_owned(p.to_string_lossy()), |b| Cow::Owned(bytes(b).into_owned()))
}

fn field_owned(s: Cow<'_, str>) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => field(b),
        Cow::Owned(o) => Cow::Owned(field(&o).into_owned()),
    }
}

#[cfg(unix)]
fn path_bytes(p: &std::path::Path) -> Option<&[u8]> {
    use std::os::unix::ffi::OsStrExt as _;
    Some(p.as_os_str().as_bytes())
}

#[cfg(not(unix))]
fn path_bytes(_: &std::path::Path) -> Option<&[u8]> {
    None
}

/// A path for the JSON report: exact when it is UTF-8 (JSON escapes what it must), and
/// otherwise each byte of an invalid sequence written `\xNN`, which a JSON string cannot hold
/// as a byte. Control characters stay as they are: JSON writes them as `\u00NN`.
pub fn path_for_json(p: &std::path::Path) -> String {
    match path_bytes(p) {
        Some(b) => match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => {
                let mut out = String::with_capacity(b.len() + 16);
                for chunk in b.utf8_chunks() {
                    out.push_str(chunk.valid());
                    chunk.invalid().iter().for_each(|&x| push_byte(&mut out, x));
                }
                out
            }
        },
        None => p.to_string_lossy().into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_escaped() {
        assert_eq!(field("a\x1b[31mred"), "a\\x1b[31mred");
        assert_eq!(field("\x1b]0;title\x07"), "\\x1b]0;title\\x07");
        assert_eq!(field("\x1b[2J"), "\\x1b[2J");
        assert_eq!(field("nul\0"), "nul\\x00");
        assert_eq!(field("del\x7f"), "del\\x7f");
        assert_eq!(field("two\nlines\r"), "two\\x0alines\\x0d");
        assert_eq!(field("tab\there"), "tab\\x09here");
        // C1 CSI (U+009B) is a control on some terminals.
        assert_eq!(field("c1\u{9b}2J"), "c1\\u{009b}2J");
    }

    #[test]
    fn bidi_and_invisible_format_characters_are_escaped() {
        assert_eq!(field("abc\u{202e}fed"), "abc\\u{202e}fed");
        for c in ['\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'] {
            assert_eq!(field(&c.to_string()), format!("\\u{{{:04x}}}", c as u32));
        }
        assert_eq!(field("zw\u{200b}\u{feff}"), "zw\\u{200b}\\u{feff}");
    }

    #[test]
    fn printable_text_of_any_script_is_kept_borrowed() {
        for s in ["sip:alice@example.com", "Zoë <sip:z@x>", "東京", "a\\x1b", "", "utun3"] {
            assert!(matches!(field(s), Cow::Borrowed(_)), "{s}");
        }
        assert!(matches!(block("line one\nline two\n"), Cow::Borrowed(_)));
    }

    #[test]
    fn block_keeps_its_line_breaks_only() {
        assert_eq!(block("a\nb\x1b[2J\r\n"), "a\nb\\x1b[2J\\x0d\n");
    }

    #[test]
    fn invalid_utf8_bytes_are_escaped_one_by_one() {
        assert_eq!(bytes(b"ok\xff\xfe\x1b."), "ok\\xff\\xfe\\x1b.");
        assert_eq!(bytes("é".as_bytes()), "é");
        // A truncated multi-byte sequence.
        assert_eq!(bytes(b"a\xc3"), "a\\xc3");
    }

    #[test]
    fn escaping_is_idempotent_on_its_own_output() {
        let once = bytes(b"\x1b[31m\xe2\x80\xae\xff");
        assert_eq!(block(&once), once);
        assert_eq!(field(&once), once);
    }

    #[cfg(unix)]
    #[test]
    fn paths_exact_in_json_escaped_in_text() {
        use std::os::unix::ffi::OsStrExt as _;
        let p = std::path::Path::new(std::ffi::OsStr::from_bytes(b"/tmp/cap\x1b[2J\xff.pcap"));
        assert_eq!(path(p), "/tmp/cap\\x1b[2J\\xff.pcap");
        assert_eq!(path_for_json(p), "/tmp/cap\x1b[2J\\xff.pcap");
        let q = std::path::Path::new("/tmp/caf\u{e9}.pcap");
        assert_eq!(path_for_json(q), "/tmp/caf\u{e9}.pcap");
    }
}

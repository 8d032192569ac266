//! A SIP call-flow ladder in the manner of sngrep: one column per endpoint (address:port), one
//! arrow per message, in capture order.

use std::fmt::Write as _;

use super::{Elided, Report, SipMessage, Transport};
use crate::escape::field as esc;

/// Width reserved between two adjacent columns for the arrow and its label.
const GAP: usize = 26;

/// Draw the ladder of every dialog or registration whose Call-ID is `call_id`. `None` when the
/// report has no such Call-ID.
pub fn render(report: &Report, call_id: &str) -> Option<String> {
    let mut out = String::new();
    let mut found = false;
    for d in report.sip.dialogs.iter().filter(|d| d.call_id == call_id) {
        found = true;
        let _ = writeln!(
            out,
            "Call-ID {}  {}  {} -> {}  [{}]",
            esc(&d.call_id),
            esc(&d.method),
            esc(d.from.as_deref().unwrap_or("?")),
            esc(d.to.as_deref().unwrap_or("?")),
            d.state
        );
        draw(&mut out, &d.messages, d.messages_elided);
    }
    for r in report.sip.registrations.iter().filter(|r| r.call_id == call_id) {
        found = true;
        let result = r.result.map(|c| c.to_string()).unwrap_or_else(|| "no answer".into());
        let _ = writeln!(
            out,
            "Call-ID {}  REGISTER  {} at {}  [{}]",
            esc(&r.call_id),
            esc(r.aor.as_deref().unwrap_or("?")),
            esc(r.registrar.as_deref().unwrap_or("?")),
            result
        );
        draw(&mut out, &r.messages, r.messages_elided);
    }
    found.then(|| super::text::finish(out))
}

fn endpoint(addr: &str, port: u16) -> String {
    if addr.contains(':') {
        format!("[{addr}]:{port}")
    } else {
        format!("{addr}:{port}")
    }
}

fn label(m: &SipMessage) -> String {
    match (&m.method, m.status) {
        (Some(method), _) => esc(method).into_owned(),
        (None, Some(code)) => match &m.reason {
            Some(r) if !r.is_empty() => format!("{code} {}", esc(r)),
            _ => code.to_string(),
        },
        (None, None) => "?".into(),
    }
}

fn draw(out: &mut String, msgs: &[SipMessage], elided: Option<Elided>) {
    let mut cols: Vec<String> = Vec::new();
    let col_of = |cols: &mut Vec<String>, e: String| match cols.iter().position(|c| *c == e) {
        Some(i) => i,
        None => {
            cols.push(e);
            cols.len() - 1
        }
    };
    let rows: Vec<(usize, usize)> = msgs
        .iter()
        .map(|m| {
            let a = col_of(&mut cols, endpoint(&m.src, m.sport));
            let b = col_of(&mut cols, endpoint(&m.dst, m.dport));
            (a, b)
        })
        .collect();
    // Column centre positions, after a 17-character time gutter.
    let gutter = 17;
    let width = cols.iter().map(|c| c.len()).max().unwrap_or(0).max(GAP);
    let centre = |i: usize| gutter + width / 2 + i * width;
    let line_len = centre(cols.len().saturating_sub(1)) + width / 2 + 1;

    let mut head = vec![b' '; line_len];
    for (i, c) in cols.iter().enumerate() {
        let start = centre(i).saturating_sub(c.len() / 2);
        for (k, ch) in c.bytes().enumerate() {
            if let Some(slot) = head.get_mut(start + k) {
                *slot = ch;
            }
        }
    }
    let _ = writeln!(out, "{}", String::from_utf8_lossy(&head).trim_end());
    let bars = || {
        let mut l = vec![b' '; line_len];
        for i in 0..cols.len() {
            l[centre(i)] = b'|';
        }
        l
    };
    let _ = writeln!(out, "{}", String::from_utf8_lossy(&bars()).trim_end());

    for (n, (m, &(a, b))) in msgs.iter().zip(&rows).enumerate() {
        if let Some(gap) = elided.filter(|g| g.after == n) {
            // The report keeps a call's first and latest messages; say where the rest were.
            let _ = writeln!(out, "{}", String::from_utf8_lossy(&bars()).trim_end());
            let _ = writeln!(out, "  … {} messages not listed …", gap.count);
            let _ = writeln!(out, "{}", String::from_utf8_lossy(&bars()).trim_end());
        }
        let mut l = bars();
        let time = m.at.to_string();
        // HH:MM:SS.ffffff out of the RFC 3339 form.
        let t = time.get(11..26).unwrap_or(&time);
        for (k, ch) in t.bytes().enumerate() {
            l[k] = ch;
        }
        let text = label(m);
        if a == b {
            // A message to itself (same socket): a loop marker.
            let c = centre(a);
            let tag = format!("<-- {text}");
            for (k, ch) in tag.bytes().enumerate() {
                if let Some(slot) = l.get_mut(c + 2 + k) {
                    *slot = ch;
                }
            }
        } else {
            let (lo, hi) = (centre(a.min(b)), centre(a.max(b)));
            for slot in &mut l[lo + 1..hi] {
                *slot = b'-';
            }
            if a < b {
                l[hi - 1] = b'>';
            } else {
                l[lo + 1] = b'<';
            }
            let span = hi - lo - 3;
            let shown: String = text.chars().take(span.saturating_sub(2)).collect();
            let start = lo + 2 + (span.saturating_sub(shown.len() + 2)) / 2;
            let padded = format!(" {shown} ");
            for (k, ch) in padded.bytes().enumerate() {
                if let Some(slot) = l.get_mut(start + k) {
                    *slot = ch;
                }
            }
        }
        let mut line = String::from_utf8_lossy(&l).trim_end().to_string();
        if m.transport != Transport::Udp {
            let _ = write!(line, "  ({})", m.transport);
        }
        let _ = writeln!(out, "{line}");
        for s in &m.sdp {
            let mut l = bars();
            // To the right of the last column, so the ladder's bars stay whole.
            let note = format!("SDP {}", esc(s));
            let c = centre(cols.len() - 1) + 3;
            for (k, ch) in note.bytes().enumerate() {
                match l.get_mut(c + k) {
                    Some(slot) => *slot = ch,
                    None => l.push(ch),
                }
            }
            let _ = writeln!(out, "{}", String::from_utf8_lossy(&l).trim_end());
        }
    }
}

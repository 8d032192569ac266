//! A rule's summary: text with `{fact}` placeholders (the fact's first value), optional
//! `[...]` segments shown only when every fact they name is known, and `{?fact}` which names a
//! fact without printing it (a segment shown only when the fact is present). `{{`, `}}`, `[[`
//! and `]]` stand for the brackets themselves. A placeholder outside a segment is required: a
//! rule whose summary names an unknown fact does not match, so a summary never shows a guess.

use super::facts::Subject;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Fact(String),
    /// `{?fact}`: required, prints nothing.
    Test(String),
    Optional(Vec<Piece>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut top: Vec<Piece> = Vec::new();
        let mut seg: Option<Vec<Piece>> = None;
        let mut text = String::new();
        let mut chars = s.chars().peekable();
        let flush = |text: &mut String, into: &mut Vec<Piece>| {
            if !text.is_empty() {
                into.push(Piece::Text(std::mem::take(text)));
            }
        };
        while let Some(c) = chars.next() {
            match c {
                '{' | '}' | '[' | ']' if chars.peek() == Some(&c) => {
                    chars.next();
                    text.push(c);
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(x) => name.push(x),
                            None => return Err(format!("unclosed {{ in {s:?}")),
                        }
                    }
                    let into = seg.as_mut().unwrap_or(&mut top);
                    flush(&mut text, into);
                    match name.strip_prefix('?') {
                        Some(n) if !n.is_empty() => into.push(Piece::Test(n.to_string())),
                        None if !name.is_empty() => into.push(Piece::Fact(name)),
                        _ => return Err(format!("empty placeholder in {s:?}")),
                    }
                }
                '[' => {
                    if seg.is_some() {
                        return Err(format!("optional segments do not nest, in {s:?}"));
                    }
                    flush(&mut text, &mut top);
                    seg = Some(Vec::new());
                }
                ']' => {
                    let mut inner = seg.take().ok_or_else(|| format!("] without [ in {s:?}"))?;
                    flush(&mut text, &mut inner);
                    top.push(Piece::Optional(inner));
                }
                '}' => return Err(format!("}} without {{ in {s:?} (write }}}} for one)")),
                c => text.push(c),
            }
        }
        if seg.is_some() {
            return Err(format!("unclosed [ in {s:?}"));
        }
        flush(&mut text, &mut top);
        Ok(Template { pieces: top })
    }

    /// Every fact the template names.
    pub fn facts(&self) -> Vec<&str> {
        fn walk<'a>(p: &'a [Piece], out: &mut Vec<&'a str>) {
            for x in p {
                match x {
                    Piece::Fact(n) | Piece::Test(n) => out.push(n),
                    Piece::Optional(v) => walk(v, out),
                    Piece::Text(_) => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.pieces, &mut out);
        out
    }

    /// The text for `s`, or `None` when a required fact is missing.
    pub fn render(&self, s: &Subject) -> Option<String> {
        fn put(p: &[Piece], s: &Subject, out: &mut String) -> bool {
            for x in p {
                match x {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Fact(n) => match s.value(n) {
                        Some(v) => out.push_str(v),
                        None => return false,
                    },
                    Piece::Test(n) => {
                        if s.value(n).is_none() {
                            return false;
                        }
                    }
                    Piece::Optional(v) => {
                        let mark = out.len();
                        if !put(v, s, out) {
                            out.truncate(mark);
                        }
                    }
                }
            }
            true
        }
        let mut out = String::new();
        put(&self.pieces, s, &mut out).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::facts::{Fact, Subject};
    use crate::rules::On;

    fn subject(facts: &[(&'static str, &str)]) -> Subject {
        let mut s = Subject::new(On::Interface, "x".into());
        for (k, v) in facts {
            s.push(Fact::new(k, *v, None));
        }
        s.finish();
        s
    }

    #[test]
    fn placeholders_segments_and_escapes() {
        let t = Template::parse("IPsec tunnel[ to {ike_peer}][{?nat_t} through NAT] {{x}} [[y]]").unwrap();
        assert_eq!(t.facts(), ["ike_peer", "nat_t"]);
        assert_eq!(t.render(&subject(&[])).unwrap(), "IPsec tunnel {x} [y]");
        assert_eq!(
            t.render(&subject(&[("ike_peer", "198.18.0.1"), ("nat_t", "yes")])).unwrap(),
            "IPsec tunnel to 198.18.0.1 through NAT {x} [y]"
        );
        let req = Template::parse("{iface}: held by {holder}").unwrap();
        assert_eq!(req.render(&subject(&[("iface", "wg0")])), None, "a missing required fact is no match");
        assert_eq!(
            req.render(&subject(&[("iface", "wg0"), ("holder", "wireguard-go")])).unwrap(),
            "wg0: held by wireguard-go"
        );
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in ["{", "{}", "{?}", "[a", "a]", "[[x] [y]]]", "[a [b] c]", "x } y"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}

//! SDP bodies (RFC 8866): just what labels media flows — connection addresses, media lines,
//! codec names. Parsing is lenient: a line we cannot read is skipped, since one odd attribute
//! should not hide where the RTP goes.

use std::net::IpAddr;

use crate::digits::{push_decimal, push_ip};

/// Bounds on what one body can make us keep (a crafted body could repeat lines forever).
const MAX_MEDIA: usize = 32;
const MAX_FORMATS: usize = 64;
const MAX_RTPMAP: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sdp {
    /// Session-level `c=` address (`None` when absent or a host name).
    pub connection: Option<IpAddr>,
    pub media: Vec<Media>,
}

/// Byte range `start..end` of [`Media::text`].
type Span = (usize, usize);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// 0 means the stream is rejected or disabled.
    pub port: u16,
    /// `m=audio 49170/2 …` → 2; usually 1.
    pub port_count: u16,
    /// Media-level `c=`, which overrides the session one.
    pub connection: Option<IpAddr>,
    /// A media-level `c=` was present, even if unreadable (a host name): then the session
    /// address does not apply either.
    pub has_connection: bool,
    /// Kind, proto, formats and rtpmap words copied into one string: a body's dozen short
    /// words each in its own `String` cost more than the rest of the parse. The spans
    /// below point into it.
    text: String,
    kind: Span,
    proto: Span,
    /// The formats, one space between each (none of them holds whitespace).
    formats: Span,
    /// `a=rtpmap:<pt> <encoding>` pairs in body order.
    rtpmap: Vec<(Span, Span)>,
}

impl Media {
    fn span(&self, (a, b): Span) -> &str {
        &self.text[a..b]
    }

    /// `audio`, `video`, `image`, `application`, `message`…
    pub fn kind(&self) -> &str {
        self.span(self.kind)
    }

    pub fn proto(&self) -> &str {
        self.span(self.proto)
    }

    /// The formats as written on the `m=` line (payload types for RTP).
    pub fn formats(&self) -> impl Iterator<Item = &str> + '_ {
        self.span(self.formats).split(' ').filter(|f| !f.is_empty())
    }

    /// `a=rtpmap:<pt> <encoding>` pairs in body order, e.g. `("0", "PCMU/8000")`.
    pub fn rtpmap(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.rtpmap.iter().map(|&(pt, enc)| (self.span(pt), self.span(enc)))
    }

    /// Where this stream's RTP is to be sent, if the body says.
    pub fn address(&self, session: Option<IpAddr>) -> Option<IpAddr> {
        if self.has_connection {
            self.connection
        } else {
            session
        }
    }

    /// Codec name per format: rtpmap first, then the RFC 3551 static payload types, else the
    /// format as written (T.38 `t38`, MSRP `*`).
    pub fn codecs(&self) -> Vec<String> {
        let rtp = self.is_rtp();
        self.formats().map(|f| self.codec(f, rtp).to_owned()).collect()
    }

    fn is_rtp(&self) -> bool {
        self.proto().as_bytes().windows(3).any(|w| w.eq_ignore_ascii_case(b"RTP"))
    }

    fn codec<'a>(&'a self, f: &'a str, rtp: bool) -> &'a str {
        if let Some((_, enc)) = self.rtpmap().find(|&(pt, _)| pt == f) {
            return enc;
        }
        match f.parse::<u8>().ok().filter(|_| rtp).and_then(static_payload) {
            Some(name) => name,
            None => f,
        }
    }
}

/// RFC 3551 table 4 and 5: payload types with a fixed meaning.
fn static_payload(pt: u8) -> Option<&'static str> {
    Some(match pt {
        0 => "PCMU/8000",
        3 => "GSM/8000",
        4 => "G723/8000",
        5 => "DVI4/8000",
        6 => "DVI4/16000",
        7 => "LPC/8000",
        8 => "PCMA/8000",
        9 => "G722/8000",
        10 => "L16/44100/2",
        11 => "L16/44100",
        12 => "QCELP/8000",
        13 => "CN/8000",
        14 => "MPA/90000",
        15 => "G728/8000",
        16 => "DVI4/11025",
        17 => "DVI4/22050",
        18 => "G729/8000",
        25 => "CelB/90000",
        26 => "JPEG/90000",
        28 => "nv/90000",
        31 => "H261/90000",
        32 => "MPV/90000",
        33 => "MP2T/90000",
        34 => "H263/90000",
        _ => return None,
    })
}

impl Sdp {
    /// `(media kind, address, port)` of every active stream with a known address: what the
    /// sender of this body expects to receive RTP on.
    pub fn media_endpoints(&self) -> Vec<(String, IpAddr, u16)> {
        self.endpoints().map(|(kind, a, port)| (kind.to_owned(), a, port)).collect()
    }

    /// [`Sdp::media_endpoints`] without copying anything.
    pub fn endpoints(&self) -> impl Iterator<Item = (&str, IpAddr, u16)> + '_ {
        self.media.iter().filter(|m| m.port != 0).filter_map(|m| {
            let a = m.address(self.connection)?;
            // 0.0.0.0 / :: put a stream on hold (RFC 3264 8.4): no one receives there.
            (!a.is_unspecified()).then_some((m.kind(), a, m.port))
        })
    }

    /// One line per media stream for the report: `audio 10.0.0.1:8000 RTP/AVP PCMU/8000`.
    pub fn describe(&self) -> Vec<String> {
        self.media
            .iter()
            .map(|m| {
                let mut s = String::with_capacity(64);
                s.push_str(m.kind());
                s.push(' ');
                match m.address(self.connection) {
                    Some(a @ IpAddr::V6(_)) => {
                        s.push('[');
                        push_ip(&mut s, a);
                        s.push(']');
                    }
                    Some(a) => push_ip(&mut s, a),
                    None => s.push('?'),
                }
                s.push(':');
                push_decimal(&mut s, u64::from(m.port));
                s.push(' ');
                s.push_str(m.proto());
                let rtp = m.is_rtp();
                for f in m.formats() {
                    s.push(' ');
                    s.push_str(m.codec(f, rtp));
                }
                s
            })
            .collect()
    }
}

/// Parse an SDP body. Never fails: what cannot be read is left out.
pub fn parse(body: &[u8]) -> Sdp {
    let mut sdp = Sdp::default();
    // Once the media cap is hit, later media-level lines must not land on the last kept one.
    let mut skipping = false;
    for line in lines(body) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        // Only `m=`, `c=` and `a=rtpmap:` lines matter: tell them by their first bytes before
        // paying for UTF-8 validation (a line that is not UTF-8 is skipped either way).
        let kind = match line {
            [k @ (b'm' | b'c'), b'=', ..] => *k,
            [b'a', b'=', rest @ ..] if rest.starts_with(b"rtpmap:") => b'a',
            _ => continue,
        };
        let Ok(line) = std::str::from_utf8(line) else { continue };
        let value = &line[2..];
        match kind {
            b'm' => {
                if sdp.media.len() >= MAX_MEDIA {
                    skipping = true;
                    continue;
                }
                sdp.media.push(parse_media(value));
            }
            _ if skipping => {}
            b'c' => {
                let addr = parse_connection(value);
                match sdp.media.last_mut() {
                    Some(m) => {
                        m.connection = addr;
                        m.has_connection = true;
                    }
                    None => sdp.connection = addr,
                }
            }
            b'a' => {
                let Some(m) = sdp.media.last_mut() else { continue };
                let Some(rest) = value.strip_prefix("rtpmap:") else { continue };
                let mut it = rest.split_ascii_whitespace();
                if let (Some(pt), Some(enc)) = (it.next(), it.next()) {
                    if m.rtpmap.len() < MAX_RTPMAP {
                        let pt = m.push_word(pt);
                        let enc = m.push_word(enc);
                        m.rtpmap.push((pt, enc));
                    }
                }
            }
            _ => {}
        }
    }
    sdp
}

/// Lines of a body, split at LF. Finds each break eight bytes at a time: bodies are a
/// few hundred bytes, and a byte loop was most of the parse.
fn lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(body);
    std::iter::from_fn(move || {
        let r = rest?;
        match crate::sip::message::memchr(b'\n', r) {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// `m=<media> <port>[/<count>] <proto> <fmt> …`. An unreadable port becomes 0 (disabled) so
/// the line's attributes still land on their own stream, not the previous one.
fn parse_media(v: &str) -> Media {
    let mut it = v.split_ascii_whitespace();
    // Room for the line's words and a few rtpmap pairs: usually the only allocation.
    let mut m = Media {
        port: 0,
        port_count: 1,
        connection: None,
        has_connection: false,
        text: String::with_capacity(v.len() + 64),
        kind: (0, 0),
        proto: (0, 0),
        formats: (0, 0),
        rtpmap: Vec::new(),
    };
    m.kind = m.push_word(it.next().unwrap_or(""));
    if let Some((p, n)) = it.next().map(|p| p.split_once('/').unwrap_or((p, "1"))) {
        (m.port, m.port_count) = (p.parse().unwrap_or(0), n.parse().unwrap_or(1));
    }
    m.proto = m.push_word(it.next().unwrap_or(""));
    let start = m.text.len();
    for (i, f) in it.take(MAX_FORMATS).enumerate() {
        if i > 0 {
            m.text.push(' ');
        }
        m.text.push_str(f);
    }
    m.formats = (start, m.text.len());
    m
}

impl Media {
    /// Append a word to `text`, returning where it went.
    fn push_word(&mut self, w: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(w);
        (start, self.text.len())
    }
}

/// `IN IP4 198.51.100.1[/ttl[/n]]` or `IN IP6 2001:db8::1[/n]`; bracketed v6 is seen in the wild.
fn parse_connection(v: &str) -> Option<IpAddr> {
    let mut it = v.split_ascii_whitespace();
    if !it.next()?.eq_ignore_ascii_case("IN") {
        return None;
    }
    let family = it.next()?;
    let addr = it.next()?;
    let addr = addr.split('/').next()?;
    let addr = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(addr);
    let ip: IpAddr = addr.parse().ok()?;
    let v4 = family.eq_ignore_ascii_case("IP4");
    let v6 = family.eq_ignore_ascii_case("IP6");
    match ip {
        IpAddr::V4(_) if v4 => Some(ip),
        IpAddr::V6(_) if v6 => Some(ip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// SDP of frame 92 (183 In band info) of sip_udp_register_invite_rtp.pcap.
    const SDP_183: &[u8] = b"v=0\r\n\
o=cp10 112047106116 112047106116 IN IP4 212.242.33.75\r\n\
s=SIP Call\r\n\
c=IN IP4 212.242.33.36\r\n\
t=0 0\r\n\
m=audio 40392 RTP/AVP 8 0\r\n\
b=AS:64\r\n\
a=rtpmap:8 PCMA/8000/1\r\n\
a=rtpmap:0 PCMU/8000/1\r\n\
a=ptime:20\r\n";

    /// INVITE SDP (frame 2) of sip_ipv6_frag_sll.pcap (sngrep's ipv6frag.pcap), first lines.
    const SDP_V6: &[u8] = b"v=0\r\n\
o=user1 53655765 2353687637 IN IP6 [fd17:625c:f037:2:a00:27ff:feb9:1521]\r\n\
s=-\r\n\
c=IN IP6 fd17:625c:f037:2:a00:27ff:feb9:1521\r\n\
t=0 0\r\n\
m=audio 15062 RTP/AVP 100 101 0 120 121\r\n\
a=rtpmap:100 AMR-WB/16000\r\n\
a=fmtp:100 mode-set=\"0,1,2\";octet-align=0\r\n\
a=rtpmap:101 AMR-WB/16000\r\n";

    #[test]
    fn parses_corpus_answer() {
        let s = parse(SDP_183);
        assert_eq!(s.connection, Some("212.242.33.36".parse().unwrap()));
        assert_eq!(s.media.len(), 1);
        let m = &s.media[0];
        assert_eq!((m.kind(), m.port, m.proto()), ("audio", 40392, "RTP/AVP"));
        assert_eq!(m.formats().collect::<Vec<_>>(), vec!["8", "0"]);
        assert_eq!(m.rtpmap().collect::<Vec<_>>(), vec![("8", "PCMA/8000/1"), ("0", "PCMU/8000/1")]);
        assert_eq!(m.codecs(), vec!["PCMA/8000/1", "PCMU/8000/1"]);
        assert_eq!(s.media_endpoints(), vec![("audio".to_owned(), "212.242.33.36".parse().unwrap(), 40392)]);
        assert_eq!(s.describe(), vec!["audio 212.242.33.36:40392 RTP/AVP PCMA/8000/1 PCMU/8000/1"]);
    }

    #[test]
    fn ipv6_and_static_payload_names() {
        let s = parse(SDP_V6);
        let a: IpAddr = "fd17:625c:f037:2:a00:27ff:feb9:1521".parse().unwrap();
        assert_eq!(s.connection, Some(a));
        assert_eq!(s.media[0].codecs(), vec!["AMR-WB/16000", "AMR-WB/16000", "PCMU/8000", "120", "121"]);
        assert_eq!(
            s.describe()[0],
            "audio [fd17:625c:f037:2:a00:27ff:feb9:1521]:15062 RTP/AVP AMR-WB/16000 AMR-WB/16000 PCMU/8000 120 121"
        );
    }

    #[test]
    fn media_level_connection_overrides_and_hold_and_disabled_are_skipped() {
        let body = b"v=0\nc=IN IP4 10.0.0.1\nm=audio 8000 RTP/AVP 0\n\
m=video 9000/2 RTP/AVP 96\nc=IN IP4 10.0.0.2/127\na=rtpmap:96 H264/90000\n\
m=audio 0 RTP/AVP 0\nm=image 7000 udptl t38\nc=IN IP4 0.0.0.0\n\
m=audio 6000 RTP/AVP 0\nc=IN IP4 host.example.com\n";
        let s = parse(body);
        assert_eq!(s.media.len(), 5);
        assert_eq!(s.media[1].port_count, 2);
        let eps: Vec<_> = s.media_endpoints().into_iter().map(|(k, a, p)| format!("{k} {a} {p}")).collect();
        assert_eq!(eps, vec!["audio 10.0.0.1 8000", "video 10.0.0.2 9000"]);
        assert_eq!(s.describe()[1], "video 10.0.0.2:9000 RTP/AVP H264/90000");
        assert_eq!(s.describe()[3], "image 0.0.0.0:7000 udptl t38");
        assert_eq!(s.describe()[4], "audio ?:6000 RTP/AVP PCMU/8000");
    }

    #[test]
    fn family_mismatch_and_garbage_are_ignored() {
        let s = parse(b"c=IN IP6 10.0.0.1\r\nm=audio x RTP/AVP\r\na=rtpmap:\r\n\xff\xfe\r\nc=IN\r\n");
        assert_eq!(s.connection, None);
        assert_eq!(s.media[0].port, 0);
        assert_eq!(s.media[0].rtpmap().count(), 0);
        assert_eq!((s.media[0].kind(), s.media[0].proto()), ("audio", "RTP/AVP"));
        assert_eq!(s.media[0].formats().count(), 0);
        assert!(s.media_endpoints().is_empty());
    }

    #[test]
    fn media_count_is_capped() {
        let body = "m=audio 1000 RTP/AVP 0\r\n".repeat(MAX_MEDIA + 5) + "c=IN IP4 10.9.9.9\r\n";
        let s = parse(body.as_bytes());
        assert_eq!(s.media.len(), MAX_MEDIA);
        assert_eq!(s.media.last().unwrap().connection, None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let s = parse(&b);
            let _ = s.media_endpoints();
            let _ = s.describe();
        }


        #[test]
        fn media_words_read_back_as_split(
            line in "[a-z0-9/ \t]{0,60}",
            maps in proptest::collection::vec(("[0-9a-z]{1,4}", "[A-Za-z0-9/.-]{1,12}"), 0..5),
        ) {
            // Reference: the words as a plain whitespace split of the same lines.
            let mut body = format!("m={line}\r\n");
            for (pt, enc) in &maps {
                body.push_str(&format!("a=rtpmap:{pt} {enc}\r\n"));
            }
            let sdp = parse(body.as_bytes());
            let m = &sdp.media[0];
            let words: Vec<&str> = line.split_ascii_whitespace().collect();
            prop_assert_eq!(m.kind(), words.first().copied().unwrap_or(""));
            prop_assert_eq!(m.proto(), words.get(2).copied().unwrap_or(""));
            let formats: Vec<&str> = words.iter().skip(3).take(MAX_FORMATS).copied().collect();
            prop_assert_eq!(m.formats().collect::<Vec<_>>(), formats);
            let pairs: Vec<(&str, &str)> = maps.iter().map(|(p, e)| (p.as_str(), e.as_str())).collect();
            prop_assert_eq!(m.rtpmap().collect::<Vec<_>>(), pairs);
        }

        #[test]
        fn sdp_like_text_never_panics(s in "([cma]=[A-Za-z0-9 ./:\\[\\]-]{0,40}\r?\n){0,20}") {
            let sdp = parse(s.as_bytes());
            prop_assert!(sdp.media.len() <= MAX_MEDIA);
            let _ = sdp.describe();
        }
    }
}

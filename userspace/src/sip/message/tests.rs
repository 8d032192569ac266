//! The message reader against corpus messages byte for byte, built ones, and arbitrary
//! bytes; the fast scans against plain byte loops.

use proptest::prelude::*;

use super::headers::{known, Known};
use super::parse::{read_head, Kept};
use super::start_line::{is_token_char, uri_len};
use super::values::{find_unquoted, parse_cseq, tag_of};
use super::*;
use crate::decode::Malformed;

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
    assert_eq!(INVITE_CLOUDSHARK.len() - INVITE_CLOUDSHARK.windows(4).position(|w| w == b"\r\n\r\n").unwrap() - 4, 229);
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
fn unusable_content_length_over_udp_takes_the_datagram_end() {
    // Not a number, negative, empty, absurd, or two that disagree: the body is what the
    // datagram holds, and the reason is kept for the damage counts.
    let cases: [(&[u8], &str); 5] = [
        (b"Content-Length: x\r\n", "sip content-length invalid"),
        (b"Content-Length: -4\r\n", "sip content-length invalid"),
        (b"l:\r\n", "sip content-length invalid"),
        (b"Content-Length: 99999999999\r\n", "sip content-length invalid"),
        (b"l: 1\r\nContent-Length: 2\r\n", "sip content-length conflicting"),
    ];
    for (line, reason) in cases {
        let raw =
            [&b"MESSAGE sip:b@example.com SIP/2.0\r\nCall-ID: cl@x\r\n"[..], line, b"CSeq: 7 MESSAGE\r\n\r\nhello"]
                .concat();
        let m = parse(&raw).unwrap_or_else(|e| panic!("{}: {e:?}", String::from_utf8_lossy(line)));
        assert_eq!(m.content_length_damage, Some(reason), "{}", String::from_utf8_lossy(line));
        assert_eq!(m.content_length, None);
        assert_eq!(&m.body[..], b"hello");
        assert!(!m.truncated);
        assert_eq!(m.call_id(), Some("cl@x"));
        assert_eq!(m.cseq().unwrap().seq, 7);
        // A stream cannot be framed without a usable length: the framer still refuses it.
        assert!(matches!(frame_len(&raw), FrameResult::Malformed(_)), "{}", String::from_utf8_lossy(line));
    }
    // A wrong but numeric length: too long is flagged truncated, too short cuts the body.
    let m = parse(b"SIP/2.0 200 OK\r\nl: 9\r\n\r\nok").unwrap();
    assert!(m.truncated && m.content_length_damage.is_none());
}

#[test]
fn bare_lf_and_compact_forms_parse_together() {
    let raw = b"INVITE sip:b@example.com SIP/2.0\nv: SIP/2.0/UDP h;branch=z9hG4bK1\ni: lf@x\nf: <sip:a@x>;tag=1\nt: <sip:b@x>\n\
m: <sip:a@h>\nk: 100rel\ne: gzip\ns: hi\nCSeq: 1 INVITE\nc: application/sdp\nl: 4\n\nv=0\nJUNK";
    let m = parse(raw).unwrap();
    assert_eq!(m.call_id(), Some("lf@x"));
    assert_eq!(m.from().unwrap().tag, Some("1"));
    assert_eq!(m.to().unwrap().uri, "sip:b@x");
    assert_eq!(m.content_type(), Some("application/sdp"));
    assert_eq!(&m.body[..], b"v=0\n");
    assert_eq!(m.header_values("via").len(), 1);
    assert_eq!(m.contact(), vec!["<sip:a@h>"]);
    assert_eq!(m.header_values("supported"), vec!["100rel"]);
    assert_eq!(m.header_values("content-encoding"), vec!["gzip"]);
    assert_eq!(m.header_values("subject"), vec!["hi"]);
    assert_eq!(frame_len(raw), FrameResult::Complete(raw.len() - 4));
}

#[test]
fn resync_finds_the_next_start_line() {
    use super::resync_at;
    let reg = b"REGISTER sip:x SIP/2.0\r\nl: 0\r\n\r\n";
    // Body bytes of a lost message, then a whole one.
    let buf = [&b"a=rtpmap:0 PCMU/8000\r\n\r\n"[..], reg].concat();
    assert_eq!(resync_at(&buf), 24);
    // A refused message (absurd length): the next start line, not the refused one's own.
    let buf = [&b"SIP/2.0 200 OK\r\nContent-Length: 99999999\r\n\r\n"[..], reg].concat();
    assert_eq!(resync_at(&buf), 44);
    assert!(matches!(frame_len(&buf), FrameResult::Malformed(_)));
    assert_eq!(frame_len(&buf[44..]), FrameResult::Complete(reg.len()));
    // A start line still arriving is kept; text that cannot become one is not.
    assert_eq!(resync_at(b"junk\r\nSIP/2.0 18"), 6);
    assert_eq!(resync_at(b"junk\r\nv=0 stuff"), 15);
    assert_eq!(resync_at(b"no line end at all"), 18);
    // A start line at the head is not a place to resync to: it was just refused.
    assert_eq!(resync_at(reg), reg.len());
}

#[test]
fn bad_input_is_malformed_with_stable_reasons() {
    let r = |b: &[u8]| parse(b).unwrap_err().reason;
    assert_eq!(r(b""), "sip empty message");
    assert_eq!(r(b"HTTP/1.1 200 OK\r\n\r\n"), "sip bad start line");
    assert_eq!(r(b"SIP/2.0 099 Nope\r\n\r\n"), "sip bad start line");
    assert_eq!(r(b"SIP/2.0 700 Nope\r\n\r\n"), "sip status code out of range");
    assert_eq!(r(b"SIP/2.0 200 OK\r\nCSeq: one INVITE\r\n\r\n"), "sip cseq invalid");
    // A header line that does not read is damage, yet the message stands on the others.
    let m = parse(b"SIP/2.0 200 OK\r\nno colon here\r\nCall-ID: k@h\r\nbad name: x\r\nCSeq: 2 BYE\r\n\r\n").unwrap();
    assert_eq!(m.header_damage, Some("sip header without colon"), "the first bad line's reason");
    assert_eq!((m.call_id(), m.cseq().map(|c| c.seq)), (Some("k@h"), Some(2)));
    assert_eq!(m.headers().count(), 2, "the bad lines are not among the headers");
    let m = parse(b"SIP/2.0 200 OK\r\n bad first\r\nCall-ID: k@h\r\n\r\n").unwrap();
    assert_eq!(m.header_damage, Some("sip continuation line without header"));
    assert_eq!(parse(b"SIP/2.0 200 OK\r\nCall-ID: k@h\r\n\r\n").unwrap().header_damage, None);
    assert_eq!(parse(b"SIP/2.0 200 OK\r\nBad Name: x\r\n\r\n").unwrap().header_damage, Some("sip bad header name"));
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
    let none =
        b"MESSAGE sip:b@x SIP/2.0\r\nc: multipart/mixed;boundary=zz\r\n\r\n--zz\r\nc: text/plain\r\n\r\nhi\r\n--zz--";
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
    assert_eq!(frame_len(&a[..a.len() - 1]), FrameResult::Awaiting(a.len()));
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
    assert_eq!(parse(a).unwrap().header_damage, Some("sip header without colon"));
    assert_eq!(frame_len(&buf[a.len()..]), FrameResult::Complete(RESP_401.len()));
}

/// Every prefix waits: for more bytes while the head is cut, for the whole message's length
/// once the head is all there.
#[test]
fn every_prefix_of_a_message_is_incomplete() {
    for whole in [[TCP_REG_1, TCP_REG_2].concat(), INVITE_CLOUDSHARK.to_vec()] {
        let head = whole.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        for cut in 1..whole.len() {
            let want = if cut >= head { FrameResult::Awaiting(whole.len()) } else { FrameResult::Incomplete };
            assert_eq!(frame_len(&whole[..cut]), want, "cut at {cut}");
        }
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
        // Cut in the head: wait; cut in the body: wait for the whole message's length.
        let at = cut.index(m.len());
        let head_len = m.len() - body.len();
        let want = if at >= head_len { FrameResult::Awaiting(m.len()) } else { FrameResult::Incomplete };
        prop_assert_eq!(frame_len(&m[..at]), want);
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
                if count >= MAX_HEADERS {
                    return Err(Malformed::new("sip too many headers"));
                }
                match raw {
                    Ok(raw) => kept.note(b, &raw)?,
                    Err(e) => {
                        kept.header_damage.get_or_insert(e.reason);
                    }
                }
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

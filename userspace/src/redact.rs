//! Redaction of packets before they are written to a recording (`tuntrace trace -w --redact`):
//! phone numbers, subscriber identities and call content out, everything tuntrace needs to
//! decode the session in.
//!
//! What goes: SIP message bodies (SDP included), the user part of every `sip:`/`sips:` URI and
//! every `tel:` number, the display names of From, To, Contact, P-Asserted-Identity,
//! P-Preferred-Identity and Remote-Party-ID, the `username` of Authorization headers, and IKE
//! identity payloads seen in cleartext (IKEv1 ID, IKEv2 IDi/IDr). What stays: methods, status
//! codes, Call-IDs, CSeqs, Via and host parts, every length.
//!
//! Everything is overwritten in place with bytes of the same length (`x` for identity text,
//! spaces for bodies, zeros for IKE identity data), so no length field, TCP sequence number or
//! Content-Length changes and the file decodes as before; the UDP or TCP checksum is computed
//! again when the whole packet was captured.

use crate::decode::ip;

/// The packet `l3` (from its IP header) with identities removed, or `None` when it carries
/// nothing to remove (or is not IP).
pub fn packet(l3: &[u8]) -> Option<Vec<u8>> {
    let parsed = match l3.first().map(|b| b >> 4) {
        Some(4) => ip::parse_v4(l3).ok()?,
        Some(6) => ip::parse_v6(l3).ok()?,
        _ => return None,
    };
    if parsed.frag.is_some_and(|f| f.offset != 0) {
        return None;
    }
    let l4_at = parsed.payload.as_ptr() as usize - l3.as_ptr() as usize;
    let l4_len = parsed.payload.len();
    let mut out = l3.to_vec();
    let changed = match parsed.proto {
        17 => {
            let (sport, dport, data) = ip::udp(parsed.payload).ok()?;
            let at = l4_at + 8;
            let body = &mut out[at..at + data.len()];
            let ike = matches!(sport, 500 | 4500) || matches!(dport, 500 | 4500);
            if ike {
                // Behind the non-ESP marker on 4500.
                let off = if body.len() > 4 && body[..4] == [0; 4] { 4 } else { 0 };
                ike_ids(&mut body[off..])
            } else {
                sip(body)
            }
        }
        6 => {
            let seg = ip::tcp(parsed.payload).ok()?;
            let at = l4_at + (parsed.payload.len() - seg.payload.len());
            let n = seg.payload.len();
            sip(&mut out[at..at + n])
        }
        _ => false,
    };
    if !changed {
        return None;
    }
    // The transport checksum covers the payload: computed again when all of it is here.
    let whole = !parsed.truncated && parsed.total_len as usize <= l3.len();
    if whole {
        fix_checksum(&mut out, l4_at, l4_len, parsed.proto, parsed.src, parsed.dst);
    }
    Some(out)
}

fn fix_checksum(out: &mut [u8], at: usize, len: usize, proto: u8, src: std::net::IpAddr, dst: std::net::IpAddr) {
    let field = match proto {
        17 => at + 6,
        6 => at + 16,
        _ => return,
    };
    if field + 2 > out.len() || at + len > out.len() {
        return;
    }
    // IPv4 UDP without a checksum stays without one.
    if proto == 17 && src.is_ipv4() && out[field] == 0 && out[field + 1] == 0 {
        return;
    }
    out[field] = 0;
    out[field + 1] = 0;
    let mut sum: u64 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            sum += u64::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
        }
    };
    match (src, dst) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => {
            add(&s.octets());
            add(&d.octets());
            add(&[0, proto]);
            add(&(len as u16).to_be_bytes());
        }
        (s, d) => {
            let o = |a: std::net::IpAddr| match a {
                std::net::IpAddr::V6(x) => x.octets(),
                std::net::IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
            };
            add(&o(s));
            add(&o(d));
            add(&(len as u32).to_be_bytes());
            add(&[0, 0, 0, proto]);
        }
    }
    add(&out[at..at + len]);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let mut c = !(sum as u16);
    if c == 0 && proto == 17 {
        c = 0xffff;
    }
    out[field..field + 2].copy_from_slice(&c.to_be_bytes());
}

/// IKE identity payloads in cleartext, their data zeroed. True when something was.
fn ike_ids(m: &mut [u8]) -> bool {
    if m.len() < 28 {
        return false;
    }
    let version = m[17] >> 4;
    // IKEv1 with the encryption flag: every payload is inside.
    if version == 1 && m[19] & 1 != 0 {
        return false;
    }
    let mut next = m[16];
    let mut at = 28;
    let mut changed = false;
    // A chain of at most a few dozen payloads; a loop bound keeps a crafted one short.
    for _ in 0..64 {
        if next == 0 || at + 4 > m.len() {
            break;
        }
        let len = usize::from(u16::from_be_bytes([m[at + 2], m[at + 3]]));
        if len < 4 {
            break;
        }
        let end = (at + len).min(m.len());
        let is_id = matches!((version, next), (1, 5) | (2, 35) | (2, 36));
        if is_id && end > at + 8 {
            m[at + 8..end].fill(0);
            changed = true;
        }
        // IKEv2's SK (46) holds the rest, encrypted.
        if version == 2 && next == 46 {
            break;
        }
        next = m[at];
        at += len;
    }
    changed
}

/// Headers whose value names a party (display name and URI), by full and compact name.
const PARTY_HEADERS: &[&[u8]] = &[
    b"from",
    b"f",
    b"to",
    b"t",
    b"contact",
    b"m",
    b"p-asserted-identity",
    b"p-preferred-identity",
    b"remote-party-id",
];

/// A SIP message (or a TCP segment holding SIP) redacted in place. True when it looked like
/// SIP and something was overwritten.
fn sip(m: &mut [u8]) -> bool {
    if !crate::sip::message::looks_like_sip(m) {
        return false;
    }
    let mut changed = false;
    // Headers end at the first empty line; what follows is the body.
    let head_end = find(m, b"\r\n\r\n").map(|i| i + 4).or_else(|| find(m, b"\n\n").map(|i| i + 2));
    let (head, body) = match head_end {
        Some(e) => m.split_at_mut(e),
        None => m.split_at_mut(m.len()),
    };
    for b in body.iter_mut().filter(|b| !matches!(b, b'\r' | b'\n')) {
        *b = b' ';
        changed = true;
    }
    changed |= uris(head);
    // Line by line: display names of party headers, Authorization usernames.
    let mut start = 0;
    while start < head.len() {
        let end = head[start..].iter().position(|&b| b == b'\n').map_or(head.len(), |i| start + i + 1);
        let line = &mut head[start..end];
        if let Some(colon) = line.iter().position(|&b| b == b':') {
            let name: Vec<u8> = line[..colon].iter().map(u8::to_ascii_lowercase).collect();
            let name = name.trim_ascii();
            let value = &mut line[colon + 1..];
            if PARTY_HEADERS.contains(&name) {
                changed |= display_names(value);
            } else if name == b"authorization" || name == b"proxy-authorization" {
                changed |= quoted_param(value, b"username=");
            }
        }
        start = end;
    }
    changed
}

fn find(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).position(|w| w == needle)
}

/// Bytes that end a URI in a header.
fn uri_end(b: u8) -> bool {
    matches!(b, b';' | b'>' | b' ' | b',' | b'?' | b'\r' | b'\n' | b'\t' | b'"')
}

/// The user part of every sip:/sips: URI with one, and every tel: number, overwritten.
fn uris(h: &mut [u8]) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i + 4 <= h.len() {
        let rest = &h[i..];
        let scheme = if rest.len() >= 5 && rest[..5].eq_ignore_ascii_case(b"sips:") {
            5
        } else if rest[..4].eq_ignore_ascii_case(b"sip:") {
            4
        } else if rest[..4].eq_ignore_ascii_case(b"tel:") {
            // The whole number is the identity.
            let start = i + 4;
            let end = h[start..].iter().position(|&b| uri_end(b)).map_or(h.len(), |e| start + e);
            if end > start {
                h[start..end].fill(b'x');
                changed = true;
            }
            i = end.max(i + 4);
            continue;
        } else {
            i += 1;
            continue;
        };
        // "sip:" inside a word (e.g. "osip:") is not a URI's start.
        if i > 0 && h[i - 1].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let start = i + scheme;
        let end = h[start..].iter().position(|&b| uri_end(b)).map_or(h.len(), |e| start + e);
        if let Some(at) = h[start..end].iter().position(|&b| b == b'@') {
            if at > 0 {
                h[start..start + at].fill(b'x');
                changed = true;
            }
        }
        i = end.max(start);
    }
    changed
}

/// The display name (text before `<`) of each comma-separated value, overwritten.
fn display_names(v: &mut [u8]) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < v.len() {
        let Some(lt) = v[i..].iter().position(|&b| b == b'<') else { break };
        let (a, b) = (i, i + lt);
        for c in v[a..b].iter_mut() {
            if !matches!(*c, b' ' | b'\t' | b'"' | b',' | b'\r' | b'\n') {
                *c = b'x';
                changed = true;
            }
        }
        // To the end of this value's URI.
        i = v[b..].iter().position(|&c| c == b'>').map_or(v.len(), |g| b + g + 1);
        // The next value starts after a comma.
        i = v[i..].iter().position(|&c| c == b',').map_or(v.len(), |c| i + c + 1);
    }
    changed
}

/// The value of `name"…"` (e.g. `username="alice"`) overwritten.
fn quoted_param(v: &mut [u8], name: &[u8]) -> bool {
    let lower: Vec<u8> = v.iter().map(u8::to_ascii_lowercase).collect();
    let Some(p) = find(&lower, name) else { return false };
    let start = p + name.len();
    let (start, quoted) = if v.get(start) == Some(&b'"') { (start + 1, true) } else { (start, false) };
    let end = if quoted {
        v[start..].iter().position(|&b| b == b'"').map_or(v.len(), |e| start + e)
    } else {
        v[start..].iter().position(|&b| uri_end(b)).map_or(v.len(), |e| start + e)
    };
    if end > start {
        v[start..end].fill(b'x');
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:+13105550100@ims.mnc260.mcc310.3gppnetwork.org SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.19.1.1:5060;branch=z9hG4bK-1\r\n\
From: \"Alice Smith\" <sip:0310260000000001@ims.mnc260.mcc310.3gppnetwork.org>;tag=1\r\n\
To: <tel:+13105550100>\r\n\
Contact: <sip:0310260000000001@198.19.1.1:5060>\r\n\
P-Asserted-Identity: \"Alice\" <sip:+13105550199@ims.example>, <tel:+13105550199>\r\n\
Authorization: Digest username=\"0310260000000001@ims.example\", realm=\"ims.example\"\r\n\
Call-ID: 1-100@198.19.1.1\r\n\
CSeq: 1 INVITE\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 38\r\n\r\n\
v=0\r\nc=IN IP4 198.19.1.1\r\nm=audio 6000\r\n";

    fn udp_packet(payload: &[u8], sport: u16, dport: u16) -> Vec<u8> {
        let total = 28 + payload.len();
        let mut p =
            vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, 17, 0, 0, 198, 19, 1, 1, 198, 19, 0, 1];
        let ulen = 8 + payload.len();
        p.extend_from_slice(&sport.to_be_bytes());
        p.extend_from_slice(&dport.to_be_bytes());
        p.extend_from_slice(&(ulen as u16).to_be_bytes());
        p.extend_from_slice(&[0xab, 0xcd]);
        p.extend_from_slice(payload);
        p
    }

    fn udp_checksum_ok(p: &[u8]) -> bool {
        let mut q = p.to_vec();
        let before = [q[26], q[27]];
        fix_checksum(&mut q, 20, p.len() - 20, 17, "198.19.1.1".parse().unwrap(), "198.19.0.1".parse().unwrap());
        [q[26], q[27]] == before
    }

    #[test]
    fn sip_identities_and_bodies_go_lengths_and_dialogs_stay() {
        let p = udp_packet(INVITE.as_bytes(), 5060, 5060);
        let r = packet(&p).expect("something to redact");
        assert_eq!(r.len(), p.len());
        let text = String::from_utf8_lossy(&r[28..]).into_owned();
        for gone in ["13105550100", "0310260000000001", "Alice", "Smith", "13105550199", "IN IP4", "audio"] {
            assert!(!text.contains(gone), "{gone} still in:\n{text}");
        }
        for kept in [
            "INVITE sip:",
            "@ims.mnc260.mcc310.3gppnetwork.org",
            "Call-ID: 1-100@198.19.1.1",
            "CSeq: 1 INVITE",
            "Content-Length: 38",
            "realm=\"ims.example\"",
            "198.19.1.1:5060",
        ] {
            assert!(text.contains(kept), "{kept} lost:\n{text}");
        }
        assert!(udp_checksum_ok(&r), "the UDP checksum is right again");
        // tuntrace still decodes it: same Call-ID, method, CSeq; the SDP is gone.
        let m = crate::sip::message::parse(&r[28..]).unwrap();
        assert_eq!(
            (m.call_id(), m.method(), m.cseq().map(|c| c.seq)),
            (Some("1-100@198.19.1.1"), Some("INVITE"), Some(1))
        );
        assert!(m.sdp_ref().is_none_or(|s| s.endpoints().next().is_none()));
    }

    #[test]
    fn ike_identities_in_cleartext_are_zeroed() {
        // IKEv1 aggressive mode: SA (1) then ID (5) in clear.
        let mut ike = vec![0u8; 28];
        ike[0..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        ike[16] = 5; // first payload: ID
        ike[17] = 0x10;
        ike[18] = 4; // aggressive
        let id = b"vpn-user@example.org";
        let plen = 8 + id.len();
        ike.extend_from_slice(&[0, 0, 0, plen as u8, 3, 17, 1, 244]);
        ike.extend_from_slice(id);
        let len = ike.len() as u32;
        ike[24..28].copy_from_slice(&len.to_be_bytes());
        let p = udp_packet(&ike, 500, 500);
        let r = packet(&p).expect("the ID goes");
        assert!(!String::from_utf8_lossy(&r).contains("vpn-user"));
        assert!(r[r.len() - id.len()..].iter().all(|&b| b == 0));
        assert_eq!(&r[28..28 + 36], &p[28..28 + 36], "header and ID type stay");
        // IKEv1 with the encryption flag: nothing to see, nothing changed.
        let mut enc = ike.clone();
        enc[19] = 1;
        assert!(packet(&udp_packet(&enc, 500, 500)).is_none());
    }

    #[test]
    fn other_traffic_is_left_alone_and_nothing_panics() {
        assert!(packet(&udp_packet(b"\x80\x00hello rtp", 16384, 16386)).is_none());
        assert!(packet(b"").is_none());
        assert!(packet(&[0x45; 19]).is_none());
        let p = udp_packet(INVITE.as_bytes(), 5060, 5060);
        for cut in 0..p.len() {
            let _ = packet(&p[..cut]);
        }
        let mut x: u32 = 1;
        for _ in 0..2000 {
            let mut q = p.clone();
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = (x >> 8) as usize % q.len();
            q[at] = (x >> 16) as u8;
            let _ = packet(&q);
        }
    }
}

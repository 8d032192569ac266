//! Link, IP, reassembly and TCP stream decoding over the public capture corpus; expected values
//! come from tshark 4.0 / tcpdump 4.99 reading the same files.

mod common;

use std::net::IpAddr;

use tuntrace_core::decode::ip::{self, IpPacket};
use tuntrace_core::decode::link::{self, L3};
use tuntrace_core::decode::Malformed;
use tuntrace_core::event::Direction;
use tuntrace_core::reassembly::ip::{ReasmResult, Reassembler};
use tuntrace_core::reassembly::tcp::{Frame, StreamKey, Streams};
use tuntrace_core::time::Timestamp;

/// Legacy pcap only, enough for these tests: (linktype, records as (timestamp, bytes)).
/// Stops quietly at the first record that does not fit in the file.
type Records = Vec<(Timestamp, Vec<u8>)>;

fn read_pcap(name: &str) -> Option<(u32, Records)> {
    let path = common::corpus_file(name)?;
    let b = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let magic = u32::from_le_bytes(b[0..4].try_into().unwrap());
    let (le, nanos) = match magic {
        0xa1b2c3d4 => (true, false),
        0xa1b23c4d => (true, true),
        0xd4c3b2a1 => (false, false),
        0x4d3cb2a1 => (false, true),
        m => panic!("{name}: not a legacy pcap (magic {m:#x})"),
    };
    let u32_at = |at: usize| -> Option<u32> {
        let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if le { u32::from_le_bytes(s) } else { u32::from_be_bytes(s) })
    };
    // The upper bits of the link type field carry FCS information.
    let linktype = u32_at(20)? & 0xffff;
    let mut out = Vec::new();
    let mut at = 24;
    while let (Some(sec), Some(frac), Some(incl)) = (u32_at(at), u32_at(at + 4), u32_at(at + 8)) {
        let start = at + 16;
        let Some(data) = b.get(start..start + incl as usize) else { break };
        let ns = if nanos { frac } else { frac.saturating_mul(1000) };
        out.push((Timestamp::from_secs_nanos(sec as i64, ns), data.to_vec()));
        at = start + incl as usize;
    }
    Some((linktype, out))
}

/// pcapng, enough for these tests: (linktype of the packet's interface, bytes) per Enhanced
/// Packet Block. Stops quietly at the first block that does not fit in the file.
fn read_pcapng(name: &str) -> Option<Vec<(u32, Vec<u8>)>> {
    let path = common::corpus_file(name)?;
    let b = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut le = true;
    let u32_at = |le: bool, at: usize| -> Option<u32> {
        let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if le { u32::from_le_bytes(s) } else { u32::from_be_bytes(s) })
    };
    let mut links: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(kind) = u32_at(le, at) {
        if kind == 0x0a0d0d0a {
            le = b.get(at + 8..at + 12)? == [0x4d, 0x3c, 0x2b, 0x1a];
            links.clear();
        }
        let len = u32_at(le, at + 4)? as usize;
        if len < 12 || at + len > b.len() {
            break;
        }
        match kind {
            1 => {
                let s: [u8; 2] = b[at + 8..at + 10].try_into().ok()?;
                links.push(if le { u16::from_le_bytes(s) } else { u16::from_be_bytes(s) } as u32);
            }
            6 => {
                let iface = u32_at(le, at + 8)? as usize;
                let caplen = u32_at(le, at + 20)? as usize;
                let data = b.get(at + 28..at + 28 + caplen)?;
                out.push((*links.get(iface)?, data.to_vec()));
            }
            _ => {}
        }
        at += len;
    }
    Some(out)
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Counts {
    v4: usize,
    v6: usize,
    arp: usize,
    other: usize,
    malformed: usize,
    udp: usize,
    tcp: usize,
    esp: usize,
    ah: usize,
    icmp: usize,
    frags: usize,
}

fn count(name: &str) -> Option<Counts> {
    let frames: Vec<(u32, Vec<u8>)> = if name.ends_with(".pcapng") {
        read_pcapng(name)?
    } else {
        let (lt, pkts) = read_pcap(name)?;
        pkts.into_iter().map(|(_, f)| (lt, f)).collect()
    };
    let mut c = Counts::default();
    for (lt, frame) in &frames {
        let l = match link::decode(*lt, frame) {
            Ok(l) => l,
            Err(_) => {
                c.malformed += 1;
                continue;
            }
        };
        match l.l3 {
            L3::Ipv4(_) => c.v4 += 1,
            L3::Ipv6(_) => c.v6 += 1,
            L3::Arp => c.arp += 1,
            _ => c.other += 1,
        }
        let Some(p) = ip::parse(l.l3).unwrap_or_else(|e| panic!("{name}: {e}")) else { continue };
        assert!(!p.truncated, "{name}: truncated packet");
        if p.frag.is_some_and(|f| f.offset != 0 || f.more) {
            c.frags += 1;
            continue;
        }
        match p.proto {
            ip::PROTO_UDP => {
                ip::udp(p.payload).unwrap_or_else(|e| panic!("{name}: {e}"));
                c.udp += 1
            }
            ip::PROTO_TCP => {
                ip::tcp(p.payload).unwrap_or_else(|e| panic!("{name}: {e}"));
                c.tcp += 1
            }
            ip::PROTO_ESP => c.esp += 1,
            ip::PROTO_AH => c.ah += 1,
            ip::PROTO_ICMP | ip::PROTO_ICMPV6 => c.icmp += 1,
            other => panic!("{name}: unexpected protocol {other}"),
        }
    }
    Some(c)
}

#[test]
fn corpus_protocol_counts_match_tshark() {
    let d = Counts::default;
    let table = [
        ("espudp_only.pcap", Counts { v4: 8, udp: 8, ..d() }),
        ("fuzz_pktap_heap_overflow.pcap", Counts { malformed: 2, ..d() }),
        // The only record claims more bytes than the file holds: nothing to decode.
        ("fuzz_truncated_file_null.pcap", d()),
        ("ikev1_ipv6_esp.pcap", Counts { v6: 309, udp: 13, esp: 296, ..d() }),
        ("ikev1_main_mode.pcap", Counts { v4: 9, udp: 9, ..d() }),
        ("ikev1_natt_4500_espudp.pcap", Counts { v4: 27, udp: 27, arp: 8, ..d() }),
        ("ikev2_four_exchanges_null.pcap", Counts { v4: 21, udp: 21, ..d() }),
        ("ikev2_sa_init_rawip.pcap", Counts { v4: 1, udp: 1, ..d() }),
        ("linux_sll2_lo.pcap", Counts { v4: 2, v6: 2, arp: 2, icmp: 4, ..d() }),
        ("pktap_dlt258.pcap", Counts { v4: 1, udp: 1, ..d() }),
        ("sip_ipv6_frag_sll.pcap", Counts { v6: 34, udp: 30, frags: 4, ..d() }),
        ("sip_tcp_register.pcap", Counts { v4: 11, tcp: 11, ..d() }),
        ("sip_udp_5060_5061.pcap", Counts { v4: 10, udp: 10, ..d() }),
        ("sip_udp_register_invite_rtp.pcap", Counts { v4: 112, udp: 112, ..d() }),
        // Three interfaces with different snaplens; AH is an upper layer for ip::parse.
        ("ah_esp_multi_idb.pcapng", Counts { v4: 2, v6: 1, ah: 2, esp: 1, ..d() }),
        ("ikev2_natt_espudp.pcapng", Counts { v4: 54, udp: 54, ..d() }),
        ("ikev2_raw_esp.pcapng", Counts { v4: 6, udp: 4, esp: 2, ..d() }),
        // en0 (Ethernet, IPv4) and pdp_ip0 (DLT_NULL, IPv6) in one file.
        ("pktap_pcapng_procinfo_en0_pdpip0.pcapng", Counts { v4: 190, v6: 7, tcp: 197, ..d() }),
    ];
    for (name, want) in table {
        let Some(got) = count(name) else { return };
        assert_eq!(got, want, "{name}");
    }
}

fn first_packet(name: &str) -> Option<(u32, Vec<u8>)> {
    let (lt, mut pkts) = read_pcap(name)?;
    Some((lt, pkts.remove(0).1))
}

fn addr(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn pktap_header_as_tcpdump_prints_it() {
    let Some((lt, frame)) = first_packet("pktap_dlt258.pcap") else { return };
    assert_eq!(lt, link::PKTAP);
    let l = link::decode(lt, &frame).unwrap();
    let m = l.pktap.unwrap();
    // tcpdump -e: "DLT EN10MB (1) len 108"; tshark: en0, flags 0x2, pid 512, epid -1, no names.
    assert_eq!((m.inner_dlt, m.ifname, m.flags), (1, "en0", 2));
    assert_eq!((m.pid, m.comm, m.epid, m.ecomm), (Some(512), None, None, None));
    assert_eq!(l.direction, Direction::Out);
    let p = ip::parse(l.l3).unwrap().unwrap();
    assert_eq!((p.src, p.dst, p.total_len), (addr("10.32.4.27"), addr("10.32.100.15"), 60));
    let (sport, dport, dns) = ip::udp(p.payload).unwrap();
    assert_eq!((sport, dport, dns.len()), (63538, 53, 32));
}

#[test]
fn fuzzed_pktap_is_malformed() {
    let Some((lt, pkts)) = read_pcap("fuzz_pktap_heap_overflow.pcap") else { return };
    assert_eq!(lt, link::USER2);
    let reasons: Vec<_> = pkts.iter().map(|(_, f)| link::decode(lt, f).map(|_| ())).collect();
    assert_eq!(
        reasons,
        [Err(Malformed::new("pktap header length too short")), Err(Malformed::new("pktap inner frame empty"))]
    );
}

#[test]
fn other_link_types_addresses() {
    let Some((lt, f)) = first_packet("ikev2_sa_init_rawip.pcap") else { return };
    assert_eq!(lt, link::RAW);
    let p = ip::parse(link::decode(lt, &f).unwrap().l3).unwrap().unwrap();
    assert_eq!((p.src, p.dst, p.proto), (addr("212.158.157.2"), addr("212.158.157.8"), 17));
    assert_eq!(ip::udp(p.payload).unwrap().0, 500);

    let Some((lt, f)) = first_packet("ikev2_four_exchanges_null.pcap") else { return };
    assert_eq!(lt, link::NULL);
    let p = ip::parse(link::decode(lt, &f).unwrap().l3).unwrap().unwrap();
    assert_eq!((p.src, p.dst), (addr("192.168.1.2"), addr("192.168.1.1")));

    let Some((lt, pkts)) = read_pcap("linux_sll2_lo.pcap") else { return };
    assert_eq!(lt, link::LINUX_SLL2);
    // tshark: ICMP on ifindex 1 as received (0); ARP on ifindex 26 as sent (4).
    let l = link::decode(lt, &pkts[2].1).unwrap();
    assert_eq!((l.ifindex, l.direction), (Some(1), Direction::In));
    assert_eq!(ip::parse(l.l3).unwrap().unwrap().src, addr("fe80::8c36:6ff:fe44:acaf"));
    let l = link::decode(lt, &pkts[5].1).unwrap();
    assert_eq!((l.ifindex, l.direction, l.l3), (Some(26), Direction::Out, L3::Arp));
}

#[test]
fn ipv6_fragmented_invites_reassemble() {
    let Some((lt, pkts)) = read_pcap("sip_ipv6_frag_sll.pcap") else { return };
    let mut r = Reassembler::default();
    let mut complete = Vec::new();
    let (mut pending, mut whole) = (0, 0);
    for (ts, frame) in &pkts {
        let p: IpPacket = ip::parse(link::decode(lt, frame).unwrap().l3).unwrap().unwrap();
        match r.push(*ts, &p) {
            ReasmResult::NotFragment => whole += 1,
            ReasmResult::Pending => pending += 1,
            ReasmResult::Complete(d) => complete.push((p.src, p.dst, d)),
            ReasmResult::Dropped(why) => panic!("dropped: {why}"),
        }
    }
    assert_eq!((whole, pending, complete.len()), (30, 2, 2));
    // tshark: frames 1+2 reassemble to UDP length 1699 (15060 -> 5062), 4+5 to 1879 (5062 -> 25060).
    for ((src, dst, d), (s, dp, len, sp)) in complete.iter().zip([
        ("fd17:625c:f037:2:a00:27ff:feb9:1521", 5062, 1699, 15060),
        ("fd17:625c:f037:2:a00:27ff:feb9:3519", 25060, 1879, 5062),
    ]) {
        assert_eq!(*src, addr(s));
        assert!(dst.is_ipv6());
        assert_eq!(d.proto, 17);
        assert_eq!(d.payload.len(), len);
        let (sport, dport, body) = ip::udp(&d.payload).unwrap();
        assert_eq!((sport, dport), (sp, dp));
        assert!(body.starts_with(b"INVITE sip:"), "{:?}", String::from_utf8_lossy(&body[..20]));
        assert!(body.ends_with(b"\r\n"));
    }
    assert_eq!((r.in_flight(), r.bytes_held()), (0, 0));
}

/// A stand-in for the SIP framer: headers up to CRLFCRLF, then Content-Length bytes.
fn sip_framer(b: &[u8]) -> Frame {
    let Some(end) = b.windows(4).position(|w| w == b"\r\n\r\n") else { return Frame::Incomplete };
    let head = std::str::from_utf8(&b[..end]).unwrap_or("");
    let clen = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.eq_ignore_ascii_case("content-length") || k == "l").then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let total = end + 4 + clen;
    if b.len() >= total {
        Frame::Complete(total)
    } else {
        Frame::Incomplete
    }
}

#[test]
fn sip_register_over_tcp_is_framed_whole() {
    let Some((lt, pkts)) = read_pcap("sip_tcp_register.pcap") else { return };
    let mut streams = Streams::default();
    let mut msgs: Vec<(u16, Vec<u8>)> = Vec::new();
    for (ts, frame) in &pkts {
        let p = ip::parse(link::decode(lt, frame).unwrap().l3).unwrap().unwrap();
        let seg = ip::tcp(p.payload).unwrap();
        let key = StreamKey { src: p.src, sport: seg.sport, dst: p.dst, dport: seg.dport };
        if let Some(buf) = streams.push(*ts, key, &seg) {
            buf.drain_frames(sip_framer, |m| msgs.push((seg.sport, m.to_vec())));
        }
    }
    // tshark: REGISTER reassembled from 400 + 185 bytes, then a 491-byte 200 OK.
    assert_eq!(msgs.len(), 2);
    assert_eq!((msgs[0].0, msgs[0].1.len()), (58882, 585));
    assert!(msgs[0].1.starts_with(b"REGISTER sip:"));
    assert_eq!((msgs[1].0, msgs[1].1.len()), (5060, 491));
    assert!(msgs[1].1.starts_with(b"SIP/2.0 200"));
    assert_eq!(streams.stats.retransmitted_bytes, 0);
    assert_eq!(streams.stats.gaps, 0);
    // Client FIN seen; its state goes at the next push.
    streams.flush_closed();
    assert_eq!(streams.stats.streams_closed, 1);
}

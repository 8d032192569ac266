//! Tunnels inside captures against tshark, the decoding oracle: for every capture of the
//! corpus's tunnels/ folder (public captures of GRE, PPTP, ERSPAN, GTP-U, VXLAN, Geneve,
//! Teredo, PPPoE, IP in IP, OpenVPN) the report's tunnel kinds, identifiers, tunnel packet
//! counts and the flows carried inside are what tshark shows. Hand-built frames cover what the
//! corpus lacks (L2TPv2 and v3, 6in6, the PPP link types, OpenVPN over TCP, WireGuard's
//! handshake and cookie reply), written with the project's pcap writer and read by tshark too.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use tuntrace_core::report::{App, Encap, Report, Transport, TunnelKind};

/// tshark's fields of every frame, with the heuristics a tunnel on an unusual port needs.
fn tshark(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    tshark_with(file, &[], fields)
}

/// [`tshark`] with more options (decode-as rules a capture needs).
fn tshark_with(file: &Path, extra: &[&str], fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(file);
    cmd.args(["--enable-heuristic", "teredo_udp"]);
    cmd.args(extra);
    cmd.args(["-T", "fields", "-E", "separator=\t", "-E", "aggregator=\u{1f}"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark not found: run ci/setup");
    assert!(out.status.success(), "tshark on {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

fn values(cell: &str) -> impl Iterator<Item = &str> {
    cell.split('\u{1f}').filter(|v| !v.is_empty())
}

fn num(v: &str) -> u64 {
    match v.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => v.parse().unwrap(),
    }
}

/// How the report spells an identifier tshark read as a number.
type Spelling = fn(u64) -> String;

/// The identifier fields tshark has for tunnels, and how the report spells each.
const ID_FIELDS: &[(&str, Spelling)] = &[
    ("gre.key", |v| v.to_string()),
    ("gre.key.call_id", |v| v.to_string()),
    ("gtp.teid", |v| format!("{v:08x}")),
    ("vxlan.vni", |v| v.to_string()),
    ("geneve.vni", |v| v.to_string()),
    ("l2tp.tunnel", |v| v.to_string()),
    ("l2tp.session", |v| v.to_string()),
    ("l2tp.sid", |v| v.to_string()),
    ("l2tp.ccid", |v| v.to_string()),
    ("pppoe.session_id", |v| v.to_string()),
    ("wg.sender", |v| format!("{v:08x}")),
    ("wg.receiver", |v| format!("{v:08x}")),
    ("openvpn.sessionid", |v| format!("{v:016x}")),
];

/// Every tunnel identifier tshark reads in the file, as the report spells them.
fn tshark_ids(file: &Path) -> BTreeSet<String> {
    let fields: Vec<&str> = ID_FIELDS.iter().map(|(f, _)| *f).collect();
    let mut ids = BTreeSet::new();
    for row in tshark(file, &fields) {
        for ((_, spell), cell) in ID_FIELDS.iter().zip(&row) {
            ids.extend(values(cell).map(|v| spell(num(v))));
        }
    }
    ids
}

fn report_ids(r: &Report) -> BTreeSet<String> {
    r.tunnels.iter().flat_map(|t| t.ids.iter().cloned()).collect()
}

/// A conversation without direction: the two (address, port) ends sorted (port 0 without ports).
type Conv = ((String, u16), (String, u16));

/// Every flow of a report as a conversation.
fn report_convs(r: &Report) -> BTreeSet<Conv> {
    r.flows.iter().map(|f| conv(&f.src, f.sport.unwrap_or(0), &f.dst, f.dport.unwrap_or(0))).collect()
}

/// The Call-IDs of a report's dialogs and registrations.
fn report_call_ids(r: &Report) -> BTreeSet<String> {
    let dialogs = r.sip.dialogs.iter().map(|d| d.call_id.clone());
    dialogs.chain(r.sip.registrations.iter().map(|g| g.call_id.clone())).collect()
}

fn conv(a: &str, ap: u16, b: &str, bp: u16) -> Conv {
    let (x, y) = ((a.to_string(), ap), (b.to_string(), bp));
    if x <= y {
        (x, y)
    } else {
        (y, x)
    }
}

const TUNNEL_PROTOCOLS: &[&str] = &["gre", "gtp", "vxlan", "geneve", "l2tp", "pppoes", "teredo"];

/// The innermost conversation of every frame tshark shows inside a tunnel: the last IP layer's
/// addresses and the ports of a UDP or TCP header after it. ICMP errors quote an IP header,
/// which is not a tunnel: the walk stops at ICMP.
fn tshark_inner(file: &Path) -> BTreeSet<Conv> {
    tshark_inner_with(file, &[])
}

fn tshark_inner_with(file: &Path, extra: &[&str]) -> BTreeSet<Conv> {
    let rows = tshark_with(
        file,
        extra,
        &[
            "frame.protocols",
            "ip.src",
            "ip.dst",
            "ipv6.src",
            "ipv6.dst",
            "udp.srcport",
            "udp.dstport",
            "tcp.srcport",
            "tcp.dstport",
        ],
    );
    let mut out = BTreeSet::new();
    for row in rows {
        let protos: Vec<&str> = row[0].split(':').collect();
        let col = |i: usize| values(&row[i]).collect::<Vec<_>>();
        let (v4s, v4d, v6s, v6d) = (col(1), col(2), col(3), col(4));
        let (mut n4, mut n6, mut ip_layers, mut inner_ip, mut last_ip_at) = (0, 0, 0, None, 0);
        let mut tunnel_at = None;
        for (at, p) in protos.iter().enumerate() {
            match *p {
                "ip" => {
                    inner_ip = v4s.get(n4).zip(v4d.get(n4)).map(|(s, d)| (s.to_string(), d.to_string()));
                    n4 += 1;
                    ip_layers += 1;
                    last_ip_at = at;
                }
                "ipv6" => {
                    inner_ip = v6s.get(n6).zip(v6d.get(n6)).map(|(s, d)| (s.to_string(), d.to_string()));
                    n6 += 1;
                    ip_layers += 1;
                    last_ip_at = at;
                }
                "icmp" | "icmpv6" => break,
                p if TUNNEL_PROTOCOLS.contains(&p) => {
                    tunnel_at.get_or_insert(at);
                }
                _ => {}
            }
        }
        // An IP layer inside a tunnel: after a tunnel protocol (PPPoE has no IP outside), or
        // an IP layer inside another.
        if !(tunnel_at.is_some_and(|t| last_ip_at > t) || ip_layers > 1) {
            continue;
        }
        let Some((s, d)) = inner_ip else { continue };
        let transport_after = protos.iter().rposition(|p| matches!(*p, "udp" | "tcp")).is_some_and(|i| i > last_ip_at);
        let (sp, dp) = if transport_after {
            let last = |i: usize| col(i).last().map(|v| v.parse::<u16>().unwrap());
            if protos[protos.iter().rposition(|p| matches!(*p, "udp" | "tcp")).unwrap()] == "udp" {
                (last(5).unwrap(), last(6).unwrap())
            } else {
                (last(7).unwrap(), last(8).unwrap())
            }
        } else {
            (0, 0)
        };
        out.insert(conv(&s, sp, &d, dp));
    }
    out
}

/// The report's flows a tunnel carried that are not themselves a tunnel's carrier.
fn report_inner(r: &Report) -> BTreeSet<Conv> {
    let carrier = |a: App| TunnelKind::ALL.iter().any(|&k| k != TunnelKind::Pppoe && App::carrying(k) == a);
    r.flows
        .iter()
        .filter(|f| f.tunnel.is_some() && !carrier(f.app))
        .map(|f| conv(&f.src, f.sport.unwrap_or(0), &f.dst, f.dport.unwrap_or(0)))
        .collect()
}

/// Frames with `protocol` in them, among tshark's `frame.protocols` rows.
fn frames_with(rows: &[Vec<String>], protocol: &str) -> u64 {
    rows.iter().filter(|r| r[0].split(':').any(|p| p == protocol)).count() as u64
}

/// The tunnels of `kind` not nested in another of the same kind: one count per frame, as
/// tshark's frames with the protocol are.
fn outer_packets(r: &Report, kind: TunnelKind) -> u64 {
    r.tunnels
        .iter()
        .filter(|t| t.kind == kind && t.tunnel.is_none_or(|p| r.tunnels[p].kind != kind))
        .map(|t| t.packets)
        .sum()
}

/// What each corpus capture holds, by the report's kinds (outermost first).
fn expected_kinds(name: &str) -> &'static [TunnelKind] {
    use TunnelKind::*;
    match name {
        "ip4in4.pcap" => &[Ipip],
        "ip4in6.pcap" => &[FourIn6],
        "ip6in4.pcap" => &[SixIn4],
        "ip6in6in6.pcap" => &[SixIn6, SixIn6],
        "gre_pptp.pcap" => &[FourIn6, Gre],
        "gre_within_gre.pcap" => &[Gre, Gre],
        "gre_over_udp_4754.pcap" | "gre_erspan3_dot1q.pcap" => &[Gre],
        "gtp_ipv6.pcap" | "gtp_ext_header.pcap" | "gtp_gn_fragmented.pcap" => &[GtpU],
        "gtp_false_positive.pcap" => &[],
        "vxlan_triple.pcap" => &[Vxlan, Vxlan, Vxlan],
        "geneve_ipv6.pcap" | "geneve_truncated.pcapng" => &[Geneve],
        "teredo.pcap" => &[Teredo, Teredo, Teredo],
        "pppoe_session.pcap" => &[Pppoe],
        "openvpn_udp_nohmac.pcapng" | "openvpn_tlscrypt.pcap" => &[Openvpn],
        other => panic!("{other}: add it to expected_kinds"),
    }
}

fn tunnel_corpus() -> Option<Vec<PathBuf>> {
    let dir = corpus_dir()?.join("tunnels");
    Some(corpus_files(&dir))
}

/// The kinds, identifiers, tunnel packet counts and inner conversations of every capture.
#[test]
fn tunnel_captures_match_tshark() {
    let Some(files) = tunnel_corpus() else { return };
    assert!(files.len() >= 19, "{files:?}");
    for f in files {
        let name = f.file_name().unwrap().to_str().unwrap();
        let r = replay_json(&f);
        let kinds: Vec<TunnelKind> = r.tunnels.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, expected_kinds(name), "{name}: tunnels {:#?}", r.tunnels);
        assert_eq!(report_ids(&r), tshark_ids(&f), "{name}: identifiers (report, tshark)");
        assert_eq!(report_inner(&r), tshark_inner(&f), "{name}: inner conversations (report, tshark)");
        let protocols = tshark(&f, &["frame.protocols"]);
        for (kind, proto) in [
            (TunnelKind::Gre, "gre"),
            (TunnelKind::GtpU, "gtp"),
            (TunnelKind::Vxlan, "vxlan"),
            (TunnelKind::Geneve, "geneve"),
            (TunnelKind::Teredo, "teredo"),
            (TunnelKind::Pppoe, "pppoes"),
            (TunnelKind::Openvpn, "openvpn"),
        ] {
            assert_eq!(
                outer_packets(&r, kind),
                frames_with(&protocols, proto),
                "{name}: {kind} packets (report, tshark)"
            );
        }
        // Every inner flow names a tunnel of the report, and each tunnel counts its own.
        let mut per: BTreeMap<usize, u64> = BTreeMap::new();
        for fl in &r.flows {
            if let Some(t) = fl.tunnel {
                assert!(t < r.tunnels.len(), "{name}: flow names tunnel #{t}");
                *per.entry(t).or_default() += 1;
            }
        }
        for (i, t) in r.tunnels.iter().enumerate() {
            assert_eq!(t.inner_flows, per.get(&i).copied().unwrap_or(0), "{name}: tunnel #{i} inner flows");
        }
    }
}

/// The corpus's OpenVPN captures: the control channel's protection named as it is, never as
/// another, and the session IDs of both sides where tshark puts them.
#[test]
fn openvpn_variants_and_sides() {
    let Some(dir) = corpus_dir() else { return };
    let dir = dir.join("tunnels");
    for (name, variant) in [("openvpn_udp_nohmac.pcapng", "plain"), ("openvpn_tlscrypt.pcap", "tls-crypt-v2")] {
        let f = dir.join(name);
        let r = replay_json(&f);
        let [t] = r.tunnels.as_slice() else { panic!("{name}: {:?}", r.tunnels) };
        assert_eq!(t.variant.as_deref(), Some(variant), "{name}");
        let o = t.openvpn.as_ref().unwrap();
        let client = o.client.clone().expect("a client's hard reset is in the capture");
        // tshark: the session ID of each packet and who sent it.
        let mut sides: BTreeMap<bool, BTreeSet<String>> = BTreeMap::new();
        for row in tshark(&f, &["openvpn.sessionid", "udp.srcport"]) {
            for v in values(&row[0]) {
                let from_client = client.ends_with(&format!(":{}", row[1]));
                sides.entry(from_client).or_default().insert(format!("{:016x}", num(v)));
            }
        }
        let set = |v: &Vec<String>| v.iter().cloned().collect::<BTreeSet<_>>();
        assert_eq!(Some(&set(&o.client_session_ids)), sides.get(&true), "{name}");
        assert_eq!(Some(&set(&o.server_session_ids)), sides.get(&false), "{name}");
        let opcodes = tshark(&f, &["openvpn.opcode"]);
        let count = |ops: &[u64]| -> u64 {
            opcodes.iter().flat_map(|r| values(&r[0]).map(num).collect::<Vec<_>>()).filter(|o| ops.contains(o)).count()
                as u64
        };
        assert_eq!(o.data_packets, count(&[6, 9]), "{name}: data");
        assert_eq!(o.ack_packets, count(&[5]), "{name}: ack");
        assert_eq!(o.control_packets, count(&[1, 2, 3, 4, 7, 8, 10, 11]), "{name}: control");
    }
}

/// UDP 2152 carrying DNS is not GTP-U: nothing decapsulated, nothing malformed, the flow stays
/// plain UDP.
#[test]
fn gtp_false_positive_is_not_decapsulated() {
    let Some(dir) = corpus_dir() else { return };
    let r = replay_json(&dir.join("tunnels/gtp_false_positive.pcap"));
    assert!(r.tunnels.is_empty(), "{:?}", r.tunnels);
    assert_eq!(r.stats.malformed, 0);
    assert_eq!(r.flows.len(), 1);
    assert_eq!((r.flows[0].app, r.flows[0].tunnel), (App::Other, None));
}

// ---- Hand-built captures: what the corpus lacks, written with the project's pcap writer and
// read by tshark as well as by tuntrace.

mod built {
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::path::PathBuf;

    use tuntrace_core::capture::writer::{PcapWriter, TsPrecision};
    use tuntrace_core::time::Timestamp;

    pub const EN10MB: u32 = 1;
    pub const LINUX_SLL: u32 = 113;

    pub fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut v = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0];
        v[2..4].copy_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&Ipv4Addr::from(src).octets());
        v.extend_from_slice(&Ipv4Addr::from(dst).octets());
        v.extend_from_slice(payload);
        v
    }

    pub fn ipv6(next: u8, src: &str, dst: &str, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        v.extend_from_slice(&[next, 64]);
        v.extend_from_slice(&src.parse::<Ipv6Addr>().unwrap().octets());
        v.extend_from_slice(&dst.parse::<Ipv6Addr>().unwrap().octets());
        v.extend_from_slice(payload);
        v
    }

    pub fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&dport.to_be_bytes());
        v.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(data);
        v
    }

    /// A TCP segment with PSH|ACK (or SYN when `data` is empty and `syn`).
    pub fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&sport.to_be_bytes());
        v.extend_from_slice(&dport.to_be_bytes());
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(&ack.to_be_bytes());
        v.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        v.extend_from_slice(data);
        v
    }

    pub fn ether(ethertype: u16, l3: &[u8]) -> Vec<u8> {
        let mut v = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01];
        v.extend_from_slice(&ethertype.to_be_bytes());
        v.extend_from_slice(l3);
        v
    }

    /// Linux cooked v1, sent by us, protocol `ethertype`.
    pub fn sll(ethertype: u16, l3: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0];
        v.extend_from_slice(&ethertype.to_be_bytes());
        v.extend_from_slice(l3);
        v
    }

    pub fn sip(first_line: &str, call_id: &str, cseq: &str, body: &str) -> Vec<u8> {
        let ct = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".into() };
        format!(
            "{first_line}\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK{call_id}\r\nFrom: <sip:alice@ims.mnc001.mcc001.3gppnetwork.org>;tag=a\r\nTo: <sip:bob@ims.mnc001.mcc001.3gppnetwork.org>\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    /// Write `frames` to a fresh pcap of `linktype` under the target directory.
    pub fn pcap(name: &str, linktype: u32, frames: &[Vec<u8>]) -> PathBuf {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tunnels-built");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap(), linktype, 0, TsPrecision::Micro).unwrap();
        for (i, f) in frames.iter().enumerate() {
            w.write_packet(Timestamp(1_767_225_600_000_000_000 + i as i64 * 1_000_000), f, f.len() as u32).unwrap();
        }
        w.finish().unwrap();
        path
    }

    /// A WireGuard message of `ty` with the index fields set (little-endian on the wire).
    pub fn wg(ty: u8, first: u32, second: u32, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[0] = ty;
        b[4..8].copy_from_slice(&first.to_le_bytes());
        if ty == 2 {
            b[8..12].copy_from_slice(&second.to_le_bytes());
        } else if ty == 4 {
            b[8..16].copy_from_slice(&u64::from(second).to_le_bytes());
        }
        for (i, x) in b.iter_mut().enumerate().skip(16) {
            *x = (i * 7) as u8;
        }
        b
    }
}

use built::*;

const A: [u8; 4] = [198, 51, 100, 1];
const B: [u8; 4] = [198, 51, 100, 2];

/// What the built captures must show in a report, beside tshark's reading.
fn check_built(f: &Path, kinds: &[TunnelKind]) -> Report {
    let r = replay_json(f);
    let name = f.file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(r.tunnels.iter().map(|t| t.kind).collect::<Vec<_>>(), kinds, "{name}: {:#?}", r.tunnels);
    assert_eq!(report_ids(&r), tshark_ids(f), "{name}: identifiers (report, tshark)");
    assert_eq!(r.stats.malformed, 0, "{name}: {:?}", r.malformed);
    r
}

/// SIP requests and responses carried both ways through IP-in-IP (4in4 and 6in6): the
/// dialog holds both, and names the tunnel.
#[test]
fn sip_both_ways_through_ip_in_ip() {
    let inv = sip("INVITE sip:bob@example.org SIP/2.0", "c1", "1 INVITE", "");
    let ok = sip("SIP/2.0 200 OK", "c1", "1 INVITE", "");
    let (c, d) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let frames = vec![
        ether(0x0800, &ipv4(4, A, B, &ipv4(17, c, d, &udp(5060, 5060, &inv)))),
        ether(0x0800, &ipv4(4, B, A, &ipv4(17, d, c, &udp(5060, 5060, &ok)))),
    ];
    let f = pcap("sip_4in4.pcap", EN10MB, &frames);
    let r = check_built(&f, &[TunnelKind::Ipip]);
    assert_eq!(report_inner(&r), tshark_inner(&f));
    let [dl] = r.sip.dialogs.as_slice() else { panic!("{:?}", r.sip) };
    assert_eq!(dl.messages.len(), 2, "request and response");
    assert_eq!(dl.tunnel, Some(0));
    // 6in6, the response coming back through the same tunnel.
    let (x, y) = ("2001:db8::1", "2001:db8::2");
    let frames = vec![
        ether(0x86dd, &ipv6(41, x, y, &ipv6(17, "fd00::1", "fd00::2", &udp(5060, 5060, &inv)))),
        ether(0x86dd, &ipv6(41, y, x, &ipv6(17, "fd00::2", "fd00::1", &udp(5060, 5060, &ok)))),
    ];
    let f = pcap("sip_6in6.pcap", EN10MB, &frames);
    let r = check_built(&f, &[TunnelKind::SixIn6]);
    assert_eq!(report_inner(&r), tshark_inner(&f));
    assert_eq!(r.sip.dialogs[0].messages.len(), 2);
    assert_eq!(r.tunnels[0].packets, 2);
    assert_eq!((r.tunnels[0].src.as_str(), r.tunnels[0].dst.as_str()), (x, y));
}

/// VoLTE as a phone's modem sees it from the core: Linux cooked frames of GTP-U carrying IPv6
/// with SIP (an INVITE with SDP, its 200) and the RTP it announced. The SIP dialog is reported
/// like SIP anywhere, names the tunnel, and the media is labelled RTP.
#[test]
fn sip_and_rtp_inside_gtp_u_over_linux_cooked() {
    let sdp = "v=0\r\no=- 1 1 IN IP6 2001:db8:5e::1\r\ns=-\r\nc=IN IP6 2001:db8:5e::1\r\nt=0 0\r\nm=audio 50000 RTP/AVP 97\r\na=rtpmap:97 AMR/8000\r\n";
    let inv = sip("INVITE sip:bob@ims.mnc001.mcc001.3gppnetwork.org SIP/2.0", "volte1", "1 INVITE", sdp);
    let ok = sip("SIP/2.0 200 OK", "volte1", "1 INVITE", "");
    let gtp = |teid: u32, inner: &[u8]| {
        // G-PDU with a PDU session container extension header (E flag).
        let mut g = vec![0x34, 0xff, 0, 0];
        g.extend_from_slice(&teid.to_be_bytes());
        g.extend_from_slice(&[0, 0, 0, 0x85, 1, 0x10, 0x09, 0x00]);
        g.extend_from_slice(inner);
        let len = (g.len() - 8) as u16;
        g[2..4].copy_from_slice(&len.to_be_bytes());
        g
    };
    let (ue, pcscf) = ("2001:db8:5e::1", "2001:db8:1::5");
    let (enb, sgw) = ([10, 1, 0, 1], [10, 2, 0, 1]);
    let rtp = [&[0x80u8, 97, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9][..], &[0x3c; 20]].concat();
    let frames = vec![
        sll(
            0x0800,
            &ipv4(17, enb, sgw, &udp(2152, 2152, &gtp(0x1234abcd, &ipv6(17, ue, pcscf, &udp(5060, 5060, &inv))))),
        ),
        sll(
            0x0800,
            &ipv4(17, sgw, enb, &udp(2152, 2152, &gtp(0x00c0ffee, &ipv6(17, pcscf, ue, &udp(5060, 5060, &ok))))),
        ),
        sll(
            0x0800,
            &ipv4(
                17,
                enb,
                sgw,
                &udp(2152, 2152, &gtp(0x1234abcd, &ipv6(17, ue, "2001:db8:fa::9", &udp(50000, 40000, &rtp)))),
            ),
        ),
        sll(
            0x0800,
            &ipv4(
                17,
                sgw,
                enb,
                &udp(2152, 2152, &gtp(0x00c0ffee, &ipv6(17, "2001:db8:fa::9", ue, &udp(40000, 50000, &rtp)))),
            ),
        ),
    ];
    let f = pcap("volte_gtp_sll.pcap", LINUX_SLL, &frames);
    let r = check_built(&f, &[TunnelKind::GtpU]);
    assert_eq!(report_inner(&r), tshark_inner(&f));
    assert_eq!(r.tunnels[0].ids, ["1234abcd", "00c0ffee"]);
    let [d] = r.sip.dialogs.as_slice() else { panic!("{:?}", r.sip) };
    assert_eq!((d.messages.len(), d.tunnel), (2, Some(0)));
    let rtp_flows: Vec<_> = r.flows.iter().filter(|f| f.app == App::Rtp).collect();
    assert_eq!(rtp_flows.len(), 1, "{:#?}", r.flows);
    assert_eq!((rtp_flows[0].packets, rtp_flows[0].tunnel), (2, Some(0)));
    let outer = r.flows.iter().find(|f| f.tunnel.is_none()).unwrap();
    assert_eq!(outer.app, App::GtpU);
    assert!(
        r.verdicts.iter().any(|v| v.summary.contains("carrier GTP-U") && v.summary.contains("SIP")),
        "{:#?}",
        r.verdicts
    );
    // tshark reads the same SIP inside.
    let sip_rows = tshark(&f, &["sip.Call-ID"]);
    assert_eq!(sip_rows.iter().filter(|r| r[0] == "volte1").count(), 2);
}

/// GRE with a key carrying MPLS (two labels) carrying IPv4, as carriers use it.
#[test]
fn mpls_over_gre() {
    let inner = ipv4(17, [10, 8, 0, 1], [10, 8, 0, 2], &udp(3333, 4444, b"y"));
    let gre = [&[0x20, 0, 0x88, 0x47, 0, 0, 0x10, 0x01][..], &[0, 0x01, 0x00, 64, 0, 0x02, 0x01, 64], &inner].concat();
    let f = pcap("mpls_gre.pcap", EN10MB, &[ether(0x0800, &ipv4(47, A, B, &gre))]);
    let r = check_built(&f, &[TunnelKind::Gre]);
    assert_eq!(r.tunnels[0].ids, ["4097"]);
    assert_eq!(report_inner(&r), tshark_inner(&f));
}

/// GRE sequence numbers (RFC 2890 with a key, PPTP's per call ID) followed per sender and key,
/// against an independent reading of the numbers tshark finds in the same frames: a wrap past
/// 2^32 - 1, late packets (also one before the first number), repeats and gaps.
#[test]
fn gre_sequence_numbers() {
    let inner = ipv4(17, [10, 9, 0, 1], [10, 9, 0, 2], &udp(1000, 2000, b"x"));
    let keyed = |key: u32, seq: Option<u32>| {
        let flags = if seq.is_some() { 0x30 } else { 0x20 };
        let seq = seq.map(u32::to_be_bytes).unwrap_or_default();
        let n = if flags == 0x30 { 4 } else { 0 };
        [&[flags, 0, 0x08, 0x00][..], &key.to_be_bytes(), &seq[..n], &inner].concat()
    };
    let ppp = [&[0xff, 0x03, 0x00, 0x21][..], &inner].concat();
    // Enhanced GRE: a sequence number with a payload, an acknowledgment number, or both.
    let pptp = |call: u16, seq: Option<u32>, ack: Option<u32>| {
        let flags = if seq.is_some() { 0x30 } else { 0x20 };
        let version = if ack.is_some() { 0x81 } else { 0x01 };
        let payload = if seq.is_some() { &ppp[..] } else { &[][..] };
        let seq = seq.map(|s| s.to_be_bytes().to_vec()).unwrap_or_default();
        let ack = ack.map(|a| a.to_be_bytes().to_vec()).unwrap_or_default();
        [
            &[flags, version, 0x88, 0x0b][..],
            &(payload.len() as u16).to_be_bytes(),
            &call.to_be_bytes(),
            &seq,
            &ack,
            payload,
        ]
        .concat()
    };
    const M: u32 = u32::MAX;
    let mut frames = Vec::new();
    for seq in [M - 3, M - 2, M, M - 1, 0, 0, 3, 1, 2, 5] {
        frames.push(ipv4(47, A, B, &keyed(7, Some(seq))));
    }
    frames.push(ipv4(47, A, B, &keyed(7, None)));
    for seq in [100, 101, 99, 102, 110] {
        frames.push(ipv4(47, B, A, &keyed(7, Some(seq))));
    }
    const C: [u8; 4] = [198, 51, 100, 3];
    const D: [u8; 4] = [198, 51, 100, 4];
    let calls = [
        (A, C, 6016, Some(1), None),
        (A, C, 6016, Some(2), None),
        (C, A, 17, Some(10), Some(2)),
        (A, C, 6016, Some(3), Some(10)),
        (A, C, 6016, Some(3), None),
        (C, A, 17, Some(12), None),
        (C, A, 17, None, Some(3)),
        // A sender that only acknowledges.
        (D, A, 40, None, Some(7)),
        (D, A, 40, None, Some(9)),
    ];
    for (src, dst, call, seq, ack) in calls {
        frames.push(ipv4(47, src, dst, &pptp(call, seq, ack)));
    }
    let frames: Vec<Vec<u8>> = frames.iter().map(|f| ether(0x0800, f)).collect();
    let f = pcap("gre_sequence.pcap", EN10MB, &frames);
    let r = check_built(&f, &[TunnelKind::Gre, TunnelKind::Gre, TunnelKind::Gre]);

    // tshark's sequence and acknowledgment numbers per (sender, key or call ID), in frame order.
    let mut numbers: BTreeMap<(String, u32), Vec<u32>> = BTreeMap::new();
    let mut acks: BTreeMap<(String, u32), Vec<u32>> = BTreeMap::new();
    let fields = ["ip.src", "gre.key", "gre.key.call_id", "gre.sequence_number", "gre.ack_number"];
    for row in tshark(&f, &fields) {
        let key = values(&row[1]).chain(values(&row[2])).next().expect("a key or call ID");
        let at = (values(&row[0]).next().unwrap().to_string(), num(key) as u32);
        if let Some(seq) = values(&row[3]).next() {
            numbers.entry(at.clone()).or_default().push(num(seq) as u32);
        }
        if let Some(ack) = values(&row[4]).next() {
            acks.entry(at).or_default().push(num(ack) as u32);
        }
    }
    assert_eq!((numbers.len(), acks.len()), (4, 3), "{numbers:?} {acks:?}");
    let (mut seen, mut seen_acks) = (BTreeMap::new(), BTreeMap::new());
    for t in &r.tunnels {
        let g = t.gre.as_ref().expect("GRE with sequence or acknowledgment numbers has its sequences");
        assert_eq!(g.unfollowed_packets, 0);
        for q in &g.sequences {
            assert_eq!(q.seq_resyncs, 0, "{q:?}");
            let at = (q.sender.clone(), q.key.expect("keyed"));
            if q.packets > 0 {
                let (first, last) = (q.first_seq.expect("numbered"), q.last_seq.expect("numbered"));
                seen.insert(at.clone(), (q.packets, first, last, q.seq_gaps, q.seq_reordered, q.seq_repeats));
            } else {
                assert_eq!((q.first_seq, q.last_seq), (None, None), "{q:?}");
            }
            if q.acks > 0 {
                seen_acks.insert(at, (q.acks, q.last_ack.expect("an acknowledgment")));
            }
        }
    }
    let want: BTreeMap<_, _> = numbers.iter().map(|(k, v)| (k.clone(), follow(v))).collect();
    assert_eq!(seen, want, "(packets, first, last, gaps, late, repeats) per sender and key: report, tshark's numbers");
    // The hand-worked figures of the wrapping stream, so the oracle above is checked too.
    assert_eq!(want[&("198.51.100.1".to_string(), 7)], (10, M - 3, 5, 1, 3, 1));
    let want_acks: BTreeMap<_, _> =
        acks.iter().map(|(k, v)| (k.clone(), (v.len() as u64, *v.last().unwrap()))).collect();
    assert_eq!(seen_acks, want_acks, "(acknowledgments, latest) per sender and call ID: report, tshark");
    assert_eq!(want_acks[&("198.51.100.4".to_string(), 40)], (2, 9));
    let text = run(&["replay", f.to_str().unwrap()]).stdout;
    assert!(
        text.contains("#0 gre sequence from 198.51.100.2 key 7: 5 packets, 99..110, 7 missing, 1 late, 0 repeated\n"),
        "{text}"
    );
    assert!(
        text.contains("#2 gre sequence from 198.51.100.4 key 40: no numbered packets; 2 acknowledgments, latest 9\n"),
        "{text}"
    );
    assert!(text.contains("key 6016: 4 packets, 1..3, 0 missing, 0 late, 1 repeated; 1 acknowledgment, latest 10\n"));
    assert!(
        text.contains("key 17: 2 packets, 10..12, 1 missing, 0 late, 0 repeated; 2 acknowledgments, latest 3\n"),
        "{text}"
    );
}

/// A run of serial numbers read independently of the report's window: unwrapped by their
/// differences, then gaps are the numbers between the lowest and highest never seen, a late
/// packet one below the highest seen so far and new, a repeat one seen before.
fn follow(nums: &[u32]) -> (u64, u32, u32, u64, u64, u64) {
    let (mut u, mut prev) = (0i64, nums[0]);
    let mut seen = BTreeSet::new();
    let (mut late, mut repeats, mut max) = (0, 0, i64::MIN);
    let (mut lo, mut hi) = ((0i64, nums[0]), (0i64, nums[0]));
    for &n in nums {
        u += i64::from(n.wrapping_sub(prev) as i32);
        prev = n;
        if !seen.insert(u) {
            repeats += 1;
        } else if u < max {
            late += 1;
        }
        max = max.max(u);
        if u < lo.0 {
            lo = (u, n);
        }
        if u > hi.0 {
            hi = (u, n);
        }
    }
    let gaps = (hi.0 - lo.0 + 1) as u64 - seen.len() as u64;
    (nums.len() as u64, lo.1, hi.1, gaps, late, repeats)
}

/// VXLAN-GPE (UDP 4790) carrying IPv4 directly: its VNI and inner flow as tshark reads them.
#[test]
fn vxlan_gpe() {
    let inner = ipv4(17, [10, 7, 0, 1], [10, 7, 0, 2], &udp(1111, 2222, b"x"));
    let gpe = [&[0x0c, 0, 0, 1, 0, 0x30, 0x39, 0][..], &inner].concat();
    let f = pcap("vxlan_gpe.pcap", EN10MB, &[ether(0x0800, &ipv4(17, A, B, &udp(50000, 4790, &gpe)))]);
    let r = check_built(&f, &[TunnelKind::Vxlan]);
    assert_eq!(r.tunnels[0].ids, ["12345"]);
    assert_eq!(report_inner(&r), tshark_inner(&f));
}

/// L2TPv2 (control and data with PPP) on UDP 1701, and L2TPv3 over IP (protocol 115) and
/// over UDP carrying Ethernet.
#[test]
fn l2tp_v2_and_v3() {
    let ppp_ip = |ip: &[u8]| [&[0xff, 0x03, 0x00, 0x21][..], ip].concat();
    let inner = ipv4(17, [10, 9, 0, 1], [10, 9, 0, 2], &udp(1000, 2000, b"hello"));
    // SCCRQ-like control: T L S, tunnel 0, session 0, Ns Nr, one AVP (message type 1).
    let ctl = [0xc8, 0x02, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 8, 0, 0, 0, 0, 0, 1];
    let mut data = vec![0x40, 0x02, 0, 0, 0, 7, 0, 9];
    data.extend_from_slice(&ppp_ip(&inner));
    let l = data.len() as u16;
    data[2..4].copy_from_slice(&l.to_be_bytes());
    let frames = vec![
        ether(0x0800, &ipv4(17, A, B, &udp(1701, 1701, &ctl))),
        ether(0x0800, &ipv4(17, A, B, &udp(1701, 1701, &data))),
    ];
    let f = pcap("l2tpv2.pcap", EN10MB, &frames);
    let r = check_built(&f, &[TunnelKind::L2tp]);
    assert_eq!(report_inner(&r), tshark_inner(&f));
    assert_eq!(r.tunnels[0].variant.as_deref(), Some("l2tpv2"));
    // L2TPv3 over IP: session 0x2001, no cookie, Ethernet inside.
    let eth = ether(0x0800, &inner);
    let v3 = [&0x2001u32.to_be_bytes()[..], &eth].concat();
    let frames = vec![ether(0x0800, &ipv4(115, A, B, &v3)), ether(0x0800, &ipv4(115, B, A, &v3))];
    let f = pcap("l2tpv3_ip.pcap", EN10MB, &frames);
    let r = check_built(&f, &[TunnelKind::L2tp]);
    // Without the control connection that announced it, tshark must be told the pseudowire
    // carries Ethernet; tuntrace finds the Ethernet header itself.
    assert_eq!(report_inner(&r), tshark_inner_with(&f, &["-d", "l2tp.pw_type==0,eth"]));
    assert_eq!(r.tunnels[0].ids, ["8193"]);
    // The same over UDP 1701 (version 3 in the header's version field).
    let mut v3u = vec![0x00, 0x03, 0, 0];
    v3u.extend_from_slice(&v3);
    let f = pcap("l2tpv3_udp.pcap", EN10MB, &[ether(0x0800, &ipv4(17, A, B, &udp(1701, 1701, &v3u)))]);
    let r = check_built(&f, &[TunnelKind::L2tp]);
    assert_eq!(report_inner(&r), tshark_inner_with(&f, &["-d", "l2tp.pw_type==0,eth"]));
    assert_eq!(r.tunnels[0].ids, ["8193"]);
    let f = pcap("l2tpv3_ip.pcap", EN10MB, &frames);
    let r = replay_json(&f);
    assert_eq!((r.tunnels[0].variant.as_deref(), r.tunnels[0].transport.as_str()), (Some("l2tpv3"), "ip"));
}

/// The PPP link types: PPP (9) with and without HDLC framing, PPP_HDLC (50) and Cisco HDLC,
/// PPP_WITH_DIR (204). Their IP flows are what tshark reads.
#[test]
fn ppp_link_types() {
    let pkt = |n: u8| {
        ipv4(
            17,
            [10, 0, 0, n],
            [10, 0, 0, 200],
            &udp(5060, 5060, &sip("OPTIONS sip:x SIP/2.0", &format!("o{n}"), "1 OPTIONS", "")),
        )
    };
    let lcp = vec![0xff, 0x03, 0xc0, 0x21, 1, 1, 0, 4];
    for (name, lt, frames) in [
        (
            "ppp9.pcap",
            9,
            vec![[&[0xff, 0x03, 0x00, 0x21][..], &pkt(1)].concat(), [&[0x00, 0x21][..], &pkt(2)].concat(), lcp.clone()],
        ),
        (
            "ppp50.pcap",
            50,
            vec![[&[0xff, 0x03, 0x00, 0x21][..], &pkt(3)].concat(), [&[0x0f, 0x00, 0x08, 0x00][..], &pkt(4)].concat()],
        ),
        (
            "ppp204.pcap",
            204,
            vec![
                [&[1, 0xff, 0x03, 0x00, 0x21][..], &pkt(5)].concat(),
                [&[0, 0xff, 0x03, 0x00, 0x21][..], &pkt(6)].concat(),
            ],
        ),
    ] {
        let f = pcap(name, lt, &frames);
        let r = replay_json(&f);
        assert_eq!(r.stats.malformed, 0, "{name}: {:?}", r.malformed);
        assert!(r.unknown_linktypes.is_empty(), "{name}");
        let got = report_convs(&r);
        let want: BTreeSet<Conv> = tshark(&f, &["ip.src", "ip.dst", "udp.srcport", "udp.dstport"])
            .into_iter()
            .filter(|r| !r[0].is_empty())
            .map(|r| conv(&r[0], r[2].parse().unwrap(), &r[1], r[3].parse().unwrap()))
            .collect();
        assert_eq!(got, want, "{name}");
        assert_eq!(r.sip.dialogs.len(), want.len(), "{name}: an OPTIONS dialog per frame");
    }
}

/// NFLOG (239), as `tcpdump -i nflog:N` writes what an iptables NFLOG rule logged (strongSwan's
/// way to see IPsec traffic in the clear): attributes in either byte order, the packet in its
/// payload attribute. The flows, SIP Call-IDs and directions are what tshark reads.
#[test]
fn nflog_link_type() {
    let attr = |little: bool, ty: u16, v: &[u8]| {
        let len = 4 + v.len() as u16;
        let mut a = if little {
            [len.to_le_bytes(), ty.to_le_bytes()].concat()
        } else {
            [len.to_be_bytes(), ty.to_be_bytes()].concat()
        };
        a.extend_from_slice(v);
        a.resize(a.len().next_multiple_of(4), 0);
        a
    };
    // hook 1 (LOCAL_IN) with the input device, hook 3 (LOCAL_OUT) with the output device.
    let record = |little: bool, out: bool, packet: &[u8]| {
        let mut f = vec![2, 0, 0, 5];
        f.extend(attr(little, 1, &[0x08, 0x00, if out { 3 } else { 1 }, 0]));
        f.extend(attr(little, 10, if out { b"ipsec-out\0" } else { b"ipsec-in\0" }));
        f.extend(attr(little, if out { 5 } else { 4 }, &2u32.to_be_bytes()));
        if out {
            f.extend(attr(little, 11, &1000u32.to_be_bytes()));
        }
        f.extend(attr(little, 9, packet));
        f
    };
    let msg = |n: u8, first: &str, cseq: &str| {
        let sender = if first.starts_with("SIP/2.0") { [10, 1, 0, 2] } else { [10, 1, 0, 1] };
        let receiver = if sender == [10, 1, 0, 1] { [10, 1, 0, 2] } else { [10, 1, 0, 1] };
        ipv4(17, sender, receiver, &udp(5060, 5060, &sip(first, &format!("nflog-{n}"), cseq, "")))
    };
    for little in [true, false] {
        let frames = vec![
            record(little, true, &msg(1, "REGISTER sip:ims.example SIP/2.0", "1 REGISTER")),
            record(little, false, &msg(1, "SIP/2.0 200 OK", "1 REGISTER")),
            record(little, true, &msg(2, "OPTIONS sip:ims.example SIP/2.0", "1 OPTIONS")),
        ];
        // A big-endian host writes its pcap file big-endian too (which is how readers know
        // the attributes' order).
        let name = if little { "nflog_le.pcap" } else { "nflog_be.pcap" };
        let f = if little { pcap(name, 239, &frames) } else { pcap_big_endian(name, 239, &frames) };
        let r = replay_json(&f);
        assert_eq!(r.stats.malformed, 0, "{name}: {:?}", r.malformed);
        assert!(r.unknown_linktypes.is_empty(), "{name}: {:?}", r.unknown_linktypes);
        let rows = tshark(&f, &["ip.src", "ip.dst", "udp.srcport", "udp.dstport", "sip.Call-ID", "nflog.prefix"]);
        assert_eq!(rows.len(), 3, "{name}: tshark reads every record");
        let want: BTreeSet<Conv> =
            rows.iter().map(|r| conv(&r[0], num(&r[2]) as u16, &r[1], num(&r[3]) as u16)).collect();
        let got = report_convs(&r);
        assert_eq!(got, want, "{name}");
        let call_ids: BTreeSet<String> = rows.iter().map(|r| r[4].clone()).collect();
        let ours = report_call_ids(&r);
        assert_eq!(ours, call_ids, "{name}");
        assert_eq!(rows[0][5], "ipsec-out", "{name}: tshark reads the attributes as written");
    }
}

/// MPLS-labelled Ethernet (0x8847, 0x8848), as on a carrier's backbone: label stacks of one to
/// three entries, behind a VLAN tag, IPv6 inside, and an Ethernet pseudowire (without a control
/// word, between two Cisco addresses: tshark tells the two forms apart by vendor codes; the
/// control-word form is checked in the link decoder's tests). Flows and Call-IDs as tshark reads
/// them; nothing counted as damage.
#[test]
fn mpls_labelled_ethernet() {
    let label = |value: u32, bottom: bool| (value << 12 | u32::from(bottom) << 8 | 64).to_be_bytes().to_vec();
    let stack = |labels: &[u32]| -> Vec<u8> {
        labels.iter().enumerate().flat_map(|(i, &l)| label(l, i + 1 == labels.len())).collect()
    };
    let msg = |n: u32, src: [u8; 4], dst: [u8; 4], first: &str, cseq: &str| {
        ipv4(17, src, dst, &udp(5060, 5060, &sip(first, &format!("mpls-{n}"), cseq, "")))
    };
    let (ue, pcscf) = ([10, 20, 0, 1], [10, 20, 0, 2]);
    let v6 = ipv6(
        17,
        "2001:db8::1",
        "2001:db8::2",
        &udp(5060, 5060, &sip("OPTIONS sip:x SIP/2.0", "mpls-6", "1 OPTIONS", "")),
    );
    // Cisco's vendor code (00:00:0c) at both ends.
    let mut pw_frame = vec![0x00, 0x00, 0x0c, 0x11, 0x22, 0x33, 0x00, 0x00, 0x0c, 0x44, 0x55, 0x66, 0x08, 0x00];
    pw_frame.extend(msg(3, [10, 21, 0, 1], [10, 21, 0, 2], "OPTIONS sip:q SIP/2.0", "1 OPTIONS"));
    let frames = vec![
        ether(
            0x8847,
            &[stack(&[16, 17]), msg(1, ue, pcscf, "REGISTER sip:ims.example SIP/2.0", "1 REGISTER")].concat(),
        ),
        ether(0x8847, &[stack(&[18]), msg(1, pcscf, ue, "SIP/2.0 200 OK", "1 REGISTER")].concat()),
        ether(
            0x8100,
            &[
                &[0, 100, 0x88, 0x47][..],
                &stack(&[20, 21, 22]),
                &msg(2, ue, pcscf, "OPTIONS sip:p SIP/2.0", "1 OPTIONS"),
            ]
            .concat(),
        ),
        ether(0x8848, &[stack(&[30]), v6].concat()),
        ether(0x8847, &[stack(&[40]), pw_frame].concat()),
    ];
    // Conversations and Call-IDs as tshark reads them, every frame a packet.
    let (r, want) = link_type_matches_tshark("mpls.pcap", EN10MB, &frames, Some(frames.len()));
    assert_eq!(want.len(), 3, "tshark follows every stack and the pseudowire: {want:?}");
    assert_eq!(r.flows.len(), 3, "{:?}", r.flows);
}

/// IKE and ESP in TCP (RFC 8229): the IKE and ESP-in-UDP datagrams of a corpus capture carried
/// instead in one TCP stream (the initiator's "IKETCP" prefix, 2-byte lengths; records split
/// across segments and several in one segment), on port 4500 and on 443. The IKE SAs and the ESP
/// SAs' packets and sequence numbers as tshark reads them in the original datagrams.
#[test]
fn ike_and_esp_in_tcp() {
    let Some(dir) = corpus_dir() else { return };
    let src = dir.join("ikev2_natt_espudp.pcapng");
    let rows = tshark(&src, &["ip.src", "udp.payload"]);
    let initiator = rows[0][0].clone();
    // (from the initiator, record payload): keepalives (one 0xff byte) are not carried in TCP.
    let records: Vec<(bool, Vec<u8>)> = rows
        .iter()
        .filter(|r| r[1].len() > 2)
        .map(|r| {
            (
                r[0] == initiator,
                (0..r[1].len()).step_by(2).map(|i| num(&format!("0x{}", &r[1][i..i + 2])) as u8).collect(),
            )
        })
        .collect();
    assert!(records.len() > 20, "{}", records.len());
    let oracle = tshark(&src, &["isakmp.ispi", "isakmp.rspi", "esp.spi", "esp.sequence"]);
    for port in [4500u16, 443] {
        let (cport, mut cseq, mut sseq) = (40_000u16, 1_000u32, 9_000u32);
        let seg = |from_client: bool, cseq: &mut u32, sseq: &mut u32, flags: u8, data: &[u8]| {
            let (s, d, sp, dp) = if from_client { (A, B, cport, port) } else { (B, A, port, cport) };
            let (seq, ack) = if from_client { (*cseq, *sseq) } else { (*sseq, *cseq) };
            let grow = data.len() as u32 + u32::from(flags & 0x02 != 0);
            if from_client {
                *cseq += grow;
            } else {
                *sseq += grow;
            }
            ether(0x0800, &ipv4(6, s, d, &tcp(sp, dp, seq, ack, flags, data)))
        };
        let mut frames = vec![
            seg(true, &mut cseq, &mut sseq, 0x02, &[]),
            seg(false, &mut cseq, &mut sseq, 0x12, &[]),
            seg(true, &mut cseq, &mut sseq, 0x10, &[]),
        ];
        let mut first = true;
        let mut i = 0;
        while i < records.len() {
            let (from_client, rec) = &records[i];
            let framed = |rec: &[u8]| [&((rec.len() + 2) as u16).to_be_bytes()[..], rec].concat();
            let mut data = framed(rec);
            if first {
                data = [b"IKETCP".as_slice(), &data].concat();
                first = false;
            }
            // Two records of one sender in one segment, now and then.
            if i % 5 == 1 && records.get(i + 1).is_some_and(|(f, _)| f == from_client) {
                data.extend(framed(&records[i + 1].1));
                i += 1;
            }
            if i % 7 == 3 {
                // A record split across two segments.
                let (a, b) = data.split_at(data.len() / 2);
                frames.push(seg(*from_client, &mut cseq, &mut sseq, 0x18, a));
                frames.push(seg(*from_client, &mut cseq, &mut sseq, 0x18, b));
            } else {
                frames.push(seg(*from_client, &mut cseq, &mut sseq, 0x18, &data));
            }
            i += 1;
        }
        let name = format!("ike_tcp_{port}.pcap");
        let f = pcap(&name, EN10MB, &frames);
        let r = replay_json(&f);
        assert_eq!(r.stats.malformed, 0, "{name}: {:?}", r.malformed);
        assert_eq!(r.flows.len(), 1, "{name}");
        assert_eq!(r.flows[0].app, App::Ike, "{name}");
        // tshark has no dissector for this encapsulation (its "tcpencap" is Cisco's older
        // one): the oracle is its reading of the datagrams the stream was built from.
        let t = &oracle;
        let ispis: BTreeSet<String> =
            t.iter().flat_map(|r| values(&r[0]).map(str::to_string).collect::<Vec<_>>()).collect();
        assert!(!ispis.is_empty(), "{name}: tshark reads IKE in the stream");
        let ours: BTreeSet<String> = r.ike_sas.iter().map(|s| s.initiator_spi.clone()).collect();
        assert_eq!(ours, ispis, "{name}: IKE SAs (report, tshark)");
        // Per SPI: packets, lowest and highest sequence number.
        let mut esp: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for row in t {
            for (spi, seq) in values(&row[2]).zip(values(&row[3])) {
                let e = esp.entry(format!("{:08x}", num(spi))).or_insert((0, u64::MAX, 0));
                let n = num(seq);
                *e = (e.0 + 1, e.1.min(n), e.2.max(n));
            }
        }
        assert!(esp.len() >= 2, "{name}: {esp:?}");
        let ours: BTreeMap<String, (u64, u64, u64)> = r
            .esp_sas
            .iter()
            .map(|e| (e.spi.clone(), (e.packets, e.first_seq.unwrap_or(0).into(), e.last_seq.unwrap_or(0).into())))
            .collect();
        assert_eq!(ours, esp, "{name}: ESP SAs (report, tshark)");
        assert!(r.esp_sas.iter().all(|e| e.encap == Encap::Tcp), "{name}");
    }
}

/// ENC (109), OpenBSD's `tcpdump -i enc0`: IPsec traffic in the clear behind a header naming
/// the address family and the SA's SPI. Flows and Call-IDs as tshark reads them.
#[test]
fn openbsd_enc_link_type() {
    let sip_pkt = |n: u8| {
        let m = sip("OPTIONS sip:peer.example SIP/2.0", &format!("enc-{n}"), "1 OPTIONS", "");
        ipv4(17, [10, 2, 0, 1], [10, 2, 0, n], &udp(5060, 5060, &m))
    };
    let frame = |n: u8| {
        let mut f = 2u32.to_le_bytes().to_vec();
        f.extend_from_slice(&(0xc0de_0000u32 + u32::from(n)).to_be_bytes());
        f.extend_from_slice(&0x0c00u32.to_le_bytes()); // M_CONF | M_AUTH
        f.extend(sip_pkt(n));
        f
    };
    let f = pcap("enc.pcap", 109, &[frame(2), frame(3)]);
    let r = replay_json(&f);
    assert_eq!(r.stats.malformed, 0, "{:?}", r.malformed);
    assert!(r.unknown_linktypes.is_empty(), "{:?}", r.unknown_linktypes);
    let rows = tshark(&f, &["ip.src", "ip.dst", "udp.srcport", "udp.dstport", "sip.Call-ID"]);
    let want: BTreeSet<Conv> = rows.iter().map(|r| conv(&r[0], num(&r[2]) as u16, &r[1], num(&r[3]) as u16)).collect();
    let got = report_convs(&r);
    assert_eq!((got.len(), got), (2, want));
    let ids: BTreeSet<String> = rows.iter().map(|r| r[4].clone()).collect();
    assert_eq!(r.sip.dialogs.iter().map(|d| d.call_id.clone()).collect::<BTreeSet<_>>(), ids);
}

/// A pcap file as a big-endian host writes it (microsecond timestamps), beside the built ones.
fn pcap_big_endian(name: &str, linktype: u32, frames: &[Vec<u8>]) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tunnels-built").join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut b = 0xa1b2_c3d4u32.to_be_bytes().to_vec();
    b.extend_from_slice(&2u16.to_be_bytes());
    b.extend_from_slice(&4u16.to_be_bytes());
    for w in [0u32, 0, 262_144, linktype] {
        b.extend_from_slice(&w.to_be_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        for w in [1_767_225_600u32, i as u32 * 1000, f.len() as u32, f.len() as u32] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        b.extend_from_slice(f);
    }
    std::fs::write(&path, b).unwrap();
    path
}

/// OpenVPN over TCP: records framed by their 2-byte length, one split across two segments and
/// two in one segment, counted per record as tshark counts them.
#[test]
fn openvpn_over_tcp_framing() {
    let (csid, ssid) = (0x1122334455667788u64, 0x99aabbccddeeff00u64);
    let rec = |p: &[u8]| [&(p.len() as u16).to_be_bytes()[..], p].concat();
    let control = |op: u8, sid: u64, acks: &[u32], remote: u64, pid: u32, payload: &[u8]| {
        let mut v = vec![op << 3];
        v.extend_from_slice(&sid.to_be_bytes());
        v.push(acks.len() as u8);
        for a in acks {
            v.extend_from_slice(&a.to_be_bytes());
        }
        if !acks.is_empty() {
            v.extend_from_slice(&remote.to_be_bytes());
        }
        if op != 5 {
            v.extend_from_slice(&pid.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    };
    let reset_c = rec(&control(7, csid, &[], 0, 0, &[]));
    let reset_s = rec(&control(8, ssid, &[0], csid, 0, &[]));
    let hello = rec(&control(4, csid, &[0], ssid, 1, &[0x16; 100]));
    let ack = rec(&control(5, ssid, &[1], csid, 0, &[]));
    let data = |n: u8| rec(&[&[9 << 3, 0, 0, 1][..], &[n; 40]].concat());
    let (cp, sp) = (40000u16, 1194u16);
    let mut seq = (1000u32, 5000u32);
    let mut frames = vec![ether(0x0800, &ipv4(6, A, B, &tcp(cp, sp, seq.0 - 1, 0, 0x02, &[])))];
    let mut send = |from_client: bool, bytes: &[u8], frames: &mut Vec<Vec<u8>>| {
        let (s, d, src, dst, q) = if from_client { (cp, sp, A, B, &mut seq.0) } else { (sp, cp, B, A, &mut seq.1) };
        frames.push(ether(0x0800, &ipv4(6, src, dst, &tcp(s, d, *q, 1, 0x18, bytes))));
        *q += bytes.len() as u32;
    };
    send(true, &reset_c, &mut frames);
    send(false, &reset_s, &mut frames);
    send(true, &hello[..50], &mut frames);
    send(true, &hello[50..], &mut frames);
    send(false, &ack, &mut frames);
    send(true, &[data(1), data(2)].concat(), &mut frames);
    send(false, &data(3), &mut frames);
    let f = pcap("openvpn_tcp.pcap", EN10MB, &frames);
    let r = check_built(&f, &[TunnelKind::Openvpn]);
    let t = &r.tunnels[0];
    assert_eq!((t.transport.as_str(), t.packets, t.variant.as_deref()), ("tcp", 7, Some("plain")));
    let o = t.openvpn.as_ref().unwrap();
    assert_eq!((o.control_packets, o.ack_packets, o.data_packets), (3, 1, 3));
    assert_eq!(
        (o.client_session_ids.clone(), o.server_session_ids.clone()),
        (vec![format!("{csid:016x}")], vec![format!("{ssid:016x}")])
    );
    assert_eq!(o.client.as_deref(), Some("198.51.100.1:40000"));
    let opcodes: u64 = tshark(&f, &["openvpn.opcode"]).iter().map(|r| values(&r[0]).count() as u64).sum();
    assert_eq!(opcodes, t.packets, "tshark's OpenVPN packets");
}

/// WireGuard's four messages on a port that is not 51820: the handshake recognises it;
/// initiation and response pair into a session, a cookie reply is counted, transport data is
/// counted per direction into its session, and a second handshake is a rekey.
#[test]
fn wireguard_sessions_cookie_and_rekey() {
    let (i1, r1, i2, r2) = (0x11111111u32, 0x22222222u32, 0x33333333u32, 0x44444444u32);
    let (up, dn) = (
        |b: Vec<u8>| ether(0x0800, &ipv4(17, A, B, &udp(40001, 443, &b))),
        |b: Vec<u8>| ether(0x0800, &ipv4(17, B, A, &udp(443, 40001, &b))),
    );
    let frames = vec![
        up(wg(1, i1, 0, 148)),
        dn(wg(3, i1, 0, 64)),
        up(wg(1, i1, 0, 148)),
        dn(wg(2, r1, i1, 92)),
        up(wg(4, r1, 0, 32)),
        up(wg(4, r1, 1, 64)),
        dn(wg(4, i1, 0, 48)),
        up(wg(1, i2, 0, 148)),
        dn(wg(2, r2, i2, 92)),
        up(wg(4, r2, 0, 80)),
    ];
    let f = pcap("wireguard.pcap", EN10MB, &frames);
    let r = check_built(&f, &[TunnelKind::Wireguard]);
    let t = &r.tunnels[0];
    let w = t.wireguard.as_ref().unwrap();
    assert_eq!((w.initiations, w.responses, w.cookie_replies, w.transport_packets), (3, 2, 1, 4));
    assert_eq!((w.handshakes, w.rekeys, w.unpaired_transport), (2, 1, 0));
    assert_eq!(w.sessions.len(), 2);
    let s = &w.sessions[0];
    assert_eq!((s.initiator_index.as_str(), s.responder_index.as_deref()), ("11111111", Some("22222222")));
    assert_eq!((s.packets_to_responder, s.packets_to_initiator), (2, 1));
    assert_eq!(s.initiator, "198.51.100.1:40001");
    // tshark pairs the same indices.
    let pairs: BTreeSet<(String, String)> = tshark(&f, &["wg.type", "wg.sender", "wg.receiver"])
        .into_iter()
        .filter(|r| r[0] == "2")
        .map(|r| (format!("{:08x}", num(&r[2])), format!("{:08x}", num(&r[1]))))
        .collect();
    let ours: BTreeSet<(String, String)> =
        w.sessions.iter().map(|s| (s.initiator_index.clone(), s.responder_index.clone().unwrap())).collect();
    assert_eq!(ours, pairs);
    assert!(r.verdicts.iter().any(|v| v.summary.starts_with("WireGuard VPN")), "{:#?}", r.verdicts);
    // A session under way before the capture, on another port: transport data alone, as tshark's
    // heuristic reads it; its indices unpaired.
    let (up, dn) = (
        |b: Vec<u8>| ether(0x0800, &ipv4(17, A, B, &udp(40002, 4444, &b))),
        |b: Vec<u8>| ether(0x0800, &ipv4(17, B, A, &udp(4444, 40002, &b))),
    );
    let frames = vec![up(wg(4, r1, 77, 64)), dn(wg(4, i1, 90, 48)), up(wg(4, r1, 78, 32))];
    let f = pcap("wireguard_midsession.pcap", EN10MB, &frames);
    let r = check_built(&f, &[TunnelKind::Wireguard]);
    let w = r.tunnels[0].wireguard.as_ref().unwrap();
    assert_eq!((w.transport_packets, w.unpaired_transport, w.handshakes), (3, 3, 0));
}

/// PPPoE from discovery to session: the concentrator's offer, the request, the confirmation
/// assigning the session ID and the session's IP traffic are one tunnel between the two MAC
/// addresses, its identifiers tshark's (the broadcast PADI names no concentrator: not counted).
#[test]
fn pppoe_discovery_and_session() {
    let (client, ac) = ([0x02, 0, 0, 0, 0, 0x0c], [0x02, 0, 0, 0, 0, 0xac]);
    let frame = |dst: [u8; 6], src: [u8; 6], ethertype: u16, body: &[u8]| {
        [&dst[..], &src[..], &ethertype.to_be_bytes(), body].concat()
    };
    let disc = |code: u8, sid: u16| [&[0x11, code][..], &sid.to_be_bytes(), &[0, 4, 0x01, 0x01, 0, 0]].concat();
    let ip = ipv4(17, [100, 64, 0, 2], [192, 0, 2, 53], &udp(5353, 53, b"q"));
    let ppp = [&[0x00, 0x21][..], &ip].concat();
    let mut sess = vec![0x11, 0x00, 0x12, 0x34];
    sess.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
    sess.extend_from_slice(&ppp);
    let frames = vec![
        frame([0xff; 6], client, 0x8863, &disc(0x09, 0)),
        frame(client, ac, 0x8863, &disc(0x07, 0)),
        frame(ac, client, 0x8863, &disc(0x19, 0)),
        frame(client, ac, 0x8863, &disc(0x65, 0x1234)),
        frame(ac, client, 0x8864, &sess),
        frame(client, ac, 0x8863, &disc(0xa7, 0x1234)),
    ];
    let f = pcap("pppoe_discovery.pcap", EN10MB, &frames);
    let r = check_built(&f, &[TunnelKind::Pppoe]);
    let t = &r.tunnels[0];
    assert_eq!((t.src.as_str(), t.dst.as_str(), t.packets), ("02:00:00:00:00:ac", "02:00:00:00:00:0c", 5));
    assert_eq!(t.ids, ["0", "4660"]);
    assert_eq!(report_inner(&r), tshark_inner(&f));
}

/// IKE and SIP on unusual ports are asked for before the tunnels recognised on any port: an
/// IKE_SA_INIT whose initiator SPI begins like an OpenVPN client's hard reset stays IKE.
#[test]
fn ike_on_an_unusual_port_is_not_taken_for_openvpn() {
    let mut ike = vec![0x38, 1, 2, 3, 4, 5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 33, 0x20, 34, 0x08, 0, 0, 0, 0];
    ike.extend_from_slice(&28u32.to_be_bytes());
    let f = pcap("ike_7500.pcap", EN10MB, &[ether(0x0800, &ipv4(17, A, B, &udp(7500, 7500, &ike)))]);
    let r = replay_json(&f);
    assert!(r.tunnels.is_empty(), "{:?}", r.tunnels);
    assert_eq!(r.ike_sas.len(), 1);
    assert_eq!(r.ike_sas[0].initiator_spi, "3801020304050607");
}

/// Monitor-mode 802.11 captures: the bare frame (105), behind radiotap (127: TSFT and Flags
/// fields, a trailing FCS, the data-pad flag), Prism (119), AVS (163) and PPI (192, also with
/// Ethernet inside), and behind Linux cooked headers of a monitor interface (113, 276); data frames with three and four addresses, QoS and HT control, RFC 1042
/// and 802.1H SNAP. Beacons, null data, protected frames and later fragments carry no packet.
/// Flows and Call-IDs as tshark reads them; nothing counted as damage.
#[test]
fn wifi_link_types() {
    let msg = |n: u32, v6: bool| {
        let s = sip("OPTIONS sip:x SIP/2.0", &format!("wifi-{n}"), "1 OPTIONS", "");
        if v6 {
            (0x86dd, ipv6(17, &format!("2001:db8::{n:x}"), "2001:db8::ff", &udp(5060, 5060, &s)))
        } else {
            (0x0800, ipv4(17, [10, 30, 0, n as u8], [10, 30, 0, 254], &udp(5060, 5060, &s)))
        }
    };
    // frame control (type 2 data, `subtype`), duration, three addresses, sequence control,
    // a fourth address when both DS bits are set, QoS control (and HT control) for QoS data.
    let wlan = |subtype: u8, flags: u8, pad: usize, oui: u8, (ethertype, l3): (u16, Vec<u8>)| {
        let mut f = vec![0x08 | subtype << 4, flags, 0x2c, 0];
        f.extend([0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 3]);
        f.extend([0x10, 0]);
        if flags & 0x03 == 0x03 {
            f.extend([0x02, 0, 0, 0, 0, 4]);
        }
        if subtype & 0x08 != 0 {
            f.extend([0x06, 0]);
            if flags & 0x80 != 0 {
                f.extend([0; 4]);
            }
        }
        f.extend(vec![0; pad]);
        f.extend([0xaa, 0xaa, 0x03, 0, 0, oui]);
        f.extend(ethertype.to_be_bytes());
        f.extend(l3);
        f
    };
    let beacon = [&[0x80, 0, 0, 0][..], &[0xff; 6], &[0x02, 0, 0, 0, 0, 1], &[0x02, 0, 0, 0, 0, 1], &[0; 14]].concat();
    let null_data = wlan(4, 0x01, 0, 0, (0, vec![]))[..24].to_vec();
    let protected = {
        let mut f = wlan(0, 0x41, 0, 0, msg(90, false));
        f[24..].iter_mut().for_each(|b| *b ^= 0x5a);
        f
    };
    // A fragment after the first holds the middle of a packet, no SNAP header of its own.
    let second_fragment = {
        let mut f = wlan(0, 0x01, 0, 0, msg(91, false))[..24].to_vec();
        f[22] = 0x11;
        f.extend(b"Via: SIP/2.0/UDP 10.30.0.91:5060\r\n");
        f
    };
    // radiotap: present TSFT, Flags, Rate; the flags byte at 16 (after 8 aligned TSFT bytes).
    let radiotap = |flags: u8, frame: Vec<u8>| {
        let mut h = vec![0, 0, 0, 0, 0b111, 0, 0, 0];
        h.extend(1_000_000u64.to_le_bytes());
        h.extend([flags, 0x0c]);
        let len = h.len() as u16;
        h[2..4].copy_from_slice(&len.to_le_bytes());
        let mut f = [h, frame].concat();
        if flags & 0x10 != 0 {
            f.extend([0xde, 0xad, 0xbe, 0xef]);
        }
        f
    };
    let mut prism_h = vec![0x41, 0, 0, 0, 144, 0, 0, 0];
    prism_h.extend(b"wlan0\0\0\0\0\0\0\0\0\0\0\0");
    prism_h.resize(144, 0);
    let mut avs_h = vec![0x80, 0x21, 0x10, 0x01, 0, 0, 0, 64];
    avs_h.resize(64, 0);
    let ppi = |dlt: u32, frame: Vec<u8>| [&[0u8, 0, 8, 0][..], &dlt.to_le_bytes(), &frame].concat();
    let cases: Vec<(&str, u32, Vec<Vec<u8>>)> = vec![
        (
            "wlan105.pcap",
            105,
            vec![
                wlan(0, 0x01, 0, 0, msg(1, false)),
                wlan(0, 0x02, 0, 0xf8, msg(2, false)),
                wlan(8, 0x83, 0, 0, msg(3, true)),
                beacon.clone(),
                null_data.clone(),
                protected.clone(),
                second_fragment.clone(),
            ],
        ),
        (
            "radiotap127.pcap",
            127,
            vec![
                radiotap(0x10, wlan(8, 0x01, 0, 0, msg(4, false))),
                radiotap(0x20, wlan(8, 0x02, 2, 0, msg(5, false))),
                radiotap(0x30, wlan(8, 0x03, 0, 0, msg(6, true))),
                radiotap(0x00, wlan(0, 0x01, 0, 0, msg(7, false))),
                radiotap(0x10, beacon.clone()),
                radiotap(0x00, protected.clone()),
            ],
        ),
        ("prism119.pcap", 119, vec![[prism_h.clone(), wlan(0, 0x01, 0, 0, msg(8, false))].concat()]),
        // `tcpdump -i any` with a monitor interface: Linux cooked v1 and v2 headers of hardware
        // type 803 (radiotap) in front. (tshark 4.0 does not follow 801, bare 802.11: the link
        // decoder's tests cover it.)
        (
            "sll_radiotap.pcap",
            113,
            vec![[
                &[0, 0, 0x03, 0x23, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0x19][..],
                &radiotap(0x10, wlan(8, 0x01, 0, 0, msg(12, false))),
            ]
            .concat()],
        ),
        (
            "sll2_radiotap.pcap",
            276,
            vec![[
                &[0, 0x19, 0, 0, 0, 0, 0, 3, 0x03, 0x23, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0][..],
                &radiotap(0x00, wlan(0, 0x01, 0, 0, msg(14, false))),
            ]
            .concat()],
        ),
        ("avs163.pcap", 163, vec![[avs_h.clone(), wlan(8, 0x02, 0, 0, msg(9, true))].concat()]),
        (
            "ppi192.pcap",
            192,
            vec![
                ppi(105, wlan(0, 0x01, 0, 0, msg(10, false))),
                ppi(1, {
                    let (et, l3) = msg(11, false);
                    ether(et, &l3)
                }),
            ],
        ),
    ];
    for (name, lt, frames) in cases {
        link_type_matches_tshark(name, lt, &frames, None);
    }
}

/// A built capture of link type `lt`, replayed and read by tshark: no damage, the link type
/// decoded, every frame read by tshark, and the UDP conversations and Call-IDs of the frames it
/// finds packets in (`packets` of them when given) those of the report.
/// Returns the report and tshark's conversations.
fn link_type_matches_tshark(
    name: &str,
    lt: u32,
    frames: &[Vec<u8>],
    packets: Option<usize>,
) -> (Report, BTreeSet<Conv>) {
    let f = pcap(name, lt, frames);
    let r = replay_json(&f);
    assert_eq!(r.stats.malformed, 0, "{name}: {:?}", r.malformed);
    assert!(r.unknown_linktypes.is_empty(), "{name}: {:?}", r.unknown_linktypes);
    let rows = tshark(&f, &["ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport", "sip.Call-ID"]);
    assert_eq!(rows.len(), frames.len(), "{name}: tshark reads every frame");
    let with_ip: Vec<&Vec<String>> = rows.iter().filter(|r| !r[4].is_empty()).collect();
    assert!(!with_ip.is_empty(), "{name}: tshark finds packets");
    if let Some(n) = packets {
        assert_eq!(with_ip.len(), n, "{name}: tshark finds every packet: {rows:?}");
    }
    let want: BTreeSet<Conv> = with_ip
        .iter()
        .map(|r| {
            let (a, b) = if r[0].is_empty() { (&r[2], &r[3]) } else { (&r[0], &r[1]) };
            conv(a, num(&r[4]) as u16, b, num(&r[5]) as u16)
        })
        .collect();
    assert_eq!(report_convs(&r), want, "{name}");
    let call_ids: BTreeSet<String> = with_ip.iter().map(|r| r[6].clone()).collect();
    assert_eq!(report_call_ids(&r), call_ids, "{name}");
    (r, want)
}

/// Cisco HDLC (104) and Endace ERF records (197) as DAG cards write them on carrier links:
/// Ethernet, packet-over-SONET HDLC (PPP and Cisco), multichannel HDLC, raw IPv4 and IPv6,
/// with and without extension headers, and records ATM and padding that carry no packet. Flows
/// and Call-IDs as tshark reads them.
#[test]
fn cisco_hdlc_and_erf_link_types() {
    let msg = |n: u32, v6: bool| {
        let s = sip("OPTIONS sip:x SIP/2.0", &format!("erf-{n}"), "1 OPTIONS", "");
        if v6 {
            ipv6(17, &format!("2001:db8:1::{n:x}"), "2001:db8:1::ff", &udp(5060, 5060, &s))
        } else {
            ipv4(17, [10, 40, 0, n as u8], [10, 40, 0, 254], &udp(5060, 5060, &s))
        }
    };
    let erf = |kind: u8, exts: usize, body: Vec<u8>| {
        let rlen = (16 + exts * 8 + body.len()) as u16;
        let mut r = 1_700_000_000u64.wrapping_shl(32).to_le_bytes().to_vec();
        r.extend([kind | if exts > 0 { 0x80 } else { 0 }, 0x04]);
        r.extend(rlen.to_be_bytes());
        r.extend([0, 0]);
        r.extend((body.len() as u16).to_be_bytes());
        for i in 0..exts {
            r.extend([if i + 1 < exts { 0x83 } else { 0x03 }, 0, 0, 0, 0, 0, 0, 0]);
        }
        r.extend(body);
        r
    };
    let cases: Vec<(&str, u32, Vec<Vec<u8>>)> = vec![
        (
            "chdlc104.pcap",
            104,
            vec![
                [&[0x0f, 0x00, 0x08, 0x00][..], &msg(1, false)].concat(),
                [&[0x8f, 0x00, 0x86, 0xdd][..], &msg(2, true)].concat(),
                // SLARP keepalive: no packet.
                [&[0x8f, 0x00, 0x80, 0x35][..], &[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff]].concat(),
            ],
        ),
        (
            "erf197.pcap",
            197,
            vec![
                erf(2, 0, [vec![0, 0], ether(0x0800, &msg(3, false))].concat()),
                erf(2, 2, [vec![0, 0], ether(0x86dd, &msg(4, true))].concat()),
                erf(1, 0, [&[0xff, 0x03, 0x00, 0x21][..], &msg(5, false)].concat()),
                erf(1, 1, [&[0x0f, 0x00, 0x08, 0x00][..], &msg(6, false)].concat()),
                erf(22, 0, msg(7, false)),
                erf(23, 1, msg(8, true)),
                erf(3, 0, vec![0; 52]),
            ],
        ),
    ];
    for (name, lt, frames) in cases {
        // Every frame but the last (SLARP, ATM) is a packet.
        link_type_matches_tshark(name, lt, &frames, Some(frames.len() - 1));
    }
}

/// IPsec that does not hide what it carries: ESP with the NULL cipher (integrity only, as IMS's
/// Gm interface often runs between phone and P-CSCF) raw and in UDP 4500, transport mode (UDP
/// and TCP SIP) and tunnel mode, ICVs of 12 and 16 bytes; AH in transport and tunnel mode.
/// Beside them an encrypted SA whose packets must not be read. The SIP inside is what tshark
/// reads with its NULL-ESP heuristic on: Call-IDs, and each SIP frame's innermost conversation.
#[test]
fn null_encrypted_esp_and_ah_carry_sip() {
    let (ue, pcscf) = ([198, 51, 100, 10], [198, 51, 100, 20]);
    let sip_udp = |n: u32, first: &str| udp(5060, 5070, &sip(first, &format!("null-{n}"), "1 OPTIONS", ""));
    let esp = |spi: u32, seq: u32, next: u8, inner: &[u8], icv: usize| {
        let mut b = [spi.to_be_bytes(), seq.to_be_bytes()].concat();
        b.extend(inner);
        let pad = (4 - (inner.len() + 2) % 4) % 4;
        b.extend((1..=pad as u8).collect::<Vec<_>>());
        b.extend([pad as u8, next]);
        b.extend((0..icv).map(|i| (i as u8).wrapping_mul(37) ^ 0x5c));
        b
    };
    let tcp_sip = {
        let mut t = vec![0x13, 0xc4, 0x13, 0xc4, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0x10, 0, 0, 0, 0, 0];
        t.extend(sip("OPTIONS sip:tcp SIP/2.0", "null-tcp", "1 OPTIONS", ""));
        t
    };
    let inner_v4 = ipv4(17, [10, 9, 0, 1], [10, 9, 0, 2], &sip_udp(3, "INVITE sip:bob SIP/2.0"));
    let ah = |next: u8, spi: u32, inner: &[u8]| {
        let mut b = vec![next, 4, 0, 0];
        b.extend(spi.to_be_bytes());
        b.extend(1u32.to_be_bytes());
        b.extend([0x77; 12]);
        b.extend(inner);
        b
    };
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut cipher = |len: usize| -> Vec<u8> {
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let mut frames = vec![
        ether(0x0800, &ipv4(50, ue, pcscf, &esp(0x1000, 1, 17, &sip_udp(1, "REGISTER sip:ims SIP/2.0"), 12))),
        ether(0x0800, &ipv4(50, pcscf, ue, &esp(0x2000, 1, 17, &sip_udp(1, "SIP/2.0 200 OK"), 12))),
        ether(0x0800, &ipv4(50, ue, pcscf, &esp(0x1000, 2, 17, &sip_udp(2, "MESSAGE sip:ims SIP/2.0"), 12))),
        ether(0x0800, &ipv4(17, ue, pcscf, &udp(4500, 4500, &esp(0x3000, 1, 4, &inner_v4, 16)))),
        ether(0x0800, &ipv4(50, ue, pcscf, &esp(0x4000, 1, 6, &tcp_sip, 12))),
        ether(0x0800, &ipv4(51, ue, pcscf, &ah(17, 0x5000, &sip_udp(5, "OPTIONS sip:ah SIP/2.0")))),
        ether(
            0x0800,
            &ipv4(
                51,
                ue,
                pcscf,
                &ah(4, 0x6000, &ipv4(17, [10, 9, 1, 1], [10, 9, 1, 2], &sip_udp(6, "OPTIONS sip:aht SIP/2.0"))),
            ),
        ),
    ];
    // The encrypted SA: an IV, ciphertext a multiple of 16 and an ICV, as AES-CBC makes them.
    for seq in 1..=6u32 {
        let mut b = [0x7000u32.to_be_bytes(), seq.to_be_bytes()].concat();
        b.extend(cipher(16 + 16 * (seq as usize % 5 + 1) + 12));
        frames.push(ether(0x0800, &ipv4(50, ue, pcscf, &b)));
    }
    let f = pcap("null_esp.pcap", EN10MB, &frames);
    let r = replay_json(&f);
    assert_eq!(r.stats.malformed, 0, "{:?}", r.malformed);
    let rows = tshark_with(
        &f,
        &["-o", "esp.enable_null_encryption_decode_heuristic:TRUE"],
        &[
            "frame.protocols",
            "ip.src",
            "ip.dst",
            "udp.srcport",
            "udp.dstport",
            "tcp.srcport",
            "tcp.dstport",
            "sip.Call-ID",
        ],
    );
    assert_eq!(rows.len(), frames.len());
    let last = |cell: &str| values(cell).last().map(str::to_string);
    let mut want_convs = BTreeSet::new();
    let mut want_ids = BTreeSet::new();
    for row in rows.iter().filter(|r| r[0].split(':').any(|p| p == "sip")) {
        let (s, d) = (last(&row[1]).unwrap(), last(&row[2]).unwrap());
        let tcp = row[0].split(':').any(|p| p == "tcp");
        let (sp, dp) = if tcp { (&row[5], &row[6]) } else { (&row[3], &row[4]) };
        want_convs.insert(conv(&s, num(&last(sp).unwrap()) as u16, &d, num(&last(dp).unwrap()) as u16));
        want_ids.insert(row[7].clone());
    }
    assert_eq!(
        rows.iter().filter(|r| !r[7].is_empty()).count(),
        7,
        "tshark reads the SIP of every clear packet: {rows:?}"
    );
    let ours: BTreeSet<Conv> = r
        .flows
        .iter()
        .filter(|f| f.app == App::Sip)
        .map(|f| conv(&f.src, f.sport.unwrap_or(0), &f.dst, f.dport.unwrap_or(0)))
        .collect();
    assert_eq!(ours, want_convs);
    assert_eq!(report_call_ids(&r), want_ids);
    let null: BTreeSet<(&str, bool)> = r.esp_sas.iter().map(|s| (s.spi.as_str(), s.null_encryption)).collect();
    let want: BTreeSet<(&str, bool)> =
        [("00001000", true), ("00002000", true), ("00003000", true), ("00004000", true), ("00007000", false)].into();
    assert_eq!(null, want);
}

/// (Call-ID, CSeq) of every SIP message tshark read, in capture order: its `call_id` and `cseq`
/// columns hold one value per message of a frame.
fn tshark_messages(rows: &[Vec<String>], call_id: usize, cseq: usize) -> Vec<(String, String)> {
    rows.iter()
        .flat_map(|r| {
            values(&r[call_id]).map(str::to_string).zip(values(&r[cseq]).map(str::to_string)).collect::<Vec<_>>()
        })
        .collect()
}

/// The CSeqs of every call the report lists, in the order of its messages, each message checked
/// to have come over `transport`.
fn report_messages(r: &Report, transport: Transport) -> BTreeMap<String, Vec<String>> {
    let calls = r.sip.dialogs.iter().map(|d| (&d.call_id, &d.messages));
    calls
        .chain(r.sip.registrations.iter().map(|g| (&g.call_id, &g.messages)))
        .map(|(call_id, msgs)| {
            let cseqs = msgs.iter().map(|m| {
                assert_eq!(m.transport, transport, "{call_id}");
                m.cseq.clone().unwrap_or_default()
            });
            (call_id.clone(), cseqs.collect())
        })
        .collect()
}

/// [`tshark_messages`] per call, as [`report_messages`] gives them.
fn per_call(msgs: &[(String, String)]) -> BTreeMap<String, Vec<String>> {
    let mut calls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (call_id, cseq) in msgs {
        calls.entry(call_id.clone()).or_default().push(cseq.clone());
    }
    calls
}

/// SIP over WebSocket (RFC 7118), as WebRTC softphones speak it: the HTTP upgrade asking for the
/// `sip` subprotocol and its 101 answer, then one SIP message per WebSocket frame: client frames
/// masked, lengths in 7 and 16 bits, two frames in one segment, a frame split over two, a
/// message in three fragments with a ping among them. Each message's Call-ID, CSeq and order as
/// tshark reads them; the same from a capture that begins after the handshake.
#[test]
fn sip_over_websocket() {
    let (client, server, cport, sport) = ([10, 50, 0, 1], [10, 50, 0, 2], 51_000u16, 8088u16);
    let (mut cseq, mut sseq) = (100u32, 900u32);
    let mut seg = |from_client: bool, flags: u8, data: &[u8]| {
        let (s, d, sp, dp) = if from_client { (client, server, cport, sport) } else { (server, client, sport, cport) };
        let (seq, ack) = if from_client { (cseq, sseq) } else { (sseq, cseq) };
        let grow = data.len() as u32 + u32::from(flags & 0x02 != 0);
        if from_client {
            cseq += grow;
        } else {
            sseq += grow;
        }
        ether(0x0800, &ipv4(6, s, d, &tcp(sp, dp, seq, ack, flags, data)))
    };
    let ws = |op: u8, mask: Option<[u8; 4]>, data: &[u8]| ws_part(0x80 | op, mask, data);
    // A frame whose first byte (FIN and opcode) is `b0`.
    fn ws_part(b0: u8, mask: Option<[u8; 4]>, data: &[u8]) -> Vec<u8> {
        let mut f = vec![b0];
        let m = if mask.is_some() { 0x80 } else { 0 };
        if data.len() < 126 {
            f.push(m | data.len() as u8);
        } else {
            f.push(m | 126);
            f.extend((data.len() as u16).to_be_bytes());
        }
        match mask {
            Some(k) => {
                f.extend(k);
                f.extend(data.iter().enumerate().map(|(i, &c)| c ^ k[i % 4]));
            }
            None => f.extend(data),
        }
        f
    }
    let k = Some([0x37, 0xfa, 0x21, 0x3d]);
    let upgrade = b"GET /ws HTTP/1.1\r\nHost: 10.50.0.2:8088\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sip\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let accept = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: sip\r\n\r\n";
    let register = sip("REGISTER sip:example.invalid SIP/2.0", "ws-reg", "1 REGISTER", "");
    let challenge = sip("SIP/2.0 401 Unauthorized", "ws-reg", "1 REGISTER", "");
    let register2 = sip("REGISTER sip:example.invalid SIP/2.0", "ws-reg", "2 REGISTER", "");
    let ok = sip("SIP/2.0 200 OK", "ws-reg", "2 REGISTER", "");
    let invite = sip("INVITE sip:bob@example.invalid SIP/2.0", "ws-call", "1 INVITE", "");
    let ringing = sip("SIP/2.0 180 Ringing", "ws-call", "1 INVITE", "");
    let short = b"OPTIONS sip:x SIP/2.0\r\nCall-ID: ws-short\r\nCSeq: 1 OPTIONS\r\n\r\n".to_vec();
    let split = ws(1, k, &invite);
    let (a, b) = split.split_at(40);
    let frames = vec![
        seg(true, 0x02, &[]),
        seg(false, 0x12, &[]),
        seg(true, 0x10, &[]),
        seg(true, 0x18, upgrade),
        seg(false, 0x18, accept),
        seg(true, 0x18, &ws(1, k, &register)),
        seg(false, 0x18, &ws(1, None, &challenge)),
        seg(true, 0x18, &[ws(1, k, &register2), ws(9, k, b"ping"), ws(2, k, &short)].concat()),
        seg(false, 0x18, &ws(1, None, &ok)),
        seg(true, 0x18, a),
        seg(true, 0x18, b),
        // The 180 in three fragments, a ping between the second and the last.
        seg(
            false,
            0x18,
            &[
                ws_part(0x01, None, &ringing[..30]),
                ws_part(0x00, None, &ringing[30..60]),
                ws(9, None, b"keep"),
                ws_part(0x80, None, &ringing[60..]),
            ]
            .concat(),
        ),
    ];
    let f = pcap("sip_ws.pcap", EN10MB, &frames);
    let r = replay_json(&f);
    assert_eq!(r.stats.malformed, 0, "{:?}", r.malformed);
    let rows = tshark(&f, &["sip.Call-ID", "sip.CSeq"]);
    let want = tshark_messages(&rows, 0, 1);
    assert_eq!(want.len(), 7, "tshark reads every SIP message in the frames: {rows:?}");
    assert_eq!(report_messages(&r, Transport::Ws), per_call(&want));
    assert_eq!(r.flows.len(), 1);
    assert_eq!(r.flows[0].app, App::Sip);
    // The same session picked up after its handshake (long-lived softphone connections are,
    // in most captures): the first frame's SIP says what the stream is. tshark needs the
    // handshake; the messages are the ones it read above.
    let f = pcap("sip_ws_mid.pcap", EN10MB, &frames[5..]);
    let r = replay_json(&f);
    assert_eq!(r.stats.malformed, 0, "{:?}", r.malformed);
    assert_eq!(report_messages(&r, Transport::Ws), per_call(&want));
}

/// SIP over SCTP (RFC 4168), as some IMS core links carry it: DATA chunks bundled with SACKs
/// and with each other, I-DATA, an INVITE in three pieces, an association on another port whose
/// first message is SIP, and one that is not SIP (Diameter's 3868). Each message's Call-ID and CSeq in order, and the
/// flows' conversations, as tshark reads them.
#[test]
fn sip_over_sctp() {
    let (a, b) = ([10, 60, 0, 1], [10, 60, 0, 2]);
    let chunk = |kind: u8, flags: u8, body: &[u8]| {
        let mut c = vec![kind, flags];
        c.extend(((4 + body.len()) as u16).to_be_bytes());
        c.extend(body);
        c.resize(c.len().next_multiple_of(4), 0);
        c
    };
    let mut tsn = 0u32;
    let mut data = |flags: u8, ppid: u32, msg: &[u8]| {
        tsn += 1;
        let head = [tsn.to_be_bytes(), [0, 0, 0, 0], ppid.to_be_bytes()].concat();
        chunk(0, flags, &[head, msg.to_vec()].concat())
    };
    let packet = |sport: u16, dport: u16, chunks: &[Vec<u8>]| {
        let mut p = sport.to_be_bytes().to_vec();
        p.extend(dport.to_be_bytes());
        p.extend([0, 0, 0, 9, 0, 0, 0, 0]);
        p.extend(chunks.concat());
        p
    };
    let sctp = |from_a: bool, sport: u16, dport: u16, chunks: &[Vec<u8>]| {
        let (s, d) = if from_a { (a, b) } else { (b, a) };
        ether(0x0800, &ipv4(132, s, d, &packet(sport, dport, chunks)))
    };
    let register = sip("REGISTER sip:ims SIP/2.0", "sctp-reg", "1 REGISTER", "");
    let ok = sip("SIP/2.0 200 OK", "sctp-reg", "1 REGISTER", "");
    let options = sip("OPTIONS sip:x SIP/2.0", "sctp-opt", "1 OPTIONS", "");
    let message = sip("MESSAGE sip:x SIP/2.0", "sctp-msg", "1 MESSAGE", "");
    let other_port = sip("OPTIONS sip:y SIP/2.0", "sctp-5070", "1 OPTIONS", "");
    let idata = {
        let head = [99u32.to_be_bytes(), [0, 0, 0, 0], 1u32.to_be_bytes(), 0u32.to_be_bytes()].concat();
        chunk(64, 0x03, &[head, sip("OPTIONS sip:z SIP/2.0", "sctp-idata", "2 OPTIONS", "")].concat())
    };
    let sack = chunk(3, 0, &[0, 0, 0, 1, 0, 0, 0x10, 0, 0, 0, 0, 0]);
    // An INVITE larger than a path's MTU, in three pieces (B, middle, E).
    let body = "v=0\r\no=- 1 1 IN IP4 10.60.0.1\r\ns=-\r\nc=IN IP4 10.60.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
        .repeat(30);
    let invite = sip("INVITE sip:bob@ims SIP/2.0", "sctp-big", "1 INVITE", &body);
    let third = invite.len() / 3;
    let init = chunk(1, 0, &[0, 0, 0, 9, 0, 0, 0x10, 0, 0, 1, 0, 1, 0, 0, 0, 1]);
    let frames = vec![
        sctp(true, 5060, 5060, &[init]),
        sctp(true, 5060, 5060, &[data(0x03, 0, &register)]),
        sctp(false, 5060, 5060, &[sack.clone(), data(0x03, 0, &ok)]),
        sctp(true, 5060, 5060, &[data(0x03, 0, &options), data(0x03, 0, &message)]),
        sctp(true, 5060, 5060, &[idata]),
        sctp(true, 5060, 5060, &[data(0x02, 0, &invite[..third])]),
        sctp(true, 5060, 5060, &[sack.clone(), data(0x00, 0, &invite[third..2 * third])]),
        sctp(true, 5060, 5060, &[data(0x01, 0, &invite[2 * third..])]),
        sctp(true, 40_000, 5070, &[data(0x03, 0, &other_port)]),
        sctp(false, 3868, 40_001, &[data(0x03, 46, &[1, 0, 0, 20, 0x80, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1])]),
    ];
    let f = pcap("sip_sctp.pcap", EN10MB, &frames);
    let r = replay_json(&f);
    assert_eq!(r.stats.malformed, 0, "{:?}", r.malformed);
    let rows = tshark_with(&f, &[], &["ip.src", "ip.dst", "sctp.srcport", "sctp.dstport", "sip.Call-ID", "sip.CSeq"]);
    let want = tshark_messages(&rows, 4, 5);
    assert_eq!(want.len(), 7, "tshark reads every SIP message, the pieces joined: {rows:?}");
    assert_eq!(report_messages(&r, Transport::Sctp), per_call(&want));
    let convs: BTreeSet<Conv> = rows.iter().map(|r| conv(&r[0], num(&r[2]) as u16, &r[1], num(&r[3]) as u16)).collect();
    assert_eq!(report_convs(&r), convs);
    for fl in &r.flows {
        assert_eq!(fl.proto, tuntrace_core::report::Proto::Sctp);
        let sip = fl.sport != Some(3868) && fl.dport != Some(3868);
        assert_eq!(fl.app == App::Sip, sip, "{fl:?}");
    }
}

/// HEP3 (Homer): a collector's capture holds the calls only inside the agents' copies. The SIP
/// messages are read under their original addresses and ports (IPv4 and IPv6, UDP and TCP),
/// in order; other payload types (RTCP reports) and vendors' chunks are skipped; the only flow
/// is the agents' UDP to the collector. tshark 4.0 has no HEP dissector: the expected values
/// are the ones the datagrams were built with (the chunk layout of the HEP3 specification).
#[test]
fn sip_inside_hep3() {
    let chunk = |kind: u16, v: &[u8]| {
        [&0u16.to_be_bytes()[..], &kind.to_be_bytes(), &((6 + v.len()) as u16).to_be_bytes(), v].concat()
    };
    let hep = |src: &str, dst: &str, proto: u8, ports: (u16, u16), kind: u8, payload: &[u8]| {
        let (s, d): (std::net::IpAddr, std::net::IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
        let (family, sa, da) = match (s, d) {
            (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => (2u8, chunk(3, &s.octets()), chunk(4, &d.octets())),
            (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => (10u8, chunk(5, &s.octets()), chunk(6, &d.octets())),
            _ => unreachable!(),
        };
        let body = [
            chunk(1, &[family]),
            chunk(2, &[proto]),
            sa,
            da,
            chunk(7, &ports.0.to_be_bytes()),
            chunk(8, &ports.1.to_be_bytes()),
            chunk(9, &1_700_000_000u32.to_be_bytes()),
            chunk(10, &0u32.to_be_bytes()),
            chunk(11, &[kind]),
            chunk(12, &2001u32.to_be_bytes()),
            chunk(14, b"myHep"),
            // A vendor's own chunk.
            [&0x0025u16.to_be_bytes()[..], &0x0101u16.to_be_bytes(), &8u16.to_be_bytes(), &[7, 7]].concat(),
            chunk(15, payload),
        ]
        .concat();
        [&b"HEP3"[..], &((6 + body.len()) as u16).to_be_bytes(), &body].concat()
    };
    let (agent, collector) = ([192, 0, 2, 10], [192, 0, 2, 99]);
    let to_collector = |h: Vec<u8>| ether(0x0800, &ipv4(17, agent, collector, &udp(40_500, 9060, &h)));
    let frames = vec![
        to_collector(hep(
            "10.70.0.1",
            "10.70.0.2",
            17,
            (5060, 5060),
            1,
            &sip("REGISTER sip:ims SIP/2.0", "hep-reg", "1 REGISTER", ""),
        )),
        to_collector(hep(
            "10.70.0.2",
            "10.70.0.1",
            17,
            (5060, 5060),
            1,
            &sip("SIP/2.0 200 OK", "hep-reg", "1 REGISTER", ""),
        )),
        to_collector(hep("10.70.0.1", "10.70.0.2", 17, (40000, 40001), 5, b"\x80\xc8\x00\x06rtcp-report")),
        to_collector(hep(
            "2001:db8::1",
            "2001:db8::2",
            6,
            (50000, 5060),
            1,
            &sip("INVITE sip:bob SIP/2.0", "hep-call", "1 INVITE", ""),
        )),
        to_collector(hep(
            "2001:db8::2",
            "2001:db8::1",
            6,
            (5060, 50000),
            1,
            &sip("SIP/2.0 180 Ringing", "hep-call", "1 INVITE", ""),
        )),
    ];
    let f = pcap("hep3.pcap", EN10MB, &frames);
    let r = replay_json(&f);
    assert_eq!(r.stats.malformed, 0, "{:?}", r.malformed);
    assert_eq!(r.flows.len(), 1, "{:?}", r.flows);
    assert_eq!((r.flows[0].sport, r.flows[0].dport), (Some(40_500), Some(9060)));
    let reg = &r.sip.registrations;
    assert_eq!(reg.len(), 1);
    let seen = |m: &tuntrace_core::report::SipMessage| {
        (format!("{} {}", m.src, m.sport), format!("{} {}", m.dst, m.dport), m.transport, m.cseq.clone())
    };
    assert_eq!(
        reg[0].messages.iter().map(seen).collect::<Vec<_>>(),
        [
            ("10.70.0.1 5060".into(), "10.70.0.2 5060".into(), Transport::Udp, Some("1 REGISTER".into())),
            ("10.70.0.2 5060".into(), "10.70.0.1 5060".into(), Transport::Udp, Some("1 REGISTER".into())),
        ]
    );
    let calls = &r.sip.dialogs;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].call_id, "hep-call");
    assert_eq!(
        calls[0].messages.iter().map(seen).collect::<Vec<_>>(),
        [
            ("2001:db8::1 50000".into(), "2001:db8::2 5060".into(), Transport::Tcp, Some("1 INVITE".into())),
            ("2001:db8::2 5060".into(), "2001:db8::1 50000".into(), Transport::Tcp, Some("1 INVITE".into())),
        ]
    );
}

/// HEP versions 1 and 2 (Kamailio's siptrace still sends version 1 by default) and HEP3 over
/// TCP (heplify, Kamailio, OpenSIPS): the SIP read under the original addresses and ports, as
/// for HEP3 over UDP; HEP3 messages cut across segments, one segment sent twice, a stream
/// picked up mid-way (read from its next message). The agents'
/// flows are labelled `hep`. No tshark oracle (tshark 4.0 has no HEP dissector): the expected
/// values are the ones the messages were built with (Kamailio's `struct hep_hdr`, the address
/// header, version 2's 12-byte time header).
#[test]
fn sip_inside_hep_v1_v2_and_hep3_over_tcp() {
    let v12 = |version: u8, src: [u8; 4], dst: [u8; 4], ports: (u16, u16), payload: &[u8]| {
        let mut m = vec![version, 16, 2, 17];
        m.extend(ports.0.to_be_bytes());
        m.extend(ports.1.to_be_bytes());
        m.extend(src);
        m.extend(dst);
        if version == 2 {
            m.extend(1_700_000_000u32.to_le_bytes());
            m.extend(7u32.to_le_bytes());
            m.extend([0xd1, 0x07, 0, 0]);
        }
        m.extend_from_slice(payload);
        m
    };
    let chunk = |kind: u16, v: &[u8]| {
        [&0u16.to_be_bytes()[..], &kind.to_be_bytes(), &((6 + v.len()) as u16).to_be_bytes(), v].concat()
    };
    let v3 = |src: [u8; 4], dst: [u8; 4], ports: (u16, u16), payload: &[u8]| {
        let body = [
            chunk(1, &[2]),
            chunk(2, &[6]),
            chunk(3, &src),
            chunk(4, &dst),
            chunk(7, &ports.0.to_be_bytes()),
            chunk(8, &ports.1.to_be_bytes()),
            chunk(11, &[1]),
            chunk(15, payload),
        ]
        .concat();
        [&b"HEP3"[..], &((6 + body.len()) as u16).to_be_bytes(), &body].concat()
    };
    let (agent, collector) = ([192, 0, 2, 10], [192, 0, 2, 99]);
    let (a, b) = ([10, 80, 0, 1], [10, 80, 0, 2]);
    let mut frames = Vec::new();
    for (version, sport) in [(1u8, 40_001), (2, 40_002)] {
        let id = format!("hep-v{version}");
        for (src, dst, first) in [(a, b, "INVITE sip:bob SIP/2.0"), (b, a, "SIP/2.0 200 OK")] {
            let m = v12(version, src, dst, (5060, 5062), &sip(first, &id, "1 INVITE", ""));
            frames.push(ether(0x0800, &ipv4(17, agent, collector, &udp(sport, 9060, &m))));
        }
    }
    let stream = [
        v3(a, b, (50_000, 5060), &sip("INVITE sip:carol SIP/2.0", "hep-tcp", "1 INVITE", "")),
        v3(b, a, (5060, 50_000), &sip("SIP/2.0 180 Ringing", "hep-tcp", "1 INVITE", "")),
        v3(b, a, (5060, 50_000), &sip("SIP/2.0 200 OK", "hep-tcp", "1 INVITE", "")),
    ]
    .concat();
    let to_collector = |seq: u32, flags: u8, data: &[u8]| {
        ether(0x0800, &ipv4(6, agent, collector, &tcp(41_000, 9061, seq, 1, flags, data)))
    };
    frames.push(to_collector(999, 0x02, b""));
    for (i, piece) in stream.chunks(170).enumerate() {
        let seq = 1000 + (i * 170) as u32;
        frames.push(to_collector(seq, 0x18, piece));
        if i == 1 {
            frames.push(to_collector(seq, 0x18, piece));
        }
    }
    // A second agent's stream picked up mid-way (no handshake, the first segment starts inside
    // a message): read from the next message on, and not counted as damage.
    let mid = [
        v3(a, b, (50_002, 5060), &sip("INVITE sip:dave SIP/2.0", "hep-lost", "1 INVITE", "")),
        v3(a, b, (50_002, 5060), &sip("INVITE sip:erin SIP/2.0", "hep-mid", "1 INVITE", "")),
        v3(b, a, (5060, 50_002), &sip("SIP/2.0 200 OK", "hep-mid", "1 INVITE", "")),
    ]
    .concat();
    for (i, piece) in mid[40..].chunks(200).enumerate() {
        let seq = 77_000 + (i * 200) as u32;
        frames.push(ether(0x0800, &ipv4(6, agent, collector, &tcp(41_001, 9061, seq, 1, 0x18, piece))));
    }
    let f = pcap("hep12-tcp.pcap", EN10MB, &frames);
    let r = replay_json(&f);
    assert_eq!(r.stats.malformed, 0, "{:?}", r.malformed);
    let apps: Vec<_> = r.flows.iter().map(|f| (f.proto, f.sport, f.app)).collect();
    assert_eq!(apps.len(), 4, "{apps:?}");
    assert!(apps.iter().all(|(_, _, app)| *app == App::Hep), "{apps:?}");
    let seen = |m: &tuntrace_core::report::SipMessage| {
        (format!("{} {}", m.src, m.sport), format!("{} {}", m.dst, m.dport), m.transport, method_or_status(m))
    };
    let calls: BTreeMap<_, _> =
        r.sip.dialogs.iter().map(|d| (d.call_id.as_str(), d.messages.iter().map(seen).collect::<Vec<_>>())).collect();
    let ab = |t, what: &str| ("10.80.0.1 5060".to_string(), "10.80.0.2 5062".to_string(), t, what.to_string());
    let ba = |t, what: &str| ("10.80.0.2 5060".to_string(), "10.80.0.1 5062".to_string(), t, what.to_string());
    for v in ["hep-v1", "hep-v2"] {
        assert_eq!(calls[v], [ab(Transport::Udp, "INVITE"), ba(Transport::Udp, "200")], "{v}");
    }
    let tcp_ab = ("10.80.0.1 50000".to_string(), "10.80.0.2 5060".to_string(), Transport::Tcp, "INVITE".to_string());
    let tcp_ba = |s: &str| ("10.80.0.2 5060".to_string(), "10.80.0.1 50000".to_string(), Transport::Tcp, s.to_string());
    assert_eq!(calls["hep-tcp"], [tcp_ab, tcp_ba("180"), tcp_ba("200")]);
    let mid: Vec<_> = calls["hep-mid"].iter().map(|m| m.3.clone()).collect();
    assert_eq!(mid, ["INVITE", "200"]);
    assert_eq!(calls.len(), 4, "{calls:?}");
}

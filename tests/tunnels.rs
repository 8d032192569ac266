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
use tuntrace_core::report::{App, Report, TunnelKind};

/// tshark's fields of every frame, with the heuristics a tunnel on an unusual port needs.
fn tshark(file: &Path, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(file);
    cmd.args(["--enable-heuristic", "teredo_udp"]);
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
    let rows = tshark(
        file,
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

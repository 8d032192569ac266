//! Plain-language verdicts: what the evidence in a report means, with the evidence listed.
//!
//! Everything a verdict needs from the report's lists (flows per tunnel, ESP SAs per IKE SA or
//! per pair of hosts) is gathered in one pass over each list: a capture from a busy ePDG holds
//! thousands of IKE and ESP SAs, and a scan of one list per entry of another was most of the
//! cost of building the report.

use std::collections::BTreeSet;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::digits::push_decimal;
use crate::report::{App, DialogState, Encap, EspSa, IkeSa, InterfaceKind, Report, Tunnel, TunnelKind, Verdict};

/// A SIP URI or host in the IMS namespace of a mobile operator (3GPP TS 23.003).
fn is_ims(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    s.contains("3gppnetwork.org") || s.contains("ims.mnc") || s.starts_with("sip:ims.")
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub fn derive(r: &Report) -> Vec<Verdict> {
    let mut out = Vec::new();
    let ims_seen = r
        .sip
        .dialogs
        .iter()
        .flat_map(|d| [d.from.as_deref(), d.to.as_deref()])
        .chain(r.sip.registrations.iter().flat_map(|g| [g.aor.as_deref(), g.registrar.as_deref()]))
        .flatten()
        .any(is_ims);
    let calls = r.sip.dialogs.iter().filter(|d| d.method == "INVITE").count();
    let regs = r.sip.registrations.len();
    let nat_t = r.ike_sas.iter().any(|s| s.nat_t);
    let mut explained_sip = false;

    // Tunnel interfaces first: they are the question tuntrace answers.
    let ipsec = !r.ike_sas.is_empty() || !r.esp_sas.is_empty();
    // The same for every tunnel interface, so built at most once.
    let mut ike_evidence: Option<BTreeSet<String>> = None;
    for i in r.interfaces.iter().filter(|i| i.kind.is_tunnel()) {
        let Some(name) = &i.name else { continue };
        let (sip_flows, rtp_flows) = sip_and_rtp_flows(r, name);
        let mut evidence = Vec::new();
        if let Some(o) = &i.owner {
            evidence.push(format!("held by {} (pid {})", o.comm.as_deref().unwrap_or("?"), o.pid));
        }
        if let Some(c) = &i.created_by {
            evidence.push(format!("created by {} (pid {})", c.comm.as_deref().unwrap_or("?"), c.pid));
        }
        if let Some(m) = i.mtu {
            evidence.push(format!("MTU {m}"));
        }
        let mut summary = match (i.kind, ipsec) {
            (InterfaceKind::Ipsec | InterfaceKind::Xfrm | InterfaceKind::Vti, _) | (_, true) => {
                "IPsec tunnel".to_string()
            }
            (InterfaceKind::Wireguard, _) => "WireGuard tunnel".to_string(),
            (InterfaceKind::Gre, _) => "GRE tunnel".to_string(),
            _ => "tunnel interface".to_string(),
        };
        if ipsec {
            let sas = ike_evidence.get_or_insert_with(|| r.ike_sas.iter().map(ike_sa_line).collect());
            evidence.extend(sas.iter().cloned());
            if let Some(peer) = r.ike_sas.last().map(|s| &s.responder) {
                summary.push_str(" to ");
                summary.push_str(peer);
                if ims_seen {
                    summary.push_str(" (the carrier's ePDG)");
                }
            }
        }
        if sip_flows > 0 {
            explained_sip = true;
            evidence.push(format!(
                "{} inside the tunnel ({}, {})",
                plural(sip_flows, "SIP flow", "SIP flows"),
                plural(regs, "registration", "registrations"),
                plural(calls, "call", "calls")
            ));
            if rtp_flows > 0 {
                evidence.push(plural(rtp_flows, "RTP media flow", "RTP media flows"));
            }
            if ims_seen {
                evidence.push("SIP identities in the operator's IMS domain (3gppnetwork.org)".into());
                summary.push_str(", used for Wi-Fi calling");
            } else {
                summary.push_str(", carrying SIP voice signalling");
            }
        } else if i.packets > 0 {
            evidence.push(format!("{} packets seen on it", i.packets));
        } else {
            evidence.push("no packets seen on it".into());
        }
        out.push(Verdict { subject: name.clone(), summary, evidence });
    }

    // IPsec seen only from outside (the physical interface's view).
    if out.is_empty() && !r.ike_sas.is_empty() {
        let esp = esp_per_ike_sa(r);
        for (s, &(esp_sas, esp_packets)) in r.ike_sas.iter().zip(&esp) {
            let mut evidence = vec![exchanges_line(s)];
            if !s.vendor_ids.is_empty() {
                evidence.push(vendor_ids_line(&s.vendor_ids));
            }
            if esp_sas > 0 {
                let mut line = String::with_capacity(40);
                push_count(&mut line, esp_sas as u64, "ESP SA", "ESP SAs");
                line.push_str(" carrying ");
                push_decimal(&mut line, esp_packets);
                line.push_str(" packets");
                evidence.push(line);
            }
            let mut summary = outside_summary(s);
            if ims_seen && nat_t {
                summary.push_str("; with IMS SIP alongside: looks like Wi-Fi calling");
                explained_sip = true;
            }
            out.push(Verdict { subject: ["IKE SA ", s.initiator_spi.as_str()].concat(), summary, evidence });
        }
    }
    if r.ike_sas.is_empty() && !r.esp_sas.is_empty() {
        esp_only(r, &mut out);
    }
    tunnel_verdicts(r, &mut out);
    if !explained_sip && (regs > 0 || !r.sip.dialogs.is_empty()) {
        let mut evidence =
            vec![format!("{}, {}", plural(regs, "registration", "registrations"), plural(calls, "call", "calls"))];
        let failed = r.sip.dialogs.iter().filter(|d| d.state == DialogState::Failed).count();
        if failed > 0 {
            evidence.push(plural(failed, "failed dialog", "failed dialogs"));
        }
        let summary =
            if ims_seen { "IMS SIP signalling (VoLTE / Wi-Fi calling identities)" } else { "SIP voice signalling" };
        out.push(Verdict { subject: "SIP".into(), summary: summary.into(), evidence });
    }
    out
}

/// SIP (plain or TLS) and RTP flows on the interface `name`, in one pass over the flows.
fn sip_and_rtp_flows(r: &Report, name: &str) -> (usize, usize) {
    let (mut sip, mut rtp) = (0, 0);
    for f in r.flows.iter().filter(|f| f.iface.as_deref() == Some(name)) {
        match f.app {
            App::Sip | App::SipTls => sip += 1,
            App::Rtp => rtp += 1,
            _ => {}
        }
    }
    (sip, rtp)
}

/// One IKE SA as a tunnel interface's evidence line.
fn ike_sa_line(s: &IkeSa) -> String {
    format!(
        "IKEv{} SA {}:{} -> {}:{}{}, {}",
        s.version,
        s.initiator,
        s.initiator_port,
        s.responder,
        s.responder_port,
        if s.nat_t { " (NAT-T)" } else { "" },
        s.state
    )
}

/// ESP SAs linked to each IKE SA and the packets they carried, indexed like `r.ike_sas`.
fn esp_per_ike_sa(r: &Report) -> Vec<(usize, u64)> {
    let mut per = vec![(0usize, 0u64); r.ike_sas.len()];
    for e in &r.esp_sas {
        if let Some(slot) = e.ike_sa.and_then(|n| per.get_mut(n)) {
            slot.0 += 1;
            slot.1 += e.packets;
        }
    }
    per
}

/// `exchanges: IKE_SA_INIT, IKE_SA_INIT (resp), …`, written into one string.
fn exchanges_line(s: &IkeSa) -> String {
    const RESP: &str = " (resp)";
    let len: usize = s.exchanges.iter().map(|e| e.kind.len() + RESP.len() + 2).sum();
    let mut line = String::with_capacity("exchanges: ".len() + len);
    line.push_str("exchanges: ");
    for (n, e) in s.exchanges.iter().enumerate() {
        if n > 0 {
            line.push_str(", ");
        }
        line.push_str(&e.kind);
        if e.response {
            line.push_str(RESP);
        }
    }
    line
}

/// `vendor IDs: a, b, …` in one string (a `join` and a `concat` were two).
fn vendor_ids_line(ids: &[String]) -> String {
    const HEAD: &str = "vendor IDs: ";
    let len: usize = ids.iter().map(|v| v.len() + 2).sum();
    let mut line = String::with_capacity(HEAD.len() + len);
    line.push_str(HEAD);
    for (n, v) in ids.iter().enumerate() {
        if n > 0 {
            line.push_str(", ");
        }
        line.push_str(v);
    }
    line
}

/// `IKEv2 IPsec tunnel between A and B[ through NAT (UDP 4500)], state`.
fn outside_summary(s: &IkeSa) -> String {
    let mut line = String::with_capacity(160);
    line.push_str("IKEv");
    push_decimal(&mut line, s.version.into());
    line.push_str(" IPsec tunnel between ");
    line.push_str(&s.initiator);
    line.push_str(" and ");
    line.push_str(&s.responder);
    if s.nat_t {
        line.push_str(" through NAT (UDP 4500)");
    }
    line.push_str(", ");
    line.push_str(s.state.as_str());
    line
}

/// [`plural`] written into `s`.
fn push_count(s: &mut String, n: u64, one: &str, many: &str) {
    push_decimal(s, n);
    s.push(' ');
    s.push_str(if n == 1 { one } else { many });
}

/// ESP with no IKE in view: one verdict per pair of hosts, in the order of the pairs'
/// (src, dst) spelling, skipping a pair whose reverse spelling already has a verdict.
fn esp_only(r: &Report, out: &mut Vec<Verdict>) {
    // ESP SAs by unordered pair of hosts, each list in report order.
    let mut by_pair: FxHashMap<(&str, &str), Vec<&EspSa>> = FxHashMap::default();
    let mut peers: BTreeSet<(&str, &str)> = BTreeSet::new();
    for e in &r.esp_sas {
        let (a, b) = (e.src.as_str(), e.dst.as_str());
        peers.insert((a, b));
        by_pair.entry(if a <= b { (a, b) } else { (b, a) }).or_default().push(e);
    }
    let mut subjects: FxHashSet<String> = out.iter().map(|v| v.subject.clone()).collect();
    for (a, b) in peers {
        if subjects.contains(&format!("{b} <-> {a}")) {
            continue;
        }
        let n = &by_pair[&if a <= b { (a, b) } else { (b, a) }];
        let subject = format!("{a} <-> {b}");
        subjects.insert(subject.clone());
        out.push(Verdict {
            subject,
            summary: "ESP traffic with no IKE negotiation in view (the SA was set up before the capture began, or manually keyed)".into(),
            evidence: n.iter().map(|e| format!("SPI {} {} -> {}, {} packets{}", e.spi, e.src, e.dst, e.packets, if e.encap == Encap::Udp { ", in UDP 4500" } else { "" })).collect(),
        });
    }
}

/// Verdicts per tunnel listed on their own (WireGuard, OpenVPN: each is a VPN someone runs)
/// and per kind for the rest (a GTP-U capture holds the paths of a whole core).
const MAX_TUNNEL_VERDICTS: usize = 8;
/// Tunnels named one per evidence line in a verdict about a kind.
const MAX_TUNNEL_LINES: usize = 8;

fn ends(t: &Tunnel) -> String {
    let e = |a: &str, p: Option<u16>| match p {
        Some(p) if a.parse::<std::net::Ipv6Addr>().is_ok() => format!("[{a}]:{p}"),
        Some(p) => format!("{a}:{p}"),
        None => a.to_string(),
    };
    format!("{} <-> {}", e(&t.src, t.sport), e(&t.dst, t.dport))
}

fn owner_line(t: &Tunnel) -> Option<String> {
    t.pid.map(|p| format!("packets of {} (pid {p})", t.comm.as_deref().unwrap_or("?")))
}

/// SIP dialogs and registrations carried by the tunnels `which` selects (by index).
fn sip_inside(r: &Report, which: impl Fn(usize) -> bool) -> (usize, usize) {
    let d = r.sip.dialogs.iter().filter(|d| d.tunnel.is_some_and(&which)).count();
    let g = r.sip.registrations.iter().filter(|g| g.tunnel.is_some_and(&which)).count();
    (d, g)
}

fn tunnel_verdicts(r: &Report, out: &mut Vec<Verdict>) {
    if r.tunnels.is_empty() {
        return;
    }
    let mut vpns = 0;
    for t in &r.tunnels {
        let (name, summary) = match t.kind {
            TunnelKind::Wireguard => ("WireGuard", "WireGuard VPN"),
            TunnelKind::Openvpn => ("OpenVPN", "OpenVPN"),
            _ => continue,
        };
        vpns += 1;
        if vpns > MAX_TUNNEL_VERDICTS {
            continue;
        }
        let mut evidence = Vec::new();
        let mut summary = format!(
            "{summary} over {} between {}",
            t.transport.as_str().to_uppercase(),
            ends(t).replace(" <-> ", " and ")
        );
        if let Some(w) = &t.wireguard {
            evidence.push(format!(
                "{} handshakes ({} rekeys): {} initiations, {} responses, {} cookie replies",
                w.handshakes, w.rekeys, w.initiations, w.responses, w.cookie_replies
            ));
            if let Some(s) = w.sessions.first() {
                evidence.push(format!("first handshake initiated by {}", s.initiator));
            }
            evidence.push(format!(
                "{} transport data packets (encrypted: the inner traffic is not visible)",
                w.transport_packets
            ));
        }
        if let Some(o) = &t.openvpn {
            if let Some(c) = &o.client {
                summary = format!("{summary}, client {c}");
            }
            evidence.push(format!(
                "{} control, {} ack, {} data packets; key IDs {:?}",
                o.control_packets, o.ack_packets, o.data_packets, o.key_ids
            ));
            if !o.client_session_ids.is_empty() || !o.server_session_ids.is_empty() {
                evidence.push(format!(
                    "session IDs: client {}, server {}",
                    o.client_session_ids.join(" "),
                    o.server_session_ids.join(" ")
                ));
            }
            if let Some(v) = &t.variant {
                evidence.push(match v.as_str() {
                    "plain" => "control channel without tls-auth: acknowledgements and packet IDs in the clear".into(),
                    v => format!("control channel protected ({v})"),
                });
            }
        }
        evidence.extend(owner_line(t));
        let subject = format!("{name} {}", ends(t));
        out.push(Verdict { subject, summary, evidence });
    }
    if vpns > MAX_TUNNEL_VERDICTS {
        out.push(Verdict {
            subject: "VPNs".into(),
            summary: format!("{} more WireGuard/OpenVPN tunnels", vpns - MAX_TUNNEL_VERDICTS),
            evidence: vec!["listed in the tunnels section".into()],
        });
    }
    // The rest, one verdict per kind.
    for &kind in TunnelKind::ALL {
        if matches!(kind, TunnelKind::Wireguard | TunnelKind::Openvpn) {
            continue;
        }
        let list: Vec<(usize, &Tunnel)> = r.tunnels.iter().enumerate().filter(|(_, t)| t.kind == kind).collect();
        if list.is_empty() {
            continue;
        }
        let packets: u64 = list.iter().map(|(_, t)| t.packets).sum();
        let inner: u64 = list.iter().map(|(_, t)| t.inner_flows).sum();
        let ids: usize = list.iter().map(|(_, t)| t.ids.len() + t.ids_elided as usize).sum();
        let mut evidence = Vec::new();
        for (_, t) in list.iter().take(MAX_TUNNEL_LINES) {
            let mut line = format!("{} {}: {} packets", t.transport, ends(t), t.packets);
            if !t.ids.is_empty() {
                let shown: Vec<&str> = t.ids.iter().take(4).map(String::as_str).collect();
                line.push_str(&format!(", ids {}", shown.join(" ")));
                if t.ids.len() > 4 || t.ids_elided > 0 {
                    line.push_str(" …");
                }
            }
            if let Some(p) = t.tunnel {
                line.push_str(&format!(", inside tunnel #{p}"));
            }
            evidence.push(line);
        }
        if list.len() > MAX_TUNNEL_LINES {
            evidence.push(format!("and {} more", list.len() - MAX_TUNNEL_LINES));
        }
        evidence.push(format!("{} inner flows decoded", inner));
        let idx: FxHashSet<usize> = list.iter().map(|(i, _)| *i).collect();
        let (dialogs, registrations) = sip_inside(r, |i| idx.contains(&i));
        if dialogs + registrations > 0 {
            evidence.push(format!(
                "SIP inside: {}, {}",
                plural(registrations, "registration", "registrations"),
                plural(dialogs, "dialog", "dialogs")
            ));
        }
        let n = list.len();
        let summary = match kind {
            TunnelKind::GtpU => {
                let mut s = format!(
                    "carrier GTP-U: the user plane of a mobile core ({}, {}, {packets} packets)",
                    plural(n, "path", "paths"),
                    plural(ids, "TEID", "TEIDs")
                );
                if dialogs + registrations > 0 {
                    s.push_str(", with subscribers' SIP (VoLTE/IMS) inside");
                }
                s
            }
            TunnelKind::Gre => format!("{} ({packets} packets)", plural(n, "GRE tunnel", "GRE tunnels")),
            TunnelKind::Ipip | TunnelKind::SixIn4 | TunnelKind::FourIn6 | TunnelKind::SixIn6 => {
                format!("{} {} ({packets} packets)", plural(n, "IP-in-IP tunnel", "IP-in-IP tunnels"), kind)
            }
            TunnelKind::L2tp => format!("{} ({packets} packets)", plural(n, "L2TP tunnel", "L2TP tunnels")),
            TunnelKind::Pppoe => format!("{} ({packets} packets)", plural(n, "PPPoE session", "PPPoE sessions")),
            TunnelKind::Vxlan | TunnelKind::Geneve => {
                format!(
                    "{} overlay: {} ({packets} packets)",
                    kind,
                    plural(n, "tunnel endpoint pair", "tunnel endpoint pairs")
                )
            }
            TunnelKind::Teredo => {
                format!("Teredo IPv6 over UDP: {} ({packets} packets)", plural(n, "tunnel", "tunnels"))
            }
            TunnelKind::Wireguard | TunnelKind::Openvpn => continue,
        };
        out.push(Verdict { subject: kind.as_str().to_string(), summary, evidence });
    }
}

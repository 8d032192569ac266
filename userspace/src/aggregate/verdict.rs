//! Plain-language verdicts: what the evidence in a report means, with the evidence listed.

use std::collections::BTreeSet;

use super::iface::is_tunnel_kind;
use crate::report::{Report, Verdict};

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
    for i in r.interfaces.iter().filter(|i| is_tunnel_kind(i.kind)) {
        let Some(name) = &i.name else { continue };
        let on_if = |app: &str| r.flows.iter().filter(|f| f.iface.as_deref() == Some(name) && f.app == app).count();
        let sip_flows = on_if("sip") + on_if("sip-tls");
        let rtp_flows = on_if("rtp");
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
        let ipsec = !r.ike_sas.is_empty() || !r.esp_sas.is_empty();
        let mut summary = match (i.kind, ipsec) {
            ("ipsec" | "xfrm" | "vti", _) | (_, true) => "IPsec tunnel".to_string(),
            ("wireguard", _) => "WireGuard tunnel".to_string(),
            ("gre", _) => "GRE tunnel".to_string(),
            _ => "tunnel interface".to_string(),
        };
        if ipsec {
            let sas: BTreeSet<String> = r
                .ike_sas
                .iter()
                .map(|s| format!("IKEv{} SA {}:{} -> {}:{}{}, {}", s.version, s.initiator, s.initiator_port, s.responder, s.responder_port, if s.nat_t { " (NAT-T)" } else { "" }, s.state))
                .collect();
            evidence.extend(sas);
            if let Some(peer) = r.ike_sas.last().map(|s| s.responder.clone()) {
                summary.push_str(&format!(" to {peer}"));
                if ims_seen {
                    summary.push_str(" (the carrier's ePDG)");
                }
            }
        }
        if sip_flows > 0 {
            explained_sip = true;
            evidence.push(format!("{} inside the tunnel ({}, {})", plural(sip_flows, "SIP flow", "SIP flows"), plural(regs, "registration", "registrations"), plural(calls, "call", "calls")));
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
        for (n, s) in r.ike_sas.iter().enumerate() {
            let esp: Vec<&crate::report::EspSa> = r.esp_sas.iter().filter(|e| e.ike_sa == Some(n)).collect();
            let mut evidence = vec![format!(
                "exchanges: {}",
                s.exchanges.iter().map(|e| format!("{}{}", e.kind, if e.response { " (resp)" } else { "" })).collect::<Vec<_>>().join(", ")
            )];
            if !s.vendor_ids.is_empty() {
                evidence.push(format!("vendor IDs: {}", s.vendor_ids.join(", ")));
            }
            if !esp.is_empty() {
                let pk: u64 = esp.iter().map(|e| e.packets).sum();
                evidence.push(format!("{} carrying {} packets", plural(esp.len(), "ESP SA", "ESP SAs"), pk));
            }
            let mut summary = format!(
                "IKEv{} IPsec tunnel between {} and {}{}, {}",
                s.version,
                s.initiator,
                s.responder,
                if s.nat_t { " through NAT (UDP 4500)" } else { "" },
                s.state
            );
            if ims_seen && nat_t {
                summary.push_str("; with IMS SIP alongside: looks like Wi-Fi calling");
                explained_sip = true;
            }
            out.push(Verdict { subject: format!("IKE SA {}", s.initiator_spi), summary, evidence });
        }
    }
    if r.ike_sas.is_empty() && !r.esp_sas.is_empty() {
        let peers: BTreeSet<(String, String)> = r.esp_sas.iter().map(|e| (e.src.clone(), e.dst.clone())).collect();
        for (a, b) in peers {
            if peers_contains_reverse(&out, &a, &b) {
                continue;
            }
            let n: Vec<_> = r.esp_sas.iter().filter(|e| (e.src == a && e.dst == b) || (e.src == b && e.dst == a)).collect();
            out.push(Verdict {
                subject: format!("{a} <-> {b}"),
                summary: "ESP traffic with no IKE negotiation in view (the SA was set up before the capture began, or manually keyed)".into(),
                evidence: n.iter().map(|e| format!("SPI {} {} -> {}, {} packets{}", e.spi, e.src, e.dst, e.packets, if e.encap == "udp" { ", in UDP 4500" } else { "" })).collect(),
            });
        }
    }
    if !explained_sip && (regs > 0 || !r.sip.dialogs.is_empty()) {
        let mut evidence = vec![format!("{}, {}", plural(regs, "registration", "registrations"), plural(calls, "call", "calls"))];
        let failed = r.sip.dialogs.iter().filter(|d| d.state == "failed").count();
        if failed > 0 {
            evidence.push(plural(failed, "failed dialog", "failed dialogs"));
        }
        let summary = if ims_seen { "IMS SIP signalling (VoLTE / Wi-Fi calling identities)" } else { "SIP voice signalling" };
        out.push(Verdict { subject: "SIP".into(), summary: summary.into(), evidence });
    }
    out
}

fn peers_contains_reverse(out: &[Verdict], a: &str, b: &str) -> bool {
    let rev = format!("{b} <-> {a}");
    out.iter().any(|v| v.subject == rev)
}

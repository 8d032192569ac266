//! `tuntrace explain`'s answer in plain text: for each tunnel interface, what it is (the
//! verdict and its evidence), then the facts behind it: the device, who holds and created it,
//! what routes traffic into it and over which carrier it leaves, who the peers are, who uses it;
//! going deep on one interface adds what a watch saw (IKE, ESP, SIP with their processes) and
//! the kernel's IPsec.

use std::fmt::Write as _;

use super::{Interface, Process, Report, SourceKind};
use crate::escape::field as esc;

/// Lines of one list shown at most in the text (the JSON has them all).
const MAX_LINES: usize = 10;

/// The answer for every tunnel interface of the report, or for `iface` alone, in depth.
pub fn render(r: &Report, iface: Option<&str>) -> String {
    let mut o = String::new();
    header(&mut o, r);
    let tunnels: Vec<&Interface> = r
        .interfaces
        .iter()
        .filter(|i| i.removed.is_none())
        .filter(|i| match iface {
            Some(n) => i.name.as_deref() == Some(n),
            None => i.kind.is_tunnel(),
        })
        .collect();
    if tunnels.is_empty() {
        let _ = writeln!(o, "\nNo tunnel interface here.");
    }
    for i in &tunnels {
        interface(&mut o, r, i, iface.is_some());
    }
    if iface.is_none() {
        if let Some(x) = r.host.xfrm.as_ref().filter(|x| !x.states.is_empty() || !x.policies.is_empty()) {
            let _ = writeln!(
                o,
                "\nKernel IPsec (xfrm): {} SAs, {} policies (`tuntrace explain IFACE` or --json lists them)",
                x.states.len(),
                x.policies.len()
            );
        }
        let others: Vec<String> = r
            .interfaces
            .iter()
            .filter(|i| !i.kind.is_tunnel() && i.removed.is_none())
            .filter_map(|i| {
                let n = i.name.as_deref()?;
                let carries: Vec<&str> = tunnels
                    .iter()
                    .filter(|t| t.host.carriers.iter().any(|c| c.iface == n))
                    .filter_map(|t| t.name.as_deref())
                    .collect();
                Some(if carries.is_empty() { n.to_string() } else { format!("{n} (carries {})", carries.join(", ")) })
            })
            .collect();
        if !others.is_empty() {
            let _ = writeln!(o, "\nOther interfaces: {}", esc(&others.join(", ")));
        }
    }
    super::text::finish(o)
}

fn header(o: &mut String, r: &Report) {
    let ns = r.source.inputs.first().map(String::as_str).unwrap_or("this network namespace");
    let n = r.interfaces.iter().filter(|i| i.removed.is_none()).count();
    let t = r.interfaces.iter().filter(|i| i.removed.is_none() && i.kind.is_tunnel()).count();
    let _ = write!(o, "tuntrace explain: {}: {n} interfaces, {t} of them tunnels", esc(ns));
    if r.source.kind == SourceKind::Live && r.source.backend != super::Backend::Netlink {
        let _ = write!(o, "; watched live: {} packets", r.stats.packets);
    }
    o.push('\n');
    if let Some(v) = &r.host.visibility {
        for n in &v.notes {
            let _ = writeln!(o, "note: {}", esc(n));
        }
    }
}

fn process_of(r: &Report, pid: u32) -> Option<&Process> {
    r.processes.iter().rev().find(|p| p.pid == pid)
}

/// `charon (pid 12, /usr/lib/ipsec/charon, uid 0, started …)`.
fn who(r: &Report, pid: u32, comm: Option<&str>) -> String {
    let p = process_of(r, pid);
    let comm = comm.or(p.and_then(|p| p.comm.as_deref())).unwrap_or("?");
    let mut s = format!("{comm} (pid {pid}");
    if let Some(p) = p {
        if let Some(e) = &p.exe {
            let _ = write!(s, ", {e}");
        }
        if let Some(u) = p.uid {
            let _ = write!(s, ", uid {u}");
        }
        if let Some(t) = p.start {
            let _ = write!(s, ", started {t}");
        }
        if p.exited.is_some() {
            s.push_str(", exited");
        }
    }
    s.push(')');
    s
}

fn row(o: &mut String, label: &str, lines: &[String]) {
    for (n, l) in lines.iter().enumerate() {
        if n == MAX_LINES {
            let _ = writeln!(o, "  {:<9} and {} more", "", lines.len() - MAX_LINES);
            break;
        }
        // Each line holds names from the host or the packets: escaped whole, it stays one line.
        let _ = writeln!(o, "  {:<9} {}", if n == 0 { label } else { "" }, esc(l));
    }
}

fn interface(o: &mut String, r: &Report, i: &Interface, deep: bool) {
    let name = i.name.as_deref().unwrap_or("(unnamed)");
    o.push('\n');
    match r.verdicts.iter().find(|v| v.subject == name) {
        Some(v) => {
            let _ = writeln!(o, "{}: {}", esc(name), esc(&v.summary));
            for e in &v.evidence {
                let _ = writeln!(o, "    - {}", esc(e));
            }
        }
        None if i.kind.is_tunnel() => {
            let _ = writeln!(o, "{}: no verdict", esc(name));
        }
        None => {
            let _ = writeln!(o, "{}: not a tunnel interface ({})", esc(name), i.kind);
        }
    }
    let mut device = Vec::new();
    let kind = match (&i.host.link_kind, &i.host.tun) {
        (_, Some(t)) if t.mode.as_deref() == Some("tap") => "TAP device (Ethernet frames)".to_string(),
        (_, Some(_)) => "TUN device (IP packets)".to_string(),
        (Some(k), None) => format!("{k} link"),
        (None, None) => format!("{} interface", i.kind),
    };
    device.push(kind);
    if !i.host.flags.is_empty() {
        device.push(i.host.flags.join(" "));
    }
    if let Some(m) = i.mtu {
        device.push(format!("MTU {m}"));
    }
    if let Some(t) = &i.host.tun {
        if t.persist == Some(true) {
            device.push("persistent".into());
        }
        if t.multi_queue == Some(true) {
            device.push(format!("{} queues", t.num_queues.unwrap_or(0)));
        }
        if let Some(u) = t.owner_uid {
            device.push(format!("owner uid {u}"));
        }
    }
    if !i.addresses.is_empty() {
        device.push(i.addresses.join(" "));
    }
    row(o, "device", &[device.join(", ")]);
    let holder = match &i.owner {
        Some(h) => who(r, h.pid, h.comm.as_deref()),
        None if i.host.tun.is_some() => "nobody found (run as root to see other users' processes)".into(),
        None => "not a device a process holds (the kernel's own)".into(),
    };
    row(o, "held by", &[holder]);
    let creator = match &i.created_by {
        Some(c) => {
            let at = c.at.map(|t| format!(" at {t}")).unwrap_or_default();
            format!("{}{at}", who(r, c.pid, c.comm.as_deref()))
        }
        None if i.created_before_trace => {
            "unknown: it existed before tuntrace looked (explain --watch while it is created names its creator)".into()
        }
        None => "unknown".into(),
    };
    row(o, "created", &[creator]);
    if let Some(p) = i.owner.as_ref().and_then(|h| process_of(r, h.pid)).and_then(|p| p.cmdline.as_deref()) {
        row(o, "cmdline", &[p.to_string()]);
    }
    let routes: Vec<String> = i
        .host
        .routes
        .iter()
        .map(|x| {
            let via = x.gateway.as_ref().map(|g| format!(" via {g}")).unwrap_or_default();
            let src = x.src.as_ref().map(|s| format!(" src {s}")).unwrap_or_default();
            let kind = if x.kind == "unicast" { String::new() } else { format!(" ({})", x.kind) };
            format!("{}{via}{src}, table {}{kind}", x.dst, table_name(x.table))
        })
        .collect();
    row(o, "routes", &routes);
    let rules: Vec<String> = i
        .host
        .rules
        .iter()
        .map(|x| {
            format!(
                "{}{} lookup {}",
                x.priority.map(|p| format!("{p}: ")).unwrap_or_default(),
                x.selector,
                table_name(x.table)
            )
        })
        .collect();
    row(o, "rules", &rules);
    let carriers: Vec<String> = i.host.carriers.iter().map(|c| format!("{} ({})", c.iface, c.how)).collect();
    row(o, "carrier", &carriers);
    let peers: Vec<String> = r
        .host
        .peers
        .iter()
        .filter(|p| p.interfaces.iter().any(|n| n == name))
        .map(|p| {
            let mut s = p.address.clone();
            if let Some(v) = &p.via {
                let _ = write!(s, " via {v}");
            }
            match (p.asn, &p.org) {
                (Some(a), Some(org)) => {
                    let _ = write!(s, " (AS{a} {org})");
                }
                (Some(a), None) => {
                    let _ = write!(s, " (AS{a})");
                }
                _ => {}
            }
            if !p.roles.is_empty() {
                let _ = write!(s, ": {}", p.roles.join(", "));
            }
            s
        })
        .collect();
    row(o, "peers", &peers);
    let users: Vec<String> = i
        .host
        .users
        .iter()
        .map(|u| match (u.pid, &u.comm) {
            (Some(p), Some(c)) => format!("{c} (pid {p}): {}", u.what),
            (Some(p), None) => format!("pid {p}: {}", u.what),
            _ => u.what.clone(),
        })
        .collect();
    row(o, "used by", &users);
    if deep {
        watched(o, r);
        if let Some(x) = &r.host.xfrm {
            let mut lines: Vec<String> = x
                .states
                .iter()
                .map(|s| {
                    let encap = s.encap.as_ref().map(|e| format!(", {e}")).unwrap_or_default();
                    format!(
                        "SA {} {} {} -> {} {}{encap} {}",
                        s.proto,
                        s.spi,
                        s.src,
                        s.dst,
                        s.mode,
                        s.algorithms.join(" ")
                    )
                })
                .collect();
            lines.extend(
                x.policies.iter().map(|p| {
                    format!("policy {} {} -> {} {}: {}", p.dir, p.src, p.dst, p.action, p.templates.join("; "))
                }),
            );
            if lines.is_empty() {
                lines.push(match &x.error {
                    Some(e) => e.clone(),
                    None => "no SAs or policies: IPsec here, if any, runs in userspace".into(),
                });
            }
            row(o, "xfrm", &lines);
        }
    }
}

/// What a live watch saw: IKE and ESP SAs, SIP registrations and calls, with their processes.
fn watched(o: &mut String, r: &Report) {
    let by = |pid: Option<u32>, comm: &Option<String>| match (pid, comm) {
        (Some(p), Some(c)) => format!(", {c} (pid {p})"),
        (Some(p), None) => format!(", pid {p}"),
        _ => String::new(),
    };
    let ike: Vec<String> = r
        .ike_sas
        .iter()
        .map(|s| {
            format!(
                "IKEv{} {}/{} {}:{} -> {}:{}{} {}{}",
                s.version,
                s.initiator_spi,
                s.responder_spi.as_deref().unwrap_or("-"),
                s.initiator,
                s.initiator_port,
                s.responder,
                s.responder_port,
                if s.nat_t { " NAT-T" } else { "" },
                s.state,
                by(s.pid, &s.comm)
            )
        })
        .collect();
    row(o, "IKE", &ike);
    let esp: Vec<String> = r
        .esp_sas
        .iter()
        .map(|e| {
            let udp = match e.encap {
                super::Encap::Udp => " in UDP",
                super::Encap::Tcp => " in TCP",
                super::Encap::None => "",
            };
            format!("SPI {} {} -> {}{udp}, {} packets{}", e.spi, e.src, e.dst, e.packets, by(e.pid, &e.comm))
        })
        .collect();
    row(o, "ESP", &esp);
    let mut sip: Vec<String> = r
        .sip
        .registrations
        .iter()
        .map(|g| {
            let to = g
                .messages
                .iter()
                .find(|m| m.method.is_some())
                .map(|m| format!(" to {}:{}", m.dst, m.dport))
                .unwrap_or_default();
            let result = g.result.map_or("no answer".to_string(), |s| s.to_string());
            format!("REGISTER {}{to} -> {result}{}", g.aor.as_deref().unwrap_or("?"), by(g.pid, &g.comm))
        })
        .collect();
    sip.extend(r.sip.dialogs.iter().map(|d| {
        format!(
            "{} {} -> {} {}{}",
            d.method,
            d.from.as_deref().unwrap_or("?"),
            d.to.as_deref().unwrap_or("?"),
            d.state,
            by(d.pid, &d.comm)
        )
    }));
    row(o, "SIP", &sip);
}

fn table_name(t: u32) -> String {
    match t {
        254 => "main".into(),
        255 => "local".into(),
        253 => "default".into(),
        t => t.to_string(),
    }
}

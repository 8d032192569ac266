//! The human report: what an engineer reads in twenty seconds, most telling facts first.

use std::fmt::Write as _;

use super::{Encap, Flow, Report};
use crate::escape::{self, field as esc};

/// How many flows the text report lists (the JSON has them all).
const TOP_FLOWS: usize = 12;

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    header(&mut o, r);
    verdicts(&mut o, r);
    interfaces(&mut o, r);
    processes(&mut o, r);
    tunnels(&mut o, r);
    ike(&mut o, r);
    esp(&mut o, r);
    sip(&mut o, r);
    flows(&mut o, r);
    problems(&mut o, r);
    // Every value from outside was escaped as it was written; this pass is the guarantee.
    finish(o)
}

/// `o` with anything a terminal would act on escaped ([`escape::block`]).
pub fn finish(o: String) -> String {
    match escape::block(&o) {
        std::borrow::Cow::Borrowed(_) => o,
        std::borrow::Cow::Owned(e) => e,
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn who(pid: Option<u32>, comm: &Option<String>) -> String {
    match (pid, comm) {
        (Some(p), Some(c)) => format!("{}[{p}]", esc(c)),
        (Some(p), None) => format!("pid {p}"),
        (None, Some(c)) => esc(c).into_owned(),
        (None, None) => "-".into(),
    }
}

fn endpoint(addr: &str, port: Option<u16>) -> String {
    match port {
        Some(p) if addr.contains(':') => format!("[{addr}]:{p}"),
        Some(p) => format!("{addr}:{p}"),
        None => addr.to_string(),
    }
}

fn header(o: &mut String, r: &Report) {
    let s = &r.stats;
    let inputs = r.source.inputs.iter().map(|i| esc(i)).collect::<Vec<_>>().join(", ");
    let _ = writeln!(o, "tuntrace {} ({}): {}", r.source.kind, r.source.backend, inputs);
    let span = match (s.started, s.ended) {
        (Some(a), Some(b)) => {
            let secs = (b.micros() - a.micros()) as f64 / 1e6;
            format!(", {a} .. {b} ({secs:.1} s)")
        }
        _ => String::new(),
    };
    let _ = writeln!(o, "{} packets, {}{}", s.packets, human_bytes(s.bytes), span);
    let mut notes = Vec::new();
    if s.malformed > 0 {
        notes.push(format!("{} malformed", s.malformed));
    }
    if s.dropped_events > 0 {
        notes.push(format!("{} events dropped by the kernel", s.dropped_events));
    }
    if s.unattributed_packets > 0 && s.unattributed_packets < s.packets {
        notes.push(format!("{} packets without an owning process", s.unattributed_packets));
    }
    if !notes.is_empty() {
        let _ = writeln!(o, "{}", notes.join(", "));
    }
}

fn section(o: &mut String, title: &str) {
    let _ = writeln!(o, "\n{title}");
}

fn verdicts(o: &mut String, r: &Report) {
    if r.verdicts.is_empty() {
        return;
    }
    section(o, "VERDICT");
    for v in &r.verdicts {
        let _ = writeln!(o, "  {}: {}", esc(&v.subject), esc(&v.summary));
        for e in &v.evidence {
            let _ = writeln!(o, "    - {}", esc(e));
        }
    }
}

/// Left-aligned columns; the last column is not padded.
fn table(o: &mut String, head: &[&str], rows: &[Vec<String>]) {
    columns(o, head, || rows.iter());
}

/// [`table`] with one row per item, each made by `row` when needed: once to measure the
/// columns, once to write it. A report can list hundreds of thousands of SAs or calls, and
/// their cells all made at once took more memory than the state they came from.
fn table_of<T>(o: &mut String, head: &[&str], items: &[T], row: impl Fn(&T) -> Vec<String>) {
    columns(o, head, || items.iter().map(&row));
}

/// The rows `rows()` yields, read twice: once for the column widths, once to write them.
fn columns<R: AsRef<[String]>, I: Iterator<Item = R>>(o: &mut String, head: &[&str], rows: impl Fn() -> I) {
    let n = head.len();
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for row in rows() {
        for (i, c) in row.as_ref().iter().enumerate().take(n) {
            w[i] = w[i].max(c.chars().count());
        }
    }
    // Each line written straight into `o` and trimmed there: a `String` per line and
    // `core::fmt`'s padding cost more than the rest of the text report together. Padding
    // counts characters, as `{c:<width$}` does.
    const SPACES: &str = "                                                                ";
    let line = |o: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let start = o.len();
        o.push_str("  ");
        for (i, c) in cells.enumerate() {
            o.push_str(c);
            if i + 1 < n {
                let mut pad = w[i].saturating_sub(c.chars().count()) + 2;
                while pad > 0 {
                    let k = pad.min(SPACES.len());
                    o.push_str(&SPACES[..k]);
                    pad -= k;
                }
            }
        }
        let kept = o[start..].trim_end().len();
        o.truncate(start + kept);
        o.push('\n');
    };
    line(o, &mut head.iter().copied());
    for row in rows() {
        line(o, &mut row.as_ref().iter().map(String::as_str));
    }
}

fn interfaces(o: &mut String, r: &Report) {
    if r.interfaces.is_empty() {
        return;
    }
    section(o, "INTERFACES");
    let rows: Vec<Vec<String>> = r
        .interfaces
        .iter()
        .map(|i| {
            vec![
                i.name.as_deref().map_or_else(|| "(unnamed)".into(), |n| esc(n).into_owned()),
                i.kind.to_string(),
                i.linktype.clone(),
                i.mtu.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
                i.packets.to_string(),
                human_bytes(i.bytes),
                i.owner.as_ref().map(|p| who(Some(p.pid), &p.comm)).unwrap_or_else(|| "-".into()),
                esc(&i.addresses.join(" ")).into_owned(),
            ]
        })
        .collect();
    table(o, &["NAME", "KIND", "LINK", "MTU", "PACKETS", "BYTES", "HELD BY", "ADDRESSES"], &rows);
}

fn processes(o: &mut String, r: &Report) {
    if r.processes.is_empty() {
        return;
    }
    // A live session knows every process that opened a socket; the ones that matter here moved
    // packets on a traced interface or hold one.
    let live = r.source.kind == super::SourceKind::Live;
    let holds = |pid: u32| {
        r.interfaces.iter().any(|i| {
            i.owner.as_ref().is_some_and(|o| o.pid == pid) || i.created_by.as_ref().is_some_and(|c| c.pid == pid)
        })
    };
    let shown: Vec<&super::Process> = r.processes.iter().filter(|p| !live || p.packets > 0 || holds(p.pid)).collect();
    let quiet = r.processes.len() - shown.len();
    if shown.is_empty() && quiet == 0 {
        return;
    }
    section(o, "PROCESSES");
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|p| {
            vec![
                p.pid.to_string(),
                p.comm.as_deref().map_or_else(|| "?".into(), |c| esc(c).into_owned()),
                p.packets.to_string(),
                human_bytes(p.bytes),
                esc(&p.interfaces.join(",")).into_owned(),
            ]
        })
        .collect();
    table(o, &["PID", "COMMAND", "PACKETS", "BYTES", "INTERFACES"], &rows);
    if quiet > 0 {
        o.push_str(&format!("  ({quiet} more with sockets but no packets on traced interfaces: --json lists them)\n"));
    }
}

/// ` (in #N)` for something a tunnel carried, nothing otherwise.
fn carried(tunnel: Option<usize>) -> String {
    tunnel.map(|t| format!(" (in #{t})")).unwrap_or_default()
}

fn tunnels(o: &mut String, r: &Report) {
    if r.tunnels.is_empty() {
        return;
    }
    section(o, "TUNNELS");
    const MAX_IDS: usize = 4;
    let rows: Vec<Vec<String>> = r
        .tunnels
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut ids: Vec<String> = t.ids.iter().take(MAX_IDS).cloned().collect();
            let more = (t.ids.len().saturating_sub(MAX_IDS)) as u64 + t.ids_elided;
            if more > 0 {
                ids.push(format!("+{more}"));
            }
            let mut kind = t.kind.to_string();
            if let Some(v) = &t.variant {
                kind = format!("{kind} ({v})");
            }
            vec![
                format!("#{i}"),
                kind,
                format!("{} {} <-> {}", t.transport, endpoint(&t.src, t.sport), endpoint(&t.dst, t.dport)),
                if ids.is_empty() { "-".into() } else { ids.join(" ") },
                t.packets.to_string(),
                human_bytes(t.bytes),
                t.inner_flows.to_string(),
                t.tunnel.map(|p| format!("#{p}")).unwrap_or_else(|| "-".into()),
                who(t.pid, &t.comm),
            ]
        })
        .collect();
    table(o, &["#", "KIND", "OUTER", "IDS", "PACKETS", "BYTES", "INNER FLOWS", "IN", "PROCESS"], &rows);
    for (i, t) in r.tunnels.iter().enumerate() {
        if let Some(w) = &t.wireguard {
            let _ = writeln!(
                o,
                "  #{i} wireguard: {} handshakes ({} rekeys), {} initiations, {} responses, {} cookie replies, {} transport{}",
                w.handshakes,
                w.rekeys,
                w.initiations,
                w.responses,
                w.cookie_replies,
                w.transport_packets,
                if w.unpaired_transport > 0 { format!(" ({} of sessions begun before)", w.unpaired_transport) } else { String::new() }
            );
            for s in &w.sessions {
                let _ = writeln!(
                    o,
                    "     session {}/{} from {}: {} packets ({}) to the responder, {} ({}) back",
                    s.initiator_index,
                    s.responder_index.as_deref().unwrap_or("?"),
                    s.initiator,
                    s.packets_to_responder,
                    human_bytes(s.bytes_to_responder),
                    s.packets_to_initiator,
                    human_bytes(s.bytes_to_initiator)
                );
            }
        }
        if let Some(g) = &t.gre {
            for q in &g.sequences {
                let key = q.key.map(|k| format!(" key {k}")).unwrap_or_default();
                let numbers = match (q.first_seq, q.last_seq) {
                    (Some(first), Some(last)) => format!(
                        "{} packets, {first}..{last}, {} missing, {} late, {} repeated{}",
                        q.packets,
                        q.seq_gaps,
                        q.seq_reordered,
                        q.seq_repeats,
                        if q.seq_resyncs > 0 { format!(", {} restarts", q.seq_resyncs) } else { String::new() }
                    ),
                    _ => "no numbered packets".to_string(),
                };
                let acks = match q.last_ack {
                    Some(last) if q.acks > 0 => {
                        format!("; {} acknowledgment{}, latest {last}", q.acks, if q.acks == 1 { "" } else { "s" })
                    }
                    _ => String::new(),
                };
                let _ = writeln!(o, "  #{i} gre sequence from {}{key}: {numbers}{acks}", q.sender);
            }
            if g.unfollowed_packets > 0 {
                let _ = writeln!(
                    o,
                    "  #{i} gre sequence: {} packets of other senders or keys not followed",
                    g.unfollowed_packets
                );
            }
        }
        if let Some(v) = &t.openvpn {
            let _ = writeln!(
                o,
                "  #{i} openvpn: {} control, {} ack, {} data packets ({}); key IDs {:?}; client {}",
                v.control_packets,
                v.ack_packets,
                v.data_packets,
                human_bytes(v.data_bytes),
                v.key_ids,
                v.client.as_deref().unwrap_or("?")
            );
            let _ = writeln!(
                o,
                "     session IDs: client {}, server {}",
                if v.client_session_ids.is_empty() { "-".into() } else { v.client_session_ids.join(" ") },
                if v.server_session_ids.is_empty() { "-".into() } else { v.server_session_ids.join(" ") }
            );
        }
    }
}

fn ike(o: &mut String, r: &Report) {
    if r.ike_sas.is_empty() {
        return;
    }
    section(o, "IKE SAs");
    for (i, sa) in r.ike_sas.iter().enumerate() {
        let _ = writeln!(
            o,
            "  #{i} IKEv{} {} {} -> {}{}  {}  {}{}",
            sa.version,
            sa.initiator_spi,
            endpoint(&sa.initiator, Some(sa.initiator_port)),
            endpoint(&sa.responder, Some(sa.responder_port)),
            if sa.nat_t { "  NAT-T" } else { "" },
            sa.state,
            who(sa.pid, &sa.comm),
            carried(sa.tunnel),
        );
        let _ = writeln!(o, "     responder SPI {}", sa.responder_spi.as_deref().unwrap_or("(not seen)"));
        let mut ex: Vec<String> = Vec::new();
        for (n, e) in sa.exchanges.iter().enumerate() {
            if let Some(gap) = sa.exchanges_elided.filter(|g| g.after == n) {
                ex.push(format!("… {} more …", gap.count));
            }
            let dir = if e.response { "resp" } else { "req" };
            let item = format!("{} {dir}", e.kind);
            match ex.last_mut() {
                Some(last) if last.starts_with(&item) => {
                    // Collapse repeats: "CREATE_CHILD_SA req x7".
                    let n = last.rsplit_once(" x").and_then(|(_, n)| n.parse::<u32>().ok()).unwrap_or(1);
                    *last = format!("{item} x{}", n + 1);
                }
                _ => ex.push(item),
            }
        }
        let _ = writeln!(o, "     exchanges: {}", ex.join(", "));
        if let Some(p) = sa.chosen.as_ref().or(sa.proposals.first()) {
            let mut parts: Vec<String> = Vec::new();
            for list in [&p.encryption, &p.prf, &p.integrity, &p.dh] {
                if !list.is_empty() {
                    parts.push(list.join("|"));
                }
            }
            let tag = if sa.chosen.is_some() { "chosen" } else { "offered" };
            let _ = writeln!(o, "     {tag}: {}", parts.join(" / "));
        }
        if !sa.vendor_ids.is_empty() {
            let _ = writeln!(o, "     vendor IDs: {}", esc(&sa.vendor_ids.join(", ")));
        }
        if !sa.notifies.is_empty() {
            let _ = writeln!(o, "     notifies: {}", esc(&sa.notifies.join(", ")));
        }
        if !sa.malformed.is_empty() {
            let _ = writeln!(o, "     malformed: {}", esc(&sa.malformed.join(", ")));
        }
        if sa.encrypted_payloads > 0 {
            let _ = writeln!(o, "     encrypted payloads: {}", sa.encrypted_payloads);
        }
    }
}

fn esp(o: &mut String, r: &Report) {
    if r.esp_sas.is_empty() {
        return;
    }
    section(o, "ESP SAs");
    let head = ["SPI", "PEERS", "ENCAP", "PACKETS", "BYTES", "SEQ", "GAPS", "IKE SA"];
    table_of(o, &head, &r.esp_sas, |e| {
        let seq = match (e.first_seq, e.last_seq) {
            (Some(a), Some(b)) => format!("{a}..{b}"),
            _ => "-".into(),
        };
        vec![
            e.spi.clone(),
            format!("{} -> {}", e.src, e.dst),
            match e.encap {
                Encap::Udp => "UDP 4500",
                Encap::Tcp => "TCP",
                Encap::None => "raw",
            }
            .to_string()
                + if e.null_encryption { ", NULL cipher" } else { "" },
            e.packets.to_string(),
            human_bytes(e.bytes),
            seq,
            e.seq_gaps.to_string(),
            e.ike_sa.map(|i| format!("#{i}")).unwrap_or_else(|| "-".into()),
        ]
    });
}

fn sip(o: &mut String, r: &Report) {
    let s = &r.sip;
    if s.registrations.is_empty() && s.dialogs.is_empty() {
        return;
    }
    if !s.registrations.is_empty() {
        section(o, "SIP REGISTRATIONS");
        table_of(o, &["CALL-ID", "AOR", "RESULT", "MESSAGES"], &s.registrations, |g| {
            vec![
                esc(&g.call_id).into_owned() + &carried(g.tunnel),
                g.aor.as_deref().map_or_else(|| "?".into(), |a| esc(a).into_owned()),
                g.result.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
                seq_of(&g.messages, g.messages_elided),
            ]
        });
    }
    if !s.dialogs.is_empty() {
        section(o, "SIP DIALOGS");
        table_of(o, &["CALL-ID", "METHOD", "FROM -> TO", "STATE", "MESSAGES"], &s.dialogs, |d| {
            vec![
                esc(&d.call_id).into_owned() + &carried(d.tunnel),
                esc(&d.method).into_owned(),
                format!("{} -> {}", esc(d.from.as_deref().unwrap_or("?")), esc(d.to.as_deref().unwrap_or("?"))),
                d.state.to_string(),
                seq_of(&d.messages, d.messages_elided),
            ]
        });
        let _ = writeln!(o, "  (tuntrace replay --ladder CALL-ID draws a call flow)");
    }
}

fn seq_of(msgs: &[super::SipMessage], elided: Option<super::Elided>) -> String {
    const MAX: usize = 12;
    let mut v: Vec<String> = msgs
        .iter()
        .take(MAX)
        .map(|m| {
            m.method
                .as_deref()
                .map(|x| esc(x).into_owned())
                .or(m.status.map(|c| c.to_string()))
                .unwrap_or_else(|| "?".into())
        })
        .collect();
    let all = msgs.len() as u64 + elided.map_or(0, |e| e.count);
    if all > MAX as u64 {
        v.push(format!("... ({all} in all)"));
    }
    v.join(" ")
}

fn flows(o: &mut String, r: &Report) {
    if r.flows.is_empty() {
        return;
    }
    let mut top: Vec<&Flow> = r.flows.iter().collect();
    top.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(b.packets.cmp(&a.packets)));
    let shown = top.len().min(TOP_FLOWS);
    section(o, &format!("TOP FLOWS ({shown} of {}, by bytes)", r.flows.len()));
    let rows: Vec<Vec<String>> = top
        .iter()
        .take(TOP_FLOWS)
        .map(|f| {
            vec![
                f.iface.as_deref().map_or_else(|| "-".into(), |i| esc(i).into_owned()),
                f.proto.to_string(),
                format!("{} <-> {}", endpoint(&f.src, f.sport), endpoint(&f.dst, f.dport)),
                f.app.to_string() + &carried(f.tunnel),
                f.packets.to_string(),
                human_bytes(f.bytes),
                who(f.pid, &f.comm),
            ]
        })
        .collect();
    table(o, &["IFACE", "PROTO", "ENDPOINTS", "APP", "PACKETS", "BYTES", "PROCESS"], &rows);
}

fn problems(o: &mut String, r: &Report) {
    if r.malformed.is_empty() && r.unknown_linktypes.is_empty() && r.errors.is_empty() {
        return;
    }
    section(o, "PROBLEMS");
    for m in &r.malformed {
        let _ = writeln!(o, "  malformed: {} ({} packets)", esc(&m.reason), m.packets);
    }
    for l in &r.unknown_linktypes {
        let _ = writeln!(o, "  link type {} ({}) not decoded: {} frames counted only", l.linktype, l.name, l.frames);
    }
    for e in &r.errors {
        if e.unreadable {
            let _ = writeln!(o, "  {}: {}", esc(&e.input), esc(&e.message));
        } else {
            let _ = writeln!(
                o,
                "  {}: {} at byte offset {}; everything before it is reported",
                esc(&e.input),
                esc(&e.message),
                e.offset
            );
        }
    }
}

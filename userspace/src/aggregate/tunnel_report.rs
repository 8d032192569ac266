//! The report's tunnels, made from the tunnel table: part of building the report
//! ([`super::build`] calls [`tunnels`]). The table keeps addresses, identifiers and indices as
//! numbers; they are spelled here, once per report.

use super::flows;
use super::tunnels::{End, GreState, Id, OvpnState, Tunnels, WgState};
use super::ProcHandle;
use crate::report;

/// The report's entries, in order of first packet (the table's order, so that the indices
/// flows, SAs and dialogs hold are the report's).
pub(super) fn tunnels(
    t: &Tunnels,
    inner_flows: &[u64],
    ifname: impl Fn(u32) -> Option<String>,
    owner: impl Fn(Option<ProcHandle>) -> (Option<u32>, Option<String>),
) -> Vec<report::Tunnel> {
    t.list
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let port = |p: u16| (p != 0).then_some(p);
            let (pid, comm) = owner(s.proc);
            report::Tunnel {
                kind: s.key.kind,
                transport: s.transport,
                iface: ifname(s.key.iface),
                src: end_addr(&s.src),
                sport: port(s.ports.0),
                dst: end_addr(&s.dst),
                dport: port(s.ports.1),
                ids: s.ids.iter().map(|id| id_text(*id)).collect(),
                ids_elided: s.ids_elided,
                variant: s
                    .variant
                    .map(str::to_owned)
                    .or_else(|| s.ovpn.as_ref().and_then(|o| o.variant).map(|v| v.name().to_owned())),
                packets: s.packets,
                bytes: s.bytes,
                first: s.first.into(),
                last: s.last.into(),
                inner_flows: inner_flows.get(i).copied().unwrap_or(0),
                pid,
                comm,
                tunnel: (s.key.parent != 0).then(|| s.key.parent as usize - 1),
                wireguard: s.wg.as_deref().map(wg_report),
                openvpn: s.ovpn.as_deref().map(ovpn_report),
                gre: s.gre.as_deref().map(gre_report),
            }
        })
        .collect()
}

fn end_text(e: &End) -> String {
    match e {
        End::Ip(a, p) if a.is_ipv6() => format!("[{}]:{p}", flows::addr_string(*a)),
        End::Ip(a, p) => format!("{}:{p}", flows::addr_string(*a)),
        End::Mac(_) => end_addr(e),
    }
}

fn wg_report(w: &WgState) -> report::WireGuardTunnel {
    report::WireGuardTunnel {
        initiations: w.initiations,
        responses: w.responses,
        cookie_replies: w.cookie_replies,
        transport_packets: w.transport,
        handshakes: w.handshakes,
        rekeys: w.handshakes.saturating_sub(1),
        unpaired_transport: w.unpaired,
        sessions: w
            .sessions
            .iter()
            .map(|s| report::WireGuardSession {
                initiator_index: id_text(Id::Hex8(s.initiator_index)),
                responder_index: s.responder_index.map(|r| id_text(Id::Hex8(r))),
                initiator: end_text(&s.initiator),
                started: s.started.into(),
                packets_to_responder: s.to_responder.0,
                bytes_to_responder: s.to_responder.1,
                packets_to_initiator: s.to_initiator.0,
                bytes_to_initiator: s.to_initiator.1,
            })
            .collect(),
        sessions_elided: w.sessions_elided,
    }
}

fn ovpn_report(o: &OvpnState) -> report::OpenVpnTunnel {
    let hex = |v: &Vec<u64>| v.iter().map(|&s| id_text(Id::Hex16(s))).collect();
    report::OpenVpnTunnel {
        client_session_ids: hex(&o.client_sids),
        server_session_ids: hex(&o.server_sids),
        key_ids: (0..8).filter(|k| o.key_ids & (1 << k) != 0).collect(),
        peer_ids: o.peer_ids.clone(),
        control_packets: o.control,
        ack_packets: o.ack,
        data_packets: o.data,
        data_bytes: o.data_bytes,
        client: o.client.as_ref().map(end_text),
    }
}

fn gre_report(g: &GreState) -> report::GreTunnel {
    report::GreTunnel {
        sequences: g
            .streams
            .iter()
            .map(|s| report::GreSequence {
                sender: end_addr(&s.from),
                key: s.key,
                packets: s.packets,
                first_seq: (s.packets > 0).then_some(s.first_seq),
                last_seq: (s.packets > 0).then_some(s.last_seq),
                seq_gaps: s.gaps,
                seq_repeats: s.repeats,
                seq_reordered: s.reordered,
                seq_resyncs: s.resyncs,
                acks: s.acks,
                last_ack: s.last_ack,
            })
            .collect(),
        unfollowed_packets: g.unfollowed,
    }
}

/// An end's address: the IP address, or a MAC address as colon-separated lowercase hex.
fn end_addr(e: &End) -> String {
    match e {
        End::Ip(a, _) => flows::addr_string(*a),
        End::Mac(m) => {
            let mut s = String::with_capacity(17);
            for (i, b) in m.iter().enumerate() {
                if i > 0 {
                    s.push(':');
                }
                s.push_str(&format!("{b:02x}"));
            }
            s
        }
    }
}

/// An identifier as the report spells it (docs/report-schema.md: WireGuard indices, TEIDs and
/// OpenVPN session IDs in hex, the rest decimal).
fn id_text(id: Id) -> String {
    match id {
        Id::Hex8(v) => format!("{v:08x}"),
        Id::Hex16(v) => format!("{v:016x}"),
        Id::Dec(v) => v.to_string(),
    }
}

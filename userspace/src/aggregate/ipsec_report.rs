//! The report's IKE and ESP SAs, made from the IKE and ESP tables: part of building the report
//! ([`super::build`]), which calls these. The tables keep numbers and decoder values; names,
//! hex and address texts are spelled here, once per report.

use std::net::IpAddr;

use super::esp_table::{EspKey, EspState, EspTable};
use super::flows::{addr_string, hex_id};
use super::ike_table::{IkeTable, SaState};
use super::ProcHandle;
use crate::decode::ike;
use crate::report::{self, Elided, Encap, EspSa, ExchangeCount, IkeExchange, IkeSa};

/// The IKE SAs in order of first sight, as the report lists them.
pub(super) fn ike_sas(
    t: &IkeTable,
    iface_name: impl Fn(u32) -> Option<String>,
    owner: impl Fn(Option<ProcHandle>) -> (Option<u32>, Option<String>),
    proc_ref: impl Fn(ProcHandle) -> Option<report::ProcRef>,
) -> Vec<IkeSa> {
    t.sas
        .iter()
        .map(|s| {
            let (pid, comm) = owner(s.proc);
            IkeSa {
                version: s.version,
                initiator_spi: hex_id(s.ispi, 16),
                responder_spi: (s.rspi != 0).then(|| hex_id(s.rspi, 16)),
                initiator: addr_string(s.initiator.0),
                initiator_port: s.initiator.1,
                responder: addr_string(s.responder.0),
                responder_port: s.responder.1,
                nat_t: s.nat_t,
                state: s.state,
                exchanges: exchanges(s),
                vendor_ids: s.vendor_ids.clone(),
                pid,
                comm,
                proposals: s.proposals.iter().map(proposal).collect(),
                chosen: s.chosen.as_ref().map(proposal),
                ke_group: s.ke_group.clone(),
                notifies: s.notifies.clone(),
                encrypted_payloads: s.encrypted_payloads,
                nat_detected: s.nat_detected.then_some(true),
                iface: s.iface.and_then(&iface_name),
                owners: s.owners.iter().filter_map(|&h| proc_ref(h)).collect(),
                tunnel: (s.tunnel != 0).then(|| s.tunnel as usize - 1),
                malformed: s.malformed.iter().map(|r| r.to_string()).collect(),
                exchange_counts: s
                    .counts
                    .iter()
                    .map(|c| ExchangeCount {
                        kind: ike::exchange_label(s.version, c.exchange_type).into_owned(),
                        response: c.response,
                        from_initiator: c.from_initiator,
                        count: c.count,
                    })
                    .collect(),
                exchanges_elided: (s.exchanges.elided() > 0)
                    .then(|| Elided { after: s.exchanges.before_gap(), count: s.exchanges.elided() }),
            }
        })
        .collect()
}

/// A proposal the decoder read, as the report spells it: the same texts, field for field.
fn proposal(p: &ike::Proposal) -> report::Proposal {
    let ike::Proposal { number, protocol, encryption, prf, integrity, dh, esn, other } = p;
    report::Proposal {
        number: *number,
        protocol: protocol.clone(),
        encryption: encryption.clone(),
        prf: prf.clone(),
        integrity: integrity.clone(),
        dh: dh.clone(),
        esn: esn.clone(),
        other: other.clone(),
    }
}

/// An SA's exchanges as the report lists them. Each sender address is formatted once per SA:
/// an SA's messages come from its two peers (a few more when a NAT rebinds).
fn exchanges(sa: &SaState) -> Vec<IkeExchange> {
    let mut texts: Vec<(IpAddr, String)> = Vec::new();
    let mut src_text = |addr: IpAddr| {
        if let Some((_, t)) = texts.iter().find(|(a, _)| *a == addr) {
            return t.clone();
        }
        let t = crate::digits::ip_string(addr);
        texts.push((addr, t.clone()));
        t
    };
    sa.exchanges
        .iter()
        .map(|e| IkeExchange {
            kind: ike::exchange_label(sa.version, e.exchange_type).into_owned(),
            message_id: e.message_id,
            response: e.response,
            at: e.at.into(),
            src: src_text(e.src),
            sport: e.sport,
            payloads: if e.encrypted_body {
                vec!["Encrypted".to_string()]
            } else {
                e.payload_types.iter().map(|&t| ike::payload_name(sa.version, t).into_owned()).collect()
            },
        })
        .collect()
}

/// The ESP SAs in order of first appearance; `link_ike` names an SA's IKE SA, `proc_of` its
/// process.
pub(super) fn esp_sas(
    t: &EspTable,
    link_ike: impl Fn(&EspKey, &EspState) -> Option<usize>,
    iface_name: impl Fn(u32) -> Option<String>,
    owner: impl Fn(Option<ProcHandle>) -> (Option<u32>, Option<String>),
    proc_of: impl Fn(&EspKey, &EspState) -> Option<ProcHandle>,
) -> Vec<EspSa> {
    t.entries()
        .into_iter()
        .map(|(k, s)| {
            let (pid, comm) = owner(proc_of(k, s));
            EspSa {
                spi: hex_id(k.spi().into(), 8),
                src: addr_string(k.src()),
                dst: addr_string(k.dst()),
                encap: match (k.udp(), k.tcp()) {
                    (true, _) => Encap::Udp,
                    (_, true) => Encap::Tcp,
                    _ => Encap::None,
                },
                packets: s.packets,
                bytes: s.bytes,
                ike_sa: link_ike(k, s),
                first_seq: s.seq_seen.then_some(s.first_seq),
                last_seq: s.seq_seen.then_some(s.last_seq),
                seq_gaps: s.gaps,
                iface: s.iface.and_then(&iface_name),
                seq_repeats: s.repeats,
                seq_reordered: s.reordered,
                pid,
                comm,
                null_encryption: matches!(s.cipher, super::esp_table::Cipher::Null { .. }),
            }
        })
        .collect()
}

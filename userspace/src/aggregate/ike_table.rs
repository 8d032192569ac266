//! IKE SAs, one per initiator SPI, built from every cleartext IKE header and payload seen.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::flows::{addr_string, hex_id};
use crate::report::{IkeExchange, IkeSa, Proposal};
use crate::time::Timestamp;

/// What the aggregator takes from one decoded IKE message (decoder-neutral).
#[derive(Debug, Clone, Default)]
pub struct IkeView {
    pub version: u8,
    pub ispi: u64,
    pub rspi: u64,
    pub exchange: String,
    pub message_id: u32,
    /// IKEv2: the R flag. IKEv1 has none: inferred from the sender.
    pub response: Option<bool>,
    /// IKEv2: the I flag (sender is the original initiator).
    pub from_initiator: Option<bool>,
    pub payloads: Vec<String>,
    pub proposals: Vec<Proposal>,
    pub ke_group: Option<String>,
    pub notifies: Vec<String>,
    pub vendor_ids: Vec<String>,
    pub encrypted_payloads: u64,
    /// A cleartext Delete payload for the IKE SA itself.
    pub deletes_ike_sa: bool,
    /// A cleartext error notify (type < 16384), e.g. NO_PROPOSAL_CHOSEN.
    pub error_notify: bool,
    /// NAT_DETECTION_* / NAT-D payloads present.
    pub nat_detection: bool,
}

impl From<&crate::decode::ike::IkeMessage> for IkeView {
    fn from(m: &crate::decode::ike::IkeMessage) -> Self {
        let mut notifies = Vec::new();
        for n in &m.notifies {
            if !notifies.contains(&n.name) {
                notifies.push(n.name.clone());
            }
        }
        IkeView {
            version: m.version,
            ispi: m.initiator_spi,
            rspi: m.responder_spi,
            exchange: m.exchange_name.clone(),
            message_id: m.message_id,
            response: m.is_response,
            from_initiator: m.initiator,
            payloads: m.payloads.clone(),
            proposals: m.proposals.clone(),
            ke_group: m.ke_group.map(|g| g.label()),
            notifies,
            vendor_ids: m.vendor_ids.clone(),
            encrypted_payloads: u64::from(m.encrypted_payloads),
            deletes_ike_sa: m.deletes.iter().any(|d| d.protocol == 1),
            // IKEv2 error notifies are below 16384, IKEv1's below 8192.
            error_notify: m.notifies.iter().any(|n| n.kind != 0 && n.kind < if m.version == 2 { 16384 } else { 8192 }),
            nat_detection: m.notifies.iter().any(|n| n.name.starts_with("NAT_DETECTION"))
                || m.payloads.iter().any(|p| p == "NAT-D"),
        }
    }
}

/// The same as the `&IkeMessage` conversion, moving the message's vectors and strings instead
/// of copying them (the aggregator has no use for the message afterwards).
impl From<crate::decode::ike::IkeMessage> for IkeView {
    fn from(m: crate::decode::ike::IkeMessage) -> Self {
        let mut notifies: Vec<String> = Vec::new();
        for n in &m.notifies {
            if !notifies.contains(&n.name) {
                notifies.push(n.name.clone());
            }
        }
        let deletes_ike_sa = m.deletes.iter().any(|d| d.protocol == 1);
        // IKEv2 error notifies are below 16384, IKEv1's below 8192.
        let error_notify = m.notifies.iter().any(|n| n.kind != 0 && n.kind < if m.version == 2 { 16384 } else { 8192 });
        let nat_detection = m.notifies.iter().any(|n| n.name.starts_with("NAT_DETECTION"))
            || m.payloads.iter().any(|p| p == "NAT-D");
        IkeView {
            version: m.version,
            ispi: m.initiator_spi,
            rspi: m.responder_spi,
            exchange: m.exchange_name,
            message_id: m.message_id,
            response: m.is_response,
            from_initiator: m.initiator,
            payloads: m.payloads,
            proposals: m.proposals,
            ke_group: m.ke_group.map(|g| g.label()),
            notifies,
            vendor_ids: m.vendor_ids,
            encrypted_payloads: u64::from(m.encrypted_payloads),
            deletes_ike_sa,
            error_notify,
            nat_detection,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub at: Timestamp,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub pid: Option<u32>,
    pub iface: Option<u32>,
    /// Came on UDP 4500 behind the non-ESP marker.
    pub encapsulated: bool,
}

#[derive(Debug)]
pub struct SaState {
    pub version: u8,
    pub ispi: u64,
    pub rspi: u64,
    pub initiator: (IpAddr, u16),
    pub responder: (IpAddr, u16),
    pub nat_t: bool,
    pub state: &'static str,
    pub exchanges: Vec<IkeExchange>,
    pub vendor_ids: Vec<String>,
    pub pid: Option<u32>,
    pub proposals: Vec<Proposal>,
    pub chosen: Option<Proposal>,
    pub ke_group: Option<String>,
    pub notifies: Vec<String>,
    pub encrypted_payloads: u64,
    pub nat_detected: bool,
    pub iface: Option<u32>,
    pub first: Timestamp,
    /// Peer addresses as seen on the wire, both sides (for linking ESP SAs).
    pub peers: (IpAddr, IpAddr),
}

/// Exchanges kept per SA; retransmission storms beyond this are counted, not stored.
const MAX_EXCHANGES: usize = 4096;
/// SAs kept; a flood of SA_INITs beyond this is ignored.
const MAX_SAS: usize = 200_000;

#[derive(Default)]
pub struct IkeTable {
    pub sas: Vec<SaState>,
    by_ispi: FxHashMap<(u8, u64), usize>,
    pub dropped_exchanges: u64,
}

/// Proposals moved from the decoder keep their vectors' growth slack; they are kept until the
/// report, so give it back (the clones this replaced were exact-sized).
fn shrink_proposal(p: &mut Proposal) {
    for v in [&mut p.encryption, &mut p.prf, &mut p.integrity, &mut p.dh, &mut p.esn, &mut p.other] {
        v.shrink_to_fit();
    }
}

fn push_unique(v: &mut Vec<String>, items: &[String]) {
    for i in items {
        if !v.contains(i) {
            v.push(i.clone());
        }
    }
}

impl IkeTable {
    pub fn observe(&mut self, mut m: IkeView, c: Ctx) {
        let key = (m.version, m.ispi);
        let idx = match self.by_ispi.get(&key) {
            Some(&i) => i,
            None => {
                if self.sas.len() >= MAX_SAS {
                    self.dropped_exchanges += 1;
                    return;
                }
                // The first message we see names the initiator, unless its own flags say it is the
                // responder's (a capture that starts mid-exchange).
                let sender_is_initiator = match (m.from_initiator, m.response) {
                    (Some(i), _) => i,
                    (None, Some(r)) => !r,
                    (None, None) => m.rspi == 0 || m.message_id == 0,
                };
                let (ini, resp) = if sender_is_initiator {
                    ((c.src, c.sport), (c.dst, c.dport))
                } else {
                    ((c.dst, c.dport), (c.src, c.sport))
                };
                self.sas.push(SaState {
                    version: m.version,
                    ispi: m.ispi,
                    rspi: 0,
                    initiator: ini,
                    responder: resp,
                    nat_t: false,
                    state: "unknown",
                    exchanges: Vec::new(),
                    vendor_ids: Vec::new(),
                    pid: None,
                    proposals: Vec::new(),
                    chosen: None,
                    ke_group: None,
                    notifies: Vec::new(),
                    encrypted_payloads: 0,
                    nat_detected: false,
                    iface: c.iface,
                    first: c.at,
                    peers: (ini.0, resp.0),
                });
                self.by_ispi.insert(key, self.sas.len() - 1);
                self.sas.len() - 1
            }
        };
        let sa = &mut self.sas[idx];
        if sa.rspi == 0 && m.rspi != 0 {
            sa.rspi = m.rspi;
        }
        // Ports float to 4500 after NAT detection: follow the initiator's current endpoint.
        let from_initiator = match m.from_initiator {
            Some(i) => i,
            None => c.src == sa.initiator.0 && (c.sport == sa.initiator.1 || c.encapsulated),
        };
        if c.encapsulated {
            sa.nat_t = true;
            if from_initiator {
                sa.initiator = (c.src, c.sport);
                sa.responder = (c.dst, c.dport);
            } else {
                sa.initiator = (c.dst, c.dport);
                sa.responder = (c.src, c.sport);
            }
        }
        if m.nat_detection {
            sa.nat_detected = true;
        }
        let response = m.response.unwrap_or(!from_initiator);
        if sa.pid.is_none() && c.pid.is_some() {
            sa.pid = c.pid;
        }
        // Computed before `m`'s proposals and exchange name are moved into the SA below.
        let next = next_state(sa.state, &m, response);
        if !m.proposals.is_empty() {
            if response {
                sa.chosen.get_or_insert_with(|| {
                    let mut p = m.proposals.swap_remove(0);
                    shrink_proposal(&mut p);
                    p
                });
            } else if sa.proposals.is_empty() {
                sa.proposals = std::mem::take(&mut m.proposals);
                sa.proposals.shrink_to_fit();
                sa.proposals.iter_mut().for_each(shrink_proposal);
            }
        }
        if sa.ke_group.is_none() {
            sa.ke_group = m.ke_group.clone();
        }
        push_unique(&mut sa.vendor_ids, &m.vendor_ids);
        push_unique(&mut sa.notifies, &m.notifies);
        sa.encrypted_payloads += m.encrypted_payloads;
        sa.state = next;
        if sa.exchanges.len() < MAX_EXCHANGES {
            sa.exchanges.push(IkeExchange {
                kind: m.exchange,
                message_id: m.message_id,
                response,
                at: c.at,
                src: c.src.to_string(),
                sport: c.sport,
                // Moved from the decoder, the vector keeps its growth slack; every exchange is
                // kept until the report, so give the slack back (a clone used to do that).
                payloads: {
                    let mut p = m.payloads;
                    p.shrink_to_fit();
                    p
                },
            });
        } else {
            self.dropped_exchanges += 1;
        }
    }

    /// The SAs in order of first sight. Consumes the table: the exchanges, proposals and
    /// names move into the report instead of being copied (and the originals freed) on the
    /// way, which for thousands of SAs with their exchange lists was a large share of
    /// building the report.
    pub fn into_report(self, iface_name: impl Fn(u32) -> Option<String>, comm: impl Fn(u32) -> Option<String>) -> Vec<IkeSa> {
        self.sas
            .into_iter()
            .map(|s| IkeSa {
                version: s.version,
                initiator_spi: hex_id(s.ispi, 16),
                responder_spi: (s.rspi != 0).then(|| hex_id(s.rspi, 16)),
                initiator: addr_string(s.initiator.0),
                initiator_port: s.initiator.1,
                responder: addr_string(s.responder.0),
                responder_port: s.responder.1,
                nat_t: s.nat_t,
                state: s.state,
                exchanges: s.exchanges,
                vendor_ids: s.vendor_ids,
                pid: s.pid,
                comm: s.pid.and_then(&comm),
                proposals: s.proposals,
                chosen: s.chosen,
                ke_group: s.ke_group,
                notifies: s.notifies,
                encrypted_payloads: s.encrypted_payloads,
                nat_detected: s.nat_detected.then_some(true),
                iface: s.iface.and_then(&iface_name),
            })
            .collect()
    }
}

/// SA state from the exchanges seen so far. Only cleartext evidence moves it: a Delete inside
/// an encrypted INFORMATIONAL cannot be seen, so an SA may stay "established" after its end.
fn next_state(cur: &'static str, m: &IkeView, response: bool) -> &'static str {
    if cur == "deleted" {
        return cur;
    }
    if m.deletes_ike_sa {
        return "deleted";
    }
    let ex = m.exchange.as_str();
    match m.version {
        2 => match ex {
            "IKE_SA_INIT" if cur == "unknown" || cur == "init" => "init",
            "IKE_INTERMEDIATE" | "IKE_AUTH" if !response && matches!(cur, "unknown" | "init") => "auth",
            "IKE_AUTH" if response && !m.error_notify => "established",
            "CREATE_CHILD_SA" | "INFORMATIONAL" if cur != "established" && m.rspi != 0 => "established",
            _ => cur,
        },
        _ => match ex {
            // Main mode: messages 1-4 negotiate in clear, 5-6 authenticate encrypted.
            "MAIN_MODE" => {
                if m.encrypted_payloads > 0 || m.payloads.iter().any(|p| p == "Encrypted") {
                    if response {
                        "established"
                    } else if cur != "established" {
                        "auth"
                    } else {
                        cur
                    }
                } else if cur == "unknown" || cur == "init" {
                    "init"
                } else {
                    cur
                }
            }
            "AGGRESSIVE" => {
                if cur == "unknown" {
                    "init"
                } else if !response && m.rspi != 0 {
                    "established"
                } else if cur == "init" {
                    "auth"
                } else {
                    cur
                }
            }
            "QUICK_MODE" | "INFORMATIONAL" | "TRANSACTION" if m.rspi != 0 && cur != "established" => "established",
            _ => cur,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::IkeView;
    use crate::decode::ike;

    /// ikev1_main_mode.pcap frame 1 UDP payload: proposals, vendor IDs.
    const V1_MM1: &str = concat!(
        "e47a591fd057587f00000000000000000110020000000000000000a80d00003c00000001000000010000003001010001",
        "000000280101000080010007800e0080800200028004000280030001800b0001000c0004000151800d0000144a131c81",
        "070358455c5728f20e95452f0d000014439b59f8ba676c4c7737ae22eab8f5820d0000147d9419a65310ca6f2c179d92",
        "15529d560000001490cb80913ebb696e086381b5ec427b1f",
    );

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// The moving conversion must give exactly what the copying one gives.
    fn same_view(b: &[u8]) {
        if let Ok(m) = ike::parse(b) {
            let by_ref = format!("{:?}", IkeView::from(&m));
            assert_eq!(format!("{:?}", IkeView::from(m)), by_ref);
        }
    }

    #[test]
    fn owned_view_equals_borrowed_view() {
        let b = unhex(V1_MM1);
        let v = IkeView::from(ike::parse(&b).unwrap());
        assert!(!v.proposals.is_empty() && !v.vendor_ids.is_empty(), "{v:?}");
        same_view(&b);
    }

    proptest::proptest! {
        #[test]
        fn owned_view_equals_borrowed_view_any(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            same_view(&b);
        }
    }
}

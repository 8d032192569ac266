//! The flow table: one entry per conversation (both directions), keyed canonically so a reply
//! lands in the same entry as its request. `src`/`sport` is whoever sent the first packet seen.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::event::IfaceId;
use crate::time::Timestamp;

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ESP: u8 = 50;
pub const AH: u8 = 51;
pub const ICMP: u8 = 1;
pub const ICMPV6: u8 = 58;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub iface: IfaceId,
    pub proto: u8,
    pub a: IpAddr,
    pub ap: u16,
    pub b: IpAddr,
    pub bp: u16,
}

impl FlowKey {
    /// The key and whether (src, sport) is the key's `a` side.
    #[inline]
    pub fn new(iface: IfaceId, proto: u8, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> (FlowKey, bool) {
        if (src, sport) <= (dst, dport) {
            (FlowKey { iface, proto, a: src, ap: sport, b: dst, bp: dport }, true)
        } else {
            (FlowKey { iface, proto, a: dst, ap: dport, b: src, bp: sport }, false)
        }
    }
}

/// Application seen on a flow; a flow may carry several (UDP 4500 carries IKE, ESP and keepalives).
pub mod app {
    pub const IKE: u16 = 1;
    pub const ESP_IN_UDP: u16 = 1 << 1;
    pub const ESP: u16 = 1 << 2;
    pub const NAT_KEEPALIVE: u16 = 1 << 3;
    pub const SIP: u16 = 1 << 4;
    pub const SIP_TLS: u16 = 1 << 5;
    pub const RTP: u16 = 1 << 6;

    /// The label of a flow: the most specific application it carried.
    pub fn label(bits: u16) -> &'static str {
        const ORDER: [(u16, &str); 7] = [
            (ESP_IN_UDP, "esp-in-udp"),
            (ESP, "esp"),
            (SIP, "sip"),
            (SIP_TLS, "sip-tls"),
            (IKE, "ike"),
            (RTP, "rtp"),
            (NAT_KEEPALIVE, "nat-keepalive"),
        ];
        ORDER.iter().find(|(b, _)| bits & b != 0).map(|(_, n)| *n).unwrap_or("other")
    }
}

#[derive(Debug, Clone)]
pub struct FlowState {
    /// True when the first packet went from the key's `a` side to `b`.
    pub a_first: bool,
    pub apps: u16,
    pub pid: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    /// Payload-sniffing attempts left for flows on ports that say nothing.
    pub probes_left: u8,
    /// SDP media generation this flow was last checked against (RTP labelling).
    pub rtp_checked: u32,
}

#[derive(Default)]
pub struct Flows {
    pub map: FxHashMap<FlowKey, FlowState>,
}

/// Most flows in one report; beyond it new flows are counted in `overflow` only, so memory
/// stays bounded whatever the input.
pub const MAX_FLOWS: usize = 1_000_000;

impl Flows {
    /// Count one packet; returns the flow's state, or `None` when the table is full.
    #[inline]
    pub fn touch(
        &mut self,
        key: FlowKey,
        a_is_src: bool,
        ts: Timestamp,
        bytes: u64,
        pid: Option<u32>,
    ) -> Option<&mut FlowState> {
        let len = self.map.len();
        let st = match self.map.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                if len >= MAX_FLOWS {
                    return None;
                }
                v.insert(FlowState {
                    a_first: a_is_src,
                    apps: 0,
                    pid: None,
                    packets: 0,
                    bytes: 0,
                    first: ts,
                    last: ts,
                    probes_left: 4,
                    rtp_checked: 0,
                })
            }
        };
        st.packets += 1;
        st.bytes += bytes;
        if ts > st.last {
            st.last = ts;
        }
        if st.pid.is_none() {
            st.pid = pid;
        }
        Some(st)
    }
}

pub fn proto_name(p: u8) -> &'static str {
    match p {
        UDP => "udp",
        TCP => "tcp",
        ESP => "esp",
        ICMP | ICMPV6 => "icmp",
        _ => "other",
    }
}

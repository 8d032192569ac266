//! The tunnel table: one entry per tunnel seen on the wire, keyed by its kind, the interface,
//! the tunnel it was itself carried in, and its two ends (with ports where the kind's ends
//! are sockets: WireGuard, OpenVPN, L2TP, Teredo; without where the ports vary per inner flow
//! or say nothing: GTP-U, VXLAN, Geneve, GRE in UDP). Bounded by the number of tunnels (a
//! cap), and each entry's lists by their own caps, with what they left out counted.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::ProcHandle;
use crate::decode::openvpn;
use crate::report::{TunnelKind, TunnelTransport};
use crate::time::Timestamp;

/// Most tunnels in one report (a packet names its tunnel in 16 bits).
pub const MAX_TUNNELS: usize = 10_000;
const _: () = assert!(MAX_TUNNELS < u16::MAX as usize);
/// Most identifiers listed per tunnel (a GTP-U path between two nodes carries a TEID per
/// bearer: thousands on a busy core).
pub const MAX_IDS: usize = 64;
/// Most WireGuard sessions (handshakes) listed per tunnel.
pub const MAX_WG_SESSIONS: usize = 64;
/// How deep tunnels are followed inside tunnels.
pub const MAX_DEPTH: u8 = 8;

/// One end of a tunnel: an IP address and port (0 where the kind has none), or a MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum End {
    Ip(IpAddr, u16),
    Mac([u8; 6]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub iface: u32,
    /// The carrying tunnel's index + 1, 0 for none.
    pub parent: u32,
    pub kind: TunnelKind,
    /// The two ends in canonical order.
    pub a: End,
    pub b: End,
}

/// An identifier as the report spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Id {
    Hex8(u32),
    Hex16(u64),
    Dec(u32),
}

#[derive(Debug, Default)]
pub struct WgState {
    pub initiations: u64,
    pub responses: u64,
    pub cookie_replies: u64,
    pub transport: u64,
    pub handshakes: u64,
    pub unpaired: u64,
    pub sessions: Vec<WgSession>,
    pub sessions_elided: u64,
}

#[derive(Debug)]
pub struct WgSession {
    pub initiator_index: u32,
    pub responder_index: Option<u32>,
    pub initiator: End,
    pub started: Timestamp,
    /// To the responder, to the initiator: packets and bytes.
    pub to_responder: (u64, u64),
    pub to_initiator: (u64, u64),
}

#[derive(Debug, Default)]
pub struct OvpnState {
    pub client_sids: Vec<u64>,
    pub server_sids: Vec<u64>,
    pub key_ids: u8,
    pub peer_ids: Vec<u32>,
    pub control: u64,
    pub ack: u64,
    pub data: u64,
    pub data_bytes: u64,
    pub client: Option<End>,
    pub variant: Option<openvpn::Variant>,
}

#[derive(Debug)]
pub struct TunnelState {
    pub key: Key,
    pub transport: TunnelTransport,
    /// The sender of the first packet seen.
    pub src: End,
    pub dst: End,
    /// The ports of `src` and `dst` while every packet had the same (tunnels keyed without
    /// ports: VXLAN's source port varies per inner flow); 0 once they varied.
    pub ports: (u16, u16),
    pub ids: Vec<Id>,
    pub ids_elided: u64,
    pub variant: Option<&'static str>,
    pub packets: u64,
    pub bytes: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    pub proc: Option<ProcHandle>,
    pub wg: Option<Box<WgState>>,
    pub ovpn: Option<Box<OvpnState>>,
}

impl TunnelState {
    /// Note an identifier (once; the most recent one is checked first, which is nearly
    /// every packet's).
    pub fn id(&mut self, id: Id) {
        if self.ids.last() == Some(&id) || self.ids.contains(&id) {
            return;
        }
        if self.ids.len() < MAX_IDS {
            self.ids.push(id);
        } else {
            self.ids_elided += 1;
        }
    }
}

#[derive(Default)]
pub struct Tunnels {
    index: FxHashMap<Key, u32>,
    pub list: Vec<TunnelState>,
    /// Tunnels not kept: the table was full.
    pub refused: u64,
    /// Packets inside tunnels nested deeper than [`MAX_DEPTH`], not decoded.
    pub too_deep: u64,
    /// The state is at its memory limit: no new tunnel (`budget`).
    pub full: bool,
}

/// Where one tunnel packet was seen.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub at: Timestamp,
    pub count: u64,
    pub bytes: u64,
    pub proc: Option<ProcHandle>,
    /// The UDP or TCP ports of the packet, sender's first (0 for none).
    pub ports: (u16, u16),
}

impl Tunnels {
    /// The tunnel of `kind` between `src` and `dst` (the packet's sender first), counted
    /// with one packet; its index, or `None` when the table is full.
    #[allow(clippy::too_many_arguments)]
    pub fn touch(
        &mut self,
        iface: u32,
        parent: u32,
        kind: TunnelKind,
        transport: TunnelTransport,
        src: End,
        dst: End,
        seen: Seen,
    ) -> Option<usize> {
        let (a, b) = if src <= dst { (src, dst) } else { (dst, src) };
        let key = Key { iface, parent, kind, a, b };
        let i = match self.index.get(&key) {
            Some(&i) => i as usize,
            None => {
                if self.full || self.list.len() >= MAX_TUNNELS {
                    self.refused += 1;
                    return None;
                }
                let i = self.list.len();
                self.index.insert(key, i as u32);
                self.list.push(TunnelState {
                    key,
                    transport,
                    src,
                    dst,
                    ports: seen.ports,
                    ids: Vec::new(),
                    ids_elided: 0,
                    variant: None,
                    packets: 0,
                    bytes: 0,
                    first: seen.at,
                    last: seen.at,
                    proc: None,
                    wg: None,
                    ovpn: None,
                });
                i
            }
        };
        let t = &mut self.list[i];
        t.packets += seen.count;
        t.bytes += seen.bytes;
        t.first = t.first.min(seen.at);
        t.last = t.last.max(seen.at);
        if t.proc.is_none() {
            t.proc = seen.proc;
        }
        let ports = if t.src == src { seen.ports } else { (seen.ports.1, seen.ports.0) };
        if ports.0 != t.ports.0 {
            t.ports.0 = 0;
        }
        if ports.1 != t.ports.1 {
            t.ports.1 = 0;
        }
        Some(i)
    }
}

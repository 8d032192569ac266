//! The tunnel table: one entry per tunnel seen on the wire, keyed by its kind, the interface,
//! the tunnel it was itself carried in, and its two ends (with ports where the kind's ends
//! are sockets: WireGuard, OpenVPN, L2TP, Teredo; without where the ports vary per inner flow
//! or say nothing: GTP-U, VXLAN, Geneve, GRE in UDP). Bounded by the number of tunnels (a
//! cap), and each entry's lists by their own caps, with what they left out counted.

use std::net::IpAddr;

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
/// Identifiers a tunnel tells apart (to count each unlisted one once): past this many, an
/// identifier not seen before cannot be told from one that was, and is counted as untold.
pub const MAX_TOLD_IDS: usize = 65_536;
/// Up to this many identifiers a tunnel's list is searched in place; past it, in a set.
const SCAN_IDS: usize = 8;
/// Most WireGuard sessions (handshakes) listed per tunnel.
pub const MAX_WG_SESSIONS: usize = 64;
/// How deep tunnels are followed inside tunnels.
pub const MAX_DEPTH: u8 = 8;
/// Most GRE sequence number streams (a sender and a key) followed per tunnel.
pub const MAX_GRE_STREAMS: usize = 16;
/// How far back a GRE sequence number may be and still be told late from repeated (as ESP's
/// replay window).
const GRE_WINDOW: u32 = 64;
/// A GRE sequence number this far ahead of the highest, or farther back than [`GRE_WINDOW`],
/// is taken as the sender starting over (a restarted tunnel end), not as that many lost or
/// one very late packet.
const GRE_RESYNC_AHEAD: u32 = 1 << 16;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// The sequence numbers one GRE sender put under one key (RFC 2890: numbered per key and
/// direction; PPTP's enhanced GRE: per call ID), followed in serial number arithmetic (they
/// wrap from 2^32 - 1 to 0), and the acknowledgment numbers it sent (PPTP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GreStream {
    pub from: End,
    /// The GRE key or PPTP call ID the packets carried (`None`: no key).
    pub key: Option<u32>,
    /// Packets with a sequence number (0: the sender only acknowledged, and `first_seq`
    /// and `last_seq` mean nothing).
    pub packets: u64,
    pub first_seq: u32,
    pub last_seq: u32,
    /// Numbers skipped (lost, or not seen yet: a late packet takes its number out again).
    pub gaps: u64,
    /// Packets that came after a higher number and filled a gap.
    pub reordered: u64,
    /// Packets whose number was seen before (duplicates, replays).
    pub repeats: u64,
    /// Numbers far ahead or far behind, taken as the sender starting over.
    pub resyncs: u64,
    /// The numbers seen among the 64 up to `last_seq` (bit 0: `last_seq`).
    window: u64,
    /// Packets with an acknowledgment number (PPTP: the highest number received in order
    /// from the peer), with or without a sequence number of their own.
    pub acks: u64,
    /// The acknowledgment number of the latest of them.
    pub last_ack: Option<u32>,
}

impl GreStream {
    fn new(from: End, key: Option<u32>) -> Self {
        GreStream {
            from,
            key,
            packets: 0,
            first_seq: 0,
            last_seq: 0,
            gaps: 0,
            reordered: 0,
            repeats: 0,
            resyncs: 0,
            window: 0,
            acks: 0,
            last_ack: None,
        }
    }

    /// Follow sequence number `seq`.
    fn sequence(&mut self, seq: u32) {
        if self.packets == 0 {
            (self.packets, self.first_seq, self.last_seq, self.window) = (1, seq, seq, 1);
            return;
        }
        self.packets += 1;
        let ahead = seq.wrapping_sub(self.last_seq) as i32;
        if ahead > 0 {
            let step = ahead.unsigned_abs();
            if step >= GRE_RESYNC_AHEAD {
                self.resync(seq);
                return;
            }
            self.gaps += u64::from(step - 1);
            self.window = if step >= GRE_WINDOW { 1 } else { self.window << step | 1 };
            self.last_seq = seq;
            return;
        }
        let back = ahead.unsigned_abs();
        if back >= GRE_WINDOW {
            self.resync(seq);
        } else if self.window & 1 << back != 0 {
            self.repeats += 1;
        } else {
            self.window |= 1 << back;
            self.reordered += 1;
            if (seq.wrapping_sub(self.first_seq) as i32) < 0 {
                // Before the first number seen: no gap was counted for it.
                self.first_seq = seq;
            } else {
                self.gaps = self.gaps.saturating_sub(1);
            }
        }
    }

    fn resync(&mut self, seq: u32) {
        self.resyncs += 1;
        self.last_seq = seq;
        self.window = 1;
    }
}

/// What GRE's sequence numbers show of a tunnel.
#[derive(Debug, Default)]
pub struct GreState {
    pub streams: Vec<GreStream>,
    /// Packets with a sequence or acknowledgment number of streams past [`MAX_GRE_STREAMS`],
    /// not followed.
    pub unfollowed: u64,
}

impl GreState {
    /// A packet from `from` with GRE key (or PPTP call ID) `key` carrying a sequence number
    /// `seq` or an acknowledgment number `ack` (or both).
    pub fn observe(&mut self, from: End, key: Option<u32>, seq: Option<u32>, ack: Option<u32>) {
        let i = match self.streams.iter().position(|s| s.key == key && s.from == from) {
            Some(i) => i,
            None if self.streams.len() < MAX_GRE_STREAMS => {
                self.streams.push(GreStream::new(from, key));
                self.streams.len() - 1
            }
            None => {
                self.unfollowed += 1;
                return;
            }
        };
        let s = &mut self.streams[i];
        if let Some(seq) = seq {
            s.sequence(seq);
        }
        if let Some(ack) = ack {
            s.acks += 1;
            s.last_ack = Some(ack);
        }
    }
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
    /// Distinct identifiers seen past the [`MAX_IDS`] listed.
    pub ids_elided: u64,
    /// Every identifier seen, once the list outgrew [`SCAN_IDS`] (at most [`MAX_TOLD_IDS`]).
    seen_ids: foldhash::HashSet<Id>,
    /// Packets whose identifier could not be told new or known: the set was at its cap, or
    /// the state at its memory limit.
    pub ids_untold: u64,
    /// Whether `seen_ids` may grow: the table's state is not at its memory limit (set by
    /// [`Tunnels::touch`] before the packet's identifiers are noted).
    may_grow: bool,
    pub variant: Option<&'static str>,
    pub packets: u64,
    pub bytes: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    pub proc: Option<ProcHandle>,
    pub wg: Option<Box<WgState>>,
    pub ovpn: Option<Box<OvpnState>>,
    /// GRE with sequence numbers: the streams followed.
    pub gre: Option<Box<GreState>>,
}

impl TunnelState {
    /// Note an identifier: listed while fewer than [`MAX_IDS`] are, else counted as elided,
    /// once each. The most recent one is checked first (most packets'), a short list in place,
    /// a longer one in a set (a GTP-U path carries a TEID per bearer: thousands).
    pub fn id(&mut self, id: Id) {
        if self.ids.last() == Some(&id) {
            return;
        }
        if self.seen_ids.is_empty() {
            if self.ids.contains(&id) {
                return;
            }
            if self.ids.len() < SCAN_IDS {
                self.ids.push(id);
                return;
            }
            if !self.may_grow {
                self.ids_untold += 1;
                return;
            }
            self.seen_ids.extend(self.ids.iter().copied());
        } else if self.seen_ids.contains(&id) {
            return;
        }
        if !self.may_grow || self.seen_ids.len() >= MAX_TOLD_IDS {
            self.ids_untold += 1;
            return;
        }
        self.seen_ids.insert(id);
        if self.ids.len() < MAX_IDS {
            self.ids.push(id);
        } else {
            self.ids_elided += 1;
        }
    }
}

#[derive(Default)]
pub struct Tunnels {
    /// Keys come from packets: a seeded hash (foldhash), so that a crafted capture cannot aim
    /// them at one bucket (as the per-packet tables' own mix).
    index: foldhash::HashMap<Key, u32>,
    /// The tunnel of the previous packet: most packets are in the same tunnel as the one
    /// before (a capture of one GTP-U path, one VPN), found by one compare instead of a hash.
    last: Option<(Key, u32)>,
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
        let cached = match &self.last {
            Some((k, i)) if *k == key => Some(*i),
            _ => self.index.get(&key).copied(),
        };
        let i = match cached {
            Some(i) => i as usize,
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
                    seen_ids: Default::default(),
                    ids_untold: 0,
                    may_grow: true,
                    variant: None,
                    packets: 0,
                    bytes: 0,
                    first: seen.at,
                    last: seen.at,
                    proc: None,
                    wg: None,
                    ovpn: None,
                    gre: None,
                });
                i
            }
        };
        self.last = Some((key, i as u32));
        let t = &mut self.list[i];
        t.may_grow = !self.full;
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

#[cfg(test)]
mod tests {
    use super::{End, GreState, Id, Seen, Tunnels, MAX_GRE_STREAMS, MAX_IDS, MAX_TOLD_IDS};
    use crate::report::{TunnelKind, TunnelTransport};
    use crate::time::Timestamp;

    fn touch(t: &mut Tunnels) -> usize {
        let (a, b) = (End::Ip([192, 0, 2, 1].into(), 0), End::Ip([192, 0, 2, 2].into(), 0));
        let seen = Seen { at: Timestamp(0), count: 1, bytes: 100, proc: None, ports: (2152, 2152) };
        t.touch(0, 0, TunnelKind::GtpU, TunnelTransport::Udp, a, b, seen).expect("room")
    }

    #[test]
    fn identifiers_past_the_list_are_counted_once_each() {
        let mut t = Tunnels::default();
        for round in 0..3 {
            for teid in 0..200u32 {
                let i = touch(&mut t);
                t.list[i].id(Id::Hex8(teid));
                t.list[i].id(Id::Hex8(teid));
            }
            let s = &t.list[0];
            assert_eq!((s.ids.len(), s.ids_elided, s.ids_untold), (MAX_IDS, 200 - MAX_IDS as u64, 0), "round {round}");
        }
        assert_eq!(t.list[0].ids[..3], [Id::Hex8(0), Id::Hex8(1), Id::Hex8(2)], "in order of first sight");
        // At the memory limit a new identifier cannot be remembered: untold, not elided.
        t.full = true;
        let i = touch(&mut t);
        t.list[i].id(Id::Hex8(7));
        t.list[i].id(Id::Hex8(5000));
        assert_eq!((t.list[0].ids_elided, t.list[0].ids_untold), (200 - MAX_IDS as u64, 1));
        // Past the identifiers a tunnel tells apart, likewise.
        t.full = false;
        let i = touch(&mut t);
        for teid in 0..MAX_TOLD_IDS as u32 + 10 {
            t.list[i].id(Id::Hex8(teid));
        }
        assert_eq!(t.list[0].ids_elided, (MAX_TOLD_IDS - MAX_IDS) as u64);
        assert_eq!(t.list[0].ids_untold, 1 + 10);
    }

    /// A sender that acknowledges before it numbers a packet: its first number starts the
    /// stream, and the latest acknowledgment is kept.
    #[test]
    fn acknowledgments_with_and_without_numbers() {
        let mut g = GreState::default();
        let from = End::Ip([192, 0, 2, 1].into(), 0);
        g.observe(from, Some(40), None, Some(7));
        assert_eq!((g.streams[0].packets, g.streams[0].acks, g.streams[0].last_ack), (0, 1, Some(7)));
        g.observe(from, Some(40), Some(3), Some(5));
        g.observe(from, Some(40), Some(4), None);
        let s = &g.streams[0];
        assert_eq!((s.packets, s.first_seq, s.last_seq, s.gaps, s.repeats), (2, 3, 4, 0, 0));
        assert_eq!((s.acks, s.last_ack), (2, Some(5)));
        for k in 0..MAX_GRE_STREAMS as u32 {
            g.observe(from, Some(100 + k), None, Some(1));
        }
        assert_eq!((g.streams.len(), g.unfollowed), (MAX_GRE_STREAMS, 1));
    }

    fn run(seqs: &[u32]) -> (u64, u32, u32, u64, u64, u64, u64) {
        let mut g = GreState::default();
        let from = End::Ip([192, 0, 2, 1].into(), 0);
        for &s in seqs {
            g.observe(from, Some(1), Some(s), None);
        }
        let s = &g.streams[0];
        (s.packets, s.first_seq, s.last_seq, s.gaps, s.reordered, s.repeats, s.resyncs)
    }

    #[test]
    fn gre_numbers_wrap_and_late_ones_fill_gaps() {
        const M: u32 = u32::MAX;
        assert_eq!(run(&[M - 1, M, 0, 2, 1]), (5, M - 1, 2, 0, 1, 0, 0));
        assert_eq!(run(&[5, 4, 6, 6]), (4, 4, 6, 0, 1, 1, 0));
        assert_eq!(run(&[1, 10]), (2, 1, 10, 8, 0, 0, 0));
    }

    #[test]
    fn gre_sender_starting_over_is_a_resync_not_a_storm_of_gaps() {
        // Far behind: the sender restarted at 0; its next numbers follow on from there.
        assert_eq!(run(&[1_000_000, 1_000_001, 0, 1, 2]), (5, 1_000_000, 2, 0, 0, 0, 1));
        // Far ahead: a jump of 2^20 is not a million lost packets.
        assert_eq!(run(&[7, 7 + (1 << 20), 8 + (1 << 20)]), (3, 7, 8 + (1 << 20), 0, 0, 0, 1));
        // 64 behind is outside the window: a resync as well; 63 behind is late.
        assert_eq!(run(&[0, 100, 36]).6, 1);
        assert_eq!(run(&[0, 100, 37]).4, 1);
    }

    #[test]
    fn gre_streams_are_per_sender_and_key_and_bounded() {
        let mut g = GreState::default();
        let a = End::Ip([192, 0, 2, 1].into(), 0);
        let b = End::Ip([192, 0, 2, 2].into(), 0);
        g.observe(a, Some(1), Some(10), None);
        g.observe(b, Some(1), Some(10), None);
        g.observe(a, None, Some(10), None);
        g.observe(a, Some(1), Some(11), None);
        assert_eq!(g.streams.len(), 3);
        assert_eq!((g.streams[0].packets, g.streams[0].repeats), (2, 0));
        for k in 0..MAX_GRE_STREAMS as u32 + 5 {
            g.observe(a, Some(100 + k), Some(1), None);
        }
        assert_eq!((g.streams.len(), g.unfollowed), (MAX_GRE_STREAMS, 8));
    }
}

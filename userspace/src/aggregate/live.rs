//! The events of live sources: interface and process lifecycle, sockets, TUN attachment, kernel
//! counters, losses, and the heartbeat that drives expiry. Capture replays send few of these
//! (interfaces and processes), live sessions all of them.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::esp_table::{Counted, EspKey};
use super::flows::{self, app, TableKey};
use super::{Aggregator, Ends, FlowKey, Pkt, ProcHandle};
use crate::decode::Malformed;
use crate::event::{
    CountLayer, CountMode, CountedTunnel, Direction, EspCounters, FlowCounters, InterfaceInfo, LossNotice, SocketEvent,
    TunAttach, TunnelCounters,
};
use crate::time::Timestamp;

/// Keys whose last total is kept, to turn [`CountMode::Total`] counts into increments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum CounterKey {
    Flow {
        socket: bool,
        iface: u32,
        dir: u8,
        proto: u8,
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        cookie: u64,
        pid: Option<u32>,
    },
    Tunnel {
        iface: u32,
        dir: u8,
        kind: CountedTunnel,
        index: u32,
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
    },
    Esp {
        iface: u32,
        dir: u8,
        spi: u32,
        src: IpAddr,
        dst: IpAddr,
        udp: bool,
        sport: u16,
        dport: u16,
    },
}

fn dir_code(d: Direction) -> u8 {
    match d {
        Direction::In => 1,
        Direction::Out => 2,
        Direction::Unknown => 0,
    }
}

/// Last totals kept at most (one per kernel map key a total-reporting source has).
pub const MAX_TOTALS: usize = 1_048_576;
/// TUN attachments waiting for their interface to be announced.
const MAX_PENDING_TUN: usize = 256;

/// What the aggregator keeps for live sources.
#[derive(Debug, Default)]
pub(super) struct LiveState {
    /// Last (packets, bytes, gaps, repeats) per key counted in totals.
    totals: FxHashMap<CounterKey, [u64; 5]>,
    /// Totals not kept because [`MAX_TOTALS`] were: their counts are taken as increments.
    pub totals_refused: u64,
    /// Packets counted at the interface layer, and those of them the socket layer attributed.
    pub counted: u64,
    pub attributed: u64,
    /// Loss by cause, and the last total of causes reported in totals.
    pub losses: BTreeMap<String, u64>,
    loss_totals: FxHashMap<String, u64>,
    tun_pending: Vec<TunAttach>,
    pub tun_refused: u64,
    next_sweep: i64,
    pub flows_expired: u64,
    /// Stream time of the first heartbeat (a live session's start) and of the last.
    pub first_tick: Option<Timestamp>,
    pub last_tick: Option<Timestamp>,
}

impl LiveState {
    /// The increment a count brings: itself for a delta, the difference to the last total of
    /// the same key for a total (a total that went down, a restarted counter, counts whole).
    fn increment(&mut self, key: CounterKey, mode: CountMode, now: [u64; 5]) -> [u64; 5] {
        if mode == CountMode::Delta {
            return now;
        }
        let full = self.totals.len() >= MAX_TOTALS;
        match self.totals.get_mut(&key) {
            Some(last) => {
                let d = std::array::from_fn(|i| if now[i] >= last[i] { now[i] - last[i] } else { now[i] });
                *last = now;
                d
            }
            None => {
                if full {
                    self.totals_refused += 1;
                } else {
                    self.totals.insert(key, now);
                }
                now
            }
        }
    }
}

impl Aggregator {
    pub(super) fn interface(&mut self, i: &InterfaceInfo) {
        let idx = self.ifaces.announce(i);
        let Some(name) = i.name.as_deref() else { return };
        if let Some(pos) = self.live.tun_pending.iter().position(|t| t.name == name && t.netns == i.netns) {
            let t = self.live.tun_pending.remove(pos);
            self.tun_on(idx, &t);
        }
    }

    pub(super) fn interface_gone(&mut self, id: u32, at: Timestamp) {
        if let Some(idx) = self.ifaces.index(id) {
            self.ifaces.remove(idx, at);
        }
    }

    pub(super) fn socket(&mut self, s: &SocketEvent) {
        let h = self.procs.resolve(s.pid, s.ts);
        self.sockets.apply(s, h);
    }

    /// A process attached to a TUN device. The first attachment of a device that appeared
    /// while the source watched created it; later ones (and any on a device that was there
    /// before) hold it.
    pub(super) fn tun(&mut self, t: &TunAttach) {
        let idx = self.ifaces.by_netns_name(t.netns, &t.name).filter(|&i| self.ifaces.list[i].removed.is_none());
        match idx {
            Some(idx) => self.tun_on(idx, t),
            None if self.live.tun_pending.len() < MAX_PENDING_TUN => self.live.tun_pending.push(t.clone()),
            None => self.live.tun_refused += 1,
        }
    }

    fn tun_on(&mut self, idx: usize, t: &TunAttach) {
        let h = self.procs.resolve(t.pid, t.ts);
        let pid = self.procs.pid(h).unwrap_or(t.pid);
        let info = &mut self.ifaces.list[idx].info;
        if info.created_by.is_none() && !info.created_before_start {
            info.created_by = Some((pid, Some(t.ts)));
        }
        info.owner = Some(pid);
    }

    fn proc_of(&mut self, pid: Option<u32>, cookie: u64, at: Timestamp) -> Option<ProcHandle> {
        match pid {
            Some(p) => Some(self.procs.resolve(p, at)),
            None if cookie != 0 => self.sockets.owner(cookie),
            None => None,
        }
    }

    pub(super) fn counters(&mut self, c: &FlowCounters) {
        let socket = c.layer == CountLayer::Socket;
        let key = CounterKey::Flow {
            socket,
            iface: c.iface,
            dir: dir_code(c.direction),
            proto: c.proto,
            src: c.src,
            sport: c.sport,
            dst: c.dst,
            dport: c.dport,
            cookie: c.cookie,
            pid: c.pid,
        };
        let [packets, bytes, ..] = self.live.increment(key, c.mode, [c.packets, c.bytes, 0, 0, 0]);
        let Some(idx) = self.ifaces.index(c.iface) else {
            self.bad(Malformed::new("kernel counters on an interface never described"));
            return;
        };
        let last = c.last.unwrap_or(c.at);
        let first = c.first.unwrap_or(last);
        let proc = self.proc_of(c.pid, c.cookie, last);
        if c.cookie != 0 {
            self.sockets.touch(c.cookie, last);
        }
        let (fkey, a_src) = FlowKey::new(idx as u32, c.proto, c.src, c.sport, c.dst, c.dport);
        if socket {
            // Who sent or received them: the interface layer counted the packets already.
            if let Some(h) = proc {
                self.procs.count(h, idx as u32, packets, bytes, last);
                self.live.attributed += packets;
            }
            match self.flows.touch(&fkey, fkey.table_hash(), a_src, first, 0, 0, None) {
                Some(f) => {
                    if f.proc.is_none() {
                        f.proc = proc;
                    }
                }
                None => self.flow_overflow += packets,
            }
            return;
        }
        if packets > 0 {
            self.stats.packets += packets;
            self.stats.bytes += bytes;
            self.ts_min = self.ts_min.min(first.0);
            self.ts_max = self.ts_max.max(last.0);
            let st = &mut self.ifaces.list[idx];
            st.packets += packets;
            st.bytes += bytes;
            self.live.counted += packets;
        }
        let (rtp, gen) = (&self.rtp, self.rtp_generation);
        match self.flows.touch(&fkey, fkey.table_hash(), a_src, first, packets, bytes, proc) {
            Some(f) => {
                if f.first > first {
                    f.first = first;
                }
                if f.last < last {
                    f.last = last;
                }
                // Media announced in SDP names the bulk flows the kernel counted.
                if f.apps == 0 && c.proto == flows::UDP && f.rtp_checked != gen {
                    f.rtp_checked = gen;
                    if rtp.contains(&(c.dst, c.dport)) || rtp.contains(&(c.src, c.sport)) {
                        f.apps |= app::RTP;
                    }
                }
            }
            None => self.flow_overflow += packets,
        }
    }

    pub(super) fn esp_counters(&mut self, c: &EspCounters) {
        let key = CounterKey::Esp {
            iface: c.iface,
            dir: dir_code(c.direction),
            spi: c.spi,
            src: c.src,
            dst: c.dst,
            udp: c.udp,
            sport: c.sport,
            dport: c.dport,
        };
        let [packets, bytes, gaps, repeats, reordered] =
            self.live.increment(key, c.mode, [c.packets, c.bytes, c.gaps, c.repeats, c.reordered]);
        let Some(idx) = self.ifaces.index(c.iface) else {
            self.bad(Malformed::new("kernel counters on an interface never described"));
            return;
        };
        let last = c.last.unwrap_or(c.at);
        let first = c.first.unwrap_or(last);
        // The flow that carries it says whose it is (the socket of ESP in UDP) and is marked.
        let (proto, sport, dport, bit) =
            if c.udp { (flows::UDP, c.sport, c.dport, app::ESP_IN_UDP) } else { (flows::ESP, 0, 0, app::ESP) };
        let (fkey, a_src) = FlowKey::new(idx as u32, proto, c.src, sport, c.dst, dport);
        let proc = match self.flows.touch(&fkey, fkey.table_hash(), a_src, first, 0, 0, None) {
            Some(f) => {
                f.apps |= bit;
                f.proc
            }
            None => None,
        };
        let counted = Counted {
            packets,
            bytes,
            first_seq: c.first_seq,
            last_seq: c.last_seq,
            gaps,
            repeats,
            reordered,
            first,
            last,
        };
        let k = EspKey::new(c.spi, c.src, c.dst, c.udp);
        self.esp.add(k, &counted, Some(idx as u32), proc, (sport, dport));
    }

    /// Tunnel messages the kernel counted (WireGuard, OpenVPN, GTP-U, VXLAN, Geneve over UDP;
    /// GRE and IP in IP directly in IP): the flow that carries them is marked (its packets are
    /// counted by [`FlowCounters`]) and says whose they are; the tunnel counts them.
    pub(super) fn tunnel_counters(&mut self, c: &TunnelCounters) {
        let key = CounterKey::Tunnel {
            iface: c.iface,
            dir: dir_code(c.direction),
            kind: c.kind,
            index: c.index,
            src: c.src,
            sport: c.sport,
            dst: c.dst,
            dport: c.dport,
        };
        let [packets, bytes, ..] = self.live.increment(key, c.mode, [c.packets, c.bytes, 0, 0, 0]);
        if packets == 0 {
            return;
        }
        let Some(idx) = self.ifaces.index(c.iface) else {
            self.bad(Malformed::new("kernel counters on an interface never described"));
            return;
        };
        let last = c.last.unwrap_or(c.at);
        let first = c.first.unwrap_or(last);
        let kind = c.kind.kind();
        let proto = match c.kind {
            CountedTunnel::Gre(_) => crate::decode::tunnel::PROTO_GRE,
            CountedTunnel::IpInIp(k) => crate::decode::tunnel::ip_in_ip_proto(k),
            CountedTunnel::OpenvpnTcp(_) => flows::TCP,
            _ => flows::UDP,
        };
        let (fkey, a_src) = FlowKey::new(idx as u32, proto, c.src, c.sport, c.dst, c.dport);
        let proc = match self.flows.touch(&fkey, fkey.table_hash(), a_src, first, 0, 0, None) {
            Some(f) => {
                f.apps |= app::carrying(super::decap::kind_index(kind));
                f.proc
            }
            None => None,
        };
        let pk = Pkt { at: first, iface: idx as u32, proc, wire_len: bytes, count: packets, tunnel: 0, depth: 0 };
        let e = Ends { src: c.src, sport: c.sport, dst: c.dst, dport: c.dport };
        self.counted_tunnel(pk, e, c.kind, c.index, last);
    }

    pub(super) fn loss(&mut self, l: &LossNotice) {
        let d = match l.mode {
            CountMode::Delta => l.count,
            CountMode::Total => {
                let last = self.live.loss_totals.entry(l.what.clone()).or_insert(0);
                let d = if l.count >= *last { l.count - *last } else { l.count };
                *last = l.count;
                d
            }
        };
        if d > 0 || !self.live.losses.contains_key(&l.what) {
            *self.live.losses.entry(l.what.clone()).or_insert(0) += d;
        }
        self.stats.dropped_events += d;
    }

    /// Stream time moved on: let go of what has ended or gone idle, as [`super::Expiry`] says.
    pub(super) fn tick(&mut self, now: Timestamp) {
        self.live.last_tick = Some(self.live.last_tick.map_or(now, |t| t.max(now)));
        self.live.first_tick = Some(self.live.first_tick.map_or(now, |t| t.min(now)));
        if now.0 < self.live.next_sweep {
            return;
        }
        self.live.next_sweep = now.0.saturating_add(self.opts.expiry.sweep_every);
        self.sweep(now);
    }

    fn sweep(&mut self, now: Timestamp) {
        let x = self.opts.expiry;
        if let Some(idle) = x.idle_flow {
            let gone = self.flows.map.retain(|_, f| now.0.saturating_sub(f.last.0) <= idle);
            if gone > 0 && !self.flows.tunnel_of.is_empty() {
                let map = &self.flows.map;
                self.flows.tunnel_of.retain(|k, _| matches!(map.find(k), flows::Slot::Found(_)));
            }
            self.live.flows_expired += gone as u64;
        }
        if let Some(idle) = x.idle_esp {
            self.esp.expire(now, idle);
        }
        self.ike.expire(now, x.ended_ike, x.idle_flow);
        self.sip.expire(now, x.ended_sip, x.idle_flow);
        if let Some(g) = x.closed_socket {
            self.sockets.expire(now, g);
        }
        if let Some(g) = x.exited_process {
            let pins: Vec<ProcHandle> = self
                .sockets
                .processes()
                .chain(self.ike.sas.iter().filter_map(|s| s.proc))
                .chain(self.sip.owners())
                .collect();
            self.procs.set_pins(pins);
            self.procs.expire(now, g);
        }
        self.reasm.expire(now);
        self.tcp.expire(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, ProcessInfo, SocketOp};
    use crate::report::TunnelKind;

    fn iface(id: u32, name: &str, ifindex: u32) -> Event<'static> {
        Event::Interface(Box::new(InterfaceInfo {
            id,
            name: Some(name.into()),
            linktype: crate::linktype::RAW,
            netns: Some(1),
            ifindex: Some(ifindex),
            ..Default::default()
        }))
    }

    fn counters(layer: CountLayer, mode: CountMode, pid: Option<u32>, packets: u64, at: i64) -> Event<'static> {
        Event::Counters(Box::new(FlowCounters {
            at: Timestamp(at),
            mode,
            layer,
            iface: 0,
            direction: Direction::Out,
            proto: 17,
            src: "198.19.1.1".parse().unwrap(),
            sport: 5060,
            dst: "198.19.0.1".parse().unwrap(),
            dport: 5060,
            cookie: 77,
            pid,
            packets,
            bytes: packets * 100,
            first: Some(Timestamp(1)),
            last: Some(Timestamp(at)),
        }))
    }

    /// A live session spans its heartbeats: from the first to the last, also with no packet
    /// at all (it said 0.0 s, started and ended at its last heartbeat).
    #[test]
    fn a_quiet_session_spans_its_heartbeats() {
        let mut a = Aggregator::new(crate::report::SourceKind::Live, crate::report::Backend::Ebpf);
        for t in [1_000_000_000, 2_000_000_000, 3_000_000_000] {
            a.feed(&Event::Tick(Timestamp(t)));
        }
        let r = a.report();
        assert_eq!(r.stats.packets, 0);
        assert_eq!(
            (r.stats.started, r.stats.ended),
            (Some(Timestamp(1_000_000_000).into()), Some(Timestamp(3_000_000_000).into()))
        );
        // Packets inside it do not narrow it.
        a.feed(&counters(CountLayer::Interface, CountMode::Total, None, 1, 2_500_000_000));
        let r = a.report();
        assert_eq!(
            (r.stats.started, r.stats.ended),
            (Some(Timestamp(1_000_000_000).into()), Some(Timestamp(3_000_000_000).into()))
        );
    }

    #[test]
    fn totals_count_once_and_the_socket_layer_attributes() {
        let mut a = Aggregator::new(crate::report::SourceKind::Live, crate::report::Backend::Ebpf);
        a.feed(&iface(0, "ipsec0", 5));
        a.feed(&Event::Process(Box::new(ProcessInfo { pid: 42, comm: Some("sipp".into()), ..Default::default() })));
        for (t, n) in [(10, 3), (20, 3), (30, 5)] {
            a.feed(&counters(CountLayer::Interface, CountMode::Total, None, n, t));
            a.feed(&counters(CountLayer::Socket, CountMode::Total, Some(42), n, t));
        }
        let r = a.report();
        assert_eq!((r.stats.packets, r.stats.bytes, r.stats.unattributed_packets), (5, 500, 0));
        assert_eq!(r.flows.len(), 1);
        let f = &r.flows[0];
        assert_eq!((f.packets, f.pid, f.comm.as_deref()), (5, Some(42), Some("sipp")));
        assert_eq!((f.first, f.last), (Timestamp(1).into(), Timestamp(30).into()));
        let p = r.processes.iter().find(|p| p.pid == 42).unwrap();
        assert_eq!((p.packets, p.bytes, p.interfaces.as_slice()), (5, 500, &["ipsec0".to_string()][..]));
        assert_eq!(r.interfaces[0].packets, 5);
        // Deltas add up.
        a.feed(&counters(CountLayer::Interface, CountMode::Delta, None, 2, 40));
        let r = a.report();
        assert_eq!((r.stats.packets, r.stats.unattributed_packets), (7, 2));
    }

    #[test]
    fn a_packet_with_only_a_cookie_belongs_to_the_sockets_owner() {
        let mut a = Aggregator::new(crate::report::SourceKind::Live, crate::report::Backend::Ebpf);
        a.feed(&iface(0, "veth0", 2));
        let sock = |op, pid, ts| {
            Event::Socket(Box::new(SocketEvent {
                ts: Timestamp(ts),
                op,
                cookie: 9,
                pid,
                proto: 17,
                local: None,
                remote: None,
                netns: Some(1),
                bound_ifindex: None,
                tcp_state: None,
            }))
        };
        a.feed(&sock(SocketOp::Created, 100, 1));
        a.feed(&sock(SocketOp::Used, 101, 2));
        let mut frame = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1];
        frame.extend_from_slice(&[0x1f, 0x90, 0x1f, 0x90, 0, 8, 0, 0]);
        let mut p = crate::event::PacketEvent {
            data: &frame,
            orig_len: 28,
            cookie: 9,
            ts: Timestamp(3),
            ..crate::event::PacketEvent::EMPTY
        };
        a.feed(&Event::Interface(Box::new(InterfaceInfo {
            id: 1,
            linktype: crate::linktype::RAW,
            ..Default::default()
        })));
        p.iface = 1;
        a.feed(&Event::Packet(p));
        let r = a.report();
        assert_eq!(r.flows[0].pid, Some(101), "the child that used it last");
        let s = &r.sockets[0];
        assert_eq!((s.pid, s.users.as_slice(), s.created_by), (Some(101), &[100, 101][..], Some(100)));
        // A sample is decoded but not counted.
        p.sampled = true;
        a.feed(&Event::Packet(p));
        let r2 = a.report();
        assert_eq!((r2.stats.packets, r2.flows[0].packets), (1, 1));
    }

    /// WireGuard and OpenVPN messages counted by the kernel, with a response sampled: the
    /// tunnels count them by type and direction, the response's sample pairs the indices (and
    /// is not counted again), a total repeated is not counted twice, the flow is marked.
    #[test]
    fn counted_tunnel_messages() {
        let mut a = Aggregator::new(crate::report::SourceKind::Live, crate::report::Backend::Ebpf);
        a.feed(&iface(0, "veth0", 5));
        let (ue, gw): (IpAddr, IpAddr) = ("198.18.0.2".parse().unwrap(), "198.18.0.1".parse().unwrap());
        let wg = |kind, index, out: bool, mode, packets, bytes| {
            let (src, sport, dst, dport) = if out { (ue, 40_000, gw, 51_820) } else { (gw, 51_820, ue, 40_000) };
            Event::Tunnel(Box::new(TunnelCounters {
                at: Timestamp(1_000),
                mode,
                iface: 0,
                direction: if out { Direction::Out } else { Direction::In },
                kind,
                index,
                src,
                sport,
                dst,
                dport,
                packets,
                bytes,
                first: Some(Timestamp(100)),
                last: Some(Timestamp(900)),
            }))
        };
        a.feed(&wg(CountedTunnel::Wireguard(1), 0x11, true, CountMode::Delta, 1, 190));
        a.feed(&wg(CountedTunnel::Wireguard(2), 0x22, false, CountMode::Delta, 1, 134));
        // The response's sample: UDP from the gateway, sender 0x22, receiver 0x11.
        let mut frame = vec![0x45, 0, 0, 120, 0, 1, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2];
        frame.extend_from_slice(&[0xca, 0x6c, 0x9c, 0x40, 0, 100, 0, 0]);
        let mut msg = vec![0u8; 92];
        msg[0] = 2;
        msg[4..8].copy_from_slice(&0x22u32.to_le_bytes());
        msg[8..12].copy_from_slice(&0x11u32.to_le_bytes());
        frame.extend_from_slice(&msg);
        let p = crate::event::PacketEvent {
            data: &frame,
            orig_len: frame.len() as u32,
            ts: Timestamp(500),
            sampled: true,
            ..crate::event::PacketEvent::EMPTY
        };
        a.feed(&Event::Packet(p));
        // Transport data: to the responder (its index 0x22) in totals, repeated; back in a delta.
        a.feed(&wg(CountedTunnel::Wireguard(4), 0x22, true, CountMode::Total, 3, 300));
        a.feed(&wg(CountedTunnel::Wireguard(4), 0x22, true, CountMode::Total, 3, 300));
        a.feed(&wg(CountedTunnel::Wireguard(4), 0x11, false, CountMode::Delta, 2, 180));
        // OpenVPN: a client reset, then P_DATA_V2 (opcode 9, key ID 1) of peer ID 7.
        let ov = |b: u8, index, packets| {
            Event::Tunnel(Box::new(TunnelCounters {
                at: Timestamp(1_000),
                mode: CountMode::Delta,
                iface: 0,
                direction: Direction::Out,
                kind: CountedTunnel::Openvpn(b),
                index,
                src: ue,
                sport: 50_000,
                dst: gw,
                dport: 1194,
                packets,
                bytes: packets * 100,
                first: Some(Timestamp(100)),
                last: Some(Timestamp(900)),
            }))
        };
        a.feed(&ov(7 << 3, 0, 1));
        a.feed(&ov(9 << 3 | 1, 7, 4));
        let r = a.report();
        assert_eq!(r.tunnels.len(), 2, "{:#?}", r.tunnels);
        let t = &r.tunnels[0];
        assert_eq!((t.kind, t.packets, t.bytes, t.iface.as_deref()), (TunnelKind::Wireguard, 7, 804, Some("veth0")));
        let w = t.wireguard.as_ref().unwrap();
        assert_eq!(
            (w.initiations, w.responses, w.handshakes, w.transport_packets, w.unpaired_transport),
            (1, 1, 1, 5, 0)
        );
        let s = &w.sessions[0];
        assert_eq!((s.initiator_index.as_str(), s.responder_index.as_deref()), ("00000011", Some("00000022")));
        assert_eq!(
            (s.packets_to_responder, s.bytes_to_responder, s.packets_to_initiator, s.bytes_to_initiator),
            (3, 300, 2, 180)
        );
        let o = r.tunnels[1].openvpn.as_ref().unwrap();
        assert_eq!((o.control_packets, o.data_packets, o.data_bytes), (1, 4, 400));
        assert_eq!((o.key_ids.as_slice(), o.peer_ids.as_slice()), (&[0, 1][..], &[7][..]));
        assert_eq!(o.client.as_deref(), Some("198.18.0.2:50000"));
        // The flows are marked; their packets come as flow counters.
        let Event::Counters(mut c) = counters(CountLayer::Interface, CountMode::Delta, None, 7, 900) else {
            unreachable!()
        };
        (c.src, c.sport, c.dst, c.dport) = (ue, 40_000, gw, 51_820);
        a.feed(&Event::Counters(c));
        let r = a.report();
        assert_eq!(r.flows.iter().map(|f| (f.app.as_str(), f.packets)).collect::<Vec<_>>(), [("wireguard", 7)]);
    }

    #[test]
    fn tun_attachment_names_creator_then_holder() {
        let mut a = Aggregator::new(crate::report::SourceKind::Live, crate::report::Backend::Ebpf);
        let tun = |pid, ts| {
            Event::Tun(Box::new(TunAttach { ts: Timestamp(ts), pid, name: "tun7".into(), netns: Some(1), tap: false }))
        };
        // The ioctl's record came before the interface's announcement.
        a.feed(&tun(300, 5_000));
        a.feed(&iface(0, "tun7", 9));
        a.feed(&tun(301, 6));
        let r = a.report();
        let i = &r.interfaces[0];
        assert_eq!(i.created_by.as_ref().map(|c| (c.pid, c.at)), Some((300, Some(Timestamp(5_000).into()))));
        assert_eq!(i.owner.as_ref().map(|o| o.pid), Some(301));
        // An interface that existed before the session: attaching makes a holder, not a creator.
        let mut old =
            InterfaceInfo { id: 1, name: Some("tun8".into()), netns: Some(1), ifindex: Some(10), ..Default::default() };
        old.created_before_start = true;
        a.feed(&Event::Interface(Box::new(old)));
        a.feed(&Event::Tun(Box::new(TunAttach {
            ts: Timestamp(7),
            pid: 302,
            name: "tun8".into(),
            netns: Some(1),
            tap: false,
        })));
        let r = a.report();
        let i = &r.interfaces[1];
        assert!(i.created_by.is_none() && i.created_before_trace);
        assert_eq!(i.owner.as_ref().map(|o| o.pid), Some(302));
    }

    #[test]
    fn two_namespaces_two_interfaces_and_removal_is_kept() {
        let mut a = Aggregator::new(crate::report::SourceKind::Live, crate::report::Backend::Ebpf);
        a.feed(&iface(0, "ipsec0", 5));
        let mut other = InterfaceInfo {
            id: 1,
            name: Some("ipsec0".into()),
            netns: Some(2),
            ifindex: Some(5),
            ..Default::default()
        };
        other.linktype = crate::linktype::RAW;
        a.feed(&Event::Interface(Box::new(other)));
        a.feed(&Event::InterfaceGone { id: 0, at: Timestamp(50) });
        // The name comes back in namespace 1 as a new interface.
        a.feed(&iface(2, "ipsec0", 6));
        let r = a.report();
        let names: Vec<_> =
            r.interfaces.iter().map(|i| (i.name.clone().unwrap(), i.netns, i.ifindex, i.removed)).collect();
        assert_eq!(
            names,
            [
                ("ipsec0".into(), Some(1), Some(5), Some(Timestamp(50).into())),
                ("ipsec0".into(), Some(2), Some(5), None),
                ("ipsec0".into(), Some(1), Some(6), None)
            ]
        );
    }

    #[test]
    fn losses_are_summed_by_cause_from_totals_or_deltas() {
        let mut a = Aggregator::new(crate::report::SourceKind::Live, crate::report::Backend::Ebpf);
        let loss = |what: &str, mode, count| {
            Event::Loss(Box::new(LossNotice { at: Timestamp(1), mode, what: what.into(), count }))
        };
        a.feed(&loss("ring buffer (cpu 0)", CountMode::Total, 5));
        a.feed(&loss("ring buffer (cpu 0)", CountMode::Total, 8));
        a.feed(&loss("ring buffer (cpu 1)", CountMode::Delta, 2));
        a.feed(&loss("kernel map iface_flows full", CountMode::Total, 0));
        let r = a.report();
        assert_eq!(r.stats.dropped_events, 10);
        let l: Vec<_> = r.stats.losses.iter().map(|l| (l.what.as_str(), l.count)).collect();
        assert_eq!(l, [("kernel map iface_flows full", 0), ("ring buffer (cpu 0)", 8), ("ring buffer (cpu 1)", 2)]);
    }
}

//! The kernel's records and counters, and the host's link changes, turned into the events of the
//! core (`tuntrace_core::event`), in order, into a [`Batch`].
//!
//! This is where the live source keeps the promises of docs/event-model.md: one clock (the
//! kernel's boot-time stamps become wall-clock time here, once, with the offset measured at
//! start), processes announced before events name them (from /proc while they live, from the
//! record when they are already gone), interfaces identified by (namespace, ifindex) with a new
//! id when one comes back, kernel counters sent as deltas (the kernel keeps totals; this side
//! remembers the last read), and every loss reported by cause.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};

use tuntrace_core::capture::linktype;
use tuntrace_core::decode::tunnel::ip_in_ip_kind;
use tuntrace_core::event::{
    Batch, CountLayer, CountMode, CountedTunnel, Direction, EspCounters, Event, FlowCounters, IfaceId, InterfaceInfo,
    LossNotice, PacketEvent, ProcessInfo, SocketEvent, SocketOp, TunAttach, TunnelCounters,
};
use tuntrace_core::time::Timestamp;
use tuntrace_probes::layout::{self as abi, c_str, EspKey, FlowKey, OvpnKey};

use super::records::{ip, RecordRef};
use super::{Counters, EspCount, FlowCount};
use crate::host::clock::{BootNs, BootToWall};
use crate::host::links::Link;
use crate::host::procs::{self, ProcClock};

/// Processes remembered as announced; past this the memory is cleared and processes are
/// announced again when they next appear (an announcement repeated is harmless).
const MAX_ANNOUNCED: usize = 65_536;
/// OpenVPN flows off port 1194 remembered as such; past this a new one is counted as the UDP
/// flow it is (and said so in the loss notices), not as a tunnel.
const MAX_OPENVPN_FLOWS: usize = 4_096;

/// Turns what the kernel and the host say into events.
pub struct Converter {
    clock: BootToWall,
    proc_clock: ProcClock,
    /// The traced namespace, as events name namespaces (its cookie).
    netns: u64,
    /// Interfaces of our namespace that exist now, by kernel index.
    ifaces: HashMap<u32, IfaceState>,
    next_id: IfaceId,
    /// The start time (wall ns, tick resolution) of each process announced, by pid.
    announced: HashMap<u32, Option<i64>>,
    last_flows: HashMap<(bool, FlowKey), (u64, u64)>,
    last_esp: HashMap<EspKey, EspCount>,
    /// UDP flows off port 1194 whose first datagram read as an OpenVPN client's reset (one
    /// direction each): the kernel's OpenVPN counts of these are passed on, those of other
    /// candidates held back until their first datagram is read, and dropped if it was not one.
    openvpn_flows: HashSet<OvpnKey>,
    /// Candidates found not to be OpenVPN, for the kernel to be told ([`Converter::take_not_openvpn`]).
    not_openvpn: Vec<OvpnKey>,
    /// OpenVPN flows off port 1194 not remembered ([`MAX_OPENVPN_FLOWS`]).
    pub openvpn_flows_refused: u64,
    /// Counts on interfaces no longer known (read after they vanished): reported as a loss.
    pub orphan_counts: u64,
}

struct IfaceState {
    id: IfaceId,
    info: InterfaceInfo,
    /// Link-layer header bytes in front of IP on this device (14 for Ethernet).
    l2: u64,
}

fn direction(d: u8) -> Direction {
    match d {
        abi::DIR_IN => Direction::In,
        abi::DIR_OUT => Direction::Out,
        _ => Direction::Unknown,
    }
}

impl Converter {
    pub fn new(clock: BootToWall, proc_clock: ProcClock, netns: u64) -> Self {
        Converter {
            clock,
            proc_clock,
            netns,
            ifaces: HashMap::new(),
            next_id: 0,
            announced: HashMap::new(),
            last_flows: HashMap::new(),
            last_esp: HashMap::new(),
            openvpn_flows: HashSet::new(),
            not_openvpn: Vec::new(),
            openvpn_flows_refused: 0,
            orphan_counts: 0,
        }
    }

    /// Kernel boot-time nanoseconds on the wall clock.
    pub fn at(&self, boot_ns: u64) -> Timestamp {
        self.clock.timestamp(BootNs(boot_ns))
    }

    /// A process start (boot ns) as the core identifies processes: rounded down to the clock
    /// tick, so that the kernel's stamp and /proc's agree.
    fn start_of(&self, start_ns: u64) -> Option<Timestamp> {
        if start_ns == 0 {
            return None;
        }
        let tick = 1_000_000_000 / self.proc_clock.ticks_per_second.max(1);
        Some(self.at(start_ns - start_ns % tick))
    }

    /// The interface id of a kernel index of our namespace, if it is known.
    pub fn iface_id(&self, ifindex: u32) -> Option<IfaceId> {
        self.ifaces.get(&ifindex).map(|s| s.id)
    }

    /// A link of our namespace, announced: new (a new id) or changed (the same id).
    /// `existed_before` marks links found at start, whose creator cannot be known; `owner` is
    /// the holder of a TUN device.
    pub fn link(&mut self, link: &Link, existed_before: bool, owner: Option<u32>, out: &mut Batch) {
        if let Some(pid) = owner {
            self.ensure_process(pid, 0, None, out);
        }
        let id = match self.ifaces.get(&link.index) {
            Some(s) => s.id,
            None => {
                let id = self.next_id;
                self.next_id += 1;
                id
            }
        };
        let mut info = link.to_interface_info(id, Some(self.netns));
        // Packet heads from the kernel start at the IP header, whatever the device's own framing.
        info.linktype = linktype::RAW;
        info.owner = owner;
        info.created_before_start = existed_before;
        if let Some(prev) = self.ifaces.get(&link.index) {
            if prev.info == info {
                return;
            }
        }
        out.push(Event::Interface(Box::new(info.clone())));
        let l2 = u64::from(link.l2_header_len().unwrap_or(0));
        self.ifaces.insert(link.index, IfaceState { id, info, l2 });
    }

    /// A link we announced changed (MTU, name, flags, addresses): said again, with what we knew
    /// of its creation and holder.
    pub fn relink(&mut self, link: &Link, out: &mut Batch) {
        let (before, owner) = match self.ifaces.get(&link.index) {
            Some(s) => (s.info.created_before_start, s.info.owner),
            None => (false, None),
        };
        self.link(link, before, owner, out);
    }

    /// A link of our namespace is gone; a later link with the same index is a new interface.
    pub fn link_removed(&mut self, ifindex: u32, at: Timestamp, out: &mut Batch) {
        if let Some(s) = self.ifaces.remove(&ifindex) {
            out.push(Event::InterfaceGone { id: s.id, at });
        }
    }

    /// Announce process `pid` unless it was: from /proc while it lives (exe, cmdline, uid,
    /// ppid), else from what the record says (`comm`). `start_ns` (boot ns, 0 if unknown) tells
    /// a reused pid from the process announced before.
    pub fn ensure_process(&mut self, pid: u32, start_ns: u64, comm: Option<&[u8]>, out: &mut Batch) {
        if pid == 0 {
            return;
        }
        let start = self.start_of(start_ns);
        if let Some(known) = self.announced.get(&pid) {
            match (known, start) {
                (Some(k), Some(s)) if *k != s.0 => {}
                _ => return,
            }
        }
        if self.announced.len() >= MAX_ANNOUNCED {
            self.announced.clear();
        }
        let from_proc = procs::read(pid, &self.proc_clock).map(|p| p.to_info(&self.clock));
        let info = match from_proc {
            // /proc's process is the one the record names (or the record did not say).
            Some(p) if start.is_none() || p.start == start => p,
            _ => ProcessInfo { pid, comm: comm.map(c_str).filter(|c| !c.is_empty()), start, ..Default::default() },
        };
        self.announced.insert(pid, info.start.map(|t| t.0));
        out.push(Event::Process(Box::new(info)));
    }

    /// One ring-buffer record.
    pub fn record(&mut self, r: &RecordRef<'_>, out: &mut Batch) {
        match r {
            RecordRef::Sock(s) => self.sock(s, out),
            RecordRef::Proc(p) => {
                let at = self.at(p.hdr.ts);
                let start = self.start_of(p.start_ns);
                match p.op {
                    abi::PROC_EXEC => {
                        // The same process under a new program: its exe and cmdline are re-read.
                        let mut info = procs::read(p.tgid, &self.proc_clock)
                            .map(|x| x.to_info(&self.clock))
                            .filter(|x| start.is_none() || x.start == start)
                            .unwrap_or(ProcessInfo { pid: p.tgid, start, ..Default::default() });
                        info.comm = Some(c_str(&p.comm)).filter(|c| !c.is_empty()).or(info.comm);
                        if info.exe.is_none() {
                            info.exe = Some(c_str(&p.filename)).filter(|f| !f.is_empty());
                        }
                        self.announced.insert(p.tgid, info.start.map(|t| t.0));
                        out.push(Event::Process(Box::new(info)));
                    }
                    abi::PROC_EXIT => {
                        self.ensure_process(p.tgid, p.start_ns, Some(&p.comm), out);
                        out.push(Event::ProcessExit { pid: p.tgid, start, at });
                    }
                    _ => {}
                }
            }
            RecordRef::Tun(t) => {
                self.ensure_process(t.tgid, t.start_ns, Some(&t.comm), out);
                out.push(Event::Tun(Box::new(TunAttach {
                    ts: self.at(t.hdr.ts),
                    pid: t.tgid,
                    name: c_str(&t.ifname),
                    netns: Some(self.netns),
                    tap: t.flags & 0x0002 != 0,
                })));
            }
            RecordRef::Packet { rec, data } => {
                if rec.flags & abi::PKT_OVPN_START != 0 {
                    self.openvpn_start(data);
                }
                let Some(iface) = self.iface_id(rec.ifindex) else {
                    self.orphan_counts += 1;
                    return;
                };
                let pid = (rec.tgid != 0).then_some(rec.tgid);
                if let Some(p) = pid {
                    self.ensure_process(p, 0, None, out);
                }
                out.push_packet(&PacketEvent {
                    ts: self.at(rec.hdr.ts),
                    data,
                    cookie: rec.cookie,
                    pid,
                    effective_pid: None,
                    iface,
                    orig_len: rec.orig_len,
                    direction: direction(rec.direction),
                    sampled: true,
                });
            }
        }
    }

    /// The datagram that made a UDP flow an OpenVPN candidate in the kernel, read as replay
    /// reads a flow's first datagram off port 1194: a client's hard reset or not.
    fn openvpn_start(&mut self, data: &[u8]) {
        let Some((key, reset)) = openvpn_start(data) else { return };
        if reset {
            if self.openvpn_flows.contains(&key) || self.openvpn_flows.contains(&key.reversed()) {
                return;
            }
            if self.openvpn_flows.len() >= MAX_OPENVPN_FLOWS {
                self.openvpn_flows_refused += 1;
                self.not_openvpn.push(key);
                return;
            }
            self.openvpn_flows.insert(key);
        } else if !self.openvpn_flows.contains(&key) && !self.openvpn_flows.contains(&key.reversed()) {
            self.not_openvpn.push(key);
        }
    }

    /// The candidates found not to be OpenVPN since the last call.
    pub fn take_not_openvpn(&mut self) -> Vec<OvpnKey> {
        std::mem::take(&mut self.not_openvpn)
    }

    fn sock(&mut self, s: &abi::SockRec, out: &mut Batch) {
        // A socket learned from a packet before any process used it has no owner yet: the
        // OWNER record of its first user says who, with its addresses.
        if s.tgid == 0 {
            return;
        }
        self.ensure_process(s.tgid, s.start_ns, Some(&s.comm), out);
        let op = match s.op {
            abi::SOCK_CREATE => SocketOp::Created,
            abi::SOCK_BIND => SocketOp::Bound,
            abi::SOCK_CONNECT => SocketOp::Connected,
            abi::SOCK_CLOSE => SocketOp::Closed,
            abi::SOCK_TCP_STATE => SocketOp::State,
            abi::SOCK_OWNER | abi::SOCK_LEARNED => SocketOp::Used,
            _ => return,
        };
        let addr = |a: &[u8; 16], port: u16| {
            let ip = ip(s.family, a);
            (!ip.is_unspecified() || port != 0).then(|| SocketAddr::new(ip, port))
        };
        out.push(Event::Socket(Box::new(SocketEvent {
            ts: self.at(s.hdr.ts),
            op,
            cookie: s.cookie,
            pid: s.tgid,
            proto: s.protocol,
            local: addr(&s.laddr, s.lport),
            remote: addr(&s.raddr, s.rport),
            netns: Some(self.netns),
            bound_ifindex: (s.bound_ifindex != 0).then_some(s.bound_ifindex),
            tcp_state: (s.op == abi::SOCK_TCP_STATE).then_some(s.new_state),
        })));
    }

    /// A socket that existed before the session, from the sock_diag snapshot.
    pub fn seeded(&mut self, s: &super::SeededSocket, at: Timestamp, out: &mut Batch) {
        let Some(&pid) = s.pids.first() else { return };
        for &p in &s.pids {
            self.ensure_process(p, 0, None, out);
        }
        let some = |a: SocketAddr| (a.port() != 0 || !a.ip().is_unspecified()).then_some(a);
        for (i, &p) in s.pids.iter().enumerate() {
            out.push(Event::Socket(Box::new(SocketEvent {
                ts: at,
                op: if i == 0 { SocketOp::Existing } else { SocketOp::Used },
                cookie: s.cookie,
                pid: p,
                proto: s.protocol,
                local: some(s.local),
                remote: some(s.remote),
                netns: Some(self.netns),
                bound_ifindex: (s.bound_ifindex != 0).then_some(s.bound_ifindex),
                tcp_state: (s.protocol == 6).then_some(s.state),
            })));
        }
        // The first holder stays the owner until a packet or a record says otherwise.
        if s.pids.len() > 1 {
            out.push(Event::Socket(Box::new(SocketEvent {
                ts: at,
                op: SocketOp::Used,
                cookie: s.cookie,
                pid,
                proto: s.protocol,
                local: None,
                remote: None,
                netns: Some(self.netns),
                bound_ifindex: None,
                tcp_state: None,
            })));
        }
    }

    /// One read of the kernel's counters: what changed since the previous read, as deltas.
    pub fn counters(
        &mut self,
        c: &Counters,
        per_cpu_ring_full: &[u64],
        bad_records: u64,
        at: Timestamp,
        out: &mut Batch,
    ) {
        // Who sent: from cgroup_skb's per-socket egress counts when the probes keep them, else
        // from tc's egress counts, which carry the sending socket and process.
        let sock_egress = c.sock_flows.iter().any(|f| f.key.direction == abi::DIR_OUT);
        // The last totals kept are those of this read's keys: a key the kernel no longer has
        // (an idle entry taken out of its map, a socket total let go) is forgotten, and counts
        // from zero when it comes back.
        let mut last = std::mem::take(&mut self.last_flows);
        for f in &c.iface_flows {
            self.flow(f, false, false, at, out, &mut last);
            if f.key.direction == abi::DIR_OUT && f.key.cookie != 0 && !sock_egress {
                self.flow(f, true, false, at, out, &mut last);
            }
        }
        for f in c.sock_flows.iter().filter(|f| f.key.direction == abi::DIR_IN || sock_egress) {
            self.flow(f, true, true, at, out, &mut last);
        }
        let mut last_esp = std::mem::take(&mut self.last_esp);
        for e in &c.esp {
            self.esp(e, at, out, &mut last_esp);
        }
        // Entries the kernel let go in this read: their counts were final, a new entry of the
        // same key (even one made before the next read) counts from zero.
        for k in &c.gone_iface_flows {
            self.last_flows.remove(&(false, *k));
            self.last_flows.remove(&(true, *k));
        }
        for k in &c.gone_esp {
            self.last_esp.remove(k);
        }
        let mut loss = |what: String, count: u64, always: bool| {
            if count > 0 || always {
                out.push(Event::Loss(Box::new(LossNotice { at, mode: CountMode::Total, what, count })));
            }
        };
        for (cpu, n) in per_cpu_ring_full.iter().enumerate() {
            loss(format!("ring buffer full (cpu {cpu})"), *n, true);
        }
        let s = &c.stats;
        loss("kernel map sockets full".into(), s.sockets_full, false);
        loss("kernel map iface_flows full".into(), s.iface_flows_full, false);
        loss("kernel map sock_flows full".into(), s.sock_flows_full, false);
        loss("kernel map esp_sas full".into(), s.esp_full, false);
        loss("kernel map senders full".into(), s.senders_full, false);
        loss("kernel map procs full".into(), s.procs_full, false);
        loss("undecodable ring records".into(), bad_records, false);
        loss("samples of vanished interfaces".into(), self.orphan_counts, false);
        loss("OpenVPN flows off port 1194 past the table's limit".into(), self.openvpn_flows_refused, false);
    }

    /// One flow count; `from_ip` when the kernel counted bytes from the IP header (cgroup_skb),
    /// which are then made wire bytes like tc's, by the device's link header.
    /// `prev`: the previous read's totals, taken from as keys come (see [`Converter::counters`]).
    fn flow(
        &mut self,
        f: &FlowCount,
        socket: bool,
        from_ip: bool,
        at: Timestamp,
        out: &mut Batch,
        prev: &mut HashMap<(bool, FlowKey), (u64, u64)>,
    ) {
        let k = &f.key;
        let last = prev.remove(&(socket, *k)).unwrap_or((0, 0));
        // A total that went down is a counter that started again.
        let (dp, db) = if f.packets >= last.0 {
            (f.packets - last.0, f.bytes.saturating_sub(last.1))
        } else {
            (f.packets, f.bytes)
        };
        self.last_flows.insert((socket, *k), (f.packets, f.bytes));
        if dp == 0 {
            return;
        }
        let Some(state) = self.ifaces.get(&k.ifindex) else {
            self.orphan_counts += dp;
            return;
        };
        let iface = state.id;
        let db = if from_ip { db + dp * state.l2 } else { db };
        let pid = (socket && k.tgid != 0).then_some(k.tgid);
        if let Some(p) = pid {
            self.ensure_process(p, 0, None, out);
        }
        let (src, dst): (IpAddr, IpAddr) = (ip(k.family, &k.src), ip(k.family, &k.dst));
        out.push(Event::Counters(Box::new(FlowCounters {
            at,
            mode: CountMode::Delta,
            layer: if socket { CountLayer::Socket } else { CountLayer::Interface },
            iface,
            direction: direction(k.direction),
            proto: k.protocol,
            src,
            sport: k.sport,
            dst,
            dport: k.dport,
            cookie: if socket { k.cookie } else { 0 },
            pid,
            packets: dp,
            bytes: db,
            first: Some(self.at(f.first_ns)),
            last: Some(self.at(f.last_ns)),
        })));
    }

    fn esp(&mut self, e: &EspCount, at: Timestamp, out: &mut Batch, last: &mut HashMap<EspKey, EspCount>) {
        let k = &e.key;
        let prev = last.remove(k);
        if matches!(k.encap, abi::ESP_OVPN | abi::ESP_OVPN_TCP) && !self.openvpn_counted(k) {
            // Held back (its totals stay where they were) until the flow's first datagram is
            // read; a flow that was not OpenVPN stays held back for good.
            if let Some(p) = prev {
                self.last_esp.insert(*k, p);
            }
            return;
        }
        self.last_esp.insert(*k, *e);
        let (p, b, g, r, l) = match prev {
            Some(x) if e.packets >= x.packets => (
                e.packets - x.packets,
                e.bytes.saturating_sub(x.bytes),
                e.gaps.saturating_sub(x.gaps),
                e.repeats.saturating_sub(x.repeats),
                e.reordered.saturating_sub(x.reordered),
            ),
            _ => (e.packets, e.bytes, e.gaps, e.repeats, e.reordered),
        };
        if p == 0 {
            return;
        }
        let Some(iface) = self.iface_id(k.ifindex) else {
            self.orphan_counts += p;
            return;
        };
        let tunnel = match k.encap {
            abi::ESP_WG => Some(CountedTunnel::Wireguard(k.msg)),
            abi::ESP_OVPN => Some(CountedTunnel::Openvpn(k.msg)),
            abi::ESP_OVPN_TCP => Some(CountedTunnel::OpenvpnTcp(k.msg)),
            abi::ESP_GTPU => Some(CountedTunnel::GtpU(k.msg)),
            abi::ESP_VXLAN => Some(CountedTunnel::Vxlan),
            abi::ESP_GENEVE => Some(CountedTunnel::Geneve),
            abi::ESP_GRE => Some(CountedTunnel::Gre(k.msg)),
            abi::ESP_IPIP => Some(CountedTunnel::IpInIp(ip_in_ip_kind(k.family == 6, k.msg))),
            _ => None,
        };
        if let Some(kind) = tunnel {
            out.push(Event::Tunnel(Box::new(TunnelCounters {
                at,
                mode: CountMode::Delta,
                iface,
                direction: direction(k.direction),
                kind,
                index: k.spi,
                src: ip(k.family, &k.src),
                sport: k.sport,
                dst: ip(k.family, &k.dst),
                dport: k.dport,
                packets: p,
                bytes: b,
                first: Some(self.at(e.first_ns)),
                last: Some(self.at(e.last_ns)),
            })));
            return;
        }
        out.push(Event::Esp(Box::new(EspCounters {
            at,
            mode: CountMode::Delta,
            iface,
            direction: direction(k.direction),
            spi: k.spi,
            src: ip(k.family, &k.src),
            dst: ip(k.family, &k.dst),
            udp: k.encap == abi::ESP_UDP,
            sport: k.sport,
            dport: k.dport,
            packets: p,
            bytes: b,
            first_seq: e.first_seq,
            last_seq: e.last_seq,
            gaps: g,
            repeats: r,
            reordered: l,
            first: Some(self.at(e.first_ns)),
            last: Some(self.at(e.last_ns)),
        })));
    }
}

impl Converter {
    /// Are the kernel's OpenVPN counts of this entry an OpenVPN tunnel's? On port 1194 always
    /// (as replay takes that port), elsewhere once the flow's first datagram read as a reset.
    fn openvpn_counted(&self, k: &EspKey) -> bool {
        if k.sport == OPENVPN_PORT || k.dport == OPENVPN_PORT {
            return true;
        }
        let proto = if k.encap == abi::ESP_OVPN_TCP { 6 } else { 17 };
        let key =
            OvpnKey { family: k.family, proto, _pad0: [0; 2], sport: k.sport, dport: k.dport, src: k.src, dst: k.dst };
        self.openvpn_flows.contains(&key) || self.openvpn_flows.contains(&key.reversed())
    }
}

/// OpenVPN's own UDP port, where the kernel counts without asking.
const OPENVPN_PORT: u16 = 1194;

/// A sampled datagram's or segment's flow (as it went) and whether it starts as an OpenVPN
/// client's first packet does (over TCP: the first record). `None` when the sample is not UDP
/// or TCP (cut before its header, or damaged).
fn openvpn_start(data: &[u8]) -> Option<(OvpnKey, bool)> {
    use tuntrace_core::decode::{ip as dip, openvpn};
    let ip = match data.first()? >> 4 {
        4 => dip::parse_v4(data).ok()?,
        6 => dip::parse_v6(data).ok()?,
        _ => return None,
    };
    if ip.frag.is_some_and(|f| f.offset != 0) {
        return None;
    }
    let (sport, dport, reset) = match ip.proto {
        17 => {
            let (sport, dport, payload) = dip::udp(ip.payload).ok()?;
            (sport, dport, openvpn::looks_like_client_reset(payload))
        }
        6 => {
            let seg = dip::tcp(ip.payload).ok()?;
            let rec = openvpn::tcp_record_len(seg.payload).and_then(|n| seg.payload.get(2..n));
            (seg.sport, seg.dport, rec.is_some_and(openvpn::looks_like_client_reset))
        }
        _ => return None,
    };
    let mut key = OvpnKey { proto: ip.proto, sport, dport, ..Default::default() };
    match (ip.src, ip.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            key.family = 4;
            key.src[..4].copy_from_slice(&s.octets());
            key.dst[..4].copy_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            key.family = 6;
            key.src = s.octets();
            key.dst = d.octets();
        }
        _ => return None,
    }
    Some((key, reset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuntrace_probes::layout::{Hdr, PktRec, SockRec};

    fn conv() -> Converter {
        Converter::new(
            BootToWall { offset_ns: 1_000_000_000_000, uncertainty_ns: 0 },
            ProcClock { ticks_per_second: 100 },
            7,
        )
    }

    fn events(b: &Batch) -> Vec<String> {
        b.iter()
            .map(|e| match e {
                Event::Process(p) => format!("proc {} {:?} {:?}", p.pid, p.comm, p.start.map(|t| t.0)),
                Event::Interface(i) => format!("iface {} {:?} {:?}", i.id, i.name, i.ifindex),
                Event::InterfaceGone { id, .. } => format!("gone {id}"),
                Event::Socket(s) => format!("sock {:?} {} {}", s.op, s.cookie, s.pid),
                Event::Packet(p) => format!("pkt {} {:?} {}", p.iface, p.pid, p.sampled),
                Event::Counters(c) => format!("count {:?} {} {:?} {}", c.layer, c.iface, c.pid, c.packets),
                Event::Loss(l) => format!("loss {} {}", l.what, l.count),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn link(index: u32, name: &str) -> Link {
        Link {
            index,
            name: name.into(),
            kind: None,
            tun: None,
            link_type: libc::ARPHRD_NONE,
            mtu: Some(1400),
            flags: crate::host::links::LinkFlags(0),
            link: None,
            link_netnsid: None,
            addresses: vec![],
        }
    }

    fn comm(s: &str) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[..s.len()].copy_from_slice(s.as_bytes());
        c
    }

    #[test]
    fn interfaces_get_new_ids_when_they_come_back() {
        let mut c = conv();
        let mut b = Batch::new();
        c.link(&link(5, "ipsec0"), true, None, &mut b);
        c.link(&link(5, "ipsec0"), true, None, &mut b); // unchanged: nothing said
        c.link_removed(5, Timestamp(1), &mut b);
        c.link(&link(5, "ipsec0"), false, None, &mut b);
        assert_eq!(events(&b), ["iface 0 Some(\"ipsec0\") Some(5)", "gone 0", "iface 1 Some(\"ipsec0\") Some(5)"]);
    }

    #[test]
    fn a_gone_process_is_announced_from_its_record_with_its_start() {
        let mut c = conv();
        let mut b = Batch::new();
        // A pid no process has (pid_max is far below): /proc has nothing, the record speaks.
        let pid = 4_000_000_000;
        let rec = SockRec {
            hdr: Hdr { rec_type: abi::REC_SOCK, len: 120, cpu: 0, ts: 5_000_000_000 },
            cookie: 42,
            netns_cookie: 7,
            start_ns: 3_456_789_123,
            tgid: pid,
            tid: pid,
            uid: 0,
            op: abi::SOCK_CREATE,
            family: libc::AF_INET as u8,
            protocol: 17,
            sock_type: 2,
            old_state: 0,
            new_state: 0,
            lport: 0,
            rport: 0,
            _pad0: 0,
            bound_ifindex: 0,
            prev_tgid: 0,
            laddr: [0; 16],
            raddr: [0; 16],
            comm: comm("sipp"),
        };
        c.record(&RecordRef::Sock(rec), &mut b);
        // The start rounded down to the 10 ms tick, then on the wall clock.
        let start: i64 = 1_000_000_000_000 + 3_450_000_000;
        assert_eq!(events(&b), [format!("proc {pid} Some(\"sipp\") Some({start})"), format!("sock Created 42 {pid}")]);
        // Later records of the same process announce nothing more; one with another start is a
        // new process with the same pid.
        let mut b = Batch::new();
        c.record(&RecordRef::Sock(SockRec { op: abi::SOCK_CONNECT, ..rec }), &mut b);
        c.record(
            &RecordRef::Sock(SockRec { start_ns: 9_000_000_000, op: abi::SOCK_CREATE, cookie: 43, ..rec }),
            &mut b,
        );
        assert_eq!(events(&b).len(), 3, "{:?}", events(&b));
        assert!(events(&b)[1].starts_with(&format!("proc {pid}")));
    }

    #[test]
    fn counters_become_deltas_and_attribution_follows_the_layer() {
        let mut c = conv();
        let mut b = Batch::new();
        c.link(&link(3, "veth0"), true, None, &mut b);
        b.clear();
        let key = |dir, cookie, tgid| FlowKey {
            cookie,
            ifindex: 3,
            tgid,
            tid: 0,
            direction: dir,
            protocol: 17,
            family: 4,
            _pad0: 0,
            sport: 4500,
            dport: 4500,
            src: [198, 18, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            dst: [198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            _pad1: 0,
        };
        let count = |k, n| FlowCount { key: k, packets: n, bytes: n * 100, first_ns: 1, last_ns: 2 };
        let read = |c: &mut Converter, n: u64, b: &mut Batch| {
            let counters = Counters {
                iface_flows: vec![count(key(abi::DIR_OUT, 9, 0), n), count(key(abi::DIR_IN, 0, 0), n)],
                sock_flows: vec![count(key(abi::DIR_IN, 9, 4_000_000_001), n)],
                esp: vec![],
                stats: Default::default(),
                ..Default::default()
            };
            c.counters(&counters, &[0, 0], 0, Timestamp(10), b);
        };
        read(&mut c, 3, &mut b);
        let e = events(&b);
        assert!(e.contains(&"count Interface 0 None 3".to_string()), "{e:?}");
        // Egress attribution from tc's count (by its socket), ingress from the socket's.
        assert!(e.contains(&"count Socket 0 None 3".to_string()), "{e:?}");
        assert!(e.contains(&"count Socket 0 Some(4000000001) 3".to_string()), "{e:?}");
        assert!(e.contains(&"loss ring buffer full (cpu 1) 0".to_string()), "{e:?}");
        b.clear();
        read(&mut c, 5, &mut b);
        let n: Vec<String> = events(&b).into_iter().filter(|e| e.starts_with("count")).collect();
        assert_eq!(
            n,
            [
                "count Interface 0 None 2",
                "count Socket 0 None 2",
                "count Interface 0 None 2",
                "count Socket 0 Some(4000000001) 2"
            ]
        );
        b.clear();
        read(&mut c, 5, &mut b);
        assert!(events(&b).iter().all(|e| !e.starts_with("count")), "nothing changed, nothing said");
    }

    #[test]
    fn samples_of_unknown_interfaces_are_counted_not_lost_silently() {
        let mut c = conv();
        let mut b = Batch::new();
        let rec = PktRec {
            hdr: Hdr { rec_type: abi::REC_PKT, len: 52, cpu: 0, ts: 1 },
            cookie: 0,
            ifindex: 99,
            tgid: 0,
            orig_len: 4,
            cap_len: 4,
            direction: abi::DIR_IN,
            hook: abi::HOOK_TC,
            flags: 0,
            _pad0: 0,
            tid: 0,
        };
        c.record(&RecordRef::Packet { rec, data: &[1, 2, 3, 4] }, &mut b);
        assert!(b.is_empty());
        assert_eq!(c.orphan_counts, 1);
        c.link(&link(99, "tun0"), false, None, &mut b);
        c.record(&RecordRef::Packet { rec, data: &[1, 2, 3, 4] }, &mut b);
        assert_eq!(events(&b)[1], "pkt 0 None true");
    }

    /// An IPv4/UDP datagram 198.18.0.2:40000 -> 198.18.0.1:`dport` around `payload`.
    fn udp4(dport: u16, payload: &[u8]) -> Vec<u8> {
        let total = (28 + payload.len()) as u16;
        let mut b = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1];
        b[2..4].copy_from_slice(&total.to_be_bytes());
        b.extend_from_slice(&40000u16.to_be_bytes());
        b.extend_from_slice(&dport.to_be_bytes());
        b.extend_from_slice(&(8 + payload.len() as u16).to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(payload);
        b
    }

    /// (source port, packets) of each tunnel count in a batch.
    fn tunnel_counts(b: &Batch) -> Vec<(u16, u64)> {
        b.iter()
            .filter_map(|e| match e {
                Event::Tunnel(t) => Some((t.sport, t.packets)),
                _ => None,
            })
            .collect()
    }

    /// OpenVPN over TCP off 1194: the segment that made the flow a candidate is read as
    /// replay reads a stream's first record.
    #[test]
    fn openvpn_over_tcp_is_told_by_its_first_record() {
        let tcp4 = |payload: &[u8]| {
            let total = (40 + payload.len()) as u16;
            let mut b = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1];
            b[2..4].copy_from_slice(&total.to_be_bytes());
            b.extend_from_slice(&40000u16.to_be_bytes());
            b.extend_from_slice(&443u16.to_be_bytes());
            b.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
            b.extend_from_slice(payload);
            b
        };
        let mut reset = vec![0, 17, 0x38, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0];
        reset.extend_from_slice(&[0x0f, 0x00, 0x02]);
        let (key, yes) = openvpn_start(&tcp4(&reset)).unwrap();
        assert!(yes);
        assert_eq!((key.proto, key.sport, key.dport, key.family), (6, 40000, 443, 4));
        let mut fake = vec![0, 17, 0x38];
        fake.extend_from_slice(&[
            0x9a, 0x11, 0xe3, 0x7c, 0x42, 0x05, 0xd9, 0x61, 0xf0, 0x2b, 0x88, 0x13, 0x57, 0xa4, 0xce, 7,
        ]);
        assert!(!openvpn_start(&tcp4(&fake)).unwrap().1);
        // A record cut by the sample: not one to take.
        assert!(!openvpn_start(&tcp4(&reset[..10])).unwrap().1);
    }

    /// OpenVPN off port 1194: the kernel counts a candidate flow from its first datagram on;
    /// its counts pass once that datagram reads as a client's reset, and a candidate whose
    /// first datagram does not is held back for good and named for the kernel.
    #[test]
    fn openvpn_off_its_port_counts_once_its_reset_reads_as_one() {
        let mut c = conv();
        let mut b = Batch::new();
        c.link(&link(3, "veth0"), true, None, &mut b);
        // P_CONTROL_HARD_RESET_CLIENT_V2, key ID 0, session ID, no acks, packet ID 0 (no HMAC).
        let mut reset = vec![0x38, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0];
        reset.extend_from_slice(&[0x0f, 0x00, 0x02]);
        // The same first byte on a QUIC-like datagram of random bytes.
        let quic = [0x38u8, 0x9a, 0x11, 0xe3, 0x7c, 0x42, 0x05, 0xd9, 0x61, 0xf0, 0x2b, 0x88, 0x13, 0x57, 0xa4, 0xce];
        let rec = |len: usize| PktRec {
            hdr: Hdr { rec_type: abi::REC_PKT, len: 52, cpu: 0, ts: 1 },
            cookie: 0,
            ifindex: 3,
            tgid: 0,
            orig_len: len as u32,
            cap_len: len as u32,
            direction: abi::DIR_OUT,
            hook: abi::HOOK_TC,
            flags: abi::PKT_OVPN_START,
            _pad0: 0,
            tid: 0,
        };
        let vpn = udp4(443, &reset);
        let other = udp4(8443, &quic);
        c.record(&RecordRef::Packet { rec: rec(vpn.len()), data: &vpn }, &mut b);
        c.record(&RecordRef::Packet { rec: rec(other.len()), data: &other }, &mut b);
        let not = c.take_not_openvpn();
        assert_eq!(not.len(), 1);
        assert_eq!((not[0].sport, not[0].dport, not[0].family), (40000, 8443, 4));
        assert_eq!(&not[0].src[..4], &[198, 18, 0, 2]);
        assert!(c.take_not_openvpn().is_empty(), "said once");

        let esp = |sport: u16, dport: u16, msg: u8, n: u64| EspCount {
            key: EspKey {
                ifindex: 3,
                spi: 0,
                direction: abi::DIR_IN,
                encap: abi::ESP_OVPN,
                family: 4,
                msg,
                sport,
                dport,
                src: [198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                dst: [198, 18, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            },
            packets: n,
            bytes: n * 60,
            first_seq: 0,
            last_seq: 0,
            gaps: 0,
            repeats: 0,
            reordered: 0,
            first_ns: 1,
            last_ns: 2,
        };
        // The server's answers (the other direction of the flow), and the candidate's.
        let counters = Counters {
            esp: vec![esp(443, 40000, 0x40, 2), esp(8443, 40000, 0x20, 5), esp(5000, 40000, 0x40, 1)],
            ..Default::default()
        };
        b.clear();
        c.counters(&counters, &[0], 0, Timestamp(10), &mut b);
        let tunnels = tunnel_counts(&b);
        assert_eq!(tunnels, [(443, 2)], "only the flow whose reset read as one");
        // A flow not decided yet (its sample still on its way) is held with its totals: once
        // it reads as a reset, everything counted so far passes, once.
        let late = udp4(5000, &reset);
        let mut r = rec(late.len());
        r.direction = abi::DIR_IN;
        c.record(&RecordRef::Packet { rec: r, data: &late }, &mut b);
        let counters =
            Counters { esp: vec![esp(443, 40000, 0x40, 3), esp(5000, 40000, 0x40, 4)], ..Default::default() };
        b.clear();
        c.counters(&counters, &[0], 0, Timestamp(11), &mut b);
        let tunnels = tunnel_counts(&b);
        assert_eq!(tunnels, [(443, 1), (5000, 4)]);
    }
}

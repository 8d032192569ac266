//! tuntrace's own records inside a pcapng file: what makes a recording of a live session the
//! complete event stream (docs/recording.md is the format's documentation).
//!
//! - Every packet is an Enhanced Packet Block as any tool reads it (with the process as a
//!   ptcpdump-style comment and an Apple process block), plus a custom option
//!   ([`OPT_CUSTOM_BINARY`], our [`PEN`]) holding a [`PacketRecord`]: the owning process, the
//!   socket cookie, and whether the packet is a sample of traffic the kernel counted.
//! - Everything else the session said — the session itself, interfaces and their changes,
//!   processes, sockets, TUN attachments, the kernel's counters, losses, heartbeats — is written,
//!   in order between the packets, as Custom Blocks ([`CUSTOM_BLOCK`], our PEN) holding a JSON
//!   document `{"v":1,"events":[...]}` of [`Recorded`] values.
//!
//! The JSON here is the recording's own contract, versioned by `v`, apart from the event types of
//! the core (which may change): times are integer nanoseconds since the Unix epoch, exactly.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::event::{
    CountLayer, CountMode, CountedTunnel, Direction, EspCounters, Event, FlowCounters, IfaceId, InterfaceInfo,
    LossNotice, ProcessInfo, SocketEvent, SocketOp, TunAttach, TunnelCounters,
};
use crate::time::Timestamp;

/// IANA's Private Enterprise Number for documentation use (RFC 5612): tuntrace has no number of
/// its own; readers tell its blocks apart by this number and the JSON's shape.
pub const PEN: u32 = 32473;
/// pcapng Custom Block that may be copied to a new file.
pub const CUSTOM_BLOCK: u32 = 0x0000_0BAD;
/// pcapng Custom Block that must not be copied (read the same way).
pub const CUSTOM_BLOCK_NOCOPY: u32 = 0x4000_0BAD;
/// pcapng custom option holding binary data, copyable.
pub const OPT_CUSTOM_BINARY: u16 = 2989;
/// The version of the JSON documents and packet records this code writes.
pub const VERSION: u32 = 1;

/// Bytes of a [`PacketRecord`].
pub const PACKET_RECORD_LEN: usize = 16;

/// What a recording says of one packet beyond its EPB: version, flags, process, socket.
/// Layout (little-endian): `version u8 = 1, flags u8 (bit 0: sampled), 2 reserved bytes,
/// pid u32 (0: unknown), cookie u64 (0: no socket)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketRecord {
    pub pid: Option<u32>,
    pub cookie: u64,
    pub sampled: bool,
}

impl PacketRecord {
    pub fn encode(&self) -> [u8; PACKET_RECORD_LEN] {
        let mut b = [0u8; PACKET_RECORD_LEN];
        b[0] = VERSION as u8;
        b[1] = u8::from(self.sampled);
        b[4..8].copy_from_slice(&self.pid.unwrap_or(0).to_le_bytes());
        b[8..16].copy_from_slice(&self.cookie.to_le_bytes());
        b
    }

    /// `None` for a record of another version or a short one (the packet is still read).
    pub fn decode(b: &[u8]) -> Option<PacketRecord> {
        let b: &[u8; PACKET_RECORD_LEN] = b.get(..PACKET_RECORD_LEN)?.try_into().ok()?;
        if u32::from(b[0]) != VERSION {
            return None;
        }
        let pid = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let cookie = u64::from_le_bytes(b[8..16].try_into().ok()?);
        Some(PacketRecord { pid: (pid != 0).then_some(pid), cookie, sampled: b[1] & 1 != 0 })
    }
}

/// The session a recording comes from: the first record of every file of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Unique per session: the files a rotating session writes share it, so replaying them
    /// together joins them (one interface is one interface across files).
    pub id: String,
    /// This file's number in the session, from 0.
    pub file: u32,
    /// `ebpf`, `dtrace`…
    pub backend: String,
    /// The tuntrace that wrote it.
    pub tool: String,
    pub started_ns: i64,
    /// The network namespace traced (its inode), for people reading the file.
    pub netns: Option<u64>,
    pub redacted: bool,
}

/// A non-packet event as a recording holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Recorded {
    Session(Session),
    Process {
        pid: u32,
        comm: Option<String>,
        exe: Option<String>,
        cmdline: Option<String>,
        uid: Option<u32>,
        ppid: Option<u32>,
        start_ns: Option<i64>,
    },
    ProcessExit {
        pid: u32,
        start_ns: Option<i64>,
        at_ns: i64,
    },
    Interface {
        id: IfaceId,
        name: Option<String>,
        linktype: u32,
        mtu: Option<u32>,
        addresses: Vec<String>,
        owner: Option<u32>,
        created_by: Option<u32>,
        created_at_ns: Option<i64>,
        netns: Option<u64>,
        ifindex: Option<u32>,
        link_kind: Option<String>,
        created_before_start: bool,
    },
    InterfaceGone {
        id: IfaceId,
        at_ns: i64,
    },
    Socket {
        ts_ns: i64,
        op: String,
        cookie: u64,
        pid: u32,
        proto: u8,
        local: Option<SocketAddr>,
        remote: Option<SocketAddr>,
        netns: Option<u64>,
        bound_ifindex: Option<u32>,
        tcp_state: Option<u8>,
    },
    Tun {
        ts_ns: i64,
        pid: u32,
        name: String,
        netns: Option<u64>,
        tap: bool,
    },
    Counters {
        at_ns: i64,
        total: bool,
        socket: bool,
        iface: IfaceId,
        direction: String,
        proto: u8,
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        cookie: u64,
        pid: Option<u32>,
        packets: u64,
        bytes: u64,
        first_ns: Option<i64>,
        last_ns: Option<i64>,
    },
    Esp {
        at_ns: i64,
        total: bool,
        iface: IfaceId,
        direction: String,
        spi: u32,
        src: IpAddr,
        dst: IpAddr,
        udp: bool,
        sport: u16,
        dport: u16,
        packets: u64,
        bytes: u64,
        first_seq: u32,
        last_seq: u32,
        gaps: u64,
        repeats: u64,
        /// Late packets (each takes one number back out of `gaps`); absent from recordings
        /// made before the kernel told them apart.
        #[serde(default)]
        reordered: u64,
        first_ns: Option<i64>,
        last_ns: Option<i64>,
    },
    /// Tunnel messages counted by the source ([`TunnelCounters`]); `tunnel` is the report's
    /// kind ("wireguard", "openvpn", "gtp-u", "vxlan", "geneve"), `msg` the message type or
    /// first byte (0 where the kind has none).
    Tunnel {
        at_ns: i64,
        total: bool,
        iface: IfaceId,
        direction: String,
        tunnel: String,
        msg: u8,
        index: u32,
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        packets: u64,
        bytes: u64,
        first_ns: Option<i64>,
        last_ns: Option<i64>,
        /// Carried over TCP (OpenVPN's TCP form); absent (false) in recordings before it.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        tcp: bool,
    },
    Loss {
        at_ns: i64,
        total: bool,
        what: String,
        count: u64,
    },
    Tick {
        at_ns: i64,
    },
}

fn ns(t: Timestamp) -> i64 {
    t.0
}

fn dir_name(d: Direction) -> String {
    match d {
        Direction::In => "in",
        Direction::Out => "out",
        Direction::Unknown => "unknown",
    }
    .into()
}

fn dir_of(s: &str) -> Direction {
    match s {
        "in" => Direction::In,
        "out" => Direction::Out,
        _ => Direction::Unknown,
    }
}

fn op_name(op: SocketOp) -> &'static str {
    match op {
        SocketOp::Created => "created",
        SocketOp::Bound => "bound",
        SocketOp::Connected => "connected",
        SocketOp::Closed => "closed",
        SocketOp::Used => "used",
        SocketOp::State => "state",
        SocketOp::Existing => "existing",
    }
}

fn op_of(s: &str) -> Option<SocketOp> {
    Some(match s {
        "created" => SocketOp::Created,
        "bound" => SocketOp::Bound,
        "connected" => SocketOp::Connected,
        "closed" => SocketOp::Closed,
        "used" => SocketOp::Used,
        "state" => SocketOp::State,
        "existing" => SocketOp::Existing,
        _ => return None,
    })
}

impl Recorded {
    /// The recorded form of a non-packet event; `None` for a packet (written as an EPB).
    pub fn of(e: &Event<'_>) -> Option<Recorded> {
        Some(match e {
            Event::Packet(_) => return None,
            Event::Process(p) => Recorded::Process {
                pid: p.pid,
                comm: p.comm.clone(),
                exe: p.exe.clone(),
                cmdline: p.cmdline.clone(),
                uid: p.uid,
                ppid: p.ppid,
                start_ns: p.start.map(ns),
            },
            Event::ProcessExit { pid, start, at } => {
                Recorded::ProcessExit { pid: *pid, start_ns: start.map(ns), at_ns: ns(*at) }
            }
            Event::Interface(i) => Recorded::Interface {
                id: i.id,
                name: i.name.clone(),
                linktype: i.linktype,
                mtu: i.mtu,
                addresses: i.addresses.clone(),
                owner: i.owner,
                created_by: i.created_by.map(|c| c.0),
                created_at_ns: i.created_by.and_then(|c| c.1).map(ns),
                netns: i.netns,
                ifindex: i.ifindex,
                link_kind: i.link_kind.clone(),
                created_before_start: i.created_before_start,
            },
            Event::InterfaceGone { id, at } => Recorded::InterfaceGone { id: *id, at_ns: ns(*at) },
            Event::Socket(s) => Recorded::Socket {
                ts_ns: ns(s.ts),
                op: op_name(s.op).into(),
                cookie: s.cookie,
                pid: s.pid,
                proto: s.proto,
                local: s.local,
                remote: s.remote,
                netns: s.netns,
                bound_ifindex: s.bound_ifindex,
                tcp_state: s.tcp_state,
            },
            Event::Tun(t) => {
                Recorded::Tun { ts_ns: ns(t.ts), pid: t.pid, name: t.name.clone(), netns: t.netns, tap: t.tap }
            }
            Event::Counters(c) => Recorded::Counters {
                at_ns: ns(c.at),
                total: c.mode == CountMode::Total,
                socket: c.layer == CountLayer::Socket,
                iface: c.iface,
                direction: dir_name(c.direction),
                proto: c.proto,
                src: c.src,
                sport: c.sport,
                dst: c.dst,
                dport: c.dport,
                cookie: c.cookie,
                pid: c.pid,
                packets: c.packets,
                bytes: c.bytes,
                first_ns: c.first.map(ns),
                last_ns: c.last.map(ns),
            },
            Event::Esp(c) => Recorded::Esp {
                at_ns: ns(c.at),
                total: c.mode == CountMode::Total,
                iface: c.iface,
                direction: dir_name(c.direction),
                spi: c.spi,
                src: c.src,
                dst: c.dst,
                udp: c.udp,
                sport: c.sport,
                dport: c.dport,
                packets: c.packets,
                bytes: c.bytes,
                first_seq: c.first_seq,
                last_seq: c.last_seq,
                gaps: c.gaps,
                repeats: c.repeats,
                reordered: c.reordered,
                first_ns: c.first.map(ns),
                last_ns: c.last.map(ns),
            },
            Event::Tunnel(c) => {
                let (tunnel, msg) = (c.kind.kind().as_str(), c.kind.msg());
                Recorded::Tunnel {
                    at_ns: ns(c.at),
                    total: c.mode == CountMode::Total,
                    iface: c.iface,
                    direction: dir_name(c.direction),
                    tunnel: tunnel.into(),
                    msg,
                    index: c.index,
                    src: c.src,
                    sport: c.sport,
                    dst: c.dst,
                    dport: c.dport,
                    packets: c.packets,
                    bytes: c.bytes,
                    first_ns: c.first.map(ns),
                    last_ns: c.last.map(ns),
                    tcp: c.kind.tcp(),
                }
            }
            Event::Loss(l) => Recorded::Loss {
                at_ns: ns(l.at),
                total: l.mode == CountMode::Total,
                what: l.what.clone(),
                count: l.count,
            },
            Event::Tick(t) => Recorded::Tick { at_ns: ns(*t) },
        })
    }

    /// The event this record stands for, with interface ids moved up by `iface_base` (the ids
    /// a replay gave the file's first interface); `None` for the session record and values this
    /// version does not know.
    pub fn event(&self, iface_base: IfaceId) -> Option<Event<'static>> {
        let t = Timestamp;
        let mode = |total: bool| if total { CountMode::Total } else { CountMode::Delta };
        Some(match self {
            Recorded::Session(_) => return None,
            Recorded::Process { pid, comm, exe, cmdline, uid, ppid, start_ns } => {
                Event::Process(Box::new(ProcessInfo {
                    pid: *pid,
                    comm: comm.clone(),
                    exe: exe.clone(),
                    cmdline: cmdline.clone(),
                    uid: *uid,
                    ppid: *ppid,
                    start: start_ns.map(t),
                }))
            }
            Recorded::ProcessExit { pid, start_ns, at_ns } => {
                Event::ProcessExit { pid: *pid, start: start_ns.map(t), at: t(*at_ns) }
            }
            Recorded::Interface {
                id,
                name,
                linktype,
                mtu,
                addresses,
                owner,
                created_by,
                created_at_ns,
                netns,
                ifindex,
                link_kind,
                created_before_start,
            } => Event::Interface(Box::new(InterfaceInfo {
                id: id.checked_add(iface_base)?,
                name: name.clone(),
                linktype: *linktype,
                mtu: *mtu,
                addresses: addresses.clone(),
                owner: *owner,
                created_by: created_by.map(|p| (p, created_at_ns.map(t))),
                netns: *netns,
                ifindex: *ifindex,
                link_kind: link_kind.clone(),
                created_before_start: *created_before_start,
            })),
            Recorded::InterfaceGone { id, at_ns } => {
                Event::InterfaceGone { id: id.checked_add(iface_base)?, at: t(*at_ns) }
            }
            Recorded::Socket { ts_ns, op, cookie, pid, proto, local, remote, netns, bound_ifindex, tcp_state } => {
                Event::Socket(Box::new(SocketEvent {
                    ts: t(*ts_ns),
                    op: op_of(op)?,
                    cookie: *cookie,
                    pid: *pid,
                    proto: *proto,
                    local: *local,
                    remote: *remote,
                    netns: *netns,
                    bound_ifindex: *bound_ifindex,
                    tcp_state: *tcp_state,
                }))
            }
            Recorded::Tun { ts_ns, pid, name, netns, tap } => Event::Tun(Box::new(TunAttach {
                ts: t(*ts_ns),
                pid: *pid,
                name: name.clone(),
                netns: *netns,
                tap: *tap,
            })),
            Recorded::Counters {
                at_ns,
                total,
                socket,
                iface,
                direction,
                proto,
                src,
                sport,
                dst,
                dport,
                cookie,
                pid,
                packets,
                bytes,
                first_ns,
                last_ns,
            } => Event::Counters(Box::new(FlowCounters {
                at: t(*at_ns),
                mode: mode(*total),
                layer: if *socket { CountLayer::Socket } else { CountLayer::Interface },
                iface: iface.checked_add(iface_base)?,
                direction: dir_of(direction),
                proto: *proto,
                src: *src,
                sport: *sport,
                dst: *dst,
                dport: *dport,
                cookie: *cookie,
                pid: *pid,
                packets: *packets,
                bytes: *bytes,
                first: first_ns.map(t),
                last: last_ns.map(t),
            })),
            Recorded::Esp {
                at_ns,
                total,
                iface,
                direction,
                spi,
                src,
                dst,
                udp,
                sport,
                dport,
                packets,
                bytes,
                first_seq,
                last_seq,
                gaps,
                repeats,
                reordered,
                first_ns,
                last_ns,
            } => Event::Esp(Box::new(EspCounters {
                at: t(*at_ns),
                mode: mode(*total),
                iface: iface.checked_add(iface_base)?,
                direction: dir_of(direction),
                spi: *spi,
                src: *src,
                dst: *dst,
                udp: *udp,
                sport: *sport,
                dport: *dport,
                packets: *packets,
                bytes: *bytes,
                first_seq: *first_seq,
                last_seq: *last_seq,
                gaps: *gaps,
                repeats: *repeats,
                reordered: *reordered,
                first: first_ns.map(t),
                last: last_ns.map(t),
            })),
            Recorded::Tunnel {
                at_ns,
                total,
                iface,
                direction,
                tunnel,
                msg,
                index,
                src,
                sport,
                dst,
                dport,
                packets,
                bytes,
                first_ns,
                last_ns,
                tcp,
            } => Event::Tunnel(Box::new(TunnelCounters {
                at: t(*at_ns),
                mode: mode(*total),
                iface: iface.checked_add(iface_base)?,
                direction: dir_of(direction),
                kind: crate::report::TunnelKind::ALL
                    .iter()
                    .find(|k| k.as_str() == tunnel)
                    .and_then(|&k| CountedTunnel::from_kind(k, *msg, *tcp))?,
                index: *index,
                src: *src,
                sport: *sport,
                dst: *dst,
                dport: *dport,
                packets: *packets,
                bytes: *bytes,
                first: first_ns.map(t),
                last: last_ns.map(t),
            })),
            Recorded::Loss { at_ns, total, what, count } => Event::Loss(Box::new(LossNotice {
                at: t(*at_ns),
                mode: mode(*total),
                what: what.clone(),
                count: *count,
            })),
            Recorded::Tick { at_ns } => Event::Tick(t(*at_ns)),
        })
    }
}

/// The JSON document of one custom block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    pub v: u32,
    pub events: Vec<Recorded>,
}

/// A custom block's body after the PEN: the JSON document of `events`.
pub fn encode(events: &[Recorded]) -> Vec<u8> {
    #[derive(Serialize)]
    struct Doc<'a> {
        v: u32,
        events: &'a [Recorded],
    }
    serde_json::to_vec(&Doc { v: VERSION, events }).unwrap_or_default()
}

/// What a custom block of ours holds; `Err` with a reason for a block that is ours but not
/// readable (another version, damaged JSON), which a reader reports as damage.
pub fn decode(body: &[u8]) -> Result<Vec<Recorded>, String> {
    let doc: Document = serde_json::from_slice(body).map_err(|e| format!("tuntrace record: {e}"))?;
    if doc.v != VERSION {
        return Err(format!("tuntrace record of version {} (this tuntrace reads {VERSION})", doc.v));
    }
    Ok(doc.events)
}

/// The session a recording's file belongs to, read from its first blocks (the section header,
/// then tuntrace's first custom block); `None` for any other capture.
pub fn session_of(path: &std::path::Path) -> Option<Session> {
    use std::io::Read;
    let mut head = Vec::new();
    // A recording compressed afterwards (gzip, zstd, LZ4) is still its session.
    let (_, file) = super::compressed::unpack(std::fs::File::open(path).ok()?).ok()?;
    // A stream that fails early still gives what it read before.
    let _ = file.take(1 << 20).read_to_end(&mut head);
    session_in(&head)
}

/// [`session_of`] on a file's first bytes.
pub fn session_in(head: &[u8]) -> Option<Session> {
    if head.get(..4)? != [0x0a, 0x0d, 0x0d, 0x0a] {
        return None;
    }
    let be = match head.get(8..12)? {
        [0x1a, 0x2b, 0x3c, 0x4d] => true,
        [0x4d, 0x3c, 0x2b, 0x1a] => false,
        _ => return None,
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = head.get(at..at + 4)?.try_into().ok()?;
        Some(if be { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    };
    // The session record is in the first custom block of ours, among the file's first blocks.
    let mut at = u32_at(4)? as usize;
    for _ in 0..64 {
        let (kind, len) = (u32_at(at)?, u32_at(at + 4)? as usize);
        if len < 12 || len % 4 != 0 {
            return None;
        }
        if (kind == CUSTOM_BLOCK || kind == CUSTOM_BLOCK_NOCOPY) && len >= 16 && u32_at(at + 8)? == PEN {
            let data = head.get(at + 12..at + len - 4)?;
            let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            return decode(&data[..end]).ok()?.into_iter().find_map(|r| match r {
                Recorded::Session(s) => Some(s),
                _ => None,
            });
        }
        at += len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_records_round_trip_and_refuse_other_versions() {
        for r in [
            PacketRecord { pid: Some(42), cookie: 0x1234_5678_9abc_def0, sampled: true },
            PacketRecord { pid: None, cookie: 0, sampled: false },
        ] {
            assert_eq!(PacketRecord::decode(&r.encode()), Some(r));
        }
        let mut b = PacketRecord::default().encode();
        b[0] = 2;
        assert_eq!(PacketRecord::decode(&b), None);
        assert_eq!(PacketRecord::decode(&b[..8]), None);
    }

    #[test]
    fn every_event_round_trips_exactly() {
        let at = Timestamp(1_796_340_000_123_456_789);
        let tunnel = |kind, index, (sport, dport)| {
            Event::Tunnel(Box::new(TunnelCounters {
                at,
                mode: CountMode::Delta,
                iface: 1,
                direction: Direction::Out,
                kind,
                index,
                src: "198.18.0.2".parse().unwrap(),
                sport,
                dst: "198.18.0.1".parse().unwrap(),
                dport,
                packets: 5,
                bytes: 640,
                first: Some(at),
                last: Some(at),
            }))
        };
        let events: Vec<Event<'static>> = vec![
            Event::Process(Box::new(ProcessInfo {
                pid: 7,
                comm: Some("charon".into()),
                exe: Some("/usr/lib/ipsec/charon".into()),
                cmdline: Some("charon --debug".into()),
                uid: Some(0),
                ppid: Some(1),
                start: Some(at),
            })),
            Event::ProcessExit { pid: 7, start: Some(at), at },
            Event::Interface(Box::new(InterfaceInfo {
                id: 2,
                name: Some("ipsec0".into()),
                linktype: 101,
                mtu: Some(1400),
                addresses: vec!["198.19.1.1".into()],
                owner: Some(7),
                created_by: Some((7, Some(at))),
                netns: Some(4026532174),
                ifindex: Some(5),
                link_kind: Some("tun".into()),
                created_before_start: false,
            })),
            Event::InterfaceGone { id: 2, at },
            Event::Socket(Box::new(SocketEvent {
                ts: at,
                op: SocketOp::Used,
                cookie: 99,
                pid: 8,
                proto: 17,
                local: Some("198.18.0.2:4500".parse().unwrap()),
                remote: Some("[2001:db8::1]:500".parse().unwrap()),
                netns: Some(1),
                bound_ifindex: Some(3),
                tcp_state: None,
            })),
            Event::Tun(Box::new(TunAttach { ts: at, pid: 7, name: "ipsec0".into(), netns: Some(1), tap: false })),
            Event::Counters(Box::new(FlowCounters {
                at,
                mode: CountMode::Delta,
                layer: CountLayer::Socket,
                iface: 2,
                direction: Direction::Out,
                proto: 17,
                src: "198.18.0.2".parse().unwrap(),
                sport: 4500,
                dst: "198.18.0.1".parse().unwrap(),
                dport: 4500,
                cookie: 99,
                pid: Some(8),
                packets: 3,
                bytes: 300,
                first: Some(at),
                last: None,
            })),
            Event::Esp(Box::new(EspCounters {
                at,
                mode: CountMode::Total,
                iface: 0,
                direction: Direction::In,
                spi: 0xc1a2b3c4,
                src: "198.18.0.1".parse().unwrap(),
                dst: "198.18.0.2".parse().unwrap(),
                udp: true,
                sport: 4500,
                dport: 4500,
                packets: 8,
                bytes: 800,
                first_seq: 1,
                last_seq: 8,
                gaps: 2,
                repeats: 1,
                reordered: 1,
                first: Some(at),
                last: Some(at),
            })),
            Event::Loss(Box::new(LossNotice {
                at,
                mode: CountMode::Total,
                what: "ring buffer full (cpu 1)".into(),
                count: 3,
            })),
            tunnel(CountedTunnel::Wireguard(4), 0x9a2b_c3d4, (40_000, 51_820)),
            tunnel(CountedTunnel::GtpU(255), 0x1000, (2152, 2152)),
            tunnel(CountedTunnel::Vxlan, 42, (51_000, 4789)),
            tunnel(CountedTunnel::Gre(crate::event::GRE_PPTP), 9, (0, 0)),
            tunnel(CountedTunnel::OpenvpnTcp(0x48), 7, (40_001, 1194)),
            tunnel(CountedTunnel::Openvpn(0x48), 7, (40_002, 1194)),
            Event::Tick(at),
        ];
        let recorded: Vec<Recorded> = events.iter().map(|e| Recorded::of(e).unwrap()).collect();
        let json = String::from_utf8(encode(&recorded)).unwrap();
        // OpenVPN's TCP form is said; the UDP form and the other kinds stay as they were.
        assert_eq!(json.matches(r#""tcp":true"#).count(), 1, "{json}");
        assert!(!json.contains(r#""tcp":false"#));
        let back = decode(&encode(&recorded)).unwrap();
        assert_eq!(back, recorded);
        for (e, r) in events.iter().zip(&back) {
            assert_eq!(format!("{e:?}"), format!("{:?}", r.event(0).unwrap()));
        }
        // Interface ids move with the replay's numbering of the file's interfaces.
        let Some(Event::InterfaceGone { id, .. }) = back[3].event(10) else { panic!() };
        assert_eq!(id, 12);
        assert!(decode(br#"{"v":2,"events":[]}"#).unwrap_err().contains("version 2"));
        assert!(decode(b"not json").is_err());
    }

    /// A recording compressed afterwards keeps its session.
    #[test]
    fn a_compressed_recording_is_still_its_session() {
        use std::io::Write;
        let session = Session {
            id: "s-1".into(),
            file: 0,
            backend: "ebpf".into(),
            tool: "tuntrace test".into(),
            started_ns: 1,
            netns: None,
            redacted: false,
        };
        let mut w = crate::capture::writer::PcapngWriter::new(Vec::new(), "test").unwrap();
        w.write_custom(PEN, &encode(&[Recorded::Session(session.clone())])).unwrap();
        let plain = w.finish().unwrap();
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(&plain).unwrap();
        let dir = std::env::temp_dir().join(format!("tuntrace-rec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in [("rec.pcapng", plain), ("rec.pcapng.gz", z.finish().unwrap())] {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            assert_eq!(session_of(&p), Some(session.clone()), "{name}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

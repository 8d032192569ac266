//! The one vocabulary of tuntrace: every source (capture file, eBPF, DTrace) produces these
//! events and the aggregator consumes nothing else. docs/event-model.md describes them for the
//! writer of a new source.
//!
//! One clock: every timestamp is wall-clock time ([`Timestamp`], nanoseconds since the Unix
//! epoch). A source whose stamps come from another clock (the kernel's boot-time clock) converts
//! them once, where they enter the stream.

use std::net::{IpAddr, SocketAddr};

use crate::time::Timestamp;

/// Handle of an interface within one event stream, chosen by the source. Sources announce each
/// interface with [`Event::Interface`] before any packet refers to it. A live source gives a new
/// handle to each (network namespace, ifindex) it meets, and a new one again when an interface
/// that vanished comes back: two `ipsec0` in two namespaces are two interfaces.
pub type IfaceId = u32;

/// A process as far as the source knows it. Fields not known are `None`.
///
/// A process is the pair (pid, `start`): in a long session a pid is reused, and a new start time
/// for a pid the aggregator knows means a new process, never a merge with the old one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessInfo {
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub cmdline: Option<String>,
    pub uid: Option<u32>,
    pub ppid: Option<u32>,
    /// When the process started (live sources); `None` when the source cannot tell (captures).
    pub start: Option<Timestamp>,
}

/// What a source knows about an interface. Announcing an id again replaces what was said
/// (a change of MTU, addresses or holder); fields the source does not know are `None`/empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InterfaceInfo {
    pub id: IfaceId,
    /// `None` when the source does not name it (a plain pcap file).
    pub name: Option<String>,
    /// pcap LINKTYPE_* value of the frames captured on it.
    pub linktype: u32,
    pub mtu: Option<u32>,
    pub addresses: Vec<String>,
    /// Process holding the device (for TUN: the fd holder).
    pub owner: Option<u32>,
    /// Process that created it, with the time.
    pub created_by: Option<(u32, Option<Timestamp>)>,
    /// Network namespace (its cookie or inode, as the source identifies namespaces) and the
    /// kernel's index of the interface there: together they say which interface this is on a
    /// live host.
    pub netns: Option<u64>,
    pub ifindex: Option<u32>,
    /// The kernel's own kind of the link (rtnetlink's IFLA_INFO_KIND: `tun`, `wireguard`, `gre`,
    /// `vti`, `xfrm`, `veth`…), which names a tunnel better than its name does.
    pub link_kind: Option<String>,
    /// The creator is known not to be knowable: the interface existed before the source began.
    pub created_before_start: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    In,
    Out,
    #[default]
    Unknown,
}

/// One captured frame. `data` starts at the link-layer header named by the interface's linktype.
#[derive(Debug, Clone, Copy)]
pub struct PacketEvent<'a> {
    pub ts: Timestamp,
    pub data: &'a [u8],
    /// Cookie of the socket the packet belongs to, 0 when no socket is known: the aggregator
    /// finds the owner in its socket table ([`SocketEvent`]) when `pid` is `None`.
    pub cookie: u64,
    /// Owning process, when the source attributes packets (pcapng process blocks, eBPF cookies).
    pub pid: Option<u32>,
    /// Process the owner acted for (macOS "effective process", e.g. a daemon sending for an app).
    pub effective_pid: Option<u32>,
    pub iface: IfaceId,
    /// Length on the wire; `data.len()` may be smaller when the capture was cut at snaplen.
    pub orig_len: u32,
    pub direction: Direction,
    /// A sample of traffic the source counts itself, with [`FlowCounters`]: decode it (IKE,
    /// SIP…), do not count it. Capture files count every packet they hold (`false`).
    pub sampled: bool,
}

impl PacketEvent<'_> {
    /// A placeholder (no bytes) for filling arrays.
    pub const EMPTY: PacketEvent<'static> = PacketEvent {
        ts: Timestamp(0),
        data: &[],
        cookie: 0,
        pid: None,
        effective_pid: None,
        iface: 0,
        orig_len: 0,
        direction: Direction::Unknown,
        sampled: false,
    };
}

/// Whether a count is the running total since the source began counting that key, or what was
/// added since the previous report of the same key. The aggregator keeps the last total of each
/// key, so repeating a total (a source re-reading a kernel map every second) never counts twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMode {
    Total,
    Delta,
}

/// Where in the stack a count was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountLayer {
    /// Every packet on the interface, as a capture of it would hold (tc): flows, interface and
    /// session totals come from these.
    Interface,
    /// Packets of one local socket, with the process they belong to (cgroup socket hooks): who
    /// sent or received what. They attribute the interface layer's packets, and are not counted
    /// a second time in flow totals.
    Socket,
}

/// Exact per-flow and per-direction totals counted by the source (live: in the kernel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowCounters {
    /// When the source read the count.
    pub at: Timestamp,
    pub mode: CountMode,
    pub layer: CountLayer,
    pub iface: IfaceId,
    pub direction: Direction,
    /// IP protocol number.
    pub proto: u8,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    /// The socket the packets belong to, 0 if none (forwarded traffic).
    pub cookie: u64,
    pub pid: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
    /// First and last packet of the key, when the source stamps them.
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

/// Exact per-SA totals of ESP (raw, or in UDP when `udp`), counted by the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EspCounters {
    pub at: Timestamp,
    pub mode: CountMode,
    pub iface: IfaceId,
    pub direction: Direction,
    pub spi: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// UDP-encapsulated (RFC 3948) with these ports; raw ESP has 0 and 0.
    pub udp: bool,
    pub sport: u16,
    pub dport: u16,
    pub packets: u64,
    pub bytes: u64,
    pub first_seq: u32,
    pub last_seq: u32,
    /// Sequence numbers skipped when the sequence jumped (this count only grows), packets
    /// whose number was seen before (replays, duplicates), and late packets: each of those
    /// takes one number back out of `gaps` (so gaps still open are `gaps - reordered`).
    pub gaps: u64,
    pub repeats: u64,
    pub reordered: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

/// Which encrypted tunnel's messages a [`TunnelCounters`] counts, with the byte that says what
/// kind of message they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CountedTunnel {
    /// WireGuard, by message type (1 initiation, 2 response, 3 cookie reply, 4 transport data).
    Wireguard(u8),
    /// OpenVPN over UDP, by its first byte (opcode in the top five bits, key ID below).
    Openvpn(u8),
    /// OpenVPN over TCP, per record, by its packet's first byte; bytes count the record's
    /// 2-byte length in, as replay does.
    OpenvpnTcp(u8),
    /// GTP-U, by message type (255 G-PDU, 1 and 2 echo, 26 error indication, 254 end marker…).
    GtpU(u8),
    Vxlan,
    Geneve,
    /// GRE directly in IP, by what its identifier is: bit 0 a key, bit 1 PPTP's call ID; bit 2
    /// ERSPAN inside. The ends are hosts (ports 0).
    Gre(u8),
    /// IP in IP, with its kind (`Ipip`, `SixIn4`, `FourIn6`, `SixIn6`) from the outer family
    /// and the protocol. The ends are hosts.
    IpInIp(crate::report::TunnelKind),
}

/// [`CountedTunnel::Gre`]'s bits.
pub const GRE_KEY: u8 = 1;
pub const GRE_PPTP: u8 = 2;
pub const GRE_ERSPAN: u8 = 4;

impl CountedTunnel {
    /// The report's kind of tunnel.
    pub fn kind(self) -> crate::report::TunnelKind {
        use crate::report::TunnelKind;
        match self {
            CountedTunnel::Wireguard(_) => TunnelKind::Wireguard,
            CountedTunnel::Openvpn(_) | CountedTunnel::OpenvpnTcp(_) => TunnelKind::Openvpn,
            CountedTunnel::GtpU(_) => TunnelKind::GtpU,
            CountedTunnel::Vxlan => TunnelKind::Vxlan,
            CountedTunnel::Geneve => TunnelKind::Geneve,
            CountedTunnel::Gre(_) => TunnelKind::Gre,
            CountedTunnel::IpInIp(k) => k,
        }
    }

    /// The message byte recorded with it (0 where the kind has none).
    pub fn msg(self) -> u8 {
        match self {
            CountedTunnel::Wireguard(m)
            | CountedTunnel::Openvpn(m)
            | CountedTunnel::OpenvpnTcp(m)
            | CountedTunnel::GtpU(m)
            | CountedTunnel::Gre(m) => m,
            CountedTunnel::Vxlan | CountedTunnel::Geneve | CountedTunnel::IpInIp(_) => 0,
        }
    }

    /// Carried over TCP (its ends are a TCP flow's).
    pub fn tcp(self) -> bool {
        matches!(self, CountedTunnel::OpenvpnTcp(_))
    }

    /// From the report's kind, the message byte and whether it went over TCP; `None` for a
    /// kind never counted so.
    pub fn from_kind(kind: crate::report::TunnelKind, msg: u8, tcp: bool) -> Option<CountedTunnel> {
        use crate::report::TunnelKind;
        Some(match kind {
            TunnelKind::Wireguard => CountedTunnel::Wireguard(msg),
            TunnelKind::Openvpn if tcp => CountedTunnel::OpenvpnTcp(msg),
            TunnelKind::Openvpn => CountedTunnel::Openvpn(msg),
            TunnelKind::GtpU => CountedTunnel::GtpU(msg),
            TunnelKind::Vxlan => CountedTunnel::Vxlan,
            TunnelKind::Geneve => CountedTunnel::Geneve,
            TunnelKind::Gre => CountedTunnel::Gre(msg),
            TunnelKind::Ipip | TunnelKind::SixIn4 | TunnelKind::FourIn6 | TunnelKind::SixIn6 => {
                CountedTunnel::IpInIp(kind)
            }
            _ => return None,
        })
    }
}

/// Messages of a tunnel the source counts itself, as [`EspCounters`] counts ESP: per kind of
/// message, index (WireGuard: the index the message carries, the receiver's for transport
/// data; OpenVPN: the peer ID of P_DATA_V2, else 0; GTP-U: the TEID; VXLAN, Geneve: the VNI;
/// GRE: the key or PPTP call ID; IP in IP: 0), direction and ends (UDP's; GRE's and IP in IP's
/// are hosts, ports 0). The messages that pair WireGuard's indices into sessions
/// and give OpenVPN's session IDs come as samples besides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelCounters {
    pub at: Timestamp,
    pub mode: CountMode,
    pub iface: IfaceId,
    pub direction: Direction,
    pub kind: CountedTunnel,
    pub index: u32,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub packets: u64,
    pub bytes: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

/// What a source could not deliver: events lost in a full ring buffer, keys a full kernel map
/// could not take. Never silent: the report shows each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LossNotice {
    pub at: Timestamp,
    pub mode: CountMode,
    /// What lost them, e.g. `ring buffer (cpu 1)` or `kernel map iface_flows full`; totals are
    /// kept per `what`.
    pub what: String,
    /// Lost events (for a ring buffer) or uncounted packets (for a full map).
    pub count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketOp {
    Created,
    Bound,
    Connected,
    Closed,
    /// A process other than the last one used the socket (inherited across fork, shared).
    Used,
    /// TCP changed state (`tcp_state` says to which).
    State,
    /// The socket existed before the source began; this is what a snapshot says of it.
    Existing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEvent {
    pub ts: Timestamp,
    pub op: SocketOp,
    pub cookie: u64,
    pub pid: u32,
    /// IP protocol (6 TCP, 17 UDP, …); 0 when not known.
    pub proto: u8,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    /// The socket's network namespace (as [`InterfaceInfo::netns`] names it).
    pub netns: Option<u64>,
    /// Interface the socket is bound to (SO_BINDTODEVICE), as a kernel ifindex in `netns`.
    pub bound_ifindex: Option<u32>,
    /// Linux TCP state number (1 established … 7 close, 10 listen) for [`SocketOp::State`].
    pub tcp_state: Option<u8>,
}

/// A process attached to a TUN/TAP device (TUNSETIFF): it created the device, or took an
/// existing persistent one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunAttach {
    pub ts: Timestamp,
    pub pid: u32,
    /// The device's name as the kernel returned it.
    pub name: String,
    pub netns: Option<u64>,
    /// IFF_TAP rather than IFF_TUN.
    pub tap: bool,
}

/// Rare variants are boxed so the per-packet event stays small (it is moved once per packet).
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Process(Box<ProcessInfo>),
    /// The process ended.
    ProcessExit {
        pid: u32,
        /// Start time of the process that ended, when known, so a newer process with the same
        /// pid is not the one marked.
        start: Option<Timestamp>,
        at: Timestamp,
    },
    Interface(Box<InterfaceInfo>),
    /// The interface is gone (a live source saw it removed). A later interface with the same
    /// name or index is announced under a new id.
    InterfaceGone {
        id: IfaceId,
        at: Timestamp,
    },
    Socket(Box<SocketEvent>),
    Tun(Box<TunAttach>),
    Packet(PacketEvent<'a>),
    Counters(Box<FlowCounters>),
    Esp(Box<EspCounters>),
    Tunnel(Box<TunnelCounters>),
    Loss(Box<LossNotice>),
    /// Time has passed without anything else to say (a live source's heartbeat): lets the
    /// aggregator expire what went idle, with no clock of its own.
    Tick(Timestamp),
}

/// Where a packet's bytes are in a [`Batch`]: the packet event with its data replaced by a range.
#[derive(Debug, Clone, Copy)]
struct PacketAt {
    meta: PacketEvent<'static>,
    start: usize,
    len: usize,
}

#[derive(Debug, Clone)]
enum Item {
    Packet(PacketAt),
    Other(Event<'static>),
}

/// Events in order, owned, to cross a channel from a reader (a ring buffer, a socket) to the
/// aggregator as one value: packet bytes are laid end to end in one buffer, so a batch costs no
/// allocation per packet, and a cleared batch keeps its capacity for the next round (send used
/// batches back to the reader to reuse them).
#[derive(Debug, Clone, Default)]
pub struct Batch {
    items: Vec<Item>,
    bytes: Vec<u8>,
}

impl Batch {
    pub fn new() -> Self {
        Batch::default()
    }

    pub fn with_capacity(events: usize, bytes: usize) -> Self {
        Batch { items: Vec::with_capacity(events), bytes: Vec::with_capacity(bytes) }
    }

    /// Append a packet, copying its bytes into the batch.
    pub fn push_packet(&mut self, p: &PacketEvent<'_>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(p.data);
        let meta = PacketEvent { data: &[], ..*p };
        self.items.push(Item::Packet(PacketAt { meta, start, len: p.data.len() }));
    }

    /// Append any other event. A packet given here is copied like [`Batch::push_packet`].
    pub fn push(&mut self, e: Event<'_>) {
        let owned = match e {
            Event::Packet(p) => return self.push_packet(&p),
            Event::Process(x) => Event::Process(x),
            Event::ProcessExit { pid, start, at } => Event::ProcessExit { pid, start, at },
            Event::Interface(x) => Event::Interface(x),
            Event::InterfaceGone { id, at } => Event::InterfaceGone { id, at },
            Event::Socket(x) => Event::Socket(x),
            Event::Tun(x) => Event::Tun(x),
            Event::Counters(x) => Event::Counters(x),
            Event::Esp(x) => Event::Esp(x),
            Event::Tunnel(x) => Event::Tunnel(x),
            Event::Loss(x) => Event::Loss(x),
            Event::Tick(t) => Event::Tick(t),
        };
        self.items.push(Item::Other(owned));
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Packet bytes held.
    pub fn bytes_len(&self) -> usize {
        self.bytes.len()
    }

    /// Empty it, keeping the memory for reuse.
    pub fn clear(&mut self) {
        self.items.clear();
        self.bytes.clear();
    }

    /// The events in the order they were pushed, packets borrowing the batch's buffer.
    pub fn iter(&self) -> impl Iterator<Item = Event<'_>> + '_ {
        self.items.iter().map(|it| match it {
            Item::Packet(p) => Event::Packet(PacketEvent { data: &self.bytes[p.start..p.start + p.len], ..p.meta }),
            Item::Other(e) => e.clone(),
        })
    }

    /// Hand each event to `f` by reference, in order, without cloning the boxed ones.
    pub fn for_each(&self, mut f: impl FnMut(&Event<'_>)) {
        for it in &self.items {
            match it {
                Item::Packet(p) => {
                    f(&Event::Packet(PacketEvent { data: &self.bytes[p.start..p.start + p.len], ..p.meta }))
                }
                Item::Other(e) => f(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_events_stay_small() {
        // Moved once per packet on the replay hot path.
        assert!(std::mem::size_of::<Event<'_>>() <= 72, "{}", std::mem::size_of::<Event<'_>>());
    }

    #[test]
    fn a_batch_keeps_order_and_bytes() {
        let mut b = Batch::with_capacity(4, 64);
        let p = |data: &'static [u8], iface| PacketEvent { data, iface, orig_len: 100, ..PacketEvent::EMPTY };
        b.push(Event::Tick(Timestamp(5)));
        b.push_packet(&p(b"abc", 1));
        b.push(Event::InterfaceGone { id: 3, at: Timestamp(6) });
        b.push(Event::Packet(p(b"", 2)));
        b.push_packet(&p(b"defg", 4));
        assert_eq!((b.len(), b.bytes_len()), (5, 7));
        let mut seen = Vec::new();
        b.for_each(|e| {
            seen.push(match e {
                Event::Packet(p) => format!("p{} {}", p.iface, String::from_utf8_lossy(p.data)),
                Event::Tick(t) => format!("t{}", t.0),
                Event::InterfaceGone { id, .. } => format!("g{id}"),
                _ => "?".into(),
            })
        });
        assert_eq!(seen, ["t5", "p1 abc", "g3", "p2 ", "p4 defg"]);
        assert_eq!(b.iter().count(), 5);
        let cap = b.bytes.capacity();
        b.clear();
        assert!(b.is_empty() && b.bytes_len() == 0 && b.bytes.capacity() == cap);
    }
}

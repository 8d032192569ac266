//! The one vocabulary of tuntrace: every source (capture file, eBPF, DTrace) produces these
//! events and the aggregator consumes nothing else.

use crate::time::Timestamp;

/// Index of an interface within one event stream. Sources announce each interface once with
/// [`Event::Interface`] before any packet refers to it.
pub type IfaceId = u32;

/// A process as far as the source knows it. Fields not known are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessInfo {
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub cmdline: Option<String>,
    pub uid: Option<u32>,
}

/// What a source knows about an interface.
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
    pub iface: IfaceId,
    pub direction: Direction,
    /// Length on the wire; `data.len()` may be smaller when the capture was cut at snaplen.
    pub orig_len: u32,
    pub data: &'a [u8],
    /// Owning process, when the source attributes packets (pcapng process blocks, eBPF cookies).
    pub pid: Option<u32>,
    /// Process the owner acted for (macOS "effective process", e.g. a daemon sending for an app).
    pub effective_pid: Option<u32>,
}

impl PacketEvent<'_> {
    /// A placeholder (no bytes) for filling arrays.
    pub const EMPTY: PacketEvent<'static> = PacketEvent {
        ts: crate::time::Timestamp(0),
        iface: 0,
        direction: Direction::Unknown,
        orig_len: 0,
        data: &[],
        pid: None,
        effective_pid: None,
    };
}

/// Exact per-flow totals counted in the kernel (live sessions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowCounters {
    pub iface: Option<IfaceId>,
    pub proto: u8,
    pub src: std::net::IpAddr,
    pub sport: u16,
    pub dst: std::net::IpAddr,
    pub dport: u16,
    pub pid: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketOp {
    Created,
    Bound,
    Connected,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEvent {
    pub ts: Timestamp,
    pub op: SocketOp,
    pub cookie: u64,
    pub pid: u32,
    pub proto: u8,
    pub local: Option<std::net::SocketAddr>,
    pub remote: Option<std::net::SocketAddr>,
}

/// Rare variants are boxed so the per-packet event stays small (it is moved once per packet).
#[derive(Debug, Clone)]
pub enum Event<'a> {
    Process(Box<ProcessInfo>),
    Interface(Box<InterfaceInfo>),
    Socket(Box<SocketEvent>),
    Packet(PacketEvent<'a>),
    Counters(Box<FlowCounters>),
    /// Events the kernel could not deliver (ring buffer full).
    Loss {
        dropped: u64,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn packet_events_stay_small() {
        // Moved once per packet on the replay hot path.
        assert!(std::mem::size_of::<super::Event<'_>>() <= 72, "{}", std::mem::size_of::<super::Event<'_>>());
    }
}

//! `#[repr(C)]` mirrors of `linux/tuntrace.h`, and safe decoding of them from bytes.
//!
//! Every struct is padded explicitly on both sides (named `_pad` fields), so a mirror has no
//! compiler-inserted hole: its bytes are exactly the C struct's, which the size and offset tests
//! below pin down. Values are host-endian (BPF runs in the host's byte order); addresses are in
//! network order, IPv4 in the first four bytes of the 16.

/// Record types (`tt_hdr.type`).
pub const REC_SOCK: u16 = 1;
pub const REC_PROC: u16 = 2;
pub const REC_TUN: u16 = 3;
pub const REC_PKT: u16 = 4;

/// `tt_sock_rec.op`.
pub const SOCK_CREATE: u8 = 1;
pub const SOCK_BIND: u8 = 2;
pub const SOCK_CONNECT: u8 = 3;
pub const SOCK_CLOSE: u8 = 4;
pub const SOCK_TCP_STATE: u8 = 5;
pub const SOCK_OWNER: u8 = 6;
pub const SOCK_LEARNED: u8 = 7;

/// `tt_proc_rec.op`.
pub const PROC_EXEC: u8 = 1;
pub const PROC_EXIT: u8 = 2;

pub const DIR_IN: u8 = 1;
pub const DIR_OUT: u8 = 2;
pub const HOOK_TC: u8 = 1;
/// `PktRec::flags`: the datagram that made its flow an OpenVPN candidate (`ovpn_flows`).
pub const PKT_OVPN_START: u8 = 1;
pub const ESP_RAW: u8 = 1;
pub const ESP_UDP: u8 = 2;
/// WireGuard messages: `spi` is the message's index, `msg` its type.
pub const ESP_WG: u8 = 3;
/// OpenVPN over UDP: `spi` is the peer ID (P_DATA_V2) or 0, `msg` the opcode and key ID byte.
pub const ESP_OVPN: u8 = 4;
/// GTP-U: `spi` is the TEID, `msg` the message type.
pub const ESP_GTPU: u8 = 5;
/// VXLAN: `spi` is the VNI.
pub const ESP_VXLAN: u8 = 6;
/// Geneve: `spi` is the VNI.
pub const ESP_GENEVE: u8 = 7;
/// GRE: `spi` is the key or PPTP's call ID, `msg` says which ([`GRE_KEY`], [`GRE_PPTP`]) and
/// whether it carries ERSPAN ([`GRE_ERSPAN`]).
pub const ESP_GRE: u8 = 8;
/// IP in IP: `msg` is the protocol (4: IPv4 inside, 41: IPv6).
pub const ESP_IPIP: u8 = 9;
/// OpenVPN over TCP 1194, per record (bytes with the record's 2-byte length).
pub const ESP_OVPN_TCP: u8 = 10;
/// `ovpn_flows` values: a flow the kernel counts as OpenVPN until userspace says it is not.
pub const OVPN_CANDIDATE: u32 = 1;
pub const OVPN_NOT: u32 = 2;
pub const MAX_OVPN_FLOWS: u32 = 16384;
pub const GRE_KEY: u8 = 1;
pub const GRE_PPTP: u8 = 2;
pub const GRE_ERSPAN: u8 = 4;

pub const COMM_LEN: usize = 16;
pub const IFNAME_LEN: usize = 16;
pub const PATH_LEN: usize = 256;
pub const MAX_SNAPLEN: u32 = 1500;
/// Interfaces below this ifindex are also in `traced_fast` (an array: value l2_len + 1).
pub const FAST_IFINDEX: u32 = 4096;
/// Entries of `iface_slots` and `sock_slots` (per CPU each).
pub const FLOW_SLOTS: u32 = 256;

/// Indexes of the `stats` per-CPU array.
pub const STAT_RING_FULL: u32 = 0;
pub const STAT_SOCKETS_FULL: u32 = 1;
pub const STAT_IFACE_FLOWS_FULL: u32 = 2;
pub const STAT_SOCK_FLOWS_FULL: u32 = 3;
pub const STAT_ESP_FULL: u32 = 4;
pub const STAT_SENDERS_FULL: u32 = 5;
pub const STAT_PROCS_FULL: u32 = 6;
pub const STAT_SAMPLED: u32 = 8;
pub const STAT_RECORDS: u32 = 9;
pub const STAT_MAX: u32 = 16;

/// Map names in the tracer object, as the loader looks them up.
pub const MAP_EVENTS: &str = "events";
pub const MAP_STATS: &str = "stats";
pub const MAP_SOCKETS: &str = "sockets";
pub const MAP_SENDERS: &str = "senders";
pub const MAP_FOREIGN: &str = "foreign";
pub const MAP_MSG_SEEN: &str = "msg_seen";
pub const MAP_PROCS: &str = "procs";
pub const MAP_SOCK_USERS: &str = "sock_users";
pub const MAP_TRACED: &str = "traced";
pub const MAP_TRACED_FAST: &str = "traced_fast";
pub const MAP_IFACE_FLOWS: &str = "iface_flows";
pub const MAP_SOCK_FLOWS: &str = "sock_flows";
pub const MAP_IFACE_SLOTS: &str = "iface_slots";
pub const MAP_SOCK_SLOTS: &str = "sock_slots";
pub const MAP_ESP_SAS: &str = "esp_sas";
pub const MAP_SCRATCH: &str = "scratch";
pub const MAP_OVPN_FLOWS: &str = "ovpn_flows";
pub const MAP_OVPN_PORTS: &str = "ovpn_ports";
pub const MAP_OVPN_TCP: &str = "ovpn_tcp";
/// `ovpn_tcp`'s value (`struct tt_ovpn_stream`): where a direction's record framing stands.
pub const OVPN_STREAM_BYTES: u32 = 16;
/// `ovpn_ports`' one value: a bit per UDP port.
pub const OVPN_PORTS_BYTES: u32 = 8192;

/// `.rodata` globals the loader sets before load.
pub const GLOBAL_NETNS_COOKIE: &str = "tt_netns_cookie";
pub const GLOBAL_SNAPLEN: &str = "tt_snaplen";

/// A type whose every bit pattern is a valid value and that has no padding: integers, byte
/// arrays, and the mirrors below (checked by `mirrors_have_no_hidden_padding`).
///
/// # Safety
/// Implement only for `#[repr(C)]` types made of such fields with no implicit padding.
pub unsafe trait Plain: Copy + 'static {}

/// Reads a `T` from the start of `bytes`, or `None` if there are fewer than `size_of::<T>()`.
/// Any alignment is accepted.
pub fn from_bytes<T: Plain>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: the length is checked above, `read_unaligned` accepts any alignment, and `Plain`
    // guarantees every bit pattern is a valid `T`.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

/// The bytes of a `T`, e.g. a map key to look up.
pub fn as_bytes<T: Plain>(value: &T) -> &[u8] {
    // SAFETY: `Plain` types have no padding, so every byte of the value is initialized.
    unsafe { std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

/// A fixed C string field up to its first NUL, lossily as UTF-8.
pub fn c_str(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hdr {
    pub rec_type: u16,
    pub len: u16,
    pub cpu: u32,
    pub ts: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockRec {
    pub hdr: Hdr,
    pub cookie: u64,
    pub netns_cookie: u64,
    pub start_ns: u64,
    pub tgid: u32,
    pub tid: u32,
    pub uid: u32,
    pub op: u8,
    pub family: u8,
    pub protocol: u8,
    pub sock_type: u8,
    pub old_state: u8,
    pub new_state: u8,
    pub lport: u16,
    pub rport: u16,
    pub _pad0: u16,
    pub bound_ifindex: u32,
    pub prev_tgid: u32,
    pub laddr: [u8; 16],
    pub raddr: [u8; 16],
    pub comm: [u8; COMM_LEN],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcRec {
    pub hdr: Hdr,
    pub start_ns: u64,
    pub tgid: u32,
    pub old_tid: u32,
    pub uid: u32,
    pub op: u8,
    pub _pad0: [u8; 3],
    pub comm: [u8; COMM_LEN],
    pub filename: [u8; PATH_LEN],
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunRec {
    pub hdr: Hdr,
    pub start_ns: u64,
    pub tgid: u32,
    pub tid: u32,
    pub uid: u32,
    pub flags: u16,
    pub _pad0: u16,
    pub ifname: [u8; IFNAME_LEN],
    pub comm: [u8; COMM_LEN],
}

/// The fixed part of a PKT record; `cap_len` bytes of packet (from the IP header) follow it.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PktRec {
    pub hdr: Hdr,
    pub cookie: u64,
    pub ifindex: u32,
    pub tgid: u32,
    pub orig_len: u32,
    pub cap_len: u32,
    pub direction: u8,
    pub hook: u8,
    /// [`PKT_OVPN_START`] or 0.
    pub flags: u8,
    pub _pad0: u8,
    /// Egress: the candidate thread in the kernel's record (0 on ingress); the loader resolves
    /// `tgid` and keeps `tid` only when `senders` confirmed it.
    pub tid: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IfaceCfg {
    pub l2_len: u32,
    pub _pad0: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    pub cookie: u64,
    pub ifindex: u32,
    pub tgid: u32,
    /// In the kernel's keys: the candidate thread (tc egress) or 0. In what the loader returns:
    /// the thread `senders` confirmed as the sender, else 0.
    pub tid: u32,
    pub direction: u8,
    pub protocol: u8,
    /// 4 or 6.
    pub family: u8,
    pub _pad0: u8,
    pub sport: u16,
    pub dport: u16,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub _pad1: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowVal {
    pub packets: u64,
    pub bytes: u64,
    pub first_ns: u64,
    pub last_ns: u64,
}

/// `iface_slots`, `sock_slots`: a flow's per-CPU slot in front of its hash map (see tuntrace.h);
/// free while `val.packets` is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowSlot {
    pub key: FlowKey,
    pub val: FlowVal,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EspKey {
    pub ifindex: u32,
    pub spi: u32,
    pub direction: u8,
    pub encap: u8,
    pub family: u8,
    /// 0 for ESP; see [`ESP_WG`] and [`ESP_OVPN`].
    pub msg: u8,
    pub sport: u16,
    pub dport: u16,
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

/// `ovpn_flows` key: one direction of a UDP or TCP flow off port 1194 that began as OpenVPN
/// may (`ovpn_tcp`'s too).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OvpnKey {
    pub family: u8,
    /// 17 or 6.
    pub proto: u8,
    pub _pad0: [u8; 2],
    pub sport: u16,
    pub dport: u16,
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

impl OvpnKey {
    /// The other direction of the same flow.
    pub fn reversed(&self) -> OvpnKey {
        OvpnKey { sport: self.dport, dport: self.sport, src: self.dst, dst: self.src, ..*self }
    }
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EspVal {
    /// `struct bpf_spin_lock` on the C side.
    pub lock: u32,
    pub first_seq: u32,
    pub last_seq: u32,
    pub _pad0: u32,
    pub packets: u64,
    pub bytes: u64,
    pub gaps: u64,
    pub repeats: u64,
    pub first_ns: u64,
    pub last_ns: u64,
    /// Late packets; the report takes each out of `gaps` (which only grows).
    pub reordered: u64,
    /// The sequence numbers seen among the 64 up to `last_seq`.
    pub window: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SockInfo {
    pub netns_cookie: u64,
    pub creator_start_ns: u64,
    pub creator_tgid: u32,
    pub last_tx_tgid: u32,
    pub last_rx_tgid: u32,
    /// The thread of `last_tx_tgid` that sent last; 0 after a connect().
    pub last_tx_tid: u32,
    pub family: u8,
    pub sock_type: u8,
    pub protocol: u8,
    /// close() seen; a TCP socket stays in the table until it reaches TCP_CLOSE.
    pub released: u8,
    pub _pad0: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SockUser {
    pub cookie: u64,
    pub tgid: u32,
    pub _pad0: u32,
}

/// `senders` key: thread `tid` of process `tgid` sent on socket `cookie`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SenderKey {
    pub cookie: u64,
    pub tgid: u32,
    pub tid: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderVal {
    pub start_ns: u64,
    pub first_ns: u64,
}

// SAFETY: #[repr(C)], integer and byte-array fields only, no implicit padding (tested below).
unsafe impl Plain for Hdr {}
unsafe impl Plain for SockRec {}
unsafe impl Plain for ProcRec {}
unsafe impl Plain for TunRec {}
unsafe impl Plain for PktRec {}
unsafe impl Plain for IfaceCfg {}
unsafe impl Plain for FlowKey {}
unsafe impl Plain for FlowVal {}
unsafe impl Plain for FlowSlot {}
unsafe impl Plain for EspKey {}
unsafe impl Plain for EspVal {}
unsafe impl Plain for OvpnKey {}
unsafe impl Plain for SockInfo {}
unsafe impl Plain for SockUser {}
unsafe impl Plain for SenderKey {}
unsafe impl Plain for SenderVal {}
unsafe impl Plain for u32 {}
unsafe impl Plain for u64 {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// Sizes and offsets as clang lays out tuntrace.h (checked against the object's BTF by
    /// tests/objects.rs for the map keys and values).
    #[test]
    fn record_layouts_match_the_c_header() {
        assert_eq!(size_of::<Hdr>(), 16);
        assert_eq!((offset_of!(Hdr, len), offset_of!(Hdr, cpu), offset_of!(Hdr, ts)), (2, 4, 8));

        assert_eq!(size_of::<SockRec>(), 120);
        assert_eq!(offset_of!(SockRec, cookie), 16);
        assert_eq!(offset_of!(SockRec, netns_cookie), 24);
        assert_eq!(offset_of!(SockRec, start_ns), 32);
        assert_eq!(offset_of!(SockRec, tgid), 40);
        assert_eq!(offset_of!(SockRec, tid), 44);
        assert_eq!(offset_of!(SockRec, uid), 48);
        assert_eq!(offset_of!(SockRec, op), 52);
        assert_eq!(offset_of!(SockRec, family), 53);
        assert_eq!(offset_of!(SockRec, protocol), 54);
        assert_eq!(offset_of!(SockRec, sock_type), 55);
        assert_eq!(offset_of!(SockRec, old_state), 56);
        assert_eq!(offset_of!(SockRec, new_state), 57);
        assert_eq!(offset_of!(SockRec, lport), 58);
        assert_eq!(offset_of!(SockRec, rport), 60);
        assert_eq!(offset_of!(SockRec, bound_ifindex), 64);
        assert_eq!(offset_of!(SockRec, prev_tgid), 68);
        assert_eq!(offset_of!(SockRec, laddr), 72);
        assert_eq!(offset_of!(SockRec, raddr), 88);
        assert_eq!(offset_of!(SockRec, comm), 104);

        assert_eq!(size_of::<ProcRec>(), 312);
        assert_eq!(offset_of!(ProcRec, start_ns), 16);
        assert_eq!(offset_of!(ProcRec, tgid), 24);
        assert_eq!(offset_of!(ProcRec, old_tid), 28);
        assert_eq!(offset_of!(ProcRec, uid), 32);
        assert_eq!(offset_of!(ProcRec, op), 36);
        assert_eq!(offset_of!(ProcRec, comm), 40);
        assert_eq!(offset_of!(ProcRec, filename), 56);

        assert_eq!(size_of::<TunRec>(), 72);
        assert_eq!(offset_of!(TunRec, start_ns), 16);
        assert_eq!(offset_of!(TunRec, tgid), 24);
        assert_eq!(offset_of!(TunRec, tid), 28);
        assert_eq!(offset_of!(TunRec, uid), 32);
        assert_eq!(offset_of!(TunRec, flags), 36);
        assert_eq!(offset_of!(TunRec, ifname), 40);
        assert_eq!(offset_of!(TunRec, comm), 56);

        assert_eq!(size_of::<PktRec>(), 48);
        assert_eq!(offset_of!(PktRec, cookie), 16);
        assert_eq!(offset_of!(PktRec, ifindex), 24);
        assert_eq!(offset_of!(PktRec, tgid), 28);
        assert_eq!(offset_of!(PktRec, orig_len), 32);
        assert_eq!(offset_of!(PktRec, cap_len), 36);
        assert_eq!(offset_of!(PktRec, direction), 40);
        assert_eq!(offset_of!(PktRec, hook), 41);
        assert_eq!(offset_of!(PktRec, flags), 42);
        assert_eq!(offset_of!(PktRec, tid), 44);
    }

    #[test]
    fn map_layouts_match_the_c_header() {
        assert_eq!(size_of::<IfaceCfg>(), 8);

        assert_eq!(size_of::<FlowKey>(), 64);
        assert_eq!(offset_of!(FlowKey, ifindex), 8);
        assert_eq!(offset_of!(FlowKey, tgid), 12);
        assert_eq!(offset_of!(FlowKey, tid), 16);
        assert_eq!(offset_of!(FlowKey, direction), 20);
        assert_eq!(offset_of!(FlowKey, protocol), 21);
        assert_eq!(offset_of!(FlowKey, family), 22);
        assert_eq!(offset_of!(FlowKey, sport), 24);
        assert_eq!(offset_of!(FlowKey, dport), 26);
        assert_eq!(offset_of!(FlowKey, src), 28);
        assert_eq!(offset_of!(FlowKey, dst), 44);
        assert_eq!(offset_of!(FlowKey, _pad1), 60);
        assert_eq!(size_of::<FlowVal>(), 32);
        assert_eq!(offset_of!(FlowVal, last_ns), 24);
        assert_eq!(size_of::<FlowSlot>(), 96);
        assert_eq!(offset_of!(FlowSlot, val), 64);

        assert_eq!(size_of::<EspKey>(), 48);
        assert_eq!(offset_of!(EspKey, spi), 4);
        assert_eq!(offset_of!(EspKey, direction), 8);
        assert_eq!(offset_of!(EspKey, encap), 9);
        assert_eq!(offset_of!(EspKey, family), 10);
        assert_eq!(offset_of!(EspKey, msg), 11);
        assert_eq!(offset_of!(EspKey, sport), 12);
        assert_eq!(offset_of!(EspKey, dport), 14);
        assert_eq!(offset_of!(EspKey, src), 16);
        assert_eq!(offset_of!(EspKey, dst), 32);
        assert_eq!(size_of::<EspVal>(), 80);
        assert_eq!(offset_of!(EspVal, first_seq), 4);
        assert_eq!(offset_of!(EspVal, last_seq), 8);
        assert_eq!(offset_of!(EspVal, packets), 16);
        assert_eq!(offset_of!(EspVal, bytes), 24);
        assert_eq!(offset_of!(EspVal, gaps), 32);
        assert_eq!(offset_of!(EspVal, repeats), 40);
        assert_eq!(offset_of!(EspVal, first_ns), 48);
        assert_eq!(offset_of!(EspVal, last_ns), 56);
        assert_eq!(offset_of!(EspVal, reordered), 64);
        assert_eq!(offset_of!(EspVal, window), 72);

        assert_eq!(size_of::<OvpnKey>(), 40);
        assert_eq!(offset_of!(OvpnKey, proto), 1);
        assert_eq!(offset_of!(OvpnKey, sport), 4);
        assert_eq!(offset_of!(OvpnKey, dport), 6);
        assert_eq!(offset_of!(OvpnKey, src), 8);
        assert_eq!(offset_of!(OvpnKey, dst), 24);

        assert_eq!(size_of::<SockInfo>(), 40);
        assert_eq!(offset_of!(SockInfo, creator_start_ns), 8);
        assert_eq!(offset_of!(SockInfo, creator_tgid), 16);
        assert_eq!(offset_of!(SockInfo, last_tx_tgid), 20);
        assert_eq!(offset_of!(SockInfo, last_rx_tgid), 24);
        assert_eq!(offset_of!(SockInfo, last_tx_tid), 28);
        assert_eq!(offset_of!(SockInfo, family), 32);
        assert_eq!(offset_of!(SockInfo, sock_type), 33);
        assert_eq!(offset_of!(SockInfo, protocol), 34);
        assert_eq!(offset_of!(SockInfo, released), 35);

        assert_eq!(size_of::<SenderKey>(), 16);
        assert_eq!((offset_of!(SenderKey, tgid), offset_of!(SenderKey, tid)), (8, 12));
        assert_eq!(size_of::<SenderVal>(), 16);

        assert_eq!(size_of::<SockUser>(), 16);
        assert_eq!(offset_of!(SockUser, tgid), 8);
    }

    /// `Plain` relies on this: the fields' sizes add up to the struct's size.
    #[test]
    fn mirrors_have_no_hidden_padding() {
        assert_eq!(size_of::<SockRec>(), 16 + 8 * 3 + 4 * 3 + 6 + 2 * 3 + 4 * 2 + 16 * 2 + COMM_LEN);
        assert_eq!(size_of::<ProcRec>(), 16 + 8 + 4 * 3 + 4 + COMM_LEN + PATH_LEN);
        assert_eq!(size_of::<TunRec>(), 16 + 8 + 4 * 3 + 4 + IFNAME_LEN + COMM_LEN);
        assert_eq!(size_of::<PktRec>(), 16 + 8 + 4 * 4 + 8);
        assert_eq!(size_of::<FlowKey>(), 8 + 4 * 3 + 4 + 2 * 2 + 32 + 4);
        assert_eq!(size_of::<EspKey>(), 4 * 2 + 4 + 2 * 2 + 32);
        assert_eq!(size_of::<EspVal>(), 4 * 4 + 8 * 8);
        assert_eq!(size_of::<SockInfo>(), 8 * 2 + 4 * 4 + 4 + 4);
    }

    #[test]
    fn decoding_checks_the_length_and_accepts_any_alignment() {
        let key = FlowKey {
            cookie: 7,
            ifindex: 3,
            sport: 5060,
            src: [198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..FlowKey::default()
        };
        let mut buf = vec![0u8; 1];
        buf.extend_from_slice(as_bytes(&key));
        assert_eq!(from_bytes::<FlowKey>(&buf[1..]), Some(key));
        assert_eq!(from_bytes::<FlowKey>(&buf[1..buf.len() - 1]), None);
        assert_eq!(c_str(b"tun0\0\0xx"), "tun0");
        assert_eq!(c_str(b"0123456789abcdef"), "0123456789abcdef");
    }
}

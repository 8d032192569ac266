//! What the host holds: interfaces (with the process holding each and the one that created
//! it), processes, and the sockets a live source reported.

use serde::{Deserialize, Serialize};

use super::{InterfaceKind, Proto, Time};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Socket {
    /// The kernel's socket cookie, 16 lower-case hex digits.
    pub cookie: String,
    pub proto: Proto,
    pub local: Option<String>,
    pub local_port: Option<u16>,
    pub remote: Option<String>,
    pub remote_port: Option<u16>,
    /// The process its packets belong to now (the last that used it).
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// Every process seen using it, first first (creator, forked children, sharers).
    pub users: Vec<u32>,
    pub created_by: Option<u32>,
    /// TCP state name (`established`, `listen`…).
    pub state: Option<String>,
    /// Interface it is bound to (SO_BINDTODEVICE).
    pub bound_iface: Option<String>,
    /// When it was created, if that happened while the source watched.
    pub opened: Option<Time>,
    pub closed: Option<Time>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcRef {
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreatedBy {
    pub pid: u32,
    pub comm: Option<String>,
    pub at: Option<Time>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Interface {
    pub name: Option<String>,
    pub kind: InterfaceKind,
    pub mtu: Option<u32>,
    pub addresses: Vec<String>,
    pub owner: Option<ProcRef>,
    pub created_by: Option<CreatedBy>,
    pub packets: u64,
    pub bytes: u64,
    /// pcap LINKTYPE name of its frames (additive field).
    pub linktype: String,
    /// Network namespace and kernel index (live sources; additive fields).
    pub netns: Option<u64>,
    pub ifindex: Option<u32>,
    /// When a live source saw it removed (additive field).
    pub removed: Option<Time>,
    /// The interface existed before the source began, so who created it cannot be known
    /// (`created_by` is then null for that reason, not for lack of looking; additive field).
    pub created_before_trace: bool,
    /// `link_kind`, `flags`, `tun`, `routes`, `rules`, `carriers`, `users`: the host's view of
    /// it (additive fields, beside the others in the JSON).
    #[serde(flatten)]
    pub host: super::host_facts::InterfaceDetails,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Process {
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub cmdline: Option<String>,
    pub uid: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
    pub interfaces: Vec<String>,
    // additive fields
    pub ppid: Option<u32>,
    /// When it started and exited (live sources).
    pub start: Option<Time>,
    pub exited: Option<Time>,
}

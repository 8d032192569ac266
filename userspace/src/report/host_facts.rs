//! What `tuntrace explain` adds to the report from the host itself rather than from traffic:
//! each interface's kernel details (link kind, flags, TUN/TAP settings), the routes and policy
//! rules that send traffic into it, the processes that use it and the carrier it rides on; and
//! for the whole report the peers (with their AS when an ASN database is given), the kernel's
//! IPsec state (xfrm) and what the user running tuntrace could not see.
//!
//! These are additive fields of `tuntrace.report/1`. In JSON the interface fields sit beside the
//! others (`interfaces[].routes`…) and the report fields at the top level (`peers`, `xfrm`,
//! `visibility`); in Rust each group is one struct, so code that builds a report by hand names
//! one field for all of them. Reports written before these fields existed still read (each field
//! defaults to empty).

use serde::{Deserialize, Serialize};

/// `interfaces[]`'s host details; empty (all `null` or `[]`) for replayed captures.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct InterfaceDetails {
    /// The kernel's link kind (`tun`, `wireguard`, `xfrm`, `vti`, `gre`, `ipip`, `veth`…), or
    /// `null` for a device without one (loopback, a NIC) or when the source cannot tell.
    pub link_kind: Option<String>,
    /// IFF_* flags as `ip link` names them: `UP`, `RUNNING`, `LOWER_UP`, `POINTOPOINT`,
    /// `NOARP`, `LOOPBACK`…
    pub flags: Vec<String>,
    /// TUN/TAP settings, for a TUN/TAP device.
    pub tun: Option<TunSettings>,
    /// Routes of any table whose output interface is this one.
    pub routes: Vec<RouteEntry>,
    /// Policy rules that look up a table holding one of those routes: how traffic is steered in.
    pub rules: Vec<PolicyRule>,
    /// The interfaces this tunnel's outer packets leave by, and how that was found.
    pub carriers: Vec<Carrier>,
    /// Processes that use it: its holder, processes with sockets on its addresses or bound to
    /// it, processes whose packets crossed it.
    pub users: Vec<InterfaceUser>,
}

impl InterfaceDetails {
    pub fn is_empty(&self) -> bool {
        *self == InterfaceDetails::default()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct TunSettings {
    /// `tun` (IP packets) or `tap` (Ethernet frames); `null` when the kernel did not say.
    pub mode: Option<String>,
    /// Frames carry the 4-byte packet-information header (IFF_NO_PI unset).
    pub pi: Option<bool>,
    pub vnet_hdr: Option<bool>,
    /// Survives its holder closing it (TUNSETPERSIST).
    pub persist: Option<bool>,
    pub multi_queue: Option<bool>,
    pub num_queues: Option<u32>,
    /// The user and group allowed to attach (TUNSETOWNER/TUNSETGROUP), when set.
    pub owner_uid: Option<u32>,
    pub group: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RouteEntry {
    /// `198.19.0.0/16`, `2001:db8::/32`, or `default`.
    pub dst: String,
    pub gateway: Option<String>,
    /// Preferred source address.
    pub src: Option<String>,
    /// Routing table: 254 main, 255 local, 220 strongSwan's, 51820 wg-quick's…
    pub table: u32,
    pub metric: Option<u32>,
    /// `unicast`, `local`, `broadcast`, `blackhole`, `unreachable`…
    pub kind: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PolicyRule {
    pub priority: Option<u32>,
    /// What `ip rule` prints before `lookup`: `from all`, `not from all fwmark 0xca6c`…
    pub selector: String,
    pub table: u32,
    pub ipv6: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Carrier {
    /// The interface the outer packets leave by.
    pub iface: String,
    /// The peer whose route leads there, when the carrier was found from a peer.
    pub peer: Option<String>,
    pub gateway: Option<String>,
    /// How it was found: `route to 198.18.0.1`, `outer packets of charon (pid 12) seen on it`,
    /// `the only interface with a route besides the tunnel`.
    pub how: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct InterfaceUser {
    /// `null` when the process is not visible (another user's, without root).
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// `holds the TUN device (fd 7)`, `UDP socket 198.19.1.1:5060`, `packets on it`…
    pub what: String,
}

/// The report's top-level host facts (`peers`, `xfrm`, `visibility`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct HostFacts {
    /// The remote ends of the tunnels: IKE peers, the far ends of their holders' sockets and
    /// outer flows, xfrm state endpoints. Empty outside `explain`.
    pub peers: Vec<Peer>,
    /// The kernel's IPsec SAs and policies (`ip xfrm state`/`policy`); `null` outside `explain`.
    pub xfrm: Option<Xfrm>,
    /// What this run could and could not see; `null` outside `explain`.
    pub visibility: Option<Visibility>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Peer {
    pub address: String,
    /// From the ASN database given with `--asn-db`; `null` without one or when it has no entry.
    pub asn: Option<u32>,
    pub org: Option<String>,
    /// The database's network holding the address (`198.18.0.0/15`).
    pub network: Option<String>,
    /// The interface the route to it leaves by (the carrier), and the next hop.
    pub via: Option<String>,
    pub gateway: Option<String>,
    /// What makes it a peer: `IKEv2 responder (NAT-T)`, `ESP`, `UDP socket of wireguard-go
    /// (pid 41)`…
    pub roles: Vec<String>,
    /// The tunnel interfaces it serves, when known.
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Xfrm {
    pub states: Vec<XfrmState>,
    pub policies: Vec<XfrmPolicy>,
    /// Why the lists could not be read (no privilege, no xfrm in the kernel).
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct XfrmState {
    pub src: String,
    pub dst: String,
    /// `esp`, `ah`, `comp`, or the protocol number.
    pub proto: String,
    /// 8 lower-case hex digits.
    pub spi: String,
    /// `transport`, `tunnel`, `beet`…
    pub mode: String,
    pub reqid: u32,
    /// `espinudp 4500 -> 4500` for NAT-T.
    pub encap: Option<String>,
    /// Algorithms, e.g. `rfc4106(gcm(aes))`, `cbc(aes)`, `hmac(sha256)`.
    pub algorithms: Vec<String>,
    /// The xfrm interface id (`if_id`) it is bound to, when set.
    pub if_id: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct XfrmPolicy {
    /// `in`, `out`, `fwd`.
    pub dir: String,
    /// Selector: `198.19.1.0/24`.
    pub src: String,
    pub dst: String,
    /// `allow` or `block`.
    pub action: String,
    pub priority: u32,
    /// Each template: `esp tunnel 198.18.0.2 -> 198.18.0.1 reqid 1`.
    pub templates: Vec<String>,
    pub if_id: Option<u32>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Visibility {
    /// Ran as root (or with CAP_SYS_PTRACE/CAP_NET_ADMIN enough to read every process).
    pub privileged: bool,
    /// Processes whose open files could not be read.
    pub unreadable_processes: u32,
    /// Sockets whose process could not be found.
    pub hidden_sockets: u32,
    /// What root would add, in plain words.
    pub notes: Vec<String>,
}

//! Tunnel encapsulations inside captures: each decoder takes the bytes after the outer header
//! (IP payload, UDP payload or link frame) and gives what it carries and the identifiers that
//! name the tunnel. Like every decoder here: byte slice in, a small value out, no allocation,
//! no panic, [`Malformed`](crate::decode::Malformed) with a reason on bad input.
//!
//! Recognition is by structure as well as by port: a port says where to look, the header's
//! fixed fields and lengths say whether it really is the protocol (UDP 2152 carrying DNS is
//! not GTP-U). The aggregator decodes what they carry as a packet of its own, so the inner
//! packets reach the IKE, ESP, SIP and RTP decoders like any other.

pub mod geneve;
pub mod gre;
pub mod gtp;
pub mod l2tp;
pub mod ppp;
pub mod teredo;
pub mod vxlan;

/// IP protocol numbers that carry tunnels.
pub const PROTO_IPIP: u8 = 4;
pub const PROTO_IPV6: u8 = 41;
pub const PROTO_GRE: u8 = 47;
pub const PROTO_L2TP: u8 = 115;

/// Well-known UDP ports of the tunnels recognised over UDP.
pub const PORT_GTP_U: u16 = 2152;
pub const PORT_VXLAN: u16 = 4789;
pub const PORT_VXLAN_GPE: u16 = 4790;
pub const PORT_GENEVE: u16 = 6081;
pub const PORT_L2TP: u16 = 1701;
pub const PORT_GRE_UDP: u16 = 4754;
pub const PORT_TEREDO: u16 = 3544;

/// What a tunnel header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload<'a> {
    /// An IP packet, IPv4 or IPv6 by its version nibble.
    Ip(&'a [u8]),
    /// An Ethernet frame (transparent bridging: VXLAN, Geneve, GRE 0x6558, ERSPAN, L2TPv3).
    Ethernet(&'a [u8]),
    /// A PPP frame from its protocol field on (address and control already removed).
    Ppp(&'a [u8]),
    /// Nothing decoded further: a control message, keepalive, or a protocol not followed.
    None,
}

/// The payload an ethertype-like protocol field names (GRE, Geneve share the numbers).
pub(crate) fn by_ethertype(proto: u16, rest: &[u8]) -> Payload<'_> {
    match proto {
        0x0800 | 0x86dd => Payload::Ip(rest),
        0x6558 => Payload::Ethernet(rest),
        0x880b => Payload::Ppp(rest),
        _ => Payload::None,
    }
}

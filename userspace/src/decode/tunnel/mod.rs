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

/// The kind of an IP-in-IP tunnel, from the outer header's family and the protocol it names
/// ([`PROTO_IPV6`]: IPv6 inside, else IPv4).
pub fn ip_in_ip_kind(outer_v6: bool, proto: u8) -> crate::report::TunnelKind {
    use crate::report::TunnelKind;
    match (outer_v6, proto == PROTO_IPV6) {
        (false, false) => TunnelKind::Ipip,
        (false, true) => TunnelKind::SixIn4,
        (true, false) => TunnelKind::FourIn6,
        (true, true) => TunnelKind::SixIn6,
    }
}

/// The protocol an IP-in-IP tunnel of `kind` is carried under ([`ip_in_ip_kind`] backwards).
pub fn ip_in_ip_proto(kind: crate::report::TunnelKind) -> u8 {
    use crate::report::TunnelKind;
    if matches!(kind, TunnelKind::SixIn4 | TunnelKind::SixIn6) {
        PROTO_IPV6
    } else {
        PROTO_IPIP
    }
}

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
        0x8847 | 0x8848 => mpls(rest),
        _ => Payload::None,
    }
}

/// An MPLS label stack (RFC 3032), as carriers put it in GRE: the labels up to the one with
/// the bottom-of-stack bit, then IP when the first nibble says IPv4 or IPv6, or an Ethernet
/// pseudowire (with or without its control word, as [`link::pseudowire_frame`] tells).
///
/// [`link::pseudowire_frame`]: crate::decode::link::pseudowire_frame
fn mpls(b: &[u8]) -> Payload<'_> {
    let Ok(at) = crate::decode::link::mpls_stack_end(b) else { return Payload::None };
    let rest = &b[at..];
    match rest.first().map(|v| v >> 4) {
        Some(4 | 6) => Payload::Ip(rest),
        _ => crate::decode::link::pseudowire_frame(rest).map_or(Payload::None, Payload::Ethernet),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mpls_stack_to_ip() {
        // Two labels, the second with the bottom-of-stack bit, then IPv4.
        let b = [0, 0x01, 0x00, 64, 0, 0x02, 0x01, 64, 0x45, 0];
        assert_eq!(by_ethertype(0x8847, &b), Payload::Ip(&[0x45, 0]));
        assert_eq!(by_ethertype(0x8847, &b[..6]), Payload::None);
        // A control word with nothing behind it that reads as Ethernet: not followed.
        assert_eq!(by_ethertype(0x8847, &[0, 0x01, 0x01, 64, 0, 0, 0, 0]), Payload::None);
        // An Ethernet pseudowire behind a control word, and one without.
        let frame = [&[0x00, 0x00, 0x0c, 1, 2, 3, 0x00, 0x00, 0x0c, 4, 5, 6, 0x08, 0x00][..], &[0x45, 0]].concat();
        let cw = [&[0, 0x01, 0x01, 64, 0, 0, 0, 9][..], &frame].concat();
        assert_eq!(by_ethertype(0x8847, &cw), Payload::Ethernet(&frame));
        let plain = [&[0, 0x01, 0x01, 64][..], &frame].concat();
        assert_eq!(by_ethertype(0x8847, &plain), Payload::Ethernet(&frame));
    }

    proptest! {
        #[test]
        fn mpls_never_panics(b in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = by_ethertype(0x8847, &b);
        }
    }
}

//! Tunnels inside captures: the outer packet is counted on its flow as any other, the tunnel
//! in the tunnel table, and what it carries is decoded as a packet of its own (its flows on the
//! same interface, marked with the tunnel), up to [`tunnels::MAX_DEPTH`] tunnels deep.
//! WireGuard and OpenVPN are recognised and counted, their payloads being encrypted.

use std::net::IpAddr;

use super::flows::{self, app};
use super::tunnels::{self, End, Id, Seen};
use super::{Aggregator, Ends, Pkt};
use crate::decode::tunnel::{self as tun, geneve, gre, gtp, l2tp, ppp, teredo, vxlan, Payload};
use crate::decode::{ip, link, openvpn, wireguard, Malformed};
use crate::event::CountedTunnel;
use crate::reassembly::tcp as tcp_stream;
use crate::report::{TunnelKind, TunnelTransport};
use crate::time::Timestamp;

/// Linux's VXLAN port before IANA assigned 4789 (still the kernel's default).
const PORT_VXLAN_LINUX: u16 = 8472;
const PORT_OPENVPN: u16 = 1194;
const PORT_WIREGUARD: u16 = 51820;
/// Session IDs and peer IDs listed per OpenVPN tunnel.
const MAX_OVPN_IDS: usize = 16;

/// `TunnelKind::ALL`'s index of `k`, as flows keep it.
pub(super) fn kind_index(k: TunnelKind) -> u8 {
    TunnelKind::ALL.iter().position(|&x| x == k).unwrap_or(0) as u8
}

/// The tunnel a UDP datagram on a new flow carries, recognised by port and structure: a
/// well-known port says which decoder to ask, and the decoder must accept the datagram.
pub(super) fn classify_udp(sport: u16, dport: u16, data: &[u8]) -> Option<TunnelKind> {
    let port = |p: u16| sport == p || dport == p;
    if port(tun::PORT_GTP_U) && gtp::parse(data).is_ok() {
        return Some(TunnelKind::GtpU);
    }
    if (port(tun::PORT_VXLAN) || port(PORT_VXLAN_LINUX)) && vxlan::parse(data).is_ok() {
        return Some(TunnelKind::Vxlan);
    }
    if port(tun::PORT_VXLAN_GPE) && vxlan::parse_gpe(data).is_ok() {
        return Some(TunnelKind::Vxlan);
    }
    if port(tun::PORT_GENEVE) && geneve::parse(data).is_ok() {
        return Some(TunnelKind::Geneve);
    }
    if port(tun::PORT_L2TP) && l2tp::parse_udp(data).is_ok() {
        return Some(TunnelKind::L2tp);
    }
    if port(tun::PORT_GRE_UDP) && gre::parse(data).is_ok() {
        return Some(TunnelKind::Gre);
    }
    if port(PORT_WIREGUARD) && wireguard::parse(data).is_ok() {
        return Some(TunnelKind::Wireguard);
    }
    if port(PORT_OPENVPN) && openvpn::parse(data).is_ok_and(|p| p.variant.is_some() || p.is_data()) {
        return Some(TunnelKind::Openvpn);
    }
    if port(tun::PORT_TEREDO) && teredo::parse(data).is_ok() {
        return Some(TunnelKind::Teredo);
    }
    None
}

/// The tunnels recognised on any port, asked after IKE and SIP had their turn: WireGuard and
/// OpenVPN by the messages that begin them, Teredo (whose relays use any port) by an IPv6 header
/// whose length is the datagram's. DNS is left alone: its queries can have WireGuard's shape.
pub(super) fn classify_udp_any_port(sport: u16, dport: u16, data: &[u8]) -> Option<TunnelKind> {
    if sport == 53 || dport == 53 {
        return None;
    }
    if wireguard::is_handshake(data) || wireguard::looks_like_transport(data) {
        return Some(TunnelKind::Wireguard);
    }
    if openvpn::looks_like_client_reset(data) {
        return Some(TunnelKind::Openvpn);
    }
    if teredo::parse(data).is_ok() {
        return Some(TunnelKind::Teredo);
    }
    None
}

/// Does a TCP flow's first payload begin OpenVPN (a length, then a client's hard reset)?
pub(super) fn openvpn_tcp_start(sport: u16, dport: u16, payload: &[u8]) -> bool {
    let Some(n) = openvpn::tcp_record_len(payload) else { return false };
    let Some(rec) = payload.get(2..n) else { return false };
    openvpn::looks_like_client_reset(rec)
        || (sport == PORT_OPENVPN || dport == PORT_OPENVPN) && openvpn::parse(rec).is_ok_and(|p| p.variant.is_some())
}

impl Aggregator {
    /// Count a tunnel packet; the tunnel's index.
    #[allow(clippy::too_many_arguments)]
    fn tunnel(
        &mut self,
        pk: Pkt,
        kind: TunnelKind,
        transport: TunnelTransport,
        src: End,
        dst: End,
        count: u64,
        bytes: u64,
    ) -> Option<usize> {
        self.tunnel_ported(pk, kind, transport, src, dst, (0, 0), count, bytes)
    }

    /// [`Aggregator::tunnel`] for a packet with UDP or TCP ports (sender's first).
    #[allow(clippy::too_many_arguments)]
    fn tunnel_ported(
        &mut self,
        pk: Pkt,
        kind: TunnelKind,
        transport: TunnelTransport,
        src: End,
        dst: End,
        ports: (u16, u16),
        count: u64,
        bytes: u64,
    ) -> Option<usize> {
        let seen = Seen { at: pk.at, count, bytes, proc: pk.proc, ports };
        self.tunnels.touch(pk.iface, u32::from(pk.tunnel), kind, transport, src, dst, seen)
    }

    /// Decode what a tunnel carried as a packet of its own.
    fn inner(&mut self, pk: Pkt, t: Option<usize>, payload: Payload<'_>) {
        let Some(t) = t else { return };
        if matches!(payload, Payload::None) {
            return;
        }
        if pk.depth >= tunnels::MAX_DEPTH {
            self.tunnels.too_deep += pk.count;
            return;
        }
        let ipk = Pkt { tunnel: (t + 1) as u16, depth: pk.depth + 1, ..pk };
        let outer = std::mem::replace(&mut self.flows.inside, t as u32 + 1);
        self.inner_payload(ipk, payload);
        self.flows.inside = outer;
    }

    fn inner_payload(&mut self, ipk: Pkt, payload: Payload<'_>) {
        match payload {
            Payload::Ip(b) => self.inner_ip(ipk, b),
            Payload::Ppp(b) => match ppp::payload(b) {
                Ok(Payload::Ip(b)) => self.inner_ip(ipk, b),
                Ok(_) => {}
                Err(m) => self.bad(m),
            },
            Payload::Ethernet(b) => match link::decode(link::EN10MB, b) {
                Ok(l) => match l.l3 {
                    link::L3::Ipv4(b) | link::L3::Ipv6(b) => self.inner_ip(ipk, b),
                    link::L3::Pppoe(s) => self.pppoe(ipk, macs(b), s),
                    _ => {}
                },
                Err(m) => self.bad(m),
            },
            Payload::None => {}
        }
    }

    pub(super) fn inner_ip(&mut self, pk: Pkt, b: &[u8]) {
        let parsed = match b.first().map(|v| v >> 4) {
            Some(4) => ip::parse_v4(b),
            Some(6) => ip::parse_v6(b),
            _ => Err(Malformed::new("tunnel payload not ip")),
        };
        // Its bytes are the inner datagram's, as its header announces them.
        let wire_len = match &parsed {
            Ok(p) => u64::from(p.total_len) * pk.count,
            Err(_) => b.len() as u64 * pk.count,
        };
        self.ip(Pkt { wire_len, ..pk }, parsed);
    }

    /// IP in IP (protocols 4 and 41): the kind from the outer and inner families.
    #[inline(never)]
    pub(super) fn ip_in_ip(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8]) {
        let kind = tun::ip_in_ip_kind(src.is_ipv6(), proto);
        self.carrier_flow(pk, proto, src, dst, kind);
        let t = self.tunnel(pk, kind, TunnelTransport::Ip, End::Ip(src, 0), End::Ip(dst, 0), pk.count, pk.wire_len);
        self.inner(pk, t, Payload::Ip(payload));
    }

    /// The flow of a tunnel carried directly in IP (no ports), marked with its kind.
    fn carrier_flow(&mut self, pk: Pkt, proto: u8, src: IpAddr, dst: IpAddr, kind: TunnelKind) {
        let k = super::keyed(pk.iface as usize, proto, &Ends::hosts(src, dst));
        match self.flows.touch(&k.key, k.hash, k.a_src, pk.at, pk.count, pk.wire_len, pk.proc) {
            Some(f) => f.apps |= app::carrying(kind_index(kind)),
            None => self.flow_overflow += 1,
        }
    }

    /// GRE in IP (protocol 47).
    #[inline(never)]
    pub(super) fn gre_ip(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, payload: &[u8]) {
        self.carrier_flow(pk, tun::PROTO_GRE, src, dst, TunnelKind::Gre);
        self.gre(pk, TunnelTransport::Ip, End::Ip(src, 0), End::Ip(dst, 0), (0, 0), payload);
    }

    #[allow(clippy::too_many_arguments)]
    fn gre(&mut self, pk: Pkt, transport: TunnelTransport, src: End, dst: End, ports: (u16, u16), payload: &[u8]) {
        match gre::parse(payload) {
            Ok(g) => {
                let t = self.tunnel_ported(pk, TunnelKind::Gre, transport, src, dst, ports, pk.count, pk.wire_len);
                if let Some(i) = t {
                    let s = &mut self.tunnels.list[i];
                    if let Some(k) = g.key {
                        s.id(Id::Dec(k));
                    }
                    if let Some(c) = g.call_id {
                        s.id(Id::Dec(c.into()));
                    }
                    if g.seq.is_some() || g.ack.is_some() {
                        let key = g.key.or(g.call_id.map(u32::from));
                        s.gre.get_or_insert_with(Default::default).observe(src, key, g.seq, g.ack);
                    }
                    if s.variant.is_none() {
                        s.variant = match (g.version, g.protocol) {
                            (1, _) => Some("pptp"),
                            (_, 0x88be | 0x22eb) => Some("erspan"),
                            _ => None,
                        };
                    }
                }
                self.inner(pk, t, g.payload);
            }
            Err(m) => self.bad(m),
        }
    }

    /// L2TPv3 directly over IP (protocol 115).
    #[inline(never)]
    pub(super) fn l2tp_ip(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, payload: &[u8]) {
        self.carrier_flow(pk, tun::PROTO_L2TP, src, dst, TunnelKind::L2tp);
        match l2tp::parse_ip(payload) {
            Ok(l) => self.l2tp(pk, TunnelTransport::Ip, End::Ip(src, 0), End::Ip(dst, 0), (0, 0), l),
            Err(m) => self.bad(m),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn l2tp(&mut self, pk: Pkt, transport: TunnelTransport, src: End, dst: End, ports: (u16, u16), l: l2tp::L2tp<'_>) {
        let t = self.tunnel_ported(pk, TunnelKind::L2tp, transport, src, dst, ports, pk.count, pk.wire_len);
        if let Some(i) = t {
            let s = &mut self.tunnels.list[i];
            for id in [l.tunnel_id, l.session_id].into_iter().flatten() {
                s.id(Id::Dec(id));
            }
            s.variant.get_or_insert(if l.version == 2 { "l2tpv2" } else { "l2tpv3" });
        }
        self.inner(pk, t, l.payload);
    }

    /// PPPoE's session stage; `macs` are the frame's (destination, source).
    pub(super) fn pppoe(&mut self, pk: Pkt, macs: Option<([u8; 6], [u8; 6])>, b: &[u8]) {
        match ppp::pppoe_session(b) {
            Ok(s) => {
                let (dst, src) = macs.unwrap_or(([0; 6], [0; 6]));
                let t = self.tunnel(
                    pk,
                    TunnelKind::Pppoe,
                    TunnelTransport::Ethernet,
                    End::Mac(src),
                    End::Mac(dst),
                    pk.count,
                    pk.wire_len,
                );
                if let Some(i) = t {
                    self.tunnels.list[i].id(Id::Dec(s.session_id.into()));
                }
                self.inner(pk, t, s.payload);
            }
            Err(m) => self.bad(m),
        }
    }

    /// PPPoE's discovery stage, between a client and an access concentrator: counted on the
    /// session's tunnel (same two MAC addresses) with the session ID it assigns. The client's
    /// broadcast PADI names no concentrator yet and is not counted.
    pub(super) fn pppoe_discovery(&mut self, pk: Pkt, macs: Option<([u8; 6], [u8; 6])>, b: &[u8]) {
        let Some((dst, src)) = macs else { return };
        if dst[0] & 1 != 0 {
            return;
        }
        match ppp::pppoe_discovery(b) {
            Ok((_, session)) => {
                let t = self.tunnel(
                    pk,
                    TunnelKind::Pppoe,
                    TunnelTransport::Ethernet,
                    End::Mac(src),
                    End::Mac(dst),
                    pk.count,
                    pk.wire_len,
                );
                if let Some(i) = t {
                    self.tunnels.list[i].id(Id::Dec(session.into()));
                }
            }
            Err(m) => self.bad(m),
        }
    }

    /// The first datagram of a UDP flow found to carry a tunnel of `kind`: the flow is marked
    /// (its later datagrams go straight to [`Aggregator::udp_tunnel`]) and the datagram decoded.
    /// Out of line: the hot path only pays for the call on the few payloads it sniffs.
    #[inline(never)]
    pub(super) fn start_udp_tunnel(&mut self, pk: Pkt, e: Ends, data: &[u8], kind: TunnelKind) {
        let carrier = kind_index(kind);
        let (key, _) = flows::FlowKey::new(pk.iface, flows::UDP, e.src, e.sport, e.dst, e.dport);
        if let Some(f) = self.flows.map.get_mut(&key) {
            f.apps |= app::carrying(carrier);
        }
        self.udp_tunnel(pk, e, data, carrier);
    }

    /// A datagram on a UDP flow known to carry `carrier` (`TunnelKind::ALL`'s index).
    #[inline(never)]
    pub(super) fn udp_tunnel(&mut self, pk: Pkt, e: Ends, data: &[u8], carrier: u8) {
        let Some(&kind) = TunnelKind::ALL.get(usize::from(carrier)) else { return };
        let (src, dst) = (End::Ip(e.src, e.sport), End::Ip(e.dst, e.dport));
        // Ends without ports where the ports vary per inner flow (entropy source ports) or
        // are the protocol's own on both sides.
        let (hs, hd) = (End::Ip(e.src, 0), End::Ip(e.dst, 0));
        let udp = TunnelTransport::Udp;
        let ports = (e.sport, e.dport);
        match kind {
            TunnelKind::GtpU => match gtp::parse(data) {
                Ok(g) => {
                    let t = self.tunnel_ported(pk, kind, udp, hs, hd, ports, pk.count, pk.wire_len);
                    if let Some(i) = t {
                        self.tunnels.list[i].id(Id::Hex8(g.teid));
                    }
                    self.inner(pk, t, g.payload);
                }
                Err(m) => self.bad(m),
            },
            TunnelKind::Vxlan => match if e.sport == tun::PORT_VXLAN_GPE || e.dport == tun::PORT_VXLAN_GPE {
                vxlan::parse_gpe(data)
            } else {
                vxlan::parse(data)
            } {
                Ok(v) => {
                    let t = self.tunnel_ported(pk, kind, udp, hs, hd, ports, pk.count, pk.wire_len);
                    if let Some(i) = t {
                        self.tunnels.list[i].id(Id::Dec(v.vni));
                    }
                    self.inner(pk, t, v.payload);
                }
                Err(m) => self.bad(m),
            },
            TunnelKind::Geneve => match geneve::parse(data) {
                Ok(g) => {
                    let t = self.tunnel_ported(pk, kind, udp, hs, hd, ports, pk.count, pk.wire_len);
                    if let Some(i) = t {
                        self.tunnels.list[i].id(Id::Dec(g.vni));
                    }
                    self.inner(pk, t, g.payload);
                }
                Err(m) => self.bad(m),
            },
            TunnelKind::L2tp => match l2tp::parse_udp(data) {
                Ok(l) => self.l2tp(pk, udp, src, dst, ports, l),
                Err(m) => self.bad(m),
            },
            TunnelKind::Gre => self.gre(pk, udp, hs, hd, ports, data),
            TunnelKind::Teredo => match teredo::parse(data) {
                Ok(x) => {
                    let t = self.tunnel_ported(pk, kind, udp, src, dst, ports, pk.count, pk.wire_len);
                    self.inner(pk, t, x.payload);
                }
                Err(m) => self.bad(m),
            },
            TunnelKind::Wireguard => match wireguard::parse(data) {
                Ok(m) => {
                    if let Some(i) = self.tunnel_ported(pk, kind, udp, src, dst, ports, pk.count, pk.wire_len) {
                        self.wireguard(i, pk, src, dst, m);
                    }
                }
                Err(m) => self.bad(m),
            },
            TunnelKind::Openvpn => match openvpn::parse(data) {
                Ok(p) => {
                    if let Some(i) = self.tunnel_ported(pk, kind, udp, src, dst, ports, pk.count, pk.wire_len) {
                        self.openvpn(i, pk.count, pk.wire_len, src, p);
                    }
                }
                Err(m) => self.bad(m),
            },
            _ => {}
        }
    }

    /// Messages of a tunnel that a live source counted itself (WireGuard, OpenVPN, GTP-U,
    /// VXLAN, Geneve over UDP; GRE in IP: [`crate::event::TunnelCounters`]; `pk` holds their count and bytes,
    /// from the first one's time, `last` the last one's): counted on the tunnel of their UDP
    /// ends as replay counts each datagram, with their identifier. WireGuard's handshakes and
    /// OpenVPN's control messages, which pair indices and name sessions, come as samples,
    /// decoded without being counted again.
    pub(super) fn counted_tunnel(&mut self, pk: Pkt, e: Ends, kind: CountedTunnel, index: u32, last: Timestamp) {
        let tk = kind.kind();
        // The ends as [`Aggregator::udp_tunnel`] keys them: without ports where those vary per
        // inner flow or are the protocol's own on both sides.
        let (src, dst) = match kind {
            CountedTunnel::Wireguard(_) | CountedTunnel::Openvpn(_) | CountedTunnel::OpenvpnTcp(_) => {
                (End::Ip(e.src, e.sport), End::Ip(e.dst, e.dport))
            }
            _ => (End::Ip(e.src, 0), End::Ip(e.dst, 0)),
        };
        let ports = (e.sport, e.dport);
        let transport = match kind {
            CountedTunnel::Gre(_) | CountedTunnel::IpInIp(_) => TunnelTransport::Ip,
            CountedTunnel::OpenvpnTcp(_) => TunnelTransport::Tcp,
            _ => TunnelTransport::Udp,
        };
        let Some(i) = self.tunnel_ported(pk, tk, transport, src, dst, ports, pk.count, pk.wire_len) else {
            return;
        };
        let t = &mut self.tunnels.list[i];
        t.last = t.last.max(last);
        match kind {
            // A response names two indices and a counter keeps one (the responder's): the
            // sample pairs them.
            CountedTunnel::Wireguard(2) => {
                let w = t.wg.get_or_insert_with(Default::default);
                w.responses += pk.count;
                w.handshakes += pk.count;
                t.id(Id::Hex8(index));
            }
            CountedTunnel::Wireguard(ty) => {
                let m = match ty {
                    1 => wireguard::Message::Initiation { sender: index },
                    3 => wireguard::Message::CookieReply { receiver: index },
                    _ => wireguard::Message::Transport { receiver: index, counter: 0, len: 0 },
                };
                self.wireguard(i, pk, src, dst, m);
            }
            CountedTunnel::Openvpn(b) | CountedTunnel::OpenvpnTcp(b) => {
                let opcode = b >> 3;
                let p = openvpn::Packet {
                    opcode,
                    key_id: b & 7,
                    session_id: None,
                    peer_id: (opcode == openvpn::P_DATA_V2).then_some(index),
                    variant: None,
                };
                self.openvpn(i, pk.count, pk.wire_len, src, p);
            }
            CountedTunnel::GtpU(_) => t.id(Id::Hex8(index)),
            CountedTunnel::Vxlan | CountedTunnel::Geneve => t.id(Id::Dec(index)),
            CountedTunnel::Gre(bits) => {
                if bits & (crate::event::GRE_KEY | crate::event::GRE_PPTP) != 0 {
                    t.id(Id::Dec(index));
                }
                if t.variant.is_none() {
                    t.variant = if bits & crate::event::GRE_PPTP != 0 {
                        Some("pptp")
                    } else if bits & crate::event::GRE_ERSPAN != 0 {
                        Some("erspan")
                    } else {
                        None
                    };
                }
            }
            CountedTunnel::IpInIp(_) => {}
        }
    }

    fn wireguard(&mut self, i: usize, pk: Pkt, src: End, dst: End, m: wireguard::Message) {
        use wireguard::Message::*;
        let s = &mut self.tunnels.list[i];
        let w = s.wg.get_or_insert_with(Default::default);
        let n = pk.count;
        match m {
            Initiation { sender } => {
                w.initiations += n;
                // A retransmitted initiation reuses its index: one session.
                if !w.sessions.iter().rev().take(4).any(|x| x.initiator_index == sender) {
                    new_session(w, sender, None, src, pk.at);
                }
                s.id(Id::Hex8(sender));
            }
            Response { sender, receiver } => {
                w.responses += n;
                w.handshakes += n;
                match w.sessions.iter_mut().rev().find(|x| x.initiator_index == receiver && x.responder_index.is_none())
                {
                    Some(x) => x.responder_index = Some(sender),
                    // The initiation came before the capture: the response names its index,
                    // and its receiver is the initiator.
                    None => new_session(w, receiver, Some(sender), dst, pk.at),
                }
                s.id(Id::Hex8(receiver));
                s.id(Id::Hex8(sender));
            }
            CookieReply { receiver } => {
                w.cookie_replies += n;
                s.id(Id::Hex8(receiver));
            }
            Transport { receiver, .. } => {
                w.transport += n;
                let bytes = pk.wire_len;
                let hit = w.sessions.iter_mut().rev().find_map(|x| {
                    if x.responder_index == Some(receiver) {
                        Some(&mut x.to_responder)
                    } else if x.initiator_index == receiver {
                        Some(&mut x.to_initiator)
                    } else {
                        None
                    }
                });
                match hit {
                    Some(c) => {
                        c.0 += n;
                        c.1 += bytes;
                    }
                    None => {
                        w.unpaired += n;
                        s.id(Id::Hex8(receiver));
                    }
                }
            }
        }
    }

    fn openvpn(&mut self, i: usize, count: u64, bytes: u64, src: End, p: openvpn::Packet) {
        let s = &mut self.tunnels.list[i];
        let first_src = s.src;
        let o = s.ovpn.get_or_insert_with(Default::default);
        if p.is_data() {
            o.data += count;
            o.data_bytes += bytes;
        } else if p.is_ack() {
            o.ack += count;
        } else {
            o.control += count;
        }
        o.key_ids |= 1 << p.key_id;
        if p.is_client_reset() && o.client.is_none() {
            o.client = Some(src);
        }
        if o.variant.is_none() && p.is_control() {
            o.variant = p.variant;
        }
        if let Some(id) = p.peer_id {
            if !o.peer_ids.contains(&id) && o.peer_ids.len() < MAX_OVPN_IDS {
                o.peer_ids.push(id);
            }
        }
        if let Some(sid) = p.session_id {
            let from_client = o.client.map_or(src == first_src, |c| c == src);
            let list = if from_client { &mut o.client_sids } else { &mut o.server_sids };
            if !list.contains(&sid) && list.len() < MAX_OVPN_IDS {
                list.push(sid);
            }
            s.id(Id::Hex16(sid));
        }
    }

    /// A segment of a TCP flow carrying OpenVPN: the stream is framed by its 2-byte lengths
    /// and each packet counted, as the UDP form's datagrams are.
    #[inline(never)]
    pub(super) fn openvpn_tcp(&mut self, pk: Pkt, e: Ends, seg: &ip::TcpSeg<'_>) {
        let key = tcp_stream::StreamKey { src: e.src, sport: e.sport, dst: e.dst, dport: e.dport };
        let mut recs: Vec<Result<(openvpn::Packet, u64), Malformed>> = Vec::new();
        let mut garbage = 0u32;
        if let Some(buf) = self.tcp.push(pk.at, key, seg) {
            buf.drain_frames(
                |b| match openvpn::tcp_record_len(b) {
                    Some(2) => {
                        garbage += 1;
                        tcp_stream::Frame::Garbage
                    }
                    Some(n) if n <= b.len() => tcp_stream::Frame::Complete(n),
                    _ => tcp_stream::Frame::Incomplete,
                },
                |rec| recs.push(openvpn::parse(&rec[2..]).map(|p| (p, rec.len() as u64))),
            );
        }
        // A live source samples only the segments where control records start (the kernel
        // counts every record): its stream has holes by design, and what does not frame
        // there is not damage.
        let sampled = pk.count == 0;
        for _ in 0..garbage {
            if !sampled {
                self.bad(Malformed::new("openvpn stream not framable"));
            }
        }
        let (src, dst) = (End::Ip(e.src, e.sport), End::Ip(e.dst, e.dport));
        for r in recs {
            let (p, len) = match r {
                Ok(x) => x,
                Err(m) => {
                    if !sampled {
                        self.bad(m);
                    }
                    continue;
                }
            };
            let bytes = len * pk.count;
            let ports = (e.sport, e.dport);
            if let Some(i) =
                self.tunnel_ported(pk, TunnelKind::Openvpn, TunnelTransport::Tcp, src, dst, ports, pk.count, bytes)
            {
                self.openvpn(i, pk.count, bytes, src, p);
            }
        }
    }
}

fn new_session(
    w: &mut tunnels::WgState,
    initiator: u32,
    responder: Option<u32>,
    at_end: End,
    at: crate::time::Timestamp,
) {
    if w.sessions.len() >= tunnels::MAX_WG_SESSIONS {
        w.sessions_elided += 1;
        return;
    }
    w.sessions.push(tunnels::WgSession {
        initiator_index: initiator,
        responder_index: responder,
        initiator: at_end,
        started: at,
        to_responder: (0, 0),
        to_initiator: (0, 0),
    });
}

/// An Ethernet frame's destination and source MAC addresses.
pub(super) fn macs(frame: &[u8]) -> Option<([u8; 6], [u8; 6])> {
    let d: [u8; 6] = frame.get(..6)?.try_into().ok()?;
    let s: [u8; 6] = frame.get(6..12)?.try_into().ok()?;
    Some((d, s))
}

#[cfg(test)]
mod tests {
    use crate::aggregate::Aggregator;
    use crate::event::{Direction, Event, InterfaceInfo, PacketEvent};
    use crate::report::TunnelKind;
    use crate::time::Timestamp;

    fn v4(proto: u8, last: u8, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut v = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, proto, 0, 0, 10, 0, 0, last];
        v.extend_from_slice(&[10, 0, 1, last]);
        v.extend_from_slice(payload);
        v
    }

    fn replay(frames: &[Vec<u8>]) -> crate::report::Report {
        let mut agg = Aggregator::default();
        agg.feed(&Event::Interface(Box::new(InterfaceInfo { id: 0, linktype: 101, ..Default::default() })));
        for (i, f) in frames.iter().enumerate() {
            agg.feed(&Event::Packet(PacketEvent {
                ts: Timestamp(i as i64),
                iface: 0,
                direction: Direction::Unknown,
                orig_len: f.len() as u32,
                data: f,
                pid: None,
                effective_pid: None,
                cookie: 0,
                sampled: false,
            }));
        }
        agg.finish()
    }

    /// Tunnels inside tunnels are followed 8 deep; a packet nested deeper is counted in the
    /// limits and its inside left alone.
    #[test]
    fn nesting_stops_at_the_depth_limit() {
        let nest = |depth: u8| {
            let mut p = v4(17, 99, &[0, 1, 0, 2, 0, 8, 0, 0]);
            for d in 0..depth {
                p = v4(4, d, &p);
            }
            p
        };
        let r = replay(&[nest(8)]);
        assert_eq!(r.tunnels.len(), 8);
        assert!(r.tunnels.iter().all(|t| t.kind == TunnelKind::Ipip));
        assert!(r.flows.iter().any(|f| f.dst == "10.0.1.99" && f.tunnel == Some(7)));
        let depth = |r: &crate::report::Report| r.stats.limits.iter().find(|l| l.what == "tunnel_depth").unwrap().count;
        assert_eq!(depth(&r), 0);
        let r = replay(&[nest(9)]);
        assert_eq!(r.tunnels.len(), 9, "the ninth tunnel is counted");
        assert!(!r.flows.iter().any(|f| f.dst == "10.0.1.99"), "what it carries is not decoded");
        assert_eq!(depth(&r), 1);
    }

    /// A tunnel's identifiers are listed up to the cap and counted beyond it.
    #[test]
    fn identifiers_are_capped() {
        let frames: Vec<Vec<u8>> = (0..100u32)
            .map(|teid| {
                let mut g = vec![0x30, 0xff, 0, 0];
                g.extend_from_slice(&teid.to_be_bytes());
                let mut u = vec![0x08, 0x68, 0x08, 0x68, 0, 16, 0, 0];
                u.extend_from_slice(&g);
                v4(17, 1, &u)
            })
            .collect();
        let r = replay(&frames);
        let [t] = r.tunnels.as_slice() else { panic!("{:?}", r.tunnels) };
        assert_eq!((t.kind, t.ids.len(), t.ids_elided, t.packets), (TunnelKind::GtpU, 64, 36, 100));
        assert_eq!((t.sport, t.dport), (Some(2152), Some(2152)));
    }
}

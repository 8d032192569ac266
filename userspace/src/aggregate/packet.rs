//! The general packet path: link, IP (with reassembly) and transport decoded in full, and the
//! payloads handed to the IKE, ESP and SIP decoders. Every frame the fast path leaves comes here.

use std::net::IpAddr;

use super::esp_table::Cipher;
use super::fast::plain_ipv4;
use super::flows::{app, TableKey};
use super::MAX_MEDIA_ENDPOINTS;
use super::{esp_key, esp_table, flows, ike_table, keyed, tunnels, Aggregator, Ends, FlowKey, Keyed, Pkt};
use crate::decode::{esp, hep, ike, ip, link, sctp, tunnel, websocket, Malformed};
use crate::event::PacketEvent;
use crate::reassembly::{self, ip::ReasmResult, tcp};
use crate::sip::{dialog, message as sipmsg};

impl Aggregator {
    /// Any packet: link, IP (with reassembly) and transport decoded in full.
    pub(super) fn packet_general(&mut self, p: &PacketEvent<'_>) {
        self.count_totals(p);
        let Some(mut idx) = self.ifaces.index(p.iface) else {
            self.bad(Malformed::new("packet on an interface never described"));
            return;
        };
        let lt = self.ifaces.list[idx].info.linktype;
        // IPv4 in untagged Ethernet that the fast path left (TCP, options, fragments...):
        // exactly what `link::decode` would conclude, without building its `Link` (which
        // carries the large PKTAP metadata).
        if lt == link::EN10MB {
            if let (Some([0x08, 0x00]), Some(l3)) = (p.data.get(12..14), p.data.get(14..)) {
                let proc = self.owner(p.pid, p.cookie, p.ts);
                self.count_iface(idx, p, proc);
                let pk = Self::pkt(p, idx, proc);
                match plain_ipv4(l3) {
                    Some((src, dst, proto, payload)) => {
                        self.transport(pk, IpAddr::V4(src.into()), IpAddr::V4(dst.into()), proto, payload)
                    }
                    None => self.ip(pk, ip::parse_v4(l3)),
                }
                return;
            }
        }
        let mut pid = p.pid;
        if !decodes_linktype(lt) {
            let proc = self.owner(pid, p.cookie, p.ts);
            self.count_iface(idx, p, proc);
            *self.unknown_link.entry(lt).or_insert(0) += 1;
            return;
        }
        let l = match link::decode(lt, p.data) {
            Ok(l) => l,
            Err(m) => {
                let proc = self.owner(pid, p.cookie, p.ts);
                self.count_iface(idx, p, proc);
                self.bad(m);
                return;
            }
        };
        if let Some(meta) = &l.pktap {
            // PKTAP names the real interface and the process of every frame.
            if !meta.ifname.is_empty() {
                // Past the cap of interfaces, the frame stays on the capture's own.
                idx = self.ifaces.named(meta.ifname, meta.inner_dlt).unwrap_or(idx);
            }
            if let Some(ppid) = meta.pid {
                if pid.is_none() {
                    pid = Some(ppid);
                }
                if let Some(c) = meta.comm.filter(|c| !c.is_empty()) {
                    if self.procs.comm_of_pid(ppid).is_none() {
                        let info =
                            crate::event::ProcessInfo { pid: ppid, comm: Some(c.to_string()), ..Default::default() };
                        self.procs.learn(&info, p.ts);
                    }
                }
            }
        }
        let proc = self.owner(pid, p.cookie, p.ts);
        self.count_iface(idx, p, proc);
        let pk = Self::pkt(p, idx, proc);
        let parsed = match l.l3 {
            link::L3::Ipv4(b) => ip::parse_v4(b),
            link::L3::Ipv6(b) => ip::parse_v6(b),
            link::L3::Pppoe(b) => {
                let macs = if lt == link::EN10MB { super::decap::macs(p.data) } else { None };
                self.pppoe(pk, macs, b);
                return;
            }
            link::L3::PppoeDiscovery(b) => {
                let macs = if lt == link::EN10MB { super::decap::macs(p.data) } else { None };
                self.pppoe_discovery(pk, macs, b);
                return;
            }
            _ => return,
        };
        self.ip(pk, parsed);
    }

    /// An IP packet: reassembled when it is a fragment, then handed to its transport.
    #[inline]
    pub(super) fn ip(&mut self, pk: Pkt, parsed: Result<ip::IpPacket<'_>, Malformed>) {
        match parsed {
            Ok(pkt) if pkt.frag.is_some() => match self.reasm.push(pk.at, &pkt) {
                ReasmResult::Complete(d) => {
                    self.transport(pk, pkt.src, pkt.dst, d.proto, &d.payload);
                }
                ReasmResult::Dropped(reason) => self.bad(Malformed::new(reason)),
                _ => {}
            },
            Ok(pkt) => self.transport(pk, pkt.src, pkt.dst, pkt.proto, pkt.payload),
            Err(m) => self.bad(m),
        }
    }

    fn transport(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8]) {
        match proto {
            flows::UDP => match ip::udp(payload) {
                Ok((sport, dport, data)) => {
                    let k = keyed(pk.iface as usize, flows::UDP, &Ends { src, sport, dst, dport });
                    let ulen = usize::from(u16::from_be_bytes([payload[4], payload[5]]));
                    self.udp_cut = ulen > data.len() + 8;
                    self.udp(pk, src, sport, dst, dport, data, &k, None);
                }
                Err(m) => self.cut_transport(pk, proto, src, dst, payload, m),
            },
            flows::TCP => match ip::tcp(payload) {
                Ok(seg) => self.tcp(pk, src, dst, &seg),
                Err(m) => self.cut_transport(pk, proto, src, dst, payload, m),
            },
            flows::ESP => {
                self.esp_raw(pk, src, dst, payload, &keyed(pk.iface as usize, proto, &Ends::hosts(src, dst)), None)
            }
            flows::AH => match esp::parse_ah(payload) {
                Ok((next, _, _, rest)) if next == flows::ESP => {
                    self.flow(pk, flows::ESP, Ends::hosts(src, dst), app::ESP);
                    match esp::parse(rest) {
                        Ok(h) => self.esp_packet(pk, src, dst, h.spi, h.seq, rest),
                        Err(m) => self.bad(m),
                    }
                }
                // AH authenticates, it does not encrypt: a transport-mode segment is the
                // hosts' own (counted once, on its flow), a tunnel-mode packet a packet inside.
                Ok((next @ (flows::UDP | flows::TCP), _, _, rest)) if pk.depth < tunnels::MAX_DEPTH => {
                    self.transport(Pkt { depth: pk.depth + 1, ..pk }, src, dst, next, rest);
                }
                Ok((next @ (tunnel::PROTO_IPIP | tunnel::PROTO_IPV6), _, _, rest)) => {
                    self.flow(pk, proto, Ends::hosts(src, dst), 0);
                    self.ipsec_inner(pk, src, dst, next, rest);
                }
                Ok((next, _, _, _)) => {
                    self.flow(pk, next, Ends::hosts(src, dst), 0);
                }
                Err(m) => self.bad(m),
            },
            tunnel::PROTO_IPIP | tunnel::PROTO_IPV6 => self.ip_in_ip(pk, src, dst, proto, payload),
            tunnel::PROTO_GRE => self.gre_ip(pk, src, dst, payload),
            flows::SCTP => self.sctp(pk, src, dst, payload),
            tunnel::PROTO_L2TP => self.l2tp_ip(pk, src, dst, payload),
            _ => {
                self.flow(pk, proto, Ends::hosts(src, dst), 0);
            }
        }
    }

    /// A UDP or TCP header that is damage (usually cut by snaplen or a damaged file): counted
    /// as such, and still on its flow when its ports are there.
    fn cut_transport(&mut self, pk: Pkt, proto: u8, src: IpAddr, dst: IpAddr, payload: &[u8], m: Malformed) {
        self.bad(m);
        if let Some(&[a, b, c, d]) = payload.first_chunk::<4>() {
            let (sport, dport) = (u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d]));
            self.flow(pk, proto, Ends { src, sport, dst, dport }, 0);
        }
    }

    /// Raw ESP (IP protocol 50): its flow, then its SA.
    #[inline]
    pub(super) fn esp_raw(
        &mut self,
        pk: Pkt,
        src: IpAddr,
        dst: IpAddr,
        payload: &[u8],
        k: &Keyed,
        esp_hint: Option<(u32, u64)>,
    ) {
        match self.flows.touch(&k.key, k.hash, k.a_src, pk.at, pk.count, pk.wire_len, pk.proc) {
            Some(f) => f.apps |= app::ESP,
            None => self.flow_overflow += 1,
        }
        match esp::parse(payload) {
            // A sample's sequence number would make false gaps: the source counts ESP itself.
            Ok(_) if pk.count == 0 => {}
            Ok(h) => {
                let (key, hash) = esp_key(esp_hint, h.spi, src, dst, false);
                self.esp_seen(pk, src, dst, key, hash, h.seq, payload);
            }
            Err(m) => {
                self.bad(m);
                self.esp_cut(pk, src, dst, payload, false);
            }
        }
    }

    /// ESP cut before its sequence number (snaplen, a damaged file): still its SA's packet
    /// when the SPI is there.
    fn esp_cut(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, payload: &[u8], udp: bool) {
        if let (Some(spi), true) = (esp::truncated_spi(payload), pk.count != 0) {
            let key = esp_table::EspKey::new(spi, src, dst, udp);
            self.esp.observe_without_seq(key, pk.wire_len, pk.at, Some(pk.iface), pk.proc);
        }
    }

    /// Count a packet on its flow, marking `apps`; returns the flow's state.
    #[inline]
    fn flow(&mut self, pk: Pkt, proto: u8, e: Ends, apps: u16) -> Option<&mut flows::FlowState> {
        let k = keyed(pk.iface as usize, proto, &e);
        match self.flows.touch(&k.key, k.hash, k.a_src, pk.at, pk.count, pk.wire_len, pk.proc) {
            Some(f) => {
                f.apps |= apps;
                Some(f)
            }
            None => {
                self.flow_overflow += 1;
                None
            }
        }
    }

    /// ESP behind AH (raw, in IP).
    fn esp_packet(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, spi: u32, seq: u32, esp: &[u8]) {
        if pk.count == 0 {
            return;
        }
        let key = esp_table::EspKey::new(spi, src, dst, false);
        self.esp_seen(pk, src, dst, key, key.table_hash(), seq, esp);
    }

    /// Count an ESP packet (from its SPI) for SA `key` (`hash` its table hash) and, unless the
    /// SA is known to be encrypted, read it as NULL-encrypted ([`Aggregator::esp_clear`]).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn esp_seen(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, key: esp_table::EspKey, hash: u64, seq: u32, esp: &[u8]) {
        let cipher = self.esp.observe_hashed(key, hash, seq, pk.wire_len, pk.at, Some(pk.iface), pk.proc);
        if cipher != Cipher::Encrypted {
            self.esp_clear(pk, src, dst, &key, cipher, esp);
        }
    }

    /// An ESP packet (from its SPI) of an SA not known to be encrypted: read as NULL-encrypted
    /// (`esp::null_payload`), and what it carries decoded when it reads. While the SA is being
    /// probed, the table learns the outcome.
    #[inline(never)]
    fn esp_clear(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, key: &esp_table::EspKey, cipher: Cipher, esp: &[u8]) {
        let icv_len = match cipher {
            Cipher::Null { icv_len } => Some(icv_len),
            _ => None,
        };
        let read = esp::null_payload(esp, icv_len);
        if icv_len.is_none() {
            self.esp.settle(key, read.map(|n| n.icv_len));
        }
        if let Some(n) = read {
            self.ipsec_inner(pk, src, dst, n.next_header, n.payload);
        }
    }

    /// What IPsec carried in the clear (NULL-encrypted ESP, AH in tunnel mode), decoded as a
    /// packet of its own, one level deeper: an IP packet (tunnel mode), or a TCP segment or UDP
    /// datagram between the SA's hosts (transport mode).
    fn ipsec_inner(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, next: u8, inner: &[u8]) {
        if pk.depth >= tunnels::MAX_DEPTH {
            self.tunnels.too_deep += pk.count;
            return;
        }
        let ipk = Pkt { depth: pk.depth + 1, ..pk };
        match next {
            tunnel::PROTO_IPIP | tunnel::PROTO_IPV6 => self.inner_ip(ipk, inner),
            _ => {
                let header = if src.is_ipv6() { 40 } else { 20 };
                let wire_len = (inner.len() as u64 + header) * pk.count;
                self.transport(Pkt { wire_len, ..ipk }, src, dst, next, inner);
            }
        }
    }

    /// A UDP datagram. The ends come as separate values, not as [`Ends`]: this is the hot
    /// path, and the struct was built in memory and read back for every packet.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn udp(
        &mut self,
        pk: Pkt,
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        data: &[u8],
        k: &Keyed,
        esp_hint: Option<(u32, u64)>,
    ) {
        let e = || Ends { src, sport, dst, dport };
        let gen = self.rtp_generation;
        let Some(f) = self.flows.touch(&k.key, k.hash, k.a_src, pk.at, pk.count, pk.wire_len, pk.proc) else {
            self.flow_overflow += 1;
            return;
        };
        // Bulk flows first, with no second lookup: they are most of the packets.
        if f.apps == app::RTP {
            return;
        }
        let nat_t = sport == 4500 || dport == 4500;
        if nat_t || f.apps & (app::ESP_IN_UDP | app::NAT_KEEPALIVE) != 0 {
            match esp::classify_udp_encap(data) {
                esp::UdpEncap::Keepalive => f.apps |= app::NAT_KEEPALIVE,
                esp::UdpEncap::Esp { .. } if pk.count == 0 => f.apps |= app::ESP_IN_UDP,
                esp::UdpEncap::Esp { spi, seq } => {
                    f.apps |= app::ESP_IN_UDP;
                    let (k, hash) = esp_key(esp_hint, spi, src, dst, true);
                    self.esp_seen(pk, src, dst, k, hash, seq, data);
                }
                esp::UdpEncap::Ike(msg) => self.ike_msg(pk, e(), msg, true),
                esp::UdpEncap::Malformed(m) => {
                    let cut = esp::truncated_spi(data).is_some();
                    if cut {
                        f.apps |= app::ESP_IN_UDP;
                    }
                    self.bad(m);
                    if cut {
                        self.esp_cut(pk, src, dst, data, true);
                    }
                }
            }
            return;
        }
        let apps = f.apps;
        if sport == 500 || dport == 500 || apps & app::IKE != 0 {
            self.ike_msg(pk, e(), data, false);
            return;
        }
        if matches!(sport, 5060 | 5061) || matches!(dport, 5060 | 5061) || apps & app::SIP != 0 {
            self.sip_datagram(pk, e(), data);
            return;
        }
        if let Some(carrier) = app::carrier(apps) {
            self.udp_tunnel(pk, e(), data, carrier);
            return;
        }
        if apps & app::HEP != 0 {
            self.hep(pk, data);
            return;
        }
        if apps != 0 {
            return;
        }
        // A flow on ports that say nothing: is it media announced in SDP?
        if f.rtp_checked != gen {
            f.rtp_checked = gen;
            if self.rtp.contains(&(dst, dport)) || self.rtp.contains(&(src, sport)) {
                f.apps |= app::RTP;
                return;
            }
        }
        // Or IKE/SIP on an unusual port? Sniff the first few payloads only.
        if f.probes_left == 0 {
            return;
        }
        f.probes_left -= 1;
        if hep::is_hep3(data) || hep::parse_v12(data).is_ok_and(|h| sipmsg::looks_like_sip(h.payload)) {
            f.apps |= app::HEP;
            self.hep(pk, data);
            return;
        }
        self.sniff_udp(pk, e(), data);
    }

    /// A HEP message of any version (Homer's encapsulation: a capture agent's copy of a SIP
    /// message seen elsewhere, with its original addresses and ports). The SIP goes to the
    /// tracker under those; no flow is counted for them (the packet did not cross this
    /// interface), and the message takes the time the collector received it.
    #[inline(never)]
    fn hep(&mut self, pk: Pkt, data: &[u8]) {
        let h = match hep::parse_any(data) {
            Ok(h) => h,
            Err(m) => return self.bad(m),
        };
        if h.proto_type != hep::PROTO_TYPE_SIP || h.compressed {
            return;
        }
        let transport = match h.ip_proto {
            flows::TCP => dialog::Transport::Tcp,
            flows::SCTP => dialog::Transport::Sctp,
            _ => dialog::Transport::Udp,
        };
        let e = Ends { src: h.src, sport: h.sport, dst: h.dst, dport: h.dport };
        self.sip_from_stream(pk, e, transport, h.payload);
    }

    /// One of a new flow's first payloads on ports that say nothing: a tunnel on its port, IKE
    /// (plain or behind the non-ESP marker), SIP, or a tunnel recognised on any port. Out of
    /// line: a flow asks at most four times, its other packets never.
    #[inline(never)]
    fn sniff_udp(&mut self, pk: Pkt, e: Ends, data: &[u8]) {
        if let Some(kind) = super::decap::classify_udp(e.sport, e.dport, data) {
            self.start_udp_tunnel(pk, e, data, kind);
        } else if ike::looks_like_ike(data) {
            self.ike_msg(pk, e, data, false);
        } else if data.len() > 4 && data[..4] == [0, 0, 0, 0] && ike::looks_like_ike(&data[4..]) {
            self.ike_msg(pk, e, &data[4..], true);
        } else if sipmsg::looks_like_sip(data) {
            self.sip_datagram(pk, e, data);
        } else if let Some(kind) = super::decap::classify_udp_any_port(e.sport, e.dport, data) {
            self.start_udp_tunnel(pk, e, data, kind);
        }
    }

    fn flow_state(&mut self, pk: Pkt, e: Ends, proto: u8) -> Option<&mut flows::FlowState> {
        let (key, _) = FlowKey::new(pk.iface, proto, e.src, e.sport, e.dst, e.dport);
        self.flows.map.get_mut(&key)
    }

    fn mark(&mut self, pk: Pkt, e: Ends, bits: u16) {
        if let Some(f) = self.flow_state(pk, e, flows::UDP) {
            f.apps |= bits;
        }
    }

    fn ike_msg(&mut self, pk: Pkt, e: Ends, msg: &[u8], encapsulated: bool) {
        // `scan`, not `parse`: the table renders only the parts of a message it keeps.
        match ike::scan(msg) {
            Ok(m) => {
                self.mark(pk, e, app::IKE);
                let ctx = ike_table::Ctx {
                    at: pk.at,
                    src: e.src,
                    sport: e.sport,
                    dst: e.dst,
                    dport: e.dport,
                    proc: pk.proc,
                    iface: Some(pk.iface),
                    encapsulated,
                    tunnel: u32::from(pk.tunnel),
                };
                if let Some(reason) = m.malformed {
                    self.bad(Malformed::new(reason));
                }
                self.ike.observe(ike_view(m), ctx);
            }
            Err(e) => self.bad(e),
        }
    }

    fn sip_datagram(&mut self, pk: Pkt, e: Ends, data: &[u8]) {
        // Keepalives are SIP traffic, not damage: RFC 5626 CRLFs, and the runs of spaces or
        // NULs that many phones send to hold their NAT binding open.
        if data.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0)) {
            self.mark(pk, e, app::SIP);
            return;
        }
        let cut = std::mem::take(&mut self.udp_cut);
        // A datagram cut by the capture (snaplen, a live sample's head) is read up to its last
        // whole line; what the cut took is not the sender's damage (tshark: "packet size
        // limited during capture", not malformed).
        let data = match (cut, memchr::memrchr(b'\n', data)) {
            (true, Some(end)) => &data[..=end],
            _ => data,
        };
        match sipmsg::parse(data) {
            Ok(m) => {
                self.mark(pk, e, app::SIP);
                // Counted as damage, yet the message stands: the datagram bounded it.
                if !cut {
                    for reason in [m.content_length_damage, m.header_damage].into_iter().flatten() {
                        self.bad(Malformed::new(reason));
                    }
                }
                self.sip_message(pk, e, dialog::Transport::Udp, &m);
            }
            Err(_) if cut => {}
            Err(e) => self.bad(e),
        }
    }

    fn sip_message(&mut self, pk: Pkt, e: Ends, transport: dialog::Transport, m: &sipmsg::SipMessage<'_>) {
        let Ends { src, sport, dst, dport } = e;
        let ctx = dialog::MsgCtx {
            at: pk.at,
            src,
            sport,
            dst,
            dport,
            transport,
            pid: pk.proc,
            iface: Some(pk.iface),
            tunnel: u32::from(pk.tunnel),
        };
        self.sip.observe(m, ctx);
        // Media announced in this message's SDP labels the RTP flows to come.
        if m.body.is_empty() {
            return;
        }
        // The tracker has just read it (once per distinct body).
        if let Some(sdp) = self.sip.last_sdp(m) {
            let before = self.rtp.len();
            for (_, addr, port) in sdp.endpoints() {
                if self.rtp.len() < MAX_MEDIA_ENDPOINTS && !self.budget.full {
                    self.rtp.insert((addr, port));
                } else if !self.rtp.contains(&(addr, port)) {
                    self.rtp_overflow += 1;
                }
            }
            if self.rtp.len() != before {
                self.rtp_generation = self.rtp_generation.wrapping_add(1);
            }
        }
    }

    fn tcp(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, seg: &ip::TcpSeg<'_>) {
        let (sport, dport) = (seg.sport, seg.dport);
        let e = Ends { src, sport, dst, dport };
        let tls_port = sport == 5061 || dport == 5061;
        let sip_port = sport == 5060 || dport == 5060;
        let Some(f) = self.flow(pk, flows::TCP, e, 0) else { return };
        // IKE and ESP in TCP (RFC 8229): TCP 4500 (the flow is labelled once a record reads),
        // or any port whose stream starts with the initiator's "IKETCP" prefix.
        let prefix = f.apps == 0 && f.probes_left > 0 && seg.payload.starts_with(ike::TCP_PREFIX);
        if prefix {
            f.apps |= app::IKE;
        }
        if f.apps & app::IKE != 0 || sport == 4500 || dport == 4500 {
            self.ike_tcp(pk, e, seg);
            return;
        }
        let mut apps = f.apps;
        if apps & app::WEBSOCKET != 0 {
            self.sip_websocket(pk, e, seg);
            return;
        }
        let mut is_sip = apps & app::SIP != 0 || sip_port;
        if !is_sip && apps == 0 && !seg.payload.is_empty() && f.probes_left > 0 {
            f.probes_left -= 1;
            if sipmsg::looks_like_sip(seg.payload) {
                is_sip = true;
            } else if websocket::is_sip_upgrade(seg.payload) || ws_sip_frame(seg.payload) {
                // The handshake, or (a stream picked up after it) a frame holding SIP.
                f.apps |= app::SIP | app::WEBSOCKET;
                self.sip_websocket(pk, e, seg);
                return;
            } else if seg.payload.len() >= 8
                && (hep::tcp_frame(seg.payload) != hep::TcpFrame::NotHep
                    || hep::tcp_resync(seg.payload).is_some_and(|at| at + 8 <= seg.payload.len()))
            {
                // HEP3 over TCP (heplify, Kamailio and OpenSIPS can send so): messages with
                // their own lengths; a stream picked up mid-way by the next one that starts.
                f.apps |= app::HEP;
                apps = f.apps;
            } else if super::decap::openvpn_tcp_start(sport, dport, seg.payload) {
                f.apps |= app::carrying(super::decap::kind_index(crate::report::TunnelKind::Openvpn));
                apps = f.apps;
            } else if tls_port && seg.payload.first() == Some(&0x16) {
                f.apps |= app::SIP_TLS;
            }
        }
        if apps & app::TUNNEL != 0 {
            self.openvpn_tcp(pk, e, seg);
            return;
        }
        if apps & app::HEP != 0 {
            self.hep_tcp(pk, e, seg);
            return;
        }
        if !is_sip {
            if tls_port && apps == 0 {
                self.mark_tcp(pk, e, app::SIP_TLS);
            }
            return;
        }
        self.mark_tcp(pk, e, app::SIP);
        let key = tcp::StreamKey { src, sport, dst, dport };
        let mut garbage = 0u32;
        let (joined, ends) = self.framed(pk, key, seg, |b| match sipmsg::frame_len(b) {
            sipmsg::FrameResult::Complete(n) => tcp::Frame::Complete(n),
            sipmsg::FrameResult::Keepalive(k) => tcp::Frame::Skip(if k == sipmsg::Keepalive::Ping { 4 } else { 2 }),
            sipmsg::FrameResult::Incomplete => tcp::Frame::Incomplete,
            sipmsg::FrameResult::Awaiting(n) => tcp::Frame::Awaiting(n),
            // Counted once, then framing starts again at the next start line (a gap, a
            // mid-stream pickup or one refused message does not lose the stream).
            sipmsg::FrameResult::NotSip | sipmsg::FrameResult::Malformed(_) => {
                garbage += 1;
                match sipmsg::resync_at(b) {
                    k if k < b.len() => tcp::Frame::Skip(k),
                    _ => tcp::Frame::Garbage,
                }
            }
        });
        for _ in 0..garbage {
            self.bad(Malformed::new("sip stream not framable"));
        }
        let mut at = 0;
        for end in ends {
            self.sip_from_stream(pk, e, dialog::Transport::Tcp, &joined[at..end]);
            at = end;
        }
        self.done_with(joined);
    }

    /// Push a segment into its stream and take out the messages `framer` finds: one after
    /// another in a buffer kept for the purpose (the stream is borrowed from `self` while
    /// framing, and a copy each cost an allocation a message), with where each ends. Give the
    /// buffer back with [`Aggregator::done_with`].
    fn framed(
        &mut self,
        pk: Pkt,
        key: tcp::StreamKey,
        seg: &ip::TcpSeg<'_>,
        framer: impl FnMut(&[u8]) -> tcp::Frame,
    ) -> (Vec<u8>, Vec<usize>) {
        let mut joined = std::mem::take(&mut self.stream_msgs);
        joined.clear();
        let mut ends: Vec<usize> = Vec::new();
        if let Some(buf) = self.tcp.push(pk.at, key, seg) {
            buf.drain_frames(framer, |msg| {
                joined.extend_from_slice(msg);
                ends.push(joined.len());
            });
        }
        (joined, ends)
    }

    /// [`Aggregator::framed`]'s buffer, kept for the next segment unless a burst made it large.
    fn done_with(&mut self, joined: Vec<u8>) {
        if joined.capacity() <= 64 << 10 {
            self.stream_msgs = joined;
        }
    }

    /// SCTP (IP protocol 132): a flow with ports; the user messages of its DATA chunks (pieces
    /// joined) read as SIP on port 5060 or when the first one parses as SIP (RFC 4168: one SIP
    /// message per SCTP user message).
    #[inline(never)]
    fn sctp(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, payload: &[u8]) {
        let s = match sctp::parse(payload) {
            Ok(s) => s,
            Err(m) => {
                self.bad(m);
                self.flow(pk, flows::SCTP, Ends::hosts(src, dst), 0);
                return;
            }
        };
        let e = Ends { src, sport: s.sport, dst, dport: s.dport };
        let mut chunks = Vec::new();
        if let Err(m) = s.user_data(|d| chunks.push(d)) {
            self.bad(m);
        }
        let port = s.sport == 5060 || s.dport == 5060;
        let looks = chunks.iter().find(|d| d.begin).is_some_and(|d| sipmsg::looks_like_sip(d.data));
        let Some(f) = self.flow(pk, flows::SCTP, e, 0) else { return };
        if f.apps & app::SIP == 0 && !(port || looks) {
            return;
        }
        f.apps |= app::SIP;
        for d in chunks {
            if d.whole() {
                self.sip_from_stream(pk, e, dialog::Transport::Sctp, d.data);
                continue;
            }
            if pk.count == 0 || d.idata {
                // Samples may skip pieces; I-DATA pieces follow message ids (not joined).
                self.sctp.dropped += 1;
                continue;
            }
            let key = reassembly::sctp::Key { src, sport: s.sport, dst, dport: s.dport, stream: d.stream };
            if let Some(msg) = self.sctp.push(key, d.tsn, d.begin, d.end, d.data) {
                self.sip_from_stream(pk, e, dialog::Transport::Sctp, &msg);
            }
        }
    }

    /// One message a stream's framer cut (SIP over TCP, over WebSocket): blank keep-alive
    /// lines skipped, damage counted, the rest to the tracker.
    fn sip_from_stream(&mut self, pk: Pkt, e: Ends, transport: dialog::Transport, raw: &[u8]) {
        if raw.iter().all(|b| matches!(b, b'\r' | b'\n')) {
            return;
        }
        match sipmsg::parse(raw) {
            Ok(m) => {
                if let Some(reason) = m.header_damage {
                    self.bad(Malformed::new(reason));
                }
                self.sip_message(pk, e, transport, &m);
            }
            Err(m) => self.bad(m),
        }
    }

    /// A segment of a TCP stream carrying IKE and ESP (RFC 8229): framed by 2-byte lengths
    /// (the length counted in), an IKE message behind four zero bytes, an ESP packet without;
    /// the initiator's "IKETCP" prefix is skipped. Each counted as in UDP 4500, ESP under its
    /// own encapsulation (`tcp`).
    #[inline(never)]
    fn ike_tcp(&mut self, pk: Pkt, e: Ends, seg: &ip::TcpSeg<'_>) {
        let key = tcp::StreamKey { src: e.src, sport: e.sport, dst: e.dst, dport: e.dport };
        let mut recs: Vec<Vec<u8>> = Vec::new();
        let mut garbage = 0u32;
        if let Some(buf) = self.tcp.push(pk.at, key, seg) {
            buf.drain_frames(
                |b| match ike::tcp_frame(b) {
                    ike::TcpFrame::Prefix => tcp::Frame::Skip(ike::TCP_PREFIX.len()),
                    ike::TcpFrame::Record(n) => tcp::Frame::Complete(n),
                    ike::TcpFrame::Incomplete => tcp::Frame::Incomplete,
                    ike::TcpFrame::Garbage => {
                        garbage += 1;
                        tcp::Frame::Garbage
                    }
                },
                |rec| recs.push(rec[2..].to_vec()),
            );
        }
        for _ in 0..garbage {
            self.bad(Malformed::new("ike tcp stream not framable"));
        }
        if !recs.is_empty() {
            self.mark_tcp(pk, e, app::IKE);
        }
        for rec in recs {
            let pk = Pkt { wire_len: (rec.len() as u64 + 2) * pk.count, ..pk };
            match rec.strip_prefix(&[0, 0, 0, 0]) {
                Some(msg) => self.ike_msg(pk, e, msg, false),
                None => match esp::parse(&rec) {
                    Ok(h) if pk.count != 0 => {
                        let key = esp_table::EspKey::in_tcp(h.spi, e.src, e.dst);
                        self.esp_seen(pk, e.src, e.dst, key, key.table_hash(), h.seq, &rec);
                    }
                    Ok(_) => {}
                    Err(m) => self.bad(m),
                },
            }
        }
    }

    /// SIP over WebSocket (RFC 7118): a stream whose first payload asked to upgrade to the
    /// `sip` subprotocol. The handshake's HTTP heads are skipped; each whole WebSocket message
    /// (text or binary, client frames unmasked, fragments joined) is one SIP message.
    #[inline(never)]
    fn sip_websocket(&mut self, pk: Pkt, e: Ends, seg: &ip::TcpSeg<'_>) {
        let key = tcp::StreamKey { src: e.src, sport: e.sport, dst: e.dst, dport: e.dport };
        let mut frames: Vec<Vec<u8>> = Vec::new();
        let mut damage: Vec<Malformed> = Vec::new();
        if let Some(buf) = self.tcp.push(pk.at, key, seg) {
            buf.drain_frames(
                |b| match websocket::frame_len(b) {
                    websocket::Framed::Http(n) => tcp::Frame::Skip(n),
                    websocket::Framed::Message(n) => tcp::Frame::Complete(n),
                    websocket::Framed::Incomplete => tcp::Frame::Incomplete,
                    websocket::Framed::Malformed(m) => {
                        damage.push(m);
                        tcp::Frame::Garbage
                    }
                },
                |frame| frames.push(frame.to_vec()),
            );
        }
        for m in damage {
            self.bad(m);
        }
        let mut text = Vec::new();
        for frame in frames {
            // Control frames (close, ping, pong) carry no SIP.
            if !matches!(websocket::payload(&frame, &mut text), Some(websocket::OP_TEXT | websocket::OP_BINARY)) {
                continue;
            }
            self.sip_from_stream(pk, e, dialog::Transport::Ws, &text);
        }
    }

    /// HEP3 over TCP: each message framed by its length and read as a datagram would be.
    fn hep_tcp(&mut self, pk: Pkt, e: Ends, seg: &ip::TcpSeg<'_>) {
        let key = tcp::StreamKey { src: e.src, sport: e.sport, dst: e.dst, dport: e.dport };
        let first = self.tcp.get_mut(&key).is_none_or(|s| s.messages == 0 && s.mid_message());
        let mut garbage = false;
        let (joined, ends) = self.framed(pk, key, seg, |b| match hep::tcp_frame(b) {
            hep::TcpFrame::Message(n) => tcp::Frame::Complete(n),
            hep::TcpFrame::Awaiting(0) => tcp::Frame::Incomplete,
            hep::TcpFrame::Awaiting(n) => tcp::Frame::Awaiting(n),
            // A stream picked up mid-way, or a gap: on to the next message that starts (not
            // damage on a stream's first bytes, which the capture may have begun inside).
            hep::TcpFrame::NotHep => {
                garbage |= !first;
                match hep::tcp_resync(b) {
                    Some(at) => tcp::Frame::Skip(at),
                    None => tcp::Frame::Garbage,
                }
            }
        });
        if garbage {
            self.bad(Malformed::new("hep stream not framable"));
        }
        let mut at = 0;
        for end in ends {
            self.hep(pk, &joined[at..end]);
            at = end;
        }
        self.done_with(joined);
    }

    fn mark_tcp(&mut self, pk: Pkt, e: Ends, bits: u16) {
        if let Some(f) = self.flow_state(pk, e, flows::TCP) {
            f.apps |= bits;
        }
    }
}

/// Link types whose frames the link decoder understands (others are counted by type only).
/// Does a TCP payload start with a WebSocket frame whose message begins like SIP (a stream of
/// SIP over WebSocket picked up after its handshake, as long-lived softphone sessions are)?
fn ws_sip_frame(payload: &[u8]) -> bool {
    let mut head = Vec::new();
    websocket::first_message_head(payload, 512, &mut head).is_some() && sipmsg::looks_like_sip(&head)
}

pub(super) fn decodes_linktype(lt: u32) -> bool {
    use link::*;
    matches!(
        lt,
        NULL | EN10MB
            | RAW
            | DLT_RAW_12
            | DLT_RAW_14
            | LOOP
            | LINUX_SLL
            | USER2
            | IPV4
            | IPV6
            | PKTAP
            | LINUX_SLL2
            | NFLOG
            | ENC
            | PPP
            | PPP_HDLC
            | PPP_WITH_DIR
            | C_HDLC
            | IEEE802_11
            | IEEE802_11_RADIOTAP
            | IEEE802_11_PRISM
            | IEEE802_11_AVS
            | PPI
            | ERF
    )
}

/// Adapt the IKE decoder's scan to the table's view.
fn ike_view(m: ike::Scan<'_>) -> ike_table::IkeView<'_> {
    ike_table::IkeView::from(m)
}

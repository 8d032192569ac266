//! The aggregator: a pure fold of the event stream into a [`Report`].
//!
//! Per packet it decodes link, IP (with reassembly) and transport, counts the flow, and hands
//! IKE, ESP and SIP payloads to their decoders. Hot-path traffic (ESP, RTP, bulk UDP/TCP) costs
//! a flow-table lookup and a few counters; only rare control messages allocate.

mod esp_table;
mod flows;
mod iface;
mod ike_table;
mod prefetch;
mod verdict;

use std::collections::BTreeMap;
use std::net::IpAddr;

use rustc_hash::FxHashSet;

use crate::capture::{linktype, Damage, Sink};
use crate::decode::{esp, ike, ip, link, reasm, tcp_stream, Malformed};
use crate::event::{Event, PacketEvent};
use crate::report::{self, Report};
use crate::sip::{dialog, message as sipmsg};
use crate::time::Timestamp;

pub use flows::FlowKey;
use flows::{app, Flows, TableKey};
use iface::{Ifaces, Processes};

/// Media endpoints remembered for RTP labelling; memory stays bounded on hostile input.
const MAX_MEDIA_ENDPOINTS: usize = 200_000;

/// Everything needed to place one decoded packet.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    at: Timestamp,
    iface: usize,
    pid: Option<u32>,
    wire_len: u64,
}

/// A frame of the kind nearly every capture is made of, parsed once by the first stage of a
/// batch ([`Aggregator::packets`]): IPv4 without options and not a fragment, in untagged
/// Ethernet, carrying UDP with a sound header or ESP with a non-zero SPI. It holds what
/// counting needs (the flow key and the table hashes its lookups use), so the frame is not
/// parsed a second time. Any other frame is `Fast::NONE` and takes the general path, which
/// also names what is wrong with a damaged one.
#[derive(Debug, Clone, Copy)]
struct Fast {
    /// [`flows::UDP`] or [`flows::ESP`]; 0 for a frame the general path counts.
    proto: u8,
    sport: u16,
    dport: u16,
    /// Interface index.
    iface: u32,
    src: u32,
    dst: u32,
    /// Where the UDP data, or the ESP packet, lies in the frame.
    start: u32,
    end: u32,
    flow: Keyed,
    /// The SPI and SA-key hash of ESP, and of UDP that looks like ESP in UDP (checked against
    /// the payload's classification before use).
    esp: Option<(u32, u64)>,
}

impl Fast {
    const NONE: Fast = Fast {
        proto: 0,
        sport: 0,
        dport: 0,
        iface: 0,
        src: 0,
        dst: 0,
        start: 0,
        end: 0,
        flow: Keyed { key: FlowKey::EMPTY, a_src: false, hash: 0 },
        esp: None,
    };
}

/// Most packets [`Aggregator::packets`] parses ahead of counting them.
const BATCH: usize = 64;

/// A flow key with its direction (whether the sender is the key's `a` side) and its hash,
/// worked out once.
#[derive(Debug, Clone, Copy)]
struct Keyed {
    key: FlowKey,
    a_src: bool,
    hash: u64,
}

/// The ESP SA key for `spi`, with the hash from `hint` when it was worked out for that SPI.
#[inline(always)]
fn esp_key(hint: Option<(u32, u64)>, spi: u32, src: IpAddr, dst: IpAddr, udp: bool) -> (esp_table::EspKey, u64) {
    let k = esp_table::EspKey::new(spi, src, dst, udp);
    let hash = match hint {
        Some((hspi, h)) if hspi == spi => {
            debug_assert_eq!(h, k.table_hash());
            h
        }
        _ => k.table_hash(),
    };
    (k, hash)
}

/// The two ends of a conversation as one packet has them, sender first; ports are 0 for
/// protocols without them.
#[derive(Debug, Clone, Copy)]
struct Ends {
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
}

impl Ends {
    /// Ends without ports (ESP, AH, ICMP...).
    fn hosts(src: IpAddr, dst: IpAddr) -> Ends {
        Ends { src, sport: 0, dst, dport: 0 }
    }
}

/// The flow key of these ends on interface `iface`, its direction and hash.
#[inline(always)]
fn keyed(iface: usize, proto: u8, e: &Ends) -> Keyed {
    let (key, a_src) = FlowKey::new(iface as u32, proto, e.src, e.sport, e.dst, e.dport);
    Keyed { key, a_src, hash: key.table_hash() }
}

pub struct Aggregator {
    inputs: Vec<String>,
    backend: report::Backend,
    kind: report::SourceKind,
    stats: report::Stats,
    ifaces: Ifaces,
    procs: Processes,
    flows: Flows,
    flow_overflow: u64,
    /// Earliest and latest packet time so far (`stats.started`/`ended` once finished).
    ts_min: i64,
    ts_max: i64,
    ike: ike_table::IkeTable,
    esp: esp_table::EspTable,
    sip: dialog::Tracker,
    rtp: FxHashSet<(IpAddr, u16)>,
    rtp_generation: u32,
    reasm: reasm::Reassembler,
    tcp: tcp_stream::Streams,
    malformed: BTreeMap<&'static str, u64>,
    unknown_link: BTreeMap<u32, u64>,
    errors: Vec<report::InputError>,
    /// [`Aggregator::packets`]' parse of the batch in hand, kept between batches so that it
    /// is not cleared for each one.
    parsed: Option<Box<[Fast; BATCH]>>,
}

impl Default for Aggregator {
    fn default() -> Self {
        Self::new(report::SourceKind::Replay, report::Backend::Pcap)
    }
}

impl Aggregator {
    pub fn new(kind: report::SourceKind, backend: report::Backend) -> Self {
        Aggregator {
            inputs: Vec::new(),
            backend,
            kind,
            stats: report::Stats::default(),
            ifaces: Ifaces::default(),
            procs: Processes::default(),
            flows: Flows::default(),
            flow_overflow: 0,
            ts_min: i64::MAX,
            ts_max: i64::MIN,
            ike: Default::default(),
            esp: Default::default(),
            sip: dialog::Tracker::default(),
            rtp: FxHashSet::default(),
            rtp_generation: 0,
            reasm: reasm::Reassembler::default(),
            tcp: tcp_stream::Streams::default(),
            malformed: BTreeMap::new(),
            unknown_link: BTreeMap::new(),
            errors: Vec::new(),
            parsed: None,
        }
    }

    pub fn add_input(&mut self, name: impl Into<String>) {
        self.inputs.push(name.into());
    }

    /// Reading `input` stopped early; what came before is kept.
    pub fn input_damaged(&mut self, input: &str, d: &Damage) {
        self.errors.push(report::InputError { input: input.to_string(), offset: d.offset, message: d.what.clone() });
    }

    fn bad(&mut self, m: Malformed) {
        self.stats.malformed += 1;
        *self.malformed.entry(m.reason).or_insert(0) += 1;
    }

    #[inline]
    pub fn feed(&mut self, ev: &Event<'_>) {
        match ev {
            Event::Process(p) => self.procs.learn(p),
            Event::Interface(i) => {
                self.ifaces.announce(i);
            }
            Event::Packet(p) => self.packet(p),
            Event::Loss { dropped } => self.stats.dropped_events += dropped,
            Event::Socket(_) | Event::Counters(_) => {}
        }
    }

    /// One packet: the fast path when [`Aggregator::parse_fast`] takes it, else the general one.
    #[inline]
    fn packet(&mut self, p: &PacketEvent<'_>) {
        let mut f = Fast::NONE;
        self.parse_fast(p, &mut f);
        if f.proto != 0 {
            self.count_fast(p, &f);
        } else {
            self.packet_general(p);
        }
    }

    /// Count the time and size of a packet in the totals.
    #[inline(always)]
    fn count_totals(&mut self, p: &PacketEvent<'_>) {
        let s = &mut self.stats;
        s.packets += 1;
        s.bytes += u64::from(p.orig_len);
        // Kept as plain integers here and put into `stats` by `finish`: two compares per
        // packet instead of two `Option` tests and stores.
        self.ts_min = self.ts_min.min(p.ts.0);
        self.ts_max = self.ts_max.max(p.ts.0);
    }

    /// A frame [`Aggregator::parse_fast`] took: what the general path would do with it,
    /// from the parse already made.
    #[inline(always)]
    fn count_fast(&mut self, p: &PacketEvent<'_>, f: &Fast) {
        self.count_totals(p);
        let iface = f.iface as usize;
        self.count_iface(iface, p.orig_len, p.pid);
        let pk = Pkt { at: p.ts, iface, pid: p.pid, wire_len: u64::from(p.orig_len) };
        // In range: the parse took `start..end` from this frame.
        let data = &p.data[f.start as usize..f.end as usize];
        let (src, dst) = (IpAddr::V4(f.src.into()), IpAddr::V4(f.dst.into()));
        if f.proto == flows::UDP {
            self.udp(pk, src, f.sport, dst, f.dport, data, &f.flow, f.esp);
        } else {
            self.esp_raw(pk, src, dst, data, &f.flow, f.esp);
        }
    }

    /// Any packet: link, IP (with reassembly) and transport decoded in full.
    fn packet_general(&mut self, p: &PacketEvent<'_>) {
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
                self.count_iface(idx, p.orig_len, p.pid);
                let pk = Pkt { at: p.ts, iface: idx, pid: p.pid, wire_len: u64::from(p.orig_len) };
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
            self.count_iface(idx, p.orig_len, pid);
            *self.unknown_link.entry(lt).or_insert(0) += 1;
            return;
        }
        let l = match link::decode(lt, p.data) {
            Ok(l) => l,
            Err(m) => {
                self.count_iface(idx, p.orig_len, pid);
                self.bad(m);
                return;
            }
        };
        if let Some(meta) = &l.pktap {
            // PKTAP names the real interface and the process of every frame.
            if !meta.ifname.is_empty() {
                idx = self.ifaces.named(meta.ifname, meta.inner_dlt);
            }
            if let Some(ppid) = meta.pid {
                if pid.is_none() {
                    pid = Some(ppid);
                }
                if let Some(c) = meta.comm.filter(|c| !c.is_empty()) {
                    if self.procs.comm(ppid).is_none() {
                        self.procs.learn(&crate::event::ProcessInfo {
                            pid: ppid,
                            comm: Some(c.to_string()),
                            ..Default::default()
                        });
                    }
                }
            }
        }
        self.count_iface(idx, p.orig_len, pid);
        let pk = Pkt { at: p.ts, iface: idx, pid, wire_len: u64::from(p.orig_len) };
        let parsed = match l.l3 {
            link::L3::Ipv4(b) => ip::parse_v4(b),
            link::L3::Ipv6(b) => ip::parse_v6(b),
            _ => return,
        };
        self.ip(pk, parsed);
    }

    /// Count a batch of packets. The common frames ([`Fast`]) are parsed for the whole batch
    /// first and their table slots prefetched; each entry is prefetched a few packets before
    /// its packet is counted. The cache misses of a batch then overlap instead of stalling
    /// one packet after another. Same result as [`Aggregator::feed`] packet by packet.
    #[inline]
    pub fn packets(&mut self, batch: &[PacketEvent<'_>]) {
        const MAX: usize = BATCH;
        // A software pipeline over the batch: a packet is parsed and its slots prefetched
        // SLOTS_AHEAD packets before it is counted, its entries ENTRIES_AHEAD before (by then
        // the slot has arrived, and the entry arrives while the packets in between are
        // counted). Only the first few packets of a batch wait.
        const SLOTS_AHEAD: usize = 12;
        const ENTRIES_AHEAD: usize = 4;
        if batch.len() > MAX {
            for chunk in batch.chunks(MAX) {
                self.packets(chunk);
            }
            return;
        }
        let n = batch.len();
        // Taken out of `self` for the batch, to be filled while `self` is used.
        let mut parsed = self.parsed.take().unwrap_or_else(|| Box::new([Fast::NONE; BATCH]));
        let (mut ahead, mut fetched) = (0, 0);
        for (i, p) in batch.iter().enumerate() {
            while ahead < n && ahead < i + SLOTS_AHEAD {
                let f = &mut parsed[ahead];
                self.parse_fast(&batch[ahead], f);
                if f.proto != 0 {
                    self.flows.map.prefetch_slot(f.flow.hash);
                    if let Some((_, hash)) = f.esp {
                        self.esp.prefetch_slot(hash);
                    }
                }
                ahead += 1;
            }
            while fetched < ahead && fetched < i + ENTRIES_AHEAD {
                let f = &parsed[fetched];
                if f.proto != 0 {
                    self.flows.map.prefetch_entry(f.flow.hash);
                    if let Some((_, hash)) = f.esp {
                        self.esp.prefetch_entry(hash);
                    }
                }
                fetched += 1;
            }
            let f = &parsed[i];
            if f.proto != 0 {
                self.count_fast(p, f);
            } else {
                self.packet_general(p);
            }
        }
        self.parsed = Some(parsed);
    }

    /// Parse a frame for the fast path into `f` ([`Fast`]); `proto` 0 for any other frame.
    #[inline(always)]
    fn parse_fast(&self, p: &PacketEvent<'_>, f: &mut Fast) {
        f.proto = 0;
        const L3: usize = 14;
        const L4: usize = L3 + 20;
        let Some(idx) = self.ifaces.index(p.iface) else {
            return;
        };
        if self.ifaces.list[idx].info.linktype != link::EN10MB {
            return;
        }
        let (Some([0x08, 0x00]), Some(l3)) = (p.data.get(12..14), p.data.get(L3..)) else {
            return;
        };
        let Some((src, dst, proto, payload)) = plain_ipv4(l3) else {
            return;
        };
        let iface = idx as u32;
        let esp_hash = |spi, udp| esp_table::EspKey::v4(spi, src, dst, udp).table_hash();
        let (sport, dport, start, end, esp) = match proto {
            flows::UDP => {
                let Ok((sport, dport, data)) = ip::udp(payload) else {
                    return;
                };
                // ESP in UDP: a non-zero SPI where IKE has its zero marker.
                let esp = match data.first_chunk::<4>().map(|w| u32::from_be_bytes(*w)) {
                    Some(spi) if spi != 0 && (sport == 4500 || dport == 4500) => Some((spi, esp_hash(spi, true))),
                    _ => None,
                };
                (sport, dport, L4 + 8, L4 + 8 + data.len(), esp)
            }
            flows::ESP => {
                let Ok(h) = esp::parse(payload) else {
                    return;
                };
                (0, 0, L4, L4 + payload.len(), Some((h.spi, esp_hash(h.spi, false))))
            }
            _ => return,
        };
        let (key, a_src) = FlowKey::v4(iface, proto, src, sport, dst, dport);
        let flow = Keyed { key, a_src, hash: key.table_hash() };
        *f = Fast { proto, sport, dport, iface, src, dst, start: start as u32, end: end as u32, flow, esp };
    }

    /// An IP packet: reassembled when it is a fragment, then handed to its transport.
    #[inline]
    fn ip(&mut self, pk: Pkt, parsed: Result<ip::IpPacket<'_>, Malformed>) {
        match parsed {
            Ok(pkt) if pkt.frag.is_some() => match self.reasm.push(pk.at, &pkt) {
                reasm::ReasmResult::Complete(d) => {
                    self.transport(pk, pkt.src, pkt.dst, d.proto, &d.payload);
                }
                reasm::ReasmResult::Dropped(reason) => self.bad(Malformed::new(reason)),
                _ => {}
            },
            Ok(pkt) => self.transport(pk, pkt.src, pkt.dst, pkt.proto, pkt.payload),
            Err(m) => self.bad(m),
        }
    }

    #[inline(always)]
    fn count_iface(&mut self, idx: usize, len: u32, pid: Option<u32>) {
        let st = &mut self.ifaces.list[idx];
        st.packets += 1;
        st.bytes += u64::from(len);
        match pid {
            Some(pid) => self.count_process(idx, len, pid),
            None => self.stats.unattributed_packets += 1,
        }
    }

    fn count_process(&mut self, idx: usize, len: u32, pid: u32) {
        let name = self.ifaces.list[idx].info.name.clone();
        let pr = self.procs.map.entry(pid).or_default();
        pr.info.pid = pid;
        pr.packets += 1;
        pr.bytes += u64::from(len);
        if let Some(n) = name {
            if !pr.ifaces.contains(&n) {
                pr.ifaces.insert(n);
            }
        }
    }

    fn transport(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, proto: u8, payload: &[u8]) {
        match proto {
            flows::UDP => match ip::udp(payload) {
                Ok((sport, dport, data)) => {
                    let k = keyed(pk.iface, flows::UDP, &Ends { src, sport, dst, dport });
                    self.udp(pk, src, sport, dst, dport, data, &k, None);
                }
                Err(m) => self.bad(m),
            },
            flows::TCP => match ip::tcp(payload) {
                Ok(seg) => self.tcp(pk, src, dst, &seg),
                Err(m) => self.bad(m),
            },
            flows::ESP => self.esp_raw(pk, src, dst, payload, &keyed(pk.iface, proto, &Ends::hosts(src, dst)), None),
            flows::AH => match esp::parse_ah(payload) {
                Ok((next, _, _, rest)) if next == flows::ESP => {
                    self.flow(pk, flows::ESP, Ends::hosts(src, dst), app::ESP);
                    match esp::parse(rest) {
                        Ok(h) => self.esp_packet(pk, src, dst, h.spi, h.seq, false),
                        Err(m) => self.bad(m),
                    }
                }
                Ok((next, _, _, _)) => {
                    self.flow(pk, next, Ends::hosts(src, dst), 0);
                }
                Err(m) => self.bad(m),
            },
            _ => {
                self.flow(pk, proto, Ends::hosts(src, dst), 0);
            }
        }
    }

    /// Raw ESP (IP protocol 50): its flow, then its SA.
    #[inline]
    fn esp_raw(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, payload: &[u8], k: &Keyed, esp_hint: Option<(u32, u64)>) {
        match self.flows.touch(&k.key, k.hash, k.a_src, pk.at, pk.wire_len, pk.pid) {
            Some(f) => f.apps |= app::ESP,
            None => self.flow_overflow += 1,
        }
        match esp::parse(payload) {
            Ok(h) => {
                let (key, hash) = esp_key(esp_hint, h.spi, src, dst, false);
                self.esp.observe_hashed(key, hash, h.seq, pk.wire_len, pk.at, Some(pk.iface as u32), pk.pid);
            }
            Err(m) => self.bad(m),
        }
    }

    /// Count a packet on its flow, marking `apps`; returns the flow's state.
    #[inline]
    fn flow(&mut self, pk: Pkt, proto: u8, e: Ends, apps: u16) -> Option<&mut flows::FlowState> {
        let k = keyed(pk.iface, proto, &e);
        match self.flows.touch(&k.key, k.hash, k.a_src, pk.at, pk.wire_len, pk.pid) {
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

    #[inline]
    fn esp_packet(&mut self, pk: Pkt, src: IpAddr, dst: IpAddr, spi: u32, seq: u32, udp: bool) {
        let key = esp_table::EspKey::new(spi, src, dst, udp);
        self.esp.observe(key, seq, pk.wire_len, pk.at, Some(pk.iface as u32), pk.pid);
    }

    /// A UDP datagram. The ends come as separate values, not as [`Ends`]: this is the hot
    /// path, and the struct was built in memory and read back for every packet.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn udp(
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
        let Some(f) = self.flows.touch(&k.key, k.hash, k.a_src, pk.at, pk.wire_len, pk.pid) else {
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
                esp::UdpEncap::Esp { spi, seq } => {
                    f.apps |= app::ESP_IN_UDP;
                    let (k, hash) = esp_key(esp_hint, spi, src, dst, true);
                    self.esp.observe_hashed(k, hash, seq, pk.wire_len, pk.at, Some(pk.iface as u32), pk.pid);
                }
                esp::UdpEncap::Ike(msg) => self.ike_msg(pk, e(), msg, true),
                esp::UdpEncap::Malformed(m) => self.bad(m),
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
        if ike::looks_like_ike(data) {
            self.ike_msg(pk, e(), data, false);
        } else if data.len() > 4 && data[..4] == [0, 0, 0, 0] && ike::looks_like_ike(&data[4..]) {
            self.ike_msg(pk, e(), &data[4..], true);
        } else if sipmsg::looks_like_sip(data) {
            self.sip_datagram(pk, e(), data);
        }
    }

    fn flow_state(&mut self, pk: Pkt, e: Ends, proto: u8) -> Option<&mut flows::FlowState> {
        let (key, _) = FlowKey::new(pk.iface as u32, proto, e.src, e.sport, e.dst, e.dport);
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
                    pid: pk.pid,
                    iface: Some(pk.iface as u32),
                    encapsulated,
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
        match sipmsg::parse(data) {
            Ok(m) => {
                self.mark(pk, e, app::SIP);
                self.sip_message(pk, e, dialog::Transport::Udp, &m);
            }
            Err(e) => self.bad(e),
        }
    }

    fn sip_message(&mut self, pk: Pkt, e: Ends, transport: dialog::Transport, m: &sipmsg::SipMessage<'_>) {
        let Ends { src, sport, dst, dport } = e;
        let ctx = dialog::MsgCtx { at: pk.at, src, sport, dst, dport, transport, pid: pk.pid };
        self.sip.observe(m, ctx);
        // Media announced in this message's SDP labels the RTP flows to come.
        if m.body.is_empty() {
            return;
        }
        if let Some(sdp) = m.sdp_ref() {
            let before = self.rtp.len();
            for (_, addr, port) in sdp.endpoints() {
                if self.rtp.len() < MAX_MEDIA_ENDPOINTS {
                    self.rtp.insert((addr, port));
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
        let apps = f.apps;
        let mut is_sip = apps & app::SIP != 0 || sip_port;
        if !is_sip && apps == 0 && !seg.payload.is_empty() && f.probes_left > 0 {
            f.probes_left -= 1;
            if sipmsg::looks_like_sip(seg.payload) {
                is_sip = true;
            } else if tls_port && seg.payload.first() == Some(&0x16) {
                f.apps |= app::SIP_TLS;
            }
        }
        if !is_sip {
            if tls_port && apps == 0 {
                self.mark_tcp(pk, e, app::SIP_TLS);
            }
            return;
        }
        self.mark_tcp(pk, e, app::SIP);
        let key = tcp_stream::StreamKey { src, sport, dst, dport };
        let mut msgs: Vec<Vec<u8>> = Vec::new();
        let mut garbage = 0u32;
        if let Some(buf) = self.tcp.push(pk.at, key, seg) {
            buf.drain_frames(
                |b| match sipmsg::frame_len(b) {
                    sipmsg::FrameResult::Complete(n) => tcp_stream::Frame::Complete(n),
                    sipmsg::FrameResult::Keepalive(k) => {
                        tcp_stream::Frame::Skip(if k == sipmsg::Keepalive::Ping { 4 } else { 2 })
                    }
                    sipmsg::FrameResult::Incomplete => tcp_stream::Frame::Incomplete,
                    sipmsg::FrameResult::NotSip | sipmsg::FrameResult::Malformed(_) => {
                        garbage += 1;
                        tcp_stream::Frame::Garbage
                    }
                },
                |msg| msgs.push(msg.to_vec()),
            );
        }
        for _ in 0..garbage {
            self.bad(Malformed::new("sip stream not framable"));
        }
        for raw in msgs {
            if raw.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                continue;
            }
            match sipmsg::parse(&raw) {
                Ok(m) => self.sip_message(pk, e, dialog::Transport::Tcp, &m),
                Err(e) => self.bad(e),
            }
        }
    }

    fn mark_tcp(&mut self, pk: Pkt, e: Ends, bits: u16) {
        if let Some(f) = self.flow_state(pk, e, flows::TCP) {
            f.apps |= bits;
        }
    }

    /// The report. Deterministic: every list has a defined order.
    pub fn finish(self) -> Report {
        let ifname = |i: u32| self.ifaces.name(i as usize);
        let comm = |pid: u32| self.procs.comm(pid);
        let sas = &self.ike.sas;
        // IKE SAs by the pair of hosts (either order), in order of appearance: one lookup per
        // ESP SA instead of a scan of every IKE SA (thousands of each on a busy ePDG capture).
        let unordered = |a: IpAddr, b: IpAddr| if a <= b { (a, b) } else { (b, a) };
        let mut by_peers: rustc_hash::FxHashMap<(IpAddr, IpAddr), Vec<usize>> = Default::default();
        for (i, sa) in sas.iter().enumerate() {
            by_peers.entry(unordered(sa.peers.0, sa.peers.1)).or_default().push(i);
        }
        let esp_sas = self.esp.report(
            |k, s| {
                let list = by_peers.get(&unordered(k.src(), k.dst()))?;
                // The newest IKE SA between the same two hosts that began before this ESP SA,
                // else the first one between them.
                list.iter().rev().copied().find(|&i| sas[i].first <= s.first).or(list.first().copied())
            },
            ifname,
        );
        // After the ESP SAs are linked: the table is consumed, its SAs moved into the report.
        let ike_sas = self.ike.into_report(ifname, comm);
        let mut flow_list: Vec<(&FlowKey, &flows::FlowState)> = self.flows.map.iter().collect();
        flow_list.sort_by(|a, b| a.1.first.cmp(&b.1.first).then(a.0.cmp(b.0)));
        let port = |proto: u8, p: u16| matches!(proto, flows::UDP | flows::TCP).then_some(p);
        let flows: Vec<report::Flow> = flow_list
            .into_iter()
            .map(|(k, f)| {
                let ((s, sp), (d, dp)) = if f.a_first {
                    ((k.a_addr(), k.ap()), (k.b_addr(), k.bp()))
                } else {
                    ((k.b_addr(), k.bp()), (k.a_addr(), k.ap()))
                };
                report::Flow {
                    iface: ifname(k.iface()),
                    proto: flows::proto_name(k.proto()),
                    src: flows::addr_string(s),
                    sport: port(k.proto(), sp),
                    dst: flows::addr_string(d),
                    dport: port(k.proto(), dp),
                    app: app::label(f.apps),
                    pid: f.pid,
                    comm: f.pid.and_then(comm),
                    packets: f.packets,
                    bytes: f.bytes,
                    first: f.first.into(),
                    last: f.last.into(),
                }
            })
            .collect();
        let interfaces: Vec<report::Interface> = self
            .ifaces
            .list
            .iter()
            // An unnamed PKTAP carrier interface holds no packets of its own.
            .filter(|i| i.packets > 0 || i.info.name.is_some())
            .map(|i| report::Interface {
                name: i.info.name.clone(),
                kind: iface::kind_of(i.info.name.as_deref(), i.info.linktype),
                mtu: i.info.mtu,
                addresses: i.info.addresses.clone(),
                owner: i.info.owner.map(|p| self.procs.proc_ref(p)),
                created_by: i.info.created_by.map(|(pid, at)| report::CreatedBy {
                    pid,
                    comm: comm(pid),
                    at: at.map(Into::into),
                }),
                packets: i.packets,
                bytes: i.bytes,
                linktype: linktype::name(i.info.linktype).to_string(),
            })
            .collect();
        let processes: Vec<report::Process> = self
            .procs
            .map
            .values()
            .map(|p| report::Process {
                pid: p.info.pid,
                comm: p.info.comm.clone(),
                exe: p.info.exe.clone(),
                cmdline: p.info.cmdline.clone(),
                uid: p.info.uid,
                packets: p.packets,
                bytes: p.bytes,
                interfaces: p.ifaces.iter().cloned().collect(),
            })
            .collect();
        let (dialogs, registrations) = self.sip.finish();
        let mut sip = report::Sip { dialogs, registrations };
        for d in &mut sip.dialogs {
            d.comm = d.pid.and_then(comm);
        }
        for r in &mut sip.registrations {
            r.comm = r.pid.and_then(comm);
        }
        let mut malformed: Vec<report::MalformedCount> =
            self.malformed.iter().map(|(r, n)| report::MalformedCount { reason: r.to_string(), packets: *n }).collect();
        if self.flow_overflow > 0 {
            malformed.push(report::MalformedCount {
                reason: "flow table full (not a packet fault)".into(),
                packets: self.flow_overflow,
            });
        }
        let unknown_linktypes = self
            .unknown_link
            .iter()
            .map(|(l, n)| report::LinktypeCount { linktype: *l, name: linktype::name(*l).to_string(), frames: *n })
            .collect();
        let mut stats = self.stats;
        if stats.packets > 0 {
            stats.started = Some(Timestamp(self.ts_min).into());
            stats.ended = Some(Timestamp(self.ts_max).into());
        }
        let mut r = Report {
            schema: report::SCHEMA,
            source: report::Source { kind: self.kind, backend: self.backend, inputs: self.inputs },
            stats,
            interfaces,
            processes,
            flows,
            ike_sas,
            esp_sas,
            sip,
            verdicts: Vec::new(),
            malformed,
            unknown_linktypes,
            errors: self.errors,
        };
        r.verdicts = verdict::derive(&r);
        r
    }
}

/// The common IPv4 header (no options, not a fragment, sane length) read in place, giving
/// `(src, dst, proto, payload)` exactly as `ip::parse_v4` would; anything else is `None` and
/// takes the full decoder (which also names what is wrong).
#[inline]
fn plain_ipv4(b: &[u8]) -> Option<(u32, u32, u8, &[u8])> {
    let h = b.first_chunk::<20>()?;
    // 0x3fff: fragment offset and more-fragments bits.
    if h[0] != 0x45 || u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
        return None;
    }
    let announced = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // 0: a TSO super-segment, whose real length is what was captured.
    let total = if announced == 0 { b.len() } else { announced };
    if total < 20 {
        return None;
    }
    let src = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
    let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
    Some((src, dst, h[9], b.get(20..total.min(b.len()))?))
}

/// Link types whose frames the link decoder understands (others are counted by type only).
fn decodes_linktype(lt: u32) -> bool {
    use link::*;
    matches!(
        lt,
        NULL | EN10MB | RAW | DLT_RAW_12 | DLT_RAW_14 | LOOP | LINUX_SLL | USER2 | IPV4 | IPV6 | PKTAP | LINUX_SLL2
    )
}

/// Adapt the IKE decoder's scan to the table's view.
fn ike_view(m: ike::Scan<'_>) -> ike_table::IkeView<'_> {
    ike_table::IkeView::from(m)
}

/// Feeds one input file into an [`Aggregator`] ([`crate::capture::stream`]'s sink): damage is
/// recorded against the input's name.
pub struct InputSink<'g> {
    agg: &'g mut Aggregator,
    name: String,
}

impl Aggregator {
    /// Register `name` as an input and return the sink its events go into.
    pub fn input(&mut self, name: impl Into<String>) -> InputSink<'_> {
        let name = name.into();
        self.add_input(name.clone());
        InputSink { agg: self, name }
    }
}

impl crate::capture::Sink for InputSink<'_> {
    #[inline(always)]
    fn packet(&mut self, p: &PacketEvent<'_>) {
        self.agg.packet(p);
    }

    #[inline(always)]
    fn packets(&mut self, batch: &[PacketEvent<'_>]) {
        self.agg.packets(batch);
    }

    fn event(&mut self, e: &Event<'_>) {
        self.agg.feed(e);
    }

    fn damage(&mut self, d: &Damage) {
        self.agg.input_damaged(&self.name, d);
    }
}

/// Replay capture files (`-` is standard input) into one report.
pub fn replay_files(paths: &[std::path::PathBuf]) -> Report {
    let mut agg = Aggregator::new(report::SourceKind::Replay, report::Backend::Pcap);
    let mut next_iface = 0u32;
    for path in paths {
        let mut sink = agg.input(path.display().to_string());
        match crate::capture::stream(path, next_iface, &mut sink) {
            Ok(n) => next_iface += n,
            Err(e) => sink.damage(&Damage { offset: 0, what: e.to_string() }),
        }
    }
    agg.finish()
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

    /// The fast IPv4 read agrees with the full decoder wherever it answers, and leaves options,
    /// fragments and bad lengths to it.
    #[test]
    fn plain_ipv4_agrees_with_parse_v4() {
        let mut hdr = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2];
        hdr.extend_from_slice(&[0x13, 0xc4, 0x13, 0xc4, 0, 8, 0, 0, 0xaa, 0xbb]);
        let check = |b: &[u8]| {
            if let Some((s, d, pr, pl)) = plain_ipv4(b) {
                let full = ip::parse_v4(b).expect("fast path accepted what the decoder rejects");
                assert!(full.frag.is_none());
                assert_eq!(
                    (IpAddr::from(s.to_be_bytes()), IpAddr::from(d.to_be_bytes()), pr, pl),
                    (full.src, full.dst, full.proto, full.payload)
                );
            }
        };
        assert!(plain_ipv4(&hdr).is_some());
        check(&hdr);
        let mut x: u32 = 12345;
        for i in 0..20_000usize {
            let mut b = hdr.clone();
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = (x >> 8) as usize % 10;
            b[at] = (x >> 16) as u8;
            b.truncate(b.len() - i % 14);
            check(&b);
        }
        for (at, v) in [(0, 0x46u8), (6, 0x20), (7, 1), (3, 0), (3, 19)] {
            let mut b = hdr.clone();
            b[at] = v;
            if (at, v) == (3, 0) {
                assert!(plain_ipv4(&b).is_some(), "total length 0 means the captured length");
            } else {
                assert!(plain_ipv4(&b).is_none(), "byte {at} = {v:#x}");
            }
        }
    }

    /// An Ethernet frame carrying IPv4 (`proto`) with `l4` behind the header.
    fn ipv4_frame(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        let total = (20 + l4.len()) as u16;
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(l4);
        f
    }

    fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(data);
        u
    }

    /// Frames the fast path takes and frames just beside it (damaged, cut, other protocols),
    /// many on the same flows and SAs, with random bytes changed.
    fn frames() -> Vec<Vec<u8>> {
        let (a, b, c) = ([198, 18, 0, 1], [198, 18, 0, 2], [198, 19, 0, 9]);
        let esp = |spi: u32, seq: u32| [spi.to_be_bytes(), seq.to_be_bytes(), [0xab; 4]].concat();
        let mut base = vec![
            ipv4_frame(17, a, b, &udp(4500, 4500, &esp(0x1111, 1))),
            ipv4_frame(17, b, a, &udp(4500, 4500, &esp(0x2222, 1))),
            ipv4_frame(17, a, b, &udp(4500, 4500, &[0xff])),
            ipv4_frame(17, a, b, &udp(4500, 4500, &[0, 0, 0, 0, 1, 2])),
            ipv4_frame(17, a, b, &udp(4500, 4500, &[1, 2, 3])),
            ipv4_frame(17, a, c, &udp(40000, 4500, &esp(0x3333, 7))),
            ipv4_frame(17, a, b, &udp(500, 500, &[0; 28])),
            ipv4_frame(17, a, b, &udp(5060, 5060, b"OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n")),
            ipv4_frame(17, c, a, &udp(16384, 16386, &[0x80; 40])),
            ipv4_frame(17, c, a, &udp(16384, 16386, &[])),
            ipv4_frame(50, a, b, &esp(0x4444, 3)),
            ipv4_frame(50, b, a, &esp(0x5555, 9)),
            ipv4_frame(50, a, b, &esp(0, 1)),
            ipv4_frame(6, a, b, &[0x13, 0xc4, 0x13, 0xc4, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0, 0, 0, 0, 0, 0]),
            ipv4_frame(1, a, b, &[8, 0, 0, 0]),
        ];
        let mut out = Vec::new();
        let mut x: u32 = 7;
        for round in 0..300usize {
            for f in base.iter_mut() {
                let mut g = f.clone();
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                match round % 4 {
                    // Unchanged, and sequence numbers that move on (gaps, replays).
                    0 | 1 => {
                        if let Some(b) = g.get_mut(45) {
                            *b = b.wrapping_add((x >> 20) as u8 % 3);
                        }
                        *f = g.clone();
                    }
                    // One byte anywhere in the headers or the first payload bytes.
                    2 => {
                        let at = (x >> 8) as usize % g.len().min(54);
                        g[at] = (x >> 16) as u8;
                    }
                    // Cut short.
                    _ => g.truncate((x >> 8) as usize % (g.len() + 1)),
                }
                out.push(g);
            }
        }
        out
    }

    /// The fast path counts exactly what the general decoder would, frame for frame.
    #[test]
    fn fast_path_agrees_with_the_general_path() {
        let run = |general: bool| {
            let mut agg = Aggregator::default();
            agg.feed(&Event::Interface(Box::new(crate::event::InterfaceInfo {
                id: 0,
                linktype: link::EN10MB,
                ..Default::default()
            })));
            let frames = frames();
            let mut fast = 0;
            for (i, f) in frames.iter().enumerate() {
                let p = PacketEvent {
                    ts: Timestamp(i as i64 * 1000),
                    iface: 0,
                    direction: crate::event::Direction::Unknown,
                    orig_len: f.len() as u32 + (i % 2) as u32,
                    data: f,
                    pid: (i % 3 == 0).then_some(42),
                    effective_pid: None,
                };
                if general {
                    agg.packet_general(&p);
                } else {
                    let mut parsed = Fast::NONE;
                    agg.parse_fast(&p, &mut parsed);
                    fast += usize::from(parsed.proto != 0);
                    agg.packet(&p);
                }
            }
            (agg.finish().to_json(), fast, frames.len())
        };
        let ((general, _, _), (fast, taken, n)) = (run(true), run(false));
        assert!(taken > n / 2 && taken < n, "fast path took {taken} of {n} frames");
        assert_eq!(general, fast);
    }
}

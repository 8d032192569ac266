//! The aggregator: a pure fold of the event stream into a [`Report`].
//!
//! Per packet it decodes link, IP (with reassembly) and transport, counts the flow, and hands
//! IKE, ESP and SIP payloads to their decoders. Hot-path traffic (ESP, RTP, bulk UDP/TCP) costs
//! a flow-table lookup and a few counters; only rare control messages allocate.
//!
//! The state is bounded by the number of distinct things seen (interfaces, processes, sockets,
//! flows, SAs, dialogs), each table with a cap; with [`Expiry`] rules (live sessions) what has
//! ended or gone idle is let go after a grace period. Every cap reached and every entry let go is
//! counted in the report's `stats.limits`. [`Aggregator::report`] reads the state without
//! consuming it, so a live session can print a report at any moment and go on.
//!
//! The modules: [`fast`] the batch pipeline for the common frames, `packet` the general
//! decoder path, `live` the events of live sources (sockets, kernel counters, lifecycle,
//! expiry), the tables (`flows`, `iface`, `procs`, `sockets`, `ike_table`, `esp_table`; SIP
//! calls are `sip::dialog`'s tracker), and `build` the report, with `ipsec_report` and
//! `sip_report` for its IKE/ESP and SIP sections: the only code that makes report values.

mod budget;
mod build;
mod decap;
mod esp_table;
mod fast;
mod flows;
mod iface;
mod ike_table;
mod ipsec_report;
mod live;
mod packet;
pub(crate) mod prefetch;
mod procs;
mod sip_report;
mod sockets;
mod tunnel_report;
mod tunnels;

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::capture::Damage;
use crate::decode::Malformed;
use crate::event::{Event, PacketEvent};
use crate::reassembly;
use crate::report::{self, Report};
use crate::sip::dialog;
use crate::time::Timestamp;

pub use budget::{set_probe as set_memory_probe, STATE_LIMIT};
pub use flows::FlowKey;
use flows::{Flows, TableKey};
use iface::Ifaces;
pub use ike_table::MAX_IKE_MALFORMED;
pub use procs::ProcHandle;
use procs::Processes;
pub use sip_report::sip_report;
use sockets::Sockets;

/// Media endpoints remembered for RTP labelling; memory stays bounded on hostile input.
const MAX_MEDIA_ENDPOINTS: usize = 200_000;

/// When entries that have ended or gone idle are let go, in nanoseconds of stream time (the
/// aggregator has no clock: live sources send [`Event::Tick`]s). `None` keeps them for the whole
/// stream, within the tables' caps, which is what a capture replay wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry {
    /// Flows without a packet for this long.
    pub idle_flow: Option<i64>,
    /// ESP SAs without a packet for this long.
    pub idle_esp: Option<i64>,
    /// IKE SAs after their deletion was seen, or idle this long.
    pub ended_ike: Option<i64>,
    /// SIP dialogs after they terminated or failed, registrations idle this long.
    pub ended_sip: Option<i64>,
    /// Processes after they exited (those that carried traffic stay: the totals name them).
    pub exited_process: Option<i64>,
    /// Sockets after they closed.
    pub closed_socket: Option<i64>,
    /// How often to look, at most.
    pub sweep_every: i64,
}

const SEC: i64 = 1_000_000_000;

impl Expiry {
    /// Nothing expires (capture replay: the report covers the whole input).
    pub const NEVER: Expiry = Expiry {
        idle_flow: None,
        idle_esp: None,
        ended_ike: None,
        ended_sip: None,
        exited_process: None,
        closed_socket: None,
        sweep_every: i64::MAX,
    };

    /// A live session's rules: ended things are kept five minutes, idle ones thirty, so a
    /// report still shows what just happened but a session of days stays flat.
    pub const LIVE: Expiry = Expiry {
        idle_flow: Some(30 * 60 * SEC),
        idle_esp: Some(30 * 60 * SEC),
        ended_ike: Some(5 * 60 * SEC),
        ended_sip: Some(5 * 60 * SEC),
        exited_process: Some(5 * 60 * SEC),
        closed_socket: Some(60 * SEC),
        sweep_every: SEC,
    };
}

/// Where the events come from, as the report's `source` says.
#[derive(Debug, Clone)]
pub struct Options {
    pub kind: report::SourceKind,
    pub backend: report::Backend,
    pub expiry: Expiry,
}

impl Options {
    pub fn replay() -> Self {
        Options { kind: report::SourceKind::Replay, backend: report::Backend::Pcap, expiry: Expiry::NEVER }
    }

    pub fn live(backend: report::Backend) -> Self {
        Options { kind: report::SourceKind::Live, backend, expiry: Expiry::LIVE }
    }
}

/// Totals for a live session's status line ([`Aggregator::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    pub packets: u64,
    pub bytes: u64,
    pub unattributed_packets: u64,
    pub dropped_events: u64,
    /// Named interfaces not removed.
    pub interfaces: usize,
    pub flows: usize,
    pub ike_sas: usize,
    /// SIP dialogs and registrations kept.
    pub sip_calls: usize,
}

/// Everything needed to place one decoded packet.
#[derive(Debug, Clone, Copy)]
struct Pkt {
    at: Timestamp,
    /// Interface index (u32, with `tunnel` and `depth` beside it in one word: the struct is
    /// made for every packet, and five words are what the hot path moves).
    iface: u32,
    proc: Option<ProcHandle>,
    /// Bytes to count (0 for a sample the source counts itself).
    wire_len: u64,
    /// Packets to count: 1, or 0 for a sample.
    count: u64,
    /// The tunnel it came out of (index + 1; 0 for a packet as captured).
    tunnel: u16,
    /// How many tunnels deep it is.
    depth: u8,
}

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
    /// SIP messages framed from a TCP stream, waiting to be parsed (reused).
    stream_msgs: Vec<u8>,
    /// The UDP datagram being handled is cut (its header's length runs past the bytes there:
    /// a snaplen, a live sample's head): its SIP is read as far as it goes, not as damage.
    udp_cut: bool,
    opts: Options,
    inputs: Vec<String>,
    stats: report::Stats,
    ifaces: Ifaces,
    procs: Processes,
    sockets: Sockets,
    flows: Flows,
    flow_overflow: u64,
    /// Earliest and latest packet time so far (`stats.started`/`ended` in a report).
    ts_min: i64,
    ts_max: i64,
    ike: ike_table::IkeTable,
    esp: esp_table::EspTable,
    sip: dialog::Tracker,
    /// SDP media endpoints (from packets: seeded hash, as the tables').
    rtp: foldhash::HashSet<(IpAddr, u16)>,
    rtp_generation: u32,
    rtp_overflow: u64,
    reasm: reassembly::ip::Reassembler,
    tcp: reassembly::tcp::Streams,
    sctp: reassembly::sctp::Joiner,
    tunnels: tunnels::Tunnels,
    malformed: BTreeMap<&'static str, u64>,
    unknown_link: BTreeMap<u32, u64>,
    errors: Vec<report::InputError>,
    /// What live sources add: kernel counter totals, losses, expiry bookkeeping.
    live: live::LiveState,
    /// [`Aggregator::packets`]' parse of the batch in hand, kept between batches so that it
    /// is not cleared for each one.
    parsed: Option<Box<[fast::Fast; fast::BATCH]>>,
    /// The bound on the heap the state takes (see `budget`).
    budget: budget::Budget,
}

impl Default for Aggregator {
    fn default() -> Self {
        Self::with_options(Options::replay())
    }
}

impl Aggregator {
    /// An aggregator for a source of `kind` (replay, live) and `backend` (pcap, ebpf…), with the
    /// expiry rules that suit it.
    pub fn new(kind: report::SourceKind, backend: report::Backend) -> Self {
        let expiry = if kind == report::SourceKind::Live { Expiry::LIVE } else { Expiry::NEVER };
        Self::with_options(Options { kind, backend, expiry })
    }

    pub fn with_options(opts: Options) -> Self {
        Aggregator {
            stream_msgs: Vec::new(),
            udp_cut: false,
            opts,
            inputs: Vec::new(),
            stats: report::Stats::default(),
            ifaces: Ifaces::default(),
            procs: Processes::default(),
            sockets: Sockets::default(),
            flows: Flows::default(),
            flow_overflow: 0,
            ts_min: i64::MAX,
            ts_max: i64::MIN,
            ike: Default::default(),
            esp: Default::default(),
            sip: dialog::Tracker::default(),
            rtp: Default::default(),
            rtp_generation: 0,
            rtp_overflow: 0,
            reasm: reassembly::ip::Reassembler::default(),
            tcp: reassembly::tcp::Streams::default(),
            sctp: reassembly::sctp::Joiner::default(),
            tunnels: tunnels::Tunnels::default(),
            malformed: BTreeMap::new(),
            unknown_link: BTreeMap::new(),
            errors: Vec::new(),
            live: live::LiveState::default(),
            parsed: None,
            budget: budget::Budget::default(),
        }
    }

    pub fn add_input(&mut self, name: impl Into<String>) {
        self.inputs.push(name.into());
    }

    /// Reading `input` stopped early; what came before is kept.
    pub fn input_damaged(&mut self, input: &str, d: &Damage) {
        self.errors.push(report::InputError {
            input: input.to_string(),
            offset: d.offset,
            message: d.what.clone(),
            unreadable: false,
        });
    }

    /// Input `input` could not be opened or read: no offset to name.
    pub fn input_unreadable(&mut self, input: &str, what: String) {
        self.errors.push(report::InputError { input: input.to_string(), offset: 0, message: what, unreadable: true });
    }

    fn bad(&mut self, m: Malformed) {
        self.stats.malformed += 1;
        *self.malformed.entry(m.reason).or_insert(0) += 1;
    }

    /// Fold one event into the state.
    #[inline]
    pub fn feed(&mut self, ev: &Event<'_>) {
        match ev {
            Event::Packet(p) => self.packet(p),
            Event::Process(p) => {
                let at = p.start.unwrap_or(Timestamp(self.ts_max.max(0)));
                self.procs.learn(p, at);
            }
            Event::ProcessExit { pid, start, at } => self.procs.exit(*pid, *start, *at),
            Event::Interface(i) => self.interface(i),
            Event::InterfaceGone { id, at } => self.interface_gone(*id, *at),
            Event::Socket(s) => self.socket(s),
            Event::Tun(t) => self.tun(t),
            Event::Counters(c) => self.counters(c),
            Event::Esp(c) => self.esp_counters(c),
            Event::Tunnel(c) => self.tunnel_counters(c),
            Event::Loss(l) => self.loss(l),
            Event::Tick(t) => self.tick(*t),
        }
    }

    /// Feed every event of a batch, in order.
    pub fn feed_batch(&mut self, b: &crate::event::Batch) {
        b.for_each(|e| self.feed(e));
    }

    /// One packet: the fast path when it takes the frame, else the general one.
    #[inline]
    fn packet(&mut self, p: &PacketEvent<'_>) {
        if self.budget.due() {
            self.look_at_heap();
        }
        let mut f = fast::Fast::NONE;
        self.parse_fast(p, &mut f);
        if f.proto != 0 {
            self.count_fast(p, &f);
        } else {
            self.packet_general(p);
        }
    }

    /// Count the time and size of a packet in the totals (a sample only moves the times).
    #[inline(always)]
    fn count_totals(&mut self, p: &PacketEvent<'_>) {
        if !p.sampled {
            let s = &mut self.stats;
            s.packets += 1;
            s.bytes += u64::from(p.orig_len);
        }
        // Kept as plain integers here and put into `stats` by the report: two compares per
        // packet instead of two `Option` tests and stores.
        self.ts_min = self.ts_min.min(p.ts.0);
        self.ts_max = self.ts_max.max(p.ts.0);
    }

    /// The process a packet belongs to: the one the source names, else the owner of its socket.
    #[inline(always)]
    fn owner(&mut self, pid: Option<u32>, cookie: u64, at: Timestamp) -> Option<ProcHandle> {
        match pid {
            Some(pid) => Some(self.procs.resolve(pid, at)),
            None if cookie != 0 => self.sockets.owner(cookie),
            None => None,
        }
    }

    /// Count a packet on its interface and its process.
    #[inline(always)]
    fn count_iface(&mut self, idx: usize, p: &PacketEvent<'_>, proc: Option<ProcHandle>) {
        if p.sampled {
            return;
        }
        let st = &mut self.ifaces.list[idx];
        st.packets += 1;
        st.bytes += u64::from(p.orig_len);
        match proc {
            Some(h) => self.procs.count(h, idx as u32, 1, u64::from(p.orig_len), p.ts),
            None => self.stats.unattributed_packets += 1,
        }
    }

    /// The [`Pkt`] of a packet on interface `idx` owned by `proc`.
    #[inline(always)]
    fn pkt(p: &PacketEvent<'_>, idx: usize, proc: Option<ProcHandle>) -> Pkt {
        let count = u64::from(!p.sampled);
        Pkt { at: p.ts, iface: idx as u32, proc, wire_len: u64::from(p.orig_len) * count, count, tunnel: 0, depth: 0 }
    }

    /// Things the tables refused to start so far (for the budget's count).
    fn refusals(&self) -> u64 {
        self.flow_overflow
            + self.ike.refused
            + self.esp.overflow
            + self.sip.dropped().calls
            + self.tunnels.refused
            + self.tcp.stats.streams_refused
            + self.rtp_overflow
    }

    /// Look at the heap; when the state crossed its limit either way, tell the tables.
    #[cold]
    fn look_at_heap(&mut self) {
        let refused = self.refusals();
        let extra = self.ike.payloads_kept * budget::REPORT_BYTES_PER_IKE_PAYLOAD;
        if let Some(full) = self.budget.look(refused, extra) {
            self.flows.full = full;
            self.ike.full = full;
            self.esp.full = full;
            self.sip.full = full;
            self.tunnels.full = full;
            self.tcp.full = full;
        }
    }

    /// A few totals for a status line, without building a report: cheap enough to ask every
    /// second of a live session.
    pub fn status(&self) -> Status {
        let unattributed = self.stats.unattributed_packets + self.live.counted.saturating_sub(self.live.attributed);
        Status {
            packets: self.stats.packets,
            bytes: self.stats.bytes,
            unattributed_packets: unattributed.min(self.stats.packets),
            dropped_events: self.stats.dropped_events,
            interfaces: self.ifaces.list.iter().filter(|i| i.removed.is_none() && i.info.name.is_some()).count(),
            flows: self.flows.map.len(),
            ike_sas: self.ike.sas.len(),
            sip_calls: self.sip.len(),
        }
    }

    /// The report of everything so far. Reads the state, consumes nothing: call it at any time
    /// (a live session's status, `--watch`, SIGUSR1) and go on feeding.
    pub fn report(&self) -> Report {
        build::report(self)
    }

    /// The report at the end of the stream.
    pub fn finish(self) -> Report {
        self.report()
    }
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

impl InputSink<'_> {
    /// The input could not be opened or read at all (its bytes, if any, were never seen).
    pub fn unreadable(&mut self, what: String) {
        self.agg.input_unreadable(&self.name, what);
    }
}

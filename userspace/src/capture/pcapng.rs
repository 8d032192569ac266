//! pcapng reader.
//!
//! Block framing (type, both length words, truncation) is checked here so that damage is named
//! with the block's offset and a sentence a person can act on; pcap-parser only says "error".
//! The rare metadata blocks (section header, interface description, Apple process information)
//! are then handed to pcap-parser's block parsers. Packet blocks (EPB, SPB, obsolete PB) are
//! parsed here: pcap-parser collects every EPB's options into a `Vec` (an allocation per
//! packet, and Apple's pktap captures put five options on every packet), and its option value
//! helpers read little-endian only, which is wrong inside big-endian sections.
//!
//! Things libpcap gets wrong and we must not: interfaces with different link types or snaplens
//! in one section, several sections in one file (each restarts interface numbering, while our
//! interface ids keep counting up across the file), big-endian sections after little-endian
//! ones.
//!
//! Process attribution comes from two writers:
//! - Apple's tcpdump (`-i pktap -k`): Process Information Blocks (type 0x80000001: pid, then
//!   options 2 = name, 3 = path), referenced from EPB options 0x8001 (index of the PIB within
//!   the section) and 0x8003 (index of the "effective" process the owner acted for);
//! - ptcpdump: EPB comments `PID: 1234\nCmd: /usr/bin/curl\nArgs: ...` (more comments such as
//!   `ParentPID: ...` may follow and do not name the owner).

use std::collections::HashMap;

use pcap_parser::pcapng::{
    parse_interfacedescriptionblock_be, parse_interfacedescriptionblock_le, parse_processinformationblock_be,
    parse_processinformationblock_le, parse_sectionheaderblock,
};

use super::recording::{self, PacketRecord};
use super::{Damage, View};
use crate::event::{Direction, Event, InterfaceInfo, PacketEvent, ProcessInfo};
use crate::linktype;
use crate::time::Timestamp;

const SHB_TYPE_BYTES: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const BOM_LE: [u8; 4] = [0x4d, 0x3c, 0x2b, 0x1a];
const BOM_BE: [u8; 4] = [0x1a, 0x2b, 0x3c, 0x4d];

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
/// Obsolete Packet Block (pcapng drafts before EPB); still written by old tools.
const PB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;
/// Apple Process Information Block.
const PIB: u32 = 0x8000_0001;

/// Block type, total length, trailing length.
const BLOCK_OVERHEAD: usize = 12;
/// EPB/PB header up to the packet data: type, length, interface, ts high, ts low, caplen, len.
const PACKET_HEADER: usize = 28;

const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_IPV4: u16 = 4;
const OPT_IF_IPV6: u16 = 5;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;
const OPT_EPB_FLAGS: u16 = 2;
const OPT_EPB_PIB_INDEX: u16 = 0x8001;
const OPT_EPB_EFFECTIVE_PIB_INDEX: u16 = 0x8003;
const OPT_PIB_NAME: u16 = 2;
const OPT_PIB_PATH: u16 = 3;

/// Units of an interface's timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resolution {
    /// 10^-n seconds.
    Decimal(u32),
    /// 2^-n seconds.
    Binary(u32),
}

impl Resolution {
    fn from_option(v: u8) -> Resolution {
        if v & 0x80 != 0 {
            Resolution::Binary(u32::from(v & 0x7f))
        } else {
            Resolution::Decimal(u32::from(v))
        }
    }
}

/// Turn a raw 64-bit timestamp into ns since the epoch. i128 keeps every combination of
/// resolution and offset exact before the final clamp; a resolution so fine that every
/// representable value is below 1 ns just gives the offset.
fn timestamp(raw: u64, res: Resolution, offset_secs: i64) -> Timestamp {
    let raw = i128::from(raw);
    let ns = match res {
        Resolution::Decimal(n) if n <= 9 => raw * 10i128.pow(9 - n),
        Resolution::Decimal(n) if n - 9 <= 20 => raw / 10i128.pow(n - 9),
        Resolution::Decimal(_) => 0,
        // raw * 1e9 < 2^94, shift by at most 127.
        Resolution::Binary(n) => (raw * 1_000_000_000) >> n,
    };
    let total = ns + i128::from(offset_secs) * 1_000_000_000;
    Timestamp(total.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

#[derive(Debug, Clone)]
struct Iface {
    /// Id in the event stream.
    id: u32,
    snaplen: u32,
    res: Resolution,
    offset_secs: i64,
}

pub struct Reader<'a> {
    /// The bytes in view and the position in them.
    v: View<'a>,
    first: u32,
    /// Interfaces announced so far in the whole file.
    seen: u32,
    done: bool,
    /// A section header has been read; block words use `big_endian`.
    in_section: bool,
    big_endian: bool,
    /// Interfaces of the current section, by their index in the section.
    ifaces: Vec<Iface>,
    /// Pids of the current section's process information blocks, by index.
    pibs: Vec<u32>,
    /// Processes already announced from ptcpdump comments: pid → names seen with it.
    announced: HashMap<u32, Vec<String>>,
    /// A packet held back while the process event it needs goes first.
    pending: Option<PacketEvent<'a>>,
    /// Events of a tuntrace recording's custom block, handed out one per `next`.
    queued: std::collections::VecDeque<Event<'static>>,
    /// This is a tuntrace recording: its own records announce processes, so the process blocks
    /// and comments it also writes for other tools are not announced a second time.
    recording: bool,
    /// Simple packet blocks carry no time; they get the last time seen so reports stay ordered.
    last_ts: Timestamp,
}

impl<'a> Reader<'a> {
    /// Byte offset of the next record or block: everything before it has been delivered.
    pub fn position(&self) -> usize {
        self.v.pos
    }

    /// [`Reader::position`] as an offset in the file.
    pub fn file_position(&self) -> u64 {
        self.v.file_position()
    }

    /// A reader of the whole file `b`.
    pub fn new(b: &'a [u8], first: u32) -> Self {
        Self::window(b, false, first)
    }

    /// A reader of the file's first bytes `b`; `more` when the file goes on past them.
    pub fn window(b: &'a [u8], more: bool, first: u32) -> Self {
        Reader {
            v: View::new(b, more, 0),
            first,
            seen: 0,
            done: false,
            in_section: false,
            big_endian: false,
            ifaces: Vec::new(),
            pibs: Vec::new(),
            announced: HashMap::new(),
            pending: None,
            queued: Default::default(),
            recording: false,
            last_ts: Timestamp(0),
        }
    }

    pub fn interfaces_seen(&self) -> u32 {
        self.seen
    }

    /// True when reading stopped at the end of a window that has more of the file after it:
    /// [`Reader::detach`], refill, [`Reader::attach`] and go on.
    pub fn starved(&self) -> bool {
        self.v.starved
    }

    /// The reader's state without its bytes, to outlive the window's buffer. Only called
    /// once `next` returned `None` (so no packet is held back).
    pub fn detach(self) -> Reader<'static> {
        debug_assert!(self.pending.is_none());
        Reader {
            v: self.v.detach(),
            first: self.first,
            seen: self.seen,
            done: self.done,
            in_section: self.in_section,
            big_endian: self.big_endian,
            ifaces: self.ifaces,
            pibs: self.pibs,
            announced: self.announced,
            pending: None,
            queued: self.queued,
            recording: self.recording,
            last_ts: self.last_ts,
        }
    }

    /// Go on in a new window `b` that starts at the file offset of [`Reader::position`] in
    /// the old one.
    pub fn attach(self, b: &'a [u8], more: bool) -> Self {
        Reader { v: self.v.attach(b, more), ..self }
    }

    pub fn next(&mut self) -> Option<Result<Event<'a>, Damage>> {
        if let Some(p) = self.pending.take() {
            return Some(Ok(Event::Packet(p)));
        }
        if let Some(e) = self.queued.pop_front() {
            return Some(Ok(e));
        }
        // Every pass either consumes a block of at least 12 bytes, ends the file or ends
        // the window.
        while !self.done && !self.v.starved {
            match self.block() {
                Ok(Some(ev)) => return Some(Ok(ev)),
                Ok(None) => {}
                Err(mut d) => {
                    // Blocks name window positions; the file offset is what a person can use.
                    d.offset += self.v.base;
                    self.done = true;
                    return Some(Err(d));
                }
            }
        }
        None
    }

    #[inline]
    fn u32_at(&self, b: &[u8], at: usize) -> u32 {
        read_u32(b, at, self.big_endian)
    }

    /// Frame the block at `self.v.pos` and act on it; `Ok(None)` when it produced no event.
    fn block(&mut self) -> Result<Option<Event<'a>>, Damage> {
        let at = self.v.pos;
        let rest = self.v.b.get(at..).unwrap_or_default();
        if rest.is_empty() {
            if self.v.more {
                self.v.starved = true;
            } else {
                self.done = true;
            }
            return Ok(None);
        }
        let Some(head) = rest.first_chunk::<BLOCK_OVERHEAD>() else {
            if self.v.more {
                self.v.starved = true;
                return Ok(None);
            }
            return Err(damage(at, format!("block header truncated (12 bytes needed, {} left)", rest.len())));
        };
        if head[..4] == SHB_TYPE_BYTES {
            // The byte-order magic decides how this and all following blocks are read.
            self.big_endian = match [head[8], head[9], head[10], head[11]] {
                BOM_LE => false,
                BOM_BE => true,
                m => {
                    return Err(damage(
                        at,
                        format!(
                            "section header byte-order magic {:02x}{:02x}{:02x}{:02x} is neither 1a2b3c4d nor 4d3c2b1a",
                            m[0], m[1], m[2], m[3]
                        ),
                    ))
                }
            };
            self.in_section = true;
        } else if !self.in_section {
            return Err(damage(at, "file does not start with a pcapng section header block".into()));
        }
        let btype = self.u32_at(head, 0);
        let len32 = self.u32_at(head, 4);
        let len = usize::try_from(len32).unwrap_or(usize::MAX);
        if len < BLOCK_OVERHEAD {
            return Err(damage(at, format!("block length {len32} is shorter than the 12-byte minimum")));
        }
        if len % 4 != 0 {
            return Err(damage(at, format!("block length {len32} is not a multiple of 4")));
        }
        if len > super::MAX_RECORD {
            return Err(damage(
                at,
                format!("block length {len32} is more than the {} a block may hold", super::MAX_RECORD),
            ));
        }
        let Some(blk) = rest.get(..len) else {
            if self.v.more {
                self.v.starved = true;
                return Ok(None);
            }
            return Err(damage(at, format!("block truncated ({len32} bytes claimed, {} left)", rest.len())));
        };
        let trailer = self.u32_at(blk, len - 4);
        if trailer != len32 {
            return Err(damage(at, format!("block length {len32} does not match trailer {trailer}")));
        }
        self.v.pos = at + len;
        match btype {
            SHB => self.section(at, blk),
            IDB => self.interface(at, blk).map(Some),
            EPB | PB => self.packet(at, blk, btype == PB),
            SPB => self.simple_packet(at, blk),
            PIB => self.process(at, blk).map(|e| (!self.recording).then_some(e)),
            recording::CUSTOM_BLOCK | recording::CUSTOM_BLOCK_NOCOPY => self.custom(at, blk),
            // NRB, ISB, DSB, systemd journal, others' custom blocks, anything newer: nothing we use.
            _ => Ok(None),
        }
    }

    fn section(&mut self, at: usize, blk: &'a [u8]) -> Result<Option<Event<'a>>, Damage> {
        let (_, shb) = parse_sectionheaderblock(blk)
            .map_err(|_| damage(at, format!("section header block of {} bytes is malformed (28 needed)", blk.len())))?;
        // Type, length, byte-order magic, version, section length: 24 bytes, then options.
        let opts = blk.get(24..blk.len() - 4).unwrap_or_default();
        Options::check(opts, self.big_endian, "section header block").map_err(|d| damage(at, d))?;
        if shb.major_version != 1 {
            return Err(damage(
                at,
                format!("pcapng version {}.{} is not supported (only 1.x)", shb.major_version, shb.minor_version),
            ));
        }
        self.ifaces.clear();
        self.pibs.clear();
        Ok(None)
    }

    fn interface(&mut self, at: usize, blk: &'a [u8]) -> Result<Event<'a>, Damage> {
        let parsed = if self.big_endian {
            parse_interfacedescriptionblock_be(blk)
        } else {
            parse_interfacedescriptionblock_le(blk)
        };
        let (_, idb) = parsed.map_err(|_| {
            damage(at, format!("interface description block of {} bytes is malformed (20 needed)", blk.len()))
        })?;
        // Type, length, link type, reserved, snaplen: 16 bytes, then options.
        let opts = blk.get(16..blk.len() - 4).unwrap_or_default();
        Options::check(opts, self.big_endian, "interface description block").map_err(|d| damage(at, d))?;
        // The options that decide how every later timestamp is read must be whole, as libpcap
        // requires (tcpdump: "has if_tsresol option with length 0 != 1"): a guessed clock
        // would misdate every packet of the interface.
        let mut seen_res = false;
        let mut seen_offset = false;
        for (code, v) in Options::new(opts, self.big_endian) {
            let (name, want, seen) = match code {
                OPT_IF_TSRESOL => ("if_tsresol", 1, &mut seen_res),
                OPT_IF_TSOFFSET => ("if_tsoffset", 8, &mut seen_offset),
                _ => continue,
            };
            if v.len() != want {
                return Err(damage(
                    at,
                    format!("interface description block: {name} option of length {} ({want} expected)", v.len()),
                ));
            }
            if std::mem::replace(seen, true) {
                return Err(damage(at, format!("interface description block: more than one {name} option")));
            }
        }
        let mut info = InterfaceInfo {
            id: self.first.saturating_add(self.seen),
            linktype: linktype::canonical(u32::from(idb.linktype.0 as u16)),
            ..InterfaceInfo::default()
        };
        let mut iface = Iface { id: info.id, snaplen: idb.snaplen, res: Resolution::Decimal(6), offset_secs: 0 };
        for opt in &idb.options {
            let Ok(v) = opt.as_bytes() else { continue };
            match opt.code.0 {
                OPT_IF_NAME if info.name.is_none() => info.name = text(v),
                OPT_IF_TSRESOL => {
                    if let Some(&r) = v.first() {
                        iface.res = Resolution::from_option(r);
                    }
                }
                OPT_IF_TSOFFSET => {
                    if let Some(w) = v.first_chunk::<8>() {
                        iface.offset_secs =
                            if self.big_endian { i64::from_be_bytes(*w) } else { i64::from_le_bytes(*w) };
                    }
                }
                OPT_IF_IPV4 => {
                    if let Some(a) = v.first_chunk::<4>() {
                        info.addresses.push(std::net::Ipv4Addr::from(*a).to_string());
                    }
                }
                OPT_IF_IPV6 => {
                    if let Some(a) = v.first_chunk::<16>() {
                        info.addresses.push(std::net::Ipv6Addr::from(*a).to_string());
                    }
                }
                _ => {}
            }
        }
        self.ifaces.push(iface);
        self.seen = self.seen.saturating_add(1);
        Ok(Event::Interface(Box::new(info)))
    }

    fn process(&mut self, at: usize, blk: &'a [u8]) -> Result<Event<'a>, Damage> {
        let parsed =
            if self.big_endian { parse_processinformationblock_be(blk) } else { parse_processinformationblock_le(blk) };
        let (_, pib) = parsed.map_err(|_| {
            damage(at, format!("process information block of {} bytes is malformed (16 needed)", blk.len()))
        })?;
        // Type, length, pid: 12 bytes, then options.
        let opts = blk.get(12..blk.len() - 4).unwrap_or_default();
        Options::check(opts, self.big_endian, "process information block").map_err(|d| damage(at, d))?;
        let mut p = ProcessInfo { pid: pib.process_id, ..ProcessInfo::default() };
        for opt in &pib.options {
            let Ok(v) = opt.as_bytes() else { continue };
            match opt.code.0 {
                OPT_PIB_NAME if p.comm.is_none() => p.comm = text(v),
                OPT_PIB_PATH if p.exe.is_none() => p.exe = text(v),
                _ => {}
            }
        }
        self.pibs.push(p.pid);
        Ok(Event::Process(Box::new(p)))
    }

    fn iface(&self, at: usize, index: u32) -> Result<&Iface, Damage> {
        usize::try_from(index).ok().and_then(|i| self.ifaces.get(i)).ok_or_else(|| {
            damage(
                at,
                format!("packet refers to interface {index}, but its section describes only {}", self.ifaces.len()),
            )
        })
    }

    /// Enhanced Packet Block, or the obsolete Packet Block (16-bit interface id, then 16 bits
    /// of drop count; otherwise laid out alike, its flags option has the same code and bits).
    fn packet(&mut self, at: usize, blk: &'a [u8], obsolete: bool) -> Result<Option<Event<'a>>, Damage> {
        let kind = if obsolete { "packet block" } else { "enhanced packet block" };
        let Some(body) = blk.get(PACKET_HEADER..blk.len() - 4) else {
            return Err(damage(at, format!("{kind} of {} bytes is too short (32 needed)", blk.len())));
        };
        let if_index = if obsolete { u32::from(read_u16(blk, 8, self.big_endian)) } else { self.u32_at(blk, 8) };
        let raw_ts = (u64::from(self.u32_at(blk, 12)) << 32) | u64::from(self.u32_at(blk, 16));
        let caplen = self.u32_at(blk, 20);
        let orig_len = self.u32_at(blk, 24);
        let n = usize::try_from(caplen).unwrap_or(usize::MAX);
        let Some(data) = body.get(..n) else {
            return Err(damage(
                at,
                format!("{kind} claims {caplen} captured bytes, more than the {} it holds", body.len()),
            ));
        };
        let iface = self.iface(at, if_index)?;
        let ts = timestamp(raw_ts, iface.res, iface.offset_secs);
        let mut p = PacketEvent {
            ts,
            iface: iface.id,
            direction: Direction::Unknown,
            orig_len,
            data,
            pid: None,
            effective_pid: None,
            cookie: 0,
            sampled: false,
        };
        self.last_ts = ts;
        let opts = body.get(n.saturating_add(3) & !3..).unwrap_or_default();
        let mut comment_owner = None;
        let mut options = Options::new(opts, self.big_endian);
        for (code, v) in options.by_ref() {
            match code {
                OPT_EPB_FLAGS => {
                    if let Some(w) = v.first_chunk::<4>() {
                        let flags = if self.big_endian { u32::from_be_bytes(*w) } else { u32::from_le_bytes(*w) };
                        p.direction = match flags & 0b11 {
                            0b01 => Direction::In,
                            0b10 => Direction::Out,
                            _ => Direction::Unknown,
                        };
                    }
                }
                OPT_EPB_PIB_INDEX => p.pid = self.pib_pid(v),
                OPT_EPB_EFFECTIVE_PIB_INDEX => p.effective_pid = self.pib_pid(v),
                OPT_COMMENT if comment_owner.is_none() => comment_owner = ptcpdump_owner(v),
                // A tuntrace recording's own record of the packet: its process, socket and
                // whether the kernel counted it (then the packet is a sample, not counted again).
                recording::OPT_CUSTOM_BINARY if v.len() >= 4 && self.u32_at(v, 0) == recording::PEN => {
                    if let Some(r) = PacketRecord::decode(&v[4..]) {
                        p.pid = r.pid.or(p.pid);
                        p.cookie = r.cookie;
                        p.sampled = r.sampled;
                    }
                }
                _ => {}
            }
        }
        if let Some(d) = options.damage {
            return Err(damage(at, format!("{kind}: {d}")));
        }
        if let Some(owner) = comment_owner.filter(|_| !self.recording) {
            if p.pid.is_none() {
                p.pid = Some(owner.pid);
            }
            if let Some(proc_event) = self.announce(&owner) {
                self.pending = Some(p);
                return Ok(Some(proc_event));
            }
        }
        Ok(Some(Event::Packet(p)))
    }

    /// A Custom Block: a tuntrace recording's events (our PEN), handed out in order; others'
    /// custom blocks are skipped.
    fn custom(&mut self, at: usize, blk: &'a [u8]) -> Result<Option<Event<'a>>, Damage> {
        let Some(body) = blk.get(8..blk.len() - 4) else { return Ok(None) };
        if body.len() < 4 || self.u32_at(body, 0) != recording::PEN {
            return Ok(None);
        }
        // The JSON runs to the block's end; padding (NULs) may follow it.
        let data = &body[4..];
        let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        let records = recording::decode(&data[..end]).map_err(|why| damage(at, why))?;
        self.recording = true;
        self.queued.extend(records.iter().filter_map(|r| r.event(self.first)));
        Ok(self.queued.pop_front())
    }

    fn simple_packet(&mut self, at: usize, blk: &'a [u8]) -> Result<Option<Event<'a>>, Damage> {
        let Some(body) = blk.get(12..blk.len() - 4) else {
            return Err(damage(at, format!("simple packet block of {} bytes is too short (16 needed)", blk.len())));
        };
        let orig_len = self.u32_at(blk, 8);
        let Some(iface) = self.ifaces.first() else {
            return Err(damage(at, "simple packet block before any interface description".into()));
        };
        // The block keeps no captured length: it is the wire length cut at interface 0's
        // snaplen (0 = unlimited), and never more than the block holds (the rest is padding).
        let mut caplen = orig_len;
        if iface.snaplen != 0 {
            caplen = caplen.min(iface.snaplen);
        }
        let n = usize::try_from(caplen).unwrap_or(usize::MAX).min(body.len());
        Ok(Some(Event::Packet(PacketEvent {
            ts: self.last_ts,
            iface: iface.id,
            direction: Direction::Unknown,
            orig_len,
            data: &body[..n],
            pid: None,
            effective_pid: None,
            cookie: 0,
            sampled: false,
        })))
    }

    fn pib_pid(&self, v: &[u8]) -> Option<u32> {
        let w = v.first_chunk::<4>()?;
        let index = if self.big_endian { u32::from_be_bytes(*w) } else { u32::from_le_bytes(*w) };
        self.pibs.get(usize::try_from(index).ok()?).copied()
    }

    /// The process event for a comment-named owner, unless this (pid, name) was announced.
    fn announce(&mut self, owner: &CommentOwner<'_>) -> Option<Event<'a>> {
        let comm = owner.cmd.map(basename).unwrap_or("");
        let names = self.announced.entry(owner.pid).or_default();
        if names.iter().any(|n| n == comm) {
            return None;
        }
        names.push(comm.to_owned());
        Some(Event::Process(Box::new(ProcessInfo {
            pid: owner.pid,
            comm: (!comm.is_empty()).then(|| comm.to_owned()),
            exe: owner.cmd.filter(|c| c.contains('/')).map(str::to_owned),
            cmdline: owner.args.filter(|a| !a.is_empty()).map(str::to_owned),
            uid: None,
            ..Default::default()
        })))
    }
}

fn damage(offset: usize, what: String) -> Damage {
    Damage { offset: offset as u64, what }
}

#[inline]
fn read_u32(b: &[u8], at: usize, be: bool) -> u32 {
    match b.get(at..).and_then(|s| s.first_chunk::<4>()) {
        Some(w) if be => u32::from_be_bytes(*w),
        Some(w) => u32::from_le_bytes(*w),
        None => 0,
    }
}

#[inline]
fn read_u16(b: &[u8], at: usize, be: bool) -> u16 {
    match b.get(at..).and_then(|s| s.first_chunk::<2>()) {
        Some(w) if be => u16::from_be_bytes(*w),
        Some(w) => u16::from_le_bytes(*w),
        None => 0,
    }
}

/// An option string: writers pad with NULs (Apple counts one into the length), some do not
/// write UTF-8.
fn text(v: &[u8]) -> Option<String> {
    let s = String::from_utf8_lossy(v);
    let s = s.trim_end_matches('\0').trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Options of a block, without allocating: (code, value without padding). Stops at the
/// end-of-options marker or at the first option that does not fit, which [`Options::damage`]
/// then describes.
struct Options<'a> {
    rest: &'a [u8],
    big_endian: bool,
    /// Why the walk stopped short: an option header or value running past the block's end.
    damage: Option<String>,
}

impl<'a> Options<'a> {
    fn new(rest: &'a [u8], big_endian: bool) -> Self {
        Options { rest, big_endian, damage: None }
    }

    /// Walk every option of `rest` only to check that each fits in the block: a length that
    /// runs past the block is damage, as tshark and tcpdump call it, not a shorter block.
    fn check(rest: &'a [u8], big_endian: bool, block: &str) -> Result<(), String> {
        let mut o = Options::new(rest, big_endian);
        o.by_ref().for_each(drop);
        o.damage.map_or(Ok(()), |d| Err(format!("{block}: {d}")))
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = (u16, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        if self.rest.len() < 4 {
            self.damage = Some(format!("option header truncated ({} bytes left, 4 needed)", self.rest.len()));
            self.rest = &[];
            return None;
        }
        let code = read_u16(self.rest, 0, self.big_endian);
        let len = usize::from(read_u16(self.rest, 2, self.big_endian));
        if code == OPT_END {
            self.rest = &[];
            return None;
        }
        match self.rest.get(4..4 + len) {
            Some(v) => {
                let padded = 4 + ((len + 3) & !3);
                self.rest = self.rest.get(padded..).unwrap_or_default();
                Some((code, v))
            }
            None => {
                self.damage = Some(format!(
                    "option {code} of length {len} runs past the end of its block ({} bytes left)",
                    self.rest.len() - 4
                ));
                self.rest = &[];
                None
            }
        }
    }
}

/// The owner named by a ptcpdump packet comment.
#[derive(Debug, PartialEq, Eq)]
struct CommentOwner<'c> {
    pid: u32,
    cmd: Option<&'c str>,
    args: Option<&'c str>,
}

/// Parse `PID: 1234\nCmd: /usr/bin/curl\nArgs: curl -s x` (lines in any order, others ignored).
fn ptcpdump_owner(v: &[u8]) -> Option<CommentOwner<'_>> {
    let s = std::str::from_utf8(v).ok()?;
    let mut owner = CommentOwner { pid: 0, cmd: None, args: None };
    let mut pid = None;
    for line in s.lines() {
        if let Some(x) = line.strip_prefix("PID:") {
            pid = pid.or_else(|| x.trim().parse::<u32>().ok());
        } else if let Some(x) = line.strip_prefix("Cmd:") {
            owner.cmd = owner.cmd.or(Some(x.trim()).filter(|c| !c.is_empty()));
        } else if let Some(x) = line.strip_prefix("Args:") {
            owner.args = owner.args.or(Some(x.trim()));
        }
    }
    owner.pid = pid?;
    Some(owner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builder of pcapng bytes in either byte order.
    struct Ng {
        be: bool,
        v: Vec<u8>,
    }

    impl Ng {
        fn new(be: bool) -> Self {
            Ng { be, v: Vec::new() }
        }
        fn u16(&self, x: u16) -> [u8; 2] {
            if self.be {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        }
        fn u32(&self, x: u32) -> [u8; 4] {
            if self.be {
                x.to_be_bytes()
            } else {
                x.to_le_bytes()
            }
        }
        fn opt(&self, code: u16, val: &[u8]) -> Vec<u8> {
            let mut o = Vec::new();
            o.extend_from_slice(&self.u16(code));
            o.extend_from_slice(&self.u16(val.len() as u16));
            o.extend_from_slice(val);
            while o.len() % 4 != 0 {
                o.push(0);
            }
            o
        }
        fn block(&mut self, btype: u32, body: &[u8]) -> &mut Self {
            let len = 12 + body.len() as u32;
            assert_eq!(len % 4, 0);
            let (t, l) = (self.u32(btype), self.u32(len));
            self.v.extend_from_slice(&t);
            self.v.extend_from_slice(&l);
            self.v.extend_from_slice(body);
            self.v.extend_from_slice(&l);
            self
        }
        fn shb(&mut self) -> &mut Self {
            let mut body = self.u32(0x1A2B_3C4D).to_vec();
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&(-1i64).to_le_bytes());
            self.block(SHB, &body)
        }
        fn idb(&mut self, lt: u16, snaplen: u32, opts: &[(u16, &[u8])]) -> &mut Self {
            let mut body = self.u16(lt).to_vec();
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(&self.u32(snaplen));
            for (c, v) in opts {
                body.extend(self.opt(*c, v));
            }
            if !opts.is_empty() {
                body.extend(self.opt(0, &[]));
            }
            self.block(IDB, &body)
        }
        fn epb(&mut self, ifid: u32, ts: u64, data: &[u8], orig: u32, opts: &[(u16, Vec<u8>)]) -> &mut Self {
            let mut body = Vec::new();
            for w in [ifid, (ts >> 32) as u32, ts as u32, data.len() as u32, orig] {
                body.extend_from_slice(&self.u32(w));
            }
            body.extend_from_slice(data);
            while body.len() % 4 != 0 {
                body.push(0);
            }
            for (c, v) in opts {
                body.extend(self.opt(*c, v));
            }
            self.block(EPB, &body)
        }
        fn pib(&mut self, pid: u32, name: &str) -> &mut Self {
            let mut body = self.u32(pid).to_vec();
            let mut n = name.as_bytes().to_vec();
            n.push(0);
            body.extend(self.opt(2, &n));
            body.extend(self.opt(0, &[]));
            self.block(PIB, &body)
        }
    }

    fn all(b: &[u8], first: u32) -> Vec<Result<Event<'_>, Damage>> {
        let mut r = Reader::new(b, first);
        let mut out = Vec::new();
        while let Some(e) = r.next() {
            out.push(e);
            assert!(out.len() < 1_000_000, "reader does not terminate");
        }
        out
    }

    fn packets<'a>(ev: &[Result<Event<'a>, Damage>]) -> Vec<PacketEvent<'a>> {
        ev.iter()
            .filter_map(|e| match e {
                Ok(Event::Packet(p)) => Some(*p),
                _ => None,
            })
            .collect()
    }

    fn ifaces(ev: &[Result<Event<'_>, Damage>]) -> Vec<InterfaceInfo> {
        ev.iter()
            .filter_map(|e| match e {
                Ok(Event::Interface(i)) => Some((**i).clone()),
                _ => None,
            })
            .collect()
    }

    /// The damage that ends reading `b`, and the packets before it.
    fn stops_at(b: &[u8]) -> (Damage, usize) {
        let ev = all(b, 0);
        let n = packets(&ev).len();
        (ev.last().unwrap().as_ref().expect_err("damage expected").clone(), n)
    }

    #[test]
    fn option_damage_is_container_damage() {
        for be in [false, true] {
            // A good packet first: what came before the damage is delivered.
            let mut ng = Ng::new(be);
            ng.shb().idb(1, 0, &[(OPT_IF_NAME, b"eth0")]).epb(0, 0, &[1, 2, 3, 4], 4, &[]);
            let good = ng.v.clone();
            let at = good.len() as u64;
            let with = |mut extra: Ng| {
                let mut b = good.clone();
                b.append(&mut extra.v);
                b
            };
            // An IDB whose name option claims 200 bytes where 4 are left.
            let mut x = Ng::new(be);
            let mut body = x.u16(1).to_vec();
            body.extend_from_slice(&[0, 0]);
            body.extend_from_slice(&x.u32(0));
            body.extend_from_slice(&x.u16(OPT_IF_NAME));
            body.extend_from_slice(&x.u16(200));
            body.extend_from_slice(b"eth1");
            x.block(IDB, &body);
            let (d, n) = stops_at(&with(x));
            assert_eq!(n, 1);
            assert_eq!(
                d,
                Damage {
                    offset: at,
                    what: "interface description block: option 2 of length 200 runs past the end of its block (4 bytes left)"
                        .into()
                }
            );
            // if_tsresol of 0 bytes, if_tsoffset of 2, if_tsresol of 2, and two if_tsresol.
            type Opts<'o> = &'o [(u16, &'o [u8])];
            let cases: [(Opts, &str); 4] = [
                (&[(OPT_IF_TSRESOL, b"")], "if_tsresol option of length 0 (1 expected)"),
                (&[(OPT_IF_TSOFFSET, b"\x01\x00")], "if_tsoffset option of length 2 (8 expected)"),
                (&[(OPT_IF_TSRESOL, b"\x06\x09")], "if_tsresol option of length 2 (1 expected)"),
                (&[(OPT_IF_TSRESOL, b"\x06"), (OPT_IF_TSRESOL, b"\x09")], "more than one if_tsresol option"),
            ];
            for (opts, what) in cases {
                let mut x = Ng::new(be);
                x.idb(1, 0, opts);
                let (d, n) = stops_at(&with(x));
                assert_eq!((d.offset, n), (at, 1), "{what}");
                assert_eq!(d.what, format!("interface description block: {what}"));
            }
            // An EPB option running past its block.
            let mut x = Ng::new(be);
            x.epb(0, 0, &[9, 9, 9, 9], 4, &[]);
            let cut = x.v.len() - 4;
            let mut opt = x.u16(OPT_COMMENT).to_vec();
            opt.extend_from_slice(&x.u16(100));
            opt.extend_from_slice(b"abcd");
            x.v.splice(cut..cut, opt);
            let len = x.u32(x.v.len() as u32);
            x.v[4..8].copy_from_slice(&len);
            let end = x.v.len();
            x.v[end - 4..].copy_from_slice(&len);
            let (d, n) = stops_at(&with(x));
            assert_eq!((d.offset, n), (at, 1));
            assert_eq!(
                d.what,
                "enhanced packet block: option 1 of length 100 runs past the end of its block (4 bytes left)"
            );
        }
        // The section header's own options, damaged: damage at offset 0, nothing delivered.
        let mut ng = Ng::new(false);
        ng.shb();
        let cut = ng.v.len() - 4;
        ng.v.splice(cut..cut, [4, 0, 44, 1, b'l', b'i', b'n', b'x']);
        let len = (ng.v.len() as u32).to_le_bytes();
        ng.v[4..8].copy_from_slice(&len);
        let end = ng.v.len();
        ng.v[end - 4..].copy_from_slice(&len);
        ng.idb(1, 0, &[]).epb(0, 0, &[1], 1, &[]);
        let (d, n) = stops_at(&ng.v);
        assert_eq!((d.offset, n), (0, 0));
        assert_eq!(
            d.what,
            "section header block: option 4 of length 300 runs past the end of its block (4 bytes left)"
        );
        // A well-formed if_tsresol and if_tsoffset are still read.
        let mut ok = Ng::new(false);
        ok.shb().idb(1, 0, &[(OPT_IF_TSRESOL, b"\x09"), (OPT_IF_TSOFFSET, &7i64.to_le_bytes())]).epb(
            0,
            5,
            &[1],
            1,
            &[],
        );
        let ev = all(&ok.v, 0);
        assert!(ev.iter().all(Result::is_ok));
        assert_eq!(packets(&ev)[0].ts, Timestamp(7_000_000_005));
    }

    #[test]
    fn two_sections_of_different_byte_order() {
        let mut le = Ng::new(false);
        le.shb().idb(1, 65535, &[(2, b"eth0")]).idb(101, 8192, &[]).epb(1, 1_000_000, &[0x45, 0, 0, 20], 20, &[]);
        let mut be = Ng::new(true);
        be.shb().idb(0, 0, &[(2, b"utun3\0")]).epb(0, 2_500_000, &[2, 0, 0, 0, 0x45], 5, &[]);
        let mut b = le.v.clone();
        b.extend_from_slice(&be.v);
        let mut r = Reader::new(&b, 10);
        let mut ev = Vec::new();
        while let Some(e) = r.next() {
            ev.push(e);
        }
        assert_eq!(r.interfaces_seen(), 3);
        let ifs = ifaces(&ev);
        assert_eq!(
            ifs.iter().map(|i| (i.id, i.linktype, i.name.clone())).collect::<Vec<_>>(),
            vec![(10, 1, Some("eth0".into())), (11, 101, None), (12, 0, Some("utun3".into()))]
        );
        let p = packets(&ev);
        assert_eq!(p.len(), 2);
        // Section 2 restarts numbering: its interface 0 is stream id 12.
        assert_eq!((p[0].iface, p[0].ts, p[0].data.len(), p[0].orig_len), (11, Timestamp(1_000_000_000), 4, 20));
        assert_eq!((p[1].iface, p[1].ts, p[1].data), (12, Timestamp(2_500_000_000), &[2u8, 0, 0, 0, 0x45][..]));
        assert!(ev.iter().all(|e| e.is_ok()));
    }

    #[test]
    fn tsresol_binary_decimal_and_offset() {
        let mut ng = Ng::new(false);
        // 2^-10 s units: 1536 units = 1.5 s; offset 100 s.
        ng.shb()
            .idb(1, 0, &[(OPT_IF_TSRESOL, &[0x8a]), (OPT_IF_TSOFFSET, &100i64.to_le_bytes())])
            .idb(1, 0, &[(OPT_IF_TSRESOL, &[9])])
            .idb(1, 0, &[(OPT_IF_TSRESOL, &[3])])
            .epb(0, 1536, &[1], 1, &[])
            .epb(0, 1, &[1], 1, &[])
            .epb(1, 1_700_000_000_123_456_789, &[1], 1, &[])
            .epb(2, 42, &[1], 1, &[]);
        let p = packets(&all(&ng.v, 0));
        assert_eq!(p[0].ts, Timestamp(101_500_000_000));
        // 1/1024 s = 976562.5 ns, floored.
        assert_eq!(p[1].ts, Timestamp(100_000_976_562));
        assert_eq!(p[2].ts, Timestamp(1_700_000_000_123_456_789));
        assert_eq!(p[3].ts, Timestamp(42_000_000));
    }

    #[test]
    fn timestamp_extremes_do_not_overflow() {
        assert_eq!(timestamp(u64::MAX, Resolution::Decimal(0), 0), Timestamp(i64::MAX));
        assert_eq!(timestamp(u64::MAX, Resolution::Decimal(127), -5), Timestamp(-5_000_000_000));
        assert_eq!(timestamp(u64::MAX, Resolution::Binary(127), i64::MIN), Timestamp(i64::MIN));
        assert_eq!(timestamp(3, Resolution::Binary(0), 0), Timestamp(3_000_000_000));
    }

    #[test]
    fn simple_packet_block_uses_idb0_snaplen() {
        let mut ng = Ng::new(false);
        ng.shb().idb(1, 4, &[]).epb(0, 7_000_000, &[1, 2], 2, &[]);
        // SPB: original length 6, 6 data bytes + 2 padding; snaplen 4 cuts to 4.
        let mut body = ng.u32(6).to_vec();
        body.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0, 0]);
        ng.block(SPB, &body);
        let p = packets(&all(&ng.v, 0));
        assert_eq!(p.len(), 2);
        assert_eq!((p[1].data, p[1].orig_len, p[1].iface), (&[1u8, 2, 3, 4][..], 6, 0));
        assert_eq!(p[1].ts, Timestamp(7_000_000_000));

        // Without a snaplen the padding is still not packet data.
        let mut ng = Ng::new(true);
        ng.shb().idb(1, 0, &[]);
        let mut body = ng.u32(3).to_vec();
        body.extend_from_slice(&[9, 8, 7, 0]);
        ng.block(SPB, &body);
        assert_eq!(packets(&all(&ng.v, 0))[0].data, &[9, 8, 7]);
    }

    #[test]
    fn obsolete_packet_block() {
        let mut ng = Ng::new(true);
        ng.shb().idb(1, 0, &[]).idb(1, 0, &[]);
        let mut body = ng.u16(1).to_vec();
        body.extend_from_slice(&ng.u16(0));
        for w in [0u32, 5_000_000, 3, 3] {
            body.extend_from_slice(&ng.u32(w));
        }
        body.extend_from_slice(&[7, 7, 7, 0]);
        body.extend(ng.opt(OPT_EPB_FLAGS, &ng.u32(2)));
        ng.block(PB, &body);
        let p = packets(&all(&ng.v, 0));
        assert_eq!(
            (p[0].iface, p[0].ts, p[0].data, p[0].direction),
            (1, Timestamp(5_000_000_000), &[7u8, 7, 7][..], Direction::Out)
        );
    }

    #[test]
    fn epb_flags_direction() {
        for be in [false, true] {
            let mut ng = Ng::new(be);
            let (i, o, n) = (ng.u32(1).to_vec(), ng.u32(2).to_vec(), ng.u32(0x10).to_vec());
            ng.shb().idb(1, 0, &[]);
            ng.epb(0, 0, &[1], 1, &[(OPT_EPB_FLAGS, i)]).epb(0, 0, &[1], 1, &[(OPT_EPB_FLAGS, o)]);
            ng.epb(0, 0, &[1], 1, &[(OPT_EPB_FLAGS, n)]).epb(0, 0, &[1], 1, &[]);
            let d: Vec<_> = packets(&all(&ng.v, 0)).iter().map(|p| p.direction).collect();
            assert_eq!(d, vec![Direction::In, Direction::Out, Direction::Unknown, Direction::Unknown], "be={be}");
        }
    }

    #[test]
    fn apple_process_information_blocks() {
        let mut ng = Ng::new(false);
        ng.shb().idb(1, 0, &[(2, b"en0")]).pib(1500, "network_test").pib(0, "kernel_task");
        let (zero, one, nine) = (ng.u32(0).to_vec(), ng.u32(1).to_vec(), ng.u32(9).to_vec());
        ng.epb(0, 0, &[1], 1, &[(OPT_EPB_PIB_INDEX, one.clone()), (OPT_EPB_EFFECTIVE_PIB_INDEX, zero.clone())]);
        ng.epb(0, 0, &[1], 1, &[(OPT_EPB_PIB_INDEX, zero), (OPT_EPB_EFFECTIVE_PIB_INDEX, nine)]);
        // A new section forgets the old PIBs.
        ng.shb().idb(1, 0, &[]).epb(0, 0, &[1], 1, &[(OPT_EPB_PIB_INDEX, one)]);
        let ev = all(&ng.v, 0);
        let procs: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                Ok(Event::Process(p)) => Some((p.pid, p.comm.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(procs, vec![(1500, Some("network_test".into())), (0, Some("kernel_task".into()))]);
        let p = packets(&ev);
        assert_eq!((p[0].pid, p[0].effective_pid), (Some(0), Some(1500)));
        assert_eq!((p[1].pid, p[1].effective_pid), (Some(1500), None));
        assert_eq!((p[2].pid, p[2].iface), (None, 1));
    }

    #[test]
    fn ptcpdump_comments_name_the_owner_once() {
        let mut ng = Ng::new(false);
        ng.shb().idb(1, 0, &[(2, b"lo")]);
        let c1 = b"PID: 1234\nCmd: /usr/bin/curl\nArgs: curl -s http://198.18.0.1/".to_vec();
        let parent = b"ParentPID: 1\nParentCmd: /sbin/init\nParentArgs: ".to_vec();
        let c2 = b"PID: 77\nCmd: /usr/lib/ipsec/charon\nArgs: ".to_vec();
        ng.epb(0, 0, &[1], 1, &[(OPT_COMMENT, c1.clone()), (OPT_COMMENT, parent.clone())]);
        ng.epb(0, 0, &[2], 1, &[(OPT_COMMENT, c1)]);
        ng.epb(0, 0, &[3], 1, &[(OPT_COMMENT, parent)]);
        ng.epb(0, 0, &[4], 1, &[(OPT_COMMENT, c2)]);
        let ev = all(&ng.v, 0);
        let kinds: Vec<String> = ev
            .iter()
            .map(|e| match e {
                Ok(Event::Interface(_)) => "if".to_string(),
                Ok(Event::Process(p)) => {
                    format!("proc {} {:?} {:?} {:?}", p.pid, p.comm, p.exe, p.cmdline)
                }
                Ok(Event::Packet(p)) => format!("pkt {:?} {}", p.pid, p.data[0]),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "if",
                "proc 1234 Some(\"curl\") Some(\"/usr/bin/curl\") Some(\"curl -s http://198.18.0.1/\")",
                "pkt Some(1234) 1",
                "pkt Some(1234) 2",
                "pkt None 3",
                "proc 77 Some(\"charon\") Some(\"/usr/lib/ipsec/charon\") None",
                "pkt Some(77) 4",
            ]
        );
    }

    #[test]
    fn comment_parsing() {
        assert_eq!(ptcpdump_owner(b"PID: 5\nCmd: sshd"), Some(CommentOwner { pid: 5, cmd: Some("sshd"), args: None }));
        assert_eq!(ptcpdump_owner(b"ParentPID: 5\nParentCmd: x"), None);
        assert_eq!(ptcpdump_owner(b"PID: x"), None);
        assert_eq!(ptcpdump_owner(b"just a note"), None);
        assert_eq!(ptcpdump_owner(&[0xff, 0xfe]), None);
    }

    #[test]
    fn truncated_block_names_offset() {
        let mut ng = Ng::new(false);
        ng.shb().idb(1, 0, &[]).epb(0, 0, &[1, 2, 3, 4], 4, &[]);
        let good = ng.v.len();
        ng.epb(0, 0, &[5; 40], 40, &[]);
        let mut b = ng.v.clone();
        b.truncate(good + 30);
        let ev = all(&b, 0);
        assert_eq!(packets(&ev).len(), 1);
        assert_eq!(
            ev.last().unwrap().as_ref().unwrap_err(),
            &Damage { offset: good as u64, what: "block truncated (72 bytes claimed, 30 left)".into() }
        );
        b.truncate(good + 5);
        assert_eq!(
            all(&b, 0).last().unwrap().as_ref().unwrap_err(),
            &Damage { offset: good as u64, what: "block header truncated (12 bytes needed, 5 left)".into() }
        );
    }

    #[test]
    fn framing_damage() {
        let mut ng = Ng::new(false);
        ng.shb().idb(1, 0, &[]);
        let at = ng.v.len() as u64;
        let mut b = ng.v.clone();
        // Trailer disagrees.
        b.extend_from_slice(&[6, 0, 0, 0, 12, 0, 0, 0, 40, 0, 0, 0]);
        assert_eq!(
            all(&b, 0).last().unwrap().as_ref().unwrap_err(),
            &Damage { offset: at, what: "block length 12 does not match trailer 40".into() }
        );
        let mut b = ng.v.clone();
        b.extend_from_slice(&[6, 0, 0, 0, 8, 0, 0, 0, 8, 0, 0, 0]);
        assert_eq!(
            all(&b, 0).last().unwrap().as_ref().unwrap_err().what,
            "block length 8 is shorter than the 12-byte minimum"
        );
        let mut b = ng.v.clone();
        b.extend_from_slice(&[6, 0, 0, 0, 13, 0, 0, 0, 13, 0, 0, 0, 0]);
        assert_eq!(all(&b, 0).last().unwrap().as_ref().unwrap_err().what, "block length 13 is not a multiple of 4");
        // An EPB too short for its header, and one naming a missing interface.
        let mut n2 = Ng::new(false);
        n2.block(EPB, &[0; 8]);
        let mut b = ng.v.clone();
        b.extend_from_slice(&n2.v);
        assert_eq!(
            all(&b, 0).last().unwrap().as_ref().unwrap_err().what,
            "enhanced packet block of 20 bytes is too short (32 needed)"
        );
        let mut n3 = Ng::new(false);
        n3.epb(3, 0, &[1], 1, &[]);
        let mut b = ng.v.clone();
        b.extend_from_slice(&n3.v);
        assert_eq!(
            all(&b, 0).last().unwrap().as_ref().unwrap_err().what,
            "packet refers to interface 3, but its section describes only 1"
        );
        // caplen past the block.
        let mut n4 = Ng::new(false);
        n4.epb(0, 0, &[1, 2, 3, 4], 4, &[]);
        n4.v[20] = 200;
        let mut b = ng.v.clone();
        b.extend_from_slice(&n4.v);
        assert_eq!(
            all(&b, 0).last().unwrap().as_ref().unwrap_err().what,
            "enhanced packet block claims 200 captured bytes, more than the 4 it holds"
        );
    }

    #[test]
    fn not_starting_with_shb_and_bad_bom() {
        let mut ng = Ng::new(false);
        ng.idb(1, 0, &[]);
        let ev = all(&ng.v, 0);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].as_ref().unwrap_err().what, "file does not start with a pcapng section header block");
        let mut ng = Ng::new(false);
        ng.shb();
        ng.v[8] = 0;
        assert!(all(&ng.v, 0)[0].as_ref().unwrap_err().what.contains("byte-order magic"));
    }

    #[test]
    fn skipped_blocks() {
        let mut ng = Ng::new(false);
        ng.shb().idb(1, 0, &[]);
        ng.block(4, &[0; 4]) // NRB
            .block(5, &[0; 12]) // ISB
            .block(0x0A, &[0; 8]) // DSB
            .block(0x0BAD, &[0; 8]) // custom, copyable
            .block(0x4000_0BAD, &[0; 8]) // custom, do not copy
            .block(0x1234_5678, &[]) // unknown
            .epb(0, 0, &[1], 1, &[]);
        let ev = all(&ng.v, 0);
        assert_eq!(ev.len(), 2);
        assert_eq!(packets(&ev).len(), 1);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        fn sample() -> Vec<u8> {
            let mut ng = Ng::new(false);
            ng.shb().idb(1, 0, &[(2, b"en0"), (OPT_IF_TSRESOL, &[0x85])]).pib(9, "x");
            let c = b"PID: 1\nCmd: /bin/a".to_vec();
            let nine = ng.u32(0).to_vec();
            ng.epb(0, 1, &[1, 2, 3], 3, &[(OPT_COMMENT, c), (OPT_EPB_PIB_INDEX, nine)]);
            let mut body = ng.u32(6).to_vec();
            body.extend_from_slice(&[1, 2, 3, 4, 5, 6, 0, 0]);
            ng.block(SPB, &body);
            ng.v
        }

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
                let mut b = SHB_TYPE_BYTES.to_vec();
                b.extend_from_slice(&tail);
                let ev = all(&b, 0);
                let errs = ev.iter().filter(|e| e.is_err()).count();
                prop_assert!(errs <= 1);
                if errs == 1 { prop_assert!(ev.last().unwrap().is_err()); }
            }

            #[test]
            fn flipped_and_truncated_sample_never_panics(cut in 0usize..400, flips in proptest::collection::vec((0usize..400, any::<u8>()), 0..6)) {
                let mut b = sample();
                for (i, x) in flips {
                    if let Some(v) = b.get_mut(i) { *v = x; }
                }
                b.truncate(cut);
                let _ = all(&b, 0);
            }
        }
    }
}

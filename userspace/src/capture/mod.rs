//! Capture files (pcap, pcapng) turned into [`Event`]s.
//!
//! Two ways in, one pair of readers:
//! - [`stream`] reads a file (or a pipe) through small window buffers that a thread of its own
//!   fills ahead while the readers consume the one before (`ahead`): constant memory whatever
//!   the file's size, the kernel's copy of the file overlapped with the decoding, and the
//!   packets read from recently written memory (a memory-mapped multi-GB file cost twice as
//!   long here, in page faults and in stalls on every first touch of a page);
//! - [`Capture`] holds a whole capture in memory (tests, fuzzing, small files).
//!
//! Reading stops at the first damage; everything before it has already been delivered, and
//! [`Damage`] names the byte offset in the file.

use std::io::Read;
use std::path::Path;

use crate::event::{Event, PacketEvent};

// The link-type table belongs to the readers and the link decoders alike, so it sits at the
// crate's top; callers of the readers have always found it here too.
pub use crate::linktype;

mod ahead;
mod compressed;
mod pcap;
mod pcapng;
pub mod recording;
pub mod writer;

/// Largest pcap record or pcapng block accepted. Real ones are at most a few hundred KB
/// (libpcap's largest snaplen is 256 KiB); a bigger length is damage, so a corrupt length word
/// cannot make the stream buffer grow without bound.
pub const MAX_RECORD: usize = 64 << 20;

/// Packets handed to [`Sink::packets`] at a time.
const BATCH: usize = 64;

/// Bytes per window the reading thread fills (`ahead`). With the reading on another core the
/// window no longer has to stay in this core's L2; on one core, where the two threads take
/// turns, a larger window means fewer turns: 512 KiB cost a few percent there against the
/// reading in place, 128 KiB a fifth (ESP/RTP and tunnels mixes, `taskset -c 0`).
pub const WINDOW: usize = 512 << 10;

/// Why reading stopped early. Everything before `offset` was delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte offset {offset}")]
pub struct Damage {
    pub offset: u64,
    pub what: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot read the file: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("not a pcap or pcapng capture ({magic})")]
    NotACapture { path: String, magic: String },
}

/// `b`: the first bytes (after inflating, for a gzip-compressed file).
fn not_a_capture(path: &str, b: &[u8], packing: compressed::Packing) -> OpenError {
    let inside = match packing.name() {
        Some(how) => format!("{how}-compressed, and what it holds "),
        None => "it ".to_string(),
    };
    let magic = if let Some((what, how)) = compressed::container(b) {
        format!("{inside}is {what}: `{how}` gives the capture back, then replay that")
    } else if b.is_empty() {
        format!("{inside}is empty")
    } else {
        let head = b.iter().take(4).map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ");
        format!("{inside}starts with bytes {head}")
    };
    OpenError::NotACapture { path: path.to_string(), magic }
}

/// The part of a capture a reader has in view, and where it is in it. The same for both
/// readers: the whole file (`more` false), or one window of a stream that the reader is moved
/// to with [`View::detach`] / [`View::attach`] as the buffer is refilled.
#[derive(Debug, Clone, Copy)]
struct View<'a> {
    /// The bytes in view.
    b: &'a [u8],
    /// File offset of `b[0]` (damage is named with file offsets).
    base: u64,
    /// More of the file follows `b`: a record cut off at its end is not damage yet.
    more: bool,
    /// Stopped at the end of `b` with a record only partly in view.
    starved: bool,
    /// Offset in `b` of the next record or block: everything before it has been delivered.
    pos: usize,
}

impl<'a> View<'a> {
    fn new(b: &'a [u8], more: bool, pos: usize) -> Self {
        View { b, base: 0, more, starved: false, pos }
    }

    /// [`View::pos`] as an offset in the file.
    fn file_position(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The position without the bytes, to outlive the buffer they are in.
    fn detach(self) -> View<'static> {
        View { b: &[], ..self }
    }

    /// The next window `b`, which starts at this view's position in the file.
    fn attach(self, b: &'a [u8], more: bool) -> Self {
        View { b, base: self.file_position(), more, starved: false, pos: 0 }
    }
}

/// Where [`stream`] delivers what it reads, in file order.
pub trait Sink {
    /// A packet (the common case, without the `Event` wrapper).
    fn packet(&mut self, p: &PacketEvent<'_>);
    /// Several packets in a row, in order (the stream hands them over in small batches so
    /// that a sink can start the memory loads for all of them before it works on the first).
    fn packets(&mut self, batch: &[PacketEvent<'_>]) {
        for p in batch {
            self.packet(p);
        }
    }
    /// Anything else: interfaces, processes, and packets of formats without a fast path.
    fn event(&mut self, e: &Event<'_>);
    /// Reading stopped here; called at most once, last.
    fn damage(&mut self, d: &Damage);
}

/// Read the capture file at `path` into `sink`. Interfaces get ids in order of appearance,
/// starting at `first_iface`; returns how many the file used (to chain files). `-` is
/// standard input.
// Out of line on purpose: once the modules were split finer, rustc's codegen units fell so that
// LLVM inlined this loop into `replay::feed_files`, where it took 5 % more instructions
// (callgrind, 50 MiB generated capture: 9.47 M against 9.01 M out of line).
#[inline(never)]
pub fn stream(path: &Path, first_iface: u32, sink: &mut impl Sink) -> Result<u32, OpenError> {
    let name = path.display().to_string();
    if path.as_os_str() == "-" {
        return stream_from(std::io::stdin(), &name, WINDOW, first_iface, sink);
    }
    let file = std::fs::File::open(path).map_err(|source| OpenError::Io { path: name.clone(), source })?;
    stream_from(file, &name, WINDOW, first_iface, sink)
}

/// [`stream`] from any reader, `window` bytes at a time, read ahead by a thread of its own
/// ([`ahead`]) while the window before is decoded (a record longer than a window is gathered
/// whole). `name` is used in errors.
pub fn stream_from<R: Read + Send + 'static>(
    src: R,
    name: &str,
    window: usize,
    first_iface: u32,
    sink: &mut impl Sink,
) -> Result<u32, OpenError> {
    let window = window.max(64);
    let io = |source| OpenError::Io { path: name.to_string(), source };
    let (packing, src) = compressed::unpack(src).map_err(io)?;
    let mut reader = ahead::ReadAhead::spawn(src, window);
    // The window is `buf[start..start + len]`.
    let ahead::Chunk { mut buf, mut start, mut len, mut eof, error: mut read_error } = reader.next();
    if len == 0 {
        if let Some(e) = read_error {
            return Err(io(e));
        }
    }
    let Some(format) = Format::detect(&buf[start..start + len]) else {
        return Err(not_a_capture(name, &buf[start..start + len], packing));
    };
    // Offsets of a compressed capture are of its decompressed bytes: say so where they show.
    let damage = |sink: &mut dyn FnMut(&Damage), mut d: Damage| {
        if packing.name().is_some() {
            d.what.push_str(" (offset in the decompressed capture)");
        }
        sink(&d)
    };
    let mut detached: Option<Events<'static>> = None;
    loop {
        let view = &buf[start..start + len];
        let mut ev = match detached.take() {
            None => Events::window(format, view, !eof, first_iface),
            Some(d) => d.attach(view, !eof),
        };
        let mut batch = [PacketEvent::EMPTY; BATCH];
        loop {
            let mut n = 0;
            while n < BATCH {
                match ev.next_packet() {
                    Some(p) => {
                        batch[n] = p;
                        n += 1;
                    }
                    None => break,
                }
            }
            if n > 0 {
                sink.packets(&batch[..n]);
                if n == BATCH {
                    continue;
                }
            }
            match ev.next() {
                Some(Ok(e)) => sink.event(&e),
                Some(Err(mut d)) => {
                    if let Some(e) = &read_error {
                        d.what = format!("{} (reading the file failed there: {e})", d.what);
                    }
                    damage(&mut |d| sink.damage(d), d);
                    return Ok(ev.interfaces_seen());
                }
                None => break,
            }
        }
        if !ev.starved() {
            if let Some(e) = read_error {
                // The error fell between two records: everything before it was read.
                let d = Damage { offset: ev.file_position(), what: format!("reading the file failed: {e}") };
                damage(&mut |d| sink.damage(d), d);
            }
            return Ok(ev.interfaces_seen());
        }
        // The window ends inside a record: its start goes in front of the next window's
        // bytes, in the room the reader left there.
        let pos = ev.position();
        detached = Some(ev.detach());
        let tail = len - pos;
        let next = reader.next();
        if tail <= next.start {
            let mut b = next.buf;
            b[next.start - tail..next.start].copy_from_slice(&buf[start + pos..start + len]);
            reader.give_back(std::mem::replace(&mut buf, b));
            (start, len) = (next.start - tail, tail + next.len);
        } else {
            // Longer than that room (a record larger than a window): gathered in this buffer,
            // which then holds the record's start alone and grows by each window after.
            buf.copy_within(start + pos..start + len, 0);
            buf.truncate(tail);
            buf.extend_from_slice(&next.buf[next.start..next.start + next.len]);
            reader.give_back(next.buf);
            (start, len) = (0, buf.len());
        }
        eof = next.eof;
        if next.error.is_some() {
            read_error = next.error;
        }
    }
}

/// Read until `buf` is full or the source ends (an error ends it too, kept for the report).
fn fill(src: &mut impl Read, buf: &mut [u8], len: &mut usize, eof: &mut bool, error: &mut Option<std::io::Error>) {
    while *len < buf.len() && !*eof {
        match src.read(&mut buf[*len..]) {
            Ok(0) => *eof = true,
            Ok(n) => *len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                *error = Some(e);
                *eof = true;
            }
        }
    }
}

/// A capture held whole in memory.
pub struct Capture {
    bytes: Vec<u8>,
}

impl Capture {
    /// Read the whole file into memory (for large files use [`stream`]).
    pub fn open(path: &Path) -> Result<Capture, OpenError> {
        let bytes = std::fs::read(path).map_err(|source| OpenError::Io { path: path.display().to_string(), source })?;
        if Format::detect(&bytes).is_none() {
            return Err(not_a_capture(&path.display().to_string(), &bytes, compressed::Packing::Plain));
        }
        Ok(Capture { bytes })
    }

    /// A capture held in memory (tests, fuzzing).
    pub fn from_bytes(bytes: Vec<u8>) -> Capture {
        Capture { bytes }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Iterate the file's events. Interfaces get ids in order of appearance, starting at
    /// `first_iface` (so several files can share one event stream).
    pub fn events(&self, first_iface: u32) -> Events<'_> {
        let b = self.as_bytes();
        match Format::detect(b) {
            Some(f) => Events::window(f, b, false, first_iface),
            None => Events::Failed(Some(Damage { offset: 0, what: "not a pcap or pcapng file".into() })),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Pcap,
    Pcapng,
}

impl Format {
    fn detect(b: &[u8]) -> Option<Format> {
        let m = b.get(..4)?;
        match m {
            [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d] => Some(Format::Pcap),
            [0x0a, 0x0d, 0x0d, 0x0a] => Some(Format::Pcapng),
            _ => None,
        }
    }
}

/// Event iterator over one capture. Yields `Err(Damage)` at most once, as its last item.
pub enum Events<'a> {
    Pcap(pcap::Reader<'a>),
    Pcapng(pcapng::Reader<'a>),
    Failed(Option<Damage>),
}

impl<'a> Events<'a> {
    fn window(format: Format, b: &'a [u8], more: bool, first_iface: u32) -> Self {
        match format {
            Format::Pcap => Events::Pcap(pcap::Reader::window(b, more, first_iface)),
            Format::Pcapng => Events::Pcapng(pcapng::Reader::window(b, more, first_iface)),
        }
    }

    /// Stopped at the end of a window, in the middle of a record.
    fn starved(&self) -> bool {
        match self {
            Events::Pcap(r) => r.starved(),
            Events::Pcapng(r) => r.starved(),
            Events::Failed(_) => false,
        }
    }

    fn detach(self) -> Events<'static> {
        match self {
            Events::Pcap(r) => Events::Pcap(r.detach()),
            Events::Pcapng(r) => Events::Pcapng(r.detach()),
            Events::Failed(d) => Events::Failed(d),
        }
    }

    /// Continue in the window `b`, which starts where the last one was left.
    fn attach(self, b: &'a [u8], more: bool) -> Events<'a> {
        match self {
            Events::Pcap(r) => Events::Pcap(r.attach(b, more)),
            Events::Pcapng(r) => Events::Pcapng(r.attach(b, more)),
            Events::Failed(d) => Events::Failed(d),
        }
    }

    /// File offset up to which the file has been consumed.
    fn file_position(&self) -> u64 {
        match self {
            Events::Pcap(r) => r.file_position(),
            Events::Pcapng(r) => r.file_position(),
            Events::Failed(_) => 0,
        }
    }

    /// Byte offset (in the bytes being read) up to which they have been consumed.
    pub fn position(&self) -> usize {
        match self {
            Events::Pcap(r) => r.position(),
            Events::Pcapng(r) => r.position(),
            Events::Failed(_) => 0,
        }
    }

    /// The next packet when the source can hand it over directly (pcap records in steady
    /// state); `None` means "call `next()`", which then yields whatever comes (including
    /// that same packet from sources without a fast path).
    #[inline(always)]
    pub fn next_packet(&mut self) -> Option<crate::event::PacketEvent<'a>> {
        match self {
            Events::Pcap(r) => r.next_packet(),
            _ => None,
        }
    }

    /// Number of interface ids this file used so far (to chain files).
    pub fn interfaces_seen(&self) -> u32 {
        match self {
            Events::Pcap(r) => r.interfaces_seen(),
            Events::Pcapng(r) => r.interfaces_seen(),
            Events::Failed(_) => 0,
        }
    }
}

impl<'a> Iterator for Events<'a> {
    type Item = Result<Event<'a>, Damage>;

    // Inlined into the replay loop: called once per packet.
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Events::Pcap(r) => r.next(),
            Events::Pcapng(r) => r.next(),
            Events::Failed(d) => d.take().map(Err),
        }
    }
}

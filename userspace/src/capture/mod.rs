//! Capture files (pcap, pcapng) turned into [`Event`]s.
//!
//! A file is memory-mapped and read without copying packet bytes. Reading stops at the first
//! damage; everything before it has already been delivered, and [`Damage`] names the byte offset.

use std::path::Path;

use crate::event::Event;

pub mod linktype;
mod pcap;
mod pcapng;
pub mod writer;

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
    #[error("not a pcap or pcapng capture (it starts with bytes {magic})")]
    NotACapture { path: String, magic: String },
}

/// An opened capture file.
pub struct Capture {
    bytes: Bytes,
}

enum Bytes {
    Mapped(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl Capture {
    pub fn open(path: &Path) -> Result<Capture, OpenError> {
        let io = |source| OpenError::Io { path: path.display().to_string(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        // An empty file cannot be mapped; treat it as an empty buffer and let the format check speak.
        let bytes = if len == 0 {
            Bytes::Owned(Vec::new())
        } else {
            // SAFETY: the map is read-only; a capture truncated underneath us by another process
            // could fault, which is the accepted trade for zero-copy reading of multi-GB files.
            let m = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
            #[cfg(unix)]
            let _ = m.advise(memmap2::Advice::Sequential);
            Bytes::Mapped(m)
        };
        let cap = Capture { bytes };
        cap.check_magic(path)?;
        Ok(cap)
    }

    /// Tell the kernel the pages before `offset` will not be read again, so a multi-GB replay
    /// keeps a small resident set (mapped file pages count as the process's memory).
    pub fn release_before(&self, offset: usize) {
        #[cfg(target_os = "linux")]
        if let Bytes::Mapped(m) = &self.bytes {
            const PAGE: usize = 4096;
            let end = offset.min(m.len()) / PAGE * PAGE;
            if end > 0 {
                // SAFETY: the mapping is private and read-only, so dropped pages are read back
                // from the file unchanged should anything still look at them.
                let _ = unsafe { m.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, end) };
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = offset;
    }

    /// A capture held in memory (tests, fuzzing).
    pub fn from_bytes(bytes: Vec<u8>) -> Capture {
        Capture { bytes: Bytes::Owned(bytes) }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Mapped(m) => m,
            Bytes::Owned(v) => v,
        }
    }

    fn check_magic(&self, path: &Path) -> Result<(), OpenError> {
        if Format::detect(self.as_bytes()).is_none() {
            let b = self.as_bytes();
            let magic = if b.is_empty() {
                "nothing: the file is empty".to_string()
            } else {
                b.iter().take(4).map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
            };
            return Err(OpenError::NotACapture { path: path.display().to_string(), magic });
        }
        Ok(())
    }

    /// Iterate the file's events. Interfaces get ids in order of appearance, starting at
    /// `first_iface` (so several files can share one event stream).
    pub fn events(&self, first_iface: u32) -> Events<'_> {
        let b = self.as_bytes();
        match Format::detect(b) {
            Some(Format::Pcap) => Events::Pcap(pcap::Reader::new(b, first_iface)),
            Some(Format::Pcapng) => Events::Pcapng(pcapng::Reader::new(b, first_iface)),
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
            [0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] | [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d] => {
                Some(Format::Pcap)
            }
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
    /// Byte offset up to which the file has been consumed.
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

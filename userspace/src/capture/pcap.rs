//! Legacy pcap (libpcap savefile) reader.
//!
//! This is the replay hot path (GB-sized captures at millions of packets per second), so a
//! record is read straight from its 16-byte header with no allocation and no parser library in
//! between; packet bytes are borrowed from the bytes in view (the whole file, or the stream
//! window; see `capture::stream`).
//!
//! Compatibility choices follow libpcap, since the corpus references were produced with it:
//! - files of version 2.0–2.2 store `incl_len`/`orig_len` the other way round, and 2.3 files do
//!   so only sometimes (libpcap swaps when `incl_len > orig_len`);
//! - the bits of the link-type field above the low 26 carry FCS information and are dropped;
//! - a record larger than the snaplen is only damage when it also runs past the end of the file
//!   (writers with a wrong snaplen in the header exist; a record that fits is still a packet).

use super::{Damage, View};
use crate::event::{Direction, Event, InterfaceInfo, PacketEvent};
use crate::linktype;
use crate::time::Timestamp;

const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;
/// libpcap's MAXIMUM_SNAPLEN: the most any sane writer captures per packet; it is also what
/// libpcap assumes when the header's snaplen is 0 or nonsense.
const MAX_SNAPLEN: u32 = 262_144;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lengths {
    AsWritten,
    Swapped,
    /// Version 2.3: swapped only in the records where `incl_len > orig_len`.
    MaybeSwapped,
}

#[derive(Debug, Clone, Copy)]
struct Header {
    big_endian: bool,
    nanos: bool,
    lengths: Lengths,
    /// Largest `incl_len` accepted without further checks.
    limit: u32,
    linktype: u32,
}

enum State {
    /// Header parsed; the interface event is still to be sent.
    Announce(Header),
    Records(Header),
    Failed(Damage),
    Done,
}

pub struct Reader<'a> {
    /// The bytes in view and the position in them.
    v: View<'a>,
    first: u32,
    announced: bool,
    state: State,
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

    /// A reader of the file's first bytes `b`; `more` when the file goes on past them (`b`
    /// must then hold at least the file header).
    pub fn window(b: &'a [u8], more: bool, first: u32) -> Self {
        let state = match parse_header(b) {
            Ok(h) => State::Announce(h),
            Err(d) => State::Failed(d),
        };
        Reader { v: View::new(b, more, FILE_HEADER_LEN), first, announced: false, state }
    }

    /// True when reading stopped at the end of a window that has more of the file after it:
    /// [`Reader::detach`], refill, [`Reader::attach`] and go on.
    pub fn starved(&self) -> bool {
        self.v.starved
    }

    /// The reader's state without its bytes, to outlive the window's buffer.
    pub fn detach(self) -> Reader<'static> {
        Reader { v: self.v.detach(), first: self.first, announced: self.announced, state: self.state }
    }

    /// Go on in a new window `b` that starts at the file offset of [`Reader::position`] in
    /// the old one.
    pub fn attach(self, b: &'a [u8], more: bool) -> Self {
        Reader { v: self.v.attach(b, more), ..self }
    }

    /// A pcap file has exactly one interface, counted once it has been announced.
    pub fn interfaces_seen(&self) -> u32 {
        u32::from(self.announced)
    }

    #[inline]
    pub fn next(&mut self) -> Option<Result<Event<'a>, Damage>> {
        let h = match &self.state {
            State::Records(h) => *h,
            State::Announce(h) => {
                let h = *h;
                self.state = State::Records(h);
                self.announced = true;
                return Some(Ok(Event::Interface(Box::new(InterfaceInfo {
                    id: self.first,
                    name: None,
                    linktype: h.linktype,
                    ..InterfaceInfo::default()
                }))));
            }
            State::Failed(_) => {
                let State::Failed(d) = std::mem::replace(&mut self.state, State::Done) else {
                    return None;
                };
                return Some(Err(d));
            }
            State::Done => return None,
        };
        match self.record(&h) {
            Ok(Some(p)) => Some(Ok(Event::Packet(p))),
            Ok(None) if self.v.starved => None,
            Ok(None) => {
                self.state = State::Done;
                None
            }
            Err(d) => {
                self.state = State::Done;
                Some(Err(d))
            }
        }
    }

    /// The next packet, on the replay hot path: no `Event` wrapping and no state machine
    /// beyond one check. `None` means "ask [`Reader::next`]": the interface is still to be
    /// announced, or the file ends or is damaged here (nothing is consumed then, so `next`
    /// reads the same record again and reports it).
    #[inline(always)]
    pub fn next_packet(&mut self) -> Option<PacketEvent<'a>> {
        let State::Records(h) = &self.state else {
            return None;
        };
        let h = *h;
        self.record(&h).ok().flatten()
    }

    /// The record at `self.v.pos`; `Ok(None)` at a clean end of file, or at the end of a window
    /// (`starved` set). `self.v.pos` moves only when a packet is returned.
    #[inline(always)]
    fn record(&mut self, h: &Header) -> Result<Option<PacketEvent<'a>>, Damage> {
        let b = self.v.b;
        let at = self.v.pos;
        let rest = b.get(at..).unwrap_or_default();
        if rest.is_empty() {
            self.v.starved = self.v.more;
            return Ok(None);
        }
        let Some((hdr, body)) = rest.split_first_chunk::<RECORD_HEADER_LEN>() else {
            if self.v.more {
                self.v.starved = true;
                return Ok(None);
            }
            return Err(self.damage(
                at,
                format!("record header truncated ({RECORD_HEADER_LEN} bytes needed, {} left)", rest.len()),
            ));
        };
        // Read all four words little-endian and swap once for big-endian files: one branch a
        // record instead of one per word (most captures are little-endian).
        let le = |i: usize| u32::from_le_bytes([hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]]);
        let (mut secs, mut frac, mut incl, mut orig) = (le(0), le(4), le(8), le(12));
        if h.big_endian {
            secs = secs.swap_bytes();
            frac = frac.swap_bytes();
            incl = incl.swap_bytes();
            orig = orig.swap_bytes();
        }
        match h.lengths {
            Lengths::AsWritten => {}
            Lengths::Swapped => std::mem::swap(&mut incl, &mut orig),
            Lengths::MaybeSwapped => {
                if incl > orig {
                    std::mem::swap(&mut incl, &mut orig)
                }
            }
        }
        // On 64-bit targets a u32 always fits usize; on smaller ones an absurd length is
        // simply larger than the file.
        let n = usize::try_from(incl).unwrap_or(usize::MAX);
        let Some(data) = body.get(..n) else {
            if self.v.more && n <= super::MAX_RECORD {
                self.v.starved = true;
                return Ok(None);
            }
            let what = if n > super::MAX_RECORD {
                format!("packet record claims {incl} bytes, more than the {} a record may hold", super::MAX_RECORD)
            } else if incl > h.limit {
                format!("packet record claims {incl} bytes, more than the {} snaplen", h.limit)
            } else {
                format!("packet record truncated ({incl} bytes claimed, {} left)", body.len())
            };
            return Err(self.damage(at, what));
        };
        self.v.pos = at + RECORD_HEADER_LEN + n;
        // secs < 2^32 and frac < 2^32: the sum stays far below i64::MAX.
        let ns = if h.nanos { i64::from(frac) } else { i64::from(frac) * 1_000 };
        Ok(Some(PacketEvent {
            ts: Timestamp(i64::from(secs) * 1_000_000_000 + ns),
            iface: self.first,
            direction: Direction::Unknown,
            orig_len: orig,
            data,
            pid: None,
            effective_pid: None,
            cookie: 0,
            sampled: false,
        }))
    }
}

impl Reader<'_> {
    /// Damage at window position `at`, named by its file offset.
    fn damage(&self, at: usize, what: String) -> Damage {
        Damage { offset: self.v.base + at as u64, what }
    }
}

/// Damage in the file header (always at the start of the file).
fn damage(offset: usize, what: String) -> Damage {
    Damage { offset: offset as u64, what }
}

fn parse_header(b: &[u8]) -> Result<Header, Damage> {
    let Some(hdr) = b.first_chunk::<FILE_HEADER_LEN>() else {
        return Err(damage(0, format!("file header truncated ({FILE_HEADER_LEN} bytes needed, {} left)", b.len())));
    };
    let (big_endian, nanos) = match [hdr[0], hdr[1], hdr[2], hdr[3]] {
        [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
        m => {
            return Err(damage(0, format!("not a pcap file (magic {:02x}{:02x}{:02x}{:02x})", m[0], m[1], m[2], m[3])))
        }
    };
    let u16_at = |i: usize| {
        let w = [hdr[i], hdr[i + 1]];
        if big_endian {
            u16::from_be_bytes(w)
        } else {
            u16::from_le_bytes(w)
        }
    };
    let u32_at = |i: usize| {
        let w = [hdr[i], hdr[i + 1], hdr[i + 2], hdr[i + 3]];
        if big_endian {
            u32::from_be_bytes(w)
        } else {
            u32::from_le_bytes(w)
        }
    };
    let (major, minor) = (u16_at(4), u16_at(6));
    let lengths = match (major, minor) {
        (2, 0..=2) => Lengths::Swapped,
        (2, 3) => Lengths::MaybeSwapped,
        // A byte-swapped writer bug that libpcap also recognises.
        (543, _) => Lengths::Swapped,
        _ => Lengths::AsWritten,
    };
    let snaplen = u32_at(16);
    let linktype = linktype::canonical(u32_at(20) & linktype::LINKTYPE_MASK);
    Ok(Header { big_endian, nanos, lengths, limit: snaplen.max(MAX_SNAPLEN), linktype })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build a pcap file: header fields as given, then (secs, frac, data, orig_len) records.
    fn file(
        be: bool,
        magic: u32,
        version: (u16, u16),
        snaplen: u32,
        lt: u32,
        recs: &[(u32, u32, &[u8], u32)],
    ) -> Vec<u8> {
        let mut v = Vec::new();
        let p32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
        let p16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&if be { x.to_be_bytes() } else { x.to_le_bytes() });
        p32(&mut v, magic);
        p16(&mut v, version.0);
        p16(&mut v, version.1);
        p32(&mut v, 0);
        p32(&mut v, 0);
        p32(&mut v, snaplen);
        p32(&mut v, lt);
        for (s, f, d, orig) in recs {
            p32(&mut v, *s);
            p32(&mut v, *f);
            p32(&mut v, d.len() as u32);
            p32(&mut v, *orig);
            v.extend_from_slice(d);
        }
        v
    }

    fn all(b: &[u8]) -> Vec<Result<Event<'_>, Damage>> {
        let mut r = Reader::new(b, 7);
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

    #[test]
    fn big_endian_microseconds() {
        let b = file(
            true,
            0xa1b2c3d4,
            (2, 4),
            65535,
            1,
            &[(1_102_274_184, 317_453, &[1, 2, 3], 60), (1, 999_999, &[9], 1)],
        );
        assert_eq!(&b[..4], &[0xa1, 0xb2, 0xc3, 0xd4]);
        let ev = all(&b);
        assert_eq!(ev.len(), 3);
        match &ev[0] {
            Ok(Event::Interface(i)) => {
                assert_eq!((i.id, i.linktype, i.name.as_deref(), i.mtu), (7, 1, None, None));
            }
            other => panic!("first event {other:?}"),
        }
        let p = packets(&ev);
        assert_eq!(p[0].ts.to_string(), "2004-12-05T19:16:24.317453Z");
        assert_eq!((p[0].data, p[0].orig_len, p[0].iface), (&[1u8, 2, 3][..], 60, 7));
        assert_eq!(p[1].ts, Timestamp(1_999_999_000));
        assert_eq!(p[1].direction, Direction::Unknown);
    }

    #[test]
    fn nanosecond_both_byte_orders() {
        for be in [false, true] {
            let b = file(be, 0xa1b23c4d, (2, 4), 0, 101, &[(10, 123_456_789, &[0x45; 20], 20)]);
            let ev = all(&b);
            let p = packets(&ev);
            assert_eq!(p.len(), 1, "be={be}");
            assert_eq!(p[0].ts, Timestamp(10_123_456_789));
        }
    }

    #[test]
    fn fcs_bits_masked_and_raw_dlt_folded() {
        let b = file(false, 0xa1b2c3d4, (2, 4), 65535, 0x1000_0000 | 0x4000_0000 | 1, &[]);
        let ev = all(&b);
        assert_eq!(ev.len(), 1);
        assert!(matches!(&ev[0], Ok(Event::Interface(i)) if i.linktype == 1));
        let b = file(false, 0xa1b2c3d4, (2, 4), 65535, 12, &[]);
        assert!(matches!(&all(&b)[0], Ok(Event::Interface(i)) if i.linktype == linktype::RAW));
    }

    #[test]
    fn incl_larger_than_orig_is_a_packet() {
        let b = file(false, 0xa1b2c3d4, (2, 4), 65535, 1, &[(0, 0, &[0; 8], 4)]);
        let p = packets(&all(&b)).pop().unwrap();
        assert_eq!((p.data.len(), p.orig_len), (8, 4));
    }

    #[test]
    fn old_versions_store_lengths_swapped() {
        // Version 2.2 writes orig_len where incl_len belongs: the record header's third word is
        // the wire length (100) and the fourth the captured length (3).
        let mut b = file(false, 0xa1b2c3d4, (2, 2), 65535, 1, &[]);
        for w in [5u32, 6, 100, 3] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(&[7, 8, 9]);
        let p = packets(&all(&b));
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].data, p[0].orig_len), (&[7u8, 8, 9][..], 100));
    }

    #[test]
    fn truncated_record_header_names_offset() {
        let mut b = file(false, 0xa1b2c3d4, (2, 4), 65535, 1, &[(0, 0, &[1; 10], 10)]);
        b.extend_from_slice(&[0; 7]);
        let ev = all(&b);
        assert_eq!(packets(&ev).len(), 1);
        assert_eq!(
            ev.last().unwrap().as_ref().unwrap_err(),
            &Damage { offset: 50, what: "record header truncated (16 bytes needed, 7 left)".into() }
        );
    }

    #[test]
    fn truncated_record_body_and_absurd_length() {
        let mut b = file(false, 0xa1b2c3d4, (2, 4), 65535, 1, &[(0, 0, &[1; 10], 10)]);
        b.truncate(b.len() - 3);
        let ev = all(&b);
        assert_eq!(ev.len(), 2);
        assert_eq!(
            ev[1].as_ref().unwrap_err(),
            &Damage { offset: 24, what: "packet record truncated (10 bytes claimed, 7 left)".into() }
        );

        let mut b = file(false, 0xa1b2c3d4, (2, 4), 65535, 1, &[]);
        for w in [0u32, 0, 524_501, 60] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend_from_slice(&[0; 100]);
        let ev = all(&b);
        assert_eq!(
            ev[1].as_ref().unwrap_err(),
            &Damage { offset: 24, what: "packet record claims 524501 bytes, more than the 262144 snaplen".into() }
        );
        assert_eq!(ev.len(), 2);
    }

    #[test]
    fn oversized_record_that_fits_is_read() {
        let big = vec![0xab; 300_000];
        let b = file(false, 0xa1b2c3d4, (2, 4), 1500, 1, &[(0, 0, &big, 300_000), (1, 0, &[1], 1)]);
        assert_eq!(packets(&all(&b)).len(), 2);
    }

    #[test]
    fn bad_header() {
        let ev = all(&[0xd4, 0xc3, 0xb2, 0xa1, 2, 0]);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].as_ref().unwrap_err().what, "file header truncated (24 bytes needed, 6 left)");
        let ev = all(&[0u8; 24]);
        assert_eq!(ev[0].as_ref().unwrap_err().what, "not a pcap file (magic 00000000)");
        let mut r = Reader::new(&[], 0);
        assert_eq!(r.interfaces_seen(), 0);
        assert!(r.next().unwrap().is_err());
        assert!(r.next().is_none());
    }

    /// Mixing the fast `next_packet` with `next` yields exactly the events `next` alone does.
    #[test]
    fn next_packet_then_next_sees_everything() {
        let mut b = file(false, 0xa1b2c3d4, (2, 4), 65535, 1, &[(1, 2, &[1; 10], 10), (3, 4, &[2; 5], 60)]);
        b.extend_from_slice(&[0; 7]);
        let mut r = Reader::new(&b, 0);
        assert!(r.next_packet().is_none(), "interface first");
        assert!(matches!(r.next(), Some(Ok(Event::Interface(_)))));
        let p = r.next_packet().unwrap();
        assert_eq!((p.data, p.ts), (&[1u8; 10][..], Timestamp(1_000_002_000)));
        assert_eq!(r.next_packet().unwrap().orig_len, 60);
        assert!(r.next_packet().is_none());
        assert!(r.next_packet().is_none(), "damage is not consumed");
        assert_eq!(r.next().unwrap().unwrap_err().offset, 24 + 26 + 21);
        assert!(r.next().is_none());
        assert!(r.next_packet().is_none());
    }

    #[test]
    fn interfaces_seen_counts_after_announce() {
        let b = file(false, 0xa1b2c3d4, (2, 4), 65535, 1, &[]);
        let mut r = Reader::new(&b, 3);
        assert_eq!(r.interfaces_seen(), 0);
        assert!(r.next().is_some());
        assert_eq!(r.interfaces_seen(), 1);
        assert!(r.next().is_none());
        assert!(r.next().is_none());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512), magic in 0usize..5) {
                let magics: [[u8; 4]; 5] = [[0xd4, 0xc3, 0xb2, 0xa1], [0xa1, 0xb2, 0xc3, 0xd4], [0x4d, 0x3c, 0xb2, 0xa1], [0xa1, 0xb2, 0x3c, 0x4d], [1, 2, 3, 4]];
                let mut b = magics[magic].to_vec();
                b.extend_from_slice(&tail);
                let ev = all(&b);
                // The fast path gives the same packets.
                let mut r = Reader::new(&b, 7);
                let mut fast = Vec::new();
                loop {
                    match r.next_packet() {
                        Some(p) => fast.push(p),
                        None => match r.next() {
                            Some(Ok(Event::Packet(p))) => fast.push(p),
                            Some(_) => {}
                            None => break,
                        },
                    }
                }
                let slow = packets(&ev);
                prop_assert_eq!(fast.len(), slow.len());
                for (f, s) in fast.iter().zip(&slow) {
                    prop_assert_eq!((f.ts, f.data, f.orig_len), (s.ts, s.data, s.orig_len));
                }
                // At most one damage, and only as the last item.
                let errs = ev.iter().filter(|e| e.is_err()).count();
                prop_assert!(errs <= 1);
                if errs == 1 { prop_assert!(ev.last().unwrap().is_err()); }
            }
        }
    }
}

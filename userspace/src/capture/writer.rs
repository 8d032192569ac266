//! Capture writers: legacy pcap and pcapng (with Apple-style process attribution).
//!
//! Both writers buffer internally, so callers can hand them one packet at a time. Values that
//! the file formats cannot hold (timestamps before 1970, or after 2106 for legacy pcap; strings
//! longer than an option allows; unknown interface or process indices) are refused with
//! `io::ErrorKind::InvalidInput` rather than silently written as something else, with one
//! exception: `orig_len` below the captured length is raised to it, because every reader treats
//! that combination as damage and the captured bytes are the better witness.
//!
//! All multi-byte fields are written little-endian (the byte-order magic says so), so the same
//! input gives the same bytes on every host.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};

use crate::event::Direction;
use crate::time::Timestamp;

/// Large enough that multi-GB benchmark files are written with few syscalls.
const BUF_CAPACITY: usize = 1 << 20;

/// Snap length used when the caller has no opinion: libpcap's maximum for most link types.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

/// Sub-second resolution of a legacy pcap file (chosen by its magic number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsPrecision {
    Micro,
    Nano,
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Captured and original lengths as the formats store them.
fn lengths(data: &[u8], snaplen: u32, orig_len: u32) -> (u32, u32) {
    let full = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let caplen = if snaplen == 0 { full } else { full.min(snaplen) };
    (caplen, orig_len.max(full))
}

/// Legacy pcap (the format of `tcpdump -w`), one link type per file.
pub struct PcapWriter<W: Write> {
    out: BufWriter<W>,
    precision: TsPrecision,
    snaplen: u32,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header. `snaplen` 0 means [`DEFAULT_SNAPLEN`]; longer packets are cut.
    pub fn new(out: W, linktype: u32, snaplen: u32, precision: TsPrecision) -> io::Result<Self> {
        let snaplen = if snaplen == 0 { DEFAULT_SNAPLEN } else { snaplen };
        let mut out = BufWriter::with_capacity(BUF_CAPACITY, out);
        let magic: u32 = match precision {
            TsPrecision::Micro => 0xa1b2_c3d4,
            TsPrecision::Nano => 0xa1b2_3c4d,
        };
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&magic.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0: timestamps are UTC and nobody reads sigfigs.
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&linktype.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out, precision, snaplen, packets: 0 })
    }

    /// Appends one record. `data` starts at the link-layer header of the file's link type.
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let secs = u32::try_from(ts.secs()).map_err(|_| invalid("timestamp outside the pcap range 1970..2106"))?;
        let frac = match self.precision {
            TsPrecision::Micro => ts.subsec_nanos() / 1000,
            TsPrecision::Nano => ts.subsec_nanos(),
        };
        let (caplen, orig_len) = lengths(data, self.snaplen, orig_len);
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&frac.to_le_bytes());
        h[8..12].copy_from_slice(&caplen.to_le_bytes());
        h[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data.get(..caplen as usize).unwrap_or(data))?;
        self.packets = self.packets.saturating_add(1);
        Ok(())
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and hands back the underlying writer.
    pub fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

// pcapng block types and option codes (draft-ietf-opsawg-pcapng; Apple's private ones from
// Apple's libpcap, checked against the corpus file pktap_pcapng_procinfo_en0_pdpip0.pcapng).
const BT_SHB: u32 = 0x0a0d_0d0a;
const BT_IDB: u32 = 0x0000_0001;
const BT_EPB: u32 = 0x0000_0006;
/// Apple's Process Information Block: pid, then options (name).
pub const BT_APPLE_PIB: u32 = 0x8000_0001;
const OPT_END: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;
const PIB_NAME: u16 = 2;
/// EPB option: index of the PIB of the process that owns the packet.
pub const EPB_APPLE_PIB: u16 = 0x8001;
/// EPB option: index of the PIB of the "effective" process (the one a daemon acted for).
pub const EPB_APPLE_EFFECTIVE_PIB: u16 = 0x8003;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
use super::recording::{CUSTOM_BLOCK, OPT_CUSTOM_BINARY};

/// What an Enhanced Packet Block says about a packet besides its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct PacketMeta<'a> {
    /// Written as `epb_flags` (bits 0-1) unless `Unknown`.
    pub direction: Direction,
    /// Index returned by [`PcapngWriter::add_process`] / [`PcapngWriter::process_index`].
    pub process: Option<u32>,
    pub effective_process: Option<u32>,
    /// Free text (`opt_comment`), e.g. ptcpdump-style `PID: 123\nCmd: charon`.
    pub comment: Option<&'a str>,
    /// A binary custom option (code 2989): (Private Enterprise Number, data).
    pub custom: Option<(u32, &'a [u8])>,
}

/// pcapng with one section, any number of interfaces (nanosecond timestamps) and Apple-style
/// process blocks, so that attributed recordings read back with their owners.
pub struct PcapngWriter<W: Write> {
    out: BufWriter<W>,
    /// Snap length per interface id.
    snaplens: Vec<u32>,
    processes: u32,
    known: HashMap<u32, Vec<(Option<String>, u32)>>,
    /// Reused for option bytes so packets cost no allocation.
    scratch: Vec<u8>,
    packets: u64,
}

/// Appends one option, padded to 32 bits. Values longer than an option can hold are refused.
fn push_option(buf: &mut Vec<u8>, code: u16, value: &[u8]) -> io::Result<()> {
    let len = u16::try_from(value.len()).map_err(|_| invalid("pcapng option longer than 65535 bytes"))?;
    buf.extend_from_slice(&code.to_le_bytes());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + pad4(value.len()), 0);
    Ok(())
}

fn pad4(len: usize) -> usize {
    (4 - len % 4) % 4
}

fn end_options(buf: &mut Vec<u8>) {
    if !buf.is_empty() {
        buf.extend_from_slice(&OPT_END.to_le_bytes());
        buf.extend_from_slice(&0u16.to_le_bytes());
    }
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the Section Header Block; `user_appl` names the writing program (`shb_userappl`).
    pub fn new(out: W, user_appl: &str) -> io::Result<Self> {
        let mut w = PcapngWriter {
            out: BufWriter::with_capacity(BUF_CAPACITY, out),
            snaplens: Vec::new(),
            processes: 0,
            known: HashMap::new(),
            scratch: Vec::with_capacity(256),
            packets: 0,
        };
        let mut opts = std::mem::take(&mut w.scratch);
        opts.clear();
        if !user_appl.is_empty() {
            push_option(&mut opts, SHB_USERAPPL, user_appl.as_bytes())?;
        }
        end_options(&mut opts);
        let mut body = [0u8; 16];
        body[0..4].copy_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
        body[4..6].copy_from_slice(&1u16.to_le_bytes());
        body[6..8].copy_from_slice(&0u16.to_le_bytes());
        // Section length unknown (-1): we stream and never seek back.
        body[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        w.write_block(BT_SHB, &body, &[], &opts)?;
        w.scratch = opts;
        Ok(w)
    }

    /// Adds an Interface Description Block and returns its interface id. `snaplen` 0 means
    /// unlimited. Timestamps of this interface are in nanoseconds (`if_tsresol` = 9).
    pub fn add_interface(&mut self, name: Option<&str>, linktype: u32, snaplen: u32) -> io::Result<u32> {
        self.add_interface_described(name, None, linktype, snaplen)
    }

    /// [`Self::add_interface`] with an `if_description` (free text, e.g. its network namespace).
    pub fn add_interface_described(
        &mut self,
        name: Option<&str>,
        description: Option<&str>,
        linktype: u32,
        snaplen: u32,
    ) -> io::Result<u32> {
        let linktype = u16::try_from(linktype).map_err(|_| invalid("pcapng link type above 65535"))?;
        let id = u32::try_from(self.snaplens.len()).map_err(|_| invalid("too many interfaces"))?;
        let mut opts = std::mem::take(&mut self.scratch);
        opts.clear();
        let built = (|| {
            if let Some(n) = name {
                push_option(&mut opts, IF_NAME, n.as_bytes())?;
            }
            if let Some(d) = description {
                push_option(&mut opts, IF_DESCRIPTION, d.as_bytes())?;
            }
            push_option(&mut opts, IF_TSRESOL, &[9])?;
            end_options(&mut opts);
            Ok::<_, io::Error>(())
        })();
        let res = built.and_then(|()| {
            let mut body = [0u8; 8];
            body[0..2].copy_from_slice(&linktype.to_le_bytes());
            body[4..8].copy_from_slice(&snaplen.to_le_bytes());
            self.write_block(BT_IDB, &body, &[], &opts)
        });
        self.scratch = opts;
        res?;
        self.snaplens.push(snaplen);
        Ok(id)
    }

    /// Adds an Apple Process Information Block and returns its index (for [`PacketMeta`]).
    /// The name is written NUL-terminated, as Apple's tcpdump writes it.
    pub fn add_process(&mut self, pid: u32, name: Option<&str>) -> io::Result<u32> {
        let index = self.processes;
        let mut opts = std::mem::take(&mut self.scratch);
        opts.clear();
        let built = (|| {
            if let Some(n) = name {
                let len = n.len().checked_add(1).ok_or_else(|| invalid("process name too long"))?;
                let len = u16::try_from(len).map_err(|_| invalid("pcapng option longer than 65535 bytes"))?;
                opts.extend_from_slice(&PIB_NAME.to_le_bytes());
                opts.extend_from_slice(&len.to_le_bytes());
                opts.extend_from_slice(n.as_bytes());
                opts.push(0);
                opts.resize(opts.len() + pad4(len as usize), 0);
            }
            end_options(&mut opts);
            Ok::<_, io::Error>(())
        })();
        let res = built.and_then(|()| self.write_block(BT_APPLE_PIB, &pid.to_le_bytes(), &[], &opts));
        self.scratch = opts;
        res?;
        self.processes = self.processes.checked_add(1).ok_or_else(|| invalid("too many processes"))?;
        Ok(index)
    }

    /// The PIB index for (pid, name), writing a new PIB the first time the pair is seen. This is
    /// what a recorder calls per attributed packet: the lookup itself does not allocate.
    pub fn process_index(&mut self, pid: u32, name: Option<&str>) -> io::Result<u32> {
        if let Some(list) = self.known.get(&pid) {
            if let Some((_, idx)) = list.iter().find(|(n, _)| n.as_deref() == name) {
                return Ok(*idx);
            }
        }
        let idx = self.add_process(pid, name)?;
        self.known.entry(pid).or_default().push((name.map(str::to_owned), idx));
        Ok(idx)
    }

    /// Appends an Enhanced Packet Block on interface `iface` (an id from [`Self::add_interface`]).
    pub fn write_packet(
        &mut self,
        iface: u32,
        ts: Timestamp,
        data: &[u8],
        orig_len: u32,
        meta: &PacketMeta<'_>,
    ) -> io::Result<()> {
        let snaplen = *self.snaplens.get(iface as usize).ok_or_else(|| invalid("packet on an undeclared interface"))?;
        for p in [meta.process, meta.effective_process].into_iter().flatten() {
            if p >= self.processes {
                return Err(invalid("packet refers to an undeclared process"));
            }
        }
        let ns = u64::try_from(ts.0).map_err(|_| invalid("timestamp before 1970"))?;
        let (caplen, orig_len) = lengths(data, snaplen, orig_len);
        let payload = data.get(..caplen as usize).unwrap_or(data);

        let mut opts = std::mem::take(&mut self.scratch);
        opts.clear();
        let built = (|| {
            // Apple's order: process first, then flags, so files diff cleanly against theirs.
            if let Some(p) = meta.process {
                push_option(&mut opts, EPB_APPLE_PIB, &p.to_le_bytes())?;
            }
            if let Some(p) = meta.effective_process {
                push_option(&mut opts, EPB_APPLE_EFFECTIVE_PIB, &p.to_le_bytes())?;
            }
            let flags: u32 = match meta.direction {
                Direction::In => 1,
                Direction::Out => 2,
                Direction::Unknown => 0,
            };
            if flags != 0 {
                push_option(&mut opts, EPB_FLAGS, &flags.to_le_bytes())?;
            }
            if let Some(c) = meta.comment {
                push_option(&mut opts, OPT_COMMENT, c.as_bytes())?;
            }
            if let Some((pen, data)) = meta.custom {
                let len =
                    u16::try_from(data.len() + 4).map_err(|_| invalid("pcapng option longer than 65535 bytes"))?;
                opts.extend_from_slice(&OPT_CUSTOM_BINARY.to_le_bytes());
                opts.extend_from_slice(&len.to_le_bytes());
                opts.extend_from_slice(&pen.to_le_bytes());
                opts.extend_from_slice(data);
                opts.resize(opts.len() + pad4(len as usize), 0);
            }
            end_options(&mut opts);
            Ok::<_, io::Error>(())
        })();
        let res = built.and_then(|()| {
            let mut body = [0u8; 20];
            body[0..4].copy_from_slice(&iface.to_le_bytes());
            body[4..8].copy_from_slice(&((ns >> 32) as u32).to_le_bytes());
            body[8..12].copy_from_slice(&(ns as u32).to_le_bytes());
            body[12..16].copy_from_slice(&caplen.to_le_bytes());
            body[16..20].copy_from_slice(&orig_len.to_le_bytes());
            self.write_block(BT_EPB, &body, payload, &opts)
        });
        self.scratch = opts;
        res?;
        self.packets = self.packets.saturating_add(1);
        Ok(())
    }

    /// Appends a Custom Block (copyable, type 0x00000BAD) with this Private Enterprise Number
    /// and data, and no options.
    pub fn write_custom(&mut self, pen: u32, data: &[u8]) -> io::Result<()> {
        self.write_block(CUSTOM_BLOCK, &pen.to_le_bytes(), data, &[])
    }

    /// Writes `type, length, fixed, data (padded), options, length`.
    fn write_block(&mut self, kind: u32, fixed: &[u8], data: &[u8], opts: &[u8]) -> io::Result<()> {
        let pad = pad4(data.len());
        let total = [12, fixed.len(), data.len(), pad, opts.len()]
            .iter()
            .try_fold(0usize, |a, &b| a.checked_add(b))
            .and_then(|t| u32::try_from(t).ok())
            .ok_or_else(|| invalid("pcapng block longer than 4 GiB"))?;
        self.out.write_all(&kind.to_le_bytes())?;
        self.out.write_all(&total.to_le_bytes())?;
        self.out.write_all(fixed)?;
        self.out.write_all(data)?;
        self.out.write_all(&[0u8; 3][..pad])?;
        self.out.write_all(opts)?;
        self.out.write_all(&total.to_le_bytes())
    }

    pub fn packets(&self) -> u64 {
        self.packets
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer (what it holds is what was flushed to it).
    pub fn get_ref(&self) -> &W {
        self.out.get_ref()
    }

    /// Flushes and hands back the underlying writer.
    pub fn finish(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Timestamp = Timestamp(1_102_274_184_317_453_123); // 2004-12-05T19:16:24.317453123Z

    #[test]
    fn pcap_header_and_record_bytes_micro() {
        let mut w = PcapWriter::new(Vec::new(), 1, 0, TsPrecision::Micro).unwrap();
        w.write_packet(T, &[0xaa, 0xbb, 0xcc], 60).unwrap();
        let b = w.finish().unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0x00, 0x00, 0x04, 0x00, // snaplen 262144
            1, 0, 0, 0,             // EN10MB
            0x88, 0x5e, 0xb3, 0x41, // 1102274184
            0x0d, 0xd8, 0x04, 0x00, // 317453 µs (ns truncated)
            3, 0, 0, 0, 60, 0, 0, 0,
            0xaa, 0xbb, 0xcc,
        ];
        assert_eq!(b, want);
    }

    #[test]
    fn pcap_nano_magic_and_fraction() {
        let mut w = PcapWriter::new(Vec::new(), 101, 65535, TsPrecision::Nano).unwrap();
        w.write_packet(T, &[1, 2], 0).unwrap();
        let b = w.finish().unwrap();
        assert_eq!(&b[0..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        assert_eq!(&b[16..24], &[0xff, 0xff, 0, 0, 101, 0, 0, 0]);
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 317_453_123);
        // orig_len below the captured length is raised to it
        assert_eq!(&b[32..40], &[2, 0, 0, 0, 2, 0, 0, 0]);
    }

    #[test]
    fn pcap_cuts_at_snaplen_and_keeps_orig_len() {
        let mut w = PcapWriter::new(Vec::new(), 1, 4, TsPrecision::Micro).unwrap();
        w.write_packet(T, &[9; 10], 10).unwrap();
        let b = w.finish().unwrap();
        assert_eq!(b.len(), 24 + 16 + 4);
        assert_eq!(&b[32..40], &[4, 0, 0, 0, 10, 0, 0, 0]);
    }

    #[test]
    fn pcap_refuses_times_it_cannot_store() {
        let mut w = PcapWriter::new(Vec::new(), 1, 0, TsPrecision::Micro).unwrap();
        assert!(w.write_packet(Timestamp(-1), &[1], 1).is_err());
        assert!(w.write_packet(Timestamp::from_secs_nanos(1 << 32, 0), &[1], 1).is_err());
        assert_eq!(w.packets(), 0);
    }

    #[test]
    fn pcapng_blocks_byte_for_byte() {
        let mut w = PcapngWriter::new(Vec::new(), "tt").unwrap();
        assert_eq!(w.add_interface(Some("ipsec0"), 101, 0).unwrap(), 0);
        let pib = w.process_index(1500, Some("charon")).unwrap();
        assert_eq!(w.process_index(1500, Some("charon")).unwrap(), pib, "same process, same PIB");
        let meta = PacketMeta {
            direction: Direction::Out,
            process: Some(pib),
            effective_process: None,
            comment: Some("hi"),
            custom: None,
        };
        w.write_packet(0, T, &[0x45, 0, 0], 3, &meta).unwrap();
        let b = w.finish().unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            // SHB: type, len 40, BOM, 1.0, section length -1, shb_userappl "tt", end, len
            0x0a, 0x0d, 0x0d, 0x0a, 40, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            4, 0, 2, 0, b't', b't', 0, 0, 0, 0, 0, 0, 40, 0, 0, 0,
            // IDB: linktype 101, snaplen 0, if_name "ipsec0", if_tsresol 9, end
            1, 0, 0, 0, 44, 0, 0, 0, 101, 0, 0, 0, 0, 0, 0, 0,
            2, 0, 6, 0, b'i', b'p', b's', b'e', b'c', b'0', 0, 0,
            9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 44, 0, 0, 0,
            // PIB: pid 1500, name "charon\0", end
            0x01, 0, 0, 0x80, 32, 0, 0, 0, 0xdc, 0x05, 0, 0,
            2, 0, 7, 0, b'c', b'h', b'a', b'r', b'o', b'n', 0, 0, 0, 0, 0, 0, 32, 0, 0, 0,
            // EPB: iface 0, ts in ns split high/low, caplen 3, orig 3, data+pad, opts, len
            6, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0,
            0x87, 0x10, 0x4c, 0x0f, 0x43, 0x43, 0x53, 0xd1,
            3, 0, 0, 0, 3, 0, 0, 0, 0x45, 0, 0, 0,
            0x01, 0x80, 4, 0, 0, 0, 0, 0,
            2, 0, 4, 0, 2, 0, 0, 0,
            1, 0, 2, 0, b'h', b'i', 0, 0,
            0, 0, 0, 0, 64, 0, 0, 0,
        ];
        assert_eq!(b, want);
        let ns = (u64::from(u32::from_le_bytes(b[128..132].try_into().unwrap())) << 32)
            | u64::from(u32::from_le_bytes(b[132..136].try_into().unwrap()));
        assert_eq!(ns, T.0 as u64);
    }

    #[test]
    fn pcapng_refuses_undeclared_interface_and_process() {
        let mut w = PcapngWriter::new(Vec::new(), "").unwrap();
        let meta = PacketMeta::default();
        assert!(w.write_packet(0, T, &[1], 1, &meta).is_err());
        w.add_interface(None, 1, 0).unwrap();
        let bad = PacketMeta { process: Some(0), ..PacketMeta::default() };
        assert!(w.write_packet(0, T, &[1], 1, &bad).is_err());
        assert!(w.write_packet(0, Timestamp(-5), &[1], 1, &meta).is_err());
        assert!(w.add_interface(None, 70_000, 0).is_err());
        w.write_packet(0, T, &[1], 1, &meta).unwrap();
        assert_eq!(w.packets(), 1);
    }

    /// Every block's leading and trailing lengths agree and blocks tile the file exactly.
    fn check_blocks(b: &[u8]) -> usize {
        let mut off = 0;
        let mut n = 0;
        while off < b.len() {
            let len = u32::from_le_bytes(b[off + 4..off + 8].try_into().unwrap()) as usize;
            assert_eq!(len % 4, 0);
            assert_eq!(&b[off + 4..off + 8], &b[off + len - 4..off + len]);
            off += len;
            n += 1;
        }
        assert_eq!(off, b.len());
        n
    }

    proptest! {
        #[test]
        fn pcap_any_input_gives_consistent_records(
            pkts in proptest::collection::vec((any::<i64>(), proptest::collection::vec(any::<u8>(), 0..300), any::<u32>()), 0..8),
            snap in 0u32..400,
        ) {
            let mut w = PcapWriter::new(Vec::new(), 1, snap, TsPrecision::Micro).unwrap();
            let mut want = 24usize;
            for (ts, data, orig) in &pkts {
                if w.write_packet(Timestamp(*ts), data, *orig).is_ok() {
                    let eff = if snap == 0 { DEFAULT_SNAPLEN } else { snap } as usize;
                    want += 16 + data.len().min(eff);
                }
            }
            prop_assert_eq!(w.finish().unwrap().len(), want);
        }

        #[test]
        fn pcapng_any_input_gives_well_formed_blocks(
            pkts in proptest::collection::vec((any::<i64>(), proptest::collection::vec(any::<u8>(), 0..300), any::<u32>(), 0u8..4, ".{0,20}"), 0..8),
            name in proptest::option::of(".{0,40}"),
            snap in 0u32..400,
        ) {
            let mut w = PcapngWriter::new(Vec::new(), "prop").unwrap();
            w.add_interface(name.as_deref(), 1, snap).unwrap();
            let p = w.process_index(7, name.as_deref()).unwrap();
            let mut blocks = 3;
            for (ts, data, orig, dir, comment) in &pkts {
                let meta = PacketMeta {
                    direction: [Direction::In, Direction::Out, Direction::Unknown, Direction::In][*dir as usize],
                    process: Some(p),
                    effective_process: (*dir == 3).then_some(p),
                    comment: Some(comment.as_str()),
                    custom: None,
                };
                if w.write_packet(0, Timestamp(*ts), data, *orig, &meta).is_ok() {
                    blocks += 1;
                }
            }
            let b = w.finish().unwrap();
            prop_assert_eq!(check_blocks(&b), blocks);
        }
    }
}

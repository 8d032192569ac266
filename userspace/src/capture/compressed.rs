//! Compressed captures. Wireshark saves captures gzip-compressed on request (`.pcap.gz`,
//! `.pcapng.gz`; many public sample captures come so) and tshark reads them as they are, and
//! zstd- and LZ4-compressed ones too: so does replay, decompressing in the reading thread
//! (`ahead`) while the packets before are decoded. Other compressions are named in the error,
//! with the command that undoes them.
//!
//! Offsets in damage messages of a compressed capture are offsets in its decompressed bytes
//! (what `gunzip`, `zstd -d` or `lz4 -d` give), said so in the message; a compressed stream
//! that is cut or corrupt ends the input like any other damage, after everything before it
//! was delivered.

use std::io::{self, Cursor, Read};

use flate2::read::MultiGzDecoder;

/// How a capture's bytes reach the readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Packing {
    Plain,
    Gzip,
    Zstd,
    Lz4,
}

/// Largest zstd window accepted: what `zstd -19` uses is 8 MiB; `--long` and `--ultra` ask
/// for up to 128 MiB, more than the process's memory target leaves, so those files are
/// refused with the reason (decompress them first).
const MAX_ZSTD_WINDOW: u64 = 32 << 20;

/// A source whose first bytes were looked at: read from the start again, decompressed if they
/// open a gzip, zstd or LZ4 stream. Several gzip members or frames in a row (`cat a.gz b.gz`)
/// read as one stream, as `gunzip`, `zstd -d` and `lz4 -d` read them.
pub(super) struct Unpacked<R: Read> {
    packing: Packing,
    inner: Inner<R>,
}

type Again<R> = io::Chain<Cursor<Vec<u8>>, R>;

enum Inner<R: Read> {
    Plain(Again<R>),
    Gzip(Box<MultiGzDecoder<Again<R>>>),
    Zstd(Box<ZstdFrames<Again<R>>>),
    Lz4(Box<lz4_flex::frame::FrameDecoder<io::BufReader<Again<R>>>>),
}

impl<R: Read> Read for Unpacked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = match &mut self.inner {
            Inner::Plain(r) => return r.read(buf),
            Inner::Gzip(r) => r.read(buf),
            Inner::Zstd(r) => r.read(buf),
            Inner::Lz4(r) => lz4_frames(r, buf),
        };
        // The decoders' messages ("corrupt deflate stream") do not say which layer failed.
        let what = self.packing.name().unwrap_or("compressed");
        got.map_err(|e| io::Error::new(e.kind(), format!("the {what} stream is damaged or cut short ({e})")))
    }
}

/// The frames of an LZ4 stream one after another: the decoder reads the next frame's header
/// itself but ends each frame with an empty read, which must not end the stream while bytes
/// follow.
fn lz4_frames<R: Read>(dec: &mut lz4_flex::frame::FrameDecoder<io::BufReader<R>>, buf: &mut [u8]) -> io::Result<usize> {
    use io::BufRead;
    // Each empty read ends a frame of at least 7 bytes; a decoder that stopped moving would
    // otherwise hold the stream here for good.
    for _ in 0..1 << 20 {
        let n = dec.read(buf)?;
        if n > 0 || buf.is_empty() || dec.get_mut().fill_buf()?.is_empty() {
            return Ok(n);
        }
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "a million empty frames in a row"))
}

/// The frames of a zstd stream one after another (`zstd` writes one per file; `cat a.zst
/// b.zst` and parallel compressors write several), skippable frames skipped.
struct ZstdFrames<R: Read> {
    src: io::BufReader<R>,
    dec: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: Read> ZstdFrames<R> {
    fn new(src: R) -> Self {
        let mut dec = ruzstd::decoding::FrameDecoder::new();
        dec.set_max_window_size(MAX_ZSTD_WINDOW);
        ZstdFrames { src: io::BufReader::new(src), dec, in_frame: false }
    }
}

impl<R: Read> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use io::BufRead;
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if !self.in_frame {
                if self.src.fill_buf()?.is_empty() {
                    return Ok(0);
                }
                match self.dec.reset(&mut self.src) {
                    Ok(()) => self.in_frame = true,
                    Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                        length, ..
                    })) => {
                        let skipped = io::copy(&mut (&mut self.src).take(u64::from(length)), &mut io::sink())?;
                        if skipped < u64::from(length) {
                            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a skippable frame is cut"));
                        }
                        continue;
                    }
                    Err(e) => return Err(io::Error::other(e)),
                }
            }
            while self.dec.can_collect() == 0 && !self.dec.is_finished() {
                self.dec
                    .decode_blocks(&mut self.src, ruzstd::decoding::BlockDecodingStrategy::UptoBlocks(1))
                    .map_err(io::Error::other)?;
            }
            let n = self.dec.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // This frame is done and drained: the next one, if any.
            self.in_frame = false;
        }
    }
}

/// Look at the first bytes of `src` and give it back ready to read (decompressed if need be).
/// The gzip decoder's state is allocated here, in the caller's thread, before any window is
/// read (the state's memory bound sees the heap change only at points of the stream itself);
/// the zstd and LZ4 decoders size their buffers by the first frame, in the first window's
/// read, and a zstd window fills up (at most [`MAX_ZSTD_WINDOW`]) over the first windows.
pub(super) fn unpack<R: Read>(mut src: R) -> io::Result<(Packing, Unpacked<R>)> {
    let mut head = vec![0u8; 4];
    let mut got = 0;
    while got < head.len() {
        match src.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(got);
    let packing = match head[..] {
        [0x1f, 0x8b, ..] => Packing::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd] => Packing::Zstd,
        [0x04, 0x22, 0x4d, 0x18] => Packing::Lz4,
        _ => Packing::Plain,
    };
    let again = Cursor::new(head).chain(src);
    let inner = match packing {
        Packing::Plain => Inner::Plain(again),
        Packing::Gzip => Inner::Gzip(Box::new(MultiGzDecoder::new(again))),
        Packing::Zstd => Inner::Zstd(Box::new(ZstdFrames::new(again))),
        Packing::Lz4 => Inner::Lz4(Box::new(lz4_flex::frame::FrameDecoder::new(io::BufReader::new(again)))),
    };
    Ok((packing, Unpacked { packing, inner }))
}

impl Packing {
    /// How the capture was compressed, for messages (`None` when it was not).
    pub(super) fn name(self) -> Option<&'static str> {
        match self {
            Packing::Plain => None,
            Packing::Gzip => Some("gzip"),
            Packing::Zstd => Some("zstd"),
            Packing::Lz4 => Some("LZ4"),
        }
    }
}

/// A file format that is not a capture but commonly holds one: its name and the command that
/// gives the capture back.
pub(super) fn container(b: &[u8]) -> Option<(&'static str, &'static str)> {
    const KNOWN: [(&[u8], &str, &str); 6] = [
        // Inside another compression only (a file that starts so is decompressed).
        (&[0x28, 0xb5, 0x2f, 0xfd], "zstd-compressed", "zstd -d FILE"),
        (&[0x04, 0x22, 0x4d, 0x18], "LZ4-compressed", "lz4 -d FILE"),
        (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz-compressed", "xz -d FILE"),
        (b"BZh", "bzip2-compressed", "bunzip2 FILE"),
        (b"PK\x03\x04", "a zip archive", "unzip FILE"),
        (&[0x1f, 0x8b], "gzip-compressed", "gunzip FILE"),
    ];
    KNOWN.iter().find(|(magic, _, _)| b.starts_with(magic)).map(|(_, what, how)| (*what, *how))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(b: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    }

    fn all(r: impl Read) -> io::Result<(Packing, Vec<u8>)> {
        let (p, mut u) = unpack(r)?;
        let mut out = Vec::new();
        u.read_to_end(&mut out)?;
        Ok((p, out))
    }

    #[test]
    fn plain_bytes_come_back_whole_also_when_short() {
        for b in [&b""[..], b"\x1f", b"\xd4\xc3\xb2\xa1rest of a pcap"] {
            assert_eq!(all(b).unwrap(), (Packing::Plain, b.to_vec()));
        }
    }

    #[test]
    fn gzip_is_inflated_and_members_in_a_row_read_as_one() {
        let mut two = gz(b"first member, ");
        two.extend(gz(b"second member"));
        assert_eq!(all(&two[..]).unwrap(), (Packing::Gzip, b"first member, second member".to_vec()));
    }

    #[test]
    fn a_cut_gzip_stream_is_an_error_after_what_it_held() {
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let z = gz(&data);
        let (p, mut u) = unpack(&z[..z.len() / 2]).unwrap();
        assert_eq!(p, Packing::Gzip);
        let mut out = vec![0; data.len()];
        let mut got = 0;
        let err = loop {
            match u.read(&mut out[got..]) {
                Ok(0) => panic!("a cut stream ended without an error after {got} bytes"),
                Ok(n) => got += n,
                Err(e) => break e,
            }
        };
        assert!(got > 0 && out[..got] == data[..got], "what came before the cut is delivered");
        assert!(err.to_string().contains("gzip stream is damaged or cut short"), "{err}");
    }

    /// zstd and LZ4 streams of several frames (as `cat a b` makes) read as one, skippable
    /// frames skipped; a cut one is an error after what it held.
    #[test]
    fn zstd_and_lz4_frames_in_a_row_read_as_one() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let lz4 = |b: &[u8]| {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        };
        let mut two = lz4(&data[..1000]);
        two.extend(lz4(&data[1000..]));
        assert_eq!(all(&two[..]).unwrap(), (Packing::Lz4, data.clone()));
        let cut = &two[..two.len() - 100];
        assert!(all(cut).unwrap_err().to_string().contains("LZ4 stream is damaged or cut short"));
        // zstd: frames written by hand (raw blocks: a frame header with the single-segment flag
        // and a 1-byte content size, then one last raw block), with a skippable frame between.
        let frame = |b: &[u8]| {
            assert!(b.len() < 256);
            let mut f = vec![0x28, 0xb5, 0x2f, 0xfd, 0x20, b.len() as u8];
            let block = (b.len() as u32) << 3 | 1; // raw block, last
            f.extend_from_slice(&block.to_le_bytes()[..3]);
            f.extend_from_slice(b);
            f
        };
        let mut z = frame(b"first frame, ");
        z.extend([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0, 9, 9, 9]);
        z.extend(frame(b"second frame"));
        assert_eq!(all(&z[..]).unwrap(), (Packing::Zstd, b"first frame, second frame".to_vec()));
        let cut = &z[..z.len() - 4];
        assert!(all(cut).unwrap_err().to_string().contains("zstd stream is damaged or cut short"));
    }

    #[test]
    fn other_containers_are_named_with_their_command() {
        assert_eq!(container(b"\x28\xb5\x2f\xfd\x00").unwrap().0, "zstd-compressed");
        assert_eq!(container(b"BZh91AY").unwrap().1, "bunzip2 FILE");
        assert!(container(b"\xd4\xc3\xb2\xa1").is_none());
    }
}

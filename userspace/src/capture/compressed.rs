//! Compressed captures. Wireshark saves captures gzip-compressed on request (`.pcap.gz`,
//! `.pcapng.gz`; many public sample captures come so) and tshark reads them as they are:
//! so does replay, inflating in the reading thread (`ahead`) while the packets before are
//! decoded. Other compressions are named in the error, with the command that undoes them.
//!
//! Offsets in damage messages of a compressed capture are offsets in its decompressed bytes
//! (what `gunzip` gives), said so in the message; a gzip stream that is cut or corrupt ends
//! the input like any other damage, after everything before it was delivered.

use std::io::{self, Cursor, Read};

use flate2::read::MultiGzDecoder;

/// How a capture's bytes reach the readers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Packing {
    Plain,
    Gzip,
}

/// A source whose first bytes were looked at: read from the start again, inflated if they
/// open a gzip stream. Several gzip members in a row (`cat a.gz b.gz`) read as one stream,
/// as `gunzip` reads them.
pub(super) struct Unpacked<R: Read> {
    inner: Inner<R>,
}

enum Inner<R: Read> {
    Plain(io::Chain<Cursor<Vec<u8>>, R>),
    Gzip(Box<MultiGzDecoder<io::Chain<Cursor<Vec<u8>>, R>>>),
}

impl<R: Read> Read for Unpacked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(r) => r.read(buf),
            Inner::Gzip(r) => r.read(buf).map_err(|e| {
                // flate2's messages ("corrupt deflate stream") do not say which layer failed.
                io::Error::new(e.kind(), format!("the gzip stream is damaged or cut short ({e})"))
            }),
        }
    }
}

/// Look at the first bytes of `src` and give it back ready to read (inflated if need be). The
/// decoder's state is allocated here, in the caller's thread, before any window is read (the
/// state's memory bound sees the heap change only at points of the stream itself).
pub(super) fn unpack<R: Read>(mut src: R) -> io::Result<(Packing, Unpacked<R>)> {
    let mut head = vec![0u8; 2];
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
    let gzip = head == [0x1f, 0x8b];
    let again = Cursor::new(head).chain(src);
    if gzip {
        Ok((Packing::Gzip, Unpacked { inner: Inner::Gzip(Box::new(MultiGzDecoder::new(again))) }))
    } else {
        Ok((Packing::Plain, Unpacked { inner: Inner::Plain(again) }))
    }
}

/// A file format that is not a capture but commonly holds one: its name and the command that
/// gives the capture back.
pub(super) fn container(b: &[u8]) -> Option<(&'static str, &'static str)> {
    const KNOWN: [(&[u8], &str, &str); 6] = [
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

    #[test]
    fn other_containers_are_named_with_their_command() {
        assert_eq!(container(b"\x28\xb5\x2f\xfd\x00").unwrap().0, "zstd-compressed");
        assert_eq!(container(b"BZh91AY").unwrap().1, "bunzip2 FILE");
        assert!(container(b"\xd4\xc3\xb2\xa1").is_none());
    }
}

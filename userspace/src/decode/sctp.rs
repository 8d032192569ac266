//! SCTP (RFC 9260) packets as far as SIP over SCTP (RFC 4168) needs them: the common header's
//! ports, and the user messages in its DATA (and I-DATA, RFC 8260) chunks.

use super::{be16, Malformed};

pub const PROTO_SCTP: u8 = 132;

const CHUNK_DATA: u8 = 0;
const CHUNK_IDATA: u8 = 64;
/// DATA flags: the first and the last fragment of a user message.
const FLAG_BEGIN: u8 = 0x02;
const FLAG_END: u8 = 0x01;
/// Chunks read in one packet before the rest is left alone (a packet holds a few; a 64 KiB
/// datagram of empty chunks would be 16,384).
const MAX_CHUNKS: usize = 256;

/// An SCTP packet: its ports and the chunks behind the common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sctp<'a> {
    pub sport: u16,
    pub dport: u16,
    chunks: &'a [u8],
}

/// Read the common header (ports, verification tag, checksum).
pub fn parse(b: &[u8]) -> Result<Sctp<'_>, Malformed> {
    let h = b.get(..12).ok_or(Malformed::new("sctp header truncated"))?;
    Ok(Sctp { sport: be16(h, 0).unwrap_or(0), dport: be16(h, 2).unwrap_or(0), chunks: &b[12..] })
}

/// The user data of a DATA or I-DATA chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserData<'a> {
    pub stream: u16,
    pub tsn: u32,
    /// B and E flags: the first and the last piece of a user message (both: a whole one).
    pub begin: bool,
    pub end: bool,
    /// An I-DATA chunk (RFC 8260), whose pieces are ordered by message id, not TSN.
    pub idata: bool,
    pub data: &'a [u8],
}

impl UserData<'_> {
    pub fn whole(&self) -> bool {
        self.begin && self.end
    }
}

impl<'a> Sctp<'a> {
    /// The user data of each DATA and I-DATA chunk, in order; a chunk whose length runs past the
    /// packet ends the walk with that damage (the chunks before it are still given).
    pub fn user_data(&self, mut each: impl FnMut(UserData<'a>)) -> Result<(), Malformed> {
        let mut rest = self.chunks;
        for _ in 0..MAX_CHUNKS {
            let Some(&[kind, flags, l0, l1]) = rest.first_chunk::<4>() else { return Ok(()) };
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            if len < 4 {
                return Err(Malformed::new("sctp chunk length below 4"));
            }
            let chunk = rest.get(..len).ok_or(Malformed::new("sctp chunk past packet end"))?;
            // DATA: TSN, stream, stream sequence, payload protocol; I-DATA: TSN, stream,
            // reserved, message id, payload protocol or fragment sequence.
            let header = match kind {
                CHUNK_DATA => Some(16),
                CHUNK_IDATA => Some(20),
                _ => None,
            };
            if let Some(h) = header {
                let data = chunk.get(h..).ok_or(Malformed::new("sctp data chunk truncated"))?;
                each(UserData {
                    stream: be16(chunk, 8).unwrap_or(0),
                    tsn: super::be32(chunk, 4).unwrap_or(0),
                    begin: flags & FLAG_BEGIN != 0,
                    end: flags & FLAG_END != 0,
                    idata: kind == CHUNK_IDATA,
                    data,
                });
            }
            // Chunks are padded to a multiple of four bytes (the last one's padding may be cut).
            rest = rest.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chunk(kind: u8, flags: u8, body: &[u8]) -> Vec<u8> {
        let mut c = vec![kind, flags];
        c.extend(((4 + body.len()) as u16).to_be_bytes());
        c.extend(body);
        c.resize(c.len().next_multiple_of(4), 0);
        c
    }

    fn data(flags: u8, msg: &[u8]) -> Vec<u8> {
        chunk(CHUNK_DATA, flags, &[&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0][..], msg].concat())
    }

    fn packet(chunks: &[Vec<u8>]) -> Vec<u8> {
        [&[0x13, 0xc4, 0x13, 0xc5, 0, 0, 0, 7, 0, 0, 0, 0][..], &chunks.concat()].concat()
    }

    /// The whole messages of a packet (`None` for a piece), and how the walk ended.
    fn messages(b: &[u8]) -> (Vec<Option<&[u8]>>, Result<(), Malformed>) {
        let p = parse(b).unwrap();
        let mut out = Vec::new();
        let r = p.user_data(|d| out.push(d.whole().then_some(d.data)));
        (out, r)
    }

    #[test]
    fn bundled_chunks() {
        let sack = chunk(3, 0, &[0; 12]);
        let idata = chunk(CHUNK_IDATA, 0x03, &[&[0u8; 16][..], b"BYE"].concat());
        let b = packet(&[sack, data(0x03, b"OPTIONS"), data(0x02, b"INV"), data(0x07, b"ACK"), idata]);
        let p = parse(&b).unwrap();
        assert_eq!((p.sport, p.dport), (5060, 5061));
        let (got, r) = messages(&b);
        assert_eq!(r, Ok(()));
        assert_eq!(got, [Some(&b"OPTIONS"[..]), None, Some(b"ACK"), Some(b"BYE")]);
        let mut all = Vec::new();
        p.user_data(|d| all.push(d)).unwrap();
        assert_eq!((all[1].tsn, all[1].stream, all[1].begin, all[1].end), (1, 0, true, false));
        assert!(all[3].idata && !all[0].idata);
    }

    #[test]
    fn damage() {
        assert!(parse(&[0; 11]).is_err());
        let mut b = packet(&[data(0x03, b"REGISTER"), data(0x03, b"x")]);
        let second = 12 + 24;
        b[second + 2..second + 4].copy_from_slice(&200u16.to_be_bytes());
        let (got, r) = messages(&b);
        assert_eq!(got, [Some(&b"REGISTER"[..])], "the chunk before the damage");
        assert!(r.is_err());
        let b = packet(&[chunk(CHUNK_DATA, 0x03, &[0; 4])]);
        assert!(messages(&b).1.is_err(), "DATA header cut");
        let b = packet(&[vec![0, 3, 0, 2]]);
        assert!(messages(&b).1.is_err());
    }

    proptest! {
        #[test]
        fn never_panics(b in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = parse(&b) {
                let _ = p.user_data(|_| {});
            }
        }
    }
}

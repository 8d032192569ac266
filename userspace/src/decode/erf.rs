//! Endace ERF records (link type 197), what DAG capture cards on carrier links write: a 16-byte
//! record header (timestamp, type, flags, record length, loss counter, wire length), 8-byte
//! extension headers when the type's top bit says so, then the frame in the form the type names.

use crate::decode::tunnel::{ppp, Payload};
use crate::decode::{be16, Malformed};

/// Extension headers walked before a record is taken for garbage (cards write one or two).
const MAX_EXTENSIONS: usize = 32;

/// Read one ERF record: the frame it holds as a tunnel's payload (Ethernet, IP), its HDLC read
/// (PPP or Cisco HDLC); `None` for ATM, InfiniBand, raw link bytes, metadata and padding.
pub fn record(b: &[u8]) -> Result<Payload<'_>, Malformed> {
    const TRUNCATED: Malformed = Malformed::new("erf header truncated");
    let h = b.get(..16).ok_or(TRUNCATED)?;
    let kind = h[8];
    let rlen = usize::from(be16(h, 10).unwrap_or(0));
    if rlen < 16 {
        return Err(Malformed::new("erf record length below 16"));
    }
    // The record's own length bounds it (padding past the frame included); a capture cut
    // by its snaplen holds less.
    let rec = &b[..rlen.min(b.len())];
    let mut at = 16;
    if kind & 0x80 != 0 {
        for n in 0.. {
            if n == MAX_EXTENSIONS {
                return Err(Malformed::new("erf extension headers too many"));
            }
            let ext = rec.get(at..at + 8).ok_or(Malformed::new("erf extension header truncated"))?;
            at += 8;
            if ext[0] & 0x80 == 0 {
                break;
            }
        }
    }
    let body = &rec[at..];
    let skip = |n: usize| body.get(n..).ok_or(Malformed::new("erf frame header truncated"));
    match kind & 0x7f {
        // ETH, COLOR_ETH, DSM_COLOR_ETH, COLOR_HASH_ETH: offset and pad bytes, then the frame.
        2 | 11 | 16 | 20 => Ok(Payload::Ethernet(skip(2)?)),
        // HDLC_POS, COLOR_HDLC_POS, DSM_COLOR_HDLC_POS, COLOR_HASH_POS.
        1 | 10 | 15 | 19 => ppp::hdlc_frame(body),
        // MC_HDLC, COLOR_MC_HDLC_POS: a 4-byte multichannel header first.
        5 | 17 => ppp::hdlc_frame(skip(4)?),
        // IPV4, IPV6.
        22 | 23 => Ok(Payload::Ip(body)),
        _ => Ok(Payload::None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn erf(kind: u8, exts: &[[u8; 8]], body: &[u8]) -> Vec<u8> {
        let rlen = (16 + exts.len() * 8 + body.len()) as u16;
        let mut r = vec![0; 8];
        r.extend([kind, 0x04]);
        r.extend(rlen.to_be_bytes());
        r.extend([0, 0]);
        r.extend((body.len() as u16).to_be_bytes());
        for e in exts {
            r.extend(e);
        }
        r.extend(body);
        r
    }

    #[test]
    fn record_types() {
        let eth = [0xaa; 20];
        let ip = [0x45; 20];
        assert_eq!(record(&erf(2, &[], &[[0, 0].as_slice(), &eth].concat())), Ok(Payload::Ethernet(&eth[..])));
        let ppp = [&[0xff, 0x03, 0x00, 0x21][..], &ip].concat();
        assert_eq!(record(&erf(1, &[], &ppp)), Ok(Payload::Ip(&ip[..])));
        let cisco = [&[0x0f, 0x00, 0x08, 0x00][..], &ip].concat();
        assert_eq!(record(&erf(5, &[], &[[0; 4].as_slice(), &cisco].concat())), Ok(Payload::Ip(&ip[..])));
        assert_eq!(record(&erf(22, &[], &ip)), Ok(Payload::Ip(&ip[..])));
        assert_eq!(record(&erf(3, &[], &eth)), Ok(Payload::None));
        assert_eq!(record(&erf(48, &[], &eth)), Ok(Payload::None));
    }

    #[test]
    fn extension_headers_and_padding() {
        let ip = [0x45; 20];
        let two = [[0x83, 0, 0, 0, 0, 0, 0, 0], [0x03, 0, 0, 0, 0, 0, 0, 0]];
        assert_eq!(record(&erf(22 | 0x80, &two, &ip)), Ok(Payload::Ip(&ip[..])));
        // Padding after the record's length is not part of it.
        let mut r = erf(22, &[], &ip);
        r.extend([0; 8]);
        assert_eq!(record(&r), Ok(Payload::Ip(&ip[..])));
    }

    #[test]
    fn damage() {
        assert!(record(&[0; 15]).is_err());
        let mut r = erf(22, &[], &[0x45; 4]);
        r[10..12].copy_from_slice(&8u16.to_be_bytes());
        assert!(record(&r).is_err(), "record length below the header");
        assert!(record(&erf(22 | 0x80, &[], &[0x45; 4])).is_err(), "extension announced, cut");
        let endless: Vec<[u8; 8]> = (0..40).map(|_| [0x80; 8]).collect();
        assert!(record(&erf(22 | 0x80, &endless, &[])).is_err());
        assert!(record(&erf(2, &[], &[0])).is_err(), "ethernet pad cut");
    }
}

//! Records of the `events` ring buffer, decoded from bytes with the `tuntrace-probes` mirrors
//! (length-checked, any alignment).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use tuntrace_probes::layout::{self, from_bytes, Hdr, PktRec, ProcRec, SockRec, TunRec};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Sock(SockRec),
    Proc(ProcRec),
    Tun(TunRec),
    /// A packet head; `data` starts at the IP header (pcap LINKTYPE_RAW), `rec.cap_len` bytes.
    Packet {
        rec: PktRec,
        data: Vec<u8>,
    },
}

/// A record borrowing its packet bytes from the ring item, for readers that copy them once into
/// their own buffer ([`super::Probes::drain`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordRef<'a> {
    Sock(SockRec),
    Proc(ProcRec),
    Tun(TunRec),
    Packet { rec: PktRec, data: &'a [u8] },
}

impl<'a> RecordRef<'a> {
    pub fn decode(item: &'a [u8]) -> Result<RecordRef<'a>, BadRecord> {
        let bad = |rec_type| BadRecord { len: item.len(), rec_type };
        let hdr: Hdr = from_bytes(item).ok_or(bad(0))?;
        if usize::from(hdr.len) > item.len() {
            return Err(bad(hdr.rec_type));
        }
        match hdr.rec_type {
            layout::REC_SOCK => from_bytes(item).map(RecordRef::Sock),
            layout::REC_PROC => from_bytes(item).map(RecordRef::Proc),
            layout::REC_TUN => from_bytes(item).map(RecordRef::Tun),
            layout::REC_PKT => {
                let rec: PktRec = from_bytes(item).ok_or(bad(hdr.rec_type))?;
                let start = std::mem::size_of::<PktRec>();
                let data = item.get(start..start + rec.cap_len as usize).ok_or(bad(hdr.rec_type))?;
                Some(RecordRef::Packet { rec, data })
            }
            _ => None,
        }
        .ok_or(bad(hdr.rec_type))
    }
}

/// Why a ring item was not turned into a record (a bug or an ABI mismatch, never expected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    pub len: usize,
    pub rec_type: u16,
}

impl From<RecordRef<'_>> for Record {
    fn from(r: RecordRef<'_>) -> Record {
        match r {
            RecordRef::Sock(r) => Record::Sock(r),
            RecordRef::Proc(r) => Record::Proc(r),
            RecordRef::Tun(r) => Record::Tun(r),
            RecordRef::Packet { rec, data } => Record::Packet { rec, data: data.to_vec() },
        }
    }
}

impl Record {
    pub fn decode(item: &[u8]) -> Result<Record, BadRecord> {
        RecordRef::decode(item).map(Record::from)
    }

    /// The record with its packet bytes borrowed.
    pub fn as_ref(&self) -> RecordRef<'_> {
        match self {
            Record::Sock(r) => RecordRef::Sock(*r),
            Record::Proc(r) => RecordRef::Proc(*r),
            Record::Tun(r) => RecordRef::Tun(*r),
            Record::Packet { rec, data } => RecordRef::Packet { rec: *rec, data },
        }
    }

    pub fn header(&self) -> &Hdr {
        match self {
            Record::Sock(r) => &r.hdr,
            Record::Proc(r) => &r.hdr,
            Record::Tun(r) => &r.hdr,
            Record::Packet { rec, .. } => &rec.hdr,
        }
    }
}

/// An address of a record or map key: 16 bytes, IPv4 in the first four. `family` is AF_INET /
/// AF_INET6 in socket records and 4 / 6 in flow keys; both spellings are accepted.
pub fn ip(family: u8, bytes: &[u8; 16]) -> IpAddr {
    if family == libc::AF_INET as u8 || family == 4 {
        IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*bytes))
    }
}

/// Local and remote addresses of a socket record.
pub fn sock_addrs(r: &SockRec) -> (SocketAddr, SocketAddr) {
    (SocketAddr::new(ip(r.family, &r.laddr), r.lport), SocketAddr::new(ip(r.family, &r.raddr), r.rport))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuntrace_probes::layout::as_bytes;

    fn pkt(cap_len: u32, hdr_len: u16) -> Vec<u8> {
        let rec = PktRec {
            hdr: Hdr { rec_type: layout::REC_PKT, len: hdr_len, cpu: 1, ts: 5 },
            cookie: 9,
            ifindex: 2,
            tgid: 77,
            orig_len: 100,
            cap_len,
            direction: layout::DIR_OUT,
            hook: layout::HOOK_TC,
            flags: 0,
            _pad0: 0,
            tid: 0,
        };
        let mut b = as_bytes(&rec).to_vec();
        b.extend(0..cap_len as u8);
        b
    }

    #[test]
    fn packets_carry_exactly_their_captured_bytes() {
        let b = pkt(4, 52);
        match Record::decode(&b).unwrap() {
            Record::Packet { rec, data } => {
                assert_eq!((rec.tgid, rec.cookie, rec.orig_len), (77, 9, 100));
                assert_eq!(data, [0, 1, 2, 3]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn truncated_or_unknown_items_are_refused() {
        let b = pkt(4, 52);
        assert!(Record::decode(&b[..50]).is_err(), "cap_len beyond the item");
        assert!(Record::decode(&b[..10]).is_err(), "shorter than a header");
        let mut unknown = b.clone();
        unknown[0] = 99;
        assert_eq!(Record::decode(&unknown), Err(BadRecord { len: b.len(), rec_type: 99 }));
        let mut long = b;
        long[2] = 200; // hdr.len beyond the item
        assert!(Record::decode(&long).is_err());
    }

    #[test]
    fn addresses_follow_the_family() {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[198, 18, 0, 1]);
        assert_eq!(ip(libc::AF_INET as u8, &a).to_string(), "198.18.0.1");
        assert_eq!(ip(4, &a).to_string(), "198.18.0.1");
        assert_eq!(ip(6, &Ipv6Addr::LOCALHOST.octets()).to_string(), "::1");
    }
}

//! SCTP user messages from their fragments: a DATA chunk with the B flag starts one, chunks with
//! the next TSNs on the same stream add to it, the one with the E flag ends it (RFC 9260 6.9).
//! Messages are kept per (association direction, stream), bounded in number and bytes; what is
//! given up is counted.

use std::collections::HashMap;
use std::net::IpAddr;

/// Messages being joined at once.
pub const MAX_MESSAGES: usize = 1024;
/// Bytes held over all of them.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;

/// One direction of an association and a stream in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub stream: u16,
}

struct Partial {
    next_tsn: u32,
    data: Vec<u8>,
}

#[derive(Default)]
pub struct Joiner {
    open: HashMap<Key, Partial>,
    bytes: usize,
    /// Fragments given up: a message over the bounds, or a TSN missing between fragments.
    pub dropped: u64,
}

impl Joiner {
    /// Add a fragment (`begin`/`end`: its B and E flags, not both); the whole message when
    /// this fragment ends one whose every piece was seen.
    pub fn push(&mut self, key: Key, tsn: u32, begin: bool, end: bool, data: &[u8]) -> Option<Vec<u8>> {
        if begin {
            if let Some(old) = self.open.remove(&key) {
                self.bytes -= old.data.len();
                self.dropped += 1;
            }
            if self.open.len() >= MAX_MESSAGES || self.bytes + data.len() > MAX_BYTES {
                self.dropped += 1;
                return None;
            }
            self.bytes += data.len();
            self.open.insert(key, Partial { next_tsn: tsn.wrapping_add(1), data: data.to_vec() });
            return None;
        }
        let Some(p) = self.open.get_mut(&key) else {
            // A piece of a message whose start was not seen (or was given up).
            self.dropped += 1;
            return None;
        };
        if p.next_tsn != tsn || self.bytes + data.len() > MAX_BYTES {
            if let Some(old) = self.open.remove(&key) {
                self.bytes -= old.data.len();
            }
            self.dropped += 1;
            return None;
        }
        p.data.extend_from_slice(data);
        p.next_tsn = tsn.wrapping_add(1);
        self.bytes += data.len();
        if !end {
            return None;
        }
        let done = self.open.remove(&key)?;
        self.bytes -= done.data.len();
        Some(done.data)
    }

    /// Messages still waiting for pieces.
    pub fn in_flight(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(stream: u16) -> Key {
        Key { src: [10, 0, 0, 1].into(), sport: 5060, dst: [10, 0, 0, 2].into(), dport: 5060, stream }
    }

    #[test]
    fn joins_in_tsn_order_per_stream() {
        let mut j = Joiner::default();
        assert_eq!(j.push(key(1), 10, true, false, b"INV"), None);
        assert_eq!(j.push(key(2), 11, true, false, b"BY"), None);
        assert_eq!(j.push(key(1), 11, false, false, b"ITE "), None);
        assert_eq!(j.push(key(1), 12, false, true, b"sip"), Some(b"INVITE sip".to_vec()));
        assert_eq!(j.push(key(2), 12, false, true, b"E"), Some(b"BYE".to_vec()));
        assert_eq!((j.in_flight(), j.bytes, j.dropped), (0, 0, 0));
    }

    #[test]
    fn gaps_and_orphans_are_counted() {
        let mut j = Joiner::default();
        assert_eq!(j.push(key(0), u32::MAX, true, false, b"a"), None);
        assert_eq!(j.push(key(0), 1, false, true, b"c"), None, "TSN 0 missing");
        assert_eq!(j.dropped, 1);
        assert_eq!(j.push(key(0), 5, false, true, b"x"), None, "no start");
        assert_eq!(j.push(key(0), 7, true, false, b"a"), None);
        assert_eq!(j.push(key(0), 9, true, false, b"b"), None, "a new start replaces the old");
        assert_eq!(j.push(key(0), 10, false, true, b"c"), Some(b"bc".to_vec()));
        assert_eq!((j.dropped, j.bytes), (3, 0));
    }

    #[test]
    fn bounded() {
        let mut j = Joiner::default();
        for s in 0..MAX_MESSAGES as u16 {
            j.push(key(s), 1, true, false, b"x");
        }
        assert_eq!(j.push(key(u16::MAX), 1, true, false, b"x"), None);
        assert_eq!((j.in_flight(), j.dropped), (MAX_MESSAGES, 1));
        let mut j = Joiner::default();
        let big = vec![0; MAX_BYTES / 2 + 1];
        j.push(key(0), 1, true, false, &big);
        assert_eq!(j.push(key(0), 2, false, false, &big), None);
        assert_eq!((j.in_flight(), j.bytes, j.dropped), (0, 0, 1));
    }
}

//! IPv4 and IPv6 fragment reassembly with bounded memory.
//!
//! Fragments are rare (big SIP INVITEs over UDP, IKE_AUTH with certificates), so this path may
//! allocate. What it must not do is grow without bound on hostile or damaged captures: total
//! buffered bytes, datagrams in flight and datagram size are capped, and a datagram not completed
//! within the timeout (capture time) is dropped.
//!
//! Overlap policy: an exact duplicate of a fragment already held (same offset and length) is
//! ignored; any other overlap drops the whole datagram, as RFC 5722 requires for IPv6. Accepting
//! overlaps would let two readers of the same capture disagree on the content.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::decode::ip::IpPacket;
use crate::time::Timestamp;

#[derive(Debug, Clone, Copy)]
pub struct ReasmLimits {
    /// Sum of reassembly buffer capacities over all datagrams in flight.
    pub max_bytes: usize,
    pub max_datagrams: usize,
    /// Reassembled payload size limit (IPv4 and IPv6 payload length fields are 16 bits).
    pub max_datagram: usize,
    /// Capture-time age after which an incomplete datagram is dropped.
    pub timeout_ns: i64,
}

impl Default for ReasmLimits {
    fn default() -> Self {
        ReasmLimits { max_bytes: 8 << 20, max_datagrams: 1024, max_datagram: 65535, timeout_ns: 30_000_000_000 }
    }
}

/// A whole datagram's payload, ready for the UDP/TCP/ESP decoders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Upper-layer protocol (for IPv6 after any extension headers inside the fragmented part).
    pub proto: u8,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasmResult {
    /// Not a fragment (or an atomic IPv6 fragment): use `pkt.payload` as it is.
    NotFragment,
    /// Held; the datagram is not complete yet.
    Pending,
    Complete(Datagram),
    /// This fragment (and usually its datagram) was given up; the reason is a stable counter key.
    Dropped(&'static str),
}

/// What the reassembler gave up, for the report's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReasmStats {
    pub completed: u64,
    pub duplicates: u64,
    pub overlaps: u64,
    pub timed_out: u64,
    /// Datagrams evicted to make room (datagram count or byte cap).
    pub evicted: u64,
    pub too_large: u64,
    pub truncated: u64,
    pub inconsistent: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

#[derive(Debug)]
struct Partial {
    /// Identifies this incarnation in the age queue (a key can be reused after completion).
    serial: u64,
    buf: Vec<u8>,
    /// Received byte ranges `[start, end)`, sorted, disjoint and not adjacent (merged).
    have: Vec<(usize, usize)>,
    /// Payload length, known once the last fragment (MF = 0) arrived.
    total: Option<usize>,
    /// Upper-layer protocol from the first fragment's header.
    proto: Option<u8>,
}

impl Partial {
    fn complete(&self) -> bool {
        matches!((self.total, self.have.as_slice()), (Some(t), [(0, e)]) if *e == t)
    }
}

#[derive(Debug)]
pub struct Reassembler {
    limits: ReasmLimits,
    /// Keyed by what packets say: hashed with a per-process random seed (foldhash), as fast
    /// as the tables' own hashes and as hard to aim at one bucket; SipHash was a quarter of
    /// replay time on a capture of fragmented IKE.
    flights: HashMap<Key, Partial, foldhash::fast::RandomState>,
    /// Insertion order ≈ age order (capture time mostly advances), for O(1) timeout and eviction.
    age: VecDeque<(Timestamp, Key, u64)>,
    next_serial: u64,
    bytes: usize,
    pub stats: ReasmStats,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(ReasmLimits::default())
    }
}

impl Reassembler {
    pub fn new(limits: ReasmLimits) -> Self {
        Reassembler {
            limits,
            flights: HashMap::default(),
            age: VecDeque::new(),
            next_serial: 0,
            bytes: 0,
            stats: ReasmStats::default(),
        }
    }

    /// Bytes currently held in reassembly buffers (never above `limits.max_bytes`).
    pub fn bytes_held(&self) -> usize {
        self.bytes
    }

    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }

    pub fn push(&mut self, now: Timestamp, pkt: &IpPacket<'_>) -> ReasmResult {
        let Some(frag) = pkt.frag else { return ReasmResult::NotFragment };
        if frag.offset == 0 && !frag.more {
            return ReasmResult::NotFragment;
        }
        self.expire(now);
        let key = Key { src: pkt.src, dst: pkt.dst, proto: pkt.proto, id: frag.id };
        let start = frag.offset as usize;
        let len = pkt.payload.len();
        let end = start + len;

        if pkt.truncated {
            // The missing bytes will never arrive: the datagram cannot complete.
            self.stats.truncated += 1;
            self.remove(&key);
            return ReasmResult::Dropped("truncated fragment");
        }
        if end > self.limits.max_datagram {
            self.stats.too_large += 1;
            self.remove(&key);
            return ReasmResult::Dropped("reassembled datagram too large");
        }
        if frag.more && !len.is_multiple_of(8) {
            self.stats.inconsistent += 1;
            self.remove(&key);
            return ReasmResult::Dropped("fragment length not a multiple of 8");
        }
        if len == 0 && frag.more {
            return ReasmResult::Dropped("empty fragment");
        }

        if !self.flights.contains_key(&key) {
            while self.flights.len() >= self.limits.max_datagrams.max(1) {
                if !self.evict_oldest(None) {
                    break;
                }
            }
            let serial = self.next_serial;
            self.next_serial += 1;
            self.age.push_back((now, key, serial));
            self.flights.insert(key, Partial { serial, buf: Vec::new(), have: Vec::new(), total: None, proto: None });
        }

        // Consistency checks against what is already held.
        let verdict = {
            let Some(p) = self.flights.get(&key) else { return ReasmResult::Dropped("reassembly state lost") };
            let covered = p.have.iter().any(|&(s, e)| s <= start && end <= e);
            if covered && (frag.more || p.total == Some(end)) && p.buf.get(start..end) == Some(pkt.payload) {
                // Bytes already held, identical: a retransmission or the same packet captured
                // twice. Ranges are merged, so this compares content, not fragment boundaries.
                Some(None)
            } else if p.have.iter().any(|&(s, e)| start < e && s < end) {
                Some(Some(("overlapping fragment", 0)))
            } else if !frag.more && p.total.is_some_and(|t| t != end) {
                Some(Some(("conflicting last fragment", 1)))
            } else if p.total.is_some_and(|t| end > t) || (!frag.more && p.have.last().is_some_and(|&(_, e)| e > end)) {
                Some(Some(("fragment past datagram end", 1)))
            } else {
                None
            }
        };
        match verdict {
            Some(None) => {
                self.stats.duplicates += 1;
                return ReasmResult::Pending;
            }
            Some(Some((reason, kind))) => {
                if kind == 0 {
                    self.stats.overlaps += 1;
                } else {
                    self.stats.inconsistent += 1;
                }
                self.remove(&key);
                return ReasmResult::Dropped(reason);
            }
            None => {}
        }

        // Make room for the buffer growth, evicting other datagrams first.
        let cur_cap = self.flights.get(&key).map_or(0, |p| p.buf.capacity());
        let grow = end.saturating_sub(cur_cap);
        while grow > 0 && self.bytes + grow > self.limits.max_bytes {
            if !self.evict_oldest(Some(&key)) {
                self.remove(&key);
                self.stats.evicted += 1;
                return ReasmResult::Dropped("reassembly memory cap");
            }
        }

        let Some(p) = self.flights.get_mut(&key) else { return ReasmResult::Dropped("reassembly state lost") };
        if end > p.buf.len() {
            let before = p.buf.capacity();
            p.buf.reserve_exact(end - p.buf.len());
            p.buf.resize(end, 0);
            self.bytes += p.buf.capacity() - before;
        }
        p.buf[start..end].copy_from_slice(pkt.payload);
        insert_range(&mut p.have, start, end);
        if !frag.more {
            p.total = Some(end);
        }
        if start == 0 {
            p.proto = Some(pkt.proto);
        }
        if !p.complete() {
            return ReasmResult::Pending;
        }

        let Some(p) = self.take(&key) else { return ReasmResult::Dropped("reassembly state lost") };
        let proto = p.proto.unwrap_or(pkt.proto);
        let mut payload = p.buf;
        let total = p.total.unwrap_or(payload.len());
        payload.truncate(total);
        self.stats.completed += 1;
        if pkt.is_v6() {
            // Destination options may sit between the fragment header and the upper layer.
            return match crate::decode::ip::skip_v6_ext(proto, &payload) {
                Ok((upper, rest)) => {
                    let skip = payload.len() - rest.len();
                    payload.drain(..skip);
                    ReasmResult::Complete(Datagram { proto: upper, payload })
                }
                Err(e) => ReasmResult::Dropped(e.reason),
            };
        }
        ReasmResult::Complete(Datagram { proto, payload })
    }

    /// Drop every datagram older than the timeout at capture time `now`.
    pub fn expire(&mut self, now: Timestamp) {
        while let Some(&(t, key, serial)) = self.age.front() {
            let live = self.flights.get(&key).is_some_and(|p| p.serial == serial);
            if !live {
                self.age.pop_front();
                continue;
            }
            if now.0.saturating_sub(t.0) <= self.limits.timeout_ns {
                break;
            }
            self.age.pop_front();
            self.take(&key);
            self.stats.timed_out += 1;
        }
    }

    /// Evict the oldest datagram other than `keep`; false when there is none.
    fn evict_oldest(&mut self, keep: Option<&Key>) -> bool {
        let mut kept = None;
        let mut found = false;
        while let Some((t, key, serial)) = self.age.pop_front() {
            let live = self.flights.get(&key).is_some_and(|p| p.serial == serial);
            if !live {
                continue;
            }
            if Some(&key) == keep {
                kept = Some((t, key, serial));
                continue;
            }
            self.take(&key);
            self.stats.evicted += 1;
            found = true;
            break;
        }
        if let Some(k) = kept {
            self.age.push_front(k);
        }
        found
    }

    fn take(&mut self, key: &Key) -> Option<Partial> {
        let p = self.flights.remove(key)?;
        self.bytes = self.bytes.saturating_sub(p.buf.capacity());
        Some(p)
    }

    fn remove(&mut self, key: &Key) {
        self.take(key);
        // Its age entry becomes stale and is skipped by serial.
    }
}

/// Add `[start, end)` to a sorted list of disjoint ranges (the caller checked for overlap),
/// merging with neighbours so a complete datagram is a single range.
fn insert_range(have: &mut Vec<(usize, usize)>, start: usize, end: usize) {
    let i = have.partition_point(|&(s, _)| s < start);
    have.insert(i, (start, end));
    if i + 1 < have.len() && have[i].1 == have[i + 1].0 {
        have[i].1 = have[i + 1].1;
        have.remove(i + 1);
    }
    if i > 0 && have[i - 1].1 == have[i].0 {
        have[i - 1].1 = have[i].1;
        have.remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::ip::{parse_v4, parse_v6, udp, Frag};
    use proptest::prelude::*;

    const T0: Timestamp = Timestamp(1_700_000_000_000_000_000);

    /// A UDP datagram 10.0.0.1:5060 -> 10.0.0.2:5060 carrying `body`, cut into IPv4 fragments
    /// of `chunk` payload bytes.
    fn v4_fragments(id: u16, body: &[u8], chunk: usize) -> Vec<Vec<u8>> {
        let mut l4 = vec![0x13, 0xc4, 0x13, 0xc4];
        l4.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
        l4.extend_from_slice(body);
        let mut out = Vec::new();
        let mut off = 0;
        while off < l4.len() {
            let end = (off + chunk).min(l4.len());
            let more = end < l4.len();
            let ff = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
            let mut p = vec![0x45, 0];
            p.extend_from_slice(&((20 + end - off) as u16).to_be_bytes());
            p.extend_from_slice(&id.to_be_bytes());
            p.extend_from_slice(&ff.to_be_bytes());
            p.extend_from_slice(&[64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
            p.extend_from_slice(&l4[off..end]);
            out.push(p);
            off = end;
        }
        out
    }

    fn push(r: &mut Reassembler, t: i64, b: &[u8]) -> ReasmResult {
        let p = parse_v4(b).unwrap();
        r.push(Timestamp(T0.0 + t), &p)
    }

    fn body() -> Vec<u8> {
        (0..100u8).collect()
    }

    fn expect_complete(res: ReasmResult) -> Datagram {
        match res {
            ReasmResult::Complete(d) => d,
            other => panic!("expected Complete, got {other:?}"),
        }
    }

    #[test]
    fn in_order_and_out_of_order() {
        let frags = v4_fragments(7, &body(), 32);
        assert_eq!(frags.len(), 4);
        let mut r = Reassembler::default();
        for f in &frags[..3] {
            assert_eq!(push(&mut r, 0, f), ReasmResult::Pending);
        }
        let d = expect_complete(push(&mut r, 1, &frags[3]));
        assert_eq!(d.proto, 17);
        assert_eq!(udp(&d.payload).unwrap(), (5060, 5060, &body()[..]));
        assert_eq!((r.in_flight(), r.bytes_held()), (0, 0));

        for order in [[3, 1, 0, 2], [2, 3, 1, 0], [0, 3, 2, 1]] {
            let mut r = Reassembler::default();
            let mut last = ReasmResult::Pending;
            for i in order {
                assert_eq!(last, ReasmResult::Pending);
                last = push(&mut r, 0, &frags[i]);
            }
            assert_eq!(udp(&expect_complete(last).payload).unwrap().2, &body()[..]);
        }
    }

    #[test]
    fn duplicates_ignored_overlaps_dropped() {
        let frags = v4_fragments(9, &body(), 32);
        let mut r = Reassembler::default();
        assert_eq!(push(&mut r, 0, &frags[0]), ReasmResult::Pending);
        assert_eq!(push(&mut r, 0, &frags[0]), ReasmResult::Pending);
        assert_eq!(push(&mut r, 0, &frags[3]), ReasmResult::Pending);
        assert_eq!(push(&mut r, 0, &frags[3]), ReasmResult::Pending);
        assert_eq!(push(&mut r, 0, &frags[1]), ReasmResult::Pending);
        // frags[0] and frags[1] are merged into one range now; a re-send is still a duplicate.
        assert_eq!(push(&mut r, 0, &frags[1]), ReasmResult::Pending);
        assert_eq!(r.stats.duplicates, 3);
        // Same place, different bytes: overlap.
        let mut changed = frags[1].clone();
        changed[30] ^= 0xff;
        let mut r2 = Reassembler::default();
        assert_eq!(push(&mut r2, 0, &frags[1]), ReasmResult::Pending);
        assert_eq!(push(&mut r2, 0, &changed), ReasmResult::Dropped("overlapping fragment"));
        // Held: [0, 64) and [96, 108). A 16-byte fragment at 56 overlaps partly.
        let mut bad = v4_fragments(9, &body(), 16)[1].clone();
        bad[7] = 7;
        assert_eq!(push(&mut r, 0, &bad), ReasmResult::Dropped("overlapping fragment"));
        assert_eq!((r.in_flight(), r.bytes_held(), r.stats.overlaps), (0, 0, 1));
        // The rest now starts a new datagram that never completes.
        assert_eq!(push(&mut r, 0, &frags[2]), ReasmResult::Pending);
        assert_eq!(push(&mut r, 0, &frags[3]), ReasmResult::Pending);
    }

    #[test]
    fn conflicting_ends_and_odd_lengths() {
        let frags = v4_fragments(3, &body(), 32);
        let mut r = Reassembler::default();
        assert_eq!(push(&mut r, 0, &frags[3]), ReasmResult::Pending);
        // A second "last fragment" ending elsewhere.
        let other_last = &v4_fragments(3, &body()[..50], 32)[1];
        assert_eq!(push(&mut r, 0, other_last), ReasmResult::Dropped("conflicting last fragment"));
        // MF fragment whose length is not a multiple of 8.
        let mut f = frags[0].clone();
        f[3] -= 1;
        assert_eq!(push(&mut r, 0, &f[..f.len() - 1]), ReasmResult::Dropped("fragment length not a multiple of 8"));
        // Fragment beyond the known end.
        let mut r = Reassembler::default();
        assert_eq!(push(&mut r, 0, &frags[1]), ReasmResult::Pending);
        assert_eq!(push(&mut r, 0, &frags[0][..20 + 32]), ReasmResult::Pending);
        assert_eq!(push(&mut r, 0, &frags[3]), ReasmResult::Pending);
        // Known end is 108; a fragment at 112 cannot belong.
        let mut beyond = frags[2].clone();
        beyond[7] = 14;
        assert_eq!(push(&mut r, 0, &beyond), ReasmResult::Dropped("fragment past datagram end"));
        // A last fragment ending before data already held.
        let mut r = Reassembler::default();
        assert_eq!(push(&mut r, 0, &frags[2]), ReasmResult::Pending);
        let early_last = &v4_fragments(3, &body()[..50], 32)[1];
        assert_eq!(push(&mut r, 0, early_last), ReasmResult::Dropped("fragment past datagram end"));
        // Offset 0 without MF is a whole datagram.
        let whole = &v4_fragments(3, &body()[..20], 32)[0];
        assert_eq!(push(&mut r, 0, whole), ReasmResult::NotFragment);
        assert_eq!(r.stats.inconsistent, 1);
    }

    #[test]
    fn too_large_and_truncated() {
        let mut f = v4_fragments(1, &body(), 32)[3].clone();
        // Last fragment at offset 8191 * 8 = 65528: its 12 bytes end past 65535.
        f[6] = 0x1f;
        f[7] = 0xff;
        let mut r = Reassembler::default();
        assert_eq!(push(&mut r, 0, &f), ReasmResult::Dropped("reassembled datagram too large"));
        let f = &v4_fragments(1, &body(), 32)[0];
        assert_eq!(push(&mut r, 0, &f[..40]), ReasmResult::Dropped("truncated fragment"));
        assert_eq!((r.stats.too_large, r.stats.truncated), (1, 1));
    }

    #[test]
    fn timeout_in_capture_time() {
        let frags = v4_fragments(5, &body(), 32);
        let mut r = Reassembler::default();
        assert_eq!(push(&mut r, 0, &frags[0]), ReasmResult::Pending);
        assert_eq!(push(&mut r, 0, &frags[1]), ReasmResult::Pending);
        // 31 s later the first part is gone: the rest cannot complete it.
        assert_eq!(push(&mut r, 31_000_000_000, &frags[2]), ReasmResult::Pending);
        assert_eq!(r.stats.timed_out, 1);
        assert_eq!(push(&mut r, 31_000_000_000, &frags[3]), ReasmResult::Pending);
        assert_eq!(r.in_flight(), 1);
        r.expire(Timestamp(T0.0 + 100_000_000_000));
        assert_eq!((r.in_flight(), r.bytes_held()), (0, 0));
    }

    #[test]
    fn caps_evict_oldest() {
        let limits = ReasmLimits { max_datagrams: 4, max_bytes: 300, ..ReasmLimits::default() };
        let mut r = Reassembler::new(limits);
        for id in 0..10u16 {
            let f = &v4_fragments(id, &body(), 32)[0];
            assert_eq!(push(&mut r, id as i64, f), ReasmResult::Pending);
            assert!(r.in_flight() <= 4 && r.bytes_held() <= 300);
        }
        assert!(r.stats.evicted >= 6);
        // The newest one still completes.
        let frags = v4_fragments(9, &body(), 32);
        for f in &frags[1..3] {
            assert_eq!(push(&mut r, 20, f), ReasmResult::Pending);
        }
        assert!(matches!(push(&mut r, 20, &frags[3]), ReasmResult::Complete(_)));
        // A datagram alone larger than the cap is refused.
        let mut r = Reassembler::new(ReasmLimits { max_bytes: 64, ..ReasmLimits::default() });
        let frags = v4_fragments(1, &body(), 32);
        assert_eq!(push(&mut r, 0, &frags[0]), ReasmResult::Pending);
        assert_eq!(push(&mut r, 0, &frags[3]), ReasmResult::Dropped("reassembly memory cap"));
        assert_eq!(r.bytes_held(), 0);
    }

    #[test]
    fn ipv6_fragments_with_dest_options_inside() {
        // Fragmentable part: dest opts (8 bytes) + UDP header + 32 bytes.
        let mut part = vec![17, 0, 1, 4, 0, 0, 0, 0];
        part.extend_from_slice(&[0x13, 0xc4, 0x13, 0xc4, 0, 40, 0, 0]);
        part.extend((0..32u8).map(|i| i + 0x40));
        let mk = |off: usize, data: &[u8], more: bool| {
            let mut b = vec![0x60, 0, 0, 0];
            b.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
            b.extend_from_slice(&[44, 64]);
            b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8].repeat(4));
            b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb9].repeat(4));
            b.extend_from_slice(&[60, 0]);
            b.extend_from_slice(&((off as u16) | more as u16).to_be_bytes());
            b.extend_from_slice(&0xdead_beefu32.to_be_bytes());
            b.extend_from_slice(data);
            b
        };
        let a = mk(0, &part[..24], true);
        let b = mk(24, &part[24..], false);
        let pa = parse_v6(&a).unwrap();
        assert_eq!((pa.proto, pa.frag), (60, Some(Frag { id: 0xdeadbeef, offset: 0, more: true })));
        let mut r = Reassembler::default();
        assert_eq!(r.push(T0, &parse_v6(&b).unwrap()), ReasmResult::Pending);
        let d = expect_complete(r.push(T0, &pa));
        assert_eq!(d.proto, 17);
        assert_eq!(udp(&d.payload).unwrap().2, &part[16..]);
    }

    proptest! {
        #[test]
        fn random_fragments_never_panic_or_exceed_caps(
            frags in prop::collection::vec((0u16..4, 0u16..8192, any::<bool>(), 0usize..3000, 0i64..5), 0..200),
            v6 in any::<bool>(),
        ) {
            let limits = ReasmLimits { max_bytes: 64 * 1024, max_datagrams: 8, ..ReasmLimits::default() };
            let mut r = Reassembler::new(limits);
            // For IPv6 the completed payload goes through the extension-header walk: make the
            // bytes a plausible chain (destination options, length 0, next = itself).
            let data: Vec<u8> = (0..3000).map(|i| if i % 8 == 0 { 60 } else { 0 }).collect();
            let (src, dst): (IpAddr, IpAddr) = if v6 {
                ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap())
            } else {
                ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap())
            };
            let mut t = T0.0;
            for (id, off8, more, len, dt) in frags {
                t += dt * 5_000_000_000;
                let pkt = IpPacket {
                    src,
                    dst,
                    proto: if v6 { 60 } else { 17 },
                    payload: &data[..len],
                    frag: Some(Frag { id: id as u32, offset: off8 << 3, more }),
                    ttl: 64,
                    total_len: 20 + len as u32,
                    truncated: false,
                };
                let res = r.push(Timestamp(t), &pkt);
                if let ReasmResult::Complete(d) = res {
                    prop_assert!(d.payload.len() <= 65535);
                }
                prop_assert!(r.bytes_held() <= limits.max_bytes);
                prop_assert!(r.in_flight() <= limits.max_datagrams);
            }
        }
    }
}

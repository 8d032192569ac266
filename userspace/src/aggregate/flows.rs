//! The flow table: one entry per conversation (both directions), keyed canonically so a reply
//! lands in the same entry as its request. `src`/`sport` is whoever sent the first packet seen.

use std::net::IpAddr;

use crate::event::IfaceId;
use crate::report::Proto;
use crate::time::Timestamp;

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ESP: u8 = 50;
pub const AH: u8 = 51;
pub const SCTP: u8 = crate::decode::sctp::PROTO_SCTP;
pub const ICMP: u8 = 1;
pub const ICMPV6: u8 = 58;

/// An address packed for the hot path: IPv4 as its 32-bit value, IPv6 as its 128-bit value,
/// with the family kept beside it. Comparing and hashing a `u128` is a couple of instructions
/// where `IpAddr` costs a discriminant branch and a byte-wise compare.
#[inline]
pub fn pack(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), false),
        IpAddr::V6(a) => (u128::from(a), true),
    }
}

/// The address [`pack`] packed.
#[inline]
pub fn unpack(bits: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(bits.into())
    } else {
        // A v4 value was packed from 32 bits, so the cast loses nothing.
        IpAddr::V4((bits as u32).into())
    }
}

pub use crate::digits::{hex_id, ip_string as addr_string};

/// A key with a cheap, well-mixed 64-bit hash (its top bits pick the slot).
pub trait TableKey: Copy + Eq {
    fn table_hash(&self) -> u64;
}

/// Insert-only hash table for the per-packet lookups (flows, ESP SAs).
///
/// Entries live in a `Vec` in insertion order; `slots` is an open-addressing index into it
/// (linear probing, at most half full). A hit is one multiply, one or two slot reads and one
/// key compare, about a quarter of what the std map's entry API cost here (it moves the key
/// and its state through `RustcEntry` on every packet). Nothing is ever removed, which is
/// what keeps the table this simple.
pub struct Table<K, V> {
    /// 0 for an empty slot, else `tag << INDEX_BITS | (entry index + 1)`: the tag (8 bits of
    /// the key's hash) lets a probe pass over other keys' slots without loading their
    /// entries, which are the cache misses of a lookup.
    slots: Vec<u32>,
    /// `64 - log2(slots.len())`: the hash's top bits index the slots.
    shift: u32,
    entries: Vec<(K, V)>,
}

/// Bits of a slot that hold the entry index + 1.
const INDEX_BITS: u32 = 24;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
/// Most entries a table can hold; the callers' limits (MAX_FLOWS, MAX_SAS) are far below.
pub const MAX_ENTRIES: usize = INDEX_MASK as usize - 1;

/// The slot tag of a hash: its low 8 bits (the slot index comes from the top bits).
#[inline(always)]
fn tag(hash: u64) -> u32 {
    (hash as u32 & 0xff) << INDEX_BITS
}

impl<K: TableKey, V> Default for Table<K, V> {
    fn default() -> Self {
        Table { slots: vec![0; 64], shift: 64 - 6, entries: Vec::new() }
    }
}

/// Where a key is, or where it would go.
pub enum Slot {
    Found(usize),
    Vacant(usize),
}

#[allow(clippy::len_without_is_empty)]
impl<K: TableKey, V> Table<K, V> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    #[inline]
    pub fn find(&self, key: &K) -> Slot {
        self.find_hashed(key, key.table_hash())
    }

    /// [`Table::find`] with the key's `table_hash` already worked out.
    #[inline]
    pub fn find_hashed(&self, key: &K, hash: u64) -> Slot {
        debug_assert_eq!(hash, key.table_hash());
        let mask = self.slots.len() - 1;
        let tag = tag(hash);
        let mut i = (hash >> self.shift) as usize;
        // Terminates: the table is never more than half full, so an empty slot exists.
        loop {
            match self.slots[i] {
                0 => return Slot::Vacant(i),
                s if s & !INDEX_MASK == tag => {
                    let e = (s & INDEX_MASK) as usize - 1;
                    if self.entries[e].0 == *key {
                        return Slot::Found(e);
                    }
                }
                _ => {}
            }
            i = (i + 1) & mask;
        }
    }

    /// Start loading the slot of a key whose `table_hash` is `hash`. For batches: issue the
    /// loads of many packets' lookups first, then do the lookups, so that the cache misses
    /// overlap (a table of thousands of flows does not fit in L2, and a miss costs more than
    /// the rest of a packet).
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        if let Some(s) = self.slots.get((hash >> self.shift) as usize) {
            super::prefetch::hint(s);
        }
    }

    /// Start loading the entry the key's slot points at (once [`Table::prefetch_slot`] had
    /// time to bring the slot in): the first one along the probe whose tag matches, both
    /// cache lines when it straddles two.
    /// Returns that entry's index (the key not compared yet), for prefetching what the entry
    /// leads to.
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) -> Option<usize> {
        let e = self.probable_entry(hash)?;
        super::prefetch::hint_all(self.entries.get(e)?);
        Some(e)
    }

    /// The entry a key whose `table_hash` is `hash` probably has: the first along its probe
    /// whose tag matches (the key not compared: for prefetching only).
    #[inline]
    pub fn probable_entry(&self, hash: u64) -> Option<usize> {
        let mask = self.slots.len() - 1;
        let tag = tag(hash);
        let mut i = (hash >> self.shift) as usize;
        // A few probes at most: they are on the slot's cache line or the next.
        for _ in 0..4 {
            match self.slots.get(i) {
                Some(&s) if s != 0 => {
                    if s & !INDEX_MASK == tag {
                        return Some((s & INDEX_MASK) as usize - 1);
                    }
                }
                _ => return None,
            }
            i = (i + 1) & mask;
        }
        None
    }

    #[inline]
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match self.find(key) {
            Slot::Found(e) => Some(&mut self.entries[e].1),
            Slot::Vacant(_) => None,
        }
    }

    pub fn entry(&self, e: usize) -> &V {
        &self.entries[e].1
    }

    #[inline]
    pub fn entry_mut(&mut self, e: usize) -> &mut V {
        &mut self.entries[e].1
    }

    /// Insert at the vacant slot `find` returned (no other insert in between); returns the
    /// new entry's index. The callers keep the table below [`MAX_ENTRIES`].
    pub fn insert_at(&mut self, slot: usize, key: K, value: V) -> usize {
        let e = self.entries.len();
        debug_assert!(e < MAX_ENTRIES);
        let hash = key.table_hash();
        self.entries.push((key, value));
        self.slots[slot] = tag(hash) | (e + 1) as u32;
        if self.entries.len() * 2 > self.slots.len() {
            self.grow();
        }
        e
    }

    #[cold]
    fn grow(&mut self) {
        let n = self.slots.len() * 2;
        self.reindex(n);
    }

    /// Keep only the entries `keep` approves, in their order; returns how many went. The index
    /// is rebuilt (the table has no tombstones, which keeps lookups simple): a sweep, not a
    /// per-packet operation.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) -> usize {
        let before = self.entries.len();
        self.entries.retain(|(k, v)| keep(k, v));
        let gone = before - self.entries.len();
        if gone > 0 {
            self.entries.shrink_to(self.entries.len() * 2);
            let n = (self.entries.len() * 2 + 1).next_power_of_two().max(64);
            self.reindex(n);
        }
        gone
    }

    /// Rebuild the slot index with `n` (a power of two) slots.
    fn reindex(&mut self, n: usize) {
        debug_assert!(n.is_power_of_two() && n > self.entries.len() * 2);
        self.slots = vec![0; n];
        self.shift = 64 - n.trailing_zeros();
        let mask = n - 1;
        for (e, (k, _)) in self.entries.iter().enumerate() {
            let hash = k.table_hash();
            let mut i = (hash >> self.shift) as usize;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = tag(hash) | (e + 1) as u32;
        }
    }
}

/// Multiply-mix used by the table hashes: the product's top bits depend on every input bit.
/// A key drawn at random once per process goes in first: the mix alone is invertible, so a
/// capture could be crafted whose SPIs, ports or initiator SPIs all land on one probe run
/// (each lookup then walks the run); with the key unknown it cannot. Slots never show in a
/// report (entries keep their order of arrival), so reports stay the same from run to run.
#[inline]
pub fn mix(x: u64, y: u64) -> u64 {
    const K1: u64 = 0x9e37_79b9_7f4a_7c15;
    const K2: u64 = 0xd6e8_feb8_6659_fd93;
    ((x ^ hash_key()).wrapping_mul(K1) ^ y).wrapping_mul(K2)
}

/// The process's random key for [`mix`].
#[inline]
fn hash_key() -> u64 {
    static KEY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(0x7475_6e74_7261_6365u64)
    })
}

/// One conversation, as six machine words so that the per-packet hash and compare are a few
/// word operations (the table lookup is most of the cost of a bulk packet):
/// `[a low, a high, b low, b high, iface << 32 | ap << 16 | bp, v6 << 8 | proto]`, with `a`
/// and `b` packed by [`pack`]. Both addresses come from one IP header, so they share a family.
#[derive(Debug, Clone, Copy, Eq)]
pub struct FlowKey {
    w: [u64; 6],
}

impl PartialEq for FlowKey {
    /// Branch-free: the derived compare of the array becomes a `memcmp` call.
    #[inline]
    fn eq(&self, o: &Self) -> bool {
        let (x, y) = (&self.w, &o.w);
        ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]) | (x[5] ^ y[5])) == 0
    }
}

impl TableKey for FlowKey {
    /// For IPv4 the first word holds both addresses exactly.
    #[inline]
    fn table_hash(&self) -> u64 {
        let w = &self.w;
        mix(w[0] ^ w[1].rotate_left(29) ^ (w[2] ^ w[3].rotate_left(29)).rotate_left(32), w[4] ^ w[5].rotate_left(40))
    }
}

/// The report's order of flows with equal start times, unchanged from when the key held
/// `IpAddr`s: iface, proto, then (a, ap, b, bp) with every IPv4 address before every IPv6 one.
impl Ord for FlowKey {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        let t = |k: &FlowKey| (k.iface(), k.proto(), k.v6(), k.a(), k.ap(), k.b(), k.bp());
        t(self).cmp(&t(o))
    }
}

impl PartialOrd for FlowKey {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl FlowKey {
    /// A placeholder for filling arrays (of parsed frames not yet looked up); never a lookup key.
    pub const EMPTY: FlowKey = FlowKey { w: [0; 6] };

    /// The key and whether (src, sport) is the key's `a` side.
    #[inline]
    pub fn new(iface: IfaceId, proto: u8, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> (FlowKey, bool) {
        if let (IpAddr::V4(s), IpAddr::V4(d)) = (src, dst) {
            return Self::v4(iface, proto, u32::from(s), sport, u32::from(d), dport);
        }
        let ((s, v6), (d, _)) = (pack(src), pack(dst));
        Self::packed(iface, proto, v6, s, sport, d, dport)
    }

    /// [`FlowKey::packed`] for two IPv4 addresses: the same key, with one 64-bit compare to
    /// order the ends instead of two 128-bit ones (nearly every packet of a capture is IPv4).
    #[inline]
    pub fn v4(iface: IfaceId, proto: u8, src: u32, sport: u16, dst: u32, dport: u16) -> (FlowKey, bool) {
        // Each end as one number, address above port: ordering the ends is a min and a max.
        let end = |addr: u32, port: u16| u64::from(addr) << 16 | u64::from(port);
        let (s, d) = (end(src, sport), end(dst, dport));
        let (a, b) = (s.min(d), s.max(d));
        let w = [a >> 16, 0, b >> 16, 0, u64::from(iface) << 32 | (a & 0xffff) << 16 | (b & 0xffff), u64::from(proto)];
        (FlowKey { w }, s <= d)
    }

    /// [`FlowKey::new`] for addresses already packed (both of family `v6`).
    #[inline]
    pub fn packed(
        iface: IfaceId,
        proto: u8,
        v6: bool,
        src: u128,
        sport: u16,
        dst: u128,
        dport: u16,
    ) -> (FlowKey, bool) {
        let a_is_src = (src, sport) <= (dst, dport);
        let ((a, ap), (b, bp)) = if a_is_src { ((src, sport), (dst, dport)) } else { ((dst, dport), (src, sport)) };
        let w = [
            a as u64,
            (a >> 64) as u64,
            b as u64,
            (b >> 64) as u64,
            u64::from(iface) << 32 | u64::from(ap) << 16 | u64::from(bp),
            u64::from(v6) << 8 | u64::from(proto),
        ];
        (FlowKey { w }, a_is_src)
    }

    pub fn iface(&self) -> IfaceId {
        (self.w[4] >> 32) as u32
    }

    pub fn proto(&self) -> u8 {
        self.w[5] as u8
    }

    pub fn v6(&self) -> bool {
        self.w[5] >> 8 & 1 == 1
    }

    fn a(&self) -> u128 {
        u128::from(self.w[0]) | u128::from(self.w[1]) << 64
    }

    fn b(&self) -> u128 {
        u128::from(self.w[2]) | u128::from(self.w[3]) << 64
    }

    pub fn ap(&self) -> u16 {
        (self.w[4] >> 16) as u16
    }

    pub fn bp(&self) -> u16 {
        self.w[4] as u16
    }

    pub fn a_addr(&self) -> IpAddr {
        unpack(self.a(), self.v6())
    }

    pub fn b_addr(&self) -> IpAddr {
        unpack(self.b(), self.v6())
    }
}

/// Application seen on a flow; a flow may carry several (UDP 4500 carries IKE, ESP and keepalives).
pub mod app {
    pub const IKE: u16 = 1;
    pub const ESP_IN_UDP: u16 = 1 << 1;
    pub const ESP: u16 = 1 << 2;
    pub const NAT_KEEPALIVE: u16 = 1 << 3;
    pub const SIP: u16 = 1 << 4;
    pub const SIP_TLS: u16 = 1 << 5;
    pub const RTP: u16 = 1 << 6;
    /// Carries a tunnel, of the kind [`carrier`] reads from the top bits.
    pub const TUNNEL: u16 = 1 << 7;
    /// SIP over WebSocket (with [`SIP`]): the stream is framed as WebSocket.
    pub const WEBSOCKET: u16 = 1 << 8;
    /// Carries HEP3 (Homer): copies of SIP messages seen elsewhere.
    pub const HEP: u16 = 1 << 9;
    /// The carried tunnel's kind (`TunnelKind::ALL`'s index) sits in the top four bits, beside
    /// [`TUNNEL`], so that a flow's state keeps its size (the hot path's cache lines).
    const CARRIER_SHIFT: u16 = 12;

    /// The bits that mark a flow as carrying a tunnel of `TunnelKind::ALL[kind]`.
    pub const fn carrying(kind: u8) -> u16 {
        TUNNEL | (kind as u16) << CARRIER_SHIFT
    }

    /// The kind index [`carrying`] put in `bits`, when they mark a carrier.
    pub const fn carrier(bits: u16) -> Option<u8> {
        if bits & TUNNEL != 0 {
            Some((bits >> CARRIER_SHIFT) as u8)
        } else {
            None
        }
    }

    use crate::report::App;

    /// The label of a flow: the most specific application it carried.
    pub fn label(bits: u16) -> App {
        const ORDER: [(u16, App); 8] = [
            (ESP_IN_UDP, App::EspInUdp),
            (ESP, App::Esp),
            (SIP, App::Sip),
            (SIP_TLS, App::SipTls),
            (IKE, App::Ike),
            (RTP, App::Rtp),
            (NAT_KEEPALIVE, App::NatKeepalive),
            (HEP, App::Hep),
        ];
        ORDER.iter().find(|(b, _)| bits & b != 0).map(|(_, n)| *n).unwrap_or(App::Other)
    }
}

#[derive(Debug, Clone)]
pub struct FlowState {
    /// True when the first packet went from the key's `a` side to `b`.
    pub a_first: bool,
    pub apps: u16,
    /// The process of its first attributed packet.
    pub proc: Option<super::ProcHandle>,
    pub packets: u64,
    pub bytes: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    /// Payload-sniffing attempts left for flows on ports that say nothing.
    pub probes_left: u8,
    /// SDP media generation this flow was last checked against (RTP labelling).
    pub rtp_checked: u32,
}

#[derive(Default)]
pub struct Flows {
    pub map: Table<FlowKey, FlowState>,
    /// The tunnel that carried each inner flow's first packet (index + 1), beside the table
    /// rather than in every flow's state: few flows are inner ones, and the state of all of
    /// them is what the hot path reads.
    pub tunnel_of: foldhash::HashMap<FlowKey, u32>,
    /// The tunnel whose inner packet is being counted (index + 1; 0 outside any): set around
    /// the decoding of a tunnel's payload, so that the per-packet lookups need not carry it.
    pub inside: u32,
    /// The state is at its memory limit: no new flow (`budget`).
    pub full: bool,
}

impl std::hash::Hash for FlowKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.w.hash(h);
    }
}

/// Most flows in one report; beyond it new flows are counted in `overflow` only, so memory
/// stays bounded whatever the input.
pub const MAX_FLOWS: usize = 1_000_000;
const _: () = assert!(MAX_FLOWS < MAX_ENTRIES);

impl Flows {
    /// Count `packets` packets of `bytes` bytes on flow `key`, whose `table_hash` is `hash`
    /// (0 and 0 for a sample the source counts itself); returns the flow's state, or `None`
    /// when the table is full.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn touch(
        &mut self,
        key: &FlowKey,
        hash: u64,
        a_is_src: bool,
        ts: Timestamp,
        packets: u64,
        bytes: u64,
        proc: Option<super::ProcHandle>,
    ) -> Option<&mut FlowState> {
        let e = match self.map.find_hashed(key, hash) {
            Slot::Found(e) => e,
            Slot::Vacant(slot) => {
                if self.full || self.map.len() >= MAX_FLOWS {
                    return None;
                }
                let st = FlowState {
                    a_first: a_is_src,
                    apps: 0,
                    proc: None,
                    packets: 0,
                    bytes: 0,
                    first: ts,
                    last: ts,
                    probes_left: 4,
                    rtp_checked: 0,
                };
                if self.inside != 0 {
                    self.tunnel_of.insert(*key, self.inside);
                }
                self.map.insert_at(slot, *key, st)
            }
        };
        let st = self.map.entry_mut(e);
        st.packets += packets;
        st.bytes += bytes;
        if ts > st.last {
            st.last = ts;
        }
        if st.proc.is_none() {
            st.proc = proc;
        }
        Some(st)
    }
}

pub fn proto_name(p: u8) -> Proto {
    match p {
        UDP => Proto::Udp,
        TCP => Proto::Tcp,
        ESP => Proto::Esp,
        SCTP => Proto::Sctp,
        ICMP | ICMPV6 => Proto::Icmp,
        _ => Proto::Other,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The IPv4 shortcut builds exactly the key (and direction) of the general path.
        #[test]
        fn v4_key_is_the_packed_key(iface in any::<u32>(), proto in any::<u8>(), src in any::<u32>(), sport in any::<u16>(),
                                    dst in any::<u32>(), dport in any::<u16>(), same in any::<bool>()) {
            // Equal addresses, so that the port decides the order.
            let dst = if same { src } else { dst };
            let general = FlowKey::packed(iface, proto, false, u128::from(src), sport, u128::from(dst), dport);
            prop_assert_eq!(FlowKey::v4(iface, proto, src, sport, dst, dport), general);
            let (s, d) = (IpAddr::from(src.to_be_bytes()), IpAddr::from(dst.to_be_bytes()));
            prop_assert_eq!(FlowKey::new(iface, proto, s, sport, d, dport), general);
        }
    }

    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// The key the table used before packing, to check the packed one orders the same way.
    #[derive(PartialEq, Eq, PartialOrd, Ord, Debug)]
    struct OldKey(IfaceId, u8, IpAddr, u16, IpAddr, u16);

    fn old(iface: IfaceId, proto: u8, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> (OldKey, bool) {
        if (src, sport) <= (dst, dport) {
            (OldKey(iface, proto, src, sport, dst, dport), true)
        } else {
            (OldKey(iface, proto, dst, dport, src, sport), false)
        }
    }

    #[test]
    fn packed_key_matches_ipaddr_order_and_round_trips() {
        let v4 = |a: u8, b: u8| IpAddr::V4(Ipv4Addr::new(10, a, 0, b));
        let v6 = |a: u16, b: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, a, 0, 0, 0, 0, b));
        let mut cases = Vec::new();
        for (x, y) in [(1, 2), (2, 1), (255, 1), (1, 255), (7, 7)] {
            for (p, q) in [(5060, 5060), (1, 65535), (65535, 1)] {
                cases.push((0, 17, v4(x, y), p, v4(y, x), q));
                cases.push((70_000, 6, v4(x, y), p, v4(y, x), q));
                cases.push((3, 50, v6(x.into(), 0x100), p, v6(y.into(), 1), q));
            }
        }
        let keys: Vec<_> = cases
            .iter()
            .map(|&(i, pr, s, sp, d, dp)| (FlowKey::new(i, pr, s, sp, d, dp), old(i, pr, s, sp, d, dp)))
            .collect();
        for ((k, a_src), (o, o_src)) in &keys {
            assert_eq!(a_src, o_src);
            assert_eq!((k.iface(), k.proto(), k.a_addr(), k.ap(), k.b_addr(), k.bp()), (o.0, o.1, o.2, o.3, o.4, o.5));
        }
        for (x, ox) in &keys {
            for (y, oy) in &keys {
                assert_eq!(x.0.cmp(&y.0), ox.0.cmp(&oy.0), "{:?} vs {:?}", ox.0, oy.0);
            }
        }
    }

    #[test]
    fn reply_lands_on_the_same_key() {
        let (a, b) = ("192.0.2.1".parse().unwrap(), "198.51.100.7".parse().unwrap());
        let (k1, s1) = FlowKey::new(0, 17, a, 4500, b, 4500);
        let (k2, s2) = FlowKey::new(0, 17, b, 4500, a, 4500);
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!(k1.table_hash(), k2.table_hash());
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    struct K(u64);
    impl TableKey for K {
        fn table_hash(&self) -> u64 {
            // Deliberately poor for small values so probing and growth are exercised.
            self.0 % 7
        }
    }

    #[test]
    fn finds_every_inserted_key_through_growth() {
        let mut t: Table<K, u64> = Table::default();
        for i in 0..5_000u64 {
            match t.find(&K(i * 3)) {
                Slot::Vacant(s) => assert_eq!(t.insert_at(s, K(i * 3), i), i as usize),
                Slot::Found(_) => panic!("{i} found before insert"),
            }
        }
        assert_eq!(t.len(), 5_000);
        for i in 0..15_000u64 {
            // Hints on any key, present or not, only warm caches.
            t.prefetch_slot(K(i).table_hash());
            t.prefetch_entry(K(i).table_hash());
            let want = (i % 3 == 0).then_some(i / 3);
            assert_eq!(t.get_mut(&K(i)).map(|v| *v), want, "key {i}");
        }
        let order: Vec<u64> = t.iter().map(|(_, v)| *v).collect();
        assert_eq!(order, (0..5_000).collect::<Vec<_>>());
    }

    /// Keys with a well-spread hash: slot tags differ, and a tag match with another key
    /// (1 in 256) still compares the key itself.
    #[test]
    fn tags_never_stand_in_for_keys() {
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        struct M(u64);
        impl TableKey for M {
            fn table_hash(&self) -> u64 {
                mix(self.0, 0x1234)
            }
        }
        let mut t: Table<M, u64> = Table::default();
        for i in (0..40_000u64).step_by(2) {
            if let Slot::Vacant(s) = t.find(&M(i)) {
                t.insert_at(s, M(i), i);
            }
        }
        for i in 0..40_000u64 {
            assert_eq!(t.get_mut(&M(i)).map(|v| *v), (i % 2 == 0).then_some(i), "key {i}");
        }
    }
}

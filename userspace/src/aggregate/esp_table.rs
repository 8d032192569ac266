//! ESP SAs: one per SPI and direction, raw or UDP-encapsulated.

use std::net::IpAddr;

use super::flows::{mix, pack, unpack, Slot, Table, TableKey};
use crate::time::Timestamp;

/// One SA direction, as five machine words so that hashing and comparing it are a few word
/// operations (ESP is a large share of the packets on IPsec links):
/// `[src low, src high, dst low, dst high, spi | v6 << 32 | udp << 33]`, with the addresses
/// packed as in the flow table.
#[derive(Debug, Clone, Copy, Eq)]
pub struct EspKey {
    w: [u64; 5],
}

impl PartialEq for EspKey {
    /// Branch-free, as the flow key's.
    #[inline]
    fn eq(&self, o: &Self) -> bool {
        let (x, y) = (&self.w, &o.w);
        ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0
    }
}

impl EspKey {
    #[inline]
    pub fn new(spi: u32, src: IpAddr, dst: IpAddr, udp: bool) -> EspKey {
        let ((src, v6), (dst, _)) = (pack(src), pack(dst));
        Self::packed(spi, src, dst, v6, udp)
    }

    /// [`EspKey::new`] for two IPv4 addresses given as their 32-bit values.
    #[inline]
    pub fn v4(spi: u32, src: u32, dst: u32, udp: bool) -> EspKey {
        Self::packed(spi, src.into(), dst.into(), false, udp)
    }

    /// ESP carried in a TCP stream (RFC 8229) between `src` and `dst`.
    pub fn in_tcp(spi: u32, src: IpAddr, dst: IpAddr) -> EspKey {
        let mut k = Self::new(spi, src, dst, false);
        k.w[4] |= 1 << 34;
        k
    }

    #[inline]
    fn packed(spi: u32, src: u128, dst: u128, v6: bool, udp: bool) -> EspKey {
        let tail = u64::from(spi) | u64::from(v6) << 32 | u64::from(udp) << 33;
        EspKey { w: [src as u64, (src >> 64) as u64, dst as u64, (dst >> 64) as u64, tail] }
    }

    pub fn spi(&self) -> u32 {
        self.w[4] as u32
    }

    fn v6(&self) -> bool {
        self.w[4] >> 32 & 1 == 1
    }

    /// UDP-encapsulated (RFC 3948) rather than raw ESP.
    pub fn udp(&self) -> bool {
        self.w[4] >> 33 & 1 == 1
    }

    /// Carried in a TCP stream (RFC 8229).
    pub fn tcp(&self) -> bool {
        self.w[4] >> 34 & 1 == 1
    }

    pub fn src(&self) -> IpAddr {
        unpack(u128::from(self.w[0]) | u128::from(self.w[1]) << 64, self.v6())
    }

    pub fn dst(&self) -> IpAddr {
        unpack(u128::from(self.w[2]) | u128::from(self.w[3]) << 64, self.v6())
    }
}

impl TableKey for EspKey {
    #[inline]
    fn table_hash(&self) -> u64 {
        let w = &self.w;
        mix(w[0] ^ w[1].rotate_left(29) ^ (w[2] ^ w[3].rotate_left(29)).rotate_left(32), w[4])
    }
}

#[derive(Debug, Clone)]
pub struct EspState {
    pub packets: u64,
    pub bytes: u64,
    pub first_seq: u32,
    pub last_seq: u32,
    pub gaps: u64,
    /// Packets whose sequence number was seen before (replays, duplicates), or lies too far
    /// behind the highest to tell.
    pub repeats: u64,
    /// Packets that came after a higher number and filled a gap (taken out of `gaps` again).
    pub reordered: u64,
    /// The numbers seen among the 64 up to `last_seq` (bit 0: `last_seq`), as IPsec's replay
    /// window keeps them (RFC 4303 3.4.3): what tells a late packet from a repeated one.
    pub window: u64,
    pub first: Timestamp,
    pub last: Timestamp,
    pub iface: Option<u32>,
    pub proc: Option<super::ProcHandle>,
    /// UDP ports of ESP in UDP, as a source that counts SAs itself gives them (0, 0 otherwise).
    pub ports: (u16, u16),
    /// A sequence number was seen (an SA first met in packets cut before theirs has none yet).
    pub seq_seen: bool,
    /// Whether the SA's payloads read as NULL-encrypted (decoded) or not.
    pub cipher: Cipher,
    /// What a counting source said per interface: [packets, bytes, gaps, repeats, reordered]
    /// (`gaps` before late packets took numbers out). Two hosts'
    /// recordings replayed together count the same SA at both ends; its totals are then one
    /// vantage point's (the interface that saw the most), not their sum.
    counted: Vec<(u32, [u64; 5])>,
    order: usize,
}

impl EspState {
    /// Follow sequence number `seq`: a jump forward past the next number is a gap; a number
    /// behind the highest is either late (reordered: it fills a gap counted before) or seen
    /// already (a replay or a duplicate), which the window tells apart.
    #[inline(always)]
    fn sequence(&mut self, seq: u32) {
        if !self.seq_seen {
            (self.first_seq, self.last_seq, self.seq_seen, self.window) = (seq, seq, true, 1);
        } else if seq > self.last_seq {
            let step = seq - self.last_seq;
            self.gaps += u64::from(step - 1);
            self.window = if step >= 64 { 1 } else { self.window << step | 1 };
            self.last_seq = seq;
        } else {
            let back = self.last_seq - seq;
            if back < 64 && self.window & 1 << back == 0 {
                self.window |= 1 << back;
                self.reordered += 1;
                if seq < self.first_seq {
                    // Before the first number seen: no gap was counted for it.
                    self.first_seq = seq;
                } else {
                    self.gaps = self.gaps.saturating_sub(1);
                }
            } else {
                self.repeats += 1;
            }
        }
    }
}

/// What an SA's payloads are, as far as the capture tells without keys: NULL encryption
/// (RFC 2410) shows in the packets themselves (`esp::null_payload`); anything else is taken
/// for ciphertext once a few packets in a row did not read as NULL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cipher {
    /// Still trying its packets; `misses` of them did not read.
    Probing { misses: u8 },
    /// NULL-encrypted with integrity check values of this length: what they carry is decoded.
    Null { icv_len: u8 },
    /// Ciphertext: its packets are no longer tried.
    Encrypted,
}

impl Cipher {
    const PROBING: Cipher = Cipher::Probing { misses: 0 };
    /// Packets in a row that must not read as NULL before an SA is taken for encrypted.
    const MISSES: u8 = 4;
}

/// Totals a source counted for one SA (live: in the kernel), added by [`EspTable::add`].
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    pub packets: u64,
    pub bytes: u64,
    pub first_seq: u32,
    pub last_seq: u32,
    /// Numbers skipped when the sequence jumped, before late packets took any back out.
    pub gaps: u64,
    pub repeats: u64,
    /// Late packets: each took one number back out of `gaps`.
    pub reordered: u64,
    pub first: Timestamp,
    pub last: Timestamp,
}

/// SPIs kept; beyond this, packets of new SPIs are counted in `overflow`.
const MAX_SAS: usize = 500_000;
const _: () = assert!(MAX_SAS < super::flows::MAX_ENTRIES);

#[derive(Default)]
pub struct EspTable {
    map: Table<EspKey, EspState>,
    /// Packets of new SPIs not kept because the table was full.
    pub overflow: u64,
    /// SAs let go after going idle.
    pub expired: u64,
    next_order: usize,
    /// The state is at its memory limit: no new SA (`budget`).
    pub full: bool,
}

/// The most SAs the table keeps.
pub const MAX_ESP_SAS: usize = MAX_SAS;

impl EspTable {
    /// Count a packet of SA `key` with sequence number `seq` (`hash`: the key's `table_hash`,
    /// worked out once by the caller). Returns what the SA's payloads are known to be
    /// (`Encrypted` also for a packet not kept).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn observe_hashed(
        &mut self,
        key: EspKey,
        hash: u64,
        seq: u32,
        bytes: u64,
        at: Timestamp,
        iface: Option<u32>,
        proc: Option<super::ProcHandle>,
    ) -> Cipher {
        let n = self.map.len();
        match self.map.find_hashed(&key, hash) {
            Slot::Found(e) => {
                let s = self.map.entry_mut(e);
                s.packets += 1;
                s.bytes += bytes;
                s.sequence(seq);
                if at > s.last {
                    s.last = at;
                }
                if s.proc.is_none() {
                    s.proc = proc;
                }
                s.cipher
            }
            Slot::Vacant(slot) if n < MAX_SAS && !self.full => {
                let order = self.next_order;
                self.next_order += 1;
                self.map.insert_at(
                    slot,
                    key,
                    EspState {
                        packets: 1,
                        bytes,
                        first_seq: seq,
                        last_seq: seq,
                        gaps: 0,
                        repeats: 0,
                        reordered: 0,
                        window: 1,
                        first: at,
                        last: at,
                        iface,
                        proc,
                        ports: (0, 0),
                        seq_seen: true,
                        cipher: Cipher::PROBING,
                        counted: Vec::new(),
                        order,
                    },
                );
                Cipher::PROBING
            }
            Slot::Vacant(_) => {
                self.overflow += 1;
                Cipher::Encrypted
            }
        }
    }

    /// What trying one of SA `key`'s packets as NULL-encrypted gave while it was probing: the
    /// ICV length it read with, or `None`.
    pub fn settle(&mut self, key: &EspKey, read: Option<u8>) {
        if let Slot::Found(e) = self.map.find_hashed(key, key.table_hash()) {
            let s = self.map.entry_mut(e);
            s.cipher = match (s.cipher, read) {
                (_, Some(icv_len)) => Cipher::Null { icv_len },
                (Cipher::Probing { misses }, None) if misses + 1 < Cipher::MISSES => {
                    Cipher::Probing { misses: misses + 1 }
                }
                (Cipher::Probing { .. }, None) => Cipher::Encrypted,
                (known, None) => known,
            };
        }
    }

    /// A packet of SA `key` cut before its sequence number: counted, its sequence left alone.
    pub fn observe_without_seq(
        &mut self,
        key: EspKey,
        bytes: u64,
        at: Timestamp,
        iface: Option<u32>,
        proc: Option<super::ProcHandle>,
    ) {
        match self.map.find(&key) {
            Slot::Found(e) => {
                let s = self.map.entry_mut(e);
                s.packets += 1;
                s.bytes += bytes;
                s.last = s.last.max(at);
                if s.proc.is_none() {
                    s.proc = proc;
                }
            }
            Slot::Vacant(slot) if self.map.len() < MAX_SAS && !self.full => {
                let order = self.next_order;
                self.next_order += 1;
                let st = EspState {
                    packets: 1,
                    bytes,
                    first_seq: 0,
                    last_seq: 0,
                    gaps: 0,
                    repeats: 0,
                    reordered: 0,
                    window: 0,
                    first: at,
                    last: at,
                    iface,
                    proc,
                    ports: (0, 0),
                    seq_seen: false,
                    cipher: Cipher::PROBING,
                    counted: Vec::new(),
                    order,
                };
                self.map.insert_at(slot, key, st);
            }
            Slot::Vacant(_) => self.overflow += 1,
        }
    }

    /// Add what a source counted itself for SA `key` (a delta: packets, bytes, gaps, repeats and
    /// late packets since its previous count; the sequence numbers as they stand).
    pub fn add(
        &mut self,
        key: EspKey,
        c: &Counted,
        iface: Option<u32>,
        proc: Option<super::ProcHandle>,
        ports: (u16, u16),
    ) {
        let at = iface.unwrap_or(u32::MAX);
        match self.map.find(&key) {
            Slot::Found(e) => {
                let s = self.map.entry_mut(e);
                let i = match s.counted.iter().position(|(x, _)| *x == at) {
                    Some(i) => i,
                    None => {
                        s.counted.push((at, [0; 5]));
                        s.counted.len() - 1
                    }
                };
                let t = &mut s.counted[i].1;
                for (x, d) in t.iter_mut().zip([c.packets, c.bytes, c.gaps, c.repeats, c.reordered]) {
                    *x += d;
                }
                if let Some((_, best)) = s.counted.iter().max_by_key(|(x, c)| (c[0], std::cmp::Reverse(*x))) {
                    let [packets, bytes, gaps, repeats, reordered] = *best;
                    (s.packets, s.bytes, s.repeats, s.reordered) = (packets, bytes, repeats, reordered);
                    s.gaps = gaps.saturating_sub(reordered);
                }
                if s.seq_seen {
                    // A late packet below the first number moves the kernel's first_seq down.
                    s.first_seq = s.first_seq.min(c.first_seq);
                    s.last_seq = s.last_seq.max(c.last_seq);
                } else {
                    (s.first_seq, s.last_seq, s.seq_seen) = (c.first_seq, c.last_seq, true);
                }
                s.first = s.first.min(c.first);
                s.last = s.last.max(c.last);
                if s.proc.is_none() {
                    s.proc = proc;
                }
            }
            Slot::Vacant(slot) if self.map.len() < MAX_SAS && !self.full => {
                let order = self.next_order;
                self.next_order += 1;
                let st = EspState {
                    packets: c.packets,
                    bytes: c.bytes,
                    first_seq: c.first_seq,
                    last_seq: c.last_seq,
                    gaps: c.gaps.saturating_sub(c.reordered),
                    repeats: c.repeats,
                    reordered: c.reordered,
                    window: 0,
                    first: c.first,
                    last: c.last,
                    iface,
                    proc,
                    ports,
                    seq_seen: true,
                    // A counting source sends no payloads to read.
                    cipher: Cipher::Encrypted,
                    counted: vec![(at, [c.packets, c.bytes, c.gaps, c.repeats, c.reordered])],
                    order,
                };
                self.map.insert_at(slot, key, st);
            }
            Slot::Vacant(_) => self.overflow += c.packets,
        }
    }

    /// Let go of SAs without a packet since `idle` ns before `now`; returns how many went.
    pub fn expire(&mut self, now: Timestamp, idle: i64) -> u64 {
        let n = self.map.retain(|_, s| now.0.saturating_sub(s.last.0) <= idle) as u64;
        self.expired += n;
        n
    }

    /// See [`Table::prefetch_slot`].
    #[inline]
    pub fn prefetch_slot(&self, hash: u64) {
        self.map.prefetch_slot(hash);
    }

    /// See [`Table::prefetch_entry`].
    #[inline]
    pub fn prefetch_entry(&self, hash: u64) {
        self.map.prefetch_entry(hash);
    }

    /// SAs in order of first appearance.
    pub fn entries(&self) -> Vec<(&EspKey, &EspState)> {
        let mut v: Vec<_> = self.map.iter().collect();
        v.sort_by_key(|(_, s)| s.order);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gaps, repeats and late packets of a run of sequence numbers on one SA.
    fn follow(seqs: &[u32]) -> (u64, u64, u64, u32) {
        let mut t = EspTable::default();
        let key = EspKey::v4(0x1234, 0x0a00_0001, 0x0a00_0002, false);
        for (i, &seq) in seqs.iter().enumerate() {
            t.observe_hashed(key, key.table_hash(), seq, 100, Timestamp(i as i64), None, None);
        }
        let s = t.map.iter().next().expect("one SA").1;
        (s.gaps, s.repeats, s.reordered, s.first_seq)
    }

    #[test]
    fn late_packets_fill_gaps_and_repeats_are_told_apart() {
        assert_eq!(follow(&[1, 2, 3, 4]), (0, 0, 0, 1), "in order");
        assert_eq!(follow(&[1, 2, 5, 6]), (2, 0, 0, 1), "two lost");
        assert_eq!(follow(&[1, 3, 2, 4]), (0, 0, 1, 1), "2 came late: no gap, one reordered");
        assert_eq!(follow(&[1, 2, 2, 3, 1]), (0, 2, 0, 1), "2 and 1 again: duplicates");
        assert_eq!(follow(&[1, 3, 2, 2]), (0, 1, 1, 1), "late once, then a duplicate of it");
        assert_eq!(follow(&[5, 4, 6]), (0, 0, 1, 4), "before the first seen: no gap to fill");
        assert_eq!(follow(&[1, 100, 30]), (98, 1, 0, 1), "beyond the window: cannot tell, a repeat");
        assert_eq!(follow(&[1, 100, 40]), (97, 0, 1, 1), "63 behind: still in the window");
        assert_eq!(follow(&[10, 200, 300, 250]), (287, 0, 1, 10), "the window moves with the highest");
    }

    /// A counting source (the kernel) gives `gaps` that only grow and the late packets apart;
    /// the table's gaps are what is still open, as replay's window leaves them. The kernel's
    /// figures for 2 3 5 5 4 1 6 100 7 (tracer/tests/probes_root.rs) in two deltas.
    #[test]
    fn counted_late_packets_take_their_numbers_out_of_the_gaps() {
        let mut t = EspTable::default();
        let key = EspKey::v4(0x1234, 0x0a00_0001, 0x0a00_0002, false);
        let at = Timestamp(0);
        let c = |packets, first_seq, last_seq, gaps, repeats, reordered| Counted {
            packets,
            bytes: packets * 60,
            first_seq,
            last_seq,
            gaps,
            repeats,
            reordered,
            first: at,
            last: at,
        };
        t.add(key, &c(4, 2, 5, 1, 1, 0), Some(0), None, (0, 0));
        t.add(key, &c(5, 1, 100, 94, 1, 2), Some(0), None, (0, 0));
        let s = t.map.iter().next().expect("one SA").1;
        assert_eq!((s.packets, s.first_seq, s.last_seq, s.gaps, s.repeats, s.reordered), (9, 1, 100, 93, 2, 2));
        assert_eq!(follow(&[2, 3, 5, 5, 4, 1, 6, 100, 7]), (93, 2, 2, 1), "replay reads the same");
    }
}

//! Who a packet belongs to, decided when userspace reads (the kernel only leaves candidates).
//!
//! tc egress counts and samples each packet under its socket's cookie and the thread that was
//! current when tc ran: a *candidate*, because in softirq (a TCP retransmission, ksoftirqd,
//! "swapper", whatever was interrupted) the current task has nothing to do with the packet.
//! `sock_send_length`, which runs in the sending thread right after each send returns, confirms
//! (cookie, tgid, tid) into the kernel's `senders` map. Resolving:
//!
//! - egress, candidate confirmed: the candidate's process (and thread);
//! - anything else of a known socket: its owner, as process context last saw it (egress: last
//!   sender, else last receiver, else the last process announced as a user, else the creator;
//!   ingress: the last receiver first);
//! - cookie 0 (forwarded, no local socket) or a socket nothing was learned about: 0.
//!
//! Confirmations and owners are kept after the kernel forgets them (a socket's entry goes at
//! close, an LRU entry when evicted): a process that lived a few milliseconds still gets its
//! packets. The caches are bounded by what the flow maps still reference ([`Resolver::prune`]).
//!
//! Counts are attributed read by read ([`Resolver::add_count`]): what a kernel count grew by
//! since the previous read goes to whoever it resolves to now. An owner that changes (a socket
//! handed to a child) then takes the packets from then on and never those counted before, so
//! every attributed total only grows and their sum is the kernel's: a reader that turns totals
//! into deltas (the session's converter) counts each packet once.

use std::collections::{BTreeMap, HashMap, HashSet};

use tuntrace_probes::layout::{self as abi, FlowKey, SenderKey, SockInfo, SockRec};

use super::FlowCount;

/// What the resolver asks the kernel's maps (the loader implements it with map lookups; the
/// tests with a table).
pub(crate) trait KernelView {
    /// Is (cookie, tgid, tid) in `senders`?
    fn confirmed(&self, key: &SenderKey) -> bool;
    /// The socket's entry in `sockets`, while it lives.
    fn socket(&self, cookie: u64) -> Option<SockInfo>;
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Owner {
    creator: u32,
    last_tx: u32,
    last_rx: u32,
    /// The last process a record announced as a user (OWNER); stands in when the socket closed
    /// before its entry was read.
    last_user: u32,
}

impl Owner {
    fn of(&self, dir: u8) -> u32 {
        let order = if dir == abi::DIR_IN {
            [self.last_rx, self.last_tx, self.last_user, self.creator]
        } else {
            [self.last_tx, self.last_rx, self.last_user, self.creator]
        };
        order.into_iter().find(|&t| t != 0).unwrap_or(0)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Resolver {
    confirmed: HashSet<SenderKey>,
    owners: HashMap<u64, Owner>,
    /// Sockets whose kernel entry was read in this round: one lookup per socket per round.
    refreshed: HashSet<u64>,
    /// (packets, bytes) of each kernel count, as the kernel keys it, at the previous read.
    seen: HashMap<FlowKey, (u64, u64)>,
    /// The attributed totals: kernel keys with the candidate replaced by the process decided.
    totals: BTreeMap<FlowKey, FlowCount>,
}

/// Above this many cached sockets and confirmations, [`Resolver::prune`] drops those no flow
/// references any more.
const PRUNE_ABOVE: usize = 8192;

impl Resolver {
    /// A new read: owners are looked up again (they change while sockets live).
    pub fn begin_round(&mut self) {
        self.refreshed.clear();
    }

    /// Learns from a socket record read off the ring.
    pub fn note_record(&mut self, r: &SockRec) {
        match r.op {
            abi::SOCK_CREATE => self.owners.entry(r.cookie).or_default().creator = r.tgid,
            abi::SOCK_OWNER => self.owners.entry(r.cookie).or_default().last_user = r.tgid,
            abi::SOCK_CONNECT => {
                let o = self.owners.entry(r.cookie).or_default();
                if o.last_tx == 0 {
                    o.last_tx = r.tgid;
                }
            }
            _ => {}
        }
    }

    /// Is the candidate a confirmed sender? Asks the kernel once, then remembers.
    pub fn is_confirmed(&mut self, k: &impl KernelView, key: SenderKey) -> bool {
        if key.cookie == 0 || key.tgid == 0 {
            return false;
        }
        if self.confirmed.contains(&key) {
            return true;
        }
        if k.confirmed(&key) {
            self.confirmed.insert(key);
            return true;
        }
        false
    }

    /// The process of a packet of socket `cookie` in direction `dir` whose candidate (if any)
    /// is not confirmed.
    pub fn owner(&mut self, k: &impl KernelView, cookie: u64, dir: u8) -> u32 {
        if cookie == 0 {
            return 0;
        }
        if self.refreshed.insert(cookie) {
            if let Some(info) = k.socket(cookie) {
                let o = self.owners.entry(cookie).or_default();
                o.creator = info.creator_tgid;
                o.last_tx = info.last_tx_tgid;
                o.last_rx = info.last_rx_tgid;
            }
        }
        self.owners.get(&cookie).map_or(0, |o| o.of(dir))
    }

    /// (tgid, tid) of a packet the kernel left as (cookie, candidate tgid, candidate tid): the
    /// candidate if confirmed (egress only), else the socket's owner with no thread.
    pub fn resolve(&mut self, k: &impl KernelView, cookie: u64, tgid: u32, tid: u32, dir: u8) -> (u32, u32) {
        if dir == abi::DIR_OUT && self.is_confirmed(k, SenderKey { cookie, tgid, tid }) {
            return (tgid, tid);
        }
        (self.owner(k, cookie, dir), 0)
    }

    /// Adds what kernel count `f` grew by since the previous read to process `tgid` (thread
    /// `tid`), its bytes less `l2` per packet. A count lower than before is one the kernel
    /// started again (its entry was evicted and made anew): all of it is new.
    pub fn add_count(&mut self, f: &FlowCount, tgid: u32, tid: u32, l2: u64) {
        let last = self.seen.entry(f.key).or_insert((0, 0));
        let (dp, db) = if f.packets >= last.0 {
            (f.packets - last.0, f.bytes.saturating_sub(last.1))
        } else {
            (f.packets, f.bytes)
        };
        *last = (f.packets, f.bytes);
        if dp == 0 {
            return;
        }
        let key = FlowKey { tgid, tid, ..f.key };
        let t =
            self.totals.entry(key).or_insert(FlowCount { key, packets: 0, bytes: 0, first_ns: u64::MAX, last_ns: 0 });
        t.packets += dp;
        t.bytes += db.saturating_sub(l2 * dp);
        t.first_ns = t.first_ns.min(f.first_ns);
        t.last_ns = t.last_ns.max(f.last_ns);
    }

    /// The attributed totals, in key order.
    pub fn totals(&self) -> impl Iterator<Item = &FlowCount> {
        self.totals.values()
    }

    /// Forgets what was read of kernel entries that left their maps: if their flow comes back,
    /// its new entry counts from zero.
    pub fn forget(&mut self, keys: &[FlowKey]) {
        for k in keys {
            self.seen.remove(k);
        }
    }

    /// Forgets sockets, confirmations and counts that no flow references, once the caches grew
    /// large.
    pub fn prune(&mut self, referenced: &HashSet<u64>) {
        if self.owners.len() + self.confirmed.len() + self.seen.len() <= PRUNE_ABOVE {
            return;
        }
        self.owners.retain(|c, _| referenced.contains(c));
        self.confirmed.retain(|s| referenced.contains(&s.cookie));
        self.seen.retain(|k, _| referenced.contains(&k.cookie));
        self.totals.retain(|k, _| referenced.contains(&k.cookie));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Table {
        senders: HashSet<SenderKey>,
        sockets: HashMap<u64, SockInfo>,
    }

    impl KernelView for Table {
        fn confirmed(&self, key: &SenderKey) -> bool {
            self.senders.contains(key)
        }
        fn socket(&self, cookie: u64) -> Option<SockInfo> {
            self.sockets.get(&cookie).copied()
        }
    }

    fn info(creator: u32, last_tx: u32, last_rx: u32) -> SockInfo {
        SockInfo { creator_tgid: creator, last_tx_tgid: last_tx, last_rx_tgid: last_rx, ..SockInfo::default() }
    }

    #[test]
    fn a_confirmed_candidate_is_the_sender_and_an_unrelated_one_gives_way_to_the_owner() {
        let mut t = Table::default();
        t.sockets.insert(7, info(100, 200, 0));
        t.senders.insert(SenderKey { cookie: 7, tgid: 200, tid: 201 });
        let mut r = Resolver::default();
        assert_eq!(r.resolve(&t, 7, 200, 201, abi::DIR_OUT), (200, 201));
        // A task that happened to run in softirq: not a sender of this socket.
        assert_eq!(r.resolve(&t, 7, 999, 999, abi::DIR_OUT), (200, 0));
        // Another thread of the sender that never sent on it: not confirmed either.
        assert_eq!(r.resolve(&t, 7, 200, 202, abi::DIR_OUT), (200, 0));
        // Ingress: the last receiver first, then the last sender.
        assert_eq!(r.resolve(&t, 7, 0, 0, abi::DIR_IN), (200, 0));
        assert_eq!(r.resolve(&t, 0, 5, 5, abi::DIR_OUT), (0, 0), "no socket, no process");
    }

    #[test]
    fn what_was_read_outlives_the_kernel_s_entries() {
        let mut t = Table::default();
        t.sockets.insert(7, info(100, 300, 400));
        t.senders.insert(SenderKey { cookie: 7, tgid: 300, tid: 300 });
        let mut r = Resolver::default();
        assert_eq!(r.resolve(&t, 7, 300, 300, abi::DIR_OUT), (300, 300));
        assert_eq!(r.owner(&t, 7, abi::DIR_IN), 400);
        // The process exits, its socket closes, the LRU evicts the confirmation.
        t.sockets.clear();
        t.senders.clear();
        r.begin_round();
        assert_eq!(r.resolve(&t, 7, 300, 300, abi::DIR_OUT), (300, 300));
        assert_eq!(r.owner(&t, 7, abi::DIR_IN), 400);
    }

    #[test]
    fn owners_follow_the_socket_between_rounds_and_records_fill_in_for_closed_ones() {
        let mut t = Table::default();
        t.sockets.insert(7, info(100, 0, 0));
        let mut r = Resolver::default();
        assert_eq!(r.owner(&t, 7, abi::DIR_OUT), 100, "the creator when nobody used it");
        t.sockets.insert(7, info(100, 0, 500));
        assert_eq!(r.owner(&t, 7, abi::DIR_OUT), 100, "read once per round");
        r.begin_round();
        assert_eq!(r.owner(&t, 7, abi::DIR_OUT), 500, "a receiver owns what the kernel sends for it");

        // A socket made and closed between two reads: only its records tell.
        let rec = |op, cookie, tgid| SockRec {
            hdr: Default::default(),
            cookie,
            netns_cookie: 0,
            start_ns: 0,
            tgid,
            tid: tgid,
            uid: 0,
            op,
            family: 2,
            protocol: 17,
            sock_type: 2,
            old_state: 0,
            new_state: 0,
            lport: 0,
            rport: 0,
            _pad0: 0,
            bound_ifindex: 0,
            prev_tgid: 0,
            laddr: [0; 16],
            raddr: [0; 16],
            comm: [0; 16],
        };
        r.note_record(&rec(abi::SOCK_CREATE, 9, 100));
        assert_eq!(r.owner(&t, 9, abi::DIR_OUT), 100);
        r.note_record(&rec(abi::SOCK_OWNER, 9, 600));
        r.begin_round();
        assert_eq!(r.owner(&t, 9, abi::DIR_IN), 600, "the child it was handed to");
        assert_eq!(r.owner(&t, 8, abi::DIR_OUT), 0, "never heard of");
    }

    fn kernel(cookie: u64, dir: u8, tgid: u32, tid: u32, packets: u64) -> FlowCount {
        let key =
            FlowKey { cookie, ifindex: 2, tgid, tid, direction: dir, protocol: 17, family: 4, ..FlowKey::default() };
        FlowCount { key, packets, bytes: packets * 100, first_ns: 1, last_ns: packets }
    }

    fn total(r: &Resolver, tgid: u32) -> u64 {
        r.totals().filter(|c| c.key.tgid == tgid).map(|c| c.packets).sum()
    }

    #[test]
    fn counts_go_to_the_owner_of_the_moment_they_were_read_in_and_never_move() {
        let mut t = Table::default();
        t.sockets.insert(7, info(100, 0, 100));
        let mut r = Resolver::default();
        // The parent received 5 packets; then it hands the socket to a child, which receives 3.
        let owner = r.owner(&t, 7, abi::DIR_IN);
        r.add_count(&kernel(7, abi::DIR_IN, 0, 0, 5), owner, 0, 0);
        t.sockets.insert(7, info(100, 0, 200));
        r.begin_round();
        let owner = r.owner(&t, 7, abi::DIR_IN);
        r.add_count(&kernel(7, abi::DIR_IN, 0, 0, 8), owner, 0, 0);
        assert_eq!((total(&r, 100), total(&r, 200)), (5, 3), "the parent keeps what it had");
        // Nothing new: nothing moves, whoever owns it now.
        r.begin_round();
        r.add_count(&kernel(7, abi::DIR_IN, 0, 0, 8), 100, 0, 0);
        assert_eq!((total(&r, 100), total(&r, 200)), (5, 3));
        // Bytes less the link header, per packet.
        r.add_count(&kernel(7, abi::DIR_IN, 0, 0, 10), 200, 0, 14);
        let child = r.totals().find(|c| c.key.tgid == 200).unwrap();
        assert_eq!((child.packets, child.bytes), (5, 3 * 100 + 2 * (100 - 14)));
    }

    #[test]
    fn a_kernel_count_that_starts_again_is_all_new() {
        let mut r = Resolver::default();
        r.add_count(&kernel(7, abi::DIR_OUT, 300, 301, 9), 300, 301, 0);
        // Evicted from the LRU map and made anew with 2.
        r.add_count(&kernel(7, abi::DIR_OUT, 300, 301, 2), 300, 301, 0);
        assert_eq!(total(&r, 300), 11);
    }

    #[test]
    fn pruning_keeps_what_flows_reference() {
        let mut t = Table::default();
        let mut r = Resolver::default();
        for c in 1..=(PRUNE_ABOVE as u64 + 10) {
            t.sockets.insert(c, info(1, 0, 0));
            t.senders.insert(SenderKey { cookie: c, tgid: 1, tid: 1 });
            r.resolve(&t, c, 1, 1, abi::DIR_OUT);
            r.owner(&t, c, abi::DIR_OUT);
        }
        let keep: HashSet<u64> = [3, 5].into_iter().collect();
        r.prune(&keep);
        assert_eq!(r.owners.len(), 2);
        assert_eq!(r.confirmed.len(), 2);
        r.prune(&keep);
        assert_eq!(r.owners.len(), 2, "small caches are left alone");
    }
}

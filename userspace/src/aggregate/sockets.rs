//! Sockets by cookie, as live sources report them: who created each, who used it last (the
//! owner of its packets when the source gives only the cookie), its addresses and state.

use std::net::SocketAddr;

use rustc_hash::FxHashMap;

use super::procs::ProcHandle;
use crate::event::{SocketEvent, SocketOp};
use crate::time::Timestamp;

/// Distinct processes remembered per socket (a socket shared by a pre-fork server's workers
/// can have many; the first few say enough).
pub const MAX_USERS: usize = 8;
/// Sockets kept at once by default.
pub const DEFAULT_MAX_SOCKETS: usize = 262_144;

#[derive(Debug, Clone)]
pub struct SockState {
    pub cookie: u64,
    /// The process its packets belong to now: the last that created, bound, connected or used it.
    pub owner: ProcHandle,
    pub creator: Option<ProcHandle>,
    /// Every process seen using it, first first (at most [`MAX_USERS`]).
    pub users: Vec<ProcHandle>,
    pub proto: u8,
    pub local: Option<SocketAddr>,
    pub remote: Option<SocketAddr>,
    pub netns: Option<u64>,
    pub bound_ifindex: Option<u32>,
    pub tcp_state: Option<u8>,
    /// Created while the source watched; `None` for a socket found already open.
    pub opened: Option<Timestamp>,
    pub closed: Option<Timestamp>,
    pub last_seen: Timestamp,
    /// Order of first sight, for a stable report order.
    pub order: u64,
}

#[derive(Debug)]
pub struct Sockets {
    map: FxHashMap<u64, SockState>,
    next_order: u64,
    cap: usize,
    /// Sockets let go to stay under the cap.
    pub evicted: u64,
    /// Closed sockets let go after their grace period.
    pub expired: u64,
}

impl Default for Sockets {
    fn default() -> Self {
        Sockets::with_cap(DEFAULT_MAX_SOCKETS)
    }
}

impl Sockets {
    pub fn with_cap(cap: usize) -> Self {
        Sockets { map: FxHashMap::default(), next_order: 0, cap: cap.max(1), evicted: 0, expired: 0 }
    }

    /// Apply one socket event; `proc` is the process the event names.
    pub fn apply(&mut self, e: &SocketEvent, proc: ProcHandle) {
        if !self.map.contains_key(&e.cookie) && self.map.len() >= self.cap {
            self.make_room();
        }
        let order = self.next_order;
        let s = self.map.entry(e.cookie).or_insert_with(|| SockState {
            cookie: e.cookie,
            owner: proc,
            creator: None,
            users: Vec::new(),
            proto: e.proto,
            local: None,
            remote: None,
            netns: e.netns,
            bound_ifindex: None,
            tcp_state: None,
            opened: None,
            closed: None,
            last_seen: e.ts,
            order,
        });
        if s.order == order {
            self.next_order += 1;
        }
        s.owner = proc;
        if s.users.len() < MAX_USERS && !s.users.contains(&proc) {
            s.users.push(proc);
        }
        if e.proto != 0 {
            s.proto = e.proto;
        }
        // Later facts replace earlier ones; a missing fact erases nothing.
        if let Some(l) = e.local.filter(|l| l.port() != 0 || !l.ip().is_unspecified()) {
            s.local = Some(l);
        }
        if e.remote.is_some() {
            s.remote = e.remote;
        }
        s.netns = e.netns.or(s.netns);
        s.bound_ifindex = e.bound_ifindex.or(s.bound_ifindex);
        s.tcp_state = e.tcp_state.or(s.tcp_state);
        s.last_seen = s.last_seen.max(e.ts);
        match e.op {
            SocketOp::Created => {
                s.creator = Some(proc);
                s.opened = Some(e.ts);
            }
            SocketOp::Closed => s.closed = Some(e.ts),
            SocketOp::Existing | SocketOp::Bound | SocketOp::Connected | SocketOp::Used | SocketOp::State => {}
        }
    }

    /// The process a packet of socket `cookie` belongs to, when the source did not say.
    #[inline]
    pub fn owner(&self, cookie: u64) -> Option<ProcHandle> {
        self.map.get(&cookie).map(|s| s.owner)
    }

    #[cfg(test)]
    fn get(&self, cookie: u64) -> Option<&SockState> {
        self.map.get(&cookie)
    }

    pub fn touch(&mut self, cookie: u64, at: Timestamp) {
        if let Some(s) = self.map.get_mut(&cookie) {
            if s.last_seen < at {
                s.last_seen = at;
            }
        }
    }

    /// Sockets in order of first sight.
    pub fn sorted(&self) -> Vec<&SockState> {
        let mut v: Vec<&SockState> = self.map.values().collect();
        v.sort_unstable_by_key(|s| s.order);
        v
    }

    /// Every process a kept socket points at.
    pub fn processes(&self) -> impl Iterator<Item = ProcHandle> + '_ {
        self.map.values().flat_map(|s| s.users.iter().copied().chain(std::iter::once(s.owner)).chain(s.creator))
    }

    /// Let go of sockets closed more than `grace` ns before `now`.
    pub fn expire(&mut self, now: Timestamp, grace: i64) -> u64 {
        let before = self.map.len();
        self.map.retain(|_, s| s.closed.is_none_or(|c| now.0.saturating_sub(c.0) <= grace));
        let n = (before - self.map.len()) as u64;
        self.expired += n;
        n
    }

    /// Let go of one socket: the one closed longest ago, else the one idle longest.
    #[cold]
    fn make_room(&mut self) {
        let victim = self
            .map
            .values()
            .min_by_key(|s| (s.closed.is_none(), s.closed.unwrap_or(s.last_seen), s.order))
            .map(|s| s.cookie);
        if let Some(c) = victim {
            self.map.remove(&c);
            self.evicted += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: SocketOp, cookie: u64, pid: u32, ts: i64) -> SocketEvent {
        SocketEvent {
            ts: Timestamp(ts),
            op,
            cookie,
            pid,
            proto: 17,
            local: None,
            remote: None,
            netns: None,
            bound_ifindex: None,
            tcp_state: None,
        }
    }

    #[test]
    fn the_last_user_owns_the_packets_and_every_user_is_listed() {
        let mut s = Sockets::default();
        s.apply(&ev(SocketOp::Created, 9, 100, 1), 0);
        let mut bound = ev(SocketOp::Bound, 9, 100, 2);
        bound.local = Some("198.18.0.2:4500".parse().unwrap());
        s.apply(&bound, 0);
        assert_eq!(s.owner(9), Some(0));
        // Inherited across fork: the child uses it.
        s.apply(&ev(SocketOp::Used, 9, 101, 3), 1);
        assert_eq!(s.owner(9), Some(1));
        let st = s.get(9).unwrap();
        assert_eq!((st.creator, st.users.as_slice()), (Some(0), &[0, 1][..]));
        assert_eq!(st.local, Some("198.18.0.2:4500".parse().unwrap()));
        // A later event without an address erases nothing.
        s.apply(&ev(SocketOp::Used, 9, 100, 4), 0);
        assert_eq!(s.get(9).unwrap().local, bound.local);
        assert_eq!(s.owner(9), Some(0));
    }

    #[test]
    fn closed_sockets_expire_after_grace_and_the_cap_counts() {
        let mut s = Sockets::with_cap(2);
        s.apply(&ev(SocketOp::Created, 1, 1, 0), 0);
        s.apply(&ev(SocketOp::Closed, 1, 1, 5), 0);
        s.apply(&ev(SocketOp::Existing, 2, 2, 0), 1);
        assert_eq!(s.expire(Timestamp(10), 10), 0);
        assert_eq!(s.expire(Timestamp(16), 10), 1);
        assert!(s.get(1).is_none() && s.get(2).is_some());
        s.apply(&ev(SocketOp::Created, 3, 3, 20), 2);
        s.apply(&ev(SocketOp::Created, 4, 4, 21), 3);
        assert_eq!((s.map.len(), s.evicted), (2, 1));
        assert!(s.get(2).is_none(), "the socket idle longest went");
        assert_eq!(s.sorted().iter().map(|x| x.cookie).collect::<Vec<_>>(), [3, 4]);
    }
}

//! Processes as the aggregator keeps them: one entry per process, a process being a pid *and* a
//! start time, so that a pid reused during a long session names a second process instead of
//! merging into the first.
//!
//! Tables elsewhere (flows, SAs, dialogs) refer to a process by its [`ProcHandle`], fixed when
//! the packet is counted: a report names the process that owned the packet then, not whichever
//! process holds the pid when the report is built.

use rustc_hash::FxHashMap;

use crate::event::ProcessInfo;
use crate::time::Timestamp;

/// Index of a process in [`Processes`]; stable for the life of the aggregator.
pub type ProcHandle = u32;

#[derive(Debug, Clone, Default)]
pub struct ProcState {
    pub info: ProcessInfo,
    pub exited: Option<Timestamp>,
    pub packets: u64,
    pub bytes: u64,
    /// Interfaces its packets crossed, as aggregator interface indices (names are looked up
    /// when a report is built, never copied per packet). Few per process.
    pub ifaces: Vec<u32>,
    /// Last time anything referred to it (a packet, a socket, an announcement).
    pub last_seen: Timestamp,
    /// Sockets, SAs or dialogs still pointing at it: such a process is never expired.
    pub pinned: bool,
    /// It crossed more interfaces than it lists.
    pub ifaces_full: bool,
}

/// The processes of a session, bounded: at most `cap` are kept; exited ones that carried no
/// traffic go first when room is needed, and each one let go is counted. A handle let go
/// costs twelve bytes (its empty slot and its pid), so the report can still name its pid.
#[derive(Debug)]
pub struct Processes {
    /// `None` for a process let go; handles stay valid (they then name only a pid). Boxed, so
    /// an empty slot is a pointer, not a whole process.
    list: Vec<Option<Box<ProcState>>>,
    /// The pid of every handle, kept or let go.
    pids: Vec<u32>,
    /// The newest process of each pid.
    by_pid: FxHashMap<u32, ProcHandle>,
    live: usize,
    cap: usize,
    /// Processes let go to stay under the cap.
    pub evicted: u64,
    /// Processes let go after their grace period ([`Processes::expire`]).
    pub expired: u64,
    /// Processes that crossed more than [`MAX_PROCESS_IFACES`] interfaces: counted once each,
    /// when the first unlisted interface is seen.
    ifaces_full: u64,
}

impl Default for Processes {
    fn default() -> Self {
        Processes::with_cap(DEFAULT_MAX_PROCESSES)
    }
}

/// Processes kept at once by default.
pub const DEFAULT_MAX_PROCESSES: usize = 65_536;
/// Interfaces listed per process: a process that crosses more (a capture naming thousands of
/// tunnels) keeps the first ones, and its packets are still counted.
pub const MAX_PROCESS_IFACES: usize = 64;

impl Processes {
    pub fn with_cap(cap: usize) -> Self {
        Processes {
            list: Vec::new(),
            pids: Vec::new(),
            by_pid: FxHashMap::default(),
            live: 0,
            cap: cap.max(1),
            evicted: 0,
            expired: 0,
            ifaces_full: 0,
        }
    }

    fn push(&mut self, info: ProcessInfo, at: Timestamp) -> ProcHandle {
        if self.live >= self.cap {
            self.make_room();
        }
        let h = self.list.len() as ProcHandle;
        self.by_pid.insert(info.pid, h);
        self.pids.push(info.pid);
        self.list.push(Some(Box::new(ProcState { info, last_seen: at, ..Default::default() })));
        self.live += 1;
        h
    }

    /// Let go of a sixteenth of the cap (at least one): the oldest exited ones without
    /// traffic first, then the oldest exited, then the oldest without traffic, then the oldest.
    /// One pass and a sort for many evictions, so a stream of ever new pids costs O(log n)
    /// per process, not a scan of the table each.
    #[cold]
    fn make_room(&mut self) {
        let want = (self.cap / 16).max(1);
        // Lower class goes first: exited and quiet, exited, quiet, the rest.
        let class = |p: &ProcState| match (p.exited.is_some(), p.packets == 0) {
            (true, true) => 0u8,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => 3,
        };
        let mut order: Vec<(u8, crate::time::Timestamp, usize)> = self
            .list
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().filter(|p| !p.pinned).map(|p| (class(p), p.last_seen, i)))
            .collect();
        if order.is_empty() {
            // Everything pinned: the oldest handle goes all the same, the cap is the cap.
            order = self
                .list
                .iter()
                .enumerate()
                .filter(|(_, p)| p.is_some())
                .map(|(i, _)| (0, Default::default(), i))
                .collect();
        }
        let n = want.min(order.len());
        if n == 0 {
            return;
        }
        order.select_nth_unstable(n - 1);
        for &(_, _, i) in &order[..n] {
            if self.let_go(i) {
                self.evicted += 1;
            }
        }
    }

    fn let_go(&mut self, i: usize) -> bool {
        if let Some(p) = self.list.get_mut(i).and_then(Option::take) {
            let h = i as ProcHandle;
            if self.by_pid.get(&p.info.pid) == Some(&h) {
                self.by_pid.remove(&p.info.pid);
            }
            self.live -= 1;
            return true;
        }
        false
    }

    /// Merge what a source says about a process: later facts fill gaps and replace what they
    /// name, never erase. A start time other than the known one is a new process.
    pub fn learn(&mut self, p: &ProcessInfo, at: Timestamp) -> ProcHandle {
        if let Some(&h) = self.by_pid.get(&p.pid) {
            if let Some(Some(cur)) = self.list.get_mut(h as usize) {
                let same = match (cur.info.start, p.start) {
                    (Some(a), Some(b)) => a == b,
                    // A process that exited and is announced again without a start time is a
                    // new one too: the old one cannot speak any more.
                    _ => cur.exited.is_none(),
                };
                if same {
                    let i = &mut cur.info;
                    if p.comm.is_some() {
                        i.comm.clone_from(&p.comm);
                    }
                    if p.exe.is_some() {
                        i.exe.clone_from(&p.exe);
                    }
                    if p.cmdline.is_some() {
                        i.cmdline.clone_from(&p.cmdline);
                    }
                    i.uid = p.uid.or(i.uid);
                    i.ppid = p.ppid.or(i.ppid);
                    i.start = p.start.or(i.start);
                    cur.last_seen = cur.last_seen.max(at);
                    return h;
                }
            }
        }
        self.push(p.clone(), at)
    }

    /// The process now holding `pid` (a bare entry if none was announced).
    #[inline]
    pub fn resolve(&mut self, pid: u32, at: Timestamp) -> ProcHandle {
        match self.by_pid.get(&pid) {
            Some(&h) => h,
            None => self.push(ProcessInfo { pid, ..Default::default() }, at),
        }
    }

    /// The process holding `pid`, if any is known; never creates one.
    pub fn current(&self, pid: u32) -> Option<ProcHandle> {
        self.by_pid.get(&pid).copied()
    }

    /// The process (`pid`, `start`) ended at `at`. A start time that is not the current
    /// process's names an older one, already replaced: nothing to mark.
    pub fn exit(&mut self, pid: u32, start: Option<Timestamp>, at: Timestamp) {
        let Some(&h) = self.by_pid.get(&pid) else { return };
        if let Some(Some(p)) = self.list.get_mut(h as usize) {
            if start.is_none() || p.info.start.is_none() || p.info.start == start {
                p.exited = Some(at);
                p.last_seen = p.last_seen.max(at);
            }
        }
    }

    /// Count a packet of `len` bytes on interface `iface` for process `h`. No allocation once
    /// the process has seen the interface.
    #[inline]
    pub fn count(&mut self, h: ProcHandle, iface: u32, packets: u64, bytes: u64, at: Timestamp) {
        if let Some(Some(p)) = self.list.get_mut(h as usize) {
            p.packets += packets;
            p.bytes += bytes;
            if p.last_seen < at {
                p.last_seen = at;
            }
            if !p.ifaces.contains(&iface) {
                if p.ifaces.len() < MAX_PROCESS_IFACES {
                    p.ifaces.push(iface);
                } else if !p.ifaces_full {
                    p.ifaces_full = true;
                    self.ifaces_full += 1;
                }
            }
        }
    }

    /// Processes whose interfaces are not all listed.
    pub fn ifaces_unlisted(&self) -> u64 {
        self.ifaces_full
    }

    pub fn get(&self, h: ProcHandle) -> Option<&ProcState> {
        self.list.get(h as usize).and_then(|p| p.as_deref())
    }

    pub fn get_mut(&mut self, h: ProcHandle) -> Option<&mut ProcState> {
        self.list.get_mut(h as usize).and_then(|p| p.as_deref_mut())
    }

    /// The pid of a handle, also for a process let go.
    pub fn pid(&self, h: ProcHandle) -> Option<u32> {
        self.pids.get(h as usize).copied()
    }

    pub fn comm(&self, h: ProcHandle) -> Option<&str> {
        self.get(h).and_then(|p| p.info.comm.as_deref())
    }

    /// The current comm of `pid`, if a process with that pid is known.
    pub fn comm_of_pid(&self, pid: u32) -> Option<&str> {
        self.current(pid).and_then(|h| self.comm(h))
    }

    /// Processes kept, in the order they were first seen.
    pub fn iter(&self) -> impl Iterator<Item = (ProcHandle, &ProcState)> {
        self.list.iter().enumerate().filter_map(|(i, p)| p.as_deref().map(|p| (i as ProcHandle, p)))
    }

    /// Let go of processes that exited more than `grace` ns before `now` and carried no traffic
    /// nor hold anything (those with traffic stay: the report's totals name them). Returns how
    /// many went.
    pub fn expire(&mut self, now: Timestamp, grace: i64) -> u64 {
        let old: Vec<usize> = self
            .list
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let p = p.as_ref()?;
                let done = p.exited.is_some_and(|e| now.0.saturating_sub(e.0) > grace);
                (done && !p.pinned && p.packets == 0).then_some(i)
            })
            .collect();
        let mut n = 0;
        for i in old {
            n += u64::from(self.let_go(i));
        }
        self.expired += n;
        n
    }

    /// Mark which processes something still points at (sockets, SAs, dialogs): those are never
    /// let go by [`Processes::expire`] or the cap.
    pub fn set_pins(&mut self, pinned: impl IntoIterator<Item = ProcHandle>) {
        for p in self.list.iter_mut().flatten() {
            p.pinned = false;
        }
        for h in pinned {
            if let Some(p) = self.get_mut(h) {
                p.pinned = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pid: u32, comm: &str, start: Option<i64>) -> ProcessInfo {
        ProcessInfo { pid, comm: Some(comm.into()), start: start.map(Timestamp), ..Default::default() }
    }

    #[test]
    fn pid_reuse_makes_a_second_process() {
        let mut p = Processes::default();
        let a = p.learn(&info(100, "charon", Some(1)), Timestamp(1));
        assert_eq!(p.learn(&info(100, "charon", Some(1)), Timestamp(2)), a, "same start: same process");
        p.exit(100, Some(Timestamp(1)), Timestamp(5));
        let b = p.learn(&info(100, "sipp", Some(9)), Timestamp(9));
        assert_ne!(a, b);
        assert_eq!((p.comm(a), p.comm(b)), (Some("charon"), Some("sipp")));
        assert_eq!(p.resolve(100, Timestamp(10)), b);
        // The old process's exit, reported late, does not end the new one.
        p.exit(100, Some(Timestamp(1)), Timestamp(11));
        assert!(p.get(b).unwrap().exited.is_none());
        assert!(p.get(a).unwrap().exited.is_some());
    }

    #[test]
    fn announcements_without_start_fill_gaps() {
        let mut p = Processes::default();
        let a = p.resolve(7, Timestamp(0));
        let mut i = info(7, "x", None);
        i.exe = Some("/bin/x".into());
        assert_eq!(p.learn(&i, Timestamp(1)), a);
        assert_eq!(p.learn(&ProcessInfo { pid: 7, uid: Some(0), ..Default::default() }, Timestamp(2)), a);
        let s = &p.get(a).unwrap().info;
        assert_eq!((s.comm.as_deref(), s.exe.as_deref(), s.uid), (Some("x"), Some("/bin/x"), Some(0)));
        p.exit(7, None, Timestamp(3));
        assert_ne!(p.learn(&info(7, "y", None), Timestamp(4)), a, "announced after its exit: a new process");
    }

    #[test]
    fn the_cap_lets_quiet_exited_processes_go_first_and_counts() {
        let mut p = Processes::with_cap(3);
        let busy = p.resolve(1, Timestamp(0));
        p.count(busy, 0, 10, 1000, Timestamp(1));
        p.exit(1, None, Timestamp(2));
        let quiet = p.resolve(2, Timestamp(0));
        p.exit(2, None, Timestamp(2));
        let alive = p.resolve(3, Timestamp(0));
        let newer = p.resolve(4, Timestamp(3));
        assert_eq!(p.iter().count(), 3);
        assert_eq!(p.evicted, 1);
        assert!(p.get(quiet).is_none() && p.get(busy).is_some() && p.get(alive).is_some() && p.get(newer).is_some());
        assert_eq!(p.pid(quiet), Some(2), "a let-go handle still names its pid");
        assert_eq!(p.current(2), None);
    }

    #[test]
    fn expiry_keeps_processes_with_traffic_or_pins() {
        let mut p = Processes::default();
        let a = p.resolve(1, Timestamp(0));
        let b = p.resolve(2, Timestamp(0));
        let c = p.resolve(3, Timestamp(0));
        p.count(a, 0, 1, 1, Timestamp(0));
        for pid in 1..=3 {
            p.exit(pid, None, Timestamp(10));
        }
        p.set_pins([c]);
        assert_eq!(p.expire(Timestamp(15), 10), 0, "within the grace period");
        assert_eq!(p.expire(Timestamp(30), 10), 1);
        assert!(p.get(a).is_some() && p.get(b).is_none() && p.get(c).is_some());
    }

    #[test]
    fn counting_is_per_interface_without_duplicates() {
        let mut p = Processes::default();
        let a = p.resolve(1, Timestamp(0));
        for i in 0..100 {
            p.count(a, i % 2, 1, 10, Timestamp(i as i64));
        }
        let s = p.get(a).unwrap();
        assert_eq!((s.packets, s.bytes, s.ifaces.as_slice()), (100, 1000, &[0, 1][..]));
    }
}

//! Processes from /proc, and a cache of them that outlives them.
//!
//! A process is known by (pid, start time): pids are reused, start times are not (within one
//! boot). The cache keeps processes after they exit, so a report at the end of a session can
//! still name the short-lived process that sent a packet, and holds a bounded number of them,
//! dropping exited processes first and counting every drop.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;

use tuntrace_core::event::ProcessInfo;

use super::clock::BootNs;
use super::HostError;

/// The tick of /proc start times. /proc/PID/stat gives a start time in clock ticks
/// (USER_HZ) since boot on CLOCK_BOOTTIME, the clock of `bpf_ktime_get_boot_ns()`, so
/// `boot_ns` puts it on the same scale as the kernel's event stamps, to within one tick
/// (10 ms at the usual 100 Hz). A tracer running in a time namespace sees /proc shifted by
/// that namespace's boot-time offset while eBPF stamps are not; tuntrace runs in the initial
/// time namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcClock {
    pub ticks_per_second: u64,
}

impl ProcClock {
    /// Reads USER_HZ (sysconf(_SC_CLK_TCK)).
    pub fn new() -> Result<ProcClock, HostError> {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if hz <= 0 {
            return Err(HostError::Sys { call: "sysconf(_SC_CLK_TCK)", source: io::Error::last_os_error() });
        }
        Ok(ProcClock { ticks_per_second: hz as u64 })
    }

    /// Start-time ticks as boot-clock nanoseconds.
    pub fn boot_ns(&self, ticks: u64) -> BootNs {
        BootNs((ticks as u128 * 1_000_000_000 / self.ticks_per_second.max(1) as u128) as u64)
    }
}

/// What identifies one process over a whole boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcKey {
    pub pid: u32,
    /// Field 22 of /proc/PID/stat: clock ticks after boot.
    pub start_ticks: u64,
}

/// One process. Each field the kernel would not give us (a kernel thread has no exe, another
/// user's exe needs privileges, the process exited half-way through reading) is `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub ppid: Option<u32>,
    pub comm: Option<String>,
    pub exe: Option<String>,
    /// Arguments joined by spaces.
    pub cmdline: Option<String>,
    /// Real uid.
    pub uid: Option<u32>,
    pub start_ticks: u64,
    /// Start time on the boot clock (see [`ProcClock`]).
    pub start: BootNs,
    /// Seen to exit (or its pid seen reused); the facts are those read while it ran.
    pub exited: bool,
}

impl Process {
    pub fn key(&self) -> ProcKey {
        ProcKey { pid: self.pid, start_ticks: self.start_ticks }
    }

    /// The process as the event vocabulary carries it, its start on the wall clock.
    pub fn to_info(&self, clock: &super::clock::BootToWall) -> ProcessInfo {
        ProcessInfo {
            pid: self.pid,
            comm: self.comm.clone(),
            exe: self.exe.clone(),
            cmdline: self.cmdline.clone(),
            uid: self.uid,
            ppid: self.ppid,
            start: Some(clock.timestamp(self.start)),
        }
    }
}

/// The fields of /proc/PID/stat we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub comm: String,
    pub ppid: u32,
    pub start_ticks: u64,
}

/// Parses /proc/PID/stat. The command name sits in parentheses and may itself contain spaces
/// and parentheses, so the fields after it are found from the *last* `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    if close < open {
        return None;
    }
    let comm = text[open + 1..close].to_string();
    // After ") ": field 3 (state), 4 (ppid), …, 22 (starttime).
    let mut rest = text[close + 1..].split_ascii_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    let start_ticks = rest.nth(17)?.parse().ok()?;
    Some(Stat { comm, ppid, start_ticks })
}

/// The real uid from /proc/PID/status (`Uid:\treal\teffective\tsaved\tfs`).
pub fn parse_status_uid(text: &str) -> Option<u32> {
    text.lines().find_map(|l| l.strip_prefix("Uid:"))?.split_ascii_whitespace().next()?.parse().ok()
}

/// Bytes of a command line kept: arguments can take megabytes, and a session keeps the line
/// of every process it met (thousands).
const MAX_CMDLINE: usize = 4096;

/// /proc/PID/cmdline as one line: NUL-separated arguments joined by spaces, cut after
/// [`MAX_CMDLINE`] bytes (and marked so). `None` when empty (kernel threads, zombies).
pub fn cmdline_text(raw: &[u8]) -> Option<String> {
    let trimmed = raw.strip_suffix(&[0]).unwrap_or(raw);
    if trimmed.is_empty() {
        return None;
    }
    let kept = &trimmed[..trimmed.len().min(MAX_CMDLINE)];
    let joined: Vec<u8> = kept.iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
    let mut text = String::from_utf8_lossy(&joined).into_owned();
    if kept.len() < trimmed.len() {
        text.push_str(&format!("… ({} more bytes)", trimmed.len() - kept.len()));
    }
    Some(text)
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Reads process `pid` from /proc; `None` when there is no such process. The start time is
/// read again at the end, so facts of a process that exited and had its pid reused while we
/// read are not mixed with the old one's.
pub fn read(pid: u32, clock: &ProcClock) -> Option<Process> {
    // A pid reused between our reads is read again; twice in a row would take a fork storm.
    for _ in 0..3 {
        let stat = read_stat(pid)?;
        let dir = format!("/proc/{pid}");
        let exe = fs::read_link(format!("{dir}/exe")).ok().map(|p| p.to_string_lossy().into_owned());
        let cmdline = fs::read(format!("{dir}/cmdline")).ok().and_then(|b| cmdline_text(&b));
        let uid = fs::read_to_string(format!("{dir}/status")).ok().and_then(|s| parse_status_uid(&s));
        let mut p = Process {
            pid,
            ppid: Some(stat.ppid),
            comm: Some(stat.comm),
            exe,
            cmdline,
            uid,
            start_ticks: stat.start_ticks,
            start: clock.boot_ns(stat.start_ticks),
            exited: false,
        };
        match read_stat(pid) {
            Some(again) if again.start_ticks == p.start_ticks => return Some(p),
            Some(_) => continue,
            None => {
                // Exited while we read: what we got before it went is still its own.
                p.exited = true;
                return Some(p);
            }
        }
    }
    None
}

struct Entry {
    process: Process,
    /// Position in `live` or `exited` (whichever `process.exited` says).
    seq: u64,
}

/// Processes by (pid, start time), kept after they exit, at most `capacity` of them.
///
/// Eviction: when full, the process that exited longest ago goes first; only when none has
/// exited does the least recently observed live process go. [`ProcessCache::evicted`] counts
/// both, for the report to state.
pub struct ProcessCache {
    clock: ProcClock,
    capacity: usize,
    entries: HashMap<ProcKey, Entry>,
    /// Most recent start time seen for each pid.
    latest: HashMap<u32, u64>,
    live: BTreeMap<u64, ProcKey>,
    exited: BTreeMap<u64, ProcKey>,
    next_seq: u64,
    evicted: u64,
}

impl ProcessCache {
    /// A cache for this host's /proc (fails when /proc is not mounted).
    pub fn new(capacity: usize) -> Result<ProcessCache, HostError> {
        super::error::require_proc()?;
        Ok(ProcessCache::with_clock(capacity, ProcClock::new()?))
    }

    pub fn with_clock(capacity: usize, clock: ProcClock) -> ProcessCache {
        ProcessCache {
            clock,
            capacity: capacity.max(1),
            entries: HashMap::new(),
            latest: HashMap::new(),
            live: BTreeMap::new(),
            exited: BTreeMap::new(),
            next_seq: 0,
            evicted: 0,
        }
    }

    pub fn clock(&self) -> ProcClock {
        self.clock
    }

    /// Process `pid` as it is now: read from /proc the first time (pid, start) is met, from
    /// the cache after that. When the pid is gone, its last entry is marked exited and
    /// returned; when the pid now belongs to a new process, the old entry is marked exited
    /// and kept beside the new one.
    pub fn observe(&mut self, pid: u32) -> Option<&Process> {
        let now = read_stat(pid).map(|s| s.start_ticks);
        let known = self.latest.get(&pid).copied();
        match (now, known) {
            (Some(start), Some(k)) if start == k => {
                let key = ProcKey { pid, start_ticks: start };
                self.touch(key);
                return self.entries.get(&key).map(|e| &e.process);
            }
            (None, Some(k)) => {
                let key = ProcKey { pid, start_ticks: k };
                self.mark_exited(key);
                return self.entries.get(&key).map(|e| &e.process);
            }
            (Some(_), Some(k)) => self.mark_exited(ProcKey { pid, start_ticks: k }),
            (None, None) => return None,
            (Some(_), None) => {}
        }
        let p = read(pid, &self.clock)?;
        let key = p.key();
        self.insert(p);
        self.entries.get(&key).map(|e| &e.process)
    }

    /// Adds (or replaces) a process known from elsewhere, e.g. an exec event.
    pub fn insert(&mut self, mut p: Process) {
        let key = p.key();
        if let Some(old) = self.entries.remove(&key) {
            self.unlink(key, &old);
        }
        match self.latest.get(&key.pid).copied() {
            // A newer process has this pid: this one has exited (a late word about it).
            Some(newer) if newer > key.start_ticks => p.exited = true,
            Some(older) if older < key.start_ticks => {
                self.mark_exited(ProcKey { pid: key.pid, start_ticks: older });
                self.latest.insert(key.pid, key.start_ticks);
            }
            Some(_) => {}
            None => {
                self.latest.insert(key.pid, key.start_ticks);
            }
        }
        let seq = self.bump();
        if p.exited {
            self.exited.insert(seq, key);
        } else {
            self.live.insert(seq, key);
        }
        self.entries.insert(key, Entry { process: p, seq });
        while self.entries.len() > self.capacity {
            self.evict_one();
        }
    }

    /// The kernel said `pid` exited: its most recent entry is kept, marked exited.
    pub fn exited(&mut self, pid: u32) {
        if let Some(&start) = self.latest.get(&pid) {
            self.mark_exited(ProcKey { pid, start_ticks: start });
        }
    }

    pub fn get(&self, key: ProcKey) -> Option<&Process> {
        self.entries.get(&key).map(|e| &e.process)
    }

    /// The most recent process seen with this pid, running or not.
    pub fn latest(&self, pid: u32) -> Option<&Process> {
        let start = *self.latest.get(&pid)?;
        self.get(ProcKey { pid, start_ticks: start })
    }

    /// Every process with this pid that the cache holds, oldest first.
    pub fn all_with_pid(&self, pid: u32) -> Vec<&Process> {
        let mut v: Vec<&Process> = self.entries.values().map(|e| &e.process).filter(|p| p.pid == pid).collect();
        v.sort_by_key(|p| p.start_ticks);
        v
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Processes dropped to stay within the capacity.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    fn bump(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn touch(&mut self, key: ProcKey) {
        let seq = self.bump();
        if let Some(e) = self.entries.get_mut(&key) {
            if !e.process.exited {
                self.live.remove(&e.seq);
                self.live.insert(seq, key);
                e.seq = seq;
            }
        }
    }

    fn mark_exited(&mut self, key: ProcKey) {
        let seq = self.bump();
        if let Some(e) = self.entries.get_mut(&key) {
            if !e.process.exited {
                self.live.remove(&e.seq);
                e.process.exited = true;
                e.seq = seq;
                self.exited.insert(seq, key);
            }
        }
    }

    fn unlink(&mut self, key: ProcKey, e: &Entry) {
        if e.process.exited {
            self.exited.remove(&e.seq);
        } else {
            self.live.remove(&e.seq);
        }
        if self.latest.get(&key.pid) == Some(&key.start_ticks) {
            // The pid's newest remaining entry, if any, becomes its latest.
            let next = self.entries.keys().filter(|k| k.pid == key.pid).map(|k| k.start_ticks).max();
            match next {
                Some(s) => self.latest.insert(key.pid, s),
                None => self.latest.remove(&key.pid),
            };
        }
    }

    fn evict_one(&mut self) {
        let victim = self.exited.first_key_value().or_else(|| self.live.first_key_value()).map(|(_, k)| *k);
        if let Some(key) = victim {
            if let Some(e) = self.entries.remove(&key) {
                self.unlink(key, &e);
                self.evicted += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (my (odd) prog) S 1 4242 4242 0 -1 4194560 1234 0 0 0 5 3 0 0 20 0 1 0 98765 \
                        12345678 300 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_after_a_command_name_with_parentheses() {
        let s = parse_stat(STAT).unwrap();
        assert_eq!(s.comm, "my (odd) prog");
        assert_eq!(s.ppid, 1);
        assert_eq!(s.start_ticks, 98765);
        assert_eq!(parse_stat("12 (x) S 1"), None);
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat(") 12 (x"), None);
    }

    #[test]
    fn status_uid_is_the_real_one() {
        let status = "Name:\tx\nUmask:\t0022\nState:\tS\nUid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n";
        assert_eq!(parse_status_uid(status), Some(1000));
        assert_eq!(parse_status_uid("Name:\tx\n"), None);
    }

    #[test]
    fn cmdline_nuls_become_spaces() {
        assert_eq!(cmdline_text(b"/usr/bin/sleep\x0030\x00").as_deref(), Some("/usr/bin/sleep 30"));
        assert_eq!(cmdline_text(b"charon --debug\x00").as_deref(), Some("charon --debug"));
        assert_eq!(cmdline_text(b""), None);
        let long = [b'a'; 5000];
        assert_eq!(cmdline_text(&long), Some(format!("{}… (904 more bytes)", "a".repeat(4096))));
        assert_eq!(cmdline_text(b"\x00"), None);
    }

    #[test]
    fn start_ticks_on_the_boot_clock() {
        let c = ProcClock { ticks_per_second: 100 };
        assert_eq!(c.boot_ns(98765), BootNs(987_650_000_000));
        let c = ProcClock { ticks_per_second: 250 };
        assert_eq!(c.boot_ns(1), BootNs(4_000_000));
    }

    fn synthetic(pid: u32, start_ticks: u64, comm: &str) -> Process {
        let clock = ProcClock { ticks_per_second: 100 };
        Process {
            pid,
            ppid: Some(1),
            comm: Some(comm.into()),
            exe: None,
            cmdline: None,
            uid: Some(0),
            start_ticks,
            start: clock.boot_ns(start_ticks),
            exited: false,
        }
    }

    /// Real pid reuse needs a pid space wrapped around, so this is built from synthetic
    /// entries: the same pid at two start times stays two processes.
    #[test]
    fn a_reused_pid_is_a_second_process() {
        let mut c = ProcessCache::with_clock(8, ProcClock { ticks_per_second: 100 });
        c.insert(synthetic(700, 1000, "old"));
        c.insert(synthetic(700, 2000, "new"));
        assert_eq!(c.len(), 2);
        let old = c.get(ProcKey { pid: 700, start_ticks: 1000 }).unwrap();
        assert_eq!((old.comm.as_deref(), old.exited), (Some("old"), true), "a newer owner means the old one exited");
        let new = c.latest(700).unwrap();
        assert_eq!((new.comm.as_deref(), new.exited), (Some("new"), false));
        // A late word about the old one does not make it the pid's latest again, nor alive.
        c.insert(synthetic(700, 1000, "old"));
        assert_eq!(c.latest(700).unwrap().comm.as_deref(), Some("new"));
        assert!(c.get(ProcKey { pid: 700, start_ticks: 1000 }).unwrap().exited);
        assert_eq!(c.all_with_pid(700).len(), 2);
        c.exited(700);
        assert!(c.latest(700).unwrap().exited);
    }

    #[test]
    fn eviction_takes_exited_processes_first_and_counts() {
        let mut c = ProcessCache::with_clock(3, ProcClock { ticks_per_second: 100 });
        c.insert(synthetic(1, 10, "a"));
        c.insert(synthetic(2, 20, "b"));
        c.insert(synthetic(3, 30, "c"));
        c.exited(2);
        c.insert(synthetic(4, 40, "d"));
        assert_eq!(c.len(), 3);
        assert_eq!(c.evicted(), 1);
        assert!(c.latest(2).is_none(), "the exited one goes first");
        assert!(c.latest(1).is_some());
        // None exited: the least recently seen live one goes.
        c.insert(synthetic(5, 50, "e"));
        assert_eq!(c.evicted(), 2);
        assert!(c.latest(1).is_none());
        assert_eq!(c.len(), 3);
        assert_eq!(c.live.len() + c.exited.len(), c.len(), "order indexes match the entries");
    }

    #[test]
    fn observe_reads_ourselves_and_caches() {
        let mut c = ProcessCache::new(16).unwrap();
        let me = std::process::id();
        let p = c.observe(me).unwrap().clone();
        assert_eq!(p.pid, me);
        assert!(!p.exited);
        assert_eq!(p.exe.as_deref(), std::env::current_exe().ok().as_deref().and_then(|e| e.to_str()));
        assert!(p.cmdline.is_some() && p.comm.is_some() && p.uid.is_some() && p.ppid.is_some());
        assert!(p.start > BootNs(0) && p.start <= super::super::clock::boot_now().unwrap());
        assert_eq!(c.observe(me), Some(&p));
        assert_eq!(c.len(), 1);
        assert_eq!(c.observe(u32::MAX - 1), None, "no such process");
    }
}

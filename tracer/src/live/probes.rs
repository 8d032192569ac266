//! Loading, attaching and reading the live tracer (`tuntrace_probes::TRACER_OBJ`).
//!
//! Every attachment is owned by a file descriptor of this process (bpf_link for cgroup and tcx,
//! perf-event links for tracepoints) and nothing is pinned: when the process ends, normally or by
//! SIGKILL, the kernel detaches and frees everything.

use std::collections::{BTreeMap, HashMap as StdHashMap, HashSet, VecDeque};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::Mutex;
use std::time::Duration;

use aya::maps::{Array, HashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::programs::links::CgroupAttachMode;
use aya::programs::tc::{SchedClassifierLinkId, TcAttachOptions};
use aya::programs::{
    CgroupSkb, CgroupSkbAttachType, CgroupSock, CgroupSockAddr, LinkOrder, ProgramError, RawTracePoint,
    SchedClassifier, TcAttachType, TracePoint,
};
use aya::{Ebpf, EbpfLoader};
use tuntrace_probes::layout::{
    self as abi, as_bytes, from_bytes, EspKey, EspVal, FlowKey, FlowSlot, FlowVal, IfaceCfg, OvpnKey, SenderKey,
    SenderVal, SockInfo,
};

use super::records::{BadRecord, Record, RecordRef};
use super::resolve::{KernelView, Resolver};
use super::seed::{self, SeededSocket};
use super::system;
use super::LiveError;

const FLOW_KEY: usize = std::mem::size_of::<FlowKey>();
const FLOW_VAL: usize = std::mem::size_of::<FlowVal>();
const ESP_KEY: usize = std::mem::size_of::<EspKey>();
const ESP_VAL: usize = std::mem::size_of::<EspVal>();
const SOCK_INFO: usize = std::mem::size_of::<SockInfo>();
const IFACE_CFG: usize = std::mem::size_of::<IfaceCfg>();
const SENDER_KEY: usize = std::mem::size_of::<SenderKey>();
const SENDER_VAL: usize = std::mem::size_of::<SenderVal>();
const OVPN_KEY: usize = std::mem::size_of::<OvpnKey>();
const BPF_NOEXIST: u64 = 1;
/// How long a sample whose candidate sender is not confirmed yet is held back: the
/// sock_send_length that confirms it runs microseconds after tc, so one that is still
/// unconfirmed after this was not sent by its candidate.
const HOLD_NS: u64 = 10_000_000;
/// A kernel count entry (flow or ESP SA / tunnel index) idle this long is taken out of its map
/// with its final totals (BPF_MAP_LOOKUP_AND_DELETE_ELEM), so that a session that runs for days
/// does not fill the maps with what ended: the maps hold what is current, userspace what ended
/// (and a flow that comes back starts a new entry, counted from zero). Flows kept in a slot
/// (the first 256 per CPU, see `flows`) stay there.
pub const KERNEL_IDLE_NS: u64 = 120_000_000_000;
const BPF_MAP_LOOKUP_AND_DELETE_ELEM: libc::c_long = 21;
const BPF_F_LOCK: u64 = 4;

#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Bytes of each IKE/SIP packet sent to userspace, from the IP header (at most 1500).
    pub snaplen: u32,
    /// Size of the `events` ring buffer in bytes (a power of two, at least a page).
    pub ring_bytes: u32,
    /// The netns to trace; `None`: the calling thread's.
    pub netns_cookie: Option<u64>,
    /// Kernel count entries idle this long leave their maps ([`KERNEL_IDLE_NS`]).
    pub kernel_idle_ns: u64,
}

impl ProbeConfig {
    /// [`KERNEL_IDLE_NS`], or `TUNTRACE_KERNEL_IDLE_SECS` seconds when that is set to a number
    /// (tests use it to see entries leave without waiting minutes).
    pub fn kernel_idle_from_env() -> u64 {
        std::env::var("TUNTRACE_KERNEL_IDLE_SECS")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map_or(KERNEL_IDLE_NS, |s| s.saturating_mul(1_000_000_000))
    }
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            snaplen: abi::MAX_SNAPLEN,
            ring_bytes: 4 << 20,
            netns_cookie: None,
            kernel_idle_ns: KERNEL_IDLE_NS,
        }
    }
}

/// One flow's exact totals, summed over CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowCount {
    pub key: FlowKey,
    pub packets: u64,
    pub bytes: u64,
    /// First and last packet, boot-time ns at the kernel tick's resolution (a few ms).
    pub first_ns: u64,
    pub last_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EspCount {
    pub key: EspKey,
    pub packets: u64,
    pub bytes: u64,
    pub first_seq: u32,
    pub last_seq: u32,
    pub gaps: u64,
    pub repeats: u64,
    /// Late packets (each takes one number back out of `gaps`).
    pub reordered: u64,
    /// First and last packet, boot-time ns at the kernel tick's resolution (a few ms).
    pub first_ns: u64,
    pub last_ns: u64,
}

/// Loss and health counters of the `stats` map, summed over CPUs. Every `*_full` is something
/// the kernel could not record: a ring-buffer record or sample (`ring_full`) or a map entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub ring_full: u64,
    pub sockets_full: u64,
    pub iface_flows_full: u64,
    pub sock_flows_full: u64,
    pub esp_full: u64,
    /// Confirmations `senders` could not store (their packets go to the socket's owner).
    pub senders_full: u64,
    pub procs_full: u64,
    /// PKT records written.
    pub sampled: u64,
    /// Other records written.
    pub records: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// tcx counts per interface flow (egress keys carry the sending socket's cookie; tgid and
    /// tid 0). Bytes from the link header.
    pub iface_flows: Vec<FlowCount>,
    /// Counts per local socket and attributed process: egress from tcx (packets that carry a
    /// socket), ingress from cgroup_skb (packets delivered to a socket). `tgid` is the process
    /// decided at read time (see `resolve`); `tid` the confirmed sending thread, or 0. Bytes from
    /// the IP header.
    pub sock_flows: Vec<FlowCount>,
    pub esp: Vec<EspCount>,
    pub stats: Stats,
    /// Entries of `iface_flows` taken out of the kernel's map in this read (their counts above
    /// are final: a reader must forget its last totals of them, a flow that comes back starts
    /// from zero), as `iface_flows` keys them.
    pub gone_iface_flows: Vec<FlowKey>,
    /// ESP / tunnel-index entries taken out likewise.
    pub gone_esp: Vec<EspKey>,
}

/// The loaded tracer. Dropping it detaches and unloads everything.
pub struct Probes {
    ebpf: Ebpf,
    events: RingBuf<MapData>,
    netns_cookie: u64,
    warnings: Vec<String>,
    /// Per traced interface: its tcx ingress link (none on a loopback) and egress link.
    tc_links: StdHashMap<u32, (Option<SchedClassifierLinkId>, SchedClassifierLinkId)>,
    /// Link-header bytes per interface ever attached (kept after detach: its counts remain).
    l2_len: StdHashMap<u32, u32>,
    bad_records: u64,
    /// Decoded records not handed out yet: from the first sample whose candidate is not
    /// confirmed yet, in ring order.
    held: VecDeque<Record>,
    resolver: Mutex<Resolver>,
    /// The key each taken flow slot was first read with, per (map, slot, CPU): see `flows`.
    slot_keys: Mutex<StdHashMap<(&'static str, u32, usize), FlowKey>>,
    kernel_idle_ns: u64,
    // Held so the cgroup stays open as long as its links (the links keep it alive anyway).
    _cgroup: File,
}

/// Hooks the tracer cannot work without: fail the session when one does not load or attach.
/// (sock_send_length confirms senders: without it every egress packet would go to its socket's
/// owner, which is not the attribution the session promises.)
const ESSENTIAL: &[&str] = &["sock_create", "cgroup_skb_ingress", "tc_ingress", "tc_egress", "sock_send_length"];

const CGROUP_SOCK: &[&str] = &["sock_create", "sock_release", "post_bind4", "post_bind6"];
const CGROUP_SOCK_ADDR: &[&str] = &["connect4", "connect6"];
/// Raw tracepoints (program and tracepoint share the name): the per-send and per-receive hooks,
/// which get the tracepoint's arguments without a perf event record being built for them.
const RAW_TRACEPOINTS: &[&str] = &["sock_send_length", "sock_recv_length"];
/// (program, tracepoint category, tracepoint name)
const TRACEPOINTS: &[(&str, &str, &str)] = &[
    ("inet_sock_set_state", "sock", "inet_sock_set_state"),
    ("sys_exit_ioctl", "syscalls", "sys_exit_ioctl"),
    ("sched_process_exec", "sched", "sched_process_exec"),
    ("sched_process_exit", "sched", "sched_process_exit"),
];

fn load_failure(program: &str, e: ProgramError) -> LiveError {
    match e {
        ProgramError::LoadError { io_error, verifier_log } => LiveError::ProgramLoad {
            program: program.to_owned(),
            error: io_error.to_string(),
            verifier_log: verifier_log.to_string(),
        },
        other => LiveError::ProgramLoad {
            program: program.to_owned(),
            error: other.to_string(),
            verifier_log: String::new(),
        },
    }
}

fn attach_failure(program: &str, target: &str, e: impl std::fmt::Display) -> LiveError {
    LiveError::Attach { program: program.to_owned(), target: target.to_owned(), error: e.to_string() }
}

impl Probes {
    /// Loads every program, attaches the cgroup programs to the cgroup v2 root and the
    /// tracepoints. Interfaces are traced with [`Probes::attach_iface`]. Optional hooks that fail
    /// leave a warning ([`Probes::warnings`]); essential ones fail the load.
    pub fn load(cfg: &ProbeConfig) -> Result<Probes, LiveError> {
        system::check_privileges()?;
        system::check_btf()?;
        // What the loader mounts for itself (tracefs, cgroup2 under `ip netns exec`) stays its own.
        let _ = system::private_mounts();
        let cgroup_root = system::cgroup2_root()?;
        let cgroup = File::open(&cgroup_root).map_err(|e| LiveError::io(cgroup_root.display().to_string(), e))?;
        let netns_cookie = match cfg.netns_cookie {
            Some(c) => c,
            None => system::current_netns_cookie()?,
        };
        let snaplen = cfg.snaplen.clamp(1, abi::MAX_SNAPLEN);
        let ring = cfg.ring_bytes.max(4096).next_power_of_two();

        let mut ebpf = EbpfLoader::new()
            .override_global(abi::GLOBAL_NETNS_COOKIE, &netns_cookie, true)
            .override_global(abi::GLOBAL_SNAPLEN, &snaplen, true)
            .map_max_entries(abi::MAP_EVENTS, ring)
            .load(tuntrace_probes::TRACER_OBJ)
            .map_err(|source| LiveError::Object { source })?;
        let events = RingBuf::try_from(
            ebpf.take_map(abi::MAP_EVENTS).ok_or_else(|| LiveError::map(abi::MAP_EVENTS, "missing from the object"))?,
        )
        .map_err(|e| LiveError::map(abi::MAP_EVENTS, e))?;

        let mut warnings = Vec::new();
        let soft = |program: &str, e: LiveError, warnings: &mut Vec<String>| -> Result<(), LiveError> {
            if ESSENTIAL.contains(&program) {
                Err(e)
            } else {
                warnings.push(e.to_string());
                Ok(())
            }
        };
        let target = cgroup_root.display().to_string();

        for &name in CGROUP_SOCK {
            let r = (|| {
                let p: &mut CgroupSock = program(&mut ebpf, name)?;
                p.load().map_err(|e| load_failure(name, e))?;
                p.attach(&cgroup, CgroupAttachMode::Single).map_err(|e| attach_failure(name, &target, e))?;
                Ok(())
            })();
            if let Err(e) = r {
                soft(name, e, &mut warnings)?;
            }
        }
        for &name in CGROUP_SOCK_ADDR {
            let r = (|| {
                let p: &mut CgroupSockAddr = program(&mut ebpf, name)?;
                p.load().map_err(|e| load_failure(name, e))?;
                p.attach(&cgroup, CgroupAttachMode::Single).map_err(|e| attach_failure(name, &target, e))?;
                Ok(())
            })();
            if let Err(e) = r {
                soft(name, e, &mut warnings)?;
            }
        }
        {
            // Ingress only: egress packets are counted (with their socket) by tc.
            let name = "cgroup_skb_ingress";
            let p: &mut CgroupSkb = program(&mut ebpf, name)?;
            p.load().map_err(|e| load_failure(name, e))?;
            p.attach(&cgroup, CgroupSkbAttachType::Ingress, CgroupAttachMode::Single)
                .map_err(|e| attach_failure(name, &target, e))?;
        }
        for &name in RAW_TRACEPOINTS {
            let r = (|| {
                let p: &mut RawTracePoint = program(&mut ebpf, name)?;
                p.load().map_err(|e| load_failure(name, e))?;
                p.attach(name).map_err(|e| attach_failure(name, &format!("raw tracepoint {name}"), e))?;
                Ok(())
            })();
            if let Err(e) = r {
                soft(name, e, &mut warnings)?;
            }
        }
        let tracefs = system::ensure_tracefs();
        for &(name, category, event) in TRACEPOINTS {
            let r = (|| {
                let p: &mut TracePoint = program(&mut ebpf, name)?;
                p.load().map_err(|e| load_failure(name, e))?;
                if let Err(e) = &tracefs {
                    return Err(attach_failure(name, &format!("tracepoint {category}:{event}"), e));
                }
                p.attach(category, event)
                    .map_err(|e| attach_failure(name, &format!("tracepoint {category}:{event}"), e))?;
                Ok(())
            })();
            if let Err(e) = r {
                soft(name, e, &mut warnings)?;
            }
        }
        for name in ["tc_ingress", "tc_egress"] {
            let p: &mut SchedClassifier = program(&mut ebpf, name)?;
            p.load().map_err(|e| load_failure(name, e))?;
        }
        Ok(Probes {
            ebpf,
            events,
            netns_cookie,
            warnings,
            tc_links: StdHashMap::new(),
            l2_len: StdHashMap::new(),
            bad_records: 0,
            held: VecDeque::new(),
            resolver: Mutex::new(Resolver::default()),
            slot_keys: Mutex::new(StdHashMap::new()),
            kernel_idle_ns: cfg.kernel_idle_ns,
            _cgroup: cgroup,
        })
    }

    /// Optional hooks that could not be loaded or attached, one line each (what the session
    /// misses, and why).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Kernel ids of the loaded programs (`bpftool prog show id N`), for diagnostics.
    pub fn program_ids(&self) -> Vec<u32> {
        let mut ids: Vec<u32> = self.ebpf.programs().filter_map(|(_, p)| p.info().ok()).map(|i| i.id()).collect();
        ids.sort_unstable();
        ids
    }

    /// Per program: (name, runs, total run time). The kernel counts only while
    /// /proc/sys/kernel/bpf_stats_enabled is 1; for measuring what each hook costs.
    pub fn program_stats(&self) -> Vec<(String, u64, Duration)> {
        let mut v: Vec<(String, u64, Duration)> = self
            .ebpf
            .programs()
            .filter_map(|(name, p)| p.info().ok().map(|i| (name.to_owned(), i.run_count(), i.run_time())))
            .collect();
        v.sort();
        v
    }

    /// The netns traced.
    pub fn netns_cookie(&self) -> u64 {
        self.netns_cookie
    }

    /// Starts counting and sampling the packets of an interface of the traced netns (tcx ingress
    /// and egress, no qdisc). `l2_len`: bytes before the IP header, 0 for TUN (ARPHRD_NONE), 14
    /// for Ethernet and loopback. Attaching an interface already traced only updates `l2_len`.
    /// `loopback`: every packet of a loopback leaves and comes back through the same device,
    /// so only its egress is hooked (each packet once, as tcpdump shows it there).
    pub fn attach_iface(&mut self, ifindex: u32, l2_len: u32, loopback: bool) -> Result<(), LiveError> {
        let name = system::ifname(ifindex).ok_or(LiveError::InterfaceGone { ifindex })?;
        {
            let mut traced: HashMap<_, u32, [u8; IFACE_CFG]> = self.map_mut(abi::MAP_TRACED)?;
            let cfg = IfaceCfg { l2_len, _pad0: 0 };
            let mut v = [0u8; IFACE_CFG];
            v.copy_from_slice(abi::as_bytes(&cfg));
            traced.insert(ifindex, v, 0).map_err(|e| LiveError::map(abi::MAP_TRACED, e))?;
        }
        self.set_fast(ifindex, l2_len + 1)?;
        self.l2_len.insert(ifindex, l2_len);
        if self.tc_links.contains_key(&ifindex) {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(2);
        let hooks: &[(&str, TcAttachType)] = if loopback {
            &[("tc_egress", TcAttachType::Egress)]
        } else {
            &[("tc_ingress", TcAttachType::Ingress), ("tc_egress", TcAttachType::Egress)]
        };
        for &(prog, kind) in hooks {
            let p: &mut SchedClassifier = program(&mut self.ebpf, prog)?;
            match p.attach_with_options(&name, kind, TcAttachOptions::TcxOrder(LinkOrder::default())) {
                Ok(id) => ids.push(id),
                Err(e) => {
                    // Undo the half-done attach, then say whether the interface vanished meanwhile.
                    for id in ids {
                        let _ = program::<SchedClassifier>(&mut self.ebpf, "tc_ingress").map(|p| p.detach(id));
                    }
                    let _ = self.untrace(ifindex);
                    if system::ifname(ifindex).is_none() {
                        return Err(LiveError::InterfaceGone { ifindex });
                    }
                    return Err(attach_failure(prog, &format!("tcx {kind:?} of {name}"), e));
                }
            }
        }
        let egress = ids.pop().expect("an egress link");
        let ingress = ids.pop();
        self.tc_links.insert(ifindex, (ingress, egress));
        Ok(())
    }

    /// Stops tracing an interface. Its links are closed; an interface that vanished has already
    /// lost them, which is not an error.
    pub fn detach_iface(&mut self, ifindex: u32) -> Result<(), LiveError> {
        if let Some((ingress, egress)) = self.tc_links.remove(&ifindex) {
            if let Some(ingress) = ingress {
                let _ = program::<SchedClassifier>(&mut self.ebpf, "tc_ingress")?.detach(ingress);
            }
            let _ = program::<SchedClassifier>(&mut self.ebpf, "tc_egress")?.detach(egress);
        }
        self.untrace(ifindex)
    }

    /// `traced_fast[ifindex]` = l2_len + 1, or 0 to stop; nothing for large ifindexes (the
    /// programs ask `traced` for those).
    fn set_fast(&mut self, ifindex: u32, value: u32) -> Result<(), LiveError> {
        if ifindex >= abi::FAST_IFINDEX {
            return Ok(());
        }
        let mut fast: Array<_, u32> = self.map_mut(abi::MAP_TRACED_FAST)?;
        fast.set(ifindex, value, 0).map_err(|e| LiveError::map(abi::MAP_TRACED_FAST, e))
    }

    fn untrace(&mut self, ifindex: u32) -> Result<(), LiveError> {
        self.set_fast(ifindex, 0)?;
        let mut traced: HashMap<_, u32, [u8; IFACE_CFG]> = self.map_mut(abi::MAP_TRACED)?;
        match traced.remove(&ifindex) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(LiveError::map(abi::MAP_TRACED, e)),
        }
    }

    /// A UDP flow the kernel took for OpenVPN on the strength of its first datagram turned out
    /// not to be (userspace read that datagram): both directions are marked so, and the kernel
    /// stops counting it as OpenVPN.
    pub fn not_openvpn(&mut self, key: &OvpnKey) -> Result<(), LiveError> {
        let mut flows: HashMap<_, [u8; OVPN_KEY], u32> = self.map_mut(abi::MAP_OVPN_FLOWS)?;
        for k in [*key, key.reversed()] {
            let mut b = [0u8; OVPN_KEY];
            b.copy_from_slice(as_bytes(&k));
            flows.insert(b, abi::OVPN_NOT, 0).map_err(|e| LiveError::map(abi::MAP_OVPN_FLOWS, e))?;
        }
        Ok(())
    }

    /// Appends the records waiting in the ring buffer to `out`, in ring order; returns how many.
    /// Items that do not decode (never expected) are counted in [`Probes::bad_records`].
    ///
    /// PKT records carry the attributed process (`tgid`, and `tid` when the sending thread is
    /// confirmed), decided here as for the counters. An egress sample whose candidate sender
    /// is not confirmed yet (its sock_send_length runs microseconds after tc) is held back, with
    /// everything read after it, for at most 10 ms; [`Probes::wait_readable`] wakes up for it and
    /// the next call hands it out.
    pub fn read_records(&mut self, out: &mut Vec<Record>) -> usize {
        self.drain(|r| out.push(r.into()))
    }

    /// Hands every record waiting in the ring buffer to `f`, in ring order, packet bytes
    /// borrowed from the ring (copy them once, e.g. into an event batch); returns how many.
    /// Packets are attributed and held back as by [`Probes::read_records`]: a held record is
    /// copied once and handed out by a later call.
    pub fn drain(&mut self, f: impl FnMut(RecordRef<'_>)) -> usize {
        self.drain_inner(false, f)
    }

    /// As [`Probes::drain`], and then every held-back record too, its unconfirmed candidate
    /// given way to the socket's owner: for the end of a session.
    pub fn drain_all(&mut self, f: impl FnMut(RecordRef<'_>)) -> usize {
        self.drain_inner(true, f)
    }

    fn drain_inner(&mut self, force: bool, mut f: impl FnMut(RecordRef<'_>)) -> usize {
        let Ok(view) = MapView::new(&self.ebpf) else {
            // Never expected (the maps are part of the object): hand out what we have as is.
            let mut n = 0;
            for r in self.held.drain(..) {
                f(r.as_ref());
                n += 1;
            }
            while let Some(item) = self.events.next() {
                match RecordRef::decode(&item) {
                    Ok(r) => {
                        f(r);
                        n += 1;
                    }
                    Err(BadRecord { .. }) => self.bad_records += 1,
                }
            }
            return n;
        };
        let now = boottime_ns();
        let mut res = self.resolver.lock().unwrap_or_else(|e| e.into_inner());
        res.begin_round();
        let mut n = 0;
        // What was held back goes first, in order, as far as it can.
        while let Some(front) = self.held.front_mut() {
            let mut r = front.as_ref();
            if !attribute(&mut r, &mut res, &view, now, force) {
                break;
            }
            f(r);
            n += 1;
            self.held.pop_front();
        }
        while let Some(item) = self.events.next() {
            match RecordRef::decode(&item) {
                Ok(mut r) => {
                    if self.held.is_empty() && attribute(&mut r, &mut res, &view, now, force) {
                        f(r);
                        n += 1;
                    } else {
                        self.held.push_back(r.into());
                    }
                }
                Err(BadRecord { .. }) => self.bad_records += 1,
            }
        }
        n
    }

    /// Records the ring buffer had no room for, per CPU (the `stats` map's ring-full counter).
    pub fn ring_full_per_cpu(&self) -> Result<Vec<u64>, LiveError> {
        let map: PerCpuArray<_, u64> = self.map(abi::MAP_STATS)?;
        let v = map.get(&abi::STAT_RING_FULL, 0).map_err(|e| LiveError::map(abi::MAP_STATS, e))?;
        Ok(v.iter().copied().collect())
    }

    /// Records read off the ring but held back by [`Probes::drain`] (an unconfirmed sample and
    /// what followed it).
    pub fn held_records(&self) -> usize {
        self.held.len()
    }

    /// Ring items that did not decode as a record of this ABI.
    pub fn bad_records(&self) -> u64 {
        self.bad_records
    }

    /// The ring buffer's descriptor: readable when records wait (for poll or tokio's AsyncFd).
    pub fn ring_fd(&self) -> BorrowedFd<'_> {
        self.events.as_fd()
    }

    /// Blocks until records wait or `timeout` passes; true if records wait. Held-back records
    /// count as waiting once their hold may be over (a few milliseconds).
    pub fn wait_readable(&self, timeout: Duration) -> std::io::Result<bool> {
        let mut pfd = libc::pollfd { fd: self.events.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let hold = Duration::from_nanos(HOLD_NS / 4);
        let held = !self.held.is_empty();
        let timeout = if held { timeout.min(hold) } else { timeout };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(rc > 0 || held)
    }

    /// The kernel's exact counters now, summed over CPUs, with each socket's packets attributed
    /// (see [`Counters::sock_flows`]). Reading does not reset them. Per-socket totals are
    /// attributed read by read: what a count grew by since the previous read goes to whom it
    /// resolves to now, so totals only grow and sum to the kernel's even when a socket changes
    /// hands. Packets of a thread whose first packets on a socket were counted in the last 10 ms
    /// and that is not confirmed yet (its sock_send_length runs microseconds after tc) wait for
    /// the next read; the interface totals include them at once.
    pub fn read_counters(&self) -> Result<Counters, LiveError> {
        // The kernel stamps flows with the coarse monotonic clock (a tick behind at most).
        let now_mono = clock_ns(libc::CLOCK_MONOTONIC);
        let cutoff = now_mono.saturating_sub(self.kernel_idle_ns);
        let (mut tc, tc_slotted) = self.flows(abi::MAP_IFACE_FLOWS, abi::MAP_IFACE_SLOTS)?;
        let (mut cg, cg_slotted) = self.flows(abi::MAP_SOCK_FLOWS, abi::MAP_SOCK_SLOTS)?;
        let mut gone = Vec::new();
        self.evict_flows(abi::MAP_IFACE_FLOWS, &mut tc, &tc_slotted, cutoff, true, &mut gone)?;
        let mut gone_iface_flows: Vec<FlowKey> = gone.iter().map(|k| FlowKey { tgid: 0, tid: 0, ..*k }).collect();
        gone_iface_flows.sort();
        gone_iface_flows.dedup();
        self.evict_flows(abi::MAP_SOCK_FLOWS, &mut cg, &cg_slotted, cutoff, false, &mut gone)?;
        let view = MapView::new(&self.ebpf)?;
        let mut res = self.resolver.lock().unwrap_or_else(|e| e.into_inner());
        res.begin_round();
        let to_boot = mono_to_boot_ns();
        let mut iface: BTreeMap<FlowKey, FlowCount> = BTreeMap::new();
        let mut referenced = HashSet::new();
        for f in &tc {
            merge(&mut iface, FlowKey { tgid: 0, tid: 0, ..f.key }, f, 0);
        }
        for (f, from_tc) in tc.iter().map(|f| (f, true)).chain(cg.iter().map(|f| (f, false))) {
            let k = &f.key;
            if k.cookie == 0 {
                continue;
            }
            referenced.insert(k.cookie);
            let out = k.direction == abi::DIR_OUT;
            let confirmed = out && res.is_confirmed(&view, SenderKey { cookie: k.cookie, tgid: k.tgid, tid: k.tid });
            if out && !confirmed && k.tgid != 0 && now_mono.saturating_sub(f.first_ns) < HOLD_NS {
                continue;
            }
            let (tgid, tid) = res.resolve(&view, k.cookie, k.tgid, k.tid, k.direction);
            let l2 = if from_tc { u64::from(self.l2_len.get(&k.ifindex).copied().unwrap_or(0)) } else { 0 };
            res.add_count(f, tgid, tid, l2);
        }
        let sock: Vec<FlowCount> = res.totals().copied().collect();
        // An entry taken out of its map starts from zero if its flow comes back.
        res.forget(&gone);
        res.prune(&referenced);
        let boot = |mut c: FlowCount| {
            c.first_ns += to_boot;
            c.last_ns += to_boot;
            c
        };
        let mut esp = self.esp()?;
        let gone_esp = self.evict_esp(&mut esp, cutoff)?;
        let evicted = gone.len() + gone_esp.len();
        if evicted > 0 {
            tracing::debug!(
                "{evicted} kernel count entries idle for {} s taken out of their maps",
                self.kernel_idle_ns / 1_000_000_000
            );
        }
        for e in &mut esp {
            e.first_ns += to_boot;
            e.last_ns += to_boot;
        }
        Ok(Counters {
            iface_flows: iface.into_values().map(boot).collect(),
            sock_flows: sock.into_iter().map(boot).collect(),
            esp,
            stats: self.stats()?,
            gone_iface_flows,
            gone_esp,
        })
    }

    /// A flow map as the kernel keys it, its slots (`slots`, see tuntrace.h) included, summed
    /// over CPUs.
    /// Also the keys that have a slot.
    fn flows(&self, name: &'static str, slots: &'static str) -> Result<(Vec<FlowCount>, HashSet<FlowKey>), LiveError> {
        let mut out = self.flow_hash(name)?;
        let mut at: StdHashMap<FlowKey, usize> = out.iter().enumerate().map(|(i, c)| (c.key, i)).collect();
        let mut slotted = HashSet::new();
        for (key, v) in self.flow_slots(slots)? {
            slotted.insert(key);
            let i = *at.entry(key).or_insert_with(|| {
                out.push(FlowCount { key, packets: 0, bytes: 0, first_ns: u64::MAX, last_ns: 0 });
                out.len() - 1
            });
            let c = &mut out[i];
            c.packets += v.packets;
            c.bytes += v.bytes;
            c.first_ns = c.first_ns.min(v.first_ns);
            c.last_ns = c.last_ns.max(v.last_ns);
        }
        Ok((out, slotted))
    }

    /// Takes the entries of flow hash map `name` that were idle since `cutoff` (monotonic ns)
    /// out of the map, each with its final totals written into `counts` (what came since the
    /// read included), and adds their keys to `gone`. With `by_flow`, the entries of one flow
    /// that differ only by their sender candidate (tgid, tid) go together or not at all: their
    /// sum is the flow's interface total, which must never go down.
    fn evict_flows(
        &self,
        name: &'static str,
        counts: &mut [FlowCount],
        slotted: &HashSet<FlowKey>,
        cutoff: u64,
        by_flow: bool,
        gone: &mut Vec<FlowKey>,
    ) -> Result<(), LiveError> {
        let group = |k: &FlowKey| if by_flow { FlowKey { tgid: 0, tid: 0, ..*k } } else { *k };
        let idle = |c: &FlowCount| c.last_ns < cutoff && !slotted.contains(&c.key);
        if !counts.iter().any(idle) {
            return Ok(());
        }
        let busy: HashSet<FlowKey> = counts.iter().filter(|c| !idle(c)).map(|c| group(&c.key)).collect();
        let fd = self.hash_fd(name)?;
        let stride = FLOW_VAL.next_multiple_of(8);
        let mut buf = vec![0u8; stride * possible_cpus()?];
        for c in counts.iter_mut().filter(|c| idle(c) && !busy.contains(&group(&c.key))) {
            if !lookup_and_delete(fd, as_bytes(&c.key), &mut buf, 0).map_err(|e| LiveError::map(name, e))? {
                continue;
            }
            let mut t = FlowCount { key: c.key, packets: 0, bytes: 0, first_ns: u64::MAX, last_ns: 0 };
            for v in buf.chunks_exact(stride).filter_map(from_bytes::<FlowVal>).filter(|v| v.packets > 0) {
                t.packets += v.packets;
                t.bytes += v.bytes;
                t.first_ns = t.first_ns.min(v.first_ns);
                t.last_ns = t.last_ns.max(v.last_ns);
            }
            // Never less than what was read (a value copied while a CPU wrote it).
            if t.packets >= c.packets {
                *c = t;
            }
            gone.push(c.key);
        }
        Ok(())
    }

    /// The ESP / tunnel-index entries idle since `cutoff`, taken out as [`Probes::evict_flows`]
    /// does (under the entry's spin lock).
    fn evict_esp(&self, counts: &mut [EspCount], cutoff: u64) -> Result<Vec<EspKey>, LiveError> {
        let name = abi::MAP_ESP_SAS;
        let mut gone = Vec::new();
        if !counts.iter().any(|c| c.last_ns < cutoff) {
            return Ok(gone);
        }
        let fd = self.hash_fd(name)?;
        let mut buf = vec![0u8; ESP_VAL];
        for c in counts.iter_mut().filter(|c| c.last_ns < cutoff) {
            if !lookup_and_delete(fd, as_bytes(&c.key), &mut buf, BPF_F_LOCK).map_err(|e| LiveError::map(name, e))? {
                continue;
            }
            let v: EspVal = from_bytes(&buf).expect("buffer of the value's size");
            if v.packets >= c.packets {
                (c.packets, c.bytes, c.first_seq, c.last_seq) = (v.packets, v.bytes, v.first_seq, v.last_seq);
                (c.gaps, c.repeats, c.reordered) = (v.gaps, v.repeats, v.reordered);
                (c.first_ns, c.last_ns) = (v.first_ns, v.last_ns);
            }
            gone.push(c.key);
        }
        Ok(gone)
    }

    /// The descriptor of hash map `name` (per-CPU or not).
    fn hash_fd(&self, name: &'static str) -> Result<BorrowedFd<'_>, LiveError> {
        match self.ebpf.map(name) {
            Some(aya::maps::Map::HashMap(d) | aya::maps::Map::PerCpuHashMap(d)) => Ok(d.fd().as_fd()),
            Some(_) => Err(LiveError::map(name, "not a hash map")),
            None => Err(LiveError::map(name, "missing from the object")),
        }
    }

    /// The taken slots of a slot map, one per (slot, CPU). A slot's key is written once, before
    /// its first count, and never again; copying a value is not atomic against the CPU that
    /// writes it, so a slot seen taken for the first time is read once more, and counted from
    /// the read on which its key came out the same twice (a torn copy of a key being written
    /// only delays it by one read; totals only grow).
    fn flow_slots(&self, name: &'static str) -> Result<Vec<(FlowKey, FlowVal)>, LiveError> {
        const SLOT: usize = std::mem::size_of::<FlowSlot>();
        let map: PerCpuArray<_, [u8; SLOT]> = self.map(name)?;
        let mut known = self.slot_keys.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for idx in 0..abi::FLOW_SLOTS {
            let per_cpu = map.get(&idx, 0).map_err(|e| LiveError::map(name, e))?;
            let mut again = None;
            for (cpu, v) in per_cpu.iter().enumerate() {
                let slot: FlowSlot = from_bytes(v).expect("value size checked by the map");
                if slot.val.packets == 0 {
                    continue;
                }
                match known.get(&(name, idx, cpu)) {
                    Some(k) if *k == slot.key => {}
                    Some(_) => continue,
                    None => {
                        if again.is_none() {
                            again = Some(map.get(&idx, 0).map_err(|e| LiveError::map(name, e))?);
                        }
                        let reread = again.as_ref().and_then(|a| a.get(cpu)).and_then(|b| from_bytes::<FlowSlot>(b));
                        if reread.map(|r| r.key) != Some(slot.key) {
                            continue;
                        }
                        known.insert((name, idx, cpu), slot.key);
                    }
                }
                out.push((slot.key, slot.val));
            }
        }
        Ok(out)
    }

    /// A flow hash map as the kernel keys it, summed over CPUs.
    fn flow_hash(&self, name: &'static str) -> Result<Vec<FlowCount>, LiveError> {
        let map: PerCpuHashMap<_, [u8; FLOW_KEY], [u8; FLOW_VAL]> = self.map(name)?;
        let mut out = Vec::new();
        for entry in map.iter() {
            let (k, per_cpu) = entry.map_err(|e| LiveError::map(name, e))?;
            let key: FlowKey = from_bytes(&k).expect("key size checked by the map");
            let mut c = FlowCount { key, packets: 0, bytes: 0, first_ns: u64::MAX, last_ns: 0 };
            for v in per_cpu.iter() {
                let v: FlowVal = from_bytes(v).expect("value size checked by the map");
                if v.packets == 0 {
                    continue;
                }
                c.packets += v.packets;
                c.bytes += v.bytes;
                c.first_ns = c.first_ns.min(v.first_ns);
                c.last_ns = c.last_ns.max(v.last_ns);
            }
            if c.packets > 0 {
                out.push(c);
            }
        }
        Ok(out)
    }

    fn esp(&self) -> Result<Vec<EspCount>, LiveError> {
        let map: HashMap<_, [u8; ESP_KEY], [u8; ESP_VAL]> = self.map(abi::MAP_ESP_SAS)?;
        let mut out = Vec::new();
        for entry in map.iter() {
            let (k, v) = entry.map_err(|e| LiveError::map(abi::MAP_ESP_SAS, e))?;
            let key: EspKey = from_bytes(&k).expect("key size checked by the map");
            let v: EspVal = from_bytes(&v).expect("value size checked by the map");
            out.push(EspCount {
                key,
                packets: v.packets,
                bytes: v.bytes,
                first_seq: v.first_seq,
                last_seq: v.last_seq,
                gaps: v.gaps,
                repeats: v.repeats,
                reordered: v.reordered,
                first_ns: v.first_ns,
                last_ns: v.last_ns,
            });
        }
        // In order of first packet (to the kernel clock's tick), as a capture shows them.
        out.sort_by_key(|c| (c.first_ns, c.key));
        Ok(out)
    }

    fn stats(&self) -> Result<Stats, LiveError> {
        let map: PerCpuArray<_, u64> = self.map(abi::MAP_STATS)?;
        let get = |i: u32| -> Result<u64, LiveError> {
            Ok(map.get(&i, 0).map_err(|e| LiveError::map(abi::MAP_STATS, e))?.iter().sum())
        };
        Ok(Stats {
            ring_full: get(abi::STAT_RING_FULL)?,
            sockets_full: get(abi::STAT_SOCKETS_FULL)?,
            iface_flows_full: get(abi::STAT_IFACE_FLOWS_FULL)?,
            sock_flows_full: get(abi::STAT_SOCK_FLOWS_FULL)?,
            esp_full: get(abi::STAT_ESP_FULL)?,
            senders_full: get(abi::STAT_SENDERS_FULL)?,
            procs_full: get(abi::STAT_PROCS_FULL)?,
            sampled: get(abi::STAT_SAMPLED)?,
            records: get(abi::STAT_RECORDS)?,
        })
    }

    /// Seeds the sockets of the traced netns that existed before the tracer (sock_diag joined
    /// with /proc) into the kernel's socket table, so their packets are attributed, and returns
    /// them for userspace to announce. Call it after [`Probes::load`], from the traced netns:
    /// sockets created meanwhile are already known and are left as the kernel recorded them.
    pub fn seed_sockets(&mut self) -> Result<Vec<SeededSocket>, LiveError> {
        let sockets = seed::snapshot()?;
        let netns_cookie = self.netns_cookie;
        let mut table: HashMap<_, u64, [u8; SOCK_INFO]> = self.map_mut(abi::MAP_SOCKETS)?;
        for s in &sockets {
            if s.cookie == 0 {
                continue;
            }
            let info = SockInfo {
                netns_cookie,
                creator_start_ns: s.start_ns,
                creator_tgid: s.pids.first().copied().unwrap_or(0),
                family: s.family,
                sock_type: if s.protocol == libc::IPPROTO_TCP as u8 {
                    libc::SOCK_STREAM as u8
                } else {
                    libc::SOCK_DGRAM as u8
                },
                protocol: s.protocol,
                ..SockInfo::default()
            };
            let mut v = [0u8; SOCK_INFO];
            v.copy_from_slice(abi::as_bytes(&info));
            match table.insert(s.cookie, v, BPF_NOEXIST) {
                Ok(()) => {}
                // Known already: created (or learned) after the tracer started.
                Err(aya::maps::MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::EEXIST) => {}
                Err(e) => return Err(LiveError::map(abi::MAP_SOCKETS, e)),
            }
        }
        Ok(sockets)
    }

    fn map<'a, T: TryFrom<&'a aya::maps::Map>>(&'a self, name: &'static str) -> Result<T, LiveError>
    where
        T::Error: std::fmt::Display,
    {
        let m = self.ebpf.map(name).ok_or_else(|| LiveError::map(name, "missing from the object"))?;
        T::try_from(m).map_err(|e| LiveError::map(name, e))
    }

    fn map_mut<'a, T: TryFrom<&'a mut aya::maps::Map>>(&'a mut self, name: &'static str) -> Result<T, LiveError>
    where
        T::Error: std::fmt::Display,
    {
        let m = self.ebpf.map_mut(name).ok_or_else(|| LiveError::map(name, "missing from the object"))?;
        T::try_from(m).map_err(|e| LiveError::map(name, e))
    }
}

/// Learns from a record and attributes a packet record in place: its candidate if `senders`
/// confirmed it, else the socket's owner. False (leave it untouched, hold it back) for an egress
/// sample whose candidate is not confirmed yet and may still be, unless `force`.
fn attribute(r: &mut RecordRef<'_>, res: &mut Resolver, view: &MapView<'_>, now: u64, force: bool) -> bool {
    match r {
        RecordRef::Sock(s) => res.note_record(s),
        RecordRef::Packet { rec, .. } => {
            let key = SenderKey { cookie: rec.cookie, tgid: rec.tgid, tid: rec.tid };
            let out = rec.direction == abi::DIR_OUT;
            let (tgid, tid) = if out && res.is_confirmed(view, key) {
                (rec.tgid, rec.tid)
            } else if out && !force && rec.tgid != 0 && rec.cookie != 0 && now.saturating_sub(rec.hdr.ts) < HOLD_NS {
                return false;
            } else {
                (res.owner(view, rec.cookie, rec.direction), 0)
            };
            rec.tgid = tgid;
            rec.tid = tid;
        }
        _ => {}
    }
    true
}

/// Adds `f` under `key`, its bytes less `l2` per packet (link headers, for per-socket counts).
fn merge(into: &mut BTreeMap<FlowKey, FlowCount>, key: FlowKey, f: &FlowCount, l2: u64) {
    let bytes = f.bytes.saturating_sub(l2 * f.packets);
    let c = into.entry(key).or_insert(FlowCount { key, packets: 0, bytes: 0, first_ns: u64::MAX, last_ns: 0 });
    c.packets += f.packets;
    c.bytes += bytes;
    c.first_ns = c.first_ns.min(f.first_ns);
    c.last_ns = c.last_ns.max(f.last_ns);
}

/// BPF_MAP_LOOKUP_AND_DELETE_ELEM (Linux 5.14 for hash maps): the entry's value (a per-CPU map's
/// for every possible CPU, each rounded up to 8 bytes) copied into `value` and the entry deleted
/// in one step, so nothing counted between a read and a delete is lost. `false`: no such entry.
fn lookup_and_delete(fd: BorrowedFd<'_>, key: &[u8], value: &mut [u8], flags: u64) -> std::io::Result<bool> {
    /// The part of `union bpf_attr` the map element commands read.
    #[repr(C)]
    struct ElemAttr {
        map_fd: u32,
        _pad: u32,
        key: u64,
        value: u64,
        flags: u64,
    }
    let attr = ElemAttr {
        map_fd: fd.as_raw_fd() as u32,
        _pad: 0,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        flags,
    };
    // SAFETY: `attr` names a key and a value buffer of the map's sizes (the caller's), valid for
    // the call; the kernel reads `size_of::<ElemAttr>()` bytes of it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_LOOKUP_AND_DELETE_ELEM,
            &attr as *const ElemAttr,
            std::mem::size_of::<ElemAttr>(),
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOENT) {
        Ok(false)
    } else {
        Err(e)
    }
}

/// The number of possible CPUs: how many values a per-CPU map returns.
fn possible_cpus() -> Result<usize, LiveError> {
    aya::util::nr_cpus().map_err(|(what, e)| LiveError::io(what.to_string(), e))
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// CLOCK_BOOTTIME in ns: the clock of the records' `ts` (bpf_ktime_get_boot_ns).
fn boottime_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}

/// What to add to a CLOCK_MONOTONIC time (the counters' coarse clock) to get boot time: the
/// time spent suspended, which only changes across a suspend.
fn mono_to_boot_ns() -> u64 {
    let boot = clock_ns(libc::CLOCK_BOOTTIME);
    let mono = clock_ns(libc::CLOCK_MONOTONIC);
    boot.saturating_sub(mono)
}

/// The kernel maps the resolver asks, one lookup per question.
struct MapView<'a> {
    senders: HashMap<&'a MapData, [u8; SENDER_KEY], [u8; SENDER_VAL]>,
    sockets: HashMap<&'a MapData, u64, [u8; SOCK_INFO]>,
}

impl<'a> MapView<'a> {
    fn new(ebpf: &'a Ebpf) -> Result<MapView<'a>, LiveError> {
        let get = |name: &'static str| ebpf.map(name).ok_or_else(|| LiveError::map(name, "missing from the object"));
        Ok(MapView {
            senders: HashMap::try_from(get(abi::MAP_SENDERS)?).map_err(|e| LiveError::map(abi::MAP_SENDERS, e))?,
            sockets: HashMap::try_from(get(abi::MAP_SOCKETS)?).map_err(|e| LiveError::map(abi::MAP_SOCKETS, e))?,
        })
    }
}

impl KernelView for MapView<'_> {
    fn confirmed(&self, key: &SenderKey) -> bool {
        let mut k = [0u8; SENDER_KEY];
        k.copy_from_slice(abi::as_bytes(key));
        self.senders.get(&k, 0).is_ok()
    }

    fn socket(&self, cookie: u64) -> Option<SockInfo> {
        self.sockets.get(&cookie, 0).ok().and_then(|v| from_bytes(&v))
    }
}

fn program<'a, T>(ebpf: &'a mut Ebpf, name: &str) -> Result<&'a mut T, LiveError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = ProgramError>,
{
    let p = ebpf.program_mut(name).ok_or_else(|| LiveError::ProgramLoad {
        program: name.to_owned(),
        error: "not in the embedded object (tuntrace-probes out of date?)".to_owned(),
        verifier_log: String::new(),
    })?;
    p.try_into().map_err(|e| load_failure(name, e))
}

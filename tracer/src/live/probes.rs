//! Loading, attaching and reading the live tracer (`tuntrace_probes::TRACER_OBJ`).
//!
//! Every attachment is owned by a file descriptor of this process (bpf_link for cgroup and tcx,
//! perf-event links for tracepoints) and nothing is pinned: when the process ends, normally or by
//! SIGKILL, the kernel detaches and frees everything.

use std::collections::HashMap as StdHashMap;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Duration;

use aya::maps::{HashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf};
use aya::programs::links::CgroupAttachMode;
use aya::programs::tc::{SchedClassifierLinkId, TcAttachOptions};
use aya::programs::{
    CgroupSkb, CgroupSkbAttachType, CgroupSock, CgroupSockAddr, LinkOrder, ProgramError, SchedClassifier, TcAttachType,
    TracePoint,
};
use aya::{Ebpf, EbpfLoader};
use tuntrace_probes::layout::{self as abi, from_bytes, EspKey, EspVal, FlowKey, FlowVal, IfaceCfg, SockInfo};

use super::records::{BadRecord, Record, RecordRef};
use super::seed::{self, SeededSocket};
use super::system;
use super::LiveError;

const FLOW_KEY: usize = std::mem::size_of::<FlowKey>();
const FLOW_VAL: usize = std::mem::size_of::<FlowVal>();
const ESP_KEY: usize = std::mem::size_of::<EspKey>();
const ESP_VAL: usize = std::mem::size_of::<EspVal>();
const SOCK_INFO: usize = std::mem::size_of::<SockInfo>();
const IFACE_CFG: usize = std::mem::size_of::<IfaceCfg>();
const BPF_NOEXIST: u64 = 1;

#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Bytes of each IKE/SIP packet sent to userspace, from the IP header (at most 1500).
    pub snaplen: u32,
    /// Size of the `events` ring buffer in bytes (a power of two, at least a page).
    pub ring_bytes: u32,
    /// The netns to trace; `None`: the calling thread's.
    pub netns_cookie: Option<u64>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig { snaplen: abi::MAX_SNAPLEN, ring_bytes: 4 << 20, netns_cookie: None }
    }
}

/// One flow's exact totals, summed over CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowCount {
    pub key: FlowKey,
    pub packets: u64,
    pub bytes: u64,
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
    pub inflight_full: u64,
    pub procs_full: u64,
    pub tun_pending_full: u64,
    /// PKT records written.
    pub sampled: u64,
    /// Other records written.
    pub records: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// tcx counts per interface flow (egress keys carry the sending socket's cookie, tgid 0).
    pub iface_flows: Vec<FlowCount>,
    /// cgroup_skb counts per socket and attributed process.
    pub sock_flows: Vec<FlowCount>,
    pub esp: Vec<EspCount>,
    pub stats: Stats,
}

/// The loaded tracer. Dropping it detaches and unloads everything.
pub struct Probes {
    ebpf: Ebpf,
    events: RingBuf<MapData>,
    netns_cookie: u64,
    warnings: Vec<String>,
    tc_links: StdHashMap<u32, (SchedClassifierLinkId, SchedClassifierLinkId)>,
    bad_records: u64,
    // Held so the cgroup stays open as long as its links (the links keep it alive anyway).
    _cgroup: File,
}

/// Hooks the tracer cannot work without: fail the session when one does not load or attach.
const ESSENTIAL: &[&str] = &["sock_create", "cgroup_skb_ingress", "cgroup_skb_egress", "tc_ingress", "tc_egress"];

const CGROUP_SOCK: &[&str] = &["sock_create", "sock_release", "post_bind4", "post_bind6"];
const CGROUP_SOCK_ADDR: &[&str] = &["connect4", "connect6", "sendmsg4", "sendmsg6", "recvmsg4", "recvmsg6"];
/// (program, tracepoint category, tracepoint name)
const TRACEPOINTS: &[(&str, &str, &str)] = &[
    ("sock_send_length", "sock", "sock_send_length"),
    ("sock_recv_length", "sock", "sock_recv_length"),
    ("inet_sock_set_state", "sock", "inet_sock_set_state"),
    ("sys_enter_sendto", "syscalls", "sys_enter_sendto"),
    ("sys_enter_sendmsg", "syscalls", "sys_enter_sendmsg"),
    ("sys_enter_sendmmsg", "syscalls", "sys_enter_sendmmsg"),
    ("sys_enter_write", "syscalls", "sys_enter_write"),
    ("sys_enter_writev", "syscalls", "sys_enter_writev"),
    ("sys_exit_sendto", "syscalls", "sys_exit_sendto"),
    ("sys_exit_sendmsg", "syscalls", "sys_exit_sendmsg"),
    ("sys_exit_sendmmsg", "syscalls", "sys_exit_sendmmsg"),
    ("sys_exit_write", "syscalls", "sys_exit_write"),
    ("sys_exit_writev", "syscalls", "sys_exit_writev"),
    ("sys_enter_ioctl", "syscalls", "sys_enter_ioctl"),
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
            // `inflight` is task storage, which aya cannot read; only the kernel uses it.
            .allow_unsupported_maps()
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
        for (name, kind) in
            [("cgroup_skb_ingress", CgroupSkbAttachType::Ingress), ("cgroup_skb_egress", CgroupSkbAttachType::Egress)]
        {
            let r = (|| {
                let p: &mut CgroupSkb = program(&mut ebpf, name)?;
                p.load().map_err(|e| load_failure(name, e))?;
                p.attach(&cgroup, kind, CgroupAttachMode::Single).map_err(|e| attach_failure(name, &target, e))?;
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
            bad_records: 0,
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
    pub fn attach_iface(&mut self, ifindex: u32, l2_len: u32) -> Result<(), LiveError> {
        let name = system::ifname(ifindex).ok_or(LiveError::InterfaceGone { ifindex })?;
        {
            let mut traced: HashMap<_, u32, [u8; IFACE_CFG]> = self.map_mut(abi::MAP_TRACED)?;
            let cfg = IfaceCfg { l2_len, _pad0: 0 };
            let mut v = [0u8; IFACE_CFG];
            v.copy_from_slice(abi::as_bytes(&cfg));
            traced.insert(ifindex, v, 0).map_err(|e| LiveError::map(abi::MAP_TRACED, e))?;
        }
        if self.tc_links.contains_key(&ifindex) {
            return Ok(());
        }
        let mut ids = Vec::with_capacity(2);
        for (prog, kind) in [("tc_ingress", TcAttachType::Ingress), ("tc_egress", TcAttachType::Egress)] {
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
        let egress = ids.pop().expect("two links");
        let ingress = ids.pop().expect("two links");
        self.tc_links.insert(ifindex, (ingress, egress));
        Ok(())
    }

    /// Stops tracing an interface. Its links are closed; an interface that vanished has already
    /// lost them, which is not an error.
    pub fn detach_iface(&mut self, ifindex: u32) -> Result<(), LiveError> {
        if let Some((ingress, egress)) = self.tc_links.remove(&ifindex) {
            let _ = program::<SchedClassifier>(&mut self.ebpf, "tc_ingress")?.detach(ingress);
            let _ = program::<SchedClassifier>(&mut self.ebpf, "tc_egress")?.detach(egress);
        }
        self.untrace(ifindex)
    }

    fn untrace(&mut self, ifindex: u32) -> Result<(), LiveError> {
        let mut traced: HashMap<_, u32, [u8; IFACE_CFG]> = self.map_mut(abi::MAP_TRACED)?;
        match traced.remove(&ifindex) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(LiveError::map(abi::MAP_TRACED, e)),
        }
    }

    /// Appends every record waiting in the ring buffer to `out`; returns how many. Items that do
    /// not decode (never expected) are counted in [`Probes::bad_records`].
    pub fn read_records(&mut self, out: &mut Vec<Record>) -> usize {
        let before = out.len();
        while let Some(item) = self.events.next() {
            match Record::decode(&item) {
                Ok(r) => out.push(r),
                Err(BadRecord { .. }) => self.bad_records += 1,
            }
        }
        out.len() - before
    }

    /// Hands every record waiting in the ring buffer to `f`, packet bytes borrowed from the ring
    /// (copy them once, e.g. into an event batch); returns how many.
    pub fn drain(&mut self, mut f: impl FnMut(RecordRef<'_>)) -> usize {
        let mut n = 0;
        while let Some(item) = self.events.next() {
            match RecordRef::decode(&item) {
                Ok(r) => {
                    f(r);
                    n += 1;
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

    /// Ring items that did not decode as a record of this ABI.
    pub fn bad_records(&self) -> u64 {
        self.bad_records
    }

    /// The ring buffer's descriptor: readable when records wait (for poll or tokio's AsyncFd).
    pub fn ring_fd(&self) -> BorrowedFd<'_> {
        self.events.as_fd()
    }

    /// Blocks until records wait or `timeout` passes; true if records wait.
    pub fn wait_readable(&self, timeout: Duration) -> std::io::Result<bool> {
        let mut pfd = libc::pollfd { fd: self.events.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: one valid pollfd.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(rc > 0)
    }

    /// The kernel's exact counters now, summed over CPUs. Reading does not reset them.
    pub fn read_counters(&self) -> Result<Counters, LiveError> {
        Ok(Counters {
            iface_flows: self.flows(abi::MAP_IFACE_FLOWS)?,
            sock_flows: self.flows(abi::MAP_SOCK_FLOWS)?,
            esp: self.esp()?,
            stats: self.stats()?,
        })
    }

    fn flows(&self, name: &'static str) -> Result<Vec<FlowCount>, LiveError> {
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
        out.sort_by_key(|c| c.key);
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
                first_ns: v.first_ns,
                last_ns: v.last_ns,
            });
        }
        out.sort_by_key(|c| c.key);
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
            inflight_full: get(abi::STAT_INFLIGHT_FULL)?,
            procs_full: get(abi::STAT_PROCS_FULL)?,
            tun_pending_full: get(abi::STAT_TUN_PENDING_FULL)?,
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

//! The live tracer on the real kernel: real programs, real sockets, real processes. Needs root;
//! without it the tests return early with a message unless TUNTRACE_REQUIRE_ROOT is set (CI sets
//! it), in which case they fail.
//!
//! Each test makes its own pair of network namespaces joined by a veth on 198.18.0.0/30 (and a
//! TUN on 198.18.1.0/24), traces namespace A from a thread that entered it, and sends only to
//! addresses of those namespaces. Processes are forked children that use only syscalls, waited
//! for by pid. The tests run one at a time: the cleanup test compares the kernel's lists of
//! programs and links before and after, which a concurrent loader would disturb.

#![cfg(target_os = "linux")]

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tuntrace::live::{Counters, FlowCount, LiveError, ProbeConfig, Probes, Record};
use tuntrace_probes::layout::{self as abi, c_str, SockRec};

static SERIAL: Mutex<()> = Mutex::new(());

const A_IP: [u8; 4] = [198, 18, 0, 1];
const B_IP: [u8; 4] = [198, 18, 0, 2];
const TUN_IP: [u8; 4] = [198, 18, 1, 1];
const TUN_PEER: [u8; 4] = [198, 18, 1, 2];

fn root_or_skip(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("TUNTRACE_REQUIRE_ROOT").is_some() {
        panic!("{test}: needs root (TUNTRACE_REQUIRE_ROOT is set): run the tests as root");
    }
    eprintln!("{test}: not run, needs root (set TUNTRACE_REQUIRE_ROOT=1 to make this a failure)");
    false
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e} (run ci/setup)"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Namespaces A (traced) and B joined by veth ttp0 (A, 198.18.0.1) <-> ttp1 (B, 198.18.0.2).
struct Lab {
    a: String,
    b: String,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let pid = std::process::id();
        let lab = Lab { a: format!("tt-probe-{pid}-{tag}-a"), b: format!("tt-probe-{pid}-{tag}-b") };
        for ns in [&lab.a, &lab.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            run("ip", &["netns", "add", ns]);
            // No IPv6: no router solicitations or MLD reports among the counted packets.
            run("ip", &["netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"]);
            run("ip", &["netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"]);
            run("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        run("ip", &["link", "add", "ttp0", "netns", &lab.a, "type", "veth", "peer", "name", "ttp1", "netns", &lab.b]);
        run("ip", &["-n", &lab.a, "addr", "add", "198.18.0.1/30", "dev", "ttp0"]);
        run("ip", &["-n", &lab.b, "addr", "add", "198.18.0.2/30", "dev", "ttp1"]);
        run("ip", &["-n", &lab.a, "link", "set", "ttp0", "up"]);
        run("ip", &["-n", &lab.b, "link", "set", "ttp1", "up"]);
        lab
    }

    /// Runs `f` on a thread inside namespace `ns`; sockets it creates stay in that namespace.
    fn inside<R: Send>(ns: &str, f: impl FnOnce() -> R + Send) -> R {
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = File::open(format!("/var/run/netns/{ns}")).expect("netns file");
                // SAFETY: setns on this thread only, with a netns descriptor.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    fn in_a<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        Lab::inside(&self.a, f)
    }

    fn in_b<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        Lab::inside(&self.b, f)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

// ---- sockets and processes through libc only (children of fork() call nothing else) ----

fn udp_socket() -> OwnedFd {
    // SAFETY: socket(2); checked, then owned.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh descriptor.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn sockaddr(ip: [u8; 4], port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(ip) },
        sin_zero: [0; 8],
    }
}

fn bind(fd: RawFd, ip: [u8; 4], port: u16) {
    let sa = sockaddr(ip, port);
    // SAFETY: a valid sockaddr_in and its length.
    let rc = unsafe { libc::bind(fd, (&sa as *const libc::sockaddr_in).cast(), size_of_val(&sa) as u32) };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
}

/// connect(2); no assertion so that a forked child may call it.
fn connect(fd: RawFd, ip: [u8; 4], port: u16) -> i32 {
    let sa = sockaddr(ip, port);
    // SAFETY: a valid sockaddr_in and its length.
    unsafe { libc::connect(fd, (&sa as *const libc::sockaddr_in).cast(), size_of_val(&sa) as u32) }
}

/// Sends `n` datagrams of `len` bytes with send(2) (or write(2)); returns how many went.
fn send_n(fd: RawFd, n: usize, len: usize, use_write: bool) -> usize {
    let buf = [0x5au8; 1400];
    let len = len.min(buf.len());
    let mut sent = 0;
    for _ in 0..n {
        // SAFETY: `buf` holds at least `len` bytes.
        let rc = unsafe {
            if use_write {
                libc::write(fd, buf.as_ptr().cast(), len)
            } else {
                libc::send(fd, buf.as_ptr().cast(), len, 0)
            }
        };
        if rc == len as isize {
            sent += 1;
        }
    }
    sent
}

fn socket_cookie(fd: RawFd) -> u64 {
    let mut cookie = 0u64;
    let mut len = 8 as libc::socklen_t;
    // SAFETY: getsockopt writes at most 8 bytes.
    let rc =
        unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_COOKIE, (&mut cookie as *mut u64).cast(), &mut len) };
    assert_eq!(rc, 0, "SO_COOKIE: {}", std::io::Error::last_os_error());
    cookie
}

/// Forks; the child runs `f` (syscalls only) and exits with its result. Returns the child's pid.
fn fork_child(f: impl FnOnce() -> i32) -> u32 {
    // SAFETY: the child only makes syscalls and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = f();
        // SAFETY: leaves the child without running the parent's destructors or atexit handlers.
        unsafe { libc::_exit(code) };
    }
    pid as u32
}

fn wait_child(pid: u32) -> i32 {
    let mut status = 0;
    // SAFETY: waits for our own child.
    let rc = unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    assert_eq!(rc, pid as i32, "waitpid: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "child {pid} did not exit normally: {status:#x}");
    libc::WEXITSTATUS(status)
}

/// A child that sends `n` datagrams on an inherited connected socket: exit status 0 when all went.
fn child_sends(fd: RawFd, n: usize, use_write: bool) -> u32 {
    fork_child(move || if send_n(fd, n, 100, use_write) == n { 0 } else { 1 })
}

fn ifindex(name: &str) -> u32 {
    let c = std::ffi::CString::new(name).unwrap();
    // SAFETY: a NUL-terminated name.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert!(i != 0, "no interface {name} here");
    i
}

fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

// ---- reading what the tracer saw ----

fn load(cfg: &ProbeConfig) -> Probes {
    let p = Probes::load(cfg).unwrap_or_else(|e| panic!("Probes::load: {e}"));
    assert!(p.warnings().is_empty(), "every hook attaches on this kernel: {:?}", p.warnings());
    p
}

/// Reads records until `done` holds or 3 s pass.
fn records_until(p: &mut Probes, recs: &mut Vec<Record>, done: impl Fn(&[Record]) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        p.read_records(recs);
        if done(recs) || Instant::now() > deadline {
            return;
        }
        let _ = p.wait_readable(Duration::from_millis(50));
    }
}

/// Reads counters until `done` holds or 3 s pass (tc egress may wait for ARP).
fn counters_until(p: &Probes, done: impl Fn(&Counters) -> bool) -> Counters {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let c = p.read_counters().unwrap_or_else(|e| panic!("read_counters: {e}"));
        if done(&c) || Instant::now() > deadline {
            return c;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn socks(recs: &[Record]) -> impl Iterator<Item = &SockRec> {
    recs.iter().filter_map(|r| match r {
        Record::Sock(s) => Some(s),
        _ => None,
    })
}

/// sock_flows packets of one socket, per attributed tgid and direction.
fn per_tgid(c: &Counters, cookie: u64, dir: u8) -> Vec<(u32, u64)> {
    let mut v: Vec<(u32, u64)> = Vec::new();
    for f in c.sock_flows.iter().filter(|f| f.key.cookie == cookie && f.key.direction == dir) {
        match v.iter_mut().find(|(t, _)| *t == f.key.tgid) {
            Some((_, n)) => *n += f.packets,
            None => v.push((f.key.tgid, f.packets)),
        }
    }
    v.sort_unstable();
    v
}

fn iface_packets(c: &Counters, pred: impl Fn(&FlowCount) -> bool) -> u64 {
    c.iface_flows.iter().filter(|f| pred(f)).map(|f| f.packets).sum()
}

fn our_pid() -> u32 {
    std::process::id()
}

// ---- the tests ----

/// (a) and (d): sockets created after load, by a child that lives a few milliseconds: CREATE
/// record with its pid, every packet counted to it (per socket and per interface), an EXIT record; and
/// the SIP-port packets sampled once each, attributed.
#[test]
fn a_new_socket_of_a_short_lived_process_is_attributed_to_it() {
    if !root_or_skip("a_new_socket_of_a_short_lived_process_is_attributed_to_it") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("new");
    let sink = lab.in_b(|| {
        let s = udp_socket();
        bind(s.as_raw_fd(), B_IP, 5060);
        s
    });
    lab.in_a(|| {
        let mut p = load(&ProbeConfig::default());
        let veth = ifindex("ttp0");
        p.attach_iface(veth, 14, false).unwrap();
        const N: usize = 7;
        let started = Instant::now();
        let child = fork_child(|| {
            // SAFETY: socket(2) in the child.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
            if fd < 0 || connect(fd, B_IP, 5060) != 0 {
                return 2;
            }
            if send_n(fd, N, 200, false) != N {
                return 1;
            }
            // Then it becomes /bin/true (the socket, not close-on-exec, goes with it).
            let argv = [c"true".as_ptr(), std::ptr::null()];
            // SAFETY: execv with NUL-terminated strings and a NULL-terminated argv.
            unsafe { libc::execv(c"/bin/true".as_ptr(), argv.as_ptr()) };
            3
        });
        assert_eq!(wait_child(child), 0, "the child sent all its datagrams and ran /bin/true");
        assert!(started.elapsed() < Duration::from_secs(1), "the child lived less than a second");

        let mut recs = Vec::new();
        records_until(&mut p, &mut recs, |r| {
            r.iter().any(|r| matches!(r, Record::Proc(e) if e.tgid == child && e.op == abi::PROC_EXIT))
                && r.iter().filter(|r| matches!(r, Record::Packet { rec, .. } if rec.tgid == child)).count() == N
        });
        let create = socks(&recs)
            .find(|s| s.op == abi::SOCK_CREATE && s.tgid == child)
            .unwrap_or_else(|| panic!("no CREATE record for child {child}: {recs:#?}"));
        assert_eq!((create.family, create.protocol), (libc::AF_INET as u8, libc::IPPROTO_UDP as u8));
        assert_eq!(create.netns_cookie, p.netns_cookie());
        assert!(create.start_ns > 0);
        let cookie = create.cookie;
        let connect = socks(&recs).find(|s| s.op == abi::SOCK_CONNECT && s.cookie == cookie).expect("CONNECT record");
        assert_eq!((connect.tgid, connect.rport, &connect.raddr[..4]), (child, 5060, &B_IP[..]));
        assert!(
            recs.iter().any(|r| matches!(r, Record::Proc(e) if e.tgid == child && e.op == abi::PROC_EXIT && e.start_ns == create.start_ns)),
            "an EXIT record for the child with the same start time"
        );
        let exec = recs
            .iter()
            .find_map(|r| match r {
                Record::Proc(e) if e.tgid == child && e.op == abi::PROC_EXEC => Some(e),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no EXEC record for {child}: {recs:#?}"));
        assert_eq!((c_str(&exec.filename), c_str(&exec.comm)), ("/bin/true".to_string(), "true".to_string()));
        assert_eq!(exec.start_ns, create.start_ns, "exec keeps the process (and its start time)");
        let close = socks(&recs).find(|s| s.op == abi::SOCK_CLOSE && s.cookie == cookie).expect("CLOSE at exit");
        assert_eq!((close.tgid, c_str(&close.comm)), (child, "true".to_string()));

        let c = counters_until(&p, |c| {
            iface_packets(c, |f| f.key.cookie == cookie && f.key.direction == abi::DIR_OUT) == N as u64
        });
        assert_eq!(per_tgid(&c, cookie, abi::DIR_OUT), vec![(child, N as u64)], "per-socket counts, all the child's");
        let tc = c.iface_flows.iter().find(|f| f.key.cookie == cookie).expect("a tcx flow with the socket's cookie");
        assert_eq!((tc.key.ifindex, tc.key.dport, tc.key.protocol, tc.packets), (veth, 5060, 17, N as u64));
        assert_eq!(tc.bytes, N as u64 * (14 + 20 + 8 + 200), "skb->len from the Ethernet header");

        let samples: Vec<_> = recs
            .iter()
            .filter_map(|r| match r {
                Record::Packet { rec, data } if rec.cookie == cookie => Some((rec, data)),
                _ => None,
            })
            .collect();
        assert_eq!(samples.len(), N, "each SIP-port packet sampled exactly once");
        for (rec, data) in samples {
            assert_eq!((rec.tgid, rec.ifindex, rec.direction), (child, veth, abi::DIR_OUT));
            assert_eq!((rec.orig_len, rec.cap_len as usize), (20 + 8 + 200, data.len()));
            assert_eq!(data[0] >> 4, 4, "data starts at the IP header");
        }
        let stats = c.stats;
        assert_eq!((stats.ring_full, stats.sockets_full, stats.sock_flows_full), (0, 0, 0));
    });
    drop(sink);
}

/// (b): a connected UDP socket made before the tracer, that then only send()s: seeded from
/// sock_diag + /proc, and its packets attributed to its holder.
#[test]
fn a_socket_from_before_the_tracer_is_seeded_and_attributed() {
    if !root_or_skip("a_socket_from_before_the_tracer_is_seeded_and_attributed") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("seed");
    let sink = lab.in_b(|| {
        let s = udp_socket();
        bind(s.as_raw_fd(), B_IP, 9001);
        s
    });
    lab.in_a(|| {
        let old = udp_socket();
        assert_eq!(connect(old.as_raw_fd(), B_IP, 9001), 0);
        let mut p = load(&ProbeConfig::default());
        let veth = ifindex("ttp0");
        p.attach_iface(veth, 14, false).unwrap();
        let seeded = p.seed_sockets().unwrap_or_else(|e| panic!("seed_sockets: {e}"));
        let cookie = socket_cookie(old.as_raw_fd());
        let s =
            seeded.iter().find(|s| s.cookie == cookie).unwrap_or_else(|| panic!("cookie {cookie} not in {seeded:#?}"));
        assert_eq!(s.pids, vec![our_pid()]);
        assert_eq!((s.remote.to_string(), s.protocol), ("198.18.0.2:9001".to_string(), 17));
        assert!(s.start_ns > 0);
        assert!(seeded.iter().all(|x| x.local.ip().to_string() != "198.18.0.2"), "only namespace A's sockets");

        const N: usize = 5;
        assert_eq!(send_n(old.as_raw_fd(), N, 64, false), N);
        let c = counters_until(&p, |c| iface_packets(c, |f| f.key.cookie == cookie) == N as u64);
        assert_eq!(per_tgid(&c, cookie, abi::DIR_OUT), vec![(our_pid(), N as u64)]);
        assert_eq!(iface_packets(&c, |f| f.key.cookie == cookie && f.key.dport == 9001), N as u64);
        let mut recs = Vec::new();
        p.read_records(&mut recs);
        assert!(
            !socks(&recs).any(|s| s.cookie == cookie && s.op == abi::SOCK_LEARNED),
            "seeded, not learned: {recs:#?}"
        );
    });
    drop(sink);
}

/// (c): the parent creates and connects, the child alone sends: all N packets are the child's,
/// from the first one, none the parent's; one OWNER record names the child.
#[test]
fn packets_of_an_inherited_socket_are_the_child_s() {
    if !root_or_skip("packets_of_an_inherited_socket_are_the_child_s") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("fork");
    let sink = lab.in_b(|| {
        let s = udp_socket();
        bind(s.as_raw_fd(), B_IP, 9002);
        s
    });
    lab.in_a(|| {
        let mut p = load(&ProbeConfig::default());
        p.attach_iface(ifindex("ttp0"), 14, false).unwrap();
        let sock = udp_socket();
        assert_eq!(connect(sock.as_raw_fd(), B_IP, 9002), 0);
        let cookie = socket_cookie(sock.as_raw_fd());
        const N: usize = 9;
        let child = child_sends(sock.as_raw_fd(), N, false);
        assert_eq!(wait_child(child), 0);

        let c = counters_until(&p, |c| iface_packets(c, |f| f.key.cookie == cookie) == N as u64);
        assert_eq!(per_tgid(&c, cookie, abi::DIR_OUT), vec![(child, N as u64)], "parent {}", our_pid());
        let mut recs = Vec::new();
        records_until(&mut p, &mut recs, |r| socks(r).any(|s| s.op == abi::SOCK_OWNER && s.cookie == cookie));
        let create = socks(&recs).find(|s| s.op == abi::SOCK_CREATE && s.cookie == cookie).expect("CREATE");
        assert_eq!(create.tgid, our_pid());
        let owners: Vec<_> = socks(&recs).filter(|s| s.op == abi::SOCK_OWNER && s.cookie == cookie).collect();
        assert_eq!(owners.len(), 1, "one OWNER record, not one per packet: {owners:#?}");
        assert_eq!((owners[0].tgid, owners[0].prev_tgid, owners[0].rport), (child, our_pid(), 9002));
    });
    drop(sink);
}

/// (e): two children share one socket, one with write(), one with send(), at the same time:
/// the counts split exactly.
#[test]
fn a_shared_socket_splits_exactly_between_its_users() {
    if !root_or_skip("a_shared_socket_splits_exactly_between_its_users") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("share");
    let sink = lab.in_b(|| {
        let s = udp_socket();
        bind(s.as_raw_fd(), B_IP, 9003);
        s
    });
    lab.in_a(|| {
        let mut p = load(&ProbeConfig::default());
        p.attach_iface(ifindex("ttp0"), 14, false).unwrap();
        let sock = udp_socket();
        assert_eq!(connect(sock.as_raw_fd(), B_IP, 9003), 0);
        let cookie = socket_cookie(sock.as_raw_fd());
        let (n1, n2) = (40usize, 25usize);
        let c1 = child_sends(sock.as_raw_fd(), n1, true);
        let c2 = child_sends(sock.as_raw_fd(), n2, false);
        assert_eq!((wait_child(c1), wait_child(c2)), (0, 0));

        let total = (n1 + n2) as u64;
        let c = counters_until(&p, |c| iface_packets(c, |f| f.key.cookie == cookie) == total);
        let mut want = vec![(c1, n1 as u64), (c2, n2 as u64)];
        want.sort_unstable();
        assert_eq!(per_tgid(&c, cookie, abi::DIR_OUT), want);
        assert_eq!(iface_packets(&c, |f| f.key.cookie == cookie), total);
        // Two CPUs inserting the same new flow at once must not lose a count.
        assert_eq!((c.stats.iface_flows_full, c.stats.sock_flows_full), (0, 0));
        let mut recs = Vec::new();
        p.read_records(&mut recs);
        let mut owners: Vec<u32> =
            socks(&recs).filter(|s| s.op == abi::SOCK_OWNER && s.cookie == cookie).map(|s| s.tgid).collect();
        owners.sort_unstable();
        let mut both = vec![c1, c2];
        both.sort_unstable();
        assert_eq!(owners, both, "one OWNER record per (socket, process)");
    });
    drop(sink);
}

fn ipv4_udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + 8 + payload.len();
    let mut p = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 17, 0, 0];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let mut sum: u32 = p.chunks(2).map(|w| u32::from(w[0]) << 8 | u32::from(w[1])).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    p[10] = (ck >> 8) as u8;
    p[11] = ck as u8;
    p.extend_from_slice(&sport.to_be_bytes());
    p.extend_from_slice(&dport.to_be_bytes());
    p.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]); // no UDP checksum
    p.extend_from_slice(payload);
    p
}

/// (f) and (g): a TUN device made by the test thread: the TUN record names our pid, tid and
/// the final name; tcx counts on it (no link header) equal the packets sent each way.
#[test]
fn a_tun_device_is_reported_and_its_packets_counted() {
    if !root_or_skip("a_tun_device_is_reported_and_its_packets_counted") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("tun");
    let a = lab.a.clone();
    lab.in_a(|| {
        let mut p = load(&ProbeConfig::default());
        let tun = File::options().read(true).write(true).open("/dev/net/tun").expect("/dev/net/tun");
        #[repr(C)]
        struct IfReq {
            name: [u8; 16],
            flags: u16,
            _pad: [u8; 22],
        }
        let mut req = IfReq { name: [0; 16], flags: (libc::IFF_TUN | libc::IFF_NO_PI) as u16, _pad: [0; 22] };
        req.name[..8].copy_from_slice(b"tttun%d\0");
        // SAFETY: TUNSETIFF reads and writes one struct ifreq (40 bytes).
        let rc = unsafe { libc::ioctl(tun.as_raw_fd(), 0x400454ca, &mut req) };
        assert_eq!(rc, 0, "TUNSETIFF: {}", std::io::Error::last_os_error());
        let name = c_str(&req.name);
        assert!(name.starts_with("tttun") && !name.contains('%'), "{name}");
        let tid = gettid();

        let mut recs = Vec::new();
        records_until(&mut p, &mut recs, |r| r.iter().any(|r| matches!(r, Record::Tun(_))));
        let t = recs
            .iter()
            .find_map(|r| match r {
                Record::Tun(t) => Some(t),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no TUN record: {recs:#?}"));
        assert_eq!((t.tgid, t.tid, c_str(&t.ifname), t.flags), (our_pid(), tid, name.clone(), 0x1001));

        run("ip", &["-n", &a, "addr", "add", "198.18.1.1/24", "dev", &name]);
        run("ip", &["-n", &a, "link", "set", &name, "up"]);
        let idx = ifindex(&name);
        p.attach_iface(idx, 0, false).unwrap();

        const OUT: usize = 6;
        let s = udp_socket();
        assert_eq!(connect(s.as_raw_fd(), TUN_PEER, 7000), 0);
        assert_eq!(send_n(s.as_raw_fd(), OUT, 50, false), OUT);
        const IN: usize = 4;
        let pkt = ipv4_udp(TUN_PEER, 7001, TUN_IP, 7002, b"hello");
        for _ in 0..IN {
            // SAFETY: writes one IP packet from a valid buffer.
            let n = unsafe { libc::write(tun.as_raw_fd(), pkt.as_ptr().cast(), pkt.len()) };
            assert_eq!(n, pkt.len() as isize);
        }
        let c = counters_until(&p, |c| {
            iface_packets(c, |f| f.key.ifindex == idx && f.key.dport == 7000) == OUT as u64
                && iface_packets(c, |f| f.key.ifindex == idx && f.key.dport == 7002) == IN as u64
        });
        let out = c.iface_flows.iter().find(|f| f.key.ifindex == idx && f.key.dport == 7000).expect("egress flow");
        assert_eq!((out.key.direction, out.packets, out.bytes), (abi::DIR_OUT, OUT as u64, OUT as u64 * (20 + 8 + 50)));
        let inn = c.iface_flows.iter().find(|f| f.key.ifindex == idx && f.key.dport == 7002).expect("ingress flow");
        assert_eq!((inn.key.direction, inn.key.sport, inn.packets), (abi::DIR_IN, 7001, IN as u64));
        assert_eq!(&inn.key.src[..4], &TUN_PEER[..]);

        // Detached: no more counts. Gone: attaching says so.
        p.detach_iface(idx).unwrap();
        assert_eq!(send_n(s.as_raw_fd(), 3, 50, false), 3);
        std::thread::sleep(Duration::from_millis(100));
        let after = p.read_counters().unwrap();
        assert_eq!(iface_packets(&after, |f| f.key.ifindex == idx && f.key.dport == 7000), OUT as u64);
        drop(tun);
        let deadline = Instant::now() + Duration::from_secs(3);
        let cname = std::ffi::CString::new(name.clone()).unwrap();
        // SAFETY: a NUL-terminated name.
        while unsafe { libc::if_nametoindex(cname.as_ptr()) } != 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        match p.attach_iface(idx, 0, false) {
            Err(LiveError::InterfaceGone { ifindex }) => assert_eq!(ifindex, idx),
            other => panic!("attaching a vanished TUN: {other:?}"),
        }
    });
}

/// (h): a socket of namespace B sends into A: nothing of B's socket is recorded or counted per
/// socket (even when B's veth has the same ifindex as A's), while A's receiving socket gets its
/// packets, and each is sampled once at tcx ingress with the receiver's cookie.
#[test]
fn another_namespace_s_sockets_are_not_counted() {
    if !root_or_skip("another_namespace_s_sockets_are_not_counted") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("ns");
    let b_index = lab.in_b(|| ifindex("ttp1"));
    lab.in_a(|| {
        let mut p = load(&ProbeConfig::default());
        let veth = ifindex("ttp0");
        eprintln!("ifindex: ttp0 {veth} in A, ttp1 {b_index} in B");
        p.attach_iface(veth, 14, false).unwrap();
        let rx = udp_socket();
        bind(rx.as_raw_fd(), A_IP, 5060);
        let rx_cookie = socket_cookie(rx.as_raw_fd());

        const K: usize = 8;
        let b_cookie = lab.in_b(|| {
            let tx = udp_socket();
            bind(tx.as_raw_fd(), B_IP, 6000);
            assert_eq!(connect(tx.as_raw_fd(), A_IP, 5060), 0);
            assert_eq!(send_n(tx.as_raw_fd(), K, 120, false), K);
            socket_cookie(tx.as_raw_fd())
        });
        let c = counters_until(&p, |c| per_tgid(c, rx_cookie, abi::DIR_IN) == vec![(our_pid(), K as u64)]);
        assert_eq!(per_tgid(&c, rx_cookie, abi::DIR_IN), vec![(our_pid(), K as u64)], "A's receiver");
        assert!(c.sock_flows.iter().all(|f| f.key.cookie != b_cookie), "B's socket counted: {:#?}", c.sock_flows);
        assert_eq!(iface_packets(&c, |f| f.key.direction == abi::DIR_IN && f.key.sport == 6000), K as u64);

        let mut recs = Vec::new();
        records_until(&mut p, &mut recs, |r| {
            r.iter().filter(|r| matches!(r, Record::Packet { rec, .. } if rec.direction == abi::DIR_IN)).count() >= K
        });
        assert!(socks(&recs).all(|s| s.cookie != b_cookie), "a record of B's socket: {recs:#?}");
        let ingress: Vec<_> = recs
            .iter()
            .filter_map(|r| match r {
                Record::Packet { rec, .. } if rec.direction == abi::DIR_IN => Some(rec),
                _ => None,
            })
            .collect();
        assert_eq!(ingress.len(), K, "each incoming SIP-port packet sampled once");
        assert!(
            ingress.iter().all(|r| r.cookie == rx_cookie && r.tgid == our_pid() && r.ifindex == veth),
            "{ingress:#?}"
        );
    });
}

fn prog_exists(id: u32) -> bool {
    Command::new("bpftool")
        .args(["prog", "show", "id", &id.to_string()])
        .output()
        .expect("bpftool (ci/setup)")
        .status
        .success()
}

/// Every place a program of ours could remain: programs, links, cgroup attachments, tc/tcx on the
/// interface, qdiscs. Returns what it found, empty when clean.
fn leftovers(ids: &[u32], ns: &str, dev: &str) -> Vec<String> {
    let mut found = Vec::new();
    for &id in ids {
        if prog_exists(id) {
            found.push(format!("program {id}"));
        }
    }
    // bpftool names a program as "prog_id N" (net), "prog N" (link) or by its id as the first
    // column (cgroup tree).
    let mentions = |text: &str, what: &str, found: &mut Vec<String>| {
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            let hit = words.iter().enumerate().any(|(i, w)| {
                let Ok(id) = w.trim_end_matches(':').parse::<u32>() else { return false };
                ids.contains(&id) && (i == 0 && what == "cgroup" || i > 0 && matches!(words[i - 1], "prog_id" | "prog"))
            });
            if hit {
                found.push(format!("{what}: {line}"));
            }
        }
    };
    mentions(&run("bpftool", &["link", "show"]), "link", &mut found);
    mentions(&run("bpftool", &["cgroup", "tree"]), "cgroup", &mut found);
    mentions(&run("ip", &["netns", "exec", ns, "bpftool", "net", "show", "dev", dev]), "net", &mut found);
    for dir in ["ingress", "egress"] {
        let tc = run("ip", &["netns", "exec", ns, "tc", "filter", "show", "dev", dev, dir]);
        if !tc.trim().is_empty() {
            found.push(format!("tc filter {dir}: {tc}"));
        }
    }
    let qdisc = run("ip", &["netns", "exec", ns, "tc", "qdisc", "show", "dev", dev]);
    if qdisc.contains("clsact") || qdisc.contains("ingress") {
        found.push(format!("qdisc: {qdisc}"));
    }
    if std::fs::read_dir("/sys/fs/bpf")
        .map(|d| d.flatten().any(|e| e.file_name().to_string_lossy().contains("tuntrace")))
        .unwrap_or(false)
    {
        found.push("a pin under /sys/fs/bpf".into());
    }
    found
}

fn wait_clean(ids: &[u32], ns: &str, dev: &str) -> Vec<String> {
    // Programs are freed after an RCU grace period: give the kernel a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = leftovers(ids, ns, dev);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (i): nothing of ours remains after the loader is dropped, nor after a process holding it is
/// SIGKILLed. Before that, the same checks do see our programs (so they can fail).
#[test]
fn nothing_remains_after_drop_or_sigkill() {
    if !root_or_skip("nothing_remains_after_drop_or_sigkill") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("gone");
    let a = lab.a.clone();
    let ids = lab.in_a(|| {
        let mut p = load(&ProbeConfig::default());
        p.attach_iface(ifindex("ttp0"), 14, false).unwrap();
        let ids = p.program_ids();
        assert_eq!(ids.len(), 15, "every program loaded: {ids:?}");
        let seen = leftovers(&ids, &a, "ttp0");
        assert!(seen.iter().filter(|l| l.starts_with("program")).count() == ids.len(), "{seen:#?}");
        // bpftool 7.1 (Debian 12) lists tcx links as "type 11" and not under `net`; newer ones say "tcx".
        let tcx = |l: &&String| {
            l.starts_with("net:") || l.starts_with("link:") && (l.contains("tcx") || l.contains("type 11"))
        };
        assert_eq!(seen.iter().filter(tcx).count(), 2, "two tcx links visible while loaded: {seen:#?}");
        assert!(seen.iter().any(|l| l.starts_with("cgroup:")), "cgroup links visible while loaded: {seen:#?}");
        drop(p);
        ids
    });
    let left = wait_clean(&ids, &a, "ttp0");
    assert!(left.is_empty(), "after drop: {left:#?}");

    // A child process loads and attaches, reports its program ids through a pipe, and is killed.
    let mut fds = [0; 2];
    // SAFETY: pipe(2) into a two-element array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (rd, wr) = (fds[0], fds[1]);
    let child = lab.in_a(|| {
        fork_child(move || {
            // The child is single-threaded after fork; glibc keeps malloc usable there.
            let Ok(mut p) = Probes::load(&ProbeConfig::default()) else { return 3 };
            let c = std::ffi::CString::new("ttp0").unwrap();
            // SAFETY: a NUL-terminated name.
            let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
            if p.attach_iface(idx, 14, false).is_err() {
                return 4;
            }
            let ids = p.program_ids();
            let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_ne_bytes()).collect();
            // SAFETY: writes our buffer to the pipe.
            unsafe { libc::write(wr, bytes.as_ptr().cast(), bytes.len()) };
            loop {
                // SAFETY: waits for the signal that ends us.
                unsafe { libc::pause() };
            }
        })
    });
    // SAFETY: closes our copy of the write end so that a dead child gives EOF.
    unsafe { libc::close(wr) };
    let mut buf = [0u8; 4 * 64];
    // SAFETY: reads into our buffer.
    let n = unsafe { libc::read(rd, buf.as_mut_ptr().cast(), buf.len()) };
    unsafe { libc::close(rd) };
    assert!(n > 0, "the child reported no program ids");
    let child_ids: Vec<u32> = buf[..n as usize].chunks(4).map(|c| u32::from_ne_bytes(c.try_into().unwrap())).collect();
    assert!(child_ids.iter().all(|&id| prog_exists(id)), "the child's programs are loaded");
    // SAFETY: kills our own child, by pid.
    assert_eq!(unsafe { libc::kill(child as i32, libc::SIGKILL) }, 0);
    let mut status = 0;
    // SAFETY: reaps our own child.
    unsafe { libc::waitpid(child as i32, &mut status, 0) };
    assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
    let left = wait_clean(&child_ids, &a, "ttp0");
    assert!(left.is_empty(), "after SIGKILL: {left:#?}");
}

/// (j): a ring buffer too small for a burst loses samples, and every loss is counted.
#[test]
fn ring_buffer_losses_are_counted() {
    if !root_or_skip("ring_buffer_losses_are_counted") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("ring");
    let sink = lab.in_b(|| {
        let s = udp_socket();
        bind(s.as_raw_fd(), B_IP, 5060);
        s
    });
    lab.in_a(|| {
        let mut p = load(&ProbeConfig { ring_bytes: 4096, snaplen: 1500, ..Default::default() });
        p.attach_iface(ifindex("ttp0"), 14, false).unwrap();
        let s = udp_socket();
        assert_eq!(connect(s.as_raw_fd(), B_IP, 5060), 0);
        let cookie = socket_cookie(s.as_raw_fd());
        const N: usize = 40;
        assert_eq!(send_n(s.as_raw_fd(), N, 1200, false), N);
        let c = counters_until(&p, |c| iface_packets(c, |f| f.key.cookie == cookie) == N as u64);
        assert_eq!(iface_packets(&c, |f| f.key.cookie == cookie), N as u64, "counting does not depend on the ring");
        let mut recs = Vec::new();
        p.read_records(&mut recs);
        let samples = recs.iter().filter(|r| matches!(r, Record::Packet { .. })).count() as u64;
        let st = c.stats;
        assert!(st.ring_full > 0, "a 4 KiB ring cannot hold 40 samples of 1 KiB: {st:?}");
        assert_eq!(samples, st.sampled, "every sample written was read");
        assert!(
            st.sampled + st.ring_full >= N as u64,
            "each of the {N} packets either sampled or counted lost: {st:?}"
        );
        assert!(st.sampled < N as u64);
    });
    drop(sink);
}

fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = ipv4_udp(src, 0, dst, 0, &[]);
    p.truncate(20);
    let total = 20 + l4.len();
    p[2] = (total >> 8) as u8;
    p[3] = total as u8;
    p[9] = proto;
    p[10] = 0;
    p[11] = 0;
    let mut sum: u32 = p.chunks(2).map(|w| u32::from(w[0]) << 8 | u32::from(w[1])).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let ck = !(sum as u16);
    p[10] = (ck >> 8) as u8;
    p[11] = ck as u8;
    p.extend_from_slice(l4);
    p
}

fn esp_payload(spi: u32, seq: u32) -> Vec<u8> {
    let mut b = spi.to_be_bytes().to_vec();
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&[0xee; 32]);
    b
}

/// ESP is counted per SA with its sequence numbers (raw and UDP-encapsulated), never sampled;
/// NAT-T keepalives are neither; IKE (500, and 4500 behind the zero marker) and SIP found by its
/// first line on any port are sampled once each; other UDP is only counted.
#[test]
fn esp_is_counted_per_sa_and_ike_and_sip_are_sampled() {
    if !root_or_skip("esp_is_counted_per_sa_and_ike_and_sip_are_sampled") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("esp");
    let a = lab.a.clone();
    lab.in_a(|| {
        let mut p = load(&ProbeConfig::default());
        let tun = File::options().read(true).write(true).open("/dev/net/tun").expect("/dev/net/tun");
        let mut req = [0u8; 40];
        req[..7].copy_from_slice(b"ttesp0\0");
        req[16..18].copy_from_slice(&((libc::IFF_TUN | libc::IFF_NO_PI) as u16).to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes one struct ifreq (40 bytes).
        assert_eq!(unsafe { libc::ioctl(tun.as_raw_fd(), 0x400454ca, req.as_mut_ptr()) }, 0);
        run("ip", &["-n", &a, "addr", "add", "198.18.1.1/24", "dev", "ttesp0"]);
        run("ip", &["-n", &a, "link", "set", "ttesp0", "up"]);
        let idx = ifindex("ttesp0");
        p.attach_iface(idx, 0, false).unwrap();

        let mut packets = Vec::new();
        // A gap (4), a repeat (5), two late packets (4; 1, before the first number), a jump
        // (100) and a number too far behind it to tell (7): the replay table's window, in the kernel.
        let raw_seqs = [2, 3, 5, 5, 4, 1, 6, 100, 7];
        for seq in raw_seqs {
            packets.push(ipv4(TUN_PEER, TUN_IP, 50, &esp_payload(0x1234, seq)));
        }
        for seq in [7, 8, 9] {
            packets.push(ipv4_udp(TUN_PEER, 4500, TUN_IP, 4500, &esp_payload(0xabcd, seq)));
        }
        packets.push(ipv4_udp(TUN_PEER, 4500, TUN_IP, 4500, &[0xff])); // keepalive
        let mut ike = vec![0u8; 4]; // non-ESP marker
        ike.extend_from_slice(&[0x11; 28]);
        packets.push(ipv4_udp(TUN_PEER, 4500, TUN_IP, 4500, &ike));
        packets.push(ipv4_udp(TUN_PEER, 500, TUN_IP, 500, &[0x22; 28]));
        packets.push(ipv4_udp(TUN_PEER, 40000, TUN_IP, 40001, b"OPTIONS sip:ims SIP/2.0\r\n\r\n"));
        packets.push(ipv4_udp(TUN_PEER, 40002, TUN_IP, 40003, b"not a SIP message"));
        for pkt in &packets {
            // SAFETY: writes one IP packet from a valid buffer.
            let n = unsafe { libc::write(tun.as_raw_fd(), pkt.as_ptr().cast(), pkt.len()) };
            assert_eq!(n, pkt.len() as isize);
        }

        let c = counters_until(&p, |c| c.esp.iter().map(|e| e.packets).sum::<u64>() == 12);
        let raw = c.esp.iter().find(|e| e.key.spi == 0x1234).unwrap_or_else(|| panic!("{:#?}", c.esp));
        assert_eq!((raw.key.encap, raw.key.direction, raw.key.ifindex), (abi::ESP_RAW, abi::DIR_IN, idx));
        // `gaps` only grows (a late packet below the first number adds the one it takes out).
        let got = (raw.packets, raw.first_seq, raw.last_seq, raw.gaps, raw.repeats, raw.reordered);
        assert_eq!(got, (9, 1, 100, 95, 2, 2));
        assert_eq!(raw.bytes, raw_seqs.len() as u64 * (20 + 40));
        let udp = c.esp.iter().find(|e| e.key.spi == 0xabcd).expect("the UDP-encapsulated SA");
        assert_eq!((udp.key.encap, udp.key.sport, udp.key.dport), (abi::ESP_UDP, 4500, 4500));
        assert_eq!(
            (udp.packets, udp.first_seq, udp.last_seq, udp.gaps, udp.repeats, udp.reordered),
            (3, 7, 9, 0, 0, 0)
        );
        assert_eq!(c.esp.len(), 2, "the keepalive and the IKE packet are not ESP: {:#?}", c.esp);
        // Every packet is counted per flow, whatever it is.
        let ingress = iface_packets(&c, |f| f.key.ifindex == idx && f.key.direction == abi::DIR_IN);
        assert_eq!(ingress, packets.len() as u64);

        let mut recs = Vec::new();
        records_until(&mut p, &mut recs, |r| r.iter().filter(|r| matches!(r, Record::Packet { .. })).count() >= 3);
        std::thread::sleep(Duration::from_millis(100));
        p.read_records(&mut recs);
        let mut sampled: Vec<(u16, u16)> = recs
            .iter()
            .filter_map(|r| match r {
                Record::Packet { rec, data } if rec.ifindex == idx && rec.direction == abi::DIR_IN => {
                    Some((u16::from_be_bytes([data[20], data[21]]), u16::from_be_bytes([data[22], data[23]])))
                }
                _ => None,
            })
            .collect();
        sampled.sort_unstable();
        assert_eq!(
            sampled,
            vec![(500, 500), (4500, 4500), (40000, 40001)],
            "IKE, IKE after the marker, SIP by content"
        );
        let ike4500 = recs.iter().find_map(|r| match r {
            Record::Packet { rec, data } if data.get(20..22) == Some(&[0x11, 0x94][..]) => Some((rec, data)),
            _ => None,
        });
        let (rec, data) = ike4500.expect("the IKE-on-4500 sample");
        assert_eq!((rec.cookie, rec.tgid, rec.orig_len as usize, data.len()), (0, 0, 20 + 8 + 32, 20 + 8 + 32));
        drop(tun);
    });
}

/// TCP: an accepted connection (its socket is made in softirq, no process hook sees it) is
/// learned when the accepting process first uses it and announced with OWNER; every segment it
/// sends is that process's, those sent from softirq included; its state changes are recorded;
/// and only the segments that carry SIP-port payload are sampled.
#[test]
fn an_accepted_tcp_connection_is_learned_and_owned() {
    if !root_or_skip("an_accepted_tcp_connection_is_learned_and_owned") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("tcp");
    lab.in_a(|| {
        let mut p = load(&ProbeConfig::default());
        let veth = ifindex("ttp0");
        p.attach_iface(veth, 14, false).unwrap();
        // SAFETY: socket(2); checked, then owned.
        let listener =
            unsafe { OwnedFd::from_raw_fd(libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)) };
        assert!(listener.as_raw_fd() >= 0);
        bind(listener.as_raw_fd(), A_IP, 5061);
        // SAFETY: listen(2) on our socket.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 4) }, 0);
        let client = lab.in_b(|| {
            // SAFETY: socket(2); checked, then owned.
            let c =
                unsafe { OwnedFd::from_raw_fd(libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)) };
            assert_eq!(connect(c.as_raw_fd(), A_IP, 5061), 0, "{}", std::io::Error::last_os_error());
            assert_eq!(send_n(c.as_raw_fd(), 1, 300, false), 1);
            c
        });
        // SAFETY: accept(2) on our listener; checked, then owned.
        let conn = unsafe { libc::accept(listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut()) };
        assert!(conn >= 0, "accept: {}", std::io::Error::last_os_error());
        // SAFETY: a fresh descriptor.
        let conn = unsafe { OwnedFd::from_raw_fd(conn) };
        let cookie = socket_cookie(conn.as_raw_fd());
        let mut buf = [0u8; 512];
        let mut got = 0;
        while got < 300 {
            // SAFETY: reads into our buffer.
            let n = unsafe { libc::recv(conn.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            assert!(n > 0);
            got += n as usize;
        }
        assert_eq!(send_n(conn.as_raw_fd(), 1, 120, false), 1);
        drop(conn);
        drop(client);

        let mut recs = Vec::new();
        records_until(&mut p, &mut recs, |r| {
            socks(r).any(|s| s.op == abi::SOCK_TCP_STATE && s.cookie == cookie && s.new_state == 7)
        });
        let learned = socks(&recs)
            .find(|s| s.op == abi::SOCK_LEARNED && s.cookie == cookie)
            .unwrap_or_else(|| panic!("no LEARNED record for the accepted socket {cookie}: {recs:#?}"));
        assert_eq!((learned.lport, &learned.raddr[..4], learned.protocol), (5061, &B_IP[..], 6));
        let owner = socks(&recs).find(|s| s.op == abi::SOCK_OWNER && s.cookie == cookie).expect("OWNER");
        assert_eq!((owner.tgid, owner.prev_tgid, owner.lport), (our_pid(), 0, 5061));
        let states: Vec<(u8, u8, u32)> = socks(&recs)
            .filter(|s| s.op == abi::SOCK_TCP_STATE && s.cookie == cookie)
            .map(|s| (s.old_state, s.new_state, s.tgid))
            .collect();
        // ESTABLISHED -> FIN_WAIT1 when we close first ... -> CLOSE (7), owned by us.
        assert_eq!(states.first().map(|s| (s.0, s.1)), Some((1, 4)), "{states:?}");
        assert!(states.iter().all(|s| s.2 == our_pid()), "{states:?}");
        let listen = socks(&recs).find(|s| s.op == abi::SOCK_BIND && s.tgid == our_pid() && s.lport == 5061);
        assert!(listen.is_some(), "BIND of the listener: {recs:#?}");

        let cg_out = |c: &Counters| -> u64 {
            c.sock_flows
                .iter()
                .filter(|f| f.key.cookie == cookie && f.key.direction == abi::DIR_OUT)
                .map(|f| f.packets)
                .sum()
        };
        let c = counters_until(&p, |c| cg_out(c) > 0 && iface_packets(c, |f| f.key.cookie == cookie) == cg_out(c));
        // Every segment tcx saw leave with the connection's socket (the ACKs sent from softirq
        // and the TIME_WAIT socket's last ACK included, whatever task ran then) is ours: no
        // other process, and none unattributed.
        let tc_out = iface_packets(&c, |f| f.key.cookie == cookie);
        assert!(tc_out >= 2, "the reply and at least one ACK: {:#?}", c.iface_flows);
        assert_eq!(per_tgid(&c, cookie, abi::DIR_OUT), vec![(our_pid(), tc_out)], "{:#?}", c.sock_flows);
        // What the connection received is counted per socket too, and ours.
        assert!(per_tgid(&c, cookie, abi::DIR_IN).iter().all(|&(t, _)| t == our_pid()), "{:#?}", c.sock_flows);
        let samples: Vec<_> = recs
            .iter()
            .filter_map(|r| match r {
                Record::Packet { rec, .. } if rec.ifindex == veth => Some(rec),
                _ => None,
            })
            .collect();
        assert_eq!(samples.len(), 2, "the request and the reply segment, no bare ACK: {samples:#?}");
        let out = samples.iter().find(|r| r.direction == abi::DIR_OUT).expect("the reply");
        assert_eq!((out.cookie, out.tgid), (cookie, our_pid()));
    });
}

fn sockaddr6(ip: std::net::Ipv6Addr, port: u16) -> libc::sockaddr_in6 {
    libc::sockaddr_in6 {
        sin6_family: libc::AF_INET6 as libc::sa_family_t,
        sin6_port: port.to_be(),
        sin6_flowinfo: 0,
        sin6_addr: libc::in6_addr { s6_addr: ip.octets() },
        sin6_scope_id: 0,
    }
}

/// IPv6: connect6 and the v6 header parsing, end to end (2001:2::/48, the benchmarking range).
#[test]
fn an_ipv6_udp_socket_is_attributed_and_counted() {
    if !root_or_skip("an_ipv6_udp_socket_is_attributed_and_counted") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("v6");
    for (ns, dev, addr) in [(&lab.a, "ttp0", "2001:2::1/64"), (&lab.b, "ttp1", "2001:2::2/64")] {
        run("ip", &["netns", "exec", ns, "sysctl", "-qw", &format!("net.ipv6.conf.{dev}.disable_ipv6=0")]);
        run("ip", &["-n", ns, "addr", "add", addr, "dev", dev, "nodad"]);
    }
    let (a6, b6): (std::net::Ipv6Addr, std::net::Ipv6Addr) =
        ("2001:2::1".parse().unwrap(), "2001:2::2".parse().unwrap());
    let sink = lab.in_b(|| {
        // SAFETY: socket(2); checked, then owned.
        let s = unsafe { OwnedFd::from_raw_fd(libc::socket(libc::AF_INET6, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)) };
        let sa = sockaddr6(b6, 5060);
        // SAFETY: a valid sockaddr_in6 and its length.
        let rc =
            unsafe { libc::bind(s.as_raw_fd(), (&sa as *const libc::sockaddr_in6).cast(), size_of_val(&sa) as u32) };
        assert_eq!(rc, 0, "bind [2001:2::2]:5060: {}", std::io::Error::last_os_error());
        s
    });
    lab.in_a(|| {
        let mut p = load(&ProbeConfig::default());
        let veth = ifindex("ttp0");
        p.attach_iface(veth, 14, false).unwrap();
        const N: usize = 6;
        let child = fork_child(move || {
            // SAFETY: socket(2) and connect(2) in the child, with a valid sockaddr_in6.
            let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_DGRAM, 0) };
            let sa = sockaddr6(b6, 5060);
            // SAFETY: as above.
            if fd < 0 || unsafe { libc::connect(fd, (&sa as *const libc::sockaddr_in6).cast(), 28) } != 0 {
                return 2;
            }
            if send_n(fd, N, 100, false) == N {
                0
            } else {
                1
            }
        });
        assert_eq!(wait_child(child), 0);
        let mut recs = Vec::new();
        records_until(&mut p, &mut recs, |r| {
            r.iter().filter(|r| matches!(r, Record::Packet { rec, .. } if rec.tgid == child)).count() == N
        });
        let create = socks(&recs).find(|s| s.op == abi::SOCK_CREATE && s.tgid == child).expect("CREATE");
        assert_eq!(create.family, libc::AF_INET6 as u8);
        let connect = socks(&recs).find(|s| s.op == abi::SOCK_CONNECT && s.cookie == create.cookie).expect("CONNECT");
        assert_eq!((connect.raddr, connect.rport), (b6.octets(), 5060));
        let c = counters_until(&p, |c| iface_packets(c, |f| f.key.cookie == create.cookie) == N as u64);
        assert_eq!(per_tgid(&c, create.cookie, abi::DIR_OUT), vec![(child, N as u64)]);
        let f = c.iface_flows.iter().find(|f| f.key.cookie == create.cookie).expect("tcx flow");
        assert_eq!((f.key.family, f.key.src, f.key.dst, f.key.dport), (6, a6.octets(), b6.octets(), 5060));
        assert_eq!(f.bytes, N as u64 * (14 + 40 + 8 + 100));
        let samples: Vec<_> = recs
            .iter()
            .filter_map(|r| match r {
                Record::Packet { rec, data } if rec.cookie == create.cookie => Some((rec.tgid, data[0] >> 4)),
                _ => None,
            })
            .collect();
        assert_eq!(samples, vec![(child, 6); N]);
    });
    drop(sink);
}

/// Pins the calling thread (and what it forks afterwards) to one CPU.
fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t with one CPU set, for the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(libc::sched_setaffinity(0, size_of_val(&set), &set), 0, "{}", std::io::Error::last_os_error());
    }
}

/// (k): an unrelated process keeps the CPU busy while a child exchanges TCP with B and then
/// sends UDP, everything on that one CPU: the TCP segments that leave from softirq (delayed ACKs
/// fire in the timer softirq, over whatever runs, here mostly the busy process) and every UDP
/// datagram are the child's; not one packet, count or sample is the busy process's, even though
/// it was the current task when tc saw some of them.
#[test]
fn a_busy_unrelated_process_on_the_same_cpu_never_gets_packets() {
    if !root_or_skip("a_busy_unrelated_process_on_the_same_cpu_never_gets_packets") {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let lab = Lab::new("busy");
    const ROUNDS: usize = 20;
    const REPLY: usize = 1000;
    const N: usize = 20;
    let (listener, sink) = lab.in_b(|| {
        // SAFETY: socket(2); checked, then owned.
        let l = unsafe { OwnedFd::from_raw_fd(libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)) };
        assert!(l.as_raw_fd() >= 0);
        bind(l.as_raw_fd(), B_IP, 7100);
        // SAFETY: listen(2) on our socket.
        assert_eq!(unsafe { libc::listen(l.as_raw_fd(), 4) }, 0);
        let s = udp_socket();
        bind(s.as_raw_fd(), B_IP, 5060);
        (l, s)
    });
    // B's side answers each 100-byte request with REPLY bytes, on the same CPU as the rest.
    let server = std::thread::spawn(move || {
        pin_to_cpu(0);
        // SAFETY: accept(2) on our listener; checked, then owned.
        let c = unsafe { libc::accept(listener.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut()) };
        assert!(c >= 0, "accept: {}", std::io::Error::last_os_error());
        // SAFETY: a fresh descriptor.
        let c = unsafe { OwnedFd::from_raw_fd(c) };
        let mut buf = [0u8; 100];
        for _ in 0..ROUNDS {
            let mut got = 0;
            while got < buf.len() {
                // SAFETY: reads into our buffer.
                let n = unsafe { libc::recv(c.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len() - got, 0) };
                assert!(n > 0);
                got += n as usize;
            }
            let reply = [0x33u8; REPLY];
            // SAFETY: sends from our buffer.
            assert_eq!(unsafe { libc::send(c.as_raw_fd(), reply.as_ptr().cast(), REPLY, 0) }, REPLY as isize);
        }
    });
    lab.in_a(|| {
        let mut p = load(&ProbeConfig::default());
        let veth = ifindex("ttp0");
        p.attach_iface(veth, 14, false).unwrap();
        pin_to_cpu(0);
        let busy = fork_child(|| loop {
            std::hint::spin_loop();
        });
        let child = fork_child(|| {
            // SAFETY: socket(2) in the child.
            let t = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
            if t < 0 || connect(t, B_IP, 7100) != 0 {
                return 2;
            }
            let mut buf = [0u8; REPLY];
            for _ in 0..ROUNDS {
                if send_n(t, 1, 100, false) != 1 {
                    return 3;
                }
                let mut got = 0;
                while got < REPLY {
                    // SAFETY: reads into our buffer.
                    let n = unsafe { libc::recv(t, buf.as_mut_ptr().cast(), REPLY - got, 0) };
                    if n <= 0 {
                        return 4;
                    }
                    got += n as usize;
                }
                // Long enough for the delayed ACK of the reply to fire from the timer softirq.
                // SAFETY: sleeps.
                unsafe { libc::usleep(60_000) };
            }
            // SAFETY: socket(2) in the child.
            let u = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
            if u < 0 || connect(u, B_IP, 5060) != 0 || send_n(u, N, 100, false) != N {
                return 5;
            }
            0
        });
        let status = wait_child(child);
        // SAFETY: kills our own child, by pid, and reaps it.
        unsafe {
            libc::kill(busy as i32, libc::SIGKILL);
            libc::waitpid(busy as i32, std::ptr::null_mut(), 0);
        }
        assert_eq!(status, 0, "the child's exchange");

        let mut recs = Vec::new();
        records_until(&mut p, &mut recs, |r| {
            socks(r).filter(|s| s.op == abi::SOCK_CREATE && s.tgid == child).count() == 2
                && r.iter()
                    .filter(|r| matches!(r, Record::Packet { rec, data } if rec.direction == abi::DIR_OUT && data.get(22..24) == Some(&5060u16.to_be_bytes()[..])))
                    .count()
                    == N
        });
        let cookie_of = |proto: u8| {
            socks(&recs)
                .find(|s| s.op == abi::SOCK_CREATE && s.tgid == child && s.protocol == proto)
                .unwrap_or_else(|| panic!("no CREATE of protocol {proto} by {child}: {recs:#?}"))
                .cookie
        };
        let (tcp, udp) = (cookie_of(6), cookie_of(17));
        let c = counters_until(&p, |c| iface_packets(c, |f| f.key.cookie == udp) == N as u64);
        let tcp_out = iface_packets(&c, |f| f.key.cookie == tcp);
        assert!(tcp_out >= 2 * ROUNDS as u64, "requests and ACKs: {:#?}", c.iface_flows);
        assert_eq!(per_tgid(&c, tcp, abi::DIR_OUT), vec![(child, tcp_out)], "busy {busy}: {:#?}", c.sock_flows);
        assert!(per_tgid(&c, tcp, abi::DIR_IN).iter().all(|&(t, _)| t == child), "{:#?}", c.sock_flows);
        assert_eq!(per_tgid(&c, udp, abi::DIR_OUT), vec![(child, N as u64)]);
        assert!(c.sock_flows.iter().all(|f| f.key.tgid != busy), "busy {busy}: {:#?}", c.sock_flows);
        let samples: Vec<_> = recs
            .iter()
            .filter_map(|r| match r {
                Record::Packet { rec, .. } if rec.cookie == udp => Some(rec.tgid),
                _ => None,
            })
            .collect();
        assert_eq!(samples, vec![child; N], "each SIP-port datagram sampled once, the child's");
        assert!(!recs.iter().any(|r| matches!(r, Record::Packet { rec, .. } if rec.tgid == busy)));
    });
    server.join().unwrap();
    drop(sink);
}

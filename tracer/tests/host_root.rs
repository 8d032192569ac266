//! The host edge (tuntrace::host) against a real kernel, in network namespaces these tests
//! create and remove. Needs root; skipped only when not root and TUNTRACE_REQUIRE_ROOT is
//! unset (CI sets it, so there a missing privilege fails).
//!
//! Each test works in its own namespaces, named after this process and the test, so the tests
//! run in parallel. The work happens in a thread that entered the namespace (setns), or in a
//! child started with `ip netns exec`. Addresses are from 198.18.0.0/15 only.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tuntrace::host::links::{self, LinkKind, TunMode};
use tuntrace::host::procs::ProcessCache;
use tuntrace::host::routes::{self, RouteKind};
use tuntrace::host::watch::{self, LinkEvent};
use tuntrace::host::{clock, netns, tun};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// True when the test may run; panics when root is required and missing.
fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    if std::env::var_os("TUNTRACE_REQUIRE_ROOT").is_some() {
        panic!("{test}: needs root (network namespaces, TUN devices); TUNTRACE_REQUIRE_ROOT is set");
    }
    eprintln!("{test}: SKIPPED, not root (set TUNTRACE_REQUIRE_ROOT=1 to make this a failure)");
    false
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).stdin(Stdio::null()).output().expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace that lives as long as the value.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("tt-host-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).stderr(Stdio::null()).status();
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NS …`
    fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all);
    }

    fn inode(&self) -> u64 {
        std::fs::metadata(format!("/run/netns/{}", self.name)).unwrap().ino()
    }

    /// Runs `f` in a thread that entered this namespace; the test's other threads stay put.
    fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let file = std::fs::File::open(format!("/run/netns/{}", self.name)).unwrap();
        let t = std::thread::spawn(move || {
            // SAFETY: setns on a namespace fd we hold, for this thread only.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        });
        t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))
    }
}

/// Adds a plain (non-tunnel) link: a dummy, or a bridge on kernels built without dummy (the
/// test hosts' kernel is one). Returns the kind it made.
fn add_plain_link(ns: &Netns, name: &str) -> LinkKind {
    let out = Command::new("ip").args(["-n", &ns.name, "link", "add", name, "type", "dummy"]).output().unwrap();
    if out.status.success() {
        return LinkKind::Dummy;
    }
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Unknown device type"), "ip link add {name} type dummy: {err}");
    eprintln!("this kernel has no dummy links: {name} is a bridge instead");
    ns.ip(&["link", "add", name, "type", "bridge"]);
    LinkKind::Bridge
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// A child of this test binary, inside a namespace, holding TUN `name` open until we close
/// its stdin (see `helper_hold_tun`).
struct TunHolderChild {
    child: Child,
}

impl TunHolderChild {
    fn start(ns: &Netns, name: &str) -> TunHolderChild {
        let exe = std::env::current_exe().unwrap();
        // `ip netns exec` execs in place, so the child's pid is the holder's pid.
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(exe)
            .args(["--exact", "helper_hold_tun", "--ignored", "--nocapture", "--test-threads=1"])
            .env("TT_HOLD_TUN", name)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The harness prints "test helper_hold_tun ... " before the helper's own words, on
        // the same line. Lines are read in a thread so a helper that hangs fails the test.
        let (tx, rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            // Read to the end even after "ready", so the helper's last words find a reader.
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(l) if l.ends_with("tt-ready") => break,
                Ok(l) if l.contains("tt-error") => panic!("TUN helper: {l}"),
                Ok(_) => continue,
                Err(e) => {
                    // Our own child, not yet reaped: its pid is still its own.
                    let _ = child.kill();
                    let status = child.wait();
                    panic!("TUN helper did not come to hold {name} ({e:?}): {status:?}");
                }
            }
        }
        TunHolderChild { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for TunHolderChild {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // EOF: the helper closes its TUN and exits
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Our own child, still unreaped, so its pid cannot have been reused.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Not a test: the TUN-holding process of `TunHolderChild`, run as
/// `--exact helper_hold_tun --ignored` with TT_HOLD_TUN=NAME. Without it, returns at once.
#[test]
#[ignore = "helper process for the root tests, started by them"]
fn helper_hold_tun() {
    let Some(name) = std::env::var_os("TT_HOLD_TUN") else { return };
    let name = name.into_string().unwrap();
    let file = std::fs::OpenOptions::new().read(true).write(true).open("/dev/net/tun");
    let file = match file {
        Ok(f) => f,
        Err(e) => {
            println!("tt-error open /dev/net/tun: {e}");
            return;
        }
    };
    // struct ifreq: 16-byte name, then the flags (a short) in a 24-byte union.
    let mut ifr = [0u8; 40];
    ifr[..name.len()].copy_from_slice(name.as_bytes());
    let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
    // SAFETY: TUNSETIFF reads and writes the ifreq we pass, which outlives the call.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), libc::TUNSETIFF, ifr.as_mut_ptr()) };
    if rc != 0 {
        println!("tt-error TUNSETIFF {name}: {}", std::io::Error::last_os_error());
        return;
    }
    println!("tt-ready");
    // Hold the device until the test closes our stdin.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    drop(file);
}

/// Snapshot of a namespace with a veth pair, a veth to another namespace, a dummy (or bridge), a
/// persistent TUN nobody holds and a TUN held by a child; holders found from fdinfo, with a
/// same-named TUN in another namespace told apart by its namespace.
#[test]
fn snapshot_lists_veth_dummy_and_tuns_with_their_holders() {
    if !root_or_skip("snapshot_lists_veth_dummy_and_tuns_with_their_holders") {
        return;
    }
    let ns = Netns::new("snap");
    let other = Netns::new("snap2");
    ns.ip(&["link", "add", "ttv0", "type", "veth", "peer", "name", "ttv1"]);
    ns.ip(&["link", "add", "ttx0", "type", "veth", "peer", "name", "ttx1", "netns", &other.name]);
    let plain = add_plain_link(&ns, "ttd0");
    ns.ip(&["tuntap", "add", "dev", "ttp0", "mode", "tun"]);
    ns.ip(&["addr", "add", "198.18.0.1/30", "dev", "ttv0"]);
    ns.ip(&["link", "set", "ttv0", "mtu", "1400", "up"]);
    ns.ip(&["link", "set", "ttv1", "up"]);
    let holder = TunHolderChild::start(&ns, "tth0");
    let elsewhere = TunHolderChild::start(&other, "tth0");
    let (holder_pid, elsewhere_pid) = (holder.pid(), elsewhere.pid());

    let (snap, me, holders) =
        ns.run(|| (links::snapshot().unwrap(), netns::current().unwrap(), tun::holders().unwrap()));
    let names: Vec<&str> = snap.links.iter().map(|l| l.name.as_str()).collect();
    eprintln!("links in the namespace: {names:?}");
    assert_eq!(snap.undecoded, 0);

    // Our namespace's identity is the one `ip netns` made, and not the test's own.
    assert_eq!(me.inode, ns.inode());
    assert!(me.cookie.is_some(), "SO_NETNS_COOKIE on kernel ≥ 5.14");
    assert_ne!(me.cookie, netns::current().unwrap().cookie);

    let lo = snap.by_name("lo").unwrap();
    assert_eq!((lo.kind.as_ref(), lo.l2_header_len(), lo.is_tunnel()), (None, Some(14), false));
    assert!(lo.flags.loopback() && lo.flags.up());

    let v0 = snap.by_name("ttv0").unwrap();
    let v1 = snap.by_name("ttv1").unwrap();
    assert_eq!(v0.kind, Some(LinkKind::Veth));
    assert_eq!((v0.link_type, v0.l2_header_len(), v0.mtu), (libc::ARPHRD_ETHER, Some(14), Some(1400)));
    assert!(v0.flags.up() && !v0.flags.point_to_point() && !v0.is_tunnel());
    assert_eq!(v0.link, Some(v1.index), "a veth names its peer");
    assert_eq!(v0.link_netnsid, None, "peer in the same namespace");
    let addrs: Vec<String> = v0.addresses.iter().map(|a| a.to_string()).collect();
    assert!(addrs.contains(&"198.18.0.1/30".to_string()), "{addrs:?}");
    // Besides, only the IPv6 link-local address the kernel gives a link that comes up.
    assert!(addrs.iter().all(|a| a == "198.18.0.1/30" || (a.starts_with("fe80::") && a.ends_with("/64"))), "{addrs:?}");

    let x0 = snap.by_name("ttx0").unwrap();
    assert_eq!(x0.kind, Some(LinkKind::Veth));
    assert!(x0.link_netnsid.is_some(), "peer in another namespace: {x0:?}");
    assert!(snap.by_name("ttx1").is_none());

    let d0 = snap.by_name("ttd0").unwrap();
    assert_eq!((d0.kind.as_ref(), d0.is_tunnel(), d0.tun.as_ref()), (Some(&plain), false, None));
    assert_eq!(d0.l2_header_len(), Some(14));

    let p0 = snap.by_name("ttp0").unwrap();
    assert_eq!(p0.kind, Some(LinkKind::Tun));
    assert_eq!((p0.link_type, p0.l2_header_len()), (libc::ARPHRD_NONE, Some(0)));
    assert!(p0.is_tunnel() && p0.flags.point_to_point() && p0.flags.noarp());
    assert!(!p0.flags.running(), "nobody holds it, so no carrier");
    let t = p0.tun.as_ref().expect("IFLA_INFO_DATA for tun");
    assert_eq!((t.mode, t.persist, t.pi, t.multi_queue), (Some(TunMode::Tun), Some(true), Some(false), Some(false)));

    let h0 = snap.by_name("tth0").unwrap();
    assert_eq!(h0.kind, Some(LinkKind::Tun));
    assert_eq!(h0.tun.as_ref().unwrap().persist, Some(false));
    assert_eq!(h0.tun.as_ref().unwrap().pi, Some(false), "opened with IFF_NO_PI");
    assert!(h0.is_tunnel());

    // Holders: ours is the child in our namespace; the other namespace's tth0 has its own.
    let all = &holders.by_name["tth0"];
    assert!(all.iter().any(|h| h.pid == holder_pid && h.netns == Some(me.inode)), "{all:?}");
    assert!(all.iter().any(|h| h.pid == elsewhere_pid && h.netns == Some(other.inode())), "{all:?}");
    let mine = holders.holders("tth0", me.inode);
    assert_eq!(mine.iter().map(|h| h.pid).collect::<Vec<_>>(), [holder_pid]);
    assert!(mine[0].fd > 2);
    assert!(holders.holders("ttp0", me.inode).is_empty(), "the persistent TUN has no holder");
    assert_eq!(holders.in_netns(me.inode).by_name.keys().collect::<Vec<_>>(), ["tth0"]);
    drop((holder, elsewhere));
}

fn describe(e: &LinkEvent) -> String {
    match e {
        LinkEvent::Added(l) => format!("added {} mtu {:?}", l.name, l.mtu),
        LinkEvent::Changed { after, what, .. } => format!("changed {} {what:?} mtu {:?}", after.name, after.mtu),
        LinkEvent::Removed(l) => format!("removed {}", l.name),
        LinkEvent::AddressAdded { name, addr, .. } => format!("address added {name:?} {addr}"),
        LinkEvent::AddressRemoved { name, addr, .. } => format!("address removed {name:?} {addr}"),
    }
}

/// A link that appears, changes MTU, gains an address and goes, reported in that order.
#[test]
fn watch_follows_a_link_from_added_to_removed() {
    if !root_or_skip("watch_follows_a_link_from_added_to_removed") {
        return;
    }
    let ns = Netns::new("watch");
    // Made once and removed before the watch starts, to learn which plain kind this kernel has.
    let kind = add_plain_link(&ns, "ttw0").as_str().to_string();
    ns.ip(&["link", "del", "ttw0"]);
    let name = ns.name.clone();
    let events = ns.run(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let mut w = watch::watch().unwrap();
            assert!(w.links().any(|l| l.name == "lo"), "the starting view");
            // A quiet namespace gives no events.
            assert!(tokio::time::timeout(Duration::from_millis(200), w.next()).await.is_err());
            let nsip = |args: &[&str]| {
                let mut all = vec!["-n", &name];
                all.extend_from_slice(args);
                ip(&all);
            };
            nsip(&["link", "add", "ttw0", "type", &kind]);
            nsip(&["link", "set", "ttw0", "mtu", "1280"]);
            nsip(&["addr", "add", "198.18.1.1/24", "dev", "ttw0"]);
            nsip(&["link", "del", "ttw0"]);
            let mut seen = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let e = tokio::time::timeout_at(deadline, w.next())
                    .await
                    .unwrap_or_else(|_| panic!("timed out; events so far: {seen:#?}"))
                    .unwrap();
                let done = matches!(&e, LinkEvent::Removed(l) if l.name == "ttw0");
                seen.push(describe(&e));
                if done {
                    break;
                }
            }
            assert!(w.links().all(|l| l.name != "ttw0"), "the view follows the removal");
            assert_eq!(w.overruns(), 0);
            seen
        })
    });
    eprintln!("{events:#?}");
    let wanted = [
        "added ttw0 mtu Some(1500)",
        "changed ttw0 LinkChange { name: false, mtu: true, flags: false, other: false } mtu Some(1280)",
        "address added Some(\"ttw0\") 198.18.1.1/24",
        "removed ttw0",
    ];
    // In this order; other events of the link (none expected but an address removal on
    // deletion) may come between.
    let mut at = 0;
    for w in wanted {
        match events[at..].iter().position(|e| e == w) {
            Some(i) => at += i + 1,
            None => panic!("missing or out of order: {w}\nall events: {events:#?}"),
        }
    }
    let stray: Vec<&String> =
        events.iter().filter(|e| !wanted.contains(&e.as_str()) && !e.contains("removed")).collect();
    assert!(stray.is_empty(), "unexpected events: {stray:#?}");
}

/// `ip route get` for a peer on the veth's subnet and behind a gateway, no route elsewhere;
/// the routes out of the veth and the rules that lead to its tables.
#[test]
fn routes_to_a_peer_and_the_policy_around_a_link() {
    if !root_or_skip("routes_to_a_peer_and_the_policy_around_a_link") {
        return;
    }
    let ns = Netns::new("route");
    ns.ip(&["link", "add", "ttr0", "type", "veth", "peer", "name", "ttr1"]);
    ns.ip(&["link", "add", "ttq0", "type", "veth", "peer", "name", "ttq1"]);
    ns.ip(&["addr", "add", "198.18.2.1/24", "dev", "ttr0"]);
    for l in ["ttr0", "ttr1", "ttq0", "ttq1"] {
        ns.ip(&["link", "set", l, "up"]);
    }
    ns.ip(&["route", "add", "198.18.3.0/24", "via", "198.18.2.2"]);
    ns.ip(&["route", "add", "198.18.4.0/24", "dev", "ttr0", "table", "220"]);
    ns.ip(&["rule", "add", "from", "198.18.2.1", "table", "220", "priority", "100"]);
    ns.ip(&["route", "add", "198.18.5.0/24", "dev", "ttq0", "table", "230"]);
    ns.ip(&["rule", "add", "to", "198.18.5.0/24", "table", "230", "priority", "101"]);

    let (snap, peer, behind, nowhere, own, via, rules) = ns.run(|| {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let snap = links::snapshot().unwrap();
        let r0 = snap.by_name("ttr0").unwrap().index;
        (
            snap,
            routes::route_to(ip("198.18.2.2")).unwrap(),
            routes::route_to(ip("198.18.3.7")).unwrap(),
            routes::route_to(ip("198.19.255.1")).unwrap(),
            routes::route_to(ip("198.18.2.1")).unwrap(),
            routes::routes_via(r0).unwrap(),
            routes::rules_via(r0).unwrap(),
        )
    });
    let r0 = snap.by_name("ttr0").unwrap().index;
    let lo = snap.by_name("lo").unwrap().index;
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();

    let peer = peer.expect("a route to the peer");
    assert_eq!((peer.ifindex, peer.gateway, peer.src, peer.local), (r0, None, Some(ip("198.18.2.1")), false));
    assert_eq!(peer.table, 254);
    let behind = behind.expect("a route behind the gateway");
    assert_eq!((behind.ifindex, behind.gateway), (r0, Some(ip("198.18.2.2"))));
    assert_eq!(nowhere, None, "no default route in the namespace");
    let own = own.expect("our own address");
    assert_eq!((own.ifindex, own.local), (lo, true));

    let shown: Vec<String> =
        via.iter().map(|r| format!("{:?} {:?} table {} {:?}", r.dst, r.gateway, r.table, r.kind)).collect();
    eprintln!("{shown:#?}");
    assert!(via.iter().any(|r| r.dst == Some((ip("198.18.2.0"), 24)) && r.table == 254 && r.gateway.is_none()));
    assert!(via.iter().any(|r| r.dst == Some((ip("198.18.3.0"), 24)) && r.gateway == Some(ip("198.18.2.2"))));
    assert!(via.iter().any(|r| r.dst == Some((ip("198.18.4.0"), 24)) && r.table == 220));
    assert!(via.iter().any(|r| r.dst == Some((ip("198.18.2.1"), 32)) && r.kind == RouteKind::Local));
    assert!(via.iter().all(|r| r.oifs.contains(&r0)));
    assert!(!via.iter().any(|r| r.table == 230), "table 230 leaves through ttq0");

    eprintln!("{rules:#?}");
    let r220 = rules.iter().find(|r| r.table == Some(220)).expect("the rule to table 220");
    assert_eq!((r220.priority, r220.src, r220.ipv6), (Some(100), Some((ip("198.18.2.1"), 32)), false));
    assert!(rules.iter().any(|r| r.table == Some(254)), "main holds routes out of ttr0 too");
    assert!(rules.iter().all(|r| r.table != Some(230)), "rules to tables not using ttr0 are left out");
}

/// A child's facts from /proc, on the boot clock, kept after it exits and is reaped.
#[test]
fn procs_keep_a_child_after_it_exits() {
    // No privilege needed: runs as any user.
    let sleep = ["/usr/bin/sleep", "/bin/sleep"].into_iter().find(|p| std::path::Path::new(p).exists()).unwrap();
    let exe = std::fs::canonicalize(sleep).unwrap();
    let mut cache = ProcessCache::new(64).unwrap();
    let before = clock::boot_now().unwrap();
    let mut child = Command::new(sleep).arg("30").stdin(Stdio::null()).spawn().unwrap();
    let pid = child.id();
    // Until exec, the child is a copy of us: wait for /proc to show sleep. The kernel names
    // the new program (comm) before it lays out the new arguments, so wait for both: in
    // between, cmdline reads empty (seen once in CI).
    let deadline = Instant::now() + Duration::from_secs(5);
    let execed = || {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        comm.trim() == "sleep" && cmdline.ends_with(b"30\0")
    };
    while !execed() {
        assert!(Instant::now() < deadline, "the child never became sleep");
        std::thread::sleep(Duration::from_millis(5));
    }
    let after = clock::boot_now().unwrap();
    let p = cache.observe(pid).unwrap().clone();
    assert_eq!(p.comm.as_deref(), Some("sleep"));
    assert_eq!(p.exe.as_deref(), exe.to_str());
    assert_eq!(p.cmdline, Some(format!("{sleep} 30")));
    assert_eq!(p.ppid, Some(std::process::id()));
    // SAFETY: getuid has no preconditions.
    assert_eq!(p.uid, Some(unsafe { libc::getuid() }));
    // Start time: truncated to one tick, between our two boot-clock readings.
    let tick = 1_000_000_000 / cache.clock().ticks_per_second;
    assert!(p.start.0 + tick >= before.0 && p.start <= after, "{:?} not in [{before:?}, {after:?}]", p.start);
    assert!(!p.exited);

    child.kill().unwrap(); // our own child, by its handle
    child.wait().unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let gone = cache.observe(pid).expect("kept after exit").clone();
    assert!(gone.exited);
    assert_eq!((gone.comm, gone.exe, gone.cmdline, gone.start), (p.comm, p.exe, p.cmdline, p.start));
    assert_eq!(cache.len(), 1);
    // Pid reuse cannot be forced here (the pid space would have to wrap): the unit test
    // `procs::a_reused_pid_is_a_second_process` covers it with synthetic entries.
}

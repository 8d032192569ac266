//! The live tracer's cost per hook, quickly, as root: a 64-byte UDP flood through a veth between
//! two namespaces of its own (198.18.0.0/30), with no probes and with every probe loaded and the
//! veth traced, runs alternated (throughput, and the CPU time per datagram of the sending and
//! the receiving thread); the cost of write(2) to /dev/null (any syscall tracepoint, here
//! sys_exit_ioctl's, puts every syscall on the tracing slow path); then one run with bpf_stats on
//! for each program's ns per run. Prints medians; asserts nothing. ci/bench-live is the full
//! benchmark (veth and TUN, both directions, two sizes, the tracer as its own process).
//!
//!   cargo run --release -p tuntrace --example live_overhead [seconds per run [rounds]]
//!
//! Rounds 0: only the bpf_stats run (for comparing versions of a hook).

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("live_overhead: Linux only");
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::File;
    use std::os::fd::AsRawFd;
    use std::process::Command;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use tuntrace::live::{ProbeConfig, Probes};

    /// CPU ns per datagram of the last flood's sending and receiving threads. On veth the
    /// receive path (softirq included) mostly runs in the sender's thread as it transmits, so
    /// the sender's figure carries most of what tc and the receive hooks add.
    static TX_CPU: AtomicU64 = AtomicU64::new(0);
    static RX_CPU: AtomicU64 = AtomicU64::new(0);

    fn ip(args: &[&str]) {
        let ok = Command::new("ip").args(args).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "ip {args:?} failed");
    }

    fn enter(ns: &str) {
        let f = File::open(format!("/var/run/netns/{ns}")).expect("netns");
        // SAFETY: setns on the calling thread.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
    }

    fn udp(ip: [u8; 4], port: u16, connect_to: Option<([u8; 4], u16)>) -> i32 {
        let sa = |ip: [u8; 4], port: u16| libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: port.to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(ip) },
            sin_zero: [0; 8],
        };
        // SAFETY: plain socket calls with valid sockaddr_in values.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
            let a = sa(ip, port);
            assert_eq!(libc::bind(fd, (&a as *const libc::sockaddr_in).cast(), 16), 0);
            if let Some((ip, port)) = connect_to {
                let b = sa(ip, port);
                assert_eq!(libc::connect(fd, (&b as *const libc::sockaddr_in).cast(), 16), 0);
            }
            let big: libc::c_int = 8 << 20;
            libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, (&big as *const libc::c_int).cast(), 4);
            fd
        }
    }

    /// CPU time of the calling thread (user + system), ns.
    fn thread_cpu_ns() -> u64 {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes one timespec.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// (sent per s, received per s) for one flood of `secs`.
    fn flood(a: &str, b: &str, secs: f64) -> (f64, f64) {
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let rx = s.spawn(|| {
                enter(b);
                let fd = udp([198, 18, 0, 2], 9999, None);
                let mut buf = [0u8; 2048];
                let mut n = 0u64;
                let cpu0 = thread_cpu_ns();
                let tv = libc::timeval { tv_sec: 0, tv_usec: 100_000 };
                // SAFETY: sets a receive timeout on our socket.
                unsafe {
                    libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, (&tv as *const libc::timeval).cast(), 16)
                };
                loop {
                    // SAFETY: reads into our buffer.
                    let r = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
                    if r > 0 {
                        n += 1;
                    } else if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                // SAFETY: closes our socket.
                unsafe { libc::close(fd) };
                RX_CPU.store((thread_cpu_ns() - cpu0) / n.max(1), Ordering::Relaxed);
                n
            });
            std::thread::sleep(Duration::from_millis(100));
            let sent = {
                enter(a);
                let fd = udp([198, 18, 0, 1], 0, Some(([198, 18, 0, 2], 9999)));
                let payload = [0u8; 64];
                let end = Instant::now() + Duration::from_secs_f64(secs);
                let mut n = 0u64;
                let cpu0 = thread_cpu_ns();
                while Instant::now() < end {
                    for _ in 0..256 {
                        // SAFETY: sends from our buffer.
                        if unsafe { libc::send(fd, payload.as_ptr().cast(), payload.len(), 0) } > 0 {
                            n += 1;
                        }
                    }
                }
                TX_CPU.store((thread_cpu_ns() - cpu0) / n.max(1), Ordering::Relaxed);
                // SAFETY: closes our socket.
                unsafe { libc::close(fd) };
                n
            };
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::Relaxed);
            let got = rx.join().unwrap();
            (sent as f64 / secs, got as f64 / secs)
        })
    }

    /// ns per 1-byte write(2) to /dev/null.
    fn write_cost() -> f64 {
        let f = File::options().write(true).open("/dev/null").unwrap();
        let n = 2_000_000;
        let t = Instant::now();
        for _ in 0..n {
            // SAFETY: writes one byte from a static buffer.
            unsafe { libc::write(f.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        }
        t.elapsed().as_nanos() as f64 / n as f64
    }

    fn median(v: &mut [f64]) -> f64 {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    }

    /// Runs alternate without and with probes: the shared host's speed drifts from minute to minute.
    const ROUNDS: usize = 7;

    fn load_in(ns: &str) -> Probes {
        std::thread::scope(|s| {
            s.spawn(|| {
                enter(ns);
                let mut p = Probes::load(&ProbeConfig::default()).expect("load");
                let c = std::ffi::CString::new("tto0").unwrap();
                // SAFETY: a NUL-terminated name.
                let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
                p.attach_iface(idx, 14, false).expect("attach");
                p
            })
            .join()
            .unwrap()
        })
    }

    /// On SIGINT or SIGTERM: delete the two namespaces (the veth goes with them), put
    /// bpf_stats back and exit; the probes are fd-owned and go with the process. Both signals
    /// are blocked in every thread (those spawned later inherit the mask) and taken by one that
    /// waits for them.
    fn cleanup_on_signal(namespaces: [String; 2], stats_before: String) {
        // SAFETY: sigset operations on a local set; pthread_sigmask on the calling thread.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            set
        };
        std::thread::spawn(move || {
            let mut sig = 0;
            // SAFETY: waits for one of the blocked signals of `set`.
            unsafe { libc::sigwait(&set, &mut sig) };
            eprintln!("live_overhead: signal {sig}, removing {namespaces:?}");
            let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", &stats_before);
            for ns in &namespaces {
                let _ = Command::new("ip").args(["netns", "del", ns]).status();
            }
            std::process::exit(130);
        });
    }

    pub fn main() {
        let secs: f64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(2.0);
        let rounds: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(ROUNDS);
        let pid = std::process::id();
        let (a, b) = (format!("tt-ovh-{pid}-a"), format!("tt-ovh-{pid}-b"));
        for ns in [&a, &b] {
            ip(&["netns", "add", ns]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        ip(&["link", "add", "tto0", "netns", &a, "type", "veth", "peer", "name", "tto1", "netns", &b]);
        ip(&["-n", &a, "addr", "add", "198.18.0.1/30", "dev", "tto0"]);
        ip(&["-n", &b, "addr", "add", "198.18.0.2/30", "dev", "tto1"]);
        ip(&["-n", &a, "link", "set", "tto0", "up"]);
        ip(&["-n", &b, "link", "set", "tto1", "up"]);
        std::thread::sleep(Duration::from_millis(300));
        let stats_before = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").unwrap_or_default();
        cleanup_on_signal([a.clone(), b.clone()], stats_before.trim().to_string());

        let (mut base_tx, mut base_rx, mut base_w) = (Vec::new(), Vec::new(), Vec::new());
        let (mut on_tx, mut on_rx, mut on_w) = (Vec::new(), Vec::new(), Vec::new());
        let (mut base_cpu, mut on_cpu) = (Vec::new(), Vec::new());
        let mut stats = None;
        for round in 0..rounds {
            let (tx, rx) = flood(&a, &b, secs);
            base_tx.push(tx);
            base_rx.push(rx);
            base_cpu.push((TX_CPU.load(Ordering::Relaxed) as f64, RX_CPU.load(Ordering::Relaxed) as f64));
            base_w.push(write_cost());
            let probes = load_in(&a);
            let (tx, rx) = flood(&a, &b, secs);
            on_tx.push(tx);
            on_rx.push(rx);
            on_cpu.push((TX_CPU.load(Ordering::Relaxed) as f64, RX_CPU.load(Ordering::Relaxed) as f64));
            on_w.push(write_cost());
            let c = probes.read_counters().expect("counters");
            let counted: u64 = c.iface_flows.iter().filter(|f| f.key.dport == 9999).map(|f| f.packets).sum();
            eprintln!(
                "round {round}: off {:.0}/{:.0} pps sent/received, on {tx:.0}/{rx:.0} (tc counted {counted})",
                base_tx[round], base_rx[round]
            );
            stats = Some(c.stats);
            drop(probes);
        }
        if rounds > 0 {
            let (bt, br, bw) = (median(&mut base_tx), median(&mut base_rx), median(&mut base_w));
            let (ot, or, ow) = (median(&mut on_tx), median(&mut on_rx), median(&mut on_w));
            println!("UDP 64-byte flood over veth, median of {rounds} runs of {secs} s each way");
            println!("  without probes: {bt:>10.0} pps sent  {br:>10.0} pps received");
            println!("  with probes:    {ot:>10.0} pps sent  {or:>10.0} pps received");
            println!(
                "  sender throughput {:+.1} %, receiver {:+.1} %",
                (ot / bt - 1.0) * 100.0,
                (or / br - 1.0) * 100.0
            );
            println!("write(2) to /dev/null: {bw:.0} ns without, {ow:.0} ns with probes ({:+.0} ns)", ow - bw);
            let (mut btc, mut brc): (Vec<f64>, Vec<f64>) = base_cpu.iter().copied().unzip();
            let (mut otc, mut orc): (Vec<f64>, Vec<f64>) = on_cpu.iter().copied().unzip();
            let (btc, brc, otc, orc) = (median(&mut btc), median(&mut brc), median(&mut otc), median(&mut orc));
            println!(
            "CPU per datagram: sender thread {btc:.0} -> {otc:.0} ns ({:+.0}), receiver thread {brc:.0} -> {orc:.0} ns ({:+.0})",
            otc - btc,
            orc - brc
        );
            println!("last run's loss counters: {stats:?}");
        }

        // Where the time goes: one more run with the kernel's per-program accounting on (it adds
        // a little to every run, so it is kept out of the runs above).
        let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", "1");
        let probes = load_in(&a);
        let (tx, _) = flood(&a, &b, secs);
        let _ = write_cost();
        let sent = (tx * secs) as u64;
        println!("per-hook cost ({sent} datagrams, then 2 M write(2) to /dev/null):");
        let mut per_datagram = 0.0;
        for (name, runs, time) in probes.program_stats() {
            if runs > 0 {
                let avg = time.as_nanos() as f64 / runs as f64;
                let per = runs as f64 / sent as f64;
                if (0.9..1.1).contains(&per) {
                    per_datagram += avg;
                }
                println!("  {name:<22} {runs:>10} runs {avg:>7.0} ns/run");
            }
        }
        println!("  BPF time per datagram (hooks that ran once per datagram): {per_datagram:.0} ns");
        drop(probes);
        let _ = std::fs::write("/proc/sys/kernel/bpf_stats_enabled", stats_before.trim());
        for ns in [&a, &b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

//! The traffic of ci/bench-live: a UDP sender, a receiver and a TUN forwarder, each a process of
//! its own so the bench can put it in a namespace (`ip netns exec`), know its pid and end it by
//! pid. Plain syscalls, nothing else: what they cost is what a minimal application costs.
//!
//!   udp_flood send --to IP:PORT --size BYTES --secs S     floods from a connected socket
//!   udp_flood recv --bind IP:PORT --secs S                counts what arrives until S s pass
//!                                                         (or 0.3 s without a datagram once
//!                                                         something arrived)
//!   udp_flood tun-pair NS_A:TUN_A NS_B:TUN_B              creates a TUN in each namespace and
//!                                                         copies packets between them until
//!                                                         SIGTERM or SIGINT
//!
//!   udp_flood report FILE --flow IP:PORT --pid PID        reads a `tuntrace trace --json`
//!                                                         report: the packets of the UDP flows
//!                                                         to or from IP:PORT, how many of them
//!                                                         the report gives to PID, PID's own
//!                                                         packets, what it lost
//!
//! Each prints one line of `key=value` figures on stdout when it ends (tun-pair also prints
//! `ready` once both devices exist), so a shell script can read them.

#[cfg(target_os = "linux")]
fn main() {
    std::process::exit(linux::main());
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("udp_flood: Linux only");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::fs::File;
    use std::net::SocketAddrV4;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    static STOP: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: libc::c_int) {
        STOP.store(true, Ordering::Relaxed);
    }

    fn usage() -> i32 {
        eprintln!(
            "usage: udp_flood send --to IP:PORT --size BYTES --secs S\n       udp_flood recv --bind IP:PORT --secs S\n       udp_flood tun-pair NS_A:TUN_A NS_B:TUN_B\n       udp_flood report FILE --flow IP:PORT --pid PID"
        );
        2
    }

    pub fn main() -> i32 {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let opt = |name: &str| args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone());
        let secs = opt("--secs").and_then(|s| s.parse::<f64>().ok()).unwrap_or(3.0);
        let result = match args.first().map(String::as_str) {
            Some("send") => {
                match (opt("--to").and_then(|s| s.parse().ok()), opt("--size").and_then(|s| s.parse().ok())) {
                    (Some(to), Some(size)) => send(to, size, secs),
                    _ => return usage(),
                }
            }
            Some("recv") => match opt("--bind").and_then(|s| s.parse().ok()) {
                Some(at) => recv(at, secs),
                None => return usage(),
            },
            Some("tun-pair") if args.len() == 3 => tun_pair(&args[1], &args[2]),
            Some("report") if args.len() >= 2 => {
                match (opt("--flow").and_then(|s| s.parse().ok()), opt("--pid").and_then(|s| s.parse().ok())) {
                    (Some(flow), Some(pid)) => report(&args[1], flow, pid),
                    _ => return usage(),
                }
            }
            _ => return usage(),
        };
        match result {
            Ok(line) => {
                println!("{line}");
                0
            }
            Err(e) => {
                eprintln!("udp_flood: {e}");
                1
            }
        }
    }

    fn os_err(what: &str) -> String {
        format!("{what}: {}", std::io::Error::last_os_error())
    }

    fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
        libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: a.port().to_be(),
            sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
            sin_zero: [0; 8],
        }
    }

    fn udp_socket() -> Result<OwnedFd, String> {
        // SAFETY: socket(2); checked, then owned.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(os_err("socket"));
        }
        // SAFETY: a fresh descriptor.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) {
        // SAFETY: an int option from a valid pointer.
        unsafe { libc::setsockopt(fd, level, name, (&value as *const i32).cast(), 4) };
    }

    /// Sends `size`-byte datagrams as fast as one thread can for `secs`. ENOBUFS (a qdisc
    /// dropped the packet after tc saw it) is counted apart from other failures.
    fn send(to: SocketAddrV4, size: usize, secs: f64) -> Result<String, String> {
        let s = udp_socket()?;
        let sa = sockaddr(to);
        // SAFETY: a valid sockaddr_in and its length.
        if unsafe { libc::connect(s.as_raw_fd(), (&sa as *const libc::sockaddr_in).cast(), 16) } != 0 {
            return Err(os_err("connect"));
        }
        let buf = vec![0x5au8; size.max(1)];
        let (mut sent, mut enobufs, mut failed) = (0u64, 0u64, 0u64);
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(secs);
        while Instant::now() < end {
            for _ in 0..64 {
                // SAFETY: sends from our buffer.
                let rc = unsafe { libc::send(s.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) };
                if rc >= 0 {
                    sent += 1;
                } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOBUFS) {
                    enobufs += 1;
                } else {
                    failed += 1;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        Ok(format!("sent={sent} enobufs={enobufs} failed={failed} secs={secs:.3} pid={}", std::process::id()))
    }

    /// Counts datagrams until `secs` pass, or until 0.3 s pass without one after the first.
    /// `drops`: what the socket dropped for lack of buffer (SO_MEMINFO), so received + drops is
    /// everything the kernel delivered to it.
    fn recv(at: SocketAddrV4, secs: f64) -> Result<String, String> {
        let s = udp_socket()?;
        setsockopt_int(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20);
        let sa = sockaddr(at);
        // SAFETY: a valid sockaddr_in and its length.
        if unsafe { libc::bind(s.as_raw_fd(), (&sa as *const libc::sockaddr_in).cast(), 16) } != 0 {
            return Err(os_err("bind"));
        }
        let tv = libc::timeval { tv_sec: 0, tv_usec: 100_000 };
        // SAFETY: a timeval option from a valid pointer.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as u32,
            )
        };
        println!("ready");
        let mut buf = vec![0u8; 65536];
        let (mut n, mut bytes) = (0u64, 0u64);
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(secs);
        let mut last = None;
        while Instant::now() < end {
            // SAFETY: reads into our buffer.
            let rc = unsafe { libc::recv(s.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if rc >= 0 {
                n += 1;
                bytes += rc as u64;
                last = Some(Instant::now());
            } else if last.is_some_and(|t: Instant| t.elapsed() > Duration::from_millis(300)) {
                break;
            }
        }
        // struct sk_meminfo: SK_MEMINFO_DROPS is the 9th u32.
        let mut info = [0u32; 9];
        let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `info`.
        unsafe {
            libc::getsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_MEMINFO, info.as_mut_ptr().cast(), &mut len)
        };
        Ok(format!("received={n} bytes={bytes} drops={} pid={}", info[8], std::process::id()))
    }

    /// Creates TUN `name` (IFF_TUN | IFF_NO_PI) in netns `ns` from a thread that entered it.
    fn tun_in(spec: &str) -> Result<File, String> {
        let (ns, name) = spec.split_once(':').ok_or_else(|| format!("{spec}: want NS:TUN"))?;
        let (ns, name) = (ns.to_owned(), name.to_owned());
        std::thread::spawn(move || -> Result<File, String> {
            let nsf = File::open(format!("/var/run/netns/{ns}")).map_err(|e| format!("netns {ns}: {e}"))?;
            // SAFETY: setns on this thread only, with a netns descriptor.
            if unsafe { libc::setns(nsf.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(os_err("setns"));
            }
            let tun = File::options()
                .read(true)
                .write(true)
                .open("/dev/net/tun")
                .map_err(|e| format!("/dev/net/tun: {e}"))?;
            let mut req = [0u8; 40];
            let n = name.len().min(15);
            req[..n].copy_from_slice(&name.as_bytes()[..n]);
            req[16..18].copy_from_slice(&((libc::IFF_TUN | libc::IFF_NO_PI) as u16).to_ne_bytes());
            // SAFETY: TUNSETIFF reads and writes one struct ifreq (40 bytes).
            if unsafe { libc::ioctl(tun.as_raw_fd(), 0x400454ca, req.as_mut_ptr()) } != 0 {
                return Err(os_err("TUNSETIFF"));
            }
            Ok(tun)
        })
        .join()
        .map_err(|_| "TUN thread panicked".to_owned())?
    }

    /// Copies packets from `from` to `to` until told to stop; counts what was written.
    fn forward(from: &File, to: &File, count: &AtomicU64) {
        let mut buf = vec![0u8; 65536];
        while !STOP.load(Ordering::Relaxed) {
            let mut pfd = libc::pollfd { fd: from.as_raw_fd(), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd; a timeout so that a stop request is seen.
            if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
                continue;
            }
            loop {
                // SAFETY: reads one packet into our buffer (non-blocking descriptor).
                let n = unsafe { libc::read(from.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 {
                    break;
                }
                // SAFETY: writes the packet just read.
                if unsafe { libc::write(to.as_raw_fd(), buf.as_ptr().cast(), n as usize) } == n {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// A userspace "tunnel" between two namespaces: what goes out of one TUN comes in through
    /// the other, as a VPN daemon would do without the encryption and the outer socket.
    fn tun_pair(a: &str, b: &str) -> Result<String, String> {
        for sig in [libc::SIGTERM, libc::SIGINT] {
            // SAFETY: installs an async-signal-safe handler (one atomic store).
            unsafe { libc::signal(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
        }
        let (ta, tb) = (tun_in(a)?, tun_in(b)?);
        for t in [&ta, &tb] {
            // SAFETY: sets O_NONBLOCK on our descriptor.
            unsafe { libc::fcntl(t.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        }
        println!("ready");
        let (ab, ba) = (AtomicU64::new(0), AtomicU64::new(0));
        std::thread::scope(|s| {
            s.spawn(|| forward(&ta, &tb, &ab));
            forward(&tb, &ta, &ba);
        });
        Ok(format!("forwarded_ab={} forwarded_ba={}", ab.load(Ordering::Relaxed), ba.load(Ordering::Relaxed)))
    }

    /// From a `tuntrace trace --json` report (docs/report-schema.md): `flow`, the packets of the
    /// UDP flows with `at` as one end (the interface's count); `flow_pid`, those of them the
    /// report gives to `pid`; `process`, `pid`'s packets (its sockets' counts); `unattributed`
    /// and `lost` (`dropped_events`) over the whole report.
    fn report(file: &str, at: SocketAddrV4, pid: u64) -> Result<String, String> {
        let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
        let r: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?;
        let u = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
        let ip = at.ip().to_string();
        let end =
            |f: &serde_json::Value, a: &str, p: &str| f[a].as_str() == Some(&ip) && u(&f[p]) == u64::from(at.port());
        let (mut flow, mut flow_pid) = (0, 0);
        for f in r["flows"].as_array().into_iter().flatten() {
            if f["proto"].as_str() == Some("udp") && (end(f, "dst", "dport") || end(f, "src", "sport")) {
                flow += u(&f["packets"]);
                if f["pid"].as_u64() == Some(pid) {
                    flow_pid += u(&f["packets"]);
                }
            }
        }
        let process: u64 = r["processes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["pid"].as_u64() == Some(pid))
            .map(|p| u(&p["packets"]))
            .sum();
        Ok(format!(
            "flow={flow} flow_pid={flow_pid} process={process} unattributed={} lost={}",
            u(&r["stats"]["unattributed_packets"]),
            u(&r["stats"]["dropped_events"])
        ))
    }
}

//! A minimal live tracing session over the loader's API, standing in for `tuntrace trace` until
//! that exists (ci/bench-live runs it as `$TRACER -i IFACE -d SECS --json`): loads the probes in
//! the calling netns, traces the interfaces, reads the ring as a session would (every record,
//! as they come) and the counters once a second (a status line's worth), and at the end prints
//! the kernel's counts with the process each socket's packets were attributed to.
//!
//!   live_trace -i IFACE [-i IFACE ...] [-d SECS] [--json]
//!
//! It ends after SECS (default: until SIGINT or SIGTERM), then prints, with --json, one object:
//! `{"flows":[...],"sockets":[...],"stats":{...},"records":N}` with one flow per line (the bench
//! reads it with grep), else a table. "tracing" on stderr says the interfaces are attached.

#[cfg(target_os = "linux")]
fn main() {
    std::process::exit(linux::main());
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("live_trace: Linux only");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
mod linux {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    use tuntrace::live::{records, FlowCount, ProbeConfig, Probes};
    use tuntrace_probes::layout as abi;

    static STOP: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: libc::c_int) {
        STOP.store(true, Ordering::Relaxed);
    }

    /// Bytes before the IP header in tc: 0 for a TUN (ARPHRD_NONE) and other raw-IP links, 14
    /// for Ethernet and loopback.
    fn l2_len(iface: &str) -> u32 {
        let ty = std::fs::read_to_string(format!("/sys/class/net/{iface}/type")).unwrap_or_default();
        match ty.trim() {
            "65534" | "776" | "778" => 0, // none (TUN), ipip, gre
            _ => 14,
        }
    }

    fn ifindex(name: &str) -> Option<u32> {
        let c = std::ffi::CString::new(name).ok()?;
        // SAFETY: a NUL-terminated name.
        let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
        (i != 0).then_some(i)
    }

    fn proto(p: u8) -> String {
        match p {
            6 => "tcp".into(),
            17 => "udp".into(),
            50 => "esp".into(),
            1 => "icmp".into(),
            58 => "icmpv6".into(),
            n => n.to_string(),
        }
    }

    fn endpoint(f: &FlowCount, src: bool) -> String {
        let (a, p) = if src { (&f.key.src, f.key.sport) } else { (&f.key.dst, f.key.dport) };
        match records::ip(f.key.family, a) {
            std::net::IpAddr::V4(ip) => format!("{ip}:{p}"),
            std::net::IpAddr::V6(ip) => format!("[{ip}]:{p}"),
        }
    }

    fn comm(pid: u32) -> String {
        std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_owned()).unwrap_or_default()
    }

    fn line(f: &FlowCount, names: &[(u32, String)], with_pid: bool) -> String {
        let iface = names.iter().find(|(i, _)| *i == f.key.ifindex).map_or("?", |(_, n)| n.as_str());
        let dir = if f.key.direction == abi::DIR_IN { "in" } else { "out" };
        let mut s = format!(
            "{{\"iface\":\"{iface}\",\"dir\":\"{dir}\",\"proto\":\"{}\",\"src\":\"{}\",\"dst\":\"{}\"",
            proto(f.key.protocol),
            endpoint(f, true),
            endpoint(f, false)
        );
        if with_pid {
            s += &format!(",\"cookie\":{},\"pid\":{},\"tid\":{}", f.key.cookie, f.key.tgid, f.key.tid);
        }
        s + &format!(",\"packets\":{},\"bytes\":{}}}", f.packets, f.bytes)
    }

    pub fn main() -> i32 {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut ifaces = Vec::new();
        let mut secs = None;
        let mut json = false;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "-i" => ifaces.extend(it.next().cloned()),
                "-d" => secs = it.next().and_then(|s| s.parse::<f64>().ok()),
                "--json" => json = true,
                _ => {
                    eprintln!("usage: live_trace -i IFACE [-i IFACE ...] [-d SECS] [--json]");
                    return 2;
                }
            }
        }
        if ifaces.is_empty() {
            eprintln!("live_trace: name an interface with -i");
            return 2;
        }
        for sig in [libc::SIGTERM, libc::SIGINT] {
            // SAFETY: installs an async-signal-safe handler (one atomic store).
            unsafe { libc::signal(sig, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t) };
        }
        let mut p = match Probes::load(&ProbeConfig::default()) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("live_trace: {e}");
                return 1;
            }
        };
        for w in p.warnings() {
            eprintln!("live_trace: warning: {w}");
        }
        let mut names = Vec::new();
        for name in &ifaces {
            let Some(idx) = ifindex(name) else {
                eprintln!("live_trace: no interface {name} in this namespace");
                return 1;
            };
            if let Err(e) = p.attach_iface(idx, l2_len(name)) {
                eprintln!("live_trace: {e}");
                return 1;
            }
            names.push((idx, name.clone()));
        }
        if let Err(e) = p.seed_sockets() {
            eprintln!("live_trace: warning: seeding the sockets that existed before: {e}");
        }
        eprintln!("live_trace: tracing {}", ifaces.join(", "));

        let end = secs.map(|s| Instant::now() + Duration::from_secs_f64(s));
        let mut recs = Vec::new();
        let mut n_records = 0u64;
        let mut next_counters = Instant::now() + Duration::from_secs(1);
        while !STOP.load(Ordering::Relaxed) && end.is_none_or(|e| Instant::now() < e) {
            let _ = p.wait_readable(Duration::from_millis(100));
            recs.clear();
            n_records += p.read_records(&mut recs) as u64;
            if Instant::now() >= next_counters {
                // What a status line would show; the figures are read, not printed.
                let _ = p.read_counters();
                next_counters += Duration::from_secs(1);
            }
        }
        recs.clear();
        n_records += p.read_records(&mut recs) as u64;
        let c = match p.read_counters() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("live_trace: {e}");
                return 1;
            }
        };
        if json {
            let mut out = String::from("{\"flows\":[\n");
            let flows: Vec<String> = c.iface_flows.iter().map(|f| line(f, &names, false)).collect();
            out += &flows.join(",\n");
            out += "\n],\"sockets\":[\n";
            let socks: Vec<String> = c.sock_flows.iter().map(|f| line(f, &names, true)).collect();
            out += &socks.join(",\n");
            let s = c.stats;
            out += &format!(
                "\n],\"stats\":{{\"ring_full\":{},\"sockets_full\":{},\"iface_flows_full\":{},\"sock_flows_full\":{},\"esp_full\":{},\"senders_full\":{},\"sampled\":{}}},\"records\":{n_records}}}",
                s.ring_full, s.sockets_full, s.iface_flows_full, s.sock_flows_full, s.esp_full, s.senders_full, s.sampled
            );
            println!("{out}");
        } else {
            println!(
                "{:<8} {:<4} {:<5} {:<24} {:<24} {:>8} {:>12} {:>12}",
                "iface", "dir", "proto", "src", "dst", "pid", "packets", "bytes"
            );
            for f in &c.sock_flows {
                let iface = names.iter().find(|(i, _)| *i == f.key.ifindex).map_or("?", |(_, n)| n.as_str());
                let dir = if f.key.direction == abi::DIR_IN { "in" } else { "out" };
                println!(
                    "{iface:<8} {dir:<4} {:<5} {:<24} {:<24} {:>8} {:>12} {:>12}  {}",
                    proto(f.key.protocol),
                    endpoint(f, true),
                    endpoint(f, false),
                    f.key.tgid,
                    f.packets,
                    f.bytes,
                    comm(f.key.tgid)
                );
            }
            println!("{} records; {:?}", n_records, c.stats);
        }
        0
    }
}

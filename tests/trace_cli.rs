//! `tuntrace trace` as a command, as root, in network namespaces of its own: it leaves nothing
//! behind however it ends (normal exit, SIGINT, SIGTERM, SIGKILL), it says clearly what keeps it
//! from tracing, an interface that vanishes mid-session is reported as removed, and ring-buffer
//! losses are counted in the report. Fails, never skips, without root when TUNTRACE_REQUIRE_ROOT
//! is set (CI).

mod common;
use common::tracer::Tracer;
use common::{root_or_skip, tunnels_of};

use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tuntrace_core::report::Report;

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e} (ci/setup installs it)"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two namespaces of this test joined by a veth, `a` 198.18.9.1/30 on `dev`, `b` 198.18.9.2.
struct Net {
    a: String,
    b: String,
    dev: String,
}

impl Net {
    fn new(tag: &str) -> Net {
        let id = std::process::id() % 100_000;
        let (a, b) = (format!("tt-cli{id}-{tag}a"), format!("tt-cli{id}-{tag}b"));
        let dev = format!("ttc{tag}");
        for ns in [&a, &b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            sh("ip", &["netns", "add", ns]);
        }
        sh("ip", &["-n", &a, "link", "add", &dev, "type", "veth", "peer", "name", "ttcpeer", "netns", &b]);
        sh("ip", &["-n", &a, "addr", "add", "198.18.9.1/30", "dev", &dev]);
        sh("ip", &["-n", &b, "addr", "add", "198.18.9.2/30", "dev", "ttcpeer"]);
        for (ns, d) in [(&a, dev.as_str()), (&b, "ttcpeer")] {
            sh("ip", &["-n", ns, "link", "set", d, "up"]);
            sh("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        Net { a, b, dev }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Programs (by id) that process `pid` holds: its descriptors of BPF programs and links say
/// `prog_id:` in /proc/PID/fdinfo (Debian's bpftool 7.1 does not list holders' pids).
fn programs_of(pid: u32) -> Vec<u64> {
    let mut ids: Vec<u64> = std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .filter_map(|t| t.lines().find_map(|l| l.strip_prefix("prog_id:")).and_then(|v| v.trim().parse().ok()))
                .collect()
        })
        .unwrap_or_default();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Whatever of these programs remains anywhere: loaded, linked, attached to a cgroup or to the
/// interface, a qdisc tc would need, a pin.
fn leftovers(ids: &[u64], ns: &str, dev: &str) -> Vec<String> {
    let mut found = Vec::new();
    for id in ids {
        if Command::new("bpftool").args(["prog", "show", "id", &id.to_string()]).output().unwrap().status.success() {
            found.push(format!("program {id}"));
        }
    }
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.iter().enumerate().any(|(i, x)| {
                    x.trim_end_matches(':').parse::<u64>().is_ok_and(|id| ids.contains(&id))
                        && (i == 0 || matches!(w[i - 1], "prog" | "prog_id"))
                })
            })
            .map(str::to_string)
            .collect()
    };
    found.extend(names(&run("bpftool", &["link", "show"])).into_iter().map(|l| format!("link: {l}")));
    found.extend(names(&run("bpftool", &["cgroup", "tree"])).into_iter().map(|l| format!("cgroup: {l}")));
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
    // The kernel's own entries (progs.debug, maps.debug of bpf_preload) are not pins of ours.
    let pins: Vec<String> = std::fs::read_dir("/sys/fs/bpf")
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    let ours: Vec<&String> = pins.iter().filter(|p| !p.ends_with(".debug")).collect();
    if !ours.is_empty() {
        found.push(format!("pins under /sys/fs/bpf: {ours:?}"));
    }
    found
}

fn wait_clean(ids: &[u64], ns: &str, dev: &str) -> Vec<String> {
    // Programs are freed after an RCU grace period.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = leftovers(ids, ns, dev);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Nothing of tuntrace's remains after it ends by itself, by SIGINT, SIGTERM or SIGKILL; the
/// same checks see its programs, links and cgroup attachments while it runs (so they can fail).
#[test]
fn nothing_remains_however_the_session_ends() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new("g");
    for how in ["duration", "SIGINT", "SIGTERM", "SIGKILL"] {
        let args: &[&str] = if how == "duration" { &["-d", "2"] } else { &[] };
        let t = Tracer::start(&net.a, args);
        let ids = programs_of(t.pid());
        assert!(ids.len() >= 10, "{how}: the tracer's programs are listed: {ids:?}");
        let seen = leftovers(&ids, &net.a, &net.dev);
        assert!(seen.iter().any(|l| l.starts_with("cgroup:")), "{how}: cgroup attachments visible: {seen:#?}");
        assert!(seen.iter().any(|l| l.starts_with("link:")), "{how}: links visible: {seen:#?}");
        match how {
            "SIGINT" => t.signal(libc::SIGINT),
            "SIGTERM" => t.signal(libc::SIGTERM),
            "SIGKILL" => t.signal(libc::SIGKILL),
            _ => {}
        }
        let (report, status, stderr) = t.finish();
        if how == "SIGKILL" {
            assert!(report.is_none() && status.code().is_none(), "{how}: {status}");
        } else {
            assert!(status.success(), "{how}: {status}\n{}", stderr.join("\n"));
            let r = report.expect("a report");
            assert!(r.interfaces.iter().any(|i| i.name.as_deref() == Some(net.dev.as_str())), "{how}: {r:?}");
        }
        let left = wait_clean(&ids, &net.a, &net.dev);
        assert!(left.is_empty(), "{how}: left behind: {left:#?}");
    }
}

/// A second tuntrace in the same namespace runs beside the first (tcx and the cgroup hooks take
/// several programs): each counts every packet itself, neither disturbs the other, and when the
/// first ends the second still holds its own programs, which go when it goes.
#[test]
fn two_sessions_at_once_each_count_everything() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new("2");
    let _sink = udp_in(&net.a, "198.18.9.1:5060");
    let first = Tracer::start(&net.a, &[]);
    let second = Tracer::start(&net.a, &["-i", net.dev.as_str()]);
    let (ids1, ids2) = (programs_of(first.pid()), programs_of(second.pid()));
    assert!(!ids1.is_empty() && !ids2.is_empty(), "{ids1:?} {ids2:?}");
    assert!(ids1.iter().all(|id| !ids2.contains(id)), "each its own programs: {ids1:?} {ids2:?}");
    send_udp(&net.b, "198.18.9.1", 5060, 7, OPTIONS);
    std::thread::sleep(Duration::from_millis(1500));
    first.signal(libc::SIGINT);
    let (r1, status1, stderr1) = first.finish();
    assert!(status1.success(), "{}", stderr1.join("\n"));
    assert!(wait_clean(&ids1, &net.a, &net.dev).is_empty(), "the first's programs go with it");
    send_udp(&net.b, "198.18.9.1", 5060, 3, OPTIONS);
    std::thread::sleep(Duration::from_millis(1500));
    let left = leftovers(&ids2, &net.a, &net.dev);
    assert!(!left.is_empty(), "the second still traces after the first ended");
    second.signal(libc::SIGTERM);
    let (r2, status2, stderr2) = second.finish();
    assert!(status2.success(), "{}", stderr2.join("\n"));
    assert_eq!(sip_packets(&r1.expect("first report")), 7);
    let r2 = r2.expect("second report");
    assert_eq!(sip_packets(&r2), 10, "{:?}", r2.flows);
    assert!(r2.sip.dialogs.iter().any(|d| d.call_id == "k@x"), "{:?}", r2.sip.dialogs);
    assert!(wait_clean(&ids2, &net.a, &net.dev).is_empty());
}

/// Without root it says what it needs and exits 3; a bad pattern is a usage error (2).
#[test]
fn what_keeps_it_from_tracing_is_said() {
    if !root_or_skip() {
        return;
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"])
        .args([env!("CARGO_BIN_EXE_tuntrace"), "trace", "-d", "1"])
        .output()
        .expect("setpriv (util-linux)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("needs root or CAP_BPF+CAP_NET_ADMIN+CAP_PERFMON"), "{err}");
    assert!(out.stdout.is_empty());
    let out = Command::new(env!("CARGO_BIN_EXE_tuntrace")).args(["trace", "-i", "ipsec[", "-d", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid pattern"));
    let out = Command::new(env!("CARGO_BIN_EXE_tuntrace")).args(["trace", "--ring-kib", "3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// An interface that vanishes mid-session stays in the report, marked removed, with what it
/// carried; one named with -i that does not exist yet is said so, and traced when it appears.
#[test]
fn interfaces_that_come_and_go_are_followed() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new("v");
    let _sink = udp_in(&net.a, "198.18.9.1:5060");
    let t = Tracer::start(&net.a, &["-i", "ttcv*", "-i", "ttlate0"]);
    assert!(
        t.stderr.iter().any(|l| l.contains("ttlate0 does not exist (yet)")),
        "a named interface that is not there is said: {:?}",
        t.stderr
    );
    // Traffic on the veth, then it is deleted; a dummy-less kernel still has TUN for the late one.
    send_udp(&net.b, "198.18.9.1", 5060, 5, b"OPTIONS sip:x SIP/2.0\r\nCall-ID: gone@x\r\nCSeq: 1 OPTIONS\r\n\r\n");
    std::thread::sleep(Duration::from_millis(1500));
    sh("ip", &["-n", &net.a, "link", "del", &net.dev]);
    sh("ip", &["-n", &net.a, "tuntap", "add", "dev", "ttlate0", "mode", "tun"]);
    sh("ip", &["-n", &net.a, "link", "set", "ttlate0", "up"]);
    std::thread::sleep(Duration::from_millis(1500));
    t.signal(libc::SIGINT);
    let (report, status, stderr) = t.finish();
    assert!(status.success(), "{}", stderr.join("\n"));
    let r = report.unwrap();
    let gone = r.interfaces.iter().find(|i| i.name.as_deref() == Some(net.dev.as_str())).expect("the veth is reported");
    assert!(gone.removed.is_some(), "{gone:?}");
    let sip: u64 = r.flows.iter().filter(|f| f.iface == gone.name && f.dport == Some(5060)).map(|f| f.packets).sum();
    assert_eq!(sip, 5, "what it carried before it went: {:?}", r.flows);
    assert!(r.sip.dialogs.iter().any(|d| d.call_id == "gone@x"), "{:?}", r.sip.dialogs);
    let late = r.interfaces.iter().find(|i| i.name.as_deref() == Some("ttlate0")).expect("the late TUN is reported");
    assert!(late.removed.is_none() && !late.created_before_trace, "{late:?}");
    let by = late.created_by.as_ref().expect("its creator (ip tuntap) is known");
    assert_eq!(by.comm.as_deref(), Some("ip"), "{late:?}");
}

/// A ring buffer too small for a burst of SIP packets loses samples; the report counts each one,
/// per CPU, and the kernel's counts still hold every packet.
#[test]
fn ring_buffer_losses_are_reported() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new("r");
    let _sink = udp_in(&net.a, "198.18.9.1:5060");
    let t = Tracer::start(&net.a, &["--ring-kib", "4", "--snaplen", "1500"]);
    let msg = format!("MESSAGE sip:x SIP/2.0\r\nCall-ID: burst@x\r\nCSeq: 1 MESSAGE\r\n\r\n{}", "x".repeat(1200));
    send_udp(&net.b, "198.18.9.1", 5060, 400, msg.as_bytes());
    std::thread::sleep(Duration::from_millis(1500));
    t.signal(libc::SIGINT);
    let (report, status, stderr) = t.finish();
    assert!(status.success(), "{}", stderr.join("\n"));
    let r = report.unwrap();
    assert!(r.stats.dropped_events > 0, "a 4 KiB ring cannot hold 400 samples of 1.2 KB: {:?}", r.stats);
    let ring: u64 =
        r.stats.losses.iter().filter(|l| l.what.starts_with("ring buffer full (cpu")).map(|l| l.count).sum();
    assert_eq!(ring, r.stats.dropped_events, "{:?}", r.stats.losses);
    let sip: u64 = r.flows.iter().filter(|f| f.dport == Some(5060) || f.sport == Some(5060)).map(|f| f.packets).sum();
    assert_eq!(sip, 400, "the kernel counted every packet all the same: {:?}", r.flows);
}

/// A UDP socket made in namespace `ns` (by a thread that enters it; the socket stays there).
fn udp_in(ns: &str, bind: &str) -> UdpSocket {
    let (ns, bind) = (ns.to_string(), bind.to_string());
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
        // SAFETY: setns(2) on this thread only, with a namespace fd we opened.
        assert_eq!(unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) }, 0);
        UdpSocket::bind(bind.as_str()).unwrap()
    })
    .join()
    .unwrap()
}

/// Read `n` datagrams from `sink` (2 s at most for each): the sender's were all delivered.
fn read_n(sink: &UdpSocket, n: usize) {
    let mut got = 0;
    let mut buf = [0u8; 2048];
    sink.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    while got < n && sink.recv(&mut buf).is_ok() {
        got += 1;
    }
    assert_eq!(got, n, "the sink read every datagram");
}

/// Send `n` datagrams from namespace `ns` to `dst:port`, where a socket of the traced namespace
/// listens (so no ICMP error comes back to be counted too).
fn send_udp(ns: &str, dst: &str, port: u16, n: usize, payload: &[u8]) {
    let s = udp_in(ns, "0.0.0.0:0");
    for _ in 0..n {
        s.send_to(payload, (dst, port)).unwrap();
    }
}

fn replay(files: &[&std::path::Path]) -> (Option<Report>, i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tuntrace")).args(["replay", "--json"]).args(files).output().unwrap();
    let report = serde_json::from_slice(&out.stdout).ok();
    (report, out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn sip_packets(r: &Report) -> u64 {
    r.flows.iter().filter(|f| f.dport == Some(5060) || f.sport == Some(5060)).map(|f| f.packets).sum()
}

fn temp(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("tuntrace-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

const OPTIONS: &[u8] =
    b"OPTIONS sip:alice@example.org SIP/2.0\r\nFrom: <sip:bob@example.org>\r\nCall-ID: k@x\r\nCSeq: 1 OPTIONS\r\n\r\n";

/// A recording whose session was SIGKILLed replays up to its last flush (at most a second
/// before the kill): the packets sent before are all there.
#[test]
fn a_killed_session_leaves_a_file_that_replays() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new("k");
    let file = temp("killed.pcapng");
    let _sink = udp_in(&net.a, "198.18.9.1:5060");
    let t = Tracer::start(&net.a, &["-w", file.to_str().unwrap()]);
    send_udp(&net.b, "198.18.9.1", 5060, 20, OPTIONS);
    // Two flushes later: counted, sampled, on disk.
    std::thread::sleep(Duration::from_millis(2500));
    t.signal(libc::SIGKILL);
    let _ = t.finish();
    let (r, code, err) = replay(&[&file]);
    assert!(code == 0 || code == 1, "{code} {err}");
    let r = r.expect("a report of what was flushed");
    assert_eq!(sip_packets(&r), 20, "{:?} {err}", r.flows);
    assert!(r.sip.dialogs.iter().any(|d| d.call_id == "k@x"));
    let _ = std::fs::remove_file(&file);
}

/// An unwritable path or a disk that fills up is said, the session goes on, its report still
/// prints, and the exit code says the recording failed (1).
#[test]
fn a_recording_that_cannot_be_written_is_said_and_the_report_still_prints() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new("u");
    let _sink = udp_in(&net.a, "198.18.9.1:5060");
    let t = Tracer::start(&net.a, &["-w", "/proc/tuntrace-no/such.pcapng", "-d", "2"]);
    assert!(t.stderr.iter().any(|l| l.contains("cannot record to /proc/tuntrace-no/such.pcapng")), "{:?}", t.stderr);
    send_udp(&net.b, "198.18.9.1", 5060, 3, OPTIONS);
    let (r, status, stderr) = t.finish();
    assert_eq!(status.code(), Some(1), "{stderr:?}");
    assert_eq!(sip_packets(&r.expect("the live report prints")), 3);

    // A 64 KiB disk (tmpfs in a mount namespace of the tracer's own) fills up mid-session.
    let dir = temp("smalldisk");
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=64k tuntrace-test {d} && exec {exe} trace --json -q -w {d}/full.pcapng -d 3",
        d = dir.display(),
        exe = env!("CARGO_BIN_EXE_tuntrace")
    );
    let child = Command::new("ip")
        .args(["netns", "exec", &net.a, "unshare", "--mount", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let big = [OPTIONS, &[b' '; 1200][..]].concat();
    send_udp(&net.b, "198.18.9.1", 5060, 200, &big);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stopped") && err.contains("No space left on device"), "{err}");
    let r: Report = serde_json::from_slice(&out.stdout).expect("the live report prints");
    assert_eq!(sip_packets(&r), 200);
    let _ = std::fs::remove_dir_all(&dir);
}

/// With -G each file replays on its own, and all of them together give the whole session.
#[test]
fn rotated_files_replay_alone_and_together() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new("o");
    let file = temp("rot.pcapng");
    let _sink = udp_in(&net.a, "198.18.9.1:5060");
    let t = Tracer::start(&net.a, &["-w", file.to_str().unwrap(), "-G", "1"]);
    for _ in 0..4 {
        send_udp(&net.b, "198.18.9.1", 5060, 5, OPTIONS);
        std::thread::sleep(Duration::from_millis(800));
    }
    std::thread::sleep(Duration::from_millis(1200));
    t.signal(libc::SIGINT);
    let (live, status, stderr) = t.finish();
    assert!(status.success(), "{stderr:?}");
    let live = live.unwrap();
    let mut files = vec![file.clone()];
    for n in 1.. {
        let f = std::path::PathBuf::from(format!("{}{n}", file.display()));
        if !f.exists() {
            break;
        }
        files.push(f);
    }
    assert!(files.len() >= 3, "-G 1 over 4 s rotates: {files:?}");
    let mut alone = 0;
    for f in &files {
        let (r, code, err) = replay(&[f]);
        assert_eq!(code, 0, "{} alone: {err}", f.display());
        let r = r.unwrap();
        assert!(
            r.interfaces.iter().any(|i| i.name.as_deref() == Some(net.dev.as_str())),
            "{} names its interfaces",
            f.display()
        );
        alone += sip_packets(&r);
    }
    assert_eq!(alone, 20, "the files split the session's packets between them");
    let paths: Vec<&std::path::Path> = files.iter().map(|p| p.as_path()).collect();
    let (together, code, err) = replay(&paths);
    assert_eq!(code, 0, "{err}");
    let mut together = together.unwrap();
    together.source = live.source.clone();
    assert_eq!(sip_packets(&together), 20);
    assert_eq!(together.interfaces, live.interfaces, "one interface is one interface across the files");
    for f in &files {
        let _ = std::fs::remove_file(f);
    }
}

/// --redact: the recording holds no SIP identities or bodies (tshark reads it and finds none),
/// yet replays with the same calls.
#[test]
fn redacted_recordings_keep_calls_and_lose_identities() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new("d");
    let file = temp("redacted.pcapng");
    let _sink = udp_in(&net.a, "198.18.9.1:5060");
    let t = Tracer::start(&net.a, &["-w", file.to_str().unwrap(), "--redact", "-d", "2"]);
    let msg = b"MESSAGE sip:+13105550100@ims.example SIP/2.0\r\nFrom: \"Alice\" <sip:0310260000000001@ims.example>;tag=1\r\nTo: <tel:+13105550100>\r\nCall-ID: red@x\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nsecret text";
    send_udp(&net.b, "198.18.9.1", 5060, 2, msg);
    let (_, status, stderr) = t.finish();
    assert!(status.success(), "{stderr:?}");
    let bytes = std::fs::read(&file).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    for gone in ["13105550100", "0310260000000001", "Alice", "secret text"] {
        assert!(!text.contains(gone), "{gone} in the redacted recording");
    }
    let tshark = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-Y", "sip", "-T", "fields", "-e", "sip.Call-ID", "-e", "sip.from.user"])
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&tshark.stdout);
    assert!(seen.contains("red@x") && !seen.contains("0310260000000001"), "{seen}");
    let (r, code, err) = replay(&[&file]);
    assert_eq!(code, 0, "{err}");
    assert!(r.unwrap().sip.dialogs.iter().any(|d| d.call_id == "red@x" && d.messages.len() == 2));
    let _ = std::fs::remove_file(&file);
}

/// `-i lo`: a loopback's packets leave and come back through the same device; each is counted
/// and its SIP read once, as tcpdump shows them there (both hooks counted every packet twice
/// and listed every SIP message twice).
#[test]
fn loopback_packets_count_once() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new("l");
    let sink = udp_in(&net.a, "127.0.0.1:5060");
    let t = Tracer::start(&net.a, &["-i", "lo"]);
    send_udp(&net.a, "127.0.0.1", 5060, 20, OPTIONS);
    read_n(&sink, 20);
    std::thread::sleep(Duration::from_millis(1500));
    let (r, _) = t.stop();
    assert_eq!(sip_packets(&r), 20, "{:?}", r.flows);
    let calls: Vec<_> = r.sip.dialogs.iter().filter(|d| d.call_id == "k@x").collect();
    assert_eq!(calls.len(), 1);
    let listed = calls[0].messages.len() as u64 + calls[0].messages_elided.as_ref().map_or(0, |e| e.count);
    assert_eq!(listed, 20, "each message once");
}

/// IPv6 with an extension header before UDP (destination options here; MLD's hop-by-hop
/// router alert is the common one): the kernel walks it as replay does, so the flow keeps its
/// protocol and ports, its owner, and its SIP is sampled and read.
#[test]
fn ipv6_extension_headers_are_walked_live() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new("x");
    let sink = udp_in(&net.a, "[::1]:5060");
    let t = Tracer::start(&net.a, &["-i", "lo"]);
    let s = udp_in(&net.a, "[::1]:0");
    // Destination options: next header and length (the kernel fills the first), PadN of 4.
    let opts: [u8; 8] = [0, 0, 1, 4, 0, 0, 0, 0];
    // SAFETY: setsockopt(2) on a socket we own, with a buffer of the length given.
    let rc = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&s),
            libc::IPPROTO_IPV6,
            libc::IPV6_DSTOPTS,
            opts.as_ptr().cast(),
            opts.len() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "IPV6_DSTOPTS: {}", std::io::Error::last_os_error());
    for _ in 0..20 {
        s.send_to(OPTIONS, "[::1]:5060").unwrap();
    }
    read_n(&sink, 20);
    std::thread::sleep(Duration::from_millis(1500));
    let (r, _) = t.stop();
    let flows: Vec<_> = r.flows.iter().filter(|f| f.dst == "::1" || f.src == "::1").collect();
    assert_eq!(flows.len(), 1, "{flows:?}");
    let f = flows[0];
    assert_eq!((f.proto.to_string().as_str(), f.dport, f.packets), ("udp", Some(5060), 20), "{f:?}");
    assert_eq!(f.pid, Some(std::process::id()), "{f:?}");
    let calls: Vec<_> = r.sip.dialogs.iter().filter(|d| d.call_id == "k@x").collect();
    assert_eq!(calls.len(), 1, "the SIP behind the header is read");
}

/// A session that runs for days must not fill the kernel's maps with flows that ended: entries
/// idle for a while (TUNTRACE_KERNEL_IDLE_SECS here, 2 minutes by default) leave their maps with
/// their final counts, and a flow that comes back starts a new entry. 600 flows (more than the
/// per-CPU slots hold, so most are in the hash maps) each send one datagram, go idle until the
/// tracer says entries left, and send one more: every flow counts 2, nothing is lost.
#[test]
fn idle_kernel_entries_leave_their_maps_and_counts_stay_exact() {
    if !root_or_skip() {
        return;
    }
    let net = Net::new("i");
    let sink = udp_in(&net.a, "127.0.0.1:40000");
    sink.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut t = Tracer::start_env(&net.a, &["-i", "lo", "-vv"], &[("TUNTRACE_KERNEL_IDLE_SECS", "1")]);
    let senders: Vec<UdpSocket> = (0..600).map(|_| udp_in(&net.a, "127.0.0.1:0")).collect();
    // And WireGuard transport data (counted per receiver index in the ESP map).
    let wg = udp_in(&net.a, "127.0.0.1:0");
    let mut transport = [0u8; 32];
    transport[0] = 4;
    transport[4..8].copy_from_slice(&0x5eed_u32.to_le_bytes());
    let round = || {
        wg.send_to(&transport, "127.0.0.1:40000").unwrap();
        let mut buf = [0u8; 64];
        assert!(sink.recv(&mut buf).is_ok());
        // One at a time: the sink's receive buffer holds a few hundred small datagrams only.
        let mut buf = [0u8; 64];
        let mut got = 0;
        for s in &senders {
            s.send_to(b"idle?", "127.0.0.1:40000").unwrap();
            got += usize::from(sink.recv(&mut buf).is_ok());
        }
        assert_eq!(got, senders.len(), "the sink read every datagram");
    };
    round();
    t.wait_for("taken out of their maps", Duration::from_secs(20));
    round();
    std::thread::sleep(Duration::from_millis(1500));
    let (r, stderr) = t.stop();
    let flows: Vec<_> = r.flows.iter().filter(|f| f.dport == Some(40000)).collect();
    assert_eq!(flows.len(), senders.len() + 1, "{:?}", r.flows.len());
    let t = r.tunnels.iter().find(|t| t.kind.as_str() == "wireguard").expect("the WireGuard tunnel");
    let w = t.wireguard.as_ref().unwrap();
    assert_eq!((t.packets, w.transport_packets, w.unpaired_transport), (2, 2, 2), "{t:?}");
    let wrong: Vec<_> = flows.iter().filter(|f| f.packets != 2 || f.pid.is_none()).collect();
    assert!(
        wrong.is_empty(),
        "each flow counts its 2 datagrams and has its process: {} do not, e.g. {:?}",
        wrong.len(),
        wrong.first()
    );
    assert_eq!(r.stats.dropped_events, 0, "{:?}\n{}", r.stats.losses, stderr.join("\n"));
}

/// An IPv4 header with a correct checksum, then a UDP header (checksum 0) and `data`.
fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
    let total = (20 + 8 + data.len()) as u16;
    let mut h = vec![0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0];
    h[2..4].copy_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let sum: u32 = h.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    h[10..12].copy_from_slice(&(!((folded & 0xffff) + (folded >> 16)) as u16).to_be_bytes());
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&(8 + data.len() as u16).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(data);
    h
}

/// A raw IPv4 socket of protocol `proto` made in namespace `ns` (the kernel writes the header).
fn raw_in(ns: &str, proto: i32) -> std::os::fd::OwnedFd {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
        // SAFETY: setns(2) on this thread only; socket(2) whose descriptor we own at once.
        unsafe {
            assert_eq!(libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET), 0);
            let fd = libc::socket(libc::AF_INET, libc::SOCK_RAW, proto);
            assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
            std::os::fd::FromRawFd::from_raw_fd(fd)
        }
    })
    .join()
    .unwrap()
}

/// Send `data` on raw socket `fd` to 127.0.0.1.
fn raw_send(fd: &std::os::fd::OwnedFd, data: &[u8]) {
    let to = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes([127, 0, 0, 1]) },
        sin_zero: [0; 8],
    };
    // SAFETY: a valid buffer and address of the sizes given.
    let n = unsafe {
        libc::sendto(
            std::os::fd::AsRawFd::as_raw_fd(fd),
            data.as_ptr().cast(),
            data.len(),
            0,
            (&to as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(n, data.len() as isize, "{}", std::io::Error::last_os_error());
}

/// tcpdump writing what interface `iface` of namespace `ns` sees to `file`, started and
/// listening before this returns.
struct Dump(std::process::Child);

impl Dump {
    fn start(ns: &str, iface: &str, file: &std::path::Path) -> Dump {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "tcpdump", "-i", iface, "-U", "-n", "-w"])
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump");
        let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        assert!(line.contains("listening on"), "tcpdump: {line}");
        Dump(child)
    }

    /// Stop it (SIGINT: it flushes the file) and wait for it.
    fn stop(mut self) {
        // SAFETY: kill(2) on the tcpdump we started (ip netns exec execs it: the pid is its own).
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        self.0.wait().unwrap();
    }
}

/// A lo session in a namespace of its own: UDP sinks on 127.0.0.1 `ports`, tcpdump and the
/// tracer on lo, then `send` (given the namespace; it returns how many datagrams it sent to the
/// sinks, which must read them all). Returns the live report and the replay of tcpdump's
/// capture of the same packets.
fn traced_on_lo(tag: &str, ports: &[u16], send: impl FnOnce(&Net) -> usize) -> (Report, Report) {
    let net = Net::new(tag);
    let file = temp(&format!("lo-{tag}.pcap"));
    let sinks: Vec<UdpSocket> = ports.iter().map(|p| udp_in(&net.a, &format!("127.0.0.1:{p}"))).collect();
    let dump = Dump::start(&net.a, "lo", &file);
    let t = Tracer::start(&net.a, &["-i", "lo"]);
    let sent = send(&net);
    let mut buf = [0u8; 2048];
    for k in sinks.iter() {
        k.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    }
    let got: usize = sinks.iter().map(|k| std::iter::from_fn(|| k.recv(&mut buf).ok()).count()).sum();
    assert_eq!(got, sent, "the sinks read every datagram");
    std::thread::sleep(Duration::from_millis(1500));
    let (live, _) = t.stop();
    dump.stop();
    let captured = tuntrace_core::replay::replay_files(std::slice::from_ref(&file));
    let _ = std::fs::remove_file(&file);
    (live, captured)
}

/// A TCP stream made in namespace `ns` (a thread enters it to connect; the socket stays there),
/// without Nagle's delay: each write goes out as it is made.
fn tcp_to(ns: &str, to: &str) -> std::net::TcpStream {
    let (ns, to) = (ns.to_string(), to.to_string());
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
        // SAFETY: setns(2) on this thread only, with a namespace fd we opened.
        assert_eq!(unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) }, 0);
        let s = std::net::TcpStream::connect(to.as_str()).unwrap();
        s.set_nodelay(true).unwrap();
        s
    })
    .join()
    .unwrap()
}

/// A TCP listener made in namespace `ns`.
fn tcp_listen(ns: &str, at: &str) -> std::net::TcpListener {
    let (ns, at) = (ns.to_string(), at.to_string());
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
        // SAFETY: setns(2) on this thread only, with a namespace fd we opened.
        assert_eq!(unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) }, 0);
        std::net::TcpListener::bind(at.as_str()).unwrap()
    })
    .join()
    .unwrap()
}

/// OpenVPN over TCP traced live: the kernel follows each direction's records (a 2-byte length,
/// then the packet) across segments and counts them as replay of tcpdump's capture of the same
/// interface does: a record's head split over two segments (in its length, in P_DATA_V2's peer
/// ID), many records in one write (one GSO segment on veth), control records sampled for the
/// session IDs.
#[test]
fn openvpn_over_tcp_records_are_counted_live() {
    openvpn_over_tcp("t", 1194, None);
}

/// OpenVPN over TCP on 443 is told by the stream's first record (a client's reset), as replay
/// tells it; a stream whose first record only has a reset's opcode byte stays a plain TCP flow,
/// though the kernel counted it as a candidate until userspace had read that segment.
#[test]
fn openvpn_over_tcp_off_its_port_is_told_by_its_first_record() {
    openvpn_over_tcp("p", 443, Some(9443));
}

/// One OpenVPN-over-TCP session to `port` (and a look-alike stream to `other`) traced on a veth
/// beside tcpdump; the live tunnel must equal the capture's replay.
fn openvpn_over_tcp(tag: &str, port: u16, other: Option<u16>) {
    use std::io::{Read, Write};
    if !root_or_skip() {
        return;
    }
    let net = Net::new(tag);
    let file = temp(&format!("openvpn-tcp-{port}.pcap"));
    let listener = tcp_listen(&net.b, &format!("198.18.9.2:{port}"));
    let decoy = other.map(|o| tcp_listen(&net.b, &format!("198.18.9.2:{o}")));
    let dump = Dump::start(&net.a, &net.dev, &file);
    let t = Tracer::start(&net.a, &["-i", &net.dev]);
    let record = |first: u8, body: &[u8]| {
        let mut r = ((body.len() + 1) as u16).to_be_bytes().to_vec();
        r.push(first);
        r.extend_from_slice(body);
        r
    };
    let (csid, ssid) =
        ([0x1d, 0x4a, 0x3f, 0x29, 0xe4, 0x3c, 0x0a, 0xb1], [0x52, 0x02, 0x88, 0x5e, 0x6e, 0x10, 0xd8, 0x38]);
    let reset = |first: u8, sid: &[u8]| {
        let mut b = sid.to_vec();
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0x0f, 0, 2]);
        record(first, &b)
    };
    let data = |n: usize| {
        let mut b = vec![0, 0, 7];
        b.extend((0..n).map(|i| (i * 7) as u8));
        record(0x48, &b)
    };
    let mut c = tcp_to(&net.a, &format!("198.18.9.2:{port}"));
    let (mut srv, _) = listener.accept().unwrap();
    let pause = || std::thread::sleep(Duration::from_millis(30));
    c.write_all(&reset(0x38, &csid)).unwrap();
    pause();
    srv.write_all(&reset(0x40, &ssid)).unwrap();
    pause();
    let mut control = csid.to_vec();
    control.extend_from_slice(&[0, 0, 0, 0, 1]);
    control.extend((0..120).map(|i| i as u8));
    c.write_all(&record(0x20, &control)).unwrap();
    pause();
    // A data record whose length is split, then one split inside the peer ID.
    let d = data(300);
    c.write_all(&d[..1]).unwrap();
    pause();
    c.write_all(&d[1..]).unwrap();
    pause();
    let d = data(90);
    c.write_all(&d[..4]).unwrap();
    pause();
    c.write_all(&d[4..]).unwrap();
    pause();
    // Twenty records in one write, then ten from the server.
    let burst: Vec<u8> = (0..20).flat_map(|i| data(100 + 60 * i)).collect();
    c.write_all(&burst).unwrap();
    let burst: Vec<u8> = (0..10).flat_map(|i| data(1300 - 100 * i)).collect();
    srv.write_all(&burst).unwrap();
    pause();
    // The look-alike: a reset's length and opcode byte, then bytes no reset has, then what
    // would be data records.
    if let (Some(o), Some(l)) = (other, decoy.as_ref()) {
        let mut d = tcp_to(&net.a, &format!("198.18.9.2:{o}"));
        let (mut ds, _) = l.accept().unwrap();
        let mut fake = vec![0, 17, 0x38];
        fake.extend_from_slice(&[
            0x9a, 0x11, 0xe3, 0x7c, 0x42, 0x05, 0xd9, 0x61, 0xf0, 0x2b, 0x88, 0x13, 0x57, 0xa4, 0xce, 7,
        ]);
        d.write_all(&fake).unwrap();
        pause();
        for _ in 0..4 {
            d.write_all(&data(50)).unwrap();
            pause();
        }
        d.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        ds.read_to_end(&mut got).unwrap();
        assert_eq!(got.len(), fake.len() + 4 * 56);
    }
    // Each side reads everything before it closes (unread data would make the close a RST).
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut sink = Vec::new();
    srv.read_to_end(&mut sink).unwrap();
    drop(srv);
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back.len(), 19 + (0..10).map(|i| 6 + 1300 - 100 * i).sum::<usize>());
    let control_len = 3 + control.len();
    assert_eq!(sink.len(), 19 + control_len + 306 + 96 + (0..20).map(|i| 6 + 100 + 60 * i).sum::<usize>());
    std::thread::sleep(Duration::from_millis(1500));
    let (r, _) = t.stop();
    dump.stop();
    let captured = tuntrace_core::replay::replay_files(std::slice::from_ref(&file));
    let live = tunnels_of(&r, "openvpn");
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live, tunnels_of(&captured, "openvpn"), "live against replay of tcpdump's capture");
    assert_eq!(live[0]["transport"], "tcp");
    let o = &live[0]["openvpn"];
    assert_eq!((o["control_packets"].as_u64(), o["data_packets"].as_u64()), (Some(3), Some(32)), "{o}");
    assert!(r.malformed.is_empty(), "samples with holes between them are not damage: {:?}", r.malformed);
    if let Some(o) = other {
        let f = r.flows.iter().find(|f| f.dport == Some(o) || f.sport == Some(o)).expect("the look-alike flow");
        assert_eq!(f.app.to_string(), "other", "{f:?}");
    }
    let _ = std::fs::remove_file(&file);
}

/// OpenVPN off port 1194 is told by its first datagram, live as in replay: a flow that begins
/// with a client's reset is counted as OpenVPN from that datagram on, one whose first datagram
/// only has a reset's first byte (1 in 256 of random ones) stays a plain UDP flow, though the
/// kernel counted it as a candidate until userspace had read it.
#[test]
fn openvpn_off_its_port_is_told_by_its_first_datagram() {
    if !root_or_skip() {
        return;
    }
    let sid = [0x1d, 0x4a, 0x3f, 0x29, 0xe4, 0x3c, 0x0a, 0xb1];
    // A client's hard reset (no HMAC: no acks, message packet ID 0), a control message, data.
    let mut reset = vec![0x38];
    reset.extend_from_slice(&sid);
    reset.extend_from_slice(&[0, 0, 0, 0, 0, 0x0f, 0, 2]);
    let mut control = vec![0x20];
    control.extend_from_slice(&sid);
    control.extend_from_slice(&[0, 0, 0, 0, 1, 0x16, 3, 1, 0, 5]);
    let data = [0x48, 0, 0, 7, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18];
    // The reset's first byte, then bytes no OpenVPN packet has; then what would be data.
    let noise = [0x38, 0x9a, 0x11, 0xe3, 0x7c, 0x42, 0x05, 0xd9, 0x61, 0xf0, 0x2b, 0x88, 0x13, 0x57, 0xa4, 0xce];
    let (r, captured) = traced_on_lo("o", &[8443, 9443], |net| {
        let a = udp_in(&net.a, "127.0.0.1:0");
        let b = udp_in(&net.a, "127.0.0.1:0");
        for d in [&reset[..], &control, &data, &data, &data] {
            a.send_to(d, "127.0.0.1:8443").unwrap();
        }
        for d in [&noise[..], &data, &data, &data, &data] {
            b.send_to(d, "127.0.0.1:9443").unwrap();
        }
        10
    });
    let live = tunnels_of(&r, "openvpn");
    assert_eq!(live.len(), 1, "{live:#?}");
    assert_eq!(live, tunnels_of(&captured, "openvpn"), "live against replay of tcpdump's capture");
    assert_eq!(live[0]["dport"], 8443);
    assert_eq!(live[0]["packets"], 5);
    let o = &live[0]["openvpn"];
    assert_eq!((o["control_packets"].as_u64(), o["data_packets"].as_u64()), (Some(2), Some(3)), "{o}");
    let t = r.tunnels.iter().find(|t| t.kind.as_str() == "openvpn").unwrap();
    assert!(t.pid.is_some(), "the sender's: {t:?}");
    // The other flow: five datagrams counted as the UDP flow they are, no tunnel.
    let f = r.flows.iter().find(|f| f.dport == Some(9443) || f.sport == Some(9443)).expect("the 9443 flow");
    assert_eq!(f.packets, 5, "{f:?}");
    assert_eq!(f.app.to_string(), "other", "{f:?}");
}

/// GTP-U, VXLAN, Geneve, GRE and IP in IP traced live: the kernel counts their packets per
/// TEID, VNI, GRE key or PPTP call ID (IP in IP per host pair), and the report's `tunnels` section holds each as replay of
/// tcpdump's capture of the same interface does (ends, identifiers, packets, bytes, PPTP's
/// variant), with the sending process; what they carry is not read live, nor GRE's sequence
/// numbers (docs/limitations.md).
#[test]
fn tunnels_are_counted_by_identifier_live() {
    if !root_or_skip() {
        return;
    }
    let inner = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 40_000, 9, b"data");
    let (r, captured) = traced_on_lo("u", &[2152, 4789, 6081], |net| send_tunnels(net, &inner));
    let kinds = [
        ("gtp-u", &["00001000", "00002000", "00000000"][..]),
        ("vxlan", &["42"]),
        ("geneve", &["7"]),
        ("gre", &["5", "6", "9"]),
        ("ipip", &[]),
    ];
    for (kind, ids) in kinds {
        // GRE's sequence numbers (PPTP's here) are followed by replay only.
        let without_gre = |mut v: Vec<serde_json::Value>| {
            v.iter_mut().for_each(|t| t["gre"] = serde_json::Value::Null);
            v
        };
        let live = without_gre(tunnels_of(&r, kind));
        assert_eq!(live.len(), 1, "{kind}: {live:?}");
        let mut got: Vec<&str> = live[0]["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        got.sort();
        let mut want = ids.to_vec();
        want.sort();
        assert_eq!(got, want, "{kind}");
        // Identifiers are listed in order of first sight, which live is known to the kernel
        // clock's tick (a few ms): compared as sets.
        let sorted = |mut v: Vec<serde_json::Value>| {
            for t in &mut v {
                t["ids"].as_array_mut().unwrap().sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
            v
        };
        let replayed = sorted(without_gre(tunnels_of(&captured, kind)));
        assert_eq!(sorted(live), replayed, "{kind}: live against replay of tcpdump's capture");
        let t = r.tunnels.iter().find(|t| t.kind.as_str() == kind).unwrap();
        assert!(t.pid.is_some(), "{kind}: the sender's: {t:?}");
    }
}

/// The packets of [`tunnels_are_counted_by_identifier_live`], sent from namespace `net.a` over
/// lo, each carrying `inner`: GTP-U, VXLAN and Geneve to the sinks (their count returned), GRE,
/// PPTP and IP in IP from raw sockets.
fn send_tunnels(net: &Net, inner: &[u8]) -> usize {
    let mut ether = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 8, 0];
    ether.extend_from_slice(inner);
    let s = udp_in(&net.a, "127.0.0.1:0");
    let mut sent = 0;
    let mut send = |port: u16, d: &[u8]| {
        s.send_to(d, ("127.0.0.1", port)).unwrap();
        sent += 1;
    };
    for (teid, n) in [(0x1000u32, 3), (0x2000, 2)] {
        let mut g = vec![0x30, 0xff];
        g.extend_from_slice(&(inner.len() as u16).to_be_bytes());
        g.extend_from_slice(&teid.to_be_bytes());
        g.extend_from_slice(inner);
        (0..n).for_each(|_| send(2152, &g));
    }
    // An echo request (sequence number flag, TEID 0).
    send(2152, &[0x32, 1, 0, 4, 0, 0, 0, 0, 0, 7, 0, 0]);
    let mut v = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
    v.extend_from_slice(&ether);
    (0..2).for_each(|_| send(4789, &v));
    let mut g = vec![0x00, 0x00, 0x65, 0x58, 0, 0, 7, 0];
    g.extend_from_slice(&ether);
    (0..4).for_each(|_| send(6081, &g));
    // GRE with keys 5 and 6 (the second after a checksum word), and PPTP's with call ID 9.
    let gre = raw_in(&net.a, 47);
    for (flags, key, n) in [(0x20u8, 5u32, 2), (0xa0, 6, 1)] {
        let mut b = vec![flags, 0, 0x08, 0x00];
        if flags & 0x80 != 0 {
            b.extend_from_slice(&[0, 0, 0, 0]);
        }
        b.extend_from_slice(&key.to_be_bytes());
        b.extend_from_slice(inner);
        (0..n).for_each(|_| raw_send(&gre, &b));
    }
    let mut ppp = vec![0xff, 0x03, 0x00, 0x21];
    ppp.extend_from_slice(inner);
    let mut b = vec![0x30, 0x01, 0x88, 0x0b];
    b.extend_from_slice(&(ppp.len() as u16).to_be_bytes());
    b.extend_from_slice(&9u16.to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes());
    b.extend_from_slice(&ppp);
    raw_send(&gre, &b);
    // IPv4 in IPv4, three times.
    let ipip = raw_in(&net.a, 4);
    (0..3).for_each(|_| raw_send(&ipip, inner));
    sent
}

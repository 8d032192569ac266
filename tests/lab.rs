//! The Wi-Fi-calling lab end to end, with real peers (strongSwan, SIPp, tcpdump). Needs root and
//! the packages of ci/setup: a missing one fails the test with its name, it is never skipped.
//!
//! Each test uses its own prefix, so the tests run in parallel without sharing a namespace, an
//! interface, a vici socket or a state directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use tuntrace_core::report::Report;
use tuntrace_lab::{self as lab, truth::GroundTruth, Auth, Lab, LabConfig, SipTransport, TeardownReport};

fn workdir(prefix: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tuntrace-lab-test-{prefix}"));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn require_prerequisites() {
    if let Err(e) = lab::check_prerequisites() {
        panic!("{e}");
    }
}

fn progress(prefix: &str) -> impl FnMut(&str) + '_ {
    move |m: &str| eprintln!("[{prefix}] {m}")
}

/// Up, scenario, down; asserts teardown left nothing.
fn cycle(cfg: &LabConfig) -> (GroundTruth, TeardownReport, Vec<u32>) {
    require_prerequisites();
    let mut p = progress(&cfg.prefix);
    let mut l = Lab::up(cfg, &mut p).unwrap_or_else(|e| panic!("lab up: {e}"));
    let truth = l.run_scenario(&mut p).unwrap_or_else(|e| panic!("scenario: {e}"));
    let started = l.started();
    let roles: Vec<&str> = started.iter().map(|(w, _)| w.as_str()).collect();
    assert!(roles.contains(&"charon ue") && roles.contains(&"charon epdg"), "{roles:?}");
    if cfg.capture {
        assert!(roles.contains(&"tcpdump outer") && roles.contains(&"tcpdump inner"), "{roles:?}");
    }
    if cfg.calls > 0 {
        assert!(roles.contains(&"sipp uas") && roles.contains(&"sipp calls"), "{roles:?}");
    }
    let pids: Vec<u32> = started.iter().map(|(_, p)| *p).collect();
    assert!(pids.contains(&truth.charon_pids.ue) && pids.contains(&truth.charon_pids.epdg));
    let down = l.down().unwrap_or_else(|e| panic!("lab down: {e}"));
    eprintln!(
        "[{}] up {} ms, scenario {} ms, down {} ms",
        cfg.prefix, truth.timings_ms.up, truth.timings_ms.scenario, down.duration_ms
    );
    assert_nothing_left(&cfg.prefix, &pids);
    if cfg.capture {
        replay_agrees_with_truth(&truth);
    }
    (truth, down, pids)
}

/// tuntrace's report of this run's captures must tell what the peers say happened.
fn replay_agrees_with_truth(t: &GroundTruth) {
    let out = Command::new(env!("CARGO_BIN_EXE_tuntrace"))
        .args(["replay", "--json"])
        .arg(t.captures.outer.as_deref().expect("outer capture"))
        .arg(t.captures.inner.as_deref().expect("inner capture"))
        .output()
        .expect("run tuntrace");
    assert!(out.status.success(), "tuntrace replay: {}", String::from_utf8_lossy(&out.stderr));
    let report: Report = serde_json::from_slice(&out.stdout).expect("report JSON");
    let bad = t.check_report(&report);
    assert!(bad.is_empty(), "[{}] report disagrees with the peers:\n{}", t.scenario.prefix, bad.join("\n"));
    assert_eq!(report.stats.malformed, 0, "{:?}", report.malformed);
}

fn assert_nothing_left(prefix: &str, pids: &[u32]) {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip netns list");
    let list = String::from_utf8_lossy(&out.stdout);
    for ns in [format!("{prefix}ue"), format!("{prefix}epdg")] {
        assert!(!list.lines().any(|l| l.split_whitespace().next() == Some(ns.as_str())), "namespace {ns} left: {list}");
    }
    assert_nothing_running(pids);
    let links = Command::new("ip").args(["-o", "link", "show"]).output().expect("ip link");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains(&format!(" {prefix}ue0")) && !links.contains(&format!(" {prefix}gw0")),
        "veth left in host: {links}"
    );
    let state = Path::new("/run/tuntrace-lab").join(prefix);
    assert!(!state.exists(), "state dir {} left", state.display());
}

fn assert_nothing_running(pids: &[u32]) {
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next()).unwrap_or(None);
        assert!(matches!(state, None | Some('Z') | Some('X')), "pid {pid} still running: {stat}");
    }
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn tshark_fields(file: &Path, filter: &str, field: &str) -> Vec<String> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-e", field])
        .output()
        .unwrap_or_else(|e| panic!("tshark (package tshark, run ci/setup): {e}"));
    assert!(out.status.success(), "tshark on {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

/// Records in a classic pcap file (what tcpdump -w writes).
fn pcap_records(file: &Path) -> u64 {
    let b = std::fs::read(file).expect("read pcap");
    assert!(b.len() >= 24, "{} too short", file.display());
    let le = b[..4] == [0xd4, 0xc3, 0xb2, 0xa1] || b[..4] == [0x4d, 0x3c, 0xb2, 0xa1];
    let mut at = 24usize;
    let mut n = 0;
    while at + 16 <= b.len() {
        let f = [b[at + 8], b[at + 9], b[at + 10], b[at + 11]];
        let caplen = if le { u32::from_le_bytes(f) } else { u32::from_be_bytes(f) } as usize;
        at += 16 + caplen;
        n += 1;
    }
    n
}

/// The peers' account must be self-consistent and agree with an independent reading of the
/// captures (tshark).
fn check_truth(cfg: &LabConfig, t: &GroundTruth) {
    assert_eq!(t.ike_sas.len(), 1, "{t:#?}");
    let ike = &t.ike_sas[0];
    assert_eq!(ike.version, 2);
    assert_eq!(ike.state, "established");
    assert!(ike.is_initiator);
    assert!(is_hex(&ike.initiator_spi, 16) && is_hex(&ike.responder_spi, 16), "{ike:?}");
    assert!(ike.nat_any, "forced NAT-T must show as NAT");
    assert_eq!((ike.local_port, ike.remote_port), (4500, 4500));
    let (ue, epdg) = if cfg.ipv6_outer { ("2001:2::2", "2001:2::1") } else { ("198.18.0.2", "198.18.0.1") };
    assert_eq!((ike.local_address.as_str(), ike.remote_address.as_str()), (ue, epdg));
    let gw = t.epdg_ike_sas.first().expect("ePDG lists the SA");
    assert_eq!((&gw.initiator_spi, &gw.responder_spi), (&ike.initiator_spi, &ike.responder_spi));
    assert!(!gw.is_initiator);

    let child = t.child().expect("child SA");
    assert!(child.encap && is_hex(&child.spi_in, 8) && is_hex(&child.spi_out, 8), "{child:?}");
    let gw_child = gw.child_sas.first().expect("ePDG child SA");
    assert_eq!((&gw_child.spi_in, &gw_child.spi_out), (&child.spi_out, &child.spi_in));

    let vip = t.virtual_ip.as_deref().expect("virtual IP");
    assert!(vip.starts_with("198.19.1."), "{vip}");
    assert_eq!(ike.local_vips, vec![vip.to_string()]);
    assert_eq!(t.pcscf.as_deref(), Some("198.19.0.1"));
    assert!(t.pcscf_received_by_ue, "UE's charon must log the P-CSCF attribute");

    let holder = t.ipsec0_holder.as_ref().expect("ipsec0 holder");
    assert_eq!(holder.pid, t.charon_pids.ue);
    assert_eq!(holder.comm, "charon");

    let want = usize::from(cfg.register) + cfg.calls as usize;
    assert_eq!(t.sip.len(), want, "{:#?}", t.sip);
    let mut dialogs = t.sip.iter();
    if cfg.register {
        let r = dialogs.next().unwrap();
        assert_eq!(r.sequence, ["REGISTER", "401", "REGISTER", "200"]);
    }
    for d in dialogs {
        assert_eq!(d.sequence, ["INVITE", "180", "200", "ACK", "BYE", "200"], "{}", d.call_id);
        assert_eq!(d.transport, cfg.sip_transport.as_str());
    }

    if cfg.capture {
        check_captures(t);
    }
}

/// Captures against the truth, through tshark and a plain pcap record count.
fn check_captures(t: &GroundTruth) {
    let outer = t.captures.outer.as_deref().expect("outer capture");
    let inner = t.captures.inner.as_deref().expect("inner capture");
    let (n_outer, n_inner) = (t.packets.outer.expect("outer count"), t.packets.inner.expect("inner count"));
    assert_eq!(pcap_records(outer), n_outer, "tcpdump's count vs records in {}", outer.display());
    assert_eq!(pcap_records(inner), n_inner, "tcpdump's count vs records in {}", inner.display());

    let ike = t.ike().unwrap();
    let child = t.child().unwrap();
    let ispis = tshark_fields(outer, "isakmp", "isakmp.ispi");
    assert!(ispis.len() >= 4, "IKE_SA_INIT and IKE_AUTH both ways: {ispis:?}");
    assert!(
        ispis.iter().all(|s| s.trim_start_matches("0x") == ike.initiator_spi),
        "{ispis:?} vs {}",
        ike.initiator_spi
    );
    let ports = tshark_fields(outer, "isakmp", "udp.dstport");
    assert_eq!(ports.first().map(String::as_str), Some("500"), "IKE_SA_INIT on 500");
    assert!(ports.iter().skip(2).all(|p| p == "4500"), "IKE_AUTH on 4500: {ports:?}");

    let esp: Vec<String> =
        tshark_fields(outer, "esp", "esp.spi").into_iter().map(|s| s.trim_start_matches("0x").to_string()).collect();
    let out_n = esp.iter().filter(|s| **s == child.spi_out).count() as u64;
    let in_n = esp.iter().filter(|s| **s == child.spi_in).count() as u64;
    assert_eq!(out_n + in_n, esp.len() as u64, "only this SA's SPIs on the wire: {esp:?}");
    assert_eq!(esp.len() as u64, n_inner, "inner and outer packets match one for one");
    assert_eq!(Some(out_n), child.packets_out, "ESP sent vs charon's counter");
    assert_eq!(Some(in_n), child.packets_in, "ESP received vs charon's counter");
    let others = tshark_fields(outer, "not esp and not isakmp", "frame.number");
    assert!(others.is_empty(), "outer veth shows only IKE and ESP: frames {others:?}");

    let mut call_ids = tshark_fields(inner, "sip.Call-ID", "sip.Call-ID");
    call_ids.dedup();
    let mut seen: Vec<String> = Vec::new();
    for c in call_ids {
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    let truth_ids: Vec<String> = t.sip.iter().map(|d| d.call_id.clone()).collect();
    assert_eq!(seen, truth_ids, "Call-IDs on ipsec0 vs SIPp's trace");
    let sip_msgs = tshark_fields(inner, "sip", "sip.Call-ID").len() as u32;
    assert_eq!(sip_msgs, t.sip.iter().map(|d| d.messages).sum::<u32>(), "SIP messages on ipsec0 vs SIPp's trace");
}

#[test]
fn psk_udp_register_and_calls() {
    let cfg = LabConfig::new("tlp-", workdir("tlp-"));
    let (truth, _, _) = cycle(&cfg);
    check_truth(&cfg, &truth);
    let _ = std::fs::remove_dir_all(&cfg.workdir);
}

#[test]
fn eap_variant() {
    let mut cfg = LabConfig::new("tle-", workdir("tle-"));
    cfg.auth = Auth::Eap;
    cfg.calls = 1;
    let (truth, _, _) = cycle(&cfg);
    check_truth(&cfg, &truth);
    let log = std::fs::read_to_string(cfg.workdir.join("ue/charon.log")).unwrap_or_default();
    assert!(log.contains("EAP_MD5"), "UE's charon must have used EAP-MD5");
    let _ = std::fs::remove_dir_all(&cfg.workdir);
}

#[test]
fn sip_over_tcp_variant() {
    let mut cfg = LabConfig::new("tlt-", workdir("tlt-"));
    cfg.sip_transport = SipTransport::Tcp;
    let (truth, _, _) = cycle(&cfg);
    check_truth(&cfg, &truth);
    let syns = tshark_fields(
        truth.captures.inner.as_deref().unwrap(),
        "tcp.flags.syn == 1 and tcp.flags.ack == 0",
        "tcp.dstport",
    );
    assert!(syns.iter().all(|p| p == "5060") && !syns.is_empty(), "SIP over TCP to 5060: {syns:?}");
    let _ = std::fs::remove_dir_all(&cfg.workdir);
}

#[test]
fn ipv6_outer_variant() {
    let mut cfg = LabConfig::new("tl6-", workdir("tl6-"));
    cfg.ipv6_outer = true;
    cfg.calls = 1;
    let (truth, _, _) = cycle(&cfg);
    check_truth(&cfg, &truth);
    let srcs = tshark_fields(truth.captures.outer.as_deref().unwrap(), "ipv6", "ipv6.src");
    assert_eq!(srcs.len() as u64, truth.packets.outer.unwrap(), "every outer packet is IPv6");
    let _ = std::fs::remove_dir_all(&cfg.workdir);
}

#[test]
fn three_cycles_leave_nothing_behind() {
    let mut cfg = LabConfig::new("tl3-", workdir("tl3-"));
    cfg.calls = 1;
    let mut seen = Vec::new();
    for i in 0..3 {
        let (truth, down, pids) = cycle(&cfg);
        assert_eq!(truth.sip.len(), 2, "cycle {i}");
        assert_eq!(down.namespaces_removed.len(), 2, "cycle {i}");
        seen.extend(pids);
    }
    assert_nothing_left("tl3-", &seen);
    let left: Vec<_> = std::fs::read_dir(&cfg.workdir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    for side in ["ue", "epdg"] {
        assert!(!cfg.workdir.join(side).join("swanctl.conf").exists(), "generated config removed: {left:?}");
    }
    let _ = std::fs::remove_dir_all(&cfg.workdir);
}

/// Child side of the next test: bring a lab up, say so, and wait to be killed.
#[test]
#[ignore = "helper: run as a child process by leftovers_of_a_killed_run_are_cleaned_on_next_start"]
fn helper_lab_up_then_wait_to_be_killed() {
    let Some(dir) = std::env::var_os("TUNTRACE_LAB_HELPER_DIR") else {
        return;
    };
    let mut cfg = LabConfig::new("tlk-", PathBuf::from(dir));
    cfg.calls = 0;
    cfg.register = false;
    let l = Lab::up(&cfg, &mut |m: &str| eprintln!("[tlk- child] {m}")).unwrap_or_else(|e| panic!("lab up: {e}"));
    println!("READY {}", l.pids().iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn leftovers_of_a_killed_run_are_cleaned_on_next_start() {
    use std::io::{BufRead, BufReader};
    require_prerequisites();
    let dir = workdir("tlk-");
    // A real killed run: another process brings the lab up and is SIGKILLed, so no Drop runs.
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "helper_lab_up_then_wait_to_be_killed", "--nocapture", "--test-threads", "1"])
        .env("TUNTRACE_LAB_HELPER_DIR", &dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn helper");
    let mut old: Vec<u32> = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        // libtest's own "test NAME ... " may precede the line on stdout.
        if let Some((_, rest)) = line.split_once("READY") {
            old = rest.split_whitespace().map(|p| p.parse().unwrap()).collect();
            break;
        }
    }
    assert!(old.len() >= 2, "helper did not bring its lab up");
    // While its owner lives, the lab is not a leftover: it must not be taken over.
    let mut probe = LabConfig::new("tlk-", workdir("tlk-probe"));
    probe.capture = false;
    let err = Lab::up(&probe, &mut |_: &str| {}).err().expect("live lab must not be taken over");
    assert!(err.to_string().contains(&format!("in use by running pid {}", child.id())), "{err}");
    let _ = std::fs::remove_dir_all(&probe.workdir);
    assert!(std::fs::read_to_string(format!("/proc/{}/comm", old[0])).unwrap_or_default().starts_with("charon"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(Path::new("/run/netns/tlk-ue").exists(), "the killed run's namespace is still there");
    let charon = old[0];
    assert!(std::fs::read_to_string(format!("/proc/{charon}/comm")).unwrap_or_default().starts_with("charon"));

    let mut cfg = LabConfig::new("tlk-", dir);
    cfg.calls = 0;
    cfg.register = false;
    cfg.capture = false;
    let mut lines = Vec::new();
    let mut record = |m: &str| {
        eprintln!("[tlk-] {m}");
        lines.push(m.to_string());
    };
    let second = Lab::up(&cfg, &mut record).unwrap_or_else(|e| panic!("second lab up: {e}"));
    for what in ["charon ue", "charon epdg", "deleted namespace tlk-ue"] {
        assert!(
            lines.iter().any(|l| l.contains("cleaned leftover") && l.contains(what)),
            "{what} not cleaned: {lines:?}"
        );
    }
    // Orphans are reaped by init, possibly a moment later: a zombie is not a survivor.
    assert_nothing_running(&old);
    // The same prefix cannot be brought up twice at once.
    let err = Lab::up(&cfg, &mut |_: &str| {}).err().expect("second concurrent lab must be refused");
    assert!(err.to_string().contains("already up"), "{err}");
    let pids = second.pids();
    second.down().unwrap_or_else(|e| panic!("lab down: {e}"));
    assert_nothing_left("tlk-", &pids);
    let _ = std::fs::remove_dir_all(&cfg.workdir);
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/lab")
}

/// The committed fixtures still agree with the truth recorded beside them (needs tshark only).
#[test]
fn fixtures_match_their_truth() {
    let t = GroundTruth::read(&fixtures_dir().join("truth.json")).unwrap_or_else(|e| panic!("{e}"));
    let cfg = LabConfig::new(&t.scenario.prefix, "/nonexistent");
    assert_eq!((t.scenario.register, t.scenario.calls, t.scenario.auth.as_str()), (true, 2, "psk"));
    let mut cfg = cfg;
    cfg.calls = t.scenario.calls;
    check_truth(&cfg, &t);
    for f in [t.captures.outer.as_deref().unwrap(), t.captures.inner.as_deref().unwrap()] {
        let size = std::fs::metadata(f).unwrap().len();
        assert!(size < 200 * 1024, "{} is {size} bytes", f.display());
    }
}

/// Regenerates tests/fixtures/lab (run by ci/record-lab-fixtures, not part of the normal run).
#[test]
#[ignore = "generator: ci/record-lab-fixtures runs it on purpose"]
fn record_fixtures() {
    // `cargo test -- --ignored` must not silently rewrite committed test data.
    if std::env::var_os("TUNTRACE_RECORD_FIXTURES").is_none() {
        eprintln!("record_fixtures: set TUNTRACE_RECORD_FIXTURES=1 (ci/record-lab-fixtures does) to re-record");
        return;
    }
    let dir = fixtures_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = LabConfig::new("tlr-", workdir("tlr-"));
    let (truth, _, _) = cycle(&cfg);
    check_truth(&cfg, &truth);
    for (src, name) in [(&truth.captures.outer, "outer.pcap"), (&truth.captures.inner, "inner.pcap")] {
        std::fs::copy(src.as_ref().unwrap(), dir.join(name)).unwrap();
    }
    let mut t = truth.with_relative_captures();
    t.captures.outer = Some("outer.pcap".into());
    t.captures.inner = Some("inner.pcap".into());
    let text = serde_json::to_string_pretty(&t).unwrap() + "\n";
    std::fs::write(dir.join("truth.json"), text).unwrap();
    let _ = std::fs::remove_dir_all(&cfg.workdir);
}

/// What `tuntrace demo` calls: one function, progress all along, everything removed after.
#[test]
fn demo_flow_reports_progress_and_cleans_up() {
    require_prerequisites();
    let mut cfg = LabConfig::demo(workdir("tld-"));
    cfg.prefix = "tld-".into();
    let mut lines = Vec::new();
    let mut p = |m: &str| {
        eprintln!("[tld-] {m}");
        lines.push(m.to_string());
    };
    let out = lab::demo(&cfg, &mut p).unwrap_or_else(|e| panic!("demo: {e}"));
    assert!(lines.len() >= 10, "progress while it works: {lines:?}");
    assert!(lines.last().is_some_and(|l| l.starts_with("lab down in")), "{lines:?}");
    check_truth(&cfg, &out.truth);
    assert_nothing_left("tld-", &[out.truth.charon_pids.ue, out.truth.charon_pids.epdg]);
    eprintln!(
        "[tld-] demo: up {} ms, scenario {} ms, down {} ms",
        out.truth.timings_ms.up, out.truth.timings_ms.scenario, out.teardown.duration_ms
    );
    let _ = std::fs::remove_dir_all(&cfg.workdir);
}

/// tuntrace's own report of the fixture captures must agree with the peers' truth.
#[test]
fn replayed_fixtures_match_truth() {
    let t = GroundTruth::read(&fixtures_dir().join("truth.json")).unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_tuntrace"))
        .args(["replay", "--json"])
        .arg(t.captures.outer.as_deref().unwrap())
        .arg(t.captures.inner.as_deref().unwrap())
        .output()
        .expect("run tuntrace");
    assert!(out.status.success(), "tuntrace replay: {}", String::from_utf8_lossy(&out.stderr));
    let report: Report = serde_json::from_slice(&out.stdout).expect("report JSON");
    let bad = t.check_report(&report);
    assert!(bad.is_empty(), "report disagrees with the peers:\n{}", bad.join("\n"));
}

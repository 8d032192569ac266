//! The Wi-Fi-calling lab end to end, with real peers (strongSwan, wireguard-go, OpenVPN, SIPp,
//! tcpdump). Needs root and the packages of ci/setup: a missing one fails the test with its name,
//! it is never skipped.
//!
//! Each test uses its own prefix, so the tests run in parallel without sharing a namespace, an
//! interface, a vici socket or a state directory.

use std::path::{Path, PathBuf};
use std::process::Command;

use tuntrace_core::report::Report;
use tuntrace_lab::{self as lab, truth::GroundTruth, Auth, Lab, LabConfig, SipTransport, TeardownReport, Tunnel};

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

fn require_prerequisites_for(t: Tunnel) {
    if let Err(e) = lab::check_prerequisites_for(t) {
        panic!("{e}");
    }
}

fn progress(prefix: &str) -> impl FnMut(&str) + '_ {
    move |m: &str| eprintln!("[{prefix}] {m}")
}

/// Up, scenario, down; asserts teardown left nothing.
fn cycle(cfg: &LabConfig) -> (GroundTruth, TeardownReport, Vec<u32>) {
    require_prerequisites_for(cfg.tunnel);
    let mut p = progress(&cfg.prefix);
    let mut l = Lab::up(cfg, &mut p).unwrap_or_else(|e| panic!("lab up: {e}"));
    let truth = l.run_scenario(&mut p).unwrap_or_else(|e| panic!("scenario: {e}"));
    let started = l.started();
    let roles: Vec<&str> = started.iter().map(|(w, _)| w.as_str()).collect();
    let daemon = match cfg.tunnel {
        Tunnel::Ipsec => "charon",
        Tunnel::WireGuard => "wireguard-go",
        Tunnel::OpenVpn { .. } => "openvpn",
    };
    for side in ["ue", "epdg"] {
        assert!(roles.contains(&format!("{daemon} {side}").as_str()), "{roles:?}");
    }
    if cfg.capture {
        assert!(roles.contains(&"tcpdump outer") && roles.contains(&"tcpdump inner"), "{roles:?}");
    }
    if cfg.calls > 0 {
        assert!(roles.contains(&"sipp uas") && roles.contains(&"sipp calls"), "{roles:?}");
    }
    let pids: Vec<u32> = started.iter().map(|(_, p)| *p).collect();
    if cfg.tunnel == Tunnel::Ipsec {
        assert!(pids.contains(&truth.charon_pids.ue) && pids.contains(&truth.charon_pids.epdg));
    }
    assert_eq!(truth.daemons.len(), 2, "{:?}", truth.daemons);
    for d in &truth.daemons {
        assert!(d.program == daemon && pids.contains(&d.pid), "{d:?} not among the lab's processes {started:?}");
    }
    assert_eq!(truth.scenario.tunnel, cfg.tunnel.as_str());
    let down = l.down().unwrap_or_else(|e| panic!("lab down: {e}"));
    eprintln!(
        "[{}] {}: up {} ms, tunnel {} ms, scenario {} ms, down {} ms",
        cfg.prefix,
        cfg.tunnel,
        truth.timings_ms.up,
        truth.timings_ms.tunnel,
        truth.timings_ms.scenario,
        down.duration_ms
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
    let mut bad = t.check_report(&report);
    // WireGuard's indices and OpenVPN's session IDs and counts, as tshark and the daemons saw
    // them (nothing to hold for IPsec).
    bad.extend(t.check_report_tunnels(&report));
    assert!(bad.is_empty(), "[{}] report disagrees with the peers:\n{}", t.scenario.prefix, bad.join("\n"));
    assert_eq!(report.stats.malformed, 0, "{:?}", report.malformed);

    // The demo's report of the same captures names the interfaces, so it can also be held to the
    // interface counts, the TUN holder and the flows on each side.
    let named = tuntrace::demo::report_from_truth(t);
    let mut bad = t.check_report(&named);
    bad.extend(t.check_report_interfaces(&named));
    bad.extend(t.check_report_tunnels(&named));
    assert!(bad.is_empty(), "[{}] named report disagrees with the peers:\n{}", t.scenario.prefix, bad.join("\n"));
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

    check_sip_dialogs(cfg, t);

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

    check_inner_sip(inner, t);
}

/// SIPp's own trace: the registration with its digest challenge, then each call.
fn check_sip_dialogs(cfg: &LabConfig, t: &GroundTruth) {
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
}

/// The SIP on the tunnel interface, read by tshark, against SIPp's trace.
fn check_inner_sip(inner: &Path, t: &GroundTruth) {
    let mut call_ids = tshark_fields(inner, "sip.Call-ID", "sip.Call-ID");
    call_ids.dedup();
    let mut seen: Vec<String> = Vec::new();
    for c in call_ids {
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    let truth_ids: Vec<String> = t.sip.iter().map(|d| d.call_id.clone()).collect();
    assert_eq!(seen, truth_ids, "Call-IDs on the tunnel interface vs SIPp's trace");
    let sip_msgs = tshark_fields(inner, "sip", "sip.Call-ID").len() as u32;
    assert_eq!(
        sip_msgs,
        t.sip.iter().map(|d| d.messages).sum::<u32>(),
        "SIP messages on the tunnel interface vs SIPp's trace"
    );
}

/// tshark's fields of the packets matching `filter`, one row per packet, with `decode` (`-d`)
/// rules; a field with several occurrences in a packet keeps them comma-separated.
fn tshark_rows(file: &Path, decode: &[&str], filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"]).arg(file);
    for d in decode {
        cmd.args(["-d", d]);
    }
    cmd.args(["-Y", filter, "-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("tshark (package tshark, run ci/setup): {e}"));
    assert!(out.status.success(), "tshark on {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap_or_else(|_| panic!("{s:?} is not hex")),
        None => s.parse().unwrap_or_else(|_| panic!("{s:?} is not a number")),
    }
}

/// Inner packets (IP total length) sent by `src`, in capture order, as tshark reads the TUN capture.
fn inner_lengths(inner: &Path, src: &str) -> Vec<u64> {
    tshark_rows(inner, &[], &format!("ip.src == {src}"), &["ip.len"])
        .iter()
        .map(|r| num(r[0].split(',').next().unwrap()))
        .collect()
}

/// What holds the UE's tunnel and which daemons ran, for the WireGuard and OpenVPN scenarios.
fn check_tun_and_daemons(t: &GroundTruth, name: &str, program: &str, ue: &str, epdg: &str) {
    let tun = t.tun.as_ref().expect("tun section");
    assert_eq!((tun.name.as_str(), tun.address.as_deref(), tun.peer_address.as_deref()), (name, Some(ue), Some(epdg)));
    let ue_daemon = t.daemons.iter().find(|d| d.side == "ue").expect("UE daemon");
    let holder = tun.holder.as_ref().unwrap_or_else(|| panic!("nobody holds {name}"));
    assert_eq!((holder.pid, holder.comm.as_str()), (ue_daemon.pid, program), "{name} held by the UE's {program}");
    assert!(t.daemons.iter().any(|d| d.side == "epdg" && d.program == program), "{:?}", t.daemons);
    assert_eq!((t.ike_sas.len(), t.ipsec0_holder.as_ref()), (0, None), "no IPsec in this scenario");
}

/// WireGuard: both daemons' `wg show` against each other, and the capture (read by tshark)
/// against both: indices, counters, sizes, and the transfer counters to the byte.
fn check_wireguard(cfg: &LabConfig, t: &GroundTruth) {
    check_tun_and_daemons(t, "wg0", "wireguard-go", "198.19.2.2", "198.19.2.1");
    check_sip_dialogs(cfg, t);
    let wg = t.wireguard.as_ref().expect("wireguard section");
    let (ue, epdg) = (&wg.ue, &wg.epdg);
    assert_eq!((ue.peers.len(), epdg.peers.len()), (1, 1), "{wg:#?}");
    let (ue_peer, epdg_peer) = (&ue.peers[0], &epdg.peers[0]);
    assert_eq!(ue_peer.public_key, epdg.public_key, "the UE's peer is the ePDG");
    assert_eq!(epdg_peer.public_key, ue.public_key, "the ePDG's peer is the UE");
    assert_eq!(epdg.listen_port, 51820);
    assert_eq!(ue_peer.endpoint.as_deref(), Some("198.18.0.1:51820"));
    let ue_end = format!("198.18.0.2:{}", ue.listen_port);
    assert_eq!(epdg_peer.endpoint.as_deref(), Some(ue_end.as_str()), "the ePDG learned the UE's endpoint");
    assert_eq!(ue_peer.persistent_keepalive, Some(25));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for p in [ue_peer, epdg_peer] {
        assert!(p.latest_handshake > 0 && p.latest_handshake <= now && now - p.latest_handshake < 120, "{p:?}");
    }
    // Nothing is lost on a veth: what one side sent, the other received.
    assert_eq!((ue_peer.tx_bytes, ue_peer.rx_bytes), (epdg_peer.rx_bytes, epdg_peer.tx_bytes));

    let outer = t.captures.outer.as_deref().expect("outer capture");
    let inner = t.captures.inner.as_deref().expect("inner capture");
    let (n_outer, n_inner) = (t.packets.outer.expect("outer count"), t.packets.inner.expect("inner count"));
    assert_eq!(pcap_records(outer), n_outer, "tcpdump's count vs records in {}", outer.display());
    assert_eq!(pcap_records(inner), n_inner, "tcpdump's count vs records in {}", inner.display());
    let rows = tshark_rows(
        outer,
        &["udp.port==51820,wg"],
        "wg",
        &["ip.src", "udp.srcport", "udp.length", "wg.type", "wg.sender", "wg.receiver", "wg.counter"],
    );
    assert_eq!(rows.len() as u64, n_outer, "every outer packet is WireGuard");
    let from_ue = |r: &Vec<String>| format!("{}:{}", r[0], r[1]) == ue_end;
    let (init, resp) = (&rows[0], &rows[1]);
    assert!(from_ue(init) && init[3] == "1", "the UE initiates: {init:?}");
    assert!(!from_ue(resp) && resp[3] == "2", "the ePDG responds: {resp:?}");
    let (i_idx, r_idx) = (init[4].clone(), resp[4].clone());
    assert_eq!(resp[5], i_idx, "the response names the initiation's sender index");
    assert_eq!(rows.iter().filter(|r| r[3] == "1" || r[3] == "2").count(), 2, "one handshake");
    let w = wg.wire.as_ref().expect("truth has tshark's reading");
    assert_eq!(w.handshakes.len(), 1);
    let hs = &w.handshakes[0];
    let strip = |s: &str| s.trim_start_matches("0x").to_string();
    assert_eq!(
        (hs.initiator.as_str(), hs.initiator_index.clone(), hs.responder_index.clone()),
        (ue_end.as_str(), strip(&i_idx), Some(strip(&r_idx)))
    );

    let mut payload = [0u64; 2];
    for (dir, (receiver, src)) in [(&r_idx, "198.19.2.2"), (&i_idx, "198.19.2.1")].into_iter().enumerate() {
        let up = dir == 0;
        let data: Vec<&Vec<String>> = rows.iter().filter(|r| r[3] == "4" && from_ue(r) == up).collect();
        assert!(data.iter().all(|r| &r[5] == receiver), "transport data names the peer's index {receiver}");
        let counters: Vec<u64> = data.iter().map(|r| num(&r[6])).collect();
        assert_eq!(counters, (0..data.len() as u64).collect::<Vec<_>>(), "counters 0.. without gaps");
        // Each inner packet is padded to 16 bytes and gains a 16-byte header and a 16-byte tag.
        let sizes: Vec<u64> = data.iter().map(|r| num(&r[2]) - 8).filter(|l| *l != 32).collect();
        let want: Vec<u64> = inner_lengths(inner, src).iter().map(|l| 32 + l.div_ceil(16) * 16).collect();
        assert_eq!(sizes, want, "transport data from {src}'s side vs its inner packets, in order");
        payload[dir] = rows.iter().filter(|r| from_ue(r) == up).map(|r| num(&r[2]) - 8).sum();
    }
    assert!(w.keepalives >= 1, "the keepalive that started the handshake");
    assert_eq!(w.initiations + w.responses + w.transport, n_outer);
    // wireguard-go counts the UDP payloads it sent and received, handshakes included.
    assert_eq!((ue_peer.tx_bytes, ue_peer.rx_bytes), (payload[0], payload[1]), "wg transfer vs the capture");
    check_inner_sip(inner, t);
}

/// OpenVPN: the status files and the client's log against the capture (read by tshark):
/// opcodes in order, one session ID per side, key and peer IDs, data packets one for one with the
/// inner packets, and the byte counters.
fn check_openvpn(cfg: &LabConfig, t: &GroundTruth, tcp: bool) {
    check_tun_and_daemons(t, "tun0", "openvpn", "198.19.3.2", "198.19.3.1");
    check_sip_dialogs(cfg, t);
    let o = t.openvpn.as_ref().expect("openvpn section");
    assert_eq!((o.transport.as_str(), o.port), (if tcp { "tcp" } else { "udp" }, 1194));
    let log = &o.client_log;
    assert!(log.initialized, "{log:?}");
    assert_eq!(log.ifconfig.as_deref(), Some("198.19.3.2"), "the address the server pushed");
    let server_sid = log.server_session_id.clone().expect("the client logged the server's session ID");
    let peer_id = log.peer_id.expect("the server pushed a peer-id");
    assert_eq!(o.server.len(), 1, "{:?}", o.server);
    let sc = &o.server[0];
    assert_eq!((sc.common_name.as_str(), sc.virtual_address.as_deref()), ("ue", Some("198.19.3.2")));

    let outer = t.captures.outer.as_deref().expect("outer capture");
    let inner = t.captures.inner.as_deref().expect("inner capture");
    let (n_outer, n_inner) = (t.packets.outer.expect("outer count"), t.packets.inner.expect("inner count"));
    assert_eq!(pcap_records(outer), n_outer, "tcpdump's count vs records in {}", outer.display());
    assert_eq!(pcap_records(inner), n_inner, "tcpdump's count vs records in {}", inner.display());
    let l4 = if tcp { "tcp" } else { "udp" };
    let decode = [format!("{l4}.port==1194,openvpn")];
    let decode: Vec<&str> = decode.iter().map(String::as_str).collect();
    let (sport, len) = (format!("{l4}.srcport"), if tcp { "tcp.len" } else { "udp.length" });
    let rows = tshark_rows(
        outer,
        &decode,
        "openvpn",
        &[
            "ip.src",
            &sport,
            len,
            "openvpn.opcode",
            "openvpn.keyid",
            "openvpn.sessionid",
            "openvpn.peerid",
            "openvpn.plen",
        ],
    );
    if tcp {
        let rest = tshark_rows(outer, &decode, "not openvpn", &["tcp.len", "tcp.flags.syn"]);
        assert!(rest.iter().all(|r| r[0] == "0"), "outside OpenVPN only empty TCP segments: {rest:?}");
        assert_eq!(rows.len() + rest.len(), n_outer as usize, "every outer packet is on the one TCP connection");
        let syn = tshark_fields(outer, "tcp.flags.syn == 1 and tcp.flags.ack == 0", "tcp.dstport");
        assert_eq!(syn, ["1194"], "the client connects once to 1194");
    } else {
        assert_eq!(rows.len() as u64, n_outer, "every outer packet is OpenVPN");
    }
    let client_end = format!("198.18.0.2:{}", rows[0][1]);
    assert_eq!(sc.real_address, client_end, "the server's status names the client's endpoint");
    let from_client = |r: &Vec<String>| r[0] == "198.18.0.2";
    // (from client, opcode, key ID) per OpenVPN packet: a TCP segment may carry several.
    let mut pkts: Vec<(bool, u64, u64)> = Vec::new();
    let mut sids = [Vec::<String>::new(), Vec::new()];
    for r in &rows {
        let ops: Vec<u64> = r[3].split(',').map(num).collect();
        let keys: Vec<u64> = r[4].split(',').map(num).collect();
        assert_eq!(ops.len(), keys.len(), "{r:?}");
        pkts.extend(ops.iter().zip(&keys).map(|(o, k)| (from_client(r), *o, *k)));
        for sid in r[5].split(',').filter(|s| !s.is_empty()) {
            let hex = format!("{:016x}", num(sid));
            let side = &mut sids[usize::from(!from_client(r))];
            if !side.contains(&hex) {
                side.push(hex);
            }
        }
        if from_client(r) && !r[6].is_empty() {
            assert!(
                r[6].split(',').all(|p| num(p) == u64::from(peer_id)),
                "P_DATA_V2 carries the pushed peer-id: {r:?}"
            );
        }
    }
    assert_eq!(pkts[0], (true, 7, 0), "P_CONTROL_HARD_RESET_CLIENT_V2 first");
    let first_server = pkts.iter().position(|p| !p.0).expect("the server answered");
    assert_eq!(pkts[first_server].1, 8, "P_CONTROL_HARD_RESET_SERVER_V2 is the server's first");
    for op in [4, 5] {
        assert!(pkts.iter().any(|p| p.1 == op), "opcode {op} (P_CONTROL_V1, P_ACK_V1) present");
    }
    assert!(pkts.iter().all(|p| [4, 5, 7, 8, 9].contains(&p.1) && p.2 == 0), "TLS mode, key ID 0 only: {pkts:?}");
    let first_data = pkts.iter().position(|p| p.1 == 9).expect("P_DATA_V2");
    assert!(first_data > first_server && pkts[..first_data].iter().all(|p| p.1 != 9));
    assert_eq!(sids[0].len(), 1, "one client session ID: {sids:?}");
    assert_eq!(sids[1], [server_sid], "the server's session ID on the wire is the one the client logged");
    let w = o.wire.as_ref().expect("truth has tshark's reading");
    assert_eq!((&w.client_session_ids, &w.server_session_ids), (&sids[0], &sids[1]));
    assert_eq!(w.key_ids, [0]);
    assert_eq!(w.peer_ids, [peer_id]);

    // The data channel carries the inner packets one for one, and the status file counts them.
    let (up, down) = (inner_lengths(inner, "198.19.3.2"), inner_lengths(inner, "198.19.3.1"));
    assert_eq!(up.len() + down.len(), n_inner as usize);
    let data = |c: bool| pkts.iter().filter(|p| p.0 == c && p.1 == 9).count();
    assert_eq!((data(true), data(false)), (up.len(), down.len()), "P_DATA_V2 per direction vs inner packets");
    let c = &o.client;
    assert_eq!(c.tun_read_bytes, up.iter().sum::<u64>(), "TUN/TAP read bytes vs what the UE sent into tun0");
    assert_eq!(c.tun_write_bytes, down.iter().sum::<u64>(), "TUN/TAP write bytes vs what tun0 delivered");
    let bytes = |c: bool, col: usize| -> u64 {
        rows.iter().filter(|r| from_client(r) == c).flat_map(|r| r[col].split(',').map(num).collect::<Vec<_>>()).sum()
    };
    if tcp {
        // Writes count the socket's bytes (length prefixes included), reads the OpenVPN packets.
        assert_eq!(c.link_write_bytes, bytes(true, 2), "TCP write bytes vs the client's TCP payload");
        assert_eq!(c.link_read_bytes, bytes(false, 7), "TCP read bytes vs the server's OpenVPN packets");
    } else {
        assert_eq!(c.link_write_bytes, bytes(true, 2) - 8 * rows.iter().filter(|r| from_client(r)).count() as u64);
        assert_eq!(c.link_read_bytes, bytes(false, 2) - 8 * rows.iter().filter(|r| !from_client(r)).count() as u64);
    }
    // The server counts a client from its instance's creation, which comes after the first
    // packet: its view is the client's to within a handshake packet.
    assert!(sc.bytes_received.abs_diff(c.link_write_bytes) <= 64, "{sc:?} vs {c:?}");
    assert!(sc.bytes_sent.abs_diff(c.link_read_bytes) <= 64, "{sc:?} vs {c:?}");
    check_inner_sip(inner, t);
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
fn wireguard_register_and_calls() {
    let mut cfg = LabConfig::new("tlw-", workdir("tlw-"));
    cfg.tunnel = Tunnel::WireGuard;
    let (truth, _, _) = cycle(&cfg);
    check_wireguard(&cfg, &truth);
    assert!(!cfg.workdir.join("wireguard/ue.key").exists(), "the run's private keys are removed on teardown");
    let _ = std::fs::remove_dir_all(&cfg.workdir);
}

#[test]
fn openvpn_udp_register_and_calls() {
    let mut cfg = LabConfig::new("tlo-", workdir("tlo-"));
    cfg.tunnel = Tunnel::OpenVpn { tcp: false };
    let (truth, _, _) = cycle(&cfg);
    check_openvpn(&cfg, &truth, false);
    assert!(!cfg.workdir.join("openvpn/client.key").exists(), "the run's keys are removed on teardown");
    let _ = std::fs::remove_dir_all(&cfg.workdir);
}

#[test]
fn openvpn_tcp_with_sip_over_tcp() {
    let mut cfg = LabConfig::new("tlv-", workdir("tlv-"));
    cfg.tunnel = Tunnel::OpenVpn { tcp: true };
    cfg.sip_transport = SipTransport::Tcp;
    cfg.calls = 1;
    let (truth, _, _) = cycle(&cfg);
    check_openvpn(&cfg, &truth, true);
    let syns = tshark_fields(
        truth.captures.inner.as_deref().unwrap(),
        "tcp.flags.syn == 1 and tcp.flags.ack == 0",
        "tcp.dstport",
    );
    assert_eq!(syns, ["5060", "5060"], "SIP over TCP to 5060 inside the tunnel, one connection per SIPp run");
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

/// Child side of the WireGuard leftovers test: the same, with wireguard-go as the daemons.
#[test]
#[ignore = "helper: run as a child process by killed_wireguard_lab_is_cleaned_on_next_start"]
fn helper_wireguard_lab_up_then_wait_to_be_killed() {
    let Some(dir) = std::env::var_os("TUNTRACE_LAB_HELPER_DIR") else {
        return;
    };
    let mut cfg = LabConfig::new("tlq-", PathBuf::from(dir));
    cfg.tunnel = Tunnel::WireGuard;
    let l = Lab::up(&cfg, &mut |m: &str| eprintln!("[tlq- child] {m}")).unwrap_or_else(|e| panic!("lab up: {e}"));
    println!("READY {}", l.pids().iter().map(u32::to_string).collect::<Vec<_>>().join(" "));
    std::thread::sleep(std::time::Duration::from_secs(60));
}

/// A SIGKILLed WireGuard lab leaves two wireguard-go with their sockets: the next start with the
/// same prefix ends exactly those (by pid, from the state file) and takes the lab up again.
#[test]
fn killed_wireguard_lab_is_cleaned_on_next_start() {
    use std::io::{BufRead, BufReader};
    require_prerequisites_for(Tunnel::WireGuard);
    let dir = workdir("tlq-");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "helper_wireguard_lab_up_then_wait_to_be_killed", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("TUNTRACE_LAB_HELPER_DIR", &dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn helper");
    let mut old: Vec<u32> = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some((_, rest)) = line.split_once("READY") {
            old = rest.split_whitespace().map(|p| p.parse().unwrap()).collect();
            break;
        }
    }
    assert_eq!(old.len(), 2, "helper did not bring its lab up: {old:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    for pid in &old {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert_eq!(comm.trim(), "wireguard-go", "the killed run's daemons outlive it");
    }
    assert!(Path::new("/run/tuntrace-lab/tlq-/run-ue/wireguard/wg0.sock").exists(), "its socket is still there");

    let mut cfg = LabConfig::new("tlq-", dir);
    cfg.tunnel = Tunnel::WireGuard;
    let mut lines = Vec::new();
    let mut record = |m: &str| {
        eprintln!("[tlq-] {m}");
        lines.push(m.to_string());
    };
    let mut second = Lab::up(&cfg, &mut record).unwrap_or_else(|e| panic!("second lab up: {e}"));
    for what in ["wireguard-go ue", "wireguard-go epdg", "deleted namespace tlq-ue", "deleted namespace tlq-epdg"] {
        assert!(
            lines.iter().any(|l| l.contains("cleaned leftover") && l.contains(what)),
            "{what} not cleaned: {lines:?}"
        );
    }
    assert_nothing_running(&old);
    // The new lab works: its own daemons, a handshake, SIP through wg0.
    let truth = second.run_scenario(&mut |m: &str| eprintln!("[tlq-] {m}")).unwrap_or_else(|e| panic!("scenario: {e}"));
    assert!(truth.daemons.iter().all(|d| !old.contains(&d.pid)), "{:?} vs {old:?}", truth.daemons);
    check_wireguard(&cfg, &truth);
    let pids = second.pids();
    let mut all: Vec<u32> = second.started().iter().map(|(_, p)| *p).collect();
    all.extend(pids);
    second.down().unwrap_or_else(|e| panic!("lab down: {e}"));
    assert_nothing_left("tlq-", &all);
    let _ = std::fs::remove_dir_all(&cfg.workdir);
}

/// `tuntrace demo --scenario` for each new tunnel: the binary end to end, its JSON report naming
/// the daemon's TUN and holder, and its verdict that the report agrees with the peers.
#[test]
fn demo_command_runs_wireguard_and_openvpn() {
    for (scenario, tun, holder) in
        [("wireguard", "wg0", "wireguard-go"), ("openvpn", "tun0", "openvpn"), ("openvpn-tcp", "tun0", "openvpn")]
    {
        require_prerequisites_for(Tunnel::parse(scenario).unwrap());
        let keep = workdir(&format!("tldc-{scenario}"));
        let out = Command::new(env!("CARGO_BIN_EXE_tuntrace"))
            .args(["demo", "--json", "--calls", "1", "--scenario", scenario, "--keep"])
            .arg(&keep)
            .output()
            .expect("run tuntrace demo");
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprintln!("[demo {scenario}]\n{stderr}");
        assert!(out.status.success(), "tuntrace demo --scenario {scenario}: {}\n{stderr}", out.status);
        assert!(stderr.contains("agrees with the peers"), "{stderr}");
        assert!(
            stderr.contains("indices") || stderr.contains("session IDs"),
            "the demo says what it compared: {stderr}"
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
        // The tunnel itself, as the demo held it to tshark and the daemons: in its report, live
        // or replayed from the captures.
        let kind = if scenario == "wireguard" { "wireguard" } else { "openvpn" };
        let tunnels = report["tunnels"].as_array().expect("a tunnels section");
        assert_eq!(tunnels.len(), 1, "{tunnels:?}");
        assert_eq!(tunnels[0]["kind"], kind);
        assert_eq!(tunnels[0]["transport"], if scenario == "openvpn-tcp" { "tcp" } else { "udp" });
        let i = report["interfaces"].as_array().unwrap().iter().find(|i| i["name"] == tun).expect("the TUN");
        assert_eq!(i["owner"]["comm"], holder, "{i}");
        let truth = GroundTruth::read(&keep.join("truth.json")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(truth.scenario.tunnel, scenario);
        assert_eq!(i["owner"]["pid"], truth.tun.as_ref().unwrap().holder.as_ref().unwrap().pid);
        assert_eq!(truth.sip.len(), 2, "REGISTER and one call");
        let _ = std::fs::remove_dir_all(&keep);
    }
    assert_nothing_left("ttdemo-", &[]);
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

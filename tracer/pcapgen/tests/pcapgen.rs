//! tuntrace-pcapgen: same seed → same bytes, and the reference tools read its output cleanly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const GEN: &str = env!("CARGO_BIN_EXE_tuntrace-pcapgen");

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tuntrace-pcapgen-{}-{name}", std::process::id()))
}

fn generate(out: &Path, size_mb: u32, seed: u64, format: &str) -> HashMap<String, String> {
    let st = Command::new(GEN)
        .args(["--out", out.to_str().unwrap(), "--size-mb", &size_mb.to_string(), "--seed", &seed.to_string()])
        .args(["--format", format])
        .status()
        .unwrap();
    assert!(st.success());
    let mut s = out.as_os_str().to_owned();
    s.push(".summary");
    let text = std::fs::read_to_string(PathBuf::from(s)).unwrap();
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

fn num(summary: &HashMap<String, String>, key: &str) -> u64 {
    summary.get(key).unwrap_or_else(|| panic!("summary lacks {key}")).parse().unwrap()
}

/// Runs a reference tool; a missing tool fails the test (a skipped check is not a pass).
fn run(tool: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): install it with apt-get install {tool}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{tool} {args:?} failed: {stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

fn remove(p: &Path) {
    let _ = std::fs::remove_file(p);
    let mut s = p.as_os_str().to_owned();
    s.push(".summary");
    let _ = std::fs::remove_file(PathBuf::from(s));
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, b, c) = (tmp("a.pcap"), tmp("b.pcap"), tmp("c.pcap"));
    let sa = generate(&a, 1, 7, "pcap");
    let sb = generate(&b, 1, 7, "pcap");
    generate(&c, 1, 8, "pcap");
    let (ba, bb, bc) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), std::fs::read(&c).unwrap());
    assert!(ba.len() >= 1 << 20 && ba.len() < (1 << 20) + 2000, "stops just past the size: {}", ba.len());
    assert!(ba == bb, "same seed gave different bytes");
    assert_eq!(sa, sb);
    assert!(ba != bc, "another seed gave the same bytes");
    assert_eq!(num(&sa, "bytes"), ba.len() as u64);
    for p in [a, b, c] {
        remove(&p);
    }
}

#[test]
fn tcpdump_reads_every_packet_and_recognises_each_protocol() {
    let f = tmp("td.pcap");
    let s = generate(&f, 3, 1, "pcap");
    let (out, err) = run("tcpdump", &["-nn", "-r", f.to_str().unwrap()]);
    assert!(!err.contains("truncated") && !err.contains("damaged"), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len() as u64, num(&s, "packets"));
    let count = |pat: &str| lines.iter().filter(|l| l.contains(pat)).count() as u64;
    assert_eq!(count("[|"), 0, "tcpdump saw truncated headers");
    assert_eq!(count("isakmp: parent_sa ikev2_init"), num(&s, "packets_ike") - count("NONESP-encap: isakmp"));
    assert!(count("NONESP-encap: isakmp: child_sa  ikev2_auth") > 0);
    assert!(count("NONESP-encap: isakmp: child_sa  inf2") > 0, "INFORMATIONAL exchange missing");
    assert_eq!(count("UDP-encap: ESP(spi="), num(&s, "packets_esp_udp"));
    assert_eq!(count("isakmp-nat-keep-alive"), num(&s, "packets_nat_keepalive"));
    assert_eq!(count(": SIP: "), num(&s, "packets_sip"));
    assert_eq!(count("ESP(spi=") - count("UDP-encap: ESP(spi="), num(&s, "packets_esp"));
    assert!(lines.iter().all(|l| !l.contains("spi=0x00000000")), "zero SPI");
    // The mix the benchmark is about: ESP-in-UDP and RTP dominate.
    let total = num(&s, "packets") as f64;
    let rtp = num(&s, "packets_rtp") as f64 / total;
    let esp = num(&s, "packets_esp_udp") as f64 / total;
    assert!((0.30..0.60).contains(&rtp), "rtp share {rtp}");
    assert!((0.25..0.55).contains(&esp), "esp-in-udp share {esp}");
    remove(&f);
}

#[test]
fn tshark_finds_no_malformed_packet_and_whole_sip_calls() {
    let f = tmp("ts.pcap");
    let s = generate(&f, 2, 3, "pcap");
    let path = f.to_str().unwrap();
    let (expert, _) = run(
        "tshark",
        &["-r", path, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-q", "-z", "expert"],
    );
    assert!(expert.trim().is_empty(), "tshark expert info:\n{expert}");
    let (stat, _) = run("tshark", &["-r", path, "-q", "-z", "sip,stat"]);
    assert!(stat.contains(&format!("Number of SIP messages: {}", num(&s, "packets_sip"))), "{stat}");
    for line in ["SIP 401 Unauthorized", "SIP 180 Ringing", "INVITE", "ACK", "BYE", "REGISTER"] {
        assert!(stat.contains(line), "no {line} in\n{stat}");
    }
    // RTP is decoded as RTP because tshark followed the SDP, i.e. the media endpoints match.
    let (rtp, _) = run("tshark", &["-r", path, "-Y", "rtp", "-T", "fields", "-e", "rtp.p_type"]);
    assert_eq!(rtp.lines().count() as u64, num(&s, "packets_rtp"));
    let (isakmp, _) =
        run("tshark", &["-r", path, "-Y", "isakmp.exchangetype == 34", "-T", "fields", "-e", "isakmp.vid_bytes"]);
    assert!(isakmp.lines().count() as u64 >= num(&s, "ike_sas"), "{isakmp}");
    assert!(isakmp.lines().all(|l| l == "882fe56d6fd20dbc2251613b2ebe5beb"), "{isakmp}");
    remove(&f);
}

#[test]
fn pcapng_output_reads_back_with_its_interface() {
    let f = tmp("o.pcapng");
    let s = generate(&f, 1, 1, "pcapng");
    let (out, _) = run("tshark", &["-r", f.to_str().unwrap(), "-T", "fields", "-e", "frame.interface_name"]);
    assert_eq!(out.lines().count() as u64, num(&s, "packets"));
    assert!(out.lines().all(|l| l == "eth0"));
    remove(&f);
}

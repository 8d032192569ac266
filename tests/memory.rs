//! Peak memory on inputs crafted to fill the state: whatever a capture holds, `replay` stays
//! under 200 MB with its report (text or JSON), and the report counts what the state's bound
//! refused. The inputs are written here, each built to be the worst of one kind: IKE SAs with
//! every list they keep at its cap (the largest report per byte of state), and a mix that fills
//! every table at once. Peak resident memory comes from `/usr/bin/time` (package `time`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::pcap::Pcap;

/// The target: 200 MB (decimal), in the KiB `/usr/bin/time -f %M` prints.
const PEAK_KIB: u64 = 200_000_000 / 1024;

fn host(i: u32) -> [u8; 4] {
    let b = i.to_be_bytes();
    [10, b[1], b[2], b[3]]
}

/// Message `j` of IKE SA `i`: twelve new notify types and four new 200-byte text vendor IDs
/// each, so that an SA's notify and vendor-ID lists fill up, and its exchange history too.
fn fat_ike(i: u32, j: u32) -> Vec<u8> {
    let mut payloads: Vec<(u8, Vec<u8>)> = Vec::new();
    for q in 0..12u32 {
        let kind = (16_384 + j * 12 + q) as u16;
        payloads.push((41, vec![0, 0, (kind >> 8) as u8, kind as u8]));
    }
    for q in 0..4 {
        let mut v = format!("VID-{i}-{j}-{q}-").into_bytes();
        v.resize(200, b'v');
        payloads.push((43, v));
    }
    let mut body = Vec::new();
    for (k, (_, data)) in payloads.iter().enumerate() {
        let next = payloads.get(k + 1).map_or(0, |p| p.0);
        body.extend_from_slice(&[next, 0]);
        body.extend_from_slice(&((4 + data.len()) as u16).to_be_bytes());
        body.extend_from_slice(data);
    }
    let mut ike = (0x9e37_79b9_7f4a_7c15u64.wrapping_mul(u64::from(i) + 1) | 1).to_be_bytes().to_vec();
    ike.extend_from_slice(&(if j == 0 { 0u64 } else { 7 }).to_be_bytes());
    ike.extend_from_slice(&[payloads[0].0, 0x20, if j == 0 { 34 } else { 37 }, 0x08]);
    ike.extend_from_slice(&j.to_be_bytes());
    ike.extend_from_slice(&((28 + body.len()) as u32).to_be_bytes());
    ike.extend_from_slice(&body);
    ike
}

/// A SIP INVITE of call `i` whose header values are a few hundred bytes long.
fn fat_invite(i: u32) -> Vec<u8> {
    let long = "x".repeat(300);
    format!(
        "INVITE sip:{long}@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{i}\r\n\
From: <sip:{long}@a>;tag={i}\r\nTo: <sip:{long}@b>\r\nCall-ID: {i}-{long}@x\r\nCSeq: 1 INVITE\r\n\
User-Agent: {long}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Peak resident KiB of `tuntrace replay [--json] FILE`, and its report (JSON) or nothing.
fn peak(file: &Path, json: bool) -> (u64, Option<tuntrace_core::report::Report>) {
    let stats = file.with_extension(if json { "json-time" } else { "text-time" });
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f").arg("%M").arg("-o").arg(&stats).arg(env!("CARGO_BIN_EXE_tuntrace")).arg("replay");
    if json {
        cmd.arg("--json");
    }
    let out = cmd.arg(file).stdin(Stdio::null()).output().expect("/usr/bin/time (package time) runs tuntrace");
    assert!(out.status.success(), "replay failed: {}", String::from_utf8_lossy(&out.stderr));
    let kib = std::fs::read_to_string(&stats).unwrap().trim().lines().last().unwrap().parse::<u64>().unwrap();
    let report = json.then(|| serde_json::from_slice(&out.stdout).expect("a JSON report"));
    (kib, report)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tuntrace-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

fn check(file: &Path) {
    for json in [false, true] {
        let (kib, report) = peak(file, json);
        let what = if json { "--json" } else { "text" };
        eprintln!("{}: {what} peak {:.1} MB", file.display(), kib as f64 * 1024.0 / 1e6);
        assert!(kib < PEAK_KIB, "{} {what}: peak {kib} KiB, over 200 MB", file.display());
        if let Some(r) = report {
            let memory = r.stats.limits.iter().find(|l| l.what == "memory").expect("a memory row");
            assert!(memory.count > 0, "the input reaches the state's bound and the report says so: {memory:?}");
        }
    }
}

#[test]
fn ike_sas_with_every_list_full_stay_under_200_mb() {
    let path = scratch("fat-ike.pcap");
    let mut p = Pcap::create(&path);
    for i in 0..9_000u32 {
        for j in 0..17 {
            p.udp(host(i), 500, 500, &fat_ike(i, j));
        }
    }
    drop(p);
    check(&path);
    std::fs::remove_file(&path).ok();
}

#[test]
fn every_table_filled_at_once_stays_under_200_mb() {
    let path = scratch("mix.pcap");
    let mut p = Pcap::create(&path);
    for i in 0..150_000u32 {
        // A new UDP flow, a new ESP SPI, a new SIP call, and every tenth time a new fat IKE SA.
        p.udp(host(i), 1024 + (i % 50_000) as u16, 9999, b"12345678");
        let mut esp = (i + 256).to_be_bytes().to_vec();
        esp.extend_from_slice(&[0, 0, 0, 1]);
        esp.extend_from_slice(&[0x55; 32]);
        p.ipv4([10, 255, 0, 1], 50, &esp);
        p.udp([10, 255, 0, 2], 5060, 5060, &fat_invite(i));
        if i % 10 == 0 {
            for j in 0..17 {
                p.udp(host(i), 500, 500, &fat_ike(i, j));
            }
        }
    }
    drop(p);
    check(&path);
    std::fs::remove_file(&path).ok();
}

//! The capture writers checked against independent readers (tcpdump, tshark) and against the
//! bytes Apple's tcpdump wrote in the public corpus.

mod common;

use std::path::PathBuf;
use std::process::Command;

use tuntrace_core::capture::writer::{PacketMeta, PcapWriter, PcapngWriter, TsPrecision};
use tuntrace_core::event::Direction;
use tuntrace_core::time::Timestamp;

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("tuntrace-writer-{}-{name}", std::process::id()))
}

/// Runs a reference tool; a missing tool fails the test (a skipped check is not a pass).
fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): install it with apt-get install {tool}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{tool} {args:?} failed: {stderr}");
    // A reader that stops early still exits 0 but says so on stderr.
    assert!(!stderr.contains("truncated") && !stderr.contains("appears to be damaged"), "{tool}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn ipv4_sum(h: &[u8]) -> u16 {
    let mut s: u32 = h.chunks(2).map(|c| u32::from(u16::from_be_bytes([c[0], c[1]]))).sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// Ethernet + IPv4 + UDP frame (UDP checksum 0 = not computed, legal on IPv4).
fn udp_frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let sum = ipv4_sum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

const T0: Timestamp = Timestamp(1_767_225_600_123_456_789); // 2026-01-01T00:00:00.123456789Z

#[test]
fn pcap_micro_and_nano_read_back_by_tcpdump() {
    for (prec, flag, frac) in [(TsPrecision::Micro, "micro", "123456"), (TsPrecision::Nano, "nano", "123456789")] {
        let path = tmp(&format!("{flag}.pcap"));
        let file = std::fs::File::create(&path).unwrap();
        let mut w = PcapWriter::new(file, 1, 0, prec).unwrap();
        let f1 = udp_frame([198, 18, 0, 2], 40000, [198, 18, 0, 1], 9, b"hello");
        let f2 = udp_frame([198, 18, 0, 1], 9, [198, 18, 0, 2], 40000, &[7; 300]);
        w.write_packet(T0, &f1, f1.len() as u32).unwrap();
        w.write_packet(Timestamp(T0.0 + 1_000), &f2, f2.len() as u32).unwrap();
        w.finish().unwrap();
        let out =
            run("tcpdump", &["-nn", "-tt", &format!("--time-stamp-precision={flag}"), "-r", path.to_str().unwrap()]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        assert_eq!(lines[0], format!("1767225600.{frac} IP 198.18.0.2.40000 > 198.18.0.1.9: UDP, length 5"));
        assert!(lines[1].contains("198.18.0.1.9 > 198.18.0.2.40000: UDP, length 300"), "{out}");
        std::fs::remove_file(&path).unwrap();
    }
}

#[test]
fn pcap_snaplen_cut_is_seen_by_tcpdump() {
    let path = tmp("snap.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&path).unwrap(), 1, 64, TsPrecision::Micro).unwrap();
    let f = udp_frame([198, 18, 0, 2], 40000, [198, 18, 0, 1], 9, &[1; 500]);
    w.write_packet(T0, &f, f.len() as u32).unwrap();
    w.finish().unwrap();
    let out = run("tshark", &["-r", path.to_str().unwrap(), "-T", "fields", "-e", "frame.len", "-e", "frame.cap_len"]);
    assert_eq!(out.trim(), "542\t64");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn pcapng_interfaces_direction_comment_and_ns_time_read_back_by_tshark() {
    let path = tmp("attr.pcapng");
    let mut w = PcapngWriter::new(std::fs::File::create(&path).unwrap(), "tuntrace test").unwrap();
    let en = w.add_interface(Some("veth-ue"), 1, 0).unwrap();
    let ipsec = w.add_interface(Some("ipsec0"), 101, 1400).unwrap();
    let charon = w.process_index(4242, Some("charon")).unwrap();
    let sipp = w.process_index(777, Some("sipp")).unwrap();
    assert_ne!(charon, sipp);

    let outer = udp_frame([198, 18, 0, 2], 4500, [198, 18, 0, 1], 4500, &[0xff]);
    let inner = udp_frame([198, 19, 1, 1], 5060, [198, 19, 0, 1], 5060, b"OPTIONS sip:x SIP/2.0\r\n\r\n");
    let inner_ip = &inner[14..];
    let m1 = PacketMeta {
        direction: Direction::Out,
        process: Some(charon),
        effective_process: None,
        comment: Some("PID: 4242\nCmd: charon"),
        custom: None,
    };
    let m2 = PacketMeta {
        direction: Direction::In,
        process: Some(sipp),
        effective_process: Some(charon),
        ..PacketMeta::default()
    };
    w.write_packet(en, T0, &outer, outer.len() as u32, &m1).unwrap();
    w.write_packet(ipsec, Timestamp(T0.0 + 1), inner_ip, inner_ip.len() as u32, &m2).unwrap();
    w.write_packet(en, Timestamp(T0.0 + 2), &outer, outer.len() as u32, &PacketMeta::default()).unwrap();
    w.finish().unwrap();

    let out = run(
        "tshark",
        &[
            "-r",
            path.to_str().unwrap(),
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "frame.interface_name",
            "-e",
            "frame.time_epoch",
            "-e",
            "frame.packet_flags_direction",
            "-e",
            "frame.comment",
            "-e",
            "ip.src",
            "-e",
            "udp.dstport",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "veth-ue|1767225600.123456789|0x00000002|PID: 4242\\nCmd: charon|198.18.0.2|4500");
    assert_eq!(lines[1], "ipsec0|1767225600.123456790|0x00000001||198.19.1.1|5060");
    assert_eq!(lines[2], "veth-ue|1767225600.123456791|||198.18.0.2|4500");

    std::fs::remove_file(&path).unwrap();
}

/// libpcap (tcpdump) skips the process blocks and reads every packet. It cannot mix link types
/// in one file (a known libpcap 1.10 limit, see the corpus README), so one interface here.
#[test]
fn pcapng_with_process_blocks_read_back_by_tcpdump() {
    let path = tmp("td.pcapng");
    let mut w = PcapngWriter::new(std::fs::File::create(&path).unwrap(), "tuntrace test").unwrap();
    let en = w.add_interface(Some("en0"), 1, 0).unwrap();
    let f = udp_frame([198, 18, 0, 2], 40000, [198, 18, 0, 1], 9, b"hello");
    for (i, pid) in [10u32, 11, 10].into_iter().enumerate() {
        let p = w.process_index(pid, Some("app")).unwrap();
        let meta = PacketMeta { direction: Direction::Out, process: Some(p), ..PacketMeta::default() };
        w.write_packet(en, Timestamp(T0.0 + i as i64 * 1000), &f, f.len() as u32, &meta).unwrap();
    }
    w.finish().unwrap();
    let td = run("tcpdump", &["-nn", "-tt", "-r", path.to_str().unwrap()]);
    let lines: Vec<&str> = td.lines().collect();
    assert_eq!(lines.len(), 3, "{td}");
    assert_eq!(lines[2], "1767225600.123458 IP 198.18.0.2.40000 > 198.18.0.1.9: UDP, length 5");
    std::fs::remove_file(&path).unwrap();
}

/// Our Process Information Block is the one Apple's tcpdump wrote for "network_test" (pid 1500,
/// no UUID), byte for byte, and the EPB process option has the same shape as Apple's.
#[test]
fn process_block_matches_apple_tcpdump_bytes() {
    let Some(path) = common::corpus_file("pktap_pcapng_procinfo_en0_pdpip0.pcapng") else { return };
    let apple = std::fs::read(path).unwrap();
    let theirs = &apple[0x178..0x1a0];
    assert_eq!(&theirs[0..4], &[0x01, 0x00, 0x00, 0x80], "block at 0x178 is a PIB");

    let mut w = PcapngWriter::new(Vec::new(), "").unwrap();
    let shb_len = 28;
    w.add_process(1500, Some("network_test")).unwrap();
    let ours = w.finish().unwrap();
    assert_eq!(&ours[shb_len..], theirs);

    // Apple's first EPB (0xe0) carries option 0x8001 = PIB 0 as four bytes at its option start.
    let epb_opts = 0xe0 + 28 + 84;
    assert_eq!(&apple[epb_opts..epb_opts + 8], &[0x01, 0x80, 0x04, 0x00, 0, 0, 0, 0]);
    let mut w = PcapngWriter::new(Vec::new(), "").unwrap();
    w.add_interface(None, 1, 0).unwrap();
    let p = w.add_process(1500, Some("network_test")).unwrap();
    let meta = PacketMeta { direction: Direction::Out, process: Some(p), ..PacketMeta::default() };
    w.write_packet(0, T0, &apple[0xfc..0xfc + 82], 82, &meta).unwrap();
    let ours = w.finish().unwrap();
    let epb = ours.len() - (28 + 84 + 8 + 8 + 4 + 4);
    assert_eq!(&ours[epb + 28..epb + 28 + 84], &apple[0xfc..0xfc + 84], "same frame, same padding");
    assert_eq!(&ours[epb + 28 + 84..epb + 28 + 84 + 16], &[0x01, 0x80, 4, 0, 0, 0, 0, 0, 2, 0, 4, 0, 2, 0, 0, 0]);
    assert_eq!(&apple[epb_opts + 8..epb_opts + 16], &[2, 0, 4, 0, 2, 0, 0, 0], "Apple writes flags next, as we do");
}

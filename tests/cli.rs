//! The command line as a user meets it: exit codes, messages, determinism, the ladder.

mod common;

use common::*;
use tuntrace_core::report::Report;

fn tmp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tuntrace-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn usage_errors_exit_2() {
    let r = run(&["replay"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run(&["frobnicate"]);
    assert_eq!(r.code, 2);
}

#[test]
fn missing_and_foreign_files_are_named() {
    let r = run(&["replay", "/nonexistent/x.pcap"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("/nonexistent/x.pcap"), "{}", r.stderr);
    let p = tmp("notes.txt", b"hello, this is not a capture\n");
    let r = run(&["replay", "--json", p.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("not a pcap or pcapng"), "{}", r.stderr);
    let j: Report = serde_json::from_str(&r.stdout).expect("a report even when an input is bad");
    assert_eq!(j.errors[0].offset, 0);
    let p = tmp("empty.pcap", b"");
    let r = run(&["replay", p.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
}

/// A damaged file after a good one: the good one's content is still reported.
#[test]
fn damage_keeps_earlier_inputs() {
    let Some(dir) = corpus_dir() else { return };
    let good = dir.join("espudp_only.pcap");
    let bytes = std::fs::read(&good).unwrap();
    let cut = tmp("cut.pcap", &bytes[..bytes.len() - 37]);
    let r = run(&["replay", "--json", good.to_str().unwrap(), cut.to_str().unwrap()]);
    assert_eq!(r.code, 1);
    let j: Report = serde_json::from_str(&r.stdout).unwrap();
    // 8 from the intact copy, 7 complete records before the cut.
    assert_eq!(j.stats.packets, 15);
    assert_eq!(j.esp_sas[0].packets, 15);
    let e = &j.errors[0];
    assert!(e.offset > 24, "{e:?}");
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zstd(b: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(b, ruzstd::encoding::CompressionLevel::Fastest)
}

fn lz4(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// The report without the input's name, to compare two inputs of the same content (damage in
/// a compressed one says that its offset is in the decompressed bytes).
fn without_inputs(json: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["source"]["inputs"] = serde_json::Value::Null;
    for e in v["errors"].as_array_mut().unwrap() {
        e["input"] = serde_json::Value::Null;
        let m = e["message"].as_str().unwrap();
        e["message"] = m.trim_end_matches(" (offset in the decompressed capture)").into();
    }
    v
}

/// Captures saved compressed (gzip, as Wireshark does on request; zstd and LZ4, which tshark
/// reads too) replay as the originals: every capture of the corpus, compressed here each way;
/// through a pipe as well.
#[test]
fn compressed_captures_replay_as_the_originals() {
    let Some(dir) = corpus_dir() else { return };
    let files = corpus_files(&dir);
    assert!(files.len() >= 10, "{files:?}");
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        let plain = run(&["replay", "--json", f.to_str().unwrap()]);
        let bytes = std::fs::read(&f).unwrap();
        for (ext, packed) in [("gz", gzip(&bytes)), ("zst", zstd(&bytes)), ("lz4", lz4(&bytes))] {
            let z = tmp(&format!("{name}.{ext}"), &packed);
            let packed = run(&["replay", "--json", z.to_str().unwrap()]);
            assert_eq!(packed.code, plain.code, "{name}.{ext}: {}", packed.stderr);
            assert_eq!(without_inputs(&packed.stdout), without_inputs(&plain.stdout), "{name}.{ext}");
        }
    }
    let f = dir.join("sip_udp_register_invite_rtp.pcap");
    let z = gzip(&std::fs::read(&f).unwrap());
    let out = tuntrace()
        .args(["replay", "--json", "-"])
        .stdin(std::fs::File::open(tmp("piped.pcap.gz", &z)).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plain = run(&["replay", "--json", f.to_str().unwrap()]);
    assert_eq!(without_inputs(&String::from_utf8(out.stdout).unwrap()), without_inputs(&plain.stdout));
}

/// A compressed stream cut short is damage like a cut file: what came before it is reported,
/// the message says where (in the decompressed bytes) and why; other compressions are named
/// with the command that undoes them.
#[test]
fn cut_compressed_captures_and_other_compressions_are_explained() {
    // Large enough for every format to have delivered something before the cut (LZ4 writes
    // blocks of 4 MiB by default, as the lz4 command does): 40,000
    // datagrams of 200 bytes that do not compress away.
    let f = tmp("many.pcap", b"");
    let mut w = common::pcap::Pcap::create(&f);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..40_000u32 {
        let data: Vec<u8> = (0..200)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        w.udp([10, 0, (i >> 8) as u8, i as u8], 40_000, 9, &data);
    }
    drop(w);
    let all = run(&["replay", "--json", f.to_str().unwrap()]);
    let all: Report = serde_json::from_str(&all.stdout).unwrap();
    let bytes = std::fs::read(&f).unwrap();
    for (ext, name, z) in [("gz", "gzip", gzip(&bytes)), ("zst", "zstd", zstd(&bytes)), ("lz4", "LZ4", lz4(&bytes))] {
        let cut = tmp(&format!("cut.pcapng.{ext}"), &z[..z.len() * 2 / 3]);
        let r = run(&["replay", "--json", cut.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains(&format!("{name} stream is damaged or cut short")), "{}", r.stderr);
        assert!(r.stderr.contains("offset in the decompressed capture"), "{}", r.stderr);
        let j: Report = serde_json::from_str(&r.stdout).unwrap();
        let (got, whole) = (j.stats.packets, all.stats.packets);
        assert!(got > 0 && got < whole, "{ext}: {got} of {whole}");
        assert_eq!(j.errors.len(), 1);
    }
    for (magic, says) in
        [(&b"\xfd7zXZ\x00\x00"[..], "xz -d"), (b"BZh91AY&SY", "bunzip2"), (b"PK\x03\x04\x14\x00", "unzip")]
    {
        let p = tmp("packed.bin", magic);
        let r = run(&["replay", p.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(r.stderr.contains(says), "{}", r.stderr);
    }
}

#[test]
fn json_is_deterministic() {
    let Some(dir) = corpus_dir() else { return };
    for name in
        ["sip_udp_register_invite_rtp.pcap", "ikev2_natt_espudp.pcapng", "pktap_pcapng_procinfo_en0_pdpip0.pcapng"]
    {
        let f = dir.join(name);
        let a = run(&["replay", "--json", f.to_str().unwrap()]);
        let b = run(&["replay", "--json", f.to_str().unwrap()]);
        assert_eq!(a.stdout, b.stdout, "{name}");
    }
}

#[test]
fn ladder_draws_a_call() {
    let Some(dir) = corpus_dir() else { return };
    let f = dir.join("sip_udp_5060_5061.pcap");
    let j = replay_json(&f);
    let id = j.sip.dialogs[0].call_id.clone();
    let r = run(&["replay", "--ladder", &id, f.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&id));
    assert!(r.stdout.contains("INVITE") && r.stdout.contains("->|") && r.stdout.contains("|<-"), "{}", r.stdout);
    assert!(r.stdout.contains("200"), "{}", r.stdout);
    let r = run(&["replay", "--ladder", "no-such-call", f.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("Call-IDs seen"), "{}", r.stderr);
}

/// `-` reads the capture from standard input (e.g. `tcpdump -w - | tuntrace replay -`), with
/// the same report as the file gives.
#[test]
fn dash_reads_standard_input() {
    use std::io::Write;
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/lab/outer.pcap");
    let bytes = std::fs::read(&file).unwrap();
    let mut child = tuntrace()
        .args(["replay", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // Written in small pieces, as a live pipe delivers it.
    let writer = std::thread::spawn(move || {
        for chunk in bytes.chunks(1000) {
            stdin.write_all(chunk).unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let mut piped: Report = serde_json::from_slice(&out.stdout).unwrap();
    let mut direct = replay_json(&file);
    assert_eq!(piped.source.inputs, ["-"]);
    // Everything but the input's name is the same.
    piped.source.inputs.clear();
    direct.source.inputs.clear();
    assert_eq!(piped, direct);
    assert!(direct.stats.packets > 0);
}

/// `explain` in this test's own network namespace: a report of the host (no packets counted),
/// and the errors a user can make said with their exit code.
#[test]
#[cfg(target_os = "linux")]
fn explain_reports_the_host_and_says_what_is_wrong() {
    let r = run(&["explain", "--json", "--rules-dir", "/nonexistent"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j: Report = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!((j.source.kind.as_str(), j.source.backend.as_str()), ("live", "netlink"));
    assert!(j.interfaces.iter().any(|i| i.name.as_deref() == Some("lo")), "{:?}", j.interfaces);
    let v = j.host.visibility.as_ref().expect("visibility said");
    assert_eq!(v.privileged, v.notes.iter().all(|n| !n.starts_with("not root")));
    assert!(j.host.xfrm.is_some());
    let r = run(&["explain", "no-such-tun9"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("no interface no-such-tun9 in this network namespace"), "{}", r.stderr);
    let bad = tmp(
        "bad-rules.toml",
        b"format = \"tuntrace.rules/1\"\n[[rule]]\nid = \"x\"\non = \"interface\"\nsummary = \"{nope}\"\n",
    );
    let r = run(&["explain", "--rules", bad.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("bad-rules.toml: rule \"x\": unknown fact \"nope\""), "{}", r.stderr);
    let r = run(&["explain", "--rules", "/nonexistent/rules.toml"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("cannot read rules file /nonexistent/rules.toml"), "{}", r.stderr);
    let not_db = tmp("asn.mmdb", b"not a database");
    let r = run(&["explain", "--asn-db", not_db.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a readable MaxMind DB"), "{}", r.stderr);
    // A rules directory of the host is read: a broken file there is named too.
    let dir = bad.parent().unwrap().join("rules.d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&bad, dir.join("10-local.toml")).unwrap();
    let r = run(&["explain", "--rules-dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("10-local.toml"), "{}", r.stderr);
}

/// `replay --rules`: a rule of the user's is tried first, and SIP it does not account for gets
/// its own verdict; the built-in rules give the fixture's Wi-Fi-calling verdict otherwise.
#[test]
fn replay_judges_with_the_users_rules() {
    let lab = ["tests/fixtures/lab/outer.pcap", "tests/fixtures/lab/inner.pcap"]
        .map(|f| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(f));
    let lab: Vec<&str> = lab.iter().map(|p| p.to_str().unwrap()).collect();
    let r = run(&[&["replay", "--json"][..], &lab].concat());
    let j: Report = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j.verdicts.len(), 1);
    assert_eq!(j.verdicts[0].rule.as_deref(), Some("ike-outside-wifi-calling"));
    let mine = tmp(
        "mine.toml",
        b"format = \"tuntrace.rules/1\"\n[[rule]]\nid = \"lab-ike\"\non = \"ike_sa\"\nsummary = \"our lab's ePDG at {responder}\"\nall = [{ fact = \"responder\", is = \"198.18.0.1\" }]\n",
    );
    let r = run(&[&["replay", "--json", "--rules", mine.to_str().unwrap()][..], &lab].concat());
    let j: Report = serde_json::from_str(&r.stdout).unwrap();
    let got: Vec<(&str, Option<&str>)> = j.verdicts.iter().map(|v| (v.summary.as_str(), v.rule.as_deref())).collect();
    assert_eq!(
        got,
        [
            ("our lab's ePDG at 198.18.0.1", Some("lab-ike")),
            ("IMS SIP signalling (VoLTE / Wi-Fi calling identities)", Some("ims-sip"))
        ]
    );
    let r = run(&[&["replay", "--rules", "/nonexistent.toml"][..], &lab].concat());
    assert_eq!(r.code, 2, "{}", r.stderr);
}

/// Ethernet + IPv4 + UDP frame (checksums 0: the decoders do not verify them).
fn udp_frame(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + 8 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

/// What a crafted capture tries on the analyst's terminal: colour, a window title, clearing the
/// screen, NUL, a bidi override, and a C1 CSI.
const HOSTILE: &str = "\x1b[31mred\x1b]0;title\x07\x1b[2J\0\u{202e}evil\u{2066}\u{9b}";

/// Nothing a terminal acts on: no C0 control but the line breaks, no DEL, C1 or bidi control.
fn assert_inert(what: &str, text: &str) {
    let bad = text
        .chars()
        .find(|&c| (c.is_control() && c != '\n') || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'));
    assert!(bad.is_none(), "{what}: {bad:?} reaches the terminal in:\n{text}");
}

/// A pcapng whose interface name, process block, ptcpdump comment and SIP Call-ID and From
/// carry terminal escapes, and a reason phrase what a status line may hold (bidi, C1, tab).
fn hostile_capture() -> (std::path::PathBuf, String) {
    use tuntrace_core::capture::writer::{PacketMeta, PcapngWriter};
    use tuntrace_core::time::Timestamp;
    // A command line cannot hold NUL, and `--ladder` takes the Call-ID: NUL goes in the others.
    let call_id = format!("{}@host", HOSTILE.replace('\0', ""));
    let invite = format!(
        "INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 198.18.0.2;branch=z9hG4bK1\r\n\
From: <sip:{HOSTILE}@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    );
    let busy = format!(
        "SIP/2.0 486 Busy\u{202e}\u{9b}2J\there\r\nVia: SIP/2.0/UDP 198.18.0.2;branch=z9hG4bK1\r\n\
From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>;tag=2\r\nCall-ID: {call_id}\r\n\
CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    );
    let mut w = PcapngWriter::new(Vec::new(), "tuntrace tests").unwrap();
    let eth = w.add_interface(Some(&format!("eth{HOSTILE}")), 1, 0).unwrap();
    let proc_ = w.add_process(4242, Some(&format!("pib{HOSTILE}"))).unwrap();
    let comment = format!("PID: 77\nCmd: /usr/bin/ptc{HOSTILE}\nArgs: ptc {HOSTILE}");
    let t = |s: i64| Timestamp(1_767_225_600_000_000_000 + s * 1_000_000);
    let a = udp_frame([198, 18, 0, 2], 5060, [198, 18, 0, 1], 5060, invite.as_bytes());
    let meta = PacketMeta { process: Some(proc_), ..Default::default() };
    w.write_packet(eth, t(0), &a, a.len() as u32, &meta).unwrap();
    let b = udp_frame([198, 18, 0, 1], 5060, [198, 18, 0, 2], 5060, busy.as_bytes());
    let meta = PacketMeta { comment: Some(&comment), ..Default::default() };
    w.write_packet(eth, t(1), &b, b.len() as u32, &meta).unwrap();
    (tmp("hostile.pcapng", &w.finish().unwrap()), call_id)
}

#[test]
fn packet_strings_never_reach_the_terminal_raw() {
    let (f, call_id) = hostile_capture();
    let file = f.to_str().unwrap();
    // JSON keeps every string exact.
    let j = replay_json(&f);
    assert_eq!(j.sip.dialogs.len(), 1, "{j:?}");
    assert_eq!(j.sip.dialogs[0].call_id, call_id);
    assert_eq!(j.sip.dialogs[0].messages[1].reason.as_deref(), Some("Busy\u{202e}\u{9b}2J\there"));
    assert!(j.interfaces.iter().any(|i| i.name.as_deref() == Some(&*format!("eth{HOSTILE}"))), "{:?}", j.interfaces);
    assert!(j.processes.iter().any(|p| p.comm.as_deref() == Some(&*format!("pib{HOSTILE}"))), "{:?}", j.processes);
    assert!(j.processes.iter().any(|p| p.comm.as_deref() == Some(&*format!("ptc{HOSTILE}"))), "{:?}", j.processes);
    // The text report, the ladder, and the Call-IDs listed when the ladder finds none.
    let r = run(&["replay", file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_inert("replay", &r.stdout);
    let escaped = "\\x1b[31mred\\x1b]0;title\\x07\\x1b[2J\\x00\\u{202e}evil\\u{2066}\\u{009b}";
    let escaped_id = escaped.replace("\\x00", "");
    assert!(r.stdout.contains(&format!("{escaped_id}@host")), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("eth{escaped}")), "{}", r.stdout);
    assert!(r.stdout.contains(&format!("pib{escaped}")), "{}", r.stdout);
    let r = run(&["replay", "--ladder", &call_id, file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_inert("ladder", &r.stdout);
    assert!(
        r.stdout.contains(&format!("Call-ID {escaped_id}@host")) && r.stdout.contains("486 Busy\\u{202e}"),
        "{}",
        r.stdout
    );
    let r = run(&["replay", "--ladder", "no-such-call", file]);
    assert_eq!(r.code, 2);
    assert_inert("ladder's Call-ID list", &r.stderr);
    assert!(r.stderr.contains(&format!("{escaped_id}@host")), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

/// File names are outside strings too: escaped in messages, exact in the JSON (bytes that are
/// not UTF-8 as `\xNN`).
#[cfg(unix)]
#[test]
fn file_names_are_escaped_in_messages_and_exact_in_json() {
    use std::os::unix::ffi::OsStrExt as _;
    let dir = tmp("placeholder", b"").parent().unwrap().to_path_buf();
    let name = std::ffi::OsStr::from_bytes(b"cut\x1b[2J\xff\xfe.pcap");
    let p = dir.join(name);
    // A pcap header and half a record header.
    let mut b = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0];
    b.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7]);
    std::fs::write(&p, &b).unwrap();
    let out = tuntrace().args(["replay", "--json"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).expect("stderr is UTF-8 even for a name that is not");
    assert_inert("stderr", &stderr);
    assert!(stderr.contains("cut\\x1b[2J\\xff\\xfe.pcap: record header truncated"), "{stderr}");
    assert!(stderr.contains("at byte offset 24"), "{stderr}");
    let j: Report = serde_json::from_slice(&out.stdout).unwrap();
    let want = format!("{}/cut\x1b[2J\\xff\\xfe.pcap", dir.to_str().unwrap());
    assert_eq!(j.source.inputs, vec![want.clone()]);
    assert_eq!(j.errors[0].input, want);
    let out = tuntrace().arg("replay").arg(&p).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_inert("text", &text);
    assert!(text.contains("cut\\x1b[2J\\xff\\xfe.pcap"), "{text}");
}

/// pcapng container damage ends the input with exit 1 and its offset, as every other damage
/// does, and as tcpdump (libpcap) and tshark refuse such files.
#[test]
fn pcapng_option_damage_is_damage() {
    fn blk(t: u32, mut body: Vec<u8>) -> Vec<u8> {
        body.resize(body.len().div_ceil(4) * 4, 0);
        let len = (12 + body.len() as u32).to_le_bytes();
        [&t.to_le_bytes()[..], &len, &body, &len].concat()
    }
    let opt = |code: u16, v: &[u8]| {
        let mut o = [&code.to_le_bytes()[..], &(v.len() as u16).to_le_bytes(), v].concat();
        o.resize(o.len().div_ceil(4) * 4, 0);
        o
    };
    let shb_body =
        [&0x1a2b_3c4du32.to_le_bytes()[..], &1u16.to_le_bytes(), &0u16.to_le_bytes(), &(-1i64).to_le_bytes()];
    let shb = blk(0x0a0d_0d0a, shb_body.concat());
    let idb = |opts: Vec<u8>| blk(1, [&[1, 0, 0, 0][..], &0u32.to_le_bytes(), &opts, &[0, 0, 0, 0]].concat());
    let frame = udp_frame([198, 18, 0, 2], 4000, [198, 18, 0, 1], 4001, b"x");
    let epb = |opts: &[u8]| {
        let mut d = frame.clone();
        d.resize(d.len().div_ceil(4) * 4, 0);
        let head: Vec<u8> =
            [0u32, 0, 1000, frame.len() as u32, frame.len() as u32].iter().flat_map(|w| w.to_le_bytes()).collect();
        blk(6, [&head[..], &d, opts].concat())
    };
    let good = [shb.clone(), idb(opt(2, b"eth0")), epb(&[])].concat();
    let at = good.len();
    let cases: Vec<(&str, Vec<u8>, usize, &str)> = vec![
        ("tsresol0", [good.clone(), idb(opt(9, b""))].concat(), at, "if_tsresol option of length 0 (1 expected)"),
        (
            "tsoffset2",
            [good.clone(), idb(opt(14, &[1, 0]))].concat(),
            at,
            "if_tsoffset option of length 2 (8 expected)",
        ),
        (
            "idbrun",
            [good.clone(), idb([&2u16.to_le_bytes()[..], &200u16.to_le_bytes(), b"eth1"].concat())].concat(),
            at,
            "option 2 of length 200 runs past the end of its block",
        ),
        (
            "epbrun",
            [good.clone(), epb(&[&1u16.to_le_bytes()[..], &100u16.to_le_bytes(), b"abcd"].concat())].concat(),
            at,
            "option 1 of length 100 runs past the end of its block",
        ),
        (
            "shbrun",
            [
                blk(
                    0x0a0d_0d0a,
                    [shb_body.concat(), [&4u16.to_le_bytes()[..], &300u16.to_le_bytes(), b"linx"].concat()].concat(),
                ),
                idb(vec![]),
                epb(&[]),
            ]
            .concat(),
            0,
            "section header block: option 4 of length 300 runs past the end of its block",
        ),
    ];
    for (name, bytes, offset, what) in cases {
        let p = tmp(&format!("{name}.pcapng"), &bytes);
        let r = run(&["replay", "--json", p.to_str().unwrap()]);
        assert_eq!(r.code, 1, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains(what) && r.stderr.contains(&format!("at byte offset {offset};")),
            "{name}: {}",
            r.stderr
        );
        let j: Report = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(j.errors[0].offset, offset as u64, "{name}");
        // The packet before the damage is reported (none when the section header is bad).
        assert_eq!(j.stats.packets, u64::from(offset != 0), "{name}");
        // The oracles call these files damaged too: libpcap the IDB's, Wireshark every overrun.
        let tool = if name.starts_with("ts") || name == "idbrun" { "tcpdump" } else { "tshark" };
        let out = std::process::Command::new(tool)
            .args(["-n", "-r"])
            .arg(&p)
            .output()
            .expect("tcpdump and tshark: run ci/setup");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("if_ts") || said.contains("too short") || said.contains("damaged"),
            "{name}: {tool} says {said}"
        );
    }
}

/// Ethernet + IPv4 + TCP segment from 198.18.0.2:40000 to 198.18.0.1:5060.
fn tcp_frame(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1]);
    f[16..18].copy_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&5060u16.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// SIP over TCP goes on after a message it cannot frame and after a stray segment far ahead:
/// each costs one "not framable", not every later message of the connection.
#[test]
fn sip_over_tcp_resynchronises() {
    use tuntrace_core::capture::writer::{PcapWriter, TsPrecision};
    use tuntrace_core::time::Timestamp;
    let msg = |n: u32| {
        format!(
            "OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 198.18.0.2;branch=z9hG4bK{n}\r\n\
From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: tcp-{n}@x\r\nCSeq: {n} OPTIONS\r\n\
Content-Length: 0\r\n\r\n"
        )
    };
    let absurd = "OPTIONS sip:b@example.com SIP/2.0\r\nCall-ID: tcp-big@x\r\nCSeq: 9 OPTIONS\r\nContent-Length: 999999999\r\n\r\nbody";
    // (sequence number, flags, payload): SYN, then the payloads in order but for the stray.
    let stray = msg(99);
    let parts = [msg(1), format!("{absurd}{}", msg(2)), msg(3), stray.clone(), msg(4), msg(5)];
    let mut segments: Vec<(u32, u8, Vec<u8>)> = vec![(1000, 0x02, Vec::new())];
    let mut seq = 1001u32;
    for p in parts {
        if p == stray {
            // 100 MB ahead of the stream; the stream goes on where it was.
            segments.push((seq.wrapping_add(100_000_000), 0x18, p.into_bytes()));
            continue;
        }
        segments.push((seq, 0x18, p.clone().into_bytes()));
        seq += p.len() as u32;
    }
    let mut w = PcapWriter::new(Vec::new(), 1, 65535, TsPrecision::Micro).unwrap();
    for (i, (seq, flags, data)) in segments.iter().enumerate() {
        let f = tcp_frame(*seq, *flags, data);
        w.write_packet(Timestamp(1_767_225_600_000_000_000 + i as i64 * 1_000_000), &f, f.len() as u32).unwrap();
    }
    let p = tmp("sip-tcp-resync.pcap", &w.finish().unwrap());
    let j = replay_json(&p);
    let ids: Vec<&str> = j.sip.dialogs.iter().map(|d| d.call_id.as_str()).collect();
    assert_eq!(ids, ["tcp-1@x", "tcp-2@x", "tcp-3@x", "tcp-4@x", "tcp-5@x"], "{:?}", j.malformed);
    let unframable: u64 = j.malformed.iter().filter(|m| m.reason == "sip stream not framable").map(|m| m.packets).sum();
    assert_eq!(unframable, 1, "{:?}", j.malformed);
}

/// Ethernet + IPv4 with protocol `proto` from 198.18.0.2 to 198.18.0.1 (total length as sent).
fn ip_frame(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1]);
    f[16..18].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    f.extend_from_slice(l4);
    f
}

/// Packets cut by snaplen before their ESP sequence number or UDP length still count for
/// their SA and flow.
#[test]
fn cut_packets_count_for_their_sa_and_flow() {
    use tuntrace_core::capture::writer::{PcapWriter, TsPrecision};
    use tuntrace_core::report::Encap;
    use tuntrace_core::time::Timestamp;
    let esp = |spi: u32, seq: u32| [&spi.to_be_bytes()[..], &seq.to_be_bytes(), &[0xab; 64]].concat();
    let mut udp_esp =
        [&4500u16.to_be_bytes()[..], &4500u16.to_be_bytes(), &(8u16 + 72).to_be_bytes(), &[0, 0]].concat();
    udp_esp.extend(esp(0x0a0b_0c0d, 7));
    let udp_other = [&5000u16.to_be_bytes()[..], &5001u16.to_be_bytes(), &[0, 30, 0, 0], &[1; 22]].concat();
    // (frame, bytes kept): whole packets, then ones cut after the SPI (38 = 14 + 20 + 4) or
    // inside the UDP header (38: ports only).
    let frames = [
        (ip_frame(50, &esp(0x1122_3344, 1)), usize::MAX),
        (ip_frame(50, &esp(0x1122_3344, 2)), usize::MAX),
        (ip_frame(50, &esp(0x1122_3344, 3)), 38),
        (ip_frame(50, &esp(0x5566_7788, 9)), 38),
        (ip_frame(17, &udp_esp), 46),
        (ip_frame(17, &udp_other), 38),
    ];
    let mut w = PcapWriter::new(Vec::new(), 1, 65535, TsPrecision::Micro).unwrap();
    for (i, (f, keep)) in frames.iter().enumerate() {
        let kept = &f[..(*keep).min(f.len())];
        w.write_packet(Timestamp(1_767_225_600_000_000_000 + i as i64 * 1_000), kept, f.len() as u32).unwrap();
    }
    let p = tmp("snaplen-cut.pcap", &w.finish().unwrap());
    let j = replay_json(&p);
    let sa =
        |spi: &str| j.esp_sas.iter().find(|s| s.spi == spi).unwrap_or_else(|| panic!("no SA {spi}: {:?}", j.esp_sas));
    let a = sa("11223344");
    assert_eq!((a.packets, a.first_seq, a.last_seq, a.seq_gaps), (3, Some(1), Some(2), 0));
    let b = sa("55667788");
    assert_eq!((b.packets, b.first_seq, b.last_seq), (1, None, None));
    let c = sa("0a0b0c0d");
    assert_eq!((c.packets, c.encap), (1, Encap::Udp));
    assert!(j.flows.iter().any(|f| f.sport == Some(5000) && f.dport == Some(5001) && f.packets == 1), "{:?}", j.flows);
    // Each cut packet is still damage in the counts.
    assert_eq!(j.stats.malformed, 4, "{:?}", j.malformed);
}

/// A SIP datagram cut by the capture's snaplen is read up to its last whole line, as tshark
/// dissects what was captured ("packet size limited during capture", not malformed): its call
/// is there when the Call-ID was captured, and the cut is not counted as the sender's damage.
/// A datagram the sender itself ended early still is.
#[test]
fn sip_cut_by_snaplen_is_read_not_damage() {
    use tuntrace_core::capture::writer::{PcapWriter, TsPrecision};
    use tuntrace_core::time::Timestamp;
    let sip = |call: &str, cseq: u32| {
        format!(
            "INVITE sip:bob@example.org SIP/2.0\r\nCall-ID: {call}\r\nCSeq: {cseq} INVITE\r\n\
From: <sip:alice@example.org>;tag=a1\r\nTo: <sip:bob@example.org>\r\n\
Via: SIP/2.0/UDP 198.18.0.9:5060;branch=z9hG4bK-{cseq}\r\nContent-Type: application/sdp\r\n\
Content-Length: 60\r\n\r\nv=0\r\no=- 1 1 IN IP4 198.18.0.9\r\ns=-\r\nc=IN IP4 198.18.0.9\r\n"
        )
        .into_bytes()
    };
    let udp = |data: &[u8]| {
        [&5060u16.to_be_bytes()[..], &5060u16.to_be_bytes(), &(8 + data.len() as u16).to_be_bytes(), &[0, 0], data]
            .concat()
    };
    let whole = ip_frame(17, &udp(&sip("cut-1", 1)));
    assert_eq!(whole.len(), 14 + 20 + 8 + sip("cut-1", 1).len());
    let mut w = PcapWriter::new(Vec::new(), 1, 65535, TsPrecision::Micro).unwrap();
    // Cut inside the name of the Via header (after Call-ID, CSeq, From and To), then whole.
    let first = sip("cut-1", 1);
    let keep = 14 + 20 + 8 + first.windows(5).position(|w| w == b"\r\nVia").unwrap() + 4;
    w.write_packet(Timestamp(1_767_225_600_000_000_000), &whole[..keep], whole.len() as u32).unwrap();
    let second = ip_frame(17, &udp(&sip("cut-1", 2)));
    w.write_packet(Timestamp(1_767_225_600_001_000_000), &second, second.len() as u32).unwrap();
    // The sender's own short datagram (its UDP length says so): damage as before.
    let short = sip("cut-2", 1);
    let via = short.windows(5).position(|w| w == b"\r\nVia").unwrap();
    // Ends inside a header name: a line without its colon.
    let own = ip_frame(17, &udp(&short[..via + 4]));
    w.write_packet(Timestamp(1_767_225_600_002_000_000), &own, own.len() as u32).unwrap();
    let p = tmp("sip-snaplen.pcap", &w.finish().unwrap());
    let j = replay_json(&p);
    let call = |id: &str| j.sip.dialogs.iter().find(|d| d.call_id == id).unwrap_or_else(|| panic!("{id}: {:?}", j.sip));
    let cseqs: Vec<_> = call("cut-1").messages.iter().map(|m| m.cseq.clone().unwrap_or_default()).collect();
    assert_eq!(cseqs, ["1 INVITE", "2 INVITE"]);
    assert_eq!(call("cut-2").messages.len(), 1);
    assert_eq!(j.stats.malformed, 1, "only the sender's short datagram: {:?}", j.malformed);
}

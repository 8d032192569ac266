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

//! Conformance over the public corpus (../shared/corpus): tuntrace's report against tshark's
//! decoding of the same files and against the reference outputs of other tools.

mod common;

use std::collections::BTreeMap;

use common::*;
use tuntrace_core::report::SCHEMA;

/// Every corpus file replays: no crash, a valid report, exit 0 (intact) or 1 (damaged, reported).
#[test]
fn every_corpus_file_replays() {
    let Some(dir) = corpus_dir() else { return };
    for f in corpus_files(&dir) {
        let j = replay_json(&f);
        assert_eq!(j.schema, SCHEMA);
        assert_eq!(j.schema.as_str(), "tuntrace.report/1");
        let text = run(&["replay", f.to_str().unwrap()]);
        assert!(text.code <= 1, "{}: text report exit {}: {}", f.display(), text.code, text.stderr);
        assert!(text.stdout.contains("packets"), "{}: text report: {}", f.display(), text.stdout);
    }
}

const V1_NAMES: &[(u8, &str)] = &[
    (1, "BASE"),
    (2, "MAIN_MODE"),
    (3, "AUTH_ONLY"),
    (4, "AGGRESSIVE"),
    (5, "INFORMATIONAL"),
    (6, "TRANSACTION"),
    (32, "QUICK_MODE"),
    (33, "NEW_GROUP"),
];
const V2_NAMES: &[(u8, &str)] = &[
    (34, "IKE_SA_INIT"),
    (35, "IKE_AUTH"),
    (36, "CREATE_CHILD_SA"),
    (37, "INFORMATIONAL"),
    (38, "IKE_SESSION_RESUME"),
    (43, "IKE_INTERMEDIATE"),
];

fn exchange_name(version: u8, t: u8) -> String {
    let table = if version == 1 { V1_NAMES } else { V2_NAMES };
    table.iter().find(|(n, _)| *n == t).map(|(_, s)| s.to_string()).unwrap_or_else(|| format!("unknown ({t})"))
}

fn parse_num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap(),
    }
}

/// Every IKE SA tshark sees (initiator SPI) is in the report with the same responder SPI,
/// version, and the same exchanges in order (type, message id, and for IKEv2 the R flag).
#[test]
fn ike_sas_match_tshark() {
    let Some(dir) = corpus_dir() else { return };
    let mut checked = 0;
    for f in corpus_files(&dir) {
        let rows = tshark_fields(
            &f,
            "isakmp",
            &["isakmp.ispi", "isakmp.rspi", "isakmp.mjver", "isakmp.exchangetype", "isakmp.messageid", "isakmp.flag_r"],
        );
        if rows.is_empty() {
            continue;
        }
        let j = replay_json(&f);
        let mut want: BTreeMap<String, Vec<&Vec<String>>> = BTreeMap::new();
        for r in &rows {
            want.entry(r[0].clone()).or_default().push(r);
        }
        let sas = &j.ike_sas;
        let got: Vec<String> = sas.iter().map(|sa| sa.initiator_spi.clone()).collect();
        let want_keys: Vec<&String> = want.keys().collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        assert_eq!(got_sorted.iter().collect::<Vec<_>>(), want_keys, "{}: IKE SAs", f.display());
        for sa in sas {
            let ispi = &sa.initiator_spi;
            let msgs = &want[ispi];
            let version = parse_num(&msgs[0][2]) as u8;
            assert_eq!(sa.version, version, "{} {ispi}: version", f.display());
            let rspi = msgs.iter().map(|m| m[1].as_str()).find(|r| *r != "0000000000000000");
            assert_eq!(sa.responder_spi.as_deref(), rspi, "{} {ispi}: responder SPI", f.display());
            let got: Vec<(String, u64, Option<bool>)> = sa
                .exchanges
                .iter()
                .map(|e| (e.kind.clone(), u64::from(e.message_id), (version == 2).then_some(e.response)))
                .collect();
            let exp: Vec<(String, u64, Option<bool>)> = msgs
                .iter()
                .map(|m| {
                    (
                        exchange_name(version, parse_num(&m[3]) as u8),
                        parse_num(&m[4]),
                        (version == 2).then(|| m[5] == "1" || m[5] == "True"),
                    )
                })
                .collect();
            // The report lists an SA's first and latest exchanges and counts them all.
            let (exp_listed, skipped) = as_listed(&exp, got.len(), sa.exchanges_elided);
            assert_eq!(got, exp_listed, "{} {ispi}: exchanges", f.display());
            assert_eq!(sa.exchanges_elided.map_or(0, |g| g.count), skipped, "{} {ispi}: skipped", f.display());
            let counted: u64 = sa.exchange_counts.iter().map(|c| c.count).sum();
            assert_eq!(counted, exp.len() as u64, "{} {ispi}: exchange counts", f.display());
            for (kind, _, response) in &exp {
                let n = exp.iter().filter(|x| (&x.0, x.2) == (kind, *response)).count() as u64;
                let c: u64 = sa
                    .exchange_counts
                    .iter()
                    .filter(|c| &c.kind == kind && response.is_none_or(|r| c.response == r))
                    .map(|c| c.count)
                    .sum();
                assert_eq!(c, n, "{} {ispi}: count of {kind} {response:?}", f.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 8, "only {checked} IKE SAs compared: the corpus has more");
}

/// Every ESP SPI tshark sees is in the report with the same packet count.
#[test]
fn esp_spis_match_tshark() {
    let Some(dir) = corpus_dir() else { return };
    let mut checked = 0;
    for f in corpus_files(&dir) {
        let rows = tshark_fields(&f, "esp", &["esp.spi"]);
        if rows.is_empty() {
            continue;
        }
        let mut want: BTreeMap<String, u64> = BTreeMap::new();
        for r in &rows {
            for spi in r[0].split('\u{1f}') {
                *want.entry(format!("{:08x}", parse_num(spi))).or_default() += 1;
            }
        }
        let j = replay_json(&f);
        let mut got: BTreeMap<String, u64> = BTreeMap::new();
        for e in &j.esp_sas {
            *got.entry(e.spi.clone()).or_default() += e.packets;
        }
        assert_eq!(got, want, "{}: ESP SPIs and packet counts", f.display());
        checked += want.len();
    }
    assert!(checked >= 8, "only {checked} ESP SPIs compared");
}

/// Every SIP Call-ID tshark sees is in the report with the same method/status sequence.
#[test]
fn sip_call_ids_match_tshark() {
    let Some(dir) = corpus_dir() else { return };
    let mut checked = 0;
    for f in corpus_files(&dir) {
        let rows = tshark_fields(&f, "sip", &["sip.Call-ID", "sip.Method", "sip.Status-Code"]);
        if rows.is_empty() {
            continue;
        }
        let mut want: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &rows {
            // Several messages in one frame (TCP) come as aggregated values.
            let ids: Vec<&str> = r[0].split('\u{1f}').collect();
            let methods: Vec<&str> = r.get(1).map(|m| m.split('\u{1f}').collect()).unwrap_or_default();
            let codes: Vec<&str> = r.get(2).map(|m| m.split('\u{1f}').collect()).unwrap_or_default();
            let (mut mi, mut ci) = (0, 0);
            for id in ids {
                // A message is a request when tshark gave a method for it; values are in message order.
                let item =
                    if mi < methods.len() && !methods[mi].is_empty() && (ci >= codes.len() || codes[ci].is_empty()) {
                        mi += 1;
                        methods[mi - 1].to_string()
                    } else if ci < codes.len() && !codes[ci].is_empty() {
                        ci += 1;
                        codes[ci - 1].to_string()
                    } else {
                        mi += 1;
                        methods.get(mi - 1).unwrap_or(&"?").to_string()
                    };
                want.entry(id.to_string()).or_default().push(item);
            }
        }
        let j = replay_json(&f);
        let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let calls = j.sip.dialogs.iter().map(|d| (&d.call_id, &d.messages, d.messages_elided, &d.message_counts));
        let regs = j.sip.registrations.iter().map(|r| (&r.call_id, &r.messages, r.messages_elided, &r.message_counts));
        for (call_id, messages, gap, counts) in calls.chain(regs) {
            let seq = got.entry(call_id.clone()).or_default();
            seq.extend(messages.iter().map(method_or_status));
            // The report lists a call's first and latest messages and counts them all.
            if let Some(w) = want.get_mut(call_id) {
                let counted: u64 = counts.iter().map(|c| c.count).sum();
                assert_eq!(counted, w.len() as u64, "{}: {call_id}: message counts", f.display());
                let (listed, skipped) = as_listed(w, messages.len(), gap);
                assert_eq!(gap.map_or(0, |g| g.count), skipped, "{}: {call_id}: skipped", f.display());
                *w = listed;
            }
        }
        assert_eq!(got, want, "{}: SIP Call-IDs and message sequences", f.display());
        checked += want.len();
    }
    assert!(checked >= 6, "only {checked} Call-IDs compared");
}

/// SIP messages with a header line that does not read (no colon, a name with a space, a
/// continuation with nothing before it): tshark flags the line and still reads the message;
/// so does the report, counting the damage. Built here: the corpus has no such message.
#[test]
fn sip_with_a_bad_header_line_keeps_its_dialog_as_tshark_does() {
    let bad_lines = ["This line has no colon", "Bad Name: x", " leading space"];
    let dir = std::env::temp_dir().join(format!("tuntrace-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sip-bad-header-line.pcap");
    let mut pcap = common::pcap::Pcap::create(&path);
    for (i, bad) in bad_lines.iter().enumerate() {
        let (before, after) = if bad.starts_with(' ') {
            (format!("{bad}\r\n"), String::new())
        } else {
            (String::new(), format!("{bad}\r\n"))
        };
        let msg = format!(
            "INVITE sip:b@example.com SIP/2.0\r\n{before}Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{i}\r\n\
From: <sip:a@a>;tag={i}\r\n{after}To: <sip:b@b>\r\nCall-ID: bad-line-{i}@x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        pcap.udp([10, 0, 0, 1], 5060, 5060, msg.as_bytes());
    }
    drop(pcap);

    let theirs: Vec<String> = tshark_fields(&path, "sip", &["sip.Call-ID"])
        .into_iter()
        .map(|r| r[0].clone())
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(theirs.len(), bad_lines.len(), "tshark reads every message: {theirs:?}");
    let r = replay_json(&path);
    let ours: Vec<String> = r.sip.dialogs.iter().map(|d| d.call_id.clone()).collect();
    assert_eq!(ours, theirs, "the same dialogs as tshark");
    let damage: u64 = r.malformed.iter().filter(|m| m.reason.starts_with("sip ")).map(|m| m.packets).sum();
    assert_eq!(damage, bad_lines.len() as u64, "each bad line is counted as damage: {:?}", r.malformed);
    std::fs::remove_dir_all(&dir).ok();
}

//! The capture readers against the public corpus: packet counts from MANIFEST.tsv, per-packet
//! fields against tshark, the damaged files, and Apple's process metadata.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use tuntrace_core::capture::{linktype, Capture, Damage};
use tuntrace_core::event::{Direction, Event, InterfaceInfo, PacketEvent, ProcessInfo};

/// Everything one read of a file produced.
#[derive(Default)]
struct Read<'a> {
    interfaces: Vec<InterfaceInfo>,
    processes: Vec<ProcessInfo>,
    packets: Vec<PacketEvent<'a>>,
    damage: Option<Damage>,
    /// Event kinds in order: 'i', 'p' (process), 'k' (packet).
    order: String,
}

fn read(cap: &Capture) -> Read<'_> {
    let mut r = Read::default();
    let mut events = cap.events(0);
    let limit = cap.as_bytes().len() + 10;
    for (n, ev) in events.by_ref().enumerate() {
        assert!(n <= limit, "more events than bytes: the reader does not terminate");
        assert!(r.damage.is_none(), "an event after the damage");
        match ev {
            Ok(Event::Interface(i)) => {
                r.order.push('i');
                r.interfaces.push(*i)
            }
            Ok(Event::Process(p)) => {
                r.order.push('p');
                r.processes.push(*p)
            }
            Ok(Event::Packet(p)) => {
                r.order.push('k');
                r.packets.push(p)
            }
            Ok(other) => panic!("capture files do not produce {other:?}"),
            Err(d) => r.damage = Some(d),
        }
    }
    assert_eq!(events.interfaces_seen() as usize, r.interfaces.len());
    r
}

fn corpus_captures(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("pcap" | "pcapng")))
        .collect();
    v.sort();
    v
}

/// MANIFEST.tsv: file name → `packets` column.
fn manifest(dir: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("MANIFEST.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let col = header.iter().position(|h| *h == "packets").expect("packets column");
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[col].parse().expect("packet count"))
        })
        .collect()
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_corpus_file_reads_and_intact_ones_match_the_manifest() {
    let Some(dir) = common::corpus_dir() else {
        return;
    };
    let counts = manifest(&dir);
    let files = corpus_captures(&dir);
    assert!(files.len() >= 18, "corpus looks incomplete: {files:?}");
    for path in files {
        let n = name(&path);
        let cap = Capture::open(&path).unwrap_or_else(|e| panic!("{n}: {e}"));
        let r = read(&cap);
        let expected = *counts.get(&n).unwrap_or_else(|| panic!("{n} is not in MANIFEST.tsv"));
        assert!(!r.interfaces.is_empty(), "{n}: no interface announced");
        assert_eq!(r.order.find('i'), Some(0), "{n}: the interface comes before everything");
        if n.starts_with("fuzz_") {
            continue;
        }
        assert_eq!(r.damage, None, "{n}");
        assert_eq!(r.packets.len(), expected, "{n}: packet count differs from MANIFEST.tsv");
        for p in &r.packets {
            assert!(r.interfaces.iter().any(|i| i.id == p.iface), "{n}: packet on an unannounced interface");
        }
    }
}

#[test]
fn linktypes_from_the_manifest() {
    let Some(dir) = common::corpus_dir() else {
        return;
    };
    let cases: &[(&str, &[u32])] = &[
        ("espudp_only.pcap", &[linktype::EN10MB]),
        ("fuzz_pktap_heap_overflow.pcap", &[linktype::USER2]),
        ("ikev2_four_exchanges_null.pcap", &[linktype::NULL]),
        ("ikev2_sa_init_rawip.pcap", &[linktype::RAW]),
        ("linux_sll2_lo.pcap", &[linktype::LINUX_SLL2]),
        ("pktap_dlt258.pcap", &[linktype::PKTAP]),
        ("sip_ipv6_frag_sll.pcap", &[linktype::LINUX_SLL]),
        ("pktap_pcapng_procinfo_en0_pdpip0.pcapng", &[linktype::EN10MB, linktype::NULL]),
        ("ah_esp_multi_idb.pcapng", &[linktype::EN10MB, linktype::EN10MB, linktype::EN10MB]),
    ];
    for (file, lts) in cases {
        let cap = Capture::open(&dir.join(file)).unwrap();
        let r = read(&cap);
        let got: Vec<u32> = r.interfaces.iter().map(|i| i.linktype).collect();
        assert_eq!(&got, lts, "{file}");
    }
}

#[test]
fn fuzz_truncated_file_null_reads_like_libpcap_then_reports_the_cut() {
    let Some(dir) = common::corpus_dir() else {
        return;
    };
    let cap = Capture::open(&dir.join("fuzz_truncated_file_null.pcap")).unwrap();
    assert_eq!(cap.as_bytes().len(), 239);
    let r = read(&cap);
    assert_eq!(r.interfaces.len(), 1);
    assert_eq!(r.interfaces[0].linktype, linktype::NULL, "FCS bits 0x40000000 are masked off");
    // Version 2.0 file: libpcap (hence tcpdump and nDPI, the reference) reads the length words
    // swapped, giving one 197-byte packet whose wire length is 524501.
    assert_eq!(r.packets.len(), 1);
    assert_eq!((r.packets[0].data.len(), r.packets[0].orig_len), (197, 524_501));
    assert_eq!(r.packets[0].data.as_ptr(), cap.as_bytes()[40..].as_ptr(), "zero-copy");
    assert_eq!(
        r.damage,
        Some(Damage { offset: 237, what: "record header truncated (16 bytes needed, 2 left)".into() })
    );
    assert_eq!(r.order, "ik");
}

#[test]
fn fuzz_pktap_heap_overflow_is_two_packets() {
    let Some(dir) = common::corpus_dir() else {
        return;
    };
    let cap = Capture::open(&dir.join("fuzz_pktap_heap_overflow.pcap")).unwrap();
    let r = read(&cap);
    assert_eq!((r.packets.len(), r.damage.is_none()), (2, true));
}

#[test]
fn ah_esp_multi_idb_reads_all_three_interfaces() {
    let Some(dir) = common::corpus_dir() else {
        return;
    };
    let cap = Capture::open(&dir.join("ah_esp_multi_idb.pcapng")).unwrap();
    let r = read(&cap);
    assert_eq!(r.interfaces.iter().map(|i| i.id).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(r.packets.iter().map(|p| p.iface).collect::<Vec<_>>(), vec![0, 2, 1]);
    assert_eq!(r.packets.iter().map(|p| p.data.len()).collect::<Vec<_>>(), vec![194, 62, 158]);
    // The third interface is a Windows NPF device, named in its IDB.
    assert!(r.interfaces[2].name.as_deref().unwrap_or("").starts_with("\\Device\\NPF_"));
}

#[test]
fn apple_pktap_pcapng_processes_and_packets() {
    let Some(dir) = common::corpus_dir() else {
        return;
    };
    let file = "pktap_pcapng_procinfo_en0_pdpip0.pcapng";
    let cap = Capture::open(&dir.join(file)).unwrap();
    let r = read(&cap);
    assert_eq!(r.damage, None);
    let ifs: Vec<_> = r.interfaces.iter().map(|i| (i.id, i.name.as_deref(), i.linktype)).collect();
    assert_eq!(ifs, vec![(0, Some("en0"), linktype::EN10MB), (1, Some("pdp_ip0"), linktype::NULL)]);
    let procs: Vec<_> = r.processes.iter().map(|p| (p.pid, p.comm.as_deref())).collect();
    let nt = Some("network_test");
    assert_eq!(
        procs,
        vec![
            (1500, nt),
            (1500, nt),
            (1505, nt),
            (1505, nt),
            (0, Some("kernel_task")),
            (1524, nt),
            (1524, nt),
            (1528, nt),
            (1528, nt)
        ]
    );
    assert_eq!(r.packets.len(), 197);
    // A process event precedes the first packet attributed to it.
    let first_proc = r.order.find('p').unwrap();
    assert!(r.order[..first_proc].chars().all(|c| c == 'i'));

    // Per (interface, pid, effective pid) tallies, from an independent decode of the EPB options
    // 0x8001/0x8003 against the section's PIB list (Python, struct module).
    let mut tally: BTreeMap<(u32, Option<u32>, Option<u32>), usize> = BTreeMap::new();
    for p in &r.packets {
        *tally.entry((p.iface, p.pid, p.effective_pid)).or_default() += 1;
    }
    let expected: BTreeMap<_, _> = [
        ((0, Some(0), Some(1505)), 8),
        ((0, Some(1500), Some(1500)), 13),
        ((0, Some(1500), None), 23),
        ((0, Some(1505), Some(1505)), 27),
        ((0, Some(1505), None), 34),
        ((0, Some(1524), Some(1524)), 16),
        ((0, Some(1524), None), 23),
        ((0, Some(1528), Some(1528)), 13),
        ((0, Some(1528), None), 23),
        ((0, None, None), 10),
        ((1, Some(0), Some(1505)), 1),
        ((1, Some(1505), Some(1505)), 2),
        ((1, Some(1505), None), 2),
        ((1, None, None), 2),
    ]
    .into_iter()
    .collect();
    assert_eq!(tally, expected);
    let p = &r.packets;
    assert_eq!((p[0].pid, p[0].effective_pid, p[0].direction), (Some(1500), None, Direction::Out));
    assert_eq!((p[1].pid, p[1].effective_pid, p[1].direction), (Some(1500), Some(1500), Direction::In));

    // Apple tcpdump's output (the reference) lists all 197 packets: same times, same order.
    let reference = std::fs::read_to_string(dir.join(format!("{file}.apple-tcpdump.ref"))).unwrap();
    let ref_lines: Vec<&str> = reference.lines().filter(|l| !l.starts_with("###")).collect();
    assert_eq!(ref_lines.len(), 197);
    for (i, (pkt, line)) in p.iter().zip(&ref_lines).enumerate() {
        let mut f = line.split_whitespace();
        assert_eq!(f.next(), Some((i + 1).to_string().as_str()), "{line}");
        let time = f.next().unwrap();
        assert_eq!(&pkt.ts.to_string()[11..26], time, "packet {}", i + 1);
        // Outbound packets leave the phone's addresses (en0 IPv4, pdp_ip0 IPv6).
        let src = f.nth(1).unwrap();
        let local = src.starts_with("10.42.53.132.") || src.starts_with("2607:fb90:3635:797b:");
        match pkt.direction {
            Direction::Out => assert!(local, "packet {} out but from {src}", i + 1),
            Direction::In => assert!(!local, "packet {} in but from {src}", i + 1),
            Direction::Unknown => {}
        }
    }
}

/// One packet as tshark prints it: epoch ns, wire length, captured length, interface id, flags.
type TsharkRow = (i64, u32, usize, Option<u32>, Option<u32>);

fn tshark(path: &Path) -> std::io::Result<std::process::Child> {
    Command::new("tshark")
        .args(["-r"])
        .arg(path)
        .args(["-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len"])
        .args(["-e", "frame.interface_id", "-e", "frame.packet_flags_direction"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
}

fn tshark_rows(path: &Path, child: std::process::Child) -> Vec<TsharkRow> {
    let out = child.wait_with_output().expect("tshark output");
    assert!(out.status.success(), "tshark failed on {}", path.display());
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let (secs, frac) = f[0].split_once('.').unwrap_or((f[0], "0"));
            let frac = format!("{frac:0<9}");
            let ns = secs.parse::<i64>().unwrap() * 1_000_000_000 + frac[..9].parse::<i64>().unwrap();
            let flags = f
                .get(4)
                .filter(|s| !s.is_empty())
                .map(|s| u32::from_str_radix(s.trim_start_matches("0x"), 16).unwrap());
            (ns, f[1].parse().unwrap(), f[2].parse().unwrap(), f.get(3).and_then(|s| s.parse().ok()), flags)
        })
        .collect()
}

#[test]
fn packets_agree_with_tshark() {
    let Some(dir) = common::corpus_dir() else {
        return;
    };
    if Command::new("tshark").arg("-v").stdout(std::process::Stdio::null()).status().is_err() {
        assert!(std::env::var_os("TUNTRACE_REQUIRE_CORPUS").is_none(), "tshark is required as the oracle in CI");
        eprintln!("tshark not installed: per-packet comparison not run");
        return;
    }
    // tshark starts slowly: run all of them at once.
    let runs: Vec<_> = corpus_captures(&dir)
        .into_iter()
        // tshark and libpcap disagree on the fuzz files; they have their own tests.
        .filter(|p| !name(p).starts_with("fuzz_"))
        .map(|p| {
            let child = tshark(&p).expect("tshark");
            (p, child)
        })
        .collect();
    for (path, child) in runs {
        let n = name(&path);
        let cap = Capture::open(&path).unwrap();
        let r = read(&cap);
        let rows = tshark_rows(&path, child);
        assert_eq!(r.packets.len(), rows.len(), "{n}");
        for (i, (p, row)) in r.packets.iter().zip(&rows).enumerate() {
            let what = format!("{n} packet {}", i + 1);
            assert_eq!(p.ts.0, row.0, "{what}: time");
            assert_eq!(p.orig_len, row.1, "{what}: wire length");
            assert_eq!(p.data.len(), row.2, "{what}: captured length");
            if let Some(id) = row.3 {
                assert_eq!(p.iface, id, "{what}: interface");
            }
            let dir = match row.4.map(|f| f & 3) {
                Some(1) => Direction::In,
                Some(2) => Direction::Out,
                _ => Direction::Unknown,
            };
            assert_eq!(p.direction, dir, "{what}: direction");
        }
    }
}

mod damaged {
    use super::*;
    use proptest::prelude::*;

    fn corpus_bytes() -> Vec<(String, Vec<u8>)> {
        let Some(dir) = common::corpus_dir() else {
            return Vec::new();
        };
        corpus_captures(&dir).into_iter().map(|p| (name(&p), std::fs::read(&p).unwrap())).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

        /// Any corpus file cut anywhere and with a few bytes changed: no panic, the reader ends,
        /// damage comes at most once and last, and a cut file never yields more packets than
        /// the intact one.
        #[test]
        fn truncated_and_flipped_corpus_files(pick in any::<prop::sample::Index>(), cut in any::<prop::sample::Index>(),
                                               flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8)) {
            let files = corpus_bytes();
            if files.is_empty() { return Ok(()); }
            let (_, orig) = &files[pick.index(files.len())];
            let mut b = orig.clone();
            let flipped = !flips.is_empty();
            for (at, x) in flips {
                let i = at.index(b.len());
                b[i] ^= x;
            }
            b.truncate(cut.index(b.len() + 1));
            let cap = Capture::from_bytes(b);
            let r = read(&cap);
            if !flipped {
                let full = Capture::from_bytes(orig.clone());
                prop_assert!(r.packets.len() <= read(&full).packets.len());
            }
        }
    }
}

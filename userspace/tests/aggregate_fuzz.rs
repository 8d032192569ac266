//! Arbitrary and damaged input through the whole pipeline (capture reader, every decoder, the
//! aggregator, the report): never a panic, always a report.

mod common;

use proptest::prelude::*;
use tuntrace_core::aggregate::Aggregator;
use tuntrace_core::capture::Capture;
use tuntrace_core::event::{Direction, Event, InterfaceInfo, PacketEvent};
use tuntrace_core::time::Timestamp;

const LINKTYPES: [u32; 15] = [0, 1, 9, 12, 14, 50, 101, 108, 113, 149, 204, 228, 229, 258, 276];

fn replay_frames(linktype: u32, frames: &[Vec<u8>]) -> String {
    let mut agg = Aggregator::default();
    agg.feed(&Event::Interface(Box::new(InterfaceInfo { id: 0, linktype, ..Default::default() })));
    for (i, f) in frames.iter().enumerate() {
        agg.feed(&Event::Packet(PacketEvent {
            ts: Timestamp(i as i64 * 1000),
            iface: 0,
            direction: Direction::Unknown,
            orig_len: f.len() as u32,
            data: f,
            pid: (i % 3 == 0).then_some(42),
            effective_pid: None,
            cookie: 0,
            sampled: false,
        }));
    }
    let r = agg.finish();
    r.to_json()
}

/// A frame that reaches the interesting decoders: Ethernet, IPv4, UDP to a chosen port, then
/// arbitrary bytes.
fn udp_frame(port: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0,
        0,
        64,
        17,
        0,
        0,
        198,
        18,
        0,
        2,
        198,
        18,
        0,
        1,
    ]);
    let ulen = (8 + payload.len()) as u16;
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&[(ulen >> 8) as u8, ulen as u8, 0, 0]);
    f.extend_from_slice(payload);
    f
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_frames_on_every_linktype(lt in proptest::sample::select(&LINKTYPES[..]),
                                          frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..20)) {
        let json = replay_frames(lt, &frames);
        prop_assert!(json.contains("tuntrace.report/1"));
    }

    #[test]
    fn arbitrary_payloads_on_protocol_ports(port in proptest::sample::select(vec![500u16, 4500, 5060, 5061, 1234, 2152, 4789, 6081, 1701, 4754, 3544, 1194, 51820]),
                                            payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 1..12)) {
        let frames: Vec<Vec<u8>> = payloads.iter().map(|p| udp_frame(port, p)).collect();
        let json = replay_frames(1, &frames);
        prop_assert!(json.contains("tuntrace.report/1"));
    }

    /// Arbitrary bytes behind the IP protocols that carry tunnels (IP in IP, GRE, L2TPv3), with
    /// a sound outer header so that the tunnel decoders and the recursion get them.
    #[test]
    fn arbitrary_payloads_in_tunnel_protocols(proto in proptest::sample::select(vec![4u8, 41, 47, 115]),
                                              payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..12)) {
        let frames: Vec<Vec<u8>> = payloads
            .iter()
            .map(|p| {
                let mut f = udp_frame(0, &[]);
                f.truncate(14 + 20);
                f[14 + 9] = proto;
                let total = (20 + p.len()) as u16;
                f[16..18].copy_from_slice(&total.to_be_bytes());
                f.extend_from_slice(p);
                f
            })
            .collect();
        let json = replay_frames(1, &frames);
        prop_assert!(json.contains("tuntrace.report/1"));
    }

    #[test]
    fn arbitrary_files(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let cap = Capture::from_bytes(bytes);
        let mut agg = Aggregator::default();
        for ev in cap.events(0) {
            match ev {
                Ok(ev) => agg.feed(&ev),
                Err(d) => agg.input_damaged("fuzz", &d),
            }
        }
        let _ = agg.finish().to_json();
    }
}

/// Every corpus file with bytes flipped inside it: the pipeline reports, whatever the damage.
#[test]
fn corpus_files_with_flipped_bytes() {
    let Some(dir) = common::corpus_dir() else { return };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 60, ..ProptestConfig::default() });
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .chain(std::fs::read_dir(dir.join("tunnels")).into_iter().flatten())
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "pcap" || x == "pcapng"))
        .collect();
    assert!(files.len() >= 15, "corpus has {} captures", files.len());
    for f in files {
        let orig = std::fs::read(&f).unwrap();
        let len = orig.len();
        runner
            .run(&proptest::collection::vec((0..len, any::<u8>()), 1..40), |flips| {
                let mut b = orig.clone();
                // Leave the file header alone so the damage lands in packets.
                for (at, v) in flips {
                    if at >= 32 {
                        b[at] = v;
                    }
                }
                let cap = Capture::from_bytes(b);
                let mut agg = Aggregator::default();
                for ev in cap.events(0) {
                    match ev {
                        Ok(ev) => agg.feed(&ev),
                        Err(d) => agg.input_damaged("flipped", &d),
                    }
                }
                let _ = agg.finish().to_json();
                Ok(())
            })
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

/// The batched packet path (`Aggregator::packets`, which starts its table lookups ahead) and
/// one packet at a time give the same report, on every corpus file and on the frames above.
#[test]
fn batched_and_single_packets_give_the_same_report() {
    let one_by_one = |bytes: &[u8]| {
        let mut agg = Aggregator::default();
        agg.add_input("x");
        for ev in Capture::from_bytes(bytes.to_vec()).events(0) {
            match ev {
                Ok(e) => agg.feed(&e),
                Err(d) => agg.input_damaged("x", &d),
            }
        }
        agg.finish().to_json()
    };
    let batched = |bytes: &[u8], size: usize| {
        let mut agg = Aggregator::default();
        agg.add_input("x");
        let cap = Capture::from_bytes(bytes.to_vec());
        let mut batch = Vec::new();
        for ev in cap.events(0) {
            match ev {
                Ok(Event::Packet(p)) => {
                    batch.push(p);
                    if batch.len() == size {
                        agg.packets(&batch);
                        batch.clear();
                    }
                }
                Ok(e) => {
                    agg.packets(&batch);
                    batch.clear();
                    agg.feed(&e);
                }
                Err(d) => {
                    agg.packets(&batch);
                    batch.clear();
                    agg.input_damaged("x", &d);
                }
            }
        }
        agg.packets(&batch);
        agg.finish().to_json()
    };
    let mut files: Vec<Vec<u8>> = Vec::new();
    if let Some(dir) = common::corpus_dir() {
        let tunnels = std::fs::read_dir(dir.join("tunnels")).into_iter().flatten();
        for e in std::fs::read_dir(dir).unwrap().chain(tunnels) {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                files.push(std::fs::read(p).unwrap());
            }
        }
    }
    assert!(common::corpus_dir().is_none() || files.len() > 10);
    for (i, b) in files.iter().enumerate() {
        let want = one_by_one(b);
        for size in [1, 3, 16, 40, 64, 100] {
            assert_eq!(batched(b, size), want, "corpus file {i}, batches of {size}");
        }
    }
}

//! A recording of a synthetic live session (no root, no kernel: the events a live source would
//! send, written by the recorder) replays to the report the session's aggregator gave, with
//! every kind of event in it, rotation included.
#![cfg(target_os = "linux")]

use std::path::PathBuf;

use tuntrace::live::record::{RecordOptions, Recorder};
use tuntrace_core::aggregate::{Aggregator, Options};
use tuntrace_core::capture::linktype;
use tuntrace_core::event::*;
use tuntrace_core::replay::replay_files;
use tuntrace_core::report::{Backend, Report};
use tuntrace_core::time::Timestamp;

const S: i64 = 1_000_000_000;
const T0: i64 = 1_796_340_000 * S;

fn sip(call: &str, cseq: &str, start: &str, from_ue: bool) -> Vec<u8> {
    let msg = format!(
        "{start}\r\nVia: SIP/2.0/UDP 198.19.1.1;branch=z9hG4bK{cseq}\r\nFrom: <sip:ue@ims.example>;tag=a\r\n\
         To: <sip:peer@ims.example>;tag=b\r\nCall-ID: {call}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    );
    let (src, dst) = if from_ue { ([198, 19, 1, 1], [198, 19, 0, 1]) } else { ([198, 19, 0, 1], [198, 19, 1, 1]) };
    let (ulen, total) = (8 + msg.len(), 28 + msg.len());
    let mut f = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, 17, 0, 0];
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&[0x13, 0xc4, 0x13, 0xc4, (ulen >> 8) as u8, ulen as u8, 0, 0]);
    f.extend_from_slice(msg.as_bytes());
    f
}

/// A session as a live source would tell it, in batches.
fn session() -> Vec<Batch> {
    let mut batches = Vec::new();
    let mut b = Batch::new();
    let at = |s: i64| Timestamp(T0 + s * S + 123_456_789);
    for (id, name, ifindex) in [(0, "veth0", 2), (1, "ipsec0", 5)] {
        b.push(Event::Interface(Box::new(InterfaceInfo {
            id,
            name: Some(name.into()),
            linktype: linktype::RAW,
            mtu: Some(1400),
            addresses: vec!["198.19.1.1".into()],
            netns: Some(77),
            ifindex: Some(ifindex),
            link_kind: Some("tun".into()),
            created_before_start: id == 0,
            ..Default::default()
        })));
    }
    for (pid, comm) in [(100, "charon"), (200, "sipp")] {
        b.push(Event::Process(Box::new(ProcessInfo {
            pid,
            comm: Some(comm.into()),
            exe: Some(format!("/usr/bin/{comm}")),
            cmdline: Some(format!("{comm} --flag")),
            uid: Some(0),
            ppid: Some(1),
            start: Some(at(-60)),
        })));
    }
    b.push(Event::Tun(Box::new(TunAttach { ts: at(0), pid: 100, name: "ipsec0".into(), netns: Some(77), tap: false })));
    let sock = |op, cookie, pid, ts| {
        Event::Socket(Box::new(SocketEvent {
            ts,
            op,
            cookie,
            pid,
            proto: 17,
            local: Some("198.19.1.1:5060".parse().unwrap()),
            remote: None,
            netns: Some(77),
            bound_ifindex: None,
            tcp_state: None,
        }))
    };
    b.push(sock(SocketOp::Created, 9, 200, at(1)));
    b.push(Event::Tick(at(1)));
    batches.push(std::mem::take(&mut b));
    for (i, (cseq, start, ue)) in [
        ("1 INVITE", "INVITE sip:peer@ims.example SIP/2.0", true),
        ("1 INVITE", "SIP/2.0 200 OK", false),
        ("2 BYE", "BYE sip:peer@ims.example SIP/2.0", true),
        ("2 BYE", "SIP/2.0 200 OK", false),
    ]
    .into_iter()
    .enumerate()
    {
        let data = sip("call@x", cseq, start, ue);
        b.push_packet(&PacketEvent {
            ts: at(2 + i as i64),
            data: &data,
            cookie: 9,
            pid: None,
            effective_pid: None,
            iface: 1,
            orig_len: data.len() as u32,
            direction: if ue { Direction::Out } else { Direction::In },
            sampled: true,
        });
        for (layer, pid) in [(CountLayer::Interface, None), (CountLayer::Socket, Some(200))] {
            b.push(Event::Counters(Box::new(FlowCounters {
                at: at(2 + i as i64),
                mode: CountMode::Delta,
                layer,
                iface: 1,
                direction: if ue { Direction::Out } else { Direction::In },
                proto: 17,
                src: if ue { "198.19.1.1" } else { "198.19.0.1" }.parse().unwrap(),
                sport: 5060,
                dst: if ue { "198.19.0.1" } else { "198.19.1.1" }.parse().unwrap(),
                dport: 5060,
                cookie: if pid.is_some() { 9 } else { 0 },
                pid,
                packets: 1,
                bytes: data.len() as u64,
                first: Some(at(2 + i as i64)),
                last: Some(at(2 + i as i64)),
            })));
        }
        b.push(Event::Esp(Box::new(EspCounters {
            at: at(2 + i as i64),
            mode: CountMode::Delta,
            iface: 0,
            direction: Direction::Out,
            spi: 0xc0ffee,
            src: "198.18.0.2".parse().unwrap(),
            dst: "198.18.0.1".parse().unwrap(),
            udp: true,
            sport: 4500,
            dport: 4500,
            packets: 1,
            bytes: 120,
            first_seq: 1,
            last_seq: i as u32 + 1,
            gaps: 0,
            repeats: 0,
            reordered: 0,
            first: Some(at(2)),
            last: Some(at(2 + i as i64)),
        })));
        b.push(Event::Loss(Box::new(LossNotice {
            at: at(2 + i as i64),
            mode: CountMode::Total,
            what: "ring buffer full (cpu 0)".into(),
            count: i as u64,
        })));
        b.push(Event::Tick(at(2 + i as i64)));
        batches.push(std::mem::take(&mut b));
    }
    b.push(sock(SocketOp::Closed, 9, 200, at(7)));
    b.push(Event::ProcessExit { pid: 200, start: Some(at(-60)), at: at(8) });
    b.push(Event::InterfaceGone { id: 1, at: at(9) });
    // Past the grace periods: the terminated call and the closed socket are let go.
    b.push(Event::Tick(at(9 + 400)));
    batches.push(b);
    batches
}

fn live_report(batches: &[Batch]) -> Report {
    let mut agg = Aggregator::with_options(Options::live(Backend::Ebpf));
    agg.add_input("netns:[77]");
    for b in batches {
        agg.feed_batch(b);
    }
    agg.report()
}

fn record(batches: &[Batch], path: &std::path::Path, every: Option<std::time::Duration>) -> Vec<PathBuf> {
    let opts = RecordOptions { path: path.to_path_buf(), max_bytes: None, every, redact: false };
    let mut r = Recorder::create(opts, "ebpf", Some(4026531840), Timestamp(T0)).unwrap();
    for b in batches {
        r.write(b);
    }
    r.finish().unwrap()
}

fn same_but_source(mut replayed: Report, live: &Report) {
    assert_eq!(replayed.source.backend, live.source.backend);
    replayed.source = live.source.clone();
    assert_eq!(&replayed, live);
}

#[test]
fn a_recorded_synthetic_session_replays_to_its_report() {
    let batches = session();
    let live = live_report(&batches);
    // The session has a bit of everything (and the expiry let some of it go).
    assert_eq!(live.stats.packets, 4);
    assert_eq!(live.stats.dropped_events, 3);
    assert!(live.interfaces[1].removed.is_some());
    assert_eq!(live.interfaces[1].created_by.as_ref().map(|c| c.pid), Some(100));
    assert_eq!(live.esp_sas[0].packets, 4);
    assert!(live.stats.limits.iter().any(|l| l.what == "sip_calls" && l.count == 1));
    let path = std::env::temp_dir().join(format!("tuntrace-synthetic-{}.pcapng", std::process::id()));
    let files = record(&batches, &path, None);
    assert_eq!(files, std::slice::from_ref(&path));
    same_but_source(replay_files(&files), &live);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn rotated_synthetic_files_replay_together_to_the_same_report() {
    let batches = session();
    let live = live_report(&batches);
    let path = std::env::temp_dir().join(format!("tuntrace-synthetic-rot-{}.pcapng", std::process::id()));
    let files = record(&batches, &path, Some(std::time::Duration::from_secs(2)));
    assert!(files.len() >= 3, "{files:?}");
    same_but_source(replay_files(&files), &live);
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}

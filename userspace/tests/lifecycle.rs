//! The aggregator through a long session: reports built at any moment consume nothing, events
//! cross a channel as owned batches, and what ended or went idle is let go by rule and counted.

use std::path::{Path, PathBuf};

use tuntrace_core::aggregate::{Aggregator, Expiry, Options};
use tuntrace_core::capture::{Damage, Sink};
use tuntrace_core::event::{
    Batch, CountLayer, CountMode, Direction, Event, FlowCounters, InterfaceInfo, PacketEvent, ProcessInfo,
};
use tuntrace_core::replay::replay_files;
use tuntrace_core::time::Timestamp;

/// Collects a capture's events, owned, in batches of `per` events.
struct Batches {
    per: usize,
    done: Vec<Batch>,
    cur: Batch,
}

impl Batches {
    fn push(&mut self, e: Event<'_>) {
        self.cur.push(e);
        if self.cur.len() >= self.per {
            self.done.push(std::mem::take(&mut self.cur));
        }
    }
}

impl Sink for Batches {
    fn packet(&mut self, p: &PacketEvent<'_>) {
        self.push(Event::Packet(*p));
    }
    fn event(&mut self, e: &Event<'_>) {
        self.push(e.clone());
    }
    fn damage(&mut self, d: &Damage) {
        panic!("fixture damaged: {d:?}");
    }
}

fn lab_fixtures() -> Vec<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/lab");
    vec![d.join("outer.pcap"), d.join("inner.pcap")]
}

fn batches_of(files: &[PathBuf], per: usize) -> Vec<Batch> {
    let mut b = Batches { per, done: Vec::new(), cur: Batch::new() };
    let mut next = 0;
    for f in files {
        next += tuntrace_core::capture::stream(f, next, &mut b).unwrap();
    }
    let Batches { mut done, cur, .. } = b;
    if !cur.is_empty() {
        done.push(cur);
    }
    done
}

/// A report taken between any two batches changes nothing: feeding on gives the report of the
/// whole stream, the same as a replay that never stopped to look.
#[test]
fn reports_mid_stream_consume_nothing() {
    let files = lab_fixtures();
    let want = replay_files(&files);
    let mut agg = Aggregator::default();
    for f in &files {
        agg.add_input(f.display().to_string());
    }
    let mut packets_seen = Vec::new();
    for b in batches_of(&files, 7) {
        agg.feed_batch(&b);
        let snap = agg.report();
        packets_seen.push(snap.stats.packets);
    }
    assert!(packets_seen.windows(2).all(|w| w[0] <= w[1]), "{packets_seen:?}");
    assert_eq!(agg.report(), want, "a report after snapshots differs from a straight replay");
    assert_eq!(agg.report(), agg.report(), "two reports in a row differ");
    assert_eq!(agg.finish(), want);
}

/// Owned batches reuse their memory: clearing keeps the capacity, nothing per packet.
#[test]
fn batches_carry_every_event_in_order() {
    let files = lab_fixtures();
    let batches = batches_of(&files, 1000);
    let n: usize = batches.iter().map(Batch::len).sum();
    let mut direct = 0;
    struct Count<'a>(&'a mut usize);
    impl Sink for Count<'_> {
        fn packet(&mut self, _: &PacketEvent<'_>) {
            *self.0 += 1;
        }
        fn event(&mut self, _: &Event<'_>) {
            *self.0 += 1;
        }
        fn damage(&mut self, _: &Damage) {}
    }
    let mut next = 0;
    for f in &files {
        next += tuntrace_core::capture::stream(f, next, &mut Count(&mut direct)).unwrap();
    }
    assert_eq!(n, direct);
}

const S: i64 = 1_000_000_000;

fn sip(at: i64, call: &str, start: &str, cseq: &str, from_ue: bool) -> Vec<u8> {
    let msg = format!(
        "{start}\r\nVia: SIP/2.0/UDP 198.19.1.1;branch=z9hG4bK{cseq}\r\nFrom: <sip:ue@ims.example>;tag=a\r\n\
         To: <sip:peer@ims.example>;tag=b\r\nCall-ID: {call}\r\nCSeq: {cseq}\r\nContent-Length: 0\r\n\r\n"
    );
    let _ = at;
    let (src, dst) = if from_ue { ([198, 19, 1, 1], [198, 19, 0, 1]) } else { ([198, 19, 0, 1], [198, 19, 1, 1]) };
    let udp_len = 8 + msg.len();
    let total = 20 + udp_len;
    let mut f = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, 17, 0, 0];
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&[0x13, 0xc4, 0x13, 0xc4, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
    f.extend_from_slice(msg.as_bytes());
    f
}

fn live_agg() -> Aggregator {
    let mut a = Aggregator::with_options(Options::live(tuntrace_core::report::Backend::Ebpf));
    a.feed(&Event::Interface(Box::new(InterfaceInfo {
        id: 0,
        name: Some("ipsec0".into()),
        linktype: tuntrace_core::capture::linktype::RAW,
        netns: Some(1),
        ifindex: Some(4),
        ..Default::default()
    })));
    a.feed(&Event::Process(Box::new(ProcessInfo { pid: 50, comm: Some("sipp".into()), ..Default::default() })));
    a
}

fn packet(a: &mut Aggregator, at: i64, data: &[u8]) {
    a.feed(&Event::Packet(PacketEvent {
        ts: Timestamp(at),
        data,
        pid: Some(50),
        orig_len: data.len() as u32,
        direction: Direction::Out,
        ..PacketEvent::EMPTY
    }));
}

fn limit(r: &tuntrace_core::report::Report, what: &str, rule_has: &str) -> u64 {
    r.stats
        .limits
        .iter()
        .find(|l| l.what == what && l.rule.contains(rule_has))
        .unwrap_or_else(|| panic!("no limit {what} / {rule_has} in {:?}", r.stats.limits))
        .count
}

/// A terminated call stays for its grace period, then goes, and the report says how many went;
/// an established call and its flow stay while they are active.
#[test]
fn ended_dialogs_and_idle_flows_expire_by_rule() {
    let mut a = live_agg();
    let t0 = 1_000 * S;
    for (i, (start, cseq, ue)) in [
        ("INVITE sip:peer@ims.example SIP/2.0", "1 INVITE", true),
        ("SIP/2.0 200 OK", "1 INVITE", false),
        ("ACK sip:peer@ims.example SIP/2.0", "1 ACK", true),
        ("BYE sip:peer@ims.example SIP/2.0", "2 BYE", true),
        ("SIP/2.0 200 OK", "2 BYE", false),
    ]
    .into_iter()
    .enumerate()
    {
        packet(&mut a, t0 + i as i64 * S, &sip(0, "ended@x", start, cseq, ue));
    }
    let t1 = t0 + 10 * S;
    packet(&mut a, t1, &sip(0, "live@x", "INVITE sip:peer@ims.example SIP/2.0", "1 INVITE", true));
    packet(&mut a, t1 + S, &sip(0, "live@x", "SIP/2.0 200 OK", "1 INVITE", false));
    a.feed(&Event::Tick(Timestamp(t1 + 2 * S)));
    let r = a.report();
    assert_eq!(r.sip.dialogs.len(), 2);
    assert_eq!(limit(&r, "sip_calls", "terminated"), 0);
    // Four minutes later, the confirmed call still talks; the ended one is past 5 minutes' grace.
    let t2 = t0 + 5 * 60 * S + 5 * S;
    packet(&mut a, t2, &sip(0, "live@x", "INFO sip:peer@ims.example SIP/2.0", "2 INFO", true));
    a.feed(&Event::Tick(Timestamp(t2)));
    let r = a.report();
    let ids: Vec<&str> = r.sip.dialogs.iter().map(|d| d.call_id.as_str()).collect();
    assert_eq!(ids, ["live@x"]);
    assert_eq!(limit(&r, "sip_calls", "terminated"), 1);
    assert_eq!(r.flows.len(), 1, "the SIP flow is still active");
    assert_eq!(r.sip.dialogs[0].pid, Some(50));
    assert_eq!(r.sip.dialogs[0].comm.as_deref(), Some("sipp"));
    // Half an hour of silence: the flow and the idle call go too.
    a.feed(&Event::Tick(Timestamp(t2 + 31 * 60 * S)));
    let r = a.report();
    assert!(r.flows.is_empty() && r.sip.dialogs.is_empty(), "{:?} {:?}", r.flows, r.sip.dialogs);
    assert_eq!(limit(&r, "flows", "idle"), 1);
    assert_eq!(limit(&r, "sip_calls", "terminated"), 2);
    // The totals still count every packet seen.
    assert_eq!(r.stats.packets, 8);
    assert_eq!(r.processes.iter().find(|p| p.pid == 50).map(|p| p.packets), Some(8));
}

/// Replays keep everything (no expiry), and the rules are not listed.
#[test]
fn replay_has_no_expiry_rules() {
    let r = replay_files(&lab_fixtures());
    assert!(r.stats.limits.iter().all(|l| !l.rule.contains("idle") || l.what == "tcp_streams"));
    assert_eq!(Options::replay().expiry, Expiry::NEVER);
}

/// A session that lasts: a million counter updates over a few hundred flows keep the state
/// at those flows, and every update counts exactly once.
#[test]
fn state_grows_with_flows_not_with_updates() {
    let mut a = live_agg();
    let flows = 300u16;
    let rounds: u64 = 200;
    for round in 0..rounds {
        let at = Timestamp((round as i64 + 1) * S);
        for i in 0..flows {
            a.feed(&Event::Counters(Box::new(FlowCounters {
                at,
                mode: CountMode::Total,
                layer: CountLayer::Interface,
                iface: 0,
                direction: Direction::Out,
                proto: 17,
                src: "198.19.1.1".parse().unwrap(),
                sport: 10_000 + i,
                dst: "198.19.0.1".parse().unwrap(),
                dport: 5060,
                cookie: 0,
                pid: None,
                packets: round + 1,
                bytes: (round + 1) * 100,
                first: Some(Timestamp(S)),
                last: Some(at),
            })));
        }
        a.feed(&Event::Tick(at));
    }
    let r = a.report();
    assert_eq!(r.flows.len(), flows as usize);
    assert_eq!(r.stats.packets, u64::from(flows) * rounds);
    assert!(r.flows.iter().all(|f| f.packets == rounds));
    assert_eq!(r.stats.unattributed_packets, r.stats.packets, "nothing attributed these");
}

//! The aggregator on inputs made to fill its tables: every cap that is reached is counted in
//! the report's `stats.limits`, and building the report (verdicts included) grows as
//! n log n or better with the number of interfaces, flows, SAs and dialogs.

mod common;

use std::time::{Duration, Instant};

use tuntrace_core::aggregate::Aggregator;
use tuntrace_core::event::{Event, InterfaceInfo, ProcessInfo};
use tuntrace_core::report::Report;

const EN10MB: u32 = 1;

/// An Ethernet frame holding an IPv4 packet of protocol `proto`; `frag` is the flags and
/// fragment offset field.
fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, frag: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
    let len = (20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0, (len >> 8) as u8, len as u8, 0, 1, (frag >> 8) as u8, frag as u8, 64, proto, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(payload);
    f
}

fn udp(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, data: &[u8]) -> Vec<u8> {
    let len = (8 + data.len()) as u16;
    let mut u = Vec::with_capacity(len as usize);
    for v in [sport, dport, len, 0] {
        u.extend_from_slice(&v.to_be_bytes());
    }
    u.extend_from_slice(data);
    ipv4(src, dst, 17, 0, &u)
}

/// An IKEv2 IKE_SA_INIT request header without payloads.
fn ike_sa_init(ispi: u64) -> Vec<u8> {
    let mut b = ispi.to_be_bytes().to_vec();
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&[0, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 28]);
    b
}

fn sip_options(call_id: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:b@example.org SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n\
From: <sip:a@example.org>;tag=1\r\nTo: <sip:b@example.org>\r\nCall-ID: {call_id}\r\n\
CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn host(i: u32) -> [u8; 4] {
    let b = i.to_be_bytes();
    [10, b[1], b[2], b[3]]
}

struct Feeder {
    agg: Aggregator,
    t: i64,
}

impl Feeder {
    fn new() -> Feeder {
        let mut agg = Aggregator::default();
        let info = InterfaceInfo { id: 0, name: Some("eth0".into()), linktype: EN10MB, ..Default::default() };
        agg.feed(&Event::Interface(Box::new(info)));
        Feeder { agg, t: 1_767_225_600_000_000_000 }
    }

    fn frame_on(&mut self, iface: u32, data: &[u8]) {
        self.t += 1_000;
        self.agg.feed(&common::frame(self.t, iface, data));
    }

    fn frame(&mut self, data: &[u8]) {
        self.frame_on(0, data);
    }

    fn interface(&mut self, id: u32, name: &str) {
        let info = InterfaceInfo { id, name: Some(name.into()), linktype: EN10MB, ..Default::default() };
        self.agg.feed(&Event::Interface(Box::new(info)));
    }
}

fn limit(r: &Report, what: &str, rule_has: &str) -> u64 {
    let rows: Vec<_> = r.stats.limits.iter().filter(|l| l.what == what && l.rule.contains(rule_has)).collect();
    assert_eq!(rows.len(), 1, "one {what} row with {rule_has:?} in {:#?}", r.stats.limits);
    rows[0].count
}

#[test]
fn every_cap_reached_is_counted_in_stats_limits() {
    let mut f = Feeder::new();
    let (a, b) = ([198, 18, 0, 2], [198, 18, 0, 1]);
    // ESP SPIs past 500 000.
    for spi in 0x100..0x100 + 500_003u32 {
        let mut esp = spi.to_be_bytes().to_vec();
        esp.extend_from_slice(&[0, 0, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd]);
        f.frame(&ipv4(a, b, 50, 0, &esp));
    }
    // IKE SAs past 200 000.
    for ispi in 1..=200_002u64 {
        f.frame(&udp(a, 500, b, 500, &ike_sa_init(ispi)));
    }
    // SIP Call-IDs past 100 000, and one Call-ID longer than 1024 bytes.
    for n in 0..100_004u32 {
        f.frame(&udp(host(n), 5060, b, 5060, &sip_options(&format!("c{n}@x"))));
    }
    f.frame(&udp(a, 5060, b, 5060, &sip_options(&"z".repeat(1025))));
    // A first fragment whose rest never comes.
    f.frame(&ipv4(a, b, 17, 0x2000, &[0; 64]));
    // Interfaces past the cap, announced by a capture's metadata; and processes.
    for id in 1..=16_400u32 {
        f.interface(id, &format!("utun{id}"));
    }
    for pid in 1..=65_600u32 {
        f.agg.feed(&Event::Process(Box::new(ProcessInfo { pid, comm: Some("p".into()), ..Default::default() })));
    }
    let r = f.agg.report();
    assert_eq!(r.esp_sas.len(), 500_000);
    assert_eq!(limit(&r, "esp_sas", "at most"), 3);
    assert_eq!(r.ike_sas.len(), 200_000);
    assert_eq!(limit(&r, "ike_sas", "at most"), 2);
    assert_eq!(r.sip.dialogs.len(), 100_000);
    assert_eq!(limit(&r, "sip_calls", "at most"), 4);
    assert_eq!(limit(&r, "sip_call_id", "1024"), 1);
    assert_eq!(limit(&r, "ip_fragments", "when the report was made"), 1);
    // 16 384 interfaces in all, eth0 among them.
    assert_eq!(limit(&r, "interfaces", "at most"), 16_400 + 1 - 16_384);
    assert!(r.interfaces.iter().filter(|i| i.name.is_some()).count() <= 16_384);
    assert!(limit(&r, "processes", "at most") >= 65_600 - 65_536);
    assert!(r.processes.len() <= 65_536);
}

#[test]
fn pktap_style_names_past_the_cap_keep_their_frames_counted() {
    // Interfaces announced past the cap share one unnamed entry; their frames still decode
    // and count there.
    let mut f = Feeder::new();
    for id in 1..=16_390u32 {
        f.interface(id, &format!("utun{id}"));
    }
    let esp = [0, 0, 1, 0, 0, 0, 0, 1, 0xaa, 0xbb];
    f.frame_on(16_390, &ipv4([1, 1, 1, 1], [2, 2, 2, 2], 50, 0, &esp));
    f.frame_on(16_389, &ipv4([1, 1, 1, 1], [2, 2, 2, 2], 50, 0, &esp));
    let r = f.agg.report();
    let shared: Vec<_> = r.interfaces.iter().filter(|i| i.name.is_none()).collect();
    assert_eq!(shared.len(), 1, "{shared:?}");
    assert_eq!(shared[0].packets, 2);
    assert_eq!(r.esp_sas[0].packets, 2);
    assert_eq!(r.stats.malformed, 0);
}

/// A capture with `n` tunnel interfaces (half `utunN`, half `ipsecN`) and `m` each of UDP flows
/// spread over them, IKE SAs between two hosts with their ESP SAs, and SIP dialogs.
fn busy(n: u32, m: u32) -> Aggregator {
    let mut f = Feeder::new();
    for id in 1..=n {
        let name = if id % 2 == 0 { format!("utun{id}") } else { format!("ipsec{id}") };
        f.interface(id, &name);
    }
    let (a, b) = ([198, 18, 0, 2], [198, 18, 0, 1]);
    for k in 0..m {
        let iface = 1 + k % n;
        f.frame_on(iface, &udp(host(k), 40_000, b, 443, b"x"));
        f.frame(&udp(a, 500, b, 500, &ike_sa_init(u64::from(k) + 1)));
        let mut esp = (0x1000 + k).to_be_bytes().to_vec();
        esp.extend_from_slice(&[0, 0, 0, 1, 0xaa, 0xbb]);
        f.frame(&ipv4(a, b, 50, 0, &esp));
        f.frame_on(iface, &udp(host(k), 5060, b, 5060, &sip_options(&format!("c{k}@x"))));
    }
    f.agg
}

/// The median time of three reports of `agg`.
fn report_time(agg: &Aggregator) -> Duration {
    let mut t: Vec<Duration> = (0..3)
        .map(|_| {
            let start = Instant::now();
            let r = agg.report();
            let took = start.elapsed();
            assert!(!r.verdicts.is_empty());
            took
        })
        .collect();
    t.sort();
    t[1]
}

#[test]
fn report_building_stays_n_log_n_when_the_input_doubles() {
    // Interfaces within their cap; flows, SAs and dialogs by the ten thousand.
    let small = busy(4_000, 10_000);
    let large = busy(8_000, 20_000);
    let r = large.report();
    assert_eq!((r.ike_sas.len(), r.esp_sas.len(), r.sip.dialogs.len()), (20_000, 20_000, 20_000));
    assert!(r.verdicts.len() >= 8_000, "a verdict per tunnel interface");
    let (t1, t2) = (report_time(&small), report_time(&large));
    let ratio = t2.as_secs_f64() / t1.as_secs_f64().max(1e-6);
    // n log n doubles to a little over 2x; quadratic work makes it 4x. The margin is for a
    // busy machine.
    assert!(ratio < 3.0, "report of twice the input took {ratio:.2}x as long ({t1:?} -> {t2:?})");
}

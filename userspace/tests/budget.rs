//! The state's memory bound (`aggregate::budget`): past the limit the program's heap probe
//! reports, nothing new is started, what exists goes on being counted, and the report says how
//! much was refused; below it again, new things are kept. A test binary of its own: the probe
//! is process-wide.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tuntrace_core::aggregate::{set_memory_probe, Aggregator, STATE_LIMIT};
use tuntrace_core::event::{Event, InterfaceInfo};
use tuntrace_core::report::Report;

static HEAP: AtomicUsize = AtomicUsize::new(0);

fn heap() -> usize {
    HEAP.load(Relaxed)
}

/// An Ethernet frame with an IKEv2 IKE_SA_INIT request (header only) from 10.0.x.y:500.
fn ike_sa_init(host: u16, ispi: u64) -> Vec<u8> {
    let mut ike = ispi.to_be_bytes().to_vec();
    ike.extend_from_slice(&[0; 8]);
    ike.extend_from_slice(&[0, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 28]);
    let ulen = (8 + ike.len()) as u16;
    let ilen = 20 + ulen;
    let mut f = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00];
    f.extend_from_slice(&[0x45, 0, (ilen >> 8) as u8, ilen as u8, 0, 1, 0, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&[10, 0, (host >> 8) as u8, host as u8, 198, 18, 0, 1]);
    for v in [500u16, 500, ulen, 0] {
        f.extend_from_slice(&v.to_be_bytes());
    }
    f.extend_from_slice(&ike);
    f
}

struct Feeder {
    agg: Aggregator,
    t: i64,
}

impl Feeder {
    fn frame(&mut self, data: &[u8]) {
        self.t += 1_000;
        self.agg.feed(&common::frame(self.t, 0, data));
    }

    /// Enough packets of SA 0's flow for the aggregator to have looked at the heap.
    fn known(&mut self, n: usize) {
        let f = ike_sa_init(0, 1);
        for _ in 0..n {
            self.frame(&f);
        }
    }
}

fn limit(r: &Report, what: &str) -> u64 {
    r.stats.limits.iter().filter(|l| l.what == what).map(|l| l.count).sum()
}

#[test]
fn past_the_heap_limit_nothing_new_is_kept_and_the_refusals_are_counted() {
    set_memory_probe(heap);
    let mut f = Feeder { agg: Aggregator::default(), t: 1_767_225_600_000_000_000 };
    let info = InterfaceInfo { id: 0, name: Some("eth0".into()), linktype: 1, ..Default::default() };
    f.agg.feed(&Event::Interface(Box::new(info)));

    // Room: ten SAs on ten flows.
    for h in 0..10u16 {
        f.frame(&ike_sa_init(h, 1 + u64::from(h)));
    }
    // Full: the next look at the heap stops new flows and SAs; SA 0 goes on being counted.
    HEAP.store(STATE_LIMIT + 1, Relaxed);
    f.known(100);
    for h in 100..110u16 {
        f.frame(&ike_sa_init(h, 1000 + u64::from(h)));
    }
    let r = f.agg.report();
    assert_eq!(r.ike_sas.len(), 10, "no SA past the limit");
    assert_eq!(r.flows.len(), 10, "no flow past the limit");
    assert_eq!(limit(&r, "memory"), 10, "the refused packets are counted: {:#?}", r.stats.limits);
    let rule = &r.stats.limits.iter().find(|l| l.what == "memory").unwrap().rule;
    assert!(rule.contains(&format!("{} MiB", STATE_LIMIT >> 20)), "the row names the limit: {rule}");
    assert_eq!(r.stats.packets, 120, "every packet is in the totals");
    let sa0 = r.flows.iter().find(|x| x.src == "10.0.0.0" || x.dst == "10.0.0.0").expect("flow of SA 0");
    assert_eq!(sa0.packets, 101, "a flow kept goes on being counted");

    // Room again (expiry freed some): new things are kept, the count of refusals stays.
    HEAP.store(0, Relaxed);
    f.known(100);
    for h in 200..205u16 {
        f.frame(&ike_sa_init(h, 2000 + u64::from(h)));
    }
    let r = f.agg.report();
    assert_eq!(r.ike_sas.len(), 15);
    assert_eq!(r.flows.len(), 15);
    assert_eq!(limit(&r, "memory"), 10);
}

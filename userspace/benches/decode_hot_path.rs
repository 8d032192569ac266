//! Throughput of the replay hot path (link + IP + UDP/TCP header decode, flow-table lookup,
//! counters), beside etherparse's slicer on the same frames. Prints numbers, asserts nothing
//! about speed. Run:
//!   cargo bench -p tuntrace-core --bench decode_hot_path

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::time::Instant;

use tuntrace_core::decode::{ip, link};

/// `NET_BENCH_PACKETS` lowers it for instruction counting under valgrind.
fn packets() -> usize {
    std::env::var("NET_BENCH_PACKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000)
}
/// Frames laid out back to back like a capture file, larger than the CPU caches by default
/// (`NET_BENCH_POOL_MB` changes it, e.g. 1 to see the decoders without memory stalls).
fn pool_bytes() -> usize {
    std::env::var("NET_BENCH_POOL_MB").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(64) << 20
}

/// Multiply-rotate hasher (the rustc "Fx" scheme): the flow key is trusted-size and
/// collision attacks on a replay are not a concern, SipHash's cost is.
#[derive(Default)]
struct Fx(u64);
impl Hasher for Fx {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for c in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write_u64(i as u64)
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(i as u64)
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(i as u64)
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64)
    }
}

type FlowKey = (IpAddr, IpAddr, u16, u16, u8);

fn frame(i: usize) -> Vec<u8> {
    let flow = (i * 7919) % 4096;
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    let kind = i % 10;
    if kind == 9 {
        // 802.1Q tagged
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
    }
    let payload_len = 40 + (i % 200);
    if kind == 8 {
        f.extend_from_slice(&[0x86, 0xdd]);
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
        f.extend_from_slice(&[17, 64]);
        f.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        f.extend_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (flow >> 8) as u8, flow as u8]);
    } else {
        f.extend_from_slice(&[0x08, 0x00]);
        let proto = if kind == 7 { 6 } else { 17 };
        let l4 = if proto == 6 { 20 } else { 8 };
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&((20 + l4 + payload_len) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0, 198, 18, 0, 2, 198, 19, (flow >> 8) as u8, flow as u8]);
        if proto == 6 {
            f.extend_from_slice(&[0x13, 0xc4, 0x13, 0xc4, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
            f.extend(std::iter::repeat_n(0x55u8, payload_len));
            return f;
        }
    }
    f.extend_from_slice(&[0x11, 0x94, 0x11, 0x94]);
    f.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend(std::iter::repeat_n(0x55u8, payload_len));
    f
}

/// A capture-like arena: (offset, len) records over one big buffer.
fn pool() -> (Vec<u8>, Vec<(usize, usize)>) {
    let want = pool_bytes();
    let mut bytes = Vec::with_capacity(want + 4096);
    let mut recs = Vec::new();
    let mut i = 0;
    while bytes.len() < want {
        let f = frame(i);
        recs.push((bytes.len(), f.len()));
        bytes.extend_from_slice(&f);
        i += 1;
    }
    (bytes, recs)
}

#[derive(Default, Clone, Copy)]
struct Ctr {
    packets: u64,
    bytes: u64,
}

fn run<H: std::hash::BuildHasher + Default>(
    label: &str,
    bytes: &[u8],
    recs: &[(usize, usize)],
    decode: impl Fn(&[u8]) -> Option<FlowKey>,
) -> f64 {
    let mut flows: HashMap<FlowKey, Ctr, H> = HashMap::default();
    let mut malformed = 0u64;
    let t = Instant::now();
    for n in 0..packets() {
        let (off, len) = recs[n % recs.len()];
        let f = &bytes[off..off + len];
        match decode(f) {
            Some(k) => {
                let c = flows.entry(k).or_default();
                c.packets += 1;
                c.bytes += len as u64;
            }
            None => malformed += 1,
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let mpps = packets() as f64 / secs / 1e6;
    let total: u64 = flows.values().map(|c| c.packets).sum();
    println!(
        "{label:<44} {mpps:7.2} Mpkt/s  {:6.1} ns/pkt  flows {} pkts {} other {malformed}",
        secs * 1e9 / packets() as f64,
        flows.len(),
        total
    );
    mpps
}

fn ours(f: &[u8]) -> Option<FlowKey> {
    let l = link::decode(link::EN10MB, f).ok()?;
    let p = ip::parse(l.l3).ok()??;
    let (sp, dp) = match p.proto {
        ip::PROTO_UDP => {
            let (s, d, _) = ip::udp(p.payload).ok()?;
            (s, d)
        }
        ip::PROTO_TCP => {
            let s = ip::tcp(p.payload).ok()?;
            (s.sport, s.dport)
        }
        _ => (0, 0),
    };
    Some((p.src, p.dst, sp, dp, p.proto))
}

fn etherparse_slices(f: &[u8]) -> Option<FlowKey> {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let s = SlicedPacket::from_ethernet(f).ok()?;
    let (src, dst, proto): (IpAddr, IpAddr, u8) = match s.net? {
        NetSlice::Ipv4(v4) => {
            let h = v4.header();
            (h.source_addr().into(), h.destination_addr().into(), h.protocol().0)
        }
        NetSlice::Ipv6(v6) => {
            let h = v6.header();
            (h.source_addr().into(), h.destination_addr().into(), v6.payload().ip_number.0)
        }
        _ => return None,
    };
    let (sp, dp) = match s.transport {
        Some(TransportSlice::Udp(u)) => (u.source_port(), u.destination_port()),
        Some(TransportSlice::Tcp(t)) => (t.source_port(), t.destination_port()),
        _ => (0, 0),
    };
    Some((src, dst, sp, dp, proto))
}

fn main() {
    let (bytes, recs) = pool();
    // Under `valgrind --tool=cachegrind --cache-sim=no` (the host is shared, so instruction
    // counts are the stable measure): NET_BENCH_PHASE=baseline|ours|etherparse runs one loop;
    // the difference of two runs' totals over the packet count is instructions per packet.
    if let Ok(phase) = std::env::var("NET_BENCH_PHASE") {
        let mut acc = 0u64;
        for n in 0..packets() {
            let (off, len) = recs[n % recs.len()];
            let f = std::hint::black_box(&bytes[off..off + len]);
            acc = acc.wrapping_add(match phase.as_str() {
                "ours" => ours(f).map_or(0, |k| k.2 as u64),
                "etherparse" => etherparse_slices(f).map_or(0, |k| k.2 as u64),
                _ => f[14] as u64 + f[len - 1] as u64,
            });
        }
        println!("{phase}: {acc}");
        return;
    }
    println!("{} frames, {} MiB arena, {} packets per run", recs.len(), bytes.len() >> 20, packets());
    // Baseline: walk the records and read two bytes of each. The machine is shared, so compare
    // the lines below with this one, not with absolute numbers.
    let t = Instant::now();
    let mut acc = 0u64;
    for n in 0..packets() {
        let (off, len) = recs[n % recs.len()];
        let f = std::hint::black_box(&bytes[off..off + len]);
        acc = acc.wrapping_add(f[14] as u64 + f[len - 1] as u64);
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{:<44} {:7.2} Mpkt/s  {:6.1} ns/pkt  ({acc})",
        "baseline: touch each frame",
        packets() as f64 / s / 1e6,
        s * 1e9 / packets() as f64
    );
    // Decode only (flow key built, no table): the decoders' own cost.
    let t = Instant::now();
    let mut acc = 0u64;
    for n in 0..packets() {
        let (off, len) = recs[n % recs.len()];
        if let Some(k) = ours(std::hint::black_box(&bytes[off..off + len])) {
            acc = acc.wrapping_add(k.2 as u64);
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{:<44} {:7.2} Mpkt/s  {:6.1} ns/pkt  ({acc})",
        "tuntrace decode only",
        packets() as f64 / s / 1e6,
        s * 1e9 / packets() as f64
    );
    let t = Instant::now();
    let mut acc = 0u64;
    for n in 0..packets() {
        let (off, len) = recs[n % recs.len()];
        if let Some(k) = etherparse_slices(std::hint::black_box(&bytes[off..off + len])) {
            acc = acc.wrapping_add(k.2 as u64);
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "{:<44} {:7.2} Mpkt/s  {:6.1} ns/pkt  ({acc})",
        "etherparse SlicedPacket decode only",
        packets() as f64 / s / 1e6,
        s * 1e9 / packets() as f64
    );

    let a = run::<BuildHasherDefault<Fx>>("tuntrace decode + flow table (Fx hash)", &bytes, &recs, ours);
    let b = run::<BuildHasherDefault<Fx>>("etherparse decode + flow table (Fx hash)", &bytes, &recs, etherparse_slices);
    run::<std::collections::hash_map::RandomState>("tuntrace decode + flow table (SipHash)", &bytes, &recs, ours);
    println!("ratio tuntrace/etherparse with flow table: {:.2}", a / b);
}

//! The fast path: the frames nearly every capture is made of (IPv4 in Ethernet carrying UDP
//! or ESP), parsed once per batch and counted from that parse, with the table slots of packets
//! further on prefetched while earlier ones are counted.

use std::net::IpAddr;

use super::{esp_table, flows, ike_table, Aggregator, FlowKey, Keyed, TableKey};
use crate::decode::tunnel::{self as tun, gtp, vxlan, Payload};
use crate::decode::{esp, ip, link};
use crate::event::PacketEvent;

/// A frame of the kind nearly every capture is made of, parsed once by the first stage of a
/// batch ([`Aggregator::packets`]): IPv4 without options and not a fragment, in untagged
/// Ethernet, carrying UDP with a sound header or ESP with a non-zero SPI. It holds what
/// counting needs (the flow key and the table hashes its lookups use), so the frame is not
/// parsed a second time. Any other frame is `Fast::NONE` and takes the general path, which
/// also names what is wrong with a damaged one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fast {
    /// [`flows::UDP`] or [`flows::ESP`]; 0 for a frame the general path counts.
    pub(super) proto: u8,
    sport: u16,
    dport: u16,
    /// Interface index.
    iface: u32,
    src: u32,
    dst: u32,
    /// Where the UDP data, or the ESP packet, lies in the frame.
    start: u32,
    end: u32,
    flow: Keyed,
    /// The SPI and SA-key hash of ESP, and of UDP that looks like ESP in UDP (checked against
    /// the payload's classification before use).
    esp: Option<(u32, u64)>,
    /// The SA-key hash of a UDP packet on port 500 or 4500 with an IKE header's room (0 for
    /// none): its SA is prefetched as the flow's is.
    ike: u64,
    /// The flow-key hash of what a GTP-U or VXLAN packet carries ([`inner_hint`]; 0 for
    /// none): inner flows are as many as outer ones are few, and their lookups missed the
    /// cache as outer ones did before the pipeline.
    inner: u64,
}

impl Fast {
    pub(super) const NONE: Fast = Fast {
        proto: 0,
        sport: 0,
        dport: 0,
        iface: 0,
        src: 0,
        dst: 0,
        start: 0,
        end: 0,
        flow: Keyed { key: FlowKey::EMPTY, a_src: false, hash: 0 },
        esp: None,
        ike: 0,
        inner: 0,
    };
}

/// Most packets [`Aggregator::packets`] parses ahead of counting them.
pub(super) const BATCH: usize = 64;

impl Aggregator {
    /// A frame [`Aggregator::parse_fast`] took: what the general path would do with it,
    /// from the parse already made.
    #[inline(always)]
    pub(super) fn count_fast(&mut self, p: &PacketEvent<'_>, f: &Fast) {
        self.count_totals(p);
        let iface = f.iface as usize;
        let proc = self.owner(p.pid, p.cookie, p.ts);
        self.count_iface(iface, p, proc);
        let pk = Self::pkt(p, iface, proc);
        // In range: the parse took `start..end` from this frame.
        let data = &p.data[f.start as usize..f.end as usize];
        let (src, dst) = (IpAddr::V4(f.src.into()), IpAddr::V4(f.dst.into()));
        if f.proto == flows::UDP {
            // The UDP length field sits 4 bytes before the payload the parse took.
            let at = f.start as usize;
            self.udp_cut = p
                .data
                .get(at - 4..at - 2)
                .is_some_and(|l| usize::from(u16::from_be_bytes([l[0], l[1]])) > data.len() + 8);
            self.udp(pk, src, f.sport, dst, f.dport, data, &f.flow, f.esp);
        } else {
            self.esp_raw(pk, src, dst, data, &f.flow, f.esp);
        }
    }

    /// Count a batch of packets. The common frames ([`Fast`]) are parsed for the whole batch
    /// first and their table slots prefetched; each entry is prefetched a few packets before
    /// its packet is counted. The cache misses of a batch then overlap instead of stalling
    /// one packet after another. Same result as [`Aggregator::feed`] packet by packet.
    #[inline]
    pub fn packets(&mut self, batch: &[PacketEvent<'_>]) {
        const MAX: usize = BATCH;
        // A software pipeline over the batch: a packet is parsed and its slots prefetched
        // SLOTS_AHEAD packets before it is counted, its entries ENTRIES_AHEAD before (by then
        // the slot has arrived, and the entry arrives while the packets in between are
        // counted). Only the first few packets of a batch wait.
        const SLOTS_AHEAD: usize = 12;
        const ENTRIES_AHEAD: usize = 4;
        // And what an entry leads to that is written over in place (an IKE SA's oldest kept
        // exchange) RING_AHEAD before, once the entry has arrived.
        const RING_AHEAD: usize = 2;
        if batch.len() > MAX {
            for chunk in batch.chunks(MAX) {
                self.packets(chunk);
            }
            return;
        }
        if self.budget.watched() {
            self.look_at_heap();
        }
        let n = batch.len();
        // Taken out of `self` for the batch, to be filled while `self` is used.
        let mut parsed = self.parsed.take().unwrap_or_else(|| Box::new([Fast::NONE; BATCH]));
        let (mut ahead, mut fetched, mut ringed) = (0, 0, 0);
        for (i, p) in batch.iter().enumerate() {
            while ahead < n && ahead < i + SLOTS_AHEAD {
                let f = &mut parsed[ahead];
                self.parse_fast(&batch[ahead], f);
                if f.proto != 0 {
                    self.flows.map.prefetch_slot(f.flow.hash);
                    if let Some((_, hash)) = f.esp {
                        self.esp.prefetch_slot(hash);
                    } else if f.ike != 0 {
                        self.ike.prefetch_slot(f.ike);
                    } else if f.inner != 0 {
                        self.flows.map.prefetch_slot(f.inner);
                    }
                }
                ahead += 1;
            }
            while fetched < ahead && fetched < i + ENTRIES_AHEAD {
                let f = &parsed[fetched];
                if f.proto != 0 {
                    self.flows.map.prefetch_entry(f.flow.hash);
                    if let Some((_, hash)) = f.esp {
                        self.esp.prefetch_entry(hash);
                    } else if f.ike != 0 {
                        self.ike.prefetch_sa(f.ike);
                    } else if f.inner != 0 {
                        self.flows.map.prefetch_entry(f.inner);
                    }
                }
                fetched += 1;
            }
            while ringed < fetched && ringed < i + RING_AHEAD {
                let f = &parsed[ringed];
                if f.proto != 0 && f.esp.is_none() && f.ike != 0 {
                    self.ike.prefetch_ring(f.ike);
                }
                ringed += 1;
            }
            let f = &parsed[i];
            if f.proto != 0 {
                self.count_fast(p, f);
            } else {
                self.packet_general(p);
            }
        }
        self.parsed = Some(parsed);
    }

    /// Parse a frame for the fast path into `f` ([`Fast`]); `proto` 0 for any other frame.
    #[inline(always)]
    pub(super) fn parse_fast(&self, p: &PacketEvent<'_>, f: &mut Fast) {
        f.proto = 0;
        const L3: usize = 14;
        const L4: usize = L3 + 20;
        let Some(idx) = self.ifaces.index(p.iface) else {
            return;
        };
        if self.ifaces.list[idx].info.linktype != link::EN10MB {
            return;
        }
        let (Some([0x08, 0x00]), Some(l3)) = (p.data.get(12..14), p.data.get(L3..)) else {
            return;
        };
        let Some((src, dst, proto, payload)) = plain_ipv4(l3) else {
            return;
        };
        let iface = idx as u32;
        let esp_hash = |spi, udp| esp_table::EspKey::v4(spi, src, dst, udp).table_hash();
        let (sport, dport, start, end, esp) = match proto {
            flows::UDP => {
                let Ok((sport, dport, data)) = ip::udp(payload) else {
                    return;
                };
                // ESP in UDP: a non-zero SPI where IKE has its zero marker.
                let esp = match data.first_chunk::<4>().map(|w| u32::from_be_bytes(*w)) {
                    Some(spi) if spi != 0 && (sport == 4500 || dport == 4500) => Some((spi, esp_hash(spi, true))),
                    _ => None,
                };
                (sport, dport, L4 + 8, L4 + 8 + data.len(), esp)
            }
            flows::ESP => {
                let Ok(h) = esp::parse(payload) else {
                    return;
                };
                (0, 0, L4, L4 + payload.len(), Some((h.spi, esp_hash(h.spi, false))))
            }
            _ => return,
        };
        let (key, a_src) = FlowKey::v4(iface, proto, src, sport, dst, dport);
        let flow = Keyed { key, a_src, hash: key.table_hash() };
        // IKE on 500, or on 4500 behind the non-ESP marker (a 4500 packet without it is ESP).
        let (mut ike, mut inner) = (0, 0);
        if esp.is_none() && proto == flows::UDP {
            let data = p.data.get(start..end).unwrap_or(&[]);
            let head = if sport == 4500 || dport == 4500 {
                data.strip_prefix(&[0, 0, 0, 0])
            } else if sport == 500 || dport == 500 {
                Some(data)
            } else {
                None
            };
            if let Some(k) = head.and_then(ike_table::IkeKey::of_header) {
                ike = k.table_hash();
            } else {
                inner = inner_hint(iface, sport, dport, data);
            }
        }
        *f = Fast { proto, sport, dport, iface, src, dst, start: start as u32, end: end as u32, flow, esp, ike, inner };
    }
}

/// The flow-key hash of the IPv4 UDP or TCP packet a GTP-U (either port 2152) or VXLAN
/// (destination port 4789) datagram on interface `iface` carries, as the decapsulation keys
/// its flow; 0 for anything else. Only a hint for prefetching: the decapsulation decides.
#[inline]
fn inner_hint(iface: u32, sport: u16, dport: u16, data: &[u8]) -> u64 {
    let ip = if sport == tun::PORT_GTP_U || dport == tun::PORT_GTP_U {
        match gtp::parse(data).map(|g| g.payload) {
            Ok(Payload::Ip(b)) => b,
            _ => return 0,
        }
    } else if dport == tun::PORT_VXLAN {
        match vxlan::parse(data).map(|v| v.payload) {
            Ok(Payload::Ethernet(b)) if b.get(12..14) == Some(&[0x08, 0x00]) => &b[14..],
            _ => return 0,
        }
    } else {
        return 0;
    };
    let Some((src, dst, proto, l4)) = plain_ipv4(ip) else { return 0 };
    let Some(p) = l4.first_chunk::<4>().filter(|_| proto == flows::UDP || proto == flows::TCP) else {
        return 0;
    };
    let (sport, dport) = (u16::from_be_bytes([p[0], p[1]]), u16::from_be_bytes([p[2], p[3]]));
    FlowKey::v4(iface, proto, src, sport, dst, dport).0.table_hash()
}

/// The common IPv4 header (no options, not a fragment, sane length) read in place, giving
/// `(src, dst, proto, payload)` exactly as `ip::parse_v4` would; anything else is `None` and
/// takes the full decoder (which also names what is wrong).
#[inline]
pub(super) fn plain_ipv4(b: &[u8]) -> Option<(u32, u32, u8, &[u8])> {
    let h = b.first_chunk::<20>()?;
    // 0x3fff: fragment offset and more-fragments bits.
    if h[0] != 0x45 || u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
        return None;
    }
    let announced = usize::from(u16::from_be_bytes([h[2], h[3]]));
    // 0: a TSO super-segment, whose real length is what was captured.
    let total = if announced == 0 { b.len() } else { announced };
    if total < 20 {
        return None;
    }
    let src = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
    let dst = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
    Some((src, dst, h[9], b.get(20..total.min(b.len()))?))
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;
    use crate::aggregate::Aggregator;
    use crate::decode::ip;
    use crate::event::{Event, PacketEvent};
    use crate::time::Timestamp;
    use std::net::IpAddr;

    /// The fast IPv4 read agrees with the full decoder wherever it answers, and leaves options,
    /// fragments and bad lengths to it.
    #[test]
    fn plain_ipv4_agrees_with_parse_v4() {
        let mut hdr = vec![0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2];
        hdr.extend_from_slice(&[0x13, 0xc4, 0x13, 0xc4, 0, 8, 0, 0, 0xaa, 0xbb]);
        let check = |b: &[u8]| {
            if let Some((s, d, pr, pl)) = plain_ipv4(b) {
                let full = ip::parse_v4(b).expect("fast path accepted what the decoder rejects");
                assert!(full.frag.is_none());
                assert_eq!(
                    (IpAddr::from(s.to_be_bytes()), IpAddr::from(d.to_be_bytes()), pr, pl),
                    (full.src, full.dst, full.proto, full.payload)
                );
            }
        };
        assert!(plain_ipv4(&hdr).is_some());
        check(&hdr);
        let mut x: u32 = 12345;
        for i in 0..20_000usize {
            let mut b = hdr.clone();
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let at = (x >> 8) as usize % 10;
            b[at] = (x >> 16) as u8;
            b.truncate(b.len() - i % 14);
            check(&b);
        }
        for (at, v) in [(0, 0x46u8), (6, 0x20), (7, 1), (3, 0), (3, 19)] {
            let mut b = hdr.clone();
            b[at] = v;
            if (at, v) == (3, 0) {
                assert!(plain_ipv4(&b).is_some(), "total length 0 means the captured length");
            } else {
                assert!(plain_ipv4(&b).is_none(), "byte {at} = {v:#x}");
            }
        }
    }

    /// An Ethernet frame carrying IPv4 (`proto`) with `l4` behind the header.
    fn ipv4_frame(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00];
        let total = (20 + l4.len()) as u16;
        f.extend_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(l4);
        f
    }

    fn udp(sport: u16, dport: u16, data: &[u8]) -> Vec<u8> {
        let mut u = Vec::new();
        u.extend_from_slice(&sport.to_be_bytes());
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        u.extend_from_slice(&[0, 0]);
        u.extend_from_slice(data);
        u
    }

    /// Frames the fast path takes and frames just beside it (damaged, cut, other protocols),
    /// many on the same flows and SAs, with random bytes changed.
    fn frames() -> Vec<Vec<u8>> {
        let (a, b, c) = ([198, 18, 0, 1], [198, 18, 0, 2], [198, 19, 0, 9]);
        let esp = |spi: u32, seq: u32| [spi.to_be_bytes(), seq.to_be_bytes(), [0xab; 4]].concat();
        let mut base = vec![
            ipv4_frame(17, a, b, &udp(4500, 4500, &esp(0x1111, 1))),
            ipv4_frame(17, b, a, &udp(4500, 4500, &esp(0x2222, 1))),
            ipv4_frame(17, a, b, &udp(4500, 4500, &[0xff])),
            ipv4_frame(17, a, b, &udp(4500, 4500, &[0, 0, 0, 0, 1, 2])),
            ipv4_frame(17, a, b, &udp(4500, 4500, &[1, 2, 3])),
            ipv4_frame(17, a, c, &udp(40000, 4500, &esp(0x3333, 7))),
            ipv4_frame(17, a, b, &udp(500, 500, &[0; 28])),
            ipv4_frame(17, a, b, &udp(5060, 5060, b"OPTIONS sip:x SIP/2.0\r\nCall-ID: 1\r\nCSeq: 1 OPTIONS\r\n\r\n")),
            ipv4_frame(17, c, a, &udp(16384, 16386, &[0x80; 40])),
            ipv4_frame(17, c, a, &udp(16384, 16386, &[])),
            ipv4_frame(50, a, b, &esp(0x4444, 3)),
            ipv4_frame(50, b, a, &esp(0x5555, 9)),
            ipv4_frame(50, a, b, &esp(0, 1)),
            ipv4_frame(6, a, b, &[0x13, 0xc4, 0x13, 0xc4, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0, 0, 0, 0, 0, 0]),
            ipv4_frame(1, a, b, &[8, 0, 0, 0]),
        ];
        // Tunnels: what they carry goes through the same counting, fast path or not.
        let inner =
            ipv4_frame(17, c, a, &udp(5060, 5060, b"OPTIONS sip:y SIP/2.0\r\nCall-ID: 2\r\nCSeq: 1 OPTIONS\r\n\r\n"));
        let inner_ip = &inner[14..];
        let gtp = [&[0x30, 0xff, 0, inner_ip.len() as u8, 0, 0, 0, 7][..], inner_ip].concat();
        base.push(ipv4_frame(17, a, b, &udp(2152, 2152, &gtp)));
        let vxlan = [&[0x08, 0, 0, 0, 0, 0, 5, 0][..], &inner].concat();
        base.push(ipv4_frame(17, b, a, &udp(40000, 4789, &vxlan)));
        let mut wg = vec![1u8, 0, 0, 0, 9, 9, 9, 9];
        wg.resize(148, 0x5a);
        base.push(ipv4_frame(17, a, c, &udp(40001, 51820, &wg)));
        base.push(ipv4_frame(47, a, b, &[&[0, 0, 0x08, 0x00][..], inner_ip].concat()));
        base.push(ipv4_frame(4, b, c, inner_ip));
        let mut out = Vec::new();
        let mut x: u32 = 7;
        for round in 0..300usize {
            for f in base.iter_mut() {
                let mut g = f.clone();
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                match round % 4 {
                    // Unchanged, and sequence numbers that move on (gaps, replays).
                    0 | 1 => {
                        if let Some(b) = g.get_mut(45) {
                            *b = b.wrapping_add((x >> 20) as u8 % 3);
                        }
                        *f = g.clone();
                    }
                    // One byte anywhere in the headers or the first payload bytes.
                    2 => {
                        let at = (x >> 8) as usize % g.len().min(54);
                        g[at] = (x >> 16) as u8;
                    }
                    // Cut short.
                    _ => g.truncate((x >> 8) as usize % (g.len() + 1)),
                }
                out.push(g);
            }
        }
        out
    }

    /// The fast path counts exactly what the general decoder would, frame for frame.
    #[test]
    fn fast_path_agrees_with_the_general_path() {
        let run = |general: bool| {
            let mut agg = Aggregator::default();
            agg.feed(&Event::Interface(Box::new(crate::event::InterfaceInfo {
                id: 0,
                linktype: link::EN10MB,
                ..Default::default()
            })));
            let frames = frames();
            let mut fast = 0;
            for (i, f) in frames.iter().enumerate() {
                let p = PacketEvent {
                    ts: Timestamp(i as i64 * 1000),
                    iface: 0,
                    direction: crate::event::Direction::Unknown,
                    orig_len: f.len() as u32 + (i % 2) as u32,
                    data: f,
                    pid: (i % 3 == 0).then_some(42),
                    effective_pid: None,
                    cookie: 0,
                    sampled: false,
                };
                if general {
                    agg.packet_general(&p);
                } else {
                    let mut parsed = Fast::NONE;
                    agg.parse_fast(&p, &mut parsed);
                    fast += usize::from(parsed.proto != 0);
                    agg.packet(&p);
                }
            }
            (agg.finish().to_json(), fast, frames.len())
        };
        let ((general, _, _), (fast, taken, n)) = (run(true), run(false));
        assert!(taken > n / 2 && taken < n, "fast path took {taken} of {n} frames");
        assert_eq!(general, fast);
    }
}

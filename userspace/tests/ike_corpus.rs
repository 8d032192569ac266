//! Every IKE, ESP, AH and NAT-T keepalive packet of the public corpus through the decoders,
//! compared with tshark's dissection of the same frames (table below, produced with
//! `tshark -T fields -e frame.number -e isakmp.ispi -e isakmp.rspi -e isakmp.exchangetype
//! -e isakmp.messageid -e isakmp.flags -e isakmp.typepayload -Y isakmp`, proposal/transform
//! substructure types 2 and 3 left out since they are not chain payloads).
//!
//! The capture reader of the crate is someone else's piece, so this test carries a minimal
//! one (pcap-parser for the container, fixed-offset Ethernet/NULL/RAW + IPv4/IPv6 + UDP).

mod common;

use std::collections::BTreeMap;
use std::fs::File;

use pcap_parser::{create_reader, Block, PcapBlockOwned, PcapError};
use tuntrace_core::decode::esp::{self, UdpEncap};
use tuntrace_core::decode::ike;

/// tshark: file frame ispi rspi exchange message-id flags chain ("-" when encrypted/none).
const TSHARK: &str = "\
ikev1_ipv6_esp.pcap 1 e8836b356b7c1bae 0000000000000000 2 0 0 1,13,13\n\
ikev1_ipv6_esp.pcap 2 63c268011254b771 0000000000000000 2 0 0 1,13,13,13,13\n\
ikev1_ipv6_esp.pcap 3 63c268011254b771 850b3a1845f947cc 2 0 0 1,13,13,13\n\
ikev1_ipv6_esp.pcap 4 63c268011254b771 850b3a1845f947cc 2 0 0 4,10\n\
ikev1_ipv6_esp.pcap 5 63c268011254b771 850b3a1845f947cc 2 0 0 4,10\n\
ikev1_ipv6_esp.pcap 6 63c268011254b771 850b3a1845f947cc 2 0 1 -\n\
ikev1_ipv6_esp.pcap 7 63c268011254b771 850b3a1845f947cc 2 0 1 -\n\
ikev1_ipv6_esp.pcap 8 63c268011254b771 850b3a1845f947cc 32 15280522 1 -\n\
ikev1_ipv6_esp.pcap 9 63c268011254b771 850b3a1845f947cc 32 3459718741 1 -\n\
ikev1_ipv6_esp.pcap 10 63c268011254b771 850b3a1845f947cc 32 15280522 1 -\n\
ikev1_ipv6_esp.pcap 11 63c268011254b771 850b3a1845f947cc 32 3459718741 1 -\n\
ikev1_ipv6_esp.pcap 12 63c268011254b771 850b3a1845f947cc 32 15280522 1 -\n\
ikev1_ipv6_esp.pcap 13 63c268011254b771 850b3a1845f947cc 32 3459718741 1 -\n\
ikev1_main_mode.pcap 1 e47a591fd057587f 0000000000000000 2 0 0 1,13,13,13,13\n\
ikev1_main_mode.pcap 2 e47a591fd057587f a00b8ef0902bb8ec 2 0 0 1,13\n\
ikev1_main_mode.pcap 3 e47a591fd057587f a00b8ef0902bb8ec 2 0 0 4,10,13,13,13,20,20\n\
ikev1_main_mode.pcap 4 e47a591fd057587f a00b8ef0902bb8ec 2 0 0 4,10,13,13,13,13,20,20\n\
ikev1_main_mode.pcap 5 e47a591fd057587f a00b8ef0902bb8ec 2 0 1 -\n\
ikev1_main_mode.pcap 6 e47a591fd057587f a00b8ef0902bb8ec 2 0 1 -\n\
ikev1_main_mode.pcap 7 e47a591fd057587f a00b8ef0902bb8ec 32 1666854506 1 -\n\
ikev1_main_mode.pcap 8 e47a591fd057587f a00b8ef0902bb8ec 32 1666854506 1 -\n\
ikev1_main_mode.pcap 9 e47a591fd057587f a00b8ef0902bb8ec 32 1666854506 1 -\n\
ikev1_natt_4500_espudp.pcap 3 9e89f2388f90bc1e 0000000000000000 2 0 0 1,13,13,13,13,13,13\n\
ikev1_natt_4500_espudp.pcap 4 9e89f2388f90bc1e 0a74357ce3d1a4bf 2 0 0 1,13,13,13\n\
ikev1_natt_4500_espudp.pcap 5 9e89f2388f90bc1e 0a74357ce3d1a4bf 2 0 0 4,10,20,20\n\
ikev1_natt_4500_espudp.pcap 6 9e89f2388f90bc1e 0a74357ce3d1a4bf 2 0 0 4,10,20,20\n\
ikev1_natt_4500_espudp.pcap 7 9e89f2388f90bc1e 0a74357ce3d1a4bf 2 0 1 -\n\
ikev1_natt_4500_espudp.pcap 8 9e89f2388f90bc1e 0a74357ce3d1a4bf 2 0 1 -\n\
ikev1_natt_4500_espudp.pcap 9 9e89f2388f90bc1e 0a74357ce3d1a4bf 32 2340325703 1 -\n\
ikev1_natt_4500_espudp.pcap 10 9e89f2388f90bc1e 0a74357ce3d1a4bf 32 2340325703 1 -\n\
ikev1_natt_4500_espudp.pcap 11 9e89f2388f90bc1e 0a74357ce3d1a4bf 32 2340325703 1 -\n\
ikev1_natt_4500_espudp.pcap 15 9e89f2388f90bc1e 0a74357ce3d1a4bf 32 2340325703 1 -\n\
ikev1_natt_4500_espudp.pcap 16 9e89f2388f90bc1e 0a74357ce3d1a4bf 32 2340325703 1 -\n\
ikev1_natt_4500_espudp.pcap 20 9e89f2388f90bc1e 0a74357ce3d1a4bf 32 2340325703 1 -\n\
ikev1_natt_4500_espudp.pcap 21 9e89f2388f90bc1e 0a74357ce3d1a4bf 32 2340325703 1 -\n\
ikev1_natt_4500_espudp.pcap 30 9e89f2388f90bc1e 0a74357ce3d1a4bf 32 2340325703 1 -\n\
ikev1_natt_4500_espudp.pcap 35 9e89f2388f90bc1e 0a74357ce3d1a4bf 5 45991503 1 -\n\
ikev2_four_exchanges_null.pcap 1 a88875a8198992a6 0000000000000000 34 0 8 33,34,40,41,41\n\
ikev2_four_exchanges_null.pcap 2 a88875a8198992a6 0000000000000000 34 0 32 41\n\
ikev2_four_exchanges_null.pcap 3 a88875a8198992a6 0000000000000000 34 0 8 41,33,34,40,41,41\n\
ikev2_four_exchanges_null.pcap 4 a88875a8198992a6 71be8358efae7663 34 0 32 33,34,40,41,41\n\
ikev2_four_exchanges_null.pcap 5 a88875a8198992a6 71be8358efae7663 35 1 8 46\n\
ikev2_four_exchanges_null.pcap 6 a88875a8198992a6 71be8358efae7663 35 1 32 46\n\
ikev2_four_exchanges_null.pcap 7 a88875a8198992a6 71be8358efae7663 36 2 8 46\n\
ikev2_four_exchanges_null.pcap 8 a88875a8198992a6 71be8358efae7663 36 3 8 46\n\
ikev2_four_exchanges_null.pcap 9 a88875a8198992a6 71be8358efae7663 36 2 32 46\n\
ikev2_four_exchanges_null.pcap 10 a88875a8198992a6 71be8358efae7663 36 3 32 46\n\
ikev2_four_exchanges_null.pcap 11 a88875a8198992a6 71be8358efae7663 36 4 8 46\n\
ikev2_four_exchanges_null.pcap 12 a88875a8198992a6 71be8358efae7663 36 5 8 46\n\
ikev2_four_exchanges_null.pcap 13 a88875a8198992a6 71be8358efae7663 36 4 32 46\n\
ikev2_four_exchanges_null.pcap 14 a88875a8198992a6 71be8358efae7663 36 5 32 46\n\
ikev2_four_exchanges_null.pcap 15 a88875a8198992a6 71be8358efae7663 36 6 8 46\n\
ikev2_four_exchanges_null.pcap 16 a88875a8198992a6 71be8358efae7663 36 7 8 46\n\
ikev2_four_exchanges_null.pcap 17 a88875a8198992a6 71be8358efae7663 36 6 32 46\n\
ikev2_four_exchanges_null.pcap 18 a88875a8198992a6 71be8358efae7663 36 7 32 46\n\
ikev2_four_exchanges_null.pcap 19 a88875a8198992a6 71be8358efae7663 36 8 8 46\n\
ikev2_four_exchanges_null.pcap 20 a88875a8198992a6 71be8358efae7663 36 8 32 46\n\
ikev2_four_exchanges_null.pcap 21 1d9be9451d4f97a8 64a2a4b5d0e17b6a 37 0 8 46\n\
ikev2_sa_init_rawip.pcap 1 61d3693ce12af528 0000000000000000 34 0 8 40,34,33\n\
ikev2_natt_espudp.pcapng 1 89922c915f35570e 0000000000000000 34 0 8 33,34,40,43,43,43,43,41,41,41\n\
ikev2_natt_espudp.pcapng 2 89922c915f35570e 98d56d32e2a04742 34 0 32 33,34,40,38,43,43,43,43,41,41,41\n\
ikev2_natt_espudp.pcapng 3 89922c915f35570e 98d56d32e2a04742 35 1 8 46\n\
ikev2_natt_espudp.pcapng 4 89922c915f35570e 98d56d32e2a04742 35 1 32 46\n\
ikev2_natt_espudp.pcapng 13 89922c915f35570e 98d56d32e2a04742 37 2 8 46\n\
ikev2_natt_espudp.pcapng 14 89922c915f35570e 98d56d32e2a04742 37 2 32 46\n\
ikev2_natt_espudp.pcapng 15 89922c915f35570e 98d56d32e2a04742 37 0 0 46\n\
ikev2_natt_espudp.pcapng 16 89922c915f35570e 98d56d32e2a04742 37 0 40 46\n\
ikev2_natt_espudp.pcapng 17 89922c915f35570e 98d56d32e2a04742 37 3 8 46\n\
ikev2_natt_espudp.pcapng 18 89922c915f35570e 98d56d32e2a04742 37 3 32 46\n\
ikev2_natt_espudp.pcapng 19 99feb3adea1ee8f8 0000000000000000 34 0 8 33,34,40,43,43,43,43,41,41,41\n\
ikev2_natt_espudp.pcapng 20 99feb3adea1ee8f8 85a3428fbdd9e1df 34 0 32 33,34,40,38,43,43,43,43,41,41,41\n\
ikev2_natt_espudp.pcapng 21 99feb3adea1ee8f8 85a3428fbdd9e1df 35 1 8 46\n\
ikev2_natt_espudp.pcapng 22 99feb3adea1ee8f8 85a3428fbdd9e1df 35 1 32 46\n\
ikev2_natt_espudp.pcapng 31 99feb3adea1ee8f8 85a3428fbdd9e1df 37 2 8 46\n\
ikev2_natt_espudp.pcapng 32 99feb3adea1ee8f8 85a3428fbdd9e1df 37 2 32 46\n\
ikev2_natt_espudp.pcapng 33 99feb3adea1ee8f8 85a3428fbdd9e1df 37 0 0 46\n\
ikev2_natt_espudp.pcapng 34 99feb3adea1ee8f8 85a3428fbdd9e1df 37 0 40 46\n\
ikev2_natt_espudp.pcapng 35 99feb3adea1ee8f8 85a3428fbdd9e1df 37 3 8 46\n\
ikev2_natt_espudp.pcapng 36 99feb3adea1ee8f8 85a3428fbdd9e1df 37 3 32 46\n\
ikev2_natt_espudp.pcapng 37 5a64e0edca3a3614 0000000000000000 34 0 8 33,34,40,43,43,43,43,41,41,41\n\
ikev2_natt_espudp.pcapng 38 5a64e0edca3a3614 7c9ebe2a8e9ff7b8 34 0 32 33,34,40,38,43,43,43,43,41,41,41\n\
ikev2_natt_espudp.pcapng 39 5a64e0edca3a3614 7c9ebe2a8e9ff7b8 35 1 8 46\n\
ikev2_natt_espudp.pcapng 40 5a64e0edca3a3614 7c9ebe2a8e9ff7b8 35 1 32 46\n\
ikev2_natt_espudp.pcapng 49 5a64e0edca3a3614 7c9ebe2a8e9ff7b8 37 2 8 46\n\
ikev2_natt_espudp.pcapng 50 5a64e0edca3a3614 7c9ebe2a8e9ff7b8 37 2 32 46\n\
ikev2_natt_espudp.pcapng 51 5a64e0edca3a3614 7c9ebe2a8e9ff7b8 37 0 0 46\n\
ikev2_natt_espudp.pcapng 52 5a64e0edca3a3614 7c9ebe2a8e9ff7b8 37 0 40 46\n\
ikev2_natt_espudp.pcapng 53 5a64e0edca3a3614 7c9ebe2a8e9ff7b8 37 3 8 46\n\
ikev2_natt_espudp.pcapng 54 5a64e0edca3a3614 7c9ebe2a8e9ff7b8 37 3 32 46\n\
ikev2_raw_esp.pcapng 1 05ac0f4d122013f4 0000000000000000 34 0 8 33,34,40,43,43,43,43,41,41\n\
ikev2_raw_esp.pcapng 2 05ac0f4d122013f4 5f46ee70bc4c5d0d 34 0 32 33,34,40,43,43,43,43,41,41\n\
ikev2_raw_esp.pcapng 3 05ac0f4d122013f4 5f46ee70bc4c5d0d 35 1 8 46\n\
ikev2_raw_esp.pcapng 4 05ac0f4d122013f4 5f46ee70bc4c5d0d 35 1 32 46\n\
";

/// Frames of a capture as (frame number, link type, bytes).
fn frames(name: &str) -> Option<Vec<(usize, i32, Vec<u8>)>> {
    let path = common::corpus_file(name)?;
    let file = File::open(&path).unwrap();
    let mut reader = create_reader(1 << 20, file).unwrap();
    let mut out = Vec::new();
    let mut legacy_lt = 1;
    let mut idb_lt: Vec<i32> = Vec::new();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => legacy_lt = h.network.0,
                    PcapBlockOwned::Legacy(b) => {
                        out.push((out.len() + 1, legacy_lt, b.data.to_vec()));
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => idb_lt.push(idb.linktype.0),
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let lt = idb_lt[epb.if_id as usize];
                        let n = (epb.caplen as usize).min(epb.data.len());
                        out.push((out.len() + 1, lt, epb.data[..n].to_vec()));
                    }
                    _ => {}
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
            Err(e) => panic!("{name}: {e:?}"),
        }
    }
    Some(out)
}

/// IP packet of a frame by link type.
fn ip_of(lt: i32, f: &[u8]) -> Option<&[u8]> {
    match lt {
        0 => f.get(4..),
        101 => Some(f),
        1 => {
            let mut at = 12;
            let mut et = u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]);
            while et == 0x8100 {
                at += 4;
                et = u16::from_be_bytes([*f.get(at)?, *f.get(at + 1)?]);
            }
            matches!(et, 0x0800 | 0x86dd).then(|| f.get(at + 2..)).flatten()
        }
        _ => None,
    }
}

/// (protocol, payload) of an IP packet, without extension headers (none in these files).
fn transport(ip: &[u8]) -> Option<(u8, &[u8])> {
    match ip.first()? >> 4 {
        4 => {
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            Some((*ip.get(9)?, ip.get(ihl..total.min(ip.len()))?))
        }
        6 => {
            let plen = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            Some((*ip.get(6)?, ip.get(40..(40 + plen).min(ip.len()))?))
        }
        _ => None,
    }
}

#[derive(Default, Debug)]
struct Seen {
    ike: Vec<(usize, ike::IkeMessage)>,
    esp: BTreeMap<u32, usize>,
    keepalives: usize,
}

fn decode_file(name: &str) -> Option<Seen> {
    let mut seen = Seen::default();
    for (no, lt, f) in frames(name)? {
        let Some((proto, mut payload)) = ip_of(lt, &f).and_then(transport) else {
            continue;
        };
        let mut proto = proto;
        if proto == 51 {
            let (nh, _spi, _seq, rest) = esp::parse_ah(payload).expect("AH decodes");
            proto = nh;
            payload = rest;
        }
        match proto {
            50 => {
                let h = esp::parse(payload).expect("ESP decodes");
                *seen.esp.entry(h.spi).or_default() += 1;
            }
            17 if payload.len() >= 8 => {
                let sport = u16::from_be_bytes([payload[0], payload[1]]);
                let dport = u16::from_be_bytes([payload[2], payload[3]]);
                let udp = &payload[8..];
                if sport == 4500 || dport == 4500 {
                    match esp::classify_udp_encap(udp) {
                        UdpEncap::Keepalive => seen.keepalives += 1,
                        UdpEncap::Esp { spi, .. } => *seen.esp.entry(spi).or_default() += 1,
                        UdpEncap::Ike(m) => seen.ike.push((no, ike::parse(m).expect("IKE decodes"))),
                        UdpEncap::Malformed(m) => panic!("{name} frame {no}: {m}"),
                    }
                } else if sport == 500 || dport == 500 {
                    assert!(ike::looks_like_ike(udp), "{name} frame {no}: strict check refused real IKE");
                    seen.ike.push((no, ike::parse(udp).expect("IKE decodes")));
                } else {
                    assert!(!ike::looks_like_ike(udp), "{name} frame {no}: non-IKE UDP taken for IKE");
                }
            }
            _ => {}
        }
    }
    Some(seen)
}

#[test]
fn ike_messages_match_tshark() {
    let mut files: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for line in TSHARK.lines().filter(|l| !l.is_empty()) {
        files.entry(line.split(' ').next().unwrap()).or_default().push(line);
    }
    for (file, lines) in files {
        let Some(seen) = decode_file(file) else {
            return;
        };
        assert_eq!(seen.ike.len(), lines.len(), "{file}: IKE message count");
        for ((no, m), line) in seen.ike.iter().zip(lines) {
            let f: Vec<&str> = line.split(' ').collect();
            let ctx = format!("{file} frame {no}");
            assert_eq!(no.to_string(), f[1], "{ctx}");
            assert_eq!(m.malformed, None, "{ctx}");
            assert_eq!(format!("{:016x}", m.initiator_spi), f[2], "{ctx}");
            assert_eq!(format!("{:016x}", m.responder_spi), f[3], "{ctx}");
            assert_eq!(m.exchange_type.to_string(), f[4], "{ctx}");
            assert!(!m.exchange_name.starts_with("EXCHANGE_"), "{ctx}");
            assert_eq!(m.message_id.to_string(), f[5], "{ctx}");
            assert_eq!(m.flags.to_string(), f[6], "{ctx}");
            if m.version == 2 {
                assert_eq!(m.is_response, Some(m.flags & 0x20 != 0), "{ctx}");
            }
            let chain: Vec<String> = m.payload_types.iter().map(|t| t.to_string()).collect();
            let expected = if f[7] == "-" { String::new() } else { f[7].to_string() };
            assert_eq!(chain.join(","), expected, "{ctx}");
            if m.encrypted && m.version == 1 {
                assert_eq!(m.payloads, ["Encrypted"], "{ctx}");
            }
            assert!(m.payloads.iter().all(|p| !p.starts_with("PAYLOAD_")), "{ctx}: {:?}", m.payloads);
            for n in &m.notifies {
                assert!(!n.name.starts_with("NOTIFY_"), "{ctx}: {}", n.name);
            }
        }
    }
}

#[test]
fn esp_spis_and_keepalives_match_tshark() {
    // tshark -e esp.spi; keepalives: udp.length == 9 on 4500.
    type Expect<'a> = (&'a str, &'a [(u32, usize)], usize);
    let expect: &[Expect] = &[
        ("ah_esp_multi_idb.pcapng", &[(0x48dac2e4, 1), (0x49507636, 1)], 0),
        ("espudp_only.pcap", &[(0x12345678, 8)], 0),
        ("ikev1_ipv6_esp.pcap", &[(0x3d71315a, 148), (0x8905e940, 74), (0xe8f1f49c, 74)], 0),
        ("ikev1_natt_4500_espudp.pcap", &[(0xf4dc0ae5, 8)], 4),
        (
            "ikev2_natt_espudp.pcapng",
            &[(0x78bd5377, 4), (0x958a753b, 4), (0xac0faf03, 4), (0xb6b5f296, 4), (0xc1a9656b, 4), (0xc1d717e8, 4)],
            0,
        ),
        ("ikev2_raw_esp.pcapng", &[(0x2360b0e3, 1), (0xf0092cb5, 1)], 0),
    ];
    for (file, spis, keepalives) in expect {
        let Some(seen) = decode_file(file) else {
            return;
        };
        let got: Vec<(u32, usize)> = seen.esp.into_iter().collect();
        assert_eq!(&got[..], *spis, "{file}");
        assert_eq!(seen.keepalives, *keepalives, "{file}");
    }
}

#[test]
fn strict_check_rejects_other_udp_in_corpus() {
    // SIP, RTP and DNS datagrams must never pass for IKE on a non-IKE port.
    for file in
        ["sip_udp_5060_5061.pcap", "sip_udp_register_invite_rtp.pcap", "pktap_pcapng_procinfo_en0_pdpip0.pcapng"]
    {
        let Some(seen) = decode_file(file) else {
            return;
        };
        assert!(seen.ike.is_empty(), "{file}");
    }
}

#[test]
fn vendor_id_names_across_corpus() {
    // Every distinct VID in the corpus (tshark -V "Vendor ID:" lines) and the name we give it;
    // tshark's own names agree where it knows them (it calls 4f456b52… and the rest unknown).
    let mut got = std::collections::BTreeSet::new();
    for file in [
        "ikev1_ipv6_esp.pcap",
        "ikev1_main_mode.pcap",
        "ikev1_natt_4500_espudp.pcap",
        "ikev2_four_exchanges_null.pcap",
        "ikev2_natt_espudp.pcapng",
        "ikev2_raw_esp.pcapng",
        "ikev2_sa_init_rawip.pcap",
    ] {
        let Some(seen) = decode_file(file) else {
            return;
        };
        for (_, m) in seen.ike {
            got.extend(m.vendor_ids);
        }
    }
    let want: std::collections::BTreeSet<String> = [
        "Cisco Delete Reason",
        "Cisco Dynamic Route",
        "Cisco FlexVPN",
        "Cisco Unity",
        "Cisco VPN Revision 2",
        "DPD (RFC 3706)",
        "FRAGMENTATION",
        "Fortinet FortiGate",
        "Openswan/Libreswan",
        "RFC 3947 NAT-T",
        "XAUTH",
        "draft-ietf-ipsec-nat-t-ike-00",
        "draft-ietf-ipsec-nat-t-ike-02",
        "draft-ietf-ipsec-nat-t-ike-02\\n",
        "draft-ietf-ipsec-nat-t-ike-03",
        "draft-ietf-ipsec-nat-t-ike-07",
        "unknown:11bdfe02d056587f2c18125972c32401",
        "unknown:55cc29ed902ab8ec53b1df867c610929",
        "unknown:85817703c6e320d2ae5a4dd02056c6d7",
        "unknown:a9b9b1034f7e50a2513b47b100bb85a9",
        "unknown:c61baca1f1a60cc10800000000000000",
        "unknown:c6f57ac398f493208145b7581e878983",
        "unknown:eb4c1b788afd4a9cb7730a68d56c5321",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(got, want);
}

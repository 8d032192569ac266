//! The corpus files' own reference outputs (Zeek, tcpdump, nDPI, Suricata, Apple tcpdump),
//! checked fact by fact against tuntrace's report.

mod common;

use common::*;
use tuntrace_core::report::{App, DialogState, Encap, IkeState, Proto, Report, Transport};

fn file(name: &str) -> Option<std::path::PathBuf> {
    corpus_dir().map(|d| d.join(name))
}

fn has(list: &[String], needle: &str) -> bool {
    let n = needle.to_ascii_lowercase();
    list.iter().any(|s| s.to_ascii_lowercase().contains(&n))
}

/// Zeek's spicy-ipsec log: vendor IDs of IKEv1 main mode, the proposal, Quick Mode after it.
#[test]
fn ikev1_main_mode_matches_zeek() {
    let Some(f) = file("ikev1_main_mode.pcap") else { return };
    let j = replay_json(&f);
    let sa = &j.ike_sas[0];
    assert_eq!(sa.initiator_spi, "e47a591fd057587f");
    assert_eq!(sa.responder_spi.as_deref(), Some("a00b8ef0902bb8ec"));
    assert_eq!(sa.initiator, "192.168.12.1");
    assert_eq!(sa.responder, "192.168.12.2");
    assert!(!sa.nat_t);
    let vids = &sa.vendor_ids;
    for v in ["3947", "nat-t-ike-07", "nat-t-ike-03", "nat-t-ike-02", "DPD", "XAUTH", "Cisco Unity"] {
        assert!(has(vids, v), "vendor ID {v} missing from {vids:?}");
    }
    let ex: Vec<String> = sa.exchanges.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(ex.iter().filter(|e| e.as_str() == "MAIN_MODE").count(), 6, "{ex:?}");
    assert_eq!(ex.iter().filter(|e| e.as_str() == "QUICK_MODE").count(), 3, "{ex:?}");
    assert_eq!(sa.state, IkeState::Established);
    // Encryption Algorithm=7 (AES-CBC) key 128, Hash=2 (SHA1), Group=2 (MODP 1024), Auth=1 (PSK).
    let p = &sa.proposals[0];
    let all: Vec<String> =
        [&p.encryption, &p.integrity, &p.prf, &p.dh, &p.other].into_iter().flatten().cloned().collect();
    for part in ["AES", "128", "SHA", "1024"] {
        assert!(has(&all, part), "proposal lacks {part}: {all:?}");
    }
    assert!(has(&all, "PSK") || has(&all, "pre-shared"), "proposal lacks PSK auth: {all:?}");
}

/// tcpdump's decode of an IKEv1 NAT-T run: main mode floats from 500 to 4500, ESP in UDP
/// SPI f4dc0ae5 with sequence numbers from 1, keepalives present.
#[test]
fn ikev1_natt_matches_tcpdump() {
    let Some(f) = file("ikev1_natt_4500_espudp.pcap") else { return };
    let j = replay_json(&f);
    let sa = &j.ike_sas[0];
    assert_eq!(sa.version, 1);
    assert!(sa.nat_t);
    assert_eq!(sa.initiator, "192.1.2.254");
    assert_eq!(sa.initiator_port, 4500);
    let esp: Vec<_> = j.esp_sas.iter().filter(|e| e.spi == "f4dc0ae5").collect();
    assert_eq!(esp.len(), 1);
    assert_eq!(esp[0].encap, Encap::Udp);
    assert_eq!(esp[0].first_seq, Some(1));
    assert_eq!(esp[0].ike_sa, Some(0));
    let apps: Vec<App> = j.flows.iter().map(|f| f.app).collect();
    assert!(apps.contains(&App::EspInUdp), "{apps:?}");
    assert!(apps.contains(&App::Ike), "{apps:?}");
}

/// tcpdump: ESP-in-UDP with no IKE in view, SPI 12345678 seq 1..8.
#[test]
fn espudp_only_matches_tcpdump() {
    let Some(f) = file("espudp_only.pcap") else { return };
    let j = replay_json(&f);
    assert_eq!(j.ike_sas.len(), 0);
    let e = &j.esp_sas[0];
    assert_eq!(e.spi, "12345678");
    assert_eq!(e.src, "192.1.2.23");
    assert_eq!(e.dst, "192.1.2.45");
    assert_eq!(e.packets, 8);
    assert_eq!(e.first_seq, Some(1));
    assert_eq!(e.last_seq, Some(8));
    assert_eq!(e.seq_gaps, 0);
    assert_eq!(e.ike_sa, None);
    assert!(!j.verdicts.is_empty(), "ESP without IKE deserves a verdict");
}

/// nDPI: IKEv2 then raw ESP between 10.2.3.2 and 10.3.4.4, two SPIs.
#[test]
fn ikev2_raw_esp_matches_ndpi() {
    let Some(f) = file("ikev2_raw_esp.pcapng") else { return };
    let j = replay_json(&f);
    let spis: Vec<String> = j.esp_sas.iter().map(|e| e.spi.clone()).collect();
    assert!(spis.contains(&"2360b0e3".to_string()) && spis.contains(&"f0092cb5".to_string()), "{spis:?}");
    for e in &j.esp_sas {
        assert_eq!(e.encap, Encap::None);
        assert_eq!(e.ike_sa, Some(0), "ESP SA {e:?} not linked to the IKE SA of the same peers");
    }
    assert_eq!(j.ike_sas[0].state, IkeState::Established);
}

/// Suricata: IKEv2 IKE_SA_INIT on LINKTYPE_RAW offering a weak DH group.
#[test]
fn ikev2_rawip_weak_dh() {
    let Some(f) = file("ikev2_sa_init_rawip.pcap") else { return };
    let j = replay_json(&f);
    let sa = &j.ike_sas[0];
    assert_eq!(sa.initiator_spi, "61d3693ce12af528");
    assert_eq!(sa.initiator, "212.158.157.2");
    assert_eq!(sa.state, IkeState::Init);
    let dh = &sa.proposals[0].dh;
    assert!(!dh.is_empty(), "no DH groups decoded");
}

/// IKEv2 with the COOKIE round trip (tcpdump's ikev2four): the cookie notify is named.
#[test]
fn ikev2_cookie_round_trip() {
    let Some(f) = file("ikev2_four_exchanges_null.pcap") else { return };
    let j = replay_json(&f);
    let sa = &j.ike_sas[0];
    assert!(has(&sa.notifies, "COOKIE"), "{:?}", sa.notifies);
    assert_eq!(j.interfaces[0].linktype, "NULL");
}

/// scapy's IKEv2 NAT-T capture: three IKE SAs entirely on 4500 from port 10954, three ESP pairs.
#[test]
fn ikev2_natt_three_sas() {
    let Some(f) = file("ikev2_natt_espudp.pcapng") else { return };
    let j = replay_json(&f);
    let sas = &j.ike_sas;
    assert_eq!(sas.len(), 3);
    for sa in sas {
        assert!(sa.nat_t);
        assert_eq!(sa.version, 2);
    }
    let esp = &j.esp_sas;
    assert_eq!(esp.len(), 6, "{esp:?}");
    assert!(esp.iter().all(|e| e.encap == Encap::Udp && e.ike_sa.is_some()));
    let linked: std::collections::BTreeSet<usize> = esp.iter().map(|e| e.ike_sa.unwrap()).collect();
    assert_eq!(linked.len(), 3, "each IKE SA gets its own ESP pair: {linked:?}");
}

/// The SIP TCP capture (Suricata): REGISTER split across two segments, then 200 OK.
#[test]
fn sip_tcp_register_reassembled() {
    let Some(f) = file("sip_tcp_register.pcap") else { return };
    let j = replay_json(&f);
    let regs = &j.sip.registrations;
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0].result, Some(200));
    let m = &regs[0].messages;
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].transport, Transport::Tcp);
    assert_eq!(m[0].method.as_deref(), Some("REGISTER"));
}

/// sngrep's IPv6 capture: SIP on non-standard ports through a proxy (one Call-ID, two legs),
/// with an INVITE split into IPv6 fragments.
#[test]
fn sip_ipv6_fragments_and_odd_ports() {
    let Some(f) = file("sip_ipv6_frag_sll.pcap") else { return };
    let j = replay_json(&f);
    let d = &j.sip.dialogs;
    assert_eq!(d.len(), 1, "one Call-ID");
    let msgs = &d[0].messages;
    // Every kind is counted, whether or not the message is among those listed.
    let kinds: Vec<String> = d[0]
        .message_counts
        .iter()
        .map(|c| c.method.clone().or(c.status.map(|s| s.to_string())).unwrap_or_default())
        .collect();
    for want in ["INVITE", "183", "PRACK", "UPDATE", "ACK", "BYE"] {
        assert!(kinds.iter().any(|s| s == want), "{want} missing from {kinds:?}");
    }
    let ports: std::collections::BTreeSet<u16> = msgs.iter().flat_map(|m| [m.sport, m.dport]).collect();
    assert_eq!(ports, [5062, 15060, 25060].into_iter().collect(), "both legs through the proxy");
    assert_eq!(d[0].state, DialogState::Terminated);
    assert_eq!(j.stats.malformed, 0, "{:?}", j.malformed);
}

/// nDPI's SIP capture: REGISTER with auth challenges, INVITE, RTP labelled from the SDP.
#[test]
fn sip_udp_rtp_labelled() {
    let Some(f) = file("sip_udp_register_invite_rtp.pcap") else { return };
    let j = replay_json(&f);
    assert!(!j.sip.registrations.is_empty());
    assert!(!j.sip.dialogs.is_empty());
    let rtp: Vec<_> = j.flows.iter().filter(|f| f.app == App::Rtp).collect();
    assert!(!rtp.is_empty(), "RTP 30000 -> 40392 should be labelled from the SDP");
}

/// Plaintext SIP on 5061 over UDP (Cloudshark sample): parsed as SIP, not taken for TLS.
#[test]
fn sip_plaintext_on_5061() {
    let Some(f) = file("sip_udp_5060_5061.pcap") else { return };
    let j = replay_json(&f);
    let d = &j.sip.dialogs;
    assert_eq!(d.len(), 2);
    assert_eq!(j.sip.registrations.len(), 1);
    let first = &d[0];
    assert_eq!(first.state, DialogState::Confirmed);
}

/// Apple pktap pcapng: two interfaces with different link types, processes from the PIBs.
#[test]
fn apple_pktap_process_blocks() {
    let Some(f) = file("pktap_pcapng_procinfo_en0_pdpip0.pcapng") else { return };
    let j = replay_json(&f);
    assert_eq!(j.stats.packets, 197);
    let names: Vec<String> = j.interfaces.iter().filter_map(|i| i.name.clone()).collect();
    assert!(names.contains(&"en0".into()) && names.contains(&"pdp_ip0".into()), "{names:?}");
    let comms: Vec<String> = j.processes.iter().filter_map(|p| p.comm.clone()).collect();
    assert!(comms.iter().any(|c| c == "network_test"), "{comms:?}");
    assert!(j.stats.unattributed_packets < 197);
}

/// tcpdump's PKTAP sample: the inner Ethernet frame decoded, the interface named en0.
#[test]
fn pktap_dlt258_interface_named() {
    let Some(f) = file("pktap_dlt258.pcap") else { return };
    let j = replay_json(&f);
    let names: Vec<String> = j.interfaces.iter().filter_map(|i| i.name.clone()).collect();
    assert_eq!(names, vec!["en0".to_string()]);
    assert_eq!(j.flows[0].dport, Some(53));
}

/// Fuzzed and truncated files: reported up to the damage, exit 1, a message with the offset.
#[test]
fn damaged_files_report_what_they_can() {
    let Some(f) = file("fuzz_truncated_file_null.pcap") else { return };
    let r = run(&["replay", "--json", f.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("byte offset"), "{}", r.stderr);
    let j: Report = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j.errors.len(), 1);
    let Some(f) = file("fuzz_pktap_heap_overflow.pcap") else { return };
    let j = replay_json(&f);
    assert_eq!(j.stats.packets, 2);
    assert!(j.stats.malformed >= 1);
}

/// Different snaplens per interface (libpcap stops after packet 1): all three packets, AH+ESP.
#[test]
fn multi_idb_snaplens() {
    let Some(f) = file("ah_esp_multi_idb.pcapng") else { return };
    let j = replay_json(&f);
    assert_eq!(j.stats.packets, 3);
    let spis: Vec<String> = j.esp_sas.iter().map(|e| e.spi.clone()).collect();
    assert!(spis.contains(&"48dac2e4".to_string()), "{spis:?}");
}

/// LINUX_SLL2 on lo: ICMP flows both families.
#[test]
fn linux_sll2() {
    let Some(f) = file("linux_sll2_lo.pcap") else { return };
    let j = replay_json(&f);
    assert_eq!(j.stats.packets, 6);
    let icmp = j.flows.iter().filter(|f| f.proto == Proto::Icmp).count();
    assert!(icmp >= 2, "{:?}", j.flows);
}

//! Hand-built reports with one of everything, and every enum value, written to JSON and read
//! back equal; reading refuses what the contract does not list.

use super::*;
use crate::time::Timestamp;

/// A report with one of everything, every `Option` set when `some` and empty otherwise,
/// and strings that need escaping.
fn sample(some: bool) -> Report {
    let opt = |v: &str| some.then(|| v.to_string());
    let at = Time::from(Timestamp::from_secs_nanos(1_767_225_600, 599_123));
    let proposal = Proposal {
        number: 1,
        protocol: "IKE".into(),
        encryption: vec!["AES_CBC_256".into()],
        prf: vec!["PRF_HMAC_SHA2_256".into()],
        integrity: vec![],
        dh: vec!["ECP_256".into(), "MODP_2048".into()],
        esn: vec![],
        other: vec!["tab\there".into()],
    };
    let message = |request: bool| SipMessage {
        at,
        src: "2001:db8::1".into(),
        dst: "198.19.0.1".into(),
        transport: Transport::Udp,
        method: (some || request).then(|| "INVITE".into()),
        status: (some || !request).then_some(180),
        cseq: opt("1 INVITE"),
        sport: 5060,
        dport: 5060,
        reason: opt("Ringing \"soon\""),
        sdp: vec!["audio 198.19.3.53:50002 RTP/AVP PCMU/8000".into()],
    };
    Report {
        schema: SCHEMA,
        source: Source {
            kind: SourceKind::Replay,
            backend: Backend::Pcap,
            inputs: vec!["a.pcap".into(), "b\\c.pcap".into()],
        },
        stats: Stats {
            packets: 3,
            bytes: 1500,
            malformed: 1,
            unattributed_packets: 2,
            dropped_events: u64::MAX,
            started: some.then_some(at),
            ended: some.then_some(Time::from(Timestamp(i64::MAX))),
            losses: vec![LossCount { what: "ring buffer (cpu 1)".into(), count: 3 }],
            limits: vec![LimitCount { what: "flows".into(), rule: "at most 1000000".into(), count: 0 }],
        },
        interfaces: vec![Interface {
            name: opt("ipsec0"),
            kind: InterfaceKind::Ipsec,
            mtu: some.then_some(1400),
            addresses: vec!["10.0.0.2/32".into()],
            owner: some.then(|| ProcRef { pid: 7, comm: opt("charon"), exe: opt("/usr/sbin/charon") }),
            created_by: some.then(|| CreatedBy { pid: 7, comm: opt("charon"), at: some.then_some(at) }),
            packets: 3,
            bytes: 1500,
            linktype: "RAW".into(),
            netns: some.then_some(4026531840),
            ifindex: some.then_some(4),
            removed: some.then_some(at),
            created_before_trace: !some,
            host: if some { sample_details() } else { host_facts::InterfaceDetails::default() },
        }],
        processes: vec![Process {
            pid: 7,
            comm: opt("charon"),
            exe: opt("/usr/sbin/charon"),
            cmdline: opt("charon --use-syslog"),
            uid: some.then_some(0),
            packets: 3,
            bytes: 1500,
            interfaces: vec!["ipsec0".into()],
            ppid: some.then_some(1),
            start: some.then_some(at),
            exited: some.then_some(at),
        }],
        flows: vec![Flow {
            iface: opt("wg0"),
            proto: Proto::Udp,
            src: "198.18.5.40".into(),
            sport: some.then_some(4500),
            dst: "198.18.0.4".into(),
            dport: some.then_some(4500),
            app: App::Ike,
            pid: some.then_some(7),
            comm: opt("charon"),
            packets: u64::MAX,
            bytes: 0,
            first: Time::from(Timestamp(i64::MIN)),
            last: at,
            tunnel: some.then_some(0),
        }],
        ike_sas: vec![IkeSa {
            version: 2,
            initiator_spi: "0bf01aff05f5eb1e".into(),
            responder_spi: opt("ff00000000000001"),
            initiator: "198.18.5.40".into(),
            initiator_port: 500,
            responder: "198.18.0.4".into(),
            responder_port: 500,
            nat_t: some,
            state: IkeState::Established,
            exchanges: vec![IkeExchange {
                kind: "IKE_SA_INIT".into(),
                message_id: 0,
                response: some,
                at: Time::from(Timestamp(-1)),
                src: "198.18.5.40".into(),
                sport: 500,
                payloads: vec!["SA".into(), "KE".into()],
            }],
            vendor_ids: vec!["strongSwan".into()],
            pid: some.then_some(7),
            comm: opt("charon"),
            proposals: vec![proposal.clone()],
            chosen: some.then_some(proposal),
            ke_group: opt("ECP_256"),
            notifies: vec!["NAT_DETECTION_SOURCE_IP".into()],
            encrypted_payloads: 6,
            nat_detected: some.then_some(true),
            iface: opt("en0"),
            owners: vec![ProcRef { pid: 7, comm: opt("charon"), exe: None }],
            tunnel: some.then_some(0),
            malformed: if some { vec!["ike payload length past message end".into()] } else { vec![] },
            exchange_counts: vec![ExchangeCount {
                kind: "IKE_SA_INIT".into(),
                response: some,
                from_initiator: !some,
                count: u64::MAX,
            }],
            exchanges_elided: some.then_some(Elided { after: 8, count: 1 << 40 }),
        }],
        esp_sas: vec![EspSa {
            spi: "c0ffee01".into(),
            src: "198.18.5.40".into(),
            dst: "198.18.0.4".into(),
            encap: Encap::Udp,
            packets: 10,
            bytes: 1000,
            ike_sa: some.then_some(0),
            first_seq: some.then_some(1),
            last_seq: some.then_some(u32::MAX),
            seq_gaps: 0,
            iface: opt("eth0"),
            seq_repeats: 2,
            seq_reordered: 0,
            pid: some.then_some(7),
            comm: opt("charon"),
            null_encryption: some,
        }],
        sip: Sip {
            dialogs: vec![SipDialog {
                call_id: "a84b4c76e66710@pc33".into(),
                from: opt("\"Alice\" <sip:alice@ims.mnc001.mcc001.3gppnetwork.org>"),
                to: opt("<sip:bob@example.org>"),
                method: "INVITE".into(),
                state: DialogState::Confirmed,
                messages: vec![message(true), message(false)],
                pid: some.then_some(3),
                comm: opt("sipd"),
                tunnel: some.then_some(0),
                message_counts: vec![
                    MessageCount { method: opt("INVITE"), status: None, forward: true, count: 1 },
                    MessageCount { method: None, status: some.then_some(200), forward: some, count: 0 },
                ],
                messages_elided: some.then_some(Elided { after: 1, count: 3 }),
            }],
            registrations: vec![SipRegistration {
                call_id: "reg\u{1}1 ☎".into(),
                aor: opt("sip:bob@example.org"),
                registrar: opt("sip:registrar"),
                result: some.then_some(200),
                messages: vec![message(true)],
                pid: some.then_some(9),
                comm: opt("baresip"),
                tunnel: some.then_some(0),
                message_counts: vec![],
                messages_elided: None,
            }],
        },
        verdicts: vec![Verdict {
            subject: "ipsec0".into(),
            summary: "IPsec tunnel".into(),
            evidence: vec!["MTU 1400".into()],
            rule: opt("ipsec"),
        }],
        sockets: vec![Socket {
            cookie: "0000000000001001".into(),
            proto: Proto::Udp,
            local: opt("198.18.0.2"),
            local_port: some.then_some(4500),
            remote: opt("198.18.0.1"),
            remote_port: some.then_some(4500),
            pid: some.then_some(7),
            comm: opt("charon"),
            users: vec![7, 8],
            created_by: some.then_some(7),
            state: opt("established"),
            bound_iface: opt("eth0"),
            opened: some.then_some(at),
            closed: some.then_some(at),
        }],
        malformed: vec![MalformedCount { reason: "short".into(), packets: 1 }],
        unknown_linktypes: vec![LinktypeCount { linktype: 147, name: "USER0".into(), frames: 2 }],
        errors: vec![InputError {
            input: "b.pcap".into(),
            offset: 24,
            message: "truncated\nrecord".into(),
            unreadable: false,
        }],
        tunnels: vec![Tunnel {
            kind: TunnelKind::Wireguard,
            transport: TunnelTransport::Udp,
            iface: opt("eth0"),
            src: "198.18.0.2".into(),
            sport: some.then_some(40000),
            dst: "2001:db8::1".into(),
            dport: some.then_some(51820),
            ids: vec!["f0b0b683".into(), "42".into()],
            ids_elided: 3,
            variant: opt("tls-crypt"),
            packets: 9,
            bytes: 900,
            first: at,
            last: at,
            inner_flows: 2,
            pid: some.then_some(7),
            comm: opt("wireguard-go"),
            tunnel: some.then_some(0),
            wireguard: some.then(|| WireGuardTunnel {
                initiations: 1,
                responses: 1,
                sessions: vec![WireGuardSession {
                    initiator_index: "f0b0b683".into(),
                    responder_index: opt("a1e2207e"),
                    initiator: "198.18.0.2:40000".into(),
                    started: at,
                    packets_to_responder: 3,
                    bytes_to_responder: 300,
                    packets_to_initiator: 4,
                    bytes_to_initiator: 400,
                }],
                ..Default::default()
            }),
            openvpn: some.then(|| OpenVpnTunnel {
                client_session_ids: vec!["1d4a3f29e43c0ab1".into()],
                key_ids: vec![0, 1],
                peer_ids: vec![0],
                client: opt("[2001:db8::1]:1194"),
                ..Default::default()
            }),
            gre: some.then(|| GreTunnel {
                sequences: vec![GreSequence {
                    sender: "192.0.2.1".into(),
                    key: Some(6016),
                    packets: 10,
                    first_seq: Some(4_294_967_292),
                    last_seq: Some(5),
                    seq_gaps: 1,
                    seq_repeats: 1,
                    seq_reordered: 3,
                    seq_resyncs: 0,
                    acks: 2,
                    last_ack: Some(17),
                }],
                unfollowed_packets: 0,
            }),
        }],
        host: if some { sample_host() } else { host_facts::HostFacts::default() },
    }
}

fn sample_details() -> host_facts::InterfaceDetails {
    host_facts::InterfaceDetails {
        link_kind: Some("tun".into()),
        flags: vec!["UP".into(), "POINTOPOINT".into()],
        tun: Some(host_facts::TunSettings { mode: Some("tun".into()), pi: Some(false), ..Default::default() }),
        routes: vec![host_facts::RouteEntry {
            dst: "198.19.0.0/16".into(),
            gateway: None,
            src: Some("198.19.1.1".into()),
            table: 220,
            metric: None,
            kind: "unicast".into(),
        }],
        rules: vec![host_facts::PolicyRule {
            priority: Some(220),
            selector: "from all".into(),
            table: 220,
            ipv6: false,
        }],
        carriers: vec![host_facts::Carrier {
            iface: "eth0".into(),
            peer: Some("198.18.0.1".into()),
            gateway: None,
            how: "route to 198.18.0.1".into(),
        }],
        users: vec![host_facts::InterfaceUser { pid: None, comm: None, what: "UDP socket 198.19.1.1:5060".into() }],
    }
}

fn sample_host() -> host_facts::HostFacts {
    host_facts::HostFacts {
        peers: vec![host_facts::Peer {
            address: "198.18.0.1".into(),
            asn: Some(64500),
            org: Some("Example \"Carrier\"".into()),
            network: Some("198.18.0.0/15".into()),
            via: Some("eth0".into()),
            gateway: None,
            roles: vec!["IKEv2 responder (NAT-T)".into()],
            interfaces: vec!["ipsec0".into()],
        }],
        xfrm: Some(host_facts::Xfrm {
            states: vec![host_facts::XfrmState {
                src: "198.18.0.2".into(),
                dst: "198.18.0.1".into(),
                proto: "esp".into(),
                spi: "c0ffee01".into(),
                mode: "tunnel".into(),
                reqid: 1,
                encap: Some("espinudp 4500 -> 4500".into()),
                algorithms: vec!["rfc4106(gcm(aes))".into()],
                if_id: Some(7),
            }],
            policies: vec![host_facts::XfrmPolicy {
                dir: "out".into(),
                src: "198.19.1.1/32".into(),
                dst: "0.0.0.0/0".into(),
                action: "allow".into(),
                priority: 383615,
                templates: vec!["esp tunnel 198.18.0.2 -> 198.18.0.1 reqid 1".into()],
                if_id: None,
            }],
            error: None,
        }),
        visibility: Some(host_facts::Visibility {
            privileged: false,
            unreadable_processes: 3,
            hidden_sockets: 1,
            notes: vec!["run as root".into()],
        }),
    }
}

/// `sample`, with one more record per value of each enum (and of `nat_detected`).
fn every_value() -> Report {
    let mut r = sample(true);
    let (iface, flow, sa, esp) =
        (r.interfaces[0].clone(), r.flows[0].clone(), r.ike_sas[0].clone(), r.esp_sas[0].clone());
    let (dialog, message) = (r.sip.dialogs[0].clone(), r.sip.dialogs[0].messages[0].clone());
    r.interfaces.extend(InterfaceKind::ALL.iter().map(|&kind| Interface { kind, ..iface.clone() }));
    for &proto in Proto::ALL {
        r.flows.extend(App::ALL.iter().map(|&app| Flow { proto, app, ..flow.clone() }));
    }
    r.ike_sas.extend(IkeState::ALL.iter().map(|&state| IkeSa { state, ..sa.clone() }));
    r.ike_sas.push(IkeSa { nat_detected: Some(false), ..sa });
    r.esp_sas.extend(Encap::ALL.iter().map(|&encap| EspSa { encap, ..esp.clone() }));
    let tunnel = r.tunnels[0].clone();
    for &transport in TunnelTransport::ALL {
        r.tunnels.extend(TunnelKind::ALL.iter().map(|&kind| Tunnel { kind, transport, ..tunnel.clone() }));
    }
    r.sip.dialogs.extend(DialogState::ALL.iter().map(|&state| SipDialog {
        state,
        messages: Transport::ALL.iter().map(|&transport| SipMessage { transport, ..message.clone() }).collect(),
        ..dialog.clone()
    }));
    r
}

fn round_trip(r: &Report) {
    let text = r.to_json();
    let back: Report = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(&back, r);
    assert_eq!(back.to_json(), text);
}

#[test]
fn hand_built_reports_read_back_equal() {
    round_trip(&sample(true));
    round_trip(&sample(false));
    round_trip(&every_value());
    for &kind in SourceKind::ALL {
        for &backend in Backend::ALL {
            round_trip(&Report { source: Source { kind, backend, inputs: vec![] }, ..sample(false) });
        }
    }
    // Each struct with all-empty lists, so that `[]` follows every key too.
    let mut empty = sample(true);
    let sa = &mut empty.ike_sas[0];
    (sa.exchanges, sa.vendor_ids, sa.proposals, sa.notifies) = (vec![], vec![], vec![], vec![]);
    empty.sip.registrations[0].messages.clear();
    round_trip(&empty);
    round_trip(&Report { interfaces: vec![], flows: vec![], sip: Sip::default(), ..empty });
}

/// A document of another schema, or with a value the contract does not list, is refused
/// rather than read as something it is not; fields a newer writer added are ignored.
#[test]
fn reading_checks_the_contract() {
    let text = sample(true).to_json();
    for (from, to) in [
        ("\"tuntrace.report/1\"", "\"tuntrace.report/2\""),
        ("\"kind\": \"ipsec\"", "\"kind\": \"IPsec\""),
        ("\"app\": \"ike\"", "\"app\": \"isakmp\""),
        ("\"encap\": \"udp\"", "\"encap\": \"UDP\""),
    ] {
        assert!(text.contains(from), "{from}");
        assert!(serde_json::from_str::<Report>(&text.replacen(from, to, 1)).is_err(), "{to}");
    }
    let newer = text.replacen("\"schema\": ", "\"added_later\": [1, {\"x\": null}],\n  \"schema\": ", 1);
    assert_eq!(serde_json::from_str::<Report>(&newer).unwrap(), sample(true));
}

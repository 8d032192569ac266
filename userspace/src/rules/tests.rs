use super::*;
use crate::report::*;

fn time() -> Time {
    Time::from_micros(1_700_000_000_000_000)
}

fn report() -> Report {
    Report {
        schema: SCHEMA,
        source: Source { kind: SourceKind::Live, backend: Backend::Ebpf, inputs: vec![] },
        stats: Stats::default(),
        interfaces: vec![],
        processes: vec![],
        flows: vec![],
        ike_sas: vec![],
        esp_sas: vec![],
        sip: Sip::default(),
        verdicts: vec![],
        sockets: vec![],
        malformed: vec![],
        unknown_linktypes: vec![],
        errors: vec![],
        tunnels: vec![],
        host: Default::default(),
    }
}

fn iface(name: &str, kind: InterfaceKind, owner: Option<(u32, &str)>) -> Interface {
    Interface {
        name: Some(name.into()),
        kind,
        mtu: Some(1400),
        addresses: vec![],
        owner: owner.map(|(pid, c)| ProcRef { pid, comm: Some(c.into()), exe: None }),
        created_by: None,
        packets: 10,
        bytes: 1000,
        linktype: "RAW".into(),
        netns: None,
        ifindex: None,
        removed: None,
        created_before_trace: true,
        host: Default::default(),
    }
}

fn flow(iface: &str, src: (&str, u16), dst: (&str, u16), app: App, pid: Option<(u32, &str)>) -> Flow {
    Flow {
        iface: Some(iface.into()),
        proto: Proto::Udp,
        src: src.0.into(),
        sport: Some(src.1),
        dst: dst.0.into(),
        dport: Some(dst.1),
        app,
        pid: pid.map(|p| p.0),
        comm: pid.map(|p| p.1.to_string()),
        packets: 4,
        bytes: 400,
        first: time(),
        last: time(),
        tunnel: None,
    }
}

fn ike_sa(pid: Option<(u32, &str)>) -> IkeSa {
    IkeSa {
        version: 2,
        initiator_spi: "26ae35c6d15a76a2".into(),
        responder_spi: Some("df7dc81fcd5e4423".into()),
        initiator: "198.18.0.2".into(),
        initiator_port: 4500,
        responder: "198.18.0.1".into(),
        responder_port: 4500,
        nat_t: true,
        state: IkeState::Established,
        exchanges: vec![],
        vendor_ids: vec![],
        pid: pid.map(|p| p.0),
        comm: pid.map(|p| p.1.to_string()),
        proposals: vec![],
        chosen: None,
        ke_group: None,
        notifies: vec![],
        encrypted_payloads: 0,
        nat_detected: None,
        iface: Some("eth0".into()),
        owners: vec![],
        tunnel: None,
        malformed: vec![],
        exchange_counts: vec![],
        exchanges_elided: None,
    }
}

fn message(method: Option<&str>, status: Option<u16>) -> SipMessage {
    SipMessage {
        at: time(),
        src: "198.19.1.1".into(),
        dst: "198.19.0.1".into(),
        transport: Transport::Udp,
        method: method.map(Into::into),
        status,
        cseq: None,
        sport: 5060,
        dport: 5060,
        reason: None,
        sdp: vec![],
    }
}

/// The lab as a live trace sees it: charon holds ipsec0 and negotiates IKE on the veth; SIPp
/// registers and calls inside the tunnel, in the operator's IMS domain.
fn wifi_calling() -> Report {
    let mut r = report();
    r.interfaces =
        vec![iface("ue0", InterfaceKind::Ethernet, None), iface("ipsec0", InterfaceKind::Ipsec, Some((12, "charon")))];
    r.flows = vec![
        flow("ue0", ("198.18.0.2", 4500), ("198.18.0.1", 4500), App::EspInUdp, Some((12, "charon"))),
        flow("ipsec0", ("198.19.1.1", 5060), ("198.19.0.1", 5060), App::Sip, Some((40, "sipp"))),
    ];
    r.ike_sas = vec![ike_sa(Some((12, "charon")))];
    let ims = "sip:0310260000000001@ims.mnc260.mcc310.3gppnetwork.org";
    r.sip.registrations = vec![SipRegistration {
        call_id: "1-1@198.19.1.1".into(),
        aor: Some(ims.into()),
        registrar: Some("sip:ims.mnc260.mcc310.3gppnetwork.org".into()),
        result: Some(200),
        messages: vec![message(Some("REGISTER"), None), message(None, Some(401))],
        pid: Some(40),
        comm: Some("sipp".into()),
        tunnel: None,
        message_counts: vec![],
        messages_elided: None,
    }];
    r.sip.dialogs = vec![SipDialog {
        call_id: "2-1@198.19.1.1".into(),
        from: Some(ims.into()),
        to: Some("sip:+13105550100@ims.mnc260.mcc310.3gppnetwork.org".into()),
        method: "INVITE".into(),
        state: DialogState::Terminated,
        messages: vec![message(Some("INVITE"), None)],
        pid: Some(40),
        comm: Some("sipp".into()),
        tunnel: None,
        message_counts: vec![],
        messages_elided: None,
    }];
    r
}

#[test]
fn the_built_in_rules_compile_with_unique_ids() {
    let set = RuleSet::builtin();
    let mut ids: Vec<&str> = set.rules().iter().map(|r| r.id.as_str()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate ids");
    assert!(n >= 20, "{n} rules");
    for on in On::ALL {
        assert!(set.rules().iter().any(|r| r.on == *on), "no rule for {}", on.as_str());
    }
}

#[test]
fn wifi_calling_keeps_the_demo_wording() {
    let v = RuleSet::builtin().verdicts(&wifi_calling());
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].subject, "ipsec0");
    assert_eq!(v[0].summary, "IPsec tunnel to 198.18.0.1 (the carrier's ePDG), used for Wi-Fi calling");
    assert_eq!(v[0].rule.as_deref(), Some("wifi-calling-ims-sip"));
    assert_eq!(
        v[0].evidence,
        [
            "held by charon (pid 12)",
            "MTU 1400",
            "IKEv2 SA 198.18.0.2:4500 -> 198.18.0.1:4500 (NAT-T), established",
            "1 SIP flow inside the tunnel (1 registration, 1 call)",
            "SIP requests to 198.19.0.1:5060",
            "SIP identities in the operator's IMS domain (3gppnetwork.org)",
        ]
    );
}

#[test]
fn without_sip_the_daemon_names_the_tunnel() {
    let mut r = wifi_calling();
    r.sip = Sip::default();
    r.flows.pop();
    let v = RuleSet::builtin().verdicts(&r);
    assert_eq!(v[0].summary, "strongSwan IPsec VPN to 198.18.0.1");
    assert_eq!(v[0].rule.as_deref(), Some("strongswan"));
    assert_eq!(v[0].evidence[0], "held by charon (pid 12)");
    // The IKE SA belongs to charon, which holds ipsec0: nothing is said of it separately.
    assert_eq!(v.len(), 1);
}

#[test]
fn an_unexplained_tunnel_is_unknown_with_its_facts() {
    let mut r = report();
    let mut t = iface("mytun7", InterfaceKind::Tun, Some((77, "tunholder")));
    t.addresses = vec!["198.19.9.1".into()];
    t.host.link_kind = Some("tun".into());
    r.interfaces = vec![t];
    let v = RuleSet::builtin().verdicts(&r);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].summary, "purpose unknown: no rule matches what was found");
    assert_eq!(v[0].rule, None);
    for want in [
        "held by tunholder (pid 77)",
        "kernel link kind tun",
        "address 198.19.9.1",
        "MTU 1400",
        "10 packets seen on it",
    ] {
        assert!(v[0].evidence.iter().any(|e| e == want), "{want}: {:?}", v[0].evidence);
    }
}

#[test]
fn user_rules_come_first_and_replace_by_id() {
    let mine = r#"
format = "tuntrace.rules/1"

[[rule]]
id = "my-tun"
on = "interface"
summary = "{iface}: our lab's tunnel[ (held by {holder})]"
all = [{ fact = "iface", glob = "mytun*" }]

[[rule]]
id = "strongswan"
on = "interface"
summary = "the office VPN"
any = [{ fact = "process", is = "charon", say = "charon holds it" }]
"#;
    let set = RuleSet::load(&[("mine.toml".into(), mine.into())]).unwrap();
    assert_eq!(set.rules()[0].id, "my-tun");
    assert_eq!(set.rules().iter().filter(|r| r.id == "strongswan").count(), 1);
    let mut r = report();
    r.interfaces = vec![iface("mytun7", InterfaceKind::Tun, Some((77, "x")))];
    let v = set.verdicts(&r);
    assert_eq!(v[0].summary, "mytun7: our lab's tunnel (held by x)");
    assert_eq!(v[0].rule.as_deref(), Some("my-tun"));
    let mut r = wifi_calling();
    r.sip = Sip::default();
    r.flows.pop();
    let v = set.verdicts(&r);
    assert_eq!(v[0].summary, "the office VPN");
    assert_eq!(v[0].evidence, ["charon holds it"]);
    // Disabled: the next rule down explains it.
    let off = "format = \"tuntrace.rules/1\"\n[[rule]]\nid = \"strongswan\"\non = \"interface\"\nsummary = \"x\"\nenabled = false\n";
    let set = RuleSet::load(&[("off.toml".into(), off.into())]).unwrap();
    assert!(set.rules().iter().all(|r| r.id != "strongswan"));
    assert_eq!(set.verdicts(&r)[0].rule.as_deref(), Some("ipsec"));
}

#[test]
fn bad_rules_files_say_where_and_why() {
    let load = |t: &str| RuleSet::load(&[("f.toml".into(), t.into())]).unwrap_err().to_string();
    let head = "format = \"tuntrace.rules/1\"\n[[rule]]\nid = \"r\"\n";
    assert!(
        load("format = \"tuntrace.rules/9\"").contains("format \"tuntrace.rules/9\" is not one"),
        "{}",
        load("format = \"x\"")
    );
    assert!(load("[[rule]]\nid=1").starts_with("f.toml: not a rules file"));
    let e = load(&format!("{head}on = \"interface\"\nsummary = \"x\"\nall = [{{ fact = \"holdr\" }}]\n"));
    assert!(e.contains("rule \"r\": unknown fact \"holdr\"") && e.contains("holder"), "{e}");
    let e = load(&format!("{head}on = \"iface\"\nsummary = \"x\"\n"));
    assert!(e.contains("unknown subject on = \"iface\""), "{e}");
    let e =
        load(&format!("{head}on = \"interface\"\nsummary = \"x\"\nall = [{{ fact = \"holder\", regex = \"(\" }}]\n"));
    assert!(e.contains("regex \"(\""), "{e}");
    let e = load(&format!("{head}on = \"interface\"\nsummary = \"to {{peers}}\"\n"));
    assert!(e.contains("unknown fact \"peers\""), "{e}");
    let e = load(&format!("{head}on = \"interface\"\nsummary = \"x\"\nwhen = 1\n"));
    assert!(e.contains("unknown field"), "{e}");
}

#[test]
fn ike_from_outside_and_sip_alongside() {
    let mut r = wifi_calling();
    r.interfaces.clear();
    for f in &mut r.flows {
        f.iface = None;
    }
    r.ike_sas[0].pid = None;
    r.ike_sas[0].vendor_ids = vec!["strongSwan".into()];
    let v = RuleSet::builtin().verdicts(&r);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert_eq!(v[0].subject, "IKE SA 26ae35c6d15a76a2");
    assert_eq!(
        v[0].summary,
        "IKEv2 IPsec tunnel between 198.18.0.2 and 198.18.0.1 through NAT (UDP 4500), established; with IMS SIP alongside: looks like Wi-Fi calling"
    );
    assert_eq!(
        v[0].evidence,
        ["exchanges: ", "vendor IDs: strongSwan", "SIP identities in the operator's IMS domain (3gppnetwork.org)"]
    );
    // Without NAT-T the IMS rule does not hold, and SIP gets its own verdict.
    r.ike_sas[0].nat_t = false;
    let v = RuleSet::builtin().verdicts(&r);
    assert_eq!(v[0].summary, "IKEv2 IPsec tunnel between 198.18.0.2 and 198.18.0.1, established");
    assert_eq!(v[1].subject, "SIP");
    assert_eq!(v[1].summary, "IMS SIP signalling (VoLTE / Wi-Fi calling identities)");
    assert_eq!(
        v[1].evidence,
        ["1 registration, 1 call", "SIP identities in the operator's IMS domain (3gppnetwork.org)"]
    );
}

/// A capture with 80 000 utun interfaces (issue 13): every one judged, each from its own
/// facts; a quadratic evaluation (a scan of every flow per interface) would take hours here.
#[test]
fn eighty_thousand_utuns_are_judged_in_one_pass() {
    let n = 80_000;
    let mut r = report();
    r.interfaces = (0..n).map(|i| iface(&format!("utun{i}"), InterfaceKind::Utun, None)).collect();
    r.flows = (0..n)
        .map(|i| {
            let a = format!("198.19.{}.{}", i / 250, i % 250);
            let f = flow(&format!("utun{i}"), (&a, 5000), ("198.18.0.1", 443), App::Other, None);
            Flow { proto: Proto::Tcp, ..f }
        })
        .collect();
    r.ike_sas = (0..1000).map(|_| ike_sa(None)).collect();
    let v = RuleSet::builtin().verdicts(&r);
    assert_eq!(v.len(), n);
    // No IKE SA is pinned on a utun without a process tying them: each is unknown, with its own facts.
    assert!(v.iter().all(|v| v.rule.is_none() && v.evidence.iter().any(|e| e == "10 packets seen on it")));
}

/// docs/rules.md lists every fact a rule may name.
#[test]
fn the_rules_page_lists_every_fact() {
    let page = include_str!("../../../docs/rules.md");
    for name in FACT_NAMES {
        assert!(page.contains(&format!("| `{name}` |")), "docs/rules.md does not list the fact {name}");
    }
}

fn tunnel(kind: TunnelKind, transport: TunnelTransport, src: (&str, u16), dst: (&str, u16), ids: &[&str]) -> Tunnel {
    Tunnel {
        kind,
        transport,
        iface: Some("eth0".into()),
        src: src.0.into(),
        sport: (src.1 != 0).then_some(src.1),
        dst: dst.0.into(),
        dport: (dst.1 != 0).then_some(dst.1),
        ids: ids.iter().map(|s| s.to_string()).collect(),
        ids_elided: 0,
        variant: None,
        packets: 10,
        bytes: 1000,
        first: time(),
        last: time(),
        inner_flows: 0,
        pid: None,
        comm: None,
        tunnel: None,
        wireguard: None,
        openvpn: None,
        gre: None,
    }
}

/// The WireGuard and OpenVPN lab runs as a capture of the veth shows them: one verdict per VPN,
/// in the wire's words; no interface in view, so nothing else is said.
#[test]
fn vpns_on_the_wire_each_get_a_verdict() {
    let mut r = report();
    let mut wg = tunnel(TunnelKind::Wireguard, TunnelTransport::Udp, ("198.18.0.2", 40000), ("198.18.0.1", 51820), &[]);
    wg.wireguard = Some(WireGuardTunnel {
        initiations: 2,
        responses: 2,
        transport_packets: 6,
        handshakes: 2,
        rekeys: 1,
        unpaired_transport: 1,
        sessions: vec![WireGuardSession {
            initiator_index: "f0b0b683".into(),
            responder_index: Some("a1e2207e".into()),
            initiator: "198.18.0.2:40000".into(),
            started: time(),
            packets_to_responder: 3,
            bytes_to_responder: 300,
            packets_to_initiator: 2,
            bytes_to_initiator: 200,
        }],
        ..Default::default()
    });
    wg.pid = Some(41);
    wg.comm = Some("wireguard-go".into());
    let mut ovpn = tunnel(TunnelKind::Openvpn, TunnelTransport::Tcp, ("198.18.0.2", 50000), ("198.18.0.1", 1194), &[]);
    ovpn.variant = Some("tls-crypt".into());
    ovpn.openvpn = Some(OpenVpnTunnel {
        client_session_ids: vec!["1d4a3f29e43c0ab1".into()],
        server_session_ids: vec!["9f00aa00bb00cc00".into()],
        key_ids: vec![0],
        control_packets: 8,
        ack_packets: 4,
        data_packets: 20,
        client: Some("198.18.0.2:50000".into()),
        ..Default::default()
    });
    r.tunnels = vec![wg, ovpn];
    let v = RuleSet::builtin().verdicts(&r);
    assert_eq!(v.len(), 2, "{v:#?}");
    assert_eq!(v[0].subject, "WireGuard 198.18.0.2:40000 <-> 198.18.0.1:51820");
    assert_eq!(v[0].summary, "WireGuard VPN over UDP between 198.18.0.2:40000 and 198.18.0.1:51820");
    assert_eq!(v[0].rule.as_deref(), Some("wireguard-on-the-wire"));
    assert_eq!(
        v[0].evidence,
        [
            "2 handshakes (1 rekeys): 2 initiations, 2 responses, 0 cookie replies",
            "first handshake initiated by 198.18.0.2:40000",
            "6 transport data packets (encrypted: the inner traffic is not visible); 1 of a session begun before the capture",
            "packets of wireguard-go (pid 41)",
        ]
    );
    assert_eq!(v[1].subject, "OpenVPN 198.18.0.2:50000 <-> 198.18.0.1:1194");
    assert_eq!(v[1].summary, "OpenVPN over TCP between 198.18.0.2:50000 and 198.18.0.1:1194, client 198.18.0.2:50000");
    assert_eq!(v[1].rule.as_deref(), Some("openvpn-on-the-wire"));
    assert_eq!(
        v[1].evidence,
        [
            "8 control, 4 ack, 20 data packets; key IDs [0]",
            "session IDs: client 1d4a3f29e43c0ab1, server 9f00aa00bb00cc00",
            "control channel protected (tls-crypt)",
        ]
    );
    // Past eight, the rest of a kind is one verdict.
    let wg = r.tunnels[0].clone();
    r.tunnels = (0..11u16).map(|i| Tunnel { sport: Some(40000 + i), ..wg.clone() }).collect();
    let v = RuleSet::builtin().verdicts(&r);
    assert_eq!(v.len(), 9, "{v:#?}");
    assert!(v[..8].iter().all(|v| v.rule.as_deref() == Some("wireguard-on-the-wire")));
    assert_eq!(v[8].subject, "WireGuard (3 more)");
    assert_eq!(v[8].summary, "more wireguard tunnels (3 tunnels, 30 packets), listed in the tunnels section");
}

/// VoLTE in a core capture: GTP-U paths with IMS SIP inside say so; the SIP still gets its
/// own verdict, since the tunnel's says what carries it.
/// A live session counts GTP-U (and the other decapsulated kinds) by their outer headers only:
/// its verdict says so instead of "0 inner flows decoded", which a capture's replay would mean.
#[test]
fn live_tunnels_say_their_contents_are_not_read() {
    let mut r = wifi_calling();
    r.interfaces.clear();
    r.ike_sas.clear();
    r.flows.clear();
    r.sip.dialogs.clear();
    r.sip.registrations.clear();
    r.tunnels = vec![tunnel(TunnelKind::GtpU, TunnelTransport::Udp, ("10.0.0.1", 2152), ("10.0.0.2", 2152), &["1"])];
    for (kind, line) in [
        (crate::report::SourceKind::Live, "what it carries is not read live (its outer headers are counted)"),
        (crate::report::SourceKind::Replay, "0 inner flows decoded"),
    ] {
        r.source.kind = kind;
        let v = RuleSet::builtin().verdicts(&r);
        let gtp = v.iter().find(|v| v.subject == "gtp-u").expect("a GTP-U verdict");
        assert!(gtp.evidence.iter().any(|e| e == line), "{kind:?}: {:?}", gtp.evidence);
    }
}

#[test]
fn carrier_gtp_u_with_volte_inside() {
    let mut r = wifi_calling();
    r.interfaces.clear();
    r.ike_sas.clear();
    r.flows = vec![flow("eth0", ("198.19.1.1", 5060), ("198.19.0.1", 5060), App::Sip, None)];
    r.flows[0].tunnel = Some(1);
    r.sip.dialogs[0].tunnel = Some(1);
    let gtp = |a, b, ids: &[&str]| tunnel(TunnelKind::GtpU, TunnelTransport::Udp, (a, 2152), (b, 2152), ids);
    r.tunnels =
        vec![gtp("10.0.0.1", "10.0.0.2", &["1234abcd"]), gtp("10.0.0.3", "10.0.0.2", &["00c0ffee", "00000001"])];
    r.tunnels[1].inner_flows = 1;
    let v = RuleSet::builtin().verdicts(&r);
    assert_eq!(v.len(), 2, "{v:#?}");
    assert_eq!(v[0].subject, "gtp-u");
    assert_eq!(
        v[0].summary,
        "carrier GTP-U: the user plane of a mobile core (2 paths, 3 TEIDs, 20 packets), with subscribers' SIP (VoLTE/IMS) inside"
    );
    assert_eq!(v[0].rule.as_deref(), Some("carrier-gtp-u-volte"));
    assert_eq!(
        v[0].evidence,
        [
            "UDP 10.0.0.1:2152 <-> 10.0.0.2:2152: 10 packets, ids 1234abcd",
            "UDP 10.0.0.3:2152 <-> 10.0.0.2:2152: 10 packets, ids 00c0ffee 00000001",
            "1 inner flows decoded",
            "1 SIP flow inside (0 registrations, 1 call)",
            "SIP identities in the operator's IMS domain (3gppnetwork.org)",
        ]
    );
    assert_eq!((v[1].subject.as_str(), v[1].rule.as_deref()), ("SIP", Some("ims-sip")));
    // SIP outside the IMS: GTP-U with SIP inside, no VoLTE claimed.
    r.sip.dialogs[0].from = Some("sip:alice@example.org".into());
    r.sip.dialogs[0].to = Some("sip:bob@example.org".into());
    r.sip.registrations.clear();
    let v = RuleSet::builtin().verdicts(&r);
    assert_eq!(
        v[0].summary,
        "carrier GTP-U: the user plane of a mobile core (2 paths, 3 TEIDs, 20 packets), with SIP inside"
    );
    assert_eq!(v[0].rule.as_deref(), Some("carrier-gtp-u"));
    // Without SIP, the path alone.
    r.sip = Sip::default();
    r.flows.clear();
    let v = RuleSet::builtin().verdicts(&r);
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].summary, "carrier GTP-U: the user plane of a mobile core (2 paths, 3 TEIDs, 20 packets)");
}

/// Every kind of tunnel has a built-in rule, and GRE's forms are told apart.
#[test]
fn every_tunnel_kind_is_explained() {
    for &kind in TunnelKind::ALL {
        let mut r = report();
        r.tunnels = vec![tunnel(kind, TunnelTransport::Ip, ("198.18.0.2", 0), ("198.18.0.1", 0), &["7"])];
        let v = RuleSet::builtin().verdicts(&r);
        assert_eq!(v.len(), 1, "{kind}: {v:#?}");
        assert!(v[0].rule.is_some(), "{kind}: {v:#?}");
    }
    let mut r = report();
    r.tunnels = vec![tunnel(TunnelKind::Gre, TunnelTransport::Ip, ("198.18.0.2", 0), ("198.18.0.1", 0), &["7"])];
    assert_eq!(RuleSet::builtin().verdicts(&r)[0].summary, "GRE (1 tunnel, 1 key or call ID, 10 packets)");
    r.tunnels[0].variant = Some("pptp".into());
    let v = RuleSet::builtin().verdicts(&r);
    assert_eq!(
        (v[0].summary.as_str(), v[0].rule.as_deref()),
        ("PPTP VPN: PPP in enhanced GRE (1 tunnel, 1 key or call ID, 10 packets)", Some("pptp"))
    );
    assert!(v[0].evidence.contains(&"PPTP's enhanced GRE (call IDs as keys)".to_string()), "{v:#?}");
    // Tunnels without identifiers say nothing of them.
    let mut r = report();
    r.tunnels = vec![tunnel(TunnelKind::SixIn4, TunnelTransport::Ip, ("198.18.0.2", 0), ("198.18.0.1", 0), &[])];
    assert_eq!(RuleSet::builtin().verdicts(&r)[0].summary, "IP-in-IP tunnels, 6in4 (1 tunnel, 10 packets)");
}

/// A user's rule names a tunnel by its identifier (a VNI of their own overlay).
#[test]
fn a_users_rule_names_a_tunnel_by_id() {
    let mine = r#"
format = "tuntrace.rules/1"

[[rule]]
id = "our-overlay"
on = "tunnel"
summary = "our datacentre overlay ({tunnel_totals})"
all = [{ fact = "tunnel_kind", is = "vxlan" }, { fact = "tunnel_id", is = "4242", say = "VNI {value} is ours" }]
"#;
    let set = RuleSet::load(&[("mine.toml".into(), mine.into())]).unwrap();
    let mut r = report();
    let vx = |ids: &[&str]| tunnel(TunnelKind::Vxlan, TunnelTransport::Udp, ("10.0.0.1", 0), ("10.0.0.2", 4789), ids);
    r.tunnels = vec![vx(&["17"]), vx(&["4242"])];
    let v = set.verdicts(&r);
    assert_eq!(v[0].summary, "our datacentre overlay (2 tunnel endpoint pairs, 2 VNIs, 20 packets)");
    assert_eq!(v[0].evidence, ["VNI 4242 is ours"]);
    r.tunnels.pop();
    assert_eq!(set.verdicts(&r)[0].rule.as_deref(), Some("overlay-on-the-wire"));
}

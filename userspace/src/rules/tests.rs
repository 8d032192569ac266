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
        malformed: vec![],
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

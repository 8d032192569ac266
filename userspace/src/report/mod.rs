//! The report: what tuntrace tells about a capture or a live session.
//!
//! These structs are the `--json` contract (`tuntrace.report/1`, docs/report-schema.md): fields
//! are only ever added. Field order here is the order in the JSON. `None` serialises as `null`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{self, Timestamp};

pub mod ladder;
pub mod text;

/// A field whose value is one of a fixed set of names: an enum whose variants serialize to
/// those names, each spelled once, here. `as_str` gives the same spelling to the text report.
macro_rules! names {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $v:ident = $s:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $s)] $v,)+
        }

        impl $name {
            /// Every value, in the order docs/report-schema.md lists them.
            pub const ALL: &[$name] = &[$($name::$v,)+];

            /// The value as the report spells it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $s,)+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

names! {
    /// `schema`: the contract a document follows.
    Schema {
        V1 = "tuntrace.report/1",
    }
}

/// The schema every report of this version carries.
pub const SCHEMA: Schema = Schema::V1;

names! {
    /// `source.kind`: a recorded input replayed, or a live session.
    SourceKind {
        Replay = "replay",
        Live = "live",
    }
}

names! {
    /// `source.backend`: where the events come from.
    Backend {
        Pcap = "pcap",
        Ebpf = "ebpf",
        Dtrace = "dtrace",
        Pktap = "pktap",
    }
}

names! {
    /// `interfaces[].kind`, from the interface's name, else from its link type.
    InterfaceKind {
        Tun = "tun",
        Ipsec = "ipsec",
        Utun = "utun",
        Xfrm = "xfrm",
        Wireguard = "wireguard",
        Gre = "gre",
        Vti = "vti",
        Ethernet = "ethernet",
        Loopback = "loopback",
        Other = "other",
    }
}

impl InterfaceKind {
    /// The kinds that are tunnels (the interfaces tuntrace is asked about).
    pub fn is_tunnel(self) -> bool {
        use InterfaceKind::*;
        matches!(self, Tun | Ipsec | Utun | Xfrm | Wireguard | Gre | Vti)
    }
}

names! {
    /// `flows[].proto`: the IP protocol, ICMP and ICMPv6 alike.
    Proto {
        Udp = "udp",
        Tcp = "tcp",
        Esp = "esp",
        Icmp = "icmp",
        Other = "other",
    }
}

names! {
    /// `flows[].app`: the most specific application seen on a flow.
    App {
        Ike = "ike",
        EspInUdp = "esp-in-udp",
        Esp = "esp",
        NatKeepalive = "nat-keepalive",
        Sip = "sip",
        SipTls = "sip-tls",
        Rtp = "rtp",
        Other = "other",
    }
}

names! {
    /// `ike_sas[].state`, moved only by cleartext evidence.
    IkeState {
        Init = "init",
        Auth = "auth",
        Established = "established",
        Deleted = "deleted",
        Unknown = "unknown",
    }
}

names! {
    /// `esp_sas[].encap`: ESP in UDP (RFC 3948), or IP protocol 50.
    Encap {
        Udp = "udp",
        None = "none",
    }
}

names! {
    /// `sip.dialogs[].state`.
    DialogState {
        Early = "early",
        Confirmed = "confirmed",
        Terminated = "terminated",
        Failed = "failed",
        Unknown = "unknown",
    }
}

names! {
    /// `messages[].transport` of a SIP message.
    Transport {
        Udp = "udp",
        Tcp = "tcp",
        Tls = "tls",
    }
}

/// A time in the report: microseconds since 1970-01-01T00:00:00Z, the precision the JSON
/// spells (`2026-11-26T18:02:33.123456Z`). Made from a capture's [`Timestamp`] by dropping
/// what is below the microsecond, so that a report read back from its JSON is equal to the
/// report written, whatever the resolution of the capture's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time {
    micros: i64,
}

impl Time {
    pub const fn from_micros(micros: i64) -> Time {
        Time { micros }
    }

    pub const fn micros(self) -> i64 {
        self.micros
    }

    pub fn secs(self) -> i64 {
        self.micros.div_euclid(1_000_000)
    }

    pub fn subsec_micros(self) -> u32 {
        self.micros.rem_euclid(1_000_000) as u32
    }
}

impl From<Timestamp> for Time {
    /// The microsecond the timestamp falls in (rounded down, as its text always was).
    fn from(t: Timestamp) -> Time {
        Time { micros: t.0.div_euclid(1000) }
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        time::write_rfc3339(f, self.secs(), self.subsec_micros())
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        time::serialize_rfc3339(s, self.secs(), self.subsec_micros())
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        struct Rfc3339;
        impl serde::de::Visitor<'_> for Rfc3339 {
            type Value = Time;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 UTC time with microseconds (\"2026-11-26T18:02:33.123456Z\")")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Time, E> {
                let (secs, micros) =
                    time::parse_rfc3339(v).ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))?;
                Ok(Time { micros: secs * 1_000_000 + i64::from(micros) })
            }
        }
        d.deserialize_str(Rfc3339)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub schema: Schema,
    pub source: Source,
    pub stats: Stats,
    pub interfaces: Vec<Interface>,
    pub processes: Vec<Process>,
    pub flows: Vec<Flow>,
    pub ike_sas: Vec<IkeSa>,
    pub esp_sas: Vec<EspSa>,
    pub sip: Sip,
    pub verdicts: Vec<Verdict>,
    /// Malformed packets by reason (additive field).
    pub malformed: Vec<MalformedCount>,
    /// Frames on link types tuntrace does not decode, by link type (additive field).
    pub unknown_linktypes: Vec<LinktypeCount>,
    /// Damage that stopped reading an input early (additive field).
    pub errors: Vec<InputError>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    pub kind: SourceKind,
    pub backend: Backend,
    pub inputs: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    pub malformed: u64,
    pub unattributed_packets: u64,
    pub dropped_events: u64,
    pub started: Option<Time>,
    pub ended: Option<Time>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcRef {
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CreatedBy {
    pub pid: u32,
    pub comm: Option<String>,
    pub at: Option<Time>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Interface {
    pub name: Option<String>,
    pub kind: InterfaceKind,
    pub mtu: Option<u32>,
    pub addresses: Vec<String>,
    pub owner: Option<ProcRef>,
    pub created_by: Option<CreatedBy>,
    pub packets: u64,
    pub bytes: u64,
    /// pcap LINKTYPE name of its frames (additive field).
    pub linktype: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Process {
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
    pub cmdline: Option<String>,
    pub uid: Option<u32>,
    pub packets: u64,
    pub bytes: u64,
    pub interfaces: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Flow {
    pub iface: Option<String>,
    pub proto: Proto,
    pub src: String,
    pub sport: Option<u16>,
    pub dst: String,
    pub dport: Option<u16>,
    pub app: App,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub packets: u64,
    pub bytes: u64,
    pub first: Time,
    pub last: Time,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IkeExchange {
    #[serde(rename = "type")]
    pub kind: String,
    pub message_id: u32,
    pub response: bool,
    pub at: Time,
    /// Sender address and port (additive field).
    pub src: String,
    pub sport: u16,
    /// Payload types in chain order, e.g. `["SA", "KE", "Nonce"]`; `["Encrypted"]` when the
    /// body is protected (additive field).
    pub payloads: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Proposal {
    pub number: u8,
    pub protocol: String,
    pub encryption: Vec<String>,
    pub prf: Vec<String>,
    pub integrity: Vec<String>,
    pub dh: Vec<String>,
    pub esn: Vec<String>,
    /// IKEv1 authentication method, lifetimes and the like.
    pub other: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IkeSa {
    pub version: u8,
    pub initiator_spi: String,
    pub responder_spi: Option<String>,
    pub initiator: String,
    pub initiator_port: u16,
    pub responder: String,
    pub responder_port: u16,
    pub nat_t: bool,
    pub state: IkeState,
    pub exchanges: Vec<IkeExchange>,
    pub vendor_ids: Vec<String>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    // additive fields
    pub proposals: Vec<Proposal>,
    /// The proposal the responder chose, when seen in cleartext.
    pub chosen: Option<Proposal>,
    pub ke_group: Option<String>,
    pub notifies: Vec<String>,
    pub encrypted_payloads: u64,
    pub nat_detected: Option<bool>,
    pub iface: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EspSa {
    pub spi: String,
    pub src: String,
    pub dst: String,
    pub encap: Encap,
    pub packets: u64,
    pub bytes: u64,
    pub ike_sa: Option<usize>,
    // additive fields
    pub first_seq: Option<u32>,
    pub last_seq: Option<u32>,
    /// Sequence numbers skipped (gaps between consecutive packets).
    pub seq_gaps: u64,
    pub iface: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SipMessage {
    pub at: Time,
    pub src: String,
    pub dst: String,
    pub transport: Transport,
    pub method: Option<String>,
    pub status: Option<u16>,
    pub cseq: Option<String>,
    // additive fields
    pub sport: u16,
    pub dport: u16,
    pub reason: Option<String>,
    /// SDP media offered/answered in this message, `audio 198.19.1.2:6000 RTP/AVP`.
    pub sdp: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SipDialog {
    pub call_id: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub method: String,
    pub state: DialogState,
    pub messages: Vec<SipMessage>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SipRegistration {
    pub call_id: String,
    pub aor: Option<String>,
    pub registrar: Option<String>,
    pub result: Option<u16>,
    pub messages: Vec<SipMessage>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sip {
    pub dialogs: Vec<SipDialog>,
    pub registrations: Vec<SipRegistration>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub subject: String,
    pub summary: String,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MalformedCount {
    pub reason: String,
    pub packets: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LinktypeCount {
    pub linktype: u32,
    pub name: String,
    pub frames: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputError {
    pub input: String,
    pub offset: u64,
    pub message: String,
}

impl Report {
    /// The `--json` document: pretty-printed, deterministic, with a trailing newline.
    pub fn to_json(&self) -> String {
        // Everything the writer copies is a whole `&str`, a run of one between ASCII bytes,
        // or ASCII: the bytes are UTF-8 by construction, and this check never fails.
        String::from_utf8(self.to_json_bytes()).expect("the JSON writer writes UTF-8")
    }

    /// [`Report::to_json`] as bytes, for writing straight out without the UTF-8 check.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // The direct writer below prints exactly what serde_json's pretty printer does, at a
        // fraction of the cost; anything it does not handle (maps, floats…) sends the whole
        // report through serde_json instead, so the output never depends on which ran.
        let mut w = json::Writer::with_capacity(json::size_estimate(self));
        let mut s = match json::write_report(&mut w, self) {
            Ok(()) => w.out,
            Err(_) => serde_json::to_vec_pretty(self).expect("report serialises"),
        };
        s.push(b'\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each value's JSON string, checked to be its `Display` text too.
    fn spelled<T: Serialize + fmt::Display>(all: &[T]) -> Vec<String> {
        all.iter()
            .map(|v| {
                assert_eq!(serde_json::to_string(v).unwrap(), format!("\"{v}\""));
                v.to_string()
            })
            .collect()
    }

    /// The values docs/report-schema.md lists, spelled as the JSON has always spelled them.
    #[test]
    fn enum_values_are_the_schema_strings() {
        assert_eq!(spelled(Schema::ALL), ["tuntrace.report/1"]);
        assert_eq!(spelled(SourceKind::ALL), ["replay", "live"]);
        assert_eq!(spelled(Backend::ALL), ["pcap", "ebpf", "dtrace", "pktap"]);
        assert_eq!(
            spelled(InterfaceKind::ALL),
            ["tun", "ipsec", "utun", "xfrm", "wireguard", "gre", "vti", "ethernet", "loopback", "other"]
        );
        assert_eq!(spelled(Proto::ALL), ["udp", "tcp", "esp", "icmp", "other"]);
        assert_eq!(spelled(App::ALL), ["ike", "esp-in-udp", "esp", "nat-keepalive", "sip", "sip-tls", "rtp", "other"]);
        assert_eq!(spelled(IkeState::ALL), ["init", "auth", "established", "deleted", "unknown"]);
        assert_eq!(spelled(Encap::ALL), ["udp", "none"]);
        assert_eq!(spelled(DialogState::ALL), ["early", "confirmed", "terminated", "failed", "unknown"]);
        assert_eq!(spelled(Transport::ALL), ["udp", "tcp", "tls"]);
        let tunnels: Vec<_> = InterfaceKind::ALL.iter().filter(|k| k.is_tunnel()).map(|k| k.as_str()).collect();
        assert_eq!(tunnels, ["tun", "ipsec", "utun", "xfrm", "wireguard", "gre", "vti"]);
        // Padding applies to the text, as it did to the strings.
        assert_eq!(format!("[{:<8}]", App::Sip), "[sip     ]");
    }

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
                }],
                registrations: vec![SipRegistration {
                    call_id: "reg\u{1}1 ☎".into(),
                    aor: opt("sip:bob@example.org"),
                    registrar: opt("sip:registrar"),
                    result: some.then_some(200),
                    messages: vec![message(true)],
                    pid: some.then_some(9),
                    comm: opt("baresip"),
                }],
            },
            verdicts: vec![Verdict {
                subject: "ipsec0".into(),
                summary: "IPsec tunnel".into(),
                evidence: vec!["MTU 1400".into()],
            }],
            malformed: vec![MalformedCount { reason: "short".into(), packets: 1 }],
            unknown_linktypes: vec![LinktypeCount { linktype: 147, name: "USER0".into(), frames: 2 }],
            errors: vec![InputError { input: "b.pcap".into(), offset: 24, message: "truncated\nrecord".into() }],
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

    /// Times keep the microsecond the JSON spells, from any capture clock and at the ends of
    /// the range a `Timestamp` holds; a time read back is the time written.
    #[test]
    fn times_are_microseconds_and_read_back() {
        for ns in [0, 1, 999, 1000, -1, -999, -1000, -1001, i64::MIN, i64::MAX, 1_767_225_600_599_123_456] {
            let t = Timestamp(ns);
            let time = Time::from(t);
            assert_eq!(time.to_string(), t.to_string(), "{ns}");
            assert_eq!(serde_json::to_string(&time).unwrap(), serde_json::to_string(&t).unwrap());
            assert_eq!(time.micros(), ns.div_euclid(1000));
            let back: Time = serde_json::from_str(&serde_json::to_string(&time).unwrap()).unwrap();
            assert_eq!(back, time);
        }
        let e = serde_json::from_str::<Time>("\"2026-01-01T00:00:00Z\"").unwrap_err().to_string();
        assert!(e.contains("RFC 3339 UTC time with microseconds"), "{e}");
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
}

/// A pretty JSON writer for the report, byte for byte serde_json's `to_string_pretty`
/// (two-space indent, `"key": value`, `[]`/`{}` when empty, the same string escapes).
///
/// serde_json writes every token, indent level and escaped run through `io::Write` into its
/// buffer, one small copy each; for a report of thousands of flows and SIP messages that was a
/// tenth of a whole replay. Here the output buffer (bytes, sized for the report up front) is
/// written directly: a field's comma, indent and key in one cached piece, an element's comma
/// and indent in one fixed-length copy, strings checked and copied eight bytes at a time,
/// and numbers without `core::fmt`.
mod json {
    use serde::ser::{self, Impossible, Serialize};
    use std::fmt;

    mod direct;

    pub use direct::report as write_report;

    /// A type the writer leaves to serde_json (none occurs in the report today).
    #[derive(Debug)]
    pub struct Unsupported;

    impl fmt::Display for Unsupported {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("not handled by the direct JSON writer")
        }
    }

    impl std::error::Error for Unsupported {}

    impl ser::Error for Unsupported {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Unsupported
        }
    }

    /// Writes into bytes rather than a `String`: a `String` only takes `&str` pieces or
    /// `char`s, so a digit or an eight-byte run of a string was a `push` each, with its
    /// capacity check and UTF-8 length branch, or a `memcpy` call of the exact length. Every
    /// piece written is a whole `&str`, a part of one cut next to an ASCII byte, or ASCII, so
    /// the bytes stay UTF-8 ([`Report::to_json`] checks it anyway).
    #[derive(Default)]
    pub struct Writer {
        pub out: Vec<u8>,
        depth: usize,
        prefixes: KeyPrefixes,
        stamps: direct::StampPrefixes,
    }

    /// Roughly what the document takes, a little more (about a sixth) for a typical report:
    /// its records by the thousand print a few hundred bytes each (the figures are from the
    /// 1.1 GB benchmark capture's report). Reserving it up front saves growing, and copying,
    /// the buffer a dozen times over; pages reserved but never written are not touched, so
    /// erring high costs little, and erring low one more doubling.
    pub fn size_estimate(r: &super::Report) -> usize {
        const FLOW: usize = 400;
        const IKE_SA: usize = 800;
        const EXCHANGE: usize = 330;
        const PROPOSAL: usize = 420;
        const ESP_SA: usize = 300;
        const DIALOG: usize = 340;
        const MESSAGE: usize = 440;
        const VERDICT: usize = 100;
        const EVIDENCE: usize = 150;
        let ike: usize = r
            .ike_sas
            .iter()
            .map(|s| {
                IKE_SA + EXCHANGE * s.exchanges.len() + PROPOSAL * (s.proposals.len() + usize::from(s.chosen.is_some()))
            })
            .sum();
        let dialogs: usize = r.sip.dialogs.iter().map(|d| DIALOG + MESSAGE * d.messages.len()).sum();
        let regs: usize = r.sip.registrations.iter().map(|g| DIALOG + MESSAGE * g.messages.len()).sum();
        let verdicts: usize = r.verdicts.iter().map(|v| VERDICT + EVIDENCE * v.evidence.len()).sum();
        16 * 1024 + FLOW * r.flows.len() + ike + ESP_SA * r.esp_sas.len() + dialogs + regs + verdicts
    }

    /// Every number below 100 as two digits.
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";

    /// What goes before an element at a nesting level: a comma unless it is the first,
    /// newline, indent. 32 bytes each, enough for 15 levels (a report has 7).
    const COMMA_RUN: &[u8; 32] = b",\n                              ";
    const NEWLINE_RUN: &[u8; 32] = b"\n                               ";

    impl Writer {
        pub fn with_capacity(n: usize) -> Self {
            Writer { out: Vec::with_capacity(n), ..Writer::default() }
        }

        /// Newline and indent, after a comma unless `first`. One line of JSON in three is an
        /// array element or a closing bracket, each starting this way: the whole run is copied
        /// and cut back, since a copy of constant length is a couple of vector moves where
        /// one of the exact length is a `memcpy` call.
        #[inline]
        fn separator(&mut self, first: bool) {
            let (run, len) = if first { (NEWLINE_RUN, 1 + self.depth * 2) } else { (COMMA_RUN, 2 + self.depth * 2) };
            let start = self.out.len();
            self.out.extend_from_slice(run);
            if len <= run.len() {
                self.out.truncate(start + len);
            } else {
                self.out.resize(start + len, b' ');
            }
        }

        /// Separator, object key and `": "` for a field, copied in one piece from the cache.
        fn field(&mut self, first: bool, key: &'static str) {
            let prefix = self.prefixes.get(key, self.depth);
            self.out.extend_from_slice(&prefix.as_bytes()[usize::from(first)..]);
        }

        /// `s` quoted, with serde_json's escapes.
        ///
        /// Three strings in four of a report have 8 to 32 bytes (addresses, Call-IDs,
        /// CSeqs, SPIs). Those are read as four eight-byte words at 0, 8, n-16 and n-8 (two
        /// of them, at 0 and n-8, up to 16 bytes), which overlap to cover every byte; when
        /// none needs escaping the words are laid out, between quotes, in a buffer on the
        /// stack that is copied whole and cut back to length: loads, stores and one
        /// constant-length copy, where quotes and string apart were three appends, each
        /// with its capacity check.
        #[inline]
        pub(super) fn string(&mut self, s: &str) {
            let b = s.as_bytes();
            let n = b.len();
            let word = |i: usize| b.get(i..i + 8).and_then(|w| w.first_chunk::<8>()).copied();
            if (8..=32).contains(&n) {
                let (i1, i2) = if n > 16 { (8, n - 16) } else { (0, n - 8) };
                if let (Some(w0), Some(w1), Some(w2), Some(w3)) = (word(0), word(i1), word(i2), word(n - 8)) {
                    let clean = |w: [u8; 8]| clean_bits(u64::from_le_bytes(w));
                    if clean(w0) & clean(w1) & clean(w2) & clean(w3) & HIGH == HIGH {
                        // Quotes everywhere, so the one after the string is already there.
                        let mut buf = [b'"'; 40];
                        for (i, w) in [(0, w0), (i1, w1), (i2, w2), (n - 8, w3)] {
                            buf[1 + i..9 + i].copy_from_slice(&w);
                        }
                        let start = self.out.len();
                        self.out.extend_from_slice(&buf);
                        self.out.truncate(start + n + 2);
                        return;
                    }
                }
            }
            self.any_string(b);
        }

        /// [`Writer::string`] for any length.
        fn any_string(&mut self, b: &[u8]) {
            self.out.reserve(b.len() + 2);
            self.out.push(b'"');
            if needs_escape(b) {
                self.escaped(b);
            } else {
                put(&mut self.out, b);
            }
            self.out.push(b'"');
        }

        /// `s` with serde_json's escapes: runs without any written in one piece. Only ASCII
        /// bytes are escaped, so every run copied is cut at character boundaries.
        #[cold]
        fn escaped(&mut self, s: &[u8]) {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut start = 0;
            for (i, &c) in s.iter().enumerate() {
                let esc: &[u8] = match c {
                    b'"' => b"\\\"",
                    b'\\' => b"\\\\",
                    0x08 => b"\\b",
                    0x0c => b"\\f",
                    b'\n' => b"\\n",
                    b'\r' => b"\\r",
                    b'\t' => b"\\t",
                    0..=0x1f => b"",
                    _ => continue,
                };
                self.out.extend_from_slice(&s[start..i]);
                if esc.is_empty() {
                    self.out.extend_from_slice(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[usize::from(c >> 4)],
                        HEX[usize::from(c & 0xf)],
                    ]);
                } else {
                    self.out.extend_from_slice(esc);
                }
                start = i + 1;
            }
            self.out.extend_from_slice(&s[start..]);
        }

        /// Decimal digits, two per step from a table, without `core::fmt`. The digits are
        /// laid out at the front of a 20-byte buffer (room for `u64::MAX`), which is copied
        /// whole and cut back to the count: a constant-length copy is two vector moves, where
        /// one of the exact length was a `push` per digit.
        #[inline]
        pub(super) fn uint(&mut self, mut v: u64) {
            // Most numbers in a report are ports, IDs, status codes and small counts.
            let len = match v {
                0..10 => 1,
                10..100 => 2,
                100..1000 => 3,
                1000..10_000 => 4,
                10_000..100_000 => 5,
                _ => v.ilog10() as usize + 1,
            };
            let mut buf = [b'0'; 20];
            let mut i = len;
            while v >= 100 {
                let p = (v % 100) as usize * 2;
                v /= 100;
                i -= 2;
                buf[i..i + 2].copy_from_slice(&PAIRS[p..p + 2]);
            }
            if v >= 10 {
                let p = v as usize * 2;
                buf[..2].copy_from_slice(&PAIRS[p..p + 2]);
            } else {
                buf[0] = b'0' + v as u8;
            }
            let start = self.out.len();
            self.out.extend_from_slice(&buf);
            self.out.truncate(start + len);
        }

        fn int(&mut self, v: i64) {
            if v < 0 {
                self.out.push(b'-');
            }
            self.uint(v.unsigned_abs());
        }

        fn open(&mut self, c: u8) -> Compound<'_> {
            self.out.push(c);
            self.depth += 1;
            Compound { w: self, first: true }
        }
    }

    /// `,\n<indent>"key": ` for the (key, depth) pairs seen, direct-mapped by the key's
    /// address. Half the lines of a report are object fields, and writing each one's comma,
    /// indent, quotes and key in pieces cost more than the values; a report has a few dozen
    /// distinct keys, so nearly every field is a lookup and one copy. A slot taken by another
    /// pair is simply rebuilt.
    ///
    /// Keys are the report structs' field names (Rust identifiers, or renames such as
    /// `type`), which never need escaping; the test comparing a whole report with
    /// serde_json's output checks that this holds.
    struct KeyPrefixes {
        slots: Vec<KeyPrefix>,
    }

    #[derive(Default, Clone)]
    struct KeyPrefix {
        /// Address and length of the key it was built for (0 for an empty slot).
        addr: usize,
        len: usize,
        depth: usize,
        text: String,
    }

    /// One per value of the hash's top byte.
    const PREFIX_SLOTS: usize = 256;

    impl Default for KeyPrefixes {
        fn default() -> Self {
            KeyPrefixes { slots: vec![KeyPrefix::default(); PREFIX_SLOTS] }
        }
    }

    impl KeyPrefixes {
        fn get(&mut self, key: &'static str, depth: usize) -> &str {
            debug_assert!(!needs_escape(key.as_bytes()), "{key:?} needs escaping");
            let addr = key.as_ptr() as usize;
            // Fibonacci hashing of address and depth; the top eight bits pick the slot.
            let h = (addr as u64 ^ (depth as u64).rotate_right(8)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let slot = &mut self.slots[(h >> 56) as usize];
            if slot.addr != addr || slot.len != key.len() || slot.depth != depth {
                slot.text.clear();
                slot.text.push_str(",\n");
                for _ in 0..depth {
                    slot.text.push_str("  ");
                }
                slot.text.push('"');
                slot.text.push_str(key);
                slot.text.push_str("\": ");
                (slot.addr, slot.len, slot.depth) = (addr, key.len(), depth);
            }
            &slot.text
        }
    }

    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;

    /// The high bit of each byte of the result is set where that byte of `w` needs no
    /// escape (it is not a control character, `"` or `\\`). Every byte needing one is
    /// ASCII, so the test is on the low seven bits `y` of the bytes whose own high bit is
    /// clear: `y + 0x60` reaches 0x80 exactly when `y >= 0x20`, `(y ^ c) + 0x7f` exactly
    /// when `y != c`. No sum exceeds 0xff, so no byte carries into the next and every byte's
    /// answer is exact.
    #[inline]
    fn clean_bits(w: u64) -> u64 {
        const LOW7: u64 = ONES * 0x7f;
        let y = w & LOW7;
        let ctrl = y + ONES * 0x60;
        let quote = (y ^ (ONES * u64::from(b'"'))) + LOW7;
        let backslash = (y ^ (ONES * u64::from(b'\\'))) + LOW7;
        w | (ctrl & quote & backslash)
    }

    /// Whether a byte of the word is a control character, `"` or `\\`.
    #[cfg(test)]
    fn word_needs_escape(w: u64) -> bool {
        clean_bits(w) & HIGH != HIGH
    }

    /// Whether any byte is a control character, `"` or `\\`: eight bytes per step, since
    /// nearly every string in a report has nothing to escape. The bytes past the last full
    /// word are checked in one more word that overlaps the ones before, and strings shorter
    /// than a word are read as (possibly overlapping) halves or padded with spaces, so no
    /// string costs a byte-by-byte loop.
    #[inline]
    fn needs_escape(b: &[u8]) -> bool {
        let n = b.len();
        let clean = if let Some(last) = b.last_chunk::<8>() {
            let (words, _) = b.as_chunks::<8>();
            // A branch per word rather than one at the end: an and-ed fold over the words
            // is vectorised, which costs more than it saves on strings of a few words.
            if words.iter().any(|c| clean_bits(u64::from_le_bytes(*c)) & HIGH != HIGH) {
                return true;
            }
            clean_bits(u64::from_le_bytes(*last))
        } else if let (Some(head), Some(tail)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
            clean_bits(u64::from(u32::from_le_bytes(*head)) | u64::from(u32::from_le_bytes(*tail)) << 32)
        } else if n > 0 {
            // One to three bytes: first, middle and last cover them all.
            clean_bits(u64::from_le_bytes([b[0], b[n / 2], b[n - 1], b' ', b' ', b' ', b' ', b' ']))
        } else {
            return false;
        };
        clean & HIGH != HIGH
    }

    /// Append `b`. Most strings of a report (addresses, ports' text, methods, SPIs) are
    /// under 16 bytes: those go as two overlapping copies of constant length, the second
    /// written over the end of the first (a few moves, where a `memcpy` of the exact length
    /// is a call that costs more than the copy).
    #[inline]
    fn put(out: &mut Vec<u8>, b: &[u8]) {
        let start = out.len();
        let n = b.len();
        if n > 16 {
            out.extend_from_slice(b);
        } else if let (Some(head), Some(tail)) = (b.first_chunk::<8>(), b.last_chunk::<8>()) {
            out.extend_from_slice(head);
            out.truncate(start + n - 8);
            out.extend_from_slice(tail);
        } else if let (Some(head), Some(tail)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
            out.extend_from_slice(head);
            out.truncate(start + n - 4);
            out.extend_from_slice(tail);
        } else {
            for &c in b {
                out.push(c);
            }
        }
    }

    /// An array or object being written.
    pub struct Compound<'a> {
        w: &'a mut Writer,
        first: bool,
    }

    impl Compound<'_> {
        fn next(&mut self) {
            self.w.separator(self.first);
            self.first = false;
        }

        fn close(self, c: u8) {
            self.w.depth -= 1;
            if !self.first {
                self.w.separator(true);
            }
            self.w.out.push(c);
        }
    }

    impl ser::SerializeSeq for Compound<'_> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            self.next();
            v.serialize(&mut *self.w)
        }
        fn end(self) -> Result<(), Unsupported> {
            self.close(b']');
            Ok(())
        }
    }

    impl ser::SerializeTuple for Compound<'_> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_element<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            ser::SerializeSeq::serialize_element(self, v)
        }
        fn end(self) -> Result<(), Unsupported> {
            ser::SerializeSeq::end(self)
        }
    }

    impl ser::SerializeTupleStruct for Compound<'_> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_field<T: ?Sized + Serialize>(&mut self, v: &T) -> Result<(), Unsupported> {
            ser::SerializeSeq::serialize_element(self, v)
        }
        fn end(self) -> Result<(), Unsupported> {
            ser::SerializeSeq::end(self)
        }
    }

    impl ser::SerializeStruct for Compound<'_> {
        type Ok = ();
        type Error = Unsupported;
        fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, v: &T) -> Result<(), Unsupported> {
            self.w.field(self.first, key);
            self.first = false;
            v.serialize(&mut *self.w)
        }
        fn end(self) -> Result<(), Unsupported> {
            self.close(b'}');
            Ok(())
        }
    }

    type No = Impossible<(), Unsupported>;

    impl<'a> ser::Serializer for &'a mut Writer {
        type Ok = ();
        type Error = Unsupported;
        type SerializeSeq = Compound<'a>;
        type SerializeTuple = Compound<'a>;
        type SerializeTupleStruct = Compound<'a>;
        type SerializeTupleVariant = No;
        type SerializeMap = No;
        type SerializeStruct = Compound<'a>;
        type SerializeStructVariant = No;

        fn serialize_bool(self, v: bool) -> Result<(), Unsupported> {
            self.out.extend_from_slice(if v { b"true" } else { b"false" });
            Ok(())
        }
        fn serialize_i8(self, v: i8) -> Result<(), Unsupported> {
            self.int(v.into());
            Ok(())
        }
        fn serialize_i16(self, v: i16) -> Result<(), Unsupported> {
            self.int(v.into());
            Ok(())
        }
        fn serialize_i32(self, v: i32) -> Result<(), Unsupported> {
            self.int(v.into());
            Ok(())
        }
        fn serialize_i64(self, v: i64) -> Result<(), Unsupported> {
            self.int(v);
            Ok(())
        }
        fn serialize_u8(self, v: u8) -> Result<(), Unsupported> {
            self.uint(v.into());
            Ok(())
        }
        fn serialize_u16(self, v: u16) -> Result<(), Unsupported> {
            self.uint(v.into());
            Ok(())
        }
        fn serialize_u32(self, v: u32) -> Result<(), Unsupported> {
            self.uint(v.into());
            Ok(())
        }
        fn serialize_u64(self, v: u64) -> Result<(), Unsupported> {
            self.uint(v);
            Ok(())
        }
        fn serialize_f32(self, _: f32) -> Result<(), Unsupported> {
            Err(Unsupported)
        }
        fn serialize_f64(self, _: f64) -> Result<(), Unsupported> {
            Err(Unsupported)
        }
        fn serialize_char(self, v: char) -> Result<(), Unsupported> {
            self.string(v.encode_utf8(&mut [0; 4]));
            Ok(())
        }
        fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
            self.string(v);
            Ok(())
        }
        fn serialize_bytes(self, _: &[u8]) -> Result<(), Unsupported> {
            Err(Unsupported)
        }
        fn serialize_none(self) -> Result<(), Unsupported> {
            self.out.extend_from_slice(b"null");
            Ok(())
        }
        fn serialize_some<T: ?Sized + Serialize>(self, v: &T) -> Result<(), Unsupported> {
            v.serialize(self)
        }
        fn serialize_unit(self) -> Result<(), Unsupported> {
            self.serialize_none()
        }
        fn serialize_unit_struct(self, _: &'static str) -> Result<(), Unsupported> {
            self.serialize_none()
        }
        fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result<(), Unsupported> {
            self.string(variant);
            Ok(())
        }
        fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, v: &T) -> Result<(), Unsupported> {
            v.serialize(self)
        }
        fn serialize_newtype_variant<T: ?Sized + Serialize>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<(), Unsupported> {
            Err(Unsupported)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<Compound<'a>, Unsupported> {
            Ok(self.open(b'['))
        }
        fn serialize_tuple(self, _: usize) -> Result<Compound<'a>, Unsupported> {
            Ok(self.open(b'['))
        }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Unsupported> {
            Ok(self.open(b'['))
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<No, Unsupported> {
            Err(Unsupported)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<No, Unsupported> {
            Err(Unsupported)
        }
        fn serialize_struct(self, _: &'static str, _: usize) -> Result<Compound<'a>, Unsupported> {
            Ok(self.open(b'{'))
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<No, Unsupported> {
            Err(Unsupported)
        }
        fn collect_str<T: ?Sized + fmt::Display>(self, v: &T) -> Result<(), Unsupported> {
            self.string(&v.to_string());
            Ok(())
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use proptest::prelude::*;
        use serde::Serialize;

        #[derive(Serialize)]
        struct Inner {
            #[serde(rename = "type")]
            kind: &'static str,
            n: Option<u16>,
            none: Option<String>,
            empty: Vec<u8>,
            neg: i64,
        }

        #[derive(Serialize)]
        struct Empty {}

        #[derive(Serialize)]
        struct Outer {
            text: String,
            list: Vec<Inner>,
            nested: Vec<Vec<u64>>,
            empty: Empty,
            flag: bool,
            c: char,
            t: (u8, &'static str),
            big: u64,
        }

        fn ours<T: Serialize>(v: &T) -> String {
            let mut w = Writer::default();
            v.serialize(&mut w).expect("supported");
            String::from_utf8(w.out).expect("UTF-8")
        }

        #[test]
        fn matches_serde_json_pretty() {
            let mut text = String::from("plain \" \\ / \u{7f} é ☎ ");
            for c in 0u8..0x20 {
                text.push(char::from(c));
            }
            let v = Outer {
                text,
                list: vec![
                    Inner { kind: "a", n: Some(5060), none: None, empty: vec![], neg: i64::MIN },
                    Inner { kind: "b\n", n: None, none: Some("x".into()), empty: vec![0, 255], neg: -1 },
                ],
                nested: vec![vec![], vec![0, u64::MAX], vec![7]],
                empty: Empty {},
                flag: false,
                c: '"',
                t: (1, "two"),
                big: 18_446_744_073_709_551_615,
            };
            assert_eq!(ours(&v), serde_json::to_string_pretty(&v).unwrap());
            assert_eq!(ours(&Vec::<u8>::new()), "[]");
        }

        /// Every pair of byte values side by side at every position of a word: the word
        /// test sees exactly the bytes that need escaping, whatever their neighbours (no
        /// carry from one byte reaches the next).
        #[test]
        fn word_test_is_exact_for_every_pair_of_bytes() {
            let bad = |c: u8| c < 0x20 || c == b'"' || c == b'\\';
            for pos in 0..7 {
                for a in 0..=255u8 {
                    for b in 0..=255u8 {
                        let mut w = [b'x'; 8];
                        (w[pos], w[pos + 1]) = (a, b);
                        assert_eq!(word_needs_escape(u64::from_le_bytes(w)), bad(a) || bad(b), "{w:?}");
                    }
                }
            }
        }

        #[test]
        fn escape_scan_agrees_with_bytewise() {
            let slow = |b: &[u8]| b.iter().any(|&c| c < 0x20 || c == b'"' || c == b'\\');
            let mut x: u64 = 88172645463325252;
            for len in 0..40 {
                for _ in 0..300 {
                    let mut b: Vec<u8> = (0..len)
                        .map(|_| {
                            x ^= x << 13;
                            x ^= x >> 7;
                            x ^= x << 17;
                            // Mostly printable, sometimes one of the bytes that matter.
                            match x % 23 {
                                0 => b'"',
                                1 => b'\\',
                                2 => (x >> 8) as u8 % 0x20,
                                3 => 0x20,
                                4 => 0xff,
                                _ => 0x21 + (x >> 8) as u8 % 0x5e,
                            }
                        })
                        .collect();
                    assert_eq!(needs_escape(&b), slow(&b), "{b:?}");
                    b.retain(|&c| !slow(&[c]));
                    assert!(!needs_escape(&b));
                }
            }
        }

        /// Every ASCII character at every position of strings of every length around the
        /// word sizes the escaper works in, among plain letters and multi-byte characters.
        #[test]
        fn every_ascii_character_everywhere_escapes_like_serde_json() {
            for len in 0..=26 {
                for pos in 0..len {
                    for c in 0u8..0x80 {
                        for filler in ["a", "é", "☎"] {
                            let mut s: String = (0..len)
                                .map(|i| if i == pos { char::from(c).to_string() } else { filler.to_string() })
                                .collect();
                            assert_eq!(ours(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
                            s.push('"');
                            assert_eq!(ours(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
                        }
                    }
                }
            }
        }

        proptest! {
            /// Arbitrary strings, and strings made mostly of the characters that matter
            /// (control characters, quotes, backslashes, DEL, multi-byte UTF-8 including
            /// U+2028, which JSON allows unescaped and serde_json leaves alone), written as
            /// serde_json writes them.
            #[test]
            fn strings_escape_like_serde_json(
                any_text in any::<String>(),
                chars in prop::collection::vec(
                    prop_oneof![
                        (0u8..0x20).prop_map(char::from),
                        Just('"'),
                        Just('\\'),
                        Just('\u{7f}'),
                        Just('\u{2028}'),
                        Just('\u{2029}'),
                        Just('é'),
                        Just('\u{10ffff}'),
                        (0x20u8..0x7f).prop_map(char::from),
                        any::<char>(),
                    ],
                    0..70,
                ),
            ) {
                let special: String = chars.into_iter().collect();
                for s in [&any_text, &special] {
                    prop_assert_eq!(ours(s), serde_json::to_string(s).unwrap());
                    // Inside a record, after other output (the buffer is not empty).
                    let v = (s.as_str(), 7u8, s.as_str());
                    prop_assert_eq!(ours(&v), serde_json::to_string_pretty(&v).unwrap());
                }
            }

            #[test]
            fn numbers_like_serde_json(n in any::<u64>(), shift in 0u32..64, i in any::<i64>()) {
                for v in [n, n >> shift] {
                    prop_assert_eq!(ours(&v), v.to_string());
                }
                prop_assert_eq!(ours(&i), i.to_string());
            }
        }

        #[test]
        fn deep_nesting_indents_past_the_spaces_table() {
            let mut v = serde_json::json!(1);
            for _ in 0..40 {
                v = serde_json::json!([v]);
            }
            // json! values serialise their arrays as sequences: no maps, so ours handles them.
            assert_eq!(ours(&v), serde_json::to_string_pretty(&v).unwrap());
        }

        #[test]
        fn unsupported_types_fall_back() {
            let mut w = Writer::default();
            assert!(1.5f64.serialize(&mut w).is_err());
            let m: std::collections::BTreeMap<String, u8> = [("a".to_string(), 1)].into();
            assert!(m.serialize(&mut Writer::default()).is_err());
        }

        /// A report with every field of every struct present (and some absent), written by
        /// `to_json` and by serde_json: every key of the schema goes through the cached key
        /// prefixes, at the depths where the report puts them.
        #[test]
        fn whole_report_matches_serde_json() {
            use crate::report::*;
            use crate::time::Timestamp;
            let at = Time::from(Timestamp::from_secs_nanos(1_767_225_600, 599_000));
            let proc_ref = ProcRef { pid: 7, comm: Some("charon".into()), exe: None };
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
            let exchange = |response| IkeExchange {
                kind: "IKE_SA_INIT".into(),
                message_id: 0,
                response,
                at,
                src: "198.18.5.40".into(),
                sport: 500,
                payloads: vec!["SA".into(), "KE".into()],
            };
            let message = |status: Option<u16>| SipMessage {
                at,
                src: "2001:db8::1".into(),
                dst: "198.19.0.1".into(),
                transport: Transport::Udp,
                method: status.is_none().then(|| "INVITE".into()),
                status,
                cseq: Some("1 INVITE".into()),
                sport: 5060,
                dport: 5060,
                reason: status.map(|_| "Ringing \"soon\"".into()),
                sdp: vec!["audio 198.19.3.53:50002 RTP/AVP PCMU/8000".into()],
            };
            let r = Report {
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
                    dropped_events: 0,
                    started: Some(at),
                    ended: None,
                },
                interfaces: vec![Interface {
                    name: Some("ipsec0".into()),
                    kind: InterfaceKind::Ipsec,
                    mtu: Some(1400),
                    addresses: vec!["10.0.0.2/32".into()],
                    owner: Some(proc_ref.clone()),
                    created_by: Some(CreatedBy { pid: 7, comm: None, at: Some(at) }),
                    packets: 3,
                    bytes: 1500,
                    linktype: "RAW".into(),
                }],
                processes: vec![Process {
                    pid: 7,
                    comm: Some("charon".into()),
                    exe: Some("/usr/sbin/charon".into()),
                    cmdline: None,
                    uid: Some(0),
                    packets: 3,
                    bytes: 1500,
                    interfaces: vec!["ipsec0".into()],
                }],
                flows: vec![Flow {
                    iface: None,
                    proto: Proto::Udp,
                    src: "198.18.5.40".into(),
                    sport: Some(4500),
                    dst: "198.18.0.4".into(),
                    dport: None,
                    app: App::Ike,
                    pid: Some(7),
                    comm: None,
                    packets: u64::MAX,
                    bytes: 0,
                    first: at,
                    last: at,
                }],
                ike_sas: vec![IkeSa {
                    version: 2,
                    initiator_spi: "0bf01aff05f5eb1e".into(),
                    responder_spi: None,
                    initiator: "198.18.5.40".into(),
                    initiator_port: 500,
                    responder: "198.18.0.4".into(),
                    responder_port: 500,
                    nat_t: true,
                    state: IkeState::Established,
                    exchanges: vec![exchange(false), exchange(true)],
                    vendor_ids: vec![],
                    pid: None,
                    comm: None,
                    proposals: vec![proposal.clone()],
                    chosen: Some(proposal),
                    ke_group: Some("ECP_256".into()),
                    notifies: vec!["NAT_DETECTION_SOURCE_IP".into()],
                    encrypted_payloads: 6,
                    nat_detected: Some(true),
                    iface: Some("en0".into()),
                }],
                esp_sas: vec![EspSa {
                    spi: "c0ffee01".into(),
                    src: "198.18.5.40".into(),
                    dst: "198.18.0.4".into(),
                    encap: Encap::Udp,
                    packets: 10,
                    bytes: 1000,
                    ike_sa: Some(0),
                    first_seq: Some(1),
                    last_seq: None,
                    seq_gaps: 0,
                    iface: None,
                }],
                sip: Sip {
                    dialogs: vec![SipDialog {
                        call_id: "a84b4c76e66710@pc33".into(),
                        from: Some("\"Alice\" <sip:alice@ims.mnc001.mcc001.3gppnetwork.org>".into()),
                        to: None,
                        method: "INVITE".into(),
                        state: DialogState::Confirmed,
                        messages: vec![message(None), message(Some(180))],
                        pid: None,
                        comm: None,
                    }],
                    registrations: vec![SipRegistration {
                        call_id: "reg\u{1}1".into(),
                        aor: Some("sip:bob@example.org".into()),
                        registrar: None,
                        result: Some(200),
                        messages: vec![],
                        pid: Some(9),
                        comm: Some("baresip".into()),
                    }],
                },
                verdicts: vec![Verdict {
                    subject: "ipsec0".into(),
                    summary: "IPsec tunnel".into(),
                    evidence: vec!["MTU 1400".into()],
                }],
                malformed: vec![MalformedCount { reason: "short".into(), packets: 1 }],
                unknown_linktypes: vec![LinktypeCount { linktype: 147, name: "USER0".into(), frames: 2 }],
                errors: vec![InputError { input: "b.pcap".into(), offset: 24, message: "truncated\nrecord".into() }],
            };
            let mut want = serde_json::to_string_pretty(&r).unwrap();
            want.push('\n');
            assert_eq!(r.to_json(), want);
            // Every `Option` of the directly written records the other way round, timestamps
            // in other seconds and outside the years `Timestamp` formats digit by digit.
            let mut flipped = r.clone();
            let f = &mut flipped.flows[0];
            (f.iface, f.sport, f.dport, f.pid, f.comm) = (Some("wg0".into()), None, Some(500), None, Some("x".into()));
            f.last = Timestamp(i64::MAX).into();
            let sa = &mut flipped.ike_sas[0];
            (sa.responder_spi, sa.pid, sa.comm, sa.chosen) = (Some("ff".into()), Some(1), Some("iked".into()), None);
            (sa.ke_group, sa.nat_detected, sa.iface, sa.nat_t) = (None, None, None, false);
            sa.vendor_ids = vec!["strongSwan".into()];
            sa.exchanges[1].at = Timestamp(-1).into();
            let mut other = sa.clone();
            other.nat_detected = Some(false);
            other.proposals.clear();
            flipped.ike_sas.push(other);
            let esp = &mut flipped.esp_sas[0];
            (esp.ike_sa, esp.first_seq, esp.last_seq, esp.iface) = (None, None, Some(9), Some("eth0".into()));
            let d = &mut flipped.sip.dialogs[0];
            (d.from, d.to, d.pid, d.comm) = (None, Some("<sip:bob@example.org>".into()), Some(3), Some("sipd".into()));
            d.messages[0].cseq = None;
            d.messages[1].at = Timestamp::from_secs_nanos(1_767_225_601, 999_999_999).into();
            let reg = &mut flipped.sip.registrations[0];
            (reg.aor, reg.registrar, reg.result, reg.pid, reg.comm) =
                (None, Some("sip:registrar".into()), None, None, None);
            reg.messages = flipped.sip.dialogs[0].messages.clone();
            let mut want = serde_json::to_string_pretty(&flipped).unwrap();
            want.push('\n');
            assert_eq!(flipped.to_json(), want);
            // Each struct with all-empty lists, so that `[]` follows every key too.
            let empty = Report { interfaces: vec![], flows: vec![], sip: Sip::default(), ..r };
            let mut want = serde_json::to_string_pretty(&empty).unwrap();
            want.push('\n');
            assert_eq!(empty.to_json(), want);
        }
    }
}

//! The report: what tuntrace tells about a capture or a live session.
//!
//! These types are the one definition of the `--json` contract (`tuntrace.report/1`,
//! docs/report-schema.md): serde writes and reads the document from them, field by field in
//! the order declared here, `None` as `null`, enums as the names given in `names!`. Fields are
//! only ever added.

use std::{fmt, io};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::time::{self, Timestamp};

pub mod ladder;
pub mod text;

pub use tunnel::{OpenVpnTunnel, Tunnel, TunnelKind, TunnelTransport, WireGuardSession, WireGuardTunnel};

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

mod tunnel;

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
        /// IP in IP: ipip, sit (6in4), ip6tnl (kernel link kinds; additive value).
        Ipip = "ipip",
        Ethernet = "ethernet",
        Loopback = "loopback",
        Other = "other",
    }
}

impl InterfaceKind {
    /// The kinds that are tunnels (the interfaces tuntrace is asked about).
    pub fn is_tunnel(self) -> bool {
        use InterfaceKind::*;
        matches!(self, Tun | Ipsec | Utun | Xfrm | Wireguard | Gre | Vti | Ipip)
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
        /// Additive values: the flow carries a tunnel of this kind (`tunnels[].kind`).
        Ipip = "ipip",
        SixIn4 = "6in4",
        FourIn6 = "4in6",
        SixIn6 = "6in6",
        Gre = "gre",
        L2tp = "l2tp",
        GtpU = "gtp-u",
        Vxlan = "vxlan",
        Geneve = "geneve",
        Teredo = "teredo",
        Wireguard = "wireguard",
        Openvpn = "openvpn",
    }
}

impl App {
    /// A flow that carries a tunnel of `kind` (PPPoE is not carried in IP, so no flow names it).
    pub fn carrying(kind: TunnelKind) -> App {
        match kind {
            TunnelKind::Ipip => App::Ipip,
            TunnelKind::SixIn4 => App::SixIn4,
            TunnelKind::FourIn6 => App::FourIn6,
            TunnelKind::SixIn6 => App::SixIn6,
            TunnelKind::Gre => App::Gre,
            TunnelKind::L2tp => App::L2tp,
            TunnelKind::GtpU => App::GtpU,
            TunnelKind::Vxlan => App::Vxlan,
            TunnelKind::Geneve => App::Geneve,
            TunnelKind::Teredo => App::Teredo,
            TunnelKind::Wireguard => App::Wireguard,
            TunnelKind::Openvpn => App::Openvpn,
            TunnelKind::Pppoe => App::Other,
        }
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
    /// Sockets a live source reported, by cookie (additive field).
    pub sockets: Vec<Socket>,
    /// Malformed packets by reason (additive field).
    pub malformed: Vec<MalformedCount>,
    /// Frames on link types tuntrace does not decode, by link type (additive field).
    pub unknown_linktypes: Vec<LinktypeCount>,
    /// Damage that stopped reading an input early (additive field).
    pub errors: Vec<InputError>,
    /// Tunnels seen on the wire, in order of first packet (additive field).
    pub tunnels: Vec<Tunnel>,
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
    /// What the source lost, by cause (ring buffer, full kernel map…); `dropped_events` is
    /// their sum (additive field).
    pub losses: Vec<LossCount>,
    /// Every table cap and expiry rule, with how many entries it refused or let go (additive
    /// field).
    pub limits: Vec<LimitCount>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LossCount {
    pub what: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LimitCount {
    /// The table: `flows`, `ike_sas`, `sip_calls`…
    pub what: String,
    /// The rule, e.g. `at most 1000000` or `idle for 1800 s`.
    pub rule: String,
    /// Entries (or messages, packets: the rule says) refused or let go.
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Socket {
    /// The kernel's socket cookie, 16 lower-case hex digits.
    pub cookie: String,
    pub proto: Proto,
    pub local: Option<String>,
    pub local_port: Option<u16>,
    pub remote: Option<String>,
    pub remote_port: Option<u16>,
    /// The process its packets belong to now (the last that used it).
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// Every process seen using it, first first (creator, forked children, sharers).
    pub users: Vec<u32>,
    pub created_by: Option<u32>,
    /// TCP state name (`established`, `listen`…).
    pub state: Option<String>,
    /// Interface it is bound to (SO_BINDTODEVICE).
    pub bound_iface: Option<String>,
    /// When it was created, if that happened while the source watched.
    pub opened: Option<Time>,
    pub closed: Option<Time>,
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
    /// Network namespace and kernel index (live sources; additive fields).
    pub netns: Option<u64>,
    pub ifindex: Option<u32>,
    /// When a live source saw it removed (additive field).
    pub removed: Option<Time>,
    /// The interface existed before the source began, so who created it cannot be known
    /// (`created_by` is then null for that reason, not for lack of looking; additive field).
    pub created_before_trace: bool,
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
    // additive fields
    pub ppid: Option<u32>,
    /// When it started and exited (live sources).
    pub start: Option<Time>,
    pub exited: Option<Time>,
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
    /// Index into `tunnels` of the tunnel that carried it (additive field).
    pub tunnel: Option<usize>,
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
    /// Index into `tunnels` of the tunnel that carried it.
    pub tunnel: Option<usize>,
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
    /// Packets whose sequence number did not move forward: replays, duplicates, reordering.
    pub seq_repeats: u64,
    /// The process whose socket carried it (ESP in UDP), when the source attributes packets.
    pub pid: Option<u32>,
    pub comm: Option<String>,
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
    /// Index into `tunnels` of the tunnel that carried it (additive field).
    pub tunnel: Option<usize>,
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
    /// Index into `tunnels` of the tunnel that carried it (additive field).
    pub tunnel: Option<usize>,
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
    /// The `--json` document: serde_json's pretty printing (two-space indent), deterministic,
    /// with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a report always serializes");
        s.push('\n');
        s
    }

    /// [`Report::to_json`] streamed into `out`; give it a buffered writer, since the
    /// serializer writes token by token.
    pub fn write_json(&self, mut out: impl io::Write) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut out, self)?;
        out.write_all(b"\n")
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
            ["tun", "ipsec", "utun", "xfrm", "wireguard", "gre", "vti", "ipip", "ethernet", "loopback", "other"]
        );
        assert_eq!(spelled(Proto::ALL), ["udp", "tcp", "esp", "icmp", "other"]);
        assert_eq!(
            spelled(App::ALL),
            [
                "ike",
                "esp-in-udp",
                "esp",
                "nat-keepalive",
                "sip",
                "sip-tls",
                "rtp",
                "other",
                "ipip",
                "6in4",
                "4in6",
                "6in6",
                "gre",
                "l2tp",
                "gtp-u",
                "vxlan",
                "geneve",
                "teredo",
                "wireguard",
                "openvpn"
            ]
        );
        assert_eq!(
            spelled(TunnelKind::ALL),
            [
                "ipip",
                "6in4",
                "4in6",
                "6in6",
                "gre",
                "l2tp",
                "pppoe",
                "gtp-u",
                "vxlan",
                "geneve",
                "teredo",
                "wireguard",
                "openvpn"
            ]
        );
        assert_eq!(spelled(TunnelTransport::ALL), ["ip", "udp", "tcp", "ethernet"]);
        // A flow carrying a tunnel is named by the tunnel's kind.
        for &k in TunnelKind::ALL.iter().filter(|&&k| k != TunnelKind::Pppoe) {
            assert_eq!(App::carrying(k).as_str(), k.as_str());
        }
        assert_eq!(spelled(IkeState::ALL), ["init", "auth", "established", "deleted", "unknown"]);
        assert_eq!(spelled(Encap::ALL), ["udp", "none"]);
        assert_eq!(spelled(DialogState::ALL), ["early", "confirmed", "terminated", "failed", "unknown"]);
        assert_eq!(spelled(Transport::ALL), ["udp", "tcp", "tls"]);
        let tunnels: Vec<_> = InterfaceKind::ALL.iter().filter(|k| k.is_tunnel()).map(|k| k.as_str()).collect();
        assert_eq!(tunnels, ["tun", "ipsec", "utun", "xfrm", "wireguard", "gre", "vti", "ipip"]);
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
                tunnel: some.then_some(0),
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
                pid: some.then_some(7),
                comm: opt("charon"),
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
                }],
            },
            verdicts: vec![Verdict {
                subject: "ipsec0".into(),
                summary: "IPsec tunnel".into(),
                evidence: vec!["MTU 1400".into()],
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
            errors: vec![InputError { input: "b.pcap".into(), offset: 24, message: "truncated\nrecord".into() }],
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
            }],
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

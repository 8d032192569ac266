//! The report: what tuntrace tells about a capture or a live session.
//!
//! These structs are the `--json` contract (`tuntrace.report/1`, docs/report-schema.md): fields
//! are only ever added. Field order here is the order in the JSON. `None` serialises as `null`.

use serde::Serialize;

use crate::time::Timestamp;

pub mod ladder;
pub mod text;

pub const SCHEMA: &str = "tuntrace.report/1";

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub schema: &'static str,
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
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Source {
    pub kind: &'static str,
    pub backend: &'static str,
    pub inputs: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    pub malformed: u64,
    pub unattributed_packets: u64,
    pub dropped_events: u64,
    pub started: Option<Timestamp>,
    pub ended: Option<Timestamp>,
    /// What the source lost, by cause (ring buffer, full kernel map…); `dropped_events` is
    /// their sum (additive field).
    pub losses: Vec<LossCount>,
    /// Every table cap and expiry rule, with how many entries it refused or let go (additive
    /// field).
    pub limits: Vec<LimitCount>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LossCount {
    pub what: String,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LimitCount {
    /// The table: `flows`, `ike_sas`, `sip_calls`…
    pub what: String,
    /// The rule, e.g. `at most 1000000` or `idle for 1800 s`.
    pub rule: String,
    /// Entries (or messages, packets: the rule says) refused or let go.
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Socket {
    /// The kernel's socket cookie, 16 lower-case hex digits.
    pub cookie: String,
    pub proto: &'static str,
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
    pub opened: Option<Timestamp>,
    pub closed: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProcRef {
    pub pid: u32,
    pub comm: Option<String>,
    pub exe: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CreatedBy {
    pub pid: u32,
    pub comm: Option<String>,
    pub at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Interface {
    pub name: Option<String>,
    pub kind: &'static str,
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
    pub removed: Option<Timestamp>,
    /// The interface existed before the source began, so who created it cannot be known
    /// (`created_by` is then null for that reason, not for lack of looking; additive field).
    pub created_before_trace: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
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
    pub start: Option<Timestamp>,
    pub exited: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Flow {
    pub iface: Option<String>,
    pub proto: &'static str,
    pub src: String,
    pub sport: Option<u16>,
    pub dst: String,
    pub dport: Option<u16>,
    pub app: &'static str,
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub packets: u64,
    pub bytes: u64,
    pub first: Timestamp,
    pub last: Timestamp,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IkeExchange {
    #[serde(rename = "type")]
    pub kind: String,
    pub message_id: u32,
    pub response: bool,
    pub at: Timestamp,
    /// Sender address and port (additive field).
    pub src: String,
    pub sport: u16,
    /// Payload types in chain order, e.g. `["SA", "KE", "Nonce"]`; `["Encrypted"]` when the
    /// body is protected (additive field).
    pub payloads: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
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

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct IkeSa {
    pub version: u8,
    pub initiator_spi: String,
    pub responder_spi: Option<String>,
    pub initiator: String,
    pub initiator_port: u16,
    pub responder: String,
    pub responder_port: u16,
    pub nat_t: bool,
    pub state: &'static str,
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

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EspSa {
    pub spi: String,
    pub src: String,
    pub dst: String,
    pub encap: &'static str,
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

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SipMessage {
    pub at: Timestamp,
    pub src: String,
    pub dst: String,
    pub transport: &'static str,
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

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SipDialog {
    pub call_id: String,
    pub from: Option<String>,
    pub to: Option<String>,
    pub method: String,
    pub state: &'static str,
    pub messages: Vec<SipMessage>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SipRegistration {
    pub call_id: String,
    pub aor: Option<String>,
    pub registrar: Option<String>,
    pub result: Option<u16>,
    pub messages: Vec<SipMessage>,
    pub pid: Option<u32>,
    pub comm: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Sip {
    pub dialogs: Vec<SipDialog>,
    pub registrations: Vec<SipRegistration>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Verdict {
    pub subject: String,
    pub summary: String,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MalformedCount {
    pub reason: String,
    pub packets: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LinktypeCount {
    pub linktype: u32,
    pub name: String,
    pub frames: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InputError {
    pub input: String,
    pub offset: u64,
    pub message: String,
}

impl Report {
    /// The `--json` document: pretty-printed, deterministic, with a trailing newline.
    pub fn to_json(&self) -> String {
        // serde_json writes UTF-8: this check never fails.
        String::from_utf8(self.to_json_bytes()).expect("serde_json writes UTF-8")
    }

    /// [`Report::to_json`] as bytes, for writing straight out without the UTF-8 check.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut s = serde_json::to_vec_pretty(self).expect("report serialises");
        s.push(b'\n');
        s
    }
}

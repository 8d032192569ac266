//! The report: what tuntrace tells about a capture or a live session.
//!
//! These types are the one definition of the `--json` contract (`tuntrace.report/1`,
//! docs/report-schema.md): serde writes and reads the document from them, field by field in
//! the order each struct declares them, `None` as `null`, enums as the names given in
//! `names!`. Fields are only ever added.
//!
//! The modules hold the types by section: `names` the enums (their values listed once, by the
//! `names!` macro), `time` the report's [`Time`], `host` interfaces, processes and sockets,
//! `flow` flows, `ipsec` IKE and ESP SAs, `sip` SIP dialogs and registrations; this file the
//! document itself, its counts and its verdicts. [`text`] and [`ladder`] write it for people.

use std::io;

use serde::{Deserialize, Serialize};

pub mod answer;
pub mod filter;
mod flow;
mod host;
pub mod host_facts;
mod ipsec;
pub mod ladder;
mod names;
mod pretty;
mod sip;
pub mod text;
mod time;
mod tunnel;

pub use flow::Flow;
pub use host::{CreatedBy, Interface, ProcRef, Process, Socket};
pub use ipsec::{EspSa, ExchangeCount, IkeExchange, IkeSa, Proposal};
pub use names::{
    App, Backend, DialogState, Encap, IkeState, InterfaceKind, Proto, Schema, SourceKind, Transport, TunnelKind,
    TunnelTransport, SCHEMA,
};
pub use sip::{MessageCount, Sip, SipDialog, SipMessage, SipRegistration};
pub use time::Time;
pub use tunnel::{GreSequence, GreTunnel, OpenVpnTunnel, Tunnel, WireGuardSession, WireGuardTunnel};

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
    /// `peers`, `xfrm`, `visibility`: what `explain` learns from the host (additive fields,
    /// at the top level of the JSON).
    #[serde(flatten)]
    pub host: host_facts::HostFacts,
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

/// Where a list that keeps only its first and latest items (an IKE SA's exchanges, a SIP
/// call's messages) skips, and how many items it skips there.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Elided {
    /// How many listed items come before the gap: those are the first ones seen, the rest of
    /// the list the latest ones.
    pub after: usize,
    /// Items seen in the gap and not listed.
    pub count: u64,
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
pub struct Verdict {
    pub subject: String,
    pub summary: String,
    pub evidence: Vec<String>,
    /// The id of the rule that gave it (`rules/verdicts.toml` or a user's file), `null` when
    /// no rule matched and the verdict says the purpose is unknown (additive field).
    #[serde(default)]
    pub rule: Option<String>,
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
    /// The input could not be opened or read at all (no such file, no permission): there is
    /// no damaged byte to name, so `offset` says nothing. Written only when true (additive).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unreadable: bool,
}

impl Report {
    /// The `--json` document: serde_json's pretty printing (two-space indent), deterministic,
    /// with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut v = Vec::new();
        self.write_json(&mut v).expect("a report always serializes");
        String::from_utf8(v).expect("serde_json writes UTF-8")
    }

    /// [`Report::to_json`] streamed into `out`; give it a buffered writer, since the
    /// serializer writes token by token.
    pub fn write_json(&self, mut out: impl io::Write) -> io::Result<()> {
        pretty::write(&mut out, self)?;
        out.write_all(b"\n")
    }
}

#[cfg(test)]
mod tests;

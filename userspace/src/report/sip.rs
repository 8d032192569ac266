//! SIP: dialogs and registrations, each with the messages kept of it.

use serde::{Deserialize, Serialize};

use super::{DialogState, Elided, Time, Transport};

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
    /// Every message of the Call-ID counted by kind and direction, in order of first sight:
    /// `messages` lists only the first and the latest few.
    pub message_counts: Vec<MessageCount>,
    /// Where `messages` skips messages and how many, `null` when it lists them all.
    pub messages_elided: Option<Elided>,
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
    /// Every message of the Call-ID counted by kind and direction, in order of first sight:
    /// `messages` lists only the first and the latest few.
    pub message_counts: Vec<MessageCount>,
    /// Where `messages` skips messages and how many, `null` when it lists them all.
    pub messages_elided: Option<Elided>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Sip {
    pub dialogs: Vec<SipDialog>,
    pub registrations: Vec<SipRegistration>,
}

/// How many messages of one kind (a request's method or a response's status) a Call-ID saw in
/// one direction. A row with neither method nor status counts the kinds past the rows a call
/// keeps (a crafted stream of ever new methods).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageCount {
    pub method: Option<String>,
    pub status: Option<u16>,
    /// Sent by the side that sent the first message seen of the Call-ID (normally the caller,
    /// or the registering user agent).
    pub forward: bool,
    pub count: u64,
}

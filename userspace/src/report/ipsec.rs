//! IPsec: IKE SAs with their exchanges and proposals, and ESP SAs.

use serde::{Deserialize, Serialize};

use super::{Elided, Encap, IkeState, ProcRef, Time};

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
    /// Every process seen sending or receiving its messages, first first: both ends' daemons
    /// when recordings of two hosts are replayed together (additive field).
    pub owners: Vec<ProcRef>,
    /// Index into `tunnels` of the tunnel that carried it (additive field).
    pub tunnel: Option<usize>,
    /// Why messages of this SA were damaged after their header, each reason once (at most
    /// [`MAX_IKE_MALFORMED`](crate::aggregate::MAX_IKE_MALFORMED)): the header still ties them to
    /// the SA, so version, SPIs and exchanges stand (additive field).
    #[serde(default)]
    pub malformed: Vec<String>,
    /// Every message of the SA counted by exchange type and direction, in order of first
    /// sight: `exchanges` lists only the first and the latest few (additive field).
    pub exchange_counts: Vec<ExchangeCount>,
    /// Where `exchanges` skips messages and how many, `null` when it lists them all (additive
    /// field).
    pub exchanges_elided: Option<Elided>,
}

/// How many messages of one exchange type an IKE SA saw in one direction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExchangeCount {
    #[serde(rename = "type")]
    pub kind: String,
    pub response: bool,
    /// Sent by the SA's original initiator (IKEv2's I flag; inferred from the sender for IKEv1).
    pub from_initiator: bool,
    pub count: u64,
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
    /// Packets whose sequence number was seen before: replays and duplicates (live sessions,
    /// which count in the kernel, also count reordering here).
    pub seq_repeats: u64,
    /// Packets that came after a higher sequence number and filled a gap (not in `seq_gaps`).
    #[serde(default)]
    pub seq_reordered: u64,
    /// The process whose socket carried it (ESP in UDP), when the source attributes packets.
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// The SA's packets read as NULL-encrypted (integrity only, RFC 2410): what they carry was
    /// decoded like any other packet.
    #[serde(default)]
    pub null_encryption: bool,
}

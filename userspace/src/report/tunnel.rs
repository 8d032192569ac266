//! `tunnels[]`: the tunnels a capture or live session showed on the wire, whether their
//! contents could be read (IP in IP, GRE, L2TP, PPPoE, GTP-U, VXLAN, Geneve, Teredo: the inner
//! packets are decoded as packets of their own) or not (WireGuard, OpenVPN: recognised by
//! their headers, counted and paired, never decrypted).

use serde::{Deserialize, Serialize};

use super::{Time, TunnelKind, TunnelTransport};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Tunnel {
    pub kind: TunnelKind,
    pub transport: TunnelTransport,
    /// The interface its outer packets were seen on.
    pub iface: Option<String>,
    /// The end that sent the first packet seen, and the other; ports `null` without a
    /// transport that has them.
    pub src: String,
    pub sport: Option<u16>,
    pub dst: String,
    pub dport: Option<u16>,
    /// Identifiers seen, in order: WireGuard indices, GTP TEIDs (8 hex digits) and OpenVPN
    /// session IDs (16 hex digits) in lower-case hex; VNIs, GRE keys, PPTP call IDs, L2TP
    /// tunnel and session IDs, PPPoE session IDs in decimal.
    pub ids: Vec<String>,
    /// Identifiers past the cap on `ids`, not listed.
    pub ids_elided: u64,
    /// What the headers say of the tunnel's form: `pptp`, `erspan`, `l2tpv2`, `l2tpv3`;
    /// OpenVPN's control-channel protection (`plain`, `tls-auth`, `tls-crypt`, `tls-crypt-v2`).
    pub variant: Option<String>,
    /// Tunnel packets (OpenVPN over TCP: OpenVPN packets, not segments) and their bytes as
    /// the outer frames count them.
    pub packets: u64,
    pub bytes: u64,
    pub first: Time,
    pub last: Time,
    /// Flows of the packets it carried (`flows[].tunnel` names this tunnel).
    pub inner_flows: u64,
    /// The process whose packets these are, when the source knows it.
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// Index into `tunnels` of the tunnel this one was carried in (nested tunnels).
    pub tunnel: Option<usize>,
    pub wireguard: Option<WireGuardTunnel>,
    pub openvpn: Option<OpenVpnTunnel>,
    /// GRE with sequence numbers (RFC 2890, PPTP): each sender's numbers per key.
    pub gre: Option<GreTunnel>,
}

/// What WireGuard's headers show between two endpoints.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WireGuardTunnel {
    pub initiations: u64,
    pub responses: u64,
    pub cookie_replies: u64,
    pub transport_packets: u64,
    /// Completed handshakes (an initiation and the response naming its index).
    pub handshakes: u64,
    /// Handshakes after the first: new session keys between the same endpoints.
    pub rekeys: u64,
    /// Transport packets whose receiver index no handshake in view named (sessions that began
    /// before the capture).
    pub unpaired_transport: u64,
    pub sessions: Vec<WireGuardSession>,
    pub sessions_elided: u64,
}

/// One handshake's session: the initiator's and responder's indices, and the transport data
/// each way (data to the responder carries the responder's index, and back the initiator's).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WireGuardSession {
    pub initiator_index: String,
    pub responder_index: Option<String>,
    /// The initiator's address and port.
    pub initiator: String,
    pub started: Time,
    pub packets_to_responder: u64,
    pub bytes_to_responder: u64,
    pub packets_to_initiator: u64,
    pub bytes_to_initiator: u64,
}

/// What OpenVPN's headers show between two endpoints.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OpenVpnTunnel {
    /// Session IDs the client sent (the side of the hard reset from a client), then the
    /// server's, 16 hex digits each.
    pub client_session_ids: Vec<String>,
    pub server_session_ids: Vec<String>,
    pub key_ids: Vec<u8>,
    pub peer_ids: Vec<u32>,
    pub control_packets: u64,
    pub ack_packets: u64,
    pub data_packets: u64,
    pub data_bytes: u64,
    /// The address and port of the client, when a client's hard reset was seen.
    pub client: Option<String>,
}

/// What GRE's sequence numbers show of a tunnel.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct GreTunnel {
    /// One per sender and key (or PPTP call ID), at most 16, in order of first packet.
    pub sequences: Vec<GreSequence>,
    /// Packets with a sequence or acknowledgment number of senders and keys past the 16
    /// followed.
    pub unfollowed_packets: u64,
}

/// One GRE sender's sequence numbers under one key, in serial number arithmetic (they wrap).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GreSequence {
    /// The sending end's address.
    pub sender: String,
    /// The GRE key or PPTP call ID the packets carried.
    pub key: Option<u32>,
    /// Packets with a sequence number.
    pub packets: u64,
    /// The lowest and highest numbers (`None` when the sender only acknowledged).
    pub first_seq: Option<u32>,
    pub last_seq: Option<u32>,
    /// Numbers skipped: lost, or not arrived yet (a late packet takes its number out again).
    pub seq_gaps: u64,
    /// Packets whose number was seen before: duplicates and replays.
    pub seq_repeats: u64,
    /// Packets that came after a higher number and filled a gap.
    pub seq_reordered: u64,
    /// Numbers 65,536 or more ahead, or more than 64 behind: taken as the sender starting over.
    pub seq_resyncs: u64,
    /// Packets with an acknowledgment number (PPTP), with or without a number of their own.
    pub acks: u64,
    /// The acknowledgment number of the latest of them.
    pub last_ack: Option<u32>,
}

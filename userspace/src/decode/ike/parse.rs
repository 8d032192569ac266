//! [`parse`]: one IKE message read into an owned [`IkeMessage`] with every field rendered.
//! The aggregator scans instead ([`super::scan`]); the tests and the corpus conformance use
//! this one, and hold the scan to it.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::header::{header, Payloads, V1_FLAG_COMMIT};
use super::names::{self, exchange_label, notify_name, payload_name, proto_name, Group};
use super::payloads::{
    delete_fields, id_fields, ke_group, notify_fields, uint, v1_fragment, v2_fragment, Attributes, DeleteFields,
    Fragment, IdFields, NotifyFields,
};
use super::proposals::{v1_sa, v2_sa, Proposal};
use super::{hex, MAX_ATTRIBUTES};
use crate::decode::{be16, be32, Malformed};

/// One decoded IKE message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IkeMessage {
    /// Major version, 1 or 2.
    pub version: u8,
    pub minor_version: u8,
    pub initiator_spi: u64,
    pub responder_spi: u64,
    /// Header "next payload": the type of the first payload.
    pub first_payload: u8,
    pub exchange_type: u8,
    /// IANA name, or `EXCHANGE_<n>` for unassigned numbers.
    pub exchange_name: String,
    pub flags: u8,
    pub message_id: u32,
    /// Header length field.
    pub length: u32,
    /// IKEv2 I flag (sent by the original initiator); `None` for IKEv1.
    pub initiator: Option<bool>,
    /// IKEv2 R flag; `None` for IKEv1, which has no such flag.
    pub is_response: Option<bool>,
    /// IKEv1 E flag set, or an IKEv2 SK/SKF payload present.
    pub encrypted: bool,
    /// IKEv1 C flag.
    pub commit: bool,
    /// Payload type names in chain order (`"SA"`, `"KE"`, …; `"Encrypted"` for SK and for an
    /// IKEv1 body under the E flag; `PAYLOAD_<n>` when unknown).
    pub payloads: Vec<String>,
    /// The same chain as numbers (empty for an IKEv1 encrypted body).
    pub payload_types: Vec<u8>,
    /// Proposals of the SA payload(s). IKEv1: one entry per transform (each is a full suite);
    /// IKEv2: one per proposal. Child SA SPIs appear in `other` as `spi=<hex>`.
    pub proposals: Vec<Proposal>,
    /// IKEv2 KE payload group (IKEv1 KE carries none).
    pub ke_group: Option<Group>,
    pub notifies: Vec<Notify>,
    /// Vendor IDs by name (see [`names::vendor_id`]).
    pub vendor_ids: Vec<String>,
    pub deletes: Vec<Delete>,
    pub ids: Vec<Identity>,
    /// IKEv2 CP / IKEv1 Mode-CFG payload type (`CFG_REQUEST`, `CFG_REPLY`, …).
    pub config_type: Option<String>,
    pub config: Vec<ConfigAttribute>,
    /// Number of encrypted payloads (SK, SKF, or 1 for an IKEv1 E-flag body).
    pub encrypted_payloads: u32,
    /// IKEv2 SKF (RFC 7383) or IKEv1 vendor fragmentation payload.
    pub fragment: Option<Fragment>,
    /// Why the payload walk stopped or a payload body could not be read; header fields above
    /// are valid regardless.
    pub malformed: Option<&'static str>,
}

impl IkeMessage {
    /// Initiator SPI as the report writes it (16 lower-case hex digits).
    pub fn initiator_spi_hex(&self) -> String {
        format!("{:016x}", self.initiator_spi)
    }

    /// Responder SPI as the report writes it; `None` while still zero (first request).
    pub fn responder_spi_hex(&self) -> Option<String> {
        (self.responder_spi != 0).then(|| format!("{:016x}", self.responder_spi))
    }

    /// Notify names in payload order (the report's `notifies`).
    pub fn notify_names(&self) -> Vec<String> {
        self.notifies.iter().map(|n| n.name.clone()).collect()
    }

    /// The peer speaks NAT traversal: IKEv2 NAT_DETECTION_* notifies, or IKEv1 NAT-D payloads
    /// or an RFC 3947 / draft NAT-T vendor ID. Whether a NAT sits on the path needs the
    /// addresses and is the aggregator's call.
    pub fn announces_nat_t(&self) -> bool {
        self.notifies.iter().any(|n| n.kind == 16388 || n.kind == 16389)
            || self.payload_types.iter().any(|&t| self.version == 1 && (t == 20 || t == 130))
            || self.vendor_ids.iter().any(|v| v == "RFC 3947 NAT-T" || v.starts_with("draft-ietf-ipsec-nat-t-ike"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    pub kind: u16,
    /// IANA name, or `NOTIFY_<n>`.
    pub name: String,
    pub protocol: u8,
    /// SPI as lower-case hex, when the notify carries one (REKEY_SA, DPD, …).
    pub spi: Option<String>,
    pub data_len: usize,
    /// Decoded data for notifies whose data matters to the report: the group asked for by
    /// INVALID_KE_PAYLOAD, the hashes of SIGNATURE_HASH_ALGORITHMS, DPD sequence numbers,
    /// COOKIE and NAT detection hashes as hex.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    pub protocol: u8,
    /// `"IKE"`, `"AH"`, `"ESP"`… or `PROTO_<n>`.
    pub protocol_name: String,
    /// SPIs as lower-case hex (IKEv1 ISAKMP deletes carry both cookies, 32 hex digits).
    pub spis: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `"IDi"`, `"IDr"` (IKEv2) or `"ID"` (IKEv1).
    pub payload: &'static str,
    pub id_type: u8,
    /// IANA name, or `ID_<n>`.
    pub type_name: String,
    /// Printable value: dotted/colon address, the FQDN or RFC 822 text, hex for binary ids.
    pub value: String,
    /// IKEv1 protocol/port fields (0 for IKEv2).
    pub protocol: u8,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigAttribute {
    pub attr_type: u16,
    /// IANA name, or `ATTR_<n>`.
    pub name: String,
    /// Printable value; `None` when empty (a request for the attribute).
    pub value: Option<String>,
}

/// Decode one IKE message (either version).
///
/// `Err` only when there is no usable header: fewer than 28 bytes or a major version other than
/// 1 or 2. Everything past the header that does not parse is reported in
/// [`IkeMessage::malformed`] with what was read before it.
pub fn parse(msg: &[u8]) -> Result<IkeMessage, Malformed> {
    let h = header(msg)?;
    let mut m = IkeMessage {
        version: h.version,
        minor_version: h.minor_version,
        initiator_spi: h.initiator_spi,
        responder_spi: h.responder_spi,
        first_payload: h.first_payload,
        exchange_type: h.exchange_type,
        exchange_name: exchange_label(h.version, h.exchange_type).into_owned(),
        flags: h.flags,
        message_id: h.message_id,
        length: h.length,
        initiator: h.initiator(),
        is_response: h.is_response(),
        malformed: h.length_damage,
        ..IkeMessage::default()
    };
    if h.version == 1 {
        m.encrypted = h.v1_encrypted();
        m.commit = h.flags & V1_FLAG_COMMIT != 0;
    }
    if h.v1_encrypted() {
        // Everything after the header is ciphertext; the declared first payload is all we know.
        m.payloads.push("Encrypted".to_string());
        m.encrypted_payloads = 1;
        return Ok(m);
    }
    walk(&mut m, h.payloads());
    Ok(m)
}

fn set_malformed(m: &mut IkeMessage, reason: &'static str) {
    if m.malformed.is_none() {
        m.malformed = Some(reason);
    }
}

fn walk(m: &mut IkeMessage, mut chain: Payloads<'_>) {
    for (ptype, body) in chain.by_ref() {
        m.payload_types.push(ptype);
        m.payloads.push(payload_name(m.version, ptype).into_owned());
        let res = if m.version == 2 { v2_payload(m, ptype, body) } else { v1_payload(m, ptype, body) };
        if let Err(e) = res {
            set_malformed(m, e.reason);
        }
    }
    if let Some(reason) = chain.stop {
        set_malformed(m, reason);
    }
}

fn v2_payload(m: &mut IkeMessage, t: u8, b: &[u8]) -> Result<(), Malformed> {
    match t {
        33 => v2_sa(b, Some(&mut m.proposals)),
        34 => {
            m.ke_group = Some(ke_group(b)?);
            Ok(())
        }
        35 | 36 => {
            let id = id_fields(2, b)?;
            m.ids.push(identity(2, if t == 35 { "IDi" } else { "IDr" }, &id));
            Ok(())
        }
        41 => {
            m.notifies.push(notify(2, &notify_fields(2, b)?));
            Ok(())
        }
        42 => {
            m.deletes.push(delete(&delete_fields(2, b)?));
            Ok(())
        }
        43 => {
            m.vendor_ids.push(names::vendor_id(b));
            Ok(())
        }
        46 => {
            m.encrypted = true;
            m.encrypted_payloads = m.encrypted_payloads.saturating_add(1);
            Ok(())
        }
        47 => {
            let cfg = *b.first().ok_or(Malformed::new("ike cp payload truncated"))?;
            m.config_type = Some(cfg_type_name(cfg));
            config(m, 2, b.get(4..).unwrap_or(&[]))
        }
        53 => {
            m.encrypted = true;
            m.encrypted_payloads = m.encrypted_payloads.saturating_add(1);
            m.fragment = Some(v2_fragment(b)?);
            Ok(())
        }
        _ => Ok(()),
    }
}

fn v1_payload(m: &mut IkeMessage, t: u8, b: &[u8]) -> Result<(), Malformed> {
    match t {
        1 => v1_sa(b, Some(&mut m.proposals)),
        5 => {
            m.ids.push(identity(1, "ID", &id_fields(1, b)?));
            Ok(())
        }
        11 => {
            m.notifies.push(notify(1, &notify_fields(1, b)?));
            Ok(())
        }
        12 => {
            m.deletes.push(delete(&delete_fields(1, b)?));
            Ok(())
        }
        13 => {
            m.vendor_ids.push(names::vendor_id(b));
            Ok(())
        }
        14 => {
            let cfg = *b.first().ok_or(Malformed::new("ike attributes payload truncated"))?;
            m.config_type = Some(cfg_type_name(cfg));
            config(m, 1, b.get(4..).unwrap_or(&[]))
        }
        132 => {
            m.fragment = Some(v1_fragment(b)?);
            Ok(())
        }
        _ => Ok(()),
    }
}

fn cfg_type_name(cfg: u8) -> String {
    names::cfg_type(cfg).map_or_else(|| format!("CFG_{cfg}"), str::to_string)
}

fn notify(version: u8, f: &NotifyFields<'_>) -> Notify {
    let (kind, data) = (f.kind, f.data);
    let detail = match (version, kind) {
        (2, 17) => be16(data, 0).map(|g| Group::new(g).label()),
        (2, 16431) => {
            let hashes: Vec<String> = data
                .chunks_exact(2)
                .take(MAX_ATTRIBUTES)
                .map(|c| {
                    let h = u16::from_be_bytes([c[0], c[1]]);
                    names::v2_sig_hash(h).map_or_else(|| format!("HASH_{h}"), str::to_string)
                })
                .collect();
            Some(hashes.join(","))
        }
        (2, 16388..=16390) if !data.is_empty() => Some(hex(data)),
        (1, 36136 | 36137) => be32(data, 0).map(|s| format!("seq={s}")),
        _ => None,
    };
    Notify {
        kind,
        name: notify_name(version, kind).into_owned(),
        protocol: f.protocol,
        spi: (!f.spi.is_empty()).then(|| hex(f.spi)),
        data_len: data.len(),
        detail,
    }
}

fn delete(f: &DeleteFields<'_>) -> Delete {
    Delete {
        protocol: f.protocol,
        protocol_name: proto_name(f.protocol),
        spis: match f.spi_size {
            0 => Vec::new(),
            n => f.spis.chunks_exact(n).map(hex).collect(),
        },
    }
}

fn text(b: &[u8]) -> String {
    // Identities and config strings come from the peer: keep them printable so a report line
    // can never carry control characters.
    String::from_utf8_lossy(b).chars().map(|c| if c.is_control() { '.' } else { c }).collect()
}

fn ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    Some(Ipv4Addr::from(<[u8; 4]>::try_from(b.get(..4)?).ok()?))
}

fn ipv6(b: &[u8]) -> Option<Ipv6Addr> {
    Some(Ipv6Addr::from(<[u8; 16]>::try_from(b.get(..16)?).ok()?))
}

pub(super) fn identity(version: u8, payload: &'static str, f: &IdFields<'_>) -> Identity {
    let (id_type, d) = (f.id_type, f.data);
    let value = match (version, id_type) {
        (_, 1) if d.len() == 4 => ipv4(d).map(|a| a.to_string()),
        (_, 5) if d.len() == 16 => ipv6(d).map(|a| a.to_string()),
        (_, 2 | 3) => Some(text(d)),
        // IKEv1 subnets (address/mask) and ranges (first-last), IPv4 and IPv6.
        (1, 4 | 7) if d.len() == 8 => {
            let a = |at: usize| ipv4(&d[at..]).unwrap_or(Ipv4Addr::UNSPECIFIED);
            Some(format!("{}{}{}", a(0), if id_type == 4 { '/' } else { '-' }, a(4)))
        }
        (1, 6 | 8) if d.len() == 32 => {
            let a = |at: usize| ipv6(&d[at..]).unwrap_or(Ipv6Addr::UNSPECIFIED);
            Some(format!("{}{}{}", a(0), if id_type == 6 { '/' } else { '-' }, a(16)))
        }
        // KEY_ID is opaque but often text (carrier NAIs, user names): show text when it is.
        (_, 11) if !d.is_empty() && d.iter().all(|&c| (0x20..0x7f).contains(&c)) => Some(text(d)),
        _ => None,
    }
    .unwrap_or_else(|| hex(d));
    Identity {
        payload,
        id_type,
        type_name: names::id_type(version, id_type).map_or_else(|| format!("ID_{id_type}"), str::to_string),
        value,
        protocol: f.protocol,
        port: f.port,
    }
}

fn cfg_value(t: u16, v: &[u8]) -> String {
    match (t, v.len()) {
        // Addresses, IPv4 masks and P-CSCF/DNS servers.
        (1..=4 | 6 | 20 | 27, 4) => ipv4(v).map(|a| a.to_string()).unwrap_or_default(),
        (13, 8) => {
            format!("{}/{}", ipv4(v).unwrap_or(Ipv4Addr::UNSPECIFIED), ipv4(&v[4..]).unwrap_or(Ipv4Addr::UNSPECIFIED))
        }
        (10 | 12 | 19 | 21 | 28, 16) => ipv6(v).map(|a| a.to_string()).unwrap_or_default(),
        // IPv6 address/subnet + prefix length.
        (8 | 15 | 18, 17) => format!("{}/{}", ipv6(v).unwrap_or(Ipv6Addr::UNSPECIFIED), v[16]),
        (7 | 25 | 16521 | 16524 | 16526 | 28672 | 28674 | 28682, _) => text(v),
        // Numbers: expiry, XAUTH type/status, Unity flags.
        (_, 1..=4) => uint(v).unwrap_or(0).to_string(),
        _ => hex(v),
    }
}

fn config(m: &mut IkeMessage, version: u8, b: &[u8]) -> Result<(), Malformed> {
    let attrs = Attributes::config(b, version, m.config.len());
    for a in attrs {
        let (ty, val) = a?;
        m.config.push(ConfigAttribute {
            attr_type: ty,
            name: names::cfg_attribute(ty).map_or_else(|| format!("ATTR_{ty}"), str::to_string),
            value: (!val.is_empty()).then(|| cfg_value(ty, val)),
        });
    }
    Ok(())
}

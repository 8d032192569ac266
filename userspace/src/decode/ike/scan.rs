//! [`scan`]: the checks of the owned parse without rendering, for the aggregator, which
//! renders from a [`Scan`] only what an SA keeps.

use std::borrow::Cow;

use super::header::{header, Header};
use super::names::{exchange_label, known_notify, payload_name, Group};
use super::payloads::{delete_fields, id_fields, ke_group, notify_fields, v1_fragment, v2_fragment, Attributes};
use super::proposals::{v1_sa, v2_sa, Proposal};
use crate::decode::Malformed;

/// What [`scan`] learns from one message. The header and the flags are read once; the lists
/// (payload names, notifies, vendor IDs, proposals) are read again from the packet by the
/// methods below, so a caller renders only those it keeps.
#[derive(Debug, Clone)]
pub struct Scan<'a> {
    pub header: Header<'a>,
    /// Number of encrypted payloads (SK, SKF, or 1 for an IKEv1 E-flag body).
    pub encrypted_payloads: u32,
    /// IKEv2 KE payload group (the last one, as in [`IkeMessage::ke_group`](super::IkeMessage::ke_group)).
    pub ke_group: Option<Group>,
    /// Same reason [`parse`](super::parse()) gives in [`IkeMessage::malformed`](super::IkeMessage::malformed).
    pub malformed: Option<&'static str>,
    /// An SA payload is present (its proposals may still be empty).
    pub has_sa: bool,
    /// A well-formed Notify payload is present.
    pub has_notify: bool,
    pub has_vendor_id: bool,
    /// A cleartext Delete payload for the IKE SA itself.
    pub deletes_ike_sa: bool,
    /// A cleartext error notify (IKEv2 type < 16384, IKEv1 < 8192), e.g. NO_PROPOSAL_CHOSEN.
    pub error_notify: bool,
    /// NAT_DETECTION_* notifies or IKEv1 NAT-D payloads.
    pub nat_detection: bool,
    /// Entries in [`Scan::payload_names`].
    pub payload_count: usize,
}

/// Check one IKE message as [`parse`](super::parse()) does, without rendering it: same `Err` cases, same
/// [`Scan::malformed`] reason as [`IkeMessage::malformed`](super::IkeMessage::malformed).
pub fn scan(msg: &[u8]) -> Result<Scan<'_>, Malformed> {
    let header = header(msg)?;
    let mut s = Scan {
        header,
        encrypted_payloads: 0,
        ke_group: None,
        malformed: header.length_damage,
        has_sa: false,
        has_notify: false,
        has_vendor_id: false,
        deletes_ike_sa: false,
        error_notify: false,
        nat_detection: false,
        payload_count: 0,
    };
    if header.v1_encrypted() {
        s.encrypted_payloads = 1;
        s.payload_count = 1;
        return Ok(s);
    }
    let mut chain = header.payloads();
    // Config attributes are limited per message, across CP payloads (see `config`).
    let mut cfg_seen = 0;
    for (t, b) in chain.by_ref() {
        s.payload_count += 1;
        let res = if header.version == 2 { s.check_v2(t, b, &mut cfg_seen) } else { s.check_v1(t, b, &mut cfg_seen) };
        if let Err(e) = res {
            s.malformed.get_or_insert(e.reason);
        }
    }
    if let Some(reason) = chain.stop {
        s.malformed.get_or_insert(reason);
    }
    Ok(s)
}

impl<'a> Scan<'a> {
    fn check_v2(&mut self, t: u8, b: &[u8], cfg_seen: &mut usize) -> Result<(), Malformed> {
        match t {
            33 => {
                self.has_sa = true;
                v2_sa(b, None)
            }
            34 => {
                self.ke_group = Some(ke_group(b)?);
                Ok(())
            }
            35 | 36 => id_fields(2, b).map(drop),
            41 => self.saw_notify(notify_fields(2, b)?.kind),
            42 => self.saw_delete(delete_fields(2, b)?.protocol),
            43 => {
                self.has_vendor_id = true;
                Ok(())
            }
            46 => {
                self.encrypted_payloads = self.encrypted_payloads.saturating_add(1);
                Ok(())
            }
            47 => {
                b.first().ok_or(Malformed::new("ike cp payload truncated"))?;
                check_config(2, b.get(4..).unwrap_or(&[]), cfg_seen)
            }
            53 => {
                self.encrypted_payloads = self.encrypted_payloads.saturating_add(1);
                v2_fragment(b).map(drop)
            }
            _ => Ok(()),
        }
    }

    fn check_v1(&mut self, t: u8, b: &[u8], cfg_seen: &mut usize) -> Result<(), Malformed> {
        match t {
            1 => {
                self.has_sa = true;
                v1_sa(b, None)
            }
            5 => id_fields(1, b).map(drop),
            11 => self.saw_notify(notify_fields(1, b)?.kind),
            12 => self.saw_delete(delete_fields(1, b)?.protocol),
            13 => {
                self.has_vendor_id = true;
                Ok(())
            }
            14 => {
                b.first().ok_or(Malformed::new("ike attributes payload truncated"))?;
                check_config(1, b.get(4..).unwrap_or(&[]), cfg_seen)
            }
            20 | 130 => {
                self.nat_detection = true;
                Ok(())
            }
            132 => v1_fragment(b).map(drop),
            _ => Ok(()),
        }
    }

    fn saw_notify(&mut self, kind: u16) -> Result<(), Malformed> {
        let version = self.header.version;
        self.has_notify = true;
        // IKEv2 error notifies are below 16384, IKEv1's below 8192.
        let errors_below = if version == 2 { 16384 } else { 8192 };
        self.error_notify |= kind != 0 && kind < errors_below;
        self.nat_detection |= known_notify(version, kind).is_some_and(|n| n.starts_with("NAT_DETECTION"));
        Ok(())
    }

    fn saw_delete(&mut self, protocol: u8) -> Result<(), Malformed> {
        self.deletes_ike_sa |= protocol == 1;
        Ok(())
    }

    /// IANA exchange name, or `EXCHANGE_<n>`.
    pub fn exchange_name(&self) -> Cow<'static, str> {
        exchange_label(self.header.version, self.header.exchange_type)
    }

    /// Payload names in chain order, as [`IkeMessage::payloads`](super::IkeMessage::payloads).
    pub fn payload_names(&self) -> impl Iterator<Item = Cow<'static, str>> + 'a {
        let version = self.header.version;
        let body = self.header.v1_encrypted().then_some(Cow::Borrowed("Encrypted"));
        body.into_iter().chain(self.header.payloads().map(move |(t, _)| payload_name(version, t)))
    }

    /// Types of the well-formed Notify payloads in order, as in [`IkeMessage::notifies`](super::IkeMessage::notifies).
    pub fn notify_kinds(&self) -> impl Iterator<Item = u16> + 'a {
        let version = self.header.version;
        let notify = if version == 2 { 41 } else { 11 };
        self.header
            .payloads()
            .filter(move |&(t, _)| t == notify)
            .filter_map(move |(_, b)| notify_fields(version, b).ok().map(|n| n.kind))
    }

    /// Vendor ID payload bodies in order (name them with [`names::vendor_id_name`](super::names::vendor_id_name)).
    pub fn vendor_ids(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let vid = if self.header.version == 2 { 43 } else { 13 };
        self.header.payloads().filter(move |&(t, _)| t == vid).map(|(_, b)| b)
    }

    /// The proposals [`IkeMessage::proposals`](super::IkeMessage::proposals) holds, rendered now.
    pub fn proposals(&self) -> Vec<Proposal> {
        let mut out = Vec::new();
        if !self.has_sa {
            return out;
        }
        let version = self.header.version;
        for (t, b) in self.header.payloads() {
            // Damage was counted by `scan`; what was read before it is kept, as `parse` does.
            let _ = match (version, t) {
                (2, 33) => v2_sa(b, Some(&mut out)),
                (1, 1) => v1_sa(b, Some(&mut out)),
                _ => Ok(()),
            };
        }
        out
    }
}

/// The checks of [`config`]; `seen` carries the message's attribute count across CP payloads.
fn check_config(version: u8, b: &[u8], seen: &mut usize) -> Result<(), Malformed> {
    let mut attrs = Attributes::config(b, version, *seen);
    let res = attrs.try_for_each(|a| a.map(drop));
    *seen = attrs.count;
    res
}

//! Readers of payload bodies shared by [`super::parse`] and [`super::scan`]: the fields of
//! Notify, Delete and ID payloads, data attributes, KE and fragment payloads. They check and
//! borrow; rendering is the owned parse's.

use super::names::Group;
use super::{MAX_ATTRIBUTES, MAX_DELETE_SPIS};
use crate::decode::{be16, Malformed};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    pub number: u16,
    /// IKEv2 carries the total; IKEv1 fragments only flag the last one (then `Some(number)`).
    pub total: Option<u16>,
}

pub(super) fn ke_group(b: &[u8]) -> Result<Group, Malformed> {
    be16(b, 0).map(Group::new).ok_or(Malformed::new("ike ke payload truncated"))
}

pub(super) fn v2_fragment(b: &[u8]) -> Result<Fragment, Malformed> {
    let (Some(number), Some(total)) = (be16(b, 0), be16(b, 2)) else {
        return Err(Malformed::new("ike skf payload truncated"));
    };
    Ok(Fragment { number, total: Some(total) })
}

/// Cisco/strongSwan IKEv1 fragment: id(2) number(1) flags(1, bit 0 = last).
pub(super) fn v1_fragment(b: &[u8]) -> Result<Fragment, Malformed> {
    let (Some(&number), Some(&flags)) = (b.get(2), b.get(3)) else {
        return Err(Malformed::new("ike fragment payload truncated"));
    };
    let number = u16::from(number);
    Ok(Fragment { number, total: (flags & 1 != 0).then_some(number) })
}

/// IKEv1 payloads that share an IKEv2 layout put a DOI (4 bytes) in front of it.
fn skip_doi(version: u8, b: &[u8]) -> &[u8] {
    if version == 1 {
        b.get(4..).unwrap_or(&[])
    } else {
        b
    }
}

/// A Notify payload's fields: protocol(1) spi size(1) type(2) spi data.
pub(super) struct NotifyFields<'a> {
    pub(super) protocol: u8,
    pub(super) kind: u16,
    pub(super) spi: &'a [u8],
    pub(super) data: &'a [u8],
}

pub(super) fn notify_fields(version: u8, b: &[u8]) -> Result<NotifyFields<'_>, Malformed> {
    let b = skip_doi(version, b);
    let (Some(&protocol), Some(&spi_size), Some(kind)) = (b.first(), b.get(1), be16(b, 2)) else {
        return Err(Malformed::new("ike notify payload truncated"));
    };
    let spi_end = 4 + usize::from(spi_size);
    let spi = b.get(4..spi_end).ok_or(Malformed::new("ike notify spi truncated"))?;
    Ok(NotifyFields { protocol, kind, spi, data: &b[spi_end..] })
}

/// A Delete payload's fields: protocol(1) spi size(1) count(2), then the SPIs, which
/// `spis` holds exactly (at most [`MAX_DELETE_SPIS`] of them).
pub(super) struct DeleteFields<'a> {
    pub(super) protocol: u8,
    pub(super) spi_size: usize,
    pub(super) spis: &'a [u8],
}

pub(super) fn delete_fields(version: u8, b: &[u8]) -> Result<DeleteFields<'_>, Malformed> {
    let b = skip_doi(version, b);
    let (Some(&protocol), Some(&spi_size), Some(n)) = (b.first(), b.get(1), be16(b, 2)) else {
        return Err(Malformed::new("ike delete payload truncated"));
    };
    let spi_size = usize::from(spi_size);
    let listed = spi_size * usize::from(n).min(MAX_DELETE_SPIS);
    let spis = b.get(4..).unwrap_or(&[]).get(..listed).ok_or(Malformed::new("ike delete spis truncated"))?;
    Ok(DeleteFields { protocol, spi_size, spis })
}

/// An ID payload's fields. IKEv1: type(1) protocol(1) port(2) data; IKEv2: type(1)
/// reserved(3) data.
pub(super) struct IdFields<'a> {
    pub(super) id_type: u8,
    pub(super) protocol: u8,
    pub(super) port: u16,
    pub(super) data: &'a [u8],
}

pub(super) fn id_fields(version: u8, b: &[u8]) -> Result<IdFields<'_>, Malformed> {
    let (Some(&id_type), Some(data)) = (b.first(), b.get(4..)) else {
        return Err(Malformed::new("ike id payload truncated"));
    };
    let (protocol, port) = if version == 1 { (b[1], u16::from_be_bytes([b[2], b[3]])) } else { (0, 0) };
    Ok(IdFields { id_type, protocol, port, data })
}

/// Data attributes as `(type without the AF bit, value bytes)`: those of SA transforms, and the
/// config attributes of CP / Mode-CFG payloads. With the AF bit set an attribute is TV (two
/// bytes of value), as in every SA attribute and IKEv1 Mode-CFG; IKEv2 CP payloads reserve the
/// bit, so there it is masked and the attribute read as TLV. Yields one `Err` at damage or past
/// [`MAX_ATTRIBUTES`] (for config attributes counted over the whole message), then ends.
pub(super) struct Attributes<'a> {
    rest: &'a [u8],
    pub(super) count: usize,
    /// The AF bit means TV format.
    tv: bool,
    /// Config attributes: named so in malformed reasons.
    cfg: bool,
}

impl<'a> Attributes<'a> {
    pub(super) fn new(b: &'a [u8]) -> Self {
        Attributes { rest: b, count: 0, tv: true, cfg: false }
    }

    /// Config attributes of a CP (IKEv2) or Mode-CFG (IKEv1) payload, after `seen` earlier ones.
    pub(super) fn config(b: &'a [u8], version: u8, seen: usize) -> Self {
        Attributes { rest: b, count: seen, tv: version == 1, cfg: true }
    }

    fn fail(&mut self, reason: &'static str) -> Option<Result<(u16, &'a [u8]), Malformed>> {
        self.rest = &[];
        Some(Err(Malformed::new(reason)))
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(u16, &'a [u8]), Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.rest;
        if b.is_empty() {
            return None;
        }
        if self.count >= MAX_ATTRIBUTES {
            return self.fail("ike too many attributes");
        }
        let (Some(t), Some(v)) = (be16(b, 0), be16(b, 2)) else {
            return self.fail(if self.cfg { "ike cfg attribute truncated" } else { "ike attribute truncated" });
        };
        self.count += 1;
        if self.tv && t & 0x8000 != 0 {
            self.rest = &b[4..];
            return Some(Ok((t & 0x7fff, &b[2..4])));
        }
        let end = 4 + usize::from(v);
        let Some(val) = b.get(4..end) else {
            return self.fail(if self.cfg {
                "ike cfg attribute length past end"
            } else {
                "ike attribute length past end"
            });
        };
        self.rest = &b[end..];
        Some(Ok((t & 0x7fff, val)))
    }
}

/// `Err` when [`Attributes`] would meet damage.
pub(super) fn check_attributes(b: &[u8]) -> Result<(), Malformed> {
    Attributes::new(b).try_for_each(|a| a.map(drop))
}

/// The attributes of a block [`check_attributes`] accepted.
pub(super) fn checked_attributes(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    Attributes::new(b).map_while(Result::ok)
}

/// Big-endian integer of up to 8 bytes (IKEv1 life durations are variable length).
pub(super) fn uint(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 8 {
        return None;
    }
    Some(v.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

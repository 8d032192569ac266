//! The fixed ISAKMP header, read the same way for both versions, and the payload chain
//! behind it; and the strict check that tells IKE from other UDP traffic.

use super::names::{exchange_name, known_payload};
use super::MAX_PAYLOADS;
use crate::decode::{be16, be32, Malformed};

/// ISAKMP header length, identical in both versions.
pub const HEADER_LEN: usize = 28;

const V1_FLAG_ENCRYPTION: u8 = 0x01;
pub(super) const V1_FLAG_COMMIT: u8 = 0x02;
const V2_FLAG_INITIATOR: u8 = 0x08;
const V2_FLAG_RESPONSE: u8 = 0x20;

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// Strict test for an IKE header, for UDP ports other than 500/4500 (and to tell IKE from
/// other traffic on them): version 1.0 or 2.0, an assigned exchange type, flags without
/// reserved bits, a non-zero initiator SPI, a known first payload, and a length field equal to
/// the datagram (or not longer than it when the message is a fragment).
pub fn looks_like_ike(payload: &[u8]) -> bool {
    if payload.len() < HEADER_LEN {
        return false;
    }
    let (Some(ispi), Some(len)) = (be64(payload, 0), be32(payload, 24)) else {
        return false;
    };
    let np = payload[16];
    let ver = payload[17];
    let exch = payload[18];
    let flags = payload[19];
    let version = match ver {
        0x10 => 1,
        0x20 => 2,
        _ => return false,
    };
    let flags_ok = if version == 1 { flags & 0xf8 == 0 } else { flags & !0x38 == 0 };
    let exch_ok = exchange_name(version, exch).is_some() && exch != 0;
    let len = len as usize;
    let fragment = (version == 2 && np == 53) || (version == 1 && np == 132);
    let len_ok = len == payload.len() || (fragment && len >= HEADER_LEN && len <= payload.len());
    ispi != 0 && flags_ok && exch_ok && len_ok && np != 0 && known_payload(version, np)
}

/// The fixed header of a message and the span its payload chain may use; read the same way by
/// [`parse`](super::parse()) and [`scan`](super::scan()).
#[derive(Debug, Clone, Copy)]
pub struct Header<'a> {
    /// Major version, 1 or 2.
    pub version: u8,
    pub minor_version: u8,
    pub initiator_spi: u64,
    pub responder_spi: u64,
    /// Header "next payload": the type of the first payload.
    pub first_payload: u8,
    pub exchange_type: u8,
    pub flags: u8,
    pub message_id: u32,
    /// Header length field.
    pub length: u32,
    /// The message cut at its length field, or at the capture's end when that comes first.
    pub(super) body: &'a [u8],
    /// A length field that does not fit the datagram; reported before anything in the chain.
    pub(super) length_damage: Option<&'static str>,
}

impl<'a> Header<'a> {
    /// IKEv1 E flag: everything after the header is ciphertext.
    pub fn v1_encrypted(&self) -> bool {
        self.version == 1 && self.flags & V1_FLAG_ENCRYPTION != 0
    }

    /// IKEv2 I flag (sent by the original initiator); `None` for IKEv1.
    pub fn initiator(&self) -> Option<bool> {
        (self.version == 2).then_some(self.flags & V2_FLAG_INITIATOR != 0)
    }

    /// IKEv2 R flag; `None` for IKEv1, which has no such flag.
    pub fn is_response(&self) -> Option<bool> {
        (self.version == 2).then_some(self.flags & V2_FLAG_RESPONSE != 0)
    }

    /// The cleartext payload chain; empty under the IKEv1 E flag.
    pub fn payloads(&self) -> Payloads<'a> {
        Payloads {
            msg: self.body,
            version: self.version,
            next: if self.v1_encrypted() { 0 } else { self.first_payload },
            at: HEADER_LEN,
            count: 0,
            stop: None,
        }
    }
}

/// Read the header. `Err` when there is none: fewer than 28 bytes, or a major version other
/// than 1 or 2.
pub(super) fn header(msg: &[u8]) -> Result<Header<'_>, Malformed> {
    if msg.len() < HEADER_LEN {
        return Err(Malformed::new("ike header truncated"));
    }
    let bad = || Malformed::new("ike header truncated");
    let ver = msg[17];
    let version = ver >> 4;
    if version != 1 && version != 2 {
        return Err(Malformed::new("ike major version unknown"));
    }
    let length = be32(msg, 24).ok_or_else(bad)?;
    // The length field bounds the chain; a capture cut short (snaplen) or a lying length
    // still lets us read whatever is present.
    let declared = length as usize;
    let (end, length_damage) = if declared < HEADER_LEN {
        (msg.len(), Some("ike length below header size"))
    } else if declared > msg.len() {
        (msg.len(), Some("ike length past datagram end"))
    } else {
        (declared, None)
    };
    Ok(Header {
        version,
        minor_version: ver & 0x0f,
        initiator_spi: be64(msg, 0).ok_or_else(bad)?,
        responder_spi: be64(msg, 8).ok_or_else(bad)?,
        first_payload: msg[16],
        exchange_type: msg[18],
        flags: msg[19],
        message_id: be32(msg, 20).ok_or_else(bad)?,
        length,
        body: &msg[..end],
        length_damage,
    })
}

/// The payload chain as `(type, body)` pairs in order. It ends at next-payload 0, after an
/// IKEv2 SK or SKF payload, or at damage, whose reason is then in [`Payloads::stop`].
#[derive(Debug, Clone)]
pub struct Payloads<'a> {
    msg: &'a [u8],
    version: u8,
    next: u8,
    at: usize,
    count: usize,
    /// Why the walk ended before next-payload 0, if it did.
    pub stop: Option<&'static str>,
}

impl Payloads<'_> {
    fn fail<T>(&mut self, reason: &'static str) -> Option<T> {
        self.stop = Some(reason);
        self.next = 0;
        None
    }
}

impl<'a> Iterator for Payloads<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next == 0 {
            return None;
        }
        if self.count >= MAX_PAYLOADS {
            return self.fail("ike too many payloads");
        }
        self.count += 1;
        let ptype = self.next;
        let (Some(&np), Some(plen)) = (self.msg.get(self.at), be16(self.msg, self.at + 2)) else {
            return self.fail("ike payload header truncated");
        };
        let plen = usize::from(plen);
        if plen < 4 {
            return self.fail("ike payload length below 4");
        }
        let Some(pend) = self.at.checked_add(plen).filter(|&e| e <= self.msg.len()) else {
            return self.fail("ike payload length past message end");
        };
        let body = &self.msg[self.at + 4..pend];
        // SK/SKF must be last: its "next payload" names the first *inner* payload.
        self.next = if self.version == 2 && (ptype == 46 || ptype == 53) { 0 } else { np };
        self.at = pend;
        Some((ptype, body))
    }
}

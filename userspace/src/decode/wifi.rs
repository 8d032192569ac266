//! IEEE 802.11 link layers, as a monitor-mode capture holds them: the bare frame (link type
//! 105) or behind the radio header a driver puts in front of it: radiotap (127), Prism (119),
//! AVS (163) and PPI (192).
//!
//! Only a data frame in the clear carries something to decode: its 802.11 header (three or four
//! addresses, QoS control, HT control) is followed by an LLC/SNAP header naming an ethertype,
//! as on Ethernet. Management and control frames, data frames without a body (null data),
//! protected (encrypted) frames, fragments after the first and A-MSDU aggregates are frames of
//! the link, not network packets: [`data_payload`] says `None` for them.

use crate::decode::{be16, be32, Malformed};

/// A radiotap header's Flags field: the frame ends with its 4-byte FCS.
const RADIOTAP_FCS: u8 = 0x10;
/// A radiotap header's Flags field: padding between the 802.11 header and the body, to a
/// multiple of four bytes.
const RADIOTAP_DATAPAD: u8 = 0x20;
/// Present words a radiotap header may chain (bit 31 of each announces another) before it is
/// taken for garbage.
const MAX_PRESENT_WORDS: usize = 16;
/// AVS header's magic (version 1 and 2), big-endian; Prism captures often hold this instead.
const AVS_MAGIC: u32 = 0x8021_1000;
/// The Prism header's usual size (message code, length, device name, ten 12-byte items).
const PRISM_HEADER: usize = 144;

/// The 802.11 frame behind a radiotap header, with the FCS removed when the header says the
/// frame has one, and whether the body is padded to a multiple of four bytes.
pub fn radiotap(b: &[u8]) -> Result<(&[u8], bool), Malformed> {
    const TRUNCATED: Malformed = Malformed::new("radiotap header truncated");
    let h = b.get(..8).ok_or(TRUNCATED)?;
    if h[0] != 0 {
        return Err(Malformed::new("radiotap version not 0"));
    }
    let len = usize::from(u16::from_le_bytes([h[2], h[3]]));
    if len < 8 {
        return Err(Malformed::new("radiotap header length below 8"));
    }
    let hdr = b.get(..len).ok_or(TRUNCATED)?;
    let first = le32(hdr, 4).ok_or(TRUNCATED)?;
    // The fields start after the last present word (each with bit 31 set announces another).
    let mut at = 4;
    let mut word = first;
    let mut words = 1;
    while word & (1 << 31) != 0 {
        words += 1;
        if words > MAX_PRESENT_WORDS {
            return Err(Malformed::new("radiotap present words too many"));
        }
        at += 4;
        word = le32(hdr, at).ok_or(TRUNCATED)?;
    }
    at += 4;
    let mut flags = 0;
    if first & 0b10 != 0 {
        // Flags (field 1) follows TSFT (field 0: 8 bytes, aligned to 8 from the header's start).
        if first & 0b01 != 0 {
            at = at.next_multiple_of(8) + 8;
        }
        flags = *hdr.get(at).ok_or(TRUNCATED)?;
    }
    let mut frame = &b[len..];
    if flags & RADIOTAP_FCS != 0 {
        frame = &frame[..frame.len().saturating_sub(4)];
    }
    Ok((frame, flags & RADIOTAP_DATAPAD != 0))
}

/// The 802.11 frame behind a Prism or AVS header (link type 119 holds either: the AVS magic
/// tells them apart, as Wireshark does).
pub fn prism(b: &[u8]) -> Result<&[u8], Malformed> {
    if be32(b, 0).is_some_and(|m| m & 0xffff_fff0 == AVS_MAGIC) {
        return avs(b);
    }
    // The message length is in the writer's byte order; the usual size when neither order
    // gives a sane one.
    let len = le32(b, 4).ok_or(Malformed::new("prism header truncated"))?;
    let len = [len, len.swap_bytes()]
        .into_iter()
        .map(|l| l as usize)
        .find(|l| (8..=1024).contains(l))
        .unwrap_or(PRISM_HEADER);
    b.get(len..).ok_or(Malformed::new("prism header truncated"))
}

/// The 802.11 frame behind an AVS header (link type 163): a big-endian header length at offset 4.
pub fn avs(b: &[u8]) -> Result<&[u8], Malformed> {
    let len = be32(b, 4).ok_or(Malformed::new("avs header truncated"))? as usize;
    if len < 8 {
        return Err(Malformed::new("avs header length below 8"));
    }
    b.get(len..).ok_or(Malformed::new("avs header truncated"))
}

/// A PPI header (link type 192): the link type of what follows, and what follows.
pub fn ppi(b: &[u8]) -> Result<(u32, &[u8]), Malformed> {
    const TRUNCATED: Malformed = Malformed::new("ppi header truncated");
    let h = b.get(..8).ok_or(TRUNCATED)?;
    if h[0] != 0 {
        return Err(Malformed::new("ppi version not 0"));
    }
    let len = usize::from(u16::from_le_bytes([h[2], h[3]]));
    if len < 8 {
        return Err(Malformed::new("ppi header length below 8"));
    }
    let dlt = le32(h, 4).ok_or(TRUNCATED)?;
    Ok((dlt, b.get(len..).ok_or(TRUNCATED)?))
}

/// The ethertype and network-layer bytes of an 802.11 data frame in the clear (LLC/SNAP,
/// RFC 1042 or 802.1H encapsulation); `None` for every frame that carries no packet (see the
/// module's text). `datapad`: the body starts at the next multiple of four bytes (radiotap's
/// flag).
pub fn data_payload(frame: &[u8], datapad: bool) -> Result<Option<(u16, &[u8])>, Malformed> {
    const TRUNCATED: Malformed = Malformed::new("802.11 header truncated");
    let fc = frame.get(..2).ok_or(TRUNCATED)?;
    let (fc0, fc1) = (fc[0], fc[1]);
    let (version, kind, subtype) = (fc0 & 0x03, (fc0 >> 2) & 0x03, fc0 >> 4);
    // Version 0 data frames with a body (subtypes with bit 2 set carry none: null data, CF
    // acknowledgements and polls alone).
    if version != 0 || kind != 2 || subtype & 0x04 != 0 {
        return Ok(None);
    }
    let qos = subtype & 0x08 != 0;
    let four_addresses = fc1 & 0x03 == 0x03;
    let mut len = 24 + if four_addresses { 6 } else { 0 };
    let qos_at = len;
    if qos {
        len += 2;
        // The Order bit in a QoS frame announces an HT/VHT control field.
        if fc1 & 0x80 != 0 {
            len += 4;
        }
    }
    let h = frame.get(..len).ok_or(TRUNCATED)?;
    let protected = fc1 & 0x40 != 0;
    let fragment = u16::from_le_bytes([h[22], h[23]]) & 0x000f;
    let amsdu = qos && h[qos_at] & 0x80 != 0;
    if protected || fragment != 0 || amsdu {
        return Ok(None);
    }
    if datapad {
        len = len.next_multiple_of(4);
    }
    let body = frame.get(len..).unwrap_or(&[]);
    match body {
        [] => Ok(None),
        [0xaa, 0xaa, 0x03, 0x00, 0x00, 0x00 | 0xf8, ..] => {
            let ethertype = be16(body, 6).ok_or(Malformed::new("802.11 snap header truncated"))?;
            Ok(Some((ethertype, &body[8..])))
        }
        [0xaa, 0xaa, ..] if body.len() < 8 => Err(Malformed::new("802.11 snap header truncated")),
        // Other LLC saps and vendor OUIs: not a network packet tuntrace reads.
        _ => Ok(None),
    }
}

#[inline]
fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 802.11 data frame: frame control, then the header the flags call for, then `body`.
    fn data(subtype: u8, flags: u8, seq_ctl: u16, qos: u16, body: &[u8]) -> Vec<u8> {
        let mut f = vec![0x08 | subtype << 4, flags, 0, 0];
        f.extend([0x11; 18]);
        f.extend(seq_ctl.to_le_bytes());
        if flags & 0x03 == 0x03 {
            f.extend([0x22; 6]);
        }
        if subtype & 0x08 != 0 {
            f.extend(qos.to_le_bytes());
            if flags & 0x80 != 0 {
                f.extend([0; 4]);
            }
        }
        f.extend(body);
        f
    }

    fn snap(ethertype: u16, rest: &[u8]) -> Vec<u8> {
        [&[0xaa, 0xaa, 0x03, 0, 0, 0][..], &ethertype.to_be_bytes(), rest].concat()
    }

    #[test]
    fn data_frames_in_the_clear() {
        let ip = [0x45, 0, 0, 20];
        let body = snap(0x0800, &ip);
        for (subtype, flags) in [(0, 0x01), (0, 0x02), (8, 0x01), (8, 0x03), (8, 0x81), (0, 0x80)] {
            let f = data(subtype, flags, 0x0010, 0x0006, &body);
            assert_eq!(data_payload(&f, false), Ok(Some((0x0800, &ip[..]))), "subtype {subtype} flags {flags:#x}");
        }
        // 802.1H (bridge-tunnel OUI) reads the same.
        let mut f = data(0, 0x01, 0, 0, &body);
        f[24 + 5] = 0xf8;
        assert_eq!(data_payload(&f, false), Ok(Some((0x0800, &ip[..]))));
    }

    #[test]
    fn datapad_aligns_the_body() {
        // QoS header: 26 bytes, padded to 28.
        let mut f = data(8, 0x01, 0, 0, &[]);
        f.extend([0, 0]);
        f.extend(snap(0x86dd, &[0x60]));
        assert_eq!(data_payload(&f, true), Ok(Some((0x86dd, &[0x60][..]))));
        assert_eq!(data_payload(&f, false), Ok(None), "without the flag the pad reads as LLC");
    }

    #[test]
    fn frames_without_a_packet() {
        let body = snap(0x0800, &[0x45]);
        let beacon = [&[0x80, 0][..], &[0; 30]].concat();
        assert_eq!(data_payload(&beacon, false), Ok(None));
        let ack = [0xd4, 0, 0, 0, 1, 2, 3, 4, 5, 6];
        assert_eq!(data_payload(&ack, false), Ok(None));
        for f in [
            data(4, 0x01, 0, 0, &[]),                                // null data
            data(12, 0x01, 0, 0, &[]),                               // QoS null
            data(0, 0x41, 0, 0, &body),                              // protected
            data(0, 0x01, 0x0011, 0, &body),                         // second fragment
            data(8, 0x01, 0, 0x0080, &body),                         // A-MSDU
            data(0, 0x01, 0, 0, &[0xf0, 0xf0, 0x03, 1, 2, 3, 4, 5]), // other SAP
            data(0, 0x01, 0, 0, &[]),                                // no body
        ] {
            assert_eq!(data_payload(&f, false), Ok(None), "{f:02x?}");
        }
    }

    #[test]
    fn damaged_frames() {
        assert!(data_payload(&[], false).is_err());
        assert!(data_payload(&[0x08], false).is_err());
        assert!(data_payload(&[0x08, 0x01, 0, 0, 1, 2], false).is_err());
        let f = data(8, 0x01, 0, 0, &[]);
        assert!(data_payload(&f[..25], false).is_err(), "QoS control cut");
        let f = data(0, 0x01, 0, 0, &[0xaa, 0xaa, 0x03, 0]);
        assert!(data_payload(&f, false).is_err(), "SNAP cut");
    }

    #[test]
    fn radiotap_fields() {
        let frame = [1u8, 2, 3, 4, 5, 6, 7, 8];
        // Present: TSFT and Flags (FCS + data pad); the flags byte after 8 aligned bytes.
        let mut h = vec![0, 0, 0, 0, 0b11, 0, 0, 0];
        h.extend([9; 8]);
        h.push(RADIOTAP_FCS | RADIOTAP_DATAPAD);
        h.extend([0; 3]);
        let len = h.len() as u16;
        h[2..4].copy_from_slice(&len.to_le_bytes());
        let b = [h.clone(), frame.to_vec()].concat();
        assert_eq!(radiotap(&b), Ok((&frame[..4], true)));
        // An extended present bitmap moves the fields: Flags only, after two words.
        let mut h = vec![0, 0, 0, 0, 0b10, 0, 0, 0x80, 0, 0, 0, 0, 0];
        h.extend([0; 3]);
        let len = h.len() as u16;
        h[2..4].copy_from_slice(&len.to_le_bytes());
        let b = [h, frame.to_vec()].concat();
        assert_eq!(radiotap(&b), Ok((&frame[..], false)));
        // Nothing present but the header.
        let b = [&[0u8, 0, 8, 0, 0, 0, 0, 0][..], &frame].concat();
        assert_eq!(radiotap(&b), Ok((&frame[..], false)));
    }

    #[test]
    fn radiotap_damage() {
        assert!(radiotap(&[0, 0, 8]).is_err());
        assert!(radiotap(&[1, 0, 8, 0, 0, 0, 0, 0]).is_err(), "version");
        assert!(radiotap(&[0, 0, 4, 0, 0, 0, 0, 0]).is_err(), "length below 8");
        assert!(radiotap(&[0, 0, 32, 0, 0, 0, 0, 0]).is_err(), "length past the frame");
        // Flags announced, header ends first.
        assert!(radiotap(&[0, 0, 8, 0, 0b10, 0, 0, 0]).is_err());
        // A chain of present words that never ends.
        let mut h = vec![0, 0, 0, 0];
        h.extend([0xff; 80]);
        let len = h.len() as u16;
        h[2..4].copy_from_slice(&len.to_le_bytes());
        assert!(radiotap(&h).is_err());
    }

    #[test]
    fn radio_headers() {
        let frame = [7u8; 4];
        let mut avs_h = vec![0x80, 0x21, 0x10, 0x01, 0, 0, 0, 64];
        avs_h.resize(64, 0);
        let b = [avs_h.clone(), frame.to_vec()].concat();
        assert_eq!(avs(&b), Ok(&frame[..]));
        assert_eq!(prism(&b), Ok(&frame[..]), "AVS magic inside link type 119");
        let mut prism_h = vec![0x41, 0, 0, 0, 144, 0, 0, 0];
        prism_h.resize(144, 0);
        assert_eq!(prism(&[prism_h.clone(), frame.to_vec()].concat()), Ok(&frame[..]));
        prism_h[4..8].copy_from_slice(&144u32.to_be_bytes());
        assert_eq!(prism(&[prism_h, frame.to_vec()].concat()), Ok(&frame[..]), "big-endian length");
        let b = [&[0u8, 0, 8, 0, 105, 0, 0, 0][..], &frame].concat();
        assert_eq!(ppi(&b), Ok((105, &frame[..])));
        assert!(ppi(&[0, 0, 4, 0, 105, 0, 0, 0]).is_err());
        assert!(ppi(&[0, 0, 40, 0, 105, 0, 0, 0]).is_err());
        assert!(avs(&[0x80, 0x21, 0x10, 0x01, 0, 0, 0, 64]).is_err());
        assert!(prism(&[1, 2, 3]).is_err());
    }
}

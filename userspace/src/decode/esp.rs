//! ESP (RFC 4303), AH (RFC 4302) and the UDP-encapsulation rules of RFC 3948.
//!
//! These run once per tunnel packet, so they only read fixed offsets and never allocate.
//! The ciphertext behind the ESP header is opaque to us: SPI and sequence number are what the
//! report counts (per-SA packets, sequence gaps).

use super::{be32, Malformed};

/// ESP header fields visible without keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EspHeader {
    pub spi: u32,
    pub seq: u32,
}

/// What a UDP datagram on the NAT-T port (4500) carries, per RFC 3948 §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpEncap<'a> {
    /// NAT keepalive: a single 0xff byte.
    Keepalive,
    /// IKE behind the four-byte non-ESP marker; the slice starts at the IKE header.
    Ike(&'a [u8]),
    /// ESP: the first four bytes are a non-zero SPI.
    Esp {
        spi: u32,
        seq: u32,
    },
    Malformed(Malformed),
}

/// Decode the ESP header at the start of an IP protocol 50 payload, or of a UDP-encapsulated
/// ESP datagram (after [`classify_udp_encap`] said it is ESP).
pub fn parse(payload: &[u8]) -> Result<EspHeader, Malformed> {
    let (Some(spi), Some(seq)) = (be32(payload, 0), be32(payload, 4)) else {
        return Err(Malformed::new("esp header truncated"));
    };
    // SPI 0 is reserved (RFC 4303 §2.1); inside UDP it is the non-ESP marker instead.
    if spi == 0 {
        return Err(Malformed::new("esp spi zero"));
    }
    Ok(EspHeader { spi, seq })
}

/// The SPI of an ESP header cut before its sequence number (snaplen, a damaged file): 4 to 7
/// bytes, non-zero SPI. Enough to count the packet for its SA, not for sequence numbers.
pub fn truncated_spi(payload: &[u8]) -> Option<u32> {
    if payload.len() >= 8 {
        return None;
    }
    be32(payload, 0).filter(|&spi| spi != 0)
}

/// What an ESP packet of an SA without encryption (the NULL cipher, RFC 2410: integrity only,
/// as IMS's Gm interface often runs between phone and P-CSCF) carries in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NullEsp<'a> {
    /// The trailer's next header: 4 or 41 (tunnel mode: an IP packet), 6 or 17 (transport
    /// mode: a TCP segment or UDP datagram between the SA's two hosts).
    pub next_header: u8,
    pub payload: &'a [u8],
    /// The integrity check value's length this packet read with.
    pub icv_len: u8,
}

/// ICV lengths tried: HMAC-MD5-96, HMAC-SHA1-96 and AES-XCBC-96 (12), HMAC-SHA-256-128 (16),
/// HMAC-SHA-384-192 (24), HMAC-SHA-512-256 (32).
const NULL_ICV_LENGTHS: [u8; 4] = [12, 16, 24, 32];

/// Read an ESP packet (from its SPI) as NULL-encrypted, with the ICV length `icv_len` when the
/// SA's is known, else trying the usual ones. Without keys nothing says an SA is unencrypted,
/// so the packet must show it: the trailer's next header is IP, TCP or UDP; the padding is
/// RFC 4303's default (1, 2, 3...) and ends on a 4-byte boundary; and what it carries is
/// consistent with itself (a UDP or IP length equal to the payload's, a TCP header that fits
/// with no urgent data).
/// A ciphertext passes all of that about once in hundreds of millions of tries.
pub fn null_payload(b: &[u8], icv_len: Option<u8>) -> Option<NullEsp<'_>> {
    let one = [icv_len.unwrap_or(0)];
    let tries: &[u8] = if icv_len.is_some() { &one } else { &NULL_ICV_LENGTHS };
    tries.iter().find_map(|&icv| null_with(b, icv))
}

fn null_with(b: &[u8], icv_len: u8) -> Option<NullEsp<'_>> {
    let n = b.len().checked_sub(usize::from(icv_len))?;
    if n < 8 + 2 || (n - 8) % 4 != 0 {
        return None;
    }
    let (next_header, pad) = (b[n - 1], usize::from(b[n - 2]));
    let end = n.checked_sub(2 + pad).filter(|&e| e >= 8)?;
    if !b[end..n - 2].iter().enumerate().all(|(i, &v)| usize::from(v) == i + 1) {
        return None;
    }
    let payload = &b[8..end];
    let len = payload.len();
    let consistent = match next_header {
        17 => len >= 8 && usize::from(super::be16(payload, 4)?) == len,
        // No length field: a header that fits, reserved bits clear, and no urgent data (the
        // urgent pointer zero, as stacks send it when the URG flag is clear).
        6 => {
            let offset = usize::from(*payload.get(12)? >> 4) * 4;
            len >= 20
                && (20..=len).contains(&offset)
                && payload[12] & 0x0e == 0
                && payload[13] & 0x20 == 0
                && payload[18..20] == [0, 0]
        }
        4 => {
            len >= 20 && payload[0] >> 4 == 4 && payload[0] & 0x0f >= 5 && usize::from(super::be16(payload, 2)?) == len
        }
        41 => len >= 40 && payload[0] >> 4 == 6 && usize::from(super::be16(payload, 4)?) + 40 == len,
        _ => false,
    };
    consistent.then_some(NullEsp { next_header, payload, icv_len })
}

/// Sort a UDP/4500 payload into keepalive, IKE or ESP.
pub fn classify_udp_encap(payload: &[u8]) -> UdpEncap<'_> {
    match payload {
        [0xff] => UdpEncap::Keepalive,
        [0, 0, 0, 0, rest @ ..] => {
            if rest.is_empty() {
                UdpEncap::Malformed(Malformed::new("non-esp marker without ike"))
            } else {
                UdpEncap::Ike(rest)
            }
        }
        _ => match parse(payload) {
            Ok(h) => UdpEncap::Esp { spi: h.spi, seq: h.seq },
            Err(_) => UdpEncap::Malformed(Malformed::new("udp-encap payload too short")),
        },
    }
}

/// Decode an AH header (IP protocol 51) and return `(next_header, spi, seq, rest)`, where
/// `rest` is what follows the AH header and its ICV: ESP when `next_header` is 50, the inner
/// IP packet in tunnel mode (4 or 41), or a transport header.
pub fn parse_ah(payload: &[u8]) -> Result<(u8, u32, u32, &[u8]), Malformed> {
    let (Some(&next_header), Some(&len_words)) = (payload.first(), payload.get(1)) else {
        return Err(Malformed::new("ah header truncated"));
    };
    let (Some(spi), Some(seq)) = (be32(payload, 4), be32(payload, 8)) else {
        return Err(Malformed::new("ah header truncated"));
    };
    // Payload Len counts 32-bit words minus 2 (RFC 4302 §2.2); the fixed part alone is 3 words.
    let hdr_len = (usize::from(len_words) + 2) * 4;
    if hdr_len < 12 {
        return Err(Malformed::new("ah length below header size"));
    }
    let rest = payload.get(hdr_len..).ok_or(Malformed::new("ah length past packet end"))?;
    Ok((next_header, spi, seq, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// ikev2_natt_espudp.pcapng frame 5, first 24 bytes of the UDP payload (ESP-in-UDP,
    /// tshark: SPI 0xac0faf03, seq 1).
    const NATT_ESP: &str = "ac0faf0300000001";

    /// ah_esp_multi_idb.pcapng frame 1, IPv4 payload head: AH (next 50, len 4 → 24 bytes,
    /// SPI 0x8179b705, seq 3) then ESP SPI 0x48dac2e4 seq 3.
    const AH_ESP: &str =
        concat!("320400008179b7050000000362325d2ea14e86ab902b70fb", "48dac2e400000003c6b5cbef1400937243a29ad39795");

    /// ah_esp_multi_idb.pcapng frame 2: ESP over IPv6 with an 8-byte payload (SPI
    /// 0x49507636, seq 541414224).
    const ESP_V6_MIN: &str = "4950763620455350";

    /// ikev1_natt_4500_espudp.pcap frame 12 (tcpdump: ESP(spi=0xf4dc0ae5,seq=0x1)), head only.
    const V1_NATT_ESP: &str = "f4dc0ae500000001";

    /// ikev1_natt_4500_espudp.pcap frame 7 head: non-ESP marker then IKE SPI 9e89f2388f90bc1e.
    const V1_NATT_IKE_HEAD: &str = "000000009e89f2388f90bc1e";

    #[test]
    fn raw_and_udp_esp_from_corpus() {
        assert_eq!(parse(&unhex(ESP_V6_MIN)), Ok(EspHeader { spi: 0x49507636, seq: 541414224 }));
        assert_eq!(classify_udp_encap(&unhex(NATT_ESP)), UdpEncap::Esp { spi: 0xac0faf03, seq: 1 });
        assert_eq!(classify_udp_encap(&unhex(V1_NATT_ESP)), UdpEncap::Esp { spi: 0xf4dc0ae5, seq: 1 });
    }

    #[test]
    fn keepalive_and_marker() {
        // ikev1_natt_4500_espudp.pcap frame 18: isakmp-nat-keep-alive, one 0xff byte.
        assert_eq!(classify_udp_encap(&[0xff]), UdpEncap::Keepalive);
        let b = unhex(V1_NATT_IKE_HEAD);
        assert_eq!(classify_udp_encap(&b), UdpEncap::Ike(&b[4..]));
        assert!(matches!(classify_udp_encap(&[0, 0, 0, 0]), UdpEncap::Malformed(_)));
        assert!(matches!(classify_udp_encap(&[]), UdpEncap::Malformed(_)));
        assert!(matches!(classify_udp_encap(&[0xff, 0xff]), UdpEncap::Malformed(_)));
        assert!(matches!(classify_udp_encap(&[1, 2, 3, 4, 5, 6, 7]), UdpEncap::Malformed(_)));
    }

    #[test]
    fn esp_rejects_short_and_zero_spi() {
        assert_eq!(parse(&[1, 2, 3, 4, 5, 6, 7]), Err(Malformed::new("esp header truncated")));
        assert_eq!(parse(&[0, 0, 0, 0, 0, 0, 0, 1]), Err(Malformed::new("esp spi zero")));
    }

    #[test]
    fn esp_behind_ah() {
        let b = unhex(AH_ESP);
        let (nh, spi, seq, rest) = parse_ah(&b).unwrap();
        assert_eq!((nh, spi, seq), (50, 0x8179b705, 3));
        assert_eq!(parse(rest), Ok(EspHeader { spi: 0x48dac2e4, seq: 3 }));
        // AH claiming more words than the packet holds.
        let mut bad = b.clone();
        bad[1] = 200;
        assert_eq!(parse_ah(&bad), Err(Malformed::new("ah length past packet end")));
        bad[1] = 0;
        assert_eq!(parse_ah(&bad), Err(Malformed::new("ah length below header size")));
        assert_eq!(parse_ah(&b[..11]), Err(Malformed::new("ah header truncated")));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse(&data);
            let _ = parse_ah(&data);
            match classify_udp_encap(&data) {
                UdpEncap::Ike(rest) => prop_assert_eq!(rest.len() + 4, data.len()),
                UdpEncap::Esp { spi, .. } => prop_assert_ne!(spi, 0),
                UdpEncap::Keepalive => prop_assert_eq!(&data[..], &[0xffu8][..]),
                UdpEncap::Malformed(_) => {}
            }
            if let Ok((_, _, _, rest)) = parse_ah(&data) {
                prop_assert!(rest.len() + 12 <= data.len());
            }
        }
    }

    /// An ESP packet with the NULL cipher: SPI, sequence, `inner`, default padding to a 4-byte
    /// boundary, pad length, next header, then an ICV of `icv` bytes.
    fn null_esp(next: u8, inner: &[u8], icv: usize) -> Vec<u8> {
        let mut b = [0x0102_0304u32.to_be_bytes(), 7u32.to_be_bytes()].concat();
        b.extend(inner);
        let pad = (4 - (inner.len() + 2) % 4) % 4;
        b.extend((1..=pad as u8).collect::<Vec<_>>());
        b.extend([pad as u8, next]);
        b.extend(vec![0xa5; icv]);
        b
    }

    fn udp(payload: &[u8]) -> Vec<u8> {
        [
            &5060u16.to_be_bytes()[..],
            &5060u16.to_be_bytes(),
            &((8 + payload.len()) as u16).to_be_bytes(),
            &[0, 0],
            payload,
        ]
        .concat()
    }

    #[test]
    fn null_esp_reads_with_each_icv_length() {
        for len in 0..8 {
            let d = udp(&vec![b'x'; len]);
            for icv in [12, 16, 24, 32] {
                let b = null_esp(17, &d, icv);
                let n = null_payload(&b, None).unwrap_or_else(|| panic!("len {len} icv {icv}"));
                assert_eq!((n.next_header, n.payload, usize::from(n.icv_len)), (17, &d[..], icv));
                assert_eq!(null_payload(&b, Some(icv as u8)), Some(n));
            }
        }
        let mut ip = vec![0x45, 0, 0, 24, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2];
        ip.extend([0, 1, 0, 2]);
        assert_eq!(null_payload(&null_esp(4, &ip, 12), None).map(|n| n.payload), Some(&ip[..]));
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 4, 17, 64];
        ip6.extend([0; 32]);
        ip6.extend([0, 1, 0, 2]);
        assert_eq!(null_payload(&null_esp(41, &ip6, 16), None).map(|n| n.payload), Some(&ip6[..]));
        let mut tcp = vec![0; 20];
        tcp[12] = 0x50;
        tcp.extend(b"OPTIONS");
        assert_eq!(null_payload(&null_esp(6, &tcp, 12), None).map(|n| n.next_header), Some(6));
    }

    #[test]
    fn ciphertext_and_damage_do_not_read_as_null() {
        let d = udp(b"OPTIONS sip:x SIP/2.0");
        let good = null_esp(17, &d, 12);
        // A wrong length inside, a wrong padding byte, an unknown next header, a cut trailer.
        let mut b = good.clone();
        b[8 + 5] ^= 1;
        assert_eq!(null_payload(&b, None), None);
        let mut b = good.clone();
        let pad_at = b.len() - 12 - 3;
        assert_eq!((b[pad_at], b[pad_at + 1]), (1, 1), "one byte of padding");
        b[pad_at] = 9;
        assert_eq!(null_payload(&b, None), None);
        let mut b = good.clone();
        let nh = b.len() - 13;
        b[nh] = 50;
        assert_eq!(null_payload(&b, None), None);
        assert_eq!(null_payload(&good[..good.len() - 1], None), None);
        assert_eq!(null_payload(&good, Some(16)), None, "a known ICV length is the only one tried");
        assert_eq!(null_payload(&[1, 2, 3, 4, 0, 0, 0, 1], None), None);
        // Pseudo-random "ciphertext" of every length up to 300: none reads.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in 8..300 {
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            assert_eq!(null_payload(&b, None), None, "{len}");
        }
    }

    proptest! {
        #[test]
        fn null_payload_never_panics(b in prop::collection::vec(any::<u8>(), 0..200), icv in prop::option::of(0u8..40)) {
            if let Some(n) = null_payload(&b, icv) {
                prop_assert!(n.payload.len() + 8 + 2 + usize::from(n.icv_len) <= b.len());
            }
        }
    }
}

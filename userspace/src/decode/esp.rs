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
}

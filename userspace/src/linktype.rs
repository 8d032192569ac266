//! pcap LINKTYPE_* values (the tcpdump.org registry) that tuntrace meets in captures.
//!
//! Files store LINKTYPE values, which mostly equal the platform DLT_* values; the exception we
//! care about is raw IP, whose DLT differs between systems (12, or 14 on OpenBSD) and which some
//! writers put into files unmapped. [`canonical`] folds those onto [`RAW`] so that decoders only
//! ever see one value per link layer.
//!
//! One table for both sides: the capture readers name what files store, the link decoders
//! (`decode::link`) match on it, and neither reaches into the other for it.

/// BSD loopback: 4-byte address family in host byte order of the writer.
pub const NULL: u32 = 0;
/// Ethernet.
pub const EN10MB: u32 = 1;
/// Raw IPv4 or IPv6, version from the first nibble.
pub const RAW: u32 = 101;
/// DLT_RAW as most BSDs and Linux number it; written verbatim by some tools.
pub const RAW_DLT12: u32 = 12;
/// DLT_RAW as OpenBSD numbers it.
pub const RAW_DLT14: u32 = 14;
/// OpenBSD loopback: like NULL but the address family is big-endian.
pub const LOOP: u32 = 108;
/// Linux "cooked" capture v1 (tcpdump -i any).
pub const LINUX_SLL: u32 = 113;
/// User DLT 2: tcpdump's fuzz corpus uses it for PKTAP written by old Apple tools.
pub const USER2: u32 = 149;
/// Raw IPv4 only.
pub const IPV4: u32 = 228;
/// Raw IPv6 only.
pub const IPV6: u32 = 229;
/// Apple PKTAP: per-packet header with interface name and process metadata, then the inner frame.
pub const PKTAP: u32 = 258;
/// OpenBSD's IPsec interface `enc0` (packets before encryption and after decryption).
pub const ENC: u32 = 109;
/// Linux netfilter log (`tcpdump -i nflog:N`).
pub const NFLOG: u32 = 239;
/// Linux "cooked" capture v2 (adds the interface index).
pub const LINUX_SLL2: u32 = 276;
/// Cisco HDLC: address, control, then an ethertype.
pub const C_HDLC: u32 = 104;
/// IEEE 802.11 without radio header.
pub const IEEE802_11: u32 = 105;
/// IEEE 802.11 behind a Prism (or AVS) monitor-mode header.
pub const IEEE802_11_PRISM: u32 = 119;
/// IEEE 802.11 behind a radiotap header.
pub const IEEE802_11_RADIOTAP: u32 = 127;
/// IEEE 802.11 behind an AVS monitor-mode header.
pub const IEEE802_11_AVS: u32 = 163;
/// Per-Packet Information header, then a frame of the link type it names.
pub const PPI: u32 = 192;
/// Endace ERF records (DAG capture cards).
pub const ERF: u32 = 197;

/// The low 26 bits of a pcap header's link-type field; the bits above carry FCS length flags
/// (and reserved bits) that are not part of the link type.
pub const LINKTYPE_MASK: u32 = 0x03FF_FFFF;

/// Map the values some writers use for raw IP onto [`RAW`]; every other value is returned as is.
#[inline]
pub fn canonical(linktype: u32) -> u32 {
    match linktype {
        RAW_DLT12 | RAW_DLT14 => RAW,
        other => other,
    }
}

/// The registry name without the `LINKTYPE_` prefix (as tcpdump prints it), or "UNKNOWN".
pub fn name(linktype: u32) -> &'static str {
    match linktype {
        NULL => "NULL",
        EN10MB => "EN10MB",
        3 => "AX25",
        6 => "IEEE802",
        7 => "ARCNET_BSD",
        8 => "SLIP",
        9 => "PPP",
        10 => "FDDI",
        RAW_DLT12 | RAW_DLT14 | RAW => "RAW",
        50 => "PPP_HDLC",
        51 => "PPP_ETHER",
        C_HDLC => "C_HDLC",
        IEEE802_11 => "IEEE802_11",
        107 => "FRELAY",
        LOOP => "LOOP",
        ENC => "ENC",
        LINUX_SLL => "LINUX_SLL",
        117 => "PFLOG",
        IEEE802_11_PRISM => "IEEE802_11_PRISM",
        IEEE802_11_RADIOTAP => "IEEE802_11_RADIOTAP",
        IEEE802_11_AVS => "IEEE802_11_AVS",
        147 => "USER0",
        148 => "USER1",
        USER2 => "USER2",
        150 => "USER3",
        151 => "USER4",
        152 => "USER5",
        153 => "USER6",
        154 => "USER7",
        155 => "USER8",
        156 => "USER9",
        157 => "USER10",
        158 => "USER11",
        159 => "USER12",
        160 => "USER13",
        161 => "USER14",
        162 => "USER15",
        189 => "USB_LINUX",
        PPI => "PPI",
        195 => "IEEE802_15_4_WITHFCS",
        ERF => "ERF",
        220 => "USB_LINUX_MMAPPED",
        226 => "IPNET",
        IPV4 => "IPV4",
        IPV6 => "IPV6",
        NFLOG => "NFLOG",
        252 => "WIRESHARK_UPPER_PDU",
        253 => "NETLINK",
        PKTAP => "PKTAP",
        271 => "VSOCK",
        274 => "ETHERNET_MPACKET",
        LINUX_SLL2 => "LINUX_SLL2",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_decoded_types() {
        assert_eq!(name(NULL), "NULL");
        assert_eq!(name(EN10MB), "EN10MB");
        assert_eq!(name(RAW), "RAW");
        assert_eq!(name(12), "RAW");
        assert_eq!(name(14), "RAW");
        assert_eq!(name(LOOP), "LOOP");
        assert_eq!(name(LINUX_SLL), "LINUX_SLL");
        assert_eq!(name(LINUX_SLL2), "LINUX_SLL2");
        assert_eq!(name(PKTAP), "PKTAP");
        assert_eq!(name(USER2), "USER2");
        assert_eq!(name(IPV4), "IPV4");
        assert_eq!(name(IPV6), "IPV6");
        assert_eq!(name(IEEE802_11), "IEEE802_11");
        assert_eq!(name(IEEE802_11_RADIOTAP), "IEEE802_11_RADIOTAP");
        assert_eq!(name(IEEE802_11_PRISM), "IEEE802_11_PRISM");
        assert_eq!(name(IEEE802_11_AVS), "IEEE802_11_AVS");
        assert_eq!(name(PPI), "PPI");
        assert_eq!(name(C_HDLC), "C_HDLC");
        assert_eq!(name(ERF), "ERF");
        assert_eq!(name(99_999), "UNKNOWN");
    }

    #[test]
    fn registry_values() {
        assert_eq!((NULL, EN10MB, RAW, LOOP, LINUX_SLL), (0, 1, 101, 108, 113));
        assert_eq!((USER2, IPV4, IPV6, PKTAP, LINUX_SLL2), (149, 228, 229, 258, 276));
        assert_eq!((C_HDLC, IEEE802_11, IEEE802_11_PRISM, IEEE802_11_RADIOTAP), (104, 105, 119, 127));
        assert_eq!((IEEE802_11_AVS, PPI, ERF), (163, 192, 197));
    }

    #[test]
    fn canonical_folds_raw_dlts_only() {
        assert_eq!(canonical(12), RAW);
        assert_eq!(canonical(14), RAW);
        assert_eq!(canonical(RAW), RAW);
        assert_eq!(canonical(EN10MB), EN10MB);
        assert_eq!(canonical(LOOP), LOOP);
    }
}

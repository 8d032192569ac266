//! IKE and ESP in a TCP stream (RFC 8229): the stream framing, without the TCP.

/// What the initiator sends once, before its first record: "IKETCP".
pub const TCP_PREFIX: &[u8] = b"IKETCP";

/// The shortest record: its 2-byte length and an ESP header (SPI and sequence number). An IKE
/// message is longer (four zero bytes and a 28-byte header).
const MIN_RECORD: usize = 2 + 8;

/// What the bytes at the head of one direction of such a stream are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpFrame {
    /// The initiator's prefix ([`TCP_PREFIX`]).
    Prefix,
    /// A whole record of this many bytes, its length field included: an IKE message behind
    /// four zero bytes, or an ESP packet.
    Record(usize),
    /// A record (or the prefix) not complete yet.
    Incomplete,
    /// A length no record can have: the stream cannot be framed from here.
    Garbage,
}

/// Frame the head of a stream of IKE and ESP in TCP.
pub fn tcp_frame(b: &[u8]) -> TcpFrame {
    if b.starts_with(TCP_PREFIX) {
        return TcpFrame::Prefix;
    }
    if b.len() < TCP_PREFIX.len() && TCP_PREFIX.starts_with(b) {
        return TcpFrame::Incomplete;
    }
    let Some(len) = b.first_chunk::<2>().map(|l| usize::from(u16::from_be_bytes(*l))) else {
        return TcpFrame::Incomplete;
    };
    match len {
        n if n < MIN_RECORD => TcpFrame::Garbage,
        n if n <= b.len() => TcpFrame::Record(n),
        _ => TcpFrame::Incomplete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_records_and_garbage() {
        assert_eq!(tcp_frame(b"IKETCP\x00\x0a"), TcpFrame::Prefix);
        assert_eq!(tcp_frame(b"IKE"), TcpFrame::Incomplete);
        assert_eq!(tcp_frame(&[]), TcpFrame::Incomplete);
        assert_eq!(tcp_frame(&[0]), TcpFrame::Incomplete);
        let esp = [0, 10, 0, 0, 0x12, 0x34, 0, 0, 0, 1, 0xff];
        assert_eq!(tcp_frame(&esp), TcpFrame::Record(10));
        assert_eq!(tcp_frame(&esp[..9]), TcpFrame::Incomplete);
        assert_eq!(tcp_frame(&[0, 9, 1, 2, 3, 4, 5, 6, 7, 8]), TcpFrame::Garbage);
        assert_eq!(tcp_frame(&[0, 0]), TcpFrame::Garbage);
        assert_eq!(tcp_frame(&[0xff, 0xff, 1]), TcpFrame::Incomplete);
    }

    proptest::proptest! {
        /// Whatever the bytes, a record is never claimed past them nor shorter than a record.
        #[test]
        fn frames_stay_in_bounds(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            match tcp_frame(&b) {
                TcpFrame::Record(n) => proptest::prop_assert!((MIN_RECORD..=b.len()).contains(&n)),
                TcpFrame::Prefix => proptest::prop_assert!(b.starts_with(TCP_PREFIX)),
                TcpFrame::Incomplete | TcpFrame::Garbage => {}
            }
        }
    }
}

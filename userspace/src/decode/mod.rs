//! Pure decoders over byte slices. They never panic and report bad input as [`Malformed`].
//!
//! Each reads one packet's bytes and keeps nothing between packets; putting fragments and
//! segments back together, which must, is [`crate::reassembly`]'s.

pub mod erf;
pub mod esp;
pub mod hep;
pub mod ike;
pub mod ip;
pub mod link;
pub mod openvpn;
pub mod sctp;
pub mod tunnel;
pub mod websocket;
pub mod wifi;
pub mod wireguard;

/// Why a packet could not be decoded. `reason` is a short stable phrase used as a counter key
/// in the report ("ipv4 header truncated", "ike payload length past message end").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Malformed {
    pub reason: &'static str,
}

impl Malformed {
    pub const fn new(reason: &'static str) -> Self {
        Malformed { reason }
    }
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason)
    }
}

impl std::error::Error for Malformed {}

/// Read a big-endian u16 at `at`, if present.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

/// Read a big-endian u32 at `at`, if present.
#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

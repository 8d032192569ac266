//! ISAKMP/IKEv1 (RFC 2408/2409) and IKEv2 (RFC 7296) message decoder.
//!
//! Input starts at the IKE header: the UDP payload on port 500, or what follows the four-byte
//! non-ESP marker on 4500 (see [`super::esp::classify_udp_encap`]).
//!
//! Two entry points share one header reader, one payload walk and one set of payload readers:
//! [`parse`] returns an owned [`IkeMessage`] with every field rendered, and [`scan`] checks the
//! same things without building strings or vectors. The aggregator sees thousands of IKE
//! messages a second on a busy tap and keeps only part of each (retransmissions, encrypted
//! IKE_AUTH and INFORMATIONAL messages add almost nothing), so it scans, and renders from the
//! [`Scan`] only what it keeps.
//!
//! Damage inside the payload chain does not throw the message away: the header (SPIs, exchange,
//! message id) is what ties packets to an SA, so it is kept and the reason goes into
//! [`IkeMessage::malformed`]. Only input too short for a header, or not IKE at all, is an `Err`.
//!
//! The modules: `header` the fixed header and the payload chain, `payloads` the readers of
//! payload bodies both entry points share, `proposals` the SA payloads read into [`Proposal`]s,
//! `scan` the aggregator's check, `parse` the owned parse (tests and the corpus conformance),
//! [`names`] the IANA registries and the labels made from them.

mod header;
pub mod names;
mod parse;
mod payloads;
mod proposals;
mod scan;
mod tcp;

pub use header::{looks_like_ike, Header, Payloads, HEADER_LEN};
pub use names::{exchange_label, notify_name, payload_name, Group};
pub use parse::{parse, ConfigAttribute, Delete, Identity, IkeMessage, Notify};
pub use payloads::Fragment;
pub use proposals::Proposal;
pub use scan::{scan, Scan};
pub use tcp::{tcp_frame, TcpFrame, TCP_PREFIX};

/// Walk limits. Real messages carry well under 20 payloads and a handful of proposals; the
/// limits only bound the work a hostile packet can cause.
const MAX_PAYLOADS: usize = 64;
const MAX_PROPOSALS: usize = 64;
const MAX_TRANSFORMS: usize = 64;
const MAX_ATTRIBUTES: usize = 64;
const MAX_DELETE_SPIS: usize = 256;

/// Lower-case hex, for SPIs and unknown blobs.
pub fn hex(b: &[u8]) -> String {
    // A digit table rather than `write!` per byte: the formatter costs more than the bytes.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests;

//! Stateful reassembly between the decoders and the aggregator: IP datagrams from their
//! fragments ([`ip`]), TCP byte streams from their segments ([`tcp`]) and SCTP user messages
//! from their pieces ([`sctp`]).
//!
//! Unlike the decoders (`decode/`, pure functions over one packet's bytes), these keep state
//! across packets and allocate, each table capped and its give-ups counted for the report's
//! `stats.limits`.

pub mod ip;
pub mod sctp;
pub mod tcp;

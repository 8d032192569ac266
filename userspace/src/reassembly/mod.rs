//! Stateful reassembly between the decoders and the aggregator: IP datagrams from their
//! fragments ([`ip`]) and TCP byte streams from their segments ([`tcp`]).
//!
//! Unlike the decoders (`decode/`, pure functions over one packet's bytes), these keep state
//! across packets and allocate, each table capped and its give-ups counted for the report's
//! `stats.limits`.

pub mod ip;
pub mod tcp;

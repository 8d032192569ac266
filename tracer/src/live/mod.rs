//! Live tracing on Linux: the eBPF programs of `tuntrace-probes`, loaded and attached with aya,
//! and what userspace reads back (records from the ring buffer, exact counters from the maps,
//! the sockets that existed before the tracer from NETLINK_SOCK_DIAG).
//!
//! The netns traced is the one of the thread that calls [`Probes::load`]; attach and seed from
//! that same netns (`ip netns exec NS tuntrace trace` puts the whole process there).

pub mod child;
pub mod convert;
mod error;
pub mod probes;
pub mod record;
pub mod records;
pub mod seed;
pub mod session;
mod system;

pub use error::LiveError;
pub use probes::{Counters, EspCount, FlowCount, ProbeConfig, Probes, Stats};
pub use records::{Record, RecordRef};
pub use seed::SeededSocket;

//! Facts about the Linux host that the live tracer and `explain` need beside the kernel's events:
//! the links of our network namespace and how they change, routes and policy rules, processes
//! from /proc, which processes hold TUN devices, our namespace's identity, and the offset between
//! the kernel's boot clock and the wall clock.
//!
//! Everything here answers for the network namespace the calling thread runs in, so
//! `ip netns exec NS tuntrace …` sees the links of `NS`. Every call is a short exchange with the
//! kernel (a netlink dump, a few /proc reads); only [`links::watch`] is long-lived, and it is
//! async (Tokio) because it waits for the kernel's notifications.
//!
//! Errors say what is wrong and what to do; a fact the kernel does not give (an exited process,
//! a file we may not read, an attribute an older kernel lacks) is a `None`, not an error.

pub mod clock;
pub mod error;
pub mod links;
mod netlink;
pub mod netns;
pub mod procs;
pub mod routes;
pub mod tun;
pub mod watch;

pub use error::HostError;
pub(crate) use netlink::recv_datagram;

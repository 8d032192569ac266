//! What can go wrong when asking the host, each case with what to do about it.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// No NETLINK_ROUTE socket at all: a sandbox (seccomp, a container without netlink) or a
    /// kernel without it.
    #[error(
        "cannot open a NETLINK_ROUTE socket: {source}; tuntrace needs rtnetlink to list interfaces \
         (run it outside a sandbox that blocks netlink sockets)"
    )]
    NetlinkOpen { source: io::Error },

    /// The kernel answered EPERM/EACCES to a request.
    #[error(
        "the kernel refused the netlink request {request} ({source}): run as root or with \
         CAP_NET_ADMIN, and outside a sandbox that filters netlink"
    )]
    NetlinkPermission { request: &'static str, source: io::Error },

    /// Any other failure of a netlink exchange.
    #[error("netlink request {request} failed: {source}")]
    Netlink { request: &'static str, source: io::Error },

    /// The kernel's answer did not parse as a whole (single undecodable messages in a dump are
    /// skipped and counted instead).
    #[error(
        "netlink request {request}: cannot decode the kernel's answer ({detail}); \
         this kernel may speak a newer rtnetlink than the netlink-packet-route crate knows"
    )]
    NetlinkDecode { request: &'static str, detail: String },

    /// /proc is missing: a container or chroot without procfs.
    #[error("/proc is not mounted ({path} is missing): mount it with `mount -t proc proc /proc`")]
    ProcNotMounted { path: PathBuf },

    /// A host-wide file that must be readable was not (per-process files never give this).
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },

    /// A system call on our own process failed (socket, getsockopt, sysconf).
    #[error("{call} failed: {source}")]
    Sys { call: &'static str, source: io::Error },

    /// The link watch registers with Tokio's reactor.
    #[error("watching links needs a Tokio runtime with I/O enabled: call it from inside one")]
    NoRuntime,
}

impl HostError {
    /// Wraps an error of a netlink exchange, telling a refusal apart from other failures.
    pub(crate) fn netlink(request: &'static str, source: io::Error) -> HostError {
        match source.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => HostError::NetlinkPermission { request, source },
            _ => HostError::Netlink { request, source },
        }
    }

    /// The errno behind a failed netlink exchange.
    pub fn os_error(&self) -> Option<i32> {
        match self {
            HostError::Netlink { source, .. } | HostError::NetlinkPermission { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// Whether running with more privileges would help.
    pub fn is_permission(&self) -> bool {
        matches!(self, HostError::NetlinkPermission { .. })
    }
}

/// Fails with [`HostError::ProcNotMounted`] when /proc has no processes in it.
pub(crate) fn require_proc() -> Result<(), HostError> {
    let probe = std::path::Path::new("/proc/self/stat");
    if probe.exists() {
        Ok(())
    } else {
        Err(HostError::ProcNotMounted { path: probe.to_path_buf() })
    }
}

//! Which network namespace we are in: the inode of its nsfs file (what `ip netns identify`,
//! `lsns` and /proc/PID/ns/net show) and its cookie (what eBPF's `bpf_get_netns_cookie` gives).

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;

use super::HostError;

/// SO_NETNS_COOKIE (Linux ≥ 5.14); libc does not name it. 71 on every architecture but SPARC.
#[cfg(not(any(target_arch = "sparc", target_arch = "sparc64")))]
const SO_NETNS_COOKIE: libc::c_int = 71;
#[cfg(any(target_arch = "sparc", target_arch = "sparc64"))]
const SO_NETNS_COOKIE: libc::c_int = 0x50;

/// Our network namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetnsId {
    /// Inode of the namespace's nsfs file: equal for every process inside it.
    pub inode: u64,
    /// The kernel's 64-bit cookie for it; `None` before Linux 5.14.
    pub cookie: Option<u64>,
}

/// The calling thread's network namespace. Threads can differ (setns), so this reads
/// /proc/thread-self rather than /proc/self.
pub fn current() -> Result<NetnsId, HostError> {
    Ok(NetnsId { inode: current_inode()?, cookie: cookie()? })
}

pub fn current_inode() -> Result<u64, HostError> {
    super::error::require_proc()?;
    let path = "/proc/thread-self/ns/net";
    fs::metadata(path).map(|m| m.ino()).map_err(|source| HostError::Read { path: path.into(), source })
}

/// The network namespace of process `pid`; `None` when it is gone or we may not look.
pub fn of_pid(pid: u32) -> Option<u64> {
    fs::metadata(format!("/proc/{pid}/ns/net")).ok().map(|m| m.ino())
}

/// The cookie of the calling thread's network namespace, asked of a socket created for it.
pub fn cookie() -> Result<Option<u64>, HostError> {
    // SAFETY: plain socket/getsockopt/close on a descriptor we own; the option value is a
    // u64 the kernel writes with its length checked against `len`.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(HostError::Sys { call: "socket(AF_UNIX)", source: io::Error::last_os_error() });
        }
        let mut value: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        let rc = libc::getsockopt(fd, libc::SOL_SOCKET, SO_NETNS_COOKIE, (&mut value as *mut u64).cast(), &mut len);
        let err = io::Error::last_os_error();
        libc::close(fd);
        if rc == 0 {
            Ok(Some(value))
        } else if err.raw_os_error() == Some(libc::ENOPROTOOPT) {
            Ok(None) // kernel older than 5.14
        } else {
            Err(HostError::Sys { call: "getsockopt(SO_NETNS_COOKIE)", source: err })
        }
    }
}

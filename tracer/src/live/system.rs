//! Facts about the running system the loader needs before it touches BPF: privileges, BTF, the
//! cgroup v2 root, tracefs, and the netns cookie of the calling thread.

use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::LiveError;

const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Fails unless the effective capabilities allow loading and attaching everything.
pub fn check_privileges() -> Result<(), LiveError> {
    let status = fs::read_to_string("/proc/self/status").map_err(|e| LiveError::io("/proc/self/status", e))?;
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let missing = missing_caps(eff);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(LiveError::NotPrivileged { missing: missing.join("+") })
    }
}

/// The capabilities an effective set lacks for loading and attaching everything.
fn missing_caps(eff: u64) -> Vec<&'static str> {
    let has = |cap: u32| eff & (1 << cap) != 0;
    // CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON (kernels before 5.8 had only it).
    let mut missing = Vec::new();
    if !has(CAP_BPF) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF");
    }
    if !has(CAP_PERFMON) && !has(CAP_SYS_ADMIN) {
        missing.push("CAP_PERFMON");
    }
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    missing
}

pub fn check_btf() -> Result<(), LiveError> {
    if std::path::Path::new("/sys/kernel/btf/vmlinux").exists() {
        Ok(())
    } else {
        Err(LiveError::NoBtf)
    }
}

/// Give this process a mount namespace of its own, with every mount private to it, so that what
/// the tracer mounts for itself (tracefs, the cgroup2 hierarchy) is gone when it ends and never
/// shows elsewhere. Possible only while the process has one thread (the CLI calls the loader
/// before starting any); false when it could not, and mounts then happen where the process is.
pub fn private_mounts() -> bool {
    // SAFETY: unshare(2) and mount(2) with constant arguments.
    unsafe {
        libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
    }
}

/// The mount point of the cgroup v2 hierarchy (its root), from /proc/self/mountinfo. Under
/// `ip netns exec` the command gets a fresh /sys without the host's cgroup2 mount: the hierarchy
/// (one per host) is then mounted over /sys/fs/cgroup, which is only allowed in a mount namespace
/// of our own ([`private_mounts`]), so nothing is left behind.
pub fn cgroup2_root() -> Result<PathBuf, LiveError> {
    let info = fs::read_to_string("/proc/self/mountinfo").map_err(|e| LiveError::io("/proc/self/mountinfo", e))?;
    if let Some(p) = cgroup2_root_in(&info) {
        return Ok(p);
    }
    let private = fs::read_link("/proc/self/ns/mnt").ok() != fs::read_link("/proc/1/ns/mnt").ok() || private_mounts();
    let target = Path::new("/sys/fs/cgroup");
    if private && target.is_dir() {
        // SAFETY: plain mount(2) with NUL-terminated strings and no data.
        let rc = unsafe {
            libc::mount(c"cgroup2".as_ptr(), c"/sys/fs/cgroup".as_ptr(), c"cgroup2".as_ptr(), 0, std::ptr::null())
        };
        if rc == 0 {
            return Ok(target.to_path_buf());
        }
    }
    Err(LiveError::NoCgroup2)
}

/// mountinfo lines: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER`.
/// Only a mount of the hierarchy's root ("/") is the root cgroup.
fn cgroup2_root_in(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        if right.split(' ').next()? != "cgroup2" {
            return None;
        }
        let mut f = left.split(' ');
        let root = f.nth(3)?;
        let mount_point = f.next()?;
        (root == "/").then(|| PathBuf::from(unescape_mountinfo(mount_point)))
    })
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// aya attaches tracepoints by the ids tracefs lists; mount tracefs where the kernel expects it if
/// nothing has (a fresh host may have neither /sys/kernel/tracing nor debugfs mounted).
pub fn ensure_tracefs() -> Result<(), String> {
    for dir in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        if std::path::Path::new(dir).join("events").is_dir() {
            return Ok(());
        }
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: plain mount(2) with NUL-terminated strings and no data.
    let rc = unsafe { libc::mount(c"tracefs".as_ptr(), target.as_ptr(), c"tracefs".as_ptr(), 0, std::ptr::null()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "tracefs is not mounted and mounting it at /sys/kernel/tracing failed ({}): mount -t tracefs nodev /sys/kernel/tracing",
            std::io::Error::last_os_error()
        ))
    }
}

/// The cookie of the calling thread's network namespace (SO_NETNS_COOKIE on a fresh socket).
pub fn current_netns_cookie() -> Result<u64, LiveError> {
    // SAFETY: socket(2); the result is checked before use and owned below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(LiveError::io("a socket for SO_NETNS_COOKIE", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cookie`.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(LiveError::io("SO_NETNS_COOKIE (kernel 5.14 or later)", std::io::Error::last_os_error()));
    }
    Ok(cookie)
}

/// The name of an interface of the calling thread's netns.
pub fn ifname(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: the buffer holds IF_NAMESIZE bytes, as if_indextoname requires.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: if_indextoname NUL-terminates the name within the buffer on success.
    Some(unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges_name_what_is_missing() {
        assert_eq!(missing_caps(0), ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN"]);
        assert!(missing_caps(u64::MAX).is_empty());
        let bpf_perfmon_netadmin = 1 << CAP_BPF | 1 << CAP_PERFMON | 1 << CAP_NET_ADMIN;
        assert!(missing_caps(bpf_perfmon_netadmin).is_empty());
        assert_eq!(missing_caps(1 << CAP_SYS_ADMIN), ["CAP_NET_ADMIN"]);
        let e = LiveError::NotPrivileged { missing: missing_caps(0).join("+") };
        assert!(e.to_string().contains("needs root or CAP_BPF+CAP_NET_ADMIN+CAP_PERFMON"), "{e}");
        assert_eq!(e.exit_code(), 3);
    }

    #[test]
    fn the_cgroup2_root_comes_from_mountinfo() {
        let hybrid = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                      40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
                      41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_root_in(hybrid), Some(PathBuf::from("/sys/fs/cgroup/unified")));
        let unified = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(cgroup2_root_in(unified), Some(PathBuf::from("/sys/fs/cgroup")));
        // A container's view of a sub-hierarchy is not the root.
        let sub = "29 23 0:26 /system.slice /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_root_in(sub), None);
        let escaped = "29 23 0:26 / /mnt/cg\\0402 rw - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_root_in(escaped), Some(PathBuf::from("/mnt/cg 2")));
    }
}

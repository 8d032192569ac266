//! What can stop a live session, each with what to do about it. The CLI maps all of them to
//! exit code 3 (the environment cannot run the command).

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("live tracing needs root or CAP_BPF+CAP_NET_ADMIN+CAP_PERFMON (missing: {missing}): run as root")]
    NotPrivileged { missing: String },
    #[error("no kernel BTF at /sys/kernel/btf/vmlinux: the kernel must be built with CONFIG_DEBUG_INFO_BTF=y")]
    NoBtf,
    #[error("no cgroup v2 mount in /proc/self/mountinfo: mount one (mount -t cgroup2 none /sys/fs/cgroup/unified)")]
    NoCgroup2,
    #[error("cannot open {what}: {source}")]
    Io { what: String, source: io::Error },
    #[error(
        "the BPF object could not be loaded ({source}); tuntrace needs kernel 6.6 or later with BTF, not locked down"
    )]
    Object { source: aya::EbpfError },
    #[error("the kernel rejected BPF program {program}: {error}\nverifier log:\n{verifier_log}")]
    ProgramLoad { program: String, error: String, verifier_log: String },
    #[error("cannot attach BPF program {program} to {target}: {error}")]
    Attach { program: String, target: String, error: String },
    #[error("interface {ifindex} is gone (it vanished before it could be traced)")]
    InterfaceGone { ifindex: u32 },
    #[error("BPF map {map}: {error}")]
    Map { map: &'static str, error: String },
    #[error("NETLINK_SOCK_DIAG dump failed ({0}): is the inet_diag module available (modprobe inet_diag udp_diag)?")]
    SockDiag(io::Error),
}

impl LiveError {
    /// The `tuntrace` exit code for this error: 3, the environment cannot run the command.
    pub const fn exit_code(&self) -> u8 {
        3
    }

    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        LiveError::Io { what: what.into(), source }
    }

    pub(crate) fn map(map: &'static str, error: impl std::fmt::Display) -> Self {
        LiveError::Map { map, error: error.to_string() }
    }
}

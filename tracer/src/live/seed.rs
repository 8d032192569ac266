//! Sockets that existed before the tracer: NETLINK_SOCK_DIAG lists every TCP and UDP socket of
//! the calling thread's netns with its cookie and inode, and /proc/PID/fd maps each inode to the
//! processes holding it (what `ss -p` does). Asking sock_diag also makes the kernel generate each
//! socket's cookie, so the BPF hooks that read `skc_cookie` find it from then on.

use std::collections::HashMap;
use std::fs;
use std::net::SocketAddr;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr as NlAddr};

use super::LiveError;

/// One pre-existing socket, as seeded into the `sockets` map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeededSocket {
    pub cookie: u64,
    pub inode: u32,
    /// AF_INET or AF_INET6.
    pub family: u8,
    /// IPPROTO_TCP or IPPROTO_UDP.
    pub protocol: u8,
    /// TCP state (TCP_ESTABLISHED = 1, ...; UDP sockets report 7 = CLOSE, or 1 when connected).
    pub state: u8,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// SO_BINDTODEVICE interface, 0 if none.
    pub bound_ifindex: u32,
    pub uid: u32,
    /// Processes holding a descriptor on it, lowest pid first; empty for sockets no process holds
    /// (TIME_WAIT, orphans).
    pub pids: Vec<u32>,
    /// /proc/PID/stat start time of the first pid, in boot-time ns (at clock-tick resolution).
    pub start_ns: u64,
}

/// Dumps TCP and UDP, IPv4 and IPv6 sockets and joins them with /proc.
pub fn snapshot() -> Result<Vec<SeededSocket>, LiveError> {
    let holders = socket_holders();
    let mut out = Vec::new();
    for family in [AF_INET, AF_INET6] {
        for protocol in [IPPROTO_TCP, IPPROTO_UDP] {
            for resp in dump(family, protocol).map_err(LiveError::SockDiag)? {
                let h = &resp.header;
                let id = &h.socket_id;
                let cookie = u64::from(u32::from_ne_bytes(id.cookie[..4].try_into().expect("4 bytes")))
                    | u64::from(u32::from_ne_bytes(id.cookie[4..].try_into().expect("4 bytes"))) << 32;
                let pids = holders.get(&h.inode).cloned().unwrap_or_default();
                let start_ns = pids.first().map_or(0, |&p| process_start_ns(p));
                out.push(SeededSocket {
                    cookie,
                    inode: h.inode,
                    family,
                    protocol,
                    state: h.state,
                    local: SocketAddr::new(id.source_address, id.source_port),
                    remote: SocketAddr::new(id.destination_address, id.destination_port),
                    bound_ifindex: id.interface_id,
                    uid: h.uid,
                    pids,
                    start_ns,
                });
            }
        }
    }
    Ok(out)
}

fn dump(family: u8, protocol: u8) -> std::io::Result<Vec<InetResponse>> {
    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NlAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
    let mut msg = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id,
        })
        .into(),
    );
    msg.finalize();
    let mut buf = vec![0; msg.buffer_len()];
    msg.serialize(&mut buf);
    socket.send(&buf, 0)?;

    let mut out = Vec::new();
    let mut rx = vec![0u8; 1 << 16];
    loop {
        let n = socket.recv(&mut &mut rx[..], 0)?;
        let mut off = 0;
        while off < n {
            let m = <NetlinkMessage<SockDiagMessage>>::deserialize(&rx[off..n])
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            let len = m.header.length as usize;
            match m.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => out.push(*r),
                NetlinkPayload::Done(_) => return Ok(out),
                NetlinkPayload::Error(e) => return Err(e.to_io()),
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += (len + 3) & !3;
        }
    }
}

/// Socket inode -> pids holding it, from every /proc/PID/fd/N that reads `socket:[INODE]`.
/// Processes that vanish or deny access mid-scan are skipped.
fn socket_holders() -> HashMap<u32, Vec<u32>> {
    let mut map: HashMap<u32, Vec<u32>> = HashMap::new();
    let Ok(procs) = fs::read_dir("/proc") else { return map };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = fs::read_dir(p.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            let Ok(target) = fs::read_link(fd.path()) else { continue };
            let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u32>().ok())
            else {
                continue;
            };
            let pids = map.entry(inode).or_default();
            if !pids.contains(&pid) {
                pids.push(pid);
            }
        }
    }
    for pids in map.values_mut() {
        pids.sort_unstable();
    }
    map
}

/// Field 22 of /proc/PID/stat (start time in clock ticks since boot) in ns.
pub(crate) fn process_start_ns(pid: u32) -> u64 {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0 };
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { return 0 };
    let ticks: u64 = rest.split_whitespace().nth(19).and_then(|s| s.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz <= 0 {
        return 0;
    }
    ticks.saturating_mul(1_000_000_000 / hz as u64)
}

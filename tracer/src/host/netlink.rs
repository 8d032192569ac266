//! One NETLINK_ROUTE socket for request/answer exchanges, and the reading of kernel datagrams
//! into typed messages. Parsing is netlink-packet-route's; this only frames and collects.

use std::io;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use super::HostError;

/// A blocking socket: the kernel builds a dump's answer while we read it, so an exchange never
/// waits on anything but the kernel itself.
pub(crate) struct Rtnl {
    sock: Socket,
    seq: u32,
}

/// What came back for one request.
pub(crate) struct Answer {
    pub messages: Vec<RouteNetlinkMessage>,
    /// Messages of the answer that netlink-packet-route could not decode (skipped).
    pub undecoded: u32,
}

impl Rtnl {
    pub fn open() -> Result<Rtnl, HostError> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|source| HostError::NetlinkOpen { source })?;
        sock.bind_auto().map_err(|source| HostError::NetlinkOpen { source })?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(|source| HostError::NetlinkOpen { source })?;
        // Answers are checked against our request, not against a loosely filtered dump.
        let _ = sock.set_netlink_get_strict_chk(true);
        Ok(Rtnl { sock, seq: 0 })
    }

    /// A dump (`NLM_F_DUMP`) of everything of one kind. A dump the kernel marks as interrupted
    /// (the table changed while it was read) is taken again, up to a few times.
    pub fn dump(&mut self, request: &'static str, msg: RouteNetlinkMessage) -> Result<Answer, HostError> {
        let mut last = None;
        for _ in 0..4 {
            let (answer, interrupted) = self.exchange(request, msg.clone(), NLM_F_REQUEST | NLM_F_DUMP)?;
            if !interrupted {
                return Ok(answer);
            }
            last = Some(answer);
        }
        // Still changing after several tries: the last answer is as good as any.
        Ok(last.unwrap_or(Answer { messages: Vec::new(), undecoded: 0 }))
    }

    /// One request with one answer (e.g. RTM_GETROUTE for a destination); the kernel closes it
    /// with the ACK we ask for.
    pub fn get(&mut self, request: &'static str, msg: RouteNetlinkMessage) -> Result<Answer, HostError> {
        Ok(self.exchange(request, msg, NLM_F_REQUEST | NLM_F_ACK)?.0)
    }

    fn exchange(
        &mut self,
        request: &'static str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<(Answer, bool), HostError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        self.sock.send(&out, 0).map_err(|e| HostError::netlink(request, e))?;

        let mut answer = Answer { messages: Vec::new(), undecoded: 0 };
        let mut interrupted = false;
        let mut buf = Vec::new();
        loop {
            recv_datagram(&self.sock, &mut buf).map_err(|e| HostError::netlink(request, e))?;
            let mut done = false;
            for item in messages(&buf) {
                let Ok(m) = item else {
                    answer.undecoded += 1;
                    continue;
                };
                if m.header.sequence_number != seq {
                    continue; // a late answer to an earlier request
                }
                interrupted |= m.header.flags & NLM_F_DUMP_INTR != 0;
                match m.payload {
                    NetlinkPayload::InnerMessage(inner) => answer.messages.push(inner),
                    NetlinkPayload::Done(_) => done = true,
                    NetlinkPayload::Error(e) => match e.code {
                        None => done = true, // the ACK
                        Some(_) => return Err(HostError::netlink(request, e.to_io())),
                    },
                    _ => {}
                }
            }
            if done {
                return Ok((answer, interrupted));
            }
        }
    }
}

/// Reads one datagram whole into `buf` (peeking at its size first, so nothing is truncated).
pub(crate) fn recv_datagram(sock: &Socket, buf: &mut Vec<u8>) -> io::Result<()> {
    buf.clear();
    let mut probe: Vec<u8> = Vec::with_capacity(16);
    let len = sock.recv(&mut probe, libc::MSG_PEEK | libc::MSG_TRUNC)?;
    buf.reserve(len.max(1));
    sock.recv(buf, 0)?;
    Ok(())
}

/// The netlink messages of one datagram, in order; a message that does not decode is an `Err`
/// and the walk goes on with the next one (its length field still frames it).
pub(crate) fn messages(
    mut data: &[u8],
) -> impl Iterator<Item = Result<NetlinkMessage<RouteNetlinkMessage>, String>> + '_ {
    std::iter::from_fn(move || {
        if data.is_empty() {
            return None;
        }
        let len = match NetlinkBuffer::new_checked(data) {
            Ok(b) => b.length() as usize,
            Err(e) => {
                data = &[];
                return Some(Err(e.to_string()));
            }
        };
        let item = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[..len]).map_err(|e| e.to_string());
        // Messages start on 4-byte boundaries (NLMSG_ALIGN).
        data = data.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some(item)
    })
}

/// Reads the bytes of an attribute the crate leaves undecoded.
pub(crate) fn nla_bytes(nla: &netlink_packet_core::DefaultNla) -> (u16, Vec<u8>) {
    use netlink_packet_core::Nla;
    let mut v = vec![0u8; nla.value_len()];
    nla.emit_value(&mut v);
    (nla.kind(), v)
}

//! The kernel's IPsec: SAs and policies of our network namespace over NETLINK_XFRM (what `ip
//! xfrm state` and `ip xfrm policy` list). The messages are netlink-packet-xfrm's; this asks for
//! the two dumps and turns each entry into the report's words.
//!
//! A host whose IPsec runs in userspace (strongSwan's kernel-libipsec on a TUN, as in the lab,
//! or on a kernel without ESP) has empty lists; a kernel without xfrm refuses the socket, and
//! reading SAs needs CAP_NET_ADMIN: both are said, not hidden.

use std::io;
use std::net::IpAddr;

use netlink_packet_core::{NetlinkBuffer, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST};
use netlink_packet_xfrm::{
    Address, XfrmAttrs, XfrmMessage, UDP_ENCAP_ESPINUDP, UDP_ENCAP_ESPINUDP_NON_IKE, XFRM_MODE_BEET,
    XFRM_MODE_TRANSPORT, XFRM_MODE_TUNNEL, XFRM_MSG_GETPOLICY, XFRM_MSG_GETSA, XFRM_POLICY_ALLOW, XFRM_POLICY_BLOCK,
    XFRM_POLICY_FWD, XFRM_POLICY_IN, XFRM_POLICY_OUT,
};
use netlink_sys::{protocols::NETLINK_XFRM, Socket, SocketAddr};
use tuntrace_core::report::host_facts::{Xfrm, XfrmPolicy, XfrmState};

/// SAs and policies of the calling thread's network namespace. Never fails: what could not be
/// read is said in `error`.
pub fn snapshot() -> Xfrm {
    let mut x = Xfrm::default();
    match dump(XFRM_MSG_GETSA) {
        Ok(msgs) => x.states = msgs.iter().filter_map(state).collect(),
        Err(e) => x.error = Some(describe("SAs", &e)),
    }
    match dump(XFRM_MSG_GETPOLICY) {
        Ok(msgs) => x.policies = msgs.iter().filter_map(policy).collect(),
        Err(e) => {
            x.error.get_or_insert_with(|| describe("policies", &e));
        }
    }
    x
}

fn describe(what: &str, e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => {
            format!("the kernel's IPsec {what} need CAP_NET_ADMIN to read: run as root")
        }
        Some(libc::EPROTONOSUPPORT) => "this kernel has no xfrm (kernel IPsec): nothing to list".into(),
        _ => format!("reading the kernel's IPsec {what} failed: {e}"),
    }
}

/// A dump request: the header and a 4-byte body (the `rtgenmsg` `ip xfrm` sends; the kernel
/// reads no header for xfrm dumps).
fn request(kind: u16, seq: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(20);
    v.extend_from_slice(&20u32.to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    v.extend_from_slice(&seq.to_ne_bytes());
    v.extend_from_slice(&0u32.to_ne_bytes());
    v.extend_from_slice(&[0; 4]);
    v
}

fn dump(kind: u16) -> io::Result<Vec<XfrmMessage>> {
    for _ in 0..4 {
        let (msgs, interrupted) = dump_once(kind)?;
        if !interrupted {
            return Ok(msgs);
        }
    }
    dump_once(kind).map(|(m, _)| m)
}

fn dump_once(kind: u16) -> io::Result<(Vec<XfrmMessage>, bool)> {
    let mut sock = Socket::new(NETLINK_XFRM)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    sock.send(&request(kind, 1), 0)?;
    let mut out = Vec::new();
    let mut interrupted = false;
    let mut buf = Vec::new();
    loop {
        crate::host::recv_datagram(&sock, &mut buf)?;
        let (done, intr) = parse(&buf, &mut out)?;
        interrupted |= intr;
        if done {
            return Ok((out, interrupted));
        }
    }
}

/// The messages of one datagram into `out`; whether the dump is done, and whether the kernel
/// said it was interrupted (the tables changed while it was read).
pub(crate) fn parse(mut data: &[u8], out: &mut Vec<XfrmMessage>) -> io::Result<(bool, bool)> {
    let mut interrupted = false;
    while !data.is_empty() {
        let len = NetlinkBuffer::new_checked(data)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?
            .length() as usize;
        let m = NetlinkMessage::<XfrmMessage>::deserialize(&data[..len]);
        data = data.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        // An entry this crate cannot decode is skipped, not guessed at.
        let Ok(m) = m else { continue };
        interrupted |= m.header.flags & NLM_F_DUMP_INTR != 0;
        match m.payload {
            NetlinkPayload::InnerMessage(x) => out.push(x),
            NetlinkPayload::Done(_) => return Ok((true, interrupted)),
            NetlinkPayload::Error(e) => return Err(e.to_io()),
            _ => {}
        }
    }
    Ok((false, interrupted))
}

fn addr(a: &Address, family: u16) -> String {
    if family == libc::AF_INET6 as u16 {
        IpAddr::V6(a.to_ipv6()).to_string()
    } else {
        IpAddr::V4(a.to_ipv4()).to_string()
    }
}

fn proto(p: u8) -> String {
    match i32::from(p) {
        libc::IPPROTO_ESP => "esp".into(),
        libc::IPPROTO_AH => "ah".into(),
        libc::IPPROTO_COMP => "comp".into(),
        _ => p.to_string(),
    }
}

fn mode(m: u8) -> String {
    match m {
        XFRM_MODE_TRANSPORT => "transport".into(),
        XFRM_MODE_TUNNEL => "tunnel".into(),
        XFRM_MODE_BEET => "beet".into(),
        m => format!("mode {m}"),
    }
}

fn alg_name(name: &[u8]) -> String {
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    String::from_utf8_lossy(&name[..end]).into_owned()
}

/// One SA, from an XFRM_MSG_NEWSA of the dump.
pub(crate) fn state(m: &XfrmMessage) -> Option<XfrmState> {
    let XfrmMessage::AddSa(m) = m else { return None };
    let i = &m.user_sa_info;
    let mut s = XfrmState {
        src: addr(&i.saddr, i.family),
        dst: addr(&i.id.daddr, i.family),
        proto: proto(i.id.proto),
        spi: format!("{:08x}", u32::from_be(i.id.spi)),
        mode: mode(i.mode),
        reqid: i.reqid,
        ..Default::default()
    };
    for a in &m.nlas {
        match a {
            XfrmAttrs::EncapsulationTemplate(e) => {
                let kind = match e.encap_type {
                    UDP_ENCAP_ESPINUDP => "espinudp",
                    UDP_ENCAP_ESPINUDP_NON_IKE => "espinudp-nonike",
                    _ => "encap",
                };
                s.encap = Some(format!("{kind} {} -> {}", u16::from_be(e.encap_sport), u16::from_be(e.encap_dport)));
            }
            XfrmAttrs::EncryptionAlg(x) | XfrmAttrs::AuthenticationAlg(x) | XfrmAttrs::CompressionAlg(x) => {
                s.algorithms.push(alg_name(&x.alg_name));
            }
            XfrmAttrs::EncryptionAlgAead(x) => s.algorithms.push(alg_name(&x.alg_name)),
            XfrmAttrs::AuthenticationAlgTrunc(x) => s.algorithms.push(alg_name(&x.alg_name)),
            XfrmAttrs::IfId(v) => s.if_id = Some(*v),
            _ => {}
        }
    }
    s.algorithms.dedup();
    Some(s)
}

/// One policy, from an XFRM_MSG_NEWPOLICY of the dump.
pub(crate) fn policy(m: &XfrmMessage) -> Option<XfrmPolicy> {
    let XfrmMessage::AddPolicy(m) = m else { return None };
    let i = &m.user_policy_info;
    let sel = &i.selector;
    let mut p = XfrmPolicy {
        dir: match i.direction {
            XFRM_POLICY_IN => "in".into(),
            XFRM_POLICY_OUT => "out".into(),
            XFRM_POLICY_FWD => "fwd".into(),
            d => format!("dir {d}"),
        },
        src: format!("{}/{}", addr(&sel.saddr, sel.family), sel.prefixlen_s),
        dst: format!("{}/{}", addr(&sel.daddr, sel.family), sel.prefixlen_d),
        action: match i.action {
            XFRM_POLICY_ALLOW => "allow".into(),
            XFRM_POLICY_BLOCK => "block".into(),
            a => format!("action {a}"),
        },
        priority: i.priority,
        ..Default::default()
    };
    for a in &m.nlas {
        match a {
            XfrmAttrs::Template(ts) => {
                for t in ts {
                    p.templates.push(format!(
                        "{} {} {} -> {} reqid {}",
                        proto(t.id.proto),
                        mode(t.mode),
                        addr(&t.saddr, t.family),
                        addr(&t.id.daddr, t.family),
                        t.reqid
                    ));
                }
            }
            XfrmAttrs::IfId(v) => p.if_id = Some(*v),
            _ => {}
        }
    }
    Some(p)
}

/// The peers xfrm names: the far end of each SA (its destination when it is not one of ours).
pub fn state_peers(x: &Xfrm, ours: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for s in &x.states {
        let (peer, dir) = if ours(&s.src) { (&s.dst, "out") } else { (&s.src, "in") };
        let encap = s.encap.as_deref().map(|e| format!(", {e}")).unwrap_or_default();
        v.push((peer.clone(), format!("kernel {} SA {} ({dir}, {}{encap})", s.proto.to_uppercase(), s.spi, s.mode)));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NetlinkHeader;
    use netlink_packet_xfrm::policy::ModifyMessage as PolicyModify;
    use netlink_packet_xfrm::state::ModifyMessage as StateModify;
    use netlink_packet_xfrm::{Alg, AlgAead, EncapTmpl, UserTemplate};

    fn bytes(m: XfrmMessage, kind: u16) -> Vec<u8> {
        let mut h = NetlinkHeader::default();
        h.message_type = kind;
        h.flags = netlink_packet_core::NLM_F_MULTIPART;
        let mut nl = NetlinkMessage::new(h, NetlinkPayload::InnerMessage(m));
        nl.finalize();
        // The crate sets the type from the payload; the kernel's dump answers NEWSA/NEWPOLICY.
        let mut v = vec![0; nl.buffer_len()];
        nl.serialize(&mut v);
        v
    }

    fn done() -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&20u32.to_ne_bytes());
        v.extend_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE
        v.extend_from_slice(&2u16.to_ne_bytes());
        v.extend_from_slice(&[0; 12]);
        v
    }

    fn name(n: &str) -> [u8; 64] {
        let mut a = [0u8; 64];
        a[..n.len()].copy_from_slice(n.as_bytes());
        a
    }

    /// An ESP-in-UDP SA and its policy as strongSwan's kernel-netlink installs them, built as
    /// the kernel sends them in a dump, read back into the report's words.
    #[test]
    fn states_and_policies_from_dump_messages() {
        let v4 = |s: &str| Address::from_ip(&s.parse().unwrap());
        let mut sa = StateModify::default();
        sa.user_sa_info.family = libc::AF_INET as u16;
        sa.user_sa_info.saddr = v4("198.18.0.2");
        sa.user_sa_info.id.daddr = v4("198.18.0.1");
        sa.user_sa_info.id.spi = 0xc1a2b3c4u32.to_be();
        sa.user_sa_info.id.proto = libc::IPPROTO_ESP as u8;
        sa.user_sa_info.mode = XFRM_MODE_TUNNEL;
        sa.user_sa_info.reqid = 1;
        sa.nlas = vec![
            XfrmAttrs::EncapsulationTemplate(EncapTmpl {
                encap_type: UDP_ENCAP_ESPINUDP,
                encap_sport: 4500u16.to_be(),
                encap_dport: 4500u16.to_be(),
                encap_oa: Address::default(),
            }),
            XfrmAttrs::EncryptionAlgAead(AlgAead {
                alg_name: name("rfc4106(gcm(aes))"),
                alg_key_len: 160,
                alg_icv_len: 128,
                alg_key: vec![7; 20],
            }),
            XfrmAttrs::IfId(42),
        ];
        let mut cbc = StateModify::default();
        cbc.user_sa_info.family = libc::AF_INET6 as u16;
        cbc.user_sa_info.saddr = Address::from_ip(&"2001:db8::1".parse().unwrap());
        cbc.user_sa_info.id.daddr = Address::from_ip(&"2001:db8::2".parse().unwrap());
        cbc.user_sa_info.id.spi = 0x100u32.to_be();
        cbc.user_sa_info.id.proto = libc::IPPROTO_AH as u8;
        cbc.nlas = vec![XfrmAttrs::AuthenticationAlg(Alg {
            alg_name: name("hmac(sha256)"),
            alg_key_len: 256,
            alg_key: vec![1; 32],
        })];
        let mut pol = PolicyModify::default();
        pol.user_policy_info.direction = XFRM_POLICY_OUT;
        pol.user_policy_info.priority = 383615;
        pol.user_policy_info.selector.family = libc::AF_INET as u16;
        pol.user_policy_info.selector.saddr = v4("198.19.1.1");
        pol.user_policy_info.selector.prefixlen_s = 32;
        pol.user_policy_info.selector.daddr = v4("198.19.0.0");
        pol.user_policy_info.selector.prefixlen_d = 16;
        let mut t = UserTemplate {
            family: libc::AF_INET as u16,
            saddr: v4("198.18.0.2"),
            mode: XFRM_MODE_TUNNEL,
            reqid: 1,
            ..Default::default()
        };
        t.id.daddr = v4("198.18.0.1");
        t.id.proto = libc::IPPROTO_ESP as u8;
        pol.nlas = vec![XfrmAttrs::Template(vec![t])];

        let mut data = bytes(XfrmMessage::AddSa(sa), 0x10);
        data.extend(bytes(XfrmMessage::AddSa(cbc), 0x10));
        data.extend(bytes(XfrmMessage::AddPolicy(pol), 0x13));
        let mut msgs = Vec::new();
        assert_eq!(parse(&data, &mut msgs).unwrap(), (false, false));
        assert_eq!(parse(&done(), &mut msgs).unwrap(), (true, false));
        let states: Vec<XfrmState> = msgs.iter().filter_map(state).collect();
        assert_eq!(
            states[0],
            XfrmState {
                src: "198.18.0.2".into(),
                dst: "198.18.0.1".into(),
                proto: "esp".into(),
                spi: "c1a2b3c4".into(),
                mode: "tunnel".into(),
                reqid: 1,
                encap: Some("espinudp 4500 -> 4500".into()),
                algorithms: vec!["rfc4106(gcm(aes))".into()],
                if_id: Some(42),
            }
        );
        assert_eq!(
            (states[1].src.as_str(), states[1].proto.as_str(), states[1].spi.as_str()),
            ("2001:db8::1", "ah", "00000100")
        );
        assert_eq!(
            (states[1].mode.as_str(), &states[1].algorithms[..]),
            ("transport", &["hmac(sha256)".to_string()][..])
        );
        let policies: Vec<XfrmPolicy> = msgs.iter().filter_map(policy).collect();
        assert_eq!(
            policies,
            [XfrmPolicy {
                dir: "out".into(),
                src: "198.19.1.1/32".into(),
                dst: "198.19.0.0/16".into(),
                action: "allow".into(),
                priority: 383615,
                templates: vec!["esp tunnel 198.18.0.2 -> 198.18.0.1 reqid 1".into()],
                if_id: None,
            }]
        );
        let x = Xfrm { states, policies, error: None };
        let peers = state_peers(&x, &|a| a == "198.18.0.2");
        assert_eq!(
            peers[0],
            ("198.18.0.1".into(), "kernel ESP SA c1a2b3c4 (out, tunnel, espinudp 4500 -> 4500)".into())
        );
    }

    #[test]
    fn dump_requests_and_refusals() {
        let r = request(XFRM_MSG_GETSA, 9);
        assert_eq!(r.len(), 20);
        assert_eq!(u16::from_ne_bytes([r[4], r[5]]), XFRM_MSG_GETSA);
        assert_eq!(u16::from_ne_bytes([r[6], r[7]]), NLM_F_REQUEST | NLM_F_DUMP);
        let e = describe("SAs", &io::Error::from_raw_os_error(libc::EPERM));
        assert!(e.contains("run as root"), "{e}");
        let e = describe("SAs", &io::Error::from_raw_os_error(libc::EPROTONOSUPPORT));
        assert!(e.contains("no xfrm"), "{e}");
    }
}

//! SIP on the public corpus: every SIP message tshark finds, we find and group the same way.
//!
//! The packet walk here is deliberately independent of the crate's own capture and IP code
//! (pcap-parser + etherparse, with etherparse's IPv6 defragmentation): this test judges only
//! the SIP layer, so a bug elsewhere cannot hide or fake a SIP result. Expected Call-IDs,
//! message counts and CSeqs come from `tshark -Y sip -T fields -e sip.Call-ID -e sip.CSeq`.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;

use etherparse::{defrag::IpDefragPool, NetSlice, SlicedPacket, TransportSlice};
use pcap_parser::PcapCapture;
use tuntrace_core::aggregate::sip_report;
use tuntrace_core::report::{self, DialogState, SipDialog, SipRegistration};
use tuntrace_core::sip::dialog::{MsgCtx, Tracker, Transport};
use tuntrace_core::sip::message::{frame_len, looks_like_sip, parse, FrameResult};
use tuntrace_core::time::Timestamp;

struct Run {
    dialogs: Vec<SipDialog>,
    registrations: Vec<SipRegistration>,
    media: Vec<(IpAddr, u16)>,
    /// UDP payloads on SIP ports that were not SIP (keepalives).
    not_sip: usize,
    keepalives: usize,
}

fn udp_payload_of(buf: &[u8]) -> Option<(u16, u16, &[u8])> {
    let h = buf.get(..8)?;
    Some((u16::from_be_bytes([h[0], h[1]]), u16::from_be_bytes([h[2], h[3]]), &buf[8..]))
}

fn run(name: &str) -> Option<Run> {
    let path = common::corpus_file(name)?;
    let data = std::fs::read(&path).unwrap();
    let cap = PcapCapture::from_file(&data).unwrap();
    let linktype = cap.header.network.0;
    // Every message listed (these captures' calls have up to 32): the checks below read whole
    // call flows. The report's own cut to the first and latest 8 is tested in sip_report.rs.
    let mut tracker = Tracker::with_limits(
        tuntrace_core::sip::dialog::DEFAULT_MAX_CALLS,
        64,
        tuntrace_core::sip::dialog::DEFAULT_MAX_MESSAGES_TOTAL,
    );
    let mut defrag: IpDefragPool = IpDefragPool::new();
    let mut streams: HashMap<(IpAddr, u16, IpAddr, u16), Vec<u8>> = HashMap::new();
    let (mut not_sip, mut keepalives) = (0, 0);

    for b in &cap.blocks {
        let at = Timestamp::from_secs_nanos(b.ts_sec.into(), b.ts_usec.saturating_mul(1000));
        let sliced = match linktype {
            1 => SlicedPacket::from_ethernet(b.data),
            113 => SlicedPacket::from_linux_sll(b.data),
            other => panic!("linktype {other} not expected in SIP corpus files"),
        };
        let Ok(p) = sliced else { continue };
        let (src, dst): (IpAddr, IpAddr) = match &p.net {
            Some(NetSlice::Ipv4(v4)) => (v4.header().source_addr().into(), v4.header().destination_addr().into()),
            Some(NetSlice::Ipv6(v6)) => (v6.header().source_addr().into(), v6.header().destination_addr().into()),
            _ => continue,
        };
        let ctx = |sport, dport, transport| MsgCtx {
            at,
            src,
            sport,
            dst,
            dport,
            transport,
            pid: None,
            iface: None,
            tunnel: 0,
        };
        if let Ok(Some(whole)) = defrag.process_sliced_packet(&p, (), ()) {
            let (sport, dport, payload) = udp_payload_of(&whole.payload).unwrap();
            assert!(looks_like_sip(payload), "reassembled datagram is SIP");
            tracker.observe(&parse(payload).unwrap(), ctx(sport, dport, Transport::Udp));
            continue;
        }
        match &p.transport {
            Some(TransportSlice::Udp(u)) => {
                let payload = u.payload();
                if !looks_like_sip(payload) {
                    not_sip += 1;
                    continue;
                }
                let m = parse(payload).unwrap();
                assert!(!m.truncated);
                tracker.observe(&m, ctx(u.source_port(), u.destination_port(), Transport::Udp));
            }
            Some(TransportSlice::Tcp(t)) => {
                let key = (src, t.source_port(), dst, t.destination_port());
                let buf = streams.entry(key).or_default();
                buf.extend_from_slice(t.payload());
                loop {
                    match frame_len(buf) {
                        FrameResult::Complete(n) => {
                            let m = parse(&buf[..n]).unwrap();
                            tracker.observe(&m, ctx(key.1, key.3, Transport::Tcp));
                            buf.drain(..n);
                        }
                        FrameResult::Keepalive(k) => {
                            keepalives += 1;
                            buf.drain(..k.bytes());
                        }
                        FrameResult::Incomplete => break,
                        other => panic!("TCP stream {key:?} did not frame: {other:?}"),
                    }
                }
            }
            _ => {}
        }
    }
    let media = tracker.media_endpoints().collect();
    assert_eq!(tracker.dropped(), Default::default());
    let report::Sip { dialogs, registrations } = sip_report(&tracker);
    Some(Run { dialogs, registrations, media, not_sip, keepalives })
}

fn cseqs(msgs: &[tuntrace_core::report::SipMessage]) -> Vec<String> {
    msgs.iter().map(|m| m.cseq.clone().unwrap_or_default()).collect()
}

#[test]
fn cloudshark_invite_register_invite_on_5060_5061() {
    let Some(r) = run("sip_udp_5060_5061.pcap") else { return };
    let d: Vec<_> =
        r.dialogs.iter().map(|d| (d.call_id.as_str(), d.method.as_str(), d.state, d.messages.len())).collect();
    assert_eq!(
        d,
        vec![
            ("12013223@200.57.7.195", "INVITE", DialogState::Confirmed, 5),
            // INVITE/100/180 and the capture ends: ringing.
            ("12015624@200.57.7.195", "INVITE", DialogState::Early, 3),
        ]
    );
    let first = &r.dialogs[0];
    assert_eq!(first.from.as_deref(), Some("sip:200.57.7.195:55061;user=phone"));
    assert_eq!(first.to.as_deref(), Some("sip:francisco@bestel.com:55060"));
    assert_eq!(cseqs(&first.messages), ["1 INVITE", "1 INVITE", "1 INVITE", "1 INVITE", "1 ACK"]);
    let statuses: Vec<_> = first.messages.iter().map(|m| m.status).collect();
    assert_eq!(statuses, [None, Some(100), Some(180), Some(200), None]);
    assert_eq!(first.messages[0].sdp, ["audio 200.57.7.196:40376 RTP/AVP PCMA/8000 G729/8000 G723/8000 PCMU/8000"]);
    assert_eq!((first.messages[0].sport, first.messages[0].dport), (5060, 5061));

    assert_eq!(r.registrations.len(), 1);
    let reg = &r.registrations[0];
    assert_eq!(reg.call_id, "D3A26FC3974B44ECB5A96E07282903E3@bestel.com");
    assert_eq!(reg.aor.as_deref(), Some("sip:francisco@bestel.com"));
    assert_eq!(reg.registrar.as_deref(), Some("sip:bestel.com"));
    assert_eq!(reg.result, Some(200));
    assert_eq!(cseqs(&reg.messages), ["39241 REGISTER", "39241 REGISTER"]);
    assert!(r.media.contains(&("200.57.7.196".parse().unwrap(), 40376)));
}

#[test]
fn ndpi_register_auth_and_failed_invites() {
    let Some(r) = run("sip_udp_register_invite_rtp.pcap") else { return };
    // The 21 five-byte "     " datagrams on 5060 are NAT keepalives, not SIP; RTP/RTCP neither.
    assert_eq!(r.not_sip, 21 + 10);
    let regs: Vec<_> = r.registrations.iter().map(|g| (g.call_id.as_str(), g.result, g.messages.len())).collect();
    assert_eq!(
        regs,
        vec![
            // Last transaction (CSeq 79) was refused 401.
            ("578222729-4665d775@578222732-4665d772", Some(401), 26),
            // CSeq 6 accepted after 401s.
            ("29858147-465b0752@29858051-465b07b2", Some(200), 14),
        ]
    );
    assert_eq!(r.registrations[0].registrar.as_deref(), Some("sip:sip.cybercity.dk"));
    assert_eq!(r.registrations[0].aor.as_deref(), Some("sip:voi18063@sip.cybercity.dk"));
    let d: Vec<_> = r.dialogs.iter().map(|d| (d.call_id.as_str(), d.state, d.messages.len())).collect();
    assert_eq!(
        d,
        vec![
            // INVITE ×3, 100, CANCEL… then 408: the caller gave up.
            ("105090259-446faf7a@192.168.1.2", DialogState::Terminated, 18),
            // 407, then 403 to the authenticated INVITE.
            ("85216695-42dcdb1d@192.168.1.2", DialogState::Failed, 8),
            ("24487391-449bf2a0@192.168.1.2", DialogState::Failed, 7),
            // 407, then 100/183/480.
            ("11894297-4432a9f8@192.168.1.2", DialogState::Failed, 8),
        ]
    );
    // The 183's SDP names where the RTP in frames 95+ goes.
    assert!(r.media.contains(&("212.242.33.36".parse().unwrap(), 40392)));
}

#[test]
fn suricata_tcp_register_split_in_two_segments() {
    let Some(r) = run("sip_tcp_register.pcap") else { return };
    assert!(r.dialogs.is_empty());
    assert_eq!(r.keepalives, 0);
    let reg = &r.registrations[0];
    assert_eq!(reg.call_id, "8OmtYUU8EdlafUh4g4jiAw..");
    assert_eq!(reg.result, Some(200));
    assert_eq!(reg.registrar.as_deref(), Some("sip:192.168.43.100;transport=TCP"));
    assert_eq!(reg.aor.as_deref(), Some("sip:987654@192.168.43.100;transport=TCP"));
    let m: Vec<_> =
        reg.messages.iter().map(|m| (m.transport, m.sport, m.dport, m.method.as_deref(), m.status)).collect();
    assert_eq!(
        m,
        vec![
            (report::Transport::Tcp, 58882, 5060, Some("REGISTER"), None),
            (report::Transport::Tcp, 5060, 58882, None, Some(200))
        ]
    );
}

#[test]
fn sngrep_ipv6_fragmented_invite_through_proxy() {
    let Some(r) = run("sip_ipv6_frag_sll.pcap") else { return };
    assert!(r.registrations.is_empty());
    assert_eq!(r.dialogs.len(), 1);
    let d = &r.dialogs[0];
    assert_eq!(d.call_id, "71846-1647924829-397430@fd17:625c:f037:2:a00:27ff:feb9:1521");
    assert_eq!(d.state, DialogState::Terminated);
    // Both legs through the proxy carry the same Call-ID: 32 messages, as tshark counts.
    assert_eq!(d.messages.len(), 32);
    assert_eq!(d.messages[0].src, "fd17:625c:f037:2:a00:27ff:feb9:1521");
    assert_eq!((d.messages[0].sport, d.messages[0].dport), (15060, 5062));
    let methods: Vec<_> = d.messages.iter().filter_map(|m| m.method.as_deref()).collect();
    assert_eq!(
        methods,
        [
            "INVITE", "INVITE", "PRACK", "PRACK", "UPDATE", "UPDATE", "PRACK", "PRACK", "UPDATE", "UPDATE", "ACK",
            "ACK", "BYE", "BYE"
        ]
    );
    assert!(r.media.contains(&("fd17:625c:f037:2:a00:27ff:feb9:1521".parse().unwrap(), 15062)));
}

//! SIPp peers: the embedded scenarios and a reader for SIPp's own message trace (`-trace_msg`),
//! which is the ground truth for what SIP the UE sent and received.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::netns;
use super::truth::SipDialog;
use super::SipTransport;

pub const UAS_XML: &str = include_str!("uas.xml");
pub const UAC_REGISTER_XML: &str = include_str!("uac_register.xml");
pub const UAC_CALL_XML: &str = include_str!("uac_call.xml");

pub const SIP_PORT: u16 = 5060;

fn transport_flag(t: SipTransport) -> &'static str {
    // One socket per peer pair: the lab has exactly one UE and one P-CSCF.
    match t {
        SipTransport::Udp => "u1",
        SipTransport::Tcp => "t1",
    }
}

/// Flags every SIPp run of the lab shares: no terminal UI, no default BYE/error behaviour that
/// would add messages nobody scripted, a message trace, a hard timeout so a lost peer cannot hang
/// the lab, and media bound to the scenario address (there is no other address to pick).
fn common(c: &mut Command, scenario: &Path, local_ip: &str, t: SipTransport, msg_file: &Path, timeout_s: u32) {
    c.arg("-sf").arg(scenario);
    c.args(["-i", local_ip, "-mi", local_ip, "-p", &SIP_PORT.to_string(), "-t", transport_flag(t)]);
    c.args(["-nostdin", "-nd", "-trace_msg", "-timeout", &format!("{timeout_s}s"), "-timeout_error"]);
    c.arg("-message_file").arg(msg_file);
}

/// The P-CSCF in the ePDG namespace; exits by itself after `calls` dialogs.
pub fn uas_command(ns: &str, scenario: &Path, t: SipTransport, calls: u32, msg_file: &Path) -> Command {
    uas_command_at(ns, scenario, netns::PCSCF, t, calls, msg_file)
}

/// The P-CSCF on another address of the ePDG namespace (the far end of a WireGuard or OpenVPN
/// tunnel).
pub fn uas_command_at(ns: &str, scenario: &Path, addr: &str, t: SipTransport, calls: u32, msg_file: &Path) -> Command {
    let mut c = netns::exec_in(ns, "sipp");
    common(&mut c, scenario, addr, t, msg_file, 30);
    c.args(["-m", &calls.to_string()]);
    c
}

/// The UE's SIPp in the UE namespace, from its virtual IP through the tunnel to the P-CSCF.
pub fn uac_command(ns: &str, scenario: &Path, vip: &str, t: SipTransport, calls: u32, msg_file: &Path) -> Command {
    uac_command_to(ns, scenario, vip, netns::PCSCF, t, calls, msg_file)
}

/// The UE's SIPp from `local` to the P-CSCF at `remote`.
pub fn uac_command_to(
    ns: &str,
    scenario: &Path,
    local: &str,
    remote: &str,
    t: SipTransport,
    calls: u32,
    msg_file: &Path,
) -> Command {
    let mut c = netns::exec_in(ns, "sipp");
    c.arg(format!("{remote}:{SIP_PORT}"));
    common(&mut c, scenario, local, t, msg_file, 20);
    // One call at a time, quickly: the ladder stays readable and the capture small.
    c.args(["-m", &calls.to_string(), "-l", "1", "-r", "20"]);
    c
}

/// Is something listening on `port` in the namespace of `pid`? /proc/PID/net/* shows the
/// sockets of that process's network namespace, so no extra command is needed.
pub fn listening(pid: u32, t: SipTransport, port: u16) -> bool {
    let (file, state) = match t {
        SipTransport::Udp => ("udp", "07"),
        SipTransport::Tcp => ("tcp", "0A"),
    };
    let Ok(table) = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")) else {
        return false;
    };
    let want = format!(":{port:04X}");
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(1).is_some_and(|local| local.ends_with(&want)) && f.get(3) == Some(&state)
    })
}

/// One message as SIPp traced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traced {
    pub sent: bool,
    /// Method for a request, status code for a response.
    pub what: String,
    pub call_id: String,
}

/// Read a SIPp `-trace_msg` file. Entries start with a dashed line carrying the time, then a line
/// like `UDP message sent (444 bytes):` or `TCP message received [414] bytes :`, then the message.
pub fn parse_trace(text: &str) -> Vec<Traced> {
    let mut out = Vec::new();
    for entry in text.split("-----------------------------------------------").skip(1) {
        let mut lines = entry.lines();
        lines.next(); // time stamp
        let Some(head) = lines.next() else { continue };
        let sent = if head.contains("message sent") {
            true
        } else if head.contains("message received") {
            false
        } else {
            continue;
        };
        let mut lines = lines.skip_while(|l| l.trim().is_empty());
        let Some(start) = lines.next() else { continue };
        let what = if let Some(rest) = start.strip_prefix("SIP/2.0 ") {
            rest.split_whitespace().next().unwrap_or("").to_string()
        } else {
            start.split_whitespace().next().unwrap_or("").to_string()
        };
        let mut call_id = String::new();
        for l in lines {
            if l.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = l.split_once(':') {
                let name = name.trim();
                if name.eq_ignore_ascii_case("call-id") || name == "i" {
                    call_id = value.trim().to_string();
                    break;
                }
            }
        }
        if !what.is_empty() {
            out.push(Traced { sent, what, call_id });
        }
    }
    out
}

/// Group traced messages by Call-ID, keeping first-seen order of dialogs and of messages.
pub fn dialogs(traced: &[Traced], transport: SipTransport) -> Vec<SipDialog> {
    let mut order: Vec<String> = Vec::new();
    let mut by_id: BTreeMap<String, SipDialog> = BTreeMap::new();
    for m in traced {
        let d = by_id.entry(m.call_id.clone()).or_insert_with(|| {
            order.push(m.call_id.clone());
            SipDialog {
                call_id: m.call_id.clone(),
                transport: transport.as_str().to_string(),
                messages: 0,
                sent: 0,
                received: 0,
                sequence: Vec::new(),
            }
        });
        d.messages += 1;
        if m.sent {
            d.sent += 1;
        } else {
            d.received += 1;
        }
        d.sequence.push(m.what.clone());
    }
    order.into_iter().filter_map(|id| by_id.remove(&id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Two entries of a real trace from this lab's UE.
    const TRACE: &str = "----------------------------------------------- 2026-11-26 18:08:41.264065
UDP message sent (444 bytes):

REGISTER sip:ims.mnc260.mcc310.3gppnetwork.org SIP/2.0
Via: SIP/2.0/UDP 198.19.1.1:5060;branch=z9hG4bK-8384-1-0
Call-ID: 1-8384@198.19.1.1
CSeq: 1 REGISTER
Content-Length: 0


----------------------------------------------- 2026-11-26 18:08:41.265489
UDP message received [414] bytes :

SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 198.19.1.1:5060;branch=z9hG4bK-8384-1-0
Call-ID: 1-8384@198.19.1.1
CSeq: 1 REGISTER
WWW-Authenticate: Digest realm=\"ims\", nonce=\"8381n1\", algorithm=MD5, qop=\"auth\"
Content-Length: 0

";

    #[test]
    fn reads_sipp_trace() {
        let t = parse_trace(TRACE);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0], Traced { sent: true, what: "REGISTER".into(), call_id: "1-8384@198.19.1.1".into() });
        assert_eq!(t[1].what, "401");
        assert!(!t[1].sent);
        let d = dialogs(&t, SipTransport::Udp);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].sequence, vec!["REGISTER", "401"]);
        assert_eq!((d[0].messages, d[0].sent, d[0].received), (2, 1, 1));
    }

    #[test]
    fn garbage_trace_gives_nothing() {
        assert!(parse_trace("").is_empty());
        assert!(parse_trace("-----------------------------------------------\n").is_empty());
        assert!(parse_trace("-----------------------------------------------\nx\n\n\n").is_empty());
    }

    #[test]
    fn scenarios_are_embedded() {
        assert!(UAS_XML.contains("verifyauth") && UAS_XML.contains("401 Unauthorized"));
        assert!(UAC_REGISTER_XML.contains("[authentication"));
        assert!(UAC_CALL_XML.contains("BYE [next_url]"));
    }

    proptest::proptest! {
        #[test]
        fn any_trace_is_read_without_panic(s in "(-{47}|\\PC|\\n| message sent| message received|Call-ID:|SIP/2.0 ){0,60}") {
            let t = parse_trace(&s);
            let d = dialogs(&t, SipTransport::Udp);
            proptest::prop_assert_eq!(d.iter().map(|x| x.messages as usize).sum::<usize>(), t.len());
        }
    }
}

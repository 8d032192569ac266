//! The report's SIP dialogs and registrations, made from the dialog tracker's calls: part of
//! building the report ([`super::build`] calls [`sip`]). The tracker keeps addresses as
//! numbers and names as word ids; they are spelled here, once per report.

use std::net::IpAddr;

use crate::digits::{ip_string, push_decimal};
use crate::history::History;
use crate::report;
use crate::sip::dialog::{self, Call, Kept, Kind, Tracker};

/// The tracker's dialogs and registrations as the report lists them, each ordered by
/// first-seen time (then arrival). Reads the tracker, consumes nothing. `pid` is the owner id
/// the tracker was given ([`dialog::MsgCtx::pid`]) and `comm` is left `None`: the tracker
/// knows no processes. For whoever feeds a tracker of their own; the aggregator names owners.
pub fn sip_report(t: &Tracker) -> report::Sip {
    sip(t, |pid| (pid, None))
}

/// [`sip_report`], with the pid and comm of each call's owner id named by `owner`.
pub(super) fn sip(t: &Tracker, owner: impl Fn(Option<u32>) -> (Option<u32>, Option<String>)) -> report::Sip {
    let mut dialogs = Vec::new();
    let mut registrations = Vec::new();
    for c in t.calls() {
        let (pid, comm) = owner(c.pid());
        if c.is_registration() {
            registrations.push(report::SipRegistration {
                call_id: c.call_id().to_owned(),
                aor: c.to().map(str::to_owned),
                registrar: c.registrar().map(str::to_owned),
                result: c.result(),
                messages: messages(c.messages(), t),
                pid,
                comm,
                tunnel: tunnel(c.tunnel()),
                message_counts: counts(c, t),
                messages_elided: elided(c.messages()),
            });
        } else {
            let method = c.effective_method().unwrap_or("unknown").to_owned();
            dialogs.push(report::SipDialog {
                call_id: c.call_id().to_owned(),
                from: c.from().map(str::to_owned),
                to: c.to().map(str::to_owned),
                method,
                state: state(c.state()),
                messages: messages(c.messages(), t),
                pid,
                comm,
                tunnel: tunnel(c.tunnel()),
                message_counts: counts(c, t),
                messages_elided: elided(c.messages()),
            });
        }
    }
    report::Sip { dialogs, registrations }
}

/// The report's tunnel index of a call's tunnel (index + 1 in the tracker; 0 for none).
fn tunnel(t: u32) -> Option<usize> {
    (t != 0).then(|| t as usize - 1)
}

fn counts(c: &Call, t: &Tracker) -> Vec<report::MessageCount> {
    c.counts()
        .iter()
        .map(|k| {
            let (method, status) = match &k.kind {
                Kind::Request(w) => (Some(t.word(w).to_owned()), None),
                Kind::Response(code) => (None, Some(*code)),
                Kind::Other => (None, None),
            };
            report::MessageCount { method, status, forward: k.forward, count: k.count }
        })
        .collect()
}

fn elided(h: &History<Kept>) -> Option<report::Elided> {
    (h.elided() > 0).then(|| report::Elided { after: h.before_gap(), count: h.elided() })
}

fn state(s: dialog::State) -> report::DialogState {
    match s {
        dialog::State::Early => report::DialogState::Early,
        dialog::State::Confirmed => report::DialogState::Confirmed,
        dialog::State::Terminated => report::DialogState::Terminated,
        dialog::State::Failed => report::DialogState::Failed,
        dialog::State::Unknown => report::DialogState::Unknown,
    }
}

fn transport(t: dialog::Transport) -> report::Transport {
    match t {
        dialog::Transport::Udp => report::Transport::Udp,
        dialog::Transport::Tcp => report::Transport::Tcp,
        dialog::Transport::Tls => report::Transport::Tls,
        dialog::Transport::Ws => report::Transport::Ws,
        dialog::Transport::Sctp => report::Transport::Sctp,
    }
}

/// Most distinct addresses spelled once per call in [`messages`]; a call with more
/// (only a crafted one) spells the rest per message rather than search a long list.
const MAX_SPELLED_ADDRS: usize = 8;

/// Addresses already spelled in a call's report messages, to copy rather than format
/// again: `(address, index of a message, whether it is that message's source)`. A fixed
/// array, so remembering them costs no allocation of its own.
struct Spelled {
    at: [(IpAddr, usize, bool); MAX_SPELLED_ADDRS],
    len: usize,
}

impl Spelled {
    fn find(&self, ip: IpAddr) -> Option<(usize, bool)> {
        self.at[..self.len].iter().find(|e| e.0 == ip).map(|&(_, i, src)| (i, src))
    }

    fn note(&mut self, ip: IpAddr, i: usize, src: bool) {
        if self.len < MAX_SPELLED_ADDRS && self.find(ip).is_none() {
            self.at[self.len] = (ip, i, src);
            self.len += 1;
        }
    }
}

/// The report's messages for one call: names and addresses spelled out. A call's messages
/// go between the same two or three hosts, so each address is formatted once and copied.
fn messages(kept: &History<Kept>, t: &Tracker) -> Vec<report::SipMessage> {
    let mut spelled = Spelled { at: [(IpAddr::from([0u8; 4]), 0, false); MAX_SPELLED_ADDRS], len: 0 };
    let word = |w: &dialog::Word| t.word(w).to_owned();
    let mut out: Vec<report::SipMessage> = Vec::with_capacity(kept.len());
    for k in kept.iter() {
        let copy = |ip: IpAddr| {
            let (j, src) = spelled.find(ip)?;
            Some(if src { out[j].src.clone() } else { out[j].dst.clone() })
        };
        let src = copy(k.src).unwrap_or_else(|| ip_string(k.src));
        let dst = if k.dst == k.src { src.clone() } else { copy(k.dst).unwrap_or_else(|| ip_string(k.dst)) };
        let i = out.len();
        spelled.note(k.src, i, true);
        spelled.note(k.dst, i, false);
        out.push(report::SipMessage {
            at: k.at.into(),
            src,
            dst,
            transport: transport(k.transport),
            method: k.method.as_ref().map(word),
            status: k.status,
            cseq: k.cseq.as_ref().map(|(seq, method)| {
                let (seq, method) = (*seq, t.word(method));
                let mut s = String::with_capacity(11 + method.len());
                push_decimal(&mut s, u64::from(seq));
                s.push(' ');
                s.push_str(method);
                s
            }),
            sport: k.sport,
            dport: k.dport,
            reason: k.reason.as_ref().map(word),
            sdp: k.sdp.iter().flat_map(|d| d.iter()).map(|d| String::from(&**d)).collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{sip_report, MAX_SPELLED_ADDRS};
    use crate::report::{self, DialogState, Transport};
    use crate::sip::dialog::tests::{ctx, msg, A, ANSWER, B, OFFER};
    use crate::sip::dialog::{self, Dropped, State, Tracker, MAX_CALL_ID_LEN};
    use crate::sip::message::parse;

    /// The report's dialogs and registrations of what `t` was fed.
    fn finish(t: &Tracker) -> (Vec<report::SipDialog>, Vec<report::SipRegistration>) {
        let s = sip_report(t);
        (s.dialogs, s.registrations)
    }

    #[test]
    fn invite_180_200_ack_bye_200_is_terminated() {
        let mut t = Tracker::new();
        let c = "call-1";
        t.observe(&msg("INVITE sip:bob@example.com SIP/2.0", c, "1 INVITE", false, OFFER), ctx(1, A, B));
        assert_eq!(t.state(c), Some(State::Unknown));
        t.observe(&msg("SIP/2.0 100 Trying", c, "1 INVITE", false, ""), ctx(2, B, A));
        assert_eq!(t.state(c), Some(State::Unknown));
        t.observe(&msg("SIP/2.0 180 Ringing", c, "1 INVITE", true, ""), ctx(3, B, A));
        assert_eq!(t.state(c), Some(State::Early));
        t.observe(&msg("SIP/2.0 200 OK", c, "1 INVITE", true, ANSWER), ctx(4, B, A));
        assert_eq!(t.state(c), Some(State::Confirmed));
        t.observe(&msg("ACK sip:bob@10.0.0.2 SIP/2.0", c, "1 ACK", true, ""), ctx(5, A, B));
        assert_eq!(t.state(c), Some(State::Confirmed));
        t.observe(&msg("BYE sip:bob@10.0.0.2 SIP/2.0", c, "2 BYE", true, ""), ctx(6, A, B));
        t.observe(&msg("SIP/2.0 200 OK", c, "2 BYE", true, ""), ctx(7, B, A));
        // A retransmitted INVITE 200 after BYE must not revive it.
        t.observe(&msg("SIP/2.0 200 OK", c, "1 INVITE", true, ANSWER), ctx(8, B, A));
        assert_eq!(t.state(c), Some(State::Terminated));

        let eps: Vec<_> = t.media_endpoints().collect();
        assert_eq!(eps, vec![(A.parse().unwrap(), 8000), (B.parse().unwrap(), 9000)]);
        assert_eq!(t.media_kind(B.parse().unwrap(), 9000), Some("audio"));

        let (d, r) = finish(&t);
        assert!(r.is_empty());
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert_eq!(d.call_id, c);
        assert_eq!(d.method, "INVITE");
        assert_eq!(d.state, DialogState::Terminated);
        assert_eq!(d.from.as_deref(), Some("sip:alice@example.com"));
        assert_eq!(d.to.as_deref(), Some("sip:bob@example.com"));
        assert_eq!(d.messages.len(), 8);
        let m0 = &d.messages[0];
        assert_eq!((m0.method.as_deref(), m0.status, m0.cseq.as_deref()), (Some("INVITE"), None, Some("1 INVITE")));
        assert_eq!((m0.src.as_str(), m0.dst.as_str(), m0.transport), (A, B, Transport::Udp));
        assert_eq!(m0.sdp, vec!["audio 10.0.0.1:8000 RTP/AVP PCMU/8000"]);
        let m3 = &d.messages[3];
        assert_eq!((m3.status, m3.reason.as_deref(), m3.cseq.as_deref()), (Some(200), Some("OK"), Some("1 INVITE")));
        assert_eq!(d.messages[5].cseq.as_deref(), Some("2 BYE"));
    }

    #[test]
    fn register_401_then_200_gives_200() {
        let mut t = Tracker::new();
        let c = "reg-1";
        let reg = |cseq| msg("REGISTER sip:registrar.example.com SIP/2.0", c, cseq, false, "");
        t.observe(&reg("1 REGISTER"), ctx(1, A, B));
        t.observe(&msg("SIP/2.0 401 Unauthorized", c, "1 REGISTER", true, ""), ctx(2, B, A));
        t.observe(&reg("2 REGISTER"), ctx(3, A, B));
        assert_eq!(t.state(c), None);
        t.observe(&msg("SIP/2.0 100 Trying", c, "2 REGISTER", false, ""), ctx(4, B, A));
        t.observe(&msg("SIP/2.0 200 OK", c, "2 REGISTER", true, ""), ctx(5, B, A));
        // A late duplicate of the old 401 does not overwrite the newer answer.
        t.observe(&msg("SIP/2.0 401 Unauthorized", c, "1 REGISTER", true, ""), ctx(6, B, A));
        let (d, r) = finish(&t);
        assert!(d.is_empty());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].result, Some(200));
        assert_eq!(r[0].aor.as_deref(), Some("sip:bob@example.com"));
        assert_eq!(r[0].registrar.as_deref(), Some("sip:registrar.example.com"));
        assert_eq!(r[0].messages.len(), 6);
    }

    #[test]
    fn unanswered_latest_register_has_no_result() {
        let mut t = Tracker::new();
        let reg = |cseq| msg("REGISTER sip:r.example.com SIP/2.0", "reg-2", cseq, false, "");
        t.observe(&reg("1 REGISTER"), ctx(1, A, B));
        t.observe(&msg("SIP/2.0 200 OK", "reg-2", "1 REGISTER", true, ""), ctx(2, B, A));
        t.observe(&reg("2 REGISTER"), ctx(3, A, B));
        assert_eq!(finish(&t).1[0].result, None);
    }

    #[test]
    fn out_of_dialog_requests() {
        let mut t = Tracker::new();
        t.observe(&msg("OPTIONS sip:b@example.com SIP/2.0", "opt", "1 OPTIONS", false, ""), ctx(1, A, B));
        t.observe(&msg("MESSAGE sip:b@example.com SIP/2.0", "msg", "1 MESSAGE", false, ""), ctx(2, A, B));
        t.observe(&msg("SIP/2.0 407 Proxy Authentication Required", "msg", "1 MESSAGE", true, ""), ctx(3, B, A));
        assert_eq!(t.state("msg"), Some(State::Failed));
        t.observe(&msg("MESSAGE sip:b@example.com SIP/2.0", "msg", "2 MESSAGE", false, ""), ctx(4, A, B));
        t.observe(&msg("SIP/2.0 202 Accepted", "msg", "2 MESSAGE", true, ""), ctx(5, B, A));
        t.observe(&msg("SUBSCRIBE sip:b@example.com SIP/2.0", "sub", "1 SUBSCRIBE", false, ""), ctx(6, A, B));
        t.observe(&msg("SIP/2.0 489 Bad Event", "sub", "1 SUBSCRIBE", true, ""), ctx(7, B, A));
        let (d, _) = finish(&t);
        let s: Vec<_> = d.iter().map(|d| (d.call_id.as_str(), d.method.as_str(), d.state)).collect();
        assert_eq!(
            s,
            vec![
                ("opt", "OPTIONS", DialogState::Unknown),
                ("msg", "MESSAGE", DialogState::Terminated),
                ("sub", "SUBSCRIBE", DialogState::Failed)
            ]
        );
    }

    #[test]
    fn capture_starting_mid_call_uses_cseq_method() {
        let mut t = Tracker::new();
        t.observe(&msg("SIP/2.0 200 OK", "late", "1 INVITE", true, ""), ctx(1, B, A));
        t.observe(&msg("SIP/2.0 200 OK", "late-reg", "9 REGISTER", true, ""), ctx(2, B, A));
        let (d, r) = finish(&t);
        assert_eq!((d[0].method.as_str(), d[0].state), ("INVITE", DialogState::Confirmed));
        assert_eq!(r[0].result, Some(200));
        assert_eq!(r[0].registrar, None);
    }

    #[test]
    fn output_is_ordered_by_first_seen_time() {
        let mut t = Tracker::new();
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "second", "1 OPTIONS", false, ""), ctx(20, A, B));
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "first", "1 OPTIONS", false, ""), ctx(10, A, B));
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "tie", "1 OPTIONS", false, ""), ctx(20, A, B));
        let ids: Vec<_> = finish(&t).0.into_iter().map(|d| d.call_id).collect();
        assert_eq!(ids, vec!["first", "second", "tie"]);
    }

    #[test]
    fn caps_bound_memory_and_count_what_they_drop() {
        // Two calls, the first two and the latest two messages of each listed, five in all.
        let mut t = Tracker::with_limits(2, 2, 5);
        for i in 0..5 {
            t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "a", &format!("{i} OPTIONS"), false, ""), ctx(i, A, B));
        }
        // State still follows messages that are not listed.
        t.observe(&msg("SIP/2.0 200 OK", "a", "4 OPTIONS", true, ""), ctx(6, B, A));
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "b", "1 OPTIONS", false, ""), ctx(7, A, B));
        // Five listed in all: b's later messages are counted, not listed.
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "b", "2 OPTIONS", false, ""), ctx(8, A, B));
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "b", "3 OPTIONS", false, ""), ctx(9, A, B));
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "c", "1 OPTIONS", false, ""), ctx(10, A, B));
        let no_id = parse(b"OPTIONS sip:b@x SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").unwrap();
        t.observe(&no_id, ctx(11, A, B));
        let long = "z".repeat(MAX_CALL_ID_LEN + 1);
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", &long, "1 OPTIONS", false, ""), ctx(12, A, B));
        assert_eq!(t.dropped(), Dropped { messages: 4, calls: 1, no_call_id: 2, media_endpoints: 0 });
        let (d, _) = finish(&t);
        assert_eq!(d.len(), 2);
        let cseqs: Vec<_> = d[0].messages.iter().map(|m| (m.cseq.clone().unwrap(), m.status)).collect();
        let want = [("0 OPTIONS", None), ("1 OPTIONS", None), ("4 OPTIONS", None), ("4 OPTIONS", Some(200))];
        assert_eq!(cseqs, want.map(|(c, s)| (c.to_string(), s)));
        assert_eq!(d[0].state, DialogState::Terminated);
        assert_eq!(d[0].messages_elided, Some(report::Elided { after: 2, count: 2 }));
        let counts: Vec<_> =
            d[0].message_counts.iter().map(|c| (c.method.as_deref(), c.status, c.forward, c.count)).collect();
        assert_eq!(counts, [(Some("OPTIONS"), None, true, 5), (None, Some(200), false, 1)]);
        assert_eq!(d[1].messages.len(), 1);
        assert_eq!(d[1].messages_elided, Some(report::Elided { after: 1, count: 2 }));
        assert_eq!(d[1].message_counts.iter().map(|c| c.count).sum::<u64>(), 3);
    }

    #[test]
    fn a_long_call_lists_its_first_and_latest_messages_whatever_its_length() {
        let mut t = Tracker::new();
        let keep = dialog::DEFAULT_KEEP_MESSAGES_PER_CALL;
        let n = 10_000;
        for i in 0..n {
            let (start, src, dst) =
                if i % 2 == 0 { ("REGISTER sip:r SIP/2.0", A, B) } else { ("SIP/2.0 200 OK", B, A) };
            t.observe(&msg(start, "reg", &format!("{} REGISTER", i / 2), i % 2 == 1, ""), ctx(i, src, dst));
        }
        let (_, r) = finish(&t);
        let g = &r[0];
        assert_eq!(g.messages.len(), 2 * keep);
        assert_eq!(g.messages_elided, Some(report::Elided { after: keep, count: (n as u64) - 2 * keep as u64 }));
        assert_eq!(g.messages[0].cseq.as_deref(), Some("0 REGISTER"));
        assert_eq!(g.messages.last().unwrap().cseq.as_deref(), Some(format!("{} REGISTER", (n - 1) / 2).as_str()));
        let counts: Vec<_> =
            g.message_counts.iter().map(|c| (c.method.as_deref(), c.status, c.forward, c.count)).collect();
        assert_eq!(counts, [(Some("REGISTER"), None, true, n as u64 / 2), (None, Some(200), false, n as u64 / 2)]);
        assert_eq!(g.result, Some(200));
    }

    #[test]
    fn pid_is_the_first_known_one_and_transport_is_kept() {
        let mut t = Tracker::new();
        let mut c = ctx(1, A, B);
        c.transport = dialog::Transport::Tcp;
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "p", "1 OPTIONS", false, ""), c);
        c.pid = Some(42);
        t.observe(&msg("SIP/2.0 200 OK", "p", "1 OPTIONS", true, ""), c);
        c.pid = Some(43);
        t.observe(&msg("SIP/2.0 200 OK", "p", "1 OPTIONS", true, ""), c);
        let (d, _) = finish(&t);
        assert_eq!(d[0].pid, Some(42));
        assert_eq!(d[0].messages[0].transport, Transport::Tcp);
    }

    #[test]
    fn alternating_calls_and_prefix_call_ids_stay_apart() {
        // Interleaved calls whose Call-IDs are prefixes of each other are grouped apart.
        let mut t = Tracker::new();
        let ids = ["ab", "a", "ab", "ab", "abc", "a", "a", "ab"];
        for (i, c) in ids.iter().enumerate() {
            t.observe(&msg("OPTIONS sip:b@x SIP/2.0", c, &format!("{i} OPTIONS"), false, ""), ctx(i as i64, A, B));
        }
        let (d, _) = finish(&t);
        let got: Vec<(String, Vec<String>)> =
            d.into_iter().map(|d| (d.call_id, d.messages.into_iter().filter_map(|m| m.cseq).collect())).collect();
        let seq = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                ("ab".to_string(), seq(&["0 OPTIONS", "2 OPTIONS", "3 OPTIONS", "7 OPTIONS"])),
                ("a".to_string(), seq(&["1 OPTIONS", "5 OPTIONS", "6 OPTIONS"])),
                ("abc".to_string(), seq(&["4 OPTIONS"])),
            ]
        );
    }

    #[test]
    fn many_addresses_in_one_call_are_all_spelled_right() {
        // More hosts than are spelled once: the rest are formatted per message, same text.
        let mut t = Tracker::new();
        let hosts: Vec<String> = (0..MAX_SPELLED_ADDRS + 4).map(|i| format!("10.1.{i}.{}", 200 + i)).collect();
        for (i, h) in hosts.iter().enumerate() {
            let m = msg("OPTIONS sip:b@x SIP/2.0", "many", &format!("{i} OPTIONS"), false, "");
            t.observe(&m, ctx(i as i64, h, "2001:db8::7"));
        }
        t.observe(&msg("SIP/2.0 200 OK", "many", "3 OPTIONS", true, ""), ctx(99, "2001:db8::7", &hosts[3]));
        // Same host both ends (loopback): the copy of a source serves as destination.
        t.observe(&msg("SIP/2.0 200 OK", "many", "4 OPTIONS", true, ""), ctx(100, &hosts[1], &hosts[1]));
        t.observe(&msg("SIP/2.0 200 OK", "many", "5 OPTIONS", true, ""), ctx(101, "127.0.0.1", "127.0.0.1"));
        let (d, _) = finish(&t);
        let mut m = d[0].messages.clone();
        let lo = m.pop().unwrap();
        assert_eq!((lo.src.as_str(), lo.dst.as_str()), ("127.0.0.1", "127.0.0.1"));
        let same = m.pop().unwrap();
        assert_eq!((same.src.as_str(), same.dst.as_str()), (hosts[1].as_str(), hosts[1].as_str()));
        for (i, h) in hosts.iter().enumerate() {
            assert_eq!((m[i].src.as_str(), m[i].dst.as_str()), (h.as_str(), "2001:db8::7"));
            assert_eq!(m[i].cseq, Some(format!("{i} OPTIONS")));
            assert_eq!(m[i].method.as_deref(), Some("OPTIONS"));
        }
        let last = m.last().unwrap();
        assert_eq!((last.src.as_str(), last.dst.as_str()), ("2001:db8::7", hosts[3].as_str()));
        assert_eq!((last.status, last.reason.as_deref(), last.method.as_deref()), (Some(200), Some("OK"), None));
    }

    proptest! {
        #[test]
        fn random_sequences_respect_caps_and_account_for_every_message(
            ops in proptest::collection::vec((0usize..5, 0usize..9, 1u32..4), 0..150)
        ) {
            let mut t = Tracker::with_limits(3, 5, 12);
            for (i, &(call, kind, seq)) in ops.iter().enumerate() {
                let (start, method, tag) = match kind {
                    0 => ("INVITE sip:b@x SIP/2.0", "INVITE", false),
                    1 => ("SIP/2.0 180 Ringing", "INVITE", true),
                    2 => ("SIP/2.0 200 OK", "INVITE", true),
                    3 => ("SIP/2.0 486 Busy Here", "INVITE", true),
                    4 => ("BYE sip:b@x SIP/2.0", "BYE", true),
                    5 => ("CANCEL sip:b@x SIP/2.0", "CANCEL", false),
                    6 => ("REGISTER sip:r SIP/2.0", "REGISTER", false),
                    7 => ("SIP/2.0 401 Unauthorized", "REGISTER", true),
                    _ => ("SIP/2.0 200 OK", "OPTIONS", true),
                };
                let m = msg(start, &format!("c{call}"), &format!("{seq} {method}"), tag, "");
                t.observe(&m, ctx(i as i64, A, B));
            }
            let dropped = t.dropped();
            let (d, r) = finish(&t);
            prop_assert!(d.len() + r.len() <= 3);
            let sizes: Vec<usize> =
                d.iter().map(|x| x.messages.len()).chain(r.iter().map(|x| x.messages.len())).collect();
            prop_assert!(sizes.iter().all(|&n| n <= 2 * 5));
            let kept: usize = sizes.iter().sum();
            prop_assert!(kept <= 12);
            // Every message of a kept call is in its counts, listed or not.
            let counted: u64 = d.iter().flat_map(|x| &x.message_counts).chain(r.iter().flat_map(|x| &x.message_counts)).map(|c| c.count).sum();
            let elided: u64 = d.iter().map(|x| x.messages_elided).chain(r.iter().map(|x| x.messages_elided)).flatten().map(|e| e.count).sum();
            prop_assert_eq!(counted, kept as u64 + elided);
            prop_assert_eq!(elided, dropped.messages);
            prop_assert_eq!(kept as u64 + dropped.messages + dropped.calls, ops.len() as u64);
        }
    }
}

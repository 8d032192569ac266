//! Dialog and registration tracking: SIP messages grouped by Call-ID into the report's
//! `sip.dialogs` and `sip.registrations` (REPORT-SCHEMA.md), with a state per dialog.
//!
//! Pure and deterministic: state moves only on the messages given, in the order given.
//! Memory is bounded by caps on Call-IDs and kept messages; what a cap refuses is counted.

use std::collections::HashMap;
use std::net::IpAddr;

use rustc_hash::FxHashMap;

use crate::digits::{ip_string, push_decimal};
use crate::report;
use crate::sip::message::SipMessage;
use crate::time::Timestamp;

pub use crate::report::Transport;

/// Where and when a message was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsgCtx {
    pub at: Timestamp,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub transport: Transport,
    pub pid: Option<u32>,
    /// The tunnel that carried it (the aggregator's index + 1; 0 for none).
    pub tunnel: u32,
}

pub const DEFAULT_MAX_CALLS: usize = 100_000;
pub const DEFAULT_MAX_MESSAGES_PER_CALL: usize = 1_000;
/// Caps the product of the two above, which alone would allow 10^8 kept messages.
pub const DEFAULT_MAX_MESSAGES_TOTAL: usize = 1_000_000;
pub const MAX_MEDIA_ENDPOINTS: usize = 100_000;
/// A Call-ID longer than this is not kept as a key (real ones are well under 100 bytes);
/// otherwise a crafted stream could pin 64 KiB per Call-ID.
pub const MAX_CALL_ID_LEN: usize = 1_024;

/// What the caps made the tracker leave out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Messages of known Call-IDs not kept (per-call or total cap); their state effect still applies.
    pub messages: u64,
    /// Messages of Call-IDs refused because the Call-ID cap was reached.
    pub calls: u64,
    /// Messages without a usable Call-ID (missing or longer than [`MAX_CALL_ID_LEN`]).
    pub no_call_id: u64,
    /// SDP media endpoints not remembered past [`MAX_MEDIA_ENDPOINTS`].
    pub media_endpoints: u64,
}

use crate::report::DialogState as State;

#[derive(Debug)]
struct Call {
    call_id: String,
    first_at: Timestamp,
    last_at: Timestamp,
    /// When the dialog became terminated or failed (for expiry).
    ended_at: Option<Timestamp>,
    /// Arrival index: breaks first-seen ties deterministically.
    order: usize,
    register: bool,
    from: Option<String>,
    to: Option<String>,
    /// Method of the first request seen.
    method: Option<String>,
    /// CSeq method of the first message: stands in for `method` when the capture starts
    /// with a response.
    cseq_method: Option<String>,
    registrar: Option<String>,
    pid: Option<u32>,
    /// The tunnel of its first message that came through one (index + 1; 0 for none).
    tunnel: u32,
    messages: Vec<Kept>,
    state: State,
    confirmed_once: bool,
    cancel_seen: bool,
    /// CSeq number of the latest REGISTER transaction and its final answer.
    reg_cseq: Option<u32>,
    reg_result: Option<u16>,
}

impl Call {
    fn effective_method(&self) -> Option<&str> {
        self.method.as_deref().or(self.cseq_method.as_deref())
    }

    fn apply(&mut self, m: &SipMessage<'_>) {
        let cseq = m.cseq();
        if self.register {
            self.apply_register(m);
            return;
        }
        let Some(dm) = self.effective_method() else { return };
        if dm == "INVITE" {
            self.apply_invite(m);
            return;
        }
        // Out-of-dialog non-INVITE (OPTIONS, MESSAGE, SUBSCRIBE, NOTIFY…): the latest final
        // answer to that method decides, so 407 then an authenticated 200 ends as success.
        let answers = cseq.is_some_and(|c| c.method == dm);
        if let (Some(code), true) = (m.status(), answers) {
            {
                match code {
                    200..=299 => self.state = State::Terminated,
                    300..=699 => self.state = State::Failed,
                    _ => {}
                }
            }
        }
    }

    fn apply_invite(&mut self, m: &SipMessage<'_>) {
        if self.state == State::Terminated {
            // Retransmitted 200s and late answers after BYE must not revive the call.
            return;
        }
        match m.method() {
            // Either side sending BYE ends the session (RFC 3261 15), whatever the answer.
            Some("BYE") => self.state = State::Terminated,
            Some("CANCEL") => self.cancel_seen = true,
            _ => {}
        }
        let (Some(code), Some(c)) = (m.status(), m.cseq()) else { return };
        if c.method != "INVITE" {
            return;
        }
        match code {
            101..=199 => {
                // Early needs a to-tag (RFC 3261 12.1): a 1xx without one makes no dialog.
                let tagged = m.to().is_some_and(|t| t.tag.is_some());
                if tagged && !self.confirmed_once && matches!(self.state, State::Unknown | State::Failed) {
                    self.state = State::Early;
                }
            }
            200..=299 => {
                self.state = State::Confirmed;
                self.confirmed_once = true;
            }
            300..=699 if !self.confirmed_once => {
                // A caller that sent CANCEL ended the attempt itself, whatever final answer
                // the INVITE then got (487 normally, 408 from a slow server); 487 alone
                // also means the INVITE was cancelled.
                self.state = if self.cancel_seen || code == 487 { State::Terminated } else { State::Failed };
            }
            // A rejected re-INVITE (491, 488…) leaves an established dialog as it was.
            _ => {}
        }
    }

    fn apply_register(&mut self, m: &SipMessage<'_>) {
        let Some(c) = m.cseq().filter(|c| c.method == "REGISTER") else { return };
        if m.is_request() {
            if self.reg_cseq != Some(c.seq) {
                self.reg_cseq = Some(c.seq);
                self.reg_result = None;
            }
            return;
        }
        let Some(code) = m.status().filter(|&s| s >= 200) else { return };
        match self.reg_cseq {
            // An answer to an older transaction says nothing about the latest one.
            Some(last) if c.seq < last => {}
            _ => {
                self.reg_cseq = Some(c.seq);
                self.reg_result = Some(code);
            }
        }
    }
}

/// A kept message as the tracker holds it until [`Tracker::finish`]: addresses as numbers
/// and names as [`Words`] indexes. Spelling them per message was most of the tracker's
/// work; the report needs them only once, at the end, and a dialog repeats the same few.
#[derive(Debug)]
struct Kept {
    at: Timestamp,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    transport: Transport,
    method: Option<u32>,
    status: Option<u16>,
    cseq: Option<(u32, u32)>,
    reason: Option<u32>,
    sdp: Vec<String>,
}

/// Most distinct names [`Words`] looks up by content. Real traffic has a few dozen methods
/// and reason phrases; past this, a name is still kept (once per message, as a copy would
/// be) but not indexed, so crafted names cannot grow the index or slow its lookups.
const MAX_SHARED_WORDS: usize = 256;

/// Method names and reason phrases of kept messages, each text stored once while it is
/// among the first [`MAX_SHARED_WORDS`] seen.
#[derive(Debug)]
struct Words {
    /// [`COMMON_WORDS`] first, then the others in order of first use.
    list: Vec<Box<str>>,
    /// Index into `list` by text, for words past [`COMMON_WORDS`]. Fx is safe here: the
    /// size cap bounds any collision chain.
    ids: FxHashMap<Box<str>, u32>,
}

/// The methods and reason phrases of nearly every message: found by a `match` on the text,
/// which costs a fraction of a hash-map lookup. Their ids are their positions here.
const COMMON_WORDS: [&str; 24] = [
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "PRACK",
    "UPDATE",
    "INFO",
    "SUBSCRIBE",
    "NOTIFY",
    "REFER",
    "MESSAGE",
    "PUBLISH",
    "OK",
    "Trying",
    "Ringing",
    "Session Progress",
    "Unauthorized",
    "Proxy Authentication Required",
    "Request Terminated",
    "Busy Here",
    "Accepted",
    "Not Found",
];

fn common_word(w: &str) -> Option<u32> {
    Some(match w {
        "INVITE" => 0,
        "ACK" => 1,
        "BYE" => 2,
        "CANCEL" => 3,
        "REGISTER" => 4,
        "OPTIONS" => 5,
        "PRACK" => 6,
        "UPDATE" => 7,
        "INFO" => 8,
        "SUBSCRIBE" => 9,
        "NOTIFY" => 10,
        "REFER" => 11,
        "MESSAGE" => 12,
        "PUBLISH" => 13,
        "OK" => 14,
        "Trying" => 15,
        "Ringing" => 16,
        "Session Progress" => 17,
        "Unauthorized" => 18,
        "Proxy Authentication Required" => 19,
        "Request Terminated" => 20,
        "Busy Here" => 21,
        "Accepted" => 22,
        "Not Found" => 23,
        _ => return None,
    })
}

impl Default for Words {
    fn default() -> Self {
        Words { list: COMMON_WORDS.iter().map(|&w| w.into()).collect(), ids: FxHashMap::default() }
    }
}

impl Words {
    fn id(&mut self, w: &str) -> u32 {
        if let Some(i) = common_word(w) {
            return i;
        }
        if let Some(&i) = self.ids.get(w) {
            return i;
        }
        // Fewer than 2^32 entries: one per kept message at most, and those are capped.
        let i = self.list.len() as u32;
        self.list.push(w.into());
        if self.ids.len() < MAX_SHARED_WORDS {
            self.ids.insert(w.into(), i);
        }
        i
    }

    fn get(&self, i: u32) -> &str {
        &self.list[i as usize]
    }
}

/// Most distinct addresses spelled once per call in [`Tracker::finish`]; a call with more
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
fn report_messages(kept: &[Kept], words: &Words) -> Vec<report::SipMessage> {
    let mut spelled = Spelled { at: [(IpAddr::from([0u8; 4]), 0, false); MAX_SPELLED_ADDRS], len: 0 };
    let word = |i: u32| words.get(i).to_owned();
    let mut out: Vec<report::SipMessage> = Vec::with_capacity(kept.len());
    for k in kept {
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
            transport: k.transport,
            method: k.method.map(word),
            status: k.status,
            cseq: k.cseq.map(|(seq, method)| {
                let method = words.get(method);
                let mut s = String::with_capacity(11 + method.len());
                push_decimal(&mut s, u64::from(seq));
                s.push(' ');
                s.push_str(method);
                s
            }),
            sport: k.sport,
            dport: k.dport,
            reason: k.reason.map(word),
            sdp: k.sdp.clone(),
        });
    }
    out
}

/// Groups SIP messages by Call-ID and follows each dialog's and registration's state.
#[derive(Debug)]
pub struct Tracker {
    index: HashMap<String, usize>,
    calls: Vec<Call>,
    /// Sorted only when asked ([`Tracker::media_endpoints`]): insertion is per SDP body.
    media: FxHashMap<(IpAddr, u16), String>,
    words: Words,
    kept_messages: usize,
    max_calls: usize,
    max_messages_per_call: usize,
    max_messages_total: usize,
    dropped: Dropped,
    /// Calls let go after they ended or went idle.
    expired: u64,
    /// Arrival number of the next new call (report order among equal first-seen times).
    next_order: usize,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new()
    }
}

impl Tracker {
    pub fn new() -> Self {
        Tracker::with_limits(DEFAULT_MAX_CALLS, DEFAULT_MAX_MESSAGES_PER_CALL, DEFAULT_MAX_MESSAGES_TOTAL)
    }

    pub fn with_limits(max_calls: usize, max_messages_per_call: usize, max_messages_total: usize) -> Self {
        Tracker {
            index: HashMap::new(),
            calls: Vec::new(),
            media: FxHashMap::default(),
            words: Words::default(),
            kept_messages: 0,
            max_calls,
            max_messages_per_call,
            max_messages_total,
            dropped: Dropped::default(),
            expired: 0,
            next_order: 0,
        }
    }

    /// The caps this tracker keeps to: Call-IDs, messages per call, messages in all.
    pub fn limits(&self) -> (usize, usize, usize) {
        (self.max_calls, self.max_messages_per_call, self.max_messages_total)
    }

    /// The owner ids ([`MsgCtx::pid`]) the kept calls name.
    pub fn owners(&self) -> impl Iterator<Item = u32> + '_ {
        self.calls.iter().filter_map(|c| c.pid)
    }

    /// Calls let go so far by [`Tracker::expire`].
    pub fn expired(&self) -> u64 {
        self.expired
    }

    /// Let go of dialogs that ended (terminated, failed) more than `ended` ns before `now`,
    /// and of any call (registrations included) without a message for `idle` ns; returns how
    /// many went. Their messages no longer count against the total cap.
    pub fn expire(&mut self, now: Timestamp, ended: Option<i64>, idle: Option<i64>) -> u64 {
        let since = |t: Timestamp| now.0.saturating_sub(t.0);
        let before = self.calls.len();
        let mut freed = 0;
        self.calls.retain(|c| {
            let gone = ended.is_some_and(|g| c.ended_at.is_some_and(|e| since(e) > g))
                || idle.is_some_and(|g| since(c.last_at) > g);
            if gone {
                freed += c.messages.len();
            }
            !gone
        });
        let n = before - self.calls.len();
        if n > 0 {
            self.kept_messages -= freed;
            self.index = self.calls.iter().enumerate().map(|(i, c)| (c.call_id.clone(), i)).collect();
            self.expired += n as u64;
        }
        n as u64
    }

    /// Feed one message, in capture order.
    pub fn observe(&mut self, m: &SipMessage<'_>, ctx: MsgCtx) {
        let sdp = if m.body.is_empty() { None } else { m.sdp_ref() };
        if let Some(sdp) = sdp {
            // The kind is copied only for an endpoint not seen before.
            for (kind, ip, port) in sdp.endpoints() {
                let full = self.media.len() >= MAX_MEDIA_ENDPOINTS;
                match self.media.entry((ip, port)) {
                    std::collections::hash_map::Entry::Occupied(_) => {}
                    std::collections::hash_map::Entry::Vacant(_) if full => self.dropped.media_endpoints += 1,
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(kind.to_owned());
                    }
                }
            }
        }

        let Some(call_id) = m.call_id().filter(|c| !c.is_empty() && c.len() <= MAX_CALL_ID_LEN) else {
            self.dropped.no_call_id += 1;
            return;
        };
        let idx = match self.index.get(call_id) {
            Some(&i) => i,
            None => {
                if self.calls.len() >= self.max_calls {
                    self.dropped.calls += 1;
                    return;
                }
                let i = self.calls.len();
                self.calls.push(new_call(call_id, m, ctx.at, self.next_order));
                self.next_order += 1;
                self.index.insert(call_id.to_owned(), i);
                i
            }
        };
        let call = &mut self.calls[idx];

        if call.method.is_none() {
            if let Some(method) = m.method() {
                call.method = Some(method.to_owned());
            }
        }
        if call.register && call.registrar.is_none() && m.method() == Some("REGISTER") {
            call.registrar = m.request_uri().map(str::to_owned);
        }
        if call.from.is_none() && call.to.is_none() {
            call.from = m.from().map(|f| f.uri.to_owned());
            call.to = m.to().map(|t| t.uri.to_owned());
        }
        if call.tunnel == 0 {
            call.tunnel = ctx.tunnel;
        }
        if call.pid.is_none() {
            call.pid = ctx.pid;
        }
        call.apply(m);
        call.last_at = call.last_at.max(ctx.at);
        let ended = matches!(call.state, State::Terminated | State::Failed) && !call.register;
        if ended && call.ended_at.is_none() {
            call.ended_at = Some(ctx.at);
        } else if !ended {
            call.ended_at = None;
        }

        if call.messages.len() >= self.max_messages_per_call || self.kept_messages >= self.max_messages_total {
            self.dropped.messages += 1;
            return;
        }
        self.kept_messages += 1;
        let words = &mut self.words;
        call.messages.push(Kept {
            at: ctx.at,
            src: ctx.src,
            dst: ctx.dst,
            sport: ctx.sport,
            dport: ctx.dport,
            transport: ctx.transport,
            method: m.method().map(|w| words.id(w)),
            status: m.status(),
            cseq: m.cseq().map(|c| (c.seq, words.id(c.method))),
            reason: m.reason().map(|w| words.id(w)),
            sdp: sdp.map(|s| s.describe()).unwrap_or_default(),
        });
    }

    /// Every SDP media address and port announced so far, sorted: RTP (and, at port + 1,
    /// RTCP) to or from these belongs to a call.
    pub fn media_endpoints(&self) -> impl Iterator<Item = (IpAddr, u16)> + '_ {
        let mut all: Vec<(IpAddr, u16)> = self.media.keys().copied().collect();
        all.sort_unstable();
        all.into_iter()
    }

    /// Media kind (`audio`, `video`…) announced for an endpoint.
    pub fn media_kind(&self, ip: IpAddr, port: u16) -> Option<&str> {
        self.media.get(&(ip, port)).map(String::as_str)
    }

    /// Current state of a dialog (`early`, `confirmed`…), for live views.
    pub fn state(&self, call_id: &str) -> Option<State> {
        let c = &self.calls[*self.index.get(call_id)?];
        (!c.register).then_some(c.state)
    }

    pub fn dropped(&self) -> Dropped {
        self.dropped
    }

    /// Dialogs and registrations, each ordered by first-seen time (then arrival). Reads the
    /// tracker, consumes nothing. `comm` is left `None`: the tracker knows pids only; the
    /// aggregator names them.
    pub fn report(&self) -> (Vec<report::SipDialog>, Vec<report::SipRegistration>) {
        let mut calls: Vec<&Call> = self.calls.iter().collect();
        calls.sort_by_key(|c| (c.first_at, c.order));
        let mut dialogs = Vec::new();
        let mut registrations = Vec::new();
        for c in calls {
            if c.register {
                registrations.push(report::SipRegistration {
                    call_id: c.call_id.clone(),
                    aor: c.to.clone(),
                    registrar: c.registrar.clone(),
                    result: c.reg_result,
                    messages: report_messages(&c.messages, &self.words),
                    pid: c.pid,
                    comm: None,
                    tunnel: (c.tunnel != 0).then(|| c.tunnel as usize - 1),
                });
            } else {
                let method = c.effective_method().unwrap_or("unknown").to_owned();
                dialogs.push(report::SipDialog {
                    call_id: c.call_id.clone(),
                    from: c.from.clone(),
                    to: c.to.clone(),
                    method,
                    state: c.state,
                    messages: report_messages(&c.messages, &self.words),
                    pid: c.pid,
                    comm: None,
                    tunnel: (c.tunnel != 0).then(|| c.tunnel as usize - 1),
                });
            }
        }
        (dialogs, registrations)
    }

    /// [`Tracker::report`] at the end of the stream.
    pub fn finish(self) -> (Vec<report::SipDialog>, Vec<report::SipRegistration>) {
        self.report()
    }
}

fn new_call(call_id: &str, m: &SipMessage<'_>, at: Timestamp, order: usize) -> Call {
    let cseq_method = m.cseq().map(|c| c.method.to_owned());
    let register = m.method().or(cseq_method.as_deref()) == Some("REGISTER");
    Call {
        call_id: call_id.to_owned(),
        first_at: at,
        last_at: at,
        ended_at: None,
        order,
        register,
        from: None,
        to: None,
        method: None,
        cseq_method,
        registrar: None,
        pid: None,
        tunnel: 0,
        messages: Vec::new(),
        state: State::Unknown,
        confirmed_once: false,
        cancel_seen: false,
        reg_cseq: None,
        reg_result: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::message::parse;
    use proptest::prelude::*;

    const A: &str = "10.0.0.1";
    const B: &str = "10.0.0.2";

    fn ctx(t: i64, src: &str, dst: &str) -> MsgCtx {
        MsgCtx {
            at: Timestamp(t),
            src: src.parse().unwrap(),
            sport: 5060,
            dst: dst.parse().unwrap(),
            dport: 5060,
            transport: Transport::Udp,
            pid: None,
            tunnel: 0,
        }
    }

    /// A request or response of call `cid`; `to_tag` adds a tag to To.
    fn msg(start: &str, cid: &str, cseq: &str, to_tag: bool, body: &str) -> SipMessage<'static> {
        let tag = if to_tag { ";tag=callee1" } else { "" };
        let ct = if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" };
        let raw = format!(
            "{start}\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag=caller1\r\n\
To: <sip:bob@example.com>{tag}\r\nCall-ID: {cid}\r\nCSeq: {cseq}\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        parse(raw.as_bytes()).unwrap().into_owned()
    }

    const OFFER: &str = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 8000 RTP/AVP 0\r\n";
    const ANSWER: &str = "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 9000 RTP/AVP 0\r\n";

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

        let (d, r) = t.finish();
        assert!(r.is_empty());
        assert_eq!(d.len(), 1);
        let d = &d[0];
        assert_eq!(d.call_id, c);
        assert_eq!(d.method, "INVITE");
        assert_eq!(d.state, State::Terminated);
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
        let (d, r) = t.finish();
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
        assert_eq!(t.finish().1[0].result, None);
    }

    #[test]
    fn cancel_then_487_is_terminated() {
        let mut t = Tracker::new();
        let c = "call-cancel";
        t.observe(&msg("INVITE sip:bob@example.com SIP/2.0", c, "1 INVITE", false, OFFER), ctx(1, A, B));
        t.observe(&msg("SIP/2.0 180 Ringing", c, "1 INVITE", true, ""), ctx(2, B, A));
        t.observe(&msg("CANCEL sip:bob@example.com SIP/2.0", c, "1 CANCEL", false, ""), ctx(3, A, B));
        t.observe(&msg("SIP/2.0 200 OK", c, "1 CANCEL", true, ""), ctx(4, B, A));
        assert_eq!(t.state(c), Some(State::Early));
        t.observe(&msg("SIP/2.0 487 Request Terminated", c, "1 INVITE", true, ""), ctx(5, B, A));
        t.observe(&msg("ACK sip:bob@example.com SIP/2.0", c, "1 ACK", true, ""), ctx(6, A, B));
        assert_eq!(t.state(c), Some(State::Terminated));
    }

    #[test]
    fn busy_486_is_failed_and_auth_retry_success_is_confirmed() {
        let mut t = Tracker::new();
        t.observe(&msg("INVITE sip:bob@example.com SIP/2.0", "busy", "1 INVITE", false, ""), ctx(1, A, B));
        t.observe(&msg("SIP/2.0 486 Busy Here", "busy", "1 INVITE", true, ""), ctx(2, B, A));
        t.observe(&msg("ACK sip:bob@example.com SIP/2.0", "busy", "1 ACK", true, ""), ctx(3, A, B));
        assert_eq!(t.state("busy"), Some(State::Failed));

        t.observe(&msg("INVITE sip:bob@example.com SIP/2.0", "auth", "1 INVITE", false, ""), ctx(4, A, B));
        t.observe(&msg("SIP/2.0 407 Proxy Authentication Required", "auth", "1 INVITE", true, ""), ctx(5, B, A));
        t.observe(&msg("ACK sip:bob@example.com SIP/2.0", "auth", "1 ACK", true, ""), ctx(6, A, B));
        assert_eq!(t.state("auth"), Some(State::Failed));
        t.observe(&msg("INVITE sip:bob@example.com SIP/2.0", "auth", "2 INVITE", false, ""), ctx(7, A, B));
        t.observe(&msg("SIP/2.0 183 Session Progress", "auth", "2 INVITE", true, ""), ctx(8, B, A));
        assert_eq!(t.state("auth"), Some(State::Early));
        t.observe(&msg("SIP/2.0 200 OK", "auth", "2 INVITE", true, ""), ctx(9, B, A));
        // A re-INVITE refused later leaves the call up.
        t.observe(&msg("INVITE sip:bob@10.0.0.2 SIP/2.0", "auth", "3 INVITE", true, ""), ctx(10, A, B));
        t.observe(&msg("SIP/2.0 491 Request Pending", "auth", "3 INVITE", true, ""), ctx(11, B, A));
        assert_eq!(t.state("auth"), Some(State::Confirmed));
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
        let (d, _) = t.finish();
        let s: Vec<_> = d.iter().map(|d| (d.call_id.as_str(), d.method.as_str(), d.state)).collect();
        assert_eq!(
            s,
            vec![
                ("opt", "OPTIONS", State::Unknown),
                ("msg", "MESSAGE", State::Terminated),
                ("sub", "SUBSCRIBE", State::Failed)
            ]
        );
    }

    #[test]
    fn capture_starting_mid_call_uses_cseq_method() {
        let mut t = Tracker::new();
        t.observe(&msg("SIP/2.0 200 OK", "late", "1 INVITE", true, ""), ctx(1, B, A));
        t.observe(&msg("SIP/2.0 200 OK", "late-reg", "9 REGISTER", true, ""), ctx(2, B, A));
        let (d, r) = t.finish();
        assert_eq!((d[0].method.as_str(), d[0].state), ("INVITE", State::Confirmed));
        assert_eq!(r[0].result, Some(200));
        assert_eq!(r[0].registrar, None);
    }

    #[test]
    fn output_is_ordered_by_first_seen_time() {
        let mut t = Tracker::new();
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "second", "1 OPTIONS", false, ""), ctx(20, A, B));
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "first", "1 OPTIONS", false, ""), ctx(10, A, B));
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "tie", "1 OPTIONS", false, ""), ctx(20, A, B));
        let ids: Vec<_> = t.finish().0.into_iter().map(|d| d.call_id).collect();
        assert_eq!(ids, vec!["first", "second", "tie"]);
    }

    #[test]
    fn caps_bound_memory_and_count_what_they_drop() {
        let mut t = Tracker::with_limits(2, 3, 5);
        for i in 0..5 {
            t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "a", &format!("{i} OPTIONS"), false, ""), ctx(i, A, B));
        }
        // State still follows dropped messages.
        t.observe(&msg("SIP/2.0 200 OK", "a", "4 OPTIONS", true, ""), ctx(6, B, A));
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "b", "1 OPTIONS", false, ""), ctx(7, A, B));
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "b", "2 OPTIONS", false, ""), ctx(8, A, B));
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "b", "3 OPTIONS", false, ""), ctx(9, A, B));
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "c", "1 OPTIONS", false, ""), ctx(10, A, B));
        let no_id = parse(b"OPTIONS sip:b@x SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").unwrap();
        t.observe(&no_id, ctx(11, A, B));
        let long = "z".repeat(MAX_CALL_ID_LEN + 1);
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", &long, "1 OPTIONS", false, ""), ctx(12, A, B));
        assert_eq!(t.dropped(), Dropped { messages: 4, calls: 1, no_call_id: 2, media_endpoints: 0 });
        let (d, _) = t.finish();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].messages.len(), d[0].state), (3, State::Terminated));
        assert_eq!(d[1].messages.len(), 2);
    }

    #[test]
    fn pid_is_the_first_known_one_and_transport_is_kept() {
        let mut t = Tracker::new();
        let mut c = ctx(1, A, B);
        c.transport = Transport::Tcp;
        t.observe(&msg("OPTIONS sip:b@x SIP/2.0", "p", "1 OPTIONS", false, ""), c);
        c.pid = Some(42);
        t.observe(&msg("SIP/2.0 200 OK", "p", "1 OPTIONS", true, ""), c);
        c.pid = Some(43);
        t.observe(&msg("SIP/2.0 200 OK", "p", "1 OPTIONS", true, ""), c);
        let (d, _) = t.finish();
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
        let (d, _) = t.finish();
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
    fn words_past_the_shared_cap_still_read_back() {
        let mut w = Words::default();
        // Every common word's id reads back as itself, through the match or the list.
        for (i, c) in COMMON_WORDS.iter().enumerate() {
            assert_eq!((w.id(c), w.get(i as u32)), (i as u32, *c));
        }
        let ringing = w.id("Ringing");
        assert_eq!(w.get(ringing), "Ringing");
        let names: Vec<String> = (0..MAX_SHARED_WORDS + 50).map(|i| format!("R{i}")).collect();
        let ids: Vec<u32> = names.iter().map(|n| w.id(n)).collect();
        // Shared ones are found again; later ones get a fresh entry each time but read the same.
        assert_eq!(w.id("R0"), ids[0]);
        let late = &names[MAX_SHARED_WORDS + 10];
        assert_ne!(w.id(late), ids[MAX_SHARED_WORDS + 10]);
        for (n, &i) in names.iter().zip(&ids) {
            assert_eq!(w.get(i), n);
        }
        assert_eq!(w.ids.len(), MAX_SHARED_WORDS);
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
        let (d, _) = t.finish();
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
            let (d, r) = t.finish();
            prop_assert!(d.len() + r.len() <= 3);
            let sizes: Vec<usize> =
                d.iter().map(|x| x.messages.len()).chain(r.iter().map(|x| x.messages.len())).collect();
            prop_assert!(sizes.iter().all(|&n| n <= 5));
            let kept: usize = sizes.iter().sum();
            prop_assert!(kept <= 12);
            prop_assert_eq!(kept as u64 + dropped.messages + dropped.calls, ops.len() as u64);
        }
    }
}

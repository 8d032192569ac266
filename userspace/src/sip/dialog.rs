//! Dialog and registration tracking: SIP messages grouped by Call-ID, with a state per
//! dialog and a result per registration.
//!
//! Pure and deterministic: state moves only on the messages given, in the order given.
//! Memory is bounded by caps on Call-IDs and kept messages; what a cap refuses is counted.
//! The tracker keeps its own types; the report's `sip.dialogs` and `sip.registrations` are
//! made from them, through [`Tracker::calls`], by the aggregator's report build.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use rustc_hash::{FxHashMap, FxHasher};

use crate::history::History;
use crate::sip::message::SipMessage;
use crate::sip::sdp::Sdp;
use crate::time::Timestamp;

/// The transport a message came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    /// WebSocket (RFC 7118) over TCP.
    Ws,
    /// SCTP (RFC 4168).
    Sctp,
}

/// A dialog's state (RFC 3261 12), as far as the messages seen show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// A provisional answer with a to-tag.
    Early,
    /// A 2xx to the INVITE.
    Confirmed,
    /// BYE, a cancelled INVITE, or a 2xx ending an out-of-dialog request.
    Terminated,
    /// A final error answer, and no dialog before it.
    Failed,
    /// Nothing seen moves it yet.
    Unknown,
}

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
    /// Where it was seen (aggregator interface index), to tell one message seen at both ends of
    /// a path (two hosts' recordings replayed together) from a retransmission.
    pub iface: Option<u32>,
}

pub const DEFAULT_MAX_CALLS: usize = 100_000;
/// Messages listed per call: the first this many and the latest this many; those between are
/// counted (by kind and direction), not kept, so a registration refreshed for days costs what
/// a short one does.
pub const DEFAULT_KEEP_MESSAGES_PER_CALL: usize = 8;
/// Messages kept in all: past it, a new message only takes the place of its call's oldest
/// latest one.
pub const DEFAULT_MAX_MESSAGES_TOTAL: usize = 1_000_000;
/// Rows of [`Call::counts`] per call; kinds past them are counted in one row of no kind.
const MAX_COUNT_ROWS: usize = 64;
pub const MAX_MEDIA_ENDPOINTS: usize = 100_000;
/// A Call-ID longer than this is not kept as a key (real ones are well under 100 bytes);
/// otherwise a crafted stream could pin 64 KiB per Call-ID.
pub const MAX_CALL_ID_LEN: usize = 1_024;

/// What the caps made the tracker leave out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Messages of known Call-IDs not listed (between a call's first and latest ones, or past
    /// the total cap); they are counted in their call's counts and their state effect applies.
    pub messages: u64,
    /// Messages of Call-IDs refused because the Call-ID cap was reached.
    pub calls: u64,
    /// Messages without a usable Call-ID (missing or longer than [`MAX_CALL_ID_LEN`]).
    pub no_call_id: u64,
    /// SDP media endpoints not remembered past [`MAX_MEDIA_ENDPOINTS`].
    pub media_endpoints: u64,
}

/// One Call-ID: a dialog, an out-of-dialog request or a registration, with its kept messages.
#[derive(Debug)]
pub struct Call {
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
    /// Sender of the first message seen: messages from it go "forward".
    first_sender: (IpAddr, u16),
    /// Interface of the first message kept, and whether a later one kept came from another:
    /// only then can a message be one seen at both ends of a path.
    first_iface: Option<u32>,
    ifaces_differ: bool,
    messages: History<Kept>,
    /// Every message counted by kind and direction, in order of first sight.
    counts: Vec<KindCount>,
    state: State,
    confirmed_once: bool,
    cancel_seen: bool,
    /// CSeq number of the latest REGISTER transaction and its final answer.
    reg_cseq: Option<u32>,
    reg_result: Option<u16>,
}

/// What the report reads of a call.
impl Call {
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// A registration (REGISTER), rather than a dialog or an out-of-dialog request.
    pub fn is_registration(&self) -> bool {
        self.register
    }

    /// From URI of the first message that named From or To.
    pub fn from(&self) -> Option<&str> {
        self.from.as_deref()
    }

    /// To URI of the first message that named From or To (a registration's address of record).
    pub fn to(&self) -> Option<&str> {
        self.to.as_deref()
    }

    /// A registration's registrar: the Request-URI of its first REGISTER.
    pub fn registrar(&self) -> Option<&str> {
        self.registrar.as_deref()
    }

    /// A registration's result: the final answer to its latest REGISTER transaction.
    pub fn result(&self) -> Option<u16> {
        self.reg_result
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The tunnel that carried its first message that came through one (the aggregator's
    /// index + 1; 0 for none).
    pub fn tunnel(&self) -> u32 {
        self.tunnel
    }

    /// The owner id ([`MsgCtx::pid`]) of the first message that named one.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The kept messages (the first and the latest ones), in arrival order.
    pub fn messages(&self) -> &History<Kept> {
        &self.messages
    }

    /// Every message counted by kind and direction, in order of first sight.
    pub fn counts(&self) -> &[KindCount] {
        &self.counts
    }

    /// Method of the first request seen, else the CSeq method of the first message (a
    /// capture that starts with a response).
    pub fn effective_method(&self) -> Option<&str> {
        self.method.as_deref().or(self.cseq_method.as_deref())
    }
}

impl Call {
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

/// A method name or reason phrase as the tracker keeps it: an id into its shared words, or a
/// text of its own for the rare names past [`MAX_SHARED_WORDS`] ([`Tracker::word`] spells
/// both). Owning those, rather than adding them to the shared list, keeps the list bounded
/// while kept messages come and go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    Shared(u32),
    Own(Box<str>),
}

/// What one row of a call's counts is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A request, by method.
    Request(Word),
    /// A response, by status code.
    Response(u16),
    /// Kinds past the rows a call keeps.
    Other,
}

/// Messages of one kind sent in one direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindCount {
    pub kind: Kind,
    /// Sent by the call's first sender.
    pub forward: bool,
    pub count: u64,
}

/// A kept message as the tracker holds it: addresses as numbers and names as [`Word`]s
/// ([`Tracker::word`] spells them). Spelling them per message was most of the tracker's
/// work; the report needs them only once, at the end, and a dialog repeats the same few.
#[derive(Debug)]
pub struct Kept {
    pub at: Timestamp,
    pub iface: Option<u32>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub transport: Transport,
    /// A request's method.
    pub method: Option<Word>,
    pub status: Option<u16>,
    /// CSeq number and method.
    pub cseq: Option<(u32, Word)>,
    /// A response's reason phrase.
    pub reason: Option<Word>,
    /// The SDP media it offered or answered, described; shared by every message that
    /// carried the same body (retransmissions, both ends of a tunnel).
    pub sdp: Option<Arc<[Box<str>]>>,
}

/// Most distinct names [`Words`] holds. Real traffic has a few dozen methods and reason
/// phrases; past this, a name is kept by the message that has it ([`Word::Own`]), so crafted
/// names cannot grow the list or slow its lookups.
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
    fn id(&mut self, w: &str) -> Word {
        if let Some(i) = common_word(w) {
            return Word::Shared(i);
        }
        if let Some(&i) = self.ids.get(w) {
            return Word::Shared(i);
        }
        if self.ids.len() >= MAX_SHARED_WORDS {
            return Word::Own(w.into());
        }
        // At most COMMON_WORDS + MAX_SHARED_WORDS entries.
        let i = self.list.len() as u32;
        self.list.push(w.into());
        self.ids.insert(w.into(), i);
        Word::Shared(i)
    }

    /// The id `w` has, if it has one, without adding it.
    fn find(&self, w: &str) -> Option<u32> {
        common_word(w).or_else(|| self.ids.get(w).copied())
    }

    fn get<'a>(&'a self, w: &'a Word) -> &'a str {
        match w {
            Word::Shared(i) => &self.list[*i as usize],
            Word::Own(s) => s,
        }
    }
}

/// Groups SIP messages by Call-ID and follows each dialog's and registration's state.
#[derive(Debug)]
pub struct Tracker {
    /// By Call-ID, hashed with a per-process random seed (foldhash: a Call-ID comes from the
    /// wire, so the seed keeps a crafted capture from aiming them all at one bucket).
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    calls: Vec<Call>,
    /// Sorted only when asked ([`Tracker::media_endpoints`]): insertion is per SDP body.
    media: foldhash::HashMap<(IpAddr, u16), String>,
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
    /// SDP bodies met lately, read and described once each: a call repeats the same offer
    /// and answer (retransmissions, re-INVITEs, both ends of a tunnel), and reading and
    /// describing them again was a tenth of all replay work on signaling-heavy captures.
    /// A body's first sighting only notes its hash (`None`): most bodies are never seen
    /// again (each call's offer names its own ports), and copying them into the cache cost
    /// more than reading them; the second sighting keeps the body read (`Some`).
    sdp_cache: FxHashMap<u64, Option<Arc<SdpSeen>>>,
    /// The SDP of the message [`Tracker::observe`] saw last when it came from the cache, for
    /// [`Tracker::last_sdp`] (otherwise the message holds it).
    last_sdp: Option<Arc<SdpSeen>>,
    /// The aggregator's state is at its memory limit: no new call, no message listed that
    /// would make the lists grow.
    pub full: bool,
}

/// Most SDP bodies [`Tracker`] notes (hashes of bodies seen once, and bodies seen again kept
/// read); past this the cache starts over. With [`MAX_CACHED_BODY`], a bound on its memory of
/// a few MB whatever the capture holds.
const MAX_SDP_CACHE: usize = 1024;

/// Largest body the cache keeps (an SDP offer is a few hundred bytes to a few kB); a larger
/// one is read each time it comes.
const MAX_CACHED_BODY: usize = 4096;

/// Where the SDP of the message being observed is.
enum SdpOf {
    /// No body, no Content-Type, or nothing the cache knows: not read.
    None,
    /// Read before and kept.
    Cached(Arc<SdpSeen>),
    /// Read now, into the message itself ([`SipMessage::sdp_ref`]).
    Fresh,
}

/// One message body's SDP as [`SipMessage::sdp_ref`] reads it, with the key it was read
/// from (Content-Type and body, compared in full: the hash only finds the entry).
#[derive(Debug)]
struct SdpSeen {
    content_type: Box<str>,
    body: Box<[u8]>,
    sdp: Option<Sdp>,
    /// `None` for a body without SDP media to describe.
    described: Option<Arc<[Box<str>]>>,
}

impl SdpSeen {
    fn of(m: &SipMessage<'_>, content_type: &str) -> Self {
        // Read into the entry alone (the message's own copy would be dropped with it).
        let sdp = m.read_sdp();
        let described = described(sdp.as_ref());
        SdpSeen { content_type: content_type.into(), body: m.body[..].into(), sdp, described }
    }
}

/// An SDP body's media as a kept message lists them (`None` without any), in exact-size
/// strings.
fn described(sdp: Option<&Sdp>) -> Option<Arc<[Box<str>]>> {
    let d = sdp?.describe();
    (!d.is_empty()).then(|| d.into_iter().map(String::into_boxed_str).collect())
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new()
    }
}

impl Tracker {
    pub fn new() -> Self {
        Tracker::with_limits(DEFAULT_MAX_CALLS, DEFAULT_KEEP_MESSAGES_PER_CALL, DEFAULT_MAX_MESSAGES_TOTAL)
    }

    /// A tracker keeping at most `max_calls` Call-IDs, listing the first `keep_per_call`
    /// messages of each and the latest `keep_per_call`, and at most `max_messages_total`
    /// messages in all.
    pub fn with_limits(max_calls: usize, keep_per_call: usize, max_messages_total: usize) -> Self {
        Tracker {
            index: HashMap::default(),
            calls: Vec::new(),
            media: Default::default(),
            words: Words::default(),
            kept_messages: 0,
            max_calls,
            max_messages_per_call: keep_per_call,
            max_messages_total,
            dropped: Dropped::default(),
            expired: 0,
            next_order: 0,
            sdp_cache: FxHashMap::default(),
            last_sdp: None,
            full: false,
        }
    }

    /// The caps this tracker keeps to: Call-IDs, messages listed per call at each end (the
    /// first and the latest), messages in all.
    pub fn limits(&self) -> (usize, usize, usize) {
        (self.max_calls, self.max_messages_per_call, self.max_messages_total)
    }

    /// Calls (dialogs and registrations) kept.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
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
        let seen = if m.body.is_empty() { SdpOf::None } else { self.sdp_seen(m) };
        self.last_sdp = match &seen {
            SdpOf::Cached(e) => Some(Arc::clone(e)),
            _ => None,
        };
        let sdp = match &seen {
            SdpOf::Cached(e) => e.sdp.as_ref(),
            SdpOf::Fresh => m.sdp_ref(),
            SdpOf::None => None,
        };
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
                if self.full || self.calls.len() >= self.max_calls {
                    self.dropped.calls += 1;
                    return;
                }
                let i = self.calls.len();
                let mut call = new_call(call_id, m, ctx.at, self.next_order);
                call.first_sender = (ctx.src, ctx.sport);
                call.first_iface = ctx.iface;
                call.messages = History::new(self.max_messages_per_call);
                self.calls.push(call);
                self.next_order += 1;
                self.index.insert(call_id.to_owned(), i);
                i
            }
        };
        let call = &mut self.calls[idx];
        call.messages.prefetch_next_evicted();
        // The same message seen on another interface moments ago: the other end's view of it.
        let words = &self.words;
        let may_repeat = call.ifaces_differ || ctx.iface != call.first_iface;
        let seen_elsewhere = may_repeat
            && call.messages.iter().rev().take(8).any(|k| {
                k.iface != ctx.iface
                    && k.src == ctx.src
                    && k.sport == ctx.sport
                    && k.dst == ctx.dst
                    && k.dport == ctx.dport
                    && k.status == m.status()
                    && k.method.as_ref().map(|w| words.get(w)) == m.method()
                    && k.cseq.as_ref().map(|(seq, w)| (*seq, words.get(w))) == m.cseq().map(|c| (c.seq, c.method))
                    && ctx.at.0.abs_diff(k.at.0) <= 2_000_000_000
            });
        if seen_elsewhere {
            return;
        }

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

        let forward = (ctx.src, ctx.sport) == call.first_sender;
        count_kind(&mut call.counts, &mut self.words, m, forward);
        let words = &mut self.words;
        call.ifaces_differ |= ctx.iface != call.first_iface;
        let kept = Kept {
            at: ctx.at,
            iface: ctx.iface,
            src: ctx.src,
            dst: ctx.dst,
            sport: ctx.sport,
            dport: ctx.dport,
            transport: ctx.transport,
            method: m.method().map(|w| words.id(w)),
            status: m.status(),
            cseq: m.cseq().map(|c| (c.seq, words.id(c.method))),
            reason: m.reason().map(|w| words.id(w)),
            sdp: match seen {
                SdpOf::Cached(e) => e.described.clone(),
                SdpOf::Fresh => described(m.sdp_ref()),
                SdpOf::None => None,
            },
        };
        let listed = if self.kept_messages < self.max_messages_total && !self.full {
            let grew = call.messages.push(kept);
            self.kept_messages += usize::from(grew);
            grew
        } else {
            call.messages.push_in_place(kept);
            false
        };
        if !listed {
            self.dropped.messages += 1;
        }
    }

    /// Where the SDP of `m` is read from: kept for a Content-Type and body seen before (see
    /// `sdp_cache`), read into the message the first time.
    fn sdp_seen(&mut self, m: &SipMessage<'_>) -> SdpOf {
        // No Content-Type, no SDP (as `SipMessage::sdp_ref` decides).
        let Some(ct) = m.content_type() else { return SdpOf::None };
        if m.body.len() > MAX_CACHED_BODY {
            return SdpOf::Fresh;
        }
        let mut h = FxHasher::default();
        ct.hash(&mut h);
        h.write(&m.body);
        let key = h.finish();
        match self.sdp_cache.get_mut(&key) {
            Some(Some(e)) if *e.content_type == *ct && *e.body == *m.body => SdpOf::Cached(Arc::clone(e)),
            // Another body with the same hash: read this one as it is, leave the entry.
            Some(Some(_)) => SdpOf::Fresh,
            Some(slot @ None) => {
                // Seen once before (or a body with the same hash, which is then the one kept:
                // the entry is compared in full from now on).
                let e = Arc::new(SdpSeen::of(m, ct));
                *slot = Some(Arc::clone(&e));
                SdpOf::Cached(e)
            }
            None => {
                if self.sdp_cache.len() >= MAX_SDP_CACHE {
                    self.sdp_cache.clear();
                }
                self.sdp_cache.insert(key, None);
                SdpOf::Fresh
            }
        }
    }

    /// The SDP of `m`, the message last given to [`Tracker::observe`] (whatever became of
    /// the message itself), so the caller need not read it again: kept by the tracker, or
    /// already read into the message.
    pub fn last_sdp<'a>(&'a self, m: &'a SipMessage<'_>) -> Option<&'a Sdp> {
        match &self.last_sdp {
            Some(e) => e.sdp.as_ref(),
            None => m.sdp_ref(),
        }
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

    /// Current state of a dialog (early, confirmed…), for live views.
    pub fn state(&self, call_id: &str) -> Option<State> {
        let c = &self.calls[*self.index.get(call_id)?];
        (!c.register).then_some(c.state)
    }

    pub fn dropped(&self) -> Dropped {
        self.dropped
    }

    /// The kept calls, dialogs and registrations alike, ordered by first-seen time (then
    /// arrival): the order the report lists them in.
    pub fn calls(&self) -> Vec<&Call> {
        let mut calls: Vec<&Call> = self.calls.iter().collect();
        calls.sort_by_key(|c| (c.first_at, c.order));
        calls
    }

    /// A method name or reason phrase of a kept message or a count.
    pub fn word<'a>(&'a self, w: &'a Word) -> &'a str {
        self.words.get(w)
    }
}

/// Count `m` in a call's `counts`: a row per request method or response status and direction,
/// at most [`MAX_COUNT_ROWS`] of them (the rest in one row of [`Kind::Other`]).
fn count_kind(counts: &mut Vec<KindCount>, words: &mut Words, m: &SipMessage<'_>, forward: bool) {
    let (status, method) = (m.status(), m.method());
    // The method's shared word, looked up once rather than per row.
    let shared = match (status, method) {
        (None, Some(method)) => words.find(method),
        _ => None,
    };
    let row = counts.iter_mut().position(|c| {
        c.forward == forward
            && match (&c.kind, status, method) {
                (Kind::Response(s), Some(code), _) => *s == code,
                (Kind::Request(w), None, Some(method)) => match (w, shared) {
                    (Word::Shared(i), Some(j)) => *i == j,
                    (Word::Own(t), None) => &**t == method,
                    _ => false,
                },
                _ => false,
            }
    });
    if let Some(i) = row {
        counts[i].count += 1;
        return;
    }
    let kind = match (m.status(), m.method()) {
        _ if counts.len() >= MAX_COUNT_ROWS - 1 => Kind::Other,
        (Some(code), _) => Kind::Response(code),
        (None, Some(method)) => Kind::Request(words.id(method)),
        (None, None) => Kind::Other,
    };
    match counts.iter_mut().find(|c| c.kind == kind && c.forward == forward) {
        Some(c) => c.count += 1,
        None => counts.push(KindCount { kind, forward, count: 1 }),
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
        first_sender: (IpAddr::from([0u8; 4]), 0),
        first_iface: None,
        ifaces_differ: false,
        messages: History::new(DEFAULT_KEEP_MESSAGES_PER_CALL),
        counts: Vec::new(),
        state: State::Unknown,
        confirmed_once: false,
        cancel_seen: false,
        reg_cseq: None,
        reg_result: None,
    }
}

/// The tracker's tests, and the messages they feed it: the report's tests of its SIP section
/// (`aggregate/sip_report.rs`) feed the same.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sip::message::parse;

    pub(crate) const A: &str = "10.0.0.1";
    pub(crate) const B: &str = "10.0.0.2";

    pub(crate) fn ctx(t: i64, src: &str, dst: &str) -> MsgCtx {
        MsgCtx {
            at: Timestamp(t),
            src: src.parse().unwrap(),
            sport: 5060,
            dst: dst.parse().unwrap(),
            dport: 5060,
            transport: Transport::Udp,
            pid: None,
            tunnel: 0,
            iface: None,
        }
    }

    /// A request or response of call `cid`; `to_tag` adds a tag to To.
    pub(crate) fn msg(start: &str, cid: &str, cseq: &str, to_tag: bool, body: &str) -> SipMessage<'static> {
        let tag = if to_tag { ";tag=callee1" } else { "" };
        let ct = if body.is_empty() { "" } else { "Content-Type: application/sdp\r\n" };
        let raw = format!(
            "{start}\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag=caller1\r\n\
To: <sip:bob@example.com>{tag}\r\nCall-ID: {cid}\r\nCSeq: {cseq}\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        parse(raw.as_bytes()).unwrap().into_owned()
    }

    pub(crate) const OFFER: &str = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 8000 RTP/AVP 0\r\n";
    pub(crate) const ANSWER: &str = "v=0\r\nc=IN IP4 10.0.0.2\r\nm=audio 9000 RTP/AVP 0\r\n";

    /// A body is read into its message the first time, kept read from the second on; either
    /// way the tracker and its caller see the same SDP, and a body that only shares another's
    /// hash slot is read as it is.
    #[test]
    fn sdp_bodies_are_kept_from_their_second_sighting() {
        let mut t = Tracker::new();
        let invite = |cid: &str, body: &str| msg("INVITE sip:bob@example.com SIP/2.0", cid, "1 INVITE", false, body);
        let ports = |t: &Tracker, m: &SipMessage<'_>| -> Vec<u16> {
            t.last_sdp(m).map(|s| s.endpoints().map(|(_, _, p)| p).collect()).unwrap_or_default()
        };
        let first = invite("c1", OFFER);
        t.observe(&first, ctx(1, A, B));
        assert!(t.last_sdp.is_none() && t.sdp_cache.values().all(Option::is_none), "seen once: noted only");
        assert_eq!(ports(&t, &first), [8000]);
        let again = invite("c1", OFFER);
        t.observe(&again, ctx(2, A, B));
        assert!(t.last_sdp.is_some(), "seen twice: kept read");
        assert_eq!(ports(&t, &again), [8000]);
        let third = invite("c2", OFFER);
        t.observe(&third, ctx(3, A, B));
        assert_eq!(ports(&t, &third), [8000]);
        // Another body whose hash finds the kept entry: read as it is.
        let key = *t.sdp_cache.keys().next().unwrap();
        let other = invite("c3", ANSWER);
        let e = t.sdp_cache.remove(&key).unwrap();
        let mut h = FxHasher::default();
        other.content_type().unwrap().hash(&mut h);
        h.write(&other.body);
        t.sdp_cache.insert(h.finish(), e);
        t.observe(&other, ctx(4, B, A));
        assert_eq!(ports(&t, &other), [9000]);
        let listed: Vec<_> =
            t.calls().into_iter().flat_map(|c| c.messages.iter()).map(|k| k.sdp.as_deref().map(<[_]>::len)).collect();
        assert_eq!(listed, [Some(1), Some(1), Some(1), Some(1)], "every message lists its media");
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
    fn words_past_the_shared_cap_still_read_back() {
        let mut w = Words::default();
        // Every common word's id reads back as itself, through the match or the list.
        for (i, c) in COMMON_WORDS.iter().enumerate() {
            assert_eq!(w.id(c), Word::Shared(i as u32));
            assert_eq!(w.get(&Word::Shared(i as u32)), *c);
        }
        let names: Vec<String> = (0..MAX_SHARED_WORDS + 50).map(|i| format!("R{i}")).collect();
        let ids: Vec<Word> = names.iter().map(|n| w.id(n)).collect();
        // Shared ones are found again; later ones are owned by whoever holds them.
        assert_eq!(w.id("R0"), ids[0]);
        let late = &names[MAX_SHARED_WORDS + 10];
        assert_eq!(w.id(late), Word::Own(late.as_str().into()));
        for (n, i) in names.iter().zip(&ids) {
            assert_eq!(w.get(i), n);
        }
        assert_eq!(w.ids.len(), MAX_SHARED_WORDS);
        assert_eq!(w.list.len(), COMMON_WORDS.len() + MAX_SHARED_WORDS, "the list stops growing");
    }
}

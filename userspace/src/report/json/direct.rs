//! The report written without serde's generic machinery for the records it holds by the
//! thousand: flows, IKE SAs and their exchanges, ESP SAs, SIP dialogs, registrations and
//! their messages, proposals.
//!
//! Going through `SerializeStruct::serialize_field` cost about 300 instructions a field: a
//! generic call per field, a key-prefix cache lookup, a dynamic separator. Each record here
//! sits at one fixed depth of the document, so every `,\n<indent>"key": ` is a constant
//! (built by [`key!`]) copied in one piece, and values go straight into the buffer. The
//! rarer parts (source, stats, interfaces, processes, verdicts…) still go through the serde
//! path, which prints the same bytes.
//!
//! The field lists below repeat the structs' field order and names. The tests in the parent
//! module compare `to_json` with serde_json on fully populated records, with every `Option`
//! both ways: a field added to a struct but not here, or misspelt, fails them.

use serde::Serialize;

use super::{Unsupported, Writer, PAIRS};
use crate::report::{EspSa, Flow, IkeExchange, IkeSa, Proposal, Report, SipDialog, SipMessage, SipRegistration, Time};

/// The indent of nesting level `n`: two spaces a level.
macro_rules! ind {
    (0) => {
        ""
    };
    (1) => {
        "  "
    };
    (2) => {
        "    "
    };
    (3) => {
        "      "
    };
    (4) => {
        "        "
    };
    (5) => {
        "          "
    };
    (6) => {
        "            "
    };
    (7) => {
        "              "
    };
}

/// What goes before the value of field `$k` in an object whose fields are at level `$d`:
/// comma, newline, indent, quoted key and `": "`. `first` drops the comma.
macro_rules! key {
    (first $d:tt, $k:literal) => {
        concat!("\n", ind!($d), "\"", $k, "\": ")
    };
    ($d:tt, $k:literal) => {
        concat!(",\n", ind!($d), "\"", $k, "\": ")
    };
}

/// The end of an object whose fields are at level `$d`: newline, the indent of its brace.
macro_rules! close {
    ($d:tt) => {
        concat!("\n", ind!($d), "}")
    };
}

type Result = std::result::Result<(), Unsupported>;

impl Writer {
    /// A constant piece. Inlined so that the copy, of a length known where it is called,
    /// becomes a few moves rather than a `memcpy` call.
    #[inline(always)]
    fn raw(&mut self, s: &'static str) {
        self.out.extend_from_slice(s.as_bytes());
    }

    /// `{`, one level deeper. `level` is the level its fields are written at, which the
    /// constant keys of the caller assume.
    fn open_object(&mut self, level: usize) {
        self.out.push(b'{');
        self.depth += 1;
        debug_assert_eq!(self.depth, level, "record written at an unexpected depth");
    }

    #[inline(always)]
    fn close_object(&mut self, tail: &'static str) {
        self.depth -= 1;
        self.raw(tail);
    }

    fn opt_string(&mut self, v: Option<&String>) {
        match v {
            Some(s) => self.string(s),
            None => self.raw("null"),
        }
    }

    fn opt_uint(&mut self, v: Option<u64>) {
        match v {
            Some(n) => self.uint(n),
            None => self.raw("null"),
        }
    }

    fn bool(&mut self, v: bool) {
        self.raw(if v { "true" } else { "false" });
    }

    /// A timestamp as its quoted RFC 3339 text. A report's timestamps fall within the few
    /// seconds or minutes of its capture, so the text up to the fraction
    /// (`2026-01-01T00:00:05`) is kept per second, in [`StampPrefixes`], and only the six
    /// digits of microseconds are written anew. The prefix comes from `Timestamp`'s own
    /// `Display`, which stays the one spelling of a timestamp: it always ends in `.` and six
    /// digits of microseconds.
    ///
    /// Both parts are copied at a constant length: the cached `"` + prefix + `.` from its
    /// fixed-size slot, then cut back to its length, and the digits with the closing `Z"`
    /// as one eight-byte piece.
    fn timestamp(&mut self, t: Time) -> Result {
        let micros = t.subsec_micros() as usize;
        let (hi, mid, lo) = (micros / 10_000 * 2, micros / 100 % 100 * 2, micros % 100 * 2);
        let tail = [PAIRS[hi], PAIRS[hi + 1], PAIRS[mid], PAIRS[mid + 1], PAIRS[lo], PAIRS[lo + 1], b'Z', b'"'];
        let start = self.out.len();
        match self.stamps.get(t) {
            Some((head, len)) => {
                self.out.extend_from_slice(head);
                self.out.truncate(start + len);
            }
            None => {
                // A prefix too long for a slot (no `Timestamp` has one): as `Display` spells it.
                let text = t.to_string();
                self.out.push(b'"');
                self.out.extend_from_slice(&text.as_bytes()[..text.rfind('.').unwrap_or(text.len()) + 1]);
            }
        }
        self.out.extend_from_slice(&tail);
        Ok(())
    }

    /// An array, `[]` when empty, each element on its own line at the next level.
    fn list<T>(&mut self, items: &[T], mut each: impl FnMut(&mut Self, &T) -> Result) -> Result {
        if items.is_empty() {
            self.raw("[]");
            return Ok(());
        }
        self.out.push(b'[');
        self.depth += 1;
        for (i, item) in items.iter().enumerate() {
            self.separator(i == 0);
            each(self, item)?;
        }
        self.depth -= 1;
        self.separator(true);
        self.out.push(b']');
        Ok(())
    }

    fn strings(&mut self, items: &[String]) -> Result {
        self.list(items, |w, s| {
            w.string(s);
            Ok(())
        })
    }

    /// Any value through the serde path, at the current depth.
    fn value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result {
        v.serialize(self)
    }
}

/// The whole document (without the trailing newline).
pub fn report(w: &mut Writer, r: &Report) -> Result {
    w.open_object(1);
    w.raw(key!(first 1, "schema"));
    w.string(r.schema.as_str());
    w.raw(key!(1, "source"));
    w.value(&r.source)?;
    w.raw(key!(1, "stats"));
    w.value(&r.stats)?;
    w.raw(key!(1, "interfaces"));
    w.value(&r.interfaces)?;
    w.raw(key!(1, "processes"));
    w.value(&r.processes)?;
    w.raw(key!(1, "flows"));
    w.list(&r.flows, flow)?;
    w.raw(key!(1, "ike_sas"));
    w.list(&r.ike_sas, ike_sa)?;
    w.raw(key!(1, "esp_sas"));
    w.list(&r.esp_sas, esp_sa)?;
    w.raw(key!(1, "sip"));
    w.open_object(2);
    w.raw(key!(first 2, "dialogs"));
    w.list(&r.sip.dialogs, sip_dialog)?;
    w.raw(key!(2, "registrations"));
    w.list(&r.sip.registrations, sip_registration)?;
    w.close_object(close!(1));
    w.raw(key!(1, "verdicts"));
    w.value(&r.verdicts)?;
    w.raw(key!(1, "malformed"));
    w.value(&r.malformed)?;
    w.raw(key!(1, "unknown_linktypes"));
    w.value(&r.unknown_linktypes)?;
    w.raw(key!(1, "errors"));
    w.value(&r.errors)?;
    w.close_object(close!(0));
    Ok(())
}

/// An element of `flows`.
fn flow(w: &mut Writer, f: &Flow) -> Result {
    w.open_object(3);
    w.raw(key!(first 3, "iface"));
    w.opt_string(f.iface.as_ref());
    w.raw(key!(3, "proto"));
    w.string(f.proto.as_str());
    w.raw(key!(3, "src"));
    w.string(&f.src);
    w.raw(key!(3, "sport"));
    w.opt_uint(f.sport.map(u64::from));
    w.raw(key!(3, "dst"));
    w.string(&f.dst);
    w.raw(key!(3, "dport"));
    w.opt_uint(f.dport.map(u64::from));
    w.raw(key!(3, "app"));
    w.string(f.app.as_str());
    w.raw(key!(3, "pid"));
    w.opt_uint(f.pid.map(u64::from));
    w.raw(key!(3, "comm"));
    w.opt_string(f.comm.as_ref());
    w.raw(key!(3, "packets"));
    w.uint(f.packets);
    w.raw(key!(3, "bytes"));
    w.uint(f.bytes);
    w.raw(key!(3, "first"));
    w.timestamp(f.first)?;
    w.raw(key!(3, "last"));
    w.timestamp(f.last)?;
    w.close_object(close!(2));
    Ok(())
}

/// An element of `ike_sas`.
fn ike_sa(w: &mut Writer, sa: &IkeSa) -> Result {
    w.open_object(3);
    w.raw(key!(first 3, "version"));
    w.uint(sa.version.into());
    w.raw(key!(3, "initiator_spi"));
    w.string(&sa.initiator_spi);
    w.raw(key!(3, "responder_spi"));
    w.opt_string(sa.responder_spi.as_ref());
    w.raw(key!(3, "initiator"));
    w.string(&sa.initiator);
    w.raw(key!(3, "initiator_port"));
    w.uint(sa.initiator_port.into());
    w.raw(key!(3, "responder"));
    w.string(&sa.responder);
    w.raw(key!(3, "responder_port"));
    w.uint(sa.responder_port.into());
    w.raw(key!(3, "nat_t"));
    w.bool(sa.nat_t);
    w.raw(key!(3, "state"));
    w.string(sa.state.as_str());
    w.raw(key!(3, "exchanges"));
    w.list(&sa.exchanges, ike_exchange)?;
    w.raw(key!(3, "vendor_ids"));
    w.strings(&sa.vendor_ids)?;
    w.raw(key!(3, "pid"));
    w.opt_uint(sa.pid.map(u64::from));
    w.raw(key!(3, "comm"));
    w.opt_string(sa.comm.as_ref());
    w.raw(key!(3, "proposals"));
    w.list(&sa.proposals, proposal_in_list)?;
    w.raw(key!(3, "chosen"));
    match &sa.chosen {
        Some(p) => proposal_chosen(w, p)?,
        None => w.raw("null"),
    }
    w.raw(key!(3, "ke_group"));
    w.opt_string(sa.ke_group.as_ref());
    w.raw(key!(3, "notifies"));
    w.strings(&sa.notifies)?;
    w.raw(key!(3, "encrypted_payloads"));
    w.uint(sa.encrypted_payloads);
    w.raw(key!(3, "nat_detected"));
    match sa.nat_detected {
        Some(b) => w.bool(b),
        None => w.raw("null"),
    }
    w.raw(key!(3, "iface"));
    w.opt_string(sa.iface.as_ref());
    w.close_object(close!(2));
    Ok(())
}

/// An element of an IKE SA's `exchanges`.
fn ike_exchange(w: &mut Writer, x: &IkeExchange) -> Result {
    w.open_object(5);
    w.raw(key!(first 5, "type"));
    w.string(&x.kind);
    w.raw(key!(5, "message_id"));
    w.uint(x.message_id.into());
    w.raw(key!(5, "response"));
    w.bool(x.response);
    w.raw(key!(5, "at"));
    w.timestamp(x.at)?;
    w.raw(key!(5, "src"));
    w.string(&x.src);
    w.raw(key!(5, "sport"));
    w.uint(x.sport.into());
    w.raw(key!(5, "payloads"));
    w.strings(&x.payloads)?;
    w.close_object(close!(4));
    Ok(())
}

/// A proposal's fields at level `$d`, closed at `$d - 1`. `proposals` holds them one level
/// deeper than `chosen` does, so the one list of fields is instantiated at both levels.
macro_rules! proposal_fields {
    ($w:ident, $p:ident, $d:tt, $c:tt) => {{
        $w.open_object($d);
        $w.raw(key!(first $d, "number"));
        $w.uint($p.number.into());
        $w.raw(key!($d, "protocol"));
        $w.string(&$p.protocol);
        $w.raw(key!($d, "encryption"));
        $w.strings(&$p.encryption)?;
        $w.raw(key!($d, "prf"));
        $w.strings(&$p.prf)?;
        $w.raw(key!($d, "integrity"));
        $w.strings(&$p.integrity)?;
        $w.raw(key!($d, "dh"));
        $w.strings(&$p.dh)?;
        $w.raw(key!($d, "esn"));
        $w.strings(&$p.esn)?;
        $w.raw(key!($d, "other"));
        $w.strings(&$p.other)?;
        $w.close_object(close!($c));
        Ok(())
    }};
}

/// An element of an IKE SA's `proposals`.
fn proposal_in_list(w: &mut Writer, p: &Proposal) -> Result {
    proposal_fields!(w, p, 5, 4)
}

/// An IKE SA's `chosen` proposal.
fn proposal_chosen(w: &mut Writer, p: &Proposal) -> Result {
    proposal_fields!(w, p, 4, 3)
}

/// An element of `esp_sas`.
fn esp_sa(w: &mut Writer, sa: &EspSa) -> Result {
    w.open_object(3);
    w.raw(key!(first 3, "spi"));
    w.string(&sa.spi);
    w.raw(key!(3, "src"));
    w.string(&sa.src);
    w.raw(key!(3, "dst"));
    w.string(&sa.dst);
    w.raw(key!(3, "encap"));
    w.string(sa.encap.as_str());
    w.raw(key!(3, "packets"));
    w.uint(sa.packets);
    w.raw(key!(3, "bytes"));
    w.uint(sa.bytes);
    w.raw(key!(3, "ike_sa"));
    w.opt_uint(sa.ike_sa.map(|i| i as u64));
    w.raw(key!(3, "first_seq"));
    w.opt_uint(sa.first_seq.map(u64::from));
    w.raw(key!(3, "last_seq"));
    w.opt_uint(sa.last_seq.map(u64::from));
    w.raw(key!(3, "seq_gaps"));
    w.uint(sa.seq_gaps);
    w.raw(key!(3, "iface"));
    w.opt_string(sa.iface.as_ref());
    w.close_object(close!(2));
    Ok(())
}

/// An element of `sip.dialogs`.
fn sip_dialog(w: &mut Writer, d: &SipDialog) -> Result {
    w.open_object(4);
    w.raw(key!(first 4, "call_id"));
    w.string(&d.call_id);
    w.raw(key!(4, "from"));
    w.opt_string(d.from.as_ref());
    w.raw(key!(4, "to"));
    w.opt_string(d.to.as_ref());
    w.raw(key!(4, "method"));
    w.string(&d.method);
    w.raw(key!(4, "state"));
    w.string(d.state.as_str());
    w.raw(key!(4, "messages"));
    w.list(&d.messages, sip_message)?;
    w.raw(key!(4, "pid"));
    w.opt_uint(d.pid.map(u64::from));
    w.raw(key!(4, "comm"));
    w.opt_string(d.comm.as_ref());
    w.close_object(close!(3));
    Ok(())
}

/// An element of `sip.registrations`.
fn sip_registration(w: &mut Writer, r: &SipRegistration) -> Result {
    w.open_object(4);
    w.raw(key!(first 4, "call_id"));
    w.string(&r.call_id);
    w.raw(key!(4, "aor"));
    w.opt_string(r.aor.as_ref());
    w.raw(key!(4, "registrar"));
    w.opt_string(r.registrar.as_ref());
    w.raw(key!(4, "result"));
    w.opt_uint(r.result.map(u64::from));
    w.raw(key!(4, "messages"));
    w.list(&r.messages, sip_message)?;
    w.raw(key!(4, "pid"));
    w.opt_uint(r.pid.map(u64::from));
    w.raw(key!(4, "comm"));
    w.opt_string(r.comm.as_ref());
    w.close_object(close!(3));
    Ok(())
}

/// An element of a dialog's or registration's `messages`.
fn sip_message(w: &mut Writer, m: &SipMessage) -> Result {
    w.open_object(6);
    w.raw(key!(first 6, "at"));
    w.timestamp(m.at)?;
    w.raw(key!(6, "src"));
    w.string(&m.src);
    w.raw(key!(6, "dst"));
    w.string(&m.dst);
    w.raw(key!(6, "transport"));
    w.string(m.transport.as_str());
    w.raw(key!(6, "method"));
    w.opt_string(m.method.as_ref());
    w.raw(key!(6, "status"));
    w.opt_uint(m.status.map(u64::from));
    w.raw(key!(6, "cseq"));
    w.opt_string(m.cseq.as_ref());
    w.raw(key!(6, "sport"));
    w.uint(m.sport.into());
    w.raw(key!(6, "dport"));
    w.uint(m.dport.into());
    w.raw(key!(6, "reason"));
    w.opt_string(m.reason.as_ref());
    w.raw(key!(6, "sdp"));
    w.strings(&m.sdp)?;
    w.close_object(close!(5));
    Ok(())
}

/// `"` and the timestamp text up to and including the `.` of the fraction, for the seconds
/// seen lately, direct-mapped by the second. Flows alternate between their first and last
/// second, and SIP messages and IKE exchanges come grouped by dialog and SA rather than in
/// time order, so one cached second would miss on most timestamps; 64 slots cover the spread
/// of a typical capture.
pub(super) struct StampPrefixes {
    slots: Vec<StampSlot>,
}

/// The second, the bytes (`"2026-01-01T00:00:05.`, 21 of them for every year a `Timestamp`
/// can hold), and how many of them there are.
#[derive(Clone)]
struct StampSlot {
    secs: i64,
    head: [u8; STAMP_HEAD],
    len: usize,
}

const STAMP_SLOTS: usize = 64;
const STAMP_HEAD: usize = 32;

impl Default for StampPrefixes {
    fn default() -> Self {
        // `i64::MIN` is no timestamp's second (`secs()` of the smallest is above it), so
        // every slot starts empty.
        StampPrefixes { slots: vec![StampSlot { secs: i64::MIN, head: [b' '; STAMP_HEAD], len: 0 }; STAMP_SLOTS] }
    }
}

impl StampPrefixes {
    /// The slot's bytes and the length of the prefix in them; `None` if it does not fit.
    fn get(&mut self, t: Time) -> Option<(&[u8; STAMP_HEAD], usize)> {
        let secs = t.secs();
        let slot = &mut self.slots[secs.rem_euclid(STAMP_SLOTS as i64) as usize];
        if slot.secs != secs {
            let text = t.to_string();
            let prefix = &text.as_bytes()[..text.rfind('.').unwrap_or(text.len())];
            if prefix.len() + 2 > STAMP_HEAD {
                return None;
            }
            slot.head[0] = b'"';
            slot.head[1..=prefix.len()].copy_from_slice(prefix);
            slot.head[prefix.len() + 1] = b'.';
            slot.len = prefix.len() + 2;
            slot.secs = secs;
        }
        Some((&slot.head, slot.len))
    }
}

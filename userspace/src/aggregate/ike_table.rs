//! IKE SAs, one per initiator SPI, built from every cleartext IKE header and payload seen.

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::net::IpAddr;

use super::flows::{mix, Slot, Table, TableKey};

use crate::decode::ike::{self, Group, Proposal};
use crate::history::History;
use crate::report::IkeState;
use crate::time::Timestamp;

/// What the table takes from one IKE message. Header facts and flags are plain values; the
/// lists an SA keeps (payload names, notifies, vendor IDs, proposals) are rendered from the
/// decoder's scan only when and as far as the SA keeps them: most messages are retransmissions
/// or encrypted and add nothing but an exchange entry.
#[derive(Debug, Clone)]
pub struct IkeView<'a> {
    pub version: u8,
    pub ispi: u64,
    pub rspi: u64,
    pub exchange: Cow<'static, str>,
    pub exchange_type: u8,
    pub message_id: u32,
    /// IKEv2: the R flag. IKEv1 has none: inferred from the sender.
    pub response: Option<bool>,
    /// IKEv2: the I flag (sender is the original initiator).
    pub from_initiator: Option<bool>,
    pub ke_group: Option<Group>,
    pub encrypted_payloads: u64,
    /// An IKEv1 body under the E flag (its one payload name is "Encrypted").
    pub encrypted_body: bool,
    /// A cleartext Delete payload for the IKE SA itself.
    pub deletes_ike_sa: bool,
    /// A cleartext error notify (type < 16384), e.g. NO_PROPOSAL_CHOSEN.
    pub error_notify: bool,
    /// NAT_DETECTION_* / NAT-D payloads present.
    pub nat_detection: bool,
    /// Damage after the header (the decoder's reason).
    pub malformed: Option<&'static str>,
    scan: ike::Scan<'a>,
}

impl<'a> From<ike::Scan<'a>> for IkeView<'a> {
    fn from(s: ike::Scan<'a>) -> Self {
        let h = s.header;
        IkeView {
            version: h.version,
            ispi: h.initiator_spi,
            rspi: h.responder_spi,
            exchange: s.exchange_name(),
            exchange_type: h.exchange_type,
            message_id: h.message_id,
            response: h.is_response(),
            from_initiator: h.initiator(),
            ke_group: s.ke_group,
            encrypted_payloads: u64::from(s.encrypted_payloads),
            encrypted_body: h.v1_encrypted(),
            deletes_ike_sa: s.deletes_ike_sa,
            error_notify: s.error_notify,
            nat_detection: s.nat_detection,
            malformed: s.malformed,
            scan: s,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub at: Timestamp,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub proc: Option<super::ProcHandle>,
    pub iface: Option<u32>,
    /// Came on UDP 4500 behind the non-ESP marker.
    pub encapsulated: bool,
    /// The tunnel that carried it (the aggregator's index + 1; 0 for none).
    pub tunnel: u32,
}

/// Laid out in the order written (`repr(C)`): the fields every message reads or writes come
/// first and share a few cache lines. With thousands of SAs each message finds its SA out of
/// cache, and each further line it touched was a miss of its own.
#[derive(Debug)]
#[repr(C)]
pub struct SaState {
    /// The first and the latest few, in arrival order; the report renders them
    /// (`ipsec_report`).
    pub exchanges: History<Exchange>,
    pub initiator: (IpAddr, u16),
    pub responder: (IpAddr, u16),
    pub rspi: u64,
    pub last: Timestamp,
    pub encrypted_payloads: u64,
    pub proc: Option<super::ProcHandle>,
    pub iface: Option<u32>,
    /// When its deletion was seen.
    pub deleted_at: Option<Timestamp>,
    /// Every message counted by exchange type and direction, in order of first sight.
    pub counts: Counts,
    pub ke_group: Option<String>,
    pub version: u8,
    pub nat_t: bool,
    pub state: IkeState,
    /// Some exchange kept was seen on another interface than `iface` (only then can a message
    /// be one seen at both ends of a path, see [`Exchange::same_message_elsewhere`]).
    pub ifaces_differ: bool,
    pub nat_detected: bool,
    pub ispi: u64,
    pub vendor_ids: Vec<String>,
    /// Vendor ID payloads (their bytes, hashed) and notify types already named: a
    /// retransmission or a rekey repeats them, and naming them again (hex for unknown ones)
    /// was a fifth of the table's work on signaling.
    seen_vids: Vec<u64>,
    seen_notifies: Vec<u16>,
    /// Every process seen sending or receiving its messages (both ends' daemons when two hosts'
    /// recordings are replayed together), first first, at most [`MAX_OWNERS`].
    pub owners: Vec<super::ProcHandle>,
    pub proposals: Vec<Proposal>,
    pub chosen: Option<Proposal>,
    pub notifies: Vec<String>,
    /// The tunnel of its first message (index + 1; 0 for none).
    pub tunnel: u32,
    pub first: Timestamp,
    /// Peer addresses as seen on the wire, both sides (for linking ESP SAs).
    pub peers: (IpAddr, IpAddr),
    /// Reasons its messages were damaged past the header, each once, at most [`MAX_MALFORMED`].
    pub malformed: Vec<&'static str>,
}

/// The rows of [`SaState::counts`]: the first few in place (an SA has two to six), the rest
/// beside.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    inline: [ExchangeCount; INLINE_COUNTS],
    n: u8,
    more: Vec<ExchangeCount>,
}

const INLINE_COUNTS: usize = 4;

impl Counts {
    /// Count one message of `key` (exchange type, response, from the initiator).
    fn bump(&mut self, key: (u8, bool, bool)) {
        let mut rows = self.inline[..usize::from(self.n)].iter_mut().chain(self.more.iter_mut());
        match rows.find(|x| (x.exchange_type, x.response, x.from_initiator) == key) {
            Some(x) => x.count += 1,
            None => {
                let row = ExchangeCount { exchange_type: key.0, response: key.1, from_initiator: key.2, count: 1 };
                if usize::from(self.n) < INLINE_COUNTS {
                    self.inline[usize::from(self.n)] = row;
                    self.n += 1;
                } else {
                    // At most 2^10 rows: 256 types, two flags.
                    self.more.push(row);
                }
            }
        }
    }

    /// The rows in order of first sight.
    pub fn iter(&self) -> impl Iterator<Item = &ExchangeCount> {
        self.inline[..usize::from(self.n)].iter().chain(self.more.iter())
    }
}

/// Messages of one exchange type in one direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExchangeCount {
    pub exchange_type: u8,
    pub response: bool,
    pub from_initiator: bool,
    pub count: u64,
}

/// One exchange as the table keeps it: numbers, the sender's address and the payload types.
/// The report's names and texts are made once, when the report is built (`ipsec_report`),
/// instead of being allocated for every message and copied again for the report.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub exchange_type: u8,
    pub message_id: u32,
    pub response: bool,
    pub at: Timestamp,
    pub src: IpAddr,
    pub sport: u16,
    /// An IKEv1 body under the E flag: no types, one "Encrypted" name.
    pub encrypted_body: bool,
    pub payload_types: PayloadTypes,
    /// Where it was seen (a merged replay of two hosts sees each message twice).
    pub iface: Option<u32>,
}

/// Payload types kept inline, without an allocation of their own.
const INLINE_TYPES: usize = 22;

/// The payload types of one message: in place up to [`INLINE_TYPES`] (nearly every real
/// message; an encrypted one has one), boxed beyond. An SA's history replaces an exchange with
/// every message past its first few, and a box each time was an allocation and a free per
/// message, the free touching memory long out of cache.
#[derive(Debug, Clone)]
pub enum PayloadTypes {
    Inline { n: u8, types: [u8; INLINE_TYPES] },
    Boxed(Box<[u8]>),
}

impl PayloadTypes {
    fn collect(it: impl Iterator<Item = u8>) -> Self {
        let mut types = [0u8; INLINE_TYPES];
        let mut n = 0;
        let mut it = it.peekable();
        while let Some(&t) = it.peek() {
            if n == INLINE_TYPES {
                let mut v = types.to_vec();
                v.extend(it);
                return PayloadTypes::Boxed(v.into_boxed_slice());
            }
            types[n] = t;
            n += 1;
            it.next();
        }
        PayloadTypes::Inline { n: n as u8, types }
    }
}

impl std::ops::Deref for PayloadTypes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            PayloadTypes::Inline { n, types } => &types[..usize::from(*n)],
            PayloadTypes::Boxed(b) => b,
        }
    }
}

impl Exchange {
    fn new(m: &IkeView<'_>, c: &Ctx, response: bool) -> Self {
        Exchange {
            exchange_type: m.exchange_type,
            message_id: m.message_id,
            response,
            at: c.at,
            src: c.src,
            sport: c.sport,
            encrypted_body: m.encrypted_body,
            payload_types: PayloadTypes::collect(m.scan.header.payloads().map(|(t, _)| t)),
            iface: c.iface,
        }
    }

    /// The same message, seen on another interface within two seconds: one message seen at
    /// both ends of the path (recordings of two hosts replayed together), not a retransmission.
    fn same_message_elsewhere(&self, m: &IkeView<'_>, c: &Ctx) -> bool {
        self.iface != c.iface
            && self.exchange_type == m.exchange_type
            && self.message_id == m.message_id
            && self.src == c.src
            && self.sport == c.sport
            && self.encrypted_body == m.encrypted_body
            && self.payload_types.iter().copied().eq(m.scan.header.payloads().map(|(t, _)| t))
            && c.at.0.abs_diff(self.at.0) <= 2_000_000_000
    }
}

/// Processes named per SA.
const MAX_OWNERS: usize = 8;
/// Distinct damage reasons kept per SA (the decoder has a few dozen; the stats count them all).
const MAX_MALFORMED: usize = 8;
/// Vendor IDs and notify types named per SA (real SAs have a handful; crafted messages could
/// bring new ones with every packet).
const MAX_NAMES: usize = 32;
/// Exchanges kept per SA: the first this many and the latest this many. A retransmission
/// storm or days of rekeying in between is counted ([`SaState::counts`]), not stored.
const KEEP_EXCHANGES: usize = 8;
/// Proposals kept per SA, and transforms of each kind per proposal (a message can carry
/// thousands; real peers offer a few proposals of a dozen or two transforms).
const KEEP_PROPOSALS: usize = 16;
const KEEP_TRANSFORMS: usize = 32;
/// SAs kept; a flood of SA_INITs beyond this is ignored.
const MAX_SAS: usize = 200_000;
const _: () = assert!(MAX_SAS < super::flows::MAX_ENTRIES);

#[derive(Default)]
pub struct IkeTable {
    pub sas: Vec<SaState>,
    /// The SAs' keys, entry `i` for `sas[i]` (both in order of creation, both rebuilt on
    /// expiry): a table whose slots and entries the batch pipeline can prefetch.
    by_ispi: Table<IkeKey, ()>,
    /// Exchanges of kept SAs not listed (between the first and the latest
    /// [`KEEP_EXCHANGES`]).
    pub dropped_exchanges: u64,
    /// Messages of new SAs refused because [`MAX_SAS`] SAs were kept.
    pub refused: u64,
    /// SAs let go after their deletion or idleness.
    pub expired: u64,
    /// The state is at its memory limit: no new SA (`budget`).
    pub full: bool,
    /// Proposals and transforms past [`KEEP_PROPOSALS`] and [`KEEP_TRANSFORMS`], not kept.
    pub proposals_cut: u64,
    /// Payload types in the exchanges kept, all SAs together: the report names each one (a
    /// string apiece), so a message of 64 payloads takes 64 bytes here and kilobytes there. The
    /// state's memory bound (`budget`) counts them at their report size.
    pub payloads_kept: usize,
}

/// An SA's key: IKE version and initiator SPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IkeKey {
    ispi: u64,
    version: u8,
}

impl IkeKey {
    /// The key of a message whose IKE header starts `head`, if it holds one.
    #[inline]
    pub fn of_header(head: &[u8]) -> Option<IkeKey> {
        let (ispi, &ver) = (head.first_chunk::<8>()?, head.get(17)?);
        Some(IkeKey { ispi: u64::from_be_bytes(*ispi), version: ver >> 4 })
    }
}

impl TableKey for IkeKey {
    #[inline]
    fn table_hash(&self) -> u64 {
        mix(self.ispi, u64::from(self.version))
    }
}

/// The caps, for the report's `stats.limits`.
pub const MAX_IKE_SAS: usize = MAX_SAS;
pub const MAX_IKE_MALFORMED: usize = MAX_MALFORMED;
pub const KEEP_IKE_EXCHANGES: usize = KEEP_EXCHANGES;
pub const KEEP_IKE_PROPOSALS: usize = KEEP_PROPOSALS;
pub const KEEP_IKE_TRANSFORMS: usize = KEEP_TRANSFORMS;

/// Proposals moved from the decoder keep their vectors' growth slack; they are kept until the
/// report, so give it back (the clones this replaced were exact-sized).
fn shrink_proposal(p: &mut Proposal) {
    for v in [&mut p.encryption, &mut p.prf, &mut p.integrity, &mut p.dh, &mut p.esn, &mut p.other] {
        v.shrink_to_fit();
    }
}

/// Append `name` unless already listed; allocates only for a new name.
fn push_unique(v: &mut Vec<String>, name: Cow<'_, str>) {
    if !v.iter().any(|x| *x == *name) {
        v.push(name.into_owned());
    }
}

/// The proposals of `m`, at most [`KEEP_PROPOSALS`] with at most [`KEEP_TRANSFORMS`]
/// transforms of each kind; `cut` counts the proposals and transforms left out.
fn kept_proposals(m: &IkeView<'_>, cut: &mut u64) -> Vec<Proposal> {
    let mut props = m.scan.proposals();
    if props.len() > KEEP_PROPOSALS {
        *cut += (props.len() - KEEP_PROPOSALS) as u64;
        props.truncate(KEEP_PROPOSALS);
    }
    for p in &mut props {
        for v in [&mut p.encryption, &mut p.prf, &mut p.integrity, &mut p.dh, &mut p.esn, &mut p.other] {
            if v.len() > KEEP_TRANSFORMS {
                *cut += (v.len() - KEEP_TRANSFORMS) as u64;
                v.truncate(KEEP_TRANSFORMS);
            }
        }
    }
    // Kept until the report: give back the vectors' growth slack.
    props.shrink_to_fit();
    props.iter_mut().for_each(shrink_proposal);
    props
}

impl IkeTable {
    pub fn observe(&mut self, m: IkeView<'_>, c: Ctx) {
        let key = IkeKey { ispi: m.ispi, version: m.version };
        let idx = match self.by_ispi.find_hashed(&key, key.table_hash()) {
            Slot::Found(i) => i,
            Slot::Vacant(slot) => {
                if self.full || self.sas.len() >= MAX_SAS {
                    self.refused += 1;
                    return;
                }
                // The first message we see names the initiator, unless its own flags say it is the
                // responder's (a capture that starts mid-exchange).
                let sender_is_initiator = match (m.from_initiator, m.response) {
                    (Some(i), _) => i,
                    (None, Some(r)) => !r,
                    (None, None) => m.rspi == 0 || m.message_id == 0,
                };
                let (ini, resp) = if sender_is_initiator {
                    ((c.src, c.sport), (c.dst, c.dport))
                } else {
                    ((c.dst, c.dport), (c.src, c.sport))
                };
                self.sas.push(SaState {
                    version: m.version,
                    ispi: m.ispi,
                    rspi: 0,
                    initiator: ini,
                    responder: resp,
                    nat_t: false,
                    state: IkeState::Unknown,
                    exchanges: History::new(KEEP_EXCHANGES),
                    counts: Counts::default(),
                    vendor_ids: Vec::new(),
                    seen_vids: Vec::new(),
                    seen_notifies: Vec::new(),
                    proc: None,
                    owners: Vec::new(),
                    proposals: Vec::new(),
                    chosen: None,
                    ke_group: None,
                    notifies: Vec::new(),
                    encrypted_payloads: 0,
                    nat_detected: false,
                    iface: c.iface,
                    tunnel: c.tunnel,
                    ifaces_differ: false,
                    first: c.at,
                    last: c.at,
                    deleted_at: None,
                    peers: (ini.0, resp.0),
                    malformed: Vec::new(),
                });
                let e = self.by_ispi.insert_at(slot, key, ());
                debug_assert_eq!(e, self.sas.len() - 1, "keys and SAs in step");
                e
            }
        };
        let sa = &mut self.sas[idx];
        sa.exchanges.prefetch_next_evicted();
        if let Some(p) = c.proc {
            if sa.owners.len() < MAX_OWNERS && !sa.owners.contains(&p) {
                sa.owners.push(p);
            }
        }
        if let Some(reason) = m.malformed {
            if sa.malformed.len() < MAX_MALFORMED && !sa.malformed.contains(&reason) {
                sa.malformed.push(reason);
            }
        }
        // Every kept exchange came from `sa.iface`: none can be this message seen elsewhere
        // unless it comes from another interface (then look back, the rare case).
        let may_repeat = sa.ifaces_differ || c.iface != sa.iface;
        if may_repeat && sa.exchanges.iter().rev().take(8).any(|x| x.same_message_elsewhere(&m, &c)) {
            return;
        }
        if sa.rspi == 0 && m.rspi != 0 {
            sa.rspi = m.rspi;
        }
        // Ports float to 4500 after NAT detection: follow the initiator's current endpoint.
        let from_initiator = match m.from_initiator {
            Some(i) => i,
            None => c.src == sa.initiator.0 && (c.sport == sa.initiator.1 || c.encapsulated),
        };
        if c.encapsulated {
            sa.nat_t = true;
            if from_initiator {
                sa.initiator = (c.src, c.sport);
                sa.responder = (c.dst, c.dport);
            } else {
                sa.initiator = (c.dst, c.dport);
                sa.responder = (c.src, c.sport);
            }
        }
        if m.nat_detection {
            sa.nat_detected = true;
        }
        let response = m.response.unwrap_or(!from_initiator);
        if sa.proc.is_none() && c.proc.is_some() {
            sa.proc = c.proc;
        }
        if c.at > sa.last {
            sa.last = c.at;
        }
        let next = next_state(sa.state, &m, response);
        if m.scan.has_sa {
            if response {
                if sa.chosen.is_none() {
                    sa.chosen = kept_proposals(&m, &mut self.proposals_cut).into_iter().next();
                }
            } else if sa.proposals.is_empty() {
                sa.proposals = kept_proposals(&m, &mut self.proposals_cut);
            }
        }
        if sa.ke_group.is_none() {
            sa.ke_group = m.ke_group.map(|g| g.label());
        }
        if m.scan.has_vendor_id {
            for vid in m.scan.vendor_ids() {
                let h = rustc_hash::FxBuildHasher.hash_one(vid);
                if !sa.seen_vids.contains(&h) && sa.seen_vids.len() < MAX_NAMES {
                    sa.seen_vids.push(h);
                    push_unique(&mut sa.vendor_ids, ike::names::vendor_id_name(vid));
                }
            }
        }
        if m.scan.has_notify {
            for kind in m.scan.notify_kinds() {
                if !sa.seen_notifies.contains(&kind) && sa.seen_notifies.len() < MAX_NAMES {
                    sa.seen_notifies.push(kind);
                    push_unique(&mut sa.notifies, ike::notify_name(m.version, kind));
                }
            }
        }
        sa.encrypted_payloads += m.encrypted_payloads;
        if next == IkeState::Deleted && sa.state != IkeState::Deleted {
            sa.deleted_at = Some(c.at);
        }
        sa.state = next;
        sa.counts.bump((m.exchange_type, response, from_initiator));
        let ex = Exchange::new(&m, &c, response);
        sa.ifaces_differ |= ex.iface != sa.iface;
        self.payloads_kept += ex.payload_types.len();
        if let Some(old) = sa.exchanges.next_evicted() {
            self.payloads_kept -= old.payload_types.len();
        }
        if !sa.exchanges.push(ex) {
            self.dropped_exchanges += 1;
        }
    }

    /// Start loading the slot of an SA's key (the first stage of the batch pipeline).
    #[inline(always)]
    pub fn prefetch_slot(&self, hash: u64) {
        self.by_ispi.prefetch_slot(hash);
    }

    /// Start loading the key and the SA a slot leads to (the second stage, once the slot is
    /// in): with thousands of SAs each message found its SA out of cache. The fields read
    /// first lie in its first lines (`repr(C)`, hot fields first).
    #[inline(always)]
    pub fn prefetch_sa(&self, hash: u64) {
        if let Some(sa) = self.by_ispi.prefetch_entry(hash).and_then(|e| self.sas.get(e)) {
            const _: () = assert!(std::mem::size_of::<SaState>() > 3 * 64);
            let base = (sa as *const SaState).cast::<u8>();
            for line in 0..4 {
                // SAFETY: the address lies inside `sa` (asserted above), a live reference.
                super::prefetch::hint(unsafe { &*base.add(line * 64) });
            }
        }
    }

    /// Start loading the exchange the SA's next message writes over (the third stage, once
    /// the SA is in): on a long-lived SA it was last touched a whole history ago, and reading
    /// it to let it go waited on memory on nearly every message.
    #[inline(always)]
    pub fn prefetch_ring(&self, hash: u64) {
        if let Some(sa) = self.by_ispi.probable_entry(hash).and_then(|e| self.sas.get(e)) {
            sa.exchanges.prefetch_next_evicted();
        }
    }

    /// Let go of SAs deleted more than `ended` ns before `now`, or idle for more than `idle`
    /// ns; returns how many went.
    pub fn expire(&mut self, now: Timestamp, ended: Option<i64>, idle: Option<i64>) -> u64 {
        let gone = |sa: &SaState| {
            let since = |t: Timestamp| now.0.saturating_sub(t.0);
            ended.is_some_and(|g| sa.deleted_at.is_some_and(|d| since(d) > g))
                || idle.is_some_and(|g| since(sa.last) > g)
        };
        let before = self.sas.len();
        self.sas.retain(|sa| !gone(sa));
        let n = before - self.sas.len();
        if n > 0 {
            self.by_ispi = Table::default();
            for sa in &self.sas {
                let key = IkeKey { ispi: sa.ispi, version: sa.version };
                if let Slot::Vacant(slot) = self.by_ispi.find(&key) {
                    self.by_ispi.insert_at(slot, key, ());
                }
            }
            self.payloads_kept =
                self.sas.iter().flat_map(|sa| sa.exchanges.iter()).map(|x| x.payload_types.len()).sum();
            self.expired += n as u64;
        }
        n as u64
    }
}

/// SA state from the exchanges seen so far. Only cleartext evidence moves it: a Delete inside
/// an encrypted INFORMATIONAL cannot be seen, so an SA may stay "established" after its end.
fn next_state(cur: IkeState, m: &IkeView<'_>, response: bool) -> IkeState {
    use IkeState::{Auth, Deleted, Established, Init, Unknown};
    if cur == Deleted {
        return cur;
    }
    if m.deletes_ike_sa {
        return Deleted;
    }
    let ex = &*m.exchange;
    match m.version {
        2 => match ex {
            "IKE_SA_INIT" if cur == Unknown || cur == Init => Init,
            "IKE_INTERMEDIATE" | "IKE_AUTH" if !response && matches!(cur, Unknown | Init) => Auth,
            "IKE_AUTH" if response && !m.error_notify => Established,
            "CREATE_CHILD_SA" | "INFORMATIONAL" if cur != Established && m.rspi != 0 => Established,
            _ => cur,
        },
        _ => match ex {
            // Main mode: messages 1-4 negotiate in clear, 5-6 authenticate encrypted.
            "MAIN_MODE" => {
                if m.encrypted_payloads > 0 || m.encrypted_body {
                    if response {
                        Established
                    } else if cur != Established {
                        Auth
                    } else {
                        cur
                    }
                } else if cur == Unknown || cur == Init {
                    Init
                } else {
                    cur
                }
            }
            "AGGRESSIVE" => {
                if cur == Unknown {
                    Init
                } else if !response && m.rspi != 0 {
                    Established
                } else if cur == Init {
                    Auth
                } else {
                    cur
                }
            }
            "QUICK_MODE" | "INFORMATIONAL" | "TRANSACTION" if m.rspi != 0 && cur != Established => Established,
            _ => cur,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::IkeView;
    use crate::decode::ike;

    /// ikev1_main_mode.pcap frame 1 UDP payload: proposals, vendor IDs.
    const V1_MM1: &str = concat!(
        "e47a591fd057587f00000000000000000110020000000000000000a80d00003c00000001000000010000003001010001",
        "000000280101000080010007800e0080800200028004000280030001800b0001000c0004000151800d0000144a131c81",
        "070358455c5728f20e95452f0d000014439b59f8ba676c4c7737ae22eab8f5820d0000147d9419a65310ca6f2c179d92",
        "15529d560000001490cb80913ebb696e086381b5ec427b1f",
    );

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    #[test]
    fn view_renders_what_the_sa_keeps() {
        let b = unhex(V1_MM1);
        let v = IkeView::from(ike::scan(&b).unwrap());
        let m = ike::parse(&b).unwrap();
        assert_eq!(v.exchange, m.exchange_name);
        let mut cut = 0;
        assert_eq!(super::kept_proposals(&v, &mut cut), m.proposals);
        assert_eq!(cut, 0);
        assert!(v.scan.has_vendor_id && !v.encrypted_body && !v.nat_detection, "{v:?}");
    }

    /// An IKEv2 IKE_SA_INIT request whose SA payload has `props` proposals of `trs`
    /// encryption transforms each (ids 1, 2, 3…).
    fn sa_init_with(props: u8, trs: u16) -> Vec<u8> {
        let mut sa = Vec::new();
        for p in 0..props {
            let mut t = Vec::new();
            for k in 0..trs {
                let last = if k + 1 == trs { 0 } else { 3 };
                t.extend_from_slice(&[last, 0, 0, 8, 1, 0]);
                t.extend_from_slice(&(k + 1).to_be_bytes());
            }
            let last = if p + 1 == props { 0 } else { 2 };
            sa.extend_from_slice(&[last, 0]);
            sa.extend_from_slice(&((8 + t.len()) as u16).to_be_bytes());
            sa.extend_from_slice(&[p + 1, 1, 0, trs as u8]);
            sa.extend_from_slice(&t);
        }
        let mut b = 0x1122_3344_5566_7788u64.to_be_bytes().to_vec();
        b.extend_from_slice(&[0; 8]);
        b.extend_from_slice(&[33, 0x20, 34, 0x08, 0, 0, 0, 0]);
        b.extend_from_slice(&((28 + 4 + sa.len()) as u32).to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&((4 + sa.len()) as u16).to_be_bytes());
        b.extend_from_slice(&sa);
        b
    }

    #[test]
    fn proposals_past_the_caps_are_cut_and_counted() {
        let b = sa_init_with(20, 40);
        let v = IkeView::from(ike::scan(&b).unwrap());
        assert_eq!(v.scan.proposals().len(), 20, "the decoder reads them all");
        let mut cut = 0;
        let kept = super::kept_proposals(&v, &mut cut);
        assert_eq!(kept.len(), super::KEEP_PROPOSALS);
        assert!(kept.iter().all(|p| p.encryption.len() == super::KEEP_TRANSFORMS), "{:?}", kept[0]);
        assert_eq!(cut, 4 + 16 * 8, "4 proposals and 8 transforms of each kept one");
        let small = sa_init_with(2, 5);
        let mut cut = 0;
        assert_eq!(super::kept_proposals(&IkeView::from(ike::scan(&small).unwrap()), &mut cut).len(), 2);
        assert_eq!(cut, 0);
    }
}

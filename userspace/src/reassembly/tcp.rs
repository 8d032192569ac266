//! TCP byte streams for message framers (SIP over TCP).
//!
//! Each direction of a connection is its own [`StreamBuf`]: an in-order byte buffer that an
//! upper framer drains whole messages from. This is not a TCP implementation: it only needs to
//! turn a capture's segments back into the bytes an application read, and to give up cleanly
//! (with counters) when the capture does not allow it: missed segments, huge streams, too many
//! connections. Callers should only push segments of connections they want framed (SIP ports),
//! since this path allocates.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use crate::decode::ip::TcpSeg;
use crate::time::Timestamp;

/// One direction of a TCP connection: bytes flow from `src:sport` to `dst:dport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StreamKey {
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
}

impl StreamKey {
    pub fn reverse(&self) -> StreamKey {
        StreamKey { src: self.dst, sport: self.dport, dst: self.src, dport: self.sport }
    }
}

/// A framer's verdict on the bytes at the head of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// A whole message of this many bytes starts the buffer.
    Complete(usize),
    /// The head looks like the start of a message that is not complete yet.
    Incomplete,
    /// A message of this many bytes starts the buffer, not all there yet: the stream waits
    /// for that many bytes and then hands them over without asking the framer again (the
    /// bytes it framed can only be followed, never changed).
    Awaiting(usize),
    /// These many head bytes are not a message (e.g. CRLF keep-alives): drop them and retry.
    Skip(usize),
    /// The buffer does not start a message: drop everything buffered and wait for new bytes.
    Garbage,
}

#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    /// Bytes waiting for a framer in one direction; beyond it the buffer is given up.
    pub max_stream_bytes: usize,
    pub max_streams: usize,
    /// Over all streams (in-order buffers plus out-of-order segments). Soft: checked per push,
    /// so one push may pass it by at most one stream's buffers.
    pub max_total_bytes: usize,
    /// Out-of-order segments held per direction before declaring a gap.
    pub max_ooo_segments: usize,
    pub max_ooo_bytes: usize,
    /// Capture-time idle time after which a stream may be dropped to make room.
    pub idle_timeout_ns: i64,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits {
            max_stream_bytes: 256 << 10,
            max_streams: 65_536,
            max_total_bytes: 16 << 20,
            max_ooo_segments: 32,
            max_ooo_bytes: 64 << 10,
            idle_timeout_ns: 300_000_000_000,
        }
    }
}

/// What was given up or worked around, for the report's stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamStats {
    pub streams_opened: u64,
    /// Streams first seen without their SYN.
    pub midstream_pickups: u64,
    pub retransmitted_bytes: u64,
    pub out_of_order_segments: u64,
    /// Holes given up on (segments never captured).
    pub gaps: u64,
    /// Buffered bytes thrown away because a gap or a cap made them unusable.
    pub discarded_bytes: u64,
    /// Segment bytes not buffered because of a per-stream or total cap.
    pub overflow_bytes: u64,
    pub streams_refused: u64,
    pub streams_expired: u64,
    pub streams_closed: u64,
    pub resets: u64,
}

/// In-order bytes of one direction, waiting for a framer.
#[derive(Debug)]
pub struct StreamBuf {
    next_seq: u32,
    isn: Option<u32>,
    buf: Vec<u8>,
    ooo: Vec<(u32, Vec<u8>)>,
    ooo_bytes: usize,
    last_seen: Timestamp,
    /// Bytes this stream holds as last counted into `Streams::total`.
    accounted: usize,
    mid_message: bool,
    /// Length of the message the buffer starts with, known from [`Frame::Awaiting`]; 0 when
    /// not known.
    awaiting: usize,
    closing: bool,
    /// Messages handed to the caller by [`StreamBuf::drain_frames`].
    pub messages: u64,
    /// Bytes a framer refused (Skip / Garbage).
    pub garbage_bytes: u64,
    /// Holes in this direction.
    pub gaps: u64,
    /// Sequence number just past the last segment set aside for being far ahead: a second one
    /// starting there shows the stream really moved on.
    far_ahead: Option<u32>,
    /// The furthest acknowledgement the other direction's segments carried: bytes of this
    /// direction before it reached the peer, so a hole before it was lost by the capture and
    /// will not be filled.
    peer_acked: Option<u32>,
}

impl StreamBuf {
    fn new(next_seq: u32, isn: Option<u32>, now: Timestamp) -> Self {
        StreamBuf {
            next_seq,
            isn,
            buf: Vec::new(),
            ooo: Vec::new(),
            ooo_bytes: 0,
            last_seen: now,
            accounted: 0,
            mid_message: isn.is_none(),
            awaiting: 0,
            closing: false,
            messages: 0,
            garbage_bytes: 0,
            gaps: 0,
            far_ahead: None,
            peer_acked: None,
        }
    }

    /// The other direction acknowledged this one up to `ack`.
    fn acked(&mut self, ack: u32) {
        match self.peer_acked {
            Some(a) if (ack.wrapping_sub(a) as i32) <= 0 => {}
            _ => self.peer_acked = Some(ack),
        }
    }

    /// Was every byte before `seq` acknowledged by the peer, past where this stream stands?
    /// Then the hole up to `seq` is bytes the capture lost (the peer has them).
    fn hole_acked(&self, seq: u32) -> bool {
        self.peer_acked.is_some_and(|a| (a.wrapping_sub(self.next_seq) as i32) > 0 && (seq.wrapping_sub(a) as i32) <= 0)
    }

    /// Bytes waiting for the framer.
    pub fn data(&self) -> &[u8] {
        &self.buf
    }

    /// The buffer may not start at a message boundary: the stream was picked up mid-way, or
    /// bytes were lost (gap, cap) since the last complete message.
    pub fn mid_message(&self) -> bool {
        self.mid_message
    }

    /// FIN seen: this is the last chance to frame; the state goes at the next `push`.
    pub fn closing(&self) -> bool {
        self.closing
    }

    fn held(&self) -> usize {
        self.buf.capacity() + self.ooo_bytes
    }

    /// Hand every whole message at the head of the buffer to `on_msg`, as `framer` delimits
    /// them, and drop what the framer refuses. Returns the number of messages delivered.
    pub fn drain_frames<F, M>(&mut self, mut framer: F, mut on_msg: M) -> usize
    where
        F: FnMut(&[u8]) -> Frame,
        M: FnMut(&[u8]),
    {
        let mut start = 0;
        let mut n = 0;
        // Every arm either advances `start` or breaks: the loop ends.
        while start < self.buf.len() {
            let rest = &self.buf[start..];
            let frame = match std::mem::take(&mut self.awaiting) {
                0 => framer(rest),
                // Set only when the message was at the front (`start` 0 then, as now).
                len if len <= rest.len() => Frame::Complete(len),
                len => Frame::Awaiting(len),
            };
            match frame {
                Frame::Awaiting(len) => {
                    // `start` bytes go below: the message is then at the front.
                    self.awaiting = len;
                    break;
                }
                Frame::Complete(len) if len > 0 && len <= rest.len() => {
                    on_msg(&rest[..len]);
                    start += len;
                    n += 1;
                    self.mid_message = false;
                }
                // Zero or past the end is a framer mistake; waiting for more bytes is harmless.
                Frame::Complete(_) | Frame::Incomplete => break,
                Frame::Skip(k) if k > 0 => {
                    let k = k.min(rest.len());
                    self.garbage_bytes += k as u64;
                    start += k;
                }
                Frame::Skip(_) => break,
                Frame::Garbage => {
                    self.garbage_bytes += rest.len() as u64;
                    start = self.buf.len();
                }
            }
        }
        self.messages += n as u64;
        self.buf.drain(..start);
        if self.buf.is_empty() && self.buf.capacity() > 16 << 10 {
            // A burst should not pin its peak buffer for the life of the connection.
            self.buf = Vec::new();
        }
        n
    }

    /// Append in-order bytes, or give the buffer up when it would pass the caps.
    fn append(&mut self, data: &[u8], room: usize, limits: &StreamLimits, stats: &mut StreamStats) {
        self.next_seq = self.next_seq.wrapping_add(data.len() as u32);
        let need = self.buf.len() + data.len();
        let cap = self.buf.capacity();
        if need <= limits.max_stream_bytes {
            if need <= cap {
                self.buf.extend_from_slice(data);
                return;
            }
            // Grow geometrically (many small segments make one message) but never past the
            // per-stream cap, and only as far as the total budget allows: the capacity is what
            // is counted.
            let target = need.max(cap.saturating_mul(2)).min(limits.max_stream_bytes);
            if target - cap <= room {
                self.buf.reserve_exact(target - self.buf.len());
                self.buf.extend_from_slice(data);
                return;
            }
        }
        // No framer is taking messages out (not the protocol it expects, or a huge message):
        // keeping more would only grow memory. Start over at the next bytes.
        stats.discarded_bytes += self.buf.len() as u64;
        stats.overflow_bytes += data.len() as u64;
        self.buf.clear();
        self.awaiting = 0;
        self.mid_message = true;
    }

    /// Place a segment's payload that starts at sequence number `seq`.
    fn accept(&mut self, seq: u32, data: &[u8], room: usize, limits: &StreamLimits, stats: &mut StreamStats) {
        if data.is_empty() {
            return;
        }
        let rel = seq.wrapping_sub(self.next_seq) as i32;
        if rel <= 0 {
            self.apply_in_order(seq, data, room, limits, stats);
            self.drain_ooo(room, limits, stats);
            return;
        }
        let ahead = rel as usize;
        if self.ooo.iter().any(|(s, d)| *s == seq && d.len() >= data.len()) {
            stats.retransmitted_bytes += data.len() as u64;
            return;
        }
        if ahead >= limits.max_stream_bytes {
            // Further ahead than a stream buffer: a long stretch the capture lost, or one stray
            // segment (a damaged or forged sequence number). Jumping to a stray would leave the
            // stream waiting where no later segment comes, and every later byte would look
            // retransmitted; so the jump is made only when a second segment continues the first.
            let end = seq.wrapping_add(data.len() as u32);
            if self.far_ahead != Some(seq) && !self.hole_acked(seq) {
                self.far_ahead = Some(end);
                stats.overflow_bytes += data.len() as u64;
                return;
            }
            self.far_ahead = None;
            stats.gaps += 1;
            self.gaps += 1;
            stats.discarded_bytes += (self.buf.len() + self.ooo_bytes) as u64;
            self.buf.clear();
            self.awaiting = 0;
            self.ooo.clear();
            self.ooo_bytes = 0;
            self.mid_message = true;
            self.next_seq = seq;
            self.apply_in_order(seq, data, room, limits, stats);
            return;
        }
        // A hole the peer acknowledged (its segments say it has those bytes) is bytes the
        // capture lost: waiting would only hold this segment and the ones after it back (a
        // lost INVITE segment would keep its ACK and BYE from the tracker), so it is skipped
        // at once, as a hole that does not fit below.
        if !self.hole_acked(seq)
            && self.ooo.len() < limits.max_ooo_segments
            && self.ooo_bytes + data.len() <= limits.max_ooo_bytes.min(room)
            && ahead < limits.max_stream_bytes
        {
            stats.out_of_order_segments += 1;
            self.ooo_bytes += data.len();
            self.ooo.push((seq, data.to_vec()));
            return;
        }
        // The hole is not going to be filled from what we can hold: skip to the earliest byte
        // we have and go on from there.
        stats.gaps += 1;
        self.gaps += 1;
        stats.discarded_bytes += self.buf.len() as u64;
        self.buf.clear();
        self.awaiting = 0;
        self.mid_message = true;
        let base = self.next_seq;
        let earliest = self
            .ooo
            .iter()
            .map(|(s, _)| *s)
            .chain(std::iter::once(seq))
            .min_by_key(|s| s.wrapping_sub(base))
            .unwrap_or(seq);
        self.next_seq = earliest;
        if earliest == seq {
            self.apply_in_order(seq, data, room, limits, stats);
            self.drain_ooo(room, limits, stats);
        } else {
            self.drain_ooo(room, limits, stats);
            // Re-place the segment against the new position (it is later than `earliest`).
            let rel = seq.wrapping_sub(self.next_seq) as i32;
            if rel <= 0 {
                self.apply_in_order(seq, data, room, limits, stats);
            } else if self.ooo.len() < limits.max_ooo_segments && self.ooo_bytes + data.len() <= limits.max_ooo_bytes {
                self.ooo_bytes += data.len();
                self.ooo.push((seq, data.to_vec()));
            } else {
                stats.overflow_bytes += data.len() as u64;
            }
        }
    }

    /// The direction ended (FIN): the hole still open will not be filled by anything that
    /// comes before its state goes, so it is given up (a gap) and the segments held behind it
    /// are handed over in order: the messages a short connection sent after a lost segment (a
    /// call's ACK and BYE behind a lost INVITE, in a capture of one direction) are read. Only
    /// the first hole: the bytes before a second one could only be told whole messages or
    /// not by the framer, which runs after.
    fn give_up_hole(&mut self, room: usize, limits: &StreamLimits, stats: &mut StreamStats) {
        let base = self.next_seq;
        let Some(earliest) = self.ooo.iter().map(|(s, _)| *s).min_by_key(|s| s.wrapping_sub(base)) else { return };
        stats.gaps += 1;
        self.gaps += 1;
        stats.discarded_bytes += self.buf.len() as u64;
        self.buf.clear();
        self.awaiting = 0;
        self.mid_message = true;
        self.next_seq = earliest;
        self.drain_ooo(room, limits, stats);
    }

    /// `seq` is at or before `next_seq`: drop what was already seen, append the rest.
    fn apply_in_order(&mut self, seq: u32, data: &[u8], room: usize, limits: &StreamLimits, stats: &mut StreamStats) {
        let seen = self.next_seq.wrapping_sub(seq) as usize;
        if seen >= data.len() {
            stats.retransmitted_bytes += data.len() as u64;
            return;
        }
        stats.retransmitted_bytes += seen as u64;
        self.append(&data[seen..], room, limits, stats);
    }

    /// Move out-of-order segments that have become in order into the buffer.
    fn drain_ooo(&mut self, room: usize, limits: &StreamLimits, stats: &mut StreamStats) {
        // Each pass removes at least one segment or stops.
        loop {
            let next = self.next_seq;
            let Some(i) = self.ooo.iter().position(|(s, _)| (s.wrapping_sub(next) as i32) <= 0) else { break };
            let (seq, d) = self.ooo.swap_remove(i);
            self.ooo_bytes -= d.len();
            self.apply_in_order(seq, &d, room, limits, stats);
        }
    }
}

/// How many FIN-closed directions are remembered for retransmission checks.
const RECENTLY_CLOSED: usize = 256;

/// All TCP streams being framed.
#[derive(Debug)]
pub struct Streams {
    limits: StreamLimits,
    /// Hashed with a per-process random seed (foldhash): fast, and not aimable at one bucket.
    map: HashMap<StreamKey, StreamBuf, foldhash::fast::RandomState>,
    /// Directions that saw FIN during the previous `push`; removed at the next one, so the
    /// caller could still frame their last bytes.
    closing: Vec<StreamKey>,
    /// Directions closed by FIN lately, with the sequence number after their last byte: a late
    /// retransmission must not come back as a new mid-stream connection and repeat a message.
    recently_closed: VecDeque<(StreamKey, u32)>,
    /// Sum of `accounted` over all streams: an upper bound on bytes held.
    total: usize,
    last_sweep: Option<Timestamp>,
    pub stats: StreamStats,
    /// The aggregator's state is at its memory limit: no new stream.
    pub full: bool,
}

impl Default for Streams {
    fn default() -> Self {
        Self::new(StreamLimits::default())
    }
}

impl Streams {
    pub fn new(limits: StreamLimits) -> Self {
        Streams {
            limits,
            map: HashMap::default(),
            closing: Vec::new(),
            recently_closed: VecDeque::new(),
            total: 0,
            last_sweep: None,
            stats: StreamStats::default(),
            full: false,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Upper bound on bytes buffered over all streams.
    pub fn bytes_held(&self) -> usize {
        self.total
    }

    pub fn get_mut(&mut self, key: &StreamKey) -> Option<&mut StreamBuf> {
        self.map.get_mut(key)
    }

    /// Feed one segment of direction `key`. Returns that direction's buffer when the segment
    /// may have added bytes to frame; `None` for segments that need no framing (pure ACKs of
    /// unknown connections, RST, refused streams).
    pub fn push(&mut self, now: Timestamp, key: StreamKey, seg: &TcpSeg<'_>) -> Option<&mut StreamBuf> {
        self.flush_closed();
        if seg.rst() {
            // Either side's RST ends both directions.
            self.stats.resets += 1;
            self.remove(&key);
            self.remove(&key.reverse());
            return None;
        }
        let data_seq = if seg.syn() { seg.seq.wrapping_add(1) } else { seg.seq };
        let fresh_syn = seg.syn() && self.map.get(&key).is_none_or(|s| s.isn != Some(seg.seq));
        if fresh_syn {
            // A new connection reusing the 4-tuple replaces the old state.
            self.remove(&key);
            if !self.make_room(now) {
                return None;
            }
            self.stats.streams_opened += 1;
            self.map.insert(key, StreamBuf::new(data_seq, Some(seg.seq), now));
        } else if !self.map.contains_key(&key) {
            if seg.payload.is_empty() {
                return None;
            }
            let end = seg.seq.wrapping_add(seg.payload.len() as u32);
            if self.recently_closed.iter().any(|(k, fin)| *k == key && (fin.wrapping_sub(end) as i32) >= 0) {
                self.stats.retransmitted_bytes += seg.payload.len() as u64;
                return None;
            }
            if !self.make_room(now) {
                return None;
            }
            self.stats.streams_opened += 1;
            self.stats.midstream_pickups += 1;
            self.map.insert(key, StreamBuf::new(data_seq, None, now));
        }

        if seg.flags & crate::decode::ip::tcp_flags::ACK != 0 {
            if let Some(r) = self.map.get_mut(&key.reverse()) {
                r.acked(seg.ack);
            }
        }
        let limits = self.limits;
        let s = self.map.get_mut(&key)?;
        // Re-count this stream: the framer may have drained it since the last push.
        self.total = self.total.saturating_sub(s.accounted) + s.held();
        s.accounted = s.held();
        let room = limits.max_total_bytes.saturating_sub(self.total);
        s.last_seen = now;
        s.accept(data_seq, seg.payload, room, &limits, &mut self.stats);
        self.total = self.total.saturating_sub(s.accounted) + s.held();
        s.accounted = s.held();
        if seg.fin() && !s.closing {
            s.closing = true;
            self.closing.push(key);
        }
        if s.closing && !s.ooo.is_empty() {
            s.give_up_hole(room, &limits, &mut self.stats);
            self.total = self.total.saturating_sub(s.accounted) + s.held();
            s.accounted = s.held();
        }
        Some(s)
    }

    /// Remove directions closed by FIN in earlier pushes (also done at each `push`).
    pub fn flush_closed(&mut self) {
        while let Some(k) = self.closing.pop() {
            if let Some(end) = self.map.get(&k).filter(|s| s.closing).map(|s| s.next_seq) {
                self.remove(&k);
                self.stats.streams_closed += 1;
                if self.recently_closed.len() >= RECENTLY_CLOSED {
                    self.recently_closed.pop_front();
                }
                self.recently_closed.push_back((k, end));
            }
        }
    }

    /// Drop streams idle longer than the idle timeout at capture time `now`.
    pub fn expire(&mut self, now: Timestamp) {
        let idle = self.limits.idle_timeout_ns;
        let before = self.map.len();
        let mut freed = 0;
        self.map.retain(|_, s| {
            let keep = now.0.saturating_sub(s.last_seen.0) <= idle;
            if !keep {
                freed += s.accounted;
            }
            keep
        });
        self.total = self.total.saturating_sub(freed);
        self.stats.streams_expired += (before - self.map.len()) as u64;
        self.last_sweep = Some(now);
    }

    /// Room for one more stream: sweep idle ones (at most once per capture second, the sweep is
    /// O(streams)), else refuse.
    fn make_room(&mut self, now: Timestamp) -> bool {
        if self.full {
            self.stats.streams_refused += 1;
            return false;
        }
        if self.map.len() < self.limits.max_streams {
            return true;
        }
        if self.last_sweep.is_none_or(|t| now.0.saturating_sub(t.0) >= 1_000_000_000) {
            self.expire(now);
        }
        if self.map.len() < self.limits.max_streams {
            return true;
        }
        self.stats.streams_refused += 1;
        false
    }

    fn remove(&mut self, key: &StreamKey) {
        if let Some(s) = self.map.remove(key) {
            self.total = self.total.saturating_sub(s.accounted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::ip::tcp_flags::*;
    use proptest::prelude::*;

    fn key() -> StreamKey {
        StreamKey { src: "127.0.0.1".parse().unwrap(), sport: 58882, dst: "127.0.0.1".parse().unwrap(), dport: 5060 }
    }

    fn seg(seq: u32, flags: u8, payload: &[u8]) -> TcpSeg<'_> {
        TcpSeg { sport: 58882, dport: 5060, seq, ack: 0, flags, window: 65535, payload }
    }

    /// Messages are "<digits>:" length-prefixed, the way a framer would read Content-Length.
    fn framer(b: &[u8]) -> Frame {
        let Some(colon) = b.iter().position(|&c| c == b':') else {
            return if b.iter().all(u8::is_ascii_digit) { Frame::Incomplete } else { Frame::Garbage };
        };
        let Some(n) = std::str::from_utf8(&b[..colon]).ok().and_then(|s| s.parse::<usize>().ok()) else {
            return Frame::Garbage;
        };
        if b.len() >= colon + 1 + n {
            Frame::Complete(colon + 1 + n)
        } else {
            Frame::Incomplete
        }
    }

    fn drain(s: &mut StreamBuf) -> Vec<String> {
        let mut out = Vec::new();
        s.drain_frames(framer, |m| out.push(String::from_utf8_lossy(m).into_owned()));
        out
    }

    const T: Timestamp = Timestamp(1_000_000_000_000);

    #[test]
    fn syn_then_split_message() {
        let mut st = Streams::default();
        assert!(st.push(T, key(), &seg(1000, SYN, b"")).is_some());
        let s = st.push(T, key(), &seg(1001, ACK, b"5:he")).unwrap();
        assert!(!s.mid_message());
        assert!(drain(s).is_empty());
        let s = st.push(T, key(), &seg(1005, ACK | PSH, b"llo3:abc2")).unwrap();
        assert_eq!(drain(s), ["5:hello", "3:abc"]);
        assert_eq!(s.data(), b"2");
        assert_eq!(s.messages, 2);
    }

    /// A framer that knows a message's length while it is incomplete is not asked again until
    /// that many bytes are there.
    #[test]
    fn a_known_length_is_awaited_without_framing_again() {
        let calls = std::cell::Cell::new(0);
        let awaiting = |b: &[u8]| {
            calls.set(calls.get() + 1);
            match (framer(b), b.iter().position(|&c| c == b':')) {
                (Frame::Incomplete, Some(colon)) => {
                    let n: usize = std::str::from_utf8(&b[..colon]).unwrap().parse().unwrap();
                    Frame::Awaiting(colon + 1 + n)
                }
                (f, _) => f,
            }
        };
        let mut st = Streams::default();
        st.push(T, key(), &seg(0, SYN, b""));
        let mut out = Vec::new();
        for (seq, part) in [(1, &b"3:ab"[..]), (5, b"c9:abcd"), (12, b"efghi"), (17, b"4:x")] {
            let s = st.push(T, key(), &seg(seq, ACK, part)).unwrap();
            s.drain_frames(awaiting, |m| out.push(String::from_utf8_lossy(m).into_owned()));
        }
        assert_eq!(out, ["3:abc", "9:abcdefghi"]);
        // Framed: "3:ab", "9:abcd", "4:x"; the two completions were not framed again.
        assert_eq!(calls.get(), 3);
        assert_eq!(st.get_mut(&key()).unwrap().data(), b"4:x");
    }

    #[test]
    fn retransmissions_and_out_of_order() {
        let mut st = Streams::default();
        st.push(T, key(), &seg(0, SYN, b""));
        st.push(T, key(), &seg(1, ACK, b"3:abc"));
        // Full retransmission, then one overlapping the tail.
        assert_eq!(drain(st.push(T, key(), &seg(1, ACK, b"3:abc")).unwrap()), ["3:abc"]);
        assert_eq!(st.stats.retransmitted_bytes, 5);
        st.push(T, key(), &seg(4, ACK, b"bc2:x"));
        assert_eq!(st.stats.retransmitted_bytes, 7);
        // Out of order: the next message (seq 10) before the last byte of this one (seq 9).
        let s = st.push(T, key(), &seg(10, ACK, b"1:z")).unwrap();
        assert!(drain(s).is_empty());
        assert_eq!(st.stats.out_of_order_segments, 1);
        let s = st.push(T, key(), &seg(9, ACK, b"y")).unwrap();
        assert_eq!(drain(s), ["2:xy", "1:z"]);
        assert_eq!(st.stats.gaps, 0);
    }

    #[test]
    fn midstream_pickup_and_garbage() {
        let mut st = Streams::default();
        // Pure ACK of an unknown connection creates nothing.
        assert!(st.push(T, key(), &seg(5000, ACK, b"")).is_none());
        assert!(st.is_empty());
        let s = st.push(T, key(), &seg(5000, ACK, b"lo world\r\n3:abc")).unwrap();
        assert!(s.mid_message());
        assert!(drain(s).is_empty());
        assert_eq!(s.garbage_bytes, 15);
        let s = st.push(T, key(), &seg(5015, ACK, b"4:abcd")).unwrap();
        assert_eq!(drain(s), ["4:abcd"]);
        assert!(!s.mid_message());
        assert_eq!(st.stats.midstream_pickups, 1);
    }

    #[test]
    fn gap_when_out_of_order_budget_is_spent() {
        let limits = StreamLimits { max_ooo_segments: 2, ..StreamLimits::default() };
        let mut st = Streams::new(limits);
        st.push(T, key(), &seg(0, SYN, b""));
        st.push(T, key(), &seg(1, ACK, b"9:par"));
        // seq 6..=9 never captured; later messages arrive.
        st.push(T, key(), &seg(10, ACK, b"ial"));
        st.push(T, key(), &seg(13, ACK, b"2:ok"));
        let s = st.push(T, key(), &seg(17, ACK, b"1:z")).unwrap();
        assert!(s.mid_message());
        // Resynced at seq 10: "ial" is garbage, "2:ok" and "1:z" would follow it.
        assert!(drain(s).is_empty());
        assert_eq!((st.stats.gaps, st.stats.discarded_bytes), (1, 5));
        let s = st.push(T, key(), &seg(20, ACK, b"1:q")).unwrap();
        assert_eq!(drain(s), ["1:q"]);
    }

    #[test]
    fn one_segment_far_ahead_does_not_derail_the_stream() {
        let mut st = Streams::default();
        st.push(T, key(), &seg(0, SYN, b""));
        assert_eq!(drain(st.push(T, key(), &seg(1, ACK, b"3:abc")).unwrap()), ["3:abc"]);
        // A stray segment 100 MB ahead (a damaged sequence number), then the stream goes on.
        assert!(drain(st.push(T, key(), &seg(100_000_000, ACK, b"9:stray-seg")).unwrap()).is_empty());
        assert_eq!(drain(st.push(T, key(), &seg(6, ACK, b"2:ok")).unwrap()), ["2:ok"]);
        assert_eq!(drain(st.push(T, key(), &seg(10, ACK, b"1:z")).unwrap()), ["1:z"]);
        assert_eq!(st.stats.gaps, 0);
        // A real jump (the capture lost a long stretch): a second segment continues the first,
        // and the stream follows it.
        let far = 50_000_000;
        assert!(drain(st.push(T, key(), &seg(far, ACK, b"xx1:")).unwrap()).is_empty());
        let s = st.push(T, key(), &seg(far + 4, ACK, b"q3:abc")).unwrap();
        assert!(s.mid_message());
        // Resynced at the second segment: "q" is garbage to the framer, then "3:abc".
        assert!(drain(s).is_empty());
        assert_eq!(drain(st.push(T, key(), &seg(far + 10, ACK, b"1:r")).unwrap()), ["1:r"]);
        assert_eq!(st.stats.gaps, 1);
    }

    /// A segment the capture lost, which the peer acknowledged: the stream goes on at once
    /// from the next segment (a lost INVITE does not hold its ACK and BYE back), while a hole
    /// not acknowledged yet waits for the segment that fills it (reordering).
    #[test]
    fn a_hole_the_peer_acknowledged_is_skipped_at_once() {
        let mut st = Streams::default();
        let back = key().reverse();
        let answer =
            |ack: u32| TcpSeg { sport: 5060, dport: 58882, seq: 501, ack, flags: ACK, window: 65535, payload: b"" };
        st.push(T, key(), &seg(0, SYN, b""));
        st.push(
            T,
            back,
            &TcpSeg { sport: 5060, dport: 58882, seq: 500, ack: 1, flags: SYN | ACK, window: 65535, payload: b"" },
        );
        assert_eq!(drain(st.push(T, key(), &seg(1, ACK, b"3:abc")).unwrap()), ["3:abc"]);
        // Bytes 6..12 ("4:lost") reordered: held until they come.
        assert!(drain(st.push(T, key(), &seg(12, ACK, b"2:ok")).unwrap()).is_empty());
        assert_eq!(drain(st.push(T, key(), &seg(6, ACK, b"4:lost")).unwrap()), ["4:lost", "2:ok"]);
        assert_eq!(st.stats.gaps, 0);
        // Bytes 16..22 never captured; the peer acknowledges them (empty ACKs need no framing).
        st.push(T, back, &answer(22));
        let s = st.push(T, key(), &seg(22, ACK, b"3:bye")).unwrap();
        assert_eq!(drain(s), ["3:bye"]);
        assert_eq!(st.stats.gaps, 1);
        // Far ahead, acknowledged: no second segment needed to follow it.
        st.push(T, back, &answer(1_000_000));
        assert_eq!(drain(st.push(T, key(), &seg(1_000_000, ACK, b"1:z")).unwrap()), ["1:z"]);
        // An old acknowledgement (before where the stream stands) changes nothing.
        st.push(T, back, &answer(27));
        assert!(drain(st.push(T, key(), &seg(1_000_010, ACK, b"1:y")).unwrap()).is_empty());
        assert_eq!(st.stats.gaps, 2);
    }

    /// A capture of one direction (no ACKs to tell a loss): the segments after a lost one are
    /// held while more may come, and handed over when the FIN says nothing will.
    #[test]
    fn a_fin_gives_up_the_hole_before_it() {
        let mut st = Streams::default();
        st.push(T, key(), &seg(0, SYN, b""));
        assert_eq!(drain(st.push(T, key(), &seg(1, ACK, b"3:abc")).unwrap()), ["3:abc"]);
        // Bytes 6..13 never captured.
        assert!(drain(st.push(T, key(), &seg(13, ACK, b"2:ok")).unwrap()).is_empty());
        assert!(drain(st.push(T, key(), &seg(17, ACK, b"2:by")).unwrap()).is_empty());
        let s = st.push(T, key(), &seg(21, ACK | FIN, b"1:z")).unwrap();
        assert!(s.closing());
        assert_eq!(drain(s), ["2:ok", "2:by", "1:z"]);
        assert_eq!(st.stats.gaps, 1);
    }

    #[test]
    fn fin_keeps_last_bytes_then_drops_state() {
        let mut st = Streams::default();
        st.push(T, key(), &seg(0, SYN, b""));
        let s = st.push(T, key(), &seg(1, ACK | FIN, b"2:hi")).unwrap();
        assert!(s.closing());
        assert_eq!(drain(s), ["2:hi"]);
        let rev = key().reverse();
        assert!(st.push(T, rev, &seg(77, ACK, b"")).is_none());
        assert_eq!((st.len(), st.stats.streams_closed), (0, 1));
        // The last segment retransmitted after FIN is not a new connection.
        assert!(st.push(T, key(), &seg(1, ACK | FIN, b"2:hi")).is_none());
        assert_eq!(st.stats.retransmitted_bytes, 4);
        // New bytes past the FIN would be (a new connection without SYN seen).
        assert!(st.push(T, key(), &seg(9, ACK, b"1:n")).is_some());
        st.push(T, key(), &seg(12, RST, b""));
        // RST drops both directions at once.
        st.push(T, key(), &seg(0, SYN, b""));
        st.push(T, rev, &seg(50, SYN | ACK, b""));
        assert_eq!(st.len(), 2);
        assert!(st.push(T, rev, &seg(51, RST, b"")).is_none());
        assert!(st.is_empty());
        assert_eq!(st.bytes_held(), 0);
    }

    #[test]
    fn syn_retransmit_and_port_reuse() {
        let mut st = Streams::default();
        st.push(T, key(), &seg(100, SYN, b""));
        st.push(T, key(), &seg(101, ACK, b"3:a"));
        st.push(T, key(), &seg(100, SYN, b""));
        assert_eq!(st.get_mut(&key()).unwrap().data(), b"3:a");
        // Different ISN: a new connection on the same ports.
        st.push(T, key(), &seg(9000, SYN, b""));
        assert_eq!(st.get_mut(&key()).unwrap().data(), b"");
        assert_eq!(st.stats.streams_opened, 2);
    }

    #[test]
    fn caps() {
        let limits = StreamLimits { max_stream_bytes: 8, max_streams: 2, ..StreamLimits::default() };
        let mut st = Streams::new(limits);
        st.push(T, key(), &seg(0, SYN, b""));
        let s = st.push(T, key(), &seg(1, ACK, b"99:abcde")).unwrap();
        assert!(drain(s).is_empty());
        // Would pass 8 bytes: given up, starts over after.
        let s = st.push(T, key(), &seg(9, ACK, b"fgh")).unwrap();
        assert_eq!(s.data(), b"");
        assert!(s.mid_message());
        assert_eq!((st.stats.discarded_bytes, st.stats.overflow_bytes), (8, 3));
        let mut k2 = key();
        k2.sport = 1;
        let mut k3 = key();
        k3.sport = 2;
        assert!(st.push(T, k2, &seg(0, SYN, b"")).is_some());
        assert!(st.push(T, k3, &seg(0, SYN, b"")).is_none());
        assert_eq!(st.stats.streams_refused, 1);
        // After the idle timeout, the old ones make way.
        let later = Timestamp(T.0 + 301_000_000_000);
        assert!(st.push(later, k3, &seg(0, SYN, b"")).is_some());
        assert_eq!(st.stats.streams_expired, 2);
        assert_eq!(st.len(), 1);
    }

    #[test]
    fn sequence_wraparound() {
        let mut st = Streams::default();
        st.push(T, key(), &seg(u32::MAX - 2, SYN, b""));
        st.push(T, key(), &seg(u32::MAX - 1, ACK, b"4:"));
        let s = st.push(T, key(), &seg(0, ACK, b"wxyz")).unwrap();
        assert_eq!(drain(s), ["4:wxyz"]);
    }

    proptest! {
        #[test]
        fn random_segments_never_panic_and_stay_bounded(
            segs in prop::collection::vec((0u32..4000, any::<u8>(), prop::collection::vec(any::<u8>(), 0..300), 0u8..3), 0..150)
        ) {
            let limits = StreamLimits { max_stream_bytes: 1024, max_total_bytes: 4096, max_streams: 3, max_ooo_segments: 4, max_ooo_bytes: 1024, ..StreamLimits::default() };
            let mut st = Streams::new(limits);
            for (i, (seq, flags, payload, port)) in segs.iter().enumerate() {
                let mut k = key();
                k.sport = *port as u16;
                let s = TcpSeg { sport: k.sport, dport: 5060, seq: *seq, ack: 0, flags: *flags, window: 0, payload };
                if let Some(b) = st.push(Timestamp(i as i64), k, &s) {
                    prop_assert!(b.data().len() <= limits.max_stream_bytes);
                    b.drain_frames(|d| match d.first() { Some(b'a'..=b'm') => Frame::Complete(d.len().min(3)), Some(b'n'..=b'z') => Frame::Skip(2), Some(0) => Frame::Garbage, _ => Frame::Incomplete }, |_| {});
                }
                prop_assert!(st.len() <= limits.max_streams);
                // Soft cap: one push may pass the total by one stream's buffers.
                prop_assert!(st.bytes_held() <= limits.max_total_bytes + limits.max_stream_bytes + limits.max_ooo_bytes);
            }
        }
    }
}

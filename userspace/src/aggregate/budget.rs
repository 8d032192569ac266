//! A bound on the memory the state takes, whatever the input. Every table has its own cap on
//! the things it keeps (flows, SAs, calls…), but the caps are sized for each table alone and
//! the things differ in size by orders of magnitude (an IKE SA holding a 60 kB proposal list,
//! a call whose headers are kilobytes long): crafted input could fill every table at once
//! with its largest things. So the state also watches the heap as a whole. Past
//! [`STATE_LIMIT`] bytes no table starts anything new (flows, IKE and ESP SAs, SIP calls and
//! listed messages, tunnels, TCP streams, RTP endpoints) until expiry frees room; what exists
//! goes on being counted, and what was refused is counted in the report (`stats.limits`, the
//! `memory` row). The limit leaves room for the report built from that state, so the whole
//! process stays under 200 MB.
//!
//! The core cannot measure the heap: the program that owns the allocator hands it a probe
//! ([`set_probe`]); without one (library use, unit tests) there is no limit but the tables'.

use std::sync::OnceLock;

/// Heap bytes the state may reach before new things are refused.
pub const STATE_LIMIT: usize = 40 << 20;

/// What one IKE payload type kept in an exchange takes in the report beyond the state (its
/// name as a string), for [`Budget::look`].
pub const REPORT_BYTES_PER_IKE_PAYLOAD: usize = 40;

/// Packets between two looks at the heap when packets come one at a time (batches look once
/// each): a packet adds at most a few kB of state, so the overshoot stays small.
const CHECK_EVERY: u32 = 64;

/// The heap in use, in bytes, as the program's allocator counts it.
pub type Probe = fn() -> usize;

static PROBE: OnceLock<Probe> = OnceLock::new();

/// Install the process-wide heap probe; aggregators made afterwards keep to [`STATE_LIMIT`].
/// The first call wins.
pub fn set_probe(p: Probe) {
    let _ = PROBE.set(p);
}

#[derive(Debug)]
pub(super) struct Budget {
    probe: Option<Probe>,
    limit: usize,
    /// The heap was past the limit at the last look.
    pub full: bool,
    countdown: u32,
    /// Refusals counted by the tables when the current full spell began.
    base: u64,
    /// Refusals during earlier full spells.
    earlier: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget { probe: PROBE.get().copied(), limit: STATE_LIMIT, full: false, countdown: 0, base: 0, earlier: 0 }
    }
}

impl Budget {
    /// Whether this packet should look at the heap (one in [`CHECK_EVERY`]).
    #[inline(always)]
    pub fn due(&mut self) -> bool {
        if self.probe.is_none() {
            return false;
        }
        if self.countdown == 0 {
            self.countdown = CHECK_EVERY;
            true
        } else {
            self.countdown -= 1;
            false
        }
    }

    /// Look at the heap. Returns the new state when it changed (the caller tells the tables);
    /// `refused` is the tables' refusal count now, so that the report can tell how many came
    /// while the state was full; `report_extra` is what the state will take in its report
    /// beyond its own size, where that is far more than the usual (the tables say).
    pub fn look(&mut self, refused: u64, report_extra: usize) -> Option<bool> {
        let probe = self.probe?;
        let full = probe().saturating_add(report_extra) > self.limit;
        if full == self.full {
            return None;
        }
        if full {
            self.base = refused;
        } else {
            self.earlier += refused.saturating_sub(self.base);
        }
        self.full = full;
        Some(full)
    }

    /// Refusals while the state was full, given the tables' refusal count now.
    pub fn refused(&self, refused: u64) -> u64 {
        self.earlier + if self.full { refused.saturating_sub(self.base) } else { 0 }
    }

    /// Whether a probe watches the heap (the report names the limit only then).
    pub fn watched(&self) -> bool {
        self.probe.is_some()
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::Budget;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    static HEAP: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn refusals_are_counted_only_while_full() {
        let mut b = Budget { probe: Some(|| HEAP.load(Relaxed)), limit: 100, ..Budget::default() };
        assert_eq!(b.look(5, 0), None, "below the limit: no change");
        HEAP.store(90, Relaxed);
        assert_eq!(b.look(5, 20), Some(true), "the report's extra counts toward the limit");
        assert_eq!(b.refused(12), 7, "refusals since it filled");
        HEAP.store(10, Relaxed);
        assert_eq!(b.look(12, 0), Some(false));
        assert_eq!(b.refused(30), 7, "refusals with room are the tables' own");
        HEAP.store(200, Relaxed);
        assert_eq!(b.look(30, 0), Some(true));
        assert_eq!(b.refused(31), 8);
        let mut calls = 0;
        for _ in 0..1000 {
            calls += usize::from(b.due());
        }
        assert!((15..=16).contains(&calls), "one look in {} packets: {calls}", super::CHECK_EVERY);
        assert!(!Budget { probe: None, ..Budget::default() }.due(), "no probe, no look");
    }
}

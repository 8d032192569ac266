//! A bounded history: the first `N` items of a sequence and the latest `N` (a ring), with the
//! number left out between them. Per-SA IKE exchanges and per-call SIP messages are kept this
//! way, so a retransmission storm or a registration refreshed for days costs the same memory
//! (and the same report size) as a short one: state grows with the distinct things seen, never
//! with packets.

/// The first [`History::keep`] items and the latest `keep`, in order, and how many between them
/// were let go.
///
/// The latest ones are a ring in a vector: once it is full, a new item is written over the
/// oldest in place. (A deque's pop and push moved the whole oldest item out first: for an SA
/// or call whose ring was last touched long ago, reading memory long out of cache, on nearly
/// every message of a long-lived SA or registration.)
#[derive(Debug, Clone)]
pub struct History<T> {
    first: Vec<T>,
    last: Vec<T>,
    /// Where the oldest of `last` is once it is full (0 until then).
    head: usize,
    /// Items let go (between `first` and `last`).
    elided: u64,
    keep: usize,
}

impl<T> History<T> {
    /// A history keeping the first `keep` items and the latest `keep`.
    pub fn new(keep: usize) -> Self {
        History { first: Vec::new(), last: Vec::new(), head: 0, elided: 0, keep }
    }

    /// Appends `x`. Returns `true` when the history grew by one item, `false` when `x` took the
    /// place of the oldest item of the ring (counted as elided).
    pub fn push(&mut self, x: T) -> bool {
        if self.first.len() < self.keep {
            if self.first.capacity() == 0 {
                // Room for two to start with, not the allocator's four: most SIP calls
                // (OPTIONS pings, short transactions) and many IKE SAs end at two, and a
                // capture of many of them held twice the memory it used.
                self.first.reserve_exact(2.min(self.keep));
            }
            self.first.push(x);
            return true;
        }
        if self.keep == 0 {
            self.elided += 1;
            return false;
        }
        if self.last.len() < self.keep {
            self.last.push(x);
            return true;
        }
        self.overwrite_oldest(x);
        self.elided += 1;
        false
    }

    /// Appends `x` only if that does not make the history grow: in the ring, in place of its
    /// oldest item. For when a cap on the items kept in all is reached. Returns whether `x`
    /// was kept; when it was not, it is counted as elided.
    pub fn push_in_place(&mut self, x: T) -> bool {
        if self.first.len() < self.keep || self.last.is_empty() {
            self.elided += 1;
            return false;
        }
        if self.last.len() < self.keep {
            // Not full: the oldest is at the start, and the ring keeps arrival order.
            self.last.remove(0);
            self.last.push(x);
        } else {
            self.overwrite_oldest(x);
        }
        self.elided += 1;
        true
    }

    /// The full ring's oldest item replaced by `x`, which becomes the latest.
    #[inline]
    fn overwrite_oldest(&mut self, x: T) {
        self.last[self.head] = x;
        self.head += 1;
        if self.head == self.last.len() {
            self.head = 0;
        }
    }

    /// The item the next [`History::push`] lets go, if it lets one go.
    pub fn next_evicted(&self) -> Option<&T> {
        if self.first.len() < self.keep || self.last.len() < self.keep {
            return None;
        }
        self.last.get(self.head)
    }

    /// Start loading the item the next [`History::push`] writes over, so that letting it go
    /// (its drop) does not wait on memory: to call as soon as the history is known, before the
    /// work that makes the new item.
    #[inline(always)]
    pub fn prefetch_next_evicted(&self) {
        if let Some(x) = self.next_evicted() {
            crate::aggregate::prefetch::hint_lines(x);
        }
    }

    /// Items kept.
    pub fn len(&self) -> usize {
        self.first.len() + self.last.len()
    }

    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// Items seen in all, kept or not.
    pub fn total(&self) -> u64 {
        self.len() as u64 + self.elided
    }

    /// Items let go between the first and the latest ones.
    pub fn elided(&self) -> u64 {
        self.elided
    }

    /// How many of the kept items come before the gap (the first ones).
    pub fn before_gap(&self) -> usize {
        self.first.len()
    }

    /// The kept items in order: the first ones, then the latest ones (oldest first).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator + '_ {
        let (newer, older) = self.last.split_at(self.head);
        Chain { a: self.first.iter(), b: Chain { a: older.iter(), b: newer.iter() } }
    }
}

/// `first` then `last` as one exact-size, double-ended iterator (`std`'s `Chain` is not
/// `ExactSizeIterator`).
struct Chain<A, B> {
    a: A,
    b: B,
}

impl<'a, T: 'a, A: Iterator<Item = &'a T>, B: Iterator<Item = &'a T>> Iterator for Chain<A, B> {
    type Item = &'a T;

    fn next(&mut self) -> Option<&'a T> {
        self.a.next().or_else(|| self.b.next())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (a, b) = (self.a.size_hint().0, self.b.size_hint().0);
        (a + b, Some(a + b))
    }
}

impl<'a, T: 'a, A, B> DoubleEndedIterator for Chain<A, B>
where
    A: DoubleEndedIterator<Item = &'a T>,
    B: DoubleEndedIterator<Item = &'a T>,
{
    fn next_back(&mut self) -> Option<&'a T> {
        self.b.next_back().or_else(|| self.a.next_back())
    }
}

impl<'a, T: 'a, A: ExactSizeIterator<Item = &'a T>, B: ExactSizeIterator<Item = &'a T>> ExactSizeIterator
    for Chain<A, B>
{
}

#[cfg(test)]
mod tests {
    use super::History;

    #[test]
    fn keeps_the_first_and_the_latest_and_counts_the_rest() {
        let mut h = History::new(3);
        let grew: Vec<bool> = (0..10).map(|i| h.push(i)).collect();
        assert_eq!(grew, [true, true, true, true, true, true, false, false, false, false]);
        assert_eq!(h.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 7, 8, 9]);
        assert_eq!(h.iter().rev().copied().collect::<Vec<_>>(), [9, 8, 7, 2, 1, 0]);
        assert_eq!((h.len(), h.elided(), h.total(), h.before_gap()), (6, 4, 10, 3));
        assert_eq!(h.iter().len(), 6);
    }

    #[test]
    fn short_histories_are_whole() {
        let mut h = History::new(4);
        for i in 0..6 {
            h.push(i);
        }
        assert_eq!(h.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 3, 4, 5]);
        assert_eq!((h.elided(), h.before_gap()), (0, 4));
    }

    #[test]
    fn in_place_never_grows() {
        let mut h = History::new(2);
        assert!(!h.push_in_place(0), "nothing to replace yet");
        h.push(1);
        h.push(2);
        assert!(!h.push_in_place(3), "the ring is empty");
        h.push(4);
        assert!(h.push_in_place(5));
        assert_eq!(h.iter().copied().collect::<Vec<_>>(), [1, 2, 5]);
        assert_eq!((h.len(), h.elided(), h.total()), (3, 3, 6));
    }

    #[test]
    fn a_full_ring_is_overwritten_oldest_first_in_order() {
        let mut h = History::new(3);
        for i in 0..8 {
            h.push(i);
        }
        assert_eq!(h.next_evicted(), Some(&5));
        assert!(h.push_in_place(8));
        assert!(!h.push(9));
        assert_eq!(h.iter().copied().collect::<Vec<_>>(), [0, 1, 2, 7, 8, 9]);
        assert_eq!(h.iter().rev().copied().collect::<Vec<_>>(), [9, 8, 7, 2, 1, 0]);
        assert_eq!(h.iter().rev().take(2).copied().collect::<Vec<_>>(), [9, 8]);
        assert_eq!((h.len(), h.elided(), h.total(), h.iter().len()), (6, 4, 10, 6));
    }
}

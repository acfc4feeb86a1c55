//! Stored keys of messages not yet received: one container for the Double Ratchet's
//! skipped seeds, SPQR's skipped keys and a sender-key chain's skipped seeds, and the
//! staged change one message makes to it.
//!
//! Two properties matter and are the reason this is not a `VecDeque`:
//! * **No key bytes in freed memory.** Growing a `Vec` or `VecDeque` frees the old block
//!   with every key still in it, and removing an element leaves a stale copy in spare
//!   capacity. Here the buffer is a fixed block of initialized entries: growth copies
//!   into a new block and wipes the old one before freeing it, every vacated slot is
//!   wiped at once, and the whole block is wiped on drop.
//! * **Constant-time ends.** Keys arrive in ascending order and age out from the front
//!   (a window or a count), so the entries live in a ring: dropping the oldest is O(1),
//!   whatever the number stored. An ordinary in-order message never touches the stored
//!   keys at all.

use alloc::boxed::Box;
#[cfg(test)]
use alloc::vec::Vec;
use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

/// One stored key: the counter (or index, or iteration) it belongs to, and 32 secret
/// bytes (a message seed or a message key).
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Entry {
    pub(crate) n: u32,
    pub(crate) key: [u8; 32],
}

/// Keys ascending by `n`, each `n` at most once.
#[derive(Default)]
pub(crate) struct SkippedKeys {
    /// The ring; every slot outside `head..head + len` holds zeros.
    buf: Box<[Entry]>,
    head: usize,
    len: usize,
}

/// Smallest block allocated once a key is stored.
const MIN_CAPACITY: usize = 8;

impl SkippedKeys {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// An empty container with room for `capacity` keys (no growth until then).
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        SkippedKeys {
            buf: (0..capacity).map(|_| Entry::default()).collect(),
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn slot(&self, i: usize) -> usize {
        let cap = self.buf.len();
        if cap == 0 { 0 } else { (self.head + i) % cap }
    }

    fn at(&self, i: usize) -> Option<&Entry> {
        if i >= self.len {
            return None;
        }
        self.buf.get(self.slot(i))
    }

    /// The keys, oldest (smallest `n`) first.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> + '_ {
        (0..self.len).filter_map(move |i| self.at(i))
    }

    /// The `n` of the `i`-th oldest key.
    pub(crate) fn nth(&self, i: usize) -> Option<u32> {
        self.at(i).map(|e| e.n)
    }

    pub(crate) fn first(&self) -> Option<u32> {
        self.at(0).map(|e| e.n)
    }

    pub(crate) fn last(&self) -> Option<u32> {
        self.len
            .checked_sub(1)
            .and_then(|i| self.at(i))
            .map(|e| e.n)
    }

    /// Position of `n`, by binary search.
    fn position(&self, n: u32) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let m = self.at(mid)?.n;
            match m.cmp(&n) {
                core::cmp::Ordering::Equal => return Some(mid),
                core::cmp::Ordering::Less => lo = mid + 1,
                core::cmp::Ordering::Greater => hi = mid,
            }
        }
        None
    }

    /// The key stored for `n`.
    pub(crate) fn get(&self, n: u32) -> Option<&[u8; 32]> {
        self.position(n).and_then(|i| self.at(i)).map(|e| &e.key)
    }

    pub(crate) fn contains(&self, n: u32) -> bool {
        self.position(n).is_some()
    }

    /// Removes the key for `n` (wiping its slot); false if there was none.
    pub(crate) fn remove(&mut self, n: u32) -> bool {
        let Some(pos) = self.position(n) else {
            return false;
        };
        // Shift the later entries down by one, then wipe the slot that fell free.
        for i in pos + 1..self.len {
            let (from, to) = (self.slot(i), self.slot(i - 1));
            if let Some(e) = self.buf.get(from).cloned()
                && let Some(dst) = self.buf.get_mut(to)
            {
                *dst = e;
            }
        }
        let last = self.slot(self.len - 1);
        if let Some(e) = self.buf.get_mut(last) {
            e.zeroize();
        }
        self.len -= 1;
        if self.len == 0 {
            self.head = 0;
        }
        true
    }

    /// Drops (and wipes) every key below `n`: O(keys dropped).
    pub(crate) fn remove_below(&mut self, n: u32) {
        while let Some(first) = self.first() {
            if first >= n {
                break;
            }
            let h = self.head;
            if let Some(e) = self.buf.get_mut(h) {
                e.zeroize();
            }
            self.head = (self.head + 1) % self.buf.len().max(1);
            self.len -= 1;
        }
        if self.len == 0 {
            self.head = 0;
        }
    }

    /// Appends a key; `n` must be above every stored one (else the call is ignored and
    /// false returned: callers only ever append newer keys).
    pub(crate) fn push(&mut self, n: u32, key: &[u8; 32]) -> bool {
        if self.last().is_some_and(|l| l >= n) {
            return false;
        }
        self.reserve(1);
        let s = self.slot(self.len);
        match self.buf.get_mut(s) {
            Some(e) => {
                e.n = n;
                e.key = *key;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Makes room for `extra` more keys: a larger block is filled in order, and the old
    /// block wiped before it is freed.
    pub(crate) fn reserve(&mut self, extra: usize) {
        let needed = self.len.saturating_add(extra);
        if needed <= self.buf.len() {
            return;
        }
        let cap = needed
            .max(self.buf.len().saturating_mul(2))
            .max(MIN_CAPACITY);
        let mut grown: Box<[Entry]> = (0..cap).map(|_| Entry::default()).collect();
        for (dst, src) in grown.iter_mut().zip(self.iter()) {
            dst.n = src.n;
            dst.key = src.key;
        }
        self.buf.iter_mut().for_each(Zeroize::zeroize);
        self.buf = grown;
        self.head = 0;
    }

    /// Keeps only the newest `max` keys.
    #[cfg(test)]
    pub(crate) fn truncate_front(&mut self, max: usize) {
        while self.len > max {
            match self.first() {
                Some(f) => self.remove_below(f.saturating_add(1)),
                None => break,
            }
        }
    }
}

impl Clone for SkippedKeys {
    /// A copy sized to its contents: cloning is for whole-record copies (an app's
    /// snapshot), never for staging a message.
    fn clone(&self) -> Self {
        let mut out = SkippedKeys::with_capacity(self.len);
        for e in self.iter() {
            out.push(e.n, &e.key);
        }
        out
    }
}

impl Zeroize for SkippedKeys {
    fn zeroize(&mut self) {
        self.buf.iter_mut().for_each(Zeroize::zeroize);
        self.head = 0;
        self.len = 0;
    }
}

// No `Drop` of its own: every slot is an `Entry`, which wipes itself on drop
// (`ZeroizeOnDrop`), so dropping the block wipes every key, live or not.
impl ZeroizeOnDrop for SkippedKeys {}

impl fmt::Debug for SkippedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkippedKeys")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// What one message changes in one container of stored keys, applied in this order:
/// `consumed` is removed, `added` appended (all above the stored keys), then every key
/// below `drop_below` dropped. Computed from a borrowed container, so that staging a
/// message never copies the keys already stored.
#[derive(Default)]
pub(crate) struct KeysDelta {
    pub(crate) consumed: Option<u32>,
    pub(crate) added: SkippedKeys,
    pub(crate) drop_below: Option<u32>,
}

impl KeysDelta {
    pub(crate) fn is_empty(&self) -> bool {
        self.consumed.is_none() && self.added.is_empty() && self.drop_below.is_none()
    }

    /// Whether applying this to `keys` is well formed: the consumed key is there and the
    /// added keys are newer than every stored key.
    pub(crate) fn fits(&self, keys: &SkippedKeys) -> bool {
        let consumed_ok = self.consumed.is_none_or(|n| keys.contains(n));
        let order_ok = match (keys.last(), self.added.first()) {
            (Some(l), Some(a)) => a > l,
            _ => true,
        };
        consumed_ok && order_ok
    }

    /// Applies the change in place.
    pub(crate) fn apply(&self, keys: &mut SkippedKeys) {
        if let Some(n) = self.consumed {
            keys.remove(n);
        }
        if !self.added.is_empty() {
            // If the front is about to be dropped, drop it first so the block need not
            // grow past what is kept.
            if let Some(b) = self.drop_below {
                keys.remove_below(b);
            }
            keys.reserve(self.added.len());
            for e in self.added.iter() {
                keys.push(e.n, &e.key);
            }
        }
        if let Some(b) = self.drop_below {
            keys.remove_below(b);
        }
    }

    /// The number of keys `keys` would hold after [`KeysDelta::apply`].
    #[cfg(test)]
    pub(crate) fn len_after(&self, keys: &SkippedKeys) -> usize {
        let below = |n: u32| self.drop_below.is_some_and(|b| n < b);
        let kept_old = keys
            .iter()
            .filter(|e| Some(e.n) != self.consumed && !below(e.n))
            .count();
        kept_old + self.added.iter().filter(|e| !below(e.n)).count()
    }
}

impl fmt::Debug for KeysDelta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeysDelta")
            .field("consumed", &self.consumed)
            .field("added", &self.added.len())
            .field("drop_below", &self.drop_below)
            .finish()
    }
}

/// Encodes entries for tests and records: `(n, key)` pairs in order.
#[cfg(test)]
pub(crate) fn entries(keys: &SkippedKeys) -> Vec<(u32, [u8; 32])> {
    keys.iter().map(|e| (e.n, e.key)).collect()
}

/// Keys stored for the ascending indices `ns`, each index's key `[n as u8; 32]` (tests).
#[cfg(test)]
pub(crate) fn keys_at(ns: impl IntoIterator<Item = u32>) -> SkippedKeys {
    let mut s = SkippedKeys::new();
    for n in ns {
        assert!(s.push(n, &[n as u8; 32]), "indices must ascend");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec;

    fn k(b: u8) -> [u8; 32] {
        [b; 32]
    }

    #[test]
    fn push_get_remove_in_order() {
        let mut s = SkippedKeys::new();
        for n in 1..=20u32 {
            assert!(s.push(n, &k(n as u8)));
        }
        assert!(!s.push(20, &k(0)), "not above the last");
        assert!(!s.push(3, &k(0)));
        assert_eq!(s.len(), 20);
        assert_eq!(s.get(7), Some(&k(7)));
        assert!(s.remove(7));
        assert!(!s.remove(7));
        assert_eq!(s.get(7), None);
        assert_eq!(s.get(8), Some(&k(8)));
        assert_eq!(s.len(), 19);
        let ns: Vec<u32> = s.iter().map(|e| e.n).collect();
        assert_eq!(ns, (1..=20).filter(|n| *n != 7).collect::<Vec<_>>());
    }

    #[test]
    fn ring_wraps_and_keeps_order() {
        let mut s = SkippedKeys::with_capacity(8);
        for n in 0..8u32 {
            s.push(n, &k(n as u8 + 1));
        }
        s.remove_below(5);
        assert_eq!(s.first(), Some(5));
        for n in 8..13u32 {
            s.push(n, &k(n as u8 + 1));
        }
        assert_eq!(s.buf.len(), 8, "wrapped instead of growing");
        assert_eq!(
            entries(&s).iter().map(|e| e.0).collect::<Vec<_>>(),
            (5..13).collect::<Vec<_>>()
        );
        assert!(s.remove(9));
        assert_eq!(s.get(12), Some(&k(13)));
        s.push(13, &k(14));
        s.push(14, &k(15));
        assert!(s.buf.len() > 8, "grew");
        assert_eq!(
            entries(&s).iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![5, 6, 7, 8, 10, 11, 12, 13, 14]
        );
        // Every slot outside the live range is zero.
        let live: Vec<[u8; 32]> = s.iter().map(|e| e.key).collect();
        let zeros = s.buf.iter().filter(|e| e.key == [0; 32]).count();
        assert_eq!(zeros, s.buf.len() - live.len());
    }

    #[test]
    fn with_capacity_allocates_once_for_what_it_will_hold() {
        // Staging a message sizes its block of new seeds exactly: no regrowth (and so no
        // copy of the seeds) while it is filled, and no slack beyond it.
        let mut s = SkippedKeys::with_capacity(2_000);
        assert_eq!(s.buf.len(), 2_000);
        for n in 0..2_000u32 {
            assert!(s.push(n, &k(n as u8)));
        }
        assert_eq!(s.buf.len(), 2_000, "filled without growing");
        assert_eq!(SkippedKeys::with_capacity(3).buf.len(), 3);
        assert_eq!(SkippedKeys::with_capacity(0).buf.len(), 0);
    }

    #[test]
    fn zeroize_wipes_every_slot_and_empties() {
        let mut s = SkippedKeys::with_capacity(6);
        for n in 1..=4u32 {
            s.push(n, &k(0xB0 + n as u8));
        }
        s.zeroize();
        assert_eq!((s.len(), s.first()), (0, None));
        assert!(s.buf.iter().all(|e| e.key == [0; 32] && e.n == 0));
        // Still usable afterwards, from the front of the block.
        assert!(s.push(9, &k(9)));
        assert_eq!(entries(&s), vec![(9, k(9))]);
        assert_eq!(s.head, 0);
    }

    #[test]
    fn debug_shows_counts_only() {
        let mut s = SkippedKeys::new();
        s.push(5, &k(0xEE));
        s.push(6, &k(0xEE));
        assert_eq!(format!("{s:?}"), "SkippedKeys { len: 2, .. }");
        let d = KeysDelta {
            consumed: Some(5),
            added: s,
            drop_below: None,
        };
        assert_eq!(
            format!("{d:?}"),
            "KeysDelta { consumed: Some(5), added: 2, drop_below: None }"
        );
    }

    #[test]
    fn delta_is_empty_only_when_every_part_is() {
        assert!(KeysDelta::default().is_empty());
        let mut one = SkippedKeys::new();
        one.push(1, &k(1));
        for d in [
            KeysDelta {
                consumed: Some(0),
                ..KeysDelta::default()
            },
            KeysDelta {
                added: one,
                ..KeysDelta::default()
            },
            KeysDelta {
                drop_below: Some(0),
                ..KeysDelta::default()
            },
        ] {
            assert!(!d.is_empty(), "{d:?}");
        }
    }

    #[test]
    fn delta_fits_only_keys_above_the_stored_ones() {
        let s = keys_at([2, 4]);
        let adding = |ns: &[u32]| KeysDelta {
            added: keys_at(ns.iter().copied()),
            ..KeysDelta::default()
        };
        assert!(adding(&[5, 6]).fits(&s));
        assert!(!adding(&[4, 6]).fits(&s), "equal to the last stored");
        assert!(!adding(&[3]).fits(&s), "below the last stored");
        // Nothing stored, or nothing added: any order fits.
        assert!(adding(&[0]).fits(&SkippedKeys::new()));
        assert!(adding(&[]).fits(&s));
    }

    #[test]
    fn vacated_slots_are_wiped() {
        let mut s = SkippedKeys::with_capacity(4);
        for n in 1..=4u32 {
            s.push(n, &k(0xA0 + n as u8));
        }
        s.remove(2);
        s.remove_below(2);
        assert_eq!(s.len(), 2);
        let nonzero = s.buf.iter().filter(|e| e.key != [0; 32]).count();
        assert_eq!(nonzero, 2);
        s.truncate_front(1);
        assert_eq!(entries(&s), vec![(4, k(0xA4))]);
        assert_eq!(s.buf.iter().filter(|e| e.key != [0; 32]).count(), 1);
    }

    #[test]
    fn delta_applies_consume_append_drop() {
        let mut s = SkippedKeys::new();
        for n in [2u32, 4, 6] {
            s.push(n, &k(n as u8));
        }
        let mut added = SkippedKeys::new();
        added.push(8, &k(8));
        added.push(9, &k(9));
        let d = KeysDelta {
            consumed: Some(4),
            added,
            drop_below: Some(3),
        };
        assert!(d.fits(&s));
        assert_eq!(d.len_after(&s), 3);
        d.apply(&mut s);
        assert_eq!(
            entries(&s).iter().map(|e| e.0).collect::<Vec<_>>(),
            vec![6, 8, 9]
        );
        let bad = KeysDelta {
            consumed: Some(4),
            ..KeysDelta::default()
        };
        assert!(!bad.fits(&s));
    }
}

//! Receiving chains and their skipped message keys [DR §3.2, §3.5].
//!
//! A receiving chain is split in two: its ratchet key and chain key ([`ReceiverChain`],
//! a few dozen bytes that every message may change) and the seeds of messages skipped
//! over ([`SkippedKeys`], up to [`MAX_SKIPPED_KEYS_PER_CHAIN`], which only late and
//! skipping messages change). Finding a message's seed is planned from the header first
//! ([`plan`]: no derivation), then staged against the borrowed stored seeds ([`stage`]),
//! which returns the change to them instead of copying them.

use super::keys::{ChainKey, MessageSeed};
use super::skipped::{KeysDelta, SkippedKeys};
use crate::crypto::PublicKey;
use crate::error::ProtocolError;

/// How far ahead of the next expected message one message may jump within a chain.
/// Each skipped step costs two HMACs, so this bounds the work one forged header can
/// cause; libsignal uses the same value (sessions with oneself are exempt, as in
/// libsignal, because the peer is our own device; the per-message work budget still
/// applies to them).
pub const MAX_FORWARD_JUMP: u32 = 25_000;

/// Skipped-message seeds kept per receiving chain; the oldest are dropped first. Bounds
/// the memory one chain can hold (libsignal's value).
pub const MAX_SKIPPED_KEYS_PER_CHAIN: usize = 2_000;

/// Receiving chains kept per session: late messages from up to this many of the peer's
/// ratchet keys still decrypt (libsignal's value).
pub const MAX_RECEIVER_CHAINS: usize = 5;

/// One of the peer's sending chains, as we receive it: its ratchet key and the chain key
/// of the next message.
#[derive(Clone)]
pub(crate) struct ReceiverChain {
    pub(crate) ratchet_key: PublicKey,
    pub(crate) chain_key: ChainKey,
}

impl ReceiverChain {
    pub(crate) fn new(ratchet_key: PublicKey, chain_key: ChainKey) -> Self {
        ReceiverChain {
            ratchet_key,
            chain_key,
        }
    }
}

/// The receiving chains of a session, oldest first, in a fixed inline array: adding one
/// never reallocates (so no chain key is left in a freed block) and copying the set is a
/// plain copy of at most [`MAX_RECEIVER_CHAINS`] entries.
///
/// Every slot is always initialized; unused ones hold zeros. (An array of `Option`s
/// would leave the payload of each `None` uninitialized, and every move or copy of the
/// head then carries whatever bytes the stack held there, chain keys included, into the
/// record, where no drop wipes them before its block is freed.)
#[derive(Clone, Default)]
pub(crate) struct Receivers {
    chains: [ReceiverChain; MAX_RECEIVER_CHAINS],
    len: usize,
}

impl Default for ReceiverChain {
    /// An unused slot: zeros.
    fn default() -> Self {
        ReceiverChain::new(PublicKey::from_u_bytes([0; 32]), ChainKey::new([0; 32], 0))
    }
}

impl Receivers {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &ReceiverChain> + '_ {
        self.chains.iter().take(self.len)
    }

    /// The chain whose ratchet key is `key`.
    pub(crate) fn find(&self, key: &PublicKey) -> Option<&ReceiverChain> {
        self.iter().find(|c| &c.ratchet_key == key)
    }

    pub(crate) fn find_mut(&mut self, key: &PublicKey) -> Option<&mut ReceiverChain> {
        self.chains
            .iter_mut()
            .take(self.len)
            .find(|c| &c.ratchet_key == key)
    }

    /// Appends the newest chain; when all slots are taken the oldest chain is dropped and
    /// its ratchet key returned.
    pub(crate) fn push(&mut self, chain: ReceiverChain) -> Option<PublicKey> {
        let mut evicted = None;
        if self.len == MAX_RECEIVER_CHAINS {
            self.chains.rotate_left(1);
            if let Some(last) = self.chains.last_mut() {
                // The oldest chain, rotated to the end: dropped (wiping itself) in place.
                evicted = Some(core::mem::take(last).ratchet_key);
            }
            self.len -= 1;
        }
        if let Some(slot) = self.chains.get_mut(self.len) {
            *slot = chain;
            self.len += 1;
        }
        evicted
    }
}

/// How a message's seed will be found, decided from its header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeedPlan {
    /// A seed stored for a message skipped earlier.
    Stored,
    /// A walk forward along the chain: `steps` chain steps (the message's own included).
    Walk { steps: u32 },
}

impl SeedPlan {
    /// The chain steps the plan costs.
    pub(crate) fn steps(self) -> u32 {
        match self {
            SeedPlan::Stored => 0,
            SeedPlan::Walk { steps } => steps,
        }
    }
}

/// Plans finding the seed of message `counter` on a chain whose next index is `index`,
/// with `stored` its skipped seeds.
pub(crate) fn plan(
    index: u32,
    counter: u32,
    stored: Option<&SkippedKeys>,
    unlimited_jump: bool,
) -> Result<SeedPlan, ProtocolError> {
    if counter < index {
        return match stored {
            Some(s) if s.contains(counter) => Ok(SeedPlan::Stored),
            _ => Err(ProtocolError::DuplicateMessage),
        };
    }
    let jump = counter - index;
    if jump > MAX_FORWARD_JUMP && !unlimited_jump {
        return Err(ProtocolError::TooFarInFuture);
    }
    Ok(SeedPlan::Walk {
        steps: jump.saturating_add(1),
    })
}

/// The seed of message `counter`: a stored skipped seed (consumed, so a replay fails), or
/// a step forward along the chain that stores the seeds it passes. Advances `chain` (the
/// staged copy) and returns the change to `stored`, which is only read.
pub(crate) fn stage(
    chain: &mut ChainKey,
    counter: u32,
    stored: Option<&SkippedKeys>,
) -> Result<(MessageSeed, KeysDelta), ProtocolError> {
    let index = chain.index();
    if counter < index {
        let seed = stored
            .and_then(|s| s.get(counter))
            .ok_or(ProtocolError::DuplicateMessage)?;
        let delta = KeysDelta {
            consumed: Some(counter),
            ..KeysDelta::default()
        };
        return Ok((MessageSeed::from_bytes(*seed), delta));
    }
    // Seeds older than the newest MAX_SKIPPED_KEYS_PER_CHAIN would be dropped at once:
    // step over them without deriving them.
    let keep_from = counter.saturating_sub(MAX_SKIPPED_KEYS_PER_CHAIN as u32);
    let first_kept = index.max(keep_from);
    let mut added = SkippedKeys::with_capacity(usize::try_from(counter - first_kept).unwrap_or(0));
    let mut ck = chain.clone();
    while ck.index() < counter {
        if ck.index() >= keep_from {
            let seed = ck.message_seed();
            added.push(ck.index(), seed.as_bytes());
        }
        ck = ck.next().ok_or(ProtocolError::TooFarInFuture)?;
    }
    let seed = ck.message_seed();
    *chain = ck.next().ok_or(ProtocolError::TooFarInFuture)?;
    // Keep the newest MAX_SKIPPED_KEYS_PER_CHAIN of the stored and the added seeds (all
    // stored ones are older than the added ones).
    let old = stored.map_or(0, SkippedKeys::len);
    let excess = (old + added.len()).saturating_sub(MAX_SKIPPED_KEYS_PER_CHAIN);
    let drop_below = if excess == 0 {
        None
    } else if excess < old {
        stored.and_then(|s| s.nth(excess))
    } else {
        added.nth(excess - old)
    };
    Ok((
        seed,
        KeysDelta {
            consumed: None,
            added,
            drop_below,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratchet::skipped::{entries, keys_at};
    use alloc::vec::Vec;

    /// The chain key at index `n` of the chain `start` begins, stepped one at a time.
    fn chain_at(start: &ChainKey, n: u32) -> ChainKey {
        let mut ck = start.clone();
        while ck.index() < n {
            ck = ck.next().expect("in range");
        }
        ck
    }

    /// The seed of message `n` on the chain `start` begins, derived step by step.
    fn seed_at(start: &ChainKey, n: u32) -> [u8; 32] {
        *chain_at(start, n).message_seed().as_bytes()
    }

    #[test]
    fn plan_counts_the_steps_and_bounds_the_jump_from_the_chain_index() {
        let s = keys_at(3..5);
        assert_eq!(SeedPlan::Stored.steps(), 0);
        assert_eq!(SeedPlan::Walk { steps: 7 }.steps(), 7);
        // The message's own step is counted.
        assert_eq!(plan(10, 10, None, false), Ok(SeedPlan::Walk { steps: 1 }));
        assert_eq!(plan(10, 12, None, false).map(SeedPlan::steps), Ok(3));
        // Behind the chain: only a stored seed serves, and only the one asked for.
        assert_eq!(plan(10, 4, Some(&s), false), Ok(SeedPlan::Stored));
        assert_eq!(
            plan(10, 5, Some(&s), false),
            Err(ProtocolError::DuplicateMessage)
        );
        assert_eq!(
            plan(10, 2, Some(&s), false),
            Err(ProtocolError::DuplicateMessage)
        );
        assert_eq!(
            plan(10, 4, None, false),
            Err(ProtocolError::DuplicateMessage)
        );
        // The bound is on the jump from the chain's index, inclusive.
        let at = 100 + MAX_FORWARD_JUMP;
        assert_eq!(
            plan(100, at, None, false),
            Ok(SeedPlan::Walk {
                steps: MAX_FORWARD_JUMP + 1
            })
        );
        assert_eq!(
            plan(100, at + 1, None, false),
            Err(ProtocolError::TooFarInFuture)
        );
        assert_eq!(
            plan(100, at + 1, None, true),
            Ok(SeedPlan::Walk {
                steps: MAX_FORWARD_JUMP + 2
            })
        );
    }

    #[test]
    fn stage_consumes_a_stored_seed_without_moving_the_chain() {
        let s = keys_at(3..6);
        let mut ck = ChainKey::new([9; 32], 10);
        let (seed, delta) = stage(&mut ck, 4, Some(&s)).expect("stored");
        assert_eq!(seed.as_bytes(), &[4; 32]);
        assert_eq!(delta.consumed, Some(4));
        assert!(delta.added.is_empty());
        assert_eq!(delta.drop_below, None);
        assert_eq!(ck.index(), 10);
        assert_eq!(ck.key(), &[9; 32]);
        // Applied, the delta removes that seed, so the same counter is then a duplicate.
        let mut after = keys_at(3..6);
        delta.apply(&mut after);
        assert!(!after.contains(4) && after.contains(3) && after.contains(5));
        assert!(matches!(
            stage(&mut ck, 4, Some(&after)),
            Err(ProtocolError::DuplicateMessage)
        ));
        assert!(matches!(
            stage(&mut ck, 2, Some(&s)),
            Err(ProtocolError::DuplicateMessage)
        ));
        assert!(matches!(
            stage(&mut ck, 4, None),
            Err(ProtocolError::DuplicateMessage)
        ));
    }

    #[test]
    fn stage_walks_forward_storing_the_seeds_it_passes() {
        let start = ChainKey::new([9; 32], 5);
        let s = keys_at(0..3);
        let mut ck = start.clone();
        let (seed, delta) = stage(&mut ck, 8, Some(&s)).expect("walk");
        assert_eq!(seed.as_bytes(), &seed_at(&start, 8));
        assert_eq!(ck.index(), 9);
        assert_eq!(ck.key(), chain_at(&start, 9).key());
        assert_eq!(delta.consumed, None);
        let added: Vec<(u32, [u8; 32])> = entries(&delta.added);
        let want: Vec<(u32, [u8; 32])> = (5..8).map(|n| (n, seed_at(&start, n))).collect();
        assert_eq!(added, want);
        // 3 stored + 3 added is far below the cap: nothing dropped.
        assert_eq!(delta.drop_below, None);
    }

    /// Where the cap on stored seeds cuts: `old` seeds stored below the chain's index,
    /// and a message that adds `added` more.
    fn drop_below_after(old: u32, added: u32) -> (Option<u32>, SkippedKeys) {
        let s = keys_at(0..old);
        let mut ck = ChainKey::new([9; 32], old);
        let (_, delta) = stage(&mut ck, old + added, Some(&s)).expect("walk");
        assert_eq!(delta.added.len(), added as usize);
        (delta.drop_below, delta.added)
    }

    #[test]
    fn stage_keeps_the_newest_seeds_up_to_the_cap() {
        let cap = MAX_SKIPPED_KEYS_PER_CHAIN as u32;
        // Exactly at the cap: nothing dropped.
        assert_eq!(drop_below_after(10, cap - 10).0, None);
        // Five over: the five oldest stored seeds go (the cut is at stored seed 5).
        assert_eq!(drop_below_after(10, cap - 5).0, Some(5));
        // A full chain of new seeds: every stored seed goes, the added ones all stay.
        let (cut, added) = drop_below_after(10, cap);
        assert_eq!(cut, added.first());
        assert_eq!(cut, Some(10));
        // A jump past the cap derives only the seeds it keeps.
        let start = ChainKey::new([9; 32], 0);
        let mut ck = start.clone();
        let (seed, delta) = stage(&mut ck, cap + 50, None).expect("walk");
        assert_eq!(seed.as_bytes(), &seed_at(&start, cap + 50));
        assert_eq!(delta.added.first(), Some(50));
        assert_eq!(delta.added.len(), cap as usize);
        assert_eq!(delta.drop_below, None);
        assert_eq!(ck.index(), cap + 51);
    }

    fn chain(n: u8) -> ReceiverChain {
        ReceiverChain::new(PublicKey::from_u_bytes([n; 32]), ChainKey::new([n; 32], 7))
    }

    /// Unused slots hold zeros, always: there is no `None` whose payload a copy of the
    /// head could fill with stack bytes (which no drop would wipe).
    fn unused_slots_are_zero(r: &Receivers) -> bool {
        r.chains
            .iter()
            .skip(r.len)
            .all(|c| c.ratchet_key.u_bytes() == &[0; 32] && c.chain_key.key() == &[0; 32])
    }

    #[test]
    fn receivers_keep_the_newest_five_and_zero_unused_slots() {
        let mut r = Receivers::default();
        assert_eq!(r.len(), 0);
        assert!(unused_slots_are_zero(&r));
        for n in 1..=MAX_RECEIVER_CHAINS as u8 {
            assert_eq!(r.push(chain(n)), None);
            assert!(unused_slots_are_zero(&r));
            assert!(unused_slots_are_zero(&r.clone()));
        }
        for n in 6..=8u8 {
            let evicted = r.push(chain(n));
            assert_eq!(evicted, Some(PublicKey::from_u_bytes([n - 5; 32])));
            assert_eq!(r.len(), MAX_RECEIVER_CHAINS);
        }
        let keys: Vec<u8> = r.iter().map(|c| c.ratchet_key.u_bytes()[0]).collect();
        assert_eq!(keys, [4, 5, 6, 7, 8]);
        assert!(r.find(&PublicKey::from_u_bytes([3; 32])).is_none());
        let c = r.find_mut(&PublicKey::from_u_bytes([6; 32])).expect("kept");
        assert_eq!(c.chain_key.key(), &[6; 32]);
        // Nothing is found among the unused slots, even by a key of zeros.
        let mut fresh = Receivers::default();
        fresh.push(chain(9));
        assert!(fresh.find(&PublicKey::from_u_bytes([0; 32])).is_none());
        assert!(fresh.find_mut(&PublicKey::from_u_bytes([0; 32])).is_none());
    }
}

//! The [`SenderKeyRecord`]: every chain we hold for one (sender, distribution id), and
//! its versioned serialization.
//!
//! ```text
//! record  = 0x01 ‖ protobuf{ 1: state (repeated, newest first, ≤ 5) ;
//!                            2: number of states (varint, required, last) }
//! state   = protobuf{ 1: chain id u32 ; 2: iteration u32 ; 3: chain key (32) ;
//!                     4: signing key (0x05 ‖ 32) ; 5: signing private key (32, optional) ;
//!                     6: skipped (repeated, oldest first, ≤ 2,000) }
//! skipped = protobuf{ 1: iteration u32 ; 2: seed (32) }
//! ```
//! Parsing is strict: unknown fields, missing fields, repeated chain ids, out-of-order
//! or out-of-range skipped iterations, a private key that does not match its public key
//! and counts past the limits are errors.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use zeroize::Zeroizing;

use alloc::boxed::Box;

use super::chain::SenderChainKey;
use super::state::SenderKeyState;
use super::{MAX_SENDER_KEY_STATES, MAX_SENDER_MESSAGE_KEYS};
use crate::crypto::xeddsa::{SigningKey, VerifyingKey};
use crate::crypto::{PrivateKey, PublicKey};
use crate::error::DecodeError;
use crate::ratchet::skipped::{KeysDelta, SkippedKeys};
use crate::wire::proto::{
    Reader, count_fields, open_record, put_bytes, put_nested, put_nested_sized, put_uint,
    write_record,
};

/// Every sender-key chain we hold for one sender and distribution id, newest first
/// (at most [`MAX_SENDER_KEY_STATES`]). The sender's own record holds its sending chain
/// with the private signing key.
///
/// Apps keep it in their [`ProtocolStore`](crate::store::ProtocolStore), apply each
/// operation's [`SenderKeyChange`] with [`SenderKeyRecord::apply`], and persist
/// [`SenderKeyRecord::serialize`]'s bytes, which are secret.
///
/// ```
/// use missive::{Device, DistributionId, IdentityKeyPair, ProtocolAddress, SenderKeyRecord};
/// use missive::store::memory::InMemSignalProtocolStore;
/// # use rand_core::SeedableRng;
/// # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
/// let alice_at = ProtocolAddress::new("alice", 1);
/// let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 1);
/// let mut alice = Device::new(alice_at.clone(), store);
/// let group = DistributionId::random(&mut rng);
/// alice.sender_key_distribution_message(group, &mut rng)?;
/// let record = alice.store().sender_key_store.sender_key(&alice_at, group).expect("created");
/// assert_eq!(record.state_count(), 1);
/// let bytes = record.serialize();
/// assert_eq!(SenderKeyRecord::deserialize(&bytes)?.serialize(), bytes);
/// # Ok::<(), missive::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct SenderKeyRecord {
    // Boxed so that the deque and the store's map move pointers, never chain keys.
    pub(crate) states: VecDeque<Box<SenderKeyState>>,
}

/// What one group operation changes in one [`SenderKeyRecord`]: part of a
/// [`ChangeSet`](crate::store::ChangeSet).
pub struct SenderKeyChange {
    pub(crate) kind: SenderKeyChangeKind,
}

pub(crate) enum SenderKeyChangeKind {
    /// Chain `chain_id` (with this signing key) moved to `chain_key`; its stored seeds
    /// change by `delta`.
    Advance {
        chain_id: u32,
        signing_key: PublicKey,
        /// The chain's iteration when the change was computed: a change computed from a
        /// chain that has moved since is refused (it would reuse a chain step).
        from_iteration: u32,
        chain_key: SenderChainKey,
        delta: KeysDelta,
        /// The chain's signing key ready to verify, when this message had to rebuild it
        /// (kept in the state from then on).
        verifier: Option<Box<VerifyingKey>>,
    },
    /// A chain is added as [`SenderKeyRecord::add_state`] does.
    Add(Box<SenderKeyState>),
    /// The record becomes this one chain (our own rotation).
    Replace(Box<SenderKeyState>),
}

impl SenderKeyChange {
    /// True when the change only advances a chain (a group message sent or received).
    pub fn is_advance(&self) -> bool {
        matches!(self.kind, SenderKeyChangeKind::Advance { .. })
    }
}

impl fmt::Debug for SenderKeyChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, chain_id) = match &self.kind {
            SenderKeyChangeKind::Advance { chain_id, .. } => ("advance", *chain_id),
            SenderKeyChangeKind::Add(s) => ("add", s.chain_id),
            SenderKeyChangeKind::Replace(s) => ("replace", s.chain_id),
        };
        f.debug_struct("SenderKeyChange")
            .field("kind", &kind)
            .field("chain_id", &chain_id)
            .finish()
    }
}

impl SenderKeyRecord {
    /// A record with no chains.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many chains the record holds.
    pub fn state_count(&self) -> usize {
        self.states.len()
    }

    /// The chain ids held, newest first.
    pub fn chain_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.states.iter().map(|s| s.chain_id)
    }

    /// Index of the state with this chain id.
    pub(crate) fn position(&self, chain_id: u32) -> Option<usize> {
        self.states.iter().position(|s| s.chain_id == chain_id)
    }

    /// Adds a chain as libsignal does (observed, `docs/PROTOCOL.md` §11): a state with the
    /// same chain id *and* the same signing key is kept as it is (so an old distribution
    /// message replayed cannot rewind a chain) and becomes the newest; a state with the
    /// same chain id and another signing key is replaced; otherwise the new state is
    /// added. The newest state is first, and the oldest beyond
    /// [`MAX_SENDER_KEY_STATES`] are dropped.
    pub(crate) fn add_state(&mut self, state: Box<SenderKeyState>) {
        let existing = self
            .position(state.chain_id)
            .and_then(|i| self.states.remove(i));
        let keep = match existing {
            Some(old) if old.signing_key == state.signing_key => old,
            _ => state,
        };
        self.states.push_front(keep);
        self.states.truncate(MAX_SENDER_KEY_STATES);
    }

    /// Whether [`SenderKeyRecord::apply`] would accept `change`: it was computed from
    /// this record.
    pub fn can_apply(&self, change: &SenderKeyChange) -> bool {
        match &change.kind {
            SenderKeyChangeKind::Advance {
                chain_id,
                signing_key,
                from_iteration,
                delta,
                ..
            } => self
                .position(*chain_id)
                .and_then(|i| self.states.get(i))
                .is_some_and(|s| {
                    &s.signing_key == signing_key
                        && s.chain_key.iteration() == *from_iteration
                        && delta.fits(&s.skipped)
                }),
            SenderKeyChangeKind::Add(_) | SenderKeyChangeKind::Replace(_) => true,
        }
    }

    /// Applies a group operation's change; on
    /// [`StoreError::conflict`](crate::StoreError::conflict) nothing is changed.
    pub fn apply(&mut self, change: SenderKeyChange) -> Result<(), crate::StoreError> {
        if !self.can_apply(&change) {
            return Err(crate::StoreError::conflict());
        }
        match change.kind {
            SenderKeyChangeKind::Advance {
                chain_id,
                chain_key,
                delta,
                verifier,
                ..
            } => {
                if let Some(s) = self.position(chain_id).and_then(|i| self.states.get_mut(i)) {
                    s.chain_key = chain_key;
                    delta.apply(&mut s.skipped);
                    if let Some(v) = verifier
                        && v.public_key() == &s.signing_key
                    {
                        s.verifier = Some(v);
                    }
                }
            }
            SenderKeyChangeKind::Add(state) => self.add_state(state),
            SenderKeyChangeKind::Replace(state) => {
                self.states.clear();
                self.states.push_back(state);
            }
        }
        Ok(())
    }

    /// The versioned serialization (secret: zeroized on drop).
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        // Sized up front: a buffer that grows leaves a copy of its keys in the block it
        // frees.
        let total: usize = 16
            + self
                .states
                .iter()
                .map(|s| 8 + state_len_bound(s))
                .sum::<usize>();
        write_record(total, |out| {
            for s in &self.states {
                put_nested_sized(out, 1, state_len_bound(s), |o| encode_state(s, o));
            }
            // Written last and required: a record cut at a field boundary (a torn write)
            // is refused instead of read as one with fewer chains.
            put_uint(out, 2, self.states.len() as u64);
        })
    }

    /// Parses [`SenderKeyRecord::serialize`]'s output.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open_record(bytes)?;
        // Sized up front, as the skipped keys below: a collection that grows leaves a
        // copy of its keys in the block it frees.
        let states = count_fields(bytes.get(1..).unwrap_or(&[]), 1).min(MAX_SENDER_KEY_STATES);
        let mut states: VecDeque<Box<SenderKeyState>> = VecDeque::with_capacity(states);
        let mut count = None;
        while let Some((n, v)) = r.field()? {
            if count.is_some() {
                return Err(DecodeError::Malformed); // nothing may follow the count
            }
            match n {
                1 => {
                    if states.len() >= MAX_SENDER_KEY_STATES {
                        return Err(DecodeError::BadLength);
                    }
                    let s = decode_state(v.as_bytes()?)?;
                    if states.iter().any(|o| o.chain_id == s.chain_id) {
                        return Err(DecodeError::Malformed);
                    }
                    states.push_back(Box::new(s));
                }
                2 => count = Some(v.as_u64()?),
                _ => return Err(DecodeError::Malformed),
            }
        }
        if count != Some(states.len() as u64) {
            return Err(DecodeError::MissingField);
        }
        Ok(SenderKeyRecord { states })
    }
}

impl fmt::Debug for SenderKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyRecord")
            .field("states", &self.states)
            .finish()
    }
}

/// An upper bound on `encode_state`'s output: the fixed fields (chain id and iteration
/// varints, chain key, signing key, private key: at most 115 bytes with their tags) and
/// 42 bytes per skipped key (tag, length, counter varint, 32-byte seed).
fn state_len_bound(s: &SenderKeyState) -> usize {
    128 + 44 * s.skipped.len()
}

fn encode_state(s: &SenderKeyState, out: &mut Vec<u8>) {
    put_uint(out, 1, u64::from(s.chain_id));
    put_uint(out, 2, u64::from(s.chain_key.iteration()));
    put_bytes(out, 3, s.chain_key.key());
    put_bytes(out, 4, &s.signing_key.serialize());
    if let Some(p) = &s.signing_private {
        put_bytes(out, 5, p.private_key().to_bytes().as_ref());
    }
    for e in s.skipped.iter() {
        put_nested(out, 6, |o| {
            put_uint(o, 1, u64::from(e.n));
            put_bytes(o, 2, &e.key);
        });
    }
}

fn decode_state(bytes: &[u8]) -> Result<SenderKeyState, DecodeError> {
    let mut r = Reader::new(bytes);
    let (mut chain_id, mut iteration, mut chain_key, mut signing_key, mut private) =
        (None, None, None, None, None);
    let mut skipped =
        SkippedKeys::with_capacity(count_fields(bytes, 6).min(MAX_SENDER_MESSAGE_KEYS));
    while let Some((n, v)) = r.field()? {
        match n {
            1 => chain_id = Some(v.as_u32()?),
            2 => iteration = Some(v.as_u32()?),
            3 => chain_key = Some(Zeroizing::new(key32(v.as_bytes()?)?)),
            4 => signing_key = Some(PublicKey::deserialize(v.as_bytes()?)?),
            5 => private = Some(PrivateKey::deserialize(v.as_bytes()?)?),
            6 => {
                if skipped.len() >= MAX_SENDER_MESSAGE_KEYS {
                    return Err(DecodeError::BadLength);
                }
                let mut s = Reader::new(v.as_bytes()?);
                let (mut it, mut seed) = (None, None);
                while let Some((n, v)) = s.field()? {
                    match n {
                        1 => it = Some(v.as_u32()?),
                        2 => seed = Some(Zeroizing::new(key32(v.as_bytes()?)?)),
                        _ => return Err(DecodeError::Malformed),
                    }
                }
                let it = it.ok_or(DecodeError::MissingField)?;
                let seed = seed.ok_or(DecodeError::MissingField)?;
                // Skipped iterations are strictly increasing: what decryption writes, and
                // what its lookups assume.
                if !skipped.push(it, &seed) {
                    return Err(DecodeError::Malformed);
                }
            }
            _ => return Err(DecodeError::Malformed),
        }
    }
    let iteration = iteration.ok_or(DecodeError::MissingField)?;
    let signing_key = signing_key.ok_or(DecodeError::MissingField)?;
    // The private key's points are recomputed (one fixed-base multiplication, as the
    // check of its public key needs anyway), never read.
    let private = private.map(SigningKey::new);
    if private
        .as_ref()
        .is_some_and(|p| p.public_key() != &signing_key)
    {
        return Err(DecodeError::InvalidKey);
    }
    // ... and behind the chain.
    if skipped.last().is_some_and(|i| i >= iteration) {
        return Err(DecodeError::Malformed);
    }
    let key = chain_key.ok_or(DecodeError::MissingField)?;
    Ok(SenderKeyState {
        chain_id: chain_id.ok_or(DecodeError::MissingField)?,
        chain_key: SenderChainKey::new(iteration, *key),
        signing_key,
        signing_private: private.map(Box::new),
        verifier: None,
        skipped,
    })
}

fn key32(b: &[u8]) -> Result<[u8; 32], DecodeError> {
    b.try_into().map_err(|_| DecodeError::BadLength)
}

#[cfg(test)]
mod tests;

//! A session record: the current session with a peer plus archived ones, and its
//! versioned serialization.
//!
//! ```text
//! record  = 0x01 ‖ protobuf{ 1: current state (optional), 2: archived state (repeated,
//!                            newest first), 3: number of archived states (last) }
//! state   = protobuf{ 1: version, 2: local identity, 3: remote identity, 4: local reg id,
//!                     5: remote reg id, 6: root key, 7: sender ratchet public, 8: sender
//!                     ratchet private, 9: sender chain key, 10: sender chain index,
//!                     11: receiver chain (repeated, oldest first), 12: previous counter,
//!                     13: pending prekey (optional), 14: base key, 15: SPQR state (v4) }
//! chain   = protobuf{ 1: ratchet key, 2: chain key, 3: index, 4: skipped (repeated) }
//! skipped = protobuf{ 1: counter, 2: seed }
//! pending = protobuf{ 1: prekey id (optional), 2: signed prekey id, 3: base key,
//!                     4: Kyber prekey id (v4), 5: Kyber ciphertext (v4), 6: timestamp }
//! ```
//! Parsing is strict: unknown fields, missing fields and out-of-bound counts are errors.
//! Archived states carry no pending prekey (it is dropped when a session is archived,
//! and when an archived state that has one is read).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt;

use zeroize::Zeroizing;

use super::state::{
    HeadStamp, PendingPreKey, SenderChain, SessionHead, SessionState, StoredDelta, StoredKeys,
};
use crate::crypto::{KemCiphertext, KeyPair, PrivateKey, PublicKey};
use crate::error::{DecodeError, StoreError};
use crate::keys::{IdentityKey, KyberPreKeyId, PreKeyId, SignedPreKeyId};
use crate::ratchet::chain::{MAX_SKIPPED_KEYS_PER_CHAIN, ReceiverChain, Receivers};
use crate::ratchet::keys::{ChainKey, RootKey};
use crate::ratchet::skipped::{KeysDelta, SkippedKeys};
use crate::ratchet::spqr::{MAX_SKIPPED_DISTANCE, SpqrHead};
use crate::wire::proto::{
    Reader, count_fields, open_record, put_bytes, put_nested, put_nested_sized, put_uint,
    varint_len, write_record, write_sized,
};
use crate::wire::{VERSION_PQXDH, VERSION_X3DH};

/// Archived sessions kept per record by default (libsignal's value): enough for the
/// re-initiations of a busy contact, bounded so a record cannot grow without limit.
pub const DEFAULT_MAX_ARCHIVED_SESSIONS: usize = 40;

/// The largest number of archived sessions a serialized record may hold, whatever the
/// store's setting: a bound on what a corrupted or hostile record can make us allocate.
pub const MAX_ARCHIVED_SESSIONS_LIMIT: usize = 1_000;

/// All sessions with one peer device: the current one and archived ones, newest first.
///
/// Apps persist it with [`SessionRecord::serialize`] (the bytes hold secrets: keep them
/// encrypted at rest) and read it back with [`SessionRecord::deserialize`], which refuses
/// any damaged or truncated record. A store that keeps records applies each operation's
/// [`SessionChange`] with [`SessionRecord::apply`].
///
/// ```
/// use missive::SessionRecord;
/// let empty = SessionRecord::new();
/// let bytes = empty.serialize();
/// let back = SessionRecord::deserialize(&bytes).unwrap();
/// assert!(!back.has_current_session());
/// assert!(SessionRecord::deserialize(&bytes[..1]).is_err());
/// ```
#[derive(Clone, Default)]
pub struct SessionRecord {
    // Boxed: the states move between the current slot and the archive, and the record
    // itself moves inside a store's map. Behind a box, a move copies a pointer, never
    // key bytes into a block that is then freed unwiped.
    pub(crate) current: Option<Box<SessionState>>,
    pub(crate) previous: VecDeque<Box<SessionState>>,
}

/// What one operation changes in one [`SessionRecord`]: part of a
/// [`ChangeSet`](crate::store::ChangeSet).
///
/// An ordinary message changes only the current session's head and the few stored keys
/// it used or skipped ([`SessionChange::replaces_current`] is false): apply it and
/// persist the current session; the archive and the other stored keys are as they were.
/// A new session, a promoted archived session or a reset rearranges the record.
pub struct SessionChange {
    pub(crate) kind: ChangeKind,
}

// The stamp (about 200 bytes of public values) stays inline: boxing it would cost an
// allocation per message to save copying it.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ChangeKind {
    /// The current session (`archived: None`) or archived session `i` advanced; an
    /// archived one then becomes current, the current one archived.
    ///
    /// The head is boxed as the record keeps it: applying the change swaps the boxes
    /// (the old head wipes itself as it is dropped), so neither the change nor the
    /// commit copies a head, and no head's keys are left in a freed block.
    Advance {
        archived: Option<usize>,
        /// The stamp of the head the change was computed from.
        from: HeadStamp,
        head: Box<SessionHead>,
        delta: StoredDelta,
        keep_archived: usize,
    },
    /// A new session becomes current; the current one is archived.
    New {
        state: Box<SessionState>,
        keep_archived: usize,
    },
    /// The current session is archived.
    Archive { keep_archived: usize },
}

impl SessionChange {
    /// True when the change rearranges the record (a new session, an archived session
    /// promoted, a reset): a store that keeps the current session apart from the archive
    /// rewrites both. False for an ordinary message, which changes the current session
    /// only.
    pub fn replaces_current(&self) -> bool {
        !matches!(self.kind, ChangeKind::Advance { archived: None, .. })
    }

    /// True when the change creates a session (bundle processed, or a prekey message
    /// that built one).
    pub fn creates_session(&self) -> bool {
        matches!(self.kind, ChangeKind::New { .. })
    }

    /// What an ordinary message ([`SessionChange::replaces_current`] false) changes in
    /// the current session's stored keys, one row operation each, in the order to apply
    /// them: for a store that keeps stored keys as rows beside the session's head
    /// ([`SessionRecord::serialize_current_head`]). Empty for an in-order message (except
    /// a [`StoredKeyChange::RemoveChain`] when the message moves the session to a new SPQR
    /// epoch), and for a change that replaces the current session (rewrite it whole).
    pub fn stored_key_changes(&self) -> Vec<StoredKeyChange<'_>> {
        let mut out = Vec::new();
        let ChangeKind::Advance {
            archived: None,
            delta,
            ..
        } = &self.kind
        else {
            return out;
        };
        if let Some(k) = &delta.evicted {
            out.push(StoredKeyChange::RemoveChain {
                chain: KeyChain::Ratchet(*k),
            });
        }
        fn keys<'a>(out: &mut Vec<StoredKeyChange<'a>>, chain: KeyChain, d: &'a KeysDelta) {
            if let Some(n) = d.consumed {
                out.push(StoredKeyChange::Remove { chain, n });
            }
            for e in d.added.iter() {
                out.push(StoredKeyChange::Insert {
                    chain,
                    n: e.n,
                    key: &e.key,
                });
            }
            if let Some(n) = d.drop_below {
                out.push(StoredKeyChange::RemoveBelow { chain, n });
            }
        }
        if let Some((k, d)) = &delta.chain {
            keys(&mut out, KeyChain::Ratchet(*k), d);
        }
        if let Some(epoch) = delta.spqr.evicted {
            out.push(StoredKeyChange::RemoveChain {
                chain: KeyChain::PostQuantum { epoch },
            });
        }
        let pq = KeyChain::PostQuantum {
            epoch: delta.spqr.epoch,
        };
        keys(&mut out, pq, &delta.spqr.keys);
        out
    }
}

/// Which chain a stored key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyChain {
    /// A Double Ratchet receiving chain, by the peer's ratchet key: the key is a message
    /// seed, by message counter.
    Ratchet(PublicKey),
    /// The SPQR receiving chain of one epoch: the key is an SPQR message key, by SPQR
    /// index. At most two epochs hold keys at a time; a [`StoredKeyChange::RemoveChain`]
    /// retires the older one when the session moves to a new epoch.
    PostQuantum {
        /// The epoch (≥ 1).
        epoch: u64,
    },
}

/// One row operation on a session's stored keys (see
/// [`SessionChange::stored_key_changes`]). `Debug` does not print keys.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StoredKeyChange<'a> {
    /// Store `key` for message `n` of `chain`.
    Insert {
        /// The chain.
        chain: KeyChain,
        /// The message counter (or SPQR index).
        n: u32,
        /// The secret (32 bytes): keep it encrypted at rest.
        key: &'a [u8; 32],
    },
    /// Delete the key of message `n` (it was used).
    Remove {
        /// The chain.
        chain: KeyChain,
        /// The message counter (or SPQR index).
        n: u32,
    },
    /// Delete every key of `chain` below `n` (aged out).
    RemoveBelow {
        /// The chain.
        chain: KeyChain,
        /// The first counter (or index) kept.
        n: u32,
    },
    /// Delete every key of `chain` (the receiving chain was dropped).
    RemoveChain {
        /// The chain.
        chain: KeyChain,
    },
}

impl fmt::Debug for StoredKeyChange<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredKeyChange::Insert { chain, n, .. } => f
                .debug_struct("Insert")
                .field("chain", chain)
                .field("n", n)
                .finish_non_exhaustive(),
            StoredKeyChange::Remove { chain, n } => f
                .debug_struct("Remove")
                .field("chain", chain)
                .field("n", n)
                .finish(),
            StoredKeyChange::RemoveBelow { chain, n } => f
                .debug_struct("RemoveBelow")
                .field("chain", chain)
                .field("n", n)
                .finish(),
            StoredKeyChange::RemoveChain { chain } => {
                f.debug_struct("RemoveChain").field("chain", chain).finish()
            }
        }
    }
}

impl fmt::Debug for SessionChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            ChangeKind::Advance { archived: None, .. } => "advance current",
            ChangeKind::Advance { .. } => "promote archived",
            ChangeKind::New { .. } => "new session",
            ChangeKind::Archive { .. } => "archive current",
        };
        f.debug_struct("SessionChange")
            .field("kind", &kind)
            .field("stored_key_changes", &self.stored_key_changes().len())
            .finish()
    }
}

impl SessionRecord {
    /// A record with no sessions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether there is a current session.
    pub fn has_current_session(&self) -> bool {
        self.current.is_some()
    }

    /// Whether the current session can send at `now` (it exists and, if we initiated it
    /// and have had no reply, it is not older than
    /// [`MAX_UNACKNOWLEDGED_SESSION_AGE_MS`](crate::MAX_UNACKNOWLEDGED_SESSION_AGE_MS)).
    pub fn has_usable_sender_chain(&self, now: crate::Timestamp) -> bool {
        self.current
            .as_ref()
            .is_some_and(|s| s.head.usable_for_sending(now.as_millis()))
    }

    /// The protocol version of the current session (3 or 4).
    pub fn session_version(&self) -> Option<u8> {
        self.current.as_ref().map(|s| s.head.version)
    }

    /// Our registration id as recorded in the current session.
    pub fn local_registration_id(&self) -> Option<u32> {
        self.current.as_ref().map(|s| s.head.local_registration_id)
    }

    /// The peer's registration id as recorded in the current session.
    pub fn remote_registration_id(&self) -> Option<u32> {
        self.current.as_ref().map(|s| s.head.remote_registration_id)
    }

    /// The peer's identity in the current session.
    pub fn remote_identity(&self) -> Option<&IdentityKey> {
        self.current.as_ref().map(|s| &s.head.remote_identity)
    }

    /// Number of archived sessions.
    pub fn archived_count(&self) -> usize {
        self.previous.len()
    }

    /// How many skipped-message keys the current session stores (Double Ratchet seeds and
    /// SPQR keys together).
    pub fn stored_key_count(&self) -> usize {
        self.current.as_ref().map_or(0, |s| s.keys.len())
    }

    /// Moves the current session to the archive (e.g. when the app resets the session),
    /// keeping at most `max_archived` archived sessions (never more than
    /// [`MAX_ARCHIVED_SESSIONS_LIMIT`], so that the record stays readable).
    ///
    /// The archived session drops its pending prekey data (with a v4 session's 1,568-byte
    /// Kyber ciphertext), as libsignal does: only the current session sends, and an
    /// archived one becomes current again only by decrypting a message, which clears
    /// that data anyway.
    pub fn archive_current_state(&mut self, max_archived: usize) {
        if let Some(mut s) = self.current.take() {
            s.head.pending_prekey = None;
            self.previous.push_front(s);
        }
        self.previous
            .truncate(max_archived.min(MAX_ARCHIVED_SESSIONS_LIMIT));
    }

    /// Whether [`SessionRecord::apply`] would accept `change`: it was computed from this
    /// record (the session it advances is where it was, with the stored keys it uses).
    pub fn can_apply(&self, change: &SessionChange) -> bool {
        match &change.kind {
            ChangeKind::Advance {
                archived,
                from,
                head,
                delta,
                ..
            } => {
                let state = match archived {
                    None => self.current.as_deref(),
                    Some(i) => self.previous.get(*i).map(|b| &**b),
                };
                state.is_some_and(|s| {
                    s.head.base_key == head.base_key
                        && &s.head.stamp() == from
                        && s.keys.fits(delta)
                })
            }
            ChangeKind::New { .. } | ChangeKind::Archive { .. } => true,
        }
    }

    /// Applies an operation's change; on [`StoreError::conflict`] (the change was not
    /// computed from this record) nothing is changed.
    pub fn apply(&mut self, change: SessionChange) -> Result<(), StoreError> {
        if !self.can_apply(&change) {
            return Err(StoreError::conflict());
        }
        match change.kind {
            ChangeKind::Advance {
                archived: None,
                head,
                delta,
                ..
            } => {
                if let Some(s) = self.current.as_deref_mut() {
                    // The old head is dropped in place, and wipes itself.
                    s.head = head;
                    s.keys.apply(&delta);
                }
            }
            ChangeKind::Advance {
                archived: Some(i),
                head,
                delta,
                keep_archived,
                ..
            } => {
                if let Some(mut s) = self.previous.remove(i) {
                    s.head = head;
                    s.keys.apply(&delta);
                    self.archive_current_state(keep_archived);
                    self.current = Some(s);
                }
            }
            ChangeKind::New {
                state,
                keep_archived,
            } => {
                self.archive_current_state(keep_archived);
                self.current = Some(state);
            }
            ChangeKind::Archive { keep_archived } => self.archive_current_state(keep_archived),
        }
        Ok(())
    }

    /// Finds the session built from this base key: `Some(None)` for the current one,
    /// `Some(Some(i))` for archived session `i`.
    pub(crate) fn find_by_base_key(
        &self,
        version: u8,
        base_key: &PublicKey,
    ) -> Option<Option<usize>> {
        let m = |s: &SessionState| s.head.version == version && &s.head.base_key == base_key;
        if self.current.as_deref().is_some_and(m) {
            return Some(None);
        }
        self.previous.iter().position(|s| m(s)).map(Some)
    }

    /// The session at `slot` (`None`: current; `Some(i)`: archived `i`).
    pub(crate) fn state(&self, slot: Option<usize>) -> Option<&SessionState> {
        match slot {
            None => self.current.as_deref(),
            Some(i) => self.previous.get(i).map(|b| &**b),
        }
    }

    /// The versioned serialization (contains secrets: zeroized on drop).
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        self.serialize_sessions(true)
    }

    /// The archived sessions alone, in the record encoding (a record with no current
    /// session): what a store that keeps the current session apart writes when a change
    /// [replaces the current session](SessionChange::replaces_current). Read back with
    /// [`SessionRecord::from_parts`].
    pub fn serialize_archive(&self) -> Zeroizing<Vec<u8>> {
        self.serialize_sessions(false)
    }

    fn serialize_sessions(&self, with_current: bool) -> Zeroizing<Vec<u8>> {
        let current = self.current.as_ref().filter(|_| with_current);
        // Sized up front: a buffer that grows leaves a copy of its secrets behind.
        write_record(self.len_bound(with_current), |out| {
            if let Some(s) = current {
                put_nested_sized(out, 1, state_len_bound(s), |o| encode_state(s, o));
            }
            for s in &self.previous {
                put_nested_sized(out, 2, state_len_bound(s), |o| encode_state(s, o));
            }
            // Written last and required: a record cut at a field boundary (a torn write)
            // is refused instead of read as one with fewer sessions.
            put_uint(out, 3, self.previous.len() as u64);
        })
    }

    /// The largest encoding of this record (with or without its current session): the
    /// format byte, each session as a field, and the count field.
    fn len_bound(&self, with_current: bool) -> usize {
        let current = self.current.as_ref().filter(|_| with_current);
        let sessions = current
            .into_iter()
            .chain(self.previous.iter())
            .map(|s| field_len(state_len_bound(s)))
            .sum::<usize>();
        1 + sessions + 1 + varint_len(self.previous.len() as u64)
    }

    /// The current session without its stored keys, in the state encoding (§8.4 of
    /// docs/PROTOCOL.md with no skipped seeds and no SPQR keys): what a store that keeps
    /// the current session apart writes after an ordinary message. Under 5 KB (the SPQR
    /// braid's key and ciphertext in progress are most of it; 7 KB while the session is
    /// unacknowledged), whatever the record holds.
    pub fn serialize_current_head(&self) -> Option<Zeroizing<Vec<u8>>> {
        let s = self.current.as_ref()?;
        let empty = StoredKeys::default();
        let bound = parts_len_bound(&s.head, &empty);
        Some(write_sized(bound, |o| encode_parts(&s.head, &empty, o)))
    }

    /// Every stored key of the current session as a row (chain, message counter or SPQR
    /// index, key), in ascending order per chain: what a store that keeps stored keys as
    /// rows writes when a change replaces the current session. The keys are secrets: keep
    /// them encrypted at rest.
    pub fn current_stored_keys(&self) -> impl Iterator<Item = (KeyChain, u32, &[u8; 32])> + '_ {
        let keys = self.current.as_deref().map(|s| &s.keys);
        let ratchet = keys.into_iter().flat_map(|k| {
            k.chains
                .iter()
                .flat_map(|(c, s)| s.iter().map(move |e| (KeyChain::Ratchet(*c), e.n, &e.key)))
        });
        let spqr = keys
            .into_iter()
            .flat_map(|k| k.spqr.iter())
            .flat_map(|(epoch, s)| {
                s.iter()
                    .map(move |e| (KeyChain::PostQuantum { epoch }, e.n, &e.key))
            });
        ratchet.chain(spqr)
    }

    /// Rebuilds a record from the parts a store keeps apart: the current session's head
    /// ([`SessionRecord::serialize_current_head`]; `None` when there is no current
    /// session), its stored keys as rows ([`SessionRecord::current_stored_keys`], each
    /// chain's rows in ascending order) and the archive
    /// ([`SessionRecord::serialize_archive`]; `None` for no archived session).
    ///
    /// As strict as [`SessionRecord::deserialize`]: a row of a chain the head does not
    /// have, out of order, beyond a bound or ahead of its chain, a head that carries
    /// stored keys itself, or an archive with a current session is refused.
    pub fn from_parts<K: core::ops::Deref<Target = [u8; 32]>>(
        head: Option<&[u8]>,
        stored_keys: impl IntoIterator<Item = (KeyChain, u32, K)>,
        archive: Option<&[u8]>,
    ) -> Result<Self, DecodeError> {
        let mut rec = match archive {
            Some(bytes) => SessionRecord::deserialize(bytes)?,
            None => SessionRecord::new(),
        };
        if rec.current.is_some() {
            return Err(DecodeError::Malformed);
        }
        let mut rows = stored_keys.into_iter().peekable();
        let Some(head) = head else {
            return match rows.peek() {
                Some(_) => Err(DecodeError::Malformed),
                None => Ok(rec),
            };
        };
        let state = decode_state(head)?;
        if state.keys.len() > 0 {
            return Err(DecodeError::Malformed);
        }
        let mut keys = StoredKeys::default();
        for (chain, n, key) in rows {
            let added = match chain {
                KeyChain::Ratchet(k) => {
                    if state.head.receivers.find(&k).is_none() {
                        return Err(DecodeError::Malformed);
                    }
                    if keys.chain(&k).is_none() {
                        keys.chains.push((k, SkippedKeys::new()));
                    }
                    match keys.chains.iter_mut().find(|(c, _)| *c == k) {
                        Some((_, s)) if s.len() < MAX_SKIPPED_KEYS_PER_CHAIN => s.push(n, &key),
                        Some(_) => return Err(DecodeError::BadLength),
                        None => false,
                    }
                }
                KeyChain::PostQuantum { epoch } => {
                    if state.head.spqr.is_none() {
                        return Err(DecodeError::Malformed);
                    }
                    // Two epochs' windows at most (the decoder checks each).
                    if keys.spqr.len() >= 2 * MAX_SKIPPED_DISTANCE as usize {
                        return Err(DecodeError::BadLength);
                    }
                    keys.spqr.push(epoch, n, &key)
                }
            };
            if !added {
                return Err(DecodeError::Malformed);
            }
        }
        // Every other invariant (keys behind their chain, inside the SPQR window) is the
        // full state decoder's: encode the parts as one state and read it back.
        let bound = parts_len_bound(&state.head, &keys);
        let whole = write_sized(bound, |o| encode_parts(&state.head, &keys, o));
        let rows = keys.len();
        drop(keys);
        drop(state);
        let current = decode_state(&whole)?;
        // The state encoding holds SPQR keys of the head's epoch and the one before only:
        // a row of any other epoch was left out of it, and is refused.
        if current.keys.len() != rows {
            return Err(DecodeError::Malformed);
        }
        rec.current = Some(Box::new(current));
        Ok(rec)
    }

    /// Parses [`SessionRecord::serialize`]'s output.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = open_record(bytes)?;
        let archived =
            count_fields(bytes.get(1..).unwrap_or(&[]), 2).min(MAX_ARCHIVED_SESSIONS_LIMIT);
        let mut rec = SessionRecord {
            current: None,
            previous: VecDeque::with_capacity(archived),
        };
        let mut count = None;
        while let Some((n, value)) = r.field()? {
            if count.is_some() {
                return Err(DecodeError::Malformed);
            }
            match n {
                3 => count = Some(value.as_u64()?),
                1 if rec.current.is_none() => {
                    rec.current = Some(Box::new(decode_state(value.as_bytes()?)?))
                }
                2 => {
                    if rec.previous.len() >= MAX_ARCHIVED_SESSIONS_LIMIT {
                        return Err(DecodeError::BadLength);
                    }
                    let mut s = Box::new(decode_state(value.as_bytes()?)?);
                    // Checked, then dropped: archived sessions keep no pending prekey data
                    // (`archive_current_state`); records written before that still hold it.
                    s.head.pending_prekey = None;
                    rec.previous.push_back(s)
                }
                _ => return Err(DecodeError::Malformed),
            }
        }
        if count != Some(rec.previous.len() as u64) {
            return Err(DecodeError::MissingField);
        }
        Ok(rec)
    }
}

impl fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionRecord")
            .field("current_version", &self.session_version())
            .field("archived", &self.previous.len())
            .finish_non_exhaustive()
    }
}

/// The encoded length of a length-delimited field whose contents take `len` bytes: the
/// record's field numbers are below 16, so the tag is one byte.
const fn field_len(len: usize) -> usize {
    1 + varint_len(len as u64) + len
}

/// A state's fields other than its receiving chains, pending prekey data and SPQR
/// state, each at its largest: version 2, two identity keys 35 each, two registration
/// ids 6 each, root key 34, sending ratchet key 35 and its private key 34, sending chain
/// key 34 and index 6, previous counter 6, base key 35.
const FIXED_LEN: usize = 2 + 2 * 35 + 2 * 6 + 34 + 35 + 34 + 34 + 6 + 6 + 35;

/// The largest contents of a receiving chain with `skipped` seeds: ratchet key 35, chain
/// key 34, index 6; each seed a field of 42 (counter 6 and seed 34, nested).
fn chain_len_bound(skipped: usize) -> usize {
    75 + 42 * skipped
}

/// The largest contents of pending prekey data: prekey, signed prekey and Kyber prekey
/// ids 6 each, base key 35, Kyber ciphertext 1,572, timestamp 11.
const PENDING_LEN_BOUND: usize = 3 * 6 + 35 + 1_572 + 11;

/// The largest encoding of a state with `h`'s chains and `keys`' stored keys: exact for
/// the largest values of every field (each varint at its widest, pending data with a
/// Kyber ciphertext, the largest SPQR state), so that a bound too low is seen at once
/// (the buffer regrows and the writer's assertion fails) and one too high by the tests
/// that require it exact.
fn parts_len_bound(h: &SessionHead, keys: &StoredKeys) -> usize {
    let chains = h
        .receivers
        .iter()
        .map(|c| {
            let skipped = keys.chain(&c.ratchet_key).map_or(0, SkippedKeys::len);
            field_len(chain_len_bound(skipped))
        })
        .sum::<usize>();
    let pending = h
        .pending_prekey
        .as_ref()
        .map_or(0, |_| field_len(PENDING_LEN_BOUND));
    let spqr = h
        .spqr
        .as_ref()
        .map_or(0, |_| field_len(SpqrHead::serialized_len(keys.spqr.len())));
    FIXED_LEN + chains + pending + spqr
}

/// The largest encoding of a state (see [`parts_len_bound`]).
fn state_len_bound(s: &SessionState) -> usize {
    parts_len_bound(&s.head, &s.keys)
}

fn encode_state(s: &SessionState, o: &mut Vec<u8>) {
    encode_parts(&s.head, &s.keys, o)
}

fn encode_parts(s: &SessionHead, keys: &StoredKeys, o: &mut Vec<u8>) {
    put_uint(o, 1, u64::from(s.version));
    put_bytes(o, 2, &s.local_identity.serialize());
    put_bytes(o, 3, &s.remote_identity.serialize());
    put_uint(o, 4, u64::from(s.local_registration_id));
    put_uint(o, 5, u64::from(s.remote_registration_id));
    put_bytes(o, 6, s.root_key.as_bytes());
    put_bytes(o, 7, &s.sender.ratchet.public_key().serialize());
    put_bytes(o, 8, s.sender.ratchet.private_key().to_bytes().as_ref());
    put_bytes(o, 9, s.sender.chain_key.key());
    put_uint(o, 10, u64::from(s.sender.chain_key.index()));
    for c in s.receivers.iter() {
        let skipped = keys.chain(&c.ratchet_key);
        put_nested_sized(
            o,
            11,
            chain_len_bound(skipped.map_or(0, SkippedKeys::len)),
            |o| {
                put_bytes(o, 1, &c.ratchet_key.serialize());
                put_bytes(o, 2, c.chain_key.key());
                put_uint(o, 3, u64::from(c.chain_key.index()));
                for e in skipped.into_iter().flat_map(SkippedKeys::iter) {
                    put_nested(o, 4, |o| {
                        put_uint(o, 1, u64::from(e.n));
                        put_bytes(o, 2, &e.key);
                    });
                }
            },
        );
    }
    put_uint(o, 12, u64::from(s.previous_counter));
    if let Some(p) = &s.pending_prekey {
        put_nested_sized(o, 13, PENDING_LEN_BOUND, |o| {
            if let Some(id) = p.pre_key_id {
                put_uint(o, 1, u64::from(id.0));
            }
            put_uint(o, 2, u64::from(p.signed_pre_key_id.0));
            put_bytes(o, 3, &p.base_key.serialize());
            if let Some((id, ct)) = &p.kyber {
                put_uint(o, 4, u64::from(id.0));
                put_bytes(o, 5, &ct.serialize());
            }
            put_uint(o, 6, p.timestamp);
        });
    }
    put_bytes(o, 14, &s.base_key.serialize());
    if let Some(spqr) = &s.spqr {
        let mut buf = Zeroizing::new(Vec::with_capacity(SpqrHead::serialized_len(
            keys.spqr.len(),
        )));
        spqr.serialize(&keys.spqr, &mut buf);
        put_bytes(o, 15, &buf);
    }
}

fn key32(b: &[u8]) -> Result<[u8; 32], DecodeError> {
    b.try_into().map_err(|_| DecodeError::BadLength)
}

fn decode_state(bytes: &[u8]) -> Result<SessionState, DecodeError> {
    let mut r = Reader::new(bytes);
    let mut version = None;
    let (mut lid, mut rid, mut lreg, mut rreg) = (None, None, None, None);
    let (mut root, mut spub, mut spriv, mut sck, mut sidx) = (None, None, None, None, None);
    let mut receivers = Receivers::default();
    let mut keys = StoredKeys::default();
    let mut previous_counter = None;
    let mut pending = None;
    let mut base_key = None;
    let mut spqr = None;
    while let Some((n, v)) = r.field()? {
        match n {
            1 => version = Some(v.as_u32()?),
            2 => lid = Some(IdentityKey::deserialize(v.as_bytes()?)?),
            3 => rid = Some(IdentityKey::deserialize(v.as_bytes()?)?),
            4 => lreg = Some(v.as_u32()?),
            5 => rreg = Some(v.as_u32()?),
            6 => root = Some(RootKey::new(key32(v.as_bytes()?)?)),
            7 => spub = Some(PublicKey::deserialize(v.as_bytes()?)?),
            8 => spriv = Some(PrivateKey::deserialize(v.as_bytes()?)?),
            9 => sck = Some(key32(v.as_bytes()?)?),
            10 => sidx = Some(v.as_u32()?),
            11 => {
                if receivers.len() >= crate::ratchet::chain::MAX_RECEIVER_CHAINS {
                    return Err(DecodeError::BadLength);
                }
                let (chain, skipped) = decode_chain(v.as_bytes()?)?;
                if receivers.find(&chain.ratchet_key).is_some() {
                    return Err(DecodeError::Malformed);
                }
                if !skipped.is_empty() {
                    keys.chains.push((chain.ratchet_key, skipped));
                }
                receivers.push(chain);
            }
            12 => previous_counter = Some(v.as_u32()?),
            13 => pending = Some(decode_pending(v.as_bytes()?)?),
            14 => base_key = Some(PublicKey::deserialize(v.as_bytes()?)?),
            15 => {
                let (head, stored) = SpqrHead::deserialize(v.as_bytes()?)?;
                keys.spqr = stored;
                spqr = Some(Box::new(head));
            }
            _ => return Err(DecodeError::Malformed),
        }
    }
    let version = match version.ok_or(DecodeError::MissingField)? {
        3 => VERSION_X3DH,
        4 => VERSION_PQXDH,
        _ => return Err(DecodeError::UnknownVersion),
    };
    if (version == VERSION_PQXDH) != spqr.is_some() {
        return Err(DecodeError::Malformed);
    }
    if let Some(p) = &pending
        && (version == VERSION_PQXDH) != p.kyber.is_some()
    {
        return Err(DecodeError::Malformed);
    }
    let ratchet = KeyPair::from_private(spriv.ok_or(DecodeError::MissingField)?);
    if Some(*ratchet.public_key()) != spub {
        return Err(DecodeError::InvalidKey);
    }
    Ok(SessionState {
        head: Box::new(SessionHead {
            version,
            local_identity: lid.ok_or(DecodeError::MissingField)?,
            remote_identity: rid.ok_or(DecodeError::MissingField)?,
            local_registration_id: lreg.ok_or(DecodeError::MissingField)?,
            remote_registration_id: rreg.ok_or(DecodeError::MissingField)?,
            root_key: root.ok_or(DecodeError::MissingField)?,
            sender: SenderChain {
                ratchet,
                chain_key: ChainKey::new(
                    sck.ok_or(DecodeError::MissingField)?,
                    sidx.ok_or(DecodeError::MissingField)?,
                ),
            },
            receivers,
            previous_counter: previous_counter.ok_or(DecodeError::MissingField)?,
            pending_prekey: pending.map(Box::new),
            base_key: base_key.ok_or(DecodeError::MissingField)?,
            spqr,
        }),
        keys,
    })
}

fn decode_chain(bytes: &[u8]) -> Result<(ReceiverChain, SkippedKeys), DecodeError> {
    let mut r = Reader::new(bytes);
    let (mut rk, mut ck, mut idx) = (None, None, None);
    let mut skipped =
        SkippedKeys::with_capacity(count_fields(bytes, 4).min(MAX_SKIPPED_KEYS_PER_CHAIN));
    while let Some((n, v)) = r.field()? {
        match n {
            1 => rk = Some(PublicKey::deserialize(v.as_bytes()?)?),
            2 => ck = Some(key32(v.as_bytes()?)?),
            3 => idx = Some(v.as_u32()?),
            4 => {
                if skipped.len() >= MAX_SKIPPED_KEYS_PER_CHAIN {
                    return Err(DecodeError::BadLength);
                }
                let mut s = Reader::new(v.as_bytes()?);
                let (mut counter, mut seed) = (None, None);
                while let Some((n, v)) = s.field()? {
                    match n {
                        1 => counter = Some(v.as_u32()?),
                        2 => seed = Some(Zeroizing::new(key32(v.as_bytes()?)?)),
                        _ => return Err(DecodeError::Malformed),
                    }
                }
                let counter = counter.ok_or(DecodeError::MissingField)?;
                let seed = seed.ok_or(DecodeError::MissingField)?;
                // Skipped counters are strictly increasing: what the ratchet writes, and
                // what its lookups assume.
                if !skipped.push(counter, &seed) {
                    return Err(DecodeError::Malformed);
                }
            }
            _ => return Err(DecodeError::Malformed),
        }
    }
    let index = idx.ok_or(DecodeError::MissingField)?;
    // ... and behind the chain.
    if skipped.last().is_some_and(|c| c >= index) {
        return Err(DecodeError::Malformed);
    }
    let chain = ReceiverChain::new(
        rk.ok_or(DecodeError::MissingField)?,
        ChainKey::new(ck.ok_or(DecodeError::MissingField)?, index),
    );
    Ok((chain, skipped))
}

fn decode_pending(bytes: &[u8]) -> Result<PendingPreKey, DecodeError> {
    let mut r = Reader::new(bytes);
    let (mut pk, mut spk, mut base, mut kid, mut kct, mut ts) =
        (None, None, None, None, None, None);
    while let Some((n, v)) = r.field()? {
        match n {
            1 => pk = Some(PreKeyId(v.as_u32()?)),
            2 => spk = Some(SignedPreKeyId(v.as_u32()?)),
            3 => base = Some(PublicKey::deserialize(v.as_bytes()?)?),
            4 => kid = Some(KyberPreKeyId(v.as_u32()?)),
            5 => kct = Some(KemCiphertext::deserialize(v.as_bytes()?)?),
            6 => ts = Some(v.as_u64()?),
            _ => return Err(DecodeError::Malformed),
        }
    }
    let kyber = match (kid, kct) {
        (Some(id), Some(ct)) => Some((id, Box::new(ct))),
        (None, None) => None,
        _ => return Err(DecodeError::MissingField),
    };
    Ok(PendingPreKey {
        pre_key_id: pk,
        signed_pre_key_id: spk.ok_or(DecodeError::MissingField)?,
        base_key: base.ok_or(DecodeError::MissingField)?,
        kyber,
        timestamp: ts.ok_or(DecodeError::MissingField)?,
    })
}

#[cfg(test)]
mod encoding_tests {
    //! The state encoding: the buffer bounds are exact for the widest state (a bound one
    //! byte too low makes the buffer regrow, leaving a copy of the secrets in the freed
    //! block, and one too high is memory for nothing), and the decoder's field rules.
    extern crate std;

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use super::*;
    use crate::IdentityKeyPair;
    use crate::crypto::{KemKeyPair, KemKeyType};
    use crate::ratchet::spqr::SpqrKeys;

    /// A state whose every field takes its widest encoding (each varint at its largest,
    /// pending prekey data with a Kyber ciphertext), with five receiving chains holding
    /// `skipped[i]` seeds each and no SPQR state.
    fn widest(skipped: [usize; 5], rng: &mut ChaCha20Rng) -> SessionState {
        let identity = *IdentityKeyPair::generate(rng).identity_key();
        let kem = KemKeyPair::generate(KemKeyType::Kyber1024, rng);
        let (ct, _) = kem.public_key().encapsulate(rng);
        let mut receivers = Receivers::default();
        let mut chains = Vec::new();
        for (i, &n) in skipped.iter().enumerate() {
            let key = *KeyPair::generate(rng).public_key();
            receivers.push(ReceiverChain::new(
                key,
                ChainKey::new([i as u8; 32], u32::MAX),
            ));
            let mut seeds = SkippedKeys::new();
            for j in 0..n {
                assert!(seeds.push(u32::MAX - 5_000 + j as u32, &[j as u8; 32]));
            }
            if n > 0 {
                chains.push((key, seeds));
            }
        }
        SessionState {
            head: Box::new(SessionHead {
                version: VERSION_PQXDH,
                local_identity: identity,
                remote_identity: identity,
                local_registration_id: u32::MAX,
                remote_registration_id: u32::MAX,
                root_key: RootKey::new([1; 32]),
                sender: SenderChain {
                    ratchet: KeyPair::generate(rng),
                    chain_key: ChainKey::new([2; 32], u32::MAX),
                },
                receivers,
                previous_counter: u32::MAX,
                pending_prekey: Some(Box::new(PendingPreKey {
                    pre_key_id: Some(PreKeyId(u32::MAX)),
                    signed_pre_key_id: SignedPreKeyId(u32::MAX),
                    base_key: *KeyPair::generate(rng).public_key(),
                    kyber: Some((KyberPreKeyId(u32::MAX), Box::new(ct))),
                    timestamp: u64::MAX,
                })),
                base_key: *KeyPair::generate(rng).public_key(),
                spqr: None,
            }),
            keys: StoredKeys {
                chains,
                spqr: SpqrKeys::default(),
            },
        }
    }

    fn encoded(s: &SessionState) -> usize {
        let mut out = Vec::new();
        encode_state(s, &mut out);
        out.len()
    }

    /// Seed counts whose chains' lengths take one, two and three varint bytes.
    const SKIPPED: [usize; 5] = [0, 1, 3, 400, 2];

    #[test]
    fn the_widest_state_fills_its_bound() {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let s = widest(SKIPPED, &mut rng);
        assert_eq!(encoded(&s), state_len_bound(&s));
        assert_eq!(
            state_len_bound(&s),
            268 + 77 + 119 + 204 + 16_879 + 162 + 1_639
        );
        // Each part on its own: no seed, no pending data, fewer chains.
        let s = widest([0; 5], &mut rng);
        assert_eq!(encoded(&s), state_len_bound(&s));
        assert_eq!(state_len_bound(&s), 268 + 5 * 77 + 1_639);
        let mut s = widest([5, 0, 0, 0, 0], &mut rng);
        s.head.pending_prekey = None;
        assert_eq!(encoded(&s), state_len_bound(&s));
        assert_eq!(state_len_bound(&s), 268 + 4 * 77 + 288);
        s.head.receivers = Receivers::default();
        s.keys.chains.clear();
        assert_eq!(encoded(&s), FIXED_LEN);
        assert_eq!(state_len_bound(&s), FIXED_LEN);
    }

    /// Pending prekey data reads back field by field: the prekey id may be missing, the
    /// Kyber id and ciphertext come as a pair or not at all, every other field is
    /// required, and an unknown one is refused.
    #[test]
    fn pending_prekey_data_reads_back_field_by_field() {
        let mut rng = ChaCha20Rng::seed_from_u64(14);
        let base = *KeyPair::generate(&mut rng).public_key();
        let kem = KemKeyPair::generate(KemKeyType::Kyber1024, &mut rng);
        let (ct, _) = kem.public_key().encapsulate(&mut rng);
        let encoded = |without: &[u32]| {
            let mut o = Vec::new();
            let mut put = |n: u32, f: &dyn Fn(&mut Vec<u8>)| {
                if !without.contains(&n) {
                    f(&mut o)
                }
            };
            put(1, &|o| put_uint(o, 1, 7));
            put(2, &|o| put_uint(o, 2, 8));
            put(3, &|o| put_bytes(o, 3, &base.serialize()));
            put(4, &|o| put_uint(o, 4, 9));
            put(5, &|o| put_bytes(o, 5, &ct.serialize()));
            put(6, &|o| put_uint(o, 6, 1_234));
            o
        };
        let p = decode_pending(&encoded(&[])).unwrap();
        assert_eq!(p.pre_key_id, Some(PreKeyId(7)));
        assert_eq!(p.signed_pre_key_id, SignedPreKeyId(8));
        assert_eq!(p.base_key, base);
        let (id, got) = p.kyber.unwrap();
        assert_eq!((id, got.serialize()), (KyberPreKeyId(9), ct.serialize()));
        assert_eq!(p.timestamp, 1_234);
        assert_eq!(decode_pending(&encoded(&[1])).unwrap().pre_key_id, None);
        assert!(decode_pending(&encoded(&[4, 5])).unwrap().kyber.is_none());
        for missing in [2, 3, 4, 5, 6] {
            assert_eq!(
                decode_pending(&encoded(&[missing])).err(),
                Some(DecodeError::MissingField),
                "field {missing}"
            );
        }
        let mut extra = encoded(&[]);
        put_uint(&mut extra, 7, 1);
        assert_eq!(decode_pending(&extra).err(), Some(DecodeError::Malformed));
    }

    /// A state's pending prekey data has a Kyber ciphertext exactly when the state is v4.
    #[test]
    fn pending_kyber_data_follows_the_version() {
        let mut rng = ChaCha20Rng::seed_from_u64(15);
        let decoded = |s: &SessionState| {
            let mut out = Vec::new();
            encode_state(s, &mut out);
            decode_state(&out).map(|d| (d.head.version, d.head.pending_prekey.is_some()))
        };
        // v3 (no SPQR state): pending data without Kyber only.
        let mut s = widest([0, 1, 0, 0, 0], &mut rng);
        s.head.version = VERSION_X3DH;
        assert_eq!(decoded(&s).err(), Some(DecodeError::Malformed));
        let kyber = s.head.pending_prekey.as_mut().unwrap().kyber.take();
        assert_eq!(decoded(&s), Ok((VERSION_X3DH, true)));
        // v4: with Kyber only.
        let rec = super::parts_tests::lived_record();
        s.head.version = VERSION_PQXDH;
        s.head.spqr = rec.state(None).unwrap().head.spqr.clone();
        assert_eq!(decoded(&s).err(), Some(DecodeError::Malformed));
        s.head.pending_prekey.as_mut().unwrap().kyber = kyber;
        assert_eq!(decoded(&s), Ok((VERSION_PQXDH, true)));
        // A v4 state without SPQR, a v3 state with it.
        let spqr = s.head.spqr.take();
        assert_eq!(decoded(&s).err(), Some(DecodeError::Malformed));
        s.head.version = VERSION_X3DH;
        s.head.spqr = spqr;
        s.head.pending_prekey.as_mut().unwrap().kyber = None;
        assert_eq!(decoded(&s).err(), Some(DecodeError::Malformed));
        s.head.spqr = None;
        assert_eq!(decoded(&s), Ok((VERSION_X3DH, true)));
    }

    /// The SPQR state's term: its field around `SpqrHead::serialized_len`, which
    /// `state_sizes_are_bounded` (in `ratchet::spqr`) requires exact.
    #[test]
    fn the_spqr_term_is_its_field_around_the_spqr_bound() {
        let mut rng = ChaCha20Rng::seed_from_u64(12);
        let rec = super::parts_tests::lived_record();
        let lived = rec.state(None).unwrap();
        let spqr = lived.head.spqr.clone().unwrap();
        let stored = lived.keys.spqr.clone();
        assert!(stored.len() > 0);
        let mut bytes = Vec::new();
        spqr.serialize(&stored, &mut bytes);
        let mut s = widest(SKIPPED, &mut rng);
        let (len, bound) = (encoded(&s), state_len_bound(&s));
        s.head.spqr = Some(spqr);
        s.keys.spqr = stored;
        assert_eq!(encoded(&s) - len, field_len(bytes.len()));
        assert_eq!(
            state_len_bound(&s) - bound,
            field_len(SpqrHead::serialized_len(s.keys.spqr.len()))
        );
        assert!(encoded(&s) <= state_len_bound(&s));
    }

    /// The whole record and its parts: the widest current session and archive fill
    /// their buffers exactly (the writer asserts that they did not grow).
    #[test]
    fn the_widest_record_fills_its_bound() {
        let mut rng = ChaCha20Rng::seed_from_u64(13);
        let current = widest(SKIPPED, &mut rng);
        let head_bound = parts_len_bound(&current.head, &StoredKeys::default());
        let mut rec = SessionRecord::new();
        rec.current = Some(Box::new(current));
        // No archive: one session field and a count of one byte.
        assert_eq!(rec.serialize().len(), rec.len_bound(true));
        assert_eq!(rec.serialize_archive().len(), 3);
        assert_eq!(rec.len_bound(false), 3);
        let head = rec.serialize_current_head().unwrap();
        assert_eq!(head.len(), head_bound);
        assert_eq!(head_bound, 268 + 5 * 77 + 1_639);
        // A full default archive, and one whose count takes two bytes.
        for archived in [DEFAULT_MAX_ARCHIVED_SESSIONS, 130] {
            rec.previous.clear();
            for i in 0..archived {
                let skipped = if i == 0 { SKIPPED } else { [0, 1, 0, 0, 0] };
                rec.previous.push_back(Box::new(widest(skipped, &mut rng)));
            }
            let whole = rec.serialize();
            assert_eq!(whole.len(), rec.len_bound(true), "{archived}");
            assert_eq!(rec.serialize_archive().len(), rec.len_bound(false));
            assert_eq!(
                rec.len_bound(true) - rec.len_bound(false),
                field_len(state_len_bound(rec.current.as_ref().unwrap()))
            );
        }
    }
}

#[cfg(test)]
mod parts_tests {
    //! [`SessionRecord::from_parts`]: the parts a row-wise store keeps give back the
    //! record, and nothing else does.
    extern crate std;

    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;
    use std::vec::Vec;

    use super::*;
    use crate::store::memory::{BundleSpec, InMemSignalProtocolStore};
    use crate::{Device, IdentityKeyPair, ProtocolAddress, Timestamp};

    const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);

    type Row = (KeyChain, u32, Zeroizing<[u8; 32]>);

    /// Bob's record after three sessions with Alice, the last with messages skipped on
    /// two receiving chains (Double Ratchet seeds and SPQR keys stored).
    pub(super) fn lived_record() -> SessionRecord {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let store = |rng: &mut ChaCha20Rng, reg| {
            InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), reg)
        };
        let mut alice = Device::new(ProtocolAddress::new("alice", 1), store(&mut rng, 1));
        let mut bob = Device::new(ProtocolAddress::new("bob", 1), store(&mut rng, 2));
        let (a, b) = (alice.address().clone(), bob.address().clone());
        for id in 1..=3 {
            let bundle = bob
                .store_mut()
                .generate_bundle(&BundleSpec::new(id), 1, NOW, &mut rng);
            alice
                .process_prekey_bundle(&b, &bundle, NOW, &mut rng)
                .unwrap();
            for round in 0..2 {
                for i in 0..5u8 {
                    let m = alice.encrypt(&b, &[i; 20], NOW, &mut rng).unwrap();
                    if i % 2 == 1 || id < 3 || round == 1 {
                        bob.decrypt(&a, m.message_type(), m.serialize(), &mut rng)
                            .unwrap();
                    }
                }
                let r = bob.encrypt(&a, b"r", NOW, &mut rng).unwrap();
                alice
                    .decrypt(&b, r.message_type(), r.serialize(), &mut rng)
                    .unwrap();
            }
        }
        let rec = bob.store().session_store.session(&a).unwrap().clone();
        assert_eq!(rec.archived_count(), 2);
        assert!(rec.stored_key_count() >= 4, "{}", rec.stored_key_count());
        rec
    }

    fn rows(rec: &SessionRecord) -> Vec<Row> {
        let mut v: Vec<Row> = rec
            .current_stored_keys()
            .map(|(c, n, k)| (c, n, Zeroizing::new(*k)))
            .collect();
        // A store returns rows in its own order: by chain encoding, then counter.
        v.sort_by(|x, y| {
            let key = |c: &KeyChain| crate::store::at_rest::chain_bytes(c);
            key(&x.0).cmp(&key(&y.0)).then(x.1.cmp(&y.1))
        });
        v
    }

    #[test]
    fn parts_give_back_the_record() {
        let rec = lived_record();
        let head = rec.serialize_current_head().unwrap();
        let archive = rec.serialize_archive();
        let back = SessionRecord::from_parts(Some(&head), rows(&rec), Some(&archive)).unwrap();
        assert_eq!(*back.serialize(), *rec.serialize());
        // Both chains kinds are there.
        let r = rows(&rec);
        assert!(
            r.iter()
                .any(|x| matches!(x.0, KeyChain::PostQuantum { .. }))
        );
        assert!(r.iter().any(|x| matches!(x.0, KeyChain::Ratchet(_))));
        // No archive, no head.
        let no_archive = SessionRecord::from_parts(Some(&head), rows(&rec), None).unwrap();
        assert_eq!(no_archive.archived_count(), 0);
        assert_eq!(no_archive.stored_key_count(), rec.stored_key_count());
        let only_archive =
            SessionRecord::from_parts(None, Vec::<Row>::new(), Some(&archive)).unwrap();
        assert!(!only_archive.has_current_session());
        assert_eq!(only_archive.archived_count(), 2);
        // The archive encoding is a record with no current session.
        let a = SessionRecord::deserialize(&archive).unwrap();
        assert!(!a.has_current_session());
    }

    /// A session some braid epochs on, with messages lost along the way: its SPQR keys are
    /// rows of their own epoch's chain, the parts give back the record, and a row moved
    /// to an epoch the head keeps no keys for is refused.
    #[test]
    fn parts_keep_spqr_epochs() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let store = |rng: &mut ChaCha20Rng, reg| {
            InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), reg)
        };
        let mut alice = Device::new(ProtocolAddress::new("alice", 1), store(&mut rng, 1));
        let mut bob = Device::new(ProtocolAddress::new("bob", 1), store(&mut rng, 2));
        let (a, b) = (alice.address().clone(), bob.address().clone());
        let bundle = bob
            .store_mut()
            .generate_bundle(&BundleSpec::new(1), 1, NOW, &mut rng);
        alice
            .process_prekey_bundle(&b, &bundle, NOW, &mut rng)
            .unwrap();
        for round in 0..400u32 {
            let m = alice.encrypt(&b, b"x", NOW, &mut rng).unwrap();
            if round % 9 != 4 {
                bob.decrypt(&a, m.message_type(), m.serialize(), &mut rng)
                    .unwrap();
            }
            let r = bob.encrypt(&a, b"r", NOW, &mut rng).unwrap();
            alice
                .decrypt(&b, r.message_type(), r.serialize(), &mut rng)
                .unwrap();
        }
        let rec = bob.store().session_store.session(&a).unwrap().clone();
        let r = rows(&rec);
        let epochs: Vec<u64> = r
            .iter()
            .filter_map(|x| match x.0 {
                KeyChain::PostQuantum { epoch } => Some(epoch),
                KeyChain::Ratchet(_) => None,
            })
            .collect();
        assert!(epochs.iter().any(|&e| e >= 2), "{epochs:?}");
        let head = rec.serialize_current_head().unwrap();
        let back = SessionRecord::from_parts(Some(&head), rows(&rec), None).unwrap();
        assert_eq!(*back.serialize(), *rec.serialize());
        let mut moved = rows(&rec);
        let i = moved
            .iter()
            .position(|x| matches!(x.0, KeyChain::PostQuantum { .. }))
            .unwrap();
        let KeyChain::PostQuantum { epoch } = moved[i].0 else {
            unreachable!()
        };
        moved[i].0 = KeyChain::PostQuantum { epoch: epoch + 2 };
        assert!(SessionRecord::from_parts(Some(&head), moved, None).is_err());
    }

    /// The whole record reads back; a second current session, a field after the count,
    /// or a count that disagrees is refused.
    #[test]
    fn a_record_reads_back_and_its_framing_is_strict() {
        let rec = lived_record();
        let bytes = rec.serialize();
        let back = SessionRecord::deserialize(&bytes).unwrap();
        assert!(back.has_current_session());
        assert_eq!(back.archived_count(), 2);
        assert_eq!(*back.serialize(), *bytes);
        let mut state = Vec::new();
        encode_state(rec.state(None).unwrap(), &mut state);
        let framed = |fields: &[(u32, &[u8])], count: Option<u64>| {
            let mut v = alloc::vec![crate::wire::proto::RECORD_FORMAT_V1];
            for (n, b) in fields {
                put_bytes(&mut v, *n, b);
            }
            if let Some(c) = count {
                put_uint(&mut v, 3, c);
            }
            SessionRecord::deserialize(&v).map(|r| (r.has_current_session(), r.archived_count()))
        };
        assert_eq!(framed(&[(1, &state)], Some(0)), Ok((true, 0)));
        assert_eq!(framed(&[(2, &state)], Some(1)), Ok((false, 1)));
        assert_eq!(framed(&[(1, &state), (2, &state)], Some(1)), Ok((true, 1)));
        assert_eq!(
            framed(&[(1, &state), (1, &state)], Some(0)),
            Err(DecodeError::Malformed)
        );
        assert_eq!(framed(&[(1, &state)], None), Err(DecodeError::MissingField));
        assert_eq!(
            framed(&[(2, &state)], Some(2)),
            Err(DecodeError::MissingField)
        );
        let mut after = alloc::vec![crate::wire::proto::RECORD_FORMAT_V1];
        put_uint(&mut after, 3, 0);
        put_bytes(&mut after, 1, &state);
        assert_eq!(
            SessionRecord::deserialize(&after).err(),
            Some(DecodeError::Malformed)
        );
    }

    /// Rows are read one at a time and refused at the first past a bound: a store whose
    /// rows were multiplied (by a fault, or by someone with the disk) costs at most one
    /// chain's 2,000 seeds, or two SPQR epochs' 2,000 keys each, before the refusal.
    #[test]
    fn endless_rows_are_refused_at_the_first_past_the_bound() {
        let rec = lived_record();
        let head = rec.serialize_current_head().unwrap();
        let r = rows(&rec);
        let ratchet = r.iter().find_map(|x| match x.0 {
            KeyChain::Ratchet(k) => Some(k),
            KeyChain::PostQuantum { .. } => None,
        });
        let pq = r
            .iter()
            .find(|x| matches!(x.0, KeyChain::PostQuantum { .. }));
        for chain in [KeyChain::Ratchet(ratchet.unwrap()), pq.unwrap().0] {
            let pulled = core::cell::Cell::new(0usize);
            // Ten times the larger bound stands in for "endless": a cap that is missing
            // shows as every row pulled, not as a run that never ends.
            let endless = (1u32..=40_000).map(|n| {
                pulled.set(pulled.get() + 1);
                (chain, n, Zeroizing::new([3; 32]))
            });
            let got = SessionRecord::from_parts(Some(&head), endless, None);
            assert_eq!(got.err(), Some(DecodeError::BadLength));
            let bound = match chain {
                KeyChain::Ratchet(_) => MAX_SKIPPED_KEYS_PER_CHAIN,
                KeyChain::PostQuantum { .. } => 2 * MAX_SKIPPED_DISTANCE as usize,
            };
            assert_eq!(pulled.get(), bound + 1);
        }
    }

    #[test]
    fn parts_that_do_not_fit_are_refused() {
        let rec = lived_record();
        let head = rec.serialize_current_head().unwrap();
        let archive = rec.serialize_archive();
        let good = rows(&rec);
        // Keys without a head.
        assert!(SessionRecord::from_parts(None, rows(&rec), Some(&archive)).is_err());
        // An archive that has a current session.
        let whole = rec.serialize();
        assert!(SessionRecord::from_parts(Some(&head), rows(&rec), Some(&whole)).is_err());
        // A head that carries stored keys itself, alone or beside the rows (whose keys
        // would otherwise replace its own).
        let mut with_keys = Vec::new();
        encode_state(rec.state(None).unwrap(), &mut with_keys);
        assert!(SessionRecord::from_parts(Some(&with_keys), Vec::<Row>::new(), None).is_err());
        assert!(SessionRecord::from_parts(Some(&with_keys), rows(&rec), None).is_err());
        assert!(SessionRecord::from_parts(Some(&whole[..]), Vec::<Row>::new(), None).is_err());
        // A row of a chain the head does not have.
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let stranger = *crate::crypto::KeyPair::generate(&mut rng).public_key();
        let mut bad = rows(&rec);
        bad.push((KeyChain::Ratchet(stranger), 1, Zeroizing::new([1; 32])));
        assert!(SessionRecord::from_parts(Some(&head), bad, None).is_err());
        // Out of order, duplicated, ahead of the chain.
        let mut rev = rows(&rec);
        rev.reverse();
        assert!(SessionRecord::from_parts(Some(&head), rev, None).is_err());
        let mut dup = rows(&rec);
        let first = (dup[0].0, dup[0].1, Zeroizing::new(*dup[0].2));
        dup.insert(1, first);
        assert!(SessionRecord::from_parts(Some(&head), dup, None).is_err());
        for i in 0..good.len() {
            let mut ahead = rows(&rec);
            ahead[i].1 = u32::MAX - 1;
            let r = SessionRecord::from_parts(Some(&head), ahead, None);
            // Only the last row of a chain can move up without breaking the order; the
            // chain's index refuses it.
            assert!(r.is_err(), "row {i}");
        }
        // A damaged head or archive.
        assert!(SessionRecord::from_parts(Some(&head[..head.len() - 1]), good, None).is_err());
        assert!(SessionRecord::from_parts(None, Vec::<Row>::new(), Some(&archive[..10])).is_err());
    }
}

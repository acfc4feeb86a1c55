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
use crate::ratchet::spqr::SpqrHead;
use crate::wire::proto::{
    Reader, count_fields, open_record, put_bytes, put_nested, put_nested_sized, put_uint,
    write_record,
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
    /// ([`SessionRecord::serialize_current_head`]). Empty for an in-order message, and
    /// for a change that replaces the current session (rewrite it whole).
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
        keys(&mut out, KeyChain::PostQuantum, &delta.spqr);
        out
    }
}

/// Which chain a stored key belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyChain {
    /// A Double Ratchet receiving chain, by the peer's ratchet key: the key is a message
    /// seed, by message counter.
    Ratchet(PublicKey),
    /// The SPQR receiving chain: the key is an SPQR message key, by SPQR index.
    PostQuantum,
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
        // Sized up front: a buffer that grows leaves a copy of its secrets behind.
        let states = self.current.iter().chain(self.previous.iter());
        let bound = 16
            + states
                .map(|s| state_len_bound(s) + FIELD_HEAD)
                .sum::<usize>();
        write_record(bound, |out| {
            if let Some(s) = &self.current {
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

    /// The current session without its stored keys, in the state encoding (§8.4 of
    /// docs/PROTOCOL.md with no skipped seeds and no SPQR keys): what a store that keeps
    /// the current session apart writes after an ordinary message. Under a kilobyte
    /// (two while the session is unacknowledged), whatever the record holds.
    pub fn serialize_current_head(&self) -> Option<Zeroizing<Vec<u8>>> {
        let s = self.current.as_ref()?;
        let empty = StoredKeys::default();
        let bound = head_len_bound(&s.head);
        let mut out = Zeroizing::new(Vec::with_capacity(bound));
        encode_parts(&s.head, &empty, &mut out);
        Some(out)
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

/// Room for a field's tag and length varints.
const FIELD_HEAD: usize = 8;

/// An upper bound on the encoded length of a receiving chain with `skipped` seeds.
fn chain_len_bound(skipped: usize) -> usize {
    // ratchet key 35, chain key 34, index ≤ 6; each skipped seed ≤ 2 + 6 + 34.
    80 + 48 * skipped
}

/// An upper bound on the encoded length of a head with no stored keys.
fn head_len_bound(h: &SessionHead) -> usize {
    let pending = h
        .pending_prekey
        .as_ref()
        .map_or(0, |_| PENDING_LEN_BOUND + FIELD_HEAD);
    let spqr = h
        .spqr
        .as_ref()
        .map_or(0, |_| SpqrHead::serialized_len(0) + FIELD_HEAD);
    384 + h.receivers.len() * (chain_len_bound(0) + FIELD_HEAD) + pending + spqr
}

/// An upper bound on the encoded length of a state (every fixed field at its largest).
fn state_len_bound(s: &SessionState) -> usize {
    head_len_bound(&s.head)
        + 48 * s.keys.chains.iter().map(|(_, k)| k.len()).sum::<usize>()
        + 36 * s.keys.spqr.len()
}

/// Pending prekey data: ids and timestamp ≤ 4 × 11, base key 35, Kyber ciphertext 1,572.
const PENDING_LEN_BOUND: usize = 1_700;

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

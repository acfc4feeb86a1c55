//! SPQR, the Sparse Post-Quantum Ratchet: the `pq_ratchet` field (protobuf field 5) of every
//! v4 `SignalMessage`, and the symmetric KDF chain that gives each message an extra key.
//!
//! Specifications: *The Double Ratchet Algorithm*, revision 3, §5 (the Sparse Post-Quantum
//! Ratchet) and §6 (the Triple Ratchet); *The ML-KEM Braid* for the message types. The byte
//! layouts, labels and limits below were established by observing libsignal-client 0.103.0
//! (see `docs/notes/spqr.md` for the evidence).
//!
//! **Post-quantum healing.** Besides the per-message chains, every session runs the ML-KEM
//! braid ([`super::braid`]): each message carries one erasure-coded chunk of an ML-KEM-768
//! encapsulation key or ciphertext, and every completed exchange mixes a fresh ML-KEM
//! shared secret into the chains ("Add Epoch"), so that a compromise of the session state
//! stops giving message keys once the next exchange after it completes. A state written
//! before the PQXDH auth key was kept (format 1) cannot join the braid and stays at
//! epoch 1 with no post-quantum healing (docs/PROTOCOL.md §5.8).
//!
//! # Key schedule
//! ```text
//! auth key = PQXDH HKDF output bytes 64..96
//!   HKDF(salt = 0^32, ikm = auth key, info = "Signal PQ Ratchet V1 Chain  Start")   (two spaces)
//!     → 96 = next root (32) ‖ chain A→B (32) ‖ chain B→A (32)        (epoch 1)
//!   A = the PQXDH initiator, B = the responder; each sends on its own chain.
//! epoch e+1, once the braid's exchange of epoch e gave the epoch secret es_e:
//!   HKDF(salt = next root, ikm = es_e, "Signal PQ Ratchet V1 Chain Add Epoch")
//!     → 96 = next root ‖ chain A→B ‖ chain B→A
//!
//! per message, n = 1, 2, 3, … (one counter per direction and epoch; it is not reset by
//! Diffie-Hellman ratchet steps, and restarts at 1 in every epoch):
//!   HKDF(salt = 0^32, ikm = chain[n-1], info = BE32(n) ‖ "Signal PQ Ratchet V1 Chain Next")
//!     → 64 = chain[n] ‖ message key[n]
//!
//! message key[n] is the HKDF *salt* of the Double Ratchet's "WhisperMessageKeys" derivation
//! for the message whose field carries index n.
//! ```
//!
//! # Field layout
//! ```text
//! version    u8      0x01
//! epoch      varint  ≥ 1
//! index      varint  ≤ u32::MAX  (the n above; 0 means "no SPQR key", which missive refuses)
//! type       u8      0 None, 1 Hdr, 2 Ek, 3 EkCt1Ack, 4 Ct1Ack, 5 Ct1, 6 Ct2
//! chunk idx  varint  ≤ 0xFFFF  ┐ only for Hdr, Ek, EkCt1Ack, Ct1, Ct2
//! chunk      32 bytes          ┘
//! rest       ignored (libsignal ignores it too; the field is covered by the message MAC)
//! ```
//! A chunk message is 37–41 bytes; `None` and `Ct1Ack` are 4–5 while n < 16,384.

#[cfg(test)]
mod braid_tests;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use core::fmt;

use alloc::boxed::Box;
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::braid::kdf::add_epoch;
use super::braid::machine::{Braid, RecvWork};
use super::skipped::{KeysDelta, SkippedKeys};
use crate::crypto::kdf::hkdf;
use crate::error::{DecodeError, Error, ProtocolError};
use crate::wire::proto::put_varint;

/// The only field version libsignal-client 0.103 speaks. It rejects 0 ("minimum
/// version"), and once it has seen the peer's version it rejects any other.
pub(crate) const FIELD_VERSION: u8 = 1;

/// The first epoch, keyed directly from the PQXDH auth key; later epochs come from the
/// braid.
pub(crate) const FIRST_EPOCH: u64 = 1;

/// Largest accepted `index − newest index received`. libsignal accepts a jump of exactly
/// 25,000 and rejects 25,001 ("Key jump"); it is also the Double Ratchet's forward-jump limit.
/// Bounds the HKDF work one message can demand.
pub(crate) const MAX_FORWARD_JUMP: u32 = 25_000;

/// A skipped key for index `i` is kept while `newest index received − i ≤ 2,000`; older
/// ones are deleted. libsignal uses this window (not a count): it still decrypts index i at
/// distance 2,000 and answers "Key trimmed" at 2,001, however many keys it holds. The window
/// also bounds the store: at most 2,000 keys (72 KB) per state.
pub(crate) const MAX_SKIPPED_DISTANCE: u32 = 2_000;

/// Length of one erasure-coded braid chunk.
pub(crate) const CHUNK_LEN: usize = 32;

// Chunk indices are u16 (see `parse`): chunks are points of a code over GF(2^16).
// libsignal rejects 65,536 as a decode failure, and its own chunk index wraps to 0 after
// 65,535.

/// A u64 varint has at most 10 bytes; libsignal rejects an 11-byte one.
const MAX_VARINT_LEN: usize = 10;

const ZERO_SALT: [u8; 32] = [0; 32];
const LABEL_START: &[u8] = b"Signal PQ Ratchet V1 Chain  Start";
const LABEL_NEXT: &[u8] = b"Signal PQ Ratchet V1 Chain Next";

/// Version byte of the state encoding without the PQXDH auth key (records written before
/// it was kept; still read, and written back as they are).
const STATE_FORMAT_V1: u8 = 1;
/// Version byte of the state encoding with the PQXDH auth key but no braid (epoch 1,
/// written before the braid existed): still read; such a session joins the braid.
const STATE_FORMAT_V2: u8 = 2;
/// Version byte of the state encoding with the braid and the epochs.
const STATE_FORMAT_V3: u8 = 3;

/// Which side of PQXDH we were: it picks the chain we send on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Sent the PreKeySignalMessage (Alice): sends on the A→B chain.
    Initiator,
    /// Received it (Bob): sends on the B→A chain.
    Responder,
}

/// The braid message type carried in the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpqrMsgType {
    /// Nothing to send (all missive ever sends).
    None,
    /// A chunk of the encapsulation-key header.
    Hdr,
    /// A chunk of the encapsulation-key vector.
    Ek,
    /// An `Ek` chunk that also acknowledges `Ct1`.
    EkCt1Ack,
    /// Acknowledges `Ct1`; carries no chunk.
    Ct1Ack,
    /// A chunk of the first ciphertext part.
    Ct1,
    /// A chunk of the second ciphertext part.
    Ct2,
}

impl SpqrMsgType {
    fn from_byte(b: u8) -> Result<Self, DecodeError> {
        Ok(match b {
            0 => Self::None,
            1 => Self::Hdr,
            2 => Self::Ek,
            3 => Self::EkCt1Ack,
            4 => Self::Ct1Ack,
            5 => Self::Ct1,
            6 => Self::Ct2,
            _ => return Err(DecodeError::UnknownType),
        })
    }

    /// The type byte.
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Hdr => 1,
            Self::Ek => 2,
            Self::EkCt1Ack => 3,
            Self::Ct1Ack => 4,
            Self::Ct1 => 5,
            Self::Ct2 => 6,
        }
    }

    /// Whether a chunk index and a chunk must follow the type byte.
    pub(crate) fn carries_chunk(self) -> bool {
        !matches!(self, Self::None | Self::Ct1Ack)
    }
}

/// One erasure-coded braid chunk (public data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunk {
    /// Position of the chunk in the code.
    pub(crate) index: u16,
    /// The chunk.
    pub(crate) data: [u8; CHUNK_LEN],
}

/// A decoded `pq_ratchet` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpqrHeader {
    /// The sender's epoch (≥ 1).
    pub(crate) epoch: u64,
    /// Position of the message key in the sender's chain for this epoch (0 = no key).
    pub(crate) index: u32,
    /// The braid message type.
    pub(crate) msg_type: SpqrMsgType,
    /// Present exactly when `msg_type.carries_chunk()`.
    pub(crate) chunk: Option<Chunk>,
}

/// Decodes a `pq_ratchet` field, accepting what libsignal-client 0.103 accepts except
/// varints whose value overflows 64 bits (libsignal wraps them).
pub(crate) fn parse(field: &[u8]) -> Result<SpqrHeader, DecodeError> {
    let mut r = Reader { rest: field };
    if r.u8()? != FIELD_VERSION {
        return Err(DecodeError::UnknownVersion);
    }
    let epoch = r.varint()?;
    if epoch == 0 {
        return Err(DecodeError::Malformed);
    }
    let index = u32::try_from(r.varint()?).map_err(|_| DecodeError::BadLength)?;
    let msg_type = SpqrMsgType::from_byte(r.u8()?)?;
    let chunk = if msg_type.carries_chunk() {
        let index = u16::try_from(r.varint()?).map_err(|_| DecodeError::BadLength)?;
        Some(Chunk {
            index,
            data: r.array()?,
        })
    } else {
        None
    };
    // Anything left is ignored, as libsignal does.
    Ok(SpqrHeader {
        epoch,
        index,
        msg_type,
        chunk,
    })
}

/// A 32-byte SPQR message key: the salt of one message's "WhisperMessageKeys" HKDF.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKey([u8; 32]);

impl MessageKey {
    /// The key bytes.
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKey(..)")
    }
}

/// One direction's chain: the key after `index` steps.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct Chain {
    index: u32,
    key: [u8; 32],
}

impl Chain {
    /// Steps to `index` (which must be `self.index + 1`) and returns that message key.
    fn step(&mut self, index: u32) -> MessageKey {
        let (next, message_key) = chain_step(&self.key, index);
        self.key = next;
        self.index = index;
        MessageKey(message_key)
    }
}

/// One chain step: `HKDF(salt = 0^32, ikm = key, info = BE32(index) ‖ "…Chain Next")` →
/// (the chain key at `index`, the message key at `index`).
pub(crate) fn chain_step(key: &[u8; 32], index: u32) -> ([u8; 32], [u8; 32]) {
    let okm = Zeroizing::new(hkdf::<64>(
        Some(&ZERO_SALT),
        key,
        &[&index.to_be_bytes(), LABEL_NEXT],
    ));
    let mut it = okm.iter();
    (take(&mut it), take(&mut it))
}

/// See [`SpqrHead::stamp`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SpqrStamp {
    epoch: u64,
    send: u32,
    recv: u32,
    prev_recv: u32,
    state: u8,
    progress: u32,
}

/// What receiving one message costs SPQR, decided from its field before any chain is
/// walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecvPlan {
    /// The parsed field.
    pub(crate) header: SpqrHeader,
    /// Chain steps the message needs: 0 when its key is stored.
    pub(crate) steps: u32,
    /// Whether its braid part may complete a value once the message authenticates (a
    /// decode, a check and at most one ML-KEM step).
    pub(crate) braid_heavy: bool,
}

impl RecvPlan {
    /// The message's index in its epoch's chain.
    pub(crate) fn index(&self) -> u32 {
        self.header.index
    }
}

/// SPQR's stored keys: the skipped message keys of each receiving chain that holds any
/// (the current epoch's and the previous epoch's: at most two sets), by epoch.
#[derive(Default)]
pub(crate) struct SpqrKeys {
    sets: Vec<(u64, SkippedKeys)>,
}

impl Clone for SpqrKeys {
    fn clone(&self) -> Self {
        let mut sets = Vec::with_capacity(self.sets.len());
        sets.extend(self.sets.iter().map(|(e, k)| (*e, k.clone())));
        SpqrKeys { sets }
    }
}

impl SpqrKeys {
    /// The keys stored for `epoch`'s receiving chain.
    pub(crate) fn get(&self, epoch: u64) -> Option<&SkippedKeys> {
        self.sets.iter().find(|(e, _)| *e == epoch).map(|(_, k)| k)
    }

    /// How many keys are stored in all.
    pub(crate) fn len(&self) -> usize {
        self.sets.iter().map(|(_, k)| k.len()).sum()
    }

    /// The sets, by epoch (a store keeps each as its own chain of rows).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, &SkippedKeys)> + '_ {
        self.sets.iter().map(|(e, k)| (*e, k))
    }

    /// Appends the key of `epoch`'s message `index` (a row read back from a store): false
    /// when it is not newer than that epoch's last key. The state decoder checks the rest
    /// (which epochs may hold keys, the window).
    pub(crate) fn push(&mut self, epoch: u64, index: u32, key: &[u8; 32]) -> bool {
        match self.sets.iter_mut().find(|(e, _)| *e == epoch) {
            Some((_, k)) => k.push(index, key),
            None => {
                let mut k = SkippedKeys::new();
                let added = k.push(index, key);
                self.sets.push((epoch, k));
                added
            }
        }
    }

    /// Whether `delta` applies: its consumed key exists and its added keys are newer.
    pub(crate) fn fits(&self, delta: &SpqrDelta) -> bool {
        match self.get(delta.epoch) {
            Some(k) => delta.keys.fits(k),
            None => delta.keys.consumed.is_none(),
        }
    }

    /// Applies a message's change. Call [`SpqrKeys::fits`] first.
    pub(crate) fn apply(&mut self, delta: &SpqrDelta) {
        if let Some(gone) = delta.evicted {
            self.sets.retain(|(e, _)| *e != gone);
        }
        if delta.keys.is_empty() {
            return;
        }
        if self.get(delta.epoch).is_none() {
            self.sets.push((delta.epoch, SkippedKeys::new()));
        }
        if let Some((_, k)) = self.sets.iter_mut().find(|(e, _)| *e == delta.epoch) {
            delta.keys.apply(k);
        }
        self.sets.retain(|(_, k)| !k.is_empty());
    }
}

/// What one message changes in [`SpqrKeys`].
#[derive(Default, Debug)]
pub(crate) struct SpqrDelta {
    /// The epoch of the message's receiving chain.
    pub(crate) epoch: u64,
    /// The change to that chain's keys.
    pub(crate) keys: KeysDelta,
    /// An epoch whose receiving chain the message retired: its keys go with it.
    pub(crate) evicted: Option<u64>,
}

/// Which of a head's receiving chains a message uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// The sending epoch's.
    Current,
    /// The epoch before it (still receiving late messages).
    Previous,
    /// The next epoch's, derived by our encapsulation: the peer has moved on.
    Next,
}

/// The chains `(send, recv)` of `role` from an epoch's `A→B ‖ B→A` pair.
fn split(role: Role, a_to_b: [u8; 32], b_to_a: [u8; 32]) -> (Chain, Chain) {
    let a = Chain {
        index: 0,
        key: a_to_b,
    };
    let b = Chain {
        index: 0,
        key: b_to_a,
    };
    match role {
        Role::Initiator => (a, b),
        Role::Responder => (b, a),
    }
}

/// One receiving chain's step to `index` (or its stored key): the message key and the
/// change to the chain's stored keys. Advances `chain` (a staged copy).
fn recv_on(
    chain: &mut Chain,
    index: u32,
    stored: Option<&SkippedKeys>,
) -> Result<(MessageKey, KeysDelta), Error> {
    let newest = chain.index;
    if index <= newest {
        let key = stored
            .and_then(|s| s.get(index))
            .ok_or(ProtocolError::DuplicateMessage)?;
        let delta = KeysDelta {
            consumed: Some(index),
            ..KeysDelta::default()
        };
        return Ok((MessageKey(*key), delta));
    }
    let oldest_kept = index.saturating_sub(MAX_SKIPPED_DISTANCE);
    let first_stored = newest.saturating_add(1).max(oldest_kept);
    let mut added = SkippedKeys::with_capacity(usize::try_from(index - first_stored).unwrap_or(0));
    for i in newest.saturating_add(1)..index {
        let key = chain.step(i);
        if i >= oldest_kept {
            added.push(i, &key.0);
        }
    }
    let drop_below = stored
        .and_then(SkippedKeys::first)
        .is_some_and(|f| f < oldest_kept)
        .then_some(oldest_kept);
    let delta = KeysDelta {
        consumed: None,
        added,
        drop_below,
    };
    Ok((chain.step(index), delta))
}

/// The chains of one session and its side of the ML-KEM braid: what changes with every
/// message. The stored keys of skipped messages live apart (an [`SpqrKeys`]), so that
/// staging a message copies only this bounded value (under 4 KB).
///
/// Epochs: `epoch` is the one we send in. We keep its two chains, the previous epoch's
/// receiving chain (from epoch 2 on: the peer may still be sending in it), and, once our
/// encapsulation derived them, the next epoch's two chains (used from the peer's first
/// message in that epoch on).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SpqrHead {
    #[zeroize(skip)]
    role: Role,
    /// The PQXDH auth key the state started from; zeros (and `has_auth_key` false) in
    /// records written before it was kept, whose sessions cannot join the braid. Not an
    /// `Option`: a `None` would carry 32 uninitialized bytes into the box, which no drop
    /// wipes.
    auth_key: [u8; 32],
    #[zeroize(skip)]
    has_auth_key: bool,
    /// The salt of the next Add Epoch.
    next_root: [u8; 32],
    #[zeroize(skip)]
    epoch: u64,
    send: Chain,
    recv: Chain,
    /// Epoch − 1's receiving chain (zeros at epoch 1).
    prev_recv: Chain,
    /// Epoch + 1's chains while `has_next` (zeros otherwise).
    next_send: Chain,
    next_recv: Chain,
    #[zeroize(skip)]
    has_next: bool,
    /// `None` only for a state without the auth key (format 1): it stays at epoch 1.
    #[zeroize(skip)]
    braid: Option<Box<Braid>>,
}

impl fmt::Debug for SpqrHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpqrHead")
            .field("role", &self.role)
            .field("epoch", &self.epoch)
            .field(
                "braid_state",
                &self.braid.as_ref().map(|b| b.phase().number()),
            )
            .field("send_index", &self.send.index)
            .field("recv_index", &self.recv.index)
            .finish_non_exhaustive()
    }
}

impl Chain {
    const fn zero() -> Self {
        Chain {
            index: 0,
            key: [0; 32],
        }
    }
}

impl SpqrHead {
    /// Starts epoch 1 from the PQXDH auth key (bytes 64..96 of the PQXDH HKDF output).
    pub(crate) fn new(auth_key: &[u8; 32], role: Role) -> Self {
        let okm = Zeroizing::new(hkdf::<96>(Some(&ZERO_SALT), auth_key, &[LABEL_START]));
        let mut it = okm.iter();
        let next_root = take(&mut it);
        let (send, recv) = split(role, take(&mut it), take(&mut it));
        SpqrHead {
            role,
            auth_key: *auth_key,
            has_auth_key: true,
            next_root,
            epoch: FIRST_EPOCH,
            send,
            recv,
            prev_recv: Chain::zero(),
            next_send: Chain::zero(),
            next_recv: Chain::zero(),
            has_next: false,
            braid: Some(Box::new(Braid::new(role, auth_key))),
        }
    }

    /// Which side of PQXDH this state belongs to.
    #[cfg(test)]
    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// Where this head stands: the epoch, the chains' indices, and the braid's progress.
    /// Every message changes it, and it never comes back to an earlier value (epochs and
    /// indices only grow; within an epoch the braid's state only moves forward, and in a
    /// state its decoder only gains chunks and its encoder only hands out more). A store
    /// compares it to refuse a change computed from a head that has moved since.
    pub(crate) fn stamp(&self) -> SpqrStamp {
        let (state, progress) = self.braid.as_ref().map_or((0, 0), |b| b.progress());
        SpqrStamp {
            epoch: self.epoch,
            send: self.send.index,
            recv: self.recv.index,
            prev_recv: self.prev_recv.index,
            state,
            progress,
        }
    }

    /// The epoch we send in.
    #[cfg(any(test, feature = "fuzzing-hooks"))]
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The braid's state number (1–11, `docs/notes/spqr-braid.md` §1.2); `None` for a
    /// state without the auth key, which never joins the braid.
    #[cfg(any(test, feature = "fuzzing-hooks"))]
    pub(crate) fn braid_state(&self) -> Option<u8> {
        self.braid.as_ref().map(|b| b.phase().number())
    }

    /// This state as a format-1 state would be (epoch 1, no braid): the epoch-1
    /// baseline of the benchmarks. `None` once the state has left epoch 1.
    #[cfg(any(test, feature = "fuzzing-hooks"))]
    pub(crate) fn without_braid(&self) -> Option<Self> {
        if self.epoch != FIRST_EPOCH {
            return None;
        }
        let mut s = self.clone();
        s.braid = None;
        s.has_auth_key = false;
        s.auth_key = [0; 32];
        s.has_next = false;
        s.next_send = Chain::zero();
        s.next_recv = Chain::zero();
        Some(s)
    }

    /// The braid's own encoding (tests compare it before and after a message).
    #[cfg(test)]
    pub(crate) fn braid_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(b) = &self.braid {
            b.serialize(&mut out);
        }
        out
    }

    fn has_prev(&self) -> bool {
        self.epoch > FIRST_EPOCH
    }

    /// The field for the next outgoing message and its SPQR message key. The braid
    /// part may sample a key pair or encapsulate (one ML-KEM step at most); an
    /// encapsulation also derives the next epoch's chains.
    ///
    /// Fails with [`ProtocolError::SessionExpired`] once 2^32 − 1 messages have been sent
    /// in the epoch: the index is a u32 on the wire.
    pub(crate) fn send<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<(Vec<u8>, MessageKey), Error> {
        let index = self
            .send
            .index
            .checked_add(1)
            .ok_or(ProtocolError::SessionExpired)?;
        let (msg_type, chunk, secret) = match &mut self.braid {
            Some(b) => b.send(rng)?,
            None => (SpqrMsgType::None, None, None),
        };
        if let Some(es) = secret {
            let chains = add_epoch(&self.next_root, &es);
            self.next_root = chains.next_root;
            (self.next_send, self.next_recv) = split(self.role, chains.a_to_b, chains.b_to_a);
            self.has_next = true;
        }
        let key = self.send.step(index);
        let mut field = Vec::with_capacity(8 + chunk.map_or(0, |_| 3 + CHUNK_LEN));
        field.push(FIELD_VERSION);
        put_varint(&mut field, self.epoch);
        put_varint(&mut field, u64::from(index));
        field.push(msg_type.to_byte());
        if let Some(c) = chunk {
            put_varint(&mut field, u64::from(c.index));
            field.extend_from_slice(&c.data);
        }
        Ok((field, key))
    }

    fn which(&self, epoch: u64) -> Option<Which> {
        if epoch == self.epoch {
            Some(Which::Current)
        } else if self.has_prev() && epoch.checked_add(1) == Some(self.epoch) {
            Some(Which::Previous)
        } else if self.has_next
            && self.epoch.checked_add(1) == Some(epoch)
            && self.braid.as_ref().is_some_and(|b| b.awaits_next_epoch())
        {
            Some(Which::Next)
        } else {
            None
        }
    }

    fn recv_chain(&self, which: Which) -> &Chain {
        match which {
            Which::Current => &self.recv,
            Which::Previous => &self.prev_recv,
            Which::Next => &self.next_recv,
        }
    }

    /// Checks an incoming field against this state and says what receiving it costs,
    /// without deriving anything.
    ///
    /// Errors: [`ProtocolError::PqRatchet`] for a malformed field, index 0, or an epoch
    /// other than ours, the previous one, or (once our `c2` is out) the next one;
    /// [`ProtocolError::TooFarInFuture`] past [`MAX_FORWARD_JUMP`] unless
    /// `unlimited_jump` (a session with oneself, exempt as in libsignal-client: the
    /// caller's per-message work budget bounds it instead);
    /// [`ProtocolError::DuplicateMessage`] when the key was used or has aged out of the
    /// [`MAX_SKIPPED_DISTANCE`] window.
    pub(crate) fn plan_recv(
        &self,
        field: &[u8],
        stored: &SpqrKeys,
        unlimited_jump: bool,
    ) -> Result<RecvPlan, Error> {
        let header = parse(field).map_err(|_| ProtocolError::PqRatchet)?;
        // libsignal reads index 0 as "no SPQR key" and derives the message keys without a
        // salt. That would let a message skip SPQR entirely, so missive refuses it.
        if header.index == 0 {
            return Err(ProtocolError::PqRatchet.into());
        }
        let which = self.which(header.epoch).ok_or(ProtocolError::PqRatchet)?;
        let index = header.index;
        let newest = self.recv_chain(which).index;
        let steps = if index <= newest {
            let held =
                which != Which::Next && stored.get(header.epoch).is_some_and(|s| s.contains(index));
            if !held {
                return Err(ProtocolError::DuplicateMessage.into());
            }
            0
        } else {
            if index - newest > MAX_FORWARD_JUMP && !unlimited_jump {
                return Err(ProtocolError::TooFarInFuture.into());
            }
            index - newest
        };
        let braid_heavy = which == Which::Current
            && self
                .braid
                .as_ref()
                .is_some_and(|b| b.recv_work(&header) == RecvWork::Heavy);
        Ok(RecvPlan {
            header,
            steps,
            braid_heavy,
        })
    }

    /// The message key of a planned message. Advances this head's receiving chain (call
    /// it on the staged copy; a message of the next epoch also moves the head into it)
    /// and returns what changes in `stored`, which is only read.
    pub(crate) fn stage_recv(
        &mut self,
        plan: &RecvPlan,
        stored: &SpqrKeys,
    ) -> Result<(MessageKey, SpqrDelta), Error> {
        let epoch = plan.header.epoch;
        let which = self.which(epoch).ok_or(ProtocolError::PqRatchet)?;
        let mut evicted = None;
        if which == Which::Next {
            // The peer decapsulated our ciphertext and moved on: so do we. We become the
            // ek-sender of the new epoch.
            evicted = self.retire_current();
            self.send = self.next_send.clone();
            self.recv = self.next_recv.clone();
            self.next_send = Chain::zero();
            self.next_recv = Chain::zero();
            self.has_next = false;
            self.epoch = epoch;
            if let Some(b) = &mut self.braid {
                b.enter_next_epoch();
            }
        }
        let held = stored.get(epoch);
        let chain = match which {
            Which::Previous => &mut self.prev_recv,
            Which::Current | Which::Next => &mut self.recv,
        };
        let (key, keys) = recv_on(chain, plan.index(), held)?;
        Ok((
            key,
            SpqrDelta {
                epoch,
                keys,
                evicted,
            },
        ))
    }

    /// Moves the current receiving chain to the previous slot; returns the epoch whose
    /// stored keys that retires.
    fn retire_current(&mut self) -> Option<u64> {
        let evicted = self.has_prev().then(|| self.epoch - 1);
        self.prev_recv = self.recv.clone();
        evicted
    }

    /// Processes the braid part of a planned message once the message authenticated (on
    /// the staged head). Returns the epoch whose stored keys the message retired, if it
    /// completed our decapsulation (we then send in the next epoch). On error the
    /// message must be refused.
    pub(crate) fn finish_recv(&mut self, plan: &RecvPlan) -> Result<Option<u64>, Error> {
        let Some(braid) = &mut self.braid else {
            return Ok(None);
        };
        let Some(es) = braid.recv(&plan.header)? else {
            return Ok(None);
        };
        let chains = add_epoch(&self.next_root, &es);
        self.next_root = chains.next_root;
        let evicted = self.retire_current();
        (self.send, self.recv) = split(self.role, chains.a_to_b, chains.b_to_a);
        self.epoch = self.epoch.saturating_add(1);
        Ok(evicted)
    }

    /// The largest [`SpqrHead::serialize`] output with `stored` keys, exactly (callers
    /// size zeroizing buffers with it, which must never regrow): format, role, auth key,
    /// next root and epoch (74), the largest braid, three chains (send, receive, the
    /// previous epoch's receive: 36 each), two key counts (2 each: 4) and the keys (36
    /// each). The next epoch's two chains (64) are held only in braid states 8–11, whose
    /// braid part is over 1,200 bytes shorter than the largest.
    pub(crate) fn serialized_len(stored: usize) -> usize {
        74 + Braid::MAX_SERIALIZED_LEN + 3 * 36 + 4 + 36 * stored
    }

    /// Appends the versioned encoding (docs/PROTOCOL.md §8.7):
    /// ```text
    /// format u8 = 3 ‖ role u8 (0 initiator, 1 responder) ‖ auth key 32 ‖ next root 32
    /// ‖ epoch BE64 ‖ braid (authenticator 64 ‖ state u8 ‖ the state's data)
    /// ‖ send index BE32 ‖ send chain 32 ‖ recv index BE32 ‖ recv chain 32
    /// ‖ [epoch ≥ 2] previous epoch's recv index BE32 ‖ chain 32
    /// ‖ [braid state 8–11] next epoch's send chain 32 ‖ recv chain 32
    /// ‖ count BE16 ‖ count × (index BE32 ‖ key 32)        (this epoch's skipped keys)
    /// ‖ [epoch ≥ 2] count BE16 ‖ count × (index BE32 ‖ key 32)   (the previous epoch's)
    /// ```
    /// A state without the auth key is written in format 1 (epoch 1, no braid):
    /// `1 ‖ role ‖ next root ‖ send ‖ recv ‖ count ‖ keys`.
    pub(crate) fn serialize(&self, stored: &SpqrKeys, out: &mut Vec<u8>) {
        out.reserve(Self::serialized_len(stored.len()));
        let role = match self.role {
            Role::Initiator => 0,
            Role::Responder => 1,
        };
        let chain = |out: &mut Vec<u8>, c: &Chain| {
            out.extend_from_slice(&c.index.to_be_bytes());
            out.extend_from_slice(&c.key);
        };
        let keys = |out: &mut Vec<u8>, k: Option<&SkippedKeys>| {
            // At most MAX_SKIPPED_DISTANCE entries, so the count fits in a u16.
            let count = u16::try_from(k.map_or(0, SkippedKeys::len)).unwrap_or(u16::MAX);
            out.extend_from_slice(&count.to_be_bytes());
            for e in k.into_iter().flat_map(SkippedKeys::iter) {
                out.extend_from_slice(&e.n.to_be_bytes());
                out.extend_from_slice(&e.key);
            }
        };
        let braid = match (&self.braid, self.has_auth_key) {
            (Some(b), true) => b,
            _ => {
                out.push(STATE_FORMAT_V1);
                out.push(role);
                out.extend_from_slice(&self.next_root);
                chain(out, &self.send);
                chain(out, &self.recv);
                keys(out, stored.get(FIRST_EPOCH));
                return;
            }
        };
        out.push(STATE_FORMAT_V3);
        out.push(role);
        out.extend_from_slice(&self.auth_key);
        out.extend_from_slice(&self.next_root);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        braid.serialize(out);
        chain(out, &self.send);
        chain(out, &self.recv);
        if self.has_prev() {
            chain(out, &self.prev_recv);
        }
        if self.has_next {
            out.extend_from_slice(&self.next_send.key);
            out.extend_from_slice(&self.next_recv.key);
        }
        keys(out, stored.get(self.epoch));
        if self.has_prev() {
            keys(out, stored.get(self.epoch - 1));
        }
    }

    /// Decodes [`SpqrHead::serialize`]'s output (formats 1, 2 and 3), rejecting anything
    /// it could not have produced (unknown format, role or braid state, a braid state of
    /// the wrong side for the epoch, a malformed key, skipped keys out of order or outside
    /// their window, trailing bytes). A format-2 state (epoch 1, written before the braid)
    /// joins the braid from its start.
    pub(crate) fn deserialize(bytes: &[u8]) -> Result<(Self, SpqrKeys), DecodeError> {
        let mut r = Reader { rest: bytes };
        let format = r.u8()?;
        if !matches!(format, STATE_FORMAT_V1 | STATE_FORMAT_V2 | STATE_FORMAT_V3) {
            return Err(DecodeError::UnknownVersion);
        }
        let role = match r.u8()? {
            0 => Role::Initiator,
            1 => Role::Responder,
            _ => return Err(DecodeError::UnknownType),
        };
        let has_auth_key = format != STATE_FORMAT_V1;
        let auth_key: Zeroizing<[u8; 32]> =
            Zeroizing::new(if has_auth_key { r.array()? } else { [0; 32] });
        let next_root: Zeroizing<[u8; 32]> = Zeroizing::new(r.array()?);
        let (epoch, braid) = match format {
            STATE_FORMAT_V3 => {
                let epoch = u64::from_be_bytes(r.array()?);
                if epoch == 0 || epoch == u64::MAX {
                    return Err(DecodeError::Malformed);
                }
                (
                    epoch,
                    Some(Box::new(Braid::deserialize(&mut r, role, epoch)?)),
                )
            }
            STATE_FORMAT_V2 => (FIRST_EPOCH, Some(Box::new(Braid::new(role, &auth_key)))),
            _ => (FIRST_EPOCH, None),
        };
        let chain = |r: &mut Reader<'_>| -> Result<Chain, DecodeError> {
            Ok(Chain {
                index: u32::from_be_bytes(r.array()?),
                key: r.array()?,
            })
        };
        let send = chain(&mut r)?;
        let recv = chain(&mut r)?;
        let prev_recv = if epoch > FIRST_EPOCH {
            chain(&mut r)?
        } else {
            Chain::zero()
        };
        let has_next = braid
            .as_ref()
            .is_some_and(|b| matches!(b.phase().number(), 8..=11));
        let (next_send, next_recv) = if has_next {
            (
                Chain {
                    index: 0,
                    key: r.array()?,
                },
                Chain {
                    index: 0,
                    key: r.array()?,
                },
            )
        } else {
            (Chain::zero(), Chain::zero())
        };
        let mut stored = SpqrKeys::default();
        let mut keys = |r: &mut Reader<'_>, epoch: u64, newest: u32| -> Result<(), DecodeError> {
            let count = u16::from_be_bytes(r.array()?);
            if u32::from(count) > MAX_SKIPPED_DISTANCE {
                return Err(DecodeError::BadLength);
            }
            let oldest_kept = newest.saturating_sub(MAX_SKIPPED_DISTANCE).max(1);
            let mut skipped = SkippedKeys::with_capacity(usize::from(count));
            for _ in 0..count {
                let index = u32::from_be_bytes(r.array()?);
                let key: Zeroizing<[u8; 32]> = Zeroizing::new(r.array()?);
                if index < oldest_kept || index >= newest || !skipped.push(index, &key) {
                    return Err(DecodeError::Malformed);
                }
            }
            if !skipped.is_empty() {
                stored.sets.push((epoch, skipped));
            }
            Ok(())
        };
        keys(&mut r, epoch, recv.index)?;
        if epoch > FIRST_EPOCH {
            keys(&mut r, epoch - 1, prev_recv.index)?;
        }
        if !r.rest.is_empty() {
            return Err(DecodeError::BadLength);
        }
        Ok((
            SpqrHead {
                role,
                auth_key: *auth_key,
                has_auth_key,
                next_root: *next_root,
                epoch,
                send,
                recv,
                prev_recv,
                next_send,
                next_recv,
                has_next,
                braid,
            },
            stored,
        ))
    }
}

/// A whole SPQR state, head and stored keys together: the unit the fuzz hooks and this
/// module's tests work with. Sessions keep the two halves apart.
#[cfg(any(test, feature = "fuzzing-hooks"))]
#[derive(Clone)]
pub(crate) struct SpqrState {
    pub(crate) head: SpqrHead,
    pub(crate) skipped: SpqrKeys,
}

#[cfg(any(test, feature = "fuzzing-hooks"))]
impl fmt::Debug for SpqrState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpqrState")
            .field("head", &self.head)
            .field("skipped", &self.skipped.len())
            .finish()
    }
}

#[cfg(any(test, feature = "fuzzing-hooks"))]
impl SpqrState {
    /// Starts epoch 1 from the PQXDH auth key.
    pub(crate) fn new(auth_key: &[u8; 32], role: Role) -> Self {
        SpqrState {
            head: SpqrHead::new(auth_key, role),
            skipped: SpqrKeys::default(),
        }
    }

    /// Which side of PQXDH this state belongs to.
    #[cfg(test)]
    pub(crate) fn role(&self) -> Role {
        self.head.role()
    }

    /// A state like one read from a format-1 record: epoch 1 from `auth_key`, no braid.
    #[cfg(test)]
    pub(crate) fn without_braid(auth_key: &[u8; 32], role: Role) -> Self {
        let mut s = Self::new(auth_key, role);
        s.head.braid = None;
        s.head.has_auth_key = false;
        s.head.auth_key = [0; 32];
        s
    }

    /// See [`SpqrHead::send`]; on error the state is unchanged.
    pub(crate) fn send<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<(Vec<u8>, MessageKey), Error> {
        let mut head = self.head.clone();
        let out = head.send(rng)?;
        self.head = head;
        Ok(out)
    }

    /// The SPQR message key for an incoming field, treating the field as authenticated
    /// (a session checks the message MAC between staging and the braid step): plan,
    /// stage on a copy of the head, run the braid, apply. On error the state is
    /// unchanged.
    pub(crate) fn recv(&mut self, field: &[u8]) -> Result<MessageKey, Error> {
        let plan = self.head.plan_recv(field, &self.skipped, false)?;
        let mut head = self.head.clone();
        let (key, mut delta) = head.stage_recv(&plan, &self.skipped)?;
        if let Some(e) = head.finish_recv(&plan)? {
            delta.evicted = Some(e);
        }
        self.head = head;
        self.skipped.apply(&delta);
        Ok(key)
    }

    /// See [`SpqrHead::serialize`].
    pub(crate) fn serialize(&self, out: &mut Vec<u8>) {
        self.head.serialize(&self.skipped, out);
    }

    /// See [`SpqrHead::deserialize`].
    pub(crate) fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (head, skipped) = SpqrHead::deserialize(bytes)?;
        Ok(SpqrState { head, skipped })
    }
}

/// Copies the next `N` bytes of `it` (callers pass iterators long enough; a short one
/// leaves zeros rather than panicking).
fn take<const N: usize>(it: &mut core::slice::Iter<'_, u8>) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().zip(it) {
        *o = *b;
    }
    out
}

/// A borrowing reader that errors instead of panicking.
pub(crate) struct Reader<'a> {
    pub(crate) rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (a, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        let (b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(*b)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (a, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(*a)
    }

    /// Protobuf-style varint. Non-minimal encodings are accepted, as libsignal does.
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for i in 0..MAX_VARINT_LEN {
            let b = self.u8()?;
            // The tenth byte holds only bit 63: anything more overflows or continues.
            if i == MAX_VARINT_LEN - 1 && b > 1 {
                return Err(DecodeError::Malformed);
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Malformed)
    }
}

//! SPQR, the Sparse Post-Quantum Ratchet: the `pq_ratchet` field (protobuf field 5) of every
//! v4 `SignalMessage`, and the symmetric KDF chain that gives each message an extra key.
//!
//! Specifications: *The Double Ratchet Algorithm*, revision 3, §5 (the Sparse Post-Quantum
//! Ratchet) and §6 (the Triple Ratchet); *The ML-KEM Braid* for the message types. The byte
//! layouts, labels and limits below were established by observing libsignal-client 0.103.0
//! (see `docs/notes/spqr.md` for the evidence).
//!
//! **Stage: epoch 1 only, no post-quantum healing.** missive always sends `None` at epoch 1
//! and never advances the ML-KEM braid. It parses and validates the peer's braid chunks but
//! does not act on them, so the libsignal peer also stays at epoch 1 (it cannot finish a
//! KEM exchange alone). The epoch-1 chain is keyed from PQXDH, so messages keep the
//! handshake's post-quantum secrecy, but a compromise of the session state is healed only
//! by the classical (X25519) ratchet.
//!
//! # Key schedule
//! ```text
//! auth key = PQXDH HKDF output bytes 64..96
//!   HKDF(salt = 0^32, ikm = auth key, info = "Signal PQ Ratchet V1 Chain  Start")   (two spaces)
//!     → 96 = next root (32, kept for the braid) ‖ chain A→B (32) ‖ chain B→A (32)
//!   A = the PQXDH initiator, B = the responder; each sends on its own chain.
//!
//! per message, n = 1, 2, 3, … (one counter per direction and epoch; it is not reset by
//! Diffie-Hellman ratchet steps):
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
//! missive sends `01 01 varint(n) 00`: 4 bytes while n < 128.

#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::skipped::{KeysDelta, SkippedKeys};
use crate::crypto::kdf::hkdf;
use crate::error::{DecodeError, Error, ProtocolError};

/// The only field version libsignal-client 0.103 speaks. It rejects 0 ("minimum
/// version"), and once it has seen the peer's version it rejects any other.
pub(crate) const FIELD_VERSION: u8 = 1;

/// The epoch missive is always in. Epoch 1 is keyed directly from the PQXDH auth key;
/// later epochs need the braid, which missive does not run yet.
pub(crate) const EPOCH: u64 = 1;

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
/// Version byte of the state encoding with the PQXDH auth key: every ML-KEM braid MAC is
/// derived from it, so a session can join the braid only if its state keeps it.
const STATE_FORMAT_V2: u8 = 2;

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

/// What receiving one message costs SPQR, decided from its field before any chain is
/// walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecvPlan {
    /// The message's index.
    pub(crate) index: u32,
    /// Chain steps the message needs: 0 when its key is stored.
    pub(crate) steps: u32,
}

/// The chains of one session at epoch 1: what changes with every message. The stored
/// keys of skipped messages live apart (a [`SkippedKeys`]), so that staging a message
/// copies only this small value.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SpqrHead {
    #[zeroize(skip)]
    role: Role,
    /// The PQXDH auth key the state started from; zeros (and `has_auth_key` false) in
    /// records written before it was kept. The braid's authenticator is derived from it.
    /// Not an `Option`: a `None` would carry 32 uninitialized bytes into the box, which
    /// no drop wipes.
    auth_key: [u8; 32],
    #[zeroize(skip)]
    has_auth_key: bool,
    /// First 32 bytes of the Chain Start output. Unused until the braid lands, but the
    /// next epoch's chains are derived from it, so it is kept from the start.
    next_root: [u8; 32],
    send: Chain,
    recv: Chain,
}

impl fmt::Debug for SpqrHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpqrHead")
            .field("role", &self.role)
            .field("epoch", &EPOCH)
            .field("send_index", &self.send.index)
            .field("recv_index", &self.recv.index)
            .finish_non_exhaustive()
    }
}

impl SpqrHead {
    /// Starts epoch 1 from the PQXDH auth key (bytes 64..96 of the PQXDH HKDF output).
    pub(crate) fn new(auth_key: &[u8; 32], role: Role) -> Self {
        let okm = Zeroizing::new(hkdf::<96>(Some(&ZERO_SALT), auth_key, &[LABEL_START]));
        let mut it = okm.iter();
        let next_root = take(&mut it);
        let a_to_b = Chain {
            index: 0,
            key: take(&mut it),
        };
        let b_to_a = Chain {
            index: 0,
            key: take(&mut it),
        };
        let (send, recv) = match role {
            Role::Initiator => (a_to_b, b_to_a),
            Role::Responder => (b_to_a, a_to_b),
        };
        SpqrHead {
            role,
            auth_key: *auth_key,
            has_auth_key: true,
            next_root,
            send,
            recv,
        }
    }

    /// Which side of PQXDH this state belongs to.
    #[cfg(test)]
    pub(crate) fn role(&self) -> Role {
        self.role
    }

    /// The newest index sent and the newest received: what every message changes.
    pub(crate) fn indices(&self) -> (u32, u32) {
        (self.send.index, self.recv.index)
    }

    /// The field for the next outgoing message and its SPQR message key.
    ///
    /// Fails with [`ProtocolError::SessionExpired`] once 2^32 − 1 messages have been sent
    /// in the epoch: the index is a u32 on the wire.
    pub(crate) fn send(&mut self) -> Result<(Vec<u8>, MessageKey), Error> {
        let index = self
            .send
            .index
            .checked_add(1)
            .ok_or(ProtocolError::SessionExpired)?;
        let key = self.send.step(index);
        let mut field = Vec::with_capacity(8);
        field.push(FIELD_VERSION);
        put_varint(&mut field, EPOCH);
        put_varint(&mut field, u64::from(index));
        field.push(SpqrMsgType::None.to_byte());
        Ok((field, key))
    }

    /// Checks an incoming field against this state and says what receiving it costs,
    /// without deriving anything.
    ///
    /// Errors: [`ProtocolError::PqRatchet`] for a malformed field, an epoch other than 1,
    /// or index 0; [`ProtocolError::TooFarInFuture`] past [`MAX_FORWARD_JUMP`] unless
    /// `unlimited_jump` (a session with oneself, exempt as in libsignal-client: the
    /// caller's per-message work budget bounds it instead);
    /// [`ProtocolError::DuplicateMessage`] when the key was used or has aged out of the
    /// [`MAX_SKIPPED_DISTANCE`] window.
    pub(crate) fn plan_recv(
        &self,
        field: &[u8],
        stored: &SkippedKeys,
        unlimited_jump: bool,
    ) -> Result<RecvPlan, Error> {
        let header = parse(field).map_err(|_| ProtocolError::PqRatchet)?;
        if header.epoch != EPOCH {
            return Err(ProtocolError::PqRatchet.into());
        }
        // libsignal reads index 0 as "no SPQR key" and derives the message keys without a
        // salt. That would let a message skip SPQR entirely, so missive refuses it.
        if header.index == 0 {
            return Err(ProtocolError::PqRatchet.into());
        }
        let index = header.index;
        let newest = self.recv.index;
        if index <= newest {
            if !stored.contains(index) {
                return Err(ProtocolError::DuplicateMessage.into());
            }
            return Ok(RecvPlan { index, steps: 0 });
        }
        if index - newest > MAX_FORWARD_JUMP && !unlimited_jump {
            return Err(ProtocolError::TooFarInFuture.into());
        }
        Ok(RecvPlan {
            index,
            steps: index - newest,
        })
    }

    /// The message key of a planned message. Advances this head's receiving chain (call
    /// it on the staged copy) and returns what changes in `stored`, which is only read.
    pub(crate) fn stage_recv(
        &mut self,
        plan: &RecvPlan,
        stored: &SkippedKeys,
    ) -> Result<(MessageKey, KeysDelta), Error> {
        let index = plan.index;
        let newest = self.recv.index;
        if index <= newest {
            let key = stored.get(index).ok_or(ProtocolError::DuplicateMessage)?;
            let delta = KeysDelta {
                consumed: Some(index),
                ..KeysDelta::default()
            };
            return Ok((MessageKey(*key), delta));
        }
        let oldest_kept = index.saturating_sub(MAX_SKIPPED_DISTANCE);
        let first_stored = newest.saturating_add(1).max(oldest_kept);
        let mut added =
            SkippedKeys::with_capacity(usize::try_from(index - first_stored).unwrap_or(0));
        for i in newest.saturating_add(1)..index {
            let key = self.recv.step(i);
            if i >= oldest_kept {
                added.push(i, &key.0);
            }
        }
        let drop_below = stored
            .first()
            .is_some_and(|f| f < oldest_kept)
            .then_some(oldest_kept);
        let delta = KeysDelta {
            consumed: None,
            added,
            drop_below,
        };
        Ok((self.recv.step(index), delta))
    }

    /// An upper bound on [`SpqrHead::serialize`]'s output with `stored` keys.
    pub(crate) fn serialized_len(stored: usize) -> usize {
        140 + 36 * stored
    }

    /// Appends the versioned encoding:
    /// ```text
    /// format u8 = 2 ‖ role u8 (0 initiator, 1 responder) ‖ auth key 32 ‖ next root 32
    /// ‖ send index u32 BE ‖ send chain 32 ‖ recv index u32 BE ‖ recv chain 32
    /// ‖ count u16 BE ‖ count × (index u32 BE ‖ key 32), ascending
    /// ```
    /// Format 1 is the same without the auth key (a state read from a format-1 record is
    /// written back in format 1).
    pub(crate) fn serialize(&self, stored: &SkippedKeys, out: &mut Vec<u8>) {
        out.reserve(Self::serialized_len(stored.len()));
        out.push(if self.has_auth_key {
            STATE_FORMAT_V2
        } else {
            STATE_FORMAT_V1
        });
        out.push(match self.role {
            Role::Initiator => 0,
            Role::Responder => 1,
        });
        if self.has_auth_key {
            out.extend_from_slice(&self.auth_key);
        }
        out.extend_from_slice(&self.next_root);
        for chain in [&self.send, &self.recv] {
            out.extend_from_slice(&chain.index.to_be_bytes());
            out.extend_from_slice(&chain.key);
        }
        // At most MAX_SKIPPED_DISTANCE entries, so the count fits in a u16.
        let count = u16::try_from(stored.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for k in stored.iter() {
            out.extend_from_slice(&k.n.to_be_bytes());
            out.extend_from_slice(&k.key);
        }
    }

    /// Decodes [`SpqrHead::serialize`]'s output, rejecting anything it could not have
    /// produced (unknown format or role, skipped keys out of order or outside the window,
    /// trailing bytes).
    pub(crate) fn deserialize(bytes: &[u8]) -> Result<(Self, SkippedKeys), DecodeError> {
        let mut r = Reader { rest: bytes };
        let with_auth_key = match r.u8()? {
            STATE_FORMAT_V1 => false,
            STATE_FORMAT_V2 => true,
            _ => return Err(DecodeError::UnknownVersion),
        };
        let role = match r.u8()? {
            0 => Role::Initiator,
            1 => Role::Responder,
            _ => return Err(DecodeError::UnknownType),
        };
        let auth_key = if with_auth_key { r.array()? } else { [0; 32] };
        let next_root = r.array()?;
        let send = Chain {
            index: u32::from_be_bytes(r.array()?),
            key: r.array()?,
        };
        let recv = Chain {
            index: u32::from_be_bytes(r.array()?),
            key: r.array()?,
        };
        let count = u16::from_be_bytes(r.array()?);
        if u32::from(count) > MAX_SKIPPED_DISTANCE {
            return Err(DecodeError::BadLength);
        }
        let oldest_kept = recv.index.saturating_sub(MAX_SKIPPED_DISTANCE).max(1);
        let mut skipped = SkippedKeys::with_capacity(usize::from(count));
        for _ in 0..count {
            let index = u32::from_be_bytes(r.array()?);
            let key: Zeroizing<[u8; 32]> = Zeroizing::new(r.array()?);
            if index < oldest_kept || index >= recv.index || !skipped.push(index, &key) {
                return Err(DecodeError::Malformed);
            }
        }
        if !r.rest.is_empty() {
            return Err(DecodeError::BadLength);
        }
        Ok((
            SpqrHead {
                role,
                auth_key,
                has_auth_key: with_auth_key,
                next_root,
                send,
                recv,
            },
            skipped,
        ))
    }
}

/// A whole SPQR state, head and stored keys together: the unit the fuzz hooks and this
/// module's tests work with. Sessions keep the two halves apart.
#[cfg(any(test, feature = "fuzzing-hooks"))]
#[derive(Clone)]
pub(crate) struct SpqrState {
    pub(crate) head: SpqrHead,
    /// Every index is in `[recv.index − MAX_SKIPPED_DISTANCE, recv.index)`.
    pub(crate) skipped: SkippedKeys,
}

#[cfg(any(test, feature = "fuzzing-hooks"))]
impl fmt::Debug for SpqrState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpqrState")
            .field("role", &self.head.role)
            .field("epoch", &EPOCH)
            .field("send_index", &self.head.send.index)
            .field("recv_index", &self.head.recv.index)
            .field("skipped", &self.skipped.len())
            .finish_non_exhaustive()
    }
}

#[cfg(any(test, feature = "fuzzing-hooks"))]
impl SpqrState {
    /// Starts epoch 1 from the PQXDH auth key.
    pub(crate) fn new(auth_key: &[u8; 32], role: Role) -> Self {
        SpqrState {
            head: SpqrHead::new(auth_key, role),
            skipped: SkippedKeys::new(),
        }
    }

    /// Which side of PQXDH this state belongs to.
    #[cfg(test)]
    pub(crate) fn role(&self) -> Role {
        self.head.role()
    }

    /// See [`SpqrHead::send`].
    pub(crate) fn send(&mut self) -> Result<(Vec<u8>, MessageKey), Error> {
        self.head.send()
    }

    /// The SPQR message key for an incoming field: plan, stage on a copy of the head,
    /// apply. On error the state is unchanged.
    pub(crate) fn recv(&mut self, field: &[u8]) -> Result<MessageKey, Error> {
        let plan = self.head.plan_recv(field, &self.skipped, false)?;
        let mut head = self.head.clone();
        let (key, delta) = head.stage_recv(&plan, &self.skipped)?;
        self.head = head;
        delta.apply(&mut self.skipped);
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

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A borrowing reader that errors instead of panicking.
struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, DecodeError> {
        let (b, rest) = self.rest.split_first().ok_or(DecodeError::Truncated)?;
        self.rest = rest;
        Ok(*b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
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

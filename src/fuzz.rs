//! Hooks for the fuzz targets and their corpus tests (`fuzz/`), as rustls keeps its own:
//! hidden from the docs, not part of the API, exempt from semver. They expose the few
//! crate-internal decoders that untrusted bytes reach only through a session (the SPQR
//! field and state) and the canonical re-encoding of the message kinds, so that the
//! fuzzers can check round trips, and a cheap way for a sender to skip ahead in its chain.
//! Nothing here is needed to use missive.
//!
//! Compiled only with the non-default `fuzzing-hooks` feature (the fuzz crate and
//! missive's own tests turn it on), so no app build contains it. Nothing else changes
//! under fuzzing: the library never draws randomness of its own (the caller passes the
//! RNG), so the fuzz targets drive it with a seeded ChaCha RNG and reach past MACs and
//! signatures by playing both honest parties.

use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::device::Device;
use crate::error::{DecodeError, Error, MisuseError};
use crate::group::{DistributionId, SenderKeyDistributionMessage, SenderKeyMessage};
use crate::ratchet::spqr::{self, Role};
use crate::store::ProtocolStore;
use crate::wire::{PreKeySignalMessage, SignalMessage};

/// A decoded SPQR (`pq_ratchet`) field: see `docs/PROTOCOL.md` §5.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpqrField {
    /// The sender's epoch (≥ 1).
    pub epoch: u64,
    /// The message's index in the sender's SPQR chain.
    pub index: u32,
    /// The braid message type byte (0 None … 6 Ct2).
    pub msg_type: u8,
    /// Chunk index and chunk, present exactly for the types that carry one.
    pub chunk: Option<(u16, [u8; 32])>,
}

/// Decodes a `pq_ratchet` field as a v4 session does before using it.
pub fn parse_spqr_field(field: &[u8]) -> Result<SpqrField, DecodeError> {
    let h = spqr::parse(field)?;
    Ok(SpqrField {
        epoch: h.epoch,
        index: h.index,
        msg_type: h.msg_type.to_byte(),
        chunk: h.chunk.map(|c| (c.index, c.data)),
    })
}

/// Encodes a field with minimal varints and no trailing bytes (what a sender writes).
pub fn encode_spqr_field(f: &SpqrField) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.push(spqr::FIELD_VERSION);
    crate::wire::proto::put_varint(&mut out, f.epoch);
    crate::wire::proto::put_varint(&mut out, u64::from(f.index));
    out.push(f.msg_type);
    if let Some((index, data)) = &f.chunk {
        crate::wire::proto::put_varint(&mut out, u64::from(*index));
        out.extend_from_slice(data);
    }
    out
}

/// One session's SPQR state (chains and ML-KEM braid), as kept inside a session record.
#[derive(Clone)]
pub struct SpqrState(spqr::SpqrState);

impl SpqrState {
    /// Epoch 1 from a PQXDH auth key, for the initiator or the responder.
    pub fn new(auth_key: &[u8; 32], initiator: bool) -> Self {
        let role = if initiator {
            Role::Initiator
        } else {
            Role::Responder
        };
        SpqrState(spqr::SpqrState::new(auth_key, role))
    }

    /// Decodes the binary state format (`docs/PROTOCOL.md` §8.7).
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        spqr::SpqrState::deserialize(bytes).map(SpqrState)
    }

    /// Encodes the binary state format.
    pub fn serialize(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        self.0.serialize(&mut out);
        out
    }

    /// The next outgoing field and its message key (`rng` serves the braid's ML-KEM
    /// steps); on error the state is unchanged.
    pub fn send<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<(Vec<u8>, Zeroizing<[u8; 32]>), Error> {
        let (field, key) = self.0.send(rng)?;
        Ok((field, Zeroizing::new(*key.as_bytes())))
    }

    /// The message key for an incoming field, as if its message authenticated (the braid
    /// part is processed too); on error the state is unchanged.
    pub fn recv(&mut self, field: &[u8]) -> Result<Zeroizing<[u8; 32]>, Error> {
        let key = self.0.recv(field)?;
        Ok(Zeroizing::new(*key.as_bytes()))
    }

    /// The epoch this state sends in.
    pub fn epoch(&self) -> u64 {
        self.0.head.epoch()
    }

    /// The braid's state (1–11, `docs/notes/spqr-braid.md` §1.2); `None` for a state
    /// that cannot join the braid (format 1).
    pub fn braid_state(&self) -> Option<u8> {
        self.0.head.braid_state()
    }
}

/// The record as missive wrote it before the ML-KEM braid: every v4 session's SPQR state
/// at epoch 1 without the braid (a format-1 state), for the epoch-1 baseline of the
/// benchmarks. `None` if a session has already left epoch 1.
pub fn record_without_braid(record: &crate::SessionRecord) -> Option<crate::SessionRecord> {
    let mut r = record.clone();
    for s in r.current.iter_mut().chain(r.previous.iter_mut()) {
        if let Some(h) = s.head.spqr.as_mut() {
            **h = h.without_braid()?;
        }
    }
    Some(r)
}

/// Chunk `index` of a braid value (`len` a multiple of 32, at most 1,152 bytes): the
/// erasure code of `docs/PROTOCOL.md` §5.7.
pub fn braid_chunk(value: &[u8], index: u16) -> Option<[u8; 32]> {
    crate::ratchet::braid::erasure::chunk(value, index).map(|c| c.data)
}

/// Feeds `(index, chunk)` pairs to a braid decoder for a value of `k` chunks (1 ≤ k ≤
/// 36), as a session does: `Err(i)` if chunk `i` conflicts with a held one (same index,
/// other bytes; the decoder is unchanged), otherwise the value once `k` distinct indices
/// arrived, or `None`.
pub fn braid_decode(k: usize, chunks: &[(u16, [u8; 32])]) -> Result<Option<Vec<u8>>, usize> {
    use crate::ratchet::braid::erasure::{Added, Decoder};
    use crate::ratchet::spqr::Chunk;
    fn run<const K: usize>(chunks: &[(u16, [u8; 32])]) -> Result<Option<Vec<u8>>, usize> {
        let mut d = Decoder::<K>::new();
        for (i, (index, data)) in chunks.iter().enumerate() {
            let c = Chunk {
                index: *index,
                data: *data,
            };
            let before = d.clone();
            if d.add(&c) == Added::Conflict {
                debug_assert!(d == before);
                return Err(i);
            }
        }
        let mut out = alloc::vec![0u8; Decoder::<K>::len()];
        Ok(d.decode_into(&mut out).then_some(out))
    }
    macro_rules! dispatch {
        ($($k:literal)*) => {
            match k {
                $($k => run::<$k>(chunks),)*
                _ => Ok(None),
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36)
}

impl fmt::Debug for SpqrState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The canonical encoding of a parsed SignalMessage: its fields written as missive
/// writes them, followed by its own MAC. Equal to the input for every message missive
/// or libsignal sends; differs for input with unknown fields, repeated fields or
/// non-minimal varints, which the parser accepts.
pub fn reencode_signal_message(m: &SignalMessage) -> Vec<u8> {
    m.reencode()
}

/// The canonical encoding of a parsed PreKeySignalMessage (the inner SignalMessage is
/// kept byte for byte, as its MAC covers it).
pub fn reencode_prekey_signal_message(m: &PreKeySignalMessage) -> Vec<u8> {
    m.reencode()
}

/// The canonical encoding of a parsed SenderKeyMessage: its version byte, its fields as
/// missive writes them, and its own signature.
pub fn reencode_sender_key_message(m: &SenderKeyMessage) -> Vec<u8> {
    m.reencode()
}

/// The canonical encoding of a parsed SenderKeyDistributionMessage (version byte `0x33`,
/// every field in order, minimal varints). Secret: it holds the chain key.
pub fn reencode_sender_key_distribution_message(
    m: &SenderKeyDistributionMessage,
) -> Zeroizing<Vec<u8>> {
    m.reencode()
}

/// Advances our sending chain for `distribution_id` by `count` iterations, exactly as
/// `count` calls to [`Device::group_encrypt`] whose messages are lost would, without
/// making (and signing) them: one HMAC per iteration instead of a signature, so that
/// the group fuzz target reaches the forward-jump and stored-key bounds in a few
/// milliseconds. Fails as `group_encrypt` does, leaving the record as it was, when there
/// is no chain of ours to send on or it would run out.
pub fn skip_sender_messages<S: ProtocolStore>(
    device: &mut Device<S>,
    distribution_id: DistributionId,
    count: u32,
) -> Result<(), Error> {
    let local = device.address().clone();
    let record = device
        .store()
        .sender_key(&local, distribution_id)?
        .ok_or(MisuseError::InvalidState)?;
    let state = record.states.front().ok_or(MisuseError::InvalidState)?;
    if state.signing_private.is_none() {
        return Err(MisuseError::InvalidState.into());
    }
    let mut chain_key = state.chain_key.clone();
    for _ in 0..count {
        chain_key = chain_key.next().ok_or(MisuseError::InvalidState)?;
    }
    let change = crate::group::SenderKeyChange {
        kind: crate::group::record::SenderKeyChangeKind::Advance {
            chain_id: state.chain_id,
            signing_key: state.signing_key,
            from_iteration: state.chain_key.iteration(),
            chain_key,
            delta: crate::ratchet::skipped::KeysDelta::default(),
            verifier: None,
        },
    };
    drop(record);
    let changes = crate::store::ChangeSet {
        sender_key: Some((local, distribution_id, change)),
        ..crate::store::ChangeSet::default()
    };
    device.store_mut().commit(changes)?;
    Ok(())
}

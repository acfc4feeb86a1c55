//! Sender keys: group messaging where each member encrypts once for the whole group.
//!
//! Each sender has a *chain* per distribution id (usually one per group): a chain key
//! that steps forward with every message, and a signing key pair. The sender gives the
//! chain key and the public signing key to every member in a
//! [`SenderKeyDistributionMessage`], sent over each member's 1:1 session; then every
//! group message is one [`SenderKeyMessage`], encrypted under the next key of the
//! chain and signed with the signing key. There is no public specification; the
//! construction and its wire format are libsignal's, established by observation and
//! written down in `docs/PROTOCOL.md` §11 and `interop/OBSERVED.md` §11.
//!
//! ```text
//! sender (Device::…)                                member (Device::…)
//! sender_key_distribution_message
//!   + distribute_sender_key ─────(1:1 session)─────► decrypt → process_sender_key_distribution_message
//! group_encrypt ───────────────(server fan-out)────► group_decrypt / group_decrypt_batch
//! rotate_sender_key + distribute_sender_key ──(1:1)► decrypt → process_…   (after a member leaves)
//! ```
//!
//! **What sender keys do not give.** Forward secrecy only along the chain (a stolen
//! chain key reads every later message of that chain, but not earlier ones), and **no
//! post-compromise security**: a chain never heals by itself. It heals only when the
//! sender starts a new chain ([`Device::rotate_sender_key`](crate::Device::rotate_sender_key)) and distributes it to the members
//! it still trusts. A member who left keeps reading the old chain until the remaining
//! senders rotate. Every member can read every message; only the signature tells
//! members apart, so a member cannot impersonate another member, but anyone who holds
//! the distribution message can impersonate its sender.
//!
//! Every operation follows decode → stage → verify → one change set: a message's
//! signature is checked before anything else is done with it, decryption reads the
//! chain and stages only its new chain key and the change to its stored seeds, and the
//! change is committed only after the plaintext came out. Any error leaves the record
//! byte-identical.

pub(crate) mod chain;
mod distribution;
mod message;
pub(crate) mod record;
mod state;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use rand_core::CryptoRng;

pub use distribution::{DistributionId, SenderKeyDistributionMessage};
pub use message::SenderKeyMessage;
pub use record::{SenderKeyChange, SenderKeyRecord};

use crate::address::ProtocolAddress;
use crate::crypto::xeddsa::{self, BatchItem, SigningKey, VerifyingKey};
use crate::crypto::{PrivateKey, PublicKey, aes_cbc};
use crate::error::{DecodeError, Error, MisuseError, ProtocolError};
use crate::ratchet::skipped::{KeysDelta, SkippedKeys};
use crate::store::{ChangeSet, ProtocolStore};
use chain::{SenderChainKey, SenderMessageKeys};
use record::SenderKeyChangeKind;
use state::SenderKeyState;

/// The message version of sender-key messages (the high nibble of their first byte).
/// libsignal-client 0.103 writes `0x33` and refuses other high nibbles.
pub const SENDER_KEY_VERSION: u8 = 3;

/// Chains kept per (sender, distribution id). A sender that rotates keeps its old chain
/// readable for messages still in flight, for up to four rotations; and one record
/// cannot grow without bound. libsignal's value.
pub const MAX_SENDER_KEY_STATES: usize = 5;

/// How far ahead of the next expected iteration a message may be. Each step costs up to
/// two HMACs, so this bounds the work one message can cause; it is libsignal's value,
/// with the same rule (a jump of exactly 25,000 is accepted).
pub const MAX_SENDER_KEY_FORWARD_JUMP: u32 = 25_000;

/// Seeds of skipped messages kept per chain, the oldest dropped first: bounds the
/// memory of a record (each is 36 bytes). libsignal's value.
pub const MAX_SENDER_MESSAGE_KEYS: usize = 2_000;

/// `(version << 4) | version`, as libsignal writes it.
const fn version_byte() -> u8 {
    (SENDER_KEY_VERSION << 4) | SENDER_KEY_VERSION
}

/// Sender-key messages are version 3 only: `0x33`, or `0x34` from a sender whose newest
/// version is 4. libsignal reads only the high nibble; the other low nibbles, which no
/// peer writes, are refused here as they are for 1:1 messages.
fn parse_version(b: u8) -> Result<(), DecodeError> {
    match crate::wire::parse_version(b)? {
        SENDER_KEY_VERSION => Ok(()),
        _ => Err(DecodeError::UnknownVersion),
    }
}

/// How many times a fresh chain id is drawn before the RNG is declared broken: a
/// working RNG repeats one of at most [`MAX_SENDER_KEY_STATES`] ids of 2^31 with
/// probability below 2^-28 per draw.
const CHAIN_ID_DRAWS: usize = 8;

/// Our distribution message for `distribution_id`, starting a new chain if we have none
/// (a random 31-bit chain id, a fresh chain key and a fresh signing key pair). Called
/// again, it describes the same chain at its current iteration, so members who join
/// later read only what is sent from then on.
///
/// Fails with [`MisuseError::InvalidState`] if our newest chain for this distribution
/// id is not ours to send on (a distribution message was processed under our own
/// address).
pub(crate) fn create_distribution<S: ProtocolStore + ?Sized, R: CryptoRng + ?Sized>(
    store: &S,
    local: &ProtocolAddress,
    distribution_id: DistributionId,
    rng: &mut R,
) -> Result<(SenderKeyDistributionMessage, ChangeSet), Error> {
    let record = store.sender_key(local, distribution_id)?;
    if let Some(state) = record.as_ref().and_then(|r| r.states.front()) {
        if state.signing_private.is_none() {
            return Err(MisuseError::InvalidState.into());
        }
        let message = SenderKeyDistributionMessage::new(
            distribution_id,
            state.chain_id,
            &state.chain_key,
            state.signing_key,
        );
        return Ok((message, ChangeSet::default()));
    }
    let state = new_sending_state(&[], rng)?;
    let message = SenderKeyDistributionMessage::new(
        distribution_id,
        state.chain_id,
        &state.chain_key,
        state.signing_key,
    );
    let change = SenderKeyChange {
        kind: SenderKeyChangeKind::Add(Box::new(state)),
    };
    Ok((message, sender_key_changes(local, distribution_id, change)))
}

/// Starts a new sending chain for `distribution_id` that replaces our whole record for
/// it (old chain keys and signing keys are erased), with a chain id none of the old
/// ones.
pub(crate) fn rotate<S: ProtocolStore + ?Sized, R: CryptoRng + ?Sized>(
    store: &S,
    local: &ProtocolAddress,
    distribution_id: DistributionId,
    rng: &mut R,
) -> Result<(SenderKeyDistributionMessage, ChangeSet), Error> {
    let old: Vec<u32> = store
        .sender_key(local, distribution_id)?
        .map(|r| r.chain_ids().collect())
        .unwrap_or_default();
    let state = new_sending_state(&old, rng)?;
    let message = SenderKeyDistributionMessage::new(
        distribution_id,
        state.chain_id,
        &state.chain_key,
        state.signing_key,
    );
    let change = SenderKeyChange {
        kind: SenderKeyChangeKind::Replace(Box::new(state)),
    };
    Ok((message, sender_key_changes(local, distribution_id, change)))
}

/// The change that processing `message` from `sender` makes: its chain is added as
/// [`SenderKeyRecord`] adds chains (a chain id we hold with the same signing key keeps
/// its state, so a replayed distribution message cannot rewind it).
pub(crate) fn process_distribution(
    sender: &ProtocolAddress,
    message: &SenderKeyDistributionMessage,
) -> ChangeSet {
    let state = SenderKeyState {
        chain_id: message.chain_id(),
        chain_key: SenderChainKey::new(message.iteration(), *message.chain_key()),
        signing_key: *message.signing_key(),
        signing_private: None,
        // Every message on the chain is verified with it: rebuilt once, here.
        verifier: Some(Box::new(VerifyingKey::new(message.signing_key()))),
        skipped: SkippedKeys::new(),
    };
    let change = SenderKeyChange {
        kind: SenderKeyChangeKind::Add(Box::new(state)),
    };
    sender_key_changes(sender, message.distribution_id(), change)
}

/// Encrypts a group message on our newest chain for `distribution_id`. `rng` supplies
/// the signature's nonce.
///
/// Fails with [`MisuseError::InvalidState`] when there is no chain of ours to send on or
/// the chain is exhausted after 2^32 − 1 messages (rotate).
pub(crate) fn encrypt<S: ProtocolStore + ?Sized, R: CryptoRng + ?Sized>(
    store: &S,
    local: &ProtocolAddress,
    distribution_id: DistributionId,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<(SenderKeyMessage, ChangeSet), Error> {
    let record = store
        .sender_key(local, distribution_id)?
        .ok_or(MisuseError::InvalidState)?;
    let state = record.states.front().ok_or(MisuseError::InvalidState)?;
    let private = state
        .signing_private
        .as_ref()
        .ok_or(MisuseError::InvalidState)?;
    let next = state.chain_key.next().ok_or(MisuseError::InvalidState)?;
    let keys = SenderMessageKeys::derive(&state.chain_key.seed());
    let ciphertext = aes_cbc::encrypt(&keys.cipher_key, &keys.iv, plaintext);
    let message = SenderKeyMessage::new(
        distribution_id,
        state.chain_id,
        state.chain_key.iteration(),
        ciphertext,
        private,
        rng,
    );
    let change = SenderKeyChange {
        kind: SenderKeyChangeKind::Advance {
            chain_id: state.chain_id,
            signing_key: state.signing_key,
            from_iteration: state.chain_key.iteration(),
            chain_key: next,
            delta: KeysDelta::default(),
            verifier: None,
        },
    };
    Ok((message, sender_key_changes(local, distribution_id, change)))
}

/// Decrypts a group message from `sender`, with a signature verdict already computed
/// for a given key (used only if the chain's key is that key; else the signature is
/// checked here).
///
/// In order: the chain is looked up by distribution id and chain id
/// ([`ProtocolError::NoSenderKeyState`]), the signature is verified
/// ([`ProtocolError::BadSignature`]), the iteration's keys are found
/// ([`ProtocolError::DuplicateMessage`], [`ProtocolError::TooFarInFuture`]) and the
/// ciphertext is decrypted ([`ProtocolError::DecryptionFailed`]).
pub(crate) fn decrypt<S: ProtocolStore + ?Sized>(
    store: &S,
    sender: &ProtocolAddress,
    message: &SenderKeyMessage,
    verdict: Option<(PublicKey, bool)>,
) -> Result<(Vec<u8>, ChangeSet), Error> {
    let id = message.distribution_id();
    let record = store
        .sender_key(sender, id)?
        .ok_or(ProtocolError::NoSenderKeyState)?;
    let state = record
        .position(message.chain_id())
        .and_then(|i| record.states.get(i))
        .ok_or(ProtocolError::NoSenderKeyState)?;
    // The chain's key rebuilt for verification, when the state does not keep it yet
    // (a record just read): the change then keeps it.
    let mut rebuilt = None;
    let valid = match verdict {
        Some((key, valid)) if key == state.signing_key => valid,
        _ => match &state.verifier {
            Some(v) => message.verify_with(v),
            None => {
                message.verify_with(rebuilt.insert(Box::new(VerifyingKey::new(&state.signing_key))))
            }
        },
    };
    if !valid {
        return Err(ProtocolError::BadSignature.into());
    }
    let (keys, chain_key, delta) = state.stage(message.iteration())?;
    let plaintext = aes_cbc::decrypt(&keys.cipher_key, &keys.iv, message.ciphertext())
        .ok_or(ProtocolError::DecryptionFailed)?;
    let change = SenderKeyChange {
        kind: SenderKeyChangeKind::Advance {
            chain_id: state.chain_id,
            signing_key: state.signing_key,
            from_iteration: state.chain_key.iteration(),
            chain_key,
            delta,
            verifier: rebuilt,
        },
    };
    Ok((plaintext, sender_key_changes(sender, id, change)))
}

/// The signature verdicts of a batch of group messages, checked in one batch against
/// the records as they are: for each message, its chain's signing key and whether its
/// signature verified, or `None` if the message names no chain we hold.
///
/// Decryption never changes a chain's signing key, so these are the keys one-by-one
/// decryption uses; the batch verifier decides every signature exactly as one-by-one
/// verification does ([`xeddsa::verify_batch`]).
pub(crate) fn batch_verdicts<S: ProtocolStore + ?Sized>(
    store: &S,
    messages: &[(&ProtocolAddress, &SenderKeyMessage)],
) -> Vec<Option<(PublicKey, bool)>> {
    // Each record's (chain id, signing key) pairs, read once per sender and distribution.
    type Chains = Option<Vec<(u32, PublicKey)>>;
    let mut keys: BTreeMap<(ProtocolAddress, DistributionId), Chains> = BTreeMap::new();
    let mut items = Vec::with_capacity(messages.len());
    let mut item_of = Vec::with_capacity(messages.len());
    for (sender, message) in messages {
        let chains = keys
            .entry(((*sender).clone(), message.distribution_id()))
            .or_insert_with(|| {
                // A read error here only skips the batch for this message: decryption
                // reads again and reports it.
                store
                    .sender_key(sender, message.distribution_id())
                    .ok()
                    .flatten()
                    .map(|r| {
                        r.states
                            .iter()
                            .map(|s| (s.chain_id, s.signing_key))
                            .collect()
                    })
            });
        let key = chains.as_ref().and_then(|c| {
            c.iter()
                .find(|(id, _)| *id == message.chain_id())
                .map(|(_, k)| *k)
        });
        match (key, message.signed_parts()) {
            (Some(key), Some((body, signature))) => {
                item_of.push(Some(items.len()));
                items.push((key, body, signature));
            }
            _ => item_of.push(None),
        }
    }
    let batch: Vec<BatchItem<'_>> = items
        .iter()
        .map(|(key, message, signature)| BatchItem {
            key,
            message,
            signature,
        })
        .collect();
    let verdicts = xeddsa::verify_batch(&batch);
    item_of
        .into_iter()
        .map(|item| {
            let i = item?;
            let (key, _, _) = items.get(i)?;
            Some((*key, *verdicts.get(i)?))
        })
        .collect()
}

fn sender_key_changes(
    sender: &ProtocolAddress,
    distribution_id: DistributionId,
    change: SenderKeyChange,
) -> ChangeSet {
    ChangeSet {
        sender_key: Some((sender.clone(), distribution_id, change)),
        ..ChangeSet::default()
    }
}

/// A fresh sending chain whose id is none of `avoid`.
fn new_sending_state<R: CryptoRng + ?Sized>(
    avoid: &[u32],
    rng: &mut R,
) -> Result<SenderKeyState, Error> {
    // A random 31-bit chain id, as libsignal draws them (every observed id is < 2^31).
    let chain_id = (0..CHAIN_ID_DRAWS)
        .map(|_| rng.next_u32() >> 1)
        .find(|id| !avoid.contains(id))
        .ok_or(MisuseError::BadRng)?;
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    rng.fill_bytes(key.as_mut());
    let signing = SigningKey::new(PrivateKey::generate(rng));
    Ok(SenderKeyState {
        chain_id,
        chain_key: SenderChainKey::new(0, *key),
        signing_key: *signing.public_key(),
        signing_private: Some(Box::new(signing)),
        verifier: None,
        skipped: SkippedKeys::new(),
    })
}

#[cfg(test)]
mod tests;

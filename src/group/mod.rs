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
//! sender                                          member
//! create_sender_key_distribution_message ──(1:1 session)──► process_sender_key_distribution_message
//! group_encrypt ─────────────(server fan-out)─────────────► group_decrypt / group_decrypt_batch
//! rotate_sender_key + distribute_sender_key ──(1:1)──────► process_…   (after a member leaves)
//! ```
//!
//! **What sender keys do not give.** Forward secrecy only along the chain (a stolen
//! chain key reads every later message of that chain, but not earlier ones), and **no
//! post-compromise security**: a chain never heals by itself. It heals only when the
//! sender starts a new chain ([`rotate_sender_key`]) and distributes it to the members
//! it still trusts. A member who left keeps reading the old chain until the remaining
//! senders rotate. Every member can read every message; only the signature tells
//! members apart, so a member cannot impersonate another member, but anyone who holds
//! the distribution message can impersonate its sender.
//!
//! Every entry point follows decode → stage → verify → commit: a message's signature is
//! checked before anything else is done with it, decryption works on a copy of the
//! chain, and the store is written only after the plaintext came out. Any error leaves
//! the record byte-identical.

pub(crate) mod chain;
mod distribution;
mod message;
mod record;
mod state;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use rand_core::CryptoRng;

pub use distribution::{DistributionId, SenderKeyDistributionMessage};
pub use message::SenderKeyMessage;
pub use record::SenderKeyRecord;

use crate::address::ProtocolAddress;
use crate::crypto::xeddsa::{self, BatchItem};
use crate::crypto::{KeyPair, PublicKey, aes_cbc};
use crate::error::{DecodeError, Error, MisuseError, ProtocolError};
use crate::session::Timestamp;
use crate::store::{IdentityKeyStore, SenderKeyStore, SessionStore};
use crate::wire::CiphertextMessage;
use chain::{SenderChainKey, SenderMessageKeys};
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

/// Our distribution message for `distribution_id`, starting a new chain if we have
/// none (a random 31-bit chain id, a fresh chain key and a fresh signing key pair).
/// Called again, it describes the same chain at its current iteration, so members who
/// join later read only what is sent from then on.
///
/// `sender` is our own address: the record is kept under it. Send the result to each
/// member inside its 1:1 session ([`distribute_sender_key`] does that); it is unsigned
/// and contains the chain key.
///
/// Fails with [`MisuseError::InvalidState`] if our newest chain for this distribution
/// id is not ours to send on (a distribution message was processed under our own
/// address).
pub fn create_sender_key_distribution_message<R: CryptoRng + ?Sized>(
    sender: &ProtocolAddress,
    distribution_id: DistributionId,
    store: &mut dyn SenderKeyStore,
    rng: &mut R,
) -> Result<SenderKeyDistributionMessage, Error> {
    let record = store.load_sender_key(sender, distribution_id)?;
    if let Some(state) = record.as_ref().and_then(|r| r.states.front()) {
        if state.signing_private.is_none() {
            return Err(MisuseError::InvalidState.into());
        }
        return Ok(SenderKeyDistributionMessage::new(
            distribution_id,
            state.chain_id,
            &state.chain_key,
            state.signing_key,
        ));
    }
    let state = new_sending_state(&[], rng);
    let message = SenderKeyDistributionMessage::new(
        distribution_id,
        state.chain_id,
        &state.chain_key,
        state.signing_key,
    );
    let mut record = record.unwrap_or_default();
    record.add_state(state);
    store.store_sender_key(sender, distribution_id, &record)?;
    Ok(message)
}

/// Starts a new sending chain for `distribution_id` and returns its distribution
/// message: the app's side of rotation, after a member leaves (or whenever it wants the
/// group to heal from a compromise of our chain).
///
/// The new chain replaces our whole record for this distribution id: the old chain
/// keys and signing keys are erased, so nothing more can be sent on them. Members keep
/// the old chain (up to [`MAX_SENDER_KEY_STATES`] chains per sender) and still read
/// messages from it that are in flight. The new chain id differs from the old ones.
///
/// Give the result to the members that remain, and only to them:
/// [`distribute_sender_key`] encrypts it over each one's 1:1 session. Members that left
/// keep reading the old chain's messages, never the new chain's.
pub fn rotate_sender_key<R: CryptoRng + ?Sized>(
    sender: &ProtocolAddress,
    distribution_id: DistributionId,
    store: &mut dyn SenderKeyStore,
    rng: &mut R,
) -> Result<SenderKeyDistributionMessage, Error> {
    let old: Vec<u32> = store
        .load_sender_key(sender, distribution_id)?
        .map(|r| r.chain_ids().collect())
        .unwrap_or_default();
    let state = new_sending_state(&old, rng);
    let message = SenderKeyDistributionMessage::new(
        distribution_id,
        state.chain_id,
        &state.chain_key,
        state.signing_key,
    );
    let record = SenderKeyRecord {
        states: VecDeque::from([state]),
    };
    store.store_sender_key(sender, distribution_id, &record)?;
    Ok(message)
}

/// Encrypts `distribution`'s bytes to each member over its 1:1 session (missive's
/// [`encrypt`](crate::encrypt)), one result per member in order. A member without a
/// usable session gets its error and the others are not affected.
///
/// The plaintext of each 1:1 message is exactly [`SenderKeyDistributionMessage::serialized`];
/// the member passes it to [`SenderKeyDistributionMessage::deserialize`] and
/// [`process_sender_key_distribution_message`] with the address of the session it came
/// from. Apps that wrap their payloads (as Signal's apps put it in a `Content` message)
/// encrypt their own wrapping instead.
#[allow(clippy::too_many_arguments)]
pub fn distribute_sender_key<R: CryptoRng + ?Sized>(
    distribution: &SenderKeyDistributionMessage,
    members: &[ProtocolAddress],
    local: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    now: Timestamp,
    rng: &mut R,
) -> Vec<(ProtocolAddress, Result<CiphertextMessage, Error>)> {
    members
        .iter()
        .map(|member| {
            let sent = crate::session::encrypt(
                distribution.serialized(),
                member,
                local,
                session_store,
                identity_store,
                now,
                rng,
            );
            (member.clone(), sent)
        })
        .collect()
}

/// Processes a member's distribution message: from now on, its messages on that chain
/// can be decrypted, from the message's iteration on.
///
/// **The message is not authenticated by itself.** `sender` must be the address of the
/// 1:1 session the message was decrypted from; processing a distribution message that
/// arrived any other way lets whoever sent it impersonate `sender` in the group.
///
/// A chain id we already hold with the same signing key keeps its state (a replayed
/// distribution message cannot rewind the chain); with another signing key it is
/// replaced. At most [`MAX_SENDER_KEY_STATES`] chains are kept, the oldest dropped.
pub fn process_sender_key_distribution_message(
    sender: &ProtocolAddress,
    message: &SenderKeyDistributionMessage,
    store: &mut dyn SenderKeyStore,
) -> Result<(), Error> {
    let id = message.distribution_id();
    let mut record = store.load_sender_key(sender, id)?.unwrap_or_default();
    record.add_state(SenderKeyState {
        chain_id: message.chain_id(),
        chain_key: SenderChainKey::new(message.iteration(), *message.chain_key()),
        signing_key: *message.signing_key(),
        signing_private: None,
        skipped: VecDeque::new(),
    });
    store.store_sender_key(sender, id, &record)?;
    Ok(())
}

/// Encrypts a group message on our newest chain for `distribution_id` and advances it.
/// `rng` supplies the signature's nonce.
///
/// Fails with [`MisuseError::InvalidState`] when there is no chain of ours to send on
/// (call [`create_sender_key_distribution_message`] first) or the chain is exhausted
/// after 2^32 − 1 messages (rotate).
pub fn group_encrypt<R: CryptoRng + ?Sized>(
    sender: &ProtocolAddress,
    distribution_id: DistributionId,
    plaintext: &[u8],
    store: &mut dyn SenderKeyStore,
    rng: &mut R,
) -> Result<SenderKeyMessage, Error> {
    let mut record = store
        .load_sender_key(sender, distribution_id)?
        .ok_or(MisuseError::InvalidState)?;
    let state = record.states.front_mut().ok_or(MisuseError::InvalidState)?;
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
    state.chain_key = next;
    store.store_sender_key(sender, distribution_id, &record)?;
    Ok(message)
}

/// Decrypts a group message from `sender`.
///
/// In order: the chain is looked up by distribution id and chain id
/// ([`ProtocolError::NoSenderKeyState`]), the signature is verified
/// ([`ProtocolError::BadSignature`]), the iteration's keys are found
/// ([`ProtocolError::DuplicateMessage`], [`ProtocolError::TooFarInFuture`]) and the
/// ciphertext is decrypted ([`ProtocolError::DecryptionFailed`]). Only then is the
/// record written.
pub fn group_decrypt(
    message: &SenderKeyMessage,
    sender: &ProtocolAddress,
    store: &mut dyn SenderKeyStore,
) -> Result<Vec<u8>, Error> {
    decrypt_one(message, sender, store, None)
}

/// Decrypts a backlog of group messages (a device coming back online), in order, with
/// every signature verified in one batch ([`xeddsa::verify_batch`]).
///
/// Returns one result per message, in order, and each is exactly what
/// [`group_decrypt`] would return for that message had it been called on each in
/// turn: the signing key of a chain is fixed once its distribution message has been
/// processed, so every signature can be checked up front against the records as they
/// are, and the batch verifier decides every signature exactly as one-by-one
/// verification does (its documentation says why). The store is written after each
/// message that decrypts, as [`group_decrypt`] would.
///
/// ```
/// use missive::{DistributionId, ProtocolAddress};
/// use missive::store::memory::InMemSenderKeyStore;
/// # use rand_core::SeedableRng;
/// # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(6);
/// let alice = ProtocolAddress::new("alice", 1);
/// let group = DistributionId::random(&mut rng);
/// let (mut alice_store, mut bob_store) = (InMemSenderKeyStore::new(), InMemSenderKeyStore::new());
/// let skdm = missive::create_sender_key_distribution_message(&alice, group, &mut alice_store, &mut rng)?;
/// missive::process_sender_key_distribution_message(&alice, &skdm, &mut bob_store)?;
///
/// let backlog: Vec<_> = (0..3)
///     .map(|i| missive::group_encrypt(&alice, group, &[i], &mut alice_store, &mut rng))
///     .collect::<Result<_, _>>()?;
/// let mut forged = backlog[1].serialized().to_vec();
/// forged[10] ^= 1;
/// let forged = missive::SenderKeyMessage::deserialize(&forged)?;
/// let batch = [(&alice, &backlog[2]), (&alice, &forged), (&alice, &backlog[0]), (&alice, &backlog[1])];
/// let results = missive::group_decrypt_batch(&batch, &mut bob_store);
/// assert_eq!(results[0].as_deref(), Ok(&[2u8][..]));
/// assert!(results[1].is_err());
/// assert_eq!(results[2].as_deref(), Ok(&[0u8][..]));
/// assert_eq!(results[3].as_deref(), Ok(&[1u8][..]));
/// # Ok::<(), missive::Error>(())
/// ```
pub fn group_decrypt_batch(
    messages: &[(&ProtocolAddress, &SenderKeyMessage)],
    store: &mut dyn SenderKeyStore,
) -> Vec<Result<Vec<u8>, Error>> {
    // Each message's signing key, from the records as they are now. Decryption never
    // changes a chain's signing key, so these are the keys one-by-one decryption uses.
    let mut records: BTreeMap<(ProtocolAddress, DistributionId), Option<SenderKeyRecord>> =
        BTreeMap::new();
    let mut items = Vec::with_capacity(messages.len());
    let mut item_of = Vec::with_capacity(messages.len());
    for (sender, message) in messages {
        let record = records
            .entry(((*sender).clone(), message.distribution_id()))
            .or_insert_with(|| {
                // A read error here only skips the batch for this message: decrypt_one
                // reads again and reports it.
                store
                    .load_sender_key(sender, message.distribution_id())
                    .ok()
                    .flatten()
            });
        let key = record.as_ref().and_then(|r| {
            let i = r.position(message.chain_id())?;
            r.states.get(i).map(|s| s.signing_key)
        });
        match (key, message.signed_parts()) {
            (Some(key), Some((body, signature))) => {
                item_of.push(Some(items.len()));
                items.push((key, body, signature));
            }
            _ => item_of.push(None),
        }
    }
    drop(records);
    let batch: Vec<BatchItem<'_>> = items
        .iter()
        .map(|(key, message, signature)| BatchItem {
            key,
            message,
            signature,
        })
        .collect();
    let verdicts = xeddsa::verify_batch(&batch);

    messages
        .iter()
        .zip(item_of)
        .map(|((sender, message), item)| {
            let verdict = item.and_then(|i| {
                let (key, _, _) = items.get(i)?;
                Some((*key, *verdicts.get(i)?))
            });
            decrypt_one(message, sender, store, verdict)
        })
        .collect()
}

/// [`group_decrypt`], with an optional signature verdict already computed for the given
/// key; it is used only if the chain's key is that key, else the signature is checked
/// here.
fn decrypt_one(
    message: &SenderKeyMessage,
    sender: &ProtocolAddress,
    store: &mut dyn SenderKeyStore,
    verdict: Option<(PublicKey, bool)>,
) -> Result<Vec<u8>, Error> {
    let id = message.distribution_id();
    let mut record = store
        .load_sender_key(sender, id)?
        .ok_or(ProtocolError::NoSenderKeyState)?;
    let index = record
        .position(message.chain_id())
        .ok_or(ProtocolError::NoSenderKeyState)?;
    let state = record
        .states
        .get_mut(index)
        .ok_or(ProtocolError::NoSenderKeyState)?;
    let valid = match verdict {
        Some((key, valid)) if key == state.signing_key => valid,
        _ => message.verify_signature(&state.signing_key),
    };
    if !valid {
        return Err(ProtocolError::BadSignature.into());
    }
    let mut staged = state.clone();
    let keys = staged.keys_for(message.iteration())?;
    let plaintext = aes_cbc::decrypt(&keys.cipher_key, &keys.iv, message.ciphertext())
        .ok_or(ProtocolError::DecryptionFailed)?;
    *state = staged;
    store.store_sender_key(sender, id, &record)?;
    Ok(plaintext)
}

/// A fresh sending chain whose id is none of `avoid`.
fn new_sending_state<R: CryptoRng + ?Sized>(avoid: &[u32], rng: &mut R) -> SenderKeyState {
    // A random 31-bit chain id, as libsignal draws them (every observed id is < 2^31).
    let mut chain_id = rng.next_u32() >> 1;
    while avoid.contains(&chain_id) {
        chain_id = rng.next_u32() >> 1;
    }
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    rng.fill_bytes(key.as_mut());
    let signing = KeyPair::generate(rng);
    SenderKeyState {
        chain_id,
        chain_key: SenderChainKey::new(0, *key),
        signing_key: signing.public_key,
        signing_private: Some(signing.private_key),
        skipped: VecDeque::new(),
    }
}

#[cfg(test)]
mod tests;

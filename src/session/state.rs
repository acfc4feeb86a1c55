//! One session: the Double Ratchet state between two identities, and the SPQR chain.
//!
//! A state is two parts. The [`SessionHead`] is what every message may change (root key,
//! sending chain, the receiving chains' keys, the SPQR chains): a bounded value of under
//! a kilobyte, copied to stage a message. [`StoredKeys`] are the seeds and keys of
//! skipped messages (up to 5 × 2,000 + 2,000): they are only read while a message is
//! staged, and the message's change to them is a [`StoredDelta`]. So the work of an
//! ordinary message does not depend on how many keys a session stores.
//!
//! Decryption is planned from the header before anything is derived ([`DecryptPlan`]:
//! which chain, how many steps, whether a DH step is needed), so that trial decryption
//! can charge every attempt against one per-message budget.

use alloc::boxed::Box;
use alloc::vec::Vec;

use rand_core::CryptoRng;

use crate::crypto::aes_cbc;
use crate::crypto::{KemCiphertext, KeyPair, PublicKey};
use crate::error::{Error, ProtocolError};
use crate::handshake::DerivedKeys;
use crate::keys::{IdentityKey, KyberPreKeyId, PreKeyId, SignedPreKeyId};
use crate::ratchet::chain::{self, ReceiverChain, Receivers, SeedPlan};
use crate::ratchet::keys::{ChainKey, MessageKeys, RootKey};
use crate::ratchet::skipped::{KeysDelta, SkippedKeys};
use crate::ratchet::spqr::{RecvPlan, Role, SpqrDelta, SpqrHead, SpqrKeys, SpqrStamp};
use crate::wire::message::{PreKeyParts, SignalMessageParts};
use crate::wire::{
    ADDRESSES_LEN, CiphertextMessage, PreKeySignalMessage, SignalMessage, VERSION_PQXDH,
};

use super::budget::Cost;

#[cfg(test)]
extern crate std;
#[cfg(test)]
std::thread_local! {
    /// How many attempts this thread has staged (for the work-bound tests).
    pub(crate) static STAGED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    /// How many sessions this thread has planned a message on.
    pub(crate) static PLANNED: core::cell::Cell<usize> = const { core::cell::Cell::new(0) };
    /// Rewrites the SPQR field of each message this thread encrypts, before its MAC: an
    /// authenticated peer sending bad braid data (the bad-input tests).
    #[allow(clippy::type_complexity)]
    pub(crate) static TAMPER_FIELD: core::cell::RefCell<Option<Box<dyn Fn(&mut Vec<u8>)>>> =
        const { core::cell::RefCell::new(None) };
}

/// How long an initiator keeps sending on a session the peer never answered: after this,
/// encryption refuses, so the app fetches a fresh bundle (libsignal's value).
pub const MAX_UNACKNOWLEDGED_SESSION_AGE_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// Our current sending chain.
#[derive(Clone)]
pub(crate) struct SenderChain {
    pub(crate) ratchet: KeyPair,
    pub(crate) chain_key: ChainKey,
}

/// What the initiator repeats in every message until the first reply: the handshake
/// parameters the responder needs to build the session.
#[derive(Clone)]
pub(crate) struct PendingPreKey {
    pub(crate) pre_key_id: Option<PreKeyId>,
    pub(crate) signed_pre_key_id: SignedPreKeyId,
    pub(crate) base_key: PublicKey,
    /// The ciphertext boxed: inline, a v3 session's `None` would carry 1.5 KB of
    /// uninitialized space, into which every copy of the pending prekey (one per message
    /// until the first reply) moves whatever the stack held, key material included,
    /// and no drop wipes it before the block is freed.
    pub(crate) kyber: Option<(KyberPreKeyId, Box<KemCiphertext>)>,
    /// When the session was created (milliseconds since the Unix epoch).
    pub(crate) timestamp: u64,
}

/// Everything of a session that a message may change, except the stored keys.
///
/// Every secret field wipes itself on drop, so replacing a head in place (as a commit
/// does) leaves nothing behind.
#[derive(Clone)]
pub(crate) struct SessionHead {
    pub(crate) version: u8,
    pub(crate) local_identity: IdentityKey,
    pub(crate) remote_identity: IdentityKey,
    pub(crate) local_registration_id: u32,
    pub(crate) remote_registration_id: u32,
    pub(crate) root_key: RootKey,
    pub(crate) sender: SenderChain,
    /// The peer's chains, oldest first.
    pub(crate) receivers: Receivers,
    pub(crate) previous_counter: u32,
    /// Boxed: inline, its Kyber ciphertext would make every head ~2 KB, and a `None`
    /// would carry that much uninitialized space, into which moves copy whatever the
    /// stack held (key material included) where no drop can wipe it.
    pub(crate) pending_prekey: Option<Box<PendingPreKey>>,
    /// The initiator's base key: identifies the session across both parties.
    pub(crate) base_key: PublicKey,
    /// Boxed for the same reason as `pending_prekey`.
    pub(crate) spqr: Option<Box<SpqrHead>>,
}

/// Where a head stands: every public value that a message changes (the sending ratchet
/// key and index, each receiving chain's key and index, the SPQR epoch, indices and braid
/// progress, whether prekey data is pending). A change records the stamp of the head it was computed from, and a
/// store refuses it if the head has moved since: applying it would reuse a chain step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeadStamp {
    sender: (PublicKey, u32),
    receivers: [(PublicKey, u32); crate::ratchet::chain::MAX_RECEIVER_CHAINS],
    spqr: Option<SpqrStamp>,
    pending: bool,
}

/// The stored keys of a session's skipped messages.
#[derive(Default)]
pub(crate) struct StoredKeys {
    /// Seeds per receiving chain, by ratchet key; only chains of the head, only
    /// non-empty ones.
    pub(crate) chains: Vec<(PublicKey, SkippedKeys)>,
    /// SPQR message keys by epoch and index.
    pub(crate) spqr: SpqrKeys,
}

impl Clone for StoredKeys {
    fn clone(&self) -> Self {
        let mut chains = Vec::with_capacity(self.chains.len());
        chains.extend(self.chains.iter().map(|(k, s)| (*k, s.clone())));
        StoredKeys {
            chains,
            spqr: self.spqr.clone(),
        }
    }
}

impl StoredKeys {
    /// The seeds stored for the chain with ratchet key `key`.
    pub(crate) fn chain(&self, key: &PublicKey) -> Option<&SkippedKeys> {
        self.chains.iter().find(|(k, _)| k == key).map(|(_, s)| s)
    }

    /// How many keys are stored in all.
    pub(crate) fn len(&self) -> usize {
        self.spqr.len() + self.chains.iter().map(|(_, s)| s.len()).sum::<usize>()
    }

    /// Whether `delta` applies: its consumed keys exist and its added keys are newer.
    pub(crate) fn fits(&self, delta: &StoredDelta) -> bool {
        let chain_ok = match &delta.chain {
            Some((key, d)) => match self.chain(key) {
                Some(s) => d.fits(s),
                None => d.consumed.is_none(),
            },
            None => true,
        };
        chain_ok && self.spqr.fits(&delta.spqr)
    }

    /// Applies a message's change. Call [`StoredKeys::fits`] first.
    pub(crate) fn apply(&mut self, delta: &StoredDelta) {
        if let Some(gone) = &delta.evicted {
            self.chains.retain(|(k, _)| k != gone);
        }
        if let Some((key, d)) = &delta.chain
            && !d.is_empty()
        {
            if self.chain(key).is_none() {
                self.chains.push((*key, SkippedKeys::new()));
            }
            if let Some((_, s)) = self.chains.iter_mut().find(|(k, _)| k == key) {
                d.apply(s);
            }
            self.chains.retain(|(_, s)| !s.is_empty());
        }
        self.spqr.apply(&delta.spqr);
    }
}

/// What one message changes in a session's [`StoredKeys`].
#[derive(Default, Debug)]
pub(crate) struct StoredDelta {
    /// The message's receiving chain and the change to its seeds.
    pub(crate) chain: Option<(PublicKey, KeysDelta)>,
    /// A chain pushed out by a DH step: its seeds go with it.
    pub(crate) evicted: Option<PublicKey>,
    /// The change to the SPQR keys.
    pub(crate) spqr: SpqrDelta,
}

/// A whole session: its head and its stored keys.
///
/// The head is boxed: a message stages a copy of it, and committing the message swaps
/// the boxes, whose moves copy a pointer rather than the head.
#[derive(Clone)]
pub(crate) struct SessionState {
    pub(crate) head: Box<SessionHead>,
    pub(crate) keys: StoredKeys,
}

/// Who is on each end, for a new session.
pub(crate) struct Parties {
    pub(crate) version: u8,
    pub(crate) local_identity: IdentityKey,
    pub(crate) remote_identity: IdentityKey,
    pub(crate) local_registration_id: u32,
    pub(crate) remote_registration_id: u32,
    pub(crate) base_key: PublicKey,
}

/// Where a message's receiving chain comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChainPlan {
    /// One of the session's receiving chains.
    Existing(SeedPlan),
    /// A new ratchet key: one DH to derive the chain, then `steps` chain steps. (The DH
    /// that makes our next sending chain runs only after the message authenticated.)
    New { steps: u32 },
}

/// What decrypting a message on one session costs, decided from its header alone.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecryptPlan {
    chain: ChainPlan,
    spqr: Option<RecvPlan>,
}

impl DecryptPlan {
    /// The work the plan costs, in budget units.
    pub(crate) fn cost(&self) -> Cost {
        let (dh, steps) = match self.chain {
            ChainPlan::Existing(p) => (0, p.steps()),
            ChainPlan::New { steps } => (1, steps),
        };
        Cost::new(dh, steps, self.spqr.map_or(0, |p| p.steps))
            .plus_braid(self.spqr.is_some_and(|p| p.braid_heavy))
    }

    /// Whether the message is on one of the session's own receiving chains.
    pub(crate) fn on_known_chain(&self) -> bool {
        matches!(self.chain, ChainPlan::Existing(_))
    }
}

/// A message that decrypted on a staged copy of a session's head; nothing is written
/// until the caller commits it.
pub(crate) struct Staged {
    /// The stamp of the head the message was staged from.
    pub(crate) from: HeadStamp,
    pub(crate) head: Box<SessionHead>,
    pub(crate) delta: StoredDelta,
    pub(crate) plaintext: Vec<u8>,
    /// For a new ratchet key: the root key after the receiving step, the peer's key and
    /// the new receiving chain, to finish the DH step with a fresh key of ours.
    pending_step: Option<(RootKey, PublicKey, ChainKey)>,
}

impl Staged {
    /// Completes a DH ratchet step (a fresh ratchet key of ours and the sending chain it
    /// gives), now that the message authenticated.
    pub(crate) fn finish<R: CryptoRng + ?Sized>(self, rng: &mut R) -> Result<Self, Error> {
        let ratchet = self.pending_step.as_ref().map(|_| KeyPair::generate(rng));
        self.finish_with(ratchet)
    }

    /// [`Staged::finish`] with a given ratchet key (the healing test gives the attacker
    /// the victim's real one).
    pub(crate) fn finish_with(mut self, ratchet: Option<KeyPair>) -> Result<Self, Error> {
        if let (Some((root, their, recv_chain)), Some(ratchet)) =
            (self.pending_step.take(), ratchet)
        {
            let (root2, send_chain) = root.create_chain(&their, ratchet.private_key())?;
            let head = &mut self.head;
            head.root_key = root2;
            self.delta.evicted = head.receivers.push(ReceiverChain::new(their, recv_chain));
            // libsignal writes the previous chain's length minus one.
            head.previous_counter = head.sender.chain_key.index().saturating_sub(1);
            head.sender = SenderChain {
                ratchet,
                chain_key: send_chain,
            };
        }
        Ok(self)
    }
}

impl SessionState {
    /// The initiator's session: the responder's signed prekey is its first ratchet key, and
    /// we take one DH ratchet step at once to get a sending chain.
    pub(crate) fn initiator<R: CryptoRng + ?Sized>(
        parties: Parties,
        derived: DerivedKeys,
        their_signed_pre_key: &PublicKey,
        pending: PendingPreKey,
        rng: &mut R,
    ) -> Result<Self, ProtocolError> {
        let ratchet = KeyPair::generate(rng);
        let (root_key, send_chain) = derived
            .root_key
            .create_chain(their_signed_pre_key, ratchet.private_key())?;
        let mut receivers = Receivers::default();
        receivers.push(ReceiverChain::new(
            *their_signed_pre_key,
            derived.chain_key.clone(),
        ));
        Ok(SessionState {
            head: Box::new(SessionHead {
                version: parties.version,
                local_identity: parties.local_identity,
                remote_identity: parties.remote_identity,
                local_registration_id: parties.local_registration_id,
                remote_registration_id: parties.remote_registration_id,
                root_key,
                sender: SenderChain {
                    ratchet,
                    chain_key: send_chain,
                },
                receivers,
                previous_counter: 0,
                pending_prekey: Some(Box::new(pending)),
                base_key: parties.base_key,
                spqr: derived
                    .spqr_auth_key
                    .as_ref()
                    .map(|k| Box::new(SpqrHead::new(k, Role::Initiator))),
            }),
            keys: StoredKeys::default(),
        })
    }

    /// The responder's session: our signed prekey is our first ratchet key.
    pub(crate) fn responder(
        parties: Parties,
        derived: DerivedKeys,
        signed_pre_key: KeyPair,
    ) -> Self {
        SessionState {
            head: Box::new(SessionHead {
                version: parties.version,
                local_identity: parties.local_identity,
                remote_identity: parties.remote_identity,
                local_registration_id: parties.local_registration_id,
                remote_registration_id: parties.remote_registration_id,
                root_key: derived.root_key.clone(),
                sender: SenderChain {
                    ratchet: signed_pre_key,
                    chain_key: derived.chain_key.clone(),
                },
                receivers: Receivers::default(),
                previous_counter: 0,
                pending_prekey: None,
                base_key: parties.base_key,
                spqr: derived
                    .spqr_auth_key
                    .as_ref()
                    .map(|k| Box::new(SpqrHead::new(k, Role::Responder))),
            }),
            keys: StoredKeys::default(),
        }
    }

    /// Plans decrypting `message` on this session, from its header alone: the cheap
    /// checks of both ratchets (version, SPQR field, duplicate, forward jump) and the
    /// work the rest would take. Derives nothing.
    pub(crate) fn plan_decrypt(&self, message: &SignalMessage) -> Result<DecryptPlan, Error> {
        #[cfg(test)]
        PLANNED.with(|c| c.set(c.get() + 1));
        let head = &self.head;
        if message.message_version() != head.version {
            return Err(ProtocolError::VersionMismatch.into());
        }
        if head.version == VERSION_PQXDH && message.pq_ratchet().is_empty() {
            return Err(ProtocolError::PqRatchet.into());
        }
        let unlimited = head.is_self_session();
        let their = message.sender_ratchet_key();
        let chain = match head.receivers.find(their) {
            Some(c) => ChainPlan::Existing(chain::plan(
                c.chain_key.index(),
                message.counter(),
                self.keys.chain(their),
                unlimited,
            )?),
            None => ChainPlan::New {
                steps: chain::plan(0, message.counter(), None, unlimited)?.steps(),
            },
        };
        let spqr = match &head.spqr {
            Some(s) => Some(s.plan_recv(message.pq_ratchet(), &self.keys.spqr, unlimited)?),
            None => None,
        };
        Ok(DecryptPlan { chain, spqr })
    }

    /// Decrypts one planned message on a copy of the head; `self` is only read. Returns
    /// the staged head, the change to the stored keys and the plaintext: the caller
    /// finishes it ([`Staged::finish`]) and commits it.
    pub(crate) fn stage_decrypt(
        &self,
        message: &SignalMessage,
        plan: &DecryptPlan,
        expected_addresses: Option<&[u8; ADDRESSES_LEN]>,
    ) -> Result<Staged, Error> {
        #[cfg(test)]
        STAGED.with(|c| c.set(c.get() + 1));
        let mut head = self.head.clone();
        let their = *message.sender_ratchet_key();
        let (seed, chain_delta, pending_step) = match plan.chain {
            ChainPlan::Existing(_) => {
                let c = head
                    .receivers
                    .find_mut(&their)
                    .ok_or(ProtocolError::DecryptionFailed)?;
                let (seed, d) =
                    chain::stage(&mut c.chain_key, message.counter(), self.keys.chain(&their))?;
                (seed, d, None)
            }
            ChainPlan::New { .. } => {
                let (root, mut recv_chain) = head
                    .root_key
                    .create_chain(&their, head.sender.ratchet.private_key())?;
                let (seed, d) = chain::stage(&mut recv_chain, message.counter(), None)?;
                (seed, d, Some((root, their, recv_chain)))
            }
        };
        let (pq_key, spqr_delta) = match (&mut head.spqr, &plan.spqr) {
            (Some(s), Some(p)) => {
                let (k, d) = s.stage_recv(p, &self.keys.spqr)?;
                (Some(k), d)
            }
            _ => (None, SpqrDelta::default()),
        };
        let keys = MessageKeys::derive(&seed, pq_key.as_ref().map(|k| k.as_bytes()));
        if !message.verify_mac(&head.remote_identity, &head.local_identity, &keys.mac_key) {
            return Err(ProtocolError::DecryptionFailed.into());
        }
        let plaintext = aes_cbc::decrypt(&keys.cipher_key, &keys.iv, message.body())
            .ok_or(ProtocolError::DecryptionFailed)?;
        if let Some(got) = message.addresses()
            && expected_addresses != Some(got)
        {
            return Err(ProtocolError::AddressMismatch.into());
        }
        // The braid part, now that the message is authentic: it may complete a value
        // (checked before anything moves) and take one ML-KEM step. A value that fails
        // its check refuses the message.
        let mut spqr_delta = spqr_delta;
        if let (Some(s), Some(p)) = (&mut head.spqr, &plan.spqr)
            && let Some(evicted) = s.finish_recv(p)?
        {
            spqr_delta.evicted = Some(evicted);
        }
        head.pending_prekey = None;
        Ok(Staged {
            from: self.head.stamp(),
            head,
            delta: StoredDelta {
                chain: Some((their, chain_delta)),
                evicted: None,
                spqr: spqr_delta,
            },
            plaintext,
            pending_step,
        })
    }
}

impl SessionHead {
    /// See [`HeadStamp`].
    pub(crate) fn stamp(&self) -> HeadStamp {
        let mut receivers =
            [(PublicKey::from_u_bytes([0; 32]), 0); crate::ratchet::chain::MAX_RECEIVER_CHAINS];
        for (slot, c) in receivers.iter_mut().zip(self.receivers.iter()) {
            *slot = (c.ratchet_key, c.chain_key.index());
        }
        HeadStamp {
            sender: (
                *self.sender.ratchet.public_key(),
                self.sender.chain_key.index(),
            ),
            receivers,
            spqr: self.spqr.as_ref().map(|s| s.stamp()),
            pending: self.pending_prekey.is_some(),
        }
    }

    /// Whether `key` is one of the peer's sending chains we keep.
    pub(crate) fn has_receiver_chain(&self, key: &PublicKey) -> bool {
        self.receivers.find(key).is_some()
    }

    /// True for a note-to-self session between our own devices.
    fn is_self_session(&self) -> bool {
        self.local_identity == self.remote_identity
    }

    /// Whether we may still send: an initiator's unanswered session expires.
    pub(crate) fn usable_for_sending(&self, now_ms: u64) -> bool {
        match &self.pending_prekey {
            Some(p) => now_ms.saturating_sub(p.timestamp) <= MAX_UNACKNOWLEDGED_SESSION_AGE_MS,
            None => true,
        }
    }

    /// Encrypts one message and advances the sending chain (of this head: call it on a
    /// copy and commit the copy). `rng` serves the braid (an ML-KEM key pair or an
    /// encapsulation, at most one per message).
    pub(crate) fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        plaintext: &[u8],
        addresses: Option<[u8; ADDRESSES_LEN]>,
        rng: &mut R,
    ) -> Result<CiphertextMessage, Error> {
        let chain_key = self.sender.chain_key.clone();
        let next = chain_key.next().ok_or(ProtocolError::SessionExpired)?;
        let seed = chain_key.message_seed();
        let (pq_ratchet, pq_key) = match &mut self.spqr {
            Some(spqr) => {
                let (field, key) = spqr.send(rng)?;
                (field, Some(key))
            }
            None => (Vec::new(), None),
        };
        #[cfg(test)]
        let pq_ratchet = {
            let mut f = pq_ratchet;
            TAMPER_FIELD.with(|t| {
                if let Some(g) = t.borrow().as_ref() {
                    g(&mut f)
                }
            });
            f
        };
        let keys = MessageKeys::derive(&seed, pq_key.as_ref().map(|k| k.as_bytes()));
        let ciphertext = aes_cbc::encrypt(&keys.cipher_key, &keys.iv, plaintext);
        let message = SignalMessage::new(
            SignalMessageParts {
                version: self.version,
                sender_ratchet_key: *self.sender.ratchet.public_key(),
                counter: chain_key.index(),
                previous_counter: self.previous_counter,
                ciphertext,
                pq_ratchet,
                // libsignal binds addresses only inside v4 prekey messages.
                addresses: if self.pending_prekey.is_some() && self.version == VERSION_PQXDH {
                    addresses
                } else {
                    None
                },
                sender_identity: &self.local_identity,
                receiver_identity: &self.remote_identity,
            },
            &keys.mac_key,
        );
        self.sender.chain_key = next;
        Ok(match &self.pending_prekey {
            Some(p) => CiphertextMessage::PreKey(PreKeySignalMessage::new(PreKeyParts {
                registration_id: self.local_registration_id,
                pre_key_id: p.pre_key_id.map(|id| id.0),
                signed_pre_key_id: p.signed_pre_key_id.0,
                kyber: p
                    .kyber
                    .as_ref()
                    .map(|(id, ct)| (id.0, KemCiphertext::clone(ct))),
                base_key: p.base_key,
                identity_key: self.local_identity,
                message,
            })),
            None => CiphertextMessage::Whisper(message),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pending prekey has no large inline `Option`: a v3 session's `None` Kyber
    /// ciphertext would be 1.5 KB of uninitialized space that each copy (one per message
    /// until the first reply) fills with stack bytes, freed unwiped. Boxed, a `None` is a
    /// null pointer.
    #[test]
    fn pending_prekey_carries_no_uninitialized_ciphertext_space() {
        assert!(core::mem::size_of::<PendingPreKey>() < 128);
        assert_eq!(
            core::mem::size_of::<Option<(KyberPreKeyId, Box<KemCiphertext>)>>(),
            core::mem::size_of::<(KyberPreKeyId, Box<KemCiphertext>)>()
        );
    }
}

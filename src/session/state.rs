//! One session: the Double Ratchet state between two identities, and the SPQR chain.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use rand_core::CryptoRng;

use crate::crypto::aes_cbc;
use crate::crypto::{KemCiphertext, KeyPair, PublicKey};
use crate::error::{Error, ProtocolError};
use crate::handshake::DerivedKeys;
use crate::keys::{IdentityKey, KyberPreKeyId, PreKeyId, SignedPreKeyId};
use crate::ratchet::chain::{MAX_RECEIVER_CHAINS, ReceiverChain};
use crate::ratchet::keys::{ChainKey, MessageKeys, RootKey};
use crate::ratchet::spqr::{Role, SpqrState};
use crate::wire::message::{PreKeyParts, SignalMessageParts};
use crate::wire::{
    ADDRESSES_LEN, CiphertextMessage, PreKeySignalMessage, SignalMessage, VERSION_PQXDH,
};

/// How long an initiator keeps sending on a session the peer never answered: after this,
/// [`encrypt`](crate::encrypt) refuses, so the app fetches a fresh bundle (libsignal's value).
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
    pub(crate) kyber: Option<(KyberPreKeyId, KemCiphertext)>,
    /// When the session was created (milliseconds since the Unix epoch).
    pub(crate) timestamp: u64,
}

/// The state of one session.
#[derive(Clone)]
pub(crate) struct SessionState {
    pub(crate) version: u8,
    pub(crate) local_identity: IdentityKey,
    pub(crate) remote_identity: IdentityKey,
    pub(crate) local_registration_id: u32,
    pub(crate) remote_registration_id: u32,
    pub(crate) root_key: RootKey,
    pub(crate) sender: SenderChain,
    /// The peer's chains, oldest first.
    pub(crate) receivers: VecDeque<ReceiverChain>,
    pub(crate) previous_counter: u32,
    /// Boxed: inline, its Kyber ciphertext would make every state ~2 KB, and a `None`
    /// would carry that much uninitialized space, into which moves copy whatever the
    /// stack held (key material included) where no drop can wipe it.
    pub(crate) pending_prekey: Option<Box<PendingPreKey>>,
    /// The initiator's base key: identifies the session across both parties.
    pub(crate) base_key: PublicKey,
    /// Boxed for the same reason as `pending_prekey`: a v3 session's `None` would
    /// otherwise be ~180 bytes of uninitialized space inside the state.
    pub(crate) spqr: Option<Box<SpqrState>>,
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
            .create_chain(their_signed_pre_key, &ratchet.private_key)?;
        let mut receivers = VecDeque::with_capacity(MAX_RECEIVER_CHAINS + 1);
        receivers.push_back(ReceiverChain::new(
            *their_signed_pre_key,
            derived.chain_key.clone(),
        ));
        Ok(SessionState {
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
                .map(|k| Box::new(SpqrState::new(k, Role::Initiator))),
        })
    }

    /// The responder's session: our signed prekey is our first ratchet key.
    pub(crate) fn responder(
        parties: Parties,
        derived: DerivedKeys,
        signed_pre_key: KeyPair,
    ) -> Self {
        SessionState {
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
            receivers: VecDeque::with_capacity(MAX_RECEIVER_CHAINS + 1),
            previous_counter: 0,
            pending_prekey: None,
            base_key: parties.base_key,
            spqr: derived
                .spqr_auth_key
                .as_ref()
                .map(|k| Box::new(SpqrState::new(k, Role::Responder))),
        }
    }

    /// Whether `key` is one of the peer's sending chains we keep.
    pub(crate) fn has_receiver_chain(&self, key: &PublicKey) -> bool {
        self.receivers.iter().any(|c| &c.ratchet_key == key)
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

    /// Encrypts one message and advances the sending chain.
    pub(crate) fn encrypt(
        &mut self,
        plaintext: &[u8],
        addresses: Option<[u8; ADDRESSES_LEN]>,
    ) -> Result<CiphertextMessage, Error> {
        let chain_key = self.sender.chain_key.clone();
        let next = chain_key.next().ok_or(ProtocolError::SessionExpired)?;
        let seed = chain_key.message_seed();
        let (pq_ratchet, pq_key) = match &mut self.spqr {
            Some(spqr) => {
                let (field, key) = spqr.send()?;
                (field, Some(key))
            }
            None => (Vec::new(), None),
        };
        let keys = MessageKeys::derive(&seed, pq_key.as_ref().map(|k| k.as_bytes()));
        let ciphertext = aes_cbc::encrypt(&keys.cipher_key, &keys.iv, plaintext);
        let message = SignalMessage::new(
            SignalMessageParts {
                version: self.version,
                sender_ratchet_key: self.sender.ratchet.public_key,
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
                kyber: p.kyber.as_ref().map(|(id, ct)| (id.0, ct.clone())),
                base_key: p.base_key,
                identity_key: self.local_identity,
                message,
            })),
            None => CiphertextMessage::Whisper(message),
        })
    }

    /// Decrypts one message. Mutates `self` freely: callers run it on a copy and keep the
    /// copy only on success.
    pub(crate) fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        message: &SignalMessage,
        expected_addresses: Option<&[u8; ADDRESSES_LEN]>,
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        if message.message_version() != self.version {
            return Err(ProtocolError::VersionMismatch.into());
        }
        if self.version == VERSION_PQXDH && message.pq_ratchet().is_empty() {
            return Err(ProtocolError::PqRatchet.into());
        }
        let their_ratchet = message.sender_ratchet_key();
        let idx = match self
            .receivers
            .iter()
            .position(|c| &c.ratchet_key == their_ratchet)
        {
            Some(i) => i,
            None => self.ratchet_step(their_ratchet, rng)?,
        };
        let unlimited = self.is_self_session();
        let chain = self
            .receivers
            .get_mut(idx)
            .ok_or(ProtocolError::DecryptionFailed)?;
        let seed = chain.seed_for(message.counter(), unlimited)?;
        let pq_key = match &mut self.spqr {
            Some(spqr) => Some(spqr.recv(message.pq_ratchet())?),
            None => None,
        };
        let keys = MessageKeys::derive(&seed, pq_key.as_ref().map(|k| k.as_bytes()));
        if !message.verify_mac(&self.remote_identity, &self.local_identity, &keys.mac_key) {
            return Err(ProtocolError::DecryptionFailed.into());
        }
        let plaintext = aes_cbc::decrypt(&keys.cipher_key, &keys.iv, message.body())
            .ok_or(ProtocolError::DecryptionFailed)?;
        if let Some(got) = message.addresses()
            && expected_addresses != Some(got)
        {
            return Err(ProtocolError::AddressMismatch.into());
        }
        self.pending_prekey = None;
        Ok(plaintext)
    }

    /// A DH ratchet step on a new ratchet key from the peer; returns the new receiving
    /// chain's index.
    fn ratchet_step<R: CryptoRng + ?Sized>(
        &mut self,
        their_ratchet: &PublicKey,
        rng: &mut R,
    ) -> Result<usize, ProtocolError> {
        let (root1, recv_chain) = self
            .root_key
            .create_chain(their_ratchet, &self.sender.ratchet.private_key)?;
        let ratchet = KeyPair::generate(rng);
        let (root2, send_chain) = root1.create_chain(their_ratchet, &ratchet.private_key)?;
        self.root_key = root2;
        self.receivers
            .push_back(ReceiverChain::new(*their_ratchet, recv_chain));
        while self.receivers.len() > MAX_RECEIVER_CHAINS {
            self.receivers.pop_front();
        }
        // libsignal writes the previous chain's length minus one.
        self.previous_counter = self.sender.chain_key.index().saturating_sub(1);
        self.sender = SenderChain {
            ratchet,
            chain_key: send_chain,
        };
        Ok(self.receivers.len().saturating_sub(1))
    }
}

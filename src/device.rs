//! [`Device`]: one device's address, its store and its configuration, with a method for
//! every protocol operation. Each method computes, then commits one [`ChangeSet`]
//! through [`ProtocolStore::commit`]; if any step fails, including the commit, every
//! record is as it was and the same call can be retried.

use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;

use crate::address::ProtocolAddress;
use crate::error::{Error, MisuseError};
use crate::group::{self, DistributionId, SenderKeyDistributionMessage, SenderKeyMessage};
use crate::keys::PreKeyBundle;
use crate::session::{
    self, DEFAULT_MAX_ARCHIVED_SESSIONS, Decrypted, MAX_ARCHIVED_SESSIONS_LIMIT, Sender, Timestamp,
};
use crate::store::{ChangeSet, IdentityChange, ProtocolStore};
use crate::wire::{CiphertextMessage, CiphertextMessageType, PreKeySignalMessage, SignalMessage};

mod sealed;
pub use sealed::{SealedDecrypted, SealedMessage};

/// How a [`Device`] behaves where apps differ.
///
/// ```
/// use missive::Config;
/// let config = Config::default().max_archived_sessions(10).accept_legacy_x3dh(true);
/// assert_eq!(config.archived_sessions(), 10);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    max_archived_sessions: usize,
    accept_legacy_x3dh: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_archived_sessions: DEFAULT_MAX_ARCHIVED_SESSIONS,
            accept_legacy_x3dh: false,
        }
    }
}

impl Config {
    /// Archived sessions kept per peer device (default
    /// [`DEFAULT_MAX_ARCHIVED_SESSIONS`]; at most [`MAX_ARCHIVED_SESSIONS_LIMIT`], larger
    /// values are capped). Trial decryption shares one work budget across all of them.
    pub fn max_archived_sessions(mut self, n: usize) -> Self {
        self.max_archived_sessions = n.min(MAX_ARCHIVED_SESSIONS_LIMIT);
        self
    }

    /// Whether [`Device::decrypt`] accepts v3 (X3DH) prekey messages from legacy peers
    /// (default: no, as libsignal-client). Sessions with legacy peers are started with
    /// [`Device::process_legacy_prekey_bundle`] either way.
    pub fn accept_legacy_x3dh(mut self, yes: bool) -> Self {
        self.accept_legacy_x3dh = yes;
        self
    }

    /// The number of archived sessions kept.
    pub fn archived_sessions(&self) -> usize {
        self.max_archived_sessions
    }

    /// Whether v3 prekey messages are accepted.
    pub fn legacy_x3dh(&self) -> bool {
        self.accept_legacy_x3dh
    }
}

/// One device: its own address, its store and its configuration. The front door of
/// missive: every protocol operation is a method here.
///
/// ```
/// use missive::crypto::KemKeyType;
/// use missive::store::memory::InMemSignalProtocolStore;
/// use missive::*;
/// use rand_core::SeedableRng;
///
/// # fn main() -> Result<(), missive::Error> {
/// let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1); // an app passes its OS RNG
/// let now = Timestamp::from_millis(1_780_000_000_000);
/// let alice_addr = ProtocolAddress::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1);
/// let bob_addr = ProtocolAddress::new("796abedb-ca4e-4f18-8803-1fde5b921f9f", 1);
/// let mut alice = Device::new(
///     alice_addr.clone(),
///     InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 11),
/// );
/// let mut bob = Device::new(
///     bob_addr.clone(),
///     InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 22),
/// );
///
/// // Bob publishes a bundle: a signed prekey and a signed Kyber prekey.
/// let spec = missive::store::memory::BundleSpec::new(1);
/// let bundle = bob.store_mut().generate_bundle(&spec, 1, now, &mut rng);
///
/// // Alice runs PQXDH and writes first.
/// alice.process_prekey_bundle(&bob_addr, &bundle, now, &mut rng)?;
/// let msg = alice.encrypt(&bob_addr, b"hello", now, &mut rng)?;
///
/// // Bob receives a prekey message and answers on the new session.
/// let received = bob.decrypt(&alice_addr, msg.message_type(), msg.serialize(), &mut rng)?;
/// assert_eq!(received.plaintext, b"hello");
/// assert_eq!(received.identity_change, IdentityChange::New);
/// let reply = bob.encrypt(&alice_addr, b"hi", now, &mut rng)?;
/// let got = alice.decrypt(&bob_addr, reply.message_type(), reply.serialize(), &mut rng)?;
/// assert_eq!(got.plaintext, b"hi");
/// # Ok(())
/// # }
/// ```
pub struct Device<S> {
    address: ProtocolAddress,
    store: S,
    config: Config,
}

impl<S: fmt::Debug> fmt::Debug for Device<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("address", &self.address)
            .field("store", &self.store)
            .field("config", &self.config)
            .finish()
    }
}

impl<S: ProtocolStore> Device<S> {
    /// A device with the default [`Config`].
    pub fn new(address: ProtocolAddress, store: S) -> Self {
        Self::with_config(address, store, Config::default())
    }

    /// A device with `config`.
    pub fn with_config(address: ProtocolAddress, store: S, config: Config) -> Self {
        Device {
            address,
            store,
            config,
        }
    }

    /// Our address.
    pub fn address(&self) -> &ProtocolAddress {
        &self.address
    }
    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }
    /// The store, for the app's own management (publishing prekeys, approving an
    /// identity). Protocol operations write only through their change sets.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }
    /// The store, giving up the device.
    pub fn into_store(self) -> S {
        self.store
    }
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn commit(&mut self, changes: ChangeSet) -> Result<(), Error> {
        if changes.is_empty() {
            return Ok(());
        }
        self.store.commit(changes).map_err(Error::from)
    }

    /// Starts a PQXDH (v4) session with `remote` from its prekey bundle (we are the
    /// initiator): verifies both prekey signatures, checks that `remote`'s identity is
    /// trusted for sending, runs PQXDH and makes the new session current. The messages we
    /// send on it are prekey messages until the peer first answers. Returns what happened
    /// to the identity stored for `remote`.
    ///
    /// A bundle without a Kyber prekey is refused with
    /// [`ProtocolError::LegacyRefused`](crate::ProtocolError::LegacyRefused): a server
    /// that strips the Kyber prekey must not be able to downgrade the session to X3DH.
    pub fn process_prekey_bundle<R: CryptoRng + ?Sized>(
        &mut self,
        remote: &ProtocolAddress,
        bundle: &PreKeyBundle,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<IdentityChange, Error> {
        let keep = self.config.max_archived_sessions;
        let (change, changes) =
            session::start_session(&self.store, remote, bundle, false, keep, now, rng)?;
        self.commit(changes)?;
        Ok(change)
    }

    /// Starts an X3DH (v3) session from a bundle without a Kyber prekey, for legacy peers
    /// (libsignal-node, WhatsApp-lineage and OMEMO clients). No post-quantum protection.
    /// A bundle that has a Kyber prekey is refused with [`MisuseError::InvalidArgument`].
    pub fn process_legacy_prekey_bundle<R: CryptoRng + ?Sized>(
        &mut self,
        remote: &ProtocolAddress,
        bundle: &PreKeyBundle,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<IdentityChange, Error> {
        let keep = self.config.max_archived_sessions;
        let (change, changes) =
            session::start_session(&self.store, remote, bundle, true, keep, now, rng)?;
        self.commit(changes)?;
        Ok(change)
    }

    /// Encrypts `plaintext` for `remote` on the current session. `rng` serves the SPQR
    /// braid: a v4 message may sample an ML-KEM key pair or encapsulate (at most one
    /// ML-KEM step per message).
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        remote: &ProtocolAddress,
        plaintext: &[u8],
        now: Timestamp,
        rng: &mut R,
    ) -> Result<CiphertextMessage, Error> {
        let (message, changes) =
            session::encrypt(&self.store, &self.address, remote, plaintext, now, rng)?;
        self.commit(changes)?;
        Ok(message)
    }

    /// Decrypts a 1:1 message from `remote` of the given type, as received from the
    /// server: a [`PreKeySignalMessage`] or a [`SignalMessage`].
    ///
    /// The result carries the plaintext, the authenticated [`Sender`] and what happened
    /// to the sender's stored identity ([`Decrypted::identity_change`]).
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        remote: &ProtocolAddress,
        kind: CiphertextMessageType,
        bytes: &[u8],
        rng: &mut R,
    ) -> Result<Decrypted, Error> {
        match kind {
            CiphertextMessageType::PreKey => {
                let m = PreKeySignalMessage::deserialize(bytes)?;
                self.decrypt_prekey_message(remote, &m, rng)
            }
            CiphertextMessageType::Whisper => {
                let m = SignalMessage::deserialize(bytes)?;
                self.decrypt_signal_message(remote, &m, rng)
            }
        }
    }

    /// Decrypts a parsed [`SignalMessage`] from `remote`: tries the sessions that may
    /// hold it (the current one, then archived ones, all under one work budget) and makes
    /// the one that decrypts it current. Only sessions with the identity stored for
    /// `remote` are tried (see SECURITY.md, "Identity changes").
    pub fn decrypt_signal_message<R: CryptoRng + ?Sized>(
        &mut self,
        remote: &ProtocolAddress,
        message: &SignalMessage,
        rng: &mut R,
    ) -> Result<Decrypted, Error> {
        let keep = self.config.max_archived_sessions;
        let (decrypted, changes) = session::decrypt_signal_message(
            &self.store,
            &self.address,
            remote,
            message,
            keep,
            rng,
        )?;
        self.commit(changes)?;
        Ok(decrypted)
    }

    /// Decrypts a parsed [`PreKeySignalMessage`] from `remote` (we are the responder).
    ///
    /// If a session built from the same base key exists, the message goes to it.
    /// Otherwise a new session is built from the prekeys the message names and becomes
    /// current; in the same commit the one-time prekey is deleted and the Kyber prekey's
    /// use recorded (a last-resort key refuses a triple it has seen). v3 (X3DH) prekey
    /// messages are refused with
    /// [`ProtocolError::LegacyRefused`](crate::ProtocolError::LegacyRefused) unless the
    /// [`Config`] accepts them.
    pub fn decrypt_prekey_message<R: CryptoRng + ?Sized>(
        &mut self,
        remote: &ProtocolAddress,
        message: &PreKeySignalMessage,
        rng: &mut R,
    ) -> Result<Decrypted, Error> {
        let keep = self.config.max_archived_sessions;
        let legacy = self.config.accept_legacy_x3dh;
        let (decrypted, changes) = session::decrypt_prekey_message(
            &self.store,
            &self.address,
            remote,
            message,
            legacy,
            keep,
            rng,
        )?;
        self.commit(changes)?;
        Ok(decrypted)
    }

    /// Archives the current session with `remote` (a session reset): the next message to
    /// it needs a new bundle; late messages on the old session still decrypt.
    pub fn archive_session(&mut self, remote: &ProtocolAddress) -> Result<(), Error> {
        let changes = session::archive(remote, self.config.max_archived_sessions);
        self.commit(changes)
    }

    /// Our distribution message for `distribution_id`, starting a new chain if we have
    /// none (a random 31-bit chain id, a fresh chain key and signing key pair). Called
    /// again, it describes the same chain at its current iteration.
    ///
    /// Send the result to each member inside its 1:1 session
    /// ([`Device::distribute_sender_key`] does that): it is unsigned and contains the
    /// chain key.
    pub fn sender_key_distribution_message<R: CryptoRng + ?Sized>(
        &mut self,
        distribution_id: DistributionId,
        rng: &mut R,
    ) -> Result<SenderKeyDistributionMessage, Error> {
        let (message, changes) =
            group::create_distribution(&self.store, &self.address, distribution_id, rng)?;
        self.commit(changes)?;
        Ok(message)
    }

    /// Starts a new sending chain for `distribution_id` and returns its distribution
    /// message: rotation, after a member leaves (or to heal from a compromise of our
    /// chain). The new chain replaces our whole record for this distribution id, so
    /// nothing more can be sent on the old chains; members keep reading their in-flight
    /// messages. Give the result only to the members that remain.
    ///
    /// Fails with [`MisuseError::BadRng`] if `rng` keeps producing chain ids already in
    /// use.
    pub fn rotate_sender_key<R: CryptoRng + ?Sized>(
        &mut self,
        distribution_id: DistributionId,
        rng: &mut R,
    ) -> Result<SenderKeyDistributionMessage, Error> {
        let (message, changes) = group::rotate(&self.store, &self.address, distribution_id, rng)?;
        self.commit(changes)?;
        Ok(message)
    }

    /// Encrypts `distribution`'s bytes to each member over its 1:1 session, one result
    /// per member in order; a member without a usable session gets its error and the
    /// others are not affected. The plaintext of each 1:1 message is exactly
    /// [`SenderKeyDistributionMessage::serialized`].
    pub fn distribute_sender_key<R: CryptoRng + ?Sized>(
        &mut self,
        distribution: &SenderKeyDistributionMessage,
        members: &[ProtocolAddress],
        now: Timestamp,
        rng: &mut R,
    ) -> Vec<(ProtocolAddress, Result<CiphertextMessage, Error>)> {
        members
            .iter()
            .map(|member| {
                let sent = self.encrypt(member, distribution.serialized(), now, rng);
                (member.clone(), sent)
            })
            .collect()
    }

    /// Processes a member's distribution message, delivered by the 1:1 message `from`:
    /// from now on that member's messages on the chain decrypt, from the message's
    /// iteration on. The sender is the one `from`'s session authenticated; a
    /// distribution message that arrived any other way must not be processed (whoever
    /// sent it could impersonate the member in the group).
    ///
    /// A chain id we already hold with the same signing key keeps its state (a replayed
    /// distribution message cannot rewind the chain); with another signing key it is
    /// replaced. At most [`MAX_SENDER_KEY_STATES`](crate::MAX_SENDER_KEY_STATES) chains
    /// are kept per member and distribution id. Fails with
    /// [`MisuseError::InvalidArgument`] for a distribution message under our own address
    /// (our chains are ours to create).
    pub fn process_sender_key_distribution_message(
        &mut self,
        from: &Sender,
        message: &SenderKeyDistributionMessage,
    ) -> Result<(), Error> {
        if from.address() == &self.address {
            return Err(MisuseError::InvalidArgument.into());
        }
        let changes = group::process_distribution(from.address(), message);
        self.commit(changes)
    }

    /// Encrypts a group message on our newest chain for `distribution_id`. `rng` supplies
    /// the signature's nonce.
    ///
    /// Fails with [`MisuseError::InvalidState`] when there is no chain of ours to send on
    /// (call [`Device::sender_key_distribution_message`] first) or the chain is exhausted
    /// after 2^32 − 1 messages (rotate).
    pub fn group_encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        distribution_id: DistributionId,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<SenderKeyMessage, Error> {
        let (message, changes) =
            group::encrypt(&self.store, &self.address, distribution_id, plaintext, rng)?;
        self.commit(changes)?;
        Ok(message)
    }

    /// Decrypts a group message from `sender`.
    ///
    /// In order: the chain is looked up by distribution id and chain id
    /// ([`ProtocolError::NoSenderKeyState`](crate::ProtocolError::NoSenderKeyState)),
    /// the signature verified ([`BadSignature`](crate::ProtocolError::BadSignature)), the
    /// iteration's keys found ([`DuplicateMessage`](crate::ProtocolError::DuplicateMessage),
    /// [`TooFarInFuture`](crate::ProtocolError::TooFarInFuture)) and the ciphertext
    /// decrypted; only then is the change committed.
    pub fn group_decrypt(
        &mut self,
        sender: &ProtocolAddress,
        message: &SenderKeyMessage,
    ) -> Result<Vec<u8>, Error> {
        let (plaintext, changes) = group::decrypt(&self.store, sender, message, None)?;
        self.commit(changes)?;
        Ok(plaintext)
    }

    /// Decrypts a backlog of group messages (a device coming back online), in order, with
    /// every signature verified in one batch.
    ///
    /// Returns one result per message, in order, and each is exactly what
    /// [`Device::group_decrypt`] would return for that message had it been called on
    /// each in turn: the signing key of a chain is fixed once its distribution message
    /// has been processed, so every signature can be checked up front, and the batch
    /// verifier decides every signature exactly as one-by-one verification does. Each
    /// message that decrypts is committed on its own, as `group_decrypt` would.
    pub fn group_decrypt_batch(
        &mut self,
        messages: &[(&ProtocolAddress, &SenderKeyMessage)],
    ) -> Vec<Result<Vec<u8>, Error>> {
        let verdicts = group::batch_verdicts(&self.store, messages);
        messages
            .iter()
            .zip(verdicts)
            .map(|((sender, message), verdict)| {
                let (plaintext, changes) = group::decrypt(&self.store, sender, message, verdict)?;
                self.commit(changes)?;
                Ok(plaintext)
            })
            .collect()
    }
}

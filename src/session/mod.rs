//! Sessions: set-up from a bundle or a prekey message, encryption and decryption, and
//! the records that hold them.
//!
//! Every entry point follows decode → stage → verify → commit: the work happens on
//! copies, and the stores are written only after the message authenticated and
//! decrypted. Any error leaves every record exactly as it was.

mod record;
pub(crate) mod state;

use alloc::vec::Vec;

use rand_core::CryptoRng;

pub use record::{DEFAULT_MAX_ARCHIVED_SESSIONS, MAX_ARCHIVED_SESSIONS_LIMIT, SessionRecord};
pub use state::MAX_UNACKNOWLEDGED_SESSION_AGE_MS;

use crate::address::{ProtocolAddress, encode_addresses};
use crate::crypto::KeyPair;
use crate::error::{Error, ProtocolError};
use crate::handshake::{self, OurPreKeys, TheirBundle};
use crate::keys::{KyberPreKeyId, PreKeyBundle, PreKeyId, SignedPreKeyId};
use crate::store::{
    Direction, IdentityKeyStore, KyberPreKeyStore, PreKeyStore, SessionStore, SignedPreKeyStore,
};
use crate::wire::{
    CiphertextMessage, PreKeySignalMessage, SignalMessage, VERSION_PQXDH, VERSION_X3DH,
};
use state::{Parties, PendingPreKey, SessionState};

/// A point in time: milliseconds since the Unix epoch, as the caller's clock says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// From milliseconds since the Unix epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }
    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }
}

/// Starts a PQXDH (v4) session with `remote` from its prekey bundle (we are the
/// initiator).
///
/// Verifies both prekey signatures before anything else, checks that `remote`'s identity
/// is trusted for sending, runs PQXDH and makes the new session current. The messages we
/// send on it are prekey messages until the peer first answers.
///
/// A bundle without a Kyber prekey is refused with [`ProtocolError::LegacyRefused`]: a
/// server that strips the Kyber prekey must not be able to downgrade the session to
/// X3DH. For peers that speak only v3, use [`process_legacy_prekey_bundle`].
pub fn process_prekey_bundle<R: CryptoRng + ?Sized>(
    bundle: &PreKeyBundle,
    remote: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    now: Timestamp,
    rng: &mut R,
) -> Result<(), Error> {
    if bundle.kyber_pre_key().is_none() {
        return Err(ProtocolError::LegacyRefused.into());
    }
    start_session(bundle, remote, session_store, identity_store, now, rng)
}

/// Starts an X3DH (v3) session from a bundle without a Kyber prekey, for legacy peers
/// (libsignal-node, WhatsApp-lineage and OMEMO clients). No post-quantum protection.
/// A bundle that has a Kyber prekey belongs to [`process_prekey_bundle`] and is refused
/// here with [`MisuseError::InvalidArgument`](crate::MisuseError::InvalidArgument).
pub fn process_legacy_prekey_bundle<R: CryptoRng + ?Sized>(
    bundle: &PreKeyBundle,
    remote: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    now: Timestamp,
    rng: &mut R,
) -> Result<(), Error> {
    if bundle.kyber_pre_key().is_some() {
        return Err(crate::MisuseError::InvalidArgument.into());
    }
    start_session(bundle, remote, session_store, identity_store, now, rng)
}

fn start_session<R: CryptoRng + ?Sized>(
    bundle: &PreKeyBundle,
    remote: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    now: Timestamp,
    rng: &mut R,
) -> Result<(), Error> {
    let their_identity = bundle.identity_key();
    if !their_identity.verify_signature(
        &bundle.signed_pre_key().serialize(),
        bundle.signed_pre_key_signature(),
    ) {
        return Err(ProtocolError::BadSignature.into());
    }
    if let Some((_, kyber, sig)) = bundle.kyber_pre_key()
        && !their_identity.verify_signature(&kyber.serialize(), sig)
    {
        return Err(ProtocolError::BadSignature.into());
    }
    if !identity_store.is_trusted_identity(remote, their_identity, Direction::Sending)? {
        return Err(ProtocolError::UntrustedIdentity.into());
    }
    let our_identity = identity_store.identity_key_pair()?;
    let local_registration_id = identity_store.local_registration_id()?;
    let mut record = session_store.load_session(remote)?.unwrap_or_default();

    let base_key = KeyPair::generate(rng);
    let base_public = base_key.public_key;
    let their = TheirBundle {
        identity_key: their_identity,
        signed_pre_key: bundle.signed_pre_key(),
        one_time_pre_key: bundle.pre_key().map(|(_, k)| k),
        kyber_pre_key: bundle.kyber_pre_key().map(|(_, k, _)| k),
    };
    let (derived, kyber_ct) = handshake::initiate(&our_identity, base_key, &their, rng)?;
    let version = if kyber_ct.is_some() {
        VERSION_PQXDH
    } else {
        VERSION_X3DH
    };
    let kyber = match (bundle.kyber_pre_key(), kyber_ct) {
        (Some((id, _, _)), Some(ct)) => Some((id, ct)),
        _ => None,
    };
    let pending = PendingPreKey {
        pre_key_id: bundle.pre_key().map(|(id, _)| id),
        signed_pre_key_id: bundle.signed_pre_key_id(),
        base_key: base_public,
        kyber,
        timestamp: now.as_millis(),
    };
    let parties = Parties {
        version,
        local_identity: *our_identity.identity_key(),
        remote_identity: *their_identity,
        local_registration_id,
        remote_registration_id: bundle.registration_id(),
        base_key: base_public,
    };
    let state = SessionState::initiator(parties, derived, bundle.signed_pre_key(), pending, rng)?;
    record.promote_state(state, session_store.max_archived_sessions());

    identity_store.save_identity(remote, their_identity)?;
    session_store.store_session(remote, &record)?;
    Ok(())
}

/// Encrypts `plaintext` for `remote` on the current session.
///
/// `local` is our own address: when both addresses are service ids, prekey messages
/// carry them (the `addresses` field) so the receiver can check the message was meant
/// for it.
pub fn encrypt<R: CryptoRng + ?Sized>(
    plaintext: &[u8],
    remote: &ProtocolAddress,
    local: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    now: Timestamp,
    rng: &mut R,
) -> Result<CiphertextMessage, Error> {
    let _ = rng; // reserved for the SPQR braid, which draws fresh KEM keys
    let mut record = session_store
        .load_session(remote)?
        .ok_or(ProtocolError::NoSession)?;
    let state = record.current.as_mut().ok_or(ProtocolError::NoSession)?;
    if !state.usable_for_sending(now.as_millis()) {
        return Err(ProtocolError::SessionExpired.into());
    }
    if !identity_store.is_trusted_identity(remote, &state.remote_identity, Direction::Sending)? {
        return Err(ProtocolError::UntrustedIdentity.into());
    }
    let message = state.encrypt(plaintext, encode_addresses(local, remote))?;
    let remote_identity = state.remote_identity;
    identity_store.save_identity(remote, &remote_identity)?;
    session_store.store_session(remote, &record)?;
    Ok(message)
}

/// Decrypts a [`SignalMessage`] from `remote`: tries the current session, then each
/// archived one; the one that decrypts becomes current.
pub fn decrypt_signal_message<R: CryptoRng + ?Sized>(
    message: &SignalMessage,
    remote: &ProtocolAddress,
    local: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let mut record = session_store
        .load_session(remote)?
        .ok_or(ProtocolError::NoSession)?;
    let expected = encode_addresses(remote, local);
    let max = session_store.max_archived_sessions();
    let (plaintext, remote_identity) =
        decrypt_with_record(&mut record, message, expected.as_ref(), max, rng)?;
    if !identity_store.is_trusted_identity(remote, &remote_identity, Direction::Receiving)? {
        return Err(ProtocolError::UntrustedIdentity.into());
    }
    identity_store.save_identity(remote, &remote_identity)?;
    session_store.store_session(remote, &record)?;
    Ok(plaintext)
}

/// Trial decryption over a record; on success the state that decrypted is current.
fn decrypt_with_record<R: CryptoRng + ?Sized>(
    record: &mut SessionRecord,
    message: &SignalMessage,
    expected: Option<&[u8; crate::wire::ADDRESSES_LEN]>,
    max_archived: usize,
    rng: &mut R,
) -> Result<(Vec<u8>, crate::keys::IdentityKey), Error> {
    let mut first_error = None;
    if let Some(current) = &record.current {
        let mut s = current.clone();
        match s.decrypt(message, expected, rng) {
            Ok(pt) => {
                let id = s.remote_identity;
                record.current = Some(s);
                return Ok((pt, id));
            }
            // An old counter on one of the current session's own receiving chains: ratchet
            // keys are unique to a session, so no archived session can hold it; stop, as
            // libsignal does. A duplicate found only by the SPQR chain after a fresh DH
            // step says nothing of the kind (the message may belong to an archived
            // session whose SPQR indices overlap), so trial decryption goes on.
            Err(e @ Error::Protocol(ProtocolError::DuplicateMessage))
                if current.has_receiver_chain(message.sender_ratchet_key()) =>
            {
                return Err(e);
            }
            Err(e) => first_error = Some(e),
        }
    }
    for (i, prev) in record.previous.iter().enumerate() {
        let mut s = prev.clone();
        if let Ok(pt) = s.decrypt(message, expected, rng) {
            let id = s.remote_identity;
            record.promote_archived(i, s, max_archived);
            return Ok((pt, id));
        }
    }
    Err(
        first_error.unwrap_or(Error::Protocol(if record.previous.is_empty() {
            ProtocolError::NoSession
        } else {
            ProtocolError::DecryptionFailed
        })),
    )
}

/// Decrypts a [`PreKeySignalMessage`] from `remote` (we are the responder).
///
/// If a session built from the same base key exists (the initiator sent several prekey
/// messages), the message goes to it. Otherwise a new session is built from the named
/// prekeys, the inner message is decrypted with it, and only then is anything written:
/// the Kyber prekey is marked used (last-resort keys refuse a triple seen before), the
/// one-time prekey deleted, the identity saved and the record stored with the new
/// session current.
///
/// Only v4 (PQXDH) prekey messages are accepted; a v3 one is refused with
/// [`ProtocolError::LegacyRefused`], as libsignal-client does. For legacy peers use
/// [`decrypt_legacy_prekey_message`].
#[allow(clippy::too_many_arguments)]
pub fn decrypt_prekey_message<R: CryptoRng + ?Sized>(
    message: &PreKeySignalMessage,
    remote: &ProtocolAddress,
    local: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    pre_key_store: &mut dyn PreKeyStore,
    signed_pre_key_store: &dyn SignedPreKeyStore,
    kyber_pre_key_store: &mut dyn KyberPreKeyStore,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    if message.message_version() != VERSION_PQXDH {
        return Err(ProtocolError::LegacyRefused.into());
    }
    accept_prekey_message(
        message,
        remote,
        local,
        session_store,
        identity_store,
        pre_key_store,
        signed_pre_key_store,
        kyber_pre_key_store,
        rng,
    )
}

/// Decrypts a v3 (X3DH) [`PreKeySignalMessage`] from a legacy peer; everything else is as
/// [`decrypt_prekey_message`]. A v4 message is refused with
/// [`ProtocolError::VersionMismatch`] (use [`decrypt_prekey_message`]). v3 prekey
/// messages use no Kyber prekey, so there is no Kyber store here.
#[allow(clippy::too_many_arguments)]
pub fn decrypt_legacy_prekey_message<R: CryptoRng + ?Sized>(
    message: &PreKeySignalMessage,
    remote: &ProtocolAddress,
    local: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    pre_key_store: &mut dyn PreKeyStore,
    signed_pre_key_store: &dyn SignedPreKeyStore,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    if message.message_version() != VERSION_X3DH {
        return Err(ProtocolError::VersionMismatch.into());
    }
    accept_prekey_message(
        message,
        remote,
        local,
        session_store,
        identity_store,
        pre_key_store,
        signed_pre_key_store,
        &mut NoKyberPreKeys,
        rng,
    )
}

/// The Kyber store of a v3 exchange: there is none.
struct NoKyberPreKeys;

impl KyberPreKeyStore for NoKyberPreKeys {
    fn kyber_pre_key(
        &self,
        _: KyberPreKeyId,
    ) -> Result<Option<crate::keys::KyberPreKeyRecord>, crate::StoreError> {
        Ok(None)
    }
    fn save_kyber_pre_key(
        &mut self,
        _: &crate::keys::KyberPreKeyRecord,
    ) -> Result<(), crate::StoreError> {
        Err(crate::StoreError::Write)
    }
    fn mark_kyber_pre_key_used(
        &mut self,
        _: KyberPreKeyId,
        _: SignedPreKeyId,
        _: &crate::crypto::PublicKey,
    ) -> Result<(), Error> {
        Err(ProtocolError::UnknownKyberPreKey.into())
    }
}

#[allow(clippy::too_many_arguments)]
fn accept_prekey_message<R: CryptoRng + ?Sized>(
    message: &PreKeySignalMessage,
    remote: &ProtocolAddress,
    local: &ProtocolAddress,
    session_store: &mut dyn SessionStore,
    identity_store: &mut dyn IdentityKeyStore,
    pre_key_store: &mut dyn PreKeyStore,
    signed_pre_key_store: &dyn SignedPreKeyStore,
    kyber_pre_key_store: &mut dyn KyberPreKeyStore,
    rng: &mut R,
) -> Result<Vec<u8>, Error> {
    let their_identity = message.identity_key();
    if !identity_store.is_trusted_identity(remote, their_identity, Direction::Receiving)? {
        return Err(ProtocolError::UntrustedIdentity.into());
    }
    let mut record = session_store.load_session(remote)?.unwrap_or_default();
    let max = session_store.max_archived_sessions();
    let expected = encode_addresses(remote, local);
    let version = message.message_version();

    if let Some(found) = record.find_by_base_key(version, message.base_key()) {
        let state = match found {
            None => record.current.as_ref(),
            Some(i) => record.previous.get(i),
        };
        let mut s = state.ok_or(ProtocolError::DecryptionFailed)?.clone();
        // On this path the identity key in the message is not bound by any DH: the MAC
        // uses the session's own. Without this check a forged identity would be saved.
        if &s.remote_identity != their_identity {
            return Err(ProtocolError::DecryptionFailed.into());
        }
        let pt = s.decrypt(message.message(), expected.as_ref(), rng)?;
        match found {
            None => record.current = Some(s),
            Some(i) => record.promote_archived(i, s, max),
        }
        identity_store.save_identity(remote, their_identity)?;
        session_store.store_session(remote, &record)?;
        return Ok(pt);
    }

    let our_identity = identity_store.identity_key_pair()?;
    let local_registration_id = identity_store.local_registration_id()?;
    let signed = signed_pre_key_store
        .signed_pre_key(SignedPreKeyId(message.signed_pre_key_id()))?
        .ok_or(ProtocolError::UnknownSignedPreKey)?;
    let one_time = match message.pre_key_id() {
        Some(id) => Some(
            pre_key_store
                .pre_key(PreKeyId(id))?
                .ok_or(ProtocolError::UnknownPreKey)?,
        ),
        None => None,
    };
    let kyber = match message.kyber() {
        Some((id, ct)) => Some((
            kyber_pre_key_store
                .kyber_pre_key(KyberPreKeyId(id))?
                .ok_or(ProtocolError::UnknownKyberPreKey)?,
            ct,
        )),
        None if version == VERSION_PQXDH => {
            return Err(ProtocolError::MissingKyberCiphertext.into());
        }
        None => None,
    };
    let ours = OurPreKeys {
        identity: &our_identity,
        signed_pre_key: signed.key_pair(),
        one_time_pre_key: one_time.as_ref().map(|k| k.key_pair()),
        kyber: kyber.as_ref().map(|(k, ct)| (k.secret_key(), *ct)),
    };
    let derived = handshake::respond(&ours, their_identity, message.base_key())?;
    let parties = Parties {
        version,
        local_identity: *our_identity.identity_key(),
        remote_identity: *their_identity,
        local_registration_id,
        remote_registration_id: message.registration_id(),
        base_key: *message.base_key(),
    };
    let mut state = SessionState::responder(parties, derived, signed.key_pair().clone());
    let plaintext = state.decrypt(message.message(), expected.as_ref(), rng)?;

    // Commit. The replay check goes first so that a refused triple writes nothing.
    if let Some((k, _)) = &kyber {
        kyber_pre_key_store.mark_kyber_pre_key_used(k.id(), signed.id(), message.base_key())?;
    }
    record.promote_state(state, max);
    if let Some(k) = &one_time {
        pre_key_store.remove_pre_key(k.id())?;
    }
    identity_store.save_identity(remote, their_identity)?;
    session_store.store_session(remote, &record)?;
    Ok(plaintext)
}

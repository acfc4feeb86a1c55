//! Sessions: set-up from a bundle or a prekey message, encryption and decryption, and
//! the records that hold them.
//!
//! Every operation here reads through [`ProtocolStore`], computes, and returns what it
//! produced together with the [`ChangeSet`] of every write it makes; nothing is written
//! here. [`Device`](crate::Device) commits the set. Decryption follows decode → plan →
//! stage → verify: the header is checked against each candidate session and the work it
//! needs charged to the message's budget ([`MESSAGE_WORK_BUDGET`]), the message is decrypted on a copy of the
//! session's head, and only an authenticated message yields a change.

mod budget;
mod record;
pub(crate) mod state;

use alloc::boxed::Box;
use alloc::vec::Vec;

use rand_core::CryptoRng;

pub use budget::{
    BRAID_STEP_COST, DH_STEP_COST, DR_STEP_COST, MAX_SESSION_COST, MESSAGE_WORK_BUDGET,
    SPQR_STEP_COST,
};
pub use record::{
    DEFAULT_MAX_ARCHIVED_SESSIONS, KeyChain, MAX_ARCHIVED_SESSIONS_LIMIT, SessionChange,
    SessionRecord, StoredKeyChange,
};
pub use state::MAX_UNACKNOWLEDGED_SESSION_AGE_MS;

use crate::address::{ProtocolAddress, encode_addresses};
use crate::crypto::KeyPair;
use crate::crypto::xeddsa::VerifyingKey;
use crate::error::{Error, ProtocolError};
use crate::handshake::{self, OurPreKeys, TheirBundle};
use crate::keys::{IdentityKey, KyberPreKeyId, PreKeyBundle, PreKeyId, SignedPreKeyId};
use crate::store::{ChangeSet, Direction, IdentityChange, KyberPreKeyUse, ProtocolStore};
use crate::wire::{
    ADDRESSES_LEN, CiphertextMessage, PreKeySignalMessage, SignalMessage, VERSION_PQXDH,
    VERSION_X3DH,
};
use budget::Budget;
use record::ChangeKind;
use state::{Parties, PendingPreKey, SessionState, Staged};

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

/// A decrypted 1:1 message and who sent it. `Debug` prints the plaintext's length only.
#[non_exhaustive]
pub struct Decrypted {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The sender, as the session that authenticated the message knows it.
    pub sender: Sender,
    /// What the message did to the identity stored for the sender. Anything but
    /// [`IdentityChange::Unchanged`] after the first message deserves the app's
    /// attention: [`IdentityChange::Replaced`] means the safety number changed.
    pub identity_change: IdentityChange,
    /// Whether the message (a prekey message) set up a new session.
    pub new_session: bool,
}

impl core::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decrypted")
            .field("plaintext_len", &self.plaintext.len())
            .field("sender", &self.sender)
            .field("identity_change", &self.identity_change)
            .field("new_session", &self.new_session)
            .finish()
    }
}

/// The sender of a message that a 1:1 session authenticated: its address and identity.
/// Only a successful decryption makes one, so that group distribution messages
/// ([`Device::process_sender_key_distribution_message`](crate::Device::process_sender_key_distribution_message))
/// are accepted only from the session that delivered them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    address: ProtocolAddress,
    identity: IdentityKey,
}

impl Sender {
    /// The sender's address.
    pub fn address(&self) -> &ProtocolAddress {
        &self.address
    }
    /// The sender's identity key (the one its session was built with).
    pub fn identity(&self) -> &IdentityKey {
        &self.identity
    }
}

/// The identity outcome of an operation with `identity` for `remote`: refuses an
/// identity the store does not trust, and says what to save.
fn check_identity<S: ProtocolStore + ?Sized>(
    store: &S,
    remote: &ProtocolAddress,
    identity: &IdentityKey,
    direction: Direction,
    changes: &mut ChangeSet,
) -> Result<IdentityChange, Error> {
    if !store.is_trusted_identity(remote, identity, direction)? {
        return Err(ProtocolError::UntrustedIdentity.into());
    }
    let (change, previous) = match store.identity(remote)? {
        None => (IdentityChange::New, None),
        Some(k) if &k == identity => return Ok(IdentityChange::Unchanged),
        Some(previous) => (IdentityChange::Replaced { previous }, Some(previous)),
    };
    changes.identity = Some((remote.clone(), *identity, previous));
    Ok(change)
}

/// Starts a session with `remote` from its prekey bundle (we are the initiator): v4
/// (PQXDH) when `legacy` is false, and the bundle must then hold a Kyber prekey; v3
/// (X3DH) when `legacy` is true, and the bundle must then hold none.
pub(crate) fn start_session<S: ProtocolStore + ?Sized, R: CryptoRng + ?Sized>(
    store: &S,
    remote: &ProtocolAddress,
    bundle: &PreKeyBundle,
    legacy: bool,
    keep_archived: usize,
    now: Timestamp,
    rng: &mut R,
) -> Result<(IdentityChange, ChangeSet), Error> {
    match (legacy, bundle.kyber_pre_key().is_some()) {
        // A server that strips the Kyber prekey must not downgrade a session to X3DH.
        (false, false) => return Err(ProtocolError::LegacyRefused.into()),
        (true, true) => return Err(crate::MisuseError::InvalidArgument.into()),
        _ => {}
    }
    let their_identity = bundle.identity_key();
    // Both signatures are by the identity key: its Edwards point is rebuilt once.
    let verifier = VerifyingKey::new(their_identity.public_key());
    let verify = |message: &[u8], signature: &[u8]| {
        <&[u8; 64]>::try_from(signature).is_ok_and(|sig| verifier.verify(message, sig))
    };
    if !verify(
        &bundle.signed_pre_key().serialize(),
        bundle.signed_pre_key_signature(),
    ) {
        return Err(ProtocolError::BadSignature.into());
    }
    if let Some((_, kyber, sig)) = bundle.kyber_pre_key()
        && !verify(&kyber.serialize(), sig)
    {
        return Err(ProtocolError::BadSignature.into());
    }
    let mut changes = ChangeSet::default();
    let identity_change = check_identity(
        store,
        remote,
        their_identity,
        Direction::Sending,
        &mut changes,
    )?;
    let our_identity = store.identity_key_pair()?;
    let local_registration_id = store.local_registration_id()?;

    let base_key = KeyPair::generate(rng);
    let base_public = *base_key.public_key();
    let their = TheirBundle {
        identity_key: their_identity,
        signed_pre_key: bundle.signed_pre_key(),
        one_time_pre_key: bundle.pre_key().map(|(_, k)| k),
        kyber_pre_key: bundle.kyber_pre_key().map(|(_, k, _)| k),
    };
    let (derived, kyber_ct) = handshake::initiate(our_identity, base_key, &their, rng)?;
    let version = if kyber_ct.is_some() {
        VERSION_PQXDH
    } else {
        VERSION_X3DH
    };
    let kyber = match (bundle.kyber_pre_key(), kyber_ct) {
        (Some((id, _, _)), Some(ct)) => Some((id, Box::new(ct))),
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
    changes.session = Some((
        remote.clone(),
        SessionChange {
            kind: ChangeKind::New {
                state: Box::new(state),
                keep_archived,
            },
        },
    ));
    Ok((identity_change, changes))
}

/// Encrypts `plaintext` for `remote` on the current session.
///
/// `local` is our own address: when both addresses are service ids, prekey messages
/// carry them (the `addresses` field) so the receiver can check the message was meant
/// for it.
pub(crate) fn encrypt<S: ProtocolStore + ?Sized, R: CryptoRng + ?Sized>(
    store: &S,
    local: &ProtocolAddress,
    remote: &ProtocolAddress,
    plaintext: &[u8],
    now: Timestamp,
    rng: &mut R,
) -> Result<(CiphertextMessage, ChangeSet), Error> {
    let record = store.session(remote)?.ok_or(ProtocolError::NoSession)?;
    let state = record.current.as_deref().ok_or(ProtocolError::NoSession)?;
    if !state.head.usable_for_sending(now.as_millis()) {
        return Err(ProtocolError::SessionExpired.into());
    }
    let mut changes = ChangeSet::default();
    check_identity(
        store,
        remote,
        &state.head.remote_identity,
        Direction::Sending,
        &mut changes,
    )?;
    let mut head = state.head.clone();
    let message = head.encrypt(plaintext, encode_addresses(local, remote), rng)?;
    changes.session = Some((
        remote.clone(),
        SessionChange {
            kind: ChangeKind::Advance {
                archived: None,
                from: state.head.stamp(),
                head,
                delta: state::StoredDelta::default(),
                keep_archived: 0,
            },
        },
    ));
    Ok((message, changes))
}

/// Decrypts a [`SignalMessage`] from `remote`: tries the sessions that may hold it
/// (current and archived, each planned and charged to one budget) and makes the one that
/// decrypts it current.
///
/// Only sessions whose peer identity is the identity stored for `remote` are tried (or
/// every session, if none is stored): after the peer reinstalled and its new identity was
/// stored, a message that only an old session could decrypt is refused, so that the old
/// identity can never be written back.
pub(crate) fn decrypt_signal_message<S: ProtocolStore + ?Sized, R: CryptoRng + ?Sized>(
    store: &S,
    local: &ProtocolAddress,
    remote: &ProtocolAddress,
    message: &SignalMessage,
    keep_archived: usize,
    rng: &mut R,
) -> Result<(Decrypted, ChangeSet), Error> {
    let record = store.session(remote)?.ok_or(ProtocolError::NoSession)?;
    let stored = store.identity(remote)?;
    let expected = encode_addresses(remote, local);
    let eligible = |s: &SessionState| stored.is_none_or(|k| k == s.head.remote_identity);

    let mut budget = Budget::per_message();
    let mut first_error: Option<Error> = None;
    let attempt = |s: &SessionState, plan: &state::DecryptPlan, budget: &mut Budget| {
        budget.charge(plan.cost())?;
        s.stage_decrypt(message, plan, expected.as_ref())
    };

    // The current session first. A message on one of its own receiving chains can belong
    // to no other session (ratchet keys are unique to a session): that is the ordinary
    // message, and it needs nothing from the archive.
    let mut current_plan = None;
    if let Some(current) = record.current.as_deref().filter(|s| eligible(s)) {
        match current.plan_decrypt(message) {
            Ok(plan) if plan.on_known_chain() => {
                let staged = attempt(current, &plan, &mut budget)?.finish(rng)?;
                return finish_current(store, remote, staged, None, keep_archived);
            }
            Ok(plan) => current_plan = Some(plan),
            // An old counter on one of the current session's own receiving chains: no
            // archived session can hold it; stop, as libsignal does.
            Err(e @ Error::Protocol(ProtocolError::DuplicateMessage))
                if current
                    .head
                    .has_receiver_chain(message.sender_ratchet_key()) =>
            {
                return Err(e);
            }
            Err(e) => first_error = Some(e),
        }
    }

    // Otherwise plan every eligible session from the header alone, and try the ones
    // whose plan the budget can pay for: a session that already holds the message's
    // chain first (the message can belong to no other), then the current session (where
    // most messages belong, so an honest message there is never refused because the
    // archive was tried first), then the archived ones, cheapest first.
    let mut candidates: Vec<(Option<usize>, state::DecryptPlan)> =
        Vec::with_capacity(1 + record.previous.len());
    if let Some(plan) = current_plan {
        candidates.push((None, plan));
    }
    for (i, s) in record.previous.iter().enumerate() {
        if eligible(s)
            && let Ok(plan) = s.plan_decrypt(message)
        {
            candidates.push((Some(i), plan));
        }
    }
    candidates
        .sort_by_key(|(slot, plan)| (!plan.on_known_chain(), slot.is_some(), plan.cost(), *slot));
    for (slot, plan) in &candidates {
        let Some(s) = record.state(*slot) else {
            continue;
        };
        match attempt(s, plan, &mut budget) {
            Ok(staged) => {
                let staged = staged.finish(rng)?;
                return finish_current(store, remote, staged, *slot, keep_archived);
            }
            Err(e) if slot.is_none() => first_error = Some(e),
            Err(_) => {}
        }
    }
    let any_eligible = record.current.as_deref().is_some_and(eligible)
        || record.previous.iter().any(|s| eligible(s));
    Err(first_error.unwrap_or(Error::Protocol(
        if !any_eligible || record.previous.is_empty() {
            ProtocolError::NoSession
        } else {
            ProtocolError::DecryptionFailed
        },
    )))
}

/// The result and change set of a message that decrypted on session `slot` of the
/// record.
fn finish_current<S: ProtocolStore + ?Sized>(
    store: &S,
    remote: &ProtocolAddress,
    staged: Staged,
    slot: Option<usize>,
    keep_archived: usize,
) -> Result<(Decrypted, ChangeSet), Error> {
    let remote_identity = staged.head.remote_identity;
    finish_decrypt(
        store,
        remote,
        remote_identity,
        advance(slot, staged, keep_archived),
        false,
        ChangeSet::default(),
    )
}

/// The change that advances session `slot` (`None`: the current one) by a message.
fn advance(slot: Option<usize>, staged: Staged, keep_archived: usize) -> (SessionChange, Vec<u8>) {
    let Staged {
        from,
        head,
        delta,
        plaintext,
        ..
    } = staged;
    let change = SessionChange {
        kind: ChangeKind::Advance {
            archived: slot,
            from,
            head,
            delta,
            keep_archived,
        },
    };
    (change, plaintext)
}

/// The result and change set of a decrypted message: checks the sender's identity and
/// adds the session change.
fn finish_decrypt<S: ProtocolStore + ?Sized>(
    store: &S,
    remote: &ProtocolAddress,
    remote_identity: IdentityKey,
    (session, plaintext): (SessionChange, Vec<u8>),
    new_session: bool,
    mut changes: ChangeSet,
) -> Result<(Decrypted, ChangeSet), Error> {
    let identity_change = check_identity(
        store,
        remote,
        &remote_identity,
        Direction::Receiving,
        &mut changes,
    )?;
    changes.session = Some((remote.clone(), session));
    Ok((
        Decrypted {
            plaintext,
            sender: Sender {
                address: remote.clone(),
                identity: remote_identity,
            },
            identity_change,
            new_session,
        },
        changes,
    ))
}

/// Decrypts a [`PreKeySignalMessage`] from `remote` (we are the responder): v4 only,
/// unless `legacy` allows v3 (X3DH).
///
/// If a session built from the same base key exists (the initiator sent several prekey
/// messages), the message goes to it. Otherwise a new session is built from the named
/// prekeys and the inner message decrypted with it; the change set then also deletes the
/// one-time prekey and records the Kyber prekey's use.
pub(crate) fn decrypt_prekey_message<S: ProtocolStore + ?Sized, R: CryptoRng + ?Sized>(
    store: &S,
    local: &ProtocolAddress,
    remote: &ProtocolAddress,
    message: &PreKeySignalMessage,
    legacy: bool,
    keep_archived: usize,
    rng: &mut R,
) -> Result<(Decrypted, ChangeSet), Error> {
    let version = message.message_version();
    match (version, legacy) {
        (VERSION_PQXDH, _) | (VERSION_X3DH, true) => {}
        _ => return Err(ProtocolError::LegacyRefused.into()),
    }
    let their_identity = message.identity_key();
    if !store.is_trusted_identity(remote, their_identity, Direction::Receiving)? {
        return Err(ProtocolError::UntrustedIdentity.into());
    }
    let expected = encode_addresses(remote, local);
    let record = store.session(remote)?;
    let mut budget = Budget::per_message();

    if let Some(record) = record.as_deref()
        && let Some(slot) = record.find_by_base_key(version, message.base_key())
    {
        let s = record.state(slot).ok_or(ProtocolError::DecryptionFailed)?;
        // On this path the identity key in the message is not bound by any DH: the MAC
        // uses the session's own. Without this check a forged identity would be saved.
        // And as for a SignalMessage, a session whose identity is no longer the one
        // stored (the peer reinstalled since) is refused: a late prekey message from
        // the old install must not write the old identity back.
        let stored = store.identity(remote)?;
        if &s.head.remote_identity != their_identity
            || stored.is_some_and(|k| k != s.head.remote_identity)
        {
            return Err(ProtocolError::DecryptionFailed.into());
        }
        let staged = stage(s, message.message(), expected.as_ref(), &mut budget)?.finish(rng)?;
        return finish_decrypt(
            store,
            remote,
            *their_identity,
            advance(slot, staged, keep_archived),
            false,
            ChangeSet::default(),
        );
    }

    let mut changes = ChangeSet::default();
    let our_identity = store.identity_key_pair()?;
    let local_registration_id = store.local_registration_id()?;
    let signed_id = SignedPreKeyId(message.signed_pre_key_id());
    let signed = store
        .signed_pre_key(signed_id)?
        .ok_or(ProtocolError::UnknownSignedPreKey)?;
    let one_time = match message.pre_key_id() {
        Some(id) => Some(
            store
                .pre_key(PreKeyId(id))?
                .ok_or(ProtocolError::UnknownPreKey)?,
        ),
        None => None,
    };
    let kyber = match message.kyber() {
        Some((id, ct)) => {
            let id = KyberPreKeyId(id);
            let k = store
                .kyber_pre_key(id)?
                .ok_or(ProtocolError::UnknownKyberPreKey)?;
            // A last-resort key refuses a (Kyber id, signed prekey id, base key) triple
            // it has seen: a replayed prekey message must not build a second session.
            if k.is_last_resort() && store.kyber_pre_key_used(id, signed_id, message.base_key())? {
                return Err(ProtocolError::KyberPreKeyReused.into());
            }
            Some((k, ct))
        }
        None if version == VERSION_PQXDH => {
            return Err(ProtocolError::MissingKyberCiphertext.into());
        }
        None => None,
    };
    let ours = OurPreKeys {
        identity: our_identity,
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
    let staged = stage(&state, message.message(), expected.as_ref(), &mut budget)?.finish(rng)?;
    let Staged {
        head,
        delta,
        plaintext,
        ..
    } = staged;
    state.head = head;
    state.keys.apply(&delta);
    let session = SessionChange {
        kind: ChangeKind::New {
            state: Box::new(state),
            keep_archived,
        },
    };
    changes.consumed_pre_key = one_time.as_ref().map(|k| k.id());
    changes.kyber_pre_key = kyber.as_ref().map(|(k, _)| KyberPreKeyUse {
        id: k.id(),
        signed_pre_key_id: signed_id,
        base_key: *message.base_key(),
        last_resort: k.is_last_resort(),
    });
    finish_decrypt(
        store,
        remote,
        *their_identity,
        (session, plaintext),
        true,
        changes,
    )
}

/// Plans, charges and stages one message on one session.
fn stage(
    s: &SessionState,
    message: &SignalMessage,
    expected: Option<&[u8; ADDRESSES_LEN]>,
    budget: &mut Budget,
) -> Result<Staged, Error> {
    let plan = s.plan_decrypt(message)?;
    budget.charge(plan.cost())?;
    s.stage_decrypt(message, &plan, expected)
}

/// The change that archives the current session of a record (a session reset).
pub(crate) fn archive(remote: &ProtocolAddress, keep_archived: usize) -> ChangeSet {
    ChangeSet {
        session: Some((
            remote.clone(),
            SessionChange {
                kind: ChangeKind::Archive { keep_archived },
            },
        )),
        ..ChangeSet::default()
    }
}

#[cfg(test)]
mod braid_tests;
#[cfg(test)]
mod tests;

//! Where a device keeps its state, and the one way an operation changes it.
//!
//! Every protocol operation reads what it needs through [`ProtocolStore`], computes, and
//! then describes *every* write it makes in one [`ChangeSet`]: the session record change,
//! the identity to save (and the one it replaced), the one-time prekey it consumed, the
//! Kyber prekey use to remember, the sender-key record change. The store commits the
//! whole set in one call, [`ProtocolStore::commit`], which must be atomic: all of it or
//! none of it. An app with its own database implements `commit` as one transaction; the
//! in-memory store checks that every part fits before it changes anything. No public
//! path writes part of an operation, so a store that fails (a full disk, a busy
//! database, a killed process) can never leave a consumed prekey without its session,
//! or a session without its identity.
//!
//! The traits are synchronous because the core is sans-IO: an app with async storage
//! loads what it needs first. In-memory implementations are in [`memory`].

use alloc::borrow::Cow;

use crate::address::ProtocolAddress;
use crate::crypto::PublicKey;
use crate::error::StoreError;
use crate::group::{DistributionId, SenderKeyChange, SenderKeyRecord};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KyberPreKeyId, KyberPreKeyRecord, PreKeyId, PreKeyRecord,
    SignedPreKeyId, SignedPreKeyRecord,
};
use crate::session::{SessionChange, SessionRecord};

pub mod at_rest;
pub mod memory;

/// Which way a message goes, for trust decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We are about to send to this identity.
    Sending,
    /// We received from this identity.
    Receiving,
}

/// What an operation did to the identity stored for the peer: reported in every
/// decryption result and by bundle processing, so that the app can tell the user when a
/// safety number changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityChange {
    /// The identity is the one already stored.
    Unchanged,
    /// No identity was stored for this address; this one now is (trust on first use).
    New,
    /// A different identity was stored and has been replaced by this one: the peer
    /// reinstalled or changed devices, or someone is impersonating it. The app should
    /// tell the user that the safety number changed.
    Replaced {
        /// The identity stored before.
        previous: IdentityKey,
    },
}

/// A Kyber prekey used by a prekey message (part of a [`ChangeSet`]). A one-time key is
/// deleted; for a last-resort key the store remembers the (Kyber prekey id, signed prekey
/// id, base key) triple, and must refuse a change set that uses a remembered triple again
/// (that is what stops a replayed prekey message from building a second session).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KyberPreKeyUse {
    /// The Kyber prekey.
    pub id: KyberPreKeyId,
    /// The signed prekey the message used with it.
    pub signed_pre_key_id: SignedPreKeyId,
    /// The initiator's base key.
    pub base_key: PublicKey,
    /// Whether the key is a last-resort key (kept, triple remembered) or one-time
    /// (deleted).
    pub last_resort: bool,
}

/// Every write of one protocol operation. Commit it whole with
/// [`ProtocolStore::commit`] (the [`Device`](crate::Device) methods do that).
///
/// A store with its own database reads the parts with the accessors, or takes them with
/// [`ChangeSet::into_parts`], and writes them in one transaction.
#[must_use = "a change set does nothing until a store commits it"]
#[derive(Debug, Default)]
pub struct ChangeSet {
    pub(crate) session: Option<(ProtocolAddress, SessionChange)>,
    pub(crate) identity: Option<(ProtocolAddress, IdentityKey, Option<IdentityKey>)>,
    pub(crate) consumed_pre_key: Option<PreKeyId>,
    pub(crate) kyber_pre_key: Option<KyberPreKeyUse>,
    pub(crate) sender_key: Option<(ProtocolAddress, DistributionId, SenderKeyChange)>,
}

/// The parts of a [`ChangeSet`], for a store that writes them itself (in one
/// transaction).
#[derive(Debug)]
#[non_exhaustive]
pub struct ChangeSetParts {
    /// The change to the session record of this address.
    pub session: Option<(ProtocolAddress, SessionChange)>,
    /// The identity to store for an address, and the one it replaces.
    pub identity: Option<(ProtocolAddress, IdentityKey, Option<IdentityKey>)>,
    /// The one-time prekey to delete.
    pub consumed_pre_key: Option<PreKeyId>,
    /// The Kyber prekey use to record.
    pub kyber_pre_key: Option<KyberPreKeyUse>,
    /// The change to the sender-key record of this (sender, distribution id).
    pub sender_key: Option<(ProtocolAddress, DistributionId, SenderKeyChange)>,
}

impl ChangeSet {
    /// The session record change, and whose record.
    pub fn session(&self) -> Option<(&ProtocolAddress, &SessionChange)> {
        self.session.as_ref().map(|(a, c)| (a, c))
    }
    /// The identity to save: the address, the identity, and the identity it replaces.
    pub fn identity(&self) -> Option<(&ProtocolAddress, &IdentityKey, Option<&IdentityKey>)> {
        self.identity
            .as_ref()
            .map(|(a, k, prev)| (a, k, prev.as_ref()))
    }
    /// The one-time prekey to delete.
    pub fn consumed_pre_key(&self) -> Option<PreKeyId> {
        self.consumed_pre_key
    }
    /// The Kyber prekey use to record.
    pub fn kyber_pre_key(&self) -> Option<&KyberPreKeyUse> {
        self.kyber_pre_key.as_ref()
    }
    /// The sender-key record change.
    pub fn sender_key(&self) -> Option<(&ProtocolAddress, DistributionId, &SenderKeyChange)> {
        self.sender_key.as_ref().map(|(a, d, c)| (a, *d, c))
    }
    /// How many records the set writes (each part is one write).
    pub fn write_count(&self) -> usize {
        usize::from(self.session.is_some())
            + usize::from(self.identity.is_some())
            + usize::from(self.consumed_pre_key.is_some())
            + usize::from(self.kyber_pre_key.is_some())
            + usize::from(self.sender_key.is_some())
    }
    /// Whether the set writes nothing.
    pub fn is_empty(&self) -> bool {
        self.write_count() == 0
    }
    /// The parts, for a store that writes them itself.
    pub fn into_parts(self) -> ChangeSetParts {
        ChangeSetParts {
            session: self.session,
            identity: self.identity,
            consumed_pre_key: self.consumed_pre_key,
            kyber_pre_key: self.kyber_pre_key,
            sender_key: self.sender_key,
        }
    }
}

/// Everything a device keeps: its identity, what it knows of others' identities,
/// prekeys, session records and sender-key records. Reads return owned or borrowed
/// values ([`Cow`]): an in-memory store lends its records, so an operation copies only
/// what it changes.
///
/// Only [`ProtocolStore::commit`] writes, once per operation. It must apply the whole
/// [`ChangeSet`] or nothing; if it fails, the operation fails, every record is as it
/// was, and the app may retry the same message.
pub trait ProtocolStore {
    /// Our identity key pair.
    fn identity_key_pair(&self) -> Result<&IdentityKeyPair, StoreError>;
    /// Our registration id.
    fn local_registration_id(&self) -> Result<u32, StoreError>;
    /// The identity stored for `address`.
    fn identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>, StoreError>;
    /// Whether to proceed with `identity` for `address` in `direction` (the app's trust
    /// policy; see [`memory::ReceivePolicy`] for the in-memory store's).
    fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        direction: Direction,
    ) -> Result<bool, StoreError>;
    /// The session record for `address`.
    fn session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<Cow<'_, SessionRecord>>, StoreError>;
    /// The one-time prekey with this id.
    fn pre_key(&self, id: PreKeyId) -> Result<Option<Cow<'_, PreKeyRecord>>, StoreError>;
    /// The signed prekey with this id.
    fn signed_pre_key(
        &self,
        id: SignedPreKeyId,
    ) -> Result<Option<Cow<'_, SignedPreKeyRecord>>, StoreError>;
    /// The Kyber prekey with this id.
    fn kyber_pre_key(
        &self,
        id: KyberPreKeyId,
    ) -> Result<Option<Cow<'_, KyberPreKeyRecord>>, StoreError>;
    /// Whether a last-resort Kyber prekey was already used with this signed prekey and
    /// base key.
    fn kyber_pre_key_used(
        &self,
        id: KyberPreKeyId,
        signed_pre_key_id: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<bool, StoreError>;
    /// The sender-key record for `sender` and `distribution_id`.
    fn sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<Option<Cow<'_, SenderKeyRecord>>, StoreError>;
    /// Applies every write of one operation, atomically.
    fn commit(&mut self, changes: ChangeSet) -> Result<(), StoreError>;
}

impl<S: ProtocolStore + ?Sized> ProtocolStore for &mut S {
    fn identity_key_pair(&self) -> Result<&IdentityKeyPair, StoreError> {
        (**self).identity_key_pair()
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        (**self).local_registration_id()
    }
    fn identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>, StoreError> {
        (**self).identity(address)
    }
    fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        direction: Direction,
    ) -> Result<bool, StoreError> {
        (**self).is_trusted_identity(address, identity, direction)
    }
    fn session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<Cow<'_, SessionRecord>>, StoreError> {
        (**self).session(address)
    }
    fn pre_key(&self, id: PreKeyId) -> Result<Option<Cow<'_, PreKeyRecord>>, StoreError> {
        (**self).pre_key(id)
    }
    fn signed_pre_key(
        &self,
        id: SignedPreKeyId,
    ) -> Result<Option<Cow<'_, SignedPreKeyRecord>>, StoreError> {
        (**self).signed_pre_key(id)
    }
    fn kyber_pre_key(
        &self,
        id: KyberPreKeyId,
    ) -> Result<Option<Cow<'_, KyberPreKeyRecord>>, StoreError> {
        (**self).kyber_pre_key(id)
    }
    fn kyber_pre_key_used(
        &self,
        id: KyberPreKeyId,
        signed_pre_key_id: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<bool, StoreError> {
        (**self).kyber_pre_key_used(id, signed_pre_key_id, base_key)
    }
    fn sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<Option<Cow<'_, SenderKeyRecord>>, StoreError> {
        (**self).sender_key(sender, distribution_id)
    }
    fn commit(&mut self, changes: ChangeSet) -> Result<(), StoreError> {
        (**self).commit(changes)
    }
}

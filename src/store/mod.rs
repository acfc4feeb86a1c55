//! Store traits: where the caller keeps identities, prekeys, sessions and sender keys. Synchronous,
//! because the core is sans-IO: an app with async storage loads what it needs first.
//!
//! In-memory implementations are in [`memory`].

use crate::address::ProtocolAddress;
use crate::crypto::PublicKey;
use crate::error::{Error, StoreError};
use crate::group::{DistributionId, SenderKeyRecord};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KyberPreKeyId, KyberPreKeyRecord, PreKeyId, PreKeyRecord,
    SignedPreKeyId, SignedPreKeyRecord,
};
use crate::session::{DEFAULT_MAX_ARCHIVED_SESSIONS, SessionRecord};

pub mod memory;

/// Which way a message goes, for trust decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// We are about to send to this identity.
    Sending,
    /// We received from this identity.
    Receiving,
}

/// What [`IdentityKeyStore::save_identity`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityChange {
    /// The identity was new, or the same as the one stored.
    NewOrUnchanged,
    /// A different identity was stored for this address and has been replaced: the app
    /// should tell the user the safety number changed.
    ReplacedExisting,
}

/// Our identity and what we know of others'.
pub trait IdentityKeyStore {
    /// Our identity key pair.
    fn identity_key_pair(&self) -> Result<IdentityKeyPair, StoreError>;
    /// Our registration id.
    fn local_registration_id(&self) -> Result<u32, StoreError>;
    /// Records `identity` for `address`.
    fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> Result<IdentityChange, StoreError>;
    /// Whether to proceed with `identity` for `address` in `direction`.
    fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        direction: Direction,
    ) -> Result<bool, StoreError>;
    /// The identity recorded for `address`.
    fn identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>, StoreError>;
}

/// One-time EC prekeys.
pub trait PreKeyStore {
    /// The prekey with this id.
    fn pre_key(&self, id: PreKeyId) -> Result<Option<PreKeyRecord>, StoreError>;
    /// Stores a prekey.
    fn save_pre_key(&mut self, record: &PreKeyRecord) -> Result<(), StoreError>;
    /// Deletes a prekey (after its one use).
    fn remove_pre_key(&mut self, id: PreKeyId) -> Result<(), StoreError>;
}

/// Signed EC prekeys.
pub trait SignedPreKeyStore {
    /// The signed prekey with this id.
    fn signed_pre_key(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKeyRecord>, StoreError>;
    /// Stores a signed prekey.
    fn save_signed_pre_key(&mut self, record: &SignedPreKeyRecord) -> Result<(), StoreError>;
}

/// Kyber prekeys, one-time and last-resort.
pub trait KyberPreKeyStore {
    /// The Kyber prekey with this id.
    fn kyber_pre_key(&self, id: KyberPreKeyId) -> Result<Option<KyberPreKeyRecord>, StoreError>;
    /// Stores a Kyber prekey.
    fn save_kyber_pre_key(&mut self, record: &KyberPreKeyRecord) -> Result<(), StoreError>;
    /// Called once a prekey message using this Kyber prekey has decrypted, before anything
    /// else is written. A one-time key must be deleted. For a last-resort key the store
    /// must remember the (Kyber prekey id, signed prekey id, base key) triple and return
    /// [`ProtocolError::KyberPreKeyReused`](crate::ProtocolError::KyberPreKeyReused) if it
    /// has seen it before: that is what stops a replayed prekey message from building a
    /// second session.
    fn mark_kyber_pre_key_used(
        &mut self,
        id: KyberPreKeyId,
        signed_pre_key_id: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<(), Error>;
}

/// Session records, one per peer device.
pub trait SessionStore {
    /// The record for `address`.
    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError>;
    /// Stores the record for `address`.
    fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), StoreError>;
    /// How many archived sessions a record keeps.
    fn max_archived_sessions(&self) -> usize {
        DEFAULT_MAX_ARCHIVED_SESSIONS
    }
}

/// Sender-key records, one per (sender address, distribution id). The sender's own
/// record, with its private signing key, is kept under its own address.
pub trait SenderKeyStore {
    /// The record for `sender` and `distribution_id`.
    fn load_sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<Option<SenderKeyRecord>, StoreError>;
    /// Stores the record for `sender` and `distribution_id`.
    fn store_sender_key(
        &mut self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreError>;
}

//! In-memory stores, for tests, examples and apps that persist records themselves.

use alloc::collections::{BTreeMap, BTreeSet};
use core::fmt;

use super::{
    Direction, IdentityChange, IdentityKeyStore, KyberPreKeyStore, PreKeyStore, SenderKeyStore,
    SessionStore, SignedPreKeyStore,
};
use crate::address::ProtocolAddress;
use crate::crypto::PublicKey;
use crate::error::{Error, ProtocolError, StoreError};
use crate::group::{DistributionId, SenderKeyRecord};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KyberPreKeyId, KyberPreKeyRecord, PreKeyId, PreKeyRecord,
    SignedPreKeyId, SignedPreKeyRecord,
};
use crate::session::{DEFAULT_MAX_ARCHIVED_SESSIONS, SessionRecord};

/// Identities with trust on first use. Sending to an address whose identity changed is
/// refused until the app records the new identity with
/// [`IdentityKeyStore::save_identity`] (after the user accepted the change). Receiving is
/// always allowed, as Signal's apps do; a successful receive records the new identity and
/// reports [`IdentityChange::ReplacedExisting`].
#[derive(Clone)]
pub struct InMemIdentityKeyStore {
    identity: IdentityKeyPair,
    registration_id: u32,
    known: BTreeMap<ProtocolAddress, IdentityKey>,
}

impl InMemIdentityKeyStore {
    /// A store for our identity.
    pub fn new(identity: IdentityKeyPair, registration_id: u32) -> Self {
        InMemIdentityKeyStore {
            identity,
            registration_id,
            known: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for InMemIdentityKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemIdentityKeyStore")
            .field("identity", self.identity.identity_key())
            .field("registration_id", &self.registration_id)
            .field("known", &self.known.len())
            .finish()
    }
}

impl IdentityKeyStore for InMemIdentityKeyStore {
    fn identity_key_pair(&self) -> Result<IdentityKeyPair, StoreError> {
        Ok(self.identity.clone())
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        Ok(self.registration_id)
    }
    fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> Result<IdentityChange, StoreError> {
        match self.known.insert(address.clone(), *identity) {
            Some(old) if old != *identity => Ok(IdentityChange::ReplacedExisting),
            _ => Ok(IdentityChange::NewOrUnchanged),
        }
    }
    fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        direction: Direction,
    ) -> Result<bool, StoreError> {
        Ok(match direction {
            Direction::Receiving => true,
            Direction::Sending => self.known.get(address).is_none_or(|k| k == identity),
        })
    }
    fn identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>, StoreError> {
        Ok(self.known.get(address).copied())
    }
}

/// One-time EC prekeys in memory.
#[derive(Clone, Default)]
pub struct InMemPreKeyStore {
    keys: BTreeMap<PreKeyId, PreKeyRecord>,
}

impl InMemPreKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// How many prekeys are left.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    /// Whether no prekeys are left.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for InMemPreKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemPreKeyStore")
            .field("ids", &self.keys.keys().collect::<alloc::vec::Vec<_>>())
            .finish()
    }
}

impl PreKeyStore for InMemPreKeyStore {
    fn pre_key(&self, id: PreKeyId) -> Result<Option<PreKeyRecord>, StoreError> {
        Ok(self.keys.get(&id).cloned())
    }
    fn save_pre_key(&mut self, record: &PreKeyRecord) -> Result<(), StoreError> {
        self.keys.insert(record.id(), record.clone());
        Ok(())
    }
    fn remove_pre_key(&mut self, id: PreKeyId) -> Result<(), StoreError> {
        self.keys.remove(&id);
        Ok(())
    }
}

/// Signed EC prekeys in memory.
#[derive(Clone, Default)]
pub struct InMemSignedPreKeyStore {
    keys: BTreeMap<SignedPreKeyId, SignedPreKeyRecord>,
}

impl InMemSignedPreKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for InMemSignedPreKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemSignedPreKeyStore")
            .field("ids", &self.keys.keys().collect::<alloc::vec::Vec<_>>())
            .finish()
    }
}

impl SignedPreKeyStore for InMemSignedPreKeyStore {
    fn signed_pre_key(&self, id: SignedPreKeyId) -> Result<Option<SignedPreKeyRecord>, StoreError> {
        Ok(self.keys.get(&id).cloned())
    }
    fn save_signed_pre_key(&mut self, record: &SignedPreKeyRecord) -> Result<(), StoreError> {
        self.keys.insert(record.id(), record.clone());
        Ok(())
    }
}

/// Kyber prekeys in memory; one-time keys are deleted on use, last-resort keys remember
/// every (Kyber id, signed prekey id, base key) triple they were used with.
#[derive(Clone, Default)]
pub struct InMemKyberPreKeyStore {
    keys: BTreeMap<KyberPreKeyId, KyberPreKeyRecord>,
    used: BTreeSet<(u32, u32, [u8; 32])>,
}

impl InMemKyberPreKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// How many Kyber prekeys are stored.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    /// Deletes a Kyber prekey (e.g. a last-resort key after rotation) and forgets the
    /// triples it was used with: they can never match again, and this is what keeps the
    /// remembered set from growing without bound.
    pub fn remove_kyber_pre_key(&mut self, id: KyberPreKeyId) {
        self.keys.remove(&id);
        self.used.retain(|(k, _, _)| *k != id.0);
    }
    /// How many (Kyber id, signed prekey id, base key) triples are remembered.
    pub fn used_triples(&self) -> usize {
        self.used.len()
    }
    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for InMemKyberPreKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemKyberPreKeyStore")
            .field("ids", &self.keys.keys().collect::<alloc::vec::Vec<_>>())
            .field("used_triples", &self.used.len())
            .finish()
    }
}

impl KyberPreKeyStore for InMemKyberPreKeyStore {
    fn kyber_pre_key(&self, id: KyberPreKeyId) -> Result<Option<KyberPreKeyRecord>, StoreError> {
        Ok(self.keys.get(&id).cloned())
    }
    fn save_kyber_pre_key(&mut self, record: &KyberPreKeyRecord) -> Result<(), StoreError> {
        self.keys.insert(record.id(), record.clone());
        Ok(())
    }
    fn mark_kyber_pre_key_used(
        &mut self,
        id: KyberPreKeyId,
        signed_pre_key_id: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<(), Error> {
        let last_resort = match self.keys.get(&id) {
            Some(r) => r.is_last_resort(),
            None => return Err(ProtocolError::UnknownKyberPreKey.into()),
        };
        if last_resort {
            if !self
                .used
                .insert((id.0, signed_pre_key_id.0, *base_key.u_bytes()))
            {
                return Err(ProtocolError::KyberPreKeyReused.into());
            }
        } else {
            self.keys.remove(&id);
        }
        Ok(())
    }
}

/// Session records in memory.
#[derive(Clone)]
pub struct InMemSessionStore {
    sessions: BTreeMap<ProtocolAddress, SessionRecord>,
    max_archived: usize,
}

impl Default for InMemSessionStore {
    fn default() -> Self {
        InMemSessionStore {
            sessions: BTreeMap::new(),
            max_archived: DEFAULT_MAX_ARCHIVED_SESSIONS,
        }
    }
}

impl InMemSessionStore {
    /// An empty store keeping [`DEFAULT_MAX_ARCHIVED_SESSIONS`] archived sessions per record.
    pub fn new() -> Self {
        Self::default()
    }
    /// An empty store keeping `max_archived` archived sessions per record.
    pub fn with_max_archived_sessions(max_archived: usize) -> Self {
        InMemSessionStore {
            sessions: BTreeMap::new(),
            max_archived,
        }
    }
}

impl fmt::Debug for InMemSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemSessionStore")
            .field("sessions", &self.sessions)
            .field("max_archived", &self.max_archived)
            .finish()
    }
}

impl SessionStore for InMemSessionStore {
    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.sessions.get(address).cloned())
    }
    fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), StoreError> {
        self.sessions.insert(address.clone(), record.clone());
        Ok(())
    }
    fn max_archived_sessions(&self) -> usize {
        self.max_archived
    }
}

/// Sender-key records in memory.
#[derive(Clone, Default)]
pub struct InMemSenderKeyStore {
    records: BTreeMap<(ProtocolAddress, DistributionId), SenderKeyRecord>,
}

impl InMemSenderKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// How many records are stored.
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
    /// Deletes the record for `sender` and `distribution_id` (for instance a member's,
    /// after it left the group).
    pub fn remove_sender_key(&mut self, sender: &ProtocolAddress, distribution_id: DistributionId) {
        self.records.remove(&(sender.clone(), distribution_id));
    }
}

impl fmt::Debug for InMemSenderKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemSenderKeyStore")
            .field("records", &self.records)
            .finish()
    }
}

impl SenderKeyStore for InMemSenderKeyStore {
    fn load_sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<Option<SenderKeyRecord>, StoreError> {
        Ok(self
            .records
            .get(&(sender.clone(), distribution_id))
            .cloned())
    }
    fn store_sender_key(
        &mut self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
        record: &SenderKeyRecord,
    ) -> Result<(), StoreError> {
        self.records
            .insert((sender.clone(), distribution_id), record.clone());
        Ok(())
    }
}

/// All the in-memory stores of one party, as separate fields so that each can be
/// borrowed on its own.
#[derive(Clone, Debug)]
pub struct InMemSignalProtocolStore {
    /// Identities.
    pub identity_store: InMemIdentityKeyStore,
    /// One-time EC prekeys.
    pub pre_key_store: InMemPreKeyStore,
    /// Signed EC prekeys.
    pub signed_pre_key_store: InMemSignedPreKeyStore,
    /// Kyber prekeys.
    pub kyber_pre_key_store: InMemKyberPreKeyStore,
    /// Sessions.
    pub session_store: InMemSessionStore,
    /// Sender keys (groups).
    pub sender_key_store: InMemSenderKeyStore,
}

impl InMemSignalProtocolStore {
    /// Empty stores for our identity.
    pub fn new(identity: IdentityKeyPair, registration_id: u32) -> Self {
        InMemSignalProtocolStore {
            identity_store: InMemIdentityKeyStore::new(identity, registration_id),
            pre_key_store: InMemPreKeyStore::new(),
            signed_pre_key_store: InMemSignedPreKeyStore::new(),
            kyber_pre_key_store: InMemKyberPreKeyStore::new(),
            session_store: InMemSessionStore::new(),
            sender_key_store: InMemSenderKeyStore::new(),
        }
    }
}

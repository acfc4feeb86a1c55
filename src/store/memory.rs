//! The in-memory store: for tests, examples, and apps that persist records themselves.
//!
//! [`InMemSignalProtocolStore`] implements [`ProtocolStore`]. Its commit is all or
//! nothing: it checks that every part of a [`ChangeSet`] fits (the session change was
//! computed from the record it holds, a consumed one-time prekey is still there, a
//! last-resort Kyber triple is new) before it changes anything, and the changes
//! themselves cannot fail. Records are lent to operations, not copied.

use alloc::borrow::Cow;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::fmt;

use super::{ChangeSet, Direction, IdentityChange, KyberPreKeyUse, ProtocolStore};
use rand_core::CryptoRng;

use crate::address::ProtocolAddress;
use crate::crypto::{KemKeyType, PublicKey};
use crate::error::StoreError;
use crate::group::{DistributionId, SenderKeyRecord};
use crate::keys::{
    IdentityKey, IdentityKeyPair, KyberPreKeyId, KyberPreKeyLifetime, KyberPreKeyRecord,
    PreKeyBundle, PreKeyId, PreKeyRecord, SignedPreKeyId, SignedPreKeyRecord,
};
use crate::session::{SessionRecord, Timestamp};

/// How the in-memory identity store decides whether to receive from an identity that
/// differs from the one stored for an address. (Sending to a changed identity is always
/// refused until the app saves the new one with
/// [`InMemIdentityKeyStore::save_identity`], after the user accepted it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceivePolicy {
    /// Receive, record the new identity and report
    /// [`IdentityChange::Replaced`]: what Signal's apps do, so that a peer that
    /// reinstalled can reach us at once; the app shows the user that the safety number
    /// changed.
    #[default]
    AcceptChanges,
    /// Refuse ([`ProtocolError::UntrustedIdentity`](crate::ProtocolError::UntrustedIdentity))
    /// until the app saves the new identity: for apps that require the user to approve
    /// every change before any message from the new identity is shown.
    RequireApproval,
}

/// Our identity and what we know of others': trust on first use, then the
/// [`ReceivePolicy`].
#[derive(Clone)]
pub struct InMemIdentityKeyStore {
    identity: IdentityKeyPair,
    registration_id: u32,
    known: BTreeMap<ProtocolAddress, IdentityKey>,
    policy: ReceivePolicy,
}

impl InMemIdentityKeyStore {
    /// A store for our identity, with the default [`ReceivePolicy::AcceptChanges`].
    pub fn new(identity: IdentityKeyPair, registration_id: u32) -> Self {
        InMemIdentityKeyStore {
            identity,
            registration_id,
            known: BTreeMap::new(),
            policy: ReceivePolicy::default(),
        }
    }

    /// Sets the policy for receiving from a changed identity.
    pub fn set_receive_policy(&mut self, policy: ReceivePolicy) {
        self.policy = policy;
    }

    /// The policy for receiving from a changed identity.
    pub fn receive_policy(&self) -> ReceivePolicy {
        self.policy
    }

    /// Records `identity` for `address`: the app's decision (the user accepted a new
    /// safety number, or the app imports identities).
    pub fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> IdentityChange {
        match self.known.insert(address.clone(), *identity) {
            None => IdentityChange::New,
            Some(old) if old == *identity => IdentityChange::Unchanged,
            Some(previous) => IdentityChange::Replaced { previous },
        }
    }

    /// The identity stored for `address`.
    pub fn identity(&self, address: &ProtocolAddress) -> Option<&IdentityKey> {
        self.known.get(address)
    }

    /// Every (address, identity) stored.
    pub fn identities(&self) -> impl Iterator<Item = (&ProtocolAddress, &IdentityKey)> + '_ {
        self.known.iter()
    }

    /// Forgets the identity of `address`.
    pub fn remove_identity(&mut self, address: &ProtocolAddress) {
        self.known.remove(address);
    }

    fn is_trusted(&self, address: &ProtocolAddress, identity: &IdentityKey, d: Direction) -> bool {
        match (self.known.get(address), d, self.policy) {
            (None, _, _) => true,
            (Some(k), _, _) if k == identity => true,
            (Some(_), Direction::Receiving, ReceivePolicy::AcceptChanges) => true,
            (Some(_), _, _) => false,
        }
    }
}

impl fmt::Debug for InMemIdentityKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemIdentityKeyStore")
            .field("identity", self.identity.identity_key())
            .field("registration_id", &self.registration_id)
            .field("known", &self.known.len())
            .field("policy", &self.policy)
            .finish()
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
    /// Stores a prekey.
    pub fn save_pre_key(&mut self, record: PreKeyRecord) {
        self.keys.insert(record.id(), record);
    }
    /// The prekey with this id.
    pub fn pre_key(&self, id: PreKeyId) -> Option<&PreKeyRecord> {
        self.keys.get(&id)
    }
    /// Deletes a prekey.
    pub fn remove_pre_key(&mut self, id: PreKeyId) {
        self.keys.remove(&id);
    }
    /// How many prekeys are left.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    /// The prekeys, by id.
    pub fn iter(&self) -> impl Iterator<Item = &PreKeyRecord> + '_ {
        self.keys.values()
    }
    /// Whether no prekeys are left.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

impl fmt::Debug for InMemPreKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemPreKeyStore")
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
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
    /// Stores a signed prekey.
    pub fn save_signed_pre_key(&mut self, record: SignedPreKeyRecord) {
        self.keys.insert(record.id(), record);
    }
    /// The signed prekey with this id.
    pub fn signed_pre_key(&self, id: SignedPreKeyId) -> Option<&SignedPreKeyRecord> {
        self.keys.get(&id)
    }
    /// The signed prekeys, by id.
    pub fn iter(&self) -> impl Iterator<Item = &SignedPreKeyRecord> + '_ {
        self.keys.values()
    }
    /// Deletes a signed prekey (after rotation).
    pub fn remove_signed_pre_key(&mut self, id: SignedPreKeyId) {
        self.keys.remove(&id);
    }
}

impl fmt::Debug for InMemSignedPreKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemSignedPreKeyStore")
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
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
    /// Stores a Kyber prekey.
    pub fn save_kyber_pre_key(&mut self, record: KyberPreKeyRecord) {
        self.keys.insert(record.id(), record);
    }
    /// The Kyber prekey with this id.
    pub fn kyber_pre_key(&self, id: KyberPreKeyId) -> Option<&KyberPreKeyRecord> {
        self.keys.get(&id)
    }
    /// The Kyber prekeys, by id.
    pub fn iter(&self) -> impl Iterator<Item = &KyberPreKeyRecord> + '_ {
        self.keys.values()
    }
    /// How many Kyber prekeys are stored.
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
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

    fn is_used(&self, id: KyberPreKeyId, spk: SignedPreKeyId, base_key: &PublicKey) -> bool {
        self.used.contains(&(id.0, spk.0, *base_key.u_bytes()))
    }

    /// Whether recording `u` is possible: the key exists, and a last-resort triple is new.
    fn fits(&self, u: &KyberPreKeyUse) -> bool {
        self.keys.contains_key(&u.id)
            && !(u.last_resort && self.is_used(u.id, u.signed_pre_key_id, &u.base_key))
    }

    fn record(&mut self, u: &KyberPreKeyUse) {
        if u.last_resort {
            self.used
                .insert((u.id.0, u.signed_pre_key_id.0, *u.base_key.u_bytes()));
        } else {
            self.keys.remove(&u.id);
        }
    }
}

impl fmt::Debug for InMemKyberPreKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemKyberPreKeyStore")
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .field("used_triples", &self.used.len())
            .finish()
    }
}

/// Session records in memory.
#[derive(Clone, Default)]
pub struct InMemSessionStore {
    sessions: BTreeMap<ProtocolAddress, SessionRecord>,
}

impl InMemSessionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// The record for `address`.
    pub fn session(&self, address: &ProtocolAddress) -> Option<&SessionRecord> {
        self.sessions.get(address)
    }
    /// Stores a whole record (an import, or an app's own record handling).
    pub fn store_session(&mut self, address: &ProtocolAddress, record: SessionRecord) {
        self.sessions.insert(address.clone(), record);
    }
    /// Deletes the record for `address`.
    pub fn remove_session(&mut self, address: &ProtocolAddress) {
        self.sessions.remove(address);
    }
    /// The addresses with a record.
    pub fn addresses(&self) -> impl Iterator<Item = &ProtocolAddress> + '_ {
        self.sessions.keys()
    }
}

impl fmt::Debug for InMemSessionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemSessionStore")
            .field("sessions", &self.sessions)
            .finish()
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
    /// The record for `sender` and `distribution_id`.
    pub fn sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Option<&SenderKeyRecord> {
        self.records.get(&(sender.clone(), distribution_id))
    }
    /// Stores a whole record (an import).
    pub fn store_sender_key(
        &mut self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
        record: SenderKeyRecord,
    ) {
        self.records
            .insert((sender.clone(), distribution_id), record);
    }
    /// How many records are stored.
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// Every record with its sender and distribution id.
    pub fn iter(
        &self,
    ) -> impl Iterator<Item = (&ProtocolAddress, DistributionId, &SenderKeyRecord)> + '_ {
        self.records.iter().map(|((a, d), r)| (a, *d, r))
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

/// What [`InMemSignalProtocolStore::generate_bundle`] generates: a signed prekey and a
/// one-time Kyber prekey by default (a v4 bundle), all under one id.
///
/// ```
/// use missive::store::memory::BundleSpec;
/// let v4 = BundleSpec::new(7).with_one_time_pre_key();
/// let with_last_resort = BundleSpec::new(8).with_last_resort_kyber_pre_key();
/// let legacy_v3 = BundleSpec::new(9).without_kyber_pre_key();
/// # let _ = (v4, with_last_resort, legacy_v3);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BundleSpec {
    id: u32,
    one_time: bool,
    kyber: Option<KyberPreKeyLifetime>,
}

impl BundleSpec {
    /// A signed prekey and a one-time Kyber prekey, both with id `id`.
    pub fn new(id: u32) -> Self {
        BundleSpec {
            id,
            one_time: false,
            kyber: Some(KyberPreKeyLifetime::OneTime),
        }
    }
    /// Adds a one-time EC prekey (same id).
    pub fn with_one_time_pre_key(mut self) -> Self {
        self.one_time = true;
        self
    }
    /// Makes the Kyber prekey a last-resort key.
    pub fn with_last_resort_kyber_pre_key(mut self) -> Self {
        self.kyber = Some(KyberPreKeyLifetime::LastResort);
        self
    }
    /// No Kyber prekey: a v3 (X3DH) bundle for legacy peers.
    pub fn without_kyber_pre_key(mut self) -> Self {
        self.kyber = None;
        self
    }
}

/// What [`BundleSpec::generate`] makes: the bundle to publish and the records whose
/// private halves the store keeps.
#[derive(Debug)]
#[non_exhaustive]
pub struct GeneratedKeys {
    /// The bundle to publish.
    pub bundle: PreKeyBundle,
    /// The one-time EC prekey, if the spec asked for one.
    pub pre_key: Option<PreKeyRecord>,
    /// The signed EC prekey.
    pub signed_pre_key: SignedPreKeyRecord,
    /// The Kyber prekey, unless the spec is a v3 one.
    pub kyber_pre_key: Option<KyberPreKeyRecord>,
}

impl BundleSpec {
    /// Generates the keys `self` describes for the identity `identity` (registration id
    /// `registration_id`, device `device_id`): for a store other than the in-memory one
    /// (which does it in [`InMemSignalProtocolStore::generate_bundle`]), which saves the
    /// records and publishes the bundle.
    pub fn generate<R: CryptoRng + ?Sized>(
        &self,
        identity: &IdentityKeyPair,
        registration_id: u32,
        device_id: u32,
        now: Timestamp,
        rng: &mut R,
    ) -> GeneratedKeys {
        let spk =
            SignedPreKeyRecord::generate(SignedPreKeyId(self.id), now.as_millis(), identity, rng);
        let pre_key = self
            .one_time
            .then(|| PreKeyRecord::generate(PreKeyId(self.id), rng));
        let kyber = self.kyber.map(|lifetime| {
            KyberPreKeyRecord::generate(
                KemKeyType::Kyber1024,
                KyberPreKeyId(self.id),
                now.as_millis(),
                lifetime,
                identity,
                rng,
            )
        });
        let bundle = PreKeyBundle::new(
            registration_id,
            device_id,
            pre_key.as_ref().map(|k| (k.id(), *k.public_key())),
            spk.id(),
            *spk.public_key(),
            spk.signature().to_vec(),
            *identity.identity_key(),
            kyber
                .as_ref()
                .map(|k| (k.id(), k.public_key().clone(), k.signature().to_vec())),
        );
        GeneratedKeys {
            bundle,
            pre_key,
            signed_pre_key: spk,
            kyber_pre_key: kyber,
        }
    }
}

/// All the in-memory stores of one device, as separate fields so that an app (or a
/// test) can manage each: publish prekeys, approve an identity, import a record.
/// Protocol operations change them only through [`ProtocolStore::commit`].
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

    /// Generates the keys of a prekey bundle as `spec` says, stores their private halves
    /// and returns the bundle to publish for our device `device_id`: what an app does
    /// when it uploads keys to its server.
    pub fn generate_bundle<R: CryptoRng + ?Sized>(
        &mut self,
        spec: &BundleSpec,
        device_id: u32,
        now: Timestamp,
        rng: &mut R,
    ) -> PreKeyBundle {
        let keys = spec.generate(
            &self.identity_store.identity,
            self.identity_store.registration_id,
            device_id,
            now,
            rng,
        );
        self.signed_pre_key_store
            .save_signed_pre_key(keys.signed_pre_key);
        if let Some(k) = keys.pre_key {
            self.pre_key_store.save_pre_key(k);
        }
        if let Some(k) = keys.kyber_pre_key {
            self.kyber_pre_key_store.save_kyber_pre_key(k);
        }
        keys.bundle
    }

    /// Every record, serialized, in a fixed order: two stores hold the same state exactly
    /// when their snapshots are equal. For tests that check a failed call changed nothing.
    pub fn snapshot(&self) -> Vec<(&'static str, Vec<u8>)> {
        let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
        for (addr, key) in self.identity_store.identities() {
            let mut v = Vec::from(addr.name().as_bytes());
            v.extend_from_slice(&addr.device_id().to_be_bytes());
            v.extend_from_slice(&key.serialize());
            out.push(("identity", v));
        }
        for r in self.pre_key_store.iter() {
            out.push(("pre_key", r.serialize().to_vec()));
        }
        for r in self.signed_pre_key_store.iter() {
            out.push(("signed_pre_key", r.serialize().to_vec()));
        }
        for r in self.kyber_pre_key_store.iter() {
            out.push(("kyber_pre_key", r.serialize().to_vec()));
        }
        for (k, s, b) in &self.kyber_pre_key_store.used {
            let mut v = Vec::from(k.to_be_bytes());
            v.extend_from_slice(&s.to_be_bytes());
            v.extend_from_slice(b);
            out.push(("kyber_used", v));
        }
        for (addr, r) in &self.session_store.sessions {
            let mut v = Vec::from(addr.name().as_bytes());
            v.extend_from_slice(&addr.device_id().to_be_bytes());
            v.extend_from_slice(&r.serialize());
            out.push(("session", v));
        }
        for (addr, id, r) in self.sender_key_store.iter() {
            let mut v = Vec::from(addr.name().as_bytes());
            v.extend_from_slice(&addr.device_id().to_be_bytes());
            v.extend_from_slice(id.as_bytes());
            v.extend_from_slice(&r.serialize());
            out.push(("sender_key", v));
        }
        out
    }

    /// Whether every part of `changes` fits the stores as they are.
    fn fits(&self, c: &ChangeSet) -> bool {
        let session_ok = c.session.as_ref().is_none_or(|(addr, change)| {
            match self.session_store.sessions.get(addr) {
                Some(r) => r.can_apply(change),
                None => SessionRecord::new().can_apply(change),
            }
        });
        let pre_key_ok = c
            .consumed_pre_key
            .is_none_or(|id| self.pre_key_store.keys.contains_key(&id));
        let kyber_ok = c
            .kyber_pre_key
            .as_ref()
            .is_none_or(|u| self.kyber_pre_key_store.fits(u));
        let sender_key_ok = c.sender_key.as_ref().is_none_or(|(addr, id, change)| {
            match self.sender_key_store.records.get(&(addr.clone(), *id)) {
                Some(r) => r.can_apply(change),
                None => SenderKeyRecord::new().can_apply(change),
            }
        });
        session_ok && pre_key_ok && kyber_ok && sender_key_ok
    }
}

impl ProtocolStore for InMemSignalProtocolStore {
    fn identity_key_pair(&self) -> Result<&IdentityKeyPair, StoreError> {
        Ok(&self.identity_store.identity)
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        Ok(self.identity_store.registration_id)
    }
    fn identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>, StoreError> {
        Ok(self.identity_store.known.get(address).copied())
    }
    fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        direction: Direction,
    ) -> Result<bool, StoreError> {
        Ok(self.identity_store.is_trusted(address, identity, direction))
    }
    fn session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<Cow<'_, SessionRecord>>, StoreError> {
        Ok(self.session_store.sessions.get(address).map(Cow::Borrowed))
    }
    fn pre_key(&self, id: PreKeyId) -> Result<Option<Cow<'_, PreKeyRecord>>, StoreError> {
        Ok(self.pre_key_store.keys.get(&id).map(Cow::Borrowed))
    }
    fn signed_pre_key(
        &self,
        id: SignedPreKeyId,
    ) -> Result<Option<Cow<'_, SignedPreKeyRecord>>, StoreError> {
        Ok(self.signed_pre_key_store.keys.get(&id).map(Cow::Borrowed))
    }
    fn kyber_pre_key(
        &self,
        id: KyberPreKeyId,
    ) -> Result<Option<Cow<'_, KyberPreKeyRecord>>, StoreError> {
        Ok(self.kyber_pre_key_store.keys.get(&id).map(Cow::Borrowed))
    }
    fn kyber_pre_key_used(
        &self,
        id: KyberPreKeyId,
        signed_pre_key_id: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<bool, StoreError> {
        Ok(self
            .kyber_pre_key_store
            .is_used(id, signed_pre_key_id, base_key))
    }
    fn sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<Option<Cow<'_, SenderKeyRecord>>, StoreError> {
        Ok(self
            .sender_key_store
            .records
            .get(&(sender.clone(), distribution_id))
            .map(Cow::Borrowed))
    }

    fn commit(&mut self, changes: ChangeSet) -> Result<(), StoreError> {
        if !self.fits(&changes) {
            return Err(StoreError::conflict());
        }
        // Everything fits: from here on nothing can fail.
        if let Some((addr, change)) = changes.session {
            let record = self.session_store.sessions.entry(addr).or_default();
            record.apply(change)?;
        }
        if let Some((addr, identity, _)) = changes.identity {
            self.identity_store.known.insert(addr, identity);
        }
        if let Some(id) = changes.consumed_pre_key {
            self.pre_key_store.keys.remove(&id);
        }
        if let Some(u) = &changes.kyber_pre_key {
            self.kyber_pre_key_store.record(u);
        }
        if let Some((addr, id, change)) = changes.sender_key {
            let record = self.sender_key_store.records.entry((addr, id)).or_default();
            record.apply(change)?;
        }
        Ok(())
    }
}

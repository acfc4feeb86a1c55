//! Records in: what the caller loaded from its database for one operation, and the store
//! that lends them to the core and captures the operation's change set.
//!
//! Every record an operation reads must have been put in, or declared absent (set with a
//! NULL record). A read of anything else fails the operation with
//! `MISSIVE_ERROR_RECORD_NOT_LOADED`: a forgotten load must not look like "no session"
//! or "no identity", which would make the operation start afresh and the change set
//! overwrite what the caller has. Prekeys are the exception: a prekey that was not added
//! is simply unknown to the message that names it.
//!
//! Thread safety (this family): the setters and `missive_records_apply` need exclusive
//! access. Operations only read the records, so several may use the same records at
//! once; but two operations on the same peer must not run at once on the same state (as
//! with any Signal store): their change sets would both be computed from the same
//! records, and persisting both would lose one.

use std::borrow::Cow;
use std::collections::BTreeMap;

use missive::crypto::PublicKey;
use missive::store::{ChangeSetParts, Direction, KyberPreKeyUse};
use missive::{
    ChangeSet, Config, Device, DistributionId, IdentityKey, IdentityKeyPair, KyberPreKeyId,
    KyberPreKeyRecord, PreKeyId, PreKeyRecord, ProtocolAddress, ProtocolStore, SenderKeyRecord,
    SessionRecord, SignedPreKeyId, SignedPreKeyRecord, StoreError,
};

use crate::boundary::{
    MissiveAddress, address, bytes, exclusive, give, guard, guard_void, optional_bytes, out_handle,
    reference, take_and_free,
};
use crate::changes::MissiveChanges;
use crate::device::MissiveDevice;
use crate::status::MissiveStatus;

/// The records one operation may read, as the caller loaded them: session records and
/// stored identities by address, sender-key records by (sender, distribution id), our
/// prekeys by id, and whether a Kyber triple was used. Everything is parsed when it is
/// put in, so a damaged stored record is reported there, not as a bad message. Wiped when
/// freed.
///
/// Thread safety: the `missive_records_set_*`, `_add_*` and `_apply` functions need
/// exclusive access. Operations (`missive_session_*`, `missive_group_*`) only read their
/// device and records, so any number may run at once, on any threads, with one condition
/// that no library can check: never two at once on the same peer's session (or the same
/// sender-key record), since both change sets would start from the same state and
/// persisting both would lose one. Serialize operations per peer, as any Signal store
/// must. Its `_free` must not run while another call uses it.
// Records are boxed so that the maps move pointers, never key bytes.
#[derive(Default)]
pub struct MissiveRecords {
    pub(crate) sessions: BTreeMap<ProtocolAddress, Option<Box<SessionRecord>>>,
    pub(crate) identities: BTreeMap<ProtocolAddress, Option<IdentityKey>>,
    pub(crate) pre_keys: BTreeMap<PreKeyId, Box<PreKeyRecord>>,
    pub(crate) signed_pre_keys: BTreeMap<SignedPreKeyId, Box<SignedPreKeyRecord>>,
    pub(crate) kyber_pre_keys: BTreeMap<KyberPreKeyId, Box<KyberPreKeyRecord>>,
    pub(crate) kyber_triples: BTreeMap<(u32, u32, [u8; 32]), bool>,
    pub(crate) sender_keys:
        BTreeMap<(ProtocolAddress, DistributionId), Option<Box<SenderKeyRecord>>>,
}

/// The store of one operation: lends the device's identity and the caller's records, and
/// keeps every commit in an overlay (the change set the caller gets). Later reads in the
/// same operation (a batch of group messages) see the earlier commits.
pub(crate) struct OperationStore<'a> {
    device: &'a MissiveDevice,
    base: &'a MissiveRecords,
    pub(crate) overlay: MissiveChanges,
}

fn not_loaded() -> StoreError {
    StoreError::read()
}

impl<'a> OperationStore<'a> {
    pub(crate) fn new(device: &'a MissiveDevice, base: &'a MissiveRecords) -> Self {
        OperationStore {
            device,
            base,
            overlay: MissiveChanges::default(),
        }
    }

    fn consumed(&self, id: PreKeyId) -> bool {
        self.overlay.consumed_pre_key == Some(id)
    }

    fn kyber_used_up(&self, id: KyberPreKeyId) -> bool {
        self.overlay
            .kyber_pre_key
            .as_ref()
            .is_some_and(|u| u.id == id && !u.last_resort)
    }
}

impl ProtocolStore for OperationStore<'_> {
    fn identity_key_pair(&self) -> Result<&IdentityKeyPair, StoreError> {
        Ok(&self.device.identity)
    }

    fn local_registration_id(&self) -> Result<u32, StoreError> {
        Ok(self.device.registration_id)
    }

    fn identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>, StoreError> {
        if let Some((a, key, _)) = &self.overlay.identity
            && a == address
        {
            return Ok(Some(*key));
        }
        self.base
            .identities
            .get(address)
            .copied()
            .ok_or_else(not_loaded)
    }

    fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        direction: Direction,
    ) -> Result<bool, StoreError> {
        Ok(match self.identity(address)? {
            None => true,
            Some(stored) if &stored == identity => true,
            Some(_) => direction == Direction::Receiving && !self.device.require_approval,
        })
    }

    fn session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<Cow<'_, SessionRecord>>, StoreError> {
        if let Some((a, record)) = &self.overlay.session
            && a == address
        {
            return Ok(Some(Cow::Borrowed(&**record)));
        }
        match self.base.sessions.get(address) {
            None => Err(not_loaded()),
            Some(record) => Ok(record.as_deref().map(Cow::Borrowed)),
        }
    }

    fn pre_key(&self, id: PreKeyId) -> Result<Option<Cow<'_, PreKeyRecord>>, StoreError> {
        if self.consumed(id) {
            return Ok(None);
        }
        Ok(self.base.pre_keys.get(&id).map(|r| Cow::Borrowed(&**r)))
    }

    fn signed_pre_key(
        &self,
        id: SignedPreKeyId,
    ) -> Result<Option<Cow<'_, SignedPreKeyRecord>>, StoreError> {
        Ok(self
            .base
            .signed_pre_keys
            .get(&id)
            .map(|r| Cow::Borrowed(&**r)))
    }

    fn kyber_pre_key(
        &self,
        id: KyberPreKeyId,
    ) -> Result<Option<Cow<'_, KyberPreKeyRecord>>, StoreError> {
        if self.kyber_used_up(id) {
            return Ok(None);
        }
        Ok(self
            .base
            .kyber_pre_keys
            .get(&id)
            .map(|r| Cow::Borrowed(&**r)))
    }

    fn kyber_pre_key_used(
        &self,
        id: KyberPreKeyId,
        signed_pre_key_id: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<bool, StoreError> {
        if let Some(u) = &self.overlay.kyber_pre_key
            && u.last_resort
            && u.id == id
            && u.signed_pre_key_id == signed_pre_key_id
            && u.base_key == *base_key
        {
            return Ok(true);
        }
        self.base
            .kyber_triples
            .get(&(id.0, signed_pre_key_id.0, *base_key.u_bytes()))
            .copied()
            .ok_or_else(not_loaded)
    }

    fn sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<Option<Cow<'_, SenderKeyRecord>>, StoreError> {
        let key = (sender.clone(), distribution_id);
        if let Some(record) = self.overlay.sender_keys.get(&key) {
            return Ok(Some(Cow::Borrowed(&**record)));
        }
        match self.base.sender_keys.get(&key) {
            None => Err(not_loaded()),
            Some(record) => Ok(record.as_deref().map(Cow::Borrowed)),
        }
    }

    /// Applies the set to copies of the records it changes, all of them or none: every
    /// part is staged first, and only then does the overlay take them.
    fn commit(&mut self, changes: ChangeSet) -> Result<(), StoreError> {
        let ChangeSetParts {
            session,
            identity,
            consumed_pre_key,
            kyber_pre_key,
            sender_key,
            ..
        } = changes.into_parts();

        // One operation concerns one peer: a second session or identity for another
        // address in the same operation would not fit the C change set (never happens).
        let other =
            |a: &ProtocolAddress, held: Option<&ProtocolAddress>| held.is_some_and(|h| h != a);
        let session = match session {
            Some((addr, change)) => {
                if other(&addr, self.overlay.session.as_ref().map(|(a, _)| a)) {
                    return Err(StoreError::conflict());
                }
                let mut record = match self.session(&addr)? {
                    Some(r) => Box::new(r.into_owned()),
                    None => Box::new(SessionRecord::new()),
                };
                record.apply(change)?;
                Some((addr, record))
            }
            None => None,
        };
        if let Some((addr, _, _)) = &identity
            && other(addr, self.overlay.identity.as_ref().map(|(a, _, _)| a))
        {
            return Err(StoreError::conflict());
        }
        if let Some(id) = consumed_pre_key
            && (self.pre_key(id)?.is_none() || self.overlay.consumed_pre_key.is_some())
        {
            return Err(StoreError::conflict());
        }
        if let Some(u) = &kyber_pre_key {
            let used =
                u.last_resort && self.kyber_pre_key_used(u.id, u.signed_pre_key_id, &u.base_key)?;
            if self.kyber_pre_key(u.id)?.is_none() || used || self.overlay.kyber_pre_key.is_some() {
                return Err(StoreError::conflict());
            }
        }
        let sender_key = match sender_key {
            Some((addr, id, change)) => {
                let mut record = match self.sender_key(&addr, id)? {
                    Some(r) => Box::new(r.into_owned()),
                    None => Box::new(SenderKeyRecord::new()),
                };
                record.apply(change)?;
                Some(((addr, id), record))
            }
            None => None,
        };

        // Everything is staged: from here on nothing can fail.
        if session.is_some() {
            self.overlay.session = session;
        }
        if let Some((addr, key, previous)) = identity {
            // Within one operation the identity it replaced is the one stored before.
            let previous = match self.overlay.identity.take() {
                Some((_, _, first_previous)) => first_previous,
                None => previous,
            };
            self.overlay.identity = Some((addr, key, previous));
        }
        if consumed_pre_key.is_some() {
            self.overlay.consumed_pre_key = consumed_pre_key;
        }
        if kyber_pre_key.is_some() {
            self.overlay.kyber_pre_key = kyber_pre_key;
        }
        if let Some((key, record)) = sender_key {
            self.overlay.sender_keys.insert(key, record);
        }
        Ok(())
    }
}

/// Runs one operation of the core's `Device` on the caller's records: the result and the
/// change set to persist.
pub(crate) fn run<T>(
    device: &MissiveDevice,
    records: &MissiveRecords,
    op: impl FnOnce(&mut Device<&mut OperationStore<'_>>) -> Result<T, missive::Error>,
) -> Result<(T, MissiveChanges), missive::Error> {
    let mut store = OperationStore::new(device, records);
    let value = {
        let config: Config = device.config.clone();
        let mut dev = Device::with_config(device.address.clone(), &mut store, config);
        op(&mut dev)?
    };
    Ok((value, store.overlay))
}

/// Makes an empty set of records into `*out` (freed by `missive_records_free`).
///
/// # Safety
/// Pointers as documented in the header's conventions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_records_new(out: *mut *mut MissiveRecords) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { out_handle(out) }?;
        give(out, MissiveRecords::default());
        Ok(())
    })
}

/// Puts the session record stored for `address` (as the change sets wrote it), or
/// declares that none is stored (`data` NULL or `len` 0). Replaces what was set for that
/// address. `data` is parsed and copied.
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `records`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_records_set_session(
    records: *mut MissiveRecords,
    address: *const MissiveAddress,
    data: *const u8,
    len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, addr, data) = unsafe {
            (
                exclusive(records)?,
                crate::boundary::address(address)?,
                optional_bytes(data, len)?,
            )
        };
        let record = match data {
            Some(d) => Some(Box::new(SessionRecord::deserialize(d)?)),
            None => None,
        };
        r.sessions.insert(addr, record);
        Ok(())
    })
}

/// Puts the identity key stored for `address` (`MISSIVE_PUBLIC_KEY_LEN` bytes), or
/// declares that none is stored (`key` NULL or `len` 0).
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `records`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_records_set_identity(
    records: *mut MissiveRecords,
    address: *const MissiveAddress,
    key: *const u8,
    len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, addr, key) = unsafe {
            (
                exclusive(records)?,
                crate::boundary::address(address)?,
                optional_bytes(key, len)?,
            )
        };
        let key = match key {
            Some(k) => Some(IdentityKey::deserialize(k)?),
            None => None,
        };
        r.identities.insert(addr, key);
        Ok(())
    })
}

/// Adds one of our one-time prekey records (serialized). Only the prekeys a message
/// names are needed (`missive_prekey_message_needs`).
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `records`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_records_add_pre_key(
    records: *mut MissiveRecords,
    data: *const u8,
    len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, data) = unsafe { (exclusive(records)?, bytes(data, len)?) };
        let record = Box::new(PreKeyRecord::deserialize(data)?);
        r.pre_keys.insert(record.id(), record);
        Ok(())
    })
}

/// Adds one of our signed prekey records (serialized).
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `records`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_records_add_signed_pre_key(
    records: *mut MissiveRecords,
    data: *const u8,
    len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, data) = unsafe { (exclusive(records)?, bytes(data, len)?) };
        let record = Box::new(SignedPreKeyRecord::deserialize(data)?);
        r.signed_pre_keys.insert(record.id(), record);
        Ok(())
    })
}

/// Adds one of our Kyber prekey records (serialized).
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `records`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_records_add_kyber_pre_key(
    records: *mut MissiveRecords,
    data: *const u8,
    len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, data) = unsafe { (exclusive(records)?, bytes(data, len)?) };
        let record = Box::new(KyberPreKeyRecord::deserialize(data)?);
        r.kyber_pre_keys.insert(record.id(), record);
        Ok(())
    })
}

/// Says whether the (Kyber prekey id, signed prekey id, base key) triple of a prekey
/// message was already used with a last-resort Kyber prekey (`used`: the caller found
/// it among the uses it recorded from earlier change sets). Needed for every prekey
/// message that names a last-resort Kyber prekey: it is what refuses a replayed message.
/// `base_key` is `MISSIVE_PUBLIC_KEY_LEN` bytes, as `MissivePreKeyNeeds` gives it.
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `records`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_records_set_kyber_triple_used(
    records: *mut MissiveRecords,
    kyber_pre_key_id: u32,
    signed_pre_key_id: u32,
    base_key: *const u8,
    base_key_len: usize,
    used: bool,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, key) = unsafe { (exclusive(records)?, bytes(base_key, base_key_len)?) };
        let key = PublicKey::deserialize(key)?;
        r.kyber_triples
            .insert((kyber_pre_key_id, signed_pre_key_id, *key.u_bytes()), used);
        Ok(())
    })
}

/// Puts the sender-key record stored for (`sender`, `distribution_id`: 16 bytes), or
/// declares that none is stored (`data` NULL or `len` 0). Our own sending chains are
/// stored under our own address.
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `records`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_records_set_sender_key(
    records: *mut MissiveRecords,
    sender: *const MissiveAddress,
    distribution_id: *const u8,
    distribution_id_len: usize,
    data: *const u8,
    len: usize,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, addr, id, data) = unsafe {
            (
                exclusive(records)?,
                address(sender)?,
                crate::boundary::distribution_id(distribution_id, distribution_id_len)?,
                optional_bytes(data, len)?,
            )
        };
        let record = match data {
            Some(d) => Some(Box::new(SenderKeyRecord::deserialize(d)?)),
            None => None,
        };
        r.sender_keys.insert((addr, id), record);
        Ok(())
    })
}

/// Brings the records up to date with a change set the caller has persisted: for a
/// caller that keeps one `MissiveRecords` across operations (a cache of its database)
/// instead of loading a fresh one each time. Call it only after the caller's transaction
/// succeeded. `changes` is only read.
///
/// # Safety
/// Pointers as documented in the header's conventions; exclusive access to `records`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_records_apply(
    records: *mut MissiveRecords,
    changes: *const MissiveChanges,
) -> MissiveStatus {
    guard(|| {
        // SAFETY: the caller's contract for each pointer.
        let (r, c) = unsafe { (exclusive(records)?, reference(changes)?) };
        if let Some((addr, record)) = &c.session {
            r.sessions.insert(addr.clone(), Some(record.clone()));
        }
        if let Some((addr, key, _)) = &c.identity {
            r.identities.insert(addr.clone(), Some(*key));
        }
        if let Some(id) = c.consumed_pre_key {
            r.pre_keys.remove(&id);
        }
        if let Some(u) = &c.kyber_pre_key {
            record_kyber_use(r, u);
        }
        for (key, record) in &c.sender_keys {
            r.sender_keys.insert(key.clone(), Some(record.clone()));
        }
        Ok(())
    })
}

fn record_kyber_use(r: &mut MissiveRecords, u: &KyberPreKeyUse) {
    if u.last_resort {
        r.kyber_triples
            .insert((u.id.0, u.signed_pre_key_id.0, *u.base_key.u_bytes()), true);
    } else {
        r.kyber_pre_keys.remove(&u.id);
    }
}

/// Wipes and frees the records and sets `*records` to NULL (no-op for NULL).
///
/// # Safety
/// `*records` must be NULL or a handle from this library not freed since, with no
/// operation using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn missive_records_free(records: *mut *mut MissiveRecords) {
    guard_void(|| {
        // SAFETY: the caller's contract.
        unsafe { take_and_free(records) }
    })
}

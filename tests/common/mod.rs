//! Shared helpers for the integration tests: devices with in-memory stores, and a
//! snapshot of every record a store holds.
#![allow(dead_code)]

use std::borrow::Cow;

use missive::crypto::PublicKey;
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::store::{Direction, ProtocolStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

pub type Dev = Device<InMemSignalProtocolStore>;

pub const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A device with a fresh identity and the default [`Config`] (v4 only).
pub fn device(name: &str, device_id: u32, rng: &mut ChaCha20Rng) -> Dev {
    device_with(name, device_id, Config::default(), rng)
}

/// A device that also accepts v3 (X3DH) prekey messages from legacy peers.
pub fn legacy_device(name: &str, device_id: u32, rng: &mut ChaCha20Rng) -> Dev {
    device_with(
        name,
        device_id,
        Config::default().accept_legacy_x3dh(true),
        rng,
    )
}

pub fn device_with(name: &str, device_id: u32, config: Config, rng: &mut ChaCha20Rng) -> Dev {
    let identity = IdentityKeyPair::generate(rng);
    let registration_id = 1 + (rng.next_u32() % 16380);
    Device::with_config(
        ProtocolAddress::new(name, device_id),
        InMemSignalProtocolStore::new(identity, registration_id),
        config,
    )
}

/// The identity key pair of `dev`.
pub fn identity(dev: &Dev) -> IdentityKeyPair {
    dev.store().identity_key_pair().unwrap().clone()
}

/// The first signed prekey id `dev` has not used: bundles get ids 1, 2, 3, … in turn
/// (signed prekeys are never deleted by the protocol).
pub fn next_bundle_id(dev: &Dev) -> u32 {
    (1..)
        .find(|&id| {
            dev.store()
                .signed_pre_key_store
                .signed_pre_key(SignedPreKeyId(id))
                .is_none()
        })
        .unwrap()
}

/// Publishes a fresh bundle for `dev`: v4 (with a one-time Kyber prekey) unless `v3`,
/// with a one-time EC prekey if `one_time`.
pub fn publish(dev: &mut Dev, one_time: bool, v3: bool, rng: &mut ChaCha20Rng) -> PreKeyBundle {
    let mut spec = BundleSpec::new(next_bundle_id(dev));
    if one_time {
        spec = spec.with_one_time_pre_key();
    }
    if v3 {
        spec = spec.without_kyber_pre_key();
    }
    let device_id = dev.address().device_id();
    dev.store_mut().generate_bundle(&spec, device_id, NOW, rng)
}

/// Starts a session with `remote` from `bundle`: PQXDH for a bundle with a Kyber prekey,
/// X3DH (the legacy entry point) for one without.
pub fn start_session(
    dev: &mut Dev,
    bundle: &PreKeyBundle,
    remote: &ProtocolAddress,
    rng: &mut ChaCha20Rng,
) -> IdentityChange {
    if bundle.kyber_pre_key().is_some() {
        dev.process_prekey_bundle(remote, bundle, NOW, rng)
    } else {
        dev.process_legacy_prekey_bundle(remote, bundle, NOW, rng)
    }
    .unwrap()
}

/// `b` publishes a bundle (see [`publish`]) and `a` starts a session from it.
pub fn establish(a: &mut Dev, b: &mut Dev, one_time: bool, v3: bool, rng: &mut ChaCha20Rng) {
    let bundle = publish(b, one_time, v3, rng);
    let remote = b.address().clone();
    start_session(a, &bundle, &remote, rng);
}

/// Encrypts at [`NOW`]; must succeed.
pub fn send(
    dev: &mut Dev,
    remote: &ProtocolAddress,
    plaintext: &[u8],
    rng: &mut ChaCha20Rng,
) -> CiphertextMessage {
    dev.encrypt(remote, plaintext, NOW, rng).unwrap()
}

/// Decrypts a message as it came off the wire; the plaintext.
pub fn recv<S: ProtocolStore>(
    dev: &mut Device<S>,
    remote: &ProtocolAddress,
    msg: &CiphertextMessage,
    rng: &mut ChaCha20Rng,
) -> Result<Vec<u8>, Error> {
    recv_bytes(dev, remote, msg.message_type(), msg.serialize(), rng)
}

/// Decrypts `bytes` of the given kind; the plaintext.
pub fn recv_bytes<S: ProtocolStore>(
    dev: &mut Device<S>,
    remote: &ProtocolAddress,
    kind: CiphertextMessageType,
    bytes: &[u8],
    rng: &mut ChaCha20Rng,
) -> Result<Vec<u8>, Error> {
    dev.decrypt(remote, kind, bytes, rng).map(|d| d.plaintext)
}

/// The serialized session record `dev` holds for `remote`.
pub fn record_bytes(dev: &Dev, remote: &ProtocolAddress) -> Option<Vec<u8>> {
    dev.store()
        .session_store
        .session(remote)
        .map(|r| r.serialize().to_vec())
}

/// Every record a store holds, serialized, in a stable order: what a failed call must
/// leave byte-identical. (`peers` is kept for the call sites: every identity is listed.)
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub local_identity: Vec<u8>,
    pub registration_id: u32,
    pub identities: Vec<(ProtocolAddress, [u8; 33])>,
    pub sessions: Vec<(ProtocolAddress, Vec<u8>)>,
    pub pre_keys: Vec<Vec<u8>>,
    pub signed_pre_keys: Vec<Vec<u8>>,
    pub kyber_pre_keys: Vec<Vec<u8>>,
    pub kyber_used_triples: usize,
    pub sender_keys: Vec<(ProtocolAddress, DistributionId, Vec<u8>)>,
    /// The store's own whole snapshot (it also covers the remembered Kyber triples).
    pub all: Vec<(&'static str, Vec<u8>)>,
}

/// See [`Snapshot`].
pub fn snapshot(dev: &Dev, _peers: &[&ProtocolAddress]) -> Snapshot {
    let s = dev.store();
    Snapshot {
        local_identity: s.identity_key_pair().unwrap().serialize().to_vec(),
        registration_id: s.local_registration_id().unwrap(),
        identities: s
            .identity_store
            .identities()
            .map(|(a, k)| (a.clone(), k.serialize()))
            .collect(),
        sessions: s
            .session_store
            .addresses()
            .map(|a| {
                let bytes = s.session_store.session(a).unwrap().serialize().to_vec();
                (a.clone(), bytes)
            })
            .collect(),
        pre_keys: s
            .pre_key_store
            .iter()
            .map(|r| r.serialize().to_vec())
            .collect(),
        signed_pre_keys: s
            .signed_pre_key_store
            .iter()
            .map(|r| r.serialize().to_vec())
            .collect(),
        kyber_pre_keys: s
            .kyber_pre_key_store
            .iter()
            .map(|r| r.serialize().to_vec())
            .collect(),
        kyber_used_triples: s.kyber_pre_key_store.used_triples(),
        sender_keys: s
            .sender_key_store
            .iter()
            .map(|(a, d, r)| (a.clone(), d, r.serialize().to_vec()))
            .collect(),
        all: s.snapshot(),
    }
}

/// A store that reads through to another and keeps the change set it is given instead of
/// committing it: to commit that set later, to a store that has changed meanwhile.
pub struct Capture<'a> {
    pub inner: &'a InMemSignalProtocolStore,
    pub changes: Option<ChangeSet>,
}

impl<'a> Capture<'a> {
    pub fn new(inner: &'a InMemSignalProtocolStore) -> Self {
        Capture {
            inner,
            changes: None,
        }
    }
}

impl ProtocolStore for Capture<'_> {
    fn identity_key_pair(&self) -> Result<&IdentityKeyPair, StoreError> {
        self.inner.identity_key_pair()
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        self.inner.local_registration_id()
    }
    fn identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>, StoreError> {
        ProtocolStore::identity(self.inner, address)
    }
    fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        direction: Direction,
    ) -> Result<bool, StoreError> {
        self.inner.is_trusted_identity(address, identity, direction)
    }
    fn session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<Cow<'_, SessionRecord>>, StoreError> {
        ProtocolStore::session(self.inner, address)
    }
    fn pre_key(&self, id: PreKeyId) -> Result<Option<Cow<'_, PreKeyRecord>>, StoreError> {
        ProtocolStore::pre_key(self.inner, id)
    }
    fn signed_pre_key(
        &self,
        id: SignedPreKeyId,
    ) -> Result<Option<Cow<'_, SignedPreKeyRecord>>, StoreError> {
        ProtocolStore::signed_pre_key(self.inner, id)
    }
    fn kyber_pre_key(
        &self,
        id: KyberPreKeyId,
    ) -> Result<Option<Cow<'_, KyberPreKeyRecord>>, StoreError> {
        ProtocolStore::kyber_pre_key(self.inner, id)
    }
    fn kyber_pre_key_used(
        &self,
        id: KyberPreKeyId,
        signed_pre_key_id: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<bool, StoreError> {
        self.inner
            .kyber_pre_key_used(id, signed_pre_key_id, base_key)
    }
    fn sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<Option<Cow<'_, SenderKeyRecord>>, StoreError> {
        ProtocolStore::sender_key(self.inner, sender, distribution_id)
    }
    fn commit(&mut self, changes: ChangeSet) -> Result<(), StoreError> {
        assert!(self.changes.replace(changes).is_none());
        Ok(())
    }
}

/// Byte range of the value of top-level varint field `number` in a protobuf.
pub fn varint_field_range(proto: &[u8], number: u64) -> Option<std::ops::Range<usize>> {
    let mut i = 0;
    let read_varint = |i: &mut usize| -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *proto.get(*i)?;
            *i += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    };
    while i < proto.len() {
        let key = read_varint(&mut i)?;
        match key & 7 {
            0 => {
                let start = i;
                read_varint(&mut i)?;
                if key >> 3 == number {
                    return Some(start..i);
                }
            }
            2 => {
                let len = read_varint(&mut i)? as usize;
                i += len;
            }
            _ => return None,
        }
    }
    None
}

//! Thin helpers over [`missive::Device`] for the stateful targets, the seed corpora and
//! the leak checks: device creation, bundle publishing, and a [`Snapshot`] of every
//! record a device holds (what the invariant "a failed call changes nothing" compares).
//! A party is a `Device` over the in-memory store; nothing here bundles stores by hand.

use missive::store::ProtocolStore;
use missive::store::memory::{
    BundleSpec, InMemIdentityKeyStore, InMemSenderKeyStore, InMemSignalProtocolStore, ReceivePolicy,
};
use missive::{
    Config, Device, DistributionId, Error, IdentityChange, IdentityKey, IdentityKeyPair,
    KyberPreKeyId, KyberPreKeyRecord, PreKeyBundle, PreKeyId, PreKeyRecord, ProtocolAddress,
    SenderKeyRecord, SessionRecord, SignedPreKeyId, SignedPreKeyRecord, Timestamp,
};
use rand_chacha::ChaCha20Rng;

/// The one clock reading every call uses: no session ever expires in a run.
pub const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);

/// Service ids, so that v4 prekey messages carry and check the `addresses` field.
pub const ALICE: &str = "9d0652a3-dcc3-4d11-975f-74d61598733f";
/// Bob's service id.
pub const BOB: &str = "5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f";
/// Carol's service id (the group target's third member).
pub const CAROL: &str = "c4a7e1b0-6f2d-4e8a-b3c5-1d9e0f7a2b6c";
/// Dave's service id (the group target's fourth member).
pub const DAVE: &str = "0d5e3c9a-8b71-4f26-a4d0-e2c6b8f1a937";

/// One device with in-memory stores.
pub type Party = Device<InMemSignalProtocolStore>;

/// A device `name`.1 with a fresh identity from `rng`; `legacy`: it accepts v3 (X3DH)
/// prekey messages.
pub fn device(name: &str, registration_id: u32, legacy: bool, rng: &mut ChaCha20Rng) -> Party {
    let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), registration_id);
    let config = Config::default().accept_legacy_x3dh(legacy);
    Device::with_config(ProtocolAddress::new(name, 1), store, config)
}

/// An independent copy of `party` (its store cloned).
pub fn copy(party: &Party) -> Party {
    Device::with_config(
        party.address().clone(),
        party.store().clone(),
        party.config().clone(),
    )
}

/// The id the next bundle of `store` gets: bundles use ids `1, 2, …` for all their keys,
/// and signed prekeys are never deleted, so this is the first id without one.
pub fn next_bundle_id(store: &InMemSignalProtocolStore) -> u32 {
    (1..)
        .find(|&i| {
            let s = &store.signed_pre_key_store;
            s.signed_pre_key(SignedPreKeyId(i)).is_none()
        })
        .expect("fewer than u32::MAX bundles")
}

/// Publishes a fresh bundle with a new id: v4 (with a one-time Kyber prekey) unless
/// `v3`, with a one-time EC prekey if `one_time`.
pub fn publish_bundle(
    party: &mut Party,
    v3: bool,
    one_time: bool,
    rng: &mut ChaCha20Rng,
) -> PreKeyBundle {
    let mut spec = BundleSpec::new(next_bundle_id(party.store()));
    if one_time {
        spec = spec.with_one_time_pre_key();
    }
    if v3 {
        spec = spec.without_kyber_pre_key();
    }
    let device_id = party.address().device_id();
    party
        .store_mut()
        .generate_bundle(&spec, device_id, NOW, rng)
}

/// Starts a session from `bundle`: PQXDH, or X3DH for a bundle without Kyber.
pub fn start_session(
    party: &mut Party,
    bundle: &PreKeyBundle,
    remote: &ProtocolAddress,
    rng: &mut ChaCha20Rng,
) -> Result<IdentityChange, Error> {
    if bundle.kyber_pre_key().is_some() {
        party.process_prekey_bundle(remote, bundle, NOW, rng)
    } else {
        party.process_legacy_prekey_bundle(remote, bundle, NOW, rng)
    }
}

/// Whether `party` has a current session with `remote`.
pub fn has_session(party: &Party, remote: &ProtocolAddress) -> bool {
    let s = &party.store().session_store;
    s.session(remote).is_some_and(|r| r.has_current_session())
}

/// Everything a party stores, serialized: a failed call must leave it unchanged.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    sessions: Vec<Option<Vec<u8>>>,
    identities: Vec<Option<[u8; 33]>>,
    pre_keys: Vec<Option<Vec<u8>>>,
    signed_pre_keys: Vec<Option<Vec<u8>>>,
    kyber_pre_keys: Vec<Option<Vec<u8>>>,
    kyber_used_triples: usize,
    sender_keys: SenderKeys,
}

/// A sender-key store, serialized: the records under the given (sender, distribution id)
/// keys, and how many records it holds in all (so that a record written under any other
/// key shows too).
#[derive(Debug, PartialEq, Eq)]
pub struct SenderKeys {
    records: Vec<Option<Vec<u8>>>,
    count: usize,
}

impl SenderKeys {
    /// Serializes `store`'s records under `keys`.
    pub fn of(store: &InMemSenderKeyStore, keys: &[(ProtocolAddress, DistributionId)]) -> Self {
        SenderKeys {
            records: keys
                .iter()
                .map(|(sender, id)| {
                    store
                        .sender_key(sender, *id)
                        .map(|r| r.serialize().to_vec())
                })
                .collect(),
            count: store.len(),
        }
    }
}

impl Snapshot {
    /// Every record in `store` about `remotes` (sessions and identities), every prekey of
    /// the bundles it published, and its sender-key records under `sender_keys`.
    pub fn of(
        store: &InMemSignalProtocolStore,
        remotes: &[ProtocolAddress],
        sender_keys: &[(ProtocolAddress, DistributionId)],
    ) -> Self {
        let s = store;
        let ids = 1..next_bundle_id(s);
        Snapshot {
            sessions: remotes
                .iter()
                .map(|remote| {
                    let r = s.session_store.session(remote);
                    r.map(|r| r.serialize().to_vec())
                })
                .collect(),
            identities: remotes
                .iter()
                .map(|remote| s.identity_store.identity(remote).map(|k| k.serialize()))
                .collect(),
            pre_keys: ids
                .clone()
                .map(|i| {
                    let r = s.pre_key_store.pre_key(PreKeyId(i));
                    r.map(|r| r.serialize().to_vec())
                })
                .collect(),
            signed_pre_keys: ids
                .clone()
                .map(|i| {
                    let r = s.signed_pre_key_store.signed_pre_key(SignedPreKeyId(i));
                    r.map(|r| r.serialize().to_vec())
                })
                .collect(),
            kyber_pre_keys: ids
                .map(|i| {
                    let r = s.kyber_pre_key_store.kyber_pre_key(KyberPreKeyId(i));
                    r.map(|r| r.serialize().to_vec())
                })
                .collect(),
            kyber_used_triples: s.kyber_pre_key_store.used_triples(),
            sender_keys: SenderKeys::of(&s.sender_key_store, sender_keys),
        }
    }
}

/// Every record `party` holds about itself and `remote`, serialized (and how many
/// sender-key records it holds).
pub fn snapshot(party: &Party, remote: &ProtocolAddress) -> Snapshot {
    Snapshot::of(party.store(), std::slice::from_ref(remote), &[])
}

/// A device as bytes: every record its store holds, serialized, with what it takes to
/// rebuild the device. The stateful targets make their starting worlds once and
/// [`thaw`](Frozen::thaw) a fresh copy for every execution: deserializing records costs
/// a fraction of the handshakes that made them, and every run starts from state that went
/// through the record parsers.
///
/// The long-term keys (identity and prekeys) never change in a run and their parsers each
/// recompute a public key (a scalar multiplication, the most expensive part of a thaw
/// under the fuzzer's instrumentation), so [`thaw`](Frozen::thaw) clones them as parsed
/// once and deserializes the rest (sessions, sender keys, identities);
/// [`thaw_all`](Frozen::thaw_all) deserializes everything.
pub struct Frozen {
    keys: InMemSignalProtocolStore,
    policy: ReceivePolicy,
    address: ProtocolAddress,
    config: Config,
    identity: Vec<u8>,
    registration_id: u32,
    identities: Vec<(ProtocolAddress, [u8; 33])>,
    sessions: Vec<(ProtocolAddress, Vec<u8>)>,
    sender_keys: Vec<(ProtocolAddress, DistributionId, Vec<u8>)>,
    pre_keys: Vec<Vec<u8>>,
    signed_pre_keys: Vec<Vec<u8>>,
    kyber_pre_keys: Vec<Vec<u8>>,
}

impl Frozen {
    /// Every record of `party`. Its store must not hold used last-resort Kyber triples
    /// (the in-memory store has no way to restore them; the fuzz bundles use one-time
    /// Kyber prekeys).
    pub fn freeze(party: &Party) -> Frozen {
        let s = party.store();
        assert_eq!(
            s.kyber_pre_key_store.used_triples(),
            0,
            "triples cannot be thawed"
        );
        let mut keys = s.clone();
        keys.session_store = Default::default();
        keys.sender_key_store = Default::default();
        keys.identity_store = InMemIdentityKeyStore::new(
            s.identity_key_pair().expect("an identity").clone(),
            s.local_registration_id().expect("a registration id"),
        );
        let policy = s.identity_store.receive_policy();
        keys.identity_store.set_receive_policy(policy);
        Frozen {
            keys,
            policy,
            address: party.address().clone(),
            config: party.config().clone(),
            identity: s
                .identity_key_pair()
                .expect("an identity")
                .serialize()
                .to_vec(),
            registration_id: s.local_registration_id().expect("a registration id"),
            identities: s
                .identity_store
                .identities()
                .map(|(a, k)| (a.clone(), k.serialize()))
                .collect(),
            sessions: s
                .session_store
                .addresses()
                .map(|a| {
                    let r = s.session_store.session(a).expect("listed");
                    (a.clone(), r.serialize().to_vec())
                })
                .collect(),
            sender_keys: s
                .sender_key_store
                .iter()
                .map(|(a, id, r)| (a.clone(), id, r.serialize().to_vec()))
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
        }
    }

    /// A new device: the long-term keys as parsed at freezing, everything else from its
    /// records. It holds exactly what the frozen one held.
    pub fn thaw(&self) -> Party {
        let mut store = self.keys.clone();
        self.thaw_records(&mut store);
        Device::with_config(self.address.clone(), store, self.config.clone())
    }

    /// A new device from the records alone, long-term keys included.
    pub fn thaw_all(&self) -> Party {
        let identity = IdentityKeyPair::deserialize(&self.identity).expect("our own record");
        let mut store = InMemSignalProtocolStore::new(identity, self.registration_id);
        store.identity_store.set_receive_policy(self.policy);
        for r in &self.pre_keys {
            let r = PreKeyRecord::deserialize(r).expect("our own record");
            store.pre_key_store.save_pre_key(r);
        }
        for r in &self.signed_pre_keys {
            let r = SignedPreKeyRecord::deserialize(r).expect("our own record");
            store.signed_pre_key_store.save_signed_pre_key(r);
        }
        for r in &self.kyber_pre_keys {
            let r = KyberPreKeyRecord::deserialize(r).expect("our own record");
            store.kyber_pre_key_store.save_kyber_pre_key(r);
        }
        self.thaw_records(&mut store);
        Device::with_config(self.address.clone(), store, self.config.clone())
    }

    /// Identities, sessions and sender keys, from their records.
    fn thaw_records(&self, store: &mut InMemSignalProtocolStore) {
        for (a, k) in &self.identities {
            let k = IdentityKey::deserialize(k).expect("our own record");
            store.identity_store.save_identity(a, &k);
        }
        for (a, r) in &self.sessions {
            let r = SessionRecord::deserialize(r).expect("our own record");
            store.session_store.store_session(a, r);
        }
        for (a, id, r) in &self.sender_keys {
            let r = SenderKeyRecord::deserialize(r).expect("our own record");
            store.sender_key_store.store_sender_key(a, *id, r);
        }
    }
}

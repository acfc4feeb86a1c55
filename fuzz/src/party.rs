//! A party with in-memory stores, for the stateful targets and the seed corpora.

use missive::crypto::KemKeyType;
use missive::store::memory::{InMemSenderKeyStore, InMemSignalProtocolStore};
use missive::store::{
    IdentityKeyStore, KyberPreKeyStore, PreKeyStore, SenderKeyStore, SessionStore,
    SignedPreKeyStore,
};
use missive::{
    CiphertextMessage, CiphertextMessageType, DistributionId, Error, IdentityKeyPair,
    KyberPreKeyId, KyberPreKeyRecord, PreKeyBundle, PreKeyId, PreKeyRecord, PreKeySignalMessage,
    ProtocolAddress, SignalMessage, SignedPreKeyId, SignedPreKeyRecord, Timestamp,
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

/// One device: its address, its stores, and the next prekey id it will publish.
#[derive(Clone)]
pub struct Party {
    /// Our address.
    pub address: ProtocolAddress,
    /// Our stores.
    pub store: InMemSignalProtocolStore,
    /// Ids `1..next_id` have been used by our bundles.
    pub next_id: u32,
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
                    let r = store.load_sender_key(sender, *id);
                    r.expect("in-memory store").map(|r| r.serialize().to_vec())
                })
                .collect(),
            count: store.len(),
        }
    }
}

impl Snapshot {
    /// Every record in `store` (a party's, whose bundles used ids `1..next_id`) about
    /// `remotes`, and its sender-key records under `sender_keys`.
    pub fn of(
        store: &InMemSignalProtocolStore,
        next_id: u32,
        remotes: &[ProtocolAddress],
        sender_keys: &[(ProtocolAddress, DistributionId)],
    ) -> Self {
        let s = store;
        let ids = 1..next_id;
        Snapshot {
            sessions: remotes
                .iter()
                .map(|remote| {
                    let r = s.session_store.load_session(remote);
                    r.expect("in-memory store").map(|r| r.serialize().to_vec())
                })
                .collect(),
            identities: remotes
                .iter()
                .map(|remote| {
                    let k = s.identity_store.identity(remote);
                    k.expect("in-memory store").map(|k| k.serialize())
                })
                .collect(),
            pre_keys: ids
                .clone()
                .map(|i| {
                    let r = s
                        .pre_key_store
                        .pre_key(PreKeyId(i))
                        .expect("in-memory store");
                    r.map(|r| r.serialize().to_vec())
                })
                .collect(),
            signed_pre_keys: ids
                .clone()
                .map(|i| {
                    let r = s.signed_pre_key_store.signed_pre_key(SignedPreKeyId(i));
                    r.expect("in-memory store").map(|r| r.serialize().to_vec())
                })
                .collect(),
            kyber_pre_keys: ids
                .map(|i| {
                    let r = s.kyber_pre_key_store.kyber_pre_key(KyberPreKeyId(i));
                    r.expect("in-memory store").map(|r| r.serialize().to_vec())
                })
                .collect(),
            kyber_used_triples: s.kyber_pre_key_store.used_triples(),
            sender_keys: SenderKeys::of(&s.sender_key_store, sender_keys),
        }
    }
}

impl Party {
    /// A fresh identity from `rng`.
    pub fn new(name: &str, registration_id: u32, rng: &mut ChaCha20Rng) -> Self {
        Party {
            address: ProtocolAddress::new(name, 1),
            store: InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), registration_id),
            next_id: 1,
        }
    }

    /// Our identity key pair.
    pub fn identity(&self) -> IdentityKeyPair {
        self.store
            .identity_store
            .identity_key_pair()
            .expect("in-memory store")
    }

    /// Publishes a fresh bundle with new ids: v4 (with a one-time Kyber prekey) unless
    /// `v3`, with a one-time EC prekey if `one_time`.
    pub fn bundle(&mut self, v3: bool, one_time: bool, rng: &mut ChaCha20Rng) -> PreKeyBundle {
        let id = self.next_id;
        self.next_id += 1;
        let identity = self.identity();
        let s = &mut self.store;
        let spk = SignedPreKeyRecord::generate(SignedPreKeyId(id), NOW.as_millis(), &identity, rng);
        s.signed_pre_key_store
            .save_signed_pre_key(&spk)
            .expect("in-memory store");
        let pre_key = one_time.then(|| {
            let pk = PreKeyRecord::generate(PreKeyId(id), rng);
            s.pre_key_store.save_pre_key(&pk).expect("in-memory store");
            (pk.id(), *pk.public_key())
        });
        let kyber = (!v3).then(|| {
            let k = KyberPreKeyRecord::generate(
                KemKeyType::Kyber1024,
                KyberPreKeyId(id),
                NOW.as_millis(),
                false,
                &identity,
                rng,
            );
            s.kyber_pre_key_store
                .save_kyber_pre_key(&k)
                .expect("in-memory store");
            (k.id(), k.public_key().clone(), k.signature().to_vec())
        });
        PreKeyBundle::new(
            s.identity_store
                .local_registration_id()
                .expect("in-memory store"),
            self.address.device_id(),
            pre_key,
            spk.id(),
            *spk.public_key(),
            spk.signature().to_vec(),
            *identity.identity_key(),
            kyber,
        )
    }

    /// Starts a session from `bundle` (PQXDH, or X3DH for a bundle without Kyber).
    pub fn start_session(
        &mut self,
        bundle: &PreKeyBundle,
        remote: &ProtocolAddress,
        rng: &mut ChaCha20Rng,
    ) -> Result<(), Error> {
        let start = if bundle.kyber_pre_key().is_some() {
            missive::process_prekey_bundle
        } else {
            missive::process_legacy_prekey_bundle
        };
        let s = &mut self.store;
        start(
            bundle,
            remote,
            &mut s.session_store,
            &mut s.identity_store,
            NOW,
            rng,
        )
    }

    /// Encrypts for `remote` on the current session.
    pub fn encrypt(
        &mut self,
        remote: &ProtocolAddress,
        plaintext: &[u8],
        rng: &mut ChaCha20Rng,
    ) -> Result<CiphertextMessage, Error> {
        let s = &mut self.store;
        missive::encrypt(
            plaintext,
            remote,
            &self.address,
            &mut s.session_store,
            &mut s.identity_store,
            NOW,
            rng,
        )
    }

    /// Parses `bytes` as `kind` and decrypts it, through the entry point an app would
    /// pick for it (the legacy one for a v3 prekey message).
    pub fn decrypt(
        &mut self,
        remote: &ProtocolAddress,
        kind: CiphertextMessageType,
        bytes: &[u8],
        rng: &mut ChaCha20Rng,
    ) -> Result<Vec<u8>, Error> {
        let s = &mut self.store;
        if kind == CiphertextMessageType::PreKey {
            let m = PreKeySignalMessage::deserialize(bytes)?;
            if m.message_version() == 3 {
                return missive::decrypt_legacy_prekey_message(
                    &m,
                    remote,
                    &self.address,
                    &mut s.session_store,
                    &mut s.identity_store,
                    &mut s.pre_key_store,
                    &s.signed_pre_key_store,
                    rng,
                );
            }
            return missive::decrypt_prekey_message(
                &m,
                remote,
                &self.address,
                &mut s.session_store,
                &mut s.identity_store,
                &mut s.pre_key_store,
                &s.signed_pre_key_store,
                &mut s.kyber_pre_key_store,
                rng,
            );
        }
        let m = SignalMessage::deserialize(bytes)?;
        missive::decrypt_signal_message(
            &m,
            remote,
            &self.address,
            &mut s.session_store,
            &mut s.identity_store,
            rng,
        )
    }

    /// Whether we have a current session with `remote`.
    pub fn has_session(&self, remote: &ProtocolAddress) -> bool {
        self.store
            .session_store
            .load_session(remote)
            .expect("in-memory store")
            .is_some_and(|r| r.has_current_session())
    }

    /// Every record we hold about ourselves and `remote`, serialized (and how many
    /// sender-key records we hold).
    pub fn snapshot(&self, remote: &ProtocolAddress) -> Snapshot {
        Snapshot::of(&self.store, self.next_id, std::slice::from_ref(remote), &[])
    }
}

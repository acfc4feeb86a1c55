//! Shared helpers for the integration tests: parties with in-memory stores.
#![allow(dead_code)]

use missive::crypto::KemKeyType;
use missive::store::memory::InMemSignalProtocolStore;
use missive::store::{IdentityKeyStore, KyberPreKeyStore, PreKeyStore, SignedPreKeyStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub struct Party {
    pub address: ProtocolAddress,
    pub store: InMemSignalProtocolStore,
    pub next_id: u32,
}

impl Party {
    pub fn new(name: &str, device: u32, rng: &mut ChaCha20Rng) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        let reg = 1 + (rng_u32(rng) % 16380);
        Party {
            address: ProtocolAddress::new(name, device),
            store: InMemSignalProtocolStore::new(identity, reg),
            next_id: 1,
        }
    }

    pub fn identity(&self) -> IdentityKeyPair {
        self.store.identity_store.identity_key_pair().unwrap()
    }

    /// Publishes a fresh bundle: v4 (with Kyber) unless `v3`.
    pub fn bundle(&mut self, one_time: bool, v3: bool, rng: &mut ChaCha20Rng) -> PreKeyBundle {
        let id = self.next_id;
        self.next_id += 1;
        let identity = self.identity();
        let spk = SignedPreKeyRecord::generate(SignedPreKeyId(id), NOW.as_millis(), &identity, rng);
        self.store
            .signed_pre_key_store
            .save_signed_pre_key(&spk)
            .unwrap();
        let pre_key = if one_time {
            let pk = PreKeyRecord::generate(PreKeyId(id), rng);
            self.store.pre_key_store.save_pre_key(&pk).unwrap();
            Some((pk.id(), *pk.public_key()))
        } else {
            None
        };
        let kyber = if v3 {
            None
        } else {
            let k = KyberPreKeyRecord::generate(
                KemKeyType::Kyber1024,
                KyberPreKeyId(id),
                NOW.as_millis(),
                false,
                &identity,
                rng,
            );
            self.store
                .kyber_pre_key_store
                .save_kyber_pre_key(&k)
                .unwrap();
            Some((k.id(), k.public_key().clone(), k.signature().to_vec()))
        };
        PreKeyBundle::new(
            self.store.identity_store.local_registration_id().unwrap(),
            self.address.device_id(),
            pre_key,
            spk.id(),
            *spk.public_key(),
            spk.signature().to_vec(),
            *identity.identity_key(),
            kyber,
        )
    }

    pub fn start_session(
        &mut self,
        bundle: &PreKeyBundle,
        remote: &ProtocolAddress,
        rng: &mut ChaCha20Rng,
    ) {
        let start = if bundle.kyber_pre_key().is_some() {
            process_prekey_bundle
        } else {
            process_legacy_prekey_bundle
        };
        start(
            bundle,
            remote,
            &mut self.store.session_store,
            &mut self.store.identity_store,
            NOW,
            rng,
        )
        .unwrap();
    }

    pub fn encrypt(
        &mut self,
        remote: &ProtocolAddress,
        pt: &[u8],
        rng: &mut ChaCha20Rng,
    ) -> CiphertextMessage {
        encrypt(
            pt,
            remote,
            &self.address,
            &mut self.store.session_store,
            &mut self.store.identity_store,
            NOW,
            rng,
        )
        .unwrap()
    }

    pub fn decrypt(
        &mut self,
        remote: &ProtocolAddress,
        msg: &CiphertextMessage,
        rng: &mut ChaCha20Rng,
    ) -> Result<Vec<u8>, Error> {
        self.decrypt_bytes(remote, msg.message_type(), msg.serialize(), rng)
    }

    pub fn decrypt_bytes(
        &mut self,
        remote: &ProtocolAddress,
        kind: CiphertextMessageType,
        bytes: &[u8],
        rng: &mut ChaCha20Rng,
    ) -> Result<Vec<u8>, Error> {
        match kind {
            CiphertextMessageType::PreKey => {
                let m = PreKeySignalMessage::deserialize(bytes)?;
                if m.message_version() == 3 {
                    return decrypt_legacy_prekey_message(
                        &m,
                        remote,
                        &self.address,
                        &mut self.store.session_store,
                        &mut self.store.identity_store,
                        &mut self.store.pre_key_store,
                        &self.store.signed_pre_key_store,
                        rng,
                    );
                }
                decrypt_prekey_message(
                    &m,
                    remote,
                    &self.address,
                    &mut self.store.session_store,
                    &mut self.store.identity_store,
                    &mut self.store.pre_key_store,
                    &self.store.signed_pre_key_store,
                    &mut self.store.kyber_pre_key_store,
                    rng,
                )
            }
            _ => {
                let m = SignalMessage::deserialize(bytes)?;
                decrypt_signal_message(
                    &m,
                    remote,
                    &self.address,
                    &mut self.store.session_store,
                    &mut self.store.identity_store,
                    rng,
                )
            }
        }
    }

    pub fn record_bytes(&self, remote: &ProtocolAddress) -> Option<Vec<u8>> {
        use missive::store::SessionStore;
        self.store
            .session_store
            .load_session(remote)
            .unwrap()
            .map(|r| r.serialize().to_vec())
    }
}

fn rng_u32(rng: &mut ChaCha20Rng) -> u32 {
    use rand_core::Rng;
    rng.next_u32()
}

/// Everything a party stores that a failed call must leave untouched.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub sessions: Vec<Option<Vec<u8>>>,
    pub pre_keys: usize,
    pub kyber_pre_keys: usize,
    pub identities: Vec<Option<IdentityKey>>,
}

impl Party {
    pub fn snapshot(&self, peers: &[&ProtocolAddress]) -> Snapshot {
        Snapshot {
            sessions: peers.iter().map(|p| self.record_bytes(p)).collect(),
            pre_keys: self.store.pre_key_store.len(),
            kyber_pre_keys: self.store.kyber_pre_key_store.len(),
            identities: peers
                .iter()
                .map(|p| self.store.identity_store.identity(p).unwrap())
                .collect(),
        }
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

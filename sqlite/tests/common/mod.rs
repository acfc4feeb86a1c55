//! Shared helpers for the SQLite store's tests: devices on either store, one scripted
//! conversation that exercises every kind of write, and the storage key.
#![allow(dead_code)]

use std::path::Path;

use missive::store::at_rest::StorageKey;
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use missive_sqlite::SqliteStore;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);
pub const STORAGE_KEY: [u8; 32] = [0x5c; 32];
pub const KEY_ID: u32 = 1;

pub fn storage_key() -> StorageKey {
    StorageKey::new(KEY_ID, &STORAGE_KEY)
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn alice_at() -> ProtocolAddress {
    ProtocolAddress::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1)
}
pub fn bob_at() -> ProtocolAddress {
    ProtocolAddress::new("796abedb-ca4e-4f18-8803-1fde5b921f9f", 1)
}
pub fn group_id() -> DistributionId {
    DistributionId::from_bytes([0x47; 16])
}

/// What the scripted conversation needs of a store beyond [`ProtocolStore`].
pub trait TestStore: ProtocolStore {
    fn publish(&mut self, spec: &BundleSpec, rng: &mut ChaCha20Rng) -> PreKeyBundle;
    fn snap(&self) -> Vec<(&'static str, Vec<u8>)>;
}

impl TestStore for InMemSignalProtocolStore {
    fn publish(&mut self, spec: &BundleSpec, rng: &mut ChaCha20Rng) -> PreKeyBundle {
        self.generate_bundle(spec, 1, NOW, rng)
    }
    fn snap(&self) -> Vec<(&'static str, Vec<u8>)> {
        self.snapshot()
    }
}

impl TestStore for SqliteStore {
    fn publish(&mut self, spec: &BundleSpec, rng: &mut ChaCha20Rng) -> PreKeyBundle {
        self.generate_bundle(spec, 1, NOW, rng).unwrap()
    }
    fn snap(&self) -> Vec<(&'static str, Vec<u8>)> {
        self.snapshot().unwrap()
    }
}

pub fn mem_device(
    at: ProtocolAddress,
    reg: u32,
    rng: &mut ChaCha20Rng,
) -> Device<InMemSignalProtocolStore> {
    Device::new(
        at,
        InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), reg),
    )
}

pub fn sqlite_device(
    path: &Path,
    at: ProtocolAddress,
    reg: u32,
    rng: &mut ChaCha20Rng,
) -> Device<SqliteStore> {
    let store =
        SqliteStore::create(path, storage_key(), IdentityKeyPair::generate(rng), reg).unwrap();
    Device::new(at, store)
}

pub fn reopen(path: &Path, at: ProtocolAddress) -> Device<SqliteStore> {
    Device::new(at, SqliteStore::open(path, storage_key()).unwrap())
}

/// Sends `text` from `from` to `to` and returns the message.
pub fn send<S: ProtocolStore>(
    from: &mut Device<S>,
    to: &ProtocolAddress,
    text: &[u8],
    rng: &mut ChaCha20Rng,
) -> CiphertextMessage {
    from.encrypt(to, text, NOW, rng).unwrap()
}

pub fn recv<S: ProtocolStore>(
    to: &mut Device<S>,
    from: &ProtocolAddress,
    m: &CiphertextMessage,
    rng: &mut ChaCha20Rng,
) -> Decrypted {
    to.decrypt(from, m.message_type(), m.serialize(), rng)
        .unwrap()
}

/// A plaintext that is easy to find in a file and unique per message.
pub fn text(i: usize) -> Vec<u8> {
    format!("plaintext-{i:05}-the quick brown fox jumps over the lazy dog").into_bytes()
}

/// A conversation that makes every kind of write: sessions from bundles (one-time and
/// last-resort prekeys), prekey messages, DH steps, late messages (skipped keys on
/// several chains, SPQR keys), a session reset with archived sessions, and group
/// messages (distribution over 1:1, out-of-order group messages). `step` runs after
/// every operation, with the number of operations so far.
pub fn scripted_conversation<SA: TestStore, SB: TestStore>(
    alice: &mut Device<SA>,
    bob: &mut Device<SB>,
    rng: &mut ChaCha20Rng,
    step: &mut dyn FnMut(&mut Device<SA>, &mut Device<SB>),
) {
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let mut n = 0;
    let mut t = || {
        n += 1;
        text(n)
    };
    // A session from a bundle with a one-time prekey.
    let bundle = bob
        .store_mut()
        .publish(&BundleSpec::new(1).with_one_time_pre_key(), rng);
    step(alice, bob);
    alice.process_prekey_bundle(&b, &bundle, NOW, rng).unwrap();
    step(alice, bob);
    let m1 = send(alice, &b, &t(), rng);
    let m2 = send(alice, &b, &t(), rng);
    let m3 = send(alice, &b, &t(), rng);
    step(alice, bob);
    recv(bob, &a, &m1, rng);
    step(alice, bob);
    recv(bob, &a, &m3, rng);
    step(alice, bob);
    // DH steps both ways, with late messages left on each chain.
    let mut held = vec![(m2, true)];
    for round in 0..4 {
        let r = send(bob, &a, &t(), rng);
        let late = send(bob, &a, &t(), rng);
        recv(alice, &b, &r, rng);
        step(alice, bob);
        for i in 0..3 {
            let m = send(alice, &b, &t(), rng);
            if i == 1 {
                held.push((m, true));
            } else {
                recv(bob, &a, &m, rng);
                step(alice, bob);
            }
        }
        held.push((late, false));
        if round == 2 {
            // Half the late messages arrive now.
            for (m, to_bob) in held.drain(..held.len() / 2) {
                if to_bob {
                    recv(bob, &a, &m, rng);
                } else {
                    recv(alice, &b, &m, rng);
                }
                step(alice, bob);
            }
        }
    }
    // A group: Alice's chain, distributed over the 1:1 session, messages out of order.
    let dist = alice
        .sender_key_distribution_message(group_id(), rng)
        .unwrap();
    step(alice, bob);
    let over = send(alice, &b, dist.serialized(), rng);
    let got = recv(bob, &a, &over, rng);
    let parsed = SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap();
    bob.process_sender_key_distribution_message(&got.sender, &parsed)
        .unwrap();
    step(alice, bob);
    let g: Vec<_> = (0..4)
        .map(|_| alice.group_encrypt(group_id(), &t(), rng).unwrap())
        .collect();
    step(alice, bob);
    for i in [0, 2, 3, 1] {
        bob.group_decrypt(&a, &g[i]).unwrap();
        step(alice, bob);
    }
    // A reset: a new session from a bundle with a last-resort Kyber prekey; the old one
    // is archived on both sides and its late messages still arrive.
    let bundle = bob
        .store_mut()
        .publish(&BundleSpec::new(2).with_last_resort_kyber_pre_key(), rng);
    step(alice, bob);
    alice.archive_session(&b).unwrap();
    alice.process_prekey_bundle(&b, &bundle, NOW, rng).unwrap();
    step(alice, bob);
    let p = send(alice, &b, &t(), rng);
    recv(bob, &a, &p, rng);
    step(alice, bob);
    let r = send(bob, &a, &t(), rng);
    recv(alice, &b, &r, rng);
    step(alice, bob);
    for (m, to_bob) in held.drain(..) {
        if to_bob {
            recv(bob, &a, &m, rng);
        } else {
            recv(alice, &b, &m, rng);
        }
        step(alice, bob);
    }
    // Back and forth on whichever session is current now.
    for _ in 0..3 {
        let m = send(alice, &b, &t(), rng);
        recv(bob, &a, &m, rng);
        let r = send(bob, &a, &t(), rng);
        recv(alice, &b, &r, rng);
        step(alice, bob);
    }
}

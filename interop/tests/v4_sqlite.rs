//! missive on its SQLite store against libsignal-client 0.103: the client-initiates
//! scenario of `v4_client.rs` (PQXDH with a one-time prekey, then every traffic shape),
//! with missive's database closed and opened again before every message it encrypts or
//! decrypts. What the peer sees must not depend on where missive keeps its state.

mod common;
use std::path::PathBuf;

use common::*;
use missive::store::at_rest::StorageKey;
use missive::*;
use missive_interop::{CiphertextMessage as Wire, Peer, PeerKind};
use missive_sqlite::SqliteStore;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn key() -> StorageKey {
    StorageKey::new(1, &[0x3c; 32])
}

/// A missive device on SQLite that reopens its database before every operation.
struct SqliteParty {
    device: Option<Device<SqliteStore>>,
    path: PathBuf,
    address: ProtocolAddress,
    remote: ProtocolAddress,
    rng: ChaCha20Rng,
    reopens: usize,
}

impl SqliteParty {
    fn reopened(&mut self) -> &mut Device<SqliteStore> {
        // Closed first: the store holds its database exclusively.
        drop(self.device.take());
        let store = SqliteStore::open(&self.path, key()).expect("reopen");
        self.reopens += 1;
        self.device.insert(Device::new(self.address.clone(), store))
    }
}

impl Endpoint for SqliteParty {
    fn name(&self) -> String {
        format!("missive-sqlite({})", self.address)
    }
    fn encrypt(&mut self, plaintext: &[u8]) -> Wire {
        let remote = self.remote.clone();
        let mut rng = self.rng.clone();
        let m = self
            .reopened()
            .encrypt(&remote, plaintext, NOW, &mut rng)
            .expect("missive encrypt");
        self.rng = rng;
        to_wire(&m)
    }
    fn decrypt(&mut self, msg: &Wire) -> Result<Vec<u8>, String> {
        let remote = self.remote.clone();
        let mut rng = self.rng.clone();
        let r = self
            .reopened()
            .decrypt(&remote, wire_type(msg), &msg.body, &mut rng)
            .map(|d| d.plaintext)
            .map_err(|e| e.to_string());
        self.rng = rng;
        r
    }
}

#[test]
fn client_initiates_with_missive_on_sqlite_reopened_before_every_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bob.db");
    let mut rng = ChaCha20Rng::seed_from_u64(77);
    let mut store =
        SqliteStore::create(&path, key(), IdentityKeyPair::generate(&mut rng), 4244).unwrap();
    let spec = missive::store::memory::BundleSpec::new(100).with_one_time_pre_key();
    let bundle = store.generate_bundle(&spec, 2, NOW, &mut rng).unwrap();
    drop(store);

    let mut peer = Peer::spawn(PeerKind::Client).expect("spawn libsignal-client driver");
    peer.new_party("alice", ALICE_ACI, 1).unwrap();
    peer.process_bundle("alice", BOB_ACI, 2, &to_wire_bundle(&bundle))
        .unwrap();
    let mut alice = PeerParty {
        peer: &mut peer,
        party: "alice".into(),
        remote_name: BOB_ACI.into(),
        remote_device: 2,
    };
    let mut bob = SqliteParty {
        device: None,
        path,
        address: ProtocolAddress::new(BOB_ACI, 2),
        remote: ProtocolAddress::new(ALICE_ACI, 1),
        rng,
        reopens: 0,
    };

    let m1 = alice.encrypt(b"hello from libsignal");
    let m2 = alice.encrypt(b"second before any reply");
    assert!(m1.is_prekey() && m2.is_prekey());
    assert_eq!(bob.decrypt(&m1).unwrap(), b"hello from libsignal");
    assert!(
        bob.reopened().store().pre_key_ids().unwrap().is_empty(),
        "one-time prekey deleted on use, on disk"
    );
    assert_eq!(bob.decrypt(&m2).unwrap(), b"second before any reply");
    let r = bob.encrypt(b"hello from missive");
    assert!(!r.is_prekey());
    assert_eq!(alice.decrypt(&r).unwrap(), b"hello from missive");

    let t = traffic_shapes(&mut bob, &mut alice, 77);
    assert!(t.a_to_b >= 200 && t.b_to_a >= 200);
    let reopens = bob.reopens;
    let store = bob.reopened().store();
    store.verify().unwrap();
    eprintln!("libsignal-client with missive on SQLite: {t:?}, {reopens} reopens");
}

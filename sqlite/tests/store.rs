//! The SQLite store keeps exactly what the in-memory store keeps, across every kind of
//! write and across reopening; its management methods and bounds.

mod common;

use common::*;
use missive::store::at_rest::StorageKey;
use missive::store::memory::BundleSpec;
use missive::*;
use missive_sqlite::{Error, Options, SqliteStore};

/// Runs the scripted conversation on in-memory stores and on SQLite stores from the same
/// seed, and compares every record after every operation (read back from the database,
/// not the cache), byte for byte. `capacity` is the SQLite store's cache size.
fn same_as_in_memory(capacity: usize, reopen_every_step: bool) {
    let mut expected = Vec::new();
    {
        let mut rng = rng(7);
        let mut alice = mem_device(alice_at(), 11, &mut rng);
        let mut bob = mem_device(bob_at(), 22, &mut rng);
        scripted_conversation(&mut alice, &mut bob, &mut rng, &mut |a, b| {
            expected.push((a.store().snap(), b.store().snap()));
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("alice.db"), dir.path().join("bob.db"));
    let mut rng = rng(7);
    let alice = sqlite_device(&pa, alice_at(), 11, &mut rng);
    let bob = sqlite_device(&pb, bob_at(), 22, &mut rng);
    let open = |path: &std::path::Path, at| {
        let store = Options::new()
            .cache_capacity(capacity)
            .open(path, storage_key())
            .unwrap();
        Device::new(at, store)
    };
    let mut alice = {
        drop(alice);
        open(&pa, alice_at())
    };
    let mut bob = {
        drop(bob);
        open(&pb, bob_at())
    };
    let (mut saw_stored_keys, mut saw_archive) = (false, false);
    let mut i = 0;
    scripted_conversation(&mut alice, &mut bob, &mut rng, &mut |a, b| {
        let (ea, eb) = &expected[i];
        assert!(
            a.store().snap() == *ea,
            "alice's records differ after step {i}"
        );
        assert!(
            b.store().snap() == *eb,
            "bob's records differ after step {i}"
        );
        let v = b.store().verify().unwrap();
        saw_stored_keys |= v
            .records
            .iter()
            .any(|(t, n)| *t == "session_keys" && *n > 0);
        saw_archive |= v
            .records
            .iter()
            .any(|(t, n)| *t == "session_archives" && *n > 0);
        if reopen_every_step {
            a.store_mut().reopen().unwrap();
            b.store_mut().reopen().unwrap();
        }
        i += 1;
    });
    assert_eq!(i, expected.len());
    // Everything opens, and the stored keys of the lived records are there.
    let v = bob.store().verify().unwrap();
    assert!(v.sessions == 1, "{v:?}");
    assert!(saw_stored_keys && saw_archive);
    assert!(
        v.records.iter().any(|(t, n)| *t == "sender_keys" && *n > 0),
        "{v:?}"
    );
}

#[test]
fn keeps_what_the_in_memory_store_keeps() {
    same_as_in_memory(missive_sqlite::DEFAULT_CACHE_CAPACITY, false);
}

#[test]
fn keeps_it_with_a_cache_of_one() {
    same_as_in_memory(1, false);
}

#[test]
fn keeps_it_across_a_reopen_after_every_operation() {
    same_as_in_memory(missive_sqlite::DEFAULT_CACHE_CAPACITY, true);
}

#[test]
fn wrong_keys_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut rng = rng(1);
    drop(sqlite_device(&path, alice_at(), 1, &mut rng));
    match SqliteStore::open(&path, StorageKey::new(KEY_ID, &[1; 32])) {
        Err(Error::KeyMismatch { key_id: KEY_ID }) => {}
        other => panic!("{other:?}"),
    }
    match SqliteStore::open(&path, StorageKey::new(9, &STORAGE_KEY)) {
        Err(
            e @ Error::WrongKey {
                database: KEY_ID,
                given: 9,
            },
        ) => {
            assert!(e.to_string().contains("storage key 1"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(SqliteStore::open(&path, storage_key()).is_ok());
    assert!(matches!(
        SqliteStore::open(dir.path().join("none.db"), storage_key()),
        Err(Error::NotInitialized)
    ));
    assert!(matches!(
        SqliteStore::create(&path, storage_key(), IdentityKeyPair::generate(&mut rng), 1),
        Err(Error::AlreadyInitialized)
    ));
}

#[test]
fn the_database_is_held_exclusively() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut rng = rng(1);
    let mut first = sqlite_device(&path, alice_at(), 1, &mut rng);
    // A write takes the exclusive lock, held until the store is dropped.
    first
        .store_mut()
        .generate_bundle(&BundleSpec::new(1), 1, NOW, &mut rng)
        .unwrap();
    let second = Options::new().open(&path, storage_key());
    assert!(second.is_err(), "a second store opened the same database");
    drop(first);
    assert!(SqliteStore::open(&path, storage_key()).is_ok());
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut rng = rng(1);
    drop(sqlite_device(&path, alice_at(), 1, &mut rng));
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        assert_eq!(
            c.pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0))
                .unwrap(),
            missive_sqlite::SCHEMA_VERSION
        );
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    assert!(matches!(
        SqliteStore::open(&path, storage_key()),
        Err(Error::SchemaTooNew { found: 99 })
    ));
}

#[test]
fn kyber_triples_are_remembered_and_pruned_with_their_prekeys() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rng(3);
    let mut alice = mem_device(alice_at(), 1, &mut rng);
    let mut bob = sqlite_device(&dir.path().join("bob.db"), bob_at(), 2, &mut rng);
    let b = bob_at();
    let bundle = bob
        .store_mut()
        .generate_bundle(
            &BundleSpec::new(5).with_last_resort_kyber_pre_key(),
            1,
            NOW,
            &mut rng,
        )
        .unwrap();
    let mut first = None;
    for i in 0..3 {
        alice.archive_session(&b).unwrap();
        alice
            .process_prekey_bundle(&b, &bundle, NOW, &mut rng)
            .unwrap();
        let m = send(&mut alice, &b, &text(i), &mut rng);
        recv(&mut bob, &alice_at(), &m, &mut rng);
        first.get_or_insert(m);
    }
    assert_eq!(bob.store().used_kyber_triples().unwrap(), 3);
    // The replayed prekey message goes to its (archived) session: a duplicate, never a
    // second session.
    let replay = first.unwrap();
    let before = bob.store().snapshot().unwrap();
    assert!(
        bob.decrypt(
            &alice_at(),
            replay.message_type(),
            replay.serialize(),
            &mut rng
        )
        .is_err()
    );
    assert!(bob.store().snapshot().unwrap() == before);
    // Deleting the signed prekey forgets the triples that name it.
    bob.store_mut()
        .remove_signed_pre_key(SignedPreKeyId(5))
        .unwrap();
    assert_eq!(bob.store().used_kyber_triples().unwrap(), 0);
    assert!(
        bob.store()
            .kyber_pre_key_ids()
            .unwrap()
            .contains(&KyberPreKeyId(5))
    );
    bob.store_mut()
        .remove_kyber_pre_key(KyberPreKeyId(5))
        .unwrap();
    assert!(bob.store().kyber_pre_key_ids().unwrap().is_empty());
}

#[test]
fn archived_sessions_are_bounded_and_prunable() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rng(4);
    let mut alice = mem_device(alice_at(), 1, &mut rng);
    let store = SqliteStore::create(
        dir.path().join("bob.db"),
        storage_key(),
        IdentityKeyPair::generate(&mut rng),
        2,
    )
    .unwrap();
    let mut bob = Device::with_config(bob_at(), store, Config::default().max_archived_sessions(6));
    let b = bob_at();
    for id in 1..=9 {
        let bundle = bob
            .store_mut()
            .generate_bundle(&BundleSpec::new(id), 1, NOW, &mut rng)
            .unwrap();
        alice
            .process_prekey_bundle(&b, &bundle, NOW, &mut rng)
            .unwrap();
        let m = send(&mut alice, &b, &text(id as usize), &mut rng);
        recv(&mut bob, &alice_at(), &m, &mut rng);
    }
    let record = |bob: &Device<SqliteStore>| {
        bob.store()
            .load_session_record(&alice_at())
            .unwrap()
            .unwrap()
    };
    // The config's bound, applied by the commits that archived.
    assert_eq!(record(&bob).archived_count(), 6);
    assert_eq!(bob.store_mut().prune_archived_sessions(2).unwrap(), 4);
    assert_eq!(record(&bob).archived_count(), 2);
    assert!(record(&bob).has_current_session());
    assert_eq!(bob.store_mut().prune_archived_sessions(2).unwrap(), 0);
    // The conversation goes on.
    let m = send(&mut alice, &b, b"after pruning", &mut rng);
    assert_eq!(
        recv(&mut bob, &alice_at(), &m, &mut rng).plaintext,
        b"after pruning"
    );
}

#[test]
fn management_methods_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let mut rng = rng(5);
    let mut d = sqlite_device(&path, alice_at(), 1, &mut rng);
    let s = d.store_mut();
    let other = IdentityKeyPair::generate(&mut rng);
    assert_eq!(
        s.save_identity(&bob_at(), other.identity_key()).unwrap(),
        IdentityChange::New
    );
    assert_eq!(
        s.save_identity(&bob_at(), other.identity_key()).unwrap(),
        IdentityChange::Unchanged
    );
    let pk = PreKeyRecord::generate(PreKeyId(77), &mut rng);
    s.save_pre_key(&pk).unwrap();
    assert_eq!(s.pre_key_ids().unwrap(), vec![PreKeyId(77)]);
    drop(d);
    let mut d = reopen(&path, alice_at());
    use missive::store::ProtocolStore;
    assert_eq!(
        d.store().identity(&bob_at()).unwrap(),
        Some(*other.identity_key())
    );
    assert_eq!(
        *d.store()
            .pre_key(PreKeyId(77))
            .unwrap()
            .unwrap()
            .serialize(),
        *pk.serialize()
    );
    d.store_mut().remove_pre_key(PreKeyId(77)).unwrap();
    d.store_mut().remove_identity(&bob_at()).unwrap();
    assert!(d.store().pre_key_ids().unwrap().is_empty());
    assert_eq!(d.store().identity(&bob_at()).unwrap(), None);
}

/// A long ping-pong with Alice's messages lost now and then, run on an in-memory Bob and
/// on a SQLite Bob from the same seed: the braid moves the session through several SPQR
/// epochs, and Bob's skipped SPQR keys become rows of their epoch's chain (a chain is
/// retired with its epoch). Every 25 rounds, and at the end, Bob's records as read back
/// from the database (the head with the braid's state, the key rows) equal the in-memory
/// ones byte for byte; the SQLite Bob is reopened every 10 rounds.
#[test]
fn braid_epochs_survive_the_row_split() {
    const ROUNDS: usize = 300;
    fn run<SB: TestStore>(
        bob: &mut Device<SB>,
        rng: &mut rand_chacha::ChaCha20Rng,
        step: &mut dyn FnMut(usize, &mut Device<SB>),
    ) {
        let mut alice = mem_device(alice_at(), 11, rng);
        let (a, b) = (alice.address().clone(), bob.address().clone());
        let bundle = bob.store_mut().publish(&BundleSpec::new(1), rng);
        alice.process_prekey_bundle(&b, &bundle, NOW, rng).unwrap();
        for round in 0..ROUNDS {
            let m = send(&mut alice, &b, &text(2 * round), rng);
            if round % 9 != 4 {
                recv(bob, &a, &m, rng);
            }
            let r = send(bob, &a, &text(2 * round + 1), rng);
            recv(&mut alice, &b, &r, rng);
            step(round, bob);
        }
    }
    let mut expected = Vec::new();
    {
        let mut rng = rng(9);
        let mut bob = mem_device(bob_at(), 22, &mut rng);
        run(&mut bob, &mut rng, &mut |_, b| {
            expected.push(b.store().snap())
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bob.db");
    let mut rng = rng(9);
    let mut bob = sqlite_device(&path, bob_at(), 22, &mut rng);
    let mut newest_epoch_row = 0;
    run(&mut bob, &mut rng, &mut |round, b| {
        if round % 25 == 24 || round + 1 == ROUNDS {
            assert!(
                b.store().snap() == expected[round],
                "bob's records differ after round {round}"
            );
        }
        let rec = b.store().load_session_record(&alice_at()).unwrap().unwrap();
        for (chain, _, _) in rec.current_stored_keys() {
            if let missive::session::KeyChain::PostQuantum { epoch } = chain {
                newest_epoch_row = newest_epoch_row.max(epoch);
            }
        }
        if round % 10 == 9 {
            b.store_mut().reopen().unwrap();
        }
    });
    // SPQR keys were stored as rows of epochs past the first.
    assert!(newest_epoch_row >= 3, "{newest_epoch_row}");
}

//! At rest: the database files hold no secret and no plaintext; damaged, moved or
//! foreign records fail to open with a clear error and change nothing; a key rotation
//! interrupted at every step completes on the next open.

mod common;

use std::collections::HashSet;
use std::path::Path;

use common::*;
use missive::store::ProtocolStore;
use missive::store::at_rest::{self, RecordKind, RecordName, StorageKey};
use missive::*;
use missive_sqlite::{Options, SqliteStore};
use rand_core::Rng;
use rusqlite::types::Value;

/// Reads protobuf fields `(number, bytes)` of wire type 2, skipping varints.
fn len_fields(mut b: &[u8]) -> Vec<(u64, &[u8])> {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0;
        for i in 0.. {
            let (x, rest) = b.split_first().expect("well-formed");
            *b = rest;
            v |= u64::from(x & 0x7f) << (7 * i);
            if x & 0x80 == 0 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        match key & 7 {
            0 => {
                varint(&mut b);
            }
            2 => {
                let len = varint(&mut b) as usize;
                out.push((key >> 3, &b[..len]));
                b = &b[len..];
            }
            w => panic!("wire type {w}"),
        }
    }
    out
}

/// Every secret of a serialized SessionRecord (docs/PROTOCOL.md §8.3–§8.7).
fn session_secrets(record: &[u8], out: &mut Vec<Vec<u8>>) {
    for (_, state) in len_fields(&record[1..]) {
        for (n, v) in len_fields(state) {
            match n {
                6 | 8 | 9 => out.push(v.to_vec()),
                11 => {
                    for (n, v) in len_fields(v) {
                        match n {
                            2 => out.push(v.to_vec()),
                            4 => out.push(
                                len_fields(v)
                                    .into_iter()
                                    .find(|f| f.0 == 2)
                                    .unwrap()
                                    .1
                                    .to_vec(),
                            ),
                            _ => {}
                        }
                    }
                }
                15 if v[0] == 3 => spqr_v3_secrets(v, out),
                15 => {
                    let at = if v[0] == 2 {
                        out.push(v[2..34].to_vec());
                        32
                    } else {
                        0
                    };
                    out.push(v[at + 2..at + 34].to_vec());
                    out.push(v[at + 38..at + 70].to_vec());
                    out.push(v[at + 74..at + 106].to_vec());
                    for e in v[at + 108..].chunks(36) {
                        out.push(e[4..].to_vec());
                    }
                }
                _ => {}
            }
        }
    }
}

/// Every secret of an SPQR state in format 3 (docs/PROTOCOL.md §8.7): the auth key, the
/// next root, the braid's authenticator, its decapsulation key or encapsulation
/// randomness, every chain key and every stored key.
fn spqr_v3_secrets(v: &[u8], out: &mut Vec<Vec<u8>>) {
    let mut p = 2;
    let take = |p: &mut usize, n: usize| {
        let s = v[*p..*p + n].to_vec();
        *p += n;
        s
    };
    out.push(take(&mut p, 32)); // auth key
    out.push(take(&mut p, 32)); // next root
    let epoch = u64::from_be_bytes(take(&mut p, 8).try_into().unwrap());
    out.push(take(&mut p, 32)); // authenticator root
    out.push(take(&mut p, 32)); // authenticator MAC key
    let state = take(&mut p, 1)[0];
    // The data's fixed part, and whether a decoder (count u8 ‖ count × 34) follows it.
    let (fixed, decoder) = match state {
        1 => (0, false),
        2 => (2_402, false),
        3 => (2_402, true),
        4 => (3_362, false),
        5 => (3_360, true),
        6 => (0, true),
        7 => (64, false),
        8 => (1_058, true),
        9 => (2_210, false),
        10 => (1_056, true),
        11 => (162, false),
        _ => panic!("braid state {state}"),
    };
    let data = &v[p..p + fixed];
    match state {
        2..=5 => out.push(data[..2_400].to_vec()), // dk
        8..=10 => out.push(data[64..96].to_vec()), // m
        _ => {}
    }
    p += fixed;
    if decoder {
        let count = usize::from(v[p]);
        p += 1 + 34 * count;
    }
    let chains = 2 + usize::from(epoch >= 2);
    for _ in 0..chains {
        p += 4;
        out.push(take(&mut p, 32));
    }
    if (8..=11).contains(&state) {
        out.push(take(&mut p, 32));
        out.push(take(&mut p, 32));
    }
    for _ in 0..1 + usize::from(epoch >= 2) {
        let count = usize::from(u16::from_be_bytes(take(&mut p, 2).try_into().unwrap()));
        for _ in 0..count {
            p += 4;
            out.push(take(&mut p, 32));
        }
    }
    assert_eq!(p, v.len(), "SPQR state parsed to its end");
}

/// Every secret of a serialized SenderKeyRecord (§11.6): chain keys, private signing
/// keys, skipped seeds.
fn sender_key_secrets(record: &[u8], out: &mut Vec<Vec<u8>>) {
    for (_, state) in len_fields(&record[1..]) {
        for (n, v) in len_fields(state) {
            match n {
                3 | 5 => out.push(v.to_vec()),
                6 => out.push(
                    len_fields(v)
                        .into_iter()
                        .find(|f| f.0 == 2)
                        .unwrap()
                        .1
                        .to_vec(),
                ),
                _ => {}
            }
        }
    }
}

/// Every secret a store holds now: identity, prekeys, sessions, sender keys.
fn secrets_of(
    store: &SqliteStore,
    peer: &ProtocolAddress,
    me: &ProtocolAddress,
    out: &mut Vec<Vec<u8>>,
) {
    out.push(
        store
            .identity_key_pair()
            .unwrap()
            .private_key()
            .to_bytes()
            .to_vec(),
    );
    for id in store.pre_key_ids().unwrap() {
        let r = store.pre_key(id).unwrap().unwrap();
        out.push(r.key_pair().private_key().to_bytes().to_vec());
    }
    for id in store.signed_pre_key_ids().unwrap() {
        let r = store.signed_pre_key(id).unwrap().unwrap();
        out.push(r.key_pair().private_key().to_bytes().to_vec());
    }
    for id in store.kyber_pre_key_ids().unwrap() {
        let r = store.kyber_pre_key(id).unwrap().unwrap();
        let sk = r.secret_key().serialize();
        let raw = &sk[1..];
        out.extend(raw[..1536].chunks(32).map(<[u8]>::to_vec));
        out.push(raw[raw.len() - 32..].to_vec());
    }
    if let Some(r) = store.load_session_record(peer).unwrap() {
        session_secrets(&r.serialize(), out);
    }
    for sender in [peer, me] {
        if let Some(r) = store.sender_key(sender, group_id()).unwrap() {
            sender_key_secrets(&r.serialize(), out);
        }
    }
}

/// How many of the needles' 16-byte prefixes occur in the bytes.
fn hits(bytes: &[u8], needles: &HashSet<[u8; 16]>) -> usize {
    bytes
        .windows(16)
        .filter(|w| needles.contains(<&[u8; 16]>::try_from(*w).unwrap()))
        .count()
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        out.push((
            e.file_name().to_string_lossy().into_owned(),
            std::fs::read(e.path()).unwrap(),
        ));
    }
    out
}

#[test]
fn the_files_hold_no_secret_and_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("alice.db"), dir.path().join("bob.db"));
    let mut rng = rng(31);
    let mut storage = [0u8; 32];
    rng.fill_bytes(&mut storage);
    let key = || StorageKey::new(4, &storage);
    let mut alice = Device::new(
        alice_at(),
        SqliteStore::create(&pa, key(), IdentityKeyPair::generate(&mut rng), 11).unwrap(),
    );
    let mut bob = Device::new(
        bob_at(),
        SqliteStore::create(&pb, key(), IdentityKeyPair::generate(&mut rng), 22).unwrap(),
    );
    let mut secrets: Vec<Vec<u8>> = vec![storage.to_vec()];
    let mut steps = 0;
    scripted_conversation(&mut alice, &mut bob, &mut rng, &mut |a, b| {
        secrets_of(a.store(), &bob_at(), &alice_at(), &mut secrets);
        secrets_of(b.store(), &alice_at(), &bob_at(), &mut secrets);
        steps += 1;
    });
    let plaintexts: Vec<Vec<u8>> = (1..200).map(|i| text(i)[..16].to_vec()).collect();
    let mut needles: HashSet<[u8; 16]> = HashSet::new();
    for s in secrets.iter().chain(&plaintexts) {
        assert!(s.len() >= 16, "a needle shorter than 16 bytes");
        needles.insert(s[..16].try_into().unwrap());
    }
    assert!(secrets.len() > 1000, "{} secrets", secrets.len());
    // The scanner finds secrets where they are in the clear (the records serialized).
    let mut clear = Vec::new();
    for s in [alice.store(), bob.store()] {
        for (_, v) in s.snapshot().unwrap() {
            clear.extend_from_slice(&v);
        }
    }
    assert!(
        hits(&clear, &needles) > 50,
        "the scanner finds nothing in clear records"
    );
    // The files, while open (WAL not checkpointed) and after closing.
    let mut scanned = 0;
    for stage in ["open", "closed"] {
        for (name, bytes) in files(dir.path()) {
            scanned += bytes.len();
            assert_eq!(
                hits(&bytes, &needles),
                0,
                "{stage}: {name} holds a secret or plaintext"
            );
        }
        alice.store_mut().reopen().unwrap();
        bob.store_mut().reopen().unwrap();
    }
    println!(
        "at rest: {} secrets and {} plaintexts from {steps} steps, {scanned} bytes of database \
         and WAL scanned: 0 found",
        secrets.len(),
        plaintexts.len()
    );
}

// ---- tampering ------------------------------------------------------------------------

fn carol_at() -> ProtocolAddress {
    ProtocolAddress::new("carol", 3)
}

/// Every row of every table, for "nothing changed".
fn dump(path: &Path) -> Vec<(String, Vec<Vec<Value>>)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let tables: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let mut s = c
                .prepare(&format!("SELECT * FROM {t} ORDER BY 1, 2"))
                .unwrap();
            let n = s.column_count();
            let rows = s
                .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (t, rows)
        })
        .collect()
}

fn blob(path: &Path, sql: &str, p: impl rusqlite::Params) -> Vec<u8> {
    let c = rusqlite::Connection::open(path).unwrap();
    c.query_row(sql, p, |r| r.get(0)).unwrap()
}

fn set(path: &Path, sql: &str, p: impl rusqlite::Params) {
    let c = rusqlite::Connection::open(path).unwrap();
    assert_eq!(c.execute(sql, p).unwrap(), 1);
}

/// Bob after the conversation, with Carol's identity and a (copied) session too.
fn lived_bob(dir: &Path) -> (std::path::PathBuf, Alice) {
    let pb = dir.join("bob.db");
    let mut rng = rng(41);
    let mut alice = mem_device(alice_at(), 11, &mut rng);
    let mut bob = sqlite_device(&pb, bob_at(), 22, &mut rng);
    scripted_conversation(&mut alice, &mut bob, &mut rng, &mut |_, _| {});
    let other = IdentityKeyPair::generate(&mut rng);
    bob.store_mut()
        .save_identity(&carol_at(), other.identity_key())
        .unwrap();
    // Late messages: stored keys left behind.
    let m: Vec<_> = (0..3)
        .map(|i| send(&mut alice, &bob_at(), &text(900 + i), &mut rng))
        .collect();
    recv(&mut bob, &alice_at(), &m[2], &mut rng);
    let rec = bob
        .store()
        .load_session_record(&alice_at())
        .unwrap()
        .unwrap();
    assert!(rec.stored_key_count() >= 2);
    bob.store_mut().store_session(&carol_at(), &rec).unwrap();
    (pb, alice)
}

type Alice = Device<missive::store::memory::InMemSignalProtocolStore>;

/// With the database changed, the store opens, `verify` fails with a clear error, `op`
/// (an operation that reads the record) fails, and no row changes.
fn refused(
    path: &Path,
    expect: &str,
    what: &str,
    op: &mut dyn FnMut(&mut Device<SqliteStore>) -> bool,
) {
    let before = dump(path);
    let mut bob = reopen(path, bob_at());
    let e = bob.store().verify().expect_err(what);
    assert!(e.to_string().contains(expect), "{what}: {e}");
    assert!(op(&mut bob), "{what}: the operation did not fail");
    drop(bob);
    assert!(
        dump(path) == before,
        "{what}: a refused record changed rows"
    );
}

/// Decrypting a new message from Alice fails with a store error.
fn decrypt_fails(alice: &mut Alice) -> impl FnMut(&mut Device<SqliteStore>) -> bool + '_ {
    move |bob| {
        let mut rng = rng(1);
        let m = send(alice, &bob_at(), b"after tampering", &mut rng);
        matches!(
            bob.decrypt(&alice_at(), m.message_type(), m.serialize(), &mut rng),
            Err(Error::Store(_))
        )
    }
}

#[test]
fn damaged_moved_and_foreign_records_fail_to_open_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (pb, mut alice) = lived_bob(dir.path());
    let pristine = dir.path().join("pristine.db");
    std::fs::copy(&pb, &pristine).unwrap();
    let restore = || {
        let _ = std::fs::remove_file(dir.path().join("bob.db-wal"));
        std::fs::copy(&pristine, &pb).unwrap();
    };
    let alice_addr = RecordName::address(&alice_at());
    let carol_addr = RecordName::address(&carol_at());
    let unauthentic = "fails authentication";
    let mut cases = 0;

    // Moved between addresses: Alice's identity and session head are Carol's (Carol's
    // session is a copy of Alice's: only the binding to the address tells them apart).
    for table in ["identities", "session_heads"] {
        restore();
        let c = blob(
            &pb,
            &format!("SELECT envelope FROM {table} WHERE address = ?1"),
            [carol_addr.as_bytes()],
        );
        set(
            &pb,
            &format!("UPDATE {table} SET envelope = ?1 WHERE address = ?2"),
            rusqlite::params![c, alice_addr.as_bytes()],
        );
        refused(
            &pb,
            unauthentic,
            &format!("{table} moved to another address"),
            &mut decrypt_fails(&mut alice),
        );
        cases += 1;
    }
    // Moved between kinds: Kyber prekey 2 as signed prekey 2.
    restore();
    let k = blob(&pb, "SELECT envelope FROM kyber_pre_keys WHERE id = 2", []);
    set(
        &pb,
        "UPDATE signed_pre_keys SET envelope = ?1 WHERE id = 2",
        [k],
    );
    refused(
        &pb,
        unauthentic,
        "a Kyber prekey as a signed prekey",
        &mut |bob| bob.store().signed_pre_key(SignedPreKeyId(2)).is_err(),
    );
    cases += 1;
    // Damaged: truncated, every header byte, the tag, and a sample of the ciphertext.
    let head = blob(
        &pb,
        "SELECT envelope FROM session_heads WHERE address = ?1",
        [alice_addr.as_bytes()],
    );
    let mut variants: Vec<(String, Vec<u8>)> = Vec::new();
    for n in [0, 1, 16, 17, 32, head.len() - 1] {
        variants.push((format!("truncated to {n}"), head[..n].to_vec()));
    }
    let stride = (head.len() / 40).max(1);
    let positions: Vec<usize> = (0..17)
        .chain((17..head.len() - 16).step_by(stride))
        .chain(head.len() - 16..head.len())
        .collect();
    for i in positions {
        let mut h = head.clone();
        h[i] ^= 1 << (i % 8);
        variants.push((format!("bit {} flipped", i * 8 + i % 8), h));
    }
    for (what, h) in &variants {
        restore();
        set(
            &pb,
            "UPDATE session_heads SET envelope = ?1 WHERE address = ?2",
            rusqlite::params![h, alice_addr.as_bytes()],
        );
        refused(
            &pb,
            "SessionHead record",
            &format!("a session head {what}"),
            &mut decrypt_fails(&mut alice),
        );
        cases += 1;
    }
    // Under another key: the same record sealed under key 2, and under another key
    // with id 1.
    let plain = at_rest::open(&storage_key(), RecordKind::SessionHead, &alice_addr, &head).unwrap();
    let mut r = rng(3);
    for (key, expect) in [
        (StorageKey::new(2, &STORAGE_KEY), "under storage key 2"),
        (StorageKey::new(KEY_ID, &[0x11; 32]), unauthentic),
    ] {
        restore();
        let env = at_rest::seal(&key, RecordKind::SessionHead, &alice_addr, &plain, &mut r);
        set(
            &pb,
            "UPDATE session_heads SET envelope = ?1 WHERE address = ?2",
            rusqlite::params![env, alice_addr.as_bytes()],
        );
        refused(
            &pb,
            expect,
            &format!("a session head under key {}", key.id()),
            &mut decrypt_fails(&mut alice),
        );
        cases += 1;
    }
    // A stored key moved to another message number.
    restore();
    let (chain, n): (Vec<u8>, i64) = rusqlite::Connection::open(&pb)
        .unwrap()
        .query_row(
            "SELECT chain, n FROM session_keys WHERE address = ?1 LIMIT 1",
            [alice_addr.as_bytes()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    set(
        &pb,
        "UPDATE session_keys SET n = n - 1 WHERE address = ?1 AND chain = ?2 AND n = ?3",
        rusqlite::params![alice_addr.as_bytes(), chain, n],
    );
    refused(
        &pb,
        "SessionStoredKey record",
        "a stored key under another counter",
        &mut decrypt_fails(&mut alice),
    );
    cases += 1;
    // The untouched database still works.
    restore();
    let mut bob = reopen(&pb, bob_at());
    bob.store().verify().unwrap();
    let mut rng = rng(5);
    let m = send(&mut alice, &bob_at(), b"still fine", &mut rng);
    assert_eq!(
        recv(&mut bob, &alice_at(), &m, &mut rng).plaintext,
        b"still fine"
    );
    println!("at rest: {cases} tampered databases refused, none changed");
    assert!(cases > 40);
}

// ---- rotation -------------------------------------------------------------------------

#[test]
fn a_rotation_interrupted_at_every_step_completes_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (pb, mut alice) = lived_bob(dir.path());
    let pristine = dir.path().join("pristine.db");
    let expected = {
        let b = reopen(&pb, bob_at());
        b.store().snapshot().unwrap()
    };
    std::fs::copy(&pb, &pristine).unwrap();
    let _ = std::fs::remove_file(dir.path().join("bob.db-wal"));
    let new = || StorageKey::new(2, &[0x77; 32]);
    let mut steps = 0;
    for n in 0.. {
        let _ = std::fs::remove_file(dir.path().join("bob.db-wal"));
        std::fs::copy(&pristine, &pb).unwrap();
        let r = Options::new()
            .previous_key(storage_key())
            .rotation_batch(7)
            .rotation_stop_after(n)
            .open(&pb, new());
        let finished = r.is_ok();
        drop(r);
        if !finished {
            if n == 0 {
                // Stopped before its first transaction: nothing began.
                drop(SqliteStore::open(&pb, storage_key()).unwrap());
            } else {
                // Neither key alone opens a database half-way through a rotation.
                for key in [storage_key(), new()] {
                    assert!(matches!(
                        SqliteStore::open(&pb, key),
                        Err(missive_sqlite::Error::RotationPending { from: 1, to: 2 })
                    ));
                }
            }
            // Both keys complete it.
            drop(
                Options::new()
                    .previous_key(storage_key())
                    .open(&pb, new())
                    .unwrap(),
            );
        }
        let b = SqliteStore::open(&pb, new()).unwrap();
        b.verify().unwrap();
        assert!(
            b.snapshot().unwrap() == expected,
            "rotation stopped after {n}: records differ"
        );
        drop(b);
        let c = rusqlite::Connection::open(&pb).unwrap();
        for t in [
            "identities",
            "session_heads",
            "session_keys",
            "session_archives",
            "sender_keys",
            "pre_keys",
            "signed_pre_keys",
            "kyber_pre_keys",
            "local_identity",
        ] {
            let old: i64 = c
                .query_row(
                    &format!("SELECT count(*) FROM {t} WHERE key_id != 2"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(
                old, 0,
                "{t} has rows under the old key after rotation stopped at {n}"
            );
        }
        drop(c);
        assert!(matches!(
            SqliteStore::open(&pb, storage_key()),
            Err(missive_sqlite::Error::WrongKey {
                database: 2,
                given: 1
            })
        ));
        steps += 1;
        if finished {
            break;
        }
    }
    assert!(steps > 5, "{steps} steps");
    // The rotated store goes on with the conversation, and rotates again while open.
    let mut bob = Device::new(bob_at(), SqliteStore::open(&pb, new()).unwrap());
    let mut rng = rng(9);
    let m = send(&mut alice, &bob_at(), b"after rotation", &mut rng);
    assert_eq!(
        recv(&mut bob, &alice_at(), &m, &mut rng).plaintext,
        b"after rotation"
    );
    bob.store_mut()
        .rotate_key(StorageKey::new(3, &[0x78; 32]))
        .unwrap();
    drop(bob);
    let b = SqliteStore::open(&pb, StorageKey::new(3, &[0x78; 32])).unwrap();
    b.verify().unwrap();
    println!("at rest: a rotation interrupted at each of its {steps} steps completed on restart");
}

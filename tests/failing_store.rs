//! Faults are input too: a store that fails at any read, or at any write of an
//! operation's commit, leaves every record byte-identical, and the same call then
//! succeeds. For every operation: bundle processing, encrypt, decrypt of a prekey message
//! (new session, and one routed to an existing session), decrypt on the same chain, with
//! a DH step, of a late message and on an archived session, session reset, and the group
//! operations.
//!
//! `Faulty` wraps the in-memory store. A read fails at the k-th read call. A commit is a
//! transaction over the change set's parts; the wrapper fails it at its k-th part, before
//! the transaction is applied, as a database whose k-th statement fails rolls back. What
//! this proves about missive: no operation writes through any path but its one commit,
//! none keeps state outside the store between a failure and its retry, and a retry after
//! any failure succeeds. (Before this design, a failed session write after the prekey was
//! deleted lost the conversation.) The in-memory store's own all-or-nothing commit is
//! tested at the end with a change set that no longer fits.

use std::borrow::Cow;
use std::cell::Cell;

use missive::crypto::PublicKey;
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::store::{ChangeSet, Direction, ProtocolStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);
const ALICE: &str = "9d0652a3-dcc3-4d11-975f-74d61598733f";
const BOB: &str = "5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f";

/// The in-memory store with injectable faults.
#[derive(Clone)]
struct Faulty {
    inner: InMemSignalProtocolStore,
    reads: Cell<usize>,
    fail_read_at: Option<usize>,
    fail_write_at: Option<usize>,
    /// Parts of the last failed or successful commit.
    last_commit_parts: usize,
}

impl Faulty {
    fn new(inner: InMemSignalProtocolStore) -> Self {
        Faulty {
            inner,
            reads: Cell::new(0),
            fail_read_at: None,
            fail_write_at: None,
            last_commit_parts: 0,
        }
    }

    fn arm(&mut self, read: Option<usize>, write: Option<usize>) {
        self.reads.set(0);
        self.fail_read_at = read;
        self.fail_write_at = write;
    }

    fn read(&self) -> Result<(), StoreError> {
        let n = self.reads.get() + 1;
        self.reads.set(n);
        match self.fail_read_at {
            Some(k) if k == n => Err(StoreError::read().with_code(5)),
            _ => Ok(()),
        }
    }
}

impl ProtocolStore for Faulty {
    fn identity_key_pair(&self) -> Result<&IdentityKeyPair, StoreError> {
        self.read()?;
        self.inner.identity_key_pair()
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        self.read()?;
        self.inner.local_registration_id()
    }
    fn identity(&self, a: &ProtocolAddress) -> Result<Option<IdentityKey>, StoreError> {
        self.read()?;
        self.inner.identity(a)
    }
    fn is_trusted_identity(
        &self,
        a: &ProtocolAddress,
        k: &IdentityKey,
        d: Direction,
    ) -> Result<bool, StoreError> {
        self.read()?;
        self.inner.is_trusted_identity(a, k, d)
    }
    fn session(&self, a: &ProtocolAddress) -> Result<Option<Cow<'_, SessionRecord>>, StoreError> {
        self.read()?;
        self.inner.session(a)
    }
    fn pre_key(&self, id: PreKeyId) -> Result<Option<Cow<'_, PreKeyRecord>>, StoreError> {
        self.read()?;
        self.inner.pre_key(id)
    }
    fn signed_pre_key(
        &self,
        id: SignedPreKeyId,
    ) -> Result<Option<Cow<'_, SignedPreKeyRecord>>, StoreError> {
        self.read()?;
        self.inner.signed_pre_key(id)
    }
    fn kyber_pre_key(
        &self,
        id: KyberPreKeyId,
    ) -> Result<Option<Cow<'_, KyberPreKeyRecord>>, StoreError> {
        self.read()?;
        self.inner.kyber_pre_key(id)
    }
    fn kyber_pre_key_used(
        &self,
        id: KyberPreKeyId,
        s: SignedPreKeyId,
        b: &PublicKey,
    ) -> Result<bool, StoreError> {
        self.read()?;
        self.inner.kyber_pre_key_used(id, s, b)
    }
    fn sender_key(
        &self,
        a: &ProtocolAddress,
        d: DistributionId,
    ) -> Result<Option<Cow<'_, SenderKeyRecord>>, StoreError> {
        self.read()?;
        self.inner.sender_key(a, d)
    }
    fn commit(&mut self, changes: ChangeSet) -> Result<(), StoreError> {
        self.last_commit_parts = changes.write_count();
        if let Some(k) = self.fail_write_at
            && k <= changes.write_count()
        {
            // The transaction's k-th statement fails: it rolls back, nothing is written.
            return Err(StoreError::write().with_code(13));
        }
        self.inner.commit(changes)
    }
}

type Dev = Device<Faulty>;

fn device(name: &str, reg: u32, rng: &mut ChaCha20Rng) -> Dev {
    let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), reg);
    Device::new(ProtocolAddress::new(name, 1), Faulty::new(store))
}

fn bundle(d: &mut Dev, id: u32, rng: &mut ChaCha20Rng) -> PreKeyBundle {
    let spec = BundleSpec::new(id).with_one_time_pre_key();
    d.store_mut().inner.generate_bundle(&spec, 1, NOW, rng)
}

fn snapshot(d: &Dev) -> Vec<(&'static str, Vec<u8>)> {
    d.store().inner.snapshot()
}

/// Runs `op` on `dev` with every read failing in turn and then with the commit failing
/// at each of its parts: each failure must be a store error carrying the app's code and
/// leave `dev`'s records as they were. Then runs it once more with no fault and returns
/// its result, which must be a success, with the number of reads and commit parts.
fn under_every_fault<T: std::fmt::Debug>(
    what: &str,
    dev: &mut Dev,
    mut op: impl FnMut(&mut Dev) -> Result<T, Error>,
) -> (T, usize, usize) {
    let before = snapshot(dev);
    // A dry run whose commit fails counts the reads and the commit's parts.
    dev.store_mut().arm(None, Some(1));
    match op(dev) {
        Err(Error::Store(e)) if e.kind() == StoreErrorKind::Write => {}
        other => panic!("{what}: a failing commit gave {other:?}"),
    }
    assert_eq!(
        snapshot(dev),
        before,
        "{what}: a failed commit changed records"
    );
    let (reads, parts) = (dev.store().reads.get(), dev.store().last_commit_parts);
    assert!(parts >= 1, "{what}: every operation here writes");
    for k in 1..=reads {
        dev.store_mut().arm(Some(k), None);
        match op(dev) {
            Err(Error::Store(e)) => {
                assert_eq!(e.kind(), StoreErrorKind::Read, "{what}: read {k}");
                assert_eq!(e.code(), Some(5), "{what}: the app's code is kept");
            }
            other => panic!("{what}: read {k} of {reads} failing gave {other:?}"),
        }
        assert_eq!(
            snapshot(dev),
            before,
            "{what}: read {k} failed, records changed"
        );
    }
    for k in 1..=parts {
        dev.store_mut().arm(None, Some(k));
        match op(dev) {
            Err(Error::Store(e)) => {
                assert_eq!(e.kind(), StoreErrorKind::Write, "{what}: write {k}");
                assert_eq!(e.code(), Some(13));
            }
            other => panic!("{what}: write {k} failing gave {other:?}"),
        }
        assert_eq!(
            snapshot(dev),
            before,
            "{what}: write {k} failed, records changed"
        );
    }
    dev.store_mut().arm(None, None);
    let out = op(dev).unwrap_or_else(|e| panic!("{what}: the retry failed: {e:?}"));
    assert_eq!(
        dev.store().reads.get(),
        reads,
        "{what}: the retry read as much"
    );
    assert_ne!(snapshot(dev), before, "{what}: the retry changed nothing");
    (out, reads, parts)
}

fn decrypt_bytes(
    what: &str,
    dev: &mut Dev,
    from: &ProtocolAddress,
    msg: &CiphertextMessage,
    rng: &mut ChaCha20Rng,
) -> (Decrypted, usize, usize) {
    let (kind, bytes) = (msg.message_type(), msg.serialize().to_vec());
    under_every_fault(what, dev, |d| d.decrypt(from, kind, &bytes, rng))
}

#[test]
fn every_one_to_one_operation_survives_every_fault() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut alice = device(ALICE, 11, &mut rng);
    let mut bob = device(BOB, 22, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());

    let bob_bundle = bundle(&mut bob, 1, &mut rng);
    let (change, reads, parts) = under_every_fault("process bundle", &mut alice, |d| {
        d.process_prekey_bundle(&b, &bob_bundle, NOW, &mut rng)
    });
    assert_eq!(change, IdentityChange::New);
    assert!(reads >= 4, "trust, identity, our identity, registration id");
    assert_eq!(parts, 2, "session and identity");

    let (first, _, parts) = under_every_fault("encrypt (prekey message)", &mut alice, |d| {
        d.encrypt(&b, b"first", NOW, &mut rng)
    });
    assert_eq!(parts, 1);
    let (second, _, _) = under_every_fault("encrypt again", &mut alice, |d| {
        d.encrypt(&b, b"second", NOW, &mut rng)
    });
    assert_eq!(first.message_type(), CiphertextMessageType::PreKey);

    // Bob: a prekey message builds a session, deletes the one-time prekey, records the
    // Kyber prekey's use and saves the identity, in one commit.
    let prekeys_before = bob.store().inner.pre_key_store.len();
    let (got, _, parts) = decrypt_bytes(
        "prekey message, new session",
        &mut bob,
        &a,
        &first,
        &mut rng,
    );
    assert_eq!(got.plaintext, b"first");
    assert!(got.new_session);
    assert_eq!(got.identity_change, IdentityChange::New);
    assert_eq!(parts, 4, "session, identity, one-time prekey, Kyber prekey");
    assert_eq!(bob.store().inner.pre_key_store.len(), prekeys_before - 1);
    // The second prekey message goes to the session with its base key.
    let (got, _, parts) = decrypt_bytes(
        "prekey message, existing session",
        &mut bob,
        &a,
        &second,
        &mut rng,
    );
    assert_eq!(got.plaintext, b"second");
    assert!(!got.new_session);
    assert_eq!(parts, 1);

    // Bob answers; Alice's first receive is a DH step.
    let r1 = bob.encrypt(&a, b"r1", NOW, &mut rng).unwrap();
    let r2 = bob.encrypt(&a, b"r2", NOW, &mut rng).unwrap();
    let r3 = bob.encrypt(&a, b"r3", NOW, &mut rng).unwrap();
    let (got, _, _) = decrypt_bytes("DH step", &mut alice, &b, &r1, &mut rng);
    assert_eq!(got.plaintext, b"r1");
    let (got, _, _) = decrypt_bytes("skip ahead", &mut alice, &b, &r3, &mut rng);
    assert_eq!(got.plaintext, b"r3");
    let (got, _, _) = decrypt_bytes("late message", &mut alice, &b, &r2, &mut rng);
    assert_eq!(got.plaintext, b"r2");
    let r4 = bob.encrypt(&a, b"r4", NOW, &mut rng).unwrap();
    let (got, _, _) = decrypt_bytes("same chain", &mut alice, &b, &r4, &mut rng);
    assert_eq!(got.plaintext, b"r4");

    // An archived session: Bob resets and starts again from a fresh bundle of Alice's;
    // a late message on the old session then decrypts on the archived one.
    let late = alice
        .encrypt(&b, b"late on the old session", NOW, &mut rng)
        .unwrap();
    under_every_fault("archive session", &mut bob, |d| d.archive_session(&a));
    let alice_bundle = bundle(&mut alice, 7, &mut rng);
    bob.process_prekey_bundle(&a, &alice_bundle, NOW, &mut rng)
        .unwrap();
    let (got, _, _) = decrypt_bytes("archived session", &mut bob, &a, &late, &mut rng);
    assert_eq!(got.plaintext, b"late on the old session");
}

#[test]
fn every_group_operation_survives_every_fault() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut alice = device(ALICE, 11, &mut rng);
    let mut bob = device(BOB, 22, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let bob_bundle = bundle(&mut bob, 1, &mut rng);
    alice
        .process_prekey_bundle(&b, &bob_bundle, NOW, &mut rng)
        .unwrap();
    let group = DistributionId::from_bytes([9; 16]);

    let (skdm, _, parts) = under_every_fault("create distribution", &mut alice, |d| {
        d.sender_key_distribution_message(group, &mut rng)
    });
    assert_eq!(parts, 1);
    let sent = alice.encrypt(&b, skdm.serialized(), NOW, &mut rng).unwrap();
    let got = bob
        .decrypt(&a, sent.message_type(), sent.serialize(), &mut rng)
        .unwrap();
    let skdm = SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap();
    under_every_fault("process distribution", &mut bob, |d| {
        d.process_sender_key_distribution_message(&got.sender, &skdm)
    });
    let m1 = under_every_fault("group encrypt", &mut alice, |d| {
        d.group_encrypt(group, b"g1", &mut rng)
    })
    .0;
    let m2 = alice.group_encrypt(group, b"g2", &mut rng).unwrap();
    let m3 = alice.group_encrypt(group, b"g3", &mut rng).unwrap();
    let (pt, _, _) = under_every_fault("group decrypt, skip ahead", &mut bob, |d| {
        d.group_decrypt(&a, &m3)
    });
    assert_eq!(pt, b"g3");
    let (pt, _, _) = under_every_fault("group decrypt, late", &mut bob, |d| {
        d.group_decrypt(&a, &m1)
    });
    assert_eq!(pt, b"g1");
    // A batch first reads every record to verify all signatures at once; a failure there
    // only costs the batch its shortcut (the message is verified on its own), so the
    // batch still decrypts. A failure of the message's own read is a store error.
    let before = snapshot(&bob);
    bob.store_mut().arm(Some(2), None);
    let r = bob.group_decrypt_batch(&[(&a, &m2)]).pop().unwrap();
    assert_eq!(
        r.unwrap_err().to_string(),
        "store error: store read failed (code 5)"
    );
    assert_eq!(snapshot(&bob), before);
    bob.store_mut().arm(None, Some(1));
    assert!(matches!(
        bob.group_decrypt_batch(&[(&a, &m2)]).pop().unwrap(),
        Err(Error::Store(_))
    ));
    assert_eq!(snapshot(&bob), before);
    bob.store_mut().arm(Some(1), None);
    let r = bob.group_decrypt_batch(&[(&a, &m2)]).pop().unwrap();
    assert_eq!(r.unwrap(), b"g2");
    under_every_fault("rotate", &mut alice, |d| {
        d.rotate_sender_key(group, &mut rng)
    });
}

/// Sealed sender: sealing a 1:1 or group message and opening one (a prekey message that
/// builds a session, a whisper message, a group copy) commit once, survive every fault,
/// and the retry opens the same envelope.
#[test]
fn every_sealed_operation_survives_every_fault() {
    use missive::crypto::PrivateKey;
    use missive::sealed::*;
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let root = PrivateKey::generate(&mut rng);
    let server = PrivateKey::generate(&mut rng);
    let sc = ServerCertificate::new(1, server.public_key(), &root, &mut rng);
    let roots = [root.public_key()];
    let trust = TrustPolicy::new(&roots, &[]);
    let mut alice = device(ALICE, 11, &mut rng);
    let mut bob = device(BOB, 22, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let certify = |d: &Dev, rng: &mut ChaCha20Rng| {
        let key = *d.store().inner.identity_key_pair().unwrap().identity_key();
        let (name, expires) = (d.address().name().to_owned(), NOW.as_millis() + 1000);
        SenderCertificate::new(
            &name,
            None,
            1,
            key,
            expires,
            Signer::Certificate(sc.clone()),
            &server,
            rng,
        )
        .unwrap()
    };
    let (alice_cert, bob_cert) = (certify(&alice, &mut rng), certify(&bob, &mut rng));
    let bob_bundle = bundle(&mut bob, 1, &mut rng);
    alice
        .process_prekey_bundle(&b, &bob_bundle, NOW, &mut rng)
        .unwrap();

    let (env, _, parts) = under_every_fault("sealed encrypt", &mut alice, |d| {
        d.sealed_encrypt(
            &b,
            b"sealed",
            &alice_cert,
            ContentHint::DEFAULT,
            None,
            NOW,
            &mut rng,
        )
    });
    assert_eq!(parts, 1);
    let (got, _, parts) = under_every_fault("sealed decrypt, new session", &mut bob, |d| {
        d.sealed_decrypt(&env, &trust, NOW, &mut rng)
    });
    assert_eq!(got.message.plaintext(), b"sealed");
    assert_eq!(parts, 4, "session, identity, one-time prekey, Kyber prekey");
    let env = bob
        .sealed_encrypt(
            &a,
            b"reply",
            &bob_cert,
            ContentHint::DEFAULT,
            None,
            NOW,
            &mut rng,
        )
        .unwrap();
    let (got, _, _) = under_every_fault("sealed decrypt, whisper", &mut alice, |d| {
        d.sealed_decrypt(&env, &trust, NOW, &mut rng)
    });
    assert_eq!(got.message.plaintext(), b"reply");

    let group = DistributionId::from_bytes([9; 16]);
    let skdm = alice
        .sender_key_distribution_message(group, &mut rng)
        .unwrap();
    let sent = alice.encrypt(&b, skdm.serialized(), NOW, &mut rng).unwrap();
    let got = bob
        .decrypt(&a, sent.message_type(), sent.serialize(), &mut rng)
        .unwrap();
    let skdm = SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap();
    bob.process_sender_key_distribution_message(&got.sender, &skdm)
        .unwrap();
    let to = [b.clone()];
    let (upload, _, parts) = under_every_fault("sealed group encrypt", &mut alice, |d| {
        d.sealed_group_encrypt(
            group,
            b"g",
            &alice_cert,
            ContentHint::DEFAULT,
            None,
            &to,
            &[],
            &mut rng,
        )
    });
    assert_eq!(parts, 1);
    let copy = SentMessage::parse(&upload)
        .unwrap()
        .received_message_for(&ServiceId::parse(BOB).unwrap())
        .unwrap();
    let (got, _, parts) = under_every_fault("sealed decrypt, group copy", &mut bob, |d| {
        d.sealed_decrypt(&copy, &trust, NOW, &mut rng)
    });
    assert_eq!((got.message.plaintext(), parts), (&b"g"[..], 1));
}

/// The in-memory store's commit is all or nothing on its own: a change set that no
/// longer fits (here the one-time prekey it consumes was deleted by someone else between
/// the operation's reads and its commit) is refused as a conflict, and the session,
/// identity and Kyber parts of the same set are not applied either.
#[test]
fn in_memory_commit_is_all_or_nothing() {
    /// Deletes every one-time prekey just before committing.
    struct Racing(InMemSignalProtocolStore);
    impl ProtocolStore for Racing {
        fn identity_key_pair(&self) -> Result<&IdentityKeyPair, StoreError> {
            self.0.identity_key_pair()
        }
        fn local_registration_id(&self) -> Result<u32, StoreError> {
            self.0.local_registration_id()
        }
        fn identity(&self, a: &ProtocolAddress) -> Result<Option<IdentityKey>, StoreError> {
            self.0.identity(a)
        }
        fn is_trusted_identity(
            &self,
            a: &ProtocolAddress,
            k: &IdentityKey,
            d: Direction,
        ) -> Result<bool, StoreError> {
            self.0.is_trusted_identity(a, k, d)
        }
        fn session(
            &self,
            a: &ProtocolAddress,
        ) -> Result<Option<Cow<'_, SessionRecord>>, StoreError> {
            self.0.session(a)
        }
        fn pre_key(&self, id: PreKeyId) -> Result<Option<Cow<'_, PreKeyRecord>>, StoreError> {
            self.0.pre_key(id)
        }
        fn signed_pre_key(
            &self,
            id: SignedPreKeyId,
        ) -> Result<Option<Cow<'_, SignedPreKeyRecord>>, StoreError> {
            self.0.signed_pre_key(id)
        }
        fn kyber_pre_key(
            &self,
            id: KyberPreKeyId,
        ) -> Result<Option<Cow<'_, KyberPreKeyRecord>>, StoreError> {
            self.0.kyber_pre_key(id)
        }
        fn kyber_pre_key_used(
            &self,
            id: KyberPreKeyId,
            s: SignedPreKeyId,
            b: &PublicKey,
        ) -> Result<bool, StoreError> {
            self.0.kyber_pre_key_used(id, s, b)
        }
        fn sender_key(
            &self,
            a: &ProtocolAddress,
            d: DistributionId,
        ) -> Result<Option<Cow<'_, SenderKeyRecord>>, StoreError> {
            self.0.sender_key(a, d)
        }
        fn commit(&mut self, changes: ChangeSet) -> Result<(), StoreError> {
            if let Some(id) = changes.consumed_pre_key() {
                self.0.pre_key_store.remove_pre_key(id);
            }
            self.0.commit(changes)
        }
    }
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut alice = device(ALICE, 11, &mut rng);
    let b = ProtocolAddress::new(BOB, 1);
    let mut bob_store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 22);
    let spec = BundleSpec::new(1).with_one_time_pre_key();
    let bob_bundle = bob_store.generate_bundle(&spec, 1, NOW, &mut rng);
    let mut bob = Device::new(b.clone(), Racing(bob_store));
    alice
        .process_prekey_bundle(&b, &bob_bundle, NOW, &mut rng)
        .unwrap();
    let m = alice.encrypt(&b, b"hi", NOW, &mut rng).unwrap();
    let mut before = bob.store().0.snapshot();
    let r = bob.decrypt(alice.address(), m.message_type(), m.serialize(), &mut rng);
    assert_eq!(r.unwrap_err(), Error::Store(StoreError::conflict()));
    // Only the racing deletion happened: no session, no identity, no Kyber change.
    before.retain(|(kind, _)| *kind != "pre_key");
    assert_eq!(bob.store().0.snapshot(), before);
}

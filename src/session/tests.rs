//! The per-message work budget: what trial decryption attempts, counted.

extern crate std;

use std::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::state::{PLANNED, STAGED};
use crate::crypto::KeyPair;
use crate::store::memory::{BundleSpec, InMemSignalProtocolStore};
use crate::wire::proto::{put_bytes, put_uint};
use crate::*;

pub(super) const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);
pub(super) type Dev = Device<InMemSignalProtocolStore>;

fn device(name: &str, reg: u32, rng: &mut ChaCha20Rng) -> Dev {
    let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), reg);
    Device::new(ProtocolAddress::new(name, 1), store)
}

/// Alice processes a fresh bundle of Bob's (signed prekey `id`): a new v4 session,
/// nothing sent on it yet.
fn start(alice: &mut Dev, bob: &mut Dev, id: u32, rng: &mut ChaCha20Rng) {
    let b = bob
        .store_mut()
        .generate_bundle(&BundleSpec::new(id), 1, NOW, rng);
    alice
        .process_prekey_bundle(bob.address(), &b, NOW, rng)
        .unwrap();
}

/// Alice (initiator) and Bob with a v4 session; nothing sent yet.
pub(super) fn pair(seed: u64) -> (Dev, Dev, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 2, &mut rng);
    start(&mut alice, &mut bob, 1, &mut rng);
    (alice, bob, rng)
}

fn deliver(from: &mut Dev, to: &mut Dev, pt: &[u8], rng: &mut ChaCha20Rng) {
    let m = from.encrypt(to.address(), pt, NOW, rng).unwrap();
    to.decrypt(from.address(), m.message_type(), m.serialize(), rng)
        .unwrap();
}

/// An ordinary message (a `SignalMessage`) from `from` to `to`, not delivered.
fn ordinary(from: &mut Dev, to: &Dev, pt: &[u8], rng: &mut ChaCha20Rng) -> SignalMessage {
    match from.encrypt(to.address(), pt, NOW, rng).unwrap() {
        CiphertextMessage::Whisper(w) => w,
        _ => panic!("an ordinary message"),
    }
}

/// Alice and Bob after `sessions` sessions (Bob's record archives all but the last).
fn lived(sessions: u32, rng: &mut ChaCha20Rng) -> (Dev, Dev) {
    let mut alice = device("alice", 1, rng);
    let mut bob = device("bob", 2, rng);
    for id in 1..=sessions {
        start(&mut alice, &mut bob, id, rng);
        deliver(&mut alice, &mut bob, b"hello", rng);
        deliver(&mut bob, &mut alice, b"hi", rng);
    }
    (alice, bob)
}

/// A v4 SignalMessage with valid framing, a fresh ratchet key and a random MAC.
fn forged(counter: u32, spqr_index: u32, rng: &mut ChaCha20Rng) -> SignalMessage {
    let ratchet = KeyPair::generate(rng);
    let mut pq = std::vec![0x01, 0x01];
    crate::wire::proto::put_varint(&mut pq, u64::from(spqr_index));
    pq.push(0);
    let mut body = std::vec![0u8; 48];
    rng.fill_bytes(&mut body);
    let mut m = std::vec![0x44];
    put_bytes(&mut m, 1, &ratchet.public_key().serialize());
    put_uint(&mut m, 2, u64::from(counter));
    put_uint(&mut m, 3, 0);
    put_bytes(&mut m, 4, &body);
    put_bytes(&mut m, 5, &pq);
    m.extend_from_slice(&[0xa5; 8]);
    SignalMessage::deserialize(&m).unwrap()
}

/// How many sessions `f` planned a message on, and how many attempts it staged.
fn work(f: impl FnOnce()) -> (usize, usize) {
    PLANNED.with(|c| c.set(0));
    STAGED.with(|c| c.set(0));
    f();
    (PLANNED.with(|c| c.get()), STAGED.with(|c| c.get()))
}

/// How many attempts `f` staged.
pub(super) fn attempts(f: impl FnOnce()) -> usize {
    work(f).1
}

/// A forgery at the largest jump is tried on one session, however many the record has;
/// the record is unchanged.
#[test]
fn a_worst_case_forgery_is_tried_once() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (alice, mut bob) = lived(41, &mut rng);
    assert_eq!(
        bob.store()
            .session_store
            .session(alice.address())
            .unwrap()
            .archived_count(),
        40
    );
    let before = bob.store().snapshot();
    let m = forged(24_999, 24_999, &mut rng);
    let n = attempts(|| {
        let r = bob.decrypt_signal_message(alice.address(), &m, &mut rng);
        assert_eq!(r.unwrap_err(), ProtocolError::DecryptionFailed.into());
    });
    assert_eq!(n, 1, "one session's worth of work");
    assert_eq!(bob.store().snapshot(), before);
    // Against a single session it is tried once too: the same work.
    let (alice1, mut bob1) = lived(1, &mut rng);
    let n1 = attempts(|| {
        assert!(
            bob1.decrypt_signal_message(alice1.address(), &m, &mut rng)
                .is_err()
        );
    });
    assert_eq!(n1, 1);
}

/// A cheap forgery (a small counter) is tried on every session: the budget only cuts
/// expensive trials.
#[test]
fn cheap_forgeries_are_tried_on_every_session() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (alice, mut bob) = lived(41, &mut rng);
    let m = forged(3, 3, &mut rng);
    let n = attempts(|| {
        assert!(
            bob.decrypt_signal_message(alice.address(), &m, &mut rng)
                .is_err()
        );
    });
    assert_eq!(n, 41);
    // Forward jumps over the limit are refused from the header: nothing is tried.
    let m = forged(25_001, 3, &mut rng);
    assert_eq!(
        attempts(|| {
            assert!(
                bob.decrypt_signal_message(alice.address(), &m, &mut rng)
                    .is_err()
            );
        }),
        0
    );
    let m = forged(3, 25_100, &mut rng);
    assert_eq!(
        attempts(|| {
            assert!(
                bob.decrypt_signal_message(alice.address(), &m, &mut rng)
                    .is_err()
            );
        }),
        0
    );
}

/// A genuine late message on the oldest archived session still decrypts: the budget
/// pays for the other sessions' cheap trials first.
#[test]
fn a_late_message_on_the_oldest_session_decrypts() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 2, &mut rng);
    let mut late = Vec::new();
    for id in 1..=41 {
        start(&mut alice, &mut bob, id, &mut rng);
        deliver(&mut alice, &mut bob, b"hello", &mut rng);
        deliver(&mut bob, &mut alice, b"hi", &mut rng);
        if id == 1 {
            // On the first session: a new chain of Alice's, 100 messages lost, then one
            // kept back and delivered after 40 more sessions.
            for _ in 0..100 {
                alice
                    .encrypt(bob.address(), b"lost", NOW, &mut rng)
                    .unwrap();
            }
            late.push(
                alice
                    .encrypt(bob.address(), b"late", NOW, &mut rng)
                    .unwrap(),
            );
        }
    }
    let m = &late[0];
    let got = bob
        .decrypt(alice.address(), m.message_type(), m.serialize(), &mut rng)
        .unwrap();
    assert_eq!(got.plaintext, b"late");
}

/// A prekey message routed to an existing session by its base key obeys the identity
/// rule too.
mod prekey_identity {
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    use crate::store::memory::{BundleSpec, InMemSignalProtocolStore};
    use crate::*;

    const NOW: Timestamp = Timestamp::from_millis(1_780_000_000_000);

    fn device(name: &str, rng: &mut ChaCha20Rng) -> Device<InMemSignalProtocolStore> {
        let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), 7);
        Device::new(ProtocolAddress::new(name, 1), store)
    }

    fn receive(
        to: &mut Device<InMemSignalProtocolStore>,
        from: &ProtocolAddress,
        m: &CiphertextMessage,
        rng: &mut ChaCha20Rng,
    ) -> Result<Decrypted, Error> {
        to.decrypt(from, m.message_type(), m.serialize(), rng)
    }

    /// Alice reinstalls (a new identity at the same address). A second prekey message of
    /// her old install, delivered late, names the base key of Bob's archived session with
    /// her: it is refused, and neither the stored identity nor the record changes (it used
    /// to decrypt, report `Replaced`, write the old identity back and make the old session
    /// current again).
    #[test]
    fn late_prekey_message_from_an_old_install_cannot_roll_the_identity_back() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let mut bob = device("bob", &mut rng);
        let mut old = device("alice", &mut rng);
        let mut new = device("alice", &mut rng);
        let (a, b) = (old.address().clone(), bob.address().clone());
        let old_identity = *old.store().identity_key_pair().unwrap().identity_key();
        let new_identity = *new.store().identity_key_pair().unwrap().identity_key();

        let bundle = bob
            .store_mut()
            .generate_bundle(&BundleSpec::new(1), 1, NOW, &mut rng);
        old.process_prekey_bundle(&b, &bundle, NOW, &mut rng)
            .unwrap();
        let first = old.encrypt(&b, b"first", NOW, &mut rng).unwrap();
        let late = old.encrypt(&b, b"late", NOW, &mut rng).unwrap();
        assert_eq!(late.message_type(), CiphertextMessageType::PreKey);
        receive(&mut bob, &a, &first, &mut rng).unwrap();

        let bundle = bob
            .store_mut()
            .generate_bundle(&BundleSpec::new(2), 1, NOW, &mut rng);
        new.process_prekey_bundle(&b, &bundle, NOW, &mut rng)
            .unwrap();
        let hello = new.encrypt(&b, b"reinstalled", NOW, &mut rng).unwrap();
        let got = receive(&mut bob, &a, &hello, &mut rng).unwrap();
        assert_eq!(
            got.identity_change,
            IdentityChange::Replaced {
                previous: old_identity
            }
        );

        let record = bob.store().session_store.session(&a).unwrap().serialize();
        assert_eq!(
            receive(&mut bob, &a, &late, &mut rng).unwrap_err(),
            Error::Protocol(ProtocolError::DecryptionFailed)
        );
        assert_eq!(bob.store().identity_store.identity(&a), Some(&new_identity));
        assert_eq!(
            bob.store().session_store.session(&a).unwrap().serialize(),
            record
        );

        // Bob's next message is for the new install.
        let next = bob.encrypt(&a, b"welcome back", NOW, &mut rng).unwrap();
        assert_eq!(
            receive(&mut new, &b, &next, &mut rng).unwrap().plaintext,
            b"welcome back"
        );
        assert!(receive(&mut old, &b, &next, &mut rng).is_err());
    }

    /// The same late prekey message is still taken when no other identity was stored
    /// since: a second prekey message of an install goes to its session.
    #[test]
    fn late_prekey_message_of_the_current_install_still_decrypts() {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let mut bob = device("bob", &mut rng);
        let mut alice = device("alice", &mut rng);
        let (a, b) = (alice.address().clone(), bob.address().clone());
        let bundle = bob
            .store_mut()
            .generate_bundle(&BundleSpec::new(1), 1, NOW, &mut rng);
        alice
            .process_prekey_bundle(&b, &bundle, NOW, &mut rng)
            .unwrap();
        let first = alice.encrypt(&b, b"first", NOW, &mut rng).unwrap();
        let second = alice.encrypt(&b, b"second", NOW, &mut rng).unwrap();
        receive(&mut bob, &a, &first, &mut rng).unwrap();
        bob.archive_session(&a).unwrap();
        let got = receive(&mut bob, &a, &second, &mut rng).unwrap();
        assert_eq!(got.plaintext, b"second");
        assert_eq!(got.identity_change, IdentityChange::Unchanged);
        assert!(!got.new_session);
    }
}

/// A change set computed from a head that has moved since is refused whole: committing
/// it would reuse a chain step (the same message key twice).
#[test]
fn a_change_set_from_a_stale_record_is_refused() {
    use crate::store::ProtocolStore;
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let (mut alice, bob) = lived(1, &mut rng);
    let b = bob.address().clone();
    let local = alice.address().clone();
    let (_, first) = super::encrypt(alice.store(), &local, &b, b"one", NOW, &mut rng).unwrap();
    let (_, second) = super::encrypt(alice.store(), &local, &b, b"two", NOW, &mut rng).unwrap();
    alice.store_mut().commit(first).unwrap();
    let before = alice.store().snapshot();
    assert_eq!(
        alice.store_mut().commit(second),
        Err(crate::StoreError::conflict())
    );
    assert_eq!(alice.store().snapshot(), before);

    // The same for a sender-key chain.
    let group = DistributionId::from_bytes([4; 16]);
    alice
        .sender_key_distribution_message(group, &mut rng)
        .unwrap();
    let (_, g1) = crate::group::encrypt(alice.store(), &local, group, b"g1", &mut rng).unwrap();
    let (_, g2) = crate::group::encrypt(alice.store(), &local, group, b"g2", &mut rng).unwrap();
    alice.store_mut().commit(g1).unwrap();
    let before = alice.store().snapshot();
    assert_eq!(
        alice.store_mut().commit(g2),
        Err(crate::StoreError::conflict())
    );
    assert_eq!(alice.store().snapshot(), before);
}

/// A v4 prekey message without its Kyber fields is refused as `MissingKyberCiphertext`
/// even when it reaches the session code already parsed (the parser refuses one from
/// bytes first), and nothing is written; the same fields with the Kyber ones decrypt.
#[test]
fn a_v4_prekey_message_without_kyber_is_refused_after_parsing_too() {
    use crate::wire::message::PreKeyParts;
    let (mut alice, mut bob, mut rng) = pair(21);
    let CiphertextMessage::PreKey(m) = alice.encrypt(bob.address(), b"pq", NOW, &mut rng).unwrap()
    else {
        panic!("a prekey message");
    };
    assert_eq!(m.message_version(), 4);
    let rebuilt = |kyber: Option<(u32, crate::crypto::kem::KemCiphertext)>| {
        PreKeySignalMessage::new(PreKeyParts {
            registration_id: m.registration_id(),
            pre_key_id: m.pre_key_id(),
            signed_pre_key_id: m.signed_pre_key_id(),
            kyber,
            base_key: *m.base_key(),
            identity_key: *m.identity_key(),
            message: m.message().clone(),
        })
    };
    let without = rebuilt(None);
    assert!(PreKeySignalMessage::deserialize(without.serialized()).is_err());
    let store = bob.store().clone();
    let a = alice.address().clone();
    assert_eq!(
        bob.decrypt_prekey_message(&a, &without, &mut rng)
            .unwrap_err(),
        Error::Protocol(ProtocolError::MissingKyberCiphertext)
    );
    assert!(bob.store().session_store.session(&a).is_none());
    assert_eq!(
        bob.store().identity_store.identity(&a),
        store.identity_store.identity(&a)
    );
    let (id, ct) = m.kyber().unwrap();
    let with = rebuilt(Some((id, ct.clone())));
    assert_eq!(with.serialized(), m.serialized());
    let got = bob.decrypt_prekey_message(&a, &with, &mut rng).unwrap();
    assert_eq!(got.plaintext, b"pq");
    // Debug shows the plaintext's length, never the plaintext.
    assert_eq!(
        std::format!("{got:?}"),
        std::format!(
            "Decrypted {{ plaintext_len: 2, sender: {:?}, identity_change: {:?}, new_session: true }}",
            got.sender,
            got.identity_change
        )
    );
}

/// A message delivered twice is refused as a duplicate from the current session's own
/// receiving chain, with no trial decryption: no archived session can hold that chain,
/// so none is tried; the record is unchanged.
#[test]
fn a_duplicate_on_the_current_chain_tries_no_session() {
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let (mut alice, mut bob) = lived(41, &mut rng);
    let w = &ordinary(&mut alice, &bob, b"once", &mut rng);
    let a = alice.address().clone();
    assert_eq!(
        attempts(|| {
            let got = bob.decrypt_signal_message(&a, w, &mut rng).unwrap();
            assert_eq!(got.plaintext, b"once");
        }),
        1
    );
    let before = bob.store().snapshot();
    let n = attempts(|| {
        assert_eq!(
            bob.decrypt_signal_message(&a, w, &mut rng).unwrap_err(),
            ProtocolError::DuplicateMessage.into()
        );
    });
    assert_eq!(n, 0, "no session tried");
    assert_eq!(bob.store().snapshot(), before);
}

/// An ordinary message, on one of the current session's receiving chains, is planned
/// on that session alone: the 40 archived sessions are not even planned.
#[test]
fn an_ordinary_message_plans_only_the_current_session() {
    let mut rng = ChaCha20Rng::seed_from_u64(27);
    let (mut alice, mut bob) = lived(41, &mut rng);
    deliver(&mut alice, &mut bob, b"on the chain", &mut rng);
    let w = ordinary(&mut alice, &bob, b"next", &mut rng);
    let a = alice.address().clone();
    let planned_and_staged = work(|| {
        let got = bob.decrypt_signal_message(&a, &w, &mut rng).unwrap();
        assert_eq!(got.plaintext, b"next");
    });
    assert_eq!(planned_and_staged, (1, 1));
    // A message on a new chain of Alice's is planned on every session.
    deliver(&mut bob, &mut alice, b"reply", &mut rng);
    let w = ordinary(&mut alice, &bob, b"new chain", &mut rng);
    let (planned, _) = work(|| {
        bob.decrypt_signal_message(&a, &w, &mut rng).unwrap();
    });
    assert_eq!(planned, 41);
}

/// A late message of the archived session whose SPQR index the current session has
/// passed: the current session's plan calls it a duplicate, but the message is on none
/// of its chains, so the archive is still tried, and decrypts it.
#[test]
fn a_duplicate_by_the_current_spqr_index_alone_tries_the_archive() {
    let mut rng = ChaCha20Rng::seed_from_u64(28);
    let (mut alice, mut bob) = lived(1, &mut rng);
    let a = alice.address().clone();
    deliver(&mut alice, &mut bob, b"on the chain", &mut rng);
    let late = ordinary(&mut alice, &bob, b"late", &mut rng);
    start(&mut alice, &mut bob, 2, &mut rng);
    for _ in 0..6 {
        deliver(&mut alice, &mut bob, b"second", &mut rng);
    }
    let record = bob.store().session_store.session(&a).unwrap();
    let current = record.state(None).unwrap();
    assert!(!current.head.has_receiver_chain(late.sender_ratchet_key()));
    assert_eq!(
        current.plan_decrypt(&late).err(),
        Some(ProtocolError::DuplicateMessage.into())
    );
    let got = bob.decrypt_signal_message(&a, &late, &mut rng).unwrap();
    assert_eq!(got.plaintext, b"late");
}

/// A change that uses a stored key applies only to a record that still holds that key:
/// with the Double Ratchet seed gone, or the SPQR key gone, the record refuses it (a
/// store conflict) even though its head is where the change started.
#[test]
fn a_change_applies_only_where_its_stored_keys_are() {
    use super::record::KeyChain;
    let mut rng = ChaCha20Rng::seed_from_u64(29);
    let (mut alice, mut bob) = lived(1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let first = ordinary(&mut alice, &bob, b"first", &mut rng);
    deliver(&mut alice, &mut bob, b"second", &mut rng);
    let (_, late) =
        super::decrypt_signal_message(bob.store(), &b, &a, &first, 40, &mut rng).unwrap();
    let change = &late.session.as_ref().expect("a session change").1;
    let record = bob.store().session_store.session(&a).unwrap();
    assert!(record.can_apply(change));
    let head = record.serialize_current_head().unwrap();
    let without = |drop: fn(&KeyChain) -> bool| {
        let rows = record
            .current_stored_keys()
            .filter(|(c, _, _)| !drop(c))
            .map(|(c, n, k)| (c, n, zeroize::Zeroizing::new(*k)));
        SessionRecord::from_parts(Some(&head), rows, None).unwrap()
    };
    let all = without(|_| false);
    assert_eq!(all.stored_key_count(), 2);
    assert!(all.can_apply(change));
    let gone = [
        without(|c| matches!(c, KeyChain::Ratchet(_))),
        without(|c| matches!(c, KeyChain::PostQuantum { .. })),
    ];
    for g in &gone {
        assert_eq!(g.stored_key_count(), 1);
        assert!(!g.can_apply(change));
    }
    let mut copy = gone[0].clone();
    let mut late = late;
    let (_, change) = late.session.take().unwrap();
    assert!(copy.apply(change).is_err());
    assert_eq!(*copy.serialize(), *gone[0].serialize());
}

/// A session with oneself (two devices sharing one identity key) plans a jump past
/// 25,000 on a new chain, and past 25,000 SPQR indices, as libsignal-client does
/// (tests/self_session.rs has them end to end); a session with another identity refuses
/// both from the header.
#[test]
fn only_a_self_session_plans_past_the_forward_bound() {
    use crate::store::ProtocolStore;
    let mut rng = ChaCha20Rng::seed_from_u64(30);
    let mut one = device("me", 1, &mut rng);
    let shared = one.store().identity_key_pair().unwrap().clone();
    let mut two = Device::new(
        ProtocolAddress::new("me", 2),
        InMemSignalProtocolStore::new(shared, 3),
    );
    start(&mut one, &mut two, 1, &mut rng);
    deliver(&mut one, &mut two, b"hello", &mut rng);
    let (mut alice, mut bob) = (device("alice", 4, &mut rng), device("bob", 5, &mut rng));
    start(&mut alice, &mut bob, 1, &mut rng);
    deliver(&mut alice, &mut bob, b"hello", &mut rng);
    let own = two.store().session_store.session(one.address()).unwrap();
    let other = bob.store().session_store.session(alice.address()).unwrap();
    for (counter, spqr_index) in [(25_001, 3), (3, 25_003)] {
        let m = forged(counter, spqr_index, &mut rng);
        assert!(own.state(None).unwrap().plan_decrypt(&m).is_ok());
        assert_eq!(
            other.state(None).unwrap().plan_decrypt(&m).err(),
            Some(ProtocolError::TooFarInFuture.into()),
            "{counter} {spqr_index}"
        );
    }
}

/// A 6th receiving chain evicts the oldest, and with it that chain's stored keys only.
#[test]
fn an_evicted_chain_takes_only_its_own_stored_keys() {
    use super::record::KeyChain;
    let mut rng = ChaCha20Rng::seed_from_u64(31);
    let (mut alice, mut bob) = lived(1, &mut rng);
    let a = alice.address().clone();
    let chains_with_keys = |bob: &Dev| {
        let rec = bob.store().session_store.session(&a).unwrap();
        let mut keys: Vec<_> = rec
            .current_stored_keys()
            .filter_map(|(c, _, _)| match c {
                KeyChain::Ratchet(k) => Some(k),
                KeyChain::PostQuantum { .. } => None,
            })
            .collect();
        keys.dedup();
        keys.len()
    };
    for i in 1..=7 {
        // One message of a new chain of Alice's is lost; Bob keeps its key.
        alice
            .encrypt(bob.address(), b"lost", NOW, &mut rng)
            .unwrap();
        deliver(&mut alice, &mut bob, b"next", &mut rng);
        deliver(&mut bob, &mut alice, b"reply", &mut rng);
        assert_eq!(chains_with_keys(&bob), i.min(5), "after chain {i}");
    }
}

/// A session Bob has not yet acknowledged sends until it is 30 days old by the caller's
/// clock, and not a millisecond longer.
#[test]
fn an_unacknowledged_session_expires_by_the_callers_clock() {
    let (mut alice, bob, mut rng) = pair(23);
    let b = bob.address().clone();
    assert_eq!(MAX_UNACKNOWLEDGED_SESSION_AGE_MS, 2_592_000_000, "30 days");
    let at = Timestamp::from_millis(NOW.as_millis() + MAX_UNACKNOWLEDGED_SESSION_AGE_MS);
    let past = Timestamp::from_millis(at.as_millis() + 1);
    assert_eq!(
        past.as_millis(),
        1_750_000_000_000 + MAX_UNACKNOWLEDGED_SESSION_AGE_MS + 1
    );
    let before = alice.store().snapshot();
    assert_eq!(
        alice.encrypt(&b, b"late", past, &mut rng).unwrap_err(),
        ProtocolError::SessionExpired.into()
    );
    assert_eq!(alice.store().snapshot(), before);
    alice.encrypt(&b, b"in time", at, &mut rng).unwrap();
}

/// What a store reads from records and change sets: whether a change creates a session
/// or rearranges the record, the stored-key rows an ordinary message changes (and their
/// `Debug` forms, which name no key), and the record's current-session queries.
#[test]
fn change_kinds_and_record_queries() {
    use super::record::{KeyChain, StoredKeyChange};
    use crate::store::ProtocolStore;
    let mut rng = ChaCha20Rng::seed_from_u64(24);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 2, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    fn change(c: &ChangeSet) -> &super::record::SessionChange {
        &c.session.as_ref().expect("a session change").1
    }

    assert!(alice.store().session_store.session(&b).is_none());
    let empty = SessionRecord::new();
    assert!(!empty.has_current_session() && !empty.has_usable_sender_chain(NOW));
    assert_eq!(empty.session_version(), None);

    let bundle = bob
        .store_mut()
        .generate_bundle(&BundleSpec::new(1), 1, NOW, &mut rng);
    let (_, started) =
        super::start_session(alice.store(), &b, &bundle, false, 40, NOW, &mut rng).unwrap();
    let new = change(&started);
    assert!(new.creates_session() && new.replaces_current());
    assert!(new.stored_key_changes().is_empty());
    assert_eq!(
        std::format!("{new:?}"),
        "SessionChange { kind: \"new session\", stored_key_changes: 0 }"
    );
    alice.store_mut().commit(started).unwrap();
    let record = alice.store().session(&b).unwrap().unwrap();
    assert!(record.has_current_session());
    assert_eq!(record.session_version(), Some(4));
    assert_eq!(
        (
            record.local_registration_id(),
            record.remote_registration_id()
        ),
        (Some(1), Some(2))
    );
    let bob_identity = *bob.store().identity_key_pair().unwrap().identity_key();
    assert_eq!(record.remote_identity(), Some(&bob_identity));
    assert_eq!((record.archived_count(), record.stored_key_count()), (0, 0));
    assert_eq!(
        (
            empty.local_registration_id(),
            empty.remote_registration_id()
        ),
        (None, None)
    );
    assert_eq!(empty.remote_identity(), None);
    let expiry = Timestamp::from_millis(NOW.as_millis() + MAX_UNACKNOWLEDGED_SESSION_AGE_MS);
    assert!(record.has_usable_sender_chain(expiry));
    let past = Timestamp::from_millis(expiry.as_millis() + 1);
    assert!(!record.has_usable_sender_chain(past));

    // Bob gets the first message and replies; Alice's two next messages arrive in reverse.
    deliver(&mut alice, &mut bob, b"one", &mut rng);
    deliver(&mut bob, &mut alice, b"two", &mut rng);
    let first = alice.encrypt(&b, b"three", NOW, &mut rng).unwrap();
    let second = alice.encrypt(&b, b"four", NOW, &mut rng).unwrap();
    let (CiphertextMessage::Whisper(first), CiphertextMessage::Whisper(second)) = (first, second)
    else {
        panic!("ordinary messages");
    };
    let (_, ahead) =
        super::decrypt_signal_message(bob.store(), &b, &a, &second, 40, &mut rng).unwrap();
    let ahead_change = change(&ahead);
    assert!(!ahead_change.creates_session() && !ahead_change.replaces_current());
    let rows = ahead_change.stored_key_changes();
    let ratchet = KeyChain::Ratchet(*second.sender_ratchet_key());
    assert!(
        rows.iter()
            .any(|r| matches!(r, StoredKeyChange::Insert { chain, n: 0, .. } if *chain == ratchet)),
        "{rows:?}"
    );
    let shown = std::format!("{rows:?}");
    assert!(
        shown.contains(&std::format!("Insert {{ chain: {ratchet:?}, n: 0, .. }}")),
        "{shown}"
    );
    assert_eq!(
        std::format!("{ahead_change:?}"),
        std::format!(
            "SessionChange {{ kind: \"advance current\", stored_key_changes: {} }}",
            rows.len()
        )
    );
    let inserted = rows
        .iter()
        .filter(|r| matches!(r, StoredKeyChange::Insert { .. }))
        .count();
    assert!(inserted >= 1);
    bob.store_mut().commit(ahead).unwrap();
    let stored = bob.store().session(&a).unwrap().unwrap();
    assert_eq!(stored.stored_key_count(), inserted);
    let (_, late) =
        super::decrypt_signal_message(bob.store(), &b, &a, &first, 40, &mut rng).unwrap();
    let rows = change(&late).stored_key_changes();
    assert!(
        rows.iter()
            .any(|r| matches!(r, StoredKeyChange::Remove { chain, n: 0 } if *chain == ratchet)),
        "{rows:?}"
    );
    assert!(
        std::format!("{rows:?}").contains(&std::format!("Remove {{ chain: {ratchet:?}, n: 0 }}"))
    );

    bob.store_mut().commit(late).unwrap();
    let stored = bob.store().session(&a).unwrap().unwrap();
    assert_eq!(
        stored.stored_key_count(),
        0,
        "the late message used its keys"
    );
    let archive = super::archive(&b, 40);
    let archived = change(&archive);
    assert!(archived.replaces_current() && !archived.creates_session());
    assert!(archived.stored_key_changes().is_empty());
}

/// v4 needs a Kyber prekey in the bundle and v3 must have none: a v4 start from a
/// bundle stripped of its Kyber prekey is a refused downgrade, and a legacy start from a
/// v4 bundle is a misuse; neither writes anything. A last-resort Kyber prekey refuses a
/// second prekey message with the same base key; a one-time one is not checked that way.
#[test]
fn bundle_kinds_and_last_resort_reuse() {
    let mut rng = ChaCha20Rng::seed_from_u64(25);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 2, &mut rng);
    let b = bob.address().clone();
    let v3 = bob.store_mut().generate_bundle(
        &BundleSpec::new(1).without_kyber_pre_key(),
        1,
        NOW,
        &mut rng,
    );
    let v4 = bob
        .store_mut()
        .generate_bundle(&BundleSpec::new(2), 1, NOW, &mut rng);
    let before = alice.store().snapshot();
    assert_eq!(
        alice.process_prekey_bundle(&b, &v3, NOW, &mut rng),
        Err(ProtocolError::LegacyRefused.into())
    );
    assert_eq!(
        alice.process_legacy_prekey_bundle(&b, &v4, NOW, &mut rng),
        Err(MisuseError::InvalidArgument.into())
    );
    assert_eq!(alice.store().snapshot(), before);

    // The same prekey message twice: a one-time Kyber prekey is gone after the first
    // (unknown), a last-resort one remembers the base key (reused).
    for (spec, second) in [
        (BundleSpec::new(3), ProtocolError::UnknownKyberPreKey),
        (
            BundleSpec::new(4).with_last_resort_kyber_pre_key(),
            ProtocolError::KyberPreKeyReused,
        ),
    ] {
        let bundle = bob.store_mut().generate_bundle(&spec, 1, NOW, &mut rng);
        let mut alice = device("alice", 1, &mut rng);
        let a = alice.address().clone();
        alice
            .process_prekey_bundle(&b, &bundle, NOW, &mut rng)
            .unwrap();
        let CiphertextMessage::PreKey(m) = alice.encrypt(&b, b"hi", NOW, &mut rng).unwrap() else {
            panic!("a prekey message");
        };
        assert_eq!(
            bob.decrypt_prekey_message(&a, &m, &mut rng)
                .unwrap()
                .plaintext,
            b"hi"
        );
        bob.store_mut().session_store.remove_session(&a);
        assert_eq!(
            bob.decrypt_prekey_message(&a, &m, &mut rng).unwrap_err(),
            second.into()
        );
    }
}

/// Which error a message no session decrypts gets: `DecryptionFailed` when an archived
/// session it may belong to was tried, `NoSession` when no session may hold it (none
/// left, or none with the identity stored for the sender). And a late message on an
/// archived session's own chain is tried there first: one attempt, however the current
/// session would plan it.
#[test]
fn error_kinds_and_known_chains_first() {
    let mut rng = ChaCha20Rng::seed_from_u64(26);
    let (mut alice, mut bob) = lived(1, &mut rng);
    let a = alice.address().clone();
    // Bob learns Alice's new chain from one message; the next on it is kept back.
    deliver(&mut alice, &mut bob, b"on the chain", &mut rng);
    let late = ordinary(&mut alice, &bob, b"late", &mut rng);
    // A second session: Bob's first one is archived, and its chain for `late` known.
    start(&mut alice, &mut bob, 2, &mut rng);
    deliver(&mut alice, &mut bob, b"second", &mut rng);
    deliver(&mut bob, &mut alice, b"ack", &mut rng);
    let record = bob.store().session_store.session(&a).unwrap();
    assert_eq!(record.archived_count(), 1);
    assert!(record.has_current_session());
    let mut copy = bob.store().clone();
    let n = attempts(|| {
        let got = bob.decrypt_signal_message(&a, &late, &mut rng).unwrap();
        assert_eq!(got.plaintext, b"late");
    });
    assert_eq!(n, 1, "the archived session that knows the chain, first");
    core::mem::swap(bob.store_mut(), &mut copy);

    // Only archived sessions left: a forgery is tried on them and fails as such.
    bob.archive_session(&a).unwrap();
    let record = bob.store().session_store.session(&a).unwrap();
    assert!(!record.has_current_session());
    let forgery = forged(3, 3, &mut rng);
    let before = record.serialize();
    assert_eq!(
        bob.decrypt_signal_message(&a, &forgery, &mut rng)
            .unwrap_err(),
        ProtocolError::DecryptionFailed.into()
    );
    // With another identity stored for Alice, no session may hold her messages.
    let other = *IdentityKeyPair::generate(&mut rng).identity_key();
    bob.store_mut().identity_store.save_identity(&a, &other);
    assert_eq!(
        bob.decrypt_signal_message(&a, &forgery, &mut rng)
            .unwrap_err(),
        ProtocolError::NoSession.into()
    );
    assert_eq!(
        bob.decrypt_signal_message(&a, &late, &mut rng).unwrap_err(),
        ProtocolError::NoSession.into()
    );
    let after = bob.store().session_store.session(&a).unwrap().serialize();
    assert_eq!(after, before, "the record is unchanged");
}

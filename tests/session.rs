//! Two missive devices talking to each other (the wire is proven by the interop tests;
//! these check the state machine).

mod common;
use common::*;
use missive::*;

const ALICE: &str = "9d0652a3-dcc3-4d11-975f-74d61598733f";
const BOB: &str = "5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f";

/// Alice and Bob (both accepting v3 prekey messages when `v3`), with a session from
/// Alice to Bob.
fn pair(v3: bool, one_time: bool, seed: u64) -> (Dev, Dev, rand_chacha::ChaCha20Rng) {
    let mut rng = rng(seed);
    let new = if v3 { legacy_device } else { device };
    let mut alice = new(ALICE, 1, &mut rng);
    let mut bob = new(BOB, 1, &mut rng);
    establish(&mut alice, &mut bob, one_time, v3, &mut rng);
    (alice, bob, rng)
}

#[test]
fn v4_and_v3_round_trips() {
    for (v3, one_time) in [(false, true), (false, false), (true, true), (true, false)] {
        let (mut alice, mut bob, mut rng) = pair(v3, one_time, 7);
        let (a, b) = (alice.address().clone(), bob.address().clone());
        let m1 = send(&mut alice, &b, b"hello bob", &mut rng);
        assert_eq!(m1.message_type(), CiphertextMessageType::PreKey);
        assert_eq!(recv(&mut bob, &a, &m1, &mut rng).unwrap(), b"hello bob");
        let m2 = send(&mut bob, &a, b"hi alice", &mut rng);
        assert_eq!(m2.message_type(), CiphertextMessageType::Whisper);
        assert_eq!(recv(&mut alice, &b, &m2, &mut rng).unwrap(), b"hi alice");
        let m3 = send(&mut alice, &b, b"now whisper", &mut rng);
        assert_eq!(m3.message_type(), CiphertextMessageType::Whisper);
        assert_eq!(recv(&mut bob, &a, &m3, &mut rng).unwrap(), b"now whisper");
        let expected_version = if v3 { 3 } else { 4 };
        let rec = bob.store().session_store.session(&a).unwrap();
        assert_eq!(rec.session_version(), Some(expected_version));
        if one_time {
            assert!(bob.store().pre_key_store.is_empty());
        }
    }
}

#[test]
fn out_of_order_and_lost() {
    let (mut alice, mut bob, mut rng) = pair(false, true, 9);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let first = send(&mut alice, &b, b"0", &mut rng);
    recv(&mut bob, &a, &first, &mut rng).unwrap();
    let msgs: Vec<_> = (1..10)
        .map(|i| send(&mut alice, &b, format!("{i}").as_bytes(), &mut rng))
        .collect();
    for i in [5usize, 2, 8, 0, 1] {
        assert_eq!(
            recv(&mut bob, &a, &msgs[i], &mut rng).unwrap(),
            format!("{}", i + 1).as_bytes()
        );
    }
    // Duplicate.
    let before = snapshot(&bob, &[&a]);
    assert_eq!(
        recv(&mut bob, &a, &msgs[5], &mut rng).unwrap_err(),
        Error::Protocol(ProtocolError::DuplicateMessage)
    );
    assert_eq!(before, snapshot(&bob, &[&a]));
    // Reply and ratchet, then a late message from the old chain.
    let r = send(&mut bob, &a, b"reply", &mut rng);
    recv(&mut alice, &b, &r, &mut rng).unwrap();
    let newer = send(&mut alice, &b, b"new chain", &mut rng);
    assert_eq!(recv(&mut bob, &a, &newer, &mut rng).unwrap(), b"new chain");
    assert_eq!(recv(&mut bob, &a, &msgs[3], &mut rng).unwrap(), b"4");
}

#[test]
fn tampering_leaves_records_unchanged() {
    let (mut alice, mut bob, mut rng) = pair(false, true, 11);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let m1 = send(&mut alice, &b, b"hello", &mut rng);
    let bytes = m1.serialize().to_vec();
    let before = snapshot(&bob, &[&a]);
    for bit in (0..bytes.len() * 8).step_by(97) {
        let mut t = bytes.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        assert!(
            recv_bytes(&mut bob, &a, CiphertextMessageType::PreKey, &t, &mut rng).is_err(),
            "bit {bit}"
        );
        assert_eq!(before, snapshot(&bob, &[&a]), "bit {bit}");
    }
    assert_eq!(recv(&mut bob, &a, &m1, &mut rng).unwrap(), b"hello");
}

#[test]
fn record_serialization_round_trips() {
    let (mut alice, mut bob, mut rng) = pair(false, true, 13);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let m = send(&mut alice, &b, b"x", &mut rng);
    recv(&mut bob, &a, &m, &mut rng).unwrap();
    let bytes = record_bytes(&bob, &a).unwrap();
    let rec = SessionRecord::deserialize(&bytes).unwrap();
    assert_eq!(rec.serialize().to_vec(), bytes);
}

/// Both sides process the other's bundle and send before receiving; then each answers on
/// the session it made current, which is the other side's archived one. Every message
/// decrypts, in every delivery order, and the two settle on one session.
#[test]
fn simultaneous_initiation_all_orders() {
    for v3 in [false, true] {
        for order in 0..4u8 {
            let mut rng = rng(100 + u64::from(order));
            let new = if v3 { legacy_device } else { device };
            let mut alice = new(ALICE, 1, &mut rng);
            let mut bob = new(BOB, 1, &mut rng);
            let (a, b) = (alice.address().clone(), bob.address().clone());
            let ab = publish(&mut bob, true, v3, &mut rng);
            let ba = publish(&mut alice, true, v3, &mut rng);
            start_session(&mut alice, &ab, &b, &mut rng);
            start_session(&mut bob, &ba, &a, &mut rng);
            let pa = send(&mut alice, &b, b"pa", &mut rng);
            let pb = send(&mut bob, &a, b"pb", &mut rng);
            if order & 1 == 0 {
                assert_eq!(recv(&mut alice, &b, &pb, &mut rng).unwrap(), b"pb");
                assert_eq!(recv(&mut bob, &a, &pa, &mut rng).unwrap(), b"pa");
            } else {
                assert_eq!(recv(&mut bob, &a, &pa, &mut rng).unwrap(), b"pa");
                assert_eq!(recv(&mut alice, &b, &pb, &mut rng).unwrap(), b"pb");
            }
            // Both answer before receiving the other's answer: each answer lands on the
            // receiver's archived session.
            let wa: Vec<_> = (0..3)
                .map(|i| send(&mut alice, &b, format!("wa{i}").as_bytes(), &mut rng))
                .collect();
            let wb: Vec<_> = (0..3)
                .map(|i| send(&mut bob, &a, format!("wb{i}").as_bytes(), &mut rng))
                .collect();
            let deliver_a_first = order & 2 == 0;
            for round in 0..2 {
                if (round == 0) == deliver_a_first {
                    for (i, m) in wa.iter().enumerate() {
                        assert_eq!(
                            recv(&mut bob, &a, m, &mut rng).unwrap(),
                            format!("wa{i}").as_bytes(),
                            "v3 {v3} order {order}"
                        );
                    }
                } else {
                    for (i, m) in wb.iter().enumerate() {
                        assert_eq!(
                            recv(&mut alice, &b, m, &mut rng).unwrap(),
                            format!("wb{i}").as_bytes(),
                            "v3 {v3} order {order}"
                        );
                    }
                }
            }
            // Converged: a few round trips, all whisper messages, all decrypt.
            for i in 0..3 {
                let m = send(&mut alice, &b, format!("x{i}").as_bytes(), &mut rng);
                assert_eq!(m.message_type(), CiphertextMessageType::Whisper);
                assert_eq!(
                    recv(&mut bob, &a, &m, &mut rng).unwrap(),
                    format!("x{i}").as_bytes()
                );
                let m = send(&mut bob, &a, format!("y{i}").as_bytes(), &mut rng);
                assert_eq!(m.message_type(), CiphertextMessageType::Whisper);
                assert_eq!(
                    recv(&mut alice, &b, &m, &mut rng).unwrap(),
                    format!("y{i}").as_bytes()
                );
            }
        }
    }
}

/// A second prekey message (same base key) whose identity field was swapped is refused:
/// on that path the identity is not bound by any DH, so it must match the session's.
#[test]
fn forged_identity_in_repeated_prekey_message_refused() {
    let (mut alice, mut bob, mut rng) = pair(false, true, 15);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let m1 = send(&mut alice, &b, b"one", &mut rng);
    let m2 = send(&mut alice, &b, b"two", &mut rng);
    recv(&mut bob, &a, &m1, &mut rng).unwrap();
    let bytes = m2.serialize().to_vec();
    let real = *PreKeySignalMessage::deserialize(&bytes)
        .unwrap()
        .identity_key();
    let pos = bytes
        .windows(33)
        .position(|w| w == real.serialize())
        .unwrap();
    let mallory = missive::IdentityKeyPair::generate(&mut rng);
    let mut forged = bytes.clone();
    forged[pos..pos + 33].copy_from_slice(&mallory.identity_key().serialize());
    let before = snapshot(&bob, &[&a]);
    assert!(
        recv_bytes(
            &mut bob,
            &a,
            CiphertextMessageType::PreKey,
            &forged,
            &mut rng
        )
        .is_err()
    );
    assert_eq!(before, snapshot(&bob, &[&a]));
    assert_eq!(recv(&mut bob, &a, &m2, &mut rng).unwrap(), b"two");
}

/// The snapshot the failure tests compare sees every write an operation can make, and
/// the records an app manages.
#[test]
fn snapshot_sees_every_kind_of_record() {
    use missive::store::memory::BundleSpec;
    let mut rng = rng(17);
    let mut alice = device(ALICE, 1, &mut rng);
    let mut bob = device(BOB, 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let empty = snapshot(&bob, &[&a]);
    assert!(empty.identities.is_empty());
    assert!(empty.sessions.is_empty() && empty.pre_keys.is_empty());

    // Published keys: one of each, listed with their ids.
    let spec = BundleSpec::new(1)
        .with_one_time_pre_key()
        .with_last_resort_kyber_pre_key();
    let bundle = bob.store_mut().generate_bundle(&spec, 1, NOW, &mut rng);
    let published = snapshot(&bob, &[&a]);
    assert_eq!(
        published.pre_keys,
        [bob.store()
            .pre_key_store
            .pre_key(PreKeyId(1))
            .unwrap()
            .serialize()
            .to_vec()]
    );
    assert_eq!(published.signed_pre_keys.len(), 1);
    assert_eq!(published.kyber_pre_keys.len(), 1);

    // A prekey message: a session, an identity, a consumed prekey, a Kyber triple.
    start_session(&mut alice, &bundle, &b, &mut rng);
    let m = send(&mut alice, &b, b"1", &mut rng);
    recv(&mut bob, &a, &m, &mut rng).unwrap();
    let first = snapshot(&bob, &[&a]);
    assert_eq!(first.sessions.len(), 1);
    assert_eq!(
        first.identities,
        [(
            a.clone(),
            alice
                .store()
                .identity_key_pair()
                .unwrap()
                .identity_key()
                .serialize()
        )]
    );
    assert!(first.pre_keys.is_empty());
    assert_eq!(
        (first.kyber_used_triples, first.kyber_pre_keys.len()),
        (1, 1)
    );
    // A SignalMessage: the session record alone.
    let m = send(&mut alice, &b, b"2", &mut rng);
    recv(&mut bob, &a, &m, &mut rng).unwrap();
    let second = snapshot(&bob, &[&a]);
    assert_ne!(first.sessions, second.sessions);
    assert_eq!(
        (&first.identities, &first.kyber_pre_keys),
        (&second.identities, &second.kyber_pre_keys)
    );

    // Sender keys: a member's record appears, and changes with each message.
    let group = DistributionId::from_bytes([7; 16]);
    let skdm = alice
        .sender_key_distribution_message(group, &mut rng)
        .unwrap();
    let m = send(&mut alice, &b, skdm.serialized(), &mut rng);
    let d = bob
        .decrypt(&a, m.message_type(), m.serialize(), &mut rng)
        .unwrap();
    let skdm = SenderKeyDistributionMessage::deserialize(&d.plaintext).unwrap();
    bob.process_sender_key_distribution_message(&d.sender, &skdm)
        .unwrap();
    let member = snapshot(&bob, &[&a]);
    assert_eq!(member.sender_keys.len(), 1);
    assert_eq!(
        (&member.sender_keys[0].0, member.sender_keys[0].1),
        (&a, group)
    );
    let g = alice.group_encrypt(group, b"g", &mut rng).unwrap();
    bob.group_decrypt(&a, &g).unwrap();
    assert_ne!(member.sender_keys, snapshot(&bob, &[&a]).sender_keys);

    // What the app manages: identities and keys.
    let before = snapshot(&bob, &[&a]);
    let other = *IdentityKeyPair::generate(&mut rng).identity_key();
    bob.store_mut().identity_store.save_identity(&a, &other);
    assert_ne!(before.identities, snapshot(&bob, &[&a]).identities);
    bob.store_mut()
        .signed_pre_key_store
        .remove_signed_pre_key(SignedPreKeyId(1));
    assert!(snapshot(&bob, &[&a]).signed_pre_keys.is_empty());
    bob.store_mut()
        .kyber_pre_key_store
        .remove_kyber_pre_key(KyberPreKeyId(1));
    let after = snapshot(&bob, &[&a]);
    assert_eq!(
        (after.kyber_used_triples, after.kyber_pre_keys.len()),
        (0, 0)
    );
}

/// Archived sessions keep no pending prekey data (it carries a v4 session's 1,568-byte
/// Kyber ciphertext, and only the current session ever sends it): a record with 40
/// archived sessions stays under 25 KB plus what the ML-KEM braid holds in flight (at
/// most 2.5 KB a session here: the initiator's decapsulation key, 2,400 bytes, while its
/// header is out) whichever side initiated them and whether or not they were answered. And an archived session that never had an answer still decrypts
/// one (it is promoted, and sends ordinary messages).
#[test]
fn archived_sessions_drop_pending_prekey_data() {
    const MAX_RECORD: usize = 25_000 + (DEFAULT_MAX_ARCHIVED_SESSIONS + 1) * 2_500;
    for answered in [true, false] {
        let mut rng = rng(41 + u64::from(answered));
        let mut alice = device(ALICE, 1, &mut rng);
        let mut bob = device(BOB, 1, &mut rng);
        let (a, b) = (alice.address().clone(), bob.address().clone());
        let mut first = None;
        for _ in 0..=DEFAULT_MAX_ARCHIVED_SESSIONS {
            establish(&mut alice, &mut bob, true, false, &mut rng);
            let m = send(&mut alice, &b, b"hello", &mut rng);
            assert_eq!(m.message_type(), CiphertextMessageType::PreKey);
            recv(&mut bob, &a, &m, &mut rng).unwrap();
            if answered {
                let r = send(&mut bob, &a, b"hi", &mut rng);
                recv(&mut alice, &b, &r, &mut rng).unwrap();
            }
            first.get_or_insert_with(|| record_bytes(&alice, &b).unwrap().len());
        }
        for (who, bytes) in [
            ("initiator", record_bytes(&alice, &b).unwrap()),
            ("responder", record_bytes(&bob, &a).unwrap()),
        ] {
            let record = SessionRecord::deserialize(&bytes).unwrap();
            assert_eq!(record.archived_count(), DEFAULT_MAX_ARCHIVED_SESSIONS);
            println!("{who}, answered {answered}: {} bytes", bytes.len());
            assert!(
                bytes.len() <= MAX_RECORD,
                "{who}, answered {answered}: {} bytes",
                bytes.len()
            );
        }
        if !answered {
            // Each archived session is about the size of an answered one (no 1.6 KB of
            // pending data each), though the current one still has its pending data.
            let alice_record = record_bytes(&alice, &b).unwrap().len();
            let one = first.unwrap();
            assert!(
                one > 1_600,
                "a fresh unanswered session holds its pending data"
            );
            assert!(alice_record < 40 * (one - 1_500) + one, "{alice_record}");
            // Alice resets: her unanswered current session is archived (and drops its
            // pending data). Bob's answer on it decrypts and makes it current again.
            alice.archive_session(&b).unwrap();
            assert!(
                !SessionRecord::deserialize(&record_bytes(&alice, &b).unwrap())
                    .unwrap()
                    .has_current_session()
            );
            let r = send(&mut bob, &a, b"late answer", &mut rng);
            assert_eq!(recv(&mut alice, &b, &r, &mut rng).unwrap(), b"late answer");
            let m = send(&mut alice, &b, b"and back", &mut rng);
            assert_eq!(m.message_type(), CiphertextMessageType::Whisper);
            assert_eq!(recv(&mut bob, &a, &m, &mut rng).unwrap(), b"and back");
        }
    }
}

/// A record written before archived sessions dropped their pending data still reads:
/// the archived state's pending data is checked, then dropped, and the session works.
#[test]
fn archived_pending_prekey_in_an_older_record_is_read_and_dropped() {
    fn varint(bytes: &[u8]) -> (usize, usize) {
        let (mut v, mut shift) = (0usize, 0);
        for (i, b) in bytes.iter().enumerate() {
            v |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                return (v, i + 1);
            }
        }
        panic!("truncated varint")
    }
    fn put_varint(out: &mut Vec<u8>, mut v: usize) {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let (mut alice, mut bob, mut rng) = pair(false, true, 17);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let m = send(&mut alice, &b, b"unanswered", &mut rng);
    recv(&mut bob, &a, &m, &mut rng).unwrap();
    // `01 0a len(state) state 18 00`: the current state, pending data and all, ...
    let current = record_bytes(&alice, &b).unwrap();
    assert_eq!(current[1], 0x0a);
    let (len, n) = varint(&current[2..]);
    let state = &current[2 + n..2 + n + len];
    assert_eq!(&current[2 + n + len..], &[0x18, 0x00]);
    // ... written as the one archived state: `01 12 len(state) state 18 01`.
    let mut old = vec![0x01, 0x12];
    put_varint(&mut old, state.len());
    old.extend_from_slice(state);
    old.extend_from_slice(&[0x18, 0x01]);
    let record = SessionRecord::deserialize(&old).unwrap();
    assert_eq!(record.archived_count(), 1);
    let rewritten = record.serialize();
    assert!(
        rewritten.len() + 1_600 < old.len(),
        "{} then {}",
        old.len(),
        rewritten.len()
    );
    assert_eq!(
        SessionRecord::deserialize(&rewritten).unwrap().serialize(),
        rewritten
    );
    // Damaged pending data is still refused: parsing stays strict.
    let mut damaged = old.clone();
    // Field 13 (tag 0x6a), whose length (1.6 KB: a two-byte varint) covers the
    // ciphertext: its wire type changed to a group.
    let at = old.len() - 2 - state.len()
        + state
            .windows(3)
            .position(|w| {
                w[0] == 0x6a && w[2] < 0x80 && (1_600..1_800).contains(&varint(&w[1..]).0)
            })
            .expect("field 13");
    damaged[at] = 0x6b;
    assert!(SessionRecord::deserialize(&damaged).is_err());
    // Bob's answer promotes the archived session.
    alice.store_mut().session_store.store_session(&b, record);
    let r = send(&mut bob, &a, b"answer", &mut rng);
    assert_eq!(recv(&mut alice, &b, &r, &mut rng).unwrap(), b"answer");
    let m = send(&mut alice, &b, b"ordinary", &mut rng);
    assert_eq!(m.message_type(), CiphertextMessageType::Whisper);
    assert_eq!(recv(&mut bob, &a, &m, &mut rng).unwrap(), b"ordinary");
}

//! Two missive parties talking to each other (the wire is proven by the interop tests;
//! these check the state machine).

mod common;
use common::*;
use missive::*;

fn pair(v3: bool, one_time: bool, seed: u64) -> (Party, Party, rand_chacha::ChaCha20Rng) {
    let mut rng = rng(seed);
    let mut alice = Party::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1, &mut rng);
    let mut bob = Party::new("5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f", 1, &mut rng);
    let bundle = bob.bundle(one_time, v3, &mut rng);
    alice.start_session(&bundle, &bob.address.clone(), &mut rng);
    (alice, bob, rng)
}

#[test]
fn v4_and_v3_round_trips() {
    for (v3, one_time) in [(false, true), (false, false), (true, true), (true, false)] {
        let (mut alice, mut bob, mut rng) = pair(v3, one_time, 7);
        let (a, b) = (alice.address.clone(), bob.address.clone());
        let m1 = alice.encrypt(&b, b"hello bob", &mut rng);
        assert_eq!(m1.message_type(), CiphertextMessageType::PreKey);
        assert_eq!(bob.decrypt(&a, &m1, &mut rng).unwrap(), b"hello bob");
        let m2 = bob.encrypt(&a, b"hi alice", &mut rng);
        assert_eq!(m2.message_type(), CiphertextMessageType::Whisper);
        assert_eq!(alice.decrypt(&b, &m2, &mut rng).unwrap(), b"hi alice");
        let m3 = alice.encrypt(&b, b"now whisper", &mut rng);
        assert_eq!(m3.message_type(), CiphertextMessageType::Whisper);
        assert_eq!(bob.decrypt(&a, &m3, &mut rng).unwrap(), b"now whisper");
        let expected_version = if v3 { 3 } else { 4 };
        let rec = {
            use missive::store::SessionStore;
            bob.store.session_store.load_session(&a).unwrap().unwrap()
        };
        assert_eq!(rec.session_version(), Some(expected_version));
        if one_time {
            assert!(bob.store.pre_key_store.is_empty());
        }
    }
}

#[test]
fn out_of_order_and_lost() {
    let (mut alice, mut bob, mut rng) = pair(false, true, 9);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let first = alice.encrypt(&b, b"0", &mut rng);
    bob.decrypt(&a, &first, &mut rng).unwrap();
    let msgs: Vec<_> = (1..10)
        .map(|i| alice.encrypt(&b, format!("{i}").as_bytes(), &mut rng))
        .collect();
    for i in [5usize, 2, 8, 0, 1] {
        assert_eq!(
            bob.decrypt(&a, &msgs[i], &mut rng).unwrap(),
            format!("{}", i + 1).as_bytes()
        );
    }
    // Duplicate.
    let before = bob.record_bytes(&a);
    assert_eq!(
        bob.decrypt(&a, &msgs[5], &mut rng).unwrap_err(),
        Error::Protocol(ProtocolError::DuplicateMessage)
    );
    assert_eq!(before, bob.record_bytes(&a));
    // Reply and ratchet, then a late message from the old chain.
    let r = bob.encrypt(&a, b"reply", &mut rng);
    alice.decrypt(&b, &r, &mut rng).unwrap();
    let newer = alice.encrypt(&b, b"new chain", &mut rng);
    assert_eq!(bob.decrypt(&a, &newer, &mut rng).unwrap(), b"new chain");
    assert_eq!(bob.decrypt(&a, &msgs[3], &mut rng).unwrap(), b"4");
}

#[test]
fn tampering_leaves_records_unchanged() {
    let (mut alice, mut bob, mut rng) = pair(false, true, 11);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let m1 = alice.encrypt(&b, b"hello", &mut rng);
    let bytes = m1.serialize().to_vec();
    let before = bob.record_bytes(&a);
    for bit in (0..bytes.len() * 8).step_by(97) {
        let mut t = bytes.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        assert!(
            bob.decrypt_bytes(&a, CiphertextMessageType::PreKey, &t, &mut rng)
                .is_err(),
            "bit {bit}"
        );
        assert_eq!(before, bob.record_bytes(&a));
    }
    assert_eq!(bob.decrypt(&a, &m1, &mut rng).unwrap(), b"hello");
}

#[test]
fn record_serialization_round_trips() {
    let (mut alice, mut bob, mut rng) = pair(false, true, 13);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let m = alice.encrypt(&b, b"x", &mut rng);
    bob.decrypt(&a, &m, &mut rng).unwrap();
    let bytes = bob.record_bytes(&a).unwrap();
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
            let mut alice = Party::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1, &mut rng);
            let mut bob = Party::new("5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f", 1, &mut rng);
            let (a, b) = (alice.address.clone(), bob.address.clone());
            let ab = bob.bundle(true, v3, &mut rng);
            let ba = alice.bundle(true, v3, &mut rng);
            alice.start_session(&ab, &b, &mut rng);
            bob.start_session(&ba, &a, &mut rng);
            let pa = alice.encrypt(&b, b"pa", &mut rng);
            let pb = bob.encrypt(&a, b"pb", &mut rng);
            if order & 1 == 0 {
                assert_eq!(alice.decrypt(&b, &pb, &mut rng).unwrap(), b"pb");
                assert_eq!(bob.decrypt(&a, &pa, &mut rng).unwrap(), b"pa");
            } else {
                assert_eq!(bob.decrypt(&a, &pa, &mut rng).unwrap(), b"pa");
                assert_eq!(alice.decrypt(&b, &pb, &mut rng).unwrap(), b"pb");
            }
            // Both answer before receiving the other's answer: each answer lands on the
            // receiver's archived session.
            let wa: Vec<_> = (0..3)
                .map(|i| alice.encrypt(&b, format!("wa{i}").as_bytes(), &mut rng))
                .collect();
            let wb: Vec<_> = (0..3)
                .map(|i| bob.encrypt(&a, format!("wb{i}").as_bytes(), &mut rng))
                .collect();
            let deliver_a_first = order & 2 == 0;
            for round in 0..2 {
                if (round == 0) == deliver_a_first {
                    for (i, m) in wa.iter().enumerate() {
                        assert_eq!(
                            bob.decrypt(&a, m, &mut rng).unwrap(),
                            format!("wa{i}").as_bytes(),
                            "v3 {v3} order {order}"
                        );
                    }
                } else {
                    for (i, m) in wb.iter().enumerate() {
                        assert_eq!(
                            alice.decrypt(&b, m, &mut rng).unwrap(),
                            format!("wb{i}").as_bytes(),
                            "v3 {v3} order {order}"
                        );
                    }
                }
            }
            // Converged: a few round trips, all whisper messages, all decrypt.
            for i in 0..3 {
                let m = alice.encrypt(&b, format!("x{i}").as_bytes(), &mut rng);
                assert_eq!(m.message_type(), CiphertextMessageType::Whisper);
                assert_eq!(
                    bob.decrypt(&a, &m, &mut rng).unwrap(),
                    format!("x{i}").as_bytes()
                );
                let m = bob.encrypt(&a, format!("y{i}").as_bytes(), &mut rng);
                assert_eq!(m.message_type(), CiphertextMessageType::Whisper);
                assert_eq!(
                    alice.decrypt(&b, &m, &mut rng).unwrap(),
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
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let m1 = alice.encrypt(&b, b"one", &mut rng);
    let m2 = alice.encrypt(&b, b"two", &mut rng);
    bob.decrypt(&a, &m1, &mut rng).unwrap();
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
    let before = bob.snapshot(&[&a]);
    assert!(
        bob.decrypt_bytes(&a, CiphertextMessageType::PreKey, &forged, &mut rng)
            .is_err()
    );
    assert_eq!(before, bob.snapshot(&[&a]));
    assert_eq!(bob.decrypt(&a, &m2, &mut rng).unwrap(), b"two");
}

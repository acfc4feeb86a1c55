//! missive against libsignal-client 0.103 (v4: PQXDH, Double Ratchet, SPQR), both ways.

mod common;
use common::*;
use missive::*;
use missive_interop::{CiphertextMessage as Wire, Peer, PeerKind};

fn client() -> Peer {
    Peer::spawn(PeerKind::Client).expect("spawn libsignal-client driver")
}

/// Whether a serialized prekey message carries the `addresses` field.
fn has_addresses(prekey: &Wire) -> bool {
    PreKeySignalMessage::deserialize(&prekey.body)
        .unwrap()
        .message()
        .addresses()
        .is_some()
}

fn missive_initiates(one_time: bool, aci: bool, seed: u64) {
    let (alice_name, bob_name) = if aci {
        (ALICE_ACI, BOB_ACI)
    } else {
        (ALICE_PLAIN, BOB_PLAIN)
    };
    let mut peer = client();
    peer.new_party("bob", bob_name, 2).unwrap();
    let bundle = peer.make_bundle("bob", one_time).unwrap();
    assert_eq!(bundle.prekey.is_some(), one_time);
    let mut alice = MissiveParty::new(alice_name, 1, bob_name, 2, seed);
    alice.process_bundle(&bundle).unwrap();
    let mut bob = PeerParty {
        peer: &mut peer,
        party: "bob".into(),
        remote_name: alice_name.into(),
        remote_device: 1,
    };

    // Prekey messages until the first reply; the peer decrypts both, in reverse order.
    let m1 = alice.encrypt(b"hello from missive");
    let m2 = alice.encrypt(b"second before any reply");
    assert!(m1.is_prekey() && m2.is_prekey());
    assert_eq!(m1.body[0], 0x44);
    assert_eq!(
        has_addresses(&m1),
        aci,
        "addresses written iff both names are service ids"
    );
    assert_eq!(bob.decrypt(&m2).unwrap(), b"second before any reply");
    assert_eq!(bob.decrypt(&m1).unwrap(), b"hello from missive");
    let r = bob.encrypt(b"hello from libsignal");
    assert!(!r.is_prekey());
    assert_eq!(alice.decrypt(&r).unwrap(), b"hello from libsignal");
    assert!(!alice.encrypt(b"acknowledged").is_prekey());

    let t = traffic_shapes(&mut alice, &mut bob, seed);
    eprintln!("missive initiates (one-time {one_time}, aci {aci}): {t:?}");
    assert!(t.a_to_b >= 200 && t.b_to_a >= 200);
}

fn client_initiates(one_time: bool, aci: bool, seed: u64) {
    let (alice_name, bob_name) = if aci {
        (ALICE_ACI, BOB_ACI)
    } else {
        (ALICE_PLAIN, BOB_PLAIN)
    };
    let mut peer = client();
    peer.new_party("alice", alice_name, 1).unwrap();
    let mut bob = MissiveParty::new(bob_name, 2, alice_name, 1, seed);
    let bundle = bob.bundle(one_time, false);
    peer.process_bundle("alice", bob_name, 2, &bundle).unwrap();
    let mut alice = PeerParty {
        peer: &mut peer,
        party: "alice".into(),
        remote_name: bob_name.into(),
        remote_device: 2,
    };

    let m1 = alice.encrypt(b"hello from libsignal");
    let m2 = alice.encrypt(b"second before any reply");
    assert!(m1.is_prekey() && m2.is_prekey());
    assert_eq!(has_addresses(&m1), aci);
    assert_eq!(bob.decrypt(&m1).unwrap(), b"hello from libsignal");
    if one_time {
        assert!(
            bob.store().pre_key_store.is_empty(),
            "one-time prekey deleted on use"
        );
    }
    // The second prekey message goes to the same session (same base key).
    assert_eq!(bob.decrypt(&m2).unwrap(), b"second before any reply");
    assert_eq!(bob.session().unwrap().archived_count(), 0);
    let r = bob.encrypt(b"hello from missive");
    assert!(!r.is_prekey());
    assert_eq!(alice.decrypt(&r).unwrap(), b"hello from missive");

    let t = traffic_shapes(&mut bob, &mut alice, seed);
    eprintln!("libsignal-client initiates (one-time {one_time}, aci {aci}): {t:?}");
    assert!(t.a_to_b >= 200 && t.b_to_a >= 200);
}

#[test]
fn missive_initiates_with_one_time_prekey_and_addresses() {
    missive_initiates(true, true, 1);
}
#[test]
fn missive_initiates_without_one_time_prekey_and_addresses() {
    missive_initiates(false, true, 2);
}
#[test]
fn missive_initiates_with_one_time_prekey_plain_names() {
    missive_initiates(true, false, 3);
}
#[test]
fn missive_initiates_without_one_time_prekey_plain_names() {
    missive_initiates(false, false, 4);
}
#[test]
fn client_initiates_with_one_time_prekey_and_addresses() {
    client_initiates(true, true, 5);
}
#[test]
fn client_initiates_without_one_time_prekey_and_addresses() {
    client_initiates(false, true, 6);
}
#[test]
fn client_initiates_with_one_time_prekey_plain_names() {
    client_initiates(true, false, 7);
}
#[test]
fn client_initiates_without_one_time_prekey_plain_names() {
    client_initiates(false, false, 8);
}

/// A tampered message from each side is rejected (missive's records unchanged), and the
/// next honest message still decrypts.
#[test]
fn tampered_messages_rejected_both_ways() {
    let mut peer = client();
    peer.new_party("bob", BOB_ACI, 2).unwrap();
    let bundle = peer.make_bundle("bob", true).unwrap();
    let mut alice = MissiveParty::new(ALICE_ACI, 1, BOB_ACI, 2, 20);
    alice.process_bundle(&bundle).unwrap();
    let mut bob = PeerParty {
        peer: &mut peer,
        party: "bob".into(),
        remote_name: ALICE_ACI.into(),
        remote_device: 1,
    };

    // A tampered prekey message from missive: the peer refuses it, then takes the honest one.
    let m = alice.encrypt(b"first");
    for pos in [10, m.body.len() / 2, m.body.len() - 1] {
        let mut t = m.clone();
        t.body[pos] ^= 0x01;
        assert!(
            bob.try_decrypt(&t).is_err(),
            "peer accepted a prekey message flipped at {pos}"
        );
    }
    assert_eq!(bob.decrypt(&m).unwrap(), b"first");

    // A tampered SignalMessage from the peer: missive refuses it, records unchanged.
    let r = bob.encrypt(b"reply");
    let before = alice.record();
    for pos in [1, 5, r.body.len() / 2, r.body.len() - 3] {
        let mut t = r.clone();
        t.body[pos] ^= 0x80;
        assert!(
            alice.try_decrypt(&t).is_err(),
            "missive accepted a message flipped at {pos}"
        );
        assert_eq!(before, alice.record());
    }
    assert_eq!(alice.decrypt(&r).unwrap(), b"reply");

    // A tampered SignalMessage from missive: the peer refuses it.
    let w = alice.encrypt(b"whisper");
    assert!(!w.is_prekey());
    let mut t = w.clone();
    let last = t.body.len() - 1;
    t.body[last] ^= 0x01; // the MAC
    assert!(bob.try_decrypt(&t).is_err());
    let mut t = w.clone();
    let pos = t.body.len() - 20;
    t.body[pos] ^= 0x10; // the ciphertext
    assert!(bob.try_decrypt(&t).is_err());
    assert_eq!(bob.decrypt(&w).unwrap(), b"whisper");
    // And the next one after it.
    send(&mut alice, &mut bob, "next honest one");
    send(&mut bob, &mut alice, "and back");
}

/// Both sides process each other's bundle and send before either receives; they still
/// end up talking on one session.
#[test]
fn simultaneous_initiation_converges() {
    for (seed, first_receiver_is_missive) in [(30u64, true), (31, false)] {
        let mut peer = client();
        peer.new_party("bob", BOB_ACI, 2).unwrap();
        let mut alice = MissiveParty::new(ALICE_ACI, 1, BOB_ACI, 2, seed);
        let peer_bundle = peer.make_bundle("bob", true).unwrap();
        let missive_bundle = alice.bundle(true, false);
        alice.process_bundle(&peer_bundle).unwrap();
        peer.process_bundle("bob", ALICE_ACI, 1, &missive_bundle)
            .unwrap();
        let mut bob = PeerParty {
            peer: &mut peer,
            party: "bob".into(),
            remote_name: ALICE_ACI.into(),
            remote_device: 1,
        };

        let from_alice = alice.encrypt(b"alice starts");
        let from_bob = bob.encrypt(b"bob starts");
        assert!(from_alice.is_prekey() && from_bob.is_prekey());
        if first_receiver_is_missive {
            assert_eq!(alice.decrypt(&from_bob).unwrap(), b"bob starts");
            assert_eq!(bob.decrypt(&from_alice).unwrap(), b"alice starts");
        } else {
            assert_eq!(bob.decrypt(&from_alice).unwrap(), b"alice starts");
            assert_eq!(alice.decrypt(&from_bob).unwrap(), b"bob starts");
        }
        // Both answer before hearing the other's answer: each answer lands on the
        // session the receiver holds as archived, and must still decrypt.
        let wa: Vec<_> = (0..3)
            .map(|i| alice.encrypt(format!("wa{i}").as_bytes()))
            .collect();
        let wb: Vec<_> = (0..3)
            .map(|i| bob.encrypt(format!("wb{i}").as_bytes()))
            .collect();
        for (i, m) in wb.iter().enumerate() {
            assert_eq!(alice.decrypt(m).unwrap(), format!("wb{i}").as_bytes());
        }
        for (i, m) in wa.iter().enumerate() {
            assert_eq!(bob.decrypt(m).unwrap(), format!("wa{i}").as_bytes());
        }
        // Keep talking: every message decrypts, and both settle on whisper messages.
        for i in 0..6 {
            send(&mut alice, &mut bob, &format!("a{i}"));
            send(&mut bob, &mut alice, &format!("b{i}"));
        }
        assert!(!alice.encrypt(b"settled").is_prekey());
        let w = bob.encrypt(b"settled too");
        assert!(!w.is_prekey());
        assert_eq!(alice.decrypt(&w).unwrap(), b"settled too");
    }
}

/// libsignal-client refuses X3DH: a v3 prekey message from missive (made from the
/// client's bundle with the Kyber prekey left out) is rejected with its own words.
#[test]
fn client_rejects_v3_prekey_message() {
    let mut peer = client();
    peer.new_party("bob", BOB_ACI, 2).unwrap();
    let mut bundle = peer.make_bundle("bob", true).unwrap();
    bundle.kyber_prekey_id = None;
    bundle.kyber_prekey = None;
    bundle.kyber_prekey_signature = None;
    let mut alice = MissiveParty::new(ALICE_ACI, 1, BOB_ACI, 2, 40);
    alice.process_bundle(&bundle).unwrap();
    let m = alice.encrypt(b"legacy");
    assert_eq!(m.body[0], 0x33);
    let err = peer.decrypt("bob", ALICE_ACI, 1, &m).unwrap_err();
    assert!(
        err.to_string().contains("X3DH no longer supported"),
        "{err}"
    );
}

/// The peer verifies missive's XEdDSA signatures and missive verifies the peer's.
#[test]
fn xeddsa_both_ways() {
    use missive::crypto::{PrivateKey, xeddsa};
    let mut peer = client();
    let mut rng = <rand_chacha::ChaCha20Rng as rand_core::SeedableRng>::seed_from_u64(50);
    for len in [0usize, 1, 33, 100, 1569] {
        let key = PrivateKey::generate(&mut rng);
        let msg: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let sig = xeddsa::sign(&key, &msg, &mut rng);
        let public = key.public_key().serialize();
        assert!(
            peer.xeddsa_verify(&public, &msg, &sig).unwrap(),
            "peer refused missive's signature"
        );
        let theirs = peer.xeddsa_sign(key.to_bytes().as_ref(), &msg).unwrap();
        assert!(key.public_key().verify_signature(&msg, &theirs));
        let mut bad = sig;
        bad[0] ^= 1;
        assert!(!peer.xeddsa_verify(&public, &msg, &bad).unwrap());
    }
}

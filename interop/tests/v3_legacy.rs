//! missive against libsignal-node 6.0.0 (v3: X3DH, Double Ratchet), both ways.

mod common;
use common::*;
use missive_interop::{Peer, PeerKind};

fn legacy() -> Peer {
    Peer::spawn(PeerKind::Legacy).expect("spawn libsignal-node driver")
}

fn missive_initiates(one_time: bool, seed: u64) {
    let mut peer = legacy();
    peer.new_party("bob", BOB_ACI, 2).unwrap();
    let bundle = peer.make_bundle("bob", one_time).unwrap();
    assert!(bundle.kyber_prekey.is_none());
    let mut alice = MissiveParty::legacy(ALICE_ACI, 1, BOB_ACI, 2, seed);
    alice.process_bundle(&bundle).unwrap();
    assert_eq!(alice.session().unwrap().session_version(), Some(3));
    let mut bob = PeerParty {
        peer: &mut peer,
        party: "bob".into(),
        remote_name: ALICE_ACI.into(),
        remote_device: 1,
    };

    let m1 = alice.encrypt(b"hello from missive");
    let m2 = alice.encrypt(b"second before any reply");
    assert!(m1.is_prekey() && m2.is_prekey());
    assert_eq!(m1.body[0], 0x33);
    assert_eq!(bob.decrypt(&m1).unwrap(), b"hello from missive");
    assert_eq!(bob.decrypt(&m2).unwrap(), b"second before any reply");
    let r = bob.encrypt(b"hello from libsignal-node");
    assert!(!r.is_prekey());
    assert_eq!(alice.decrypt(&r).unwrap(), b"hello from libsignal-node");

    let t = traffic_shapes(&mut alice, &mut bob, seed);
    eprintln!("missive initiates v3 (one-time {one_time}): {t:?}");
    assert!(t.a_to_b >= 200 && t.b_to_a >= 200);
}

fn node_initiates(one_time: bool, seed: u64) {
    let mut peer = legacy();
    peer.new_party("alice", ALICE_ACI, 1).unwrap();
    let mut bob = MissiveParty::legacy(BOB_ACI, 2, ALICE_ACI, 1, seed);
    let bundle = bob.bundle(one_time, true);
    peer.process_bundle("alice", BOB_ACI, 2, &bundle).unwrap();
    let mut alice = PeerParty {
        peer: &mut peer,
        party: "alice".into(),
        remote_name: BOB_ACI.into(),
        remote_device: 2,
    };

    let m1 = alice.encrypt(b"hello from libsignal-node");
    let m2 = alice.encrypt(b"second before any reply");
    assert!(m1.is_prekey() && m2.is_prekey());
    assert_eq!(m1.body[0], 0x33);
    assert_eq!(bob.decrypt(&m2).unwrap(), b"second before any reply");
    assert_eq!(bob.decrypt(&m1).unwrap(), b"hello from libsignal-node");
    assert_eq!(bob.session().unwrap().session_version(), Some(3));
    if one_time {
        assert!(bob.store().pre_key_store.is_empty());
    }
    let r = bob.encrypt(b"hello from missive");
    assert_eq!(alice.decrypt(&r).unwrap(), b"hello from missive");

    let t = traffic_shapes(&mut bob, &mut alice, seed);
    eprintln!("libsignal-node initiates v3 (one-time {one_time}): {t:?}");
    assert!(t.a_to_b >= 200 && t.b_to_a >= 200);
}

#[test]
fn missive_initiates_with_one_time_prekey() {
    missive_initiates(true, 101);
}
#[test]
fn missive_initiates_without_one_time_prekey() {
    missive_initiates(false, 102);
}
#[test]
fn node_initiates_with_one_time_prekey() {
    node_initiates(true, 103);
}
#[test]
fn node_initiates_without_one_time_prekey() {
    node_initiates(false, 104);
}

#[test]
fn tampered_messages_rejected_both_ways() {
    let mut peer = legacy();
    peer.new_party("bob", BOB_ACI, 2).unwrap();
    let bundle = peer.make_bundle("bob", true).unwrap();
    let mut alice = MissiveParty::legacy(ALICE_ACI, 1, BOB_ACI, 2, 105);
    alice.process_bundle(&bundle).unwrap();
    let mut bob = PeerParty {
        peer: &mut peer,
        party: "bob".into(),
        remote_name: ALICE_ACI.into(),
        remote_device: 1,
    };

    let m = alice.encrypt(b"first");
    let mut t = m.clone();
    let last = t.body.len() - 1;
    t.body[last] ^= 0x01;
    assert!(
        bob.try_decrypt(&t).is_err(),
        "libsignal-node accepted a flipped MAC"
    );
    assert_eq!(bob.decrypt(&m).unwrap(), b"first");

    let r = bob.encrypt(b"reply");
    let before = alice.record();
    for pos in [1, r.body.len() / 2, r.body.len() - 1] {
        let mut t = r.clone();
        t.body[pos] ^= 0x04;
        assert!(alice.try_decrypt(&t).is_err());
        assert_eq!(before, alice.record());
    }
    assert_eq!(alice.decrypt(&r).unwrap(), b"reply");
    let w = alice.encrypt(b"whisper");
    let mut t = w.clone();
    let pos = t.body.len() - 12;
    t.body[pos] ^= 0x20;
    assert!(bob.try_decrypt(&t).is_err());
    assert_eq!(bob.decrypt(&w).unwrap(), b"whisper");
    send(&mut bob, &mut alice, "next honest one");
}

/// A device on the default `Config` refuses libsignal-node's v3 prekey message with
/// `LegacyRefused`, storing nothing; the same bytes decrypt once the app opts in to X3DH.
#[test]
fn default_config_refuses_v3_prekey_messages() {
    let mut peer = legacy();
    peer.new_party("alice", ALICE_ACI, 1).unwrap();
    let mut bob = MissiveParty::new(BOB_ACI, 2, ALICE_ACI, 1, 106);
    let bundle = bob.bundle(true, true);
    peer.process_bundle("alice", BOB_ACI, 2, &bundle).unwrap();
    let m = peer.encrypt("alice", BOB_ACI, 2, b"legacy hello").unwrap();
    assert!(m.is_prekey());
    assert_eq!(m.body[0], 0x33);
    assert_eq!(
        bob.try_decrypt(&m),
        Err(missive::Error::Protocol(
            missive::ProtocolError::LegacyRefused
        ))
    );
    assert!(bob.session().is_none());
    assert_eq!(bob.stored_identity(), None);
    assert_eq!(bob.store().pre_key_store.len(), 1, "one-time prekey kept");

    let store = bob.device.into_store();
    let config = missive::Config::default().accept_legacy_x3dh(true);
    bob.device =
        missive::Device::with_config(missive::ProtocolAddress::new(BOB_ACI, 2), store, config);
    assert_eq!(bob.try_decrypt(&m).unwrap(), b"legacy hello");
    assert!(bob.store().pre_key_store.is_empty());
}

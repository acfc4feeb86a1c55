//! Harness self-test: each real peer talks to itself through the harness. Proves the
//! drivers, the install step and the JSON plumbing work before missive is involved.

use missive_interop::{CiphertextMessage, Peer, PeerError, PeerKind};
use serde_json::json;

/// Two parties of one peer set up a session from a bundle and exchange messages both
/// ways, including a reply that ratchets and a message delivered out of order.
fn conversation(kind: PeerKind, alice: &str, bob: &str) {
    let mut peer = Peer::spawn(kind).expect("spawn peer");
    let a = peer.new_party("a", alice, 1).expect("alice");
    let b = peer.new_party("b", bob, 2).expect("bob");
    assert_eq!(a.identity_key.len(), 33);
    assert_eq!(a.identity_key[0], 0x05);
    assert_eq!(a.identity_private.len(), 32);
    assert_ne!(a.identity_key, b.identity_key);

    let bundle = peer.make_bundle("b", true).expect("bundle");
    assert_eq!(bundle.device_id, 2);
    assert_eq!(bundle.registration_id, b.registration_id);
    assert_eq!(bundle.identity_key, b.identity_key);
    assert!(bundle.prekey.is_some());
    assert_eq!(bundle.kyber_prekey.is_some(), kind == PeerKind::Client);

    assert!(!peer.has_session("a", bob, 2).expect("has_session"));
    peer.process_bundle("a", bob, 2, &bundle)
        .expect("process bundle");
    assert!(peer.has_session("a", bob, 2).expect("has_session"));

    // Alice speaks first: prekey messages until Bob answers.
    let version_byte = if kind == PeerKind::Client { 0x44 } else { 0x33 };
    let first = peer.encrypt("a", bob, 2, b"hello bob").expect("encrypt");
    assert_eq!(first.message_type, CiphertextMessage::PREKEY);
    assert_eq!(first.body[0], version_byte);
    let second = peer.encrypt("a", bob, 2, b"still there?").expect("encrypt");
    assert!(second.is_prekey());

    assert_eq!(
        peer.decrypt("b", alice, 1, &first).expect("decrypt"),
        b"hello bob"
    );
    assert!(peer.has_session("b", alice, 1).expect("has_session"));

    // Bob answers with ordinary messages; Alice's reply ratchets.
    let reply = peer.encrypt("b", alice, 1, b"hi alice").expect("encrypt");
    assert_eq!(reply.message_type, CiphertextMessage::WHISPER);
    assert_eq!(reply.body[0], version_byte);
    assert_eq!(
        peer.decrypt("a", bob, 2, &reply).expect("decrypt"),
        b"hi alice"
    );

    let third = peer.encrypt("a", bob, 2, b"new chain").expect("encrypt");
    assert_eq!(third.message_type, CiphertextMessage::WHISPER);
    assert_eq!(
        peer.decrypt("b", alice, 1, &third).expect("decrypt"),
        b"new chain"
    );
    // The older prekey message, delivered late, still decrypts (skipped key).
    assert_eq!(
        peer.decrypt("b", alice, 1, &second).expect("decrypt late"),
        b"still there?"
    );

    for i in 0..5u8 {
        let m = peer.encrypt("b", alice, 1, &[i; 100]).expect("encrypt");
        assert_eq!(peer.decrypt("a", bob, 2, &m).expect("decrypt"), [i; 100]);
        let m = peer.encrypt("a", bob, 2, &[i; 3]).expect("encrypt");
        assert_eq!(peer.decrypt("b", alice, 1, &m).expect("decrypt"), [i; 3]);
    }

    // A replayed message is refused, and the driver keeps serving.
    let err = peer
        .decrypt("b", alice, 1, &first)
        .expect_err("replay must fail");
    assert!(matches!(err, PeerError::Rejected { .. }), "{err}");
    let m = peer.encrypt("a", bob, 2, b"after replay").expect("encrypt");
    assert_eq!(
        peer.decrypt("b", alice, 1, &m).expect("decrypt"),
        b"after replay"
    );

    assert!(peer.session_record("a", bob, 2).expect("record").is_some());
    assert!(
        peer.session_record("a", "nobody", 1)
            .expect("record")
            .is_none()
    );
}

#[test]
fn libsignal_client_parties_talk() {
    // ServiceId (ACI uuid) names, as Signal uses them.
    conversation(
        PeerKind::Client,
        "9d0652a3-dcc3-4d11-975f-74d61598733f",
        "796abedb-ca4e-4f18-8803-1fde5b921f9f",
    );
}

#[test]
fn libsignal_client_parties_talk_with_plain_names() {
    conversation(PeerKind::Client, "alice", "bob");
}

#[test]
fn libsignal_node_parties_talk() {
    conversation(PeerKind::Legacy, "alice", "bob");
}

#[test]
fn bad_requests_are_refused_and_the_driver_survives() {
    for kind in [PeerKind::Client, PeerKind::Legacy] {
        let mut peer = Peer::spawn(kind).expect("spawn peer");
        let err = peer
            .call("no_such_command", json!({}))
            .expect_err("unknown command");
        assert!(err.message().contains("unknown command"), "{err}");
        let err = peer
            .call("new_party", json!({"party": "x"}))
            .expect_err("missing args");
        assert!(err.message().contains("missing argument"), "{err}");
        let err = peer
            .call(
                "xeddsa_verify",
                json!({"public": "zz", "message": "", "signature": ""}),
            )
            .expect_err("bad hex");
        assert!(err.message().contains("hex"), "{err}");
        let err = peer
            .call(
                "decrypt",
                json!({"party": "nobody", "remote_name": "x", "remote_device": 1,
                                     "type": 2, "body": "00"}),
            )
            .expect_err("unknown party");
        assert!(err.message().contains("unknown party"), "{err}");
        // Garbage bytes reach the peer itself, which refuses them.
        peer.new_party("a", "alice", 1).expect("alice");
        let err = peer
            .decrypt(
                "a",
                "bob",
                1,
                &CiphertextMessage {
                    message_type: 3,
                    body: vec![0x44, 1, 2],
                },
            )
            .expect_err("garbage");
        assert!(matches!(err, PeerError::Rejected { .. }), "{err}");
        // Still alive.
        peer.call("ping", json!({})).expect("ping after errors");
    }
}

#[test]
fn crypto_oracles_answer() {
    for kind in [PeerKind::Client, PeerKind::Legacy] {
        let mut peer = Peer::spawn(kind).expect("spawn peer");
        let keys = peer.new_party("a", "alice", 1).expect("alice");
        let sig = peer
            .xeddsa_sign(&keys.identity_private, b"message")
            .expect("sign");
        assert_eq!(sig.len(), 64);
        assert!(
            peer.xeddsa_verify(&keys.identity_key, b"message", &sig)
                .expect("verify")
        );
        assert!(
            !peer
                .xeddsa_verify(&keys.identity_key, b"massage", &sig)
                .expect("verify")
        );
    }
    let mut client = Peer::spawn(PeerKind::Client).expect("spawn client");
    let (public, secret) = client.kem_generate().expect("kem");
    assert_eq!((public.len(), public[0]), (1569, 0x08));
    assert_eq!((secret.len(), secret[0]), (3169, 0x08));
    // RFC 5869 test case 3 (no salt, no info).
    let okm = client.hkdf(&[0x0b; 22], None, b"", 42).expect("hkdf");
    assert_eq!(
        hex::encode(okm),
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    );
}

#[test]
fn libsignal_client_group_message_crosses_parties() {
    let mut peer = Peer::spawn(PeerKind::Client).expect("spawn client");
    peer.new_party("a", "alice", 1).expect("alice");
    peer.new_party("b", "bob", 1).expect("bob");
    let dist = "11111111-2222-4333-8444-555555555555";
    let skdm = peer
        .call(
            "sk_distribution",
            json!({"party": "a", "distribution_id": dist}),
        )
        .expect("distribution message");
    peer.call(
        "sk_process",
        json!({"party": "b", "sender_name": "alice", "sender_device": 1, "message": skdm["message"]}),
    )
    .expect("process distribution");
    for text in [&b"first"[..], b"second", b""] {
        let m = peer
            .call(
                "group_encrypt",
                json!({"party": "a", "distribution_id": dist, "plaintext": hex::encode(text)}),
            )
            .expect("group encrypt");
        assert_eq!(m["type"], 7);
        let body = m["body"].as_str().expect("body");
        assert!(
            body.starts_with("33"),
            "sender key messages are version 3: {body}"
        );
        let pt = peer
            .call(
                "group_decrypt",
                json!({"party": "b", "sender_name": "alice", "sender_device": 1, "body": body}),
            )
            .expect("group decrypt");
        assert_eq!(pt["plaintext"], hex::encode(text));
    }
}

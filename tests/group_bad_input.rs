//! Every 1-bit flip and every truncation of both sender-key message kinds is rejected,
//! and every record is byte-identical afterwards; then the honest message still works.

mod group_common;

use group_common::*;
use missive::*;

/// Flips every bit and tries every truncation of a group message; returns how many
/// inputs were refused.
fn hammer_message(bob: &mut Member, from: &ProtocolAddress, bytes: &[u8]) -> usize {
    let before = bob.record(from, GROUP);
    let mut refused = 0;
    for bit in 0..bytes.len() * 8 {
        let mut t = bytes.to_vec();
        t[bit / 8] ^= 1 << (bit % 8);
        assert!(
            bob.recv_bytes(from, &t).is_err(),
            "flip of bit {bit} accepted"
        );
        assert_eq!(
            bob.record(from, GROUP),
            before,
            "flip of bit {bit} changed the record"
        );
        refused += 1;
    }
    for len in 0..bytes.len() {
        assert!(
            bob.recv_bytes(from, &bytes[..len]).is_err(),
            "cut to {len} accepted"
        );
        assert_eq!(
            bob.record(from, GROUP),
            before,
            "cut to {len} changed the record"
        );
        refused += 1;
    }
    // Appending bytes breaks the signature (the last 64 bytes are taken as it).
    let mut long = bytes.to_vec();
    long.push(0);
    assert!(bob.recv_bytes(from, &long).is_err());
    assert_eq!(bob.record(from, GROUP), before);
    refused
}

#[test]
fn every_flip_and_truncation_of_a_group_message() {
    let (mut alice, mut bob) = connected("alice", "bob", 1);
    let a = alice.address.clone();
    let d = alice.distribution(GROUP);
    share(&mut alice, &mut bob, &d);
    // A record with some history: skipped keys, and a used one.
    let ms: Vec<_> = (0..6u8).map(|i| alice.send(GROUP, &[i; 33])).collect();
    bob.recv(&a, &ms[4]).unwrap();
    bob.recv(&a, &ms[1]).unwrap();
    for target in [&ms[5], &ms[2]] {
        let bytes = target.serialized().to_vec();
        let n = hammer_message(&mut bob, &a, &bytes);
        assert_eq!(n, bytes.len() * 9);
        assert_eq!(
            bob.recv_bytes(&a, &bytes).unwrap(),
            vec![target.iteration() as u8; 33]
        );
    }
}

#[test]
fn signed_but_bad_content_changes_nothing() {
    let mut c = Crafted::new(31, 0, 31);
    let (mut bob, a) = crafted_receiver(&c, 1);
    let before = bob.record(&a, GROUP);
    let cases: Vec<(&str, Vec<u8>, Error)> = vec![
        (
            "bad padding",
            c.body(0x33, 3, &[0u8; 16]),
            Error::Protocol(ProtocolError::DecryptionFailed),
        ),
        (
            "15-byte ciphertext",
            c.body(0x33, 3, &[0u8; 15]),
            Error::Protocol(ProtocolError::DecryptionFailed),
        ),
        (
            "empty ciphertext",
            c.body(0x33, 3, &[]),
            Error::Protocol(ProtocolError::DecryptionFailed),
        ),
        (
            "version 2",
            c.body(0x23, 0, &c.encrypt(0, b"v")),
            Error::Decode(DecodeError::LegacyVersion),
        ),
        (
            "version 4",
            c.body(0x43, 0, &c.encrypt(0, b"v")),
            Error::Decode(DecodeError::UnknownVersion),
        ),
        (
            "version byte 0x32",
            c.body(0x32, 0, &c.encrypt(0, b"v")),
            Error::Decode(DecodeError::UnknownVersion),
        ),
        (
            "too far",
            c.body(0x33, 25_001, &c.encrypt(25_001, b"v")),
            Error::Protocol(ProtocolError::TooFarInFuture),
        ),
    ];
    for (what, body, expected) in cases {
        let bytes = c.sign(&body);
        assert_eq!(bob.recv_bytes(&a, &bytes), Err(expected), "{what}");
        assert_eq!(bob.record(&a, GROUP), before, "{what}");
    }
    // Missing fields, each re-signed: a decode error before anything is looked up.
    for skip in 1..=4u32 {
        let mut body = vec![0x33];
        if skip != 1 {
            put_bytes(&mut body, 1, GROUP.as_bytes());
        }
        if skip != 2 {
            put_uint(&mut body, 2, 31);
        }
        if skip != 3 {
            put_uint(&mut body, 3, 0);
        }
        if skip != 4 {
            put_bytes(&mut body, 4, &c.encrypt(0, b"m"));
        }
        let bytes = c.sign(&body);
        assert_eq!(
            bob.recv_bytes(&a, &bytes),
            Err(Error::Decode(DecodeError::MissingField)),
            "without field {skip}"
        );
    }
    // What the peer also accepts: 0x34, fields in another order, unknown fields.
    let ct = c.encrypt(0, b"first");
    let mut body = vec![0x34];
    put_bytes(&mut body, 4, &ct);
    put_uint(&mut body, 9, 1);
    put_uint(&mut body, 3, 0);
    put_uint(&mut body, 2, 31);
    put_bytes(&mut body, 1, GROUP.as_bytes());
    let bytes = c.sign(&body);
    assert_eq!(bob.recv_bytes(&a, &bytes).unwrap(), b"first");
}

#[test]
fn every_flip_and_truncation_of_a_distribution_in_its_session() {
    // Set the session up so that the carrier is an ordinary SignalMessage.
    let (mut alice, mut bob) = connected("alice", "bob", 50);
    let a = alice.address.clone();
    let b = bob.address.clone();

    let skdm = alice.distribution(GROUP);
    let carrier = alice
        .device
        .encrypt(&b, skdm.serialized(), NOW, &mut alice.rng)
        .unwrap();
    assert_eq!(carrier.message_type(), CiphertextMessageType::Whisper);
    let bytes = carrier.serialize().to_vec();

    let snapshot = |p: &Member| (p.session(&a), p.record(&a, GROUP));
    let before = snapshot(&bob);
    assert!(before.0.is_some() && before.1.is_none());
    // The app's receive path: decrypt the 1:1 message, then process what it carried
    // under the sender the session authenticated.
    let whisper = CiphertextMessageType::Whisper;
    for bit in 0..bytes.len() * 8 {
        let mut t = bytes.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        assert!(
            bob.receive_distribution_bytes(&a, whisper, &t).is_err(),
            "flip of bit {bit}"
        );
        assert_eq!(snapshot(&bob), before, "flip of bit {bit}");
    }
    for len in 0..bytes.len() {
        assert!(
            bob.receive_distribution_bytes(&a, whisper, &bytes[..len])
                .is_err(),
            "cut to {len}"
        );
        assert_eq!(snapshot(&bob), before, "cut to {len}");
    }
    bob.receive_distribution_bytes(&a, whisper, &bytes).unwrap();
    let m = alice.send(GROUP, b"works");
    assert_eq!(bob.recv(&a, &m).unwrap(), b"works");
}

#[test]
fn bare_distribution_truncations_and_flips() {
    // On its own a distribution message is not authenticated (that is what the 1:1
    // session is for): every truncation is refused, and a flip either fails to parse or
    // parses to different values, never to the original message.
    let mut alice = Member::new("alice", 1);
    let d = alice.distribution(GROUP);
    let bytes = d.serialized().to_vec();
    for len in 0..bytes.len() {
        assert!(
            SenderKeyDistributionMessage::deserialize(&bytes[..len]).is_err(),
            "cut to {len}"
        );
    }
    let (mut refused, mut different) = (0, 0);
    for bit in 0..bytes.len() * 8 {
        let mut t = bytes.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        match SenderKeyDistributionMessage::deserialize(&t) {
            Err(_) => refused += 1,
            Ok(m) => {
                assert_ne!(m, d);
                assert!(
                    m.distribution_id() != d.distribution_id()
                        || m.chain_id() != d.chain_id()
                        || m.iteration() != d.iteration()
                        || m.chain_key() != d.chain_key()
                        || m.signing_key() != d.signing_key(),
                    "bit {bit}"
                );
                different += 1;
            }
        }
    }
    assert_eq!(refused + different, bytes.len() * 8);
    assert!(refused > 0 && different > 0);
}

#[test]
fn damaged_records_never_panic() {
    let (mut alice, mut bob) = connected("alice", "bob", 1);
    let a = alice.address.clone();
    let d = alice.distribution(GROUP);
    share(&mut alice, &mut bob, &d);
    let ms: Vec<_> = (0..4).map(|_| alice.send(GROUP, b"m")).collect();
    bob.recv(&a, &ms[3]).unwrap();
    let bytes = bob.record(&a, GROUP).unwrap();
    for bit in 0..bytes.len() * 8 {
        let mut t = bytes.clone();
        t[bit / 8] ^= 1 << (bit % 8);
        if let Ok(r) = SenderKeyRecord::deserialize(&t) {
            // Whatever parses serializes back to a record that parses the same.
            let again = r.serialize();
            assert_eq!(
                SenderKeyRecord::deserialize(&again).unwrap().serialize(),
                again
            );
        }
    }
    for len in 0..bytes.len() {
        assert!(
            SenderKeyRecord::deserialize(&bytes[..len]).is_err(),
            "cut to {len}"
        );
    }
}

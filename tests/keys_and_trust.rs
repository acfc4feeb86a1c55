//! Key records round-trip through their versioned serializations and refuse bad bytes;
//! the handshake's checks (signatures, canonical base key, Kyber replay, trust) hold.

mod common;
use common::*;
use missive::crypto::{KemKeyType, PrivateKey, PublicKey};
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore, ReceivePolicy};
use missive::store::{Direction, ProtocolStore};
use missive::*;

/// Every prefix of a serialization, and every single-byte change of its format byte, is
/// refused.
fn refuses_damage<T>(bytes: &[u8], parse: impl Fn(&[u8]) -> Result<T, DecodeError>) {
    for len in 0..bytes.len() {
        assert!(
            parse(&bytes[..len]).is_err(),
            "prefix of {len} of {} bytes accepted",
            bytes.len()
        );
    }
    let mut t = bytes.to_vec();
    t[0] ^= 0x02;
    assert_eq!(parse(&t).err(), Some(DecodeError::UnknownVersion));
    let mut t = bytes.to_vec();
    t.push(0x00);
    assert!(parse(&t).is_err(), "trailing byte accepted");
}

#[test]
fn key_records_round_trip() {
    let mut rng = rng(1);
    let identity = IdentityKeyPair::generate(&mut rng);
    let bytes = identity.serialize();
    let back = IdentityKeyPair::deserialize(&bytes).unwrap();
    assert_eq!(back.identity_key(), identity.identity_key());
    assert_eq!(*back.serialize(), *bytes);
    refuses_damage(&bytes, IdentityKeyPair::deserialize);

    let pk = PreKeyRecord::generate(PreKeyId(7), &mut rng);
    let bytes = pk.serialize();
    let back = PreKeyRecord::deserialize(&bytes).unwrap();
    assert_eq!((back.id(), back.public_key()), (pk.id(), pk.public_key()));
    assert_eq!(*back.serialize(), *bytes);
    refuses_damage(&bytes, PreKeyRecord::deserialize);

    let spk = SignedPreKeyRecord::generate(SignedPreKeyId(9), 12345, &identity, &mut rng);
    assert!(
        identity
            .identity_key()
            .verify_signature(&spk.public_key().serialize(), spk.signature())
    );
    let bytes = spk.serialize();
    let back = SignedPreKeyRecord::deserialize(&bytes).unwrap();
    assert_eq!(back.timestamp(), 12345);
    assert_eq!(*back.serialize(), *bytes);
    refuses_damage(&bytes, SignedPreKeyRecord::deserialize);

    for kind in [KemKeyType::Kyber1024, KemKeyType::MlKem1024] {
        let k = KyberPreKeyRecord::generate(
            kind,
            KyberPreKeyId(3),
            99,
            KyberPreKeyLifetime::LastResort,
            &identity,
            &mut rng,
        );
        assert!(
            identity
                .identity_key()
                .verify_signature(&k.public_key().serialize(), k.signature())
        );
        let bytes = k.serialize();
        let back = KyberPreKeyRecord::deserialize(&bytes).unwrap();
        assert_eq!(back.public_key(), k.public_key());
        assert_eq!(back.public_key().key_type(), kind);
        assert!(back.is_last_resort());
        assert_eq!(*back.serialize(), *bytes);
        refuses_damage(&bytes, KyberPreKeyRecord::deserialize);
    }

    let mut bob = device("bob", 3, &mut rng);
    for (one_time, v3) in [(true, false), (false, false), (true, true)] {
        let bundle = publish(&mut bob, one_time, v3, &mut rng);
        let bytes = bundle.serialize();
        assert_eq!(PreKeyBundle::deserialize(&bytes).unwrap(), bundle);
        refuses_damage(&bytes, PreKeyBundle::deserialize);
    }

    // A record whose public key does not match its private key is refused.
    let other = PrivateKey::generate(&mut rng);
    let mut forged = identity.serialize().to_vec();
    let n = forged.len();
    forged[n - 32..].copy_from_slice(other.to_bytes().as_ref());
    assert_eq!(
        IdentityKeyPair::deserialize(&forged).err(),
        Some(DecodeError::InvalidKey)
    );
}

#[test]
fn session_record_refuses_damage() {
    let mut rng = rng(2);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 1, &mut rng);
    let b = bob.address().clone();
    establish(&mut alice, &mut bob, true, false, &mut rng);
    // Archive a few sessions so the record has several top-level fields.
    for _ in 0..3 {
        establish(&mut alice, &mut bob, true, false, &mut rng);
    }
    let bytes = record_bytes(&alice, &b).unwrap();
    assert_eq!(
        SessionRecord::deserialize(&bytes).unwrap().archived_count(),
        3
    );
    refuses_damage(&bytes, SessionRecord::deserialize);
    let empty = SessionRecord::new().serialize();
    assert!(
        !SessionRecord::deserialize(&empty)
            .unwrap()
            .has_current_session()
    );
}

#[test]
fn bad_bundle_signatures_refused_before_anything() {
    let mut rng = rng(3);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 1, &mut rng);
    let b = bob.address().clone();
    let good = publish(&mut bob, true, false, &mut rng);
    let ident = *good.identity_key();
    let (kid, kpk, ksig) = good.kyber_pre_key().unwrap();
    let mut bad_spk_sig = good.signed_pre_key_signature().to_vec();
    bad_spk_sig[5] ^= 1;
    let mut bad_kyber_sig = ksig.to_vec();
    bad_kyber_sig[63] ^= 0x80;
    let variants = [
        PreKeyBundle::new(
            1,
            1,
            good.pre_key().map(|(i, k)| (i, *k)),
            good.signed_pre_key_id(),
            *good.signed_pre_key(),
            bad_spk_sig,
            ident,
            Some((kid, kpk.clone(), ksig.to_vec())),
        ),
        PreKeyBundle::new(
            1,
            1,
            None,
            good.signed_pre_key_id(),
            *good.signed_pre_key(),
            good.signed_pre_key_signature().to_vec(),
            ident,
            Some((kid, kpk.clone(), bad_kyber_sig)),
        ),
        PreKeyBundle::new(
            1,
            1,
            None,
            good.signed_pre_key_id(),
            *good.signed_pre_key(),
            good.signed_pre_key_signature()[..63].to_vec(),
            ident,
            Some((kid, kpk.clone(), ksig.to_vec())),
        ),
    ];
    let before = snapshot(&alice, &[&b]);
    for v in &variants {
        let err = alice
            .process_prekey_bundle(&b, v, NOW, &mut rng)
            .unwrap_err();
        assert_eq!(err, Error::Protocol(ProtocolError::BadSignature));
        assert!(record_bytes(&alice, &b).is_none());
        assert!(alice.store().identity_store.identity(&b).is_none());
        assert_eq!(before, snapshot(&alice, &[&b]));
    }
}

#[test]
fn non_canonical_base_key_refused() {
    let mut rng = rng(4);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    establish(&mut alice, &mut bob, true, false, &mut rng);
    let m = send(&mut alice, &b, b"x", &mut rng);
    let bytes = m.serialize().to_vec();
    let base = PreKeySignalMessage::deserialize(&bytes)
        .unwrap()
        .base_key()
        .serialize();
    let pos = bytes.windows(33).position(|w| w == base).unwrap();
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let mut one = [0u8; 32];
    one[0] = 1;
    for bad in [p, one, [0u8; 32]] {
        let mut t = bytes.clone();
        t[pos + 1..pos + 33].copy_from_slice(&bad);
        let before = snapshot(&bob, &[&a]);
        let err =
            recv_bytes(&mut bob, &a, CiphertextMessageType::PreKey, &t, &mut rng).unwrap_err();
        assert_eq!(err, Error::Protocol(ProtocolError::NonCanonicalKey));
        assert_eq!(before, snapshot(&bob, &[&a]));
        assert!(!PublicKey::from_u_bytes(bad).is_canonical());
    }
    assert_eq!(recv(&mut bob, &a, &m, &mut rng).unwrap(), b"x");
}

#[test]
fn last_resort_kyber_replay_refused_and_one_time_keys_deleted() {
    let mut rng = rng(5);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    // A signed prekey and a last-resort Kyber prekey, no one-time prekey.
    let spec = BundleSpec::new(next_bundle_id(&bob)).with_last_resort_kyber_pre_key();
    let bundle = bob.store_mut().generate_bundle(&spec, 1, NOW, &mut rng);
    let (kyber_id, _, _) = bundle.kyber_pre_key().unwrap();
    assert!(
        bob.store()
            .kyber_pre_key_store
            .kyber_pre_key(kyber_id)
            .unwrap()
            .is_last_resort()
    );
    start_session(&mut alice, &bundle, &b, &mut rng);
    let m = send(&mut alice, &b, b"once", &mut rng);
    assert_eq!(recv(&mut bob, &a, &m, &mut rng).unwrap(), b"once");
    assert_eq!(
        bob.store().kyber_pre_key_store.len(),
        1,
        "a last-resort key stays"
    );
    assert_eq!(bob.store().kyber_pre_key_store.used_triples(), 1);
    // The session that message built is lost (e.g. the record was reset); a replay of the
    // prekey message must not build a second one.
    bob.store_mut()
        .session_store
        .store_session(&a, SessionRecord::new());
    let before = snapshot(&bob, &[&a]);
    let err = recv(&mut bob, &a, &m, &mut rng).unwrap_err();
    assert_eq!(err, Error::Protocol(ProtocolError::KyberPreKeyReused));
    assert_eq!(before, snapshot(&bob, &[&a]));
    // A new session from the same last-resort key and a new base key is fine.
    start_session(&mut alice, &bundle, &b, &mut rng);
    let m2 = send(&mut alice, &b, b"again", &mut rng);
    assert_eq!(recv(&mut bob, &a, &m2, &mut rng).unwrap(), b"again");
    assert_eq!(bob.store().kyber_pre_key_store.used_triples(), 2);

    // One-time Kyber keys are deleted on use.
    establish(&mut alice, &mut bob, false, false, &mut rng);
    let n = bob.store().kyber_pre_key_store.len();
    let m3 = send(&mut alice, &b, b"one-time", &mut rng);
    assert_eq!(recv(&mut bob, &a, &m3, &mut rng).unwrap(), b"one-time");
    assert_eq!(bob.store().kyber_pre_key_store.len(), n - 1);

    // Recording the use of a Kyber prekey the store no longer has is refused, and the
    // change set is refused whole: its one-time EC prekey stays, no session is written.
    let bundle = publish(&mut bob, true, false, &mut rng);
    let (kyber_id, _, _) = bundle.kyber_pre_key().unwrap();
    start_session(&mut alice, &bundle, &b, &mut rng);
    let m4 = send(&mut alice, &b, b"late", &mut rng);
    let mut capture = Device::new(b.clone(), Capture::new(bob.store()));
    assert_eq!(recv(&mut capture, &a, &m4, &mut rng).unwrap(), b"late");
    let changes = capture.into_store().changes.unwrap();
    let used = changes.kyber_pre_key().unwrap();
    assert_eq!((used.id, used.last_resort), (kyber_id, false));
    assert!(changes.consumed_pre_key().is_some());
    assert!(changes.session().is_some());
    bob.store_mut()
        .kyber_pre_key_store
        .remove_kyber_pre_key(kyber_id);
    let before = snapshot(&bob, &[&a]);
    let err = bob.store_mut().commit(changes).unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Conflict);
    assert_eq!(before, snapshot(&bob, &[&a]));
}

/// Sending to a changed identity is refused until the app saves it (the user accepted
/// the new safety number).
#[test]
fn changed_identity_detected() {
    let mut rng = rng(6);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 1, &mut rng);
    let b = bob.address().clone();
    let first = publish(&mut bob, true, false, &mut rng);
    assert_eq!(
        start_session(&mut alice, &first, &b, &mut rng),
        IdentityChange::New
    );
    // Bob reinstalls: a new identity.
    let mut bob2 = device("bob", 1, &mut rng);
    let bundle2 = publish(&mut bob2, true, false, &mut rng);
    let before = snapshot(&alice, &[&b]);
    let err = alice
        .process_prekey_bundle(&b, &bundle2, NOW, &mut rng)
        .unwrap_err();
    assert_eq!(err, Error::Protocol(ProtocolError::UntrustedIdentity));
    assert_eq!(before, snapshot(&alice, &[&b]));
    // The user accepts the new safety number: the app saves the identity, and it works.
    let change = alice
        .store_mut()
        .identity_store
        .save_identity(&b, bundle2.identity_key());
    assert_eq!(
        change,
        IdentityChange::Replaced {
            previous: *first.identity_key()
        }
    );
    assert_eq!(
        start_session(&mut alice, &bundle2, &b, &mut rng),
        IdentityChange::Unchanged
    );

    // An address with no stored identity is trusted on first use.
    let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 1);
    let k = *IdentityKeyPair::generate(&mut rng).identity_key();
    assert!(
        store
            .is_trusted_identity(&b, &k, Direction::Sending)
            .unwrap()
    );
}

/// Receiving from a changed identity (the identity rule of issue 8): with the default
/// policy the new identity is saved and reported as replaced; a late message that only
/// the old install's session could decrypt then fails and does not write the old
/// identity back. With `RequireApproval` the new identity is refused and nothing changes.
#[test]
fn changed_identity_on_receive() {
    let mut rng = rng(9);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    establish(&mut alice, &mut bob, true, false, &mut rng);
    let m = send(&mut alice, &b, b"first", &mut rng);
    let d = bob
        .decrypt(&a, m.message_type(), m.serialize(), &mut rng)
        .unwrap();
    assert_eq!(d.identity_change, IdentityChange::New);
    assert!(d.new_session);
    let r = send(&mut bob, &a, b"ack", &mut rng);
    recv(&mut alice, &b, &r, &mut rng).unwrap();
    let late = send(&mut alice, &b, b"late, from the old install", &mut rng);
    assert_eq!(late.message_type(), CiphertextMessageType::Whisper);
    let old = *identity(&alice).identity_key();

    // Alice reinstalls: a new identity, a new session.
    let mut alice2 = device("alice", 1, &mut rng);
    let new = *identity(&alice2).identity_key();
    establish(&mut alice2, &mut bob, true, false, &mut rng);
    let m2 = send(&mut alice2, &b, b"new install", &mut rng);

    bob.store_mut()
        .identity_store
        .set_receive_policy(ReceivePolicy::RequireApproval);
    let before = snapshot(&bob, &[&a]);
    assert_eq!(
        recv(&mut bob, &a, &m2, &mut rng).unwrap_err(),
        Error::Protocol(ProtocolError::UntrustedIdentity)
    );
    assert_eq!(before, snapshot(&bob, &[&a]));

    bob.store_mut()
        .identity_store
        .set_receive_policy(ReceivePolicy::AcceptChanges);
    let d = bob
        .decrypt(&a, m2.message_type(), m2.serialize(), &mut rng)
        .unwrap();
    assert_eq!(d.plaintext, b"new install");
    assert_eq!(
        d.identity_change,
        IdentityChange::Replaced { previous: old }
    );
    assert_eq!(d.sender.identity(), &new);
    assert_eq!(bob.store().identity_store.identity(&a), Some(&new));

    let before = snapshot(&bob, &[&a]);
    let err = recv(&mut bob, &a, &late, &mut rng).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol(ProtocolError::DecryptionFailed | ProtocolError::NoSession)
        ),
        "{err:?}"
    );
    assert_eq!(before, snapshot(&bob, &[&a]));
    assert_eq!(bob.store().identity_store.identity(&a), Some(&new));
}

/// v3 only through the legacy entry points: a bundle stripped of its Kyber prekey, or a
/// v3 prekey message, cannot downgrade a v4-only device.
#[test]
fn x3dh_only_through_legacy_entry_points() {
    let mut rng = rng(7);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let v3 = publish(&mut bob, true, true, &mut rng);
    let v4 = publish(&mut bob, true, false, &mut rng);
    let before = snapshot(&alice, &[&b]);
    assert_eq!(
        alice.process_prekey_bundle(&b, &v3, NOW, &mut rng),
        Err(Error::Protocol(ProtocolError::LegacyRefused))
    );
    assert_eq!(
        alice.process_legacy_prekey_bundle(&b, &v4, NOW, &mut rng),
        Err(Error::Misuse(MisuseError::InvalidArgument))
    );
    assert!(record_bytes(&alice, &b).is_none());
    assert_eq!(before, snapshot(&alice, &[&b]));

    // A v3 prekey message offered to a v4-only device, parsed or as bytes.
    start_session(&mut alice, &v3, &b, &mut rng);
    let m3 = send(&mut alice, &b, b"v3", &mut rng);
    let p3 = PreKeySignalMessage::deserialize(m3.serialize()).unwrap();
    assert_eq!(p3.message_version(), 3);
    assert!(!bob.config().legacy_x3dh());
    let before = snapshot(&bob, &[&a]);
    assert_eq!(
        bob.decrypt_prekey_message(&a, &p3, &mut rng).unwrap_err(),
        Error::Protocol(ProtocolError::LegacyRefused)
    );
    assert_eq!(before, snapshot(&bob, &[&a]));
    assert_eq!(
        recv(&mut bob, &a, &m3, &mut rng).unwrap_err(),
        Error::Protocol(ProtocolError::LegacyRefused)
    );
    assert_eq!(before, snapshot(&bob, &[&a]));
    start_session(&mut alice, &v4, &b, &mut rng);
    let m4 = send(&mut alice, &b, b"v4", &mut rng);
    let p4 = PreKeySignalMessage::deserialize(m4.serialize()).unwrap();
    assert_eq!(p4.message_version(), 4);
    // The legacy door is a device that accepts v3 prekey messages (the same store,
    // reopened with that configuration). It takes both: a v4 message is always accepted
    // (the old `decrypt_legacy_prekey_message` refused one with VersionMismatch; there is
    // no v3-only entry point any more).
    let mut bob = Device::with_config(
        b.clone(),
        bob.into_store(),
        Config::default().accept_legacy_x3dh(true),
    );
    assert_eq!(recv(&mut bob, &a, &m3, &mut rng).unwrap(), b"v3");
    assert_eq!(
        bob.decrypt_prekey_message(&a, &p4, &mut rng)
            .unwrap()
            .plaintext,
        b"v4"
    );
    let rec = bob.store().session_store.session(&a).unwrap();
    assert_eq!(rec.session_version(), Some(4));
}

#[test]
fn mismatched_kyber_record_refused_and_triples_pruned() {
    let mut rng = rng(8);
    let identity = IdentityKeyPair::generate(&mut rng);
    let a = KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        KyberPreKeyId(1),
        0,
        KyberPreKeyLifetime::LastResort,
        &identity,
        &mut rng,
    );
    let b = KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        KyberPreKeyId(1),
        0,
        KyberPreKeyLifetime::LastResort,
        &identity,
        &mut rng,
    );
    assert!(a.secret_key().matches(a.public_key()));
    assert!(!a.secret_key().matches(b.public_key()));
    // Splice b's public key into a's record.
    let mut bytes = a.serialize().to_vec();
    let pa = a.public_key().serialize();
    let pos = bytes.windows(pa.len()).position(|w| w == pa).unwrap();
    bytes[pos..pos + pa.len()].copy_from_slice(&b.public_key().serialize());
    assert_eq!(
        KyberPreKeyRecord::deserialize(&bytes).err(),
        Some(DecodeError::InvalidKey)
    );

    // Five sessions from one last-resort Kyber prekey: five remembered triples, all
    // forgotten with the key.
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let spec = BundleSpec::new(1).with_last_resort_kyber_pre_key();
    let bundle = bob.store_mut().generate_bundle(&spec, 1, NOW, &mut rng);
    let (kyber_id, _, _) = bundle.kyber_pre_key().unwrap();
    for i in 0..5u8 {
        start_session(&mut alice, &bundle, &b, &mut rng);
        let m = send(&mut alice, &b, &[i], &mut rng);
        assert_eq!(recv(&mut bob, &a, &m, &mut rng).unwrap(), [i]);
    }
    let store = &mut bob.store_mut().kyber_pre_key_store;
    assert_eq!(store.used_triples(), 5);
    store.remove_kyber_pre_key(kyber_id);
    assert_eq!(store.used_triples(), 0);
    assert!(store.is_empty());
}

//! Key records round-trip through their versioned serializations and refuse bad bytes;
//! the handshake's checks (signatures, canonical base key, Kyber replay, trust) hold.

mod common;
use common::*;
use missive::crypto::{KemKeyType, PrivateKey, PublicKey};
use missive::store::memory::InMemIdentityKeyStore;
use missive::store::{Direction, IdentityChange, IdentityKeyStore, KyberPreKeyStore, SessionStore};
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
        let k = KyberPreKeyRecord::generate(kind, KyberPreKeyId(3), 99, true, &identity, &mut rng);
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

    let mut bob = Party::new("bob", 3, &mut rng);
    for (one_time, v3) in [(true, false), (false, false), (true, true)] {
        let bundle = bob.bundle(one_time, v3, &mut rng);
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
    let mut alice = Party::new("alice", 1, &mut rng);
    let mut bob = Party::new("bob", 1, &mut rng);
    let b = bob.address.clone();
    let bundle = bob.bundle(true, false, &mut rng);
    alice.start_session(&bundle, &b, &mut rng);
    // Archive a few sessions so the record has several top-level fields.
    for _ in 0..3 {
        let bundle = bob.bundle(true, false, &mut rng);
        alice.start_session(&bundle, &b, &mut rng);
    }
    let bytes = alice.record_bytes(&b).unwrap();
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
    let mut alice = Party::new("alice", 1, &mut rng);
    let mut bob = Party::new("bob", 1, &mut rng);
    let b = bob.address.clone();
    let good = bob.bundle(true, false, &mut rng);
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
    for v in &variants {
        let err = process_prekey_bundle(
            v,
            &b,
            &mut alice.store.session_store,
            &mut alice.store.identity_store,
            NOW,
            &mut rng,
        )
        .unwrap_err();
        assert_eq!(err, Error::Protocol(ProtocolError::BadSignature));
        assert!(alice.record_bytes(&b).is_none());
        assert!(alice.store.identity_store.identity(&b).unwrap().is_none());
    }
}

#[test]
fn non_canonical_base_key_refused() {
    let mut rng = rng(4);
    let mut alice = Party::new("alice", 1, &mut rng);
    let mut bob = Party::new("bob", 1, &mut rng);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let bundle = bob.bundle(true, false, &mut rng);
    alice.start_session(&bundle, &b, &mut rng);
    let m = alice.encrypt(&b, b"x", &mut rng);
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
        let before = bob.snapshot(&[&a]);
        let err = bob
            .decrypt_bytes(&a, CiphertextMessageType::PreKey, &t, &mut rng)
            .unwrap_err();
        assert_eq!(err, Error::Protocol(ProtocolError::NonCanonicalKey));
        assert_eq!(before, bob.snapshot(&[&a]));
        assert!(!PublicKey::from_u_bytes(bad).is_canonical());
    }
    assert_eq!(bob.decrypt(&a, &m, &mut rng).unwrap(), b"x");
}

#[test]
fn last_resort_kyber_replay_refused_and_one_time_keys_deleted() {
    let mut rng = rng(5);
    let mut alice = Party::new("alice", 1, &mut rng);
    let mut bob = Party::new("bob", 1, &mut rng);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let identity = bob.identity();
    let spk = SignedPreKeyRecord::generate(SignedPreKeyId(1), NOW.as_millis(), &identity, &mut rng);
    let kyber = KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        KyberPreKeyId(1),
        NOW.as_millis(),
        true,
        &identity,
        &mut rng,
    );
    use missive::store::SignedPreKeyStore;
    bob.store
        .signed_pre_key_store
        .save_signed_pre_key(&spk)
        .unwrap();
    bob.store
        .kyber_pre_key_store
        .save_kyber_pre_key(&kyber)
        .unwrap();
    let bundle = PreKeyBundle::new(
        7,
        1,
        None,
        spk.id(),
        *spk.public_key(),
        spk.signature().to_vec(),
        *identity.identity_key(),
        Some((
            kyber.id(),
            kyber.public_key().clone(),
            kyber.signature().to_vec(),
        )),
    );
    alice.start_session(&bundle, &b, &mut rng);
    let m = alice.encrypt(&b, b"once", &mut rng);
    assert_eq!(bob.decrypt(&a, &m, &mut rng).unwrap(), b"once");
    assert_eq!(
        bob.store.kyber_pre_key_store.len(),
        1,
        "a last-resort key stays"
    );
    // The session that message built is lost (e.g. the record was reset); a replay of the
    // prekey message must not build a second one.
    bob.store
        .session_store
        .store_session(&a, &SessionRecord::new())
        .unwrap();
    let before = bob.snapshot(&[&a]);
    let err = bob.decrypt(&a, &m, &mut rng).unwrap_err();
    assert_eq!(err, Error::Protocol(ProtocolError::KyberPreKeyReused));
    assert_eq!(before, bob.snapshot(&[&a]));
    // A new session from the same last-resort key and a new base key is fine.
    alice.start_session(&bundle, &b, &mut rng);
    let m2 = alice.encrypt(&b, b"again", &mut rng);
    assert_eq!(bob.decrypt(&a, &m2, &mut rng).unwrap(), b"again");

    // One-time Kyber keys are deleted on use.
    let bundle = bob.bundle(false, false, &mut rng);
    let n = bob.store.kyber_pre_key_store.len();
    alice.start_session(&bundle, &b, &mut rng);
    let m3 = alice.encrypt(&b, b"one-time", &mut rng);
    assert_eq!(bob.decrypt(&a, &m3, &mut rng).unwrap(), b"one-time");
    assert_eq!(bob.store.kyber_pre_key_store.len(), n - 1);
    let _ = bob
        .store
        .kyber_pre_key_store
        .mark_kyber_pre_key_used(
            KyberPreKeyId(999),
            SignedPreKeyId(1),
            &PublicKey::from_u_bytes([9; 32]),
        )
        .unwrap_err();
}

#[test]
fn changed_identity_detected() {
    let mut rng = rng(6);
    let mut alice = Party::new("alice", 1, &mut rng);
    let mut bob = Party::new("bob", 1, &mut rng);
    let b = bob.address.clone();
    let bundle = bob.bundle(true, false, &mut rng);
    alice.start_session(&bundle, &b, &mut rng);
    // Bob reinstalls: a new identity.
    let mut bob2 = Party::new("bob", 1, &mut rng);
    let bundle2 = bob2.bundle(true, false, &mut rng);
    let err = process_prekey_bundle(
        &bundle2,
        &b,
        &mut alice.store.session_store,
        &mut alice.store.identity_store,
        NOW,
        &mut rng,
    )
    .unwrap_err();
    assert_eq!(err, Error::Protocol(ProtocolError::UntrustedIdentity));
    // The user accepts the new safety number: the app saves the identity, and it works.
    let change = alice
        .store
        .identity_store
        .save_identity(&b, bundle2.identity_key())
        .unwrap();
    assert_eq!(change, IdentityChange::ReplacedExisting);
    alice.start_session(&bundle2, &b, &mut rng);
    let _ = bob.address;

    let store = InMemIdentityKeyStore::new(IdentityKeyPair::generate(&mut rng), 1);
    let k = *IdentityKeyPair::generate(&mut rng).identity_key();
    assert!(
        store
            .is_trusted_identity(&b, &k, Direction::Sending)
            .unwrap()
    );
}

/// v3 only through the legacy entry points: a bundle stripped of its Kyber prekey, or a
/// v3 prekey message, cannot downgrade a v4-only caller.
#[test]
fn x3dh_only_through_legacy_entry_points() {
    let mut rng = rng(7);
    let mut alice = Party::new("alice", 1, &mut rng);
    let mut bob = Party::new("bob", 1, &mut rng);
    let (a, b) = (alice.address.clone(), bob.address.clone());
    let v3 = bob.bundle(true, true, &mut rng);
    let v4 = bob.bundle(true, false, &mut rng);
    let s = &mut alice.store;
    assert_eq!(
        process_prekey_bundle(
            &v3,
            &b,
            &mut s.session_store,
            &mut s.identity_store,
            NOW,
            &mut rng
        ),
        Err(Error::Protocol(ProtocolError::LegacyRefused))
    );
    assert_eq!(
        process_legacy_prekey_bundle(
            &v4,
            &b,
            &mut s.session_store,
            &mut s.identity_store,
            NOW,
            &mut rng
        ),
        Err(Error::Misuse(MisuseError::InvalidArgument))
    );
    assert!(alice.record_bytes(&b).is_none());

    // A v3 prekey message offered to the v4 entry point, and the reverse.
    alice.start_session(&v3, &b, &mut rng);
    let m3 = alice.encrypt(&b, b"v3", &mut rng);
    let p3 = PreKeySignalMessage::deserialize(m3.serialize()).unwrap();
    let before = bob.snapshot(&[&a]);
    let st = &mut bob.store;
    assert_eq!(
        decrypt_prekey_message(
            &p3,
            &a,
            &b,
            &mut st.session_store,
            &mut st.identity_store,
            &mut st.pre_key_store,
            &st.signed_pre_key_store,
            &mut st.kyber_pre_key_store,
            &mut rng
        ),
        Err(Error::Protocol(ProtocolError::LegacyRefused))
    );
    assert_eq!(before, bob.snapshot(&[&a]));
    alice.start_session(&v4, &b, &mut rng);
    let m4 = alice.encrypt(&b, b"v4", &mut rng);
    let p4 = PreKeySignalMessage::deserialize(m4.serialize()).unwrap();
    let st = &mut bob.store;
    assert_eq!(
        decrypt_legacy_prekey_message(
            &p4,
            &a,
            &b,
            &mut st.session_store,
            &mut st.identity_store,
            &mut st.pre_key_store,
            &st.signed_pre_key_store,
            &mut rng
        ),
        Err(Error::Protocol(ProtocolError::VersionMismatch))
    );
    assert_eq!(before, bob.snapshot(&[&a]));
    // Through the right doors both work.
    assert_eq!(bob.decrypt(&a, &m3, &mut rng).unwrap(), b"v3");
    assert_eq!(bob.decrypt(&a, &m4, &mut rng).unwrap(), b"v4");
}

#[test]
fn mismatched_kyber_record_refused_and_triples_pruned() {
    let mut rng = rng(8);
    let identity = IdentityKeyPair::generate(&mut rng);
    let a = KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        KyberPreKeyId(1),
        0,
        true,
        &identity,
        &mut rng,
    );
    let b = KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        KyberPreKeyId(1),
        0,
        true,
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

    let mut store = missive::store::memory::InMemKyberPreKeyStore::new();
    store.save_kyber_pre_key(&a).unwrap();
    for i in 0..5u8 {
        store
            .mark_kyber_pre_key_used(a.id(), SignedPreKeyId(1), &PublicKey::from_u_bytes([i; 32]))
            .unwrap();
    }
    assert_eq!(store.used_triples(), 5);
    store.remove_kyber_pre_key(a.id());
    assert_eq!(store.used_triples(), 0);
    assert!(store.is_empty());
}

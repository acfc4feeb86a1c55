//! Unit tests of the key types' accessors, signature check and record parsing, so that
//! the fast mutation selection (`--lib`, docs/MUTANTS.md) sees them.

use alloc::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{IdentityKeyPair, KyberPreKeyId, KyberPreKeyLifetime, KyberPreKeyRecord};
use super::{PreKeyBundle, PreKeyId, PreKeyRecord, SignedPreKeyId, SignedPreKeyRecord};
use crate::crypto::{KemKeyType, KeyPair};
use crate::error::DecodeError;
use crate::wire::proto::{put_bytes, put_uint, write_record};

/// A Kyber1024 prekey signed by `identity`.
fn kyber_prekey(
    id: u32,
    timestamp: u64,
    lifetime: KyberPreKeyLifetime,
    identity: &IdentityKeyPair,
    rng: &mut ChaCha20Rng,
) -> KyberPreKeyRecord {
    KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        KyberPreKeyId(id),
        timestamp,
        lifetime,
        identity,
        rng,
    )
}

#[test]
fn verify_signature_accepts_only_the_signed_message_and_signer() {
    let mut rng = ChaCha20Rng::seed_from_u64(41);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let sig = alice.sign(b"message", &mut rng);
    assert!(alice.identity_key().verify_signature(b"message", &sig));
    assert!(!alice.identity_key().verify_signature(b"messagf", &sig));
    assert!(!bob.identity_key().verify_signature(b"message", &sig));
    let mut flipped = sig;
    flipped[10] ^= 1;
    assert!(!alice.identity_key().verify_signature(b"message", &flipped));
    assert!(
        !alice
            .identity_key()
            .verify_signature(b"message", &sig[..63])
    );
}

#[test]
fn bundle_and_kyber_prekey_accessors_read_back() {
    let mut rng = ChaCha20Rng::seed_from_u64(42);
    let identity = IdentityKeyPair::generate(&mut rng);
    let kyber = kyber_prekey(
        9,
        1_700_000_000_123,
        KyberPreKeyLifetime::OneTime,
        &identity,
        &mut rng,
    );
    assert_eq!(kyber.timestamp(), 1_700_000_000_123);
    let back = KyberPreKeyRecord::deserialize(&kyber.serialize()).unwrap();
    assert_eq!(back.timestamp(), 1_700_000_000_123);

    let signed = SignedPreKeyRecord::generate(SignedPreKeyId(3), 0, &identity, &mut rng);
    let bundle = PreKeyBundle::new(
        4321,
        7,
        None,
        signed.id(),
        *signed.public_key(),
        signed.signature().to_vec(),
        *identity.identity_key(),
        Some((
            KyberPreKeyId(9),
            kyber.public_key().clone(),
            kyber.signature().to_vec(),
        )),
    );
    assert_eq!(bundle.device_id(), 7);
    assert_eq!(bundle.registration_id(), 4321);
    let back = PreKeyBundle::deserialize(&bundle.serialize()).unwrap();
    assert_eq!(back.device_id(), 7);
}

#[test]
fn records_round_trip_every_field() {
    let mut rng = ChaCha20Rng::seed_from_u64(43);
    let identity = IdentityKeyPair::generate(&mut rng);
    let back = IdentityKeyPair::deserialize(&identity.serialize()).unwrap();
    assert_eq!(back.identity_key(), identity.identity_key());
    assert_eq!(*back.serialize(), *identity.serialize());

    let one_time = PreKeyRecord::generate(PreKeyId(77), &mut rng);
    let back = PreKeyRecord::deserialize(&one_time.serialize()).unwrap();
    assert_eq!(back.id(), PreKeyId(77));
    assert_eq!(back.public_key(), one_time.public_key());
    assert_eq!(*back.serialize(), *one_time.serialize());

    let signed =
        SignedPreKeyRecord::generate(SignedPreKeyId(5), 1_650_000_000_987, &identity, &mut rng);
    assert_eq!(signed.timestamp(), 1_650_000_000_987);
    let back = SignedPreKeyRecord::deserialize(&signed.serialize()).unwrap();
    assert_eq!(back.id(), SignedPreKeyId(5));
    assert_eq!(back.timestamp(), 1_650_000_000_987);
    assert_eq!(back.public_key(), signed.public_key());
    assert_eq!(back.signature(), signed.signature());
    assert_eq!(*back.serialize(), *signed.serialize());

    for lifetime in [
        KyberPreKeyLifetime::OneTime,
        KyberPreKeyLifetime::LastResort,
    ] {
        let kyber = kyber_prekey(12, 1_600_000_000_321, lifetime, &identity, &mut rng);
        let back = KyberPreKeyRecord::deserialize(&kyber.serialize()).unwrap();
        assert_eq!(back.id(), KyberPreKeyId(12));
        assert_eq!(back.timestamp(), 1_600_000_000_321);
        assert_eq!(back.public_key(), kyber.public_key());
        assert_eq!(back.signature(), kyber.signature());
        assert_eq!(back.is_last_resort(), kyber.is_last_resort());
        assert_eq!(*back.serialize(), *kyber.serialize());
    }
}

/// A record whose public key is not the private key's is refused, and so is one without
/// its private key.
#[test]
fn records_whose_public_key_does_not_match_are_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(44);
    let identity = IdentityKeyPair::generate(&mut rng);
    let other = KeyPair::generate(&mut rng);
    let private = identity.private_key().to_bytes();

    let ik = |public: &[u8], private: Option<&[u8]>| {
        IdentityKeyPair::deserialize(&write_record(80, |out| {
            put_bytes(out, 1, public);
            if let Some(p) = private {
                put_bytes(out, 2, p);
            }
        }))
        .err()
    };
    let own = identity.identity_key().serialize();
    assert_eq!(ik(&own, Some(private.as_ref())), None);
    let wrong = other.public_key().serialize();
    assert_eq!(
        ik(&wrong, Some(private.as_ref())),
        Some(DecodeError::InvalidKey)
    );
    assert_eq!(ik(&own, None), Some(DecodeError::MissingField));

    let pre_key = |public: &[u8]| {
        PreKeyRecord::deserialize(&write_record(80, |out| {
            put_uint(out, 1, 3);
            put_bytes(out, 2, public);
            put_bytes(out, 3, private.as_ref());
        }))
        .err()
    };
    assert_eq!(pre_key(&own), None);
    assert_eq!(pre_key(&wrong), Some(DecodeError::InvalidKey));

    let signed = |public: &[u8]| {
        SignedPreKeyRecord::deserialize(&write_record(160, |out| {
            put_uint(out, 1, 3);
            put_uint(out, 2, 1000);
            put_bytes(out, 3, public);
            put_bytes(out, 4, private.as_ref());
            put_bytes(out, 5, &[7; 64]);
        }))
        .err()
    };
    assert_eq!(signed(&own), None);
    assert_eq!(signed(&wrong), Some(DecodeError::InvalidKey));
}

/// A bundle round-trips with each combination of its optional prekeys, and one that
/// carries half of an optional prekey is refused.
#[test]
fn bundles_round_trip_with_and_without_optional_prekeys() {
    let mut rng = ChaCha20Rng::seed_from_u64(45);
    let identity = IdentityKeyPair::generate(&mut rng);
    let signed = SignedPreKeyRecord::generate(SignedPreKeyId(8), 0, &identity, &mut rng);
    let one_time = PreKeyRecord::generate(PreKeyId(31), &mut rng);
    let kyber = kyber_prekey(64, 0, KyberPreKeyLifetime::OneTime, &identity, &mut rng);
    for (with_pre_key, with_kyber) in [(false, false), (true, false), (false, true), (true, true)] {
        let bundle = PreKeyBundle::new(
            999,
            3,
            with_pre_key.then(|| (PreKeyId(31), *one_time.public_key())),
            signed.id(),
            *signed.public_key(),
            signed.signature().to_vec(),
            *identity.identity_key(),
            with_kyber.then(|| {
                (
                    KyberPreKeyId(64),
                    kyber.public_key().clone(),
                    kyber.signature().to_vec(),
                )
            }),
        );
        let back = PreKeyBundle::deserialize(&bundle.serialize()).unwrap();
        assert_eq!(back.registration_id(), 999);
        assert_eq!(back.device_id(), 3);
        assert_eq!(
            back.pre_key(),
            with_pre_key.then_some((PreKeyId(31), one_time.public_key()))
        );
        assert_eq!(back.signed_pre_key_id(), SignedPreKeyId(8));
        assert_eq!(back.signed_pre_key(), signed.public_key());
        assert_eq!(back.signed_pre_key_signature(), signed.signature());
        assert_eq!(back.identity_key(), identity.identity_key());
        assert_eq!(
            back.kyber_pre_key(),
            with_kyber.then_some((
                KyberPreKeyId(64),
                kyber.public_key(),
                &kyber.signature()[..]
            ))
        );
        assert_eq!(back.serialize(), bundle.serialize());
    }

    // Half of an optional prekey: the required fields, then one or two of its fields.
    let required = |out: &mut Vec<u8>| {
        put_uint(out, 1, 999);
        put_uint(out, 2, 3);
        put_uint(out, 5, 8);
        put_bytes(out, 6, &signed.public_key().serialize());
        put_bytes(out, 7, signed.signature());
        put_bytes(out, 8, &identity.identity_key().serialize());
    };
    let parse = |extra: &dyn Fn(&mut Vec<u8>)| {
        PreKeyBundle::deserialize(&write_record(1800, |out| {
            required(out);
            extra(out);
        }))
        .err()
    };
    assert_eq!(parse(&|_| {}), None);
    assert_eq!(
        parse(&|out| put_uint(out, 3, 31)),
        Some(DecodeError::MissingField)
    );
    assert_eq!(
        parse(&|out| put_bytes(out, 4, &one_time.public_key().serialize())),
        Some(DecodeError::MissingField)
    );
    assert_eq!(
        parse(&|out| {
            put_uint(out, 9, 64);
            put_bytes(out, 10, &kyber.public_key().serialize());
        }),
        Some(DecodeError::MissingField)
    );
    assert_eq!(
        parse(&|out| put_bytes(out, 11, kyber.signature())),
        Some(DecodeError::MissingField)
    );
}

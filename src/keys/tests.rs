//! Unit tests of the key types' accessors and signature check, so that the fast mutation
//! selection (`--lib`, docs/MUTANTS.md) sees them.

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::{IdentityKeyPair, KyberPreKeyId, KyberPreKeyLifetime, KyberPreKeyRecord};
use super::{PreKeyBundle, SignedPreKeyId, SignedPreKeyRecord};
use crate::crypto::KemKeyType;

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
    let kyber = KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        KyberPreKeyId(9),
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

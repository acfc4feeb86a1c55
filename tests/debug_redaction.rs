//! The `Debug` output of every type that holds a secret, pinned: it shows ids, public
//! keys and counts, never private key bytes (in hex or in decimal).

use missive::__fuzz::SpqrState;
use missive::crypto::{KemKeyPair, KemKeyType, KeyPair, PrivateKey};
use missive::store::memory::InMemSignalProtocolStore;
use missive::store::{KyberPreKeyStore, PreKeyStore, SignedPreKeyStore};
use missive::{
    IdentityKeyPair, KyberPreKeyId, KyberPreKeyRecord, PreKeyId, PreKeyRecord, SessionRecord,
    SignedPreKeyId, SignedPreKeyRecord,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const SECRET: [u8; 32] = [0x42; 32];

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The pinned output, and no trace of `secret` in either form of `{:?}` or `{:#?}`.
fn pinned(value: &dyn std::fmt::Debug, secret: &[u8], expected: &str) {
    let out = format!("{value:?}");
    assert_eq!(out, expected);
    for form in [out, format!("{value:#?}")] {
        assert!(!form.contains(&hex(secret)), "hex of the secret in {form}");
        let decimal = format!("{:?}", &secret[..8]);
        assert!(
            !form.contains(&decimal[1..decimal.len() - 1]),
            "decimal secret in {form}"
        );
    }
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(7)
}

#[test]
fn curve25519_keys() {
    let k = PrivateKey::from_bytes(&SECRET);
    let secret = *k.to_bytes();
    let public = hex(&k.public_key().serialize()[1..]);
    pinned(&k, &secret, "PrivateKey(<redacted>)");
    let pair = KeyPair::from_private(k);
    pinned(
        &pair,
        &secret,
        &format!("KeyPair {{ public_key: PublicKey({public}), .. }}"),
    );
    let shared = pair
        .private_key
        .diffie_hellman(&PrivateKey::generate(&mut rng()).public_key());
    let shared = shared.unwrap();
    pinned(&shared, shared.as_bytes(), "SharedSecret(<redacted>)");
    let identity = IdentityKeyPair::from_private_key(PrivateKey::from_bytes(&SECRET));
    pinned(
        &identity,
        &secret,
        &format!("IdentityKeyPair {{ identity_key: IdentityKey(PublicKey({public})), .. }}"),
    );
}

#[test]
fn kem_keys() {
    let mut rng = rng();
    let pair = KemKeyPair::generate(KemKeyType::Kyber1024, &mut rng);
    let sk = pair.secret_key.serialize();
    let secret = &sk[1..33];
    pinned(&pair.secret_key, secret, "KemSecretKey(<redacted>)");
    pinned(
        &pair,
        secret,
        "KemKeyPair { public_key: KemPublicKey { key_type: Kyber1024, .. }, .. }",
    );
    let (_, shared) = pair.public_key.encapsulate(&mut rng);
    pinned(&shared, shared.as_bytes(), "KemSharedSecret(<redacted>)");
}

#[test]
fn prekey_records_and_stores() {
    let mut rng = rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let pair = KeyPair::from_private(PrivateKey::from_bytes(&SECRET));
    let secret = *pair.private_key.to_bytes();
    let public = hex(&pair.public_key.serialize()[1..]);
    let pk = PreKeyRecord::new(PreKeyId(5), pair);
    pinned(
        &pk,
        &secret,
        &format!("PreKeyRecord {{ id: PreKeyId(5), public_key: PublicKey({public}), .. }}"),
    );
    let spk = SignedPreKeyRecord::generate(SignedPreKeyId(6), 1234, &identity, &mut rng);
    let spk_secret = *spk.key_pair().private_key.to_bytes();
    let spk_public = hex(&spk.public_key().serialize()[1..]);
    pinned(
        &spk,
        &spk_secret,
        &format!(
            "SignedPreKeyRecord {{ id: SignedPreKeyId(6), timestamp: 1234, \
             public_key: PublicKey({spk_public}), .. }}"
        ),
    );
    let kyber = KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        KyberPreKeyId(7),
        99,
        true,
        &identity,
        &mut rng,
    );
    let kyber_secret = kyber.secret_key().serialize()[1..33].to_vec();
    pinned(
        &kyber,
        &kyber_secret,
        "KyberPreKeyRecord { id: KyberPreKeyId(7), timestamp: 99, key_type: Kyber1024, \
         last_resort: true, .. }",
    );

    let identity_secret = *identity.private_key().to_bytes();
    let identity_public = hex(&identity.public_key().serialize()[1..]);
    let mut store = InMemSignalProtocolStore::new(identity, 77);
    store.pre_key_store.save_pre_key(&pk).unwrap();
    store
        .signed_pre_key_store
        .save_signed_pre_key(&spk)
        .unwrap();
    store
        .kyber_pre_key_store
        .save_kyber_pre_key(&kyber)
        .unwrap();
    let expected = format!(
        "InMemSignalProtocolStore {{ \
         identity_store: InMemIdentityKeyStore {{ identity: IdentityKey(PublicKey({identity_public})), \
         registration_id: 77, known: 0 }}, \
         pre_key_store: InMemPreKeyStore {{ ids: [PreKeyId(5)] }}, \
         signed_pre_key_store: InMemSignedPreKeyStore {{ ids: [SignedPreKeyId(6)] }}, \
         kyber_pre_key_store: InMemKyberPreKeyStore {{ ids: [KyberPreKeyId(7)], used_triples: 0 }}, \
         session_store: InMemSessionStore {{ sessions: {{}}, max_archived: 40 }}, \
         sender_key_store: InMemSenderKeyStore {{ records: {{}} }} }}"
    );
    for secret in [&identity_secret[..], &secret, &spk_secret, &kyber_secret] {
        pinned(&store, secret, &expected);
    }
}

#[test]
fn session_state() {
    pinned(
        &SessionRecord::new(),
        &SECRET,
        "SessionRecord { current_version: None, archived: 0, .. }",
    );
    let spqr = SpqrState::new(&SECRET, true);
    let state = spqr.serialize();
    pinned(
        &spqr,
        &state[2..34],
        "SpqrState { role: Initiator, epoch: 1, send_index: 0, recv_index: 0, skipped: 0, .. }",
    );
}

//! The `Debug` output of every type that holds a secret, pinned: it shows ids, public
//! keys and counts, never private key bytes (in hex or in decimal).

use missive::__fuzz::SpqrState;
use missive::crypto::{KemKeyPair, KemKeyType, KeyPair, PrivateKey};
use missive::store::memory::{InMemSenderKeyStore, InMemSignalProtocolStore};
use missive::store::{KyberPreKeyStore, PreKeyStore, SenderKeyStore, SignedPreKeyStore};
use missive::{
    DistributionId, IdentityKeyPair, KyberPreKeyId, KyberPreKeyRecord, PreKeyId, PreKeyRecord,
    ProtocolAddress, SenderKeyRecord, SessionRecord, SignedPreKeyId, SignedPreKeyRecord,
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

/// The length-delimited fields `(number, bytes)` of a protobuf, skipping varints.
fn len_fields(mut b: &[u8]) -> Vec<(u64, &[u8])> {
    fn varint(b: &mut &[u8]) -> u64 {
        let mut v = 0;
        for i in 0.. {
            let (x, rest) = b.split_first().unwrap();
            *b = rest;
            v |= u64::from(x & 0x7f) << (7 * i);
            if x & 0x80 == 0 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !b.is_empty() {
        let key = varint(&mut b);
        if key & 7 == 0 {
            varint(&mut b);
        } else {
            let len = varint(&mut b) as usize;
            out.push((key >> 3, &b[..len]));
            b = &b[len..];
        }
    }
    out
}

/// Every secret of a serialized SenderKeyRecord: chain keys, private signing keys and
/// stored seeds (docs/PROTOCOL.md §11.6).
fn sender_key_secrets(record: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (_, state) in len_fields(&record[1..]) {
        for (n, v) in len_fields(state) {
            match n {
                3 | 5 => out.push(v.to_vec()),
                6 => out.extend(
                    len_fields(v)
                        .into_iter()
                        .filter(|f| f.0 == 2)
                        .map(|f| f.1.to_vec()),
                ),
                _ => {}
            }
        }
    }
    out
}

#[test]
fn sender_keys() {
    let mut rng = rng();
    let group = DistributionId::from_bytes([0x11; 16]);
    let alice = ProtocolAddress::new("alice", 1);
    let (mut ours, mut theirs) = (InMemSenderKeyStore::new(), InMemSenderKeyStore::new());
    let d = missive::create_sender_key_distribution_message(&alice, group, &mut ours, &mut rng)
        .unwrap();
    missive::process_sender_key_distribution_message(&alice, &d, &mut theirs).unwrap();
    let sent: Vec<_> = (0..4u8)
        .map(|i| missive::group_encrypt(&alice, group, &[i], &mut ours, &mut rng).unwrap())
        .collect();
    missive::group_decrypt(&sent[3], &alice, &mut theirs).unwrap();

    let key = hex(&d.signing_key().serialize()[1..]);
    let chain = d.chain_id();
    pinned(
        &d,
        d.chain_key(),
        &format!(
            "SenderKeyDistributionMessage {{ distribution_id: \
             DistributionId(11111111-1111-1111-1111-111111111111), chain_id: {chain}, \
             iteration: 0, signing_key: PublicKey({key}), .. }}"
        ),
    );

    let own = ours.load_sender_key(&alice, group).unwrap().unwrap();
    let member = theirs.load_sender_key(&alice, group).unwrap().unwrap();
    let own_secrets = sender_key_secrets(&own.serialize());
    let member_secrets = sender_key_secrets(&member.serialize());
    // Chain key and private key; chain key and three stored seeds.
    assert_eq!((own_secrets.len(), member_secrets.len()), (2, 4));
    let own_debug = format!(
        "SenderKeyRecord {{ states: [SenderKeyState {{ chain_id: {chain}, iteration: 4, \
         signing_key: PublicKey({key}), has_private_key: true, skipped: 0, .. }}] }}"
    );
    let member_debug = format!(
        "SenderKeyRecord {{ states: [SenderKeyState {{ chain_id: {chain}, iteration: 4, \
         signing_key: PublicKey({key}), has_private_key: false, skipped: 3, .. }}] }}"
    );
    for secret in &own_secrets {
        pinned(&own, secret, &own_debug);
    }
    for secret in &member_secrets {
        pinned(&member, secret, &member_debug);
    }

    // A store holding both: the sender's own record under Bob's name, for the test.
    let bob = ProtocolAddress::new("bob", 1);
    theirs.store_sender_key(&bob, group, &own).unwrap();
    let id = "DistributionId(11111111-1111-1111-1111-111111111111)";
    let expected = format!(
        "InMemSenderKeyStore {{ records: {{\
         (ProtocolAddress(alice.1), {id}): {member_debug}, \
         (ProtocolAddress(bob.1), {id}): {own_debug}}} }}"
    );
    for secret in own_secrets.iter().chain(&member_secrets) {
        pinned(&theirs, secret, &expected);
    }
    assert_eq!(
        format!("{:?}", SenderKeyRecord::new()),
        "SenderKeyRecord { states: [] }"
    );
}

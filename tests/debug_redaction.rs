//! The `Debug` output of every type that holds a secret, pinned: it shows ids, public
//! keys and counts, never private key bytes (in hex or in decimal).

mod common;

use missive::__fuzz::SpqrState;
use missive::crypto::xeddsa::{SigningKey, VerifyingKey};
use missive::crypto::{KemKeyPair, KemKeyType, KeyPair, PrivateKey};
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::{
    Config, Device, DistributionId, IdentityKeyPair, KyberPreKeyId, KyberPreKeyLifetime,
    KyberPreKeyRecord, PreKeyId, PreKeyRecord, ProtocolAddress, SenderKeyDistributionMessage,
    SenderKeyRecord, SessionRecord, SignedPreKeyId, SignedPreKeyRecord,
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
        .private_key()
        .diffie_hellman(&PrivateKey::generate(&mut rng()).public_key());
    let shared = shared.unwrap();
    pinned(&shared, shared.as_bytes(), "SharedSecret(<redacted>)");
    let signing = SigningKey::new(PrivateKey::from_bytes(&SECRET));
    pinned(
        &signing,
        &secret,
        &format!("SigningKey {{ public: PublicKey({public}), .. }}"),
    );
    pinned(
        &VerifyingKey::new(signing.public_key()),
        &secret,
        &format!("VerifyingKey(PublicKey({public}))"),
    );
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
    let sk = pair.secret_key().serialize();
    let secret = &sk[1..33];
    pinned(pair.secret_key(), secret, "KemSecretKey(<redacted>)");
    pinned(
        &pair,
        secret,
        "KemKeyPair { public_key: KemPublicKey { key_type: Kyber1024, .. }, .. }",
    );
    let (_, shared) = pair.public_key().encapsulate(&mut rng);
    pinned(&shared, shared.as_bytes(), "KemSharedSecret(<redacted>)");
}

#[test]
fn prekey_records_and_stores() {
    let mut rng = rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let pair = KeyPair::from_private(PrivateKey::from_bytes(&SECRET));
    let secret = *pair.private_key().to_bytes();
    let public = hex(&pair.public_key().serialize()[1..]);
    let pk = PreKeyRecord::new(PreKeyId(5), pair);
    pinned(
        &pk,
        &secret,
        &format!("PreKeyRecord {{ id: PreKeyId(5), public_key: PublicKey({public}), .. }}"),
    );
    let spk = SignedPreKeyRecord::generate(SignedPreKeyId(6), 1234, &identity, &mut rng);
    let spk_secret = *spk.key_pair().private_key().to_bytes();
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
        KyberPreKeyLifetime::LastResort,
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
    store.pre_key_store.save_pre_key(pk);
    store.signed_pre_key_store.save_signed_pre_key(spk);
    store.kyber_pre_key_store.save_kyber_pre_key(kyber);
    let expected = format!(
        "InMemSignalProtocolStore {{ \
         identity_store: InMemIdentityKeyStore {{ identity: IdentityKey(PublicKey({identity_public})), \
         registration_id: 77, known: 0, policy: AcceptChanges }}, \
         pre_key_store: InMemPreKeyStore {{ ids: [PreKeyId(5)] }}, \
         signed_pre_key_store: InMemSignedPreKeyStore {{ ids: [SignedPreKeyId(6)] }}, \
         kyber_pre_key_store: InMemKyberPreKeyStore {{ ids: [KyberPreKeyId(7)], used_triples: 0 }}, \
         session_store: InMemSessionStore {{ sessions: {{}} }}, \
         sender_key_store: InMemSenderKeyStore {{ records: {{}} }} }}"
    );
    let secrets = [&identity_secret[..], &secret, &spk_secret, &kyber_secret];
    for secret in secrets {
        pinned(&store, secret, &expected);
    }
    // A device shows its store as above: the archive size moved to its configuration.
    let device = Device::with_config(
        ProtocolAddress::new("alice", 1),
        store,
        Config::default().max_archived_sessions(10),
    );
    let expected = format!(
        "Device {{ address: ProtocolAddress(alice.1), store: {expected}, \
         config: Config {{ max_archived_sessions: 10, accept_legacy_x3dh: false }} }}"
    );
    for secret in secrets {
        pinned(&device, secret, &expected);
    }
}

/// A change set holds a whole new session (root, chain and message keys); its `Debug`
/// shows what it writes, never a key.
#[test]
fn change_sets() {
    use common::{Capture, NOW, device, identity, recv, send, start_session};
    let mut rng = rng();
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let spec = BundleSpec::new(3).with_one_time_pre_key();
    let bundle = bob.store_mut().generate_bundle(&spec, 1, NOW, &mut rng);
    start_session(&mut alice, &bundle, &b, &mut rng);
    let m = send(&mut alice, &b, &SECRET, &mut rng);
    let store = bob.store();
    let secrets = [
        *identity(&bob).private_key().to_bytes(),
        *store
            .pre_key_store
            .pre_key(PreKeyId(3))
            .unwrap()
            .key_pair()
            .private_key()
            .to_bytes(),
        *store
            .signed_pre_key_store
            .signed_pre_key(SignedPreKeyId(3))
            .unwrap()
            .key_pair()
            .private_key()
            .to_bytes(),
    ];
    let mut capture = Device::new(b.clone(), Capture::new(bob.store()));
    let decrypted = recv(&mut capture, &a, &m, &mut rng).unwrap();
    assert_eq!(decrypted, SECRET);
    let changes = capture.into_store().changes.unwrap();
    let base_key = hex(&missive::PreKeySignalMessage::deserialize(m.serialize())
        .unwrap()
        .base_key()
        .serialize()[1..]);
    let alice_identity = hex(&identity(&alice).public_key().serialize()[1..]);
    let expected = format!(
        "ChangeSet {{ session: Some((ProtocolAddress(alice.1), SessionChange {{ \
         kind: \"new session\", stored_key_changes: 0 }})), \
         identity: Some((ProtocolAddress(alice.1), IdentityKey(PublicKey({alice_identity})), None)), \
         consumed_pre_key: Some(PreKeyId(3)), \
         kyber_pre_key: Some(KyberPreKeyUse {{ id: KyberPreKeyId(3), \
         signed_pre_key_id: SignedPreKeyId(3), base_key: PublicKey({base_key}), \
         last_resort: false }}), sender_key: None }}"
    );
    for secret in &secrets {
        pinned(&changes, secret, &expected);
    }
    // The plaintext is not in it either (it is returned, not stored).
    pinned(&changes, &SECRET, &expected);
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
        "SpqrState { head: SpqrHead { role: Initiator, epoch: 1, braid_state: Some(1), \
         send_index: 0, recv_index: 0, .. }, skipped: 0 }",
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
    use common::{device, establish, send};
    let mut rng = rng();
    let group = DistributionId::from_bytes([0x11; 16]);
    let mut alice = device("alice", 1, &mut rng);
    let mut bob = device("bob", 1, &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    // The distribution message reaches Bob over a 1:1 session, which authenticates Alice.
    establish(&mut alice, &mut bob, true, false, &mut rng);
    let d = alice
        .sender_key_distribution_message(group, &mut rng)
        .unwrap();
    let sent = send(&mut alice, &b, d.serialized(), &mut rng);
    let delivered = bob
        .decrypt(&a, sent.message_type(), sent.serialize(), &mut rng)
        .unwrap();
    let skdm = SenderKeyDistributionMessage::deserialize(&delivered.plaintext).unwrap();
    bob.process_sender_key_distribution_message(&delivered.sender, &skdm)
        .unwrap();
    let sent: Vec<_> = (0..4u8)
        .map(|i| alice.group_encrypt(group, &[i], &mut rng).unwrap())
        .collect();
    bob.group_decrypt(&a, &sent[3]).unwrap();

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

    let own = alice
        .store()
        .sender_key_store
        .sender_key(&a, group)
        .unwrap();
    let member = bob.store().sender_key_store.sender_key(&a, group).unwrap();
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
    let mut theirs = bob.store().sender_key_store.clone();
    theirs.store_sender_key(&b, group, own.clone());
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

//! The seed corpora: real messages, keys and records from an honest conversation with a
//! fixed RNG seed, and action scripts for the stateful target. Deterministic, so
//! `tests/fuzz_corpus.rs` can check that the committed `fuzz/corpus/*/seed-*` files are
//! current (and rewrite them with `MISSIVE_WRITE_FUZZ_SEEDS=1`).

use missive::__fuzz::{self, SpqrState};
use missive::crypto::{KemKeyPair, KemKeyType, KeyPair, xeddsa};
use missive::{
    CiphertextMessage, IdentityKeyPair, KyberPreKeyId, KyberPreKeyLifetime, KyberPreKeyRecord,
    PreKeyId, PreKeyRecord, SenderKeyDistributionMessage, SenderKeyRecord, SessionRecord,
    SignedPreKeyId, SignedPreKeyRecord,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::conversation::{config, op};
use super::group::{self, GROUPS, MALLORY};
use super::party::{self, ALICE, BOB, NOW, Party};

/// One seed file: target, file name (without the `seed-` prefix), contents.
pub type Seed = (&'static str, &'static str, Vec<u8>);

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut rng = ChaCha20Rng::seed_from_u64(0x006d_6973_7369_7665);
    let mut out = Vec::new();
    messages_and_records(&mut rng, &mut out);
    keys(&mut rng, &mut out);
    spqr(&mut rng, &mut out);
    braid(&mut out);
    scripts(&mut out);
    sender_keys(&mut rng, &mut out);
    group_scripts(&mut out);
    sealed_sender(&mut rng, &mut out);
    // The handshake target runs the same scripts from a fresh handshake, and the mixed
    // target the group scripts (its first ten opcodes are the group target's).
    let copies: Vec<Seed> = out
        .iter()
        .filter_map(|(target, name, bytes)| match *target {
            "conversation" => Some(("handshake", *name, bytes.clone())),
            "group_conversation" => Some(("mixed", *name, bytes.clone())),
            _ => None,
        })
        .collect();
    out.extend(copies);
    lived_scripts(&mut out);
    mixed_scripts(&mut out);
    out
}

/// Certificates, contents, a v1 envelope, a v2 sent message and its copy, all addressed
/// to [`super::sealed::recipient`] and certified by its trust root.
fn sealed_sender(rng: &mut ChaCha20Rng, out: &mut Vec<Seed>) {
    use missive::sealed::*;
    let (me, root, server) = super::sealed::keys();
    let sc = ServerCertificate::new(1, server.public_key(), root, rng);
    out.push(("sealed_certificate", "server", sc.serialized().to_vec()));
    let alice = IdentityKeyPair::generate(rng);
    let cert = |e164: Option<&str>, signer: Signer, rng: &mut ChaCha20Rng| {
        SenderCertificate::new(
            ALICE,
            e164,
            1,
            *alice.identity_key(),
            1 << 60,
            signer,
            server,
            rng,
        )
        .expect("valid certificate")
    };
    let embedded = cert(None, Signer::Certificate(sc.clone()), rng);
    out.push((
        "sealed_certificate",
        "sender",
        embedded.serialized().to_vec(),
    ));
    let with_e164 = cert(Some("+14155550100"), Signer::Certificate(sc.clone()), rng);
    out.push((
        "sealed_certificate",
        "sender-e164",
        with_e164.serialized().to_vec(),
    ));
    let by_id = cert(None, Signer::Reference(1), rng);
    out.push((
        "sealed_certificate",
        "sender-by-id",
        by_id.serialized().to_vec(),
    ));
    let content = UnidentifiedSenderMessageContent::new(
        ContentType::SenderKey,
        embedded,
        b"inner message bytes".to_vec(),
        ContentHint::RESENDABLE,
        Some(b"group id".to_vec()),
    );
    out.push((
        "sealed_certificate",
        "content",
        content.serialized().to_vec(),
    ));
    let v1 = seal_v1(&content, &alice, me.identity_key(), rng).expect("sealable");
    let v1_check = v1.clone();
    out.push(("sealed_v1", "envelope", v1));
    let me_id = ServiceId::parse(BOB).expect("a service id");
    let other = IdentityKeyPair::generate(rng);
    let other_id = ServiceId::parse("aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee").expect("a service id");
    let excluded =
        ServiceId::parse("PNI:dddddddd-0000-4000-8000-000000000001").expect("a service id");
    let device = |device_id, registration_id| RecipientDevice {
        device_id,
        registration_id,
    };
    let destinations = [
        Destination {
            service_id: me_id,
            identity_key: *me.identity_key(),
            devices: vec![device(1, 42)],
        },
        Destination {
            service_id: other_id,
            identity_key: *other.identity_key(),
            devices: vec![device(1, 7), device(3, 0x3fff)],
        },
    ];
    let sent = seal_v2(&content, &alice, &destinations, &[excluded], rng).expect("sealable");
    let copy = SentMessage::parse(&sent)
        .expect("parses")
        .received_message_for(&me_id)
        .expect("a copy");
    // The seeds open: mutations start from envelopes that pass every check.
    assert!(open(&v1_check, me).is_ok() && open(&copy, me).is_ok());
    out.push(("sealed_v2_cut", "sent", sent));
    out.push(("sealed_v2", "copy", copy));
}

fn record(p: &Party, remote: &Party) -> Vec<u8> {
    let r = p.store().session_store.session(remote.address());
    r.expect("a session").serialize().to_vec()
}

fn exchange(v3: bool, one_time: bool, rng: &mut ChaCha20Rng, out: &mut Vec<Seed>) {
    let mut alice = party::device(ALICE, 1001, v3, rng);
    let mut bob = party::device(BOB, 2002, v3, rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let bundle = party::publish_bundle(&mut bob, v3, one_time, rng);
    let v = if v3 { "v3" } else { "v4" };
    let name = |s: &str| -> &'static str {
        let with = if one_time { "" } else { "-no-one-time" };
        format!("{v}-{s}{with}").leak()
    };
    out.push(("prekey_bundle", name("bundle"), bundle.serialize()));
    party::start_session(&mut alice, &bundle, &b, rng).expect("honest bundle");
    let first = alice.encrypt(&b, b"first", NOW, rng).expect("session");
    let second = alice.encrypt(&b, b"second", NOW, rng).expect("session");
    let CiphertextMessage::PreKey(pre) = &first else {
        unreachable!("the first message is a prekey message")
    };
    out.push((
        "prekey_signal_message",
        name("first"),
        pre.serialized().to_vec(),
    ));
    out.push((
        "signal_message",
        name("inner"),
        pre.message().serialized().to_vec(),
    ));
    out.push(("session_record", name("initiator"), record(&alice, &bob)));
    let (kind, bytes) = (second.message_type(), second.serialize());
    bob.decrypt(&a, kind, bytes, rng).expect("honest message");
    // Bob has skipped "first": his record holds a skipped key.
    out.push((
        "session_record",
        name("responder-skipped"),
        record(&bob, &alice),
    ));
    let reply = bob.encrypt(&a, b"reply", NOW, rng).expect("session");
    out.push(("signal_message", name("reply"), reply.serialize().to_vec()));
    let (kind, bytes) = (reply.message_type(), reply.serialize());
    alice.decrypt(&b, kind, bytes, rng).expect("honest reply");
    // A second session: the first one is archived.
    let bundle = party::publish_bundle(&mut bob, v3, one_time, rng);
    party::start_session(&mut alice, &bundle, &b, rng).expect("honest bundle");
    out.push(("session_record", name("archived"), record(&alice, &bob)));
}

fn messages_and_records(rng: &mut ChaCha20Rng, out: &mut Vec<Seed>) {
    exchange(false, true, rng, out);
    exchange(false, false, rng, out);
    exchange(true, true, rng, out);
    out.push((
        "session_record",
        "empty",
        SessionRecord::new().serialize().to_vec(),
    ));
    let identity = IdentityKeyPair::generate(rng);
    out.push((
        "identity_key_pair",
        "generated",
        identity.serialize().to_vec(),
    ));
    let pk = PreKeyRecord::generate(PreKeyId(7), rng);
    out.push(("prekey_record", "generated", pk.serialize().to_vec()));
    let spk = SignedPreKeyRecord::generate(SignedPreKeyId(8), NOW.as_millis(), &identity, rng);
    out.push((
        "signed_prekey_record",
        "generated",
        spk.serialize().to_vec(),
    ));
    for (name, kt, lifetime) in [
        (
            "kyber1024-last-resort",
            KemKeyType::Kyber1024,
            KyberPreKeyLifetime::LastResort,
        ),
        (
            "mlkem1024-one-time",
            KemKeyType::MlKem1024,
            KyberPreKeyLifetime::OneTime,
        ),
    ] {
        let id = KyberPreKeyId(9);
        let k = KyberPreKeyRecord::generate(kt, id, NOW.as_millis(), lifetime, &identity, rng);
        out.push(("kyber_prekey_record", name, k.serialize().to_vec()));
    }
}

fn keys(rng: &mut ChaCha20Rng, out: &mut Vec<Seed>) {
    let identity = IdentityKeyPair::generate(rng);
    let key = identity.public_key().serialize();
    out.push(("public_key", "key", key.to_vec()));
    let message = b"a signed prekey, say";
    let mut signed = key.to_vec();
    signed.extend_from_slice(&identity.sign(message, rng));
    signed.extend_from_slice(message);
    out.push(("public_key", "key-signature-message", signed));
    for (name, kt) in [
        ("kyber1024", KemKeyType::Kyber1024),
        ("mlkem1024", KemKeyType::MlKem1024),
    ] {
        let pair = KemKeyPair::generate(kt, rng);
        let (ct, _) = pair.public_key().encapsulate(rng);
        let pk: &'static str = format!("{name}-public").leak();
        let sk: &'static str = format!("{name}-secret").leak();
        let c: &'static str = format!("{name}-ciphertext").leak();
        out.push(("kem_key", pk, pair.public_key().serialize().to_vec()));
        out.push(("kem_key", sk, pair.secret_key().serialize().to_vec()));
        out.push(("kem_key", c, ct.serialize().to_vec()));
    }
}

fn spqr(rng: &mut ChaCha20Rng, out: &mut Vec<Seed>) {
    let auth = [0x5a; 32];
    let mut initiator = SpqrState::new(&auth, true);
    // The braid's own RNG, so that the other seeds do not depend on what it draws.
    let mut braid_rng = ChaCha20Rng::seed_from_u64(0x5151);
    let mut fields = Vec::new();
    for _ in 0..300 {
        fields.push(initiator.send(&mut braid_rng).expect("fresh chain").0);
    }
    out.push(("spqr_field", "none-index-1", fields[0].clone()));
    out.push(("spqr_field", "none-index-300", fields[299].clone()));
    for t in 1u8..=6 {
        let mut chunk = [0u8; 32];
        rng.fill_bytes(&mut chunk);
        let f = __fuzz::SpqrField {
            epoch: 1,
            index: 3,
            msg_type: t,
            chunk: (t != 4).then_some((u16::from(t) * 5, chunk)),
        };
        let name: &'static str = format!("type-{t}").leak();
        out.push(("spqr_field", name, __fuzz::encode_spqr_field(&f)));
    }
    let mut responder = SpqrState::new(&auth, false);
    out.push(("spqr_state", "fresh", responder.serialize().to_vec()));
    responder.recv(&fields[9]).expect("honest field");
    responder.recv(&fields[3]).expect("honest field");
    out.push(("spqr_state", "skipped", responder.serialize().to_vec()));
    out.push(("spqr_state", "sender", initiator.serialize().to_vec()));
}

fn braid(out: &mut Vec<Seed>) {
    use super::braid::op;
    // The chunk decoder: an Ek-sized value from redundant chunks, a header from a mix,
    // and raw chunks with a conflict.
    let mut ek = vec![35u8, 0];
    ek.extend((0..1152u32).map(|i| (i * 7 + 3) as u8));
    for i in 0..36u16 {
        ek.extend_from_slice(&(40 + 3 * i).to_be_bytes());
    }
    out.push(("braid_chunks", "ek-redundant", ek));
    let mut hdr = vec![2u8, 2];
    hdr.extend((0..96u8).map(|i| i ^ 0x5a));
    for i in [0u16, 65_535, 40_000] {
        hdr.extend_from_slice(&i.to_be_bytes());
    }
    out.push(("braid_chunks", "header-mix", hdr));
    let mut raw = vec![4u8, 1];
    for (i, b) in [(7u16, 1u8), (9, 2), (7, 3), (1, 4), (2, 5)] {
        raw.extend_from_slice(&i.to_be_bytes());
        raw.extend_from_slice(&[b; 32]);
    }
    out.push(("braid_chunks", "raw-conflict", raw));
    // The state machine: two epochs of ping-pong with a reload, then out-of-order
    // deliveries and tampering.
    let mut s = 7u64.to_le_bytes().to_vec();
    s.extend_from_slice(&[op::PINGPONG, 60, op::RELOAD, op::PINGPONG, 60, op::RELOAD]);
    out.push(("braid_state", "two-epochs", s.clone()));
    for _ in 0..3 {
        s.extend_from_slice(&[op::SEND, 0, op::SEND, 0, op::SEND, 1]);
        s.extend_from_slice(&[op::DELIVER, 1, 1, op::DELIVER, 0, 0, op::DELIVER, 1, 0]);
    }
    s.extend_from_slice(&[op::SEND, 0, op::TAMPER, 1, 0, 0, 20, 4, op::DELIVER, 1, 0]);
    s.extend_from_slice(&[op::SEND, 1, op::TAMPER, 0, 0, 2, 0, 0, op::DROP, 0, 0]);
    s.extend_from_slice(&[op::PINGPONG, 40, op::RELOAD]);
    out.push(("braid_state", "reorder-tamper", s));
}

/// An action script: `config ‖ seed ‖ actions`.
fn script(cfg: u8, seed: u64, actions: &[&[u8]]) -> Vec<u8> {
    let mut s = vec![cfg];
    s.extend_from_slice(&seed.to_le_bytes());
    actions.iter().for_each(|a| s.extend_from_slice(a));
    s
}

const A: u8 = 0;
const B: u8 = 1;
/// "The newest": a pick past the end wraps to the last index while the queue is short.
const LAST: u8 = 255;

fn scripts(out: &mut Vec<Seed>) {
    let ping_pong: Vec<&[u8]> = vec![
        &[op::SEND, A, 10],
        &[op::DELIVER, B, 0],
        &[op::SEND, B, 20],
        &[op::DELIVER, A, 0],
        &[op::SEND, A, 0],
        &[op::SEND, A, 200],
        &[op::DELIVER, B, 1],
        &[op::DELIVER, B, 0],
        &[op::SEND, B, 3],
        &[op::DELIVER, A, 0],
    ];
    for (name, cfg) in [
        ("ping-pong-v4", config::ONE_TIME),
        ("ping-pong-v4-no-one-time", 0),
        ("ping-pong-v3", config::V3 | config::ONE_TIME),
    ] {
        out.push(("conversation", name, script(cfg, 1, &ping_pong)));
    }
    let reorder: Vec<&[u8]> = vec![
        &[op::SEND, A, 1],
        &[op::SEND, A, 2],
        &[op::SEND, A, 3],
        &[op::SEND, A, 4],
        &[op::DELIVER, B, 2],
        &[op::DELIVER, B, 0],
        &[op::DROP, B, 0],
        &[op::DELIVER, B, 0],
        &[op::SEND, B, 5],
        &[op::SEND, B, 6],
        &[op::DELIVER, A, 1],
        &[op::REPLAY, B, 0],
        &[op::REPLAY, A, 0],
        &[op::DELIVER, A, 0],
    ];
    out.push((
        "conversation",
        "reorder-drop-replay",
        script(config::ONE_TIME, 2, &reorder),
    ));
    let tamper: Vec<&[u8]> = vec![
        &[op::SEND, A, 8],
        &[op::TAMPER, B, 0, 0, 0, 9, 0],
        &[op::TAMPER, B, 0, 1, 0, 40, 0],
        &[op::TAMPER, B, 0, 2, 0, 70, 0x5a],
        &[op::TAMPER, B, 0, 3, 0, 0, 0x01],
        &[op::DELIVER, B, 0],
        &[op::SEND, B, 9],
        &[op::TAMPER, A, 0, 0, 1, 3, 0],
        &[op::TAMPER, A, 0, 2, 0, 1, 0x34],
        &[op::DELIVER, A, 0],
        &[op::TAMPER, A, 0, 0, 0, 0, 0],
        &[op::FORGE, B, 1, 4, 0x44, 0x0a, 0x01, 0x00],
        &[op::FORGE, A, 0, 3, 0x33, 0x08, 0x01],
    ];
    out.push((
        "conversation",
        "tamper-forge-v4",
        script(config::ONE_TIME, 3, &tamper),
    ));
    let v3 = config::V3 | config::ONE_TIME;
    out.push(("conversation", "tamper-forge-v3", script(v3, 4, &tamper)));
    let simultaneous: Vec<&[u8]> = vec![
        &[op::SEND, A, 1],
        &[op::RESTART, B],
        &[op::SEND, B, 2],
        &[op::DELIVER, B, 0],
        &[op::DELIVER, A, 0],
        &[op::SEND, A, 3],
        &[op::SEND, B, 4],
        &[op::DELIVER, A, 0],
        &[op::DELIVER, B, 0],
        &[op::RESTART, A],
        &[op::SEND, A, 5],
        &[op::SEND, B, 6],
        &[op::DELIVER, B, 0],
        &[op::DELIVER, A, 0],
    ];
    out.push((
        "conversation",
        "simultaneous-v4",
        script(config::ONE_TIME, 5, &simultaneous),
    ));
    out.push((
        "conversation",
        "simultaneous-v3",
        script(v3, 6, &simultaneous),
    ));
    // Alice's first chain falls out of Bob's window while one of its messages waits.
    let mut evict: Vec<&[u8]> = vec![&[op::SEND, A, 1], &[op::SEND, A, 2], &[op::DELIVER, B, 1]];
    for _ in 0..7 {
        evict.extend_from_slice(&[
            &[op::SEND, B, 3],
            &[op::DELIVER, A, LAST],
            &[op::SEND, A, 4],
            &[op::DELIVER, B, LAST],
        ]);
    }
    evict.push(&[op::DELIVER, B, 0]);
    out.push((
        "conversation",
        "evicted-chain",
        script(config::ONE_TIME, 7, &evict),
    ));
}

/// One sender's group traffic, made with missive's own API: distribution messages,
/// group messages and records (the sender's, with its private key; a member's, with
/// stored keys and several chains).
struct GroupTraffic {
    distributions: Vec<Vec<u8>>,
    messages: Vec<Vec<u8>>,
}

/// `sender` hands its distributions to a member over a 1:1 session. The devices and the
/// session draw from their own RNG, so that `rng` makes only the group traffic.
fn group_traffic(sender: &str, rng: &mut ChaCha20Rng, out: Option<&mut Vec<Seed>>) -> GroupTraffic {
    let id = GROUPS[0];
    let mut setup = ChaCha20Rng::seed_from_u64(0x0067_726f_7570);
    let mut ours = party::device(sender, 1, false, &mut setup);
    let mut theirs = party::device(BOB, 2, false, &mut setup);
    let (us, member) = (ours.address().clone(), theirs.address().clone());
    let bundle = party::publish_bundle(&mut theirs, false, true, &mut setup);
    party::start_session(&mut ours, &bundle, &member, &mut setup).expect("honest bundle");
    // The member processes a distribution under the sender its 1:1 message names.
    let mut hand_over = |ours: &mut Party, theirs: &mut Party, d: &SenderKeyDistributionMessage| {
        let m = ours
            .encrypt(&member, d.serialized(), NOW, &mut setup)
            .expect("session");
        let got = theirs
            .decrypt(&us, m.message_type(), m.serialize(), &mut setup)
            .expect("honest message");
        let d = SenderKeyDistributionMessage::deserialize(&got.plaintext).expect("ours");
        theirs
            .process_sender_key_distribution_message(&got.sender, &d)
            .expect("from another device");
    };
    let d = ours
        .sender_key_distribution_message(id, rng)
        .expect("in-memory store");
    hand_over(&mut ours, &mut theirs, &d);
    let mut distributions = vec![d.serialized().to_vec()];
    let mut messages = Vec::new();
    for i in 0..6u8 {
        let plaintext = vec![i; if i == 5 { 200 } else { 1 + usize::from(i) }];
        let m = ours.group_encrypt(id, &plaintext, rng).expect("our chain");
        messages.push(m.serialized().to_vec());
    }
    // The member reads 4 first: 0 to 3 are stored.
    let read = |theirs: &mut Party, bytes: &[u8]| {
        let m = missive::SenderKeyMessage::deserialize(bytes).expect("ours");
        theirs.group_decrypt(&us, &m).expect("honest message")
    };
    read(&mut theirs, &messages[4]);
    read(&mut theirs, &messages[1]);
    let late = ours
        .sender_key_distribution_message(id, rng)
        .expect("our chain");
    distributions.push(late.serialized().to_vec());
    let rotated = ours.rotate_sender_key(id, rng).expect("in-memory store");
    hand_over(&mut ours, &mut theirs, &rotated);
    distributions.push(rotated.serialized().to_vec());
    let m = ours
        .group_encrypt(id, b"after rotation", rng)
        .expect("ours");
    messages.push(m.serialized().to_vec());
    if let Some(out) = out {
        let record = |p: &Party| {
            let r = p.store().sender_key_store.sender_key(&us, id);
            r.expect("a record").serialize().to_vec()
        };
        out.push(("sender_key_record", "own", record(&ours)));
        out.push((
            "sender_key_record",
            "member-stored-rotated",
            record(&theirs),
        ));
        out.push((
            "sender_key_record",
            "empty",
            SenderKeyRecord::new().serialize().to_vec(),
        ));
        for (name, d) in ["first", "late", "rotated"].iter().zip(&distributions) {
            out.push(("sender_key_distribution_message", name, d.clone()));
        }
        out.push(("sender_key_message", "short", messages[0].clone()));
        out.push(("sender_key_message", "long", messages[5].clone()));
        out.push(("sender_key_message", "rotated", messages[6].clone()));
    }
    GroupTraffic {
        distributions,
        messages,
    }
}

fn sender_keys(rng: &mut ChaCha20Rng, out: &mut Vec<Seed>) {
    group_traffic(ALICE, rng, Some(out));
}

const M0: u8 = 0;
const M1: u8 = 1;
const M2: u8 = 2;
const M3: u8 = 3;

/// The conversation target's lived snapshot: three of Alice's messages wait for Bob
/// (one was delivered out of order), and Bob's newer session is archived.
fn lived_scripts(out: &mut Vec<Seed>) {
    let lived = config::ONE_TIME | config::LIVED;
    let late: Vec<&[u8]> = vec![
        &[op::DELIVER, B, 0],
        &[op::SEND, B, 4],
        &[op::DELIVER, A, 0],
        &[op::REPLAY, B, 0],
        &[op::DELIVER, B, 0],
        &[op::TAMPER, B, 0, 0, 0, 12, 0],
        &[op::SEND, A, 5],
        &[op::DELIVER, B, 0],
        &[op::RESTART, A],
        &[op::SEND, A, 6],
        &[op::DELIVER, B, 0],
    ];
    out.push(("conversation", "lived-late-v4", script(lived, 8, &late)));
    out.push((
        "conversation",
        "lived-late-v3",
        script(lived | config::V3, 9, &late),
    ));
}

/// The mixed target: chats, distributions, group messages and record round trips.
fn mixed_scripts(out: &mut Vec<Seed>) {
    use group::config::SETUP;
    use group::op::*;
    let mixed: Vec<&[u8]> = vec![
        &[CHAT, M0, M1, 3],
        &[SEND, M0, 0, 10],
        &[RECORDS, M1],
        &[DELIVER, M1, 0],
        &[DELIVER, M1, 0],
        &[CHAT, M1, M0, 4],
        &[RECORDS, M0],
        &[DELIVER, M0, 0],
        &[ROTATE, M0, 0, 0b110],
        &[SEND, M0, 0, 11],
        &[RECORDS, M2],
        &[DELIVER, M2, LAST],
        &[DELIVER, M2, 0],
        &[DELIVER, M2, 0],
        &[REPLAY, M2, 0],
        &[CHAT, M2, M0, 0],
        &[DELIVER, M0, 0],
        &[RECORDS, M0],
        &[SEND, M0, 0, 12],
        &[DELIVER, M1, LAST],
        &[DELIVER, M1, 0],
    ];
    out.push((
        "mixed",
        "chat-records-rotate",
        script(SETUP | 1, 13, &mixed),
    ));
}

fn group_scripts(out: &mut Vec<Seed>) {
    use group::config::SETUP;
    use group::op::*;
    const THREE: u8 = 1;
    const FOUR: u8 = 2;
    let name = "group_conversation";

    let basic: Vec<&[u8]> = vec![
        &[SEND, M0, 0, 10],
        &[SEND, M1, 0, 20],
        &[SEND, M2, 0, 200],
        &[DELIVER, M1, 0],
        &[DELIVER, M2, 1],
        &[DELIVER, M0, 0],
        &[DELIVER, M2, 0],
        &[DELIVER, M1, 0],
        &[DELIVER, M0, 0],
        &[REPLAY, M1, 0],
        &[REPLAY, M2, 1],
        &[SEND, M0, 1, 5],
        &[DELIVER, M1, 0],
        // Out of order: the older message decrypts from its stored key, once.
        &[SEND, M0, 0, 30],
        &[SEND, M0, 0, 31],
        &[DELIVER, M1, 1],
        &[DELIVER, M1, 0],
        &[REPLAY, M1, 5],
        &[BATCH, M1, 1, 0],
    ];
    out.push((
        name,
        "setup-send-deliver",
        script(SETUP | THREE, 11, &basic),
    ));

    // Distributions over fresh 1:1 sessions, in both directions, racing the messages.
    let sessions: Vec<&[u8]> = vec![
        &[DISTRIBUTE, M0, 1, 0b1110],
        &[SEND, M0, 1, 1],
        &[DELIVER, M1, 0],
        &[DELIVER, M1, 0],
        &[DELIVER, M3, 1],
        &[DELIVER, M3, 0],
        &[SEND, M0, 1, 2],
        &[DELIVER, M3, LAST],
        &[DISTRIBUTE, M1, 1, 0b1101],
        &[DELIVER, M0, 0],
        &[SEND, M1, 1, 3],
        &[DELIVER, M0, 0],
        &[DELIVER, M2, 0],
        &[DELIVER, M2, 0],
        &[DELIVER, M2, 0],
        &[DELIVER, M2, 0],
        &[DELIVER, M2, 0],
        &[REPLAY, M0, 0],
        &[DISTRIBUTE, M3, 1, 0b0001],
        &[DELIVER, M0, 0],
    ];
    out.push((
        name,
        "distribute-over-sessions",
        script(FOUR, 12, &sessions),
    ));

    // Alice rotates six times; Bob reads the newest chain first, and the first chain
    // has been evicted (5 states) by the time its message arrives.
    let mut rotate: Vec<&[u8]> = vec![&[SEND, M0, 0, 1]];
    for _ in 0..6 {
        rotate.extend_from_slice(&[&[ROTATE, M0, 0, 0b10], &[SEND, M0, 0, 2]]);
    }
    for _ in 0..6 {
        rotate.push(&[DELIVER, M1, 0]);
    }
    for _ in 0..7 {
        rotate.push(&[DELIVER, M1, LAST]);
    }
    out.push((name, "rotate-evict", script(SETUP, 13, &rotate)));

    // Carol joins after three messages: she reads from the fourth on.
    let late: Vec<&[u8]> = vec![
        &[DISTRIBUTE, M0, 0, 0b010],
        &[DELIVER, M1, 0],
        &[SEND, M0, 0, 1],
        &[SEND, M0, 0, 2],
        &[SEND, M0, 0, 3],
        &[DISTRIBUTE, M0, 0, 0b100],
        &[SEND, M0, 0, 4],
        &[DELIVER, M2, 3],
        &[DELIVER, M2, 0],
        &[DELIVER, M2, 0],
        &[DELIVER, M2, 0],
        &[DELIVER, M2, 0],
        &[REPLAY, M2, 0],
        &[DELIVER, M1, 3],
        &[DELIVER, M1, 1],
    ];
    out.push((name, "late-joiner", script(THREE, 14, &late)));

    // Past the 2,000 stored keys of a chain: the oldest message's key is dropped. Then,
    // with 2,051 next, 27,052 (a jump of 25,001) is refused and 27,051 accepted: eight
    // messages are lost (2,051 to 2,058) and 24,992 iterations skipped (1,562 × 16).
    let mut stored: Vec<&[u8]> = vec![
        &[SEND, M0, 0, 1],
        &[SKIP, M0, 0, 64],
        &[SEND, M0, 0, 2],
        &[SKIP, M0, 0, 64],
        &[SEND, M0, 0, 3],
        &[DELIVER, M1, 2],
        &[DELIVER, M1, 0],
        &[DELIVER, M1, 0],
    ];
    for _ in 0..8 {
        stored.extend_from_slice(&[&[SEND, M0, 0, 4], &[DROP, M1, 0]]);
    }
    for _ in 0..6 {
        stored.push(&[SKIP, M0, 0, 250]);
    }
    stored.extend_from_slice(&[
        &[SKIP, M0, 0, 62],
        &[SEND, M0, 0, 5],
        &[SEND, M0, 0, 6],
        &[DELIVER, M1, 1],
        &[DELIVER, M1, 0],
    ]);
    out.push((name, "stored-and-jump-bounds", script(SETUP, 15, &stored)));

    // A backlog in one batch: 40 messages from Alice (the comb path), three from Bob,
    // two replays, a tampered copy and a forgery.
    let mut batch: Vec<&[u8]> = vec![&[SEND, M1, 0, 9], &[DELIVER, M2, 0]];
    for _ in 0..40 {
        batch.push(&[SEND, M0, 0, 7]);
    }
    batch.extend_from_slice(&[
        &[SEND, M1, 0, 8],
        &[SEND, M1, 0, 9],
        &[SEND, M1, 0, 10],
        &[SEND, M2, 0, 11],
    ]);
    // The forgery: a well-formed message in group 0 with a zero signature.
    let mut forged = vec![BATCH, M2, 7, 255, M0];
    let mut body = vec![0x33, 0x0a, 16];
    body.extend_from_slice(GROUPS[0].as_bytes());
    body.extend_from_slice(&[0x10, 0x01, 0x18, 0x00, 0x22, 16]);
    body.extend_from_slice(&[0xa5; 16]);
    body.extend_from_slice(&[0; 64]);
    forged.push(u8::try_from(body.len()).expect("short"));
    forged.extend_from_slice(&body);
    batch.extend_from_slice(&[&forged, &[BATCH, M1, 1, 3], &[BATCH, M0, 2, 200]]);
    out.push((name, "batch", script(SETUP | THREE, 16, &batch)));

    let tamper: Vec<&[u8]> = vec![
        &[SEND, M0, 0, 8],
        &[TAMPER, M1, 0, 0, 0, 9, 0],
        &[TAMPER, M1, 0, 1, 0, 40, 0],
        &[TAMPER, M1, 0, 2, 0, 70, 0x5a],
        &[TAMPER, M1, 0, 3, 0, 0, 0x01],
        &[TAMPER, M1, 0, 2, 0, 0, 0x34],
        &[DELIVER, M1, 0],
        &[TAMPER, M1, 0, 0, 3, 200, 0],
        &[FORGE, M1, 1, M0, 4, 0x33, 0x0a, 0x01, 0x00],
        &[FORGE, M1, 0, 0, 3, 0x33, 0x08, 0x01],
        &[DROP, M0, 0],
    ];
    out.push((name, "tamper-forge", script(SETUP, 17, &tamper)));

    // Mallory's own chain, processed under her name: her signed messages decrypt, once.
    let mut rng = ChaCha20Rng::seed_from_u64(18);
    let mallory = group_traffic(MALLORY, &mut rng, None);
    let framed = |prefix: &[u8], bytes: &[u8]| {
        let mut a = prefix.to_vec();
        a.push(u8::try_from(bytes.len()).expect("short"));
        a.extend_from_slice(bytes);
        a
    };
    const MALLORY_OF_TWO: u8 = 2;
    // And a chain made by hand, so that Mallory signs whatever she likes: a ciphertext
    // with bad padding, a jump past the bound, a wrong signature.
    let pair = KeyPair::generate(&mut rng);
    let chain_key = [0x4d; 32];
    let hand = distribution_bytes(GROUPS[1], 77, 10, &chain_key, pair.public_key());
    let signed = |iteration: u32, ciphertext: &[u8], rng: &mut ChaCha20Rng| {
        let mut m = vec![0x33];
        put_field(&mut m, 1, GROUPS[1].as_bytes());
        put_varint_field(&mut m, 2, 77);
        put_varint_field(&mut m, 3, u64::from(iteration));
        put_field(&mut m, 4, ciphertext);
        let signature = xeddsa::sign(pair.private_key(), &m, rng);
        m.extend_from_slice(&signature);
        m
    };
    let bad_padding = signed(12, &[0x5c; 32], &mut rng);
    let too_far = signed(10 + 25_001, &[0x5c; 16], &mut rng);
    let mut wrong_signature = signed(13, &[0x5c; 16], &mut rng);
    let last = wrong_signature.len() - 1;
    wrong_signature[last - 40] ^= 0x10;
    let actions = [
        framed(&[FORGE, M1, 0, 0], &hand),
        framed(&[FORGE, M1, 1, MALLORY_OF_TWO], &bad_padding),
        framed(&[FORGE, M1, 1, MALLORY_OF_TWO], &too_far),
        framed(&[FORGE, M1, 1, MALLORY_OF_TWO], &wrong_signature),
        framed(&[BATCH, M1, 4, 0, MALLORY_OF_TWO], &bad_padding),
        framed(&[FORGE, M1, 0, 0], &mallory.distributions[0]),
        framed(&[FORGE, M1, 1, MALLORY_OF_TWO], &mallory.messages[1]),
        framed(&[FORGE, M1, 1, MALLORY_OF_TWO], &mallory.messages[1]),
        framed(&[FORGE, M1, 1, M0], &mallory.messages[2]),
        framed(&[BATCH, M1, 4, 0, MALLORY_OF_TWO], &mallory.messages[0]),
        framed(&[FORGE, M0, 0, 0], &mallory.distributions[1]),
        framed(&[FORGE, M0, 1, MALLORY_OF_TWO], &mallory.messages[3]),
    ];
    let actions: Vec<&[u8]> = actions.iter().map(Vec::as_slice).collect();
    out.push((name, "mallory", script(SETUP, 18, &actions)));
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_varint_field(out: &mut Vec<u8>, number: u64, v: u64) {
    put_varint(out, number << 3);
    put_varint(out, v);
}

fn put_field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    put_varint(out, (number << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A distribution message built field by field (docs/PROTOCOL.md §11.4).
fn distribution_bytes(
    id: missive::DistributionId,
    chain_id: u32,
    iteration: u32,
    chain_key: &[u8; 32],
    signing_key: &missive::crypto::PublicKey,
) -> Vec<u8> {
    let mut out = vec![0x33];
    put_field(&mut out, 1, id.as_bytes());
    put_varint_field(&mut out, 2, u64::from(chain_id));
    put_varint_field(&mut out, 3, u64::from(iteration));
    put_field(&mut out, 4, chain_key);
    put_field(&mut out, 5, &signing_key.serialize());
    out
}

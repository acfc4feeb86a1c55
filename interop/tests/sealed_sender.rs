//! Sealed sender against libsignal-client 0.103, both directions: v1 around a prekey
//! message, a whisper message and a sender-key group message; v2 to a set of recipients
//! some missive and some libsignal-client, cut by missive's server operation and by
//! libsignal-client's, each recipient opening its copy, excluded recipients getting
//! nothing usable. missive plays the server: it makes the trust root, the server
//! certificate and every sender certificate; the peer validates them.

mod common;

use common::{NOW, NOW_MS, to_missive_bundle, to_wire_bundle};
use missive::crypto::{PrivateKey, PublicKey};
use missive::sealed::*;
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use missive_interop::{Bundle, Peer, PeerKind};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Value, json};

const ALICE: &str = "9d0652a3-dcc3-4d11-975f-74d61598733f";
const BOB: &str = "796abedb-ca4e-4f18-8803-1fde5b921f9f";
const CAROL: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const DAVE: &str = "dddddddd-0000-4000-8000-000000000001";
const ERIN: &str = "eeeeeeee-0000-4000-8000-000000000002";
const FRANK: &str = "ffffffff-0000-4000-8000-000000000003";
const GROUP: &str = "d1b6f0a4-3f63-4b3c-9b1e-2b8a5f0c7e11";
const EXPIRES: u64 = NOW_MS + 86_400_000;

fn client() -> Peer {
    Peer::spawn(PeerKind::Client).expect("spawn libsignal-client driver")
}

fn hexb(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("no {key} in {v}"))).unwrap()
}

/// The server of a sovereign deployment (missive's constructors).
struct Service {
    root: PrivateKey,
    server: PrivateKey,
    certificate: ServerCertificate,
    rng: ChaCha20Rng,
}

impl Service {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let root = PrivateKey::generate(&mut rng);
        let server = PrivateKey::generate(&mut rng);
        let certificate = ServerCertificate::new(1, server.public_key(), &root, &mut rng);
        Service {
            root,
            server,
            certificate,
            rng,
        }
    }
    fn root_public(&self) -> PublicKey {
        self.root.public_key()
    }
    fn certify(&mut self, uuid: &str, device: u8, key: &[u8]) -> SenderCertificate {
        let key = IdentityKey::deserialize(key).unwrap();
        SenderCertificate::new(
            uuid,
            None,
            device,
            key,
            EXPIRES,
            Signer::Certificate(self.certificate.clone()),
            &self.server,
            &mut self.rng,
        )
        .unwrap()
    }
}

/// A missive device.
struct Dev {
    device: Device<InMemSignalProtocolStore>,
    rng: ChaCha20Rng,
    next_bundle: u32,
}

impl Dev {
    fn new(name: &str, device_id: u32, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let store =
            InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 1000 + seed as u32);
        Dev {
            device: Device::new(ProtocolAddress::new(name, device_id), store),
            rng,
            next_bundle: 1,
        }
    }
    fn address(&self) -> ProtocolAddress {
        self.device.address().clone()
    }
    fn identity_key(&self) -> Vec<u8> {
        self.device
            .store()
            .identity_key_pair()
            .unwrap()
            .identity_key()
            .serialize()
            .to_vec()
    }
    fn bundle(&mut self) -> Bundle {
        let spec = BundleSpec::new(self.next_bundle).with_one_time_pre_key();
        self.next_bundle += 1;
        let id = self.device.address().device_id();
        let b = self
            .device
            .store_mut()
            .generate_bundle(&spec, id, NOW, &mut self.rng);
        to_wire_bundle(&b)
    }
    fn open(&mut self, bytes: &[u8], root: PublicKey) -> Result<SealedDecrypted, Error> {
        let roots = [root];
        self.device
            .sealed_decrypt(bytes, &TrustPolicy::new(&roots, &[]), NOW, &mut self.rng)
    }
}

/// What the peer's `ss_decrypt` returned.
#[derive(Debug)]
struct PeerOpened {
    sender_uuid: String,
    sender_device: u64,
    msg_type: u64,
    group_id: Option<Vec<u8>>,
    plaintext: Vec<u8>,
}

fn peer_open(
    peer: &mut Peer,
    party: &str,
    body: &[u8],
    root: &PublicKey,
) -> Result<PeerOpened, String> {
    let r = peer
        .call(
            "ss_decrypt",
            json!({"party": party, "body": hex::encode(body), "trust_root": hex::encode(root.serialize()),
                   "now_ms": NOW_MS}),
        )
        .map_err(|e| e.to_string())?;
    Ok(PeerOpened {
        sender_uuid: r["sender_uuid"].as_str().unwrap().to_owned(),
        sender_device: r["sender_device"].as_u64().unwrap(),
        msg_type: r["msg_type"].as_u64().unwrap(),
        group_id: r["group_id"].as_str().map(|g| hex::decode(g).unwrap()),
        plaintext: hexb(&r, "plaintext"),
    })
}

/// The peer's 1:1 message from `party` to `(name, device)`, wrapped in a content.
fn peer_usmc(
    peer: &mut Peer,
    party: &str,
    to: (&str, u32),
    text: &[u8],
    cert: &SenderCertificate,
) -> (Vec<u8>, u64) {
    let r = peer
        .call(
            "ss_usmc",
            json!({"party": party, "remote_name": to.0, "remote_device": to.1,
                   "plaintext": hex::encode(text), "sender_certificate": hex::encode(cert.serialized())}),
        )
        .unwrap();
    (hexb(&r, "usmc"), r["type"].as_u64().unwrap())
}

fn peer_seal_v1(peer: &mut Peer, party: &str, to: (&str, u32), usmc: &[u8]) -> Vec<u8> {
    let r = peer
        .call(
            "ss_seal_v1",
            json!({"party": party, "remote_name": to.0, "remote_device": to.1, "usmc": hex::encode(usmc)}),
        )
        .unwrap();
    hexb(&r, "body")
}

fn peer_group_usmc(
    peer: &mut Peer,
    party: &str,
    text: &[u8],
    cert: &SenderCertificate,
    group_id: &[u8],
) -> Vec<u8> {
    let r = peer
        .call(
            "ss_group_usmc",
            json!({"party": party, "distribution_id": GROUP, "plaintext": hex::encode(text),
                   "sender_certificate": hex::encode(cert.serialized()), "group_id": hex::encode(group_id)}),
        )
        .unwrap();
    hexb(&r, "usmc")
}

fn peer_cut(peer: &mut Peer, sent: &[u8], service_id: &str) -> Result<Vec<u8>, String> {
    peer.call(
        "ss_v2_cut",
        json!({"sent": hex::encode(sent), "service_id": service_id}),
    )
    .map(|r| hexb(&r, "received"))
    .map_err(|e| e.to_string())
}

fn distribution_id() -> DistributionId {
    DistributionId::parse(GROUP).unwrap()
}

/// missive `from` starts a session with the peer's `party` and hands it its group chain
/// over that session; the peer processes it.
fn missive_distributes_to_peer(peer: &mut Peer, party: &str, to: (&str, u32), from: &mut Dev) {
    let bundle = peer.make_bundle(party, true).unwrap();
    let remote = ProtocolAddress::new(to.0, to.1);
    from.device
        .process_prekey_bundle(&remote, &to_missive_bundle(&bundle), NOW, &mut from.rng)
        .unwrap();
    let d = from
        .device
        .sender_key_distribution_message(distribution_id(), &mut from.rng)
        .unwrap();
    let m = from
        .device
        .encrypt(&remote, d.serialized(), NOW, &mut from.rng)
        .unwrap();
    let wire = common::to_wire(&m);
    let a = from.address();
    let got = peer.decrypt(party, a.name(), a.device_id(), &wire).unwrap();
    peer.sk_process(party, a.name(), a.device_id(), &got)
        .unwrap();
}

/// The peer's `party` (at `from`) starts a session with missive `to` and hands it its
/// group chain; missive processes it under the sender its session authenticated.
fn peer_distributes_to_missive(peer: &mut Peer, party: &str, from: (&str, u32), to: &mut Dev) {
    let a = to.address();
    let bundle = to.bundle();
    peer.process_bundle(party, a.name(), a.device_id(), &bundle)
        .unwrap();
    let d = peer.sk_distribution(party, GROUP).unwrap();
    let m = peer.encrypt(party, a.name(), a.device_id(), &d).unwrap();
    let from_addr = ProtocolAddress::new(from.0, from.1);
    let got = to
        .device
        .decrypt(&from_addr, common::wire_type(&m), &m.body, &mut to.rng)
        .unwrap();
    let d = SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap();
    to.device
        .process_sender_key_distribution_message(&got.sender, &d)
        .unwrap();
}

// ---------------------------------------------------------------------------------------
// v1

/// missive seals; libsignal-client opens: a prekey message, whisper messages after the
/// peer's (sealed) answer, and a group message.
#[test]
fn v1_missive_to_client() {
    let mut peer = client();
    let mut service = Service::new(1);
    let bob_keys = peer.new_party("bob", BOB, 2).unwrap();
    let mut alice = Dev::new(ALICE, 1, 10);
    let alice_cert = service.certify(ALICE, 1, &alice.identity_key());
    let bob_cert = service.certify(BOB, 2, &bob_keys.identity_key);
    let root = service.root_public();
    let bob = ProtocolAddress::new(BOB, 2);

    let bundle = peer.make_bundle("bob", true).unwrap();
    alice
        .device
        .process_prekey_bundle(&bob, &to_missive_bundle(&bundle), NOW, &mut alice.rng)
        .unwrap();
    let env = alice
        .device
        .sealed_encrypt(
            &bob,
            b"sealed prekey message",
            &alice_cert,
            ContentHint::RESENDABLE,
            None,
            NOW,
            &mut alice.rng,
        )
        .unwrap();
    let got = peer_open(&mut peer, "bob", &env, &root).unwrap();
    assert_eq!(
        (got.sender_uuid.as_str(), got.sender_device, got.msg_type),
        (ALICE, 1, 3)
    );
    assert_eq!(got.plaintext, b"sealed prekey message");

    // The peer answers sealed (a whisper message), and missive opens it.
    let (usmc, kind) = peer_usmc(&mut peer, "bob", (ALICE, 1), b"sealed answer", &bob_cert);
    assert_eq!(kind, 2);
    let env = peer_seal_v1(&mut peer, "bob", (ALICE, 1), &usmc);
    let got = alice.open(&env, root).unwrap();
    assert_eq!(got.sender, bob);
    assert_eq!(got.message.plaintext(), b"sealed answer");

    // Now missive's messages are whisper messages.
    for i in 0..3 {
        let text = format!("sealed whisper {i}");
        let env = alice
            .device
            .sealed_encrypt(
                &bob,
                text.as_bytes(),
                &alice_cert,
                ContentHint::DEFAULT,
                None,
                NOW,
                &mut alice.rng,
            )
            .unwrap();
        let got = peer_open(&mut peer, "bob", &env, &root).unwrap();
        assert_eq!(
            (got.msg_type, got.plaintext.as_slice()),
            (2, text.as_bytes())
        );
    }

    // A group message, sealed v1 for the peer.
    let d = alice
        .device
        .sender_key_distribution_message(distribution_id(), &mut alice.rng)
        .unwrap();
    let m = alice
        .device
        .encrypt(&bob, d.serialized(), NOW, &mut alice.rng)
        .unwrap();
    let got = peer.decrypt("bob", ALICE, 1, &common::to_wire(&m)).unwrap();
    peer.sk_process("bob", ALICE, 1, &got).unwrap();
    let g = alice
        .device
        .group_encrypt(distribution_id(), b"sealed group message", &mut alice.rng)
        .unwrap();
    let content = UnidentifiedSenderMessageContent::new(
        ContentType::SenderKey,
        alice_cert.clone(),
        g.serialized().to_vec(),
        ContentHint::IMPLICIT,
        Some(b"group id".to_vec()),
    );
    let env = alice
        .device
        .seal_v1(&bob, &content, &mut alice.rng)
        .unwrap();
    let got = peer_open(&mut peer, "bob", &env, &root).unwrap();
    assert_eq!(got.msg_type, 7);
    assert_eq!(got.group_id.as_deref(), Some(&b"group id"[..]));
    assert_eq!(got.plaintext, b"sealed group message");
    eprintln!("v1 missive -> libsignal-client: prekey, whisper x3, sender-key: ok");
}

/// libsignal-client seals; missive opens: a prekey message, whisper messages, and a
/// group message.
#[test]
fn v1_client_to_missive() {
    let mut peer = client();
    let mut service = Service::new(2);
    let alice_keys = peer.new_party("alice", ALICE, 1).unwrap();
    let mut bob = Dev::new(BOB, 2, 20);
    let alice_cert = service.certify(ALICE, 1, &alice_keys.identity_key);
    let bob_cert = service.certify(BOB, 2, &bob.identity_key());
    let root = service.root_public();
    let alice = ProtocolAddress::new(ALICE, 1);

    let bundle = bob.bundle();
    peer.process_bundle("alice", BOB, 2, &bundle).unwrap();
    let (usmc, kind) = peer_usmc(
        &mut peer,
        "alice",
        (BOB, 2),
        b"sealed by libsignal",
        &alice_cert,
    );
    assert_eq!(kind, 3);
    let env = peer_seal_v1(&mut peer, "alice", (BOB, 2), &usmc);
    let got = bob.open(&env, root).unwrap();
    assert_eq!(got.sender, alice);
    let SealedMessage::OneToOne(d) = &got.message else {
        panic!("1:1")
    };
    assert!(d.new_session);
    assert_eq!(d.plaintext, b"sealed by libsignal");
    assert_eq!(d.identity_change, IdentityChange::New);

    let env = bob
        .device
        .sealed_encrypt(
            &alice,
            b"missive answers",
            &bob_cert,
            ContentHint::DEFAULT,
            None,
            NOW,
            &mut bob.rng,
        )
        .unwrap();
    let got = peer_open(&mut peer, "alice", &env, &root).unwrap();
    assert_eq!(
        (got.sender_uuid.as_str(), got.sender_device, got.msg_type),
        (BOB, 2, 2)
    );
    assert_eq!(got.plaintext, b"missive answers");
    for i in 0..3 {
        let text = format!("libsignal whisper {i}");
        let (usmc, kind) = peer_usmc(&mut peer, "alice", (BOB, 2), text.as_bytes(), &alice_cert);
        assert_eq!(kind, 2);
        let env = peer_seal_v1(&mut peer, "alice", (BOB, 2), &usmc);
        assert_eq!(
            bob.open(&env, root).unwrap().message.plaintext(),
            text.as_bytes()
        );
    }

    // A group message: the peer's chain reaches missive over the session.
    let d = peer.sk_distribution("alice", GROUP).unwrap();
    let m = peer.encrypt("alice", BOB, 2, &d).unwrap();
    let got = bob
        .device
        .decrypt(&alice, common::wire_type(&m), &m.body, &mut bob.rng)
        .unwrap();
    let dm = SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap();
    bob.device
        .process_sender_key_distribution_message(&got.sender, &dm)
        .unwrap();
    let usmc = peer_group_usmc(
        &mut peer,
        "alice",
        b"libsignal group message",
        &alice_cert,
        b"gid",
    );
    let env = peer_seal_v1(&mut peer, "alice", (BOB, 2), &usmc);
    let got = bob.open(&env, root).unwrap();
    assert_eq!(got.group_id.as_deref(), Some(&b"gid"[..]));
    let SealedMessage::Group {
        distribution_id: id,
        plaintext,
    } = got.message
    else {
        panic!("group")
    };
    assert_eq!(id, distribution_id());
    assert_eq!(plaintext, b"libsignal group message");
    eprintln!("v1 libsignal-client -> missive: prekey, whisper x4, sender-key: ok");
}

// ---------------------------------------------------------------------------------------
// v2

/// A v2 message's cut, by both servers: the same copy for every recipient, and nothing
/// for anyone else.
fn both_cuts(peer: &mut Peer, sent: &[u8], recipients: &[&str], excluded: &[&str]) -> Vec<Vec<u8>> {
    let parsed = SentMessage::parse(sent).unwrap();
    let view = peer
        .call("ss_v2_parse", json!({"sent": hex::encode(sent)}))
        .unwrap();
    let mut theirs: Vec<String> = view["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_id"].as_str().unwrap().to_owned())
        .collect();
    theirs.sort();
    let mut ours: Vec<String> = parsed
        .recipients()
        .iter()
        .map(|r| r.service_id().to_string())
        .collect();
    ours.sort();
    let mut expect: Vec<String> = recipients.iter().map(|s| s.to_string()).collect();
    expect.sort();
    assert_eq!(ours, expect);
    assert_eq!(theirs, expect);
    let ex: Vec<String> = parsed.excluded().iter().map(ToString::to_string).collect();
    let theirs_ex: Vec<String> = view["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ex, excluded);
    assert_eq!(theirs_ex, excluded);
    for x in excluded.iter().chain([ALICE].iter()) {
        assert!(
            parsed
                .received_message_for(&ServiceId::parse(x).unwrap())
                .is_none()
        );
        assert!(
            peer_cut(peer, sent, x).is_err(),
            "the peer cut a copy for {x}"
        );
    }
    recipients
        .iter()
        .map(|r| {
            let mine = parsed
                .received_message_for(&ServiceId::parse(r).unwrap())
                .unwrap();
            let theirs = peer_cut(peer, sent, r).unwrap();
            assert_eq!(mine, theirs, "the two servers cut different copies for {r}");
            mine
        })
        .collect()
}

/// missive seals a group message once for Bob and Carol (libsignal-client) and Dave and
/// Erin (missive), Frank excluded; both servers cut it; everyone opens their copy; the
/// excluded recipient (who holds the chain) gets nothing and opens nobody's copy.
#[test]
fn v2_from_missive_to_mixed_recipients() {
    let mut peer = client();
    let mut service = Service::new(3);
    let mut alice = Dev::new(ALICE, 1, 30);
    let cert = service.certify(ALICE, 1, &alice.identity_key());
    let root = service.root_public();
    peer.new_party("bob", BOB, 1).unwrap();
    peer.new_party("carol", CAROL, 1).unwrap();
    missive_distributes_to_peer(&mut peer, "bob", (BOB, 1), &mut alice);
    missive_distributes_to_peer(&mut peer, "carol", (CAROL, 1), &mut alice);
    let mut dave = Dev::new(DAVE, 1, 31);
    let mut erin = Dev::new(ERIN, 1, 32);
    let mut frank = Dev::new(FRANK, 1, 33);
    for m in [&mut dave, &mut erin, &mut frank] {
        // missive to missive: Alice starts the session and sends her chain over it.
        let b = to_missive_bundle(&m.bundle());
        let to = m.address();
        alice
            .device
            .process_prekey_bundle(&to, &b, NOW, &mut alice.rng)
            .unwrap();
        let d = alice
            .device
            .sender_key_distribution_message(distribution_id(), &mut alice.rng)
            .unwrap();
        let c = alice
            .device
            .encrypt(&to, d.serialized(), NOW, &mut alice.rng)
            .unwrap();
        let got = m
            .device
            .decrypt(
                &alice.address(),
                c.message_type(),
                c.serialize(),
                &mut m.rng,
            )
            .unwrap();
        m.device
            .process_sender_key_distribution_message(
                &got.sender,
                &SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap(),
            )
            .unwrap();
    }
    let to: Vec<ProtocolAddress> = [BOB, CAROL, DAVE, ERIN]
        .iter()
        .map(|n| ProtocolAddress::new(*n, 1))
        .collect();
    let frank_id = ServiceId::parse(FRANK).unwrap();
    let sent = alice
        .device
        .sealed_group_encrypt(
            distribution_id(),
            b"one encryption, four readers",
            &cert,
            ContentHint::RESENDABLE,
            Some(b"g"),
            &to,
            &[frank_id],
            &mut alice.rng,
        )
        .unwrap();
    let copies = both_cuts(&mut peer, &sent, &[BOB, CAROL, DAVE, ERIN], &[FRANK]);
    for (party, copy) in ["bob", "carol"].iter().zip(&copies) {
        let got = peer_open(&mut peer, party, copy, &root).unwrap();
        assert_eq!((got.sender_uuid.as_str(), got.msg_type), (ALICE, 7));
        assert_eq!(got.plaintext, b"one encryption, four readers");
    }
    for (m, copy) in [&mut dave, &mut erin].into_iter().zip(&copies[2..]) {
        let got = m.open(copy, root).unwrap();
        assert_eq!(got.sender.name(), ALICE);
        assert_eq!(got.message.plaintext(), b"one encryption, four readers");
    }
    // Frank, excluded, holds Alice's chain but no copy; any copy he is handed is
    // someone else's.
    for copy in &copies {
        assert_eq!(
            frank.open(copy, root).map(|_| ()),
            Err(SealedError::DecryptionFailed.into())
        );
    }
    eprintln!(
        "v2 missive -> {{libsignal-client x2, missive x2}}, 1 excluded: both cuts equal, all opened"
    );
}

/// libsignal-client seals a group message once for Bob and Carol (missive) and Dave
/// (libsignal-client), Erin excluded; both servers cut it; everyone opens their copy.
#[test]
fn v2_from_client_to_mixed_recipients() {
    let mut peer = client();
    let mut service = Service::new(4);
    let alice_keys = peer.new_party("alice", ALICE, 1).unwrap();
    let cert = service.certify(ALICE, 1, &alice_keys.identity_key);
    let root = service.root_public();
    let mut bob = Dev::new(BOB, 1, 40);
    let mut carol = Dev::new(CAROL, 1, 41);
    let mut erin = Dev::new(ERIN, 1, 42);
    for m in [&mut bob, &mut carol, &mut erin] {
        peer_distributes_to_missive(&mut peer, "alice", (ALICE, 1), m);
    }
    // Dave is another libsignal-client party, in the same process.
    peer.new_party("dave", DAVE, 1).unwrap();
    let dave_bundle = peer.make_bundle("dave", true).unwrap();
    peer.process_bundle("alice", DAVE, 1, &dave_bundle).unwrap();
    let d = peer.sk_distribution("alice", GROUP).unwrap();
    let m = peer.encrypt("alice", DAVE, 1, &d).unwrap();
    let got = peer.decrypt("dave", ALICE, 1, &m).unwrap();
    peer.sk_process("dave", ALICE, 1, &got).unwrap();

    let usmc = peer_group_usmc(
        &mut peer,
        "alice",
        b"sealed once by libsignal",
        &cert,
        b"gid",
    );
    let recipients = json!([{"name": BOB, "device": 1}, {"name": CAROL, "device": 1}, {"name": DAVE, "device": 1}]);
    let r = peer
        .call("ss_seal_v2", json!({"party": "alice", "recipients": recipients, "excluded": [ERIN], "usmc": hex::encode(&usmc)}))
        .unwrap();
    let sent = hexb(&r, "body");
    let copies = both_cuts(&mut peer, &sent, &[BOB, CAROL, DAVE], &[ERIN]);
    for (m, copy) in [&mut bob, &mut carol].into_iter().zip(&copies) {
        let got = m.open(copy, root).unwrap();
        assert_eq!(got.sender, ProtocolAddress::new(ALICE, 1));
        assert_eq!(got.message.plaintext(), b"sealed once by libsignal");
    }
    let got = peer_open(&mut peer, "dave", &copies[2], &root).unwrap();
    assert_eq!(got.plaintext, b"sealed once by libsignal");
    for copy in &copies {
        assert_eq!(
            erin.open(copy, root).map(|_| ()),
            Err(SealedError::DecryptionFailed.into())
        );
    }
    eprintln!(
        "v2 libsignal-client -> {{missive x2, libsignal-client x1}}, 1 excluded: both cuts equal, all opened"
    );
}

// ---------------------------------------------------------------------------------------
// The identity gap

/// A server that certifies Alice's uuid with Mallory's key lets Mallory seal Alice's
/// whisper message. libsignal-client accepts it as from Alice; missive refuses it
/// (`SealedError::IdentityMismatch`) and accepts Alice's own envelope around the same
/// message.
#[test]
fn forged_certificate_identity_peer_accepts_missive_refuses() {
    let mut peer = client();
    let mut service = Service::new(5);
    let mut rng = ChaCha20Rng::seed_from_u64(50);
    let mallory = IdentityKeyPair::generate(&mut rng);
    let forged = service.certify(ALICE, 1, &mallory.identity_key().serialize());

    // missive Alice -> peer Bob: the peer accepts Mallory's envelope.
    let bob_keys = peer.new_party("bob", BOB, 2).unwrap();
    let mut alice = Dev::new(ALICE, 1, 51);
    let bob = ProtocolAddress::new(BOB, 2);
    let bundle = peer.make_bundle("bob", true).unwrap();
    alice
        .device
        .process_prekey_bundle(&bob, &to_missive_bundle(&bundle), NOW, &mut alice.rng)
        .unwrap();
    let m = alice
        .device
        .encrypt(&bob, b"Alice's words", NOW, &mut alice.rng)
        .unwrap();
    let content = UnidentifiedSenderMessageContent::new(
        ContentType::PreKey,
        forged.clone(),
        m.serialize().to_vec(),
        ContentHint::DEFAULT,
        None,
    );
    let bob_key = IdentityKey::deserialize(&bob_keys.identity_key).unwrap();
    let env = seal_v1(&content, &mallory, &bob_key, &mut rng).unwrap();
    let got = peer_open(&mut peer, "bob", &env, &service.root_public());
    let got = got
        .expect("libsignal-client 0.103 accepts a certificate that does not name the inner sender");
    assert_eq!(
        (got.sender_uuid.as_str(), got.plaintext.as_slice()),
        (ALICE, &b"Alice's words"[..])
    );

    // peer Alice -> missive Bob: missive refuses the same construction.
    let alice_keys = peer.new_party("alice", ALICE, 1).unwrap();
    let mut mbob = Dev::new(BOB, 2, 52);
    let bundle = mbob.bundle();
    peer.process_bundle("alice", BOB, 2, &bundle).unwrap();
    let honest = service.certify(ALICE, 1, &alice_keys.identity_key);
    let (usmc, _) = peer_usmc(&mut peer, "alice", (BOB, 2), b"Alice's words", &honest);
    let inner = UnidentifiedSenderMessageContent::deserialize(&usmc).unwrap();
    let content = UnidentifiedSenderMessageContent::new(
        inner.msg_type(),
        forged,
        inner.contents().to_vec(),
        ContentHint::DEFAULT,
        None,
    );
    let mbob_key = IdentityKey::deserialize(&mbob.identity_key()).unwrap();
    let env = seal_v1(&content, &mallory, &mbob_key, &mut rng).unwrap();
    let before = mbob.device.store().snapshot();
    assert_eq!(
        mbob.open(&env, service.root_public()).map(|_| ()),
        Err(SealedError::IdentityMismatch.into())
    );
    assert!(before == mbob.device.store().snapshot());
    let env = peer_seal_v1(&mut peer, "alice", (BOB, 2), &usmc);
    assert_eq!(
        mbob.open(&env, service.root_public())
            .unwrap()
            .message
            .plaintext(),
        b"Alice's words"
    );
}

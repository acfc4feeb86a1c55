//! Sealed sender through [`Device`]: v1 around prekey, whisper and group messages, v2 to
//! a group cut by the server, and every refusal the issue lists, each with its error and
//! every record byte-identical afterwards (and the honest message still opening).

mod group_common;

use group_common::{GROUP, Member, NOW, connect, group, rng};
use missive::crypto::PrivateKey;
use missive::sealed::*;
use missive::*;
use rand_chacha::ChaCha20Rng;

const ALICE: &str = "9d0652a3-dcc3-4d11-975f-74d61598733f";
const BOB: &str = "796abedb-ca4e-4f18-8803-1fde5b921f9f";
const CAROL: &str = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const DAVE: &str = "dddddddd-0000-4000-8000-000000000001";
const EVE: &str = "eeeeeeee-0000-4000-8000-000000000002";

/// A certificate lifetime: a day past [`NOW`].
const EXPIRES: u64 = NOW.as_millis() + 86_400_000;

/// The service of a sovereign deployment: its trust root and one server key.
struct Service {
    root: PrivateKey,
    server: PrivateKey,
    server_certificate: ServerCertificate,
    rng: ChaCha20Rng,
}

impl Service {
    fn new(seed: u64) -> Self {
        Self::with_key_id(seed, 1)
    }

    fn with_key_id(seed: u64, key_id: u32) -> Self {
        let mut rng = rng(seed);
        let root = PrivateKey::generate(&mut rng);
        let server = PrivateKey::generate(&mut rng);
        let server_certificate =
            ServerCertificate::new(key_id, server.public_key(), &root, &mut rng);
        Service {
            root,
            server,
            server_certificate,
            rng,
        }
    }

    fn roots(&self) -> [missive::crypto::PublicKey; 1] {
        [self.root.public_key()]
    }

    /// A certificate for `m`'s address and identity, expiring at `expires`.
    fn certify(&mut self, m: &Member, expires: u64) -> SenderCertificate {
        let key = *m.device.store().identity_key_pair().unwrap().identity_key();
        self.certify_key(m.address.name(), m.address.device_id(), key, expires)
    }

    fn certify_key(
        &mut self,
        uuid: &str,
        device: u32,
        key: IdentityKey,
        expires: u64,
    ) -> SenderCertificate {
        SenderCertificate::new(
            uuid,
            None,
            u8::try_from(device).unwrap(),
            key,
            expires,
            Signer::Certificate(self.server_certificate.clone()),
            &self.server,
            &mut self.rng,
        )
        .unwrap()
    }
}

fn snapshot(m: &Member) -> Vec<(&'static str, Vec<u8>)> {
    m.device.store().snapshot()
}

fn open(m: &mut Member, bytes: &[u8], trust: &TrustPolicy<'_>) -> Result<SealedDecrypted, Error> {
    m.device.sealed_decrypt(bytes, trust, NOW, &mut m.rng)
}

/// `bytes` is refused with `expected` and changes nothing in `m`.
fn refused(m: &mut Member, bytes: &[u8], trust: &TrustPolicy<'_>, expected: Error) {
    let before = snapshot(m);
    let got = open(m, bytes, trust).map(|d| d.message.plaintext().to_vec());
    assert_eq!(got, Err(expected));
    assert!(before == snapshot(m), "a refused message changed the store");
}

fn sealed_1to1(
    from: &mut Member,
    to: &ProtocolAddress,
    text: &[u8],
    cert: &SenderCertificate,
) -> Vec<u8> {
    from.device
        .sealed_encrypt(
            to,
            text,
            cert,
            ContentHint::RESENDABLE,
            None,
            NOW,
            &mut from.rng,
        )
        .unwrap()
}

// ---------------------------------------------------------------------------------------
// Round trips

#[test]
fn v1_around_prekey_and_whisper_messages() {
    let mut service = Service::new(1);
    let mut alice = Member::new(ALICE, 10);
    let mut bob = Member::new(BOB, 11);
    let roots = service.roots();
    let trust = TrustPolicy::new(&roots, &[]);
    let alice_cert = service.certify(&alice, EXPIRES);
    let bob_cert = service.certify(&bob, EXPIRES);

    // Alice starts the session: her first message is a prekey message, sealed.
    let bundle = bob.bundle();
    alice
        .device
        .process_prekey_bundle(&bob.address, &bundle, NOW, &mut alice.rng)
        .unwrap();
    let env = sealed_1to1(&mut alice, &bob.address, b"hello, sealed", &alice_cert);
    assert_eq!(env[0], VERSION_V1);
    let got = open(&mut bob, &env, &trust).unwrap();
    assert_eq!(got.sender, alice.address);
    assert_eq!(got.certificate.sender_uuid(), ALICE);
    assert_eq!(got.content_hint, ContentHint::RESENDABLE);
    let SealedMessage::OneToOne(d) = &got.message else {
        panic!("1:1")
    };
    assert!(d.new_session);
    assert_eq!(d.plaintext, b"hello, sealed");
    assert_eq!(d.identity_change, IdentityChange::New);
    assert_eq!(d.sender.address(), &alice.address);

    // Bob answers on the session (whisper messages), sealed, and they go on.
    for i in 0..3 {
        let text = format!("reply {i}");
        let env = sealed_1to1(&mut bob, &alice.address, text.as_bytes(), &bob_cert);
        let got = open(&mut alice, &env, &trust).unwrap();
        assert_eq!(got.sender, bob.address);
        let SealedMessage::OneToOne(d) = &got.message else {
            panic!("1:1")
        };
        assert!(!d.new_session);
        assert_eq!(d.plaintext, text.as_bytes());
        let text = format!("again {i}");
        let env = sealed_1to1(&mut alice, &bob.address, text.as_bytes(), &alice_cert);
        assert_eq!(
            open(&mut bob, &env, &trust).unwrap().message.plaintext(),
            text.as_bytes()
        );
    }
    // A replayed envelope opens, but its inner message is a duplicate: the session's own
    // error, and nothing changes.
    refused(
        &mut bob,
        &env,
        &trust,
        ProtocolError::DuplicateMessage.into(),
    );
}

#[test]
fn v1_around_a_group_message() {
    let mut service = Service::new(2);
    let mut members = group(&[ALICE, BOB, CAROL], 20);
    let roots = service.roots();
    let trust = TrustPolicy::new(&roots, &[]);
    let cert = service.certify(&members[0], EXPIRES);
    let alice = &mut members[0];
    let m = alice
        .device
        .group_encrypt(GROUP, b"to the group", &mut alice.rng)
        .unwrap();
    let content = UnidentifiedSenderMessageContent::new(
        ContentType::SenderKey,
        cert,
        m.serialized().to_vec(),
        ContentHint::IMPLICIT,
        Some(b"group-id".to_vec()),
    );
    let (to_bob, to_carol) = (members[1].address.clone(), members[2].address.clone());
    let alice = &mut members[0];
    let before = snapshot(alice);
    let env_bob = alice
        .device
        .seal_v1(&to_bob, &content, &mut alice.rng)
        .unwrap();
    let env_carol = alice
        .device
        .seal_v1(&to_carol, &content, &mut alice.rng)
        .unwrap();
    assert!(before == snapshot(alice), "sealing changes nothing");
    for (i, env) in [(1, &env_bob), (2, &env_carol)] {
        let got = open(&mut members[i], env, &trust).unwrap();
        assert_eq!(got.sender.name(), ALICE);
        assert_eq!(got.group_id.as_deref(), Some(&b"group-id"[..]));
        let SealedMessage::Group {
            distribution_id,
            plaintext,
        } = got.message
        else {
            panic!("group")
        };
        assert_eq!(distribution_id, GROUP);
        assert_eq!(plaintext, b"to the group");
    }
    // Bob's envelope is sealed to Bob: Carol cannot open it.
    refused(
        &mut members[2],
        &env_bob,
        &trust,
        SealedError::DecryptionFailed.into(),
    );
}

#[test]
fn v2_to_a_group_cut_by_the_server() {
    let mut service = Service::new(3);
    let mut members = group(&[ALICE, BOB, CAROL, DAVE, EVE], 30);
    let roots = service.roots();
    let trust = TrustPolicy::new(&roots, &[]);
    let cert = service.certify(&members[0], EXPIRES);
    let recipients: Vec<ProtocolAddress> =
        members[1..4].iter().map(|m| m.address.clone()).collect();
    let eve = ServiceId::parse(EVE).unwrap();
    let alice = &mut members[0];
    let sent = alice
        .device
        .sealed_group_encrypt(
            GROUP,
            b"sealed once",
            &cert,
            ContentHint::DEFAULT,
            Some(b"gid"),
            &recipients,
            &[eve],
            &mut alice.rng,
        )
        .unwrap();
    assert_eq!(sent[0], VERSION_V2_SENT);

    // The server: who gets a copy and who was excluded; nothing about the sender.
    let parsed = SentMessage::parse(&sent).unwrap();
    let ids: Vec<ServiceId> = parsed.recipients().iter().map(|r| r.service_id()).collect();
    let expect: Vec<ServiceId> = [BOB, CAROL, DAVE]
        .iter()
        .map(|s| ServiceId::parse(s).unwrap())
        .collect();
    assert_eq!(ids, expect);
    assert_eq!(parsed.excluded(), &[eve]);
    for (r, m) in parsed.recipients().iter().zip(&members[1..4]) {
        let reg = m.device.store().local_registration_id().unwrap();
        assert_eq!(
            r.devices(),
            &[RecipientDevice {
                device_id: 1,
                registration_id: reg as u16
            }]
        );
    }
    assert!(
        parsed
            .received_message_for(&ServiceId::parse(ALICE).unwrap())
            .is_none()
    );
    assert!(
        parsed.received_message_for(&eve).is_none(),
        "the excluded get nothing"
    );

    let copies: Vec<Vec<u8>> = expect
        .iter()
        .map(|id| parsed.received_message_for(id).unwrap())
        .collect();
    for (i, copy) in copies.iter().enumerate() {
        let got = open(&mut members[i + 1], copy, &trust).unwrap();
        assert_eq!(got.sender.name(), ALICE);
        assert_eq!(got.group_id.as_deref(), Some(&b"gid"[..]));
        assert_eq!(got.message.plaintext(), b"sealed once");
    }
    // Eve holds the chain (she was in the group) but no copy addressed to her: any copy
    // she is handed is someone else's and does not open.
    for copy in &copies {
        refused(
            &mut members[4],
            copy,
            &trust,
            SealedError::DecryptionFailed.into(),
        );
    }
}

#[test]
fn v2_merges_the_devices_of_one_recipient() {
    let mut service = Service::new(4);
    let mut alice = Member::new(ALICE, 40);
    let mut bob1 = Member::new(BOB, 41);
    // Bob's second device: same identity, device id 2.
    let identity = bob1.device.store().identity_key_pair().unwrap().clone();
    let mut bob2 = Member::with_identity(BOB, 2, identity, 77, 42);
    connect(&mut alice, &mut bob1);
    connect(&mut alice, &mut bob2);
    let roots = service.roots();
    let trust = TrustPolicy::new(&roots, &[]);
    let cert = service.certify(&alice, EXPIRES);
    let d = alice.distribution(GROUP);
    for b in [&mut bob1, &mut bob2] {
        group_common::share(&mut alice, b, &d);
    }
    let to = [bob1.address.clone(), bob2.address.clone()];
    let sent = alice
        .device
        .sealed_group_encrypt(
            GROUP,
            b"both devices",
            &cert,
            ContentHint::DEFAULT,
            None,
            &to,
            &[],
            &mut alice.rng,
        )
        .unwrap();
    let parsed = SentMessage::parse(&sent).unwrap();
    assert_eq!(parsed.recipients().len(), 1);
    assert_eq!(parsed.recipients()[0].devices().len(), 2);
    let copy = parsed
        .received_message_for(&ServiceId::parse(BOB).unwrap())
        .unwrap();
    for b in [&mut bob1, &mut bob2] {
        assert_eq!(
            open(b, &copy, &trust).unwrap().message.plaintext(),
            b"both devices"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Refusals: each with its error, nothing changed, and the honest message still opens.

/// Alice and Bob with a session both ways (Alice wrote first), and a service.
fn pair(seed: u64) -> (Service, Member, Member) {
    let service = Service::new(seed);
    let (alice, bob) = group_common::connected(ALICE, BOB, seed + 100);
    (service, alice, bob)
}

#[test]
fn expired_certificate() {
    let (mut service, mut alice, mut bob) = pair(50);
    let roots = service.roots();
    let trust = TrustPolicy::new(&roots, &[]);
    let cert = service.certify(&alice, NOW.as_millis() - 1);
    let env = sealed_1to1(&mut alice, &bob.address, b"late", &cert);
    refused(&mut bob, &env, &trust, CertificateError::Expired.into());
    // Valid through its expiry millisecond: the same envelope opens at that time.
    let got = bob.device.sealed_decrypt(
        &env,
        &trust,
        Timestamp::from_millis(NOW.as_millis() - 1),
        &mut bob.rng,
    );
    assert_eq!(got.unwrap().message.plaintext(), b"late");
}

#[test]
fn unknown_and_revoked_server_keys() {
    let (mut service, mut alice, mut bob) = pair(51);
    let key = *alice
        .device
        .store()
        .identity_key_pair()
        .unwrap()
        .identity_key();
    let roots = service.roots();
    // Named by key id only (field 8): unknown unless the receiver knows that certificate.
    let by_id = SenderCertificate::new(
        ALICE,
        None,
        1,
        key,
        EXPIRES,
        Signer::Reference(1),
        &service.server,
        &mut service.rng,
    )
    .unwrap();
    let env = sealed_1to1(&mut alice, &bob.address, b"by id", &by_id);
    refused(
        &mut bob,
        &env,
        &TrustPolicy::new(&roots, &[]),
        CertificateError::UnknownServerCertificate.into(),
    );
    let known = [service.server_certificate.clone()];
    // Known, but its key id revoked by this receiver.
    let revoking = TrustPolicy::new(&roots, &known).with_revoked_server_key_ids(&[1]);
    refused(
        &mut bob,
        &env,
        &revoking,
        CertificateError::RevokedServerKey.into(),
    );
    let got = open(&mut bob, &env, &TrustPolicy::new(&roots, &known)).unwrap();
    assert_eq!(got.message.plaintext(), b"by id");

    // A server certificate with the id libsignal-client refuses (0xDEADC357), correctly
    // signed by the trust root.
    let mut bad = Service::with_key_id(52, REVOKED_SERVER_KEY_IDS[0]);
    let roots = bad.roots();
    let cert = bad.certify(&alice, EXPIRES);
    let env = sealed_1to1(&mut alice, &bob.address, b"revoked", &cert);
    refused(
        &mut bob,
        &env,
        &TrustPolicy::new(&roots, &[]),
        CertificateError::RevokedServerKey.into(),
    );
}

#[test]
fn trust_root_mismatch() {
    let (mut service, mut alice, mut bob) = pair(53);
    let other = Service::new(54);
    let cert = service.certify(&alice, EXPIRES);
    let env = sealed_1to1(&mut alice, &bob.address, b"whose root?", &cert);
    let roots = other.roots();
    refused(
        &mut bob,
        &env,
        &TrustPolicy::new(&roots, &[]),
        CertificateError::UntrustedServerCertificate.into(),
    );
    let both = [other.root.public_key(), service.root.public_key()];
    assert!(open(&mut bob, &env, &TrustPolicy::new(&both, &[])).is_ok());
}

#[test]
fn self_send() {
    let (mut service, _alice, mut bob) = pair(55);
    let roots = service.roots();
    let trust = TrustPolicy::new(&roots, &[]);
    let cert = service.certify(&bob, EXPIRES);
    let content = UnidentifiedSenderMessageContent::new(
        ContentType::Plaintext,
        cert,
        b"me".to_vec(),
        ContentHint::DEFAULT,
        None,
    );
    let me = bob.device.store().identity_key_pair().unwrap().clone();
    let env = seal_v1(&content, &me, me.identity_key(), &mut bob.rng).unwrap();
    refused(&mut bob, &env, &trust, SealedError::SelfSend.into());
}

/// The gap libsignal-client leaves open: a server issues a certificate with Alice's uuid
/// and Mallory's key, and Mallory seals a message that Alice's session made. The
/// envelope and the certificate are fine; the inner message is Alice's. missive refuses
/// it, for each kind of inner message, in both envelope versions.
#[test]
fn certificate_identity_must_be_the_inner_senders() {
    let mut service = Service::new(56);
    let mut members = group(&[ALICE, BOB], 560);
    let roots = service.roots();
    let trust = TrustPolicy::new(&roots, &[]);
    let mut mrng = rng(57);
    let mallory = IdentityKeyPair::generate(&mut mrng);
    let forged = service.certify_key(ALICE, 1, *mallory.identity_key(), EXPIRES);
    let honest = service.certify(&members[0], EXPIRES);
    let bob_key = *members[1]
        .device
        .store()
        .identity_key_pair()
        .unwrap()
        .identity_key();
    let bob_id = ServiceId::parse(BOB).unwrap();
    let bob_reg = members[1].device.store().local_registration_id().unwrap() as u16;

    // Whisper, group: the inner messages Alice's session and chain make.
    let (a, b) = group_common::two(&mut members, 0, 1);
    let whisper = a
        .device
        .encrypt(&b.address, b"whisper", NOW, &mut a.rng)
        .unwrap();
    let grp = a.device.group_encrypt(GROUP, b"group", &mut a.rng).unwrap();
    // A prekey message: Alice (same identity, a fresh store) starts a new session from
    // a fresh bundle of Bob's.
    let identity = a.device.store().identity_key_pair().unwrap().clone();
    let mut alice2 = Member::with_identity(ALICE, 1, identity, 5, 59);
    let bundle = b.bundle();
    alice2
        .device
        .process_prekey_bundle(&b.address, &bundle, NOW, &mut alice2.rng)
        .unwrap();
    let prekey = alice2
        .device
        .encrypt(&b.address, b"prekey", NOW, &mut alice2.rng)
        .unwrap();
    assert_eq!(prekey.message_type(), CiphertextMessageType::PreKey);

    let inner = [
        (
            ContentType::PreKey,
            prekey.serialize().to_vec(),
            &b"prekey"[..],
        ),
        (
            ContentType::Whisper,
            whisper.serialize().to_vec(),
            &b"whisper"[..],
        ),
        (
            ContentType::SenderKey,
            grp.serialized().to_vec(),
            &b"group"[..],
        ),
    ];
    for (kind, bytes, text) in &inner {
        let content = |cert: &SenderCertificate| {
            UnidentifiedSenderMessageContent::new(
                *kind,
                cert.clone(),
                bytes.clone(),
                ContentHint::DEFAULT,
                None,
            )
        };
        let v1 = seal_v1(&content(&forged), &mallory, &bob_key, &mut mrng).unwrap();
        refused(b, &v1, &trust, SealedError::IdentityMismatch.into());
        let dest = Destination {
            service_id: bob_id,
            identity_key: bob_key,
            devices: vec![RecipientDevice {
                device_id: 1,
                registration_id: bob_reg,
            }],
        };
        let sent = seal_v2(&content(&forged), &mallory, &[dest], &[], &mut mrng).unwrap();
        let copy = SentMessage::parse(&sent)
            .unwrap()
            .received_message_for(&bob_id)
            .unwrap();
        refused(b, &copy, &trust, SealedError::IdentityMismatch.into());
        // Alice's own envelope around the same inner message opens.
        let alice_key = a.device.store().identity_key_pair().unwrap().clone();
        let honest_env = seal_v1(&content(&honest), &alice_key, &bob_key, &mut mrng).unwrap();
        let got = open(b, &honest_env, &trust).unwrap();
        assert_eq!(got.message.plaintext(), *text, "{kind:?}");
    }
}

#[test]
fn a_copy_cut_for_another_recipient() {
    let mut service = Service::new(60);
    let mut members = group(&[ALICE, BOB, CAROL], 600);
    let roots = service.roots();
    let trust = TrustPolicy::new(&roots, &[]);
    let cert = service.certify(&members[0], EXPIRES);
    let to = [members[1].address.clone(), members[2].address.clone()];
    let alice = &mut members[0];
    let sent = alice
        .device
        .sealed_group_encrypt(
            GROUP,
            b"x",
            &cert,
            ContentHint::DEFAULT,
            None,
            &to,
            &[],
            &mut alice.rng,
        )
        .unwrap();
    let parsed = SentMessage::parse(&sent).unwrap();
    let for_carol = parsed
        .received_message_for(&ServiceId::parse(CAROL).unwrap())
        .unwrap();
    let for_bob = parsed
        .received_message_for(&ServiceId::parse(BOB).unwrap())
        .unwrap();
    refused(
        &mut members[1],
        &for_carol,
        &trust,
        SealedError::DecryptionFailed.into(),
    );
    // Carol's header spliced onto the shared part is still Carol's; Bob's c with Carol's
    // at is neither.
    let mut spliced = for_bob.clone();
    spliced[33..49].copy_from_slice(&for_carol[33..49]);
    refused(
        &mut members[1],
        &spliced,
        &trust,
        SealedError::SenderKeyMismatch.into(),
    );
    assert_eq!(
        open(&mut members[1], &for_bob, &trust)
            .unwrap()
            .message
            .plaintext(),
        b"x"
    );
}

/// Every truncation and every single-bit flip of `good` is refused by `m`, leaving every
/// record byte-identical; then `good` opens.
fn every_change_refused(m: &mut Member, good: &[u8], trust: &TrustPolicy<'_>) {
    let before = snapshot(m);
    for len in 0..good.len() {
        assert!(open(m, &good[..len], trust).is_err(), "truncated to {len}");
    }
    let mut extended = good.to_vec();
    extended.push(0);
    assert!(open(m, &extended, trust).is_err(), "extended");
    let mut b = good.to_vec();
    for i in 0..b.len() {
        for bit in 0..8 {
            b[i] ^= 1 << bit;
            assert!(open(m, &b, trust).is_err(), "byte {i} bit {bit}");
            b[i] ^= 1 << bit;
        }
        // One snapshot per byte keeps the test fast; a change at any flip of the byte
        // would still show here.
        assert!(
            before == snapshot(m),
            "byte {i}: a refused message changed the store"
        );
    }
    assert!(open(m, good, trust).is_ok());
}

#[test]
fn v1_every_bit_flip_and_truncation_is_refused() {
    let (mut service, mut alice, mut bob) = pair(70);
    let roots = service.roots();
    let trust = TrustPolicy::new(&roots, &[]);
    let cert = service.certify(&alice, EXPIRES);
    let env = sealed_1to1(&mut alice, &bob.address, b"flip me", &cert);
    every_change_refused(&mut bob, &env, &trust);
}

#[test]
fn v2_every_bit_flip_and_truncation_is_refused() {
    let mut service = Service::new(71);
    let mut members = group(&[ALICE, BOB, CAROL], 710);
    let roots = service.roots();
    let trust = TrustPolicy::new(&roots, &[]);
    let cert = service.certify(&members[0], EXPIRES);
    let to = [members[1].address.clone(), members[2].address.clone()];
    let alice = &mut members[0];
    let sent = alice
        .device
        .sealed_group_encrypt(
            GROUP,
            b"flip me too",
            &cert,
            ContentHint::DEFAULT,
            None,
            &to,
            &[],
            &mut alice.rng,
        )
        .unwrap();
    let bob_id = ServiceId::parse(BOB).unwrap();
    let copy = SentMessage::parse(&sent)
        .unwrap()
        .received_message_for(&bob_id)
        .unwrap();
    // The sent message, through the server's cut: a flip either breaks the parse, gives
    // no copy for Bob, gives Bob's copy unchanged (a flip in Carol's entry), or gives a
    // copy Bob refuses without any change.
    let before = snapshot(&members[1]);
    let mut b = sent.clone();
    for i in 0..b.len() {
        for bit in 0..8 {
            b[i] ^= 1 << bit;
            if let Ok(p) = SentMessage::parse(&b)
                && let Some(c) = p.received_message_for(&bob_id)
                && c != copy
            {
                assert!(
                    open(&mut members[1], &c, &trust).is_err(),
                    "sent byte {i} bit {bit}"
                );
            }
            b[i] ^= 1 << bit;
        }
    }
    assert!(before == snapshot(&members[1]));
    every_change_refused(&mut members[1], &copy, &trust);
}

// ---------------------------------------------------------------------------------------
// Sending: misuse refused before anything changes

#[test]
fn sealing_refuses_misuse_without_a_state_change() {
    let mut service = Service::new(80);
    let mut members = group(&[ALICE, BOB], 800);
    let cert = service.certify(&members[0], EXPIRES);
    let other = service.certify(&members[1], EXPIRES);
    let bob = members[1].address.clone();
    let alice = &mut members[0];
    let before = snapshot(alice);
    // A certificate naming someone else's key.
    let e = alice.device.sealed_encrypt(
        &bob,
        b"x",
        &other,
        ContentHint::DEFAULT,
        None,
        NOW,
        &mut alice.rng,
    );
    assert_eq!(e, Err(MisuseError::InvalidArgument.into()));
    // Recipients: not a service id; no session; sent to and excluded.
    let plain = ProtocolAddress::new("bob", 1);
    let stranger = ProtocolAddress::new(CAROL, 1);
    let bob_id = ServiceId::parse(BOB).unwrap();
    for (to, excluded, err) in [
        (
            vec![plain],
            vec![],
            Error::from(MisuseError::InvalidArgument),
        ),
        (vec![stranger], vec![], ProtocolError::NoSession.into()),
        (
            vec![bob.clone()],
            vec![bob_id],
            MisuseError::InvalidArgument.into(),
        ),
    ] {
        let e = alice.device.sealed_group_encrypt(
            GROUP,
            b"x",
            &cert,
            ContentHint::DEFAULT,
            None,
            &to,
            &excluded,
            &mut alice.rng,
        );
        assert_eq!(e, Err(err));
    }
    assert!(
        before == snapshot(alice),
        "refused sealing changed the store"
    );
    // And a valid one still works, advancing the chain once.
    assert!(
        alice
            .device
            .sealed_group_encrypt(
                GROUP,
                b"x",
                &cert,
                ContentHint::DEFAULT,
                None,
                &[bob],
                &[],
                &mut alice.rng
            )
            .is_ok()
    );
    assert!(before != snapshot(alice));
}

#[test]
fn debug_of_a_sealed_result_names_no_plaintext() {
    let (mut service, mut alice, mut bob) = pair(90);
    let roots = service.roots();
    let trust = TrustPolicy::new(&roots, &[]);
    let cert = service.certify(&alice, EXPIRES);
    let env = sealed_1to1(&mut alice, &bob.address, b"secret words", &cert);
    let got = open(&mut bob, &env, &trust).unwrap();
    let s = format!("{got:?}");
    assert!(s.contains("SealedDecrypted") && s.contains("plaintext_len"));
    assert!(!s.contains("secret words"));
}

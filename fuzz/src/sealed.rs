//! The sealed-sender decoders: certificates and the content, a v1 envelope, a received
//! v2 copy, and the server's parse and cut of a sent v2 message.
//!
//! The envelopes are opened with a fixed recipient identity ([`recipient`]); the seeds
//! (`seeds.rs`) are real envelopes sealed to it, so mutations reach every check after
//! the parser (MACs, the ephemeral-key check, the AEAD, the content, the sender tag).

use missive::IdentityKeyPair;
use missive::crypto::{PrivateKey, PublicKey};
use missive::sealed::{
    self, SenderCertificate, SentMessage, ServerCertificate, ServiceId, TrustPolicy,
    UnidentifiedSenderMessageContent, VERSION_V1, VERSION_V2_RECEIVED, VERSION_V2_SENT,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::sync::OnceLock;

/// Seed of the fixed keys below.
const KEYS_SEED: u64 = 0x5ea1_ed00;

/// The recipient every sealed seed is addressed to, and the trust root and server key
/// that certified its senders.
pub fn keys() -> &'static (IdentityKeyPair, PrivateKey, PrivateKey) {
    static KEYS: OnceLock<(IdentityKeyPair, PrivateKey, PrivateKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut rng = ChaCha20Rng::seed_from_u64(KEYS_SEED);
        let recipient = IdentityKeyPair::generate(&mut rng);
        let root = PrivateKey::generate(&mut rng);
        let server = PrivateKey::generate(&mut rng);
        (recipient, root, server)
    })
}

/// The recipient alone.
pub fn recipient() -> &'static IdentityKeyPair {
    &keys().0
}

fn root() -> PublicKey {
    keys().1.public_key()
}

/// `ServerCertificate`, `SenderCertificate` and `UnidentifiedSenderMessageContent`
/// parsers on the same input: what parses keeps the input as its serialization and
/// parses again to the same value; validation answers without panicking; the content's
/// canonical re-encoding (its constructor) parses to the same fields.
pub fn sealed_certificate(data: &[u8]) {
    let roots = [root()];
    if let Ok(c) = ServerCertificate::deserialize(data) {
        assert_eq!(c.serialized(), data);
        assert_eq!(
            ServerCertificate::deserialize(c.serialized()).as_ref(),
            Ok(&c)
        );
        let _ = c.verify(&roots);
    }
    if let Ok(c) = SenderCertificate::deserialize(data) {
        assert_eq!(c.serialized(), data);
        assert_eq!(
            SenderCertificate::deserialize(c.serialized()).as_ref(),
            Ok(&c)
        );
        assert!((1..=127).contains(&c.device_id()));
        let known: Vec<ServerCertificate> = match c.signer() {
            sealed::Signer::Certificate(s) => vec![s.clone()],
            sealed::Signer::Reference(_) => vec![],
        };
        let trust = TrustPolicy::new(&roots, &known);
        let _ = c.validate(&trust, 0);
        let _ = c.validate(&trust, u64::MAX);
    }
    if let Ok(u) = UnidentifiedSenderMessageContent::deserialize(data) {
        assert_eq!(u.serialized(), data);
        let canonical = UnidentifiedSenderMessageContent::new(
            u.msg_type(),
            u.sender().clone(),
            u.contents().to_vec(),
            u.content_hint(),
            u.group_id().map(<[u8]>::to_vec),
        );
        let again = UnidentifiedSenderMessageContent::deserialize(canonical.serialized())
            .expect("canonical content parses");
        assert_eq!(again.msg_type(), u.msg_type());
        assert_eq!(again.sender(), u.sender());
        assert_eq!(again.contents(), u.contents());
        assert_eq!(again.content_hint(), u.content_hint());
        // An empty group id is not written.
        assert_eq!(again.group_id(), u.group_id().filter(|g| !g.is_empty()));
    }
}

/// Opens `data` as an envelope for [`recipient`]; what opens was sealed with the
/// certificate's key (checked inside) and its content re-parses to itself, and
/// [`sealed::decrypt`] agrees with [`sealed::open`] up to the certificate's verdict.
fn open_check(data: &[u8]) {
    let me = recipient();
    let opened = sealed::open(data, me);
    let roots = [root()];
    let trust = TrustPolicy::new(&roots, &[]);
    let decrypted = sealed::decrypt(data, me, &trust, 0, "fuzz", 1);
    match (&opened, &decrypted) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (
            Ok(_),
            Err(sealed::SealedSenderError::Certificate(_) | sealed::SealedSenderError::SelfSend),
        ) => {}
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("open {a:?} but decrypt {b:?}"),
    }
    if let Ok(c) = opened {
        let again = UnidentifiedSenderMessageContent::deserialize(c.serialized())
            .expect("an opened content parses again");
        assert_eq!(again, c);
    }
}

/// A v1 envelope (the version byte is forced to 0x11 so every input reaches the v1
/// path).
pub fn sealed_v1(data: &[u8]) {
    let mut b = data.to_vec();
    if let Some(v) = b.first_mut() {
        *v = VERSION_V1;
    }
    open_check(&b);
}

/// A received v2 copy (version byte forced to 0x22).
pub fn sealed_v2(data: &[u8]) {
    let mut b = data.to_vec();
    if let Some(v) = b.first_mut() {
        *v = VERSION_V2_RECEIVED;
    }
    open_check(&b);
}

/// The server's parse of a sent v2 message and its cut: what parses re-encodes (as a
/// 0x23 message, recipients then excluded) to bytes that parse to the same recipients,
/// excluded recipients and shared part; every copy is `0x22 ‖ c ‖ at ‖ shared`; no
/// service id is both a recipient and excluded; the copy for each recipient opens or
/// fails without panicking.
pub fn sealed_v2_cut(data: &[u8]) {
    let Ok(sent) = SentMessage::parse(data) else {
        return;
    };
    let mut canonical = vec![VERSION_V2_SENT];
    put_varint(
        &mut canonical,
        (sent.recipients().len() + sent.excluded().len()) as u64,
    );
    for r in sent.recipients() {
        assert!(!sent.excluded().contains(&r.service_id()));
        assert!(!r.devices().is_empty());
        canonical.extend_from_slice(r.service_id().as_bytes());
        for (i, d) in r.devices().iter().enumerate() {
            assert!((1..=127).contains(&d.device_id) && d.registration_id <= 0x3fff);
            let more = if i + 1 < r.devices().len() { 0x8000 } else { 0 };
            canonical.push(d.device_id);
            canonical.extend_from_slice(&(d.registration_id | more).to_be_bytes());
        }
        canonical.extend_from_slice(r.key_material());
        let copy = sent.received_message(r);
        assert_eq!(copy.len(), 1 + 48 + sent.shared().len());
        assert_eq!(copy.first(), Some(&VERSION_V2_RECEIVED));
        assert_eq!(copy.get(1..49), Some(&r.key_material()[..]));
        assert_eq!(
            sent.received_message_for(&r.service_id()),
            Some(copy.clone())
        );
        let _ = sealed::open(&copy, recipient());
    }
    for x in sent.excluded() {
        assert!(sent.received_message_for(x).is_none());
        canonical.extend_from_slice(x.as_bytes());
        canonical.push(0);
    }
    canonical.extend_from_slice(sent.shared());
    let again = SentMessage::parse(&canonical).expect("canonical sent message parses");
    type Entry = (ServiceId, Vec<(u8, u16)>, [u8; 48]);
    let ids = |s: &SentMessage<'_>| -> Vec<Entry> {
        s.recipients()
            .iter()
            .map(|r| {
                let devices = r.devices().iter().map(|d| (d.device_id, d.registration_id));
                (r.service_id(), devices.collect(), *r.key_material())
            })
            .collect()
    };
    assert_eq!(ids(&again), ids(&sent));
    assert_eq!(again.excluded(), sent.excluded());
    assert_eq!(again.shared(), sent.shared());
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

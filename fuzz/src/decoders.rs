//! One check per decoder. Each parses the input; when it parses, it checks the round
//! trip the format allows:
//!
//! * exact formats (keys, the SPQR state): `encode(decode(x)) == x`;
//! * protobuf messages and records, whose parsers accept non-canonical input (unknown
//!   fields in messages, repeated fields, non-minimal varints): `decode(encode(v)) == v`
//!   and `encode` is a fixpoint, `encode(decode(encode(v))) == encode(v)`.

use missive::__fuzz::{self, SpqrState};
use missive::crypto::{KemCiphertext, KemPublicKey, KemSecretKey, PublicKey};
use missive::{
    IdentityKey, IdentityKeyPair, KyberPreKeyRecord, PreKeyBundle, PreKeyRecord,
    PreKeySignalMessage, SessionRecord, SignalMessage, SignedPreKeyRecord,
};

use super::party::NOW;

type SignalFields = (u8, PublicKey, u32, u32, Vec<u8>, Vec<u8>, Option<[u8; 36]>);

fn signal_fields(m: &SignalMessage) -> SignalFields {
    (
        m.message_version(),
        *m.sender_ratchet_key(),
        m.counter(),
        m.previous_counter(),
        m.body().to_vec(),
        m.pq_ratchet().to_vec(),
        m.addresses().copied(),
    )
}

/// `SignalMessage::deserialize`: keeps the input as its serialization; the canonical
/// re-encoding keeps every field and the MAC.
pub fn signal_message(data: &[u8]) {
    let Ok(m) = SignalMessage::deserialize(data) else {
        return;
    };
    assert_eq!(m.serialized(), data);
    assert!(matches!(m.message_version(), 3 | 4));
    let canonical = __fuzz::reencode_signal_message(&m);
    let again = SignalMessage::deserialize(&canonical).expect("canonical form parses");
    assert_eq!(signal_fields(&m), signal_fields(&again));
    assert_eq!(__fuzz::reencode_signal_message(&again), canonical);
    assert_eq!(
        canonical.get(canonical.len() - 8..),
        data.get(data.len() - 8..)
    );
}

/// `PreKeySignalMessage::deserialize`: as for SignalMessage; the inner message is kept
/// byte for byte.
pub fn prekey_signal_message(data: &[u8]) {
    let Ok(m) = PreKeySignalMessage::deserialize(data) else {
        return;
    };
    assert_eq!(m.serialized(), data);
    assert_eq!(m.message_version(), m.message().message_version());
    assert_eq!(m.kyber().is_some(), m.message_version() == 4);
    let fields = |m: &PreKeySignalMessage| {
        (
            m.message_version(),
            m.registration_id(),
            m.pre_key_id(),
            m.signed_pre_key_id(),
            m.kyber().map(|(id, ct)| (id, ct.serialize().to_vec())),
            *m.base_key(),
            *m.identity_key(),
            m.message().serialized().to_vec(),
        )
    };
    let canonical = __fuzz::reencode_prekey_signal_message(&m);
    let again = PreKeySignalMessage::deserialize(&canonical).expect("canonical form parses");
    assert_eq!(fields(&m), fields(&again));
    assert_eq!(__fuzz::reencode_prekey_signal_message(&again), canonical);
}

/// Curve25519 public keys: `0x05 ‖ u` exactly; identity keys parse the same way. The rest
/// of the input, if the key parses from its first 33 bytes, is a 64-byte XEdDSA signature
/// and a message: verification must answer, whatever the bytes.
pub fn public_key(data: &[u8]) {
    let parsed = PublicKey::deserialize(data);
    assert_eq!(
        parsed.map(|k| *k.u_bytes()),
        IdentityKey::deserialize(data).map(|k| *k.public_key().u_bytes())
    );
    if let Ok(k) = parsed {
        assert_eq!(k.serialize().as_slice(), data);
        let _ = k.is_canonical();
    }
    let (Some(key), Some(sig), Some(msg)) = (data.get(..33), data.get(33..97), data.get(97..))
    else {
        return;
    };
    if let Ok(k) = PublicKey::deserialize(key) {
        let verified = k.verify_signature(msg, sig);
        assert_eq!(verified, IdentityKey::new(k).verify_signature(msg, sig));
    }
}

/// KEM public keys (validated), ciphertexts and secret keys: `type ‖ raw` exactly.
pub fn kem_key(data: &[u8]) {
    if let Ok(k) = KemPublicKey::deserialize(data) {
        assert_eq!(k.serialize().as_slice(), data);
        assert_eq!(data.first(), Some(&k.key_type().type_byte()));
    }
    if let Ok(c) = KemCiphertext::deserialize(data) {
        assert_eq!(c.serialize().as_slice(), data);
    }
    if let Ok(s) = KemSecretKey::deserialize(data) {
        assert_eq!(s.serialize().as_slice(), data);
    }
}

/// `PreKeyBundle::deserialize`: decode(encode(b)) == b, encode a fixpoint.
pub fn prekey_bundle(data: &[u8]) {
    let Ok(b) = PreKeyBundle::deserialize(data) else {
        return;
    };
    let canonical = b.serialize();
    let again = PreKeyBundle::deserialize(&canonical).expect("canonical form parses");
    assert_eq!(b, again);
    assert_eq!(again.serialize(), canonical);
}

/// The SPQR field: decode(encode(f)) == f; then a responder's state receives it. The
/// receive either fails and leaves the state byte-identical, or returns the key the
/// honest initiator derives for that index.
pub fn spqr_field(data: &[u8]) {
    if let Ok(f) = __fuzz::parse_spqr_field(data) {
        assert!(f.epoch >= 1);
        assert_eq!(f.chunk.is_some(), !matches!(f.msg_type, 0 | 4));
        let canonical = __fuzz::encode_spqr_field(&f);
        assert_eq!(__fuzz::parse_spqr_field(&canonical), Ok(f));
    }
    const AUTH: [u8; 32] = [0x5a; 32];
    let mut responder = SpqrState::new(&AUTH, false);
    let before = responder.serialize();
    match responder.recv(data) {
        Err(_) => assert_eq!(
            responder.serialize(),
            before,
            "failed receive changed state"
        ),
        Ok(key) => {
            let f = __fuzz::parse_spqr_field(data).expect("a received field parses");
            assert_eq!(f.epoch, 1);
            // Deriving the sender's key costs one HKDF per index: compare the keys up to
            // just past the skipped-key window, where every branch of `recv` is reached.
            if f.index > 2_100 {
                return;
            }
            let mut initiator = SpqrState::new(&AUTH, true);
            let mut sent = None;
            for _ in 0..f.index {
                sent = Some(initiator.send().expect("index below u32::MAX").1);
            }
            assert_eq!(sent.as_deref(), Some(&*key), "wrong SPQR key");
        }
    }
}

/// The binary SPQR state: `encode(decode(x)) == x` (the format has one encoding).
pub fn spqr_state(data: &[u8]) {
    if let Ok(s) = SpqrState::deserialize(data) {
        assert_eq!(s.serialize().as_slice(), data);
    }
}

/// `IdentityKeyPair::deserialize`.
pub fn identity_key_pair(data: &[u8]) {
    let Ok(k) = IdentityKeyPair::deserialize(data) else {
        return;
    };
    assert_eq!(k.private_key().public_key(), *k.public_key());
    let canonical = k.serialize();
    let again = IdentityKeyPair::deserialize(&canonical).expect("canonical form parses");
    assert_eq!(again.identity_key(), k.identity_key());
    assert_eq!(again.serialize(), canonical);
}

/// `PreKeyRecord::deserialize`.
pub fn prekey_record(data: &[u8]) {
    let Ok(r) = PreKeyRecord::deserialize(data) else {
        return;
    };
    assert_eq!(r.key_pair().private_key.public_key(), *r.public_key());
    let canonical = r.serialize();
    let again = PreKeyRecord::deserialize(&canonical).expect("canonical form parses");
    assert_eq!((again.id(), again.public_key()), (r.id(), r.public_key()));
    assert_eq!(again.serialize(), canonical);
}

/// `SignedPreKeyRecord::deserialize`.
pub fn signed_prekey_record(data: &[u8]) {
    let Ok(r) = SignedPreKeyRecord::deserialize(data) else {
        return;
    };
    assert_eq!(r.key_pair().private_key.public_key(), *r.public_key());
    let canonical = r.serialize();
    let again = SignedPreKeyRecord::deserialize(&canonical).expect("canonical form parses");
    let fields = |r: &SignedPreKeyRecord| (r.id(), r.timestamp(), *r.public_key(), *r.signature());
    assert_eq!(fields(&again), fields(&r));
    assert_eq!(again.serialize(), canonical);
}

/// `KyberPreKeyRecord::deserialize`.
pub fn kyber_prekey_record(data: &[u8]) {
    let Ok(r) = KyberPreKeyRecord::deserialize(data) else {
        return;
    };
    assert!(r.secret_key().matches(r.public_key()));
    let canonical = r.serialize();
    let again = KyberPreKeyRecord::deserialize(&canonical).expect("canonical form parses");
    let fields = |r: &KyberPreKeyRecord| {
        (
            r.id(),
            r.timestamp(),
            r.public_key().clone(),
            *r.signature(),
            r.is_last_resort(),
        )
    };
    assert_eq!(fields(&again), fields(&r));
    assert_eq!(again.serialize(), canonical);
}

/// `SessionRecord::deserialize`: the bounds hold, and the round trip keeps what the
/// record says.
pub fn session_record(data: &[u8]) {
    let Ok(r) = SessionRecord::deserialize(data) else {
        return;
    };
    assert!(r.archived_count() <= missive::session::MAX_ARCHIVED_SESSIONS_LIMIT);
    let canonical = r.serialize();
    let again = SessionRecord::deserialize(&canonical).expect("canonical form parses");
    let fields = |r: &SessionRecord| {
        (
            r.session_version(),
            r.local_registration_id(),
            r.remote_registration_id(),
            r.remote_identity().copied(),
            r.archived_count(),
            r.has_usable_sender_chain(NOW),
        )
    };
    assert_eq!(fields(&again), fields(&r));
    assert_eq!(again.serialize(), canonical);
}

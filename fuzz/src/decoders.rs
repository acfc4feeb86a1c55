//! One check per decoder. Each parses the input; when it parses, it checks the round
//! trip the format allows:
//!
//! * exact formats (keys, the SPQR state): `encode(decode(x)) == x`;
//! * protobuf messages and records, whose parsers accept non-canonical input (unknown
//!   fields in messages, repeated fields, non-minimal varints): `decode(encode(v)) == v`
//!   and `encode` is a fixpoint, `encode(decode(encode(v))) == encode(v)`.

use std::cell::RefCell;

use missive::__fuzz::{self, SpqrState};
use missive::crypto::{KemCiphertext, KemPublicKey, KemSecretKey, PublicKey};
use missive::{
    DistributionId, Error, IdentityKey, IdentityKeyPair, KyberPreKeyRecord, MisuseError,
    PreKeyBundle, PreKeyRecord, PreKeySignalMessage, Sender, SenderKeyDistributionMessage,
    SenderKeyMessage, SenderKeyRecord, SessionRecord, SignalMessage, SignedPreKeyRecord,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::party::{self, ALICE, BOB, NOW, Party};

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
            let mut rng = ChaCha20Rng::seed_from_u64(0);
            let mut sent = None;
            for _ in 0..f.index {
                sent = Some(initiator.send(&mut rng).expect("index below u32::MAX").1);
            }
            assert_eq!(sent.as_deref(), Some(&*key), "wrong SPQR key");
        }
    }
}

/// The binary SPQR state: `encode(decode(x)) == x` (each format has one encoding),
/// except that format 2 (written before the braid) is read and written back in format 3,
/// which then round-trips exactly.
pub fn spqr_state(data: &[u8]) {
    if let Ok(s) = SpqrState::deserialize(data) {
        let out = s.serialize();
        if data.first() == Some(&2) {
            assert_eq!(
                out.first(),
                Some(&3),
                "format 2 is written back in format 3"
            );
            let again = SpqrState::deserialize(&out).expect("our own encoding parses");
            assert_eq!(again.serialize(), out);
            assert_eq!((again.epoch(), s.epoch()), (1, 1));
        } else {
            assert_eq!(out.as_slice(), data);
        }
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
    assert_eq!(r.key_pair().private_key().public_key(), *r.public_key());
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
    assert_eq!(r.key_pair().private_key().public_key(), *r.public_key());
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

type SenderKeyFields = (DistributionId, u32, u32, Vec<u8>);

fn sender_key_fields(m: &SenderKeyMessage) -> SenderKeyFields {
    (
        m.distribution_id(),
        m.chain_id(),
        m.iteration(),
        m.ciphertext().to_vec(),
    )
}

/// `SenderKeyMessage::deserialize`: keeps the input as its serialization; the canonical
/// re-encoding (`__fuzz::reencode_sender_key_message`) keeps the version byte, every
/// field and the signature, and is a fixpoint.
pub fn sender_key_message(data: &[u8]) {
    let Ok(m) = SenderKeyMessage::deserialize(data) else {
        return;
    };
    assert_eq!(m.serialized(), data);
    assert!(matches!(data.first(), Some(0x33 | 0x34)));
    let canonical = __fuzz::reencode_sender_key_message(&m);
    let again = SenderKeyMessage::deserialize(&canonical).expect("canonical form parses");
    assert_eq!(sender_key_fields(&m), sender_key_fields(&again));
    assert_eq!(__fuzz::reencode_sender_key_message(&again), canonical);
    assert_eq!(canonical.first(), data.first());
    assert_eq!(
        canonical.get(canonical.len() - 64..),
        data.get(data.len() - 64..)
    );
}

/// A member with a 1:1 session with Alice, and the sender that session authenticated:
/// what processing a distribution message needs. Made once per thread (a PQXDH
/// handshake); each input gets a copy.
fn member_of_alice() -> (Party, Sender) {
    thread_local! {
        static MEMBER: RefCell<Option<(Party, Sender)>> = const { RefCell::new(None) };
    }
    MEMBER.with(|m| {
        let mut m = m.borrow_mut();
        let (member, sender) = m.get_or_insert_with(|| {
            let mut rng = ChaCha20Rng::seed_from_u64(0x736b_646d);
            let mut alice = party::device(ALICE, 1, false, &mut rng);
            let mut bob = party::device(BOB, 2, false, &mut rng);
            let bundle = party::publish_bundle(&mut bob, false, false, &mut rng);
            let to = bob.address().clone();
            party::start_session(&mut alice, &bundle, &to, &mut rng).expect("honest bundle");
            let m = alice.encrypt(&to, b"", NOW, &mut rng).expect("session");
            let from = alice.address().clone();
            let got = bob
                .decrypt(&from, m.message_type(), m.serialize(), &mut rng)
                .expect("honest message");
            (bob, got.sender)
        });
        (party::copy(member), sender.clone())
    })
}

/// `SenderKeyDistributionMessage::deserialize`: as for SenderKeyMessage (the canonical
/// form is written under `0x33`). Processed by a member without sender keys (from a
/// sender its 1:1 session authenticated), it gives a record with exactly its chain,
/// which round-trips; processed again (a replay), that record stays byte-identical.
pub fn sender_key_distribution_message(data: &[u8]) {
    let Ok(m) = SenderKeyDistributionMessage::deserialize(data) else {
        return;
    };
    assert_eq!(m.serialized(), data);
    let fields = |m: &SenderKeyDistributionMessage| {
        (
            m.distribution_id(),
            m.chain_id(),
            m.iteration(),
            *m.chain_key(),
            *m.signing_key(),
        )
    };
    let canonical = __fuzz::reencode_sender_key_distribution_message(&m);
    let again =
        SenderKeyDistributionMessage::deserialize(&canonical).expect("canonical form parses");
    assert_eq!(fields(&m), fields(&again));
    assert_eq!(
        *__fuzz::reencode_sender_key_distribution_message(&again),
        *canonical
    );

    let (mut member, sender) = member_of_alice();
    let record = |member: &Party| {
        let s = &member.store().sender_key_store;
        assert_eq!(s.len(), 1, "one record");
        s.sender_key(sender.address(), m.distribution_id())
            .expect("processed")
            .clone()
    };
    member
        .process_sender_key_distribution_message(&sender, &m)
        .expect("from another device");
    let r = record(&member);
    assert_eq!(r.chain_ids().collect::<Vec<_>>(), [m.chain_id()]);
    let bytes = r.serialize();
    let parsed = SenderKeyRecord::deserialize(&bytes).expect("a processed record parses");
    assert_eq!(*parsed.serialize(), *bytes);
    member
        .process_sender_key_distribution_message(&sender, &again)
        .expect("from another device");
    assert_eq!(
        *record(&member).serialize(),
        *bytes,
        "a replay changed the record"
    );
}

/// `SenderKeyRecord::deserialize`: the bounds hold, the round trip keeps the chains, and
/// the record works as our own: sending on it either yields a message signed by the key
/// its distribution names, at the iteration before it, or fails with `InvalidState`
/// leaving the record byte-identical.
pub fn sender_key_record(data: &[u8]) {
    let Ok(r) = SenderKeyRecord::deserialize(data) else {
        return;
    };
    let ids: Vec<u32> = r.chain_ids().collect();
    assert!(ids.len() <= missive::MAX_SENDER_KEY_STATES);
    assert_eq!(ids.len(), r.state_count());
    assert!(
        ids.iter().enumerate().all(|(i, a)| !ids[..i].contains(a)),
        "duplicate chain ids"
    );
    let canonical = r.serialize();
    let again = SenderKeyRecord::deserialize(&canonical).expect("canonical form parses");
    assert_eq!(again.chain_ids().collect::<Vec<_>>(), ids);
    assert_eq!(*again.serialize(), *canonical);

    const GROUP: DistributionId = DistributionId::from_bytes([7; 16]);
    let mut rng = ChaCha20Rng::seed_from_u64(0);
    let mut us = party::device("us", 1, false, &mut rng);
    let address = us.address().clone();
    us.store_mut()
        .sender_key_store
        .store_sender_key(&address, GROUP, again);
    match us.group_encrypt(GROUP, b"fuzz", &mut rng) {
        Ok(m) => {
            assert_eq!(
                (m.distribution_id(), Some(m.chain_id())),
                (GROUP, ids.first().copied())
            );
            let d = us
                .sender_key_distribution_message(GROUP, &mut rng)
                .expect("our chain");
            assert_eq!(
                (d.chain_id(), d.iteration()),
                (m.chain_id(), m.iteration() + 1)
            );
            assert!(
                m.verify_signature(d.signing_key()),
                "signed with another key"
            );
        }
        Err(e) => {
            assert_eq!(e, Error::Misuse(MisuseError::InvalidState));
            let r = us.store().sender_key_store.sender_key(&address, GROUP);
            assert_eq!(*r.expect("stored").serialize(), *canonical);
        }
    }
}

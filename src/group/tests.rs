extern crate std;

use std::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

use super::chain::{SenderChainKey, SenderMessageKeys};
use super::state::SenderKeyState;
use super::*;
use crate::crypto::kdf::{hkdf, hmac};

fn state(iteration: u32) -> SenderKeyState {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut s = new_sending_state(&[], &mut rng).unwrap();
    s.chain_key = SenderChainKey::new(iteration, [7u8; 32]);
    s
}

fn keys_at(ck0: [u8; 32], start: u32, iteration: u32) -> ([u8; 16], [u8; 32]) {
    let mut ck = ck0;
    for _ in start..iteration {
        ck = hmac(&ck, &[&[0x02]]);
    }
    let seed = hmac(&ck, &[&[0x01]]);
    let okm: [u8; 48] = hkdf(None, &seed, &[b"WhisperGroup"]);
    (okm[..16].try_into().unwrap(), okm[16..].try_into().unwrap())
}

fn same(k: &SenderMessageKeys, expected: ([u8; 16], [u8; 32])) -> bool {
    k.iv == expected.0 && k.cipher_key == expected.1
}

#[test]
fn message_keys_are_iv_first() {
    let mut s = state(0);
    for i in [0u32, 1, 5, 4, 2, 3, 100] {
        let k = s.keys_for(i).unwrap();
        assert!(same(&k, keys_at([7u8; 32], 0, i)), "iteration {i}");
    }
    assert_eq!(s.chain_key.iteration(), 101);
    // 6..=99 are stored; 0..=5 and 100 are used.
    assert_eq!(s.skipped.len(), 94);
}

#[test]
fn duplicates_and_used_keys_are_refused() {
    let mut s = state(10);
    assert_eq!(s.keys_for(9).err(), Some(ProtocolError::DuplicateMessage));
    s.keys_for(12).unwrap();
    s.keys_for(11).unwrap();
    for i in [10u32, 11, 12, 0] {
        let mut t = s.clone();
        let r = t.keys_for(i).map(|_| ());
        if i == 10 {
            assert!(r.is_ok());
        } else {
            assert_eq!(r, Err(ProtocolError::DuplicateMessage), "iteration {i}");
        }
    }
}

#[test]
fn forward_jump_at_and_past_the_limit() {
    for start in [0u32, 1, 1000] {
        let mut s = state(start);
        assert!(s.keys_for(start + MAX_SENDER_KEY_FORWARD_JUMP).is_ok());
        assert_eq!(s.skipped.len(), MAX_SENDER_MESSAGE_KEYS);
        let mut s = state(start);
        assert_eq!(
            s.keys_for(start + MAX_SENDER_KEY_FORWARD_JUMP + 1).err(),
            Some(ProtocolError::TooFarInFuture)
        );
        assert_eq!(s.chain_key.iteration(), start, "unchanged");
        assert!(s.skipped.is_empty());
    }
}

#[test]
fn stored_keys_at_and_past_the_limit() {
    let max = MAX_SENDER_MESSAGE_KEYS as u32;
    // Skipping exactly MAX keys keeps them all; one more drops the oldest.
    let mut s = state(0);
    s.keys_for(max).unwrap();
    assert_eq!(s.skipped.len(), MAX_SENDER_MESSAGE_KEYS);
    assert!(s.clone().keys_for(0).is_ok());
    let mut s = state(0);
    s.keys_for(max + 1).unwrap();
    assert_eq!(s.skipped.len(), MAX_SENDER_MESSAGE_KEYS);
    assert_eq!(
        s.clone().keys_for(0).err(),
        Some(ProtocolError::DuplicateMessage)
    );
    assert!(s.clone().keys_for(1).is_ok());
    // Across two jumps the newest MAX stored keys are kept (a count, not a window of
    // iterations: 1000 survives because 1500 was used; libsignal does the same).
    let mut s = state(0);
    s.keys_for(1500).unwrap();
    s.keys_for(3001).unwrap();
    let kept: Vec<u32> = s.skipped.iter().map(|e| e.n).collect();
    assert_eq!(kept.first(), Some(&1000));
    assert_eq!(kept.last(), Some(&3000));
    assert!(!kept.contains(&1500));
    assert_eq!(kept.len(), MAX_SENDER_MESSAGE_KEYS);
    // A jump that alone adds MAX keys drops every key stored before it and none of its
    // own.
    for jump in [max, max + 1, max + 500] {
        let mut s = state(0);
        s.keys_for(3).unwrap();
        assert_eq!(s.skipped.len(), 3);
        s.keys_for(4 + jump).unwrap();
        let kept: Vec<u32> = s.skipped.iter().map(|e| e.n).collect();
        let first = 4 + jump - max;
        assert_eq!(kept, (first..4 + jump).collect::<Vec<u32>>(), "jump {jump}");
    }
}

#[test]
fn last_iteration_of_a_chain_is_refused() {
    let mut s = state(u32::MAX - 2);
    assert!(s.keys_for(u32::MAX - 2).is_ok());
    assert!(s.keys_for(u32::MAX - 1).is_ok());
    assert_eq!(s.chain_key.iteration(), u32::MAX);
    assert_eq!(
        s.keys_for(u32::MAX).err(),
        Some(ProtocolError::TooFarInFuture)
    );
    let mut s = state(u32::MAX - 3);
    let before = s.chain_key.iteration();
    assert_eq!(
        s.keys_for(u32::MAX).err(),
        Some(ProtocolError::TooFarInFuture)
    );
    // A failed step may have stored seeds on this working copy; callers stage on a
    // copy, which is what the public API tests check.
    assert_eq!(before, u32::MAX - 3);
}

#[test]
fn chain_ids_are_31_bits_and_avoid_old_ones() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    for _ in 0..200 {
        assert!(new_sending_state(&[], &mut rng).unwrap().chain_id < 1 << 31);
    }
    // A few excluded ids are simply skipped.
    let mut probe = ChaCha20Rng::seed_from_u64(3);
    let first = new_sending_state(&[], &mut probe).unwrap().chain_id;
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    assert_ne!(
        new_sending_state(&[first], &mut rng).unwrap().chain_id,
        first
    );
}

/// An RNG that returns the same bytes forever.
struct Stuck;

impl rand_core::TryRng for Stuck {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(7)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(7)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        dst.fill(7);
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Stuck {}

#[test]
fn a_stuck_rng_is_refused_instead_of_looping() {
    let id = Stuck.next_u32() >> 1;
    assert!(new_sending_state(&[], &mut Stuck).is_ok());
    assert_eq!(
        new_sending_state(&[id], &mut Stuck).err(),
        Some(MisuseError::BadRng.into())
    );
}

#[test]
fn versions() {
    assert_eq!(version_byte(), 0x33);
    assert_eq!(parse_version(0x33), Ok(()));
    assert_eq!(parse_version(0x34), Ok(()));
    assert_eq!(parse_version(0x23), Err(DecodeError::LegacyVersion));
    assert_eq!(parse_version(0x13), Err(DecodeError::LegacyVersion));
    for b in [0x43u8, 0x44, 0x53, 0x30, 0x32, 0x35, 0x3f] {
        assert_eq!(parse_version(b), Err(DecodeError::UnknownVersion), "{b:#x}");
    }
}

#[test]
fn secrets_are_not_printed() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let s = new_sending_state(&[], &mut rng).unwrap();
    let key = std::format!("{:?}", s.chain_key.key());
    let m = SenderKeyDistributionMessage::new(
        DistributionId::from_bytes([1; 16]),
        s.chain_id,
        &s.chain_key,
        s.signing_key,
    );
    let mut record = SenderKeyRecord::new();
    record.add_state(std::boxed::Box::new(s));
    for shown in [std::format!("{m:?}"), std::format!("{record:?}")] {
        assert!(!shown.contains(&key), "{shown}");
        let hex: std::string::String = m
            .chain_key()
            .iter()
            .map(|b| std::format!("{b:02x}"))
            .collect();
        assert!(!shown.contains(&hex), "{shown}");
        assert!(!shown.contains("chain_key:"), "{shown}");
    }
}

/// The fuzz hook that skips ahead leaves exactly the record that encrypting and losing
/// the same number of messages leaves, and refuses what `group_encrypt` refuses.
#[test]
fn skipping_is_encrypting_without_the_messages() {
    use crate::__fuzz::skip_sender_messages;
    use crate::Device;
    use crate::keys::IdentityKeyPair;
    use crate::store::memory::InMemSignalProtocolStore;
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let us = ProtocolAddress::new("us", 1);
    let id = DistributionId::from_bytes([3; 16]);
    let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 1);
    let mut encrypted = Device::new(us.clone(), store);
    assert_eq!(
        skip_sender_messages(&mut encrypted, id, 1),
        Err(MisuseError::InvalidState.into())
    );
    encrypted
        .sender_key_distribution_message(id, &mut rng)
        .unwrap();
    let mut skipped = Device::new(us.clone(), encrypted.store().clone());
    for _ in 0..5 {
        encrypted.group_encrypt(id, b"lost", &mut rng).unwrap();
    }
    skip_sender_messages(&mut skipped, id, 5).unwrap();
    let record = |d: &Device<InMemSignalProtocolStore>| {
        d.store()
            .sender_key_store
            .sender_key(&us, id)
            .unwrap()
            .serialize()
    };
    assert_eq!(record(&encrypted), record(&skipped));

    // A member's copy of the chain is not ours to send on: put our chain under our own
    // address in another device's store, as a received copy.
    let d = skipped
        .sender_key_distribution_message(id, &mut rng)
        .unwrap();
    let theirs_store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 2);
    let mut theirs = Device::new(us.clone(), theirs_store);
    let mut received = SenderKeyRecord::new();
    received.add_state(std::boxed::Box::new(SenderKeyState {
        chain_id: d.chain_id(),
        chain_key: SenderChainKey::new(d.iteration(), *d.chain_key()),
        signing_key: *d.signing_key(),
        signing_private: None,
        verifier: None,
        skipped: crate::ratchet::skipped::SkippedKeys::new(),
    }));
    theirs
        .store_mut()
        .sender_key_store
        .store_sender_key(&us, id, received);
    assert_eq!(
        skip_sender_messages(&mut theirs, id, 1),
        Err(MisuseError::InvalidState.into())
    );

    // The last iteration has no successor, for skipping as for encrypting.
    let mut end = SenderKeyRecord::default();
    end.add_state(std::boxed::Box::new(state(u32::MAX - 2)));
    let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 3);
    let mut dev = Device::new(us.clone(), store);
    dev.store_mut()
        .sender_key_store
        .store_sender_key(&us, id, end);
    let before = record(&dev);
    assert_eq!(
        skip_sender_messages(&mut dev, id, 3),
        Err(MisuseError::InvalidState.into())
    );
    assert_eq!(record(&dev), before);
    skip_sender_messages(&mut dev, id, 2).unwrap();
    assert!(dev.group_encrypt(id, b"x", &mut rng).is_err());
}

/// The sender's store with its chain for `id`, a member's store that processed the
/// chain's distribution message, and that message.
fn sender_and_member(
    sender: &ProtocolAddress,
    id: DistributionId,
    rng: &mut ChaCha20Rng,
) -> (
    crate::store::memory::InMemSignalProtocolStore,
    crate::store::memory::InMemSignalProtocolStore,
    SenderKeyDistributionMessage,
) {
    use crate::store::ProtocolStore;
    use crate::store::memory::InMemSignalProtocolStore;
    let mut ours = InMemSignalProtocolStore::new(crate::IdentityKeyPair::generate(rng), 1);
    let (d, changes) = create_distribution(&ours, sender, id, rng).unwrap();
    ours.commit(changes).unwrap();
    let mut theirs = InMemSignalProtocolStore::new(crate::IdentityKeyPair::generate(rng), 1);
    theirs.commit(process_distribution(sender, &d)).unwrap();
    (ours, theirs, d)
}

/// `m` with the last byte of its signature flipped.
fn with_bad_signature(m: &SenderKeyMessage) -> SenderKeyMessage {
    let mut bytes = m.serialized().to_vec();
    *bytes.last_mut().unwrap() ^= 1;
    SenderKeyMessage::deserialize(&bytes).unwrap()
}

/// A chain's signing key is rebuilt for verification once: when its distribution message
/// is processed, or at the first message after its record was read from bytes (the
/// change then carries it into the record). Verdicts are the same either way.
#[test]
fn verifying_key_is_rebuilt_once_and_kept() {
    use crate::store::ProtocolStore;
    use crate::store::memory::InMemSignalProtocolStore;
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let sender = ProtocolAddress::new("sender", 1);
    let id = DistributionId::from_bytes([5; 16]);
    let (mut ours, mut theirs, _) = sender_and_member(&sender, id, &mut rng);
    let kept = |s: &InMemSignalProtocolStore| {
        s.sender_key_store.sender_key(&sender, id).unwrap().states[0]
            .verifier
            .is_some()
    };
    assert!(kept(&theirs), "rebuilt when the chain is received");

    let send = |ours: &mut InMemSignalProtocolStore, rng: &mut ChaCha20Rng| {
        let (m, changes) = encrypt(&*ours, &sender, id, b"hi", rng).unwrap();
        ours.commit(changes).unwrap();
        m
    };
    let carries_verifier = |c: &ChangeSet| match &c.sender_key {
        Some((
            _,
            _,
            SenderKeyChange {
                kind: SenderKeyChangeKind::Advance { verifier, .. },
            },
        )) => verifier.is_some(),
        _ => panic!("an advance"),
    };
    let m = send(&mut ours, &mut rng);
    let (_, changes) = decrypt(&theirs, &sender, &m, None).unwrap();
    assert!(!carries_verifier(&changes), "kept: nothing to rebuild");
    theirs.commit(changes).unwrap();

    // Read back from bytes: not stored, so rebuilt at the next message and kept.
    let bytes = theirs
        .sender_key_store
        .sender_key(&sender, id)
        .unwrap()
        .serialize();
    let read = SenderKeyRecord::deserialize(&bytes).unwrap();
    assert!(read.states[0].verifier.is_none());
    assert_eq!(read.serialize(), bytes);
    theirs.sender_key_store.store_sender_key(&sender, id, read);
    assert!(!kept(&theirs));
    let m = send(&mut ours, &mut rng);
    // A bad signature is refused on the rebuilt key too, and changes nothing.
    let forged = with_bad_signature(&m);
    assert_eq!(
        decrypt(&theirs, &sender, &forged, None).err(),
        Some(ProtocolError::BadSignature.into())
    );
    assert!(!kept(&theirs));
    let (pt, changes) = decrypt(&theirs, &sender, &m, None).unwrap();
    assert_eq!(pt, b"hi");
    assert!(carries_verifier(&changes));
    theirs.commit(changes).unwrap();
    assert!(kept(&theirs));
    assert_eq!(
        theirs
            .sender_key_store
            .sender_key(&sender, id)
            .unwrap()
            .serialize()
            .len(),
        bytes.len(),
        "the kept key is never serialized"
    );
    let m = send(&mut ours, &mut rng);
    let (_, changes) = decrypt(&theirs, &sender, &m, None).unwrap();
    assert!(!carries_verifier(&changes));
    let forged = with_bad_signature(&m);
    assert_eq!(
        decrypt(&theirs, &sender, &forged, None).err(),
        Some(ProtocolError::BadSignature.into())
    );
}

/// `decrypt` uses a verdict given for the chain's own key as it is, and checks the
/// signature itself when the verdict is for another key; `batch_verdicts` gives each
/// message its chain's key and verdict, and `None` where no chain is held.
#[test]
fn verdicts_are_used_only_for_the_chains_key() {
    use crate::store::ProtocolStore;
    let mut rng = ChaCha20Rng::seed_from_u64(13);
    let sender = ProtocolAddress::new("sender", 1);
    let id = DistributionId::from_bytes([6; 16]);
    let (mut ours, theirs, d) = sender_and_member(&sender, id, &mut rng);
    let (m, changes) = encrypt(&ours, &sender, id, b"hi", &mut rng).unwrap();
    ours.commit(changes).unwrap();
    let forged = with_bad_signature(&m);
    let key = *d.signing_key();
    let other = *crate::IdentityKeyPair::generate(&mut rng).public_key();
    let bad = Some(ProtocolError::BadSignature.into());

    // For the chain's key the verdict decides, whatever the signature.
    assert_eq!(decrypt(&theirs, &sender, &m, Some((key, false))).err(), bad);
    assert_eq!(
        decrypt(&theirs, &sender, &forged, Some((key, true)))
            .unwrap()
            .0,
        b"hi"
    );
    // For another key it is ignored: the signature is checked.
    assert_eq!(
        decrypt(&theirs, &sender, &forged, Some((other, true))).err(),
        bad
    );
    assert_eq!(
        decrypt(&theirs, &sender, &m, Some((other, false)))
            .unwrap()
            .0,
        b"hi"
    );

    let stranger = ProtocolAddress::new("stranger", 1);
    let verdicts = batch_verdicts(
        &theirs,
        &[(&sender, &m), (&sender, &forged), (&stranger, &m)],
    );
    assert_eq!(verdicts, [Some((key, true)), Some((key, false)), None]);
}

/// A random distribution id is a version-4 UUID (version nibble 4, variant bits 10) with
/// the other 122 bits from the RNG, and reads back from its text form.
#[test]
fn random_distribution_ids_are_uuid_v4_and_round_trip_as_text() {
    let mut rng = ChaCha20Rng::seed_from_u64(14);
    let ids: Vec<DistributionId> = (0..64).map(|_| DistributionId::random(&mut rng)).collect();
    for id in &ids {
        let b = id.as_bytes();
        assert_eq!(b[6] >> 4, 4, "{id}");
        assert_eq!(b[8] >> 6, 0b10, "{id}");
        let text = std::format!("{id}");
        assert_eq!(text.len(), 36);
        assert_eq!(text.as_bytes()[14], b'4');
        assert_eq!(DistributionId::parse(&text), Some(*id));
        assert_eq!(
            DistributionId::parse(&text.to_uppercase()),
            Some(*id),
            "either case"
        );
        assert_eq!(
            std::format!("{id:?}"),
            std::format!("DistributionId({text})")
        );
    }
    // The kept bits come from the RNG: each takes both values over 64 ids.
    for (byte, mask) in [(6usize, 0x0fu8), (8, 0x3f)] {
        for bit in 0..8 {
            if mask & (1 << bit) == 0 {
                continue;
            }
            let ones = ids
                .iter()
                .filter(|id| id.as_bytes()[byte] & (1 << bit) != 0)
                .count();
            assert!(
                0 < ones && ones < ids.len(),
                "byte {byte} bit {bit}: {ones}"
            );
        }
    }
    assert_eq!(DistributionId::parse("not a uuid"), None);
}

/// The public parts apps see of group changes and messages: `is_advance` and the
/// `Debug` form of each change kind, a message's own signature check, and distribution
/// messages compared by their bytes.
#[test]
fn change_kinds_signatures_and_distribution_equality() {
    use crate::store::ProtocolStore;
    use crate::store::memory::InMemSignalProtocolStore;
    let mut rng = ChaCha20Rng::seed_from_u64(15);
    let sender = ProtocolAddress::new("sender", 1);
    let id = DistributionId::from_bytes([7; 16]);
    let mut ours = InMemSignalProtocolStore::new(crate::IdentityKeyPair::generate(&mut rng), 1);
    let change = |c: ChangeSet| c.sender_key.expect("a sender-key change").2;

    let (d, added) = create_distribution(&ours, &sender, id, &mut rng).unwrap();
    let added = change(added);
    assert!(!added.is_advance());
    let shown = std::format!(
        "SenderKeyChange {{ kind: \"add\", chain_id: {} }}",
        d.chain_id()
    );
    assert_eq!(std::format!("{added:?}"), shown);
    ours.commit(sender_key_changes(&sender, id, added)).unwrap();

    let (m, advanced) = encrypt(&ours, &sender, id, b"hi", &mut rng).unwrap();
    let advanced = change(advanced);
    assert!(advanced.is_advance());
    let shown = std::format!(
        "SenderKeyChange {{ kind: \"advance\", chain_id: {} }}",
        d.chain_id()
    );
    assert_eq!(std::format!("{advanced:?}"), shown);
    assert!(m.verify_signature(d.signing_key()));
    let forged = with_bad_signature(&m);
    assert!(!forged.verify_signature(d.signing_key()));
    let other = *crate::IdentityKeyPair::generate(&mut rng).public_key();
    assert!(!m.verify_signature(&other));

    let (r, replaced) = rotate(&ours, &sender, id, &mut rng).unwrap();
    let replaced = change(replaced);
    assert!(!replaced.is_advance());
    let shown = std::format!(
        "SenderKeyChange {{ kind: \"replace\", chain_id: {} }}",
        r.chain_id()
    );
    assert_eq!(std::format!("{replaced:?}"), shown);

    let again = SenderKeyDistributionMessage::deserialize(d.serialized()).unwrap();
    assert!(again == d);
    assert!(r != d);
}

/// A distribution message reads back field by field from the bytes it was written as;
/// each of its five fields is required, and unknown fields are skipped.
#[test]
fn distribution_message_fields_each_required() {
    use crate::wire::proto::{put_bytes, put_uint};
    let mut rng = ChaCha20Rng::seed_from_u64(16);
    let id = DistributionId::random(&mut rng);
    let mut state = new_sending_state(&[], &mut rng).unwrap();
    state.chain_key = SenderChainKey::new(41, [9u8; 32]);
    let d =
        SenderKeyDistributionMessage::new(id, state.chain_id, &state.chain_key, state.signing_key);
    assert_eq!(
        (
            d.distribution_id(),
            d.chain_id(),
            d.iteration(),
            d.chain_key(),
            d.signing_key()
        ),
        (id, state.chain_id, 41, &[9u8; 32], &state.signing_key)
    );
    assert_eq!(
        std::format!("{d:?}"),
        std::format!(
            "SenderKeyDistributionMessage {{ distribution_id: {id:?}, chain_id: {}, iteration: 41, signing_key: {:?}, .. }}",
            state.chain_id,
            state.signing_key
        )
    );
    let field = |n: u32| -> Vec<u8> {
        let mut out = Vec::new();
        match n {
            1 => put_bytes(&mut out, 1, id.as_bytes()),
            2 => put_uint(&mut out, 2, u64::from(state.chain_id)),
            3 => put_uint(&mut out, 3, 41),
            4 => put_bytes(&mut out, 4, &[9u8; 32]),
            5 => put_bytes(&mut out, 5, &state.signing_key.serialize()),
            _ => put_uint(&mut out, n, 7),
        }
        out
    };
    let message = |fields: &[u32]| -> Vec<u8> {
        let mut out = std::vec![d.serialized()[0]];
        for &n in fields {
            out.extend(field(n));
        }
        out
    };
    assert_eq!(message(&[1, 2, 3, 4, 5]), d.serialized());
    let with_unknown = message(&[1, 9, 2, 3, 4, 5]);
    let parsed = SenderKeyDistributionMessage::deserialize(&with_unknown).unwrap();
    assert_eq!(
        (
            parsed.distribution_id(),
            parsed.chain_id(),
            parsed.iteration(),
            parsed.chain_key()
        ),
        (id, state.chain_id, 41, &[9u8; 32])
    );
    assert_eq!(parsed.signing_key(), &state.signing_key);
    assert_eq!(parsed.serialized(), &with_unknown[..]);
    for missing in 1..=5u32 {
        let fields: Vec<u32> = (1..=5).filter(|&n| n != missing).collect();
        assert_eq!(
            SenderKeyDistributionMessage::deserialize(&message(&fields)).err(),
            Some(crate::DecodeError::MissingField),
            "without field {missing}"
        );
    }
}

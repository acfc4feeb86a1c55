extern crate std;

use std::vec::Vec;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use super::*;
use crate::crypto::KeyPair;
use crate::wire::proto::RECORD_FORMAT_V1;
use crate::wire::proto::put_nested;

fn receiving(chain_id: u32, key_seed: u64, iteration: u32) -> SenderKeyState {
    let mut rng = ChaCha20Rng::seed_from_u64(key_seed);
    SenderKeyState {
        chain_id,
        chain_key: SenderChainKey::new(iteration, [chain_id as u8; 32]),
        signing_key: *KeyPair::generate(&mut rng).public_key(),
        signing_private: None,
        verifier: None,
        skipped: SkippedKeys::new(),
    }
}

/// Decrypts message `iteration` on `s` in place (stage and apply).
fn keys_for(s: &mut SenderKeyState, iteration: u32) -> Result<(), crate::ProtocolError> {
    let (_, chain_key, delta) = s.stage(iteration)?;
    s.chain_key = chain_key;
    delta.apply(&mut s.skipped);
    Ok(())
}

/// `s` encoded with `skipped` as its skipped list, in that order (which may be one no
/// state can hold).
fn state_bytes_with(s: &SenderKeyState, skipped: &[(u32, [u8; 32])]) -> Vec<u8> {
    let mut bare = s.clone();
    bare.skipped = SkippedKeys::new();
    let mut out = state_bytes(&bare);
    for (i, seed) in skipped {
        put_nested(&mut out, 6, |o| {
            put_uint(o, 1, u64::from(*i));
            put_bytes(o, 2, seed);
        });
    }
    out
}

fn ids(r: &SenderKeyRecord) -> Vec<u32> {
    r.chain_ids().collect()
}

#[test]
fn newest_first_and_five_at_most() {
    let mut r = SenderKeyRecord::new();
    for id in 1..=7 {
        r.add_state(Box::new(receiving(id, u64::from(id), 0)));
    }
    assert_eq!(ids(&r), [7, 6, 5, 4, 3]);
}

#[test]
fn same_chain_same_key_keeps_the_state_and_makes_it_newest() {
    let mut r = SenderKeyRecord::new();
    for id in 1..=5 {
        r.add_state(Box::new(receiving(id, u64::from(id), 0)));
    }
    r.states[4].chain_key = SenderChainKey::new(9, [0xaa; 32]); // chain 1 moved on
    r.add_state(Box::new(receiving(1, 1, 0))); // same signing key, iteration 0 again
    assert_eq!(ids(&r), [1, 5, 4, 3, 2]);
    assert_eq!(r.states[0].chain_key.iteration(), 9, "not rewound");
    assert_eq!(r.states[0].chain_key.key(), &[0xaa; 32]);
    r.add_state(Box::new(receiving(6, 6, 0)));
    assert_eq!(ids(&r), [6, 1, 5, 4, 3], "2 is now the oldest");
}

#[test]
fn same_chain_other_key_replaces_the_state() {
    let mut r = SenderKeyRecord::new();
    for id in 1..=3 {
        r.add_state(Box::new(receiving(id, u64::from(id), 0)));
    }
    let replacement = receiving(2, 99, 4);
    let key = replacement.signing_key;
    r.add_state(Box::new(replacement));
    assert_eq!(ids(&r), [2, 3, 1]);
    assert_eq!(r.states[0].signing_key, key);
    assert_eq!(r.states[0].chain_key.iteration(), 4);
}

fn full_record() -> SenderKeyRecord {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut r = SenderKeyRecord::new();
    let mut s = receiving(10, 10, 0);
    keys_for(&mut s, 5).unwrap();
    keys_for(&mut s, 2).unwrap();
    r.add_state(Box::new(s));
    r.add_state(Box::new(receiving(0, 11, u32::MAX)));
    r.add_state(Box::new(
        crate::group::new_sending_state(&[], &mut rng).unwrap(),
    ));
    r
}

#[test]
fn round_trip() {
    let r = full_record();
    let bytes = r.serialize();
    let back = SenderKeyRecord::deserialize(&bytes).unwrap();
    assert_eq!(back.serialize(), bytes);
    assert_eq!(ids(&back), ids(&r));
    assert_eq!(back.states[2].skipped.len(), 4);
    assert!(back.states[0].signing_private.is_some());
    let empty = SenderKeyRecord::new().serialize();
    assert_eq!(&empty[..], &[0x01, 0x10, 0x00]);
    assert_eq!(
        SenderKeyRecord::deserialize(&empty).unwrap().state_count(),
        0
    );
}

#[test]
fn every_truncation_is_refused() {
    let bytes = full_record().serialize();
    for len in 0..bytes.len() {
        assert!(
            SenderKeyRecord::deserialize(&bytes[..len]).is_err(),
            "cut at {len}"
        );
    }
}

/// Rebuilds a record from hand-written parts.
fn record(states: &[Vec<u8>], count: Option<u64>) -> Vec<u8> {
    let mut out = std::vec![RECORD_FORMAT_V1];
    for s in states {
        put_bytes(&mut out, 1, s);
    }
    if let Some(c) = count {
        put_uint(&mut out, 2, c);
    }
    out
}

fn state_bytes(s: &SenderKeyState) -> Vec<u8> {
    let mut out = Vec::new();
    encode_state(s, &mut out);
    out
}

#[test]
fn strict_parsing() {
    let a = state_bytes(&receiving(1, 1, 3));
    let b = state_bytes(&receiving(2, 2, 0));
    assert!(SenderKeyRecord::deserialize(&record(&[a.clone(), b.clone()], Some(2))).is_ok());
    let cases: Vec<(&str, Vec<u8>, DecodeError)> = std::vec![
        (
            "wrong format",
            {
                let mut r = record(core::slice::from_ref(&a), Some(1));
                r[0] = 2;
                r
            },
            DecodeError::UnknownVersion
        ),
        (
            "count missing",
            record(core::slice::from_ref(&a), None),
            DecodeError::MissingField
        ),
        (
            "count wrong",
            record(core::slice::from_ref(&a), Some(2)),
            DecodeError::MissingField
        ),
        (
            "field after count",
            {
                let mut r = record(core::slice::from_ref(&a), Some(1));
                put_bytes(&mut r, 1, &b);
                r
            },
            DecodeError::Malformed
        ),
        (
            "unknown field",
            {
                let mut r = std::vec![RECORD_FORMAT_V1];
                put_uint(&mut r, 3, 1);
                put_uint(&mut r, 2, 0);
                r
            },
            DecodeError::Malformed
        ),
        (
            "repeated chain id",
            record(&[a.clone(), a.clone()], Some(2)),
            DecodeError::Malformed
        ),
        (
            "six states",
            record(
                &(1..=6)
                    .map(|i| state_bytes(&receiving(i, 1, 0)))
                    .collect::<Vec<_>>(),
                Some(6),
            ),
            DecodeError::BadLength
        ),
    ];
    for (what, bytes, err) in cases {
        assert_eq!(
            SenderKeyRecord::deserialize(&bytes).err(),
            Some(err),
            "{what}"
        );
    }
}

#[test]
fn strict_state_parsing() {
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let good = receiving(1, 1, 10);
    let mut skipped_ok = good.clone();
    keys_for(&mut skipped_ok, 12).unwrap(); // skipped 10, 11; chain at 13
    assert!(SenderKeyRecord::deserialize(&record(&[state_bytes(&skipped_ok)], Some(1))).is_ok());
    let stored: Vec<(u32, [u8; 32])> = skipped_ok.skipped.iter().map(|e| (e.n, e.key)).collect();
    assert_eq!(stored.len(), 2);
    let out_of_order = state_bytes_with(&skipped_ok, &[stored[1], stored[0]]);
    assert_eq!(
        SenderKeyRecord::deserialize(&record(&[out_of_order], Some(1))).err(),
        Some(DecodeError::Malformed),
        "skipped out of order"
    );
    let too_many_keys: Vec<(u32, [u8; 32])> = (0..=MAX_SENDER_MESSAGE_KEYS as u32)
        .map(|i| (i, [0; 32]))
        .collect();
    let mut far = good.clone();
    far.chain_key = SenderChainKey::new(5000, [1; 32]);
    assert_eq!(
        SenderKeyRecord::deserialize(&record(&[state_bytes_with(&far, &too_many_keys)], Some(1)))
            .err(),
        Some(DecodeError::BadLength),
        "2,001 skipped keys"
    );

    let mut ahead = skipped_ok.clone();
    ahead.chain_key = SenderChainKey::new(11, [1; 32]); // skipped 11 is not behind 11
    let mut mismatched = crate::group::new_sending_state(&[], &mut rng).unwrap();
    mismatched.signing_key = good.signing_key;
    let cases = [
        (
            "skipped not behind the chain",
            ahead,
            DecodeError::Malformed,
        ),
        (
            "private key of another public key",
            mismatched,
            DecodeError::InvalidKey,
        ),
    ];
    for (what, s, err) in cases {
        let bytes = record(&[state_bytes(&s)], Some(1));
        assert_eq!(
            SenderKeyRecord::deserialize(&bytes).err(),
            Some(err),
            "{what}"
        );
    }

    // Missing required fields and wrong lengths, field by field.
    let full = state_bytes(&good);
    let mut fields = Vec::new();
    let mut r = Reader::new(&full);
    while let Some((n, v)) = r.field().unwrap() {
        fields.push((n, v));
    }
    let rebuild = |skip: u32, patch: Option<(u32, &[u8])>| {
        let mut out = Vec::new();
        for (n, v) in &fields {
            if *n == skip {
                continue;
            }
            match (v, patch) {
                (_, Some((p, bytes))) if p == *n => put_bytes(&mut out, *n, bytes),
                (crate::wire::proto::Value::Varint(x), _) => put_uint(&mut out, *n, *x),
                (crate::wire::proto::Value::Bytes(b), _) => put_bytes(&mut out, *n, b),
                _ => unreachable!(),
            }
        }
        record(&[out], Some(1))
    };
    for skip in 1..=4 {
        assert_eq!(
            SenderKeyRecord::deserialize(&rebuild(skip, None)).err(),
            Some(DecodeError::MissingField),
            "without field {skip}"
        );
    }
    assert_eq!(
        SenderKeyRecord::deserialize(&rebuild(0, Some((3, &[0u8; 31])))).err(),
        Some(DecodeError::BadLength)
    );
    assert!(SenderKeyRecord::deserialize(&rebuild(0, Some((4, &[0u8; 33])))).is_err());
}

/// The largest record (five chains, each with 2,000 stored keys at five-byte
/// iterations) is written into a buffer sized up front that never grows (the writer
/// asserts it in test builds) and is not oversized: within 1/16 of the bytes written.
#[test]
fn the_serialization_buffer_is_sized_tightly() {
    let mut r = SenderKeyRecord::new();
    for i in 0..5u32 {
        let start = u32::MAX - 5_000;
        let mut s = receiving(100 + i, u64::from(i), start);
        keys_for(&mut s, start + 2_000).unwrap();
        assert_eq!(s.skipped.len(), 2_000);
        r.add_state(Box::new(s));
    }
    assert_eq!(r.state_count(), 5);
    let bytes = r.serialize();
    assert!(bytes.len() > 400_000, "{}", bytes.len());
    let slack = bytes.capacity() - bytes.len();
    assert!(
        slack <= bytes.len() / 16,
        "{slack} spare bytes of {}",
        bytes.len()
    );
}

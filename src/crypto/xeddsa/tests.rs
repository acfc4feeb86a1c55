extern crate std;

use std::vec;
use std::vec::Vec;

use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::Value;

use super::*;

const VECTORS: &str = include_str!("../../../tests/vectors/xeddsa.json");

fn json() -> Value {
    serde_json::from_str(VECTORS).unwrap()
}

fn bytes(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap()).unwrap()
}

fn public_key(v: &Value) -> PublicKey {
    PublicKey::deserialize(&bytes(v, "public_key")).unwrap()
}

fn private_key(v: &Value) -> PrivateKey {
    PrivateKey::deserialize(&bytes(v, "private_key")).unwrap()
}

fn signature(v: &Value) -> [u8; 64] {
    bytes(v, "signature").try_into().unwrap()
}

fn entries<'a>(j: &'a Value, field: &str) -> &'a Vec<Value> {
    j[field].as_array().unwrap()
}

fn flip(data: &[u8], bit: usize) -> Vec<u8> {
    let mut out = data.to_vec();
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

#[test]
fn libsignal_vectors_verify() {
    let j = json();
    let vectors = entries(&j, "vectors");
    assert!(vectors.len() >= 20);
    let mut lengths = Vec::new();
    let mut sign_bits = [0usize; 2];
    for v in vectors {
        let (pk, msg, sig) = (public_key(v), bytes(v, "message"), signature(v));
        assert_eq!(private_key(v).public_key(), pk);
        assert!(verify(&pk, &msg, &sig));
        assert!(pk.verify_signature(&msg, &sig));
        lengths.push(msg.len());
        sign_bits[usize::from(sig[63] >> 7)] += 1;
    }
    for len in [0, 1, 32, 33, 64, 1000, 4096] {
        assert!(
            lengths.contains(&len),
            "no vector with a {len}-byte message"
        );
    }
    assert!(sign_bits[0] > 0 && sign_bits[1] > 0);
}

#[test]
fn known_answers_match() {
    let j = json();
    let kats = entries(&j, "known_answers");
    assert!(kats.len() >= 2);
    for v in kats {
        let key = private_key(v);
        let z: [u8; 64] = bytes(v, "z").try_into().unwrap();
        let msg = bytes(v, "message");
        let sig = sign_z(&key, &msg, &z);
        assert_eq!(sig, signature(v));
        #[cfg(feature = "hazmat")]
        assert_eq!(sign_with_z(&key, &msg, &z), sig);
        // The known-answer entry point of the signing key with its cached Edwards point
        // (hazmat) gives the same bytes.
        #[cfg(feature = "hazmat")]
        assert_eq!(SigningKey::new(key.clone()).sign_with_z(&msg, &z), sig);
        assert_eq!(key.public_key(), public_key(v));
        assert_eq!(v["peer_accepts"], Value::Bool(true));
        assert!(verify(&key.public_key(), &msg, &sig));
    }
}

#[test]
fn edge_case_verdicts_match_peer() {
    let j = json();
    let cases = entries(&j, "edge_cases");
    assert!(cases.len() >= 20);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let ours = public_key(c).verify_signature(&bytes(c, "message"), &bytes(c, "signature"));
        assert_eq!(
            Value::Bool(ours),
            c["peer_accepts"],
            "edge case {name}: missive says {ours}"
        );
    }
}

#[test]
fn bit_flips_match_peer() {
    let j = json();
    let vectors = entries(&j, "vectors");
    let flips = entries(&j, "bit_flips");
    assert!(!flips.is_empty());
    for f in flips {
        let v = &vectors[usize::try_from(f["vector"].as_u64().unwrap()).unwrap()];
        let (pk, msg, sig) = (public_key(v), bytes(v, "message"), signature(v));
        let accepted = |field: &str| -> Vec<usize> {
            f[field]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| usize::try_from(b.as_u64().unwrap()).unwrap())
                .collect()
        };
        let ours: Vec<usize> = (0..512)
            .filter(|&b| pk.verify_signature(&msg, &flip(&sig, b)))
            .collect();
        assert_eq!(ours, accepted("signature_bits_accepted"));
        let ours: Vec<usize> = (0..msg.len() * 8)
            .filter(|&b| pk.verify_signature(&flip(&msg, b), &sig))
            .collect();
        assert_eq!(ours, accepted("message_bits_accepted"));
        // The peer ignores bit 255 of u, and so does missive.
        let ours: Vec<usize> = (0..256)
            .filter(|&b| {
                let u: [u8; 32] = flip(pk.u_bytes(), b).try_into().unwrap();
                verify(&PublicKey::from_u_bytes(u), &msg, &sig)
            })
            .collect();
        assert_eq!(ours, accepted("public_key_u_bits_accepted"));
        assert_eq!(ours, [255]);
    }
}

#[test]
fn every_bit_flip_of_a_missive_signature_is_rejected() {
    // (The peer's vectors cover both sign bits; one missive signature is enough here.)
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let key = PrivateKey::generate(&mut rng);
    let pk = key.public_key();
    let msg = b"every bit counts: thirty-two by.";
    let sig = sign(&key, msg, &mut rng);
    assert!(verify(&pk, msg, &sig));
    for b in 0..512 {
        assert!(
            !verify(&pk, msg, &flip(&sig, b).try_into().unwrap()),
            "bit {b}"
        );
    }
    for b in 0..msg.len() * 8 {
        assert!(!verify(&pk, &flip(msg, b), &sig), "message bit {b}");
    }
}

#[test]
fn sign_bit_is_the_sign_of_the_edwards_point() {
    let j = json();
    let e = &j["sign_bit_experiment"];
    let samples = e["samples"].as_u64().unwrap();
    assert!(samples >= 100);
    assert_eq!(e["bit_equals_sign_of_kB"].as_u64(), Some(samples));
    assert_eq!(e["equation_with_kB"].as_u64(), Some(samples));
    assert_eq!(e["s_top_bits_253_254_clear"].as_u64(), Some(samples));

    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let mut seen = [false; 2];
    for _ in 0..64 {
        let key = PrivateKey::generate(&mut rng);
        let a = EdwardsPoint::mul_base(&Scalar::from_bytes_mod_order(*key.to_bytes()));
        let expected = a.compress().as_bytes()[31] >> 7;
        let sig = key.calculate_signature(b"sign bit", &mut rng);
        assert_eq!(sig[63] >> 7, expected);
        assert_eq!(sig[63] & S_HIGH_BITS, 0);
        seen[usize::from(expected)] = true;
    }
    assert_eq!(seen, [true, true]);
}

#[test]
fn sign_draws_z_from_the_rng() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let key = PrivateKey::generate(&mut rng);
    let mut copy = rng.clone();
    let sig = sign(&key, b"m", &mut rng);
    let mut z = [0u8; 64];
    copy.fill_bytes(&mut z);
    assert_eq!(sig, sign_z(&key, b"m", &z));
    // Fresh Z, fresh signature.
    assert_ne!(sig, sign(&key, b"m", &mut rng));
}

#[test]
fn wrong_lengths_are_rejected() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let key = PrivateKey::generate(&mut rng);
    let sig = key.calculate_signature(b"m", &mut rng);
    let pk = key.public_key();
    assert!(pk.verify_signature(b"m", &sig));
    assert!(!pk.verify_signature(b"m", &sig[..63]));
    let mut long = sig.to_vec();
    long.push(0);
    assert!(!pk.verify_signature(b"m", &long));
    assert!(!pk.verify_signature(b"m", &[]));
}

#[test]
fn missive_signatures_accepted_by_peer() {
    let j = json();
    let signed = entries(&j, "missive_signed");
    assert!(signed.len() >= 16);
    for v in signed {
        let key = private_key(v);
        let z: [u8; 64] = bytes(v, "z").try_into().unwrap();
        let msg = bytes(v, "message");
        assert_eq!(key.public_key(), public_key(v));
        assert_eq!(sign_z(&key, &msg, &z), signature(v));
        assert_eq!(v["peer_accepts"], Value::Bool(true));
    }
}

/// Verification as it was before keys were cached: the point rebuilt from `u` with the
/// signature's sign bit, and encoded, on every call. The cached [`VerifyingKey`] must
/// decide exactly as this does.
fn reference_verify(key: &PublicKey, message: &[u8], signature: &[u8; 64]) -> bool {
    let r_bytes: &[u8; 32] = signature[..32].try_into().unwrap();
    let mut s_bytes: [u8; 32] = signature[32..].try_into().unwrap();
    let sign = s_bytes[31] >> 7;
    s_bytes[31] &= !SIGN_BIT;
    if s_bytes[31] & S_HIGH_BITS != 0 {
        return false;
    }
    let Some(big_a) = MontgomeryPoint(*key.u_bytes()).to_edwards(sign) else {
        return false;
    };
    let h = challenge(r_bytes, big_a.compress().as_bytes(), message);
    let s = Scalar::from_bytes_mod_order(s_bytes);
    let r_check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &-big_a, &s).compress();
    r_check.as_bytes() == r_bytes
}

/// Keys whose `u` is special: 0 (the point with x = 0), 1, p − 1 (u ≡ −1, no point),
/// p and p + 1 (u ≥ p, reduced), 2^255 − 1, and bit 255 set on a real key.
fn special_keys(rng: &mut ChaCha20Rng) -> Vec<PublicKey> {
    let le = |low: u8, fill: u8, top: u8| {
        let mut u = [fill; 32];
        u[0] = low;
        u[31] = top;
        PublicKey::from_u_bytes(u)
    };
    let mut real = *PrivateKey::generate(rng).public_key().u_bytes();
    real[31] |= 0x80;
    let mut keys = vec![
        PublicKey::from_u_bytes([0; 32]),
        PublicKey::from_u_bytes({
            let mut u = [0; 32];
            u[0] = 1;
            u
        }),
        le(0xec, 0xff, 0x7f),
        le(0xed, 0xff, 0x7f),
        le(0xee, 0xff, 0x7f),
        le(0xff, 0xff, 0xff),
        PublicKey::from_u_bytes(real),
    ];
    // Random u: about half are points of the twist.
    for _ in 0..24 {
        let mut u = [0u8; 32];
        rng.fill_bytes(&mut u);
        keys.push(PublicKey::from_u_bytes(u));
    }
    keys
}

#[test]
fn cached_verification_decides_as_direct_decompression() {
    let mut rng = ChaCha20Rng::seed_from_u64(21);
    let j = json();
    // The peer's vectors and edge cases (bit flips of sign bits, u >= p, s unreduced, ...).
    let mut cases: Vec<(PublicKey, Vec<u8>, [u8; 64])> = Vec::new();
    for v in entries(&j, "vectors") {
        cases.push((public_key(v), bytes(v, "message"), signature(v)));
    }
    for c in entries(&j, "edge_cases") {
        if let Ok(sig) = <[u8; 64]>::try_from(bytes(c, "signature")) {
            cases.push((public_key(c), bytes(c, "message"), sig));
        }
    }
    // Our own signatures, each also with its sign bit flipped, and random signatures
    // under special keys with both sign bits.
    for _ in 0..16 {
        let key = PrivateKey::generate(&mut rng);
        let sig = sign(&key, b"cached", &mut rng);
        let mut flipped = sig;
        flipped[63] ^= SIGN_BIT;
        cases.push((key.public_key(), b"cached".to_vec(), sig));
        cases.push((key.public_key(), b"cached".to_vec(), flipped));
    }
    for key in special_keys(&mut rng) {
        for bit in [0, SIGN_BIT] {
            let mut sig = [0u8; 64];
            rng.fill_bytes(&mut sig);
            sig[63] = (sig[63] & 0x1f) | bit;
            cases.push((key, b"special".to_vec(), sig));
            // And with s = 0.
            let mut zero_s = sig;
            zero_s[32..].fill(0);
            zero_s[63] = bit;
            cases.push((key, b"special".to_vec(), zero_s));
        }
    }
    let mut accepted = 0;
    for (key, msg, sig) in &cases {
        let expected = reference_verify(key, msg, sig);
        let cached = VerifyingKey::new(key);
        assert_eq!(cached.verify(msg, sig), expected, "key {key:?}");
        // Used again (the point is kept, not consumed) and through the free function.
        assert_eq!(cached.verify(msg, sig), expected);
        assert_eq!(verify(key, msg, sig), expected);
        accepted += usize::from(expected);
    }
    assert!(accepted >= 16 + entries(&j, "vectors").len());
}

#[test]
fn negated_point_encoding_is_the_flipped_encoding() {
    // What `VerifyingKey::verify` relies on for sign bit 1: enc(−A) is enc(A) with bit
    // 255 flipped, except at x = 0 (u ≡ 0), and to_edwards(1) is −to_edwards(0).
    let mut rng = ChaCha20Rng::seed_from_u64(22);
    let mut checked = 0;
    for key in special_keys(&mut rng) {
        let m = MontgomeryPoint(*key.u_bytes());
        let (Some(a0), Some(a1)) = (m.to_edwards(0), m.to_edwards(1)) else {
            assert!(m.to_edwards(0).is_none() && m.to_edwards(1).is_none());
            continue;
        };
        assert_eq!(a1, -a0);
        let mut e = a0.compress().to_bytes();
        if e != ENC_X_ZERO {
            e[31] ^= SIGN_BIT;
        } else {
            // u ≡ 0 (mod p): 0 or p, bit 255 ignored.
            let mut u = *key.u_bytes();
            u[31] &= 0x7f;
            let mut p = [0xff; 32];
            (p[0], p[31]) = (0xed, 0x7f);
            assert!(u == [0; 32] || u == p);
        }
        assert_eq!(a1.compress().to_bytes(), e);
        checked += 1;
    }
    assert!(checked >= 8);
}

#[test]
fn signing_key_signs_as_the_private_key_does() {
    let mut rng = ChaCha20Rng::seed_from_u64(23);
    let j = json();
    let mut keys: Vec<PrivateKey> = entries(&j, "vectors").iter().map(private_key).collect();
    keys.push(PrivateKey::from_bytes(&[0; 32]));
    keys.push(PrivateKey::from_bytes(&[0xff; 32]));
    keys.extend((0..16).map(|_| PrivateKey::generate(&mut rng)));
    let mut sign_bits = [0usize; 2];
    for key in keys {
        let signing = SigningKey::new(key.clone());
        assert_eq!(signing.public_key(), &key.public_key());
        let mut copy = rng.clone();
        let sig = signing.sign(b"cached point", &mut rng);
        assert_eq!(sig, sign(&key, b"cached point", &mut copy));
        assert!(verify(signing.public_key(), b"cached point", &sig));
        sign_bits[usize::from(sig[63] >> 7)] += 1;
    }
    assert!(sign_bits[0] > 0 && sign_bits[1] > 0);
}

proptest! {
    // Each case signs and verifies three times: debug-build curve arithmetic is slow.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip(seed: [u8; 32], msg in proptest::collection::vec(any::<u8>(), 0..300), other: u8) {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let key = PrivateKey::generate(&mut rng);
        let pk = key.public_key();
        let sig = sign(&key, &msg, &mut rng);
        prop_assert!(verify(&pk, &msg, &sig));
        let mut changed = msg.clone();
        changed.push(other);
        prop_assert!(!verify(&pk, &changed, &sig));
        let stranger = PrivateKey::generate(&mut rng).public_key();
        prop_assert!(!verify(&stranger, &msg, &sig));
    }

    #[test]
    fn arbitrary_input_never_panics(u: [u8; 32], msg: Vec<u8>, r: [u8; 32], s: [u8; 32]) {
        let sig = concat(&r, &s);
        let _ = verify(&PublicKey::from_u_bytes(u), &msg, &sig);
    }
}

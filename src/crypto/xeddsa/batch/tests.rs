//! The batch verifier against one-by-one verification, on every kind of bad signature
//! we know, including the small-order tricks that fool a random-linear-combination
//! batch check.

extern crate std;

use std::vec::Vec;

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
use proptest::prelude::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::Value;
use sha2::{Digest, Sha512};

use super::*;
use crate::crypto::x25519::PrivateKey;
use crate::crypto::xeddsa::{sign, verify};

const VECTORS: &str = include_str!("../../../../tests/vectors/xeddsa.json");

/// An owned signature to check.
#[derive(Clone, Debug)]
struct Owned {
    key: PublicKey,
    message: Vec<u8>,
    signature: [u8; 64],
}

fn items(list: &[Owned]) -> Vec<BatchItem<'_>> {
    list.iter()
        .map(|o| BatchItem {
            key: &o.key,
            message: &o.message,
            signature: &o.signature,
        })
        .collect()
}

/// The batch verdicts equal the one-by-one verdicts, item for item; returns how many
/// were valid.
fn assert_agrees(list: &[Owned]) -> usize {
    let batch = verify_batch(&items(list));
    assert_eq!(batch.len(), list.len());
    let mut valid = 0;
    for (i, (o, b)) in list.iter().zip(&batch).enumerate() {
        let one = verify(&o.key, &o.message, &o.signature);
        assert_eq!(*b, one, "item {i} ({o:?}): batch {b}, one-by-one {one}");
        valid += usize::from(one);
    }
    valid
}

fn honest(rng: &mut ChaCha20Rng, key: &PrivateKey, n: usize) -> Vec<Owned> {
    (0..n)
        .map(|i| {
            let mut message = std::vec![0u8; i % 70];
            rng.fill_bytes(&mut message);
            let signature = sign(key, &message, rng);
            Owned {
                key: key.public_key(),
                message,
                signature,
            }
        })
        .collect()
}

fn flip(o: &Owned, bit: usize) -> Owned {
    let mut f = o.clone();
    f.signature[bit / 8] ^= 1 << (bit % 8);
    f
}

fn scalar_of(key: &PrivateKey) -> Scalar {
    Scalar::from_bytes_mod_order(*key.to_bytes())
}

fn h(r: &[u8; 32], a: &[u8; 32], m: &[u8]) -> Scalar {
    Scalar::from_hash(
        Sha512::new()
            .chain_update(r)
            .chain_update(a)
            .chain_update(m),
    )
}

/// A signature "by" the point `a_point` (whose discrete log relative to the honest part
/// is `a`, plus whatever torsion it carries) with nonce point `r_point = r·B + T`.
fn forge(a: &Scalar, a_point: &EdwardsPoint, r: &Scalar, t: &EdwardsPoint, m: &[u8]) -> Owned {
    let a_enc = a_point.compress();
    let r_enc = (EdwardsPoint::mul_base(r) + t).compress();
    let hh = h(r_enc.as_bytes(), a_enc.as_bytes(), m);
    let s = r + hh * a;
    let mut signature = [0u8; 64];
    signature[..32].copy_from_slice(r_enc.as_bytes());
    signature[32..].copy_from_slice(s.as_bytes());
    signature[63] |= a_enc.as_bytes()[31] & 0x80;
    Owned {
        key: PublicKey::from_u_bytes(a_point.to_montgomery().to_bytes()),
        message: m.to_vec(),
        signature,
    }
}

#[test]
fn signed_digits_reconstruct_every_width() {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut inputs: Vec<[u8; 32]> = std::vec![[0u8; 32], [0xff; 32], [0x88; 32], [0x77; 32]];
    let mut one = [0u8; 32];
    one[0] = 1;
    inputs.push(one);
    inputs.push((-Scalar::ONE).to_bytes());
    for _ in 0..200 {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        inputs.push(k);
    }
    for w in 2..=8u32 {
        for k in &inputs {
            // Horner from the top digit, in 320-bit two's complement.
            let digits: Vec<i32> = signed_digits(k, w).collect();
            let mut acc = [0u64; 5];
            for &d in digits.iter().rev() {
                let mut carry = 0u64;
                for limb in acc.iter_mut() {
                    let next = *limb >> (64 - w);
                    *limb = (*limb << w) | carry;
                    carry = next;
                }
                let ext = if d < 0 { u64::MAX } else { 0 };
                let mut c = 0u128;
                for (i, limb) in acc.iter_mut().enumerate() {
                    let add = if i == 0 { d as i64 as u64 } else { ext };
                    let s = u128::from(*limb) + u128::from(add) + c;
                    *limb = s as u64;
                    c = s >> 64;
                }
            }
            let mut bytes = [0u8; 40];
            for (i, limb) in acc.iter().enumerate() {
                bytes[i * 8..i * 8 + 8].copy_from_slice(&limb.to_le_bytes());
            }
            assert_eq!(&bytes[..32], k, "w = {w}");
            assert_eq!(&bytes[32..], &[0u8; 8], "w = {w}");
            let half = 1i32 << (w - 1);
            let (last, body) = digits.split_last().unwrap();
            assert!(body.iter().all(|d| (-half..half).contains(d)));
            assert!(*last == 0 || *last == 1);
        }
    }
}

/// Double-and-add by the integer `k`, bit by bit: the reference for the comb.
fn naive_mul(p: &EdwardsPoint, k: &[u8; 32]) -> EdwardsPoint {
    let mut acc = EdwardsPoint::identity();
    for bit in (0..256).rev() {
        acc = acc + acc;
        if (k[bit / 8] >> (bit % 8)) & 1 == 1 {
            acc += p;
        }
    }
    acc
}

#[test]
fn comb_is_exact_for_mixed_order_points() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let base = EdwardsPoint::mul_base(&Scalar::from(123_456_789u64));
    for (w, t) in [(4, 0), (5, 1), (6, 3), (5, 4), (6, 7)] {
        let p = base + EIGHT_TORSION[t];
        let comb = Comb::new(&p, w);
        let mut ks: Vec<[u8; 32]> = std::vec![[0u8; 32], [0xff; 32], (-Scalar::ONE).to_bytes()];
        for _ in 0..20 {
            let mut k = [0u8; 32];
            rng.fill_bytes(&mut k);
            ks.push(k);
            ks.push(Scalar::from_bytes_mod_order(k).to_bytes());
        }
        for k in &ks {
            assert_eq!(comb.mul(k).unwrap(), naive_mul(&p, k), "w {w} torsion {t}");
        }
        // For canonical scalars the comb agrees with dalek's own multiplication, which
        // is what the one-by-one verifier uses.
        let s = Scalar::from_bytes_mod_order([0x5a; 32]);
        assert_eq!(comb.mul(s.as_bytes()).unwrap(), p * s);
    }
    let b = Comb::new(&ED25519_BASEPOINT_POINT, 5);
    let s = Scalar::from(987_654_321u64);
    assert_eq!(b.mul(s.as_bytes()).unwrap(), EdwardsPoint::mul_base(&s));
}

#[test]
fn batch_compression_matches_single() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut points: Vec<EdwardsPoint> = EIGHT_TORSION.to_vec();
    for i in 0..50u64 {
        let mut k = [0u8; 32];
        rng.fill_bytes(&mut k);
        points.push(
            EdwardsPoint::mul_base(&Scalar::from_bytes_mod_order(k))
                + EIGHT_TORSION[(i % 8) as usize],
        );
    }
    let batch = EdwardsPoint::compress_batch_alloc(&points);
    for (p, c) in points.iter().zip(&batch) {
        assert_eq!(p.compress(), *c);
    }
}

#[test]
fn honest_backlogs_all_verify_on_both_paths() {
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    for n in [0, 1, 5, COMB_MIN_SIGNATURES - 1, COMB_MIN_SIGNATURES, 300] {
        let key = PrivateKey::generate(&mut rng);
        let list = honest(&mut rng, &key, n);
        assert_eq!(assert_agrees(&list), n);
    }
}

#[test]
fn forgeries_mixed_with_valid_decide_like_one_by_one() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let big = PrivateKey::generate(&mut rng); // enough signatures for the comb path
    let small = PrivateKey::generate(&mut rng); // variable-base path
    let mut list = honest(&mut rng, &big, 80);
    list.extend(honest(&mut rng, &small, 10));
    let valid: Vec<Owned> = list.clone();
    // Every bit of one signature of each key, flipped alone.
    for o in [&valid[3], &valid[85]] {
        for bit in 0..512 {
            list.push(flip(o, bit));
        }
    }
    // Random signatures, wrong messages, wrong keys, swapped signatures.
    for i in 0..40 {
        let mut r = valid[i].clone();
        rng.fill_bytes(&mut r.signature);
        r.signature[63] &= 0x9f;
        list.push(r);
        let mut m = valid[i].clone();
        m.message.push(1);
        list.push(m);
        let mut k = valid[i].clone();
        k.key = valid[85].key;
        list.push(k);
        let mut s = valid[i].clone();
        s.signature = valid[i + 1].signature;
        list.push(s);
    }
    // Shuffle so that valid and forged items interleave within each key's group.
    for i in (1..list.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        list.swap(i, j);
    }
    let n_valid = assert_agrees(&list);
    assert!(n_valid >= 90, "the honest signatures are still there");
    assert!(n_valid < list.len() / 4);
}

#[test]
fn small_order_tricks_decide_like_one_by_one() {
    let mut rng = ChaCha20Rng::seed_from_u64(12);
    let key = PrivateKey::generate(&mut rng);
    let a = scalar_of(&key);
    let a_point = EdwardsPoint::mul_base(&a);
    let mut list = honest(&mut rng, &key, 40);
    let mut forged_r = 0;
    let mut torsioned_key = [0usize; 2];
    for i in 0..400usize {
        let mut m = [0u8; 24];
        rng.fill_bytes(&mut m);
        let mut rb = [0u8; 64];
        rng.fill_bytes(&mut rb);
        let r = Scalar::from_bytes_mod_order_wide(&rb);
        let t = EIGHT_TORSION[1 + i % 7];
        // R + T with s consistent with the hash of the modified R: sB − hA = rB ≠ R + T.
        // A random linear combination of these error terms vanishes with probability
        // at least 1/8; one-by-one rejects every one of them.
        let o = forge(&a, &a_point, &r, &t, &m);
        assert!(!verify(&o.key, &o.message, &o.signature));
        forged_r += 1;
        list.push(o);
        // A key with a torsion component, A' = aB + T, signed with a: sB − hA' = R − hT,
        // valid exactly when the order of T divides h.
        let twisted = a_point + t;
        let o = forge(&a, &twisted, &r, &EdwardsPoint::identity(), &m);
        torsioned_key[usize::from(verify(&o.key, &o.message, &o.signature))] += 1;
        list.push(o);
    }
    assert_eq!(forged_r, 400);
    assert!(
        torsioned_key[0] > 0 && torsioned_key[1] > 0,
        "{torsioned_key:?}"
    );
    // Two forgeries whose torsion errors cancel in any sum: T and −T.
    let (m1, m2) = (b"cancel one".as_slice(), b"cancel two".as_slice());
    let r = Scalar::from(42u64);
    list.push(forge(&a, &a_point, &r, &EIGHT_TORSION[4], m1));
    list.push(forge(&a, &a_point, &r, &EIGHT_TORSION[4], m2));
    list.push(forge(&a, &a_point, &r, &EIGHT_TORSION[2], m1));
    list.push(forge(&a, &a_point, &r, &EIGHT_TORSION[6], m2));
    assert_agrees(&list);
    // The same in groups too small for the comb.
    assert_agrees(&list[40..60]);
}

#[test]
fn peer_edge_cases_and_bit_flips_decide_like_one_by_one() {
    let j: Value = serde_json::from_str(VECTORS).unwrap();
    let b = |v: &Value, f: &str| hex::decode(v[f].as_str().unwrap()).unwrap();
    let mut list = Vec::new();
    for v in j["edge_cases"].as_array().unwrap() {
        let (Ok(key), Ok(signature)) = (
            PublicKey::deserialize(&b(v, "public_key")),
            <[u8; 64]>::try_from(b(v, "signature")),
        ) else {
            continue; // 63- and 65-byte signatures cannot be a BatchItem
        };
        let o = Owned {
            key,
            message: b(v, "message"),
            signature,
        };
        assert_eq!(
            verify(&o.key, &o.message, &o.signature),
            v["peer_accepts"].as_bool().unwrap(),
            "{}",
            v["name"]
        );
        list.push(o);
    }
    for v in j["vectors"].as_array().unwrap() {
        list.push(Owned {
            key: PublicKey::deserialize(&b(v, "public_key")).unwrap(),
            message: b(v, "message"),
            signature: b(v, "signature").try_into().unwrap(),
        });
    }
    let n = list.len();
    for i in 0..n {
        for bit in (0..512).step_by(7) {
            list.push(flip(&list[i], bit));
        }
    }
    assert_agrees(&list);
    // Repeated 40 times, the edge cases reach the comb path as well.
    let repeated: Vec<Owned> = list[..n].iter().cycle().take(40 * n).cloned().collect();
    assert_agrees(&repeated);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_mixes_decide_like_one_by_one(
        seed in any::<u64>(),
        keys in 1usize..4,
        per_key in 0usize..70,
        corruptions in proptest::collection::vec((any::<usize>(), 0usize..600), 0..40),
    ) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut list = Vec::new();
        for _ in 0..keys {
            let key = PrivateKey::generate(&mut rng);
            list.extend(honest(&mut rng, &key, per_key));
        }
        if !list.is_empty() {
            for (at, what) in corruptions {
                let i = at % list.len();
                let o = &mut list[i];
                match what {
                    0..512 => o.signature[what / 8] ^= 1 << (what % 8),
                    512..550 => o.message.push(what as u8),
                    550..575 => {
                        let mut k = *o.key.u_bytes();
                        k[what % 32] ^= 1;
                        o.key = PublicKey::from_u_bytes(k);
                    }
                    _ => o.signature[63] ^= 0x80,
                }
            }
        }
        assert_agrees(&list);
    }
}

/// The table policy: no comb below `COMB_MIN_SIGNATURES` signatures on one point (a table
/// costs more than it saves), width 5 from there, width 6 from `COMB_WIDE_SIGNATURES`.
/// Only speed depends on it (every width gives the same verdicts, tested above), so the
/// thresholds are pinned here where a change has to be deliberate.
#[test]
fn comb_width_follows_the_documented_thresholds() {
    for (n, want) in [
        (0, None),
        (1, None),
        (COMB_MIN_SIGNATURES - 1, None),
        (COMB_MIN_SIGNATURES, Some(5)),
        (COMB_WIDE_SIGNATURES - 1, Some(5)),
        (COMB_WIDE_SIGNATURES, Some(6)),
        (10_000, Some(6)),
    ] {
        assert_eq!(comb_width(n), want, "{n} signatures");
    }
}

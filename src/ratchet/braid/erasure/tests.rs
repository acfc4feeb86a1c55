use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::ratchet::braid::kem::{CT1_LEN, EK_LEN};
use crate::ratchet::braid::{CT2_LEN, HDR_LEN};

fn pow(mut a: u16, mut e: u32) -> u16 {
    let mut r = 1;
    while e != 0 {
        if e & 1 != 0 {
            r = mul(r, a);
        }
        a = mul(a, a);
        e >>= 1;
    }
    r
}

fn value(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

fn decode(len: usize, chunks: &[Chunk]) -> Option<Vec<u8>> {
    fn run<const K: usize>(chunks: &[Chunk]) -> Option<Vec<u8>> {
        let mut d = Decoder::<K>::new();
        for c in chunks {
            assert_ne!(d.add(c), Added::Conflict);
        }
        let mut out = alloc::vec![0u8; Decoder::<K>::len()];
        d.decode_into(&mut out).then_some(out)
    }
    macro_rules! dispatch {
        ($($k:literal)*) => {
            match len / CHUNK_LEN {
                $($k => run::<$k>(chunks),)*
                _ => None,
            }
        };
    }
    dispatch!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36)
}

/// The chunk with index `i` of `v` (a supported length).
fn ch(v: &[u8], i: u16) -> Chunk {
    chunk(v, i).unwrap()
}

#[test]
fn field_is_gf_2_16_with_a_primitive_polynomial() {
    assert_eq!(mul(1, 0xABCD), 0xABCD);
    assert_eq!(mul(0, 0xABCD), 0);
    assert_eq!(mul(0x8000, 2), (POLY & 0xFFFF) as u16);
    for a in [1u16, 2, 3, 0x1234, 0x8000, 0xFFFF] {
        assert_eq!(mul(a, inv(a)), 1, "inverse of {a:#x}");
    }
    // x generates the multiplicative group: order 65,535 = 3 · 5 · 17 · 257.
    assert_eq!(pow(2, 65_535), 1);
    for p in [3u32, 5, 17, 257] {
        assert_ne!(pow(2, 65_535 / p), 1);
    }
}

#[test]
fn systematic_and_any_k_chunks_decode() {
    for (len, seed) in [
        (HDR_LEN, 1u8),
        (EK_LEN, 2),
        (CT1_LEN, 3),
        (CT2_LEN, 4),
        (32, 5),
    ] {
        let v = value(len, seed);
        let k = len / CHUNK_LEN;
        for (i, data) in v.chunks(CHUNK_LEN).enumerate() {
            assert_eq!(ch(&v, i as u16).data, data, "chunk {i} is raw data");
        }
        // Only redundant chunks, far indices, and a mix.
        let redundant: Vec<Chunk> = (0..k).map(|i| ch(&v, (k + i) as u16)).collect();
        assert_eq!(decode(len, &redundant).unwrap(), v);
        let far: Vec<Chunk> = (0..k).map(|i| ch(&v, u16::MAX - i as u16)).collect();
        assert_eq!(decode(len, &far).unwrap(), v);
        let mixed: Vec<Chunk> = (0..k)
            .map(|i| ch(&v, (i * 7 + i % 2 * 1000) as u16))
            .collect();
        assert_eq!(decode(len, &mixed).unwrap(), v);
        // k − 1 chunks are not enough.
        assert!(decode(len, &redundant[1..]).is_none());
    }
}

#[test]
fn braid_sizes_use_compile_time_weights_equal_to_computed_ones() {
    for len in [HDR_LEN, CT2_LEN, CT1_LEN, EK_LEN] {
        let k = len / CHUNK_LEN;
        let xs: Vec<u16> = (0..k as u16).collect();
        let mut computed = [0u16; MAX_CHUNKS];
        weights_of(&xs, &mut computed);
        assert_eq!(systematic(k), Some(&computed[..k]), "{k} chunks");
    }
    for k in [1, 2, 4, 6, 29, 31, 35] {
        assert_eq!(systematic(k), None, "{k} chunks");
    }
}

#[test]
fn chunk_refuses_unsupported_lengths() {
    for bad in [0, 31, 33, 64 + 1, CHUNK_LEN * (MAX_CHUNKS + 1)] {
        assert!(chunk(&alloc::vec![0; bad], 0).is_none(), "{bad}");
    }
}

#[test]
fn reduction_matches_bit_serial_multiplication() {
    fn slow(a: u16, b: u16) -> u16 {
        let mut a = u32::from(a);
        let mut b = b;
        let mut r: u32 = 0;
        while b != 0 {
            if b & 1 != 0 {
                r ^= a;
            }
            b >>= 1;
            a <<= 1;
            if a & 0x1_0000 != 0 {
                a ^= POLY;
            }
        }
        r as u16
    }
    let mut x = 0x1234u16;
    for _ in 0..20_000 {
        x = x.wrapping_mul(0x9E37).wrapping_add(0x79B9);
        let y = x.rotate_left(7) ^ 0xA5A5;
        assert_eq!(mul(x, y), slow(x, y), "{x:#x} · {y:#x}");
    }
    assert_eq!(mul(0xFFFF, 0xFFFF), slow(0xFFFF, 0xFFFF));
    assert_eq!(mul(0xFFFF, 0xFFFF), mul_slow(0xFFFF, 0xFFFF));
    for a in [1u16, 2, 3, 0x1234, 0x8000, 0xFFFF, x] {
        assert_eq!(inv(a), inv_slow(a));
        assert_eq!(mul(a, x), mul_slow(a, x));
    }
    // The table-driven combine agrees with plain multiplication.
    let row: Row = core::array::from_fn(|i| (i as u8).wrapping_mul(77) ^ 0x5C);
    for w in [1u16, 2, 0x8000, 0xFFFF, 0x1357] {
        let got = combine(&[row], &[w]);
        for j in 0..16 {
            let s = u16::from_be_bytes([row[2 * j], row[2 * j + 1]]);
            assert_eq!(u16::from_be_bytes([got[2 * j], got[2 * j + 1]]), slow(w, s));
        }
    }
}

#[test]
fn decoder_bounds_and_duplicates() {
    let v = value(HDR_LEN, 3);
    let mut d = Decoder::<3>::new();
    assert_eq!(d.add(&ch(&v, 7)), Added::Stored);
    // Same index, other data: refused, nothing changes.
    let mut forged = ch(&v, 7);
    forged.data[0] ^= 1;
    let before = d.clone();
    assert_eq!(d.check(&forged), Added::Conflict);
    assert_eq!(d.add(&forged), Added::Conflict);
    assert_eq!(d, before);
    // Same index, same data: nothing changes either.
    assert_eq!(d.add(&ch(&v, 7)), Added::Unchanged);
    assert_eq!(d.count(), 1);
    let mut out = [0u8; HDR_LEN];
    assert!(!d.decode_into(&mut out), "incomplete");
    assert_eq!(out, [0u8; HDR_LEN], "untouched");
    assert_eq!(d.add(&ch(&v, 0)), Added::Stored);
    assert_eq!(d.add(&ch(&v, 60_000)), Added::Stored);
    assert!(d.is_complete());
    assert_eq!(
        d.add(&ch(&v, 1)),
        Added::Unchanged,
        "complete: no more chunks"
    );
    assert!(
        !d.decode_into(&mut [0u8; HDR_LEN - 1]),
        "wrong output length"
    );
    assert!(d.decode_into(&mut out));
    assert_eq!(out.as_slice(), v.as_slice());
    assert_eq!(d.xs(), &[7, 0, 60_000]);
    assert_eq!(d.chunks().count(), 3);
}

// ---- known answers from libsignal-client (tests/vectors/braid_erasure.json) ----

const JSON: &str = include_str!("../../../../tests/vectors/braid_erasure.json");

fn chunk_of(v: &Value) -> Chunk {
    let index = v[0].as_u64().unwrap() as u16;
    let data = hex::decode(v[1].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    Chunk { index, data }
}

#[test]
fn libsignal_chunks() {
    let json: Value = serde_json::from_str(JSON).unwrap();
    let streams = json["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 9);
    let mut redundant = 0;
    for s in streams {
        let len = match s["stream"].as_str().unwrap() {
            "hdr" => HDR_LEN,
            "ek" => EK_LEN,
            "ct1" => CT1_LEN,
            "ct2" => CT2_LEN,
            other => panic!("stream {other}"),
        };
        let k = len / CHUNK_LEN;
        // Distinct indices in sending order; a repeated index (after the u16 wrap) must
        // carry the same bytes.
        let mut by_index = BTreeMap::new();
        let mut order = Vec::new();
        for c in s["chunks"].as_array().unwrap().iter().map(chunk_of) {
            match by_index.insert(c.index, c.data) {
                Some(prev) => assert_eq!(prev, c.data, "repeated chunk {}", c.index),
                None => order.push(c),
            }
        }
        assert!(order.len() >= k, "enough chunks");
        redundant += usize::from(order.len() > k);
        // Decode from the first k and from the last k distinct chunks: same value.
        let v = decode(len, &order[..k]).unwrap();
        assert_eq!(decode(len, &order[order.len() - k..]).unwrap(), v);
        if let Some(d) = s.get("data") {
            assert_eq!(
                hex::encode(&v),
                d.as_str().unwrap(),
                "value from the record"
            );
        }
        if let Some(d) = s.get("data_prefix") {
            assert!(
                hex::encode(&v).starts_with(d.as_str().unwrap()),
                "rho ‖ H(ek)"
            );
        }
        // Our encoder reproduces every chunk the peer sent.
        for c in &order {
            assert_eq!(ch(&v, c.index), *c, "chunk {}", c.index);
        }
    }
    assert!(redundant >= 7, "vectors exercise redundant chunks");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_k_distinct_indices_decode(
        k in 1usize..=MAX_CHUNKS,
        seed in any::<u8>(),
        indices in proptest::collection::btree_set(any::<u16>(), MAX_CHUNKS),
        extra in proptest::collection::vec(any::<u16>(), 0..8),
    ) {
        let len = k * CHUNK_LEN;
        let v = value(len, seed);
        let mut chunks: Vec<Chunk> = indices.iter().take(k).map(|&i| ch(&v, i)).collect();
        // Repeats of held indices with the same data change nothing.
        chunks.extend(extra.iter().filter(|i| indices.iter().take(k).any(|j| j == *i)).map(|&i| ch(&v, i)));
        prop_assert_eq!(decode(len, &chunks).unwrap(), v);
    }
}

#[test]
fn decoder_debug_names_indices_not_data() {
    let v = value(HDR_LEN, 9);
    let mut d = Decoder::<3>::new();
    assert_eq!(d.add(&ch(&v, 7)), Added::Stored);
    assert_eq!(d.add(&ch(&v, 40_000)), Added::Stored);
    let shown = alloc::format!("{d:?}");
    assert_eq!(shown, "Decoder { k: 3, indices: [7, 40000], .. }");
}

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use proptest::prelude::*;
use serde_json::Value;

use super::*;
use crate::ratchet::braid::{CT1_LEN, CT2_LEN, EK_LEN, HDR_LEN};

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
    let mut d = Decoder::new(len)?;
    for c in chunks {
        d.add(c);
    }
    let mut out = alloc::vec![0u8; len];
    d.decode_into(&mut out).then_some(out)
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
        let e = Encoder::new(&v).unwrap();
        let k = len / CHUNK_LEN;
        for (i, data) in v.chunks(CHUNK_LEN).enumerate() {
            assert_eq!(e.chunk(i as u16).data, data, "chunk {i} is raw data");
        }
        // Only redundant chunks, far indices, and a mix.
        let redundant: Vec<Chunk> = (0..k).map(|i| e.chunk((k + i) as u16)).collect();
        assert_eq!(decode(len, &redundant).unwrap(), v);
        let far: Vec<Chunk> = (0..k).map(|i| e.chunk(u16::MAX - i as u16)).collect();
        assert_eq!(decode(len, &far).unwrap(), v);
        let mixed: Vec<Chunk> = (0..k)
            .map(|i| e.chunk((i * 7 + i % 2 * 1000) as u16))
            .collect();
        assert_eq!(decode(len, &mixed).unwrap(), v);
        // k − 1 chunks are not enough.
        assert!(decode(len, &redundant[1..]).is_none());
    }
}

#[test]
fn encoder_hands_out_chunks_in_order_and_wraps() {
    let v = value(HDR_LEN, 9);
    let mut e = Encoder::new(&v).unwrap();
    for i in 0..5u16 {
        assert_eq!(e.next_index(), i);
        assert_eq!(e.next_chunk(), e.chunk(i));
    }
    e.next = u16::MAX;
    assert_eq!(e.next_chunk().index, u16::MAX);
    assert_eq!(e.next_chunk(), e.chunk(0));
}

#[test]
fn decoder_bounds_and_duplicates() {
    for bad in [0, 31, 33, 64 + 1, CHUNK_LEN * (MAX_CHUNKS + 1)] {
        assert!(Encoder::new(&alloc::vec![0; bad]).is_none(), "{bad}");
        assert!(Decoder::new(bad).is_none(), "{bad}");
    }
    let v = value(HDR_LEN, 3);
    let e = Encoder::new(&v).unwrap();
    let mut d = Decoder::new(HDR_LEN).unwrap();
    assert!(d.add(&e.chunk(7)));
    // Same index again: counted once, and the last data wins (as in libsignal).
    let mut forged = e.chunk(7);
    forged.data[0] ^= 1;
    assert!(d.add(&forged));
    assert_eq!(d.count(), 1);
    assert!(d.add(&e.chunk(7)));
    assert_eq!(d.count(), 1);
    let mut out = [0u8; HDR_LEN];
    assert!(!d.decode_into(&mut out), "incomplete");
    assert_eq!(out, [0u8; HDR_LEN], "untouched");
    assert!(d.add(&e.chunk(0)));
    assert!(d.add(&e.chunk(60_000)));
    assert!(d.is_complete());
    assert!(!d.add(&e.chunk(1)), "complete: no more chunks");
    assert!(
        !d.decode_into(&mut [0u8; HDR_LEN - 1]),
        "wrong output length"
    );
    assert!(d.decode_into(&mut out));
    assert_eq!(out.as_slice(), v.as_slice());
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
        let e = Encoder::new(&v).unwrap();
        for c in &order {
            assert_eq!(e.chunk(c.index), *c, "chunk {}", c.index);
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
        let e = Encoder::new(&v).unwrap();
        let mut chunks: Vec<Chunk> = indices.iter().take(k).map(|&i| e.chunk(i)).collect();
        // Repeats of held indices with the same data change nothing.
        chunks.extend(extra.iter().filter(|i| indices.iter().take(k).any(|j| j == *i)).map(|&i| e.chunk(i)));
        prop_assert_eq!(decode(len, &chunks).unwrap(), v);
    }
}

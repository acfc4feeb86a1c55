//! The weights of the per-message work budget (src/session/budget.rs): what one
//! Double Ratchet chain step, one SPQR chain step and one DH ratchet step cost, measured
//! with the primitives the session code uses (through `hazmat`). The budget's unit is
//! one HMAC-SHA256 call, half a Double Ratchet chain step; the constants round up the
//! ratios of these timings.
//!
//! The braid's steps (`budget_braid`) give `BRAID_STEP_COST`: the worst decode plus the
//! dearer of the two ML-KEM steps a received message can cause, in the same unit.
//!
//! `cargo bench --features hazmat --bench budget`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use missive::crypto::KeyPair;
use missive::hazmat;
use rand_core::SeedableRng;

fn weights(c: &mut Criterion) {
    let mut g = c.benchmark_group("budget_weights");
    let ck = [7u8; 32];
    g.bench_function("dr_chain_step", |b| {
        b.iter(|| {
            let (seed, next) = hazmat::chain_kdf(black_box(&ck));
            (seed, next)
        })
    });
    g.bench_function("spqr_chain_step", |b| {
        b.iter(|| hazmat::spqr_chain_step(black_box(&ck), black_box(7)))
    });
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let ours = KeyPair::generate(&mut rng);
    let theirs = *KeyPair::generate(&mut rng).public_key();
    g.bench_function("dh_step", |b| {
        b.iter(|| {
            let dh = hazmat::x25519(black_box(ours.private_key()), black_box(&theirs));
            hazmat::root_kdf(black_box(&ck), &dh)
        })
    });
    g.finish();
}

/// The braid steps one message can cause (src/ratchet/braid): on receipt, the decapsulation
/// that ends an exchange and the second half of an encapsulation (redone from its first
/// half), and the worst decode; on sending (not charged to the receive budget), the key
/// generation and the first half of an encapsulation. Each is timed on the very message
/// of a real exchange that causes it, on a fresh copy of the state.
fn braid_steps(c: &mut Criterion) {
    use criterion::BatchSize;
    use missive::__fuzz::{self, SpqrState};
    let mut g = c.benchmark_group("budget_braid");
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(2);
    let auth = [5u8; 32];
    let mut a = SpqrState::new(&auth, true);
    let mut b = SpqrState::new(&auth, false);
    // (state before, field) of the message that makes each step.
    let (mut decaps, mut encaps2) = (None, None);
    let (mut keygen, mut encaps1) = (None, None);
    for n in 0..400 {
        let (from, to) = if n % 2 == 0 {
            (&mut a, &mut b)
        } else {
            (&mut b, &mut a)
        };
        let sender_before = from.clone();
        let (state_before, epoch_before) = (from.braid_state(), from.epoch());
        let (field, _) = from.send(&mut rng).unwrap();
        match state_before {
            Some(1) if keygen.is_none() => keygen = Some(sender_before),
            Some(7) if encaps1.is_none() => encaps1 = Some(sender_before),
            _ => {}
        }
        let before = to.clone();
        to.recv(&field).unwrap();
        if to.epoch() > before.epoch() && decaps.is_none() && to.braid_state() == Some(6) {
            decaps = Some((before.clone(), field.clone()));
        }
        if to.braid_state() == Some(11) && before.braid_state() != Some(11) && encaps2.is_none() {
            encaps2 = Some((before, field));
        }
        let _ = epoch_before;
    }
    let (Some(decaps), Some(encaps2), Some(keygen), Some(encaps1)) =
        (decaps, encaps2, keygen, encaps1)
    else {
        panic!("every braid step occurs in 400 messages");
    };
    for (name, (state, field)) in [
        (
            "receive: decapsulation, epoch secret, MAC, Add Epoch",
            decaps,
        ),
        (
            "receive: encapsulation (both halves), ciphertext MAC",
            encaps2,
        ),
    ] {
        g.bench_function(name, |bn| {
            bn.iter_batched(
                || state.clone(),
                |mut s| s.recv(black_box(&field)).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    for (name, state) in [
        ("send: ML-KEM-768 key generation", keygen),
        (
            "send: first half of the encapsulation, epoch secret, Add Epoch",
            encaps1,
        ),
    ] {
        let mut r = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        g.bench_function(name, |bn| {
            bn.iter_batched(
                || state.clone(),
                |mut s| s.send(&mut r).unwrap(),
                BatchSize::SmallInput,
            )
        });
    }
    // The worst decode: a 36-chunk value none of whose data chunks arrived.
    let value: Vec<u8> = (0..1152u32).map(|i| (i * 31 + 7) as u8).collect();
    let chunks: Vec<(u16, [u8; 32])> = (0..36u16)
        .map(|i| (1000 + i, __fuzz::braid_chunk(&value, 1000 + i).unwrap()))
        .collect();
    g.bench_function("decode 36 chunks, every data chunk missing", |bn| {
        bn.iter(|| __fuzz::braid_decode(36, black_box(&chunks)).unwrap())
    });
    g.bench_function("one redundant chunk of a 36-chunk value", |bn| {
        bn.iter(|| __fuzz::braid_chunk(black_box(&value), black_box(4_000)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, weights, braid_steps);
criterion_main!(benches);

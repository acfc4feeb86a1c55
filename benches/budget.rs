//! The weights of the per-message work budget (src/session/budget.rs): what one
//! Double Ratchet chain step, one SPQR chain step and one DH ratchet step cost, measured
//! with the primitives the session code uses (through `hazmat`). The budget's unit is
//! one HMAC-SHA256 call, half a Double Ratchet chain step; the constants round up the
//! ratios of these timings.
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

criterion_group!(benches, weights);
criterion_main!(benches);

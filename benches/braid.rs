//! What the SPQR ML-KEM braid costs a conversation: a ping-pong message (encrypt and
//! decrypt, a DH ratchet step each) with the braid against the same message on a session
//! without it (epoch 1 only, as missive's sessions were before the braid: a format-1 SPQR
//! state), and the serialization of the current session a persistent store writes after
//! every message. The braid's cost is uneven (most messages carry one chunk; four
//! messages per epoch also take an ML-KEM step), so each benchmark runs the conversation
//! on through many epochs and reports the average message. The record sizes over two
//! epochs are printed first. Numbers: docs/PERFORMANCE.md.
//!
//! `cargo bench --bench braid`; instruction counts (exact on a loaded machine):
//! `scripts/braid-instructions`.

use criterion::{Criterion, criterion_group};
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

const NOW: Timestamp = Timestamp::from_millis(1_780_000_000_000);

type Party = Device<InMemSignalProtocolStore>;

fn party(name: &str, rng: &mut ChaCha20Rng) -> Party {
    let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), 7);
    Device::new(ProtocolAddress::new(name, 1), store)
}

fn send(from: &mut Party, to: &mut Party, rng: &mut ChaCha20Rng) {
    let (a, b) = (from.address().clone(), to.address().clone());
    let m = from.encrypt(&b, &[7; 100], NOW, rng).unwrap();
    let d = match &m {
        CiphertextMessage::PreKey(p) => to.decrypt_prekey_message(&a, p, rng),
        CiphertextMessage::Whisper(w) => to.decrypt_signal_message(&a, w, rng),
        _ => unreachable!(),
    };
    black_box(d.unwrap());
}

/// Two parties after one round trip; `braid: false` strips the braid from both records
/// (epoch 1 only).
fn established(braid: bool, rng: &mut ChaCha20Rng) -> (Party, Party) {
    let mut alice = party("alice", rng);
    let mut bob = party("bob", rng);
    let b = bob.address().clone();
    let spec = BundleSpec::new(1).with_one_time_pre_key();
    let bundle = bob.store_mut().generate_bundle(&spec, 1, NOW, rng);
    alice.process_prekey_bundle(&b, &bundle, NOW, rng).unwrap();
    send(&mut alice, &mut bob, rng);
    send(&mut bob, &mut alice, rng);
    if !braid {
        let a = alice.address().clone();
        strip(&mut alice, &b);
        strip(&mut bob, &a);
    }
    (alice, bob)
}

/// Replaces `p`'s record with `remote` by the same record without the braid.
fn strip(p: &mut Party, remote: &ProtocolAddress) {
    let r = p.store().session_store.session(remote).unwrap().clone();
    let stripped = missive::__fuzz::record_without_braid(&r).expect("epoch 1");
    p.store_mut().session_store.store_session(remote, stripped);
}

fn record_len(p: &Party, remote: &ProtocolAddress) -> (usize, usize) {
    let r = p.store().session_store.session(remote).unwrap();
    (
        r.serialize().len(),
        r.serialize_current_head().map_or(0, |h| h.len()),
    )
}

/// Record and head sizes over two epochs of ping-pong, for the closing note.
fn print_sizes() {
    for braid in [false, true] {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let (mut alice, mut bob) = established(braid, &mut rng);
        let a = alice.address().clone();
        let (mut min, mut max, mut sum, mut n) = (usize::MAX, 0, 0, 0);
        let mut max_head = 0;
        for i in 0..174 {
            if i % 2 == 0 {
                send(&mut alice, &mut bob, &mut rng);
            } else {
                send(&mut bob, &mut alice, &mut rng);
            }
            let (len, head) = record_len(&bob, &a);
            min = min.min(len);
            max = max.max(len);
            max_head = max_head.max(head);
            sum += len;
            n += 1;
        }
        eprintln!(
            "record size {} (Bob's, over 174 ping-pong messages): min {min} B, mean {} B, \
             max {max} B; largest current head {max_head} B",
            if braid {
                "with the braid"
            } else {
                "epoch 1, no braid"
            },
            sum / n
        );
    }
}

/// The braid's cost as a ratio measured side by side: the two conversations (with and
/// without the braid) alternate in blocks of 174 messages (two epochs), many times, so
/// that a change of machine load hits both alike; the medians per block are compared.
/// Skipped under `--test`.
fn interleaved_ratio() {
    if std::env::args().any(|a| a == "--test") {
        return;
    }
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut pairs = [established(false, &mut rng), established(true, &mut rng)];
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..40 {
        for (i, (alice, bob)) in pairs.iter_mut().enumerate() {
            let start = std::time::Instant::now();
            for m in 0..174 {
                if m % 2 == 0 {
                    send(alice, bob, &mut rng);
                } else {
                    send(bob, alice, &mut rng);
                }
            }
            times[i].push(start.elapsed().as_secs_f64() / 174.0);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let (base, braid) = (median(&mut times[0]), median(&mut times[1]));
    eprintln!(
        "interleaved, 40 × 174 messages each: ping-pong message {:.1} µs without the braid, \
         {:.1} µs with it (median per block): ratio {:.3}",
        base * 1e6,
        braid * 1e6,
        braid / base
    );
}

fn ping_pong(c: &mut Criterion) {
    print_sizes();
    interleaved_ratio();
    let mut g = c.benchmark_group("braid");
    for (name, braid) in [
        ("ping-pong message, epoch 1 only (no braid)", false),
        (
            "ping-pong message with the braid (average over epochs)",
            true,
        ),
    ] {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let (mut alice, mut bob) = established(braid, &mut rng);
        let mut turn = false;
        g.bench_function(name, |bn| {
            bn.iter(|| {
                turn = !turn;
                if turn {
                    send(&mut alice, &mut bob, &mut rng);
                } else {
                    send(&mut bob, &mut alice, &mut rng);
                }
            })
        });
    }
    for (name, braid) in [
        ("serialize the current head, epoch 1 only (no braid)", false),
        (
            "serialize the current head with the braid (average over epochs)",
            true,
        ),
    ] {
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let (mut alice, mut bob) = established(braid, &mut rng);
        let a = alice.address().clone();
        // A head in every phase of an exchange, in turn.
        let mut heads = Vec::new();
        for i in 0..174 {
            if i % 2 == 0 {
                send(&mut alice, &mut bob, &mut rng);
            } else {
                send(&mut bob, &mut alice, &mut rng);
            }
            heads.push(bob.store().session_store.session(&a).unwrap().clone());
        }
        let mut i = 0;
        g.bench_function(name, |bn| {
            bn.iter(|| {
                i = (i + 1) % heads.len();
                black_box(heads[i].serialize_current_head())
            })
        });
    }
    g.finish();
}

/// Messages per counted run: four whole epochs of ping-pong.
const COUNTED: usize = 4 * 174;

/// `COUNTED` ping-pong messages (encrypt and decrypt each) on `pair`.
fn run(pair: &mut (Party, Party), rng: &mut ChaCha20Rng) {
    for m in 0..COUNTED {
        if m % 2 == 0 {
            send(&mut pair.0, &mut pair.1, rng);
        } else {
            send(&mut pair.1, &mut pair.0, rng);
        }
    }
}

// Two bodies that differ (the marker), so that the linker cannot fold them into one
// symbol and callgrind tells them apart.
#[inline(never)]
fn instructions_no_braid(pair: &mut (Party, Party), rng: &mut ChaCha20Rng) {
    black_box(1u8);
    run(pair, rng)
}

#[inline(never)]
fn instructions_braid(pair: &mut (Party, Party), rng: &mut ChaCha20Rng) {
    black_box(2u16);
    run(pair, rng)
}

/// 1,000 redundant chunks (indices 36 to 1,035) of a 36-chunk value (an `ek_vector`).
#[inline(never)]
fn instructions_chunk36(value: &[u8]) {
    for i in 36..1_036u16 {
        black_box(missive::__fuzz::braid_chunk(value, i));
    }
}

/// 10 decodes of a 36-chunk value from 36 redundant chunks (none of the data chunks).
#[inline(never)]
fn instructions_decode36(chunks: &[(u16, [u8; 32])]) {
    for _ in 0..10 {
        black_box(missive::__fuzz::braid_decode(36, chunks).unwrap());
    }
}

/// The same conversations, and the erasure code's two heavy paths, for callgrind
/// (`scripts/braid-instructions`, with `MISSIVE_COUNT_INSTRUCTIONS=1`): instruction
/// counts are exact on a loaded machine.
fn count_instructions() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mut without = established(false, &mut rng);
    let mut with = established(true, &mut rng);
    instructions_no_braid(&mut without, &mut rng);
    instructions_braid(&mut with, &mut rng);
    let value: Vec<u8> = (0..1152u32).map(|i| (i * 31 + 7) as u8).collect();
    instructions_chunk36(&value);
    let chunks: Vec<(u16, [u8; 32])> = (0..36u16)
        .map(|i| {
            (
                1000 + i,
                missive::__fuzz::braid_chunk(&value, 1000 + i).unwrap(),
            )
        })
        .collect();
    instructions_decode36(&chunks);
}

criterion_group!(benches, ping_pong);

fn main() {
    if std::env::var_os("MISSIVE_COUNT_INSTRUCTIONS").is_some() {
        count_instructions();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

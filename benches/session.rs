//! Session benchmarks, each beside its primitive floor: the DH, KEM, signature, HMAC,
//! HKDF and AES calls the operation cannot avoid. Numbers and the command that produced
//! them are in docs/PERFORMANCE.md.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use missive::crypto::{KemKeyPair, KemKeyType, KeyPair, xeddsa};
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

const NOW: Timestamp = Timestamp::from_millis(1_780_000_000_000);

/// One device with the in-memory store.
type Party = Device<InMemSignalProtocolStore>;

fn party(name: &str, rng: &mut ChaCha20Rng) -> Party {
    let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), 7);
    Device::new(ProtocolAddress::new(name, 1), store)
}

/// A v4 bundle of `p` (signed prekey, one-time Kyber prekey, one-time prekey).
fn bundle(p: &mut Party, id: u32, rng: &mut ChaCha20Rng) -> PreKeyBundle {
    let spec = BundleSpec::new(id).with_one_time_pre_key();
    p.store_mut().generate_bundle(&spec, 1, NOW, rng)
}

fn enc(
    from: &mut Party,
    to: &ProtocolAddress,
    pt: &[u8],
    rng: &mut ChaCha20Rng,
) -> CiphertextMessage {
    from.encrypt(to, pt, NOW, rng).unwrap()
}

/// Decrypts an already parsed message (the numbers in docs/PERFORMANCE.md leave out
/// parsing; `Device::decrypt` on the bytes adds it).
fn dec(
    to: &mut Party,
    from: &ProtocolAddress,
    m: &CiphertextMessage,
    rng: &mut ChaCha20Rng,
) -> Vec<u8> {
    match m {
        CiphertextMessage::PreKey(p) => to.decrypt_prekey_message(from, p, rng),
        CiphertextMessage::Whisper(w) => to.decrypt_signal_message(from, w, rng),
        _ => unreachable!("a 1:1 session sends only these two kinds"),
    }
    .unwrap()
    .plaintext
}

/// Two parties after one round trip.
fn established(rng: &mut ChaCha20Rng) -> (Party, Party) {
    let mut alice = party("alice", rng);
    let mut bob = party("bob", rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let bb = bundle(&mut bob, 1, rng);
    alice.process_prekey_bundle(&b, &bb, NOW, rng).unwrap();
    let m = enc(&mut alice, &b, b"hi", rng);
    dec(&mut bob, &a, &m, rng);
    let r = enc(&mut bob, &a, b"hi", rng);
    dec(&mut alice, &b, &r, rng);
    (alice, bob)
}

fn handshake(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut g = c.benchmark_group("handshake");
    g.bench_function(
        "pqxdh: process bundle + first message + responder decrypt",
        |bn| {
            bn.iter_batched(
                || {
                    let alice = party("alice", &mut rng);
                    let mut bob = party("bob", &mut rng);
                    let b = bundle(&mut bob, 1, &mut rng);
                    (alice, bob, b)
                },
                |(mut alice, mut bob, b)| {
                    let mut rng = ChaCha20Rng::seed_from_u64(2);
                    let (a, bob_at) = (alice.address().clone(), bob.address().clone());
                    alice
                        .process_prekey_bundle(&bob_at, &b, NOW, &mut rng)
                        .unwrap();
                    let m = enc(&mut alice, &bob_at, &[0; 100], &mut rng);
                    black_box(dec(&mut bob, &a, &m, &mut rng));
                },
                BatchSize::SmallInput,
            )
        },
    );
    // The floor: 2 XEdDSA verifications, 8 X25519 (4 per side), 2 ratchet-key
    // generations and their 3 DHs, Kyber encapsulation + decapsulation.
    let kp = KeyPair::generate(&mut rng);
    let other = KeyPair::generate(&mut rng);
    let kem = KemKeyPair::generate(KemKeyType::Kyber1024, &mut rng);
    let sig = xeddsa::sign(kp.private_key(), &kp.public_key().serialize(), &mut rng);
    g.bench_function(
        "floor: 2 verify + 11 X25519 + 2 keygen + Kyber encaps/decaps",
        |bn| {
            bn.iter(|| {
                for _ in 0..2 {
                    black_box(xeddsa::verify(
                        kp.public_key(),
                        &other.public_key().serialize(),
                        &sig,
                    ));
                }
                for _ in 0..11 {
                    black_box(kp.private_key().diffie_hellman(other.public_key()).unwrap());
                }
                for _ in 0..2 {
                    black_box(KeyPair::generate(&mut rng));
                }
                let (ct, _) = kem.public_key().encapsulate(&mut rng);
                black_box(kem.secret_key().decapsulate(&ct).unwrap());
            })
        },
    );
    g.finish();
}

fn messages(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut g = c.benchmark_group("message");
    let (mut alice, mut bob) = established(&mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    g.bench_function("100 B same chain: encrypt + decrypt", |bn| {
        bn.iter(|| {
            let m = enc(&mut alice, &b, &[7; 100], &mut rng);
            black_box(dec(&mut bob, &a, &m, &mut rng));
        })
    });
    g.bench_function(
        "100 B ping-pong (a DH ratchet step per message): encrypt + decrypt",
        |bn| {
            let mut turn = false;
            bn.iter(|| {
                turn = !turn;
                if turn {
                    let m = enc(&mut alice, &b, &[7; 100], &mut rng);
                    black_box(dec(&mut bob, &a, &m, &mut rng));
                } else {
                    let m = enc(&mut bob, &a, &[7; 100], &mut rng);
                    black_box(dec(&mut alice, &b, &m, &mut rng));
                }
            })
        },
    );
    g.bench_function(
        "floor, symmetric: 4 HMAC + 4 HKDF + 2 MAC + AES-CBC 112 B enc/dec",
        |bn| {
            use aes::Aes256;
            use cbc::cipher::{
                BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7,
            };
            use hmac::{Hmac, KeyInit, Mac};
            type H = Hmac<sha2::Sha256>;
            let key = [9u8; 32];
            let iv = [1u8; 16];
            bn.iter(|| {
                for i in 0..4u8 {
                    let mut m = <H as KeyInit>::new_from_slice(&key).unwrap();
                    m.update(&[i]);
                    black_box(m.finalize());
                }
                // Per side: the SPQR chain step (64 B out) and the message keys (80 B out).
                for _ in 0..2 {
                    let mut okm = [0u8; 64];
                    hkdf::Hkdf::<sha2::Sha256>::new(Some(&[0; 32]), &key)
                        .expand(b"x", &mut okm)
                        .unwrap();
                    let mut okm = [0u8; 80];
                    hkdf::Hkdf::<sha2::Sha256>::new(Some(&key), &key)
                        .expand(b"y", &mut okm)
                        .unwrap();
                    black_box(okm);
                }
                for _ in 0..2 {
                    let mut m = <H as KeyInit>::new_from_slice(&key).unwrap();
                    m.update(&[0u8; 66 + 120]);
                    black_box(m.finalize());
                }
                let ct = cbc::Encryptor::<Aes256>::new(&key.into(), &iv.into())
                    .encrypt_padded_vec::<Pkcs7>(&[7; 100]);
                black_box(
                    cbc::Decryptor::<Aes256>::new(&key.into(), &iv.into())
                        .decrypt_padded_vec::<Pkcs7>(&ct)
                        .unwrap(),
                );
            })
        },
    );
    let x = KeyPair::generate(&mut rng);
    let y = KeyPair::generate(&mut rng);
    g.bench_function("floor, ratchet step: keygen + 2 X25519", |bn| {
        bn.iter(|| {
            black_box(KeyPair::generate(&mut rng));
            black_box(x.private_key().diffie_hellman(y.public_key()).unwrap());
            black_box(x.private_key().diffie_hellman(y.public_key()).unwrap());
        })
    });
    g.finish();
}

criterion_group!(benches, handshake, messages);
criterion_main!(benches);

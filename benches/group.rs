//! Sender-key benchmarks. Two groups measure the batch verification side by side with
//! one-by-one verification on the same inputs (criterion prints both; the ratio of
//! their medians is the speed-up): bare signatures, and whole backlogs decrypted with
//! `Device::group_decrypt` versus `Device::group_decrypt_batch`. A third puts one group message beside
//! its primitive floor. Numbers and the command are in docs/PERFORMANCE.md.

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use missive::crypto::{KeyPair, PublicKey, xeddsa};
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

const GROUP: DistributionId = DistributionId::from_bytes([7; 16]);
const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);

/// `n` signatures over 100-byte messages, from `keys` signers in turn.
fn signatures(n: usize, keys: usize, rng: &mut ChaCha20Rng) -> Vec<(PublicKey, Vec<u8>, [u8; 64])> {
    let signers: Vec<KeyPair> = (0..keys).map(|_| KeyPair::generate(rng)).collect();
    (0..n)
        .map(|i| {
            let k = &signers[i % keys];
            let m = vec![i as u8; 100];
            let s = xeddsa::sign(k.private_key(), &m, rng);
            (*k.public_key(), m, s)
        })
        .collect()
}

fn batch_verification(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut g = c.benchmark_group("xeddsa backlog");
    for (n, keys) in [(500usize, 1usize), (500, 5), (32, 1), (8, 1)] {
        let sigs = signatures(n, keys, &mut rng);
        let items: Vec<xeddsa::BatchItem<'_>> = sigs
            .iter()
            .map(|(key, message, signature)| xeddsa::BatchItem {
                key,
                message,
                signature,
            })
            .collect();
        assert!(xeddsa::verify_batch(&items).iter().all(|v| *v));
        let label = format!("{n} signatures, {keys} key(s)");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("one-by-one", &label), &sigs, |b, sigs| {
            b.iter(|| {
                for (key, message, signature) in sigs {
                    black_box(xeddsa::verify(key, message, signature));
                }
            })
        });
        g.bench_with_input(BenchmarkId::new("batch", &label), &items, |b, items| {
            b.iter(|| black_box(xeddsa::verify_batch(items)))
        });
    }
    g.finish();
}

/// A sender and a receiver with a 1:1 session, over which the receiver got the
/// sender's chain for `GROUP` (set-up, not measured).
fn sender_and_receiver(
    rng: &mut ChaCha20Rng,
) -> (
    Device<InMemSignalProtocolStore>,
    Device<InMemSignalProtocolStore>,
) {
    let new_device = |name: &str, rng: &mut ChaCha20Rng| {
        let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), 1);
        Device::new(ProtocolAddress::new(name, 1), store)
    };
    let mut sender = new_device("alice", rng);
    let mut receiver = new_device("bob", rng);
    let (from, to) = (sender.address().clone(), receiver.address().clone());
    let bundle = receiver
        .store_mut()
        .generate_bundle(&BundleSpec::new(1), 1, NOW, rng);
    sender
        .process_prekey_bundle(&to, &bundle, NOW, rng)
        .unwrap();
    let d = sender.sender_key_distribution_message(GROUP, rng).unwrap();
    for (_, carrier) in sender.distribute_sender_key(&d, &[to], NOW, rng) {
        let carrier = carrier.unwrap();
        let got = receiver
            .decrypt(&from, carrier.message_type(), carrier.serialize(), rng)
            .unwrap();
        let d = SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap();
        receiver
            .process_sender_key_distribution_message(&got.sender, &d)
            .unwrap();
    }
    (sender, receiver)
}

struct Backlog {
    sender: ProtocolAddress,
    receiver: Device<InMemSignalProtocolStore>,
    messages: Vec<SenderKeyMessage>,
}

impl Backlog {
    /// A fresh copy of the receiver, before it read the backlog.
    fn receiver(&self) -> Device<InMemSignalProtocolStore> {
        Device::new(
            self.receiver.address().clone(),
            self.receiver.store().clone(),
        )
    }
}

/// A receiver that holds the sender's chain, and `n` messages of 100 bytes it has not
/// read yet.
fn backlog(n: usize, rng: &mut ChaCha20Rng) -> Backlog {
    let (mut sender, receiver) = sender_and_receiver(rng);
    let messages = (0..n)
        .map(|_| sender.group_encrypt(GROUP, &[7; 100], rng).unwrap())
        .collect();
    Backlog {
        sender: sender.address().clone(),
        receiver,
        messages,
    }
}

fn backlog_decryption(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut g = c.benchmark_group("group backlog");
    for n in [500usize, 32] {
        let b = backlog(n, &mut rng);
        let label = format!("{n} messages of 100 B");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(BenchmarkId::new("group_decrypt one-by-one", &label), |bn| {
            // The receiver is returned, so that dropping its store is not timed.
            bn.iter_batched(
                || b.receiver(),
                |mut receiver| {
                    for m in &b.messages {
                        black_box(receiver.group_decrypt(&b.sender, m).unwrap());
                    }
                    receiver
                },
                BatchSize::LargeInput,
            )
        });
        let refs: Vec<(&ProtocolAddress, &SenderKeyMessage)> =
            b.messages.iter().map(|m| (&b.sender, m)).collect();
        g.bench_function(BenchmarkId::new("group_decrypt_batch", &label), |bn| {
            bn.iter_batched(
                || b.receiver(),
                |mut receiver| {
                    black_box(receiver.group_decrypt_batch(&refs));
                    receiver
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn message(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut g = c.benchmark_group("group message");
    let (mut sender, mut receiver) = sender_and_receiver(&mut rng);
    let from = sender.address().clone();
    g.bench_function("100 B: group_encrypt + group_decrypt", |bn| {
        bn.iter(|| {
            let m = sender.group_encrypt(GROUP, &[7; 100], &mut rng).unwrap();
            black_box(receiver.group_decrypt(&from, &m).unwrap());
        })
    });
    let k = KeyPair::generate(&mut rng);
    g.bench_function(
        "floor: XEdDSA sign + verify, 4 HMAC, 2 HKDF, AES-CBC 112 B enc/dec",
        |bn| {
            use aes::Aes256;
            use cbc::cipher::{
                BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7,
            };
            use hmac::{Hmac, KeyInit, Mac};
            type H = Hmac<sha2::Sha256>;
            let key = [9u8; 32];
            let iv = [1u8; 16];
            let body = [5u8; 150];
            bn.iter(|| {
                let sig = xeddsa::sign(k.private_key(), &body, &mut rng);
                black_box(xeddsa::verify(k.public_key(), &body, &sig));
                for i in 0..4u8 {
                    let mut m = <H as KeyInit>::new_from_slice(&key).unwrap();
                    m.update(&[i]);
                    black_box(m.finalize());
                }
                for _ in 0..2 {
                    let mut okm = [0u8; 48];
                    hkdf::Hkdf::<sha2::Sha256>::new(None, &key)
                        .expand(b"WhisperGroup", &mut okm)
                        .unwrap();
                    black_box(okm);
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
    g.finish();
}

criterion_group!(benches, batch_verification, backlog_decryption, message);
criterion_main!(benches);

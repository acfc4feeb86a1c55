//! Sealed-sender benchmarks: the v1 envelope (seal, open, open and validate) beside its
//! primitive floor, and v2 for 2, 100 and 1,000 recipients (seal, the server's cut of
//! every copy, one recipient opening its copy). The cost per v2 recipient is the
//! difference of the 1,000- and 100-recipient seals over 900. Numbers and the command
//! are in docs/PERFORMANCE.md.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use missive::crypto::{PrivateKey, PublicKey, xeddsa};
use missive::sealed::*;
use missive::{IdentityKey, IdentityKeyPair};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;

/// A content as a group send carries it: a certificate with an embedded server
/// certificate and a 200-byte inner message.
struct World {
    root: PublicKey,
    alice: IdentityKeyPair,
    content: UnidentifiedSenderMessageContent,
    rng: ChaCha20Rng,
}

fn world() -> World {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let root = PrivateKey::generate(&mut rng);
    let server = PrivateKey::generate(&mut rng);
    let sc = ServerCertificate::new(1, server.public_key(), &root, &mut rng);
    let alice = IdentityKeyPair::generate(&mut rng);
    let cert = SenderCertificate::new(
        "9d0652a3-dcc3-4d11-975f-74d61598733f",
        None,
        1,
        *alice.identity_key(),
        u64::MAX,
        Signer::Certificate(sc),
        &server,
        &mut rng,
    )
    .unwrap();
    let content = UnidentifiedSenderMessageContent::new(
        ContentType::SenderKey,
        cert,
        vec![0x5a; 200],
        ContentHint::DEFAULT,
        None,
    );
    World {
        root: root.public_key(),
        alice,
        content,
        rng,
    }
}

fn v1(c: &mut Criterion) {
    let mut w = world();
    let bob = IdentityKeyPair::generate(&mut w.rng);
    let roots = [w.root];
    let trust = TrustPolicy::new(&roots, &[]);
    let env = seal_v1(&w.content, &w.alice, bob.identity_key(), &mut w.rng).unwrap();
    let mut g = c.benchmark_group("sealed v1");
    g.bench_function("seal", |b| {
        b.iter(|| {
            black_box(seal_v1(
                &w.content,
                &w.alice,
                bob.identity_key(),
                &mut w.rng,
            ))
        })
    });
    g.bench_function("open", |b| b.iter(|| black_box(open(&env, &bob))));
    g.bench_function("open + validate", |b| {
        b.iter(|| black_box(decrypt(&env, &bob, &trust, 0, "me", 1)))
    });
    // What the envelope cannot avoid: sealing generates a key and does two X25519;
    // opening does two X25519; validating verifies two XEdDSA signatures.
    let k = PrivateKey::generate(&mut w.rng);
    let other = PrivateKey::generate(&mut w.rng).public_key();
    g.bench_function("floor: key generation + 2 X25519", |b| {
        b.iter(|| {
            let e = PrivateKey::generate(&mut w.rng);
            black_box(e.diffie_hellman(&other).ok());
            black_box(k.diffie_hellman(&other).ok());
        })
    });
    g.bench_function("floor: 2 X25519", |b| {
        b.iter(|| {
            black_box(k.diffie_hellman(&other).ok());
            black_box(k.diffie_hellman(&other).ok());
        })
    });
    let sig = xeddsa::sign(&k, b"certificate bytes", &mut w.rng);
    let kp = k.public_key();
    g.bench_function("floor: 2 XEdDSA verify", |b| {
        b.iter(|| {
            black_box(xeddsa::verify(&kp, b"certificate bytes", &sig));
            black_box(xeddsa::verify(&kp, b"certificate bytes", &sig));
        })
    });
    g.finish();
}

fn destinations(n: usize, rng: &mut ChaCha20Rng) -> (Vec<Destination>, IdentityKeyPair) {
    let first = IdentityKeyPair::generate(rng);
    let d = (0..n)
        .map(|i| {
            let key: IdentityKey = if i == 0 {
                *first.identity_key()
            } else {
                *IdentityKeyPair::generate(rng).identity_key()
            };
            let mut uuid = [0u8; 16];
            uuid[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            Destination {
                service_id: ServiceId::new(ServiceIdKind::Aci, uuid),
                identity_key: key,
                devices: vec![RecipientDevice {
                    device_id: 1,
                    registration_id: (i % 0x3fff) as u16,
                }],
            }
        })
        .collect();
    (d, first)
}

fn v2(c: &mut Criterion) {
    let mut w = world();
    let mut g = c.benchmark_group("sealed v2");
    for n in [2usize, 100, 1000] {
        if n >= 100 {
            g.sample_size(10);
        }
        let (dest, first) = destinations(n, &mut w.rng);
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("seal", n), &dest, |b, dest| {
            b.iter(|| black_box(seal_v2(&w.content, &w.alice, dest, &[], &mut w.rng)))
        });
        let sent = seal_v2(&w.content, &w.alice, &dest, &[], &mut w.rng).unwrap();
        g.bench_with_input(
            BenchmarkId::new("server cut, every copy", n),
            &sent,
            |b, sent| {
                b.iter(|| {
                    let parsed = SentMessage::parse(sent).unwrap();
                    for r in parsed.recipients() {
                        black_box(parsed.received_message(r));
                    }
                })
            },
        );
        let copy = SentMessage::parse(&sent)
            .unwrap()
            .received_message_for(&dest[0].service_id)
            .unwrap();
        assert!(open(&copy, &first).is_ok());
        g.bench_with_input(BenchmarkId::new("open one copy", n), &copy, |b, copy| {
            b.iter(|| black_box(open(copy, &first)))
        });
    }
    g.finish();
}

criterion_group!(benches, v1, v2);
criterion_main!(benches);

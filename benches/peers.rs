//! missive beside vodozemac (Olm and Megolm, Matrix's Double Ratchet and group ratchet)
//! on the same jobs, and beside each operation's primitive floor: the DH, KEM,
//! signature, HMAC, HKDF and AES calls missive cannot avoid, run through the very code
//! the sessions run (`missive::hazmat` and the key types).
//!
//! One criterion group, `peers`; each operation has up to three benchmarks, run one
//! after the other so that their ratios are taken close together in time:
//! `peers/<operation>/{missive,vodozemac,floor}`. `scripts/perf-table.py` reads their
//! medians and writes the table in docs/PERFORMANCE.md and `docs/peers.svg`.
//!
//! What each side does (100-byte plaintexts; parsing the received bytes included on
//! both sides; missive's in-memory store, vodozemac's in-memory sessions):
//!
//! | operation | missive | vodozemac |
//! |---|---|---|
//! | `same_chain_encrypt` | `Device::encrypt` on a chain in use | `Session::encrypt` (Olm v1) |
//! | `same_chain_decrypt` | `Device::decrypt` of the next message of a known chain | `Session::decrypt` |
//! | `ping_pong_round` | A → B, B → A: each message makes its receiver take a DH ratchet step | the same with Olm |
//! | `session_creation` | PQXDH: `process_prekey_bundle` + first message + responder `decrypt` | 3DH: `create_outbound_session` + first message + `create_inbound_session` |
//! | `group_encrypt` | `Device::group_encrypt` | `GroupSession::encrypt` (Megolm v1) |
//! | `group_decrypt` | `Device::group_decrypt` of the next message | `InboundGroupSession::decrypt` |
//! | `group_decrypt_skip_100`, `_1000` | the message after 100 (1,000) lost ones: their seeds are stored | the same message index: Megolm jumps its ratchet, storing nothing |
//!
//! Time is this thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on the
//! shared development machine other processes take the cores for milliseconds at a time,
//! and wall time would charge those pauses to whichever benchmark was running.
//!
//! Not the same protocols: session creation in missive runs a Kyber1024 KEM and checks
//! the bundle's two signatures (Olm does neither, and its one-time key signature is
//! checked by the app); a sender-key chain keeps the seeds of skipped messages (forward
//! secrecy per message) where Megolm keeps its initial ratchet and can re-derive every
//! later key. The floors make the comparison with missive's own minimum.

use criterion::measurement::{Measurement, ValueFormatter};
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group};
use missive::crypto::xeddsa::{SigningKey, VerifyingKey};
use missive::crypto::{KemKeyPair, KemKeyType, KeyPair, PrivateKey};
use missive::hazmat;
use missive::store::ProtocolStore;
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use std::hint::black_box;
use std::time::Duration;
use vodozemac::megolm::{
    GroupSession, InboundGroupSession, MegolmMessage, SessionConfig as MegolmConfig,
};
use vodozemac::olm::{Account, OlmMessage, Session, SessionConfig as OlmConfig};

const NOW: Timestamp = Timestamp::from_millis(1_780_000_000_000);
const GROUP: DistributionId = DistributionId::from_bytes([7; 16]);
const PLAINTEXT: [u8; 100] = [0x42; 100];

type Party = Device<InMemSignalProtocolStore>;

/// The CPU time this thread has used.
fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` through a pointer to a live local.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "CLOCK_THREAD_CPUTIME_ID");
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap(),
        u32::try_from(ts.tv_nsec).unwrap(),
    )
}

/// Criterion measurement: the benchmark thread's CPU time, in nanoseconds.
struct ThreadCpu;

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;
    fn start(&self) -> Duration {
        thread_cpu_now()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu_now().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, d: &Duration) -> f64 {
        d.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanoseconds
    }
}

struct Nanoseconds;

impl ValueFormatter for Nanoseconds {
    fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = if typical < 1e3 {
            (1.0, "ns")
        } else if typical < 1e6 {
            (1e-3, "µs")
        } else {
            (1e-6, "ms")
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(&self, _: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let n = match *t {
            Throughput::Elements(n) | Throughput::Bytes(n) | Throughput::BytesDecimal(n) => n,
            Throughput::Bits(n) => n,
            Throughput::ElementsAndBytes { elements, .. } => elements,
        };
        values.iter_mut().for_each(|v| *v = n as f64 * 1e9 / *v);
        "/s"
    }
    fn scale_for_machines(&self, _: &mut [f64]) -> &'static str {
        "ns"
    }
}

type Crit = Criterion<ThreadCpu>;

fn party(name: &str, rng: &mut ChaCha20Rng) -> Party {
    let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), 7);
    Device::new(ProtocolAddress::new(name, 1), store)
}

/// A v4 bundle (signed prekey, one-time Kyber prekey, one-time EC prekey).
fn bundle(p: &mut Party, id: u32, rng: &mut ChaCha20Rng) -> PreKeyBundle {
    let spec = BundleSpec::new(id).with_one_time_pre_key();
    p.store_mut().generate_bundle(&spec, 1, NOW, rng)
}

fn deliver(from: &mut Party, to: &mut Party, pt: &[u8], rng: &mut ChaCha20Rng) -> Vec<u8> {
    let m = from.encrypt(to.address(), pt, NOW, rng).unwrap();
    to.decrypt(from.address(), m.message_type(), m.serialize(), rng)
        .unwrap()
        .plaintext
}

/// Alice and Bob after one round trip (Alice sends next, on a chain Bob knows after the
/// first message).
fn missive_pair(rng: &mut ChaCha20Rng) -> (Party, Party) {
    let mut alice = party("alice", rng);
    let mut bob = party("bob", rng);
    let b = bob.address().clone();
    let bb = bundle(&mut bob, 1, rng);
    alice.process_prekey_bundle(&b, &bb, NOW, rng).unwrap();
    deliver(&mut alice, &mut bob, b"hi", rng);
    deliver(&mut bob, &mut alice, b"hi", rng);
    deliver(&mut alice, &mut bob, b"same chain from here", rng);
    (alice, bob)
}

/// An Olm session pair after one round trip (Alice's messages are ordinary ones).
fn olm_pair() -> (Session, Session) {
    let alice = Account::new();
    let mut bob = Account::new();
    bob.generate_one_time_keys(1);
    let otk = *bob.one_time_keys().values().next().unwrap();
    bob.mark_keys_as_published();
    let mut a = alice
        .create_outbound_session(OlmConfig::version_1(), bob.curve25519_key(), otk)
        .unwrap();
    let OlmMessage::PreKey(first) = a.encrypt(b"hi").unwrap() else {
        panic!("a prekey message first")
    };
    let mut b = bob
        .create_inbound_session(OlmConfig::version_1(), alice.curve25519_key(), &first)
        .unwrap()
        .session;
    let reply = b.encrypt(b"hi").unwrap();
    a.decrypt(&reply).unwrap();
    let m = a.encrypt(b"same chain from here").unwrap();
    assert!(matches!(m, OlmMessage::Normal(_)));
    b.decrypt(&m).unwrap();
    (a, b)
}

/// Decrypts `n` messages made beforehand (not timed), one after the other.
fn timed_decrypts<M>(
    n: u64,
    mut make: impl FnMut() -> M,
    mut decrypt: impl FnMut(&M) -> Vec<u8>,
) -> Duration {
    let messages: Vec<M> = (0..n).map(|_| make()).collect();
    let start = thread_cpu_now();
    for m in &messages {
        black_box(decrypt(m));
    }
    thread_cpu_now() - start
}

/// The symmetric floor of one 1:1 message on a known chain, as missive runs it: the
/// chain step (2 HMAC), the SPQR chain step (HKDF), the message keys (HKDF), the MAC
/// over the real message and AES-256-CBC.
struct MessageFloor {
    wire: Vec<u8>,
    sender: IdentityKey,
    receiver: IdentityKey,
}

impl MessageFloor {
    fn new(rng: &mut ChaCha20Rng) -> Self {
        let (mut alice, bob) = missive_pair(rng);
        let m = alice.encrypt(bob.address(), &PLAINTEXT, NOW, rng).unwrap();
        let id = |p: &Party| *p.store().identity_key_pair().unwrap().identity_key();
        MessageFloor {
            wire: m.serialize().to_vec(),
            sender: id(&alice),
            receiver: id(&bob),
        }
    }

    fn keys(&self) -> (hazmat::Secret32, hazmat::Secret32, [u8; 16]) {
        let (seed, next) = hazmat::chain_kdf(&[3; 32]);
        black_box(next);
        let (_, spqr_key) = hazmat::spqr_chain_step(&[4; 32], 5);
        let (aes, mac, iv) = hazmat::message_keys(&seed, Some(&spqr_key));
        (aes, mac, *iv)
    }

    fn encrypt(&self) {
        let (aes, mac, iv) = self.keys();
        black_box(hazmat::aes_cbc_encrypt(&aes, &iv, &PLAINTEXT));
        let body = &self.wire[..self.wire.len() - 8];
        black_box(hazmat::signal_message_mac(
            &mac,
            &self.sender,
            &self.receiver,
            body,
        ));
    }

    fn decrypt(&self, ciphertext: &[u8]) {
        let (aes, mac, iv) = self.keys();
        black_box(hazmat::verify_signal_message_mac(
            &self.wire,
            &self.sender,
            &self.receiver,
            &mac,
        ));
        black_box(hazmat::aes_cbc_decrypt(&aes, &iv, ciphertext));
    }
}

fn same_chain(c: &mut Crit) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut g = c.benchmark_group("peers");
    let floor = MessageFloor::new(&mut rng);
    let ciphertext = hazmat::aes_cbc_encrypt(&[1; 32], &[2; 16], &PLAINTEXT);

    // Pairs of their own: the messages encrypted here are never delivered.
    let op = "same_chain_encrypt";
    let (mut alice, bob) = missive_pair(&mut rng);
    g.bench_function(BenchmarkId::new(op, "missive"), |b| {
        b.iter(|| {
            alice
                .encrypt(bob.address(), black_box(&PLAINTEXT), NOW, &mut rng)
                .unwrap()
        })
    });
    let (mut olm_a, _) = olm_pair();
    g.bench_function(BenchmarkId::new(op, "vodozemac"), |b| {
        b.iter(|| olm_a.encrypt(black_box(PLAINTEXT)).unwrap())
    });
    g.bench_function(BenchmarkId::new(op, "floor"), |b| {
        b.iter(|| floor.encrypt())
    });

    let op = "same_chain_decrypt";
    let (mut alice, mut bob) = missive_pair(&mut rng);
    let (mut olm_a, mut olm_b) = olm_pair();
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let mut rng2 = rng.clone();
    g.bench_function(BenchmarkId::new(op, "missive"), |bn| {
        bn.iter_custom(|n| {
            timed_decrypts(
                n,
                || {
                    let m = alice.encrypt(&b, &PLAINTEXT, NOW, &mut rng).unwrap();
                    (m.message_type(), m.serialize().to_vec())
                },
                |(kind, bytes)| bob.decrypt(&a, *kind, bytes, &mut rng2).unwrap().plaintext,
            )
        })
    });
    g.bench_function(BenchmarkId::new(op, "vodozemac"), |b| {
        b.iter_custom(|n| {
            timed_decrypts(
                n,
                || olm_a.encrypt(PLAINTEXT).unwrap().to_parts(),
                |(kind, bytes)| {
                    let m = OlmMessage::from_parts(*kind, bytes).unwrap();
                    olm_b.decrypt(&m).unwrap()
                },
            )
        })
    });
    g.bench_function(BenchmarkId::new(op, "floor"), |b| {
        b.iter(|| floor.decrypt(&ciphertext))
    });

    // A → B, B → A: every message carries a new ratchet key, so its receiver takes a DH
    // ratchet step (one DH for the receiving chain, a new key pair and one DH for the
    // next sending chain, two root-key HKDFs).
    let op = "ping_pong_round";
    g.bench_function(BenchmarkId::new(op, "missive"), |b| {
        b.iter(|| {
            deliver(&mut bob, &mut alice, black_box(&PLAINTEXT), &mut rng);
            deliver(&mut alice, &mut bob, black_box(&PLAINTEXT), &mut rng)
        })
    });
    g.bench_function(BenchmarkId::new(op, "vodozemac"), |b| {
        let olm_deliver = |from: &mut Session, to: &mut Session| {
            let (kind, bytes) = from.encrypt(black_box(PLAINTEXT)).unwrap().to_parts();
            to.decrypt(&OlmMessage::from_parts(kind, &bytes).unwrap())
                .unwrap()
        };
        b.iter(|| {
            olm_deliver(&mut olm_b, &mut olm_a);
            olm_deliver(&mut olm_a, &mut olm_b)
        })
    });
    let (x, y) = (KeyPair::generate(&mut rng), KeyPair::generate(&mut rng));
    g.bench_function(BenchmarkId::new(op, "floor"), |b| {
        b.iter(|| {
            for _ in 0..2 {
                // The receiver's DH step.
                let dh = hazmat::x25519(x.private_key(), y.public_key());
                let (root, _) = hazmat::root_kdf(&[5; 32], &dh);
                black_box(KeyPair::generate(&mut rng));
                let dh = hazmat::x25519(x.private_key(), y.public_key());
                black_box(hazmat::root_kdf(&root, &dh));
                floor.encrypt();
                floor.decrypt(&ciphertext);
            }
        })
    });
    g.finish();
}

fn session_creation(c: &mut Crit) {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut g = c.benchmark_group("peers");
    let op = "session_creation";
    g.bench_function(BenchmarkId::new(op, "missive"), |b| {
        b.iter_batched(
            || {
                let alice = party("alice", &mut rng);
                let mut bob = party("bob", &mut rng);
                let bb = bundle(&mut bob, 1, &mut rng);
                (alice, bob, bb, ChaCha20Rng::seed_from_u64(3))
            },
            |(mut alice, mut bob, bb, mut rng)| {
                let b = bob.address().clone();
                alice.process_prekey_bundle(&b, &bb, NOW, &mut rng).unwrap();
                let m = alice.encrypt(&b, &PLAINTEXT, NOW, &mut rng).unwrap();
                let got = bob
                    .decrypt(alice.address(), m.message_type(), m.serialize(), &mut rng)
                    .unwrap();
                (alice, bob, got)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function(BenchmarkId::new(op, "vodozemac"), |b| {
        b.iter_batched(
            || {
                let alice = Account::new();
                let mut bob = Account::new();
                bob.generate_one_time_keys(1);
                let otk = *bob.one_time_keys().values().next().unwrap();
                bob.mark_keys_as_published();
                (alice, bob, otk)
            },
            |(alice, mut bob, otk)| {
                let mut a = alice
                    .create_outbound_session(OlmConfig::version_1(), bob.curve25519_key(), otk)
                    .unwrap();
                let (kind, bytes) = a.encrypt(PLAINTEXT).unwrap().to_parts();
                let OlmMessage::PreKey(m) = OlmMessage::from_parts(kind, &bytes).unwrap() else {
                    panic!("a prekey message first")
                };
                let got = bob
                    .create_inbound_session(OlmConfig::version_1(), alice.curve25519_key(), &m)
                    .unwrap();
                (alice, bob, a, got)
            },
            BatchSize::SmallInput,
        )
    });
    // Initiator: the bundle's two signatures (one identity key: its point rebuilt once),
    // base key, DH1..DH4, Kyber encapsulation, the handshake HKDF, a ratchet key and the
    // DH of its first sending chain. Responder: the base key's check, DH1..DH4, Kyber
    // decapsulation, the HKDF, the DH of its receiving chain, a ratchet key and the DH
    // of its sending chain. 11 X25519, 3 key pairs, and the first message both ways.
    let identity = SigningKey::new(PrivateKey::generate(&mut rng));
    let x = KeyPair::generate(&mut rng);
    let kem = KemKeyPair::generate(KemKeyType::Kyber1024, &mut rng);
    let signed = (
        x.public_key().serialize(),
        identity.sign(&x.public_key().serialize(), &mut rng),
    );
    let kyber = (
        kem.public_key().serialize(),
        identity.sign(&kem.public_key().serialize(), &mut rng),
    );
    let floor = MessageFloor::new(&mut rng);
    let ciphertext = hazmat::aes_cbc_encrypt(&[1; 32], &[2; 16], &PLAINTEXT);
    g.bench_function(BenchmarkId::new(op, "floor"), |b| {
        b.iter(|| {
            let v = VerifyingKey::new(identity.public_key());
            assert!(v.verify(&signed.0, &signed.1) && v.verify(&kyber.0, &kyber.1));
            assert!(x.public_key().is_canonical());
            for _ in 0..11 {
                black_box(hazmat::x25519(x.private_key(), identity.public_key()));
            }
            for _ in 0..3 {
                black_box(KeyPair::generate(&mut rng));
            }
            let (ct, ss) = kem.public_key().encapsulate(&mut rng);
            black_box(ss);
            black_box(kem.secret_key().decapsulate(&ct).unwrap());
            // The handshake HKDF of each side, and the three root-key steps.
            for _ in 0..5 {
                black_box(hazmat::root_kdf(&[5; 32], &[6; 32]));
            }
            floor.encrypt();
            floor.decrypt(&ciphertext);
        })
    });
    g.finish();
}

/// A sender and a receiver of group `GROUP`, the receiver holding the sender's chain.
fn group_pair(rng: &mut ChaCha20Rng) -> (Party, Party) {
    let (mut sender, mut receiver) = missive_pair(rng);
    let d = sender.sender_key_distribution_message(GROUP, rng).unwrap();
    let m = sender
        .encrypt(receiver.address(), d.serialized(), NOW, rng)
        .unwrap();
    let got = receiver
        .decrypt(sender.address(), m.message_type(), m.serialize(), rng)
        .unwrap();
    let d = SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap();
    receiver
        .process_sender_key_distribution_message(&got.sender, &d)
        .unwrap();
    (sender, receiver)
}

/// The primitive floor of one group message: the chain step (2 HMAC), the message keys
/// (HKDF), AES-256-CBC, and the signature (a signing key with its point, or a
/// verifying key with its point) over a real message's signed part.
struct GroupFloor {
    signing: SigningKey,
    verifying: VerifyingKey,
    body: Vec<u8>,
    signature: [u8; 64],
    ciphertext: Vec<u8>,
}

impl GroupFloor {
    fn new(rng: &mut ChaCha20Rng) -> Self {
        let signing = SigningKey::new(PrivateKey::generate(rng));
        let (mut sender, _) = group_pair(rng);
        let m = sender.group_encrypt(GROUP, &PLAINTEXT, rng).unwrap();
        let body = m.serialized()[..m.serialized().len() - 64].to_vec();
        let signature = signing.sign(&body, rng);
        GroupFloor {
            verifying: VerifyingKey::new(signing.public_key()),
            signing,
            body,
            signature,
            ciphertext: m.ciphertext().to_vec(),
        }
    }

    fn encrypt(&self, rng: &mut ChaCha20Rng) {
        let (iv, key, next) = hazmat::sender_key_step(&[8; 32]);
        black_box(next);
        black_box(hazmat::aes_cbc_encrypt(&key, &iv, &PLAINTEXT));
        black_box(self.signing.sign(&self.body, rng));
    }

    /// After `skipped` lost messages: their chain steps too.
    fn decrypt(&self, skipped: u32) {
        assert!(self.verifying.verify(&self.body, &self.signature));
        let mut ck = zeroize::Zeroizing::new([8; 32]);
        for _ in 0..skipped {
            let (seed, next) = hazmat::chain_kdf(&ck);
            black_box(seed);
            ck = next;
        }
        let (iv, key, next) = hazmat::sender_key_step(&ck);
        black_box(next);
        black_box(hazmat::aes_cbc_decrypt(&key, &iv, &self.ciphertext));
    }
}

fn group(c: &mut Crit) {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mut g = c.benchmark_group("peers");
    let floor = GroupFloor::new(&mut rng);

    // A sender of its own: the messages encrypted here are never delivered.
    let op = "group_encrypt";
    let (mut sender, _) = group_pair(&mut rng);
    let mut megolm = GroupSession::new(MegolmConfig::version_1());
    g.bench_function(BenchmarkId::new(op, "missive"), |b| {
        b.iter(|| {
            sender
                .group_encrypt(GROUP, black_box(&PLAINTEXT), &mut rng)
                .unwrap()
        })
    });
    g.bench_function(BenchmarkId::new(op, "vodozemac"), |b| {
        b.iter(|| megolm.encrypt(black_box(PLAINTEXT)))
    });
    g.bench_function(BenchmarkId::new(op, "floor"), |b| {
        b.iter(|| floor.encrypt(&mut rng))
    });

    let op = "group_decrypt";
    let (mut sender, mut receiver) = group_pair(&mut rng);
    let from = sender.address().clone();
    let mut megolm = GroupSession::new(MegolmConfig::version_1());
    let mut inbound = InboundGroupSession::new(&megolm.session_key(), MegolmConfig::version_1());
    g.bench_function(BenchmarkId::new(op, "missive"), |b| {
        b.iter_custom(|n| {
            timed_decrypts(
                n,
                || {
                    let m = sender.group_encrypt(GROUP, &PLAINTEXT, &mut rng).unwrap();
                    m.serialized().to_vec()
                },
                |bytes| {
                    let m = SenderKeyMessage::deserialize(bytes).unwrap();
                    receiver.group_decrypt(&from, &m).unwrap()
                },
            )
        })
    });
    g.bench_function(BenchmarkId::new(op, "vodozemac"), |b| {
        b.iter_custom(|n| {
            timed_decrypts(
                n,
                || megolm.encrypt(PLAINTEXT).to_bytes(),
                |bytes| {
                    let m = MegolmMessage::from_bytes(bytes).unwrap();
                    inbound.decrypt(&m).unwrap().plaintext
                },
            )
        })
    });
    g.bench_function(BenchmarkId::new(op, "floor"), |b| {
        b.iter(|| floor.decrypt(0))
    });

    // The message after `skipped` lost ones, to a receiver that read everything before
    // them: a fresh copy of the receiver per measurement (made outside the timing).
    for skipped in [100u32, 1_000] {
        let op = format!("group_decrypt_skip_{skipped}");
        let (mut sender, receiver) = group_pair(&mut rng);
        for _ in 0..skipped {
            sender.group_encrypt(GROUP, b"lost", &mut rng).unwrap();
        }
        let m = sender.group_encrypt(GROUP, &PLAINTEXT, &mut rng).unwrap();
        let bytes = m.serialized().to_vec();
        let from = sender.address().clone();
        g.bench_function(BenchmarkId::new(&op, "missive"), |b| {
            b.iter_batched(
                || Device::new(receiver.address().clone(), receiver.store().clone()),
                |mut receiver| {
                    let m = SenderKeyMessage::deserialize(&bytes).unwrap();
                    let pt = receiver.group_decrypt(&from, &m).unwrap();
                    (receiver, pt)
                },
                BatchSize::SmallInput,
            )
        });
        let mut megolm = GroupSession::new(MegolmConfig::version_1());
        let key = megolm.session_key();
        for _ in 0..skipped {
            megolm.encrypt(b"lost");
        }
        let bytes = megolm.encrypt(PLAINTEXT).to_bytes();
        g.bench_function(BenchmarkId::new(&op, "vodozemac"), |b| {
            b.iter_batched(
                || InboundGroupSession::new(&key, MegolmConfig::version_1()),
                |mut inbound| {
                    let m = MegolmMessage::from_bytes(&bytes).unwrap();
                    let pt = inbound.decrypt(&m).unwrap().plaintext;
                    (inbound, pt)
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(BenchmarkId::new(&op, "floor"), |b| {
            b.iter(|| floor.decrypt(skipped))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ThreadCpu);
    targets = same_chain, session_creation, group
}

/// Repetitions of each operation when counting instructions.
const COUNTED: usize = 20;

/// Defines `instructions_<name>`, which runs `$body` `COUNTED` times on its state: the
/// only code callgrind counts (`--toggle-collect='*instructions_*'`).
macro_rules! counted {
    ($name:ident, |$st:ident: $ty:ty| $body:expr) => {
        #[inline(never)]
        #[allow(non_snake_case)]
        fn $name($st: &mut $ty) {
            // A body of its own, so that the linker folds no two of them together.
            black_box(stringify!($name));
            for _ in 0..COUNTED {
                black_box($body);
            }
        }
    };
}

/// The state of one counted operation: missive's side, vodozemac's side, the floor.
struct Counted {
    rng: ChaCha20Rng,
    alice: Party,
    bob: Party,
    olm: (Session, Session),
    floor: MessageFloor,
    ciphertext: Vec<u8>,
    dh: (KeyPair, KeyPair),
}

counted!(instructions_ping_pong_round__missive, |c: Counted| {
    deliver(&mut c.bob, &mut c.alice, &PLAINTEXT, &mut c.rng);
    deliver(&mut c.alice, &mut c.bob, &PLAINTEXT, &mut c.rng)
});
counted!(instructions_ping_pong_round__vodozemac, |c: Counted| {
    let (a, b) = &mut c.olm;
    let m = b.encrypt(PLAINTEXT).unwrap();
    a.decrypt(&m).unwrap();
    let m = a.encrypt(PLAINTEXT).unwrap();
    b.decrypt(&m).unwrap()
});
counted!(instructions_ping_pong_round__floor, |c: Counted| {
    for _ in 0..2 {
        let dh = hazmat::x25519(c.dh.0.private_key(), c.dh.1.public_key());
        let (root, _) = hazmat::root_kdf(&[5; 32], &dh);
        black_box(KeyPair::generate(&mut c.rng));
        let dh = hazmat::x25519(c.dh.0.private_key(), c.dh.1.public_key());
        black_box(hazmat::root_kdf(&root, &dh));
        c.floor.encrypt();
        c.floor.decrypt(&c.ciphertext);
    }
});

/// One session creation, its three sides ready.
struct Creation {
    missive: Vec<(Party, Party, PreKeyBundle)>,
    olm: Vec<(Account, Account, vodozemac::Curve25519PublicKey)>,
    rng: ChaCha20Rng,
    identity: SigningKey,
    x: KeyPair,
    kem: KemKeyPair,
    signed: ([u8; 33], [u8; 64]),
    kyber: (Vec<u8>, [u8; 64]),
    floor: MessageFloor,
    ciphertext: Vec<u8>,
}

counted!(instructions_session_creation__missive, |c: Creation| {
    let (mut alice, mut bob, bb) = c.missive.pop().unwrap();
    let b = bob.address().clone();
    alice
        .process_prekey_bundle(&b, &bb, NOW, &mut c.rng)
        .unwrap();
    let m = alice.encrypt(&b, &PLAINTEXT, NOW, &mut c.rng).unwrap();
    bob.decrypt(alice.address(), m.message_type(), m.serialize(), &mut c.rng)
        .unwrap()
});
counted!(instructions_session_creation__vodozemac, |c: Creation| {
    let (alice, mut bob, otk) = c.olm.pop().unwrap();
    let mut a = alice
        .create_outbound_session(OlmConfig::version_1(), bob.curve25519_key(), otk)
        .unwrap();
    let OlmMessage::PreKey(m) = a.encrypt(PLAINTEXT).unwrap() else {
        panic!("a prekey message first")
    };
    bob.create_inbound_session(OlmConfig::version_1(), alice.curve25519_key(), &m)
        .unwrap()
});
counted!(instructions_session_creation__floor, |c: Creation| {
    let v = VerifyingKey::new(c.identity.public_key());
    assert!(v.verify(&c.signed.0, &c.signed.1) && v.verify(&c.kyber.0, &c.kyber.1));
    assert!(c.x.public_key().is_canonical());
    for _ in 0..11 {
        black_box(hazmat::x25519(c.x.private_key(), c.identity.public_key()));
    }
    for _ in 0..3 {
        black_box(KeyPair::generate(&mut c.rng));
    }
    let (ct, _) = c.kem.public_key().encapsulate(&mut c.rng);
    black_box(c.kem.secret_key().decapsulate(&ct).unwrap());
    for _ in 0..5 {
        black_box(hazmat::root_kdf(&[5; 32], &[6; 32]));
    }
    c.floor.encrypt();
    c.floor.decrypt(&c.ciphertext)
});

/// Group messages: a sender and receiver of each kind, and messages made beforehand.
struct Group {
    rng: ChaCha20Rng,
    sender: Party,
    receiver: Party,
    megolm: GroupSession,
    inbound: InboundGroupSession,
    floor: GroupFloor,
    ours: Vec<Vec<u8>>,
    theirs: Vec<Vec<u8>>,
    skip: u32,
}

counted!(instructions_group_encrypt__missive, |c: Group| {
    c.sender
        .group_encrypt(GROUP, &PLAINTEXT, &mut c.rng)
        .unwrap()
});
counted!(instructions_group_encrypt__vodozemac, |c: Group| {
    c.megolm.encrypt(PLAINTEXT)
});
counted!(instructions_group_encrypt__floor, |c: Group| {
    c.floor.encrypt(&mut c.rng)
});

/// Decrypts the next of the messages made beforehand (each to a receiver of its own
/// when `skip` > 0: the message after `skip` lost ones).
fn group_decrypt_missive(c: &mut Group) -> Vec<u8> {
    let bytes = c.ours.pop().unwrap();
    let from = c.sender.address().clone();
    let m = SenderKeyMessage::deserialize(&bytes).unwrap();
    c.receiver.group_decrypt(&from, &m).unwrap()
}
fn group_decrypt_vodozemac(c: &mut Group) -> Vec<u8> {
    let bytes = c.theirs.pop().unwrap();
    let m = MegolmMessage::from_bytes(&bytes).unwrap();
    c.inbound.decrypt(&m).unwrap().plaintext
}
counted!(instructions_group_decrypt__missive, |c: Group| {
    group_decrypt_missive(c)
});
counted!(instructions_group_decrypt__vodozemac, |c: Group| {
    group_decrypt_vodozemac(c)
});
counted!(instructions_group_decrypt__floor, |c: Group| c
    .floor
    .decrypt(0));
counted!(instructions_group_decrypt_skip_100__missive, |c: Group| {
    group_decrypt_missive(c)
});
counted!(
    instructions_group_decrypt_skip_100__vodozemac,
    |c: Group| group_decrypt_vodozemac(c)
);
counted!(instructions_group_decrypt_skip_100__floor, |c: Group| c
    .floor
    .decrypt(c.skip));
counted!(instructions_group_decrypt_skip_1000__missive, |c: Group| {
    group_decrypt_missive(c)
});
counted!(
    instructions_group_decrypt_skip_1000__vodozemac,
    |c: Group| group_decrypt_vodozemac(c)
);
counted!(instructions_group_decrypt_skip_1000__floor, |c: Group| c
    .floor
    .decrypt(c.skip));

/// A group state whose messages each follow `skip` lost ones (the receivers read up to
/// the lost ones, so each decryption stores `skip` seeds, as in the timed bench).
fn group_state(skip: u32, rng: &mut ChaCha20Rng) -> Group {
    let (mut sender, receiver) = group_pair(rng);
    let mut megolm = GroupSession::new(MegolmConfig::version_1());
    let inbound = InboundGroupSession::new(&megolm.session_key(), MegolmConfig::version_1());
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for _ in 0..COUNTED {
        for _ in 0..skip {
            sender.group_encrypt(GROUP, b"lost", rng).unwrap();
            megolm.encrypt(b"lost");
        }
        ours.push(
            sender
                .group_encrypt(GROUP, &PLAINTEXT, rng)
                .unwrap()
                .serialized()
                .to_vec(),
        );
        theirs.push(megolm.encrypt(PLAINTEXT).to_bytes());
    }
    ours.reverse();
    theirs.reverse();
    Group {
        rng: rng.clone(),
        sender,
        receiver,
        megolm,
        inbound,
        floor: GroupFloor::new(rng),
        ours,
        theirs,
        skip,
    }
}

/// The instruction count of the operations whose floor has a DH, a KEM or a signature,
/// for a noisy machine: run under `valgrind --tool=callgrind
/// --toggle-collect='*instructions_*'` (`scripts/peers-instructions`) with
/// `MISSIVE_COUNT_INSTRUCTIONS=1`. Exact and repeatable; valgrind runs the portable
/// SHA-256 (it has no SHA extensions), so the symmetric rows are left to the timed
/// bench, where their hashing costs what it costs on the hardware.
fn count_instructions() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let (alice, bob) = missive_pair(&mut rng);
    let mut c = Counted {
        alice,
        bob,
        olm: olm_pair(),
        floor: MessageFloor::new(&mut rng),
        ciphertext: hazmat::aes_cbc_encrypt(&[1; 32], &[2; 16], &PLAINTEXT),
        dh: (KeyPair::generate(&mut rng), KeyPair::generate(&mut rng)),
        rng,
    };
    instructions_ping_pong_round__missive(&mut c);
    instructions_ping_pong_round__vodozemac(&mut c);
    instructions_ping_pong_round__floor(&mut c);

    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let identity = SigningKey::new(PrivateKey::generate(&mut rng));
    let x = KeyPair::generate(&mut rng);
    let kem = KemKeyPair::generate(KemKeyType::Kyber1024, &mut rng);
    let signed = (
        x.public_key().serialize(),
        identity.sign(&x.public_key().serialize(), &mut rng),
    );
    let kyber_key = kem.public_key().serialize().to_vec();
    let kyber = (kyber_key.clone(), identity.sign(&kyber_key, &mut rng));
    let missive = (0..COUNTED)
        .map(|i| {
            let alice = party("alice", &mut rng);
            let mut bob = party("bob", &mut rng);
            let bb = bundle(&mut bob, 1 + i as u32, &mut rng);
            (alice, bob, bb)
        })
        .collect();
    let olm = (0..COUNTED)
        .map(|_| {
            let alice = Account::new();
            let mut bob = Account::new();
            bob.generate_one_time_keys(1);
            let otk = *bob.one_time_keys().values().next().unwrap();
            bob.mark_keys_as_published();
            (alice, bob, otk)
        })
        .collect();
    let mut c = Creation {
        missive,
        olm,
        floor: MessageFloor::new(&mut rng),
        ciphertext: hazmat::aes_cbc_encrypt(&[1; 32], &[2; 16], &PLAINTEXT),
        rng,
        identity,
        x,
        kem,
        signed,
        kyber,
    };
    instructions_session_creation__missive(&mut c);
    instructions_session_creation__vodozemac(&mut c);
    instructions_session_creation__floor(&mut c);

    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let mut g = group_state(0, &mut rng);
    instructions_group_encrypt__missive(&mut g);
    instructions_group_encrypt__vodozemac(&mut g);
    instructions_group_encrypt__floor(&mut g);
    let mut g = group_state(0, &mut rng);
    instructions_group_decrypt__missive(&mut g);
    instructions_group_decrypt__vodozemac(&mut g);
    instructions_group_decrypt__floor(&mut g);
    let mut g = group_state(100, &mut rng);
    instructions_group_decrypt_skip_100__missive(&mut g);
    instructions_group_decrypt_skip_100__vodozemac(&mut g);
    instructions_group_decrypt_skip_100__floor(&mut g);
    let mut g = group_state(1_000, &mut rng);
    instructions_group_decrypt_skip_1000__missive(&mut g);
    instructions_group_decrypt_skip_1000__vodozemac(&mut g);
    instructions_group_decrypt_skip_1000__floor(&mut g);
}

fn main() {
    if std::env::var_os("MISSIVE_COUNT_INSTRUCTIONS").is_some() {
        count_instructions();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

//! Records that have lived (issue 8): per-message cost against record size, and the work
//! one forged message can cause across every session of a record.
//!
//! * `lived/{encrypt,decrypt}/{fresh,40_archived,5x2000_skipped}`: one 100-byte message on
//!   the current chain, including the store's persistence work: the store here applies
//!   each change set and serializes what it says to write (the session's head and its
//!   stored-key rows for an ordinary message; the whole record when the change replaces
//!   the current session). Target: the larger records within 1.2x of the fresh one.
//! * `forged/{fresh,40_archived}`: a `SignalMessage` with valid framing, a new ratchet
//!   key, counter 24,999, an SPQR index 24,999 ahead, and a bad MAC. Target: the record
//!   with 40 archived sessions within 1.5x of the fresh one (the per-message budget).
//!
//! `cargo bench --bench lived`; numbers in docs/PERFORMANCE.md.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};
use missive::crypto::{KeyPair, PublicKey};
use missive::session::StoredKeyChange;
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::store::{ChangeSet, Direction, ProtocolStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);

/// The in-memory store, plus what a persistent store must do on every commit: serialize
/// what the change set says to write (here into a buffer that is then dropped).
struct Persisting {
    inner: InMemSignalProtocolStore,
    /// Bytes "written" by the last commit.
    written: usize,
}

impl ProtocolStore for Persisting {
    fn identity_key_pair(&self) -> Result<&IdentityKeyPair, StoreError> {
        self.inner.identity_key_pair()
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        self.inner.local_registration_id()
    }
    fn identity(&self, a: &ProtocolAddress) -> Result<Option<IdentityKey>, StoreError> {
        self.inner.identity(a)
    }
    fn is_trusted_identity(
        &self,
        a: &ProtocolAddress,
        k: &IdentityKey,
        d: Direction,
    ) -> Result<bool, StoreError> {
        self.inner.is_trusted_identity(a, k, d)
    }
    fn session(&self, a: &ProtocolAddress) -> Result<Option<Cow<'_, SessionRecord>>, StoreError> {
        self.inner.session(a)
    }
    fn pre_key(&self, id: PreKeyId) -> Result<Option<Cow<'_, PreKeyRecord>>, StoreError> {
        self.inner.pre_key(id)
    }
    fn signed_pre_key(
        &self,
        id: SignedPreKeyId,
    ) -> Result<Option<Cow<'_, SignedPreKeyRecord>>, StoreError> {
        self.inner.signed_pre_key(id)
    }
    fn kyber_pre_key(
        &self,
        id: KyberPreKeyId,
    ) -> Result<Option<Cow<'_, KyberPreKeyRecord>>, StoreError> {
        self.inner.kyber_pre_key(id)
    }
    fn kyber_pre_key_used(
        &self,
        id: KyberPreKeyId,
        s: SignedPreKeyId,
        b: &PublicKey,
    ) -> Result<bool, StoreError> {
        self.inner.kyber_pre_key_used(id, s, b)
    }
    fn sender_key(
        &self,
        a: &ProtocolAddress,
        d: DistributionId,
    ) -> Result<Option<Cow<'_, SenderKeyRecord>>, StoreError> {
        self.inner.sender_key(a, d)
    }
    fn commit(&mut self, changes: ChangeSet) -> Result<(), StoreError> {
        // What the change set says to write, gathered before it is applied: the stored
        // key rows of an ordinary message, and whether the current session is replaced.
        let mut rows = zeroize::Zeroizing::new(Vec::new());
        let mut session = None;
        if let Some((addr, change)) = changes.session() {
            session = Some((addr.clone(), change.replaces_current()));
            for op in change.stored_key_changes() {
                match op {
                    StoredKeyChange::Insert { n, key, .. } => {
                        rows.extend_from_slice(&n.to_be_bytes());
                        rows.extend_from_slice(key);
                    }
                    StoredKeyChange::Remove { n, .. } | StoredKeyChange::RemoveBelow { n, .. } => {
                        rows.extend_from_slice(&n.to_be_bytes())
                    }
                    StoredKeyChange::RemoveChain { .. } => rows.push(0),
                }
            }
        }
        self.inner.commit(changes)?;
        let mut written = rows.len();
        if let Some((addr, replaces)) = session {
            let record = self
                .inner
                .session_store
                .session(&addr)
                .ok_or(StoreError::write())?;
            written += if replaces {
                record.serialize().len()
            } else {
                record.serialize_current_head().map_or(0, |h| h.len())
            };
        }
        self.written = std::hint::black_box(written);
        Ok(())
    }
}

type Dev = Device<Persisting>;

fn device(name: &str, reg: u32, rng: &mut ChaCha20Rng) -> Dev {
    let inner = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), reg);
    Device::new(
        ProtocolAddress::new(name, 1),
        Persisting { inner, written: 0 },
    )
}

fn deliver(from: &mut Dev, to: &mut Dev, pt: &[u8], rng: &mut ChaCha20Rng) {
    let m = from.encrypt(to.address(), pt, NOW, rng).unwrap();
    to.decrypt(from.address(), m.message_type(), m.serialize(), rng)
        .unwrap();
}

/// A new session from `a` to `b`, with one message each way.
fn session(a: &mut Dev, b: &mut Dev, id: u32, rng: &mut ChaCha20Rng) {
    let spec = BundleSpec::new(id);
    let bundle = b.store_mut().inner.generate_bundle(&spec, 1, NOW, rng);
    a.process_prekey_bundle(b.address(), &bundle, NOW, rng)
        .unwrap();
    deliver(a, b, b"hello", rng);
    deliver(b, a, b"hi", rng);
}

enum Shape {
    Fresh,
    Archived40,
    Skipped5x2000,
}

impl Shape {
    fn name(&self) -> &'static str {
        match self {
            Shape::Fresh => "fresh",
            Shape::Archived40 => "40_archived",
            Shape::Skipped5x2000 => "5x2000_skipped",
        }
    }
}

/// Alice and Bob, where Bob's record for Alice has the given shape; Alice sends next.
fn pair(shape: &Shape, seed: u64) -> (Dev, Dev, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut alice = device("9d0652a3-dcc3-4d11-975f-74d61598733f", 1, &mut rng);
    let mut bob = device("5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f", 2, &mut rng);
    match shape {
        Shape::Fresh => session(&mut alice, &mut bob, 1, &mut rng),
        Shape::Archived40 => {
            for id in 1..=41 {
                session(&mut alice, &mut bob, id, &mut rng);
            }
        }
        Shape::Skipped5x2000 => {
            session(&mut alice, &mut bob, 1, &mut rng);
            for _ in 0..5 {
                // 2,000 lost, one delivered: Bob stores 2,000 seeds of this chain (and the
                // SPQR keys in its window); his reply makes Alice's next chain.
                for _ in 0..2_000 {
                    alice
                        .encrypt(bob.address(), b"lost", NOW, &mut rng)
                        .unwrap();
                }
                deliver(&mut alice, &mut bob, b"arrives", &mut rng);
                deliver(&mut bob, &mut alice, b"reply", &mut rng);
            }
        }
    }
    let record = bob
        .store()
        .inner
        .session_store
        .session(alice.address())
        .unwrap();
    match shape {
        Shape::Fresh => assert_eq!(record.archived_count(), 0),
        Shape::Archived40 => assert_eq!(record.archived_count(), 40),
        Shape::Skipped5x2000 => assert!(record.stored_key_count() >= 10_000),
    }
    eprintln!(
        "lived/{}: the record is {} bytes",
        shape.name(),
        record.serialize().len()
    );
    // Put Alice on a chain Bob already receives, so the measured messages are same-chain.
    deliver(&mut alice, &mut bob, b"warm-up", &mut rng);
    (alice, bob, rng)
}

fn lived(c: &mut Criterion) {
    let mut g = c.benchmark_group("lived");
    let payload = [0x42u8; 100];
    for shape in [Shape::Fresh, Shape::Archived40, Shape::Skipped5x2000] {
        let (mut alice, mut bob, mut rng) = pair(&shape, 7);
        // Encrypt: Bob sends on his current chain (his record is the lived one).
        g.bench_function(BenchmarkId::new("encrypt", shape.name()), |b| {
            b.iter(|| {
                bob.encrypt(
                    alice.address(),
                    std::hint::black_box(&payload),
                    NOW,
                    &mut rng,
                )
                .unwrap()
            })
        });
        // Decrypt: Alice's messages on the chain Bob already has.
        g.bench_function(BenchmarkId::new("decrypt", shape.name()), |b| {
            b.iter_custom(|iters| {
                let msgs: Vec<_> = (0..iters)
                    .map(|_| {
                        alice
                            .encrypt(bob.address(), &payload, NOW, &mut rng)
                            .unwrap()
                    })
                    .collect();
                let start = Instant::now();
                for m in &msgs {
                    let got = bob
                        .decrypt(alice.address(), m.message_type(), m.serialize(), &mut rng)
                        .unwrap();
                    std::hint::black_box(got);
                }
                start.elapsed()
            })
        });
    }
    g.finish();
}

/// A forged `SignalMessage` to `bob`: valid framing, a fresh ratchet key, `counter`,
/// SPQR index `spqr_index`, a random body and MAC.
fn forged(counter: u32, spqr_index: u32, rng: &mut ChaCha20Rng) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    let ratchet = KeyPair::generate(rng);
    let mut pq = vec![0x01, 0x01];
    varint(&mut pq, u64::from(spqr_index));
    pq.push(0x00);
    let mut body = vec![0u8; 112];
    rng.fill_bytes(&mut body);
    let mut m = vec![0x44];
    m.push(0x0a);
    m.push(33);
    m.extend_from_slice(&ratchet.public_key().serialize());
    m.push(0x10);
    varint(&mut m, u64::from(counter));
    m.push(0x18);
    varint(&mut m, 0);
    m.push(0x22);
    varint(&mut m, body.len() as u64);
    m.extend_from_slice(&body);
    m.push(0x2a);
    varint(&mut m, pq.len() as u64);
    m.extend_from_slice(&pq);
    let mut mac = [0u8; 8];
    rng.fill_bytes(&mut mac);
    m.extend_from_slice(&mac);
    m
}

fn forged_message(c: &mut Criterion) {
    let mut g = c.benchmark_group("forged");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(10));
    for shape in [Shape::Fresh, Shape::Archived40] {
        let (alice, mut bob, mut rng) = pair(&shape, 8);
        let bytes = forged(24_999, 24_999, &mut rng);
        let before = bob.store().inner.snapshot();
        g.bench_function(shape.name(), |b| {
            b.iter(|| {
                let r = bob.decrypt(
                    alice.address(),
                    CiphertextMessageType::Whisper,
                    std::hint::black_box(&bytes),
                    &mut rng,
                );
                assert!(r.is_err());
            })
        });
        assert!(
            bob.store().inner.snapshot() == before,
            "a forgery changed nothing"
        );
    }
    g.finish();
}

criterion_group!(benches, lived, forged_message);

/// Messages per shape and operation in the instruction count.
const COUNTED: usize = 200;

/// `COUNTED` same-chain encryptions, then decryptions, on Bob's record; one function per
/// shape (not inlined), so that callgrind counts inside each alone.
macro_rules! counted {
    ($encrypt:ident, $decrypt:ident) => {
        #[inline(never)]
        fn $encrypt(bob: &mut Dev, to: &ProtocolAddress, rng: &mut ChaCha20Rng) {
            for _ in 0..COUNTED {
                std::hint::black_box(bob.encrypt(to, &[0x42; 100], NOW, rng).unwrap());
            }
        }
        #[inline(never)]
        fn $decrypt(
            bob: &mut Dev,
            from: &ProtocolAddress,
            msgs: &[CiphertextMessage],
            rng: &mut ChaCha20Rng,
        ) {
            for m in msgs {
                let got = bob.decrypt(from, m.message_type(), m.serialize(), rng);
                std::hint::black_box(got.unwrap());
            }
        }
    };
}
counted!(instructions_encrypt_fresh, instructions_decrypt_fresh);
counted!(
    instructions_encrypt_40_archived,
    instructions_decrypt_40_archived
);
counted!(
    instructions_encrypt_5x2000_skipped,
    instructions_decrypt_5x2000_skipped
);

/// One forged message (see [`forged`]) tried against Bob's record, per shape.
macro_rules! counted_forgery {
    ($name:ident) => {
        #[inline(never)]
        fn $name(bob: &mut Dev, from: &ProtocolAddress, bytes: &[u8], rng: &mut ChaCha20Rng) {
            let r = bob.decrypt(from, CiphertextMessageType::Whisper, bytes, rng);
            assert!(std::hint::black_box(r).is_err());
        }
    };
}
counted_forgery!(instructions_forged_fresh);
counted_forgery!(instructions_forged_40_archived);

type CountedForgery = fn(&mut Dev, &ProtocolAddress, &[u8], &mut ChaCha20Rng);
type CountedEncrypt = fn(&mut Dev, &ProtocolAddress, &mut ChaCha20Rng);
type CountedDecrypt =
    for<'m> fn(&mut Dev, &ProtocolAddress, &'m [CiphertextMessage], &mut ChaCha20Rng);

/// The instruction count of the same work as `lived`, for a noisy machine: run under
/// `valgrind --tool=callgrind --toggle-collect='*instructions_*'`
/// (`scripts/lived-instructions`) with `MISSIVE_COUNT_INSTRUCTIONS=1`; the counts are
/// exact and repeatable.
fn count_instructions() {
    fn shape(shape: &Shape, encrypt: CountedEncrypt, decrypt: CountedDecrypt) {
        let (mut alice, mut bob, mut rng) = pair(shape, 9);
        let a = alice.address().clone();
        encrypt(&mut bob, &a, &mut rng);
        let msgs: Vec<_> = (0..COUNTED)
            .map(|_| {
                alice
                    .encrypt(bob.address(), &[0x42; 100], NOW, &mut rng)
                    .unwrap()
            })
            .collect();
        decrypt(&mut bob, &a, &msgs, &mut rng);
    }
    for (s, f) in [
        (Shape::Fresh, instructions_forged_fresh as CountedForgery),
        (Shape::Archived40, instructions_forged_40_archived),
    ] {
        let (alice, mut bob, mut rng) = pair(&s, 8);
        let bytes = forged(24_999, 24_999, &mut rng);
        f(&mut bob, alice.address(), &bytes, &mut rng);
    }
    shape(
        &Shape::Fresh,
        instructions_encrypt_fresh,
        instructions_decrypt_fresh,
    );
    shape(
        &Shape::Archived40,
        instructions_encrypt_40_archived,
        instructions_decrypt_40_archived,
    );
    shape(
        &Shape::Skipped5x2000,
        instructions_encrypt_5x2000_skipped,
        instructions_decrypt_5x2000_skipped,
    );
}

fn main() {
    if std::env::var_os("MISSIVE_COUNT_INSTRUCTIONS").is_some() {
        count_instructions();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

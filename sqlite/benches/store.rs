//! One message through the SQLite store (WAL, synchronous=FULL, in a temporary
//! directory) beside the in-memory store, and the disk's own cost.
//!
//! * `store/{encrypt,decrypt}/{in_memory,sqlite}`: a 100-byte message on the current
//!   chain, on a fresh record.
//! * `store/{encrypt,decrypt}/sqlite_{40_archived,5x2000_skipped}`: the same on records
//!   that have lived: the per-message cost does not grow with the record (the head and
//!   the used stored-key rows are written, never the archive or the other keys).
//! * `disk/fsync_4k`: writing 4 KiB to a file in the same directory and `fdatasync`: the
//!   floor every durable commit pays; `disk/sqlite_commit`: a one-row transaction,
//!   SQLite's floor on the same settings.
//! * `store/{encrypt,decrypt}/sqlite_tmpfs*` (where `/dev/shm` exists): the same three
//!   records on a memory-backed file system, where fsync costs nothing: the store's own
//!   work (SQL, sealing, the cache) without the disk.
//!
//! `cargo bench -p missive-sqlite --bench store`; numbers in docs/PERFORMANCE.md.

use std::io::Write;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use missive::store::ProtocolStore;
use missive::store::at_rest::StorageKey;
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use missive_sqlite::SqliteStore;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);

trait Publish: ProtocolStore {
    fn bundle(&mut self, id: u32, rng: &mut ChaCha20Rng) -> PreKeyBundle;
}
impl Publish for InMemSignalProtocolStore {
    fn bundle(&mut self, id: u32, rng: &mut ChaCha20Rng) -> PreKeyBundle {
        self.generate_bundle(&BundleSpec::new(id), 1, NOW, rng)
    }
}
impl Publish for SqliteStore {
    fn bundle(&mut self, id: u32, rng: &mut ChaCha20Rng) -> PreKeyBundle {
        self.generate_bundle(&BundleSpec::new(id), 1, NOW, rng)
            .unwrap()
    }
}

fn deliver<A: ProtocolStore, B: ProtocolStore>(
    from: &mut Device<A>,
    to: &mut Device<B>,
    rng: &mut ChaCha20Rng,
) {
    let m = from.encrypt(to.address(), b"hello", NOW, rng).unwrap();
    to.decrypt(from.address(), m.message_type(), m.serialize(), rng)
        .unwrap();
}

#[derive(Clone, Copy)]
enum Shape {
    Fresh,
    Archived40,
    Skipped5x2000,
}

/// Alice (in memory) and Bob on `store`, Bob's record for Alice shaped; Alice sends on a
/// chain Bob already receives.
fn pair<S: Publish>(
    store: S,
    shape: Shape,
    rng: &mut ChaCha20Rng,
) -> (Device<InMemSignalProtocolStore>, Device<S>) {
    let mut alice = Device::new(
        ProtocolAddress::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1),
        InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), 1),
    );
    let mut bob = Device::new(
        ProtocolAddress::new("5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f", 1),
        store,
    );
    let sessions = if matches!(shape, Shape::Archived40) {
        41
    } else {
        1
    };
    for id in 1..=sessions {
        let b = bob.store_mut().bundle(id, rng);
        alice
            .process_prekey_bundle(bob.address(), &b, NOW, rng)
            .unwrap();
        deliver(&mut alice, &mut bob, rng);
        deliver(&mut bob, &mut alice, rng);
    }
    if matches!(shape, Shape::Skipped5x2000) {
        for _ in 0..5 {
            for _ in 0..2_000 {
                alice.encrypt(bob.address(), b"lost", NOW, rng).unwrap();
            }
            deliver(&mut alice, &mut bob, rng);
            deliver(&mut bob, &mut alice, rng);
        }
    }
    let r = bob
        .store()
        .session(alice.address())
        .unwrap()
        .unwrap()
        .into_owned();
    match shape {
        Shape::Fresh => assert_eq!(r.archived_count(), 0),
        Shape::Archived40 => assert_eq!(r.archived_count(), 40),
        Shape::Skipped5x2000 => assert!(r.stored_key_count() >= 10_000),
    }
    deliver(&mut alice, &mut bob, rng);
    (alice, bob)
}

fn one_message<S: ProtocolStore>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    alice: &mut Device<InMemSignalProtocolStore>,
    bob: &mut Device<S>,
    rng: &mut ChaCha20Rng,
) {
    let payload = [0x42u8; 100];
    g.bench_function(BenchmarkId::new("encrypt", name), |b| {
        b.iter(|| {
            bob.encrypt(alice.address(), std::hint::black_box(&payload), NOW, rng)
                .unwrap()
        })
    });
    g.bench_function(BenchmarkId::new("decrypt", name), |b| {
        b.iter_custom(|iters| {
            let msgs: Vec<_> = (0..iters)
                .map(|_| alice.encrypt(bob.address(), &payload, NOW, rng).unwrap())
                .collect();
            let start = Instant::now();
            for m in &msgs {
                let got = bob
                    .decrypt(alice.address(), m.message_type(), m.serialize(), rng)
                    .unwrap();
                std::hint::black_box(got);
            }
            start.elapsed()
        })
    });
}

fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let mut g = c.benchmark_group("store");
    {
        let s = InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 2);
        let (mut a, mut b) = pair(s, Shape::Fresh, &mut rng);
        one_message(&mut g, "in_memory", &mut a, &mut b, &mut rng);
    }
    // The same in memory-backed files (tmpfs: fsync costs nothing), where there is one:
    // the store's own work, without the disk.
    let shm = std::path::Path::new("/dev/shm");
    let mem_dir = shm.is_dir().then(|| tempfile::tempdir_in(shm).unwrap());
    let mut runs = vec![
        (Shape::Fresh, "sqlite", dir.path()),
        (Shape::Archived40, "sqlite_40_archived", dir.path()),
        (Shape::Skipped5x2000, "sqlite_5x2000_skipped", dir.path()),
    ];
    if let Some(m) = &mem_dir {
        runs.push((Shape::Fresh, "sqlite_tmpfs", m.path()));
        runs.push((Shape::Archived40, "sqlite_tmpfs_40_archived", m.path()));
        runs.push((
            Shape::Skipped5x2000,
            "sqlite_tmpfs_5x2000_skipped",
            m.path(),
        ));
    }
    for (shape, name, at) in runs {
        let s = SqliteStore::create(
            at.join(format!("{name}.db")),
            StorageKey::new(1, &[7; 32]),
            IdentityKeyPair::generate(&mut rng),
            2,
        )
        .unwrap();
        let (mut a, mut b) = pair(s, shape, &mut rng);
        one_message(&mut g, name, &mut a, &mut b, &mut rng);
    }
    g.finish();

    let mut g = c.benchmark_group("disk");
    let mut f = std::fs::File::create(dir.path().join("fsync.bin")).unwrap();
    let block = [0x5au8; 4096];
    g.bench_function("fsync_4k", |b| {
        b.iter(|| {
            f.write_all(&block).unwrap();
            f.sync_data().unwrap();
        })
    });
    let conn = rusqlite::Connection::open(dir.path().join("floor.db")).unwrap();
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .unwrap();
    let _: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)", [])
        .unwrap();
    let mut i = 0i64;
    g.bench_function("sqlite_commit", |b| {
        b.iter(|| {
            i += 1;
            conn.execute(
                "INSERT OR REPLACE INTO t VALUES (?1 % 64, ?2)",
                rusqlite::params![i, &block[..1024]],
            )
            .unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);

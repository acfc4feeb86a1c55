//! Fault injection where SQLite meets the disk: for every kind of operation, every write
//! and every fsync it makes fails in turn (through a VFS that wraps the platform's).
//! After each failure:
//!
//! * the operation fails with a store error and every record is as before it;
//! * the same call, retried in the same process, succeeds and leaves exactly the
//!   records a run without faults leaves;
//! * a process that dies right after the failure (the database reopened from its files
//!   instead of retried) finds every record opening, and the state before the operation
//!   or after it, never between; the operation then completes or is a duplicate.

mod common;
mod faultvfs;

use std::path::Path;

use common::*;
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use missive_sqlite::{Options, SqliteStore};
use rand_chacha::ChaCha20Rng;

type Snap = Vec<(&'static str, Vec<u8>)>;
type Bob = Device<SqliteStore>;

fn copy_db(from: &Path, to: &Path) {
    for suffix in ["", "-wal"] {
        let _ = std::fs::remove_file(to.join(format!("bob.db{suffix}")));
        let src = from.join(format!("bob.db{suffix}"));
        if src.exists() {
            std::fs::copy(&src, to.join(format!("bob.db{suffix}"))).unwrap();
        }
    }
}

fn open_faulty(dir: &Path) -> Bob {
    let s = Options::new()
        .vfs(faultvfs::NAME)
        .open(dir.join("bob.db"), storage_key())
        .unwrap();
    Device::new(bob_at(), s)
}

fn open_plain(dir: &Path) -> Bob {
    Device::new(
        bob_at(),
        SqliteStore::open(dir.join("bob.db"), storage_key()).unwrap(),
    )
}

struct Ctx {
    real_dir: tempfile::TempDir,
    scratch: tempfile::TempDir,
    bob: Option<Bob>,
    totals: (u64, u64, usize, usize),
}

impl Ctx {
    /// Runs `op` against copies of Bob's database with each write or sync failing in
    /// turn, checks the outcome, then runs it for real and returns its result.
    fn op<T>(&mut self, what: &str, op: &mut dyn FnMut(&mut Bob) -> Result<T, Error>) -> T {
        let bob = self.bob.as_mut().unwrap();
        let before: Snap = bob.store().snapshot().unwrap();
        let real = self.real_dir.path();
        let scratch = self.scratch.path();
        // Count the calls, and learn the state after (twice: is the op deterministic?).
        let mut afters = Vec::new();
        let mut calls = 0;
        for _ in 0..2 {
            copy_db(real, scratch);
            let mut b = open_faulty(scratch);
            faultvfs::arm(0);
            op(&mut b).unwrap_or_else(|e| panic!("{what}: fails without a fault: {e}"));
            calls = faultvfs::disarm().0;
            afters.push(b.store().snapshot().unwrap());
        }
        assert!(calls > 0, "{what}: no write at all");
        let after = (afters[0] == afters[1]).then(|| afters[0].clone());
        let mut ignored = 0;
        for k in 1..=calls {
            // In-process: the failure changes nothing, and the retry succeeds.
            copy_db(real, scratch);
            let mut b = open_faulty(scratch);
            faultvfs::arm(k);
            let r = op(&mut b);
            let (_, fired) = faultvfs::disarm();
            match r {
                Err(e) => {
                    assert!(fired, "{what}, fault {k}: failed without the fault: {e}");
                    assert!(
                        matches!(e, Error::Store(_)),
                        "{what}, fault {k}: not a store error: {e}"
                    );
                    assert!(
                        b.store().snapshot().unwrap() == before,
                        "{what}, fault {k}: a failed operation changed records"
                    );
                    op(&mut b).unwrap_or_else(|e| panic!("{what}, fault {k}: retry failed: {e}"));
                }
                // A failure SQLite recovers from itself (a checkpoint after the commit).
                Ok(_) => ignored += 1,
            }
            if let Some(a) = &after {
                assert!(
                    b.store().snapshot().unwrap() == *a,
                    "{what}, fault {k}: the records differ from a run without faults"
                );
            }
            drop(b);
            // The process dies right after the failure: reopen from the files.
            copy_db(real, scratch);
            let mut b = open_faulty(scratch);
            faultvfs::arm(k);
            let r = op(&mut b);
            faultvfs::disarm();
            drop(b);
            let mut b = open_plain(scratch);
            b.store()
                .verify()
                .unwrap_or_else(|e| panic!("{what}, fault {k}: a record fails to open: {e}"));
            let now = b.store().snapshot().unwrap();
            let at_before = now == before;
            let at_after = after.as_ref().is_some_and(|a| now == *a);
            if r.is_ok() {
                assert!(
                    !at_before || after.as_ref() == Some(&before),
                    "{what}, fault {k}"
                );
            } else if after.is_some() {
                assert!(
                    at_before || at_after,
                    "{what}, fault {k}: after a reopen the records are neither before nor after"
                );
            } else {
                assert!(at_before || now != before, "{what}, fault {k}");
            }
            if at_before {
                op(&mut b).unwrap_or_else(|e| {
                    panic!("{what}, fault {k}: after a reopen, the operation failed: {e}")
                });
                self.totals.2 += 1;
            } else {
                self.totals.3 += 1;
            }
        }
        self.totals.0 += calls;
        self.totals.1 += ignored;
        op(bob).unwrap_or_else(|e| panic!("{what}: the real run failed: {e}"))
    }
}

fn store_err(e: missive_sqlite::Error) -> Error {
    Error::Store(e.to_store_error(true))
}

#[test]
fn every_write_and_every_fsync_fails_in_turn() {
    let _guard = faultvfs::install();
    let mut rng: ChaCha20Rng = rng(21);
    let real_dir = tempfile::tempdir().unwrap();
    let mut alice: Device<InMemSignalProtocolStore> = mem_device(alice_at(), 1, &mut rng);
    let bob = sqlite_device(&real_dir.path().join("bob.db"), bob_at(), 2, &mut rng);
    let mut c = Ctx {
        real_dir,
        scratch: tempfile::tempdir().unwrap(),
        bob: Some(bob),
        totals: (0, 0, 0, 0),
    };
    let (a, b) = (alice_at(), bob_at());
    let r = &mut rng;

    // Bob publishes keys (an app operation: one transaction too).
    let mut seed = common::rng(99);
    let bundle = c.op("generate a bundle", &mut |bob| {
        let mut rng = seed.clone();
        bob.store_mut()
            .generate_bundle(
                &BundleSpec::new(1).with_one_time_pre_key(),
                1,
                NOW,
                &mut rng,
            )
            .map_err(store_err)
    });
    seed = common::rng(100);
    alice.process_prekey_bundle(&b, &bundle, NOW, r).unwrap();
    let m: Vec<_> = (0..3).map(|i| send(&mut alice, &b, &text(i), r)).collect();
    let recv_op = |c: &mut Ctx, what: &str, m: &CiphertextMessage, r: &mut ChaCha20Rng| {
        c.op(what, &mut |bob| {
            bob.decrypt(&a, m.message_type(), m.serialize(), &mut r.clone())
        })
    };
    recv_op(
        &mut c,
        "a prekey message (new session, prekeys consumed)",
        &m[0],
        r,
    );
    recv_op(&mut c, "a message ahead (keys skipped)", &m[2], r);
    let reply = c.op("encrypt", &mut |bob| {
        bob.encrypt(&a, b"reply", NOW, &mut r.clone())
    });
    recv(&mut alice, &b, &reply, r);
    let after_step = send(&mut alice, &b, &text(10), r);
    recv_op(&mut c, "a message after a DH step", &after_step, r);
    recv_op(&mut c, "a late message (stored key used)", &m[1], r);
    // Groups.
    let dist = alice
        .sender_key_distribution_message(group_id(), r)
        .unwrap();
    let over = send(&mut alice, &b, dist.serialized(), r);
    let got = recv_op(&mut c, "a distribution over 1:1", &over, r);
    let parsed = SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap();
    c.op("process a distribution", &mut |bob| {
        bob.process_sender_key_distribution_message(&got.sender, &parsed)
    });
    let g: Vec<_> = (0..3)
        .map(|i| alice.group_encrypt(group_id(), &text(20 + i), r).unwrap())
        .collect();
    c.op("a group message ahead", &mut |bob| {
        bob.group_decrypt(&a, &g[2])
    });
    c.op("a late group message", &mut |bob| {
        bob.group_decrypt(&a, &g[0])
    });
    c.op("a new group chain", &mut |bob| {
        bob.sender_key_distribution_message(group_id(), &mut seed.clone())
    });
    c.op("group encrypt", &mut |bob| {
        bob.group_encrypt(group_id(), b"to the group", &mut seed.clone())
    });
    // A new session on a last-resort Kyber prekey: the old one archived, a triple kept.
    let bundle = c.op("generate a last-resort bundle", &mut |bob| {
        bob.store_mut()
            .generate_bundle(
                &BundleSpec::new(2).with_last_resort_kyber_pre_key(),
                1,
                NOW,
                &mut seed.clone(),
            )
            .map_err(store_err)
    });
    alice.process_prekey_bundle(&b, &bundle, NOW, r).unwrap();
    let p = send(&mut alice, &b, &text(30), r);
    recv_op(
        &mut c,
        "a prekey message on a last-resort key (archive rewritten)",
        &p,
        r,
    );
    c.op("archive the session", &mut |bob| bob.archive_session(&a));

    let (calls, ignored, retried, already) = c.totals;
    println!(
        "faults: {calls} writes and fsyncs failed in turn; {ignored} absorbed by SQLite; after a \
         reopen {retried} operations completed on retry, {already} had committed"
    );
    assert!(calls > 40 && ignored < calls);
}

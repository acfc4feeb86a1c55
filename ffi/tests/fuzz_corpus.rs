//! Replays the committed corpus of the `c_api` fuzz target (`fuzz/corpus/c_api/`)
//! through the target's check, and checks that its seed files are what
//! `fuzz/src/c_api.rs` makes today (`MISSIVE_WRITE_FUZZ_SEEDS=1 cargo test -p
//! missive-ffi --test fuzz_corpus` rewrites them). missive's own `tests/fuzz_corpus.rs`
//! does the same for the other targets; it cannot link missive-ffi.

#[path = "../../fuzz/src/c_api.rs"]
mod c_api;

use std::fs;
use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/c_api")
}

#[test]
fn seeds_are_current() {
    let write = std::env::var_os("MISSIVE_WRITE_FUZZ_SEEDS").is_some();
    let seeds = c_api::seeds();
    for (name, bytes) in &seeds {
        let path = corpus().join(format!("seed-{name}"));
        if write {
            fs::create_dir_all(corpus()).unwrap();
            fs::write(&path, bytes).unwrap();
        } else {
            let committed = fs::read(&path).unwrap_or_default();
            assert!(
                &committed == bytes,
                "{} is stale: rerun with MISSIVE_WRITE_FUZZ_SEEDS=1",
                path.display()
            );
        }
    }
    for f in fs::read_dir(corpus()).unwrap() {
        let name = f.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(seed) = name.strip_prefix("seed-") {
            assert!(
                seeds.iter().any(|(n, _)| *n == seed),
                "{name} is not made by c_api::seeds"
            );
        }
    }
}

#[test]
fn corpus_replays() {
    let mut n = 0;
    for f in fs::read_dir(corpus()).unwrap() {
        let path = f.unwrap().path();
        let data = fs::read(&path).unwrap();
        let r = std::panic::catch_unwind(|| c_api::check(&data));
        assert!(r.is_ok(), "{} fails the c_api check", path.display());
        n += 1;
    }
    assert!(n >= c_api::seeds().len());
}

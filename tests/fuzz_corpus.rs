//! Replays every committed fuzz corpus (`fuzz/corpus/<target>/*`) through the same check
//! functions the fuzz targets run, so the corpora are ordinary regression tests; and
//! checks that the seed files are what `fuzz/src/seeds.rs` makes today.
//!
//! `MISSIVE_WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_corpus` rewrites the seed files
//! after a deliberate format change.

#[path = "../fuzz/src/lib.rs"]
mod fuzz_checks;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn every_target_is_listed_and_has_a_corpus() {
    // `c_api` drives missive-ffi's C entry points, which this crate cannot link:
    // missive-ffi's own tests/fuzz_corpus.rs replays its corpus and checks its seeds.
    let on_disk: BTreeSet<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|name| name != "c_api")
        .collect();
    let listed: BTreeSet<String> = fuzz_checks::TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .collect();
    assert_eq!(on_disk, listed, "fuzz_targets/ and TARGETS disagree");
    for name in &listed {
        let corpus = fuzz_dir().join("corpus").join(name);
        assert!(!files(&corpus).is_empty(), "no corpus for {name}");
    }
}

#[test]
fn seeds_are_current() {
    let write = std::env::var_os("MISSIVE_WRITE_FUZZ_SEEDS").is_some();
    let seeds = fuzz_checks::seeds::all();
    let mut names = BTreeSet::new();
    for (target, name, bytes) in &seeds {
        let dir = fuzz_dir().join("corpus").join(target);
        let path = dir.join(format!("seed-{name}"));
        assert!(
            names.insert(path.clone()),
            "duplicate seed {}",
            path.display()
        );
        if write {
            fs::create_dir_all(&dir).unwrap();
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
    // No stale seed files left behind by a renamed seed.
    for (target, _) in fuzz_checks::TARGETS {
        for f in files(&fuzz_dir().join("corpus").join(target)) {
            let is_seed = f
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-");
            assert!(
                !is_seed || names.contains(&f),
                "{} is not made by seeds.rs",
                f.display()
            );
        }
    }
}

#[test]
fn corpora_replay() {
    let mut total = 0;
    for (name, check) in fuzz_checks::TARGETS {
        for f in files(&fuzz_dir().join("corpus").join(name)) {
            let data = fs::read(&f).unwrap();
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "{name}: {} fails its check", f.display());
            total += 1;
        }
    }
    assert!(total >= fuzz_checks::TARGETS.len());
}

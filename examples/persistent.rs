//! A persistent two-party conversation: Alice and Bob keep their state in SQLite
//! (missive-sqlite), every record encrypted at rest. Run it twice: the second run opens
//! the databases and continues the first run's sessions (no new handshake).
//!
//! ```sh
//! cargo run --release --example persistent      # first run: a new session
//! cargo run --release --example persistent      # later runs: the same sessions go on
//! MISSIVE_DEMO_DIR=/some/dir cargo run --release --example persistent
//! ```
//!
//! The state lives in `$MISSIVE_DEMO_DIR` (default: `missive-persistent-demo` in the
//! system's temporary directory); delete the directory to start over.

use std::path::{Path, PathBuf};

use missive::store::at_rest::StorageKey;
use missive::store::memory::BundleSpec;
use missive::*;
use missive_sqlite::SqliteStore;
use rand_core::{Rng, UnwrapErr};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir: PathBuf = std::env::var_os("MISSIVE_DEMO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("missive-persistent-demo"));
    std::fs::create_dir_all(&dir)?;
    let mut rng = UnwrapErr(getrandom::SysRng); // the OS RNG
    let now = Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as u64,
    );
    let alice_at = ProtocolAddress::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1);
    let bob_at = ProtocolAddress::new("796abedb-ca4e-4f18-8803-1fde5b921f9f", 1);

    // An app takes the storage key from the OS keystore (Keychain, Android Keystore,
    // DPAPI, libsecret). The demo keeps it in a file beside the databases instead, which
    // defeats the purpose of encrypting them: do not do this in an app.
    let key_bytes = storage_key(&dir.join("demo-storage-key"), &mut rng)?;
    let key = || StorageKey::new(1, &key_bytes);

    let first_run = !dir.join("alice.db").exists();
    let (alice, bob) = if first_run {
        println!("first run: creating {}", dir.display());
        (
            SqliteStore::create(
                dir.join("alice.db"),
                key(),
                IdentityKeyPair::generate(&mut rng),
                1111,
            )?,
            SqliteStore::create(
                dir.join("bob.db"),
                key(),
                IdentityKeyPair::generate(&mut rng),
                2222,
            )?,
        )
    } else {
        println!("opening the databases in {}", dir.display());
        (
            SqliteStore::open(dir.join("alice.db"), key())?,
            SqliteStore::open(dir.join("bob.db"), key())?,
        )
    };
    let mut alice = Device::new(alice_at.clone(), alice);
    let mut bob = Device::new(bob_at.clone(), bob);

    if first_run {
        // Bob publishes a bundle (its keys are on disk before it is published); Alice
        // runs PQXDH.
        let bundle = bob.store_mut().generate_bundle(
            &BundleSpec::new(1).with_one_time_pre_key(),
            1,
            now,
            &mut rng,
        )?;
        alice.process_prekey_bundle(&bob_at, &bundle, now, &mut rng)?;
        println!("alice: new session with bob (PQXDH)");
    } else {
        let record = alice
            .store()
            .load_session_record(&bob_at)?
            .ok_or("no session in alice.db")?;
        println!(
            "alice: session with bob read back from disk (version {}, {} archived)",
            record.session_version().unwrap_or(0),
            record.archived_count()
        );
    }

    // One exchange per run.
    let m = alice.encrypt(&bob_at, b"hello again, bob", now, &mut rng)?;
    let kind = match m.message_type() {
        CiphertextMessageType::PreKey => "a prekey message (a new session)",
        _ => "an ordinary message (the session goes on)",
    };
    let got = bob.decrypt(&alice_at, m.message_type(), m.serialize(), &mut rng)?;
    println!(
        "bob received {kind}: {:?} (identity {:?})",
        String::from_utf8_lossy(&got.plaintext),
        got.identity_change
    );
    let r = bob.encrypt(&alice_at, b"hi alice, still here", now, &mut rng)?;
    let got = alice.decrypt(&bob_at, r.message_type(), r.serialize(), &mut rng)?;
    println!(
        "alice received: {:?}",
        String::from_utf8_lossy(&got.plaintext)
    );

    bob.store().verify()?;
    alice.store().verify()?;
    println!(
        "both databases verified; run again to continue these sessions, or delete {} to start over",
        dir.display()
    );
    Ok(())
}

/// The demo's storage key: 32 random bytes, made on the first run.
fn storage_key(path: &Path, rng: &mut impl Rng) -> Result<[u8; 32], Box<dyn std::error::Error>> {
    let bytes: [u8; 32] = match std::fs::read(path) {
        Ok(b) => b.as_slice().try_into().map_err(|_| "bad demo key file")?,
        Err(_) => {
            let mut k = [0u8; 32];
            rng.fill_bytes(&mut k);
            std::fs::write(path, k)?;
            k
        }
    };
    Ok(bytes)
}

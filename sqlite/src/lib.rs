//! # missive-sqlite
//!
//! The durable store for [`missive`]: a [`ProtocolStore`] on SQLite with every
//! record encrypted at rest, that loses nothing when the process dies.
//!
//! * **One transaction per protocol operation.** [`ProtocolStore::commit`] writes the
//!   operation's whole [`ChangeSet`] (session, identity, consumed prekey, Kyber prekey
//!   use, sender key) in one SQLite transaction, or nothing.
//! * **Durable when it returns.** WAL journal, `synchronous=FULL`: a commit that returned
//!   has been fsynced; a process killed at any instant leaves the database at the last
//!   commit that returned, or the one in flight, never between two.
//! * **Encrypted at rest.** Every record is an AES-256-GCM envelope
//!   ([`missive::store::at_rest`]) under the app's 32-byte storage key, bound to its kind
//!   and address; keys rotate ([`Options::previous_key`], [`SqliteStore::rotate_key`]),
//!   and a rotation interrupted at any point completes on the next open.
//! * **Per-message cost independent of the record.** The current session's head, its
//!   stored keys (one row each) and its archived sessions are kept apart: an ordinary
//!   message rewrites the head and the few stored keys it used or skipped, never the
//!   archive. Decoded records are cached (the store owns its database exclusively).
//! * **Bounded.** Archived sessions: at most the [`Config`](missive::Config)'s number per
//!   peer device, applied by every commit that archives (and
//!   [`SqliteStore::prune_archived_sessions`] to lower it for every record). Kyber replay
//!   triples: deleted with the last-resort Kyber prekey or the signed prekey they name
//!   (a replayed message naming a deleted prekey fails anyway).
//!
//! ```
//! use missive::store::at_rest::StorageKey;
//! use missive::store::memory::BundleSpec;
//! use missive::{Device, IdentityKeyPair, ProtocolAddress, Timestamp};
//! use missive_sqlite::SqliteStore;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("bob.db");
//! let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
//! let key = [0x42; 32]; // from the OS keystore
//! let bob_at = ProtocolAddress::new("796abedb-ca4e-4f18-8803-1fde5b921f9f", 1);
//!
//! let store = SqliteStore::create(&path, StorageKey::new(1, &key), IdentityKeyPair::generate(&mut rng), 22)?;
//! let mut bob = Device::new(bob_at.clone(), store);
//! let now = Timestamp::from_millis(1_780_000_000_000);
//! let bundle = bob.store_mut().generate_bundle(&BundleSpec::new(1), 1, now, &mut rng)?;
//! drop(bob);
//!
//! // Later, in another process: the keys are still there.
//! let store = SqliteStore::open(&path, StorageKey::new(1, &key))?;
//! assert!(store.signed_pre_key_ids()?.contains(&bundle.signed_pre_key_id()));
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod cache;
mod error;
mod schema;

use std::borrow::Cow;
use std::path::Path;

use missive::store::at_rest::{
    self, OpenError, RecordKind, RecordName, StorageKey, chain_bytes, chain_from_bytes,
};
use missive::store::memory::{BundleSpec, ReceivePolicy};
use missive::store::{ChangeSet, Direction, IdentityChange, ProtocolStore};
use missive::{
    DistributionId, IdentityKey, IdentityKeyPair, KyberPreKeyId, KyberPreKeyRecord, PreKeyBundle,
    PreKeyId, PreKeyRecord, ProtocolAddress, SenderKeyRecord, SessionRecord, SignedPreKeyId,
    SignedPreKeyRecord, StoreError, Timestamp, crypto::PublicKey, session::StoredKeyChange,
};
use rand_core::{CryptoRng, UnwrapErr};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, params};
use zeroize::Zeroizing;

use cache::Cache;
pub use error::{CODE_RECORD_MALFORMED, CODE_RECORD_UNAUTHENTIC, CODE_RNG, Error};
pub use schema::SCHEMA_VERSION;

/// Decoded session and sender-key records kept in memory by default.
pub const DEFAULT_CACHE_CAPACITY: usize = 256;

/// Rows re-encrypted per transaction during a key rotation by default.
pub const DEFAULT_ROTATION_BATCH: usize = 500;

/// What the key check value holds: opening it proves the key is the database's.
const KEY_CHECK: &[u8] = b"missive-sqlite key check";

/// The OS random number generator, for envelope nonces.
type OsRng = UnwrapErr<getrandom::SysRng>;

/// How to open a store: the previous storage key (to rotate, or finish a rotation), the
/// SQLite VFS, the cache size.
///
/// ```no_run
/// # use missive::store::at_rest::StorageKey;
/// # use missive_sqlite::Options;
/// # fn main() -> Result<(), missive_sqlite::Error> {
/// // Rotate from key 1 to key 2 (or complete a rotation that was interrupted).
/// let store = Options::new()
///     .previous_key(StorageKey::new(1, &[1; 32]))
///     .open("bob.db", StorageKey::new(2, &[2; 32]))?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Options {
    previous_key: Option<StorageKey>,
    vfs: Option<String>,
    cache_capacity: usize,
    rotation_batch: usize,
    rotation_stop_after: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            previous_key: None,
            vfs: None,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            rotation_batch: DEFAULT_ROTATION_BATCH,
            rotation_stop_after: None,
        }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The key the database was under before the key given to [`Options::open`]: if
    /// the database is under it, every record is re-encrypted under the new key (in
    /// batches, each one transaction) before the store opens; if a rotation between
    /// them was interrupted, it completes.
    pub fn previous_key(mut self, key: StorageKey) -> Self {
        self.previous_key = Some(key);
        self
    }

    /// The SQLite VFS to open the database through (default: the platform's).
    pub fn vfs(mut self, name: &str) -> Self {
        self.vfs = Some(name.to_owned());
        self
    }

    /// How many decoded session and sender-key records to keep in memory (each kind; at
    /// least 1).
    pub fn cache_capacity(mut self, n: usize) -> Self {
        self.cache_capacity = n.max(1);
        self
    }

    /// Rows re-encrypted per transaction in a rotation (at least 1).
    pub fn rotation_batch(mut self, n: usize) -> Self {
        self.rotation_batch = n.max(1);
        self
    }

    /// Stops a rotation after `n` transactions, as if the process died there: for tests
    /// of resumption.
    #[doc(hidden)]
    pub fn rotation_stop_after(mut self, n: usize) -> Self {
        self.rotation_stop_after = Some(n);
        self
    }

    /// Creates a store at `path` for our identity, under `key`. Fails with
    /// [`Error::AlreadyInitialized`] if one exists there.
    pub fn create(
        self,
        path: impl AsRef<Path>,
        key: StorageKey,
        identity: IdentityKeyPair,
        registration_id: u32,
    ) -> Result<SqliteStore, Error> {
        let path = path.as_ref();
        let mut conn = connect(path, self.vfs.as_deref(), true)?;
        schema::migrate(&mut conn)?;
        let mut rng = UnwrapErr(getrandom::SysRng);
        let tx = Transaction::new(&mut conn, rusqlite::TransactionBehavior::Immediate)?;
        if meta_int(&tx, "key_id")?.is_some() {
            return Err(Error::AlreadyInitialized);
        }
        set_meta(&tx, "key_id", i64::from(key.id()))?;
        let check = at_rest::seal(
            &key,
            RecordKind::StoreMeta,
            &RecordName::meta("key check"),
            KEY_CHECK,
            &mut rng,
        );
        set_meta(&tx, "key_check", check)?;
        let mut plain = Zeroizing::new(Vec::with_capacity(4 + 64));
        plain.extend_from_slice(&registration_id.to_be_bytes());
        plain.extend_from_slice(&identity.serialize());
        let env = at_rest::seal(
            &key,
            RecordKind::LocalIdentity,
            &local_name(),
            &plain,
            &mut rng,
        );
        tx.execute(
            "INSERT INTO local_identity (id, key_id, envelope) VALUES (1, ?1, ?2)",
            params![key.id(), env],
        )?;
        tx.commit()?;
        Ok(SqliteStore {
            conn,
            key,
            identity,
            registration_id,
            policy: ReceivePolicy::default(),
            sessions: Cache::new(self.cache_capacity),
            sender_keys: Cache::new(self.cache_capacity),
            rng,
            rotation_batch: self.rotation_batch,
            path: path.to_path_buf(),
            vfs: self.vfs,
        })
    }

    /// Opens the store at `path` with `key`. With a [previous key](Options::previous_key)
    /// the database is under, rotates to `key` first (or completes an interrupted
    /// rotation). Fails with [`Error::WrongKey`] or [`Error::KeyMismatch`] for a key that
    /// is not the database's, and [`Error::RotationPending`] when a rotation needs a key
    /// that was not given.
    pub fn open(self, path: impl AsRef<Path>, key: StorageKey) -> Result<SqliteStore, Error> {
        let path = path.as_ref();
        if !path.exists() {
            return Err(Error::NotInitialized);
        }
        let mut conn = connect(path, self.vfs.as_deref(), false)?;
        schema::migrate(&mut conn)?;
        let Some(current) = meta_int(&conn, "key_id")? else {
            return Err(Error::NotInitialized);
        };
        let current = u32::try_from(current).map_err(|_| Error::Malformed {
            kind: RecordKind::StoreMeta,
            error: missive::DecodeError::Malformed,
        })?;
        let pending = meta_int(&conn, "rotation_to")?.and_then(|t| u32::try_from(t).ok());
        let mut rng = UnwrapErr(getrandom::SysRng);
        let mut rotation = Rotation {
            batch: self.rotation_batch,
            stop_after: self.rotation_stop_after,
        };
        let key = match (pending, self.previous_key) {
            // The database is under `key`.
            (None, _) if key.id() == current => {
                check_key(&conn, &key, "key_check")?;
                key
            }
            // Rotate from the previous key to `key`.
            (None, Some(old)) if old.id() == current => {
                check_key(&conn, &old, "key_check")?;
                rotation.begin(&mut conn, &key, &mut rng)?;
                rotation.run(&mut conn, &old, &key, &mut rng)?;
                key
            }
            (None, _) => {
                return Err(Error::WrongKey {
                    database: current,
                    given: key.id(),
                });
            }
            // An interrupted rotation to `key`.
            (Some(to), Some(old)) if to == key.id() && old.id() == current => {
                check_key(&conn, &old, "key_check")?;
                check_key(&conn, &key, "rotation_check")?;
                rotation.run(&mut conn, &old, &key, &mut rng)?;
                key
            }
            (Some(to), _) => return Err(Error::RotationPending { from: current, to }),
        };
        let (identity, registration_id) = load_local_identity(&conn, &key)?;
        Ok(SqliteStore {
            conn,
            key,
            identity,
            registration_id,
            policy: ReceivePolicy::default(),
            sessions: Cache::new(self.cache_capacity),
            sender_keys: Cache::new(self.cache_capacity),
            rng,
            rotation_batch: self.rotation_batch,
            path: path.to_path_buf(),
            vfs: self.vfs,
        })
    }
}

/// A [`ProtocolStore`] on SQLite, every record encrypted at rest (see the crate docs).
///
/// The store holds its database exclusively (SQLite's exclusive locking mode): a second
/// open of the same file, in this process or another, fails while it is open. That is
/// what makes its cache of decoded records safe.
pub struct SqliteStore {
    conn: Connection,
    key: StorageKey,
    identity: IdentityKeyPair,
    registration_id: u32,
    policy: ReceivePolicy,
    sessions: Cache<ProtocolAddress, SessionRecord>,
    sender_keys: Cache<(ProtocolAddress, DistributionId), SenderKeyRecord>,
    rng: OsRng,
    rotation_batch: usize,
    path: std::path::PathBuf,
    vfs: Option<String>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.conn.path())
            .field("key", &self.key)
            .field("identity", self.identity.identity_key())
            .field("registration_id", &self.registration_id)
            .field("policy", &self.policy)
            .field("cached_sessions", &self.sessions.len())
            .finish_non_exhaustive()
    }
}

fn connect(path: &Path, vfs: Option<&str>, create: bool) -> Result<Connection, Error> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = match vfs {
        Some(v) => Connection::open_with_flags_and_vfs(path, flags, v)?,
        None => Connection::open_with_flags(path, flags)?,
    };
    // Exclusive: no other connection can change the records behind the cache. WAL with
    // synchronous=FULL: each commit is fsynced before it returns. secure_delete: pages
    // freed by a deletion are overwritten (the records are sealed anyway; this keeps old
    // envelopes from piling up in free pages).
    let _: String =
        conn.pragma_update_and_check(None, "locking_mode", "EXCLUSIVE", |r| r.get(0))?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::Sqlite(rusqlite::Error::InvalidParameterName(
            "journal_mode=WAL refused".into(),
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    Ok(conn)
}

fn meta_int(conn: &Connection, name: &str) -> Result<Option<i64>, Error> {
    Ok(conn
        .query_row(
            "SELECT value FROM store_meta WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?)
}

fn meta_blob(conn: &Connection, name: &str) -> Result<Option<Vec<u8>>, Error> {
    Ok(conn
        .query_row(
            "SELECT value FROM store_meta WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?)
}

fn set_meta(conn: &Connection, name: &str, value: impl rusqlite::ToSql) -> Result<(), Error> {
    conn.execute(
        "INSERT INTO store_meta (name, value) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        params![name, value],
    )?;
    Ok(())
}

/// Proves `key` is the key the check value `name` was sealed under.
fn check_key(conn: &Connection, key: &StorageKey, name: &str) -> Result<(), Error> {
    let Some(env) = meta_blob(conn, name)? else {
        return Err(Error::NotInitialized);
    };
    match at_rest::open(
        key,
        RecordKind::StoreMeta,
        &RecordName::meta("key check"),
        &env,
    ) {
        Ok(p) if p.as_slice() == KEY_CHECK => Ok(()),
        Ok(_) | Err(OpenError::Unauthentic) => Err(Error::KeyMismatch { key_id: key.id() }),
        Err(OpenError::WrongKey { sealed_with }) => Err(Error::WrongKey {
            database: sealed_with,
            given: key.id(),
        }),
        Err(error) => Err(Error::Record {
            kind: RecordKind::StoreMeta,
            error,
        }),
    }
}

fn local_name() -> RecordName {
    RecordName::id(1)
}

fn load_local_identity(
    conn: &Connection,
    key: &StorageKey,
) -> Result<(IdentityKeyPair, u32), Error> {
    let env: Vec<u8> = conn
        .query_row(
            "SELECT envelope FROM local_identity WHERE id = 1",
            [],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(Error::NotInitialized)?;
    let plain = open_record(key, RecordKind::LocalIdentity, &local_name(), &env)?;
    let (reg, pair) = plain.split_at_checked(4).ok_or(Error::Malformed {
        kind: RecordKind::LocalIdentity,
        error: missive::DecodeError::BadLength,
    })?;
    let mut r = [0u8; 4];
    r.copy_from_slice(reg);
    let identity = IdentityKeyPair::deserialize(pair).map_err(|error| Error::Malformed {
        kind: RecordKind::LocalIdentity,
        error,
    })?;
    Ok((identity, u32::from_be_bytes(r)))
}

fn open_record(
    key: &StorageKey,
    kind: RecordKind,
    name: &RecordName,
    envelope: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    at_rest::open(key, kind, name, envelope).map_err(|error| Error::Record { kind, error })
}

fn parse<T>(kind: RecordKind, r: Result<T, missive::DecodeError>) -> Result<T, Error> {
    r.map_err(|error| Error::Malformed { kind, error })
}

/// A key rotation's progress through the sealed tables.
struct Rotation {
    batch: usize,
    stop_after: Option<usize>,
}

impl Rotation {
    /// Records the rotation's target (with a check value under the new key) in one
    /// transaction: from here on, an interrupted rotation is known and resumes.
    fn begin(
        &mut self,
        conn: &mut Connection,
        new: &StorageKey,
        rng: &mut OsRng,
    ) -> Result<(), Error> {
        let check = at_rest::seal(
            new,
            RecordKind::StoreMeta,
            &RecordName::meta("key check"),
            KEY_CHECK,
            rng,
        );
        self.step()?;
        let tx = Transaction::new(conn, rusqlite::TransactionBehavior::Immediate)?;
        set_meta(&tx, "rotation_to", i64::from(new.id()))?;
        set_meta(&tx, "rotation_check", check)?;
        tx.commit()?;
        Ok(())
    }

    /// Counts one transaction; fails as an interruption once the test limit is reached.
    fn step(&mut self) -> Result<(), Error> {
        match &mut self.stop_after {
            Some(0) => Err(Error::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERRUPT),
                Some("rotation stopped (test)".into()),
            ))),
            Some(n) => {
                *n -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Re-encrypts every row still under `old`, a batch per transaction, then makes
    /// `new` the database's key.
    fn run(
        &mut self,
        conn: &mut Connection,
        old: &StorageKey,
        new: &StorageKey,
        rng: &mut OsRng,
    ) -> Result<(), Error> {
        for table in schema::SEALED_TABLES {
            loop {
                let rows = sealed_rows(conn, table, old.id(), self.batch)?;
                if rows.is_empty() {
                    break;
                }
                self.step()?;
                let tx = Transaction::new(conn, rusqlite::TransactionBehavior::Immediate)?;
                for row in rows {
                    let name = row.name();
                    let env = at_rest::reseal(old, new, row.kind, &name, &row.envelope, rng)
                        .map_err(|error| Error::Record {
                            kind: row.kind,
                            error,
                        })?;
                    row.update(&tx, new.id(), &env)?;
                }
                tx.commit()?;
            }
        }
        self.step()?;
        let tx = Transaction::new(conn, rusqlite::TransactionBehavior::Immediate)?;
        let check = meta_blob(&tx, "rotation_check")?.ok_or(Error::NotInitialized)?;
        set_meta(&tx, "key_check", check)?;
        set_meta(&tx, "key_id", i64::from(new.id()))?;
        tx.execute(
            "DELETE FROM store_meta WHERE name IN ('rotation_to', 'rotation_check')",
            [],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// One sealed row of any table, with what its envelope is bound to.
struct SealedRow {
    table: &'static str,
    kind: RecordKind,
    keys: Vec<(&'static str, rusqlite::types::Value)>,
    envelope: Vec<u8>,
}

/// The kind and row key columns of each sealed table. A record's name is its row key
/// columns in order, integers as u32 BE, blobs as they are (docs/PROTOCOL.md §13.3).
fn table_layout(table: &str) -> (RecordKind, &'static [&'static str]) {
    match table {
        "local_identity" => (RecordKind::LocalIdentity, &["id"]),
        "identities" => (RecordKind::Identity, &["address"]),
        "pre_keys" => (RecordKind::PreKey, &["id"]),
        "signed_pre_keys" => (RecordKind::SignedPreKey, &["id"]),
        "kyber_pre_keys" => (RecordKind::KyberPreKey, &["id"]),
        "session_heads" => (RecordKind::SessionHead, &["address"]),
        "session_keys" => (RecordKind::SessionStoredKey, &["address", "chain", "n"]),
        "session_archives" => (RecordKind::SessionArchive, &["address"]),
        _ => (RecordKind::SenderKey, &["address", "distribution_id"]),
    }
}

impl SealedRow {
    fn name(&self) -> RecordName {
        let mut v = Vec::new();
        for (_, value) in &self.keys {
            match value {
                rusqlite::types::Value::Integer(i) => {
                    v.extend_from_slice(&u32::try_from(*i).unwrap_or(u32::MAX).to_be_bytes())
                }
                rusqlite::types::Value::Blob(b) => v.extend_from_slice(b),
                _ => {}
            }
        }
        RecordName::from_bytes(&v)
    }

    fn update(&self, tx: &Transaction<'_>, key_id: u32, envelope: &[u8]) -> Result<(), Error> {
        let cond: Vec<String> = self
            .keys
            .iter()
            .enumerate()
            .map(|(i, (c, _))| format!("{c} = ?{}", i + 3))
            .collect();
        let sql = format!(
            "UPDATE {} SET key_id = ?1, envelope = ?2 WHERE {}",
            self.table,
            cond.join(" AND ")
        );
        let mut values: Vec<&dyn rusqlite::ToSql> = vec![&key_id, &envelope];
        for (_, v) in &self.keys {
            values.push(v);
        }
        tx.prepare_cached(&sql)?.execute(values.as_slice())?;
        Ok(())
    }
}

/// Up to `limit` rows of `table` (all with `key_id` given, or every row for `None`).
fn sealed_rows_where(
    conn: &Connection,
    table: &'static str,
    key_id: Option<u32>,
    limit: usize,
) -> Result<Vec<SealedRow>, Error> {
    let (kind, cols) = table_layout(table);
    let sql = format!(
        "SELECT {}, envelope FROM {table} WHERE ?1 IS NULL OR key_id = ?1 ORDER BY {} LIMIT ?2",
        cols.join(", "),
        cols.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![key_id, limit], |r| {
        let mut keys = Vec::with_capacity(cols.len());
        for (i, c) in cols.iter().enumerate() {
            keys.push((*c, r.get::<_, rusqlite::types::Value>(i)?));
        }
        Ok(SealedRow {
            table,
            kind,
            keys,
            envelope: r.get(cols.len())?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn sealed_rows(
    conn: &Connection,
    table: &'static str,
    key_id: u32,
    limit: usize,
) -> Result<Vec<SealedRow>, Error> {
    sealed_rows_where(conn, table, Some(key_id), limit)
}

/// What [`SqliteStore::verify`] found: how many records of each kind opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// Records opened and parsed, per table.
    pub records: Vec<(&'static str, usize)>,
    /// Session records assembled from their parts.
    pub sessions: usize,
}

/// A stored key read from its row: boxed, so that the vector of rows can grow without
/// leaving key bytes in the blocks it frees.
struct BoxedKey(Box<Zeroizing<[u8; 32]>>);

impl std::ops::Deref for BoxedKey {
    type Target = [u8; 32];
    fn deref(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A row write of a commit, sealed before the transaction starts.
enum RowOp {
    InsertKey {
        chain: Vec<u8>,
        n: u32,
        envelope: Vec<u8>,
    },
    RemoveKey {
        chain: Vec<u8>,
        n: u32,
    },
    RemoveBelow {
        chain: Vec<u8>,
        n: u32,
    },
    RemoveChain {
        chain: Vec<u8>,
    },
}

impl SqliteStore {
    /// Creates a store (see [`Options::create`]).
    pub fn create(
        path: impl AsRef<Path>,
        key: StorageKey,
        identity: IdentityKeyPair,
        registration_id: u32,
    ) -> Result<Self, Error> {
        Options::new().create(path, key, identity, registration_id)
    }

    /// Opens a store (see [`Options::open`]).
    pub fn open(path: impl AsRef<Path>, key: StorageKey) -> Result<Self, Error> {
        Options::new().open(path, key)
    }

    /// The id of the storage key the database is under.
    pub fn key_id(&self) -> u32 {
        self.key.id()
    }

    /// Closes the database and opens it again with the same key, as a restarted app
    /// would: the cache is emptied, every record is read from the file again. For tests
    /// (a restart without a new process).
    pub fn reopen(&mut self) -> Result<(), Error> {
        let placeholder = Connection::open_in_memory()?;
        let old = std::mem::replace(&mut self.conn, placeholder);
        old.close().map_err(|(_, e)| Error::Sqlite(e))?;
        self.sessions.clear();
        self.sender_keys.clear();
        let mut conn = connect(&self.path, self.vfs.as_deref(), false)?;
        schema::migrate(&mut conn)?;
        check_key(&conn, &self.key, "key_check")?;
        let (identity, registration_id) = load_local_identity(&conn, &self.key)?;
        self.conn = conn;
        self.identity = identity;
        self.registration_id = registration_id;
        Ok(())
    }

    /// Re-encrypts every record under `new` (a batch of rows per transaction) and makes
    /// it the database's key. If the process dies during the rotation, open the store
    /// with both keys ([`Options::previous_key`]) and it completes.
    pub fn rotate_key(&mut self, new: StorageKey) -> Result<(), Error> {
        if new.id() == self.key.id() {
            return Err(Error::SameKeyId);
        }
        let mut rotation = Rotation {
            batch: self.rotation_batch,
            stop_after: None,
        };
        rotation.begin(&mut self.conn, &new, &mut self.rng)?;
        rotation.run(&mut self.conn, &self.key, &new, &mut self.rng)?;
        self.key = new;
        Ok(())
    }

    /// Sets the policy for receiving from a changed identity (see [`ReceivePolicy`];
    /// default [`ReceivePolicy::AcceptChanges`]). Not stored: set it on every open.
    pub fn set_receive_policy(&mut self, policy: ReceivePolicy) {
        self.policy = policy;
    }

    fn seal(&mut self, kind: RecordKind, name: &RecordName, plain: &[u8]) -> Vec<u8> {
        at_rest::seal(&self.key, kind, name, plain, &mut self.rng)
    }

    // ---- prekeys ---------------------------------------------------------------------

    /// Generates the keys of a bundle as `spec` says, saves them in one transaction and
    /// returns the bundle to publish (publish it only after this returned: then the keys
    /// are on disk).
    pub fn generate_bundle<R: CryptoRng + ?Sized>(
        &mut self,
        spec: &BundleSpec,
        device_id: u32,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<PreKeyBundle, Error> {
        let keys = spec.generate(&self.identity, self.registration_id, device_id, now, rng);
        let mut writes = Vec::new();
        if let Some(k) = &keys.pre_key {
            writes.push(self.sealed_pre_key(k));
        }
        writes.push(self.sealed_signed_pre_key(&keys.signed_pre_key));
        if let Some(k) = &keys.kyber_pre_key {
            writes.push(self.sealed_kyber_pre_key(k));
        }
        self.write_id_rows(&writes)?;
        Ok(keys.bundle)
    }

    fn sealed_pre_key(&mut self, r: &PreKeyRecord) -> (&'static str, u32, Vec<u8>) {
        let id = r.id().0;
        let env = self.seal(RecordKind::PreKey, &RecordName::id(id), &r.serialize());
        ("pre_keys", id, env)
    }

    fn sealed_signed_pre_key(&mut self, r: &SignedPreKeyRecord) -> (&'static str, u32, Vec<u8>) {
        let id = r.id().0;
        let env = self.seal(
            RecordKind::SignedPreKey,
            &RecordName::id(id),
            &r.serialize(),
        );
        ("signed_pre_keys", id, env)
    }

    fn sealed_kyber_pre_key(&mut self, r: &KyberPreKeyRecord) -> (&'static str, u32, Vec<u8>) {
        let id = r.id().0;
        let env = self.seal(RecordKind::KyberPreKey, &RecordName::id(id), &r.serialize());
        ("kyber_pre_keys", id, env)
    }

    fn write_id_rows(&mut self, rows: &[(&'static str, u32, Vec<u8>)]) -> Result<(), Error> {
        let key_id = self.key.id();
        let tx = Transaction::new(&mut self.conn, rusqlite::TransactionBehavior::Immediate)?;
        for (table, id, env) in rows {
            tx.prepare_cached(&format!(
                "INSERT INTO {table} (id, key_id, envelope) VALUES (?1, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET key_id = excluded.key_id, envelope = excluded.envelope"
            ))?
            .execute(params![id, key_id, env])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Saves a one-time prekey.
    pub fn save_pre_key(&mut self, record: &PreKeyRecord) -> Result<(), Error> {
        let w = self.sealed_pre_key(record);
        self.write_id_rows(&[w])
    }

    /// Saves a signed prekey.
    pub fn save_signed_pre_key(&mut self, record: &SignedPreKeyRecord) -> Result<(), Error> {
        let w = self.sealed_signed_pre_key(record);
        self.write_id_rows(&[w])
    }

    /// Saves a Kyber prekey.
    pub fn save_kyber_pre_key(&mut self, record: &KyberPreKeyRecord) -> Result<(), Error> {
        let w = self.sealed_kyber_pre_key(record);
        self.write_id_rows(&[w])
    }

    /// Deletes a one-time prekey.
    pub fn remove_pre_key(&mut self, id: PreKeyId) -> Result<(), Error> {
        self.conn
            .execute("DELETE FROM pre_keys WHERE id = ?1", [id.0])?;
        Ok(())
    }

    /// Deletes a signed prekey (after rotation) and the Kyber replay triples that name
    /// it: a prekey message naming a deleted signed prekey fails anyway.
    pub fn remove_signed_pre_key(&mut self, id: SignedPreKeyId) -> Result<(), Error> {
        let tx = Transaction::new(&mut self.conn, rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM signed_pre_keys WHERE id = ?1", [id.0])?;
        tx.execute("DELETE FROM kyber_used WHERE signed_id = ?1", [id.0])?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a Kyber prekey (a last-resort key after rotation) and the replay triples
    /// remembered for it.
    pub fn remove_kyber_pre_key(&mut self, id: KyberPreKeyId) -> Result<(), Error> {
        let tx = Transaction::new(&mut self.conn, rusqlite::TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM kyber_pre_keys WHERE id = ?1", [id.0])?;
        tx.execute("DELETE FROM kyber_used WHERE kyber_id = ?1", [id.0])?;
        tx.commit()?;
        Ok(())
    }

    fn ids(&self, table: &str) -> Result<Vec<u32>, Error> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT id FROM {table} ORDER BY id"))?;
        let ids = stmt.query_map([], |r| r.get::<_, u32>(0))?;
        Ok(ids.collect::<Result<_, _>>()?)
    }

    /// The ids of the one-time prekeys left.
    pub fn pre_key_ids(&self) -> Result<Vec<PreKeyId>, Error> {
        Ok(self.ids("pre_keys")?.into_iter().map(PreKeyId).collect())
    }

    /// The ids of the signed prekeys.
    pub fn signed_pre_key_ids(&self) -> Result<Vec<SignedPreKeyId>, Error> {
        Ok(self
            .ids("signed_pre_keys")?
            .into_iter()
            .map(SignedPreKeyId)
            .collect())
    }

    /// The ids of the Kyber prekeys.
    pub fn kyber_pre_key_ids(&self) -> Result<Vec<KyberPreKeyId>, Error> {
        Ok(self
            .ids("kyber_pre_keys")?
            .into_iter()
            .map(KyberPreKeyId)
            .collect())
    }

    /// How many Kyber replay triples are remembered.
    pub fn used_kyber_triples(&self) -> Result<usize, Error> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM kyber_used", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| usize::try_from(n).unwrap_or(0))?)
    }

    // ---- identities ------------------------------------------------------------------

    fn load_identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>, Error> {
        let name = RecordName::address(address);
        let env: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT envelope FROM identities WHERE address = ?1")?
            .query_row([name.as_bytes()], |r| r.get(0))
            .optional()?;
        let Some(env) = env else { return Ok(None) };
        let plain = open_record(&self.key, RecordKind::Identity, &name, &env)?;
        Ok(Some(parse(
            RecordKind::Identity,
            IdentityKey::deserialize(&plain),
        )?))
    }

    /// Records `identity` for `address`: the app's decision (the user accepted a new
    /// safety number, or the app imports identities).
    pub fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> Result<IdentityChange, Error> {
        let previous = self.load_identity(address)?;
        let name = RecordName::address(address);
        let env = self.seal(RecordKind::Identity, &name, &identity.serialize());
        upsert_address_row(&self.conn, "identities", &name, self.key.id(), &env)?;
        Ok(match previous {
            None => IdentityChange::New,
            Some(p) if p == *identity => IdentityChange::Unchanged,
            Some(previous) => IdentityChange::Replaced { previous },
        })
    }

    /// Forgets the identity of `address`.
    pub fn remove_identity(&mut self, address: &ProtocolAddress) -> Result<(), Error> {
        self.conn.execute(
            "DELETE FROM identities WHERE address = ?1",
            [RecordName::address(address).as_bytes()],
        )?;
        Ok(())
    }

    // ---- sessions --------------------------------------------------------------------

    fn load_session(&self, address: &ProtocolAddress) -> Result<Option<SessionRecord>, Error> {
        let name = RecordName::address(address);
        let a = name.as_bytes();
        let head: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT envelope FROM session_heads WHERE address = ?1")?
            .query_row([a], |r| r.get(0))
            .optional()?;
        let archive: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT envelope FROM session_archives WHERE address = ?1")?
            .query_row([a], |r| r.get(0))
            .optional()?;
        if head.is_none() && archive.is_none() {
            return Ok(None);
        }
        let head = head
            .map(|e| open_record(&self.key, RecordKind::SessionHead, &name, &e))
            .transpose()?;
        let archive = archive
            .map(|e| open_record(&self.key, RecordKind::SessionArchive, &name, &e))
            .transpose()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT chain, n, envelope FROM session_keys WHERE address = ?1 ORDER BY chain, n",
        )?;
        let mut rows = stmt.query([a])?;
        let mut keys = Vec::new();
        while let Some(r) = rows.next()? {
            let chain_b: Vec<u8> = r.get(0)?;
            let n: u32 = r.get(1)?;
            let env: Vec<u8> = r.get(2)?;
            let chain = chain_from_bytes(&chain_b).map_err(|error| Error::Record {
                kind: RecordKind::SessionStoredKey,
                error,
            })?;
            let kname = RecordName::stored_key(address, &chain, n);
            let plain = open_record(&self.key, RecordKind::SessionStoredKey, &kname, &env)?;
            let mut key = BoxedKey(Box::new(Zeroizing::new([0u8; 32])));
            if plain.len() != 32 {
                return Err(Error::Malformed {
                    kind: RecordKind::SessionStoredKey,
                    error: missive::DecodeError::BadLength,
                });
            }
            key.0.copy_from_slice(&plain);
            keys.push((chain, n, key));
        }
        let rec = SessionRecord::from_parts(
            head.as_deref().map(|h| h.as_slice()),
            keys,
            archive.as_deref().map(|a| a.as_slice()),
        );
        Ok(Some(parse(RecordKind::SessionHead, rec)?))
    }

    /// Writes `record` whole for `address` (an import, or a record the app built),
    /// replacing what is there.
    pub fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> Result<(), Error> {
        self.sessions.remove(address);
        let writes = self.seal_whole_session(address, record);
        let tx = Transaction::new(&mut self.conn, rusqlite::TransactionBehavior::Immediate)?;
        writes.write(&tx, self.key.id())?;
        tx.commit()?;
        Ok(())
    }

    fn seal_whole_session(
        &mut self,
        address: &ProtocolAddress,
        record: &SessionRecord,
    ) -> SessionWrites {
        let name = RecordName::address(address);
        let head = record
            .serialize_current_head()
            .map(|h| self.seal(RecordKind::SessionHead, &name, &h));
        let mut keys = Vec::new();
        for (chain, n, key) in record.current_stored_keys() {
            let kname = RecordName::stored_key(address, &chain, n);
            let env = at_rest::seal(
                &self.key,
                RecordKind::SessionStoredKey,
                &kname,
                key,
                &mut self.rng,
            );
            keys.push(RowOp::InsertKey {
                chain: chain_bytes(&chain),
                n,
                envelope: env,
            });
        }
        let archive = (record.archived_count() > 0).then(|| {
            self.seal(
                RecordKind::SessionArchive,
                &name,
                &record.serialize_archive(),
            )
        });
        SessionWrites {
            name,
            whole: true,
            head,
            keys,
            archive,
        }
    }

    /// Deletes the session record of `address`.
    pub fn remove_session(&mut self, address: &ProtocolAddress) -> Result<(), Error> {
        self.sessions.remove(address);
        let name = RecordName::address(address);
        let tx = Transaction::new(&mut self.conn, rusqlite::TransactionBehavior::Immediate)?;
        for t in ["session_heads", "session_keys", "session_archives"] {
            tx.execute(
                &format!("DELETE FROM {t} WHERE address = ?1"),
                [name.as_bytes()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The addresses with a session record.
    pub fn session_addresses(&self) -> Result<Vec<ProtocolAddress>, Error> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT address FROM session_heads UNION SELECT address FROM session_archives ORDER BY 1",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(parse_address(&r?).ok_or(Error::Malformed {
                kind: RecordKind::SessionHead,
                error: missive::DecodeError::Malformed,
            })?);
        }
        Ok(out)
    }

    /// The session record of `address`, read from the database (not the cache).
    pub fn load_session_record(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<SessionRecord>, Error> {
        self.load_session(address)
    }

    /// Keeps at most `max` archived sessions in every record (the newest): to apply a
    /// lower [`Config::max_archived_sessions`](missive::Config::max_archived_sessions)
    /// to records written under a higher one. Only the archives are rewritten, in one
    /// transaction; returns how many archived sessions were dropped.
    pub fn prune_archived_sessions(&mut self, max: usize) -> Result<usize, Error> {
        let mut pruned = 0;
        let mut writes = Vec::new();
        for address in self.session_addresses()? {
            let Some(record) = self.load_session(&address)? else {
                continue;
            };
            let before = record.archived_count();
            if before <= max {
                continue;
            }
            // The archive alone, as a record with no current session: archiving "the
            // current session" of it only truncates.
            let mut archive = parse(
                RecordKind::SessionArchive,
                SessionRecord::deserialize(&record.serialize_archive()),
            )?;
            archive.archive_current_state(max);
            pruned += before - archive.archived_count();
            let name = RecordName::address(&address);
            let env = (archive.archived_count() > 0).then(|| {
                self.seal(
                    RecordKind::SessionArchive,
                    &name,
                    &archive.serialize_archive(),
                )
            });
            writes.push((address, name, env));
        }
        let key_id = self.key.id();
        let tx = Transaction::new(&mut self.conn, rusqlite::TransactionBehavior::Immediate)?;
        for (_, name, env) in &writes {
            match env {
                Some(env) => upsert_address_row(&tx, "session_archives", name, key_id, env)?,
                None => {
                    tx.execute(
                        "DELETE FROM session_archives WHERE address = ?1",
                        [name.as_bytes()],
                    )?;
                }
            }
        }
        tx.commit()?;
        for (address, _, _) in &writes {
            self.sessions.remove(address);
        }
        Ok(pruned)
    }

    // ---- sender keys -----------------------------------------------------------------

    fn load_sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<Option<SenderKeyRecord>, Error> {
        let name = RecordName::sender_key(sender, distribution_id);
        let env: Option<Vec<u8>> = self
            .conn
            .prepare_cached(
                "SELECT envelope FROM sender_keys WHERE address = ?1 AND distribution_id = ?2",
            )?
            .query_row(
                params![
                    RecordName::address(sender).as_bytes(),
                    distribution_id.as_bytes()
                ],
                |r| r.get(0),
            )
            .optional()?;
        let Some(env) = env else { return Ok(None) };
        let plain = open_record(&self.key, RecordKind::SenderKey, &name, &env)?;
        Ok(Some(parse(
            RecordKind::SenderKey,
            SenderKeyRecord::deserialize(&plain),
        )?))
    }

    fn seal_sender_key(
        &mut self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
        record: &SenderKeyRecord,
    ) -> Vec<u8> {
        let name = RecordName::sender_key(sender, distribution_id);
        self.seal(RecordKind::SenderKey, &name, &record.serialize())
    }

    /// Writes a sender-key record whole (an import).
    pub fn store_sender_key(
        &mut self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
        record: &SenderKeyRecord,
    ) -> Result<(), Error> {
        self.sender_keys.remove(&(sender.clone(), distribution_id));
        let env = self.seal_sender_key(sender, distribution_id, record);
        write_sender_key(&self.conn, sender, distribution_id, self.key.id(), &env)
    }

    /// Deletes the sender-key record of `sender` for `distribution_id` (a member left).
    pub fn remove_sender_key(
        &mut self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<(), Error> {
        self.sender_keys.remove(&(sender.clone(), distribution_id));
        self.conn.execute(
            "DELETE FROM sender_keys WHERE address = ?1 AND distribution_id = ?2",
            params![
                RecordName::address(sender).as_bytes(),
                distribution_id.as_bytes()
            ],
        )?;
        Ok(())
    }

    // ---- whole-database checks -------------------------------------------------------

    /// Opens and parses every record in the database (sessions assembled from their
    /// parts): the first that fails is the error. For an app's integrity check after a
    /// restore, and for the tests.
    pub fn verify(&self) -> Result<Verified, Error> {
        let mut out = Verified::default();
        for table in schema::SEALED_TABLES {
            let rows = sealed_rows_where(&self.conn, table, None, usize::MAX)?;
            for row in &rows {
                let plain = open_record(&self.key, row.kind, &row.name(), &row.envelope)?;
                let ok = match row.kind {
                    RecordKind::Identity => IdentityKey::deserialize(&plain).map(drop),
                    RecordKind::PreKey => PreKeyRecord::deserialize(&plain).map(drop),
                    RecordKind::SignedPreKey => SignedPreKeyRecord::deserialize(&plain).map(drop),
                    RecordKind::KyberPreKey => KyberPreKeyRecord::deserialize(&plain).map(drop),
                    RecordKind::SenderKey => SenderKeyRecord::deserialize(&plain).map(drop),
                    _ => Ok(()),
                };
                parse(row.kind, ok)?;
            }
            out.records.push((table, rows.len()));
        }
        for a in self.session_addresses()? {
            if self.load_session(&a)?.is_some() {
                out.sessions += 1;
            }
        }
        Ok(out)
    }

    /// Every record, decrypted and serialized, in a fixed order: two stores hold the same
    /// state exactly when their snapshots are equal (the same form as
    /// [`InMemSignalProtocolStore::snapshot`](missive::store::memory::InMemSignalProtocolStore::snapshot)).
    /// Read from the database, not the cache.
    pub fn snapshot(&self) -> Result<Vec<(&'static str, Vec<u8>)>, Error> {
        let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT address, envelope FROM identities ORDER BY address")?;
        let mut ids = Vec::new();
        for r in stmt.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })? {
            let (a, env) = r?;
            let addr = parse_address(&a).ok_or(Error::Malformed {
                kind: RecordKind::Identity,
                error: missive::DecodeError::Malformed,
            })?;
            let plain = open_record(
                &self.key,
                RecordKind::Identity,
                &RecordName::from_bytes(&a),
                &env,
            )?;
            ids.push((addr, plain.to_vec()));
        }
        ids.sort();
        for (addr, key) in ids {
            let mut v = Vec::from(addr.name().as_bytes());
            v.extend_from_slice(&addr.device_id().to_be_bytes());
            v.extend_from_slice(&key);
            out.push(("identity", v));
        }
        for (table, what) in [
            ("pre_keys", "pre_key"),
            ("signed_pre_keys", "signed_pre_key"),
            ("kyber_pre_keys", "kyber_pre_key"),
        ] {
            for row in sealed_rows_where(&self.conn, table, None, usize::MAX)? {
                let plain = open_record(&self.key, row.kind, &row.name(), &row.envelope)?;
                out.push((what, plain.to_vec()));
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT kyber_id, signed_id, base_key FROM kyber_used ORDER BY kyber_id, signed_id, base_key",
        )?;
        for r in stmt.query_map([], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, u32>(1)?,
                r.get::<_, Vec<u8>>(2)?,
            ))
        })? {
            let (k, s, b) = r?;
            let mut v = Vec::from(k.to_be_bytes());
            v.extend_from_slice(&s.to_be_bytes());
            v.extend_from_slice(&b);
            out.push(("kyber_used", v));
        }
        let mut addrs = self.session_addresses()?;
        addrs.sort();
        for addr in addrs {
            if let Some(r) = self.load_session(&addr)? {
                let mut v = Vec::from(addr.name().as_bytes());
                v.extend_from_slice(&addr.device_id().to_be_bytes());
                v.extend_from_slice(&r.serialize());
                out.push(("session", v));
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT address, distribution_id FROM sender_keys ORDER BY address, distribution_id",
        )?;
        let mut sk = Vec::new();
        for r in stmt.query_map([], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })? {
            let (a, d) = r?;
            let addr = parse_address(&a).ok_or(Error::Malformed {
                kind: RecordKind::SenderKey,
                error: missive::DecodeError::Malformed,
            })?;
            let d: [u8; 16] = d.as_slice().try_into().map_err(|_| Error::Malformed {
                kind: RecordKind::SenderKey,
                error: missive::DecodeError::BadLength,
            })?;
            sk.push((addr, DistributionId::from_bytes(d)));
        }
        sk.sort();
        for (addr, id) in sk {
            if let Some(r) = self.load_sender_key(&addr, id)? {
                let mut v = Vec::from(addr.name().as_bytes());
                v.extend_from_slice(&addr.device_id().to_be_bytes());
                v.extend_from_slice(id.as_bytes());
                v.extend_from_slice(&r.serialize());
                out.push(("sender_key", v));
            }
        }
        Ok(out)
    }

    /// Moves the WAL's content into the database and truncates the WAL file: after it,
    /// deleted records are gone from both files (secure_delete overwrites freed pages).
    pub fn checkpoint(&mut self) -> Result<(), Error> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// Drops every decoded record from the cache (the next read decodes from the
    /// database).
    pub fn clear_cache(&mut self) {
        self.sessions.clear();
        self.sender_keys.clear();
    }

    // ---- commit ----------------------------------------------------------------------

    fn try_commit(&mut self, changes: ChangeSet) -> Result<(), Error> {
        let session_addr = changes.session().map(|(a, _)| a.clone());
        let sender_key_id = changes.sender_key().map(|(a, d, _)| (a.clone(), d));
        let result = self.commit_parts(changes);
        if result.is_err() {
            // The cache may hold a record read for this commit, or changed by it before
            // the transaction failed: the database, unchanged, is the truth.
            if let Some(a) = &session_addr {
                self.sessions.remove(a);
            }
            if let Some(k) = &sender_key_id {
                self.sender_keys.remove(k);
            }
        }
        result
    }

    fn commit_parts(&mut self, changes: ChangeSet) -> Result<(), Error> {
        let parts = changes.into_parts();
        // 1. Bring the records the set changes into the cache.
        if let Some((addr, _)) = &parts.session
            && !self.sessions.contains(addr)
        {
            let r = self.load_session(addr)?.unwrap_or_default();
            self.sessions.insert(addr.clone(), r);
        }
        if let Some((addr, id, _)) = &parts.sender_key {
            let k = (addr.clone(), *id);
            if !self.sender_keys.contains(&k) {
                let r = self.load_sender_key(addr, *id)?.unwrap_or_default();
                self.sender_keys.insert(k, r);
            }
        }
        // 2. Every part must fit before anything changes.
        let session_ok = parts.session.as_ref().is_none_or(|(addr, change)| {
            self.sessions.get(addr).is_some_and(|r| r.can_apply(change))
        });
        let sender_key_ok = parts.sender_key.as_ref().is_none_or(|(addr, id, change)| {
            self.sender_keys
                .get(&(addr.clone(), *id))
                .is_some_and(|r| r.can_apply(change))
        });
        let pre_key_ok = match parts.consumed_pre_key {
            Some(id) => self
                .conn
                .prepare_cached("SELECT 1 FROM pre_keys WHERE id = ?1")?
                .exists([id.0])?,
            None => true,
        };
        let kyber_ok = match &parts.kyber_pre_key {
            Some(u) => {
                self.conn
                    .prepare_cached("SELECT 1 FROM kyber_pre_keys WHERE id = ?1")?
                    .exists([u.id.0])?
                    && !(u.last_resort
                        && self.triple_used(u.id, u.signed_pre_key_id, &u.base_key)?)
            }
            None => true,
        };
        if !(session_ok && sender_key_ok && pre_key_ok && kyber_ok) {
            return Err(Error::Conflict);
        }
        // 3. Seal the rows, apply to the cached records, write in one transaction (if it
        // fails, `try_commit` drops the cached records).
        self.apply_and_write(parts)
    }

    fn triple_used(
        &self,
        id: KyberPreKeyId,
        signed: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<bool, Error> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM kyber_used WHERE kyber_id = ?1 AND signed_id = ?2 AND base_key = ?3",
            )?
            .exists(params![id.0, signed.0, base_key.u_bytes().as_slice()])?)
    }

    fn apply_and_write(&mut self, parts: missive::store::ChangeSetParts) -> Result<(), Error> {
        let mut session_writes = None;
        if let Some((addr, change)) = parts.session {
            let name = RecordName::address(&addr);
            if change.replaces_current() {
                let mut record = self.sessions.take(&addr).ok_or(Error::Conflict)?;
                record.apply(change).map_err(|_| Error::Conflict)?;
                let w = self.seal_whole_session(&addr, &record);
                self.sessions.insert(addr.clone(), record);
                session_writes = Some(w);
            } else {
                let mut ops = Vec::new();
                for op in change.stored_key_changes() {
                    ops.push(match op {
                        StoredKeyChange::Insert { chain, n, key } => {
                            let kname = RecordName::stored_key(&addr, &chain, n);
                            RowOp::InsertKey {
                                chain: chain_bytes(&chain),
                                n,
                                envelope: at_rest::seal(
                                    &self.key,
                                    RecordKind::SessionStoredKey,
                                    &kname,
                                    key,
                                    &mut self.rng,
                                ),
                            }
                        }
                        StoredKeyChange::Remove { chain, n } => RowOp::RemoveKey {
                            chain: chain_bytes(&chain),
                            n,
                        },
                        StoredKeyChange::RemoveBelow { chain, n } => RowOp::RemoveBelow {
                            chain: chain_bytes(&chain),
                            n,
                        },
                        StoredKeyChange::RemoveChain { chain } => RowOp::RemoveChain {
                            chain: chain_bytes(&chain),
                        },
                    });
                }
                let record = self.sessions.get_mut(&addr).ok_or(Error::Conflict)?;
                record.apply(change).map_err(|_| Error::Conflict)?;
                let head = record.serialize_current_head();
                let head = head.map(|h| {
                    at_rest::seal(&self.key, RecordKind::SessionHead, &name, &h, &mut self.rng)
                });
                session_writes = Some(SessionWrites {
                    name,
                    whole: false,
                    head,
                    keys: ops,
                    archive: None,
                });
            }
        }
        let identity = parts.identity.map(|(addr, key, _)| {
            let name = RecordName::address(&addr);
            let env = self.seal(RecordKind::Identity, &name, &key.serialize());
            (name, env)
        });
        let sender_key = match parts.sender_key {
            Some((addr, id, change)) => {
                let k = (addr.clone(), id);
                let record = self.sender_keys.get_mut(&k).ok_or(Error::Conflict)?;
                record.apply(change).map_err(|_| Error::Conflict)?;
                let plain = record.serialize();
                let name = RecordName::sender_key(&addr, id);
                let env = self.seal(RecordKind::SenderKey, &name, &plain);
                Some((addr, id, env))
            }
            None => None,
        };
        let key_id = self.key.id();
        let tx = Transaction::new(&mut self.conn, rusqlite::TransactionBehavior::Immediate)?;
        if let Some(w) = &session_writes {
            w.write(&tx, key_id)?;
        }
        if let Some((name, env)) = &identity {
            upsert_address_row(&tx, "identities", name, key_id, env)?;
        }
        if let Some(id) = parts.consumed_pre_key {
            tx.prepare_cached("DELETE FROM pre_keys WHERE id = ?1")?
                .execute([id.0])?;
        }
        if let Some(u) = &parts.kyber_pre_key {
            if u.last_resort {
                tx.prepare_cached(
                    "INSERT INTO kyber_used (kyber_id, signed_id, base_key) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![
                    u.id.0,
                    u.signed_pre_key_id.0,
                    u.base_key.u_bytes().as_slice()
                ])?;
            } else {
                tx.prepare_cached("DELETE FROM kyber_pre_keys WHERE id = ?1")?
                    .execute([u.id.0])?;
            }
        }
        if let Some((addr, id, env)) = &sender_key {
            write_sender_key(&tx, addr, *id, key_id, env)?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// The sealed writes of one session record change.
struct SessionWrites {
    name: RecordName,
    /// Rewrite everything (head, every stored key, archive), or only the head and the
    /// key rows listed.
    whole: bool,
    head: Option<Vec<u8>>,
    keys: Vec<RowOp>,
    archive: Option<Vec<u8>>,
}

impl SessionWrites {
    fn write(&self, tx: &Connection, key_id: u32) -> Result<(), Error> {
        let a = self.name.as_bytes();
        match &self.head {
            Some(env) => upsert_address_row(tx, "session_heads", &self.name, key_id, env)?,
            None => {
                tx.prepare_cached("DELETE FROM session_heads WHERE address = ?1")?
                    .execute([a])?;
            }
        }
        if self.whole {
            tx.prepare_cached("DELETE FROM session_keys WHERE address = ?1")?
                .execute([a])?;
            match &self.archive {
                Some(env) => upsert_address_row(tx, "session_archives", &self.name, key_id, env)?,
                None => {
                    tx.prepare_cached("DELETE FROM session_archives WHERE address = ?1")?
                        .execute([a])?;
                }
            }
        }
        for op in &self.keys {
            match op {
                RowOp::InsertKey { chain, n, envelope } => {
                    tx.prepare_cached(
                        "INSERT INTO session_keys (address, chain, n, key_id, envelope)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![a, chain, n, key_id, envelope])?;
                }
                RowOp::RemoveKey { chain, n } => {
                    tx.prepare_cached(
                        "DELETE FROM session_keys WHERE address = ?1 AND chain = ?2 AND n = ?3",
                    )?
                    .execute(params![a, chain, n])?;
                }
                RowOp::RemoveBelow { chain, n } => {
                    tx.prepare_cached(
                        "DELETE FROM session_keys WHERE address = ?1 AND chain = ?2 AND n < ?3",
                    )?
                    .execute(params![a, chain, n])?;
                }
                RowOp::RemoveChain { chain } => {
                    tx.prepare_cached(
                        "DELETE FROM session_keys WHERE address = ?1 AND chain = ?2",
                    )?
                    .execute(params![a, chain])?;
                }
            }
        }
        Ok(())
    }
}

fn upsert_address_row(
    conn: &Connection,
    table: &str,
    name: &RecordName,
    key_id: u32,
    env: &[u8],
) -> Result<(), Error> {
    conn.prepare_cached(&format!(
        "INSERT INTO {table} (address, key_id, envelope) VALUES (?1, ?2, ?3)
         ON CONFLICT (address) DO UPDATE SET key_id = excluded.key_id, envelope = excluded.envelope"
    ))?
    .execute(params![name.as_bytes(), key_id, env])?;
    Ok(())
}

fn write_sender_key(
    conn: &Connection,
    sender: &ProtocolAddress,
    distribution_id: DistributionId,
    key_id: u32,
    env: &[u8],
) -> Result<(), Error> {
    conn.prepare_cached(
        "INSERT INTO sender_keys (address, distribution_id, key_id, envelope) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (address, distribution_id) DO UPDATE SET key_id = excluded.key_id, envelope = excluded.envelope",
    )?
    .execute(params![
        RecordName::address(sender).as_bytes(),
        distribution_id.as_bytes(),
        key_id,
        env
    ])?;
    Ok(())
}

/// The address an at-rest address name encodes.
fn parse_address(b: &[u8]) -> Option<ProtocolAddress> {
    let (len, rest) = b.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let (name, rest) = rest.split_at_checked(len)?;
    let device: [u8; 4] = rest.try_into().ok()?;
    Some(ProtocolAddress::new(
        std::str::from_utf8(name).ok()?,
        u32::from_be_bytes(device),
    ))
}

/// A record read from the database (not the cache), as the store trait hands it out.
fn owned<'a, T: Clone>(read: Result<Option<T>, Error>) -> Result<Option<Cow<'a, T>>, StoreError> {
    read.map(|r| r.map(Cow::Owned))
        .map_err(|e| e.to_store_error(false))
}

impl ProtocolStore for SqliteStore {
    fn identity_key_pair(&self) -> Result<&IdentityKeyPair, StoreError> {
        Ok(&self.identity)
    }
    fn local_registration_id(&self) -> Result<u32, StoreError> {
        Ok(self.registration_id)
    }
    fn identity(&self, address: &ProtocolAddress) -> Result<Option<IdentityKey>, StoreError> {
        self.load_identity(address)
            .map_err(|e| e.to_store_error(false))
    }
    fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        direction: Direction,
    ) -> Result<bool, StoreError> {
        let known = self
            .load_identity(address)
            .map_err(|e| e.to_store_error(false))?;
        Ok(match (known, direction, self.policy) {
            (None, _, _) => true,
            (Some(k), _, _) if k == *identity => true,
            (Some(_), Direction::Receiving, ReceivePolicy::AcceptChanges) => true,
            (Some(_), _, _) => false,
        })
    }
    fn session(
        &self,
        address: &ProtocolAddress,
    ) -> Result<Option<Cow<'_, SessionRecord>>, StoreError> {
        if let Some(r) = self.sessions.get(address) {
            return Ok(Some(Cow::Borrowed(r)));
        }
        owned(self.load_session(address))
    }
    fn pre_key(&self, id: PreKeyId) -> Result<Option<Cow<'_, PreKeyRecord>>, StoreError> {
        owned(self.load_by_id(
            "pre_keys",
            RecordKind::PreKey,
            id.0,
            PreKeyRecord::deserialize,
        ))
    }
    fn signed_pre_key(
        &self,
        id: SignedPreKeyId,
    ) -> Result<Option<Cow<'_, SignedPreKeyRecord>>, StoreError> {
        owned(self.load_by_id(
            "signed_pre_keys",
            RecordKind::SignedPreKey,
            id.0,
            SignedPreKeyRecord::deserialize,
        ))
    }
    fn kyber_pre_key(
        &self,
        id: KyberPreKeyId,
    ) -> Result<Option<Cow<'_, KyberPreKeyRecord>>, StoreError> {
        owned(self.load_by_id(
            "kyber_pre_keys",
            RecordKind::KyberPreKey,
            id.0,
            KyberPreKeyRecord::deserialize,
        ))
    }
    fn kyber_pre_key_used(
        &self,
        id: KyberPreKeyId,
        signed_pre_key_id: SignedPreKeyId,
        base_key: &PublicKey,
    ) -> Result<bool, StoreError> {
        self.triple_used(id, signed_pre_key_id, base_key)
            .map_err(|e| e.to_store_error(false))
    }
    fn sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: DistributionId,
    ) -> Result<Option<Cow<'_, SenderKeyRecord>>, StoreError> {
        if let Some(r) = self.sender_keys.get(&(sender.clone(), distribution_id)) {
            return Ok(Some(Cow::Borrowed(r)));
        }
        owned(self.load_sender_key(sender, distribution_id))
    }
    fn commit(&mut self, changes: ChangeSet) -> Result<(), StoreError> {
        self.try_commit(changes).map_err(|e| e.to_store_error(true))
    }
}

impl SqliteStore {
    fn load_by_id<T>(
        &self,
        table: &str,
        kind: RecordKind,
        id: u32,
        decode: fn(&[u8]) -> Result<T, missive::DecodeError>,
    ) -> Result<Option<T>, Error> {
        let env: Option<Vec<u8>> = self
            .conn
            .prepare_cached(&format!("SELECT envelope FROM {table} WHERE id = ?1"))?
            .query_row([id], |r| r.get(0))
            .optional()?;
        let Some(env) = env else { return Ok(None) };
        let plain = open_record(&self.key, kind, &RecordName::id(id), &env)?;
        Ok(Some(parse(kind, decode(&plain))?))
    }
}

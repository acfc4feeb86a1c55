//! The schema, its version (`PRAGMA user_version`) and the migrations between versions.
//!
//! Every table that holds a record keeps it as an envelope (`missive::store::at_rest`)
//! and the id of the storage key that sealed it (`key_id`, also in the envelope's header:
//! the column lets a rotation find the rows it has not done yet). Row keys are what the
//! protocol looks records up by: an address in the at-rest name encoding, a prekey id, a
//! chain and message counter. docs/PROTOCOL.md §13.3 describes each table.

use rusqlite::{Connection, Transaction};

use crate::Error;

/// The schema version this crate writes.
pub const SCHEMA_VERSION: u32 = 1;

/// Migrations: `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`, in one
/// transaction with the version update (a migration interrupted by a crash is not
/// half-applied).
const MIGRATIONS: &[&str] = &[
    // 0 → 1: the first schema.
    "
    CREATE TABLE store_meta (
        name  TEXT PRIMARY KEY NOT NULL,
        value BLOB NOT NULL
    );
    CREATE TABLE local_identity (
        id       INTEGER PRIMARY KEY CHECK (id = 1),
        key_id   INTEGER NOT NULL,
        envelope BLOB NOT NULL
    );
    CREATE TABLE identities (
        address  BLOB PRIMARY KEY NOT NULL,
        key_id   INTEGER NOT NULL,
        envelope BLOB NOT NULL
    );
    CREATE TABLE pre_keys (
        id       INTEGER PRIMARY KEY NOT NULL,
        key_id   INTEGER NOT NULL,
        envelope BLOB NOT NULL
    );
    CREATE TABLE signed_pre_keys (
        id       INTEGER PRIMARY KEY NOT NULL,
        key_id   INTEGER NOT NULL,
        envelope BLOB NOT NULL
    );
    CREATE TABLE kyber_pre_keys (
        id       INTEGER PRIMARY KEY NOT NULL,
        key_id   INTEGER NOT NULL,
        envelope BLOB NOT NULL
    );
    CREATE TABLE kyber_used (
        kyber_id  INTEGER NOT NULL,
        signed_id INTEGER NOT NULL,
        base_key  BLOB NOT NULL,
        PRIMARY KEY (kyber_id, signed_id, base_key)
    ) WITHOUT ROWID;
    CREATE TABLE session_heads (
        address  BLOB PRIMARY KEY NOT NULL,
        key_id   INTEGER NOT NULL,
        envelope BLOB NOT NULL
    );
    CREATE TABLE session_keys (
        address  BLOB NOT NULL,
        chain    BLOB NOT NULL,
        n        INTEGER NOT NULL,
        key_id   INTEGER NOT NULL,
        envelope BLOB NOT NULL,
        PRIMARY KEY (address, chain, n)
    ) WITHOUT ROWID;
    CREATE TABLE session_archives (
        address  BLOB PRIMARY KEY NOT NULL,
        key_id   INTEGER NOT NULL,
        envelope BLOB NOT NULL
    );
    CREATE TABLE sender_keys (
        address         BLOB NOT NULL,
        distribution_id BLOB NOT NULL,
        key_id          INTEGER NOT NULL,
        envelope        BLOB NOT NULL,
        PRIMARY KEY (address, distribution_id)
    );
    ",
];

/// The schema version of the database.
pub fn version(conn: &Connection) -> Result<u32, Error> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// Brings the schema to [`SCHEMA_VERSION`], one transaction per step; refuses a
/// database written by a newer version.
pub fn migrate(conn: &mut Connection) -> Result<(), Error> {
    loop {
        let v = version(conn)?;
        if v == SCHEMA_VERSION {
            return Ok(());
        }
        let Some(step) = usize::try_from(v).ok().and_then(|i| MIGRATIONS.get(i)) else {
            return Err(Error::SchemaTooNew { found: v });
        };
        let tx = Transaction::new(conn, rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", v + 1)?;
        tx.commit()?;
    }
}

/// The tables whose rows are envelopes, with their row key columns: what a rotation and
/// a full verification walk.
pub const SEALED_TABLES: &[&str] = &[
    "local_identity",
    "identities",
    "pre_keys",
    "signed_pre_keys",
    "kyber_pre_keys",
    "session_heads",
    "session_keys",
    "session_archives",
    "sender_keys",
];

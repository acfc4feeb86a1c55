//! The errors of the SQLite store, and how they reach the protocol as [`StoreError`]s.

use core::fmt;

use missive::store::at_rest::{OpenError, RecordKind};
use missive::{DecodeError, StoreError};

/// The [`StoreError::code`] of a record that failed to open (damaged, moved, under
/// another key): see [`Error::Record`].
pub const CODE_RECORD_UNAUTHENTIC: i64 = -1;
/// The [`StoreError::code`] of a record that opened but does not parse.
pub const CODE_RECORD_MALFORMED: i64 = -2;
/// The [`StoreError::code`] of the OS random number generator failing.
pub const CODE_RNG: i64 = -3;

/// Why a store operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// SQLite failed (the disk is full, the file is locked by another process, I/O).
    Sqlite(rusqlite::Error),
    /// A record failed to open: damaged, moved to another address or kind, or under
    /// another key. Nothing was changed.
    Record {
        /// What the record is.
        kind: RecordKind,
        /// Why it failed.
        error: OpenError,
    },
    /// A record opened but is not a valid record of its kind.
    Malformed {
        /// What the record is.
        kind: RecordKind,
        /// Why it does not parse.
        error: DecodeError,
    },
    /// The database is under storage key `database`, not the key given (`given`).
    WrongKey {
        /// The id of the key the database is under.
        database: u32,
        /// The id of the key given.
        given: u32,
    },
    /// The key given has the database's key id but is another key.
    KeyMismatch {
        /// The key id.
        key_id: u32,
    },
    /// A key rotation from `from` to `to` was interrupted: open with both keys
    /// ([`crate::Options::previous_key`]) and it completes.
    RotationPending {
        /// The old key's id.
        from: u32,
        /// The new key's id.
        to: u32,
    },
    /// The new key of a rotation has the id of the current one.
    SameKeyId,
    /// No store was created at this path ([`crate::Options::create`]).
    NotInitialized,
    /// A store already exists at this path.
    AlreadyInitialized,
    /// The schema is newer than this version of the crate reads.
    SchemaTooNew {
        /// The schema version found.
        found: u32,
    },
    /// The OS random number generator failed.
    Rng,
    /// The change set no longer fits the store (it was computed from other records).
    Conflict,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Sqlite(e) => write!(f, "sqlite: {e}"),
            Error::Record { kind, error } => write!(f, "{kind:?} record: {error}"),
            Error::Malformed { kind, error } => write!(f, "{kind:?} record malformed: {error}"),
            Error::WrongKey { database, given } => write!(
                f,
                "the database is under storage key {database}, not key {given}"
            ),
            Error::KeyMismatch { key_id } => write!(
                f,
                "the storage key given has id {key_id} but is not the database's key {key_id}"
            ),
            Error::RotationPending { from, to } => write!(
                f,
                "a rotation from storage key {from} to {to} was interrupted: open with both keys to complete it"
            ),
            Error::SameKeyId => write!(f, "the new storage key has the current key's id"),
            Error::NotInitialized => write!(f, "no store at this path"),
            Error::AlreadyInitialized => write!(f, "a store already exists at this path"),
            Error::SchemaTooNew { found } => {
                write!(f, "schema version {found} is newer than this crate reads")
            }
            Error::Rng => write!(f, "the OS random number generator failed"),
            Error::Conflict => write!(f, "the change set no longer fits the store"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Sqlite(e) => Some(e),
            Error::Record { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Sqlite(e)
    }
}

impl Error {
    /// The error as the protocol sees it: a read or write [`StoreError`] whose code is
    /// SQLite's extended result code, or one of [`CODE_RECORD_UNAUTHENTIC`],
    /// [`CODE_RECORD_MALFORMED`], [`CODE_RNG`].
    pub fn to_store_error(&self, writing: bool) -> StoreError {
        let base = if writing {
            StoreError::write()
        } else {
            StoreError::read()
        };
        match self {
            Error::Sqlite(e) => match e.sqlite_error() {
                Some(code) => base.with_code(i64::from(code.extended_code)),
                None => base,
            },
            Error::Record { .. } => base.with_code(CODE_RECORD_UNAUTHENTIC),
            Error::Malformed { .. } => base.with_code(CODE_RECORD_MALFORMED),
            Error::Rng => base.with_code(CODE_RNG),
            Error::Conflict => StoreError::conflict(),
            _ => base,
        }
    }
}

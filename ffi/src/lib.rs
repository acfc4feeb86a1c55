//! # missive-ffi: the C API of missive
//!
//! Every `missive_*` function here is exported with the C ABI; `include/missive.h` is
//! generated from this crate by cbindgen (`ffi/cbindgen.toml`) and is the reference for
//! C callers: its top comment explains the conventions (ownership, errors, threads) and
//! the state model, and every function's comment is the documentation below.
//!
//! **State model: records in, one change set out.** No callbacks into the caller's
//! storage. Before an operation the caller loads the records it needs into a
//! `MissiveRecords` (for a prekey message, `missive_prekey_message_needs` says which
//! prekeys); the operation runs the core's [`missive::Device`] on a store that lends
//! those records and captures the operation's one [`missive::ChangeSet`] instead of
//! writing it; the caller gets it as a `MissiveChanges` (new record bytes, the prekey to
//! delete, the Kyber prekey use to remember, the identity to save) and persists all of
//! it in one transaction.
//!
//! This is the only crate of the workspace with `unsafe` code: it is confined to the
//! boundary helpers in `boundary.rs` (pointers and lengths to references and slices,
//! handles in and out) and the buffer and RNG glue, each block with its reason.

// In the order of the header: conventions first, then the families.
mod boundary;
mod buffer;
mod bundle;
mod changes;
mod device;
mod fingerprint;
mod group;
mod keys;
mod records;
mod rng;
mod session;
mod status;

pub use boundary::MissiveAddress;
pub use buffer::*;
pub use bundle::*;
pub use changes::*;
pub use device::*;
pub use fingerprint::*;
pub use group::*;
pub use keys::*;
pub use records::*;
pub use rng::*;
pub use session::*;
pub use status::*;

use core::ffi::c_char;

/// The major version of this library (the `missive-ffi` crate).
pub const MISSIVE_VERSION_MAJOR: u32 = 0;
/// The minor version of this library.
pub const MISSIVE_VERSION_MINOR: u32 = 1;
/// The patch version of this library.
pub const MISSIVE_VERSION_PATCH: u32 = 0;

/// The library's version as "MAJOR.MINOR.PATCH", a static NUL-terminated string (never
/// free it). Compare it with the `MISSIVE_VERSION_*` macros of the header you compiled
/// against to detect a header/library mismatch.
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn missive_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    VERSION.as_ptr().cast()
}

/// Message type of a `SignalMessage` (libsignal's `CiphertextMessageType::Whisper`).
pub const MISSIVE_MESSAGE_WHISPER: u32 = 2;
/// Message type of a `PreKeySignalMessage`.
pub const MISSIVE_MESSAGE_PREKEY: u32 = 3;
/// Message type of a group (`SenderKeyMessage`) message, as libsignal numbers it.
pub const MISSIVE_MESSAGE_SENDER_KEY: u32 = 7;

/// Length of a serialized public key (identity key, prekey, base key): a type byte and
/// 32 bytes.
pub const MISSIVE_PUBLIC_KEY_LEN: usize = 33;
/// Length of an XEdDSA signature.
pub const MISSIVE_SIGNATURE_LEN: usize = 64;
/// Length of a serialized Kyber1024 public key: a type byte and 1568 bytes.
pub const MISSIVE_KYBER_PUBLIC_KEY_LEN: usize = 1569;
/// Length of a distribution id (a UUID's 16 bytes).
pub const MISSIVE_DISTRIBUTION_ID_LEN: usize = 16;
/// Length of a safety number's displayable digits, without the terminating NUL.
pub const MISSIVE_FINGERPRINT_DISPLAY_LEN: usize = 60;
/// The longest address name accepted, in bytes.
pub const MISSIVE_MAX_NAME_LEN: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_constants_match_the_crate_version() {
        let v = format!("{MISSIVE_VERSION_MAJOR}.{MISSIVE_VERSION_MINOR}.{MISSIVE_VERSION_PATCH}");
        assert_eq!(v, env!("CARGO_PKG_VERSION"));
        // SAFETY: missive_version returns a static NUL-terminated string.
        let s = unsafe { core::ffi::CStr::from_ptr(missive_version()) };
        assert_eq!(s.to_str(), Ok(v.as_str()));
    }

    /// The thread-safety the header states: handles are only read by operations, so any
    /// number of threads may share one (and move it between threads).
    #[test]
    fn handles_are_send_and_sync() {
        fn shared<T: Send + Sync>() {}
        shared::<MissiveIdentityKeyPair>();
        shared::<MissivePreKeyRecord>();
        shared::<MissiveSignedPreKeyRecord>();
        shared::<MissiveKyberPreKeyRecord>();
        shared::<MissivePreKeyBundle>();
        shared::<MissiveDevice>();
        shared::<MissiveRecords>();
        shared::<MissiveChanges>();
        shared::<MissiveDecrypted>();
        shared::<MissiveSessionRecord>();
        shared::<MissiveFingerprint>();
    }

    #[test]
    fn lengths_match_the_core() {
        assert_eq!(
            MISSIVE_PUBLIC_KEY_LEN,
            missive::crypto::PublicKey::SERIALIZED_LEN
        );
        assert_eq!(
            MISSIVE_KYBER_PUBLIC_KEY_LEN,
            missive::crypto::KemPublicKey::SERIALIZED_LEN
        );
        assert_eq!(MISSIVE_SIGNATURE_LEN, missive::keys::SIGNATURE_LEN);
        assert_eq!(
            MISSIVE_FINGERPRINT_DISPLAY_LEN,
            missive::fingerprint::DISPLAY_LEN
        );
    }
}

//! # missive
//!
//! A clean-room, `no_std` implementation of the Signal protocol, wire-compatible with
//! libsignal: PQXDH (v4) and X3DH (v3) session set-up and the Double Ratchet with the SPQR
//! chain (the post-quantum half of Signal's triple ratchet).
//!
//! The core is sans-IO: the caller passes the random number generator, the current time
//! and its stores. Nothing here reads a clock, an OS RNG, a file or a socket.
//!
//! **SPQR stage.** missive frames and keys every v4 message with SPQR's symmetric chain,
//! exactly as libsignal does, but it never advances the ML-KEM braid: it always sends
//! `None` at epoch 1, and it parses and validates the peer's braid chunks without acting
//! on them. That interoperates with libsignal, but it gives **no post-quantum healing**
//! after a compromise. See `SECURITY.md`.

#![no_std]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::todo,
        clippy::unimplemented,
        clippy::unreachable,
        clippy::indexing_slicing
    )
)]
#![warn(missing_debug_implementations)]
// Without `alloc` only keys, XEdDSA, KEM and the message parsers' building blocks are
// compiled; helpers that serve the session code alone are then unused.
#![cfg_attr(not(feature = "alloc"), allow(dead_code))]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod crypto;
mod error;

pub use error::{DecodeError, Error, MisuseError, ProtocolError, StoreError};

#[cfg(feature = "alloc")]
mod address;
#[cfg(feature = "alloc")]
mod handshake;
pub mod keys;
#[cfg(feature = "alloc")]
pub(crate) mod ratchet;
#[cfg(feature = "alloc")]
pub mod session;
#[cfg(feature = "alloc")]
pub mod store;
pub mod wire;

#[cfg(feature = "alloc")]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;

#[cfg(feature = "alloc")]
pub use address::ProtocolAddress;
pub use keys::{IdentityKey, IdentityKeyPair};
#[cfg(feature = "alloc")]
pub use keys::{
    KyberPreKeyId, KyberPreKeyRecord, PreKeyBundle, PreKeyId, PreKeyRecord, SignedPreKeyId,
    SignedPreKeyRecord,
};
#[cfg(feature = "alloc")]
pub use ratchet::chain::{MAX_FORWARD_JUMP, MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS_PER_CHAIN};
#[cfg(feature = "alloc")]
pub use session::{
    DEFAULT_MAX_ARCHIVED_SESSIONS, MAX_UNACKNOWLEDGED_SESSION_AGE_MS, SessionRecord, Timestamp,
    decrypt_legacy_prekey_message, decrypt_prekey_message, decrypt_signal_message, encrypt,
    process_legacy_prekey_bundle, process_prekey_bundle,
};
#[cfg(feature = "alloc")]
pub use wire::{CiphertextMessage, CiphertextMessageType, PreKeySignalMessage, SignalMessage};

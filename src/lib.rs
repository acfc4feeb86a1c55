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

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod crypto;
mod error;
#[cfg(feature = "alloc")]
pub(crate) mod ratchet;

pub use error::{DecodeError, Error, MisuseError, ProtocolError, StoreError};

//! # missive
//!
//! A clean-room, `no_std` implementation of the Signal protocol, wire-compatible with
//! libsignal: PQXDH (v4) and X3DH (v3) session set-up, the Double Ratchet with the SPQR
//! chain (the post-quantum half of Signal's triple ratchet), and sender-key groups
//! ([`group`]).
//!
//! The core is sans-IO: the caller passes the random number generator, the current time
//! and its stores. Nothing here reads a clock, an OS RNG, a file or a socket.
//!
//! # The shape of the API
//!
//! A [`Device`] holds our address, a [`ProtocolStore`] and a [`Config`]; every protocol
//! operation is one of its methods. Each operation reads what it needs, computes, and
//! then commits every write it makes (session, identity, consumed prekeys, sender keys)
//! as one [`ChangeSet`] in one call to [`ProtocolStore::commit`], which a store makes
//! atomic. If anything fails, the store included, every record is as it was.
//!
//! # Example: a v4 session
//!
//! ```
//! use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
//! use missive::*;
//! use rand_core::SeedableRng;
//!
//! # fn main() -> Result<(), missive::Error> {
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1); // an app passes its OS RNG
//! let now = Timestamp::from_millis(1_780_000_000_000);
//! let alice_at = ProtocolAddress::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1);
//! let bob_at = ProtocolAddress::new("796abedb-ca4e-4f18-8803-1fde5b921f9f", 1);
//! let new_store = |rng: &mut _, reg| InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), reg);
//! let mut alice = Device::new(alice_at.clone(), new_store(&mut rng, 11));
//! let mut bob = Device::new(bob_at.clone(), new_store(&mut rng, 22));
//!
//! // Bob publishes a bundle: a signed prekey and a signed Kyber prekey.
//! let bundle = bob.store_mut().generate_bundle(&BundleSpec::new(1), 1, now, &mut rng);
//!
//! // Alice runs PQXDH and writes first.
//! alice.process_prekey_bundle(&bob_at, &bundle, now, &mut rng)?;
//! let msg = alice.encrypt(&bob_at, b"hello", now, &mut rng)?;
//! // What goes on the wire: msg.message_type() and msg.serialize().
//!
//! // Bob receives a prekey message and answers on the new session.
//! let got = bob.decrypt(&alice_at, msg.message_type(), msg.serialize(), &mut rng)?;
//! assert_eq!(got.plaintext, b"hello");
//! assert_eq!(got.identity_change, IdentityChange::New); // trust on first use
//! let reply = bob.encrypt(&alice_at, b"hi", now, &mut rng)?;
//! let got = alice.decrypt(&bob_at, reply.message_type(), reply.serialize(), &mut rng)?;
//! assert_eq!(got.plaintext, b"hi");
//! # Ok(())
//! # }
//! ```
//!
//! **Post-quantum healing.** missive keys every v4 message with SPQR's chain, exactly as
//! libsignal does, and runs the ML-KEM-768 braid that renews it: each message carries one
//! chunk of an exchange, and every completed exchange starts a new epoch, so that after a
//! compromise of a session's state the messages of the epoch after next are out of the
//! attacker's reach even if it breaks X25519. Sessions whose records predate the SPQR
//! auth key stay at epoch 1 without this healing until replaced. See `SECURITY.md`.

#![no_std]
#![forbid(unsafe_code)]
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

pub use error::{
    CertificateError, DecodeError, Error, FingerprintError, MisuseError, ProtocolError,
    SealedError, StoreError, StoreErrorKind,
};

#[cfg(feature = "alloc")]
mod address;
#[cfg(feature = "alloc")]
mod device;
pub mod fingerprint;
#[cfg(feature = "alloc")]
pub mod group;
#[cfg(feature = "alloc")]
mod handshake;
#[cfg(all(feature = "hazmat", feature = "alloc"))]
pub mod hazmat;
pub mod keys;
#[cfg(feature = "alloc")]
pub(crate) mod ratchet;
#[cfg(feature = "alloc")]
pub mod sealed;
#[cfg(feature = "alloc")]
pub mod session;
#[cfg(feature = "alloc")]
pub mod store;
pub mod wire;

#[cfg(all(feature = "alloc", feature = "fuzzing-hooks"))]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;

#[cfg(feature = "alloc")]
pub use address::ProtocolAddress;
#[cfg(feature = "alloc")]
pub use device::{Config, Device, SealedDecrypted, SealedMessage};
pub use fingerprint::{DisplayableFingerprint, Fingerprint, ScannableFingerprint};
#[cfg(feature = "alloc")]
pub use group::{
    DistributionId, MAX_SENDER_KEY_FORWARD_JUMP, MAX_SENDER_KEY_STATES, MAX_SENDER_MESSAGE_KEYS,
    SenderKeyChange, SenderKeyDistributionMessage, SenderKeyMessage, SenderKeyRecord,
};
pub use keys::{IdentityKey, IdentityKeyPair};
#[cfg(feature = "alloc")]
pub use keys::{
    KyberPreKeyId, KyberPreKeyLifetime, KyberPreKeyRecord, PreKeyBundle, PreKeyId, PreKeyRecord,
    SignedPreKeyId, SignedPreKeyRecord,
};
#[cfg(feature = "alloc")]
pub use ratchet::chain::{MAX_FORWARD_JUMP, MAX_RECEIVER_CHAINS, MAX_SKIPPED_KEYS_PER_CHAIN};
#[cfg(feature = "alloc")]
pub use session::{
    DEFAULT_MAX_ARCHIVED_SESSIONS, Decrypted, MAX_UNACKNOWLEDGED_SESSION_AGE_MS,
    MESSAGE_WORK_BUDGET, Sender, SessionChange, SessionRecord, Timestamp,
};
#[cfg(feature = "alloc")]
pub use store::{ChangeSet, IdentityChange, ProtocolStore};
#[cfg(feature = "alloc")]
pub use wire::{CiphertextMessage, CiphertextMessageType, PreKeySignalMessage, SignalMessage};

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
//! # Example: a v4 session
//!
//! ```
//! use missive::crypto::KemKeyType;
//! use missive::store::memory::InMemSignalProtocolStore;
//! use missive::store::{KyberPreKeyStore, SignedPreKeyStore};
//! use missive::*;
//! use rand_core::SeedableRng;
//!
//! # fn main() -> Result<(), missive::Error> {
//! let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1); // an app passes its OS RNG
//! let now = Timestamp::from_millis(1_780_000_000_000);
//! let alice = ProtocolAddress::new("9d0652a3-dcc3-4d11-975f-74d61598733f", 1);
//! let bob = ProtocolAddress::new("796abedb-ca4e-4f18-8803-1fde5b921f9f", 1);
//! let mut a = InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 11);
//! let bob_id = IdentityKeyPair::generate(&mut rng);
//! let mut b = InMemSignalProtocolStore::new(bob_id.clone(), 22);
//!
//! // Bob publishes a bundle: a signed prekey and a signed Kyber prekey.
//! let spk = SignedPreKeyRecord::generate(SignedPreKeyId(1), now.as_millis(), &bob_id, &mut rng);
//! let kyber = KyberPreKeyRecord::generate(
//!     KemKeyType::Kyber1024, KyberPreKeyId(1), now.as_millis(), true, &bob_id, &mut rng);
//! b.signed_pre_key_store.save_signed_pre_key(&spk)?;
//! b.kyber_pre_key_store.save_kyber_pre_key(&kyber)?;
//! let bundle = PreKeyBundle::new(
//!     22, 1, None, spk.id(), *spk.public_key(), spk.signature().to_vec(),
//!     *bob_id.identity_key(),
//!     Some((kyber.id(), kyber.public_key().clone(), kyber.signature().to_vec())),
//! );
//!
//! // Alice runs PQXDH and writes first.
//! process_prekey_bundle(&bundle, &bob, &mut a.session_store, &mut a.identity_store, now, &mut rng)?;
//! let msg = encrypt(b"hello", &bob, &alice, &mut a.session_store, &mut a.identity_store, now, &mut rng)?;
//! let bytes = msg.serialize().to_vec(); // what goes on the wire, with msg.message_type()
//!
//! // Bob receives a prekey message and answers on the new session.
//! let received = PreKeySignalMessage::deserialize(&bytes)?;
//! let plaintext = decrypt_prekey_message(
//!     &received, &alice, &bob, &mut b.session_store, &mut b.identity_store,
//!     &mut b.pre_key_store, &b.signed_pre_key_store, &mut b.kyber_pre_key_store, &mut rng)?;
//! assert_eq!(plaintext, b"hello");
//! let reply = encrypt(b"hi", &alice, &bob, &mut b.session_store, &mut b.identity_store, now, &mut rng)?;
//! let reply = SignalMessage::deserialize(reply.serialize())?;
//! let plaintext = decrypt_signal_message(
//!     &reply, &bob, &alice, &mut a.session_store, &mut a.identity_store, &mut rng)?;
//! assert_eq!(plaintext, b"hi");
//! # Ok(())
//! # }
//! ```
//!
//! **SPQR stage.** missive frames and keys every v4 message with SPQR's symmetric chain,
//! exactly as libsignal does, but it never advances the ML-KEM braid: it always sends
//! `None` at epoch 1, and it parses and validates the peer's braid chunks without acting
//! on them. That interoperates with libsignal, but it gives **no post-quantum healing**
//! after a compromise. See `SECURITY.md`.

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

pub use error::{DecodeError, Error, FingerprintError, MisuseError, ProtocolError, StoreError};

#[cfg(feature = "alloc")]
mod address;
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

#[cfg(feature = "alloc")]
#[doc(hidden)]
#[path = "fuzz.rs"]
pub mod __fuzz;

#[cfg(feature = "alloc")]
pub use address::ProtocolAddress;
pub use fingerprint::{DisplayableFingerprint, Fingerprint, ScannableFingerprint};
#[cfg(feature = "alloc")]
pub use group::{
    DistributionId, MAX_SENDER_KEY_FORWARD_JUMP, MAX_SENDER_KEY_STATES, MAX_SENDER_MESSAGE_KEYS,
    SenderKeyDistributionMessage, SenderKeyMessage, SenderKeyRecord,
    create_sender_key_distribution_message, distribute_sender_key, group_decrypt,
    group_decrypt_batch, group_encrypt, process_sender_key_distribution_message, rotate_sender_key,
};
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

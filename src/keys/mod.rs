//! Long-term and medium-term keys: identity, one-time EC prekeys, signed EC prekeys,
//! Kyber prekeys, and the bundle a server hands out.
//!
//! Every record serializes to `format version (1) ‖ protobuf` and back; the format is
//! missive's own (libsignal's records are not a wire format) and is documented in
//! `docs/PROTOCOL.md`.

#[cfg(feature = "alloc")]
mod bundle;
mod identity;
#[cfg(feature = "alloc")]
mod prekey;

#[cfg(feature = "alloc")]
pub use bundle::PreKeyBundle;
pub use identity::{IdentityKey, IdentityKeyPair};
#[cfg(feature = "alloc")]
pub use prekey::{
    KyberPreKeyId, KyberPreKeyLifetime, KyberPreKeyRecord, PreKeyId, PreKeyRecord, SignedPreKeyId,
    SignedPreKeyRecord,
};

/// Length of an XEdDSA signature.
pub const SIGNATURE_LEN: usize = 64;

#[cfg(all(test, feature = "alloc"))]
mod tests;

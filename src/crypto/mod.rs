//! Thin wrappers, one per primitive, over the crates that do the real work
//! (dalek, libcrux, RustCrypto). Everything above this module speaks these types.

#[cfg(feature = "alloc")]
pub(crate) mod aes_cbc;
pub(crate) mod kdf;
pub mod kem;
pub mod x25519;
pub mod xeddsa;

pub use kem::{KemCiphertext, KemKeyPair, KemKeyType, KemPublicKey, KemSecretKey};
pub use x25519::{KeyPair, PrivateKey, PublicKey};

//! The ML-KEM braid (signal.org/docs/specifications/mlkembraid): the public half of SPQR
//! that gives the triple ratchet new post-quantum epoch secrets.
//!
//! Everything here follows what was established by observing libsignal-client 0.103.0
//! (evidence in `docs/notes/spqr-braid.md`) and Signal's published specification; the
//! session side (epochs, chains, stored keys, records) is in [`super::spqr`].
//!
//! # What travels, and in how many 32-byte chunks
//! ```text
//! stream  sender      value                                       bytes  chunks (k)
//! Hdr     ek-sender   rho (32) ‖ H(ek) (32) ‖ header MAC (32)        96     3
//! Ek      ek-sender   ek_vector (the encapsulation key minus rho)  1152    36
//! Ct1     ct-sender   ct1 (ML-KEM-768 ciphertext part u)            960    30
//! Ct2     ct-sender   ct2 (part v, 128) ‖ ciphertext MAC (32)       160     5
//! ```
//! Each value is erasure-coded ([`erasure`]): chunk `i < k` is the raw 32 bytes
//! `value[32 i .. 32 i + 32]`, and every further chunk is redundancy, so the receiver
//! decodes from any `k` distinct chunk indices.
//!
//! [`kdf`] holds the key schedule (authenticator, MACs, epoch secret, Add Epoch), [`kem`]
//! the incremental ML-KEM-768 steps, and [`machine`] the state machine of both roles.

pub(crate) mod erasure;
pub(crate) mod kdf;
pub(crate) mod kem;
pub(crate) mod machine;

/// Length of the encapsulation-key header with its MAC: rho ‖ H(ek) ‖ MAC.
pub(crate) const HDR_LEN: usize = 96;
// The encapsulation-key vector and the first ciphertext part travel as they are:
// their lengths are `kem::EK_LEN` (1,152) and `kem::CT1_LEN` (960).
/// Length of the second ciphertext part (ML-KEM-768 `c2`, dv = 4) with its MAC.
pub(crate) const CT2_LEN: usize = 160;

//! The Double Ratchet (signal.org/docs/specifications/doubleratchet): root, chain and
//! message keys, receiving chains with their skipped keys; and the SPQR chain.

/// The ML-KEM braid: SPQR's post-quantum key exchange, run inside the SPQR field.
pub(crate) mod braid;
pub(crate) mod chain;
pub(crate) mod keys;
pub(crate) mod skipped;
pub(crate) mod spqr;

//! The Double Ratchet (signal.org/docs/specifications/doubleratchet): root, chain and
//! message keys, receiving chains with their skipped keys; and the SPQR chain.

pub(crate) mod chain;
pub(crate) mod keys;
pub(crate) mod skipped;
pub(crate) mod spqr;
// The ML-KEM braid (issue 11): building blocks only, not wired into the session yet.
#[allow(dead_code)]
pub(crate) mod braid;

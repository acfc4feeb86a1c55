//! The Double Ratchet (signal.org/docs/specifications/doubleratchet): root, chain and
//! message keys, receiving chains with their skipped keys; and the SPQR chain.

pub(crate) mod chain;
pub(crate) mod keys;
pub(crate) mod skipped;
pub(crate) mod spqr;

//! The Double Ratchet and its post-quantum companion, SPQR.

// Nothing outside this module calls SPQR until the session code is wired to it.
#[allow(dead_code)]
pub(crate) mod spqr;

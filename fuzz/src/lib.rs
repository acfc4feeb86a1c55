//! The checks behind missive's fuzz targets, shared by the targets (`fuzz_targets/`) and
//! by missive's `tests/fuzz_corpus.rs`, which includes this file as a module and replays
//! every committed corpus file through the same functions.
//!
//! Every check asserts an invariant, not just the absence of a panic:
//! * decoders: what decodes re-encodes to a canonical form that decodes to the same
//!   value (and, for the exact formats, re-encodes to the input itself);
//! * stateful targets: an honest message delivered for the first time decrypts to what
//!   was sent; every call that fails leaves every record byte-identical.
//!
//! Randomness comes from a ChaCha RNG seeded by the input, through the caller-RNG
//! parameters that missive's API already has: no `cfg(fuzzing)` code is needed in the
//! library.
//!
//! Paths are explicit so that the file works both as a crate root and as a module.

#[path = "braid.rs"]
pub mod braid;
#[path = "conversation.rs"]
pub mod conversation;
#[path = "decoders.rs"]
pub mod decoders;
#[path = "group.rs"]
pub mod group;
#[path = "party.rs"]
pub mod party;
#[path = "sealed.rs"]
pub mod sealed;
#[path = "seeds.rs"]
pub mod seeds;

/// A check: panics when the input breaks an invariant.
pub type Check = fn(&[u8]);

/// Every fuzz target, by name, with its check. A target in `fuzz_targets/` missing
/// here, or a target without a committed corpus, fails `tests/fuzz_corpus.rs`.
pub const TARGETS: &[(&str, Check)] = &[
    ("signal_message", decoders::signal_message),
    ("prekey_signal_message", decoders::prekey_signal_message),
    ("public_key", decoders::public_key),
    ("kem_key", decoders::kem_key),
    ("prekey_bundle", decoders::prekey_bundle),
    ("spqr_field", decoders::spqr_field),
    ("spqr_state", decoders::spqr_state),
    ("braid_chunks", braid::braid_chunks),
    ("braid_state", braid::braid_state),
    ("identity_key_pair", decoders::identity_key_pair),
    ("prekey_record", decoders::prekey_record),
    ("signed_prekey_record", decoders::signed_prekey_record),
    ("kyber_prekey_record", decoders::kyber_prekey_record),
    ("session_record", decoders::session_record),
    ("conversation", conversation::conversation),
    ("handshake", conversation::handshake),
    ("sender_key_message", decoders::sender_key_message),
    (
        "sender_key_distribution_message",
        decoders::sender_key_distribution_message,
    ),
    ("sender_key_record", decoders::sender_key_record),
    ("group_conversation", group::group_conversation),
    ("sealed_certificate", sealed::sealed_certificate),
    ("sealed_v1", sealed::sealed_v1),
    ("sealed_v2", sealed::sealed_v2),
    ("sealed_v2_cut", sealed::sealed_v2_cut),
    ("mixed", group::mixed),
];

//! Empty: the checks are in `tests/`. See `tests/zeroize_on_drop.rs`.

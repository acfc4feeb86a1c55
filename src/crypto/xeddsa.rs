//! XEdDSA signatures over Curve25519 keys, in libsignal's variant.
//! (Being written: see the issue notes.)

//! Wire formats of the 1:1 messages.
//!
//! ```text
//! SignalMessage        = version ‖ protobuf ‖ MAC (8)
//! PreKeySignalMessage  = version ‖ protobuf            (no outer MAC)
//! version              = (message version << 4) | current version   (0x33, 0x44)
//! ```
//!
//! | SignalMessage field | number | | PreKeySignalMessage field | number |
//! |---|---|---|---|---|
//! | ratchet_key (33 B) | 1 | | pre_key_id (optional) | 1 |
//! | counter | 2 | | base_key (33 B) | 2 |
//! | previous_counter | 3 | | identity_key (33 B) | 3 |
//! | ciphertext | 4 | | message (a whole SignalMessage) | 4 |
//! | pq_ratchet (omitted when empty) | 5 | | registration_id | 5 |
//! | addresses (optional, 36 B) | 6 | | signed_pre_key_id | 6 |
//! | | | | kyber_pre_key_id (v4) | 7 |
//! | | | | kyber_ciphertext (v4) | 8 |

pub(crate) mod proto;

#[cfg(feature = "alloc")]
pub(crate) mod message;

#[cfg(feature = "alloc")]
pub use message::{CiphertextMessage, CiphertextMessageType, PreKeySignalMessage, SignalMessage};

use crate::error::DecodeError;

/// The protocol version of PQXDH sessions.
pub const VERSION_PQXDH: u8 = 4;
/// The protocol version of X3DH sessions.
pub const VERSION_X3DH: u8 = 3;
/// The newest version this library speaks.
pub const CURRENT_VERSION: u8 = VERSION_PQXDH;

/// Length of the truncated MAC that ends a SignalMessage.
pub const MAC_LEN: usize = 8;

/// Length of the `addresses` field: sender service id (17) ‖ sender device (1) ‖
/// recipient service id (17) ‖ recipient device (1).
pub const ADDRESSES_LEN: usize = 36;

/// The version byte for a session version.
pub(crate) const fn version_byte(version: u8) -> u8 {
    (version << 4) | version
}

/// Reads a version byte: the high nibble is the message's version, the low nibble the
/// newest version its sender speaks.
///
/// libsignal looks only at the high nibble. We also require the low nibble to be a
/// version that exists and is not older than the message (0x33, 0x34, 0x44): the outer
/// byte of a prekey message is not covered by any MAC, and this way no bit of it can be
/// flipped unnoticed. Every real peer's messages pass.
pub(crate) fn parse_version(b: u8) -> Result<u8, DecodeError> {
    let v = b >> 4;
    let sender_current = b & 0x0f;
    if v < VERSION_X3DH {
        Err(DecodeError::LegacyVersion)
    } else if v > CURRENT_VERSION || sender_current < v || sender_current > CURRENT_VERSION {
        Err(DecodeError::UnknownVersion)
    } else {
        Ok(v)
    }
}

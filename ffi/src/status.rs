//! Status codes: one `uint32_t` result per call, explicit values that are never reused,
//! and the mapping from the core's errors.

use core::ffi::{CStr, c_char};

use missive::{DecodeError, Error, FingerprintError, MisuseError, ProtocolError, StoreErrorKind};

/// The result of every call that can fail. The values are part of the ABI: they never
/// change and a retired value is never given to another error. `MISSIVE_OK` is 0; every
/// error is non-zero. `missive_error_message` describes any value.
///
/// Ranges: 1-19 the call itself (a caller bug or an environment failure), 20-39 bytes
/// that do not parse, 40-69 the peer's message or bundle does not fit the state, 70-79
/// the records given, 80-89 safety numbers.
///
/// Decryption functions report every protocol error except
/// `MISSIVE_ERROR_UNTRUSTED_IDENTITY` and `MISSIVE_ERROR_LEGACY_REFUSED` as
/// `MISSIVE_ERROR_DECRYPTION_FAILED`, because the precise reason (a duplicate, a counter
/// too far ahead, an unknown prekey id, a missing session or chain) is decided before the
/// message is authenticated and tells whoever sees it something about our state. Call
/// `missive_device_set_detailed_errors` to get the precise code instead (for logs and
/// tests).
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissiveStatus {
    /// Success.
    MISSIVE_OK = 0,
    /// A pointer that must not be NULL was NULL (or a NULL data pointer came with a
    /// non-zero length).
    MISSIVE_ERROR_NULL_POINTER = 1,
    /// An argument is outside its documented range: an output buffer too small, a
    /// length that is not the one required, an unknown message type or constant, a
    /// misaligned pointer.
    MISSIVE_ERROR_INVALID_ARGUMENT = 2,
    /// An address name is not UTF-8, is empty, or is longer than `MISSIVE_MAX_NAME_LEN`.
    MISSIVE_ERROR_INVALID_NAME = 3,
    /// The operation needs a record that was not put into the `MissiveRecords`: set it,
    /// or declare it absent (a NULL record), before the call.
    MISSIVE_ERROR_RECORD_NOT_LOADED = 4,
    /// The records are not in a state that allows this call (for example a group message
    /// without a sending chain of ours: create a distribution message first).
    MISSIVE_ERROR_INVALID_STATE = 5,
    /// The RNG (the caller's callback, or the operating system's) reported a failure.
    /// Nothing was produced.
    MISSIVE_ERROR_RNG_FAILED = 6,
    /// The RNG keeps returning values already in use (a broken or constant RNG).
    MISSIVE_ERROR_BAD_RNG = 7,
    /// missive panicked: a bug in missive, please report it. The panic was caught; the
    /// call had no effect.
    MISSIVE_ERROR_PANIC = 8,
    /// An error this version of the C API has no code for (a bug in missive-ffi).
    MISSIVE_ERROR_INTERNAL = 9,

    /// Input bytes ended early.
    MISSIVE_ERROR_DECODE_TRUNCATED = 20,
    /// A length or value in the input is outside what its format allows.
    MISSIVE_ERROR_DECODE_BAD_LENGTH = 21,
    /// A type byte (key type, record version) is unknown.
    MISSIVE_ERROR_DECODE_UNKNOWN_TYPE = 22,
    /// A message version older than v3.
    MISSIVE_ERROR_DECODE_LEGACY_VERSION = 23,
    /// A message version newer than this library knows.
    MISSIVE_ERROR_DECODE_UNKNOWN_VERSION = 24,
    /// A malformed encoding (protobuf wire type, trailing or unknown fields).
    MISSIVE_ERROR_DECODE_MALFORMED = 25,
    /// A required field is missing.
    MISSIVE_ERROR_DECODE_MISSING_FIELD = 26,
    /// A public key is not a valid key of its type.
    MISSIVE_ERROR_DECODE_INVALID_KEY = 27,

    /// The message could not be authenticated or decrypted. Deliberately says no more.
    MISSIVE_ERROR_DECRYPTION_FAILED = 40,
    /// The message was already decrypted (detailed errors only).
    MISSIVE_ERROR_DUPLICATE_MESSAGE = 41,
    /// The message's counter is further ahead than the limits allow (detailed errors
    /// only).
    MISSIVE_ERROR_TOO_FAR_IN_FUTURE = 42,
    /// No session with this address (in decryption: detailed errors only).
    MISSIVE_ERROR_NO_SESSION = 43,
    /// The identity is not trusted: sending to an identity other than the stored one,
    /// or receiving from one under `MISSIVE_RECEIVE_REQUIRE_APPROVAL`.
    MISSIVE_ERROR_UNTRUSTED_IDENTITY = 44,
    /// A signature did not verify (a bundle's prekey; a group message's).
    MISSIVE_ERROR_BAD_SIGNATURE = 45,
    /// A Diffie-Hellman output was all zeros.
    MISSIVE_ERROR_NON_CONTRIBUTORY = 46,
    /// A public key is not canonical.
    MISSIVE_ERROR_NON_CANONICAL_KEY = 47,
    /// The one-time prekey the message names is not in the records (detailed errors
    /// only).
    MISSIVE_ERROR_UNKNOWN_PRE_KEY = 48,
    /// The signed prekey the message names is not in the records (detailed errors only).
    MISSIVE_ERROR_UNKNOWN_SIGNED_PRE_KEY = 49,
    /// The Kyber prekey the message names is not in the records (detailed errors only).
    MISSIVE_ERROR_UNKNOWN_KYBER_PRE_KEY = 50,
    /// This (Kyber prekey, signed prekey, base key) triple was already used (detailed
    /// errors only).
    MISSIVE_ERROR_KYBER_PRE_KEY_REUSED = 51,
    /// A v4 prekey message without its Kyber ciphertext.
    MISSIVE_ERROR_MISSING_KYBER_CIPHERTEXT = 52,
    /// A message of the other protocol version than its session.
    MISSIVE_ERROR_VERSION_MISMATCH = 53,
    /// The message's `addresses` field names other parties.
    MISSIVE_ERROR_ADDRESS_MISMATCH = 54,
    /// The post-quantum ratchet field of a v4 message is missing or malformed.
    MISSIVE_ERROR_PQ_RATCHET = 55,
    /// The session is too old to send on (unanswered for too long): process a new
    /// bundle.
    MISSIVE_ERROR_SESSION_EXPIRED = 56,
    /// A v3 (X3DH) bundle or prekey message reached a v4-only entry point.
    MISSIVE_ERROR_LEGACY_REFUSED = 57,
    /// No sender-key chain for this group message (detailed errors only).
    MISSIVE_ERROR_NO_SENDER_KEY_STATE = 58,

    /// The change no longer fits the records it was computed from (a bug: the records
    /// of one operation are never changed under it).
    MISSIVE_ERROR_STORE_CONFLICT = 70,
    /// A write failed (not produced by missive-ffi itself; reserved).
    MISSIVE_ERROR_STORE_WRITE = 71,

    /// The scanned safety number was made with another fingerprint version.
    MISSIVE_ERROR_FINGERPRINT_VERSION_MISMATCH = 80,
    /// The scanned safety number was made from other identities or ids: do not mark the
    /// contact verified.
    MISSIVE_ERROR_FINGERPRINT_IDENTITY_MISMATCH = 81,
}

use MissiveStatus::*;

impl MissiveStatus {
    /// Every status, for lookups by value. Keep in step with the enum (the unit tests
    /// check every listed value maps back, and `message` matches exhaustively).
    pub(crate) const ALL: &[MissiveStatus] = &[
        MISSIVE_OK,
        MISSIVE_ERROR_NULL_POINTER,
        MISSIVE_ERROR_INVALID_ARGUMENT,
        MISSIVE_ERROR_INVALID_NAME,
        MISSIVE_ERROR_RECORD_NOT_LOADED,
        MISSIVE_ERROR_INVALID_STATE,
        MISSIVE_ERROR_RNG_FAILED,
        MISSIVE_ERROR_BAD_RNG,
        MISSIVE_ERROR_PANIC,
        MISSIVE_ERROR_INTERNAL,
        MISSIVE_ERROR_DECODE_TRUNCATED,
        MISSIVE_ERROR_DECODE_BAD_LENGTH,
        MISSIVE_ERROR_DECODE_UNKNOWN_TYPE,
        MISSIVE_ERROR_DECODE_LEGACY_VERSION,
        MISSIVE_ERROR_DECODE_UNKNOWN_VERSION,
        MISSIVE_ERROR_DECODE_MALFORMED,
        MISSIVE_ERROR_DECODE_MISSING_FIELD,
        MISSIVE_ERROR_DECODE_INVALID_KEY,
        MISSIVE_ERROR_DECRYPTION_FAILED,
        MISSIVE_ERROR_DUPLICATE_MESSAGE,
        MISSIVE_ERROR_TOO_FAR_IN_FUTURE,
        MISSIVE_ERROR_NO_SESSION,
        MISSIVE_ERROR_UNTRUSTED_IDENTITY,
        MISSIVE_ERROR_BAD_SIGNATURE,
        MISSIVE_ERROR_NON_CONTRIBUTORY,
        MISSIVE_ERROR_NON_CANONICAL_KEY,
        MISSIVE_ERROR_UNKNOWN_PRE_KEY,
        MISSIVE_ERROR_UNKNOWN_SIGNED_PRE_KEY,
        MISSIVE_ERROR_UNKNOWN_KYBER_PRE_KEY,
        MISSIVE_ERROR_KYBER_PRE_KEY_REUSED,
        MISSIVE_ERROR_MISSING_KYBER_CIPHERTEXT,
        MISSIVE_ERROR_VERSION_MISMATCH,
        MISSIVE_ERROR_ADDRESS_MISMATCH,
        MISSIVE_ERROR_PQ_RATCHET,
        MISSIVE_ERROR_SESSION_EXPIRED,
        MISSIVE_ERROR_LEGACY_REFUSED,
        MISSIVE_ERROR_NO_SENDER_KEY_STATE,
        MISSIVE_ERROR_STORE_CONFLICT,
        MISSIVE_ERROR_STORE_WRITE,
        MISSIVE_ERROR_FINGERPRINT_VERSION_MISMATCH,
        MISSIVE_ERROR_FINGERPRINT_IDENTITY_MISMATCH,
    ];

    /// The status with this value, if there is one.
    pub(crate) fn from_code(code: u32) -> Option<MissiveStatus> {
        Self::ALL.iter().copied().find(|s| *s as u32 == code)
    }

    /// A static, NUL-terminated English description.
    pub(crate) fn message(self) -> &'static CStr {
        match self {
            MISSIVE_OK => c"success",
            MISSIVE_ERROR_NULL_POINTER => c"a required pointer was NULL",
            MISSIVE_ERROR_INVALID_ARGUMENT => c"an argument is outside its documented range",
            MISSIVE_ERROR_INVALID_NAME => c"the address name is empty, too long or not UTF-8",
            MISSIVE_ERROR_RECORD_NOT_LOADED => {
                c"a record the operation needs was not loaded into the MissiveRecords"
            }
            MISSIVE_ERROR_INVALID_STATE => c"the records do not allow this call",
            MISSIVE_ERROR_RNG_FAILED => c"the random number generator failed",
            MISSIVE_ERROR_BAD_RNG => c"the random number generator repeats itself",
            MISSIVE_ERROR_PANIC => c"internal error (a caught panic): please report it",
            MISSIVE_ERROR_INTERNAL => c"internal error without a code: please report it",
            MISSIVE_ERROR_DECODE_TRUNCATED => c"input truncated",
            MISSIVE_ERROR_DECODE_BAD_LENGTH => c"length out of range",
            MISSIVE_ERROR_DECODE_UNKNOWN_TYPE => c"unknown type byte",
            MISSIVE_ERROR_DECODE_LEGACY_VERSION => c"legacy message version (before v3)",
            MISSIVE_ERROR_DECODE_UNKNOWN_VERSION => c"unknown message version",
            MISSIVE_ERROR_DECODE_MALFORMED => c"malformed encoding",
            MISSIVE_ERROR_DECODE_MISSING_FIELD => c"required field missing",
            MISSIVE_ERROR_DECODE_INVALID_KEY => c"invalid public key",
            MISSIVE_ERROR_DECRYPTION_FAILED => c"message could not be decrypted",
            MISSIVE_ERROR_DUPLICATE_MESSAGE => c"message already received",
            MISSIVE_ERROR_TOO_FAR_IN_FUTURE => c"message counter too far ahead",
            MISSIVE_ERROR_NO_SESSION => c"no session",
            MISSIVE_ERROR_UNTRUSTED_IDENTITY => c"untrusted identity",
            MISSIVE_ERROR_BAD_SIGNATURE => c"bad signature",
            MISSIVE_ERROR_NON_CONTRIBUTORY => c"non-contributory key agreement",
            MISSIVE_ERROR_NON_CANONICAL_KEY => c"non-canonical public key",
            MISSIVE_ERROR_UNKNOWN_PRE_KEY => c"unknown one-time prekey",
            MISSIVE_ERROR_UNKNOWN_SIGNED_PRE_KEY => c"unknown signed prekey",
            MISSIVE_ERROR_UNKNOWN_KYBER_PRE_KEY => c"unknown Kyber prekey",
            MISSIVE_ERROR_KYBER_PRE_KEY_REUSED => c"Kyber prekey reused with the same base key",
            MISSIVE_ERROR_MISSING_KYBER_CIPHERTEXT => c"v4 prekey message without Kyber ciphertext",
            MISSIVE_ERROR_VERSION_MISMATCH => c"protocol version mismatch",
            MISSIVE_ERROR_ADDRESS_MISMATCH => c"addresses do not match",
            MISSIVE_ERROR_PQ_RATCHET => c"post-quantum ratchet field invalid",
            MISSIVE_ERROR_SESSION_EXPIRED => c"session expired",
            MISSIVE_ERROR_LEGACY_REFUSED => c"X3DH (v3) refused by a v4-only entry point",
            MISSIVE_ERROR_NO_SENDER_KEY_STATE => c"no sender key state for this message",
            MISSIVE_ERROR_STORE_CONFLICT => c"the change no longer fits its records",
            MISSIVE_ERROR_STORE_WRITE => c"store write failed",
            MISSIVE_ERROR_FINGERPRINT_VERSION_MISMATCH => {
                c"safety number made with another fingerprint version"
            }
            MISSIVE_ERROR_FINGERPRINT_IDENTITY_MISMATCH => {
                c"safety number made from other identities"
            }
        }
    }
}

/// A static, NUL-terminated English description of `code` (any value: an unknown one
/// gets "unknown error code"). Never NULL; never free it. The text is for logs: branch on
/// the code, not on the text.
///
/// Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn missive_error_message(code: u32) -> *const c_char {
    match MissiveStatus::from_code(code) {
        Some(s) => s.message().as_ptr(),
        None => c"unknown error code".as_ptr(),
    }
}

/// The status of a core error.
pub(crate) fn status_of(e: &Error) -> MissiveStatus {
    match e {
        Error::Decode(d) => match d {
            DecodeError::Truncated => MISSIVE_ERROR_DECODE_TRUNCATED,
            DecodeError::BadLength => MISSIVE_ERROR_DECODE_BAD_LENGTH,
            DecodeError::UnknownType => MISSIVE_ERROR_DECODE_UNKNOWN_TYPE,
            DecodeError::LegacyVersion => MISSIVE_ERROR_DECODE_LEGACY_VERSION,
            DecodeError::UnknownVersion => MISSIVE_ERROR_DECODE_UNKNOWN_VERSION,
            DecodeError::Malformed => MISSIVE_ERROR_DECODE_MALFORMED,
            DecodeError::MissingField => MISSIVE_ERROR_DECODE_MISSING_FIELD,
            DecodeError::InvalidKey => MISSIVE_ERROR_DECODE_INVALID_KEY,
            _ => MISSIVE_ERROR_INTERNAL,
        },
        Error::Protocol(p) => match p {
            ProtocolError::DecryptionFailed => MISSIVE_ERROR_DECRYPTION_FAILED,
            ProtocolError::DuplicateMessage => MISSIVE_ERROR_DUPLICATE_MESSAGE,
            ProtocolError::TooFarInFuture => MISSIVE_ERROR_TOO_FAR_IN_FUTURE,
            ProtocolError::NoSession => MISSIVE_ERROR_NO_SESSION,
            ProtocolError::UntrustedIdentity => MISSIVE_ERROR_UNTRUSTED_IDENTITY,
            ProtocolError::BadSignature => MISSIVE_ERROR_BAD_SIGNATURE,
            ProtocolError::NonContributory => MISSIVE_ERROR_NON_CONTRIBUTORY,
            ProtocolError::NonCanonicalKey => MISSIVE_ERROR_NON_CANONICAL_KEY,
            ProtocolError::UnknownPreKey => MISSIVE_ERROR_UNKNOWN_PRE_KEY,
            ProtocolError::UnknownSignedPreKey => MISSIVE_ERROR_UNKNOWN_SIGNED_PRE_KEY,
            ProtocolError::UnknownKyberPreKey => MISSIVE_ERROR_UNKNOWN_KYBER_PRE_KEY,
            ProtocolError::KyberPreKeyReused => MISSIVE_ERROR_KYBER_PRE_KEY_REUSED,
            ProtocolError::MissingKyberCiphertext => MISSIVE_ERROR_MISSING_KYBER_CIPHERTEXT,
            ProtocolError::VersionMismatch => MISSIVE_ERROR_VERSION_MISMATCH,
            ProtocolError::AddressMismatch => MISSIVE_ERROR_ADDRESS_MISMATCH,
            ProtocolError::PqRatchet => MISSIVE_ERROR_PQ_RATCHET,
            ProtocolError::SessionExpired => MISSIVE_ERROR_SESSION_EXPIRED,
            ProtocolError::LegacyRefused => MISSIVE_ERROR_LEGACY_REFUSED,
            ProtocolError::NoSenderKeyState => MISSIVE_ERROR_NO_SENDER_KEY_STATE,
            _ => MISSIVE_ERROR_INTERNAL,
        },
        Error::Misuse(m) => match m {
            MisuseError::InvalidArgument => MISSIVE_ERROR_INVALID_ARGUMENT,
            MisuseError::InvalidState => MISSIVE_ERROR_INVALID_STATE,
            MisuseError::BadRng => MISSIVE_ERROR_BAD_RNG,
            _ => MISSIVE_ERROR_INTERNAL,
        },
        // The store inside missive-ffi fails a read only for a record that was not
        // loaded (see records.rs).
        Error::Store(s) => match s.kind() {
            StoreErrorKind::Read => MISSIVE_ERROR_RECORD_NOT_LOADED,
            StoreErrorKind::Write => MISSIVE_ERROR_STORE_WRITE,
            StoreErrorKind::Conflict => MISSIVE_ERROR_STORE_CONFLICT,
            _ => MISSIVE_ERROR_INTERNAL,
        },
        Error::Fingerprint(f) => match f {
            FingerprintError::VersionMismatch { .. } => MISSIVE_ERROR_FINGERPRINT_VERSION_MISMATCH,
            FingerprintError::IdentityMismatch => MISSIVE_ERROR_FINGERPRINT_IDENTITY_MISMATCH,
            _ => MISSIVE_ERROR_INTERNAL,
        },
        _ => MISSIVE_ERROR_INTERNAL,
    }
}

/// The status a decryption function reports for `e`: protocol errors other than an
/// untrusted identity and a refused legacy message collapse into
/// `MISSIVE_ERROR_DECRYPTION_FAILED` unless the caller asked for detail.
pub(crate) fn decryption_status(e: &Error, detailed: bool) -> MissiveStatus {
    let s = status_of(e);
    let keep = detailed
        || !matches!(e, Error::Protocol(_))
        || matches!(
            s,
            MISSIVE_ERROR_UNTRUSTED_IDENTITY | MISSIVE_ERROR_LEGACY_REFUSED
        );
    if keep {
        s
    } else {
        MISSIVE_ERROR_DECRYPTION_FAILED
    }
}

impl From<Error> for MissiveStatus {
    fn from(e: Error) -> Self {
        status_of(&e)
    }
}

impl From<missive::DecodeError> for MissiveStatus {
    fn from(e: missive::DecodeError) -> Self {
        status_of(&Error::Decode(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_maps_back_and_values_are_unique() {
        for s in MissiveStatus::ALL {
            assert_eq!(MissiveStatus::from_code(*s as u32), Some(*s));
        }
        let mut codes: Vec<u32> = MissiveStatus::ALL.iter().map(|s| *s as u32).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), MissiveStatus::ALL.len());
        assert_eq!(MissiveStatus::from_code(1000), None);
    }

    #[test]
    fn the_values_are_the_published_ones() {
        // The ABI: these numbers are in every compiled caller.
        assert_eq!(MISSIVE_OK as u32, 0);
        assert_eq!(MISSIVE_ERROR_NULL_POINTER as u32, 1);
        assert_eq!(MISSIVE_ERROR_RECORD_NOT_LOADED as u32, 4);
        assert_eq!(MISSIVE_ERROR_PANIC as u32, 8);
        assert_eq!(MISSIVE_ERROR_DECODE_TRUNCATED as u32, 20);
        assert_eq!(MISSIVE_ERROR_DECRYPTION_FAILED as u32, 40);
        assert_eq!(MISSIVE_ERROR_NO_SENDER_KEY_STATE as u32, 58);
        assert_eq!(MISSIVE_ERROR_STORE_CONFLICT as u32, 70);
        assert_eq!(MISSIVE_ERROR_FINGERPRINT_IDENTITY_MISMATCH as u32, 81);
    }

    #[test]
    fn decryption_errors_collapse_unless_detailed() {
        let dup: Error = ProtocolError::DuplicateMessage.into();
        assert_eq!(
            decryption_status(&dup, false),
            MISSIVE_ERROR_DECRYPTION_FAILED
        );
        assert_eq!(
            decryption_status(&dup, true),
            MISSIVE_ERROR_DUPLICATE_MESSAGE
        );
        let untrusted: Error = ProtocolError::UntrustedIdentity.into();
        assert_eq!(
            decryption_status(&untrusted, false),
            MISSIVE_ERROR_UNTRUSTED_IDENTITY
        );
        let decode: Error = DecodeError::Truncated.into();
        assert_eq!(
            decryption_status(&decode, false),
            MISSIVE_ERROR_DECODE_TRUNCATED
        );
    }
}

//! The one error type, with a family per cause.
//!
//! * [`DecodeError`]: bytes that do not parse (truncated, bad tag, wrong length).
//! * [`ProtocolError`]: the peer misbehaved or the message does not fit the state.
//! * [`MisuseError`]: a caller bug; peer data can never cause one.
//! * [`StoreError`]: the caller's store failed.
//! * [`FingerprintError`]: a scanned safety number does not match ours. Unlike a
//!   protocol error this is an answer the app must show the user, so it is a family of
//!   its own.
//! * [`SealedError`]: a sealed-sender envelope was refused before its inner message was
//!   opened (the envelope, the sender certificate, or the certificate's identity against
//!   the inner message's sender). A family of its own because the app's next step
//!   differs: until the envelope opened and its certificate validated, the app does not
//!   know who sent the message, so it cannot ask that sender to resend.
//!
//! Every failure to authenticate or decrypt a message is reported as
//! [`ProtocolError::DecryptionFailed`], with no hint of which check failed.
//! `Display` never prints key bytes or plaintext.

use core::fmt;

/// Every error missive returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Input bytes could not be decoded.
    Decode(DecodeError),
    /// The peer's message is invalid for the current state.
    Protocol(ProtocolError),
    /// The API was used in a way it does not allow.
    Misuse(MisuseError),
    /// A store callback failed.
    Store(StoreError),
    /// A scanned safety number does not match.
    Fingerprint(FingerprintError),
    /// A sealed-sender envelope or its sender certificate was refused.
    Sealed(SealedError),
}

/// Input bytes could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended early.
    Truncated,
    /// A length or value is outside what the format allows.
    BadLength,
    /// A type byte (key type, record version) is unknown.
    UnknownType,
    /// The message version is older than v3.
    LegacyVersion,
    /// The message version is newer than this library knows.
    UnknownVersion,
    /// A protobuf field has the wrong wire type, or the encoding is malformed.
    Malformed,
    /// A required field is missing.
    MissingField,
    /// A public key is not a valid key of its type.
    InvalidKey,
}

/// The peer's input is not valid for the current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The message could not be authenticated or decrypted. Deliberately says no more.
    DecryptionFailed,
    /// The message was already decrypted (its key is gone).
    DuplicateMessage,
    /// The message counter is further ahead than the forward-jump limit allows, or past
    /// the end of its chain (2^32 − 1).
    TooFarInFuture,
    /// There is no session for this address.
    NoSession,
    /// The identity key is not trusted by the identity store.
    UntrustedIdentity,
    /// A signature did not verify: a prekey's in a bundle, or a sender-key message's.
    BadSignature,
    /// A Diffie-Hellman output was all zeros (non-contributory).
    NonContributory,
    /// The initiator's base key is not canonical (u ≥ p, on the twist, or with a torsion
    /// component).
    NonCanonicalKey,
    /// The prekey the message refers to is not in the store.
    UnknownPreKey,
    /// The signed prekey the message refers to is not in the store.
    UnknownSignedPreKey,
    /// The Kyber prekey the message refers to is not in the store.
    UnknownKyberPreKey,
    /// This (Kyber prekey, signed prekey, base key) triple was already used.
    KyberPreKeyReused,
    /// A v4 prekey message lacked the Kyber prekey id or ciphertext.
    MissingKyberCiphertext,
    /// A session of the other protocol version was expected.
    VersionMismatch,
    /// The `addresses` field names other parties.
    AddressMismatch,
    /// The SPQR field is missing or malformed in a v4 message.
    PqRatchet,
    /// The session is too old to send on (unanswered for too long).
    SessionExpired,
    /// A v3 (X3DH) bundle or prekey message reached a v4-only entry point. Use the
    /// `legacy` entry points for peers that speak only v3.
    LegacyRefused,
    /// No sender-key state for this sender, distribution id and chain id: its
    /// distribution message has not been processed (or the state was evicted).
    NoSenderKeyState,
}

/// A caller bug: peer data never causes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MisuseError {
    /// A parameter is outside its documented range.
    InvalidArgument,
    /// The record is not in a state that allows this call.
    InvalidState,
    /// The caller's random number generator kept returning values already in use (a
    /// broken or constant RNG); missive stops after a few draws instead of looping.
    BadRng,
}

/// The caller's store failed; the operation was not committed, and every record is as
/// it was. Carries an optional code of the app's own (an SQLite result code, an errno)
/// so that the app can tell its failures apart.
///
/// ```
/// use missive::{StoreError, StoreErrorKind};
/// let e = StoreError::write().with_code(13); // SQLITE_FULL
/// assert_eq!(e.kind(), StoreErrorKind::Write);
/// assert_eq!(e.code(), Some(13));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreError {
    kind: StoreErrorKind,
    code: Option<i64>,
}

/// What kind of store failure a [`StoreError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store could not read.
    Read,
    /// The store could not write (a failed commit: nothing was written).
    Write,
    /// The change set no longer fits the store (a record changed since the operation
    /// read it, or a one-time key it consumes is gone): nothing was written; retry the
    /// operation.
    Conflict,
}

impl StoreError {
    /// A failed read.
    pub const fn read() -> Self {
        StoreError {
            kind: StoreErrorKind::Read,
            code: None,
        }
    }
    /// A failed write.
    pub const fn write() -> Self {
        StoreError {
            kind: StoreErrorKind::Write,
            code: None,
        }
    }
    /// A change set that no longer fits the store.
    pub const fn conflict() -> Self {
        StoreError {
            kind: StoreErrorKind::Conflict,
            code: None,
        }
    }
    /// The same error carrying the app's own code.
    pub const fn with_code(self, code: i64) -> Self {
        StoreError {
            kind: self.kind,
            code: Some(code),
        }
    }
    /// The kind of failure.
    pub const fn kind(&self) -> StoreErrorKind {
        self.kind
    }
    /// The app's code, if it gave one.
    pub const fn code(&self) -> Option<i64> {
        self.code
    }
}

/// A scanned safety number (scannable fingerprint) does not match ours.
///
/// The two cases call for different words to the user: a version mismatch says nothing
/// about the identities (one side should update), an identity mismatch means the keys
/// or ids differ and the contact must not be marked verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FingerprintError {
    /// The scanned fingerprint was made for another fingerprint version.
    VersionMismatch {
        /// Our version.
        ours: u32,
        /// The version in the scanned fingerprint.
        theirs: u32,
    },
    /// Same version, but it was made from other identity keys or stable ids.
    IdentityMismatch,
}

/// Why a sealed-sender message was refused before (or instead of) opening its inner
/// message. Decoding failures are [`Error::Decode`]; a sealed message whose envelope and
/// certificate are fine but whose inner message fails is reported by the 1:1 or group
/// decryption's own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealedError {
    /// The envelope did not authenticate or decrypt under our identity key: tampered,
    /// sealed to another key, or (v2) a copy cut for another recipient. Says no more.
    DecryptionFailed,
    /// The envelope authenticated, but it was sealed with another identity key than the
    /// one its sender certificate names.
    SenderKeyMismatch,
    /// The sender certificate is not valid.
    Certificate(CertificateError),
    /// The sender certificate names this very device (same uuid and device id).
    SelfSend,
    /// The sender certificate's identity key is not the inner message's sender: not the
    /// identity its 1:1 session authenticated, or (a sender-key message) not the identity
    /// stored for the sender's address. libsignal-client does not make this check.
    IdentityMismatch,
}

/// Why a sender certificate is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateError {
    /// The certificate's expiry is before the validation time.
    Expired,
    /// The server certificate is not signed by any of the trust roots.
    UntrustedServerCertificate,
    /// The server certificate's key id is revoked (the built-in list
    /// `sealed::REVOKED_SERVER_KEY_IDS`, or the receiver's own).
    RevokedServerKey,
    /// The sender certificate names its server certificate by an id that is not among
    /// the known server certificates.
    UnknownServerCertificate,
    /// The sender certificate's signature does not verify under the server key.
    BadSignature,
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Decode(e)
    }
}
impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}
impl From<MisuseError> for Error {
    fn from(e: MisuseError) -> Self {
        Error::Misuse(e)
    }
}
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<FingerprintError> for Error {
    fn from(e: FingerprintError) -> Self {
        Error::Fingerprint(e)
    }
}

impl From<SealedError> for Error {
    fn from(e: SealedError) -> Self {
        Error::Sealed(e)
    }
}

impl From<CertificateError> for Error {
    fn from(e: CertificateError) -> Self {
        Error::Sealed(SealedError::Certificate(e))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Decode(e) => write!(f, "decode error: {e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Misuse(e) => write!(f, "API misuse: {e}"),
            Error::Store(e) => write!(f, "store error: {e}"),
            Error::Fingerprint(e) => write!(f, "safety number mismatch: {e}"),
            Error::Sealed(e) => write!(f, "sealed sender: {e}"),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeError::Truncated => "input truncated",
            DecodeError::BadLength => "length out of range",
            DecodeError::UnknownType => "unknown type byte",
            DecodeError::LegacyVersion => "legacy message version (before v3)",
            DecodeError::UnknownVersion => "unknown message version",
            DecodeError::Malformed => "malformed encoding",
            DecodeError::MissingField => "required field missing",
            DecodeError::InvalidKey => "invalid public key",
        })
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProtocolError::DecryptionFailed => "message could not be decrypted",
            ProtocolError::DuplicateMessage => "message already received",
            ProtocolError::TooFarInFuture => "message counter too far ahead",
            ProtocolError::NoSession => "no session",
            ProtocolError::UntrustedIdentity => "untrusted identity",
            ProtocolError::BadSignature => "bad signature",
            ProtocolError::NonContributory => "non-contributory key agreement",
            ProtocolError::NonCanonicalKey => "non-canonical public key",
            ProtocolError::UnknownPreKey => "unknown one-time prekey",
            ProtocolError::UnknownSignedPreKey => "unknown signed prekey",
            ProtocolError::UnknownKyberPreKey => "unknown Kyber prekey",
            ProtocolError::KyberPreKeyReused => "Kyber prekey reused with the same base key",
            ProtocolError::MissingKyberCiphertext => "v4 prekey message without Kyber ciphertext",
            ProtocolError::VersionMismatch => "protocol version mismatch",
            ProtocolError::AddressMismatch => "addresses do not match",
            ProtocolError::PqRatchet => "post-quantum ratchet field invalid",
            ProtocolError::SessionExpired => "session expired",
            ProtocolError::LegacyRefused => "X3DH (v3) refused by a v4-only entry point",
            ProtocolError::NoSenderKeyState => "no sender key state for this message",
        })
    }
}

impl fmt::Display for MisuseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MisuseError::InvalidArgument => "invalid argument",
            MisuseError::InvalidState => "invalid state for this call",
            MisuseError::BadRng => "the random number generator repeats itself",
        })
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            StoreErrorKind::Read => "store read failed",
            StoreErrorKind::Write => "store write failed",
            StoreErrorKind::Conflict => "change set no longer fits the store",
        })?;
        match self.code {
            Some(c) => write!(f, " (code {c})"),
            None => Ok(()),
        }
    }
}

impl fmt::Display for FingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FingerprintError::VersionMismatch { ours, theirs } => {
                write!(f, "fingerprint version {theirs}, expected {ours}")
            }
            FingerprintError::IdentityMismatch => f.write_str("different identities"),
        }
    }
}

impl fmt::Display for SealedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealedError::DecryptionFailed => f.write_str("envelope could not be decrypted"),
            SealedError::SenderKeyMismatch => {
                f.write_str("sealed with another key than the certificate's")
            }
            SealedError::Certificate(e) => write!(f, "{e}"),
            SealedError::SelfSend => f.write_str("message from this device"),
            SealedError::IdentityMismatch => {
                f.write_str("sender certificate does not name the inner message's sender")
            }
        }
    }
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertificateError::Expired => "sender certificate expired",
            CertificateError::UntrustedServerCertificate => {
                "server certificate not signed by a trust root"
            }
            CertificateError::RevokedServerKey => "server key revoked",
            CertificateError::UnknownServerCertificate => "unknown server certificate id",
            CertificateError::BadSignature => "sender certificate signature invalid",
        })
    }
}

impl core::error::Error for Error {}
impl core::error::Error for SealedError {}
impl core::error::Error for CertificateError {}

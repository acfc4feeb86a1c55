//! Why an operation of the sealed layer's pure functions failed.
//!
//! [`Device`](crate::Device)'s sealed-sender methods return [`crate::Error`]; this type
//! maps onto it: decode → [`Error::Decode`], misuse → [`Error::Misuse`], the rest →
//! [`Error::Sealed`].

use core::fmt;

pub use crate::error::CertificateError;
use crate::error::{DecodeError, Error, MisuseError, SealedError};

/// Why a sealed-sender operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealedSenderError {
    /// The bytes do not parse (envelope, content or certificate).
    Decode(DecodeError),
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
    /// A caller bug: invalid arguments to a sealing function or constructor.
    Misuse(MisuseError),
}

impl From<DecodeError> for SealedSenderError {
    fn from(e: DecodeError) -> Self {
        SealedSenderError::Decode(e)
    }
}

impl From<MisuseError> for SealedSenderError {
    fn from(e: MisuseError) -> Self {
        SealedSenderError::Misuse(e)
    }
}

impl From<SealedSenderError> for Error {
    fn from(e: SealedSenderError) -> Self {
        match e {
            SealedSenderError::Decode(d) => Error::Decode(d),
            SealedSenderError::Misuse(m) => Error::Misuse(m),
            SealedSenderError::DecryptionFailed => Error::Sealed(SealedError::DecryptionFailed),
            SealedSenderError::SenderKeyMismatch => Error::Sealed(SealedError::SenderKeyMismatch),
            SealedSenderError::Certificate(c) => Error::Sealed(SealedError::Certificate(c)),
            SealedSenderError::SelfSend => Error::Sealed(SealedError::SelfSend),
        }
    }
}

impl From<CertificateError> for SealedSenderError {
    fn from(e: CertificateError) -> Self {
        SealedSenderError::Certificate(e)
    }
}

impl fmt::Display for SealedSenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealedSenderError::Decode(e) => write!(f, "sealed sender: decode error: {e}"),
            SealedSenderError::DecryptionFailed => {
                f.write_str("sealed sender: envelope could not be decrypted")
            }
            SealedSenderError::SenderKeyMismatch => {
                f.write_str("sealed sender: sealed with another key than the certificate's")
            }
            SealedSenderError::Certificate(e) => write!(f, "sealed sender: {e}"),
            SealedSenderError::SelfSend => f.write_str("sealed sender: message from this device"),
            SealedSenderError::Misuse(e) => write!(f, "sealed sender: API misuse: {e}"),
        }
    }
}

impl core::error::Error for SealedSenderError {}

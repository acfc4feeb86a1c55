//! Why a sealed-sender operation failed.
//!
//! A family of its own for now: the sealed layer is not yet wired into the sessions,
//! and `crate::Error` has no variant for a certificate's verdict. When it is wired,
//! these map onto `Error` (decode → `Error::Decode`, the rest → a protocol family).

use core::fmt;

use crate::error::{DecodeError, MisuseError};

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

/// Why a sender certificate is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateError {
    /// The certificate's expiry is before the validation time.
    Expired,
    /// The server certificate is not signed by any of the trust roots.
    UntrustedServerCertificate,
    /// The server certificate's key id is on the revoked list
    /// ([`REVOKED_SERVER_KEY_IDS`](super::REVOKED_SERVER_KEY_IDS)).
    RevokedServerKey,
    /// The sender certificate names its server certificate by an id that is not among
    /// the known server certificates.
    UnknownServerCertificate,
    /// The sender certificate's signature does not verify under the server key.
    BadSignature,
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

impl core::error::Error for SealedSenderError {}
impl core::error::Error for CertificateError {}

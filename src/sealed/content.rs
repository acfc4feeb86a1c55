//! The unidentified-sender message content: what an envelope carries.

use alloc::vec::Vec;
use core::fmt;

use super::certificate::SenderCertificate;
use super::codec::Cursor;
use crate::error::DecodeError;
use crate::wire::proto::{put_bytes, put_uint};

/// Which kind of inner message a content carries.
///
/// The numbers on the wire (field 1) are not the ciphertext message types: a prekey
/// message is 1 here and 3 elsewhere. Any other number is refused, as in libsignal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentType {
    /// A `PreKeySignalMessage` (wire 1).
    PreKey,
    /// A `SignalMessage` (wire 2).
    Whisper,
    /// A `SenderKeyMessage` (wire 7).
    SenderKey,
    /// A `PlaintextContent`, e.g. a decryption-error message (wire 8).
    Plaintext,
}

impl ContentType {
    /// The number written in field 1.
    pub const fn wire_value(self) -> u32 {
        match self {
            ContentType::PreKey => 1,
            ContentType::Whisper => 2,
            ContentType::SenderKey => 7,
            ContentType::Plaintext => 8,
        }
    }

    /// The type for a field-1 number.
    pub const fn from_wire_value(v: u32) -> Option<Self> {
        match v {
            1 => Some(ContentType::PreKey),
            2 => Some(ContentType::Whisper),
            7 => Some(ContentType::SenderKey),
            8 => Some(ContentType::Plaintext),
            _ => None,
        }
    }

    /// The `CiphertextMessageType` number of the inner message (3, 2, 7, 8).
    pub const fn ciphertext_message_type(self) -> u8 {
        match self {
            ContentType::PreKey => 3,
            ContentType::Whisper => 2,
            ContentType::SenderKey => 7,
            ContentType::Plaintext => 8,
        }
    }
}

/// What the recipient should do if the inner message cannot be decrypted. Any number is
/// carried through (libsignal keeps unknown ones); the named ones are Signal's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ContentHint(pub u32);

impl ContentHint {
    /// Ask the sender to resend via a decryption-error message (0; field 4 omitted).
    pub const DEFAULT: ContentHint = ContentHint(0);
    /// The sender can resend it: show nothing, ask for it again (1).
    pub const RESENDABLE: ContentHint = ContentHint(1);
    /// Nothing to show and nothing to resend (2).
    pub const IMPLICIT: ContentHint = ContentHint(2);
}

/// The unidentified-sender message content: the sender's certificate and its inner
/// message, which the envelope hides from the server.
///
/// ```text
/// protobuf{
///     1: type (ContentType wire value)        required
///     2: sender certificate (SenderCertificate)  required
///     3: contents (the inner message's bytes)    required (may be empty)
///     4: content hint (uint32)                optional, written when not 0
///     5: group id (bytes)                     optional, written when given and not empty
/// }
/// ```
///
/// Unknown fields are skipped. A repeated field keeps its last value.
#[derive(Clone, PartialEq, Eq)]
pub struct UnidentifiedSenderMessageContent {
    msg_type: ContentType,
    sender: SenderCertificate,
    contents: Vec<u8>,
    content_hint: ContentHint,
    group_id: Option<Vec<u8>>,
    serialized: Vec<u8>,
}

impl UnidentifiedSenderMessageContent {
    /// A content for `contents`, the serialized inner message of type `msg_type`.
    pub fn new(
        msg_type: ContentType,
        sender: SenderCertificate,
        contents: Vec<u8>,
        content_hint: ContentHint,
        group_id: Option<Vec<u8>>,
    ) -> Self {
        let group_len = group_id.as_ref().map_or(0, Vec::len);
        let mut out =
            Vec::with_capacity(sender.serialized().len() + contents.len() + group_len + 24);
        put_uint(&mut out, 1, u64::from(msg_type.wire_value()));
        put_bytes(&mut out, 2, sender.serialized());
        put_bytes(&mut out, 3, &contents);
        if content_hint.0 != 0 {
            put_uint(&mut out, 4, u64::from(content_hint.0));
        }
        if let Some(g) = group_id.as_ref().filter(|g| !g.is_empty()) {
            put_bytes(&mut out, 5, g);
        }
        UnidentifiedSenderMessageContent {
            msg_type,
            sender,
            contents,
            content_hint,
            group_id,
            serialized: out,
        }
    }

    /// Parses a content.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Cursor::new(bytes);
        let (mut msg_type, mut sender, mut contents, mut hint, mut group) =
            (None, None, None, None, None);
        while let Some((n, v)) = r.field()? {
            match n {
                1 => {
                    msg_type = Some(
                        ContentType::from_wire_value(v.u32()?).ok_or(DecodeError::UnknownType)?,
                    )
                }
                2 => sender = Some(v.bytes()?),
                3 => contents = Some(v.bytes()?),
                4 => hint = Some(ContentHint(v.u32()?)),
                5 => group = Some(v.bytes()?.to_vec()),
                _ => {}
            }
        }
        Ok(UnidentifiedSenderMessageContent {
            msg_type: msg_type.ok_or(DecodeError::MissingField)?,
            sender: SenderCertificate::deserialize(sender.ok_or(DecodeError::MissingField)?)?,
            contents: contents.ok_or(DecodeError::MissingField)?.to_vec(),
            content_hint: hint.unwrap_or_default(),
            group_id: group,
            serialized: bytes.to_vec(),
        })
    }

    /// The inner message's type.
    pub fn msg_type(&self) -> ContentType {
        self.msg_type
    }
    /// The sender certificate (validated only by [`super::decrypt`] or
    /// [`SenderCertificate::validate`]).
    pub fn sender(&self) -> &SenderCertificate {
        &self.sender
    }
    /// The inner message's bytes.
    pub fn contents(&self) -> &[u8] {
        &self.contents
    }
    /// The content hint (0 when absent).
    pub fn content_hint(&self) -> ContentHint {
        self.content_hint
    }
    /// The group id, when present (possibly empty if the sender wrote an empty field 5).
    pub fn group_id(&self) -> Option<&[u8]> {
        self.group_id.as_deref()
    }
    /// The encoding, as made or received.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

impl fmt::Debug for UnidentifiedSenderMessageContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnidentifiedSenderMessageContent")
            .field("msg_type", &self.msg_type)
            .field("sender", &self.sender)
            .field("contents_len", &self.contents.len())
            .field("content_hint", &self.content_hint)
            .finish_non_exhaustive()
    }
}

//! Sealed sender on [`Device`]: seal a 1:1 or group message so that the server learns
//! its recipients but not its sender, and open one into the validated sender and the
//! inner message, each as one operation with one change set.
//!
//! The envelopes themselves are pure functions in [`crate::sealed`]; here they meet the
//! sessions and sender keys:
//!
//! ```text
//! sealed_encrypt        = encrypt (1:1) → content(PreKey | Whisper) → seal v1      → commit
//! sealed_group_encrypt  = group_encrypt → content(SenderKey, group id) → seal v2   → commit
//! seal_v1 / seal_v2     = any content (e.g. a group message) sealed; no state change
//! sealed_decrypt        = open envelope → validate certificate → self-send check
//!                         → open inner message (1:1 or group), staged
//!                         → certificate identity == inner message's sender → commit
//! ```
//!
//! The last check is missive's own: libsignal-client compares the certificate's key
//! only with the key the envelope was sealed with (docs/notes/sealed-sender.md §5).

use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;

use super::Device;
use crate::address::ProtocolAddress;
use crate::error::{Error, MisuseError, ProtocolError, SealedError};
use crate::group::{self, DistributionId, SenderKeyMessage};
use crate::keys::IdentityKey;
use crate::sealed::{
    self, ContentHint, ContentType, Destination, RecipientDevice, SenderCertificate, ServiceId,
    TrustPolicy, UnidentifiedSenderMessageContent,
};
use crate::session::{self, Decrypted, Timestamp};
use crate::store::{ChangeSet, ProtocolStore};
use crate::wire::{CiphertextMessage, PreKeySignalMessage, SignalMessage};

/// A sealed-sender message opened by [`Device::sealed_decrypt`]: who sent it (validated)
/// and its inner message, opened.
#[non_exhaustive]
pub struct SealedDecrypted {
    /// The sender certificate, validated against the trust policy at the given time, and
    /// naming the identity that the inner message's own authentication (its 1:1 session,
    /// or the sender-key chain distributed over one) attributes to its sender.
    pub certificate: SenderCertificate,
    /// The sender's address: the certificate's uuid and device id. The sessions and
    /// sender keys used were those stored under it.
    pub sender: ProtocolAddress,
    /// The content hint the sender set.
    pub content_hint: ContentHint,
    /// The group id the sender set, if any (the server never sees it).
    pub group_id: Option<Vec<u8>>,
    /// The inner message, opened.
    pub message: SealedMessage,
}

/// The inner message of a [`SealedDecrypted`].
#[non_exhaustive]
pub enum SealedMessage {
    /// A 1:1 message (a prekey message or a whisper message), decrypted by its session.
    OneToOne(Decrypted),
    /// A group message, decrypted with the sender's chain.
    Group {
        /// The distribution id the message was sent under.
        distribution_id: DistributionId,
        /// The plaintext.
        plaintext: Vec<u8>,
    },
    /// A `PlaintextContent` (e.g. a decryption-error message): its bytes, authenticated
    /// only by the sealed layer (the certificate and the envelope's sender key).
    Plaintext(Vec<u8>),
}

impl SealedMessage {
    /// The plaintext of a 1:1 or group message, or the bytes of a plaintext content.
    pub fn plaintext(&self) -> &[u8] {
        match self {
            SealedMessage::OneToOne(d) => &d.plaintext,
            SealedMessage::Group { plaintext, .. } => plaintext,
            SealedMessage::Plaintext(b) => b,
        }
    }
}

impl fmt::Debug for SealedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealedMessage::OneToOne(d) => f.debug_tuple("OneToOne").field(d).finish(),
            SealedMessage::Group {
                distribution_id,
                plaintext,
            } => f
                .debug_struct("Group")
                .field("distribution_id", distribution_id)
                .field("plaintext_len", &plaintext.len())
                .finish(),
            SealedMessage::Plaintext(b) => {
                f.debug_struct("Plaintext").field("len", &b.len()).finish()
            }
        }
    }
}

impl fmt::Debug for SealedDecrypted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedDecrypted")
            .field("sender", &self.sender)
            .field("certificate", &self.certificate)
            .field("content_hint", &self.content_hint)
            .field("group_id_len", &self.group_id.as_ref().map(Vec::len))
            .field("message", &self.message)
            .finish()
    }
}

/// The content type of a 1:1 message.
fn content_type(message: &CiphertextMessage) -> ContentType {
    match message {
        CiphertextMessage::PreKey(_) => ContentType::PreKey,
        CiphertextMessage::Whisper(_) => ContentType::Whisper,
    }
}

impl<S: ProtocolStore> Device<S> {
    /// Encrypts `plaintext` for `remote` on the current session, as [`Device::encrypt`]
    /// does, and seals the message (v1) to `remote`'s stored identity under
    /// `certificate`, which must name our identity key. Returns the envelope, to be sent
    /// without a sender. The session change is committed only once the envelope exists.
    ///
    /// Fails with [`MisuseError::InvalidArgument`] if the certificate names another
    /// identity key than ours, and [`MisuseError::InvalidState`] if no identity is stored
    /// for `remote`.
    #[allow(clippy::too_many_arguments)]
    pub fn sealed_encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        remote: &ProtocolAddress,
        plaintext: &[u8],
        certificate: &SenderCertificate,
        content_hint: ContentHint,
        group_id: Option<&[u8]>,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let (message, changes) =
            session::encrypt(&self.store, &self.address, remote, plaintext, now, rng)?;
        let content = UnidentifiedSenderMessageContent::new(
            content_type(&message),
            certificate.clone(),
            message.serialize().to_vec(),
            content_hint,
            group_id.map(<[u8]>::to_vec),
        );
        let envelope = self.seal_v1(remote, &content, rng)?;
        self.commit(changes)?;
        Ok(envelope)
    }

    /// Seals any content (v1) to `remote`'s stored identity: e.g. a group message
    /// ([`ContentType::SenderKey`]) for one member. Changes nothing.
    pub fn seal_v1<R: CryptoRng + ?Sized>(
        &self,
        remote: &ProtocolAddress,
        content: &UnidentifiedSenderMessageContent,
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let ours = self.store.identity_key_pair()?;
        let theirs = self
            .store
            .identity(remote)?
            .ok_or(MisuseError::InvalidState)?;
        Ok(sealed::seal_v1(content, ours, &theirs, rng)?)
    }

    /// Seals any content once for many recipients (v2): each address's identity comes
    /// from the identity store and its registration id from its current session, and the
    /// devices of one service id share one entry (and one copy), in the order each
    /// service id first appears. `excluded` are named in the message and get nothing.
    /// Changes nothing. Give the result to the server, which cuts each recipient's copy
    /// ([`SentMessage`](crate::sealed::SentMessage)).
    ///
    /// Fails with [`MisuseError::InvalidArgument`] for a name that is not a service id,
    /// a device id outside 1..=127, a registration id above 0x3fff, devices of one
    /// service id with different identities, or a service id both sent to and excluded;
    /// with [`ProtocolError::NoSession`] for an address without a current session.
    pub fn seal_v2<R: CryptoRng + ?Sized>(
        &self,
        content: &UnidentifiedSenderMessageContent,
        recipients: &[ProtocolAddress],
        excluded: &[ServiceId],
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        let destinations = self.destinations(recipients)?;
        let ours = self.store.identity_key_pair()?;
        Ok(sealed::seal_v2(
            content,
            ours,
            &destinations,
            excluded,
            rng,
        )?)
    }

    /// Encrypts a group message on our chain for `distribution_id`, as
    /// [`Device::group_encrypt`] does, and seals it once (v2) for `recipients` under
    /// `certificate`, with `group_id` inside the envelope. The chain advances (one
    /// commit) only once the sealed message exists. Errors as [`Device::group_encrypt`]
    /// and [`Device::seal_v2`].
    #[allow(clippy::too_many_arguments)]
    pub fn sealed_group_encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        distribution_id: DistributionId,
        plaintext: &[u8],
        certificate: &SenderCertificate,
        content_hint: ContentHint,
        group_id: Option<&[u8]>,
        recipients: &[ProtocolAddress],
        excluded: &[ServiceId],
        rng: &mut R,
    ) -> Result<Vec<u8>, Error> {
        // Recipients first: a bad list must not cost a chain step.
        let destinations = self.destinations(recipients)?;
        let (message, changes) =
            group::encrypt(&self.store, &self.address, distribution_id, plaintext, rng)?;
        let content = UnidentifiedSenderMessageContent::new(
            ContentType::SenderKey,
            certificate.clone(),
            message.serialized().to_vec(),
            content_hint,
            group_id.map(<[u8]>::to_vec),
        );
        let ours = self.store.identity_key_pair()?;
        let sent = sealed::seal_v2(&content, ours, &destinations, excluded, rng)?;
        self.commit(changes)?;
        Ok(sent)
    }

    fn destinations(&self, recipients: &[ProtocolAddress]) -> Result<Vec<Destination>, Error> {
        let mut out: Vec<Destination> = Vec::with_capacity(recipients.len());
        for address in recipients {
            let service_id =
                ServiceId::parse(address.name()).ok_or(MisuseError::InvalidArgument)?;
            let device_id =
                u8::try_from(address.device_id()).map_err(|_| MisuseError::InvalidArgument)?;
            let record = self
                .store
                .session(address)?
                .ok_or(ProtocolError::NoSession)?;
            let registration_id = record
                .remote_registration_id()
                .ok_or(ProtocolError::NoSession)?;
            let registration_id =
                u16::try_from(registration_id).map_err(|_| MisuseError::InvalidArgument)?;
            let identity_key = self
                .store
                .identity(address)?
                .ok_or(MisuseError::InvalidState)?;
            let device = RecipientDevice {
                device_id,
                registration_id,
            };
            match out.iter_mut().find(|d| d.service_id == service_id) {
                Some(d) if d.identity_key == identity_key => d.devices.push(device),
                Some(_) => return Err(MisuseError::InvalidArgument.into()),
                None => out.push(Destination {
                    service_id,
                    identity_key,
                    devices: alloc::vec![device],
                }),
            }
        }
        Ok(out)
    }

    /// Opens a sealed-sender message (a v1 envelope or a received v2 copy) and its inner
    /// message, as one operation:
    ///
    /// 1. the envelope opens under our identity key and was sealed with the identity key
    ///    its certificate names ([`SealedError::DecryptionFailed`],
    ///    [`SealedError::SenderKeyMismatch`]);
    /// 2. the certificate validates against `trust` at `now`
    ///    ([`SealedError::Certificate`]) and does not name this device
    ///    ([`SealedError::SelfSend`]);
    /// 3. the inner message is opened from the certificate's address (its uuid and
    ///    device id): a prekey or whisper message by its 1:1 session, a group message
    ///    with the sender's chain; each fails with its own error;
    /// 4. the certificate's identity key must be the inner message's sender: the identity
    ///    the 1:1 decryption authenticated, or for a group message (and a plaintext
    ///    content, when one is stored) the identity stored for the sender's address
    ///    ([`SealedError::IdentityMismatch`]; checked before any decryption where the
    ///    identity is known up front);
    /// 5. the one change set of the inner decryption is committed.
    ///
    /// Any error leaves every record as it was.
    pub fn sealed_decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        bytes: &[u8],
        trust: &TrustPolicy<'_>,
        now: Timestamp,
        rng: &mut R,
    ) -> Result<SealedDecrypted, Error> {
        let content = sealed::decrypt(
            bytes,
            self.store.identity_key_pair()?,
            trust,
            now.as_millis(),
            self.address.name(),
            self.address.device_id(),
        )?;
        let certificate = content.sender();
        let sender = ProtocolAddress::new(
            certificate.sender_uuid(),
            u32::from(certificate.device_id()),
        );
        let claimed = *certificate.identity_key();
        let (message, changes) = self.open_inner(&content, &sender, &claimed, rng)?;
        self.commit(changes)?;
        Ok(SealedDecrypted {
            certificate: certificate.clone(),
            sender,
            content_hint: content.content_hint(),
            group_id: content.group_id().map(<[u8]>::to_vec),
            message,
        })
    }

    fn open_inner<R: CryptoRng + ?Sized>(
        &self,
        content: &UnidentifiedSenderMessageContent,
        sender: &ProtocolAddress,
        claimed: &IdentityKey,
        rng: &mut R,
    ) -> Result<(SealedMessage, ChangeSet), Error> {
        let keep = self.config.max_archived_sessions;
        let mismatch = || Error::Sealed(SealedError::IdentityMismatch);
        let stored = self.store.identity(sender)?;
        match content.msg_type() {
            ContentType::PreKey => {
                let m = PreKeySignalMessage::deserialize(content.contents())?;
                // The prekey message names its sender's identity (bound by the handshake,
                // or checked against the session it is routed to): compare first.
                if m.identity_key() != claimed {
                    return Err(mismatch());
                }
                let legacy = self.config.accept_legacy_x3dh;
                let (d, changes) = session::decrypt_prekey_message(
                    &self.store,
                    &self.address,
                    sender,
                    &m,
                    legacy,
                    keep,
                    rng,
                )?;
                if d.sender.identity() != claimed {
                    return Err(mismatch());
                }
                Ok((SealedMessage::OneToOne(d), changes))
            }
            ContentType::Whisper => {
                let m = SignalMessage::deserialize(content.contents())?;
                // Only sessions with the stored identity are tried: another stored
                // identity can never match.
                if stored.is_some_and(|k| &k != claimed) {
                    return Err(mismatch());
                }
                let (d, changes) = session::decrypt_signal_message(
                    &self.store,
                    &self.address,
                    sender,
                    &m,
                    keep,
                    rng,
                )?;
                if d.sender.identity() != claimed {
                    return Err(mismatch());
                }
                Ok((SealedMessage::OneToOne(d), changes))
            }
            ContentType::SenderKey => {
                let m = SenderKeyMessage::deserialize(content.contents())?;
                // The chain came in a distribution message over the sender's 1:1
                // session, which stored its identity: that is who the chain belongs to.
                if stored.as_ref() != Some(claimed) {
                    return Err(mismatch());
                }
                let (plaintext, changes) = group::decrypt(&self.store, sender, &m, None)?;
                let message = SealedMessage::Group {
                    distribution_id: m.distribution_id(),
                    plaintext,
                };
                Ok((message, changes))
            }
            ContentType::Plaintext => {
                if stored.is_some_and(|k| &k != claimed) {
                    return Err(mismatch());
                }
                let message = SealedMessage::Plaintext(content.contents().to_vec());
                Ok((message, ChangeSet::default()))
            }
        }
    }
}

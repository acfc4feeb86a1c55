//! Server and sender certificates, and their validation.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;

use super::codec::{Cursor, Field, put_fixed64};
use super::error::SealedSenderError;
use super::service_id::format_uuid;
use crate::crypto::{PrivateKey, PublicKey};
use crate::error::CertificateError;
use crate::error::{DecodeError, MisuseError};
use crate::keys::IdentityKey;
use crate::wire::proto::{put_bytes, put_uint};

/// Server key ids that libsignal-client 0.103.0 refuses even when their certificate is
/// correctly signed by the trust root. Found by scanning key ids 0–69,999, both edges of
/// every power of two up to 2^32 and a few bit patterns (`sealed_sender.js validate`);
/// an id outside those would have been missed.
pub const REVOKED_SERVER_KEY_IDS: &[u32] = &[0xDEAD_C357];

/// Length of an XEdDSA signature, the only length that can verify.
const SIGNATURE_LEN: usize = 64;

/// A server's key, certified by a trust root.
///
/// ```text
/// ServerCertificate = protobuf{ 1: certificate, 2: signature (64) }
/// certificate       = protobuf{ 1: key id (uint32), 2: server key (33) }
/// signature         = XEdDSA(trust root, certificate)
/// ```
///
/// Every field is required; unknown fields are skipped. A signature of another length
/// parses and then fails to verify, as in libsignal.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    key_id: u32,
    key: PublicKey,
    certificate: Vec<u8>,
    signature: Vec<u8>,
    serialized: Vec<u8>,
}

impl ServerCertificate {
    /// Certifies `key` under `key_id`, signed by `trust_root` (the server side: a
    /// deployment runs its own root).
    pub fn new<R: CryptoRng + ?Sized>(
        key_id: u32,
        key: PublicKey,
        trust_root: &PrivateKey,
        rng: &mut R,
    ) -> Self {
        let mut certificate = Vec::with_capacity(40);
        put_uint(&mut certificate, 1, u64::from(key_id));
        put_bytes(&mut certificate, 2, &key.serialize());
        let signature = trust_root.calculate_signature(&certificate, rng).to_vec();
        let serialized = outer(&certificate, &signature);
        ServerCertificate {
            key_id,
            key,
            certificate,
            signature,
            serialized,
        }
    }

    /// Parses a certificate; its signature is checked by [`ServerCertificate::verify`].
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (certificate, signature) = split_outer(bytes)?;
        let mut r = Cursor::new(certificate);
        let (mut key_id, mut key) = (None, None);
        while let Some((n, v)) = r.field()? {
            match n {
                1 => key_id = Some(v.u32()?),
                2 => key = Some(PublicKey::deserialize(v.bytes()?)?),
                _ => {}
            }
        }
        Ok(ServerCertificate {
            key_id: key_id.ok_or(DecodeError::MissingField)?,
            key: key.ok_or(DecodeError::MissingField)?,
            certificate: certificate.to_vec(),
            signature: signature.to_vec(),
            serialized: bytes.to_vec(),
        })
    }

    /// The key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }
    /// The server's public key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }
    /// The signed bytes (field 1).
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }
    /// The signature (field 2), as received.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
    /// The whole certificate, as made or received.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// Checks the key id against [`REVOKED_SERVER_KEY_IDS`], then the signature against
    /// every root in `trust_roots`: all of them are tried, whichever verifies, so the
    /// time taken does not say which root signed.
    pub fn verify(&self, trust_roots: &[PublicKey]) -> Result<(), CertificateError> {
        if REVOKED_SERVER_KEY_IDS.contains(&self.key_id) {
            return Err(CertificateError::RevokedServerKey);
        }
        let mut any = false;
        for root in trust_roots {
            any |= root.verify_signature(&self.certificate, &self.signature);
        }
        if any {
            Ok(())
        } else {
            Err(CertificateError::UntrustedServerCertificate)
        }
    }
}

impl fmt::Debug for ServerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCertificate")
            .field("key_id", &self.key_id)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// How a sender certificate names the server certificate that signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// The whole server certificate, embedded (field 5): what libsignal's constructor
    /// writes.
    Certificate(ServerCertificate),
    /// Only its key id (field 8), to be found among the receiver's known server
    /// certificates ([`TrustPolicy`]). libsignal-client 0.103 parses this form and knows
    /// ids 2 and 3 (Signal's own servers) built in; missive knows only what the caller
    /// passes.
    Reference(u32),
}

/// What a receiver trusts: the roots that sign server certificates, the server
/// certificates a sender certificate may name by id ([`Signer::Reference`]), and the
/// server key ids it refuses on top of [`REVOKED_SERVER_KEY_IDS`] (a deployment that
/// retires a leaked server key lists its id here).
///
/// ```
/// use missive::crypto::PrivateKey;
/// use missive::sealed::TrustPolicy;
/// # use rand_core::SeedableRng;
/// # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
/// let root = PrivateKey::generate(&mut rng).public_key();
/// let roots = [root];
/// let trust = TrustPolicy::new(&roots, &[]).with_revoked_server_key_ids(&[7]);
/// assert!(trust.is_revoked(7) && trust.is_revoked(0xDEAD_C357) && !trust.is_revoked(8));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TrustPolicy<'a> {
    trust_roots: &'a [PublicKey],
    known_server_certificates: &'a [ServerCertificate],
    revoked_server_key_ids: &'a [u32],
}

impl<'a> TrustPolicy<'a> {
    /// A policy. `known_server_certificates` may be empty; each must itself verify under
    /// a trust root to be of any use.
    pub fn new(
        trust_roots: &'a [PublicKey],
        known_server_certificates: &'a [ServerCertificate],
    ) -> Self {
        TrustPolicy {
            trust_roots,
            known_server_certificates,
            revoked_server_key_ids: &[],
        }
    }

    /// The same policy, also refusing server certificates with these key ids.
    pub fn with_revoked_server_key_ids(mut self, ids: &'a [u32]) -> Self {
        self.revoked_server_key_ids = ids;
        self
    }

    /// Whether a server key id is refused: built in ([`REVOKED_SERVER_KEY_IDS`]) or
    /// listed by [`TrustPolicy::with_revoked_server_key_ids`].
    pub fn is_revoked(&self, key_id: u32) -> bool {
        REVOKED_SERVER_KEY_IDS.contains(&key_id) || self.revoked_server_key_ids.contains(&key_id)
    }

    /// The trust roots.
    pub fn trust_roots(&self) -> &'a [PublicKey] {
        self.trust_roots
    }
}

/// A sender's identity, certified by a server for a limited time.
///
/// ```text
/// SenderCertificate = protobuf{ 1: certificate, 2: signature (64) }
/// certificate = protobuf{
///     1: sender e164 (string, optional)
///     2: sender device id (uint32, 1..=127)
///     3: expiration (fixed64, milliseconds since 1970)
///     4: sender identity key (33)
///     5: server certificate (a whole ServerCertificate)  ┐ one of
///     8: server certificate key id (uint32)              ┘ (the last one written wins)
///     6: sender uuid (string)                            ┐ one of
///     7: sender uuid (16 bytes)                          ┘ (the last one written wins)
/// }
/// signature = XEdDSA(server key, certificate)
/// ```
///
/// Fields 2, 3, 4, one of 5/8 and one of 6/7 are required; unknown fields are skipped.
/// The uuid string is not checked to be a uuid (libsignal accepts any UTF-8, even empty).
#[derive(Clone, PartialEq, Eq)]
pub struct SenderCertificate {
    sender_uuid: String,
    sender_e164: Option<String>,
    device_id: u8,
    expiration: u64,
    identity_key: IdentityKey,
    signer: Signer,
    certificate: Vec<u8>,
    signature: Vec<u8>,
    serialized: Vec<u8>,
}

/// Device ids run from 1 to 127 (libsignal refuses 0 and 128 and up).
const MAX_DEVICE_ID: u8 = 127;

impl SenderCertificate {
    /// Certifies a sender (the server side). `server_key` must be the private key of the
    /// signer's certificate when it is embedded; `device_id` must be 1..=127.
    #[allow(clippy::too_many_arguments)]
    pub fn new<R: CryptoRng + ?Sized>(
        sender_uuid: &str,
        sender_e164: Option<&str>,
        device_id: u8,
        identity_key: IdentityKey,
        expiration_ms: u64,
        signer: Signer,
        server_key: &PrivateKey,
        rng: &mut R,
    ) -> Result<Self, SealedSenderError> {
        if device_id == 0 || device_id > MAX_DEVICE_ID {
            return Err(MisuseError::InvalidArgument.into());
        }
        if let Signer::Certificate(c) = &signer
            && *c.key() != server_key.public_key()
        {
            return Err(MisuseError::InvalidArgument.into());
        }
        let embedded = match &signer {
            Signer::Certificate(c) => c.serialized().len(),
            Signer::Reference(_) => 0,
        };
        let mut certificate =
            Vec::with_capacity(64 + sender_uuid.len() + sender_e164.map_or(0, str::len) + embedded);
        if let Some(e164) = sender_e164 {
            put_bytes(&mut certificate, 1, e164.as_bytes());
        }
        put_uint(&mut certificate, 2, u64::from(device_id));
        put_fixed64(&mut certificate, 3, expiration_ms);
        put_bytes(&mut certificate, 4, &identity_key.serialize());
        if let Signer::Certificate(c) = &signer {
            put_bytes(&mut certificate, 5, c.serialized());
        }
        put_bytes(&mut certificate, 6, sender_uuid.as_bytes());
        if let Signer::Reference(id) = &signer {
            put_uint(&mut certificate, 8, u64::from(*id));
        }
        let signature = server_key.calculate_signature(&certificate, rng).to_vec();
        let serialized = outer(&certificate, &signature);
        Ok(SenderCertificate {
            sender_uuid: sender_uuid.to_string(),
            sender_e164: sender_e164.map(ToString::to_string),
            device_id,
            expiration: expiration_ms,
            identity_key,
            signer,
            certificate,
            signature,
            serialized,
        })
    }

    /// Parses a certificate; [`SenderCertificate::validate`] checks it.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (certificate, signature) = split_outer(bytes)?;
        let mut r = Cursor::new(certificate);
        let (mut uuid, mut e164, mut device, mut expiration, mut key, mut signer) =
            (None, None, None, None, None, None);
        while let Some((n, v)) = r.field()? {
            match n {
                1 => e164 = Some(v.string()?.to_string()),
                2 => {
                    let d = v.u32()?;
                    match u8::try_from(d) {
                        Ok(d @ 1..=MAX_DEVICE_ID) => device = Some(d),
                        _ => return Err(DecodeError::BadLength),
                    }
                }
                3 => expiration = Some(v.fixed64()?),
                4 => key = Some(IdentityKey::deserialize(v.bytes()?)?),
                5 => {
                    signer = Some(Signer::Certificate(ServerCertificate::deserialize(
                        v.bytes()?,
                    )?))
                }
                8 => signer = Some(Signer::Reference(v.u32()?)),
                6 => uuid = Some(v.string()?.to_string()),
                7 => {
                    let b: &[u8; 16] = v.bytes()?.try_into().map_err(|_| DecodeError::BadLength)?;
                    uuid = Some(format_uuid(b));
                }
                _ => {}
            }
        }
        Ok(SenderCertificate {
            sender_uuid: uuid.ok_or(DecodeError::MissingField)?,
            sender_e164: e164,
            device_id: device.ok_or(DecodeError::MissingField)?,
            expiration: expiration.ok_or(DecodeError::MissingField)?,
            identity_key: key.ok_or(DecodeError::MissingField)?,
            signer: signer.ok_or(DecodeError::MissingField)?,
            certificate: certificate.to_vec(),
            signature: signature.to_vec(),
            serialized: bytes.to_vec(),
        })
    }

    /// Checks the certificate, in this order: its server certificate is found (embedded
    /// or known by id), is not revoked (built-in list and the policy's own) and verifies
    /// under one of the trust roots; its own
    /// signature verifies under that server's key; `now_ms` is not after its expiry
    /// (valid through the expiry millisecond itself, as in libsignal).
    pub fn validate(&self, trust: &TrustPolicy<'_>, now_ms: u64) -> Result<(), CertificateError> {
        let server = self.server_certificate(trust)?;
        if trust.is_revoked(server.key_id()) {
            return Err(CertificateError::RevokedServerKey);
        }
        server.verify(trust.trust_roots)?;
        if !server
            .key()
            .verify_signature(&self.certificate, &self.signature)
        {
            return Err(CertificateError::BadSignature);
        }
        if now_ms > self.expiration {
            return Err(CertificateError::Expired);
        }
        Ok(())
    }

    /// The server certificate that signed this one: embedded, or looked up by key id
    /// among the policy's known certificates.
    pub fn server_certificate<'a>(
        &'a self,
        trust: &TrustPolicy<'a>,
    ) -> Result<&'a ServerCertificate, CertificateError> {
        match &self.signer {
            Signer::Certificate(c) => Ok(c),
            Signer::Reference(id) => trust
                .known_server_certificates
                .iter()
                .find(|c| c.key_id() == *id)
                .ok_or(CertificateError::UnknownServerCertificate),
        }
    }

    /// The sender's uuid (field 6, or field 7 formatted as a lowercase uuid).
    pub fn sender_uuid(&self) -> &str {
        &self.sender_uuid
    }
    /// The sender's phone number, when the server put it in.
    pub fn sender_e164(&self) -> Option<&str> {
        self.sender_e164.as_deref()
    }
    /// The sender's device id (1..=127).
    pub fn device_id(&self) -> u8 {
        self.device_id
    }
    /// The expiry, in the units the server used (Signal: milliseconds since 1970).
    pub fn expiration(&self) -> u64 {
        self.expiration
    }
    /// The sender's identity key.
    pub fn identity_key(&self) -> &IdentityKey {
        &self.identity_key
    }
    /// How the server certificate is named.
    pub fn signer(&self) -> &Signer {
        &self.signer
    }
    /// The signed bytes (field 1).
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }
    /// The signature (field 2), as received.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }
    /// The whole certificate, as made or received.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

impl fmt::Debug for SenderCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderCertificate")
            .field("sender_uuid", &self.sender_uuid)
            .field("device_id", &self.device_id)
            .field("expiration", &self.expiration)
            .field("identity_key", &self.identity_key)
            .finish_non_exhaustive()
    }
}

/// `protobuf{1: certificate, 2: signature}`.
fn outer(certificate: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(certificate.len() + SIGNATURE_LEN + 8);
    put_bytes(&mut out, 1, certificate);
    put_bytes(&mut out, 2, signature);
    out
}

/// Splits `protobuf{1: certificate, 2: signature}`, both required.
fn split_outer(bytes: &[u8]) -> Result<(&[u8], &[u8]), DecodeError> {
    let mut r = Cursor::new(bytes);
    let (mut certificate, mut signature) = (None, None);
    while let Some((n, v)) = r.field()? {
        match (n, v) {
            (1, Field::Bytes(b)) => certificate = Some(b),
            (2, Field::Bytes(b)) => signature = Some(b),
            (1 | 2, _) => return Err(DecodeError::Malformed),
            _ => {}
        }
    }
    Ok((
        certificate.ok_or(DecodeError::MissingField)?,
        signature.ok_or(DecodeError::MissingField)?,
    ))
}

//! The [`SenderKeyMessage`]: one group message, signed by its sender's chain.

use alloc::vec::Vec;

use rand_core::CryptoRng;

use super::distribution::DistributionId;
use super::{parse_version, version_byte};
use crate::crypto::PublicKey;
use crate::crypto::xeddsa::{self, SIGNATURE_LEN, SigningKey, VerifyingKey};
use crate::error::DecodeError;
use crate::wire::proto::{Reader, put_bytes, put_uint};

/// A group message.
///
/// ```text
/// 0x33 ‖ protobuf{ 1: distribution id (16) ; 2: chain id ; 3: iteration ; 4: ciphertext }
///      ‖ XEdDSA signature (64) over everything before it
/// ```
///
/// The ciphertext is AES-256-CBC with PKCS#7 padding under the iteration's message keys;
/// there is no MAC: the signature by the chain's signing key authenticates the whole
/// message, version byte included, and is checked before anything else is done with it.
///
/// ```
/// use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
/// use missive::*;
/// # use rand_core::SeedableRng;
/// # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
/// # let now = Timestamp::from_millis(1_780_000_000_000);
/// # let new_store = |rng: &mut _, reg| InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), reg);
/// let (alice_at, bob_at) = (ProtocolAddress::new("alice", 1), ProtocolAddress::new("bob", 1));
/// let mut alice = Device::new(alice_at.clone(), new_store(&mut rng, 1));
/// let mut bob = Device::new(bob_at.clone(), new_store(&mut rng, 2));
/// // Alice has a 1:1 session with Bob.
/// let bundle = bob.store_mut().generate_bundle(&BundleSpec::new(1), 1, now, &mut rng);
/// alice.process_prekey_bundle(&bob_at, &bundle, now, &mut rng)?;
///
/// // She sends her chain over it; Bob processes it as coming from that session's sender.
/// let group = DistributionId::random(&mut rng);
/// let skdm = alice.sender_key_distribution_message(group, &mut rng)?;
/// let sent = alice.encrypt(&bob_at, skdm.serialized(), now, &mut rng)?;
/// let delivered = bob.decrypt(&alice_at, sent.message_type(), sent.serialize(), &mut rng)?;
/// let skdm = SenderKeyDistributionMessage::deserialize(&delivered.plaintext)?;
/// bob.process_sender_key_distribution_message(&delivered.sender, &skdm)?;
///
/// let sent = alice.group_encrypt(group, b"hello group", &mut rng)?;
/// let received = SenderKeyMessage::deserialize(sent.serialized())?;
/// assert_eq!(received.iteration(), 0);
/// assert!(received.verify_signature(skdm.signing_key()));
/// let plaintext = bob.group_decrypt(&alice_at, &received)?;
/// assert_eq!(plaintext, b"hello group");
/// # Ok::<(), missive::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderKeyMessage {
    distribution_id: DistributionId,
    chain_id: u32,
    iteration: u32,
    ciphertext: Vec<u8>,
    serialized: Vec<u8>,
}

impl SenderKeyMessage {
    /// Builds and signs a message.
    pub(crate) fn new<R: CryptoRng + ?Sized>(
        distribution_id: DistributionId,
        chain_id: u32,
        iteration: u32,
        ciphertext: Vec<u8>,
        signing_key: &SigningKey,
        rng: &mut R,
    ) -> Self {
        let mut out = encode_body(
            version_byte(),
            distribution_id,
            chain_id,
            iteration,
            &ciphertext,
        );
        let signature = signing_key.sign(&out, rng);
        out.extend_from_slice(&signature);
        SenderKeyMessage {
            distribution_id,
            chain_id,
            iteration,
            ciphertext,
            serialized: out,
        }
    }

    /// The canonical encoding of this message: its own version byte, its fields as missive
    /// writes them, and its own signature. Equal to the input for every message missive
    /// or libsignal sends; differs for input with unknown or repeated fields or
    /// non-minimal varints, which the parser accepts (the signature then covers the
    /// input, not this encoding). For the fuzz targets (`crate::__fuzz`).
    #[cfg(feature = "fuzzing-hooks")]
    pub(crate) fn reencode(&self) -> Vec<u8> {
        let version = self.serialized.first().copied().unwrap_or(version_byte());
        let mut out = encode_body(
            version,
            self.distribution_id,
            self.chain_id,
            self.iteration,
            &self.ciphertext,
        );
        let at = self.serialized.len().saturating_sub(SIGNATURE_LEN);
        out.extend_from_slice(self.serialized.get(at..).unwrap_or_default());
        out
    }

    /// Parses a message; its signature is checked when it is decrypted (or with
    /// [`SenderKeyMessage::verify_signature`]). Every field is required; unknown fields
    /// are skipped.
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&vb, rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
        parse_version(vb)?;
        let proto_len = rest
            .len()
            .checked_sub(SIGNATURE_LEN)
            .ok_or(DecodeError::Truncated)?;
        let (proto, _signature) = rest.split_at(proto_len);
        let mut r = Reader::new(proto);
        let (mut id, mut chain_id, mut iteration, mut ciphertext) = (None, None, None, None);
        while let Some((n, v)) = r.field()? {
            match n {
                1 => id = Some(DistributionId::from_bytes(v.as_array::<16>()?)),
                2 => chain_id = Some(v.as_u32()?),
                3 => iteration = Some(v.as_u32()?),
                4 => ciphertext = Some(v.as_bytes()?),
                _ => {} // unknown fields are skipped, as protobuf requires
            }
        }
        Ok(SenderKeyMessage {
            distribution_id: id.ok_or(DecodeError::MissingField)?,
            chain_id: chain_id.ok_or(DecodeError::MissingField)?,
            iteration: iteration.ok_or(DecodeError::MissingField)?,
            ciphertext: ciphertext.ok_or(DecodeError::MissingField)?.to_vec(),
            serialized: bytes.to_vec(),
        })
    }

    /// The distribution id.
    pub fn distribution_id(&self) -> DistributionId {
        self.distribution_id
    }
    /// The sender's chain id.
    pub fn chain_id(&self) -> u32 {
        self.chain_id
    }
    /// The message's iteration in its chain.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }
    /// The AES-256-CBC ciphertext.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }
    /// The whole message as sent.
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }

    /// The signed bytes (`version ‖ protobuf`) and the signature.
    pub(crate) fn signed_parts(&self) -> Option<(&[u8], &[u8; 64])> {
        let split = self.serialized.len().checked_sub(SIGNATURE_LEN)?;
        let (body, sig) = self.serialized.split_at(split);
        Some((body, sig.try_into().ok()?))
    }

    /// Whether the signature verifies under `signing_key` (the chain's public key, from
    /// its distribution message).
    pub fn verify_signature(&self, signing_key: &PublicKey) -> bool {
        self.signed_parts()
            .is_some_and(|(body, sig)| xeddsa::verify(signing_key, body, sig))
    }

    /// [`SenderKeyMessage::verify_signature`] with the key's point already rebuilt.
    pub(crate) fn verify_with(&self, signing_key: &VerifyingKey) -> bool {
        self.signed_parts()
            .is_some_and(|(body, sig)| signing_key.verify(body, sig))
    }
}

/// `version ‖ protobuf`: the signed part of a message, with room left for the signature.
fn encode_body(
    version: u8,
    distribution_id: DistributionId,
    chain_id: u32,
    iteration: u32,
    ciphertext: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(ciphertext.len() + 100);
    out.push(version);
    put_bytes(&mut out, 1, distribution_id.as_bytes());
    put_uint(&mut out, 2, u64::from(chain_id));
    put_uint(&mut out, 3, u64::from(iteration));
    put_bytes(&mut out, 4, ciphertext);
    out
}

//! Distribution ids and the [`SenderKeyDistributionMessage`].

use alloc::vec::Vec;
use core::fmt;

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::chain::SenderChainKey;
use super::parse_version;
use crate::crypto::PublicKey;
use crate::error::DecodeError;
use crate::wire::proto::{Reader, put_bytes, put_uint};

/// Which sender-key "channel" of a sender a message belongs to: a UUID, usually one per
/// group. Records are kept per (sender address, distribution id).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DistributionId([u8; 16]);

impl DistributionId {
    /// From the 16 bytes of the UUID, in the order of its hex string.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        DistributionId(bytes)
    }

    /// The 16 bytes of the UUID.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Parses the canonical 8-4-4-4-12 hex form (either case).
    pub fn parse(s: &str) -> Option<Self> {
        let mut out = [0u8; 16];
        crate::address::parse_uuid(s, &mut out)?;
        Some(DistributionId(out))
    }

    /// A random (version 4) UUID from the caller's RNG.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        DistributionId(b)
    }
}

impl fmt::Display for DistributionId {
    /// The lowercase 8-4-4-4-12 hex form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DistributionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DistributionId({self})")
    }
}

/// The message that gives group members a sender's chain: its chain id, the chain key
/// at the current iteration, and the public key that signs its messages.
///
/// ```text
/// 0x33 ‖ protobuf{ 1: distribution id (16) ; 2: chain id ; 3: iteration ;
///                  4: chain key (32) ; 5: signing key (0x05 ‖ 32) }
/// ```
///
/// **It is not signed or encrypted.** Anyone who sees it can read every later message
/// of the chain, and anyone who can deliver one can impersonate the sender to the
/// receiver. Send it only inside an authenticated 1:1 session
/// ([`Device::distribute_sender_key`](crate::Device::distribute_sender_key)), and
/// process it with the sender that session authenticated
/// ([`Device::process_sender_key_distribution_message`](crate::Device::process_sender_key_distribution_message)).
///
/// It carries a secret (the chain key): zeroized on drop, and `Debug` does not print it.
///
/// ```
/// use missive::{Device, DistributionId, IdentityKeyPair, ProtocolAddress, SenderKeyDistributionMessage};
/// use missive::store::memory::InMemSignalProtocolStore;
/// # use rand_core::SeedableRng;
/// # let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
/// let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 1);
/// let mut alice = Device::new(ProtocolAddress::new("alice", 1), store);
/// let group = DistributionId::random(&mut rng);
/// let sent = alice.sender_key_distribution_message(group, &mut rng)?;
/// // … encrypted to each member over its 1:1 session, then on the member's side:
/// let received = SenderKeyDistributionMessage::deserialize(sent.serialized())?;
/// assert_eq!(received.distribution_id(), group);
/// assert_eq!(received.iteration(), 0);
/// # Ok::<(), missive::Error>(())
/// ```
#[derive(Clone)]
pub struct SenderKeyDistributionMessage {
    distribution_id: DistributionId,
    chain_id: u32,
    iteration: u32,
    chain_key: Zeroizing<[u8; 32]>,
    signing_key: PublicKey,
    serialized: Zeroizing<Vec<u8>>,
}

impl SenderKeyDistributionMessage {
    pub(crate) fn new(
        distribution_id: DistributionId,
        chain_id: u32,
        chain_key: &SenderChainKey,
        signing_key: PublicKey,
    ) -> Self {
        let mut out = Zeroizing::new(Vec::with_capacity(100));
        out.push(super::version_byte());
        put_bytes(&mut out, 1, distribution_id.as_bytes());
        put_uint(&mut out, 2, u64::from(chain_id));
        put_uint(&mut out, 3, u64::from(chain_key.iteration()));
        put_bytes(&mut out, 4, chain_key.key());
        put_bytes(&mut out, 5, &signing_key.serialize());
        SenderKeyDistributionMessage {
            distribution_id,
            chain_id,
            iteration: chain_key.iteration(),
            chain_key: Zeroizing::new(*chain_key.key()),
            signing_key,
            serialized: out,
        }
    }

    /// The canonical encoding of this message: its fields as missive writes them, under
    /// version byte `0x33`. For the fuzz targets (`crate::__fuzz`).
    #[cfg(feature = "fuzzing-hooks")]
    pub(crate) fn reencode(&self) -> Zeroizing<Vec<u8>> {
        let chain_key = SenderChainKey::new(self.iteration, *self.chain_key);
        SenderKeyDistributionMessage::new(
            self.distribution_id,
            self.chain_id,
            &chain_key,
            self.signing_key,
        )
        .serialized
    }

    /// Parses a distribution message. Every field is required; unknown fields are
    /// skipped. Nothing here is authenticated (see the type's documentation).
    pub fn deserialize(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&vb, rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
        parse_version(vb)?;
        let mut r = Reader::new(rest);
        let (mut id, mut chain_id, mut iteration, mut chain_key, mut signing_key) =
            (None, None, None, None, None);
        while let Some((n, v)) = r.field()? {
            match n {
                1 => id = Some(DistributionId(v.as_array::<16>()?)),
                2 => chain_id = Some(v.as_u32()?),
                3 => iteration = Some(v.as_u32()?),
                // A repeated field's earlier value is zeroized as it is dropped.
                4 => chain_key = Some(Zeroizing::new(v.as_array::<32>()?)),
                5 => {
                    signing_key = Some(
                        PublicKey::deserialize(v.as_bytes()?)
                            .map_err(|_| DecodeError::InvalidKey)?,
                    )
                }
                _ => {} // unknown fields are skipped, as protobuf requires
            }
        }
        Ok(SenderKeyDistributionMessage {
            distribution_id: id.ok_or(DecodeError::MissingField)?,
            chain_id: chain_id.ok_or(DecodeError::MissingField)?,
            iteration: iteration.ok_or(DecodeError::MissingField)?,
            chain_key: chain_key.ok_or(DecodeError::MissingField)?,
            signing_key: signing_key.ok_or(DecodeError::MissingField)?,
            serialized: Zeroizing::new(bytes.to_vec()),
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
    /// The iteration of [`SenderKeyDistributionMessage::chain_key`]: the first message
    /// the receiver will be able to read.
    pub fn iteration(&self) -> u32 {
        self.iteration
    }
    /// The chain key at [`SenderKeyDistributionMessage::iteration`] (secret).
    pub fn chain_key(&self) -> &[u8; 32] {
        &self.chain_key
    }
    /// The public key that signs the chain's messages.
    pub fn signing_key(&self) -> &PublicKey {
        &self.signing_key
    }
    /// The message as sent (secret: it contains the chain key).
    pub fn serialized(&self) -> &[u8] {
        &self.serialized
    }
}

impl fmt::Debug for SenderKeyDistributionMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderKeyDistributionMessage")
            .field("distribution_id", &self.distribution_id)
            .field("chain_id", &self.chain_id)
            .field("iteration", &self.iteration)
            .field("signing_key", &self.signing_key)
            .finish_non_exhaustive()
    }
}

impl PartialEq for SenderKeyDistributionMessage {
    fn eq(&self, other: &Self) -> bool {
        crate::crypto::kdf::ct_eq(&self.serialized, &other.serialized)
    }
}
impl Eq for SenderKeyDistributionMessage {}

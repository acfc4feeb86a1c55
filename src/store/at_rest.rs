//! Records encrypted at rest: one envelope format for every record kind a store keeps,
//! AES-256-GCM under a 32-byte storage key that the app supplies (from the OS keystore).
//!
//! ```text
//! envelope = format u8 (= 1) ‖ key id u32 BE ‖ nonce (12 random bytes)
//!            ‖ AES-256-GCM ciphertext ‖ tag (16)
//! AD       = "missive at rest" (15 bytes) ‖ format u8 ‖ kind u8 ‖ key id u32 BE ‖ name
//! ```
//!
//! The associated data binds the record's [`RecordKind`], its name (the address or id it
//! is stored under, [`RecordName`]), the key id and the format version: a record moved
//! to another address, read as another kind, put under another key id or rewritten in
//! another format fails to open, exactly like a damaged one. The nonce is drawn from the
//! caller's RNG for every write (never reused by construction: random 96-bit nonces keep
//! the collision probability under 2⁻³² for 2³² writes under one key, NIST SP 800-38D
//! §8.3; [`StorageKey`] ids let an app rotate long before that).
//!
//! Rotation re-encrypts each record under the new key ([`reseal`]); a store keeps the key
//! id of every row so that a rotation interrupted half-way resumes where it stopped (see
//! `missive-sqlite`). The envelope says which key sealed it ([`key_id`]).
//!
//! What the envelope does **not** give: freshness. Someone who can write the store's
//! files can put back an older copy of a whole record (or of the whole database); only a
//! counter kept outside the store would notice. See SECURITY.md, "At rest".

use alloc::vec::Vec;
use core::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::address::ProtocolAddress;
use crate::group::DistributionId;
use crate::session::KeyChain;

/// The envelope format this module writes and reads.
pub const ENVELOPE_FORMAT: u8 = 1;

/// The constant the associated data starts with.
const AD_LABEL: &[u8; 15] = b"missive at rest";

/// Bytes before the ciphertext: format, key id, nonce.
pub const ENVELOPE_HEADER_LEN: usize = 1 + 4 + 12;

/// The GCM tag after the ciphertext.
pub const ENVELOPE_TAG_LEN: usize = 16;

/// What a sealed record is. Its byte is part of the associated data, so a record of one
/// kind never opens as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[repr(u8)]
pub enum RecordKind {
    /// Our identity key pair and registration id.
    LocalIdentity = 1,
    /// A peer's identity key.
    Identity = 2,
    /// A one-time EC prekey.
    PreKey = 3,
    /// A signed EC prekey.
    SignedPreKey = 4,
    /// A Kyber prekey.
    KyberPreKey = 5,
    /// The current session's head (the state without stored keys).
    SessionHead = 6,
    /// One stored key of the current session (a skipped seed or SPQR key).
    SessionStoredKey = 7,
    /// The archived sessions of a record.
    SessionArchive = 8,
    /// A sender-key record.
    SenderKey = 9,
    /// A store's own record (a key check value, settings).
    StoreMeta = 10,
    /// A whole session record (for stores that keep records whole).
    Session = 11,
}

/// The name a record is stored under: its address or id, in a fixed encoding that the
/// associated data binds.
///
/// ```text
/// id         = u32 BE
/// address    = u32 BE length ‖ name (UTF-8) ‖ device id u32 BE
/// stored key = address ‖ chain ‖ n u32 BE,   chain = 0x00 (SPQR) | 0x01 ‖ ratchet key (33)
/// sender key = address ‖ distribution id (16)
/// meta       = the label's bytes
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordName(Vec<u8>);

impl RecordName {
    /// A record stored by numeric id (prekeys).
    pub fn id(id: u32) -> Self {
        RecordName(Vec::from(id.to_be_bytes()))
    }

    /// A record stored by address (identities, sessions).
    pub fn address(address: &ProtocolAddress) -> Self {
        let mut v = Vec::with_capacity(8 + address.name().len());
        push_address(&mut v, address);
        RecordName(v)
    }

    /// One stored key of the current session with `address`.
    pub fn stored_key(address: &ProtocolAddress, chain: &KeyChain, n: u32) -> Self {
        let mut v = Vec::with_capacity(8 + address.name().len() + 34 + 4);
        push_address(&mut v, address);
        v.extend_from_slice(&chain_bytes(chain));
        v.extend_from_slice(&n.to_be_bytes());
        RecordName(v)
    }

    /// The sender-key record of `sender` for `distribution_id`.
    pub fn sender_key(sender: &ProtocolAddress, distribution_id: DistributionId) -> Self {
        let mut v = Vec::with_capacity(8 + sender.name().len() + 16);
        push_address(&mut v, sender);
        v.extend_from_slice(distribution_id.as_bytes());
        RecordName(v)
    }

    /// A store's own record, by label.
    pub fn meta(label: &str) -> Self {
        RecordName(Vec::from(label.as_bytes()))
    }

    /// A name from its encoding (for a store that keeps names as they are bound).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        RecordName(Vec::from(bytes))
    }

    /// The encoding.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for RecordName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordName(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

fn push_address(v: &mut Vec<u8>, address: &ProtocolAddress) {
    let name = address.name().as_bytes();
    // Names are service ids (a few dozen bytes); a name of 4 GiB cannot be stored anyway.
    v.extend_from_slice(&u32::try_from(name.len()).unwrap_or(u32::MAX).to_be_bytes());
    v.extend_from_slice(name);
    v.extend_from_slice(&address.device_id().to_be_bytes());
}

/// The encoding of a stored key's chain: `0x00` for SPQR epoch 1 and `0x00 ‖ epoch BE64`
/// for a later SPQR epoch, `0x01 ‖ ratchet key (33)` for a Double Ratchet receiving
/// chain. One encoding per chain (epoch 1 keeps the single byte that stores wrote before
/// the braid's epochs), so a store can key its rows by chain.
pub fn chain_bytes(chain: &KeyChain) -> Vec<u8> {
    match chain {
        KeyChain::PostQuantum { epoch: 1 } => Vec::from([0u8]),
        KeyChain::PostQuantum { epoch } => {
            let mut v = Vec::with_capacity(9);
            v.push(0);
            v.extend_from_slice(&epoch.to_be_bytes());
            v
        }
        KeyChain::Ratchet(k) => {
            let mut v = Vec::with_capacity(34);
            v.push(1);
            v.extend_from_slice(&k.serialize());
            v
        }
    }
}

/// The chain that [`chain_bytes`] encoded.
pub fn chain_from_bytes(bytes: &[u8]) -> Result<KeyChain, OpenError> {
    match bytes.split_first() {
        Some((0, [])) => Ok(KeyChain::PostQuantum { epoch: 1 }),
        Some((0, e)) => match <[u8; 8]>::try_from(e).map(u64::from_be_bytes) {
            // Epoch 1 has its short form only; epoch 0 does not exist.
            Ok(epoch) if epoch >= 2 => Ok(KeyChain::PostQuantum { epoch }),
            _ => Err(OpenError::Malformed),
        },
        Some((1, key)) => crate::crypto::PublicKey::deserialize(key)
            .map(KeyChain::Ratchet)
            .map_err(|_| OpenError::Malformed),
        _ => Err(OpenError::Malformed),
    }
}

/// A 32-byte storage key and its id. The app keeps the key in the OS keystore and gives
/// it to the store when it opens it; ids tell envelopes apart across rotations. No
/// `Debug` of the key, no `Clone`; the key schedule is wiped on drop.
///
/// ```
/// use missive::store::at_rest::{open, seal, RecordKind, RecordName, StorageKey};
/// use rand_core::SeedableRng;
/// let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1); // an app passes its OS RNG
/// let key = StorageKey::new(1, &[7; 32]);
/// let name = RecordName::id(42);
/// let sealed = seal(&key, RecordKind::PreKey, &name, b"record", &mut rng);
/// assert_eq!(&open(&key, RecordKind::PreKey, &name, &sealed).unwrap()[..], b"record");
/// // Another id, another kind, another key: refused.
/// assert!(open(&key, RecordKind::PreKey, &RecordName::id(43), &sealed).is_err());
/// assert!(open(&key, RecordKind::SignedPreKey, &name, &sealed).is_err());
/// assert!(open(&StorageKey::new(1, &[8; 32]), RecordKind::PreKey, &name, &sealed).is_err());
/// ```
pub struct StorageKey {
    id: u32,
    // Boxed: the key schedule stays where it was made, and is wiped there on drop.
    cipher: alloc::boxed::Box<Aes256Gcm>,
}

impl StorageKey {
    /// The key with id `id` (the app's choice; unique among the keys a store has used).
    pub fn new(id: u32, key: &[u8; 32]) -> Self {
        StorageKey {
            id,
            cipher: alloc::boxed::Box::new(Aes256Gcm::new(key.into())),
        }
    }

    /// The key's id.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why an envelope did not open. Every failure of authentication is the same
/// [`OpenError::Unauthentic`]: a bit flipped, a record moved to another name or kind, or
/// sealed under another key with the same id cannot be told apart (and need not be).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpenError {
    /// Shorter than a header and a tag.
    Truncated,
    /// A format byte this version does not read.
    UnknownFormat(u8),
    /// Sealed under another key id than the key given.
    WrongKey {
        /// The id in the envelope.
        sealed_with: u32,
    },
    /// The tag does not verify: damaged, moved, or under another key.
    Unauthentic,
    /// The record opened but its content is not a valid record of its kind.
    Malformed,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Truncated => write!(f, "sealed record truncated"),
            OpenError::UnknownFormat(v) => write!(f, "sealed record in unknown format {v}"),
            OpenError::WrongKey { sealed_with } => {
                write!(
                    f,
                    "sealed record under storage key {sealed_with}, not the key given"
                )
            }
            OpenError::Unauthentic => write!(
                f,
                "sealed record fails authentication (damaged, moved to another address or kind, or under another key)"
            ),
            OpenError::Malformed => write!(f, "sealed record opened but does not parse"),
        }
    }
}

impl core::error::Error for OpenError {}

fn associated_data(kind: RecordKind, key_id: u32, name: &RecordName) -> Vec<u8> {
    let mut ad = Vec::with_capacity(AD_LABEL.len() + 6 + name.0.len());
    ad.extend_from_slice(AD_LABEL);
    ad.push(ENVELOPE_FORMAT);
    ad.push(kind as u8);
    ad.extend_from_slice(&key_id.to_be_bytes());
    ad.extend_from_slice(&name.0);
    ad
}

/// Seals `plaintext` as a record of `kind` named `name` under `key`, with a fresh nonce
/// from `rng`. The result holds no secret in the clear.
pub fn seal<R: CryptoRng + ?Sized>(
    key: &StorageKey,
    kind: RecordKind,
    name: &RecordName,
    plaintext: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + plaintext.len() + ENVELOPE_TAG_LEN);
    out.push(ENVELOPE_FORMAT);
    out.extend_from_slice(&key.id.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plaintext);
    let ad = associated_data(kind, key.id, name);
    let body = out.get_mut(ENVELOPE_HEADER_LEN..).unwrap_or_default();
    // Encryption fails only for inputs of 64 GiB and more, which no record reaches; the
    // plaintext copy is then wiped rather than returned.
    match key
        .cipher
        .encrypt_inout_detached(&Nonce::from(nonce), &ad, body.into())
    {
        Ok(tag) => out.extend_from_slice(&tag),
        Err(_) => {
            zeroize::Zeroize::zeroize(&mut out);
            out.clear();
        }
    }
    out
}

/// The key id an envelope was sealed under (to pick the key during a rotation).
pub fn key_id(envelope: &[u8]) -> Result<u32, OpenError> {
    if envelope.len() < ENVELOPE_HEADER_LEN + ENVELOPE_TAG_LEN {
        return Err(OpenError::Truncated);
    }
    match envelope.first() {
        Some(&ENVELOPE_FORMAT) => {}
        Some(&v) => return Err(OpenError::UnknownFormat(v)),
        None => return Err(OpenError::Truncated),
    }
    let id = envelope.get(1..5).ok_or(OpenError::Truncated)?;
    let mut b = [0u8; 4];
    b.copy_from_slice(id);
    Ok(u32::from_be_bytes(b))
}

/// Opens an envelope of `kind` named `name` with `key`. The plaintext is wiped on drop.
pub fn open(
    key: &StorageKey,
    kind: RecordKind,
    name: &RecordName,
    envelope: &[u8],
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let sealed_with = key_id(envelope)?;
    if sealed_with != key.id {
        return Err(OpenError::WrongKey { sealed_with });
    }
    let (header, rest) = envelope
        .split_at_checked(ENVELOPE_HEADER_LEN)
        .ok_or(OpenError::Truncated)?;
    let (body, tag) = rest
        .split_at_checked(rest.len() - ENVELOPE_TAG_LEN)
        .ok_or(OpenError::Truncated)?;
    let nonce: [u8; 12] = header
        .get(5..)
        .and_then(|n| n.try_into().ok())
        .ok_or(OpenError::Truncated)?;
    let tag: [u8; 16] = tag.try_into().map_err(|_| OpenError::Truncated)?;
    let mut plain = Zeroizing::new(Vec::from(body));
    let ad = associated_data(kind, key.id, name);
    key.cipher
        .decrypt_inout_detached(
            &Nonce::from(nonce),
            &ad,
            plain.as_mut_slice().into(),
            &Tag::from(tag),
        )
        .map_err(|_| OpenError::Unauthentic)?;
    Ok(plain)
}

/// Opens an envelope with `old` and seals its content under `new`, for a key rotation.
pub fn reseal<R: CryptoRng + ?Sized>(
    old: &StorageKey,
    new: &StorageKey,
    kind: RecordKind,
    name: &RecordName,
    envelope: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, OpenError> {
    let plain = open(old, kind, name, envelope)?;
    Ok(seal(new, kind, name, &plain, rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn rng() -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::seed_from_u64(9)
    }

    #[test]
    fn seals_and_opens() {
        let key = StorageKey::new(3, &[1; 32]);
        let name = RecordName::address(&ProtocolAddress::new("alice", 2));
        let s = seal(
            &key,
            RecordKind::SessionHead,
            &name,
            b"head bytes",
            &mut rng(),
        );
        assert_eq!(s.len(), ENVELOPE_HEADER_LEN + 10 + ENVELOPE_TAG_LEN);
        assert_eq!(key_id(&s), Ok(3));
        let p = open(&key, RecordKind::SessionHead, &name, &s).unwrap();
        assert_eq!(&p[..], b"head bytes");
        // The plaintext is not in the envelope.
        assert!(!s.windows(10).any(|w| w == b"head bytes"));
    }

    #[test]
    fn nonces_differ_per_write() {
        let key = StorageKey::new(3, &[1; 32]);
        let name = RecordName::id(1);
        let mut r = rng();
        let a = seal(&key, RecordKind::PreKey, &name, b"x", &mut r);
        let b = seal(&key, RecordKind::PreKey, &name, b"x", &mut r);
        assert_ne!(a[5..17], b[5..17]);
    }

    #[test]
    fn every_bit_flip_and_truncation_is_refused() {
        let key = StorageKey::new(3, &[1; 32]);
        let name = RecordName::id(1);
        let s = seal(&key, RecordKind::PreKey, &name, b"some record", &mut rng());
        for i in 0..s.len() * 8 {
            let mut t = s.clone();
            t[i / 8] ^= 1 << (i % 8);
            assert!(
                open(&key, RecordKind::PreKey, &name, &t).is_err(),
                "bit {i}"
            );
        }
        for n in 0..s.len() {
            assert!(open(&key, RecordKind::PreKey, &name, &s[..n]).is_err());
        }
        let mut longer = s.clone();
        longer.push(0);
        assert_eq!(
            open(&key, RecordKind::PreKey, &name, &longer),
            Err(OpenError::Unauthentic)
        );
    }

    #[test]
    fn binds_kind_name_key_and_format() {
        let key = StorageKey::new(3, &[1; 32]);
        let a = ProtocolAddress::new("alice", 1);
        let name = RecordName::address(&a);
        let s = seal(&key, RecordKind::Identity, &name, b"k", &mut rng());
        let other_device = RecordName::address(&ProtocolAddress::new("alice", 2));
        let other_name = RecordName::address(&ProtocolAddress::new("alicf", 1));
        assert_eq!(
            open(&key, RecordKind::Identity, &other_device, &s),
            Err(OpenError::Unauthentic)
        );
        assert_eq!(
            open(&key, RecordKind::Identity, &other_name, &s),
            Err(OpenError::Unauthentic)
        );
        assert_eq!(
            open(&key, RecordKind::Session, &name, &s),
            Err(OpenError::Unauthentic)
        );
        // The same id, another key: refused; another id: named.
        assert_eq!(
            open(
                &StorageKey::new(3, &[2; 32]),
                RecordKind::Identity,
                &name,
                &s
            ),
            Err(OpenError::Unauthentic)
        );
        assert_eq!(
            open(
                &StorageKey::new(4, &[1; 32]),
                RecordKind::Identity,
                &name,
                &s
            ),
            Err(OpenError::WrongKey { sealed_with: 3 })
        );
        // Another key id written into the header: the AD differs.
        let mut t = s.clone();
        t[4] = 4;
        assert_eq!(
            open(
                &StorageKey::new(4, &[1; 32]),
                RecordKind::Identity,
                &name,
                &t
            ),
            Err(OpenError::Unauthentic)
        );
        let mut t = s.clone();
        t[0] = 2;
        assert_eq!(
            open(&key, RecordKind::Identity, &name, &t),
            Err(OpenError::UnknownFormat(2))
        );
    }

    #[test]
    fn names_are_unambiguous() {
        // A name that ends where another begins cannot collide: lengths are prefixed.
        let a = RecordName::address(&ProtocolAddress::new("ab", 1));
        let b = RecordName::address(&ProtocolAddress::new("a", 1));
        assert_ne!(a, b);
        let k = crate::crypto::KeyPair::generate(&mut rng());
        let chain = KeyChain::Ratchet(*k.public_key());
        let addr = ProtocolAddress::new("x", 1);
        let pq = |epoch| KeyChain::PostQuantum { epoch };
        assert_ne!(
            RecordName::stored_key(&addr, &chain, 1),
            RecordName::stored_key(&addr, &pq(1), 1)
        );
        assert_ne!(
            RecordName::stored_key(&addr, &pq(1), 1),
            RecordName::stored_key(&addr, &pq(2), 1)
        );
        assert_eq!(chain_from_bytes(&chain_bytes(&chain)), Ok(chain));
        for epoch in [1, 2, 3, 1 << 40, u64::MAX - 1] {
            assert_eq!(chain_from_bytes(&chain_bytes(&pq(epoch))), Ok(pq(epoch)));
        }
        assert_eq!(chain_bytes(&pq(1)), [0]);
        // Epoch 1's long form and epoch 0 are not encodings.
        assert!(chain_from_bytes(&[0, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
        assert!(chain_from_bytes(&[0; 9]).is_err());
        assert!(chain_from_bytes(&[0, 0, 0, 0, 0, 0, 0, 2]).is_err());
        assert!(chain_from_bytes(&[0, 0]).is_err());
        assert!(chain_from_bytes(&[2]).is_err());
        assert!(chain_from_bytes(&[]).is_err());
    }

    #[test]
    fn reseal_moves_to_the_new_key() {
        let old = StorageKey::new(1, &[1; 32]);
        let new = StorageKey::new(2, &[2; 32]);
        let name = RecordName::id(5);
        let s = seal(&old, RecordKind::KyberPreKey, &name, b"kyber", &mut rng());
        let r = reseal(&old, &new, RecordKind::KyberPreKey, &name, &s, &mut rng()).unwrap();
        assert_eq!(key_id(&r), Ok(2));
        assert_eq!(
            &open(&new, RecordKind::KyberPreKey, &name, &r).unwrap()[..],
            b"kyber"
        );
        assert!(reseal(&new, &old, RecordKind::KyberPreKey, &name, &s, &mut rng()).is_err());
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let key = StorageKey::new(7, &[0xAB; 32]);
        let d = alloc::format!("{key:?}");
        assert!(d.contains('7') && !d.contains("ab") && !d.contains("171"));
    }
}

//! Helpers for the sender-key tests: group members with in-memory stores, and a
//! hand-made sender whose keys the test holds, to build any message (valid or not).
#![allow(dead_code)]

use hmac::{KeyInit, Mac};
use missive::crypto::{KeyPair, PrivateKey, xeddsa};
use missive::store::SenderKeyStore;
use missive::store::memory::InMemSenderKeyStore;
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub const GROUP: DistributionId = DistributionId::from_bytes([
    0xd1, 0xb6, 0xf0, 0xa4, 0x3f, 0x63, 0x4b, 0x3c, 0x9b, 0x1e, 0x2b, 0x8a, 0x5f, 0x0c, 0x7e, 0x11,
]);

/// One device in a group: its address and its sender-key store.
pub struct Member {
    pub address: ProtocolAddress,
    pub store: InMemSenderKeyStore,
    pub rng: ChaCha20Rng,
}

impl Member {
    pub fn new(name: &str, seed: u64) -> Self {
        Member {
            address: ProtocolAddress::new(name, 1),
            store: InMemSenderKeyStore::new(),
            rng: rng(seed),
        }
    }

    pub fn distribution(&mut self, id: DistributionId) -> SenderKeyDistributionMessage {
        create_sender_key_distribution_message(&self.address, id, &mut self.store, &mut self.rng)
            .unwrap()
    }

    pub fn rotate(&mut self, id: DistributionId) -> SenderKeyDistributionMessage {
        rotate_sender_key(&self.address, id, &mut self.store, &mut self.rng).unwrap()
    }

    pub fn process(&mut self, from: &ProtocolAddress, m: &SenderKeyDistributionMessage) {
        process_sender_key_distribution_message(from, m, &mut self.store).unwrap()
    }

    pub fn send(&mut self, id: DistributionId, plaintext: &[u8]) -> SenderKeyMessage {
        group_encrypt(&self.address, id, plaintext, &mut self.store, &mut self.rng).unwrap()
    }

    pub fn recv(&mut self, from: &ProtocolAddress, m: &SenderKeyMessage) -> Result<Vec<u8>, Error> {
        group_decrypt(m, from, &mut self.store)
    }

    /// Parses and decrypts raw bytes.
    pub fn recv_bytes(&mut self, from: &ProtocolAddress, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let m = SenderKeyMessage::deserialize(bytes)?;
        group_decrypt(&m, from, &mut self.store)
    }

    /// The serialized record for `from`, for byte-identical checks.
    pub fn record(&self, from: &ProtocolAddress, id: DistributionId) -> Option<Vec<u8>> {
        self.store
            .load_sender_key(from, id)
            .unwrap()
            .map(|r| r.serialize().to_vec())
    }
}

/// A sender built by hand: the test knows its chain key and signing key, and can make
/// any message at any iteration, signed or not, with any ciphertext.
pub struct Crafted {
    pub id: DistributionId,
    pub chain_id: u32,
    pub start: u32,
    pub chain_key: [u8; 32],
    pub signing: KeyPair,
    pub rng: ChaCha20Rng,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

pub fn hmac1(key: &[u8; 32], byte: u8) -> [u8; 32] {
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).unwrap();
    m.update(&[byte]);
    m.finalize().into_bytes().into()
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_uint(out: &mut Vec<u8>, n: u32, v: u64) {
    put_varint(out, u64::from(n) << 3);
    put_varint(out, v);
}

pub fn put_bytes(out: &mut Vec<u8>, n: u32, b: &[u8]) {
    put_varint(out, (u64::from(n) << 3) | 2);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

impl Crafted {
    pub fn new(chain_id: u32, start: u32, seed: u64) -> Self {
        let mut rng = rng(seed);
        let mut chain_key = [0u8; 32];
        rand_core::Rng::fill_bytes(&mut rng, &mut chain_key);
        Crafted {
            id: GROUP,
            chain_id,
            start,
            chain_key,
            signing: KeyPair::generate(&mut rng),
            rng,
        }
    }

    /// The distribution message, built field by field.
    pub fn distribution_bytes(&self) -> Vec<u8> {
        let mut out = vec![0x33];
        put_bytes(&mut out, 1, self.id.as_bytes());
        put_uint(&mut out, 2, u64::from(self.chain_id));
        put_uint(&mut out, 3, u64::from(self.start));
        put_bytes(&mut out, 4, &self.chain_key);
        put_bytes(&mut out, 5, &self.signing.public_key.serialize());
        out
    }

    pub fn distribution(&self) -> SenderKeyDistributionMessage {
        SenderKeyDistributionMessage::deserialize(&self.distribution_bytes()).unwrap()
    }

    /// `(IV, AES key)` of iteration `n`.
    pub fn keys(&self, n: u32) -> ([u8; 16], [u8; 32]) {
        let mut ck = self.chain_key;
        for _ in self.start..n {
            ck = hmac1(&ck, 0x02);
        }
        let seed = hmac1(&ck, 0x01);
        let mut okm = [0u8; 48];
        hkdf::Hkdf::<sha2::Sha256>::new(None, &seed)
            .expand(b"WhisperGroup", &mut okm)
            .unwrap();
        (okm[..16].try_into().unwrap(), okm[16..].try_into().unwrap())
    }

    pub fn encrypt(&self, n: u32, plaintext: &[u8]) -> Vec<u8> {
        use cbc::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
        let (iv, key) = self.keys(n);
        cbc::Encryptor::<aes::Aes256>::new(&key.into(), &iv.into())
            .encrypt_padded_vec::<Pkcs7>(plaintext)
    }

    /// `version ‖ protobuf` of a message with the given fields.
    pub fn body(&self, version: u8, n: u32, ciphertext: &[u8]) -> Vec<u8> {
        let mut out = vec![version];
        put_bytes(&mut out, 1, self.id.as_bytes());
        put_uint(&mut out, 2, u64::from(self.chain_id));
        put_uint(&mut out, 3, u64::from(n));
        put_bytes(&mut out, 4, ciphertext);
        out
    }

    /// Signs `body` with the chain's key and appends the signature.
    pub fn sign(&mut self, body: &[u8]) -> Vec<u8> {
        let mut out = body.to_vec();
        out.extend_from_slice(&xeddsa::sign(
            &self.signing.private_key,
            body,
            &mut self.rng,
        ));
        out
    }

    /// A valid message at iteration `n`.
    pub fn message(&mut self, n: u32, plaintext: &[u8]) -> Vec<u8> {
        let body = self.body(0x33, n, &self.encrypt(n, plaintext));
        self.sign(&body)
    }

    pub fn private(&self) -> &PrivateKey {
        &self.signing.private_key
    }
}

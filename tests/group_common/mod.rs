//! Helpers for the sender-key tests: group members (devices with in-memory stores and
//! pairwise 1:1 sessions, over which distribution messages travel as an app sends
//! them), and a hand-made sender whose keys the test holds, to build any message (valid
//! or not).
//!
//! A distribution message is processed only under the sender that the 1:1 session
//! delivering it authenticated ([`Device::process_sender_key_distribution_message`]
//! takes a [`Sender`] from a decryption). A hand-made chain therefore reaches a member
//! the same way: an authenticated member sends its bytes over their session
//! ([`carry`]), as a malicious member could.
#![allow(dead_code)]

use hmac::{KeyInit, Mac};
use missive::crypto::{KeyPair, PrivateKey, xeddsa};
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

pub const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub const GROUP: DistributionId = DistributionId::from_bytes([
    0xd1, 0xb6, 0xf0, 0xa4, 0x3f, 0x63, 0x4b, 0x3c, 0x9b, 0x1e, 0x2b, 0x8a, 0x5f, 0x0c, 0x7e, 0x11,
]);

/// One device in a group: its address, its [`Device`] and its RNG.
pub struct Member {
    pub address: ProtocolAddress,
    pub device: Device<InMemSignalProtocolStore>,
    pub rng: ChaCha20Rng,
    next_bundle_id: u32,
}

impl Member {
    /// Device 1 of `name`, with a fresh identity drawn from `seed`.
    pub fn new(name: &str, seed: u64) -> Self {
        let mut rng = rng(seed);
        let identity = IdentityKeyPair::generate(&mut rng);
        let registration_id = 1 + rng.next_u32() % 16380;
        let address = ProtocolAddress::new(name, 1);
        Member {
            device: Device::new(
                address.clone(),
                InMemSignalProtocolStore::new(identity, registration_id),
            ),
            address,
            rng,
            next_bundle_id: 1,
        }
    }

    /// Device `device_id` of `name` with a given identity (another device of a member,
    /// or the same member's identity in a fresh store).
    pub fn with_identity(
        name: &str,
        device_id: u32,
        identity: IdentityKeyPair,
        registration_id: u32,
        seed: u64,
    ) -> Self {
        let address = ProtocolAddress::new(name, device_id);
        Member {
            device: Device::new(
                address.clone(),
                InMemSignalProtocolStore::new(identity, registration_id),
            ),
            address,
            rng: rng(seed),
            next_bundle_id: 1,
        }
    }

    /// A fresh v4 bundle with a one-time prekey, as the server hands it out.
    pub fn bundle(&mut self) -> PreKeyBundle {
        let id = self.next_bundle_id;
        self.next_bundle_id += 1;
        let spec = BundleSpec::new(id).with_one_time_pre_key();
        let device_id = self.address.device_id();
        self.device
            .store_mut()
            .generate_bundle(&spec, device_id, NOW, &mut self.rng)
    }

    pub fn distribution(&mut self, id: DistributionId) -> SenderKeyDistributionMessage {
        self.device
            .sender_key_distribution_message(id, &mut self.rng)
            .unwrap()
    }

    pub fn rotate(&mut self, id: DistributionId) -> SenderKeyDistributionMessage {
        self.device.rotate_sender_key(id, &mut self.rng).unwrap()
    }

    /// What an app does with a 1:1 message from `from` that carries a distribution
    /// message: decrypt it, parse what it carried, process it under the sender the
    /// session authenticated.
    pub fn receive_distribution(
        &mut self,
        from: &ProtocolAddress,
        carrier: &CiphertextMessage,
    ) -> Result<(), Error> {
        self.receive_distribution_bytes(from, carrier.message_type(), carrier.serialize())
    }

    /// [`Member::receive_distribution`] from the bytes received.
    pub fn receive_distribution_bytes(
        &mut self,
        from: &ProtocolAddress,
        kind: CiphertextMessageType,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let got = self.device.decrypt(from, kind, bytes, &mut self.rng)?;
        let d = SenderKeyDistributionMessage::deserialize(&got.plaintext)?;
        self.device
            .process_sender_key_distribution_message(&got.sender, &d)
    }

    pub fn send(&mut self, id: DistributionId, plaintext: &[u8]) -> SenderKeyMessage {
        self.device
            .group_encrypt(id, plaintext, &mut self.rng)
            .unwrap()
    }

    pub fn recv(&mut self, from: &ProtocolAddress, m: &SenderKeyMessage) -> Result<Vec<u8>, Error> {
        self.device.group_decrypt(from, m)
    }

    /// Parses and decrypts raw bytes.
    pub fn recv_bytes(&mut self, from: &ProtocolAddress, bytes: &[u8]) -> Result<Vec<u8>, Error> {
        let m = SenderKeyMessage::deserialize(bytes)?;
        self.device.group_decrypt(from, &m)
    }

    /// The serialized sender-key record for `from`, for byte-identical checks.
    pub fn record(&self, from: &ProtocolAddress, id: DistributionId) -> Option<Vec<u8>> {
        self.device
            .store()
            .sender_key_store
            .sender_key(from, id)
            .map(|r| r.serialize().to_vec())
    }

    /// The parsed sender-key record for `from`.
    pub fn sender_key(&self, from: &ProtocolAddress, id: DistributionId) -> SenderKeyRecord {
        let bytes = self.record(from, id).expect("a sender-key record");
        SenderKeyRecord::deserialize(&bytes).unwrap()
    }

    /// The serialized session record with `remote`, for byte-identical checks.
    pub fn session(&self, remote: &ProtocolAddress) -> Option<Vec<u8>> {
        self.device
            .store()
            .session_store
            .session(remote)
            .map(|r| r.serialize().to_vec())
    }
}

/// Starts a 1:1 session between `a` and `b` as apps do: `a` fetches a bundle of `b`'s,
/// writes first, `b` answers. Afterwards both send ordinary (Whisper) messages.
pub fn connect(a: &mut Member, b: &mut Member) {
    let bundle = b.bundle();
    a.device
        .process_prekey_bundle(&b.address, &bundle, NOW, &mut a.rng)
        .unwrap();
    let hello = a
        .device
        .encrypt(&b.address, b"hello", NOW, &mut a.rng)
        .unwrap();
    let got = b
        .device
        .decrypt(
            &a.address,
            hello.message_type(),
            hello.serialize(),
            &mut b.rng,
        )
        .unwrap();
    assert!(got.new_session);
    let reply = b
        .device
        .encrypt(&a.address, b"hi", NOW, &mut b.rng)
        .unwrap();
    a.device
        .decrypt(
            &b.address,
            reply.message_type(),
            reply.serialize(),
            &mut a.rng,
        )
        .unwrap();
}

/// Two members, `a` and `b`, with a 1:1 session.
pub fn connected(a: &str, b: &str, seed: u64) -> (Member, Member) {
    let mut a = Member::new(a, seed);
    let mut b = Member::new(b, seed.wrapping_add(1));
    connect(&mut a, &mut b);
    (a, b)
}

/// `from` sends `bytes` to `to` over their 1:1 session, and `to` processes the
/// distribution message they hold ([`Member::receive_distribution`]). The bytes need
/// not be a distribution message `from` made: a member can send any chain.
pub fn carry(from: &mut Member, to: &mut Member, bytes: &[u8]) -> Result<(), Error> {
    let carrier = from
        .device
        .encrypt(&to.address, bytes, NOW, &mut from.rng)?;
    to.receive_distribution(&from.address, &carrier)
}

/// `from` hands its distribution message `d` to `to` over their 1:1 session.
pub fn share(from: &mut Member, to: &mut Member, d: &SenderKeyDistributionMessage) {
    carry(from, to, d.serialized()).unwrap();
}

/// Members `i` and `j` (distinct) of `members`, both mutable.
pub fn two(members: &mut [Member], i: usize, j: usize) -> (&mut Member, &mut Member) {
    assert_ne!(i, j);
    if i < j {
        let (a, b) = members.split_at_mut(j);
        (&mut a[i], &mut b[0])
    } else {
        let (a, b) = members.split_at_mut(i);
        (&mut b[0], &mut a[j])
    }
}

/// Member `s` distributes `d` to the members `to` with
/// [`Device::distribute_sender_key`] over their 1:1 sessions, and each processes it.
pub fn distribute(
    members: &mut [Member],
    s: usize,
    d: &SenderKeyDistributionMessage,
    to: &[usize],
) {
    let addresses: Vec<ProtocolAddress> = to.iter().map(|&r| members[r].address.clone()).collect();
    let sender = &mut members[s];
    let sent = sender
        .device
        .distribute_sender_key(d, &addresses, NOW, &mut sender.rng);
    let from = sender.address.clone();
    assert_eq!(sent.len(), to.len());
    for ((address, carrier), &r) in sent.into_iter().zip(to) {
        assert_eq!(address, members[r].address);
        members[r]
            .receive_distribution(&from, &carrier.unwrap())
            .unwrap();
    }
}

/// A group: the members named, device 1 each, with a 1:1 session between every two of
/// them, and everyone's chain for [`GROUP`] distributed to everyone else.
pub fn group(names: &[&str], seed: u64) -> Vec<Member> {
    let mut members: Vec<Member> = names
        .iter()
        .enumerate()
        .map(|(i, name)| Member::new(name, seed.wrapping_add(i as u64)))
        .collect();
    let n = members.len();
    for i in 0..n {
        for j in i + 1..n {
            let (a, b) = two(&mut members, i, j);
            connect(a, b);
        }
    }
    for s in 0..n {
        let d = members[s].distribution(GROUP);
        let others: Vec<usize> = (0..n).filter(|&r| r != s).collect();
        distribute(&mut members, s, &d, &others);
    }
    members
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

/// One state of a sender-key record (missive's format, `docs/PROTOCOL.md` §11.6): a
/// sending state when `private` is given, else a receiving one.
pub fn record_state(
    chain_id: u32,
    iteration: u32,
    chain_key: &[u8],
    signing_key: &missive::crypto::PublicKey,
    private: Option<&PrivateKey>,
) -> Vec<u8> {
    let mut state = vec![];
    put_uint(&mut state, 1, chain_id.into());
    put_uint(&mut state, 2, iteration.into());
    put_bytes(&mut state, 3, chain_key);
    put_bytes(&mut state, 4, &signing_key.serialize());
    if let Some(private) = private {
        put_bytes(&mut state, 5, private.to_bytes().as_ref());
    }
    state
}

/// A record of the given states (newest first), serialized.
pub fn record_bytes(states: &[Vec<u8>]) -> Vec<u8> {
    let mut record = vec![1u8];
    for s in states {
        put_bytes(&mut record, 1, s);
    }
    put_uint(&mut record, 2, states.len() as u64);
    record
}

impl Crafted {
    pub fn new(chain_id: u32, start: u32, seed: u64) -> Self {
        let mut rng = rng(seed);
        let mut chain_key = [0u8; 32];
        rng.fill_bytes(&mut chain_key);
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
        put_bytes(&mut out, 5, &self.signing.public_key().serialize());
        out
    }

    pub fn distribution(&self) -> SenderKeyDistributionMessage {
        SenderKeyDistributionMessage::deserialize(&self.distribution_bytes()).unwrap()
    }

    /// The chain as a record state at its start: a sending one (with the private signing
    /// key) or a receiving one.
    pub fn state(&self, sending: bool) -> Vec<u8> {
        record_state(
            self.chain_id,
            self.start,
            &self.chain_key,
            self.signing.public_key(),
            sending.then(|| self.private()),
        )
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
            self.signing.private_key(),
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
        self.signing.private_key()
    }
}

/// `bob`, holding a hand-made chain `c` of `alice`'s: alice, an authenticated member
/// with a 1:1 session with bob, sent it to him. Returns bob and alice's address.
pub fn crafted_receiver(c: &Crafted, seed: u64) -> (Member, ProtocolAddress) {
    let (mut alice, mut bob) = connected("alice", "bob", seed);
    carry(&mut alice, &mut bob, &c.distribution_bytes()).unwrap();
    (bob, alice.address)
}

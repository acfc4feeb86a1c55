//! missive parties and real-peer parties behind one `Endpoint` trait, so every traffic
//! shape runs in both directions against both peers.
#![allow(dead_code)]

use missive::crypto::{KemPublicKey, PublicKey};
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use missive_interop::{Bundle, CiphertextMessage as Wire, Peer, PeerError};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

pub const NOW_MS: u64 = 1_750_000_000_000;
pub const NOW: Timestamp = Timestamp::from_millis(NOW_MS);

/// ACI-style names: both sides are service ids, so prekey messages carry `addresses`.
pub const ALICE_ACI: &str = "9d0652a3-dcc3-4d11-975f-74d61598733f";
pub const BOB_ACI: &str = "796abedb-ca4e-4f18-8803-1fde5b921f9f";
/// Plain names: no `addresses` field.
pub const ALICE_PLAIN: &str = "alice";
pub const BOB_PLAIN: &str = "bob";

/// One side of a conversation.
pub trait Endpoint {
    fn name(&self) -> String;
    fn encrypt(&mut self, plaintext: &[u8]) -> Wire;
    fn decrypt(&mut self, msg: &Wire) -> Result<Vec<u8>, String>;
}

/// A missive device with a seeded RNG, talking to one remote device (`remote`), as an
/// app would drive it: every operation is a [`Device`] method.
pub struct MissiveParty {
    pub device: Device<InMemSignalProtocolStore>,
    pub remote: ProtocolAddress,
    pub rng: ChaCha20Rng,
    next_id: u32,
}

impl MissiveParty {
    /// A v4 device (the default [`Config`]: v3 prekey messages refused, as
    /// libsignal-client does).
    pub fn new(name: &str, device: u32, remote_name: &str, remote_device: u32, seed: u64) -> Self {
        Self::with_config(
            name,
            device,
            remote_name,
            remote_device,
            seed,
            Config::default(),
        )
    }

    /// A device that also accepts v3 (X3DH) prekey messages, for libsignal-node.
    pub fn legacy(
        name: &str,
        device: u32,
        remote_name: &str,
        remote_device: u32,
        seed: u64,
    ) -> Self {
        let config = Config::default().accept_legacy_x3dh(true);
        Self::with_config(name, device, remote_name, remote_device, seed, config)
    }

    pub fn with_config(
        name: &str,
        device: u32,
        remote_name: &str,
        remote_device: u32,
        seed: u64,
        config: Config,
    ) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let store =
            InMemSignalProtocolStore::new(IdentityKeyPair::generate(&mut rng), 4242 + device);
        MissiveParty {
            device: Device::with_config(ProtocolAddress::new(name, device), store, config),
            remote: ProtocolAddress::new(remote_name, remote_device),
            rng,
            next_id: 100,
        }
    }

    pub fn address(&self) -> &ProtocolAddress {
        self.device.address()
    }

    pub fn store(&self) -> &InMemSignalProtocolStore {
        self.device.store()
    }

    /// Our identity key.
    pub fn identity_key(&self) -> IdentityKey {
        *self.store().identity_key_pair().unwrap().identity_key()
    }

    /// The identity stored for the remote.
    pub fn stored_identity(&self) -> Option<IdentityKey> {
        self.store().identity_store.identity(&self.remote).copied()
    }

    /// A fresh bundle in the peer harness's form (`v3`: no Kyber prekey).
    pub fn bundle(&mut self, one_time: bool, v3: bool) -> Bundle {
        let id = self.next_id;
        self.next_id += 1;
        let mut spec = BundleSpec::new(id);
        if one_time {
            spec = spec.with_one_time_pre_key();
        }
        if v3 {
            spec = spec.without_kyber_pre_key();
        }
        let device_id = self.address().device_id();
        let b = self
            .device
            .store_mut()
            .generate_bundle(&spec, device_id, NOW, &mut self.rng);
        to_wire_bundle(&b)
    }

    /// Starts a session from the remote's bundle: PQXDH, or X3DH for a bundle without a
    /// Kyber prekey.
    pub fn process_bundle(&mut self, bundle: &Bundle) -> Result<IdentityChange, Error> {
        let b = to_missive_bundle(bundle);
        if b.kyber_pre_key().is_some() {
            self.device
                .process_prekey_bundle(&self.remote, &b, NOW, &mut self.rng)
        } else {
            self.device
                .process_legacy_prekey_bundle(&self.remote, &b, NOW, &mut self.rng)
        }
    }

    pub fn try_encrypt(&mut self, plaintext: &[u8]) -> Result<Wire, Error> {
        let m = self
            .device
            .encrypt(&self.remote, plaintext, NOW, &mut self.rng)?;
        Ok(to_wire(&m))
    }

    /// Decrypts a message from the remote: the plaintext, the sender and what happened
    /// to its stored identity.
    pub fn receive(&mut self, msg: &Wire) -> Result<Decrypted, Error> {
        self.device
            .decrypt(&self.remote, wire_type(msg), &msg.body, &mut self.rng)
    }

    pub fn try_decrypt(&mut self, msg: &Wire) -> Result<Vec<u8>, Error> {
        self.receive(msg).map(|d| d.plaintext)
    }

    /// The serialized session record with the remote (for byte-identical checks).
    pub fn record(&self) -> Option<Vec<u8>> {
        self.session().map(|r| r.serialize().to_vec())
    }

    pub fn session(&self) -> Option<SessionRecord> {
        self.store().session_store.session(&self.remote).cloned()
    }
}

impl Endpoint for MissiveParty {
    fn name(&self) -> String {
        format!("missive({})", self.address())
    }
    fn encrypt(&mut self, plaintext: &[u8]) -> Wire {
        self.try_encrypt(plaintext).expect("missive encrypt")
    }
    fn decrypt(&mut self, msg: &Wire) -> Result<Vec<u8>, String> {
        self.try_decrypt(msg).map_err(|e| e.to_string())
    }
}

/// What a missive 1:1 message looks like in the harness.
pub fn to_wire(m: &CiphertextMessage) -> Wire {
    Wire {
        message_type: m.message_type() as u8,
        body: m.serialize().to_vec(),
    }
}

/// The type of a harness message, for [`Device::decrypt`].
pub fn wire_type(m: &Wire) -> CiphertextMessageType {
    if m.is_prekey() {
        CiphertextMessageType::PreKey
    } else {
        CiphertextMessageType::Whisper
    }
}

/// A missive bundle in the harness's form.
pub fn to_wire_bundle(b: &PreKeyBundle) -> Bundle {
    let kyber = b.kyber_pre_key();
    Bundle {
        registration_id: b.registration_id(),
        device_id: b.device_id(),
        prekey: b.pre_key().map(|(id, k)| (id.0, k.serialize().to_vec())),
        signed_prekey_id: b.signed_pre_key_id().0,
        signed_prekey: b.signed_pre_key().serialize().to_vec(),
        signed_prekey_signature: b.signed_pre_key_signature().to_vec(),
        identity_key: b.identity_key().serialize().to_vec(),
        kyber_prekey_id: kyber.map(|(id, _, _)| id.0),
        kyber_prekey: kyber.map(|(_, k, _)| k.serialize().to_vec()),
        kyber_prekey_signature: kyber.map(|(_, _, s)| s.to_vec()),
    }
}

pub fn to_missive_bundle(b: &Bundle) -> PreKeyBundle {
    PreKeyBundle::new(
        b.registration_id,
        b.device_id,
        b.prekey
            .as_ref()
            .map(|(id, k)| (PreKeyId(*id), PublicKey::deserialize(k).unwrap())),
        SignedPreKeyId(b.signed_prekey_id),
        PublicKey::deserialize(&b.signed_prekey).unwrap(),
        b.signed_prekey_signature.clone(),
        IdentityKey::deserialize(&b.identity_key).unwrap(),
        match (
            &b.kyber_prekey_id,
            &b.kyber_prekey,
            &b.kyber_prekey_signature,
        ) {
            (Some(id), Some(k), Some(s)) => Some((
                KyberPreKeyId(*id),
                KemPublicKey::deserialize(k).unwrap(),
                s.clone(),
            )),
            _ => None,
        },
    )
}

/// A party living in a real peer's driver process.
pub struct PeerParty<'a> {
    pub peer: &'a mut Peer,
    pub party: String,
    pub remote_name: String,
    pub remote_device: u32,
}

impl PeerParty<'_> {
    pub fn try_encrypt(&mut self, plaintext: &[u8]) -> Result<Wire, PeerError> {
        self.peer.encrypt(
            &self.party,
            &self.remote_name,
            self.remote_device,
            plaintext,
        )
    }
    pub fn try_decrypt(&mut self, msg: &Wire) -> Result<Vec<u8>, PeerError> {
        self.peer
            .decrypt(&self.party, &self.remote_name, self.remote_device, msg)
    }
}

impl Endpoint for PeerParty<'_> {
    fn name(&self) -> String {
        format!("{:?}({})", self.peer.kind(), self.party)
    }
    fn encrypt(&mut self, plaintext: &[u8]) -> Wire {
        self.try_encrypt(plaintext).expect("peer encrypt")
    }
    fn decrypt(&mut self, msg: &Wire) -> Result<Vec<u8>, String> {
        self.try_decrypt(msg).map_err(|e| e.to_string())
    }
}

/// Sends `text` from `from` and checks `to` decrypts it.
pub fn send(from: &mut dyn Endpoint, to: &mut dyn Endpoint, text: &str) {
    let m = from.encrypt(text.as_bytes());
    let got = to.decrypt(&m).unwrap_or_else(|e| {
        panic!(
            "{} could not decrypt {text:?} from {}: {e}",
            to.name(),
            from.name()
        )
    });
    assert_eq!(got, text.as_bytes(), "{} -> {}", from.name(), to.name());
}

/// Counts of messages each way, for the closing note.
#[derive(Debug, Default, Clone, Copy)]
pub struct Traffic {
    pub a_to_b: usize,
    pub b_to_a: usize,
}

/// The traffic shapes of the issue, on an established session (Alice = `a`, already
/// answered once): ping-pong, bursts, out-of-order inside a chain and across ratchet
/// steps, and a message that never arrives. At least 200 messages each way.
pub fn traffic_shapes(a: &mut dyn Endpoint, b: &mut dyn Endpoint, seed: u64) -> Traffic {
    let mut t = Traffic::default();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    // Ping-pong: 60 round trips (every message starts a new chain).
    for i in 0..60 {
        send(a, b, &format!("ping {i}"));
        send(b, a, &format!("pong {i}"));
    }
    t.a_to_b += 60;
    t.b_to_a += 60;
    // Bursts of 1..=25 messages, alternating senders.
    for round in 0..8 {
        let n = 1 + (rand_core::Rng::next_u32(&mut rng) % 25) as usize;
        for i in 0..n {
            if round % 2 == 0 {
                send(a, b, &format!("burst {round}.{i}"));
            } else {
                send(b, a, &format!("burst {round}.{i}"));
            }
        }
        if round % 2 == 0 {
            t.a_to_b += n;
        } else {
            t.b_to_a += n;
        }
    }
    // Out of order inside one chain, each direction: 30 messages, delivered shuffled,
    // one of them never delivered.
    for dir in 0..2 {
        let (x, y): (&mut dyn Endpoint, &mut dyn Endpoint) = if dir == 0 {
            (&mut *a, &mut *b)
        } else {
            (&mut *b, &mut *a)
        };
        let mut msgs: Vec<(String, Wire)> = (0..30)
            .map(|i| {
                let s = format!("shuffled {dir}.{i}");
                let m = x.encrypt(s.as_bytes());
                (s, m)
            })
            .collect();
        let lost = rand_core::Rng::next_u32(&mut rng) as usize % msgs.len();
        msgs.remove(lost);
        shuffle(&mut msgs, &mut rng);
        for (s, m) in &msgs {
            assert_eq!(
                y.decrypt(m).unwrap_or_else(|e| panic!("{s}: {e}")),
                s.as_bytes()
            );
        }
        if dir == 0 {
            t.a_to_b += 30;
        } else {
            t.b_to_a += 30;
        }
    }
    // Across ratchet steps: messages held back from three successive chains of each
    // side, delivered after both sides have ratcheted past them, newest chain first.
    for dir in 0..2 {
        let (x, y): (&mut dyn Endpoint, &mut dyn Endpoint) = if dir == 0 {
            (&mut *a, &mut *b)
        } else {
            (&mut *b, &mut *a)
        };
        let mut held = Vec::new();
        for step in 0..3 {
            for i in 0..4 {
                let s = format!("held {dir}.{step}.{i}");
                held.push((s.clone(), x.encrypt(s.as_bytes())));
            }
            // Deliver one message of this chain so the receiver learns it, then answer.
            send(x, y, &format!("carrier {dir}.{step}"));
            send(y, x, &format!("answer {dir}.{step}"));
        }
        held.reverse();
        for (s, m) in &held {
            assert_eq!(
                y.decrypt(m).unwrap_or_else(|e| panic!("{s}: {e}")),
                s.as_bytes()
            );
        }
        if dir == 0 {
            t.a_to_b += 15;
            t.b_to_a += 3;
        } else {
            t.b_to_a += 15;
            t.a_to_b += 3;
        }
    }
    // Top up to at least 200 each way with a long burst each way.
    while t.a_to_b < 200 {
        send(a, b, &format!("top-up {}", t.a_to_b));
        t.a_to_b += 1;
    }
    while t.b_to_a < 200 {
        send(b, a, &format!("top-up {}", t.b_to_a));
        t.b_to_a += 1;
    }
    t
}

pub fn shuffle<T>(v: &mut [T], rng: &mut ChaCha20Rng) {
    for i in (1..v.len()).rev() {
        let j = rand_core::Rng::next_u32(rng) as usize % (i + 1);
        v.swap(i, j);
    }
}

//! missive parties and real-peer parties behind one `Endpoint` trait, so every traffic
//! shape runs in both directions against both peers.
#![allow(dead_code)]

use missive::crypto::{KemKeyType, KemPublicKey, PublicKey};
use missive::store::memory::InMemSignalProtocolStore;
use missive::store::{
    IdentityKeyStore, KyberPreKeyStore, PreKeyStore, SessionStore, SignedPreKeyStore,
};
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

pub struct MissiveParty {
    pub address: ProtocolAddress,
    pub remote: ProtocolAddress,
    pub store: InMemSignalProtocolStore,
    pub rng: ChaCha20Rng,
    next_id: u32,
}

impl MissiveParty {
    pub fn new(name: &str, device: u32, remote_name: &str, remote_device: u32, seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let identity = IdentityKeyPair::generate(&mut rng);
        MissiveParty {
            address: ProtocolAddress::new(name, device),
            remote: ProtocolAddress::new(remote_name, remote_device),
            store: InMemSignalProtocolStore::new(identity, 4242 + device),
            rng,
            next_id: 100,
        }
    }

    /// A fresh bundle in the peer harness's form (`v3`: no Kyber prekey).
    pub fn bundle(&mut self, one_time: bool, v3: bool) -> Bundle {
        let id = self.next_id;
        self.next_id += 1;
        let identity = self.store.identity_store.identity_key_pair().unwrap();
        let spk =
            SignedPreKeyRecord::generate(SignedPreKeyId(id), NOW_MS, &identity, &mut self.rng);
        self.store
            .signed_pre_key_store
            .save_signed_pre_key(&spk)
            .unwrap();
        let prekey = one_time.then(|| {
            let pk = PreKeyRecord::generate(PreKeyId(id), &mut self.rng);
            self.store.pre_key_store.save_pre_key(&pk).unwrap();
            (id, pk.public_key().serialize().to_vec())
        });
        let kyber = (!v3).then(|| {
            let k = KyberPreKeyRecord::generate(
                KemKeyType::Kyber1024,
                KyberPreKeyId(id),
                NOW_MS,
                false,
                &identity,
                &mut self.rng,
            );
            self.store
                .kyber_pre_key_store
                .save_kyber_pre_key(&k)
                .unwrap();
            (
                id,
                k.public_key().serialize().to_vec(),
                k.signature().to_vec(),
            )
        });
        Bundle {
            registration_id: self.store.identity_store.local_registration_id().unwrap(),
            device_id: self.address.device_id(),
            prekey,
            signed_prekey_id: id,
            signed_prekey: spk.public_key().serialize().to_vec(),
            signed_prekey_signature: spk.signature().to_vec(),
            identity_key: identity.identity_key().serialize().to_vec(),
            kyber_prekey_id: kyber.as_ref().map(|k| k.0),
            kyber_prekey: kyber.as_ref().map(|k| k.1.clone()),
            kyber_prekey_signature: kyber.as_ref().map(|k| k.2.clone()),
        }
    }

    pub fn process_bundle(&mut self, bundle: &Bundle) -> Result<(), Error> {
        let b = to_missive_bundle(bundle);
        let start = if b.kyber_pre_key().is_some() {
            process_prekey_bundle
        } else {
            process_legacy_prekey_bundle
        };
        start(
            &b,
            &self.remote,
            &mut self.store.session_store,
            &mut self.store.identity_store,
            NOW,
            &mut self.rng,
        )
    }

    pub fn try_encrypt(&mut self, plaintext: &[u8]) -> Result<Wire, Error> {
        let m = encrypt(
            plaintext,
            &self.remote,
            &self.address,
            &mut self.store.session_store,
            &mut self.store.identity_store,
            NOW,
            &mut self.rng,
        )?;
        Ok(Wire {
            message_type: m.message_type() as u8,
            body: m.serialize().to_vec(),
        })
    }

    pub fn try_decrypt(&mut self, msg: &Wire) -> Result<Vec<u8>, Error> {
        if msg.is_prekey() {
            let m = PreKeySignalMessage::deserialize(&msg.body)?;
            if m.message_version() == 3 {
                return decrypt_legacy_prekey_message(
                    &m,
                    &self.remote,
                    &self.address,
                    &mut self.store.session_store,
                    &mut self.store.identity_store,
                    &mut self.store.pre_key_store,
                    &self.store.signed_pre_key_store,
                    &mut self.rng,
                );
            }
            decrypt_prekey_message(
                &m,
                &self.remote,
                &self.address,
                &mut self.store.session_store,
                &mut self.store.identity_store,
                &mut self.store.pre_key_store,
                &self.store.signed_pre_key_store,
                &mut self.store.kyber_pre_key_store,
                &mut self.rng,
            )
        } else {
            let m = SignalMessage::deserialize(&msg.body)?;
            decrypt_signal_message(
                &m,
                &self.remote,
                &self.address,
                &mut self.store.session_store,
                &mut self.store.identity_store,
                &mut self.rng,
            )
        }
    }

    /// The serialized session record with the remote (for byte-identical checks).
    pub fn record(&self) -> Option<Vec<u8>> {
        self.store
            .session_store
            .load_session(&self.remote)
            .unwrap()
            .map(|r| r.serialize().to_vec())
    }

    pub fn session(&self) -> Option<SessionRecord> {
        self.store.session_store.load_session(&self.remote).unwrap()
    }
}

impl Endpoint for MissiveParty {
    fn name(&self) -> String {
        format!("missive({})", self.address)
    }
    fn encrypt(&mut self, plaintext: &[u8]) -> Wire {
        self.try_encrypt(plaintext).expect("missive encrypt")
    }
    fn decrypt(&mut self, msg: &Wire) -> Result<Vec<u8>, String> {
        self.try_decrypt(msg).map_err(|e| e.to_string())
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

//! Alice and Bob set up a v4 (PQXDH) session and talk; one message arrives late and one
//! never arrives. Run with `cargo run --release --example conversation`.
//!
//! Everything a real app would do is here, minus the network: Bob publishes a prekey
//! bundle, Alice starts a session from it, and the two pass serialized bytes around.
//! Each person is one [`Device`]: their address, their store and the protocol
//! operations, each of which commits its writes to the store at once.

use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// What travels over the network for a 1:1 message: its type and its bytes.
#[derive(Clone)]
struct Envelope {
    kind: CiphertextMessageType,
    bytes: Vec<u8>,
}

struct Person {
    name: &'static str,
    device: Device<InMemSignalProtocolStore>,
}

impl Person {
    fn new(name: &'static str, uuid: &str, rng: &mut ChaCha20Rng) -> Self {
        let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), 1234);
        Person {
            name,
            device: Device::new(ProtocolAddress::new(uuid, 1), store),
        }
    }

    fn address(&self) -> &ProtocolAddress {
        self.device.address()
    }

    fn send(&mut self, to: &Person, text: &str, now: Timestamp, rng: &mut ChaCha20Rng) -> Envelope {
        let m = self
            .device
            .encrypt(to.address(), text.as_bytes(), now, rng)
            .expect("encrypt");
        let kind = match m.message_type() {
            CiphertextMessageType::PreKey => "PreKeySignalMessage",
            _ => "SignalMessage",
        };
        println!(
            "  {:>5} sends {text:?}: {kind}, {} bytes",
            self.name,
            m.serialize().len()
        );
        Envelope {
            kind: m.message_type(),
            bytes: m.serialize().to_vec(),
        }
    }

    fn receive(&mut self, from: &Person, m: &Envelope, rng: &mut ChaCha20Rng) {
        match self.device.decrypt(from.address(), m.kind, &m.bytes, rng) {
            Ok(got) => {
                println!(
                    "  {:>5} reads {:?}",
                    self.name,
                    String::from_utf8_lossy(&got.plaintext)
                );
                // The first message from someone stores their identity (trust on first
                // use); a changed one is what an app shows as "safety number changed".
                if let IdentityChange::Replaced { .. } = got.identity_change {
                    println!("  {:>5}: {}'s safety number changed!", self.name, from.name);
                }
            }
            Err(e) => println!("  {:>5} refuses it: {e}", self.name),
        }
    }
}

fn main() {
    // A seeded RNG keeps the demo's output stable; an app passes its OS RNG instead.
    let mut rng = ChaCha20Rng::seed_from_u64(2026);
    let now = Timestamp::from_millis(1_780_000_000_000);
    let mut alice = Person::new("Alice", "9d0652a3-dcc3-4d11-975f-74d61598733f", &mut rng);
    let mut bob = Person::new("Bob", "796abedb-ca4e-4f18-8803-1fde5b921f9f", &mut rng);

    println!(
        "1. Bob publishes a prekey bundle: a signed EC prekey, a Kyber1024 prekey and a one-time prekey."
    );
    // The store keeps the private halves; the bundle is what goes to the server.
    let spec = BundleSpec::new(1)
        .with_one_time_pre_key()
        .with_last_resort_kyber_pre_key();
    let bundle = bob
        .device
        .store_mut()
        .generate_bundle(&spec, 1, now, &mut rng);
    println!("   bundle: {} bytes serialized", bundle.serialize().len());

    println!("2. Alice fetches it, checks both signatures and runs PQXDH.");
    alice
        .device
        .process_prekey_bundle(bob.address(), &bundle, now, &mut rng)
        .expect("process bundle");

    println!("3. Alice writes first. Until Bob answers, her messages carry the PQXDH parameters.");
    let m1 = alice.send(&bob, "Hi Bob! This is our first message.", now, &mut rng);
    bob.receive(&alice, &m1, &mut rng);
    println!(
        "   Bob's one-time prekey is now deleted: {} left.",
        bob.device.store().pre_key_store.len()
    );

    println!("4. Bob answers; Alice's next message starts a new ratchet step.");
    let r1 = bob.send(&alice, "Hi Alice, got it.", now, &mut rng);
    alice.receive(&bob, &r1, &mut rng);

    println!("5. Alice sends three messages. The network delays the first and loses the second.");
    let late = alice.send(&bob, "(this one arrives late)", now, &mut rng);
    let _lost = alice.send(&bob, "(this one is lost)", now, &mut rng);
    let m4 = alice.send(&bob, "Did you get my last two?", now, &mut rng);
    bob.receive(&alice, &m4, &mut rng);
    println!("   Bob kept the keys of the two skipped messages.");

    println!("6. Bob replies, Alice replies: both ratchet forward.");
    let r2 = bob.send(&alice, "Only this one so far.", now, &mut rng);
    alice.receive(&bob, &r2, &mut rng);
    let m5 = alice.send(&bob, "Odd. Anyway, see you tomorrow.", now, &mut rng);
    bob.receive(&alice, &m5, &mut rng);

    println!("7. The late message finally arrives, from an older chain: it still decrypts.");
    bob.receive(&alice, &late, &mut rng);

    println!("8. The network delivers it again: a replay is refused.");
    bob.receive(&alice, &late, &mut rng);

    println!("9. Someone flips one bit of Bob's next message on the way.");
    let r3 = bob.send(&alice, "Good night.", now, &mut rng);
    let mut tampered = r3.clone();
    tampered.bytes[10] ^= 1;
    alice.receive(&bob, &tampered, &mut rng);
    println!("   ...and the real one still decrypts:");
    alice.receive(&bob, &r3, &mut rng);

    println!();
    println!(
        "The lost message never arrives; its key waits in Bob's record (at most 2,000 per chain)."
    );
    println!("Every v4 message is also keyed through SPQR's chain, which the ML-KEM braid renews");
    println!("every epoch: post-quantum healing after a compromise (see SECURITY.md).");
}

//! Alice and Bob set up a v4 (PQXDH) session and talk; one message arrives late and one
//! never arrives. Run with `cargo run --release --example conversation`.
//!
//! Everything a real app would do is here, minus the network: Bob publishes a prekey
//! bundle, Alice starts a session from it, and the two pass serialized bytes around.

use missive::crypto::KemKeyType;
use missive::store::memory::InMemSignalProtocolStore;
use missive::store::{IdentityKeyStore, KyberPreKeyStore, PreKeyStore, SignedPreKeyStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

struct Person {
    name: &'static str,
    address: ProtocolAddress,
    store: InMemSignalProtocolStore,
}

impl Person {
    fn new(name: &'static str, uuid: &str, rng: &mut ChaCha20Rng) -> Self {
        let identity = IdentityKeyPair::generate(rng);
        Person {
            name,
            address: ProtocolAddress::new(uuid, 1),
            store: InMemSignalProtocolStore::new(identity, 1234),
        }
    }

    fn send(
        &mut self,
        to: &Person,
        text: &str,
        now: Timestamp,
        rng: &mut ChaCha20Rng,
    ) -> CiphertextMessage {
        let m = encrypt(
            text.as_bytes(),
            &to.address,
            &self.address,
            &mut self.store.session_store,
            &mut self.store.identity_store,
            now,
            rng,
        )
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
        m
    }

    fn receive(&mut self, from: &Person, m: &CiphertextMessage, rng: &mut ChaCha20Rng) {
        let result = match m {
            CiphertextMessage::PreKey(p) => decrypt_prekey_message(
                p,
                &from.address,
                &self.address,
                &mut self.store.session_store,
                &mut self.store.identity_store,
                &mut self.store.pre_key_store,
                &self.store.signed_pre_key_store,
                &mut self.store.kyber_pre_key_store,
                rng,
            ),
            CiphertextMessage::Whisper(w) => decrypt_signal_message(
                w,
                &from.address,
                &self.address,
                &mut self.store.session_store,
                &mut self.store.identity_store,
                rng,
            ),
            _ => unreachable!("a 1:1 session sends only these two kinds"),
        };
        match result {
            Ok(pt) => println!(
                "  {:>5} reads {:?}",
                self.name,
                String::from_utf8_lossy(&pt)
            ),
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
    let bob_identity = bob.store.identity_store.identity_key_pair().unwrap();
    let spk =
        SignedPreKeyRecord::generate(SignedPreKeyId(1), now.as_millis(), &bob_identity, &mut rng);
    let kyber = KyberPreKeyRecord::generate(
        KemKeyType::Kyber1024,
        KyberPreKeyId(1),
        now.as_millis(),
        true,
        &bob_identity,
        &mut rng,
    );
    let one_time = PreKeyRecord::generate(PreKeyId(1), &mut rng);
    bob.store
        .signed_pre_key_store
        .save_signed_pre_key(&spk)
        .unwrap();
    bob.store
        .kyber_pre_key_store
        .save_kyber_pre_key(&kyber)
        .unwrap();
    bob.store.pre_key_store.save_pre_key(&one_time).unwrap();
    let bundle = PreKeyBundle::new(
        1234,
        1,
        Some((one_time.id(), *one_time.public_key())),
        spk.id(),
        *spk.public_key(),
        spk.signature().to_vec(),
        *bob_identity.identity_key(),
        Some((
            kyber.id(),
            kyber.public_key().clone(),
            kyber.signature().to_vec(),
        )),
    );
    println!("   bundle: {} bytes serialized", bundle.serialize().len());

    println!("2. Alice fetches it, checks both signatures and runs PQXDH.");
    process_prekey_bundle(
        &bundle,
        &bob.address,
        &mut alice.store.session_store,
        &mut alice.store.identity_store,
        now,
        &mut rng,
    )
    .expect("process bundle");

    println!("3. Alice writes first. Until Bob answers, her messages carry the PQXDH parameters.");
    let m1 = alice.send(&bob, "Hi Bob! This is our first message.", now, &mut rng);
    bob.receive(&alice, &m1, &mut rng);
    println!(
        "   Bob's one-time prekey is now deleted: {} left.",
        bob.store.pre_key_store.len()
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
    let mut tampered = r3.serialize().to_vec();
    tampered[10] ^= 1;
    match SignalMessage::deserialize(&tampered) {
        Ok(t) => alice.receive(&bob, &CiphertextMessage::Whisper(t), &mut rng),
        Err(e) => println!("  Alice cannot even parse it: {e}"),
    }
    println!("   ...and the real one still decrypts:");
    alice.receive(&bob, &r3, &mut rng);

    println!();
    println!(
        "The lost message never arrives; its key waits in Bob's record (at most 2,000 per chain)."
    );
    println!(
        "Note: missive keys every v4 message with SPQR's symmetric chain but does not run the"
    );
    println!(
        "ML-KEM braid yet, so there is no post-quantum healing after a compromise (see SECURITY.md)."
    );
}

//! A group of four with sender keys: everyone hands out its chain over 1:1 sessions,
//! the group talks, Dave leaves, the others rotate, and a message sent before the
//! rotation but delivered after it still decrypts. Run with
//! `cargo run --release --example group_chat`.
//!
//! As in `conversation.rs`, everything an app does is here except the network: the
//! "server" is a function call that hands the same group ciphertext to every member.

use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const NOW: Timestamp = Timestamp::from_millis(1_780_000_000_000);

struct Person {
    name: &'static str,
    device: Device<InMemSignalProtocolStore>,
    next_prekey_id: u32,
}

impl Person {
    fn new(name: &'static str, uuid: &str, rng: &mut ChaCha20Rng) -> Self {
        let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), 1000);
        Person {
            name,
            device: Device::new(ProtocolAddress::new(uuid, 1), store),
            next_prekey_id: 1,
        }
    }

    fn address(&self) -> &ProtocolAddress {
        self.device.address()
    }

    /// A fresh prekey bundle (signed prekey, Kyber prekey, one-time prekey), as the
    /// server would hand it to one peer.
    fn bundle(&mut self, rng: &mut ChaCha20Rng) -> PreKeyBundle {
        let spec = BundleSpec::new(self.next_prekey_id).with_one_time_pre_key();
        self.next_prekey_id += 1;
        self.device.store_mut().generate_bundle(&spec, 1, NOW, rng)
    }

    fn say(
        &mut self,
        group: DistributionId,
        text: &str,
        rng: &mut ChaCha20Rng,
    ) -> SenderKeyMessage {
        let m = self
            .device
            .group_encrypt(group, text.as_bytes(), rng)
            .expect("group_encrypt");
        println!(
            "  {:>5} says {text:?}: one {}-byte SenderKeyMessage (chain {}, iteration {}) for everyone",
            self.name,
            m.serialized().len(),
            m.chain_id(),
            m.iteration()
        );
        m
    }

    fn read(&mut self, from: &Person, m: &SenderKeyMessage) {
        match self.device.group_decrypt(from.address(), m) {
            Ok(pt) => println!(
                "  {:>5} reads {:?}",
                self.name,
                String::from_utf8_lossy(&pt)
            ),
            Err(e) => println!("  {:>5} cannot read it: {e}", self.name),
        }
    }
}

/// `sender` gives its distribution message to each of `to` over their 1:1 sessions
/// (starting one from a bundle where there is none yet), and each processes it.
fn hand_out(
    people: &mut [Person],
    sender: usize,
    to: &[usize],
    distribution: &SenderKeyDistributionMessage,
    rng: &mut ChaCha20Rng,
) {
    for &r in to {
        let remote = people[r].address().clone();
        let store = people[sender].device.store();
        let has_session = store.session_store.session(&remote).is_some();
        if !has_session {
            let bundle = people[r].bundle(rng);
            people[sender]
                .device
                .process_prekey_bundle(&remote, &bundle, NOW, rng)
                .expect("bundle");
        }
    }
    let members: Vec<ProtocolAddress> = to.iter().map(|&r| people[r].address().clone()).collect();
    let local = people[sender].address().clone();
    let sent = people[sender]
        .device
        .distribute_sender_key(distribution, &members, NOW, rng);
    for ((member, carried), &r) in sent.into_iter().zip(to) {
        let carried = carried.expect("1:1 encrypt");
        assert_eq!(&member, people[r].address());
        // The member's receive path: decrypt the 1:1 message, read the distribution
        // message it carries, and process it under the sender that the 1:1 session
        // authenticated (never under an address taken from anywhere else).
        let device = &mut people[r].device;
        let received = device
            .decrypt(&local, carried.message_type(), carried.serialize(), rng)
            .expect("1:1 decrypt");
        let d =
            SenderKeyDistributionMessage::deserialize(&received.plaintext).expect("distribution");
        device
            .process_sender_key_distribution_message(&received.sender, &d)
            .expect("process");
    }
    println!(
        "  {:>5} hands chain {} to {} over 1:1 sessions ({} bytes each before 1:1 encryption)",
        people[sender].name,
        distribution.chain_id(),
        to.iter()
            .map(|&r| people[r].name)
            .collect::<Vec<_>>()
            .join(", "),
        distribution.serialized().len()
    );
}

fn main() {
    // A seeded RNG keeps the demo's output stable; an app passes its OS RNG instead.
    let mut rng = ChaCha20Rng::seed_from_u64(2027);
    let group = DistributionId::random(&mut rng);
    let mut people = vec![
        Person::new("Alice", "9d0652a3-dcc3-4d11-975f-74d61598733f", &mut rng),
        Person::new("Bob", "796abedb-ca4e-4f18-8803-1fde5b921f9f", &mut rng),
        Person::new("Carol", "3d5e7a90-1b2c-4d3e-8f40-5a6b7c8d9e0f", &mut rng),
        Person::new("Dave", "c0ffee00-1234-4abc-9def-0123456789ab", &mut rng),
    ];
    let everyone = [0, 1, 2, 3];

    println!("1. Group {group}: everyone starts a chain and hands it to the three others.");
    for s in everyone {
        let d = people[s]
            .device
            .sender_key_distribution_message(group, &mut rng)
            .expect("create");
        let others: Vec<usize> = everyone.into_iter().filter(|&r| r != s).collect();
        hand_out(&mut people, s, &others, &d, &mut rng);
    }

    println!("2. The group talks; the server fans each message out unchanged.");
    for (s, text) in [(0, "Hi all"), (3, "Hello from Dave"), (2, "Lunch at noon?")] {
        let m = people[s].say(group, text, &mut rng);
        for r in everyone.into_iter().filter(|&r| r != s) {
            let (from, to) = pick(&mut people, s, r);
            to.read(from, &m);
        }
    }

    println!("3. Bob sends a message the server is slow to deliver.");
    let late = people[1].say(group, "Sent before Dave left", &mut rng);

    println!(
        "4. Dave leaves. Alice, Bob and Carol rotate: new chains, handed to the other two only."
    );
    let dave = people[3].address().clone();
    for s in [0, 1, 2] {
        let d = people[s]
            .device
            .rotate_sender_key(group, &mut rng)
            .expect("rotate");
        let others: Vec<usize> = [0, 1, 2].into_iter().filter(|&r| r != s).collect();
        hand_out(&mut people, s, &others, &d, &mut rng);
        // And nobody keeps reading Dave.
        people[s]
            .device
            .store_mut()
            .sender_key_store
            .remove_sender_key(&dave, group);
    }

    println!("5. Messages on the new chains: Dave cannot read them.");
    let m = people[0].say(group, "Dave is gone", &mut rng);
    for r in [1, 2, 3] {
        let (from, to) = pick(&mut people, 0, r);
        to.read(from, &m);
    }

    println!("6. Bob's late message arrives: the old chain is still held, so it decrypts.");
    for r in [0, 2] {
        let (from, to) = pick(&mut people, 1, r);
        to.read(from, &late);
    }
    println!(
        "   (Dave could read it too: he had that chain. Rotation protects what is sent after it,\n    \
         not what was sent before. Sender keys give no post-compromise security until the\n    \
         sender rotates.)"
    );
}

/// Borrows sender `s` and receiver `r` at once.
fn pick(people: &mut [Person], s: usize, r: usize) -> (&Person, &mut Person) {
    assert_ne!(s, r);
    if s < r {
        let (a, b) = people.split_at_mut(r);
        (&a[s], &mut b[0])
    } else {
        let (a, b) = people.split_at_mut(s);
        (&b[0], &mut a[r])
    }
}

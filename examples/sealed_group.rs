//! A group message sealed to four members (sealed sender v2), and what the server learns.
//!
//! ```sh
//! cargo run --release --example sealed_group
//! ```
//!
//! Alice sends one message to a group of four. She encrypts it once with her sender key,
//! wraps it in a sealed-sender envelope that carries her certificate *inside* the
//! encryption, and seals that once for all four recipients. The server cuts the upload
//! into one copy per recipient and delivers them. It has to know where each copy goes;
//! it never learns who sent it, which group it belongs to, or what it says.

use missive::crypto::PrivateKey;
use missive::sealed::{
    ContentHint, SenderCertificate, SentMessage, ServerCertificate, ServiceId, Signer, TrustPolicy,
};
use missive::store::memory::{BundleSpec, InMemSignalProtocolStore};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

const NOW: Timestamp = Timestamp::from_millis(1_780_000_000_000);
const DAY_MS: u64 = 86_400_000;

struct Person {
    name: &'static str,
    device: Device<InMemSignalProtocolStore>,
}

fn person(name: &'static str, uuid: &str, rng: &mut ChaCha20Rng) -> Person {
    let store =
        InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), 1 + rng.next_u32() % 16380);
    Person {
        name,
        device: Device::new(ProtocolAddress::new(uuid, 1), store),
    }
}

fn main() -> Result<(), Error> {
    let mut rng = ChaCha20Rng::seed_from_u64(2026); // an app passes its OS RNG

    // The deployment's own service: a trust root (its public key ships in the app) and a
    // server key that the root certifies. It issues short-lived sender certificates.
    let root = PrivateKey::generate(&mut rng);
    let server_key = PrivateKey::generate(&mut rng);
    let server_certificate = ServerCertificate::new(1, server_key.public_key(), &root, &mut rng);

    let mut alice = person("Alice", "9d0652a3-dcc3-4d11-975f-74d61598733f", &mut rng);
    let mut members = [
        person("Bob", "796abedb-ca4e-4f18-8803-1fde5b921f9f", &mut rng),
        person("Carol", "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee", &mut rng),
        person("Dave", "dddddddd-0000-4000-8000-000000000001", &mut rng),
        person("Erin", "eeeeeeee-0000-4000-8000-000000000002", &mut rng),
    ];
    let alice_identity = *alice.device.store().identity_key_pair()?.identity_key();
    let certificate = SenderCertificate::new(
        alice.device.address().name(),
        None,
        1,
        alice_identity,
        NOW.as_millis() + DAY_MS,
        Signer::Certificate(server_certificate),
        &server_key,
        &mut rng,
    )
    .map_err(Error::from)?;

    // Set-up: Alice has a session with each member and gives each her group chain over
    // it (this part is not sealed here, to keep the example short).
    let group = DistributionId::random(&mut rng);
    let distribution = alice
        .device
        .sender_key_distribution_message(group, &mut rng)?;
    for m in &mut members {
        let bundle = m
            .device
            .store_mut()
            .generate_bundle(&BundleSpec::new(1), 1, NOW, &mut rng);
        let to = m.device.address().clone();
        alice
            .device
            .process_prekey_bundle(&to, &bundle, NOW, &mut rng)?;
        let carrier = alice
            .device
            .encrypt(&to, distribution.serialized(), NOW, &mut rng)?;
        let from = alice.device.address().clone();
        let got = m
            .device
            .decrypt(&from, carrier.message_type(), carrier.serialize(), &mut rng)?;
        let d = SenderKeyDistributionMessage::deserialize(&got.plaintext)?;
        m.device
            .process_sender_key_distribution_message(&got.sender, &d)?;
    }

    // Alice encrypts once and seals once for all four.
    let text = "Meeting moved to Thursday, 10:00.";
    let recipients: Vec<ProtocolAddress> =
        members.iter().map(|m| m.device.address().clone()).collect();
    let upload = alice.device.sealed_group_encrypt(
        group,
        text.as_bytes(),
        &certificate,
        ContentHint::RESENDABLE,
        Some(b"book-club"),
        &recipients,
        &[],
        &mut rng,
    )?;

    // The server.
    let sent = SentMessage::parse(&upload)?;
    println!(
        "== What the server receives: one upload of {} bytes, with no sender",
        upload.len()
    );
    println!("   It must learn where to deliver, so it sees:");
    for r in sent.recipients() {
        let devices: Vec<String> = r
            .devices()
            .iter()
            .map(|d| {
                format!(
                    "device {} (registration id {})",
                    d.device_id, d.registration_id
                )
            })
            .collect();
        println!("   - recipient {}: {}", r.service_id(), devices.join(", "));
    }
    println!(
        "   - a shared part of {} bytes: an ephemeral key and one AES-GCM-SIV ciphertext",
        sent.shared().len()
    );
    println!("   - the time it arrived, and the connection it came on (outside missive)");
    println!("   It does not see: who sent it (Alice's certificate is inside the ciphertext),");
    println!("   that it is a group message, which group, the content hint, or the text.");
    println!();

    // Each recipient gets its own copy: 0x22 ‖ its 48-byte header ‖ the shared part.
    let roots = [root.public_key()];
    let trust = TrustPolicy::new(&roots, &[]);
    println!("== What each member receives and opens");
    for m in &mut members {
        let id = ServiceId::parse(m.device.address().name()).ok_or(MisuseError::InvalidArgument)?;
        let copy = sent
            .received_message_for(&id)
            .ok_or(MisuseError::InvalidState)?;
        let opened = m.device.sealed_decrypt(&copy, &trust, NOW, &mut rng)?;
        let group_id = opened.group_id.as_deref().map(String::from_utf8_lossy);
        println!(
            "   {:5} copy of {} bytes: from {} (certified until {} ms), group {:?}: {:?}",
            m.name,
            copy.len(),
            if opened.sender == *alice.device.address() {
                alice.name
            } else {
                "someone else"
            },
            opened.certificate.expiration(),
            group_id.unwrap_or_default(),
            String::from_utf8_lossy(opened.message.plaintext()),
        );
    }
    println!();
    println!("== What the sealing does not hide");
    println!("   The recipients' identities and devices, the sizes, the timing: a server that");
    println!("   watches who connects when can still guess senders over many messages (see");
    println!("   SECURITY.md, \"Sealed sender\"). And Alice's own certificate names her to");
    println!("   every recipient: sealed sender hides the sender from the server, not from them.");
    Ok(())
}

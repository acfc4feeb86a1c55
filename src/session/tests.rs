extern crate std;

use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::store::memory::{BundleSpec, InMemSignalProtocolStore};
use crate::*;

const NOW: Timestamp = Timestamp::from_millis(1_780_000_000_000);

fn device(name: &str, rng: &mut ChaCha20Rng) -> Device<InMemSignalProtocolStore> {
    let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), 7);
    Device::new(ProtocolAddress::new(name, 1), store)
}

fn receive(
    to: &mut Device<InMemSignalProtocolStore>,
    from: &ProtocolAddress,
    m: &CiphertextMessage,
    rng: &mut ChaCha20Rng,
) -> Result<Decrypted, Error> {
    to.decrypt(from, m.message_type(), m.serialize(), rng)
}

/// Alice reinstalls (a new identity at the same address). A second prekey message of
/// her old install, delivered late, names the base key of Bob's archived session with
/// her: it is refused, and neither the stored identity nor the record changes (it used
/// to decrypt, report `Replaced`, write the old identity back and make the old session
/// current again).
#[test]
fn late_prekey_message_from_an_old_install_cannot_roll_the_identity_back() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    let mut bob = device("bob", &mut rng);
    let mut old = device("alice", &mut rng);
    let mut new = device("alice", &mut rng);
    let (a, b) = (old.address().clone(), bob.address().clone());
    let old_identity = *old.store().identity_key_pair().unwrap().identity_key();
    let new_identity = *new.store().identity_key_pair().unwrap().identity_key();

    let bundle = bob
        .store_mut()
        .generate_bundle(&BundleSpec::new(1), 1, NOW, &mut rng);
    old.process_prekey_bundle(&b, &bundle, NOW, &mut rng)
        .unwrap();
    let first = old.encrypt(&b, b"first", NOW, &mut rng).unwrap();
    let late = old.encrypt(&b, b"late", NOW, &mut rng).unwrap();
    assert_eq!(late.message_type(), CiphertextMessageType::PreKey);
    receive(&mut bob, &a, &first, &mut rng).unwrap();

    let bundle = bob
        .store_mut()
        .generate_bundle(&BundleSpec::new(2), 1, NOW, &mut rng);
    new.process_prekey_bundle(&b, &bundle, NOW, &mut rng)
        .unwrap();
    let hello = new.encrypt(&b, b"reinstalled", NOW, &mut rng).unwrap();
    let got = receive(&mut bob, &a, &hello, &mut rng).unwrap();
    assert_eq!(
        got.identity_change,
        IdentityChange::Replaced {
            previous: old_identity
        }
    );

    let record = bob.store().session_store.session(&a).unwrap().serialize();
    assert_eq!(
        receive(&mut bob, &a, &late, &mut rng).unwrap_err(),
        Error::Protocol(ProtocolError::DecryptionFailed)
    );
    assert_eq!(bob.store().identity_store.identity(&a), Some(&new_identity));
    assert_eq!(
        bob.store().session_store.session(&a).unwrap().serialize(),
        record
    );

    // Bob's next message is for the new install.
    let next = bob.encrypt(&a, b"welcome back", NOW, &mut rng).unwrap();
    assert_eq!(
        receive(&mut new, &b, &next, &mut rng).unwrap().plaintext,
        b"welcome back"
    );
    assert!(receive(&mut old, &b, &next, &mut rng).is_err());
}

/// The same late prekey message is still taken when no other identity was stored
/// since: a second prekey message of an install goes to its session.
#[test]
fn late_prekey_message_of_the_current_install_still_decrypts() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut bob = device("bob", &mut rng);
    let mut alice = device("alice", &mut rng);
    let (a, b) = (alice.address().clone(), bob.address().clone());
    let bundle = bob
        .store_mut()
        .generate_bundle(&BundleSpec::new(1), 1, NOW, &mut rng);
    alice
        .process_prekey_bundle(&b, &bundle, NOW, &mut rng)
        .unwrap();
    let first = alice.encrypt(&b, b"first", NOW, &mut rng).unwrap();
    let second = alice.encrypt(&b, b"second", NOW, &mut rng).unwrap();
    receive(&mut bob, &a, &first, &mut rng).unwrap();
    bob.archive_session(&a).unwrap();
    let got = receive(&mut bob, &a, &second, &mut rng).unwrap();
    assert_eq!(got.plaintext, b"second");
    assert_eq!(got.identity_change, IdentityChange::Unchanged);
    assert!(!got.new_session);
}

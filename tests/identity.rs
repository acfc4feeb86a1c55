//! Identity changes reach the app and cannot be rolled back (issue 8; SECURITY.md,
//! "Identity changes"). The same reinstall scenario runs against libsignal-client in
//! interop/tests.

use missive::store::memory::{BundleSpec, InMemSignalProtocolStore, ReceivePolicy};
use missive::*;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);
const ALICE: &str = "9d0652a3-dcc3-4d11-975f-74d61598733f";
const BOB: &str = "5e4f7f2c-3a6b-4c1d-9e8f-0a1b2c3d4e5f";

type Dev = Device<InMemSignalProtocolStore>;

fn device(name: &str, reg: u32, rng: &mut ChaCha20Rng) -> Dev {
    let store = InMemSignalProtocolStore::new(IdentityKeyPair::generate(rng), reg);
    Device::new(ProtocolAddress::new(name, 1), store)
}

fn identity_of(d: &Dev) -> IdentityKey {
    *d.store().identity_key_pair().unwrap().identity_key()
}

/// Starts a session from `from` to `to` and delivers one message each way.
fn converse(from: &mut Dev, to: &mut Dev, id: u32, rng: &mut ChaCha20Rng) -> Decrypted {
    let b = to
        .store_mut()
        .generate_bundle(&BundleSpec::new(id), 1, NOW, rng);
    from.process_prekey_bundle(to.address(), &b, NOW, rng)
        .unwrap();
    let m = from.encrypt(to.address(), b"hello", NOW, rng).unwrap();
    let got = to
        .decrypt(from.address(), m.message_type(), m.serialize(), rng)
        .unwrap();
    let r = to.encrypt(from.address(), b"hi", NOW, rng).unwrap();
    from.decrypt(to.address(), r.message_type(), r.serialize(), rng)
        .unwrap();
    got
}

#[test]
fn first_contact_is_new_then_unchanged() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut alice = device(ALICE, 1, &mut rng);
    let mut bob = device(BOB, 2, &mut rng);
    let got = converse(&mut alice, &mut bob, 1, &mut rng);
    assert_eq!(got.identity_change, IdentityChange::New);
    assert_eq!(got.sender.identity(), &identity_of(&alice));
    assert_eq!(got.sender.address(), alice.address());
    let m = alice
        .encrypt(bob.address(), b"again", NOW, &mut rng)
        .unwrap();
    let got = bob
        .decrypt(alice.address(), m.message_type(), m.serialize(), &mut rng)
        .unwrap();
    assert_eq!(got.identity_change, IdentityChange::Unchanged);
}

/// Alice reinstalls: her new install's prekey message reports the replaced identity; a
/// late message from the old install is refused and cannot write the old identity back;
/// Bob's next message is for the new install only.
#[test]
fn reinstall_is_reported_and_cannot_be_rolled_back() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let mut old_alice = device(ALICE, 1, &mut rng);
    let mut bob = device(BOB, 2, &mut rng);
    converse(&mut old_alice, &mut bob, 1, &mut rng);
    let old_identity = identity_of(&old_alice);
    // Sent by the old install just before it was wiped; delivered late.
    let late = old_alice
        .encrypt(bob.address(), b"from the old install", NOW, &mut rng)
        .unwrap();

    let mut new_alice = device(ALICE, 1, &mut rng);
    let b = bob
        .store_mut()
        .generate_bundle(&BundleSpec::new(2), 1, NOW, &mut rng);
    new_alice
        .process_prekey_bundle(bob.address(), &b, NOW, &mut rng)
        .unwrap();
    let m = new_alice
        .encrypt(bob.address(), b"new phone", NOW, &mut rng)
        .unwrap();
    let got = bob
        .decrypt(
            new_alice.address(),
            m.message_type(),
            m.serialize(),
            &mut rng,
        )
        .unwrap();
    assert_eq!(got.plaintext, b"new phone");
    assert_eq!(
        got.identity_change,
        IdentityChange::Replaced {
            previous: old_identity
        }
    );
    assert_eq!(
        bob.store().identity_store.identity(new_alice.address()),
        Some(&identity_of(&new_alice))
    );

    // The old install's late message: refused, nothing written.
    let before = bob.store().snapshot();
    let r = bob.decrypt(
        new_alice.address(),
        late.message_type(),
        late.serialize(),
        &mut rng,
    );
    assert!(
        r.is_err(),
        "an old session must not decrypt silently: {r:?}"
    );
    assert_eq!(bob.store().snapshot(), before);
    assert_eq!(
        bob.store().identity_store.identity(new_alice.address()),
        Some(&identity_of(&new_alice)),
        "the old identity is not written back"
    );

    // Bob's next message: readable by the new install, not by the old one.
    let reply = bob
        .encrypt(new_alice.address(), b"welcome back", NOW, &mut rng)
        .unwrap();
    let for_old = old_alice.decrypt(
        bob.address(),
        reply.message_type(),
        reply.serialize(),
        &mut rng,
    );
    assert!(for_old.is_err());
    let got = new_alice
        .decrypt(
            bob.address(),
            reply.message_type(),
            reply.serialize(),
            &mut rng,
        )
        .unwrap();
    assert_eq!(got.plaintext, b"welcome back");
    assert_eq!(got.identity_change, IdentityChange::Unchanged);
}

/// With `ReceivePolicy::RequireApproval`, a changed identity is refused until the app
/// saves it, and the refusal changes nothing.
#[test]
fn approval_policy_refuses_until_the_app_saves_the_identity() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut old_alice = device(ALICE, 1, &mut rng);
    let mut bob = device(BOB, 2, &mut rng);
    bob.store_mut()
        .identity_store
        .set_receive_policy(ReceivePolicy::RequireApproval);
    converse(&mut old_alice, &mut bob, 1, &mut rng);

    let mut new_alice = device(ALICE, 1, &mut rng);
    let b = bob
        .store_mut()
        .generate_bundle(&BundleSpec::new(2), 1, NOW, &mut rng);
    new_alice
        .process_prekey_bundle(bob.address(), &b, NOW, &mut rng)
        .unwrap();
    let m = new_alice
        .encrypt(bob.address(), b"new phone", NOW, &mut rng)
        .unwrap();
    let before = bob.store().snapshot();
    let r = bob.decrypt(
        new_alice.address(),
        m.message_type(),
        m.serialize(),
        &mut rng,
    );
    assert_eq!(
        r.unwrap_err(),
        Error::Protocol(ProtocolError::UntrustedIdentity)
    );
    assert_eq!(bob.store().snapshot(), before);

    // The user compared safety numbers and accepted.
    let change = bob
        .store_mut()
        .identity_store
        .save_identity(new_alice.address(), &identity_of(&new_alice));
    assert!(matches!(change, IdentityChange::Replaced { .. }));
    let got = bob
        .decrypt(
            new_alice.address(),
            m.message_type(),
            m.serialize(),
            &mut rng,
        )
        .unwrap();
    assert_eq!(got.identity_change, IdentityChange::Unchanged);
}

/// Sending never follows a changed identity on its own: a bundle with another identity,
/// and the current session once the stored identity changed, are refused until the app
/// saves the identity the user accepted.
#[test]
fn sending_to_a_changed_identity_needs_the_app() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let mut alice = device(ALICE, 1, &mut rng);
    let mut bob = device(BOB, 2, &mut rng);
    converse(&mut alice, &mut bob, 1, &mut rng);

    let mut new_bob = device(BOB, 2, &mut rng);
    let b = new_bob
        .store_mut()
        .generate_bundle(&BundleSpec::new(1), 1, NOW, &mut rng);
    let before = alice.store().snapshot();
    assert_eq!(
        alice.process_prekey_bundle(bob.address(), &b, NOW, &mut rng),
        Err(Error::Protocol(ProtocolError::UntrustedIdentity))
    );
    assert_eq!(alice.store().snapshot(), before);
    // The app learns of the new identity (say from its server) and the user accepts it:
    // the existing session, built with the old identity, may no longer send.
    alice
        .store_mut()
        .identity_store
        .save_identity(bob.address(), &identity_of(&new_bob));
    assert_eq!(
        alice
            .encrypt(bob.address(), b"x", NOW, &mut rng)
            .unwrap_err(),
        Error::Protocol(ProtocolError::UntrustedIdentity)
    );
    assert_eq!(
        alice.process_prekey_bundle(bob.address(), &b, NOW, &mut rng),
        Ok(IdentityChange::Unchanged)
    );
    let m = alice
        .encrypt(bob.address(), b"to the new bob", NOW, &mut rng)
        .unwrap();
    let got = new_bob
        .decrypt(alice.address(), m.message_type(), m.serialize(), &mut rng)
        .unwrap();
    assert_eq!(got.plaintext, b"to the new bob");
}

/// A session whose identity is not the stored one is never tried: after the app stores a
/// new identity for Bob, messages on the old session with Bob stop decrypting (and the
/// old identity is not written back); once a session with the new identity exists, it
/// works.
#[test]
fn sessions_with_another_identity_are_not_tried() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let mut alice = device(ALICE, 1, &mut rng);
    let mut bob = device(BOB, 2, &mut rng);
    converse(&mut alice, &mut bob, 1, &mut rng);
    let m = bob
        .encrypt(alice.address(), b"on the old session", NOW, &mut rng)
        .unwrap();
    let other = IdentityKeyPair::generate(&mut rng);
    alice
        .store_mut()
        .identity_store
        .save_identity(bob.address(), other.identity_key());
    let before = alice.store().snapshot();
    assert_eq!(
        alice
            .decrypt(bob.address(), m.message_type(), m.serialize(), &mut rng)
            .unwrap_err(),
        Error::Protocol(ProtocolError::NoSession)
    );
    assert_eq!(alice.store().snapshot(), before);
    // Restoring the identity makes the session usable again: nothing was lost.
    alice
        .store_mut()
        .identity_store
        .save_identity(bob.address(), &identity_of(&bob));
    let got = alice
        .decrypt(bob.address(), m.message_type(), m.serialize(), &mut rng)
        .unwrap();
    assert_eq!(got.plaintext, b"on the old session");
}

//! Safety numbers: missive's `Fingerprint` against libsignal-client 0.103's, digit for digit
//! and byte for byte, and each side verifying the other's scannable encoding.

use missive::fingerprint::SIGNAL_ITERATIONS;
use missive::{
    DecodeError, Error, Fingerprint, FingerprintError, IdentityKey, IdentityKeyPair, MisuseError,
};
use missive_interop::{Peer, PeerError, PeerKind};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};

fn client() -> Peer {
    Peer::spawn(PeerKind::Client).expect("spawn libsignal-client driver")
}

/// One side of a safety number: a stable id and an identity key.
struct Side {
    id: Vec<u8>,
    key: IdentityKey,
}

impl Side {
    fn random(rng: &mut ChaCha20Rng) -> Side {
        let len = match rng.next_u32() % 4 {
            0 => 16, // an ACI in binary form
            1 => 12, // an E.164 number as text
            _ => rng.next_u32() as usize % 65,
        };
        let mut id = vec![0u8; len];
        rng.fill_bytes(&mut id);
        Side {
            id,
            key: *IdentityKeyPair::generate(rng).identity_key(),
        }
    }

    fn peer_view(&self) -> (&[u8], Vec<u8>) {
        (&self.id, self.key.serialize().to_vec())
    }
}

fn missive(version: u32, iterations: u32, local: &Side, remote: &Side) -> Fingerprint {
    Fingerprint::new(
        version,
        iterations,
        &local.id,
        &local.key,
        &remote.id,
        &remote.key,
    )
    .unwrap()
}

fn peer_fingerprint(
    peer: &mut Peer,
    version: u32,
    iterations: u32,
    local: &Side,
    remote: &Side,
) -> (String, Vec<u8>) {
    let (lid, lk) = local.peer_view();
    let (rid, rk) = remote.peer_view();
    peer.fingerprint(iterations, version, (lid, &lk), (rid, &rk))
        .unwrap()
}

#[test]
fn digits_and_scannable_bytes_equal_the_peers() {
    let mut peer = client();
    let mut rng = ChaCha20Rng::seed_from_u64(0x5afe_7a1e);
    for i in 0..40 {
        let (a, b) = (Side::random(&mut rng), Side::random(&mut rng));
        let iterations = match i % 4 {
            0 => SIGNAL_ITERATIONS,
            1 => 2,
            _ => 2 + rng.next_u32() % 3000,
        };
        let version = match i % 3 {
            0 => 2,
            1 => rng.next_u32() % 4,
            _ => rng.next_u32(),
        };
        for (local, remote) in [(&a, &b), (&b, &a)] {
            let ours = missive(version, iterations, local, remote);
            let (digits, scannable) =
                peer_fingerprint(&mut peer, version, iterations, local, remote);
            assert_eq!(ours.display_string(), digits, "case {i}");
            assert_eq!(
                ours.scannable().serialize().as_bytes(),
                scannable,
                "case {i}"
            );
        }
    }
}

#[test]
fn each_side_verifies_the_others_scannable_encoding() {
    let mut peer = client();
    let mut rng = ChaCha20Rng::seed_from_u64(0xc0de_5ca7);
    for i in 0..12 {
        let (alice, bob) = (Side::random(&mut rng), Side::random(&mut rng));
        let version = 1 + (i % 2);
        // Alice runs missive, Bob the peer.
        let alice_fp = missive(version, SIGNAL_ITERATIONS, &alice, &bob);
        let (bob_digits, bob_scan) =
            peer_fingerprint(&mut peer, version, SIGNAL_ITERATIONS, &bob, &alice);
        assert_eq!(alice_fp.display_string(), bob_digits);
        // Alice scans Bob's code; Bob scans Alice's.
        assert_eq!(alice_fp.scannable().compare_serialized(&bob_scan), Ok(()));
        let alice_scan = alice_fp.scannable().serialize();
        assert!(peer.fingerprint_compare(&bob_scan, &alice_scan).unwrap());
        // The typed route agrees.
        let parsed = missive::ScannableFingerprint::deserialize(&bob_scan).unwrap();
        assert_eq!(alice_fp.scannable().compare(&parsed), Ok(()));
    }
}

#[test]
fn other_identities_and_versions_are_refused_by_both() {
    let mut peer = client();
    let mut rng = ChaCha20Rng::seed_from_u64(0xbad1d);
    let (alice, bob, mallory) = (
        Side::random(&mut rng),
        Side::random(&mut rng),
        Side::random(&mut rng),
    );
    let alice_fp = missive(2, SIGNAL_ITERATIONS, &alice, &bob);
    let alice_scan = alice_fp.scannable().serialize();
    let renamed = Side {
        id: b"not bob".to_vec(),
        key: bob.key,
    };
    let rekeyed = Side {
        id: bob.id.clone(),
        key: mallory.key,
    };
    // What the other side shows when it is not the Bob that Alice has (or Alice's key was
    // swapped on the way to Bob).
    for (local, remote) in [
        (&mallory, &alice),
        (&renamed, &alice),
        (&rekeyed, &alice),
        (&bob, &mallory),
    ] {
        let (_, scan) = peer_fingerprint(&mut peer, 2, SIGNAL_ITERATIONS, local, remote);
        assert_eq!(
            alice_fp.scannable().compare_serialized(&scan),
            Err(Error::Fingerprint(FingerprintError::IdentityMismatch))
        );
        assert!(!peer.fingerprint_compare(&scan, &alice_scan).unwrap());
        let ours = missive(2, SIGNAL_ITERATIONS, local, remote)
            .scannable()
            .serialize();
        assert!(!peer.fingerprint_compare(&alice_scan, &ours).unwrap());
    }
    // Bob on another fingerprint version: missive says so, and so does the peer.
    let (_, v1) = peer_fingerprint(&mut peer, 1, SIGNAL_ITERATIONS, &bob, &alice);
    assert_eq!(
        alice_fp.scannable().compare_serialized(&v1),
        Err(Error::Fingerprint(FingerprintError::VersionMismatch {
            ours: 2,
            theirs: 1
        }))
    );
    let err = peer.fingerprint_compare(&v1, &alice_scan).unwrap_err();
    assert!(err.message().contains("version"), "{err:?}");
}

/// The verdict of either side on a scanned encoding.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Verdict {
    Match,
    Mismatch,
    Version,
    Unparsable,
}

fn peer_verdict(r: Result<bool, PeerError>) -> Verdict {
    match r {
        Ok(true) => Verdict::Match,
        Ok(false) => Verdict::Mismatch,
        Err(PeerError::Rejected { error, .. }) if error.contains("version number mismatch") => {
            Verdict::Version
        }
        Err(PeerError::Rejected { .. }) => Verdict::Unparsable,
        Err(e) => panic!("driver failed: {e:?}"),
    }
}

fn missive_verdict(r: Result<(), Error>) -> Verdict {
    match r {
        Ok(()) => Verdict::Match,
        Err(Error::Fingerprint(FingerprintError::IdentityMismatch)) => Verdict::Mismatch,
        Err(Error::Fingerprint(FingerprintError::VersionMismatch { .. })) => Verdict::Version,
        Err(Error::Decode(_)) => Verdict::Unparsable,
        Err(e) => panic!("unexpected error {e:?}"),
    }
}

#[test]
fn every_truncation_and_bit_flip_gets_the_peers_verdict() {
    let mut peer = client();
    let mut rng = ChaCha20Rng::seed_from_u64(0xf11b);
    let (alice, bob) = (Side::random(&mut rng), Side::random(&mut rng));
    let alice_fp = missive(2, SIGNAL_ITERATIONS, &alice, &bob);
    let alice_scan = alice_fp.scannable().serialize();
    let bob_scan = missive(2, SIGNAL_ITERATIONS, &bob, &alice)
        .scannable()
        .serialize();
    let mut inputs: Vec<Vec<u8>> = (0..bob_scan.len())
        .map(|n| bob_scan[..n].to_vec())
        .collect();
    for bit in 0..bob_scan.len() * 8 {
        let mut v = bob_scan.to_vec();
        v[bit / 8] ^= 1 << (bit % 8);
        inputs.push(v);
    }
    let mut tally = std::collections::BTreeMap::new();
    for input in &inputs {
        let theirs = peer_verdict(peer.fingerprint_compare(&alice_scan, input));
        let result = alice_fp.scannable().compare_serialized(input);
        let ours = missive_verdict(result.clone());
        // The one documented difference: a digest of the wrong length is a decode error
        // for missive and a plain mismatch for the peer.
        let allowed = ours == theirs
            || (result == Err(Error::Decode(DecodeError::BadLength))
                && theirs == Verdict::Mismatch);
        assert!(
            allowed,
            "input {}: missive {result:?}, peer {theirs:?}",
            hex::encode(input)
        );
        assert_ne!(ours, Verdict::Match, "accepted {}", hex::encode(input));
        *tally.entry(format!("{theirs:?}")).or_insert(0) += 1;
    }
    // The inputs reach every kind of refusal.
    assert_eq!(tally.len(), 3, "{tally:?}");
}

#[test]
fn too_few_iterations_are_refused_by_both() {
    let mut peer = client();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (a, b) = (Side::random(&mut rng), Side::random(&mut rng));
    for it in [0, 1] {
        assert_eq!(
            Fingerprint::new(2, it, &a.id, &a.key, &b.id, &b.key).unwrap_err(),
            Error::Misuse(MisuseError::InvalidArgument)
        );
        let (aid, ak) = a.peer_view();
        let (bid, bk) = b.peer_view();
        assert!(peer.fingerprint(it, 2, (aid, &ak), (bid, &bk)).is_err());
    }
    let (digits, _) = peer_fingerprint(&mut peer, 2, 2, &a, &b);
    assert_eq!(missive(2, 2, &a, &b).display_string(), digits);
}

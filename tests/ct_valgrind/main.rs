//! Secret-independence of the crypto operations, checked by valgrind's memcheck.
//!
//! Each case marks its secret inputs *undefined* ([`memcheck::secret`]) and runs one
//! operation. Memcheck then reports every conditional jump and every memory address
//! that depends on them: exactly the two ways code leaks a secret through timing
//! (branches, and cache lines or table lookups). Outputs are declassified
//! ([`memcheck::public`]) before the case checks them, as the protocol reveals them.
//!
//! ```sh
//! CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="valgrind -q --error-exitcode=1" \
//!   MISSIVE_CT_REQUIRE_VALGRIND=1 cargo test --release --features hazmat --test ct_valgrind
//! ```
//! Arguments: case names to run a subset; `--canary` runs only the two cases that leak
//! on purpose (a branch and a table index on a secret), which must fail: they prove the
//! marking works. Without valgrind every case still runs and checks its results.
//!
//! Adding an operation: write `fn name(rng: &mut Rng)` below and list it in [`CASES`].
//! `docs/CONSTANT-TIME.md` has the results and the analysis.

mod memcheck;

use std::hint::black_box;
use std::process::ExitCode;

use memcheck::{public, secret};
use missive::IdentityKeyPair;
use missive::crypto::{KemCiphertext, KemKeyPair, KemKeyType, KemSecretKey, PrivateKey, xeddsa};
use missive::hazmat;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng as _, SeedableRng};

type Rng = ChaCha20Rng;

/// A named case: marks its secrets, runs the operation, declassifies and checks.
type Case = (&'static str, fn(&mut Rng));

/// The operations under test, in the order they run.
const CASES: &[Case] = &[
    ("mac_verify", mac_verify),
    ("xeddsa_sign", xeddsa_sign),
    ("x25519_agreement", x25519_agreement),
    ("root_kdf", root_kdf),
    ("chain_kdf", chain_kdf),
    ("message_keys", message_keys),
    ("spqr_chain_step", spqr_chain_step),
    ("aes_cbc_decrypt", aes_cbc_decrypt),
    ("kyber1024_decapsulate", kyber1024_decapsulate),
    ("mlkem1024_decapsulate", mlkem1024_decapsulate),
    ("sender_key_decrypt", sender_key_decrypt),
];

/// Cases that must fail under valgrind: if they pass, marking secrets does nothing and
/// every other pass is vacuous.
const CANARIES: &[Case] = &[
    ("canary_branch", canary_branch),
    ("canary_index", canary_index),
];

fn bytes<const N: usize>(rng: &mut Rng) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill_bytes(&mut b);
    b
}

/// The 8-byte MAC check of a `SignalMessage`: right MAC, wrong first byte, wrong last
/// byte. The key is secret; the message and its MAC are on the wire.
fn mac_verify(rng: &mut Rng) {
    let sender = *IdentityKeyPair::generate(rng).identity_key();
    let receiver = *IdentityKeyPair::generate(rng).identity_key();
    let mac_key: [u8; 32] = bytes(rng);
    let mut body = vec![0x44u8];
    body.extend_from_slice(&bytes::<100>(rng));
    let mac = hazmat::signal_message_mac(&mac_key, &sender, &receiver, &body);
    secret(&mac_key);
    for (flip_at, expected) in [(None, true), (Some(0), false), (Some(7), false)] {
        let mut wire = body.clone();
        wire.extend_from_slice(&mac);
        if let Some(i) = flip_at {
            wire[body.len() + i] ^= 1;
        }
        let ok = hazmat::verify_signal_message_mac(&wire, &sender, &receiver, &mac_key);
        public(&ok);
        assert_eq!(ok, expected);
    }
}

/// XEdDSA signing: the private key and the nonce input Z are secret.
fn xeddsa_sign(rng: &mut Rng) {
    for key_bytes in [bytes(rng), [0u8; 32], [0xff; 32]] {
        let key = PrivateKey::from_bytes(&key_bytes);
        let public_key = key.public_key();
        let message: [u8; 64] = bytes(rng);
        let z: [u8; 64] = bytes(rng);
        secret(&key_bytes);
        secret(&z);
        let key = PrivateKey::from_bytes(&key_bytes);
        let signature = xeddsa::sign_with_z(&key, &message, &z);
        public(&signature);
        assert!(public_key.verify_signature(&message, &signature));
    }
}

/// X25519 with a secret private key and a public peer key. (`diffie_hellman` then checks
/// the output is not zero: that depends on the peer key only, but memcheck cannot know,
/// so the raw function is checked.)
fn x25519_agreement(rng: &mut Rng) {
    for key_bytes in [bytes(rng), [0u8; 32], [0xff; 32]] {
        let theirs = PrivateKey::generate(rng).public_key();
        let expected = PrivateKey::from_bytes(&key_bytes)
            .diffie_hellman(&theirs)
            .unwrap();
        secret(&key_bytes);
        let ours = PrivateKey::from_bytes(&key_bytes);
        let shared = hazmat::x25519(&ours, &theirs);
        public(&*shared);
        assert_eq!(*shared, *expected.as_bytes());
    }
}

/// The Double Ratchet's root-key step: root key and DH output secret.
fn root_kdf(rng: &mut Rng) {
    let root: [u8; 32] = bytes(rng);
    let dh: [u8; 32] = bytes(rng);
    let expected = hazmat::root_kdf(&root, &dh);
    secret(&root);
    secret(&dh);
    let (new_root, chain) = hazmat::root_kdf(&root, &dh);
    public(&*new_root);
    public(&*chain);
    assert_eq!((*new_root, *chain), (*expected.0, *expected.1));
}

/// The chain-key step: message seed and next chain key from a secret chain key.
fn chain_kdf(rng: &mut Rng) {
    let ck: [u8; 32] = bytes(rng);
    let expected = hazmat::chain_kdf(&ck);
    secret(&ck);
    let (seed, next) = hazmat::chain_kdf(&ck);
    public(&*seed);
    public(&*next);
    assert_eq!((*seed, *next), (*expected.0, *expected.1));
}

/// Message keys from a secret seed, with (v4) and without (v3) a secret SPQR key.
fn message_keys(rng: &mut Rng) {
    let seed: [u8; 32] = bytes(rng);
    let spqr: [u8; 32] = bytes(rng);
    for salt in [Some(&spqr), None] {
        let expected = hazmat::message_keys(&seed, salt);
        secret(&seed);
        secret(&spqr);
        let (cipher, mac, iv) = hazmat::message_keys(&seed, salt);
        public(&*cipher);
        public(&*mac);
        public(&*iv);
        public(&seed);
        public(&spqr);
        assert_eq!(
            (*cipher, *mac, *iv),
            (*expected.0, *expected.1, *expected.2)
        );
    }
}

/// One step of SPQR's chain: the chain key is secret, the index public.
fn spqr_chain_step(rng: &mut Rng) {
    let ck: [u8; 32] = bytes(rng);
    let expected = hazmat::spqr_chain_step(&ck, 7);
    secret(&ck);
    let (next, message_key) = hazmat::spqr_chain_step(&ck, 7);
    public(&*next);
    public(&*message_key);
    assert_eq!((*next, *message_key), (*expected.0, *expected.1));
}

/// AES-256-CBC decryption and the PKCS#7 check, for valid padding of every length and
/// for invalid padding: key, IV and plaintext are secret, the ciphertext is not. The
/// verdict and the padding length are declassified where `aes_cbc_decrypt` reveals them.
fn aes_cbc_decrypt(rng: &mut Rng) {
    let key: [u8; 32] = bytes(rng);
    let iv: [u8; 16] = bytes(rng);
    let mut cases = Vec::new();
    for len in [0, 1, 15, 16, 17, 100] {
        let mut plaintext = vec![0u8; len];
        rng.fill_bytes(&mut plaintext);
        cases.push((
            hazmat::aes_cbc_encrypt(&key, &iv, &plaintext),
            Some(plaintext),
        ));
    }
    for bad_last_block in [
        [0u8; 16],
        [17; 16],
        [3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 3],
    ] {
        // The whole ciphertext of a chosen (unpadded) plaintext: encrypt one block more
        // than needed and keep the first block's ciphertext as the IV-chained stream.
        let mut plaintext = bytes::<32>(rng).to_vec();
        plaintext.extend_from_slice(&bad_last_block);
        let mut ct = hazmat::aes_cbc_encrypt(&key, &iv, &plaintext);
        ct.truncate(plaintext.len());
        cases.push((ct, None));
    }
    secret(&key);
    secret(&iv);
    for (ciphertext, expected) in cases {
        let mut buf = ciphertext.clone();
        assert!(hazmat::aes_cbc_decrypt_blocks(&key, &iv, &mut buf));
        let last: &[u8; 16] = buf.last_chunk().unwrap();
        let (valid, pad) = hazmat::pkcs7_padding_len(last);
        let valid = valid.unwrap_u8();
        public(&valid);
        public(&pad);
        public(buf.as_slice());
        match expected {
            Some(plaintext) => {
                assert_eq!(valid, 1);
                assert_eq!(&buf[..buf.len() - usize::from(pad)], plaintext.as_slice());
            }
            None => assert_eq!(valid, 0),
        }
    }
}

/// KEM decapsulation of a valid and of an invalid ciphertext (implicit rejection): the
/// ciphertext is public; of the secret key, the CPA secret vector and the rejection
/// value z are secret, the embedded public key and its hash are not.
fn decapsulate(key_type: KemKeyType, rng: &mut Rng) {
    // Secret key: type ‖ s (1536) ‖ public key (1568) ‖ H(public key) (32) ‖ z (32).
    const S: std::ops::Range<usize> = 1..1 + 1536;
    const Z: std::ops::Range<usize> = 1 + 3136..1 + 3168;
    let pair = KemKeyPair::generate(key_type, rng);
    let (ct, shared) = pair.public_key().encapsulate(rng);
    let mut invalid = ct.serialize();
    invalid[1 + 100] ^= 0x10;
    let invalid = KemCiphertext::deserialize(&invalid).unwrap();
    let serialized = pair.secret_key().serialize();
    assert_eq!(serialized.len(), Z.end);
    secret(&serialized[S]);
    secret(&serialized[Z]);
    let sk = KemSecretKey::deserialize(&*serialized).unwrap();
    for (ct, valid) in [(&ct, true), (&invalid, false)] {
        let ss = sk.decapsulate(ct).unwrap();
        let ss = *ss.as_bytes();
        public(&ss);
        assert_eq!(ss == *shared.as_bytes(), valid);
    }
}

fn kyber1024_decapsulate(rng: &mut Rng) {
    decapsulate(KemKeyType::Kyber1024, rng);
}

fn mlkem1024_decapsulate(rng: &mut Rng) {
    decapsulate(KemKeyType::MlKem1024, rng);
}

/// Sender-key decryption: the chain step, the message keys, AES-CBC and the padding check.
fn sender_key_decrypt(rng: &mut Rng) {
    let ck: [u8; 32] = bytes(rng);
    let (iv, key, next) = hazmat::sender_key_step(&ck);
    let ciphertext = hazmat::aes_cbc_encrypt(&key, &iv, b"to the group");
    let expected_next = *next;
    secret(&ck);
    let (iv, key, next) = hazmat::sender_key_step(&ck);
    let mut buf = ciphertext;
    assert!(hazmat::aes_cbc_decrypt_blocks(&key, &iv, &mut buf));
    let (valid, pad) = hazmat::pkcs7_padding_len(buf.last_chunk().unwrap());
    let valid = valid.unwrap_u8();
    public(&valid);
    public(&pad);
    public(buf.as_slice());
    public(&*next);
    assert_eq!(valid, 1);
    assert_eq!(&buf[..buf.len() - usize::from(pad)], b"to the group");
    assert_eq!(*next, expected_next);
}

/// Branches on a secret: memcheck must report it.
fn canary_branch(rng: &mut Rng) {
    let s: [u8; 32] = bytes(rng);
    secret(&s);
    if black_box(s)[0] & 1 == 1 {
        black_box(1);
    } else {
        black_box(2);
    }
}

/// Looks up a table at a secret index: memcheck must report it.
fn canary_index(rng: &mut Rng) {
    static TABLE: [u8; 256] = [7; 256];
    let s: [u8; 32] = bytes(rng);
    secret(&s);
    let i = usize::from(black_box(s)[0]);
    black_box(black_box(&TABLE)[i]);
}

fn main() -> ExitCode {
    let mut canary = false;
    let mut names = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--canary" => canary = true,
            // libtest's flags, passed by cargo: nothing to do.
            a if a.starts_with('-') => {}
            name => names.push(name.to_owned()),
        }
    }
    let on_valgrind = memcheck::running_on_valgrind();
    if !on_valgrind && std::env::var_os("MISSIVE_CT_REQUIRE_VALGRIND").is_some() {
        eprintln!("ct_valgrind: MISSIVE_CT_REQUIRE_VALGRIND is set but this is not valgrind");
        return ExitCode::FAILURE;
    }
    let cases = if canary { CANARIES } else { CASES };
    let selected: Vec<_> = cases
        .iter()
        .filter(|(name, _)| names.is_empty() || names.iter().any(|n| n == name))
        .collect();
    println!(
        "running {} constant-time cases {}",
        selected.len(),
        if on_valgrind {
            "under valgrind (secrets marked undefined)"
        } else {
            "natively (results only: run under valgrind to check for leaks)"
        }
    );
    let mut rng = Rng::seed_from_u64(0x00c7_5eed);
    let (mut passed, mut failed) = (0, 0);
    for (name, case) in selected {
        let before = memcheck::error_count();
        case(&mut rng);
        let errors = memcheck::error_count() - before;
        if canary && on_valgrind && errors == 0 {
            println!("case {name} ... FAILED: memcheck saw no leak: secret marking is broken");
            failed += 1;
        } else if !canary && errors > 0 {
            println!("case {name} ... FAILED: {errors} secret-dependent branch(es)/index(es)");
            failed += 1;
        } else {
            println!("case {name} ... ok ({errors} reports)");
            passed += 1;
        }
    }
    println!("ct_valgrind: {passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

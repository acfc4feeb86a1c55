//! Timing-leak tests with dudect (Reparaz, Balasch, Verbauwhede, "Dude, is my code
//! constant time?", 2017): each test times one operation on two classes of secret
//! inputs, interleaved at random, and Welch's t-test says whether the two timing
//! distributions differ. |t| above [`THRESHOLD`] is a leak.
//!
//! ```sh
//! cargo bench --features hazmat --bench constant_time                   # all tests
//! cargo bench --features hazmat --bench constant_time -- --filter mac   # names containing "mac"
//! cargo bench --features hazmat --bench constant_time -- --exact root_kdf --exact chain_kdf
//! ```
//! `.ci/run` runs them and fails on any |t| above the threshold (in three runs: see
//! `docs/CONSTANT-TIME.md`, which has the results, and why a pass is evidence, not
//! proof). The valgrind tests (`tests/ct_valgrind`) check the same operations for
//! secret-dependent branches and memory indices.
//!
//! Every test first draws one fresh input per sample, of a random class, into a vector
//! whose entries are laid out alike whatever their class (a fixed key is copied into each
//! of its entries rather than shared), so that caching cannot tell the classes apart;
//! then it times the operation on each input once. (Cycling through a smaller pool made
//! each entry's own quirks, such as where its bytes fall across cache lines and pages,
//! count many times over, and pushed |t| of the KEM tests past 4.5 in either direction.)
//! Adding an operation: write `fn name(runner: &mut CtRunner, rng: &mut BenchRng)` below
//! with [`inputs`] and [`run`], and list it in [`TESTS`].

use std::hint::black_box;

use dudect_bencher::ctbench::{BenchMetadata, BenchName, BenchOpts, run_benches_console};
use dudect_bencher::{BenchRng, Class, CtRunner};
use missive::IdentityKeyPair;
use missive::crypto::{KemCiphertext, KemKeyPair, KemKeyType, PrivateKey, xeddsa};
use missive::hazmat;
use rand_core::Rng;

/// The usual dudect/TVLA threshold: |t| above it means the classes' timings differ.
pub const THRESHOLD: f64 = 4.5;

type Test = fn(&mut CtRunner, &mut BenchRng);

/// The tests, with their sample counts chosen so each takes a few seconds.
const TESTS: &[(&str, Test)] = &[
    ("mac_verify_wrong_first_byte", mac_verify_wrong_first_byte),
    ("mac_verify_wrong_last_byte", mac_verify_wrong_last_byte),
    ("xeddsa_sign_key_weight", xeddsa_sign_key_weight),
    ("xeddsa_sign_key_sign_bit", xeddsa_sign_key_sign_bit),
    ("x25519_agreement_key_weight", x25519_agreement_key_weight),
    ("root_kdf", root_kdf),
    ("chain_kdf", chain_kdf),
    ("message_keys", message_keys),
    ("spqr_chain_step", spqr_chain_step),
    ("aes_cbc_decrypt_padding", aes_cbc_decrypt_padding),
    ("kyber1024_decapsulate", kyber1024_decapsulate),
    ("mlkem1024_decapsulate", mlkem1024_decapsulate),
    ("sender_key_decrypt", sender_key_decrypt),
];

/// A random class.
fn class(rng: &mut BenchRng) -> Class {
    if rng.next_u32() & 1 == 0 {
        Class::Left
    } else {
        Class::Right
    }
}

fn bytes<const N: usize>(rng: &mut BenchRng) -> [u8; N] {
    let mut b = [0u8; N];
    rng.fill_bytes(&mut b);
    b
}

/// `samples` inputs of random classes; `make` builds one input of a class.
fn inputs<I>(
    rng: &mut BenchRng,
    samples: usize,
    mut make: impl FnMut(Class, &mut BenchRng) -> I,
) -> Vec<(Class, I)> {
    (0..samples)
        .map(|_| {
            let c = class(rng);
            (c, make(c, rng))
        })
        .collect()
}

/// Times `op` once on each input.
fn run<I, R>(runner: &mut CtRunner, inputs: &[(Class, I)], op: impl Fn(&I) -> R) {
    for (c, input) in inputs {
        runner.run_one(*c, || op(black_box(input)));
    }
}

fn is_left(c: Class) -> bool {
    matches!(c, Class::Left)
}

/// MAC check of a 100-byte `SignalMessage` body: right MAC (left) against a MAC whose
/// byte `at` is wrong (right). An early-exit comparison is fast on the right.
fn mac_verify(runner: &mut CtRunner, rng: &mut BenchRng, at: usize) {
    let sender = *IdentityKeyPair::generate(rng).identity_key();
    let receiver = *IdentityKeyPair::generate(rng).identity_key();
    let mac_key: [u8; 32] = bytes(rng);
    let inputs = inputs(rng, 400_000, |c, rng| {
        let mut wire = vec![0x44];
        wire.extend_from_slice(&bytes::<100>(rng));
        let mac = hazmat::signal_message_mac(&mac_key, &sender, &receiver, &wire);
        wire.extend_from_slice(&mac);
        if !is_left(c) {
            let i = wire.len() - 8 + at;
            wire[i] ^= 1 + (rng.next_u32() % 255) as u8;
        }
        wire
    });
    run(runner, &inputs, |wire| {
        hazmat::verify_signal_message_mac(wire, &sender, &receiver, black_box(&mac_key))
    });
}

fn mac_verify_wrong_first_byte(runner: &mut CtRunner, rng: &mut BenchRng) {
    mac_verify(runner, rng, 0);
}

fn mac_verify_wrong_last_byte(runner: &mut CtRunner, rng: &mut BenchRng) {
    mac_verify(runner, rng, 7);
}

/// XEdDSA signing over a random 64-byte message with random Z, by keys of two classes.
fn xeddsa_sign(
    runner: &mut CtRunner,
    rng: &mut BenchRng,
    mut key: impl FnMut(Class, &mut BenchRng) -> PrivateKey,
) {
    let inputs = inputs(rng, 60_000, |c, rng| {
        (key(c, rng), bytes::<64>(rng), bytes::<64>(rng))
    });
    run(runner, &inputs, |(key, message, z)| {
        xeddsa::sign_with_z(key, message, z)
    });
}

/// The all-zero key (after clamping: only bit 254 set; its scalar is 2^254 mod q)
/// against random keys.
fn xeddsa_sign_key_weight(runner: &mut CtRunner, rng: &mut BenchRng) {
    xeddsa_sign(runner, rng, |c, rng| {
        PrivateKey::from_bytes(&if is_left(c) { [0; 32] } else { bytes(rng) })
    });
}

/// Random keys whose Edwards point A = kB is "positive" (sign bit 0) against those
/// whose A is "negative": the bit libsignal's variant writes into the signature.
fn xeddsa_sign_key_sign_bit(runner: &mut CtRunner, rng: &mut BenchRng) {
    xeddsa_sign(runner, rng, |c, rng| {
        loop {
            let key = PrivateKey::from_bytes(&bytes(rng));
            let negative = xeddsa::sign_with_z(&key, b"", &[0; 64])[63] & 0x80 != 0;
            if negative != is_left(c) {
                return key;
            }
        }
    });
}

/// X25519 with our private key (the DH ratchet step before [`root_kdf`]): the all-zero
/// key against random keys, each with a fresh peer key.
fn x25519_agreement_key_weight(runner: &mut CtRunner, rng: &mut BenchRng) {
    let inputs = inputs(rng, 60_000, |c, rng| {
        let ours = PrivateKey::from_bytes(&if is_left(c) { [0; 32] } else { bytes(rng) });
        (ours, PrivateKey::generate(rng).public_key())
    });
    run(runner, &inputs, |(ours, theirs)| {
        ours.diffie_hellman(theirs)
    });
}

/// Sparse (left) against random (right) 32-byte secrets, `n` of them per input: each
/// byte of a sparse secret is 0 or 1 at random, so half its bytes are zero, its high bits
/// are clear and its weight is an eighth; and every input is still a fresh one.
///
/// Not the all-zero secret, used before: on the AMD EPYC (Zen 4) host, timing the same
/// input over and over against random ones gave |t| up to 37 with either sign for the
/// HKDF steps, while fresh sparse secrets stay within the noise (`docs/CONSTANT-TIME.md`,
/// finding 5). A branch or index on a secret's value still tells sparse from random.
fn sparse_or_random<const N: usize>(c: Class, rng: &mut BenchRng) -> [[u8; 32]; N] {
    let mut out = [[0u8; 32]; N];
    out.iter_mut().for_each(|k| rng.fill_bytes(k));
    if is_left(c) {
        out.iter_mut().flatten().for_each(|b| *b &= 1);
    }
    out
}

fn root_kdf(runner: &mut CtRunner, rng: &mut BenchRng) {
    let inputs = inputs(rng, 300_000, sparse_or_random::<2>);
    run(runner, &inputs, |[root, dh]| hazmat::root_kdf(root, dh));
}

fn chain_kdf(runner: &mut CtRunner, rng: &mut BenchRng) {
    let inputs = inputs(rng, 300_000, sparse_or_random::<1>);
    run(runner, &inputs, |[ck]| hazmat::chain_kdf(ck));
}

fn message_keys(runner: &mut CtRunner, rng: &mut BenchRng) {
    let inputs = inputs(rng, 300_000, sparse_or_random::<2>);
    run(runner, &inputs, |[seed, spqr]| {
        hazmat::message_keys(seed, Some(spqr))
    });
}

fn spqr_chain_step(runner: &mut CtRunner, rng: &mut BenchRng) {
    let inputs = inputs(rng, 300_000, sparse_or_random::<1>);
    run(runner, &inputs, |[ck]| hazmat::spqr_chain_step(ck, 7));
}

/// AES-256-CBC decryption of 112 bytes (a 100-byte message) and its padding check, under
/// one key: valid padding of a random length (left) against invalid padding (right): a
/// zero or too large final byte, or one wrong padding byte at a random position.
///
/// Timed: the blocks and the check, up to the verdict. `aes_cbc_decrypt` then returns
/// `None` or the plaintext, which no code can do in the same time: that verdict is
/// revealed by design, and only ever on a ciphertext whose MAC verified.
fn aes_cbc_decrypt_padding(runner: &mut CtRunner, rng: &mut BenchRng) {
    let key: [u8; 32] = bytes(rng);
    let iv: [u8; 16] = bytes(rng);
    let inputs = inputs(rng, 400_000, |c, rng| {
        let mut plaintext = [0u8; 112];
        rng.fill_bytes(&mut plaintext);
        let kind = rng.next_u32() % 3;
        let n = if !is_left(c) && kind == 2 {
            2 + (rng.next_u32() % 15) as usize
        } else {
            1 + (rng.next_u32() % 16) as usize
        };
        plaintext[112 - n..].fill(n as u8);
        if !is_left(c) {
            match kind {
                0 => plaintext[111] = 0,
                1 => plaintext[111] = 17 + (rng.next_u32() % 239) as u8,
                // A padding byte before the last one.
                _ => plaintext[112 - n + rng.next_u32() as usize % (n - 1)] ^= 0x20,
            }
        }
        // Encrypt the chosen 112 bytes as they are: drop the extra padding block.
        let ct = hazmat::aes_cbc_encrypt(&key, &iv, &plaintext);
        let ct: [u8; 112] = ct[..112].try_into().expect("112 bytes");
        assert_eq!(
            hazmat::aes_cbc_decrypt(&key, &iv, &ct).is_some(),
            is_left(c)
        );
        ct
    });
    run(runner, &inputs, |ct| {
        let mut buf = *ct;
        hazmat::aes_cbc_decrypt_blocks(black_box(&key), &iv, &mut buf);
        let last: &[u8; 16] = buf.last_chunk().expect("7 blocks");
        let (valid, pad) = hazmat::pkcs7_padding_len(last);
        (valid.unwrap_u8(), pad, buf)
    });
}

/// Decapsulation under one key pair: valid ciphertexts (left) against ciphertexts with
/// one random byte changed, which implicit rejection turns into a pseudorandom secret.
fn decapsulate(runner: &mut CtRunner, rng: &mut BenchRng, key_type: KemKeyType) {
    let pair = KemKeyPair::generate(key_type, rng);
    let inputs = inputs(rng, 60_000, |c, rng| {
        let (ct, _) = pair.public_key().encapsulate(rng);
        if is_left(c) {
            return ct;
        }
        let mut raw = ct.serialize();
        let i = 1 + rng.next_u32() as usize % (raw.len() - 1);
        raw[i] ^= 1 + (rng.next_u32() % 255) as u8;
        KemCiphertext::deserialize(&raw).expect("same type and length")
    });
    let sk = pair.secret_key();
    run(runner, &inputs, |ct| sk.decapsulate(ct));
}

fn kyber1024_decapsulate(runner: &mut CtRunner, rng: &mut BenchRng) {
    decapsulate(runner, rng, KemKeyType::Kyber1024);
}

fn mlkem1024_decapsulate(runner: &mut CtRunner, rng: &mut BenchRng) {
    decapsulate(runner, rng, KemKeyType::MlKem1024);
}

/// Sender-key decryption (chain step, message keys, AES-CBC, padding check): sparse
/// versus random chain keys.
fn sender_key_decrypt(runner: &mut CtRunner, rng: &mut BenchRng) {
    let inputs = inputs(rng, 300_000, |c, rng| {
        let [ck] = sparse_or_random::<1>(c, rng);
        (ck, bytes::<112>(rng))
    });
    run(runner, &inputs, |(ck, ct)| {
        let (iv, key, next) = hazmat::sender_key_step(ck);
        let mut buf = *ct;
        hazmat::aes_cbc_decrypt_blocks(&key, &iv, &mut buf);
        let last: &[u8; 16] = buf.last_chunk().expect("7 blocks");
        let (valid, pad) = hazmat::pkcs7_padding_len(last);
        (valid.unwrap_u8(), pad, buf, next)
    });
}

fn main() {
    let mut opts = BenchOpts::default();
    let mut exact = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        // `cargo bench` also passes --bench; libtest's flags mean nothing here.
        match arg.as_str() {
            "--filter" => opts.filter = args.next(),
            "--exact" => exact.extend(args.next()),
            _ => {}
        }
    }
    let benches = TESTS
        .iter()
        .filter(|(name, _)| exact.is_empty() || exact.iter().any(|e| e == name))
        .map(|&(name, benchfn)| BenchMetadata {
            name: BenchName(name),
            seed: None,
            benchfn,
        })
        .collect();
    println!("dudect: |t| > {THRESHOLD} means the two classes' timings differ");
    run_benches_console(opts, benches).expect("writing to stdout");
}

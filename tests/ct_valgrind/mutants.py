#!/usr/bin/env python3
"""Shows that every ct_valgrind case can fail: for each case, plants a secret-dependent
branch (or a realistic leak) in the code it covers, rebuilds, and expects valgrind to
report it. Restores every file afterwards. Not run by CI (one rebuild per mutant, about
a minute each on two shared cores); run it by hand from the repository root:

    python3 tests/ct_valgrind/mutants.py            # all mutants
    python3 tests/ct_valgrind/mutants.py mac        # those whose case name contains "mac"
"""
import os
import subprocess
import sys

LEAK = "core::hint::black_box(0u8);"

# (file, anchor line (exact substring), where, new text, case that must catch it)
MUTANTS = [
    ("src/wire/message.rs", "kdf::ct_eq(&expected, mac)", "before",
     f"if expected[0] & 1 == 1 {{ {LEAK} }}", "mac_verify"),
    ("src/crypto/kdf.rs", "a.ct_eq(b).into()", "replace",
     "a.iter().zip(b).all(|(x, y)| x == y)", "mac_verify"),
    ("src/crypto/xeddsa.rs", "let big_a = EdwardsPoint::mul_base(&a).compress();", "before",
     f"if a.as_bytes()[0] & 1 == 1 {{ {LEAK} }}", "xeddsa_sign"),
    ("src/crypto/x25519.rs", "fn agree(&self, their: &PublicKey) -> x25519_dalek::SharedSecret {",
     "replace", "fn agree(&self, their: &PublicKey) -> x25519_dalek::SharedSecret {"
     f" if self.0.as_bytes()[1] & 1 == 1 {{ {LEAK} }}", "x25519_agreement"),
    ("src/ratchet/keys.rs", "let okm = Zeroizing::new(hkdf::<64>(Some(&self.0), dh, &[ROOT_INFO]));",
     "before", f"if dh[0] & 1 == 1 {{ {LEAK} }}", "root_kdf"),
    ("src/ratchet/keys.rs", "MessageSeed(hmac(&self.key, &[&MESSAGE_SEED_INPUT]))", "before",
     f"if self.key[0] & 1 == 1 {{ {LEAK} }}", "chain_kdf"),
    ("src/ratchet/keys.rs", "let okm = Zeroizing::new(hkdf::<80>(", "before",
     f"if seed.0[0] & 1 == 1 {{ {LEAK} }}", "message_keys"),
    ("src/ratchet/spqr.rs", "    (take(&mut it), take(&mut it))", "before",
     f"if okm[0] & 1 == 1 {{ {LEAK} }}", "spqr_chain_step"),
    ("src/crypto/aes_cbc.rs", "decrypt_blocks(blocks);", "before",
     f"if key[0] & 1 == 1 {{ {LEAK} }}", "aes_cbc_decrypt"),
    # block-padding's own check: stops at the first wrong padding byte.
    ("src/crypto/aes_cbc.rs", "valid &= !in_padding | b.ct_eq(&n);", "replace",
     "if bool::from(in_padding) && *b != n { return (Choice::from(0), n); }",
     "aes_cbc_decrypt"),
    ("src/crypto/kem.rs", "let c = libcrux_ml_kem::mlkem1024::MlKem1024Ciphertext::from(&ct.raw);",
     "before", f"if self.raw[0] & 1 == 1 {{ {LEAK} }}", "kyber1024_decapsulate"),
    ("src/crypto/kem.rs", "let c = libcrux_ml_kem::mlkem1024::MlKem1024Ciphertext::from(&ct.raw);",
     "before", f"if self.raw[3167] & 1 == 1 {{ {LEAK} }}", "mlkem1024_decapsulate"),
    ("src/group/chain.rs", "let okm = Zeroizing::new(hkdf::<48>(None, &seed.0, &[GROUP_INFO]));",
     "before", f"if seed.0[0] & 1 == 1 {{ {LEAK} }}", "sender_key_decrypt"),
]

BUILD = ["cargo", "test", "--release", "--features", "hazmat", "--test", "ct_valgrind",
         "--no-run", "--message-format=short"]


def executable():
    out = subprocess.run(BUILD, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("build failed:\n" + out.stderr[-3000:])
    for line in out.stderr.splitlines():
        if "ct_valgrind" in line and "Executable" in line:
            return line.rsplit("(", 1)[1].rstrip(")")
    sys.exit("no executable in:\n" + out.stderr)


def mutate(path, anchor, where, text):
    src = open(path).read()
    assert src.count(anchor) == 1, f"{path}: anchor not unique: {anchor}"
    if where == "before":
        line_start = src.rfind("\n", 0, src.index(anchor)) + 1
        line = src[line_start:]
        ws = line[: len(line) - len(line.lstrip())]
        new = src[:line_start] + ws + text + "\n" + src[line_start:]
    else:
        new = src.replace(anchor, text)
    open(path, "w").write(new)
    return src


def main():
    wanted = sys.argv[1:]
    results = []
    for path, anchor, where, text, case in MUTANTS:
        if wanted and not any(w in case for w in wanted):
            continue
        original = mutate(path, anchor, where, text)
        try:
            exe = executable()
            run = subprocess.run(["valgrind", "-q", "--error-exitcode=1", exe, case],
                                 capture_output=True, text=True)
        finally:
            open(path, "w").write(original)
        caught = run.returncode != 0 and "FAILED" in run.stdout
        results.append(caught)
        print(f"{'caught ' if caught else 'MISSED '} {case:24} {path}: {where} {anchor[:40]!r}",
              flush=True)
    executable()  # leave the tree's binary built from the restored sources
    missed = results.count(False)
    print(f"mutants: {len(results) - missed} passed, {missed} failed")
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    main()

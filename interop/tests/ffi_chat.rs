//! The C example, `ffi/examples/chat.c`, against libsignal-client: a C program on
//! missive's C API (records in, one change set out, persisted in its own little
//! database) talks to two libsignal-client devices. A v4 session it starts and one the
//! peer starts, replies out of order, safety numbers computed on both sides, and a
//! sender-key group: distribution over the 1:1 sessions, messages both ways, a backlog
//! decrypted in one batch, and a rotation that leaves a member out.
//!
//! The test builds the release static library (`cargo build -p missive-ffi --release`,
//! which `.ci/ffi` has usually done already) and compiles the example with the C
//! compiler (`$CC`, default `cc`), as `ffi/missive-static.pc` says to link it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::thread;
use std::time::Duration;

use missive_interop::{Bundle, CiphertextMessage as Wire, Peer, PeerKind};

const ALICE: &str = "9d0652a3-dcc3-4d11-975f-74d61598733f"; // the C program
const BOB: &str = "796abedb-ca4e-4f18-8803-1fde5b921f9f";
const CAROL: &str = "e4d5c1a9-61b3-4f4c-9d59-2a0c0e6b8a11";
/// The group's distribution id, as chat.c has it.
const GROUP: &str = "4c0d2b7e-195f-4e8a-9b31-62d40fa75510";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("interop/ is inside the repository")
        .to_path_buf()
}

/// Builds the release static library and returns its path (from cargo's own report of
/// what it built, so any target directory works).
fn build_static_library() -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .current_dir(repo())
        .args([
            "build",
            "-p",
            "missive-ffi",
            "--release",
            "--locked",
            "--message-format=json-render-diagnostics",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "cargo build -p missive-ffi failed");
    let stdout = String::from_utf8(out.stdout).expect("cargo's output is UTF-8");
    for line in stdout.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] == "compiler-artifact" && v["target"]["name"] == "missive_ffi" {
            for f in v["filenames"].as_array().into_iter().flatten() {
                if let Some(f) = f.as_str().filter(|f| f.ends_with(".a")) {
                    return PathBuf::from(f);
                }
            }
        }
    }
    panic!("cargo did not report libmissive_ffi.a");
}

/// Compiles chat.c against the static library, with the link line of
/// ffi/missive-static.pc.
fn build_chat() -> PathBuf {
    let lib = build_static_library();
    let pc = std::fs::read_to_string(repo().join("ffi/missive-static.pc")).expect("read .pc");
    let private: Vec<&str> = pc
        .lines()
        .find_map(|l| l.strip_prefix("Libs.private:"))
        .expect("Libs.private in missive-static.pc")
        .split_whitespace()
        .collect();
    let exe = lib.with_file_name("chat-interop");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .current_dir(repo())
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-O1",
        ])
        .args(["-I", "ffi/include", "ffi/examples/chat.c"])
        .arg(&lib)
        .args(&private)
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {cc}: {e}"));
    assert!(status.success(), "compiling ffi/examples/chat.c failed");
    exe
}

/// The running C program.
struct Chat {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Chat {
    fn start(exe: &Path) -> Chat {
        let mut child = Command::new(exe)
            .args([ALICE, "1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the C program");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Chat {
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write to the C program");
        stdin.flush().expect("flush");
    }

    /// The next event, which must start with `what`; its fields.
    fn expect(&mut self, what: &str) -> Vec<String> {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("the C program said nothing (waiting for {what})"));
        let fields: Vec<String> = line.split(' ').map(str::to_owned).collect();
        assert_eq!(fields[0], what, "the C program said: {line}");
        fields
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

fn peer_token(name: &str) -> String {
    format!("{name}/1")
}

fn hex_or_dash(b: Option<&[u8]>) -> String {
    b.map_or_else(|| "-".into(), hex::encode)
}

/// The BUNDLE command for a bundle from libsignal-client.
fn bundle_line(name: &str, b: &Bundle) -> String {
    format!(
        "BUNDLE {} {} {} {} {} {} {} {} {} {} {} {}",
        peer_token(name),
        b.registration_id,
        b.device_id,
        b.prekey.as_ref().map_or(0, |(id, _)| *id),
        hex_or_dash(b.prekey.as_ref().map(|(_, k)| k.as_slice())),
        b.signed_prekey_id,
        hex::encode(&b.signed_prekey),
        hex::encode(&b.signed_prekey_signature),
        hex::encode(&b.identity_key),
        b.kyber_prekey_id.expect("a v4 bundle"),
        hex_or_dash(b.kyber_prekey.as_deref()),
        hex_or_dash(b.kyber_prekey_signature.as_deref()),
    )
}

/// The bundle the C program printed (fields after "BUNDLE").
fn bundle_from_chat(f: &[String]) -> Bundle {
    let n = |i: usize| f[i].parse::<u32>().expect("a number");
    let h = |i: usize| hex::decode(&f[i]).expect("hex");
    Bundle {
        registration_id: n(1),
        device_id: n(2),
        prekey: Some((n(3), h(4))),
        signed_prekey_id: n(5),
        signed_prekey: h(6),
        signed_prekey_signature: h(7),
        identity_key: h(8),
        kyber_prekey_id: Some(n(9)),
        kyber_prekey: Some(h(10)),
        kyber_prekey_signature: Some(h(11)),
    }
}

/// A 1:1 message the C program sent to `to`.
fn sent(f: &[String], to: &str) -> Wire {
    assert_eq!(f[1], peer_token(to));
    Wire {
        message_type: f[2].parse().expect("type"),
        body: hex::decode(&f[3]).expect("hex"),
    }
}

fn msg_line(kind: &str, from: &str, w: &Wire) -> String {
    format!(
        "{kind} {} {} {}",
        peer_token(from),
        w.message_type,
        hex::encode(&w.body)
    )
}

/// Checks a GOT event: from whom, what text, and the rest of the line.
fn got(f: &[String], from: &str, text: &[u8], tail: &str) {
    assert_eq!(f[1], peer_token(from));
    assert_eq!(
        hex::decode(&f[2]).expect("hex"),
        text,
        "the C program decrypted something else"
    );
    assert_eq!(f[3], tail);
}

fn uuid_bytes(s: &str) -> Vec<u8> {
    hex::decode(s.replace('-', "")).expect("a UUID")
}

#[test]
fn the_c_program_talks_to_libsignal_client() {
    let exe = build_chat();
    let mut peer = Peer::spawn(PeerKind::Client).expect("spawn libsignal-client");
    let bob_keys = peer.new_party("bob", BOB, 1).unwrap();
    peer.new_party("carol", CAROL, 1).unwrap();
    let mut chat = Chat::start(&exe);
    let me = chat.expect("IDENTITY");
    let alice_key = hex::decode(&me[1]).unwrap();

    // ---- 1:1, the C program starts: PQXDH from Bob's bundle ----------------------
    let bundle = peer.make_bundle("bob", true).unwrap();
    chat.send(&bundle_line(BOB, &bundle));
    assert_eq!(chat.expect("STARTED")[2], "new");
    let first: [&[u8]; 2] = [b"hello Bob, this is C", b"second, still a prekey message"];
    let mut prekeys = Vec::new();
    for text in first {
        chat.send(&format!("SAY {} {}", peer_token(BOB), hex::encode(text)));
        let w = sent(&chat.expect("SEND"), BOB);
        assert!(w.is_prekey());
        prekeys.push(w);
    }
    // libsignal-client decrypts them, the second first.
    assert_eq!(
        peer.decrypt("bob", ALICE, 1, &prekeys[1]).unwrap(),
        first[1]
    );
    assert_eq!(
        peer.decrypt("bob", ALICE, 1, &prekeys[0]).unwrap(),
        first[0]
    );
    // Bob's replies, delivered out of order; the C program decrypts each.
    let replies: Vec<(Vec<u8>, Wire)> = (0..3)
        .map(|i| {
            let text = format!("reply {i} from libsignal-client").into_bytes();
            let w = peer.encrypt("bob", ALICE, 1, &text).unwrap();
            assert!(!w.is_prekey());
            (text, w)
        })
        .collect();
    for i in [1, 0, 2] {
        chat.send(&msg_line("MSG", BOB, &replies[i].1));
        got(&chat.expect("GOT"), BOB, &replies[i].0, "unchanged");
    }
    // Now the C program's messages are ordinary ones, a few rounds each way.
    for round in 0..3 {
        let text = format!("round {round} from C").into_bytes();
        chat.send(&format!("SAY {} {}", peer_token(BOB), hex::encode(&text)));
        let w = sent(&chat.expect("SEND"), BOB);
        assert!(!w.is_prekey());
        assert_eq!(peer.decrypt("bob", ALICE, 1, &w).unwrap(), text);
        let answer = format!("round {round} from libsignal").into_bytes();
        let w = peer.encrypt("bob", ALICE, 1, &answer).unwrap();
        chat.send(&msg_line("MSG", BOB, &w));
        got(&chat.expect("GOT"), BOB, &answer, "unchanged");
    }

    // ---- 1:1, the peer starts: Carol processes the bundle the C program published ----
    chat.send("PUBLISH");
    let published = bundle_from_chat(&chat.expect("BUNDLE"));
    peer.process_bundle("carol", ALICE, 1, &published).unwrap();
    let hello = b"hi C, Carol here (PQXDH from your bundle)".to_vec();
    let w_first = peer.encrypt("carol", ALICE, 1, &hello).unwrap();
    assert!(w_first.is_prekey());
    chat.send(&msg_line("MSG", CAROL, &w_first));
    got(&chat.expect("GOT"), CAROL, &hello, "new");
    chat.send(&format!(
        "SAY {} {}",
        peer_token(CAROL),
        hex::encode(b"welcome, Carol")
    ));
    let w = sent(&chat.expect("SEND"), CAROL);
    assert_eq!(
        peer.decrypt("carol", ALICE, 1, &w).unwrap(),
        b"welcome, Carol"
    );
    // A replay of Carol's prekey message goes to the session it built and is refused
    // there (its one-time prekeys are gone from the C program's database); reported as
    // "could not be decrypted" (40), and nothing changes: the next message still reads.
    chat.send(&msg_line("MSG", CAROL, &w_first));
    let failed = chat.expect("FAILED");
    assert_eq!(
        (failed[1].as_str(), failed[2].as_str()),
        (peer_token(CAROL).as_str(), "40")
    );
    let more = b"still here".to_vec();
    let w = peer.encrypt("carol", ALICE, 1, &more).unwrap();
    chat.send(&msg_line("MSG", CAROL, &w));
    got(&chat.expect("GOT"), CAROL, &more, "unchanged");

    // ---- safety numbers: the same 60 digits on both sides, and each scans the other ----
    chat.send(&format!("SAFETY {}", peer_token(BOB)));
    let safety = chat.expect("SAFETY");
    let (digits, bob_code) = peer
        .fingerprint(
            5200,
            2,
            (&uuid_bytes(BOB), &bob_keys.identity_key),
            (&uuid_bytes(ALICE), &alice_key),
        )
        .unwrap();
    assert_eq!(safety[2], digits, "libsignal-client shows other digits");
    let c_code = hex::decode(&safety[3]).unwrap();
    assert!(peer.fingerprint_compare(&bob_code, &c_code).unwrap());
    chat.send(&format!(
        "VERIFY {} {}",
        peer_token(BOB),
        hex::encode(&bob_code)
    ));
    assert_eq!(chat.expect("VERIFIED")[2], "yes");
    chat.send(&format!(
        "VERIFY {} {}",
        peer_token(BOB),
        hex::encode(&c_code)
    ));
    assert_eq!(
        chat.expect("VERIFIED")[2],
        "no",
        "our own code must not verify"
    );

    // ---- the group: everyone hands its chain to the others over the 1:1 sessions ------
    for member in ["bob", "carol"] {
        let name = if member == "bob" { BOB } else { CAROL };
        chat.send(&format!("GROUP-SHARE {}", peer_token(name)));
        let w = sent(&chat.expect("SEND"), name);
        let skdm = peer.decrypt(member, ALICE, 1, &w).unwrap();
        peer.sk_process(member, ALICE, 1, &skdm).unwrap();
        // ...and the member's own chain to the C program.
        let theirs = peer.sk_distribution(member, GROUP).unwrap();
        let w = peer.encrypt(member, ALICE, 1, &theirs).unwrap();
        chat.send(&msg_line("DIST", name, &w));
        assert_eq!(chat.expect("GOT-DIST")[1], peer_token(name));
    }
    // The C program writes to the group; both members read it.
    let text = b"hello group, from C".to_vec();
    chat.send(&format!("GROUP-SAY {}", hex::encode(&text)));
    let g = hex::decode(&chat.expect("GROUP")[1]).unwrap();
    assert_eq!(peer.group_decrypt("bob", ALICE, 1, &g).unwrap(), text);
    assert_eq!(peer.group_decrypt("carol", ALICE, 1, &g).unwrap(), text);
    // A member writes; the C program reads.
    let from_bob = b"hello group, from Bob".to_vec();
    let g = peer.group_encrypt("bob", GROUP, &from_bob).unwrap();
    chat.send(&format!(
        "GROUP-MSG {} {}",
        peer_token(BOB),
        hex::encode(&g)
    ));
    got(&chat.expect("GOT"), BOB, &from_bob, "group");
    // A backlog from both members, interleaved, decrypted in one batch.
    let backlog: Vec<(&str, Vec<u8>)> = (0..6)
        .map(|i| {
            let (party, name) = if i % 3 == 1 {
                ("carol", CAROL)
            } else {
                ("bob", BOB)
            };
            (name, format!("backlog {i} from {party}").into_bytes())
        })
        .collect();
    let mut lines = vec![format!("GROUP-BACKLOG {}", backlog.len())];
    for (name, text) in &backlog {
        let party = if *name == BOB { "bob" } else { "carol" };
        let g = peer.group_encrypt(party, GROUP, text).unwrap();
        lines.push(format!("{} {}", peer_token(name), hex::encode(&g)));
    }
    chat.send(&lines.join("\n"));
    for (name, text) in &backlog {
        got(&chat.expect("GOT"), name, text, "group");
    }
    // Carol leaves: the C program rotates and gives the new chain to Bob only.
    let in_flight = b"sent just before Carol left".to_vec();
    chat.send(&format!("GROUP-SAY {}", hex::encode(&in_flight)));
    let before = hex::decode(&chat.expect("GROUP")[1]).unwrap();
    chat.send("GROUP-ROTATE");
    chat.expect("ROTATED");
    chat.send(&format!("GROUP-SHARE {}", peer_token(BOB)));
    let w = sent(&chat.expect("SEND"), BOB);
    let skdm = peer.decrypt("bob", ALICE, 1, &w).unwrap();
    peer.sk_process("bob", ALICE, 1, &skdm).unwrap();
    let after = b"only Bob reads this".to_vec();
    chat.send(&format!("GROUP-SAY {}", hex::encode(&after)));
    let g = hex::decode(&chat.expect("GROUP")[1]).unwrap();
    assert_eq!(peer.group_decrypt("bob", ALICE, 1, &g).unwrap(), after);
    assert!(
        peer.group_decrypt("carol", ALICE, 1, &g).is_err(),
        "Carol must not read the new chain"
    );
    // Messages sent before the rotation still read, for both.
    assert_eq!(
        peer.group_decrypt("bob", ALICE, 1, &before).unwrap(),
        in_flight
    );
    assert_eq!(
        peer.group_decrypt("carol", ALICE, 1, &before).unwrap(),
        in_flight
    );

    chat.send("QUIT");
    chat.expect("BYE");
    let status = chat.child.wait().expect("wait for the C program");
    assert!(status.success(), "the C program exited with {status}");
}

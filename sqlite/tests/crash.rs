//! Crash safety: a child process runs a long conversation (1:1 and group, prekey
//! messages from session resets, DH steps, late messages) on two SQLite stores and is
//! killed with SIGKILL at random instants; after each kill the databases are reopened
//! and checked:
//!
//! * every record opens (the child verifies both databases before it does anything);
//! * no one-time prekey is consumed without its session: a consumed prekey's message was
//!   delivered (and redelivering it finds its session);
//! * every message whose decryption returned before the kill is refused if delivered
//!   again (`DuplicateMessage`);
//! * every message whose decryption had not started still decrypts, to its plaintext;
//!   one that was in flight at the kill either decrypts or is a duplicate (its commit
//!   happened or did not), never anything else.
//!
//! The parent plays the server: it keeps every ciphertext, decides what each life does
//! (a batch of commands written to the child's stdin), and reads `start`/`done` lines
//! from the child's stdout: a line the child wrote before it was killed is in the pipe.
//!
//! `CRASH_KILLS` (default 200) sets the number of kills, `CRASH_SEED` the schedule.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use missive::store::at_rest::StorageKey;
use missive::store::memory::BundleSpec;
use missive::*;
use missive_sqlite::SqliteStore;
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng, UnwrapErr};

const NOW: Timestamp = Timestamp::from_millis(1_750_000_000_000);
const KEY: [u8; 32] = [0x33; 32];

fn key() -> StorageKey {
    StorageKey::new(1, &KEY)
}
fn alice_at() -> ProtocolAddress {
    ProtocolAddress::new("alice", 1)
}
fn bob_at() -> ProtocolAddress {
    ProtocolAddress::new("bob", 1)
}
fn group() -> DistributionId {
    DistributionId::from_bytes([9; 16])
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(Path::new(&args[i + 1]));
        return;
    }
    // `cargo test` passes filters and flags; this binary has one test.
    if args.iter().any(|a| a == "--list") {
        println!("crash_safety: test");
        return;
    }
    parent();
    println!("crash: 1 passed, 0 failed");
}

// ---- the child: two devices on their databases, commands from stdin -----------------

fn child(dir: &Path) {
    let mut rng = UnwrapErr(getrandom::SysRng);
    let open = |name: &str, at| {
        let store = SqliteStore::open(dir.join(name), key()).unwrap();
        if let Err(e) = store.verify() {
            println!("verify-failed {name} {e}");
            std::process::exit(3);
        }
        Device::new(at, store)
    };
    let mut alice = open("alice.db", alice_at());
    let mut bob = open("bob.db", bob_at());
    let ids: Vec<String> = bob
        .store()
        .pre_key_ids()
        .unwrap()
        .iter()
        .map(|i| i.0.to_string())
        .collect();
    println!("ready {}", ids.join(","));
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let w: Vec<&str> = line.split(' ').collect();
        let (id, op) = (w[0], w[1]);
        println!("start {id}");
        let (me, other) = if w[2] == "a" {
            (&mut alice, bob_at())
        } else {
            (&mut bob, alice_at())
        };
        let out = match op {
            "send" => {
                let m = me.encrypt(&other, &unhex(w[3]), NOW, &mut rng).unwrap();
                let t = match m.message_type() {
                    CiphertextMessageType::PreKey => "p",
                    _ => "w",
                };
                format!("{t} {}", hex(m.serialize()))
            }
            "recv" => {
                let kind = if w[3] == "p" {
                    CiphertextMessageType::PreKey
                } else {
                    CiphertextMessageType::Whisper
                };
                outcome(
                    me.decrypt(&other, kind, &unhex(w[4]), &mut rng)
                        .map(|d| d.plaintext),
                )
            }
            "gsend" => hex(me
                .group_encrypt(group(), &unhex(w[3]), &mut rng)
                .unwrap()
                .serialized()),
            "grecv" => {
                let m = SenderKeyMessage::deserialize(&unhex(w[3])).unwrap();
                outcome(me.group_decrypt(&other, &m))
            }
            "publish" => {
                let spec = BundleSpec::new(w[3].parse().unwrap()).with_one_time_pre_key();
                let b = me
                    .store_mut()
                    .generate_bundle(&spec, 1, NOW, &mut rng)
                    .unwrap();
                hex(&b.serialize())
            }
            "bundle" => {
                // One operation: the new session becomes current, the old one archived.
                let b = PreKeyBundle::deserialize(&unhex(w[3])).unwrap();
                me.process_prekey_bundle(&other, &b, NOW, &mut rng).unwrap();
                String::new()
            }
            _ => unreachable!(),
        };
        println!("done {id} {out}");
    }
}

fn outcome(r: Result<Vec<u8>, Error>) -> String {
    match r {
        Ok(p) => format!("ok {}", hex(&p)),
        Err(Error::Protocol(ProtocolError::DuplicateMessage)) => "dup".into(),
        Err(e) => format!("err {}", e.to_string().replace(' ', "_")),
    }
}

// ---- the parent: the server and the judge --------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// Not delivered yet (or delivered to a life that never started its decryption).
    Pending,
    /// Its decryption returned the plaintext.
    Returned,
    /// Its decryption had started when the child was killed.
    InFlight,
}

struct Msg {
    from_alice: bool,
    group: bool,
    kind: char,
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
    /// The one-time prekey a prekey message uses.
    pre_key: Option<u32>,
    state: State,
    /// The life it was sent in.
    born: usize,
}

enum Cmd {
    Send {
        alice: bool,
        group: bool,
        plaintext: Vec<u8>,
    },
    Recv {
        msg: usize,
    },
    Publish {
        id: u32,
    },
    Bundle {
        hex: String,
    },
}

struct World {
    msgs: Vec<Msg>,
    published: Vec<(u32, String)>,
    processed: BTreeSet<u32>,
    next_bundle: u32,
    next_text: usize,
    redeliveries: usize,
    refused_as_duplicate: usize,
    in_flight_resolved: (usize, usize),
}

fn spawn(dir: &Path) -> (Child, BufReader<std::process::ChildStdout>, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .arg("--child")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut ready = String::new();
    out.read_line(&mut ready).unwrap();
    assert!(
        ready.starts_with("ready"),
        "the child did not open its databases: {ready:?}"
    );
    (child, out, ready)
}

fn setup(dir: &Path, rng: &mut ChaCha20Rng) {
    let mut alice = Device::new(
        alice_at(),
        SqliteStore::create(
            dir.join("alice.db"),
            key(),
            IdentityKeyPair::generate(rng),
            1,
        )
        .unwrap(),
    );
    let mut bob = Device::new(
        bob_at(),
        SqliteStore::create(dir.join("bob.db"), key(), IdentityKeyPair::generate(rng), 2).unwrap(),
    );
    let b = bob
        .store_mut()
        .generate_bundle(&BundleSpec::new(1).with_one_time_pre_key(), 1, NOW, rng)
        .unwrap();
    alice
        .process_prekey_bundle(&bob_at(), &b, NOW, rng)
        .unwrap();
    // Both distribute their group chains over the 1:1 session.
    distribute(&mut alice, &mut bob, rng);
    distribute(&mut bob, &mut alice, rng);
}

fn distribute(from: &mut Device<SqliteStore>, to: &mut Device<SqliteStore>, rng: &mut ChaCha20Rng) {
    let d = from.sender_key_distribution_message(group(), rng).unwrap();
    let m = from
        .encrypt(to.address(), d.serialized(), NOW, rng)
        .unwrap();
    let got = to
        .decrypt(from.address(), m.message_type(), m.serialize(), rng)
        .unwrap();
    let d = SenderKeyDistributionMessage::deserialize(&got.plaintext).unwrap();
    to.process_sender_key_distribution_message(&got.sender, &d)
        .unwrap();
}

/// The commands of one life.
fn plan(w: &mut World, life: usize, rng: &mut ChaCha20Rng, last: bool) -> Vec<Cmd> {
    let mut cmds = Vec::new();
    // What was in flight at the last kill is delivered first.
    for (i, m) in w.msgs.iter().enumerate() {
        if m.state == State::InFlight {
            cmds.push(Cmd::Recv { msg: i });
        }
    }
    // Messages held for more than three lives are delivered now: a message held across
    // more DH steps than a record keeps receiving chains is lost by design, not by a
    // crash.
    for (i, m) in w.msgs.iter().enumerate() {
        if m.state == State::Pending && (life - m.born > 3 || last) {
            cmds.push(Cmd::Recv { msg: i });
        }
    }
    if last {
        // Every message that returned is refused again.
        for (i, m) in w.msgs.iter().enumerate() {
            if m.state == State::Returned {
                cmds.push(Cmd::Recv { msg: i });
            }
        }
        return cmds;
    }
    for _ in 0..24 {
        let pending: Vec<usize> = (0..w.msgs.len())
            .filter(|&i| w.msgs[i].state == State::Pending)
            .filter(|i| {
                !cmds
                    .iter()
                    .any(|c| matches!(c, Cmd::Recv { msg } if msg == i))
            })
            .collect();
        let roll = rng.next_u32() % 100;
        let text = |w: &mut World| {
            w.next_text += 1;
            format!("crash-test message {:06} with some padding", w.next_text).into_bytes()
        };
        if roll < 28 {
            cmds.push(Cmd::Send {
                alice: true,
                group: false,
                plaintext: text(w),
            });
        } else if roll < 42 {
            cmds.push(Cmd::Send {
                alice: false,
                group: false,
                plaintext: text(w),
            });
        } else if roll < 50 {
            let alice = rng.next_u32().is_multiple_of(2);
            cmds.push(Cmd::Send {
                alice,
                group: true,
                plaintext: text(w),
            });
        } else if roll < 85 && !pending.is_empty() {
            // Mostly the oldest first; sometimes any (late messages).
            let pick = if rng.next_u32().is_multiple_of(3) {
                pending[rng.next_u32() as usize % pending.len()]
            } else {
                pending[0]
            };
            cmds.push(Cmd::Recv { msg: pick });
        } else if roll < 91 {
            // A delivered message again: must be refused.
            let done: Vec<usize> = (0..w.msgs.len())
                .filter(|&i| w.msgs[i].state == State::Returned)
                .collect();
            if !done.is_empty() {
                cmds.push(Cmd::Recv {
                    msg: done[rng.next_u32() as usize % done.len()],
                });
            }
        } else if roll < 95 {
            w.next_bundle += 1;
            cmds.push(Cmd::Publish { id: w.next_bundle });
        } else if let Some((id, hex)) = w.published.iter().find(|(id, _)| !w.processed.contains(id))
        {
            w.processed.insert(*id);
            cmds.push(Cmd::Bundle { hex: hex.clone() });
        }
    }
    cmds
}

fn line(i: usize, c: &Cmd, w: &World) -> String {
    match c {
        Cmd::Send {
            alice,
            group,
            plaintext,
        } => format!(
            "{i} {} {} {}",
            if *group { "gsend" } else { "send" },
            if *alice { "a" } else { "b" },
            hex(plaintext)
        ),
        Cmd::Recv { msg } => {
            let m = &w.msgs[*msg];
            let to = if m.from_alice { "b" } else { "a" };
            if m.group {
                format!("{i} grecv {to} {}", hex(&m.bytes))
            } else {
                format!("{i} recv {to} {} {}", m.kind, hex(&m.bytes))
            }
        }
        Cmd::Publish { id } => format!("{i} publish b {id}"),
        Cmd::Bundle { hex } => format!("{i} bundle a {hex}"),
    }
}

/// Applies one command's reported result to the world, checking what it must be.
fn judge(w: &mut World, life: usize, c: &Cmd, started: bool, done: Option<&str>) {
    match (c, done) {
        (
            Cmd::Send {
                alice,
                group,
                plaintext,
            },
            Some(out),
        ) => {
            let (kind, bytes) = if *group {
                ('g', unhex(out))
            } else {
                let (k, b) = out.split_once(' ').unwrap();
                (k.chars().next().unwrap(), unhex(b))
            };
            let pre_key = (kind == 'p')
                .then(|| {
                    PreKeySignalMessage::deserialize(&bytes)
                        .unwrap()
                        .pre_key_id()
                })
                .flatten();
            w.msgs.push(Msg {
                from_alice: *alice,
                group: *group,
                kind,
                bytes,
                plaintext: plaintext.clone(),
                pre_key,
                state: State::Pending,
                born: life,
            });
        }
        (Cmd::Recv { msg }, Some(out)) => {
            let m = &mut w.msgs[*msg];
            match m.state {
                State::Pending => {
                    assert_eq!(
                        out,
                        format!("ok {}", hex(&m.plaintext)),
                        "life {life}: message {msg} had never been delivered and must decrypt"
                    );
                    m.state = State::Returned;
                }
                State::Returned => {
                    // Refused: as a duplicate while its chain is kept, as undecryptable
                    // once the chain is gone (nothing is left to tell a duplicate by).
                    assert!(
                        out == "dup" || out.starts_with("err"),
                        "life {life}: message {msg} was decrypted before and must be refused: {out}"
                    );
                    w.redeliveries += 1;
                    if out == "dup" {
                        w.refused_as_duplicate += 1;
                    }
                }
                State::InFlight => {
                    if out == "dup" {
                        w.in_flight_resolved.0 += 1;
                    } else {
                        assert_eq!(
                            out,
                            format!("ok {}", hex(&m.plaintext)),
                            "life {life}: message {msg} was in flight at the kill: it must \
                             decrypt or be a duplicate"
                        );
                        w.in_flight_resolved.1 += 1;
                    }
                    m.state = State::Returned;
                }
            }
        }
        (Cmd::Recv { msg }, None) if started => {
            let m = &mut w.msgs[*msg];
            if m.state == State::Pending {
                m.state = State::InFlight;
            }
        }
        (Cmd::Publish { id }, Some(out)) => w.published.push((*id, out.to_string())),
        (Cmd::Bundle { .. }, _) => {}
        _ => {}
    }
}

/// No one-time prekey is gone unless a prekey message using it was delivered.
fn check_prekeys(w: &World, ready: &str, life: usize) {
    let left: BTreeSet<u32> = ready
        .trim()
        .strip_prefix("ready")
        .unwrap()
        .trim()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let published = std::iter::once(1).chain(w.published.iter().map(|(id, _)| *id));
    for id in published {
        if left.contains(&id) || id == 1 {
            continue;
        }
        let delivered = w
            .msgs
            .iter()
            .any(|m| m.pre_key == Some(id) && m.state != State::Pending);
        assert!(
            delivered,
            "life {life}: one-time prekey {id} was consumed but no prekey message using it was delivered"
        );
    }
}

fn parent() {
    let kills: usize = std::env::var("CRASH_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().to_path_buf();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    setup(&dir, &mut rng);
    let mut w = World {
        msgs: Vec::new(),
        published: Vec::new(),
        processed: BTreeSet::new(),
        next_bundle: 1,
        next_text: 0,
        redeliveries: 0,
        refused_as_duplicate: 0,
        in_flight_resolved: (0, 0),
    };
    let started = Instant::now();
    // The kill instant is uniform over the time a batch takes.
    let mut batch_time = Duration::from_millis(60);
    let (mut mid_batch, mut mid_op) = (0, 0);
    let mut open_kills = 0;
    let mut slept = Duration::ZERO;
    let mut life = 0;
    let mut kill_count = 0;
    loop {
        let last = kill_count == kills;
        // Every 50 lives, one runs its whole batch unkilled: how long a batch takes sets
        // the window the kill instants are drawn from.
        let calibrate = life % 50 == 0 && !last;
        if life % 10 == 5 {
            // A kill while the child opens and verifies the databases (WAL recovery of
            // the previous kill included).
            let mut c = Command::new(std::env::current_exe().unwrap())
                .arg("--child")
                .arg(&dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_micros(rng.next_u64() % 20_000));
            c.kill().unwrap();
            c.wait().unwrap();
            open_kills += 1;
        }
        let (mut child, mut out, ready) = spawn(&dir);
        check_prekeys(&w, &ready, life);
        let cmds = plan(&mut w, life, &mut rng, last);
        let mut input = child.stdin.take().unwrap();
        let text: String = cmds
            .iter()
            .enumerate()
            .map(|(i, c)| line(i, c, &w) + "\n")
            .collect();
        let t0 = Instant::now();
        input.write_all(text.as_bytes()).unwrap();
        let killed = !(last || calibrate);
        if killed {
            let nanos = batch_time.as_nanos() as u64;
            let d = Duration::from_nanos(rng.next_u64() % nanos.max(1));
            slept += d;
            std::thread::sleep(d);
            child.kill().unwrap();
        }
        drop(input);
        let status = child.wait().unwrap();
        if calibrate {
            batch_time = t0.elapsed().mul_f64(1.1);
        }
        let mut starts = BTreeSet::new();
        let mut dones = std::collections::BTreeMap::new();
        let mut l = String::new();
        while {
            l.clear();
            out.read_line(&mut l).unwrap() > 0
        } {
            let l = l.trim_end();
            if let Some(i) = l.strip_prefix("start ") {
                starts.insert(i.parse::<usize>().unwrap());
            } else if let Some(rest) = l.strip_prefix("done ") {
                let (i, o) = rest.split_once(' ').unwrap_or((rest, ""));
                dones.insert(i.parse::<usize>().unwrap(), o.to_string());
            }
        }
        {
            use std::os::unix::process::ExitStatusExt;
            // The child ends by our kill or, its input closed, by itself: never by a
            // panic or an error of its own.
            assert!(
                status.success() || (killed && status.signal() == Some(9)),
                "life {life}: the child failed by itself: {status:?}"
            );
        }
        if killed {
            kill_count += 1;
            if dones.len() < cmds.len() {
                mid_batch += 1;
            }
            if starts.len() > dones.len() {
                mid_op += 1;
            }
        }
        for (i, c) in cmds.iter().enumerate() {
            judge(
                &mut w,
                life,
                c,
                starts.contains(&i),
                dones.get(&i).map(String::as_str),
            );
        }
        life += 1;
        if last {
            break;
        }
    }
    let returned = w.msgs.iter().filter(|m| m.state == State::Returned).count();
    assert_eq!(
        returned,
        w.msgs.len(),
        "every message was delivered in the end"
    );
    assert!(w.msgs.iter().any(|m| m.group) && w.msgs.iter().any(|m| m.kind == 'p'));
    assert!(w.redeliveries > 0 && mid_op > 0);
    println!(
        "crash: {kills} SIGKILLs survived ({mid_batch} during a batch, {mid_op} during an \
         operation; and {open_kills} more while opening), {} messages ({} group, {} prekey), {} bundles, {} redeliveries refused ({} as duplicates), \
         in flight at a kill: {} had committed, {} had not; {:.1} s, {:.1} s of it waiting to kill (seed {seed})",
        w.msgs.len(),
        w.msgs.iter().filter(|m| m.group).count(),
        w.msgs.iter().filter(|m| m.kind == 'p').count(),
        w.published.len(),
        w.redeliveries,
        w.refused_as_duplicate,
        w.in_flight_resolved.0,
        w.in_flight_resolved.1,
        started.elapsed().as_secs_f64(),
        slept.as_secs_f64()
    );
}

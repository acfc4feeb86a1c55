//! The ML-KEM braid: its chunk decoder, and its state machine driven by two SPQR states.
//!
//! `braid_chunks` — input `k (1) ‖ mode (1) ‖ rest`:
//! * mode even: `rest` = a value of `32·k` bytes (cycled from the input) followed by u16
//!   chunk indices (the first `2k + 8`); the chunks of those indices decode to the value
//!   as soon as `k` of them are distinct, whatever the indices;
//! * mode odd: `rest` = arbitrary `(index u16 ‖ chunk 32)` pairs fed to a decoder: a
//!   refusal names a chunk whose index is held with other bytes, and a decoded value
//!   re-encodes to every chunk the decoder took.
//!
//! `braid_state` — input `seed (8) ‖ actions`: an initiator (A) and a responder (B) send,
//! deliver out of order, drop, tamper with fields and read their states back from their
//! serialization. Invariants, after every action:
//! * an honest field delivered for the first time gives the sender's key, unless its epoch
//!   is older than the receiver's previous epoch or its index more than 2,000 below the
//!   newest received in its epoch (refused), or either side has taken a tampered field
//!   before (a poisoned chunk or a false epoch switch: in a session the message MAC
//!   refuses such fields, here they are taken as authenticated);
//! * every refused field leaves the receiver's state byte-identical;
//! * a state reads back from its own serialization to the same bytes;
//! * the two sides' epochs never differ by more than one and never go back.

use missive::__fuzz::{self, SpqrState};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// See the module documentation.
pub fn braid_chunks(data: &[u8]) {
    let (Some(&k), Some(&mode)) = (data.first(), data.get(1)) else {
        return;
    };
    let k = 1 + usize::from(k) % 36;
    let rest = data.get(2..).unwrap_or(&[]);
    if mode % 2 == 0 {
        let len = 32 * k;
        if rest.is_empty() {
            return;
        }
        let value: Vec<u8> = rest.iter().copied().cycle().take(len).collect();
        let indices: Vec<u16> = rest
            .get(len.min(rest.len())..)
            .unwrap_or(&[])
            .chunks_exact(2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
            // Enough for every decoding path (and a few repeats); more only costs time.
            .take(2 * k + 8)
            .collect();
        let chunks: Vec<(u16, [u8; 32])> = indices
            .iter()
            .map(|&i| {
                (
                    i,
                    __fuzz::braid_chunk(&value, i).expect("a supported length"),
                )
            })
            .collect();
        let distinct = {
            let mut seen = std::collections::BTreeSet::new();
            chunks.iter().filter(|(i, _)| seen.insert(*i)).count()
        };
        match __fuzz::braid_decode(k, &chunks) {
            Ok(Some(v)) => assert_eq!(v, value, "decoded value"),
            Ok(None) => assert!(distinct < k, "{distinct} distinct chunks did not decode"),
            Err(i) => panic!("honest chunk {i} refused"),
        }
        // The code is systematic.
        for (i, data) in value.chunks(32).enumerate() {
            assert_eq!(
                __fuzz::braid_chunk(&value, i as u16)
                    .as_ref()
                    .map(|d| &d[..]),
                Some(data)
            );
        }
    } else {
        let chunks: Vec<(u16, [u8; 32])> = rest
            .chunks_exact(34)
            .map(|c| {
                let mut d = [0u8; 32];
                d.copy_from_slice(&c[2..]);
                (u16::from_be_bytes([c[0], c[1]]), d)
            })
            .collect();
        match __fuzz::braid_decode(k, &chunks) {
            Err(i) => {
                let (index, data) = chunks[i];
                assert!(
                    chunks[..i].iter().any(|&(j, d)| j == index && d != data),
                    "refused chunk {i} conflicts with none before it"
                );
            }
            Ok(Some(v)) => {
                assert_eq!(v.len(), 32 * k);
                // Every chunk taken (the first k distinct indices) lies on the polynomials.
                let mut taken = std::collections::BTreeMap::new();
                for &(i, d) in &chunks {
                    if taken.len() < k {
                        taken.entry(i).or_insert(d);
                    }
                }
                for (i, d) in taken {
                    assert_eq!(__fuzz::braid_chunk(&v, i), Some(d), "chunk {i}");
                }
            }
            Ok(None) => {
                let distinct: std::collections::BTreeSet<u16> =
                    chunks.iter().map(|c| c.0).collect();
                assert!(
                    distinct.len() < k,
                    "{} distinct chunks did not decode",
                    distinct.len()
                );
            }
        }
    }
}

/// Opcodes of `braid_state`: the first byte of each action, modulo their number.
pub mod op {
    /// `SEND from`: `from & 1` (0 A, 1 B) sends a field.
    pub const SEND: u8 = 0;
    /// `DELIVER to pick`: delivers in-flight field `pick` (mod count) to `to & 1`.
    pub const DELIVER: u8 = 1;
    /// `DROP to pick`: loses in-flight field `pick`.
    pub const DROP: u8 = 2;
    /// `TAMPER to pick how pos value`: delivers a modified copy of in-flight field
    /// `pick` (which stays in flight): `how % 4` = xor byte `pos` with `value | 1`,
    /// chunk index += `value + 1`, epoch + 1, epoch − 1.
    pub const TAMPER: u8 = 3;
    /// `RELOAD`: both states are read back from their serialization.
    pub const RELOAD: u8 = 4;
    /// `PINGPONG n`: `n` rounds of send and deliver each way, in order.
    pub const PINGPONG: u8 = 5;
    /// How many opcodes there are.
    pub const COUNT: u8 = 6;
}

/// A field in flight: the field, its key, its epoch and index.
type Flight = (Vec<u8>, [u8; 32], u64, u32);

struct Side {
    state: SpqrState,
    /// Fields in flight to the other side.
    in_flight: Vec<Flight>,
    /// Whether either side took a tampered field.
    tainted: bool,
    /// The newest index received per epoch (honest fields).
    newest: std::collections::BTreeMap<u64, u32>,
}

fn recv_checked(to: &mut Side, field: &[u8]) -> Result<[u8; 32], String> {
    let before = to.state.serialize();
    match to.state.recv(field) {
        Ok(k) => Ok(*k),
        Err(e) => {
            assert!(
                to.state.serialize() == before,
                "a refused field changed the state"
            );
            Err(format!(
                "{e:?} at epoch {}, braid state {:?}",
                to.state.epoch(),
                to.state.braid_state()
            ))
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn note(side: &mut Side, epoch: u64, index: u32) {
    let n = side.newest.entry(epoch).or_insert(0);
    *n = (*n).max(index);
}

/// See the module documentation.
pub fn braid_state(data: &[u8]) {
    const AUTH: [u8; 32] = [0x3c; 32];
    let mut seed = [0u8; 8];
    for (s, b) in seed.iter_mut().zip(data) {
        *s = *b;
    }
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from_le_bytes(seed));
    let mut sides = [
        Side {
            state: SpqrState::new(&AUTH, true),
            in_flight: Vec::new(),
            tainted: false,
            newest: Default::default(),
        },
        Side {
            state: SpqrState::new(&AUTH, false),
            in_flight: Vec::new(),
            tainted: false,
            newest: Default::default(),
        },
    ];
    let mut input = data.get(8..).unwrap_or(&[]).iter().copied();
    let mut next = move || input.next();
    let mut epochs = [1u64, 1];
    while let Some(opcode) = next() {
        let arg = |b: Option<u8>| b.unwrap_or(0);
        match opcode % op::COUNT {
            op::SEND => {
                let from = usize::from(arg(next()) & 1);
                let s = &mut sides[from];
                let (field, key) = s.state.send(&mut rng).expect("an index below u32::MAX");
                let f = __fuzz::parse_spqr_field(&field).expect("our field parses");
                s.in_flight.push((field, *key, f.epoch, f.index));
            }
            op::DELIVER | op::DROP | op::TAMPER => {
                let to = usize::from(arg(next()) & 1);
                let from = 1 - to;
                let pick = usize::from(arg(next()));
                let n = sides[from].in_flight.len();
                if n == 0 {
                    continue;
                }
                let i = pick % n;
                if opcode % op::COUNT == op::DROP {
                    sides[from].in_flight.remove(i);
                    continue;
                }
                if opcode % op::COUNT == op::TAMPER {
                    let (how, pos, value) = (arg(next()), usize::from(arg(next())), arg(next()));
                    let (field, key, epoch, index) = sides[from].in_flight[i].clone();
                    let mut f = __fuzz::parse_spqr_field(&field).expect("our field parses");
                    let mut raw = field.clone();
                    match how % 4 {
                        0 => {
                            let p = pos % raw.len();
                            raw[p] ^= value | 1;
                        }
                        1 => {
                            if let Some((ci, _)) = f.chunk.as_mut() {
                                *ci = ci.wrapping_add(u16::from(value) + 1);
                            }
                            raw = __fuzz::encode_spqr_field(&f);
                        }
                        2 => {
                            f.epoch += 1;
                            raw = __fuzz::encode_spqr_field(&f);
                        }
                        _ => {
                            f.epoch = f.epoch.saturating_sub(1).max(1);
                            raw = __fuzz::encode_spqr_field(&f);
                        }
                    }
                    let same = raw == field;
                    let to_side = &mut sides[to];
                    if let Ok(k) = recv_checked(to_side, &raw) {
                        if same {
                            assert_eq!(k, key);
                            note(to_side, epoch, index);
                            sides[from].in_flight.remove(i);
                        } else {
                            sides[0].tainted = true;
                            sides[1].tainted = true;
                        }
                    }
                    continue;
                }
                let (field, key, epoch, index) = sides[from].in_flight.remove(i);
                let to_side = &mut sides[to];
                let receiver_epoch = to_side.state.epoch();
                let aged = to_side
                    .newest
                    .get(&epoch)
                    .is_some_and(|&n| n > index && n - index > 2_000);
                match recv_checked(to_side, &field) {
                    Ok(k) => {
                        assert_eq!(k, key, "wrong key for an honest field");
                        note(to_side, epoch, index);
                    }
                    Err(e) => assert!(
                        to_side.tainted || aged || epoch + 1 < receiver_epoch,
                        "honest field of epoch {epoch} refused: {e}"
                    ),
                }
            }
            op::RELOAD => {
                for s in &mut sides {
                    let raw = s.state.serialize();
                    let back = SpqrState::deserialize(&raw).expect("our own state parses");
                    assert!(back.serialize() == raw, "state encoding is stable");
                    s.state = back;
                }
            }
            op::PINGPONG => {
                for _ in 0..arg(next()) % 64 {
                    for from in [0, 1] {
                        let (field, key) = sides[from].state.send(&mut rng).expect("send");
                        let f = __fuzz::parse_spqr_field(&field).expect("our field parses");
                        let to = &mut sides[1 - from];
                        match recv_checked(to, &field) {
                            Ok(k) => {
                                assert_eq!(k, *key, "ping-pong key");
                                note(to, f.epoch, f.index);
                            }
                            Err(e) => {
                                assert!(to.tainted, "ping-pong field {} refused: {e}", hex(&field))
                            }
                        }
                    }
                }
            }
            _ => unreachable!(),
        }
        let now = [sides[0].state.epoch(), sides[1].state.epoch()];
        assert!(
            now[0] >= epochs[0] && now[1] >= epochs[1],
            "an epoch went back"
        );
        assert!(now[0].abs_diff(now[1]) <= 1, "epochs {now:?}");
        epochs = now;
    }
}

//! The braid's state machine: one party's side of the ML-KEM exchanges, epoch after
//! epoch, exactly as libsignal-client 0.103.0 runs it (states and transitions observed in
//! `docs/notes/spqr-braid.md` §1.2; names from the ML-KEM Braid specification).
//!
//! In every epoch one party sends an encapsulation key (the *ek-sender*: the PQXDH
//! initiator in odd epochs) and the other encapsulates to it (the *ct-sender*); roles
//! swap every epoch. Each message carries at most one 32-byte chunk of one value:
//!
//! ```text
//! ek-sender                                         ct-sender
//! 1 KeysUnsampled  ─send: KeyGen─▶ 2                6 NoHeaderReceived  (sends None)
//! 2 HeaderSent     sends Hdr chunks                    │ header decoded, its MAC checked
//!   │ first Ct1 chunk received                         ▼
//!   ▼                                               7 HeaderReceived ─send: Encaps1─▶ 8
//! 3 EkSent         sends Ek chunks                  8 Ct1Sent           sends Ct1 chunks
//!   │ ct1 decoded                                      │ Ek decoded ▶ 9 ; ack ▶ 10
//!   ▼                                               9 Ct1SentEkReceived  sends Ct1 chunks
//! 4 EkSentCt1Received  sends EkCt1Ack chunks           │ ack: Encaps2 ▶ 11
//!   │ first Ct2 chunk received                     10 Ct1Acked          sends None
//!   ▼                                                  │ Ek decoded: Encaps2 ▶ 11
//! 5 Ct2Receiving   sends Ct1Ack (no chunk)         11 Ct2Sent           sends Ct2 chunks
//!   │ ct2 decoded: Decaps, MAC checked                 │ a message of epoch e+1
//!   ▼                                                  ▼
//! 6 of epoch e+1 (now the ct-sender)                1 of epoch e+1 (now the ek-sender)
//! ```
//!
//! At most one ML-KEM step per message: KeyGen and Encaps1 on send, Encaps2 and Decaps
//! on receipt. Every received chunk is checked before it changes anything: a chunk whose
//! index is held with other bytes is refused at once, and a completed value is checked
//! (header MAC, `H(ek)` and the key's coefficients, ciphertext MAC) before any state
//! moves; a refused message leaves the state as it was. Chunks that cannot matter (an
//! older epoch, a value already decoded, a type the state does not expect) are ignored,
//! as the peer ignores them.

use alloc::boxed::Box;
use core::fmt;

use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::erasure::{self, Added, Decoder};
use super::kdf::{self, Authenticator, MAC_LEN};
use super::kem::{self, C2_LEN, CT1_LEN, DecapsKey, EK_LEN, HEADER_LEN};
use super::{CT2_LEN, HDR_LEN};
use crate::error::{DecodeError, Error, ProtocolError};
use crate::ratchet::spqr::{CHUNK_LEN, Chunk, Reader, Role, SpqrHeader, SpqrMsgType};

/// Chunks per value.
const HDR_K: usize = HDR_LEN / CHUNK_LEN;
const EK_K: usize = EK_LEN / CHUNK_LEN;
const CT1_K: usize = CT1_LEN / CHUNK_LEN;
const CT2_K: usize = CT2_LEN / CHUNK_LEN;

/// The secret of one exchange: the epoch secret of the epoch it ran in, which keys the
/// next epoch (`kdf::epoch_secret`).
pub(crate) type EpochSecret = Zeroizing<[u8; 32]>;

/// The ct-sender's encapsulation in progress: the authenticated header, the randomness
/// `m` (secret), and `c1`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct Encaps {
    header: [u8; HEADER_LEN],
    m: [u8; 32],
    ct1: [u8; CT1_LEN],
}

/// The phase of the exchange, numbered as in libsignal's records (§5 of the notes).
/// Every payload is boxed, so a phase is a tag and pointers: moving it copies no secret.
#[derive(Clone)]
pub(crate) enum Phase {
    /// 1: ek-sender, no key pair yet (sampled on the next send).
    KeysUnsampled,
    /// 2: ek-sender, sending header chunks.
    HeaderSent { dk: DecapsKey, next: u16 },
    /// 3: ek-sender, sending Ek chunks, collecting `c1`.
    EkSent {
        dk: DecapsKey,
        next: u16,
        ct1: Box<Decoder<CT1_K>>,
    },
    /// 4: ek-sender, `c1` decoded, sending Ek chunks that acknowledge it.
    EkSentCt1Received {
        dk: DecapsKey,
        next: u16,
        ct1: Box<[u8; CT1_LEN]>,
    },
    /// 5: ek-sender, collecting `c2 ‖ MAC`, acknowledging `c1`.
    Ct2Receiving {
        dk: DecapsKey,
        ct1: Box<[u8; CT1_LEN]>,
        ct2: Box<Decoder<CT2_K>>,
    },
    /// 6: ct-sender, collecting the header.
    NoHeaderReceived { hdr: Box<Decoder<HDR_K>> },
    /// 7: ct-sender, header authenticated; Encaps1 on the next send.
    HeaderReceived { header: Box<[u8; HEADER_LEN]> },
    /// 8: ct-sender, sending Ct1 chunks, collecting Ek.
    Ct1Sent {
        enc: Box<Encaps>,
        next: u16,
        ek: Box<Decoder<EK_K>>,
    },
    /// 9: ct-sender, Ek decoded and valid, sending Ct1 chunks until acknowledged.
    Ct1SentEkReceived {
        enc: Box<Encaps>,
        next: u16,
        ek: Box<[u8; EK_LEN]>,
    },
    /// 10: ct-sender, `c1` acknowledged, collecting Ek.
    Ct1Acked {
        enc: Box<Encaps>,
        ek: Box<Decoder<EK_K>>,
    },
    /// 11: ct-sender, sending `c2 ‖ MAC` chunks until the peer moves to the next epoch.
    Ct2Sent { ct2: Box<[u8; CT2_LEN]>, next: u16 },
}

impl Phase {
    /// The state number (1–11).
    pub(crate) fn number(&self) -> u8 {
        match self {
            Phase::KeysUnsampled => 1,
            Phase::HeaderSent { .. } => 2,
            Phase::EkSent { .. } => 3,
            Phase::EkSentCt1Received { .. } => 4,
            Phase::Ct2Receiving { .. } => 5,
            Phase::NoHeaderReceived { .. } => 6,
            Phase::HeaderReceived { .. } => 7,
            Phase::Ct1Sent { .. } => 8,
            Phase::Ct1SentEkReceived { .. } => 9,
            Phase::Ct1Acked { .. } => 10,
            Phase::Ct2Sent { .. } => 11,
        }
    }

    fn is_ek_sender(&self) -> bool {
        self.number() <= 5
    }
}

/// What a received braid chunk will cost once its message authenticates, known from the
/// field and the state before anything is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvWork {
    /// Nothing beyond storing or ignoring a chunk.
    Light,
    /// A value may complete: a decode, a check and possibly one ML-KEM step.
    Heavy,
}

/// One party's braid: the epoch its exchange runs in, the authenticator, and the phase.
#[derive(Clone)]
pub(crate) struct Braid {
    epoch: u64,
    auth: Authenticator,
    phase: Phase,
}

impl fmt::Debug for Braid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Braid")
            .field("epoch", &self.epoch)
            .field("state", &self.phase.number())
            .finish_non_exhaustive()
    }
}

/// Whether `role` sends the encapsulation key in `epoch`: the initiator in odd epochs.
pub(crate) fn is_ek_sender(role: Role, epoch: u64) -> bool {
    (role == Role::Initiator) == (epoch % 2 == 1)
}

fn protocol_error() -> Error {
    ProtocolError::PqRatchet.into()
}

/// The 96-byte header value: `rho ‖ H(ek) ‖ header MAC`.
fn header_value(auth: &Authenticator, epoch: u64, header: &[u8; HEADER_LEN]) -> [u8; HDR_LEN] {
    let mut v = [0u8; HDR_LEN];
    let (h, mac) = v.split_at_mut(HEADER_LEN);
    h.copy_from_slice(header);
    mac.copy_from_slice(&auth.header_mac(epoch, header));
    v
}

fn take_chunk(value: &[u8], next: &mut u16) -> Result<Chunk, Error> {
    let c = erasure::chunk(value, *next).ok_or_else(protocol_error)?;
    *next = next.wrapping_add(1);
    Ok(c)
}

/// Adds `chunk` to `d`; a conflicting chunk refuses the message.
fn add<const K: usize>(d: &mut Decoder<K>, chunk: &Chunk) -> Result<(), Error> {
    match d.add(chunk) {
        Added::Conflict => Err(protocol_error()),
        Added::Stored | Added::Unchanged => Ok(()),
    }
}

fn decoded<const K: usize, const N: usize>(d: &Decoder<K>) -> Result<Box<[u8; N]>, Error> {
    let mut out = Box::new([0u8; N]);
    if d.decode_into(out.as_mut_slice()) {
        Ok(out)
    } else {
        Err(protocol_error())
    }
}

/// Encaps2 and the ciphertext MAC: the Ct2 value `c2 ‖ MAC`.
fn finish_encapsulation(
    auth: &Authenticator,
    epoch: u64,
    enc: &Encaps,
    ek: &[u8; EK_LEN],
) -> Result<Box<[u8; CT2_LEN]>, Error> {
    let c2 = kem::encapsulate2(&enc.header, &enc.m, ek).ok_or_else(protocol_error)?;
    let mac = auth.ciphertext_mac(epoch, &enc.ct1, &c2);
    let mut v = Box::new([0u8; CT2_LEN]);
    let (a, b) = v.split_at_mut(C2_LEN);
    a.copy_from_slice(&c2);
    b.copy_from_slice(&mac);
    Ok(v)
}

impl Braid {
    /// Epoch 1 of a session: the initiator sends the first key, the responder waits for
    /// its header. The authenticator comes from the PQXDH auth key.
    pub(crate) fn new(role: Role, auth_key: &[u8; 32]) -> Self {
        Braid {
            epoch: 1,
            auth: Authenticator::new(auth_key),
            phase: Self::start(role, 1),
        }
    }

    fn start(role: Role, epoch: u64) -> Phase {
        if is_ek_sender(role, epoch) {
            Phase::KeysUnsampled
        } else {
            Phase::NoHeaderReceived {
                hdr: Box::default(),
            }
        }
    }

    /// Uses `dk` as the key pair the next send would sample (the known-answer tests
    /// replay the peer's own keys).
    #[cfg(test)]
    pub(crate) fn use_key_pair(&mut self, dk: DecapsKey) {
        assert!(matches!(self.phase, Phase::KeysUnsampled));
        self.phase = Phase::HeaderSent { dk, next: 0 };
    }

    /// The phase.
    pub(crate) fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The state number and how far the state has got: chunks held plus chunks sent.
    /// Within one state both only grow.
    pub(crate) fn progress(&self) -> (u8, u32) {
        let n = |next: &u16| u32::from(*next);
        let c = |count: usize| u32::try_from(count).unwrap_or(u32::MAX);
        let progress = match &self.phase {
            Phase::KeysUnsampled | Phase::HeaderReceived { .. } => 0,
            Phase::HeaderSent { next, .. } | Phase::EkSentCt1Received { next, .. } => n(next),
            Phase::Ct1SentEkReceived { next, .. } | Phase::Ct2Sent { next, .. } => n(next),
            Phase::EkSent { next, ct1, .. } => n(next) + c(ct1.count()),
            Phase::Ct1Sent { next, ek, .. } => n(next) + c(ek.count()),
            Phase::Ct2Receiving { ct2, .. } => c(ct2.count()),
            Phase::NoHeaderReceived { hdr } => c(hdr.count()),
            Phase::Ct1Acked { ek, .. } => c(ek.count()),
        };
        (self.phase.number(), progress)
    }

    /// Whether the peer may already be in the next epoch: only after our `c2` went out.
    pub(crate) fn awaits_next_epoch(&self) -> bool {
        matches!(self.phase, Phase::Ct2Sent { .. })
    }

    /// The peer sent a message of epoch `epoch + 1` (which [`Braid::awaits_next_epoch`]
    /// allowed): we become the ek-sender of that epoch.
    pub(crate) fn enter_next_epoch(&mut self) {
        self.epoch = self.epoch.saturating_add(1);
        self.phase = Phase::KeysUnsampled;
    }

    /// The braid part of our next message: its type and chunk. In state 1 this samples
    /// the key pair (KeyGen); in state 7 it encapsulates (Encaps1), derives the epoch
    /// secret and updates the authenticator, and returns the secret so that the caller
    /// derives the next epoch's chains. Nothing else does an ML-KEM step.
    pub(crate) fn send<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
    ) -> Result<(SpqrMsgType, Option<Chunk>, Option<EpochSecret>), Error> {
        if matches!(self.phase, Phase::KeysUnsampled) {
            let mut seed = Zeroizing::new([0u8; 64]);
            rng.fill_bytes(seed.as_mut());
            self.phase = Phase::HeaderSent {
                dk: DecapsKey::generate(&seed),
                next: 0,
            };
        }
        let mut secret = None;
        if let Phase::HeaderReceived { header } = &self.phase {
            let mut m = Zeroizing::new([0u8; 32]);
            rng.fill_bytes(m.as_mut());
            let (ct1, ss) = kem::encapsulate1(header, &m).ok_or_else(protocol_error)?;
            let es = kdf::epoch_secret(&ss, self.epoch);
            self.auth.update(self.epoch, &es);
            let enc = Box::new(Encaps {
                header: **header,
                m: *m,
                ct1: *ct1,
            });
            self.phase = Phase::Ct1Sent {
                enc,
                next: 0,
                ek: Box::default(),
            };
            secret = Some(es);
        }
        let epoch = self.epoch;
        let (ty, chunk) = match &mut self.phase {
            Phase::HeaderSent { dk, next } => {
                let v = header_value(&self.auth, epoch, dk.header());
                (SpqrMsgType::Hdr, Some(take_chunk(&v, next)?))
            }
            Phase::EkSent { dk, next, .. } => {
                (SpqrMsgType::Ek, Some(take_chunk(dk.ek_vector(), next)?))
            }
            Phase::EkSentCt1Received { dk, next, .. } => (
                SpqrMsgType::EkCt1Ack,
                Some(take_chunk(dk.ek_vector(), next)?),
            ),
            Phase::Ct2Receiving { .. } => (SpqrMsgType::Ct1Ack, None),
            Phase::Ct1Sent { enc, next, .. } | Phase::Ct1SentEkReceived { enc, next, .. } => {
                (SpqrMsgType::Ct1, Some(take_chunk(&enc.ct1, next)?))
            }
            Phase::Ct2Sent { ct2, next } => (SpqrMsgType::Ct2, Some(take_chunk(&ct2[..], next)?)),
            Phase::KeysUnsampled
            | Phase::NoHeaderReceived { .. }
            | Phase::HeaderReceived { .. }
            | Phase::Ct1Acked { .. } => (SpqrMsgType::None, None),
        };
        Ok((ty, chunk, secret))
    }

    /// What processing `header`'s braid part will cost (see [`RecvWork`]), from the state
    /// alone: heavy when the chunk may complete a value or the message acknowledges `c1`
    /// while Ek is complete.
    pub(crate) fn recv_work(&self, header: &SpqrHeader) -> RecvWork {
        if header.epoch != self.epoch {
            return RecvWork::Light;
        }
        let near = |count: usize, k: usize| count + 1 >= k;
        let heavy = match (&self.phase, header.msg_type) {
            (Phase::EkSent { ct1, .. }, SpqrMsgType::Ct1) => near(ct1.count(), CT1_K),
            (Phase::Ct2Receiving { ct2, .. }, SpqrMsgType::Ct2) => near(ct2.count(), CT2_K),
            (Phase::NoHeaderReceived { hdr }, SpqrMsgType::Hdr) => near(hdr.count(), HDR_K),
            (Phase::Ct1Sent { ek, .. }, SpqrMsgType::Ek | SpqrMsgType::EkCt1Ack)
            | (Phase::Ct1Acked { ek, .. }, SpqrMsgType::Ek | SpqrMsgType::EkCt1Ack) => {
                near(ek.count(), EK_K)
            }
            (Phase::Ct1SentEkReceived { .. }, SpqrMsgType::EkCt1Ack | SpqrMsgType::Ct1Ack) => true,
            _ => false,
        };
        if heavy {
            RecvWork::Heavy
        } else {
            RecvWork::Light
        }
    }

    /// Processes the braid part of an authenticated message. Returns the epoch secret
    /// when the exchange completed here (the ek-sender decapsulated: the caller derives
    /// epoch `e + 1`'s chains and sends with them from now on; this braid is then the
    /// ct-sender of `e + 1`). On error nothing changed: the caller refuses the message.
    pub(crate) fn recv(&mut self, header: &SpqrHeader) -> Result<Option<EpochSecret>, Error> {
        if header.epoch != self.epoch {
            // An older epoch's message (its chain still decrypts it): its braid part no
            // longer matters. (A later epoch never reaches here: the caller either moved
            // us to it or refused the message.)
            return Ok(None);
        }
        let epoch = self.epoch;
        let ty = header.msg_type;
        let Some(chunk) = header.chunk.as_ref() else {
            // No chunk: only an acknowledgement of c1 can matter.
            if ty == SpqrMsgType::Ct1Ack {
                return self.acknowledged();
            }
            return Ok(None);
        };
        let next_phase = match (&self.phase, ty) {
            // ---- ek-sender ----
            (Phase::HeaderSent { dk, .. }, SpqrMsgType::Ct1) => {
                let mut ct1 = Box::<Decoder<CT1_K>>::default();
                add(&mut ct1, chunk)?;
                // The Ek encoder starts at chunk 0.
                Phase::EkSent {
                    dk: dk.clone(),
                    next: 0,
                    ct1,
                }
            }
            (Phase::EkSent { dk, next, ct1 }, SpqrMsgType::Ct1) => {
                let mut ct1 = ct1.clone();
                add(&mut ct1, chunk)?;
                if ct1.is_complete() {
                    Phase::EkSentCt1Received {
                        dk: dk.clone(),
                        next: *next,
                        ct1: decoded(&ct1)?,
                    }
                } else {
                    Phase::EkSent {
                        dk: dk.clone(),
                        next: *next,
                        ct1,
                    }
                }
            }
            (Phase::EkSentCt1Received { dk, ct1, .. }, SpqrMsgType::Ct2) => {
                let mut ct2 = Box::<Decoder<CT2_K>>::default();
                add(&mut ct2, chunk)?;
                Phase::Ct2Receiving {
                    dk: dk.clone(),
                    ct1: ct1.clone(),
                    ct2,
                }
            }
            (Phase::Ct2Receiving { dk, ct1, ct2 }, SpqrMsgType::Ct2) => {
                let mut ct2 = ct2.clone();
                add(&mut ct2, chunk)?;
                if !ct2.is_complete() {
                    Phase::Ct2Receiving {
                        dk: dk.clone(),
                        ct1: ct1.clone(),
                        ct2,
                    }
                } else {
                    let value: Box<[u8; CT2_LEN]> = decoded(&ct2)?;
                    let (c2, mac) = value.split_at(C2_LEN);
                    let c2: &[u8; C2_LEN] = c2.try_into().map_err(|_| protocol_error())?;
                    let ss = dk.decapsulate(ct1, c2);
                    let es = kdf::epoch_secret(&ss, epoch);
                    let mut auth = self.auth.clone();
                    auth.update(epoch, &es);
                    if !auth.verify_ciphertext(epoch, &ct1[..], c2, mac) {
                        return Err(protocol_error());
                    }
                    self.auth = auth;
                    self.epoch = epoch.saturating_add(1);
                    self.phase = Phase::NoHeaderReceived {
                        hdr: Box::default(),
                    };
                    return Ok(Some(es));
                }
            }
            // ---- ct-sender ----
            (Phase::NoHeaderReceived { hdr }, SpqrMsgType::Hdr) => {
                let mut hdr = hdr.clone();
                add(&mut hdr, chunk)?;
                if hdr.is_complete() {
                    let value: Box<[u8; HDR_LEN]> = decoded(&hdr)?;
                    let (h, mac) = value.split_at(HEADER_LEN);
                    let h: &[u8; HEADER_LEN] = h.try_into().map_err(|_| protocol_error())?;
                    if !self.auth.verify_header(epoch, h, mac) {
                        return Err(protocol_error());
                    }
                    Phase::HeaderReceived {
                        header: Box::new(*h),
                    }
                } else {
                    Phase::NoHeaderReceived { hdr }
                }
            }
            (Phase::Ct1Sent { enc, next, ek }, SpqrMsgType::Ek | SpqrMsgType::EkCt1Ack) => {
                let mut ek = ek.clone();
                add(&mut ek, chunk)?;
                let acked = ty == SpqrMsgType::EkCt1Ack;
                match (ek.is_complete(), acked) {
                    (true, _) => {
                        let value = self.valid_ek(&enc.header, &ek)?;
                        if acked {
                            Phase::Ct2Sent {
                                ct2: finish_encapsulation(&self.auth, epoch, enc, &value)?,
                                next: 0,
                            }
                        } else {
                            Phase::Ct1SentEkReceived {
                                enc: enc.clone(),
                                next: *next,
                                ek: value,
                            }
                        }
                    }
                    (false, true) => Phase::Ct1Acked {
                        enc: enc.clone(),
                        ek,
                    },
                    (false, false) => Phase::Ct1Sent {
                        enc: enc.clone(),
                        next: *next,
                        ek,
                    },
                }
            }
            (Phase::Ct1SentEkReceived { .. }, SpqrMsgType::EkCt1Ack) => {
                return self.acknowledged();
            }
            (Phase::Ct1Acked { enc, ek }, SpqrMsgType::Ek | SpqrMsgType::EkCt1Ack) => {
                let mut ek = ek.clone();
                add(&mut ek, chunk)?;
                if ek.is_complete() {
                    let value = self.valid_ek(&enc.header, &ek)?;
                    Phase::Ct2Sent {
                        ct2: finish_encapsulation(&self.auth, epoch, enc, &value)?,
                        next: 0,
                    }
                } else {
                    Phase::Ct1Acked {
                        enc: enc.clone(),
                        ek,
                    }
                }
            }
            // Anything else cannot matter: ignored.
            _ => return Ok(None),
        };
        self.phase = next_phase;
        Ok(None)
    }

    /// `c1` was acknowledged without a chunk that matters (Ct1Ack, or EkCt1Ack once Ek
    /// is complete).
    fn acknowledged(&mut self) -> Result<Option<EpochSecret>, Error> {
        let next = match &self.phase {
            Phase::Ct1Sent { enc, ek, .. } => Phase::Ct1Acked {
                enc: enc.clone(),
                ek: ek.clone(),
            },
            Phase::Ct1SentEkReceived { enc, ek, .. } => Phase::Ct2Sent {
                ct2: finish_encapsulation(&self.auth, self.epoch, enc, ek)?,
                next: 0,
            },
            _ => return Ok(None),
        };
        self.phase = next;
        Ok(None)
    }

    /// The decoded Ek, if it completes the authenticated header into a valid key.
    fn valid_ek(
        &self,
        header: &[u8; HEADER_LEN],
        ek: &Decoder<EK_K>,
    ) -> Result<Box<[u8; EK_LEN]>, Error> {
        let value: Box<[u8; EK_LEN]> = decoded(ek)?;
        if kem::validate(header, &value) {
            Ok(value)
        } else {
            Err(protocol_error())
        }
    }

    // ---- serialization (docs/PROTOCOL.md §8.7) ----

    /// The largest [`Braid::serialize`] output, exactly: state 5 (`Ct2Receiving`), with
    /// the decapsulation key, c1 and a ct2 decoder one chunk short of complete (a decoder
    /// holds fewer than its K chunks). Every other state is smaller; the state-size test
    /// reaches this one.
    pub(crate) const MAX_SERIALIZED_LEN: usize =
        2 * 32 + 1 + kem::DK_LEN + CT1_LEN + 1 + (CT2_K - 1) * (2 + CHUNK_LEN);

    /// Appends `authenticator (64) ‖ state u8 ‖ the state's data`.
    pub(crate) fn serialize(&self, out: &mut alloc::vec::Vec<u8>) {
        out.extend_from_slice(self.auth.to_bytes().as_slice());
        out.push(self.phase.number());
        fn dec<const K: usize>(out: &mut alloc::vec::Vec<u8>, d: &Decoder<K>) {
            // count < K ≤ 36
            out.push(d.count() as u8);
            for c in d.chunks() {
                out.extend_from_slice(&c.index.to_be_bytes());
                out.extend_from_slice(&c.data);
            }
        }
        match &self.phase {
            Phase::KeysUnsampled => {}
            Phase::HeaderSent { dk, next } => {
                out.extend_from_slice(dk.as_bytes());
                out.extend_from_slice(&next.to_be_bytes());
            }
            Phase::EkSent { dk, next, ct1 } => {
                out.extend_from_slice(dk.as_bytes());
                out.extend_from_slice(&next.to_be_bytes());
                dec(out, ct1);
            }
            Phase::EkSentCt1Received { dk, next, ct1 } => {
                out.extend_from_slice(dk.as_bytes());
                out.extend_from_slice(&next.to_be_bytes());
                out.extend_from_slice(&ct1[..]);
            }
            Phase::Ct2Receiving { dk, ct1, ct2 } => {
                out.extend_from_slice(dk.as_bytes());
                out.extend_from_slice(&ct1[..]);
                dec(out, ct2);
            }
            Phase::NoHeaderReceived { hdr } => dec(out, hdr),
            Phase::HeaderReceived { header } => out.extend_from_slice(&header[..]),
            Phase::Ct1Sent { enc, next, ek } => {
                Self::put_encaps(out, enc);
                out.extend_from_slice(&next.to_be_bytes());
                dec(out, ek);
            }
            Phase::Ct1SentEkReceived { enc, next, ek } => {
                Self::put_encaps(out, enc);
                out.extend_from_slice(&next.to_be_bytes());
                out.extend_from_slice(&ek[..]);
            }
            Phase::Ct1Acked { enc, ek } => {
                Self::put_encaps(out, enc);
                dec(out, ek);
            }
            Phase::Ct2Sent { ct2, next } => {
                out.extend_from_slice(&ct2[..]);
                out.extend_from_slice(&next.to_be_bytes());
            }
        }
    }

    fn put_encaps(out: &mut alloc::vec::Vec<u8>, enc: &Encaps) {
        out.extend_from_slice(&enc.header);
        out.extend_from_slice(&enc.m);
        out.extend_from_slice(&enc.ct1);
    }

    /// Reads [`Braid::serialize`]'s output for a party of `role` in `epoch`, strictly: the
    /// state must belong to the role's side in that epoch, decoders hold fewer chunks than
    /// complete them with distinct indices, and keys must be well formed.
    pub(crate) fn deserialize(
        r: &mut Reader<'_>,
        role: Role,
        epoch: u64,
    ) -> Result<Self, DecodeError> {
        let auth = Authenticator::from_bytes(&Zeroizing::new(r.array::<64>()?));
        let state = r.u8()?;
        fn dec<const K: usize>(r: &mut Reader<'_>) -> Result<Box<Decoder<K>>, DecodeError> {
            let count = usize::from(r.u8()?);
            if count >= K {
                return Err(DecodeError::Malformed);
            }
            let mut d = Box::<Decoder<K>>::default();
            for _ in 0..count {
                let index = u16::from_be_bytes(r.array()?);
                let data = r.array()?;
                if d.add(&Chunk { index, data }) != Added::Stored {
                    return Err(DecodeError::Malformed);
                }
            }
            Ok(d)
        }
        fn dk(r: &mut Reader<'_>) -> Result<DecapsKey, DecodeError> {
            DecapsKey::from_bytes(r.take(kem::DK_LEN)?).ok_or(DecodeError::InvalidKey)
        }
        fn enc(r: &mut Reader<'_>) -> Result<Box<Encaps>, DecodeError> {
            let mut e = Box::new(Encaps {
                header: [0; HEADER_LEN],
                m: [0; 32],
                ct1: [0; CT1_LEN],
            });
            e.header.copy_from_slice(r.take(HEADER_LEN)?);
            e.m.copy_from_slice(r.take(32)?);
            e.ct1.copy_from_slice(r.take(CT1_LEN)?);
            Ok(e)
        }
        fn boxed<const N: usize>(r: &mut Reader<'_>) -> Result<Box<[u8; N]>, DecodeError> {
            let mut b = Box::new([0u8; N]);
            b.copy_from_slice(r.take(N)?);
            Ok(b)
        }
        let next =
            |r: &mut Reader<'_>| -> Result<u16, DecodeError> { Ok(u16::from_be_bytes(r.array()?)) };
        let phase = match state {
            1 => Phase::KeysUnsampled,
            2 => Phase::HeaderSent {
                dk: dk(r)?,
                next: next(r)?,
            },
            3 => Phase::EkSent {
                dk: dk(r)?,
                next: next(r)?,
                ct1: dec(r)?,
            },
            4 => Phase::EkSentCt1Received {
                dk: dk(r)?,
                next: next(r)?,
                ct1: boxed(r)?,
            },
            5 => Phase::Ct2Receiving {
                dk: dk(r)?,
                ct1: boxed(r)?,
                ct2: dec(r)?,
            },
            6 => Phase::NoHeaderReceived { hdr: dec(r)? },
            7 => Phase::HeaderReceived { header: boxed(r)? },
            8 => Phase::Ct1Sent {
                enc: enc(r)?,
                next: next(r)?,
                ek: dec(r)?,
            },
            9 => {
                let enc = enc(r)?;
                let next = next(r)?;
                let ek: Box<[u8; EK_LEN]> = boxed(r)?;
                if !kem::validate(&enc.header, &ek) {
                    return Err(DecodeError::InvalidKey);
                }
                Phase::Ct1SentEkReceived { enc, next, ek }
            }
            10 => Phase::Ct1Acked {
                enc: enc(r)?,
                ek: dec(r)?,
            },
            11 => Phase::Ct2Sent {
                ct2: boxed(r)?,
                next: next(r)?,
            },
            _ => return Err(DecodeError::UnknownType),
        };
        if phase.is_ek_sender() != is_ek_sender(role, epoch) {
            return Err(DecodeError::Malformed);
        }
        Ok(Braid { epoch, auth, phase })
    }
}

const _: () = assert!(MAC_LEN == 32);

#[cfg(test)]
mod tests;

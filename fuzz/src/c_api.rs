//! The C API target (`c_api`): missive-ffi's exported functions, called as a C program
//! calls them, with bytes and lengths from the input.
//!
//! Two devices made through the C API keep their records in little key-value databases
//! and follow the API's pattern (load the records an operation reads, call, persist its
//! change set). Actions from the input move an honest 1:1 conversation and a sender-key
//! group along, and feed the decryption and parsing entry points tampered, raw and
//! truncated bytes, NULL pointers with non-zero lengths, short output arrays, any message
//! type, and an RNG that fails part way.
//!
//! Invariants, checked on every call:
//! * no call panics (`MISSIVE_ERROR_PANIC`) or returns an error without a code
//!   (`MISSIVE_ERROR_INTERNAL`);
//! * a failed call leaves its output handles NULL and its output buffers empty; a
//!   successful one fills them;
//! * a pointer/length pair that cannot be valid gets `MISSIVE_ERROR_NULL_POINTER` or
//!   `MISSIVE_ERROR_INVALID_ARGUMENT`, exactly;
//! * whatever decrypts, 1:1 or group, is a plaintext the honest sender sent;
//! * an honest message delivered for the first time decrypts (every failure before it
//!   left the records as they were).
//!
//! Input: `seed (8) ‖ actions`, each an opcode byte and its arguments (see [`op`]).
//! Missing bytes read as zero. Not part of `TARGETS` in `lib.rs` (missive's own tests
//! cannot link missive-ffi): missive-ffi's `tests/fuzz_corpus.rs` replays its corpus and
//! checks its seeds.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::c_void;
use std::ptr::{null, null_mut};

use missive_ffi::*;

/// Calls C entry points: the harness passes only NULL where it means to, and otherwise
/// pointers to its own live values and buffers with their true lengths.
macro_rules! ffi {
    ($e:expr) => {{
        // SAFETY: every pointer in the call is NULL (on purpose, with any length) or
        // points to a live value or buffer of this harness, of the length passed with it;
        // handles are live ones made by the library.
        let status = unsafe { $e };
        checked(status)
    }};
}

/// Calls a C entry point that returns nothing (the `_free` functions).
macro_rules! ffi_void {
    ($e:expr) => {{
        // SAFETY: as for `ffi!`: our own pointers, to handles made by the library or NULL.
        unsafe { $e }
    }};
}

/// Opcodes: the first byte of each action, modulo their number.
pub mod op {
    /// `SEND len`: the honest sender encrypts a unique plaintext of `len % 64` more bytes.
    pub const SEND: u8 = 0;
    /// `DELIVER pick`: the receiver decrypts in-flight 1:1 message `pick`.
    pub const DELIVER: u8 = 1;
    /// `REPLY`: the receiver answers (if it has a session); the sender decrypts it.
    pub const REPLY: u8 = 2;
    /// `TAMPER pick how pos value`: a modified copy of 1:1 message `pick` (flip a bit,
    /// truncate, set a byte, append a byte: `how % 4`) is delivered.
    pub const TAMPER: u8 = 3;
    /// `RAW type(4) len bytes…`: raw bytes and any message type, to the receiver.
    pub const RAW: u8 = 4;
    /// `PARSE len bytes…`: the bytes to every parser and record setter.
    pub const PARSE: u8 = 5;
    /// `GROUP`: the sender shares its group chain with the receiver over the 1:1
    /// session (if they have one both ways).
    pub const GROUP: u8 = 6;
    /// `GROUP_SEND len`: a group message with a unique plaintext.
    pub const GROUP_SEND: u8 = 7;
    /// `GROUP_DELIVER pick how pos value`: group message `pick` to the receiver,
    /// tampered when `how & 4`.
    pub const GROUP_DELIVER: u8 = 8;
    /// `BATCH n (pick | raw len bytes…)…`: a batch of `n % 6` group messages, honest
    /// ones (`pick` even) and raw bytes (odd).
    pub const BATCH: u8 = 9;
    /// `DIST len bytes…`: raw bytes as a distribution message delivered by the last
    /// decrypted 1:1 message (never committed).
    pub const DIST: u8 = 10;
    /// `RNG_FAIL after`: the next action's RNG fails after `after * 16` bytes.
    pub const RNG_FAIL: u8 = 11;
    /// `FINGERPRINT iter len bytes…`: safety numbers of raw ids and keys.
    pub const FINGERPRINT: u8 = 12;
    /// `BAD_POINTERS len small`: NULL data with a non-zero length, short output arrays.
    pub const BAD_POINTERS: u8 = 13;
    /// `CHANGES index`: every accessor of the last change set.
    pub const CHANGES: u8 = 14;
    /// How many opcodes there are.
    pub const COUNT: u8 = 15;
}

const SENDER: &str = "9d0652a3-dcc3-4d11-975f-74d61598733f";
const RECEIVER: &str = "796abedb-ca4e-4f18-8803-1fde5b921f9f";
const NOW: u64 = 1_780_000_000_000;
const GROUP_ID: [u8; 16] = [7; 16];
const MAX_IN_FLIGHT: usize = 96;

fn checked(status: MissiveStatus) -> MissiveStatus {
    assert_ne!(
        status,
        MissiveStatus::MISSIVE_ERROR_PANIC,
        "a call panicked"
    );
    assert_ne!(
        status,
        MissiveStatus::MISSIVE_ERROR_INTERNAL,
        "an error without a code"
    );
    status
}

fn ok(status: MissiveStatus) -> bool {
    status == MissiveStatus::MISSIVE_OK
}

/// The input, read front to back; missing bytes are zero.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }
    /// Up to `n` bytes (fewer at the end of the input).
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.0.split_at(n.min(self.0.len()));
        self.0 = b;
        a
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// A deterministic RNG for the C API (splitmix64), which can be told to fail.
struct Rng {
    state: u64,
    fail_after: Option<usize>,
    given: usize,
}

unsafe extern "C" fn fill(user: *mut c_void, out: *mut u8, len: usize) -> i32 {
    // SAFETY: `user` is the harness's `Rng`, alive for the call; `out` has `len` bytes.
    let (r, out) = unsafe {
        (
            &mut *user.cast::<Rng>(),
            std::slice::from_raw_parts_mut(out, len),
        )
    };
    if r.fail_after.is_some_and(|n| r.given + len > n) {
        return -1;
    }
    for b in out.iter_mut() {
        r.state = r.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = r.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        *b = (z ^ (z >> 31)) as u8;
    }
    r.given += len;
    0
}

/// A library-owned buffer, freed on drop.
struct Buf(MissiveBuffer);

impl Buf {
    fn new() -> Buf {
        Buf(MissiveBuffer {
            data: null_mut(),
            len: 0,
        })
    }
    fn bytes(&self) -> Vec<u8> {
        if self.0.data.is_null() {
            return Vec::new();
        }
        // SAFETY: a buffer the library filled: `len` bytes at `data`.
        unsafe { std::slice::from_raw_parts(self.0.data, self.0.len) }.to_vec()
    }
    fn is_empty(&self) -> bool {
        self.0.data.is_null() && self.0.len == 0
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        ffi_void!(missive_buffer_free(&mut self.0));
    }
}

fn address(name: &str) -> MissiveAddress {
    MissiveAddress {
        name: name.as_ptr().cast(),
        name_len: name.len(),
        device_id: 1,
    }
}

/// One device and its database.
struct Party {
    identity: *mut MissiveIdentityKeyPair,
    device: *mut MissiveDevice,
    db: BTreeMap<String, Vec<u8>>,
}

impl Drop for Party {
    fn drop(&mut self) {
        ffi_void!(missive_device_free(&mut self.device));
        ffi_void!(missive_identity_key_pair_free(&mut self.identity));
    }
}

/// A `MissiveRecords`, freed on drop.
struct Records(*mut MissiveRecords);

impl Records {
    fn new() -> Records {
        let mut r = null_mut();
        assert!(ok(ffi!(missive_records_new(&mut r))));
        Records(r)
    }
}

impl Drop for Records {
    fn drop(&mut self) {
        ffi_void!(missive_records_free(&mut self.0));
    }
}

/// A `MissiveChanges`, freed on drop.
struct Changes(*mut MissiveChanges);

impl Drop for Changes {
    fn drop(&mut self) {
        ffi_void!(missive_changes_free(&mut self.0));
    }
}

/// A `MissiveDecrypted`, freed on drop.
struct Decrypted(*mut MissiveDecrypted);

impl Drop for Decrypted {
    fn drop(&mut self) {
        ffi_void!(missive_decrypted_free(&mut self.0));
    }
}

impl Party {
    fn new(name: &'static str, reg: u32, rng: &MissiveRng) -> Party {
        let mut identity = null_mut();
        let mut device = null_mut();
        assert!(ok(ffi!(missive_identity_key_pair_generate(
            rng,
            &mut identity
        ))));
        let a = address(name);
        assert!(ok(ffi!(missive_device_new(identity, reg, &a, &mut device))));
        Party {
            identity,
            device,
            db: BTreeMap::new(),
        }
    }

    fn load_peer(&self, r: &Records, peer: &str) {
        let a = address(peer);
        for kind in ["session", "identity"] {
            let v = self.db.get(&format!("{kind}/{peer}"));
            let (p, n) = v.map_or((null(), 0), |v| (v.as_ptr(), v.len()));
            let st = if kind == "session" {
                ffi!(missive_records_set_session(r.0, &a, p, n))
            } else {
                ffi!(missive_records_set_identity(r.0, &a, p, n))
            };
            assert!(ok(st));
        }
    }

    fn load_sender_key(&self, r: &Records, sender: &str) {
        let a = address(sender);
        let v = self.db.get(&format!("sender_key/{sender}"));
        let (p, n) = v.map_or((null(), 0), |v| (v.as_ptr(), v.len()));
        assert!(ok(ffi!(missive_records_set_sender_key(
            r.0,
            &a,
            GROUP_ID.as_ptr(),
            16,
            p,
            n
        ))));
    }

    /// What a prekey message needs, from the database (nothing for other bytes).
    fn load_prekeys(&self, r: &Records, message: &[u8]) {
        let mut needs = MissivePreKeyNeeds {
            version: 0,
            has_pre_key: false,
            pre_key_id: 0,
            signed_pre_key_id: 0,
            has_kyber_pre_key: false,
            kyber_pre_key_id: 0,
            base_key: [0; 33],
        };
        if !ok(ffi!(missive_prekey_message_needs(
            message.as_ptr(),
            message.len(),
            &mut needs
        ))) {
            return;
        }
        let add = |key: String,
                   f: unsafe extern "C" fn(
            *mut MissiveRecords,
            *const u8,
            usize,
        ) -> MissiveStatus| {
            if let Some(v) = self.db.get(&key) {
                assert!(ok(ffi!(f(r.0, v.as_ptr(), v.len()))));
            }
        };
        if needs.has_pre_key {
            add(
                format!("pre_key/{}", needs.pre_key_id),
                missive_records_add_pre_key,
            );
        }
        add(
            format!("signed_pre_key/{}", needs.signed_pre_key_id),
            missive_records_add_signed_pre_key,
        );
        if needs.has_kyber_pre_key {
            add(
                format!("kyber_pre_key/{}", needs.kyber_pre_key_id),
                missive_records_add_kyber_pre_key,
            );
            let used = self.db.contains_key(&triple_key(
                needs.kyber_pre_key_id,
                needs.signed_pre_key_id,
                &needs.base_key,
            ));
            assert!(ok(ffi!(missive_records_set_kyber_triple_used(
                r.0,
                needs.kyber_pre_key_id,
                needs.signed_pre_key_id,
                needs.base_key.as_ptr(),
                33,
                used
            ))));
        }
    }

    /// Persists a change set of an operation with `peer`.
    fn commit(&mut self, peer: &str, c: &Changes) {
        let mut present = false;
        let mut replaced = false;
        let mut buf = Buf::new();
        assert!(ok(ffi!(missive_changes_session(
            c.0,
            &mut present,
            &mut buf.0
        ))));
        assert_eq!(present, !buf.is_empty());
        if present {
            self.db.insert(format!("session/{peer}"), buf.bytes());
        }
        let mut key = [0u8; 33];
        assert!(ok(ffi!(missive_changes_identity(
            c.0,
            &mut present,
            key.as_mut_ptr(),
            33,
            &mut replaced,
            null_mut(),
            0
        ))));
        if present {
            self.db.insert(format!("identity/{peer}"), key.to_vec());
        }
        let mut id = 0u32;
        assert!(ok(ffi!(missive_changes_consumed_pre_key(
            c.0,
            &mut present,
            &mut id
        ))));
        if present {
            assert!(self.db.remove(&format!("pre_key/{id}")).is_some());
        }
        let mut u = MissiveKyberPreKeyUse {
            kyber_pre_key_id: 0,
            signed_pre_key_id: 0,
            base_key: [0; 33],
            last_resort: false,
        };
        assert!(ok(ffi!(missive_changes_kyber_pre_key_use(
            c.0,
            &mut present,
            &mut u
        ))));
        if present && u.last_resort {
            self.db.insert(
                triple_key(u.kyber_pre_key_id, u.signed_pre_key_id, &u.base_key),
                Vec::new(),
            );
        } else if present {
            assert!(
                self.db
                    .remove(&format!("kyber_pre_key/{}", u.kyber_pre_key_id))
                    .is_some()
            );
        }
        let mut count = 0usize;
        assert!(ok(ffi!(missive_changes_sender_key_count(c.0, &mut count))));
        for i in 0..count {
            let (mut name, mut record) = (Buf::new(), Buf::new());
            let mut device = 0u32;
            let mut dist = [0u8; 16];
            assert!(ok(ffi!(missive_changes_sender_key(
                c.0,
                i,
                &mut name.0,
                &mut device,
                dist.as_mut_ptr(),
                16,
                &mut record.0
            ))));
            assert_eq!(dist, GROUP_ID);
            let sender = String::from_utf8(name.bytes()).expect("a name we gave");
            self.db
                .insert(format!("sender_key/{sender}"), record.bytes());
        }
    }
}

fn triple_key(kyber: u32, signed: u32, base: &[u8; 33]) -> String {
    format!(
        "kyber_used/{kyber}/{signed}/{}",
        base.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The whole state of one run.
struct Harness {
    rng: Box<Rng>,
    sender: Party,
    receiver: Party,
    in_flight: Vec<(u32, Vec<u8>, Vec<u8>)>,
    sent: BTreeSet<Vec<u8>>,
    delivered: BTreeSet<Vec<u8>>,
    /// Group messages: bytes, plaintext, whether the receiver held the chain when it
    /// was sent (only those must decrypt).
    group: Vec<(Vec<u8>, Vec<u8>, bool)>,
    group_sent: BTreeSet<Vec<u8>>,
    group_delivered: BTreeSet<Vec<u8>>,
    shared: bool,
    last_decrypted: Decrypted,
    last_changes: Changes,
    counter: u32,
}

impl Harness {
    fn rng(&mut self) -> MissiveRng {
        MissiveRng {
            fill: Some(fill),
            user_data: (&mut *self.rng as *mut Rng).cast(),
        }
    }

    fn new(seed: u64) -> Harness {
        let mut rng = Box::new(Rng {
            state: seed,
            fail_after: None,
            given: 0,
        });
        let r = MissiveRng {
            fill: Some(fill),
            user_data: (&mut *rng as *mut Rng).cast(),
        };
        let sender = Party::new(SENDER, 11, &r);
        let mut receiver = Party::new(RECEIVER, 22, &r);
        // The receiver publishes: a one-time prekey (unless the seed says not), a signed
        // prekey, and a Kyber prekey (last-resort when the seed says so).
        let one_time = seed & 1 == 0;
        let last_resort = seed & 2 != 0;
        let mut pk = null_mut();
        let mut spk = null_mut();
        let mut kpk = null_mut();
        let mut bundle = null_mut();
        assert!(ok(ffi!(missive_signed_pre_key_record_generate(
            &r,
            receiver.identity,
            1,
            NOW,
            &mut spk
        ))));
        assert!(ok(ffi!(missive_kyber_pre_key_record_generate(
            &r,
            receiver.identity,
            1,
            NOW,
            last_resort,
            &mut kpk
        ))));
        if one_time {
            assert!(ok(ffi!(missive_pre_key_record_generate(&r, 1, &mut pk))));
        }
        for (key, st, b) in [
            ("signed_pre_key/1", Buf::new(), 0),
            ("kyber_pre_key/1", Buf::new(), 1),
            ("pre_key/1", Buf::new(), 2),
        ] {
            let mut st = st;
            let status = match b {
                0 => ffi!(missive_signed_pre_key_record_serialize(spk, &mut st.0)),
                1 => ffi!(missive_kyber_pre_key_record_serialize(kpk, &mut st.0)),
                _ if one_time => ffi!(missive_pre_key_record_serialize(pk, &mut st.0)),
                _ => continue,
            };
            assert!(ok(status));
            receiver.db.insert(key.into(), st.bytes());
        }
        assert!(ok(ffi!(missive_pre_key_bundle_from_records(
            receiver.identity,
            22,
            1,
            pk,
            spk,
            kpk,
            &mut bundle
        ))));
        ffi_void!(missive_pre_key_record_free(&mut pk));
        ffi_void!(missive_signed_pre_key_record_free(&mut spk));
        ffi_void!(missive_kyber_pre_key_record_free(&mut kpk));
        let mut h = Harness {
            rng,
            sender,
            receiver,
            in_flight: Vec::new(),
            sent: BTreeSet::new(),
            delivered: BTreeSet::new(),
            group: Vec::new(),
            group_sent: BTreeSet::new(),
            group_delivered: BTreeSet::new(),
            shared: false,
            last_decrypted: Decrypted(null_mut()),
            last_changes: Changes(null_mut()),
            counter: 0,
        };
        let rec = Records::new();
        h.sender.load_peer(&rec, RECEIVER);
        let mut c = Changes(null_mut());
        let remote = address(RECEIVER);
        let r = h.rng();
        assert!(ok(ffi!(missive_session_process_bundle(
            h.sender.device,
            &r,
            &remote,
            rec.0,
            bundle,
            NOW,
            null_mut(),
            &mut c.0
        ))));
        h.sender.commit(RECEIVER, &c);
        ffi_void!(missive_pre_key_bundle_free(&mut bundle));
        h
    }

    fn unique(&mut self, extra: usize) -> Vec<u8> {
        self.counter += 1;
        let mut p = self.counter.to_le_bytes().to_vec();
        p.extend(std::iter::repeat_n(0x61, extra));
        p
    }

    /// `from` encrypts `plaintext` for `to`; the message, or the status.
    fn encrypt(
        &mut self,
        from_sender: bool,
        plaintext: &[u8],
    ) -> Result<(u32, Vec<u8>), MissiveStatus> {
        let r = self.rng();
        let (from, to) = if from_sender {
            (&mut self.sender, RECEIVER)
        } else {
            (&mut self.receiver, SENDER)
        };
        let rec = Records::new();
        from.load_peer(&rec, to);
        let remote = address(to);
        let mut ty = 0u32;
        let mut msg = Buf::new();
        let mut c = Changes(null_mut());
        let st = ffi!(missive_session_encrypt(
            from.device,
            &r,
            &remote,
            rec.0,
            plaintext.as_ptr(),
            plaintext.len(),
            NOW,
            &mut ty,
            &mut msg.0,
            &mut c.0
        ));
        if !ok(st) {
            assert!(c.0.is_null() && msg.is_empty() && ty == 0);
            return Err(st);
        }
        assert!(!c.0.is_null() && !msg.is_empty());
        from.commit(to, &c);
        Ok((ty, msg.bytes()))
    }

    /// The receiver (or the sender, for replies) decrypts; on success commits, keeps the
    /// decrypted handle, and returns the plaintext.
    fn decrypt(
        &mut self,
        at_receiver: bool,
        ty: u32,
        msg: &[u8],
    ) -> Result<Vec<u8>, MissiveStatus> {
        let r = self.rng();
        let (me, peer) = if at_receiver {
            (&mut self.receiver, SENDER)
        } else {
            (&mut self.sender, RECEIVER)
        };
        let rec = Records::new();
        me.load_peer(&rec, peer);
        me.load_prekeys(&rec, msg);
        let remote = address(peer);
        let mut d = Decrypted(null_mut());
        let mut c = Changes(null_mut());
        let st = ffi!(missive_session_decrypt(
            me.device,
            &r,
            &remote,
            rec.0,
            ty,
            msg.as_ptr(),
            msg.len(),
            &mut d.0,
            &mut c.0
        ));
        if !ok(st) {
            assert!(
                d.0.is_null() && c.0.is_null(),
                "outputs of a failed call are NULL"
            );
            return Err(st);
        }
        assert!(!d.0.is_null() && !c.0.is_null());
        let mut p = Buf::new();
        assert!(ok(ffi!(missive_decrypted_plaintext(d.0, &mut p.0))));
        me.commit(peer, &c);
        if at_receiver {
            self.last_decrypted = d;
            self.last_changes = c;
        }
        Ok(p.bytes())
    }

    /// A message arrives at the receiver: whatever decrypts was sent by the sender.
    fn arrive(&mut self, ty: u32, msg: &[u8]) -> Result<Vec<u8>, MissiveStatus> {
        let got = self.decrypt(true, ty, msg)?;
        assert!(self.sent.contains(&got), "decrypted something never sent");
        self.delivered.insert(got.clone());
        Ok(got)
    }

    fn group_arrive(&mut self, msg: &[u8]) -> Result<Vec<u8>, MissiveStatus> {
        let rec = Records::new();
        self.receiver.load_sender_key(&rec, SENDER);
        let from = address(SENDER);
        let mut p = Buf::new();
        let mut c = Changes(null_mut());
        let st = ffi!(missive_group_decrypt(
            self.receiver.device,
            rec.0,
            &from,
            msg.as_ptr(),
            msg.len(),
            &mut p.0,
            &mut c.0
        ));
        if !ok(st) {
            assert!(c.0.is_null() && p.is_empty());
            return Err(st);
        }
        let got = p.bytes();
        assert!(
            self.group_sent.contains(&got),
            "a group message never sent decrypted"
        );
        self.receiver.commit(SENDER, &c);
        self.group_delivered.insert(got.clone());
        Ok(got)
    }

    fn step(&mut self, input: &mut Input<'_>) {
        match input.byte() % op::COUNT {
            op::SEND if self.in_flight.len() < MAX_IN_FLIGHT => {
                let p = self.unique(usize::from(input.byte() % 64));
                let (ty, m) = self
                    .encrypt(true, &p)
                    .expect("the sender always has a session");
                self.sent.insert(p.clone());
                self.in_flight.push((ty, m, p));
            }
            op::DELIVER if !self.in_flight.is_empty() => {
                let i = usize::from(input.byte()) % self.in_flight.len();
                let (ty, m, p) = self.in_flight[i].clone();
                let first = !self.delivered.contains(&p);
                let got = self.arrive(ty, &m);
                if first {
                    assert_eq!(got, Ok(p), "an honest message did not decrypt");
                } else {
                    assert!(got.is_err(), "a replay decrypted");
                }
            }
            op::REPLY => {
                let p = self.unique(3);
                if let Ok((ty, m)) = self.encrypt(false, &p) {
                    assert_eq!(
                        self.decrypt(false, ty, &m),
                        Ok(p),
                        "a reply did not decrypt"
                    );
                }
            }
            op::TAMPER if !self.in_flight.is_empty() => {
                let i = usize::from(input.byte()) % self.in_flight.len();
                let (ty, mut m, _) = self.in_flight[i].clone();
                tamper(&mut m, input);
                let _ = self.arrive(ty, &m);
            }
            op::RAW => {
                let ty = input.u32() % 5;
                let n = usize::from(input.byte());
                let raw = input.bytes(n).to_vec();
                let _ = self.arrive(ty, &raw);
            }
            op::PARSE => {
                let n = usize::from(input.byte()) * 8;
                parse_everything(input.bytes(n));
            }
            op::GROUP => self.share_group(),
            op::GROUP_SEND if self.group.len() < MAX_IN_FLIGHT => {
                let p = self.unique(usize::from(input.byte() % 64));
                if let Some(m) = self.group_encrypt(&p) {
                    self.group_sent.insert(p.clone());
                    self.group.push((m, p, self.shared));
                }
            }
            op::GROUP_DELIVER if !self.group.is_empty() => {
                let i = usize::from(input.byte()) % self.group.len();
                let (mut m, p, shared) = self.group[i].clone();
                let how = input.byte();
                if how & 4 != 0 {
                    tamper(&mut m, input);
                    let _ = self.group_arrive(&m);
                } else {
                    let first = shared && !self.group_delivered.contains(&p);
                    let got = self.group_arrive(&m);
                    if first {
                        assert_eq!(got, Ok(p), "an honest group message did not decrypt");
                    }
                }
            }
            op::BATCH => self.batch(input),
            op::DIST => {
                let n = usize::from(input.byte());
                let raw = input.bytes(n);
                if !self.last_decrypted.0.is_null() {
                    let rec = Records::new();
                    self.receiver.load_sender_key(&rec, SENDER);
                    let mut c = Changes(null_mut());
                    let st = ffi!(missive_group_process_distribution(
                        self.receiver.device,
                        rec.0,
                        self.last_decrypted.0,
                        raw.as_ptr(),
                        raw.len(),
                        &mut c.0
                    ));
                    assert_eq!(ok(st), !c.0.is_null());
                }
            }
            op::RNG_FAIL => {
                self.rng.fail_after = Some(self.rng.given + usize::from(input.byte()) * 16);
                let p = self.unique(1);
                if let Some(m) = self.group_encrypt(&p) {
                    self.group_sent.insert(p.clone());
                    self.group.push((m, p, self.shared));
                }
                let mut kp = null_mut();
                let r = self.rng();
                let st = ffi!(missive_identity_key_pair_generate(&r, &mut kp));
                assert_eq!(ok(st), !kp.is_null());
                ffi_void!(missive_identity_key_pair_free(&mut kp));
                self.rng.fail_after = None;
            }
            op::FINGERPRINT => fingerprint(input),
            op::BAD_POINTERS => self.bad_pointers(input),
            op::CHANGES => self.inspect_changes(input),
            _ => {}
        }
    }

    fn group_encrypt(&mut self, p: &[u8]) -> Option<Vec<u8>> {
        let r = self.rng();
        let rec = Records::new();
        self.sender.load_sender_key(&rec, SENDER);
        let mut m = Buf::new();
        let mut c = Changes(null_mut());
        let st = ffi!(missive_group_encrypt(
            self.sender.device,
            &r,
            rec.0,
            GROUP_ID.as_ptr(),
            16,
            p.as_ptr(),
            p.len(),
            &mut m.0,
            &mut c.0
        ));
        if !ok(st) {
            assert!(c.0.is_null() && m.is_empty());
            return None;
        }
        self.sender.commit(SENDER, &c);
        Some(m.bytes())
    }

    fn share_group(&mut self) {
        let r = self.rng();
        let rec = Records::new();
        self.sender.load_sender_key(&rec, SENDER);
        let mut skdm = Buf::new();
        let mut c = Changes(null_mut());
        let st = ffi!(missive_group_create_distribution(
            self.sender.device,
            &r,
            rec.0,
            GROUP_ID.as_ptr(),
            16,
            &mut skdm.0,
            &mut c.0
        ));
        if !ok(st) {
            return; // the RNG failed
        }
        self.sender.commit(SENDER, &c);
        let skdm = skdm.bytes();
        // Over the 1:1 session, as an ordinary message (its plaintext is not a chat
        // message, so it is not in `sent`).
        let Ok((ty, m)) = self.encrypt(true, &skdm) else {
            return;
        };
        let Ok(got) = self.decrypt(true, ty, &m) else {
            return;
        };
        assert_eq!(got, skdm);
        let rec = Records::new();
        self.receiver.load_sender_key(&rec, SENDER);
        let mut c = Changes(null_mut());
        let st = ffi!(missive_group_process_distribution(
            self.receiver.device,
            rec.0,
            self.last_decrypted.0,
            skdm.as_ptr(),
            skdm.len(),
            &mut c.0
        ));
        assert!(ok(st), "an honest distribution was refused");
        self.receiver.commit(SENDER, &c);
        self.shared = true;
    }

    fn batch(&mut self, input: &mut Input<'_>) {
        let n = usize::from(input.byte() % 6);
        let mut bodies: Vec<Vec<u8>> = Vec::with_capacity(n);
        for _ in 0..n {
            let pick = input.byte();
            if pick & 1 == 0 && !self.group.is_empty() {
                bodies.push(
                    self.group[usize::from(pick >> 1) % self.group.len()]
                        .0
                        .clone(),
                );
            } else {
                let len = usize::from(input.byte());
                bodies.push(input.bytes(len).to_vec());
            }
        }
        let from = address(SENDER);
        let messages: Vec<MissiveGroupMessage> = bodies
            .iter()
            .map(|b| MissiveGroupMessage {
                sender: from,
                message: b.as_ptr(),
                message_len: b.len(),
            })
            .collect();
        let mut results: Vec<MissiveGroupResult> = (0..n)
            .map(|_| MissiveGroupResult {
                status: MissiveStatus::MISSIVE_OK,
                plaintext: MissiveBuffer {
                    data: null_mut(),
                    len: 0,
                },
            })
            .collect();
        let rec = Records::new();
        self.receiver.load_sender_key(&rec, SENDER);
        let mut c = Changes(null_mut());
        let st = ffi!(missive_group_decrypt_batch(
            self.receiver.device,
            rec.0,
            messages.as_ptr(),
            n,
            results.as_mut_ptr(),
            &mut c.0
        ));
        assert!(ok(st), "a batch with valid pointers ran");
        for r in &mut results {
            let p = Buf(std::mem::replace(
                &mut r.plaintext,
                MissiveBuffer {
                    data: null_mut(),
                    len: 0,
                },
            ));
            checked(r.status);
            if ok(r.status) {
                let got = p.bytes();
                assert!(
                    self.group_sent.contains(&got),
                    "a batch decrypted something never sent"
                );
                self.group_delivered.insert(got);
            } else {
                assert!(p.is_empty());
            }
        }
        self.receiver.commit(SENDER, &c);
    }

    fn bad_pointers(&mut self, input: &mut Input<'_>) {
        use MissiveStatus::*;
        let len = usize::from(input.byte()).max(1);
        let small = usize::from(input.byte()) % 33;
        let a = address(SENDER);
        let rec = Records::new();
        let mut d = null_mut();
        let mut c = null_mut();
        let mut b = MissiveBuffer {
            data: null_mut(),
            len: 0,
        };
        let r = self.rng();
        // NULL data with a non-zero length is refused before anything is read.
        assert_eq!(
            ffi!(missive_session_decrypt(
                self.receiver.device,
                &r,
                &a,
                rec.0,
                2,
                null(),
                len,
                &mut d,
                &mut c
            )),
            MISSIVE_ERROR_NULL_POINTER
        );
        assert!(d.is_null() && c.is_null());
        assert_eq!(
            ffi!(missive_records_add_pre_key(rec.0, null(), len)),
            MISSIVE_ERROR_NULL_POINTER
        );
        assert_eq!(
            ffi!(missive_group_decrypt(
                self.receiver.device,
                rec.0,
                &a,
                null(),
                len,
                &mut b,
                &mut c
            )),
            MISSIVE_ERROR_NULL_POINTER
        );
        let noname = MissiveAddress {
            name: null(),
            name_len: len,
            device_id: 1,
        };
        assert_eq!(
            ffi!(missive_records_set_session(rec.0, &noname, null(), 0)),
            MISSIVE_ERROR_NULL_POINTER
        );
        // Output arrays shorter than the value are refused.
        let mut out = [0u8; 33];
        let some_message = [0x33u8; 33];
        assert_eq!(
            ffi!(missive_identity_key_pair_public_key(
                self.sender.identity,
                out.as_mut_ptr(),
                small
            )),
            MISSIVE_ERROR_INVALID_ARGUMENT
        );
        assert_eq!(
            ffi!(missive_sender_key_message_distribution_id(
                some_message.as_ptr(),
                33,
                out.as_mut_ptr(),
                small % 16
            )),
            MISSIVE_ERROR_INVALID_ARGUMENT
        );
        // An unknown message type.
        let m = [0x44u8; 8];
        assert_eq!(
            ffi!(missive_session_decrypt(
                self.receiver.device,
                &r,
                &a,
                rec.0,
                5 + small as u32,
                m.as_ptr(),
                8,
                &mut d,
                &mut c
            )),
            MISSIVE_ERROR_INVALID_ARGUMENT
        );
        // A distribution id of the wrong length.
        assert_eq!(
            ffi!(missive_records_set_sender_key(
                rec.0,
                &a,
                GROUP_ID.as_ptr(),
                small % 16,
                null(),
                0
            )),
            MISSIVE_ERROR_INVALID_ARGUMENT
        );
    }

    fn inspect_changes(&mut self, input: &mut Input<'_>) {
        let c = self.last_changes.0;
        if c.is_null() {
            return;
        }
        let mut count = 0usize;
        assert!(ok(ffi!(missive_changes_sender_key_count(c, &mut count))));
        let index = usize::from(input.byte() % 3);
        let (mut name, mut record) = (Buf::new(), Buf::new());
        let mut device = 0u32;
        let mut dist = [0u8; 16];
        let st = ffi!(missive_changes_sender_key(
            c,
            index,
            &mut name.0,
            &mut device,
            dist.as_mut_ptr(),
            16,
            &mut record.0
        ));
        assert_eq!(ok(st), index < count);
        let mut empty = false;
        assert!(ok(ffi!(missive_changes_is_empty(c, &mut empty))));
        let mut present = false;
        let mut replaced = false;
        let mut key = [0u8; 33];
        let mut prev = [0u8; 33];
        assert!(ok(ffi!(missive_changes_identity(
            c,
            &mut present,
            key.as_mut_ptr(),
            33,
            &mut replaced,
            prev.as_mut_ptr(),
            33
        ))));
        // A records cache brought up to date with it.
        let rec = Records::new();
        assert!(ok(ffi!(missive_records_apply(rec.0, c))));
    }
}

/// Flips a bit, truncates, sets a byte or appends one.
fn tamper(m: &mut Vec<u8>, input: &mut Input<'_>) {
    let how = input.byte() % 4;
    let pos = usize::from(input.byte()) * 8 + usize::from(input.byte() % 8);
    let value = input.byte();
    if m.is_empty() {
        m.push(value);
        return;
    }
    let at = pos % m.len();
    match how {
        0 => m[at] ^= 1 << (value % 8),
        1 => m.truncate(at),
        2 => m[at] = value,
        _ => m.push(value),
    }
}

/// The bytes to every parser: a success gives a handle (whose accessors work), a
/// failure none.
fn parse_everything(bytes: &[u8]) {
    let (p, n) = (bytes.as_ptr(), bytes.len());
    macro_rules! parse {
        ($parse:ident, $free:ident) => {{
            let mut h = null_mut();
            let st = ffi!($parse(p, n, &mut h));
            assert_eq!(ok(st), !h.is_null());
            ffi_void!($free(&mut h));
        }};
    }
    parse!(
        missive_identity_key_pair_deserialize,
        missive_identity_key_pair_free
    );
    parse!(
        missive_pre_key_record_deserialize,
        missive_pre_key_record_free
    );
    parse!(
        missive_signed_pre_key_record_deserialize,
        missive_signed_pre_key_record_free
    );
    parse!(
        missive_kyber_pre_key_record_deserialize,
        missive_kyber_pre_key_record_free
    );
    parse!(
        missive_pre_key_bundle_deserialize,
        missive_pre_key_bundle_free
    );
    let mut rec = null_mut();
    if ok(ffi!(missive_session_record_deserialize(p, n, &mut rec))) {
        let mut b = Buf::new();
        assert!(ok(ffi!(missive_session_record_serialize(rec, &mut b.0))));
        let mut v = 0u32;
        assert!(ok(ffi!(missive_session_record_version(rec, &mut v))));
        let mut usable = false;
        assert!(ok(ffi!(missive_session_record_has_usable_sender_chain(
            rec,
            NOW,
            &mut usable
        ))));
        assert!(!usable || v == 3 || v == 4);
        let mut key = [0u8; 33];
        let st = ffi!(missive_session_record_remote_identity(
            rec,
            key.as_mut_ptr(),
            33
        ));
        assert_eq!(ok(st), v != 0);
    } else {
        assert!(rec.is_null());
    }
    ffi_void!(missive_session_record_free(&mut rec));
    let mut dist = [0u8; 16];
    ffi!(missive_sender_key_message_distribution_id(
        p,
        n,
        dist.as_mut_ptr(),
        16
    ));
    ffi!(missive_sender_key_distribution_message_distribution_id(
        p,
        n,
        dist.as_mut_ptr(),
        16
    ));
    let mut needs = MissivePreKeyNeeds {
        version: 9,
        has_pre_key: true,
        pre_key_id: 9,
        signed_pre_key_id: 9,
        has_kyber_pre_key: true,
        kyber_pre_key_id: 9,
        base_key: [9; 33],
    };
    if ok(ffi!(missive_prekey_message_needs(p, n, &mut needs))) {
        assert!(needs.version == 3 || needs.version == 4);
        assert_eq!(needs.has_kyber_pre_key, needs.version == 4);
    } else {
        assert_eq!(needs.version, 0, "a failed call leaves zeroed outputs");
    }
    // As stored records, each parsed when set.
    let r = Records::new();
    let a = address(SENDER);
    ffi!(missive_records_set_session(r.0, &a, p, n));
    ffi!(missive_records_set_identity(r.0, &a, p, n));
    ffi!(missive_records_set_sender_key(
        r.0,
        &a,
        GROUP_ID.as_ptr(),
        16,
        p,
        n
    ));
    ffi!(missive_records_add_pre_key(r.0, p, n));
    ffi!(missive_records_add_signed_pre_key(r.0, p, n));
    ffi!(missive_records_add_kyber_pre_key(r.0, p, n));
}

fn fingerprint(input: &mut Input<'_>) {
    let iterations = u32::from(input.byte() % 8);
    let n = usize::from(input.byte());
    let raw = input.bytes(n);
    let (a, b) = raw.split_at(raw.len() / 2);
    let key_a = a.get(..33.min(a.len())).unwrap_or_default();
    let key_b = b.get(..33.min(b.len())).unwrap_or_default();
    let mut fp = null_mut();
    let st = ffi!(missive_fingerprint_new(
        2,
        iterations,
        a.as_ptr(),
        a.len(),
        key_a.as_ptr(),
        key_a.len(),
        b.as_ptr(),
        b.len(),
        key_b.as_ptr(),
        key_b.len(),
        &mut fp
    ));
    assert_eq!(ok(st), !fp.is_null());
    if !fp.is_null() {
        let mut digits = [0i8; 61];
        assert!(ok(ffi!(missive_fingerprint_display_string(
            fp,
            digits.as_mut_ptr().cast(),
            61
        ))));
        assert_eq!(digits[60], 0);
        ffi!(missive_fingerprint_compare(fp, raw.as_ptr(), raw.len()));
    }
    ffi_void!(missive_fingerprint_free(&mut fp));
}

/// The check of the `c_api` target.
pub fn check(data: &[u8]) {
    let mut input = Input(data);
    let seed = u64::from_le_bytes(std::array::from_fn(|_| input.byte()));
    let mut h = Harness::new(seed);
    let mut steps = 0;
    while !input.done() && steps < 256 {
        h.step(&mut input);
        steps += 1;
    }
}

/// Seed inputs: honest conversations and group traffic with some of everything.
pub fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    use op::*;
    let conversation = |seed: u64| {
        let mut v = seed.to_le_bytes().to_vec();
        v.extend([
            SEND, 5, SEND, 9, DELIVER, 1, DELIVER, 0, REPLY, SEND, 3, SEND, 4,
        ]);
        v.extend([
            DELIVER, 3, TAMPER, 2, 0, 1, 3, DELIVER, 2, REPLY, SEND, 0, DELIVER, 4,
        ]);
        v
    };
    let mut group = 0u64.to_le_bytes().to_vec();
    group.extend([
        SEND, 1, DELIVER, 0, REPLY, GROUP, GROUP_SEND, 7, GROUP_SEND, 2, GROUP_SEND, 3,
    ]);
    group.extend([
        GROUP_DELIVER,
        1,
        0,
        BATCH,
        4,
        0,
        4,
        1,
        3,
        0x33,
        1,
        2,
        2,
        GROUP_DELIVER,
        0,
        4,
        1,
        2,
        3,
    ]);
    group.extend([
        CHANGES, 0, CHANGES, 1, DIST, 4, 0x33, 0x0a, 0x01, 0x02, RNG_FAIL, 3, GROUP_SEND, 1,
    ]);
    let mut hostile = 2u64.to_le_bytes().to_vec();
    hostile.extend([RAW, 3, 0, 0, 0, 6, 0x44, 1, 2, 3, 4, 5, PARSE, 1]);
    hostile.extend(std::iter::repeat_n(0x01u8, 8));
    hostile.extend([BAD_POINTERS, 7, 12, FINGERPRINT, 2, 66]);
    hostile.extend(std::iter::repeat_n(0x05u8, 66));
    hostile.extend([SEND, 2, DELIVER, 0, RNG_FAIL, 0, SEND, 1, DELIVER, 1]);
    vec![
        ("conversation-one-time", conversation(0)),
        ("conversation-last-resort", conversation(3)),
        ("group", group),
        ("hostile", hostile),
    ]
}

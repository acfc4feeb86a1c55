//! A running driver process and the requests it serves.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::install::{ensure_ready, interop_dir};
use crate::types::{
    Bundle, CiphertextMessage, PartyKeys, SignalMessageInfo, bad, get_bool, get_bytes, get_u32,
    opt_bytes,
};
use crate::{HarnessError, PeerError};

/// How long one request may take. Generous: some tests make tens of thousands of
/// messages in one request on a shared 2-core machine.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// stderr lines kept for the report when a driver dies.
const STDERR_TAIL: usize = 40;

/// Which real peer to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeerKind {
    /// `@signalapp/libsignal-client` 0.103.0: v4 (PQXDH, SPQR), sender keys.
    Client,
    /// `libsignal` 6.0.0 (libsignal-node): v3 (X3DH), 1:1 only.
    Legacy,
}

impl PeerKind {
    fn script(self) -> &'static str {
        match self {
            PeerKind::Client => "driver/client.js",
            PeerKind::Legacy => "driver/legacy.js",
        }
    }
}

/// One running driver process. Dropping it ends the process.
pub struct Peer {
    kind: PeerKind,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    next_id: u64,
    timeout: Duration,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("kind", &self.kind)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// Starts a driver: checks that `node` exists, runs `npm ci` in `interop/` first if
    /// the pinned packages are not installed, and waits for the driver to answer.
    pub fn spawn(kind: PeerKind) -> Result<Peer, HarnessError> {
        ensure_ready()?;
        let dir = interop_dir();
        let mut child = Command::new("node")
            .arg(dir.join(kind.script()))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HarnessError::Spawn(format!("cannot start node: {e}")))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr_pipe = child.stderr.take();
        let (Some(stdout), Some(stderr_pipe)) = (stdout, stderr_pipe) else {
            return Err(HarnessError::Spawn("driver pipes missing".into()));
        };
        let (tx, lines) = channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr);
        thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut t) = tail.lock() {
                    if t.len() == STDERR_TAIL {
                        t.pop_front();
                    }
                    t.push_back(line);
                }
            }
        });
        let mut peer = Peer {
            kind,
            child,
            stdin,
            lines,
            stderr,
            next_id: 1,
            timeout: DEFAULT_TIMEOUT,
        };
        peer.call("ping", json!({}))
            .map_err(|e| HarnessError::Spawn(format!("{} did not answer: {e}", kind.script())))?;
        Ok(peer)
    }

    /// Which peer this is.
    pub fn kind(&self) -> PeerKind {
        self.kind
    }

    /// Sets how long a single request may take before it counts as a driver failure.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Sends one command with its arguments (a JSON object, or `null` for none) and
    /// returns the response object (including `id` and `ok`).
    pub fn call(&mut self, cmd: &str, args: Value) -> Result<Value, PeerError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut req = match args {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            _ => return Err(PeerError::Driver("arguments must be a JSON object".into())),
        };
        req.insert("id".into(), json!(id));
        req.insert("cmd".into(), json!(cmd));
        let mut line = Value::Object(req).to_string();
        line.push('\n');
        let write = match self.stdin.as_mut() {
            Some(stdin) => stdin
                .write_all(line.as_bytes())
                .and_then(|()| stdin.flush()),
            None => return Err(PeerError::Driver("driver stdin closed".into())),
        };
        if let Err(e) = write {
            return Err(self.died(&format!("cannot write request: {e}")));
        }
        let deadline = Instant::now() + self.timeout;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            let text = match self.lines.recv_timeout(wait) {
                Ok(t) => t,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.died(&format!("no answer to '{cmd}' within {wait:?}")));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.died(&format!("driver exited during '{cmd}'")));
                }
            };
            let resp: Value = serde_json::from_str(&text)
                .map_err(|e| PeerError::Driver(format!("unreadable response {text:?}: {e}")))?;
            if resp.get("id").and_then(Value::as_u64) != Some(id) {
                continue; // a stale answer to an earlier, timed-out request
            }
            return if resp.get("ok").and_then(Value::as_bool) == Some(true) {
                Ok(resp)
            } else {
                let error = resp
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("(no error text)")
                    .to_owned();
                let code = resp.get("code").map(|c| match c {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                let log = resp
                    .get("log")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|l| l.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                Err(PeerError::Rejected { error, code, log })
            };
        }
    }

    fn died(&mut self, what: &str) -> PeerError {
        let status = self.child.try_wait().ok().flatten();
        let tail = self
            .stderr
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default();
        PeerError::Driver(format!(
            "{}: {what} (exit status: {status:?}); stderr tail:\n{tail}",
            self.kind.script()
        ))
    }

    /// `new_party` with a random registration id and a fresh identity.
    pub fn new_party(
        &mut self,
        party: &str,
        name: &str,
        device_id: u32,
    ) -> Result<PartyKeys, PeerError> {
        self.new_party_with(party, name, device_id, None, None)
    }

    /// `new_party` with a chosen registration id and/or identity private key.
    pub fn new_party_with(
        &mut self,
        party: &str,
        name: &str,
        device_id: u32,
        registration_id: Option<u32>,
        identity_private: Option<&[u8]>,
    ) -> Result<PartyKeys, PeerError> {
        let mut args = json!({"party": party, "name": name, "device_id": device_id});
        if let Some(r) = registration_id {
            args["registration_id"] = json!(r);
        }
        if let Some(k) = identity_private {
            args["identity_private"] = json!(hex::encode(k));
        }
        let r = self.call("new_party", args)?;
        Ok(PartyKeys {
            identity_key: get_bytes(&r, "identity_key")?,
            identity_private: get_bytes(&r, "identity_private")?,
            registration_id: get_u32(&r, "registration_id")?,
        })
    }

    /// Fresh signed (and, for v4, Kyber) prekeys, plus a one-time prekey if asked.
    pub fn make_bundle(&mut self, party: &str, one_time_prekey: bool) -> Result<Bundle, PeerError> {
        let r = self.call(
            "make_bundle",
            json!({"party": party, "one_time_prekey": one_time_prekey}),
        )?;
        Bundle::from_json(&r)
    }

    /// Starts a session with `(remote_name, remote_device)` from its bundle.
    pub fn process_bundle(
        &mut self,
        party: &str,
        remote_name: &str,
        remote_device: u32,
        bundle: &Bundle,
    ) -> Result<(), PeerError> {
        self.call(
            "process_bundle",
            json!({"party": party, "remote_name": remote_name, "remote_device": remote_device,
                   "bundle": bundle.to_json()}),
        )?;
        Ok(())
    }

    /// Encrypts for `(remote_name, remote_device)`.
    pub fn encrypt(
        &mut self,
        party: &str,
        remote_name: &str,
        remote_device: u32,
        plaintext: &[u8],
    ) -> Result<CiphertextMessage, PeerError> {
        let r = self.call(
            "encrypt",
            json!({"party": party, "remote_name": remote_name, "remote_device": remote_device,
                   "plaintext": hex::encode(plaintext)}),
        )?;
        let message_type = r
            .get("type")
            .and_then(Value::as_u64)
            .and_then(|t| u8::try_from(t).ok())
            .ok_or_else(|| bad("missing 'type'"))?;
        Ok(CiphertextMessage {
            message_type,
            body: get_bytes(&r, "body")?,
        })
    }

    /// Decrypts a message from `(remote_name, remote_device)`.
    pub fn decrypt(
        &mut self,
        party: &str,
        remote_name: &str,
        remote_device: u32,
        message: &CiphertextMessage,
    ) -> Result<Vec<u8>, PeerError> {
        let r = self.call(
            "decrypt",
            json!({"party": party, "remote_name": remote_name, "remote_device": remote_device,
                   "type": message.message_type, "body": hex::encode(&message.body)}),
        )?;
        get_bytes(&r, "plaintext")
    }

    /// The peer's serialized session record for `(remote_name, remote_device)`, if any
    /// (libsignal-node's is its JSON text).
    pub fn session_record(
        &mut self,
        party: &str,
        remote_name: &str,
        remote_device: u32,
    ) -> Result<Option<Vec<u8>>, PeerError> {
        let r = self.call(
            "session_record",
            json!({"party": party, "remote_name": remote_name, "remote_device": remote_device}),
        )?;
        opt_bytes(&r, "record")
    }

    /// Whether the party has a usable session with `(remote_name, remote_device)`.
    pub fn has_session(
        &mut self,
        party: &str,
        remote_name: &str,
        remote_device: u32,
    ) -> Result<bool, PeerError> {
        let r = self.call(
            "has_session",
            json!({"party": party, "remote_name": remote_name, "remote_device": remote_device}),
        )?;
        get_bool(&r, "has_session")
    }

    /// XEdDSA signature (64 bytes) by a 32-byte Curve25519 private key.
    pub fn xeddsa_sign(&mut self, private: &[u8], message: &[u8]) -> Result<Vec<u8>, PeerError> {
        let r = self.call(
            "xeddsa_sign",
            json!({"private": hex::encode(private), "message": hex::encode(message)}),
        )?;
        get_bytes(&r, "signature")
    }

    /// XEdDSA verification against a serialized (33-byte) public key.
    pub fn xeddsa_verify(
        &mut self,
        public: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<bool, PeerError> {
        let r = self.call(
            "xeddsa_verify",
            json!({"public": hex::encode(public), "message": hex::encode(message),
                   "signature": hex::encode(signature)}),
        )?;
        get_bool(&r, "valid")
    }

    /// X25519 agreement (32 bytes).
    pub fn agree(&mut self, private: &[u8], public: &[u8]) -> Result<Vec<u8>, PeerError> {
        let r = self.call(
            "agree",
            json!({"private": hex::encode(private), "public": hex::encode(public)}),
        )?;
        get_bytes(&r, "shared")
    }

    /// HKDF-SHA256 (libsignal-client only).
    pub fn hkdf(
        &mut self,
        ikm: &[u8],
        salt: Option<&[u8]>,
        info: &[u8],
        length: usize,
    ) -> Result<Vec<u8>, PeerError> {
        let r = self.call(
            "hkdf",
            json!({"ikm": hex::encode(ikm), "salt": salt.map(hex::encode),
                   "info": hex::encode(info), "length": length}),
        )?;
        get_bytes(&r, "okm")
    }

    /// A fresh Kyber1024 key pair `(public, secret)`, both type-prefixed
    /// (libsignal-client only).
    pub fn kem_generate(&mut self) -> Result<(Vec<u8>, Vec<u8>), PeerError> {
        let r = self.call("kem_generate", json!({}))?;
        Ok((get_bytes(&r, "public")?, get_bytes(&r, "secret")?))
    }

    /// libsignal-client's `Fingerprint.new(iterations, version, ...)`: the 60 displayable
    /// digits and the scannable encoding (libsignal-client only). Keys are serialized
    /// (33 bytes).
    pub fn fingerprint(
        &mut self,
        iterations: u32,
        version: u32,
        local: (&[u8], &[u8]),
        remote: (&[u8], &[u8]),
    ) -> Result<(String, Vec<u8>), PeerError> {
        let r = self.call(
            "fingerprint",
            json!({"iterations": iterations, "version": version,
                   "local_id": hex::encode(local.0), "local_key": hex::encode(local.1),
                   "remote_id": hex::encode(remote.0), "remote_key": hex::encode(remote.1)}),
        )?;
        let digits = r
            .get("displayable")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing 'displayable'"))?;
        Ok((digits.to_owned(), get_bytes(&r, "scannable")?))
    }

    /// libsignal-client's `ScannableFingerprint.compare`: whether `theirs` (scanned bytes)
    /// matches `ours` (libsignal-client only). A version mismatch or unparsable bytes are
    /// [`PeerError::Rejected`].
    pub fn fingerprint_compare(&mut self, ours: &[u8], theirs: &[u8]) -> Result<bool, PeerError> {
        let r = self.call(
            "fingerprint_compare",
            json!({"ours": hex::encode(ours), "theirs": hex::encode(theirs)}),
        )?;
        get_bool(&r, "matches")
    }

    /// libsignal-client's parse of a serialized `SignalMessage` (libsignal-client only).
    pub fn parse_signal_message(&mut self, body: &[u8]) -> Result<SignalMessageInfo, PeerError> {
        let r = self.call("parse_signal_message", json!({"body": hex::encode(body)}))?;
        let small = |k: &str| -> Result<u32, PeerError> { get_u32(&r, k) };
        Ok(SignalMessageInfo {
            version: u8::try_from(small("version")?).map_err(|_| bad("version"))?,
            counter: small("counter")?,
            pq_ratchet: get_bytes(&r, "pq_ratchet")?,
            ciphertext: get_bytes(&r, "ciphertext")?,
        })
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Closing stdin asks the driver to finish; kill it if it lingers.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

'use strict';
// Lab helpers for the sealed-sender experiments (sealed_sender.js) and the vector
// generator (interop/vectors/sealed_sender.js): in-process libsignal-client parties with
// in-memory stores, a schemaless protobuf reader/writer, and the primitives (HKDF, AES-CTR,
// HMAC, AES-GCM-SIV via the peer's own exported class) used to test hypotheses about the
// sealed-sender envelope against the peer. Everything here was written from the protobuf
// encoding spec, RFC 5869 and the peer's public .d.ts API; nothing from libsignal's source.

const crypto = require('crypto');
const S = require('@signalapp/libsignal-client');
const { protobufFields } = require('../driver/common');

const hex = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString('hex'));
// libsignal-client wants a fresh Uint8Array<ArrayBuffer> of exactly the right size.
const u8 = (b) => {
  const src = typeof b === 'string' ? Buffer.from(b, 'hex') : b;
  const out = new Uint8Array(src.length);
  out.set(src);
  return out;
};
const addrKey = (a) => `${a.name()}.${a.deviceId()}`;

// ---------------------------------------------------------------------------------------
// Parties

class Party {
  constructor(name, deviceId, registrationId, identityPrivate = null) {
    const priv = identityPrivate ? S.PrivateKey.deserialize(u8(identityPrivate)) : S.PrivateKey.generate();
    this.identity = new S.IdentityKeyPair(priv.getPublicKey(), priv);
    this.name = name;
    this.deviceId = deviceId;
    this.registrationId = registrationId;
    this.address = S.ProtocolAddress.new(name, deviceId);
    this.identities = new Map();
    this.sessions = new Map();
    this.prekeys = new Map();
    this.signed = new Map();
    this.kyber = new Map();
    this.senderKeys = new Map();
    this.next = 1;
    const p = this;
    this.sessionStore = new (class extends S.SessionStore {
      async saveSession(a, r) {
        p.sessions.set(addrKey(a), Buffer.from(r.serialize()));
      }
      async getSession(a) {
        const s = p.sessions.get(addrKey(a));
        return s ? S.SessionRecord.deserialize(u8(s)) : null;
      }
      async getExistingSessions(as) {
        return as.map((a) => S.SessionRecord.deserialize(u8(p.sessions.get(addrKey(a)))));
      }
    })();
    this.identityStore = new (class extends S.IdentityKeyStore {
      async getIdentityKey() {
        return p.identity.privateKey;
      }
      async getLocalRegistrationId() {
        return p.registrationId;
      }
      async saveIdentity(a, k) {
        p.identities.set(addrKey(a), Buffer.from(k.serialize()));
        return S.IdentityChange.NewOrUnchanged;
      }
      async isTrustedIdentity() {
        return true;
      }
      async getIdentity(a) {
        const k = p.identities.get(addrKey(a));
        return k ? S.PublicKey.deserialize(u8(k)) : null;
      }
    })();
    this.prekeyStore = new (class extends S.PreKeyStore {
      async savePreKey(id, r) {
        p.prekeys.set(id, r);
      }
      async getPreKey(id) {
        if (!p.prekeys.has(id)) throw new Error(`no prekey ${id}`);
        return p.prekeys.get(id);
      }
      async removePreKey(id) {
        p.prekeys.delete(id);
      }
    })();
    this.signedStore = new (class extends S.SignedPreKeyStore {
      async saveSignedPreKey(id, r) {
        p.signed.set(id, r);
      }
      async getSignedPreKey(id) {
        if (!p.signed.has(id)) throw new Error(`no signed prekey ${id}`);
        return p.signed.get(id);
      }
    })();
    this.kyberStore = new (class extends S.KyberPreKeyStore {
      async saveKyberPreKey(id, r) {
        p.kyber.set(id, r);
      }
      async getKyberPreKey(id) {
        if (!p.kyber.has(id)) throw new Error(`no kyber prekey ${id}`);
        return p.kyber.get(id);
      }
      async markKyberPreKeyUsed() {}
    })();
    this.senderKeyStore = new (class extends S.SenderKeyStore {
      async saveSenderKey(s, d, r) {
        p.senderKeys.set(`${addrKey(s)}/${d}`, Buffer.from(r.serialize()));
      }
      async getSenderKey(s, d) {
        const r = p.senderKeys.get(`${addrKey(s)}/${d}`);
        return r ? S.SenderKeyRecord.deserialize(u8(r)) : null;
      }
    })();
  }

  publicKey() {
    return this.identity.publicKey;
  }

  bundle() {
    const id = this.next++;
    const pk = S.PrivateKey.generate();
    this.prekeys.set(id, S.PreKeyRecord.new(id, pk.getPublicKey(), pk));
    const sk = S.PrivateKey.generate();
    const spkSig = this.identity.privateKey.sign(sk.getPublicKey().serialize());
    this.signed.set(id, S.SignedPreKeyRecord.new(id, 0, sk.getPublicKey(), sk, spkSig));
    const kp = S.KEMKeyPair.generate();
    const kSig = this.identity.privateKey.sign(kp.getPublicKey().serialize());
    this.kyber.set(id, S.KyberPreKeyRecord.new(id, 0, kp, kSig));
    return S.PreKeyBundle.new(
      this.registrationId,
      this.deviceId,
      id,
      pk.getPublicKey(),
      id,
      sk.getPublicKey(),
      spkSig,
      this.identity.publicKey,
      id,
      kp.getPublicKey(),
      kSig,
    );
  }

  // Sets up a session this → other (other's bundle) and records each other's identity.
  async connect(other) {
    await S.processPreKeyBundle(other.bundle(), other.address, this.address, this.sessionStore, this.identityStore);
    this.identities.set(addrKey(other.address), Buffer.from(other.publicKey().serialize()));
    other.identities.set(addrKey(this.address), Buffer.from(this.publicKey().serialize()));
  }

  async encrypt(other, text) {
    return S.signalEncrypt(u8(Buffer.from(text)), other.address, this.address, this.sessionStore, this.identityStore);
  }
}

// A trust root, a server certificate and a sender certificate for `party`.
function certificates(party, { keyId = 1, expiration = 2_000_000_000_000, e164 = null, root = null, server = null } = {}) {
  root = root || S.PrivateKey.generate();
  server = server || S.PrivateKey.generate();
  const serverCert = S.ServerCertificate.new(keyId, server.getPublicKey(), root);
  const senderCert = S.SenderCertificate.new(
    party.name,
    e164,
    party.deviceId,
    party.publicKey(),
    expiration,
    serverCert,
    server,
  );
  return { root, server, serverCert, senderCert };
}

// ---------------------------------------------------------------------------------------
// Protobuf (schemaless): fields() reads, encode() writes [{field, wire, value}] as
// protobufFields returns them (varints as numbers or BigInt/strings, bytes as hex).

function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}

function encode(list) {
  const parts = [];
  for (const { field, wire, value } of list) {
    parts.push(varint((field << 3) | wire));
    if (wire === 0) parts.push(varint(value));
    else if (wire === 2) {
      const b = Buffer.from(value, 'hex');
      parts.push(varint(b.length), b);
    } else parts.push(Buffer.from(value, 'hex'));
  }
  return Buffer.concat(parts);
}

const fields = (b) => protobufFields(Buffer.from(b));
const field = (b, n) => {
  const f = fields(b).find((x) => x.field === n);
  return f ? f.value : undefined;
};

// ---------------------------------------------------------------------------------------
// Primitives

function hkdf(ikm, salt, info, len) {
  return Buffer.from(crypto.hkdfSync('sha256', Buffer.from(ikm), Buffer.from(salt || []), Buffer.from(info || []), len));
}

function hmac(key, ...parts) {
  const h = crypto.createHmac('sha256', Buffer.from(key));
  for (const p of parts) h.update(Buffer.from(p));
  return h.digest();
}

function aesCtr(key, iv, data) {
  const c = crypto.createCipheriv('aes-256-ctr', Buffer.from(key), Buffer.from(iv));
  return Buffer.concat([c.update(Buffer.from(data)), c.final()]);
}

// X25519 through the peer's PrivateKey.agree (a plain primitive: same as RFC 7748).
const agree = (priv, pub) => Buffer.from(priv.agree(pub));

function gcmSivEncrypt(key, nonce, aad, pt) {
  return Buffer.from(new S.Aes256GcmSiv(u8(key)).encrypt(u8(pt), u8(nonce), u8(aad)));
}

function gcmSivDecrypt(key, nonce, aad, ct) {
  return Buffer.from(new S.Aes256GcmSiv(u8(key)).decrypt(u8(ct), u8(nonce), u8(aad)));
}

function logToStderr() {
  S.initLogger(S.LogLevel.Info, (level, target, _f, _l, message) => {
    process.stderr.write(`[libsignal ${S.LogLevel[level]}] ${target}: ${message}\n`);
  });
}

// Collects the peer's log lines (for error texts) while `fn` runs.
let logSink = null;
function captureLog() {
  S.initLogger(S.LogLevel.Info, (level, target, _f, _l, message) => {
    if (logSink) logSink.push(`${S.LogLevel[level]} ${target}: ${message}`);
  });
}
async function withLog(fn) {
  logSink = [];
  try {
    const r = await fn();
    return { ok: true, value: r, log: logSink };
  } catch (e) {
    return { ok: false, error: `${e.name === 'Error' ? e.constructor.name : e.name}: ${e.message}`, code: e.code, log: logSink };
  } finally {
    logSink = null;
  }
}

// ---------------------------------------------------------------------------------------
// Reference implementation of both envelopes, as established by sealed_sender.js against the
// peer. Keys: `priv` is a libsignal-client PrivateKey; public keys are 33-byte Buffers
// (0x05 ‖ u). Used only to test hypotheses and to build vectors.

const xor32 = (a, b) => {
  const o = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) o[i] = a[i] ^ b[i];
  return o;
};
const pubOf = (priv) => Buffer.from(priv.getPublicKey().serialize());
const pubKey = (b) => S.PublicKey.deserialize(u8(b));

const V1_MAC_LEN = 10;
const v1Mac = (key, ct) => hmac(key, ct).subarray(0, V1_MAC_LEN);

// v1: 0x11 ‖ protobuf {1: E (33), 2: encrypted static (33 + 10), 3: encrypted message (n + 10)}
function v1Encrypt({ usmc, senderPriv, recipientPub, ephPriv }) {
  const E = pubOf(ephPriv);
  const senderPub = pubOf(senderPriv);
  const eph = hkdf(agree(ephPriv, pubKey(recipientPub)), Buffer.concat([Buffer.from('UnidentifiedDelivery'), recipientPub, E]), '', 96);
  const staticCt = aesCtr(eph.subarray(32, 64), Buffer.alloc(16), senderPub);
  const encStatic = Buffer.concat([staticCt, v1Mac(eph.subarray(64, 96), staticCt)]);
  const st = hkdf(agree(senderPriv, pubKey(recipientPub)), Buffer.concat([eph.subarray(0, 32), encStatic]), '', 96);
  const msgCt = aesCtr(st.subarray(32, 64), Buffer.alloc(16), usmc);
  const encMsg = Buffer.concat([msgCt, v1Mac(st.subarray(64, 96), msgCt)]);
  const body = encode([
    { field: 1, wire: 2, value: hex(E) },
    { field: 2, wire: 2, value: hex(encStatic) },
    { field: 3, wire: 2, value: hex(encMsg) },
  ]);
  return Buffer.concat([Buffer.from([0x11]), body]);
}

function v1Decrypt({ env, recipientPriv }) {
  const recipientPub = pubOf(recipientPriv);
  const E = Buffer.from(field(env.subarray(1), 1), 'hex');
  const encStatic = Buffer.from(field(env.subarray(1), 2), 'hex');
  const encMsg = Buffer.from(field(env.subarray(1), 3), 'hex');
  const eph = hkdf(agree(recipientPriv, pubKey(E)), Buffer.concat([Buffer.from('UnidentifiedDelivery'), recipientPub, E]), '', 96);
  const sct = encStatic.subarray(0, encStatic.length - V1_MAC_LEN);
  if (!v1Mac(eph.subarray(64, 96), sct).equals(encStatic.subarray(sct.length))) throw new Error('v1 static MAC');
  const senderPub = aesCtr(eph.subarray(32, 64), Buffer.alloc(16), sct);
  const st = hkdf(agree(recipientPriv, pubKey(senderPub)), Buffer.concat([eph.subarray(0, 32), encStatic]), '', 96);
  const mct = encMsg.subarray(0, encMsg.length - V1_MAC_LEN);
  if (!v1Mac(st.subarray(64, 96), mct).equals(encMsg.subarray(mct.length))) throw new Error('v1 message MAC');
  return { senderPub, usmc: aesCtr(st.subarray(32, 64), Buffer.alloc(16), mct) };
}

const V2_LABEL_R = 'Sealed Sender v2: r (2023-08)';
const V2_LABEL_K = 'Sealed Sender v2: K';
const V2_LABEL_DH = 'Sealed Sender v2: DH';
const V2_LABEL_DH_SENDER = 'Sealed Sender v2: DH-sender';

function v2Ephemeral(M) {
  return S.PrivateKey.deserialize(u8(hkdf(M, null, V2_LABEL_R, 32)));
}

// Per-recipient key material: c = M ⊕ HKDF(DH(e, B) ‖ E ‖ B, "DH")[..32],
// at = HKDF(DH(A, B) ‖ E ‖ c ‖ A ‖ B, "DH-sender")[..16].
function v2KeyMaterial(M, ephPriv, senderPriv, recipientPub) {
  const E = pubOf(ephPriv);
  const A = pubOf(senderPriv);
  const pad = hkdf(Buffer.concat([agree(ephPriv, pubKey(recipientPub)), E, recipientPub]), null, V2_LABEL_DH, 32);
  const c = xor32(M, pad);
  const at = hkdf(Buffer.concat([agree(senderPriv, pubKey(recipientPub)), E, c, A, recipientPub]), null, V2_LABEL_DH_SENDER, 16);
  return Buffer.concat([c, at]);
}

// Sent message: 0x23 ‖ varint(count) ‖ entries ‖ E (32) ‖ AES-256-GCM-SIV(K, 0^12, "", usmc).
// entry = service id (17) ‖ { device (1) ‖ u16 BE reg id | 0x8000 if another device follows }+ ‖ c ‖ at
// excluded = service id (17) ‖ 0x00
function v2Encrypt({ usmc, senderPriv, recipients, excluded = [], M }) {
  const eph = v2Ephemeral(M);
  const parts = [Buffer.from([0x23]), varint(recipients.length + excluded.length)];
  for (const r of recipients) {
    parts.push(Buffer.from(r.serviceId));
    r.devices.forEach((d, i) => {
      const reg = d.registrationId | (i + 1 < r.devices.length ? 0x8000 : 0);
      parts.push(Buffer.from([d.deviceId, reg >> 8, reg & 0xff]));
    });
    parts.push(v2KeyMaterial(M, eph, senderPriv, r.identity));
  }
  for (const sid of excluded) parts.push(Buffer.from(sid), Buffer.from([0]));
  const K = hkdf(M, null, V2_LABEL_K, 32);
  parts.push(pubOf(eph).subarray(1), gcmSivEncrypt(K, Buffer.alloc(12), Buffer.alloc(0), usmc));
  return Buffer.concat(parts);
}

// Parses a sent message into {recipients: [{serviceId, devices, keys}], excluded, shared}.
function v2Parse(sent) {
  let pos = 0;
  const need = (n) => {
    if (pos + n > sent.length) throw new Error('truncated');
  };
  need(1);
  if (sent[pos++] !== 0x23) throw new Error('version');
  let count = 0n;
  for (let shift = 0n; ; shift += 7n) {
    need(1);
    const b = sent[pos++];
    count |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  const recipients = [];
  const excluded = [];
  for (let i = 0n; i < count; i++) {
    need(18);
    const serviceId = sent.subarray(pos, pos + 17);
    pos += 17;
    if (sent[pos] === 0) {
      pos++;
      excluded.push(serviceId);
      continue;
    }
    const devices = [];
    for (;;) {
      need(3);
      const deviceId = sent[pos];
      const reg = sent.readUInt16BE(pos + 1);
      pos += 3;
      devices.push({ deviceId, registrationId: reg & 0x7fff });
      if (!(reg & 0x8000)) break;
    }
    need(48);
    recipients.push({ serviceId, devices, keys: sent.subarray(pos, pos + 48) });
    pos += 48;
  }
  return { recipients, excluded, shared: sent.subarray(pos) };
}

// The server's cut: 0x22 ‖ c ‖ at ‖ E ‖ ciphertext.
function v2Cut(sent, serviceId) {
  const p = v2Parse(sent);
  const r = p.recipients.find((x) => x.serviceId.equals(Buffer.from(serviceId)));
  if (!r) throw new Error('not a recipient');
  return Buffer.concat([Buffer.from([0x22]), r.keys, p.shared]);
}

function v2Decrypt({ rcv, recipientPriv }) {
  const B = pubOf(recipientPriv);
  const c = rcv.subarray(1, 33);
  const at = rcv.subarray(33, 49);
  const E = Buffer.concat([Buffer.from([5]), rcv.subarray(49, 81)]);
  const pad = hkdf(Buffer.concat([agree(recipientPriv, pubKey(E)), E, B]), null, V2_LABEL_DH, 32);
  const M = xor32(c, pad);
  if (!pubOf(v2Ephemeral(M)).equals(E)) throw new Error('v2 ephemeral mismatch');
  const usmc = gcmSivDecrypt(hkdf(M, null, V2_LABEL_K, 32), Buffer.alloc(12), Buffer.alloc(0), rcv.subarray(81));
  const checkSender = (A) =>
    hkdf(Buffer.concat([agree(recipientPriv, pubKey(A)), E, c, A, B]), null, V2_LABEL_DH_SENDER, 16).equals(at);
  return { usmc, M, checkSender };
}

module.exports = {
  S,
  Party,
  certificates,
  hex,
  u8,
  varint,
  encode,
  fields,
  field,
  hkdf,
  hmac,
  aesCtr,
  agree,
  gcmSivEncrypt,
  gcmSivDecrypt,
  logToStderr,
  captureLog,
  withLog,
  pubOf,
  v1Encrypt,
  v1Decrypt,
  v2Ephemeral,
  v2KeyMaterial,
  v2Encrypt,
  v2Parse,
  v2Cut,
  v2Decrypt,
};

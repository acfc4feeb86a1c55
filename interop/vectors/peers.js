'use strict';
// Shared plumbing for handshake.js and ratchet.js: both peers loaded in-process from
// interop/node_modules (run `npm ci` in interop/ first), in-memory stores, fixed keys from
// labels, a schemaless protobuf reader, and readers for the two peers' session records.
//
// The record layouts below were found by decoding records generically (no schema, no
// source): libsignal-client's SessionRecord is protobuf, libsignal-node's is JSON.
const crypto = require('crypto');
const path = require('path');

const INTEROP = path.join(__dirname, '..');
const load = (name) => require(require.resolve(name, { paths: [INTEROP] }));
const S = load('@signalapp/libsignal-client');
const L = load('libsignal');
const version = (name, sub) =>
  require(path.join(path.dirname(require.resolve(name, { paths: [INTEROP] })), sub, 'package.json')).version;
const CLIENT_VERSION = version('@signalapp/libsignal-client', '..');
const NODE_VERSION = version('libsignal', '.');
if (CLIENT_VERSION !== '0.103.0') throw new Error(`expected libsignal-client 0.103.0, got ${CLIENT_VERSION}`);
if (NODE_VERSION !== '6.0.0') throw new Error(`expected libsignal (libsignal-node) 6.0.0, got ${NODE_VERSION}`);

const Z32 = Buffer.alloc(32);
const hex = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString('hex'));
const u8 = (b) => {
  const out = new Uint8Array(b.length); // libsignal-client wants Uint8Array<ArrayBuffer>
  out.set(b);
  return out;
};
const sha256 = (b) => crypto.createHash('sha256').update(b).digest();
const hmac = (k, d) => crypto.createHmac('sha256', k).update(d).digest();
const hkdf = (len, ikm, info, salt) =>
  Buffer.from(S.hkdf(len, u8(Buffer.from(ikm)), u8(Buffer.from(info)), salt ? u8(Buffer.from(salt)) : null));
function aesDecrypt(key, iv, ct) {
  const d = crypto.createDecipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([d.update(ct), d.final()]);
}
function aesEncrypt(key, iv, pt) {
  const c = crypto.createCipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([c.update(pt), c.final()]);
}
function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}
const eq = (a, b, what) => check(a && b && Buffer.from(a).equals(Buffer.from(b)), `${what}: ${hex(a)} != ${hex(b)}`);

/** A clamped Curve25519 private key from a label: fixed inputs, reproducible runs. */
function fixedPrivate(label) {
  const k = sha256(Buffer.from(`missive kat ${label}`));
  k[0] &= 248;
  k[31] &= 127;
  k[31] |= 64;
  return k;
}
const fixedBytes = (label, len) =>
  crypto.createHash('shake256', { outputLength: len }).update(`missive kat ${label}`).digest();
const publicOf = (priv) => Buffer.from(S.PrivateKey.deserialize(u8(priv)).getPublicKey().serialize());
const dh = (priv, pub) =>
  Buffer.from(S.PrivateKey.deserialize(u8(priv)).agree(S.PublicKey.deserialize(u8(pub))));

// ---- protobuf (wire types 0, 1, 2, 5), written from the encoding spec ----
function varint(buf, i) {
  let v = 0n;
  let s = 0n;
  for (;;) {
    check(i < buf.length && s < 70n, 'varint');
    const c = buf[i++];
    v |= BigInt(c & 0x7f) << s;
    s += 7n;
    if (!(c & 0x80)) return [v, i];
  }
}
function pbDecode(buf) {
  const out = [];
  let i = 0;
  while (i < buf.length) {
    let k;
    [k, i] = varint(buf, i);
    const n = Number(k >> 3n);
    const t = Number(k & 7n);
    if (t === 0) {
      let v;
      [v, i] = varint(buf, i);
      out.push({ n, t, v });
    } else if (t === 2) {
      let l;
      [l, i] = varint(buf, i);
      l = Number(l);
      check(i + l <= buf.length, 'length');
      out.push({ n, t, v: Buffer.from(buf.subarray(i, i + l)) });
      i += l;
    } else if (t === 1 || t === 5) {
      const l = t === 1 ? 8 : 4;
      out.push({ n, t, v: Buffer.from(buf.subarray(i, i + l)) });
      i += l;
    } else throw new Error(`wire type ${t}`);
  }
  return out;
}
function encVarint(n) {
  n = BigInt(n);
  const o = [];
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n) b |= 0x80;
    o.push(b);
  } while (n);
  return Buffer.from(o);
}
const pbUint = (n, v) => Buffer.concat([encVarint(n << 3), encVarint(v)]);
const pbBytes = (n, b) => Buffer.concat([encVarint((n << 3) | 2), encVarint(b.length), Buffer.from(b)]);
const get = (fields, n) => {
  const f = fields.find((x) => x.n === n);
  return f ? f.v : undefined;
};
const all = (fields, n) => fields.filter((x) => x.n === n).map((x) => x.v);

// ---- libsignal-client parties ----
class Sessions extends S.SessionStore {
  constructor() {
    super();
    this.m = new Map();
  }
  async saveSession(a, r) {
    this.m.set(a.toString(), Buffer.from(r.serialize()));
  }
  async getSession(a) {
    const b = this.m.get(a.toString());
    return b ? S.SessionRecord.deserialize(u8(b)) : null;
  }
  async getExistingSessions(as) {
    return as.map((a) => S.SessionRecord.deserialize(u8(this.m.get(a.toString()))));
  }
}
class Identities extends S.IdentityKeyStore {
  constructor(kp, reg) {
    super();
    this.kp = kp;
    this.reg = reg;
    this.m = new Map();
  }
  async getIdentityKey() {
    return this.kp.privateKey;
  }
  async getLocalRegistrationId() {
    return this.reg;
  }
  async saveIdentity(a, k) {
    this.m.set(a.toString(), k);
    return S.IdentityChange.NewOrUnchanged;
  }
  async isTrustedIdentity() {
    return true;
  }
  async getIdentity(a) {
    return this.m.get(a.toString()) || null;
  }
}
class PreKeys extends S.PreKeyStore {
  constructor() {
    super();
    this.m = new Map();
  }
  async savePreKey(i, r) {
    this.m.set(i, r);
  }
  async getPreKey(i) {
    return this.m.get(i);
  }
  async removePreKey(i) {
    this.m.delete(i);
  }
}
class SignedPreKeys extends S.SignedPreKeyStore {
  constructor() {
    super();
    this.m = new Map();
  }
  async saveSignedPreKey(i, r) {
    this.m.set(i, r);
  }
  async getSignedPreKey(i) {
    return this.m.get(i);
  }
}
class KyberPreKeys extends S.KyberPreKeyStore {
  constructor() {
    super();
    this.m = new Map();
  }
  async saveKyberPreKey(i, r) {
    this.m.set(i, r);
  }
  async getKyberPreKey(i) {
    return this.m.get(i);
  }
  async markKyberPreKeyUsed() {}
}

/** A libsignal-client party; `identityPrivate` fixes its identity key. */
function clientParty(name, identityPrivate, registrationId = 4321) {
  const priv = identityPrivate ? S.PrivateKey.deserialize(u8(identityPrivate)) : S.PrivateKey.generate();
  const kp = new S.IdentityKeyPair(priv.getPublicKey(), priv);
  return {
    kp,
    identity: Buffer.from(kp.publicKey.serialize()),
    addr: S.ProtocolAddress.new(name, 1),
    sessions: new Sessions(),
    ids: new Identities(kp, registrationId),
    pre: new PreKeys(),
    spk: new SignedPreKeys(),
    kyb: new KyberPreKeys(),
  };
}

/**
 * Stores fixed prekeys in a libsignal-client party and returns its bundle. The Kyber key
 * pair (raw, from kyber.js) is imported through KyberPreKeyRecord.deserialize: the record
 * is protobuf {1: id, 2: public key, 3: secret key, 4: signature, 5: fixed64 timestamp}
 * (read off a record the peer serialized).
 */
async function clientPublish(p, { spkPriv, opkPriv, kyberPublic, kyberSecret }) {
  const ids = { opk: 11, spk: 22, kyber: 33 };
  const spk = S.PrivateKey.deserialize(u8(spkPriv));
  const spkSig = p.kp.privateKey.sign(spk.getPublicKey().serialize());
  await p.spk.saveSignedPreKey(ids.spk, S.SignedPreKeyRecord.new(ids.spk, 0, spk.getPublicKey(), spk, spkSig));
  let opk = null;
  if (opkPriv) {
    opk = S.PrivateKey.deserialize(u8(opkPriv));
    await p.pre.savePreKey(ids.opk, S.PreKeyRecord.new(ids.opk, opk.getPublicKey(), opk));
  }
  const kpub = Buffer.concat([Buffer.from([8]), kyberPublic]);
  const ksec = Buffer.concat([Buffer.from([8]), kyberSecret]);
  const kSig = Buffer.from(p.kp.privateKey.sign(u8(kpub)));
  const rec = Buffer.concat([pbUint(1, ids.kyber), pbBytes(2, kpub), pbBytes(3, ksec), pbBytes(4, kSig), Buffer.from([0x29]), Buffer.alloc(8)]);
  const krec = S.KyberPreKeyRecord.deserialize(u8(rec));
  eq(krec.publicKey().serialize(), kpub, 'imported Kyber public key');
  await p.kyb.saveKyberPreKey(ids.kyber, krec);
  const bundle = S.PreKeyBundle.new(
    p.ids.reg, 1, opk ? ids.opk : null, opk ? opk.getPublicKey() : null, ids.spk, spk.getPublicKey(), spkSig,
    p.kp.publicKey, ids.kyber, krec.publicKey(), u8(kSig));
  return { bundle, ids };
}

/**
 * The current session of a libsignal-client SessionRecord. Observed layout of the session
 * (record field 1): 1 version, 2 local identity, 3 remote identity, 4 root key,
 * 6 sender chain {1 ratchet public, 2 ratchet private, 3 chain key {1 index, 2 key}},
 * 7 receiver chains (repeated) {1 ratchet public, 3 chain key {1 index, 2 key}},
 * 13 the initiator's base key, 14 pending Kyber {1 id, 2 ciphertext}, 15 SPQR state
 * (before the first send 15.1.1 is the auth key; once running, 15.2.3 holds the chains and
 * 15.2.4 the next root, see docs/notes/spqr.md).
 */
function clientSession(recordBytes) {
  const sess = pbDecode(get(pbDecode(recordBytes), 1));
  const chainKey = (c) => {
    const f = pbDecode(get(c, 3));
    return { index: Number(get(f, 1) || 0n), key: get(f, 2) };
  };
  const sender = pbDecode(get(sess, 6));
  return {
    version: Number(get(sess, 1)),
    localIdentity: get(sess, 2),
    remoteIdentity: get(sess, 3),
    root: get(sess, 4),
    sender: { ratchetPublic: get(sender, 1), ratchetPrivate: get(sender, 2), ...chainKey(sender) },
    receivers: all(sess, 7).map((b) => {
      const c = pbDecode(b);
      return { ratchetPublic: get(c, 1), ...chainKey(c) };
    }),
    baseKey: get(sess, 13),
    kyberCiphertext: get(sess, 14) ? get(pbDecode(get(sess, 14)), 2) : undefined,
    pq: get(sess, 15) ? pbDecode(get(sess, 15)) : [],
  };
}
async function clientRecord(p, other) {
  return clientSession((await p.sessions.getSession(other.addr)).serialize());
}

// ---- libsignal-node ----
// Its key generation and its HKDF/HMAC helpers are module exports that the library itself
// calls through; generator scripts replace them with wrappers to fix key pairs and to
// watch the peer's own derivations.
const nodeHooks = { fixedKeys: [], derivations: [], macs: [] };
const realGenerate = L.curve.generateKeyPair;
L.curve.generateKeyPair = (...a) => {
  const priv = nodeHooks.fixedKeys.shift();
  if (!priv) return realGenerate(...a);
  return { privKey: Buffer.from(priv), pubKey: Buffer.from(L.curve.getPublicFromPrivateKey(Buffer.from(priv))) };
};
const realDerive = L.crypto.deriveSecrets;
L.crypto.deriveSecrets = (ikm, salt, info, chunks) => {
  const out = realDerive(ikm, salt, info, chunks);
  nodeHooks.derivations.push({ ikm: Buffer.from(ikm), salt: Buffer.from(salt), info: Buffer.from(info).toString(), out: out.map((b) => Buffer.from(b)) });
  return out;
};
const realMac = L.crypto.calculateMAC;
L.crypto.calculateMAC = (key, data) => {
  const out = realMac(key, data);
  nodeHooks.macs.push({ key: Buffer.from(key), data: Buffer.from(data), out: Buffer.from(out) });
  return out;
};

/** A libsignal-node party with one storage object (see interop/OBSERVED.md §6). */
function nodeParty(name, identityPrivate, registrationId = 4321) {
  const priv = Buffer.from(identityPrivate);
  const p = {
    name,
    id: { pubKey: Buffer.from(L.curve.getPublicFromPrivateKey(priv)), privKey: priv },
    addr: new L.ProtocolAddress(name, 1),
    sessions: new Map(),
    pre: new Map(),
    spk: new Map(),
  };
  p.identity = p.id.pubKey;
  p.storage = {
    async loadSession(k) {
      const s = p.sessions.get(k);
      return s ? L.SessionRecord.deserialize(JSON.parse(s)) : undefined;
    },
    async storeSession(k, r) {
      p.sessions.set(k, JSON.stringify(r.serialize()));
    },
    isTrustedIdentity: () => true,
    loadPreKey: async (i) => p.pre.get(Number(i)),
    removePreKey: (i) => p.pre.delete(Number(i)),
    loadSignedPreKey: (i) => p.spk.get(Number(i)),
    getOurRegistrationId: () => registrationId,
    getOurIdentity: () => p.id,
  };
  return p;
}
const b64 = (s) => Buffer.from(s, 'base64');
/**
 * The session of a libsignal-node record (JSON, one entry per base key): currentRatchet
 * {rootKey, ephemeralKeyPair {pubKey, privKey}, lastRemoteEphemeralKey}, and _chains keyed
 * by ratchet public key, each {chainKey {counter, key}, chainType 1 sending | 2 receiving}.
 * chainKey.counter is the index of the last message keyed from it (−1: none yet), so the
 * key stored is the chain key of message counter + 1.
 */
function nodeSession(p, other) {
  const rec = JSON.parse(p.sessions.get(other.addr.toString()));
  const sessions = Object.values(rec._sessions);
  check(sessions.length === 1, 'one libsignal-node session');
  const s = sessions[0];
  const r = s.currentRatchet;
  const chains = Object.entries(s._chains).map(([k, c]) => ({
    ratchetPublic: b64(k),
    type: c.chainType,
    index: c.chainKey.counter + 1,
    key: c.chainKey.key ? b64(c.chainKey.key) : null,
  }));
  return {
    root: b64(r.rootKey),
    ratchetPublic: b64(r.ephemeralKeyPair.pubKey),
    ratchetPrivate: b64(r.ephemeralKeyPair.privKey),
    remoteRatchet: b64(r.lastRemoteEphemeralKey),
    baseKey: b64(s.indexInfo.baseKey),
    sending: chains.find((c) => c.type === 1),
    receiving: chains.filter((c) => c.type === 2),
  };
}

module.exports = {
  S, L, CLIENT_VERSION, NODE_VERSION, Z32, hex, u8, sha256, hmac, hkdf, aesDecrypt, aesEncrypt, check, eq,
  fixedPrivate, fixedBytes, publicOf, dh, pbDecode, pbUint, pbBytes, encVarint, get, all,
  clientParty, clientPublish, clientSession, clientRecord, nodeHooks, nodeParty, nodeSession,
};

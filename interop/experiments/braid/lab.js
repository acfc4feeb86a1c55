'use strict';
// Lab helpers for the ML-KEM braid experiments (throw-away; see docs/notes/spqr-braid.md).
// Two in-process @signalapp/libsignal-client parties with in-memory stores, a schemaless
// protobuf reader, and a pq_ratchet field decoder. Observation only.
const path = require('path');
const crypto = require('crypto');
const S = require(require.resolve('@signalapp/libsignal-client', { paths: [path.join(__dirname, '..', '..')] }));

const hex = b => Buffer.from(b).toString('hex');
function check(c, w) { if (!c) throw new Error('check failed: ' + w); }
function varint(buf, i) {
  let v = 0n, s = 0n;
  for (;;) { check(i < buf.length, 'varint'); const c = buf[i++]; v |= BigInt(c & 0x7f) << s; s += 7n; if (!(c & 0x80)) return [v, i]; }
}
function encVarint(n) { n = BigInt(n); const o = []; do { let b = Number(n & 0x7fn); n >>= 7n; if (n) b |= 0x80; o.push(b); } while (n); return Buffer.from(o); }
function pbDecode(buf) {
  const out = []; let i = 0;
  while (i < buf.length) {
    let k; [k, i] = varint(buf, i); const n = Number(k >> 3n), t = Number(k & 7n);
    if (t === 0) { let v; [v, i] = varint(buf, i); out.push({ n, t, v }); }
    else if (t === 2) { let l; [l, i] = varint(buf, i); l = Number(l); check(i + l <= buf.length, 'len'); out.push({ n, t, v: Buffer.from(buf.subarray(i, i + l)) }); i += l; }
    else if (t === 1) { out.push({ n, t, v: Buffer.from(buf.subarray(i, i + 8)) }); i += 8; }
    else if (t === 5) { out.push({ n, t, v: Buffer.from(buf.subarray(i, i + 4)) }); i += 4; }
    else throw new Error('wire type ' + t);
  }
  return out;
}
function pbEncode(fields) {
  return Buffer.concat(fields.map(f => f.t === 0 ? Buffer.concat([encVarint((f.n << 3) | 0), encVarint(f.v)])
    : Buffer.concat([encVarint((f.n << 3) | 2), encVarint(f.v.length), f.v])));
}
const get = (fields, n) => { const f = fields.find(x => x.n === n); return f && f.v; };
// Schemaless dump: length-delimited values that parse fully as protobuf are expanded.
function tryParse(b) {
  if (b.length === 0) return null;
  try { const f = pbDecode(b); if (f.every(x => x.n > 0 && x.n < 1000)) return f; } catch (e) { /* leaf */ }
  return null;
}
function dump(buf, indent = '', maxHex = 48, prefix = '') {
  const lines = [];
  for (const f of pbDecode(buf)) {
    const p = prefix ? `${prefix}.${f.n}` : `${f.n}`;
    if (f.t === 0) lines.push(`${indent}${p}: ${f.v}`);
    else if (f.t === 2) {
      const sub = f.v.length > 0 && f.v.length !== 32 && f.v.length !== 33 ? tryParse(f.v) : null;
      if (sub) { lines.push(`${indent}${p}: {  (${f.v.length} B)`); lines.push(...dump(f.v, indent + '  ', maxHex, p)); lines.push(`${indent}}`); }
      else lines.push(`${indent}${p}: [${f.v.length}] ${hex(f.v.subarray(0, maxHex))}${f.v.length > maxHex ? '…' : ''}`);
    } else lines.push(`${indent}${p}: (wt${f.t}) ${hex(f.v)}`);
  }
  return lines;
}
const TYPES = ['None', 'Hdr', 'Ek', 'EkCt1Ack', 'Ct1Ack', 'Ct1', 'Ct2'];
function parseField(f) {
  let i = 1, ep, idx; [ep, i] = varint(f, i); [idx, i] = varint(f, i);
  const t = f[i++]; const r = { version: f[0], epoch: Number(ep), index: Number(idx), type: TYPES[t] || t };
  if (t !== 0 && t !== 4 && i < f.length) { let ci; [ci, i] = varint(f, i); r.chunkIndex = Number(ci); r.chunk = Buffer.from(f.subarray(i, i + 32)); i += 32; }
  r.trailing = f.length - i;
  return r;
}

class Sessions extends S.SessionStore {
  constructor() { super(); this.m = new Map(); }
  async saveSession(a, r) { this.m.set(a.toString(), Buffer.from(r.serialize())); }
  async getSession(a) { const b = this.m.get(a.toString()); return b ? S.SessionRecord.deserialize(b) : null; }
  async getExistingSessions(as) { return as.map(a => S.SessionRecord.deserialize(this.m.get(a.toString()))); }
}
class Identities extends S.IdentityKeyStore {
  constructor(kp, reg) { super(); this.kp = kp; this.reg = reg; this.m = new Map(); }
  async getIdentityKey() { return this.kp.privateKey; }
  async getLocalRegistrationId() { return this.reg; }
  async saveIdentity(a, k) { this.m.set(a.toString(), k); return S.IdentityChange.NewOrUnchanged; }
  async isTrustedIdentity() { return true; }
  async getIdentity(a) { return this.m.get(a.toString()) || null; }
}
class PreKeys extends S.PreKeyStore { constructor() { super(); this.m = new Map(); } async savePreKey(i, r) { this.m.set(i, r); } async getPreKey(i) { return this.m.get(i); } async removePreKey(i) { this.m.delete(i); } }
class SignedPreKeys extends S.SignedPreKeyStore { constructor() { super(); this.m = new Map(); } async saveSignedPreKey(i, r) { this.m.set(i, r); } async getSignedPreKey(i) { return this.m.get(i); } }
class KyberPreKeys extends S.KyberPreKeyStore { constructor() { super(); this.m = new Map(); } async saveKyberPreKey(i, r) { this.m.set(i, r); } async getKyberPreKey(i) { return this.m.get(i); } async markKyberPreKeyUsed() {} }

let regSeq = 1000, uuidSeq = 1;
function party() {
  const kp = S.IdentityKeyPair.generate();
  const uuid = `9d0652a4-4a1c-4b28-8b5e-6f5b3c1a${String(uuidSeq++).padStart(4, '0')}`;
  return { kp, addr: S.ProtocolAddress.new(uuid, 1), sessions: new Sessions(), ids: new Identities(kp, ++regSeq), pre: new PreKeys(), spk: new SignedPreKeys(), kyb: new KyberPreKeys() };
}
async function publish(b) {
  const opk = S.PrivateKey.generate(), spk = S.PrivateKey.generate(), kkp = S.KEMKeyPair.generate();
  const spkSig = b.kp.privateKey.sign(spk.getPublicKey().serialize()), kSig = b.kp.privateKey.sign(kkp.getPublicKey().serialize());
  await b.pre.savePreKey(1, S.PreKeyRecord.new(1, opk.getPublicKey(), opk));
  await b.spk.saveSignedPreKey(2, S.SignedPreKeyRecord.new(2, 0, spk.getPublicKey(), spk, spkSig));
  await b.kyb.saveKyberPreKey(3, S.KyberPreKeyRecord.new(3, 0, kkp, kSig));
  return S.PreKeyBundle.new(b.ids.reg, 1, 1, opk.getPublicKey(), 2, spk.getPublicKey(), spkSig, b.kp.publicKey, 3, kkp.getPublicKey(), kSig);
}

// A conversation between two libsignal parties: a = initiator (Alice), b = responder (Bob).
async function conversation() {
  const a = party(), b = party();
  await S.processPreKeyBundle(await publish(b), b.addr, a.addr, a.sessions, a.ids);
  const P = { a, b }, other = { a: 'b', b: 'a' };
  async function send(from) {
    const x = P[from], y = P[other[from]];
    const text = `${from}-${crypto.randomBytes(4).toString('hex')}`;
    const ct = await S.signalEncrypt(Buffer.from(text), y.addr, x.addr, x.sessions, x.ids);
    const isPreKey = ct.type() === S.CiphertextMessageType.PreKey;
    const outer = Buffer.from(ct.serialize());
    const inner = isPreKey ? get(pbDecode(outer.subarray(1)), 4) : outer;
    const fields = pbDecode(inner.subarray(1, -8));
    const field = get(fields, 5);
    return { from, isPreKey, outer, inner, text, field, pq: parseField(field), counter: Number(get(fields, 2) || 0n) };
  }
  async function recv(m) {
    const x = P[m.from], y = P[other[m.from]];
    const got = m.isPreKey
      ? await S.signalDecryptPreKey(S.PreKeySignalMessage.deserialize(m.outer), x.addr, y.addr, y.sessions, y.ids, y.pre, y.spk, y.kyb)
      : await S.signalDecrypt(S.SignalMessage.deserialize(m.outer), x.addr, y.addr, y.sessions, y.ids);
    check(Buffer.from(got).toString() === m.text, 'receiver decrypts');
  }
  const record = who => P[who].sessions.m.get(P[other[who]].addr.toString());
  const setRecord = (who, r) => P[who].sessions.m.set(P[other[who]].addr.toString(), r);
  return { a, b, P, send, recv, record, setRecord };
}

module.exports = { S, hex, check, varint, encVarint, pbDecode, pbEncode, get, dump, parseField, TYPES, conversation, party, publish };

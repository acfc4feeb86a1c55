#!/usr/bin/env node
// Generates tests/vectors/spqr.json: known answers for missive's SPQR chain, taken from
// real libsignal-client sessions.
//
// Run from the repository root, with @signalapp/libsignal-client 0.103.0 installed under
// interop/node_modules (this script installs nothing):
//     (cd interop && npm install --no-save @signalapp/libsignal-client@0.103.0)
//     node interop/vectors/spqr.js > tests/vectors/spqr.json
//
// How: two real libsignal parties, Alice (PQXDH initiator) and Bob (responder), talk. One
// of them plays missive: every message it sends is re-framed before delivery with the
// field missive sends (`01 01 varint(index) 00`, None at epoch 1) and re-MACed with keys this
// script derives itself from the SPQR auth key (read from Alice's session record). The
// other side stays untouched and is the peer. The peer accepting every re-framed message,
// and this script decrypting every peer message with its own keys, closes the loop: the
// derivations below are what libsignal does. The script throws rather than write vectors
// if any check fails.
//
// Only facts from observation are used; session-record field numbers were found by
// decoding records generically.
'use strict';
const path = require('path');
const crypto = require('crypto');
const S = require(require.resolve('@signalapp/libsignal-client', { paths: [path.join(__dirname, '..')] }));

const VERSION = '0.103.0';
const Z32 = Buffer.alloc(32);
const hex = b => Buffer.from(b).toString('hex');
const hkdf = (len, ikm, info, salt) => Buffer.from(S.hkdf(len, Buffer.from(ikm), Buffer.from(info), salt ? Buffer.from(salt) : null));
const hmac = (k, d) => crypto.createHmac('sha256', k).update(d).digest();
const be32 = n => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
function check(cond, what) { if (!cond) throw new Error('check failed: ' + what); }

// ---- minimal protobuf ----
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
    else if (t === 2) { let l; [l, i] = varint(buf, i); l = Number(l); out.push({ n, t, v: Buffer.from(buf.subarray(i, i + l)) }); i += l; }
    else throw new Error('wire type ' + t);
  }
  return out;
}
function pbEncode(fields) {
  return Buffer.concat(fields.map(f => f.t === 0 ? Buffer.concat([encVarint((f.n << 3) | 0), encVarint(f.v)])
    : Buffer.concat([encVarint((f.n << 3) | 2), encVarint(f.v.length), f.v])));
}
const get = (fields, n) => { const f = fields.find(x => x.n === n); return f && f.v; };

// ---- SPQR model (epoch 1) ----
const nextKey = (ck, n) => { const o = hkdf(64, ck, Buffer.concat([be32(n), Buffer.from('Signal PQ Ratchet V1 Chain Next')]), Z32); return [o.subarray(0, 32), o.subarray(32)]; };
class Chain {
  constructor(key) { this.key = key; this.n = 0; this.keys = new Map(); }
  at(n) { while (this.n < n) { this.n++; const [ck, mk] = nextKey(this.key, this.n); this.key = ck; this.keys.set(this.n, mk); } return this.keys.get(n); }
}
function parseField(f) {
  let i = 1, ep, idx; [ep, i] = varint(f, i); [idx, i] = varint(f, i);
  return { version: f[0], epoch: Number(ep), index: Number(idx), type: f[i] };
}
const noneField = n => Buffer.concat([Buffer.from([1]), encVarint(1), encVarint(n), Buffer.from([0])]);

// ---- libsignal parties with in-memory stores ----
class Sessions extends S.SessionStore {
  constructor() { super(); this.m = new Map(); }
  async saveSession(a, r) { this.m.set(a.toString(), r.serialize()); }
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
class MapStore { constructor() { this.m = new Map(); } }
class PreKeys extends S.PreKeyStore { constructor() { super(); this.m = new Map(); } async savePreKey(i, r) { this.m.set(i, r); } async getPreKey(i) { return this.m.get(i); } async removePreKey(i) { this.m.delete(i); } }
class SignedPreKeys extends S.SignedPreKeyStore { constructor() { super(); this.m = new Map(); } async saveSignedPreKey(i, r) { this.m.set(i, r); } async getSignedPreKey(i) { return this.m.get(i); } }
class KyberPreKeys extends S.KyberPreKeyStore { constructor() { super(); this.m = new Map(); } async saveKyberPreKey(i, r) { this.m.set(i, r); } async getKyberPreKey(i) { return this.m.get(i); } async markKyberPreKeyUsed() {} }
void MapStore;

let regSeq = 1000;
function party(uuid) {
  const kp = S.IdentityKeyPair.generate();
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
// Current session of a record → { senderChainIndex, senderChainKey, pq }
async function current(p, other) {
  const sess = pbDecode(get(pbDecode(Buffer.from((await p.sessions.getSession(other.addr)).serialize())), 1));
  const chainKey = pbDecode(get(pbDecode(get(sess, 6)), 3));
  return { index: Number(get(chainKey, 1) || 0n), key: get(chainKey, 2), pq: get(sess, 15) };
}

async function scenario(missiveRole) {
  const alice = party('9d0652a4-4a1c-4b28-8b5e-6f5b3c1a0001'), bob = party('9d0652a4-4a1c-4b28-8b5e-6f5b3c1a0002');
  await S.processPreKeyBundle(await publish(bob), bob.addr, alice.addr, alice.sessions, alice.ids);
  // Before Alice sends, her SPQR state holds the auth key itself (record field 15.1.1).
  const auth = get(pbDecode(get(pbDecode((await current(alice, bob)).pq), 1)), 1);
  check(auth && auth.length === 32, 'auth key in record');
  const start = hkdf(96, auth, 'Signal PQ Ratchet V1 Chain  Start', Z32);
  const chains = { alice: new Chain(start.subarray(32, 64)), bob: new Chain(start.subarray(64, 96)) };
  const missive = missiveRole === 'initiator' ? 'alice' : 'bob';
  const P = { alice, bob }, other = { alice: 'bob', bob: 'alice' };
  const events = [];
  let seq = 0;

  // Encrypts on `from`, derives and checks every key, re-frames if `from` plays missive.
  async function send(from, full = true) {
    const x = P[from], y = P[other[from]];
    const before = await current(x, y);
    const text = `${from} message ${++seq}`;
    const ct = await S.signalEncrypt(Buffer.from(text), y.addr, x.addr, x.sessions, x.ids);
    const isPreKey = ct.type() === S.CiphertextMessageType.PreKey;
    let outer = Buffer.from(ct.serialize());
    const inner = isPreKey ? get(pbDecode(outer.subarray(1)), 4) : outer;
    const fields = pbDecode(inner.subarray(1, -8));
    const counter = Number(get(fields, 2) || 0n);
    check(counter === before.index, 'DR chain index == counter');
    const origField = get(fields, 5);
    const pf = parseField(origField);
    check(pf.version === 1 && pf.epoch === 1, 'peer stays at epoch 1');
    const spqrKey = chains[from].at(pf.index);
    const seed = hmac(before.key, Buffer.from([1]));
    const keys = hkdf(80, seed, 'WhisperMessageKeys', spqrKey);
    const mac = k => hmac(k, Buffer.concat([Buffer.from(x.kp.publicKey.serialize()), Buffer.from(y.kp.publicKey.serialize()), inner.subarray(0, -8)])).subarray(0, 8);
    check(mac(keys.subarray(32, 64)).equals(inner.subarray(-8)), 'MAC with derived keys');
    const d = crypto.createDecipheriv('aes-256-cbc', keys.subarray(0, 32), keys.subarray(64, 80));
    check(Buffer.concat([d.update(get(fields, 4)), d.final()]).toString() === text, 'decrypt with derived keys');
    let msg = inner, field = origField;
    if (from === missive) {
      field = noneField(pf.index);
      msg = Buffer.from(S.SignalMessage._new(4, keys.subarray(32, 64), S.PublicKey.deserialize(get(fields, 1)), counter,
        Number(get(fields, 3) || 0n), get(fields, 4), x.kp.publicKey, y.kp.publicKey, field).serialize());
      if (isPreKey) outer = Buffer.concat([outer.subarray(0, 1), pbEncode(pbDecode(outer.subarray(1)).map(f => f.n === 4 ? { ...f, v: msg } : f))]);
      else outer = msg;
    }
    const ev = { from: from === missive ? 'missive' : 'peer', index: pf.index, field: hex(field), spqr_key: hex(spqrKey) };
    if (from !== missive) ev.peer_type = pf.type;
    if (full) Object.assign(ev, { dr_counter: counter, dr_seed: hex(seed), message_keys: hex(keys), signal_message: hex(msg), plaintext: text });
    return { ev, from, isPreKey, outer, text };
  }
  async function deliver(m) {
    const x = P[m.from], y = P[other[m.from]];
    const got = m.isPreKey
      ? await S.signalDecryptPreKey(S.PreKeySignalMessage.deserialize(m.outer), x.addr, y.addr, y.sessions, y.ids, y.pre, y.spk, y.kyb)
      : await S.signalDecrypt(S.SignalMessage.deserialize(m.outer), x.addr, y.addr, y.sessions, y.ids);
    check(Buffer.from(got).toString() === m.text, 'receiver decrypts');
    events.push(m.ev);
  }
  const burst = async (from, n, full = true) => { const out = []; for (let i = 0; i < n; i++) out.push(await send(from, full)); return out; };

  await deliver(await send('alice'));                                     // the PreKeySignalMessage
  for (const m of await burst('bob', 3)) await deliver(m);                // before any reply
  for (let i = 0; i < 3; i++) { await deliver(await send('alice')); await deliver(await send('bob')); }
  { const ms = await burst('alice', 5); for (const i of [4, 0, 2, 1, 3]) await deliver(ms[i]); }
  { const ms = await burst('bob', 5); for (const i of [4, 3, 2, 1, 0]) await deliver(ms[i]); }
  // Long bursts: indices past 127 (2-byte varint) and 255 (second BE32 byte), and gaps.
  { const ms = await burst(missive, 130, false); for (const m of ms) await deliver(m); }
  { const peer = other[missive]; const ms = await burst(peer, 300, false);
    for (const i of [299, 0, 150, 298]) await deliver(ms[i]); }
  for (let i = 0; i < 2; i++) { await deliver(await send('bob')); await deliver(await send('alice')); }

  // Both sides still at epoch 1 and still interoperable after all of the above.
  return {
    missive_role: missiveRole,
    auth_key: hex(auth),
    chain_start: { next_root: hex(start.subarray(0, 32)), a_to_b: hex(start.subarray(32, 64)), b_to_a: hex(start.subarray(64, 96)) },
    missive_identity: hex(P[missive].kp.publicKey.serialize()),
    peer_identity: hex(P[other[missive]].kp.publicKey.serialize()),
    events,
  };
}

(async () => {
  const out = {
    description: 'SPQR epoch-1 chain known answers from libsignal-client sessions. Events are in delivery order. '
      + "'missive' events: what missive must send (field, spqr_key), accepted by the peer. 'peer' events: the peer's real field and the "
      + 'SPQR key missive must derive from it; where present, dr_seed + spqr_key give message_keys (AES key 32 | MAC key 32 | IV 16), '
      + 'which authenticate and decrypt signal_message (sender identity, receiver identity as given) to plaintext.',
    generator: 'interop/vectors/spqr.js',
    libsignal_client: VERSION,
    sessions: [await scenario('initiator'), await scenario('responder')],
  };
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
})().catch(e => { console.error(e); process.exit(1); });

'use strict';
// Our own ML-KEM-768 key pair / encapsulation, framed by our braid model, accepted by
// libsignal-client. Real messages are re-framed in transit (correct message MACs); the
// braid values inside them are replaced by ours.
//   node standin.js ct   : B's ct1/ct2 replaced by our Encaps to A's key → does A accept and advance?
//   node standin.js ek   : A's header/Ek replaced by our own key pair → does B accept, and is B's
//                          ciphertext decapsulable by our dk with a valid ciphertext MAC?
const { execFileSync } = require('child_process');
const path = require('path');
const crypto = require('crypto');
const { S, conversation, hex, pbDecode, get, encVarint, check } = require('./lab');
const T = require('./tamper');
const kem = (...args) => JSON.parse(execFileSync('python3', [path.join(__dirname, 'analysis', 'kem.py'), ...args]).toString());
const PI = Buffer.from('Signal_PQCKA_V1_MLKEM768');
const be8 = n => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
const Z = Buffer.alloc(32);
const kdfAuth = (root, key, e) => { const o = T.hkdf(64, Buffer.concat([root, key]), Buffer.concat([PI, Buffer.from(':Authenticator Update'), be8(e)]), Z); return [o.subarray(0, 32), o.subarray(32)]; };
const epochSecret = (ss, e) => T.hkdf(32, ss, Buffer.concat([PI, Buffer.from(':SCKA Key'), be8(e)]), Z);

async function ctMode() {
  const c = await conversation(); const out = [];
  let from = 'a', ourCt1 = null, ourCt2v = null, expected = null, aEpoch2At = null;
  for (let i = 0; i < 200 && aEpoch2At === null; i++) {
    const before = c.record(from); const m = await c.send(from); let d = m;
    if (from === 'b' && (m.pq.type === 'Ct1' || m.pq.type === 'Ct2') && m.pq.epoch === 1) {
      if (!ourCt1) {
        // A's header: rho ‖ H(ek) from A's record; ek from A's record too (the Ek stream is A's own)
        const st = T.braid(c.record('a')); const inner = pbDecode(get(st.f, 1));
        const dk = get(inner, st.variant === 2 ? 4 : 3); const ek = dk.subarray(1152, 2336);
        const auth = pbDecode(get(inner, 2)); const root1 = get(auth, 1);
        const { ss, ct } = kem('encaps', hex(ek)); const ctb = Buffer.from(ct, 'hex');
        ourCt1 = ctb.subarray(0, 960); const ct2 = ctb.subarray(960);
        const es = epochSecret(Buffer.from(ss, 'hex'), 1);
        const [, mac2] = kdfAuth(root1, es, 1);
        ourCt2v = Buffer.concat([ct2, T.hmac(mac2, Buffer.concat([PI, Buffer.from(':ciphertext'), be8(1), ourCt1, ct2]))]);
        const nr = get(pbDecode(get(T.spqr(c.record('a')), 2)), 4);
        const o = T.hkdf(96, es, 'Signal PQ Ratchet V1 Chain Add Epoch', nr); expected = { a2b: o.subarray(32, 64), b2a: o.subarray(64, 96), nr: o.subarray(0, 32) };
        out.push('our Encaps to A\'s key: ct1 960 B, ct2 128 B + MAC');
      }
      const value = m.pq.type === 'Ct1' ? ourCt1 : ourCt2v;
      d = T.reframe(c, m, before, T.chunkField(m.pq, m.pq.type === 'Ct1' ? 5 : 6, m.pq.chunkIndex, T.rsChunk(value, m.pq.chunkIndex)));
    }
    const r = await T.tryRecv(c, d);
    if (from === 'a' && m.pq.epoch === 2) aEpoch2At = i;
    if (r !== 'accepted') { out.push(`msg ${i} ${from} e${m.pq.epoch} ${m.pq.type}: ${r.replace(/ log:.*/, '')} (expected once A is in epoch 2: B holds its own, different epoch secret)`); break; }
    if (from === 'b' && m.pq.type === 'Ct2') out.push(`B→A our Ct2 c${m.pq.chunkIndex}: accepted`);
    from = from === 'a' ? 'b' : 'a';
  }
  out.push(`A sends epoch 2 from message ${aEpoch2At}`);
  const ch = pbDecode(get(T.spqr(c.record('a')), 2));
  const ents = ch.filter(x => x.n === 3).map(x => pbDecode(x.v));
  const found = ents.some(en => { const s = pbDecode(get(en, 1)), r = pbDecode(get(en, 2)); return get(r, 2) && get(r, 2).equals(expected.b2a); });
  out.push(`A's epoch-2 receive chain = our Add Epoch (B→A half, before use): ${found}; A's next root = ours: ${get(ch, 4).equals(expected.nr)}`);
  return out;
}

async function ekMode() {
  const c = await conversation(); const out = [];
  const kp = kem('keygen'); const ek = Buffer.from(kp.ek, 'hex'); const dk = Buffer.from(kp.dk, 'hex');
  const ekv = ek.subarray(0, 1152), rho = ek.subarray(1152);
  const hdr = Buffer.concat([rho, crypto.createHash('sha3-256').update(ek).digest()]);
  let from = 'a', hdrValue = null, done = false, root1 = null; const ct1 = {}, ct2 = {};
  for (let i = 0; i < 200 && !done; i++) {
    const before = c.record(from); const m = await c.send(from); let d = m;
    if (from === 'a' && m.pq.epoch === 1 && ['Hdr', 'Ek', 'EkCt1Ack'].includes(m.pq.type)) {
      if (!hdrValue) {
        const inner = pbDecode(get(T.braid(c.record('a')).f, 1)); const mac1 = get(pbDecode(get(inner, 2)), 2);
        root1 = get(pbDecode(get(inner, 2)), 1);
        hdrValue = Buffer.concat([hdr, T.hmac(mac1, Buffer.concat([PI, Buffer.from(':ekheader'), be8(1), hdr]))]);
      }
      // The prekey message (A's real Hdr chunk 0) cannot be re-framed here; B's decoder keeps
      // the last data of a repeated index, so our chunk 0 on A's next message replaces it:
      // A's Hdr chunk i (i ≥ 1) carries our chunk i − 1.
      const value = m.pq.type === 'Hdr' ? hdrValue : ekv;
      const idx = m.pq.type === 'Hdr' ? m.pq.chunkIndex - 1 : m.pq.chunkIndex;
      if (!m.isPreKey) d = T.reframe(c, m, before, T.chunkField(m.pq, { Hdr: 1, Ek: 2, EkCt1Ack: 3 }[m.pq.type], idx, T.rsChunk(value, idx)));
    }
    if (from === 'b' && m.pq.epoch === 1 && m.pq.type === 'Ct1') ct1[m.pq.chunkIndex] = m.pq.chunk;
    if (from === 'b' && m.pq.epoch === 1 && m.pq.type === 'Ct2') { ct2[m.pq.chunkIndex] = m.pq.chunk; if (Object.keys(ct2).length === 5) done = true; }
    const r = await T.tryRecv(c, d);
    if (r !== 'accepted') { out.push(`msg ${i} ${from} ${m.pq.type} c${m.pq.chunkIndex}: ${r.slice(0, 200)}`); if (from === 'b' || m.isPreKey) break; }
    from = from === 'a' ? 'b' : 'a';
  }
  // B encapsulated to our key? Decapsulate with our dk and check B's ciphertext MAC.
  const n1 = Object.keys(ct1).map(Number).sort((x, y) => x - y), n2 = Object.keys(ct2).map(Number).sort((x, y) => x - y);
  out.push(`collected Ct1 chunks ${n1[0]}..${n1[n1.length - 1]} (${n1.length}), Ct2 chunks ${n2.join(',')}`);
  check(n1.slice(0, 30).every((x, i) => x === i) && n2.slice(0, 5).every((x, i) => x === i), 'systematic chunks present');
  const c1 = Buffer.concat(n1.slice(0, 30).map(x => ct1[x])), v2 = Buffer.concat(n2.slice(0, 5).map(x => ct2[x]));
  const { ss } = kem('decaps', hex(dk), hex(Buffer.concat([c1, v2.subarray(0, 128)])));
  const es = epochSecret(Buffer.from(ss, 'hex'), 1);
  const rec = c.record('b'); const st = T.braid(rec);
  out.push(`B's state after sending Ct2: ${st.variant}`);
  const [root2, mac2] = kdfAuth(root1, es, 1);
  const stored = pbDecode(get(pbDecode(get(st.f, 1)), 2));
  out.push(`B's stored authenticator = KDF_AUTH(root_1, es from OUR decapsulation, 1): ${get(stored, 1).equals(root2) && get(stored, 2).equals(mac2)}`);
  out.push(`B's ciphertext MAC verifies with that mac_2: ${T.hmac(mac2, Buffer.concat([PI, Buffer.from(':ciphertext'), be8(1), c1, v2.subarray(0, 128)])).equals(v2.subarray(128))}`);
  return { out, c, es, c1, v2 };
}

(async () => {
  if (process.argv[2] === 'ct') console.log((await ctMode()).join('\n'));
  if (process.argv[2] === 'ek') {
    const r = await ekMode();
    console.log(r.out.join('\n'));
  }
})().catch(e => { console.error(e); process.exit(1); });

#!/usr/bin/env node
// Generates tests/vectors/xeddsa.json by observing @signalapp/libsignal-client 0.103.0
// (an out-of-process oracle: its PrivateKey.sign and PublicKey.verify only).
//
// Run from the repository root:
//
//     (cd interop && npm install --no-save @signalapp/libsignal-client@0.103.0)
//     node interop/vectors/xeddsa.js                  # writes tests/vectors/xeddsa.json
//     node interop/vectors/xeddsa.js /path/to/node_modules/@signalapp/libsignal-client out.json
//
// The first argument, if given, is where libsignal-client lives; otherwise it is resolved
// from interop/node_modules. The peer signs with fresh internal randomness, so signatures
// change from run to run; keys and messages are derived from fixed labels.
// Fields of an existing output file that this script does not produce (`missive_signed`,
// written by xeddsa-check-missive.js) are kept.
//
// The edge cases that need a crafted signature (forgeries against small-order keys,
// non-reduced s, non-canonical R) are built with ed25519-ref.js, a slow BigInt
// implementation of the curve used only to construct inputs; the verdict recorded is
// always the peer's.
'use strict';

const fs = require('fs');
const path = require('path');
const ref = require('./ed25519-ref.js');

const modPath = process.argv[2] || '@signalapp/libsignal-client';
const outPath = process.argv[3] || path.join(__dirname, '..', '..', 'tests', 'vectors', 'xeddsa.json');
const signal = require(modPath);
const peerVersion = JSON.parse(
  fs.readFileSync(path.join(path.dirname(require.resolve(modPath)), '..', 'package.json'), 'utf8'),
).version;
if (peerVersion !== '0.103.0') throw new Error(`expected libsignal-client 0.103.0, got ${peerVersion}`);

const hex = (b) => Buffer.from(b).toString('hex');
const label = (s, len) => ref.sha512(Buffer.from(`missive xeddsa ${s}`)).subarray(0, len);

function bytesOf(s, len) {
  const out = [];
  let block = ref.sha512(Buffer.from(`missive xeddsa message ${s}`));
  while (out.length < len) {
    out.push(...block);
    block = ref.sha512(block);
  }
  return Buffer.from(out.slice(0, len));
}

const U_MASK = (1n << 256n) - 1n;
function pkFromU(u) {
  return Buffer.concat([Buffer.from([0x05]), ref.intToLe(u & U_MASK)]);
}

function peerVerify(pkBytes, msg, sig) {
  let pk;
  try {
    pk = signal.PublicKey.deserialize(Buffer.from(pkBytes));
  } catch (e) {
    return false;
  }
  return pk.verify(Buffer.from(msg), Buffer.from(sig));
}

// ---------------------------------------------------------------------------------------
// 1. What does libsignal put in byte 63's top bit, and which public point does it sign for?
function signBitExperiment(n) {
  const tally = { samples: n, bit_equals_sign_of_kB: 0, bit_set: 0, equation_with_kB: 0,
    equation_with_sign0_point: 0, s_reduced: 0, s_top_bits_253_254_clear: 0 };
  for (let i = 0; i < n; i++) {
    const key = signal.PrivateKey.deserialize(label(`sign-bit key ${i}`, 32));
    const k = ref.leToInt(Buffer.from(key.serialize()));
    const u = ref.leToInt(Buffer.from(key.getPublicKey().serialize()).subarray(1));
    const e = ref.mul(k, ref.BASE);
    if (ref.edwardsToMont(e) !== u) throw new Error('reference arithmetic disagrees with the peer');
    const eBytes = ref.compress(e);
    const eSign = eBytes[31] >> 7;
    const msg = bytesOf(`sign-bit ${i}`, i % 70);
    const sig = Buffer.from(key.sign(msg));
    const bit = sig[63] >> 7;
    if (bit === eSign) tally.bit_equals_sign_of_kB++;
    if (bit) tally.bit_set++;
    if ((sig[63] & 0x60) === 0) tally.s_top_bits_253_254_clear++;
    const s = ref.leToInt(sig.subarray(32)) & ((1n << 255n) - 1n);
    if (s < ref.Q) tally.s_reduced++;
    const r = ref.decompress(sig.subarray(0, 32));
    const lhs = ref.mul(s, ref.BASE);
    const h = ref.challenge(sig.subarray(0, 32), eBytes, msg);
    if (ref.eq(lhs, ref.add(r, ref.mul(h, e)))) tally.equation_with_kB++;
    const a0 = eSign ? ref.neg(e) : e;
    const h0 = ref.challenge(sig.subarray(0, 32), ref.compress(a0), msg);
    if (ref.eq(lhs, ref.add(r, ref.mul(h0, a0)))) tally.equation_with_sign0_point++;
  }
  return tally;
}

// ---------------------------------------------------------------------------------------
// 2. Peer-made vectors.
const LENGTHS = [0, 1, 2, 3, 16, 31, 32, 33, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129,
  200, 255, 256, 1000, 1024, 4096];

function makeVectors() {
  return LENGTHS.map((len, i) => {
    const key = signal.PrivateKey.deserialize(label(`vector key ${i}`, 32));
    const pub = Buffer.from(key.getPublicKey().serialize());
    // Vector 7 signs a serialized public key, as a signed prekey does.
    const msg = len === 33 ? Buffer.from(signal.PrivateKey.deserialize(label('prekey', 32))
      .getPublicKey().serialize()) : bytesOf(`vector ${i}`, len);
    const sig = Buffer.from(key.sign(msg));
    if (!peerVerify(pub, msg, sig)) throw new Error('peer rejected its own signature');
    return { private_key: hex(key.serialize()), public_key: hex(pub), message: hex(msg), signature: hex(sig) };
  });
}

// ---------------------------------------------------------------------------------------
// 3. Known answers of missive's deterministic signing core, computed by the reference
// implementation of the variant described in docs/notes/xeddsa.md, verified by the peer.
function makeKnownAnswers() {
  const cases = [
    { key: label('kat key 0', 32), msg: Buffer.from('missive xeddsa known answer'), z: label('kat z 0', 64) },
    { key: label('kat key 1', 32), msg: Buffer.alloc(0), z: Buffer.alloc(64, 0) },
    { key: label('kat key 2', 32), msg: bytesOf('kat 2', 1000), z: Buffer.alloc(64, 0xff) },
    { key: label('kat key 3', 32), msg: bytesOf('kat 3', 33), z: label('kat z 3', 64) },
  ];
  const out = cases.map(({ key, msg, z }) => {
    const sig = ref.signWithZ(key, msg, z, 'libsignal');
    const pub = Buffer.from(signal.PrivateKey.deserialize(key).getPublicKey().serialize());
    return { private_key: hex(key), public_key: hex(pub), message: hex(msg), z: hex(z),
      signature: hex(sig), peer_accepts: peerVerify(pub, msg, sig) };
  });
  const bits = new Set(out.map((v) => Buffer.from(v.signature, 'hex')[63] >> 7));
  if (bits.size !== 2) throw new Error('known answers should cover both sign bits');
  return out;
}

// ---------------------------------------------------------------------------------------
// 4. Edge cases.
function findTorsion(order) {
  // q·P for a random curve point P lies in the 8-torsion; keep one of exactly `order`.
  for (let i = 0; ; i++) {
    const y = ref.leToInt(label(`torsion ${i}`, 32)) % ref.P;
    const x = ref.recoverX(y, 0);
    if (x === null) continue;
    const t = ref.mul(ref.Q, ref.fromAffine(x, y));
    if (!ref.eq(ref.mul(BigInt(order), t), ref.IDENTITY)) continue;
    if (order > 1 && ref.eq(ref.mul(BigInt(order / 2), t), ref.IDENTITY)) continue;
    return t;
  }
}

// A signature (R, s) under key point A (given by u and the sign bit) for a message chosen
// so that h·A = h·(torsion part) vanishes: works whenever A's torsion order divides h.
function forge(name, u, signBit, aPoint, secret, torsionOrder, rBytesOverride, sValue) {
  const aBytes = ref.compress(aPoint);
  for (let i = 0; ; i++) {
    const msg = Buffer.from(`${name} ${i}`);
    const r = ref.leToInt(label(`${name} r ${i}`, 32)) % ref.Q;
    const rBytes = rBytesOverride || ref.compress(ref.mul(r, ref.BASE));
    const h = ref.challenge(rBytes, aBytes, msg);
    if (h % BigInt(torsionOrder) !== 0n) continue;
    let s = rBytesOverride ? sValue : ref.mod(r + h * secret, ref.Q);
    if (!rBytesOverride && sValue !== undefined) s += sValue;
    const sig = Buffer.concat([rBytes, ref.intToLe(s)]);
    sig[63] |= signBit << 7;
    return { msg, sig };
  }
}

function makeEdgeCases(vectors) {
  const cases = [];
  const push = (name, why, pub, msg, sig) => cases.push({ name, why, public_key: hex(pub),
    message: hex(msg), signature: hex(sig), peer_accepts: peerVerify(pub, msg, sig) });

  // A peer-made base signature with sign bit 1 and s small enough that s + q < 2^253.
  let base;
  for (let i = 0; !base; i++) {
    const key = signal.PrivateKey.deserialize(label(`edge key ${i}`, 32));
    const msg = bytesOf(`edge ${i}`, 32);
    const sig = Buffer.from(key.sign(msg));
    const s = ref.leToInt(sig.subarray(32)) & ((1n << 255n) - 1n);
    if (sig[63] >> 7 === 1 && s + ref.Q < 1n << 253n) base = { key, msg, sig, s };
  }
  const pub = Buffer.from(base.key.getPublicKey().serialize());
  const u = ref.leToInt(pub.subarray(1));
  const withS = (s) => {
    const sig = Buffer.concat([base.sig.subarray(0, 32), ref.intToLe(s)]);
    sig[63] |= 0x80;
    return sig;
  };
  push('valid', 'peer-made signature, sign bit 1', pub, base.msg, base.sig);
  const flipped = Buffer.from(base.sig);
  flipped[63] ^= 0x80;
  push('sign_bit_flipped', 'verifier rebuilds -A, so h and the equation change', pub, base.msg, flipped);
  push('s_plus_q', 's + q < 2^253: same scalar mod q, not reduced', pub, base.msg, withS(base.s + ref.Q));
  push('s_plus_2q', 's + 2q >= 2^253: the top-3-bits rule', pub, base.msg, withS(base.s + 2n * ref.Q));
  push('s_bit_253_set', 'byte 63 bit 5', pub, base.msg, withS(base.s | (1n << 253n)));
  push('s_bit_254_set', 'byte 63 bit 6', pub, base.msg, withS(base.s | (1n << 254n)));
  push('s_equals_q', 's = q with the original R', pub, base.msg, withS(ref.Q));
  push('s_zero', 's = 0 with the original R', pub, base.msg, withS(0n));

  // R replaced by a y-coordinate that is not on the curve.
  for (let y = 2n; ; y++) {
    if (ref.recoverX(y, 0) !== null) continue;
    const sig = Buffer.from(base.sig);
    ref.intToLe(y).copy(sig, 0);
    push('r_not_on_curve', `R.y = ${y} has no x`, pub, base.msg, sig);
    break;
  }
  push('all_zero_signature', '', pub, base.msg, Buffer.alloc(64, 0));
  push('all_ff_signature', '', pub, base.msg, Buffer.alloc(64, 0xff));
  push('signature_63_bytes', 'truncated', pub, base.msg, base.sig.subarray(0, 63));
  push('signature_65_bytes', 'valid signature plus a trailing zero byte', pub, base.msg,
    Buffer.concat([base.sig, Buffer.from([0])]));
  push('public_key_bit_255_set', 'u with its top bit set; the same point once masked', pkFromU(u | (1n << 255n)),
    base.msg, base.sig);

  // Spec-form signature: A forced to sign 0 (a negated), byte 63 bit 7 = 0.
  for (let i = 0; ; i++) {
    const kb = label(`spec form key ${i}`, 32);
    if (ref.compress(ref.mul(ref.leToInt(ref.clamp(kb)), ref.BASE))[31] >> 7 !== 1) continue;
    const msg = Buffer.from('spec form');
    const sig = ref.signWithZ(kb, msg, label('spec form z', 64), 'spec');
    push('spec_form_signature', 'specification form for a key whose kB has sign 1: A = -kB, bit 7 = 0',
      Buffer.from(signal.PrivateKey.deserialize(kb).getPublicKey().serialize()), msg, sig);
    break;
  }

  // Small-order and mixed-order public keys: forgeries that hold when nothing rejects them.
  const P = ref.P;
  const t2 = ref.fromAffine(0n, P - 1n); // u = 0
  const t4 = ref.montToEdwards(1n, 0); // u = 1
  const t8 = findTorsion(8);
  const u8 = ref.edwardsToMont(t8);
  const identityBytes = ref.compress(ref.IDENTITY);
  const smallOrder = [
    ['u_0', 0n, t2, 2, 0], ['u_0_sign_bit_1', 0n, t2, 2, 1], ['u_p', P, t2, 2, 0],
    ['u_1', 1n, t4, 4, 0], ['u_p_plus_1', P + 1n, t4, 4, 0], ['u_order_8', u8, t8, 8, 0],
    ['u_2_255', 1n << 255n, t2, 2, 0],
  ];
  for (const [name, uu, point, order, bit] of smallOrder) {
    const a = ref.montToEdwards(uu, bit);
    const f = forge(`${name} forgery`, uu, bit, a, 0n, order);
    push(`${name}_forgery`, `A of order ${order}; R = rB, s = r, h ≡ 0 mod ${order}`, pkFromU(uu), f.msg, f.sig);
    const g = forge(`${name} identity forgery`, uu, bit, a, 0n, order, identityBytes, 0n);
    push(`${name}_forgery_identity_r`, `A of order ${order}; R = identity, s = 0`, pkFromU(uu), g.msg, g.sig);
  }
  {
    const a = ref.montToEdwards(0n, 0);
    const f = forge('u_0 s=q forgery', 0n, 0, a, 0n, 2, identityBytes, ref.Q);
    push('u_0_forgery_identity_r_s_equals_q', 'R = identity, s = q: non-reduced s on a small-order key',
      pkFromU(0n), f.msg, f.sig);
    const noncanon = ref.intToLe(1n + P); // y = 1 + p: the identity, non-canonically
    const g = forge('u_0 noncanonical R', 0n, 0, a, 0n, 2, noncanon, 0n);
    push('u_0_forgery_noncanonical_r', 'R = identity encoded as y = 1 + p', pkFromU(0n), g.msg, g.sig);
    const signed0 = Buffer.from(identityBytes);
    signed0[31] |= 0x80; // x = 0 with sign bit 1
    const h = forge('u_0 negative-zero R', 0n, 0, a, 0n, 2, signed0, 0n);
    push('u_0_forgery_negative_zero_r', 'R = identity with the sign bit set (x = -0)', pkFromU(0n), h.msg, h.sig);
  }
  const pm1 = forge('u_p_minus_1', P - 1n, 0, ref.IDENTITY, 0n, 1, identityBytes, 0n);
  push('u_p_minus_1', 'u = -1 maps to no Edwards point', pkFromU(P - 1n), pm1.msg, pm1.sig);
  for (let uu = 2n; ; uu++) {
    // A u (other than -1) with no Edwards point lies on the twist.
    if (ref.montToEdwards(uu, 0) !== null) continue;
    push('u_on_twist', `u = ${uu} is on the twist, not the curve`, pkFromU(uu), base.msg, base.sig);
    break;
  }
  push('u_p_minus_1_valid_sig', 'u = -1 with a peer-made signature of another key', pkFromU(P - 1n), base.msg, base.sig);
  {
    // A real key plus an 8-torsion point, signed honestly with its discrete log.
    const k = ref.mod(ref.leToInt(label('torsioned key', 32)), ref.Q);
    const a = ref.add(ref.mul(k, ref.BASE), t8);
    const bit = ref.compress(a)[31] >> 7;
    const f = forge('torsioned key', ref.edwardsToMont(a), bit, a, k, 8);
    push('torsioned_key', 'A = kB + T8 (mixed order), s = r + hk with h ≡ 0 mod 8',
      pkFromU(ref.edwardsToMont(a)), f.msg, f.sig);
  }
  return cases;
}

// ---------------------------------------------------------------------------------------
// 5. Every single-bit flip of a signature, of its message and of the public key's u.
function flipsAccepted(v, field) {
  const accepted = [];
  const pub = Buffer.from(v.public_key, 'hex');
  const msg = Buffer.from(v.message, 'hex');
  const sig = Buffer.from(v.signature, 'hex');
  const target = { signature: sig, message: msg, public_key: pub }[field];
  const start = field === 'public_key' ? 8 : 0; // leave the 0x05 type byte alone
  for (let bit = start; bit < target.length * 8; bit++) {
    const t = Buffer.from(target);
    t[bit >> 3] ^= 1 << (bit & 7);
    const args = { signature: [pub, msg, t], message: [pub, t, sig], public_key: [t, msg, sig] }[field];
    if (peerVerify(...args)) accepted.push(bit - start);
  }
  return accepted;
}

function makeBitFlips(vectors) {
  // One vector with each sign bit, both with 32-byte messages.
  const picks = [];
  for (const bit of [0, 1]) {
    const i = vectors.findIndex((v) => v.message.length === 64 && Buffer.from(v.signature, 'hex')[63] >> 7 === bit);
    if (i >= 0) picks.push(i);
  }
  for (let i = 0; picks.length < 2; i++) {
    const key = signal.PrivateKey.deserialize(label(`flip key ${i}`, 32));
    const msg = bytesOf(`flip ${i}`, 32);
    const sig = Buffer.from(key.sign(msg));
    const want = picks.length === 0 || Buffer.from(vectors[picks[0]].signature, 'hex')[63] >> 7 !== sig[63] >> 7;
    if (!want) continue;
    vectors.push({ private_key: hex(key.serialize()), public_key: hex(key.getPublicKey().serialize()),
      message: hex(msg), signature: hex(sig) });
    picks.push(vectors.length - 1);
  }
  return picks.map((i) => ({
    vector: i,
    signature_bits_accepted: flipsAccepted(vectors[i], 'signature'),
    message_bits_accepted: flipsAccepted(vectors[i], 'message'),
    public_key_u_bits_accepted: flipsAccepted(vectors[i], 'public_key'),
  }));
}

// ---------------------------------------------------------------------------------------
const previous = fs.existsSync(outPath) ? JSON.parse(fs.readFileSync(outPath, 'utf8')) : {};
const vectors = makeVectors();
const out = {
  description: 'XEdDSA (libsignal variant) observed from @signalapp/libsignal-client; see docs/notes/xeddsa.md. '
    + 'All byte strings are hex; public keys are 0x05 || u (33 bytes).',
  generator: 'interop/vectors/xeddsa.js',
  peer: `@signalapp/libsignal-client ${peerVersion}`,
  sign_bit_experiment: signBitExperiment(256),
  vectors,
  known_answers: makeKnownAnswers(),
  edge_cases: makeEdgeCases(vectors),
  bit_flips: makeBitFlips(vectors),
};
for (const [k, v] of Object.entries(previous)) if (!(k in out)) out[k] = v;
fs.mkdirSync(path.dirname(outPath), { recursive: true });
fs.writeFileSync(outPath, `${JSON.stringify(out, null, 1)}\n`);
console.log(JSON.stringify({ sign_bit_experiment: out.sign_bit_experiment,
  known_answers: out.known_answers.map((k) => k.peer_accepts),
  edge_cases: Object.fromEntries(out.edge_cases.map((c) => [c.name, c.peer_accepts])),
  bit_flips: out.bit_flips }, null, 1));

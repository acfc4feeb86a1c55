#!/usr/bin/env node
// Generates tests/vectors/fingerprint.json: safety numbers (Fingerprint) computed by
// @signalapp/libsignal-client 0.103.0, an out-of-process oracle (its public Fingerprint
// and ScannableFingerprint API only).
//
// Run from the repository root after `npm ci` in interop/ (this script installs nothing):
//     node interop/vectors/fingerprint.js          # writes tests/vectors/fingerprint.json
//     node interop/vectors/fingerprint.js out.json
// Every key and stable id comes from a fixed label, so the output is the same on every run.
//
// Two sections:
// - `vectors`: inputs and the peer's displayable digits and scannable bytes, from both
//   points of view (`scannable` is the local side's, `mirror_scannable` the remote side's),
//   over iteration counts 2..5200, versions 0..2^32-1 and stable ids of 0..1000 bytes. The
//   script checks that the peer's compare accepts each mirror and that both sides show the
//   same digits, and throws otherwise.
// - `compare`: scanned bytes (well formed, mismatched and malformed) with the verdict of
//   the peer's ScannableFingerprint.compare(ours, theirs): "match", "mismatch" (false),
//   "version" (version mismatch error) or "parse" (any other error), and the peer's error.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const modPath = path.join(__dirname, '..', 'node_modules', '@signalapp', 'libsignal-client');
const outPath = process.argv[2] || path.join(__dirname, '..', '..', 'tests', 'vectors', 'fingerprint.json');
const signal = require(modPath);
const peerVersion = JSON.parse(fs.readFileSync(path.join(modPath, 'package.json'), 'utf8')).version;
if (peerVersion !== '0.103.0') throw new Error(`expected libsignal-client 0.103.0, got ${peerVersion}`);
const { Fingerprint, PrivateKey, ScannableFingerprint } = signal;

const hex = (b) => Buffer.from(b).toString('hex');
const label = (s, len) => {
  const out = [];
  let block = crypto.createHash('sha512').update(`missive fingerprint ${s}`).digest();
  while (out.length < len) {
    out.push(...block);
    block = crypto.createHash('sha512').update(block).digest();
  }
  return Buffer.from(out.slice(0, len));
};
const u8 = (b) => {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
};
const publicKey = (name) => PrivateKey.deserialize(u8(label(`key ${name}`, 32))).getPublicKey();
const make = (it, ver, lid, lk, rid, rk) => Fingerprint.new(it, ver, u8(lid), lk, u8(rid), rk);

// [name, iterations, version, local id, local key label, remote id, remote key label]
const aci = (u) => Buffer.from(u.replace(/-/g, ''), 'hex');
const cases = [
  ['ACI ids, version 2', 5200, 2, aci('9d0652a3-dcc3-4d11-975f-74d61598733f'), 'a', aci('796abedb-ca4e-4f18-8803-1fde5b921f9f'), 'b'],
  ['E.164 ids, version 1', 5200, 1, Buffer.from('+14152222222'), 'a', Buffer.from('+14153333333'), 'b'],
  ['fewest iterations, empty ids, version 0', 2, 0, Buffer.alloc(0), 'c', Buffer.alloc(0), 'd'],
  ['3 iterations, 1-byte ids, version 127', 3, 127, Buffer.from([0]), 'e', Buffer.from([0xff]), 'f'],
  ['version 128 (2-byte varint)', 100, 128, label('id g', 7), 'g', label('id h', 9), 'h'],
  ['version 65535', 1024, 65535, label('id i', 100), 'i', label('id j', 100), 'j'],
  ['version 2^32-1, long local id, empty remote id', 5200, 0xffffffff, label('id k', 1000), 'k', Buffer.alloc(0), 'l'],
  ['same key, different ids', 5200, 2, Buffer.from('left'), 'm', Buffer.from('right'), 'm'],
  ['same key, same id (equal halves)', 5200, 2, Buffer.from('same'), 'n', Buffer.from('same'), 'n'],
  ['different keys, same id', 5200, 2, Buffer.from('same'), 'o', Buffer.from('same'), 'p'],
];
for (let i = 0; i < 10; i++) {
  cases.push([`labelled pair ${i}`, [2, 5200, 5200, 17][i % 4], i % 3, label(`id q${i}`, (i * 13) % 41), `q${i}`, label(`id r${i}`, (i * 29) % 37), `r${i}`]);
}

const vectors = cases.map(([name, it, ver, lid, lkName, rid, rkName]) => {
  const [lk, rk] = [publicKey(lkName), publicKey(rkName)];
  const f = make(it, ver, lid, lk, rid, rk);
  const g = make(it, ver, rid, rk, lid, lk);
  const displayable = f.displayableFingerprint().toString();
  if (displayable !== g.displayableFingerprint().toString()) throw new Error(`${name}: sides differ`);
  if (!/^[0-9]{60}$/.test(displayable)) throw new Error(`${name}: not 60 digits`);
  if (!f.scannableFingerprint().compare(g.scannableFingerprint())) throw new Error(`${name}: mirror refused`);
  return {
    name,
    iterations: it,
    version: ver,
    local_id: hex(lid),
    local_key: hex(lk.serialize()),
    remote_id: hex(rid),
    remote_key: hex(rk.serialize()),
    displayable,
    scannable: hex(f.scannableFingerprint().toBuffer()),
    mirror_scannable: hex(g.scannableFingerprint().toBuffer()),
  };
});

// The compare cases: ours is the local side of vector 0; crafted inputs start from the
// remote side's (mirror) encoding.
function compareCases() {
  const v = vectors[0];
  const ours = Buffer.from(v.scannable, 'hex');
  const g = Buffer.from(v.mirror_scannable, 'hex');
  const [a, b, c] = [publicKey('a'), publicKey('b'), publicKey('z')];
  const [aid, bid] = [Buffer.from(v.local_id, 'hex'), Buffer.from(v.remote_id, 'hex')];
  const scan = (f) => Buffer.from(f.scannableFingerprint().toBuffer());
  const gl = g.subarray(6, 38), gr = g.subarray(42, 74);
  const lf = (x) => Buffer.concat([Buffer.from([0x0a, x.length]), x]);
  const nest = (n, x) => Buffer.concat([Buffer.from([(n << 3) | 2, x.length]), x]);
  const flip = (x, i) => { const y = Buffer.from(x); y[i] ^= 1; return y; };
  const list = [
    ['mirror', g],
    ['our own encoding (not mirrored)', ours],
    ['mirror at version 1', scan(make(5200, 1, bid, b, aid, a))],
    ['mirror at version 3', scan(make(5200, 3, bid, b, aid, a))],
    ['another remote identity key', scan(make(5200, 2, bid, c, aid, a))],
    ['another local identity key', scan(make(5200, 2, bid, b, aid, c))],
    ['another stable id', scan(make(5200, 2, Buffer.from('other'), b, aid, a))],
    ['another iteration count', scan(make(5199, 2, bid, b, aid, a))],
    ['bit flipped in the local digest', flip(g, 10)],
    ['bit flipped in the remote digest', flip(g, 70)],
    ['empty', Buffer.alloc(0)],
    ['garbage', Buffer.from([1, 2, 3])],
    ['truncated to 73 bytes', g.subarray(0, 73)],
    ['truncated to 40 bytes', g.subarray(0, 40)],
    ['truncated to 2 bytes (version only)', g.subarray(0, 2)],
    ['trailing zero byte', Buffer.concat([g, Buffer.from([0])])],
    ['version field absent', Buffer.concat([nest(2, lf(gl)), nest(3, lf(gr))])],
    ['fields in reverse order', Buffer.concat([nest(3, lf(gr)), nest(2, lf(gl)), Buffer.from([8, 2])])],
    ['unknown field appended', Buffer.concat([g, Buffer.from([0x20, 1])])],
    ['unknown field inside a digest message', Buffer.concat([Buffer.from([8, 2]), nest(2, Buffer.concat([lf(gl), Buffer.from([0x10, 5])])), nest(3, lf(gr))])],
    ['remote digest absent', Buffer.concat([Buffer.from([8, 2]), nest(2, lf(gl))])],
    ['local digest absent', Buffer.concat([Buffer.from([8, 2]), nest(3, lf(gr))])],
    ['local digest message empty', Buffer.concat([Buffer.from([8, 2]), nest(2, Buffer.alloc(0)), nest(3, lf(gr))])],
    ['local digest 31 bytes', Buffer.concat([Buffer.from([8, 2]), nest(2, lf(gl.subarray(0, 31))), nest(3, lf(gr))])],
    ['local digest 33 bytes', Buffer.concat([Buffer.from([8, 2]), nest(2, lf(Buffer.concat([gl, Buffer.from([0])]))), nest(3, lf(gr))])],
    ['version 9, then the mirror', Buffer.concat([Buffer.from([8, 9]), g])],
    ['the mirror, then version 9', Buffer.concat([g, Buffer.from([8, 9])])],
    ['version 2 as a non-minimal varint', Buffer.concat([Buffer.from([8, 0x82, 0x00]), g.subarray(2)])],
    ['version 2 + 2^32 (above u32)', Buffer.concat([Buffer.from([8, 0x82, 0x80, 0x80, 0x80, 0x10]), g.subarray(2)])],
    ['version as a length-delimited field', Buffer.concat([Buffer.from([0x0a, 1, 2]), g.subarray(2)])],
    ['local digest as a varint', Buffer.concat([Buffer.from([8, 2, 0x10, 1]), nest(3, lf(gr))])],
  ];
  return list.map(([name, theirs]) => {
    let verdict, error = null;
    try {
      verdict = ScannableFingerprint._fromBuffer(u8(ours)).compare(ScannableFingerprint._fromBuffer(u8(theirs))) ? 'match' : 'mismatch';
    } catch (e) {
      error = e.message;
      verdict = /version number mismatch/.test(e.message) ? 'version' : 'parse';
    }
    return { name, ours: hex(ours), theirs: hex(theirs), peer: verdict, peer_error: error };
  });
}

const out = {
  description:
    'Safety numbers (Fingerprint) observed from @signalapp/libsignal-client; see docs/PROTOCOL.md §10 and interop/OBSERVED.md §10. Byte strings are hex; keys are 0x05 || u (33 bytes). `scannable` is the local side\'s encoding, `mirror_scannable` the remote side\'s (same inputs, sides swapped). In `compare`, `peer` is the verdict of the peer\'s ScannableFingerprint.compare(ours, theirs).',
  generator: 'interop/vectors/fingerprint.js',
  peer: `@signalapp/libsignal-client ${peerVersion}`,
  vectors,
  compare: compareCases(),
};
fs.writeFileSync(outPath, JSON.stringify(out, null, 1) + '\n');
console.error(`wrote ${vectors.length} vectors and ${out.compare.length} compare cases to ${outPath}`);

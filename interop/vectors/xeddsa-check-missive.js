#!/usr/bin/env node
// Has @signalapp/libsignal-client verify signatures made by missive, and records its
// verdicts as `missive_signed` in tests/vectors/xeddsa.json (other fields are kept).
//
// Run from the repository root, after installing the peer as for xeddsa.js:
//
//     cargo test --lib emit_missive_signatures -- --ignored   # writes target/xeddsa-missive.json
//     node interop/vectors/xeddsa-check-missive.js [target/xeddsa-missive.json] [path-to-libsignal-client]
//
// Exits non-zero if the peer rejects any of them or derives a different public key.
'use strict';

const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..', '..');
const inPath = process.argv[2] || path.join(root, 'target', 'xeddsa-missive.json');
const signal = require(process.argv[3] || '@signalapp/libsignal-client');
const outPath = path.join(root, 'tests', 'vectors', 'xeddsa.json');

const made = JSON.parse(fs.readFileSync(inPath, 'utf8'));
const unhex = (h) => Buffer.from(h, 'hex');
let failures = 0;
const checked = made.map((v) => {
  const priv = signal.PrivateKey.deserialize(unhex(v.private_key));
  const samePublic = Buffer.from(priv.getPublicKey().serialize()).toString('hex') === v.public_key;
  const pub = signal.PublicKey.deserialize(unhex(v.public_key));
  const accepts = pub.verify(unhex(v.message), unhex(v.signature));
  if (!accepts || !samePublic) failures++;
  return { private_key: v.private_key, public_key: v.public_key, message: v.message, z: v.z,
    signature: v.signature, peer_accepts: accepts };
});

const out = JSON.parse(fs.readFileSync(outPath, 'utf8'));
out.missive_signed = checked;
fs.writeFileSync(outPath, `${JSON.stringify(out, null, 1)}\n`);
console.log(`${checked.length - failures} accepted, ${failures} rejected or mismatched`);
process.exit(failures === 0 ? 0 : 1);

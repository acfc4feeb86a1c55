'use strict';
// Safety numbers (Fingerprint): how libsignal-client derives the 60 digits and the
// scannable encoding, and what its ScannableFingerprint.compare accepts.
//   node interop/experiments/fingerprint.js
//
// Every fact is checked against a model written here from the observations (SHA-512 from
// node's crypto module); the script prints each hypothesis with how many samples agree.

const crypto = require('crypto');
const { startPeer } = require('./peer');

const sha512 = (b) => crypto.createHash('sha512').update(b).digest();
const hex = (b) => Buffer.from(b).toString('hex');

// Model: h_1 = SHA-512(prefix ‖ key ‖ id ‖ key), h_i = SHA-512(h_{i-1} ‖ key).
function chain(key, id, hashes, prefix = Buffer.from([0, 0])) {
  let x = Buffer.concat([prefix, key, id]);
  for (let i = 0; i < hashes; i++) x = sha512(Buffer.concat([x, key]));
  return x;
}
function digits(h, bigEndian = true) {
  let s = '';
  for (let i = 0; i < 30; i += 5) {
    const v = bigEndian ? h.readUIntBE(i, 5) : h.readUIntLE(i, 5);
    s += String(v % 100000).padStart(5, '0');
  }
  return s;
}

async function main() {
  const peer = startPeer('client');
  const key = async () => Buffer.from((await peer.call('generate_keypair')).public, 'hex');
  const fp = (iterations, version, lid, lk, rid, rk) =>
    peer.call('fingerprint', {
      iterations, version, local_id: hex(lid), local_key: hex(lk), remote_id: hex(rid), remote_key: hex(rk),
    });
  const attempt = async (cmd, args) => {
    const r = await peer.attempt(cmd, args);
    return r.ok ? JSON.stringify(r.matches ?? r.displayable) : `error: ${r.error}`;
  };

  console.log('1. the version parameter and the digits');
  {
    const [a, b] = [await key(), await key()];
    const seen = new Set(), scans = [];
    for (const v of [0, 1, 2, 3, 255, 65535, 0xffffffff]) {
      const r = await fp(5200, v, Buffer.from('alice'), a, Buffer.from('bob'), b);
      seen.add(r.displayable);
      scans.push(`    version ${v}: scannable starts ${r.scannable.slice(0, 16)}…  (${r.scannable.length / 2} bytes)`);
    }
    console.log(`  versions 0,1,2,3,255,65535,2^32-1 give ${seen.size} distinct digit string(s)`);
    console.log(scans.join('\n'));
    console.log(`  version 2^32: ${await attempt('fingerprint', { iterations: 5200, version: 2 ** 32, local_id: '00', local_key: hex(a), remote_id: '00', remote_key: hex(b) })}`);
  }

  console.log('2. the hash chain, the chunks and the order of the halves (200 random pairs)');
  {
    const tally = {};
    const count = (k, ok) => { tally[k] = (tally[k] || 0) + (ok ? 1 : 0); };
    for (let t = 0; t < 200; t++) {
      const [a, b] = [await key(), await key()];
      const lid = crypto.randomBytes(t % 40), rid = crypto.randomBytes((t * 7) % 33);
      const it = [2, 3, 7, 1024, 5200][t % 5];
      const r = await fp(it, 2, lid, a, rid, b);
      const sc = Buffer.from(r.scannable, 'hex');
      const L = chain(a, lid, it), R = chain(b, rid, it);
      const [dl, dr] = [digits(L), digits(R)];
      count('iterations = number of SHA-512 calls', r.displayable === (dl < dr ? dl + dr : dr + dl));
      const L1 = chain(a, lid, it - 1), R1 = chain(b, rid, it - 1);
      count('  (alternative: iterations - 1 calls)', r.displayable === [digits(L1), digits(R1)].sort().join(''));
      const Lv = chain(a, lid, it, Buffer.from([0, 2])), Rv = chain(b, rid, it, Buffer.from([0, 2]));
      count('  (alternative: prefix = version 2 as 2 bytes)', r.displayable === [digits(Lv), digits(Rv)].sort().join(''));
      count('  (alternative: chunks little-endian)', r.displayable === [digits(L, false), digits(R, false)].sort().join(''));
      count('halves ordered as digit strings, smaller first', r.displayable === [dl, dr].sort().join(''));
      count('  (alternative: ordered by hash bytes)', r.displayable === (Buffer.compare(L, R) <= 0 ? dl + dr : dr + dl));
      count('  (alternative: local half first)', r.displayable === dl + dr);
      const expect = Buffer.concat([
        Buffer.from([0x08, 0x02, 0x12, 0x22, 0x0a, 0x20]), L.subarray(0, 32),
        Buffer.from([0x1a, 0x22, 0x0a, 0x20]), R.subarray(0, 32),
      ]);
      count('scannable = 08 02 | 12 22 0a 20 local[0..32] | 1a 22 0a 20 remote[0..32]', sc.equals(expect));
    }
    for (const [k, v] of Object.entries(tally)) console.log(`  ${String(v).padStart(3)}/200  ${k}`);
  }

  console.log('3. iterations');
  {
    const a = hex(await key());
    for (const it of [0, 1, 2]) {
      console.log(`  ${it}: ${await attempt('fingerprint', { iterations: it, version: 2, local_id: '', local_key: a, remote_id: '', remote_key: a })}`);
    }
  }

  console.log('4. ScannableFingerprint.compare(ours, theirs)');
  {
    const [a, b, c] = [await key(), await key(), await key()];
    const A = Buffer.from('A'), B = Buffer.from('B');
    const ours = Buffer.from((await fp(5200, 2, A, a, B, b)).scannable, 'hex');
    const g = Buffer.from((await fp(5200, 2, B, b, A, a)).scannable, 'hex');
    const v1 = Buffer.from((await fp(5200, 1, B, b, A, a)).scannable, 'hex');
    const other = Buffer.from((await fp(5200, 2, B, c, A, a)).scannable, 'hex');
    const otherId = Buffer.from((await fp(5200, 2, Buffer.from('C'), b, A, a)).scannable, 'hex');
    const gl = g.subarray(6, 38), gr = g.subarray(42, 74);
    const lf = (x) => Buffer.concat([Buffer.from([0x0a, x.length]), x]);
    const nest = (n, x) => Buffer.concat([Buffer.from([(n << 3) | 2, x.length]), x]);
    const flip = (x, i) => { const y = Buffer.from(x); y[i] ^= 1; return y; };
    const cases = [
      ['their mirror-image fingerprint', g],
      ['our own bytes (not mirrored)', ours],
      ['their fingerprint, version 1', v1],
      ['another remote identity key', other],
      ['another stable id', otherId],
      ['one bit flipped in a digest', flip(g, 10)],
      ['empty', Buffer.alloc(0)],
      ['garbage 01 02 03', Buffer.from([1, 2, 3])],
      ['truncated to 40 bytes', g.subarray(0, 40)],
      ['trailing 00', Buffer.concat([g, Buffer.from([0])])],
      ['version field absent', Buffer.concat([nest(2, lf(gl)), nest(3, lf(gr))])],
      ['fields in reverse order', Buffer.concat([nest(3, lf(gr)), nest(2, lf(gl)), Buffer.from([8, 2])])],
      ['unknown field 4 appended', Buffer.concat([g, Buffer.from([0x20, 1])])],
      ['unknown field inside field 2', Buffer.concat([Buffer.from([8, 2]), nest(2, Buffer.concat([lf(gl), Buffer.from([0x10, 5])])), nest(3, lf(gr))])],
      ['field 3 absent', Buffer.concat([Buffer.from([8, 2]), nest(2, lf(gl))])],
      ['field 2 absent', Buffer.concat([Buffer.from([8, 2]), nest(3, lf(gr))])],
      ['field 2 empty message', Buffer.concat([Buffer.from([8, 2]), nest(2, Buffer.alloc(0)), nest(3, lf(gr))])],
      ['local digest 31 bytes', Buffer.concat([Buffer.from([8, 2]), nest(2, lf(gl.subarray(0, 31))), nest(3, lf(gr))])],
      ['local digest 33 bytes', Buffer.concat([Buffer.from([8, 2]), nest(2, lf(Buffer.concat([gl, Buffer.from([0])]))), nest(3, lf(gr))])],
      ['version 9 then version 2', Buffer.concat([Buffer.from([8, 9]), g])],
      ['version 2 then version 9', Buffer.concat([g, Buffer.from([8, 9])])],
      ['version 2, non-minimal varint 82 00', Buffer.concat([Buffer.from([8, 0x82, 0x00]), g.subarray(2)])],
      ['version 2 + 2^32 (5-byte varint)', Buffer.concat([Buffer.from([8, 0x82, 0x80, 0x80, 0x80, 0x10]), g.subarray(2)])],
      ['version as a length-delimited field', Buffer.concat([Buffer.from([0x0a, 1, 2]), g.subarray(2)])],
    ];
    for (const [name, theirs] of cases) {
      console.log(`  ${name.padEnd(38)} ${await attempt('fingerprint_compare', { ours: hex(ours), theirs: hex(theirs) })}`);
    }
  }
  peer.close();
}

main().catch((e) => { console.error(e); process.exit(1); });

'use strict';
// Round-3 CRYSTALS-Kyber1024 (the KEM libsignal calls key type 0x08), deterministic, for the
// vector generators: key generation from a 64-byte seed d ‖ z, encapsulation from 32 bytes
// of randomness, decapsulation. Written from the round-3 specification ("CRYSTALS-Kyber
// Algorithm Specifications and Supporting Documentation", version 3.02, §1.1–§1.5), with
// plain modular arithmetic instead of Montgomery form; slow and not constant time: test
// tooling only.
//
// Its outputs are never trusted on their own: handshake.js hands every ciphertext to
// libsignal-client, whose own decapsulation must reach the same shared secret (the session
// keys derived from it must match the peer's record) before a vector is written.
//
// Round 3 differs from FIPS 203 ML-KEM in three places, all implemented here as round 3:
// G(d) without a trailing k byte; m = H(randomness) before encryption; and the shared
// secret K = KDF(K̄ ‖ H(c)) with KDF = SHAKE-256, instead of K̄ itself.
const crypto = require('crypto');

const N = 256;
const Q = 3329;
const K = 4;
const ETA1 = 2;
const ETA2 = 2;
const DU = 11;
const DV = 5;

const H = (b) => crypto.createHash('sha3-256').update(b).digest();
const G = (b) => crypto.createHash('sha3-512').update(b).digest();
const shake128 = (b, len) => crypto.createHash('shake128', { outputLength: len }).update(b).digest();
const shake256 = (b, len) => crypto.createHash('shake256', { outputLength: len }).update(b).digest();
const PRF = (s, nonce, eta) => shake256(Buffer.concat([s, Buffer.from([nonce])]), 64 * eta);
const KDF = (b) => shake256(b, 32);

const mod = (x) => ((x % Q) + Q) % Q;
function pow(b, e) {
  let r = 1;
  for (let i = 0; i < e; i++) r = (r * b) % Q;
  return r;
}
const bitrev7 = (i) => parseInt(i.toString(2).padStart(7, '0').split('').reverse().join(''), 2);
const ZETAS = Array.from({ length: 128 }, (_, i) => pow(17, bitrev7(i)));
const GAMMAS = Array.from({ length: 128 }, (_, i) => pow(17, 2 * bitrev7(i) + 1));

function ntt(f) {
  const a = f.slice();
  let k = 1;
  for (let len = 128; len >= 2; len >>= 1) {
    for (let start = 0; start < N; start += 2 * len) {
      const z = ZETAS[k++];
      for (let j = start; j < start + len; j++) {
        const t = (z * a[j + len]) % Q;
        a[j + len] = mod(a[j] - t);
        a[j] = (a[j] + t) % Q;
      }
    }
  }
  return a;
}

function invNtt(f) {
  const a = f.slice();
  let k = 127;
  for (let len = 2; len <= 128; len <<= 1) {
    for (let start = 0; start < N; start += 2 * len) {
      const z = ZETAS[k--];
      for (let j = start; j < start + len; j++) {
        const t = a[j];
        a[j] = (t + a[j + len]) % Q;
        a[j + len] = (z * mod(a[j + len] - t)) % Q;
      }
    }
  }
  return a.map((x) => (x * 3303) % Q); // 3303 = 128^-1 mod q
}

// Product in the NTT domain: 128 products of degree-1 polynomials mod (X^2 − γ_i).
function mulNtt(f, g) {
  const h = new Array(N);
  for (let i = 0; i < 128; i++) {
    const [a0, a1, b0, b1] = [f[2 * i], f[2 * i + 1], g[2 * i], g[2 * i + 1]];
    h[2 * i] = (a0 * b0 + ((a1 * b1) % Q) * GAMMAS[i]) % Q;
    h[2 * i + 1] = (a0 * b1 + a1 * b0) % Q;
  }
  return h;
}
const add = (f, g) => f.map((x, i) => (x + g[i]) % Q);
const sub = (f, g) => f.map((x, i) => mod(x - g[i]));

// Parse(XOF(ρ, i, j)): rejection sampling of 12-bit values below q.
function sampleNtt(rho, i, j) {
  for (let len = 840; ; len *= 2) {
    const b = shake128(Buffer.concat([rho, Buffer.from([i, j])]), len);
    const a = [];
    for (let p = 0; p + 3 <= b.length && a.length < N; p += 3) {
      const d1 = b[p] | ((b[p + 1] & 0x0f) << 8);
      const d2 = (b[p + 1] >> 4) | (b[p + 2] << 4);
      if (d1 < Q) a.push(d1);
      if (d2 < Q && a.length < N) a.push(d2);
    }
    if (a.length === N) return a;
  }
}

function cbd(b, eta) {
  const bit = (k) => (b[k >> 3] >> (k & 7)) & 1;
  const f = new Array(N);
  for (let i = 0; i < N; i++) {
    let x = 0;
    let y = 0;
    for (let j = 0; j < eta; j++) {
      x += bit(2 * i * eta + j);
      y += bit(2 * i * eta + eta + j);
    }
    f[i] = mod(x - y);
  }
  return f;
}

function encode(f, d) {
  const out = Buffer.alloc((N * d) / 8);
  let bitPos = 0;
  for (const c of f) {
    for (let j = 0; j < d; j++, bitPos++) if ((c >> j) & 1) out[bitPos >> 3] |= 1 << (bitPos & 7);
  }
  return out;
}
function decode(b, d) {
  const f = new Array(N).fill(0);
  for (let i = 0; i < N * d; i++) if ((b[i >> 3] >> (i & 7)) & 1) f[Math.floor(i / d)] |= 1 << i % d;
  return f;
}
const compress = (f, d) => f.map((x) => Math.floor((x * 2 ** d * 2 + Q) / (2 * Q)) % 2 ** d);
const decompress = (f, d) => f.map((y) => Math.floor((y * Q * 2 + 2 ** d) / 2 ** (d + 1)));

function matrix(rho, transposed) {
  return Array.from({ length: K }, (_, i) =>
    Array.from({ length: K }, (_, j) => (transposed ? sampleNtt(rho, i, j) : sampleNtt(rho, j, i))),
  );
}
const dot = (row, v) => row.reduce((acc, a, j) => add(acc, mulNtt(a, v[j])), new Array(N).fill(0));

function cpaKeyGen(d) {
  const g = G(d);
  const [rho, sigma] = [g.subarray(0, 32), g.subarray(32)];
  const A = matrix(rho, false);
  let nonce = 0;
  const s = Array.from({ length: K }, () => ntt(cbd(PRF(sigma, nonce++, ETA1), ETA1)));
  const e = Array.from({ length: K }, () => ntt(cbd(PRF(sigma, nonce++, ETA1), ETA1)));
  const t = A.map((row, i) => add(dot(row, s), e[i]));
  const pk = Buffer.concat([...t.map((p) => encode(p, 12)), rho]);
  const sk = Buffer.concat(s.map((p) => encode(p, 12)));
  return { pk, sk };
}

function cpaEncrypt(pk, m, coins) {
  const t = Array.from({ length: K }, (_, i) => decode(pk.subarray(384 * i, 384 * (i + 1)), 12));
  const rho = pk.subarray(384 * K);
  const At = matrix(rho, true);
  let nonce = 0;
  const r = Array.from({ length: K }, () => ntt(cbd(PRF(coins, nonce++, ETA1), ETA1)));
  const e1 = Array.from({ length: K }, () => cbd(PRF(coins, nonce++, ETA2), ETA2));
  const e2 = cbd(PRF(coins, nonce++, ETA2), ETA2);
  const u = At.map((row, i) => add(invNtt(dot(row, r)), e1[i]));
  const v = add(add(invNtt(dot(t, r)), e2), decompress(decode(m, 1), 1));
  return Buffer.concat([...u.map((p) => encode(compress(p, DU), DU)), encode(compress(v, DV), DV)]);
}

function cpaDecrypt(sk, c) {
  const u = Array.from({ length: K }, (_, i) =>
    decompress(decode(c.subarray(32 * DU * i, 32 * DU * (i + 1)), DU), DU),
  );
  const v = decompress(decode(c.subarray(32 * DU * K), DV), DV);
  const s = Array.from({ length: K }, (_, i) => decode(sk.subarray(384 * i, 384 * (i + 1)), 12));
  const w = sub(v, invNtt(dot(s, u.map(ntt))));
  return encode(compress(w, 1), 1);
}

/** `seed` = d ‖ z (64 bytes) → raw {publicKey (1568), secretKey (3168)}, no type byte. */
function keyGen(seed) {
  const [d, z] = [seed.subarray(0, 32), seed.subarray(32, 64)];
  const { pk, sk } = cpaKeyGen(d);
  return { publicKey: pk, secretKey: Buffer.concat([sk, pk, H(pk), z]) };
}

/** Raw public key, 32 bytes of randomness → {ciphertext (1568), sharedSecret (32)}. */
function encapsulate(publicKey, randomness) {
  const m = H(randomness);
  const g = G(Buffer.concat([m, H(publicKey)]));
  const c = cpaEncrypt(publicKey, m, g.subarray(32));
  return { ciphertext: c, sharedSecret: KDF(Buffer.concat([g.subarray(0, 32), H(c)])) };
}

/** Raw secret key, raw ciphertext → 32-byte shared secret (implicit rejection on mismatch). */
function decapsulate(secretKey, c) {
  const sk = secretKey.subarray(0, 1536);
  const pk = secretKey.subarray(1536, 1536 + 1568);
  const h = secretKey.subarray(3104, 3136);
  const z = secretKey.subarray(3136, 3168);
  const m = cpaDecrypt(sk, c);
  const g = G(Buffer.concat([m, h]));
  const ok = cpaEncrypt(pk, m, g.subarray(32)).equals(c);
  return KDF(Buffer.concat([ok ? g.subarray(0, 32) : z, H(c)]));
}

module.exports = { keyGen, encapsulate, decapsulate };

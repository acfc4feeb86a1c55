// Minimal, slow, variable-time edwards25519 arithmetic over BigInt, written from the
// curve's published parameters (RFC 7748 §4.1, RFC 8032 §5.1) and the XEdDSA
// specification (signal.org/docs/specifications/xeddsa, §2.3 and §3).
// For *crafting test inputs only*: never use it on secrets.
'use strict';

const crypto = require('crypto');

const P = (1n << 255n) - 19n;
const Q = (1n << 252n) + 27742317777372353535851937790883648493n;

function mod(a, m = P) {
  const r = a % m;
  return r < 0n ? r + m : r;
}

function pow(b, e, m = P) {
  let r = 1n;
  b = mod(b, m);
  while (e > 0n) {
    if (e & 1n) r = (r * b) % m;
    b = (b * b) % m;
    e >>= 1n;
  }
  return r;
}

function inv(a, m = P) {
  return a === 0n ? 0n : pow(a, m - 2n, m);
}

const D = mod(-121665n * inv(121666n));
const SQRT_M1 = pow(2n, (P - 1n) / 4n);

// Extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, xy = T/Z.
const IDENTITY = [0n, 1n, 1n, 0n];

function fromAffine(x, y) {
  return [mod(x), mod(y), 1n, mod(x * y)];
}

function add(p1, p2) {
  const [X1, Y1, Z1, T1] = p1;
  const [X2, Y2, Z2, T2] = p2;
  const a = mod((Y1 - X1) * (Y2 - X2));
  const b = mod((Y1 + X1) * (Y2 + X2));
  const c = mod(2n * D * T1 * T2);
  const d = mod(2n * Z1 * Z2);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return [mod(e * f), mod(g * h), mod(f * g), mod(e * h)];
}

function neg(p) {
  const [X, Y, Z, T] = p;
  return [mod(-X), Y, Z, mod(-T)];
}

function mul(k, pt) {
  let r = IDENTITY;
  let base = pt;
  let e = k;
  while (e > 0n) {
    if (e & 1n) r = add(r, base);
    base = add(base, base);
    e >>= 1n;
  }
  return r;
}

function affine(pt) {
  const [X, Y, Z] = pt;
  const zi = inv(Z);
  return [mod(X * zi), mod(Y * zi)];
}

function eq(p1, p2) {
  const [x1, y1] = affine(p1);
  const [x2, y2] = affine(p2);
  return x1 === x2 && y1 === y2;
}

function leToInt(buf) {
  let r = 0n;
  for (let i = buf.length - 1; i >= 0; i--) r = (r << 8n) | BigInt(buf[i]);
  return r;
}

function intToLe(n, len = 32) {
  const out = Buffer.alloc(len);
  let v = n;
  for (let i = 0; i < len; i++) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/// Canonical encoding: y (255 bits) with the sign (parity) of x in bit 255.
function compress(pt) {
  const [x, y] = affine(pt);
  return intToLe(y | ((x & 1n) << 255n));
}

/// The x with the given parity for this y, or null when y is not on the curve.
/// Like most decoders, x = 0 with sign 1 gives x = 0 (no rejection).
function recoverX(y, sign) {
  const yy = mod(y * y);
  const x2 = mod((yy - 1n) * inv(mod(D * yy + 1n)));
  let x = pow(x2, (P + 3n) / 8n);
  if (mod(x * x) !== x2) x = mod(x * SQRT_M1);
  if (mod(x * x) !== x2) return null;
  if ((x & 1n) !== BigInt(sign)) x = mod(-x);
  return x;
}

/// Decodes 32 bytes, reducing y mod p (permissive), or null if not on the curve.
function decompress(bytes) {
  const v = leToInt(bytes);
  const y = mod(v & ((1n << 255n) - 1n));
  const x = recoverX(y, Number(v >> 255n));
  return x === null ? null : fromAffine(x, y);
}

const BASE = fromAffine(recoverX(mod(4n * inv(5n)), 0), mod(4n * inv(5n)));

/// Montgomery u → Edwards point with the given sign bit (birational map y = (u-1)/(u+1)),
/// ignoring bit 255 of u as the specification's convert_mont does.
function montToEdwards(u, sign) {
  const um = mod(u & ((1n << 255n) - 1n));
  if (um === P - 1n) return null;
  const y = mod((um - 1n) * inv(um + 1n));
  const x = recoverX(y, sign);
  return x === null ? null : fromAffine(x, y);
}

/// Edwards point → Montgomery u = (1+y)/(1-y).
function edwardsToMont(pt) {
  const [, y] = affine(pt);
  return mod((1n + y) * inv(mod(1n - y)));
}

function sha512(...parts) {
  const h = crypto.createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
}

function clamp(k) {
  const c = Buffer.from(k);
  c[0] &= 248;
  c[31] &= 127;
  c[31] |= 64;
  return c;
}

/// SHA-512(R ‖ A ‖ M) mod q.
function challenge(rBytes, aBytes, msg) {
  return mod(leToInt(sha512(rBytes, aBytes, msg)), Q);
}

const HASH1_PREFIX = Buffer.concat([Buffer.from([0xfe]), Buffer.alloc(31, 0xff)]);

/// XEdDSA signing with explicit Z. `variant`:
///  - 'libsignal': a = k mod q, A = kB (its own sign), sign(A) stored in bit 7 of byte 63;
///  - 'spec': the specification's calculate_key_pair (A.s forced to 0, a negated to match),
///    byte 63 bit 7 left 0.
function signWithZ(privateKey, msg, z, variant) {
  const k = mod(leToInt(clamp(privateKey)), Q);
  const e = mul(k, BASE);
  const eBytes = compress(e);
  const signBit = eBytes[31] >> 7;
  let a = k;
  let aBytes = eBytes;
  if (variant === 'spec' && signBit === 1) {
    a = mod(-k, Q);
    aBytes = compress(neg(e));
  }
  const r = mod(leToInt(sha512(HASH1_PREFIX, intToLe(a), msg, z)), Q);
  const rBytes = compress(mul(r, BASE));
  const h = challenge(rBytes, aBytes, msg);
  const s = mod(r + h * a, Q);
  const sig = Buffer.concat([rBytes, intToLe(s)]);
  if (variant === 'libsignal') sig[63] |= signBit << 7;
  return sig;
}

module.exports = {
  P, Q, D, IDENTITY, BASE, mod, inv, add, neg, mul, eq, affine, compress, decompress,
  recoverX, fromAffine, montToEdwards, edwardsToMont, leToInt, intToLe, sha512, clamp,
  challenge, signWithZ,
};

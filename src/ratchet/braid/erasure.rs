//! The braid's erasure code: a systematic Reed–Solomon code over GF(2^16), exactly as
//! libsignal-client 0.103.0 sends it (evidence: `docs/notes/spqr-braid.md` §3; known
//! answers: `tests/vectors/braid_erasure.json`).
//!
//! ```text
//! field     GF(2^16) = GF(2)[x] / (x^16 + x^12 + x^3 + x + 1)        (0x1100B, primitive)
//! symbols   a 32-byte chunk is 16 symbols, each a big-endian u16:
//!             symbol j = chunk[2j] << 8 | chunk[2j + 1]
//! value     V of 32·k bytes = data chunks D_0 … D_{k-1} (D_i = V[32i .. 32i + 32])
//! code      16 independent polynomials P_0 … P_15 of degree < k over the field, where
//!             P_j(i) = symbol j of D_i   for i = 0 … k-1
//! chunk x   (x = the chunk index, a u16 read as a field element)
//!             symbol j of chunk x = P_j(x)
//! ```
//! So chunks `0 … k-1` are the raw data (the code is systematic) and any `k` distinct
//! chunk indices determine the value (Lagrange interpolation). The sender's chunk index
//! wraps from 65,535 to 0, where the chunks repeat.
//!
//! Interpolation is barycentric: with `c_i = 1 / Π_{j≠i} (x_i − x_j)` for the points held
//! and `L(t) = Π_j (t − x_j)`, the value at a point `t` not held is
//! `Σ_i c_i · L(t) / (t − x_i) · y_i`. One redundant chunk costs `6k + 30` field
//! multiplications and one pass over the rows; decoding a value whose data chunks all
//! went missing costs `k²` more (the `c_i`) plus that per missing row.
//!
//! The coded values are public (encapsulation keys, ciphertexts, MACs), so nothing here
//! needs to run in constant time. Nothing allocates; a decoder's buffers are fixed by its
//! value's chunk count.

use crate::ratchet::spqr::{CHUNK_LEN, Chunk};

/// Reduction polynomial of the field: x^16 + x^12 + x^3 + x + 1.
#[cfg(test)]
const POLY: u32 = 0x1_100B;

/// Largest number of data chunks in a braid value (the 1,152-byte `ek_vector`).
pub(crate) const MAX_CHUNKS: usize = 36;

type Row = [u8; CHUNK_LEN];

/// Symbols per chunk.
const SYMBOLS: usize = CHUNK_LEN / 2;
// Exactly: `combine` zips its accumulators with the chunk's symbols, so a larger array
// would go unnoticed (only wasted), and a smaller one would drop symbols.
const _: () = assert!(SYMBOLS * 2 == CHUNK_LEN);

/// Carry-less product of two field elements (degree < 31), bit by bit: for constants.
const fn clmul_slow(a: u16, b: u16) -> u32 {
    let a = a as u32;
    let mut b = b;
    let mut r = 0u32;
    let mut i = 0;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a << i;
        }
        b >>= 1;
        i += 1;
    }
    r
}

/// Reduces a polynomial of degree < 32 modulo the field polynomial, folding x^16 = x^12
/// + x^3 + x + 1 until nothing is left above x^15 (at most five rounds): for constants.
const fn reduce_slow(mut r: u32) -> u16 {
    while r >> 16 != 0 {
        let h = r >> 16;
        r = (r & 0xFFFF) ^ h ^ (h << 1) ^ (h << 3) ^ (h << 12);
    }
    r as u16
}

/// Product in GF(2^16), for constants.
const fn mul_slow(a: u16, b: u16) -> u16 {
    reduce_slow(clmul_slow(a, b))
}

/// `(b · x^(16 + 8·shift)) mod P` for every byte `b`: the reduction is linear, so the
/// part of a product above x^15 reduces byte by byte.
// Evaluated only in constants: an index out of bounds would fail the build, not a run.
#[allow(clippy::indexing_slicing)]
const fn reduction_table(shift: u32) -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = reduce_slow((b as u32) << (16 + 8 * shift));
        b += 1;
    }
    t
}

const REDUCE_LO: [u16; 256] = reduction_table(0);
const REDUCE_HI: [u16; 256] = reduction_table(1);

/// Reduces a polynomial of degree < 32 modulo the field polynomial (two table lookups).
fn reduce(r: u32) -> u16 {
    let h = r >> 16;
    let lo = REDUCE_LO.get((h & 0xFF) as usize).copied().unwrap_or(0);
    let hi = REDUCE_HI
        .get((h >> 8 & 0xFF) as usize)
        .copied()
        .unwrap_or(0);
    (r as u16) ^ lo ^ hi
}

/// The 16 carry-less multiples `a · n`, `n < 16`.
fn multiples(a: u16) -> [u32; 16] {
    let a1 = u32::from(a);
    let (a2, a4, a8) = (a1 << 1, a1 << 2, a1 << 3);
    [
        0,
        a1,
        a2,
        a2 ^ a1,
        a4,
        a4 ^ a1,
        a4 ^ a2,
        a4 ^ a2 ^ a1,
        a8,
        a8 ^ a1,
        a8 ^ a2,
        a8 ^ a2 ^ a1,
        a8 ^ a4,
        a8 ^ a4 ^ a1,
        a8 ^ a4 ^ a2,
        a8 ^ a4 ^ a2 ^ a1,
    ]
}

/// `a · b` carry-less, from `a`'s multiples, four bits of `b` at a time.
fn clmul_with(t: &[u32; 16], b: u16) -> u32 {
    let at = |n: u16| t.get(usize::from(n & 15)).copied().unwrap_or(0);
    at(b) ^ (at(b >> 4) << 4) ^ (at(b >> 8) << 8) ^ (at(b >> 12) << 12)
}

/// Product in GF(2^16).
pub(crate) fn mul(a: u16, b: u16) -> u16 {
    reduce(clmul_with(&multiples(a), b))
}

/// Multiplicative inverse (a^(2^16 − 2)), for constants; 0 maps to 0.
const fn inv_slow(a: u16) -> u16 {
    let mut result = 1u16;
    let mut base = a;
    let mut e: u32 = 0xFFFE;
    while e != 0 {
        if e & 1 != 0 {
            result = mul_slow(result, base);
        }
        base = mul_slow(base, base);
        e >>= 1;
    }
    result
}

/// Multiplicative inverse (a^(2^16 − 2)); 0 maps to 0 (callers never invert 0).
pub(crate) fn inv(a: u16) -> u16 {
    let mut result = 1u16;
    let mut base = a;
    let mut e: u32 = 0xFFFE;
    while e != 0 {
        if e & 1 != 0 {
            result = mul(result, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    result
}

/// Inverts every element of `v` (all non-zero) with one field inversion: prefix
/// products, one inverse, and a walk back.
fn batch_invert(v: &mut [u16]) {
    let mut prefix = [0u16; MAX_CHUNKS];
    let mut acc = 1u16;
    for (p, &x) in prefix.iter_mut().zip(v.iter()) {
        *p = acc;
        acc = mul(acc, x);
    }
    let mut inv_acc = inv(acc);
    for (x, &p) in v.iter_mut().zip(prefix.iter()).rev() {
        let xi = *x;
        *x = mul(inv_acc, p);
        inv_acc = mul(inv_acc, xi);
    }
}

/// Barycentric weights of the points 0 … k−1: `c_i = 1 / Π_{j<k, j≠i} (i − j)`, for the
/// value sizes the braid sends (computed at compile time).
// Evaluated only in constants: an index out of bounds would fail the build, not a run.
#[allow(clippy::indexing_slicing)]
const fn systematic_weights<const K: usize>() -> [u16; K] {
    let mut out = [0u16; K];
    let mut i = 0;
    while i < K {
        let mut p = 1u16;
        let mut j = 0;
        while j < K {
            if j != i {
                p = mul_slow(p, (i ^ j) as u16);
            }
            j += 1;
        }
        out[i] = inv_slow(p);
        i += 1;
    }
    out
}

const WEIGHTS_3: [u16; 3] = systematic_weights::<3>();
const WEIGHTS_5: [u16; 5] = systematic_weights::<5>();
const WEIGHTS_30: [u16; 30] = systematic_weights::<30>();
const WEIGHTS_36: [u16; 36] = systematic_weights::<36>();

/// The compile-time weights of the points 0 … k−1 for the value sizes the braid sends
/// (header, ciphertext 2, ciphertext 1, encapsulation key), else `None`: other sizes
/// (only tests and the fuzz target use them) compute theirs with [`weights_of`], which
/// gives the same values more slowly.
fn systematic(k: usize) -> Option<&'static [u16]> {
    match k {
        3 => Some(&WEIGHTS_3),
        5 => Some(&WEIGHTS_5),
        30 => Some(&WEIGHTS_30),
        36 => Some(&WEIGHTS_36),
        _ => None,
    }
}

/// Barycentric weights of arbitrary distinct points.
fn weights_of(xs: &[u16], out: &mut [u16; MAX_CHUNKS]) {
    for (i, (w, &xi)) in out.iter_mut().zip(xs).enumerate() {
        let mut p = 1u16;
        for (j, &xj) in xs.iter().enumerate() {
            if i != j {
                p = mul(p, xi ^ xj);
            }
        }
        *w = p;
    }
    batch_invert(out.get_mut(..xs.len()).unwrap_or(&mut []));
}

/// `P(t)` for the 16 polynomials through `(xs_i, rows_i)`, whose barycentric weights are
/// `c`: `Σ_i c_i · Π_{j≠i} (t − x_j) · rows_i`, the products left out one at a time from
/// prefix and suffix products (no inversion; `t` may not be one of `xs`).
fn eval_at(xs: &[u16], rows: &[Row], c: &[u16], t: u16) -> Row {
    let k = xs.len().min(c.len()).min(MAX_CHUNKS);
    let (xs, c) = (xs.get(..k).unwrap_or(&[]), c.get(..k).unwrap_or(&[]));
    let mut w = [0u16; MAX_CHUNKS];
    let w = w.get_mut(..k).unwrap_or(&mut []);
    let mut acc = 1u16;
    for (wi, &xi) in w.iter_mut().zip(xs) {
        *wi = acc;
        // Subtraction is XOR in characteristic 2.
        acc = mul(acc, t ^ xi);
    }
    let mut acc = 1u16;
    for ((wi, &xi), &ci) in w.iter_mut().zip(xs).zip(c).rev() {
        *wi = mul(mul(*wi, acc), ci);
        acc = mul(acc, t ^ xi);
    }
    combine(rows, w)
}

/// `Σ w_i · row_i`, symbol by symbol. Products are accumulated unreduced (reduction is
/// linear) with a 16-entry table per weight, and reduced once per symbol.
fn combine(rows: &[Row], w: &[u16]) -> Row {
    let mut acc = [0u32; SYMBOLS];
    for (row, &wi) in rows.iter().zip(w) {
        if wi == 0 {
            continue;
        }
        let t = multiples(wi);
        for (a, s) in acc.iter_mut().zip(row.chunks_exact(2)) {
            if let [s0, s1] = s {
                *a ^= clmul_with(&t, u16::from_be_bytes([*s0, *s1]));
            }
        }
    }
    let mut out = [0u8; CHUNK_LEN];
    for (o, &a) in out.chunks_exact_mut(2).zip(acc.iter()) {
        o.copy_from_slice(&reduce(a).to_be_bytes());
    }
    out
}

/// Number of 32-byte chunks in a value of `len` bytes, if the code can carry it.
fn chunk_count(len: usize) -> Option<usize> {
    let k = len / CHUNK_LEN;
    (len.is_multiple_of(CHUNK_LEN) && (1..=MAX_CHUNKS).contains(&k)).then_some(k)
}

/// Chunk `index` of `value`, whose length must be a multiple of 32 between 32 and
/// 32 · [`MAX_CHUNKS`] bytes (every braid value is). The sender keeps only the next
/// index: the chunks are a function of the value.
pub(crate) fn chunk(value: &[u8], index: u16) -> Option<Chunk> {
    let k = chunk_count(value.len())?;
    let mut rows = [[0u8; CHUNK_LEN]; MAX_CHUNKS];
    for (row, data) in rows.iter_mut().zip(value.chunks_exact(CHUNK_LEN)) {
        row.copy_from_slice(data);
    }
    let rows = rows.get(..k)?;
    if let Some(row) = rows.get(usize::from(index)) {
        return Some(Chunk { index, data: *row });
    }
    let mut xs = [0u16; MAX_CHUNKS];
    for (i, x) in xs.iter_mut().enumerate() {
        // i < MAX_CHUNKS ≤ u16::MAX
        *x = i as u16;
    }
    let xs = xs.get(..k)?;
    let mut computed = [0u16; MAX_CHUNKS];
    let c: &[u16] = match systematic(k) {
        Some(c) => c,
        None => {
            weights_of(xs, &mut computed);
            computed.get(..k)?
        }
    };
    Some(Chunk {
        index,
        data: eval_at(xs, rows, c, index),
    })
}

/// What [`Decoder::add`] did with a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// A new index: stored.
    Stored,
    /// An index already held with the same bytes (an honest sender repeats an index
    /// only after its u16 index wrapped), or the decoder was complete: nothing changed.
    Unchanged,
    /// An index already held with other bytes: nothing changed, and the chunk is bad.
    Conflict,
}

/// Collects the chunks of one value of `K` chunks until any `K` distinct indices have
/// arrived. Fixed buffers: `K` points of 34 bytes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Decoder<const K: usize> {
    count: usize,
    xs: [u16; K],
    rows: [Row; K],
}

impl<const K: usize> core::fmt::Debug for Decoder<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decoder")
            .field("k", &K)
            .field("indices", &self.xs())
            .finish_non_exhaustive()
    }
}

impl<const K: usize> Default for Decoder<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const K: usize> Decoder<K> {
    const CHECK: () = assert!(K >= 1 && K <= MAX_CHUNKS);

    /// An empty decoder for a value of `32 · K` bytes.
    pub(crate) const fn new() -> Self {
        #[allow(clippy::let_unit_value)]
        let () = Self::CHECK;
        Decoder {
            count: 0,
            xs: [0; K],
            rows: [[0; CHUNK_LEN]; K],
        }
    }

    /// Length of the value in bytes.
    pub(crate) const fn len() -> usize {
        K * CHUNK_LEN
    }

    /// Takes a chunk (see [`Added`]). A held index is never replaced: libsignal-client
    /// 0.103 replaces it (the last data wins), but an honest sender never sends two
    /// different chunks with one index, so a conflict is refused instead.
    pub(crate) fn add(&mut self, chunk: &Chunk) -> Added {
        match self.check(chunk) {
            Added::Stored => {}
            other => return other,
        }
        if let (Some(x), Some(row)) = (self.xs.get_mut(self.count), self.rows.get_mut(self.count)) {
            *x = chunk.index;
            *row = chunk.data;
            self.count += 1;
        }
        Added::Stored
    }

    /// What [`Decoder::add`] would do with `chunk`, without doing it.
    pub(crate) fn check(&self, chunk: &Chunk) -> Added {
        if self.is_complete() {
            return Added::Unchanged;
        }
        match self.xs().iter().position(|&x| x == chunk.index) {
            Some(p) if self.rows.get(p) == Some(&chunk.data) => Added::Unchanged,
            Some(_) => Added::Conflict,
            None => Added::Stored,
        }
    }

    /// Whether `K` distinct chunks have arrived.
    pub(crate) fn is_complete(&self) -> bool {
        self.count >= K
    }

    /// Number of distinct chunks held.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The indices held, in arrival order.
    pub(crate) fn xs(&self) -> &[u16] {
        self.xs.get(..self.count).unwrap_or(&[])
    }

    /// The chunks held, in arrival order.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = Chunk> + '_ {
        self.xs()
            .iter()
            .zip(self.rows.iter())
            .map(|(&index, &data)| Chunk { index, data })
    }

    /// Writes the decoded value to `out` (exactly [`Decoder::len`] bytes). Returns `false`
    /// and leaves `out` untouched if the decoder is not complete or `out` has another
    /// length.
    pub(crate) fn decode_into(&self, out: &mut [u8]) -> bool {
        if !self.is_complete() || out.len() != Self::len() {
            return false;
        }
        let xs = self.xs();
        let rows = self.rows.get(..self.count).unwrap_or(&[]);
        let mut c = [0u16; MAX_CHUNKS];
        let mut have_weights = false;
        for (i, dst) in out.chunks_exact_mut(CHUNK_LEN).enumerate() {
            // i < K ≤ MAX_CHUNKS
            let x = i as u16;
            let row = match xs.iter().position(|&xi| xi == x) {
                Some(p) => rows.get(p).copied().unwrap_or([0; CHUNK_LEN]),
                None => {
                    if !have_weights {
                        weights_of(xs, &mut c);
                        have_weights = true;
                    }
                    eval_at(xs, rows, c.get(..xs.len()).unwrap_or(&[]), x)
                }
            };
            dst.copy_from_slice(&row);
        }
        true
    }
}

#[cfg(test)]
mod tests;

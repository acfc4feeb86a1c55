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
//! The coded values are public (encapsulation keys, ciphertexts, MACs), so nothing here
//! needs to run in constant time. Nothing allocates; state is bounded by [`MAX_CHUNKS`].

use crate::ratchet::spqr::{CHUNK_LEN, Chunk};

/// Reduction polynomial of the field: x^16 + x^12 + x^3 + x + 1.
const POLY: u32 = 0x1_100B;

/// Largest number of data chunks in a braid value (the 1,152-byte `ek_vector`).
pub(crate) const MAX_CHUNKS: usize = 36;

type Row = [u8; CHUNK_LEN];

/// Product in GF(2^16).
fn mul(a: u16, b: u16) -> u16 {
    let mut a = u32::from(a);
    let mut b = b;
    let mut r: u32 = 0;
    while b != 0 {
        if b & 1 != 0 {
            r ^= a;
        }
        b >>= 1;
        a <<= 1;
        if a & 0x1_0000 != 0 {
            a ^= POLY;
        }
    }
    // r < 2^16: a is reduced below 2^16 after every step.
    (r & 0xFFFF) as u16
}

/// Multiplicative inverse (a^(2^16 − 2)); 0 maps to 0 (callers never invert 0).
fn inv(a: u16) -> u16 {
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

/// Lagrange weights of the points `xs` (distinct) at `x`:
/// `w_i = Π_{j≠i} (x − x_j) / (x_i − x_j)`, so that `P(x) = Σ w_i · P(x_i)`.
fn weights(xs: &[u16], x: u16, out: &mut [u16; MAX_CHUNKS]) {
    for (i, (w, &xi)) in out.iter_mut().zip(xs).enumerate() {
        let mut num = 1u16;
        let mut den = 1u16;
        for (j, &xj) in xs.iter().enumerate() {
            if i != j {
                // Subtraction is XOR in characteristic 2.
                num = mul(num, x ^ xj);
                den = mul(den, xi ^ xj);
            }
        }
        *w = mul(num, inv(den));
    }
}

/// `Σ w_i · row_i`, symbol by symbol.
fn combine(rows: &[Row], w: &[u16]) -> Row {
    let mut out = [0u8; CHUNK_LEN];
    for (row, &wi) in rows.iter().zip(w) {
        if wi == 0 {
            continue;
        }
        for (o, s) in out.chunks_exact_mut(2).zip(row.chunks_exact(2)) {
            if let ([o0, o1], [s0, s1]) = (o, s) {
                let v = mul(wi, u16::from_be_bytes([*s0, *s1]));
                let [v0, v1] = v.to_be_bytes();
                *o0 ^= v0;
                *o1 ^= v1;
            }
        }
    }
    out
}

/// Number of 32-byte chunks in a value of `len` bytes, if the code can carry it.
fn chunk_count(len: usize) -> Option<usize> {
    let k = len / CHUNK_LEN;
    (len.is_multiple_of(CHUNK_LEN) && (1..=MAX_CHUNKS).contains(&k)).then_some(k)
}

/// Encodes one value; hands out chunk after chunk as libsignal does (0, 1, 2, …, wrapping
/// after 65,535).
#[derive(Clone, Debug)]
pub(crate) struct Encoder {
    k: usize,
    rows: [Row; MAX_CHUNKS],
    next: u16,
}

impl Encoder {
    /// An encoder for `value`, whose length must be a multiple of 32 between 32 and
    /// 32 · [`MAX_CHUNKS`] bytes (every braid value is).
    pub(crate) fn new(value: &[u8]) -> Option<Self> {
        let k = chunk_count(value.len())?;
        let mut rows = [[0u8; CHUNK_LEN]; MAX_CHUNKS];
        for (row, data) in rows.iter_mut().zip(value.chunks_exact(CHUNK_LEN)) {
            row.copy_from_slice(data);
        }
        Some(Encoder { k, rows, next: 0 })
    }

    /// The chunk with index `index`.
    pub(crate) fn chunk(&self, index: u16) -> Chunk {
        let rows = self.rows.get(..self.k).unwrap_or(&[]);
        let data = match rows.get(usize::from(index)) {
            Some(row) => *row,
            None => {
                let mut xs = [0u16; MAX_CHUNKS];
                for (i, x) in xs.iter_mut().enumerate().take(self.k) {
                    // i < MAX_CHUNKS ≤ u16::MAX
                    *x = i as u16;
                }
                let mut w = [0u16; MAX_CHUNKS];
                weights(xs.get(..self.k).unwrap_or(&[]), index, &mut w);
                combine(rows, &w)
            }
        };
        Chunk { index, data }
    }

    /// The next chunk in sending order.
    pub(crate) fn next_chunk(&mut self) -> Chunk {
        let chunk = self.chunk(self.next);
        self.next = self.next.wrapping_add(1);
        chunk
    }

    /// Index of the chunk [`Encoder::next_chunk`] returns next.
    pub(crate) fn next_index(&self) -> u16 {
        self.next
    }
}

/// Collects chunks of one value until any `k` distinct indices have arrived.
#[derive(Clone, Debug)]
pub(crate) struct Decoder {
    k: usize,
    count: usize,
    xs: [u16; MAX_CHUNKS],
    rows: [Row; MAX_CHUNKS],
}

impl Decoder {
    /// A decoder for a value of `len` bytes (see [`Encoder::new`] for the lengths).
    pub(crate) fn new(len: usize) -> Option<Self> {
        let k = chunk_count(len)?;
        Some(Decoder {
            k,
            count: 0,
            xs: [0; MAX_CHUNKS],
            rows: [[0; CHUNK_LEN]; MAX_CHUNKS],
        })
    }

    /// Length of the value in bytes.
    pub(crate) fn len(&self) -> usize {
        self.k * CHUNK_LEN
    }

    /// Takes a chunk; returns whether it was stored. A chunk whose index is already held
    /// replaces the held one (the last one wins, as in libsignal-client 0.103, whose
    /// decoder keeps the newest data for a repeated index) without counting twice. Once
    /// the decoder is complete it takes nothing more.
    pub(crate) fn add(&mut self, chunk: &Chunk) -> bool {
        if self.is_complete() {
            return false;
        }
        if let Some(p) = self.xs().iter().position(|&x| x == chunk.index) {
            return match self.rows.get_mut(p) {
                Some(row) => {
                    *row = chunk.data;
                    true
                }
                None => false,
            };
        }
        match (self.xs.get_mut(self.count), self.rows.get_mut(self.count)) {
            (Some(x), Some(row)) => {
                *x = chunk.index;
                *row = chunk.data;
                self.count += 1;
                true
            }
            _ => false,
        }
    }

    /// Whether `k` distinct chunks have arrived.
    pub(crate) fn is_complete(&self) -> bool {
        self.count >= self.k
    }

    /// Number of distinct chunks held.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    fn xs(&self) -> &[u16] {
        self.xs.get(..self.count).unwrap_or(&[])
    }

    /// Writes the decoded value to `out` (exactly [`Decoder::len`] bytes). Returns `false`
    /// and leaves `out` untouched if the decoder is not complete or `out` has another
    /// length.
    pub(crate) fn decode_into(&self, out: &mut [u8]) -> bool {
        if !self.is_complete() || out.len() != self.len() {
            return false;
        }
        let xs = self.xs();
        let rows = self.rows.get(..self.count).unwrap_or(&[]);
        let mut w = [0u16; MAX_CHUNKS];
        for (i, dst) in out.chunks_exact_mut(CHUNK_LEN).enumerate() {
            // i < k ≤ MAX_CHUNKS
            let x = i as u16;
            let row = match xs.iter().position(|&xi| xi == x) {
                Some(p) => rows.get(p).copied().unwrap_or([0; CHUNK_LEN]),
                None => {
                    weights(xs, x, &mut w);
                    combine(rows, &w)
                }
            };
            dst.copy_from_slice(&row);
        }
        true
    }
}

#[cfg(test)]
mod tests;

#!/usr/bin/env node
'use strict';
// Generates tests/vectors/braid_erasure.json: erasure-coded braid chunks exactly as
// libsignal-client 0.103.0 sent them, with the data they encode taken from the sender's
// own session record (so the vectors do not depend on any decoder of ours).
//   node interop/experiments/braid/gen_erasure_vectors.js > tests/vectors/braid_erasure.json
// Needs `npm ci` in interop/. Facts: docs/notes/spqr-braid.md §3.
const { conversation, hex, pbDecode, get, check } = require('./lab');
const TYPE_STREAM = { Hdr: 'hdr', Ek: 'ek', EkCt1Ack: 'ek', Ct1: 'ct1', Ct2: 'ct2' };
function rng(seed) { let s = seed >>> 0; return () => { s = (s + 0x6D2B79F5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; }
// braid state (field 15.3) of a party's record: [variant, inner fields]
function braid(rec) {
  const st = get(pbDecode(get(pbDecode(get(pbDecode(rec), 1)), 15)), 3);
  const [v] = pbDecode(st);
  return { variant: v.n, fields: pbDecode(v.v) };
}
(async () => {
  const out = { description: 'Braid chunks (index, 32 bytes) sent by libsignal-client 0.103.0, per stream. '
    + "'data' is the encoded value read from the sender's session record: hdr = rho (32) | H(ek) (32) | header MAC (32), "
    + 'where only rho | H(ek) is in the record (the MAC is checked by the braid KDF tests); ek = ek_vector (1152); '
    + 'ct1 (960). Chunks are Reed-Solomon over GF(2^16), see docs/notes/spqr-braid.md.',
  generator: 'interop/experiments/braid/gen_erasure_vectors.js', libsignal_client: '0.103.0', streams: [] };

  // 1. Lossy ping-pong (20 % loss): redundant chunks of every stream, first two exchanges.
  {
    const c = await conversation(); const r = rng(7); const streams = {};
    let from = 'a';
    for (let i = 0; i < 260; i++) {
      const m = await c.send(from);
      const s = TYPE_STREAM[m.pq.type];
      if (s && m.pq.epoch <= 2) {
        const key = `${m.pq.epoch}/${from}/${s}`;
        (streams[key] = streams[key] || { epoch: m.pq.epoch, sender: from, stream: s, chunks: [] }).chunks.push([m.pq.chunkIndex, hex(m.pq.chunk)]);
        // data from the sender's record right after sending
        const b = braid(c.record(from));
        const inner = pbDecode(get(b.fields, 1));
        if (s === 'hdr' && b.variant === 2) { const dk = get(inner, 4); streams[key].data_prefix = hex(Buffer.concat([dk.subarray(2304, 2336), dk.subarray(2336, 2368)])); }
        if (s === 'ek' && get(inner, 3) && get(inner, 3).length === 2400) { const dk = get(inner, 3); streams[key].data = hex(dk.subarray(1152, 2304)); }
        if (s === 'ct1' && (b.variant === 8 || b.variant === 9 || b.variant === 10)) streams[key].data = hex(get(inner, 5));
      }
      if (i === 0 || r() >= 0.2) await c.recv(m);
      from = from === 'a' ? 'b' : 'a';
    }
    for (const s of Object.values(streams)) out.streams.push(s);
  }
  // 2. A silent responder: the initiator's Hdr chunks around the u16 wrap of the chunk index.
  {
    const c = await conversation(); const s = { epoch: 1, sender: 'a', stream: 'hdr', note: 'chunk index wraps: message n carries chunk (n-1) mod 65536', chunks: [] };
    for (let i = 0; i < 65540; i++) {
      const m = await c.send('a');
      if (i === 0) await c.recv(m);
      if (i < 5 || (i >= 65530)) s.chunks.push([m.pq.chunkIndex, hex(m.pq.chunk)]);
      if (i === 0) { const dk = get(pbDecode(get(braid(c.record('a')).fields, 1)), 4); s.data_prefix = hex(Buffer.concat([dk.subarray(2304, 2336), dk.subarray(2336, 2368)])); }
    }
    check(s.chunks.length === 15, 'chunks kept');
    out.streams.push(s);
  }
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
})().catch(e => { console.error(e); process.exit(1); });

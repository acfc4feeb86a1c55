'use strict';
// The pq_ratchet field (SignalMessage field 5) that libsignal-client writes in a
// libsignal-client <-> libsignal-client conversation, decoded per SIGNAL-WIRE.md.
//   node interop/experiments/spqr.js [alternate|bursts|long] (default: all)

const { startPeer, pair, signalFields } = require('./peer');

async function run(label, pattern) {
  const peer = startPeer('client');
  const c = await pair(peer, 'alice', 'bob');
  console.log(`== ${label}`);
  let n = 0;
  for (const from of pattern) {
    const m = await c.deliver(from, `m${n++}`);
    const { inner } = await signalFields(peer, m);
    const pq = inner.f[5] || '';
    const d = await peer.call('decode_spqr', { pq_ratchet: pq });
    const chunk = d.chunk_index === undefined ? '' : ` chunk#${d.chunk_index} ${d.chunk.slice(0, 16)}…`;
    const head = pq.slice(0, Math.min(pq.length, 12));
    console.log(
      `  ${String(n).padStart(3)} ${from === 'a' ? 'A→B' : 'B→A'} type ${m.type} ctr ${String(inner.f[2]).padStart(2)}` +
        `  pq ${String(pq.length / 2).padStart(2)} B ${head.padEnd(12)}  epoch ${d.epoch} index ${d.index} ${d.type}${chunk}` +
        (d.trailing ? ` (+${d.trailing} trailing)` : ''),
    );
  }
  peer.close();
}

(async () => {
  const which = process.argv[2];
  const alternate = [];
  for (let i = 0; i < 12; i++) alternate.push('a', 'b');
  const bursts = ['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b', 'b', 'b', 'a', 'a', 'a', 'b', 'b', 'b'];
  const long = [];
  for (let i = 0; i < 60; i++) long.push('a', 'b');
  if (!which || which === 'alternate') await run('strict alternation, 12 each way', alternate);
  if (!which || which === 'bursts') await run('bursts: A×5, B×5, A×3, B×3', bursts);
  if (which === 'long') await run('strict alternation, 60 each way', long);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

'use strict';
// Ping-pong between two libsignal-client parties; prints every message's pq_ratchet field.
//   node flow.js [messages=200] [loss=0] [seed]
const { conversation } = require('./lab');
(async () => {
  const n = Number(process.argv[2] || 200);
  const c = await conversation();
  let from = 'a';
  for (let i = 0; i < n; i++) {
    const m = await c.send(from);
    await c.recv(m);
    const p = m.pq;
    console.log(`${String(i + 1).padStart(4)} ${from === 'a' ? 'A→B' : 'B→A'} e${p.epoch} i${String(p.index).padStart(3)} ${p.type.padEnd(8)} ${p.chunkIndex === undefined ? '' : 'c' + p.chunkIndex}`);
    from = from === 'a' ? 'b' : 'a';
  }
})().catch(e => { console.error(e); process.exit(1); });

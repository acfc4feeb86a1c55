'use strict';
// Ping-pong between two libsignal-client parties; saves every message field and both
// records after every message (hex) to a JSON file for offline analysis.
//   node epoch.js out.json [messages=200] [loss=0] [seed=1]
// With loss > 0 a dropped message is never delivered (the prekey message always is).
const fs = require('fs');
const { conversation, hex } = require('./lab');
function rng(seed) { let s = seed >>> 0; return () => { s = (s + 0x6D2B79F5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; }
(async () => {
  const n = Number(process.argv[3] || 200), loss = Number(process.argv[4] || 0), r = rng(Number(process.argv[5] || 1));
  const c = await conversation();
  const log = [];
  let from = 'a';
  for (let i = 0; i < n; i++) {
    const m = await c.send(from);
    const afterSend = hex(c.record(from));
    const dropped = i > 0 && r() < loss;
    if (!dropped) await c.recv(m);
    log.push({ n: i + 1, from, dropped, inner: hex(m.inner), field: hex(m.field), pq: { epoch: m.pq.epoch, index: m.pq.index, type: m.pq.type, chunkIndex: m.pq.chunkIndex },
      afterSend, afterRecv: { a: hex(c.record('a')), b: c.record('b') ? hex(c.record('b')) : null } });
    from = from === 'a' ? 'b' : 'a';
  }
  fs.writeFileSync(process.argv[2] || '/tmp/epoch.json', JSON.stringify(log));
})().catch(e => { console.error(e); process.exit(1); });

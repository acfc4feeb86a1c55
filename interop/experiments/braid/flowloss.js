'use strict';
// Like flow.js with loss: node flowloss.js n loss seed
const { conversation } = require('./lab');
function rng(seed) { let s = seed >>> 0; return () => { s = (s + 0x6D2B79F5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; }
(async () => {
  const n = Number(process.argv[2] || 200), loss = Number(process.argv[3] || 0.1), r = rng(Number(process.argv[4] || 1));
  const c = await conversation();
  let from = 'a';
  for (let i = 0; i < n; i++) {
    const m = await c.send(from);
    const drop = i > 0 && r() < loss;
    if (!drop) await c.recv(m);
    const p = m.pq;
    console.log(`${String(i + 1).padStart(4)} ${from === 'a' ? 'A→B' : 'B→A'} e${p.epoch} i${String(p.index).padStart(3)} ${p.type.padEnd(8)} ${p.chunkIndex === undefined ? '   ' : 'c' + String(p.chunkIndex).padEnd(2)} ${drop ? 'DROPPED' : ''}`);
    from = from === 'a' ? 'b' : 'a';
  }
})().catch(e => { console.error(e); process.exit(1); });

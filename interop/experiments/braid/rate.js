'use strict';
// Epoch rate between two libsignal-client parties in ping-pong.
//   node rate.js [roundTrips=1000] [loss=0] [seed=1] [reorderWindow=0]
// loss: probability that a message is dropped. reorderWindow w > 0: each message is
// delivered after a random delay of 0..w sends (so deliveries interleave out of order).
const { conversation } = require('./lab');
function rng(seed) { let s = seed >>> 0; return () => { s = (s + 0x6D2B79F5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; }
(async () => {
  const rt = Number(process.argv[2] || 1000), loss = Number(process.argv[3] || 0), seed = Number(process.argv[4] || 1), win = Number(process.argv[5] || 0);
  const r = rng(seed);
  const c = await conversation();
  const maxEpoch = { a: 1, b: 1 }; let sent = 0, dropped = 0, failed = 0;
  const pending = []; // {due, m}
  let t = 0; const epochAt = [];
  async function flush(all) {
    pending.sort((x, y) => x.due - y.due);
    while (pending.length && (all || pending[0].due <= t)) {
      const { m } = pending.shift();
      try { await c.recv(m); } catch (e) { failed++; }
    }
  }
  for (let i = 0; i < rt; i++) {
    for (const from of ['a', 'b']) {
      const m = await c.send(from); sent++; t++;
      maxEpoch[from] = Math.max(maxEpoch[from], m.pq.epoch);
      if (i === 0 && from === 'a') { await c.recv(m); continue; } // the prekey message always arrives
      if (r() < loss) { dropped++; continue; }
      pending.push({ due: t + (win ? Math.floor(r() * (win + 1)) : 0), m });
      await flush(false);
    }
    if ((i + 1) % 100 === 0) epochAt.push(`${i + 1}:${maxEpoch.a}/${maxEpoch.b}`);
  }
  await flush(true);
  console.log(JSON.stringify({ roundTrips: rt, loss, seed, reorderWindow: win, sent, dropped, failed, epochA: maxEpoch.a, epochB: maxEpoch.b, epochAt: epochAt.join(' ') }));
})().catch(e => { console.error(e); process.exit(1); });

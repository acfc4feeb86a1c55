'use strict';
// Traffic pattern between two libsignal-client parties, logged like epoch.js.
//   node pattern.js out.json "a3 b1 a40 b5 ..."   (party + count, delivered at once)
// A token "xN!" sends N messages from x and drops them (never delivered).
const fs = require('fs');
const { conversation, hex } = require('./lab');
(async () => {
  const c = await conversation();
  const log = []; let n = 0;
  for (const tok of process.argv[3].split(/\s+/)) {
    const from = tok[0], count = parseInt(tok.slice(1), 10), drop = tok.endsWith('!');
    for (let i = 0; i < count; i++) {
      const m = await c.send(from);
      const afterSend = hex(c.record(from));
      const dropped = drop && n > 0;
      if (!dropped) await c.recv(m);
      log.push({ n: ++n, from, dropped, inner: hex(m.inner), field: hex(m.field), pq: { epoch: m.pq.epoch, index: m.pq.index, type: m.pq.type, chunkIndex: m.pq.chunkIndex },
        afterSend, afterRecv: { a: hex(c.record('a')), b: c.record('b') ? hex(c.record('b')) : null } });
    }
  }
  fs.writeFileSync(process.argv[2], JSON.stringify(log));
})().catch(e => { console.error(e); process.exit(1); });

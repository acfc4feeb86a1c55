'use strict';
// A (initiator) sends N messages while B never replies: A's Hdr chunks of one header.
// Prints A's record (schemaless) and the chunks as JSON to stdout file.
const fs = require('fs');
const { conversation, dump, hex, pbDecode, get } = require('./lab');
(async () => {
  const n = Number(process.argv[2] || 100);
  const c = await conversation();
  const chunks = [];
  for (let i = 0; i < n; i++) { const m = await c.send('a'); chunks.push({ index: m.pq.chunkIndex, type: m.pq.type, epoch: m.pq.epoch, chunk: hex(m.pq.chunk) }); if (i === 0) await c.recv(m); }
  const rec = c.record('a');
  console.log(dump(rec, '', 64).join('\n'));
  fs.writeFileSync(process.argv[3] || '/tmp/hdr.json', JSON.stringify({ record: hex(rec), chunks }));
})().catch(e => { console.error(e); process.exit(1); });

'use strict';
// Record field 15 (SPQR) of both parties at the start of a conversation.
const { conversation, dump, hex, pbDecode, get } = require('./lab');
const fs = require('fs');
(async () => {
  const c = await conversation();
  const out = {};
  const pq = who => { const r = c.record(who); return r ? get(pbDecode(get(pbDecode(r), 1)), 15) : null; };
  out.a0 = hex(pq('a'));
  const m1 = await c.send('a'); out.a1 = hex(pq('a')); out.m1 = hex(m1.field);
  await c.recv(m1); out.b1 = hex(pq('b'));
  const m2 = await c.send('b'); out.b2 = hex(pq('b')); out.m2 = hex(m2.field);
  await c.recv(m2); out.a2 = hex(pq('a'));
  for (const k of ['a0', 'a1', 'b1', 'b2', 'a2']) { console.log('== ' + k); console.log(dump(Buffer.from(out[k], 'hex'), '  ', 40).join('\n')); }
  fs.writeFileSync('/tmp/snap.json', JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });

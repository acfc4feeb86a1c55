'use strict';
// node dumprec.js epoch.json n who [afterSend|afterRecv]  -> dumps field 15 of that record
const fs = require('fs');
const { dump, pbDecode, get } = require('./lab');
const log = JSON.parse(fs.readFileSync(process.argv[2]));
const e = log[Number(process.argv[3]) - 1];
const r = e[process.argv[5] || 'afterRecv'][process.argv[4]];
const s = get(pbDecode(Buffer.from(r, 'hex')), 1);
console.log(`msg ${e.n} ${e.from} ${JSON.stringify(e.pq)}`);
console.log(dump(get(pbDecode(s), 15), '  ', 24).join('\n'));

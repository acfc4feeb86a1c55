'use strict';
// How long an old-epoch message stays decryptable: B's epoch-1 message #66 (None) is held
// and delivered after `delay` more ping-pong messages.  node late.js
const { S, conversation } = require('./lab');
const logs = []; S.initLogger(S.LogLevel.Info, (l, t, f, n, msg) => logs.push(msg));
(async () => {
  const holdAt = Number(process.argv[2] || 66);
  for (const delay of (process.argv[3] || '30,120,200,290,380').split(',').map(Number)) {
    const c = await conversation(); let from = 'a', held = null, res = null, epochA = 1;
    for (let i = 1; i <= holdAt + delay; i++) {
      const m = await c.send(from);
      if (from === 'a') epochA = m.pq.epoch;
      if (i === holdAt) { held = m; } else await c.recv(m);
      from = from === 'a' ? 'b' : 'a';
    }
    logs.length = 0; try { await c.recv(held); res = 'decrypts'; } catch (e) { res = 'rejected: ' + (logs.map(l => (l.match(/invalid Whisper message: (.*)$/) || l.match(/(message with old counter.*|.*chain.*)/) || [])[1]).filter(Boolean).join(' | ') || e.message); }
    // still usable afterwards?
    const m = await c.send('b'); let after = 'ok'; try { await c.recv(m); } catch (e) { after = 'broken'; }
    console.log(`held B e${held.pq.epoch} i${held.pq.index} ${held.pq.type}, delivered ${delay} messages later (A now sends epoch ${epochA}): ${res}; session afterwards ${after}`);
  }
})().catch(e => { console.error(e); process.exit(1); });

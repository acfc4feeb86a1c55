'use strict';
// counter (field 2) and previous_counter (field 3) written around ratchet steps, for
// both peers.   node interop/experiments/counters.js

const { startPeer, pair, signalFields } = require('./peer');

async function run(kind) {
  const peer = startPeer(kind);
  const c = await pair(peer, 'alice', 'bob');
  const show = async (from, n) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      const m = await c.deliver(from, `${from}${i}`);
      const { inner } = await signalFields(peer, m);
      const pc = inner.f[3] === undefined ? 'absent' : inner.f[3];
      out.push(`(type ${m.type} counter ${inner.f[2]} prev ${pc})`);
    }
    console.log(`  ${from === 'a' ? 'alice' : 'bob  '} sends ${n}: ${out.join(' ')}`);
  };
  console.log(`${kind}:`);
  await show('a', 3); // first chain: 3 messages
  await show('b', 1); // bob's first chain: 1 message
  await show('a', 2); // alice's second chain (previous chain had 3)
  await show('b', 4); // bob's second chain (previous had 1)
  await show('a', 1); // alice's third chain (previous had 2)
  await show('b', 1); // bob's third chain (previous had 4)
  await show('a', 1); // previous had 1
  peer.close();
}

(async () => {
  await run('client');
  await run('legacy');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

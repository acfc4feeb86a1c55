'use strict';
// What TESTING_EnableDeterministicRngForTesting (native, libsignal-client) changes:
// run the same script in two fresh processes, with and without it, and compare.
//   node interop/experiments/deterministic.js

const crypto = require('crypto');
const { startPeer, pair } = require('./peer');

const h = (s) => crypto.createHash('sha256').update(s).digest('hex').slice(0, 16);

async function transcript(enable) {
  const peer = startPeer('client');
  if (enable) await peer.call('deterministic_rng');
  const out = {};
  const k1 = await peer.call('generate_keypair');
  const k2 = await peer.call('generate_keypair');
  out.keypair1 = k1.private;
  out.keypair2 = k2.private;
  out.kem = h((await peer.call('kem_generate')).public);
  const sig = await peer.call('xeddsa_sign', { private: '40'.repeat(32), message: '00' });
  out.xeddsa = sig.signature.slice(0, 32);
  const c = await pair(peer, 'alice', 'bob');
  out.bundle = h(JSON.stringify(c.bundle));
  const msgs = [];
  for (const from of ['a', 'b', 'a', 'b']) msgs.push((await c.deliver(from, 'same text')).body);
  out.messages = h(msgs.join());
  peer.close();
  return out;
}

(async () => {
  const on1 = await transcript(true);
  const on2 = await transcript(true);
  const off = await transcript(false);
  for (const k of Object.keys(on1)) {
    console.log(
      `${k.padEnd(9)} enabled run1 ${on1[k].slice(0, 16)} run2 ${on2[k].slice(0, 16)} ` +
        `${on1[k] === on2[k] ? 'SAME' : 'DIFFERENT'}; without it ${off[k].slice(0, 16)}`,
    );
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

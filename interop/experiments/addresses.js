'use strict';
// When does libsignal-client write SignalMessage field 6 (`addresses`), and what does it
// do with mismatched or absent addresses?   node interop/experiments/addresses.js

const { startPeer, pair, signalFields } = require('./peer');

const ACI_A = '9d0652a3-dcc3-4d11-975f-74d61598733f';
const ACI_B = '796abedb-ca4e-4f18-8803-1fde5b921f9f';
const ACI_C = '0e4a1b2c-3d4e-4f50-8a6b-7c8d9e0f1a2b';

function describeAddresses(hexStr) {
  if (!hexStr) return 'absent';
  const b = Buffer.from(hexStr, 'hex');
  if (b.length !== 36) return `${b.length} bytes: ${hexStr}`;
  const sid = (s) => `kind ${s[0]} uuid ${s.subarray(1).toString('hex')}`;
  return `sender {${sid(b.subarray(0, 17))}} dev ${b[17]} | recipient {${sid(b.subarray(18, 35))}} dev ${b[35]}`;
}

async function conversationFields(aName, bName) {
  const peer = startPeer('client');
  const c = await pair(peer, aName, bName, { aDev: 1, bDev: 2 });
  const rows = [];
  const step = async (label, from) => {
    const m = await c.deliver(from, label);
    const { inner } = await signalFields(peer, m);
    rows.push(`  ${label.padEnd(22)} type ${m.type}  field6: ${describeAddresses(inner.f[6])}`);
  };
  await step('a->b #1 (prekey)', 'a');
  await step('a->b #2 (prekey)', 'a');
  await step('b->a #1', 'b');
  await step('b->a #2', 'b');
  await step('a->b #3 (after reply)', 'a');
  await step('b->a #3', 'b');
  peer.close();
  return rows;
}

async function mismatch(label, setup, sendExtra, recvExtra) {
  const peer = startPeer('client');
  const c = await pair(peer, setup.a, setup.b, { aDev: 1, bDev: 2 });
  if (setup.warm) {
    await c.deliver('a', 'warm-up');
    await c.deliver('b', 'warm-up reply');
  }
  const m = await c.send('a', 'probe', sendExtra);
  const { inner } = await signalFields(peer, m);
  const r = await c.recv('b', m, recvExtra);
  let retry = null;
  if (!r.ok && Object.keys(recvExtra).length) retry = await c.recv('b', m, {});
  console.log(`  ${label}`);
  console.log(`    type ${m.type}, field6: ${describeAddresses(inner.f[6])}`);
  console.log(`    receiver: ${r.ok ? 'accepted' : `refused: ${r.error} [${r.code}]`}`);
  if (!r.ok) for (const l of r.log || []) if (/Warn|Error/.test(l)) console.log(`    peer log: ${l}`);
  if (retry) console.log(`    same bytes again with the receiver's true address: ${retry.ok ? 'accepted' : retry.error}`);
  peer.close();
}

(async () => {
  console.log('1. Which messages carry field 6 (Alice device 1, Bob device 2):');
  console.log(' ACI uuid names:');
  for (const r of await conversationFields(ACI_A, ACI_B)) console.log(r);
  console.log(' PNI names (PNI:<uuid>):');
  for (const r of await conversationFields(`PNI:${ACI_A}`, `PNI:${ACI_B}`)) console.log(r);
  console.log(' plain names "alice"/"bob":');
  for (const r of await conversationFields('alice', 'bob')) console.log(r);
  console.log(' Alice is an ACI, Bob a plain name:');
  for (const r of await conversationFields(ACI_A, 'bob')) console.log(r);
  console.log(' Alice a plain name, Bob an ACI:');
  for (const r of await conversationFields('alice', ACI_B)) console.log(r);

  console.log('2. Receiving mismatched or absent addresses (Bob decrypts from Alice):');
  const acis = { a: ACI_A, b: ACI_B };
  await mismatch('sender claims another ACI (local_name C)', acis, { local_name: ACI_C }, {});
  await mismatch('sender claims another device (local_device 5)', acis, { local_device: 5 }, {});
  await mismatch('receiver believes it is C (local_name C)', acis, {}, { local_name: ACI_C });
  await mismatch('receiver believes it is device 7', acis, {}, { local_device: 7 });
  await mismatch(
    'sender uses plain names (no field 6), receiver uses ACIs',
    acis,
    { local_name: 'alice' },
    {},
  );
  await mismatch('sender writes field 6, receiver names itself with a plain name', acis, {}, { local_name: 'bob' });
  await mismatch('sender writes field 6, receiver names the sender with a plain name', { a: ACI_A, b: ACI_B }, {}, { remote_name: 'alice' });
  await mismatch('whisper message after warm-up, sender claims C', { ...acis, warm: true }, { local_name: ACI_C }, {});
  await mismatch('whisper message after warm-up, receiver is device 7', { ...acis, warm: true }, {}, { local_device: 7 });
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

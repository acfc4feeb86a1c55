'use strict';
// Duplicates, messages too far ahead, tampered bytes: what each peer answers.
//   node interop/experiments/edges.js [client|legacy]   (default: both; ~1 minute)

const { startPeer, pair, signalFields, flipByte, encodeFields } = require('./peer');

const LIMIT_GUESS = { client: 25000, legacy: 2000 };

const quiet = (r) => (r.log || []).filter((l) => !/\[libsignal Info\]/.test(l));
const show = (r) => (r.ok ? 'accepted' : `${r.error}${r.code ? ` [${r.code}]` : ''}${quiet(r).length ? `\n      log: ${quiet(r).join('\n      log: ')}` : ''}`);

async function duplicates(kind) {
  const peer = startPeer(kind);
  const c = await pair(peer, 'alice', 'bob');
  const pre = await c.deliver('a', 'first');
  console.log(`  prekey message delivered twice: ${show(await c.recv('b', pre))}`);
  const reply = await c.deliver('b', 'reply');
  console.log(`  whisper message delivered twice: ${show(await c.recv('a', reply))}`);
  const m1 = await c.send('a', 'one');
  const m2 = await c.deliver('a', 'two');
  console.log(`  late (skipped) message: ${show(await c.recv('b', m1))}`);
  console.log(`  late message again: ${show(await c.recv('b', m1))}`);
  console.log(`  newest message again: ${show(await c.recv('b', m2))}`);
  console.log(`  the old prekey message after the session moved on: ${show(await c.recv('b', pre))}`);
  peer.close();
}

// Largest counter gap accepted, in a fresh receiving chain and in one already in use.
async function tooFar(kind) {
  const peer = startPeer(kind);
  const c = await pair(peer, 'alice', 'bob');
  await c.deliver('a', 'x');
  await c.deliver('b', 'y'); // Alice's next message starts a new chain
  const L = LIMIT_GUESS[kind];
  for (const inUse of [false, true]) {
    if (inUse) await c.deliver('a', 'chain in use: counter 0 delivered');
    const base = await c.snapshot();
    const start = L - 2;
    await peer.call('encrypt_discard', { party: 'a', remote_name: 'bob', remote_device: 1, count: start });
    const aliceAhead = await c.snapshot();
    const offset = inUse ? 1 : 0;
    for (let extra = 0; extra <= 4; extra++) {
      await c.restore({ a: aliceAhead.a, b: base.b });
      if (extra) await peer.call('encrypt_discard', { party: 'a', remote_name: 'bob', remote_device: 1, count: extra });
      const m = await c.send('a', 'probe');
      const { inner } = await signalFields(peer, m);
      const r = await c.recv('b', m);
      const expected = offset; // next counter Bob expects in this chain
      console.log(
        `  ${inUse ? 'chain in use ' : 'fresh chain  '} counter ${inner.f[2]} (${inner.f[2] - expected} past the next expected ${expected}): ${show(r)}`,
      );
    }
    await c.restore(base);
  }
  peer.close();
}

async function tampering(kind) {
  // Prekey messages: each case on a fresh pair, then the untouched message, to see
  // whether the refused one changed any state.
  const rewrites = [
    ['inner MAC flipped', 4, (v) => flipByte(v, -1)],
    ['inner ciphertext byte flipped', 4, (v) => flipByte(v, -12)],
    ['registration id changed', 5, (v) => v + 1],
    ['one-time prekey id changed', 1, (v) => v + 1],
    ['signed prekey id changed', 6, (v) => v + 1],
    ['base key last byte flipped', 2, (v) => flipByte(v, -1)],
    ['identity key last byte flipped', 3, (v) => flipByte(v, -1)],
    ['base key without the 0x05 prefix', 2, (v) => v.slice(2)],
    ['truncated by 1', null, null],
  ];
  let order = null;
  for (const [label, field, fn] of rewrites) {
    const peer = startPeer(kind);
    const c = await pair(peer, 'alice', 'bob');
    const pre = await c.send('a', 'prekey');
    const outer = await peer.call('wire_fields', { body: pre.body, kind: 'prekey' });
    order = outer.fields.map((x) => x.field).join(',');
    const body =
      field === null
        ? pre.body.slice(0, -2)
        : pre.body.slice(0, 2) +
          encodeFields(outer.fields.map((x) => (x.field === field ? { ...x, value: fn(x.value) } : x))).toString('hex');
    const r = await c.recv('b', { type: 3, body });
    const again = r.ok ? null : await c.recv('b', pre);
    console.log(`  prekey message, ${label}: ${show(r)}`);
    if (again) console.log(`      then the untouched message: ${again.ok ? 'accepted' : again.error}`);
    peer.close();
  }
  console.log(`  (outer field order as this peer writes it: ${order})`);

  const peer = startPeer(kind);
  const c = await pair(peer, 'alice', 'bob');
  await c.deliver('a', 'prekey');
  await c.deliver('b', 'reply');
  const m = await c.send('a', 'whisper');
  const { inner } = await signalFields(peer, m);
  const ctLen = Buffer.from(inner.f[4], 'hex').length;
  const len = m.body.length / 2;
  const wcases = [
    ['whisper: MAC last byte flipped', flipByte(m.body, -1)],
    ['whisper: MAC first byte flipped', flipByte(m.body, -8)],
    ['whisper: ciphertext byte flipped', flipByte(m.body, len - 8 - ctLen)],
    ['whisper: version byte 0x44 <-> 0x33', (m.body.startsWith('44') ? '33' : '44') + m.body.slice(2)],
    ['whisper: MAC removed', m.body.slice(0, -16)],
    ['whisper: one byte appended', m.body + '00'],
  ];
  for (const [label, body] of wcases) {
    console.log(`  ${label}: ${show(await c.recv('b', { type: 2, body }))}`);
  }
  console.log(`  then the untouched message: ${show(await c.recv('b', m))}`);
  peer.close();
}

(async () => {
  const kinds = process.argv[2] ? [process.argv[2]] : ['client', 'legacy'];
  for (const kind of kinds) {
    console.log(`== ${kind}: duplicates`);
    await duplicates(kind);
    console.log(`== ${kind}: tampering`);
    await tampering(kind);
    console.log(`== ${kind}: too far ahead (gap = counter - next expected counter)`);
    await tooFar(kind);
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

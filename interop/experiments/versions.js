'use strict';
// Cross-version behaviour: a v3 (0x33) message from libsignal-node sent to
// libsignal-client, and v4 (0x44) bytes sent to libsignal-node.
//   node interop/experiments/versions.js

const { startPeer, pair, fields, encodeFields } = require('./peer');

const strip = (b) => {
  const { identity_key, registration_id, device_id, prekey_id, prekey, signed_prekey_id, signed_prekey, signed_prekey_signature } = b;
  return { identity_key, registration_id, device_id, prekey_id, prekey, signed_prekey_id, signed_prekey, signed_prekey_signature };
};

(async () => {
  const client = startPeer('client');
  const legacy = startPeer('legacy');

  // Bob lives in libsignal-client; Alice (libsignal-node) builds a v3 session from Bob's
  // libsignal-client bundle, minus the Kyber fields it cannot use.
  await client.call('new_party', { party: 'bob', name: 'bob', device_id: 1, registration_id: 222 });
  await legacy.call('new_party', { party: 'alice', name: 'alice', device_id: 1, registration_id: 111 });
  const bundle = await client.call('make_bundle', { party: 'bob', one_time_prekey: true });
  await legacy.call('process_bundle', {
    party: 'alice', remote_name: 'bob', remote_device: 1, bundle: strip(bundle),
  });
  const m = await legacy.call('encrypt', {
    party: 'alice', remote_name: 'bob', remote_device: 1, plaintext: Buffer.from('v3 hello').toString('hex'),
  });
  console.log(`libsignal-node encrypts to a libsignal-client bundle: type ${m.type}, first byte 0x${m.body.slice(0, 2)}`);
  const r = await client.attempt('decrypt', {
    party: 'bob', remote_name: 'alice', remote_device: 1, type: 3, body: m.body,
  });
  console.log(`libsignal-client decrypts that PreKeySignalMessage: ${r.ok ? 'accepted' : `${r.error} [${r.code}]`}`);
  for (const l of r.log || []) console.log(`  peer log: ${l}`);
  const p = await client.attempt('parse_prekey_message', { body: m.body });
  console.log(`libsignal-client PreKeySignalMessage.deserialize of it: ${p.ok ? JSON.stringify(p) : p.error}`);

  // The inner v3 SignalMessage on its own (type 2).
  const outer = await fields(legacy, m.body, 'prekey');
  const r2 = await client.attempt('decrypt', {
    party: 'bob', remote_name: 'alice', remote_device: 1, type: 2, body: outer.f[4],
  });
  console.log(`libsignal-client decrypts the inner v3 SignalMessage: ${r2.ok ? 'accepted' : `${r2.error} [${r2.code}]`}`);
  const s = await client.attempt('parse_signal_message', { body: outer.f[4] });
  console.log(`libsignal-client SignalMessage.deserialize of it: ${s.ok ? JSON.stringify(s) : s.error}`);

  // Other version bytes on the same bytes.
  for (const v of [0x22, 0x43, 0x34, 0x55, 0x54, 0x45]) {
    const body = v.toString(16) + m.body.slice(2);
    const rr = await client.attempt('decrypt', { party: 'bob', remote_name: 'alice', remote_device: 1, type: 3, body });
    console.log(`  version byte 0x${v.toString(16)} on a prekey message: ${rr.ok ? 'accepted' : rr.error}`);
  }

  // And the other way: libsignal-client v4 messages handed to libsignal-node.
  const c2 = startPeer('client');
  const conv = await pair(c2, 'alice', 'bob');
  const v4pre = await conv.send('a', 'v4');
  await legacy.call('new_party', { party: 'carol', name: 'carol', device_id: 1 });
  const n1 = await legacy.attempt('decrypt', { party: 'carol', remote_name: 'alice', remote_device: 1, type: 3, body: v4pre.body });
  console.log(`libsignal-node decrypts a v4 PreKeySignalMessage: ${n1.ok ? 'accepted' : n1.error}`);
  for (const l of n1.log || []) console.log(`  peer log: ${l}`);
  const inner4 = (await fields(c2, v4pre.body, 'prekey')).f[4];
  const n2 = await legacy.attempt('decrypt', { party: 'carol', remote_name: 'alice', remote_device: 1, type: 2, body: inner4 });
  console.log(`libsignal-node decrypts a v4 SignalMessage: ${n2.ok ? 'accepted' : n2.error}`);
  for (const l of n2.log || []) console.log(`  peer log: ${l}`);

  // A v3 prekey message re-encoded with the v4 version byte and dummy Kyber fields.
  const o = await legacy.call('wire_fields', { body: m.body, kind: 'prekey' });
  const list = o.fields.concat([
    { field: 7, wire: 0, value: bundle.kyber_prekey_id },
    { field: 8, wire: 2, value: '08' + '00'.repeat(1568) },
  ]);
  const forged = '44' + encodeFields(list).toString('hex');
  const r3 = await client.attempt('decrypt', { party: 'bob', remote_name: 'alice', remote_device: 1, type: 3, body: forged });
  console.log(`libsignal-client, v3 prekey message relabelled 0x44 with a zero Kyber ciphertext: ${r3.ok ? 'accepted' : `${r3.error} [${r3.code}]`}`);

  client.close();
  legacy.close();
  c2.close();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

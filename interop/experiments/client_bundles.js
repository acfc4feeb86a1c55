'use strict';
// libsignal-client's checks on a prekey bundle (processPreKeyBundle) and on identities.
//   node interop/experiments/client_bundles.js

const { startPeer, flipByte } = require('./peer');

(async () => {
  const variants = [
    ['as generated', (b) => b],
    ['signed prekey signature corrupted', (b) => ({ ...b, signed_prekey_signature: flipByte(b.signed_prekey_signature, 5) })],
    ['Kyber prekey signature corrupted', (b) => ({ ...b, kyber_prekey_signature: flipByte(b.kyber_prekey_signature, 5) })],
    ['signature with a top bit of s set (byte 63 ^ 0x40)', (b) => {
      const s = Buffer.from(b.signed_prekey_signature, 'hex');
      s[63] ^= 0x40;
      return { ...b, signed_prekey_signature: s.toString('hex') };
    }],
    ['no one-time prekey', (b) => ({ ...b, prekey_id: null, prekey: null })],
    ['identity key without the 0x05 prefix', (b) => ({ ...b, identity_key: b.identity_key.slice(2) })],
    ['signed prekey without the 0x05 prefix', (b) => ({ ...b, signed_prekey: b.signed_prekey.slice(2) })],
    ['Kyber key relabelled 0x0a (ML-KEM-1024)', (b) => ({ ...b, kyber_prekey: '0a' + b.kyber_prekey.slice(2) })],
    ['registration id changed', (b) => ({ ...b, registration_id: b.registration_id + 1 })],
    ['device id changed', (b) => ({ ...b, device_id: 9 })],
  ];
  for (const [label, mutate] of variants) {
    const peer = startPeer('client');
    await peer.call('new_party', { party: 'a', name: 'alice', device_id: 1, registration_id: 111 });
    await peer.call('new_party', { party: 'b', name: 'bob', device_id: 1, registration_id: 222 });
    const bundle = mutate(await peer.call('make_bundle', { party: 'b', one_time_prekey: true }));
    const r = await peer.attempt('process_bundle', { party: 'a', remote_name: 'bob', remote_device: 1, bundle });
    let rest = '';
    if (r.ok) {
      const m = await peer.call('encrypt', { party: 'a', remote_name: 'bob', remote_device: 1, plaintext: '00' });
      const d = await peer.attempt('decrypt', { party: 'b', remote_name: 'alice', remote_device: 1, type: 3, body: m.body });
      const info = await peer.call('session_info', { party: 'a', remote_name: 'bob', remote_device: 1 });
      rest = `; alice's record: remote registration id ${info.remote_registration_id}; bob: ${d.ok ? 'decrypts' : d.error}`;
    }
    console.log(`  ${label}: ${r.ok ? 'accepted' : `${r.error} [${r.code}]`}${rest}`);
    peer.close();
  }

  console.log('== identity change (TOFU store), then a store that trusts everything');
  const peer = startPeer('client');
  await peer.call('new_party', { party: 'a', name: 'alice', device_id: 1 });
  await peer.call('new_party', { party: 'b', name: 'bob', device_id: 1 });
  await peer.call('new_party', { party: 'b2', name: 'bob', device_id: 1 });
  await peer.call('process_bundle', {
    party: 'a', remote_name: 'bob', remote_device: 1, bundle: await peer.call('make_bundle', { party: 'b', one_time_prekey: true }),
  });
  await peer.call('encrypt', { party: 'a', remote_name: 'bob', remote_device: 1, plaintext: '00' });
  const b2 = await peer.call('make_bundle', { party: 'b2', one_time_prekey: true });
  const r = await peer.attempt('process_bundle', { party: 'a', remote_name: 'bob', remote_device: 1, bundle: b2 });
  console.log(`  process_bundle with a changed identity: ${r.ok ? 'accepted' : `${r.error} [${r.code}]`}`);
  const e = await peer.attempt('encrypt', { party: 'a', remote_name: 'bob', remote_device: 1, plaintext: '00' });
  console.log(`  encrypt on the old session afterwards: ${e.ok ? `accepted (type ${e.type})` : `${e.error} [${e.code}]`}`);
  await peer.call('set_trust', { party: 'a', mode: 'always' });
  const r2 = await peer.attempt('process_bundle', { party: 'a', remote_name: 'bob', remote_device: 1, bundle: b2 });
  console.log(`  with a store that trusts everything: ${r2.ok ? 'accepted' : r2.error}`);
  const id = await peer.call('identity', { party: 'a', remote_name: 'bob', remote_device: 1 });
  console.log(`  stored identity is now bob's new one: ${id.identity_key === b2.identity_key}`);
  peer.close();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

'use strict';
// libsignal-node (npm `libsignal` 6.0.0): its API surface, the storage calls it makes,
// and its checks on bundles and prekey messages.   node interop/experiments/legacy_api.js

const path = require('path');
const { startPeer, pair, fields, flipByte } = require('./peer');

function apiSurface() {
  const L = require(path.join(__dirname, '..', 'node_modules', 'libsignal'));
  console.log('== exports (name: kind/arity; prototype methods)');
  for (const [k, v] of Object.entries(L)) {
    if (typeof v === 'function') {
      const proto = Object.getOwnPropertyNames(v.prototype || {}).filter((n) => n !== 'constructor' && !n.startsWith('_'));
      const stat = Object.getOwnPropertyNames(v).filter((n) => !['length', 'name', 'prototype'].includes(n));
      console.log(`  ${k}: class/${v.length}${proto.length ? `; methods ${proto.join(', ')}` : ''}${stat.length ? `; static ${stat.join(', ')}` : ''}`);
    } else if (v && typeof v === 'object') {
      console.log(`  ${k}: { ${Object.entries(v).map(([n, f]) => `${n}/${f.length}`).join(', ')} }`);
    }
  }
  const kp = L.keyhelper.generateIdentityKeyPair();
  console.log(`  keyhelper.generateIdentityKeyPair() -> pubKey ${kp.pubKey.length} B (first byte 0x${kp.pubKey[0].toString(16)}), privKey ${kp.privKey.length} B`);
  const spk = L.keyhelper.generateSignedPreKey(kp, 7);
  console.log(`  keyhelper.generateSignedPreKey(identity, 7) -> keys ${Object.keys(spk).join(', ')}; signature ${spk.signature.length} B`);
  const ok33 = L.curve.verifySignature(kp.pubKey, spk.keyPair.pubKey, spk.signature);
  const ok32 = L.curve.verifySignature(kp.pubKey, spk.keyPair.pubKey.subarray(1), spk.signature);
  console.log(`  its signature verifies over the 33-byte key: ${ok33}; over the 32-byte key: ${ok32}`);
  try {
    new L.ProtocolAddress('a.b', 1);
  } catch (e) {
    console.log(`  new ProtocolAddress('a.b', 1) -> ${e.name}: ${e.message}`);
  }
}

async function storageCalls() {
  console.log('== storage calls, in order');
  const peer = startPeer('legacy');
  const c = await pair(peer, 'alice', 'bob');
  const log = async (party, what) => {
    const r = await peer.call('storage_log', { party, clear: true });
    console.log(`  ${what}:\n    ${r.calls.map((x) => x.replace(/[0-9a-f]{66}/g, '<33B key>')).join('\n    ')}`);
  };
  await log('a', 'initOutgoing (alice, process_bundle)');
  const pre = await c.send('a', 'hello');
  await log('a', 'encrypt (alice)');
  await c.recv('b', pre);
  await log('b', 'decryptPreKeyWhisperMessage (bob)');
  const w = await c.send('b', 'hi');
  await log('b', 'encrypt (bob)');
  await c.recv('a', w);
  await log('a', 'decryptWhisperMessage (alice)');
  console.log(`  encrypt result: native type ${pre.native_type} (prekey), ${w.native_type} (whisper)`);
  peer.close();
}

async function bundleChecks() {
  console.log('== bundle checks (initOutgoing), then can bob decrypt?');
  const variants = [
    ['as generated', (b) => b],
    ['signed prekey signature corrupted', (b) => ({ ...b, signed_prekey_signature: flipByte(b.signed_prekey_signature, 5) })],
    ['signed prekey signature all zero', (b) => ({ ...b, signed_prekey_signature: '00'.repeat(64) })],
    ['no one-time prekey', (b) => ({ ...b, prekey_id: null, prekey: null })],
    ['keys without the 0x05 prefix', (b) => ({
      ...b,
      identity_key: b.identity_key.slice(2),
      signed_prekey: b.signed_prekey.slice(2),
      prekey: b.prekey.slice(2),
    })],
    ['identity key without the 0x05 prefix', (b) => ({ ...b, identity_key: b.identity_key.slice(2) })],
    ['signed prekey without the 0x05 prefix', (b) => ({ ...b, signed_prekey: b.signed_prekey.slice(2) })],
    ['one-time prekey without the 0x05 prefix', (b) => ({ ...b, prekey: b.prekey.slice(2) })],
    ['registration id changed', (b) => ({ ...b, registration_id: b.registration_id + 1 })],
  ];
  for (const [label, mutate] of variants) {
    const peer = startPeer('legacy');
    await peer.call('new_party', { party: 'a', name: 'alice', device_id: 1, registration_id: 111 });
    await peer.call('new_party', { party: 'b', name: 'bob', device_id: 1, registration_id: 222 });
    const bundle = mutate(await peer.call('make_bundle', { party: 'b', one_time_prekey: true }));
    const r = await peer.attempt('process_bundle', { party: 'a', remote_name: 'bob', remote_device: 1, bundle });
    let rest = '';
    if (r.ok) {
      const m = await peer.call('encrypt', { party: 'a', remote_name: 'bob', remote_device: 1, plaintext: '00' });
      const f = await fields(peer, m.body, 'prekey');
      const d = await peer.attempt('decrypt', { party: 'b', remote_name: 'alice', remote_device: 1, type: 3, body: m.body });
      rest = `; prekey message fields ${Object.keys(f.f).join(',')}, base key ${f.f[2].length / 2} B, identity ${f.f[3].length / 2} B; bob: ${d.ok ? 'decrypts' : d.error}`;
    }
    console.log(`  ${label}: ${r.ok ? 'accepted' : r.error}${rest}`);
    peer.close();
  }
}

async function identityChecks() {
  console.log('== identity checks');
  const peer = startPeer('legacy');
  const c = await pair(peer, 'alice', 'bob');
  await c.deliver('a', 'x');
  await c.deliver('b', 'y');
  // Bob re-installs: new identity, same name; Alice gets his new bundle.
  await peer.call('new_party', { party: 'b2', name: 'bob', device_id: 1, registration_id: 333 });
  const b2 = await peer.call('make_bundle', { party: 'b2', one_time_prekey: true });
  const r = await peer.attempt('process_bundle', { party: 'a', remote_name: 'bob', remote_device: 1, bundle: b2 });
  console.log(`  process_bundle with a changed identity (TOFU store says untrusted): ${r.ok ? 'accepted' : r.error}`);
  await peer.call('set_trust', { party: 'a', mode: 'always' });
  const r2 = await peer.attempt('process_bundle', { party: 'a', remote_name: 'bob', remote_device: 1, bundle: b2 });
  console.log(`  same with a store that trusts everything: ${r2.ok ? 'accepted' : r2.error}`);
  const rec = JSON.parse(Buffer.from((await peer.call('session_record', { party: 'a', remote_name: 'bob', remote_device: 1 })).record, 'hex').toString());
  console.log(`  alice's record for bob now holds ${Object.keys(rec._sessions).length} sessions; top-level keys: ${Object.keys(rec).join(', ')}`);
  peer.close();
}

(async () => {
  apiSurface();
  await storageCalls();
  await bundleChecks();
  await identityChecks();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

'use strict';
// Sender keys (groups) in libsignal-client: wire layout, key derivation, states,
// limits, duplicates and tampering. Every message below is made either by the peer's
// own groupEncrypt or by its public `_new` constructors with keys we chose; the chain
// and message keys of crafted messages are derived here with node's crypto, following
// SIGNAL-WIRE.md, so a crafted message that decrypts confirms the derivation.
//   node interop/experiments/sender_keys.js [wire|receive|limits|window|states|tamper|edges]
//   (default: all; the limits part makes ~60,000 messages, a few minutes)

const crypto = require('crypto');
const { startPeer, fields, encodeFields } = require('./peer');

const D = 'd1b6f0a4-3f63-4b3c-9b1e-2b8a5f0c7e11';
const D2 = '0c2f6e59-8a77-4d0e-b0d4-5e7c1a9b3f20';
const hexs = (b) => Buffer.from(b).toString('hex');
const quiet = (r) => (r.log || []).filter((l) => !/\[libsignal Info\]/.test(l));
const show = (r) =>
  r.ok
    ? 'accepted'
    : `${r.error}${r.code ? ` [${r.code}]` : ''}${quiet(r).length ? `\n        log: ${quiet(r).join('\n        log: ')}` : ''}`;

// --- key schedule as SIGNAL-WIRE.md states it -------------------------------------
const hmac = (key, byte) => crypto.createHmac('sha256', key).update(Buffer.from([byte])).digest();
function chainKeyAt(ck0, n) {
  let ck = Buffer.from(ck0, 'hex');
  for (let i = 0; i < n; i++) ck = hmac(ck, 0x02);
  return ck;
}
function messageKeys(ck) {
  const seed = hmac(ck, 0x01);
  const okm = Buffer.from(crypto.hkdfSync('sha256', seed, Buffer.alloc(0), Buffer.from('WhisperGroup'), 48));
  return { iv: okm.subarray(0, 16), key: okm.subarray(16, 48) };
}
function encryptAt(ck0, n, plaintext) {
  const { iv, key } = messageKeys(chainKeyAt(ck0, n));
  const c = crypto.createCipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([c.update(plaintext), c.final()]);
}
function decryptAt(ck0, n, ciphertext) {
  const { iv, key } = messageKeys(chainKeyAt(ck0, n));
  const d = crypto.createDecipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([d.update(ciphertext), d.final()]);
}

// A group sender whose keys we hold: distribution and messages through `_new`.
async function craftedSender(peer, { chainId = 1234, iteration = 0, version = 3, dist = D } = {}) {
  const kp = await peer.call('generate_keypair');
  const ck = crypto.randomBytes(32).toString('hex');
  const distribution = (
    await peer.call('sk_distribution_new', {
      version,
      distribution_id: dist,
      chain_id: chainId,
      iteration,
      chain_key: ck,
      signing_key: kp.public,
    })
  ).message;
  const message = async (n, text = `m${n}`, { v = 3, ciphertext = null, id = chainId } = {}) =>
    (
      await peer.call('sk_message_new', {
        version: v,
        distribution_id: dist,
        chain_id: id,
        iteration: n,
        ciphertext: ciphertext !== null ? ciphertext : encryptAt(ck, n - iteration, Buffer.from(text)).toString('hex'),
        signing_private: kp.private,
      })
    ).body;
  return { kp, ck, chainId, distribution, message };
}

async function group(peer) {
  await peer.call('new_party', { party: 'alice', name: 'alice', device_id: 1 });
  await peer.call('new_party', { party: 'bob', name: 'bob', device_id: 1 });
  const bobRecord = async (sender = 'alice', dist = D) =>
    (await peer.call('sk_record', { party: 'bob', sender_name: sender, sender_device: 1, distribution_id: dist }))
      .record;
  const setBobRecord = async (record, sender = 'alice', dist = D) =>
    peer.call('set_sk_record', {
      party: 'bob',
      sender_name: sender,
      sender_device: 1,
      distribution_id: dist,
      record,
    });
  const process = async (message, sender = 'alice') =>
    peer.attempt('sk_process', { party: 'bob', sender_name: sender, sender_device: 1, message });
  const decrypt = async (body, sender = 'alice') =>
    peer.attempt('group_decrypt', { party: 'bob', sender_name: sender, sender_device: 1, body });
  const send = async (text, dist = D) =>
    (
      await peer.call('group_encrypt', {
        party: 'alice',
        distribution_id: dist,
        plaintext: Buffer.from(text).toString('hex'),
      })
    ).body;
  return { bobRecord, setBobRecord, process, decrypt, send };
}

async function wire() {
  console.log('== wire layout and key derivation');
  const peer = startPeer('client');
  const g = await group(peer);
  const dm = (await peer.call('sk_distribution', { party: 'alice', distribution_id: D })).message;
  const df = await peer.call('wire_fields', { body: dm, kind: 'sender_key_distribution' });
  console.log(`  distribution: ${dm.length / 2} bytes, version byte 0x${df.version.toString(16)}`);
  for (const f of df.fields) {
    const v = f.wire === 2 ? `${f.value.length / 2} bytes ${f.value.slice(0, 16)}…` : f.value;
    console.log(`    field ${f.field} wire ${f.wire}: ${v}`);
  }
  const parsed = await peer.call('parse_sk_distribution', { message: dm });
  console.log(`  parsed: ${JSON.stringify(parsed)}`);
  const dfm = {};
  for (const f of df.fields) dfm[f.field] = f.value;

  await g.process(dm);
  for (const pt of ['', 'x', 'fifteen bytes!!', 'sixteen bytes!!!', 'seventeen bytes!!']) {
    const body = await g.send(pt);
    const w = await peer.call('wire_fields', { body, kind: 'sender_key' });
    const mf = {};
    for (const f of w.fields) mf[f.field] = f.value;
    const layout = w.fields.map((f) => `${f.field}${f.wire === 2 ? `(${f.value.length / 2}B)` : `=${f.value}`}`).join(' ');
    const signed = body.slice(0, body.length - 128);
    const sigOk = (
      await peer.call('xeddsa_verify', { public: dfm[5], message: signed, signature: w.trailer })
    ).valid;
    const mine = decryptAt(dfm[4], mf[3], Buffer.from(mf[4], 'hex')).toString();
    const r = await g.decrypt(body);
    console.log(
      `  message "${pt}" (${pt.length} B): ${body.length / 2} bytes, version 0x${w.version.toString(16)}, ${layout}, ` +
        `sig over version‖protobuf: ${sigOk}, our KDF decrypts: ${mine === pt}, bob: ${show(r)}`,
    );
  }
  const again = (await peer.call('sk_distribution', { party: 'alice', distribution_id: D })).message;
  const pa = await peer.call('parse_sk_distribution', { message: again });
  console.log(
    `  distribution again after 5 messages: chain id ${pa.chain_id === parsed.chain_id ? 'same' : 'NEW'}, ` +
      `iteration ${pa.iteration}, chain key = HMAC^5(first): ${pa.chain_key === hexs(chainKeyAt(parsed.chain_key, 5))}`,
  );
  const ids = [];
  for (let i = 0; i < 40; i++) {
    await peer.call('set_sk_record', { party: 'alice', sender_name: 'alice', sender_device: 1, distribution_id: D, record: null });
    const m = (await peer.call('sk_distribution', { party: 'alice', distribution_id: D })).message;
    ids.push((await peer.call('parse_sk_distribution', { message: m })).chain_id);
  }
  console.log(
    `  40 fresh chains: chain ids max ${Math.max(...ids)} (< 2^31: ${ids.every((x) => x < 2 ** 31)}), min ${Math.min(...ids)}, first 6 ${ids.slice(0, 6)}`,
  );
  const kp = await peer.call('generate_keypair');
  const ck = '11'.repeat(32);
  for (const v of [2, 3, 4]) {
    const m = await peer.attempt('sk_distribution_new', {
      version: v, distribution_id: D, chain_id: 7, iteration: 0, chain_key: ck, signing_key: kp.public,
    });
    const b = m.ok ? m.message.slice(0, 2) : show(m);
    const s = await peer.attempt('sk_message_new', {
      version: v, distribution_id: D, chain_id: 7, iteration: 0, ciphertext: '00'.repeat(16), signing_private: kp.private,
    });
    console.log(`  _new(version ${v}): distribution byte ${b}; message byte ${s.ok ? s.body.slice(0, 2) : show(s)}`);
  }
  peer.close();
}

async function receive() {
  console.log('== receiving: order, duplicates, unknown states');
  const peer = startPeer('client');
  const g = await group(peer);
  const none = await g.decrypt(await (async () => {
    await peer.call('sk_distribution', { party: 'alice', distribution_id: D });
    return g.send('before bob has the key');
  })());
  console.log(`  message before any distribution: ${show(none)}`);
  await g.process((await peer.call('sk_distribution', { party: 'alice', distribution_id: D })).message);
  const m = [];
  for (let i = 0; i < 5; i++) m.push(await g.send(`msg ${i + 1}`));
  console.log(`  newest first (#5): ${show(await g.decrypt(m[4]))}`);
  console.log(`  then #1: ${show(await g.decrypt(m[0]))}`);
  console.log(`  #1 again: ${show(await g.decrypt(m[0]))}`);
  console.log(`  #5 again: ${show(await g.decrypt(m[4]))}`);
  console.log(`  #3, #2, #4: ${show(await g.decrypt(m[2]))}; ${show(await g.decrypt(m[1]))}; ${show(await g.decrypt(m[3]))}`);
  const before = await g.bobRecord();
  const r = await g.decrypt(m[2]);
  console.log(`  #3 again: ${show(r)}; record unchanged: ${before === (await g.bobRecord())}`);
  // A distribution for another distribution id: separate record.
  await peer.call('sk_distribution', { party: 'alice', distribution_id: D2 });
  const other = await g.send('other group', D2);
  console.log(`  message for a distribution id bob never got: ${show(await g.decrypt(other))}`);
  // Sender address is part of the key: the same bytes "from" carol.
  console.log(`  alice's message presented as carol's: ${show(await g.decrypt(m[4], 'carol'))}`);
  // Known distribution id, unknown chain id.
  const c = await craftedSender(peer, { chainId: 99 });
  console.log(`  unknown chain id (99) for a known distribution id: ${show(await g.decrypt(await c.message(0)))}`);
  // A late joiner: distribution made after 5 messages.
  await peer.call('new_party', { party: 'carol', name: 'carol', device_id: 1 });
  const dm = (await peer.call('sk_distribution', { party: 'alice', distribution_id: D })).message;
  await peer.call('sk_process', { party: 'carol', sender_name: 'alice', sender_device: 1, message: dm });
  const late = await peer.attempt('group_decrypt', { party: 'carol', sender_name: 'alice', sender_device: 1, body: m[0] });
  const fresh = await g.send('after carol joined');
  const ok = await peer.attempt('group_decrypt', { party: 'carol', sender_name: 'alice', sender_device: 1, body: fresh });
  console.log(`  late joiner (distribution at iteration 5): message #1: ${show(late)}; next message: ${show(ok)}`);
  peer.close();
}

async function limits() {
  console.log('== limits: forward jump and stored keys');
  const peer = startPeer('client');
  const g = await group(peer);
  await peer.call('sk_distribution', { party: 'alice', distribution_id: D });
  const base = (await peer.call('sk_distribution', { party: 'alice', distribution_id: D })).message;
  await g.process(base);
  const fresh = await g.bobRecord();
  const aliceStart = (await peer.call('sk_record', { party: 'alice', sender_name: 'alice', sender_device: 1, distribution_id: D })).record;
  // Forward jump from a fresh state (next expected 0) and from one in use (next expected 1).
  for (const inUse of [false, true]) {
    await peer.call('set_sk_record', { party: 'alice', sender_name: 'alice', sender_device: 1, distribution_id: D, record: aliceStart });
    await g.setBobRecord(fresh);
    if (inUse) await g.decrypt(await g.send('iteration 0'));
    const bobBase = await g.bobRecord();
    const next = inUse ? 1 : 0;
    await peer.call('group_encrypt_discard', { party: 'alice', distribution_id: D, count: 24998 - (inUse ? 1 : 0) });
    const aliceAhead = (await peer.call('sk_record', { party: 'alice', sender_name: 'alice', sender_device: 1, distribution_id: D })).record;
    for (let extra = 0; extra <= 4; extra++) {
      await peer.call('set_sk_record', { party: 'alice', sender_name: 'alice', sender_device: 1, distribution_id: D, record: aliceAhead });
      await g.setBobRecord(bobBase);
      if (extra) await peer.call('group_encrypt_discard', { party: 'alice', distribution_id: D, count: extra });
      const body = await g.send('probe');
      const it = (await peer.call('parse_sk_message', { body })).iteration;
      const r = await g.decrypt(body);
      const unchanged = r.ok ? '' : `; record unchanged: ${(await g.bobRecord()) === bobBase}`;
      console.log(`  ${inUse ? 'state in use' : 'fresh state '} iteration ${it} (${it - next} past next expected ${next}): ${show(r)}${unchanged}`);
    }
  }
  // Stored keys: jump over N iterations, then try the oldest skipped ones.
  for (const jumps of [[2000], [2001], [2002], [1500, 1500]]) {
    await peer.call('set_sk_record', { party: 'alice', sender_name: 'alice', sender_device: 1, distribution_id: D, record: aliceStart });
    await g.setBobRecord(fresh);
    const early = [];
    for (let i = 0; i < 3; i++) early.push(await g.send(`early ${i}`));
    let sent = 3;
    let last = null;
    for (const j of jumps) {
      await peer.call('group_encrypt_discard', { party: 'alice', distribution_id: D, count: j - (sent ? sent : 0) });
      sent = 0;
      last = await g.send('jump');
      await g.decrypt(last);
    }
    const it = (await peer.call('parse_sk_message', { body: last })).iteration;
    const res = [];
    for (let i = 0; i < 3; i++) {
      const r = await g.decrypt(early[i]);
      res.push(`#${i}: ${r.ok ? 'ok' : r.error}`);
    }
    console.log(`  jumps ${JSON.stringify(jumps)} (newest iteration ${it}): ${res.join(', ')}`);
  }
  peer.close();
}

// Count or window? A crafted chain: iterations 1500 then 3001 received, then older ones.
async function window() {
  console.log('== stored keys: the newest 2,000 kept, or a window of 2,000 iterations?');
  const peer = startPeer('client');
  const g = await group(peer);
  const c = await craftedSender(peer, { chainId: 4242 });
  await g.setBobRecord(null);
  await g.process(c.distribution);
  await g.decrypt(await c.message(1500));
  await g.decrypt(await c.message(3001));
  const probe = [];
  for (const n of [999, 1000, 1001, 1499, 1500, 1501, 3000]) {
    const r = await g.decrypt(await c.message(n));
    probe.push(`${n}: ${r.ok ? 'ok' : r.code || r.error}`);
  }
  console.log(`  crafted chain, 1500 then 3001 received, then: ${probe.join(', ')}`);
  peer.close();
}

async function states() {
  console.log('== states per (sender, distribution id)');
  const peer = startPeer('client');
  const g = await group(peer);
  const senders = [];
  for (let i = 1; i <= 7; i++) senders.push(await craftedSender(peer, { chainId: 100 + i }));
  for (let n = 1; n <= 7; n++) {
    await g.setBobRecord(null);
    for (let i = 0; i < n; i++) await g.process(senders[i].distribution);
    const ok = [];
    for (let i = 0; i < n; i++) ok.push((await g.decrypt(await senders[i].message(0))).ok ? '+' : '-');
    console.log(`  ${n} distributions (chain ids 101..${100 + n}), then iteration 0 of each: ${ok.join('')}`);
  }
  // Same chain id again: which state wins, and where does it go in the order?
  await g.setBobRecord(null);
  const a = senders[0];
  await g.process(a.distribution);
  await g.decrypt(await a.message(0));
  await g.decrypt(await a.message(1));
  const r1 = await g.bobRecord();
  const p = await g.process(a.distribution);
  const same = (await g.bobRecord()) === r1;
  console.log(`  identical distribution again after 2 messages: ${show(p)}; record unchanged: ${same}; #1 again: ${show(await g.decrypt(await a.message(1)))}`);
  const twin = await craftedSender(peer, { chainId: a.chainId });
  console.log(`  distribution with the same chain id, new chain key and signing key: ${show(await g.process(twin.distribution))}`);
  console.log(`    message from the old key (#2): ${show(await g.decrypt(await a.message(2)))}`);
  console.log(`    message from the new key (#0): ${show(await g.decrypt(await twin.message(0)))}`);
  // Replacement and the order of eviction.
  await g.setBobRecord(null);
  for (let i = 0; i < 5; i++) await g.process(senders[i].distribution); // 101..105
  const again = await craftedSender(peer, { chainId: 101 });
  await g.process(again.distribution); // replaces 101
  await g.process(senders[5].distribution); // 106
  const res = [];
  for (const s of [again, ...senders.slice(1, 6)]) res.push(`${s.chainId}:${(await g.decrypt(await s.message(0))).ok ? '+' : '-'}`);
  console.log(`  101..105, then 101 replaced, then 106: ${res.join(' ')}`);
  await g.setBobRecord(null);
  for (let i = 0; i < 5; i++) await g.process(senders[i].distribution);
  await g.process(senders[0].distribution); // identical 101 again
  await g.process(senders[5].distribution);
  const res2 = [];
  for (const s of senders.slice(0, 6)) res2.push(`${s.chainId}:${(await g.decrypt(await s.message(0))).ok ? '+' : '-'}`);
  console.log(`  101..105, then identical 101 again, then 106: ${res2.join(' ')}`);
  // Same chain id: which parts of the state decide between keeping and replacing?
  const probe = async (label, replacement) => {
    await g.setBobRecord(null);
    for (let i = 0; i < 5; i++) await g.process(senders[i].distribution); // 101..105
    await g.decrypt(await senders[2].message(0)); // 103 in use: next expected 1
    const pr = await g.process(replacement.distribution);
    await g.process(senders[5].distribution); // 106
    await g.process(senders[6].distribution); // 107
    const res = [];
    for (const s of senders.slice(0, 7)) res.push(`${s.chainId}:${(await g.decrypt(await s.message(1))).ok ? '+' : '-'}`);
    const r0 = await g.decrypt(await replacement.message(0));
    console.log(`  101..105 (103 used once), then ${label}, then 106, 107: ${show(pr)}; old keys #1: ${res.join(' ')}; new chain #0: ${show(r0)}`);
  };
  const s3 = senders[2];
  await probe('identical 103', s3);
  const sameKeyNewChain = {
    chainId: 103,
    distribution: (await peer.call('sk_distribution_new', {
      version: 3, distribution_id: D, chain_id: 103, iteration: 0, chain_key: '22'.repeat(32), signing_key: s3.kp.public,
    })).message,
    message: async (n) => (await peer.call('sk_message_new', {
      version: 3, distribution_id: D, chain_id: 103, iteration: n,
      ciphertext: encryptAt('22'.repeat(32), n, Buffer.from('x')).toString('hex'), signing_private: s3.kp.private,
    })).body,
  };
  await probe('103 with the same signing key and another chain key', sameKeyNewChain);
  const other = await peer.call('generate_keypair');
  const newKeySameChain = {
    chainId: 103,
    distribution: (await peer.call('sk_distribution_new', {
      version: 3, distribution_id: D, chain_id: 103, iteration: 0, chain_key: s3.ck, signing_key: other.public,
    })).message,
    message: async (n) => (await peer.call('sk_message_new', {
      version: 3, distribution_id: D, chain_id: 103, iteration: n,
      ciphertext: encryptAt(s3.ck, n, Buffer.from('x')).toString('hex'), signing_private: other.private,
    })).body,
  };
  await probe('103 with another signing key and the same chain key', newKeySameChain);
  // Kept or re-inserted? 101 used once, then identical 101, then 106.
  await g.setBobRecord(null);
  for (let i = 0; i < 5; i++) await g.process(senders[i].distribution);
  await g.decrypt(await senders[0].message(0));
  await g.process(senders[0].distribution);
  await g.process(senders[5].distribution);
  const kept = [];
  for (const s of senders.slice(0, 6)) kept.push(`${s.chainId}:${(await g.decrypt(await s.message(1))).ok ? '+' : '-'}`);
  console.log(`  101..105 (101 used once), identical 101 again, then 106: #1 of each: ${kept.join(' ')}; 101 #0 again: ${show(await g.decrypt(await senders[0].message(0)))}`);
  // Does decrypting move a state? 101..105, a message on 101, then 106.
  await g.setBobRecord(null);
  for (let i = 0; i < 5; i++) await g.process(senders[i].distribution);
  await g.decrypt(await senders[0].message(0));
  await g.process(senders[5].distribution);
  const moved = [];
  for (const s of senders.slice(0, 6)) moved.push(`${s.chainId}:${(await g.decrypt(await s.message(1))).ok ? '+' : '-'}`);
  console.log(`  101..105, a message on 101, then 106: #1 of each: ${moved.join(' ')}`);
  // A new chain id with a signing key already in the record.
  await g.setBobRecord(null);
  await g.process(s3.distribution);
  const reuse = (await peer.call('sk_distribution_new', {
    version: 3, distribution_id: D, chain_id: 108, iteration: 0, chain_key: '33'.repeat(32), signing_key: s3.kp.public,
  })).message;
  const rr = await g.process(reuse);
  const m108 = (await peer.call('sk_message_new', {
    version: 3, distribution_id: D, chain_id: 108, iteration: 0,
    ciphertext: encryptAt('33'.repeat(32), 0, Buffer.from('x')).toString('hex'), signing_private: s3.kp.private,
  })).body;
  console.log(`  chain 108 with 103's signing key: ${show(rr)}; its #0: ${show(await g.decrypt(m108))}; 103 #0: ${show(await g.decrypt(await s3.message(0)))}`);
  // Same chain id, same signing key, later iteration.
  await g.setBobRecord(null);
  await g.process(a.distribution);
  const later = (await peer.call('sk_distribution_new', {
    version: 3, distribution_id: D, chain_id: a.chainId, iteration: 10,
    chain_key: hexs(chainKeyAt(a.ck, 10)), signing_key: a.kp.public,
  })).message;
  console.log(`  same chain, later iteration (10): ${show(await g.process(later))}; #3 then: ${show(await g.decrypt(await a.message(3)))}; #12: ${show(await g.decrypt(await a.message(12)))}`);
  // The sender's own record: which state does groupEncrypt use after a foreign distribution?
  const own = (await peer.call('sk_distribution', { party: 'alice', distribution_id: D2 })).message;
  const ownParsed = await peer.call('parse_sk_distribution', { message: own });
  const intruder = await craftedSender(peer, { chainId: 555, dist: D2 });
  const pr = await peer.attempt('sk_process', { party: 'alice', sender_name: 'alice', sender_device: 1, message: intruder.distribution });
  const enc = await peer.attempt('group_encrypt', { party: 'alice', distribution_id: D2, plaintext: '00' });
  let used = '';
  if (enc.ok) used = `chain ${(await peer.call('parse_sk_message', { body: enc.body })).chain_id}`;
  console.log(`  alice processes a distribution under her own address (chain 555; hers is ${ownParsed.chain_id}): ${show(pr)}; her next message: ${enc.ok ? used : show(enc)}`);
  peer.close();
}

async function tamper() {
  console.log('== tampering and malformed input');
  const peer = startPeer('client');
  const g = await group(peer);
  await peer.call('sk_distribution', { party: 'alice', distribution_id: D });
  await g.process((await peer.call('sk_distribution', { party: 'alice', distribution_id: D })).message);
  const body = await g.send('tamper me');
  const before = await g.bobRecord();
  const flip = (h, i, bit = 1) => {
    const b = Buffer.from(h, 'hex');
    const k = i < 0 ? b.length + i : i;
    b[k] ^= bit;
    return b.toString('hex');
  };
  const cases = [
    ['version byte 0x33 -> 0x32', flip(body, 0, 0x01)],
    ['version byte 0x33 -> 0x23', flip(body, 0, 0x10)],
    ['version byte 0x33 -> 0x43', flip(body, 0, 0x70)],
    ['signature first byte', flip(body, -64)],
    ['signature last byte bit 0', flip(body, -1)],
    ['signature last byte bit 7', flip(body, -1, 0x80)],
    ['ciphertext last byte', flip(body, -65)],
    ['truncated by 1', body.slice(0, -2)],
    ['signature removed', body.slice(0, -128)],
    ['one byte appended', body + '00'],
  ];
  for (const [what, b] of cases) {
    const r = await g.decrypt(b);
    console.log(`  ${what}: ${show(r)}; record unchanged: ${(await g.bobRecord()) === before}`);
  }
  console.log(`  the untouched message afterwards: ${show(await g.decrypt(body))}`);
  // Valid signature, bad content.
  const c = await craftedSender(peer, { chainId: 4321 });
  await g.process(c.distribution);
  const r0 = await g.bobRecord();
  const bad = await c.message(3, '', { ciphertext: '00'.repeat(16) });
  const rb = await g.decrypt(bad);
  console.log(`  signed, bad padding at iteration 3: ${show(rb)}; record unchanged: ${(await g.bobRecord()) === r0}`);
  const rl = await g.decrypt(await c.message(3, '', { ciphertext: '00'.repeat(15) }));
  console.log(`  signed, ciphertext of 15 bytes: ${show(rl)}; record unchanged: ${(await g.bobRecord()) === r0}`);
  const re = await g.decrypt(await c.message(3, '', { ciphertext: '' }));
  console.log(`  signed, empty ciphertext: ${show(re)}; record unchanged: ${(await g.bobRecord()) === r0}`);
  for (const v of [2, 4]) {
    const rv = await g.decrypt(await c.message(0, 'v', { v }));
    console.log(`  signed message made with version ${v}: ${show(rv)}`);
  }
  console.log(`  the genuine #0 afterwards: ${show(await g.decrypt(await c.message(0)))}`);
  // Messages rebuilt field by field and signed by us.
  const dm = c.distribution;
  const df = await fields(peer, dm, 'sender_key_distribution');
  console.log(`  distribution version byte variants:`);
  for (const vb of [0x22, 0x23, 0x32, 0x34, 0x43, 0x44, 0x13]) {
    const b = Buffer.from(dm, 'hex');
    b[0] = vb;
    await g.setBobRecord(null);
    console.log(`    0x${vb.toString(16)}: ${show(await g.process(b.toString('hex')))}`);
  }
  const rebuilt = (list) => '33' + encodeFields(list).toString('hex');
  const F = (n, wire, value) => ({ field: n, wire, value });
  const dfields = [F(1, 2, df.f[1]), F(2, 0, df.f[2]), F(3, 0, df.f[3]), F(4, 2, df.f[4]), F(5, 2, df.f[5])];
  const variants = [
    ['as made', dfields],
    ['without field 1 (distribution id)', dfields.filter((f) => f.field !== 1)],
    ['without field 2 (chain id)', dfields.filter((f) => f.field !== 2)],
    ['without field 3 (iteration)', dfields.filter((f) => f.field !== 3)],
    ['without field 4 (chain key)', dfields.filter((f) => f.field !== 4)],
    ['without field 5 (signing key)', dfields.filter((f) => f.field !== 5)],
    ['chain key 31 bytes', dfields.map((f) => (f.field === 4 ? F(4, 2, f.value.slice(2)) : f))],
    ['chain key 33 bytes', dfields.map((f) => (f.field === 4 ? F(4, 2, f.value + '00') : f))],
    ['signing key 32 bytes (no 0x05)', dfields.map((f) => (f.field === 5 ? F(5, 2, f.value.slice(2)) : f))],
    ['signing key type 0x06', dfields.map((f) => (f.field === 5 ? F(5, 2, '06' + f.value.slice(2)) : f))],
    ['signing key 34 bytes', dfields.map((f) => (f.field === 5 ? F(5, 2, f.value + '00') : f))],
    ['distribution id 15 bytes', dfields.map((f) => (f.field === 1 ? F(1, 2, f.value.slice(2)) : f))],
    ['distribution id 17 bytes', dfields.map((f) => (f.field === 1 ? F(1, 2, f.value + '00') : f))],
    ['unknown field 9 appended', [...dfields, F(9, 0, 1)]],
    ['fields in reverse order', [...dfields].reverse()],
    ['chain id 2^31', dfields.map((f) => (f.field === 2 ? F(2, 0, 2 ** 31) : f)), 2 ** 31],
    ['chain id 2^32 + 4321', dfields.map((f) => (f.field === 2 ? F(2, 0, 2 ** 32 + 4321) : f))],
    ['chain id 2^32 + 4321 (message chain id 2^32 + 4321)', dfields.map((f) => (f.field === 2 ? F(2, 0, 2 ** 32 + 4321) : f)), 2 ** 32 + 4321],
    ['iteration 2^32', dfields.map((f) => (f.field === 3 ? F(3, 0, 2 ** 32) : f))],
  ];
  for (const [what, list, msgId] of variants) {
    await g.setBobRecord(null);
    const r = await g.process(rebuilt(list));
    let after = '';
    if (r.ok) {
      const id = msgId === undefined ? c.chainId : msgId;
      const m = await peer.attempt('sk_message_new', {
        version: 3, distribution_id: D, chain_id: id, iteration: 0,
        ciphertext: encryptAt(c.ck, 0, Buffer.from('x')).toString('hex'), signing_private: c.kp.private,
      });
      after = m.ok ? `; then iteration 0 with chain id ${id}: ${show(await g.decrypt(m.body))}` : `; message with chain id ${id}: ${show(m)}`;
    }
    console.log(`    distribution ${what}: ${show(r)}${after}`);
  }
  // SenderKeyMessage fields, re-signed by us.
  await g.setBobRecord(null);
  await g.process(c.distribution);
  const good = await c.message(0, 'fields');
  const mf = await fields(peer, good, 'sender_key');
  const sign = async (protoHex, vb = '33') => {
    const msg = vb + protoHex;
    // XEdDSA over version ‖ protobuf with our key, through the peer.
    const sig = (await peer.call('xeddsa_sign', { private: c.kp.private, message: msg })).signature;
    return msg + sig;
  };
  const mfields = [F(1, 2, mf.f[1]), F(2, 0, mf.f[2]), F(3, 0, mf.f[3]), F(4, 2, mf.f[4])];
  const mvariants = [
    ['as made, re-signed', mfields],
    ['without field 1', mfields.filter((f) => f.field !== 1)],
    ['without field 2', mfields.filter((f) => f.field !== 2)],
    ['without field 3', mfields.filter((f) => f.field !== 3)],
    ['without field 4', mfields.filter((f) => f.field !== 4)],
    ['distribution id of another group', mfields.map((f) => (f.field === 1 ? F(1, 2, '00'.repeat(16)) : f))],
    ['unknown field 9 appended', [...mfields, F(9, 0, 1)]],
    ['fields in reverse order', [...mfields].reverse()],
  ];
  for (const [what, list] of mvariants) {
    const r0b = await g.bobRecord();
    const r = await g.decrypt(await sign(encodeFields(list).toString('hex')));
    const restored = r.ok ? '' : `; record unchanged: ${(await g.bobRecord()) === r0b}`;
    console.log(`    message ${what}: ${show(r)}${restored}`);
    await g.setBobRecord(null);
    await g.process(c.distribution);
  }
  for (const vb of ['23', '32', '34', '43', '44']) {
    const r = await g.decrypt(await sign(encodeFields(mfields).toString('hex'), vb));
    console.log(`    message re-signed with version byte 0x${vb}: ${show(r)}`);
    await g.setBobRecord(null);
    await g.process(c.distribution);
  }
  peer.close();
}

async function edges() {
  console.log('== edges: large iterations');
  const peer = startPeer('client');
  const g = await group(peer);
  const top = 2 ** 32 - 1;
  for (const start of [top - 2, top]) {
    const c = await craftedSender(peer, { chainId: 77, iteration: start });
    await g.setBobRecord(null);
    const p = await g.process(c.distribution);
    const res = [];
    for (let n = start; n <= Math.min(start + 1, top); n++) res.push(`${n}: ${show(await g.decrypt(await c.message(n)))}`);
    console.log(`  distribution at iteration ${start}: ${show(p)}; ${res.join('; ')}`);
  }
  peer.close();
}

const parts = { wire, receive, limits, window, states, tamper, edges };
(async () => {
  const which = process.argv[2];
  for (const [name, f] of Object.entries(parts)) if (!which || which === name) await f();
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

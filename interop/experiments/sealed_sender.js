'use strict';
// Sealed sender (v1 and multi-recipient v2) in libsignal-client 0.103.0, by observation.
//   node interop/experiments/sealed_sender.js [certs|usmc|v1|v2|sent|received|validate|errors|all]
// Each section prints what the peer does; docs/notes/sealed-sender.md records the results.
// The reference envelope code that these sections test lives in sealed_lab.js.

const L = require('./sealed_lab');
const { S, Party, certificates, hex, u8, fields, encode, field, withLog, captureLog, pubOf } = L;
const SSMRM = require('@signalapp/libsignal-client/dist/SealedSenderMultiRecipientMessage.js').default;

captureLog();

const ALICE = '9d0652a3-dcc3-4d11-975f-74d61598733f';
const BOB = '796abedb-ca4e-4f18-8803-1fde5b921f9f';
const CAROL = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const EXPIRES = 2_000_000_000_000;

const short = (v) => (typeof v === 'string' && v.length > 48 ? `${v.slice(0, 40)}… (${v.length / 2} B)` : v);
const showFields = (indent, b) => {
  for (const f of fields(b)) console.log(`${indent}field ${f.field} wire ${f.wire}: ${short(f.value)}`);
};
const outcome = (r) =>
  r.ok ? `ok${r.value !== undefined ? ` ${typeof r.value === 'string' ? r.value : JSON.stringify(r.value)}` : ''}` : `${r.error}${r.log.length ? `  | log: ${r.log.filter((l) => !/^Info (spqr|libsignal_protocol::session:)/.test(l)).join(' / ')}` : ''}`;

async function world() {
  const alice = new Party(ALICE, 1, 111);
  const bob = new Party(BOB, 2, 0x1234);
  await alice.connect(bob);
  const certs = certificates(alice, { expiration: EXPIRES });
  return { alice, bob, ...certs };
}

// Bob's full sealed-sender decryption (certificate validation + session decryption).
function bobDecrypts(w, bytes, { now = EXPIRES - 1, root = w.root.getPublicKey(), localUuid = BOB, localDevice = 2 } = {}) {
  return withLog(async () => {
    const r = await S.sealedSenderDecryptMessage(
      u8(bytes),
      root,
      now,
      null,
      localUuid,
      localDevice,
      w.bob.sessionStore,
      w.bob.identityStore,
      w.bob.prekeyStore,
      w.bob.signedStore,
      w.bob.kyberStore,
    );
    return `from ${r.senderUuid()}.${r.deviceId()}: ${Buffer.from(r.message()).toString()}`;
  });
}

const toUsmc = (w, bytes) =>
  withLog(async () => hex((await S.sealedSenderDecryptToUsmc(u8(bytes), w.bob.identityStore)).serialize()));

// ---------------------------------------------------------------------------------------

async function certs() {
  console.log('== certificates: layout and signatures');
  const root = S.PrivateKey.generate();
  const server = S.PrivateKey.generate();
  const sc = S.ServerCertificate.new(7, server.getPublicKey(), root);
  console.log(' ServerCertificate:');
  showFields('   ', sc.serialize());
  console.log('   certificate (field 1):');
  showFields('     ', sc.certificateData());
  console.log(`   signature verifies under the trust root over field 1: ${root.getPublicKey().verify(sc.certificateData(), sc.signature())}`);
  const sender = S.PrivateKey.generate();
  for (const e164 of ['+14155550100', null]) {
    const c = S.SenderCertificate.new(ALICE, e164, 3, sender.getPublicKey(), EXPIRES, sc, server);
    console.log(` SenderCertificate (e164 ${e164}):`);
    showFields('   ', c.serialize());
    console.log('   certificate (field 1):');
    showFields('     ', c.certificate());
    console.log(`   expiration field 3 as little-endian u64: ${Buffer.from(field(c.certificate(), 3), 'hex').readBigUInt64LE()}`);
    console.log(`   field 5 == ServerCertificate bytes: ${field(c.certificate(), 5) === hex(sc.serialize())}`);
    console.log(`   signature verifies under the server key over field 1: ${server.getPublicKey().verify(c.certificate(), c.signature())}`);
  }
  // Every signature is XEdDSA: two signatures over the same data differ (random nonce) and both verify.
  const again = S.ServerCertificate.new(7, server.getPublicKey(), root);
  console.log(` same server certificate made twice: signatures differ ${hex(again.signature()) !== hex(sc.signature())}, certificate bytes equal ${hex(again.certificateData()) === hex(sc.certificateData())}`);

  console.log('== certificates: what deserialize accepts (crafted)');
  const sigOf = (k, data) => hex(k.sign(u8(data)));
  const serverCert = (inner) => encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: sigOf(root, inner) }]);
  const senderCert = (inner, key = server) => encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: sigOf(key, inner) }]);
  const scInner = (list) => encode(list);
  const goodSc = serverCert(scInner([{ field: 1, wire: 0, value: 7 }, { field: 2, wire: 2, value: hex(server.getPublicKey().serialize()) }]));
  const base = () => [
    { field: 2, wire: 0, value: 3 },
    { field: 3, wire: 1, value: (() => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(EXPIRES)); return hex(b); })() },
    { field: 4, wire: 2, value: hex(sender.getPublicKey().serialize()) },
    { field: 5, wire: 2, value: hex(goodSc) },
    { field: 6, wire: 2, value: hex(Buffer.from(ALICE)) },
  ];
  const tryServer = async (name, bytes) => {
    const r = await withLog(async () => {
      const c = S.ServerCertificate.deserialize(u8(bytes));
      return `key id ${c.keyId()}`;
    });
    console.log(`  ServerCertificate ${name}: ${outcome(r)}`);
  };
  await tryServer('as made', goodSc);
  await tryServer('without key id', serverCert(scInner([{ field: 2, wire: 2, value: hex(server.getPublicKey().serialize()) }])));
  await tryServer('without key', serverCert(scInner([{ field: 1, wire: 0, value: 7 }])));
  await tryServer('key id 2^32', serverCert(scInner([{ field: 1, wire: 0, value: 2 ** 32 }, { field: 2, wire: 2, value: hex(server.getPublicKey().serialize()) }])));
  await tryServer('without signature', encode([{ field: 1, wire: 2, value: field(goodSc, 1) }]));
  await tryServer('bad signature (accepted on parse?)', encode([{ field: 1, wire: 2, value: field(goodSc, 1) }, { field: 2, wire: 2, value: '00'.repeat(64) }]));
  await tryServer('unknown field 9 in certificate', serverCert(scInner([{ field: 1, wire: 0, value: 7 }, { field: 2, wire: 2, value: hex(server.getPublicKey().serialize()) }, { field: 9, wire: 0, value: 1 }])));

  const trySender = async (name, list, { key = server, raw = null } = {}) => {
    const bytes = raw || senderCert(encode(list), key);
    const r = await withLog(async () => {
      const c = S.SenderCertificate.deserialize(u8(bytes));
      const v = c.validate(root.getPublicKey(), EXPIRES - 1);
      return `uuid ${c.senderUuid()} e164 ${c.senderE164()} device ${c.senderDeviceId()} expiration ${c.expiration()} validate ${v}`;
    });
    console.log(`  SenderCertificate ${name}: ${outcome(r)}`);
  };
  await trySender('as made', base());
  const without = (n) => base().filter((f) => f.field !== n);
  for (const n of [2, 3, 4, 5, 6]) await trySender(`without field ${n}`, without(n));
  await trySender('uuid not a uuid ("alice")', [...without(6), { field: 6, wire: 2, value: hex(Buffer.from('alice')) }]);
  await trySender('uuid as PNI string', [...without(6), { field: 6, wire: 2, value: hex(Buffer.from(`PNI:${ALICE}`)) }]);
  await trySender('uuid as 16 bytes in field 7 (no field 6)', [...without(6), { field: 7, wire: 2, value: ALICE.replace(/-/g, '') }]);
  await trySender('uuid as 17-byte service id in field 7 (no field 6)', [...without(6), { field: 7, wire: 2, value: '00' + ALICE.replace(/-/g, '') }]);
  await trySender('uuid in field 6 and 16 bytes in field 7', [...base(), { field: 7, wire: 2, value: ALICE.replace(/-/g, '') }]);
  await trySender('device 0', [...without(2), { field: 2, wire: 0, value: 0 }]);
  await trySender('device 128', [...without(2), { field: 2, wire: 0, value: 128 }]);
  await trySender('device 2^32', [...without(2), { field: 2, wire: 0, value: 2 ** 32 }]);
  await trySender('expiration as varint', [...without(3), { field: 3, wire: 0, value: EXPIRES }]);
  await trySender('server certificate as key id varint in field 8 (no field 5)', [...without(5), { field: 8, wire: 0, value: 7 }]);
  for (const n of [7, 8, 9, 10]) await trySender(`server certificate reference varint in field ${n}`, [...without(5), { field: n, wire: 0, value: 1 }]);
  await trySender('identity key 32 bytes', [...without(4), { field: 4, wire: 2, value: hex(sender.getPublicKey().serialize()).slice(2) }]);
  await trySender('signed by the trust root instead of the server key', base(), { key: root });
  await trySender('unknown field 15', [...base(), { field: 15, wire: 0, value: 1 }]);
  await trySender('e164 "not a number"', [...base(), { field: 1, wire: 2, value: hex(Buffer.from('not a number')) }]);
  await trySender('e164 invalid UTF-8', [...base(), { field: 1, wire: 2, value: 'ff00' }]);
  await trySender('uuid invalid UTF-8', [...without(6), { field: 6, wire: 2, value: 'ff00' }]);
  await trySender('uuid empty string', [...without(6), { field: 6, wire: 2, value: '' }]);
  await trySender('device 127', [...without(2), { field: 2, wire: 0, value: 127 }]);
  {
    const inner = encode(base());
    await trySender('outer signature 63 bytes', null, { raw: encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: sigOf(server, inner).slice(2) }]) });
    await trySender('outer signature 65 bytes', null, { raw: encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: sigOf(server, inner) + '00' }]) });
    await trySender('outer signature missing', null, { raw: encode([{ field: 1, wire: 2, value: hex(inner) }]) });
    await trySender('outer certificate missing', null, { raw: encode([{ field: 2, wire: 2, value: sigOf(server, inner) }]) });
    await trySender('outer unknown field 3', null, { raw: encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: sigOf(server, inner) }, { field: 3, wire: 0, value: 1 }]) });
    const badSc = encode([{ field: 1, wire: 2, value: field(goodSc, 1) }, { field: 2, wire: 2, value: hex(Buffer.from(field(goodSc, 2), 'hex').subarray(0, 63)) }]);
    await trySender('server certificate signature 63 bytes', [...without(5), { field: 5, wire: 2, value: hex(badSc) }]);
    await trySender('server certificate garbage', [...without(5), { field: 5, wire: 2, value: '0102' }]);
  }
  await trySender('fields in reverse order', base().reverse());
}

async function usmc() {
  console.log('== UnidentifiedSenderMessageContent');
  const w = await world();
  const m1 = await w.alice.encrypt(w.bob, 'hello');
  const show = (name, u) => {
    console.log(` ${name}: msgType() ${u.msgType()} contentHint() ${u.contentHint()} groupId() ${hex(u.groupId())}`);
    showFields('   ', u.serialize());
  };
  show('prekey message, hint 0, no group', S.UnidentifiedSenderMessageContent.new(m1, w.senderCert, 0, null));
  show('prekey message, hint 1, group 0102030405', S.UnidentifiedSenderMessageContent.new(m1, w.senderCert, 1, u8('0102030405')));
  show('prekey message, hint 2, empty group', S.UnidentifiedSenderMessageContent.new(m1, w.senderCert, 2, u8('')));
  await S.signalDecryptPreKey(S.PreKeySignalMessage.deserialize(m1.serialize()), w.alice.address, w.bob.address, w.bob.sessionStore, w.bob.identityStore, w.bob.prekeyStore, w.bob.signedStore, w.bob.kyberStore);
  const m2 = await w.bob.encrypt(w.alice, 'hi');
  show('whisper message', S.UnidentifiedSenderMessageContent.new(m2, w.senderCert, 0, null));
  await S.SenderKeyDistributionMessage.create(w.alice.address, '11111111-2222-3333-4444-555555555555', w.alice.senderKeyStore);
  const g = await S.groupEncrypt(w.alice.address, '11111111-2222-3333-4444-555555555555', w.alice.senderKeyStore, u8(Buffer.from('group')));
  show('sender-key message', S.UnidentifiedSenderMessageContent.new(g, w.senderCert, 0, u8('aa')));
  const pc = S.PlaintextContent.from(S.DecryptionErrorMessage.forOriginal(u8(m2.serialize()), 2, 1234, 1));
  show('plaintext content', S.UnidentifiedSenderMessageContent.new(pc.asCiphertextMessage(), w.senderCert, 0, null));

  console.log(' deserialize of crafted contents:');
  const good = Buffer.from(S.UnidentifiedSenderMessageContent.new(m2, w.senderCert, 1, u8('0102')).serialize());
  const list = fields(good);
  const tryU = async (name, l) => {
    const r = await withLog(async () => {
      const u = S.UnidentifiedSenderMessageContent.deserialize(u8(encode(l)));
      return `type ${u.msgType()} hint ${u.contentHint()} group ${hex(u.groupId())} contents ${u.contents().length} B`;
    });
    console.log(`  ${name}: ${outcome(r)}`);
  };
  const set = (n, v) => list.map((f) => (f.field === n ? { ...f, value: v } : f));
  const drop = (n) => list.filter((f) => f.field !== n);
  await tryU('as made', list);
  for (const t of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) await tryU(`type ${t}`, set(1, t));
  for (const n of [1, 2, 3, 4, 5]) await tryU(`without field ${n}`, drop(n));
  await tryU('hint 3', set(4, 3));
  await tryU('hint 2^31', set(4, 2 ** 31));
  await tryU('explicit hint 0', set(4, 0));
  await tryU('empty contents', set(3, ''));
  await tryU('sender certificate garbage', set(2, '0102'));
  await tryU('unknown field 9', [...list, { field: 9, wire: 0, value: 1 }]);
  await tryU('empty group id (field 5 present, 0 bytes)', set(5, ''));
  await tryU('hint 2^32 + 1', set(4, 2 ** 32 + 1));
  await tryU('type as 2^32 + 2', set(1, 2 ** 32 + 2));
  await tryU('field 1 twice (2 then 7)', [...list, { field: 1, wire: 0, value: 7 }]);
}

async function v1() {
  console.log('== v1: the peer encrypts, the reference decrypts (and the other way)');
  const w = await world();
  const m1 = await w.alice.encrypt(w.bob, 'hello v1');
  const content = S.UnidentifiedSenderMessageContent.new(m1, w.senderCert, 0, null);
  const env = Buffer.from(await S.sealedSenderEncrypt(content, w.bob.address, w.alice.identityStore));
  console.log(` peer's envelope: ${env.length} B for a ${content.serialize().length} B content; version byte 0x${env[0].toString(16)}`);
  showFields('   ', env.subarray(1));
  const d = L.v1Decrypt({ env, recipientPriv: w.bob.identity.privateKey });
  console.log(` reference decrypts the peer's envelope: sender key matches ${d.senderPub.equals(pubOf(w.alice.identity.privateKey))}, content matches ${d.usmc.equals(Buffer.from(content.serialize()))}`);
  const mine = L.v1Encrypt({ usmc: Buffer.from(content.serialize()), senderPriv: w.alice.identity.privateKey, recipientPub: pubOf(w.bob.identity.privateKey), ephPriv: S.PrivateKey.generate() });
  console.log(` peer decrypts the reference's envelope to the content: ${outcome(await toUsmc(w, mine)).startsWith('ok ' + hex(content.serialize()))}`);
  console.log(` peer's full decryption of the reference's envelope: ${outcome(await bobDecrypts(w, mine))}`);
}

async function v2() {
  console.log('== v2: layouts, both directions');
  const alice = new Party(ALICE, 1, 111);
  const bob = new Party(BOB, 2, 0x1234);
  const carol1 = new Party(CAROL, 1, 0x2001);
  const carol3 = new Party(CAROL, 3, 0x2003, hex(carol1.identity.privateKey.serialize()));
  for (const r of [bob, carol1, carol3]) await alice.connect(r);
  const { root, senderCert } = certificates(alice, { expiration: EXPIRES });
  const bodies = {};
  for (const r of [bob, carol1, carol3]) bodies[`${r.name}.${r.deviceId}`] = await alice.encrypt(r, `hello ${r.deviceId}`);
  // one content for all: a sender-key message is what v2 normally carries; any content works
  await S.SenderKeyDistributionMessage.create(alice.address, '11111111-2222-3333-4444-555555555555', alice.senderKeyStore);
  const g = await S.groupEncrypt(alice.address, '11111111-2222-3333-4444-555555555555', alice.senderKeyStore, u8(Buffer.from('group')));
  const content = S.UnidentifiedSenderMessageContent.new(g, senderCert, 2, u8('0102'));
  const usmcBytes = Buffer.from(content.serialize());
  const excluded = [S.ServiceId.parseFromServiceIdString('dddddddd-0000-4000-8000-000000000001')];
  const sent = Buffer.from(
    await S.sealedSenderMultiRecipientEncrypt({ content, recipients: [bob.address, carol1.address, carol3.address], excludedRecipients: excluded, identityStore: alice.identityStore, sessionStore: alice.sessionStore }),
  );
  console.log(` sent message: ${sent.length} B for a ${usmcBytes.length} B content`);
  console.log(`   ${hex(sent.subarray(0, 160))}…`);
  const p = L.v2Parse(sent);
  for (const r of p.recipients) console.log(`   recipient ${hex(r.serviceId)} devices ${JSON.stringify(r.devices)} keys ${hex(r.keys).slice(0, 16)}…`);
  for (const x of p.excluded) console.log(`   excluded ${hex(x)}`);
  console.log(`   shared: ${p.shared.length} B = E (32) + content (${usmcBytes.length}) + 16`);
  const peerParse = new SSMRM(u8(sent));
  console.log(`   peer's parse: ${JSON.stringify(peerParse._recipientMap)} excluded ${JSON.stringify(peerParse._excludedRecipients)} shared at ${peerParse._offsetOfSharedData}`);
  for (const r of [bob, carol1]) {
    const sid = S.ServiceId.parseFromServiceIdString(r.name).getServiceIdFixedWidthBinary();
    const peerCut = Buffer.from(peerParse.messageForRecipient(peerParse.recipientsByServiceIdString()[r.name]));
    const myCut = L.v2Cut(sent, sid);
    console.log(`   cut for ${r.name}: peer ${peerCut.length} B, version 0x${peerCut[0].toString(16)}; reference cut identical: ${peerCut.equals(myCut)}`);
    const d = L.v2Decrypt({ rcv: peerCut, recipientPriv: r.identity.privateKey });
    console.log(`     reference decrypts it: content matches ${d.usmc.equals(usmcBytes)}, sender tag matches alice ${d.checkSender(pubOf(alice.identity.privateKey))}, matches another key ${d.checkSender(pubOf(bob.identity.privateKey))}`);
  }
  // The other way: the reference builds a sent message, the peer parses and cuts it, Bob decrypts.
  const M = require('crypto').randomBytes(32);
  const recips = [
    { serviceId: S.ServiceId.parseFromServiceIdString(BOB).getServiceIdFixedWidthBinary(), devices: [{ deviceId: 2, registrationId: 0x1234 }], identity: pubOf(bob.identity.privateKey) },
    { serviceId: S.ServiceId.parseFromServiceIdString(CAROL).getServiceIdFixedWidthBinary(), devices: [{ deviceId: 1, registrationId: 0x2001 }, { deviceId: 3, registrationId: 0x2003 }], identity: pubOf(carol1.identity.privateKey) },
  ];
  const mine = L.v2Encrypt({ usmc: usmcBytes, senderPriv: alice.identity.privateKey, recipients: recips, excluded: excluded.map((e) => e.getServiceIdFixedWidthBinary()), M });
  const mp = new SSMRM(u8(mine));
  console.log(` reference sent message (${mine.length} B, same length as the peer's: ${mine.length === sent.length}); peer parses: ${JSON.stringify(mp._recipientMap)} excluded ${JSON.stringify(mp._excludedRecipients)}`);
  const w = { bob, root };
  const cutForBob = Buffer.from(mp.messageForRecipient(mp.recipientsByServiceIdString()[BOB]));
  console.log(`   peer cuts it for bob, peer decrypts to the content: ${outcome(await toUsmc(w, cutForBob)) === 'ok ' + hex(usmcBytes)}`);
  const w3 = { bob: carol3, root };
  const cutForCarol = Buffer.from(mp.messageForRecipient(mp.recipientsByServiceIdString()[CAROL]));
  console.log(`   peer cuts it for carol, carol.3 decrypts to the content: ${outcome(await toUsmc(w3, cutForCarol)) === 'ok ' + hex(usmcBytes)}`);
  // Carol's full decryption: validates the certificate and opens the sender-key message
  // (she has no sender key for alice, so the session/group layer fails after validation)
  console.log(`   carol.3 full decryption: ${outcome(await bobDecrypts(w3, cutForCarol, { localUuid: CAROL, localDevice: 3 }))}`);
}


async function validate() {
  console.log('== SenderCertificate.validate: expiry, trust root, revoked and referenced server certificates');
  const root = S.PrivateKey.generate();
  const server = S.PrivateKey.generate();
  const sender = S.PrivateKey.generate();
  const make = (keyId, exp = EXPIRES) => {
    const sc = S.ServerCertificate.new(keyId, server.getPublicKey(), root);
    return S.SenderCertificate.new(ALICE, null, 1, sender.getPublicKey(), exp, sc, server);
  };
  const c = make(1);
  for (const t of [0, EXPIRES - 1, EXPIRES, EXPIRES + 1]) console.log(`  now ${t} vs expiration ${EXPIRES}: ${c.validate(root.getPublicKey(), t)}`);
  console.log(`  expiration 0, now 0: ${make(1, 0).validate(root.getPublicKey(), 0)}`);
  console.log(`  expiration 2^63 (now 2^53-1): ${make(1, Number.MAX_SAFE_INTEGER).validate(root.getPublicKey(), Number.MAX_SAFE_INTEGER)}`);
  console.log(`  wrong trust root: ${c.validate(server.getPublicKey(), 1)}`);
  console.log(`  validateWithTrustRoots([wrong, right]): ${c.validateWithTrustRoots([server.getPublicKey(), root.getPublicKey()], 1)}, ([wrong]): ${c.validateWithTrustRoots([server.getPublicKey()], 1)}`);
  // Revoked server key ids: every id in a range, the edges of each power of two, a few patterns.
  const ids = [];
  const scan = Number(process.env.SCAN || 5000);
  for (let i = 0; i < scan; i++) ids.push(i);
  for (let b = 16; b <= 32; b++) ids.push(2 ** b - 1, 2 ** b - 2);
  for (const x of [0x7fffffff, 0xdeadbeef, 0xdeadc357, 0xcafebabe, 0x12345678, 0xffff0000]) ids.push(x);
  const refused = ids.filter((id) => !make(id).validate(root.getPublicKey(), 1));
  console.log(`  server key ids refused although correctly signed (scanned 0..${scan - 1} and ${ids.length - scan} others): ${refused.map((x) => '0x' + x.toString(16)).join(' ') || 'none'}`);
  // A sender certificate may name its server certificate by id (field 8) instead of carrying it (field 5).
  const exp = Buffer.alloc(8);
  exp.writeBigUInt64LE(BigInt(EXPIRES));
  const byRef = (id) => {
    const inner = encode([
      { field: 2, wire: 0, value: 1 },
      { field: 3, wire: 1, value: hex(exp) },
      { field: 4, wire: 2, value: hex(sender.getPublicKey().serialize()) },
      { field: 6, wire: 2, value: hex(Buffer.from(ALICE)) },
      { field: 8, wire: 0, value: id },
    ]);
    return S.SenderCertificate.deserialize(u8(encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: hex(server.sign(u8(inner))) }])));
  };
  const known = [];
  for (let id = 0; id < 1000; id++) {
    const r = await withLog(async () => byRef(id).serverCertificate());
    if (r.ok) known.push(id);
  }
  console.log(`  server certificates the peer knows by reference (field 8, ids 0..999): ${known.join(', ')}`);
  for (const id of known) {
    const sc = byRef(id).serverCertificate();
    console.log(`    id ${id}: key id ${sc.keyId()} key ${hex(sc.key().serialize())}`);
    console.log(`      bytes ${hex(sc.serialize())}`);
  }
  console.log(`  unknown reference, serverCertificate(): ${outcome(await withLog(async () => byRef(1).serverCertificate()))}`);
  console.log(`  unknown reference, validate: ${outcome(await withLog(async () => byRef(1).validate(root.getPublicKey(), 1)))}`);
  console.log(`  known reference 2, validate under our root: ${outcome(await withLog(async () => byRef(2).validate(root.getPublicKey(), 1)))}`);
  console.log(`  reference 2^32 + 2: ${outcome(await withLog(async () => byRef(2 ** 32 + 2).serverCertificate().keyId()))}`);
  // Both field 5 and field 8
  const both = (() => {
    const sc = S.ServerCertificate.new(1, server.getPublicKey(), root);
    const inner = encode([
      { field: 2, wire: 0, value: 1 },
      { field: 3, wire: 1, value: hex(exp) },
      { field: 4, wire: 2, value: hex(sender.getPublicKey().serialize()) },
      { field: 5, wire: 2, value: hex(sc.serialize()) },
      { field: 6, wire: 2, value: hex(Buffer.from(ALICE)) },
      { field: 8, wire: 0, value: 2 },
    ]);
    return encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: hex(server.sign(u8(inner))) }]);
  })();
  console.log(`  fields 5 (our certificate) and 8 (reference 2) both present: ${outcome(await withLog(async () => { const x = S.SenderCertificate.deserialize(u8(both)); return `key id ${x.serverCertificate().keyId()} validate ${x.validate(root.getPublicKey(), 1)}`; }))}`);
  // uuid: field 6 (string) vs field 7 (16 raw bytes) disagreeing
  const two = (() => {
    const sc = S.ServerCertificate.new(1, server.getPublicKey(), root);
    const inner = encode([
      { field: 2, wire: 0, value: 1 },
      { field: 3, wire: 1, value: hex(exp) },
      { field: 4, wire: 2, value: hex(sender.getPublicKey().serialize()) },
      { field: 5, wire: 2, value: hex(sc.serialize()) },
      { field: 6, wire: 2, value: hex(Buffer.from(ALICE)) },
      { field: 7, wire: 2, value: BOB.replace(/-/g, '') },
    ]);
    return encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: hex(server.sign(u8(inner))) }]);
  })();
  console.log(`  field 6 = alice (string), field 7 = bob (16 bytes): ${outcome(await withLog(async () => S.SenderCertificate.deserialize(u8(two)).senderUuid()))}`);
  const sevenSix = (() => {
    const sc = S.ServerCertificate.new(1, server.getPublicKey(), root);
    const inner = encode([
      { field: 2, wire: 0, value: 1 },
      { field: 3, wire: 1, value: hex(exp) },
      { field: 4, wire: 2, value: hex(sender.getPublicKey().serialize()) },
      { field: 5, wire: 2, value: hex(sc.serialize()) },
      { field: 7, wire: 2, value: BOB.replace(/-/g, '') },
      { field: 6, wire: 2, value: hex(Buffer.from(ALICE)) },
    ]);
    return encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: hex(server.sign(u8(inner))) }]);
  })();
  console.log(`  same, field 7 written before field 6: ${outcome(await withLog(async () => S.SenderCertificate.deserialize(u8(sevenSix)).senderUuid()))}`);
  const eightFive = (() => {
    const sc = S.ServerCertificate.new(1, server.getPublicKey(), root);
    const inner = encode([
      { field: 2, wire: 0, value: 1 },
      { field: 3, wire: 1, value: hex(exp) },
      { field: 4, wire: 2, value: hex(sender.getPublicKey().serialize()) },
      { field: 8, wire: 0, value: 2 },
      { field: 5, wire: 2, value: hex(sc.serialize()) },
      { field: 6, wire: 2, value: hex(Buffer.from(ALICE)) },
    ]);
    return encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: hex(server.sign(u8(inner))) }]);
  })();
  console.log(`  fields 8 (reference 2) then 5 (our certificate): ${outcome(await withLog(async () => { const x = S.SenderCertificate.deserialize(u8(eightFive)); return `key id ${x.serverCertificate().keyId()} validate ${x.validate(root.getPublicKey(), 1)}`; }))}`);
}

// Bytes with one bit flipped at `i`.
const flip = (b, i, bit = 1) => {
  const o = Buffer.from(b);
  o[i] ^= bit;
  return o;
};

async function errors() {
  console.log('== errors from sealedSenderDecryptMessage (Bob, v1 unless said)');
  const w = await world();
  const m1 = await w.alice.encrypt(w.bob, 'first');
  const content = (cert = w.senderCert, msg = m1) => Buffer.from(S.UnidentifiedSenderMessageContent.new(msg, cert, 0, null).serialize());
  const seal = (usmcBytes, senderPriv = w.alice.identity.privateKey) =>
    L.v1Encrypt({ usmc: usmcBytes, senderPriv, recipientPub: pubOf(w.bob.identity.privateKey), ephPriv: S.PrivateKey.generate() });
  const good = seal(content());
  const say = async (name, bytes, opts) => console.log(`  ${name}: ${outcome(await bobDecrypts(w, bytes, opts))}${process.env.TRACE ? ` [prekeys ${w.bob.prekeys.size} sessions ${w.bob.sessions.size}]` : ""}`);
  await say('expired (now = expiration + 1)', good, { now: EXPIRES + 1 });
  await say('wrong trust root', good, { root: S.PrivateKey.generate().getPublicKey() });
  const revoked = certificates(w.alice, { keyId: 0xdeadc357, root: w.root, server: w.server, expiration: EXPIRES });
  await say('server key id 0xDEADC357', seal(content(revoked.senderCert)));
  const mallory = S.PrivateKey.generate();
  const otherKey = S.SenderCertificate.new(ALICE, null, 1, mallory.getPublicKey(), EXPIRES, w.serverCert, w.server);
  await say("certificate's identity key is not the envelope's sender key", seal(content(otherKey)));
  const selfCert = S.SenderCertificate.new(BOB, null, 2, w.bob.publicKey(), EXPIRES, w.serverCert, w.server);
  await say('sender certificate names the recipient itself (same uuid and device)', seal(content(selfCert), w.bob.identity.privateKey));
  const selfOtherDevice = S.SenderCertificate.new(BOB, null, 3, w.bob.publicKey(), EXPIRES, w.serverCert, w.server);
  await say('… same uuid, other device', seal(content(selfOtherDevice), w.bob.identity.privateKey));
  await say('sealed to another recipient key', L.v1Encrypt({ usmc: content(), senderPriv: w.alice.identity.privateKey, recipientPub: pubOf(S.PrivateKey.generate()), ephPriv: S.PrivateKey.generate() }));
  for (const v of [0x00, 0x01, 0x10, 0x12, 0x1f, 0x21, 0x22, 0x23, 0x31, 0x41]) {
    const r = await toUsmc(w, Buffer.concat([Buffer.from([v]), good.subarray(1)]));
    console.log(`  version byte 0x${v.toString(16).padStart(2, '0')} (envelope only): ${r.ok ? (r.value === hex(content()) ? 'ok (the content)' : 'ok (other bytes!)') : outcome(r)}`);
  }
  const f = fields(good.subarray(1));
  const lens = f.map((x) => x.value.length / 2);
  // byte offsets of each field's value inside `good`
  let pos = 1;
  const at = [];
  for (const l of lens) {
    pos += 2 + (l > 127 ? 1 : 0) + (l > 16383 ? 1 : 0);
    at.push(pos);
    pos += l;
  }
  await say('E (field 1): last byte flipped', flip(good, at[0] + 32));
  await say('E: first byte (0x05) changed', flip(good, at[0], 0x02));
  await say('encrypted static: first byte flipped', flip(good, at[1]));
  await say('encrypted static: MAC (last byte) flipped', flip(good, at[1] + lens[1] - 1));
  await say('encrypted message: first byte flipped', flip(good, at[2]));
  await say('encrypted message: MAC (last byte) flipped', flip(good, at[2] + lens[2] - 1));
  await say('truncated by one byte', good.subarray(0, good.length - 1));
  await say('only the version byte', good.subarray(0, 1));
  await say('empty', Buffer.alloc(0));
  await say('one byte appended', Buffer.concat([good, Buffer.from([0])]));
  await say('field 3 without its MAC (10 bytes shorter)', Buffer.concat([good.subarray(0, 1), encode([f[0], f[1], { ...f[2], value: f[2].value.slice(0, -20) }])]));
  await say('unknown field 4 appended to the protobuf (the first refusal-free decryption)', Buffer.concat([good, encode([{ field: 4, wire: 0, value: 1 }])]));
  await say('untouched bytes afterwards (a replay)', good);

  console.log('== which identity the peer checks: certificate key vs envelope key vs inner message');
  {
    const w2 = await world();
    const mallory2 = S.PrivateKey.generate();
    const cert = S.SenderCertificate.new(ALICE, null, 1, mallory2.getPublicKey(), EXPIRES, w2.serverCert, w2.server);
    const pre = await w2.alice.encrypt(w2.bob, 'alice prekey message');
    const sealM = (msg) => L.v1Encrypt({ usmc: Buffer.from(S.UnidentifiedSenderMessageContent.new(msg, cert, 0, null).serialize()), senderPriv: mallory2, recipientPub: pubOf(w2.bob.identity.privateKey), ephPriv: S.PrivateKey.generate() });
    console.log(`  alice's prekey message, certificate (alice's uuid, mallory's key), sealed with mallory's key: ${outcome(await bobDecrypts(w2, sealM(pre)))}`);
    const wh = await w2.alice.encrypt(w2.bob, 'alice whisper message');
    console.log(`  … then a prekey message again on the same session (not yet acknowledged): ${outcome(await bobDecrypts(w2, sealM(wh)))}`);
    const reply = await w2.bob.encrypt(w2.alice, 'ack');
    await S.signalDecrypt(S.SignalMessage.deserialize(reply.serialize()), w2.bob.address, w2.alice.address, w2.alice.sessionStore, w2.alice.identityStore);
    const wh2 = await w2.alice.encrypt(w2.bob, 'alice whisper after ack');
    console.log(`  alice's whisper message (type ${wh2.type()}), same certificate and envelope: ${outcome(await bobDecrypts(w2, sealM(wh2)))}`);
    const carolCert = S.SenderCertificate.new(CAROL, null, 1, w2.alice.publicKey(), EXPIRES, w2.serverCert, w2.server);
    const wh3 = await w2.alice.encrypt(w2.bob, 'alice whisper under carol');
    const sealC = L.v1Encrypt({ usmc: Buffer.from(S.UnidentifiedSenderMessageContent.new(wh3, carolCert, 0, null).serialize()), senderPriv: w2.alice.identity.privateKey, recipientPub: pubOf(w2.bob.identity.privateKey), ephPriv: S.PrivateKey.generate() });
    console.log(`  alice's whisper message under a certificate naming carol (alice's key): ${outcome(await bobDecrypts(w2, sealC))}`);
    await S.SenderKeyDistributionMessage.create(w2.alice.address, '11111111-2222-3333-4444-555555555555', w2.alice.senderKeyStore);
    const g = await S.groupEncrypt(w2.alice.address, '11111111-2222-3333-4444-555555555555', w2.alice.senderKeyStore, u8(Buffer.from('g')));
    const sealG = L.v1Encrypt({ usmc: Buffer.from(S.UnidentifiedSenderMessageContent.new(g, w2.senderCert, 0, null).serialize()), senderPriv: w2.alice.identity.privateKey, recipientPub: pubOf(w2.bob.identity.privateKey), ephPriv: S.PrivateKey.generate() });
    console.log(`  a sender-key message through the full decryption: ${outcome(await bobDecrypts(w2, sealG))}`);
    const pc = S.PlaintextContent.from(S.DecryptionErrorMessage.forOriginal(u8(wh3.serialize()), 2, 1, 1));
    const sealP = L.v1Encrypt({ usmc: Buffer.from(S.UnidentifiedSenderMessageContent.new(pc.asCiphertextMessage(), w2.senderCert, 0, null).serialize()), senderPriv: w2.alice.identity.privateKey, recipientPub: pubOf(w2.bob.identity.privateKey), ephPriv: S.PrivateKey.generate() });
    console.log(`  a plaintext content through the full decryption: ${outcome(await bobDecrypts(w2, sealP))}`);
  }

  console.log('== errors from sealedSenderDecryptToUsmc (envelope only), v2 received messages');
  const carol = new Party(CAROL, 1, 0x2001);
  await w.alice.connect(carol);
  const usmcBytes = content();
  const M = require('crypto').randomBytes(32);
  const recips = [w.bob, carol].map((r) => ({
    serviceId: S.ServiceId.parseFromServiceIdString(r.name).getServiceIdFixedWidthBinary(),
    devices: [{ deviceId: r.deviceId, registrationId: r.registrationId }],
    identity: pubOf(r.identity.privateKey),
  }));
  const sent = L.v2Encrypt({ usmc: usmcBytes, senderPriv: w.alice.identity.privateKey, recipients: recips, M });
  const forBob = L.v2Cut(sent, recips[0].serviceId);
  const forCarol = L.v2Cut(sent, recips[1].serviceId);
  const env = async (name, bytes) => {
    const r = await toUsmc(w, bytes);
    console.log(`  ${name}: ${r.ok ? (r.value === hex(usmcBytes) ? 'ok (the content)' : 'ok (other bytes!)') : outcome(r)}`);
  };
  await env('as cut', forBob);
  await env("Carol's copy given to Bob", forCarol);
  await env('the sent message (0x23) itself', sent);
  for (const v of [0x20, 0x21, 0x23, 0x24, 0x2f, 0x32]) await env(`version byte 0x${v.toString(16)}`, Buffer.concat([Buffer.from([v]), forBob.subarray(1)]));
  await env('c flipped', flip(forBob, 1));
  await env('at flipped', flip(forBob, 33));
  await env('E flipped', flip(forBob, 49));
  await env('ciphertext flipped', flip(forBob, 81));
  await env('tag flipped', flip(forBob, forBob.length - 1));
  await env('truncated by one byte', forBob.subarray(0, forBob.length - 1));
  await env('truncated to 81 bytes (no ciphertext)', forBob.subarray(0, 81));
  await env('truncated to 97 bytes (tag only)', forBob.subarray(0, 97));
  await env('one byte appended', Buffer.concat([forBob, Buffer.from([0])]));
  // at computed for another sender key: sealed with Mallory's key, certificate of Alice
  const malloryAt = L.v2Encrypt({ usmc: usmcBytes, senderPriv: mallory, recipients: recips, M });
  const mb = L.v2Cut(malloryAt, recips[0].serviceId);
  await env('sender tag made with another key (certificate says alice)', mb);
  console.log(`  … full decryption of that: ${outcome(await bobDecrypts(w, mb))}`);
  console.log(`  v2, full decryption as cut (inner prekey message already used above): ${outcome(await bobDecrypts(w, forBob))}`);
  const m2 = await w.alice.encrypt(w.bob, 'second');
  const fresh = L.v2Cut(L.v2Encrypt({ usmc: content(w.senderCert, m2), senderPriv: w.alice.identity.privateKey, recipients: recips, M }), recips[0].serviceId);
  console.log(`  v2, full decryption of a fresh message: ${outcome(await bobDecrypts(w, fresh))}`);
  console.log(`  v2, full decryption with an expired certificate: ${outcome(await bobDecrypts(w, fresh, { now: EXPIRES + 1 }))}`);
}

async function sent() {
  console.log('== v2 sent message: what the peer\'s parser (SealedSenderMultiRecipientMessage) accepts');
  const usmc = Buffer.from('0801', 'hex'); // any bytes: the parser does not open the shared part
  const senderPriv = S.PrivateKey.generate();
  const rid = (s) => S.ServiceId.parseFromServiceIdString(s).getServiceIdFixedWidthBinary();
  const bobKey = pubOf(S.PrivateKey.generate());
  const one = L.v2Encrypt({ usmc, senderPriv, recipients: [{ serviceId: rid(BOB), devices: [{ deviceId: 2, registrationId: 0x1234 }], identity: bobKey }], M: Buffer.alloc(32, 7) });
  const parse = async (name, bytes) => {
    const r = await withLog(async () => {
      const p = new SSMRM(u8(bytes));
      const rec = p.recipientsByServiceIdString();
      const cuts = Object.entries(rec).map(([k, v]) => `${k.slice(0, 12)}…:${Buffer.from(p.messageForRecipient(v)).length}B`);
      return `recipients ${JSON.stringify(p._recipientMap)} excluded ${JSON.stringify(p._excludedRecipients)} shared@${p._offsetOfSharedData} cuts ${cuts.join(' ')}`;
    });
    console.log(`  ${name}: ${outcome(r)}`);
  };
  const head = one.subarray(0, 22); // 23 01 sid(17) dev reg(2)
  const keys = one.subarray(22, 70);
  const shared = one.subarray(70);
  const cat = (...xs) => Buffer.concat(xs.map((x) => (typeof x === 'string' ? Buffer.from(x, 'hex') : Buffer.isBuffer(x) ? x : Buffer.from(x))));
  await parse('as made', one);
  await parse('version 0x22, entries with a 16-byte uuid (no kind byte)', cat('2201', one.subarray(3, 70), shared));
  for (const v of [0x22, 0x21, 0x24, 0x2f, 0x33, 0x13]) await parse(`version 0x${v.toString(16)}`, cat([v], one.subarray(1)));
  await parse('count 0, no entries', cat('2300', shared));
  await parse('count 2, one entry', cat('2302', one.subarray(2)));
  await parse('count as a 2-byte varint (0x81 0x00 = 1)', cat('238100', one.subarray(2)));
  await parse('device id 0 (excluded) followed by keys', cat(head.subarray(0, 19), '00', keys, shared));
  await parse('device 0x7f', cat(head.subarray(0, 19), '7f', head.subarray(20), keys, shared));
  await parse('device 0x80', cat(head.subarray(0, 19), '80', head.subarray(20), keys, shared));
  await parse('device 0xff', cat(head.subarray(0, 19), 'ff', head.subarray(20), keys, shared));
  await parse('registration id 0x4000', cat(head.subarray(0, 20), '4000', keys, shared));
  await parse('registration id 0x7fff', cat(head.subarray(0, 20), '7fff', keys, shared));
  await parse('service id kind 2', cat('2301', '02', head.subarray(3), keys, shared));
  await parse('service id kind 0xff', cat('2301', 'ff', head.subarray(3), keys, shared));
  await parse('the same recipient twice', cat('2302', one.subarray(2, 70), one.subarray(2, 70), shared));
  await parse('the same recipient as recipient and excluded', cat('2302', one.subarray(2, 70), one.subarray(2, 19), '00', shared));
  await parse('excluded twice', cat('2302', one.subarray(2, 19), '00', one.subarray(2, 19), '00', shared));
  await parse('two devices, same device id twice', cat('2301', one.subarray(2, 19), '02', '9234', '02', '1234', keys, shared));
  await parse('two devices via the 0x8000 flag', cat('2301', one.subarray(2, 19), '02', '9234', '03', '1235', keys, shared));
  await parse('0x8000 flag on the last device, then keys', cat('2301', one.subarray(2, 19), '02', '9234', keys, shared));
  await parse('shared part empty', cat(one.subarray(0, 70)));
  await parse('shared part 1 byte', cat(one.subarray(0, 70), shared.subarray(0, 1)));
  await parse('shared part 31 bytes', cat(one.subarray(0, 70), shared.subarray(0, 31)));
  await parse('shared part 32 bytes (E only)', cat(one.subarray(0, 70), shared.subarray(0, 32)));
  await parse('shared part 48 bytes', cat(one.subarray(0, 70), shared.subarray(0, 48)));
  await parse('shared part 49 bytes', cat(one.subarray(0, 70), shared.subarray(0, 49)));
  await parse('truncated in the keys', one.subarray(0, 60));
  await parse('truncated in the registration id', one.subarray(0, 21));
  await parse('empty', Buffer.alloc(0));
  await parse('only the version byte', Buffer.from([0x23]));
  // Excluded recipients only, and the order of entries as written by the peer's encrypt
  const alice = new Party(ALICE, 1, 111);
  const parties = [new Party(CAROL, 1, 1), new Party(BOB, 2, 2), new Party(`PNI:${BOB}`, 1, 3)];
  for (const p of parties) await alice.connect(p);
  const { senderCert } = certificates(alice);
  const pc = S.PlaintextContent.from(S.DecryptionErrorMessage.forOriginal(u8((await alice.encrypt(parties[0], 'x')).serialize()), 3, 1, 1));
  const content = S.UnidentifiedSenderMessageContent.new(pc.asCiphertextMessage(), senderCert, 0, null);
  const order = Buffer.from(await S.sealedSenderMultiRecipientEncrypt({ content, recipients: parties.map((p) => p.address), excludedRecipients: [S.ServiceId.parseFromServiceIdString('dddddddd-0000-4000-8000-000000000001'), S.ServiceId.parseFromServiceIdString('00000000-0000-4000-8000-000000000001')], identityStore: alice.identityStore, sessionStore: alice.sessionStore }));
  const op = L.v2Parse(order);
  console.log(`  peer's order for recipients [carol, bob, PNI:bob] + excluded [dddd…, 0000…]: ${op.recipients.map((r) => hex(r.serviceId).slice(0, 6)).join(' ')} | excluded ${op.excluded.map((r) => hex(r).slice(0, 6)).join(' ')}`);
  const r1 = await withLog(async () => hex(await S.sealedSenderMultiRecipientEncrypt({ content, recipients: [parties[0].address, parties[0].address], identityStore: alice.identityStore, sessionStore: alice.sessionStore })).slice(0, 60));
  console.log(`  the peer's encrypt given the same recipient address twice: ${outcome(r1)}`);
  const r2 = await withLog(async () => hex(await S.sealedSenderMultiRecipientEncrypt({ content, recipients: [parties[0].address], excludedRecipients: [S.ServiceId.parseFromServiceIdString(CAROL)], identityStore: alice.identityStore, sessionStore: alice.sessionStore })).slice(0, 60));
  console.log(`  … a recipient that is also excluded: ${outcome(r2)}`);
  if (r2.ok) {
    const full = Buffer.from(await S.sealedSenderMultiRecipientEncrypt({ content, recipients: [parties[0].address], excludedRecipients: [S.ServiceId.parseFromServiceIdString(CAROL)], identityStore: alice.identityStore, sessionStore: alice.sessionStore }));
    await parse('    and the peer parsing that output', full);
  }
  const r3 = await withLog(async () => hex(await S.sealedSenderMultiRecipientEncrypt({ content, recipients: [S.ProtocolAddress.new('carol-not-a-uuid', 1)], identityStore: alice.identityStore, sessionStore: alice.sessionStore })).slice(0, 60));
  console.log(`  … a recipient whose name is not a service id: ${outcome(r3)}`);
  const single = await withLog(async () => hex(S.sealedSenderMultiRecipientMessageForSingleRecipient(u8(one))));
  console.log(`  sealedSenderMultiRecipientMessageForSingleRecipient == messageForRecipient: ${single.ok && single.value === hex(L.v2Cut(one, rid(BOB)))}`);
  const withEx = L.v2Encrypt({ usmc, senderPriv, recipients: [{ serviceId: rid(BOB), devices: [{ deviceId: 2, registrationId: 1 }], identity: bobKey }], excluded: [rid(CAROL)], M: Buffer.alloc(32, 7) });
  console.log(`  …ForSingleRecipient with one recipient and one excluded: ${outcome(await withLog(async () => hex(S.sealedSenderMultiRecipientMessageForSingleRecipient(u8(withEx))).slice(0, 20)))}`);
}

async function edges() {
  console.log('== edges: check order, self-send by e164, low-order keys, recipients interleaved');
  const w = await world();
  const m = await w.alice.encrypt(w.bob, 'edge');
  const seal = (cert, senderPriv, msg = m) => L.v1Encrypt({ usmc: Buffer.from(S.UnidentifiedSenderMessageContent.new(msg, cert, 0, null).serialize()), senderPriv, recipientPub: pubOf(w.bob.identity.privateKey), ephPriv: S.PrivateKey.generate() });
  const selfCert = S.SenderCertificate.new(BOB, null, 2, w.bob.publicKey(), EXPIRES, w.serverCert, w.server);
  console.log(`  self-send with an expired certificate: ${outcome(await bobDecrypts(w, seal(selfCert, w.bob.identity.privateKey), { now: EXPIRES + 1 }))}`);
  console.log(`  self-send under a wrong trust root: ${outcome(await bobDecrypts(w, seal(selfCert, w.bob.identity.privateKey), { root: w.server.getPublicKey() }))}`);
  const mallory = S.PrivateKey.generate();
  const otherKey = S.SenderCertificate.new(ALICE, null, 1, mallory.getPublicKey(), EXPIRES, w.serverCert, w.server);
  console.log(`  certificate key mismatch, envelope only (sealedSenderDecryptToUsmc): ${outcome(await toUsmc(w, seal(otherKey, w.alice.identity.privateKey)))}`);
  console.log(`  certificate key mismatch with an expired certificate: ${outcome(await bobDecrypts(w, seal(otherKey, w.alice.identity.privateKey), { now: EXPIRES + 1 }))}`);
  // e164: does a certificate carrying the recipient's own e164 count as a self-send?
  const e164Cert = S.SenderCertificate.new(ALICE, '+15550001', 1, w.alice.publicKey(), EXPIRES, w.serverCert, w.server);
  const r = await withLog(async () => {
    const x = await S.sealedSenderDecryptMessage(u8(seal(e164Cert, w.alice.identity.privateKey)), w.root.getPublicKey(), 1, '+15550001', BOB, 2, w.bob.sessionStore, w.bob.identityStore, w.bob.prekeyStore, w.bob.signedStore, w.bob.kyberStore);
    return Buffer.from(x.message()).toString();
  });
  console.log(`  certificate e164 = the recipient's own e164, other uuid: ${outcome(r)}`);
  // Low-order ephemeral key in v1 (u = 0 and u = 1): what the peer says
  const good = seal(w.senderCert, w.alice.identity.privateKey);
  const f = fields(good.subarray(1));
  for (const u of ['00'.repeat(32), '01' + '00'.repeat(31)]) {
    const bad = Buffer.concat([Buffer.from([0x11]), encode([{ field: 1, wire: 2, value: '05' + u }, f[1], f[2]])]);
    console.log(`  v1 with E = 05‖${u.slice(0, 4)}… (low order): ${outcome(await toUsmc(w, bad))}`);
  }
  // Refusals before the session step leave the stores as they were.
  for (const [name, opts] of [['expired', { now: EXPIRES + 1 }], ['wrong trust root', { root: S.PrivateKey.generate().getPublicKey() }], ['self-send (local = the sender)', { localUuid: ALICE, localDevice: 1 }]]) {
    const w3 = await world();
    const m3 = await w3.alice.encrypt(w3.bob, 'state');
    const env3 = L.v1Encrypt({ usmc: Buffer.from(S.UnidentifiedSenderMessageContent.new(m3, w3.senderCert, 0, null).serialize()), senderPriv: w3.alice.identity.privateKey, recipientPub: pubOf(w3.bob.identity.privateKey), ephPriv: S.PrivateKey.generate() });
    const before = JSON.stringify([...w3.bob.sessions.keys(), w3.bob.prekeys.size]);
    const r1 = await bobDecrypts(w3, env3, opts);
    const after = JSON.stringify([...w3.bob.sessions.keys(), w3.bob.prekeys.size]);
    const r2 = await bobDecrypts(w3, env3);
    console.log(`  refused as ${name}: ${r1.ok ? 'ok?!' : 'refused'}; stores unchanged ${before === after}; then with the right inputs: ${outcome(r2)}`);
  }
  // Recipients interleaved: [carol.1, bob.2, carol.3] in the peer's encrypt
  const alice = new Party(ALICE, 1, 111);
  const c1 = new Party(CAROL, 1, 1);
  const c3 = new Party(CAROL, 3, 3, hex(c1.identity.privateKey.serialize()));
  const b2 = new Party(BOB, 2, 2);
  for (const p of [c1, b2, c3]) await alice.connect(p);
  const { senderCert } = certificates(alice);
  const pc = S.PlaintextContent.from(S.DecryptionErrorMessage.forOriginal(u8((await alice.encrypt(c1, 'x')).serialize()), 3, 1, 1));
  const content = S.UnidentifiedSenderMessageContent.new(pc.asCiphertextMessage(), senderCert, 0, null);
  const sent = Buffer.from(await S.sealedSenderMultiRecipientEncrypt({ content, recipients: [c1.address, b2.address, c3.address], identityStore: alice.identityStore, sessionStore: alice.sessionStore }));
  const p = L.v2Parse(sent);
  console.log(`  peer's encrypt for [carol.1, bob.2, carol.3]: entries ${p.recipients.map((x) => `${hex(x.serviceId).slice(2, 8)}:${JSON.stringify(x.devices.map((d) => d.deviceId))}`).join(' ')}`);
  // Does the recipient's identity key come from the identity store or from the session?
  const d = new Party('eeeeeeee-bbbb-4ccc-8ddd-eeeeeeeeeeee', 1, 5);
  await alice.connect(d);
  alice.identities.set(`${d.name}.1`, Buffer.from(S.PrivateKey.generate().getPublicKey().serialize()));
  const sent2 = Buffer.from(await S.sealedSenderMultiRecipientEncrypt({ content, recipients: [d.address], identityStore: alice.identityStore, sessionStore: alice.sessionStore }));
  const cut2 = L.v2Cut(sent2, S.ServiceId.parseFromServiceIdString(d.name).getServiceIdFixedWidthBinary());
  let opened;
  try { L.v2Decrypt({ rcv: cut2, recipientPriv: d.identity.privateKey }); opened = 'the session\'s key'; } catch (e) { opened = 'not the session\'s key (the identity store\'s)'; }
  console.log(`  identity store holds another key for the recipient than the session: the peer sealed to ${opened}`);
}

// The hypothesis search itself: every candidate derivation tried against the peer's own
// output, and which ones match. Exactly one should for each step.
async function hypotheses() {
  const { hkdf, hmac, aesCtr, agree, gcmSivDecrypt } = L;
  console.log('== hypotheses: v1 (decrypting the peer\'s envelope with candidate derivations)');
  const w = await world();
  const m = await w.alice.encrypt(w.bob, 'hypothesis');
  const content = S.UnidentifiedSenderMessageContent.new(m, w.senderCert, 0, null);
  const usmcBytes = Buffer.from(content.serialize());
  const env = Buffer.from(await S.sealedSenderEncrypt(content, w.bob.address, w.alice.identityStore));
  const E = Buffer.from(field(env.subarray(1), 1), 'hex');
  const encStatic = Buffer.from(field(env.subarray(1), 2), 'hex');
  const encMsg = Buffer.from(field(env.subarray(1), 3), 'hex');
  const B = pubOf(w.bob.identity.privateKey);
  const A = pubOf(w.alice.identity.privateKey);
  const UD = Buffer.from('UnidentifiedDelivery');
  const dh1 = agree(w.bob.identity.privateKey, S.PublicKey.deserialize(u8(E)));
  const zero = Buffer.alloc(16);
  let step1 = null;
  const salts1 = { 'UD‖B‖E': Buffer.concat([UD, B, E]), 'UD‖E‖B': Buffer.concat([UD, E, B]), 'B‖E': Buffer.concat([B, E]), 'E‖B': Buffer.concat([E, B]), UD, none: null };
  for (const [sn, salt] of Object.entries(salts1)) {
    for (const [inn, info] of Object.entries({ '""': '', UD: 'UnidentifiedDelivery' })) {
      for (const [mn, macLen] of [['mac 10', 10], ['mac 8', 8], ['mac 16', 16]]) {
        const okm = hkdf(dh1, salt, info, 96);
        const ct = encStatic.subarray(0, encStatic.length - macLen);
        const ok = hmac(okm.subarray(64, 96), ct).subarray(0, macLen).equals(encStatic.subarray(ct.length)) && aesCtr(okm.subarray(32, 64), zero, ct).equals(A);
        if (ok) step1 = okm.subarray(0, 32);
        console.log(`  ephemeral step: salt ${sn}, info ${inn}, ${mn}, keys chain‖cipher‖mac: ${ok ? 'MATCH' : 'no'}`);
      }
    }
  }
  if (step1) {
    const dh2 = agree(w.bob.identity.privateKey, S.PublicKey.deserialize(u8(A)));
    const salts2 = { 'chain‖field 2 (43)': Buffer.concat([step1, encStatic]), 'chain‖ciphertext (33)': Buffer.concat([step1, encStatic.subarray(0, 33)]), chain: step1, 'UD‖chain‖field 2': Buffer.concat([UD, step1, encStatic]) };
    for (const [sn, salt] of Object.entries(salts2)) {
      for (const [kn, at] of [['bytes 32..64 cipher, 64..96 mac', 32], ['bytes 0..32 cipher, 32..64 mac', 0]]) {
        const okm = hkdf(dh2, salt, '', 96);
        const ct = encMsg.subarray(0, encMsg.length - 10);
        const ok = hmac(okm.subarray(at + 32, at + 64), ct).subarray(0, 10).equals(encMsg.subarray(ct.length)) && aesCtr(okm.subarray(at, at + 32), zero, ct).equals(usmcBytes);
        console.log(`  static step: salt ${sn}, ${kn}: ${ok ? 'MATCH' : 'no'}`);
      }
    }
  }

  console.log('== hypotheses: v2 (decrypting the peer\'s copy with candidate derivations)');
  console.log('  labels tried: strings of the form "Sealed Sender v2: …" (see docs/notes/sealed-sender.md for where they came from)');
  const carol = new Party(CAROL, 1, 0x2001);
  await w.alice.connect(carol);
  const pc = S.PlaintextContent.from(S.DecryptionErrorMessage.forOriginal(u8((await w.alice.encrypt(carol, 'x')).serialize()), 3, 1, 1));
  const c2 = S.UnidentifiedSenderMessageContent.new(pc.asCiphertextMessage(), w.senderCert, 0, null);
  const sent = Buffer.from(await S.sealedSenderMultiRecipientEncrypt({ content: c2, recipients: [carol.address], identityStore: w.alice.identityStore, sessionStore: w.alice.sessionStore }));
  const rcv = Buffer.from(S.sealedSenderMultiRecipientMessageForSingleRecipient(u8(sent)));
  const per = rcv.subarray(1, 49);
  const shared = rcv.subarray(49);
  const C = pubOf(carol.identity.privateKey);
  const layouts = { 'c‖at, E‖ciphertext': [per.subarray(0, 32), shared.subarray(0, 32)], 'at‖c, E‖ciphertext': [per.subarray(16), shared.subarray(0, 32)], 'c‖at, ciphertext‖E': [per.subarray(0, 32), shared.subarray(shared.length - 32)] };
  const LDH = Buffer.from('Sealed Sender v2: DH');
  let found = null;
  let tried = 0;
  for (const [ln, [c, E32]] of Object.entries(layouts)) {
    const E33 = Buffer.concat([Buffer.from([5]), E32]);
    const dh = agree(carol.identity.privateKey, S.PublicKey.deserialize(u8(E33)));
    const parts = { E33, E32, C33: C, C32: C.subarray(1) };
    const orders = [[], ['E33', 'C33'], ['C33', 'E33'], ['E32', 'C32'], ['C32', 'E32']];
    for (const o of orders) {
      const extra = Buffer.concat(o.map((n) => parts[n]));
      for (const [where, ikm, info] of [['ikm = DH‖', Buffer.concat([dh, extra]), LDH], ['info = label‖', dh, Buffer.concat([LDH, extra])]]) {
        for (const rl of ['Sealed Sender v2: r (2023-08)', 'Sealed Sender v2: r']) {
          tried++;
          const pad = hkdf(ikm, null, info, 32);
          const M = Buffer.alloc(32);
          for (let i = 0; i < 32; i++) M[i] = c[i] ^ pad[i];
          const e = S.PrivateKey.deserialize(u8(hkdf(M, null, rl, 32)));
          if (pubOf(e).equals(E33)) {
            found = { M, E33, c, ct: shared.subarray(32) };
            console.log(`  MATCH: layout ${ln}; ${where}${o.join('‖') || '(nothing)'}; r label "${rl}"`);
          }
        }
      }
    }
  }
  console.log(`  mask candidates tried: ${tried}`);
  if (found) {
    const K = hkdf(found.M, null, 'Sealed Sender v2: K', 32);
    for (const [an, aad] of Object.entries({ empty: Buffer.alloc(0), E: found.E33, 'version 0x22': Buffer.from([0x22]) })) {
      let ok = false;
      try {
        ok = gcmSivDecrypt(K, Buffer.alloc(12), aad, found.ct).equals(Buffer.from(c2.serialize()));
      } catch (e) {}
      console.log(`  content: AES-256-GCM-SIV(K = HKDF(M, "Sealed Sender v2: K")), nonce 0, aad ${an}: ${ok ? 'MATCH' : 'no'}`);
    }
    const at = per.subarray(32, 48);
    const dhs = agree(carol.identity.privateKey, S.PublicKey.deserialize(u8(A)));
    const names = { E: found.E33, c: found.c, A, C };
    const perms = [[]];
    for (let d = 0; d < 4; d++) for (const p of perms.slice()) for (const n of Object.keys(names)) if (!p.includes(n)) perms.push([...p, n]);
    let n = 0;
    for (const p of perms) {
      n++;
      if (hkdf(Buffer.concat([dhs, ...p.map((x) => names[x])]), null, 'Sealed Sender v2: DH-sender', 16).equals(at)) console.log(`  MATCH at = HKDF(DH(a, B)‖${p.join('‖')}, "Sealed Sender v2: DH-sender")[..16]`);
    }
    console.log(`  at candidates tried: ${n}`);
  }
}

const sections = { certs, usmc, v1, v2, validate, errors, sent, edges, hypotheses };

(async () => {
  const which = process.argv[2] || 'all';
  for (const [name, fn] of Object.entries(sections)) {
    if (which === 'all' || which === name) await fn();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

#!/usr/bin/env node
// Generates tests/vectors/sealed_{certificates,content,v1,v2}.json: sealed-sender known
// answers from libsignal-client 0.103.0.
//
// Run from the repository root after `npm ci` in interop/ (this script installs nothing):
//     node interop/vectors/sealed_sender.js [output directory, default tests/vectors]
//
// Keys and the reference randomness come from labels (fixedPrivate, fixedBytes). What the
// peer randomizes differs from run to run and is recorded as made: its XEdDSA signatures
// (so the certificate bytes), the session messages inside the contents, its v1 ephemeral
// keys and its v2 M. Every check below holds on every run; the bytes differ.
//   peer_made:      the peer's own output (certificates, contents, envelopes, sent messages,
//                   cuts), and the peer's own verdicts on them.
//   reference_made: envelopes built here from fixed randomness by the reference code in
//                   interop/experiments/sealed_lab.js (the derivations found against the
//                   peer); the peer opened each one ("peer_opens": true), so missive's
//                   sealing must give exactly these bytes from the same randomness.
//   crafted:        hand-made bytes and the peer's verdict on each ("peer": "ok" or its
//                   error text); "missive" says what missive must do where it differs.
'use strict';
const fs = require('fs');
const path = require('path');
const P = require('./peers.js');
const L = require('../experiments/sealed_lab.js');

const { S, hex, u8, check, eq, fixedPrivate, fixedBytes, publicOf } = P;
const { Party, encode, fields, withLog, captureLog, pubOf } = L;
const SSMRM = require(require.resolve('@signalapp/libsignal-client/dist/SealedSenderMultiRecipientMessage.js', {
  paths: [path.join(__dirname, '..')],
})).default;

captureLog();
const outDir = process.argv[2] || path.join(__dirname, '..', '..', 'tests', 'vectors');

const ALICE = '9d0652a3-dcc3-4d11-975f-74d61598733f';
const BOB = '796abedb-ca4e-4f18-8803-1fde5b921f9f';
const CAROL = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const DAVE = 'dddddddd-0000-4000-8000-000000000001';
const EXPIRES = 1_900_000_000_000;
const NOW = 1_800_000_000_000;

const priv = (label) => S.PrivateKey.deserialize(u8(fixedPrivate(label)));
const ROOT = priv('sealed trust root');
const OTHER_ROOT = priv('sealed other root');
const SERVER = priv('sealed server key');
const ALICE_ID = fixedPrivate('sealed alice identity');
const BOB_ID = fixedPrivate('sealed bob identity');
const CAROL_ID = fixedPrivate('sealed carol identity');
const MALLORY = priv('sealed mallory identity');

const verdict = (r) => (r.ok ? 'ok' : r.error.replace(/^LibSignalError: /, ''));
const fixed64 = (v) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(v));
  return hex(b);
};
const sid = (s) => Buffer.from(S.ServiceId.parseFromServiceIdString(s).getServiceIdFixedWidthBinary());
const flip = (b, i, bit = 1) => {
  const o = Buffer.from(b);
  o[i < 0 ? o.length + i : i] ^= bit;
  return o;
};

// ---------------------------------------------------------------------------------------
// Certificates

async function certificates() {
  const serverCert = S.ServerCertificate.new(1, SERVER.getPublicKey(), ROOT);
  const revokedServer = S.ServerCertificate.new(0xdeadc357, SERVER.getPublicKey(), ROOT);
  const alicePub = S.PublicKey.deserialize(u8(publicOf(ALICE_ID)));
  const made = [
    ['e164 and uuid', ALICE, '+14155550100', 1, serverCert],
    ['uuid only, device 127', ALICE, null, 127, serverCert],
    ['server key id 0xDEADC357 (revoked)', ALICE, null, 1, revokedServer],
  ];
  const times = [0, EXPIRES - 1, EXPIRES, EXPIRES + 1];
  const senderCerts = [];
  for (const [label, uuid, e164, device, sc] of made) {
    const c = S.SenderCertificate.new(uuid, e164, device, alicePub, EXPIRES, sc, SERVER);
    senderCerts.push({
      label,
      bytes: hex(c.serialize()),
      sender_uuid: c.senderUuid(),
      sender_e164: c.senderE164(),
      device_id: c.senderDeviceId(),
      expiration: c.expiration(),
      identity_key: hex(c.key().serialize()),
      server_key_id: c.serverCertificate().keyId(),
      validate: times.map((t) => ({ now: t, valid: c.validate(ROOT.getPublicKey(), t) })),
      validate_other_root: c.validate(OTHER_ROOT.getPublicKey(), NOW),
      validate_both_roots: c.validateWithTrustRoots([OTHER_ROOT.getPublicKey(), ROOT.getPublicKey()], NOW),
    });
  }

  // Crafted sender certificates: the certificate fields as a list, signed here by SERVER.
  const sign = (inner, key = SERVER) => hex(key.sign(u8(inner)));
  const outer = (inner, key = SERVER) => encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: sign(inner, key) }]);
  const base = () => [
    { field: 2, wire: 0, value: 1 },
    { field: 3, wire: 1, value: fixed64(EXPIRES) },
    { field: 4, wire: 2, value: hex(publicOf(ALICE_ID)) },
    { field: 5, wire: 2, value: hex(serverCert.serialize()) },
    { field: 6, wire: 2, value: hex(Buffer.from(ALICE)) },
  ];
  const without = (n) => base().filter((f) => f.field !== n);
  const uuidBytes = (u) => u.replace(/-/g, '');
  const cases = [
    ['as the peer writes it', base()],
    ['fields in reverse order', base().reverse()],
    ['unknown field 15', [...base(), { field: 15, wire: 0, value: 1 }]],
    ['uuid as 16 bytes in field 7', [...without(6), { field: 7, wire: 2, value: uuidBytes(ALICE) }]],
    ['uuid 6 then 7: the last wins', [...base(), { field: 7, wire: 2, value: uuidBytes(BOB) }]],
    ['uuid 7 then 6: the last wins', [...without(6), { field: 7, wire: 2, value: uuidBytes(BOB) }, { field: 6, wire: 2, value: hex(Buffer.from(ALICE)) }]],
    ['uuid not a uuid', [...without(6), { field: 6, wire: 2, value: hex(Buffer.from('alice')) }]],
    ['uuid empty', [...without(6), { field: 6, wire: 2, value: '' }]],
    ['uuid 17 bytes in field 7', [...without(6), { field: 7, wire: 2, value: '00' + uuidBytes(ALICE) }]],
    ['uuid invalid UTF-8', [...without(6), { field: 6, wire: 2, value: 'ff00' }]],
    ['e164 any string', [{ field: 1, wire: 2, value: hex(Buffer.from('not a number')) }, ...base()]],
    ['e164 invalid UTF-8', [{ field: 1, wire: 2, value: 'ff00' }, ...base()]],
    ['device 0', [...without(2), { field: 2, wire: 0, value: 0 }]],
    ['device 128', [...without(2), { field: 2, wire: 0, value: 128 }]],
    ['expiration as a varint', [...without(3), { field: 3, wire: 0, value: EXPIRES }]],
    ['identity key without its type byte', [...without(4), { field: 4, wire: 2, value: hex(publicOf(ALICE_ID)).slice(2) }]],
    ['server certificate garbage', [...without(5), { field: 5, wire: 2, value: '0102' }]],
    ['server certificate by reference 1 (field 8)', [...without(5), { field: 8, wire: 0, value: 1 }]],
    ['server certificate by reference 2 (a Signal server the peer knows)', [...without(5), { field: 8, wire: 0, value: 2 }]],
    ['reference 2 then embedded: the last wins', [...without(5), { field: 8, wire: 0, value: 2 }, { field: 5, wire: 2, value: hex(serverCert.serialize()) }]],
    ['embedded then reference 2: the last wins', [...base(), { field: 8, wire: 0, value: 2 }]],
    ...[2, 3, 4, 5, 6].map((n) => [`without field ${n}`, without(n)]),
  ];
  const crafted = [];
  for (const [label, list] of cases) {
    const bytes = outer(encode(list));
    const r = await withLog(async () => {
      const c = S.SenderCertificate.deserialize(u8(bytes));
      let server = null;
      try {
        server = c.serverCertificate().keyId();
      } catch (e) {
        server = `error: ${e.message}`;
      }
      return {
        sender_uuid: c.senderUuid(),
        sender_e164: c.senderE164(),
        device_id: c.senderDeviceId(),
        server_key_id: server,
        valid: c.validate(ROOT.getPublicKey(), NOW),
      };
    });
    crafted.push({ label, bytes: hex(bytes), peer: verdict(r), ...(r.ok ? { parsed: r.value } : {}) });
  }
  // Whole-certificate cases: outer layer and signatures
  const inner = encode(base());
  const whole = [
    ['signed by the trust root instead of the server key', outer(inner, ROOT)],
    ['signature 63 bytes', encode([{ field: 1, wire: 2, value: hex(inner) }, { field: 2, wire: 2, value: sign(inner).slice(2) }])],
    ['signature missing', encode([{ field: 1, wire: 2, value: hex(inner) }])],
    ['certificate missing', encode([{ field: 2, wire: 2, value: sign(inner) }])],
    ['one byte flipped in the certificate after signing', encode([{ field: 1, wire: 2, value: hex(flip(inner, -1)) }, { field: 2, wire: 2, value: sign(inner) }])],
  ];
  for (const [label, bytes] of whole) {
    const r = await withLog(async () => ({ valid: S.SenderCertificate.deserialize(u8(bytes)).validate(ROOT.getPublicKey(), NOW) }));
    crafted.push({ label, bytes: hex(bytes), peer: verdict(r), ...(r.ok ? { parsed: r.value } : {}) });
  }

  // Server certificates as crafted
  const scInner = encode([{ field: 1, wire: 0, value: 7 }, { field: 2, wire: 2, value: hex(SERVER.getPublicKey().serialize()) }]);
  const scCases = [
    ['as the peer writes it', scInner],
    ['without key id', encode([{ field: 2, wire: 2, value: hex(SERVER.getPublicKey().serialize()) }])],
    ['without key', encode([{ field: 1, wire: 0, value: 7 }])],
    ['key id 2^32 (the peer keeps the low 32 bits)', encode([{ field: 1, wire: 0, value: 2 ** 32 }, { field: 2, wire: 2, value: hex(SERVER.getPublicKey().serialize()) }])],
    ['unknown field 9', encode([{ field: 1, wire: 0, value: 7 }, { field: 2, wire: 2, value: hex(SERVER.getPublicKey().serialize()) }, { field: 9, wire: 0, value: 1 }])],
  ];
  const serverCrafted = [];
  for (const [label, inner2] of scCases) {
    const bytes = encode([{ field: 1, wire: 2, value: hex(inner2) }, { field: 2, wire: 2, value: hex(ROOT.sign(u8(inner2))) }]);
    const r = await withLog(async () => ({ key_id: S.ServerCertificate.deserialize(u8(bytes)).keyId() }));
    serverCrafted.push({ label, bytes: hex(bytes), peer: verdict(r), ...(r.ok ? { parsed: r.value } : {}) });
  }

  return {
    description:
      'Sealed-sender certificates from libsignal-client 0.103.0. ServerCertificate = protobuf{1: certificate {1: key id, 2: key (33)}, 2: XEdDSA(trust root, certificate)}; SenderCertificate = protobuf{1: certificate {1: e164?, 2: device, 3: expiration (fixed64), 4: identity key, 5: server certificate | 8: its key id, 6: uuid string | 7: uuid bytes}, 2: XEdDSA(server key, certificate)}. Signatures vary per run. validate: the peer\'s verdict at each time under trust_root. crafted: certificate fields signed by the server key here; "peer" is the peer\'s verdict (ok, or its error), "parsed" what it read and validate(trust_root, now).',
    generator: 'interop/vectors/sealed_sender.js',
    libsignal_client: '0.103.0',
    now: NOW,
    trust_root: { private: hex(ROOT.serialize()), public: hex(ROOT.getPublicKey().serialize()) },
    other_root: { public: hex(OTHER_ROOT.getPublicKey().serialize()) },
    server_key: { private: hex(SERVER.serialize()), public: hex(SERVER.getPublicKey().serialize()) },
    server_certificate: { key_id: 1, bytes: hex(serverCert.serialize()), certificate: hex(serverCert.certificateData()), signature: hex(serverCert.signature()) },
    revoked_server_key_ids: [0xdeadc357],
    sender_certificates: senderCerts,
    crafted,
    server_crafted: serverCrafted,
  };
}

// ---------------------------------------------------------------------------------------
// Parties with fixed identities; alice's certificate

async function parties() {
  const alice = new Party(ALICE, 1, 111, hex(ALICE_ID));
  const bob = new Party(BOB, 2, 0x1234, hex(BOB_ID));
  const carol1 = new Party(CAROL, 1, 0x2001, hex(CAROL_ID));
  const carol3 = new Party(CAROL, 3, 0x2003, hex(CAROL_ID));
  for (const r of [bob, carol1, carol3]) await alice.connect(r);
  const serverCert = S.ServerCertificate.new(1, SERVER.getPublicKey(), ROOT);
  const cert = S.SenderCertificate.new(ALICE, '+14155550100', 1, alice.publicKey(), EXPIRES, serverCert, SERVER);
  return { alice, bob, carol1, carol3, cert };
}

async function contents() {
  const w = await parties();
  const out = [];
  const add = (label, msg, hint, group) => {
    const made = S.UnidentifiedSenderMessageContent.new(msg, w.cert, hint, group);
    // Read back from its bytes: the object made keeps an empty group id that is not written.
    const u = S.UnidentifiedSenderMessageContent.deserialize(made.serialize());
    out.push({
      label,
      bytes: hex(u.serialize()),
      msg_type: u.msgType(),
      wire_type: fields(u.serialize()).find((f) => f.field === 1).value,
      content_hint: u.contentHint(),
      group_id: hex(u.groupId()),
      contents: hex(u.contents()),
      sender_certificate: hex(u.senderCertificate().serialize()),
    });
    return u;
  };
  const m1 = await w.alice.encrypt(w.bob, 'prekey message');
  add('prekey message, default hint, no group', m1, 0, null);
  add('prekey message, hint 1, group 0102030405', m1, 1, u8(Buffer.from('0102030405', 'hex')));
  add('prekey message, hint 2, empty group (not written)', m1, 2, u8(Buffer.alloc(0)));
  add('prekey message, hint 77', m1, 77, null);
  await S.signalDecryptPreKey(S.PreKeySignalMessage.deserialize(m1.serialize()), w.alice.address, w.bob.address, w.bob.sessionStore, w.bob.identityStore, w.bob.prekeyStore, w.bob.signedStore, w.bob.kyberStore);
  const m2 = await w.bob.encrypt(w.alice, 'whisper message');
  const whisper = add('whisper message', m2, 0, null);
  await S.SenderKeyDistributionMessage.create(w.alice.address, '11111111-2222-3333-4444-555555555555', w.alice.senderKeyStore);
  const g = await S.groupEncrypt(w.alice.address, '11111111-2222-3333-4444-555555555555', w.alice.senderKeyStore, u8(Buffer.from('group')));
  add('sender-key message with group id', g, 1, u8(Buffer.from('00112233445566778899aabbccddeeff', 'hex')));
  const pc = S.PlaintextContent.from(S.DecryptionErrorMessage.forOriginal(u8(m2.serialize()), 2, 1234, 1));
  add('plaintext content', pc.asCiphertextMessage(), 0, null);

  const list = fields(whisper.serialize());
  const set = (n, v) => list.map((f) => (f.field === n ? { ...f, value: v } : f));
  const drop = (n) => list.filter((f) => f.field !== n);
  const cases = [
    ...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((t) => [`type ${t}`, set(1, t)]),
    ...[1, 2, 3].map((n) => [`without field ${n}`, drop(n)]),
    ['explicit hint 0', [...list, { field: 4, wire: 0, value: 0 }]],
    ['hint 2^31', [...list, { field: 4, wire: 0, value: 2 ** 31 }]],
    ['hint 2^32 + 1 (the peer keeps the low 32 bits)', [...list, { field: 4, wire: 0, value: 2 ** 32 + 1 }]],
    ['empty group id written', [...list, { field: 5, wire: 2, value: '' }]],
    ['empty contents', set(3, '')],
    ['sender certificate garbage', set(2, '0102')],
    ['unknown field 9', [...list, { field: 9, wire: 0, value: 1 }]],
    ['type twice (2 then 7): the last wins', [...list, { field: 1, wire: 0, value: 7 }]],
  ];
  const crafted = [];
  for (const [label, l] of cases) {
    const bytes = encode(l);
    const r = await withLog(async () => {
      const u = S.UnidentifiedSenderMessageContent.deserialize(u8(bytes));
      return { msg_type: u.msgType(), content_hint: u.contentHint(), group_id: hex(u.groupId()), contents: hex(u.contents()) };
    });
    crafted.push({ label, bytes: hex(bytes), peer: verdict(r), ...(r.ok ? { parsed: r.value } : {}) });
  }
  return {
    description:
      'UnidentifiedSenderMessageContent from libsignal-client 0.103.0: protobuf{1: type (1 prekey, 2 whisper, 7 sender key, 8 plaintext), 2: sender certificate, 3: contents, 4: content hint (omitted when 0), 5: group id (omitted when absent or empty)}. msg_type is the peer\'s msgType() (the ciphertext message type, 3 for prekey), wire_type field 1. crafted: field lists re-encoded here, "peer" the peer\'s verdict on deserialize.',
    generator: 'interop/vectors/sealed_sender.js',
    libsignal_client: '0.103.0',
    contents: out,
    crafted,
  };
}

// ---------------------------------------------------------------------------------------
// v1

async function v1() {
  const w = await parties();
  const m1 = await w.alice.encrypt(w.bob, 'hello v1');
  const content = S.UnidentifiedSenderMessageContent.new(m1, w.cert, 1, null);
  const usmc = Buffer.from(content.serialize());
  const bobPriv = w.bob.identity.privateKey;
  const open = (bytes) => withLog(async () => hex((await S.sealedSenderDecryptToUsmc(u8(bytes), w.bob.identityStore)).serialize()));

  const peerMade = [];
  for (let i = 0; i < 2; i++) {
    const env = Buffer.from(await S.sealedSenderEncrypt(content, w.bob.address, w.alice.identityStore));
    const d = L.v1Decrypt({ env, recipientPriv: bobPriv });
    eq(d.usmc, usmc, 'reference opens the peer envelope');
    eq(d.senderPub, publicOf(ALICE_ID), 'sender key');
    peerMade.push({ envelope: hex(env) });
  }
  const referenceMade = [];
  for (const label of ['a', 'b']) {
    const eph = fixedPrivate(`sealed v1 ephemeral ${label}`);
    const env = L.v1Encrypt({ usmc, senderPriv: w.alice.identity.privateKey, recipientPub: pubOf(bobPriv), ephPriv: S.PrivateKey.deserialize(u8(eph)) });
    const r = await open(env);
    check(r.ok && r.value === hex(usmc), `peer opens reference envelope ${label}: ${JSON.stringify(r)}`);
    referenceMade.push({ ephemeral_private: hex(eph), envelope: hex(env), peer_opens: true });
  }

  // Tampering and refusals, each on the first reference envelope (fixed bytes).
  const good = Buffer.from(referenceMade[0].envelope, 'hex');
  const f = fields(good.subarray(1));
  const reenc = (list) => Buffer.concat([good.subarray(0, 1), encode(list)]);
  const staticAt = good.indexOf(Buffer.from(f[1].value, 'hex'));
  const msgAt = good.indexOf(Buffer.from(f[2].value, 'hex'));
  const mallory = S.SenderCertificate.new(ALICE, null, 1, MALLORY.getPublicKey(), EXPIRES, S.ServerCertificate.new(1, SERVER.getPublicKey(), ROOT), SERVER);
  const malloryContent = Buffer.from(S.UnidentifiedSenderMessageContent.new(m1, mallory, 0, null).serialize());
  const eph = S.PrivateKey.deserialize(u8(fixedPrivate('sealed v1 ephemeral c')));
  const cases = [
    ['version 0x12', Buffer.concat([Buffer.from([0x12]), good.subarray(1)]), 'decode'],
    ['version 0x01', Buffer.concat([Buffer.from([0x01]), good.subarray(1)]), 'decode'],
    ['version 0x21', Buffer.concat([Buffer.from([0x21]), good.subarray(1)]), 'decode'],
    ['version 0x31', Buffer.concat([Buffer.from([0x31]), good.subarray(1)]), 'decode'],
    ['E last byte flipped', flip(good, f[0] ? good.indexOf(Buffer.from(f[0].value, 'hex')) + 32 : 0), 'decryption_failed'],
    ['E type byte changed', flip(good, good.indexOf(Buffer.from(f[0].value, 'hex')), 0x02), 'decode'],
    ['E = 05 ‖ 0 (low order)', reenc([{ ...f[0], value: '05' + '00'.repeat(32) }, f[1], f[2]]), 'decryption_failed'],
    ['encrypted static first byte flipped', flip(good, staticAt), 'decryption_failed'],
    ['encrypted static MAC flipped', flip(good, staticAt + 42), 'decryption_failed'],
    ['encrypted static 42 bytes', reenc([f[0], { ...f[1], value: f[1].value.slice(0, -2) }, f[2]]), 'decode'],
    ['encrypted message first byte flipped', flip(good, msgAt), 'decryption_failed'],
    ['encrypted message MAC flipped', flip(good, -1), 'decryption_failed'],
    ['encrypted message without its MAC', reenc([f[0], f[1], { ...f[2], value: f[2].value.slice(0, -20) }]), 'decryption_failed'],
    ['truncated by one byte', good.subarray(0, good.length - 1), 'decode'],
    ['one byte appended', Buffer.concat([good, Buffer.from([0])]), 'decode'],
    ['only the version byte', good.subarray(0, 1), 'decode'],
    ['empty', Buffer.alloc(0), 'decode'],
    ['unknown field 4 appended', Buffer.concat([good, encode([{ field: 4, wire: 0, value: 1 }])]), 'ok'],
    ['without field 1', reenc([f[1], f[2]]), 'decode'],
    ['sealed with alice\'s key, certificate names mallory\'s key', L.v1Encrypt({ usmc: malloryContent, senderPriv: w.alice.identity.privateKey, recipientPub: pubOf(bobPriv), ephPriv: eph }), 'sender_key_mismatch'],
    ['sealed to another recipient', L.v1Encrypt({ usmc, senderPriv: w.alice.identity.privateKey, recipientPub: publicOf(CAROL_ID), ephPriv: eph }), 'decryption_failed'],
  ];
  const refusals = [];
  for (const [label, bytes, missive] of cases) {
    const r = await open(bytes);
    refusals.push({ label, envelope: hex(bytes), peer: r.ok ? (r.value === hex(usmc) ? 'ok' : 'ok (other content)') : verdict(r), missive });
  }
  return {
    description:
      'Sealed sender v1 from libsignal-client 0.103.0. envelope = 0x11 ‖ protobuf{1: E, 2: AES-256-CTR(ek, IK_A) ‖ HMAC(emk)[..10], 3: AES-256-CTR(sk, content) ‖ HMAC(smk)[..10]}; chain ‖ ek ‖ emk = HKDF(salt "UnidentifiedDelivery" ‖ IK_B ‖ E, ikm DH(e, IK_B)); _ ‖ sk ‖ smk = HKDF(salt chain ‖ field 2, ikm DH(ik_A, IK_B)). peer_made: the peer\'s sealedSenderEncrypt (random E). reference_made: from ephemeral_private, opened by the peer. refusals: "peer" = sealedSenderDecryptToUsmc\'s verdict, "missive" = the error family missive must give (decode, decryption_failed, sender_key_mismatch, ok).',
    generator: 'interop/vectors/sealed_sender.js',
    libsignal_client: '0.103.0',
    sender_identity_private: hex(ALICE_ID),
    sender_identity_public: hex(publicOf(ALICE_ID)),
    recipient_identity_private: hex(BOB_ID),
    recipient_identity_public: hex(publicOf(BOB_ID)),
    content: hex(usmc),
    peer_made: peerMade,
    reference_made: referenceMade,
    refusals,
  };
}

// ---------------------------------------------------------------------------------------
// v2

async function v2() {
  const w = await parties();
  await S.SenderKeyDistributionMessage.create(w.alice.address, '11111111-2222-3333-4444-555555555555', w.alice.senderKeyStore);
  const g = await S.groupEncrypt(w.alice.address, '11111111-2222-3333-4444-555555555555', w.alice.senderKeyStore, u8(Buffer.from('group message')));
  const content = S.UnidentifiedSenderMessageContent.new(g, w.cert, 2, u8(Buffer.from('00112233445566778899aabbccddeeff', 'hex')));
  const usmc = Buffer.from(content.serialize());
  const recipientKeys = { [BOB]: BOB_ID, [CAROL]: CAROL_ID };
  const openAs = (who, bytes) => withLog(async () => hex((await S.sealedSenderDecryptToUsmc(u8(bytes), who.identityStore)).serialize()));
  const peerParse = (bytes) => {
    const p = new SSMRM(u8(bytes));
    const recipients = Object.entries(p.recipientsByServiceIdString()).map(([k, v]) => ({
      service_id: k,
      device_ids: v.deviceIds,
      registration_ids: v.registrationIds,
      received: hex(p.messageForRecipient(v)),
    }));
    return { recipients, excluded: p.excludedRecipientServiceIdStrings() };
  };

  // peer_made: the peer's sent message and its cuts
  const sent = Buffer.from(
    await S.sealedSenderMultiRecipientEncrypt({
      content,
      recipients: [w.bob.address, w.carol1.address, w.carol3.address],
      excludedRecipients: [S.ServiceId.parseFromServiceIdString(DAVE)],
      identityStore: w.alice.identityStore,
      sessionStore: w.alice.sessionStore,
    }),
  );
  const pp = peerParse(sent);
  for (const r of pp.recipients) {
    const d = L.v2Decrypt({ rcv: Buffer.from(r.received, 'hex'), recipientPriv: S.PrivateKey.deserialize(u8(recipientKeys[r.service_id])) });
    eq(d.usmc, usmc, 'reference opens the peer copy');
    check(d.checkSender(publicOf(ALICE_ID)), 'at');
  }

  // reference_made: fixed M
  const destinations = [
    { serviceId: sid(BOB), devices: [{ deviceId: 2, registrationId: 0x1234 }], identity: publicOf(BOB_ID) },
    { serviceId: sid(CAROL), devices: [{ deviceId: 1, registrationId: 0x2001 }, { deviceId: 3, registrationId: 0x2003 }], identity: publicOf(CAROL_ID) },
  ];
  const referenceMade = [];
  for (const [label, dests, excluded] of [
    ['bob and carol (two devices), dave excluded', destinations, [sid(DAVE)]],
    ['bob only', destinations.slice(0, 1), []],
    ['a PNI recipient', [{ serviceId: sid(`PNI:${BOB}`), devices: [{ deviceId: 1, registrationId: 0x3fff }], identity: publicOf(BOB_ID) }], []],
  ]) {
    const M = fixedBytes(`sealed v2 M ${label}`, 32);
    const mine = L.v2Encrypt({ usmc, senderPriv: w.alice.identity.privateKey, recipients: dests, excluded, M });
    const parsed = peerParse(mine);
    for (const r of parsed.recipients) {
      const who = r.service_id === CAROL ? w.carol3 : w.bob;
      const o = await openAs(who, Buffer.from(r.received, 'hex'));
      check(o.ok && o.value === hex(usmc), `peer opens the reference copy for ${r.service_id}: ${JSON.stringify(o)}`);
    }
    referenceMade.push({ label, M: hex(M), destinations: dests.map((d) => ({ service_id: hex(d.serviceId), identity_key: hex(d.identity), devices: d.devices.map((x) => ({ device_id: x.deviceId, registration_id: x.registrationId })) })), excluded: excluded.map(hex), sent: hex(mine), peer_parse: parsed, peer_opens: true });
  }

  // Received copies, tampered (on the reference copy for bob)
  const rcv = Buffer.from(referenceMade[1].peer_parse.recipients[0].received, 'hex');
  const mallory = S.SenderCertificate.new(ALICE, null, 1, MALLORY.getPublicKey(), EXPIRES, S.ServerCertificate.new(1, SERVER.getPublicKey(), ROOT), SERVER);
  const malloryContent = Buffer.from(S.UnidentifiedSenderMessageContent.new(g, mallory, 0, null).serialize());
  const M = fixedBytes('sealed v2 M tamper', 32);
  const sealedForBob = (u, senderPriv) => L.v2Cut(L.v2Encrypt({ usmc: u, senderPriv, recipients: destinations, M }), sid(BOB));
  const carolCopy = L.v2Cut(L.v2Encrypt({ usmc, senderPriv: w.alice.identity.privateKey, recipients: destinations, M }), sid(CAROL));
  const cases = [
    ['version 0x23', Buffer.concat([Buffer.from([0x23]), rcv.subarray(1)]), 'decode'],
    ['version 0x21', Buffer.concat([Buffer.from([0x21]), rcv.subarray(1)]), 'decode'],
    ['version 0x32', Buffer.concat([Buffer.from([0x32]), rcv.subarray(1)]), 'decode'],
    ['c flipped', flip(rcv, 1), 'decryption_failed'],
    ['at flipped', flip(rcv, 33), 'sender_key_mismatch'],
    ['E flipped', flip(rcv, 49), 'decryption_failed'],
    ['E = 0 (low order)', Buffer.concat([rcv.subarray(0, 49), Buffer.alloc(32), rcv.subarray(81)]), 'decryption_failed'],
    ['ciphertext flipped', flip(rcv, 81), 'decryption_failed'],
    ['tag flipped', flip(rcv, -1), 'decryption_failed'],
    ['truncated by one byte', rcv.subarray(0, rcv.length - 1), 'decryption_failed'],
    ['one byte appended', Buffer.concat([rcv, Buffer.from([0])]), 'decryption_failed'],
    ['truncated to 97 bytes (tag only)', rcv.subarray(0, 97), 'decryption_failed'],
    ['truncated to 96 bytes', rcv.subarray(0, 96), 'decode'],
    ['empty', Buffer.alloc(0), 'decode'],
    ['the copy cut for carol', carolCopy, 'decryption_failed'],
    ['the sent message itself', Buffer.from(referenceMade[1].sent, 'hex'), 'decode'],
    ['sealed with alice\'s key, certificate names mallory\'s key', sealedForBob(malloryContent, w.alice.identity.privateKey), 'sender_key_mismatch'],
  ];
  const refusals = [];
  for (const [label, bytes, missive] of cases) {
    const r = await openAs(w.bob, bytes);
    refusals.push({ label, received: hex(bytes), peer: r.ok ? (r.value === hex(usmc) ? 'ok' : 'ok (other content)') : verdict(r), missive });
  }

  // Sent messages, crafted, through the peer's parser
  const one = Buffer.from(referenceMade[1].sent, 'hex');
  const head = one.subarray(0, 22);
  const keys = one.subarray(22, 70);
  const shared = one.subarray(70);
  const cat = (...xs) => Buffer.concat(xs.map((x) => (typeof x === 'string' ? Buffer.from(x, 'hex') : Buffer.isBuffer(x) ? x : Buffer.from(x))));
  const sentCases = [
    ['as made', one, 'ok'],
    ['legacy 0x22 with a 16-byte uuid', cat('2201', one.subarray(3, 70), shared), 'ok'],
    ...[0x21, 0x24, 0x33].map((v) => [`version 0x${v.toString(16)}`, cat([v], one.subarray(1)), 'decode']),
    ['count 0, no entries', cat('2300', shared), 'ok'],
    ['count 2, one entry', cat('2302', one.subarray(2)), 'decode'],
    ['count as non-minimal varint 0x81 0x00', cat('238100', one.subarray(2)), 'decode'],
    ['excluded (device 0): the rest is the shared part', cat(head.subarray(0, 19), '00', keys, shared), 'ok'],
    ['device 0x7f', cat(head.subarray(0, 19), '7f', head.subarray(20), keys, shared), 'ok'],
    ['device 0x80', cat(head.subarray(0, 19), '80', head.subarray(20), keys, shared), 'decode'],
    ['registration id with bit 0x4000', cat(head.subarray(0, 20), '5234', keys, shared), 'decode'],
    ['service id kind 2', cat('2301', '02', head.subarray(3), keys, shared), 'decode'],
    ['the same recipient twice', cat('2302', one.subarray(2, 70), one.subarray(2, 70), shared), 'ok'],
    ['a recipient also excluded', cat('2302', one.subarray(2, 70), one.subarray(2, 19), '00', shared), 'decode'],
    ['excluded twice', cat('2302', one.subarray(2, 19), '00', one.subarray(2, 19), '00', shared), 'decode'],
    ['two devices via the 0x8000 flag', cat('2301', one.subarray(2, 19), '02', '9234', '03', '1235', keys, shared), 'ok'],
    ['0x8000 on the last device', cat('2301', one.subarray(2, 19), '02', '9234', keys, shared), 'decode'],
    ['shared part 31 bytes', cat(one.subarray(0, 70), shared.subarray(0, 31)), 'decode'],
    ['shared part 32 bytes (E only)', cat(one.subarray(0, 70), shared.subarray(0, 32)), 'decode'],
    ['shared part 48 bytes (E and a tag)', cat(one.subarray(0, 70), shared.subarray(0, 48)), 'ok'],
    ['truncated in the key material', one.subarray(0, 60), 'decode'],
    ['empty', Buffer.alloc(0), 'decode'],
  ];
  const sentCrafted = [];
  for (const [label, bytes, missive] of sentCases) {
    const r = await withLog(async () => peerParse(bytes));
    sentCrafted.push({ label, sent: hex(bytes), peer: verdict(r), ...(r.ok ? { peer_parse: r.value } : {}), missive });
  }

  return {
    description:
      'Sealed sender v2 from libsignal-client 0.103.0. sent = 0x23 ‖ varint(entries) ‖ (service id (17) ‖ (device ‖ BE16(reg | 0x8000 if more))+ ‖ c (32) ‖ at (16) | service id ‖ 0x00)* ‖ E (32) ‖ AES-256-GCM-SIV(K, 0^12, "", content); received = 0x22 ‖ c ‖ at ‖ E ‖ ciphertext. e = HKDF(M, "Sealed Sender v2: r (2023-08)"), K = HKDF(M, "Sealed Sender v2: K"), c = M ⊕ HKDF(DH(e,B) ‖ E ‖ B, "Sealed Sender v2: DH"), at = HKDF(DH(a,B) ‖ E ‖ c ‖ A ‖ B, "Sealed Sender v2: DH-sender")[..16]. peer_made: the peer\'s sealedSenderMultiRecipientEncrypt (random M) and its cuts (messageForRecipient). reference_made: from M, parsed and cut by the peer, every copy opened by the peer. refusals: received copies, "peer" = sealedSenderDecryptToUsmc\'s verdict. sent_crafted: "peer" = SealedSenderMultiRecipientMessage\'s verdict; "missive" = what missive\'s SentMessage::parse must do (decode = refuse).',
    generator: 'interop/vectors/sealed_sender.js',
    libsignal_client: '0.103.0',
    sender_identity_private: hex(ALICE_ID),
    sender_identity_public: hex(publicOf(ALICE_ID)),
    recipients: {
      [BOB]: { private: hex(BOB_ID), public: hex(publicOf(BOB_ID)) },
      [CAROL]: { private: hex(CAROL_ID), public: hex(publicOf(CAROL_ID)) },
    },
    content: hex(usmc),
    peer_made: { sent: hex(sent), peer_parse: pp },
    reference_made: referenceMade,
    refusals,
    sent_crafted: sentCrafted,
  };
}

(async () => {
  const write = (name, obj) => fs.writeFileSync(path.join(outDir, name), `${JSON.stringify(obj, null, 1)}\n`);
  write('sealed_certificates.json', await certificates());
  write('sealed_content.json', await contents());
  write('sealed_v1.json', await v1());
  write('sealed_v2.json', await v2());
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

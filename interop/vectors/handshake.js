#!/usr/bin/env node
// Generates tests/vectors/handshake.json: PQXDH (v4) and X3DH (v3) session secrets for
// fixed inputs, with the expected root key, first chain key and SPQR auth key taken from
// the real peers.
//
// Run from the repository root after `npm ci` in interop/ (this script installs nothing):
//     node interop/vectors/handshake.js > tests/vectors/handshake.json
// Every private key, the Kyber seed and the encapsulation randomness come from fixed labels,
// so the output is the same on every run, except the two vectors in which
// libsignal-client is the initiator (its base key and KEM randomness are its own).
//
// Three routes, each a closed loop: the script throws rather than write a vector if the
// peer disagrees anywhere.
// 1. v4, the script initiates, libsignal-client 0.103.0 responds. The script builds a
//    PreKeySignalMessage from fixed keys (Kyber ciphertext from kyber.js with fixed
//    randomness) and its first message from its own PQXDH result; the peer, holding the fixed
//    prekeys (its Kyber key pair imported through KyberPreKeyRecord), must decrypt it, and
//    its session record afterwards must be what this root key leads to: receiving chain =
//    HKDF(root, DH(SPK, Alice's ratchet key), "WhisperRatchet") stepped once, root and
//    sending chain one more step on (with the ratchet private key the record holds), SPQR
//    chains = Chain Start over the auth key. A root or auth key that differs from the peer's
//    cannot reproduce those. The chain key is bytes 32..64 of the same HKDF output; route 2
//    shows that split directly in the peer's record.
// 2. v4, libsignal-client initiates (fixed identity, fixed responder bundle; its own base
//    key and KEM randomness), the script is the responder: it decapsulates the peer's
//    ciphertext with kyber.js. The peer's record holds the first chain key (receiving chain
//    on the signed prekey) and the SPQR auth key as they are; the root key is checked one
//    step on (root and sending chain of the record). libsignal-client, as responder,
//    then decrypts the peer's first message. These vectors have no base-key private key:
//    they test the responder side only.
// 3. v3, libsignal-node 6.0.0 on both sides. Its key generation is replaced by one that
//    hands out fixed keys (base key, then first ratchet key), and its HKDF export is
//    wrapped: the "WhisperText" derivation of each side, as the peer computed it, is the
//    expected root ‖ chain. Alice's record must also be one root step on from it.
'use strict';
const P = require('./peers.js');
const Kyber = require('./kyber.js');

const { hex, check, eq, fixedPrivate, fixedBytes, publicOf, dh, hkdf, hmac, Z32 } = P;
const PQXDH_INFO = 'WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024';
const X3DH_INFO = 'WhisperText';
const FF32 = Buffer.alloc(32, 0xff);

const KYBER_SEED = fixedBytes('kyber prekey seed', 64);
const KYBER = Kyber.keyGen(KYBER_SEED);
const KYBER_PUBLIC = Buffer.concat([Buffer.from([8]), KYBER.publicKey]);
const KYBER_SECRET = Buffer.concat([Buffer.from([8]), KYBER.secretKey]);

function derive(version, ikm) {
  if (version === 4) {
    const okm = hkdf(96, ikm, PQXDH_INFO, null);
    return { root: okm.subarray(0, 32), chain: okm.subarray(32, 64), auth: okm.subarray(64, 96) };
  }
  const okm = hkdf(64, ikm, X3DH_INFO, null);
  return { root: okm.subarray(0, 32), chain: okm.subarray(32, 64), auth: null };
}
const rootStep = (root, shared) => {
  const o = hkdf(64, shared, 'WhisperRatchet', root);
  return { root: o.subarray(0, 32), chain: o.subarray(32, 64) };
};
const be32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const spqrStart = (auth) => {
  const s = hkdf(96, auth, 'Signal PQ Ratchet V1 Chain  Start', Z32);
  return { nextRoot: s.subarray(0, 32), aToB: s.subarray(32, 64), bToA: s.subarray(64, 96) };
};
const spqrNext = (chain, n) => {
  const o = hkdf(64, chain, Buffer.concat([be32(n), Buffer.from('Signal PQ Ratchet V1 Chain Next')]), Z32);
  return { chain: o.subarray(0, 32), key: o.subarray(32, 64) };
};

/** Fixed keys of one vector. */
function keysFor(name, withOpk) {
  const k = {
    aliceId: fixedPrivate(`${name} initiator identity`),
    base: fixedPrivate(`${name} initiator base key`),
    ratchet: fixedPrivate(`${name} initiator first ratchet key`),
    bobId: fixedPrivate(`${name} responder identity`),
    spk: fixedPrivate(`${name} responder signed prekey`),
    opk: withOpk ? fixedPrivate(`${name} responder one-time prekey`) : null,
  };
  for (const n of Object.keys(k)) if (k[n]) k[`${n}Pub`] = publicOf(k[n]);
  return k;
}

function vectorBase(name, version, k, withBase) {
  return {
    name,
    version,
    initiator_identity_private: hex(k.aliceId),
    initiator_identity_public: hex(k.aliceIdPub),
    base_key_private: withBase ? hex(k.base) : null,
    base_key_public: withBase ? hex(k.basePub) : null,
    responder_identity_private: hex(k.bobId),
    responder_identity_public: hex(k.bobIdPub),
    signed_prekey_private: hex(k.spk),
    signed_prekey_public: hex(k.spkPub),
    one_time_prekey_private: hex(k.opk),
    one_time_prekey_public: hex(k.opkPub),
  };
}

// ---- route 1 ----
async function scriptInitiatesV4(name, withOpk) {
  const k = keysFor(name, withOpk);
  const randomness = fixedBytes(`${name} kyber encapsulation randomness`, 32);
  const enc = Kyber.encapsulate(KYBER.publicKey, randomness);
  const ikm = Buffer.concat([
    FF32, dh(k.aliceId, k.spkPub), dh(k.base, k.bobIdPub), dh(k.base, k.spkPub),
    ...(withOpk ? [dh(k.base, k.opkPub)] : []), enc.sharedSecret,
  ]);
  const out = derive(4, ikm);

  // The first message, keyed from `out` alone.
  const send = rootStep(out.root, dh(k.ratchet, k.spkPub));
  const seed = hmac(send.chain, Buffer.from([1]));
  const spqr = spqrStart(out.auth);
  const pq1 = spqrNext(spqr.aToB, 1);
  const mk = hkdf(80, seed, 'WhisperMessageKeys', pq1.key);
  const plaintext = Buffer.from(`first message of ${name}`);
  const body = P.aesEncrypt(mk.subarray(0, 32), mk.subarray(64, 80), plaintext);
  const field = Buffer.from([1, 1, 1, 0]); // SPQR None, epoch 1, index 1
  const bob = P.clientParty('bob', k.bobId);
  const { ids } = await P.clientPublish(bob, { spkPriv: k.spk, opkPriv: k.opk, kyberPublic: KYBER.publicKey, kyberSecret: KYBER.secretKey });
  const sm = Buffer.from(P.S.SignalMessage._new(4, P.u8(mk.subarray(32, 64)), P.S.PublicKey.deserialize(P.u8(k.ratchetPub)), 0, 0,
    P.u8(body), P.S.PublicKey.deserialize(P.u8(k.aliceIdPub)), bob.kp.publicKey, P.u8(field)).serialize());
  const outer = Buffer.concat([
    Buffer.from([0x44]),
    ...(withOpk ? [P.pbUint(1, ids.opk)] : []),
    P.pbBytes(2, k.basePub), P.pbBytes(3, k.aliceIdPub), P.pbBytes(4, sm), P.pbUint(5, 1234), P.pbUint(6, ids.spk),
    P.pbUint(7, ids.kyber), P.pbBytes(8, Buffer.concat([Buffer.from([8]), enc.ciphertext])),
  ]);
  const aliceAddr = P.S.ProtocolAddress.new('alice', 1);
  const got = await P.S.signalDecryptPreKey(P.S.PreKeySignalMessage.deserialize(P.u8(outer)), aliceAddr, bob.addr,
    bob.sessions, bob.ids, bob.pre, bob.spk, bob.kyb);
  eq(got, plaintext, 'libsignal-client decrypts the first message');

  const rec = P.clientSession((await bob.sessions.getSession(aliceAddr)).serialize());
  eq(rec.remoteIdentity, k.aliceIdPub, 'remote identity');
  eq(rec.baseKey, k.basePub, 'base key in the record');
  check(rec.receivers.length === 1, 'one receiving chain');
  const r = rec.receivers[0];
  eq(r.ratchetPublic, k.ratchetPub, 'receiving ratchet key');
  check(r.index === 1, 'receiving chain at index 1');
  eq(r.key, hmac(send.chain, Buffer.from([2])), 'receiving chain key = step 1 of HKDF(root, DH(SPK, ratchet))');
  const second = rootStep(send.root, dh(rec.sender.ratchetPrivate, k.ratchetPub));
  eq(rec.root, second.root, 'record root key, two steps on');
  check(rec.sender.index === 0, 'fresh sending chain');
  eq(rec.sender.key, second.chain, 'record sending chain key');
  const pq = P.pbDecode(P.get(rec.pq, 2));
  const chains = P.pbDecode(P.get(pq, 3));
  eq(P.get(pq, 4), spqr.nextRoot, 'SPQR next root in the record');
  eq(P.get(P.pbDecode(P.get(chains, 1)), 2), spqr.bToA, 'SPQR B→A chain in the record');
  const recv = P.pbDecode(P.get(chains, 2));
  check(Number(P.get(recv, 1)) === 1, 'SPQR A→B chain at index 1');
  eq(P.get(recv, 2), pq1.chain, 'SPQR A→B chain in the record, one step on');

  return {
    ...vectorBase(name, 4, k, true),
    kyber_encapsulation_randomness: hex(randomness),
    kyber_ciphertext: hex(Buffer.concat([Buffer.from([8]), enc.ciphertext])),
    kyber_shared_secret: hex(enc.sharedSecret),
    secret_input: hex(ikm),
    root_key: hex(out.root),
    chain_key: hex(out.chain),
    spqr_auth_key: hex(out.auth),
    note:
      'Initiator played by the generator from these fixed keys (Kyber ciphertext from interop/vectors/kyber.js with this randomness); '
      + 'responder: libsignal-client 0.103.0 holding these prekeys. The peer decrypted the first message keyed from root_key and '
      + 'spqr_auth_key, and its session record afterwards held: receiving chain = HMAC step of HKDF(root_key, DH(SPK, initiator ratchet key)) chain half, '
      + 'root and sending chain one further root step on, SPQR chains = Chain Start(spqr_auth_key). chain_key is bytes 32..64 of the '
      + 'same 96-byte HKDF output as root_key and spqr_auth_key (the split itself is shown in the peer-initiated vectors).',
  };
}

// ---- route 2 ----
async function clientInitiatesV4(name, withOpk) {
  const k = keysFor(name, withOpk);
  const alice = P.clientParty('alice', k.aliceId);
  const bob = P.clientParty('bob', k.bobId);
  const { bundle } = await P.clientPublish(bob, { spkPriv: k.spk, opkPriv: k.opk, kyberPublic: KYBER.publicKey, kyberSecret: KYBER.secretKey });
  await P.S.processPreKeyBundle(bundle, bob.addr, alice.addr, alice.sessions, alice.ids);
  const rec = await P.clientRecord(alice, bob);
  const base = rec.baseKey;
  const ct = rec.kyberCiphertext;
  check(base && ct && ct.length === 1569 && ct[0] === 8, 'base key and Kyber ciphertext in the record');
  const ss = Kyber.decapsulate(KYBER.secretKey, ct.subarray(1));
  const ikm = Buffer.concat([
    FF32, dh(k.spk, k.aliceIdPub), dh(k.bobId, base), dh(k.spk, base), ...(withOpk ? [dh(k.opk, base)] : []), ss,
  ]);
  const out = derive(4, ikm);
  check(rec.receivers.length === 1, 'one receiving chain');
  eq(rec.receivers[0].ratchetPublic, k.spkPub, 'receiving chain on the signed prekey');
  check(rec.receivers[0].index === 0, 'receiving chain unused');
  eq(rec.receivers[0].key, out.chain, 'first chain key = the record\'s receiving chain key');
  eq(P.get(P.pbDecode(P.get(rec.pq, 1)), 1), out.auth, 'SPQR auth key = the record\'s');
  const step = rootStep(out.root, dh(rec.sender.ratchetPrivate, k.spkPub));
  eq(rec.root, step.root, 'record root = one root step on from root_key');
  eq(rec.sender.key, step.chain, 'record sending chain = one root step on from root_key');

  const msg = await P.S.signalEncrypt(Buffer.from('hello'), bob.addr, alice.addr, alice.sessions, alice.ids);
  const outer = Buffer.from(msg.serialize());
  const f = P.pbDecode(outer.subarray(1));
  eq(P.get(f, 2), base, 'base key on the wire');
  eq(P.get(f, 8), ct, 'Kyber ciphertext on the wire');
  const got = await P.S.signalDecryptPreKey(P.S.PreKeySignalMessage.deserialize(P.u8(outer)), alice.addr, bob.addr,
    bob.sessions, bob.ids, bob.pre, bob.spk, bob.kyb);
  eq(got, Buffer.from('hello'), 'libsignal-client responder decrypts');

  return {
    ...vectorBase(name, 4, k, false),
    base_key_public: hex(base),
    kyber_encapsulation_randomness: null,
    kyber_ciphertext: hex(ct),
    kyber_shared_secret: hex(ss),
    secret_input: hex(ikm),
    root_key: hex(out.root),
    chain_key: hex(out.chain),
    spqr_auth_key: hex(out.auth),
    note:
      'Initiator: libsignal-client 0.103.0 with this identity key, given a bundle of these responder keys; its base key and Kyber '
      + 'ciphertext are its own (no private base key: responder side only). chain_key and spqr_auth_key are read from its session record '
      + '(receiving chain on the signed prekey; SPQR state before the first send); root_key is confirmed by the record one root step on '
      + '(root and sending chain = HKDF(root_key, DH(its ratchet private key, SPK), "WhisperRatchet")). kyber_shared_secret: decapsulated by '
      + 'interop/vectors/kyber.js, confirmed by those matches. A libsignal-client responder decrypted the first message.',
  };
}

// ---- route 3 ----
async function nodeV3(name, withOpk) {
  const k = keysFor(name, withOpk);
  const alice = P.nodeParty('alice', k.aliceId);
  const bob = P.nodeParty('bob', k.bobId);
  bob.spk.set(22, { pubKey: k.spkPub, privKey: k.spk });
  if (withOpk) bob.pre.set(11, { pubKey: k.opkPub, privKey: k.opk });
  const sig = P.L.curve.calculateSignature(k.bobId, k.spkPub);
  const device = { registrationId: 1234, identityKey: k.bobIdPub, signedPreKey: { keyId: 22, publicKey: k.spkPub, signature: sig } };
  if (withOpk) device.preKey = { keyId: 11, publicKey: k.opkPub };

  const takeRootDerivation = (who) => {
    const d = P.nodeHooks.derivations.filter((x) => x.info === X3DH_INFO);
    check(d.length === 1, `${who}: one "${X3DH_INFO}" derivation`);
    P.nodeHooks.derivations.length = 0;
    return d[0];
  };
  P.nodeHooks.derivations.length = 0;
  P.nodeHooks.fixedKeys.push(k.base, k.ratchet);
  await new P.L.SessionBuilder(alice.storage, bob.addr).initOutgoing(device);
  check(P.nodeHooks.fixedKeys.length === 0, 'both fixed keys used');
  const a = takeRootDerivation('initiator');
  const arec = P.nodeSession(alice, bob);
  eq(arec.baseKey, k.basePub, 'libsignal-node used the fixed base key');
  eq(arec.ratchetPublic, k.ratchetPub, 'libsignal-node used the fixed ratchet key');

  const m = await new P.L.SessionCipher(alice.storage, bob.addr).encrypt(Buffer.from('hello'));
  const pt = await new P.L.SessionCipher(bob.storage, alice.addr).decryptPreKeyWhisperMessage(Buffer.from(m.body, 'binary'));
  eq(pt, Buffer.from('hello'), 'libsignal-node responder decrypts');
  const b = takeRootDerivation('responder');

  const ikm = Buffer.concat([FF32, dh(k.aliceId, k.spkPub), dh(k.base, k.bobIdPub), dh(k.base, k.spkPub), ...(withOpk ? [dh(k.base, k.opkPub)] : [])]);
  const out = derive(3, ikm);
  for (const [who, d] of [['initiator', a], ['responder', b]]) {
    eq(d.ikm, ikm, `${who}: secret input`);
    check(d.salt.equals(Z32), `${who}: salt is 32 zero bytes (the same HKDF as no salt)`);
    eq(d.out[0], out.root, `${who}: root key`);
    eq(d.out[1], out.chain, `${who}: chain key`);
  }
  const step = rootStep(out.root, dh(k.ratchet, k.spkPub));
  eq(arec.root, step.root, 'initiator record root one step on');
  check(arec.sending.index === 0, 'initiator sending chain fresh');
  eq(arec.sending.key, step.chain, 'initiator sending chain one step on');
  return {
    ...vectorBase(name, 3, k, true),
    kyber_encapsulation_randomness: null,
    kyber_ciphertext: null,
    kyber_shared_secret: null,
    secret_input: hex(ikm),
    root_key: hex(out.root),
    chain_key: hex(out.chain),
    spqr_auth_key: null,
    note:
      'libsignal-node 6.0.0 on both sides with these fixed keys (its generateKeyPair export handed out the base key, then the initiator\'s '
      + 'first ratchet key). root_key and chain_key are the first two 32-byte chunks of the peer\'s own "WhisperText" derivation '
      + '(its deriveSecrets export, watched), identical on the initiator (initOutgoing) and the responder (first decryption); input '
      + 'secret_input, salt 32 zero bytes (equal to HKDF with no salt). The initiator\'s record is one root step on.',
  };
}

(async () => {
  const vectors = [
    await scriptInitiatesV4('pqxdh with one-time prekey', true),
    await scriptInitiatesV4('pqxdh without one-time prekey', false),
    await clientInitiatesV4('pqxdh peer-initiated with one-time prekey', true),
    await clientInitiatesV4('pqxdh peer-initiated without one-time prekey', false),
    await nodeV3('x3dh with one-time prekey', true),
    await nodeV3('x3dh without one-time prekey', false),
  ];
  const out = {
    description:
      'Session set-up secrets for fixed inputs. All bytes hex; EC public keys are 0x05 ‖ u (33 B), private keys 32 B (clamped); '
      + 'Kyber values are type-prefixed (0x08, round-3 Kyber1024). secret_input = 0xFF×32 ‖ DH(IK_A, SPK_B) ‖ DH(EK_A, IK_B) ‖ '
      + 'DH(EK_A, SPK_B) [‖ DH(EK_A, OPK_B)] [‖ Kyber shared secret]; v4: HKDF(salt none, info '
      + `"${PQXDH_INFO}") → root_key ‖ chain_key ‖ spqr_auth_key; v3: info "${X3DH_INFO}" → root_key ‖ chain_key. `
      + 'Every v4 vector uses kyber_prekey (its secret key = round-3 layout: CPA secret ‖ public ‖ SHA3-256(public) ‖ z; seed = d ‖ z). '
      + 'base_key_private null: the peer chose the base key, test the responder side only. kyber_encapsulation_randomness: the 32 bytes '
      + 'the initiator draws from its RNG for encapsulation (null when the peer encapsulated). Each vector\'s note says how the peer produced '
      + 'or confirmed the expected values.',
    generator: 'interop/vectors/handshake.js',
    libsignal_client: P.CLIENT_VERSION,
    libsignal_node: P.NODE_VERSION,
    kyber_prekey: { seed: hex(KYBER_SEED), public_key: hex(KYBER_PUBLIC), secret_key: hex(KYBER_SECRET) },
    vectors,
  };
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

#!/usr/bin/env node
// Generates tests/vectors/ratchet.json: Double Ratchet known answers (root-key steps, chain
// steps, message keys, SignalMessage MACs) taken from real conversations of the peers.
//
// Run from the repository root after `npm ci` in interop/ (this script installs nothing):
//     node interop/vectors/ratchet.js > tests/vectors/ratchet.json
// Identity and prekeys come from fixed labels; ratchet keys, ciphertexts and so every value
// below change from run to run (the peers draw them). The script throws rather than write
// vectors if any check fails.
//
// v4: two libsignal-client 0.103.0 parties talk (bursts, turns, out-of-order delivery),
// and their session records are read before and after every encryption and decryption:
//  - chain steps: the sender's chain key before a send and the one its record holds after;
//    the seed HMAC(ck, 0x01) is confirmed by the message keys below;
//  - message keys: HKDF(salt = SPQR key, seed, "WhisperMessageKeys"); they must decrypt the
//    peer's real ciphertext and reproduce its MAC (SPQR keys as in spqr.js / spqr.json);
//  - root steps: on each new ratchet key the receiver takes two steps. The second one's
//    outputs are the root and fresh sending chain of its record afterwards (with the
//    ratchet private key stored there); the first one's are confirmed by that and by the
//    receiving chain the record holds (the first one's chain key stepped to its index).
// v3: two libsignal-node 6.0.0 parties talk, with their crypto exports (deriveSecrets,
// calculateMAC, calculateAgreement) wrapped, so every value is the peer's own call: its
// "WhisperRatchet" derivations (with the DH key pair used), its HMAC(ck, 0x01/0x02)
// pairs, its "WhisperMessageKeys" derivations, and the MACs it put on its messages.
// MACs: libsignal-client's SignalMessage._new(version, MAC key, fields…) builds and MACs a
// message from given fields; missive must build the same bytes (or, for the 0x34 bytes it
// makes for version 3, accept the MAC).
'use strict';
const P = require('./peers.js');
const Kyber = require('./kyber.js');

const { hex, check, eq, hkdf, hmac, dh, Z32, fixedPrivate, fixedBytes } = P;
const ONE = Buffer.from([1]);
const TWO = Buffer.from([2]);
const ALICE = '9d0652a4-4a1c-4b28-8b5e-6f5b3c1a0a11';
const BOB = '9d0652a4-4a1c-4b28-8b5e-6f5b3c1a0b22';

const out = { root_steps: [], chain_steps: [], message_keys: [], macs: [] };

const be32 = (n) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
class SpqrChain {
  constructor(key) {
    this.key = key;
    this.n = 0;
    this.keys = new Map();
  }
  at(n) {
    while (this.n < n) {
      this.n++;
      const o = hkdf(64, this.key, Buffer.concat([be32(this.n), Buffer.from('Signal PQ Ratchet V1 Chain Next')]), Z32);
      this.key = o.subarray(0, 32);
      this.keys.set(this.n, o.subarray(32));
    }
    return this.keys.get(n);
  }
}
function spqrIndex(field) {
  let i = 1;
  const vals = [];
  for (let k = 0; k < 2; k++) {
    let v = 0;
    let s = 0;
    for (;;) {
      const c = field[i++];
      v += (c & 0x7f) * 2 ** s;
      s += 7;
      if (!(c & 0x80)) break;
    }
    vals.push(v);
  }
  check(field[0] === 1 && vals[0] === 1, 'SPQR field version 1, epoch 1');
  return vals[1];
}
const rootStep = (root, shared) => {
  const o = hkdf(64, shared, 'WhisperRatchet', root);
  return { root: o.subarray(0, 32), chain: o.subarray(32, 64) };
};
const stepChain = (ck, n) => {
  for (let i = 0; i < n; i++) ck = hmac(ck, TWO);
  return ck;
};
const macOf = (key, sender, receiver, msg) =>
  hmac(key, Buffer.concat([sender, receiver, msg.subarray(0, -8)])).subarray(0, 8);

// ---- v4: libsignal-client ----
async function clientConversation() {
  const alice = P.clientParty(ALICE, fixedPrivate('ratchet alice identity'));
  const bob = P.clientParty(BOB, fixedPrivate('ratchet bob identity'));
  const kyber = Kyber.keyGen(fixedBytes('ratchet kyber seed', 64));
  const { bundle } = await P.clientPublish(bob, {
    spkPriv: fixedPrivate('ratchet bob signed prekey'), opkPriv: fixedPrivate('ratchet bob one-time prekey'),
    kyberPublic: kyber.publicKey, kyberSecret: kyber.secretKey,
  });
  await P.S.processPreKeyBundle(bundle, bob.addr, alice.addr, alice.sessions, alice.ids);
  const first = await P.clientRecord(alice, bob);
  const auth = P.get(P.pbDecode(P.get(first.pq, 1)), 1);
  const start = hkdf(96, auth, 'Signal PQ Ratchet V1 Chain  Start', Z32);
  const spqr = { A: new SpqrChain(start.subarray(32, 64)), B: new SpqrChain(start.subarray(64, 96)) };
  const party = { A: alice, B: bob };
  const other = { A: bob, B: alice };
  let seq = 0;

  async function send(from) {
    const x = party[from];
    const y = other[from];
    const before = await P.clientRecord(x, y);
    const text = Buffer.from(`v4 message ${++seq} from ${from}`);
    const ct = await P.S.signalEncrypt(P.u8(text), y.addr, x.addr, x.sessions, x.ids);
    const after = await P.clientRecord(x, y);
    const isPreKey = ct.type() === P.S.CiphertextMessageType.PreKey;
    const outer = Buffer.from(ct.serialize());
    const inner = isPreKey ? P.get(P.pbDecode(outer.subarray(1)), 4) : outer;
    const fields = P.pbDecode(inner.subarray(1, -8));
    const counter = Number(P.get(fields, 2) || 0n);
    check(counter === before.sender.index, 'counter = sending chain index');
    eq(after.sender.ratchetPublic, before.sender.ratchetPublic, 'same sending chain');
    check(after.sender.index === before.sender.index + 1, 'sending chain advanced by one');
    const seed = hmac(before.sender.key, ONE);
    eq(after.sender.key, hmac(before.sender.key, TWO), 'next chain key in the record');
    out.chain_steps.push({
      version: 4, chain_key: hex(before.sender.key), index: before.sender.index, message_seed: hex(seed),
      next_chain_key: hex(after.sender.key), source: 'libsignal-client sender record before and after a send',
    });
    const spqrKey = spqr[from].at(spqrIndex(P.get(fields, 5)));
    const mk = hkdf(80, seed, 'WhisperMessageKeys', spqrKey);
    eq(macOf(mk.subarray(32, 64), x.identity, y.identity, inner), inner.subarray(-8), 'MAC of the real message');
    eq(P.aesDecrypt(mk.subarray(0, 32), mk.subarray(64, 80), P.get(fields, 4)), text, 'derived keys decrypt');
    out.message_keys.push({
      version: 4, message_seed: hex(seed), spqr_key: hex(spqrKey), cipher_key: hex(mk.subarray(0, 32)),
      mac_key: hex(mk.subarray(32, 64)), iv: hex(mk.subarray(64, 80)), signal_message: hex(inner),
      sender_identity: hex(x.identity), receiver_identity: hex(y.identity), plaintext: hex(text),
      has_addresses: P.get(fields, 6) !== undefined,
      source: 'libsignal-client message; these keys decrypt it and reproduce its MAC',
    });
    return { from, isPreKey, outer, text, ratchet: P.get(fields, 1), counter };
  }

  async function deliver(m) {
    const x = party[m.from];
    const y = other[m.from];
    const stored = await y.sessions.getSession(x.addr);
    const before = stored ? P.clientSession(stored.serialize()) : null;
    const got = m.isPreKey
      ? await P.S.signalDecryptPreKey(P.S.PreKeySignalMessage.deserialize(P.u8(m.outer)), x.addr, y.addr, y.sessions, y.ids, y.pre, y.spk, y.kyb)
      : await P.S.signalDecrypt(P.S.SignalMessage.deserialize(P.u8(m.outer)), x.addr, y.addr, y.sessions, y.ids);
    eq(got, m.text, 'receiver decrypts');
    const after = await P.clientRecord(y, x);
    const known = before && before.receivers.some((r) => r.ratchetPublic.equals(m.ratchet));
    if (known) return;
    // A new ratchet key: a receiving step then a sending step.
    let recv;
    if (before) {
      recv = rootStep(before.root, dh(before.sender.ratchetPrivate, m.ratchet));
      out.root_steps.push({
        version: 4, root_key: hex(before.root), our_ratchet_private: hex(before.sender.ratchetPrivate),
        their_ratchet_public: hex(m.ratchet), dh: hex(dh(before.sender.ratchetPrivate, m.ratchet)),
        new_root_key: hex(recv.root), chain_key: hex(recv.chain),
        source: 'libsignal-client receiving step: inputs from the receiver record before; outputs confirmed by its record after '
          + '(receiving chain = chain_key stepped to its index; the sending step below starts from new_root_key)',
      });
    } else {
      // The responder's first receiving step is the initiator's first sending step.
      recv = { root: first.root, chain: first.sender.key };
    }
    const r = after.receivers.find((c) => c.ratchetPublic.equals(m.ratchet));
    check(r && r.index === m.counter + 1, 'receiving chain index');
    eq(r.key, stepChain(recv.chain, r.index), 'receiving chain key in the record');
    const sendStep = rootStep(recv.root, dh(after.sender.ratchetPrivate, m.ratchet));
    check(after.sender.index === 0, 'fresh sending chain');
    eq(after.root, sendStep.root, 'record root after the sending step');
    eq(after.sender.key, sendStep.chain, 'record sending chain after the sending step');
    out.root_steps.push({
      version: 4, root_key: hex(recv.root), our_ratchet_private: hex(after.sender.ratchetPrivate),
      their_ratchet_public: hex(m.ratchet), dh: hex(dh(after.sender.ratchetPrivate, m.ratchet)),
      new_root_key: hex(after.root), chain_key: hex(after.sender.key),
      source: before
        ? 'libsignal-client sending step: new_root_key and chain_key are the receiver record\'s root and fresh sending chain, '
          + 'with the ratchet private key stored there; root_key from the receiving step above'
        : 'libsignal-client responder\'s first sending step: root_key is the initiator record\'s root after processPreKeyBundle; '
          + 'new_root_key and chain_key are the responder record\'s root and fresh sending chain',
    });
  }

  const burst = async (from, n) => {
    const ms = [];
    for (let i = 0; i < n; i++) ms.push(await send(from));
    return ms;
  };
  const deliverAll = async (ms, order) => {
    for (const i of order || ms.keys()) await deliver(ms[i]);
  };
  await deliverAll(await burst('A', 2)); // prekey messages
  await deliverAll(await burst('B', 1));
  await deliverAll(await burst('A', 3), [2, 0, 1]);
  await deliverAll(await burst('B', 2), [1, 0]);
  await deliverAll(await burst('A', 1));
  await deliverAll(await burst('B', 3));
  await deliverAll(await burst('A', 1));
  await deliverAll(await burst('B', 1));
  await deliverAll(await burst('A', 2));
}

// ---- v3: libsignal-node ----
async function nodeConversation() {
  const H = P.nodeHooks;
  const agreements = [];
  const realAgree = P.L.curve.calculateAgreement;
  P.L.curve.calculateAgreement = (pub, priv) => {
    const s = realAgree(pub, priv);
    agreements.push({ pub: Buffer.from(pub), priv: Buffer.from(priv), shared: Buffer.from(s) });
    return s;
  };
  const alice = P.nodeParty('alice', fixedPrivate('ratchet v3 alice identity'));
  const bob = P.nodeParty('bob', fixedPrivate('ratchet v3 bob identity'));
  const spk = P.L.curve.generateKeyPair();
  bob.spk.set(22, spk);
  const opk = P.L.curve.generateKeyPair();
  bob.pre.set(11, opk);
  const sig = P.L.curve.calculateSignature(bob.id.privKey, spk.pubKey);
  const reset = () => {
    H.derivations.length = 0;
    H.macs.length = 0;
    agreements.length = 0;
  };
  const rootSteps = (what) => {
    for (const d of H.derivations.filter((x) => x.info === 'WhisperRatchet')) {
      const a = agreements.find((g) => g.shared.equals(d.ikm));
      check(a, 'the DH behind a root step');
      eq(dh(a.priv, a.pub), d.ikm, 'DH output');
      out.root_steps.push({
        version: 3, root_key: hex(d.salt), our_ratchet_private: hex(a.priv), their_ratchet_public: hex(a.pub), dh: hex(d.ikm),
        new_root_key: hex(d.out[0]), chain_key: hex(d.out[1]), source: `libsignal-node's own "WhisperRatchet" derivation (${what})`,
      });
    }
  };
  reset();
  await new P.L.SessionBuilder(alice.storage, bob.addr).initOutgoing({
    registrationId: 1234, identityKey: bob.identity,
    signedPreKey: { keyId: 22, publicKey: spk.pubKey, signature: sig }, preKey: { keyId: 11, publicKey: opk.pubKey },
  });
  rootSteps('initiator, session set-up');
  const party = { A: alice, B: bob };
  const other = { A: bob, B: alice };
  let seq = 0;

  async function send(from) {
    const x = party[from];
    const y = other[from];
    const text = Buffer.from(`v3 message ${++seq} from ${from}`);
    reset();
    const m = await new P.L.SessionCipher(x.storage, y.addr).encrypt(text);
    let body = Buffer.from(m.body, 'binary');
    const isPreKey = m.type === 3;
    if (isPreKey) body = P.get(P.pbDecode(body.subarray(1)), 4);
    check(body[0] === 0x33, 'v3 version byte');
    const fields = P.pbDecode(body.subarray(1, -8));
    const counter = Number(P.get(fields, 2) || 0n);
    const seeds = H.macs.filter((c) => c.data.equals(ONE));
    const nexts = H.macs.filter((c) => c.data.equals(TWO));
    check(seeds.length === 1 && nexts.length === 1 && seeds[0].key.equals(nexts[0].key), 'one chain step per send');
    out.chain_steps.push({
      version: 3, chain_key: hex(seeds[0].key), index: counter, message_seed: hex(seeds[0].out),
      next_chain_key: hex(nexts[0].out), source: 'libsignal-node\'s own HMAC(ck, 0x01) and HMAC(ck, 0x02) for this message',
    });
    const d = H.derivations.filter((x) => x.info === 'WhisperMessageKeys');
    check(d.length === 1 && d[0].ikm.equals(seeds[0].out), 'message keys from the seed');
    check(d[0].salt.equals(Z32), 'v3 message keys: salt 32 zero bytes (= no salt)');
    const [cipher, macKey, ivChunk] = d[0].out;
    const mac = H.macs.filter((c) => c.data.length > 66);
    check(mac.length === 1 && mac[0].key.equals(macKey), 'one MAC with the derived MAC key');
    eq(mac[0].data, Buffer.concat([x.identity, y.identity, body.subarray(0, -8)]), 'MAC input');
    eq(mac[0].out.subarray(0, 8), body.subarray(-8), 'MAC on the wire');
    eq(P.aesDecrypt(cipher, ivChunk.subarray(0, 16), P.get(fields, 4)), text, 'derived keys decrypt');
    out.message_keys.push({
      version: 3, message_seed: hex(seeds[0].out), spqr_key: null, cipher_key: hex(cipher), mac_key: hex(macKey),
      iv: hex(ivChunk.subarray(0, 16)), signal_message: hex(body), sender_identity: hex(x.identity),
      receiver_identity: hex(y.identity), plaintext: hex(text), has_addresses: false,
      source: 'libsignal-node\'s own "WhisperMessageKeys" derivation and MAC for this message',
    });
    return { from, m, text };
  }
  async function deliver(s) {
    const x = party[s.from];
    const y = other[s.from];
    reset();
    const c = new P.L.SessionCipher(y.storage, x.addr);
    const b = Buffer.from(s.m.body, 'binary');
    const got = s.m.type === 3 ? await c.decryptPreKeyWhisperMessage(b) : await c.decryptWhisperMessage(b);
    eq(got, s.text, 'libsignal-node decrypts');
    rootSteps(`receiver of a message from ${s.from === 'A' ? 'the initiator' : 'the responder'}`);
    const steps = H.derivations.filter((x) => x.info === 'WhisperRatchet');
    if (steps.length) eq(P.nodeSession(y, x).root, steps[steps.length - 1].out[0], 'record root = last root step');
  }
  const burst = async (from, n) => {
    const ms = [];
    for (let i = 0; i < n; i++) ms.push(await send(from));
    return ms;
  };
  const deliverAll = async (ms, order) => {
    for (const i of order || ms.keys()) await deliver(ms[i]);
  };
  await deliverAll(await burst('A', 2));
  await deliverAll(await burst('B', 1));
  await deliverAll(await burst('A', 3), [2, 0, 1]);
  await deliverAll(await burst('B', 2));
  await deliverAll(await burst('A', 1));
  await deliverAll(await burst('B', 1));
  P.L.curve.calculateAgreement = realAgree;
}

// ---- SignalMessage MACs, built by libsignal-client ----
function builtMacs() {
  const cases = [
    { version: 4, counter: 0, previous_counter: 0, ct: 16, pq: '01010100' },
    { version: 4, counter: 1, previous_counter: 0, ct: 32, pq: '0101020100' + '77'.repeat(32) },
    { version: 4, counter: 300, previous_counter: 127, ct: 48, pq: '0101ac0200' },
    { version: 4, counter: 0xffffffff, previous_counter: 0xffffffff, ct: 1024, pq: '01018080040500' + 'ab'.repeat(32) },
    { version: 4, counter: 5, previous_counter: 2, ct: 16, pq: '' },
    { version: 3, counter: 0, previous_counter: 0, ct: 16, pq: '' },
    { version: 3, counter: 70000, previous_counter: 16384, ct: 80, pq: '' },
  ];
  cases.forEach((c, i) => {
    const label = `mac case ${i}`;
    const macKey = fixedBytes(`${label} mac key`, 32);
    const ratchet = P.publicOf(fixedPrivate(`${label} ratchet`));
    const sender = P.publicOf(fixedPrivate(`${label} sender identity`));
    const receiver = P.publicOf(fixedPrivate(`${label} receiver identity`));
    const ciphertext = fixedBytes(`${label} ciphertext`, c.ct);
    const pq = Buffer.from(c.pq, 'hex');
    const pk = (b) => P.S.PublicKey.deserialize(P.u8(b));
    const msg = Buffer.from(P.S.SignalMessage._new(c.version, P.u8(macKey), pk(ratchet), c.counter, c.previous_counter,
      P.u8(ciphertext), pk(sender), pk(receiver), P.u8(pq)).serialize());
    eq(macOf(macKey, sender, receiver, msg), msg.subarray(-8), 'MAC of a built message');
    out.macs.push({
      version: c.version, mac_key: hex(macKey), sender_identity: hex(sender), receiver_identity: hex(receiver),
      ratchet_key: hex(ratchet), counter: c.counter, previous_counter: c.previous_counter, ciphertext: hex(ciphertext),
      pq_ratchet: hex(pq), signal_message: hex(msg),
      source: 'libsignal-client SignalMessage._new with these fields and MAC key',
    });
  });
}

(async () => {
  await clientConversation();
  await nodeConversation();
  builtMacs();
  const result = {
    description:
      'Double Ratchet known answers; all bytes hex, EC public keys 0x05 ‖ u. root_steps: HKDF(salt = root_key, ikm = '
      + 'DH(our_ratchet_private, their_ratchet_public), "WhisperRatchet") → new_root_key ‖ chain_key. chain_steps: '
      + 'message_seed = HMAC-SHA256(chain_key, 0x01), next_chain_key = HMAC-SHA256(chain_key, 0x02); index = the chain index of '
      + 'chain_key (the message counter). message_keys: HKDF(salt = spqr_key, or none when null, ikm = message_seed, '
      + '"WhisperMessageKeys") → cipher_key ‖ mac_key ‖ iv; they decrypt (AES-256-CBC, PKCS#7) the ciphertext of signal_message '
      + '(version ‖ protobuf ‖ MAC) to plaintext, and its MAC is HMAC-SHA256(mac_key, sender_identity ‖ receiver_identity ‖ '
      + 'version ‖ protobuf)[..8]. macs: the message libsignal-client builds from these fields and MAC key. Every entry says where '
      + 'the peer produced or confirmed it.',
    generator: 'interop/vectors/ratchet.js',
    libsignal_client: P.CLIENT_VERSION,
    libsignal_node: P.NODE_VERSION,
    ...out,
  };
  process.stdout.write(JSON.stringify(result, null, 1) + '\n');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

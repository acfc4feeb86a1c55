#!/usr/bin/env node
// Generates tests/vectors/sender_keys.json: sender-key (group) known answers.
//
// Run from the repository root after `npm ci` in interop/ (this script installs nothing):
//     node interop/vectors/sender_keys.js > tests/vectors/sender_keys.json
//
// crafted: fixed inputs from labels (signing key, chain key, distribution id, chain id).
//   The distribution message is libsignal-client's own SenderKeyDistributionMessage._new
//   of those inputs. For each message, the chain key at its iteration (HMAC(ck, 0x02)
//   steps), the seed HMAC(ck, 0x01), HKDF(salt none, seed, "WhisperGroup") → IV ‖ key and
//   the AES-256-CBC ciphertext are computed here with node's crypto; the message is the
//   peer's SenderKeyMessage._new of those fields, signed by the peer (so its last 64
//   bytes vary from run to run; everything before them is fixed). A libsignal-client
//   receiver then processes the distribution and decrypts every message: that is the
//   peer confirming the derivation.
// peer_made: a libsignal-client sender with its own random keys: its distribution and
//   messages from groupEncrypt, decrypted by a libsignal-client receiver, and each
//   message's keys re-derived here from the distributed chain key.
'use strict';
const P = require('./peers.js');

const { S, hex, u8, check, eq, hmac, fixedPrivate, fixedBytes, publicOf, aesDecrypt, aesEncrypt } = P;

const ONE = Buffer.from([1]);
const TWO = Buffer.from([2]);

function chainKeyAt(ck, from, to) {
  let k = Buffer.from(ck);
  for (let i = from; i < to; i++) k = hmac(k, TWO);
  return k;
}
function messageKeys(ck) {
  const seed = hmac(ck, ONE);
  const okm = P.hkdf(48, seed, Buffer.from('WhisperGroup'), null);
  return { seed, iv: okm.subarray(0, 16), key: okm.subarray(16, 48) };
}

class SenderKeys extends S.SenderKeyStore {
  constructor() {
    super();
    this.m = new Map();
  }
  async saveSenderKey(a, d, r) {
    this.m.set(`${a.toString()}/${d}`, Buffer.from(r.serialize()));
  }
  async getSenderKey(a, d) {
    const b = this.m.get(`${a.toString()}/${d}`);
    return b ? S.SenderKeyRecord.deserialize(u8(b)) : null;
  }
}

const uuidOf = (b) => {
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

async function crafted(label, start) {
  const priv = fixedPrivate(`sender key signing ${label}`);
  const pub = publicOf(priv);
  const ck = fixedBytes(`sender key chain ${label}`, 32);
  const idBytes = fixedBytes(`sender key distribution id ${label}`, 16);
  const chainId = fixedBytes(`sender key chain id ${label}`, 4).readUInt32LE() >>> 1;
  const dist = uuidOf(idBytes);
  const distribution = Buffer.from(
    S.SenderKeyDistributionMessage._new(3, dist, chainId, start, u8(ck), S.PublicKey.deserialize(u8(pub))).serialize(),
  );
  const sender = S.ProtocolAddress.new('9d0652a4-4a1c-4b28-8b5e-6f5b3c1a0a11', 1);
  const store = new SenderKeys();
  await S.processSenderKeyDistributionMessage(sender, S.SenderKeyDistributionMessage.deserialize(u8(distribution)), store);
  const messages = [];
  const plan = [
    [0, 0],
    [1, 1],
    [2, 16],
    [10, 31],
    [100, 100],
  ];
  // Delivered newest first, so the receiver also stores and uses skipped keys.
  for (const [offset, len] of plan) {
    const n = start + offset;
    const chainKey = chainKeyAt(ck, start, n);
    const { seed, iv, key } = messageKeys(chainKey);
    const plaintext = fixedBytes(`sender key plaintext ${label} ${n}`, len);
    const ciphertext = aesEncrypt(key, iv, plaintext);
    eq(aesDecrypt(key, iv, ciphertext), plaintext, 'aes round trip');
    const body = Buffer.from(
      S.SenderKeyMessage._new(3, dist, chainId, n, u8(ciphertext), S.PrivateKey.deserialize(u8(priv))).serialize(),
    );
    check(S.SenderKeyMessage.deserialize(u8(body)).verifySignature(S.PublicKey.deserialize(u8(pub))), 'signature');
    messages.push({
      iteration: n,
      chain_key: hex(chainKey),
      seed: hex(seed),
      iv: hex(iv),
      cipher_key: hex(key),
      plaintext: hex(plaintext),
      ciphertext: hex(ciphertext),
      message: hex(body),
    });
  }
  for (const m of [...messages].reverse()) {
    const pt = await S.groupDecrypt(sender, store, u8(Buffer.from(m.message, 'hex')));
    eq(pt, Buffer.from(m.plaintext, 'hex'), `peer decrypts iteration ${m.iteration}`);
    m.peer_decrypts = true;
  }
  return {
    label,
    signing_private: hex(priv),
    signing_public: hex(pub),
    distribution_id: hex(idBytes),
    chain_id: chainId,
    iteration: start,
    chain_key: hex(ck),
    distribution: hex(distribution),
    messages,
  };
}

async function peerMade() {
  const dist = '3c4d5e6f-7081-4293-a4b5-c6d7e8f90a1b';
  const alice = S.ProtocolAddress.new('9d0652a4-4a1c-4b28-8b5e-6f5b3c1a0a11', 1);
  const aliceStore = new SenderKeys();
  const bobStore = new SenderKeys();
  const skdm = await S.SenderKeyDistributionMessage.create(alice, dist, aliceStore);
  const distribution = Buffer.from(skdm.serialize());
  await S.processSenderKeyDistributionMessage(alice, S.SenderKeyDistributionMessage.deserialize(u8(distribution)), bobStore);
  const ck = Buffer.from(skdm.chainKey());
  const start = skdm.iteration();
  const messages = [];
  for (let i = 0; i < 20; i++) {
    const plaintext = fixedBytes(`peer made plaintext ${i}`, (i * 7) % 50);
    const m = await S.groupEncrypt(alice, dist, aliceStore, u8(plaintext));
    const body = Buffer.from(m.serialize());
    const parsed = S.SenderKeyMessage.deserialize(u8(body));
    const n = parsed.iteration();
    const { iv, key } = messageKeys(chainKeyAt(ck, start, n));
    eq(aesDecrypt(key, iv, Buffer.from(parsed.ciphertext())), plaintext, `our keys decrypt iteration ${n}`);
    messages.push({ iteration: n, iv: hex(iv), cipher_key: hex(key), plaintext: hex(plaintext), message: hex(body) });
  }
  for (const m of [...messages].reverse()) {
    const pt = await S.groupDecrypt(alice, bobStore, u8(Buffer.from(m.message, 'hex')));
    eq(pt, Buffer.from(m.plaintext, 'hex'), `peer decrypts iteration ${m.iteration}`);
    m.peer_decrypts = true;
  }
  return { distribution_id: dist, distribution: hex(distribution), messages };
}

(async () => {
  const out = {
    description:
      'Sender-key known answers; all bytes hex, EC public keys 0x05 ‖ u. Chain: chain_key(n + 1) = ' +
      'HMAC-SHA256(chain_key(n), 0x02), seed = HMAC-SHA256(chain_key(n), 0x01), HKDF-SHA256(salt none, seed, ' +
      '"WhisperGroup") → iv (16) ‖ cipher_key (32), AES-256-CBC/PKCS#7. distribution = 0x33 ‖ protobuf{1 id, 2 chain ' +
      'id, 3 iteration, 4 chain key, 5 signing key}; message = 0x33 ‖ protobuf{1 id, 2 chain id, 3 iteration, 4 ' +
      'ciphertext} ‖ XEdDSA(signing key, everything before it). crafted: fixed inputs, the peer builds the distribution ' +
      'and signs the messages (signatures vary per run; the bytes before them do not); peer_made: the peer\'s own ' +
      'sender. peer_decrypts: a libsignal-client receiver decrypted it.',
    generator: 'interop/vectors/sender_keys.js',
    libsignal_client: P.CLIENT_VERSION,
    crafted: [await crafted('a', 0), await crafted('b', 7)],
    peer_made: await peerMade(),
  };
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

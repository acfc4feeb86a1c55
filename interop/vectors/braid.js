#!/usr/bin/env node
// Generates tests/vectors/braid_transcript.json: a whole conversation between two real
// libsignal-client 0.103.0 parties, with the ML-KEM braid running through several epochs
// under loss and reordering, recorded so that missive can replay either side byte for
// byte: every pq_ratchet field each side sent and its SPQR message key, every delivery in
// order, and the randomness each side used (its ML-KEM decapsulation key when it sampled
// one, its 32-byte encapsulation randomness when it encapsulated), read from its own
// session record.
//
// Run from the repository root after `(cd interop && npm ci)`:
//     node interop/vectors/braid.js > tests/vectors/braid_transcript.json
//
// Observation only (docs/notes/spqr-braid.md §5 for the record layout, found by decoding
// records generically): no libsignal or SPQR source was read. The script throws rather
// than write vectors if a check fails.
'use strict';
const crypto = require('crypto');
const { S, hex, check, pbDecode, get, parseField, conversation } = require('../experiments/braid/lab');

const VERSION = '0.103.0';
const MESSAGES = 460;
const LOSS = 0.1;
const WINDOW = 2;
const Z32 = Buffer.alloc(32);
const hkdf = (len, ikm, info, salt) => Buffer.from(S.hkdf(len, Buffer.from(ikm), Buffer.from(info), salt ? Buffer.from(salt) : null));
const be32 = n => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const messageKey = (ck, n) => hkdf(64, ck, Buffer.concat([be32(n), Buffer.from('Signal PQ Ratchet V1 Chain Next')]), Z32).subarray(32);

function rng(seed) { let s = seed >>> 0; return () => { s = (s + 0x6D2B79F5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }; }

// The SPQR part (field 15) of the current session in a serialized record.
function spqr(rec) {
  const session = get(pbDecode(rec), 1);
  return pbDecode(get(pbDecode(session), 15));
}
// The braid state: [state number, its common fields].
function braid(rec) {
  const st = pbDecode(get(spqr(rec), 3))[0];
  return [st.n, pbDecode(get(pbDecode(st.v), 1))];
}
// The sending chain of `epoch`: {index, key} (15.2.3 entries, oldest first; the newest
// entry's epoch is 15.2.2 + 1).
function sendChain(rec, epoch, from, authKey) {
  const raw = get(spqr(rec), 2);
  if (!raw) {
    // No chains yet: a party creates them on its first send, from Chain Start (the
    // initiator sends on bytes 32..64, the responder on 64..96).
    check(epoch === 1, 'chains start at epoch 1');
    const start = hkdf(96, authKey, Buffer.from('Signal PQ Ratchet V1 Chain  Start'), Z32);
    return { index: 0, key: from === 'a' ? start.subarray(32, 64) : start.subarray(64, 96) };
  }
  const chains = pbDecode(raw);
  const entries = chains.filter(f => f.n === 3).map(f => pbDecode(f.v));
  const newest = Number(get(chains, 2) || 0n) + 1;
  const e = entries[entries.length - 1 - (newest - epoch)];
  check(e, `chain entry for epoch ${epoch}`);
  const send = pbDecode(get(e, 1));
  return { index: Number(get(send, 1) || 0n), key: get(send, 2) };
}

(async () => {
  const c = await conversation();
  const r = rng(2024);
  // The SPQR auth key: in the initiator's record until it first hears from the peer.
  const authKey = get(pbDecode(get(spqr(c.record('a')), 1)), 1);
  check(authKey && authKey.length === 32, 'auth key');
  const events = [];
  const pending = [];
  let t = 0;
  const epochs = { a: 1, b: 1 };
  const randomness = { dk: 0, m: 0 };
  async function flush(all) {
    pending.sort((x, y) => x.due - y.due || x.n - y.n);
    while (pending.length && (all || pending[0].due <= t)) {
      const p = pending.shift();
      await c.recv(p.m);
      events.push({ deliver: p.n });
    }
  }
  let delivered = 0;
  for (let n = 1; n <= MESSAGES; n++) {
    const from = n % 2 === 1 ? 'a' : 'b';
    const before = Buffer.from(c.record(from));
    const [stateBefore] = braid(before);
    const m = await c.send(from);
    t++;
    const pq = parseField(m.field);
    const chain = sendChain(before, pq.epoch, from, authKey);
    check(chain.index === pq.index - 1, `message ${n}: chain index ${chain.index}, field ${pq.index}`);
    const ev = { send: n, from: from === 'a' ? 'A' : 'B', field: hex(m.field), spqr_key: hex(messageKey(chain.key, pq.index)) };
    const [stateAfter, common] = braid(Buffer.from(c.record(from)));
    if (stateBefore === 1 && stateAfter === 2) {
      check(get(common, 4).length === 2400, 'dk');
      ev.decapsulation_key = hex(get(common, 4));
      randomness.dk++;
    }
    if (stateBefore === 7 && stateAfter === 8) {
      const st = get(common, 4);
      check(st.length === 2080, 'encapsulation state');
      ev.encapsulation_randomness = hex(st.subarray(2048));
      randomness.m++;
    }
    events.push(ev);
    epochs[from] = Math.max(epochs[from], pq.epoch);
    if (n === 1 || r() >= LOSS) {
      pending.push({ due: n === 1 ? t : t + Math.floor(r() * (WINDOW + 1)), n, m });
      delivered++;
    }
    await flush(false);
  }
  await flush(true);
  check(epochs.a >= 5 && epochs.b >= 5, `epochs ${JSON.stringify(epochs)}`);
  check(randomness.dk >= 4 && randomness.m >= 4, `randomness recorded ${JSON.stringify(randomness)}`);
  const out = {
    description: 'ML-KEM braid transcript between two libsignal-client parties (A = PQXDH initiator): ' +
      `${MESSAGES} ping-pong messages, ${LOSS * 100} % lost, the rest delivered up to ${WINDOW} sends late. ` +
      'Events in order: {send, from, field, spqr_key, decapsulation_key? (the sender sampled this ML-KEM-768 ' +
      'key pair for this message), encapsulation_randomness? (the sender encapsulated with this m for this ' +
      'message)} and {deliver: the send number}. Keys and randomness were read from the senders\' records.',
    generator: 'interop/vectors/braid.js',
    libsignal_client: VERSION,
    auth_key: hex(authKey),
    epochs_reached: epochs,
    delivered,
    events,
  };
  process.stdout.write(JSON.stringify(out, null, 1) + '\n');
})().catch(e => { console.error(e); process.exit(1); });

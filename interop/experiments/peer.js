'use strict';
// Helpers for the experiments behind OBSERVED.md: start a driver, call it, and read
// and rewrite message bytes. Run the experiments from anywhere after `npm ci` in interop/.

const { spawn } = require('child_process');
const path = require('path');
const readline = require('readline');

function startPeer(kind) {
  const script = path.join(__dirname, '..', 'driver', kind === 'legacy' ? 'legacy.js' : 'client.js');
  const child = spawn('node', [script], { stdio: ['pipe', 'pipe', 'ignore'] });
  const waiting = new Map();
  let next = 1;
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    const r = JSON.parse(line);
    const w = waiting.get(r.id);
    waiting.delete(r.id);
    if (w) w(r);
  });
  // Resolves to the whole response; `call` throws on ok:false, `attempt` does not.
  const attempt = (cmd, args = {}) =>
    new Promise((resolve) => {
      const id = next++;
      waiting.set(id, resolve);
      child.stdin.write(JSON.stringify({ id, cmd, ...args }) + '\n');
    });
  const call = async (cmd, args = {}) => {
    const r = await attempt(cmd, args);
    if (!r.ok) throw new Error(`${cmd} failed: ${r.error} ${JSON.stringify(r.log || [])}`);
    return r;
  };
  const close = () => child.stdin.end();
  return { call, attempt, close };
}

// Sets up `a` → `b` (both in `peer`) from b's bundle and returns a tiny conversation API.
async function pair(peer, aName, bName, { aDev = 1, bDev = 1, oneTimePrekey = true } = {}) {
  await peer.call('new_party', { party: 'a', name: aName, device_id: aDev, registration_id: 111 });
  await peer.call('new_party', { party: 'b', name: bName, device_id: bDev, registration_id: 222 });
  const bundle = await peer.call('make_bundle', { party: 'b', one_time_prekey: oneTimePrekey });
  await peer.call('process_bundle', { party: 'a', remote_name: bName, remote_device: bDev, bundle });
  const who = { a: [bName, bDev], b: [aName, aDev] };
  const other = { a: 'b', b: 'a' };
  const send = async (from, text, extra = {}) =>
    peer.call('encrypt', {
      party: from,
      remote_name: who[from][0],
      remote_device: who[from][1],
      plaintext: Buffer.from(text).toString('hex'),
      ...extra,
    });
  const recv = async (to, msg, extra = {}) =>
    peer.attempt('decrypt', {
      party: to,
      remote_name: who[to][0],
      remote_device: who[to][1],
      type: msg.type,
      body: msg.body,
      ...extra,
    });
  // send + receive, throwing if the receiver refuses
  const deliver = async (from, text) => {
    const m = await send(from, text);
    const r = await recv(other[from], m);
    if (!r.ok) throw new Error(`decrypt failed: ${r.error}`);
    return m;
  };
  const snapshot = async () => ({
    a: (await peer.call('session_record', { party: 'a', remote_name: bName, remote_device: bDev })).record,
    b: (await peer.call('session_record', { party: 'b', remote_name: aName, remote_device: aDev })).record,
  });
  const restore = async (s) => {
    await peer.call('set_session_record', { party: 'a', remote_name: bName, remote_device: bDev, record: s.a });
    await peer.call('set_session_record', { party: 'b', remote_name: aName, remote_device: aDev, record: s.b });
  };
  return { bundle, send, recv, deliver, snapshot, restore, who };
}

// Field map of a message body; for a prekey message also of its inner SignalMessage.
async function fields(peer, body, kind = 'signal') {
  const w = await peer.call('wire_fields', { body, kind });
  const f = {};
  for (const x of w.fields) f[x.field] = x.value;
  return { version: w.version, f, mac: w.trailer };
}

async function signalFields(peer, msg) {
  if (msg.type === 3) {
    const outer = await fields(peer, msg.body, 'prekey');
    const inner = await fields(peer, outer.f[4], 'signal');
    return { outer, inner };
  }
  return { outer: null, inner: await fields(peer, msg.body, 'signal') };
}

// Protobuf writing (varint and length-delimited fields only), for rewriting messages.
function varint(n) {
  const out = [];
  let v = BigInt(n);
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}

function encodeFields(list) {
  const parts = [];
  for (const { field, wire, value } of list) {
    parts.push(varint((field << 3) | wire));
    if (wire === 0) parts.push(varint(value));
    else {
      const b = Buffer.from(value, 'hex');
      parts.push(varint(b.length), b);
    }
  }
  return Buffer.concat(parts);
}

function flipByte(hexStr, index) {
  const b = Buffer.from(hexStr, 'hex');
  const i = index < 0 ? b.length + index : index;
  b[i] ^= 0x01;
  return b.toString('hex');
}

module.exports = { startPeer, pair, fields, signalFields, encodeFields, flipByte };

'use strict';
// Shared plumbing for the peer drivers: the JSON-lines loop, hex helpers and a
// tiny protobuf field reader used to look at wire bytes independently of the peers.
//
// Protocol: one JSON object per line on stdin, one per line on stdout.
//   request:  {"id": N, "cmd": "...", ...args}
//   response: {"id": N, "ok": true, ...results}
//           | {"id": N, "ok": false, "error": "<ErrorClass>: <message>", "code"?: "<peer code>"}
//   Either may carry "log": [lines the peer printed while serving the request].
// Requests run strictly one after another, in arrival order. Bytes are lowercase hex.
// Nothing but responses is written to stdout: console.log is sent to stderr.

const readline = require('readline');

// Whatever a peer prints while serving a request is also returned, as `log`, in that
// request's response (libsignal-node reports the underlying cause of a failed
// decryption only there).
const util = require('util');
let captured = null;
const toStderr = (...a) => {
  const line = util.format(...a);
  process.stderr.write(line + '\n');
  if (captured !== null && captured.length < 50) captured.push(line.split('\n')[0].slice(0, 2000));
};
console.log = toStderr;
console.info = toStderr;
console.debug = toStderr;
console.warn = toStderr;
console.error = toStderr;

class RequestError extends Error {
  constructor(message) {
    super(message);
    this.name = 'RequestError';
  }
}

function hex(bytes) {
  if (bytes === null || bytes === undefined) return null;
  return Buffer.from(bytes).toString('hex');
}

function bytes(args, key, { optional = false } = {}) {
  const v = args[key];
  if (v === undefined || v === null) {
    if (optional) return null;
    throw new RequestError(`missing argument '${key}'`);
  }
  if (typeof v !== 'string' || v.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(v)) {
    throw new RequestError(`argument '${key}' is not a hex string`);
  }
  // A fresh, exactly-sized ArrayBuffer: libsignal-client wants Uint8Array<ArrayBuffer>.
  const b = Buffer.from(v, 'hex');
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

function str(args, key, { optional = false } = {}) {
  const v = args[key];
  if (v === undefined || v === null) {
    if (optional) return null;
    throw new RequestError(`missing argument '${key}'`);
  }
  if (typeof v !== 'string') throw new RequestError(`argument '${key}' is not a string`);
  return v;
}

function int(args, key, { optional = false } = {}) {
  const v = args[key];
  if (v === undefined || v === null) {
    if (optional) return null;
    throw new RequestError(`missing argument '${key}'`);
  }
  if (!Number.isInteger(v) || v < 0) {
    throw new RequestError(`argument '${key}' is not a non-negative integer`);
  }
  return v;
}

function bool(args, key, dflt) {
  const v = args[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'boolean') throw new RequestError(`argument '${key}' is not a boolean`);
  return v;
}

// Protobuf wire format, written from the encoding spec: varint (0), 64-bit (1),
// length-delimited (2), 32-bit (5). Returns [{field, wire, value}] with bytes as hex
// and varints as numbers (or decimal strings above 2^53).
function readVarint(buf, pos) {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new RequestError('truncated varint');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) break;
    shift += 7n;
    if (shift > 63n) throw new RequestError('varint too long');
  }
  return [result, pos];
}

function protobufFields(buf) {
  const out = [];
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let value;
    if (wire === 0) {
      let v;
      [v, pos] = readVarint(buf, pos);
      value = v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
    } else if (wire === 2) {
      let len;
      [len, pos] = readVarint(buf, pos);
      const end = pos + Number(len);
      if (end > buf.length) throw new RequestError('truncated length-delimited field');
      value = hex(buf.subarray(pos, end));
      pos = end;
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (pos + n > buf.length) throw new RequestError('truncated fixed field');
      value = hex(buf.subarray(pos, pos + n));
      pos += n;
    } else {
      throw new RequestError(`unsupported wire type ${wire}`);
    }
    out.push({ field, wire, value });
  }
  return out;
}

// Split a serialized message into version byte, protobuf fields and (for a
// SignalMessage) the trailing 8-byte MAC.
function wireFields(args) {
  const body = bytes(args, 'body');
  const kind = str(args, 'kind', { optional: true }) || 'signal';
  if (body.length < 1) throw new RequestError('empty body');
  let macLen;
  if (kind === 'signal') macLen = 8;
  else if (kind === 'prekey' || kind === 'sender_key_distribution') macLen = 0;
  else if (kind === 'sender_key') macLen = 64;
  else throw new RequestError(`unknown kind '${kind}'`);
  if (body.length < 1 + macLen) throw new RequestError('body too short');
  const proto = Buffer.from(body.subarray(1, body.length - macLen));
  return {
    version: body[0],
    fields: protobufFields(proto),
    trailer: macLen ? hex(body.subarray(body.length - macLen)) : null,
  };
}

// Decode a SPQR pq_ratchet field as SIGNAL-WIRE.md describes it:
// 0x01 ‖ varint epoch ‖ varint index ‖ u8 type [‖ varint chunk index ‖ 32-byte chunk].
const SPQR_TYPES = ['None', 'Hdr', 'Ek', 'EkCt1Ack', 'Ct1Ack', 'Ct1', 'Ct2'];
function decodeSpqr(buf) {
  if (buf.length === 0) return { empty: true };
  let pos = 0;
  const out = { prefix: buf[pos++] };
  let v;
  [v, pos] = readVarint(buf, pos);
  out.epoch = Number(v);
  [v, pos] = readVarint(buf, pos);
  out.index = Number(v);
  if (pos >= buf.length) throw new RequestError('truncated SPQR type');
  out.type_byte = buf[pos++];
  out.type = SPQR_TYPES[out.type_byte] || 'unknown';
  if (pos < buf.length) {
    [v, pos] = readVarint(buf, pos);
    out.chunk_index = Number(v);
    out.chunk = hex(buf.subarray(pos, Math.min(pos + 32, buf.length)));
    pos = Math.min(pos + 32, buf.length);
  }
  out.trailing = buf.length - pos;
  out.length = buf.length;
  return out;
}

function errorText(e) {
  if (e instanceof Error) {
    const name = e.name && e.name !== 'Error' ? e.name : e.constructor.name;
    return `${name}: ${e.message}`;
  }
  return `thrown: ${String(e)}`;
}

// Runs the JSON-lines loop. `handlers` maps command names to (args) => result | Promise;
// `codeName` turns a peer error's `code` property into the string reported as `code`.
function serve(handlers, { codeName = (c) => c } = {}) {
  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  let chain = Promise.resolve();
  const write = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  rl.on('line', (line) => {
    if (line.trim() === '') return;
    chain = chain.then(async () => {
      let req;
      try {
        req = JSON.parse(line);
      } catch (e) {
        write({ id: null, ok: false, error: `RequestError: bad JSON: ${e.message}` });
        return;
      }
      const id = req && req.id !== undefined ? req.id : null;
      captured = [];
      try {
        if (typeof req !== 'object' || req === null || Array.isArray(req)) {
          throw new RequestError('request is not a JSON object');
        }
        const h = Object.prototype.hasOwnProperty.call(handlers, req.cmd) ? handlers[req.cmd] : null;
        if (!h) throw new RequestError(`unknown command '${req.cmd}'`);
        const result = (await h(req)) || {};
        const resp = { id, ok: true, ...result };
        if (captured.length) resp.log = captured;
        write(resp);
      } catch (e) {
        const resp = { id, ok: false, error: errorText(e) };
        if (e && e.code !== undefined && e.code !== null) resp.code = codeName(e.code);
        if (captured.length) resp.log = captured;
        write(resp);
      } finally {
        captured = null;
      }
    });
  });
  rl.on('close', () => {
    chain.then(() => process.exit(0));
  });
  process.on('uncaughtException', (e) => console.error('uncaught:', e));
  process.on('unhandledRejection', (e) => console.error('unhandled rejection:', e));
}

module.exports = {
  RequestError,
  hex,
  bytes,
  str,
  int,
  bool,
  protobufFields,
  wireFields,
  decodeSpqr,
  serve,
};

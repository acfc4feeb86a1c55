'use strict';
// Driver for `libsignal` 6.0.0 (libsignal-node: v3, X3DH + Double Ratchet, 1:1 only).
// Out-of-process test oracle only: missive never links or ships this peer.
//
// JSON lines on stdin/stdout, see common.js. Bytes are lowercase hex. A "party" is one
// local user/device with its own in-memory storage object; one process holds any number.
// libsignal-node's ProtocolAddress refuses names containing '.', so names must not have one.
//
// Parties and sessions (same names and shapes as client.js, without Kyber)
//   new_party {party, name, device_id, registration_id?, identity_private?}
//       -> {identity_key (33 B), identity_private (32 B), registration_id}
//   make_bundle {party, one_time_prekey: bool}
//       -> {registration_id, device_id, prekey_id|null, prekey|null, signed_prekey_id,
//           signed_prekey, signed_prekey_signature, identity_key}
//       Fresh keys and ids on every call (prekeys from 1001, signed prekeys from 2001).
//   process_bundle {party, remote_name, remote_device, bundle} -> {}
//       Kyber fields in `bundle`, if any, are ignored (this peer has no Kyber).
//   encrypt {party, remote_name, remote_device, plaintext}
//       -> {type: 2 | 3, body, native_type: 1 | 3}
//       libsignal-node itself reports 1 for a whisper message; `type` is libsignal's
//       CiphertextMessageType numbering (Whisper 2, PreKey 3) as in client.js.
//   encrypt_discard {party, remote_name, remote_device, count, plaintext?} -> {}
//       encrypts `count` messages and throws them away (to open a gap in the chain)
//   decrypt {party, remote_name, remote_device, type: 1 | 2 | 3, body} -> {plaintext}
//   session_record {party, remote_name, remote_device} -> {record: hex|null}
//       libsignal-node's record serializes to a JSON object: `record` is its UTF-8 JSON text.
//   set_session_record {party, remote_name, remote_device, record: hex|null} -> {}
//   has_session {party, remote_name, remote_device} -> {has_session} (an open session exists)
//   identity {party, remote_name, remote_device?} -> {identity_key: hex|null}
//   set_identity {party, remote_name, identity_key} -> {}
//   set_trust {party, mode: "tofu" | "always"} -> {}   (default tofu)
//   prekey_ids {party} -> {prekeys: [id], signed_prekeys: [id]}
//   storage_log {party, clear?: bool} -> {calls: ["method(args)", ...]}
//       every storage callback the peer made, for observing its behaviour
//
// Crypto oracles
//   generate_keypair {} -> {public (33 B), private (32 B)}
//   public_from_private {private} -> {public}
//   agree {private, public} -> {shared}
//   xeddsa_sign {private, message} -> {signature}
//   xeddsa_verify {public, message, signature} -> {valid}
//   derive_secrets {ikm, salt, info, chunks?} -> {okm}  (libsignal-node's HKDF, 32-byte chunks)
//   wire_fields {body, kind?} -> {version, fields, trailer}   (driver's own decoder)
//   ping {} -> {peer: "libsignal-node", version}
//
// Identity trust: libsignal-node never calls a "save identity" hook; it only asks
// isTrustedIdentity(identifier, key), with identifier sometimes "name" and sometimes
// "name.device", and for a prekey message it asks before verifying the MAC. This
// storage keys identities by name and records a first-seen identity only when the
// request that showed it succeeds (trust on first use, not on first forgery).

const path = require('path');
const L = require('libsignal');
const { RequestError, hex, bytes, str, int, bool, wireFields, serve } = require('./common');

const PEER_VERSION = require(path.join(path.dirname(require.resolve('libsignal')), 'package.json')).version;

const short = (v) =>
  v instanceof Uint8Array ? hex(v) : v && typeof v === 'object' ? v.constructor.name : JSON.stringify(v);

class Party {
  constructor(name, deviceId, registrationId, identityPrivate) {
    if (identityPrivate) {
      const priv = Buffer.from(identityPrivate);
      this.identity = { pubKey: Buffer.from(L.curve.getPublicFromPrivateKey(priv)), privKey: priv };
    } else {
      this.identity = L.keyhelper.generateIdentityKeyPair();
    }
    this.name = name;
    this.deviceId = deviceId;
    this.registrationId = registrationId;
    this.trust = 'tofu';
    this.identities = new Map(); // name -> Buffer (33 B)
    this.pendingIdentities = new Map(); // first seen during the current request
    this.sessions = new Map(); // "name.device" -> JSON text
    this.prekeys = new Map(); // id -> {pubKey, privKey}
    this.signedPrekeys = new Map(); // id -> {pubKey, privKey}
    this.nextPrekeyId = 1001;
    this.nextSignedId = 2001;
    this.log = [];
    const p = this;
    const impl = {
      async loadSession(id) {
        const s = p.sessions.get(id);
        return s ? L.SessionRecord.deserialize(JSON.parse(s)) : undefined;
      },
      async storeSession(id, record) {
        p.sessions.set(id, JSON.stringify(record.serialize()));
      },
      isTrustedIdentity(identifier, key) {
        const name = String(identifier).split('.')[0];
        const k = Buffer.from(key);
        const old = p.identities.get(name);
        if (!old) {
          // Asked before the message is verified: remember only once the request succeeds.
          p.pendingIdentities.set(name, k);
          return true;
        }
        return p.trust === 'always' || old.equals(k);
      },
      async loadPreKey(id) {
        return p.prekeys.get(Number(id));
      },
      removePreKey(id) {
        p.prekeys.delete(Number(id));
      },
      loadSignedPreKey(id) {
        return p.signedPrekeys.get(Number(id));
      },
      getOurRegistrationId() {
        return p.registrationId;
      },
      getOurIdentity() {
        return p.identity;
      },
    };
    this.storage = new Proxy(impl, {
      get(target, prop) {
        const f = target[prop];
        if (typeof prop === 'symbol' || typeof f !== 'function') return f;
        return (...args) => {
          p.log.push(`${prop}(${args.map(short).join(', ')})`);
          if (p.log.length > 1000) p.log.shift();
          return f(...args);
        };
      },
    });
  }
}

const parties = new Map();

function party(args) {
  const name = str(args, 'party');
  const p = parties.get(name);
  if (!p) throw new RequestError(`unknown party '${name}'`);
  return p;
}

function remote(args) {
  return new L.ProtocolAddress(str(args, 'remote_name'), int(args, 'remote_device'));
}

const buf = (u8) => Buffer.from(u8);

const handlers = {
  ping: () => ({ peer: 'libsignal-node', version: PEER_VERSION }),

  new_party: (a) => {
    const id = str(a, 'party');
    if (parties.has(id)) throw new RequestError(`party '${id}' already exists`);
    const reg = int(a, 'registration_id', { optional: true });
    const name = str(a, 'name');
    const dev = int(a, 'device_id');
    new L.ProtocolAddress(name, dev); // refuse names this peer cannot address
    const p = new Party(
      name,
      dev,
      reg === null ? L.keyhelper.generateRegistrationId() : reg,
      bytes(a, 'identity_private', { optional: true }),
    );
    parties.set(id, p);
    return {
      identity_key: hex(p.identity.pubKey),
      identity_private: hex(p.identity.privKey),
      registration_id: p.registrationId,
    };
  },

  make_bundle: (a) => {
    const p = party(a);
    let prekeyId = null;
    let prekey = null;
    if (bool(a, 'one_time_prekey', true)) {
      prekeyId = p.nextPrekeyId++;
      const k = L.keyhelper.generatePreKey(prekeyId);
      p.prekeys.set(prekeyId, k.keyPair);
      prekey = k.keyPair.pubKey;
    }
    const signedId = p.nextSignedId++;
    const s = L.keyhelper.generateSignedPreKey(p.identity, signedId);
    p.signedPrekeys.set(signedId, s.keyPair);
    return {
      registration_id: p.registrationId,
      device_id: p.deviceId,
      prekey_id: prekeyId,
      prekey: hex(prekey),
      signed_prekey_id: signedId,
      signed_prekey: hex(s.keyPair.pubKey),
      signed_prekey_signature: hex(s.signature),
      identity_key: hex(p.identity.pubKey),
    };
  },

  process_bundle: async (a) => {
    const p = party(a);
    const b = a.bundle;
    if (typeof b !== 'object' || b === null) throw new RequestError("missing argument 'bundle'");
    const prekeyId = int(b, 'prekey_id', { optional: true });
    const prekey = bytes(b, 'prekey', { optional: true });
    const device = {
      registrationId: int(b, 'registration_id'),
      identityKey: buf(bytes(b, 'identity_key')),
      signedPreKey: {
        keyId: int(b, 'signed_prekey_id'),
        publicKey: buf(bytes(b, 'signed_prekey')),
        signature: buf(bytes(b, 'signed_prekey_signature')),
      },
    };
    if (prekey !== null) device.preKey = { keyId: prekeyId, publicKey: buf(prekey) };
    await new L.SessionBuilder(p.storage, remote(a)).initOutgoing(device);
    return {};
  },

  encrypt: async (a) => {
    const p = party(a);
    const m = await new L.SessionCipher(p.storage, remote(a)).encrypt(buf(bytes(a, 'plaintext')));
    return { type: m.type === 1 ? 2 : m.type, native_type: m.type, body: hex(Buffer.from(m.body, 'binary')) };
  },

  encrypt_discard: async (a) => {
    const p = party(a);
    const count = int(a, 'count');
    const pt = buf(bytes(a, 'plaintext', { optional: true }) || new Uint8Array(0));
    const cipher = new L.SessionCipher(p.storage, remote(a));
    for (let i = 0; i < count; i++) await cipher.encrypt(pt);
    p.log = [];
    return {};
  },

  decrypt: async (a) => {
    const p = party(a);
    const type = int(a, 'type');
    const body = buf(bytes(a, 'body'));
    const cipher = new L.SessionCipher(p.storage, remote(a));
    let pt;
    if (type === 3) pt = await cipher.decryptPreKeyWhisperMessage(body);
    else if (type === 1 || type === 2) pt = await cipher.decryptWhisperMessage(body);
    else throw new RequestError(`unsupported message type ${type}`);
    return { plaintext: hex(pt) };
  },

  session_record: (a) => {
    const p = party(a);
    const s = p.sessions.get(remote(a).toString());
    return { record: s ? hex(Buffer.from(s, 'utf8')) : null };
  },

  set_session_record: (a) => {
    const p = party(a);
    const rec = bytes(a, 'record', { optional: true });
    const k = remote(a).toString();
    if (rec === null) {
      p.sessions.delete(k);
    } else {
      const text = Buffer.from(rec).toString('utf8');
      L.SessionRecord.deserialize(JSON.parse(text)); // refuse what the peer cannot read
      p.sessions.set(k, text);
    }
    return {};
  },

  has_session: (a) => {
    const p = party(a);
    const s = p.sessions.get(remote(a).toString());
    return { has_session: !!s && L.SessionRecord.deserialize(JSON.parse(s)).haveOpenSession() };
  },

  identity: (a) => {
    const p = party(a);
    return { identity_key: hex(p.identities.get(str(a, 'remote_name')) || null) };
  },

  set_identity: (a) => {
    const p = party(a);
    p.identities.set(str(a, 'remote_name'), buf(bytes(a, 'identity_key')));
    return {};
  },

  set_trust: (a) => {
    const p = party(a);
    const mode = str(a, 'mode');
    if (mode !== 'tofu' && mode !== 'always') throw new RequestError(`unknown trust mode '${mode}'`);
    p.trust = mode;
    return {};
  },

  prekey_ids: (a) => {
    const p = party(a);
    return { prekeys: [...p.prekeys.keys()], signed_prekeys: [...p.signedPrekeys.keys()] };
  },

  storage_log: (a) => {
    const p = party(a);
    const calls = p.log.slice();
    if (bool(a, 'clear', false)) p.log = [];
    return { calls };
  },

  generate_keypair: () => {
    const k = L.curve.generateKeyPair();
    return { public: hex(k.pubKey), private: hex(k.privKey) };
  },

  public_from_private: (a) => ({ public: hex(L.curve.getPublicFromPrivateKey(buf(bytes(a, 'private')))) }),

  agree: (a) => ({
    shared: hex(L.curve.calculateAgreement(buf(bytes(a, 'public')), buf(bytes(a, 'private')))),
  }),

  xeddsa_sign: (a) => ({
    signature: hex(L.curve.calculateSignature(buf(bytes(a, 'private')), buf(bytes(a, 'message')))),
  }),

  xeddsa_verify: (a) => ({
    valid: !!L.curve.verifySignature(buf(bytes(a, 'public')), buf(bytes(a, 'message')), buf(bytes(a, 'signature'))),
  }),

  derive_secrets: (a) => {
    const chunks = int(a, 'chunks', { optional: true });
    const out = L.crypto.deriveSecrets(
      buf(bytes(a, 'ikm')),
      buf(bytes(a, 'salt')),
      buf(bytes(a, 'info')),
      ...(chunks === null ? [] : [chunks]),
    );
    return { okm: hex(Buffer.concat(out.map(buf))) };
  },

  wire_fields: (a) => wireFields(a),
};

// Commit first-seen identities after a successful request; forget them after a failure.
for (const name of ['process_bundle', 'encrypt', 'decrypt']) {
  const h = handlers[name];
  handlers[name] = async (a) => {
    const p = parties.get(a.party);
    try {
      const r = await h(a);
      if (p) for (const [k, v] of p.pendingIdentities) if (!p.identities.has(k)) p.identities.set(k, v);
      return r;
    } finally {
      if (p) p.pendingIdentities.clear();
    }
  };
}

serve(handlers);

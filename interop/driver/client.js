'use strict';
// Driver for @signalapp/libsignal-client (v4: PQXDH, Double Ratchet with SPQR, sender keys).
// Out-of-process test oracle only: missive never links or ships this peer.
//
// JSON lines on stdin/stdout, see common.js. Bytes are lowercase hex. A "party" is one
// local user/device with its own in-memory stores; one process holds any number of them.
// Addresses are (name, device); `name` is passed to ProtocolAddress as is (it may or may
// not be a ServiceId string such as an ACI uuid).
//
// Parties and sessions
//   new_party {party, name, device_id, registration_id?, identity_private?}
//       -> {identity_key (33 B), identity_private (32 B), registration_id}
//   make_bundle {party, one_time_prekey: bool, one_time_kyber?: bool}
//       -> {registration_id, device_id, prekey_id|null, prekey|null, signed_prekey_id,
//           signed_prekey, signed_prekey_signature, identity_key, kyber_prekey_id,
//           kyber_prekey, kyber_prekey_signature}
//       Fresh keys and fresh ids on every call (prekeys from 1001, signed from 2001,
//       Kyber from 3001). Kyber prekeys are kept after use (last-resort style) unless
//       one_time_kyber; (kyber id, signed id, base key) triples are refused on reuse.
//   process_bundle {party, remote_name, remote_device, bundle, now_ms?, local_name?, local_device?} -> {}
//   encrypt {party, remote_name, remote_device, plaintext, now_ms?, local_name?, local_device?}
//       -> {type: 2 | 3, body}
//   encrypt_discard {party, remote_name, remote_device, count, plaintext?, now_ms?} -> {}
//       encrypts `count` messages and throws them away (to open a gap in the chain)
//   decrypt {party, remote_name, remote_device, type: 2 | 3, body, local_name?, local_device?}
//       -> {plaintext}
//   (local_name/local_device override the party's own address for that one call: used to
//    provoke mismatched `addresses`.)
//   session_record {party, remote_name, remote_device} -> {record: hex|null}
//   set_session_record {party, remote_name, remote_device, record: hex|null} -> {}
//   has_session {party, remote_name, remote_device, now_ms?} -> {has_session}
//       (a record exists and its current state can send)
//   session_info {party, remote_name, remote_device} -> {exists, has_current_state,
//       local_registration_id|null, remote_registration_id|null}
//   archive_session {party, remote_name, remote_device} -> {}
//   identity {party, remote_name, remote_device} -> {identity_key: hex|null}
//   set_identity {party, remote_name, remote_device, identity_key} -> {}
//   set_trust {party, mode: "tofu" | "always"} -> {}   (default tofu)
//   kyber_used {party} -> {used: [{kyber_prekey_id, signed_prekey_id, base_key}]}
//   prekey_ids {party} -> {prekeys: [id], signed_prekeys: [id], kyber_prekeys: [id]}
//
// Sender keys (groups)
//   sk_distribution {party, distribution_id (uuid string)} -> {message}
//   sk_process {party, sender_name, sender_device, message} -> {}
//   group_encrypt {party, distribution_id, plaintext} -> {type: 7, body}
//   group_decrypt {party, sender_name, sender_device, body} -> {plaintext}
//   group_encrypt_discard {party, distribution_id, count} -> {}
//       encrypts `count` group messages and throws them away (to skip iterations)
//   sk_record {party, sender_name, sender_device, distribution_id} -> {record: hex|null}
//   set_sk_record {party, sender_name, sender_device, distribution_id, record: hex|null} -> {}
//       (the party's own sending record is the one stored under its own address; setting
//        it to null makes the next sk_distribution start a new chain: rotation)
//   sk_distribution_new {version, distribution_id, chain_id, iteration, chain_key, signing_key}
//       -> {message}   (SenderKeyDistributionMessage._new: any field values)
//   sk_message_new {version, distribution_id, chain_id, iteration, ciphertext, signing_private}
//       -> {body}      (SenderKeyMessage._new: signs whatever it is given)
//   parse_sk_distribution {message} -> {distribution_id, chain_id, iteration, chain_key}
//   parse_sk_message {body, signing_key?} -> {distribution_id, chain_id, iteration,
//       ciphertext, valid: bool|null}
//
// Sealed sender (v1 and v2). Certificates are made by the caller (missive plays the
// server); the peer only validates them against `trust_root`.
//   ss_usmc {party, remote_name, remote_device, plaintext, sender_certificate,
//       content_hint?, group_id?} -> {usmc, type}
//       signalEncrypt, then UnidentifiedSenderMessageContent.new around the message
//   ss_group_usmc {party, distribution_id, plaintext, sender_certificate, content_hint?,
//       group_id?} -> {usmc}     groupEncrypt, then the content around it
//   ss_seal_v1 {party, remote_name, remote_device, usmc} -> {body}   sealedSenderEncrypt
//   ss_seal_v2 {party, recipients: [{name, device}], excluded?: [service id], usmc}
//       -> {body}                sealedSenderMultiRecipientEncrypt (the sent message)
//   ss_v2_parse {sent} -> {recipients: [{service_id, device_ids, registration_ids}],
//       excluded: [service id]}  SealedSenderMultiRecipientMessage (the server's view)
//   ss_v2_cut {sent, service_id} -> {received}   messageForRecipient (the server's cut)
//   ss_decrypt {party, body, trust_root, now_ms} -> {sender_uuid, sender_device,
//       msg_type, content_hint, group_id|null, plaintext}
//       1:1 contents: sealedSenderDecryptMessage (validation and session decryption in
//       one); sender-key contents: sealedSenderDecryptToUsmc, SenderCertificate.validate,
//       then groupDecrypt from the certificate's address, as an app does
//
// Crypto and wire oracles
//   generate_keypair {} -> {public (33 B), private (32 B)}
//   public_from_private {private} -> {public}
//   agree {private, public} -> {shared}
//   xeddsa_sign {private, message} -> {signature}
//   xeddsa_verify {public, message, signature} -> {valid}
//   hkdf {ikm, salt?: hex|null, info, length} -> {okm}
//   kem_generate {} -> {public (0x08 ‖ 1568), secret (0x08 ‖ 3168)}
//   parse_signal_message {body} -> {version, counter, pq_ratchet, ciphertext}
//   parse_prekey_message {body} -> {version, registration_id, prekey_id|null, signed_prekey_id}
//   signal_message_new {version, mac_key, ratchet_key, counter, previous_counter, ciphertext,
//       sender_identity, receiver_identity, pq_ratchet?} -> {body}
//   fingerprint {iterations, version, local_id, local_key, remote_id, remote_key}
//       -> {displayable, scannable}
//   fingerprint_compare {ours, theirs} -> {matches}
//       ScannableFingerprint.compare: `ours` is this side's scannable encoding, `theirs`
//       the scanned one (any bytes); a version mismatch or unparsable input is an error
//   wire_fields {body, kind?: "signal"|"prekey"|"sender_key"|"sender_key_distribution"}
//       -> {version, fields: [{field, wire, value}], trailer}   (driver's own decoder)
//   decode_spqr {pq_ratchet} -> {prefix, epoch, index, type_byte, type, chunk_index?, chunk?, trailing, length}
//   deterministic_rng {} -> {}   calls the native TESTING_EnableDeterministicRngForTesting
//   ping {} -> {peer: "libsignal-client", version}

const path = require('path');
const SignalClient = require('@signalapp/libsignal-client');
const {
  RequestError,
  hex,
  bytes,
  str,
  int,
  bool,
  wireFields,
  decodeSpqr,
  serve,
} = require('./common');

const {
  ProtocolAddress,
  PrivateKey,
  PublicKey,
  IdentityKeyPair,
  KEMKeyPair,
  PreKeyRecord,
  SignedPreKeyRecord,
  KyberPreKeyRecord,
  PreKeyBundle,
  KEMPublicKey,
  SessionRecord,
  SignalMessage,
  PreKeySignalMessage,
  SenderKeyRecord,
  SenderKeyDistributionMessage,
  SenderKeyMessage,
  Fingerprint,
  ScannableFingerprint,
  IdentityChange,
  ErrorCode,
} = SignalClient;

// The peer's own log (warnings and up) goes to stderr and so into each response's `log`;
// it often says why a decryption failed where the error itself is generic.
SignalClient.initLogger(SignalClient.LogLevel.Info, (level, target, _file, _line, message) => {
  console.error(`[libsignal ${SignalClient.LogLevel[level]}] ${target}: ${message}`);
});

const SealedSenderMultiRecipientMessage = require(
  '@signalapp/libsignal-client/dist/SealedSenderMultiRecipientMessage.js',
).default;

const PEER_VERSION = require(
  path.join(path.dirname(require.resolve('@signalapp/libsignal-client')), '..', 'package.json'),
).version;

const addrKey = (addr) => `${addr.name()}.${addr.deviceId()}`;

class Party {
  constructor(name, deviceId, registrationId, identityPrivate) {
    if (identityPrivate) {
      const priv = PrivateKey.deserialize(identityPrivate);
      this.identity = new IdentityKeyPair(priv.getPublicKey(), priv);
    } else {
      this.identity = IdentityKeyPair.generate();
    }
    this.name = name;
    this.deviceId = deviceId;
    this.address = ProtocolAddress.new(name, deviceId);
    this.registrationId = registrationId;
    this.trust = 'tofu';
    this.identities = new Map(); // addrKey -> serialized PublicKey (Buffer)
    this.sessions = new Map(); // addrKey -> serialized SessionRecord (Buffer)
    this.prekeys = new Map(); // id -> PreKeyRecord
    this.signedPrekeys = new Map(); // id -> SignedPreKeyRecord
    this.kyberPrekeys = new Map(); // id -> {record, oneTime}
    this.kyberUsed = []; // {kyber_prekey_id, signed_prekey_id, base_key}
    this.senderKeys = new Map(); // `${addrKey}/${distributionId}` -> serialized SenderKeyRecord
    this.nextPrekeyId = 1001;
    this.nextSignedId = 2001;
    this.nextKyberId = 3001;
    const party = this;

    this.sessionStore = new (class extends SignalClient.SessionStore {
      async saveSession(addr, record) {
        party.sessions.set(addrKey(addr), Buffer.from(record.serialize()));
      }
      async getSession(addr) {
        const s = party.sessions.get(addrKey(addr));
        return s ? SessionRecord.deserialize(copy(s)) : null;
      }
      async getExistingSessions(addrs) {
        return addrs.map((a) => {
          const s = party.sessions.get(addrKey(a));
          if (!s) throw new Error(`no session for ${addrKey(a)}`);
          return SessionRecord.deserialize(copy(s));
        });
      }
    })();

    this.identityStore = new (class extends SignalClient.IdentityKeyStore {
      async getIdentityKey() {
        return party.identity.privateKey;
      }
      async getLocalRegistrationId() {
        return party.registrationId;
      }
      async saveIdentity(addr, key) {
        const k = addrKey(addr);
        const old = party.identities.get(k);
        const next = Buffer.from(key.serialize());
        party.identities.set(k, next);
        return old && !old.equals(next) ? IdentityChange.ReplacedExisting : IdentityChange.NewOrUnchanged;
      }
      async isTrustedIdentity(addr, key, _direction) {
        if (party.trust === 'always') return true;
        const old = party.identities.get(addrKey(addr));
        return !old || old.equals(Buffer.from(key.serialize()));
      }
      async getIdentity(addr) {
        const old = party.identities.get(addrKey(addr));
        return old ? PublicKey.deserialize(copy(old)) : null;
      }
    })();

    this.prekeyStore = new (class extends SignalClient.PreKeyStore {
      async savePreKey(id, record) {
        party.prekeys.set(id, record);
      }
      async getPreKey(id) {
        const r = party.prekeys.get(id);
        if (!r) throw new Error(`no prekey ${id}`);
        return r;
      }
      async removePreKey(id) {
        party.prekeys.delete(id);
      }
    })();

    this.signedPrekeyStore = new (class extends SignalClient.SignedPreKeyStore {
      async saveSignedPreKey(id, record) {
        party.signedPrekeys.set(id, record);
      }
      async getSignedPreKey(id) {
        const r = party.signedPrekeys.get(id);
        if (!r) throw new Error(`no signed prekey ${id}`);
        return r;
      }
    })();

    this.kyberPrekeyStore = new (class extends SignalClient.KyberPreKeyStore {
      async saveKyberPreKey(id, record) {
        party.kyberPrekeys.set(id, { record, oneTime: false });
      }
      async getKyberPreKey(id) {
        const r = party.kyberPrekeys.get(id);
        if (!r) throw new Error(`no kyber prekey ${id}`);
        return r.record;
      }
      async markKyberPreKeyUsed(id, signedId, baseKey) {
        const base = hex(baseKey.serialize());
        const seen = party.kyberUsed.some(
          (u) => u.kyber_prekey_id === id && u.signed_prekey_id === signedId && u.base_key === base,
        );
        if (seen) throw new Error(`kyber prekey ${id} reused with the same signed prekey and base key`);
        party.kyberUsed.push({ kyber_prekey_id: id, signed_prekey_id: signedId, base_key: base });
        const r = party.kyberPrekeys.get(id);
        if (r && r.oneTime) party.kyberPrekeys.delete(id);
      }
    })();

    this.senderKeyStore = new (class extends SignalClient.SenderKeyStore {
      async saveSenderKey(sender, distributionId, record) {
        party.senderKeys.set(`${addrKey(sender)}/${distributionId}`, Buffer.from(record.serialize()));
      }
      async getSenderKey(sender, distributionId) {
        const s = party.senderKeys.get(`${addrKey(sender)}/${distributionId}`);
        return s ? SenderKeyRecord.deserialize(copy(s)) : null;
      }
    })();
  }
}

function copy(buf) {
  const out = new Uint8Array(buf.length);
  out.set(buf);
  return out;
}

const parties = new Map();

function party(args) {
  const name = str(args, 'party');
  const p = parties.get(name);
  if (!p) throw new RequestError(`unknown party '${name}'`);
  return p;
}

function remote(args, nameKey = 'remote_name', deviceKey = 'remote_device') {
  return ProtocolAddress.new(str(args, nameKey), int(args, deviceKey));
}

function local(p, args) {
  const name = str(args, 'local_name', { optional: true });
  const dev = int(args, 'local_device', { optional: true });
  if (name === null && dev === null) return p.address;
  return ProtocolAddress.new(name === null ? p.name : name, dev === null ? p.deviceId : dev);
}

function now(args) {
  const ms = int(args, 'now_ms', { optional: true });
  return ms === null ? new Date() : new Date(ms);
}

function randomRegistrationId() {
  return 1 + Math.floor(Math.random() * 16380);
}

const handlers = {
  ping: () => ({ peer: 'libsignal-client', version: PEER_VERSION }),

  new_party: (a) => {
    const id = str(a, 'party');
    if (parties.has(id)) throw new RequestError(`party '${id}' already exists`);
    const reg = int(a, 'registration_id', { optional: true });
    const p = new Party(
      str(a, 'name'),
      int(a, 'device_id'),
      reg === null ? randomRegistrationId() : reg,
      bytes(a, 'identity_private', { optional: true }),
    );
    parties.set(id, p);
    return {
      identity_key: hex(p.identity.publicKey.serialize()),
      identity_private: hex(p.identity.privateKey.serialize()),
      registration_id: p.registrationId,
    };
  },

  make_bundle: (a) => {
    const p = party(a);
    const withPrekey = bool(a, 'one_time_prekey', true);
    const oneTimeKyber = bool(a, 'one_time_kyber', false);
    const idPriv = p.identity.privateKey;
    let prekeyId = null;
    let prekeyPub = null;
    if (withPrekey) {
      prekeyId = p.nextPrekeyId++;
      const k = PrivateKey.generate();
      prekeyPub = k.getPublicKey();
      p.prekeys.set(prekeyId, PreKeyRecord.new(prekeyId, prekeyPub, k));
    }
    const signedId = p.nextSignedId++;
    const sk = PrivateKey.generate();
    const spk = sk.getPublicKey();
    const spkSig = idPriv.sign(spk.serialize());
    p.signedPrekeys.set(signedId, SignedPreKeyRecord.new(signedId, Date.now(), spk, sk, spkSig));
    const kyberId = p.nextKyberId++;
    const kp = KEMKeyPair.generate();
    const kyberPub = kp.getPublicKey();
    const kyberSig = idPriv.sign(kyberPub.serialize());
    p.kyberPrekeys.set(kyberId, {
      record: KyberPreKeyRecord.new(kyberId, Date.now(), kp, kyberSig),
      oneTime: oneTimeKyber,
    });
    return {
      registration_id: p.registrationId,
      device_id: p.deviceId,
      prekey_id: prekeyId,
      prekey: prekeyPub ? hex(prekeyPub.serialize()) : null,
      signed_prekey_id: signedId,
      signed_prekey: hex(spk.serialize()),
      signed_prekey_signature: hex(spkSig),
      identity_key: hex(p.identity.publicKey.serialize()),
      kyber_prekey_id: kyberId,
      kyber_prekey: hex(kyberPub.serialize()),
      kyber_prekey_signature: hex(kyberSig),
    };
  },

  process_bundle: async (a) => {
    const p = party(a);
    const b = a.bundle;
    if (typeof b !== 'object' || b === null) throw new RequestError("missing argument 'bundle'");
    const prekeyId = int(b, 'prekey_id', { optional: true });
    const prekey = bytes(b, 'prekey', { optional: true });
    const bundle = PreKeyBundle.new(
      int(b, 'registration_id'),
      int(b, 'device_id'),
      prekeyId,
      prekey ? PublicKey.deserialize(prekey) : null,
      int(b, 'signed_prekey_id'),
      PublicKey.deserialize(bytes(b, 'signed_prekey')),
      bytes(b, 'signed_prekey_signature'),
      PublicKey.deserialize(bytes(b, 'identity_key')),
      int(b, 'kyber_prekey_id'),
      KEMPublicKey.deserialize(bytes(b, 'kyber_prekey')),
      bytes(b, 'kyber_prekey_signature'),
    );
    await SignalClient.processPreKeyBundle(
      bundle,
      remote(a),
      local(p, a),
      p.sessionStore,
      p.identityStore,
      now(a),
    );
    return {};
  },

  encrypt: async (a) => {
    const p = party(a);
    const m = await SignalClient.signalEncrypt(
      bytes(a, 'plaintext'),
      remote(a),
      local(p, a),
      p.sessionStore,
      p.identityStore,
      now(a),
    );
    return { type: m.type(), body: hex(m.serialize()) };
  },

  encrypt_discard: async (a) => {
    const p = party(a);
    const count = int(a, 'count');
    const pt = bytes(a, 'plaintext', { optional: true }) || new Uint8Array(0);
    const [r, l, t] = [remote(a), local(p, a), now(a)];
    for (let i = 0; i < count; i++) {
      await SignalClient.signalEncrypt(pt, r, l, p.sessionStore, p.identityStore, t);
    }
    return {};
  },

  decrypt: async (a) => {
    const p = party(a);
    const type = int(a, 'type');
    const body = bytes(a, 'body');
    let pt;
    if (type === SignalClient.CiphertextMessageType.PreKey) {
      pt = await SignalClient.signalDecryptPreKey(
        PreKeySignalMessage.deserialize(body),
        remote(a),
        local(p, a),
        p.sessionStore,
        p.identityStore,
        p.prekeyStore,
        p.signedPrekeyStore,
        p.kyberPrekeyStore,
      );
    } else if (type === SignalClient.CiphertextMessageType.Whisper) {
      pt = await SignalClient.signalDecrypt(
        SignalMessage.deserialize(body),
        remote(a),
        local(p, a),
        p.sessionStore,
        p.identityStore,
      );
    } else {
      throw new RequestError(`unsupported message type ${type}`);
    }
    return { plaintext: hex(pt) };
  },

  session_record: (a) => {
    const p = party(a);
    return { record: hex(p.sessions.get(addrKey(remote(a))) || null) };
  },

  set_session_record: (a) => {
    const p = party(a);
    const rec = bytes(a, 'record', { optional: true });
    const k = addrKey(remote(a));
    if (rec === null) {
      p.sessions.delete(k);
    } else {
      SessionRecord.deserialize(rec); // refuse what the peer cannot read
      p.sessions.set(k, Buffer.from(rec));
    }
    return {};
  },

  has_session: (a) => {
    const p = party(a);
    const s = p.sessions.get(addrKey(remote(a)));
    return { has_session: !!s && SessionRecord.deserialize(copy(s)).hasCurrentState(now(a)) };
  },

  session_info: (a) => {
    const p = party(a);
    const s = p.sessions.get(addrKey(remote(a)));
    if (!s) {
      return {
        exists: false,
        has_current_state: false,
        local_registration_id: null,
        remote_registration_id: null,
      };
    }
    const r = SessionRecord.deserialize(copy(s));
    const has = r.hasCurrentState(now(a));
    const safe = (f) => {
      try {
        return f();
      } catch {
        return null;
      }
    };
    return {
      exists: true,
      has_current_state: has,
      local_registration_id: safe(() => r.localRegistrationId()),
      remote_registration_id: safe(() => r.remoteRegistrationId()),
    };
  },

  archive_session: (a) => {
    const p = party(a);
    const k = addrKey(remote(a));
    const s = p.sessions.get(k);
    if (!s) throw new RequestError(`no session for ${k}`);
    const r = SessionRecord.deserialize(copy(s));
    r.archiveCurrentState();
    p.sessions.set(k, Buffer.from(r.serialize()));
    return {};
  },

  identity: (a) => {
    const p = party(a);
    return { identity_key: hex(p.identities.get(addrKey(remote(a))) || null) };
  },

  set_identity: (a) => {
    const p = party(a);
    const key = bytes(a, 'identity_key');
    PublicKey.deserialize(key);
    p.identities.set(addrKey(remote(a)), Buffer.from(key));
    return {};
  },

  set_trust: (a) => {
    const p = party(a);
    const mode = str(a, 'mode');
    if (mode !== 'tofu' && mode !== 'always') throw new RequestError(`unknown trust mode '${mode}'`);
    p.trust = mode;
    return {};
  },

  kyber_used: (a) => ({ used: party(a).kyberUsed }),

  prekey_ids: (a) => {
    const p = party(a);
    return {
      prekeys: [...p.prekeys.keys()],
      signed_prekeys: [...p.signedPrekeys.keys()],
      kyber_prekeys: [...p.kyberPrekeys.keys()],
    };
  },

  sk_distribution: async (a) => {
    const p = party(a);
    const m = await SenderKeyDistributionMessage.create(
      p.address,
      str(a, 'distribution_id'),
      p.senderKeyStore,
    );
    return { message: hex(m.serialize()) };
  },

  sk_process: async (a) => {
    const p = party(a);
    await SignalClient.processSenderKeyDistributionMessage(
      remote(a, 'sender_name', 'sender_device'),
      SenderKeyDistributionMessage.deserialize(bytes(a, 'message')),
      p.senderKeyStore,
    );
    return {};
  },

  group_encrypt: async (a) => {
    const p = party(a);
    const m = await SignalClient.groupEncrypt(
      p.address,
      str(a, 'distribution_id'),
      p.senderKeyStore,
      bytes(a, 'plaintext'),
    );
    return { type: m.type(), body: hex(m.serialize()) };
  },

  group_decrypt: async (a) => {
    const p = party(a);
    const pt = await SignalClient.groupDecrypt(
      remote(a, 'sender_name', 'sender_device'),
      p.senderKeyStore,
      bytes(a, 'body'),
    );
    return { plaintext: hex(pt) };
  },

  group_encrypt_discard: async (a) => {
    const p = party(a);
    const count = int(a, 'count');
    const id = str(a, 'distribution_id');
    const pt = new Uint8Array(0);
    for (let i = 0; i < count; i++) {
      await SignalClient.groupEncrypt(p.address, id, p.senderKeyStore, pt);
    }
    return {};
  },

  sk_record: (a) => {
    const p = party(a);
    const k = `${addrKey(remote(a, 'sender_name', 'sender_device'))}/${str(a, 'distribution_id')}`;
    return { record: hex(p.senderKeys.get(k) || null) };
  },

  set_sk_record: (a) => {
    const p = party(a);
    const k = `${addrKey(remote(a, 'sender_name', 'sender_device'))}/${str(a, 'distribution_id')}`;
    const rec = bytes(a, 'record', { optional: true });
    if (rec === null) {
      p.senderKeys.delete(k);
    } else {
      SenderKeyRecord.deserialize(rec); // refuse what the peer cannot read
      p.senderKeys.set(k, Buffer.from(rec));
    }
    return {};
  },

  sk_distribution_new: (a) => ({
    message: hex(
      SenderKeyDistributionMessage._new(
        int(a, 'version'),
        str(a, 'distribution_id'),
        int(a, 'chain_id'),
        int(a, 'iteration'),
        bytes(a, 'chain_key'),
        PublicKey.deserialize(bytes(a, 'signing_key')),
      ).serialize(),
    ),
  }),

  sk_message_new: (a) => ({
    body: hex(
      SenderKeyMessage._new(
        int(a, 'version'),
        str(a, 'distribution_id'),
        int(a, 'chain_id'),
        int(a, 'iteration'),
        bytes(a, 'ciphertext'),
        PrivateKey.deserialize(bytes(a, 'signing_private')),
      ).serialize(),
    ),
  }),

  parse_sk_distribution: (a) => {
    const m = SenderKeyDistributionMessage.deserialize(bytes(a, 'message'));
    return {
      distribution_id: m.distributionId(),
      chain_id: m.chainId(),
      iteration: m.iteration(),
      chain_key: hex(m.chainKey()),
    };
  },

  parse_sk_message: (a) => {
    const m = SenderKeyMessage.deserialize(bytes(a, 'body'));
    const key = bytes(a, 'signing_key', { optional: true });
    return {
      distribution_id: m.distributionId(),
      chain_id: m.chainId(),
      iteration: m.iteration(),
      ciphertext: hex(m.ciphertext()),
      valid: key === null ? null : m.verifySignature(PublicKey.deserialize(key)),
    };
  },

  ss_usmc: async (a) => {
    const p = party(a);
    const m = await SignalClient.signalEncrypt(bytes(a, 'plaintext'), remote(a), p.address, p.sessionStore, p.identityStore, now(a));
    const usmc = SignalClient.UnidentifiedSenderMessageContent.new(
      m,
      SignalClient.SenderCertificate.deserialize(bytes(a, 'sender_certificate')),
      int(a, 'content_hint', { optional: true }) || 0,
      bytes(a, 'group_id', { optional: true }),
    );
    return { usmc: hex(usmc.serialize()), type: m.type() };
  },

  ss_group_usmc: async (a) => {
    const p = party(a);
    const m = await SignalClient.groupEncrypt(p.address, str(a, 'distribution_id'), p.senderKeyStore, bytes(a, 'plaintext'));
    const usmc = SignalClient.UnidentifiedSenderMessageContent.new(
      m,
      SignalClient.SenderCertificate.deserialize(bytes(a, 'sender_certificate')),
      int(a, 'content_hint', { optional: true }) || 0,
      bytes(a, 'group_id', { optional: true }),
    );
    return { usmc: hex(usmc.serialize()) };
  },

  ss_seal_v1: async (a) => {
    const p = party(a);
    const usmc = SignalClient.UnidentifiedSenderMessageContent.deserialize(bytes(a, 'usmc'));
    return { body: hex(await SignalClient.sealedSenderEncrypt(usmc, remote(a), p.identityStore)) };
  },

  ss_seal_v2: async (a) => {
    const p = party(a);
    if (!Array.isArray(a.recipients)) throw new RequestError("missing argument 'recipients'");
    const recipients = a.recipients.map((r) => ProtocolAddress.new(str(r, 'name'), int(r, 'device')));
    const excluded = (a.excluded || []).map((s) => SignalClient.ServiceId.parseFromServiceIdString(s));
    const content = SignalClient.UnidentifiedSenderMessageContent.deserialize(bytes(a, 'usmc'));
    const body = await SignalClient.sealedSenderMultiRecipientEncrypt({
      content,
      recipients,
      excludedRecipients: excluded,
      identityStore: p.identityStore,
      sessionStore: p.sessionStore,
    });
    return { body: hex(body) };
  },

  ss_v2_parse: (a) => {
    const m = new SealedSenderMultiRecipientMessage(bytes(a, 'sent'));
    const recipients = Object.entries(m.recipientsByServiceIdString()).map(([id, r]) => ({
      service_id: id,
      device_ids: r.deviceIds,
      registration_ids: r.registrationIds,
    }));
    return { recipients, excluded: [...m.excludedRecipientServiceIdStrings()] };
  },

  ss_v2_cut: (a) => {
    const m = new SealedSenderMultiRecipientMessage(bytes(a, 'sent'));
    const r = m.recipientsByServiceIdString()[str(a, 'service_id')];
    if (!r) throw new RequestError(`${str(a, 'service_id')} is not a recipient`);
    return { received: hex(m.messageForRecipient(r)) };
  },

  ss_decrypt: async (a) => {
    const p = party(a);
    const body = bytes(a, 'body');
    const root = PublicKey.deserialize(bytes(a, 'trust_root'));
    const t = int(a, 'now_ms');
    const usmc = await SignalClient.sealedSenderDecryptToUsmc(body, p.identityStore);
    const type = usmc.msgType();
    const common = { msg_type: type, content_hint: usmc.contentHint(), group_id: hex(usmc.groupId()) };
    if (type === SignalClient.CiphertextMessageType.SenderKey) {
      const cert = usmc.senderCertificate();
      if (!cert.validate(root, t)) throw new RequestError('sender certificate not valid');
      const sender = ProtocolAddress.new(cert.senderUuid(), cert.senderDeviceId());
      const pt = await SignalClient.groupDecrypt(sender, p.senderKeyStore, usmc.contents());
      return { ...common, sender_uuid: cert.senderUuid(), sender_device: cert.senderDeviceId(), plaintext: hex(pt) };
    }
    const r = await SignalClient.sealedSenderDecryptMessage(
      body,
      root,
      t,
      null,
      p.name,
      p.deviceId,
      p.sessionStore,
      p.identityStore,
      p.prekeyStore,
      p.signedPrekeyStore,
      p.kyberPrekeyStore,
    );
    return { ...common, sender_uuid: r.senderUuid(), sender_device: r.deviceId(), plaintext: hex(r.message()) };
  },

  generate_keypair: () => {
    const k = PrivateKey.generate();
    return { public: hex(k.getPublicKey().serialize()), private: hex(k.serialize()) };
  },

  public_from_private: (a) => ({
    public: hex(PrivateKey.deserialize(bytes(a, 'private')).getPublicKey().serialize()),
  }),

  agree: (a) => ({
    shared: hex(PrivateKey.deserialize(bytes(a, 'private')).agree(PublicKey.deserialize(bytes(a, 'public')))),
  }),

  xeddsa_sign: (a) => ({
    signature: hex(PrivateKey.deserialize(bytes(a, 'private')).sign(bytes(a, 'message'))),
  }),

  xeddsa_verify: (a) => ({
    valid: PublicKey.deserialize(bytes(a, 'public')).verify(bytes(a, 'message'), bytes(a, 'signature')),
  }),

  hkdf: (a) => ({
    okm: hex(
      SignalClient.hkdf(int(a, 'length'), bytes(a, 'ikm'), bytes(a, 'info'), bytes(a, 'salt', { optional: true })),
    ),
  }),

  kem_generate: () => {
    const kp = KEMKeyPair.generate();
    return { public: hex(kp.getPublicKey().serialize()), secret: hex(kp.getSecretKey().serialize()) };
  },

  parse_signal_message: (a) => {
    const m = SignalMessage.deserialize(bytes(a, 'body'));
    return {
      version: m.messageVersion(),
      counter: m.counter(),
      pq_ratchet: hex(m.pqRatchet()),
      ciphertext: hex(m.body()),
    };
  },

  parse_prekey_message: (a) => {
    const m = PreKeySignalMessage.deserialize(bytes(a, 'body'));
    return {
      version: m.version(),
      registration_id: m.registrationId(),
      prekey_id: m.preKeyId(),
      signed_prekey_id: m.signedPreKeyId(),
    };
  },

  signal_message_new: (a) => {
    const m = SignalMessage._new(
      int(a, 'version'),
      bytes(a, 'mac_key'),
      PublicKey.deserialize(bytes(a, 'ratchet_key')),
      int(a, 'counter'),
      int(a, 'previous_counter'),
      bytes(a, 'ciphertext'),
      PublicKey.deserialize(bytes(a, 'sender_identity')),
      PublicKey.deserialize(bytes(a, 'receiver_identity')),
      bytes(a, 'pq_ratchet', { optional: true }) || new Uint8Array(0),
    );
    return { body: hex(m.serialize()) };
  },

  fingerprint: (a) => {
    const f = Fingerprint.new(
      int(a, 'iterations'),
      int(a, 'version'),
      bytes(a, 'local_id'),
      PublicKey.deserialize(bytes(a, 'local_key')),
      bytes(a, 'remote_id'),
      PublicKey.deserialize(bytes(a, 'remote_key')),
    );
    return {
      displayable: f.displayableFingerprint().toString(),
      scannable: hex(f.scannableFingerprint().toBuffer()),
    };
  },

  fingerprint_compare: (a) => ({
    matches: ScannableFingerprint._fromBuffer(bytes(a, 'ours')).compare(
      ScannableFingerprint._fromBuffer(bytes(a, 'theirs')),
    ),
  }),

  wire_fields: (a) => wireFields(a),

  decode_spqr: (a) => decodeSpqr(bytes(a, 'pq_ratchet')),

  deterministic_rng: () => {
    const native = require('@signalapp/libsignal-client/dist/Native.js');
    const f = native.TESTING_EnableDeterministicRngForTesting || (native.default || {}).TESTING_EnableDeterministicRngForTesting;
    if (typeof f !== 'function') throw new RequestError('TESTING_EnableDeterministicRngForTesting not available');
    f();
    return {};
  },
};

serve(handlers, { codeName: (c) => (typeof c === 'number' && ErrorCode[c] !== undefined ? ErrorCode[c] : c) });

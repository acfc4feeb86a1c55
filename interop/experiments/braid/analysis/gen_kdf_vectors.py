#!/usr/bin/env python3
"""Writes tests/vectors/braid_kdf.json from a libsignal-client conversation log.

    node interop/experiments/braid/epoch.js /tmp/epoch.json 400
    python3 interop/experiments/braid/analysis/gen_kdf_vectors.py /tmp/epoch.json > tests/vectors/braid_kdf.json

Needs `pip install kyber-py==1.2.0` (ML-KEM-768 decapsulation with the ek-sender's dk,
read from its record). Every derived value written here is first asserted equal to the
value libsignal-client stored in its own records (authenticator, chains, next root), or
to the MAC it sent on the wire; see docs/notes/spqr-braid.md §4.
"""
import sys, json, hashlib, os
sys.path.insert(0, os.path.dirname(__file__))
from pb import *
from kdf import *
from rs import *
from kyber_py.ml_kem import ML_KEM_768 as K

P = 0x1100b
PI = b'Signal_PQCKA_V1_MLKEM768'
be8 = lambda e: e.to_bytes(8, 'big')
K_OF = {'hdr': 3, 'ek': 36, 'ct1': 30, 'ct2': 5}
log = json.load(open(sys.argv[1]))

def decode_stream(chunks, k):
    xs = sorted(chunks)[:k]
    assert len(xs) == k
    syms = {x: symbols(chunks[x]) for x in chunks}
    rows = [[0] * 16 for _ in range(k)]
    for j in range(16):
        co = interp_coefs(xs, [syms[x][j] for x in xs], P)
        for x in chunks:
            assert evalp(co, x, P) == syms[x][j]
        for x in range(k):
            rows[x][j] = evalp(co, x, P)
    return b''.join(b''.join(v.to_bytes(2, 'big') for v in r) for r in rows)

streams = {}
for e in log:
    f = parse_field(bytes.fromhex(e['field']))
    name = {1: 'hdr', 2: 'ek', 3: 'ek', 5: 'ct1', 6: 'ct2'}.get(f['type'])
    if name:
        streams.setdefault((f['epoch'], e['from'], name), {})[f['ci']] = f['chunk']

def records(who):
    for e in log:
        for r in ([e['afterSend']] if e['from'] == who else []) + [e['afterRecv'][who]]:
            if r:
                yield spqr(r)

def kdf_auth(root, key, ep):
    o = hkdf(b'\0' * 32, root + key, PI + b':Authenticator Update' + be8(ep), 64)
    return o[:32], o[32:]

auth_key = g1(spqr(log[0]['afterSend']), 1, 1)
root, mac = kdf_auth(b'\0' * 32, auth_key, 1)
# the epoch-1 authenticator as stored (state 1 or 2 of A at epoch 1)
assert any(g1(s, 3) and g1(pb(g1(s, 3))[0][2], 1, 2) == root + b'' or
           (g1(s, 3) and g1(pb(g1(s, 3))[0][2], 1, 2) and g1(g1(pb(g1(s, 3))[0][2], 1, 2), 1) == root)
           for s in records('a'))
start = hkdf(b'\0' * 32, auth_key, b'Signal PQ Ratchet V1 Chain  Start', 96)
next_root = start[:32]
out = {
    'description': 'ML-KEM braid key schedule from libsignal-client 0.103.0 conversations (A = PQXDH initiator). '
                   'Per exchange epoch e: the decoded header (rho | H(ek)) and its MAC, ct1, ct2 and the ciphertext MAC as sent, '
                   'the ML-KEM-768 shared secret, and the derived values, each checked against what the peer stored.',
    'generator': 'interop/experiments/braid/analysis/gen_kdf_vectors.py',
    'libsignal_client': '0.103.0',
    'auth_key': auth_key.hex(),
    'authenticator_1': {'root': root.hex(), 'mac_key': mac.hex()},
    'chain_start_next_root': next_root.hex(),
    'exchanges': [],
}
ek_sender = 'a'
for ep in sorted(set(k[0] for k in streams)):
    X = ek_sender; Y = 'b' if X == 'a' else 'a'
    if not all((ep, w, n) in streams for (w, n) in ((X, 'hdr'), (X, 'ek'), (Y, 'ct1'), (Y, 'ct2'))):
        break
    hdr = decode_stream(streams[(ep, X, 'hdr')], 3)
    ekv = decode_stream(streams[(ep, X, 'ek')], 36)
    ct1 = decode_stream(streams[(ep, Y, 'ct1')], 30)
    ct2v = decode_stream(streams[(ep, Y, 'ct2')], 5)
    assert hashlib.sha3_256(ekv + hdr[:32]).digest() == hdr[32:64]
    assert hm(mac, PI + b':ekheader' + be8(ep) + hdr[:64]) == hdr[64:]
    dk = next(g1(s, 3, 2, 1, 4) for s in records(X) if g1(s, 3, 2, 1, 1) == ep)
    ss = K.decaps(dk, ct1 + ct2v[:128])
    es = hkdf(b'\0' * 32, ss, PI + b':SCKA Key' + be8(ep), 32)
    root, mac = kdf_auth(root, es, ep)
    assert hm(mac, PI + b':ciphertext' + be8(ep) + ct1 + ct2v[:128]) == ct2v[128:]
    # the updated authenticator is what the ek-sender stores in epoch e+1 (state 6)
    assert any(g1(s, 3, 6, 1, 1) == ep + 1 and g1(s, 3, 6, 1, 2) == root + mac[:0] or
               (g1(s, 3, 6, 1, 1) == ep + 1 and g1(g1(s, 3, 6, 1, 2), 1) == root and g1(g1(s, 3, 6, 1, 2), 2) == mac)
               for s in records(X))
    o = hkdf(next_root, es, b'Signal PQ Ratchet V1 Chain Add Epoch', 96)
    next_root, a2b, b2a = o[:32], o[32:64], o[64:]
    assert any(g1(s, 2, 4) == next_root for s in records('a'))
    assert any(any(g1(en, 1, 2) == a2b and g1(en, 2, 2) == b2a for en in g(g1(s, 2), 3)) for s in records('a') if g1(s, 2))
    assert any(any(g1(en, 1, 2) == b2a and g1(en, 2, 2) == a2b for en in g(g1(s, 2), 3)) for s in records('b') if g1(s, 2))
    out['exchanges'].append({
        'epoch': ep, 'ek_sender': 'A' if X == 'a' else 'B',
        'header': hdr[:64].hex(), 'header_mac': hdr[64:].hex(),
        'ek_vector_sha3': hashlib.sha3_256(ekv).hexdigest(),
        'ct1': ct1.hex(), 'ct2': ct2v[:128].hex(), 'ciphertext_mac': ct2v[128:].hex(),
        'shared_secret': ss.hex(), 'epoch_secret': es.hex(),
        'authenticator': {'root': root.hex(), 'mac_key': mac.hex()},
        'next_root': next_root.hex(), 'chain_a_to_b': a2b.hex(), 'chain_b_to_a': b2a.hex(),
    })
    ek_sender = Y
assert len(out['exchanges']) >= 3
print(json.dumps(out, indent=1))

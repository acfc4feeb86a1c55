#!/usr/bin/env python3
"""ML-KEM-768 helper for the lab (kyber-py): keygen | encaps EK_HEX | decaps DK_HEX CT_HEX; JSON out."""
import sys, json
from kyber_py.ml_kem import ML_KEM_768 as K
cmd = sys.argv[1]
if cmd == 'keygen':
    ek, dk = K.keygen(); print(json.dumps({'ek': ek.hex(), 'dk': dk.hex()}))
elif cmd == 'encaps':
    ss, ct = K.encaps(bytes.fromhex(sys.argv[2])); print(json.dumps({'ss': ss.hex(), 'ct': ct.hex()}))
elif cmd == 'decaps':
    print(json.dumps({'ss': K.decaps(bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])).hex()}))

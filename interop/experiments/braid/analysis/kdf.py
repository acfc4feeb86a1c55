import hmac,hashlib,itertools
def hkdf(salt,ikm,info,L):
    if salt is None: salt=b'\0'*32
    prk=hmac.new(salt,ikm,hashlib.sha256).digest()
    out=b'';t=b'';i=1
    while len(out)<L:
        t=hmac.new(prk,t+info+bytes([i]),hashlib.sha256).digest();out+=t;i+=1
    return out[:L]
def hm(k,d): return hmac.new(k,d,hashlib.sha256).digest()

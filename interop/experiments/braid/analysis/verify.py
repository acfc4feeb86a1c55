# Offline model of the braid checked against a libsignal-client conversation log.
import sys,json,hashlib; sys.path.insert(0,__import__('os').path.dirname(__file__)); from pb import *; from kdf import *; from rs import *
from kyber_py.ml_kem import ML_KEM_768 as K
P=0x1100b
PI=b'Signal_PQCKA_V1_MLKEM768'
be8=lambda e:e.to_bytes(8,'big')
log=json.load(open(sys.argv[1]))
K_OF={'hdr':3,'ek':36,'ct1':30,'ct2':5}
def decode_stream(chunks,k):
    # chunks: {index: bytes}; interpolate from the first k received, check the rest
    xs=sorted(chunks)[:k]
    assert len(xs)==k, ('not enough chunks',len(chunks),k)
    syms={x:symbols(chunks[x]) for x in chunks}
    data=[[0]*16 for _ in range(k)]; bad=0
    for j in range(16):
        co=interp_coefs(xs,[syms[x][j] for x in xs],P)
        for x in range(k): data[x][j]=evalp(co,x,P)
        for x in chunks:
            if evalp(co,x,P)!=syms[x][j]: bad+=1
    out=b''.join(b''.join(s.to_bytes(2,'big') for s in row) for row in data)
    return out,bad
# collect streams keyed by (epoch, sender, stream)
streams={}
for e in log:
    f=parse_field(bytes.fromhex(e['field']))
    name={1:'hdr',2:'ek',3:'ek',5:'ct1',6:'ct2'}.get(f['type'])
    if name: streams.setdefault((f['epoch'],e['from'],name),{})[f['ci']]=f['chunk']
# initial auth key: A's record after first send, 15.1.1
authkey=g1(spqr(log[0]['afterSend']),1,1)
def kdf_auth(root,key,ep):
    o=hkdf(b'\0'*32,root+key,PI+b':Authenticator Update'+be8(ep),64); return o[:32],o[32:]
root,mac=kdf_auth(b'\0'*32,authkey,1)
start=hkdf(b'\0'*32,authkey,b'Signal PQ Ratchet V1 Chain  Start',96)
nextroot=start[:32]
def find_state(who,pred):
    for e in log:
        for r in ([e['afterSend']] if e['from']==who else [])+[e['afterRecv'][who]]:
            if r is None: continue
            s=spqr(r)
            if s and pred(s): return s
    return None
epochs=sorted(set(k[0] for k in streams))
ek_sender='a'
for ep in epochs:
    X=ek_sender; Y='b' if X=='a' else 'a'
    have=all((ep,w,n) in streams for (w,n) in ((X,'hdr'),(X,'ek'),(Y,'ct1'),(Y,'ct2')))
    if not have: print('epoch',ep,'incomplete, stop'); break
    res={}
    for (w,n) in ((X,'hdr'),(X,'ek'),(Y,'ct1'),(Y,'ct2')):
        res[n]=decode_stream(streams[(ep,w,n)],K_OF[n])
        print(f'epoch {ep} {n:3} from {w}: {len(streams[(ep,w,n)])} chunks, max index {max(streams[(ep,w,n)])}, mismatching symbols {res[n][1]}')
    hdr=res['hdr'][0][:64]; hmac_=res['hdr'][0][64:]; ekv=res['ek'][0]; ct1=res['ct1'][0]; ct2=res['ct2'][0][:128]; ctmac=res['ct2'][0][128:]
    print('  header MAC ok', hm(mac,PI+b':ekheader'+be8(ep)+hdr)==hmac_, ' H(ek) ok', hashlib.sha3_256(ekv+hdr[:32]).digest()==hdr[32:])
    # X's dk from its record in HeaderSent (3.2) at this epoch
    st=find_state(X,lambda s: g1(s,3,2,1,1)==ep)
    dk=g1(st,3,2,1,4); assert g1(st,3,2,1,3)==ekv, 'ek_vector in record'
    ss=K.decaps(dk,ct1+ct2)
    es=hkdf(b'\0'*32,ss,PI+b':SCKA Key'+be8(ep),32)
    root,mac=kdf_auth(root,es,ep)
    print('  ciphertext MAC ok (updated key)', hm(mac,PI+b':ciphertext'+be8(ep)+ct1+ct2)==ctmac)
    o=hkdf(nextroot,es,b'Signal PQ Ratchet V1 Chain Add Epoch',96)
    nextroot=o[:32]; c1=o[32:64]; c2=o[64:96]
    # check against A's record: the chain entry whose send/recv keys at index 0 appear
    ok=False
    for e in log:
        s=spqr(e['afterRecv']['a'])
        if not s or not g1(s,2): continue
        for ent in g(g1(s,2),3):
            sk=g1(ent,1,2); rk=g1(ent,2,2)
            if sk==c1 and rk==c2: ok='A sends on 32..64'; break
            if sk==c2 and rk==c1: ok='A sends on 64..96'; break
        if ok: break
    nr_ok=any(spqr(e['afterRecv']['a']) and g1(spqr(e['afterRecv']['a']),2,4)==nextroot for e in log)
    aut_ok=any(spqr(e['afterRecv'][X]) and g1(spqr(e['afterRecv'][X]),3,6,1,2)==root+b'' or False for e in log)
    print(f'  epoch {ep+1} chains found in A record: {ok}; next root found: {nr_ok}')
    ek_sender=Y

# ---- closed loop: every message's MAC from keys derived by this model ----
def chain_step(ck,n):
    o=hkdf(b'\0'*32,ck,n.to_bytes(4,'big')+b'Signal PQ Ratchet V1 Chain Next',64); return o[:32],o[32:]
# recompute chains per epoch: epoch 1 from Chain Start, later ones from Add Epoch (as above)
chains={1:(start[32:64],start[64:96])}
nr=start[:32]; rt=b'\0'*32; rt,_m=kdf_auth(rt,authkey,1)
xs='a'
for ep in epochs:
    X=xs; Y='b' if X=='a' else 'a'
    if not all((ep,w,n) in streams for (w,n) in ((X,'hdr'),(X,'ek'),(Y,'ct1'),(Y,'ct2'))): break
    res={n:decode_stream(streams[(ep,w,n)],K_OF[n])[0] for (w,n) in ((X,'hdr'),(X,'ek'),(Y,'ct1'),(Y,'ct2'))}
    st=find_state(X,lambda s: g1(s,3,2,1,1)==ep); dk=g1(st,3,2,1,4)
    ss=K.decaps(dk,res['ct1']+res['ct2'][:128]); es=hkdf(b'\0'*32,ss,PI+b':SCKA Key'+be8(ep),32)
    o=hkdf(nr,es,b'Signal PQ Ratchet V1 Chain Add Epoch',96); nr=o[:32]; chains[ep+1]=(o[32:64],o[64:96]); xs=Y
ok=bad=skip=0
prevrec={'a':None,'b':None}
for e in log:
    fr=e['from']; before=prevrec[fr]
    f=parse_field(bytes.fromhex(e['field']))
    if before is None or f['epoch'] not in chains: skip+=1
    else:
        sess=g1(bytes.fromhex(before),1)
        ck=g1(sess,6,3,2)
        inner=bytes.fromhex(e['inner'])
        c=chains[f['epoch']][0 if fr=='a' else 1]
        for n in range(1,f['index']+1): c,mk=chain_step(c,n)
        seed=hm(ck,b'\x01'); keys=hkdf(mk,seed,b'WhisperMessageKeys',80)
        ids=(g1(sess,2),g1(sess,3))
        good=any(hm(keys[32:64],i1+i2+inner[:-8])[:8]==inner[-8:] for (i1,i2) in (ids,ids[::-1]))
        ok+=good; bad+=not good
    prevrec['a']=e['afterRecv']['a']; prevrec['b']=e['afterRecv']['b']
    prevrec[fr]=e['afterRecv'][fr]
print(f'closed loop: {ok} messages authenticate with model keys, {bad} fail, {skip} skipped; epochs with model chains: {sorted(chains)}')

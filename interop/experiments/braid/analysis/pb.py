def varint(b,i):
    v=0;s=0
    while True:
        c=b[i];i+=1;v|=(c&0x7f)<<s;s+=7
        if not c&0x80: return v,i
def pb(b):
    out=[];i=0
    while i<len(b):
        k,i=varint(b,i);n,t=k>>3,k&7
        if t==0: v,i=varint(b,i)
        elif t==2:
            l,i=varint(b,i);v=b[i:i+l];i+=l
        elif t==5: v=b[i:i+4];i+=4
        elif t==1: v=b[i:i+8];i+=8
        out.append((n,t,v))
    return out
def g(f,n): 
    r=[v for (m,t,v) in pb(f) if m==n] if isinstance(f,(bytes,bytearray)) else [v for (m,t,v) in f if m==n]
    return r
def g1(f,*path):
    for n in path:
        r=g(f,n)
        if not r: return None
        f=r[0]
    return f
def spqr(rec_hex):
    return g1(bytes.fromhex(rec_hex),1,15)
def parse_field(fb):
    i=1; ep,i=varint(fb,i); idx,i=varint(fb,i); t=fb[i]; i+=1
    r={'epoch':ep,'index':idx,'type':t}
    if t not in (0,4) and i<len(fb):
        ci,i=varint(fb,i); r['ci']=ci; r['chunk']=fb[i:i+32]
    return r

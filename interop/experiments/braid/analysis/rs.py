import json,sys
def gmul(a,b,poly):
    r=0
    while b:
        if b&1: r^=a
        b>>=1; a<<=1
        if a&0x10000: a^=poly
    return r
def evalp(coefs,x,poly):
    r=0
    for c in reversed(coefs): r=gmul(r,x,poly)^c
    return r
def symbols(b,be=True):
    return [int.from_bytes(b[2*i:2*i+2],'big' if be else 'little') for i in range(len(b)//2)]
def interp_coefs(points, vals, poly):
    # Lagrange -> coefficients (small k), return coef list
    k=len(points); coefs=[0]*k
    inv=lambda a: gpow(a,65534,poly)
    for i in range(k):
        # basis poly
        num=[1]; den=1
        for j in range(k):
            if j==i: continue
            # num *= (x - xj) = (x + xj)
            new=[0]*(len(num)+1)
            for t,c in enumerate(num):
                new[t+1]^=c; new[t]^=gmul(c,points[j],poly)
            num=new; den=gmul(den,points[i]^points[j],poly)
        f=gmul(vals[i],inv(den),poly)
        for t in range(k): coefs[t]^=gmul(num[t],f,poly)
    return coefs
def gpow(a,e,poly):
    r=1
    while e:
        if e&1: r=gmul(r,a,poly)
        a=gmul(a,a,poly); e>>=1
    return r

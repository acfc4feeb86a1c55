import sys,json; sys.path.insert(0,__import__('os').path.dirname(__file__)); from pb import *
log=json.load(open(sys.argv[1])); lim=int(sys.argv[2]) if len(sys.argv)>2 else 200
def shape(b,depth=0):
    # compact: field numbers with lengths
    try: f=pb(b)
    except Exception: return f'[{len(b)}]'
    if depth>=2: return f'[{len(b)}]'
    parts=[]
    last=None;cnt=0
    for (n,t,v) in f:
        s=f'{n}={v}' if t==0 else f'{n}:' + (shape(v,depth+1) if len(v) not in (32,6,4,16,72,60,10) and len(v)>0 else f'[{len(v)}]')
        parts.append(s)
    # collapse repeats
    out=[];i=0
    while i<len(parts):
        j=i
        while j+1<len(parts) and parts[j+1]==parts[i]: j+=1
        out.append(parts[i]+(f'×{j-i+1}' if j>i else '')); i=j+1
    return '{'+' '.join(out)+'}'
prev={'a':None,'b':None}
for e in log[:lim]:
    f=e['pq']; line=f"{e['n']:4} {e['from']} e{f['epoch']} i{f['index']} {f['type']}{'' if f.get('chunkIndex') is None else ' c'+str(f['chunkIndex'])}{' DROPPED' if e.get('dropped') else ''}"
    print(line)
    for who in 'ab':
        r=e['afterRecv'][who]
        if not r: continue
        s=spqr(r); st=g1(s,3)
        sh=shape(st) if st else None
        if sh!=prev[who]: print(f'      {who}.braid -> {sh}'); prev[who]=sh

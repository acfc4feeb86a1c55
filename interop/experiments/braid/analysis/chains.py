import sys,json; sys.path.insert(0,__import__('os').path.dirname(__file__)); from pb import *
log=json.load(open(sys.argv[1])); lo,hi=int(sys.argv[2]),int(sys.argv[3])
prev={}
for e in log[lo-1:hi]:
    f=e['pq']
    out=[]
    for who in 'ab':
        r=e['afterRecv'][who]
        if not r: continue
        c=g1(spqr(r),2)
        if not c: continue
        ents=g(c,3)
        desc=f"2.1={g1(c,1)} 2.2={g1(c,2)} n={len(ents)} " + ' '.join('['+','.join(f'{x}' for x in (g1(en,1,1),g1(en,2,1)))+']' for en in ents) + f" 2.6len={len(g1(c,6) or b'')}" + f" other={[n for (n,t,v) in pb(c) if n not in (1,2,3,4,6)]}"
        if prev.get(who)!=desc: out.append(f'{who}: {desc}'); prev[who]=desc
    print(f"{e['n']:4} {e['from']} e{f['epoch']} i{f['index']} {f['type']}", ' | '.join(out))

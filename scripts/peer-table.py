import json, statistics, glob, sys
# Same-session table from scripts/peer-table.sh OUT: python3 scripts/peer-table.py OUT (medians over rounds, ms).
D=sys.argv[1].rstrip('/')+'/'
def load(p):
    j = json.load(open(p)); return {(r["id"], r["threads"]): r["median_ms"] for r in j["results"]}, j
def side(pat):
    fs=sorted(glob.glob(D+pat)); return [load(p)[0] for p in fs], [load(p)[1] for p in fs]
old,oj=side('old-*.json'); new,nj=side('new-*.json'); ts,tj=side('ts-*.json'); pt,pj=side('pt-*.json'); ptt,_=side('ptt-*.json')
pt=[{**a,**b} for a,b in zip(pt,ptt)] if pt and ptt else (pt or ptt)   # PyTorch's transformer rows beside its others, or alone (ONLY=)
f = lambda x: "-" if x is None else (f"{x:.3f}" if x < 10 else (f"{x:.2f}" if x < 100 else f"{x:.1f}"))
def med(runs,key):
    v=[d[key] for d in runs if key in d]; return statistics.median(v) if v else None
print(f"runs: ours {len(new)} / main before {len(old)} / torchsharp {len(ts)} / pytorch_openblas {len(pt)}")
print("| workload | thr | before | after | after / before | TorchSharp | PyTorch + OpenBLAS | after / best peer |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
keys=[]
for d in new:
    for k in d:
        if k not in keys: keys.append(k)
for k in keys:
    o,n,t,p=med(old,k),med(new,k),med(ts,k),med(pt,k)
    peers=[x for x in (t,p) if x]
    best=min(peers) if peers else None
    r=f"{n/o:.2f}" if o and n else "-"
    rb=f"**{n/best:.2f}**" if best and n else "-"
    print(f"| {k[0]} | {k[1]} | {f(o)} | {f(n)} | {r} | {f(t)} | {f(p)} | {rb} |")
for name,js in (("before",oj),("after",nj)):
    for j in js:
        tr=j.get("train")
        if tr: print(name, [ (round(e.get("train_s",0),2), e.get("test_acc")) for e in (tr.get("epochs") or [])] if isinstance(tr,dict) else tr)

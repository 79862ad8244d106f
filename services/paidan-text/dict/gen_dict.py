import glob,re,sys
src=open('city_terms.txt',encoding='utf-8').read()
groups={}
for block in src.splitlines():
    if not block.strip(): continue
    tag,words=block.split(':',1)
    groups[tag.strip()]=words.split()
d=glob.glob('/root/.cargo/registry/src/*/jieba-rs-0.11.0/src/data/dict.txt')[0]
known={}
for l in open(d,encoding='utf-8'):
    p=l.split()
    if p: known[p[0]]=int(p[1])
seen=set();out=[]
for tag,ws in groups.items():
    for w in ws:
        if w in seen or len(w)<2 or w.isascii(): continue
        seen.add(w)
        if known.get(w,0)>=2000: continue
        out.append(f"{w} 20000 {tag}")
open('city.dict','w',encoding='utf-8').write('\n'.join(out)+'\n')
print(len(out))

#!/usr/bin/env python3
"""PyTorch's side of the workload runner's `transformer` section (Autograd.Benchmarks/Workloads.cs):
the GPT's attention as gpt_char.py composes it (q @ kᵀ · scale, causal masked_fill, softmax, @ v) at
[12, 4, 64, 32] and [8, 8, 256, 64], forward (no grad) and forward+backward; F.embedding of [12, 64] ids
into a [65, 128] table and the bias-free F.layer_norm over [12, 64, 128], forward+backward. Same timing
rules as ../shared/peers (warm-up >= 2 calls and 0.3 s, then >= 5 calls and 1 s, median), same JSON schema.

    env LD_LIBRARY_PATH=$OB OPENBLAS_CORETYPE=Cooperlake /usr/bin/python3 scripts/transformer-peer.py \
        --peer pytorch_openblas --out transformer-pt.json
"""
import argparse, json, math, statistics, time

import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--peer", default="pytorch")
p.add_argument("--out", default="")
a = p.parse_args()
results = []


def measure(f):
    t0 = time.perf_counter(); n = 0
    while n < 2 or time.perf_counter() - t0 < 0.3:
        f(); n += 1
    times = []; t0 = time.perf_counter()
    while (len(times) < 5 or time.perf_counter() - t0 < 1.0) and len(times) < 1000:
        s = time.perf_counter(); f(); times.append((time.perf_counter() - s) * 1e3)
    return statistics.median(times), min(times), len(times)


def record(id, threads, st, **rates):
    r = {"id": id, "threads": threads, "median_ms": st[0], "min_ms": st[1], "reps": st[2]}
    r.update(rates); results.append(r)
    print(f"{id:32s} {threads} thr  {st[0]:9.3f} ms", flush=True)


for threads in (2, 1):
    torch.set_num_threads(threads)
    torch.manual_seed(6)
    for b, h, t, d in ((12, 4, 64, 32), (8, 8, 256, 64)):
        shape = f"{b}x{h}x{t}x{d}"
        q, k, v = (torch.randn(b, h, t, d, requires_grad=True) for _ in range(3))
        causal = torch.tril(torch.ones(t, t)).view(1, 1, t, t)
        flops = 2.0 * b * h * t * t * d

        def attention():
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d))
            att = att.masked_fill(causal == 0, float("-inf"))
            return F.softmax(att, dim=-1) @ v

        def fwd():
            with torch.no_grad():
                attention()

        def fwdbwd():
            q.grad = k.grad = v.grad = None
            attention().sum().backward()

        st = measure(fwd); record(f"attention_fwd/{shape}", threads, st, gflops=flops / (st[0] * 1e-3) / 1e9)
        st = measure(fwdbwd); record(f"attention_fwdbwd/{shape}", threads, st, gflops=3.5 * flops / (st[0] * 1e-3) / 1e9)

    table = torch.randn(65, 128, requires_grad=True)
    ids = torch.randint(65, (12, 64))

    def emb():
        table.grad = None
        F.embedding(ids, table).sum().backward()

    record("embedding_fwdbwd/65x128", threads, measure(emb))
    x = torch.randn(12, 64, 128, requires_grad=True)
    w = torch.ones(128, requires_grad=True)

    def ln():
        x.grad = w.grad = None
        F.layer_norm(x, (128,), w, None, 1e-5).sum().backward()

    record("layernorm_fwdbwd/12x64x128", threads, measure(ln))

doc = {"peer": a.peer, "versions": {"torch": torch.__version__}, "results": results}
if a.out:
    json.dump(doc, open(a.out, "w"), indent=2)

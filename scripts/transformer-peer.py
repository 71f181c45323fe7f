#!/usr/bin/env python3
"""PyTorch's side of the workload runner's `transformer` section (Autograd.Benchmarks/Workloads.cs):
the GPT's attention as gpt_char.py composes it (q @ kᵀ · scale, causal masked_fill, softmax, @ v) at
[12, 4, 64, 32] and [8, 8, 256, 64], forward (no grad) and forward+backward; F.embedding of [12, 64] ids
into a [65, 128] table and the bias-free F.layer_norm over [12, 64, 128], forward+backward. Same timing
rules as ../shared/peers (warm-up >= 2 calls and 0.3 s, then >= 5 calls and 1 s, median), same JSON schema.
Last, gpt_step/b12t64: one training step of gpt_char.py's model and recipe (its classes, copied below:
forward, cross-entropy, backward, clip_grad_norm_ 1.0, AdamW in two groups with lr_at) on 100,000 uniform token
ids of a 65-character vocabulary; 50 untimed steps, then the median of 150 (as the workload runner's row).

    env LD_LIBRARY_PATH=$OB OPENBLAS_CORETYPE=Cooperlake /usr/bin/python3 scripts/transformer-peer.py \
        --peer pytorch_openblas --out transformer-pt.json
"""
import argparse, json, math, statistics, time

import torch
import torch.nn as nn
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--peer", default="pytorch")
p.add_argument("--out", default="")
p.add_argument("--only", default="", help="comma-separated id prefixes (e.g. gpt_step), or transformer for all, as the runner's --only")
a = p.parse_args()
only = [o for o in a.only.split(",") if o]


def wanted(id):
    return not only or "transformer" in only or any(id.startswith(o) for o in only)


results = []
# ---- gpt_step: gpt_char.py's model and step (classes copied from it: the script trains on import)
n_layer, n_head, n_embd, block, batch, vocab = 4, 4, 128, 64, 12, 65


class LayerNorm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, None, 1e-5)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=False)
        self.register_buffer("causal", torch.tril(torch.ones(block, block)).view(1, 1, block, block))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(n_embd, dim=2)
        hs = C // n_head
        q = q.view(B, T, n_head, hs).transpose(1, 2)
        k = k.view(B, T, n_head, hs).transpose(1, 2)
        v = v.view(B, T, n_head, hs).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(hs))
        att = att.masked_fill(self.causal[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn, self.ln_2 = LayerNorm(n_embd), Attention(), LayerNorm(n_embd)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=False)
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=False)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.c_proj(F.gelu(self.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block, n_embd)
        self.h = nn.ModuleList([Block() for _ in range(n_layer)])
        self.ln_f = LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.wte.weight
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
        for name, prm in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(prm, 0.0, 0.02 / math.sqrt(2 * n_layer))

    def forward(self, idx, targets):
        B, T = idx.shape
        x = self.wte(idx) + self.wpe(torch.arange(T))
        for b in self.h:
            x = b(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, vocab), targets.reshape(-1))


def gpt_step(threads):
    torch.manual_seed(1337)
    train = torch.randint(vocab, (100_000,))
    model = GPT()
    decay = [q for q in model.parameters() if q.dim() >= 2]
    no_decay = [q for q in model.parameters() if q.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.99))

    def lr_at(it):
        if it < 100:
            return 1e-3 * (it + 1) / 101
        r = (it - 100) / (2000 - 100)
        return 1e-4 + 0.5 * (1.0 + math.cos(math.pi * r)) * (1e-3 - 1e-4)

    def step(it):
        for g in opt.param_groups:
            g["lr"] = lr_at(it)
        ix = torch.randint(len(train) - block, (batch,))
        x = torch.stack([train[i:i + block] for i in ix])
        y = torch.stack([train[i + 1:i + 1 + block] for i in ix])
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    for it in range(50):
        step(it)
    times = []
    for it in range(50, 200):
        s = time.perf_counter(); step(it); times.append((time.perf_counter() - s) * 1e3)
    med = statistics.median(times)
    record("gpt_step/b12t64", threads, (med, min(times), len(times)), tokens_per_s=batch * block / (med * 1e-3), warmup_steps=50)




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

        if wanted(f"attention_fwd/{shape}"):
            st = measure(fwd); record(f"attention_fwd/{shape}", threads, st, gflops=flops / (st[0] * 1e-3) / 1e9)
        if wanted(f"attention_fwdbwd/{shape}"):
            st = measure(fwdbwd); record(f"attention_fwdbwd/{shape}", threads, st, gflops=3.5 * flops / (st[0] * 1e-3) / 1e9)

    table = torch.randn(65, 128, requires_grad=True)
    ids = torch.randint(65, (12, 64))

    def emb():
        table.grad = None
        F.embedding(ids, table).sum().backward()

    if wanted("embedding_fwdbwd/65x128"):
        record("embedding_fwdbwd/65x128", threads, measure(emb))
    x = torch.randn(12, 64, 128, requires_grad=True)
    w = torch.ones(128, requires_grad=True)

    def ln():
        x.grad = w.grad = None
        F.layer_norm(x, (128,), w, None, 1e-5).sum().backward()

    if wanted("layernorm_fwdbwd/12x64x128"):
        record("layernorm_fwdbwd/12x64x128", threads, measure(ln))
    if wanted("gpt_step/b12t64"):
        gpt_step(threads)

doc = {"peer": a.peer, "versions": {"torch": torch.__version__}, "results": results}
if a.out:
    json.dump(doc, open(a.out, "w"), indent=2)

#!/usr/bin/env python3
"""Loads the GPT job's gpt.safetensors into gpt_char.py's own model (strict) and runs the script's val_loss on it.

    /usr/bin/python3 scripts/gpt-in-pytorch.py out/gpt.safetensors [--script ../shared/peers/pytorch/gpt_char.py]
        [--data ../shared/data/tinyshakespeare.txt] [--threads 1]

Needs Debian's python3-torch (PyTorch 1.13), not the safetensors package: the file is read with the format's
own layout (8-byte header length, JSON header, little-endian data). The script's code is executed up to its
training loop (the model, the optimiser, lr_at, get_batch, val_loss), so nothing is trained.
"""
import argparse, json, os, struct, sys, time

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("weights")
p.add_argument("--script", default=os.path.join(here, "..", "..", "shared", "peers", "pytorch", "gpt_char.py"))
p.add_argument("--data", default=os.path.join(here, "..", "..", "shared", "data", "tinyshakespeare.txt"))
p.add_argument("--threads", default="1")
a = p.parse_args()

source = open(a.script, encoding="utf-8").read()
sys.argv = [a.script, "--data", a.data, "--threads", a.threads]
script = {"__name__": "gpt_char", "__file__": a.script}
exec(compile(source[: source.index("times, losses = [], []")], a.script, "exec"), script)
torch, model = script["torch"], script["model"]

raw = open(a.weights, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
header.pop("__metadata__", None)
state = {}
for name, entry in header.items():
    assert entry["dtype"] == "F32", (name, entry["dtype"])
    begin, end = entry["data_offsets"]
    state[name] = torch.from_numpy(np.frombuffer(raw[8 + n + begin:8 + n + end], dtype="<f4").reshape(entry["shape"]).copy())

print("keys in the script's state_dict order:", list(state) == list(model.state_dict()))
print(model.load_state_dict(state, strict=True))
print("lm_head still tied to wte:", model.lm_head.weight is model.wte.weight,
      "; parameters:", sum(q.numel() for q in model.parameters()))
t0 = time.perf_counter()
loss, count = script["val_loss"]()
print(f"the script's val_loss of these weights: {loss:.6f} over {count} positions ({time.perf_counter() - t0:.1f} s)")

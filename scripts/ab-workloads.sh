#!/usr/bin/env bash
# Before/after figures for a change that must not regress: builds the workload runner at two revisions and
# runs them alternately in the same minutes (before, after, before, after, ...), then prints a table of the
# medians of the runs' medians and their ratio (docs/performance.md, "The architecture step").
#
#   scripts/ab-workloads.sh BEFORE_REV AFTER_REV [ROUNDS=4] [OUT_DIR=/tmp/ab-workloads]
#
# Each run is `workloads --epochs 1` (every kernel workload and one Fashion-MNIST epoch, ~40 s here); it
# waits for an idle machine first (<= 15 % busy over 2 s, up to 5 min). Needs python3 for the table and
# the Debian package dataset-fashion-mnist for the epoch. Run nothing else meanwhile: the machine has 2 cores.
set -euo pipefail
before=${1:?before revision}; after=${2:?after revision}; rounds=${3:-4}; out=${4:-/tmp/ab-workloads}
repo=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
for side in before after; do
  rev=$([ "$side" = before ] && echo "$before" || echo "$after")
  rm -rf "$out/src-$side"
  git -C "$repo" worktree add -q --detach "$out/src-$side" "$rev"
  dotnet build "$out/src-$side/Autograd.Benchmarks" -c Release -o "$out/$side" >/dev/null
  git -C "$repo" worktree remove --force "$out/src-$side"
done
for i in $(seq 1 60); do
  b=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat); sleep 2
  a=$(awk '/^cpu /{print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat)
  busy=$(echo "$b $a" | awk '{printf "%d", 100*($3-$1)/($4-$2)}')
  [ "$busy" -le 15 ] && break
  echo "waiting for an idle machine (busy $busy %)"; sleep 3
done
for round in $(seq 1 "$rounds"); do
  for side in before after; do
    echo "=== $side, round $round, $(date -u +%H:%M:%S)"
    dotnet "$out/$side/Autograd.Benchmarks.dll" workloads --epochs 1 --out "$out/$side-$round.json" > "$out/$side-$round.log" 2>&1
    grep -o 'epoch 1: train [0-9.]* s.*test acc [0-9.]* %' "$out/$side-$round.log" || true
  done
done
python3 - "$out" <<'PY'
import glob, json, statistics, sys
out = sys.argv[1]
def load(p):
    j = json.load(open(p))
    d = {(r["id"], r["threads"]): r["median_ms"] for r in j["results"]}
    for e in j.get("train", {}).get("epochs", []):
        d[("train/fashion_mnist_epoch", j["train"]["threads"])] = e["train_s"] * 1e3
    return d
b = [load(p) for p in sorted(glob.glob(f"{out}/before-*.json"))]
a = [load(p) for p in sorted(glob.glob(f"{out}/after-*.json"))]
f = lambda x: f"{x:.3f}" if x < 10 else (f"{x:.2f}" if x < 100 else f"{x:.1f}")
print(f"{len(b)} runs a side, alternating\n")
print("| workload | thr | before, ms: median (min-max) | after, ms: median (min-max) | after / before |")
print("|---|---|---|---|---|")
ratios = []
for key in b[0]:
    if not all(key in d for d in b + a):
        continue
    bb, aa = [d[key] for d in b], [d[key] for d in a]
    r = statistics.median(aa) / statistics.median(bb); ratios.append(r)
    print(f"| {key[0]} | {key[1]} | {f(statistics.median(bb))} ({f(min(bb))}-{f(max(bb))}) | {f(statistics.median(aa))} ({f(min(aa))}-{f(max(aa))}) | {r:.3f} |")
print(f"\ngeometric mean of after/before over {len(ratios)} workloads: {statistics.geometric_mean(ratios):.3f}")
PY

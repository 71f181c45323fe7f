#!/usr/bin/env bash
# Same-session table: this build's workload runner beside a baseline build, TorchSharp and PyTorch + OpenBLAS,
# alternating, ROUNDS rounds (docs/performance.md, "Same-session table").
#
#   scripts/peer-table.sh OUT BEFORE_BIN [ROUNDS]
#
# OUT: folder for the JSONs; BEFORE_BIN: folder of a baseline Autograd.Benchmarks.dll (e.g. main's build);
# BEFORE_ARGS: extra arguments for the baseline's runs (e.g. BEFORE_ARGS=--no-settle with this build as baseline).
# ONLY: the runner's --only list for a part of the table (e.g. ONLY=transformer: both builds' transformer rows and
# PyTorch's from scripts/transformer-peer.py, without TorchSharp and the other PyTorch rows).
# Needs the peers set up as ../shared/peers/run.sh does: a copy at $PEERS (default /tmp/peers) with TsBench built,
# and OpenBLAS unpacked at $OB. Run it on an otherwise idle machine. Then: python3 scripts/peer-table.py OUT
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
out=$1; before=$2; rounds=${3:-2}
peers=${PEERS:-/tmp/peers}
OB=${OB:-/tmp/ob/root/usr/lib/x86_64-linux-gnu/openblas-openmp}
mkdir -p "$out"; cd "$out"
dotnet build "$here/Autograd.Benchmarks" -c Release -nologo -v q >/dev/null
after="$here/Autograd.Benchmarks/bin/Release/net10.0"
only=${ONLY:+--only $ONLY}
for round in $(seq 1 "$rounds"); do
  echo "=== round $round $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  dotnet "$after/Autograd.Benchmarks.dll" workloads --epochs 3 $only --out "new-$round.json" > "new-$round.log" 2>&1
  dotnet "$before/Autograd.Benchmarks.dll" workloads --epochs 3 $only ${BEFORE_ARGS:-} --out "old-$round.json" > "old-$round.log" 2>&1
  if [ -z "${ONLY:-}" ]; then
    dotnet "$peers/torchsharp/bin/Release/net10.0/TsBench.dll" --no-train --peer torchsharp --out "ts-$round.json" > "ts-$round.log" 2>&1
    env LD_LIBRARY_PATH="$OB" OPENBLAS_CORETYPE=Cooperlake /usr/bin/python3 "$peers/pytorch/bench.py" --no-train \
        --peer pytorch_openblas --out "pt-$round.json" > "pt-$round.log" 2>&1
  fi
  env LD_LIBRARY_PATH="$OB" OPENBLAS_CORETYPE=Cooperlake /usr/bin/python3 "$here/scripts/transformer-peer.py" \
      --only "${ONLY:-transformer}" --peer pytorch_openblas --out "ptt-$round.json" > "ptt-$round.log" 2>&1
done
echo "=== done $(date -u +%T)"

#!/usr/bin/env bash
# Line and branch coverage per project: the whole suite once under coverlet.collector (the test projects
# reference it), then scripts/coverage-summary.py merges the test projects' Cobertura reports and prints one
# line per project and, with --vjp (the default here), every VJP line the suite does not run or whose
# branches it does not all take. Figures and the uncovered VJP code argued: docs/verification.md, "Coverage".
# Usage: scripts/coverage.sh [output-dir]   (default TestResults/coverage; NO_BUILD=1 skips the build)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-TestResults/coverage}
rm -rf "$out"
dotnet test Autograd.sln -c Release ${NO_BUILD:+--no-build} --collect:"XPlat Code Coverage" --results-directory "$out"
python3 scripts/coverage-summary.py --vjp "$out"/*/coverage.cobertura.xml | tee "$out/summary.txt"

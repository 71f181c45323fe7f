#!/usr/bin/env bash
# Mutation score of the VJP code with Stryker.NET (opt-in: ~20-30 min on one core; see docs/verification.md).
#
#   scripts/mutation.sh [Ops|Core|all] [output-dir]
#
# Mutates only the VJP code (the closures recorded by Tape.Record, the elementwise VJP formulas, the
# named backward helpers) of Autograd.Ops and the engine of Autograd.Core (Engine.cs, Node.cs and the
# view VJPs), and runs only the gradient properties (Category=GradProperty) against each mutant.
# The mutate spans are computed from the source by scripts/mutation-scope.cs. Reports (html, json,
# and a plain-text tree) go to <output-dir>/<project>/reports (default: StrykerOutput/).
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
out=${2:-StrykerOutput}
out=$(mkdir -p "$out" && cd "$out" && pwd)
dotnet tool restore >/dev/null
# Stryker's project analysis needs restored projects (on a fresh clone there are none yet).
dotnet restore Autograd.Tests/Autograd.Tests.csproj >/dev/null

# A failing property stops at its first case instead of shrinking it: a killed mutant is reported in
# seconds rather than timing out while FsCheck shrinks (which Stryker would count as detected anyway).
export AUTOGRAD_PROPERTY_NO_SHRINK=1

run() {
    local project=$1
    local -a mutate=()
    while IFS= read -r pattern; do
        mutate+=(--mutate "$pattern")
    done < <(dotnet run scripts/mutation-scope.cs -- "$project")
    echo "== Autograd.$project: ${#mutate[@]} mutate patterns"
    # Stryker's project analysis (Buildalyzer) gives up with "Could not find build environment" when
    # `dotnet --info` is slow on a busy machine: try again, three times at most.
    local attempt
    for attempt in 1 2 3; do
        stryker "$project" "${mutate[@]}" && return 0
        echo "== Stryker failed (attempt $attempt)" >&2
    done
    return 1
}

stryker() {
    local project=$1
    shift
    (cd Autograd.Tests && dotnet stryker \
        --project "Autograd.$project.csproj" \
        "$@" \
        --test-case-filter "Category=GradProperty" \
        --concurrency "${STRYKER_CONCURRENCY:-1}" \
        --configuration Release \
        --reporter Progress --reporter Html --reporter Json --reporter ClearTextTree \
        --skip-version-check \
        --output "$out/$project")
}

case $which in
    Ops | Core) run "$which" ;;
    all) run Ops; run Core ;;
    *) echo "usage: scripts/mutation.sh [Ops|Core|all] [output-dir]" >&2; exit 2 ;;
esac

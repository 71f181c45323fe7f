#!/usr/bin/env bash
# Mutation score of the VJP code with Stryker.NET (opt-in: an hour or more per project on one shared core;
# see docs/verification.md).
#
#   scripts/mutation.sh [Ops|Core|Nn|all] [output-dir]
#
# Mutates only the VJP code (the closures recorded by Tape.Record, the elementwise VJP formulas, the
# named backward helpers) of Autograd.Ops and the engine of Autograd.Core (Engine.cs, Node.cs and the
# view VJPs), and runs the gradient properties (Category=GradProperty) against each mutant, with the op
# fixtures for Ops ($OPS_FILTER) and the engine's own fixtures for Core ($CORE_FILTER).
# For Autograd.Nn it mutates the optimizers' update rules, the schedulers, ClipGradNorm, Init, the loss
# and normalisation modules, and runs the Autograd.Nn.Tests fixtures that test them ($NN_FILTER).
# The mutate spans are computed from the source by scripts/mutation-scope.cs. Reports (html, json,
# and a plain-text tree) and Stryker's log go to <output-dir>/<project>/ (default: StrykerOutput/).
#
# Environment: STRYKER_CONCURRENCY (test sessions at once, default 1), STRYKER_ADDITIONAL_TIMEOUT (ms
# Stryker adds to a mutant's time limit, default 30000: a starved session must not pass for a kill),
# AUTOGRAD_PROPERTY_MAX_TEST (cases per property, default 25 here instead of 100).
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
out=${2:-StrykerOutput}
out=$(mkdir -p "$out" && cd "$out" && pwd)
dotnet tool restore >/dev/null
# Stryker's project analysis needs restored projects (on a fresh clone there are none yet).
dotnet restore Autograd.Tests/Autograd.Tests.csproj >/dev/null
dotnet restore Autograd.Nn.Tests/Autograd.Nn.Tests.csproj >/dev/null

# A failing property stops at its first case instead of shrinking it: a killed mutant is reported in
# seconds rather than timing out while FsCheck shrinks (which Stryker would count as detected anyway).
export AUTOGRAD_PROPERTY_NO_SHRINK=1
# Every mutant's test session pays for every case of the properties that cover it: at most 25 cases per
# property instead of 100 (GradProperty.MaxTestVariable). A killed mutant is still a failing property;
# fewer cases can only let more mutants survive, so the score is if anything an underestimate.
export AUTOGRAD_PROPERTY_MAX_TEST=${AUTOGRAD_PROPERTY_MAX_TEST:-25}
# Test sessions run side by side (STRYKER_CONCURRENCY) on few cores: the worker pool must not spin for work
# while another session needs the core (Threads.Pool; AUTOGRAD_SPIN_US=0 parks a worker at once).
export AUTOGRAD_SPIN_US=${AUTOGRAD_SPIN_US:-0}

# Core's engine code also owns and releases buffers during a pass, frees graphs, runs hooks, reports errors and
# builds second-order graphs: the Core fixtures (all but LifetimeTests, which test the ops' reads of dying
# inputs and cost ~27 s), HigherOrder and Reliability test that, so they run beside the gradient properties.
CORE_FILTER="Category=GradProperty|(FullyQualifiedName~Autograd.Tests.Core.&FullyQualifiedName!~Autograd.Tests.Core.LifetimeTests)|FullyQualifiedName~Autograd.Tests.HigherOrder.|FullyQualifiedName~Autograd.Tests.Reliability."
# Ops: the gradient properties and the other op fixtures (values against PyTorch, path agreement, saved-tensor
# versions, call sites and messages, empty dims).
OPS_FILTER="Category=GradProperty|FullyQualifiedName~Autograd.Tests.Ops.|FullyQualifiedName~Autograd.Tests.HigherOrder.|FullyQualifiedName~Autograd.Tests.Reliability."
NN_FILTER="FullyQualifiedName~Autograd.Nn.Tests.OptimizerTests|FullyQualifiedName~Autograd.Nn.Tests.OptimizerStateTests|FullyQualifiedName~Autograd.Nn.Tests.SchedulerTests|FullyQualifiedName~Autograd.Nn.Tests.ClipGradTests|FullyQualifiedName~Autograd.Nn.Tests.InitTests|FullyQualifiedName~Autograd.Nn.Tests.LayerGradientTests|FullyQualifiedName~Autograd.Nn.Tests.LayerTests|FullyQualifiedName~Autograd.Nn.Tests.NewLayerTests"

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
    local tests=Autograd.Tests filter=$OPS_FILTER
    if [ "$project" = Nn ]; then
        tests=Autograd.Nn.Tests filter=$NN_FILTER
    elif [ "$project" = Core ]; then
        filter=$CORE_FILTER
    fi
    # Stryker 5.1 takes the additional timeout from a config file only.
    mkdir -p "$out/$project"
    printf '{ "stryker-config": { "additional-timeout": %d } }\n' "${STRYKER_ADDITIONAL_TIMEOUT:-30000}" >"$out/$project/stryker-config.json"
    (cd "$tests" && dotnet stryker \
        --config-file "$out/$project/stryker-config.json" \
        --project "Autograd.$project.csproj" \
        "$@" \
        --test-case-filter "$filter" \
        --concurrency "${STRYKER_CONCURRENCY:-1}" \
        --configuration Release \
        --reporter Progress --reporter Html --reporter Json --reporter ClearTextTree \
        --log-to-file \
        --skip-version-check \
        --output "$out/$project")
}

case $which in
    Ops | Core | Nn) run "$which" ;;
    all) run Ops; run Core; run Nn ;;
    *) echo "usage: scripts/mutation.sh [Ops|Core|Nn|all] [output-dir]" >&2; exit 2 ;;
esac

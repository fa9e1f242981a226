#!/usr/bin/env bash
# The test command: installs what the tests need, builds, runs every test project of the solution and
# prints one plain line "N passed, N failed". Extra arguments go to dotnet test, for example
#   scripts/test.sh --filter "Category!=EndToEnd&Category!=Storage&Category!=Model"   (unit tests only)
#   scripts/test.sh --filter "Category=Slow"                                           (only the slow tests)
# Without a --filter of its own it runs every test but those marked Category=Slow (the evaluation's folder modes,
# about 3.5 minutes of ResNet18 passes whose path other tests cover), so that it stays near 15 minutes on two cores.
# Tests start their own Azurite instances (in memory, on ports of their own) and their own silos.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh || { echo "test: setup failed" >&2; exit 1; }
# Release, as scripts/run.sh ships it: the tests exercise the build that runs, and the map fitting and evaluation
# maths, which several end-to-end tests run on 512-d calibration samples, is several times slower unoptimised.
dotnet build Indexer.sln -c Release --nologo -v quiet -clp:ErrorsOnly || { echo "test: build failed" >&2; exit 1; }

results="$root/TestResults"
rm -rf "$results"
# A hung test fails the run after 10 minutes instead of eating the whole CI budget.
filter=(--filter "Category!=Slow")
for arg in "$@"; do
  case "$arg" in --filter|--filter=*) filter=() ;; esac
done
dotnet test Indexer.sln -c Release --no-build --nologo --logger trx --results-directory "$results" --blame-hang-timeout 10m --blame-hang-dump-type none "${filter[@]}" "$@"
status=$?

passed=0; failed=0; files=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  files=$((files + 1))
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -nE 's/.* passed="([0-9]+)".*/\1/p' <<<"$counters")
  f=$(sed -nE 's/.* failed="([0-9]+)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done

echo "$passed passed, $failed failed"
if [ "$files" -eq 0 ] || [ "$passed" -eq 0 ]; then echo "test: no test ran" >&2; exit 1; fi
if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then exit 1; fi
exit 0

#!/usr/bin/env bash
# Writes docs/results/ (issue 4): the upgrade report of the Fashion-MNIST model zoo.
#   1. scripts/setup.sh (dataset, scikit-learn, Azurite, NuGet packages);
#   2. scripts/zoo.sh when the zoo (.data/zoo) is missing (about 20 minutes the first time: the backbone runs on
#      15,000 images, then four heads train);
#   3. `indexer-eval offline`: 20 simulated users x 400 images + 50 queries from the Fashion-MNIST test split
#      (its backbone features are cached in .data/zoo/cache the first time, 3-4 minutes at 50 images/s), the 21-point
#      curves of v1 -> v2-independent, v2-bct, v2-pc; writes README.md, the PNG plots and results.json;
#   4. `indexer-eval system`: the same upgrades through a real silo (in process, Azurite on port 5690), the first 4
#      users by default (`scripts/evaluate.sh -- --galleries 20` runs all 20 for both, as docs/results holds: 32 min),
#      paused at beta = 0, 0.25, 0.5, 0.75, 1; each user names the gallery's clusters and corrects two items first, and
#      cluster quality (ARI, NMI, purity) and named-item flips are measured at every pause (issue 5); clustering join
#      thresholds per version are picked on held-out galleries (--cluster-join calibrate|system|<number>); adds its
#      figures to the same report (15-30 minutes on 2 cores).
# Options: --offline-only skips step 4; anything after -- goes to both indexer-eval commands (e.g. -- --seed 1).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

offline_only=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --offline-only) offline_only=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "usage: scripts/evaluate.sh [--offline-only] [-- indexer-eval options]" >&2; exit 2 ;;
  esac
done

"$root/scripts/setup.sh"

zoo=.data/zoo
if [ ! -f "$zoo/v1/manifest.json" ] || [ ! -f "$zoo/v2-independent/manifest.json" ] || [ ! -f "$zoo/v2-bct/manifest.json" ]; then
  echo "evaluate: no model zoo in $zoo; building it"
  "$root/scripts/zoo.sh" --out "$zoo"
fi

echo "evaluate: building indexer-eval"
dotnet build "$root/eval/Indexer.Evaluation" -c Release --verbosity quiet --nologo
eval_dll="$root/eval/Indexer.Evaluation/bin/Release/net10.0/indexer-eval.dll"

echo "evaluate: offline"
dotnet "$eval_dll" offline --zoo "$zoo" --out docs/results "${extra[@]}"

if [ "$offline_only" -eq 0 ]; then
  echo "evaluate: system"
  dotnet "$eval_dll" system --zoo "$zoo" --out docs/results "${extra[@]}"
fi

echo "evaluate: docs/results written ($(du -sh docs/results | cut -f1))"

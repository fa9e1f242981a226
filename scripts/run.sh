#!/usr/bin/env bash
# The main job: installs what Indexer needs, starts Azurite (data kept in .data/azurite) and a silo
# with its HTTP API on http://127.0.0.1:5080, ingests a sample gallery of 1000 labeled Fashion-MNIST
# images with a progress bar and searches it with held-out images. The silo then keeps running for
# the CLI (Ctrl+C stops it); with --demo-only everything stops after the demo.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
demo_only=false
[ "${1:-}" = "--demo-only" ] && demo_only=true

scripts/setup.sh
echo "run: building"
dotnet build src/Silo/Indexer.Silo.csproj -c Release --nologo -v quiet -clp:ErrorsOnly
dotnet build src/Cli/Indexer.Cli.csproj -c Release --nologo -v quiet -clp:ErrorsOnly
scripts/azurite.sh start 10000 "$root/.data/azurite"

mkdir -p .run
export ASPNETCORE_ENVIRONMENT=Development   # the demo user and key live in appsettings.Development.json
dotnet src/Silo/bin/Release/net10.0/Indexer.Silo.dll >.run/silo.log 2>&1 &
silo=$!
cleanup() {
  kill "$silo" 2>/dev/null && wait "$silo" 2>/dev/null
  scripts/azurite.sh stop 10000
}
trap cleanup EXIT

echo "run: waiting for the silo (log: .run/silo.log)"
for _ in $(seq 1 300); do
  if curl -fs http://127.0.0.1:5080/health/ready >/dev/null 2>&1; then break; fi
  if ! kill -0 "$silo" 2>/dev/null; then echo "run: the silo stopped; see .run/silo.log" >&2; tail -20 .run/silo.log >&2; exit 1; fi
  sleep 0.5
done
curl -fs http://127.0.0.1:5080/health/ready >/dev/null || { echo "run: the silo did not become ready" >&2; exit 1; }

export INDEXER_URL=http://127.0.0.1:5080 INDEXER_USER=demo INDEXER_API_KEY=demo-key-for-local-runs-only
indexer() { dotnet "$root/src/Cli/bin/Release/net10.0/indexer.dll" "$@"; }
indexer demo --count "${DEMO_COUNT:-1000}" --queries "${DEMO_QUERIES:-50}" --work "$root/.data/sample"

$demo_only && exit 0
cat <<MSG

Indexer is running: HTTP API on $INDEXER_URL (OpenAPI: $INDEXER_URL/openapi/v1.json, metrics: $INDEXER_URL/metrics).
In another shell, with the same three INDEXER_ variables set:
  dotnet src/Cli/bin/Release/net10.0/indexer.dll ingest ~/Pictures --gallery mine
  dotnet src/Cli/bin/Release/net10.0/indexer.dll search photo.jpg --gallery mine
Ctrl+C stops the silo and Azurite.
MSG
wait "$silo"

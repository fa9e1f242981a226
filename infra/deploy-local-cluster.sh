#!/usr/bin/env bash
# Starts a two-silo Indexer cluster on this machine with Azure Table membership against an in-memory
# Azurite, everything on 127.0.0.1: HTTP on 5081 and 5082. --stop stops it (and forgets its data).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
state=.run/cluster
mkdir -p "$state"

if [ "${1:-}" = "--stop" ]; then
  for pid in "$state"/silo-*.pid; do [ -f "$pid" ] && kill "$(cat "$pid")" 2>/dev/null; rm -f "$pid"; done
  scripts/azurite.sh stop 10100
  exit 0
fi

scripts/setup.sh
dotnet build src/Silo/Indexer.Silo.csproj -c Release --nologo -v quiet -clp:ErrorsOnly
scripts/azurite.sh start 10100
key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="   # Azurite's published development key
export Indexer__Storage__ConnectionString="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=http://127.0.0.1:10100/devstoreaccount1;QueueEndpoint=http://127.0.0.1:10101/devstoreaccount1;TableEndpoint=http://127.0.0.1:10102/devstoreaccount1;"
export Indexer__Cluster__Mode=AzureTable Indexer__Cluster__ClusterId=local-cluster Indexer__Cluster__AdvertisedAddress=127.0.0.1
export ASPNETCORE_ENVIRONMENT=Development   # the demo user and key

for n in 1 2; do
  Urls="http://127.0.0.1:508$n" Indexer__Cluster__SiloPort="1111$n" Indexer__Cluster__GatewayPort="3000$n" \
    dotnet src/Silo/bin/Release/net10.0/Indexer.Silo.dll >"$state/silo-$n.log" 2>&1 &
  echo $! >"$state/silo-$n.pid"
done

for n in 1 2; do
  for _ in $(seq 1 240); do
    curl -fs "http://127.0.0.1:508$n/health/ready" >/dev/null 2>&1 && break
    sleep 0.5
  done
  curl -fs "http://127.0.0.1:508$n/health/ready" >/dev/null && echo "silo $n ready on http://127.0.0.1:508$n" \
    || { echo "silo $n did not become ready; see $state/silo-$n.log" >&2; exit 1; }
done

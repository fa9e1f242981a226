#!/usr/bin/env bash
# scripts/azurite.sh start|stop [blob-port] [data-folder]
# Starts Azurite on 127.0.0.1 (blob, queue and table on three consecutive ports) and waits until it
# accepts connections. With a data folder it keeps its data there across restarts; without one it
# holds everything in memory. --skipApiVersionCheck: the Azure SDKs send service versions
# newer than any Azurite release knows.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmd="${1:-start}"
port="${2:-10000}"
data="${3:-}"
state="$root/.run"
pidfile="$state/azurite-$port.pid"
mkdir -p "$state"

case "$cmd" in
  start)
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "azurite: already running on $port (pid $(cat "$pidfile"))"; exit 0
    fi
    if [ -n "$data" ]; then mkdir -p "$data"; persistence=(--location "$data"); else persistence=(--inMemoryPersistence); fi
    "$root/tools/azurite/node_modules/.bin/azurite" "${persistence[@]}" --skipApiVersionCheck \
      --disableTelemetry --silent --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1 \
      --blobPort "$port" --queuePort "$((port + 1))" --tablePort "$((port + 2))" \
      >"$state/azurite-$port.log" 2>&1 &
    echo $! >"$pidfile"
    # Up to 60 s: node takes a few seconds to start Azurite on an idle 2-core machine, much longer on a busy one.
    for _ in $(seq 1 600); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$((port + 2))") 2>/dev/null; then
        echo "azurite: ready on 127.0.0.1:$port (pid $(cat "$pidfile"))"; exit 0
      fi
      sleep 0.1
    done
    kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"
    echo "azurite: did not start; see $state/azurite-$port.log" >&2; exit 1 ;;
  stop)
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi ;;
  *) echo "usage: scripts/azurite.sh start|stop [blob-port]" >&2; exit 2 ;;
esac

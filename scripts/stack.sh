#!/usr/bin/env bash
# Starts / stops the local host (bin/devstack) in the background and seeds local credentials.
#   stack.sh up [API_PORT] | down
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
state=${DCRM_HOME:-$top/.dcrm}
mkdir -p "$state/run" "$state/logs"
pidfile=$state/run/devstack.pid

running() { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

up() {
  local port=${1:-8080}
  if running; then
    echo "stack: local host already running (pid $(cat "$pidfile"))"
  else
    rm -f "$state/resources.env"
    # The host records its own pid (setsid -f forks) and leads its own session, so down can kill its group.
    setsid -f bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" \
      bin/devstack -api-port "$port" -functions "$top/bin/functions" -state "$state" -quiet \
      </dev/null >"$state/logs/devstack.log" 2>&1
    for _ in $(seq 1 50); do [ -s "$pidfile" ] && break; sleep 0.1; done
    for _ in $(seq 1 600); do
      [ -s "$state/resources.env" ] && break
      running || { echo "stack: local host exited; see $state/logs/devstack.log" >&2; tail -20 "$state/logs/devstack.log" >&2; exit 1; }
      sleep 0.1
    done
    [ -s "$state/resources.env" ] || { echo "stack: local host did not become ready" >&2; exit 1; }
    bin/dcrm seed-local --resources "$state/resources.env" --out "$state/local.env"
  fi
  echo "stack: API http://127.0.0.1:$port — credentials and endpoints in $state/local.env"
}

down() {
  if running; then
    kill -- "-$(cat "$pidfile")" 2>/dev/null || kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 100); do running || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  up) up "${2:-8080}" ;;
  down) down ;;
  *) echo "usage: $0 up [API_PORT] | down" >&2; exit 2 ;;
esac

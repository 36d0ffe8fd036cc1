#!/usr/bin/env bash
# TLS served by siogo itself (issue 9): resident memory per idle WSS client
# against plain WS, and server CPU per new connection over TLS against
# Node's https server running the same demo (test/node/demo-server.js),
# interleaved rounds on one machine. Results as siobench JSON lines in
# $OUT (default /tmp/siogo-tls-bench), summarised in bench/README.md "TLS".
#
#   bench/tls/run.sh [rounds] [clients]     # defaults: 2 rounds, 10000 clients
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-2}
N=${2:-10000}
OUT=${OUT:-/tmp/siogo-tls-bench}
mkdir -p "$OUT"
ulimit -n 20000 2>/dev/null || true
go build -o "$OUT/siogo" ./cmd/siogo
go build -o "$OUT/siobench" ./cmd/siobench
(cd test/node && [ -d node_modules/socket.io ] || npm ci --no-audit --no-fund)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$OUT/key.pem" -out "$OUT/cert.pem" -subj /CN=localhost \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null
PORT=${PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
TLSARGS=(--tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem")
SERVER_PID=

start() { # name: siogo-plain | siogo-tls | node-tls
  case $1 in
  siogo-plain) "$OUT/siogo" --addr 127.0.0.1:$PORT --log-level warn & ;;
  siogo-tls) "$OUT/siogo" --addr 127.0.0.1:$PORT --log-level warn "${TLSARGS[@]}" & ;;
  node-tls) (cd test/node && exec node demo-server.js 127.0.0.1:$PORT 2500 "$OUT/cert.pem" "$OUT/key.pem" >/dev/null) & ;;
  esac
  SERVER_PID=$!
  for _ in $(seq 50); do
    curl -skf "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return
    curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return
    sleep 0.2
  done
  echo "server $1 did not come up" >&2
  exit 1
}
stop() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
trap stop EXIT
bench() { # name url flags... scenario
  local name=$1 url=$2
  shift 2
  "$OUT/siobench" --url "$url" --ca "$OUT/cert.pem" --pid "$SERVER_PID" --quiet --json "$@" |
    sed "s/^{/{\"server\":\"$name\",\"round\":$round,/" | tee -a "$OUT/results.jsonl"
}

: >"$OUT/results.jsonl"
for round in $(seq "$ROUNDS"); do
  # Memory per idle client: plain WS, then WSS (alternating which goes first).
  order=(siogo-plain siogo-tls)
  ((round % 2 == 0)) && order=(siogo-tls siogo-plain)
  for s in "${order[@]}"; do
    start "$s"
    scheme=http; [ "$s" = siogo-tls ] && scheme=https
    bench "$s" "$scheme://127.0.0.1:$PORT" -n "$N" --rate 1000 --hold 10s conns
    stop
  done
  # CPU per new connection over TLS: siogo and Node's https server.
  order=(siogo-tls node-tls)
  ((round % 2 == 0)) && order=(node-tls siogo-tls)
  for s in "${order[@]}"; do
    start "$s"
    bench "$s" "https://127.0.0.1:$PORT" -p 4 --duration 10s handshakes
    stop
  done
done
echo "results: $OUT/results.jsonl"

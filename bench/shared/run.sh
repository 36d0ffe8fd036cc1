#!/usr/bin/env bash
# What shared sessions cost a cluster (bench/README.md "Shared sessions"):
# the local twin of docker-compose.yml (deploy/local-cluster.sh), three
# nodes on one redis-server behind nginx, first sticky (--sessions local,
# nginx hash on the client address), then round-robin (--sessions shared,
# deploy/nginx-roundrobin.conf), under the same socket.io-client 4 polling
# clients (from 32 loopback addresses, so that the sticky hash spreads
# them) and acknowledged broadcasts; prints the CPU seconds each part of
# the cluster spent during the run.
#
#   bench/shared/run.sh [clients] [seconds] [interval-ms]    # default 300 30 500
set -euo pipefail
cd "$(dirname "$0")/../.."
clients=${1:-300} seconds=${2:-30} interval=${3:-500}
base=${BENCH_PORT_BASE:-23100}
export CLUSTER_DIR=${CLUSTER_DIR:-/tmp/siogo-bench-shared} NGINX_PORT=$base REDIS_PORT=$((base + 1))
export NODE_PORTS="$((base + 2)) $((base + 3)) $((base + 4))"

# cpu PID...: user+system seconds of the processes and their children.
cpu() {
  local total=0 p t
  for p in "$@"; do
    for t in $p $(ps -o pid= --ppid "$p" 2>/dev/null); do
      [ -r /proc/$t/stat ] || continue
      total=$((total + $(awk '{print $14 + $15}' /proc/$t/stat)))
    done
  done
  echo "$total"
}

addrs=$(for i in $(seq 10 41); do printf '"127.0.0.%d",' "$i"; done)
addrs="[${addrs%,}]"
for mode in local shared; do
  SIOGO_SESSIONS=$mode deploy/local-cluster.sh start >/dev/null
  sleep 2
  nodes=$(cat "$CLUSTER_DIR"/siogo[123].pid)
  redis=$(cat "$CLUSTER_DIR"/redis.pid)
  nginx=$(cat "$CLUSTER_DIR"/nginx.pid)
  cfg='{"urls":["http://127.0.0.1:'$NGINX_PORT'"],"perUrl":'$clients',"senderUrl":"http://127.0.0.1:'$NGINX_PORT'","intervalMs":'$interval',"transports":["polling"],"localAddresses":'$addrs'}'
  fifo=$(mktemp -u); mkfifo "$fifo"
  (cd test/node && node load-clients.js "$cfg" <"$fifo" >"$CLUSTER_DIR/load-$mode.json") &
  exec 3>"$fifo"
  until grep -q ready "$CLUSTER_DIR/load-$mode.json" 2>/dev/null; do sleep 0.2; done
  n0=$(cpu $nodes) r0=$(cpu "$redis") x0=$(cpu "$nginx")
  sleep "$seconds"
  n1=$(cpu $nodes) r1=$(cpu "$redis") x1=$(cpu "$nginx")
  echo end >&3; exec 3>&-; wait; rm -f "$fifo"
  hz=$(getconf CLK_TCK)
  summary=$(tail -n 1 "$CLUSTER_DIR/load-$mode.json" | node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const got = r.clients.reduce((a, c) => a + c.got.length, 0);
    const disc = r.clients.reduce((a, c) => a + c.disconnects.length, 0);
    console.log(`sent ${r.sent}, acked ${r.acks.length}, delivered ${got}, disconnects ${disc}`);')
  printf '%-6s %d clients %ds: siogo nodes %.2f s CPU, redis %.2f s, nginx %.2f s; %s\n' "$mode" "$clients" "$seconds" \
    "$(echo "($n1 - $n0) / $hz" | bc -l)" "$(echo "($r1 - $r0) / $hz" | bc -l)" "$(echo "($x1 - $x0) / $hz" | bc -l)" "$summary"
  deploy/local-cluster.sh stop >/dev/null
  sleep 3
done

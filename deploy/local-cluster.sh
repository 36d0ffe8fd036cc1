#!/usr/bin/env bash
# The docker-compose.yml topology from local processes, for machines
# without a container engine (and for the cluster tests): redis-server,
# three siogo nodes with the Redis adapter, and nginx with the same
# configuration, sticky by client address.
#
#   deploy/local-cluster.sh start    # then open http://localhost:8080/
#   deploy/local-cluster.sh stop
#   deploy/local-cluster.sh start redis-cluster   # on a three-master Redis Cluster
#   deploy/local-cluster.sh start streams         # the Redis Streams adapter, with
#                                                 # recovery across nodes (SIOGO_RECOVERY, 2m)
#   deploy/local-cluster.sh start streams-cluster # the same on a three-master Redis Cluster
#   deploy/local-cluster.sh kill-node 2      # SIGKILL node 2 (1-based)
#   deploy/local-cluster.sh restart-node 2   # SIGTERM (graceful drain), wait, start again
#
# Environment: CLUSTER_DIR (state, default .cluster), REDIS_PORT (6390),
# NODE_PORTS ("3001 3002 3003"), NGINX_PORT (8080), SIOGO_TICK (2.5s); for
# the Redis Cluster, REDIS_CLUSTER_PORTS ("6391 6392 6393") and
# REDIS_CLUSTER_BUS_PORTS (each port + 10000); SIOGO_REDIS_SHARDED=true for
# sharded pub/sub; SIOGO_RECOVERY, the recovery window (0s: off, except
# for streams and streams-cluster). SIOGO_SESSIONS=shared runs the nodes with
# --sessions shared behind nginx round-robin (deploy/nginx-roundrobin.conf,
# no stickiness), with any variant. Everything listens on 127.0.0.1 only:
# this twin is for one machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${CLUSTER_DIR:-$root/.cluster}
redis_port=${REDIS_PORT:-6390}
node_ports=${NODE_PORTS:-"3001 3002 3003"}
nginx_port=${NGINX_PORT:-8080}
cluster_ports=${REDIS_CLUSTER_PORTS:-"6391 6392 6393"}

need() { command -v "$1" >/dev/null || { echo "$1 is missing: apt-get install -y $2" >&2; exit 1; }; }

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

# start_redis_cluster starts three masters with cluster-enabled and joins
# them with redis-cli --cluster create; it sets adapter.
start_redis_cluster() {
  need redis-cli redis-server
  local -a bus=(${REDIS_CLUSTER_BUS_PORTS:-})
  local i=0 addrs=() port
  for port in $cluster_ports; do
    mkdir -p "$dir/redis-$port"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
      --cluster-enabled yes --cluster-config-file "$dir/redis-$port/nodes.conf" \
      --cluster-port "${bus[$i]:-$((port + 10000))}" --cluster-node-timeout 5000 --dir "$dir/redis-$port" \
      --daemonize yes --pidfile "$dir/redis-$port.pid" --logfile "$dir/logs/redis-$port.log"
    addrs+=("127.0.0.1:$port")
    i=$((i + 1))
  done
  for port in $cluster_ports; do wait_port "$port"; done
  redis-cli --cluster create "${addrs[@]}" --cluster-yes >"$dir/logs/redis-cluster-create.log" 2>&1
  for port in $cluster_ports; do
    for _ in $(seq 1 100); do
      redis-cli -p "$port" cluster info | grep -q cluster_state:ok && break
      sleep 0.1
    done
  done
  adapter="redis-cluster://$(IFS=,; echo "${addrs[*]}")"
}

# start_node i starts node i (1-based) on the i-th of node_ports.
start_node() {
  local i=$1 port
  port=$(echo $node_ports | cut -d' ' -f"$i")
  [ -n "$port" ] || { echo "no node $i" >&2; exit 2; }
  SIOGO_ADDR=127.0.0.1:$port SIOGO_ADAPTER=$(cat "$dir/adapter") SIOGO_RECOVERY=$(cat "$dir/recovery") \
    SIOGO_SESSIONS=$(cat "$dir/sessions") \
    SIOGO_CLIENT_DIR="$root/public/node_modules" SIOGO_TICK=${SIOGO_TICK:-2.5s} \
    nohup "$dir/siogo" >>"$dir/logs/siogo$i.log" 2>&1 &
  echo $! >"$dir/siogo$i.pid"
}

# kill_node i sends SIGKILL to node i: a crash, no drain.
kill_node() {
  local f="$dir/siogo$1.pid"
  [ -f "$f" ] || { echo "node $1 does not run" >&2; exit 1; }
  kill -KILL "$(cat "$f")" 2>/dev/null || true
  rm -f "$f"
}

# restart_node i stops node i with SIGTERM (a graceful drain: its clients
# are told to go, and reconnect to the others through nginx), waits for it
# to exit, and starts it again.
restart_node() {
  local i=$1 f="$dir/siogo$1.pid" pid port
  if [ -f "$f" ]; then
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "node $i did not exit within 15s of SIGTERM" >&2
      exit 1
    fi
  fi
  start_node "$i"
  port=$(echo $node_ports | cut -d' ' -f"$i")
  wait_port "$port"
}

start() {
  need redis-server redis-server
  need nginx nginx
  mkdir -p "$dir/logs"
  go build -o "$dir/siogo" ./cmd/siogo
  recovery=${SIOGO_RECOVERY:-0s}
  case "${1:-}" in
    redis-cluster) start_redis_cluster ;;
    streams-cluster)
      start_redis_cluster
      adapter=redis-streams-cluster://${adapter#redis-cluster://} recovery=${SIOGO_RECOVERY:-2m}
      ;;
    "" | streams)
      redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
        --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/logs/redis.log"
      wait_port "$redis_port"
      adapter=redis://127.0.0.1:$redis_port/0
      if [ "${1:-}" = streams ]; then
        adapter=redis-streams://127.0.0.1:$redis_port/0 recovery=${SIOGO_RECOVERY:-2m}
      fi
      ;;
    *) echo "unknown variant $1: want redis-cluster, streams, streams-cluster or nothing" >&2; exit 2 ;;
  esac
  echo "$adapter" >"$dir/adapter"
  echo "$recovery" >"$dir/recovery"
  sessions=${SIOGO_SESSIONS:-local}
  echo "$sessions" >"$dir/sessions"
  nginx_conf=deploy/nginx.conf
  [ "$sessions" = shared ] && nginx_conf=deploy/nginx-roundrobin.conf
  i=1
  upstream=""
  for port in $node_ports; do
    start_node "$i"
    upstream+="    server 127.0.0.1:$port max_fails=0;\n"
    i=$((i + 1))
  done
  for port in $node_ports; do wait_port "$port"; done
  # The same configuration, with loopback upstreams and a private prefix.
  awk -v up="$upstream" -v port="$nginx_port" -v dir="$dir" '
    /server siogo[0-9]:3000/ { if (!done) { printf "%s", up; done = 1 } next }
    /listen 8080;/ { sub(/8080/, "127.0.0.1:" port) }
    /^http \{/ { print "pid " dir "/nginx.pid;"; print "error_log " dir "/logs/nginx.log;" }
    /^  access_log off;/ { print; print "  client_body_temp_path " dir "/tmp/body;"; print "  proxy_temp_path " dir "/tmp/proxy;"; next }
    { print }
  ' "$nginx_conf" >"$dir/nginx.conf"
  mkdir -p "$dir/tmp"
  nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/nginx.log"
  wait_port "$nginx_port"
  echo "cluster up: http://localhost:$nginx_port/ on $adapter, sessions $sessions (logs in $dir/logs)"
}

stop() {
  [ -f "$dir/nginx.pid" ] && nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/nginx.log" -s stop 2>/dev/null || true
  for f in "$dir"/siogo*.pid; do
    [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  for f in "$dir"/redis*.pid; do
    [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  rm -rf "$dir"/redis-[0-9]*/
  rm -f "$dir/nginx.pid"
  echo "cluster stopped"
}

case "${1:-}" in
  start) start "${2:-}" ;;
  stop) stop ;;
  kill-node) kill_node "${2:?node number}" ;;
  restart-node) restart_node "${2:?node number}" ;;
  *) echo "usage: $0 start [redis-cluster|streams|streams-cluster] | stop | kill-node N | restart-node N" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The docker-compose.yml topology from local processes, for machines
# without a container engine (and for the cluster tests): redis-server,
# three siogo nodes with the Redis adapter, and nginx with the same
# configuration, sticky by client address.
#
#   deploy/local-cluster.sh start    # then open http://localhost:8080/
#   deploy/local-cluster.sh stop
#   CLUSTER_ADAPTER=streams deploy/local-cluster.sh start
#                                    # the Redis Streams adapter, with connection
#                                    # state recovery across nodes (SIOGO_RECOVERY, 2m)
#
# Environment: CLUSTER_DIR (state, default .cluster), REDIS_PORT (6390),
# NODE_PORTS ("3001 3002 3003"), NGINX_PORT (8080), SIOGO_TICK (2.5s),
# CLUSTER_ADAPTER (redis: pub/sub, the default; streams). Everything
# listens on 127.0.0.1 only: this twin is for one machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=${CLUSTER_DIR:-$root/.cluster}
redis_port=${REDIS_PORT:-6390}
node_ports=${NODE_PORTS:-"3001 3002 3003"}
nginx_port=${NGINX_PORT:-8080}

need() { command -v "$1" >/dev/null || { echo "$1 is missing: apt-get install -y $2" >&2; exit 1; }; }

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

start() {
  need redis-server redis-server
  need nginx nginx
  mkdir -p "$dir/logs"
  go build -o "$dir/siogo" ./cmd/siogo
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/logs/redis.log"
  wait_port "$redis_port"
  adapter=redis://127.0.0.1:$redis_port/0 recovery=${SIOGO_RECOVERY:-0s}
  case "${CLUSTER_ADAPTER:-redis}" in
    redis) ;;
    streams) adapter=redis-streams://127.0.0.1:$redis_port/0 recovery=${SIOGO_RECOVERY:-2m} ;;
    *) echo "CLUSTER_ADAPTER must be redis or streams" >&2; exit 2 ;;
  esac
  i=1
  upstream=""
  for port in $node_ports; do
    SIOGO_ADDR=127.0.0.1:$port SIOGO_ADAPTER=$adapter SIOGO_RECOVERY=$recovery \
      SIOGO_CLIENT_DIR="$root/public/node_modules" SIOGO_TICK=${SIOGO_TICK:-2.5s} \
      nohup "$dir/siogo" >"$dir/logs/siogo$i.log" 2>&1 &
    echo $! >"$dir/siogo$i.pid"
    upstream+="    server 127.0.0.1:$port;\n"
    i=$((i + 1))
  done
  for port in $node_ports; do wait_port "$port"; done
  # The same configuration, with loopback upstreams and a private prefix.
  awk -v up="$upstream" -v port="$nginx_port" -v dir="$dir" '
    /server siogo[0-9]:3000;/ { if (!done) { printf "%s", up; done = 1 } next }
    /listen 8080;/ { sub(/8080/, "127.0.0.1:" port) }
    /^http \{/ { print "pid " dir "/nginx.pid;"; print "error_log " dir "/logs/nginx.log;" }
    /^  access_log off;/ { print; print "  client_body_temp_path " dir "/tmp/body;"; print "  proxy_temp_path " dir "/tmp/proxy;"; next }
    { print }
  ' deploy/nginx.conf >"$dir/nginx.conf"
  mkdir -p "$dir/tmp"
  nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/nginx.log"
  wait_port "$nginx_port"
  echo "cluster up: http://localhost:$nginx_port/ (adapter $adapter, logs in $dir/logs)"
}

stop() {
  [ -f "$dir/nginx.pid" ] && nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/nginx.log" -s stop 2>/dev/null || true
  for f in "$dir"/siogo*.pid; do
    [ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  [ -f "$dir/redis.pid" ] && kill "$(cat "$dir/redis.pid")" 2>/dev/null || true
  rm -f "$dir/redis.pid" "$dir/nginx.pid"
  echo "cluster stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# A private RabbitMQ node beside the main one, for tests that stop and restart the broker.
#   private-rabbit.sh start NAME PORT   start node NAME@localhost with AMQP on 127.0.0.1:PORT
#   private-rabbit.sh stop NAME         stop it (its data stays, so messages survive a restart)
#   private-rabbit.sh destroy NAME      stop it and delete its data
# The node's Erlang distribution port is PORT+20000; it has no management plugin.
# With TLS_DIR (certificates from make-certs.sh) and TLS_PORT set at start, it also has an
# AMQPS listener on 127.0.0.1:TLS_PORT (client certificates checked when given).
set -euo pipefail
cmd="${1:?start|stop|destroy}"; name="${2:?node name}"
base="/tmp/autoheal-rabbit-$name"
node="$name@localhost"
export RABBITMQ_NODENAME="$node" RABBITMQ_MNESIA_BASE="$base/mnesia" RABBITMQ_LOG_BASE="$base/log" \
  RABBITMQ_PID_FILE="$base/pid" RABBITMQ_ENABLED_PLUGINS_FILE="$base/enabled_plugins" \
  RABBITMQ_CONFIG_FILE="$base/rabbitmq" RABBITMQ_USE_LONGNAME=false

stop_node() {
  rabbitmqctl -q -n "$node" stop >/dev/null 2>&1 || true
  # rabbitmqctl stop returns once the node is down; make sure nothing is left.
  for _ in $(seq 1 50); do pgrep -f "beam.*-sname $node" >/dev/null || pgrep -f "beam.*$node" >/dev/null || return 0; sleep 0.2; done
  pkill -9 -f "beam.*$node" || true
}

case "$cmd" in
  start)
    port="${3:?port}"
    mkdir -p "$base/mnesia" "$base/log"
    echo "[]." > "$base/enabled_plugins"
    cat > "$base/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$port
distribution.listener.port_range.min = $((port + 20000))
distribution.listener.port_range.max = $((port + 20000))
loopback_users = none
CONF
    if [[ -n "${TLS_DIR:-}" ]]; then
      mkdir -p "$base/tls"
      cp "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" "$TLS_DIR/server-key.pem" "$base/tls/"
      cat >> "$base/rabbitmq.conf" <<CONF
listeners.ssl.default = 127.0.0.1:${TLS_PORT:?TLS_PORT with TLS_DIR}
ssl_options.cacertfile = $base/tls/ca.pem
ssl_options.certfile = $base/tls/server.pem
ssl_options.keyfile = $base/tls/server-key.pem
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
CONF
    fi
    chown -R rabbitmq:rabbitmq "$base"
    export RABBITMQ_DIST_PORT=$((port + 20000))
    setsid nohup /usr/sbin/rabbitmq-server >"$base/log/console.log" 2>&1 < /dev/null &
    pid=$!
    deadline=$(( $(date +%s) + 60 ))
    until rabbitmqctl -q -n "$node" await_startup --timeout 5 >/dev/null 2>&1; do
      kill -0 "$pid" 2>/dev/null || { echo "private node $node exited; see $base/log" >&2; exit 1; }
      (( $(date +%s) < deadline )) || { echo "private node $node not up after 60s; see $base/log" >&2; exit 1; }
      sleep 0.3
    done
    ;;
  stop) stop_node ;;
  destroy) stop_node; rm -rf "$base" ;;
  *) echo "usage: $0 start NAME PORT | stop NAME | destroy NAME" >&2; exit 2 ;;
esac

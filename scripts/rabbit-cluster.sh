#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, beside the default node, for the cluster
# tests (Tests/ClusterTests). Loopback only.
#
#   bash scripts/rabbit-cluster.sh start     start (and join) what is not running; idempotent
#   bash scripts/rabbit-cluster.sh stop      stop all three nodes
#   bash scripts/rabbit-cluster.sh status    cluster_status from the first node
#
# Node N (1..3) is ahcN@localhost: AMQP 127.0.0.1:568N, management 127.0.0.1:1568N,
# distribution 2568N; data and logs in /var/lib/rabbitmq/autoheal-cluster/ahcN. The nodes use
# cluster_partition_handling = pause_minority and net_ticktime = 10 s, so a node cut off from
# the other two pauses within about 15 s (the tests partition a node by changing its Erlang
# cookie and dropping its distribution links, which needs no firewall).
source "$(dirname "$0")/lib.sh"

CLUSTER_BASE=/var/lib/rabbitmq/autoheal-cluster
NODES=(1 2 3)
node_name() { echo "ahc$1@localhost"; }

node_env() {
  local n="$1" dir="$CLUSTER_BASE/ahc$1"
  echo RABBITMQ_NODENAME="$(node_name "$n")" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="568$n" RABBITMQ_DIST_PORT="2568$n" \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    RABBITMQ_PID_FILE="$dir/pid" \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="'-kernel net_ticktime 10 -kernel inet_dist_use_interface {127,0,0,1} -autoheal_cluster ahc$n'"
}

node_up() { rabbitmqctl -q -n "$(node_name "$1")" await_startup --timeout 5 >/dev/null 2>&1; }

start_node() {
  local n="$1" dir="$CLUSTER_BASE/ahc$1"
  if node_up "$n"; then return 0; fi
  mkdir -p "$dir/mnesia" "$dir/log"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:568$n
management.tcp.ip = 127.0.0.1
management.tcp.port = 1568$n
cluster_partition_handling = pause_minority
EOF
  chown -R rabbitmq:rabbitmq "$CLUSTER_BASE"
  say "starting RabbitMQ node $(node_name "$n") (AMQP 127.0.0.1:568$n)"
  setsid nohup su rabbitmq -s /bin/sh -c "cd /var/lib/rabbitmq && env $(node_env "$n") /usr/lib/rabbitmq/bin/rabbitmq-server" \
    >"$SERVICE_LOG_DIR/rabbitmq-ahc$n.log" 2>&1 </dev/null &
}

join_node() {
  local n="$1"
  if rabbitmqctl -q -n "$(node_name 1)" cluster_status --formatter json 2>/dev/null | grep -q "\"$(node_name "$n")\""; then
    return 0
  fi
  say "joining $(node_name "$n") to $(node_name 1)"
  rabbitmqctl -q -n "$(node_name "$n")" stop_app
  rabbitmqctl -q -n "$(node_name "$n")" reset
  rabbitmqctl -q -n "$(node_name "$n")" join_cluster "$(node_name 1)"
  rabbitmqctl -q -n "$(node_name "$n")" start_app
}

case "${1:-start}" in
  start)
    setup_all >/dev/null
    # A test fixture: with no node running, each start makes a new cluster. Nodes that
    # remember each other and boot at once can fail in RabbitMQ's feature-flag sync
    # (incompatible_feature_flags, badmap in enable_dependencies: seen 2026-12-03).
    up=0
    for n in "${NODES[@]}"; do if node_up "$n"; then up=1; fi; done
    if ((up == 0)); then
      for n in "${NODES[@]}"; do rm -rf "$CLUSTER_BASE/ahc$n/mnesia"; done
    fi
    for n in "${NODES[@]}"; do start_node "$n"; done
    for n in "${NODES[@]}"; do
      wait_for "RabbitMQ node $(node_name "$n") (log: $SERVICE_LOG_DIR/rabbitmq-ahc$n.log)" 120 node_up "$n"
    done
    join_node 2
    join_node 3
    for n in "${NODES[@]}"; do wait_for "$(node_name "$n") running in the cluster" 60 node_up "$n"; done
    say "RabbitMQ cluster: 127.0.0.1:5681, 127.0.0.1:5682, 127.0.0.1:5683 (ahc1..3@localhost)"
    ;;
  stop)
    for n in "${NODES[@]}"; do
      rabbitmqctl -q -n "$(node_name "$n")" stop >/dev/null 2>&1 || true
    done
    ;;
  status) rabbitmqctl -n "$(node_name 1)" cluster_status ;;
  *) die "usage: $0 start|stop|status" ;;
esac

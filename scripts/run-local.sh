#!/usr/bin/env bash
# Runs Cloud Auto Heal on this machine against a local RabbitMQ and Docker engine:
# installs what is missing, starts the services, creates sample containers with Kolla
# names and real health checks, writes ./run/auto_heal.conf, builds and starts
# autoheal-engine and autoheal-monitor, then breaks one container to show it healing.
#
#   bash scripts/run-local.sh          set up and start (again: restarts the daemons)
#   bash scripts/run-local.sh stop     stop the daemons and remove the sample containers
source "$(dirname "$0")/lib.sh"
RUN_DIR="$AUTOHEAL_ROOT/run"
CONTROL=(nova_api cinder_api placement_api cinder_volume nova_conductor nova_scheduler)
COMPUTE=(nova_compute nova_libvirt)
SAMPLE_LABEL="autoheal-sample=1"

stop_daemons() {
  for d in autoheal-monitor autoheal-engine; do
    if [[ -f "$RUN_DIR/$d.pid" ]] && kill -0 "$(cat "$RUN_DIR/$d.pid")" 2>/dev/null; then
      say "stopping $d"
      kill -TERM "$(cat "$RUN_DIR/$d.pid")"
      for _ in $(seq 1 100); do kill -0 "$(cat "$RUN_DIR/$d.pid")" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$RUN_DIR/$d.pid"
  done
}

# Creates a sample container unless one of that name exists; never touches a container
# this script did not make (a real Kolla deployment's, for example).
sample_container() {
  local name="$1"
  if docker inspect "$name" >/dev/null 2>&1; then
    if [[ "$(docker inspect -f '{{index .Config.Labels "autoheal-sample"}}' "$name")" != "1" ]]; then
      die "a container named $name exists and was not made by this script; run this demo on a machine without Kolla containers"
    fi
    docker start "$name" >/dev/null 2>&1 || true
    docker unpause "$name" >/dev/null 2>&1 || true
    return 0
  fi
  docker run -d --name "$name" --network none --label "$SAMPLE_LABEL" \
    --health-cmd 'test -f /tmp/healthy' --health-interval 2s --health-retries 2 --health-timeout 2s \
    "$TEST_IMAGE" sh -c "trap 'exit 0' TERM; touch /tmp/healthy; while :; do sleep 1; done" >/dev/null
}

if [[ "${1:-}" == "stop" ]]; then
  stop_daemons
  for c in "${CONTROL[@]}" "${COMPUTE[@]}"; do
    if [[ "$(docker inspect -f '{{index .Config.Labels "autoheal-sample"}}' "$c" 2>/dev/null)" == "1" ]]; then docker rm -f "$c" >/dev/null; fi
  done
  say "stopped; logs are still in $RUN_DIR/logs"
  exit 0
fi

setup_all
cd "$AUTOHEAL_ROOT"
say "building"
swift build
BIN="$(swift build --show-bin-path)"

say "sample containers (Kolla names, health check: /tmp/healthy exists)"
for c in "${CONTROL[@]}" "${COMPUTE[@]}"; do sample_container "$c"; done

mkdir -p "$RUN_DIR/logs"
join() { local IFS=","; echo "$*"; }
cat > "$RUN_DIR/auto_heal.conf" <<CONF
# Written by scripts/run-local.sh: everything on this machine.
[rabbitmq]
rabbitmq_addr = 127.0.0.1:5672
username = guest
password = guest
[hosts]
# The same local Docker engine stands in for the control host (TCP) and the compute host (unix socket).
control_hosts = 127.0.0.1:2375
compute_hosts = unix:///var/run/docker.sock
VIP = 127.0.0.1:2375
[containers]
control = $(join "${CONTROL[@]}")
compute = $(join "${COMPUTE[@]}")
[schedule]
container_auto_heal = 5
allocation_heal = 0
libvirt_suspend_wakeup = 0
[engine]
stop_timeout = 10
state_dir = $RUN_DIR/state
[policy]
# Short for the demo; production keeps the defaults (60 s grace, 10 s first back-off).
grace_after_start = 10
backoff_initial = 5
[logging]
log_dir = $RUN_DIR/logs
CONF
chmod 600 "$RUN_DIR/auto_heal.conf"
"$BIN/autoheal" check-config --config "$RUN_DIR/auto_heal.conf" >/dev/null

stop_daemons
# A demo starts with fresh restart budgets and no pause (a real engine keeps them in its
# journal and on the broker's state stream across restarts).
rm -rf "$RUN_DIR/state"
rabbitmqctl -q delete_queue cloud-auto-heal.state >/dev/null 2>&1 || true
for d in autoheal-engine autoheal-monitor; do
  setsid nohup "$BIN/$d" --config "$RUN_DIR/auto_heal.conf" >"$RUN_DIR/$d.out" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$d.pid"
done
wait_for "the engine's first sweep (see $RUN_DIR/autoheal-engine.out)" 60 grep -qs "sweep finished" "$RUN_DIR/logs/engine-control.log"

say "demonstration: killing nova_conductor and waiting for the healer"
before="$(date +%s)"
# How many times the log says nova_conductor was revived; 0 when it never did (a fresh machine
# has no such line, and no grep pipeline may fail under pipefail for that).
revived() {
  local log="$RUN_DIR/logs/engine-control.log"
  [[ -f "$log" ]] || { echo 0; return; }
  awk 'index($0, "revived container host=127.0.0.1:2375 container=nova_conductor") { n++ } END { print n + 0 }' "$log"
}
revived_before="$(revived)"
docker kill nova_conductor >/dev/null
revived_again() { (( $(revived) > revived_before )); }
wait_for "nova_conductor to be revived" 60 revived_again
say "nova_conductor revived after $(( $(date +%s) - before ))s:"
grep "revived container host=127.0.0.1:2375 container=nova_conductor" "$RUN_DIR/logs/engine-control.log" | tail -1

cat <<MSG

Cloud Auto Heal is running (config: $RUN_DIR/auto_heal.conf, logs: $RUN_DIR/logs).
Break something and watch it heal:
  docker kill nova_api                        # exited    -> started
  docker pause nova_compute                   # paused    -> unpaused
  docker exec cinder_api rm /tmp/healthy      # unhealthy -> restarted
  tail -f $RUN_DIR/logs/engine-*.log
Send a sweep now:  $BIN/autoheal publish container_auto_heal --config $RUN_DIR/auto_heal.conf
Metrics, health:  curl -s 127.0.0.1:9464/metrics | grep ^autoheal_ ;  curl -s 127.0.0.1:9464/healthz
Stop everything:   bash scripts/run-local.sh stop
MSG

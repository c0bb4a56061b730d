#!/usr/bin/env bash
# The deployment path as an operator runs it, against the local RabbitMQ and Docker engine:
# builds both images without a registry, checks the compose file, starts the composed engine
# and monitor, waits for their HEALTHCHECKs, breaks a container and waits for them to heal it.
# `scripts/test.sh` runs it after the Swift tests (skip with AUTOHEAL_SKIP_IMAGES=1).
source "$(dirname "$0")/lib.sh"
setup_images

project=autoheal-compose-ci
vhost=autoheal-compose
target=autoheal-compose-nova_api
work="$(mktemp -d /tmp/autoheal-compose.XXXXXX)"
export AUTOHEAL_CONFIG="$work/auto_heal.conf" AUTOHEAL_LOG_DIR="$work/logs" AUTOHEAL_STATE_DIR="$work/state" \
  AUTOHEAL_CERT_DIR="$work/etc-autoheal"
home="$work/opt"
# The documented way: install.sh once per server, then docker-compose with no flags in its directory.
compose() { (cd "$home" && docker-compose "$@"); }

cleanup() {
  local rc=$?
  if (( rc != 0 )); then
    say "failed; the composed daemons said:"
    compose logs --no-color --tail=30 >&2 || true
  fi
  compose down --timeout 20 >/dev/null 2>&1 || true
  docker rm -f "$target" >/dev/null 2>&1 || true
  rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

say "the images' programs carry the Swift runtime and libstdc++ in them (Package.swift, release)"
for daemon in engine monitor; do
  shared="$(docker run --rm --network none --entrypoint ldd "cloud-auto-heal-$daemon:latest" \
    "/usr/local/bin/autoheal-$daemon" | grep -E 'libswift|libFoundation|libdispatch|libstdc\+\+' || true)"
  [[ -z "$shared" ]] || die "autoheal-$daemon in its image loads shared libraries it should carry: $shared"
done

say "config bootstrap: init-config from the image, and a clear error for a directory in its place"
mkdir -p "$work/bootstrap" "$work/not-a-file.conf"
docker run --rm --network none -v "$work/bootstrap:/host-etc" --entrypoint autoheal cloud-auto-heal-engine:latest \
  init-config --output /host-etc/auto_heal.conf >/dev/null
[[ "$(stat -c %a "$work/bootstrap/auto_heal.conf")" == 600 ]] || die "init-config did not write the template mode 600"
grep -q '^\[rabbitmq\]' "$work/bootstrap/auto_heal.conf" || die "init-config wrote no template"
set +e
out="$(docker run --rm --network none -v "$work/not-a-file.conf:/etc/auto_heal.conf:ro" cloud-auto-heal-engine:latest 2>&1)"; rc=$?
set -e
[[ $rc == 78 && "$out" == *"is a directory, not a config file"* ]] || die "a directory mounted as the config gave exit $rc: $out"

mkdir -p "$AUTOHEAL_LOG_DIR" "$AUTOHEAL_STATE_DIR" "$AUTOHEAL_CERT_DIR"
# The password comes from a file in the mounted /etc/autoheal, as the README suggests.
printf 'guest\n' > "$AUTOHEAL_CERT_DIR/rabbitmq_password"
chmod 600 "$AUTOHEAL_CERT_DIR/rabbitmq_password"
rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
rabbitmqctl -q add_vhost "$vhost"
rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*'
cat > "$AUTOHEAL_CONFIG" <<CONF
[rabbitmq]
rabbitmq_addr = 127.0.0.1:5672
username = guest
password_file = /etc/autoheal/rabbitmq_password
vhost = $vhost
heartbeat = 5
[hosts]
control_hosts = 127.0.0.1:2375
compute_hosts =
VIP = 127.0.0.1:2375
[containers]
control = $target
compute =
[schedule]
container_auto_heal = 2
allocation_heal = 0
libvirt_suspend_wakeup = 0
[engine]
stop_timeout = 5
[policy]
grace_after_start = 0
backoff_initial = 0
[metrics]
engine_listen = 127.0.0.1:19474
monitor_listen = 127.0.0.1:19475
CONF
chmod 600 "$AUTOHEAL_CONFIG"

AUTOHEAL_HOME="$home" COMPOSE_PROJECT_NAME="$project" bash "$AUTOHEAL_ROOT/scripts/install.sh" engine,monitor
grep -q '^COMPOSE_PROFILES=engine,monitor$' "$home/.env" || die "install.sh wrote no profile"
say "docker-compose config"
compose config -q

docker rm -f "$target" >/dev/null 2>&1 || true
docker run -d --name "$target" --network none --health-cmd 'test -f /tmp/ok' --health-interval 1s --health-retries 1 \
  autoheal/busybox:latest sh -c "trap 'exit 0' TERM; touch /tmp/ok; while :; do sleep 0.2; done" >/dev/null

say "docker-compose up (engine and monitor)"
compose up -d
health() { docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null; }
engine="$(compose ps -q autoheal-engine)"; monitor="$(compose ps -q autoheal-monitor)"
[[ -n "$engine" && -n "$monitor" ]] || die "compose did not start both daemons"
wait_for "the composed engine's HEALTHCHECK" 90 bash -c "[[ \$(docker inspect -f '{{.State.Health.Status}}' $engine) == healthy ]]"
wait_for "the composed monitor's HEALTHCHECK" 90 bash -c "[[ \$(docker inspect -f '{{.State.Health.Status}}' $monitor) == healthy ]]"
wait_for "$target to be healthy" 30 bash -c "[[ \$(docker inspect -f '{{.State.Health.Status}}' $target) == healthy ]]"
wait_for "a first sweep" 60 grep -q "sweep finished" "$AUTOHEAL_LOG_DIR/engine-control.log"

before="$(docker inspect -f '{{.State.StartedAt}}' "$target")"
say "killing $target; the composed engine must start it again"
docker kill "$target" >/dev/null
wait_for "$target to be started again" 60 bash -c "[[ \$(docker inspect -f '{{.State.Running}} {{.State.StartedAt}}' $target) == 'true '* && \$(docker inspect -f '{{.State.StartedAt}}' $target) != '$before' ]]"
wait_for "the engine's log line" 10 grep -qE "revived container host=127.0.0.1:2375 container=$target seen=exited\(137\)[^ ]* action=start result=ok" "$AUTOHEAL_LOG_DIR/engine-control.log"
# (Whole outputs into variables first: `producer | grep -q` fails under pipefail when grep
# stops reading early.)
engine_metrics="$(curl -fsS http://127.0.0.1:19474/metrics)"
monitor_metrics="$(curl -fsS http://127.0.0.1:19475/metrics)"
grep -qF 'autoheal_actions_total{handler="container_auto_heal",kind="start",result="done"} 1' <<<"$engine_metrics" \
  || die "the engine's /metrics does not count the start"
grep -q '^autoheal_messages_published_total{' <<<"$monitor_metrics" || die "the monitor's /metrics counts no publication"
[[ -s "$AUTOHEAL_STATE_DIR/journal.sqlite" ]] || die "no decision journal in the state volume"
# A refused request, so the dead-letter counter exists too; then every series the shipped
# alert rules and dashboard name must be exported.
curl -fsS -u guest:guest -H 'Content-Type: application/json' -X POST \
  "http://127.0.0.1:15672/api/exchanges/$vhost/cloud-auto-heal.control/publish" \
  -d '{"properties":{},"routing_key":"cloud.auto.heal.control","payload":"not a request","payload_encoding":"string"}' >/dev/null
wait_for "the dead letter to be counted" 30 bash -c "curl -fsS http://127.0.0.1:19474/metrics | grep -q '^autoheal_messages_dead_lettered_total{'"
bash "$AUTOHEAL_ROOT/scripts/check-alerts.sh" http://127.0.0.1:19474/metrics http://127.0.0.1:19475/metrics
engine_stdout="$(docker logs "$engine" 2>&1)"
grep -q "revived container" <<<"$engine_stdout" || die "the engine logs nothing to stdout"

say "stopping: the engine exits 0 on SIGTERM"
compose stop --timeout 30 autoheal-engine autoheal-monitor >/dev/null 2>&1
for c in "$engine" "$monitor"; do
  code="$(docker inspect -f '{{.State.ExitCode}}' "$c")"
  [[ "$code" == 0 ]] || die "container $c exited $code on SIGTERM"
done
say "images: built without a registry, composed daemons healed $target"

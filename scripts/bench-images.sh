#!/usr/bin/env bash
# Idle memory of the two images (release, static Swift stdlib), as `docker run` starts them:
# host network, the local RabbitMQ and Docker engine, one watched container, events on, a
# sweep every 60 s, /metrics on. After the engine's first sweep and 20 s more, RSS comes from
# /proc/PID/status and the private/file-backed split from /proc/PID/smaps_rollup.
#
#   bash scripts/bench-images.sh
source "$(dirname "$0")/lib.sh"
setup_images

vhost="autoheal-bench-images-$$"
target="benchimg$$-nova_api"
work="$(mktemp -d /tmp/autoheal-bench-images.XXXXXX)"
cleanup() {
  docker rm -f "benchimg$$-engine" "benchimg$$-monitor" "$target" >/dev/null 2>&1 || true
  rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
rabbitmqctl -q add_vhost "$vhost"
rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*'
docker run -d --name "$target" --network none autoheal/busybox:latest \
  sh -c "trap 'exit 0' TERM; while :; do sleep 1; done" >/dev/null
mkdir -p "$work/logs"
cat > "$work/auto_heal.conf" <<CONF
[rabbitmq]
rabbitmq_addr = 127.0.0.1:5672
vhost = $vhost
[hosts]
control_hosts = 127.0.0.1:2375
compute_hosts =
[containers]
control = $target
compute =
[schedule]
container_auto_heal = 60
allocation_heal = 0
libvirt_suspend_wakeup = 0
watch_events = true
[metrics]
engine_listen = 127.0.0.1:19484
monitor_listen = 127.0.0.1:19485
CONF
chmod 600 "$work/auto_heal.conf"

for daemon in engine monitor; do
  docker run -d --name "benchimg$$-$daemon" --network host \
    -v "$work/auto_heal.conf:/etc/auto_heal.conf:ro" -v "$work/logs:/var/log/autoheal" \
    "cloud-auto-heal-$daemon:latest" >/dev/null
done
wait_for "the engine's first sweep" 60 grep -qs "sweep finished" "$work/logs/engine-control.log"
sleep 20 # the idle window measured
for daemon in engine monitor; do
  pid="$(docker inspect -f '{{.State.Pid}}' "benchimg$$-$daemon")"
  awk -v d="$daemon" '/^VmRSS/ {rss = $2} /^Pss_Anon/ {anon = $2} /^Pss_File/ {file = $2}
    END {printf "image cloud-auto-heal-%s idle: RSS %.1f MB, private (Pss_Anon) %.1f MB, file-backed (Pss_File) %.1f MB\n", d, rss/1024, anon/1024, file/1024}' \
    "/proc/$pid/status" "/proc/$pid/smaps_rollup"
done

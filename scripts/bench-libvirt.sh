#!/usr/bin/env bash
# Domain pause → resumed, through libvirt's events (issue 16): the release daemons with the
# libvirt sweep off, a nova_libvirt container on the host's libvirtd, five tiny TCG domains.
# Ten single faults (one domain stopped by QMP, reason unknown) and a burst of five (all at
# once); each is timed from just before the QMP stop to the first `virsh domstate` that says
# running again (polled every 20 ms, so the figure includes up to one poll and one virsh call
# more than the engine needed). Prints p50, p95 and max for each.
#
#   bash scripts/bench-libvirt.sh
source "$(dirname "$0")/lib.sh"
setup_all >/dev/null
cd "$AUTOHEAL_ROOT"
say "building (release)"
swift build -c release >/dev/null
work="$(mktemp -d /tmp/autoheal-bench-libvirt.XXXXXX)"
vhost="autoheal-bench-libvirt-$$"
prefix="benchlv$$"
virsh_() { virsh -q -c qemu:///system "$@"; }
cleanup() {
  [[ -n "${engine:-}" ]] && kill "$engine" 2>/dev/null || true
  [[ -n "${monitor:-}" ]] && kill "$monitor" 2>/dev/null || true
  for d in "${domains[@]:-}"; do [[ -n "$d" ]] && virsh_ destroy "$d" >/dev/null 2>&1 || true; done
  docker rm -f "$prefix-nova_libvirt" "$prefix-nova_compute" >/dev/null 2>&1 || true
  rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
rabbitmqctl -q add_vhost "$vhost" >/dev/null
rabbitmqctl -q set_permissions -p "$vhost" guest ".*" ".*" ".*" >/dev/null
docker run -d --name "$prefix-nova_libvirt" --network none -v /run/libvirt:/run/libvirt autoheal/nova-libvirt:latest \
  sh -c "trap 'exit 0' TERM; while :; do sleep 0.2; done" >/dev/null
docker run -d --name "$prefix-nova_compute" --network none "$TEST_IMAGE" \
  sh -c "trap 'exit 0' TERM; while :; do sleep 0.2; done" >/dev/null
cat >"$work/auto_heal.conf" <<EOF
[rabbitmq]
rabbitmq_addr = 127.0.0.1:5672
vhost = $vhost
[hosts]
control_hosts =
compute_hosts = unix:///var/run/docker.sock
[containers]
control =
compute = $prefix-nova_compute, $prefix-nova_libvirt
[schedule]
container_auto_heal = 0
allocation_heal = 0
libvirt_suspend_wakeup = 0
watch_events = true
[libvirt]
container = $prefix-nova_libvirt
nova_compute_container = $prefix-nova_compute
restart_nova_compute = never
[policy]
grace_after_start = 0
backoff_initial = 0
max_attempts = 100
[engine]
state_dir = $work/state
[metrics]
engine_listen =
monitor_listen =
[logging]
log_dir = $work/logs
level = info
EOF
.build/release/autoheal-engine --config "$work/auto_heal.conf" >"$work/engine.out" 2>&1 &
engine=$!
.build/release/autoheal-monitor --config "$work/auto_heal.conf" >"$work/monitor.out" 2>&1 &
monitor=$!
wait_for "the monitor to follow libvirt events" 30 grep -qs "following libvirt events" "$work/logs/monitor.log"
wait_for "the engine to consume" 30 grep -q "consuming" "$work/logs/engine-queue.log"

domains=()
for i in 1 2 3 4 5; do
  uuid="$(cat /proc/sys/kernel/random/uuid)"
  cat >"$work/d$i.xml" <<EOF
<domain type='qemu'><name>$prefix-$i</name><uuid>$uuid</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>
EOF
  virsh_ create "$work/d$i.xml" >/dev/null
  domains+=("$uuid")
done

now() { date +%s.%N; }
# wait_running UUID START: prints the seconds from START until the domain runs again.
wait_running() {
  local deadline=$(( $(date +%s) + 30 ))
  until [[ "$(virsh_ domstate "$1")" == running ]]; do
    (( $(date +%s) < deadline )) || { echo "timeout"; return; }
    sleep 0.02
  done
  awk -v a="$(now)" -v b="$2" 'BEGIN {printf "%.3f\n", a - b}'
}
stats() { sort -n | awk '{a[NR]=$1} END {p50=a[int((NR+1)/2)]; i=int(NR*0.95+0.999); if(i>NR)i=NR; printf "n=%d p50=%.3f s p95=%.3f s max=%.3f s\n", NR, p50, a[i], a[NR]}'; }

say "ten single faults"
singles=()
for i in $(seq 0 9); do
  d="${domains[$((i % 5))]}"
  t0="$(now)"
  virsh_ qemu-monitor-command "$d" '{"execute":"stop"}' >/dev/null
  singles+=("$(wait_running "$d" "$t0")")
  sleep 0.5
done
say "a burst of five"
t0="$(now)"
stops=()
for d in "${domains[@]}"; do
  virsh_ qemu-monitor-command "$d" '{"execute":"stop"}' >/dev/null &
  stops+=($!)
done
wait "${stops[@]}"
burst=()
for d in "${domains[@]}"; do burst+=("$(wait_running "$d" "$t0")"); done
echo "single faults (pause -> running again): $(printf '%s\n' "${singles[@]}" | stats)"
echo "burst of 5 (pause -> running again): $(printf '%s\n' "${burst[@]}" | stats)"
echo "woken by the engine: $(grep -c 'woke domain' "$work/logs/engine-compute.log") (15 expected)"

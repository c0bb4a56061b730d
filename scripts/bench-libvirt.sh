#!/usr/bin/env bash
# Domain pause → resumed, through libvirt's events (issue 16): the release daemons with the
# libvirt sweep off, a nova_libvirt container on the host's libvirtd, five tiny TCG domains.
# Ten single faults (one domain stopped by QMP, reason unknown) and a burst of five (all at
# once); each is timed from just before the QMP stop to the time libvirt itself stamps on the
# domain's `Resumed` lifecycle event, read by one `virsh event` process of the bench; and,
# the healer's own part, from libvirt's stamp on the domain's `Suspended` event to its
# `Resumed` (the first includes the bench's own `virsh qemu-monitor-command` start-ups: in a
# burst, five of them at once before the last domain has even paused); and from the Suspended
# stamp until the engine sent the resume (its `woke domain` line minus the call's duration,
# the "action sent" of the container bench and of issue 16's target). (Until
# 2026-11-30 the bench polled `virsh domstate` every 20 ms instead: fifty virsh start-ups a
# second on the two cores the engine works on, which slowed the bursts it measured.) Prints
# p50, p95 and max for each.
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
  [[ -n "${watcher:-}" ]] && kill "$watcher" 2>/dev/null || true
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
# virsh itself, not the virsh_ function: a backgrounded function is a subshell, and killing
# it at the end left this virsh running (one per run until 2026-12-02).
virsh -q -c qemu:///system event --loop --timestamp --event lifecycle >"$work/events.log" 2>&1 &
watcher=$!
# The watcher is ready once it reports a domain defined and undefined for the purpose.
cat >"$work/probe.xml" <<EOF
<domain type='qemu'><name>$prefix-probe</name><memory unit='MiB'>64</memory>
<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>
EOF
probe_seen() {
  grep -qs -F "for domain '$prefix-probe'" "$work/events.log" && return
  virsh_ define "$work/probe.xml" >/dev/null && virsh_ undefine "$prefix-probe" >/dev/null
  return 1
}
wait_for "the bench's event watcher" 30 probe_seen
# lines: how many lines the event log has now.
lines() { wc -l <"$work/events.log"; }
# first_line FILE AFTER REGEX: the first line after line AFTER of FILE that matches the
# extended REGEX, waiting up to 30 s for it ("timeout" if it does not come). It follows the
# file (tail -f, woken by inotify) instead of reading it again every 20 ms: that poll was
# some 150 process start-ups a second on the two cores the engine and the domains run on,
# while a burst was being healed. A tail left behind ends at its next line or with the bench.
first_line() {
  timeout 30 grep -m1 -E "$3" < <(tail -n +"$(( $2 + 1 ))" -f --pid=$$ "$1") || echo timeout
}
# stamp NAME EVENT AFTER: libvirt's time (epoch seconds) on NAME's first EVENT (Suspended,
# Resumed) in a line of the event log after line AFTER; waits up to 30 s for it.
stamp() {
  local line
  line="$(first_line "$work/events.log" "$3" "for domain '$1': $2")"
  [[ "$line" == timeout ]] && { echo timeout; return; }
  date -d "${line%%: event *}" +%s.%N
}
# englines: how many lines the engine's compute log has now.
englines() { wc -l <"$work/logs/engine-compute.log"; }
# sent UUID AFTER: when the engine sent the resume of UUID (epoch seconds): the time of its
# first `woke domain` line after line AFTER of its log minus the call's `duration`, as the
# container bench times "action sent"; waits up to 30 s for the line.
sent() {
  local line
  line="$(first_line "$work/logs/engine-compute.log" "$2" "woke domain.* domain=$1( |$)")"
  [[ "$line" == timeout ]] && { echo timeout; return; }
  local at duration
  at="$(date -d "${line%% *}" +%s.%N)"
  duration="$(sed -E 's/.* duration=([0-9.]+)s.*/\1/' <<<"$line")"
  awk -v a="$at" -v d="$duration" 'BEGIN {printf "%.3f\n", a - d}'
}
# resumed NAME UUID AFTER START ENGAFTER: "A B C": seconds from START (before the bench's QMP
# stop) and from libvirt's Suspended stamp until libvirt stamped NAME resumed, after line
# AFTER of the event log; and from the Suspended stamp until the engine sent the resume.
resumed() {
  local up down out
  up="$(stamp "$1" Resumed "$3")"
  down="$(stamp "$1" Suspended "$3")"
  out="$(sent "$2" "$5")"
  [[ "$up" == timeout || "$down" == timeout || "$out" == timeout ]] && { echo "timeout timeout timeout"; return; }
  awk -v a="$up" -v b="$4" -v c="$down" -v s="$out" 'BEGIN {printf "%.3f %.3f %.3f\n", a - b, a - c, s - c}'
}
# woken N: the engine has logged N wake-ups.
woken() { (( $(grep -c 'domain state after waking' "$work/logs/engine-compute.log") >= $1 )); }
stats() { sort -n | awk '{a[NR]=$1} END {p50=a[int((NR+1)/2)]; i=int(NR*0.95+0.999); if(i>NR)i=NR; printf "n=%d p50=%.3f s p95=%.3f s max=%.3f s\n", NR, p50, a[i], a[NR]}'; }

say "ten single faults"
singles=()
for i in $(seq 0 9); do
  n=$((i % 5))
  from="$(lines)"
  efrom="$(englines)"
  t0="$(now)"
  virsh_ qemu-monitor-command "${domains[$n]}" '{"execute":"stop"}' >/dev/null
  singles+=("$(resumed "$prefix-$((n + 1))" "${domains[$n]}" "$from" "$t0" "$efrom")")
  # The next fault once the engine has finished with this one (its check after the resume).
  wait_for "the engine's wake-up $((i + 1))" 30 woken $((i + 1))
done
say "a burst of five"
from="$(lines)"
efrom="$(englines)"
t0="$(now)"
stops=()
for d in "${domains[@]}"; do
  virsh_ qemu-monitor-command "$d" '{"execute":"stop"}' >/dev/null &
  stops+=($!)
done
wait "${stops[@]}"
burst=()
for i in 1 2 3 4 5; do burst+=("$(resumed "$prefix-$i" "${domains[$((i - 1))]}" "$from" "$t0" "$efrom")"); done
column() { printf '%s\n' "${@:2}" | awk -v c="$1" '{print $c}' | stats; }
echo "single faults (bench's QMP stop sent -> running again): $(column 1 "${singles[@]}")"
echo "single faults (libvirt's Suspended -> Resumed): $(column 2 "${singles[@]}")"
echo "burst of 5 (bench's QMP stops sent -> running again): $(column 1 "${burst[@]}")"
echo "burst of 5 (libvirt's Suspended -> Resumed): $(column 2 "${burst[@]}")"
echo "single faults (libvirt's Suspended -> engine's resume sent): $(column 3 "${singles[@]}")"
echo "burst of 5 (libvirt's Suspended -> engine's resume sent): $(column 3 "${burst[@]}")"
echo "woken by the engine: $(grep -c 'woke domain' "$work/logs/engine-compute.log") (15 expected)"

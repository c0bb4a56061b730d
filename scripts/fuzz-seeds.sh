#!/usr/bin/env bash
# Captures the fuzz seed corpora (Tests/Fuzz/corpus/TARGET/) from the real programs on this
# machine: Docker's event stream, inspect JSON and exec streams; virsh on a real TCG domain;
# nova-manage and Placement in the Nova lab image; the healer's own envelope and shared-state
# encoders. Run it again when one of them changes; review and commit what it writes.
#
#   bash scripts/fuzz-seeds.sh
source "$(dirname "$0")/lib.sh"
CORPUS="$AUTOHEAL_ROOT/Tests/Fuzz/corpus"
tag="seeds-$$"
work="$(mktemp -d)"
cleanup() {
  docker rm -f "$tag-c" "$tag-lab" "$tag-controller" "$tag-compute" >/dev/null 2>&1 || true
  rabbitmqctl -q delete_vhost "$tag" >/dev/null 2>&1 || true
  virsh -c qemu:///system destroy "$tag" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
start_docker; start_libvirt; start_rabbitmq; make_test_image; make_lab_image
api() { curl -fsS --unix-socket /var/run/docker.sock "$@"; }
out() { mkdir -p "$CORPUS/$1"; cat > "$CORPUS/$1/$2"; }

say "Docker: events, inspect JSON and exec streams of a real container"
since="$(date +%s)"
docker run -d --name "$tag-c" --health-cmd 'test -f /tmp/healthy' --health-interval 1s --health-retries 1 \
  "$TEST_IMAGE" sh -c 'sleep 3600' >/dev/null
wait_for "unhealthy $tag-c" 30 bash -c "[[ \$(docker inspect -f '{{.State.Health.Status}}' $tag-c) == unhealthy ]]"
api "http://localhost/containers/$tag-c/json" | out container-inspect unhealthy.json
docker pause "$tag-c" >/dev/null
api "http://localhost/containers/$tag-c/json" | out container-inspect paused.json
docker unpause "$tag-c" >/dev/null
for streams in both stdout stderr; do
  exec_id="$(api -X POST -H 'Content-Type: application/json' \
    -d '{"AttachStdout":true,"AttachStderr":true,"Cmd":["sh","-c","echo out; echo err >&2; printf \"%s\" \"'"$streams"'\"; exit 3"]}' \
    "http://localhost/containers/$tag-c/exec" | sed 's/.*"Id":"\([0-9a-f]*\)".*/\1/')"
  api -X POST -H 'Content-Type: application/json' -d '{"Detach":false,"Tty":false}' \
    "http://localhost/exec/$exec_id/start" | out exec-stream "$streams.bin"
done
docker kill -s KILL "$tag-c" >/dev/null
api "http://localhost/containers/$tag-c/json" | out container-inspect killed.json
docker start "$tag-c" >/dev/null; docker stop -t 1 "$tag-c" >/dev/null
api "http://localhost/containers/$tag-c/json" | out container-inspect stopped.json
until="$(( $(date +%s) + 1 ))"
api "http://localhost/events?since=$since&until=$until&filters=%7B%22container%22%3A%5B%22$tag-c%22%5D%7D" > "$work/events"
# The first byte of a docker-events input chooses the chunk size.
for size in 1 7 63; do { printf "\\$(printf %03o "$size")"; cat "$work/events"; } | out docker-events "stream-chunk$size.bin"; done
head -n 1 "$work/events" | out docker-events one-line.json

say "virsh: a real TCG domain running, paused by QEMU, and the domain list"
uuid="$(cat /proc/sys/kernel/random/uuid)"
cat > "$work/domain.xml" <<XML
<domain type='qemu'><name>$tag</name><uuid>$uuid</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>
XML
virsh -c qemu:///system create "$work/domain.xml" >/dev/null
virsh -c qemu:///system domstate --reason "$uuid" | out virsh domstate-running.txt
virsh -c qemu:///system qemu-monitor-command "$uuid" '{"execute":"stop"}' >/dev/null
virsh -c qemu:///system domstate --reason "$uuid" | out virsh domstate-paused-unknown.txt
virsh -c qemu:///system suspend "$uuid" >/dev/null 2>&1 || true
virsh -c qemu:///system resume "$uuid" >/dev/null
virsh -c qemu:///system suspend "$uuid" >/dev/null
virsh -c qemu:///system domstate --reason "$uuid" | out virsh domstate-paused-user.txt
virsh -c qemu:///system list --all --uuid | out virsh list-uuid.txt
virsh -c qemu:///system destroy "$uuid" >/dev/null

say "nova-manage: audit, --delete and heal_allocations in the Nova lab image (stdout NUL stderr)"
docker run -d --name "$tag-lab" --network none "$NOVA_LAB_IMAGE" >/dev/null
wait_for "Nova lab healthy" 120 bash -c "[[ \$(docker inspect -f '{{.State.Health.Status}}' $tag-lab) == healthy ]]"
docker exec "$tag-lab" lab-tool orphan >/dev/null
docker exec "$tag-lab" lab-tool instance >/dev/null
nm() { # nm NAME ARGS...: stdout, a NUL byte, stderr, as the nova-manage target reads them
  local name="$1"; shift
  docker exec "$tag-lab" nova-manage "$@" >"$work/o" 2>"$work/e" || true
  { cat "$work/o"; printf '\0'; cat "$work/e"; } | out nova-manage "$name.bin"
}
nm audit placement audit --verbose
nm audit-delete placement audit --verbose --delete
nm heal-dry-run placement heal_allocations --verbose --dry-run --skip-port-allocations
nm heal placement heal_allocations --verbose --skip-port-allocations
nm heal-no-skip-ports placement heal_allocations --verbose
docker exec "$tag-lab" lab-tool placement stop >/dev/null
nm audit-placement-down placement audit --verbose

say "Nova API: services and servers from a lab controller and a fake-driver compute"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
nova_port="$(free_port)"
rabbitmqctl -q add_vhost "$tag" && rabbitmqctl -q set_permissions -p "$tag" guest '.*' '.*' '.*'
lab_env=(-e "LAB_MYSQL_PORT=$(free_port)" -e "LAB_PLACEMENT_PORT=$(free_port)" -e "LAB_NOVA_PORT=$nova_port"
  -e "LAB_STANDIN_PORT=$(free_port)" -e "LAB_TRANSPORT_URL=rabbit://guest:guest@127.0.0.1:5672/$tag")
docker run -d --name "$tag-controller" --network host "${lab_env[@]}" "$NOVA_LAB_IMAGE" controller >/dev/null
docker run -d --name "$tag-compute" --network host -e LAB_COMPUTE_HOST=compute-1 "${lab_env[@]}" "$NOVA_LAB_IMAGE" compute >/dev/null
wait_for "Nova controller healthy" 180 bash -c "[[ \$(docker inspect -f '{{.State.Health.Status}}' $tag-controller) == healthy ]]"
nova() { curl -fsS -H 'X-Auth-Token: admin' -H 'X-OpenStack-Nova-API-Version: 2.53' -H 'Content-Type: application/json' \
  "http://127.0.0.1:$nova_port/v2.1$1" "${@:2}"; }
wait_for "compute-1 up in Nova" 120 bash -c "curl -fsS -H 'X-Auth-Token: admin' 'http://127.0.0.1:$nova_port/v2.1/os-services?binary=nova-compute' | grep -q '\"state\": \"up\"'"
docker exec "$tag-controller" nova-manage cell_v2 discover_hosts >/dev/null
nova /flavors -d '{"flavor":{"name":"lab","ram":512,"vcpus":1,"disk":1,"id":"lab"}}' >/dev/null
server="$(nova /servers -d '{"server":{"name":"vm-seed","imageRef":"5a2c6f4e-1b3d-4e8f-9a0b-7c6d5e4f3a2b","flavorRef":"lab",
  "networks":"none","metadata":{"autoheal_evacuate":"false"}}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["server"]["id"])')"
wait_for "server ACTIVE" 90 bash -c "curl -fsS -H 'X-Auth-Token: admin' -H 'X-OpenStack-Nova-API-Version: 2.53' \
  http://127.0.0.1:$nova_port/v2.1/servers/$server | grep -q '\"status\": \"ACTIVE\"'"
nova "/os-services?binary=nova-compute" | out nova-api services.json
nova "/servers/detail?all_tenants=1&host=compute-1" | out nova-api servers-detail.json
nova "/servers/$server" | out nova-api server.json
docker stop -t 1 "$tag-compute" >/dev/null
service_id="$(nova "/os-services?binary=nova-compute" | python3 -c 'import json,sys; print(json.load(sys.stdin)["services"][0]["id"])')"
nova "/os-services/$service_id" -X PUT -d '{"forced_down": true}' | out nova-api forced-down.json
nova "/servers/$server/action" -d '{"evacuate":{}}' -o /dev/null -w '' || true
nova "/servers/$server" | out nova-api server-after-evacuate.json
# There is no Keystone here: the token answer is Keystone v3's documented shape, with a catalog.
cat <<'JSON' | out nova-api keystone-token.json
{"token": {"methods": ["password"], "expires_at": "2026-11-30T18:00:00.000000Z", "catalog": [{"type": "compute", "name": "nova",
 "endpoints": [{"interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": "http://127.0.0.1:8774/v2.1"},
 {"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "https://nova.example:8774/v2.1"}]}]}}
JSON

say "envelopes and shared state, as the healer's own encoders write them"
swift build --product autoheal-fuzz >/dev/null
"$AUTOHEAL_ROOT/.build/debug/autoheal-fuzz" write-seeds "$CORPUS"
say "done: $(find "$CORPUS" -type f | wc -l) seeds in $CORPUS"

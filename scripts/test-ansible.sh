#!/usr/bin/env bash
# The Ansible deployment, against this machine (ansible_connection=local, the host in both the
# deployment and control groups): a first run deploys the monitor and an engine from the image
# tarballs, a container killed afterwards is healed by them, and a second run changes nothing.
# `scripts/test.sh` runs it after the image tests (it reuses their images).
source "$(dirname "$0")/lib.sh"
install_base
install_packages ansible
start_docker
start_rabbitmq
make_test_image
build_healer_images

work="$(mktemp -d /tmp/autoheal-ansible.XXXXXX)"
project=autoheal-ansible-ci
vhost=autoheal-ansible
target=autoheal-ansible-nova_api
cleanup() {
  local rc=$?
  if (( rc != 0 )); then
    say "failed; the deployed daemons said:"
    (cd "$work/opt" && docker-compose logs --no-color --tail=30) >&2 2>/dev/null || true
  fi
  (cd "$work/opt" 2>/dev/null && docker-compose down --timeout 20 >/dev/null 2>&1) || true
  docker rm -f "$target" >/dev/null 2>&1 || true
  rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT

mkdir -p "$work/images"
for name in engine monitor; do docker save -o "$work/images/cloud-auto-heal-$name.tar" "cloud-auto-heal-$name:latest"; done
rabbitmqctl -q delete_vhost "$vhost" >/dev/null 2>&1 || true
rabbitmqctl -q add_vhost "$vhost"
rabbitmqctl -q set_permissions -p "$vhost" guest '.*' '.*' '.*'
docker rm -f "$target" >/dev/null 2>&1 || true
docker run -d --name "$target" --network none --health-cmd 'test -f /tmp/ok' --health-interval 1s --health-retries 1 \
  autoheal/busybox:latest sh -c "trap 'exit 0' TERM; touch /tmp/ok; while :; do sleep 0.2; done" >/dev/null

cat > "$work/inventory.ini" <<INV
[deployment]
localhost ansible_connection=local ansible_become=false ansible_python_interpreter=/usr/bin/python3

[control]
localhost

[compute]
INV
cat > "$work/vars.json" <<JSON
{
  "autoheal_home": "$work/opt", "autoheal_config_path": "$work/auto_heal.conf", "autoheal_cert_dir": "$work/etc-autoheal",
  "autoheal_log_dir": "$work/logs", "autoheal_state_dir": "$work/state", "autoheal_compose_project": "$project",
  "autoheal_image_dir": "$work/images", "autoheal_rabbitmq_vhost": "$vhost",
  "autoheal_control_hosts": ["127.0.0.1:2375"], "autoheal_compute_hosts": [],
  "autoheal_engine_listen": "127.0.0.1:19484", "autoheal_monitor_listen": "127.0.0.1:19485",
  "autoheal_config_extra": {
    "containers": {"control": "$target", "compute": ""},
    "schedule": {"container_auto_heal": "2", "allocation_heal": "0", "libvirt_suspend_wakeup": "0"},
    "engine": {"stop_timeout": "5"},
    "policy": {"grace_after_start": "0", "backoff_initial": "0"}
  }
}
JSON
play() { ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ansible-playbook -i "$work/inventory.ini" "$AUTOHEAL_ROOT/deploy/ansible/site.yml" -e "@$work/vars.json"; }

say "ansible: first run (deploy)"
play > "$work/first.log" 2>&1 || { cat "$work/first.log" >&2; die "the first run failed"; }
grep -q "localhost.*failed=0" "$work/first.log" || { cat "$work/first.log" >&2; die "the first run reported failures"; }
[[ "$(stat -c %a "$work/auto_heal.conf")" == 600 ]] || die "the config is not mode 600"

wait_for "$target to be healthy" 30 bash -c "[[ \$(docker inspect -f '{{.State.Health.Status}}' $target) == healthy ]]"
before="$(docker inspect -f '{{.State.StartedAt}}' "$target")"
say "killing $target; the deployed engine must start it again"
docker kill "$target" >/dev/null
wait_for "$target to be started again" 60 bash -c "[[ \$(docker inspect -f '{{.State.Running}}' $target) == true && \$(docker inspect -f '{{.State.StartedAt}}' $target) != '$before' ]]"

say "ansible: second run (nothing to change)"
play > "$work/second.log" 2>&1 || { cat "$work/second.log" >&2; die "the second run failed"; }
grep -qE "localhost +: ok=[0-9]+ +changed=0 " "$work/second.log" || { cat "$work/second.log" >&2; die "the second run changed something"; }
say "ansible: deployed, healed $target, second run changed nothing"

#!/usr/bin/env bash
# A private Docker engine beside the main one, standing in for a second controller in tests.
#   private-dockerd.sh start NAME   start it on unix:///tmp/autoheal-dockerd-NAME/docker.sock
#                                   and give it the busybox test image
#   private-dockerd.sh stop NAME    stop it and delete its data
# With TLS_DIR (certificates from make-certs.sh) and TLS_PORT set, it also listens on
# tcp://127.0.0.1:TLS_PORT with --tlsverify (clients need a certificate signed by that CA).
set -euo pipefail
cmd="${1:?start|stop}"; name="${2:?name}"
base="/tmp/autoheal-dockerd-$name"
sock="$base/docker.sock"
image="${TEST_IMAGE:-autoheal/busybox:latest}"
case "$cmd" in
  start)
    mkdir -p "$base"
    tls=()
    if [[ -n "${TLS_DIR:-}" ]]; then
      tls=(--tlsverify --tlscacert "$TLS_DIR/ca.pem" --tlscert "$TLS_DIR/server.pem" --tlskey "$TLS_DIR/server-key.pem"
           -H "tcp://127.0.0.1:${TLS_PORT:?TLS_PORT with TLS_DIR}")
    fi
    if ! curl -fsS --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1; then
      setsid nohup dockerd "${tls[@]}" --data-root "$base/data" --exec-root "$base/exec" --pidfile "$base/docker.pid" \
        -H "unix://$sock" --iptables=false --ip6tables=false --bridge=none \
        >"$base/dockerd.log" 2>&1 < /dev/null &
      for _ in $(seq 1 150); do
        curl -fsS --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null 2>&1 && break
        sleep 0.2
      done
      curl -fsS --max-time 2 --unix-socket "$sock" http://localhost/_ping >/dev/null || { echo "private dockerd $name not up; see $base/dockerd.log" >&2; exit 1; }
    fi
    if ! docker -H "unix://$sock" image inspect "$image" >/dev/null 2>&1; then
      docker -H unix:///var/run/docker.sock save "$image" | docker -H "unix://$sock" load >/dev/null
    fi
    ;;
  stop)
    if [[ -f "$base/docker.pid" ]]; then
      pid="$(cat "$base/docker.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -rf "$base" 2>/dev/null || true
    ;;
  *) echo "usage: $0 start|stop NAME" >&2; exit 2 ;;
esac

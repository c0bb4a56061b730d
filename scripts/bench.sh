#!/usr/bin/env bash
# Runs every figure of BENCHMARKS.md on this machine, one after the other (keep the machine
# otherwise idle): sets up the local services, builds in release mode, then runs
# autoheal-bench. Output goes to stdout; `bash scripts/bench.sh | tee bench.txt` keeps it.
source "$(dirname "$0")/lib.sh"
install_base
start_docker
start_rabbitmq
# Every run measures the same broker: after an afternoon of test and bench runs (the suites
# create and delete hundreds of vhosts) this node published 20,000-23,000 messages/s, and
# 26,000-27,000 once its application was restarted (BENCHMARKS.md). Vhosts, users and durable
# queues are kept.
say "restarting the RabbitMQ application (the same broker state for every run)"
rabbitmqctl -q stop_app
rabbitmqctl -q start_app
wait_for "rabbitmq management API" 60 rabbitmq_api_ready
make_test_image
cd "$AUTOHEAL_ROOT"
say "building (release)"
swift build -c release >/dev/null
bench=.build/release/autoheal-bench
run() { say "autoheal-bench $*"; "$bench" "$@"; }
run fleet-sweep --hosts 1000 --containers 10 --latency-ms 2 --base-port 10000
run fleet-sweep --hosts 1000 --containers 10 --latency-ms 20 --base-port 10000
run fleet-sweep --hosts 1000 --containers 10 --latency-ms 2 --unreachable 0.05 --silent 0.05 --timeout 2 --base-port 10000
run fleet-sweep --hosts 2000 --containers 10 --latency-ms 2 --base-port 10000
run fleet-sweep --hosts 5000 --containers 10 --latency-ms 2 --base-port 10000
run docker-sweep --counts 10 100 300
run dispatch --messages 20000
run dispatch --messages 20000 --journal
run latency --mode events --faults 20 --bursts 2
run latency --mode polling --poll-period 5 --faults 20 --bursts 2
run resources --seconds 60 --base-port 14000
run resources --seconds 0 --hosts 5000 --base-port 20000
say "bash scripts/bench-libvirt.sh"
bash "$AUTOHEAL_ROOT/scripts/bench-libvirt.sh"
say "bash scripts/bench-images.sh"
bash "$AUTOHEAL_ROOT/scripts/bench-images.sh"

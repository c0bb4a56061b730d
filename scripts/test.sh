#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (packages, local RabbitMQ and Docker engine, the test
# image, the Nova lab image of scripts/lab) and runs the whole test suite: the Swift tests
# (the cluster suite on the three nodes of scripts/rabbit-cluster.sh), then the deployment path (both
# images built without a registry, composed daemons healing a container; skipped with
# AUTOHEAL_SKIP_IMAGES=1). Safe to run again. `.ci/run` runs exactly this.
source "$(dirname "$0")/lib.sh"
setup_all
make_lab_image
cd "$AUTOHEAL_ROOT"
bash "$AUTOHEAL_ROOT/scripts/lint.sh"
say "building (debug)"
swift build
# The daemons link no Foundation (README, "Layout"): a dependency that brings it back fails here.
for daemon in autoheal-monitor autoheal-engine; do
  if readelf -d ".build/debug/$daemon" | grep -E 'NEEDED.*lib(Foundation|FoundationNetworking|FoundationInternationalization)\.so'; then
    echo "test: $daemon links the library above; the daemons' modules must use FoundationEssentials only" >&2
    exit 1
  fi
done
# Two phases on 2 cores. Every test runs real containers with 1 s health checks, libvirt
# domains or broker nodes: at most 6 at once (unbounded, the load passes 15 and Docker calls
# miss their deadlines). The suites on the Nova lab (real nova-manage at ~2 s of CPU a call,
# whole Nova stacks) run afterwards, 2 at once: beside everything else they starve.
NOVA_LAB_SUITES="PlacementAllocationHealerTests|AllocationHealEndToEndTests|PolicyEndToEndTests|HostFailureEndToEndTests"
# The cluster suite kills and partitions the nodes of scripts/rabbit-cluster.sh: alone, at the end.
CLUSTER_SUITES="RabbitClusterTests"
if (( $# > 0 )); then
  say "running the tests: $*"
  SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-6}" swift test "$@"
else
  say "running the tests (all but the Nova lab suites, 6 at once)"
  SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-6}" \
    swift test --skip "$NOVA_LAB_SUITES|$CLUSTER_SUITES"
  say "running the Nova lab suites (2 at once)"
  SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${NOVA_LAB_WIDTH:-2}" swift test --skip-build --filter "$NOVA_LAB_SUITES"
  say "running the RabbitMQ cluster suite on three nodes"
  bash "$AUTOHEAL_ROOT/scripts/rabbit-cluster.sh" start
  swift test --skip-build --filter "$CLUSTER_SUITES"
  bash "$AUTOHEAL_ROOT/scripts/rabbit-cluster.sh" stop
fi
if [[ "${AUTOHEAL_SKIP_IMAGES:-0}" != 1 ]]; then
  say "testing the images, the compose file and the alert rules"
  bash "$AUTOHEAL_ROOT/scripts/test-images.sh"
  say "testing the Ansible deployment"
  bash "$AUTOHEAL_ROOT/scripts/test-ansible.sh"
fi

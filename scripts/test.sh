#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (packages, local RabbitMQ and Docker engine, the test
# image, the Nova lab image of scripts/lab) and runs the whole test suite: the Swift tests, then the deployment path (both
# images built without a registry, composed daemons healing a container; skipped with
# AUTOHEAL_SKIP_IMAGES=1). Safe to run again. `.ci/run` runs exactly this.
source "$(dirname "$0")/lib.sh"
setup_all
make_lab_image
cd "$AUTOHEAL_ROOT"
say "building (debug)"
swift build
say "running the tests"
# At most 6 tests at once: every test runs real containers with 1 s health checks, libvirt
# domains or broker nodes, and on 2 cores an unbounded run drives the load past 15 and
# Docker calls past their deadlines (115 tests: 130 s bounded, slower and flaky unbounded).
export SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH="${SWT_EXPERIMENTAL_MAXIMUM_PARALLELIZATION_WIDTH:-6}"
swift test "$@"
if [[ "${AUTOHEAL_SKIP_IMAGES:-0}" != 1 ]]; then
  say "testing the images and the compose file"
  bash "$AUTOHEAL_ROOT/scripts/test-images.sh"
fi

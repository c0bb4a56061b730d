#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (packages, local RabbitMQ and Docker engine, the test
# image) and runs the whole test suite. Safe to run again. `.ci/run` runs exactly this.
source "$(dirname "$0")/lib.sh"
setup_all
cd "$AUTOHEAL_ROOT"
say "building (debug)"
swift build
say "running the tests"
swift test "$@"

#!/usr/bin/env bash
# Builds the two healer images without a registry and saves them for hosts without one:
#   bash scripts/build-images.sh [OUTPUT_DIR]
# makes the local base images (debootstrap + this machine's Swift toolchain) once, builds
# cloud-auto-heal-engine and cloud-auto-heal-monitor, and writes cloud-auto-heal-engine.tar and
# cloud-auto-heal-monitor.tar into OUTPUT_DIR (default: the repository) for `docker load -i`.
source "$(dirname "$0")/lib.sh"
out="${1:-$AUTOHEAL_ROOT}"
install_base
start_docker
build_healer_images
mkdir -p "$out"
for name in engine monitor; do
  docker save -o "$out/cloud-auto-heal-$name.tar" "cloud-auto-heal-$name:latest"
  say "saved $out/cloud-auto-heal-$name.tar ($(du -h "$out/cloud-auto-heal-$name.tar" | cut -f1))"
done

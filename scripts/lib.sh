# Shared helpers for the project's scripts. Source it; do not run it.
# Every function is idempotent: it checks before it acts.
set -euo pipefail

AUTOHEAL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
SERVICE_LOG_DIR="${SERVICE_LOG_DIR:-/var/log/autoheal-services}"
mkdir -p "$SERVICE_LOG_DIR"

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# wait_for DESCRIPTION SECONDS COMMAND...: run COMMAND until it succeeds or the deadline passes.
wait_for() {
  local what="$1" seconds="$2"; shift 2
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null; do
    if (( $(date +%s) >= deadline )); then die "$what not ready after ${seconds}s"; fi
    sleep 0.3
  done
}

# install_packages PKG...: apt-get install only what is missing.
install_packages() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  (( ${#missing[@]} == 0 )) && return 0
  say "installing ${missing[*]}"
  if [[ ! -e /var/lib/apt/lists/lock ]] || ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
    apt-get update -q
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" || { apt-get update -q; apt-get install -y -q --no-install-recommends "${missing[@]}"; }
}

# The libraries the package builds against and the services its tests use.
install_base() {
  install_packages pkg-config ca-certificates curl librabbitmq-dev libcurl4-openssl-dev libsqlite3-dev python3 \
    rabbitmq-server docker.io busybox-static iproute2 procps openssl
}

docker_ready() { curl -fsS --max-time 2 --unix-socket /var/run/docker.sock http://localhost/_ping 2>/dev/null; }

start_docker() {
  if docker_ready >/dev/null 2>&1; then return 0; fi
  say "starting dockerd (unix socket + tcp://127.0.0.1:2375)"
  setsid nohup dockerd --iptables=false --ip6tables=false --bridge=none \
    -H unix:///var/run/docker.sock -H tcp://127.0.0.1:2375 \
    >"$SERVICE_LOG_DIR/dockerd.log" 2>&1 < /dev/null &
  wait_for "dockerd (log: $SERVICE_LOG_DIR/dockerd.log)" 60 docker_ready
}

rabbitmq_ready() { rabbitmqctl -q await_startup --timeout 5 2>/dev/null; }
rabbitmq_api_ready() { curl -fsS --max-time 2 -u guest:guest http://127.0.0.1:15672/api/overview 2>/dev/null; }
# Fails the wait at once when the server we started has exited instead of waiting out the deadline.
RABBITMQ_PID=""
rabbitmq_alive_and_ready() {
  if [[ -n "$RABBITMQ_PID" ]] && ! kill -0 "$RABBITMQ_PID" 2>/dev/null; then
    echo "error: rabbitmq-server exited; see $SERVICE_LOG_DIR/rabbitmq-server.log and /var/log/rabbitmq" >&2
    exit 1
  fi
  rabbitmq_ready
}

start_rabbitmq() {
  if rabbitmq_api_ready >/dev/null; then
    return 0
  fi
  # The management plugin gives the tests a fast HTTP API for vhosts and queue depths.
  rabbitmq-plugins -q enable --offline rabbitmq_management >/dev/null
  # The default node, not the cluster nodes of scripts/rabbit-cluster.sh (marked -autoheal_cluster).
  if ! pgrep -f 'beam.*-s rabbit boot' | xargs -r -I{} sh -c 'grep -qa autoheal_cluster /proc/{}/cmdline || echo {}' | grep -q .; then
    say "starting rabbitmq-server"
    setsid nohup /usr/sbin/rabbitmq-server >"$SERVICE_LOG_DIR/rabbitmq-server.log" 2>&1 < /dev/null &
    RABBITMQ_PID=$!
  fi
  # await_startup exits at once while the node has not registered yet: loop on it.
  wait_for "rabbitmq-server (logs: $SERVICE_LOG_DIR/rabbitmq-server.log, /var/log/rabbitmq)" 120 rabbitmq_alive_and_ready
  wait_for "rabbitmq management API" 60 rabbitmq_api_ready
}

# The test image: a busybox-static rootfs imported as a local image (there is no registry).
TEST_IMAGE="${TEST_IMAGE:-autoheal/busybox:latest}"
make_test_image() {
  if docker image inspect "$TEST_IMAGE" >/dev/null 2>&1; then return 0; fi
  say "building $TEST_IMAGE from busybox-static"
  local root; root="$(mktemp -d)"
  mkdir -p "$root"/{bin,tmp,etc,proc,sys,dev}
  cp /bin/busybox "$root/bin/busybox"
  for tool in sh ls cat echo sleep touch rm test kill true false mkdir printf; do ln -s busybox "$root/bin/$tool"; done
  echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' - "$TEST_IMAGE" >/dev/null
  rm -rf "$root"
}

# A rootfs with busybox, for `docker import`. Prints its path.
busybox_rootfs() {
  local root; root="$(mktemp -d)"
  mkdir -p "$root"/{bin,usr/bin,tmp,etc,proc,sys,dev,run,var}
  ln -s /run "$root/var/run"
  cp /bin/busybox "$root/bin/busybox"
  for tool in sh ls cat echo sleep touch rm test kill true false mkdir printf grep; do ln -s busybox "$root/bin/$tool"; done
  echo 'root:x:0:0:root:/:/bin/sh' > "$root/etc/passwd"
  echo 'root:x:0:' > "$root/etc/group"
  chmod 1777 "$root/tmp"
  echo "$root"
}

# libvirt for the libvirt_suspend_wakeup tests: the daemon on this host, reached from
# containers through a bind-mounted /run/libvirt.
install_libvirt() {
  install_packages libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils
}

libvirt_ready() { virsh -c qemu:///system version >/dev/null 2>&1; }

start_libvirt() {
  # Without this libvirt re-probes QEMU on every call (virsh define takes ~45 s).
  if [[ -e /dev/kvm ]]; then
    getent group kvm >/dev/null || groupadd -r kvm
    chgrp kvm /dev/kvm; chmod 0660 /dev/kvm
  fi
  if libvirt_ready; then return 0; fi
  say "starting virtlogd and libvirtd"
  pgrep -x virtlogd >/dev/null || virtlogd -d
  pgrep -x libvirtd >/dev/null || libvirtd -d
  wait_for "libvirtd" 60 libvirt_ready
}

# Test images for the OpenStack handlers (there is no registry):
#  autoheal/nova-libvirt        the host's real virsh and its libraries
#  autoheal/virsh-pmsuspended   busybox + scripts/standins/virsh-pmsuspended
# stale_image IMAGE FILE: true when IMAGE is missing or was built from another version of FILE
# (its autoheal.source label holds the file's sha256), or REBUILD_IMAGES=1.
stale_image() {
  local want; want="$(sha256sum "$2" | cut -c1-64)"
  [[ "${REBUILD_IMAGES:-}" == 1 ]] && return 0
  [[ "$(docker image inspect -f '{{index .Config.Labels "autoheal.source"}}' "$1" 2>/dev/null)" != "$want" ]]
}

make_handler_images() {
  local root
  if stale_image autoheal/virsh-pmsuspended:latest "$AUTOHEAL_ROOT/scripts/standins/virsh-pmsuspended"; then
    say "building autoheal/virsh-pmsuspended"
    root="$(busybox_rootfs)"
    install -m 0755 "$AUTOHEAL_ROOT/scripts/standins/virsh-pmsuspended" "$root/usr/bin/virsh"
    tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/usr/bin:/bin' \
      -c "LABEL autoheal.source=$(sha256sum "$AUTOHEAL_ROOT/scripts/standins/virsh-pmsuspended" | cut -c1-64)" - autoheal/virsh-pmsuspended:latest >/dev/null
    rm -rf "$root"
  fi
  if ! docker image inspect autoheal/nova-libvirt:latest >/dev/null 2>&1 || [[ "${REBUILD_IMAGES:-}" == 1 ]]; then
    say "building autoheal/nova-libvirt (the host's virsh)"
    root="$(busybox_rootfs)"
    cp /usr/bin/virsh "$root/usr/bin/virsh"
    for lib in $(ldd /usr/bin/virsh | grep -o '/[^ ]*'); do
      mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
    done
    for f in /etc/nsswitch.conf; do [[ -e "$f" ]] && cp "$f" "$root$f"; done
    mkdir -p "$root/etc/libvirt" && [[ -e /etc/libvirt/libvirt.conf ]] && cp /etc/libvirt/libvirt.conf "$root/etc/libvirt/"
    tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/usr/bin:/bin' -c 'ENV LIBVIRT_DEFAULT_URI=qemu:///system' - autoheal/nova-libvirt:latest >/dev/null
    rm -rf "$root"
  fi
}

# Swift toolchain on PATH.
ensure_swift() {
  if ! command -v swift >/dev/null 2>&1 && [[ -x /opt/swift/usr/bin/swift ]]; then
    export PATH="/opt/swift/usr/bin:$PATH"
  fi
  command -v swift >/dev/null 2>&1 || die "swift not found (expected /opt/swift/usr/bin/swift)"
}

setup_all() {
  install_base
  install_libvirt
  start_docker
  start_rabbitmq
  start_libvirt
  make_test_image
  make_handler_images
  ensure_swift
}

# ---- Container images of the healer, without a registry --------------------------------
# Base images are made locally with debootstrap from the host's Debian mirror: a slim runtime
# (the three shared libraries the binaries need) and a Swift builder (this machine's toolchain
# and the Swift packages the manifest names, read through git's insteadOf like on the host).
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
# The Debian mirror this machine's apt uses (never one written here): deb822 sources first,
# then the one-line format.
debian_mirror() {
  local uri
  uri="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  [[ -n "$uri" ]] || uri="$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)"
  [[ -n "$uri" ]] || die "no Debian mirror found in this machine's apt configuration; set DEBIAN_MIRROR"
  echo "$uri"
}
DEBIAN_MIRROR="${DEBIAN_MIRROR:-}"
RUNTIME_BASE_IMAGE="${RUNTIME_BASE_IMAGE:-autoheal/debian-runtime:$DEBIAN_SUITE}"
BUILDER_BASE_IMAGE="${BUILDER_BASE_IMAGE:-autoheal/swift-builder:$DEBIAN_SUITE}"
SWIFT_TOOLCHAIN="${SWIFT_TOOLCHAIN:-/opt/swift}"
SWIFT_PACKAGE_MIRROR="${SWIFT_PACKAGE_MIRROR:-/opt/swift-packages}"

install_image_tools() { install_packages debootstrap docker-compose; }

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# debootstrap_rootfs DIR PACKAGES: a minimal Debian rootfs with PACKAGES (comma list).
debootstrap_rootfs() {
  local dir="$1" packages="$2"
  [[ -n "$DEBIAN_MIRROR" ]] || DEBIAN_MIRROR="$(debian_mirror)"
  rm -rf "$dir"
  say "debootstrap $DEBIAN_SUITE into $dir (with $packages)"
  debootstrap --variant=minbase --include="$packages" "$DEBIAN_SUITE" "$dir" "$DEBIAN_MIRROR" >"$dir.log" 2>&1 \
    || { tail -20 "$dir.log" >&2; die "debootstrap failed (log: $dir.log)"; }
  rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/archives/*.deb
}

make_runtime_base_image() {
  image_exists "$RUNTIME_BASE_IMAGE" && return 0
  local dir; dir="$(mktemp -d /tmp/autoheal-rootfs-runtime.XXXXXX)"
  debootstrap_rootfs "$dir/rootfs" librabbitmq4,libcurl4,libsqlite3-0,ca-certificates
  tar -C "$dir/rootfs" -c . | docker import -c 'CMD ["/bin/bash"]' - "$RUNTIME_BASE_IMAGE" >/dev/null
  rm -rf "$dir"
  say "made $RUNTIME_BASE_IMAGE"
}

# The Swift packages the manifest resolves to, one owner/name.git per line.
manifest_package_repos() {
  (cd "$AUTOHEAL_ROOT" && [[ -f Package.resolved ]] || swift package resolve >/dev/null)
  python3 - "$AUTOHEAL_ROOT/Package.resolved" <<'PY'
import json, sys
for pin in sorted(json.load(open(sys.argv[1]))["pins"], key=lambda p: p["location"]):
    location = pin["location"].removeprefix("https://github.com/").removesuffix(".git")
    print(location + ".git")
PY
}

# The builder base image carries the manifest's packages; it is made again when they change
# (a package added to Package.swift would otherwise not resolve inside `docker build`).
make_builder_base_image() {
  local packages
  packages="$(manifest_package_repos | sha256sum | cut -c1-64)"
  [[ "$(docker image inspect -f '{{index .Config.Labels "autoheal.packages"}}' "$BUILDER_BASE_IMAGE" 2>/dev/null)" \
    == "$packages" ]] && return 0
  [[ -x "$SWIFT_TOOLCHAIN/usr/bin/swift" ]] || die "no Swift toolchain at $SWIFT_TOOLCHAIN (set SWIFT_TOOLCHAIN)"
  local dir; dir="$(mktemp -d /tmp/autoheal-rootfs-builder.XXXXXX)"
  debootstrap_rootfs "$dir/rootfs" \
    binutils,gcc,g++,libc6-dev,libstdc++-12-dev,libgcc-12-dev,git,pkg-config,ca-certificates,zlib1g-dev,libncurses6,libxml2,libcurl4,libsqlite3-0,libuuid1,librabbitmq-dev,libcurl4-openssl-dev,libsqlite3-dev
  say "copying the Swift toolchain (without lldb, sourcekit, docc and the embedded stdlib)"
  mkdir -p "$dir/rootfs/opt"
  tar -C "$(dirname "$SWIFT_TOOLCHAIN")" -c \
      --exclude='usr/bin/sourcekit-lsp' --exclude='usr/bin/lldb*' --exclude='usr/bin/clangd' --exclude='usr/bin/docc' \
      --exclude='usr/bin/swift-format' --exclude='usr/bin/wasmkit' --exclude='usr/lib/liblldb*' \
      --exclude='usr/lib/libsourcekitdInProc.so' --exclude='usr/lib/libSwiftSourceKit*' \
      --exclude='usr/lib/swift/embedded' --exclude='usr/lib/swift/FrameworkABIBaseline' --exclude='usr/share/doc' \
      "$(basename "$SWIFT_TOOLCHAIN")" | tar -C "$dir/rootfs/opt" -x
  [[ "$SWIFT_TOOLCHAIN" == /opt/swift ]] || mv "$dir/rootfs/opt/$(basename "$SWIFT_TOOLCHAIN")" "$dir/rootfs/opt/swift"
  # The Swift packages of the manifest, read like on this machine (git insteadOf).
  manifest_package_repos | while read -r repo; do
    [[ -d "$SWIFT_PACKAGE_MIRROR/$repo" ]] || die "package $repo is not in $SWIFT_PACKAGE_MIRROR"
    mkdir -p "$dir/rootfs/opt/swift-packages/$(dirname "$repo")"
    cp -a "$SWIFT_PACKAGE_MIRROR/$repo" "$dir/rootfs/opt/swift-packages/$repo"
  done
  cat > "$dir/rootfs/etc/gitconfig" <<'GIT'
[url "/opt/swift-packages/"]
	insteadOf = https://github.com/
[safe]
	directory = *
GIT
  tar -C "$dir/rootfs" -c . | docker import \
    -c 'ENV PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["/bin/bash"]' -c "LABEL autoheal.packages=$packages" - "$BUILDER_BASE_IMAGE" >/dev/null
  rm -rf "$dir"
  say "made $BUILDER_BASE_IMAGE"
}

# The Nova lab image (scripts/lab): Debian's own nova-manage, Placement, Nova API and MariaDB
# on the runtime base, built once per machine and again when a file of scripts/lab changes.
NOVA_LAB_IMAGE="${NOVA_LAB_IMAGE:-autoheal/nova-lab:latest}"
make_lab_image() {
  local want
  want="$(cd "$AUTOHEAL_ROOT/scripts/lab" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64)"
  if [[ "${REBUILD_IMAGES:-}" != 1 ]] \
    && [[ "$(docker image inspect -f '{{index .Config.Labels "autoheal.source"}}' "$NOVA_LAB_IMAGE" 2>/dev/null)" == "$want" ]]; then
    return 0
  fi
  install_image_tools
  make_runtime_base_image
  say "building $NOVA_LAB_IMAGE (Debian's nova-common, python3-placement, MariaDB; about a minute)"
  docker build --network host --force-rm -q -f "$AUTOHEAL_ROOT/scripts/lab/Dockerfile.nova-lab" \
    --build-arg BASE_IMAGE="$RUNTIME_BASE_IMAGE" --label "autoheal.source=$want" \
    -t "$NOVA_LAB_IMAGE" "$AUTOHEAL_ROOT/scripts/lab" >/dev/null
}

# build_healer_images: both images from the local base images; the builder stage is the same
# in both Dockerfiles, so the second build reuses the first one's compile.
build_healer_images() {
  install_image_tools
  make_runtime_base_image
  make_builder_base_image
  local file
  for file in engine monitor; do
    say "docker build cloud-auto-heal-$file (release, static Swift stdlib)"
    docker build --network host --force-rm -q -f "$AUTOHEAL_ROOT/Dockerfile.$file" \
      --build-arg BUILDER_IMAGE="$BUILDER_BASE_IMAGE" --build-arg RUNTIME_IMAGE="$RUNTIME_BASE_IMAGE" \
      -t "cloud-auto-heal-$file:latest" "$AUTOHEAL_ROOT" >/dev/null
  done
}

# setup_images: what the image scripts need: the base packages, Docker, RabbitMQ, the test
# image and both healer images.
setup_images() {
  install_base
  start_docker
  start_rabbitmq
  make_test_image
  build_healer_images
}

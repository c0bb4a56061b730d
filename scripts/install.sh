#!/usr/bin/env bash
# Sets up Cloud Auto Heal with docker-compose on one server, once:
#   bash scripts/install.sh engine  [IMAGE_TAR]    each control server
#   bash scripts/install.sh monitor [IMAGE_TAR]    the deploy server
#   bash scripts/install.sh engine,monitor …       a server that is both
# It loads the image tarball if given (no registry needed), puts docker-compose.yml and an .env
# that chooses the profile into $AUTOHEAL_HOME (/opt/cloud-auto-heal), makes /var/log/autoheal,
# /var/lib/autoheal and /etc/autoheal, and writes the commented config template to
# /etc/auto_heal.conf (mode 600) when there is none. From then on, on that server:
#   cd /opt/cloud-auto-heal && docker-compose up -d
# AUTOHEAL_CONFIG, AUTOHEAL_CERT_DIR, AUTOHEAL_LOG_DIR, AUTOHEAL_STATE_DIR and
# COMPOSE_PROJECT_NAME, when set, are written into the .env too.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

profiles="${1:-}"
[[ "$profiles" =~ ^(engine|monitor|engine,monitor|monitor,engine)$ ]] || die "usage: install.sh engine|monitor|engine,monitor [IMAGE_TAR...]"
shift
for tar in "$@"; do
  say "loading $tar"
  docker load -q -i "$tar" >/dev/null
done
home="${AUTOHEAL_HOME:-/opt/cloud-auto-heal}"
config="${AUTOHEAL_CONFIG:-/etc/auto_heal.conf}"
mkdir -p "$home" "${AUTOHEAL_LOG_DIR:-/var/log/autoheal}" "${AUTOHEAL_STATE_DIR:-/var/lib/autoheal}"
install -d -m 0700 "${AUTOHEAL_CERT_DIR:-/etc/autoheal}"
install -m 0644 "$here/docker-compose.yml" "$home/docker-compose.yml"
{
  echo "# Written by scripts/install.sh: which daemons run on this server, and where their files are."
  echo "COMPOSE_PROFILES=$profiles"
  echo "COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-cloud-auto-heal}"
  for var in AUTOHEAL_CONFIG AUTOHEAL_CERT_DIR AUTOHEAL_LOG_DIR AUTOHEAL_STATE_DIR; do
    [[ -n "${!var:-}" ]] && echo "$var=${!var}"
  done
} > "$home/.env.new"
mv "$home/.env.new" "$home/.env"
say "wrote $home/docker-compose.yml and $home/.env (COMPOSE_PROFILES=$profiles)"

if [[ -d "$config" ]]; then
  die "$config is a directory (Docker makes one when it mounts a host path that does not exist): remove it and run this again"
fi
if [[ ! -e "$config" ]]; then
  image="cloud-auto-heal-${profiles%%,*}:latest"
  docker image inspect "$image" >/dev/null 2>&1 || die "no image $image: give its tarball to install.sh, or docker load it"
  dir="$(dirname "$config")"
  docker run --rm --network none -v "$dir:/host-config" --entrypoint autoheal "$image" \
    init-config --output "/host-config/$(basename "$config")" >/dev/null
  say "wrote the commented template to $config (mode 600): edit [rabbitmq] and [hosts], check it with"
  say "  docker run --rm --network host -v $config:/etc/auto_heal.conf:ro --entrypoint autoheal $image check-config"
  say "then start: cd $home && docker-compose up -d"
  exit 0
fi
say "config $config is in place; start or update with: cd $home && docker-compose up -d"

#!/usr/bin/env bash
# Checks the shipped alert rules and dashboard (deploy/prometheus, deploy/grafana):
#   bash scripts/check-alerts.sh                      promtool check rules + promtool test rules
#   bash scripts/check-alerts.sh URL [URL...]         and every autoheal_* series they name is
#                                                     exported by the daemons' /metrics at URL
# `scripts/test-images.sh` runs the second form against the composed engine and monitor.
source "$(dirname "$0")/lib.sh"
install_packages prometheus
rules="$AUTOHEAL_ROOT/deploy/prometheus/autoheal-alerts.yml"
dashboard="$AUTOHEAL_ROOT/deploy/grafana/autoheal-dashboard.json"
say "promtool check rules, test rules"
promtool check rules "$rules" >/dev/null
(cd "$AUTOHEAL_ROOT/deploy/prometheus" && promtool test rules autoheal-alerts-test.yml >/dev/null)
python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$dashboard" || die "$dashboard is not JSON"
(( $# > 0 )) || exit 0

exported=""
for url in "$@"; do exported+="$(curl -fsS "$url")"$'\n'; done
missing=()
for series in $(grep -ohE 'autoheal_[a-z_]+' "$rules" "$dashboard" | sort -u); do
  # A histogram's _bucket/_sum/_count and a counter's name are exported as written.
  grep -qE "^${series}(\{| )" <<<"$exported" || missing+=("$series")
done
(( ${#missing[@]} == 0 )) || die "named in the rules or dashboard but not exported by the daemons: ${missing[*]}"
say "every autoheal_* series of the rules and dashboard is exported"

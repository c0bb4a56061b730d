#!/usr/bin/env bash
# `swift format lint` with the repository's .swift-format; fails on any finding.
# Fix with: swift format format -i -r Sources Tests Package.swift
source "$(dirname "$0")/lib.sh"
ensure_swift
cd "$AUTOHEAL_ROOT"
say "swift format lint"
swift format lint --strict -r Sources Tests Package.swift

# The daemons never load ICU's data (about 4 MB of RSS each, measured in BENCHMARKS.md): no
# Foundation formatter, locale-aware comparison or CharacterSet-based encoding in the modules
# they link (ISO8601FormatStyle loads ICU's time zones on any text but the plain UTC form:
# WireTime reads and writes times by hand). JSONEncoder's sorted keys are
# FoundationEssentials', without ICU. The CLI and the benchmark may use anything.
say "no ICU-loading Foundation calls in the daemons' modules"
if grep -rnE '\.formatted\(|ISO8601|DateFormatter\(|NumberFormatter|String\(format:|addingPercentEncoding|Locale\.current|TimeZone\.current|Calendar\.current|localizedCompare|\.sortedKeys' \
  Sources --include='*.swift' \
  | grep -vE '^Sources/(autoheal|autoheal-bench|autoheal-fuzz|FuzzTargets)/|^Sources/AutoHealCore/SharedStateMessage\.swift:[0-9]+: *encoder\.outputFormatting|^[^:]+:[0-9]+: *///'; then
  echo "lint: the lines above load ICU in a daemon (see scripts/lint.sh)" >&2
  exit 1
fi

# The monitor links no Foundation, only FoundationEssentials: libFoundation and what it loads
# (FoundationInternationalization, ICU, FoundationNetworking) were about 8 MB of its RSS
# (BENCHMARKS.md). Its modules, and the ones it shares with the engine, import
# FoundationEssentials; the engine's own modules may import Foundation (GRDB does anyway).
say "no Foundation in the monitor's modules"
monitor_modules='AutoHealCore|Locking|AMQP|HTTP|DockerAPI|Messaging|Monitor|Telemetry|autoheal-monitor'
if grep -rnE '^\s*(@_exported\s+)?(public\s+|internal\s+)?import\s+(Foundation|FoundationNetworking|FoundationXML)$' Sources --include='*.swift' \
  | grep -E "^Sources/($monitor_modules)/"; then
  echo "lint: the lines above import Foundation into the monitor (see scripts/lint.sh)" >&2
  exit 1
fi

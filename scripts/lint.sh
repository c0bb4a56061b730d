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

# The daemons link no Foundation, only FoundationEssentials: libFoundation and what it loads
# (FoundationInternationalization, ICU, FoundationNetworking) were about 8 MB of each one's RSS
# (BENCHMARKS.md). Every module they link imports FoundationEssentials; the CLI, the benchmark
# and the fuzzer may import Foundation.
say "no Foundation in the daemons' modules"
if grep -rnE '^\s*(@_exported\s+)?(public\s+|internal\s+)?import\s+(Foundation|FoundationNetworking|FoundationXML)$' Sources --include='*.swift' \
  | grep -vE '^Sources/(autoheal|autoheal-bench|autoheal-fuzz|FuzzTargets)/'; then
  echo "lint: the lines above import Foundation into a daemon (see scripts/lint.sh)" >&2
  exit 1
fi

# JSON from outside is read by JSONInput alone: its guard keeps FoundationEssentials' decoder
# from trapping on 513 nested `[` at the end of a text (Sources/AutoHealCore/JSONInput.swift).
say "JSON is decoded through JSONInput"
if grep -rn 'JSONDecoder()' Sources --include='*.swift' | grep -vE '^Sources/AutoHealCore/JSONInput\.swift:|^[^:]+:[0-9]+: *///'; then
  echo "lint: decode with JSONInput.decode, not JSONDecoder (see scripts/lint.sh)" >&2
  exit 1
fi

#!/usr/bin/env bash
# `swift format lint` with the repository's .swift-format; fails on any finding.
# Fix with: swift format format -i -r Sources Tests Package.swift
source "$(dirname "$0")/lib.sh"
ensure_swift
cd "$AUTOHEAL_ROOT"
say "swift format lint"
swift format lint --strict -r Sources Tests Package.swift

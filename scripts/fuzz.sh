#!/usr/bin/env bash
# Fuzzes every parser of outside input with libFuzzer (Sources/FuzzTargets).
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]   each target for SECONDS (default 10), all targets
#   FUZZ_RUNS=1000000 bash scripts/fuzz.sh 0     each target for 1,000,000 inputs instead
#
# Builds autoheal-fuzz with -sanitize=fuzzer,address into .build-fuzz (its own scratch path:
# the normal build is not disturbed), then runs each target from the seeds in
# Tests/Fuzz/corpus/TARGET plus what earlier runs found (.build-fuzz/corpus/TARGET). A crash
# or a broken invariant stops with the input copied to Tests/Fuzz/crashes/TARGET/, where the
# regression tests replay it once it is fixed and committed. Figures go to stdout and to
# .build-fuzz/results.txt.
source "$(dirname "$0")/lib.sh"
ensure_swift
seconds="${1:-10}"; shift || true
scratch="$AUTOHEAL_ROOT/.build-fuzz"
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(envelope config docker-events container-inspect exec-stream virsh nova-manage shared-state nova-api)
fi
mode="release"
say "building autoheal-fuzz with libFuzzer and AddressSanitizer ($mode, $scratch)"
started=$SECONDS
swift build -c "$mode" --scratch-path "$scratch" --product autoheal-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -use-ld=lld 2>&1 \
  | grep -v "Cannot export local symbol" | grep -E "error|warning: |Compiling|Build" | grep -v "^\[" | tail -5
binary="$scratch/$mode/autoheal-fuzz"
[[ -x "$binary" ]] || die "the fuzz build failed"
say "built in $((SECONDS - started)) s"

limit=(-max_total_time="$seconds")
[[ -n "${FUZZ_RUNS:-}" ]] && limit=(-runs="$FUZZ_RUNS")
results="$scratch/results.txt"
printf '%-18s %12s %10s %8s %8s %8s %s\n' target inputs inputs/s seconds cov corpus peak_rss > "$results"
failed=0
for target in "${targets[@]}"; do
  seeds="$AUTOHEAL_ROOT/Tests/Fuzz/corpus/$target"
  [[ -d "$seeds" ]] || die "no seed corpus $seeds"
  work="$scratch/corpus/$target"; artifacts="$scratch/artifacts/$target/"
  mkdir -p "$work" "$artifacts"
  log="$scratch/$target.log"
  say "fuzzing $target (${FUZZ_RUNS:+$FUZZ_RUNS inputs}${FUZZ_RUNS:-$seconds s})"
  t0=$SECONDS
  # Swift's own backtracer would take over a crash and wait; libFuzzer reports it instead.
  if SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 AUTOHEAL_FUZZ_TARGET="$target" \
    "$binary" "$work" "$seeds" "${limit[@]}" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts" >"$log" 2>&1; then
    status=ok
  else
    status=crash; failed=1
  fi
  elapsed=$((SECONDS - t0))
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
  corpus="$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)"
  rate=$(( ${runs:-0} / (elapsed > 0 ? elapsed : 1) ))
  printf '%-18s %12s %10s %8s %8s %8s %s\n' "$target" "${runs:-?}" "$rate" "$elapsed" "${cov:-?}" "${corpus:-?}" "${rss:-?}MB" | tee -a "$results"
  if [[ $status == crash ]]; then
    mkdir -p "$AUTOHEAL_ROOT/Tests/Fuzz/crashes/$target"
    for input in "$artifacts"*; do
      if [[ -f "$input" ]]; then cp "$input" "$AUTOHEAL_ROOT/Tests/Fuzz/crashes/$target/"; fi
    done
    grep -E "Fatal error|ERROR: |SUMMARY|runtime failure|precondition|Test unit written" "$log" | head -8 >&2 || true
    say "$target crashed: input copied to Tests/Fuzz/crashes/$target/ (log $log)"
    rm -f "$artifacts"*
  fi
done
cat "$results" >&2
[[ $failed == 0 ]] || die "a fuzz target crashed"
say "no crash"

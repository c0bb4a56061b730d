// Why C: libFuzzer's entry point for a program that has its own main() is a C function; it is
// declared here so Swift can call it. It exists only in builds linked with -sanitize=fuzzer
// (scripts/fuzz.sh), and autoheal-fuzz calls it only under `#if FUZZING`.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

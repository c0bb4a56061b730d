// What the two daemons do before any library starts: C, because it must run before the shared
// libraries' constructors, which only an entry of the program's own DT_PREINIT_ARRAY does.
//
// GnuTLS comes into the daemons only as a dependency of Debian's libcurl (through librtmp). The
// HTTP client allows only http and https, with TLS through OpenSSL, so nothing uses GnuTLS, yet
// its constructor initialises it: about 0.9 MB of each daemon's idle memory (BENCHMARKS.md).
// GnuTLS skips that when GNUTLS_NO_IMPLICIT_INIT=1 is in the environment its constructor sees.
//
// Setting it here with setenv() does not work: libc's own initialiser, which runs after this and
// before GnuTLS's, resets the environment to the one the program was started with. So when the
// variable is absent, the program starts itself again (execve of /proc/self/exe: same process,
// same arguments) with it and a marker added, once. After every library's constructor, the
// program's own constructor removes both again, so that no child process (the fence command)
// inherits them: a program that relies on GnuTLS's implicit start-up would fail with them. If the
// variable is set already (the operator's choice), the environment is implausibly large for a
// copy on the stack, or the exec fails, the program just goes on.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon_startup.h"

#define GNUTLS_VARIABLE "GNUTLS_NO_IMPLICIT_INIT"
#define MARKER_VARIABLE "AUTOHEAL_STARTED_AGAIN"
static const char gnutls_entry[] = GNUTLS_VARIABLE "=1";
static const char marker_entry[] = MARKER_VARIABLE "=1";

static int has_variable(char **envp, const char *entry) {
    size_t name_length = strchr(entry, '=') - entry + 1;
    for (char **e = envp; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, entry, name_length) == 0) return 1;
    }
    return 0;
}

static void cdaemon_before_libraries(int argc, char **argv, char **envp) {
    (void)argc;
    if (has_variable(envp, gnutls_entry) || has_variable(envp, marker_entry)) return;
    size_t count = 0;
    while (envp != NULL && envp[count] != NULL) count++;
    if (count > 4096) return;
    char *again[count + 3];
    for (size_t i = 0; i < count; i++) again[i] = envp[i];
    again[count] = (char *)gnutls_entry;
    again[count + 1] = (char *)marker_entry;
    again[count + 2] = NULL;
    execve("/proc/self/exe", argv, again);
    // Only reached if the exec failed: start as is, with GnuTLS initialised.
}

__attribute__((section(".preinit_array"), used)) static void (*const cdaemon_preinit)(
    int, char **, char **) = cdaemon_before_libraries;

__attribute__((constructor)) static void cdaemon_after_libraries(void) {
    if (getenv(MARKER_VARIABLE) == NULL) return;
    unsetenv(MARKER_VARIABLE);
    unsetenv(GNUTLS_VARIABLE);
}

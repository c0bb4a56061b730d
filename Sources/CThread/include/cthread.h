// Naming a thread: pthread_setname_np is a GNU extension, which Glibc's Swift module leaves out.
#ifndef CAH_CTHREAD_H
#define CAH_CTHREAD_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>

/// Names the calling thread (Linux keeps the first 15 bytes); 0 or an errno value.
static inline int cah_thread_set_name(const char *name) { return pthread_setname_np(pthread_self(), name); }
#endif

// epoll and eventfd for the HTTP client's transfer thread and the benchmark's fleet simulator
// (Glibc's Swift module leaves them out).
#ifndef CAH_CEPOLL_H
#define CAH_CEPOLL_H
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif

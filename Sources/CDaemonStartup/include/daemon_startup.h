#ifndef CDAEMON_STARTUP_H
#define CDAEMON_STARTUP_H

// Nothing to call: linking this target into a program is what runs its start-up code
// (daemon_startup.c, DT_PREINIT_ARRAY and a constructor).

#endif

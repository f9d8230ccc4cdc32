/* A worker process: one event loop, its connections, timers and buffer pool. */
#ifndef PORTICO_WORKER_H
#define PORTICO_WORKER_H

#include "portico/listener.h"
#include "portico/settings.h"

struct tls_server;
struct compress_cache;
struct metrics;
struct iplimit;

/* What a worker is started with. */
struct worker_start {
    const struct settings *s;
    const struct listener_set *ls;
    const int *rootfds;               /* each site's document root, by site number (site.h) */
    struct tls_server *tls;
    const struct compress_cache *cc;  /* the compressor's socket and cache directory */
    int ctl;                          /* the control socket from the master */
    struct metrics *metrics;          /* the instance's shared counts and drain flag, or NULL */
    int metrics_slot;                 /* this process's slot in them, or -1 */
    struct iplimit *iplimit;          /* the per-address connection counts, or NULL */
    int live_fd;                      /* its end of the watcher's socket (--watch), or -1 */
};

/* Runs a worker on the given listeners until it is told to stop; returns the
 * process exit status. */
int worker_run(const struct worker_start *ws);
/* The master's side of the control socket: hands a descriptor to a worker. */
int worker_send_fd(int ctl, int fd);

#endif

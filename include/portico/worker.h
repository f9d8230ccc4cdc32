/* A worker process: one event loop, its connections, timers and buffer pool. */
#ifndef PORTICO_WORKER_H
#define PORTICO_WORKER_H

#include "portico/listener.h"
#include "portico/settings.h"

struct tls_server;
struct compress_cache;

/* Runs a worker on the given listeners until it is told to stop; returns the
 * process exit status. rootfds: each site's document root, by site number (site.h);
 * cc: the compressor's socket and cache directory (compressor.h). */
int worker_run(const struct settings *s, const struct listener_set *ls, const int *rootfds,
               struct tls_server *tls, const struct compress_cache *cc, int ctl);
/* The master's side of the control socket: hands a descriptor to a worker. */
int worker_send_fd(int ctl, int fd);

#endif

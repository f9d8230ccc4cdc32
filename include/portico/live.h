/* Live reload (--watch, --dev): the reserved paths of the default site (the page
 * script and its event stream), and the worker's open event streams, which hear every
 * change the watcher process reports (the script's place in pages: liveinject.h). */
#ifndef PORTICO_LIVE_H
#define PORTICO_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "portico/handler.h"

#define LIVE_EVENTS_PATH "/.portico/live"
#define LIVE_SCRIPT_PATH "/.portico/live.js"

struct live;

/* For a worker whose end of the watcher's socket is fd; NULL when out of memory. */
struct live *live_new(int fd);
/* The socket to wait on: a change batch is one datagram (an event's text). */
int live_fd(const struct live *l);
/* Reads the batches that came and tells every open stream. */
void live_read(struct live *l);
/* The worker is stopping (a reload, a stop): every stream ends cleanly now, and one
 * opened from now on ends at once, so that pages reconnect to the new workers. */
void live_stop(struct live *l);
/* The reserved paths, for the default site only. */
struct handler live_handler(struct live *l);

#endif

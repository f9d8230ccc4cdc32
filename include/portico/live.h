/* Live reload (--watch, --dev): the reserved paths of the default site (the page
 * script and its event stream), the worker's open event streams, which hear every
 * change the watcher process reports, and the script put into HTML pages. */
#ifndef PORTICO_LIVE_H
#define PORTICO_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "portico/filecache.h"
#include "portico/handler.h"
#include "portico/response.h"

#define LIVE_EVENTS_PATH "/.portico/live"
#define LIVE_SCRIPT_PATH "/.portico/live.js"
/* What a page's tag says it is: an injected page's ETag is the file's with this added. */
#define LIVE_TAG_SUFFIX "-live"

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

/* Plans the script into a whole HTML body of length bytes read from fd (or from the
 * file's bytes in memory), before the last </body>, else the first </head>, else at
 * the end; f, when the body is a cached file, keeps where that was. */
void live_inject(struct response *resp, int fd, uint64_t length, struct fc_file *f);
/* The ETag of an injected page: the file's, LIVE_TAG_SUFFIX before its closing quote,
 * into out (ETAG_MAX + sizeof(LIVE_TAG_SUFFIX) bytes); its length. */
size_t live_etag(const char *etag, size_t len, char *out);

#endif

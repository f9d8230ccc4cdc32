/* CORS (the Fetch standard's protocol): which origins' scripts may read a site's
 * responses, the headers that say so, and answers to preflight requests. */
#ifndef PORTICO_CORS_H
#define PORTICO_CORS_H

#include "portico/handler.h"
#include "portico/settings.h"

struct cors;

/* Every site's allowed origins, from its cors lines (s: the global settings);
 * NULL when out of memory. */
struct cors *cors_new(const struct settings *s);
void cors_free(struct cors *c);
/* Answers a preflight (OPTIONS with Origin and Access-Control-Request-Method) from
 * an allowed origin with 204, and adds Access-Control-Allow-Origin and the exposed
 * headers to every response to an allowed origin (Vary: Origin where it depends
 * on the origin). */
struct handler cors_handler(struct cors *c);

#endif

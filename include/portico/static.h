/* Serving files beneath the document root: target → path → cached file →
 * conditionals, ranges and the representation to send. */
#ifndef PORTICO_STATIC_H
#define PORTICO_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "portico/cond.h"
#include "portico/filecache.h"
#include "portico/http.h"
#include "portico/response.h"
#include "portico/settings.h"

struct static_ctx {
    struct filecache *fc;
    int rootfd;
    const struct settings *settings;
    uint64_t now_ms;
    time_t now; /* wall clock, for Last-Modified dates in the future */
};

/* What static needs of a GET or HEAD request; strings point into the request. */
struct static_request {
    struct str path, query; /* path still percent-encoded; query.p NULL when absent */
    struct cond_headers cond;
    struct str range, accept_encoding;
};

/* Decides the response: a file (maybe a part of it or a pre-compressed sibling),
 * a listing, a redirect, 304/412/416, or an error status. */
void static_serve(struct static_ctx *ctx, const struct static_request *rq, struct response *resp);

/* Answers a complete, valid request head by its method: OPTIONS 204, GET and
 * HEAD from the root, other methods 405. base is the request's first byte. */
void static_respond(struct static_ctx *ctx, const struct request *r, const char *base,
                    struct response *resp);

/* For an error response without a body: use the root's NNN.html when there is one. */
void static_error_page(struct static_ctx *ctx, struct response *resp);

#endif

/* Serving files beneath the document root: target → path → cached file →
 * conditionals, ranges and the representation to send. */
#ifndef PORTICO_STATIC_H
#define PORTICO_STATIC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "portico/cond.h"
#include "portico/filecache.h"
#include "portico/handler.h"
#include "portico/http.h"
#include "portico/response.h"
#include "portico/settings.h"

struct static_ctx {
    struct filecache *fc;
    int rootfd;
    const struct settings *settings;
    struct variants *variants; /* compressed variants, or NULL: compression is off */
    int live;                  /* live reload: whole HTML pages get its script (live.h) */
    uint64_t now_ms;
    time_t now; /* wall clock, for Last-Modified dates in the future */
};

/* What static needs of a GET or HEAD request; strings point into the request. */
struct static_request {
    struct cond_headers cond;
    struct str_list accept_encoding;
    struct str range, accept;
    int head; /* HEAD: nothing is compressed for it */
};

/* Decides the response for x->path (decoded and normalised): a file (maybe a part of
 * it or a pre-compressed sibling), a listing, a redirect, 304/412/416, or an error
 * status. A Location is built in x's scratch space. */
void static_serve(struct static_ctx *ctx, const struct static_request *rq, struct exchange *x,
                  struct response *resp);

/* The static handler (ctx: an array of struct static_ctx, one per site, by x->site_no):
 * it answers every request by its method, OPTIONS 204, GET and HEAD from the site's
 * root, other methods 405; and it gives an error response without a body the root's
 * NNN.html when there is one. */
int static_handle(void *ctx, struct exchange *x, struct response *resp);
void static_error_page(void *ctx, struct exchange *x, struct response *resp);
struct handler static_handler(struct static_ctx *sites);

#endif

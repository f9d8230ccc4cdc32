/* The seam between a connection and what answers its requests: an ordered table
 * of handlers, each of which may answer with a response plan (struct response)
 * and never touches the socket. */
#ifndef PORTICO_HANDLER_H
#define PORTICO_HANDLER_H

#include <string.h>
#include <sys/socket.h>

#include "portico/cond.h"
#include "portico/http.h"
#include "portico/response.h"
#include "portico/settings.h"
#include "portico/str.h"

struct transport;

/* A request head's longest target (the head limit) and room for "index.html". */
#define EXCHANGE_PATH_SIZE     (8192 + 16)
/* A Location longer than this is refused with 414. */
#define EXCHANGE_LOCATION_SIZE 8192

/* One request being answered: what handlers read, and scratch space of its own,
 * so that nothing of one request lives in a static buffer another could share. */
struct exchange {
    const struct request *req;
    const char *base;               /* the request's first byte: spans are offsets from it */
    const struct transport *io;     /* for the connection's addresses; handlers never send */
    const struct sockaddr *client;  /* the real client: the peer, or whom a trusted proxy names */
    const struct settings *site;    /* the site it is for (site.h), and that site's number */
    int site_no;
    unsigned secure : 1;            /* it came over TLS */
    unsigned protected : 1;         /* an auth rule covers the path */
    const char *user;               /* who proved it with a password, or NULL (the log) */
    size_t user_len;
    size_t path_len;                /* 0: no path (a request that failed before one) */
    char path[EXCHANGE_PATH_SIZE];  /* the decoded, normalised path */
    char location[EXCHANGE_LOCATION_SIZE];
    char etag[ETAG_MAX + 16];       /* a validator made for this response (an injected page's) */
    struct sockaddr_storage client_room; /* a client named by X-Forwarded-For */
};

struct handler {
    /* 1: answered, resp (initialised, head_only set) is the plan; 0: the next one's
     * turn. NULL for a handler that only amends. */
    int (*handle)(void *ctx, struct exchange *x, struct response *resp);
    /* Optional: amends every plan before it is composed, whoever made it (error pages,
     * header rules), in the table's order. */
    void (*amend)(void *ctx, struct exchange *x, struct response *resp);
    void *ctx;
};

#define HANDLERS_MAX 12

/* A header the request sent (bit: its HTTP_HDR_* in req->present), or {NULL, 0}. */
static inline struct str exchange_header(const struct exchange *x, const struct span *s,
                                         unsigned bit)
{
    struct str v = {NULL, 0};

    if (x->req->present & bit) {
        v.p = x->base + s->off;
        v.len = s->len;
    }
    return v;
}

/* 1 when the request's path, as sent (no query, nothing decoded), is path: the
 * instance's own endpoints are matched so, before any site's rules. */
static inline int exchange_path_is(const struct exchange *x, const char *path, size_t len)
{
    const struct span *p = &x->req->path;

    return path != NULL && p->len == len && memcmp(x->base + p->off, path, len) == 0;
}

/* The field lines of a list header the request sent (up to COND_LIST_MAX of them). */
static inline struct str_list exchange_lines(const struct exchange *x, const struct span *lines,
                                             int n)
{
    struct str_list l;
    int i;

    for (i = 0; i < n && i < COND_LIST_MAX; i++) {
        l.line[i].p = x->base + lines[i].off;
        l.line[i].len = lines[i].len;
    }
    l.n = i;
    return l;
}

/* For a resource that is read only: OPTIONS is answered 204 and any method but GET and
 * HEAD 405, both with Allow. 1 when answered so; 0 for GET and HEAD. */
static inline int exchange_answer_methods(const struct exchange *x, struct response *resp)
{
    if (x->req->method == HTTP_GET || x->req->method == HTTP_HEAD)
        return 0;
    resp->status = x->req->method == HTTP_OPTIONS ? HTTP_NO_CONTENT : HTTP_METHOD_NOT_ALLOWED;
    resp->allow = 1;
    return 1;
}

#endif

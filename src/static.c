/* Maps a request path to a file beneath the root and decides what of it to send:
 * index files, listings, pre-compressed siblings, validators, conditionals and
 * ranges. Never reads file contents: bodies go out through send.c. */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "portico/encoding.h"
#include "portico/listing.h"
#include "portico/path.h"
#include "portico/static.h"

static enum http_status errno_status(int err)
{
    switch (err) {
    case EACCES:
    case EPERM:
        return HTTP_FORBIDDEN;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
        return HTTP_SERVICE_UNAVAILABLE;
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case EXDEV:
    case ENAMETOOLONG:
        return HTTP_NOT_FOUND;
    default:
        return HTTP_INTERNAL_ERROR;
    }
}

static void redirect_to_dir(const char *path, size_t len, const struct str *query,
                            char *location_buf, struct response *resp)
{
    size_t qlen = query->p ? query->len : 0;
    long n = qlen + 3 < EXCHANGE_LOCATION_SIZE
                 ? path_encode(path, len, location_buf, EXCHANGE_LOCATION_SIZE - qlen - 3)
                 : -1;

    if (n < 0) {
        resp->status = HTTP_URI_TOO_LONG;
        return;
    }
    location_buf[n++] = '/';
    if (query->p) {
        location_buf[n++] = '?';
        memcpy(location_buf + n, query->p, qlen);
        n += (long)qlen;
    }
    location_buf[n] = '\0';
    resp->status = HTTP_MOVED_PERMANENTLY;
    resp->location = location_buf;
}

static void serve_listing(struct static_ctx *ctx, const char *path_buf, size_t len,
                          struct response *resp)
{
    uint64_t length = 0;
    int fd = listing_build(ctx->rootfd, path_buf, len, &length);

    if (fd < 0) {
        resp->status = errno_status(errno);
        return;
    }
    resp->status = HTTP_OK;
    resp->own_fd = fd;
    resp->length = length;
    resp->content_type = "text/html; charset=utf-8";
}

/* The response is an error after all: its body is not this representation
 * (Vary stays: which representation failed still depended on Accept-Encoding). */
static void not_this_file(struct response *resp)
{
    resp->content_type = resp->content_encoding = NULL;
    resp->etag = resp->last_modified = resp->cache_control = NULL;
    resp->accept_ranges = resp->modified_now = 0;
}

/* Picks the representation, then applies preconditions and Range to it. */
static void serve_file(struct static_ctx *ctx, const struct static_request *rq,
                       const struct fc_entry *e, struct response *resp)
{
    struct fc_file *f = e->file;
    unsigned avail = (e->gz ? ENCODING_GZIP : 0) | (e->br ? ENCODING_BR : 0);
    enum http_status st;
    time_t mtime;
    int n;

    if (avail != 0) {
        /* the response depends on Accept-Encoding whichever coding is sent */
        unsigned enc = encoding_choose(rq->accept_encoding.p, rq->accept_encoding.len, avail);
        resp->vary_encoding = 1;
        if (enc == ENCODING_BR) {
            f = e->br;
            resp->content_encoding = "br";
        } else if (enc == ENCODING_GZIP) {
            f = e->gz;
            resp->content_encoding = "gzip";
        }
    }
    resp->content_type = e->content_type;
    resp->etag = f->etag;
    resp->last_modified = f->last_modified;
    resp->cache_control = ctx->settings->cache_control;
    resp->accept_ranges = 1;
    /* RFC 9110 §8.8.2.1: a modification time in the future is replaced by the Date */
    mtime = f->mtime;
    if (mtime > ctx->now && ctx->now > 0) {
        mtime = ctx->now;
        resp->modified_now = 1;
    }

    st = cond_evaluate(&rq->cond, 1, f->etag, f->etag_len, mtime);
    if (st != 0) {
        resp->status = st;
        if (st == HTTP_PRECONDITION_FAILED)
            not_this_file(resp);
        return;
    }
    resp->status = HTTP_OK;
    resp->length = f->size;
    resp->complete_length = f->size;
    if (rq->range.p != NULL && cond_if_range(&rq->cond.if_range, f->etag, f->etag_len, mtime, ctx->now)) {
        switch (range_parse(rq->range.p, rq->range.len, f->size, resp->ranges, &n)) {
        case RANGE_OK:
            resp->status = HTTP_PARTIAL_CONTENT;
            resp->nranges = n;
            break;
        case RANGE_UNSATISFIABLE:
            resp->status = HTTP_RANGE_NOT_SATISFIABLE;
            not_this_file(resp);
            return;
        case RANGE_IGNORE:
            break;
        }
    }
    resp->file = filecache_ref(f);
}

void static_serve(struct static_ctx *ctx, const struct static_request *rq, struct exchange *x,
                  struct response *resp)
{
    char *path_buf = x->path;
    struct fc_entry *e;
    long n;
    int err;

    n = rq->path.len
            ? path_normalize(rq->path.p, rq->path.len, path_buf,
                             sizeof(x->path) - sizeof("index.html"))
            : path_normalize("/", 1, path_buf, sizeof(x->path));
    if (n < 0) {
        resp->status = n == PATH_TOO_LONG ? HTTP_URI_TOO_LONG : HTTP_BAD_REQUEST;
        return;
    }
    if (path_is_hidden(path_buf, (size_t)n)) {
        resp->status = HTTP_NOT_FOUND;
        return;
    }
    err = filecache_get(ctx->fc, path_buf, (size_t)n, ctx->now_ms, &e);
    if (err != 0) {
        resp->status = errno_status(err);
        return;
    }
    if (e->type == FC_DIR) {
        if (path_buf[n - 1] != '/') {
            redirect_to_dir(path_buf, (size_t)n, &rq->query, x->location, resp);
            return;
        }
        memcpy(path_buf + n, "index.html", sizeof("index.html"));
        err = filecache_get(ctx->fc, path_buf, (size_t)n + sizeof("index.html") - 1, ctx->now_ms,
                            &e);
        path_buf[n] = '\0';
        if (err == ENOENT) {
            if (ctx->settings->listing)
                serve_listing(ctx, path_buf, (size_t)n, resp);
            else
                resp->status = HTTP_FORBIDDEN; /* no index and listings are off */
            return;
        }
        if (err != 0) {
            resp->status = errno_status(err);
            return;
        }
        if (e->type != FC_FILE) {
            resp->status = HTTP_FORBIDDEN;
            return;
        }
    }
    serve_file(ctx, rq, e, resp);
}

void static_error_page(void *arg, struct response *resp)
{
    struct static_ctx *ctx = arg;
    char name[16];
    struct fc_entry *e;
    int len;

    if (resp->status < 400 || response_body_fd(resp) >= 0 || ctx->fc == NULL)
        return;
    len = snprintf(name, sizeof(name), "/%d.html", (int)resp->status);
    if (filecache_get(ctx->fc, name, (size_t)len, ctx->now_ms, &e) != 0 || e->type != FC_FILE)
        return;
    resp->file = filecache_ref(e->file);
    resp->length = e->file->size;
    resp->content_type = "text/html; charset=utf-8";
}

static struct str_list header_lines(const char *base, const struct span *lines, int n)
{
    struct str_list l;
    int i;

    for (i = 0; i < n && i < COND_LIST_MAX; i++) {
        l.line[i].p = base + lines[i].off;
        l.line[i].len = lines[i].len;
    }
    l.n = i;
    return l;
}

static struct str header(const struct request *r, const char *base, const struct span *s,
                         unsigned bit)
{
    struct str v = {NULL, 0};

    if (r->present & bit) {
        v.p = base + s->off;
        v.len = s->len;
    }
    return v;
}

int static_handle(void *arg, struct exchange *x, struct response *resp)
{
    const struct request *r = x->req;
    const char *base = x->base;
    struct static_request rq;

    if (r->method == HTTP_OPTIONS) {
        resp->status = HTTP_NO_CONTENT;
        resp->allow = 1;
        return 1;
    }
    if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
        resp->status = HTTP_METHOD_NOT_ALLOWED;
        resp->allow = 1;
        return 1;
    }
    rq.path.p = base + r->path.off;
    rq.path.len = r->path.len;
    rq.query.p = r->has_query ? base + r->query.off : NULL;
    rq.query.len = r->query.len;
    rq.cond.if_match = header_lines(base, r->if_match, r->n_if_match);
    rq.cond.if_none_match = header_lines(base, r->if_none_match, r->n_if_none_match);
    rq.cond.if_modified_since = header(r, base, &r->if_modified_since, HTTP_HDR_IF_MODIFIED_SINCE);
    rq.cond.if_unmodified_since =
        header(r, base, &r->if_unmodified_since, HTTP_HDR_IF_UNMODIFIED_SINCE);
    rq.cond.if_range = header(r, base, &r->if_range, HTTP_HDR_IF_RANGE);
    /* two Range fields are no valid Range at all: the whole file */
    rq.range = (r->present & HTTP_HDR_RANGE_TWICE) ? (struct str){NULL, 0}
                                                  : header(r, base, &r->range, HTTP_HDR_RANGE);
    rq.accept_encoding = header(r, base, &r->accept_encoding, HTTP_HDR_ACCEPT_ENCODING);
    static_serve(arg, &rq, x, resp);
    return 1;
}

struct handler static_handler(struct static_ctx *ctx)
{
    struct handler h = {static_handle, static_error_page, ctx};

    return h;
}

/* Maps a request path to a file beneath the root and decides what of it to send:
 * index files, listings, pre-compressed siblings, validators, conditionals and
 * ranges. Never reads file contents (liveinject.c looks for its script's place): bodies
 * go out through send.c. */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "portico/encoding.h"
#include "portico/listing.h"
#include "portico/liveinject.h"
#include "portico/path.h"
#include "portico/redirect.h"
#include "portico/rules.h"
#include "portico/static.h"
#include "portico/variant.h"

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
    if (ctx->live)
        live_inject(resp, fd, length, NULL);
}

/* Live reload's script goes into a whole HTML page, which is then sent as it is
 * (never compressed); a range is of the file's own bytes. */
static int injects(const struct static_ctx *ctx, const struct static_request *rq,
                   const struct fc_entry *e)
{
    return ctx->live && rq->range.p == NULL && e->content_type != NULL &&
           strncmp(e->content_type, "text/html", 9) == 0;
}

/* The response is an error after all: its body is not this representation
 * (Vary stays: which representation failed still depended on Accept-Encoding). */
static void not_this_file(struct response *resp)
{
    resp->content_type = resp->content_encoding = NULL;
    resp->etag = resp->last_modified = resp->cache_control = NULL;
    resp->accept_ranges = resp->modified_now = 0;
}

/* The representation to send: a pre-compressed sibling when the file has any, else
 * a compressed variant when the file is worth compressing, else the file. */
static struct fc_file *representation(struct static_ctx *ctx, const struct static_request *rq,
                                      struct fc_entry *e, struct response *resp)
{
    unsigned avail = (e->gz ? ENCODING_GZIP : 0) | (e->br ? ENCODING_BR : 0), enc;
    struct fc_file *made;

    if (avail != 0) {
        /* the response depends on Accept-Encoding whichever coding is sent */
        resp->vary_encoding = 1;
        enc = encoding_choose(rq->accept_encoding.line, rq->accept_encoding.n, avail);
        resp->content_encoding = encoding_name(enc);
        return enc == ENCODING_BR ? e->br : enc == ENCODING_GZIP ? e->gz : e->file;
    }
    if (!variant_applies(ctx->variants, e))
        return e->file;
    resp->vary_encoding = 1;
    made = variant_pick(ctx->variants, e, &rq->accept_encoding, rq->head, ctx->now_ms, &enc);
    if (made == NULL)
        return e->file;
    resp->content_encoding = encoding_name(enc);
    return made;
}

/* Picks the representation, then applies preconditions and Range to it. */
static void serve_file(struct static_ctx *ctx, const struct static_request *rq,
                       struct fc_entry *e, struct exchange *x, struct response *resp)
{
    int inject = injects(ctx, rq, e);
    struct fc_file *f = inject ? e->file : representation(ctx, rq, e, resp);
    const char *etag = f->etag;
    size_t etag_len = f->etag_len;
    enum http_status st;
    time_t mtime;
    int n;

    _Static_assert(sizeof(x->etag) >= LIVE_ETAG_MAX, "an injected page's ETag fits");
    if (inject) {
        etag_len = live_etag(f->etag, f->etag_len, x->etag);
        etag = x->etag;
    }
    resp->content_type = e->content_type;
    resp->etag = etag;
    resp->last_modified = f->last_modified;
    resp->cache_control = ctx->settings->cache_control;
    resp->accept_ranges = !inject; /* a range is of the file, not of this page */
    /* RFC 9110 §8.8.2.1: a modification time in the future is replaced by the Date */
    mtime = f->mtime;
    if (mtime > ctx->now && ctx->now > 0) {
        mtime = ctx->now;
        resp->modified_now = 1;
    }

    st = cond_evaluate(&rq->cond, 1, etag, etag_len, mtime);
    if (st != 0) {
        resp->status = st;
        if (st == HTTP_PRECONDITION_FAILED)
            not_this_file(resp);
        return;
    }
    resp->status = HTTP_OK;
    resp->length = f->size;
    resp->complete_length = f->size;
    if (inject)
        live_inject(resp, f->fd, f->size, f);
    /* a variant's date is no strong validator: only its ETag names its bytes */
    if (rq->range.p != NULL && cond_if_range(&rq->cond.if_range, f->etag, f->etag_len, mtime,
                                             f->date_weak ? 0 : ctx->now)) {
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

/* Serves the file at path if there is one: 1, else 0. */
static int try_file(struct static_ctx *ctx, const struct static_request *rq, struct exchange *x,
                    const char *path, size_t len, struct response *resp)
{
    struct fc_entry *e;

    if (filecache_get(ctx->fc, path, len, ctx->now_ms, &e) != 0 || e->type != FC_FILE)
        return 0;
    serve_file(ctx, rq, e, x, resp);
    return 1;
}

/* No '.' in the last segment: a page's route, not a file such as app.js. */
static int no_extension(const char *path, size_t len)
{
    while (len > 0 && path[len - 1] != '/')
        if (path[--len] == '.')
            return 0;
    return 1;
}

/* Accept names text/html (with a q above 0): a browser navigating to a page, not a
 * script fetching data, nor a client that takes anything (a bare star/star). */
static int accepts_html(struct str accept)
{
    const char *p = accept.p, *tok;
    size_t len;

    if (p == NULL)
        return 0;
    while (str_next_token(&p, accept.p + accept.len, &tok, &len)) {
        const char *semi = memchr(tok, ';', len);
        size_t n = semi ? (size_t)(semi - tok) : len;

        while (n > 0 && (tok[n - 1] == ' ' || tok[n - 1] == '\t'))
            n--;
        if (str_ieq(tok, n, "text/html"))
            return semi == NULL || encoding_weight(semi, len - (size_t)(semi - tok)) > 0;
    }
    return 0;
}

static const char vary_accept[] = "Vary: Accept\r\n";

/* The path is missing: a clean URL's page, a fallback rule's file, or the single-page
 * app's, in that order; 1 when one of them answers. */
static int serve_instead(struct static_ctx *ctx, const struct static_request *rq,
                         struct exchange *x, struct response *resp)
{
    const struct settings *site = ctx->settings;
    const struct rule *fallback;
    char *path = x->path;
    size_t n = x->path_len;
    int found;

    if (site->clean_urls && path[n - 1] != '/' && no_extension(path, n)) {
        memcpy(path + n, ".html", sizeof(".html")); /* room for "index.html" is kept */
        found = try_file(ctx, rq, x, path, n + 5, resp);
        path[n] = '\0';
        if (found)
            return 1;
    }
    if (rule_set_match(site->compiled, RULE_FALLBACK, path, n, &fallback, 1) &&
        try_file(ctx, rq, x, fallback->u.fallback.target, fallback->u.fallback.len, resp))
        return 1;
    if (site->spa == NULL || !no_extension(path, n))
        return 0;
    /* the app's page or 404, whichever Accept decides: caches must tell them apart */
    response_append_line(resp, vary_accept, sizeof(vary_accept) - 1);
    if (accepts_html(rq->accept) && try_file(ctx, rq, x, site->spa, strlen(site->spa), resp)) {
        resp->cache_control = "no-cache"; /* the app's shell: revalidated, never stale */
        return 1;
    }
    return 0;
}

void static_serve(struct static_ctx *ctx, const struct static_request *rq, struct exchange *x,
                  struct response *resp)
{
    char *path_buf = x->path;
    size_t n = x->path_len;
    struct fc_entry *e;
    int err;

    if (path_is_hidden(path_buf, n)) {
        resp->status = HTTP_NOT_FOUND;
        return;
    }
    err = filecache_get(ctx->fc, path_buf, n, ctx->now_ms, &e);
    if ((err == ENOENT || err == ENOTDIR) && serve_instead(ctx, rq, x, resp))
        return;
    if (err != 0) {
        resp->status = errno_status(err);
        return;
    }
    if (e->type == FC_DIR) {
        if (path_buf[n - 1] != '/') {
            /* a directory's URL ends in '/', so that its relative links work */
            redirect_to(x, "{path}/", (struct str){path_buf, n}, HTTP_MOVED_PERMANENTLY, resp);
            return;
        }
        memcpy(path_buf + n, "index.html", sizeof("index.html"));
        err = filecache_get(ctx->fc, path_buf, n + sizeof("index.html") - 1, ctx->now_ms, &e);
        path_buf[n] = '\0';
        if (err == ENOENT) {
            if (ctx->settings->listing)
                serve_listing(ctx, path_buf, n, resp);
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
    serve_file(ctx, rq, e, x, resp);
}

void static_error_page(void *arg, struct exchange *x, struct response *resp)
{
    struct static_ctx *ctx = (struct static_ctx *)arg + x->site_no;
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

int static_handle(void *arg, struct exchange *x, struct response *resp)
{
    const struct request *r = x->req;
    struct static_request rq;

    if (exchange_answer_methods(x, resp))
        return 1;
    rq.cond.if_match = exchange_lines(x, r->if_match, r->n_if_match);
    rq.cond.if_none_match = exchange_lines(x, r->if_none_match, r->n_if_none_match);
    rq.cond.if_modified_since = exchange_header(x, &r->if_modified_since, HTTP_HDR_IF_MODIFIED_SINCE);
    rq.cond.if_unmodified_since =
        exchange_header(x, &r->if_unmodified_since, HTTP_HDR_IF_UNMODIFIED_SINCE);
    rq.cond.if_range = exchange_header(x, &r->if_range, HTTP_HDR_IF_RANGE);
    /* two Range fields are no valid Range at all: the whole file */
    rq.range = (r->present & HTTP_HDR_RANGE_TWICE) ? (struct str){NULL, 0}
                                                  : exchange_header(x, &r->range, HTTP_HDR_RANGE);
    rq.accept_encoding = exchange_lines(x, r->accept_encoding, r->n_accept_encoding);
    rq.accept = exchange_header(x, &r->accept, HTTP_HDR_ACCEPT);
    rq.head = r->method == HTTP_HEAD;
    static_serve((struct static_ctx *)arg + x->site_no, &rq, x, resp);
    return 1;
}

struct handler static_handler(struct static_ctx *sites)
{
    struct handler h = {static_handle, static_error_page, sites};

    return h;
}

/* Owns cross-origin reads: a site's allowed origins, parsed once per worker, the
 * preflight answer and the headers every response to an allowed origin carries.
 * Never reads files and never decides anything but a preflight. */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "portico/cors.h"
#include "portico/rules.h"

/* Browsers cache a preflight for at most this long (Chromium caps it at 2 hours). */
#define CORS_MAX_AGE "7200"

/* What scripts may read beyond the safelisted headers: enough for range requests
 * (video players, resumable downloads) and revalidation. */
static const char expose_line[] =
    "Access-Control-Expose-Headers: Content-Range, Content-Length, ETag, Accept-Ranges\r\n";
static const char any_line[] = "Access-Control-Allow-Origin: *\r\n";
static const char vary_line[] = "Vary: Origin\r\n";
static const char preflight_lines[] = "Access-Control-Allow-Methods: GET, HEAD, OPTIONS\r\n"
                                      "Access-Control-Max-Age: " CORS_MAX_AGE "\r\n";

/* Request headers a preflight may ask for: those a static file's reads use. */
static const char *const safe_headers[] = {
    "range", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since",
    "if-range", "accept", "accept-language", "content-language", "cache-control", "pragma",
    "x-requested-with",
};

struct origin {
    const char *name;
    size_t len;
    char *line; /* "Access-Control-Allow-Origin: NAME\r\n" */
    size_t line_len;
};

struct cors_site {
    int any;  /* "*": every origin, and no Vary */
    int auth; /* the site has auth rules: a preflight may ask for Authorization */
    int n;
    struct origin *v;
};

struct cors {
    struct cors_site *sites; /* by site number */
    int nsites;
};

static int add_origin(struct cors_site *cs, const char *name, size_t len)
{
    struct origin *v = realloc(cs->v, (size_t)(cs->n + 1) * sizeof(*v));
    struct origin *o;

    if (v == NULL)
        return -1;
    cs->v = v;
    o = &v[cs->n];
    o->line = malloc(len + 40);
    if (o->line == NULL)
        return -1;
    o->name = name;
    o->len = len;
    o->line_len = (size_t)sprintf(o->line, "Access-Control-Allow-Origin: %.*s\r\n", (int)len,
                                  name);
    cs->n++;
    return 0;
}

/* A site's lines: origins separated by blanks (config.c checked their form). */
static int compile_site(struct cors_site *cs, const struct settings *site)
{
    int i;

    cs->auth = rule_set_count(site->compiled, RULE_AUTH) > 0;
    for (i = 0; i < site->ncors; i++) {
        const char *p = site->cors[i];
        size_t n;

        for (; *(p += strspn(p, " \t")) != '\0'; p += n) {
            n = strcspn(p, " \t");
            if (n == 1 && *p == '*')
                cs->any = 1;
            else if (add_origin(cs, p, n) < 0)
                return -1;
        }
    }
    return 0;
}

struct cors *cors_new(const struct settings *s)
{
    struct cors *c = calloc(1, sizeof(*c));
    int i;

    if (c == NULL || (c->sites = calloc((size_t)s->nsites + 1, sizeof(*c->sites))) == NULL) {
        free(c);
        return NULL;
    }
    c->nsites = s->nsites + 1;
    for (i = 0; i < c->nsites; i++)
        if (compile_site(&c->sites[i], site_settings(s, i)) < 0) {
            cors_free(c);
            return NULL;
        }
    return c;
}

void cors_free(struct cors *c)
{
    int i, j;

    if (c == NULL)
        return;
    for (i = 0; i < c->nsites; i++) {
        for (j = 0; j < c->sites[i].n; j++)
            free(c->sites[i].v[j].line);
        free(c->sites[i].v);
    }
    free(c->sites);
    free(c);
}

/* The Access-Control-Allow-Origin line for origin, or NULL when it is not allowed. */
static const char *allowed(const struct cors_site *cs, struct str origin, size_t *len)
{
    int i;

    if (origin.p == NULL)
        return NULL;
    if (cs->any) {
        *len = sizeof(any_line) - 1;
        return any_line;
    }
    for (i = 0; i < cs->n; i++)
        if (cs->v[i].len == origin.len && strncasecmp(cs->v[i].name, origin.p, origin.len) == 0) {
            *len = cs->v[i].line_len;
            return cs->v[i].line;
        }
    return NULL;
}

static int safe_header(const char *name, size_t len, int auth)
{
    size_t i;

    if (auth && str_ieq(name, len, "authorization"))
        return 1;
    for (i = 0; i < sizeof(safe_headers) / sizeof(safe_headers[0]); i++)
        if (strlen(safe_headers[i]) == len && strncasecmp(name, safe_headers[i], len) == 0)
            return 1;
    return 0;
}

/* "Access-Control-Allow-Headers: " and the requested headers that are safe, built
 * in x's scratch space (a preflight has no Location); 0 when none is. */
static size_t allow_headers(const struct cors_site *cs, struct exchange *x)
{
    static const char name[] = "Access-Control-Allow-Headers: ";
    struct str want = exchange_header(x, &x->req->ac_request_headers,
                                      HTTP_HDR_AC_REQUEST_HEADERS);
    const char *p = want.p, *tok;
    char *out = x->location;
    size_t len, n = sizeof(name) - 1, start = n;

    if (p == NULL)
        return 0;
    memcpy(out, name, n);
    while (str_next_token(&p, want.p + want.len, &tok, &len))
        if (safe_header(tok, len, cs->auth) && n + len + 4 < sizeof(x->location)) {
            if (n > start)
                out[n++] = ',', out[n++] = ' ';
            memcpy(out + n, tok, len);
            n += len;
        }
    if (n == start)
        return 0;
    memcpy(out + n, "\r\n", 2);
    return n + 2;
}

static int preflight(void *ctx, struct exchange *x, struct response *resp)
{
    const struct cors *c = ctx;
    const struct cors_site *cs = &c->sites[x->site_no];
    const struct request *r = x->req;
    size_t len;

    if (r->method != HTTP_OPTIONS || !(r->present & HTTP_HDR_AC_REQUEST_METHOD) ||
        allowed(cs, exchange_header(x, &r->origin, HTTP_HDR_ORIGIN), &len) == NULL)
        return 0; /* not a preflight, or one the browser will refuse: OPTIONS as usual */
    resp->status = HTTP_NO_CONTENT;
    response_add_line(resp, preflight_lines, sizeof(preflight_lines) - 1);
    if ((len = allow_headers(cs, x)) > 0)
        response_add_line(resp, x->location, len);
    return 1;
}

static void amend(void *ctx, struct exchange *x, struct response *resp)
{
    const struct cors *c = ctx;
    const struct cors_site *cs = &c->sites[x->site_no];
    const char *line;
    size_t len;

    if (!cs->any && cs->n == 0)
        return;
    if (!cs->any) /* caches must keep one answer per origin */
        response_append_line(resp, vary_line, sizeof(vary_line) - 1);
    /* with *, the answer is the same whoever asks, and one a cache stored for a request
     * without Origin must serve a script too (Fetch, "CORS protocol and HTTP caches") */
    line = cs->any ? (len = sizeof(any_line) - 1, any_line)
                   : allowed(cs, exchange_header(x, &x->req->origin, HTTP_HDR_ORIGIN), &len);
    if (line != NULL) {
        response_add_line(resp, line, len);
        response_add_line(resp, expose_line, sizeof(expose_line) - 1);
    }
}

struct handler cors_handler(struct cors *c)
{
    struct handler h = {preflight, amend, c};

    return h;
}

/* Redirects: to HTTPS (the https URL from the request's Host, or the address it came
 * to, with 308, which keeps the method), a site's redirect rules, and clean URLs'
 * "/about.html" to "/about". Never serves files. */
#include "build-config.h"

#include <stdio.h>
#include <string.h>

#include "portico/path.h"
#include "portico/redirect.h"
#include "portico/rules.h"
#include "portico/site.h"
#include "portico/transport.h"

static int redirect_https(void *ctx, struct exchange *x, struct response *resp)
{
    const struct settings *s = ctx;
    const struct request *r = x->req;
    const char *base = x->base, *host;
    char local[64], portstr[8] = "";
    size_t hlen;
    int n;

    if (x->secure || r->method == HTTP_OPTIONS || !x->site->redirect_https)
        return 0;
    host = site_request_host(r, base, &hlen);
    if (hlen == 0) { /* HTTP/1.0 without Host: the address the client connected to */
        if (transport_local_addr(x->io, local, sizeof(local)) < 0)
            strcpy(local, "localhost");
        host = local;
        hlen = strlen(local);
    }
    if (s->tls_port != 443)
        snprintf(portstr, sizeof(portstr), ":%d", s->tls_port);
    n = snprintf(x->location, sizeof(x->location), "https://%.*s%s%.*s%s%.*s", (int)hlen, host,
                 portstr, r->path.len ? (int)r->path.len : 1,
                 r->path.len ? base + r->path.off : "/", r->has_query ? "?" : "", (int)r->query.len,
                 base + r->query.off);
    if (n < 0 || (size_t)n >= sizeof(x->location)) {
        resp->status = HTTP_URI_TOO_LONG;
        return 1;
    }
    resp->status = HTTP_PERMANENT_REDIRECT;
    resp->location = x->location;
    return 1;
}

struct handler redirect_https_handler(const struct settings *s)
{
    struct handler h = {redirect_https, NULL, (void *)s};

    return h;
}

/* Location: the target with {path} replaced by star (encoded again), and the
 * request's query unless the target has one. 0, or -1 when it does not fit. */
static int build_location(struct exchange *x, const char *target, struct str star)
{
    char *out = x->location, *end = x->location + sizeof(x->location) - 1;
    const struct request *r = x->req;
    const char *t;

    for (t = target; *t != '\0'; t++) {
        if (strncmp(t, "{path}", 6) == 0) {
            long n = path_encode(star.p, star.len, out, (size_t)(end - out));
            if (n < 0)
                return -1;
            out += n;
            t += 5;
        } else if (out < end) {
            *out++ = *t;
        } else {
            return -1;
        }
    }
    if (r->has_query && strchr(target, '?') == NULL) {
        if ((size_t)(end - out) < 1 + r->query.len)
            return -1;
        *out++ = '?';
        memcpy(out, x->base + r->query.off, r->query.len);
        out += r->query.len;
    }
    *out = '\0';
    return 0;
}

int redirect_to(struct exchange *x, const char *target, struct str star, int status,
                struct response *resp)
{
    if (build_location(x, target, star) < 0) {
        resp->status = HTTP_URI_TOO_LONG;
        return 1;
    }
    resp->status = (enum http_status)status;
    resp->location = x->location;
    return 1;
}

/* clean-urls: "/about.html" is "/about", "/docs/index.html" is "/docs/" */
static int clean_url(struct exchange *x, struct response *resp)
{
    struct str page = {x->path, x->path_len - 5};

    if (page.len >= 6 && memcmp(page.p + page.len - 6, "/index", 6) == 0)
        page.len -= 5; /* the directory, with its slash */
    return redirect_to(x, "{path}", page, HTTP_MOVED_PERMANENTLY, resp);
}

static int redirect_rules(void *ctx, struct exchange *x, struct response *resp)
{
    const struct rule *rule;
    struct str star;
    int method = x->req->method;

    (void)ctx;
    if (rule_set_match(x->site->compiled, RULE_REDIRECT, x->path, x->path_len, &rule, 1) > 0) {
        pattern_match(&rule->pat, x->path, x->path_len, &star);
        return redirect_to(x, rule->u.redirect.target, star, rule->u.redirect.status, resp);
    }
    if (x->site->clean_urls && (method == HTTP_GET || method == HTTP_HEAD) &&
        x->path_len > 5 && memcmp(x->path + x->path_len - 5, ".html", 5) == 0 &&
        x->path[x->path_len - 6] != '/')
        return clean_url(x, resp);
    return 0;
}

struct handler redirect_rules_handler(void)
{
    struct handler h = {redirect_rules, NULL, NULL};

    return h;
}

/* The redirect to HTTPS: builds the https URL from the request's Host (or the
 * address it came to) and answers 308, which keeps the method. Never serves files. */
#include "build-config.h"

#include <stdio.h>
#include <string.h>

#include "portico/redirect.h"
#include "portico/transport.h"

/* The request's host without its port: from an absolute-form target, else Host. */
static const char *request_host(const struct request *r, const char *base, size_t *len)
{
    const char *host = base + r->host.off;
    size_t hlen = r->host.len, i;

    if (r->path.off > r->target.off) { /* absolute-form: the authority is the host */
        host = base + r->target.off;
        hlen = r->path.off - r->target.off;
        for (i = 0; i + 2 < hlen && !(host[i] == '/' && host[i + 1] == '/'); i++)
            ;
        host += i + 2;
        hlen -= i + 2;
    }
    if (hlen > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', hlen);
        hlen = close ? (size_t)(close - host + 1) : hlen;
    } else {
        const char *colon = memchr(host, ':', hlen);
        if (colon != NULL)
            hlen = (size_t)(colon - host);
    }
    *len = hlen;
    return host;
}

static int redirect_https(void *ctx, struct exchange *x, struct response *resp)
{
    const struct settings *s = ctx;
    const struct request *r = x->req;
    const char *base = x->base, *host;
    char local[64], portstr[8] = "";
    size_t hlen;
    int n;

    if (x->secure || r->method == HTTP_OPTIONS)
        return 0;
    host = request_host(r, base, &hlen);
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

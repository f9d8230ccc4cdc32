/* Owns the choice of a site for a request: host names as clients send them (any
 * case, a port, a trailing dot) against each site's names and wildcards; and the
 * sites' description for portico -t. It never changes settings. */
#include "build-config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "portico/path.h"
#include "portico/site.h"
#include "portico/transport.h"

const char *site_request_host(const struct request *r, const char *base, size_t *len)
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

int site_for_host(const struct settings *s, const char *host, size_t len)
{
    size_t best_len = 0;
    int i, j, best = 0;

    if (len > 1 && host[len - 1] == '.') /* "example.com." is example.com */
        len--;
    for (i = 0; i < s->nsites; i++)
        for (j = 0; j < s->sites[i].nnames; j++) {
            const char *name = s->sites[i].names[j];
            size_t n = s->sites[i].name_len[j];

            if (name[0] == '*') {
                /* "*.example.org": any name ending in ".example.org", never example.org */
                if (len > n - 1 && n - 1 > best_len &&
                    strncasecmp(host + len - (n - 1), name + 1, n - 1) == 0) {
                    best = i + 1;
                    best_len = n - 1;
                }
            } else if (n == len && strncasecmp(host, name, len) == 0) {
                return i + 1;
            }
        }
    return best;
}

/* RFC 9110 §15.5.20: the connection's certificate was chosen for the site its TLS
 * server name asked for; a request for another site with a certificate of its own
 * must go over a connection of its own. */
static int misdirected(const struct exchange *x, const struct settings *s)
{
    const char *sni = transport_server_name(x->io);

    return sni != NULL && x->site->ntls_cert > 0 && site_for_host(s, sni, strlen(sni)) != x->site_no;
}

enum http_status site_route(struct exchange *x, const struct settings *s)
{
    const struct request *r = x->req;
    long n;

    if (s->nsites > 0) {
        size_t hlen;
        const char *host = site_request_host(r, x->base, &hlen);
        x->site_no = site_for_host(s, host, hlen);
        x->site = site_settings(s, x->site_no);
    }
    /* room is left to append "index.html" to a directory's path */
    n = r->path.len ? path_normalize(x->base + r->path.off, r->path.len, x->path,
                                     sizeof(x->path) - sizeof("index.html"))
                    : path_normalize("/", 1, x->path, sizeof(x->path));
    if (n < 0)
        return n == PATH_TOO_LONG ? HTTP_URI_TOO_LONG : HTTP_BAD_REQUEST;
    x->path_len = (size_t)n;
    if (x->secure && x->site_no > 0 && misdirected(x, s))
        return HTTP_MISDIRECTED_REQUEST;
    return 0;
}

/* portico -t: what each site is and which rules it has, when there is more than
 * one site or any rule (a plain configuration prints only the OK line). */
void site_report(const struct settings *s)
{
    int i, j, k;

    for (i = 0; i <= s->nsites; i++) {
        const struct settings *site = site_settings(s, i);

        if (s->nsites == 0 && site->rules.n == 0 && !site->spa && !site->clean_urls &&
            !site->ncors)
            return;
        printf("portico: %s", i == 0 ? "default site" : "site");
        for (j = 0; j < site->nnames; j++)
            printf(" %s", site->names[j]);
        if (i > 0)
            printf(" (line %d)", site->site_line);
        printf(": %s%s%s%s%s\n", site->root_abs, site->spa ? ", spa " : "",
               site->spa ? site->spa : "", site->clean_urls ? ", clean-urls" : "",
               site->ncors ? ", cors" : "");
        for (j = 0; j < 2; j++) { /* the inherited rules, then its own */
            const struct rule_list *l = j == 0 ? (i ? &s->rules : NULL) : &site->rules;
            for (k = 0; l != NULL && k < l->n; k++) {
                char where[32] = "command line";
                if (l->v[k]->line)
                    snprintf(where, sizeof(where), "line %d", l->v[k]->line);
                printf("portico:   %s %s (%s%s)\n", rule_kind_name(l->v[k]->kind),
                       l->v[k]->text, where, j == 0 ? ", inherited" : "");
            }
        }
    }
}

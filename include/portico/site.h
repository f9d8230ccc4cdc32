/* Virtual hosts: which site a request is for, from its Host (or the authority of an
 * absolute-form target), and the path it asks for. Pure; sites are made by config.c. */
#ifndef PORTICO_SITE_H
#define PORTICO_SITE_H

#include <stddef.h>

#include "portico/handler.h"
#include "portico/http.h"
#include "portico/settings.h"

/* The request's host without its port: from an absolute-form target,
 * else the Host header; *len 0 when there is none (HTTP/1.0). */
const char *site_request_host(const struct request *r, const char *base, size_t *len);

/* The number of the site for host (as site_request_host gives it; a trailing dot
 * is ignored): an exact name (any case) first, then the longest matching "*.name",
 * else 0, the default site (site_settings in settings.h gives its settings). */
int site_for_host(const struct settings *s, const char *host, size_t len);

/* Routes a request head: x->site by Host, and x->path, the decoded and normalised
 * path that rules and files go by. 0, or the status that answers it (400, 414). */
enum http_status site_route(struct exchange *x, const struct settings *s);

/* portico -t: each site with its root and rules, on stdout (nothing for a plain
 * configuration of one site without rules). */
void site_report(const struct settings *s);

#endif

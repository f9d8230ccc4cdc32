/* Redirects: --redirect-https (plain-HTTP requests answered with 308 to the https
 * URL), a site's redirect rules and clean URLs. */
#ifndef PORTICO_REDIRECT_H
#define PORTICO_REDIRECT_H

#include "portico/handler.h"
#include "portico/settings.h"

/* A handler that answers every request that did not come over TLS (except
 * OPTIONS) to a site with redirect-https with a 308 to the same host and target on
 * the HTTPS port (s: the global settings). */
struct handler redirect_https_handler(const struct settings *s);
/* Makes resp a redirect with status to target, in which {path} stands for star
 * percent-encoded, with the request's query unless target has one of its own (built
 * in x->location; 414 when it does not fit). Returns 1: the request is answered. */
int redirect_to(struct exchange *x, const char *target, struct str star, int status,
                struct response *resp);
/* A handler for the site's redirect rules (the first that matches answers), then
 * with clean-urls a GET or HEAD of "/page.html" with 301 to "/page". */
struct handler redirect_rules_handler(void);

#endif

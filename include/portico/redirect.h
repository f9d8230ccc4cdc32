/* --redirect-https: plain-HTTP requests answered with 308 to the https URL. */
#ifndef PORTICO_REDIRECT_H
#define PORTICO_REDIRECT_H

#include "portico/handler.h"
#include "portico/settings.h"

/* A handler that answers every request that did not come over TLS (except
 * OPTIONS) with a 308 to the same host and target on the HTTPS port. */
struct handler redirect_https_handler(const struct settings *s);

#endif

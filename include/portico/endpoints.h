/* The instance's own endpoints for a load balancer and a monitor: --health and
 * --metrics, answered before any site's handlers, on every host. */
#ifndef PORTICO_ENDPOINTS_H
#define PORTICO_ENDPOINTS_H

#include "portico/handler.h"
#include "portico/metrics.h"
#include "portico/netaddr.h"
#include "portico/settings.h"

struct endpoints;

/* For settings s (health, metrics, metrics-allow, trusted-proxy) and the instance's
 * shared counts m; NULL when out of memory. now: the worker's clock, read per scrape. */
struct endpoints *endpoints_new(const struct settings *s, struct metrics *m, const time_t *now);
struct handler endpoints_handler(struct endpoints *e);

#endif

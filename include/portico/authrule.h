/* Auth rules (`auth PATTERN FILE [REALM]`): HTTP Basic authentication in front of the
 * paths they cover, with a worker's cache of credentials verified a moment ago. */
#ifndef PORTICO_AUTHRULE_H
#define PORTICO_AUTHRULE_H

#include <stdint.h>

#include "portico/handler.h"
#include "portico/settings.h"

struct authrule;

/* Warns once at start-up (and reload) when a site's auth rules take passwords over
 * plain HTTP on an address other hosts can reach. */
void authrule_warn_plain(const struct settings *s);
/* A worker's state for auth rules; now_ms is its clock. NULL when out of memory. */
struct authrule *authrule_new(const uint64_t *now_ms);
void authrule_free(struct authrule *a);
/* Answers 401 with the rule's challenge unless the request's Basic credential is a
 * user of the rule's file; amends every response to a covered path to
 * Cache-Control: private (a header rule may say otherwise). */
struct handler authrule_handler(struct authrule *a);

#endif

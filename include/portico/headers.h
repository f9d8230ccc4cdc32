/* Header rules (`header PATTERN Name: value`, `header PATTERN -Name`) applied to
 * every response plan of a site, error responses included. */
#ifndef PORTICO_HEADERS_H
#define PORTICO_HEADERS_H

#include "portico/handler.h"

/* An amend-only handler; the worker puts it last, so that rules have the last word. */
struct handler headers_handler(void);
/* --no-cache, an amend-only handler put after the rules: Cache-Control: no-store. */
struct handler headers_nocache_handler(void);

#endif

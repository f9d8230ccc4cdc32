/* Finding where live reload's script goes in a page's text: pure functions. */
#ifndef PORTICO_HTMLSPOT_H
#define PORTICO_HTMLSPOT_H

#include <stddef.h>

/* The offset of the last "</body" tag in text (any case, the name ended by '>', '/'
 * or white space, which must be in text), or -1 when there is none. */
long htmlspot_last_body(const char *text, size_t len);
/* The offset of the first "</head" tag, or -1. */
long htmlspot_first_head(const char *text, size_t len);

#endif

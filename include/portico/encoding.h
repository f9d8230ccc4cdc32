/* Content-coding negotiation for pre-compressed files (RFC 9110 §12.5.3). Pure. */
#ifndef PORTICO_ENCODING_H
#define PORTICO_ENCODING_H

#include <stddef.h>

#define ENCODING_IDENTITY 0u
#define ENCODING_GZIP     1u
#define ENCODING_BR       2u

/* Picks the best of the available codings (a mask of ENCODING_GZIP and
 * ENCODING_BR) that the Accept-Encoding value allows with q > 0; the higher q
 * wins, br on a tie. value == NULL means no header: identity. */
unsigned encoding_choose(const char *value, size_t len, unsigned available);

#endif

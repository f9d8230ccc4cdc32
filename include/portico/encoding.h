/* Content negotiation: codings for pre-compressed files (RFC 9110 §12.5.3) and the
 * weights of Accept-style lists. Pure. */
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

/* A qvalue in thousandths ("0.5": 500); -1 when it is none. */
int encoding_parse_q(const char *s, size_t len);
/* The q of an Accept-style element's parameters (";level=1;q=0.5"): 1000 without
 * one, -1 for a bad one. */
int encoding_weight(const char *params, size_t len);

#endif

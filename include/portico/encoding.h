/* Content negotiation: content codings (RFC 9110 §12.5.3) and the weights of
 * Accept-style lists. Pure. */
#ifndef PORTICO_ENCODING_H
#define PORTICO_ENCODING_H

#include <stddef.h>

#include "portico/str.h"

#define ENCODING_IDENTITY 0u
#define ENCODING_GZIP     1u
#define ENCODING_BR       2u
#define ENCODING_ZSTD     4u
#define ENCODING_COUNT    3 /* codings other than identity */

/* The available codings (a mask of ENCODING_*) that the Accept-Encoding field
 * lines allow with q > 0, best first into out: the higher q first, on a tie br,
 * then zstd, then gzip. A coding not named takes the q of "*". Returns how many;
 * 0 also for no line at all (no header: identity). */
int encoding_rank(const struct str *lines, int nlines, unsigned available,
                  unsigned out[ENCODING_COUNT]);
/* The first of encoding_rank, or ENCODING_IDENTITY. */
unsigned encoding_choose(const struct str *lines, int nlines, unsigned available);
/* "br", "zstd", "gzip" (the Content-Encoding token); NULL for identity. */
const char *encoding_name(unsigned coding);
/* The coding's place in the tie order (0 .. ENCODING_COUNT-1), or -1. */
int encoding_index(unsigned coding);

/* A qvalue in thousandths ("0.5": 500); -1 when it is none. */
int encoding_parse_q(const char *s, size_t len);
/* The q of an Accept-style element's parameters (";level=1;q=0.5"): 1000 without
 * one, -1 for a bad one. */
int encoding_weight(const char *params, size_t len);

#endif

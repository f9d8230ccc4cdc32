/* Byte ranges (RFC 9110 §14): parsing a Range header against a length. Pure. */
#ifndef PORTICO_RANGE_H
#define PORTICO_RANGE_H

#include <stddef.h>
#include <stdint.h>

#define RANGE_MAX 16 /* more parts than this are answered with the whole file */

struct byte_range {
    uint64_t first, last; /* inclusive, clipped to the representation */
};

enum range_result {
    RANGE_IGNORE,        /* invalid, not bytes, too many or overlapping: send 200 */
    RANGE_OK,            /* *n satisfiable ranges in out, in the order asked */
    RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes * / length */
};

enum range_result range_parse(const char *value, size_t len, uint64_t size,
                              struct byte_range *out, int *n);

#endif

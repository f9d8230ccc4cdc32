/* Small string helpers shared by the protocol code: pure functions, no I/O. */
#ifndef PORTICO_STR_H
#define PORTICO_STR_H

#include <stddef.h>
#include <stdint.h>

/* Case-insensitive comparison of a span with a NUL-terminated ASCII literal. */
int str_ieq(const char *s, size_t len, const char *lit);
/* 1 when c is an RFC 9110 tchar (the characters of a method or header name). */
int str_is_tchar(unsigned char c);
/* Parses a decimal unsigned number spanning the whole of s; -1 on junk or overflow. */
int str_to_u64(const char *s, size_t len, uint64_t *out);
/* Iterates over the comma-separated elements of a header list value (RFC 9110 §5.6.1),
 * trimming whitespace and skipping empty elements. Returns 0 when there is none left. */
int str_next_token(const char **p, const char *end, const char **tok, size_t *toklen);

#endif

/* Turning a request target's path into a safe relative path beneath the root:
 * percent-decode once, refuse tricks, remove dot segments. Pure; no I/O. */
#ifndef PORTICO_PATH_H
#define PORTICO_PATH_H

#include <stddef.h>

enum path_error {
    PATH_OK = 0,
    PATH_BAD_ESCAPE = -1,    /* '%' not followed by two hex digits */
    PATH_NUL = -2,           /* a decoded NUL byte */
    PATH_ENCODED_SLASH = -3, /* %2F: a separator smuggled inside a segment */
    PATH_ABOVE_ROOT = -4,    /* dot segments climb above "/" */
    PATH_NOT_ABSOLUTE = -5,  /* does not start with "/" */
    PATH_TOO_LONG = -6,
};

/* Decodes and normalises the path part (no query) of length len into out
 * (capacity cap). The result starts with "/", has no "." or ".." segments and no
 * empty segments except a trailing "/" when the input had one. Returns the
 * result's length, or a negative enum path_error. */
long path_normalize(const char *in, size_t len, char *out, size_t cap);

/* 1 when some segment of a normalised path starts with '.', except a leading
 * "/.well-known/" segment (RFC 8615). */
int path_is_hidden(const char *path, size_t len);

/* 1 when a path written in the configuration (spa, fallback) names a file portico
 * would serve: absolute, no query, fragment, blank or control character, and no
 * "." or ".." segment or hidden name (a normalised path has none, so it matches). */
int path_is_served_file(const char *path);

/* Percent-encodes a normalised path for a Location header: unreserved
 * characters, sub-delims, ':' '@' and '/' stay, everything else becomes %XX.
 * Returns the length written, or -1 if it does not fit. */
long path_encode(const char *in, size_t len, char *out, size_t cap);

/* Percent-encodes one file name for use as a relative link: everything except
 * the unreserved characters becomes %XX. Returns the length, or -1. */
long path_encode_name(const char *in, size_t len, char *out, size_t cap);

#endif

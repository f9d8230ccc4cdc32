/* Directory listings: an HTML index of a directory beneath the root. */
#ifndef PORTICO_LISTING_H
#define PORTICO_LISTING_H

#include <stddef.h>
#include <stdint.h>

/* Writes the index of the directory at path (normalised, ending in '/') into an
 * anonymous in-memory file; returns its fd (length in *len) or -1 with errno. */
int listing_build(int rootfd, const char *path, size_t len, uint64_t *out_len);

/* HTML-escapes &, <, >, " and ' into out; returns the length, or -1 if it does not fit. */
long listing_html_escape(const char *in, size_t len, char *out, size_t cap);

#endif

/* File name extension → media type, from a built-in table (never the OS's). */
#ifndef PORTICO_MIME_H
#define PORTICO_MIME_H

#include <stddef.h>

/* The Content-Type for a file name (case-insensitive extension match);
 * "application/octet-stream" when the extension is unknown or missing. */
const char *mime_type(const char *name, size_t len);

#endif

/* File name extension → media type, from a built-in table (never the OS's). */
#ifndef PORTICO_MIME_H
#define PORTICO_MIME_H

#include <stddef.h>

/* The Content-Type for a file name (case-insensitive extension match);
 * "application/octet-stream" when the extension is unknown or missing. */
const char *mime_type(const char *name, size_t len);
/* 1 when a file of that name is worth compressing: text, scripts, JSON, XML, SVG,
 * wasm, icons, fonts other than woff/woff2; never images, media or archives. */
int mime_compressible(const char *name, size_t len);

#endif

/* Serving files beneath the document root: target → path → safely opened file. */
#ifndef PORTICO_STATIC_H
#define PORTICO_STATIC_H

#include <stddef.h>

#include "portico/http.h"
#include "portico/response.h"

/* Opens the root directory; -1 with errno on failure. */
int static_open_root(const char *path);

/* Decides the response for GET or HEAD of a path (still percent-encoded) and an
 * optional query: fills resp (an open file, a redirect, or an error status).
 * Strings it points resp at stay valid until the next call. */
void static_serve(int rootfd, const char *path, size_t len, const char *query, size_t qlen,
                  int has_query, struct response *resp);

/* Opens rel (no leading '/') beneath dirfd without ever resolving outside it:
 * openat2(RESOLVE_BENEATH) where the kernel has it, else a walk that refuses
 * every symbolic link. -1 with errno (EXDEV or ELOOP for an escape). */
int static_open_beneath(int dirfd, const char *rel, int flags);
int static_open_walk(int dirfd, const char *rel, int flags);

#endif

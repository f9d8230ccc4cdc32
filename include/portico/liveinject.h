/* Live reload's script in HTML pages: where it goes, and the ETag of a page with it. */
#ifndef PORTICO_LIVEINJECT_H
#define PORTICO_LIVEINJECT_H

#include <stddef.h>
#include <stdint.h>

#include "portico/cond.h"
#include "portico/filecache.h"
#include "portico/response.h"

/* An injected page's ETag is the file's with this before its closing quote. */
#define LIVE_TAG_SUFFIX "-live"
/* Room for such an ETag. */
#define LIVE_ETAG_MAX (ETAG_MAX + sizeof(LIVE_TAG_SUFFIX))

/* Plans the script into a whole HTML body of length bytes read from fd (or from the
 * file's bytes in memory), before the last </body>, else the first </head>, else at
 * the end; f, when the body is a cached file, keeps where that was. A HEAD's length
 * needs no place: nothing is read for it. */
void live_inject(struct response *resp, int fd, uint64_t length, struct fc_file *f);
/* The ETag of an injected page: the file's, LIVE_TAG_SUFFIX before its closing quote,
 * NUL-terminated into out (LIVE_ETAG_MAX bytes); its length. */
size_t live_etag(const char *etag, size_t len, char *out);

#endif

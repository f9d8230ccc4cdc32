/* Validators and conditional requests (RFC 9110 §8.8, §13): entity tags, the
 * precondition evaluation order and If-Range. Pure functions; no I/O. */
#ifndef PORTICO_COND_H
#define PORTICO_COND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "portico/status.h"
#include "portico/str.h"

#define ETAG_MAX 96 /* a compressed variant's tag adds the coding, level and library */

/* A strong entity tag from a file's version: its size and modification time to the
 * nanosecond, so it is the same in every worker, after a restart, and on every
 * machine holding a copy made with its times (cp -a, rsync -a); no inode, which
 * differs from copy to copy. Returns its length. */
size_t etag_format(char *out, uint64_t size, int64_t mtime_sec, long mtime_nsec);

/* 1 when the list value of If-Match / If-None-Match names etag ("*" names any).
 * Weak comparison ignores the W/ prefixes; strong comparison never matches a weak tag. */
int etag_list_match(const char *list, size_t len, const char *etag, size_t etag_len, int weak);

/* A list header may arrive as several field lines (RFC 9110 §5.3): each is kept. */
#define COND_LIST_MAX 4

struct str_list {
    struct str line[COND_LIST_MAX];
    int n; /* 0: the header is absent */
};

struct cond_headers {
    struct str_list if_match, if_none_match;
    struct str if_modified_since, if_unmodified_since, if_range;
};

/* Evaluates the preconditions in the order of RFC 9110 §13.2.2 for a resource
 * with the given validators. Returns 0 to go on, HTTP_NOT_MODIFIED or
 * HTTP_PRECONDITION_FAILED. */
enum http_status cond_evaluate(const struct cond_headers *h, int get_or_head, const char *etag,
                               size_t etag_len, time_t last_modified);

/* 1 when a Range may be honoured under If-Range (absent, a strongly matching
 * entity tag, or exactly the Last-Modified date when that date is a strong
 * validator: at least a second older than now, RFC 9110 §8.8.2.2); 0 means send
 * the whole file. */
int cond_if_range(const struct str *if_range, const char *etag, size_t etag_len,
                  time_t last_modified, time_t now);

#endif

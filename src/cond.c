/* Entity tags and the precondition evaluation order of RFC 9110 §13.2.2.
 * Pure decisions over header text and validators; never touches a file. */
#include "build-config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "portico/cond.h"
#include "portico/httpdate.h"

size_t etag_format(char *out, uint64_t size, int64_t mtime_sec, long mtime_nsec)
{
    int n = snprintf(out, ETAG_MAX, "\"%" PRIx64 "-%" PRIx64 "%08lx\"", size,
                     (uint64_t)mtime_sec, (unsigned long)mtime_nsec);

    return n > 0 && n < ETAG_MAX ? (size_t)n : 0;
}

/* One entity-tag from a list: [W/]"etagc*"; returns 0 at the end or on junk. */
static int next_tag(const char **p, const char *end, const char **tag, size_t *len, int *weak)
{
    const char *s = *p, *q;

    while (s < end && (*s == ' ' || *s == '\t' || *s == ','))
        s++;
    if (s == end)
        return 0;
    *weak = 0;
    if (end - s >= 2 && s[0] == 'W' && s[1] == '/') {
        *weak = 1;
        s += 2;
    }
    if (s == end || *s != '"')
        return 0;
    q = memchr(s + 1, '"', (size_t)(end - s - 1));
    if (q == NULL)
        return 0;
    *tag = s;
    *len = (size_t)(q + 1 - s);
    *p = q + 1;
    return 1;
}

int etag_list_match(const char *list, size_t len, const char *etag, size_t etag_len, int weak)
{
    const char *p = list, *end = list + len, *tag;
    size_t tlen;
    int tweak;

    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end - p == 1 && *p == '*')
        return 1;
    while (next_tag(&p, end, &tag, &tlen, &tweak)) {
        if (tweak && !weak)
            continue; /* strong comparison: a weak tag never matches */
        if (tlen == etag_len && memcmp(tag, etag, tlen) == 0)
            return 1;
    }
    return 0;
}

static int any_line_matches(const struct str_list *l, const char *etag, size_t etag_len, int weak)
{
    int i;

    for (i = 0; i < l->n; i++)
        if (etag_list_match(l->line[i].p, l->line[i].len, etag, etag_len, weak))
            return 1;
    return 0;
}

static int date_header(const struct str *h, time_t *t)
{
    return h->p != NULL && httpdate_parse(h->p, h->len, t) == 0;
}

enum http_status cond_evaluate(const struct cond_headers *h, int get_or_head, const char *etag,
                               size_t etag_len, time_t last_modified)
{
    time_t t;

    /* 1-2: the client's state-changing preconditions */
    if (h->if_match.n > 0) {
        if (!any_line_matches(&h->if_match, etag, etag_len, 0))
            return HTTP_PRECONDITION_FAILED;
    } else if (date_header(&h->if_unmodified_since, &t) && last_modified > t) {
        return HTTP_PRECONDITION_FAILED;
    }
    /* 3-4: cache validation; If-Modified-Since only without If-None-Match */
    if (h->if_none_match.n > 0) {
        if (any_line_matches(&h->if_none_match, etag, etag_len, 1))
            return get_or_head ? HTTP_NOT_MODIFIED : HTTP_PRECONDITION_FAILED;
    } else if (get_or_head && date_header(&h->if_modified_since, &t) && last_modified <= t) {
        return HTTP_NOT_MODIFIED;
    }
    return 0;
}

int cond_if_range(const struct str *if_range, const char *etag, size_t etag_len,
                  time_t last_modified, time_t now)
{
    const char *p;
    time_t t;

    if (if_range->p == NULL)
        return 1;
    p = if_range->p;
    if (if_range->len >= 2 && (p[0] == '"' || (p[0] == 'W' && p[1] == '/')))
        return p[0] == '"' && if_range->len == etag_len && memcmp(p, etag, etag_len) == 0;
    /* a date must equal Last-Modified exactly (RFC 9110 §13.1.5), and a file
     * changed within the last second could change again unseen in the same second */
    return httpdate_parse(p, if_range->len, &t) == 0 && t == last_modified &&
           last_modified < now;
}

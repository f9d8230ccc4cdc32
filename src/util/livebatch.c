/* Live reload's decisions, apart from any I/O: ignored paths, the debounce of a
 * burst of changes and the text of the one event it becomes. It never reads a clock
 * or a file: the watcher process hands it names and times. */
#include "build-config.h"

#include <fnmatch.h>
#include <limits.h>
#include <string.h>

#include "portico/livebatch.h"

#define EVENT_HEAD "event: update\n" /* "event: reload\n" is as long */
#define DATA       "data: "

enum { PATTERN_NONE, PATTERN_NAME, PATTERN_PATH };

/* What browsers swap in place rather than reload the page for (SPEC: events). */
static const char *const assets[] = {"css",  "png", "jpg", "jpeg", "gif", "webp",
                                     "avif", "svg", "ico", "bmp",  "apng"};

static int ends_with(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);

    return len >= n && memcmp(s + len - n, lit, n) == 0;
}

/* Names that are never part of a site: hidden ones (.git, an editor's .a.swp) and
 * what tools and editors write beside the files (vim probes with "4913"). */
static int builtin_ignored(const char *name, size_t len)
{
    return name[0] == '.' || (len == 12 && memcmp(name, "node_modules", 12) == 0) ||
           name[len - 1] == '~' || ends_with(name, len, ".swp") || ends_with(name, len, ".swx") ||
           (len >= 2 && name[0] == '#' && name[len - 1] == '#') ||
           (len == 4 && memcmp(name, "4913", 4) == 0);
}

/* The pattern as matched, into out: without its leading and trailing '/', and
 * whether it names a component or a path from the root. */
static int pattern_form(const char *pattern, char *out, size_t size)
{
    size_t len = strlen(pattern), start = 0;
    int anchored = 0;

    while (len > 0 && pattern[len - 1] == '/')
        len--;
    for (; start < len && pattern[start] == '/'; start++)
        anchored = 1;
    if (start == len || len - start >= size)
        return PATTERN_NONE;
    memcpy(out, pattern + start, len - start);
    out[len - start] = '\0';
    return anchored || memchr(out, '/', len - start) != NULL ? PATTERN_PATH : PATTERN_NAME;
}

/* Whether a pattern matches the path buf ("/a/b", terminated, writable: each prefix
 * and component is cut out in place and put back). */
static int pattern_matches(const char *pattern, char *buf, size_t len)
{
    char form[PATH_MAX];
    int kind = pattern_form(pattern, form, sizeof(form));
    size_t start = 1, end;

    if (kind == PATTERN_NONE)
        return 0;
    for (end = 1; end <= len; end++) {
        int hit;
        if (end < len && buf[end] != '/')
            continue;
        buf[end] = '\0';
        hit = kind == PATTERN_PATH ? fnmatch(form, buf + 1, FNM_PATHNAME) == 0
                                   : fnmatch(form, buf + start, 0) == 0;
        if (end < len)
            buf[end] = '/';
        if (hit)
            return 1;
        start = end + 1;
    }
    return 0;
}

int livebatch_ignored(const char *path, size_t len, const char *const *patterns, int npatterns)
{
    char buf[PATH_MAX];
    size_t start, end;
    int i;

    if (len >= sizeof(buf))
        return 1;
    memcpy(buf, path, len);
    buf[len] = '\0';
    for (start = 0; start < len; start = end) {
        while (start < len && buf[start] == '/')
            start++;
        for (end = start; end < len && buf[end] != '/'; end++)
            ;
        if (end > start && builtin_ignored(buf + start, end - start))
            return 1;
    }
    for (i = 0; i < npatterns; i++)
        if (patterns[i] != NULL && pattern_matches(patterns[i], buf, len))
            return 1;
    return 0;
}

static int is_asset(const char *path, size_t len)
{
    size_t dot = len, i, n;

    while (dot > 0 && path[dot - 1] != '.' && path[dot - 1] != '/')
        dot--;
    if (dot < 2 || path[dot - 1] != '.' || path[dot - 2] == '/')
        return 0; /* no extension: "/css", "/.png" */
    n = len - dot;
    for (i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
        size_t j;
        if (strlen(assets[i]) != n)
            continue;
        for (j = 0; j < n; j++) {
            char c = path[dot + j];
            if ((c >= 'A' && c <= 'Z' ? c + 32 : c) != assets[i][j])
                break;
        }
        if (j == n)
            return 1;
    }
    return 0;
}

/* A name an event line can carry: an SSE line ends at CR or LF, and a path that
 * is not absolute is not one a page could have loaded. */
static int safe(const char *path, size_t len)
{
    return len > 0 && path[0] == '/' && memchr(path, '\n', len) == NULL &&
           memchr(path, '\r', len) == NULL && memchr(path, '\0', len) == NULL;
}

static int kept(const struct livebatch *b, const char *path, size_t len)
{
    unsigned i;

    for (i = 0; i < b->npaths; i++)
        if (b->len[i] == len && memcmp(b->names + b->off[i], path, len) == 0)
            return 1;
    return 0;
}

void livebatch_add(struct livebatch *b, const char *path, size_t len, int is_dir, uint64_t now_ms)
{
    size_t line = sizeof(DATA) - 1 + len + 1;

    if (b->changes++ == 0) {
        b->first_ms = now_ms;
        b->size = sizeof(EVENT_HEAD) - 1 + 1; /* the blank line that ends the event */
    }
    if (now_ms > b->last_ms || b->changes == 1)
        b->last_ms = now_ms;
    if (!safe(path, len)) {
        b->reload = 1;
        return;
    }
    if (is_dir || !is_asset(path, len))
        b->reload = 1;
    if (kept(b, path, len))
        return;
    if (b->npaths == LIVEBATCH_PATHS || b->size + line > LIVEBATCH_EVENT_MAX) {
        b->reload = 1; /* the update could not name them all */
        return;
    }
    if (b->npaths == 0 && b->changes == 1)
        b->first_kept = 1;
    b->off[b->npaths] = (uint16_t)b->used;
    b->len[b->npaths] = (uint16_t)len;
    memcpy(b->names + b->used, path, len);
    b->used += len;
    b->size += line;
    b->npaths++;
}

long livebatch_wait_ms(const struct livebatch *b, uint64_t now_ms)
{
    uint64_t due;

    if (b->changes == 0)
        return -1;
    due = b->last_ms + LIVEBATCH_QUIET_MS;
    if (due > b->first_ms + LIVEBATCH_LONGEST_MS)
        due = b->first_ms + LIVEBATCH_LONGEST_MS;
    return now_ms >= due ? 0 : (long)(due - now_ms);
}

static size_t put(char *out, size_t at, const char *s, size_t len)
{
    memcpy(out + at, s, len);
    return at + len;
}

size_t livebatch_event(const struct livebatch *b, char *out, size_t size)
{
    const char *first = b->first_kept ? b->names + b->off[0] : "/";
    size_t first_len = b->first_kept ? b->len[0] : 1, n = 0;
    unsigned i;

    if (b->changes == 0)
        return 0;
    if (b->reload) {
        if (sizeof("event: reload\n" DATA) - 1 + first_len + 2 >= size)
            return 0;
        n = put(out, n, "event: reload\n" DATA, sizeof("event: reload\n" DATA) - 1);
        n = put(out, n, first, first_len);
        n = put(out, n, "\n\n", 2);
    } else {
        if (b->size >= size)
            return 0;
        n = put(out, n, EVENT_HEAD, sizeof(EVENT_HEAD) - 1);
        for (i = 0; i < b->npaths; i++) {
            n = put(out, n, DATA, sizeof(DATA) - 1);
            n = put(out, n, b->names + b->off[i], b->len[i]);
            n = put(out, n, "\n", 1);
        }
        n = put(out, n, "\n", 1);
    }
    out[n] = '\0';
    return n;
}

void livebatch_clear(struct livebatch *b)
{
    b->changes = b->npaths = 0;
    b->reload = b->first_kept = 0;
    b->size = b->used = 0;
    b->first_ms = b->last_ms = 0;
}

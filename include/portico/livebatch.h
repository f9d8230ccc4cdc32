/* Live reload's pure parts: which changed paths the watcher ignores, and a batch
 * that gathers one burst of changes, says when it is due (debounce) and turns it into
 * the one server-sent event every open page receives. No I/O, no clock: the caller
 * passes the time. */
#ifndef PORTICO_LIVEBATCH_H
#define PORTICO_LIVEBATCH_H

#include <stddef.h>
#include <stdint.h>

#define LIVEBATCH_PATHS      32   /* an update event names at most this many paths */
#define LIVEBATCH_EVENT_MAX  4096 /* the longest event text: one datagram, one chunk */
#define LIVEBATCH_QUIET_MS   75   /* due this long after the last change of a burst */
#define LIVEBATCH_LONGEST_MS 1000 /* and never later than this after its first */

/* 1 when a change at path (normalised, beneath the root: "/a/b.css", len bytes, not
 * necessarily terminated) is ignored: a component starting with '.', node_modules,
 * an editor's temporary file (*~, *.swp, *.swx, #*#, 4913), or one of the patterns.
 * A pattern without '/' is matched (fnmatch) against each component; one with '/'
 * against the path from the root (leading '/' optional) and each directory above
 * it, '*' never crossing a '/'; a trailing '/' is dropped ("dist/" is "dist").
 * A matched directory thus ignores everything beneath it. A path of PATH_MAX bytes
 * or more is ignored (nothing that long can be served). */
int livebatch_ignored(const char *path, size_t len, const char *const *patterns, int npatterns);

/* One burst of changes. Zero it (or livebatch_clear) before use. */
struct livebatch {
    uint64_t first_ms, last_ms;
    unsigned changes;        /* added since the last clear; 0: empty */
    unsigned npaths;         /* distinct paths kept, in the order of their first change */
    unsigned reload : 1;     /* some change an update cannot carry: a directory, another
                                kind of file, too many paths, an unsafe or too long name */
    unsigned first_kept : 1; /* paths[0] is the first change's (else a reload names "/") */
    size_t size;             /* the length of the update event the kept paths make */
    size_t used;             /* bytes of names[] in use */
    uint16_t off[LIVEBATCH_PATHS], len[LIVEBATCH_PATHS];
    char names[LIVEBATCH_EVENT_MAX];
};

/* Notes a change of path (as for livebatch_ignored; "/" is the root) at now_ms, a
 * monotonic clock in milliseconds; is_dir when it is (or was) a directory. */
void livebatch_add(struct livebatch *b, const char *path, size_t len, int is_dir, uint64_t now_ms);
/* Milliseconds to wait before the batch is due: -1 when it is empty, 0 when due now;
 * due LIVEBATCH_QUIET_MS after the last change, at most LIVEBATCH_LONGEST_MS after
 * the first. */
long livebatch_wait_ms(const struct livebatch *b, uint64_t now_ms);
/* Writes the batch's event, NUL-terminated, into out: "event: update\ndata: /a.css\n
 * data: /b.png\n\n" when every change is a stylesheet or an image (at most
 * LIVEBATCH_PATHS of them), else "event: reload\ndata: FIRST\n\n" where FIRST is the
 * first changed path, or "/" when that name cannot go into an event (a CR or LF
 * would break the stream's framing). Returns its length (at most
 * LIVEBATCH_EVENT_MAX), or 0 when the batch is empty or size is too small
 * (LIVEBATCH_EVENT_MAX + 1 always suffices). */
size_t livebatch_event(const struct livebatch *b, char *out, size_t size);
/* Empties the batch, for the next burst. */
void livebatch_clear(struct livebatch *b);

#endif

/* A byte buffer with a fixed capacity: appends that do not fit set a flag
 * instead of growing, so a response can never allocate on the hot path. */
#ifndef PORTICO_BUF_H
#define PORTICO_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    int overflow; /* an append did not fit; the contents are truncated */
};

void buf_init(struct buf *b, char *mem, size_t cap);

/* buf_append's rare branch: p's bytes that fit fill the room left, and the buffer
 * is marked as overflowed. */
void buf_append_clipped(struct buf *b, const void *p);

/* inline: a response head is a dozen short appends, most of constant strings. The
 * copy that fits keeps the caller's length, so a constant one compiles to a few
 * moves; clipping would make every copy a loop of unknown length. */
static inline void buf_append(struct buf *b, const void *p, size_t n)
{
    if (__builtin_expect(n > b->cap - b->len, 0)) {
        buf_append_clipped(b, p);
        return;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void buf_puts(struct buf *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_put_u64(struct buf *b, uint64_t v);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

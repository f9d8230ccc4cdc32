/* A byte buffer with a fixed capacity: appends that do not fit set a flag
 * instead of growing, so a response can never allocate on the hot path. */
#ifndef PORTICO_BUF_H
#define PORTICO_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
    int overflow; /* an append did not fit; the contents are truncated */
};

void buf_init(struct buf *b, char *mem, size_t cap);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_put_u64(struct buf *b, uint64_t v);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

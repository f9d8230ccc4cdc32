/* Fixed-capacity byte buffers. Owns bounds checks; never allocates, never does I/O. */
#include "build-config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "portico/buf.h"

void buf_init(struct buf *b, char *mem, size_t cap)
{
    b->data = mem;
    b->len = 0;
    b->cap = cap;
    b->overflow = 0;
}

void buf_append_clipped(struct buf *b, const void *p)
{
    b->overflow = 1;
    memcpy(b->data + b->len, p, b->cap - b->len);
    b->len = b->cap;
}

void buf_put_u64(struct buf *b, uint64_t v)
{
    char tmp[20];
    size_t i = sizeof(tmp);

    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    buf_append(b, tmp + i, sizeof(tmp) - i);
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    size_t room = b->cap - b->len;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= room) {
        b->overflow = 1;
        /* vsnprintf kept one byte for its NUL; that byte is not content */
        b->len = room ? b->cap - 1 : b->len;
        return;
    }
    b->len += (size_t)n;
}

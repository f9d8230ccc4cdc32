/* Fixed-size blocks for connections' I/O buffers, kept in a bounded free list so
 * a steady load allocates nothing. It never frees a block that is in use. */
#include "build-config.h"

#include <stdlib.h>

#include "portico/log.h"
#include "portico/pool.h"

int pool_init(struct pool *p, size_t block_size, unsigned max_free)
{
    p->block_size = block_size;
    p->nfree = 0;
    p->max_free = max_free;
    p->warned = 0;
    p->free = calloc(max_free, sizeof(void *));
    return p->free == NULL ? -1 : 0;
}

void *pool_get(struct pool *p)
{
    void *block = p->nfree > 0 ? p->free[--p->nfree] : malloc(p->block_size);

    /* one line an episode: a flood of refused connections must not flood the log too */
    if (block == NULL && !p->warned) {
        log_warnx("out of memory for connection buffers: answering 503 until memory frees");
        p->warned = 1;
    } else if (block != NULL && p->warned) {
        log_warnx("memory for connection buffers is available again");
        p->warned = 0;
    }
    return block;
}

void pool_put(struct pool *p, void *block)
{
    if (p->nfree < p->max_free)
        p->free[p->nfree++] = block;
    else
        free(block); /* keep a bounded pool; a burst's extra blocks go back to libc */
}

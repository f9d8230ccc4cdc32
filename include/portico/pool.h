/* A worker's pool of equal-sized memory blocks: the I/O buffers a connection
 * borrows while a request is in progress and gives back when it goes idle. */
#ifndef PORTICO_POOL_H
#define PORTICO_POOL_H

#include <stddef.h>

struct pool {
    size_t block_size;
    void **free; /* blocks given back, reused first */
    unsigned nfree, max_free;
    int warned;  /* out of memory: said once until a block is had again */
};

/* Keeps up to max_free spare blocks; 0, or -1 when out of memory. */
int pool_init(struct pool *p, size_t block_size, unsigned max_free);
/* A block, or NULL when memory has run out (logged once an episode). */
void *pool_get(struct pool *p);
void pool_put(struct pool *p, void *block);

#endif

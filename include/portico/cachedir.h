/* The compressor's index of its cache directory: each variant file's name, size and
 * last use, found by name through a hash, and the eviction of the least recently
 * used past a size bound. It deletes only variant names (variant_name_valid) and its
 * own stale temporary files. */
#ifndef PORTICO_CACHEDIR_H
#define PORTICO_CACHEDIR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "portico/variant.h"

#define CACHEDIR_TMP_PREFIX ".tmp-portico-"

struct cached {
    char name[VARIANT_NAME_MAX];
    uint64_t size;
    struct timespec used;
    time_t touched; /* when its file's time was last set to the time of a use */
};

struct cachedir {
    int dirfd;
    uint64_t limit, total;
    struct cached *v;
    size_t n, cap;
    uint32_t *slots; /* by name hash: 1 + the index into v, 0 for none */
    size_t nslots;
};

/* What dirfd holds now (temporary files older than tmp_max_age seconds go), then
 * evicted down to limit. */
void cachedir_scan(struct cachedir *c, int dirfd, uint64_t limit, time_t tmp_max_age);
void cachedir_free(struct cachedir *c);
struct cached *cachedir_find(const struct cachedir *c, const char *name);
/* Records a variant file of that size, used at that time (added, or updated). */
void cachedir_note(struct cachedir *c, const char *name, uint64_t size, struct timespec used);
/* Past bound, deletes the least recently used until a tenth of bound is free. */
void cachedir_evict(struct cachedir *c, uint64_t bound);

#endif

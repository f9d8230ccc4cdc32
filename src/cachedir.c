/* The index of the compressor's cache directory: names, sizes and last uses, a hash
 * from name to entry, and least-recently-used eviction. It deletes only names that
 * variant_name_valid accepts, and its own temporary files once stale. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/cachedir.h"
#include "portico/str.h"

/* The slot of name: where it is, or the empty one where it would go. */
static size_t slot_of(const struct cachedir *c, const char *name)
{
    size_t i = str_hash(STR_HASH_INIT, name, strlen(name)) & (c->nslots - 1);

    while (c->slots[i] != 0 && strcmp(c->v[c->slots[i] - 1].name, name) != 0)
        i = (i + 1) & (c->nslots - 1);
    return i;
}

/* A table of twice the entries' room, filled again (after growth or eviction). */
static int rehash(struct cachedir *c)
{
    size_t want = 64, i;
    uint32_t *slots;

    while (want < c->cap * 2)
        want <<= 1;
    if (want != c->nslots) {
        if ((slots = calloc(want, sizeof(*slots))) == NULL)
            return -1;
        free(c->slots);
        c->slots = slots;
        c->nslots = want;
    } else {
        memset(c->slots, 0, c->nslots * sizeof(*c->slots));
    }
    for (i = 0; i < c->n; i++)
        c->slots[slot_of(c, c->v[i].name)] = (uint32_t)i + 1;
    return 0;
}

struct cached *cachedir_find(const struct cachedir *c, const char *name)
{
    size_t i;

    if (c->nslots == 0)
        return NULL;
    i = slot_of(c, name);
    return c->slots[i] ? &c->v[c->slots[i] - 1] : NULL;
}

static struct cached *add(struct cachedir *c, const char *name)
{
    struct cached *e;

    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct cached *v = realloc(c->v, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        c->v = v;
        c->cap = cap;
    }
    if (c->nslots < c->cap * 2 && rehash(c) < 0)
        return NULL;
    e = &c->v[c->n];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    c->slots[slot_of(c, name)] = (uint32_t)++c->n;
    return e;
}

void cachedir_note(struct cachedir *c, const char *name, uint64_t size, struct timespec used)
{
    struct cached *e = cachedir_find(c, name);

    if (e == NULL && (e = add(c, name)) == NULL)
        return; /* not indexed: never evicted, which errs on keeping */
    c->total = c->total - e->size + size;
    e->size = size;
    e->used = used;
    e->touched = used.tv_sec;
}

static int older(const void *a, const void *b)
{
    const struct timespec *x = &((const struct cached *)a)->used;
    const struct timespec *y = &((const struct cached *)b)->used;

    if (x->tv_sec != y->tv_sec)
        return x->tv_sec < y->tv_sec ? -1 : 1;
    return (x->tv_nsec > y->tv_nsec) - (x->tv_nsec < y->tv_nsec);
}

void cachedir_evict(struct cachedir *c, uint64_t bound)
{
    size_t i, kept = 0;

    if (c->total <= bound)
        return;
    qsort(c->v, c->n, sizeof(*c->v), older);
    for (i = 0; i < c->n; i++) {
        if (c->total > bound - bound / 10 && (unlinkat(c->dirfd, c->v[i].name, 0) == 0 ||
                                              errno == ENOENT)) {
            c->total -= c->v[i].size;
            continue;
        }
        c->v[kept++] = c->v[i];
    }
    c->n = kept;
    rehash(c); /* same room: cannot fail */
}

void cachedir_scan(struct cachedir *c, int dirfd, uint64_t limit, time_t tmp_max_age)
{
    int fd = dup(dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de;
    struct stat st;
    time_t now = time(NULL);

    c->dirfd = dirfd;
    c->limit = limit;
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        if (strncmp(de->d_name, CACHEDIR_TMP_PREFIX, sizeof(CACHEDIR_TMP_PREFIX) - 1) == 0) {
            if (now - st.st_mtime > tmp_max_age)
                unlinkat(dirfd, de->d_name, 0);
        } else if (variant_name_valid(de->d_name)) {
            cachedir_note(c, de->d_name, (uint64_t)st.st_size, st.st_mtim);
        }
    }
    closedir(d);
    cachedir_evict(c, limit);
}

void cachedir_free(struct cachedir *c)
{
    free(c->v);
    free(c->slots);
    memset(c, 0, sizeof(*c));
}

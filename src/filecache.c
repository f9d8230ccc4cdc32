/* The per-worker open-file cache: a hash table of normalised paths with an LRU
 * bound. Files are opened only through beneath.c; the cache never decides a
 * status and never reads file contents. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/beneath.h"
#include "portico/filecache.h"
#include "portico/mime.h"

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

struct filecache {
    int rootfd;
    int precompressed;
    unsigned max_entries, nentries;
    uint64_t revalidate_ms;
    unsigned nbuckets;
    struct fc_entry **buckets;
    struct fc_entry *head, *tail; /* most recently used first */
};

struct filecache *filecache_new(int rootfd, unsigned max_entries, uint64_t revalidate_ms,
                                int precompressed)
{
    struct filecache *fc = calloc(1, sizeof(*fc));

    if (fc == NULL)
        return NULL;
    fc->rootfd = rootfd;
    fc->precompressed = precompressed;
    fc->max_entries = max_entries ? max_entries : 1;
    fc->revalidate_ms = revalidate_ms;
    fc->nbuckets = 1;
    while (fc->nbuckets < fc->max_entries * 2)
        fc->nbuckets <<= 1;
    fc->buckets = calloc(fc->nbuckets, sizeof(*fc->buckets));
    if (fc->buckets == NULL) {
        free(fc);
        return NULL;
    }
    return fc;
}

static uint32_t hash_path(const char *s, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

struct fc_file *filecache_ref(struct fc_file *f)
{
    if (f != NULL)
        f->refs++;
    return f;
}

void filecache_release(struct fc_file *f)
{
    if (f != NULL && --f->refs == 0) {
        close(f->fd);
        free(f);
    }
}

static int same_version(const struct fc_file *f, const struct stat *st)
{
    return f->dev == st->st_dev && f->ino == st->st_ino && f->size == (uint64_t)st->st_size &&
           f->mtime == st->st_mtim.tv_sec && f->mtime_nsec == st->st_mtim.tv_nsec;
}

static struct fc_file *file_new(int fd, const struct stat *st)
{
    size_t inline_size = st->st_size <= FC_INLINE_MAX ? (size_t)st->st_size : 0;
    struct fc_file *f = malloc(sizeof(*f) + inline_size);

    if (f == NULL)
        return NULL;
    /* a read that falls short means the file is changing: leave it to sendfile */
    f->data = inline_size > 0 && pread(fd, f->mem, inline_size, 0) == (ssize_t)inline_size
                  ? f->mem
                  : NULL;
    f->fd = fd;
    f->refs = 1; /* the cache's own reference */
    f->head.len = 0;
    f->size = (uint64_t)st->st_size;
    f->mtime = st->st_mtim.tv_sec;
    f->mtime_nsec = st->st_mtim.tv_nsec;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->etag_len = etag_format(f->etag, (uint64_t)st->st_ino, f->size, (int64_t)f->mtime,
                              f->mtime_nsec);
    httpdate_format(f->mtime, f->last_modified);
    return f;
}

/* Opens path beneath the root; fills st. Returns the fd or -1 with errno. */
static int open_stat(struct filecache *fc, const char *path, struct stat *st)
{
    int fd = beneath_open(fc->rootfd, path[0] == '/' ? path + 1 : path, OPEN_FLAGS);

    if (fd < 0)
        return -1;
    if (fstat(fd, st) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Keeps *slot in step with the file at path: same version → nothing opened stays
 * open; new version → replaced; gone or not a regular file → NULL. */
static void refresh_sibling(struct fc_file **slot, struct filecache *fc, const char *path,
                            const struct fc_file *original)
{
    struct stat st;
    int fd = open_stat(fc, path, &st);

    /* a sibling older than the original is stale: serve the original instead */
    if (fd < 0 || !S_ISREG(st.st_mode) || st.st_mtim.tv_sec < original->mtime ||
        (st.st_mtim.tv_sec == original->mtime && st.st_mtim.tv_nsec < original->mtime_nsec)) {
        if (fd >= 0)
            close(fd);
        filecache_release(*slot);
        *slot = NULL;
        return;
    }
    if (*slot != NULL && same_version(*slot, &st)) {
        close(fd);
        return;
    }
    filecache_release(*slot);
    *slot = file_new(fd, &st);
    if (*slot == NULL)
        close(fd);
}

static void refresh_siblings(struct filecache *fc, struct fc_entry *e)
{
    char path[PATH_MAX + 4];

    if (!fc->precompressed || e->type != FC_FILE || e->keylen + 4 > sizeof(path)) {
        filecache_release(e->gz);
        filecache_release(e->br);
        e->gz = e->br = NULL;
        return;
    }
    memcpy(path, e->key, e->keylen);
    memcpy(path + e->keylen, ".gz", 4);
    refresh_sibling(&e->gz, fc, path, e->file);
    memcpy(path + e->keylen, ".br", 4);
    refresh_sibling(&e->br, fc, path, e->file);
}

static void unlink_lru(struct filecache *fc, struct fc_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        fc->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        fc->tail = e->prev;
    e->prev = e->next = NULL;
}

static void push_front(struct filecache *fc, struct fc_entry *e)
{
    e->prev = NULL;
    e->next = fc->head;
    if (fc->head)
        fc->head->prev = e;
    fc->head = e;
    if (fc->tail == NULL)
        fc->tail = e;
}

static void entry_free(struct fc_entry *e)
{
    filecache_release(e->file);
    filecache_release(e->gz);
    filecache_release(e->br);
    free(e);
}

static void remove_entry(struct filecache *fc, struct fc_entry *e)
{
    struct fc_entry **pp = &fc->buckets[e->hash & (fc->nbuckets - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    unlink_lru(fc, e);
    entry_free(e);
    fc->nentries--;
}

/* Re-reads what path is now: 0 with the entry up to date, or an errno value. */
static int refresh(struct filecache *fc, struct fc_entry *e, uint64_t now_ms)
{
    struct stat st;
    int fd = open_stat(fc, e->key, &st);

    if (fd < 0)
        return errno;
    e->checked_ms = now_ms;
    if (S_ISDIR(st.st_mode)) {
        close(fd); /* directories are looked into rarely: no fd kept */
        e->type = FC_DIR;
        filecache_release(e->file);
        e->file = NULL;
    } else if (S_ISREG(st.st_mode)) {
        e->type = FC_FILE;
        if (e->file != NULL && same_version(e->file, &st)) {
            close(fd);
        } else {
            filecache_release(e->file);
            e->file = file_new(fd, &st);
            if (e->file == NULL) {
                close(fd);
                return ENOMEM;
            }
        }
    } else {
        close(fd);
        return EACCES; /* a device, socket or FIFO is never served */
    }
    refresh_siblings(fc, e);
    return 0;
}

int filecache_get(struct filecache *fc, const char *path, size_t len, uint64_t now_ms,
                  struct fc_entry **out)
{
    uint32_t h = hash_path(path, len);
    struct fc_entry *e = fc->buckets[h & (fc->nbuckets - 1)];
    int err;

    while (e != NULL && !(e->hash == h && e->keylen == len && memcmp(e->key, path, len) == 0))
        e = e->hnext;
    if (e != NULL) {
        if (now_ms - e->checked_ms >= fc->revalidate_ms || fc->revalidate_ms == 0) {
            err = refresh(fc, e, now_ms);
            /* out of descriptors or memory says nothing about the file: keep
             * serving what is open rather than fail (and free a descriptor) */
            if (err == EMFILE || err == ENFILE || err == ENOMEM) {
                if (e->type != FC_FILE && e->type != FC_DIR)
                    return err;
            } else if (err != 0) {
                remove_entry(fc, e);
                return err;
            }
        }
        unlink_lru(fc, e);
        push_front(fc, e);
        *out = e;
        return 0;
    }

    e = calloc(1, sizeof(*e) + len + 1);
    if (e == NULL)
        return ENOMEM;
    memcpy(e->key, path, len);
    e->keylen = len;
    e->hash = h;
    err = refresh(fc, e, now_ms);
    if (err != 0) {
        entry_free(e);
        return err;
    }
    e->content_type = mime_type(path, len);
    if (fc->nentries >= fc->max_entries)
        remove_entry(fc, fc->tail);
    e->hnext = fc->buckets[h & (fc->nbuckets - 1)];
    fc->buckets[h & (fc->nbuckets - 1)] = e;
    push_front(fc, e);
    fc->nentries++;
    *out = e;
    return 0;
}

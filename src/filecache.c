/* The per-worker open-file cache: a hash table of normalised paths with an LRU
 * bound, kept fresh by the watcher's notifications. Files are opened only through
 * beneath.c; the cache never decides a status and reads only small files' bytes. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/beneath.h"
#include "portico/filecache.h"
#include "portico/mime.h"
#include "portico/str.h"

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

struct filecache {
    struct watch_client wc; /* wc.w is NULL without a watcher */
    int rootfd;
    int precompressed;
    unsigned max_entries, nentries;
    uint64_t revalidate_ms;
    unsigned nbuckets;
    struct fc_entry **buckets;
    struct fc_entry *head, *tail; /* most recently used first */
    struct fc_entry *stale;       /* noted during a batch of notifications */
};

static void on_name(struct watch_client *c, const char *path, size_t len);
static void on_link(struct watch_client *c, struct watch_link *l, unsigned what);
static void on_batch_end(struct watch_client *c);

struct filecache *filecache_new(int rootfd, unsigned max_entries, uint64_t revalidate_ms,
                                int precompressed, struct watcher *w)
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
    fc->wc.on_name = on_name;
    fc->wc.on_link = on_link;
    fc->wc.on_batch_end = on_batch_end;
    if (w != NULL)
        watch_add_client(w, &fc->wc);
    return fc;
}

static uint32_t hash_path(const char *s, size_t len)
{
    return str_hash(STR_HASH_INIT, s, len);
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
        watch_unlink(&f->link);
        if (f->fd >= 0)
            close(f->fd);
        free(f);
    }
}

static int same_version(const struct fc_file *f, const struct stat *st)
{
    return f->dev == st->st_dev && f->ino == st->st_ino && f->size == (uint64_t)st->st_size &&
           f->mtime == st->st_mtim.tv_sec && f->mtime_nsec == st->st_mtim.tv_nsec &&
           f->ctime.tv_sec == st->st_ctim.tv_sec && f->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

static void set_version(struct fc_file *f, const struct stat *st)
{
    f->size = (uint64_t)st->st_size;
    f->mtime = st->st_mtim.tv_sec;
    f->mtime_nsec = st->st_mtim.tv_nsec;
    f->ctime = st->st_ctim;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->etag_len = etag_format(f->etag, f->size, (int64_t)f->mtime, f->mtime_nsec);
    httpdate_format(f->mtime, f->last_modified);
}

static int watching(const struct filecache *fc)
{
    return fc->wc.w != NULL && watch_fd(fc->wc.w) >= 0;
}

/* A record of the open file fd as it is now. Its inode is watched before its stat
 * data and bytes are read, so whatever changes after that is notified; a small
 * file's bytes are kept only when a stat after the read shows the same version (a
 * file that keeps changing goes out by sendfile, and its next notification drops
 * it). NULL when out of memory. */
struct fc_file *filecache_file_new(size_t room)
{
    struct fc_file *f = calloc(1, sizeof(*f) + room);

    if (f == NULL)
        return NULL;
    f->fd = -1;
    f->refs = 1; /* the cache's own reference */
    f->link.data = f;
    return f;
}

/* A pre-compressed sibling's tag names its coding: with no inode in a tag, FILE.br
 * and FILE.gz of equal size and mtime (a tar's whole seconds) would share one, for two
 * representations of one URL. (Any file named so gets it; it is as unique.) */
static void tag_coding(struct fc_file *f, const char *path, size_t len)
{
    if (len < 3 || f->etag_len < 2 || f->etag_len + 3 >= ETAG_MAX ||
        (memcmp(path + len - 3, ".br", 3) != 0 && memcmp(path + len - 3, ".gz", 3) != 0))
        return;
    f->etag[f->etag_len - 1] = '-';
    memcpy(f->etag + f->etag_len, path + len - 2, 2);
    f->etag[f->etag_len + 2] = '"';
    f->etag[f->etag_len + 3] = '\0';
    f->etag_len += 3;
}

static struct fc_file *file_open(struct filecache *fc, int fd, const struct stat *st0,
                                 const char *path, size_t len)
{
    size_t room = st0->st_size <= FC_INLINE_MAX ? (size_t)st0->st_size : 0;
    struct fc_file *f = filecache_file_new(room);
    struct stat st = *st0, again;
    int tries;

    if (f == NULL)
        return NULL;
    f->fd = fd;
    if (watching(fc) && watch_file(&fc->wc, &f->link, fd, st0, path, len) == 0 &&
        fstat(fd, &st) < 0)
        st = *st0;
    for (tries = 0; tries < 3; tries++) {
        set_version(f, &st);
        if (st.st_size == 0 || (size_t)st.st_size > room ||
            pread(fd, f->mem, (size_t)st.st_size, 0) != st.st_size || fstat(fd, &again) < 0)
            break;
        if (same_version(f, &again)) {
            f->data = f->mem;
            break;
        }
        st = again;
    }
    tag_coding(f, path, len);
    return f;
}

/* Keeps an open version only while its changes are notified (or nothing can be):
 * a version that was not watched may have changed within a clock tick unseen. */
static int keep_version(const struct filecache *fc, const struct fc_file *f, const struct stat *st)
{
    return f != NULL && same_version(f, st) && (f->link.node != NULL || !watching(fc));
}

/* Opens path beneath the root; fills st, and *via_link with 1 when a symlink was
 * followed on the way. Returns the fd or -1 with errno. */
static int open_stat(struct filecache *fc, const char *path, struct stat *st, int *via_link)
{
    const char *rel = path[0] == '/' ? path + 1 : path;
    int fd = beneath_open_direct(fc->rootfd, rel, OPEN_FLAGS);

    *via_link = fd < 0 && errno == ELOOP;
    if (*via_link)
        fd = beneath_open(fc->rootfd, rel, OPEN_FLAGS);
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

void filecache_set_slot(struct fc_entry *e, struct fc_file **slot, struct fc_file *f)
{
    if (*slot != NULL) {
        (*slot)->owner = NULL;
        filecache_release(*slot);
    }
    *slot = f;
    if (f != NULL)
        f->owner = e;
}

static void drop_made(struct fc_entry *e)
{
    int i;

    for (i = 0; i < ENCODING_COUNT; i++)
        filecache_set_slot(e, &e->made.file[i], NULL);
    memset(&e->made, 0, sizeof(e->made));
}

/* Puts in *slot the version of the file open on fd (st its fstat), unless the one
 * there is that version: 0, or ENOMEM with *slot as it was. fd is taken either way. */
static int put_version(struct filecache *fc, struct fc_entry *e, struct fc_file **slot, int fd,
                       const struct stat *st, const char *path, size_t len)
{
    struct fc_file *f;

    if (keep_version(fc, *slot, st)) {
        close(fd);
        return 0;
    }
    f = file_open(fc, fd, st, path, len);
    if (f == NULL) {
        close(fd);
        return ENOMEM;
    }
    filecache_set_slot(e, slot, f);
    if (slot == &e->file)
        drop_made(e); /* made from the version just replaced */
    return 0;
}

/* Keeps *slot in step with the file at path: same version → nothing opened stays
 * open; new version → replaced; gone or not a regular file → NULL. */
static void refresh_sibling(struct filecache *fc, struct fc_entry *e, struct fc_file **slot,
                            const char *path, size_t len)
{
    const struct fc_file *original = e->file;
    struct stat st;
    int via_link;
    int fd = open_stat(fc, path, &st, &via_link);

    /* a sibling older than the original is stale: serve the original instead */
    if (fd < 0 || !S_ISREG(st.st_mode) || st.st_mtim.tv_sec < original->mtime ||
        (st.st_mtim.tv_sec == original->mtime && st.st_mtim.tv_nsec < original->mtime_nsec)) {
        if (fd >= 0)
            close(fd);
        filecache_set_slot(e, slot, NULL);
        return;
    }
    /* a sibling reached through a symlink: its directories are not watched */
    e->sibling_via_link |= via_link;
    if (put_version(fc, e, slot, fd, &st, path, len) != 0)
        filecache_set_slot(e, slot, NULL);
}

static void refresh_siblings(struct filecache *fc, struct fc_entry *e)
{
    char path[PATH_MAX + 4];

    if (!fc->precompressed || e->type != FC_FILE || e->keylen + 4 > sizeof(path)) {
        filecache_set_slot(e, &e->gz, NULL);
        filecache_set_slot(e, &e->br, NULL);
        return;
    }
    e->sibling_via_link = 0;
    memcpy(path, e->key, e->keylen);
    memcpy(path + e->keylen, ".gz", 4);
    refresh_sibling(fc, e, &e->gz, path, e->keylen + 3);
    memcpy(path + e->keylen, ".br", 4);
    refresh_sibling(fc, e, &e->br, path, e->keylen + 3);
    if (e->gz != NULL || e->br != NULL)
        drop_made(e); /* a sibling is served instead */
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
    watch_unlink(&e->dir_link);
    watch_unlink(&e->real_link);
    filecache_set_slot(e, &e->file, NULL);
    filecache_set_slot(e, &e->gz, NULL);
    filecache_set_slot(e, &e->br, NULL);
    drop_made(e);
    free(e);
}

/* Never called while a batch of notifications is noted (fc->stale is empty then). */
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

/* Opens what path is now: 0 with the entry up to date, or an errno value. When the
 * path led through a symlink, *real_len is the length of where it led, in real
 * (-1 when that cannot be told); else 0. */
static int reopen(struct filecache *fc, struct fc_entry *e, char *real, long *real_len)
{
    struct stat st;
    int via_link;
    int fd = open_stat(fc, e->key, &st, &via_link);

    if (fd < 0)
        return errno;
    *real_len = !via_link ? 0 : fc->wc.w ? watch_resolve(fc->wc.w, fd, real, PATH_MAX) : -1;
    if (S_ISDIR(st.st_mode)) {
        close(fd); /* directories are looked into rarely: no fd kept */
        e->type = FC_DIR;
        filecache_set_slot(e, &e->file, NULL);
        drop_made(e);
    } else if (S_ISREG(st.st_mode)) {
        e->type = FC_FILE;
        if (put_version(fc, e, &e->file, fd, &st, e->key, e->keylen) != 0)
            return ENOMEM;
    } else {
        close(fd);
        return EACCES; /* a device, socket or FIFO is never served */
    }
    refresh_siblings(fc, e);
    return 0;
}

/* The length of the directory that holds key: "/a/b" and "/a/b/" are in "/a",
 * "/b" and "/" in the root (""). */
static size_t dir_len(const char *key, size_t len)
{
    if (len > 1 && key[len - 1] == '/')
        len--;
    while (len > 0 && key[len - 1] != '/')
        len--;
    return len > 0 ? len - 1 : 0;
}

/* Links e to the directory that holds its path and, when that path led through a
 * symlink, to the directory where it really led (whose renames the first would not
 * see). Returns 1 when a directory watch was made just now, after e was opened, so
 * that a change in between went unseen. */
static int watch_entry_dirs(struct filecache *fc, struct fc_entry *e, const char *real,
                            long real_len)
{
    int made = 0;

    if (fc->wc.w == NULL)
        return 0;
    if (e->dir_link.node == NULL)
        made = watch_dir(&fc->wc, &e->dir_link, e->key, dir_len(e->key, e->keylen)) == 1;
    e->via_link = real_len != 0;
    if (real_len > 0) {
        /* where the link leads may have moved: link there before letting the old link
         * go, so that a directory still linked keeps its watch instead of making it
         * again (after the open) */
        struct watch_link held = {0};
        size_t dir = dir_len(real, (size_t)real_len);
        int r = watch_dir(&fc->wc, &held, real, dir);
        watch_unlink(&e->real_link);
        if (r >= 0) {
            watch_dir(&fc->wc, &e->real_link, real, dir);
            made |= r == 1;
        }
        watch_unlink(&held);
    } else {
        watch_unlink(&e->real_link);
    }
    return made;
}

static int all_watched(const struct fc_entry *e)
{
    const struct fc_file *files[3] = {e->file, e->gz, e->br};
    int i;

    if (e->dir_link.node == NULL || (e->via_link && e->real_link.node == NULL) ||
        e->sibling_via_link)
        return 0;
    for (i = 0; i < 3; i++)
        if (files[i] != NULL && files[i]->link.node == NULL)
            return 0;
    return 1;
}

/* Brings e up to date with the disk; 0, or an errno value. */
static int refresh(struct filecache *fc, struct fc_entry *e, uint64_t now_ms)
{
    char real[PATH_MAX];
    long real_len = 0;
    int err, pass;

    for (pass = 0; pass < 2; pass++) {
        err = reopen(fc, e, real, &real_len);
        if (err != 0)
            return err;
        if (!watch_entry_dirs(fc, e, real, real_len))
            break; /* the second pass opens again under the directories' new watches */
    }
    e->checked_ms = now_ms;
    e->watched = all_watched(e);
    return 0;
}

static struct fc_entry *find(const struct filecache *fc, const char *path, size_t len,
                             uint32_t h)
{
    struct fc_entry *e = fc->buckets[h & (fc->nbuckets - 1)];

    while (e != NULL && !(e->hash == h && e->keylen == len && memcmp(e->key, path, len) == 0))
        e = e->hnext;
    return e;
}

int filecache_get(struct filecache *fc, const char *path, size_t len, uint64_t now_ms,
                  struct fc_entry **out)
{
    uint32_t h = hash_path(path, len);
    struct fc_entry *e = find(fc, path, len, h);
    int err;

    if (e != NULL) {
        if (!e->watched && now_ms - e->checked_ms >= fc->revalidate_ms) {
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
    e->dir_link.data = e->real_link.data = e;
    err = refresh(fc, e, now_ms);
    if (err != 0) {
        entry_free(e);
        return err;
    }
    e->content_type = mime_type(path, len);
    e->compressible = mime_compressible(path, len);
    if (fc->nentries >= fc->max_entries)
        remove_entry(fc, fc->tail);
    e->hnext = fc->buckets[h & (fc->nbuckets - 1)];
    fc->buckets[h & (fc->nbuckets - 1)] = e;
    push_front(fc, e);
    fc->nentries++;
    *out = e;
    return 0;
}

/* ---- notifications: noted while the watcher reads them, acted on at the end */

static struct filecache *cache_of(struct watch_client *c)
{
    return (struct filecache *)((char *)c - offsetof(struct filecache, wc));
}

static void note_stale(struct filecache *fc, struct fc_entry *e)
{
    if (e == NULL || e->stale)
        return;
    e->stale = 1;
    e->stale_next = fc->stale;
    fc->stale = e;
}

static void on_name(struct watch_client *c, const char *path, size_t len)
{
    struct filecache *fc = cache_of(c);
    char slash[PATH_MAX + 2];

    note_stale(fc, find(fc, path, len, hash_path(path, len)));
    /* the same name looked up as a directory ("/docs/"), and the file whose
     * pre-compressed sibling it is */
    if (len + 1 < sizeof(slash)) {
        memcpy(slash, path, len);
        slash[len] = '/';
        note_stale(fc, find(fc, slash, len + 1, hash_path(slash, len + 1)));
    }
    if (len > 3 && (memcmp(path + len - 3, ".gz", 3) == 0 || memcmp(path + len - 3, ".br", 3) == 0))
        note_stale(fc, find(fc, path, len - 3, hash_path(path, len - 3)));
}

static void on_link(struct watch_client *c, struct watch_link *l, unsigned what)
{
    struct filecache *fc = cache_of(c);
    struct fc_file *f;

    if (what & WATCH_DIR) {
        note_stale(fc, l->data);
        return;
    }
    f = l->data;
    if (what & WATCH_WRITTEN)
        f->changed = 1;
    note_stale(fc, f->owner);
}

static void on_batch_end(struct watch_client *c)
{
    struct filecache *fc = cache_of(c);

    while (fc->stale != NULL) {
        struct fc_entry *e = fc->stale;
        fc->stale = e->stale_next;
        remove_entry(fc, e);
    }
}

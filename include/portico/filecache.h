/* A worker's cache of open files: descriptors, stat data and ready-made validator
 * strings, kept fresh by change notifications (watch.h), so a hot file costs no
 * open or stat and a changed one is served changed at once. Where changes are not
 * notified, an entry is checked on disk again after the revalidation interval. */
#ifndef PORTICO_FILECACHE_H
#define PORTICO_FILECACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "portico/cond.h"
#include "portico/encoding.h"
#include "portico/httpdate.h"
#include "portico/watch.h"

/* Room another module keeps with each file, zeroed when the file is opened:
 * response.c keeps a memo of a whole-file 200's headers there. The cache does
 * not know its layout. */
#define FC_MEMO_SIZE 384

/* One opened file. Responses hold references, so a file replaced or evicted while
 * it is being sent stays open until the last response lets go. */
struct fc_file {
    int fd;
    unsigned refs;
    /* written in place since it was opened: its bytes may no longer be the version
     * its size and validators describe, and a response sending them must stop */
    unsigned changed;
    struct fc_entry *owner;  /* the entry that holds it, or NULL */
    struct watch_link link;  /* to its inode's watch */
    /* a compressed variant made here: its Last-Modified (the file's) does not name
     * these bytes, which a better compression or another build may change, so an
     * If-Range by date never matches it */
    unsigned date_weak;
    uint64_t size;
    time_t mtime;
    long mtime_nsec;
    struct timespec ctime; /* changes with every write: what a variant is named by */
    dev_t dev;
    ino_t ino;
    size_t etag_len;
    char etag[ETAG_MAX];
    char last_modified[HTTPDATE_LEN + 1];
    /* a place in the bytes another module found, plus one (where live reload puts its
     * script); 0: not looked for in this version. The cache does not know its use. */
    uint64_t mark;
    _Alignas(max_align_t) unsigned char memo[FC_MEMO_SIZE];
    /* a small file's bytes, read when it was opened, so that its response is one
     * write of head and body (no sendfile); NULL for larger files, or for one that
     * changed while it was read */
    const char *data;
    char mem[];
};

/* Files up to this size are kept in memory as well as open. */
#define FC_INLINE_MAX 4096

enum fc_type { FC_FILE, FC_DIR };

/* The compressed variants of an entry's file, and what variant.c knows of them:
 * the cache only lets them go with the version they were made from. */
struct fc_made {
    struct fc_file *file[ENCODING_COUNT]; /* by encoding_index, or NULL */
    unsigned final;     /* by index: file[i] is the cache directory's last word */
    unsigned asked;     /* by index: the compressor was asked for it ... */
    uint64_t asked_ms;  /* ... at this time */
    unsigned quick;     /* by index: a quick inline variant was tried */
    uint64_t tried_ms;  /* when the cache directory was last looked in */
    uint64_t used_ms[ENCODING_COUNT]; /* when the compressor last heard of a use */
};

struct fc_entry {
    struct fc_entry *hnext;
    struct fc_entry *prev, *next; /* least recently used at the tail */
    uint32_t hash;
    enum fc_type type;
    uint64_t checked_ms;
    unsigned watched : 1;     /* every change is notified: no interval applies */
    unsigned stale : 1;       /* a notification says so; dropped at the batch's end */
    unsigned via_link : 1;    /* its path led through a symlink */
    unsigned sibling_via_link : 1;
    struct fc_entry *stale_next;
    struct watch_link dir_link;  /* to the directory that holds its path */
    struct watch_link real_link; /* via_link: to the directory where the path led */
    struct fc_file *file;     /* FC_FILE: the identity representation */
    struct fc_file *gz, *br;  /* pre-compressed siblings not older than file, or NULL */
    struct fc_made made;      /* compressed variants of file */
    unsigned compressible : 1; /* a text type: worth compressing */
    const char *content_type;
    size_t keylen;
    char key[];               /* the normalised path */
};

struct filecache;

/* w: the worker's watcher (NULL: none, every entry is revalidated after the interval). */
struct filecache *filecache_new(int rootfd, unsigned max_entries, uint64_t revalidate_ms,
                                int precompressed, struct watcher *w);
/* The entry for a normalised path ("/a/b"), opened or revalidated as needed (an
 * entry whose changes are notified is never revalidated).
 * Returns 0, or an errno value (ENOENT, EACCES, EMFILE, ...). The entry stays
 * valid until the next call or notification; take a reference to keep one of its
 * files. */
int filecache_get(struct filecache *fc, const char *path, size_t len, uint64_t now_ms,
                  struct fc_entry **out);
struct fc_file *filecache_ref(struct fc_file *f);
/* A new file record of e's, refs 1, fd -1, with room for a small file's bytes. */
struct fc_file *filecache_file_new(size_t room);
/* Puts f (or NULL) in one of e's slots (e->made.file[i]), letting go of what was there. */
void filecache_set_slot(struct fc_entry *e, struct fc_file **slot, struct fc_file *f);
void filecache_release(struct fc_file *f);

#endif

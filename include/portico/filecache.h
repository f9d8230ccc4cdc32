/* A worker's cache of open files: descriptors, stat data and ready-made validator
 * strings, revalidated after a short interval, so a hot file costs no open or stat. */
#ifndef PORTICO_FILECACHE_H
#define PORTICO_FILECACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "portico/cond.h"
#include "portico/httpdate.h"

#define FC_HEAD_MAX 320

/* response.c's memo of a whole-file 200's headers from Content-Type to Cache-Control,
 * which are the same for every request: composed once, then copied. The fields
 * before bytes say what they were composed from. */
struct fc_head {
    const char *content_type, *content_encoding, *cache_control;
    unsigned flags;
    unsigned len; /* 0: none yet */
    char bytes[FC_HEAD_MAX];
};

/* One opened file. Responses hold references, so a file replaced or evicted while
 * it is being sent stays open until the last response lets go. */
struct fc_file {
    int fd;
    unsigned refs;
    uint64_t size;
    time_t mtime;
    long mtime_nsec;
    dev_t dev;
    ino_t ino;
    size_t etag_len;
    char etag[ETAG_MAX];
    char last_modified[HTTPDATE_LEN + 1];
    struct fc_head head;
    /* a small file's bytes, read when it was opened, so that its response is one
     * write of head and body (no sendfile); NULL for larger files or a short read */
    const char *data;
    char mem[];
};

/* Files up to this size are kept in memory as well as open. */
#define FC_INLINE_MAX 4096

enum fc_type { FC_FILE, FC_DIR };

struct fc_entry {
    struct fc_entry *hnext;
    struct fc_entry *prev, *next; /* least recently used at the tail */
    uint32_t hash;
    enum fc_type type;
    uint64_t checked_ms;
    struct fc_file *file;     /* FC_FILE: the identity representation */
    struct fc_file *gz, *br;  /* pre-compressed siblings not older than file, or NULL */
    const char *content_type;
    size_t keylen;
    char key[];               /* the normalised path */
};

struct filecache;

struct filecache *filecache_new(int rootfd, unsigned max_entries, uint64_t revalidate_ms,
                                int precompressed);
/* The entry for a normalised path ("/a/b"), opened or revalidated as needed.
 * Returns 0, or an errno value (ENOENT, EACCES, EMFILE, ...). The entry stays
 * valid until the next call; take a reference to keep one of its files. */
int filecache_get(struct filecache *fc, const char *path, size_t len, uint64_t now_ms,
                  struct fc_entry **out);
struct fc_file *filecache_ref(struct fc_file *f);
void filecache_release(struct fc_file *f);

#endif

/* Compressed variants in a worker: which coding a response goes out in, and where
 * its bytes come from — the cache directory the compressor fills, a quick inline
 * compression of a small file meanwhile, or none yet (the file as it is). */
#ifndef PORTICO_VARIANT_H
#define PORTICO_VARIANT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "portico/cond.h"
#include "portico/filecache.h"

/* Files larger than this are never compressed: the compressor holds a whole file and
 * its result in memory, and works one file at a time (brotli 11 takes about 14 s
 * and 70 MB for 16 MiB of JavaScript here; 56 s and 266 MB for 64 MiB). */
#define VARIANT_MAX_FILE (16u << 20)
/* Files up to this size are compressed inline at a fast level while the cache's
 * variant is made: well under a millisecond of CPU (brotli 5: ~0.3 ms for 16 KiB). */
#define VARIANT_INLINE_MAX (16u << 10)
/* How often a worker looks for a variant the compressor is making. */
#define VARIANT_RETRY_MS 100
/* How often at most a worker tells the compressor that it sent a variant (which the
 * cache's least-recently-used order goes by). */
#define VARIANT_USED_EVERY_MS 1000
/* How long before a worker asks the compressor again for a variant still missing. */
#define VARIANT_ASK_AGAIN_MS 30000
/* Room for a cache file's name: dev-ino-size-ctime.nsec.codingLEVEL */
#define VARIANT_NAME_MAX 96

/* A message to the compressor, as one datagram; MAKE carries the file's descriptor. */
enum variant_job_kind { VARIANT_MAKE = 1, VARIANT_USED = 2 };
struct variant_job {
    unsigned char kind, coding, level;
    char name[VARIANT_NAME_MAX]; /* USED: the cache file that was opened */
};

struct variants;

/* dirfd: the cache directory (or -1: inline variants only); jobfd: the socket to the
 * compressor (or -1). NULL when out of memory. */
struct variants *variant_new(int dirfd, int jobfd, uint64_t min_size);
/* 1 when e's response depends on Accept-Encoding: a compressible file of a size
 * the cache compresses. */
int variant_applies(const struct variants *v, const struct fc_entry *e);
/* The representation of e->file to send for this Accept-Encoding: a compressed
 * variant (its coding in *coding), or NULL for the file itself. A HEAD request
 * (head) never starts a compression. */
struct fc_file *variant_pick(struct variants *v, struct fc_entry *e,
                             const struct str_list *accept_encoding, int head, uint64_t now_ms,
                             unsigned *coding);
/* The cache file's name for a file's version in coding at level: by its device,
 * inode, size and change time (which every write moves, and no one can set back),
 * and the library's version, which the bytes and their ETag depend on; its length,
 * or 0. */
size_t variant_name(char *out, dev_t dev, ino_t ino, uint64_t size, struct timespec ctime,
                    unsigned coding, int level);
/* The size bytes of the file open on fd, malloc'd, if they are still the version
 * of that change time when read; else NULL. */
unsigned char *variant_read(int fd, uint64_t size, struct timespec ctime);
/* 1 when name is one variant_name makes: the only names the cache ever deletes. */
int variant_name_valid(const char *name);

#endif

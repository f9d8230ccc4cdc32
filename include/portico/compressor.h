/* The compressor: a low-priority process the master owns, one per generation, that
 * makes the cache's compressed variants (brotli 11, zstd 19, gzip at its best) when
 * workers ask, writes them atomically into the cache directory and keeps that
 * directory under its size bound, least recently used first. */
#ifndef PORTICO_COMPRESSOR_H
#define PORTICO_COMPRESSOR_H

#include <sys/types.h>

#include "portico/settings.h"

/* Its name in ps and /proc/PID/comm, beside the workers' "portico". */
#define COMPRESSOR_NAME "portico-zip"

struct compress_cache {
    int on;        /* compression is on and some coding is built in */
    int dirfd;     /* the cache directory, or -1: small files are compressed inline only */
    int jobs[2];   /* [0] the compressor reads, [1] the workers write; -1 without one */
    char path[4096];
};

/* In the master, before a generation forks: opens (and makes) the cache directory,
 * giving it to uid/gid when the master is root and made it or it is the default
 * one, and makes the workers' socket to the compressor. A directory that cannot be
 * had, that others may write, or a chroot (the directory would be a way out of it)
 * is one warning and no disk cache, not a failure; -1 only when out of resources. */
int compressor_open(const struct settings *s, uid_t uid, gid_t gid, int drop,
                    struct compress_cache *cc);
void compressor_close(struct compress_cache *cc);
/* The compressor process's life, after privileges are dropped, until a signal ends
 * it (the master kills it with its generation; a half-written file is a temporary
 * one, removed at the next start). Returns only on an error. */
int compressor_run(const struct settings *s, const struct compress_cache *cc);

#endif

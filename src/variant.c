/* A worker's side of compression: picks the coding a response goes out in and finds
 * its bytes — a file the compressor left in the cache directory, else a quick
 * compression of a small file kept in memory — and asks the compressor for what is
 * missing. Never compresses more than VARIANT_INLINE_MAX bytes in the event loop. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/codec.h"
#include "portico/encoding.h"
#include "portico/fdpass.h"
#include "portico/variant.h"

struct variants {
    int dirfd, jobfd;
    uint64_t min_size;
    unsigned available; /* the codings this build makes */
};

struct variants *variant_new(int dirfd, int jobfd, uint64_t min_size)
{
    struct variants *v = calloc(1, sizeof(*v));

    if (v == NULL)
        return NULL;
    v->dirfd = dirfd;
    v->jobfd = jobfd;
    v->min_size = min_size;
    v->available = codec_available();
    return v;
}

size_t variant_name(char *out, dev_t dev, ino_t ino, uint64_t size, struct timespec ctime,
                    unsigned coding, int level)
{
    const char *name = encoding_name(coding);
    int n = snprintf(out, VARIANT_NAME_MAX, "%" PRIx64 "-%" PRIx64 "-%" PRIx64 "-%" PRIx64
                     ".%09ld.%s%d-%s", (uint64_t)dev, (uint64_t)ino, size, (uint64_t)ctime.tv_sec,
                     ctime.tv_nsec, name ? name : "none", level, codec_version(coding));

    return name != NULL && n > 0 && n < VARIANT_NAME_MAX ? (size_t)n : 0;
}

int variant_name_valid(const char *s)
{
    unsigned bit;
    size_t n;
    int part;

    for (part = 0; part < 4; part++) {
        n = strspn(s, "0123456789abcdef");
        if (n == 0 || s[n] != (part < 3 ? '-' : '.'))
            return 0;
        s += n + 1;
    }
    if (strspn(s, "0123456789") != 9 || s[9] != '.')
        return 0;
    s += 10;
    for (bit = 1; bit < 1u << ENCODING_COUNT; bit <<= 1) {
        n = strlen(encoding_name(bit));
        if (strncmp(s, encoding_name(bit), n) != 0 || (part = (int)strspn(s + n, "0123456789")) == 0)
            continue;
        s += n + (size_t)part;
        /* the library's version (a name from before it was there is still ours to delete) */
        return s[0] == '\0' ||
               (s[0] == '-' && s[1] != '\0' && strspn(s + 1, "0123456789.") == strlen(s + 1));
    }
    return 0;
}

int variant_applies(const struct variants *v, const struct fc_entry *e)
{
    return v != NULL && e->compressible && v->available != 0 && e->file->size >= v->min_size &&
           e->file->size <= VARIANT_MAX_FILE;
}

/* A strong tag per version, coding, level and library: the file's tag, then
 * "br11-1.0.9". Nothing of it is local to this machine (no inode, no change time),
 * so copies of a tree on several machines running the same build agree. */
static void derive_validators(struct fc_file *made, const struct fc_file *f, unsigned coding,
                              int level)
{
    int n = snprintf(made->etag, sizeof(made->etag), "%.*s-%s%d-%s\"", (int)f->etag_len - 1,
                     f->etag, encoding_name(coding), level, codec_version(coding));

    made->etag_len = n > 0 && (size_t)n < sizeof(made->etag) ? (size_t)n : 0;
    made->date_weak = 1;
    made->mtime = f->mtime;
    made->mtime_nsec = f->mtime_nsec;
    made->ctime = f->ctime;
    memcpy(made->last_modified, f->last_modified, sizeof(made->last_modified));
    made->dev = f->dev;
    made->ino = f->ino;
}

static size_t name_of(const struct fc_file *f, unsigned coding, int level, char *out)
{
    return variant_name(out, f->dev, f->ino, f->size, f->ctime, coding, level);
}

/* Tells the compressor, without waiting: a full queue drops the message, and the
 * next look into the directory asks again. */
static void send_job(struct variants *v, const struct variant_job *job, int fd)
{
    (void)fdpass_send(v->jobfd, job, offsetof(struct variant_job, name) + strlen(job->name) + 1,
                      fd);
}

/* Tells the compressor that e's variant in coding was sent: at most once a second,
 * so that a hot variant is never the least recently used one. */
static void report_use(struct variants *v, struct fc_entry *e, unsigned coding, int i,
                       uint64_t now_ms)
{
    struct variant_job job = {VARIANT_USED, (unsigned char)coding, 0, ""};

    if (v->jobfd < 0 || (e->made.used_ms[i] != 0 && now_ms - e->made.used_ms[i] <
                                                      VARIANT_USED_EVERY_MS))
        return;
    e->made.used_ms[i] = now_ms ? now_ms : 1;
    job.level = (unsigned char)codec_level(coding, 1);
    if (name_of(e->file, coding, job.level, job.name) != 0)
        send_job(v, &job, -1);
}

/* The cache's variant of e->file, if the compressor has made it: 1 when the
 * directory had the last word (a variant, or an empty file: not worth it). */
static int open_final(struct variants *v, struct fc_entry *e, unsigned coding, int i)
{
    const struct fc_file *f = e->file;
    int level = codec_level(coding, 1);
    char name[VARIANT_NAME_MAX];
    struct fc_file *made = NULL;
    struct stat st;
    int fd;

    if (name_of(f, coding, level, name) == 0)
        return 0;
    fd = openat(v->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return 0;
    /* only what the compressor (this user) wrote: not a file planted by another */
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_size > 0 && (made = filecache_file_new(st.st_size <= FC_INLINE_MAX
                                                          ? (size_t)st.st_size : 0)) == NULL)) {
        close(fd);
        return 0;
    }
    if (made != NULL) {
        made->fd = fd;
        made->size = (uint64_t)st.st_size;
        derive_validators(made, f, coding, level);
        if (st.st_size <= FC_INLINE_MAX && pread(fd, made->mem, made->size, 0) == st.st_size)
            made->data = made->mem;
    } else {
        close(fd);
    }
    filecache_set_slot(e, &e->made.file[i], made);
    e->made.final |= 1u << i;
    return 1;
}

unsigned char *variant_read(int fd, uint64_t size, struct timespec ctime)
{
    unsigned char *buf = malloc(size > 0 ? (size_t)size : 1);
    size_t got = 0;
    struct stat st;

    while (buf != NULL && got < size) {
        ssize_t n = pread(fd, buf + got, (size_t)size - got, (off_t)got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (buf == NULL || got != size || fstat(fd, &st) < 0 || (uint64_t)st.st_size != size ||
        st.st_ctim.tv_sec != ctime.tv_sec || st.st_ctim.tv_nsec != ctime.tv_nsec) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* The whole of a small file, if it is still the version f describes. */
static unsigned char *read_small(const struct fc_file *f)
{
    unsigned char *buf;

    if (f->data == NULL)
        return variant_read(f->fd, f->size, f->ctime);
    if ((buf = malloc(f->size)) != NULL)
        memcpy(buf, f->data, f->size);
    return buf;
}

/* Compresses a small file now, at a fast level, into memory and a memfd (ranges and
 * sendfile need a descriptor), until the cache's variant replaces it. */
static void make_quick(struct fc_entry *e, unsigned coding, int i)
{
    const struct fc_file *f = e->file;
    int level = codec_level(coding, 0);
    unsigned char *in = read_small(f), *out = NULL;
    struct fc_file *made = NULL;
    size_t n = 0;
    int fd = -1;

    if (in == NULL || codec_compress(coding, level, in, f->size, &out, &n) != 0 ||
        (made = filecache_file_new(n <= FC_INLINE_MAX ? n : 0)) == NULL ||
        (fd = memfd_create("portico-variant", MFD_CLOEXEC)) < 0 ||
        write(fd, out, n) != (ssize_t)n) {
        if (fd >= 0)
            close(fd);
        free(made);
        goto out;
    }
    made->fd = fd;
    made->size = n;
    derive_validators(made, f, coding, level);
    if (n <= FC_INLINE_MAX) {
        memcpy(made->mem, out, n);
        made->data = made->mem;
    }
    filecache_set_slot(e, &e->made.file[i], made);
out:
    free(in);
    free(out);
}

/* Asks the compressor for e's variant in coding; again after a while, since a full
 * queue may have dropped the message (the compressor makes nothing twice). */
static void ask(struct variants *v, struct fc_entry *e, unsigned coding, int i, uint64_t now_ms)
{
    struct variant_job job = {VARIANT_MAKE, (unsigned char)coding, 0, ""};

    if (v->jobfd < 0 ||
        ((e->made.asked & (1u << i)) && now_ms - e->made.asked_ms < VARIANT_ASK_AGAIN_MS))
        return;
    job.level = (unsigned char)codec_level(coding, 1);
    send_job(v, &job, e->file->fd);
    e->made.asked |= 1u << i;
    e->made.asked_ms = now_ms;
}

/* Brings e's variant in coding along: from the cache directory when it is there
 * (looked for at most every VARIANT_RETRY_MS), else asks the compressor for it and,
 * for a small file, makes a quick one. HEAD does neither. */
static void look_for(struct variants *v, struct fc_entry *e, unsigned coding, int head,
                     uint64_t now_ms)
{
    int i = encoding_index(coding);

    if (e->made.final & (1u << i))
        return;
    if (v->dirfd >= 0) {
        if (e->made.tried_ms == 0 || now_ms - e->made.tried_ms >= VARIANT_RETRY_MS) {
            e->made.tried_ms = now_ms ? now_ms : 1;
            if (open_final(v, e, coding, i))
                return;
        }
        if (!head)
            ask(v, e, coding, i, now_ms);
    }
    if (!head && !(e->made.quick & (1u << i)) && e->file->size <= VARIANT_INLINE_MAX) {
        e->made.quick |= 1u << i; /* once: a file that does not shrink is not tried again */
        make_quick(e, coding, i);
    }
}

struct fc_file *variant_pick(struct variants *v, struct fc_entry *e,
                             const struct str_list *accept_encoding, int head, uint64_t now_ms,
                             unsigned *coding)
{
    unsigned ranked[ENCODING_COUNT];
    int n = encoding_rank(accept_encoding->line, accept_encoding->n, v->available, ranked), i;

    if (n == 0)
        return NULL;
    look_for(v, e, ranked[0], head, now_ms);
    /* the client's first choice, else the best of what is ready */
    for (i = 0; i < n; i++) {
        int k = encoding_index(ranked[i]);
        if (e->made.file[k] != NULL) {
            if (e->made.final & (1u << k))
                report_use(v, e, ranked[i], k, now_ms);
            *coding = ranked[i];
            return e->made.file[k];
        }
    }
    return NULL;
}

/* The compressor process and the cache directory it owns: makes each variant a
 * worker asks for at the codec's best level, writes it under a temporary name and
 * renames it into place, and evicts the least recently used past the size bound.
 * It deletes only names it made (variant names and its own temporary files). */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "portico/cachedir.h"
#include "portico/codec.h"
#include "portico/compressor.h"
#include "portico/encoding.h"
#include "portico/fdpass.h"
#include "portico/log.h"
#include "portico/variant.h"

#define TMP_MAX_AGE 600 /* seconds: older temporary files were left by a stopped compressor */
#define TOUCH_EVERY 60  /* seconds between updates of a used file's time on disk */
#define FULL_PAUSE  60  /* seconds without making anything after the disk was full */
#define TMP_NAME_MAX 64

struct compressor {
    struct cachedir dir;
    const char *path;
    unsigned warned; /* a warning given once: by kind */
    unsigned tmp_seq;
    time_t full_until; /* the disk was full: nothing is made before then */
};

enum { WARN_WRITE = 1, WARN_FULL = 2 };

/* ---- the master's part: the directory and the socket */

static int default_path(char *out, size_t len)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;

    if (geteuid() == 0)
        n = snprintf(out, len, "/var/cache/portico");
    else if (xdg != NULL && xdg[0] == '/')
        n = snprintf(out, len, "%s/portico", xdg);
    else if (home != NULL && home[0] == '/')
        n = snprintf(out, len, "%s/.cache/portico", home);
    else
        return -1;
    return n > 0 && (size_t)n < len ? 0 : -1;
}

/* mkdir -p; 1 when the last directory was made here, 0 when it was there, -1. */
static int make_dirs(char *path)
{
    char *p;

    for (p = path + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    if (mkdir(path, 0755) == 0)
        return 1;
    return errno == EEXIST ? 0 : -1;
}

/* Whoever may write the directory chooses the bytes sent for every file: only the
 * workers' user (or root), and no one else. */
static int trusted(struct compress_cache *cc, uid_t uid)
{
    struct stat st;

    if (fstat(cc->dirfd, &st) == 0 && (st.st_uid == uid || st.st_uid == 0) &&
        !(st.st_mode & (S_IWGRP | S_IWOTH)))
        return 0;
    log_warnx("compression cache %s: not used, since others may write there (only small files "
              "are compressed; make it the workers' user's, mode 755, or set "
              "--compress-cache DIR)", cc->path);
    close(cc->dirfd);
    cc->dirfd = -1;
    return -1;
}

static int open_dir(const struct settings *s, uid_t uid, gid_t gid, int drop,
                    struct compress_cache *cc)
{
    int made;

    if (s->compress_cache != NULL)
        snprintf(cc->path, sizeof(cc->path), "%s", s->compress_cache);
    else if (default_path(cc->path, sizeof(cc->path)) < 0) {
        log_warnx("no compression cache: no HOME to put it in; set --compress-cache DIR");
        return -1;
    }
    if ((made = make_dirs(cc->path)) < 0 ||
        (cc->dirfd = open(cc->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        log_warn("compression cache %s (only small files are compressed; set "
                 "--compress-cache DIR)", cc->path);
        return -1;
    }
    /* the compressor runs as the workers' user: the directory must be theirs */
    if (drop && (made || s->compress_cache == NULL) && fchown(cc->dirfd, uid, gid) < 0)
        log_warn("compression cache %s: chown", cc->path);
    return trusted(cc, drop ? uid : geteuid());
}

int compressor_open(const struct settings *s, uid_t uid, gid_t gid, int drop,
                    struct compress_cache *cc)
{
    cc->on = s->compress && codec_available() != 0;
    cc->dirfd = cc->jobs[0] = cc->jobs[1] = -1;
    if (!cc->on)
        return 0;
    if (s->chroot) {
        /* a directory outside the chroot, open in the workers, would be a way out */
        log_warnx("--chroot: compressed files are not kept on disk; only small files are "
                  "compressed (--compress off silences this)");
        return 0;
    }
    if (open_dir(s, uid, gid, drop, cc) < 0)
        return 0; /* inline compression of small files still works */
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, cc->jobs) < 0) {
        log_error("socketpair");
        compressor_close(cc);
        return -1;
    }
    return 0;
}

void compressor_close(struct compress_cache *cc)
{
    int i;

    if (cc->dirfd >= 0)
        close(cc->dirfd);
    for (i = 0; i < 2; i++)
        if (cc->jobs[i] >= 0)
            close(cc->jobs[i]);
    cc->dirfd = cc->jobs[0] = cc->jobs[1] = -1;
}

/* ---- making a variant */

static void warn_once(struct compressor *c, unsigned kind, int err)
{
    if (c->warned & kind)
        return;
    c->warned |= kind;
    log_warnx("compression cache %s: %s; files over %u KiB are sent uncompressed (%s)", c->path,
              strerror(err), VARIANT_INLINE_MAX >> 10,
              kind == WARN_FULL ? "free some space, or lower --compress-cache-size"
              : err == ENOENT   ? "it was removed: reload portico (SIGHUP) to make it again"
                                : "let the workers' user write there, or set --compress-cache DIR");
}

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Compresses in into the temporary file, on disk before it gets its name (a crash
 * must not leave an empty file under it, which would say "not worth it"). The
 * file stays empty when the result would not shrink the file, or would not fit a
 * half of the cache. Returns its length, or -1. */
static long fill(struct compressor *c, int tmp, unsigned coding, const unsigned char *in,
                 size_t len)
{
    unsigned char *out = NULL;
    size_t n = 0;
    int r = codec_compress(coding, codec_level(coding, 1), in, len, &out, &n);

    if (r < 0)
        return -1; /* out of memory: nothing says the file is not worth it */
    if (r > 0 || n > c->dir.limit / 2)
        n = 0;
    r = write_all(tmp, out, n) < 0 || fdatasync(tmp) < 0 ? -1 : 0;
    free(out);
    if (r < 0 && (errno == ENOSPC || errno == EDQUOT)) {
        warn_once(c, WARN_FULL, errno);
        c->full_until = time(NULL) + FULL_PAUSE; /* no retry storm on a full disk */
    } else if (r < 0) {
        warn_once(c, WARN_WRITE, errno);
    }
    return r < 0 ? -1 : (long)n;
}

/* The variant name for the file open on fd, if it is worth making now. */
static int wanted(struct compressor *c, unsigned coding, int fd, struct stat *st, char *name)
{
    struct stat there;

    return fstat(fd, st) == 0 && S_ISREG(st->st_mode) &&
           (uint64_t)st->st_size <= VARIANT_MAX_FILE && (codec_available() & coding) &&
           time(NULL) >= c->full_until &&
           variant_name(name, st->st_dev, st->st_ino, (uint64_t)st->st_size, st->st_ctim,
                        coding, codec_level(coding, 1)) != 0 &&
           /* not made already, by this compressor or another instance's */
           fstatat(c->dir.dirfd, name, &there, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT;
}

/* A new temporary file in the directory, its name put in tmp: the descriptor, or -1
 * after the one warning of its kind. */
static int open_tmp(struct compressor *c, char tmp[TMP_NAME_MAX])
{
    int fd;

    snprintf(tmp, TMP_NAME_MAX, CACHEDIR_TMP_PREFIX "%ld-%u", (long)getpid(), c->tmp_seq++);
    fd = openat(c->dir.dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        warn_once(c, errno == ENOSPC ? WARN_FULL : WARN_WRITE, errno);
    return fd;
}

/* The temporary file goes first: without room or rights, nothing is compressed. */
static void make_variant(struct compressor *c, unsigned coding, int fd)
{
    char name[VARIANT_NAME_MAX], tmp[TMP_NAME_MAX];
    unsigned char *in;
    struct stat st;
    long n;
    int out;

    if (!wanted(c, coding, fd, &st, name) || (out = open_tmp(c, tmp)) < 0)
        return;
    in = variant_read(fd, (uint64_t)st.st_size, st.st_ctim);
    n = in != NULL ? fill(c, out, coding, in, (size_t)st.st_size) : -1;
    if (n >= 0) /* room first, never for this one: the directory stays within its bound */
        cachedir_evict(&c->dir, c->dir.limit - (uint64_t)n);
    if (n < 0 || renameat(c->dir.dirfd, tmp, c->dir.dirfd, name) < 0) {
        unlinkat(c->dir.dirfd, tmp, 0);
    } else {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        cachedir_note(&c->dir, name, (uint64_t)n, now);
    }
    free(in);
    close(out);
}

/* Says at once, not at the first request, when the directory cannot be written. */
static void probe(struct compressor *c)
{
    char tmp[TMP_NAME_MAX];
    int fd = open_tmp(c, tmp);

    if (fd >= 0) {
        close(fd);
        unlinkat(c->dir.dirfd, tmp, 0);
    }
}

/* A worker sent the variant (reported at most once a second per worker): it is
 * recently used, here at once and, within a minute, in the file's time for the
 * next start. */
static void used(struct compressor *c, const char *name)
{
    struct cached *e;
    struct timespec now;

    if (!variant_name_valid(name) || (e = cachedir_find(&c->dir, name)) == NULL)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    e->used = now;
    if (now.tv_sec - e->touched >= TOUCH_EVERY) {
        e->touched = now.tv_sec;
        utimensat(c->dir.dirfd, name, NULL, AT_SYMLINK_NOFOLLOW);
    }
}

/* One datagram: the job, and for VARIANT_MAKE the file's descriptor. Returns 1
 * after a message (or a signal), -1 on error, 0 for an empty datagram, which no one
 * sends: a datagram socket never ends, and the master's signal stops this process. */
static int next_job(int sock, struct variant_job *job, int *fd)
{
    ssize_t n;

    memset(job, 0, sizeof(*job));
    n = fdpass_recv(sock, job, sizeof(*job) - 1, fd, 0); /* the name stays terminated */
    if (n <= 0)
        return n == 0 ? 0 : errno == EINTR ? 1 : -1;
    return 1;
}

static void on_quit(int sig)
{
    (void)sig;
    _exit(0);
}

/* Below every worker: nice 19 and the lowest best-effort disk priority (not
 * SCHED_IDLE, nor the idle I/O class: on a machine that is never idle those never
 * run, and a variant would never be made); and its signals. */
static void become_compressor(void)
{
    struct sigaction sa;

    (void)setpriority(PRIO_PROCESS, 0, 19);
#ifdef SYS_ioprio_set
    (void)syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0,
                  2 << 13 | 7 /* IOPRIO_CLASS_BE, its lowest level */);
#endif
    /* SIGTERM and SIGINT end it as they are; SIGQUIT (a drain, to a worker) too,
     * without a core dump; reloads and logs are the master's business */
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_quit;
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
}

int compressor_run(const struct settings *s, const struct compress_cache *cc)
{
    struct compressor c = {.path = cc->path};
    struct variant_job job;
    sigset_t none;
    int fd, r;

    log_set_ident(1);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    become_compressor();
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    cachedir_scan(&c.dir, cc->dirfd, s->compress_cache_size, TMP_MAX_AGE);
    probe(&c);
    while ((r = next_job(cc->jobs[0], &job, &fd)) != 0) {
        if (r < 0) {
            log_error("compressor: recvmsg");
            return 1;
        }
        if (job.kind == VARIANT_MAKE && fd >= 0)
            make_variant(&c, job.coding, fd);
        else if (job.kind == VARIANT_USED)
            used(&c, job.name);
        if (fd >= 0)
            close(fd);
    }
    return 0;
}

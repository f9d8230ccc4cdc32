/* The watcher process of live reload: it watches the default site's tree with one
 * inotify instance (or walks it every second where inotify is refused), debounces
 * the changes and sends each batch's event to every worker. It only reads the tree:
 * it never opens a file, never follows a symlink, never writes anything but datagrams. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "portico/beneath.h"
#include "portico/devwatch.h"
#include "portico/livebatch.h"
#include "portico/log.h"
#include "portico/str.h"

/* A directory's entries created, written, removed, renamed or chmod-ed, and the
 * directory itself removed or moved. Never IN_OPEN or IN_ACCESS: the workers read
 * these files all the time. */
#define MASK                                                                                       \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY |            \
     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
#define DEPTH_MAX     64
#define ENTRIES_MAX   100000 /* a walk's bound: the snapshot's memory, a second's work */
#define POLL_EVERY_MS 1000

/* A watched directory (key: its wd), or an entry of the polling snapshot (key: its path's
 * hash, with what a change would alter). Paths are "" for the root, else "/a/b". */
struct node {
    struct node *next;
    uint32_t key;
    unsigned seen; /* the walk that last found it */
    mode_t mode;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    size_t len;
    char path[];
};

struct table {
    struct node **slot;
    unsigned mask, n;
};

enum { FALLBACK_NONE, FALLBACK_INSTANCES, FALLBACK_WATCHES, FALLBACK_NO_PATH, FALLBACK_ERROR };

struct devwatch {
    const struct devwatch_start *ds;
    int ifd;      /* inotify, or -1 while polling */
    int via_proc; /* the kernel gets /proc/self/fd paths; else paths from the working
                     directory, which is the root (a chroot without /proc) */
    int polling;
    int fallback; /* why inotify must give way to polling, once the walk is over */
    int fallback_err;
    int rescan; /* events were lost: watch everything anew */
    unsigned walks;
    unsigned warned_bound : 1;
    uint64_t next_walk_ms;
    struct table t; /* directories by wd, or the snapshot by path */
    struct livebatch batch;
    char event[LIVEBATCH_EVENT_MAX + 1];
};

/* A walk of the tree, one directory opened beneath its parent at a time. */
struct walk {
    struct devwatch *dw;
    /* called for each entry not ignored (wk->path), with the directory open on fd (-1
     * for the rest); 1 to walk into the directory */
    int (*visit)(struct walk *wk, int fd, const struct stat *st);
    int report; /* what is found is a change (the contents of a new directory) */
    int bounded;
    int stop;
    unsigned entries;
    size_t len;
    char path[PATH_MAX];
};

static volatile sig_atomic_t quit;

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the table: chained, grown as it fills */

static struct node **table_find(const struct table *t, uint32_t key, const char *path, size_t len)
{
    struct node **pp;

    if (t->slot == NULL)
        return NULL;
    for (pp = &t->slot[key & t->mask]; *pp != NULL; pp = &(*pp)->next)
        if ((*pp)->key == key &&
            (path == NULL || ((*pp)->len == len && memcmp((*pp)->path, path, len) == 0)))
            return pp;
    return NULL;
}

static void table_grow(struct table *t)
{
    unsigned size = t->slot == NULL ? 64 : (t->mask + 1) * 2, i;
    struct node **slot = calloc(size, sizeof(*slot));

    if (slot == NULL)
        return; /* the chains grow longer instead */
    for (i = 0; t->slot != NULL && i <= t->mask; i++) {
        struct node *n, *next;
        for (n = t->slot[i]; n != NULL; n = next) {
            next = n->next;
            n->next = slot[n->key & (size - 1)];
            slot[n->key & (size - 1)] = n;
        }
    }
    free(t->slot);
    t->slot = slot;
    t->mask = size - 1;
}

static struct node *table_add(struct table *t, uint32_t key, const char *path, size_t len)
{
    struct node *n;

    if (t->slot == NULL || t->n > t->mask)
        table_grow(t);
    if (t->slot == NULL || (n = calloc(1, sizeof(*n) + len + 1)) == NULL)
        return NULL;
    n->key = key;
    n->len = len;
    memcpy(n->path, path, len);
    n->next = t->slot[key & t->mask];
    t->slot[key & t->mask] = n;
    t->n++;
    return n;
}

static void table_remove(struct table *t, struct node **pp)
{
    struct node *n = *pp;

    *pp = n->next;
    free(n);
    t->n--;
}

static void table_clear(struct table *t)
{
    unsigned i;

    for (i = 0; t->slot != NULL && i <= t->mask; i++)
        while (t->slot[i] != NULL)
            table_remove(t, &t->slot[i]);
    free(t->slot);
    t->slot = NULL;
    t->mask = t->n = 0;
}

/* ---- changes and the event */

static void change(struct devwatch *dw, const char *path, size_t len, int is_dir)
{
    if (len == 0)
        livebatch_add(&dw->batch, "/", 1, 1, now_ms());
    else
        livebatch_add(&dw->batch, path, len, is_dir, now_ms());
}

/* One datagram to each worker. A full socket (a worker busy) or a gone peer (one
 * being respawned) misses this event; the next reaches it. */
static void send_batch(struct devwatch *dw)
{
    size_t n = livebatch_event(&dw->batch, dw->event, sizeof(dw->event));
    int i;

    for (i = 0; i < dw->ds->nout && n > 0; i++)
        if (dw->ds->out[i] >= 0)
            (void)send(dw->ds->out[i], dw->event, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    livebatch_clear(&dw->batch);
}

/* ---- the walk */

static void walk_dir(struct walk *wk, int fd, int depth);

static void walk_entry(struct walk *wk, int parent, const char *name, int depth)
{
    struct stat st;
    int fd = -1;

    if (wk->dw->polling && ++wk->entries > ENTRIES_MAX) {
        wk->bounded = wk->stop = 1;
        return;
    }
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return; /* gone since readdir */
    if (S_ISDIR(st.st_mode)) {
        /* the directory itself, never a symlink put in its place since */
        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0 && fstat(fd, &st) < 0) {
            close(fd);
            return;
        }
    }
    if (wk->visit(wk, fd, &st) > 0 && fd >= 0) {
        if (depth < DEPTH_MAX) {
            walk_dir(wk, fd, depth + 1); /* which closes fd */
            return;
        }
        wk->bounded = 1;
    }
    if (fd >= 0)
        close(fd);
}

/* Walks the directory open on fd (whose path is wk->path), and closes fd. */
static void walk_dir(struct walk *wk, int fd, int depth)
{
    DIR *d;
    struct dirent *e;

    if (depth > DEPTH_MAX || (d = fdopendir(fd)) == NULL) {
        close(fd);
        return;
    }
    while (!wk->stop && (e = readdir(d)) != NULL) {
        size_t len = wk->len, n = strlen(e->d_name);
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            len + 1 + n >= sizeof(wk->path))
            continue; /* too long a path to be served */
        wk->path[len] = '/';
        memcpy(wk->path + len + 1, e->d_name, n + 1);
        wk->len = len + 1 + n;
        if (!livebatch_ignored(wk->path, wk->len, wk->dw->ds->ignore, wk->dw->ds->nignore))
            walk_entry(wk, dirfd(d), e->d_name, depth);
        wk->len = len;
        wk->path[len] = '\0';
    }
    closedir(d);
}

/* Walks from the directory at path ("" the root), itself visited first. */
static void walk_from(struct walk *wk, const char *path, size_t len)
{
    struct stat st;
    size_t i;
    int fd, depth = 0;

    if (len >= sizeof(wk->path))
        return;
    memcpy(wk->path, path, len);
    wk->path[len] = '\0';
    wk->len = len;
    /* a description of its own: readdir moves an offset the workers' root shares */
    fd = len == 0 ? openat(wk->dw->ds->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                  : beneath_open_direct(wk->dw->ds->rootfd, wk->path + 1,
                                        O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return;
    }
    for (i = 0; i < len; i++)
        depth += path[i] == '/';
    if (wk->visit(wk, fd, &st) > 0)
        walk_dir(wk, fd, depth + 1);
    else
        close(fd);
}

/* Said once: a walk stopped at its bound. */
static void warn_bound(struct devwatch *dw, const struct walk *wk)
{
    if (!wk->bounded || dw->warned_bound)
        return;
    log_warnx("live reload: more than %u entries or %u levels of directories beneath the "
              "root: changes past them go unseen (--watch-ignore leaves some out)",
              ENTRIES_MAX, DEPTH_MAX);
    dw->warned_bound = 1;
}

/* ---- inotify */

static unsigned long sysctl_value(const char *path)
{
    unsigned long v = 0;
    FILE *f = fopen(path, "re");

    if (f != NULL) {
        if (fscanf(f, "%lu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

/* The one warning, naming the sysctl that lifts the limit and a value above it. */
static void warn_fallback(int why, int err)
{
    static const char *const sysctl[] = {"max_user_instances", "max_user_watches"};
    static const unsigned long floor[] = {1024, 524288};
    char path[64];
    unsigned long now;
    int i = why == FALLBACK_WATCHES;

    if (why == FALLBACK_NO_PATH) {
        log_warnx("live reload: the root has no path the kernel can watch (mount /proc); "
                  "checking the tree every second instead");
        return;
    }
    if (why == FALLBACK_ERROR) {
        log_warnx("live reload: inotify: %s; checking the tree every second instead",
                  strerror(err));
        return;
    }
    snprintf(path, sizeof(path), "/proc/sys/fs/inotify/%s", sysctl[i]);
    now = sysctl_value(path); /* 0 when unknown: no /proc in a chroot */
    log_warnx("live reload: the inotify %s limit is reached (sysctl fs.inotify.%s=%lu raises "
              "it); checking the tree every second instead",
              i ? "watch" : "instance", sysctl[i], now >= floor[i] ? now * 2 : floor[i]);
}

/* Watches the directory open on fd (at path): 1 when newly watched, 0 when it was
 * already (reached twice: a bind mount), -1 when it cannot be (gone, unreadable),
 * -2 when inotify refuses any more (the walk stops, polling takes over). */
static int add_watch(struct devwatch *dw, int fd, const char *path, size_t len)
{
    char kpath[PATH_MAX + 32];
    uint32_t mask = MASK;
    int wd;

    if (dw->via_proc) {
        snprintf(kpath, sizeof(kpath), "/proc/self/fd/%d", fd);
    } else {
        /* from the working directory, the root of a chroot: the path was just walked
         * without symlinks, and none can lead out of the chroot anyway */
        snprintf(kpath, sizeof(kpath), "%.*s", len ? (int)len - 1 : 1, len ? path + 1 : ".");
        mask |= IN_DONT_FOLLOW; /* not with /proc/self/fd: that link is the way in */
    }
    wd = inotify_add_watch(dw->ifd, kpath, mask);
    if (wd < 0 && (errno == ENOSPC || len == 0)) {
        dw->fallback = errno == ENOSPC ? FALLBACK_WATCHES : FALLBACK_ERROR;
        dw->fallback_err = errno;
        return -2;
    }
    if (wd < 0)
        return -1;
    if (table_find(&dw->t, (uint32_t)wd, NULL, 0) != NULL)
        return 0;
    if (table_add(&dw->t, (uint32_t)wd, path, len) == NULL) {
        inotify_rm_watch(dw->ifd, wd);
        return -1;
    }
    return 1;
}

static int watch_visit(struct walk *wk, int fd, const struct stat *st)
{
    int r;

    if (wk->report)
        change(wk->dw, wk->path, wk->len, S_ISDIR(st->st_mode));
    if (fd < 0 || !S_ISDIR(st->st_mode))
        return 0;
    r = add_watch(wk->dw, fd, wk->path, wk->len);
    if (r == -2)
        wk->stop = 1;
    return r > 0;
}

/* A new directory (created, or moved in): it and what is already in it are
 * watched, and what was made in it before its watch counts as changed. */
static void watch_tree(struct devwatch *dw, const char *path, size_t len, int report)
{
    static struct walk wk; /* PATH_MAX of path: not on the stack of every caller */

    memset(&wk, 0, offsetof(struct walk, path));
    wk.dw = dw;
    wk.visit = watch_visit;
    wk.report = report;
    walk_from(&wk, path, len);
    warn_bound(dw, &wk);
}

/* A directory moved away: its watches and its subdirectories' go (moved back in
 * elsewhere, it is watched again under its new paths). */
static void forget_tree(struct devwatch *dw, const char *path, size_t len)
{
    unsigned i;

    for (i = 0; dw->t.slot != NULL && i <= dw->t.mask; i++) {
        struct node **pp = &dw->t.slot[i];
        while (*pp != NULL) {
            struct node *n = *pp;
            if (n->len >= len && memcmp(n->path, path, len) == 0 &&
                (n->len == len || n->path[len] == '/')) {
                inotify_rm_watch(dw->ifd, (int)n->key);
                table_remove(&dw->t, pp);
            } else {
                pp = &n->next;
            }
        }
    }
}

/* ---- polling (below inotify; the same changes, found by comparing walks) */

static int snap_differs(const struct node *n, const struct stat *st)
{
    if (n->mode != st->st_mode || n->ino != st->st_ino)
        return 1;
    /* a directory's times and size move with its entries, which are seen themselves */
    return !S_ISDIR(st->st_mode) &&
           (n->size != st->st_size || n->mtime.tv_sec != st->st_mtim.tv_sec ||
            n->mtime.tv_nsec != st->st_mtim.tv_nsec || n->ctime.tv_sec != st->st_ctim.tv_sec ||
            n->ctime.tv_nsec != st->st_ctim.tv_nsec);
}

static int snap_visit(struct walk *wk, int fd, const struct stat *st)
{
    struct devwatch *dw = wk->dw;
    uint32_t h = str_hash(STR_HASH_INIT, wk->path, wk->len);
    struct node **pp = table_find(&dw->t, h, wk->path, wk->len), *n;

    if (pp == NULL) {
        if ((n = table_add(&dw->t, h, wk->path, wk->len)) == NULL)
            return 0;
        if (wk->report)
            change(dw, wk->path, wk->len, S_ISDIR(st->st_mode));
    } else {
        n = *pp;
        if (snap_differs(n, st) && wk->report)
            change(dw, wk->path, wk->len, S_ISDIR(st->st_mode) || S_ISDIR(n->mode));
    }
    n->mode = st->st_mode;
    n->ino = st->st_ino;
    n->size = st->st_size;
    n->mtime = st->st_mtim;
    n->ctime = st->st_ctim;
    n->seen = dw->walks;
    return fd >= 0 && S_ISDIR(st->st_mode);
}

/* One walk of the tree: what is new or changed was reported on the way; what was
 * not found again is gone (unless the walk stopped at its bound). */
static void poll_tree(struct devwatch *dw, int report)
{
    static struct walk wk;
    unsigned i;

    memset(&wk, 0, offsetof(struct walk, path));
    wk.dw = dw;
    wk.visit = snap_visit;
    wk.report = report;
    dw->walks++;
    walk_from(&wk, "", 0);
    for (i = 0; dw->t.slot != NULL && i <= dw->t.mask; i++) {
        struct node **pp = &dw->t.slot[i];
        while (*pp != NULL) {
            if ((*pp)->seen == dw->walks) {
                pp = &(*pp)->next;
                continue;
            }
            if (report && !wk.bounded)
                change(dw, (*pp)->path, (*pp)->len, S_ISDIR((*pp)->mode));
            table_remove(&dw->t, pp);
        }
    }
    warn_bound(dw, &wk);
}

/* inotify is refused: said once, then the tree is walked every second. The walks
 * are work the workers should not wait behind, unlike a sleeping inotify loop. */
static void start_polling(struct devwatch *dw)
{
    warn_fallback(dw->fallback, dw->fallback_err);
    if (dw->ifd >= 0)
        close(dw->ifd); /* its watches go with it, back to the user's limit */
    dw->ifd = -1;
    dw->polling = 1;
    dw->fallback = FALLBACK_NONE;
    table_clear(&dw->t);
    (void)setpriority(PRIO_PROCESS, 0, 10);
    poll_tree(dw, 0);
    dw->next_walk_ms = now_ms() + POLL_EVERY_MS;
}

/* A new inotify instance watching the whole tree; on failure dw->fallback says why. */
static void start_inotify(struct devwatch *dw)
{
    if (dw->ifd >= 0)
        close(dw->ifd);
    table_clear(&dw->t);
    dw->rescan = 0;
    dw->via_proc = beneath_root_via_proc(dw->ds->rootfd);
    if (dw->via_proc < 0) {
        dw->via_proc = 0;
        dw->ifd = -1;
        dw->fallback = FALLBACK_NO_PATH;
        return;
    }
    dw->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (dw->ifd < 0) {
        dw->fallback = errno == EMFILE ? FALLBACK_INSTANCES : FALLBACK_ERROR;
        dw->fallback_err = errno;
        return;
    }
    watch_tree(dw, "", 0, 0);
}

static void on_event(struct devwatch *dw, const struct inotify_event *ev)
{
    char path[PATH_MAX];
    struct node **pp, *d;
    size_t len, nlen;
    int is_dir = (ev->mask & IN_ISDIR) != 0;

    if (ev->mask & IN_Q_OVERFLOW) { /* changes were lost: a reload, and a new start */
        change(dw, "", 0, 1);
        dw->rescan = 1;
        return;
    }
    if ((pp = table_find(&dw->t, (uint32_t)ev->wd, NULL, 0)) == NULL)
        return; /* a watch forgotten already */
    d = *pp;
    if (ev->len == 0 || ev->name[0] == '\0') {
        if (ev->mask & IN_IGNORED)
            table_remove(&dw->t, pp);
        else if (d->len == 0) /* the root itself; others are told of by their parent */
            change(dw, "", 0, 1);
        return;
    }
    nlen = strlen(ev->name);
    if ((len = d->len + 1 + nlen) >= sizeof(path))
        return;
    memcpy(path, d->path, d->len);
    path[d->len] = '/';
    memcpy(path + d->len + 1, ev->name, nlen + 1);
    if (livebatch_ignored(path, len, dw->ds->ignore, dw->ds->nignore))
        return;
    change(dw, path, len, is_dir);
    if (is_dir && (ev->mask & IN_MOVED_FROM))
        forget_tree(dw, path, len);
    if (is_dir && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
        watch_tree(dw, path, len, 1);
}

static void read_events(struct devwatch *dw)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;

    while (dw->ifd >= 0 && !dw->fallback) {
        const char *p;
        n = read(dw->ifd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        for (p = buf; p < buf + n && !dw->fallback;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            on_event(dw, ev);
            p += sizeof(*ev) + ev->len;
        }
    }
}

/* ---- the process */

static void on_quit(int sig)
{
    (void)sig;
    quit = 1;
}

/* SIGTERM (the master's stop, or its death), SIGINT (^C to the terminal's group)
 * and SIGQUIT end it, each caught only while it waits, so a walk is not cut in
 * half; reloads and log reopening are the master's business. */
static void become_watcher(sigset_t *waiting)
{
    static const int ends[] = {SIGTERM, SIGINT, SIGQUIT};
    struct sigaction sa;
    sigset_t blocked;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sigemptyset(&blocked);
    sa.sa_handler = on_quit;
    for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        sigaction(ends[i], &sa, NULL);
        sigaddset(&blocked, ends[i]);
    }
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    sigprocmask(SIG_SETMASK, &blocked, NULL);
    sigemptyset(waiting);
}

/* How long to sleep: until the batch is due or the next walk, -1 for ever. */
static long next_wait(struct devwatch *dw, uint64_t now)
{
    long wait = livebatch_wait_ms(&dw->batch, now);

    if (dw->polling) {
        long walk = dw->next_walk_ms > now ? (long)(dw->next_walk_ms - now) : 0;
        if (wait < 0 || walk < wait)
            wait = walk;
    }
    return wait;
}

static void run_loop(struct devwatch *dw, const sigset_t *waiting)
{
    while (!quit) {
        uint64_t now = now_ms();
        long wait = next_wait(dw, now);
        struct pollfd pfd = {.fd = dw->ifd, .events = POLLIN};
        struct timespec ts = {.tv_sec = wait / 1000, .tv_nsec = wait % 1000 * 1000000};

        if (livebatch_wait_ms(&dw->batch, now) == 0) {
            send_batch(dw);
            continue;
        }
        if (dw->polling && now >= dw->next_walk_ms) {
            poll_tree(dw, 1);
            dw->next_walk_ms = now_ms() + POLL_EVERY_MS;
            continue;
        }
        if (ppoll(&pfd, dw->ifd >= 0 ? 1 : 0, wait < 0 ? NULL : &ts, waiting) > 0 &&
            (pfd.revents & POLLIN))
            read_events(dw);
        if (dw->rescan && !dw->fallback)
            start_inotify(dw);
        if (dw->fallback)
            start_polling(dw);
    }
}

int devwatch_run(const struct devwatch_start *ds)
{
    struct devwatch *dw = calloc(1, sizeof(*dw));
    sigset_t waiting;
    pid_t master = getppid();

    log_set_ident(1);
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* then see that the master did not die before */
    become_watcher(&waiting);
    if (dw == NULL || getppid() != master) {
        free(dw);
        log_errorx("live reload: out of memory, or the master is gone");
        return 1;
    }
    dw->ds = ds;
    dw->ifd = -1;
    start_inotify(dw);
    if (dw->fallback)
        start_polling(dw);
    run_loop(dw, &waiting);
    if (dw->ifd >= 0)
        close(dw->ifd);
    table_clear(&dw->t);
    free(dw);
    return 0;
}

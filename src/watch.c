/* A worker's change notifications: one inotify instance, a tree of watched
 * directories named by their paths beneath the root, watched files, and the
 * clients' links to both. It only reports what changed: it never opens a file for
 * a request and never decides what is stale. */
#include "build-config.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "portico/beneath.h"
#include "portico/log.h"
#include "portico/str.h"
#include "portico/watch.h"

/* A directory: names created, removed, renamed or chmod-ed in it, and the directory
 * itself moved, removed or chmod-ed. A file: its bytes and its attributes, and its
 * links: a rename over it or an unlink lowers its link count, which inotify reports
 * as IN_ATTRIB, so the file's own watch sees it replaced under any of its names. */
#define DIR_MASK                                                                                   \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |            \
     IN_MOVE_SELF | IN_ONLYDIR)
#define FILE_MASK (IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)
#define SELF_GONE (IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT | IN_IGNORED)
#define FS_SEEN   8
#define KPATH_MAX (PATH_MAX + 32)
#define DELETED   " (deleted)" /* what /proc appends to the path of an unlinked file */

struct watch_node {
    struct watch_node *pnext, *wnext;  /* chains of the path (directories) and wd tables */
    struct watch_node *parent, *child; /* directories: the tree */
    struct watch_node *sib_prev, *sib_next;
    struct watcher *w;
    struct watch_link *links;
    unsigned refs; /* links, and child directories */
    int wd;
    unsigned is_dir : 1;
    unsigned dead : 1; /* out of the tables: no longer what its path names */
    uint32_t hash;
    size_t len;
    char path[]; /* a directory's normalised path; "" is the root */
};

struct fs_seen {
    dev_t dev;
    int reports;
};

struct watcher {
    int fd;
    int rootfd;
    int via_proc; /* the kernel gets /proc/self/fd paths; else paths from the working
                     directory, which is the root (a chroot without /proc) */
    unsigned fallback_s;
    char root_path[PATH_MAX]; /* the root as /proc names open files ("" if unknown) */
    unsigned mask;            /* table size - 1 */
    struct watch_node **by_path, **by_wd;
    struct watch_client *clients;
    struct fs_seen fs[FS_SEEN];
    unsigned nfs;
    unsigned warned_full : 1, warned_fs : 1;
};

static const struct {
    uint32_t magic;
    const char *name;
} unreported_fs[] = {
    {0x6969, "nfs"},        {0x517b, "smb"},      {0xff534d42, "cifs"},   {0xfe534d42, "smb2"},
    {0x65735546, "fuse"},   {0x01021997, "9p"},   {0x00c36400, "ceph"},   {0x6b414653, "afs"},
    {0x5346414f, "afs"},    {0x73757245, "coda"}, {0x564c, "ncp"},        {0x7461636f, "ocfs2"},
    {0x01161970, "gfs2"},   {0x47504653, "gpfs"}, {0x0bd00bd0, "lustre"}, {0x19980122, "orangefs"},
    {0x786f4256, "vboxsf"},
};

const char *watch_fs_name(long f_type)
{
    size_t i;

    for (i = 0; i < sizeof(unreported_fs) / sizeof(unreported_fs[0]); i++)
        if (unreported_fs[i].magic == (uint32_t)f_type)
            return unreported_fs[i].name;
    return NULL;
}

int watch_fs_reports_changes(long f_type)
{
    return watch_fs_name(f_type) == NULL;
}

/* Where the kernel finds the root: /proc/self/fd/N (whose link names it, for
 * watch_resolve), or the working directory. */
static int find_root(struct watcher *w)
{
    int via = beneath_root_via_proc(w->rootfd);
    char p[32];
    ssize_t n;

    w->via_proc = via > 0;
    if (via <= 0)
        return via;
    snprintf(p, sizeof(p), "/proc/self/fd/%d", w->rootfd);
    n = readlink(p, w->root_path, sizeof(w->root_path) - 1);
    w->root_path[n > 0 ? n : 0] = '\0';
    return 0;
}

struct watcher *watch_new(int rootfd, unsigned size_hint, unsigned fallback_s)
{
    struct watcher *w = calloc(1, sizeof(*w));
    unsigned n = 64;

    if (w == NULL)
        return NULL;
    while (n < size_hint * 2 && n < (1u << 20))
        n <<= 1;
    w->by_path = calloc(n, sizeof(*w->by_path));
    w->by_wd = calloc(n, sizeof(*w->by_wd));
    if (w->by_path == NULL || w->by_wd == NULL) {
        free(w->by_path);
        free(w->by_wd);
        free(w);
        return NULL;
    }
    w->mask = n - 1;
    w->rootfd = rootfd;
    w->fallback_s = fallback_s;
    w->fd = -1;
    if (find_root(w) < 0) {
        log_warnx("file changes are not notified: the root has no path the kernel can watch "
                  "(mount /proc); files are checked on disk again after %u s (--revalidate)",
                  fallback_s);
        return w;
    }
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0)
        log_warnx("file changes are not notified (inotify: %s; the per-user limit is sysctl "
                  "fs.inotify.max_user_instances): files are checked on disk again after %u s "
                  "(--revalidate)",
                  strerror(errno), fallback_s);
    return w;
}

int watch_fd(const struct watcher *w)
{
    return w->fd;
}

void watch_add_client(struct watcher *w, struct watch_client *c)
{
    c->w = w;
    c->next = w->clients;
    w->clients = c;
}

/* The path the kernel resolves for a directory or file beneath the root, the same
 * way beneath.c did (the root's own symlinks are all it follows: an entry exists
 * only when they stay beneath it). fd >= 0 names the open file itself. */
static int kernel_path(const struct watcher *w, char *out, const char *path, size_t len, int fd)
{
    int n;

    if (w->via_proc && fd >= 0)
        n = snprintf(out, KPATH_MAX, "/proc/self/fd/%d", fd);
    else if (w->via_proc)
        n = snprintf(out, KPATH_MAX, "/proc/self/fd/%d/%.*s", w->rootfd, len ? (int)len - 1 : 1,
                     len ? path + 1 : ".");
    else
        n = snprintf(out, KPATH_MAX, "%.*s", len ? (int)len - 1 : 1, len ? path + 1 : ".");
    if (n < 0 || n >= KPATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* Whether the filesystem of dev reports changes: asked once per device. */
static int fs_reports(struct watcher *w, dev_t dev, const char *kpath, int fd, const char *path,
                      size_t len)
{
    struct statfs sf;
    struct fs_seen *seen;
    unsigned i;

    for (i = 0; i < w->nfs && i < FS_SEEN; i++)
        if (w->fs[i].dev == dev)
            return w->fs[i].reports;
    if ((fd >= 0 ? fstatfs(fd, &sf) : statfs(kpath, &sf)) < 0)
        return 1; /* unknown: the watch itself will tell */
    seen = &w->fs[w->nfs++ % FS_SEEN];
    seen->dev = dev;
    seen->reports = watch_fs_reports_changes((long)sf.f_type);
    if (!seen->reports && !w->warned_fs) {
        log_warnx("%.*s is on %s, which does not report changes made on other machines: files "
                  "there are checked on disk again after %u s (--revalidate)",
                  len ? (int)len : 1, len ? path : "/", watch_fs_name((long)sf.f_type),
                  w->fallback_s);
        w->warned_fs = 1;
    }
    return seen->reports;
}

/* inotify_add_watch, saying once when the kernel's watch limit is reached. */
static int add_watch(struct watcher *w, const char *kpath, uint32_t mask)
{
    int wd = inotify_add_watch(w->fd, kpath, mask);

    if (wd < 0 && errno == ENOSPC && !w->warned_full) {
        log_warnx("inotify watch limit reached (sysctl fs.inotify.max_user_watches raises "
                  "it): files beyond it are checked on disk again after %u s (--revalidate)",
                  w->fallback_s);
        w->warned_full = 1;
    }
    return wd;
}

static int wd_in_use(const struct watcher *w, int wd)
{
    const struct watch_node *n;

    for (n = w->by_wd[(unsigned)wd & w->mask]; n != NULL; n = n->wnext)
        if (n->wd == wd)
            return 1;
    return 0;
}

/* Takes n out of the tables, so that its path gets a new node and its wd no
 * events; the kernel's watch goes too unless rm is 0 (it is gone already) or
 * another node shares it (a directory reached by two paths). */
static void detach(struct watch_node *n, int rm)
{
    struct watcher *w = n->w;
    struct watch_node **pp;

    if (n->is_dir) {
        for (pp = &w->by_path[n->hash & w->mask]; *pp != n; pp = &(*pp)->pnext)
            ;
        *pp = n->pnext;
    }
    for (pp = &w->by_wd[(unsigned)n->wd & w->mask]; *pp != n; pp = &(*pp)->wnext)
        ;
    *pp = n->wnext;
    n->dead = 1;
    if (rm && !wd_in_use(w, n->wd))
        inotify_rm_watch(w->fd, n->wd);
}

/* A node for the watch wd just added; NULL with ENOMEM (and the watch removed,
 * unless another node uses it). */
static struct watch_node *node_new(struct watcher *w, const char *path, size_t len, uint32_t h,
                                   int wd)
{
    struct watch_node *n = calloc(1, sizeof(*n) + len + 1);

    if (n == NULL) {
        if (!wd_in_use(w, wd))
            inotify_rm_watch(w->fd, wd);
        errno = ENOMEM;
        return NULL;
    }
    n->w = w;
    n->wd = wd;
    n->hash = h;
    n->len = len;
    memcpy(n->path, path, len);
    n->wnext = w->by_wd[(unsigned)wd & w->mask];
    w->by_wd[(unsigned)wd & w->mask] = n;
    return n;
}

static void node_free(struct watch_node *n)
{
    struct watch_node *p = n->parent;

    if (!n->dead)
        detach(n, 1);
    if (p != NULL) {
        if (n->sib_prev)
            n->sib_prev->sib_next = n->sib_next;
        else
            p->child = n->sib_next;
        if (n->sib_next)
            n->sib_next->sib_prev = n->sib_prev;
    }
    free(n);
}

/* Frees n and each directory above it that nothing uses any more. */
static void release(struct watch_node *n)
{
    while (n != NULL && n->refs == 0) {
        struct watch_node *p = n->parent;
        node_free(n);
        if (p != NULL)
            p->refs--;
        n = p;
    }
}

static struct watch_node *find_dir(const struct watcher *w, const char *path, size_t len,
                                   uint32_t h)
{
    struct watch_node *n;

    for (n = w->by_path[h & w->mask]; n != NULL; n = n->pnext)
        if (n->hash == h && n->len == len && memcmp(n->path, path, len) == 0)
            return n;
    return NULL;
}

static struct watch_node *find_file(const struct watcher *w, int wd)
{
    struct watch_node *n;

    for (n = w->by_wd[(unsigned)wd & w->mask]; n != NULL; n = n->wnext)
        if (n->wd == wd && !n->is_dir)
            return n;
    return NULL;
}

/* A watch on the directory path, below parent (NULL for the root). */
static struct watch_node *dir_new(struct watcher *w, struct watch_node *parent, const char *path,
                                  size_t len, uint32_t h)
{
    char kpath[KPATH_MAX];
    struct watch_node *n;
    struct stat st;
    int wd;

    if (kernel_path(w, kpath, path, len, -1) < 0 || stat(kpath, &st) < 0)
        return NULL;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return NULL;
    }
    if (!fs_reports(w, st.st_dev, kpath, -1, path, len)) {
        errno = EOPNOTSUPP;
        return NULL;
    }
    wd = add_watch(w, kpath, DIR_MASK);
    if (wd < 0)
        return NULL;
    for (n = parent; n != NULL; n = n->parent) {
        if (n->wd == wd) {
            /* a symlink back up the tree ("mirror -> ."): its paths are endless,
             * so they are left to the interval rather than watched */
            errno = ELOOP;
            return NULL;
        }
    }
    n = node_new(w, path, len, h, wd);
    if (n == NULL)
        return NULL;
    n->is_dir = 1;
    n->pnext = w->by_path[h & w->mask];
    w->by_path[h & w->mask] = n;
    n->parent = parent;
    if (parent != NULL) {
        parent->refs++;
        n->sib_next = parent->child;
        if (parent->child)
            parent->child->sib_prev = n;
        parent->child = n;
    }
    return n;
}

/* The node of directory path, made with those above it where missing (from the
 * root down, so a path that does not exist stops at its first missing part). */
static struct watch_node *dir_get(struct watcher *w, const char *path, size_t len, int *made)
{
    struct watch_node *n = find_dir(w, path, len, str_hash(STR_HASH_INIT, path, len));
    struct watch_node *parent = NULL;
    uint32_t h = STR_HASH_INIT;
    size_t end = 0;

    if (n != NULL)
        return n;
    for (;;) {
        n = find_dir(w, path, end, h);
        if (n == NULL) {
            n = dir_new(w, parent, path, end, h);
            if (n == NULL) {
                int saved = errno;
                release(parent);
                errno = saved;
                return NULL;
            }
            *made = 1;
        }
        if (end == len)
            return n;
        parent = n;
        do
            h = str_hash(h, path + end, 1);
        while (++end < len && path[end] != '/');
    }
}

static void link_to(struct watch_node *n, struct watch_client *c, struct watch_link *l)
{
    l->node = n;
    l->client = c;
    l->prev = NULL;
    l->next = n->links;
    if (n->links)
        n->links->prev = l;
    n->links = l;
    n->refs++;
}

int watch_dir(struct watch_client *c, struct watch_link *l, const char *dir, size_t len)
{
    struct watch_node *n;
    int made = 0;

    if (c->w->fd < 0) {
        errno = EOPNOTSUPP;
        return -1;
    }
    n = dir_get(c->w, dir, len, &made);
    if (n == NULL)
        return -1;
    link_to(n, c, l);
    return made;
}

int watch_file(struct watch_client *c, struct watch_link *l, int fd, const struct stat *st,
               const char *path, size_t len)
{
    struct watcher *w = c->w;
    char kpath[KPATH_MAX];
    struct watch_node *n;
    int wd;

    if (w->fd < 0 || !fs_reports(w, st->st_dev, NULL, fd, path, len)) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (kernel_path(w, kpath, path, len, fd) < 0)
        return -1;
    wd = add_watch(w, kpath, FILE_MASK);
    if (wd < 0)
        return -1;
    n = find_file(w, wd);
    if (n == NULL && (n = node_new(w, "", 0, 0, wd)) == NULL)
        return -1;
    link_to(n, c, l);
    return 0;
}

long watch_resolve(const struct watcher *w, int fd, char *out, size_t size)
{
    char p[32], buf[PATH_MAX + 1];
    size_t root = strcmp(w->root_path, "/") == 0 ? 0 : strlen(w->root_path);
    ssize_t n;

    if (!w->via_proc || w->root_path[0] != '/')
        return -1;
    snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
    n = readlink(p, buf, sizeof(buf) - 1);
    /* a path beneath the root, not " (deleted)" or elsewhere (the root itself: "/") */
    if (n <= 0 || (size_t)n < root || memcmp(buf, w->root_path, root) != 0 ||
        (n > (ssize_t)root && buf[root] != '/') || (size_t)n - root + 1 >= size ||
        ((size_t)n > sizeof(DELETED) &&
         memcmp(buf + n - sizeof(DELETED) + 1, DELETED, sizeof(DELETED) - 1) == 0))
        return -1;
    if ((size_t)n == root) {
        memcpy(out, "/", 2);
        return 1;
    }
    memcpy(out, buf + root, (size_t)n - root);
    out[n - (ssize_t)root] = '\0';
    return n - (ssize_t)root;
}

void watch_unlink(struct watch_link *l)
{
    struct watch_node *n = l->node;

    if (n == NULL)
        return;
    if (l->prev)
        l->prev->next = l->next;
    else
        n->links = l->next;
    if (l->next)
        l->next->prev = l->prev;
    l->node = NULL;
    l->prev = l->next = NULL;
    n->refs--;
    release(n);
}

/* Clients only take note here; nothing is freed until the batch ends. */
static void notify(struct watch_node *n, unsigned what)
{
    struct watch_link *l;

    if (n->is_dir)
        what |= WATCH_DIR;
    for (l = n->links; l != NULL; l = l->next)
        l->client->on_link(l->client, l, what);
}

/* A directory is no longer what its path names: it and everything below it. */
static void kill_dir(struct watch_node *n, int rm)
{
    struct watch_node *c;

    if (n->dead)
        return;
    detach(n, rm);
    notify(n, WATCH_GONE);
    for (c = n->child; c != NULL; c = c->sib_next)
        kill_dir(c, 1);
}

static void name_event(struct watcher *w, struct watch_node *dir, const char *name)
{
    char path[KPATH_MAX];
    size_t nlen = strlen(name), len = dir->len + 1 + nlen;
    struct watch_node *child;
    struct watch_client *c;

    if (len >= sizeof(path))
        return; /* longer than any path that was opened */
    memcpy(path, dir->path, dir->len);
    path[dir->len] = '/';
    memcpy(path + dir->len + 1, name, nlen);
    child = find_dir(w, path, len, str_hash(STR_HASH_INIT, path, len));
    if (child != NULL)
        kill_dir(child, 1);
    for (c = w->clients; c != NULL; c = c->next)
        c->on_name(c, path, len);
}

static void dispatch(struct watcher *w, const struct inotify_event *ev)
{
    struct watch_node *n, *next;

    if (ev->mask & IN_Q_OVERFLOW) {
        /* events were lost: nothing watched can be trusted, not even the bytes of
         * a file being sent */
        unsigned i;
        struct watch_node *root = find_dir(w, "", 0, STR_HASH_INIT);
        if (root != NULL)
            kill_dir(root, 1);
        for (i = 0; i <= w->mask; i++)
            for (n = w->by_wd[i]; n != NULL; n = n->wnext)
                notify(n, WATCH_GONE | WATCH_WRITTEN);
        return;
    }
    /* nothing is freed while events are dispatched, so a node taken out of its
     * chain still leads on along it */
    for (n = w->by_wd[(unsigned)ev->wd & w->mask]; n != NULL; n = next) {
        next = n->wnext;
        if (n->dead || n->wd != ev->wd)
            continue;
        if (!n->is_dir) {
            if (ev->mask & IN_IGNORED)
                detach(n, 0);
            notify(n, ev->mask & (IN_MODIFY | IN_CLOSE_WRITE) ? WATCH_GONE | WATCH_WRITTEN
                                                              : WATCH_GONE);
        } else if (ev->len > 0 && ev->name[0] != '\0') {
            name_event(w, n, ev->name);
        } else if (ev->mask & SELF_GONE) {
            kill_dir(n, !(ev->mask & IN_IGNORED));
        }
    }
}

void watch_read(struct watcher *w)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct watch_client *c;
    ssize_t n;

    if (w->fd < 0)
        return;
    for (;;) {
        const char *p;
        n = read(w->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            dispatch(w, ev);
            p += sizeof(*ev) + ev->len;
        }
        /* room was left for the longest event: the queue was empty, and one queued
         * since makes the descriptor readable again (no read just for EAGAIN) */
        if (sizeof(buf) - (size_t)n >= sizeof(struct inotify_event) + NAME_MAX + 1)
            break;
    }
    for (c = w->clients; c != NULL; c = c->next)
        c->on_batch_end(c);
}

/* The fence beneath the document root: every file the server opens for a request
 * is opened here. The kernel enforces it (openat2 RESOLVE_BENEATH); where it cannot,
 * a component walk refuses every symlink. It never decides a status. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#include "portico/beneath.h"

#ifndef RESOLVE_BENEATH
struct open_how {
    unsigned long long flags, mode, resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS   0x04
#define RESOLVE_BENEATH       0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

static int have_openat2 = 1;

int beneath_open_root(const char *path)
{
    return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int beneath_open_walk(int dirfd, const char *rel, int flags)
{
    char comp[256];
    int cur = dirfd;

    for (;;) {
        const char *slash = strchr(rel, '/');
        size_t n = slash ? (size_t)(slash - rel) : strlen(rel);
        int next, saved;

        if (n >= sizeof(comp)) {
            if (cur != dirfd)
                close(cur);
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(comp, rel, n);
        comp[n] = '\0';
        if (n == 0 || strcmp(comp, ".") == 0) {
            strcpy(comp, ".");
        } else if (strcmp(comp, "..") == 0) { /* never produced by path.c; refuse anyway */
            if (cur != dirfd)
                close(cur);
            errno = EXDEV;
            return -1;
        }
        if (slash && slash[1] != '\0')
            next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        else
            next = openat(cur, comp, flags | O_NOFOLLOW | (slash ? O_DIRECTORY : 0));
        saved = errno;
        if (cur != dirfd)
            close(cur);
        if (next < 0) {
            errno = saved;
            return -1;
        }
        if (!slash || slash[1] == '\0')
            return next;
        cur = next;
        rel = slash + 1;
    }
}

static int open_resolving(int dirfd, const char *rel, int flags, unsigned long long resolve)
{
    if (have_openat2) {
        struct open_how how;
        long fd;

        memset(&how, 0, sizeof(how));
        how.flags = (unsigned long long)flags;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | resolve;
        fd = syscall(SYS_openat2, dirfd, *rel ? rel : ".", &how, sizeof(how));
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
            return (int)fd;
        have_openat2 = 0; /* an old kernel or a seccomp filter: walk instead */
    }
    return beneath_open_walk(dirfd, rel, flags);
}

int beneath_open(int dirfd, const char *rel, int flags)
{
    return open_resolving(dirfd, rel, flags, 0);
}

int beneath_open_direct(int dirfd, const char *rel, int flags)
{
    return open_resolving(dirfd, rel, flags, RESOLVE_NO_SYMLINKS);
}

int beneath_open_roots(const char *const *paths, int n, int *fds)
{
    int i, j;

    for (i = 0; i < n; i++) {
        for (j = 0; j < i && strcmp(paths[j], paths[i]) != 0; j++)
            ;
        fds[i] = j < i ? fds[j] : beneath_open_root(paths[i]);
        if (fds[i] < 0) {
            int err = errno;
            beneath_close_roots(fds, i);
            errno = err;
            for (j = 0; j < n; j++)
                fds[j] = -1;
            return i;
        }
    }
    return -1;
}

void beneath_close_roots(const int *fds, int n)
{
    int i, j;

    for (i = 0; i < n; i++) {
        for (j = 0; j < i && fds[j] != fds[i]; j++)
            ;
        if (j == i && fds[i] >= 0)
            close(fds[i]);
    }
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

int beneath_root_via_proc(int rootfd)
{
    struct stat root, st;
    char p[32];

    if (fstat(rootfd, &root) < 0)
        return -1;
    snprintf(p, sizeof(p), "/proc/self/fd/%d", rootfd);
    if (stat(p, &st) == 0 && same_file(&st, &root))
        return 1;
    return stat(".", &st) == 0 && same_file(&st, &root) ? 0 : -1;
}

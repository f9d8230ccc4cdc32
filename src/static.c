/* Maps a request path to a file beneath the root and opens it safely. The kernel
 * enforces the fence (openat2 RESOLVE_BENEATH); the string checks in path.c are the
 * second fence. Never reads file contents: bodies go out by sendfile in conn.c. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#include "portico/mime.h"
#include "portico/path.h"
#include "portico/static.h"

#ifndef RESOLVE_BENEATH
struct open_how {
    unsigned long long flags, mode, resolve;
};
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_BENEATH       0x08
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

/* One request is decided at a time per worker, so the decoded path and the
 * Location value can live here rather than on a connection. */
static char path_buf[16384];
static char location_buf[8192]; /* a Location longer than this is refused with 414 */
static int have_openat2 = 1;

int static_open_root(const char *path)
{
    return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

int static_open_walk(int dirfd, const char *rel, int flags)
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

int static_open_beneath(int dirfd, const char *rel, int flags)
{
    if (have_openat2) {
        struct open_how how;
        long fd;

        memset(&how, 0, sizeof(how));
        how.flags = (unsigned long long)flags;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        fd = syscall(SYS_openat2, dirfd, *rel ? rel : ".", &how, sizeof(how));
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
            return (int)fd;
        have_openat2 = 0; /* an old kernel or a seccomp filter: walk instead */
    }
    return static_open_walk(dirfd, rel, flags);
}

static enum http_status errno_status(int err)
{
    switch (err) {
    case EACCES:
    case EPERM:
        return HTTP_FORBIDDEN;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
        return HTTP_SERVICE_UNAVAILABLE;
    case ENOENT:
    case ENOTDIR:
    case ELOOP:
    case EXDEV:
    case ENAMETOOLONG:
        return HTTP_NOT_FOUND;
    default:
        return HTTP_INTERNAL_ERROR;
    }
}

static void redirect_to_dir(const char *path, size_t len, const char *query, size_t qlen,
                            int has_query, struct response *resp)
{
    long n = qlen + 3 < sizeof(location_buf)
                 ? path_encode(path, len, location_buf, sizeof(location_buf) - qlen - 3)
                 : -1;

    if (n < 0) {
        resp->status = HTTP_URI_TOO_LONG;
        return;
    }
    location_buf[n++] = '/';
    if (has_query) {
        location_buf[n++] = '?';
        memcpy(location_buf + n, query, qlen);
        n += (long)qlen;
    }
    location_buf[n] = '\0';
    resp->status = HTTP_MOVED_PERMANENTLY;
    resp->location = location_buf;
}

void static_serve(int rootfd, const char *path, size_t len, const char *query, size_t qlen,
                  int has_query, struct response *resp)
{
    struct stat st;
    long n;
    int fd;

    n = len ? path_normalize(path, len, path_buf, sizeof(path_buf) - sizeof("index.html"))
            : path_normalize("/", 1, path_buf, sizeof(path_buf));
    if (n < 0) {
        resp->status = n == PATH_TOO_LONG ? HTTP_URI_TOO_LONG : HTTP_BAD_REQUEST;
        return;
    }
    if (path_is_hidden(path_buf, (size_t)n)) {
        resp->status = HTTP_NOT_FOUND;
        return;
    }
    fd = static_open_beneath(rootfd, path_buf + 1, OPEN_FLAGS);
    if (fd < 0) {
        resp->status = errno_status(errno);
        return;
    }
    if (fstat(fd, &st) < 0) {
        resp->status = HTTP_INTERNAL_ERROR;
        close(fd);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        if (path_buf[n - 1] != '/') {
            redirect_to_dir(path_buf, (size_t)n, query, qlen, has_query, resp);
            return;
        }
        memcpy(path_buf + n, "index.html", sizeof("index.html"));
        n += (long)sizeof("index.html") - 1;
        fd = static_open_beneath(rootfd, path_buf + 1, OPEN_FLAGS);
        if (fd < 0) {
            /* no index: listings are off, so the directory itself is forbidden */
            resp->status = errno == ENOENT ? HTTP_FORBIDDEN : errno_status(errno);
            return;
        }
        if (fstat(fd, &st) < 0) {
            resp->status = HTTP_INTERNAL_ERROR;
            close(fd);
            return;
        }
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        resp->status = HTTP_FORBIDDEN;
        return;
    }
    resp->status = HTTP_OK;
    resp->fd = fd;
    resp->offset = 0;
    resp->length = (uint64_t)st.st_size;
    resp->content_type = mime_type(path_buf, (size_t)n);
}

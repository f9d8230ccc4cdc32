/* Builds directory listings. Names come from the disk and are untrusted: every one
 * is HTML-escaped for text and percent-encoded for links, and entries that are
 * hidden or lead out of the root are left out. Never serves anything itself. */
#include "build-config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "portico/beneath.h"
#include "portico/httpdate.h"
#include "portico/listing.h"
#include "portico/path.h"

/* A bigger directory is listed in part: the page is built in the event loop. */
#define LISTING_MAX 10000

struct item {
    char *name;
    int is_dir;
    uint64_t size;
    time_t mtime;
};

long listing_html_escape(const char *in, size_t len, char *out, size_t cap)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        const char *rep = NULL;
        size_t rlen;
        switch (in[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: break;
        }
        rlen = rep ? strlen(rep) : 1;
        if (o + rlen >= cap)
            return -1;
        if (rep)
            memcpy(out + o, rep, rlen);
        else
            out[o] = in[i];
        o += rlen;
    }
    out[o] = '\0';
    return (long)o;
}

static int by_kind_then_name(const void *a, const void *b)
{
    const struct item *x = a, *y = b;

    if (x->is_dir != y->is_dir)
        return y->is_dir - x->is_dir;
    return strcmp(x->name, y->name);
}

static void human_size(uint64_t n, char *out, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;

    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, cap, "%llu B", (unsigned long long)n);
    else
        snprintf(out, cap, "%.1f %s", v, units[u]);
}

/* Reads the entries worth showing: no dotfiles, no symlinks that leave the root. */
static int collect(int rootfd, const char *rel, int dirfd, struct item **out, size_t *count,
                   int *truncated)
{
    DIR *d = fdopendir(dirfd);
    struct dirent *de;
    struct item *items = NULL;
    size_t n = 0, cap = 0;
    char path[PATH_MAX];

    if (d == NULL) {
        int saved = errno;
        close(dirfd);
        errno = saved;
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        struct item *it;

        if (de->d_name[0] == '.')
            continue;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            /* follow it only through the fence, as a request would */
            int fd;
            if (snprintf(path, sizeof(path), "%s%s", rel, de->d_name) >= (int)sizeof(path))
                continue;
            fd = beneath_open(rootfd, path, O_PATH | O_CLOEXEC);
            if (fd < 0)
                continue;
            if (fstat(fd, &st) < 0) {
                close(fd);
                continue;
            }
            close(fd);
        }
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
            continue;
        if (n == LISTING_MAX) {
            *truncated = 1; /* the page stays small and quick to build */
            break;
        }
        if (n == cap) {
            struct item *grown = realloc(items, (cap = cap ? cap * 2 : 64) * sizeof(*items));
            if (grown == NULL)
                goto fail;
            items = grown;
        }
        it = &items[n];
        it->name = strdup(de->d_name);
        if (it->name == NULL)
            goto fail;
        it->is_dir = S_ISDIR(st.st_mode);
        it->size = (uint64_t)st.st_size;
        it->mtime = st.st_mtim.tv_sec;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(items, n, sizeof(*items), by_kind_then_name);
    *out = items;
    *count = n;
    return 0;
fail:
    while (n > 0)
        free(items[--n].name);
    free(items);
    closedir(d);
    errno = ENOMEM;
    return -1;
}

/* Writes s escaped, in pieces, so no length of s can outgrow a buffer. */
static void put_escaped(FILE *f, const char *s, size_t len)
{
    char out[6 * 512 + 1];

    while (len > 0) {
        size_t n = len > 512 ? 512 : len;
        if (listing_html_escape(s, n, out, sizeof(out)) >= 0)
            fputs(out, f);
        s += n;
        len -= n;
    }
}

static void put_date(FILE *f, time_t t)
{
    struct tm tm;
    char when[32];

    httpdate_utc(t, &tm);
    if (strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm) > 0)
        fputs(when, f);
}

static const char style[] =
    "body{font:15px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;margin:0;"
    "padding:1.5rem;color:#1d2430;background:#fbfaf7}"
    "main{max-width:52rem;margin:0 auto}"
    "h1{font-size:1.25rem;font-weight:600;word-break:break-all}"
    "table{width:100%;border-collapse:collapse}"
    "th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e6e2d8}"
    "th{font-weight:600;color:#6b6558;font-size:.85rem}"
    "td.n{word-break:break-all}td.s,th.s{text-align:right;white-space:nowrap}"
    "td.m{white-space:nowrap;color:#6b6558}"
    "a{color:#1a5fb4;text-decoration:none}a:hover{text-decoration:underline}"
    "footer{margin-top:1rem;color:#8a8474;font-size:.8rem}"
    "@media (max-width:36rem){td.m,th.m{display:none}}"
    "@media (prefers-color-scheme:dark){body{background:#16181d;color:#e4e1d8}"
    "th,td{border-color:#2c3038}a{color:#8ab4f8}}";

/* One entry's row: its link, size and modification time. */
static void put_row(FILE *f, const struct item *it)
{
    char href[3 * NAME_MAX + 8], size[32];
    size_t nl = strlen(it->name);

    /* "./" keeps a name with a colon from reading as a URL scheme */
    memcpy(href, "./", 2);
    if (path_encode_name(it->name, nl, href + 2, sizeof(href) - 3) < 0)
        return;
    if (it->is_dir)
        strcat(href, "/");
    if (it->is_dir)
        size[0] = '\0';
    else
        human_size(it->size, size, sizeof(size));
    fprintf(f, "<tr><td class=\"n\"><a href=\"%s\">", href);
    put_escaped(f, it->name, nl);
    fprintf(f, "%s</a></td><td class=\"s\">%s</td><td class=\"m\">", it->is_dir ? "/" : "", size);
    put_date(f, it->mtime);
    fputs("</td></tr>\n", f);
}

int listing_build(int rootfd, const char *path, size_t len, uint64_t *out_len)
{
    struct item *items = NULL;
    size_t n = 0, i;
    struct stat st;
    FILE *f;
    int dirfd, memfd, wfd, saved = 0, truncated = 0;

    if (len == 0 || path[len - 1] != '/' || len >= PATH_MAX)
        return errno = EINVAL, -1;
    dirfd = beneath_open(rootfd, len > 1 ? path + 1 : "", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return -1;
    if (collect(rootfd, path + 1, dirfd, &items, &n, &truncated) < 0) /* takes dirfd */
        return -1;
    memfd = memfd_create("portico-listing", MFD_CLOEXEC);
    wfd = memfd < 0 ? -1 : dup(memfd);
    f = wfd < 0 ? NULL : fdopen(wfd, "w");
    if (f == NULL) {
        saved = errno;
        if (wfd >= 0)
            close(wfd);
        if (memfd >= 0)
            close(memfd);
        memfd = -1;
        goto done;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Index of ",
          f);
    put_escaped(f, path, len);
    fprintf(f, "</title>\n<style>%s</style></head>\n<body><main>\n<h1>Index of ", style);
    put_escaped(f, path, len);
    fputs("</h1>\n<table>\n"
          "<tr><th>Name</th><th class=\"s\">Size</th><th class=\"m\">Modified (UTC)</th></tr>\n",
          f);
    if (len > 1)
        fputs("<tr><td class=\"n\"><a href=\"../\">../</a></td><td class=\"s\"></td>"
              "<td class=\"m\"></td></tr>\n",
              f);
    for (i = 0; i < n; i++)
        put_row(f, &items[i]);
    fputs("</table>\n", f);
    if (truncated)
        fprintf(f, "<p>Only the first %d entries are shown.</p>\n", LISTING_MAX);
    fputs("<footer>portico</footer>\n</main></body></html>\n", f);
    saved = ferror(f) ? EIO : 0;
    if (fclose(f) != 0 && saved == 0)
        saved = errno;
    if (saved == 0 && fstat(memfd, &st) < 0)
        saved = errno;
    if (saved != 0) {
        close(memfd);
        memfd = -1;
    } else {
        *out_len = (uint64_t)st.st_size;
    }
done:
    for (i = 0; i < n; i++)
        free(items[i].name);
    free(items);
    if (memfd < 0)
        errno = saved;
    return memfd;
}

/* Where live reload's script goes into an HTML page, and the ETag of a page with it:
 * the page's bytes are read (a window at a time, from the end for </body>, from the
 * start for </head>) once per version of a file. Nothing is ever written to a file. */
#include "build-config.h"

#include <string.h>
#include <unistd.h>

#include "portico/htmlspot.h"
#include "portico/live.h" /* the script's path */
#include "portico/liveinject.h"

#define SPOT_WINDOW  (64 << 10) /* a page is looked at for its tags this much at a time */
#define SPOT_OVERLAP 8          /* > "</body>": a tag where two windows meet is seen */
#define SPOT_SCAN    (1 << 20)  /* and this much from either end at most: a page of many
                                   megabytes gets the script at its end, at once */

static const char tag[] = "<script src=\"" LIVE_SCRIPT_PATH "\"></script>";

/* Reads up to size bytes at off into buf; how many (0 on an error: no tag found). */
static size_t read_at(int fd, char *buf, size_t size, uint64_t off)
{
    size_t got = 0;
    ssize_t n;

    while (got < size && (n = pread(fd, buf + got, size - got, (off_t)(off + got))) > 0)
        got += (size_t)n;
    return got;
}

/* The page's text from off, a window at a time: from memory for a small file. */
static const char *window_at(int fd, const char *data, uint64_t off, uint64_t length,
                             size_t *n)
{
    static char window[SPOT_WINDOW];
    size_t want = length - off < SPOT_WINDOW ? (size_t)(length - off) : SPOT_WINDOW;

    if (data != NULL) {
        *n = want;
        return data + off;
    }
    *n = read_at(fd, window, want, off);
    return window;
}

/* The tag's place: the last </body>, looked for a window at a time from the end, else
 * the first </head> from the start, else the end; SPOT_SCAN bytes each way at most.
 * Windows overlap by a tag's length, so that none is missed where two meet. */
static uint64_t find_spot(int fd, const char *data, uint64_t length)
{
    const uint64_t step = SPOT_WINDOW - SPOT_OVERLAP;
    uint64_t off = length > SPOT_WINDOW ? length - SPOT_WINDOW : 0, scanned = 0;
    const char *text;
    size_t n;
    long at;

    for (;; off = off > step ? off - step : 0) {
        text = window_at(fd, data, off, length, &n);
        if ((at = htmlspot_last_body(text, n)) >= 0)
            return off + (uint64_t)at;
        if (off == 0 || (scanned += step) >= SPOT_SCAN)
            break;
    }
    for (off = 0; off < length && off < SPOT_SCAN; off += step) {
        text = window_at(fd, data, off, length, &n);
        if ((at = htmlspot_first_head(text, n)) >= 0)
            return off + (uint64_t)at;
        if (n < SPOT_WINDOW)
            break;
    }
    return length;
}

void live_inject(struct response *resp, int fd, uint64_t length, struct fc_file *f)
{
    if (resp->head_only) {
        resp->inject_at = length;
    } else if (f == NULL) {
        resp->inject_at = find_spot(fd, NULL, length);
    } else {
        if (f->mark == 0) /* once per version of the file */
            f->mark = find_spot(fd, f->data, length) + 1;
        resp->inject_at = f->mark - 1;
    }
    resp->inject = tag;
    resp->inject_len = sizeof(tag) - 1;
}

size_t live_etag(const char *etag, size_t len, char *out)
{
    size_t n = sizeof(LIVE_TAG_SUFFIX) - 1;

    if (len < 2 || etag[len - 1] != '"') {
        memcpy(out, etag, len);
        return len;
    }
    memcpy(out, etag, len - 1);
    memcpy(out + len - 1, LIVE_TAG_SUFFIX, n);
    out[len - 1 + n] = '"';
    out[len + n] = '\0';
    return len + n;
}

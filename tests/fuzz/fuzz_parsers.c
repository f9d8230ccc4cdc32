/* libFuzzer target for the pure header parsers, each fed the same bytes: Range,
 * HTTP dates, Accept-Encoding, entity-tag lists, path decoding, the PROXY protocol
 * header, live reload's change batches and script place, and the configuration file
 * format. Faster per execution than the whole request path. */
#include "build-config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "portico/cond.h"
#include "portico/encoding.h"
#include "portico/htmlspot.h"
#include "portico/httpdate.h"
#include "portico/livebatch.h"
#include "portico/path.h"
#include "portico/proxyproto.h"
#include "portico/range.h"
#include "portico/settings.h"
#include "portico/variant.h"

/* The input as Accept-Encoding field lines (split at '\n'): what is ranked is
 * available, once each, and the first is what encoding_choose picks. */
static void fuzz_codings(const char *s, size_t size)
{
    struct str lines[4];
    unsigned out[ENCODING_COUNT], seen = 0, all = ENCODING_GZIP | ENCODING_BR | ENCODING_ZSTD;
    int n = 0, k, i;

    while (n < 4) {
        const char *nl = memchr(s, '\n', size);
        lines[n].p = s;
        lines[n++].len = nl ? (size_t)(nl - s) : size;
        if (nl == NULL)
            break;
        size -= (size_t)(nl + 1 - s);
        s = nl + 1;
    }
    k = encoding_rank(lines, n, all & ~ENCODING_ZSTD, out);
    for (i = 0; i < k; i++) {
        if ((out[i] & ~(all & ~ENCODING_ZSTD)) || (seen & out[i]))
            abort(); /* a coding not available, or twice */
        seen |= out[i];
    }
    if (encoding_choose(lines, n, all & ~ENCODING_ZSTD) != (k > 0 ? out[0] : ENCODING_IDENTITY))
        abort();
}

/* The input as what a balancer sends first. A whole header is no longer than the input
 * or PROXY_HEADER_MAX, parses the same on its own, and one byte less of it waits for
 * more; MORE never comes once PROXY_HEADER_MAX bytes are in. */
static void fuzz_proxy(const uint8_t *data, size_t size)
{
    struct proxy_info pi, alone;
    enum proxy_result r = proxy_parse(data, size, &pi);
    uint8_t *copy;

    if (r == PROXY_MORE && size >= PROXY_HEADER_MAX)
        abort();
    if (r != PROXY_DONE)
        return;
    if (pi.len == 0 || pi.len > size || pi.len > PROXY_HEADER_MAX ||
        (pi.version != 1 && pi.version != 2) ||
        (!pi.local && (pi.src.ss_family != pi.dst.ss_family ||
                       (pi.src.ss_family != AF_INET && pi.src.ss_family != AF_INET6))))
        abort();
    /* a copy that ends with the header, so a read past it shows */
    if ((copy = malloc(pi.len)) == NULL)
        return;
    memcpy(copy, data, pi.len);
    if (proxy_parse(copy, pi.len, &alone) != PROXY_DONE || alone.len != pi.len ||
        alone.ssl != pi.ssl || proxy_parse(copy, pi.len - 1, &alone) != PROXY_MORE)
        abort();
    free(copy);
}

/* The input's lines as changed paths: whatever the names, the batch is one
 * server-sent event (it starts with "event: ", its only blank line ends it, no CR or
 * NUL) that fits a datagram; the script's place is a closing tag inside the text. */
static void fuzz_live(const char *s, size_t size)
{
    static struct livebatch b;
    static char out[LIVEBATCH_EVENT_MAX + 1];
    const char *p = s, *end = s + size, *nl;
    long at;
    size_t n;

    livebatch_clear(&b);
    for (; p < end; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            nl = end;
        if (!livebatch_ignored(p, (size_t)(nl - p), NULL, 0))
            livebatch_add(&b, p, (size_t)(nl - p), p < end && *p == 'd', 0);
    }
    n = livebatch_event(&b, out, sizeof(out));
    if (n > LIVEBATCH_EVENT_MAX || (n > 0 && (strncmp(out, "event: ", 7) != 0 ||
                                              strstr(out, "\n\n") != out + n - 2 ||
                                              memchr(out, '\r', n) || strlen(out) != n)))
        abort();
    if (((at = htmlspot_last_body(s, size)) >= 0 && (memcmp(s + at, "</", 2) != 0)) ||
        ((at = htmlspot_first_head(s, size)) >= 0 && (memcmp(s + at, "</", 2) != 0)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct byte_range ranges[RANGE_MAX];
    char out[4096], err[512], path[64];
    time_t t;
    int n, i;

    if (range_parse(s, size, 1000, ranges, &n) == RANGE_OK) {
        if (n < 1 || n > RANGE_MAX)
            abort();
        for (i = 0; i < n; i++)
            if (ranges[i].first > ranges[i].last || ranges[i].last >= 1000)
                abort(); /* a range outside the representation */
    }
    if (httpdate_parse(s, size, &t) == 0) {
        char back[HTTPDATE_LEN + 1];
        httpdate_format(t, back); /* any date we accept formats back */
    }
    fuzz_codings(s, size);
    fuzz_proxy(data, size);
    fuzz_live(s, size);
    if (size < sizeof(path)) { /* a name in the compression cache's directory */
        memcpy(path, s, size);
        path[size] = '\0';
        variant_name_valid(path);
    }
    etag_list_match(s, size, "\"abc\"", 5, 1);
    if (path_normalize(s, size, out, sizeof(out)) >= 0) {
        size_t len = strlen(out);
        if (out[0] != '/' || strstr(out, "/../") || strstr(out, "/./") ||
            (len >= 3 && strcmp(out + len - 3, "/..") == 0))
            abort(); /* a dot segment survived normalisation */
        path_is_hidden(out, len);
    }
    /* the configuration parser reads files: give it one in memory */
    {
        int fd = memfd_create("fuzz-config", 0);
        struct settings st;
        if (fd >= 0) {
            if (write(fd, data, size) == (ssize_t)size) {
                snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
                config_defaults(&st);
                config_load(&st, path, err, sizeof(err));
                config_free(&st);
            }
            close(fd);
        }
    }
    return 0;
}

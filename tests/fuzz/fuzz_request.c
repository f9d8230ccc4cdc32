/* libFuzzer target: arbitrary bytes through the real request path — llhttp
 * framing, validation, target decoding, the file cache, conditionals, ranges,
 * listings and the response writer — over memory instead of a socket, against a
 * small document root made once. The first byte picks how the input is split
 * into reads, so incremental parsing is exercised too. */
#include "build-config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/beneath.h"
#include "portico/filecache.h"
#include "portico/http.h"
#include "portico/response.h"
#include "portico/settings.h"
#include "portico/site.h"
#include "portico/static.h"
#include "portico/watch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct settings settings;
static struct static_ctx ctx;
static struct http_limits limits = {8192, 100, 4096};

static void put(const char *root, const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", root, name);
    f = fopen(path, "w");
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static char root[] = "/tmp/portico-fuzz-XXXXXX";
    char path[600];

    (void)argc;
    (void)argv;
    if (mkdtemp(root) == NULL)
        abort();
    snprintf(path, sizeof(path), "%s/dir", root);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/empty", root);
    mkdir(path, 0755);
    put(root, "index.html", "<p>index</p>\n");
    put(root, "a.txt", "0123456789abcdefghijklmnopqrstuvwxyz\n");
    put(root, "a.txt.gz", "not really gzip\n");
    put(root, "a.txt.br", "not really br\n");
    put(root, "404.html", "<p>custom 404</p>\n");
    put(root, ".hidden", "secret\n");
    put(root, "dir/b.css", "b { }\n");
    put(root, "dir/with space.txt", "space\n");
    snprintf(path, sizeof(path), "%s/link-out", root);
    if (symlink("/etc/passwd", path) < 0) {
        /* already there */
    }
    config_defaults(&settings);
    settings.listing = 1;
    settings.cache_control = "max-age=60";
    ctx.rootfd = beneath_open_root(root);
    ctx.settings = &settings;
    /* with notifications, as a worker has them: fuzzed paths walk the watch tree too */
    ctx.fc = filecache_new(ctx.rootfd, 8, 0, 1, watch_new(ctx.rootfd, 8, 0));
    ctx.now = 1795307722;
    if (ctx.rootfd < 0 || ctx.fc == NULL)
        abort();
    return 0;
}

/* What conn.c does with a response: compose it, touch every byte it would send. */
/* The request being answered, as conn.c keeps it for the handlers and amends. */
static struct exchange x;

static void answer(struct response *resp)
{
    static char out[16384];
    struct segment seg[RESPONSE_MAX_SEGMENTS];
    struct buf b;
    size_t head_len;
    int n, i;
    volatile char sink = 0;

    static_error_page(&ctx, &x, resp);
    buf_init(&b, out, sizeof(out));
    n = response_compose(&b, resp, seg, &head_len);
    for (i = 0; i < n; i++) {
        if (seg[i].mem_off + seg[i].mem_len > b.len)
            abort(); /* a segment outside what was written */
        if (seg[i].file_len > 0 && response_body_fd(resp) < 0)
            abort();
        if (seg[i].mem_len)
            sink ^= out[seg[i].mem_off + seg[i].mem_len - 1];
    }
    (void)sink;
    response_release(resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char buf[65536];
    struct http_parser p;
    struct response resp;
    size_t chunk, pos = 0, start = 0;

    if (size < 1 || size > sizeof(buf))
        return 0;
    chunk = (size_t)(data[0] % 16) + 1;
    if (data[0] >= 128)
        chunk = size; /* half the time: the whole input at once */
    memcpy(buf, data + 1, size - 1);
    size--;
    http_parser_init(&p, &limits);
    ctx.now_ms += 1;
    while (pos < size || p.req.state == HTTP_REQ_BODY) {
        size_t len = size - pos < chunk ? size - pos : chunk, used = 0;
        enum http_parse_result r = http_parse(&p, buf + start, buf + pos, len, &used);

        pos += used;
        if (r == HTTP_PARSE_HEAD) {
            x.req = &p.req;
            x.base = buf + start;
            x.site = &settings;
            response_init(&resp);
            resp.head_only = p.req.method == HTTP_HEAD;
            resp.status = site_route(&x, &settings);
            if (resp.status == 0)
                static_handle(&ctx, &x, &resp);
            answer(&resp);
        } else if (r == HTTP_PARSE_DONE) {
            http_parser_next(&p);
            start = pos;
        } else if (r == HTTP_PARSE_ERROR) {
            response_init(&resp);
            resp.status = p.req.status;
            answer(&resp);
            break;
        } else if (used == 0 && len == 0) {
            break; /* a body that needs more bytes than there are */
        }
    }
    return 0;
}

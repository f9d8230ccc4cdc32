/* Request framing and validation (src/http.c): keep-alive, Host, targets, limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "portico/http.h"
#include "portico/str.h"
#include "suites.h"

START_TEST(case_insensitive_equality)
{
    ck_assert(str_ieq("Host", 4, "host"));
    ck_assert(str_ieq("IF-NONE-MATCH", 13, "if-none-match"));
    ck_assert(!str_ieq("hos", 3, "host"));       /* a prefix */
    ck_assert(!str_ieq("hostx", 5, "host"));     /* longer */
    ck_assert(!str_ieq("host", 3, "host"));      /* the span, not the string, counts */
    ck_assert(!str_ieq("if\rmatch", 8, "if-match")); /* no case trick matches \r to - */
    ck_assert(!str_ieq("h\xcfst", 4, "host"));
    ck_assert(str_ieq("", 0, ""));
}
END_TEST

START_TEST(keep_alive_decision)
{
    ck_assert(http_keep_alive(1, 1, 0));
    ck_assert(!http_keep_alive(1, 1, HTTP_CONN_CLOSE));
    ck_assert(!http_keep_alive(1, 1, HTTP_CONN_CLOSE | HTTP_CONN_KEEP_ALIVE));
    ck_assert(!http_keep_alive(1, 0, 0));
    ck_assert(http_keep_alive(1, 0, HTTP_CONN_KEEP_ALIVE));
    ck_assert(!http_keep_alive(1, 0, HTTP_CONN_CLOSE | HTTP_CONN_KEEP_ALIVE));
    ck_assert(!http_keep_alive(2, 0, HTTP_CONN_KEEP_ALIVE));
}
END_TEST

START_TEST(connection_tokens)
{
    ck_assert_uint_eq(http_connection_tokens("close", 5), HTTP_CONN_CLOSE);
    ck_assert_uint_eq(http_connection_tokens("Keep-Alive", 10), HTTP_CONN_KEEP_ALIVE);
    ck_assert_uint_eq(http_connection_tokens(" foo , CLOSE ,", 14), HTTP_CONN_CLOSE);
    ck_assert_uint_eq(http_connection_tokens("keep-alive, Upgrade", 19), HTTP_CONN_KEEP_ALIVE);
    ck_assert_uint_eq(http_connection_tokens("closed", 6), 0);
    ck_assert_uint_eq(http_connection_tokens("", 0), 0);
}
END_TEST

static const struct {
    const char *host;
    int valid;
} host_cases[] = {
    {"example.com", 1}, {"localhost:8080", 1}, {"127.0.0.1", 1}, {"[::1]:80", 1},
    {"[::1]", 1},       {"", 1},               {"a b", 0},       {"a/b", 0},
    {"a@b", 0},         {"[::1", 0},           {"host:80x", 0},  {"[zz]", 0},
    {"x:1:2", 0},       {"[]", 0},
};

START_TEST(host_validation)
{
    const char *h = host_cases[_i].host;

    ck_assert_msg(http_host_valid(h, strlen(h)) == host_cases[_i].valid, "%s", h);
}
END_TEST

START_TEST(target_forms)
{
    struct span path, query;
    int hq;
    const char *t;

    t = "/a/b?x=1";
    ck_assert_int_eq(http_target_split(t, strlen(t), HTTP_GET, &path, &query, &hq), 0);
    ck_assert_int_eq(path.len, 4);
    ck_assert(hq);
    ck_assert_int_eq(query.off, 5);
    ck_assert_int_eq(query.len, 3);
    t = "http://example.com/p?q";
    ck_assert_int_eq(http_target_split(t, strlen(t), HTTP_GET, &path, &query, &hq), 0);
    ck_assert_int_eq(path.off, 18);
    ck_assert_int_eq(path.len, 2);
    t = "HTTPS://example.com";
    ck_assert_int_eq(http_target_split(t, strlen(t), HTTP_GET, &path, &query, &hq), 0);
    ck_assert_int_eq(path.len, 0);
    ck_assert_int_eq(http_target_split("*", 1, HTTP_OPTIONS, &path, &query, &hq), 0);
    ck_assert_int_eq(http_target_split("*", 1, HTTP_GET, &path, &query, &hq), HTTP_BAD_REQUEST);
    ck_assert_int_eq(http_target_split("foo", 3, HTTP_GET, &path, &query, &hq), HTTP_BAD_REQUEST);
    t = "ftp://x/y";
    ck_assert_int_eq(http_target_split(t, strlen(t), HTTP_GET, &path, &query, &hq),
                     HTTP_BAD_REQUEST);
    t = "http:///y";
    ck_assert_int_eq(http_target_split(t, strlen(t), HTTP_GET, &path, &query, &hq),
                     HTTP_BAD_REQUEST);
}
END_TEST

/* Where the path ends and the query begins, in both forms of target that have them. */
static const struct {
    const char *target;
    unsigned path_off, path_len, query_off, query_len;
    int has_query;
} query_cases[] = {
    {"/", 0, 1, 1, 0, 0},
    {"/p", 0, 2, 2, 0, 0},
    {"/p?", 0, 2, 3, 0, 1},
    {"/p?a=1", 0, 2, 3, 3, 1},
    {"/p?a?b", 0, 2, 3, 3, 1},
    {"/?", 0, 1, 2, 0, 1},
    {"/a/b/c.txt?x", 0, 10, 11, 1, 1},
    {"http://h/p?q", 8, 2, 11, 1, 1},
    {"http://h?q", 8, 0, 9, 1, 1},
    {"http://h", 8, 0, 8, 0, 0},
};

START_TEST(target_queries)
{
    const char *t = query_cases[_i].target;
    struct span path, query;
    int hq = -1;

    ck_assert_int_eq(http_target_split(t, strlen(t), HTTP_GET, &path, &query, &hq), 0);
    ck_assert_msg(path.off == query_cases[_i].path_off && path.len == query_cases[_i].path_len,
                  "%s: path at %u, %u bytes", t, path.off, path.len);
    ck_assert_msg(query.off == query_cases[_i].query_off &&
                      query.len == query_cases[_i].query_len,
                  "%s: query at %u, %u bytes", t, query.off, query.len);
    ck_assert_int_eq(hq, query_cases[_i].has_query);
}
END_TEST

START_TEST(method_errors)
{
    ck_assert_int_eq(http_method_error("BREW / HTTP/1.1", 15), HTTP_NOT_IMPLEMENTED);
    ck_assert_int_eq(http_method_error("FO", 2), HTTP_NOT_IMPLEMENTED);
    ck_assert_int_eq(http_method_error("G@T / HTTP/1.1", 14), HTTP_BAD_REQUEST);
    ck_assert_int_eq(http_method_error("\x16\x03\x01", 3), HTTP_BAD_REQUEST);
    ck_assert_int_eq(http_method_error(" GET", 4), HTTP_BAD_REQUEST);
}
END_TEST

static const struct http_limits limits = {8192, 100, 1024};

#define FEED_BYTEWISE ((size_t)-1)

/* Feeds a whole request through the parser: in one piece (split 0), in two
 * pieces cut at split, or one byte at a time (FEED_BYTEWISE). Returns the final
 * status: 0 when the request was read completely and valid, -1 when incomplete.
 * The bytes are an exact-size copy (the parser may rewrite them), so that a
 * sanitizer build sees any read past them. */
static int feed(const char *text, size_t len, size_t split, struct http_parser *p)
{
    char *req = malloc(len);
    size_t off = 0;
    int status = -1;

    ck_assert_ptr_nonnull(req);
    memcpy(req, text, len);
    http_parser_init(p, &limits);
    while (off < len || p->req.state == HTTP_REQ_BODY) {
        size_t n = len - off, used = 0;
        enum http_parse_result r;
        if (split == FEED_BYTEWISE && off < len)
            n = 1;
        else if (off < split)
            n = split - off;
        r = http_parse(p, req, req + off, n, &used);
        off += used;
        if (r == HTTP_PARSE_ERROR || r == HTTP_PARSE_DONE) {
            status = r == HTTP_PARSE_ERROR ? (int)p->req.status : 0;
            break;
        }
        if (r == HTTP_PARSE_AGAIN && off == len)
            break; /* incomplete */
    }
    free(req);
    return status;
}

static const struct {
    const char *req;
    int want;
} parse_cases[] = {
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0},
    {"GET / HTTP/1.0\r\n\r\n", 0},
    {"GET / HTTP/1.1\r\n\r\n", HTTP_BAD_REQUEST},                             /* no Host */
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", HTTP_BAD_REQUEST},       /* two */
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", HTTP_BAD_REQUEST},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", HTTP_VERSION_NOT_SUPPORTED},
    {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", HTTP_VERSION_NOT_SUPPORTED},
    {"GET / HTTP/3.0\r\nHost: a\r\n\r\n", HTTP_VERSION_NOT_SUPPORTED},
    {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0}, /* understood as 1.1 (RFC 9110 §2.5) */
    {"GET / HTTP/1.9\r\n\r\n", HTTP_BAD_REQUEST},    /* ... so it needs a Host */
    {"GET / HTTP/1.1\r\nHost: a \r\n\r\n", 0},      /* trailing OWS is not the value */
    {"GET / HTTP/1.1\r\nHost: a\t\r\n\r\n", 0},
    {"GET /#f HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_BAD_REQUEST},
    {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     HTTP_NOT_IMPLEMENTED},
    {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP_NOT_IMPLEMENTED},
    {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "3;ext=1\r\nabc\r\n0\r\nTrailer-Field: x\r\n\r\n", 0},
    {"GET / HTTQ/1.1\r\nHost: a\r\n\r\n", HTTP_BAD_REQUEST},
    {"GET / HTTP/1.1\nHost: a\r\n\r\n", HTTP_BAD_REQUEST},   /* bare LF, request line */
    {"GET / HTTP/1.1\r\nHost: a\n\r\n", HTTP_BAD_REQUEST},   /* bare LF, header */
    {"GET / HTTP/1.1\r\nHost: a\r\n\n", HTTP_BAD_REQUEST},   /* bare LF, empty line */
    {"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", HTTP_BAD_REQUEST}, /* bare CR */
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", HTTP_BAD_REQUEST},    /* obs-fold */
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", HTTP_BAD_REQUEST},
    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", HTTP_BAD_REQUEST},
    {"GET / HTTP/1.1\nHost: a\n\n", HTTP_BAD_REQUEST},
    {"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_BAD_REQUEST},
    {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_BAD_REQUEST},
    {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0},
    {"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_NOT_IMPLEMENTED},
    {"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_BAD_REQUEST},
    {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", HTTP_VERSION_NOT_SUPPORTED},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     HTTP_BAD_REQUEST},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
     HTTP_BAD_REQUEST},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", 0},
    {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 0},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000\r\n\r\n", HTTP_CONTENT_TOO_LARGE},
    {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n",
     HTTP_CONTENT_TOO_LARGE}, /* refused at the chunk size, before its data */
    {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
     HTTP_BAD_REQUEST}, /* obs-fold right after the colon */
    {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\nContent-Length: 1\r\n\r\nx",
     HTTP_BAD_REQUEST}, /* an empty Transfer-Encoding */
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_BAD_REQUEST},
    {"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", HTTP_BAD_REQUEST},
    {"GET /a.txt\r\n", HTTP_VERSION_NOT_SUPPORTED}, /* HTTP/0.9: no headers will come */
    {"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n", 0},
    {"GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue \r\n\r\n", 0},
    {"GET / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", HTTP_EXPECTATION_FAILED},
    {"GET / HTTP/1.0\r\nExpect: teapot\r\n\r\n", 0},
    {"GET http://a/b HTTP/1.1\r\nHost: a\r\n\r\n", 0},
};

START_TEST(parse_table)
{
    struct http_parser p;
    const char *req = parse_cases[_i].req;
    int want = parse_cases[_i].want;

    ck_assert_msg(feed(req, strlen(req), 0, &p) == want, "whole: %s", req);
    ck_assert_msg(feed(req, strlen(req), FEED_BYTEWISE, &p) == want, "bytewise: %s", req);
}
END_TEST

START_TEST(chunked_body_limit)
{
    struct http_parser p;
    char req[4096];
    int n = snprintf(req, sizeof(req),
                     "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n800\r\n");

    memset(req + n, 'x', 0x800);
    ck_assert_int_eq(feed(req, (size_t)n + 0x800, 0, &p), HTTP_CONTENT_TOO_LARGE);
}
END_TEST

START_TEST(http10_chunked_closes)
{
    struct http_parser p;
    const char *req = "GET / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked"
                      "\r\n\r\n0\r\n\r\n";

    ck_assert_int_eq(feed(req, strlen(req), 0, &p), 0);
    ck_assert(!p.req.keep_alive);
}
END_TEST

START_TEST(trailer_limit)
{
    struct http_parser p;
    static char req[12000];
    int n = sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ");

    memset(req + n, 'v', 9000);
    n += 9000;
    n += sprintf(req + n, "\r\n\r\n");
    ck_assert_int_eq(feed(req, (size_t)n, 0, &p), HTTP_HEADERS_TOO_LARGE);
}
END_TEST

/* Chunk lines with extensions (RFC 9112 §7.1.1: unknown ones are ignored, but
 * their bytes count against the header allowance). llhttp 8.1.0 refused a second
 * extension after a valued one; the malformed lines must stay refused. */
static const struct {
    const char *chunks; /* what follows the head */
    int want;
    uint64_t body, ext; /* when accepted: body bytes, extension bytes counted */
} chunk_ext_cases[] = {
    {"5;a=b;c=d\r\nhello\r\n0\r\n\r\n", 0, 5, 4},
    {"5;a=b;c=d;e=f\r\nhello\r\n0\r\n\r\n", 0, 5, 6},
    {"5;a=b;c\r\nhello\r\n0\r\n\r\n", 0, 5, 3},
    {"5;a;b=c;d=e\r\nhello\r\n0\r\n\r\n", 0, 5, 5},
    {"5;a=\"x;y\";c=d\r\nhello\r\n0\r\n\r\n", 0, 5, 8},
    {"5;a=b;c=\"x;y\"\r\nhello\r\n0\r\n\r\n", 0, 5, 8},
    {"5;a=\"\";b=c;d=\"e\"\r\nhello\r\n0\r\n\r\n", 0, 5, 9},
    {"0005;Ab-1=x.y;c_d=~!\r\nhello\r\n0\r\n\r\n", 0, 5, 12},
    {"3;a=b;c=d\r\nabc\r\n4;e=f;g=h\r\ndefg\r\n0;i=j;k=l\r\n\r\n", 0, 7, 12},
    {"0;a=b;c=d\r\n\r\n", 0, 0, 4},
    {"5;a=b;\r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0}, /* no name after ';' */
    {"5;a=b;c=d;\r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0},
    {"5;a=b; c=d\r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0}, /* spaces */
    {"5;a=b ;c=d\r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0},
    {"5;a=b;c=d \r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0},
    {"5;a=b;\tc=d\r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0},
    {"5;a=b;c=d\rhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0}, /* bare CR */
    {"5;a=b;c=d\r\r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0},
    {"5;a=b;c=\"x\ry\"\r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0},
    {"5;a=b;c=d\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0}, /* bare LF */
    {"5;a=b;c\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0},
    {"5;a=;c=d\r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0}, /* an empty value */
    {"5;a=b;c=d=e\r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0},
    {"5;a=b,c=d\r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0},
    {"5;a=b;\"c\"=d\r\nhello\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0},
    {"5;a=b;c=d\r\nhelloX\r\n0\r\n\r\n", HTTP_BAD_REQUEST, 0, 0}, /* framing still exact */
    {"5;a=b;c=d\r\nhello\r\n0;e=f;g=h\r\n", -1, 0, 0},            /* no end yet */
    {"5;a=b;c=\"x\"", -1, 0, 0},  /* ends at a closing quote: nothing read past it */
    {"5;a=b;c=d\"x\"", -1, 0, 0}, /* the same, a quote llhttp takes inside a token */
};

static void expect_chunk_ext(const char *req, size_t len, size_t split, int i)
{
    struct http_parser p;
    int got = feed(req, len, split, &p);

    ck_assert_msg(got == chunk_ext_cases[i].want, "%s at %zu: want %d, got %d",
                  split == FEED_BYTEWISE ? "bytewise" : "split", split == FEED_BYTEWISE ? 1 : split,
                  chunk_ext_cases[i].want, got);
    if (got == 0) {
        ck_assert_uint_eq(p.req.body_bytes, chunk_ext_cases[i].body);
        ck_assert_uint_eq(p.req.overhead, chunk_ext_cases[i].ext);
    }
}

/* in one piece, cut in two at every offset, and one byte at a time */
START_TEST(chunk_ext_table)
{
    char req[256];
    size_t len, split;

    len = (size_t)snprintf(req, sizeof(req),
                           "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%s",
                           chunk_ext_cases[_i].chunks);
    ck_assert_uint_lt(len, sizeof(req));
    for (split = 0; split < len; split++)
        expect_chunk_ext(req, len, split, _i);
    expect_chunk_ext(req, len, FEED_BYTEWISE, _i);
}
END_TEST

/* Many valued extensions on one line are read; past 8 KiB of them, 431. */
START_TEST(chunk_ext_many)
{
    struct http_parser p;
    static char req[32768];
    size_t n =
        (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1");
    size_t start = n;
    int i;

    for (i = 0; i < 300; i++)
        n += (size_t)sprintf(req + n, ";e%03d=v%03d", i, i);
    n += (size_t)sprintf(req + n, "\r\nx\r\n0\r\n\r\n");
    ck_assert_int_eq(feed(req, n, 0, &p), 0);
    ck_assert_uint_eq(p.req.overhead, 300 * 8);
    ck_assert_int_eq(feed(req, n, FEED_BYTEWISE, &p), 0);
    ck_assert_uint_eq(p.req.body_bytes, 1);

    n = start;
    for (i = 0; i < 1500; i++) /* 1500 * 6 counted bytes: over 8192 */
        n += (size_t)sprintf(req + n, ";e%02d=v%02d", i % 100, i % 100);
    n += (size_t)sprintf(req + n, "\r\nx\r\n0\r\n\r\n");
    ck_assert_int_eq(feed(req, n, 0, &p), HTTP_HEADERS_TOO_LARGE);
    ck_assert_int_eq(feed(req, n, FEED_BYTEWISE, &p), HTTP_HEADERS_TOO_LARGE);
}
END_TEST

START_TEST(header_limits)
{
    struct http_parser p;
    static char req[20000];
    size_t n;
    int i;

    /* 100 fields are allowed, 101 are not */
    n = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (i = 0; i < 99; i++)
        n += (size_t)sprintf(req + n, "X-%d: v\r\n", i);
    n += (size_t)sprintf(req + n, "\r\n");
    ck_assert_int_eq(feed(req, n, 0, &p), 0);
    n -= 2;
    n += (size_t)sprintf(req + n, "X-last: v\r\n\r\n");
    ck_assert_int_eq(feed(req, n, 0, &p), HTTP_HEADERS_TOO_LARGE);

    /* a head over 8 KiB: 431, or 414 when the URI alone is too long */
    n = (size_t)sprintf(req, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
    memset(req + n, 'a', 9000);
    n += 9000;
    n += (size_t)sprintf(req + n, "\r\n\r\n");
    ck_assert_int_eq(feed(req, n, 0, &p), HTTP_HEADERS_TOO_LARGE);
    n = (size_t)sprintf(req, "GET /");
    memset(req + n, 'a', 9000);
    n += 9000;
    n += (size_t)sprintf(req + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
    ck_assert_int_eq(feed(req, n, 0, &p), HTTP_URI_TOO_LONG);
    ck_assert_int_eq(feed(req, n, FEED_BYTEWISE, &p), HTTP_URI_TOO_LONG);
}
END_TEST

START_TEST(request_fields)
{
    struct http_parser p;
    const char *req = "\r\nGET /a%20b?x=1 HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n"
                      "User-Agent: ua/1\r\nReferer: http://r/\r\n\r\n";

    ck_assert_int_eq(feed(req, strlen(req), 0, &p), 0);
    ck_assert_int_eq(p.req.method, HTTP_GET);
    ck_assert_int_eq(p.req.minor, 0);
    ck_assert(p.req.keep_alive);
    ck_assert_int_eq(p.req.path.len, 6);
    ck_assert(memcmp(req + p.req.path.off, "/a%20b", 6) == 0);
    ck_assert(memcmp(req + p.req.line_start, "GET /a%20b?x=1 HTTP/1.0", 23) == 0);
    ck_assert_int_eq(p.req.line_end - p.req.line_start, 23);
    ck_assert(memcmp(req + p.req.user_agent.off, "ua/1", 4) == 0);
    ck_assert(memcmp(req + p.req.referer.off, "http://r/", 9) == 0);
}
END_TEST

START_TEST(pipelined)
{
    struct http_parser p;
    /* the second is HTTP/1.0 without Host: a request that kept the first's fields
     * would still be valid, so only the checks below can tell */
    char req[] = "GET /1 HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\nIf-None-Match: \"x\"\r\n\r\n"
                 "\r\nGET /2 HTTP/1.0\r\n\r\n";
    size_t len = strlen(req), off = 0, start = 0, used;
    int done = 0;

    http_parser_init(&p, &limits);
    while (done < 2) {
        enum http_parse_result r = http_parse(&p, req + start, req + off, len - off, &used);
        off += used;
        ck_assert_int_ne(r, HTTP_PARSE_ERROR);
        ck_assert_int_ne(r, HTTP_PARSE_AGAIN);
        if (r == HTTP_PARSE_DONE) {
            done++;
            ck_assert_int_eq(p.req.keep_alive, done == 1);
            ck_assert(req[start + p.req.path.off + 1] == '0' + done);
            /* the second request has nothing of the first's fields */
            ck_assert_int_eq(!!(p.req.present & HTTP_HDR_RANGE), done == 1);
            ck_assert_int_eq(p.req.n_if_none_match, done == 1);
            http_parser_next(&p);
            start = off;
        }
    }
    ck_assert_uint_eq(off, len);
}
END_TEST

Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("http");

    tcase_add_test(tc, case_insensitive_equality);
    tcase_add_test(tc, keep_alive_decision);
    tcase_add_test(tc, connection_tokens);
    tcase_add_loop_test(tc, host_validation, 0, sizeof(host_cases) / sizeof(host_cases[0]));
    tcase_add_test(tc, target_forms);
    tcase_add_loop_test(tc, target_queries, 0, (int)(sizeof(query_cases) / sizeof(query_cases[0])));
    tcase_add_test(tc, method_errors);
    tcase_add_loop_test(tc, parse_table, 0, sizeof(parse_cases) / sizeof(parse_cases[0]));
    tcase_add_test(tc, chunked_body_limit);
    tcase_add_test(tc, header_limits);
    tcase_add_test(tc, http10_chunked_closes);
    tcase_add_test(tc, trailer_limit);
    tcase_add_loop_test(tc, chunk_ext_table, 0,
                        sizeof(chunk_ext_cases) / sizeof(chunk_ext_cases[0]));
    tcase_add_test(tc, chunk_ext_many);
    tcase_add_test(tc, request_fields);
    tcase_add_test(tc, pipelined);
    suite_add_tcase(s, tc);
    return s;
}

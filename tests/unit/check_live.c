/* Live reload's pure parts: where the script goes in a page (htmlspot.c, and
 * live_inject over a real file), and an injected page's ETag. */
#include "build-config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "portico/htmlspot.h"
#include "portico/liveinject.h"
#include "suites.h"

static const char script_tag[] = "<script src=\"/.portico/live.js\"></script>";

static const struct spot_case {
    const char *html;
    long body, head; /* htmlspot_last_body, htmlspot_first_head */
} spot_cases[] = {
    {"<html><head></head><body>x</body></html>", 26, 12},
    {"<p>a</body> <p>b</BODY>\n", 16, -1},        /* the last one, any case */
    {"</Body >", 0, -1},
    {"</body\n>", 0, -1},
    {"</bodyguard></body>", 12, -1},              /* a whole tag name */
    {"</body", -1, -1},                           /* its end unseen: the next window's */
    {"</bodyguard>", -1, -1},
    {"<head><title>t</title></HEAD><p>no body", -1, 22},
    {"</head></head>", -1, 0},                      /* the first </head> */
    {"plain text, no tags", -1, -1},
    {"", -1, -1},
    {"<", -1, -1},
    {"</", -1, -1},
    {"< /body>", -1, -1},
};

START_TEST(test_spot)
{
    const struct spot_case *c = &spot_cases[_i];
    size_t n = strlen(c->html);

    ck_assert_int_eq(htmlspot_last_body(c->html, n), c->body);
    ck_assert_int_eq(htmlspot_first_head(c->html, n), c->head);
}
END_TEST

/* A file in a temporary file: where live_inject puts the tag, read from disk. */
static uint64_t inject_into(const char *text, size_t len)
{
    struct response resp;
    FILE *f = tmpfile();

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    fflush(f);
    response_init(&resp);
    live_inject(&resp, fileno(f), len, NULL);
    fclose(f);
    ck_assert_str_eq(resp.inject, script_tag);
    ck_assert_uint_eq(resp.inject_len, strlen(script_tag));
    return resp.inject_at;
}

static char big[300 << 10];

/* Past the window looked at: a </body> near the end is found; a </head> near the
 * start when there is none; else the end. */
START_TEST(test_inject_file)
{
    size_t n = sizeof(big);

    ck_assert_uint_eq(inject_into("<p>hi</body></html>", 19), 5);
    ck_assert_uint_eq(inject_into("<head></head>", 13), 6);
    ck_assert_uint_eq(inject_into("no tags", 7), 7);
    memset(big, 'x', n);
    memcpy(big + 10, "</head>", 7);
    memcpy(big + n - 20, "</body>", 7);
    ck_assert_uint_eq(inject_into(big, n), n - 20);
    memset(big + n - 20, 'x', 7);
    ck_assert_uint_eq(inject_into(big, n), 10);
    memset(big + 10, 'x', 7);
    ck_assert_uint_eq(inject_into(big, n), n);
    /* far from the end, and where two of the windows read meet */
    memcpy(big + 100, "</body>", 7);
    ck_assert_uint_eq(inject_into(big, n), 100);
    memset(big + 100, 'x', 7);
    memcpy(big + n - (64 << 10) - 3, "</body>", 7);
    ck_assert_uint_eq(inject_into(big, n), n - (64 << 10) - 3);
    memset(big + n - (64 << 10) - 3, 'x', 7);
    memcpy(big + (64 << 10) - 3, "</head>", 7);
    ck_assert_uint_eq(inject_into(big, n), (64 << 10) - 3);
}
END_TEST

static const struct etag_case {
    const char *in, *out;
} etag_cases[] = {
    {"\"1234-5678\"", "\"1234-5678-live\""},
    {"W/\"1a-2b\"", "W/\"1a-2b-live\""},
    {"\"\"", "\"-live\""},
};

START_TEST(test_etag)
{
    char out[LIVE_ETAG_MAX];
    const struct etag_case *c = &etag_cases[_i];
    size_t n = live_etag(c->in, strlen(c->in), out);

    ck_assert_uint_eq(n, strlen(c->out));
    ck_assert_str_eq(out, c->out);
}
END_TEST

Suite *live_suite(void)
{
    Suite *s = suite_create("live");
    TCase *tc = tcase_create("inject");

    tcase_add_loop_test(tc, test_spot, 0, (int)(sizeof(spot_cases) / sizeof(spot_cases[0])));
    tcase_add_test(tc, test_inject_file);
    tcase_add_loop_test(tc, test_etag, 0, (int)(sizeof(etag_cases) / sizeof(etag_cases[0])));
    suite_add_tcase(s, tc);
    return s;
}

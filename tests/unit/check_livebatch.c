/* Live reload's pure parts (src/util/livebatch.c): ignored paths, which batches
 * update in place and which reload, the debounce, the event text and its bounds. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "portico/livebatch.h"
#include "suites.h"

struct ignore_case {
    const char *path;
    const char *patterns[3];
    int want;
};

static const struct ignore_case ignore_cases[] = {
    {"/", {NULL}, 0},
    {"/index.html", {NULL}, 0},
    {"/css/site.css", {NULL}, 0},
    {"/.hidden", {NULL}, 1},
    {"/.git/objects/ab", {NULL}, 1},
    {"/a/.b/c.css", {NULL}, 1},
    {"/node_modules/x/y.js", {NULL}, 1},
    {"/lib/node_modules", {NULL}, 1},
    {"/node_modules2/x", {NULL}, 0},
    {"/a~", {NULL}, 1},
    {"/dir~/x.css", {NULL}, 1},
    {"/a.swp", {NULL}, 1},
    {"/a.swx", {NULL}, 1},
    {"/a.swpx", {NULL}, 0},
    {"/#a.css#", {NULL}, 1},
    {"/#", {NULL}, 0},
    {"/#a.css", {NULL}, 0},
    {"/4913", {NULL}, 1},
    {"/49130", {NULL}, 0},
    {"/sub/4913", {NULL}, 1},
    /* a pattern without '/': any one component */
    {"/a.log", {"*.log"}, 1},
    {"/deep/er/a.log", {"*.log"}, 1},
    {"/a.log.txt", {"*.log"}, 0},
    {"/build/x.css", {"build"}, 1},
    {"/src/build/x.css", {"build"}, 1},
    {"/builder/x.css", {"build"}, 0},
    {"/dist/a", {"dist/"}, 1},
    {"/x/dist", {"dist/"}, 1},
    {"/tmp1/a", {"tmp?"}, 1},
    {"/a", {"*.log", "a"}, 1},
    {"/b", {"*.log", "a"}, 0},
    /* with '/': the path from the root, leading '/' optional, directories above */
    {"/gen/a.css", {"/gen"}, 1},
    {"/gen/a.css", {"gen/*"}, 1},
    {"/gen/sub/a.css", {"gen/*"}, 1},
    {"/src/gen/a.css", {"/gen"}, 0},
    {"/src/gen/a.css", {"src/gen"}, 1},
    {"/src/gen", {"/src/gen/"}, 1},
    {"/src/genx/a", {"src/gen"}, 0},
    {"/a/b/c.map", {"a/*.map"}, 0}, /* '*' does not cross '/' */
    {"/a/c.map", {"a/*.map"}, 1},
    {"/a/b/c.map", {"a/*/*.map"}, 1},
    {"/x", {"", "/", "//"}, 0}, /* empty patterns match nothing */
};

START_TEST(ignore_table)
{
    const struct ignore_case *tc = &ignore_cases[_i];
    int n = 0;

    while (n < 3 && tc->patterns[n] != NULL)
        n++;
    ck_assert_msg(livebatch_ignored(tc->path, strlen(tc->path), tc->patterns, n) == tc->want,
                  "%s with %s: want %d", tc->path, n ? tc->patterns[0] : "(none)", tc->want);
}
END_TEST

START_TEST(ignore_span)
{
    /* the length bounds the path: what follows is not looked at */
    ck_assert_int_eq(livebatch_ignored("/a.css/.git", 6, NULL, 0), 0);
    ck_assert_int_eq(livebatch_ignored("/a.css/.git", 11, NULL, 0), 1);
}
END_TEST

START_TEST(ignore_too_long)
{
    static char path[PATH_MAX + 2];

    memset(path, 'a', sizeof(path) - 1);
    path[0] = '/';
    ck_assert_int_eq(livebatch_ignored(path, PATH_MAX - 1, NULL, 0), 0);
    ck_assert_int_eq(livebatch_ignored(path, PATH_MAX, NULL, 0), 1);
}
END_TEST

/* A batch of up to four changes ("d:" marks a directory) and its exact event. */
struct event_case {
    const char *changes[5];
    const char *want;
};

static const struct event_case event_cases[] = {
    {{"/a.css"}, "event: update\ndata: /a.css\n\n"},
    {{"/a.css", "/img/b.png"}, "event: update\ndata: /a.css\ndata: /img/b.png\n\n"},
    {{"/a.css", "/a.css", "/a.css"}, "event: update\ndata: /a.css\n\n"},
    {{"/A.CSS", "/x.JPeG"}, "event: update\ndata: /A.CSS\ndata: /x.JPeG\n\n"},
    {{"/1.jpg", "/2.gif", "/3.webp", "/4.avif"},
     "event: update\ndata: /1.jpg\ndata: /2.gif\ndata: /3.webp\ndata: /4.avif\n\n"},
    {{"/5.svg", "/6.ico", "/7.bmp", "/8.apng"},
     "event: update\ndata: /5.svg\ndata: /6.ico\ndata: /7.bmp\ndata: /8.apng\n\n"},
    {{"/index.html"}, "event: reload\ndata: /index.html\n\n"},
    {{"/a.css", "/index.html"}, "event: reload\ndata: /a.css\n\n"},
    {{"/app.js", "/a.css"}, "event: reload\ndata: /app.js\n\n"},
    {{"d:/img.png"}, "event: reload\ndata: /img.png\n\n"}, /* a directory, whatever its name */
    {{"/a.css", "d:/new"}, "event: reload\ndata: /a.css\n\n"},
    {{"d:/"}, "event: reload\ndata: /\n\n"},
    {{"/css"}, "event: reload\ndata: /css\n\n"},
    {{"/a.css.map"}, "event: reload\ndata: /a.css.map\n\n"},
    {{"/sub.css/x"}, "event: reload\ndata: /sub.css/x\n\n"},
    /* names that would break the stream's framing are never written */
    {{"/evil\n.css"}, "event: reload\ndata: /\n\n"},
    {{"/evil\r.css", "/a.css"}, "event: reload\ndata: /\n\n"},
    {{"/a.css", "/x\ndata: /y.css"}, "event: reload\ndata: /a.css\n\n"},
    {{"relative.css"}, "event: reload\ndata: /\n\n"},
};

static void add_change(struct livebatch *b, const char *c, uint64_t now)
{
    int dir = strncmp(c, "d:", 2) == 0;

    livebatch_add(b, c + (dir ? 2 : 0), strlen(c) - (dir ? 2 : 0), dir, now);
}

START_TEST(event_table)
{
    const struct event_case *tc = &event_cases[_i];
    struct livebatch b;
    char out[LIVEBATCH_EVENT_MAX + 1];
    size_t n;
    int i;

    memset(&b, 0, sizeof(b));
    for (i = 0; i < 5 && tc->changes[i] != NULL; i++)
        add_change(&b, tc->changes[i], 100 + (uint64_t)i);
    n = livebatch_event(&b, out, sizeof(out));
    ck_assert_str_eq(out, tc->want);
    ck_assert_uint_eq(n, strlen(tc->want));
}
END_TEST

/* Changes at the given times (ms; 0 ends the list), the wait asked at `at`. */
struct wait_case {
    uint64_t adds[6];
    uint64_t at;
    long want;
};

static const struct wait_case wait_cases[] = {
    {{0}, 1000, -1},
    {{1000}, 1000, 75},
    {{1000}, 1050, 25},
    {{1000}, 1075, 0},
    {{1000}, 5000, 0},
    {{1000, 1050}, 1050, 75},
    {{1000, 1050}, 1100, 25},
    {{1000, 1070, 1140, 1210}, 1210, 75},
    {{1000, 1500, 1900}, 1900, 75},
    {{1000, 1500, 1950}, 1950, 50}, /* at most a second after the first change */
    {{1000, 1500, 1999}, 1999, 1},
    {{1000, 1500, 1999}, 2000, 0},
    {{1000, 1200, 1400, 1600, 1800, 1990}, 1990, 10},
    {{1000, 900}, 1000, 75}, /* a clock that went back does not move the end earlier */
};

START_TEST(wait_table)
{
    const struct wait_case *tc = &wait_cases[_i];
    struct livebatch b;
    int i;

    memset(&b, 0, sizeof(b));
    for (i = 0; i < 6 && tc->adds[i] != 0; i++)
        livebatch_add(&b, "/a.css", 6, 0, tc->adds[i]);
    ck_assert_int_eq(livebatch_wait_ms(&b, tc->at), tc->want);
}
END_TEST

START_TEST(burst_is_one_event)
{
    struct livebatch b;
    char out[LIVEBATCH_EVENT_MAX + 1], path[32];
    uint64_t now = 5000;
    int i, events = 0;

    memset(&b, 0, sizeof(b));
    /* 40 writes 5 ms apart: nothing is due until 75 ms after the last */
    for (i = 0; i < 40; i++, now += 5) {
        snprintf(path, sizeof(path), "/f%02d.html", i);
        if (livebatch_wait_ms(&b, now) == 0)
            events++;
        livebatch_add(&b, path, strlen(path), 0, now);
    }
    ck_assert_int_eq(events, 0);
    ck_assert_int_eq(livebatch_wait_ms(&b, now), 70);
    ck_assert_uint_gt(livebatch_event(&b, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "event: reload\ndata: /f00.html\n\n");
}
END_TEST

START_TEST(too_many_paths)
{
    struct livebatch b;
    char out[LIVEBATCH_EVENT_MAX + 1], path[32];
    int i;

    memset(&b, 0, sizeof(b));
    for (i = 0; i < LIVEBATCH_PATHS; i++) {
        snprintf(path, sizeof(path), "/s%02d.css", i);
        livebatch_add(&b, path, strlen(path), 0, 1);
    }
    livebatch_event(&b, out, sizeof(out));
    ck_assert(strncmp(out, "event: update\ndata: /s00.css\n", 29) == 0);
    ck_assert(strstr(out, "data: /s31.css\n\n") != NULL);
    livebatch_add(&b, "/s05.css", 8, 0, 2); /* seen already: still an update */
    livebatch_event(&b, out, sizeof(out));
    ck_assert(strncmp(out, "event: update\n", 14) == 0);
    livebatch_add(&b, "/s32.css", 8, 0, 3);
    livebatch_event(&b, out, sizeof(out));
    ck_assert_str_eq(out, "event: reload\ndata: /s00.css\n\n");
}
END_TEST

/* Long names: the update must fit LIVEBATCH_EVENT_MAX, else it is a reload. */
START_TEST(event_size_bound)
{
    static char path[LIVEBATCH_EVENT_MAX];
    struct livebatch b;
    char out[LIVEBATCH_EVENT_MAX + 1];
    size_t n, longest = LIVEBATCH_EVENT_MAX - 14 - 7 - 1; /* head, "data: " "\n", end */
    int i;

    memset(path, 'x', sizeof(path));
    path[0] = '/';
    memset(&b, 0, sizeof(b));
    memcpy(path + longest - 4, ".css", 4);
    livebatch_add(&b, path, longest, 0, 1);
    n = livebatch_event(&b, out, sizeof(out));
    ck_assert_uint_eq(n, LIVEBATCH_EVENT_MAX);
    ck_assert(strncmp(out, "event: update\n", 14) == 0);
    ck_assert_uint_eq(livebatch_event(&b, out, LIVEBATCH_EVENT_MAX), 0); /* no room for NUL */

    livebatch_clear(&b);
    memcpy(path + longest - 3, ".css", 4);
    livebatch_add(&b, path, longest + 1, 0, 1); /* one byte too long: named "/" */
    ck_assert_uint_eq(livebatch_event(&b, out, sizeof(out)), 23);
    ck_assert_str_eq(out, "event: reload\ndata: /\n\n");

    livebatch_clear(&b);
    for (i = 0; i < 5; i++) { /* five of 1000 bytes do not fit: a reload */
        memset(path + 1, 'a' + i, 995);
        memcpy(path + 996, ".css", 4);
        livebatch_add(&b, path, 1000, 0, 1);
    }
    n = livebatch_event(&b, out, sizeof(out));
    ck_assert(strncmp(out, "event: reload\ndata: /aaa", 24) == 0);
    ck_assert_uint_eq(n, 14 + 6 + 1000 + 2);
}
END_TEST

START_TEST(empty_and_clear)
{
    struct livebatch b;
    char out[64];

    memset(&b, 0, sizeof(b));
    ck_assert_uint_eq(livebatch_event(&b, out, sizeof(out)), 0);
    livebatch_add(&b, "/evil\n", 6, 0, 10);
    livebatch_add(&b, "/a.css", 6, 0, 20);
    ck_assert_int_eq(livebatch_wait_ms(&b, 20), 75);
    livebatch_clear(&b);
    ck_assert_int_eq(livebatch_wait_ms(&b, 20), -1);
    ck_assert_uint_eq(livebatch_event(&b, out, sizeof(out)), 0);
    /* nothing of the last burst stays: not its reload, not its first path */
    livebatch_add(&b, "/b.png", 6, 0, 500);
    ck_assert_int_eq(livebatch_wait_ms(&b, 500), 75);
    ck_assert_uint_eq(livebatch_event(&b, out, sizeof(out)), 28);
    ck_assert_str_eq(out, "event: update\ndata: /b.png\n\n");
    ck_assert_uint_eq(livebatch_event(&b, out, 28), 0); /* too small */
}
END_TEST

Suite *livebatch_suite(void)
{
    Suite *s = suite_create("livebatch");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, ignore_table, 0, sizeof(ignore_cases) / sizeof(ignore_cases[0]));
    tcase_add_test(tc, ignore_span);
    tcase_add_test(tc, ignore_too_long);
    tcase_add_loop_test(tc, event_table, 0, sizeof(event_cases) / sizeof(event_cases[0]));
    tcase_add_loop_test(tc, wait_table, 0, sizeof(wait_cases) / sizeof(wait_cases[0]));
    tcase_add_test(tc, burst_is_one_event);
    tcase_add_test(tc, too_many_paths);
    tcase_add_test(tc, event_size_bound);
    tcase_add_test(tc, empty_and_clear);
    suite_add_tcase(s, tc);
    return s;
}

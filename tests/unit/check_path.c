/* Percent-decoding, dot-segment removal and hidden-path rules (src/util/path.c). */
#include <string.h>

#include "portico/path.h"
#include "suites.h"

struct norm_case {
    const char *in;
    long want; /* PATH_OK: compare with out; else the error */
    const char *out;
};

static const struct norm_case norm_cases[] = {
    {"/", PATH_OK, "/"},
    {"/index.html", PATH_OK, "/index.html"},
    {"/a/b/", PATH_OK, "/a/b/"},
    {"//a///b", PATH_OK, "/a/b"},
    {"/a/./b", PATH_OK, "/a/b"},
    {"/a/b/..", PATH_OK, "/a/"},
    {"/a/b/../c", PATH_OK, "/a/c"},
    {"/a/.", PATH_OK, "/a/"},
    {"/a/%2e%2e/b", PATH_OK, "/b"},
    {"/a/%2E%2E/b", PATH_OK, "/b"},
    {"/a/.%2e/b", PATH_OK, "/b"},
    {"/%2e/x", PATH_OK, "/x"},
    {"/with%20space.txt", PATH_OK, "/with space.txt"},
    {"/%e2%82%ac", PATH_OK, "/\xe2\x82\xac"},
    {"/%252e%252e/x", PATH_OK, "/%2e%2e/x"}, /* decoded once only */
    {"/..\\..\\etc", PATH_OK, "/..\\..\\etc"}, /* a backslash is an ordinary byte */
    {"/%5c..%5c", PATH_OK, "/\\..\\"},
    {"/..", PATH_ABOVE_ROOT, NULL},
    {"/../x", PATH_ABOVE_ROOT, NULL},
    {"/a/../../x", PATH_ABOVE_ROOT, NULL},
    {"/%2e%2e/x", PATH_ABOVE_ROOT, NULL},
    {"/%2E%2e", PATH_ABOVE_ROOT, NULL},
    {"/a%2fb", PATH_ENCODED_SLASH, NULL},
    {"/..%2f..%2fetc", PATH_ENCODED_SLASH, NULL},
    {"/%2F", PATH_ENCODED_SLASH, NULL},
    {"/a%00b", PATH_NUL, NULL},
    {"/%00", PATH_NUL, NULL},
    {"/%zz", PATH_BAD_ESCAPE, NULL},
    {"/%4", PATH_BAD_ESCAPE, NULL},
    {"/%", PATH_BAD_ESCAPE, NULL},
    {"/%g0", PATH_BAD_ESCAPE, NULL},
    {"", PATH_NOT_ABSOLUTE, NULL},
    {"a/b", PATH_NOT_ABSOLUTE, NULL},
};

START_TEST(normalize_table)
{
    const struct norm_case *tc = &norm_cases[_i];
    char out[256];
    long n = path_normalize(tc->in, strlen(tc->in), out, sizeof(out));

    if (tc->want == PATH_OK) {
        ck_assert_msg(n >= 0, "%s: error %ld", tc->in, n);
        ck_assert_str_eq(out, tc->out);
        ck_assert_int_eq(n, (long)strlen(tc->out));
    } else {
        ck_assert_msg(n == tc->want, "%s: got %ld want %ld", tc->in, n, tc->want);
    }
}
END_TEST

START_TEST(normalize_too_long)
{
    char out[8];

    ck_assert_int_eq(path_normalize("/abcdefghij", 11, out, sizeof(out)), PATH_TOO_LONG);
    ck_assert_int_eq(path_normalize("/abcdef", 7, out, sizeof(out)), 7);
}
END_TEST

START_TEST(hidden)
{
    ck_assert(path_is_hidden("/.env", 5));
    ck_assert(path_is_hidden("/.git/config", 12));
    ck_assert(path_is_hidden("/a/.hidden/b", 12));
    ck_assert(path_is_hidden("/.well-knownx/a", 15));
    ck_assert(path_is_hidden("/.well-known/.x", 15));
    ck_assert(!path_is_hidden("/.well-known/a.txt", 18));
    ck_assert(!path_is_hidden("/.well-known", 12));
    ck_assert(!path_is_hidden("/a.b/c.d", 8));
    ck_assert(!path_is_hidden("/", 1));
    ck_assert(path_is_hidden("/sub/.well-known/a", 18));
}
END_TEST

START_TEST(encode)
{
    char out[64];

    ck_assert_int_eq(path_encode("/a b/<x>\"#?%", 12, out, sizeof(out)), 26);
    ck_assert_str_eq(out, "/a%20b/%3Cx%3E%22%23%3F%25");
    ck_assert_int_eq(path_encode("/\xe2\x82\xac", 4, out, sizeof(out)), 10);
    ck_assert_str_eq(out, "/%E2%82%AC");
    ck_assert_int_eq(path_encode("/abc", 4, out, 4), -1);
}
END_TEST

START_TEST(encode_name)
{
    char out[64];

    /* a name becomes one relative-link segment: '/', ':', '?', '#' must not survive */
    ck_assert_int_eq(path_encode_name("a:b/c?d#e f", 11, out, sizeof(out)), 21);
    ck_assert_str_eq(out, "a%3Ab%2Fc%3Fd%23e%20f");
    ck_assert_int_eq(path_encode_name("x-y_z.~1", 8, out, sizeof(out)), 8);
    ck_assert_str_eq(out, "x-y_z.~1");
}
END_TEST

/* What spa and fallback may name: a file portico would serve, as written. */
static const struct {
    const char *path;
    int ok;
} served_cases[] = {
    {"/index.html", 1}, {"/docs/index.html", 1}, {"/.well", 0}, {"/a/../b", 0},
    {"/a/./b", 0},      {"index.html", 0},       {"/a?b", 0},   {"/a#b", 0},
    {"/a b", 0},        {"/a\tb", 0},            {"/a\rb", 0}, {"/a\x7f", 0},
};

START_TEST(served_file)
{
    ck_assert_msg(path_is_served_file(served_cases[_i].path) == served_cases[_i].ok, "%s",
                  served_cases[_i].path);
}
END_TEST

Suite *path_suite(void)
{
    Suite *s = suite_create("path");
    TCase *tc = tcase_create("path");

    tcase_add_loop_test(tc, normalize_table, 0, sizeof(norm_cases) / sizeof(norm_cases[0]));
    tcase_add_test(tc, normalize_too_long);
    tcase_add_test(tc, hidden);
    tcase_add_test(tc, encode);
    tcase_add_test(tc, encode_name);
    tcase_add_loop_test(tc, served_file, 0, sizeof(served_cases) / sizeof(served_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}

/* Entity tags, the precondition order of RFC 9110 §13.2.2 and If-Range (src/cond.c). */
#include <string.h>

#include "portico/cond.h"
#include "suites.h"

#define TAG "\"abc\""

START_TEST(etag_shape)
{
    char a[ETAG_MAX], b[ETAG_MAX];
    size_t n = etag_format(a, 1024, 1700000000, 123456789);

    ck_assert_uint_eq(n, strlen(a));
    ck_assert(a[0] == '"' && a[n - 1] == '"');
    ck_assert(strchr(a + 1, '"') == a + n - 1);
    /* the same version gives the same tag, on any machine; any change gives another */
    etag_format(b, 1024, 1700000000, 123456789);
    ck_assert_str_eq(a, b);
    etag_format(b, 1024, 1700000000, 123456790);
    ck_assert_str_ne(a, b);
    etag_format(b, 1025, 1700000000, 123456789);
    ck_assert_str_ne(a, b);
    etag_format(b, 1024, 1700000001, 123456789);
    ck_assert_str_ne(a, b);
}
END_TEST

static const struct {
    const char *list;
    int weak, want;
} match_cases[] = {
    {TAG, 0, 1},
    {TAG, 1, 1},
    {"*", 0, 1},
    {" * ", 1, 1},
    {"W/" TAG, 1, 1},
    {"W/" TAG, 0, 0},
    {"\"x\", " TAG, 0, 1},
    {"\"x\",W/\"y\" ,  " TAG, 1, 1},
    {"\"x\", \"y\"", 1, 0},
    {"\"ab\"", 1, 0},
    {"abc", 1, 0},
    {"", 1, 0},
    {"\"abc", 1, 0},
};

START_TEST(list_match)
{
    const char *l = match_cases[_i].list;

    ck_assert_msg(etag_list_match(l, strlen(l), TAG, strlen(TAG), match_cases[_i].weak) ==
                      match_cases[_i].want,
                  "%s", l);
}
END_TEST

#define LM 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */
#define S(x) {x, sizeof(x) - 1}
#define NONE {NULL, 0}
#define L(x) {{S(x)}, 1}
#define LNONE {{NONE}, 0}

static const struct {
    struct cond_headers h;
    int get;
    enum http_status want;
} order_cases[] = {
    /* If-Match decides first; If-Unmodified-Since only without it */
    {{L(TAG), LNONE, NONE, NONE, NONE}, 1, 0},
    {{L("\"zz\""), LNONE, NONE, NONE, NONE}, 1, HTTP_PRECONDITION_FAILED},
    {{L("W/" TAG), LNONE, NONE, NONE, NONE}, 1, HTTP_PRECONDITION_FAILED},
    {{L("*"), LNONE, NONE, NONE, NONE}, 1, 0},
    {{LNONE, LNONE, NONE, S("Sun, 06 Nov 1994 08:49:36 GMT"), NONE}, 1, HTTP_PRECONDITION_FAILED},
    {{LNONE, LNONE, NONE, S("Sun, 06 Nov 1994 08:49:37 GMT"), NONE}, 1, 0},
    {{LNONE, LNONE, NONE, S("not a date"), NONE}, 1, 0},
    {{L(TAG), LNONE, NONE, S("Sun, 06 Nov 1994 08:49:36 GMT"), NONE}, 1, 0},
    /* If-None-Match: weak comparison, 304 for GET/HEAD, 412 otherwise */
    {{LNONE, L(TAG), NONE, NONE, NONE}, 1, HTTP_NOT_MODIFIED},
    {{LNONE, L("W/" TAG), NONE, NONE, NONE}, 1, HTTP_NOT_MODIFIED},
    {{LNONE, L("*"), NONE, NONE, NONE}, 1, HTTP_NOT_MODIFIED},
    {{LNONE, L(TAG), NONE, NONE, NONE}, 0, HTTP_PRECONDITION_FAILED},
    {{LNONE, L("\"zz\""), NONE, NONE, NONE}, 1, 0},
    /* If-Modified-Since only without If-None-Match, only for GET/HEAD, bad dates ignored */
    {{LNONE, LNONE, S("Sun, 06 Nov 1994 08:49:37 GMT"), NONE, NONE}, 1, HTTP_NOT_MODIFIED},
    {{LNONE, LNONE, S("Sun, 06 Nov 1994 08:49:38 GMT"), NONE, NONE}, 1, HTTP_NOT_MODIFIED},
    {{LNONE, LNONE, S("Sun, 06 Nov 1994 08:49:36 GMT"), NONE, NONE}, 1, 0},
    {{LNONE, LNONE, S("Sunday, 06-Nov-94 08:49:37 GMT"), NONE, NONE}, 1, HTTP_NOT_MODIFIED},
    {{LNONE, LNONE, S("Sun Nov  6 08:49:37 1994"), NONE, NONE}, 1, HTTP_NOT_MODIFIED},
    {{LNONE, LNONE, S("yesterday"), NONE, NONE}, 1, 0},
    {{LNONE, LNONE, S("Sun, 06 Nov 1994 08:49:37 GMT"), NONE, NONE}, 0, 0},
    {{LNONE, L("\"zz\""), S("Sun, 06 Nov 1994 08:49:37 GMT"), NONE, NONE}, 1, 0},
    /* a failed If-Match wins over a matching If-None-Match */
    {{L("\"zz\""), L(TAG), NONE, NONE, NONE}, 1, HTTP_PRECONDITION_FAILED},
};

START_TEST(list_on_several_lines)
{
    struct cond_headers h;

    memset(&h, 0, sizeof(h));
    h.if_none_match.line[0].p = "\"nope\"";
    h.if_none_match.line[0].len = 6;
    h.if_none_match.line[1].p = TAG;
    h.if_none_match.line[1].len = strlen(TAG);
    h.if_none_match.n = 2;
    ck_assert_int_eq(cond_evaluate(&h, 1, TAG, strlen(TAG), LM), HTTP_NOT_MODIFIED);
    h.if_match = h.if_none_match;
    h.if_none_match.n = 0;
    ck_assert_int_eq(cond_evaluate(&h, 1, TAG, strlen(TAG), LM), 0);
    h.if_match.n = 1;
    ck_assert_int_eq(cond_evaluate(&h, 1, TAG, strlen(TAG), LM), HTTP_PRECONDITION_FAILED);
}
END_TEST

START_TEST(evaluation_order)
{
    ck_assert_int_eq(cond_evaluate(&order_cases[_i].h, order_cases[_i].get, TAG, strlen(TAG), LM),
                     order_cases[_i].want);
}
END_TEST

START_TEST(if_range)
{
    struct str none = NONE, strong = S(TAG), weak = S("W/" TAG), other = S("\"x\"");
    struct str same_date = S("Sun, 06 Nov 1994 08:49:37 GMT");
    struct str later = S("Sun, 06 Nov 1994 08:49:38 GMT"), junk = S("junk");

    ck_assert(cond_if_range(&none, TAG, strlen(TAG), LM, LM + 60));
    ck_assert(cond_if_range(&strong, TAG, strlen(TAG), LM, LM + 60));
    ck_assert(!cond_if_range(&weak, TAG, strlen(TAG), LM, LM + 60));
    ck_assert(!cond_if_range(&other, TAG, strlen(TAG), LM, LM + 60));
    ck_assert(cond_if_range(&same_date, TAG, strlen(TAG), LM, LM + 60));
    ck_assert(!cond_if_range(&later, TAG, strlen(TAG), LM, LM + 60));
    ck_assert(!cond_if_range(&junk, TAG, strlen(TAG), LM, LM + 60));
    /* modified in the current second: the date is weak and never matches */
    ck_assert(!cond_if_range(&same_date, TAG, strlen(TAG), LM, LM));
    ck_assert(cond_if_range(&strong, TAG, strlen(TAG), LM, LM));
}
END_TEST

Suite *cond_suite(void)
{
    Suite *s = suite_create("cond");
    TCase *tc = tcase_create("cond");

    tcase_add_test(tc, etag_shape);
    tcase_add_loop_test(tc, list_match, 0, sizeof(match_cases) / sizeof(match_cases[0]));
    tcase_add_loop_test(tc, evaluation_order, 0, sizeof(order_cases) / sizeof(order_cases[0]));
    tcase_add_test(tc, if_range);
    tcase_add_test(tc, list_on_several_lines);
    suite_add_tcase(s, tc);
    return s;
}

/* IMF-fixdate and log date formatting (src/util/httpdate.c). */
#include <string.h>

#include "portico/httpdate.h"
#include "suites.h"

START_TEST(imf_fixdate)
{
    char out[HTTPDATE_LEN + 1];

    httpdate_format(784111777, out); /* RFC 9110's example */
    ck_assert_str_eq(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    httpdate_format(0, out);
    ck_assert_str_eq(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    httpdate_format(951782400, out); /* a leap day */
    ck_assert_str_eq(out, "Tue, 29 Feb 2000 00:00:00 GMT");
    httpdate_format(1795307722, out);
    ck_assert_str_eq(out, "Sun, 22 Nov 2026 00:35:22 GMT");
    /* out of gmtime's range: clamped, never garbage */
    httpdate_format((time_t)1 << 60, out);
    ck_assert_str_eq(out, "Fri, 31 Dec 9999 23:59:59 GMT");
    httpdate_format(-5, out);
    ck_assert_str_eq(out, "Thu, 01 Jan 1970 00:00:00 GMT");
}
END_TEST

START_TEST(log_date)
{
    char out[LOGDATE_LEN + 1];

    httpdate_format_log(784111777, out);
    ck_assert_str_eq(out, "06/Nov/1994:08:49:37 +0000");
}
END_TEST

static const struct {
    const char *text;
    long long want; /* -1: rejected */
} parse_cases[] = {
    {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777},
    {"Sunday, 06-Nov-94 08:49:37 GMT", 784111777},
    {"Sun Nov  6 08:49:37 1994", 784111777},
    {"Tue, 29 Feb 2000 00:00:00 GMT", 951782400},
    {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
    {"Sun, 22 Nov 2026 00:35:22 GMT", 1795307722},
    {"Sun, 06 Nov 1994 08:49:37 UTC", -1},
    {"Sun, 06 Nov 1994 08:49:37", -1},
    {"Sun, 6 Nov 1994 08:49:37 GMT", -1},
    {"Sun, 31 Nov 1994 08:49:37 GMT", -1},
    {"Sun, 29 Feb 1900 00:00:00 GMT", -1},
    {"Sun, 06 Foo 1994 08:49:37 GMT", -1},
    {"Sun, 06 Nov 1994 24:49:37 GMT", -1},
    {"Xyz, 06 Nov 1994 08:49:37 GMT", -1},
    {"Sunday, 06-Nov-94 08:49:37", -1},
    {"Sun Nov 6 08:49:37 1994", -1},
    {"", -1},
    {"yesterday", -1},
};

START_TEST(parse)
{
    const char *t = parse_cases[_i].text;
    time_t got = 0;
    int rc = httpdate_parse(t, strlen(t), &got);

    if (parse_cases[_i].want < 0) {
        ck_assert_msg(rc == -1, "accepted %s", t);
    } else {
        ck_assert_msg(rc == 0, "rejected %s", t);
        ck_assert_int_eq((long long)got, parse_cases[_i].want);
    }
}
END_TEST

Suite *httpdate_suite(void)
{
    Suite *s = suite_create("httpdate");
    TCase *tc = tcase_create("httpdate");

    tcase_add_test(tc, imf_fixdate);
    tcase_add_test(tc, log_date);
    tcase_add_loop_test(tc, parse, 0, sizeof(parse_cases) / sizeof(parse_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}

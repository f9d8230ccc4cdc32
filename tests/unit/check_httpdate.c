/* IMF-fixdate and log date formatting (src/util/httpdate.c). */
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
}
END_TEST

START_TEST(log_date)
{
    char out[LOGDATE_LEN + 1];

    httpdate_format_log(784111777, out);
    ck_assert_str_eq(out, "06/Nov/1994:08:49:37 +0000");
}
END_TEST

Suite *httpdate_suite(void)
{
    Suite *s = suite_create("httpdate");
    TCase *tc = tcase_create("httpdate");

    tcase_add_test(tc, imf_fixdate);
    tcase_add_test(tc, log_date);
    suite_add_tcase(s, tc);
    return s;
}

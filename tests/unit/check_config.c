/* Settings defaults and value parsing (src/config.c). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portico/settings.h"
#include "suites.h"

START_TEST(defaults)
{
    struct settings s;

    config_defaults(&s);
    ck_assert_int_eq(s.port, -1); /* decided in config_build: 80 as root, else 8080 */
    ck_assert_uint_eq(s.max_header_size, 8192);
    ck_assert_uint_eq(s.max_headers, 100);
    ck_assert(s.header_timeout > 0 && s.keepalive_timeout > 0);
}
END_TEST

START_TEST(uint_parsing)
{
    unsigned long long v;

    ck_assert_int_eq(config_parse_uint("8080", 65535, &v), 0);
    ck_assert_uint_eq(v, 8080);
    ck_assert_int_eq(config_parse_uint("65536", 65535, &v), -1);
    ck_assert_int_eq(config_parse_uint("", 65535, &v), -1);
    ck_assert_int_eq(config_parse_uint("-1", 65535, &v), -1);
    ck_assert_int_eq(config_parse_uint("12a", 65535, &v), -1);
    ck_assert_int_eq(config_parse_uint("99999999999999999999999", ~0ull, &v), -1);
}
END_TEST

START_TEST(size_parsing)
{
    uint64_t v;

    ck_assert_int_eq(config_parse_size("100", &v), 0);
    ck_assert_uint_eq(v, 100);
    ck_assert_int_eq(config_parse_size("64k", &v), 0);
    ck_assert_uint_eq(v, 65536);
    ck_assert_int_eq(config_parse_size("1M", &v), 0);
    ck_assert_uint_eq(v, 1048576);
    ck_assert_int_eq(config_parse_size("2g", &v), 0);
    ck_assert_uint_eq(v, 2147483648ull);
    ck_assert_int_eq(config_parse_size("k", &v), -1);
    ck_assert_int_eq(config_parse_size("1x", &v), -1);
    ck_assert_int_eq(config_parse_size("", &v), -1);
}
END_TEST

START_TEST(root_checks)
{
    struct settings s;
    char err[256];

    config_defaults(&s);
    s.root = "/nonexistent/portico-test";
    ck_assert_int_eq(config_check_root(&s, err, sizeof(err)), -1);
    ck_assert(strstr(err, "No such file") != NULL);
    s.root = "/dev/null";
    ck_assert_int_eq(config_check_root(&s, err, sizeof(err)), -1);
    ck_assert(strstr(err, "not a directory") != NULL);
    s.root = "/tmp/../tmp";
    ck_assert_int_eq(config_check_root(&s, err, sizeof(err)), 0);
    ck_assert_str_eq(s.root_abs, "/tmp");
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");

    tcase_add_test(tc, defaults);
    tcase_add_test(tc, uint_parsing);
    tcase_add_test(tc, size_parsing);
    tcase_add_test(tc, root_checks);
    suite_add_tcase(s, tc);
    return s;
}

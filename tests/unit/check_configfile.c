/* The configuration file parser (src/config.c): config_load, config_set,
 * config_validate, config_free. Every error path with its line number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portico/settings.h"
#include "suites.h"

/* Writes text to a new temporary file; returns its path (static buffer per call site). */
static void write_tmp(char *path, size_t len, const char *text)
{
    int fd;
    size_t n = strlen(text);

    snprintf(path, len, "/tmp/portico-check-conf-XXXXXX");
    fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp failed");
    ck_assert_msg(write(fd, text, n) == (ssize_t)n, "write failed");
    close(fd);
}

/* Loads text into fresh defaults; returns config_load's result, err filled. */
static int load_text(struct settings *s, const char *text, char *path, size_t plen, char *err,
                     size_t errlen)
{
    int rc;

    write_tmp(path, plen, text);
    config_defaults(s);
    err[0] = '\0';
    rc = config_load(s, path, err, errlen);
    unlink(path);
    return rc;
}

/* Expects text to fail at line `line` with a message containing `needle`:
 * the error reads "PATH:LINE: ...". */
static void expect_error(const char *text, int line, const char *needle)
{
    struct settings s;
    char path[64], err[512], prefix[128];
    int rc = load_text(&s, text, path, sizeof(path), err, sizeof(err));

    ck_assert_msg(rc == -1, "config_load accepted %s", text);
    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "want '%s...' for %s, got '%s'",
                  prefix, text, err);
    ck_assert_msg(strstr(err, needle) != NULL, "want '%s' in '%s'", needle, err);
    ck_assert_msg(strchr(err, '\n') == NULL && strchr(err, '\r') == NULL,
                  "error is not one line: '%s'", err);
    config_free(&s);
}

static void expect_ok(struct settings *s, const char *text)
{
    char path[64], err[512];
    int rc = load_text(s, text, path, sizeof(path), err, sizeof(err));

    ck_assert_msg(rc == 0, "config_load rejected '%s': %s", text, err);
}

START_TEST(simple_file)
{
    struct settings s;

    expect_ok(&s, "root /srv/www\n"
                  "port 8081\n"
                  "bind 127.0.0.1\n"
                  "workers 3\n"
                  "header-timeout 7\n"
                  "keepalive-timeout 8\n"
                  "send-timeout 9\n"
                  "max-body-size 64k\n"
                  "max-connections 100\n"
                  "revalidate 0\n"
                  "hsts 31536000\n"
                  "user www-data\n"
                  "pid-file /run/portico.pid\n"
                  "access-log /var/log/portico/access.log\n");
    ck_assert_str_eq(s.root, "/srv/www");
    ck_assert_int_eq(s.port, 8081);
    ck_assert_str_eq(s.bind_addr, "127.0.0.1");
    ck_assert_int_eq(s.workers, 3);
    ck_assert_uint_eq(s.header_timeout, 7);
    ck_assert_uint_eq(s.keepalive_timeout, 8);
    ck_assert_uint_eq(s.send_timeout, 9);
    ck_assert_uint_eq(s.max_body_size, 65536);
    ck_assert_uint_eq(s.max_connections, 100);
    ck_assert_uint_eq(s.revalidate, 0);
    ck_assert_int_eq(s.hsts, 31536000);
    ck_assert_str_eq(s.user, "www-data");
    ck_assert_str_eq(s.pid_file, "/run/portico.pid");
    ck_assert_str_eq(s.access_log, "/var/log/portico/access.log");
    /* what the file does not name keeps its default */
    ck_assert_uint_eq(s.max_header_size, 8192);
    ck_assert_int_eq(s.precompressed, 1);
    ck_assert_int_eq(s.listing, 0);
    config_free(&s);
}
END_TEST

START_TEST(empty_and_comment_only)
{
    struct settings s, d;

    expect_ok(&s, "");
    config_defaults(&d);
    ck_assert_int_eq(s.port, d.port);
    ck_assert_ptr_null(s.root);
    config_free(&s);
    expect_ok(&s, "# only a comment\n\n   \n\t# indented\n\r\n");
    ck_assert_int_eq(s.port, d.port);
    ck_assert_ptr_null(s.cache_control);
    config_free(&s);
}
END_TEST

START_TEST(comments)
{
    struct settings s;

    expect_ok(&s, "# a comment\n"
                  "   # an indented comment\n"
                  "port 81 # after a space\n"
                  "cache-control no-cache\t# after a tab\n"
                  "root /srv/www#not-a-comment\n");
    ck_assert_int_eq(s.port, 81);
    ck_assert_str_eq(s.cache_control, "no-cache");
    ck_assert_str_eq(s.root, "/srv/www#not-a-comment");
    config_free(&s);
}
END_TEST

START_TEST(hash_inside_value)
{
    struct settings s;

    expect_ok(&s, "cache-control a#b\n");
    ck_assert_str_eq(s.cache_control, "a#b");
    config_free(&s);
    expect_ok(&s, "cache-control a#b # c\n");
    ck_assert_str_eq(s.cache_control, "a#b");
    config_free(&s);
    expect_ok(&s, "cache-control a #b\n");
    ck_assert_str_eq(s.cache_control, "a");
    config_free(&s);
}
END_TEST

START_TEST(values_with_spaces)
{
    struct settings s;

    expect_ok(&s, "cache-control public, max-age=60\n"
                  "root /srv/my site\n");
    ck_assert_str_eq(s.cache_control, "public, max-age=60");
    ck_assert_str_eq(s.root, "/srv/my site");
    config_free(&s);
}
END_TEST

START_TEST(whitespace)
{
    struct settings s;

    /* leading, between (several, tabs) and trailing whitespace is not part of anything */
    expect_ok(&s, "  port\t \t 82  \t\n"
                  "\tcache-control   public, max-age=5   \n");
    ck_assert_int_eq(s.port, 82);
    ck_assert_str_eq(s.cache_control, "public, max-age=5");
    config_free(&s);
}
END_TEST

START_TEST(crlf)
{
    struct settings s;

    expect_ok(&s, "# windows\r\nport 83\r\ncache-control public, max-age=60\r\n\r\n"
                  "root /srv/www\r\nlisting on\r\n");
    ck_assert_int_eq(s.port, 83);
    ck_assert_str_eq(s.cache_control, "public, max-age=60");
    ck_assert_str_eq(s.root, "/srv/www");
    ck_assert_int_eq(s.listing, 1);
    config_free(&s);
}
END_TEST

START_TEST(no_final_newline)
{
    struct settings s;

    expect_ok(&s, "port 84\ncache-control last");
    ck_assert_int_eq(s.port, 84);
    ck_assert_str_eq(s.cache_control, "last");
    config_free(&s);
}
END_TEST

START_TEST(booleans)
{
    static const char *const yes[] = {"on", "yes", "true", "1"};
    static const char *const no[] = {"off", "no", "false", "0"};
    static const char *const keys[] = {"listing", "quiet", "chroot", "precompressed", "tls",
                                       "redirect-https"};
    char text[128];
    size_t i, k;

    for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        for (i = 0; i < 4; i++) {
            struct settings s;
            int *field;

            snprintf(text, sizeof(text), "%s %s\n", keys[k], yes[i]);
            expect_ok(&s, text);
            field = strcmp(keys[k], "listing") == 0         ? &s.listing
                    : strcmp(keys[k], "quiet") == 0         ? &s.quiet
                    : strcmp(keys[k], "chroot") == 0        ? &s.chroot
                    : strcmp(keys[k], "precompressed") == 0 ? &s.precompressed
                    : strcmp(keys[k], "tls") == 0           ? &s.tls
                                                            : &s.redirect_https;
            ck_assert_msg(*field == 1, "%s %s gave %d", keys[k], yes[i], *field);
            config_free(&s);
            snprintf(text, sizeof(text), "%s %s\n", keys[k], no[i]);
            expect_ok(&s, text);
            field = strcmp(keys[k], "listing") == 0         ? &s.listing
                    : strcmp(keys[k], "quiet") == 0         ? &s.quiet
                    : strcmp(keys[k], "chroot") == 0        ? &s.chroot
                    : strcmp(keys[k], "precompressed") == 0 ? &s.precompressed
                    : strcmp(keys[k], "tls") == 0           ? &s.tls
                                                            : &s.redirect_https;
            ck_assert_msg(*field == 0, "%s %s gave %d", keys[k], no[i], *field);
            config_free(&s);
        }
    }
}
END_TEST

START_TEST(precompressed_off)
{
    struct settings s;

    expect_ok(&s, "precompressed off\n");
    ck_assert_int_eq(s.precompressed, 0);
    config_free(&s);
}
END_TEST

START_TEST(bad_boolean)
{
    expect_error("listing maybe\n", 1, "maybe");
    expect_error("root /x\nchroot 2\n", 2, "'2'");
    expect_error("quiet onn\n", 1, "onn");
}
END_TEST

START_TEST(unknown_key)
{
    expect_error("foo bar\n", 1, "unknown key 'foo'");
    expect_error("# c\nroot /x\nfoo bar\n", 3, "unknown key 'foo'");
    expect_error("config /etc/portico.conf\n", 1, "unknown key 'config'");
    expect_error("check-config on\n", 1, "unknown key 'check-config'");
    expect_error("port=80\n", 1, "unknown key 'port=80'");
}
END_TEST

START_TEST(unknown_key_without_value)
{
    expect_error("port 80\n\nfoo\n", 3, "unknown key 'foo'");
}
END_TEST

START_TEST(missing_value)
{
    expect_error("port\n", 1, "needs a value");
    expect_error("root /x\nport   \n", 2, "needs a value");
    expect_error("root /x\nport # comment\n", 2, "needs a value");
    expect_error("\n\ncache-control\r\n", 3, "needs a value");
    expect_error("listing", 1, "needs a value");
    expect_error("tls-cert\n", 1, "needs a value");
}
END_TEST

START_TEST(missing_value_names_key)
{
    expect_error("port 80\nworkers\n", 2, "workers");
}
END_TEST

START_TEST(bad_numbers)
{
    expect_error("port abc\n", 1, "invalid port 'abc'");
    expect_error("\nport 80x\n", 2, "invalid port '80x'");
    expect_error("port -1\n", 1, "'-1'");
    expect_error("port +80\n", 1, "'+80'");
    expect_error("port 8 0\n", 1, "'8 0'");
    expect_error("workers many\n", 1, "'many'");
    expect_error("header-timeout 10s\n", 1, "'10s'");
    expect_error("keepalive-timeout 1.5\n", 1, "'1.5'");
    expect_error("send-timeout x\n", 1, "'x'");
    expect_error("max-body-size 1x\n", 1, "'1x'");
    expect_error("max-body-size k\n", 1, "'k'");
    expect_error("max-connections -5\n", 1, "'-5'");
    expect_error("revalidate soon\n", 1, "'soon'");
    expect_error("hsts forever\n", 1, "'forever'");
    expect_error("tls-port abc\n", 1, "'abc'");
}
END_TEST

START_TEST(out_of_range)
{
    expect_error("port 65536\n", 1, "'65536'");
    expect_error("# x\nport 99999999999999999999999\n", 2, "'99999999999999999999999'");
    expect_error("tls-port 70000\n", 1, "'70000'");
    expect_error("workers 0\n", 1, "'0'");
    expect_error("header-timeout 0\n", 1, "'0'");
    expect_error("keepalive-timeout 0\n", 1, "'0'");
    expect_error("max-connections 0\n", 1, "'0'");
    expect_error("max-body-size 99999999999999999999g\n", 1, "'99999999999999999999g'");
}
END_TEST

START_TEST(in_range_edges)
{
    struct settings s;

    expect_ok(&s, "port 65535\ntls-port 0\nworkers 1\nmax-body-size 0\nrevalidate 0\n");
    ck_assert_int_eq(s.port, 65535);
    ck_assert_int_eq(s.tls_port, 0);
    ck_assert_int_eq(s.workers, 1);
    ck_assert_uint_eq(s.max_body_size, 0);
    config_free(&s);
    expect_ok(&s, "port 0\nmax-body-size 2g\n");
    ck_assert_int_eq(s.port, 0);
    ck_assert_uint_eq(s.max_body_size, 2147483648ull);
    config_free(&s);
}
END_TEST

START_TEST(duplicate_key)
{
    expect_error("port 80\nroot /x\nport 81\n", 3, "set twice");
    expect_error("port 80\nroot /x\nport 81\n", 3, "port");
    expect_error("listing on\n# again\nlisting off\n", 3, "set twice");
    expect_error("cache-control a\ncache-control a\n", 2, "set twice");
    expect_error("root /a\r\nroot /b\r\n", 2, "set twice");
    expect_error("user a\nuser b\n", 2, "user");
    expect_error("pid-file /a\npid-file /b\n", 2, "pid-file");
    expect_error("port 80\n\nport 81\n", 3, "(first on line 1)");
    /* two keys of one setting */
    expect_error("precompressed on\nno-precompressed on\n", 2,
                 "'no-precompressed' is set twice (as 'precompressed' on line 1)");
    expect_error("no-precompressed on\n# c\nprecompressed on\n", 3, "set twice");
}
END_TEST

START_TEST(first_error_wins)
{
    /* the first bad line is reported even when a later one is bad too */
    expect_error("root /x\nport abc\nfoo bar\n", 2, "invalid port 'abc'");
}
END_TEST

START_TEST(cert_pairs)
{
    struct settings s;
    char err[256];

    expect_ok(&s, "tls-cert /c/a.pem\ntls-key /c/a.key\n"
                  "tls-cert /c/b.pem\ntls-key /c/b.key\n"
                  "tls-cert /c/c.pem\ntls-key /c/c.key\n");
    ck_assert_int_eq(s.ntls_cert, 3);
    ck_assert_int_eq(s.ntls_key, 3);
    ck_assert_str_eq(s.tls_cert[0], "/c/a.pem");
    ck_assert_str_eq(s.tls_key[0], "/c/a.key");
    ck_assert_str_eq(s.tls_cert[2], "/c/c.pem");
    ck_assert_str_eq(s.tls_key[2], "/c/c.key");
    ck_assert_int_eq(s.tls, 1);
    ck_assert_int_eq(config_validate(&s, err, sizeof(err)), 0);
    config_free(&s);
}
END_TEST

START_TEST(cert_without_key)
{
    struct settings s;
    char err[256];

    expect_ok(&s, "tls-cert /c/a.pem\n");
    err[0] = '\0';
    ck_assert_int_eq(config_validate(&s, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "each tls-cert needs its tls-key") != NULL, "err '%s'", err);
    config_free(&s);
    expect_ok(&s, "tls-cert /c/a.pem\ntls-key /c/a.key\ntls-cert /c/b.pem\n");
    ck_assert_int_eq(config_validate(&s, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "each tls-cert needs its tls-key") != NULL, "err '%s'", err);
    config_free(&s);
    expect_ok(&s, "tls-key /c/a.key\n");
    ck_assert_int_eq(config_validate(&s, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "each tls-cert needs its tls-key") != NULL, "err '%s'", err);
    config_free(&s);
}
END_TEST

START_TEST(validate_defaults_ok)
{
    struct settings s;
    char err[256];

    config_defaults(&s);
    ck_assert_int_eq(config_validate(&s, err, sizeof(err)), 0);
    config_free(&s);
}
END_TEST

START_TEST(missing_file)
{
    struct settings s;
    char err[512];
    const char *path = "/nonexistent/portico-test.conf";

    config_defaults(&s);
    ck_assert_int_eq(config_load(&s, path, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "/nonexistent/portico-test.conf: No such file or directory");
    config_free(&s);
}
END_TEST

START_TEST(directory_is_no_file)
{
    struct settings s;
    char err[512];

    config_defaults(&s);
    ck_assert_int_eq(config_load(&s, "/tmp", err, sizeof(err)), -1);
    ck_assert_msg(strncmp(err, "/tmp", 4) == 0, "err '%s' does not name the path", err);
    config_free(&s);
}
END_TEST

START_TEST(strings_outlive_the_file)
{
    struct settings s;
    char path[64], err[256];

    write_tmp(path, sizeof(path), "root /srv/kept\ncache-control kept\n");
    config_defaults(&s);
    ck_assert_int_eq(config_load(&s, path, err, sizeof(err)), 0);
    unlink(path);
    ck_assert_str_eq(s.root, "/srv/kept");
    ck_assert_str_eq(s.cache_control, "kept");
    config_free(&s);
    config_free(&s); /* a second free is harmless */
}
END_TEST

START_TEST(small_error_buffer)
{
    struct settings s;
    char path[64];
    char err[24];

    memset(err, 'X', sizeof(err));
    write_tmp(path, sizeof(path), "a-very-long-unknown-key-name-that-will-not-fit value\n");
    config_defaults(&s);
    ck_assert_int_eq(config_load(&s, path, err, 16), -1);
    unlink(path);
    ck_assert_msg(memchr(err, '\0', 16) != NULL, "error not terminated within errlen");
    ck_assert_msg(err[16] == 'X', "wrote past errlen");
    config_free(&s);
}
END_TEST

START_TEST(line_numbers_count_everything)
{
    /* blank lines, comments, CRLF and whitespace-only lines all count */
    expect_error("# 1\n\n   \r\n\t# 4\nport 80\r\nbogus 1\n", 6, "unknown key 'bogus'");
}
END_TEST

START_TEST(set_direct)
{
    struct settings s;
    char err[256];

    config_defaults(&s);
    ck_assert_int_eq(config_set(&s, "port", "8088", err, sizeof(err)), 0);
    ck_assert_int_eq(s.port, 8088);
    ck_assert_int_eq(config_set(&s, "cache-control", "public, max-age=60", err, sizeof(err)), 0);
    ck_assert_str_eq(s.cache_control, "public, max-age=60");
    ck_assert_int_eq(config_set(&s, "listing", "yes", err, sizeof(err)), 0);
    ck_assert_int_eq(s.listing, 1);
    ck_assert_int_eq(config_set(&s, "listing", "off", err, sizeof(err)), 0);
    ck_assert_int_eq(s.listing, 0);
    ck_assert_int_eq(config_set(&s, "chroot", "on", err, sizeof(err)), 0);
    ck_assert_int_eq(s.chroot, 1);
    ck_assert_int_eq(config_set(&s, "user", "nobody", err, sizeof(err)), 0);
    ck_assert_str_eq(s.user, "nobody");
    ck_assert_int_eq(config_set(&s, "pid-file", "/run/p.pid", err, sizeof(err)), 0);
    ck_assert_str_eq(s.pid_file, "/run/p.pid");
    ck_assert_int_eq(config_set(&s, "max-body-size", "1m", err, sizeof(err)), 0);
    ck_assert_uint_eq(s.max_body_size, 1048576);

    err[0] = '\0';
    ck_assert_int_eq(config_set(&s, "port", "abc", err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "invalid port 'abc'") != NULL, "err '%s'", err);
    ck_assert_int_eq(s.port, 8088); /* a bad value leaves the setting alone */
    ck_assert_int_eq(config_set(&s, "listing", "perhaps", err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "perhaps") != NULL, "err '%s'", err);
    ck_assert_int_eq(config_set(&s, "no-such-key", "1", err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "no-such-key") != NULL, "err '%s'", err);
    ck_assert_int_eq(config_set(&s, "workers", "0", err, sizeof(err)), -1);
    config_free(&s);
}
END_TEST

START_TEST(set_cert_pairs)
{
    struct settings s;
    char err[256];

    config_defaults(&s);
    ck_assert_int_eq(config_set(&s, "tls-cert", "/a.pem", err, sizeof(err)), 0);
    ck_assert_int_eq(config_set(&s, "tls-key", "/a.key", err, sizeof(err)), 0);
    ck_assert_int_eq(config_set(&s, "tls-cert", "/b.pem", err, sizeof(err)), 0);
    ck_assert_int_eq(config_set(&s, "tls-key", "/b.key", err, sizeof(err)), 0);
    ck_assert_int_eq(s.ntls_cert, 2);
    ck_assert_int_eq(s.ntls_key, 2);
    ck_assert_str_eq(s.tls_cert[1], "/b.pem");
    ck_assert_str_eq(s.tls_key[1], "/b.key");
    ck_assert_int_eq(config_validate(&s, err, sizeof(err)), 0);
    config_free(&s);
}
END_TEST

START_TEST(too_many_certs)
{
    struct settings s;
    char text[4096], err[512], path[64];
    size_t len = 0;
    int i, rc;

    for (i = 0; i <= SETTINGS_MAX_CERTS; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len,
                                "tls-cert /c/%d.pem\ntls-key /c/%d.key\n", i, i);
    rc = load_text(&s, text, path, sizeof(path), err, sizeof(err));
    ck_assert_int_eq(rc, -1);
    {
        char prefix[128];
        /* the first pair past the limit is on line 2 * SETTINGS_MAX_CERTS + 1 */
        snprintf(prefix, sizeof(prefix), "%s:%d: ", path, 2 * SETTINGS_MAX_CERTS + 1);
        ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "want '%s...', got '%s'",
                      prefix, err);
    }
    config_free(&s);
}
END_TEST

START_TEST(validate_needs_tls)
{
    struct settings s;
    char err[256];

    expect_ok(&s, "redirect-https on\n");
    ck_assert_int_eq(config_validate(&s, err, sizeof(err)), -1);
    config_free(&s);
    expect_ok(&s, "tls on\nredirect-https on\nhsts 600\n");
    ck_assert_int_eq(config_validate(&s, err, sizeof(err)), 0);
    config_free(&s);
}
END_TEST

Suite *configfile_suite(void)
{
    Suite *s = suite_create("configfile");
    TCase *tc = tcase_create("configfile");

    tcase_add_test(tc, simple_file);
    tcase_add_test(tc, empty_and_comment_only);
    tcase_add_test(tc, comments);
    tcase_add_test(tc, hash_inside_value);
    tcase_add_test(tc, values_with_spaces);
    tcase_add_test(tc, whitespace);
    tcase_add_test(tc, crlf);
    tcase_add_test(tc, no_final_newline);
    tcase_add_test(tc, booleans);
    tcase_add_test(tc, precompressed_off);
    tcase_add_test(tc, bad_boolean);
    tcase_add_test(tc, unknown_key);
    tcase_add_test(tc, unknown_key_without_value);
    tcase_add_test(tc, missing_value);
    tcase_add_test(tc, missing_value_names_key);
    tcase_add_test(tc, bad_numbers);
    tcase_add_test(tc, out_of_range);
    tcase_add_test(tc, in_range_edges);
    tcase_add_test(tc, duplicate_key);
    tcase_add_test(tc, first_error_wins);
    tcase_add_test(tc, cert_pairs);
    tcase_add_test(tc, cert_without_key);
    tcase_add_test(tc, validate_defaults_ok);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, directory_is_no_file);
    tcase_add_test(tc, strings_outlive_the_file);
    tcase_add_test(tc, small_error_buffer);
    tcase_add_test(tc, line_numbers_count_everything);
    tcase_add_test(tc, set_direct);
    tcase_add_test(tc, set_cert_pairs);
    tcase_add_test(tc, too_many_certs);
    tcase_add_test(tc, validate_needs_tls);
    suite_add_tcase(s, tc);
    return s;
}

/* Sites: [site] sections read by config_build (what a site inherits, every mistake
 * as FILE:LINE) and the choice of a site by Host (src/site.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portico/settings.h"
#include "portico/site.h"
#include "suites.h"

/* Builds settings from text as a configuration file; config_build's result. */
static int build(struct settings *s, const char *text, char *path, size_t plen, char *err,
                 size_t errlen)
{
    struct config_source src = {0};
    int fd, rc;
    size_t n = strlen(text);

    snprintf(path, plen, "/tmp/portico-check-site-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    src.path = path;
    err[0] = '\0';
    rc = config_build(s, &src, err, errlen);
    unlink(path);
    return rc;
}

static const char sites_conf[] =
    "root /tmp\n"
    "cache-control max-age=60\n"
    "header /* X-Global: 1\n"
    "\n"
    "[site example.com www.Example.com]\n"
    "root /\n"
    "header /assets/* Cache-Control: immutable\n"
    "clean-urls on\n"
    "[site *.example.org]\n"
    "spa\n"
    "cors https://a.example https://b.example\n"
    "[site *.deep.example.org  other.test.]\n"
    "listing on\n";

struct host_case {
    const char *host;
    int site;
};

static const struct host_case host_cases[] = {
    {"example.com", 1},
    {"EXAMPLE.COM", 1},
    {"www.example.com", 1},
    {"example.com.", 1},            /* the trailing dot of a fully qualified name */
    {"x.example.com", 0},           /* no wildcard for example.com */
    {"example.org", 0},             /* "*.example.org" is not example.org itself */
    {"a.example.org", 2},
    {"a.b.example.org", 2},         /* any depth */
    {"a.deep.example.org", 3},      /* the longest wildcard wins */
    {"deep.example.org", 2},
    {"other.test", 3},
    {"other.testx", 0},
    {"xexample.org", 0},
    {"", 0},                        /* HTTP/1.0 without Host */
    {"127.0.0.1", 0},
};

START_TEST(host_table)
{
    const struct host_case *tc = &host_cases[_i];
    struct settings s;
    char path[64], err[512];

    ck_assert_msg(build(&s, sites_conf, path, sizeof(path), err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(s.nsites, 3);
    ck_assert_msg(site_for_host(&s, tc->host, strlen(tc->host)) == tc->site, "%s: site %d",
                  tc->host, site_for_host(&s, tc->host, strlen(tc->host)));
    config_free(&s);
}
END_TEST

/* A site inherits what it does not set, and its rules come after the global ones. */
START_TEST(inheritance)
{
    struct settings s;
    char path[64], err[512];
    const struct rule *m[4];

    ck_assert_msg(build(&s, sites_conf, path, sizeof(path), err, sizeof(err)) == 0, "%s", err);
    ck_assert_str_eq(s.sites[0].root_abs, "/");
    ck_assert_str_eq(s.sites[1].root_abs, "/tmp");
    ck_assert_str_eq(s.sites[1].cache_control, "max-age=60");
    ck_assert_int_eq(s.sites[0].clean_urls, 1);
    ck_assert_int_eq(s.clean_urls, 0);
    ck_assert_str_eq(s.sites[1].spa, "/index.html"); /* a key alone takes its default */
    ck_assert_int_eq(s.sites[1].ncors, 1);
    ck_assert_int_eq(s.sites[2].listing, 1);
    ck_assert_int_eq(s.listing, 0);
    ck_assert_str_eq(s.sites[1].names[0], "*.example.org");
    ck_assert_str_eq(s.sites[0].names[1], "www.example.com");
    ck_assert_str_eq(s.sites[2].names[1], "other.test");
    ck_assert_int_eq(rule_set_match(s.sites[0].compiled, RULE_HEADER, "/assets/a", 9, m, 4), 2);
    ck_assert_str_eq(m[0]->u.header.name, "X-Global");
    ck_assert_str_eq(m[1]->u.header.name, "Cache-Control");
    ck_assert_int_eq(rule_set_match(s.compiled, RULE_HEADER, "/assets/a", 9, m, 4), 1);
    ck_assert_int_eq(rule_set_match(s.sites[2].compiled, RULE_HEADER, "/x", 2, m, 4), 1);
    config_free(&s);
}
END_TEST

struct error_case {
    const char *text;
    int line;
    const char *needle;
};

static const struct error_case error_cases[] = {
    {"root /tmp\n[site]\n", 2, "[site] with no host name"},
    {"root /tmp\n[server x]\n", 2, "no section"},
    {"root /tmp\n[site a.test\n", 2, "no section"},
    {"root /tmp\n[site a.test]\nport 80\n", 3, "'port' is a global setting"},
    {"root /tmp\n[site a.test]\nworkers 2\n", 3, "global setting"},
    {"root /tmp\n[site a.test]\nbogus 1\n", 3, "unknown key 'bogus'"},
    {"root /tmp\n[site a.test]\nroot /nonexistent-portico\n", 2, "/nonexistent-portico"},
    {"root /tmp\n[site a.test]\nroot /tmp\nroot /\n", 4, "set twice (first on line 3)"},
    {"root /tmp\n[site a.test]\nheader assets/* X: y\n", 3, "no pattern"},
    {"root /tmp\n[site a.test]\nredirect /a /b 200\n", 3, "301, 302"},
    {"root /tmp\n[site a.test]\nheader /* Content-Length: 1\n", 3, "frames the message"},
    {"root /tmp\n[site a.test]\nspa index.html\n", 3, "no path beneath the root"},
    {"root /tmp\n[site a.test]\ncors app.example\n", 3, "no origin"},
    {"root /tmp\n[site a.test]\ncors https://a.example/path\n", 3, "no origin"},
    {"root /tmp\n[site a.test]\ncors https://a.example\x7f\n", 3, "a control character"},
    {"root /tmp\n[site a.test]\nspa /app\x7f.html\n", 3, "no path beneath the root"},
    {"root /tmp\n[site a.test]\nclean-urls maybe\n", 3, "expected on or off"},
    {"root /tmp\n[site a.test]\ntls-cert /x.pem\n", 2, "tls-cert needs its tls-key"},
    {"root /tmp\n[site a.test b.test]\n[site B.TEST]\n", 3, "'b.test' is already a name of "
                                                           "the site on line 2"},
    {"root /tmp\n[site a.test a.test]\n", 2, "already a name"},
    {"root /tmp\n[site a_b:80]\n", 2, "no host name"},
    {"root /tmp\n[site *.]\n", 2, "no host name"},
    {"root /tmp\n[site a.*.test]\n", 2, "no host name"},
    {"root /tmp\n[site a/b]\n", 2, "no host name"},
};

START_TEST(error_table)
{
    const struct error_case *tc = &error_cases[_i];
    struct settings s;
    char path[64], err[512], prefix[100];

    ck_assert_msg(build(&s, tc->text, path, sizeof(path), err, sizeof(err)) == -1,
                  "accepted %s", tc->text);
    snprintf(prefix, sizeof(prefix), "%s:%d: ", path, tc->line);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "want '%s...', got '%s'", prefix,
                  err);
    ck_assert_msg(strstr(err, tc->needle) != NULL, "want '%s' in '%s'", tc->needle, err);
    config_free(&s);
}
END_TEST

/* A site's own cors lines replace the global ones; a site without any inherits them. */
START_TEST(list_replaced)
{
    struct settings s;
    char path[64], err[512];

    ck_assert_msg(build(&s, "root /tmp\ncors https://g.example\ncors https://h.example\n"
                            "[site a.test]\ncors https://a.example\n[site b.test]\n",
                        path, sizeof(path), err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(s.ncors, 2);
    ck_assert_int_eq(s.sites[0].ncors, 1);
    ck_assert_str_eq(s.sites[0].cors[0], "https://a.example");
    ck_assert_int_eq(s.sites[1].ncors, 2);
    ck_assert_str_eq(s.sites[1].cors[1], "https://h.example");
    config_free(&s);
}
END_TEST

/* What a response can carry of a site's header rules is checked when it is loaded. */
START_TEST(header_limits)
{
    char text[8192], path[64], err[512], prefix[100];
    struct settings s;
    size_t n;
    int i;

    n = (size_t)snprintf(text, sizeof(text), "root /tmp\nheader /* X-Same: 1\n[site a.test]\n");
    for (i = 0; i < RULES_HEADER_NAMES_MAX; i++) /* the global name makes one too many */
        n += (size_t)snprintf(text + n, sizeof(text) - n, "header /x%d X-H%d: 1\n", i, i);
    ck_assert_int_eq(build(&s, text, path, sizeof(path), err, sizeof(err)), -1);
    snprintf(prefix, sizeof(prefix), "%s:3: a site has at most %d header names", path,
             RULES_HEADER_NAMES_MAX);
    ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "got '%s'", err);
    config_free(&s);
    n = (size_t)snprintf(text, sizeof(text), "root /tmp\n");
    for (i = 0; i <= RULES_HEADER_MAX; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "header /x%d X-Same: %d\n", i, i);
    ck_assert_int_eq(build(&s, text, path, sizeof(path), err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "at most 64 header rules") != NULL, "got '%s'", err);
    config_free(&s);
    n = (size_t)snprintf(text, sizeof(text), "root /tmp\n");
    for (i = 0; i < RULES_HEADER_MAX; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "header /x%d X-Same: %d\n", i, i);
    ck_assert_msg(build(&s, text, path, sizeof(path), err, sizeof(err)) == 0, "%s", err);
    config_free(&s);
}
END_TEST

Suite *site_suite(void)
{
    Suite *s = suite_create("site");
    TCase *tc = tcase_create("site");

    tcase_add_loop_test(tc, host_table, 0, sizeof(host_cases) / sizeof(host_cases[0]));
    tcase_add_test(tc, inheritance);
    tcase_add_test(tc, header_limits);
    tcase_add_test(tc, list_replaced);
    tcase_add_loop_test(tc, error_table, 0, sizeof(error_cases) / sizeof(error_cases[0]));
    suite_add_tcase(s, tc);
    return s;
}

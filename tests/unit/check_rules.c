/* Patterns, rule lines and the per-kind index of a site's rules (src/rules.c), with
 * the path normalisation in front of them: no encoding or dot segment dodges a rule. */
#include <stdio.h>
#include <string.h>

#include "portico/path.h"
#include "portico/rules.h"
#include "suites.h"

struct match_case {
    const char *pattern, *path;
    int match;
    const char *star;
};

static const struct match_case match_cases[] = {
    {"/about", "/about", 1, ""},
    {"/about", "/about/", 0, NULL},
    {"/about", "/abou", 0, NULL},
    {"/about", "/About", 0, NULL}, /* paths are case-sensitive, like the files */
    {"/", "/", 1, ""},
    {"/", "/x", 0, NULL},
    {"/*", "/", 1, ""},
    {"/*", "/a/b.css", 1, "a/b.css"},
    {"/assets/*", "/assets/app.js", 1, "app.js"},
    {"/assets/*", "/assets/", 1, ""},
    {"/assets/*", "/assets", 0, NULL}, /* the directory's own path is no file beneath it */
    {"/assets/*", "/assets-old/x", 0, NULL},
    {"/assets/*", "/a/assets/x", 0, NULL},
    {"/blog*", "/blog-2020/x", 1, "-2020/x"},
    {"*.html", "/index.html", 1, "index"},
    {"*.html", "/a/b.c.html", 1, "a/b.c"},
    {"*.html", "/INDEX.HTML", 1, "INDEX"}, /* extensions ignore case */
    {"*.html", "/a.htm", 0, NULL},
    {"*.html", "/x.html/", 0, NULL},
    {"*.html", "/.html", 0, NULL}, /* a name, not an extension */
    {"*.html", "/a/.html", 0, NULL},
    {"*.html", "/xhtml", 0, NULL},
    {"*.tar.gz", "/dl/a.tar.gz", 1, "dl/a"},
    {"*.tar.gz", "/dl/a.gz", 0, NULL},
};

START_TEST(match_table)
{
    const struct match_case *tc = &match_cases[_i];
    struct pattern p;
    struct str star;
    char err[200];
    int m;

    ck_assert_int_eq(pattern_parse(tc->pattern, &p, err, sizeof(err)), 0);
    m = pattern_match(&p, tc->path, strlen(tc->path), &star);
    ck_assert_msg(m == tc->match, "%s on %s: %d", tc->pattern, tc->path, m);
    if (m)
        ck_assert_msg(star.len == strlen(tc->star) && memcmp(star.p, tc->star, star.len) == 0,
                      "%s on %s: star '%.*s'", tc->pattern, tc->path, (int)star.len, star.p);
}
END_TEST

struct parse_case {
    int kind; /* enum rule_kind */
    const char *text;
    const char *error; /* NULL: it parses; else a piece of the reason */
};

static const struct parse_case parse_cases[] = {
    {RULE_HEADER, "/assets/* Cache-Control: public, max-age=31536000, immutable", NULL},
    {RULE_HEADER, "*.html   Cache-Control:no-cache", NULL},
    {RULE_HEADER, "/* -Server", NULL},
    {RULE_HEADER, "/* X-Frame-Options: DENY", NULL},
    {RULE_HEADER, "/* Content-Length: 5", "frames the message"},
    {RULE_HEADER, "/* -Connection", "frames the message"},
    {RULE_HEADER, "/* transfer-encoding: chunked", "frames the message"},
    {RULE_HEADER, "/* X-A: a\rInjected: yes", "a control character"},
    {RULE_HEADER, "/* X-A: a\x7f", "a control character"},
    {RULE_HEADER, "/* X-A: a\tb", NULL},
    {RULE_REDIRECT, "/r http://x/\r/y", "a control character"},
    {RULE_HEADER, "/* Bad Name: x", "no header name"},
    {RULE_HEADER, "/* NoColon", "expected 'PATTERN Name: value'"},
    {RULE_HEADER, "/*", "needs a pattern"},
    {RULE_HEADER, "assets/* X: y", "no pattern"},
    {RULE_HEADER, "/a*b X: y", "'*' may only end"},
    {RULE_HEADER, "*. X: y", "needs an extension"},
    {RULE_HEADER, "*.a/b X: y", "needs an extension"},
    {RULE_HEADER, "**.js X: y", "no pattern"},
    {RULE_REDIRECT, "/blog/* https://blog.example.com/{path}", NULL},
    {RULE_REDIRECT, "/old /new 302", NULL},
    {RULE_REDIRECT, "/old /new   308", NULL},
    {RULE_REDIRECT, "/old /new 200", "301, 302, 303, 307 or 308"},
    {RULE_REDIRECT, "/old /new 30x", "301, 302, 303, 307 or 308"},
    {RULE_REDIRECT, "/old /new 302 x", "301, 302, 303, 307 or 308"},
    {RULE_FALLBACK, "/docs/* /docs/index.html", NULL},
    {RULE_FALLBACK, "/docs/* docs/index.html", "a path beneath the root"},
    {RULE_FALLBACK, "/docs/* /a/../../etc/passwd", "a path beneath the root"},
    {RULE_FALLBACK, "/docs/* /x?y", "a path beneath the root"},
};

START_TEST(parse_table)
{
    const struct parse_case *tc = &parse_cases[_i];
    struct rule_list l = {0};
    char err[300] = "";
    int rc = rule_add(&l, (enum rule_kind)tc->kind, tc->text, 7, err, sizeof(err));

    if (tc->error == NULL) {
        ck_assert_msg(rc == 0, "%s: %s", tc->text, err);
        ck_assert_int_eq(l.n, 1);
        ck_assert_str_eq(l.v[0]->text, tc->text);
        ck_assert_int_eq(l.v[0]->line, 7);
    } else {
        ck_assert_msg(rc < 0, "%s parsed", tc->text);
        ck_assert_msg(strstr(err, tc->error) != NULL, "%s: '%s'", tc->text, err);
        ck_assert_int_eq(l.n, 0);
    }
    rule_list_free(&l);
}
END_TEST

START_TEST(header_rule_parts)
{
    struct rule_list l = {0};
    char err[200];
    const struct rule *r;

    ck_assert_int_eq(rule_add(&l, RULE_HEADER, "/a/*  Cache-Control:  no-cache  ", 1, err,
                              sizeof(err)), 0);
    ck_assert_int_eq(rule_add(&l, RULE_HEADER, "*.js -x-Powered-By", 2, err, sizeof(err)), 0);
    ck_assert_int_eq(rule_add(&l, RULE_REDIRECT, "/old https://x/{path} 307", 3, err,
                              sizeof(err)), 0);
    r = l.v[0];
    ck_assert_str_eq(r->u.header.name, "Cache-Control");
    ck_assert_str_eq(r->u.header.value, "no-cache");
    ck_assert_int_eq(r->u.header.own, OWN_CACHE_CONTROL);
    ck_assert_int_eq((int)r->u.header.line_len, (int)strlen("Cache-Control: no-cache\r\n"));
    ck_assert(memcmp(r->u.header.line, "Cache-Control: no-cache\r\n", r->u.header.line_len) == 0);
    r = l.v[1];
    ck_assert_ptr_null(r->u.header.value);
    ck_assert_str_eq(r->u.header.name, "x-Powered-By");
    ck_assert_int_eq(r->u.header.own, 0);
    r = l.v[2];
    ck_assert_str_eq(r->u.redirect.target, "https://x/{path}");
    ck_assert_int_eq(r->u.redirect.status, 307);
    rule_list_free(&l);
}
END_TEST

/* A site's rules (inherited first) and which of them match each path, in order. */
static const char *const global_rules[] = {"/* X-All: 1", "*.html X-Html: 1"};
static const char *const site_rules[] = {
    "/assets/* X-Assets: 1", "/private/* X-Private: 1", "*.HTML X-Html2: 1",
    "/ X-Root: 1",           "/about X-About: 1",       "/a* X-A: 1",
    "*.js X-Js: 1",          "/assets/js/* X-Assets-Js: 1",
};

struct set_case {
    const char *raw; /* a request's path, before normalisation */
    const char *want; /* the names of the matching rules, in order */
};

static const struct set_case set_cases[] = {
    {"/", "X-All X-Root"},
    {"/index.html", "X-All X-Html X-Html2"},
    {"/assets/js/app.js", "X-All X-Assets X-A X-Js X-Assets-Js"},
    {"/about", "X-All X-About X-A"},
    {"/about/", "X-All X-A"},
    {"/private/x", "X-All X-Private"},
    {"/%70rivate/x", "X-All X-Private"},     /* encoded: decoded before matching */
    {"/a/../private/x", "X-All X-Private"},  /* dot segments: removed before matching */
    {"/public/%2e%2e/private/x", "X-All X-Private"},
    {"//private//x", "X-All X-Private"},
    {"/Private/x", "X-All"},                 /* another path (and another file) */
    {"/x.css", "X-All"},
};

static void add_all(struct rule_list *l, const char *const *texts, size_t n)
{
    char err[200];
    size_t i;

    for (i = 0; i < n; i++)
        ck_assert_msg(rule_add(l, RULE_HEADER, texts[i], (int)i + 1, err, sizeof(err)) == 0,
                      "%s", err);
}

START_TEST(set_table)
{
    const struct set_case *tc = &set_cases[_i];
    struct rule_list g = {0}, own = {0};
    struct rule_set *rs;
    const struct rule *out[16];
    char path[256], names[256] = "";
    long len;
    int n, i;

    add_all(&g, global_rules, sizeof(global_rules) / sizeof(global_rules[0]));
    add_all(&own, site_rules, sizeof(site_rules) / sizeof(site_rules[0]));
    ck_assert_int_eq(rule_add(&own, RULE_REDIRECT, "/* /elsewhere", 9, names, sizeof(names)), 0);
    rs = rule_set_build(&g, &own);
    ck_assert_ptr_nonnull(rs);
    ck_assert_int_eq(rule_set_count(rs, RULE_HEADER), 10);
    ck_assert_int_eq(rule_set_count(rs, RULE_REDIRECT), 1);
    ck_assert_int_eq(rule_set_count(rs, RULE_AUTH), 0);
    len = path_normalize(tc->raw, strlen(tc->raw), path, sizeof(path));
    ck_assert_int_ge(len, 0);
    n = rule_set_match(rs, RULE_HEADER, path, (size_t)len, out, 16);
    names[0] = '\0';
    for (i = 0; i < n; i++)
        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? " " : "",
                 out[i]->u.header.name);
    ck_assert_msg(strcmp(names, tc->want) == 0, "%s: '%s', want '%s'", tc->raw, names, tc->want);
    ck_assert_int_eq(rule_set_match(rs, RULE_REDIRECT, path, (size_t)len, out, 16), 1);
    ck_assert_int_eq(rule_set_match(rs, RULE_FALLBACK, path, (size_t)len, out, 16), 0);
    rule_set_free(rs);
    rule_list_free(&g);
    rule_list_free(&own);
}
END_TEST

/* More matches than room: the count says so, and the first max are the first in order. */
START_TEST(set_overflow)
{
    struct rule_list l = {0};
    struct rule_set *rs;
    const struct rule *out[2];

    add_all(&l, site_rules, sizeof(site_rules) / sizeof(site_rules[0]));
    rs = rule_set_build(NULL, &l);
    ck_assert_int_eq(rule_set_match(rs, RULE_HEADER, "/assets/js/a.js", 15, out, 2), 4);
    ck_assert_str_eq(out[0]->u.header.name, "X-Assets");
    ck_assert_str_eq(out[1]->u.header.name, "X-A");
    rule_set_free(rs);
    rule_list_free(&l);
    ck_assert_int_eq(rule_set_match(NULL, RULE_HEADER, "/", 1, out, 2), 0);
}
END_TEST

/* A request refused before it had a path: the rules of every path, no others. */
START_TEST(no_path)
{
    static const char *const texts[] = {"/ X-Root: 1", "/* X-All: 1", "/a* X-A: 1",
                                        "*.html X-Html: 1", "/* X-All2: 1"};
    struct rule_list l = {0};
    struct rule_set *rs;
    const struct rule *out[4];

    add_all(&l, texts, sizeof(texts) / sizeof(texts[0]));
    rs = rule_set_build(NULL, &l);
    ck_assert_int_eq(rule_set_match(rs, RULE_HEADER, "", 0, out, 4), 2);
    ck_assert_str_eq(out[0]->u.header.name, "X-All");
    ck_assert_str_eq(out[1]->u.header.name, "X-All2");
    ck_assert_int_eq(rule_set_header_names(rs), 5);
    rule_set_free(rs);
    rule_list_free(&l);
}
END_TEST

Suite *rules_suite(void)
{
    Suite *s = suite_create("rules");
    TCase *tc = tcase_create("rules");

    tcase_add_loop_test(tc, match_table, 0, sizeof(match_cases) / sizeof(match_cases[0]));
    tcase_add_loop_test(tc, parse_table, 0, sizeof(parse_cases) / sizeof(parse_cases[0]));
    tcase_add_test(tc, header_rule_parts);
    tcase_add_loop_test(tc, set_table, 0, sizeof(set_cases) / sizeof(set_cases[0]));
    tcase_add_test(tc, set_overflow);
    tcase_add_test(tc, no_path);
    suite_add_tcase(s, tc);
    return s;
}

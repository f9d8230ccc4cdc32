/* The settings table (src/config.c): its entries agree with each other, every
 * default parses, every key works in a file, and the manual and the example
 * configuration name every option and key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portico/settings.h"
#include "suites.h"

#ifndef PORTICO_SRCDIR
#define PORTICO_SRCDIR "."
#endif

static const struct setting_def *table(size_t *n)
{
    const struct setting_def *t = config_settings(n);

    ck_assert_msg(t != NULL && *n > 0, "empty settings table");
    return t;
}

/* Reads a file of the source tree whole (the docs are distributed, so this
 * works in an out-of-tree build and under make distcheck). */
static char *read_doc(const char *name)
{
    char path[4096];
    FILE *f;
    char *text;
    long size;

    snprintf(path, sizeof(path), "%s/%s", PORTICO_SRCDIR, name);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert(fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0);
    text = malloc((size_t)size + 1);
    ck_assert(text != NULL);
    ck_assert(fread(text, 1, (size_t)size, f) == (size_t)size);
    text[size] = '\0';
    fclose(f);
    return text;
}

/* name as groff writes it, every '-' escaped: "tls\-cert" */
static void groff_escape(char *out, size_t len, const char *prefix, const char *name)
{
    size_t o = 0;
    const char *p;

    for (p = prefix; *p && o + 1 < len; p++)
        out[o++] = *p;
    for (p = name; *p && o + 2 < len; p++) {
        if (*p == '-')
            out[o++] = '\\';
        out[o++] = *p;
    }
    out[o] = '\0';
}

static int is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Does line (up to its end) hold word, not as the start of a longer name? A
 * following '\' would be "\-" going on: "\-\-tls" in "\-\-tls\-cert". */
static int line_has(const char *line, const char *end, const char *word, int after_dash_ok)
{
    size_t n = strlen(word);
    const char *p;

    for (p = line; p + n <= end; p++) {
        if (strncmp(p, word, n) != 0 || (p + n < end && (is_word(p[n]) || p[n] == '\\')))
            continue;
        if (!after_dash_ok && p > line && p[-1] == '-')
            continue; /* "\-c" inside "\-\-config" */
        return 1;
    }
    return 0;
}

/* The line after each .TP or .TQ of the manual is the tag of an entry: an
 * option (".BI \-p " PORT" "\fR, \fP\-\-port " PORT") or a key of the file
 * (".BI port " PORT"). */
static const char *next_tag(const char *text, const char **end)
{
    const char *p = text;

    while ((p = strstr(p, "\n.T")) != NULL) {
        p++;
        if (strncmp(p, ".TP\n", 4) == 0 || strncmp(p, ".TQ\n", 4) == 0) {
            p += 4;
            *end = p + strcspn(p, "\n");
            return p;
        }
    }
    return NULL;
}

/* Is the option (its long name, and its letter in the same tag) an entry of the manual? */
static int man_has_option(const char *man, const struct setting_def *d)
{
    char long_opt[128], short_opt[8] = {'\\', '-', d->short_opt, '\0'};
    const char *tag, *end, *p = man;

    groff_escape(long_opt, sizeof(long_opt), "\\-\\-", d->name);
    while ((tag = next_tag(p, &end)) != NULL) {
        p = end;
        if (line_has(tag, end, long_opt, 1) &&
            (d->short_opt == 0 || line_has(tag, end, short_opt, 0)))
            return 1;
    }
    return 0;
}

/* Is the key an entry of the manual's CONFIGURATION FILE section: ".BI key " VALUE"? */
static int man_has_key(const char *man, const struct setting_def *d)
{
    char key[128];
    const char *tag, *end, *p = man;

    groff_escape(key, sizeof(key), "", d->name);
    while ((tag = next_tag(p, &end)) != NULL) {
        size_t macro = strcspn(tag, " \n"), n = strlen(key);

        p = end;
        if (tag[0] == '.' && tag[macro] == ' ' && strncmp(tag + macro + 1, key, n) == 0 &&
            strchr(" \"\n", tag[macro + 1 + n]) != NULL)
            return 1;
    }
    return 0;
}

/* Does a line of the example start with the key, commented out or not ("#port 80")? */
static int example_has_key(const char *text, const char *key)
{
    size_t n = strlen(key);
    const char *line = text;

    while (*line != '\0') {
        const char *p = line + (*line == '#');

        p += strspn(p, " ");
        if (strncmp(p, key, n) == 0 && strchr(" \t\n", p[n]) != NULL)
            return 1;
        line += strcspn(line, "\n");
        line += *line == '\n';
    }
    return 0;
}

START_TEST(entries_agree)
{
    size_t n, i, j;
    const struct setting_def *t = table(&n);

    for (i = 0; i < n; i++) {
        const struct setting_def *d = &t[i];
        int command = d->type == SETTING_COMMAND;
        int valued = d->type != SETTING_SWITCH && d->type != SETTING_NEGATED;

        ck_assert_msg(d->name != NULL && strspn(d->name, "abcdefghijklmnopqrstuvwxyz-") ==
                                             strlen(d->name),
                      "entry %zu: name", i);
        ck_assert_msg(d->flags & (SETTING_IN_FILE | SETTING_ON_CLI), "%s: neither file nor cli",
                      d->name);
        ck_assert_msg(!command || !(d->flags & SETTING_IN_FILE), "%s: command in file", d->name);
        ck_assert_msg(!(d->flags & SETTING_ON_CLI) || d->help != NULL, "%s: no help", d->name);
        /* a switch takes no value, or exactly on|off (one that is on by default: --compress off) */
        ck_assert_msg(!(d->flags & SETTING_ON_CLI) || command ||
                          (valued ? d->arg != NULL
                                  : d->arg == NULL || strcmp(d->arg, "on|off") == 0),
                      "%s: an option takes a value exactly when it is no switch", d->name);
        ck_assert_msg(command || !valued || d->what != NULL, "%s: no name for messages",
                      d->name);
        ck_assert_msg(d->dflt == NULL || d->help == NULL || (d->flags & SETTING_ON_CLI) == 0 ||
                          strstr(d->help, "{default}") != NULL,
                      "%s: its default is not shown in --help", d->name);
        ck_assert_msg(d->help == NULL || strstr(d->help, "{default}") == NULL || d->dflt != NULL,
                      "%s: --help shows a default it has not", d->name);
        ck_assert_msg(d->short_opt == 0 || (d->flags & SETTING_ON_CLI), "%s: letter", d->name);
        for (j = 0; j < i; j++) {
            ck_assert_msg(strcmp(t[j].name, d->name) != 0, "%s twice", d->name);
            ck_assert_msg(d->short_opt == 0 || t[j].short_opt != d->short_opt,
                          "-%c for %s and %s", d->short_opt, t[j].name, d->name);
        }
    }
}
END_TEST

/* Each default parses as a value of its own setting. */
START_TEST(defaults_parse)
{
    size_t n, i;
    const struct setting_def *t = table(&n);

    for (i = 0; i < n; i++) {
        struct settings s;
        char err[256];

        if (t[i].dflt == NULL)
            continue;
        config_defaults(&s);
        ck_assert_msg(config_set(&s, t[i].name, t[i].dflt, err, sizeof(err)) == 0,
                      "default of %s: %s", t[i].name, err);
    }
}
END_TEST

START_TEST(defaults_from_table)
{
    struct settings s;

    config_defaults(&s);
    ck_assert_uint_eq(s.header_timeout, 10);
    ck_assert_uint_eq(s.body_timeout, 0);
    ck_assert_uint_eq(s.keepalive_timeout, 15);
    ck_assert_uint_eq(s.send_timeout, 30);
    ck_assert_uint_eq(s.max_body_size, 1024 * 1024);
    ck_assert_uint_eq(s.max_connections, 4096);
    ck_assert_uint_eq(s.revalidate, 1);
    ck_assert_int_eq(s.precompressed, 1);
    ck_assert_int_eq(s.port, -1);
    ck_assert_int_eq(s.tls_port, -1);
    ck_assert_int_eq(s.hsts, -1);
    ck_assert_int_eq(s.listing, 0);
    ck_assert_ptr_null(s.root);
    ck_assert_uint_eq(s.shutdown_timeout, 10);
    ck_assert_uint_eq(s.file_cache_entries, 1000);
}
END_TEST

static char htpasswd_path[] = "/tmp/portico-check-settings-htpasswd-XXXXXX", htpasswd_rule[128];

/* An auth rule with an htpasswd file of one user (bob, hunter2), made once. */
static const char *htpasswd_file(void)
{
    char *path = htpasswd_path;
    static const char line[] = "bob:$2y$04$15yZ.PvfkU7HMS05N5RVVe8fN4F4kzaJWNCFDW0AbZxtKETsb8akS\n";
    char *rule = htpasswd_rule;
    int fd;

    if (rule[0] == '\0') {
        fd = mkstemp(path);
        ck_assert(fd >= 0);
        ck_assert(write(fd, line, sizeof(line) - 1) == (ssize_t)(sizeof(line) - 1));
        close(fd);
        snprintf(rule, sizeof(htpasswd_rule), "/a/* %s", path);
    }
    return rule;
}

/* A value each type accepts. */
static const char *sample(const struct setting_def *d)
{
    static const char *const rules[RULE_KINDS] = {"/* X-A: 1", "/a /b", "/a/* /a/index.html",
                                                  NULL};
    static char num[32];

    if (strcmp(d->name, "cors") == 0)
        return "https://app.example";
    if (d->check != NULL && d->type == SETTING_LIST)
        return "10.0.0.0/8"; /* trusted-proxy, metrics-allow */
    if (d->type == SETTING_STRING && d->dflt != NULL)
        return d->dflt;
    if (d->type == SETTING_RULE && d->rule == RULE_AUTH)
        return htpasswd_file();
    switch (d->type) {
    case SETTING_RULE:
        return rules[d->rule];
    case SETTING_INT:
    case SETTING_UINT:
    case SETTING_LONG:
        snprintf(num, sizeof(num), "%llu", d->min);
        return num;
    case SETTING_SWITCH:
    case SETTING_NEGATED:
        return "on";
    case SETTING_SIZE:
        return "64k";
    default:
        return "/srv/x";
    }
}

/* Every key of the file loads once; a key given twice is an error on the
 * second line, whatever its place in the table; lists repeat. Command-line-only
 * options are no keys. */
START_TEST(every_key_in_a_file)
{
    size_t n, i;
    const struct setting_def *t = table(&n);

    for (i = 0; i < n; i++) {
        char path[] = "/tmp/portico-check-settings-XXXXXX", text[256], err[512];
        struct settings s;
        int fd = mkstemp(path), len, rc;

        ck_assert(fd >= 0);
        len = snprintf(text, sizeof(text), "%s %s\n%s %s\n", t[i].name, sample(&t[i]),
                       t[i].name, sample(&t[i]));
        ck_assert(write(fd, text, (size_t)len) == len);
        close(fd);
        config_defaults(&s);
        err[0] = '\0';
        rc = config_load(&s, path, err, sizeof(err));
        unlink(path);
        if (!(t[i].flags & SETTING_IN_FILE))
            ck_assert_msg(rc == -1 && strstr(err, ":1: unknown key") != NULL, "%s: '%s'",
                          t[i].name, err);
        else if (t[i].type == SETTING_LIST || t[i].type == SETTING_RULE)
            ck_assert_msg(rc == 0, "%s: '%s'", t[i].name, err);
        else
            ck_assert_msg(rc == -1 && strstr(err, ":2: ") && strstr(err, "set twice"),
                          "%s: '%s'", t[i].name, err);
        config_free(&s);
    }
    if (htpasswd_rule[0] != '\0')
        unlink(htpasswd_path);
}
END_TEST

START_TEST(manual_names_every_option_and_key)
{
    size_t n, i;
    const struct setting_def *t = table(&n);
    char *man = read_doc("doc/portico.8");
    char missing[2048] = "";

    for (i = 0; i < n; i++) {
        size_t used = strlen(missing);

        if ((t[i].flags & SETTING_ON_CLI) && !man_has_option(man, &t[i]))
            snprintf(missing + used, sizeof(missing) - used, " --%s", t[i].name);
        used = strlen(missing);
        if ((t[i].flags & SETTING_IN_FILE) && !man_has_key(man, &t[i]))
            snprintf(missing + used, sizeof(missing) - used, " key:%s", t[i].name);
    }
    free(man);
    ck_assert_msg(missing[0] == '\0', "doc/portico.8 has no entry (.TP tag) for:%s", missing);
}
END_TEST

START_TEST(example_names_every_key)
{
    size_t n, i;
    const struct setting_def *t = table(&n);
    char *text = read_doc("doc/portico.conf.example");
    char missing[2048] = "";

    for (i = 0; i < n; i++) {
        size_t used = strlen(missing);

        if ((t[i].flags & SETTING_IN_FILE) && !example_has_key(text, t[i].name))
            snprintf(missing + used, sizeof(missing) - used, " %s", t[i].name);
    }
    free(text);
    ck_assert_msg(missing[0] == '\0', "doc/portico.conf.example has no line for:%s", missing);
}
END_TEST

Suite *settings_suite(void)
{
    Suite *s = suite_create("settings");
    TCase *tc = tcase_create("settings");

    tcase_add_test(tc, entries_agree);
    tcase_add_test(tc, defaults_parse);
    tcase_add_test(tc, defaults_from_table);
    tcase_add_test(tc, every_key_in_a_file);
    tcase_add_test(tc, manual_names_every_option_and_key);
    tcase_add_test(tc, example_names_every_key);
    suite_add_tcase(s, tc);
    return s;
}

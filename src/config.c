/* Owns reading settings by the table (settings.c): values and their parsers, the
 * configuration file with its [site] sections, the sites made from them, and
 * validation. Pure apart from resolving roots and reading password files; it never
 * binds, forks or exits (main.c reports errors). */
#include "build-config.h"

#include <errno.h>
#include <stddef.h>
#include <strings.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/settings.h"

int config_check_root(struct settings *s, char *err, size_t errlen)
{
    struct stat st;
    char resolved[PATH_MAX];

    if (realpath(s->root, resolved) == NULL) {
        snprintf(err, errlen, "document root %s: %s", s->root, strerror(errno));
        return -1;
    }
    if (stat(resolved, &st) < 0 || !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "document root %s is not a directory", s->root);
        return -1;
    }
    if (access(resolved, R_OK | X_OK) < 0) {
        snprintf(err, errlen, "document root %s: %s", s->root, strerror(errno));
        return -1;
    }
    if (strlen(resolved) >= sizeof(s->root_abs)) {
        snprintf(err, errlen, "document root %s: path too long", s->root);
        return -1;
    }
    strcpy(s->root_abs, resolved);
    return 0;
}

/* A setting by name; command-line commands such as "config" are none. */
static const struct setting_def *find_setting(const char *name)
{
    size_t i;

    for (i = 0; i < config_nsettings; i++)
        if (config_table[i].type != SETTING_COMMAND && strcmp(config_table[i].name, name) == 0)
            return &config_table[i];
    return NULL;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = {"on", "yes", "true", "1"}, *const no[] = {"off", "no",
                                                                                 "false", "0"};
    size_t i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 0;
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 0;
    }
    return -1;
}

static int set_number(char *field, const struct setting_def *d, const char *value, char *err,
                      size_t errlen)
{
    unsigned long long v;

    if (config_parse_uint(value, d->max, &v) < 0 || v < d->min) {
        snprintf(err, errlen, "invalid %s '%s': expected a number from %llu to %llu", d->what,
                 value, d->min, d->max);
        return -1;
    }
    if (d->type == SETTING_UINT)
        *(unsigned *)field = (unsigned)v;
    else if (d->type == SETTING_LONG)
        *(long *)field = (long)v;
    else
        *(int *)field = (int)v;
    return 0;
}

static int set_list(struct settings *s, const struct setting_def *d, const char *value, char *err,
                    size_t errlen)
{
    const char **list = (const char **)((char *)s + d->field);
    int *n = (int *)((char *)s + d->count);

    if ((unsigned long long)*n >= d->max) {
        snprintf(err, errlen, "too many %ss (at most %llu): '%s'", d->what, d->max, value);
        return -1;
    }
    if (value[0] == '\0') {
        snprintf(err, errlen, "empty %s file name", d->what);
        return -1;
    }
    list[(*n)++] = value;
    return 0;
}

static int set_value(struct settings *s, const struct setting_def *d, const char *value,
                     int line, char *err, size_t errlen)
{
    char *field = (char *)s + d->field;
    int b;

    if (d->check != NULL && d->check(value, err, errlen) < 0)
        return -1;

    switch (d->type) {
    case SETTING_STRING:
        if (value[0] == '\0' || strpbrk(value, "\r\n") != NULL) {
            snprintf(err, errlen, "invalid %s '%s'", d->what, value);
            return -1;
        }
        *(const char **)field = value;
        return 0;
    case SETTING_INT:
    case SETTING_UINT:
    case SETTING_LONG:
        return set_number(field, d, value, err, errlen);
    case SETTING_SIZE:
        if (config_parse_size(value, (uint64_t *)field) < 0) {
            snprintf(err, errlen, "invalid %s '%s': expected bytes, or a number with k, m or g",
                     d->what, value);
            return -1;
        }
        return 0;
    case SETTING_SWITCH:
    case SETTING_NEGATED:
        if (parse_bool(value, &b) < 0) {
            snprintf(err, errlen, "invalid value '%s' for %s: expected on or off", value, d->name);
            return -1;
        }
        *(int *)field = d->type == SETTING_NEGATED ? !b : b;
        return 0;
    case SETTING_LIST:
        return set_list(s, d, value, err, errlen);
    case SETTING_RULE:
        return rule_add(&s->rules, d->rule, value, line, err, errlen);
    case SETTING_COMMAND:
        break;
    }
    snprintf(err, errlen, "unknown setting '%s'", d->name);
    return -1;
}

/* config_set for a line of the configuration file (0: the command line) */
static int set_at(struct settings *s, const char *key, const char *value, int line, char *err,
                  size_t errlen)
{
    const struct setting_def *d = find_setting(key);

    if (d == NULL) {
        snprintf(err, errlen, "unknown setting '%s'", key);
        return -1;
    }
    if (value[0] == '\0' && d->bare != NULL)
        value = d->bare;
    if (set_value(s, d, value, line, err, errlen) < 0)
        return -1;
    if (d->implies != NULL)
        return set_at(s, d->implies, "on", line, err, errlen);
    return 0;
}

int config_set(struct settings *s, const char *key, const char *value, char *err, size_t errlen)
{
    return set_at(s, key, value, 0, err, errlen);
}

void config_defaults(struct settings *s)
{
    char err[160];
    size_t i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < config_nsettings; i++) {
        const struct setting_def *d = &config_table[i];

        /* a -1 is decided in config_build (e.g. 80 as root, else 8080) or means "none" */
        if ((d->flags & SETTING_UNSET) && d->type == SETTING_LONG)
            *(long *)((char *)s + d->field) = -1;
        else if (d->flags & SETTING_UNSET)
            *(int *)((char *)s + d->field) = -1;
        else if (d->dflt != NULL)
            set_value(s, d, d->dflt, 0, err, sizeof(err)); /* check_settings tests each one */
    }
    /* limits that are no settings (yet) */
    s->shutdown_timeout = 10;
    s->max_header_size = 8192;
    s->max_headers = 100;
    s->file_cache_entries = 1000;
}

char *config_read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *text;
    long size;

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || size > (1 << 20) ||
        fseek(f, 0, SEEK_SET) < 0) {
        snprintf(err, errlen, "%s: not a regular file of at most 1 MiB", path);
        fclose(f);
        return NULL;
    }
    text = malloc((size_t)size + 1);
    if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) {
        snprintf(err, errlen, "%s: cannot read it", path);
        free(text);
        fclose(f);
        return NULL;
    }
    fclose(f);
    text[size] = '\0';
    return text;
}

/* Cuts a line into its key and value (the rest after the blanks that follow the
 * key); the comment and the blanks around both go. 0 for a line with no key. */
static int split_line(char *line, char **key, char **value)
{
    char *end, *hash;

    /* a comment starts at '#' at the start of a line or after a space */
    for (hash = line; (hash = strchr(hash, '#')) != NULL; hash++)
        if (hash == line || hash[-1] == ' ' || hash[-1] == '\t') {
            *hash = '\0';
            break;
        }
    *key = line + strspn(line, " \t\r");
    end = *key + strlen(*key);
    while (end > *key && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    *value = *key + strcspn(*key, " \t");
    if (**value != '\0') {
        *(*value)++ = '\0';
        *value += strspn(*value, " \t");
    }
    return **key != '\0';
}

/* The entry whose flag says a setting was given: the first key that sets its
 * member, so that precompressed and no-precompressed count as one. */
static size_t setting_index(const struct setting_def *d)
{
    size_t i;

    for (i = 0; i < config_nsettings; i++)
        if ((config_table[i].flags & SETTING_IN_FILE) && config_table[i].field == d->field)
            break;
    return i;
}

/* A [site] section's lines, kept until config_build has made the global settings
 * that the site starts from. */
struct config_section {
    int line;
    char *names; /* the header's text after "site" */
    struct config_line {
        const char *key, *value;
        int line;
    } *lines;
    int n, cap;
};

/* "[site NAME...]" opens a section; 0, or -1 with the reason in err. */
static int open_section(struct settings *s, char *key, char *value, int line, char *err,
                        size_t errlen)
{
    size_t n = strlen(value);
    struct config_section *sec;

    if (strcmp(key, "[site") != 0 || n < 2 || value[n - 1] != ']') {
        snprintf(err, errlen, "%s is no section: expected [site NAME...]",
                 strcmp(key, "[site]") == 0 ? "[site] with no host name" : key);
        return -1;
    }
    if (s->nsections == SETTINGS_MAX_SITES) {
        snprintf(err, errlen, "too many sites (at most %d)", SETTINGS_MAX_SITES);
        return -1;
    }
    sec = realloc(s->sections, (size_t)(s->nsections + 1) * sizeof(*sec));
    if (sec == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->sections = sec;
    sec = &s->sections[s->nsections++];
    memset(sec, 0, sizeof(*sec));
    value[n - 1] = '\0';
    sec->names = value;
    sec->line = line;
    return 0;
}

static int section_add(struct config_section *sec, const struct setting_def *d, const char *value,
                       int line, char *err, size_t errlen)
{
    if (!(d->flags & SETTING_SITE)) {
        snprintf(err, errlen, "'%s' is a global setting: put it before the first [site]", d->name);
        return -1;
    }
    if (sec->n == sec->cap) {
        int cap = sec->cap ? 2 * sec->cap : 8;
        struct config_line *v = realloc(sec->lines, (size_t)cap * sizeof(*v));
        if (v == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        sec->lines = v;
        sec->cap = cap;
    }
    sec->lines[sec->n++] = (struct config_line){d->name, value, line};
    return 0;
}

/* A list given again at a later level (a [site], the command line) starts empty there
 * rather than adding to the earlier level's entries; listed marks those emptied. */
static void replace_list(struct settings *s, const struct setting_def *d, unsigned char *listed)
{
    if (d->type == SETTING_LIST && !listed[d - config_table]) {
        listed[d - config_table] = 1;
        *(int *)((char *)s + d->count) = 0;
    }
}

/* Remembers which line gave each setting of one site; -1 when one is set twice. */
struct given {
    int on[SETTINGS_TABLE_MAX]; /* the line that gave each setting, however many */
    const struct setting_def *as[SETTINGS_TABLE_MAX];
};

static int give(struct given *g, const struct setting_def *d, const char *key, int line,
                char *err, size_t errlen)
{
    size_t i = setting_index(d);

    /* lists and rules are made by repeating their key */
    if (d->type != SETTING_LIST && d->type != SETTING_RULE && g->on[i]) {
        if (g->as[i] == d)
            snprintf(err, errlen, "'%s' is set twice (first on line %d)", key, g->on[i]);
        else
            snprintf(err, errlen, "'%s' is set twice (as '%s' on line %d)", key, g->as[i]->name,
                     g->on[i]);
        return -1;
    }
    g->on[i] = line;
    g->as[i] = d;
    return 0;
}

/* One line of the file: a section header, a global setting, or a site's. */
static int load_line(struct settings *s, struct given *g, char *key, char *value, int line,
                     char *err, size_t errlen)
{
    const struct setting_def *d;

    if (key[0] == '[')
        return open_section(s, key, value, line, err, errlen);
    d = find_setting(key);
    if (d == NULL || !(d->flags & SETTING_IN_FILE)) {
        snprintf(err, errlen, "unknown key '%s'", key);
        return -1;
    }
    if (*value == '\0' && d->bare == NULL) {
        snprintf(err, errlen, "'%s' needs a value", key);
        return -1;
    }
    if (s->nsections > 0)
        return section_add(&s->sections[s->nsections - 1], d, value, line, err, errlen);
    if (give(g, d, key, line, err, errlen) < 0)
        return -1;
    return set_at(s, key, value, line, err, errlen);
}

int config_load(struct settings *s, const char *path, char *err, size_t errlen)
{
    char *text, *line, *next, *key, *value;
    int lineno = 0;
    static struct given g;

    if ((text = config_read_file(path, err, errlen)) == NULL)
        return -1;
    free(s->file_text);
    s->file_text = text;
    s->config_file = path;
    memset(&g, 0, sizeof(g));
    for (line = text; line != NULL; line = next) {
        char why[600];

        lineno++;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (!split_line(line, &key, &value))
            continue;
        if (load_line(s, &g, key, value, lineno, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            return -1;
        }
    }
    return 0;
}

void config_free(struct settings *s)
{
    int i;

    for (i = 0; i < s->nsites; i++) {
        rule_set_free(s->sites[i].compiled);
        rule_list_free(&s->sites[i].rules);
    }
    free(s->sites);
    for (i = 0; i < s->nsections; i++)
        free(s->sections[i].lines);
    free(s->sections);
    rule_set_free(s->compiled);
    rule_list_free(&s->rules);
    free(s->file_text);
    s->sites = NULL;
    s->sections = NULL;
    s->compiled = NULL;
    s->nsites = s->nsections = 0;
    s->file_text = NULL;
}

/* A [site]'s names, lower case: "name", "*.name" (any name ending in ".name"), or an
 * IPv4 address; a trailing dot goes, as in the Host header. */
static int site_names(struct settings *site, char *text, char *err, size_t errlen)
{
    char *name;

    for (name = strtok(text, " \t"); name != NULL; name = strtok(NULL, " \t")) {
        size_t n = strlen(name), i;
        const char *p = name[0] == '*' && name[1] == '.' ? name + 2 : name;

        if (n > 1 && name[n - 1] == '.')
            name[--n] = '\0';
        for (i = 0; p[i] != '\0'; i++) {
            name[p - name + (long)i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
            if (strchr("abcdefghijklmnopqrstuvwxyz0123456789.-_", name[p - name + (long)i]) == NULL)
                break;
        }
        if (p[0] == '\0' || p[i] != '\0' || p[0] == '.') {
            snprintf(err, errlen, "'%s' is no host name: expected names such as example.com or "
                                  "*.example.com, with no port", name);
            return -1;
        }
        if (site->nnames == SETTINGS_MAX_NAMES) {
            snprintf(err, errlen, "a site has at most %d names", SETTINGS_MAX_NAMES);
            return -1;
        }
        site->name_len[site->nnames] = strlen(name);
        site->names[site->nnames++] = name;
    }
    return 0;
}

/* A site starts as the global settings, without their sites, rules and certificates
 * (it inherits the rules when they are compiled, and the certificates by SNI). */
static void inherit(struct settings *site, const struct settings *s, int line)
{
    *site = *s;
    site->sites = NULL;
    site->sections = NULL;
    site->nsites = site->nsections = 0;
    site->file_text = NULL;
    memset(&site->rules, 0, sizeof(site->rules));
    site->compiled = NULL;
    site->ntls_cert = site->ntls_key = 0;
    site->nnames = 0;
    site->site_line = line;
}

static int build_site(struct settings *s, struct settings *site, struct config_section *sec,
                      char *err, size_t errlen)
{
    static struct given g;
    unsigned char listed[SETTINGS_TABLE_MAX] = {0};
    int i;

    inherit(site, s, sec->line);
    if (site_names(site, sec->names, err, errlen) < 0)
        return sec->line;
    memset(&g, 0, sizeof(g));
    for (i = 0; i < sec->n; i++) {
        const struct config_line *l = &sec->lines[i];
        const struct setting_def *d = find_setting(l->key);

        replace_list(site, d, listed); /* a site's cors replaces the inherited lines */
        if (give(&g, d, l->key, l->line, err, errlen) < 0 ||
            set_at(site, l->key, l->value, l->line, err, errlen) < 0)
            return l->line;
    }
    if (site->ntls_cert != site->ntls_key) {
        snprintf(err, errlen, "each tls-cert needs its tls-key");
        return sec->line;
    }
    if (site->root != s->root && config_check_root(site, err, errlen) < 0)
        return sec->line;
    return 0;
}

/* The same name in two sites: which one would answer? */
static int names_unique(const struct settings *s, char *err, size_t errlen)
{
    int a, b, i, j;

    for (a = 0; a < s->nsites; a++)
        for (b = 0; b <= a; b++)
            for (i = 0; i < s->sites[a].nnames; i++)
                for (j = 0; j < (a == b ? i : s->sites[b].nnames); j++)
                    if (strcmp(s->sites[a].names[i], s->sites[b].names[j]) == 0) {
                        snprintf(err, errlen, "'%s' is already a name of the site on line %d",
                                 s->sites[a].names[i], s->sites[b].site_line);
                        return s->sites[a].site_line;
                    }
    return 0;
}

/* A site's certificate needs the HTTPS listener, which is global: it turns it on.
 * What needs HTTPS in a site is checked once that is known. */
static int sites_tls(struct settings *s, char *err, size_t errlen)
{
    int i;

    for (i = 0; i < s->nsites; i++)
        s->tls |= s->sites[i].ntls_cert > 0;
    for (i = 0; i < s->nsites; i++) {
        const struct settings *site = &s->sites[i];
        s->sites[i].tls = s->tls;
        if ((site->redirect_https || site->hsts >= 0) && !s->tls) {
            snprintf(err, errlen, "%s needs HTTPS: add tls, or tls-cert and tls-key",
                     site->redirect_https ? "redirect-https" : "hsts");
            return site->site_line;
        }
    }
    return 0;
}

/* Every matching header rule must fit a response (headers.c, response.h). */
static int header_limits(const struct settings *site, const char *path, char *err,
                         size_t errlen)
{
    const char *what = NULL;
    int limit = 0;

    if (rule_set_count(site->compiled, RULE_HEADER) > RULES_HEADER_MAX)
        what = "header rules", limit = RULES_HEADER_MAX;
    else if (rule_set_header_names(site->compiled) > RULES_HEADER_NAMES_MAX)
        what = "header names in its header rules", limit = RULES_HEADER_NAMES_MAX;
    if (what == NULL)
        return 0;
    if (site->site_line > 0)
        snprintf(err, errlen, "%s:%d: a site has at most %d %s, the global ones included",
                 path, site->site_line, limit, what);
    else
        snprintf(err, errlen, "%s%sa site has at most %d %s", path ? path : "",
                 path ? ": " : "", limit, what);
    return -1;
}

/* Makes the sites of the file's sections and compiles every site's rules. */
static int build_sites(struct settings *s, const char *path, char *err, size_t errlen)
{
    char why[600];
    int i, line = 0;

    if (s->nsections > 0 && (s->sites = calloc((size_t)s->nsections, sizeof(*s->sites))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i < s->nsections && line == 0; i++) {
        line = build_site(s, &s->sites[i], &s->sections[i], why, sizeof(why));
        s->nsites = i + 1;
    }
    if (line == 0)
        line = names_unique(s, why, sizeof(why));
    if (line == 0)
        line = sites_tls(s, why, sizeof(why));
    if (line != 0) {
        snprintf(err, errlen, "%s:%d: %s", path, line, why);
        return -1;
    }
    s->compiled = rule_set_build(NULL, &s->rules);
    line = s->compiled == NULL;
    for (i = 0; i < s->nsites; i++)
        if ((s->sites[i].compiled = rule_set_build(&s->rules, &s->sites[i].rules)) == NULL)
            line = 1;
    if (line) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (i = 0; i <= s->nsites; i++)
        if (header_limits(site_settings(s, i), path, err, errlen) < 0)
            return -1;
    return 0;
}

static int is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int config_build(struct settings *s, const struct config_source *src, char *err, size_t errlen)
{
    unsigned char listed[SETTINGS_TABLE_MAX] = {0};
    int i;

    config_defaults(s);
    if (src->path != NULL && config_load(s, src->path, err, errlen) < 0)
        return -1;
    for (i = 0; i < src->nargs; i++) {
        const struct setting_def *d = find_setting(src->args[i].key);
        char why[300];

        /* a list on the command line (certificates) replaces the file's, not adds to it */
        if (d != NULL)
            replace_list(s, d, listed);
        if (config_set(s, src->args[i].key, src->args[i].value, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s (see portico --help)", why);
            return -2;
        }
    }
    if (config_validate(s, err, errlen) < 0)
        return src->path ? -1 : -2;
    if (s->root == NULL) {
        if (is_dir("www"))
            s->root = "www";
        else if (is_dir(PORTICO_DATADIR "/www"))
            s->root = PORTICO_DATADIR "/www";
        else {
            snprintf(err, errlen, "no document root: ./www does not exist here; give a folder, "
                                  "e.g. portico /path/to/site");
            return -1;
        }
    }
    if (config_check_root(s, err, errlen) < 0 || build_sites(s, src->path, err, errlen) < 0)
        return -1;
    /* root gets the standard ports; anyone else ports that need no privilege */
    if (s->port < 0)
        s->port = geteuid() == 0 ? 80 : PORTICO_DEFAULT_PORT;
    if (s->tls && s->tls_port < 0)
        s->tls_port = geteuid() == 0 ? 443 : PORTICO_DEFAULT_TLS_PORT;
    if (s->access_log == NULL && !s->quiet)
        s->access_log = "-";
    return 0;
}

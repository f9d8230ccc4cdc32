/* Owns the settings table (every option and key: its parser, range, default and
 * help), the configuration file and validation. Pure apart from resolving the
 * root; it never binds, forks or exits (main.c reports errors). */
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
#include "portico/str.h"

int config_parse_uint(const char *text, unsigned long long max, unsigned long long *out)
{
    uint64_t v;

    if (str_to_u64(text, strlen(text), &v) < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

int config_parse_size(const char *text, uint64_t *out)
{
    char num[32];
    size_t len = strlen(text);
    unsigned shift = 0;
    unsigned long long v;

    if (len == 0 || len >= sizeof(num))
        return -1;
    switch (text[len - 1]) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    default: break;
    }
    memcpy(num, text, len + 1);
    if (shift)
        num[len - 1] = '\0';
    if (config_parse_uint(num, UINT64_MAX >> shift, &v) < 0)
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

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

/* One table for the command line and the configuration file: a setting has one
 * name, one parser, one range and one default wherever it is given. */
#define F(member) offsetof(struct settings, member)
#define BOTH      (SETTING_IN_FILE | SETTING_ON_CLI)
#define STR_(x)   #x
#define STR(x)    STR_(x)

static const struct setting_def table[] = {
    {.name = "config", .short_opt = 'c', .type = SETTING_COMMAND, .flags = SETTING_ON_CLI,
     .arg = "FILE",
     .help = "read settings from FILE (\"key value\" lines, the long option names; options "
             "given here win)"},
    {.name = "check-config", .short_opt = 't', .type = SETTING_COMMAND, .flags = SETTING_ON_CLI,
     .help = "check settings, certificates and root, then exit"},
    {.name = "root", .short_opt = 'r', .type = SETTING_STRING, .flags = BOTH, .field = F(root),
     .what = "root", .arg = "DIR", .help = "document root (same as the ROOT argument)"},
    {.name = "port", .short_opt = 'p', .type = SETTING_INT, .flags = BOTH | SETTING_UNSET,
     .field = F(port), .max = 65535, .what = "port", .arg = "PORT",
     .help = "TCP port (default " STR(PORTICO_DEFAULT_PORT) ", 80 as root; 0: a free one)"},
    {.name = "bind", .short_opt = 'b', .type = SETTING_STRING, .flags = BOTH,
     .field = F(bind_addr), .what = "address", .arg = "ADDR",
     .help = "listen on ADDR only (default: all IPv6 and IPv4 addresses); e.g. 127.0.0.1 for "
             "this machine only"},
    {.name = "workers", .short_opt = 'w', .type = SETTING_INT, .flags = BOTH,
     .field = F(workers), .min = 1, .max = 1024, .what = "worker count", .arg = "N",
     .help = "worker processes (default: one per CPU)"},
    {.name = "quiet", .short_opt = 'q', .type = SETTING_SWITCH, .flags = BOTH, .field = F(quiet),
     .help = "no access log unless --access-log is given"},
    {.name = "access-log", .type = SETTING_STRING, .flags = BOTH, .field = F(access_log),
     .what = "access log", .arg = "FILE",
     .help = "Combined Log Format access log ('-' stdout, 'off')"},
    /* nginx-like timeouts, shorter where an idle socket is the only thing waiting */
    {.name = "header-timeout", .type = SETTING_UINT, .flags = BOTH, .field = F(header_timeout),
     .min = 1, .max = 86400, .dflt = "10", .what = "header timeout", .arg = "SEC",
     .help = "time for a request's line and headers (default {default})"},
    {.name = "body-timeout", .type = SETTING_UINT, .flags = BOTH, .field = F(body_timeout),
     .max = 86400, .what = "body timeout", .arg = "SEC",
     .help = "time for a whole request body (default: the header timeout)"},
    {.name = "keepalive-timeout", .type = SETTING_UINT, .flags = BOTH,
     .field = F(keepalive_timeout), .min = 1, .max = 86400, .dflt = "15",
     .what = "keep-alive timeout", .arg = "SEC",
     .help = "idle time before a connection closes (default {default})"},
    {.name = "send-timeout", .type = SETTING_UINT, .flags = BOTH, .field = F(send_timeout),
     .min = 1, .max = 86400, .dflt = "30", .what = "send timeout", .arg = "SEC",
     .help = "time a client may stall a response (default {default})"},
    {.name = "max-body-size", .type = SETTING_SIZE, .flags = BOTH, .field = F(max_body_size),
     .dflt = "1m", .what = "body size", .arg = "SIZE",
     .help = "largest request body, e.g. 64k or 1m (default {default})"},
    {.name = "max-connections", .type = SETTING_UINT, .flags = BOTH,
     .field = F(max_connections), .min = 1, .max = 1000000, .dflt = "4096",
     .what = "connection limit", .arg = "N", .help = "connections per worker (default {default})"},
    {.name = "listing", .type = SETTING_SWITCH, .flags = BOTH, .field = F(listing),
     .help = "list directories that have no index.html"},
    {.name = "cache-control", .type = SETTING_STRING, .flags = BOTH, .field = F(cache_control),
     .what = "Cache-Control value", .arg = "VALUE",
     .help = "Cache-Control on file responses (default: none)"},
    {.name = "precompressed", .type = SETTING_SWITCH, .flags = SETTING_IN_FILE,
     .field = F(precompressed), .dflt = "on"},
    /* a switch can only turn a setting on from the command line */
    {.name = "no-precompressed", .type = SETTING_NEGATED, .flags = BOTH,
     .field = F(precompressed), .help = "never serve FILE.br / FILE.gz in place of FILE"},
    {.name = "revalidate", .type = SETTING_UINT, .flags = BOTH, .field = F(revalidate),
     .max = 86400, .dflt = "1", .what = "revalidation interval", .arg = "SEC",
     .help = "files whose changes the kernel cannot notify (network filesystems, past the "
             "inotify limits) are checked on disk again after SEC (default {default}; 0: on "
             "every request)"},
    {.name = "tls", .type = SETTING_SWITCH, .flags = BOTH, .field = F(tls), .heading = "HTTPS",
     .help = "serve HTTPS too; without --tls-cert, with a new self-signed certificate for "
             "localhost"},
    {.name = "tls-cert", .type = SETTING_LIST, .flags = BOTH, .field = F(tls_cert),
     .count = F(ntls_cert), .max = SETTINGS_MAX_CERTS, .implies = "tls", .what = "certificate",
     .arg = "FILE",
     .help = "PEM certificate (and chain); repeat for more host names, chosen by SNI (the first "
             "is the default)"},
    {.name = "tls-key", .type = SETTING_LIST, .flags = BOTH, .field = F(tls_key),
     .count = F(ntls_key), .max = SETTINGS_MAX_CERTS, .what = "key", .arg = "FILE",
     .help = "PEM private key of the certificate given before"},
    {.name = "tls-port", .type = SETTING_INT, .flags = BOTH | SETTING_UNSET, .field = F(tls_port),
     .max = 65535, .what = "TLS port", .arg = "PORT",
     .help = "HTTPS port (default " STR(PORTICO_DEFAULT_TLS_PORT) ", 443 as root; 0: free)"},
    {.name = "tls-save-cert", .type = SETTING_STRING, .flags = BOTH, .field = F(tls_save_cert),
     .what = "file", .arg = "FILE", .help = "write the generated certificate there, to trust it"},
    {.name = "redirect-https", .type = SETTING_SWITCH, .flags = BOTH, .field = F(redirect_https),
     .help = "answer plain HTTP with 308 to the https URL"},
    {.name = "hsts", .type = SETTING_LONG, .flags = BOTH | SETTING_UNSET, .field = F(hsts),
     .max = 1000000000, .what = "HSTS max-age", .arg = "SECONDS",
     .help = "Strict-Transport-Security max-age on HTTPS"},
    {.name = "user", .short_opt = 'u', .type = SETTING_STRING, .flags = BOTH, .field = F(user),
     .what = "user", .arg = "NAME", .heading = "Privileges and processes",
     .help = "run workers as NAME when started as root (default www-data, else nobody; root "
             "only if named)"},
    {.name = "chroot", .type = SETTING_SWITCH, .flags = BOTH, .field = F(chroot),
     .help = "confine workers to the document root"},
    {.name = "pid-file", .type = SETTING_STRING, .flags = BOTH, .field = F(pid_file),
     .what = "file", .arg = "FILE", .help = "write the master's PID there"},
    {.name = "help", .short_opt = 'h', .type = SETTING_COMMAND, .flags = SETTING_ON_CLI,
     .heading = "", .help = "show this help and exit"},
    {.name = "version", .short_opt = 'V', .type = SETTING_COMMAND, .flags = SETTING_ON_CLI,
     .help = "show the version and exit"},
};

#define NSETTINGS (sizeof(table) / sizeof(table[0]))

const struct setting_def *config_settings(size_t *n)
{
    *n = NSETTINGS;
    return table;
}

/* A setting by name; command-line commands such as "config" are none. */
static const struct setting_def *find_setting(const char *name)
{
    size_t i;

    for (i = 0; i < NSETTINGS; i++)
        if (table[i].type != SETTING_COMMAND && strcmp(table[i].name, name) == 0)
            return &table[i];
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
                     char *err, size_t errlen)
{
    char *field = (char *)s + d->field;
    int b;

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
    case SETTING_COMMAND:
        break;
    }
    snprintf(err, errlen, "unknown setting '%s'", d->name);
    return -1;
}

int config_set(struct settings *s, const char *key, const char *value, char *err, size_t errlen)
{
    const struct setting_def *d = find_setting(key);

    if (d == NULL) {
        snprintf(err, errlen, "unknown setting '%s'", key);
        return -1;
    }
    if (set_value(s, d, value, err, errlen) < 0)
        return -1;
    if (d->implies != NULL)
        return config_set(s, d->implies, "on", err, errlen);
    return 0;
}

void config_defaults(struct settings *s)
{
    char err[160];
    size_t i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < NSETTINGS; i++) {
        const struct setting_def *d = &table[i];

        /* a -1 is decided in config_build (e.g. 80 as root, else 8080) or means "none" */
        if ((d->flags & SETTING_UNSET) && d->type == SETTING_LONG)
            *(long *)((char *)s + d->field) = -1;
        else if (d->flags & SETTING_UNSET)
            *(int *)((char *)s + d->field) = -1;
        else if (d->dflt != NULL)
            set_value(s, d, d->dflt, err, sizeof(err)); /* check_settings tests each one */
    }
    /* limits that are no settings (yet) */
    s->shutdown_timeout = 10;
    s->max_header_size = 8192;
    s->max_headers = 100;
    s->file_cache_entries = 1000;
}

/* The whole file (at most 1 MiB) in a new NUL-terminated buffer, or NULL. */
static char *read_text(const char *path, char *err, size_t errlen)
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

    for (i = 0; i < NSETTINGS; i++)
        if ((table[i].flags & SETTING_IN_FILE) && table[i].field == d->field)
            break;
    return i;
}

int config_load(struct settings *s, const char *path, char *err, size_t errlen)
{
    char *text, *line, *next, *key, *value;
    int lineno = 0;
    int set_on[NSETTINGS] = {0}; /* the line that gave each setting, however many */
    const struct setting_def *set_as[NSETTINGS];

    if ((text = read_text(path, err, errlen)) == NULL)
        return -1;
    free(s->file_text);
    s->file_text = text;
    for (line = text; line != NULL; line = next) {
        const struct setting_def *d;
        char why[300];
        size_t i;

        lineno++;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (!split_line(line, &key, &value))
            continue;
        d = find_setting(key);
        if (d == NULL || !(d->flags & SETTING_IN_FILE)) {
            snprintf(err, errlen, "%s:%d: unknown key '%s'", path, lineno, key);
            return -1;
        }
        if (*value == '\0') {
            snprintf(err, errlen, "%s:%d: '%s' needs a value", path, lineno, key);
            return -1;
        }
        i = setting_index(d);
        if (d->type != SETTING_LIST && set_on[i]) { /* lists are made by repeating their key */
            if (set_as[i] == d)
                snprintf(err, errlen, "%s:%d: '%s' is set twice (first on line %d)", path, lineno,
                         key, set_on[i]);
            else
                snprintf(err, errlen, "%s:%d: '%s' is set twice (as '%s' on line %d)", path,
                         lineno, key, set_as[i]->name, set_on[i]);
            return -1;
        }
        set_on[i] = lineno;
        set_as[i] = d;
        if (config_set(s, key, value, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
            return -1;
        }
    }
    return 0;
}

int config_validate(struct settings *s, char *err, size_t errlen)
{
    if (s->ntls_cert != s->ntls_key) {
        snprintf(err, errlen, "each tls-cert needs its tls-key (%s)",
                 s->ntls_cert > s->ntls_key ? "a key is missing" : "a certificate is missing");
        return -1;
    }
    if ((s->redirect_https || s->hsts >= 0 || s->tls_save_cert) && !s->tls) {
        snprintf(err, errlen, "%s needs HTTPS: add tls, or tls-cert and tls-key",
                 s->redirect_https ? "redirect-https" : s->hsts >= 0 ? "hsts" : "tls-save-cert");
        return -1;
    }
    if (s->tls_save_cert && s->ntls_cert > 0) {
        snprintf(err, errlen, "tls-save-cert saves a generated certificate; tls-cert was given");
        return -1;
    }
    return 0;
}

void config_free(struct settings *s)
{
    free(s->file_text);
    s->file_text = NULL;
}

static int is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int config_build(struct settings *s, const struct config_source *src, char *err, size_t errlen)
{
    unsigned char listed[NSETTINGS] = {0};
    int i;

    config_defaults(s);
    if (src->path != NULL && config_load(s, src->path, err, errlen) < 0)
        return -1;
    for (i = 0; i < src->nargs; i++) {
        const struct setting_def *d = find_setting(src->args[i].key);
        char why[300];

        /* a list on the command line (certificates) replaces the file's, not adds to it */
        if (d != NULL && d->type == SETTING_LIST && !listed[d - table]) {
            listed[d - table] = 1;
            *(int *)((char *)s + d->count) = 0;
        }
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
    /* root gets the standard ports; anyone else ports that need no privilege */
    if (s->port < 0)
        s->port = geteuid() == 0 ? 80 : PORTICO_DEFAULT_PORT;
    if (s->tls && s->tls_port < 0)
        s->tls_port = geteuid() == 0 ? 443 : PORTICO_DEFAULT_TLS_PORT;
    if (s->access_log == NULL && !s->quiet)
        s->access_log = "-";
    return config_check_root(s, err, errlen);
}

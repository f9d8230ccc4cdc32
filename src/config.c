/* Owns the settings: defaults, value parsing and validation. Pure apart from
 * resolving the root; it never binds, forks or exits (main.c reports errors). */
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

void config_defaults(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    s->port = -1; /* 80 as root, else PORTICO_DEFAULT_PORT: see config_build */
    /* nginx-like defaults, shorter where an idle socket is the only thing waiting */
    s->header_timeout = 10;
    s->keepalive_timeout = 15;
    s->send_timeout = 30;
    s->shutdown_timeout = 10;
    s->max_body_size = 1024 * 1024;
    s->max_header_size = 8192;
    s->max_headers = 100;
    s->max_connections = 4096;
    s->precompressed = 1;
    s->revalidate = 1;
    s->file_cache_entries = 1000;
    s->tls_port = -1;
    s->hsts = -1;
}

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
 * name, one parser and one range wherever it is given. */
enum key_type { K_STRING, K_UINT, K_LONG, K_INT, K_SIZE, K_BOOL, K_NEGBOOL, K_CERT, K_KEY };

struct key {
    const char *name;
    enum key_type type;
    size_t offset;
    unsigned long long min, max;
    const char *what; /* for messages: "invalid <what> 'x'" */
};

#define F(field) offsetof(struct settings, field)

static const struct key keys[] = {
    {"root", K_STRING, F(root), 0, 0, "root"},
    {"port", K_INT, F(port), 0, 65535, "port"},
    {"bind", K_STRING, F(bind_addr), 0, 0, "address"},
    {"workers", K_INT, F(workers), 1, 1024, "worker count"},
    {"quiet", K_BOOL, F(quiet), 0, 0, "switch"},
    {"access-log", K_STRING, F(access_log), 0, 0, "access log"},
    {"header-timeout", K_UINT, F(header_timeout), 1, 86400, "header timeout"},
    {"body-timeout", K_UINT, F(body_timeout), 0, 86400, "body timeout"},
    {"keepalive-timeout", K_UINT, F(keepalive_timeout), 1, 86400, "keep-alive timeout"},
    {"send-timeout", K_UINT, F(send_timeout), 1, 86400, "send timeout"},
    {"max-body-size", K_SIZE, F(max_body_size), 0, 0, "body size"},
    {"max-connections", K_UINT, F(max_connections), 1, 1000000, "connection limit"},
    {"listing", K_BOOL, F(listing), 0, 0, "switch"},
    {"cache-control", K_STRING, F(cache_control), 0, 0, "Cache-Control value"},
    {"precompressed", K_BOOL, F(precompressed), 0, 0, "switch"},
    {"no-precompressed", K_NEGBOOL, F(precompressed), 0, 0, "switch"},
    {"revalidate", K_UINT, F(revalidate), 0, 86400, "revalidation interval"},
    {"tls", K_BOOL, F(tls), 0, 0, "switch"},
    {"tls-cert", K_CERT, 0, 0, 0, "certificate"},
    {"tls-key", K_KEY, 0, 0, 0, "key"},
    {"tls-port", K_INT, F(tls_port), 0, 65535, "TLS port"},
    {"tls-save-cert", K_STRING, F(tls_save_cert), 0, 0, "file"},
    {"redirect-https", K_BOOL, F(redirect_https), 0, 0, "switch"},
    {"hsts", K_LONG, F(hsts), 0, 1000000000, "HSTS max-age"},
    {"user", K_STRING, F(user), 0, 0, "user"},
    {"chroot", K_BOOL, F(chroot), 0, 0, "switch"},
    {"pid-file", K_STRING, F(pid_file), 0, 0, "file"},
};

static const struct key *find_key(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
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

int config_set(struct settings *s, const char *key, const char *value, char *err, size_t errlen)
{
    const struct key *k = find_key(key);
    char *field = (char *)s + (k ? k->offset : 0);
    unsigned long long v;
    int b;

    if (k == NULL) {
        snprintf(err, errlen, "unknown setting '%s'", key);
        return -1;
    }
    switch (k->type) {
    case K_STRING:
        if (value[0] == '\0' || strpbrk(value, "\r\n") != NULL) {
            snprintf(err, errlen, "invalid %s '%s'", k->what, value);
            return -1;
        }
        *(const char **)field = value;
        return 0;
    case K_UINT:
    case K_LONG:
    case K_INT:
        if (config_parse_uint(value, k->max, &v) < 0 || v < k->min) {
            snprintf(err, errlen, "invalid %s '%s': expected a number from %llu to %llu", k->what,
                     value, k->min, k->max);
            return -1;
        }
        if (k->type == K_UINT)
            *(unsigned *)field = (unsigned)v;
        else if (k->type == K_LONG)
            *(long *)field = (long)v;
        else
            *(int *)field = (int)v;
        return 0;
    case K_SIZE:
        if (config_parse_size(value, (uint64_t *)field) < 0) {
            snprintf(err, errlen,
                     "invalid %s '%s': expected bytes, or a number with k, m or g", k->what,
                     value);
            return -1;
        }
        return 0;
    case K_BOOL:
    case K_NEGBOOL:
        if (parse_bool(value, &b) < 0) {
            snprintf(err, errlen, "invalid value '%s' for %s: expected on or off", value, key);
            return -1;
        }
        *(int *)field = k->type == K_NEGBOOL ? !b : b;
        return 0;
    case K_CERT:
    case K_KEY: {
        const char **list = k->type == K_CERT ? s->tls_cert : s->tls_key;
        int *n = k->type == K_CERT ? &s->ntls_cert : &s->ntls_key;
        if (*n == SETTINGS_MAX_CERTS) {
            snprintf(err, errlen, "too many %ss (at most %d): '%s'", k->what, SETTINGS_MAX_CERTS,
                     value);
            return -1;
        }
        if (value[0] == '\0') {
            snprintf(err, errlen, "empty %s file name", k->what);
            return -1;
        }
        list[(*n)++] = value;
        if (k->type == K_CERT)
            s->tls = 1;
        return 0;
    }
    }
    return -1;
}

int config_load(struct settings *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *text, *line, *next;
    long size;
    int lineno = 0;
    unsigned char seen[sizeof(keys) / sizeof(keys[0])] = {0}; /* one per key, however many */

    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || size > (1 << 20) ||
        fseek(f, 0, SEEK_SET) < 0) {
        snprintf(err, errlen, "%s: not a regular file of at most 1 MiB", path);
        fclose(f);
        return -1;
    }
    text = malloc((size_t)size + 1);
    if (text == NULL || fread(text, 1, (size_t)size, f) != (size_t)size) {
        snprintf(err, errlen, "%s: cannot read it", path);
        free(text);
        fclose(f);
        return -1;
    }
    fclose(f);
    text[size] = '\0';
    free(s->file_text);
    s->file_text = text;

    for (line = text; line != NULL; line = next) {
        char *key, *value, *end, *hash;
        const struct key *k;
        char why[300];

        lineno++;
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        /* a comment starts at '#' at the start of a line or after a space */
        for (hash = line; (hash = strchr(hash, '#')) != NULL; hash++)
            if (hash == line || hash[-1] == ' ' || hash[-1] == '\t') {
                *hash = '\0';
                break;
            }
        key = line + strspn(line, " \t\r");
        end = key + strlen(key);
        while (end > key && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            *--end = '\0';
        if (*key == '\0')
            continue;
        value = key + strcspn(key, " \t");
        if (*value != '\0') {
            *value++ = '\0';
            value += strspn(value, " \t");
        }
        k = find_key(key);
        if (k == NULL) {
            snprintf(err, errlen, "%s:%d: unknown key '%s'", path, lineno, key);
            return -1;
        }
        if (*value == '\0') {
            snprintf(err, errlen, "%s:%d: '%s' needs a value", path, lineno, key);
            return -1;
        }
        if (k->type != K_CERT && k->type != K_KEY) {
            if (seen[k - keys]) {
                snprintf(err, errlen, "%s:%d: '%s' is set twice", path, lineno, key);
                return -1;
            }
            seen[k - keys] = 1;
        }
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
    int i, certs = 0, keys_given = 0;

    config_defaults(s);
    if (src->path != NULL && config_load(s, src->path, err, errlen) < 0)
        return -1;
    for (i = 0; i < src->nargs; i++) {
        char why[300];
        /* certificates on the command line replace the file's, not add to them */
        if (strcmp(src->args[i].key, "tls-cert") == 0 && certs++ == 0)
            s->ntls_cert = 0;
        if (strcmp(src->args[i].key, "tls-key") == 0 && keys_given++ == 0)
            s->ntls_key = 0;
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

/* Owns the settings: defaults, value parsing and validation. Pure apart from
 * resolving the root; it never binds, forks or exits (main.c reports errors). */
#include "build-config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/settings.h"

void config_defaults(struct settings *s)
{
    memset(s, 0, sizeof(*s));
    s->port = PORTICO_DEFAULT_PORT;
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
    unsigned long long v = 0;
    const char *p = text;

    if (*p == '\0')
        return -1;
    for (; *p; p++) {
        unsigned d = (unsigned char)*p - '0';
        if (d > 9 || v > (max - d) / 10)
            return -1;
        v = v * 10 + d;
    }
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

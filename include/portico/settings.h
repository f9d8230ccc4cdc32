/* The settings struct every module reads, its defaults and validation.
 * (Named settings.h because autoconf owns the name config.h.) */
#ifndef PORTICO_SETTINGS_H
#define PORTICO_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "portico/rules.h"

#define PORTICO_DEFAULT_PORT     8080
#define PORTICO_DEFAULT_TLS_PORT 8443
#define SETTINGS_MAX_CERTS       8
#define SETTINGS_MAX_CORS        8  /* cors lines of a site */
#define SETTINGS_MAX_NAMES       16 /* host names of a [site] */
#define SETTINGS_MAX_SITES       64
#define SETTINGS_MAX_NETS        32 /* trusted-proxy, metrics-allow lines */
#define SETTINGS_MAX_IGNORE      32 /* watch-ignore patterns */

struct config_section;

struct settings {
    const char *root;        /* document root as given */
    char root_abs[4096];     /* resolved absolute path, filled by config_check_root */
    const char *bind_addr;   /* NULL: every address, IPv6 and IPv4 */
    int port;                /* 0: ephemeral */
    int workers;             /* 0: one per online CPU */
    int quiet;               /* no access log unless one is asked for */
    const char *access_log;  /* NULL: default (stdout unless quiet); "-": stdout; "off" */
    unsigned header_timeout; /* seconds for a whole request head to arrive */
    unsigned body_timeout;     /* seconds for a whole request body; 0: header_timeout */
    unsigned keepalive_timeout;
    unsigned send_timeout;   /* seconds without progress while writing */
    unsigned shutdown_timeout;
    uint64_t max_body_size;
    size_t max_header_size;
    unsigned max_headers;
    unsigned max_connections; /* per worker */
    const char *cache_control; /* Cache-Control on file responses, or NULL */
    int listing;               /* HTML index for a directory without index.html */
    int precompressed;         /* serve FILE.br / FILE.gz when the client accepts them */
    int compress;              /* compress text files for clients that accept it */
    uint64_t compress_min;     /* smaller files go as they are */
    const char *compress_cache; /* the directory of compressed variants; NULL: default */
    uint64_t compress_cache_size; /* its bound: least recently used go first */
    unsigned revalidate;       /* seconds an open-file cache entry is trusted; 0: never */
    unsigned file_cache_entries; /* per worker */
    int tls;                   /* an HTTPS listener (implied by --tls-cert) */
    int tls_port;              /* -1: 8443, or 443 as root */
    const char *tls_cert[SETTINGS_MAX_CERTS], *tls_key[SETTINGS_MAX_CERTS];
    int ntls_cert, ntls_key;   /* the first pair is the default, others by SNI */
    const char *tls_save_cert; /* where to write a generated certificate */
    int redirect_https;        /* plain HTTP answers 308 to the https URL */
    long hsts;                 /* max-age for Strict-Transport-Security, -1: none */
    const char *user;          /* who workers run as when started as root */
    int chroot;                /* workers chroot to the document root */
    const char *pid_file;
    /* behind a load balancer */
    const char *proxy_protocol; /* which listeners expect a PROXY header: off, on, http, https */
    const char *trusted_proxy[SETTINGS_MAX_NETS]; /* networks whose PROXY and X-Forwarded-For count */
    int ntrusted_proxy;
    const char *forwarded_header; /* which header of theirs names the client */
    const char *health;        /* the health check's path, or NULL */
    unsigned drain_time;       /* seconds health says 503 before a graceful stop closes listeners */
    const char *metrics;       /* the Prometheus endpoint's path, or NULL */
    const char *metrics_allow[SETTINGS_MAX_NETS]; /* who may read it; none: loopback, trusted */
    int nmetrics_allow;
    const char *log_format;    /* combined or json */
    unsigned max_conns_per_ip; /* per instance; 0: no limit */
    /* local development */
    int dev;                   /* watch, no-cache, listing, and the start-up addresses */
    int watch;                 /* live reload of the default site's pages */
    const char *watch_ignore[SETTINGS_MAX_IGNORE]; /* paths whose changes are not reported */
    int nwatch_ignore;
    int no_cache;              /* Cache-Control: no-store on every response */
    int open_browser;          /* xdg-open the site once serving */
    /* a site's rules: header, redirect, fallback, auth lines in order (the default
     * site's are the global lines, which every [site] inherits before its own) */
    struct rule_list rules;
    struct rule_set *compiled; /* inherited and own rules, indexed (config_build) */
    const char *spa;           /* the page for app navigations that would be 404, or NULL */
    int clean_urls;            /* /about serves about.html; /about.html redirects there */
    const char *cors[SETTINGS_MAX_CORS]; /* lines of allowed origins, or "*" */
    int ncors;
    /* virtual hosts: the global settings hold every [site] as settings of its own,
     * made of the global ones and its section's lines */
    struct settings *sites;
    int nsites;
    const char *names[SETTINGS_MAX_NAMES]; /* a [site]'s host names, lower case */
    size_t name_len[SETTINGS_MAX_NAMES];
    int nnames;
    int site_line;             /* where its section starts */
    struct config_section *sections; /* the sections' lines, until the sites are made */
    int nsections;
    const char *config_file;   /* the file read (-c), for FILE:LINE messages, or NULL */
    char *file_text;           /* the configuration file's bytes; strings point into it */
};

/* The settings of site n: 0 is the default site (s itself), n > 0 is s->sites[n - 1]. */
static inline const struct settings *site_settings(const struct settings *s, int n)
{
    return n == 0 ? s : &s->sites[n - 1];
}

/* 1 when uses(site) holds for the default site or any [site] of s. */
static inline int site_any(const struct settings *s, int (*uses)(const struct settings *site))
{
    int i;

    for (i = 0; i <= s->nsites; i++)
        if (uses(site_settings(s, i)))
            return 1;
    return 0;
}

/* 1 when the default site or any [site] of s has rules of kind k. */
static inline int site_any_rules(const struct settings *s, enum rule_kind k)
{
    int i;

    for (i = 0; i <= s->nsites; i++)
        if (rule_set_count(site_settings(s, i)->compiled, k) > 0)
            return 1;
    return 0;
}

/* The settings table: one entry per setting and per command-line option. The
 * option parser and --help (main.c), the configuration file's keys, their
 * parsing, ranges and defaults (config.c) all come from it. */
enum setting_type {
    SETTING_STRING,  /* non-empty text on one line: const char * */
    SETTING_INT,     /* a decimal number from min to max: int */
    SETTING_UINT,    /* the same, stored as unsigned */
    SETTING_LONG,    /* the same, stored as long */
    SETTING_SIZE,    /* bytes, or a number with k, m or g: uint64_t */
    SETTING_SWITCH,  /* on or off: int; as an option, it turns the setting on */
    SETTING_NEGATED, /* on or off, stored inverted: no-precompressed */
    SETTING_LIST,    /* appends to an array of at most max strings, counted in an int */
    SETTING_RULE,    /* a per-path rule of kind `rule`, appended to the site's rules */
    SETTING_COMMAND, /* a command-line option that is no setting: --help, --config */
};

#define SETTING_IN_FILE 1u /* a key of the configuration file */
#define SETTING_ON_CLI  2u /* a command-line option: --name, and -x if it has a letter */
#define SETTING_UNSET   4u /* a number that starts at -1, "not given" (decided later) */
#define SETTING_SITE    8u /* a [site] section may set it for its site */

struct setting_def {
    const char *name;            /* the long option and the configuration key */
    char short_opt;              /* the option's letter, or 0 */
    enum setting_type type;
    unsigned flags;              /* SETTING_IN_FILE, SETTING_ON_CLI, SETTING_UNSET */
    size_t field;                /* offsetof the value in struct settings */
    size_t count;                /* SETTING_LIST: offsetof its int count */
    unsigned long long min, max; /* numbers: the range; SETTING_LIST: max entries */
    const char *dflt;            /* the default as written in the file, or NULL (zero) */
    const char *implies;         /* a switch this one turns on (tls-cert: tls), or NULL */
    const char *bare;            /* the value when given without one (--spa), or NULL */
    enum rule_kind rule;         /* SETTING_RULE: which */
    /* further checks of a value, or NULL: 0, or -1 with the reason in err */
    int (*check)(const char *value, char *err, size_t errlen);
    const char *what;            /* for messages: "invalid <what> 'x'" */
    const char *arg;             /* the value's name in --help (FILE, SEC); NULL: none */
    const char *help;            /* --help text; "{default}" stands for dflt */
    const char *heading;         /* a --help section starting here ("" a blank line) */
};

/* The table (settings.c), in --help order; *n gets the number of entries. */
const struct setting_def *config_settings(size_t *n);
extern const struct setting_def config_table[];
extern const size_t config_nsettings;
#define SETTINGS_TABLE_MAX 64 /* entries at most: for arrays with one slot per setting */

/* Where settings come from: a configuration file and the command line, which
 * wins. Kept by the master so that SIGHUP can build them again. */
struct config_arg {
    const char *key, *value;
};

struct config_source {
    const char *path; /* -c FILE, or NULL */
    const struct config_arg *args;
    int nargs;
};

/* Defaults, then the file, then the command line; then the derived defaults
 * (root, ports, access log) and the root's check. 0; -1 for a bad file or
 * environment (exit 1); -2 for a bad command line (exit 2). err says why. */
int config_build(struct settings *s, const struct config_source *src, char *err, size_t errlen);

/* Every setting's default from the table, and the limits that are no settings. */
void config_defaults(struct settings *s);
/* Sets one setting by its name (the long option without "--", also the config file
 * key); 0, or -1 with a one-line reason in err. Lists (tls-cert, tls-key) append. */
int config_set(struct settings *s, const char *key, const char *value, char *err, size_t errlen);
/* A whole file of settings (at most 1 MiB: the configuration, an htpasswd file) in a new
 * NUL-terminated buffer, or NULL with "FILE: reason" in err. */
char *config_read_file(const char *path, char *err, size_t errlen);
/* Reads "key value" lines (# comments) into s; -1 with "FILE:LINE: reason" in err. */
int config_load(struct settings *s, const char *path, char *err, size_t errlen);
/* Checks what only the whole can tell (pairs, ports); -1 with a reason. */
int config_validate(struct settings *s, char *err, size_t errlen);
void config_free(struct settings *s);
/* Parses a non-negative decimal number of at most max; -1 if it is not one. */
int config_parse_uint(const char *text, unsigned long long max, unsigned long long *out);
/* Parses a byte count with an optional k/m/g suffix (binary units). */
int config_parse_size(const char *text, uint64_t *out);
/* Resolves and checks the document root; on failure writes a one-line reason. */
int config_check_root(struct settings *s, char *err, size_t errlen);

#endif

/* Owns the settings table: every option and configuration key with its type, range,
 * default, help, and the checks and parsers of its values. Data and pure functions;
 * config.c reads values with it and main.c builds the command line from it. */
#include "build-config.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "portico/netaddr.h"
#include "portico/path.h"
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

/* spa FILE: a path beneath the root */
static int check_path(const char *value, char *err, size_t errlen)
{
    if (!path_is_served_file(value)) {
        snprintf(err, errlen, "'%s' is no path beneath the root, such as /index.html", value);
        return -1;
    }
    return 0;
}

/* cors: "*" alone, or origins as browsers send them: scheme://host[:port] */
static int check_origins(const char *value, char *err, size_t errlen)
{
    const char *p = value;
    size_t n;

    if (strcmp(value, "*") == 0)
        return 0;
    if (str_has_control(value)) {
        snprintf(err, errlen, "a control character in the origins");
        return -1;
    }
    for (; *(p += strspn(p, " \t")) != '\0'; p += n) {
        const char *host;
        n = strcspn(p, " \t");
        host = strstr(p, "://");
        if (host == NULL || host >= p + n || host == p || host + 3 == p + n ||
            memchr(host + 3, '/', (size_t)(p + n - host - 3)) != NULL ||
            memchr(p, '*', n) != NULL) {
            snprintf(err, errlen, "'%.*s' is no origin: expected * alone, or origins such as "
                                  "https://app.example.com", (int)n, p);
            return -1;
        }
    }
    return 0;
}

/* trusted-proxy, metrics-allow: an address or a network */
static int check_net(const char *value, char *err, size_t errlen)
{
    struct netaddr_net net;

    if (netaddr_parse_net(value, &net) < 0) {
        snprintf(err, errlen, "'%s' is no address or network, such as 10.0.0.0/8, 192.0.2.7 "
                              "or 2001:db8::/32 (with no host bits below the prefix)", value);
        return -1;
    }
    return 0;
}

/* health, metrics: a path of their own, as a client sends it */
static int check_endpoint(const char *value, char *err, size_t errlen)
{
    size_t i;

    for (i = 0; value[i] > ' ' && value[i] < 0x7f && value[i] != '?' && value[i] != '%'; i++)
        ;
    if (value[0] != '/' || value[i] != '\0' || strstr(value, "/.") != NULL) {
        snprintf(err, errlen, "'%s' is no plain path such as /healthz", value);
        return -1;
    }
    return 0;
}

/* a setting that takes one of the words in choices ("off|on|http|https") */
static int check_choice(const char *value, const char *choices, char *err, size_t errlen)
{
    const char *p = choices;
    size_t n = strlen(value);

    for (; p != NULL; p = strchr(p, '|'), p = p ? p + 1 : NULL)
        if (strncmp(p, value, n) == 0 && (p[n] == '|' || p[n] == '\0'))
            return 0;
    snprintf(err, errlen, "invalid value '%s': expected %s", value, choices);
    return -1;
}

static int check_proxy_protocol(const char *value, char *err, size_t errlen)
{
    return check_choice(value, "off|on|http|https", err, errlen);
}

static int check_forwarded_header(const char *value, char *err, size_t errlen)
{
    return check_choice(value, "x-forwarded-for|forwarded", err, errlen);
}

static int check_log_format(const char *value, char *err, size_t errlen)
{
    return check_choice(value, "combined|json", err, errlen);
}

/* One table for the command line and the configuration file: a setting has one
 * name, one parser, one range and one default wherever it is given. */
#define F(member) offsetof(struct settings, member)
#define BOTH      (SETTING_IN_FILE | SETTING_ON_CLI)
#define STR_(x)   #x
#define STR(x)    STR_(x)

const struct setting_def config_table[] = {
    {.name = "config", .short_opt = 'c', .type = SETTING_COMMAND, .flags = SETTING_ON_CLI,
     .arg = "FILE",
     .help = "read settings from FILE (\"key value\" lines, the long option names; options "
             "given here win)"},
    {.name = "check-config", .short_opt = 't', .type = SETTING_COMMAND, .flags = SETTING_ON_CLI,
     .help = "check settings, certificates and root, then exit"},
    {.name = "root", .short_opt = 'r', .type = SETTING_STRING, .flags = BOTH | SETTING_SITE, .field = F(root),
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
     .help = "access log ('-' stdout, 'off')"},
    {.name = "log-format", .type = SETTING_STRING, .flags = BOTH, .field = F(log_format),
     .dflt = "combined", .what = "log format", .arg = "combined|json", .check = check_log_format,
     .help = "access-log lines: the Combined Log Format, or one JSON object a line "
             "(default {default})"},
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
    {.name = "listing", .type = SETTING_SWITCH, .flags = BOTH | SETTING_SITE, .field = F(listing),
     .help = "list directories that have no index.html"},
    {.name = "cache-control", .type = SETTING_STRING, .flags = BOTH | SETTING_SITE, .field = F(cache_control),
     .what = "Cache-Control value", .arg = "VALUE",
     .help = "Cache-Control on file responses (default: none)"},
    {.name = "precompressed", .type = SETTING_SWITCH, .flags = SETTING_IN_FILE | SETTING_SITE,
     .field = F(precompressed), .dflt = "on"},
    /* a switch can only turn a setting on from the command line */
    {.name = "no-precompressed", .type = SETTING_NEGATED, .flags = BOTH | SETTING_SITE,
     .field = F(precompressed), .help = "never serve FILE.br / FILE.gz in place of FILE"},
    {.name = "revalidate", .type = SETTING_UINT, .flags = BOTH, .field = F(revalidate),
     .max = 86400, .dflt = "1", .what = "revalidation interval", .arg = "SEC",
     .help = "files whose changes the kernel cannot notify (network filesystems, past the "
             "inotify limits) are checked on disk again after SEC (default {default}; 0: on "
             "every request)"},
    {.name = "compress", .type = SETTING_SWITCH, .flags = BOTH, .field = F(compress),
     .dflt = "on", .what = "on or off", .arg = "on|off", .heading = "Compression",
     .help = "send text, scripts, JSON, SVG and fonts compressed (brotli, zstd or gzip, as the "
             "client accepts), each file version compressed once and kept in the cache "
             "(default {default})"},
    {.name = "compress-min", .type = SETTING_SIZE, .flags = BOTH, .field = F(compress_min),
     .dflt = "256", .what = "size", .arg = "SIZE",
     .help = "smaller files are sent as they are (default {default} bytes)"},
    {.name = "compress-cache", .type = SETTING_STRING, .flags = BOTH, .field = F(compress_cache),
     .what = "directory", .arg = "DIR",
     .help = "where compressed files are kept, for every worker and the next start (default "
             "/var/cache/portico as root, else $XDG_CACHE_HOME/portico); delete its files to "
             "clear it"},
    {.name = "compress-cache-size", .type = SETTING_SIZE, .flags = BOTH,
     .field = F(compress_cache_size), .dflt = "256m",
     .what = "cache size", .arg = "SIZE",
     .help = "bound of the cache; the least recently used files go first (default {default})"},
    {.name = "tls", .type = SETTING_SWITCH, .flags = BOTH, .field = F(tls), .heading = "HTTPS",
     .help = "serve HTTPS too; without --tls-cert, with a new self-signed certificate for "
             "localhost"},
    {.name = "tls-cert", .type = SETTING_LIST, .flags = BOTH | SETTING_SITE, .field = F(tls_cert),
     .count = F(ntls_cert), .max = SETTINGS_MAX_CERTS, .implies = "tls", .what = "certificate",
     .arg = "FILE",
     .help = "PEM certificate (and chain); repeat for more host names, chosen by SNI (the first "
             "is the default)"},
    {.name = "tls-key", .type = SETTING_LIST, .flags = BOTH | SETTING_SITE, .field = F(tls_key),
     .count = F(ntls_key), .max = SETTINGS_MAX_CERTS, .what = "key", .arg = "FILE",
     .help = "PEM private key of the certificate given before"},
    {.name = "tls-port", .type = SETTING_INT, .flags = BOTH | SETTING_UNSET, .field = F(tls_port),
     .max = 65535, .what = "TLS port", .arg = "PORT",
     .help = "HTTPS port (default " STR(PORTICO_DEFAULT_TLS_PORT) ", 443 as root; 0: free)"},
    {.name = "tls-save-cert", .type = SETTING_STRING, .flags = BOTH, .field = F(tls_save_cert),
     .what = "file", .arg = "FILE", .help = "write the generated certificate there, to trust it"},
    {.name = "redirect-https", .type = SETTING_SWITCH, .flags = BOTH | SETTING_SITE, .field = F(redirect_https),
     .help = "answer plain HTTP with 308 to the https URL"},
    {.name = "hsts", .type = SETTING_LONG, .flags = BOTH | SETTING_UNSET | SETTING_SITE, .field = F(hsts),
     .max = 1000000000, .what = "HSTS max-age", .arg = "SECONDS",
     .help = "Strict-Transport-Security max-age on HTTPS"},
    {.name = "header", .type = SETTING_RULE, .flags = BOTH | SETTING_SITE, .rule = RULE_HEADER,
     .what = "header rule", .arg = "'PATTERN NAME: VALUE'",
     .heading = "Rules (for the default site; a [site] in the file has its own)",
     .help = "set a response header on paths that match ('PATTERN -NAME' removes one); a "
             "pattern is /path, /prefix/* or *.ext; repeatable"},
    {.name = "redirect", .type = SETTING_RULE, .flags = BOTH | SETTING_SITE,
     .rule = RULE_REDIRECT, .what = "redirect rule", .arg = "'PATTERN TARGET [STATUS]'",
     .help = "redirect paths that match to TARGET, where {path} is what * matched (301, or "
             "302, 303, 307, 308)"},
    {.name = "fallback", .type = SETTING_RULE, .flags = BOTH | SETTING_SITE,
     .rule = RULE_FALLBACK, .what = "fallback rule", .arg = "'PATTERN FILE'",
     .help = "serve FILE (a path beneath the root) when a path that matches does not exist"},
    {.name = "spa", .type = SETTING_STRING, .flags = BOTH | SETTING_SITE, .field = F(spa),
     .bare = "/index.html", .what = "single-page app file", .arg = "FILE", .check = check_path,
     .help = "single-page app: a page navigation (GET or HEAD of a name without extension, "
             "Accept: text/html) that would be 404 gets FILE (default /index.html)"},
    {.name = "clean-urls", .type = SETTING_SWITCH, .flags = BOTH | SETTING_SITE,
     .field = F(clean_urls), .help = "/about serves about.html, and /about.html redirects to /about"},
    {.name = "cors", .type = SETTING_LIST, .flags = BOTH | SETTING_SITE, .field = F(cors),
     .count = F(ncors), .max = SETTINGS_MAX_CORS, .bare = "*", .what = "cors line",
     .arg = "ORIGIN", .check = check_origins,
     .help = "let scripts of ORIGIN (a space-separated list; default *, any) read responses; "
             "preflights are answered"},
    {.name = "auth", .type = SETTING_RULE, .flags = BOTH | SETTING_SITE, .rule = RULE_AUTH,
     .what = "auth rule", .arg = "'PATTERN FILE [REALM]'",
     .help = "HTTP Basic authentication for paths that match, users from an htpasswd file "
             "(htpasswd -B)"},
    {.name = "user", .short_opt = 'u', .type = SETTING_STRING, .flags = BOTH, .field = F(user),
     .what = "user", .arg = "NAME", .heading = "Privileges and processes",
     .help = "run workers as NAME when started as root (default www-data, else nobody; root "
             "only if named)"},
    {.name = "chroot", .type = SETTING_SWITCH, .flags = BOTH, .field = F(chroot),
     .help = "confine workers to the document root"},
    {.name = "pid-file", .type = SETTING_STRING, .flags = BOTH, .field = F(pid_file),
     .what = "file", .arg = "FILE", .help = "write the master's PID there"},
    {.name = "proxy-protocol", .type = SETTING_STRING, .flags = BOTH, .field = F(proxy_protocol),
     .dflt = "off", .bare = "on", .what = "proxy-protocol", .arg = "on|http|https|off",
     .check = check_proxy_protocol, .heading = "Behind a load balancer",
     .help = "connections to the listeners named (on: both) start with a PROXY protocol "
             "header (v1 or v2) from a trusted proxy, which names the client (default {default})"},
    {.name = "trusted-proxy", .type = SETTING_LIST, .flags = BOTH, .field = F(trusted_proxy),
     .count = F(ntrusted_proxy), .max = SETTINGS_MAX_NETS, .what = "trusted proxy",
     .arg = "CIDR", .check = check_net,
     .help = "a balancer's address or network: its PROXY headers and X-Forwarded-For name the "
             "client; repeatable"},
    {.name = "forwarded-header", .type = SETTING_STRING, .flags = BOTH,
     .field = F(forwarded_header), .dflt = "x-forwarded-for", .what = "header",
     .arg = "x-forwarded-for|forwarded", .check = check_forwarded_header,
     .help = "the one header a trusted proxy names the client in, without PROXY (default "
             "{default}); the other is ignored, so a client cannot pick the one it forged"},
    {.name = "health", .type = SETTING_STRING, .flags = BOTH, .field = F(health),
     .what = "health path", .arg = "PATH", .check = check_endpoint,
     .help = "answer PATH on every host with 200 while serving, 503 while draining"},
    {.name = "drain-time", .type = SETTING_UINT, .flags = BOTH, .field = F(drain_time),
     .max = 3600, .dflt = "5", .what = "drain time", .arg = "SEC",
     .help = "with --health, a graceful stop (SIGQUIT) answers health checks with 503 for SEC "
             "while serving on, then closes its listeners (default {default})"},
    {.name = "metrics", .type = SETTING_STRING, .flags = BOTH, .field = F(metrics),
     .what = "metrics path", .arg = "PATH", .check = check_endpoint,
     .help = "answer PATH on every host with Prometheus metrics"},
    {.name = "metrics-allow", .type = SETTING_LIST, .flags = BOTH, .field = F(metrics_allow),
     .count = F(nmetrics_allow), .max = SETTINGS_MAX_NETS, .what = "network", .arg = "CIDR",
     .check = check_net,
     .help = "who may read the metrics (default: this machine and the trusted proxies); "
             "repeatable"},
    {.name = "max-connections-per-ip", .type = SETTING_UINT, .flags = BOTH,
     .field = F(max_conns_per_ip), .max = 1000000, .what = "connection limit", .arg = "N",
     .help = "connections one client address may hold, across all workers (default: no limit)"},
    {.name = "dev", .type = SETTING_SWITCH, .flags = BOTH, .field = F(dev),
     .heading = "Local development",
     .help = "for working on a site: --watch, --no-cache and --listing, and the addresses to "
             "open it at (this machine's and the network's) printed at start"},
    {.name = "watch", .type = SETTING_SWITCH, .flags = BOTH, .field = F(watch),
     .help = "open pages of the default site reload when a file beneath its root changes "
             "(a stylesheet or image is swapped in place); HTML gets a small script for it"},
    {.name = "watch-ignore", .type = SETTING_LIST, .flags = BOTH, .field = F(watch_ignore),
     .count = F(nwatch_ignore), .max = SETTINGS_MAX_IGNORE, .what = "pattern", .arg = "PATTERN",
     .help = "changes to paths that match are not reported: a name (dist, *.log) or a path "
             "from the root (/build/*); dotfiles and node_modules never are; repeatable"},
    {.name = "no-cache", .type = SETTING_SWITCH, .flags = BOTH, .field = F(no_cache),
     .help = "Cache-Control: no-store on every response, so a browser never shows an old file"},
    {.name = "open", .type = SETTING_SWITCH, .flags = BOTH, .field = F(open_browser),
     .help = "open the site in the default browser (xdg-open) once it is served"},
    {.name = "help", .short_opt = 'h', .type = SETTING_COMMAND, .flags = SETTING_ON_CLI,
     .heading = "", .help = "show this help and exit"},
    {.name = "version", .short_opt = 'V', .type = SETTING_COMMAND, .flags = SETTING_ON_CLI,
     .help = "show the version and exit"},
};

const size_t config_nsettings = sizeof(config_table) / sizeof(config_table[0]);

_Static_assert(sizeof(config_table) / sizeof(config_table[0]) <= SETTINGS_TABLE_MAX,
               "SETTINGS_TABLE_MAX covers the table");

const struct setting_def *config_settings(size_t *n)
{
    *n = config_nsettings;
    return config_table;
}


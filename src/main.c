/* The command line: options, the default root, start-up messages. Hands a
 * validated settings struct to the master; never serves anything itself. */
#include "build-config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/log.h"
#include "portico/master.h"
#include "portico/settings.h"

#define EXIT_USAGE 2

enum {
    OPT_ACCESS_LOG = 256,
    OPT_HEADER_TIMEOUT,
    OPT_KEEPALIVE_TIMEOUT,
    OPT_SEND_TIMEOUT,
    OPT_MAX_BODY,
    OPT_MAX_CONNECTIONS,
    OPT_CACHE_CONTROL,
    OPT_LISTING,
    OPT_NO_PRECOMPRESSED,
    OPT_REVALIDATE,
    OPT_TLS,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_PORT,
    OPT_TLS_SAVE_CERT,
    OPT_REDIRECT_HTTPS,
    OPT_HSTS,
};

static const struct option options[] = {
    {"root", required_argument, NULL, 'r'},
    {"port", required_argument, NULL, 'p'},
    {"bind", required_argument, NULL, 'b'},
    {"workers", required_argument, NULL, 'w'},
    {"quiet", no_argument, NULL, 'q'},
    {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
    {"header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT},
    {"keepalive-timeout", required_argument, NULL, OPT_KEEPALIVE_TIMEOUT},
    {"send-timeout", required_argument, NULL, OPT_SEND_TIMEOUT},
    {"max-body-size", required_argument, NULL, OPT_MAX_BODY},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"cache-control", required_argument, NULL, OPT_CACHE_CONTROL},
    {"listing", no_argument, NULL, OPT_LISTING},
    {"no-precompressed", no_argument, NULL, OPT_NO_PRECOMPRESSED},
    {"revalidate", required_argument, NULL, OPT_REVALIDATE},
    {"tls", no_argument, NULL, OPT_TLS},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-port", required_argument, NULL, OPT_TLS_PORT},
    {"tls-save-cert", required_argument, NULL, OPT_TLS_SAVE_CERT},
    {"redirect-https", no_argument, NULL, OPT_REDIRECT_HTTPS},
    {"hsts", required_argument, NULL, OPT_HSTS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: portico [OPTION]... [ROOT]\n"
            "Serve the files in ROOT over HTTP/1.1 (default ROOT: ./www if it exists,\n"
            "else %s/www).\n"
            "\n"
            "  -r, --root DIR              document root (same as the ROOT argument)\n"
            "  -p, --port PORT             TCP port (default %d; 0 picks a free port)\n"
            "  -b, --bind ADDR             listen on ADDR only (default: all IPv6 and IPv4\n"
            "                              addresses); e.g. 127.0.0.1 for this machine only\n"
            "  -w, --workers N             worker processes (default: one per CPU)\n"
            "  -q, --quiet                 no access log unless --access-log is given\n"
            "      --access-log FILE       Combined Log Format access log ('-' stdout, 'off')\n"
            "      --header-timeout SEC    time for a request's line and headers (default 10)\n"
            "      --keepalive-timeout SEC idle time before a connection closes (default 15)\n"
            "      --send-timeout SEC      time a client may stall a response (default 30)\n"
            "      --max-body-size SIZE    largest request body, e.g. 64k or 1m (default 1m)\n"
            "      --max-connections N     connections per worker (default 4096)\n"
            "      --listing               list directories that have no index.html\n"
            "      --cache-control VALUE   Cache-Control header on file responses (default none)\n"
            "      --no-precompressed      never serve FILE.br / FILE.gz in place of FILE\n"
            "      --revalidate SEC        how long an open file is trusted before it is\n"
            "                              checked again on disk (default 1; 0: every request)\n"
            "\n"
            "HTTPS:\n"
            "      --tls                   serve HTTPS too; without --tls-cert, with a new\n"
            "                              self-signed certificate for localhost\n"
            "      --tls-cert FILE         PEM certificate (and chain); repeat for more host\n"
            "                              names, chosen by SNI (the first is the default)\n"
            "      --tls-key FILE          PEM private key of the certificate given before\n"
            "      --tls-port PORT         HTTPS port (default %d, 443 as root; 0: a free one)\n"
            "      --tls-save-cert FILE    write the generated certificate there, to trust it\n"
            "      --redirect-https        answer plain HTTP with 308 to the https URL\n"
            "      --hsts SECONDS          Strict-Transport-Security max-age on HTTPS\n"
            "  -h, --help                  show this help and exit\n"
            "  -V, --version               show the version and exit\n"
            "\n"
            "Stop with Ctrl-C or SIGTERM: responses in flight are finished first.\n",
            PORTICO_DATADIR, PORTICO_DEFAULT_PORT, PORTICO_DEFAULT_TLS_PORT);
}

static void die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "portico: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see portico --help)\n");
    exit(EXIT_USAGE);
}

static unsigned long long number(const char *arg, const char *what, unsigned long long min,
                                 unsigned long long max)
{
    unsigned long long v;

    if (config_parse_uint(arg, max, &v) < 0 || v < min) {
        char msg[200];
        snprintf(msg, sizeof(msg), "invalid %s '%%s': expected a number from %llu to %llu", what,
                 min, max);
        die_usage(msg, arg);
    }
    return v;
}

static int is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int main(int argc, char **argv)
{
    struct settings s;
    char err[512];
    int c;

    config_defaults(&s);
    opterr = 0; /* one line of our own instead of getopt's two */
    while ((c = getopt_long(argc, argv, ":r:p:b:w:qhV", options, NULL)) != -1) {
        switch (c) {
        case 'r':
            s.root = optarg;
            break;
        case 'p':
            s.port = (int)number(optarg, "port", 0, 65535);
            break;
        case 'b':
            s.bind_addr = optarg;
            break;
        case 'w':
            s.workers = (int)number(optarg, "worker count", 1, 1024);
            break;
        case 'q':
            s.quiet = 1;
            break;
        case OPT_ACCESS_LOG:
            s.access_log = optarg;
            break;
        case OPT_HEADER_TIMEOUT:
            s.header_timeout = (unsigned)number(optarg, "header timeout", 1, 86400);
            break;
        case OPT_KEEPALIVE_TIMEOUT:
            s.keepalive_timeout = (unsigned)number(optarg, "keep-alive timeout", 1, 86400);
            break;
        case OPT_SEND_TIMEOUT:
            s.send_timeout = (unsigned)number(optarg, "send timeout", 1, 86400);
            break;
        case OPT_MAX_BODY:
            if (config_parse_size(optarg, &s.max_body_size) < 0)
                die_usage("invalid body size '%s': expected bytes, or a number with k, m or g",
                          optarg);
            break;
        case OPT_MAX_CONNECTIONS:
            s.max_connections = (unsigned)number(optarg, "connection limit", 1, 1000000);
            break;
        case OPT_CACHE_CONTROL:
            if (optarg[0] == '\0' || strpbrk(optarg, "\r\n") != NULL)
                die_usage("invalid Cache-Control value '%s'", optarg);
            s.cache_control = optarg;
            break;
        case OPT_LISTING:
            s.listing = 1;
            break;
        case OPT_NO_PRECOMPRESSED:
            s.precompressed = 0;
            break;
        case OPT_REVALIDATE:
            s.revalidate = (unsigned)number(optarg, "revalidation interval", 0, 86400);
            break;
        case OPT_TLS:
            s.tls = 1;
            break;
        case OPT_TLS_CERT:
            if (s.ntls_cert == SETTINGS_MAX_CERTS)
                die_usage("too many certificates (at most 8): '%s'", optarg);
            s.tls_cert[s.ntls_cert++] = optarg;
            s.tls = 1;
            break;
        case OPT_TLS_KEY:
            if (s.ntls_key == SETTINGS_MAX_CERTS)
                die_usage("too many keys (at most 8): '%s'", optarg);
            s.tls_key[s.ntls_key++] = optarg;
            break;
        case OPT_TLS_PORT:
            s.tls_port = (int)number(optarg, "TLS port", 0, 65535);
            break;
        case OPT_TLS_SAVE_CERT:
            s.tls_save_cert = optarg;
            break;
        case OPT_REDIRECT_HTTPS:
            s.redirect_https = 1;
            break;
        case OPT_HSTS:
            s.hsts = (long)number(optarg, "HSTS max-age", 0, 1000000000);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
            return 0;
        case ':':
            die_usage("option '%s' needs a value", argv[optind - 1]);
            break;
        default:
            if (optopt != 0) {
                char opt[3] = {'-', (char)optopt, '\0'};
                die_usage("unknown option '%s'", opt);
            }
            die_usage("unknown option '%s'", argv[optind - 1]);
            break;
        }
    }
    if (optind < argc) {
        if (s.root != NULL || optind + 1 < argc)
            die_usage("more than one document root given: '%s'", argv[optind]);
        s.root = argv[optind];
    }
    if (s.root == NULL) {
        if (is_dir("www"))
            s.root = "www";
        else if (is_dir(PORTICO_DATADIR "/www"))
            s.root = PORTICO_DATADIR "/www";
        else {
            fprintf(stderr, "portico: no document root: ./www does not exist here; "
                            "give a folder, e.g. portico /path/to/site\n");
            return 1;
        }
    }
    if (s.ntls_cert != s.ntls_key)
        die_usage("each --tls-cert needs its --tls-key (%s)", s.ntls_cert > s.ntls_key
                                                                    ? "a key is missing"
                                                                    : "a certificate is missing");
    if ((s.redirect_https || s.hsts >= 0 || s.tls_save_cert) && !s.tls)
        die_usage("%s needs HTTPS: add --tls or --tls-cert and --tls-key",
                  s.redirect_https ? "--redirect-https"
                                   : s.hsts >= 0 ? "--hsts" : "--tls-save-cert");
    if (s.tls_save_cert && s.ntls_cert > 0)
        die_usage("%s", "--tls-save-cert saves a generated certificate; you gave --tls-cert");
    if (s.tls && s.tls_port < 0)
        s.tls_port = geteuid() == 0 ? 443 : PORTICO_DEFAULT_TLS_PORT;
    if (s.access_log == NULL && !s.quiet)
        s.access_log = "-";
    if (config_check_root(&s, err, sizeof(err)) < 0) {
        fprintf(stderr, "portico: %s\n", err);
        return 1;
    }
    return master_run(&s);
}

/* The command line: options and start-up messages. Hands the settings (and
 * where they came from, for reloads) to the master; never serves anything itself. */
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

/* Long options are the configuration keys (config.c owns their parsing); the
 * short ones map to the same keys. */
static const struct option options[] = {
    {"root", required_argument, NULL, 'r'},
    {"port", required_argument, NULL, 'p'},
    {"bind", required_argument, NULL, 'b'},
    {"workers", required_argument, NULL, 'w'},
    {"quiet", no_argument, NULL, 'q'},
    {"config", required_argument, NULL, 'c'},
    {"check-config", no_argument, NULL, 't'},
    {"access-log", required_argument, NULL, 0},
    {"header-timeout", required_argument, NULL, 0},
    {"body-timeout", required_argument, NULL, 0},
    {"keepalive-timeout", required_argument, NULL, 0},
    {"send-timeout", required_argument, NULL, 0},
    {"max-body-size", required_argument, NULL, 0},
    {"max-connections", required_argument, NULL, 0},
    {"cache-control", required_argument, NULL, 0},
    {"listing", no_argument, NULL, 0},
    {"no-precompressed", no_argument, NULL, 0},
    {"revalidate", required_argument, NULL, 0},
    {"tls", no_argument, NULL, 0},
    {"tls-cert", required_argument, NULL, 0},
    {"tls-key", required_argument, NULL, 0},
    {"tls-port", required_argument, NULL, 0},
    {"tls-save-cert", required_argument, NULL, 0},
    {"redirect-https", no_argument, NULL, 0},
    {"hsts", required_argument, NULL, 0},
    {"user", required_argument, NULL, 'u'},
    {"chroot", no_argument, NULL, 0},
    {"pid-file", required_argument, NULL, 0},
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
            "  -c, --config FILE           read settings from FILE (\"key value\" lines, the\n"
            "                              long option names; options given here win)\n"
            "  -t, --check-config          check the settings, certificates and root, then exit\n"
            "  -r, --root DIR              document root (same as the ROOT argument)\n"
            "  -p, --port PORT             TCP port (default %d, 80 as root; 0: a free port)\n"
            "  -b, --bind ADDR             listen on ADDR only (default: all IPv6 and IPv4\n"
            "                              addresses); e.g. 127.0.0.1 for this machine only\n"
            "  -w, --workers N             worker processes (default: one per CPU)\n"
            "  -q, --quiet                 no access log unless --access-log is given\n"
            "      --access-log FILE       Combined Log Format access log ('-' stdout, 'off')\n"
            "      --header-timeout SEC    time for a request's line and headers (default 10)\n"
            "      --body-timeout SEC      time for a whole request body (default: the header\n"
            "                              timeout)\n"
            "      --keepalive-timeout SEC idle time before a connection closes (default 15)\n"
            "      --send-timeout SEC      time a client may stall a response (default 30)\n"
            "      --max-body-size SIZE    largest request body, e.g. 64k or 1m (default 1m)\n"
            "      --max-connections N     connections per worker (default 4096)\n"
            "      --listing               list directories that have no index.html\n"
            "      --cache-control VALUE   Cache-Control header on file responses (default none)\n"
            "      --no-precompressed      never serve FILE.br / FILE.gz in place of FILE\n"
            "      --revalidate SEC        files whose changes the kernel cannot notify (network\n"
            "                              filesystems, past the inotify limit) are checked on\n"
            "                              disk again after SEC (default 1; 0: every request)\n"
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
            "  -u, --user NAME             run workers as NAME when started as root (default\n"
            "                              www-data, else nobody; root only if named)\n"
            "      --chroot                confine workers to the document root\n"
            "      --pid-file FILE         write the master's PID there\n"
            "  -h, --help                  show this help and exit\n"
            "  -V, --version               show the version and exit\n"
            "\n"
            "Signals: SIGTERM/SIGINT stop (in-flight responses finish, 10 s at most), SIGQUIT\n"
            "stops gracefully, SIGHUP reloads the settings, SIGUSR1 reopens the logs.\n",
            PORTICO_DATADIR, PORTICO_DEFAULT_PORT, PORTICO_DEFAULT_TLS_PORT);
}

static void die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "portico: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see portico --help)\n");
    exit(EXIT_USAGE);
}

static const char *short_key(int c)
{
    switch (c) {
    case 'r': return "root";
    case 'p': return "port";
    case 'b': return "bind";
    case 'w': return "workers";
    case 'q': return "quiet";
    case 'u': return "user";
    default: return NULL;
    }
}

int main(int argc, char **argv)
{
    static struct config_arg cli[256];
    static struct config_source src;
    struct settings s;
    char err[1024];
    int c, idx, ncli = 0, check_only = 0, rc;

    opterr = 0; /* one line of our own instead of getopt's two */
    while ((c = getopt_long(argc, argv, ":r:p:b:w:qc:tu:hV", options, &idx)) != -1) {
        const char *key = c == 0 ? options[idx].name : short_key(c);

        if (key != NULL) {
            if (ncli == (int)(sizeof(cli) / sizeof(cli[0])))
                die_usage("too many options, at '%s'", argv[optind - 1]);
            cli[ncli].key = key;
            cli[ncli].value = optarg ? optarg : "on";
            ncli++;
            continue;
        }
        switch (c) {
        case 'c':
            src.path = optarg;
            break;
        case 't':
            check_only = 1;
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
        if (optind + 1 < argc)
            die_usage("more than one document root given: '%s'", argv[optind + 1]);
        for (c = 0; c < ncli; c++)
            if (strcmp(cli[c].key, "root") == 0)
                die_usage("more than one document root given: '%s'", argv[optind]);
        cli[ncli].key = "root";
        cli[ncli].value = argv[optind];
        ncli++;
    }
    src.args = cli;
    src.nargs = ncli;
    rc = config_build(&s, &src, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "portico: %s\n", err);
        config_free(&s);
        return rc == -2 ? EXIT_USAGE : 1;
    }
    if (check_only) {
        rc = master_check(&s);
        config_free(&s);
        return rc;
    }
    return master_run(&s, &src); /* the settings now belong to the master */
}

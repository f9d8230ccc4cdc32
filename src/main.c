/* The command line: options, --help and start-up messages, all from the settings
 * table. Hands the settings (and where they came from, for reloads) to the master;
 * never serves anything itself. */
#include "build-config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "portico/codec.h"
#include "portico/log.h"
#include "portico/master.h"
#include "portico/settings.h"

#define EXIT_USAGE   2
#define HELP_WIDTH   80  /* columns of --help */
#define HELP_COLUMN  30  /* where an option's help text starts */
#define OPT_FROM_DEF 256 /* getopt_long returns OPT_FROM_DEF + i for the table's entry i */

/* The options come from the settings table (config.c), built once at start-up. */
static const struct setting_def *defs;
static size_t ndefs;
static struct option *options;
static char *shortopts;

static void options_build(void)
{
    size_t i, o = 0, n = 0;

    defs = config_settings(&ndefs);
    options = calloc(ndefs + 1, sizeof(*options));
    shortopts = malloc(2 * ndefs + 2);
    if (options == NULL || shortopts == NULL) {
        fprintf(stderr, "portico: out of memory\n");
        exit(1);
    }
    shortopts[n++] = ':'; /* a missing value returns ':', not '?' */
    for (i = 0; i < ndefs; i++) {
        if (!(defs[i].flags & SETTING_ON_CLI))
            continue;
        options[o].name = defs[i].name;
        options[o].has_arg = defs[i].bare  ? optional_argument
                             : defs[i].arg ? required_argument
                                           : no_argument;
        options[o].val = OPT_FROM_DEF + (int)i;
        o++;
        if (defs[i].short_opt) {
            shortopts[n++] = defs[i].short_opt;
            if (defs[i].arg)
                shortopts[n++] = ':';
        }
    }
    shortopts[n] = '\0';
}

/* The table entry getopt_long's result stands for, or NULL. */
static const struct setting_def *option_def(int c)
{
    size_t i;

    if (c >= OPT_FROM_DEF)
        return &defs[c - OPT_FROM_DEF];
    for (i = 0; i < ndefs; i++)
        if (defs[i].short_opt == c && (defs[i].flags & SETTING_ON_CLI))
            return &defs[i];
    return NULL;
}

/* Writes the words of text from column col on, wrapped at HELP_WIDTH. */
static void help_wrap(FILE *out, int col, const char *text)
{
    int first = 1;

    while (*text != '\0') {
        int len = (int)strcspn(text, " ");

        if (!first && col + 1 + len > HELP_WIDTH) {
            fprintf(out, "\n%*s", HELP_COLUMN, "");
            col = HELP_COLUMN;
            first = 1;
        }
        col += fprintf(out, "%s%.*s", first ? "" : " ", len, text);
        first = 0;
        text += len;
        text += strspn(text, " ");
    }
    fputc('\n', out);
}

/* One option of --help: "  -p, --port PORT", then its help with "{default}" filled in. */
static void help_option(FILE *out, const struct setting_def *d)
{
    static const char mark[] = "{default}";
    char text[1024];
    const char *at = strstr(d->help, mark);
    int col;

    if (d->heading != NULL)
        fprintf(out, "\n%s%s", d->heading, d->heading[0] ? ":\n" : "");
    if (d->short_opt)
        col = fprintf(out, "  -%c, --%s", d->short_opt, d->name);
    else
        col = fprintf(out, "      --%s", d->name);
    if (d->arg)
        col += fprintf(out, d->bare ? "[=%s]" : " %s", d->arg);
    if (col < HELP_COLUMN)
        col += fprintf(out, "%*s", HELP_COLUMN - col, "");
    else
        col += fprintf(out, " ");
    if (at != NULL && d->dflt != NULL)
        snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - d->help), d->help, d->dflt,
                 at + strlen(mark));
    else
        snprintf(text, sizeof(text), "%s", d->help);
    help_wrap(out, col, text);
}

static void usage(FILE *out)
{
    size_t i;

    fprintf(out,
            "Usage: portico [OPTION]... [ROOT]\n"
            "Serve the files in ROOT over HTTP/1.1 (default ROOT: ./www if it exists,\n"
            "else %s/www).\n"
            "\n",
            PORTICO_DATADIR);
    for (i = 0; i < ndefs; i++)
        if (defs[i].flags & SETTING_ON_CLI)
            help_option(out, &defs[i]);
    fprintf(out,
            "\n"
            "Signals: SIGTERM/SIGINT stop (in-flight responses finish, 10 s at most), SIGQUIT\n"
            "stops gracefully, SIGHUP reloads the settings, SIGUSR1 reopens the logs.\n");
}

static void die_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "portico: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see portico --help)\n");
    exit(EXIT_USAGE);
}

/* getopt_long's '?' or ':', as one line and exit 2. */
static void die_option(int c, char **argv)
{
    char opt[3] = {'-', (char)optopt, '\0'};

    if (c == ':')
        die_usage("option '%s' needs a value", argv[optind - 1]);
    if (optopt >= OPT_FROM_DEF) /* --quiet=on */
        die_usage("option '--%s' takes no value", defs[optopt - OPT_FROM_DEF].name);
    die_usage("unknown option '%s'", optopt != 0 ? opt : argv[optind - 1]);
}

/* The command line: settings go to cli (as "key value" pairs, like the file's
 * lines), commands to src and *check_only; -h and -V exit here. */
static int parse_args(int argc, char **argv, struct config_arg *cli, int max,
                      struct config_source *src, int *check_only)
{
    const struct setting_def *d;
    int c, ncli = 0;

    opterr = 0; /* one line of our own instead of getopt's two */
    while ((c = getopt_long(argc, argv, shortopts, options, NULL)) != -1) {
        if ((d = option_def(c)) == NULL)
            die_option(c, argv);
        if (d->type != SETTING_COMMAND) {
            if (ncli == max)
                die_usage("too many options, at '%s'", argv[optind - 1]);
            cli[ncli].key = d->name;
            cli[ncli].value = optarg ? optarg : d->bare ? d->bare : "on";
            ncli++;
        } else if (strcmp(d->name, "config") == 0) {
            src->path = optarg;
        } else if (strcmp(d->name, "check-config") == 0) {
            *check_only = 1;
        } else if (strcmp(d->name, "help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(d->name, "version") == 0) {
            printf("%s %s\ncompression: %s\n", PACKAGE_NAME, PACKAGE_VERSION, codec_describe());
            exit(0);
        }
    }
    if (optind < argc) {
        if (optind + 1 < argc)
            die_usage("more than one document root given: '%s'", argv[optind + 1]);
        for (c = 0; c < ncli; c++)
            if (strcmp(cli[c].key, "root") == 0)
                die_usage("more than one document root given: '%s'", argv[optind]);
        if (ncli == max)
            die_usage("too many options, at '%s'", argv[optind]);
        cli[ncli].key = "root";
        cli[ncli].value = argv[optind];
        ncli++;
    }
    return ncli;
}

int main(int argc, char **argv)
{
    static struct config_arg cli[256];
    static struct config_source src;
    struct settings s;
    char err[1024];
    int check_only = 0, rc;

    options_build();
    src.nargs = parse_args(argc, argv, cli, (int)(sizeof(cli) / sizeof(cli[0])), &src,
                           &check_only);
    src.args = cli;
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

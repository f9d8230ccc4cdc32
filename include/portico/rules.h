/* Per-path rules of a site: their patterns, their lines parsed once at load, and an
 * index that finds the rules of one kind matching a path without looking at the
 * others. Pure; the handlers that act on matched rules live elsewhere. */
#ifndef PORTICO_RULES_H
#define PORTICO_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "portico/str.h"

/* An exact path ("/about"), a prefix (a path that ends in a star) or an extension
 * (a star, then ".html"). */
enum pattern_kind { PATTERN_EXACT, PATTERN_PREFIX, PATTERN_EXT };

struct pattern {
    enum pattern_kind kind;
    const char *text; /* the path, the prefix before '*', or ".ext" */
    size_t len;
};

/* 0, or -1 when text is no pattern (the reason in err). text must outlive p. */
int pattern_parse(const char *text, struct pattern *p, char *err, size_t errlen);
/* 1 when the decoded, normalised path matches; *star is what '*' stood for (for
 * "*.ext", the path before the extension without its leading '/'). */
int pattern_match(const struct pattern *p, const char *path, size_t len, struct str *star);

enum rule_kind { RULE_HEADER, RULE_REDIRECT, RULE_FALLBACK, RULE_AUTH, RULE_KINDS };

/* Headers response.c writes itself, which a header rule may replace or remove (the
 * lines that handlers add, such as CORS's, are replaced by name); the framing ones
 * (Content-Length, Connection, ...) are refused when loaded. */
enum own_header {
    OWN_NONE = 0,
    OWN_SERVER = 1u << 0,
    OWN_CONTENT_TYPE = 1u << 1, /* these two are fields of the plan, changed in place */
    OWN_CACHE_CONTROL = 1u << 2,
    OWN_CONTENT_ENCODING = 1u << 3,
    OWN_VARY = 1u << 4,
    OWN_ACCEPT_RANGES = 1u << 5,
    OWN_ETAG = 1u << 6,
    OWN_LAST_MODIFIED = 1u << 7,
    OWN_LOCATION = 1u << 8,
    OWN_ALLOW = 1u << 9,
    OWN_HSTS = 1u << 10,
};

struct htpasswd;

struct rule {
    enum rule_kind kind;
    struct pattern pat;
    int line;          /* in the configuration file; 0 for the command line */
    const char *text;  /* the rule as written, for portico -t */
    union {
        struct {
            const char *name;  /* as written */
            const char *value; /* NULL: remove the header */
            const char *line;  /* "Name: value\r\n" */
            size_t name_len, line_len;
            unsigned own;      /* enum own_header, or 0 for any other header */
        } header;
        struct {
            const char *target; /* may hold {path} */
            int status;
        } redirect;
        struct {
            const char *target; /* a normalised path beneath the root */
            size_t len;
        } fallback;
        struct {
            const char *file, *realm;
            struct htpasswd *users;
            const char *challenge; /* "WWW-Authenticate: Basic realm=...\r\n" */
            size_t challenge_len;
        } auth;
    } u;
    char mem[]; /* the strings above */
};

/* The rules as read, in order: the lines of one site (or of the command line). */
struct rule_list {
    struct rule **v;
    int n, cap;
};

/* Parses "PATTERN ARGS" of a rule of kind and appends it; -1 with the reason in err. */
int rule_add(struct rule_list *l, enum rule_kind kind, const char *text, int line, char *err,
             size_t errlen);
void rule_list_free(struct rule_list *l);
/* The name the configuration gives a kind ("header", "redirect", ...). */
const char *rule_kind_name(enum rule_kind kind);

/* One site's rules compiled for matching: first those of `inherited` (the global
 * ones), then its own, in that order. It refers to the rules, which must outlive it. */
struct rule_set;

struct rule_set *rule_set_build(const struct rule_list *inherited, const struct rule_list *own);
void rule_set_free(struct rule_set *rs);
/* How many rules of kind the set has. */
int rule_set_count(const struct rule_set *rs, enum rule_kind kind);
/* How many different header names its header rules name (each is one added line). */
int rule_set_header_names(const struct rule_set *rs);
/* A site's limits, checked when loaded: what a response can carry of its header rules. */
#define RULES_HEADER_MAX       64 /* header rules of a site, the inherited ones included */
#define RULES_HEADER_NAMES_MAX 24 /* their names: room is left for CORS and auth lines */
/* The rules of kind matching path, in order, at most max of them into out; returns
 * how many matched (which may be more than max). A path of length 0 (a request
 * refused before it had one) is matched by the prefix of everything alone. */
int rule_set_match(const struct rule_set *rs, enum rule_kind kind, const char *path, size_t len,
                   const struct rule **out, int max);

#endif

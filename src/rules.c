/* Owns per-path rules: parsing patterns and rule lines once, at load, and the index
 * that finds a site's rules of one kind for a path. Pure apart from loading an auth
 * rule's password file; it never sees a request or a response. */
#include "build-config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "portico/auth.h"
#include "portico/path.h"
#include "portico/rules.h"

int pattern_parse(const char *text, struct pattern *p, char *err, size_t errlen)
{
    size_t len = strlen(text);
    const char *star = strchr(text, '*');

    if (text[0] == '*' && text[1] == '.') {
        if (len == 2 || strpbrk(text + 1, "/*") != NULL) {
            snprintf(err, errlen, "'%s' is no pattern: '*.EXT' needs an extension, without '/' "
                                  "or '*'", text);
            return -1;
        }
        *p = (struct pattern){PATTERN_EXT, text + 1, len - 1};
        return 0;
    }
    if (text[0] != '/') {
        snprintf(err, errlen, "'%s' is no pattern: expected /path, /prefix/* or *.ext", text);
        return -1;
    }
    if (star != NULL && star != text + len - 1) {
        snprintf(err, errlen, "'%s' is no pattern: '*' may only end a path", text);
        return -1;
    }
    *p = (struct pattern){star ? PATTERN_PREFIX : PATTERN_EXACT, text, star ? len - 1 : len};
    return 0;
}

static int ends_with_ci(const char *s, size_t len, const char *suffix, size_t slen)
{
    return len >= slen && strncasecmp(s + len - slen, suffix, slen) == 0;
}

int pattern_match(const struct pattern *p, const char *path, size_t len, struct str *star)
{
    switch (p->kind) {
    case PATTERN_EXACT:
        star->p = path + len;
        star->len = 0;
        return len == p->len && memcmp(path, p->text, len) == 0;
    case PATTERN_PREFIX:
        star->p = path + p->len;
        star->len = len - p->len;
        return len >= p->len && memcmp(path, p->text, p->len) == 0;
    case PATTERN_EXT:
        /* the extension of the last segment, never a directory's "/.ext" */
        if (len <= p->len || !ends_with_ci(path, len, p->text, p->len) ||
            path[len - p->len - 1] == '/')
            return 0;
        star->p = path + 1;
        star->len = len - p->len - 1;
        return 1;
    }
    return 0;
}

static const char *const kind_names[RULE_KINDS] = {"header", "redirect", "fallback", "auth"};

const char *rule_kind_name(enum rule_kind kind)
{
    return kind_names[kind];
}

/* Framing and hop-by-hop fields: a rule that set them would break the message. */
static const char *const refused_headers[] = {
    "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer",
    "te", "content-range", "date", "proxy-connection",
};

static const struct {
    const char *name;
    unsigned own;
} own_headers[] = {
    {"server", OWN_SERVER},
    {"content-type", OWN_CONTENT_TYPE},
    {"cache-control", OWN_CACHE_CONTROL},
    {"content-encoding", OWN_CONTENT_ENCODING},
    {"vary", OWN_VARY},
    {"accept-ranges", OWN_ACCEPT_RANGES},
    {"etag", OWN_ETAG},
    {"last-modified", OWN_LAST_MODIFIED},
    {"location", OWN_LOCATION},
    {"allow", OWN_ALLOW},
    {"strict-transport-security", OWN_HSTS},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int header_name_ok(const char *name, size_t len, char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < len; i++)
        if (!str_is_tchar((unsigned char)name[i]))
            break;
    if (len == 0 || i < len) {
        snprintf(err, errlen, "'%.*s' is no header name", (int)len, name);
        return -1;
    }
    for (i = 0; i < COUNT(refused_headers); i++)
        if (strlen(refused_headers[i]) == len && strncasecmp(name, refused_headers[i], len) == 0) {
            snprintf(err, errlen, "%.*s frames the message: a header rule cannot change it",
                     (int)len, name);
            return -1;
        }
    return 0;
}

static unsigned own_header(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < COUNT(own_headers); i++)
        if (strlen(own_headers[i].name) == len && strncasecmp(name, own_headers[i].name, len) == 0)
            return own_headers[i].own;
    return OWN_NONE;
}

/* "Name: value" or "-Name", in mem; the line to send is built after it. */
static int parse_header(struct rule *r, char *args, char *err, size_t errlen)
{
    char *colon, *value, *end;
    size_t nlen;

    if (args[0] == '-') {
        r->u.header.name = args + 1;
        r->u.header.name_len = strlen(args + 1);
        r->u.header.own = own_header(args + 1, r->u.header.name_len);
        return header_name_ok(args + 1, r->u.header.name_len, err, errlen);
    }
    colon = strchr(args, ':');
    if (colon == NULL) {
        snprintf(err, errlen, "expected 'PATTERN Name: value' or 'PATTERN -Name', not '%s'", args);
        return -1;
    }
    nlen = (size_t)(colon - args);
    if (header_name_ok(args, nlen, err, errlen) < 0)
        return -1;
    value = colon + 1 + strspn(colon + 1, " \t");
    for (end = value + strlen(value); end > value && (end[-1] == ' ' || end[-1] == '\t');)
        *--end = '\0';
    /* the line to send: "Name: value\r\n", where the parsed text ended */
    r->u.header.line = end + 1;
    r->u.header.line_len = (size_t)sprintf(end + 1, "%.*s: %s\r\n", (int)nlen, args, value);
    *colon = '\0';
    r->u.header.name = args;
    r->u.header.name_len = nlen;
    r->u.header.value = value;
    r->u.header.own = own_header(args, nlen);
    return 0;
}

static int parse_redirect(struct rule *r, char *args, char *err, size_t errlen)
{
    char *status = strpbrk(args, " \t");
    unsigned long st = 301;

    if (status != NULL) {
        *status++ = '\0';
        status += strspn(status, " \t");
        st = strtoul(status, &status, 10);
        if (*status != '\0' || (st != 301 && st != 302 && st != 303 && st != 307 && st != 308)) {
            snprintf(err, errlen, "a redirect's status is 301, 302, 303, 307 or 308");
            return -1;
        }
    }
    if (args[0] == '\0' || strpbrk(args, " \t") != NULL) {
        snprintf(err, errlen, "expected 'PATTERN TARGET [STATUS]'");
        return -1;
    }
    r->u.redirect.target = args;
    r->u.redirect.status = (int)st;
    return 0;
}

static int parse_fallback(struct rule *r, char *args, char *err, size_t errlen)
{
    if (!path_is_served_file(args)) {
        snprintf(err, errlen, "a fallback is a path beneath the root, such as /index.html, not "
                              "'%s'", args);
        return -1;
    }
    r->u.fallback.target = args;
    r->u.fallback.len = strlen(args);
    return 0;
}

/* FILE ["REALM"]: the realm may be quoted to hold spaces. */
static int parse_auth(struct rule *r, char *args, char *err, size_t errlen)
{
    char *realm = strpbrk(args, " \t"), *spare;
    char why[512];

    r->u.auth.realm = "portico";
    if (realm != NULL) {
        size_t n;
        *realm++ = '\0';
        realm += strspn(realm, " \t");
        n = strlen(realm);
        if (n >= 2 && realm[0] == '"' && realm[n - 1] == '"') {
            realm[n - 1] = '\0';
            realm++;
        }
        if (realm[0] == '\0' || strpbrk(realm, "\"\\") != NULL) {
            snprintf(err, errlen, "a realm is text without '\"' or '\\'");
            return -1;
        }
        r->u.auth.realm = realm;
    }
    r->u.auth.file = args;
    /* RFC 7617 §2.1: the charset parameter says user and password are UTF-8; the line
     * goes after the two copies of the text (rule_parse made room) */
    spare = r->mem + 2 * strlen(r->text) + 2;
    r->u.auth.challenge = spare;
    r->u.auth.challenge_len = (size_t)sprintf(
        spare, "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n", r->u.auth.realm);
    r->u.auth.users = htpasswd_load(args, why, sizeof(why));
    if (r->u.auth.users == NULL) {
        snprintf(err, errlen, "%s", why);
        return -1;
    }
    return 0;
}

static void rule_free(struct rule *r)
{
    if (r != NULL && r->kind == RULE_AUTH)
        htpasswd_free(r->u.auth.users);
    free(r);
}

static struct rule *rule_parse(enum rule_kind kind, const char *text, int line, char *err,
                               size_t errlen)
{
    size_t len = strlen(text);
    /* the text twice (as written, and cut into pieces), then room for a header line */
    struct rule *r = calloc(1, sizeof(*r) + 3 * len + 64);
    char *pat, *args;
    int rc;

    if (r == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (str_has_control(text)) {
        snprintf(err, errlen, "%s: a control character in the rule", rule_kind_name(kind));
        free(r);
        return NULL;
    }
    r->kind = kind;
    r->line = line;
    r->text = memcpy(r->mem, text, len + 1);
    pat = memcpy(r->mem + len + 1, text, len + 1);
    pat += strspn(pat, " \t");
    args = pat + strcspn(pat, " \t");
    if (*args != '\0')
        *args++ = '\0';
    args += strspn(args, " \t");
    if (*pat == '\0' || *args == '\0') {
        snprintf(err, errlen, "%s needs a pattern and what to do: see portico(8)",
                 rule_kind_name(kind));
        free(r);
        return NULL;
    }
    rc = pattern_parse(pat, &r->pat, err, errlen);
    if (rc == 0 && kind == RULE_HEADER)
        rc = parse_header(r, args, err, errlen);
    else if (rc == 0 && kind == RULE_REDIRECT)
        rc = parse_redirect(r, args, err, errlen);
    else if (rc == 0 && kind == RULE_FALLBACK)
        rc = parse_fallback(r, args, err, errlen);
    else if (rc == 0 && kind == RULE_AUTH)
        rc = parse_auth(r, args, err, errlen);
    if (rc < 0) {
        r->kind = RULE_HEADER; /* no password file to free */
        free(r);
        return NULL;
    }
    return r;
}

int rule_add(struct rule_list *l, enum rule_kind kind, const char *text, int line, char *err,
             size_t errlen)
{
    struct rule *r;

    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        struct rule **v = realloc(l->v, (size_t)cap * sizeof(*v));
        if (v == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    if ((r = rule_parse(kind, text, line, err, errlen)) == NULL)
        return -1;
    l->v[l->n++] = r;
    return 0;
}

void rule_list_free(struct rule_list *l)
{
    int i;

    for (i = 0; i < l->n; i++)
        rule_free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* The rules of one kind, bucketed so that a path looks only at those that could
 * match it: "/x..." patterns by their second byte (the path's must be the same),
 * "*.ext" ones by the extension's last byte, "/" and the prefix of everything
 * in a list of their own.
 * Each bucket keeps the rules' order, so a merge of three buckets is in order. */
#define EXT_BUCKETS 32

struct kind_index {
    int n;
    uint16_t by_first[257], by_ext[EXT_BUCKETS + 1]; /* starts in ids[], one past each end */
    uint16_t nroot;
    uint16_t *ids; /* rule numbers: the root list, then the first-byte and ext buckets */
};

struct rule_set {
    const struct rule **rules; /* inherited, then own */
    int n;
    struct kind_index kinds[RULE_KINDS];
};

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* 0: the root list; 1 + byte: a first-byte bucket; 258 + b: an extension bucket */
static int bucket_of(const struct pattern *p)
{
    if (p->kind == PATTERN_EXT)
        return 258 + (lower((unsigned char)p->text[p->len - 1]) & (EXT_BUCKETS - 1));
    return p->len < 2 ? 0 : 1 + (unsigned char)p->text[1];
}

static int index_kind(struct rule_set *rs, enum rule_kind kind)
{
    struct kind_index *k = &rs->kinds[kind];
    uint16_t count[258 + EXT_BUCKETS] = {0}, pos[258 + EXT_BUCKETS];
    int i, b, at = 0;

    for (i = 0; i < rs->n; i++)
        if (rs->rules[i]->kind == kind)
            count[bucket_of(&rs->rules[i]->pat)]++, k->n++;
    if (k->n == 0)
        return 0;
    if ((k->ids = malloc((size_t)k->n * sizeof(*k->ids))) == NULL)
        return -1;
    for (b = 0; b < 258 + EXT_BUCKETS; b++) {
        pos[b] = (uint16_t)at;
        if (b >= 1 && b <= 257)
            k->by_first[b - 1] = (uint16_t)at;
        else if (b >= 258)
            k->by_ext[b - 258] = (uint16_t)at;
        at += count[b];
    }
    k->by_ext[EXT_BUCKETS] = (uint16_t)at;
    k->nroot = count[0];
    for (i = 0; i < rs->n; i++)
        if (rs->rules[i]->kind == kind)
            k->ids[pos[bucket_of(&rs->rules[i]->pat)]++] = (uint16_t)i;
    return 0;
}

struct rule_set *rule_set_build(const struct rule_list *inherited, const struct rule_list *own)
{
    struct rule_set *rs = calloc(1, sizeof(*rs));
    int n = (inherited ? inherited->n : 0) + (own ? own->n : 0), i, k;

    if (rs == NULL || n > UINT16_MAX || (rs->rules = calloc((size_t)n + 1, sizeof(*rs->rules))) == NULL) {
        free(rs);
        return NULL;
    }
    for (i = 0; inherited && i < inherited->n; i++)
        rs->rules[rs->n++] = inherited->v[i];
    for (i = 0; own && i < own->n; i++)
        rs->rules[rs->n++] = own->v[i];
    for (k = 0; k < RULE_KINDS; k++)
        if (index_kind(rs, (enum rule_kind)k) < 0) {
            rule_set_free(rs);
            return NULL;
        }
    return rs;
}

int rule_set_header_names(const struct rule_set *rs)
{
    int i, j, names = 0;

    for (i = 0; i < rs->n; i++) {
        const struct rule *r = rs->rules[i];
        if (r->kind != RULE_HEADER)
            continue;
        for (j = 0; j < i; j++)
            if (rs->rules[j]->kind == RULE_HEADER &&
                rs->rules[j]->u.header.name_len == r->u.header.name_len &&
                strncasecmp(rs->rules[j]->u.header.name, r->u.header.name,
                            r->u.header.name_len) == 0)
                break;
        names += j == i;
    }
    return names;
}

void rule_set_free(struct rule_set *rs)
{
    int k;

    if (rs == NULL)
        return;
    for (k = 0; k < RULE_KINDS; k++)
        free(rs->kinds[k].ids);
    free(rs->rules);
    free(rs);
}

int rule_set_count(const struct rule_set *rs, enum rule_kind kind)
{
    return rs ? rs->kinds[kind].n : 0;
}

/* A bucket of ids as a range [at, end). */
struct run {
    const uint16_t *at, *end;
};

/* The rules of the root list that cover every path (the pattern of a lone star) */
static int match_everything(const struct rule_set *rs, const struct kind_index *k,
                            const struct rule **out, int max)
{
    int i, found = 0;

    for (i = 0; i < k->nroot; i++) {
        const struct rule *rule = rs->rules[k->ids[i]];
        if (rule->pat.kind == PATTERN_PREFIX && rule->pat.len == 1) {
            if (found < max)
                out[found] = rule;
            found++;
        }
    }
    return found;
}

int rule_set_match(const struct rule_set *rs, enum rule_kind kind, const char *path, size_t len,
                   const struct rule **out, int max)
{
    const struct kind_index *k;
    struct run r[3];
    int found = 0, first, e;

    if (rs == NULL || rs->kinds[kind].n == 0)
        return 0;
    k = &rs->kinds[kind];
    if (len == 0) /* no path (a request refused before it had one) */
        return match_everything(rs, k, out, max);
    first = len >= 2 ? (unsigned char)path[1] : 256; /* "/" has no second byte */
    e = lower((unsigned char)path[len - 1]) & (EXT_BUCKETS - 1);
    r[0] = (struct run){k->ids, k->ids + k->nroot};
    r[1] = first < 256 ? (struct run){k->ids + k->by_first[first], k->ids + k->by_first[first + 1]}
                       : (struct run){NULL, NULL};
    r[2] = (struct run){k->ids + k->by_ext[e], k->ids + k->by_ext[e + 1]};
    for (;;) {
        const struct rule *rule;
        struct str star;
        int i, best = -1;

        for (i = 0; i < 3; i++)
            if (r[i].at < r[i].end && (best < 0 || *r[i].at < *r[best].at))
                best = i;
        if (best < 0)
            return found;
        rule = rs->rules[*r[best].at++];
        if (pattern_match(&rule->pat, path, len, &star)) {
            if (found < max)
                out[found] = rule;
            found++;
        }
    }
}

/* HTTP Basic authentication: htpasswd files read and refused line by line at start-up,
 * credentials verified with libcrypt and remembered briefly per worker. It never logs or
 * decides a status (callers map enum auth_result) and never keeps a password. */
#include "build-config.h"

#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "portico/auth.h"
#include "portico/settings.h"
#include "portico/str.h"

/* A verified credential is trusted this long without crypt: a page, its assets and the
 * next few clicks cost one run. Not longer, because what an entry keeps (a SHA-256 of
 * the credential) can be guessed at SHA-256's speed, not bcrypt's, by whoever reads the
 * worker's memory. */
#define CACHE_TTL_MS 60000

struct htpasswd_user {
    const char *name, *hash; /* NUL-terminated, in the file's text */
    size_t nlen;
    int line;
};

struct htpasswd {
    char *text;
    struct htpasswd_user *users; /* sorted by name */
    size_t n;
    const char *dummy; /* the hash an unknown user's password is run against */
    uint64_t gen;      /* this file among all that this process loaded */
};

struct cache_entry {
    uint64_t gen; /* its file's; 0: a free entry */
    uint64_t expires_ms, used_ms;
    size_t user; /* in that file's users */
    unsigned char digest[SHA256_DIGEST_LENGTH];
};

struct auth_cache {
    unsigned n;
    struct cache_entry e[];
};

static uint64_t generation;
static unsigned long crypt_runs;
static struct crypt_data scratch; /* crypt_r's 32 KiB: one for the process, on no stack */

/* The methods taken when crypt_checksalt agrees, and the forms that htpasswd makes and
 * libcrypt cannot verify or that are weak. SHA-256-crypt ($5$, htpasswd -2), which
 * libxcrypt calls legacy only for being older than SHA-512-crypt, is taken: it is
 * salted and iterated, and issue 15 names SHA-crypt. */
static const struct {
    const char *prefix, *name;
} methods[] = {
    {"$2y$", "bcrypt"},       {"$2b$", "bcrypt"},        {"$2a$", "bcrypt"},
    {"$y$", "yescrypt"},      {"$gy$", "gost-yescrypt"}, {"$7$", "scrypt"},
    {"$6$", "SHA-512-crypt"}, {"$5$", "SHA-256-crypt"},
};
static const struct {
    const char *prefix, *why;
} refused[] = {
    {"$apr1$", "an apr1-MD5 hash, which libcrypt cannot verify"},
    {"{SHA}", "a {SHA} hash (htpasswd -s: unsalted SHA-1, quick to guess)"},
    {"$1$", "an MD5-crypt hash (legacy, quick to guess)"},
};

#define DES_ALPHABET "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/* NULL when libcrypt verifies hash and does not count its method as weak; else why not,
 * a constant or written into buf. */
static const char *hash_refusal(const char *hash, char *buf, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        if (strncmp(hash, methods[i].prefix, strlen(methods[i].prefix)) != 0)
            continue;
        switch (crypt_checksalt(hash)) {
        case CRYPT_SALT_OK:
            return NULL;
        case CRYPT_SALT_METHOD_LEGACY:
            if (strcmp(methods[i].prefix, "$5$") == 0)
                return NULL;
            snprintf(buf, len, "a %s hash, which libcrypt counts as legacy", methods[i].name);
            break;
        case CRYPT_SALT_METHOD_DISABLED:
            snprintf(buf, len, "a %s hash, which this libcrypt has disabled", methods[i].name);
            break;
        default:
            snprintf(buf, len, "a malformed %s hash", methods[i].name);
            break;
        }
        return buf;
    }
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (strncmp(hash, refused[i].prefix, strlen(refused[i].prefix)) == 0)
            return refused[i].why;
    if (*hash == '\0')
        return "no hash";
    if (*hash == '$' || *hash == '_')
        return "a hash of a legacy or unknown method";
    if (strlen(hash) == 13 && strspn(hash, DES_ALPHABET) == 13)
        return "a DES crypt hash (legacy: only 8 characters of a password count)";
    return "a plaintext password";
}

static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int r = memcmp(a, b, alen < blen ? alen : blen);

    return r != 0 ? r : (alen > blen) - (alen < blen);
}

static int name_order(const void *pa, const void *pb)
{
    const struct htpasswd_user *a = pa, *b = pb;

    return name_cmp(a->name, a->nlen, b->name, b->nlen);
}

static int name_line_order(const void *pa, const void *pb)
{
    const struct htpasswd_user *a = pa, *b = pb;
    int r = name_order(a, b);

    return r != 0 ? r : a->line - b->line;
}

/* Takes one line of the file: 0 for a user, a blank line or a comment; -1 with err. */
static int take_line(struct htpasswd *u, char *line, int lineno, const char *path, char *err,
                     size_t errlen)
{
    char *end = line + strlen(line), *colon, buf[80];
    const char *why;

    /* the blanks around a line are no part of it, as Apache reads the file */
    while (*line == ' ' || *line == '\t')
        line++;
    while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    if (*line == '\0' || *line == '#')
        return 0;
    if ((colon = strchr(line, ':')) == NULL) {
        snprintf(err, errlen,
                 "%s:%d: no ':' after the user name (a line is user:hash, as "
                 "htpasswd -B writes it)",
                 path, lineno);
        return -1;
    }
    if (colon == line) {
        snprintf(err, errlen, "%s:%d: no user name before the ':'", path, lineno);
        return -1;
    }
    *colon++ = '\0';
    colon[strcspn(colon, ":")] = '\0'; /* a third field is a comment, also to Apache */
    if ((why = hash_refusal(colon, buf, sizeof(buf))) != NULL) {
        snprintf(err, errlen, "%s:%d: user '%s': %s; make it with htpasswd -B", path, lineno, line,
                 why);
        return -1;
    }
    u->users[u->n++] =
        (struct htpasswd_user){.name = line, .nlen = strlen(line), .hash = colon, .line = lineno};
    return 0;
}

/* A user listed twice is a mistake to report, not a choice between two passwords. */
static int check_twice(const struct htpasswd *u, const char *path, char *err, size_t errlen)
{
    const struct htpasswd_user *dup = NULL;
    size_t i;

    /* sorted by name, then line: the lines of a name are neighbours, the first first */
    for (i = 1; i < u->n; i++)
        if (name_order(&u->users[i - 1], &u->users[i]) == 0 &&
            (dup == NULL || u->users[i].line < dup->line))
            dup = &u->users[i];
    if (dup == NULL)
        return 0;
    snprintf(err, errlen, "%s:%d: user '%s' is listed twice (first on line %d)", path, dup->line,
             dup->name, dup[-1].line);
    return -1;
}

struct htpasswd *htpasswd_load(const char *path, char *err, size_t errlen)
{
    struct htpasswd *u = calloc(1, sizeof(*u));
    char *line, *next;
    size_t colons = 1;
    int lineno = 0;

    if (u == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if ((u->text = config_read_file(path, err, errlen)) == NULL)
        goto fail;
    for (line = u->text; (line = strchr(line, ':')) != NULL; line++)
        colons++; /* every user's line has one */
    if ((u->users = calloc(colons, sizeof(*u->users))) == NULL) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    for (line = u->text; line != NULL; line = next) {
        lineno++;
        if ((next = strchr(line, '\n')) != NULL)
            *next++ = '\0';
        if (take_line(u, line, lineno, path, err, errlen) < 0)
            goto fail;
    }
    if (u->n == 0) {
        snprintf(err, errlen, "%s: no users; add one with htpasswd -B %s USER", path, path);
        goto fail;
    }
    u->dummy = u->users[0].hash; /* the first line's: the method and cost a file uses */
    qsort(u->users, u->n, sizeof(*u->users), name_line_order);
    if (check_twice(u, path, err, errlen) < 0)
        goto fail;
    u->gen = ++generation;
    return u;
fail:
    htpasswd_free(u);
    return NULL;
}

void htpasswd_free(struct htpasswd *u)
{
    if (u == NULL)
        return;
    free(u->users);
    free(u->text);
    free(u);
}

size_t htpasswd_count(const struct htpasswd *u)
{
    return u->n;
}

struct auth_cache *auth_cache_new(unsigned entries)
{
    struct auth_cache *c = calloc(1, sizeof(*c) + (size_t)entries * sizeof(c->e[0]));

    if (c != NULL)
        c->n = entries;
    return c;
}

void auth_cache_free(struct auth_cache *c)
{
    if (c == NULL)
        return;
    OPENSSL_cleanse(c->e, c->n * sizeof(c->e[0]));
    free(c);
}

/* The live entry for this credential of this file, or NULL; expired entries are wiped
 * on the way. */
static struct cache_entry *cache_find(struct auth_cache *c, uint64_t gen,
                                      const unsigned char *digest, uint64_t now_ms)
{
    struct cache_entry *hit = NULL;
    unsigned i;

    for (i = 0; i < c->n; i++) {
        struct cache_entry *e = &c->e[i];

        if (e->gen == 0)
            continue;
        if (now_ms >= e->expires_ms)
            OPENSSL_cleanse(e, sizeof(*e));
        else if (e->gen == gen && CRYPTO_memcmp(e->digest, digest, sizeof(e->digest)) == 0)
            hit = e;
    }
    if (hit != NULL)
        hit->used_ms = now_ms;
    return hit;
}

/* Into a free entry, else over the least recently used. */
static void cache_put(struct auth_cache *c, uint64_t gen, const unsigned char *digest, size_t user,
                      uint64_t now_ms)
{
    struct cache_entry *e = NULL;
    unsigned i;

    for (i = 0; i < c->n && (e == NULL || e->gen != 0); i++)
        if (e == NULL || c->e[i].gen == 0 || c->e[i].used_ms < e->used_ms)
            e = &c->e[i];
    if (e == NULL)
        return;
    e->gen = gen;
    e->expires_ms = now_ms + CACHE_TTL_MS;
    e->used_ms = now_ms;
    e->user = user;
    memcpy(e->digest, digest, sizeof(e->digest));
}

/* credentials = auth-scheme 1*SP token68 (RFC 9110 §11.4); Basic's token is the base64
 * of user-id ":" password (RFC 7617 §2), decoded into cred with a NUL after it. */
static int parse_basic(const char *v, size_t len, char *cred, size_t *colon)
{
    size_t i = 5;
    long n;
    char *sep;

    if (len <= 5 || !str_ieq(v, 5, "basic") || v[5] != ' ')
        return -1;
    while (i < len && v[i] == ' ')
        i++;
    n = str_base64_decode(v + i, len - i, cred, AUTH_CREDENTIAL_MAX);
    if (n < 0 || (sep = memchr(cred, ':', (size_t)n)) == NULL)
        return -1;
    cred[n] = '\0';
    /* RFC 7617 §2: no control characters; a NUL would also cut the password crypt sees */
    for (i = 0; i < (size_t)n; i++)
        if ((unsigned char)cred[i] < 0x20 || cred[i] == 0x7f)
            return -1;
    *colon = (size_t)(sep - cred);
    return 0;
}

/* 1 when crypt makes hash of password. The comparison takes as long wherever the first
 * difference is. */
static int verify(const char *password, const char *hash)
{
    size_t len = strlen(hash);
    const char *out;
    int ok;

    crypt_runs++;
    out = crypt_r(password, hash, &scratch);
    ok = out != NULL && strlen(out) == len && CRYPTO_memcmp(out, hash, len) == 0;
    OPENSSL_cleanse(&scratch, sizeof(scratch));
    return ok;
}

/* SHA-256 of a credential. The digest and its context are made once: OpenSSL's
 * one-call SHA256() looks the algorithm up and allocates a context each time, which
 * cost a remembered credential more than everything else of its check. */
static int digest_of(const char *value, size_t len, unsigned char *out)
{
    static EVP_MD *md;
    static EVP_MD_CTX *ctx;

    if (md == NULL && (md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
        return -1;
    if (ctx == NULL && (ctx = EVP_MD_CTX_new()) == NULL)
        return -1;
    return EVP_DigestInit_ex2(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, value, len) == 1 &&
                   EVP_DigestFinal_ex(ctx, out, NULL) == 1
               ? 0
               : -1;
}

enum auth_result auth_check(struct auth_cache *cache, const struct htpasswd *u, const char *value,
                            size_t len, uint64_t now_ms, const char **user, size_t *ulen)
{
    char cred[AUTH_CREDENTIAL_MAX + 1];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    const struct cache_entry *hit = NULL;
    const struct htpasswd_user *found;
    struct htpasswd_user key;
    enum auth_result res = AUTH_MALFORMED;
    size_t colon;

    if (parse_basic(value, len, cred, &colon) < 0)
        goto done;
    if (cache != NULL && digest_of(value, len, digest) < 0)
        cache = NULL; /* out of memory: verify, remember nothing */
    if (cache != NULL)
        hit = cache_find(cache, u->gen, digest, now_ms);
    if (hit != NULL) {
        found = &u->users[hit->user];
    } else {
        key.name = cred;
        key.nlen = colon;
        found = bsearch(&key, u->users, u->n, sizeof(*u->users), name_order);
        /* an unknown user's password is run against a hash of the file too, so that the
         * time taken does not tell who is a user */
        if (!verify(cred + colon + 1, found != NULL ? found->hash : u->dummy))
            found = NULL;
        else if (found != NULL && cache != NULL)
            cache_put(cache, u->gen, digest, (size_t)(found - u->users), now_ms);
    }
    res = found != NULL ? AUTH_OK : AUTH_DENIED;
    if (found != NULL) {
        *user = found->name;
        *ulen = found->nlen;
    }
done:
    /* what was decoded is never longer than the value it came from */
    OPENSSL_cleanse(cred, len < sizeof(cred) ? len : sizeof(cred));
    OPENSSL_cleanse(digest, sizeof(digest));
    return res;
}

unsigned long auth_crypt_runs(void)
{
    return crypt_runs;
}

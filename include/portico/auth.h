/* HTTP Basic authentication (RFC 7617) against htpasswd files: the users of a file,
 * loaded and checked once, and the check of an Authorization field value, with a small
 * per-worker cache of credentials verified a moment ago. */
#ifndef PORTICO_AUTH_H
#define PORTICO_AUTH_H

#include <stddef.h>
#include <stdint.h>

/* The longest user:password decoded; a longer credential is AUTH_MALFORMED. */
#define AUTH_CREDENTIAL_MAX 1024
/* Cache entries a worker needs: one per user browsing at once (each asset of a page
 * after the first is a hit); past that, a user costs one crypt run a minute more. */
#define AUTH_CACHE_ENTRIES 64

struct htpasswd;   /* the users of one htpasswd file */
struct auth_cache; /* one worker's credentials verified in the last minute */

/* Reads an htpasswd file: "user:hash" lines, blank lines and '#' comments skipped. Only
 * hashes libcrypt verifies and does not count as weak are taken: bcrypt, SHA-512-crypt,
 * yescrypt, gost-yescrypt, scrypt. NULL with one line in err that names the file, the
 * line and the fix, e.g. "PATH:3: user 'bob': an apr1-MD5 hash, which libcrypt cannot
 * verify; make it with htpasswd -B". */
struct htpasswd *htpasswd_load(const char *path, char *err, size_t errlen);
void htpasswd_free(struct htpasswd *u);
size_t htpasswd_count(const struct htpasswd *u);

/* A cache of `entries` credentials, allocated here once; NULL when out of memory. */
struct auth_cache *auth_cache_new(unsigned entries);
void auth_cache_free(struct auth_cache *c);

enum auth_result { AUTH_OK, AUTH_DENIED, AUTH_MALFORMED };

/* Checks an Authorization field value (without the whitespace around it, as http.c keeps
 * it): "Basic", one or more spaces, then base64 with its padding of user ":" password;
 * the user has no ':', the password may; neither has control characters. Any other
 * scheme is AUTH_MALFORMED. An unknown user costs a crypt run like a wrong password.
 * On AUTH_OK, *user and *ulen name the user, in u (for the access log). cache may be
 * NULL; a credential it holds for u is AUTH_OK without a crypt run. */
enum auth_result auth_check(struct auth_cache *cache, const struct htpasswd *u, const char *value,
                            size_t len, uint64_t now_ms, const char **user, size_t *ulen);

/* How many times this process has run crypt: what the cache saved, for tests. */
unsigned long auth_crypt_runs(void);

#endif

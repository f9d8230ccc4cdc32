/* Owns auth rules at work: a request for a path an auth rule covers goes on only
 * with a user and password of the rule's htpasswd file (else 401 and the challenge),
 * and its responses are not stored by shared caches. Verification is auth.c's. */
#include "build-config.h"

#include <stdlib.h>
#include <string.h>

#include "portico/auth.h"
#include "portico/authrule.h"
#include "portico/log.h"
#include "portico/rules.h"

struct authrule {
    struct auth_cache *cache;
    const uint64_t *now_ms;
};

static int guard(void *ctx, struct exchange *x, struct response *resp)
{
    const struct authrule *a = ctx;
    const struct rule *rule;
    struct str value;

    if (rule_set_match(x->site->compiled, RULE_AUTH, x->path, x->path_len, &rule, 1) == 0)
        return 0;
    x->protected = 1;
    value = exchange_header(x, &x->req->authorization, HTTP_HDR_AUTHORIZATION);
    /* a malformed or foreign credential gets the challenge too: a browser then asks */
    if (value.p != NULL && auth_check(a->cache, rule->u.auth.users, value.p, value.len,
                                      *a->now_ms, &x->user, &x->user_len) == AUTH_OK)
        return 0; /* on to the file */
    x->user = NULL;
    resp->status = HTTP_UNAUTHORIZED;
    response_add_line(resp, rule->u.auth.challenge, rule->u.auth.challenge_len);
    return 1;
}

/* RFC 9111 §5.2.2.7: a shared cache must not hand one user's page to another */
static void keep_private(void *ctx, struct exchange *x, struct response *resp)
{
    (void)ctx;
    if (x->protected)
        resp->cache_control = "private";
}

static int loopback(const char *addr)
{
    return addr != NULL && (strncmp(addr, "127.", 4) == 0 || strcmp(addr, "::1") == 0 ||
                            strcmp(addr, "localhost") == 0);
}

/* redirect-https answers plain requests before any credential is asked for */
static int asks_over_plain(const struct settings *site)
{
    return rule_set_count(site->compiled, RULE_AUTH) > 0 && !site->redirect_https;
}

void authrule_warn_plain(const struct settings *s)
{
    if (!loopback(s->bind_addr) && site_any(s, asks_over_plain))
        log_warnx("auth rules are served over plain HTTP on %s port %d, where passwords "
                  "cross the network readable: add tls-cert and redirect-https, or bind "
                  "127.0.0.1", s->bind_addr ? s->bind_addr : "every address", s->port);
}

struct authrule *authrule_new(const uint64_t *now_ms)
{
    struct authrule *a = calloc(1, sizeof(*a));

    if (a == NULL || (a->cache = auth_cache_new(AUTH_CACHE_ENTRIES)) == NULL) {
        free(a);
        return NULL;
    }
    a->now_ms = now_ms;
    return a;
}

void authrule_free(struct authrule *a)
{
    if (a != NULL)
        auth_cache_free(a->cache);
    free(a);
}

struct handler authrule_handler(struct authrule *a)
{
    struct handler h = {guard, keep_private, a};

    return h;
}

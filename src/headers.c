/* Owns header rules at work: every rule of the site that matches the request's path
 * changes the plan, in file order, whoever made it (files, redirects, errors); and
 * --no-cache, which has the last word after them. It never decides a status. */
#include "build-config.h"

#include "portico/headers.h"
#include "portico/rules.h"

#define MATCHED_MAX RULES_HEADER_MAX /* config.c refuses a site with more */

static void apply(const struct rule *rule, struct response *resp)
{
    const char *value = rule->u.header.value;

    switch (rule->u.header.own) {
    case OWN_CONTENT_TYPE:
        resp->content_type = value; /* a field of the plan: multipart parts keep it */
        return;
    case OWN_CACHE_CONTROL:
        resp->cache_control = value;
        return;
    case OWN_VARY:
        if (value != NULL) { /* what the response varies on adds up: never replaced */
            response_append_line(resp, rule->u.header.line, rule->u.header.line_len);
            return;
        }
        resp->omit |= OWN_VARY; /* "-Vary" removes them all */
        break;
    default:
        resp->omit |= rule->u.header.own;
        break;
    }
    if (value != NULL)
        response_add_line(resp, rule->u.header.line, rule->u.header.line_len);
    else
        response_drop_line(resp, rule->u.header.name, rule->u.header.name_len);
}

static void headers_amend(void *ctx, struct exchange *x, struct response *resp)
{
    const struct rule *matched[MATCHED_MAX];
    int n, i;

    (void)ctx;
    n = rule_set_match(x->site->compiled, RULE_HEADER, x->path, x->path_len, matched,
                       MATCHED_MAX);
    for (i = 0; i < n && i < MATCHED_MAX; i++)
        apply(matched[i], resp);
}

struct handler headers_handler(void)
{
    struct handler h = {NULL, headers_amend, NULL};

    return h;
}

/* --no-cache: whatever a rule or a handler said, no response is kept, 304s and errors
 * included, so that a browser shows a file as it is now after every edit. */
static void nocache_amend(void *ctx, struct exchange *x, struct response *resp)
{
    (void)ctx;
    (void)x;
    resp->cache_control = "no-store";
}

struct handler headers_nocache_handler(void)
{
    struct handler h = {NULL, nocache_amend, NULL};

    return h;
}

/* --health and --metrics. Health says 200 while the instance serves and 503 once a
 * graceful stop's drain began (the master's flag in shared memory), so that a
 * balancer takes the instance out before its listeners close. Metrics are summed
 * from every worker's slot and shown only to the addresses allowed to read them. */
#include "build-config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "portico/endpoints.h"
#include "portico/log.h"

#define METRICS_TEXT_MAX 8192

struct endpoints {
    const char *health, *metrics; /* paths, or NULL */
    size_t health_len, metrics_len;
    struct metrics *m;
    const time_t *now;
    struct netaddr_set allow; /* who may read the metrics; none given: loopback and trusted */
    int allow_given;
};

struct endpoints *endpoints_new(const struct settings *s, struct metrics *m, const time_t *now)
{
    struct endpoints *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return NULL;
    e->health = s->health;
    e->health_len = s->health ? strlen(s->health) : 0;
    e->metrics = m != NULL ? s->metrics : NULL;
    e->metrics_len = e->metrics ? strlen(e->metrics) : 0;
    e->m = m;
    e->now = now;
    e->allow_given = s->nmetrics_allow > 0;
    if (e->allow_given)
        netaddr_set_add_all(&e->allow, s->metrics_allow, s->nmetrics_allow);
    else
        netaddr_set_add_all(&e->allow, s->trusted_proxy, s->ntrusted_proxy);
    return e;
}

static void health(const struct endpoints *e, struct response *resp)
{
    static const char ok[] = "ok\n", draining[] = "draining\n";
    int drain = metrics_draining(e->m);

    resp->status = drain ? HTTP_SERVICE_UNAVAILABLE : HTTP_OK;
    resp->body = drain ? draining : ok;
    resp->body_len = drain ? sizeof(draining) - 1 : sizeof(ok) - 1;
}

static int may_read_metrics(const struct endpoints *e, const struct sockaddr *client)
{
    return netaddr_set_has(&e->allow, client) ||
           (!e->allow_given && netaddr_is_loopback(client));
}

/* The text goes into a memfd, as a listing's does: sent by the same walker. */
static void metrics(const struct endpoints *e, const struct exchange *x, struct response *resp)
{
    char text[METRICS_TEXT_MAX];
    struct buf b;
    int fd;

    if (!may_read_metrics(e, x->client)) {
        resp->status = HTTP_FORBIDDEN;
        return;
    }
    buf_init(&b, text, sizeof(text));
    metrics_render(e->m, *e->now, &b);
    if (b.overflow) {
        log_warnx("the metrics outgrew %d bytes", METRICS_TEXT_MAX);
        resp->status = HTTP_INTERNAL_ERROR;
        return;
    }
    fd = memfd_create("portico-metrics", MFD_CLOEXEC);
    if (fd < 0 || write(fd, text, b.len) != (ssize_t)b.len) {
        log_warn("writing the metrics");
        if (fd >= 0)
            close(fd);
        resp->status = HTTP_INTERNAL_ERROR;
        return;
    }
    resp->status = HTTP_OK;
    resp->own_fd = fd;
    resp->length = b.len;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static int handle(void *ctx, struct exchange *x, struct response *resp)
{
    const struct endpoints *e = ctx;
    int is_health = exchange_path_is(x, e->health, e->health_len);

    if (!is_health && !exchange_path_is(x, e->metrics, e->metrics_len))
        return 0;
    resp->cache_control = "no-store";
    if (exchange_answer_methods(x, resp))
        return 1;
    resp->content_type = "text/plain; charset=utf-8";
    if (is_health)
        health(e, resp);
    else
        metrics(e, x, resp);
    return 1;
}

struct handler endpoints_handler(struct endpoints *e)
{
    struct handler h = {handle, NULL, e};

    return h;
}

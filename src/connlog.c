/* The access-log line of a request a connection has answered: what log.c writes,
 * gathered from the connection, its request and its response. Reads only. */
#include "build-config.h"

#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "portico/conn.h"
#include "portico/log.h"
#include "portico/netaddr.h"

/* A monotonic clock for durations: a vDSO call, no syscall. */
uint64_t conn_clock_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void span_at(const char *base, const struct span *s, const char **p, size_t *len)
{
    *p = s->len ? base + s->off : NULL;
    *len = s->len;
}

void conn_log_request(const struct conn *c)
{
    const struct conn_active *a = c->a;
    struct log_access_entry e;
    const struct request *r = &a->parser.req;
    const char *base = a->in + c->req_start;
    char addr[INET6_ADDRSTRLEN];

    if (!log_access_enabled())
        return;
    netaddr_format(a->x.client, addr, sizeof(addr));
    memset(&e, 0, sizeof(e));
    e.client = addr;
    if (r->line_end > r->line_start) {
        e.request_line = base + r->line_start;
        e.request_line_len = r->line_end - r->line_start;
        e.method = r->method_known ? http_method_name(r->method) : NULL;
    }
    span_at(base, &r->referer, &e.referer, &e.referer_len);
    span_at(base, &r->user_agent, &e.user_agent, &e.user_agent_len);
    span_at(base, &r->target, &e.target, &e.target_len);
    span_at(base, &r->host, &e.host, &e.host_len);
    e.tls = c->env->timed ? transport_version(&c->io) : NULL; /* the JSON log's alone */
    e.user = a->x.user;
    e.user_len = a->x.user_len;
    e.status = (int)a->resp.status;
    e.bytes = a->send.bytes_sent > a->head_len ? a->send.bytes_sent - a->head_len : 0;
    e.duration_us = c->env->timed && a->begun_us ? conn_clock_us() - a->begun_us : 0;
    e.when = c->env->now;
    log_access(&e);
}

/* A worker's door: accepting on the shared listeners in batches, admitting a
 * client (trusted proxies, the per-address limit), handing out and taking back
 * connection slots, pausing when out of slots or descriptors. It never reads a
 * request; the connection does (conn.c). */
#include "build-config.h"

#include <errno.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>

#include "portico/iplimit.h"
#include "portico/log.h"
#include "portico/metrics.h"
#include "portico/tls.h"
#include "portico/transport.h"
#include "portico/workerpriv.h"

#define ACCEPT_BATCH    64
#define ACCEPT_PAUSE_MS 100

static void resume_accepting(struct worker *w);

static struct conn *conn_get(struct worker *w)
{
    struct conn *c = w->free_conns;

    if (c != NULL)
        w->free_conns = c->next_free;
    else if (w->slots_used < w->settings->max_connections)
        c = &w->slots[w->slots_used++];
    else
        return NULL;
    w->nconns++;
    metrics_set_open(w->nconns);
    return c;
}

/* A free slot, or an idle connection that could give its slot up: if accepting
 * was paused because all were busy, resume. */
static void on_conn_idle(struct conn_env *env)
{
    struct worker *w = WORKER_OF_ENV(env);

    if (w->full) {
        w->full = 0;
        resume_accepting(w);
    }
}

static void on_conn_closed(struct conn_env *env, struct conn *c)
{
    struct worker *w = WORKER_OF_ENV(env);

    c->next_free = w->free_conns;
    w->free_conns = c;
    w->nconns--;
    metrics_set_open(w->nconns);
    iplimit_leave(w->iplimit, c->ip_place);
    on_conn_idle(env);
}

/* Frees a slot by closing the connection that has been idle longest. */
static int reclaim_idle(struct worker *w)
{
    struct timer *t = w->q[CONN_T_IDLE].head ? w->q[CONN_T_IDLE].head : w->q[CONN_T_REST].head;

    if (t == NULL)
        return 0;
    conn_close(CONN_OF_TIMER(t));
    return 1;
}

static void pause_accepting(struct worker *w)
{
    int i;

    for (i = 0; i < w->nacceptors; i++) {
        if (!w->acceptors[i].paused) {
            event_del(w->loop, w->acceptors[i].l->fd);
            w->acceptors[i].paused = 1;
        }
    }
}

static void resume_accepting(struct worker *w)
{
    int i;

    if (w->env.stopping)
        return;
    for (i = 0; i < w->nacceptors; i++) {
        if (w->acceptors[i].paused) {
            event_add_listener(w->loop, w->acceptors[i].l->fd, &w->acceptors[i].h);
            w->acceptors[i].paused = 0;
        }
    }
}

/* --max-connections-per-ip, once the client is known. A trusted proxy's own
 * connections are not limited: each carries many clients. */
static int admit(struct conn_env *env, struct conn *c)
{
    struct worker *w = WORKER_OF_ENV(env);

    if (!c->proxied && netaddr_set_has(&w->trusted, &c->peer.sa))
        return 1;
    c->ip_place =
        iplimit_enter(w->iplimit, &c->peer.sa, w->settings->max_conns_per_ip, w->owner);
    return c->ip_place != IPLIMIT_OVER;
}

/* Gives an accepted socket its transport (TLS on an HTTPS listener) and a slot. A
 * PROXY listener's peer must be a trusted proxy: anyone else is closed on at once. */
static void start_conn(struct worker *w, const struct listener *l, int fd,
                       const struct sockaddr *peer, socklen_t len)
{
    struct transport io;
    struct conn *c;

    metrics_accepted();
    if (l->proxy && !netaddr_set_has(&w->trusted, peer)) {
        close(fd);
        return;
    }
    transport_init(&io, fd);
    if (l->tls && tls_transport_start(&io, w->tls) < 0) {
        log_warnx("out of memory for a TLS connection; closing it");
        io.ops->close(&io);
        return;
    }
    c = conn_get(w);
    if (c == NULL) {
        io.ops->close(&io);
        return;
    }
    if (conn_start(c, &w->env, &io, peer, len, l->proxy) && event_add_conn(w->loop, fd, &c->h) < 0) {
        log_warn("epoll_ctl");
        conn_close(c);
    }
}


/* Out of descriptors: accepting again at once would spin on the same error, so
 * pause; say so once per episode, not at every retry. */
static void accept_failed(struct worker *w)
{
    if (!w->accept_warned)
        log_warn("accept (pausing new connections, retrying every %d ms)", ACCEPT_PAUSE_MS);
    w->accept_warned = 1;
    pause_accepting(w);
    timer_arm(&w->q_accept, &w->accept_timer, w->env.now_ms);
}

struct accepted {
    int fd;
    socklen_t len;
    struct sockaddr_storage peer;
};

/* Accepts up to ACCEPT_BATCH connections into got while there are slots (or idle
 * connections to give theirs up); returns how many. */
static int accept_batch(struct worker *w, struct acceptor *ac, struct accepted *got)
{
    int n = 0;

    while (n < ACCEPT_BATCH && !w->env.stopping) {
        struct accepted *a = &got[n];
        int full = w->nconns + n >= w->settings->max_connections;

        if (full && w->q[CONN_T_IDLE].head == NULL && w->q[CONN_T_REST].head == NULL) {
            /* every slot is busy: leave new clients in the backlog (or to the other
             * workers) until a slot frees, instead of waking up for them again */
            w->full = 1;
            pause_accepting(w);
            break;
        }
        a->len = sizeof(a->peer);
        a->fd = accept4(ac->l->fd, (struct sockaddr *)&a->peer, &a->len,
                        SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (a->fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_failed(w);
            else if (errno != EAGAIN)
                log_warn("accept");
            break;
        }
        if (w->accept_warned) {
            log_info("accepting new connections again");
            w->accept_warned = 0;
        }
        if (full)
            reclaim_idle(w); /* the longest-idle keep-alive connection makes room */
        n++;
    }
    return n;
}

static void on_accept(struct event_handler *h, unsigned events)
{
    struct acceptor *ac = (struct acceptor *)h;
    struct accepted got[ACCEPT_BATCH];
    int i, n = accept_batch(ac->w, ac, got);

    (void)events;
    /* a connection after the first may have come after a file changed, and its
     * request is read at once: take the notifications first, once for all of them
     * (they were all there before this read) */
    if (n > 1)
        event_run_first(ac->w->loop);
    for (i = 0; i < n; i++)
        start_conn(ac->w, ac->l, got[i].fd, (struct sockaddr *)&got[i].peer, got[i].len);
}

static void on_accept_timer(struct timer *t)
{
    resume_accepting((struct worker *)((char *)t - offsetof(struct worker, accept_timer)));
}


int accept_setup(struct worker *w, const struct listener_set *ls)
{
    int i;

    timer_queue_init(&w->q_accept, ACCEPT_PAUSE_MS);
    timer_init(&w->accept_timer, on_accept_timer);
    w->env.closed = on_conn_closed;
    w->env.idle = on_conn_idle;
    if (w->iplimit != NULL)
        w->env.admit = admit;

    for (i = 0; i < ls->n; i++) {
        struct acceptor *ac = &w->acceptors[i];
        ac->h.on_event = on_accept;
        ac->w = w;
        ac->l = &ls->l[i];
        if (event_add_listener(w->loop, ac->l->fd, &ac->h) < 0) {
            log_error("epoll_ctl on a listener");
            return -1;
        }
    }
    w->nacceptors = ls->n;
    return 0;
}


void accept_stop(struct worker *w)
{
    int i;

    for (i = 0; i < w->nacceptors; i++) {
        if (!w->acceptors[i].paused)
            event_del(w->loop, w->acceptors[i].l->fd);
        close(w->acceptors[i].l->fd);
    }
    w->nacceptors = 0;
    timer_cancel(&w->accept_timer);
}

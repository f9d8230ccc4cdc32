/* A worker's life: set up from what it was started with, run the event loop,
 * expire timers, stop gracefully (accepting is accept.c's). Single-threaded, no
 * locks; it never forks or binds. */
#include "build-config.h"

#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "portico/authrule.h"
#include "portico/conn.h"
#include "portico/compressor.h"
#include "portico/cors.h"
#include "portico/endpoints.h"
#include "portico/event.h"
#include "portico/fdpass.h"
#include "portico/headers.h"
#include "portico/http.h"
#include "portico/live.h"
#include "portico/log.h"
#include "portico/metrics.h"
#include "portico/netaddr.h"
#include "portico/pool.h"
#include "portico/redirect.h"
#include "portico/response.h"
#include "portico/site.h"
#include "portico/static.h"
#include "portico/tls.h"
#include "portico/watch.h"
#include "portico/variant.h"
#include "portico/worker.h"
#include "portico/workerpriv.h"

#define GRACE_MS           1000 /* idle connections' last chance in a graceful stop */
#define MAX_EVENTS         256
#define MAX_FREE_BLOCKS    64
#define REST_MS            1000 /* idle this long, a connection gives its TLS buffers back */

/* 1: fast stop (SIGTERM, SIGINT); 2: graceful (SIGQUIT, and a reload) */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    if (sig == SIGQUIT)
        stop_requested = stop_requested ? stop_requested : 2;
    else
        stop_requested = 1; /* a fast stop overtakes a graceful one */
}

int worker_send_fd(int ctl, int fd)
{
    return fdpass_send(ctl, "L", 1, fd);
}

/* A message from the master: a reopened access log to write to from now on. */
static void on_control(struct event_handler *h, unsigned events)
{
    struct worker *w = (struct worker *)((char *)h - offsetof(struct worker, ctl_h));
    char c;
    int fd;

    (void)events;
    while (fdpass_recv(w->ctl, &c, 1, &fd, MSG_DONTWAIT) > 0)
        if (fd >= 0)
            log_access_use_fd(fd);
}

/* The watcher says files changed: every open page hears it. */
static void on_live(struct event_handler *h, unsigned events)
{
    struct worker *w = (struct worker *)((char *)h - offsetof(struct worker, live_h));

    (void)events;
    live_read(w->live);
}

/* Files changed: the cache drops what they were before any request is served. */
static void on_watch(struct event_handler *h, unsigned events)
{
    struct root_files *r = (struct root_files *)((char *)h - offsetof(struct root_files, h));

    (void)events;
    watch_read(r->watch);
}

static void clock_tick(struct worker *w)
{
    struct timespec ts;

    int i;

    w->env.now_ms = event_now_ms();
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != w->env.now) {
        w->env.now = ts.tv_sec;
        response_tick(w->env.now);
    }
    for (i = 0; i < w->nsites; i++) {
        w->sctx[i].now_ms = w->env.now_ms;
        w->sctx[i].now = w->env.now;
    }
}

static void begin_stop(struct worker *w, int graceful)
{
    struct timer_queue *idle[3] = {&w->q[CONN_T_IDLE], &w->q[CONN_T_REST], &w->q[CONN_T_HEADER]};
    const struct settings *s = w->settings;
    unsigned bound = s->shutdown_timeout;
    int i;

    if (graceful)
        bound += GRACE_MS / 1000 + 1;
    /* a fast stop may follow a graceful one: it only ever brings the deadline closer */
    if (!w->env.stopping || w->env.now_ms + (uint64_t)bound * 1000 < w->stop_deadline_ms)
        w->stop_deadline_ms = w->env.now_ms + (uint64_t)bound * 1000;
    w->env.stopping = 1;
    w->stop_graceful = graceful;
    accept_stop(w);
    if (w->live != NULL)
        live_stop(w->live); /* the pages reconnect, to the next generation if any */
    for (i = 0; i < 3; i++) {
        struct timer *t = idle[i]->head;
        while (t != NULL) {
            struct timer *next = t->next;
            /* a graceful stop gives idle connections a moment, so a request already
             * on its way is answered (with Connection: close) rather than raced by
             * our close; a fast stop closes them now */
            if (!graceful)
                conn_stop_if_idle(CONN_OF_TIMER(t));
            else if (t->deadline_ms > w->env.now_ms + GRACE_MS)
                timer_arm_at(idle[i], t, w->env.now_ms + GRACE_MS);
            t = next;
        }
    }
}

static void expire_timers(struct worker *w)
{
    int i;

    for (i = 0; i < CONN_TIMEOUTS; i++)
        timer_run_expired(&w->q[i], w->env.now_ms);
    timer_run_expired(&w->q_accept, w->env.now_ms);
}

/* Cached files hold descriptors (an entry's file with its two pre-compressed
 * siblings, or with its compressed variants, one per coding): leave the
 * connections theirs. */
static unsigned cache_entries(const struct settings *s)
{
    struct rlimit rl;
    unsigned long long spare;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return s->file_cache_entries;
    spare = rl.rlim_cur > (rlim_t)s->max_connections + 64 ? rl.rlim_cur - s->max_connections - 64
                                                         : 0;
    spare /= s->compress ? 1 + ENCODING_COUNT : 3;
    if (spare < 16)
        spare = 16;
    return spare < s->file_cache_entries ? (unsigned)spare : s->file_cache_entries;
}

static void setup_timers(struct worker *w, const struct settings *s)
{
    int i;

    timer_queue_init(&w->q[CONN_T_HEADER], (uint64_t)s->header_timeout * 1000);
    timer_queue_init(&w->q[CONN_T_BODY],
                     (uint64_t)(s->body_timeout ? s->body_timeout : s->header_timeout) * 1000);
    timer_queue_init(&w->q[CONN_T_IDLE], (uint64_t)s->keepalive_timeout * 1000);
    timer_queue_init(&w->q[CONN_T_REST], REST_MS < (uint64_t)s->keepalive_timeout * 1000
                                             ? REST_MS
                                             : (uint64_t)s->keepalive_timeout * 1000);
    timer_queue_init(&w->q[CONN_T_SEND], (uint64_t)s->send_timeout * 1000);
    timer_queue_init(&w->q[CONN_T_LINGER], 2000);
    timer_queue_init(&w->q[CONN_T_STREAM], CONN_STREAM_IDLE_MS);
    for (i = 0; i < CONN_TIMEOUTS; i++)
        w->env.queue[i] = &w->q[i];
}

/* What some site uses (site_any): a feature no site uses has no handler at all. */
static int uses_https_redirect(const struct settings *site)
{
    return site->redirect_https;
}

static int uses_redirects(const struct settings *site)
{
    return rule_set_count(site->compiled, RULE_REDIRECT) > 0 || site->clean_urls;
}

static int uses_cors(const struct settings *site)
{
    return site->ncors > 0;
}

/* The handler table, in order: a feature that is off has no entry. */
static void setup_handlers(struct worker *w, const struct settings *s)
{
    int n = 0;

    if (w->endpoints != NULL)
        w->handlers[n++] = endpoints_handler(w->endpoints);
    if (site_any(s, uses_https_redirect))
        w->handlers[n++] = redirect_https_handler(s);
    if (site_any(s, uses_redirects))
        w->handlers[n++] = redirect_rules_handler();
    if (w->cors != NULL)
        w->handlers[n++] = cors_handler(w->cors);
    if (w->auth != NULL)
        w->handlers[n++] = authrule_handler(w->auth);
    if (w->live != NULL)
        w->handlers[n++] = live_handler(w->live);
    w->handlers[n++] = static_handler(w->sctx);
    if (site_any_rules(s, RULE_HEADER))
        w->handlers[n++] = headers_handler();
    if (s->no_cache)
        w->handlers[n++] = headers_nocache_handler();
    w->env.handlers = w->handlers;
    w->env.nhandlers = n;
}

/* The files of a root: shared by the sites that serve it the same way. */
static struct root_files *root_files(struct worker *w, const struct settings *site, int fd,
                                     unsigned entries)
{
    struct root_files *r;
    int i;

    for (i = 0; i < w->nroots; i++)
        if (w->roots[i].fd == fd && w->roots[i].precompressed == site->precompressed)
            return &w->roots[i];
    r = &w->roots[w->nroots++];
    r->fd = fd;
    r->precompressed = site->precompressed;
    r->watch = watch_new(fd, entries, site->revalidate);
    r->fc = filecache_new(fd, entries, (uint64_t)site->revalidate * 1000, site->precompressed,
                          r->watch);
    r->h.on_event = on_watch;
    if (r->watch == NULL || r->fc == NULL) {
        log_error("worker set-up");
        return NULL;
    }
    if (watch_fd(r->watch) >= 0 && event_add_first(w->loop, watch_fd(r->watch), &r->h) < 0) {
        log_error("epoll_ctl on the change notifications");
        return NULL;
    }
    return r;
}

/* One static context per site; the open files are the roots'. */
static int setup_sites(struct worker *w, const struct settings *s, const int *rootfds)
{
    int i, j, distinct = 0;
    unsigned entries;

    w->nsites = 1 + s->nsites;
    for (i = 0; i < w->nsites; i++) { /* the master opened equal roots once */
        for (j = 0; j < i && rootfds[j] != rootfds[i]; j++)
            ;
        distinct += j == i;
    }
    w->sctx = calloc((size_t)w->nsites, sizeof(*w->sctx));
    w->roots = calloc((size_t)w->nsites, sizeof(*w->roots));
    if (w->sctx == NULL || w->roots == NULL) {
        log_error("worker set-up");
        return -1;
    }
    /* the descriptors the caches may hold are shared between the roots */
    entries = cache_entries(s) / (unsigned)distinct;
    for (i = 0; i < w->nsites; i++) {
        const struct settings *site = site_settings(s, i);
        struct root_files *r = root_files(w, site, rootfds[i], entries > 16 ? entries : 16);
        if (r == NULL)
            return -1;
        w->sctx[i].rootfd = r->fd;
        w->sctx[i].fc = r->fc;
        w->sctx[i].settings = site;
        w->sctx[i].variants = w->variants;
    }
    w->sctx[0].live = w->live != NULL;
    return 0;
}

/* Who the client is and what is counted: trusted proxies, the per-address limit,
 * the shared counts, the endpoints for a balancer, the access log's form. */
static int setup_balancer(struct worker *w, const struct worker_start *ws)
{
    const struct settings *s = ws->s;

    netaddr_set_add_all(&w->trusted, s->trusted_proxy, s->ntrusted_proxy);
    w->env.trusted = s->ntrusted_proxy > 0 ? &w->trusted : NULL;
    w->env.forwarded = strcmp(s->forwarded_header, "forwarded") == 0;
    w->owner = ws->metrics_slot;
    if (s->max_conns_per_ip > 0)
        w->iplimit = ws->iplimit;
    metrics_use_slot(ws->metrics, s->metrics ? ws->metrics_slot : -1);
    log_access_set_json(strcmp(s->log_format, "json") == 0);
    w->env.timed = strcmp(s->log_format, "json") == 0 && log_access_enabled();
    if ((s->health || s->metrics) &&
        (w->endpoints = endpoints_new(s, ws->metrics, &w->env.now)) == NULL) {
        log_error("worker set-up");
        return -1;
    }
    return 0;
}

/* --watch: the watcher's change batches come on the worker's own socket. */
static int setup_live(struct worker *w, const struct worker_start *ws)
{
    if (!ws->s->watch || ws->live_fd < 0)
        return 0;
    if ((w->live = live_new(ws->live_fd)) == NULL) {
        log_error("worker set-up");
        return -1;
    }
    w->live_h.on_event = on_live;
    if (event_add_listener(w->loop, ws->live_fd, &w->live_h) < 0) {
        log_error("epoll_ctl on the watcher's socket");
        return -1;
    }
    return 0;
}

static int setup(struct worker *w, const struct worker_start *ws)
{
    const struct settings *s = ws->s;

    w->settings = s;
    w->limits.max_header_size = s->max_header_size;
    w->limits.max_headers = s->max_headers;
    w->limits.max_body_size = s->max_body_size;
    setup_timers(w, s);
    w->env.settings = s;
    w->env.limits = &w->limits;
    w->env.blocks = &w->blocks;
    w->loop = event_loop_new(MAX_EVENTS);
    /* slots are touched only when used, so a large limit costs address space only */
    w->slots = calloc(s->max_connections, sizeof(*w->slots));
    if (w->loop == NULL || w->slots == NULL ||
        pool_init(&w->blocks, CONN_BLOCK_SIZE, MAX_FREE_BLOCKS) < 0) {
        log_error("worker set-up");
        return -1;
    }
    if (ws->cc->on &&
        (w->variants = variant_new(ws->cc->dirfd, ws->cc->jobs[1], s->compress_min)) == NULL) {
        log_error("worker set-up");
        return -1;
    }
    if (setup_live(w, ws) < 0 || setup_sites(w, s, ws->rootfds) < 0 ||
        setup_balancer(w, ws) < 0)
        return -1;
    if ((site_any(s, uses_cors) && (w->cors = cors_new(s)) == NULL) ||
        (site_any_rules(s, RULE_AUTH) && (w->auth = authrule_new(&w->env.now_ms)) == NULL)) {
        log_error("worker set-up");
        return -1;
    }
    setup_handlers(w, s);
    return accept_setup(w, ws->ls);
}

/* The stop signals stay blocked except inside epoll_pwait (waitmask), so none is lost;
 * reloads and log reopening are the master's business. */
static void setup_signals(sigset_t *waitmask)
{
    struct sigaction sa;
    sigset_t blocked;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGQUIT);
    sigprocmask(SIG_SETMASK, &blocked, NULL);
    sigemptyset(waitmask);
}

int worker_run(const struct worker_start *ws)
{
    static struct worker w;
    sigset_t waitmask;
    pid_t master = getppid();

    log_set_ident(1);
    /* die with the master rather than serve on as an orphan */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        return 0;
    setup_signals(&waitmask);
    w.tls = ws->tls;
    if (setup(&w, ws) < 0)
        return 1;
    w.ctl = ws->ctl;
    w.ctl_h.on_event = on_control;
    if (w.ctl >= 0 && event_add_listener(w.loop, w.ctl, &w.ctl_h) < 0)
        log_warn("epoll_ctl on the control socket");
    clock_tick(&w);

    for (;;) {
        struct timer_queue *queues[] = {&w.q[0], &w.q[1], &w.q[2], &w.q[3],
                                        &w.q[4], &w.q[5], &w.q[6], &w.q_accept};
        int n, timeout = timer_next_ms(queues, 8, w.env.now_ms);

        _Static_assert(CONN_TIMEOUTS == 7, "every queue is waited for");
        if (w.env.stopping && (timeout < 0 || timeout > 100))
            timeout = 100;
        n = event_wait(w.loop, timeout, &waitmask);
        if (n < 0) {
            log_error("epoll_wait");
            return 1;
        }
        clock_tick(&w); /* before the handlers: they arm timers from it */
        event_dispatch(w.loop, n);
        if (stop_requested && (!w.env.stopping || (w.stop_graceful && stop_requested == 1)))
            begin_stop(&w, stop_requested == 2);
        expire_timers(&w);
        if (w.env.stopping && (w.nconns == 0 || w.env.now_ms >= w.stop_deadline_ms))
            return 0;
    }
}

/* A worker's life: accept on the shared listeners, run the event loop, expire
 * timers, stop gracefully. Single-threaded, no locks; it never forks or binds. */
#include "build-config.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "portico/conn.h"
#include "portico/log.h"
#include "portico/response.h"
#include "portico/watch.h"
#include "portico/worker.h"

#define ACCEPT_BATCH       64
#define GRACE_MS           1000 /* idle connections' last chance in a graceful stop */
#define ACCEPT_PAUSE_MS    100
#define MAX_EVENTS         256

/* 1: fast stop (SIGTERM, SIGINT); 2: graceful (SIGQUIT, and a reload) */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    if (sig == SIGQUIT)
        stop_requested = stop_requested ? stop_requested : 2;
    else
        stop_requested = 1;
}

int worker_send_fd(int ctl, int fd)
{
    char c = 'L', cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&c, 1};
    struct msghdr msg;
    struct cmsghdr *cm;

    memset(&msg, 0, sizeof(msg));
    memset(cbuf, 0, sizeof(cbuf));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf;
    msg.msg_controllen = sizeof(cbuf);
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    return sendmsg(ctl, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ? -1 : 0;
}

/* A message from the master: a reopened access log to write to from now on. */
static void on_control(struct event_handler *h, unsigned events)
{
    struct worker *w = (struct worker *)((char *)h - offsetof(struct worker, ctl_h));
    char c, cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&c, 1};
    struct msghdr msg;
    struct cmsghdr *cm;

    (void)events;
    for (;;) {
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf;
        msg.msg_controllen = sizeof(cbuf);
        if (recvmsg(w->ctl, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0)
            return;
        cm = CMSG_FIRSTHDR(&msg);
        if (cm != NULL && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            int fd;
            memcpy(&fd, CMSG_DATA(cm), sizeof(int));
            log_access_use_fd(fd);
        }
    }
}

/* Files changed: the cache drops what they were before any request is served. */
static void on_watch(struct event_handler *h, unsigned events)
{
    struct worker *w = (struct worker *)((char *)h - offsetof(struct worker, watch_h));

    (void)events;
    watch_read(w->watch);
}

#define CONN_OF_TIMER(t) ((struct conn *)((char *)(t) - offsetof(struct conn, timer)))

static void resume_accepting(struct worker *w);

struct conn *worker_conn_get(struct worker *w)
{
    struct conn *c = w->free_conns;

    if (c != NULL)
        w->free_conns = c->next_free;
    else if (w->slots_used < w->settings->max_connections)
        c = &w->slots[w->slots_used++];
    else
        return NULL;
    w->nconns++;
    return c;
}

void worker_conn_put(struct worker *w, struct conn *c)
{
    c->next_free = w->free_conns;
    w->free_conns = c;
    w->nconns--;
    worker_conn_idle(w);
}

void worker_conn_idle(struct worker *w)
{
    /* a free slot, or an idle connection that could give its slot up */
    if (w->full) {
        w->full = 0;
        resume_accepting(w);
    }
}

void *worker_block_get(struct worker *w)
{
    void *block = w->nfree_blocks > 0 ? w->free_blocks[--w->nfree_blocks]
                                       : malloc(CONN_BLOCK_SIZE);

    /* one line an episode: a flood of refused connections must not flood the log too */
    if (block == NULL && !w->block_warned) {
        log_warnx("out of memory for connection buffers: answering 503 until memory frees");
        w->block_warned = 1;
    } else if (block != NULL && w->block_warned) {
        log_warnx("memory for connection buffers is available again");
        w->block_warned = 0;
    }
    return block;
}

void worker_block_put(struct worker *w, void *block)
{
    if (w->nfree_blocks < w->max_free_blocks)
        w->free_blocks[w->nfree_blocks++] = block;
    else
        free(block); /* keep a bounded pool; a burst's extra blocks go back to libc */
}

static void clock_tick(struct worker *w)
{
    struct timespec ts;

    w->now_ms = event_now_ms();
    w->sctx.now_ms = w->now_ms;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != w->now) {
        w->now = ts.tv_sec;
        w->sctx.now = ts.tv_sec;
        response_tick(w->now);
    }
}

/* Frees a slot by closing the connection that has been idle longest. */
static int reclaim_idle(struct worker *w)
{
    struct timer *t = w->q_idle.head;

    if (t == NULL)
        return 0;
    conn_close(CONN_OF_TIMER(t));
    return 1;
}

static void pause_accepting(struct worker *w)
{
    int i;

    for (i = 0; i < w->nlisteners; i++) {
        if (!w->listeners[i].paused) {
            event_del(w->loop, w->listeners[i].fd);
            w->listeners[i].paused = 1;
        }
    }
}

static void resume_accepting(struct worker *w)
{
    int i;

    if (w->stopping)
        return;
    for (i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i].paused) {
            event_add_listener(w->loop, w->listeners[i].fd, &w->listeners[i].h);
            w->listeners[i].paused = 0;
        }
    }
}

static void on_accept(struct event_handler *h, unsigned events)
{
    struct listener *l = (struct listener *)h;
    struct worker *w = l->w;
    int i;

    (void)events;
    for (i = 0; i < ACCEPT_BATCH && !w->stopping; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd;

        if (w->nconns >= w->settings->max_connections && w->q_idle.head == NULL) {
            /* every slot is busy: leave new clients in the backlog (or to the other
             * workers) until a slot frees, instead of waking up for them again */
            w->full = 1;
            pause_accepting(w);
            return;
        }
        fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* accepting again at once would spin on the same error; say so
                 * once per episode, not at every retry */
                if (!w->accept_warned)
                    log_warn("accept (pausing new connections, retrying every %d ms)",
                             ACCEPT_PAUSE_MS);
                w->accept_warned = 1;
                pause_accepting(w);
                timer_arm(&w->q_accept, &w->accept_timer, w->now_ms);
            } else if (errno != EAGAIN) {
                log_warn("accept");
            }
            return;
        }
        if (w->accept_warned) {
            log_info("accepting new connections again");
            w->accept_warned = 0;
        }
        if (w->nconns >= w->settings->max_connections)
            reclaim_idle(w); /* the longest-idle keep-alive connection makes room */
        /* a connection after the first may have come after a file changed, and its
         * request is read at once: take the notifications first */
        if (i > 0)
            event_run_first(w->loop);
        conn_accept(w, fd, (struct sockaddr *)&ss, len, l->tls);
    }
}

static void begin_stop(struct worker *w, int graceful)
{
    struct timer_queue *idle[2] = {&w->q_idle, &w->q_header};
    const struct settings *s = w->settings;
    unsigned bound = s->shutdown_timeout;
    int i;

    w->stopping = 1;
    if (graceful)
        bound += GRACE_MS / 1000 + 1;
    w->stop_deadline_ms = w->now_ms + (uint64_t)bound * 1000;
    for (i = 0; i < w->nlisteners; i++) {
        if (!w->listeners[i].paused)
            event_del(w->loop, w->listeners[i].fd);
        close(w->listeners[i].fd);
    }
    w->nlisteners = 0;
    timer_cancel(&w->accept_timer);
    for (i = 0; i < 2; i++) {
        struct timer *t = idle[i]->head;
        while (t != NULL) {
            struct timer *next = t->next;
            /* a graceful stop gives idle connections a moment, so a request already
             * on its way is answered (with Connection: close) rather than raced by
             * our close; a fast stop closes them now */
            if (!graceful)
                conn_stop_if_idle(CONN_OF_TIMER(t));
            else if (t->deadline_ms > w->now_ms + GRACE_MS)
                timer_arm_at(idle[i], t, w->now_ms + GRACE_MS);
            t = next;
        }
    }
}

static void expire_timers(struct worker *w)
{
    struct timer_queue *queues[] = {&w->q_header, &w->q_body, &w->q_idle, &w->q_send,
                                    &w->q_linger};
    size_t i;
    struct timer *t;

    for (i = 0; i < sizeof(queues) / sizeof(queues[0]); i++)
        while ((t = timer_expired(queues[i], w->now_ms)) != NULL)
            conn_timeout(CONN_OF_TIMER(t));
    if (timer_expired(&w->q_accept, w->now_ms) != NULL)
        resume_accepting(w);
}

/* Cached files hold descriptors (up to three an entry, with the pre-compressed
 * siblings): leave the connections theirs. */
static unsigned cache_entries(const struct settings *s)
{
    struct rlimit rl;
    unsigned long long spare;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return s->file_cache_entries;
    spare = rl.rlim_cur > (rlim_t)s->max_connections + 64 ? rl.rlim_cur - s->max_connections - 64
                                                         : 0;
    spare /= 3;
    if (spare < 16)
        spare = 16;
    return spare < s->file_cache_entries ? (unsigned)spare : s->file_cache_entries;
}

static int setup(struct worker *w, const struct settings *s, const int *fds, const int *tls, int n,
                 int rootfd)
{
    unsigned i;

    w->settings = s;
    w->sctx.rootfd = rootfd;
    w->sctx.settings = s;
    w->watch = watch_new(rootfd, cache_entries(s), s->revalidate);
    w->sctx.fc = filecache_new(rootfd, cache_entries(s), (uint64_t)s->revalidate * 1000,
                               s->precompressed, w->watch);
    w->limits.max_header_size = s->max_header_size;
    w->limits.max_headers = s->max_headers;
    w->limits.max_body_size = s->max_body_size;
    timer_queue_init(&w->q_header, (uint64_t)s->header_timeout * 1000);
    timer_queue_init(&w->q_body,
                     (uint64_t)(s->body_timeout ? s->body_timeout : s->header_timeout) * 1000);
    timer_queue_init(&w->q_idle, (uint64_t)s->keepalive_timeout * 1000);
    timer_queue_init(&w->q_send, (uint64_t)s->send_timeout * 1000);
    timer_queue_init(&w->q_linger, 2000);
    timer_queue_init(&w->q_accept, ACCEPT_PAUSE_MS);
    w->loop = event_loop_new(MAX_EVENTS);
    /* slots are touched only when used, so a large limit costs address space only */
    w->slots = calloc(s->max_connections, sizeof(*w->slots));
    w->max_free_blocks = 64;
    w->free_blocks = calloc(w->max_free_blocks, sizeof(void *));
    w->listeners = calloc((size_t)n, sizeof(*w->listeners));
    if (w->loop == NULL || w->slots == NULL || w->free_blocks == NULL || w->listeners == NULL ||
        w->watch == NULL || w->sctx.fc == NULL) {
        log_error("worker set-up");
        return -1;
    }
    w->watch_h.on_event = on_watch;
    if (watch_fd(w->watch) >= 0 && event_add_first(w->loop, watch_fd(w->watch), &w->watch_h) < 0) {
        log_error("epoll_ctl on the change notifications");
        return -1;
    }
    for (i = 0; i < (unsigned)n; i++) {
        w->listeners[i].h.on_event = on_accept;
        w->listeners[i].w = w;
        w->listeners[i].fd = fds[i];
        w->listeners[i].tls = tls[i];
        if (event_add_listener(w->loop, fds[i], &w->listeners[i].h) < 0) {
            log_error("epoll_ctl on a listener");
            return -1;
        }
    }
    w->nlisteners = n;
    return 0;
}

int worker_run(const struct settings *s, const int *listen_fds, const int *tls, int nlisten,
               int rootfd, struct tls_server *tls_server, int ctl)
{
    static struct worker w;
    struct sigaction sa;
    sigset_t blocked, waitmask;
    pid_t master = getppid();

    log_set_ident(1);
    /* die with the master rather than serve on as an orphan */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        return 0;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);
    /* reloads and log reopening are the master's business */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* the stop signals stay blocked except inside epoll_pwait, so none is lost */
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGQUIT);
    sigprocmask(SIG_SETMASK, &blocked, NULL);
    sigemptyset(&waitmask);

    w.tls = tls_server;
    if (setup(&w, s, listen_fds, tls, nlisten, rootfd) < 0)
        return 1;
    w.ctl = ctl;
    w.ctl_h.on_event = on_control;
    if (ctl >= 0 && event_add_listener(w.loop, ctl, &w.ctl_h) < 0)
        log_warn("epoll_ctl on the control socket");
    clock_tick(&w);

    for (;;) {
        struct timer_queue *queues[] = {&w.q_header, &w.q_body, &w.q_idle, &w.q_send,
                                        &w.q_linger, &w.q_accept};
        int n, timeout = timer_next_ms(queues, 6, w.now_ms);

        if (w.stopping && (timeout < 0 || timeout > 100))
            timeout = 100;
        n = event_wait(w.loop, timeout, &waitmask);
        if (n < 0) {
            log_error("epoll_wait");
            return 1;
        }
        clock_tick(&w); /* before the handlers: they arm timers from it */
        event_dispatch(w.loop, n);
        if (stop_requested && !w.stopping)
            begin_stop(&w, stop_requested == 2);
        expire_timers(&w);
        if (w.stopping && (w.nconns == 0 || w.now_ms >= w.stop_deadline_ms))
            return 0;
    }
}

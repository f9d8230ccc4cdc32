/* A worker process: one event loop, its connections, timers and buffer pool. */
#ifndef PORTICO_WORKER_H
#define PORTICO_WORKER_H

#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "portico/event.h"
#include "portico/http.h"
#include "portico/settings.h"
#include "portico/static.h"

struct conn;

struct listener {
    struct event_handler h;
    struct worker *w;
    int fd;
    int tls;    /* an HTTPS listener */
    int paused; /* out of file descriptors: not accepting for a moment */
};

struct worker {
    struct event_loop *loop;
    const struct settings *settings;
    struct static_ctx sctx;
    struct tls_server *tls;
    struct http_limits limits;
    /* one queue per timeout length; a connection sits in at most one */
    struct timer_queue q_header, q_body, q_idle, q_send, q_linger, q_accept;
    int accept_warned; /* out of descriptors: logged once until accepting works */
    struct timer accept_timer;
    struct listener *listeners;
    int nlisteners;
    struct conn *slots;      /* max_connections of them, handed out in order */
    unsigned slots_used;     /* slots ever handed out: pages beyond stay untouched */
    struct conn *free_conns; /* closed slots, reused first */
    unsigned nconns;
    int full;                /* listeners paused until a slot frees */
    void **free_blocks; /* pooled I/O blocks of CONN_BLOCK_SIZE bytes */
    unsigned nfree_blocks, max_free_blocks;
    int block_warned;   /* out of memory for a block: logged once until one is had */
    int stopping;
    struct watcher *watch;      /* change notifications for the file cache */
    struct event_handler watch_h;
    struct event_handler ctl_h; /* the control socket from the master */
    int ctl;
    uint64_t stop_deadline_ms;
    uint64_t now_ms;
    time_t now;
};

struct tls_server;

/* Runs a worker until it is told to stop; returns the process exit status.
 * tls[i] says whether listen_fds[i] is an HTTPS listener. */
int worker_run(const struct settings *s, const int *listen_fds, const int *tls, int nlisten,
               int rootfd, struct tls_server *tls_server, int ctl);
/* The master's side of the control socket: hands a descriptor to a worker. */
int worker_send_fd(int ctl, int fd);

/* A connection slot, or NULL when all are in use. */
struct conn *worker_conn_get(struct worker *w);
void worker_conn_put(struct worker *w, struct conn *c);
/* A connection went idle: if accepting was paused because all were busy, resume. */
void worker_conn_idle(struct worker *w);
/* A connection's I/O block from the pool, or NULL when memory has run out. */
void *worker_block_get(struct worker *w);
void worker_block_put(struct worker *w, void *block);

#endif

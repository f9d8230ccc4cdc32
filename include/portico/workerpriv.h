/* A worker's state, shared by the files that make it up: worker.c (set-up, the
 * loop, stopping) and accept.c (listeners, admission, connection slots). Nothing
 * outside a worker process includes it. */
#ifndef PORTICO_WORKERPRIV_H
#define PORTICO_WORKERPRIV_H

#include <stddef.h>

#include "portico/conn.h"
#include "portico/event.h"
#include "portico/handler.h"
#include "portico/http.h"
#include "portico/listener.h"
#include "portico/netaddr.h"
#include "portico/pool.h"
#include "portico/settings.h"
#include "portico/worker.h"

/* A listener as this worker's loop sees it. */
struct acceptor {
    struct event_handler h;
    struct worker *w;
    const struct listener *l;
    int paused; /* out of file descriptors or slots: not accepting for a moment */
};

/* A document root as this worker sees it: its open-file cache and the change
 * notifications that keep it fresh. Sites with the same root share one. */
struct root_files {
    int fd, precompressed;
    struct watcher *watch;
    struct filecache *fc;
    struct event_handler h;
};

struct worker {
    struct event_loop *loop;
    const struct settings *settings;
    struct static_ctx *sctx; /* one per site, by its number */
    int nsites;
    struct root_files *roots;
    int nroots;
    struct cors *cors; /* NULL: no site allows cross-origin reads */
    struct authrule *auth; /* NULL: no site has auth rules */
    struct variants *variants; /* NULL: compression is off */
    struct endpoints *endpoints; /* NULL: no --health, no --metrics */
    struct live *live;           /* NULL: no --watch */
    struct event_handler live_h; /* the watcher's change batches */
    struct netaddr_set trusted;  /* --trusted-proxy */
    struct iplimit *iplimit;     /* NULL: no --max-connections-per-ip */
    int owner;                   /* this process's slot: what it owns of the shared counts */
    struct tls_server *tls;
    struct http_limits limits;
    struct handler handlers[HANDLERS_MAX];
    struct pool blocks;
    struct conn_env env; /* what connections see of all this */
    /* one queue per timeout length; a connection sits in at most one */
    struct timer_queue q[CONN_TIMEOUTS], q_accept;
    int accept_warned; /* out of descriptors: logged once until accepting works */
    struct timer accept_timer;
    struct acceptor acceptors[LISTENERS_MAX];
    int nacceptors;
    struct conn *slots;      /* max_connections of them, handed out in order */
    unsigned slots_used;     /* slots ever handed out: pages beyond stay untouched */
    struct conn *free_conns; /* closed slots, reused first */
    unsigned nconns;
    int full;                /* listeners paused until a slot frees */
    struct event_handler ctl_h; /* the control socket from the master */
    int ctl;
    uint64_t stop_deadline_ms;
    int stop_graceful;       /* the stop under way is a graceful one */
};

#define CONN_OF_TIMER(t) ((struct conn *)((char *)(t) - offsetof(struct conn, timer)))
#define WORKER_OF_ENV(e) ((struct worker *)((char *)(e) - offsetof(struct worker, env)))

/* accept.c: starts accepting on the generation's listeners (and sets the
 * connections' admission and slot callbacks); 0, or -1 logged. */
int accept_setup(struct worker *w, const struct listener_set *ls);
/* Closes this worker's copies of the listeners: a stopping worker takes no one new. */
void accept_stop(struct worker *w);

#endif

/* A generation: everything one set of workers is started with (settings, listeners,
 * roots, TLS, the compressor, the watcher), the processes in its slots, and how it is made,
 * started, signalled and freed. The master keeps the generations; a reload adds one. */
#ifndef PORTICO_GENERATION_H
#define PORTICO_GENERATION_H

#include <stdint.h>
#include <sys/types.h>

#include "portico/compressor.h"
#include "portico/listener.h"
#include "portico/privilege.h"
#include "portico/settings.h"

struct slot {
    pid_t pid;
    int ctl;            /* the master's end of the worker's control socket */
    uint64_t started_ms;
    uint64_t respawn_at_ms;
    unsigned failures;
    int metrics_slot;   /* where its worker counts (metrics.h), or -1 */
};

/* Everything one set of workers was started with. A reload makes a new one; the
 * old one drains and is freed when its last worker has exited. */
struct generation {
    struct settings s;
    int req_port, req_tls_port; /* as asked for, before port 0 became a real port */
    struct tls_server *tls;
    int *rootfds; /* each site's document root, by site number; sites share equal ones */
    int nroots;
    struct listener_set ls;
    struct privilege priv; /* who the workers run as */
    struct compress_cache cc; /* its compressor, in the slot after the workers' */
    /* --watch: a socket pair per worker slot, [2i] the watcher's end, [2i + 1] the
     * worker's; the watcher has the last slot. NULL without --watch. */
    int *live;
    struct slot *slots;
    int nslots;
    int stopping;
    uint64_t kill_at_ms;
    struct metrics *metrics;  /* the instance's, shared by every generation, or NULL */
    struct iplimit *iplimit;  /* the same, when connections per address are limited */
};
/* Everything that can fail for a generation, before any of its workers forks
 * (logged); prev is the serving generation whose listeners it may keep, or NULL. */
struct generation *generation_new(const struct settings *s, const struct generation *prev);
/* Releases a generation whose workers are gone; its listeners that one of the live
 * generations still uses stay open. Its settings go too unless it is live[0]. */
void generation_free(struct generation *g, struct generation *const *live, int nlive);
/* What runs in slot i, for messages: "worker", "compressor" or "watcher". */
const char *generation_slot_name(const struct generation *g, int i);
/* Forks the process of slot i: a worker, or the compressor or watcher after them. */
void generation_spawn(struct generation *g, int i);
/* Sends sig to the workers (the compressor and watcher are killed outright). */
void generation_signal(struct generation *g, int sig);
/* Stops the generation with sig and bounds how long it may take. */
void generation_stop(struct generation *g, int sig);
/* Its workers still running. */
int generation_alive(const struct generation *g);

#endif

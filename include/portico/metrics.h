/* What the instance counts, in memory the master and every worker share: each worker
 * process writes its own slot alone, with no lock and no syscall; a scrape sums the
 * slots. The master writes the instance's own counts and the draining flag. */
#ifndef PORTICO_METRICS_H
#define PORTICO_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "portico/buf.h"

#define METRICS_METHODS 8 /* other, GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH */
#define METRICS_CLASSES 5 /* 1xx to 5xx */
/* Worker processes alive at once, over every generation still draining. */
#define METRICS_SLOTS   4096

/* One worker process's counts. A slot outlives its process: the next worker to take
 * it counts on from where it stopped, so the sums never go back. */
struct metrics_counters {
    uint64_t requests[METRICS_METHODS][METRICS_CLASSES];
    uint64_t sent_bytes;
    uint64_t accepted;
    uint64_t tls_full, tls_resumed;
    uint64_t open; /* connections open now: a level, set to zero when the process is gone */
} __attribute__((aligned(64)));

struct metrics;

/* The worker's own slot, or NULL when nothing is counted (metrics off). */
extern struct metrics_counters *metrics_mine;
/* llhttp's method numbers, masked to 6 bits (-1: none was read), to the method rows. */
extern const uint8_t metrics_method_index[64];

/* Relaxed stores of one writer: a scrape may read a count one event old, never torn. */
static inline void metrics_add(uint64_t *counter, uint64_t n)
{
    __atomic_store_n(counter, *counter + n, __ATOMIC_RELAXED);
}

/* A response went out (or was cut short: status 0 counts bytes only). */
static inline void metrics_response(int method, int status, uint64_t bytes)
{
    if (metrics_mine == NULL)
        return;
    if (status >= 100 && status < 600)
        metrics_add(&metrics_mine->requests[metrics_method_index[method & 63]][status / 100 - 1],
                    1);
    metrics_add(&metrics_mine->sent_bytes, bytes);
}

/* A connection was accepted; connections open in this process now. */
static inline void metrics_accepted(void)
{
    if (metrics_mine != NULL)
        metrics_add(&metrics_mine->accepted, 1);
}

static inline void metrics_set_open(unsigned n)
{
    if (metrics_mine != NULL)
        __atomic_store_n(&metrics_mine->open, n, __ATOMIC_RELAXED);
}

/* A TLS handshake completed, resumed from a ticket or in full. */
static inline void metrics_handshake(int resumed)
{
    if (metrics_mine != NULL)
        metrics_add(resumed ? &metrics_mine->tls_resumed : &metrics_mine->tls_full, 1);
}

/* Master: the shared region, made before the first fork and kept across reloads;
 * NULL (logged) when it cannot be mapped. */
struct metrics *metrics_create(void);
/* Master: a free slot for a new worker process, or -1 when all are taken (said once). */
int metrics_slot_take(struct metrics *m);
/* Master: the process of slot n is gone; its level of open connections goes to 0. */
void metrics_slot_release(struct metrics *m, int n);
/* Master: one more reload, or one more worker that died and was started again. */
void metrics_count_reload(struct metrics *m);
void metrics_count_restart(struct metrics *m);
/* Master: a graceful stop began; health checks answer 503 from now on. */
void metrics_set_draining(struct metrics *m);

/* Worker: counts into slot n from now on (n < 0: nothing is counted). */
void metrics_use_slot(struct metrics *m, int n);
/* Worker: 1 once a graceful stop's drain began. */
int metrics_draining(const struct metrics *m);
/* Worker: the Prometheus text exposition of the instance's sums, at time now. */
void metrics_render(const struct metrics *m, time_t now, struct buf *out);

#endif

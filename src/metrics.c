/* The instance's counts in shared memory: the master maps the region once and hands
 * out slots, each worker process writes its own slot with plain stores, and a scrape
 * sums them into Prometheus' text format. No lock anywhere: each word has one writer. */
#include "build-config.h"

#include <llhttp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "portico/log.h"
#include "portico/metrics.h"

struct metrics {
    int draining;           /* master: a graceful stop's drain began */
    int hwm;                /* master: slots ever taken, the ones a scrape reads */
    time_t started;
    uint64_t reloads, restarts;
    unsigned char taken[METRICS_SLOTS]; /* master's bookkeeping */
    struct metrics_counters slot[METRICS_SLOTS];
};

struct metrics_counters *metrics_mine;

static const char *const method_label[METRICS_METHODS] = {"other", "GET",    "HEAD",
                                                          "POST",  "PUT",    "DELETE",
                                                          "OPTIONS", "PATCH"};

/* llhttp's method numbers (unseen: -1, masked to 63) to the rows above; 0 is other */
const uint8_t metrics_method_index[64] = {
    [HTTP_GET] = 1, [HTTP_HEAD] = 2,    [HTTP_POST] = 3,    [HTTP_PUT] = 4,
    [HTTP_DELETE] = 5, [HTTP_OPTIONS] = 6, [HTTP_PATCH] = 7,
};

struct metrics *metrics_create(void)
{
    /* untouched pages of the slots cost nothing: only those of live workers are used */
    struct metrics *m = mmap(NULL, sizeof(struct metrics), PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    if (m == MAP_FAILED) {
        log_error("mapping the shared counters (metrics and health stay off)");
        return NULL;
    }
    m->started = time(NULL);
    return m;
}

int metrics_slot_take(struct metrics *m)
{
    static int warned;
    int i;

    for (i = 0; m != NULL && i < METRICS_SLOTS; i++)
        if (!m->taken[i]) {
            m->taken[i] = 1;
            if (i >= m->hwm)
                __atomic_store_n(&m->hwm, i + 1, __ATOMIC_RELEASE);
            return i;
        }
    if (m != NULL && !warned++)
        log_warnx("all %d counter slots are taken by workers still draining: a new worker "
                  "counts nothing for --metrics and --max-connections-per-ip until older "
                  "generations finish (fewer workers, or fewer reloads in a row)",
                  METRICS_SLOTS);
    return -1;
}

void metrics_slot_release(struct metrics *m, int n)
{
    if (m == NULL || n < 0)
        return;
    __atomic_store_n(&m->slot[n].open, 0, __ATOMIC_RELAXED);
    m->taken[n] = 0;
}

void metrics_count_reload(struct metrics *m)
{
    if (m != NULL)
        metrics_add(&m->reloads, 1);
}

void metrics_count_restart(struct metrics *m)
{
    if (m != NULL)
        metrics_add(&m->restarts, 1);
}

void metrics_set_draining(struct metrics *m)
{
    if (m != NULL)
        __atomic_store_n(&m->draining, 1, __ATOMIC_RELAXED);
}

void metrics_use_slot(struct metrics *m, int n)
{
    metrics_mine = m != NULL && n >= 0 ? &m->slot[n] : NULL;
}

int metrics_draining(const struct metrics *m)
{
    return m != NULL && __atomic_load_n(&m->draining, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *v)
{
    return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* The sums over every slot ever taken: a slot whose process is gone keeps its counts. */
static void sum(const struct metrics *m, struct metrics_counters *t)
{
    int n = __atomic_load_n(&m->hwm, __ATOMIC_ACQUIRE), i, j, k;

    if (n < 0 || n > METRICS_SLOTS) /* memory a worker could write: never trusted blindly */
        n = METRICS_SLOTS;
    memset(t, 0, sizeof(*t));
    for (i = 0; i < n; i++) {
        const struct metrics_counters *s = &m->slot[i];
        for (j = 0; j < METRICS_METHODS; j++)
            for (k = 0; k < METRICS_CLASSES; k++)
                t->requests[j][k] += load(&s->requests[j][k]);
        t->sent_bytes += load(&s->sent_bytes);
        t->accepted += load(&s->accepted);
        t->tls_full += load(&s->tls_full);
        t->tls_resumed += load(&s->tls_resumed);
        t->open += load(&s->open);
    }
}

static void family(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(struct buf *out, const char *name, const char *labels, uint64_t v)
{
    buf_printf(out, "%s%s %llu\n", name, labels, (unsigned long long)v);
}

void metrics_render(const struct metrics *m, time_t now, struct buf *out)
{
    struct metrics_counters t;
    char labels[64];
    int j, k;

    sum(m, &t);
    family(out, "portico_requests_total", "counter",
           "Responses sent, by request method and status class.");
    for (j = 0; j < METRICS_METHODS; j++)
        for (k = 0; k < METRICS_CLASSES; k++) {
            snprintf(labels, sizeof(labels), "{method=\"%s\",code=\"%dxx\"}", method_label[j],
                     k + 1);
            sample(out, "portico_requests_total", labels, t.requests[j][k]);
        }
    family(out, "portico_sent_bytes_total", "counter", "Bytes sent to clients, heads included.");
    sample(out, "portico_sent_bytes_total", "", t.sent_bytes);
    family(out, "portico_connections_accepted_total", "counter", "Connections accepted.");
    sample(out, "portico_connections_accepted_total", "", t.accepted);
    family(out, "portico_open_connections", "gauge", "Connections open now.");
    sample(out, "portico_open_connections", "", t.open);
    family(out, "portico_tls_handshakes_total", "counter",
           "TLS handshakes completed: full, or resumed from a session ticket.");
    sample(out, "portico_tls_handshakes_total", "{kind=\"full\"}", t.tls_full);
    sample(out, "portico_tls_handshakes_total", "{kind=\"resumed\"}", t.tls_resumed);
    family(out, "portico_worker_restarts_total", "counter",
           "Worker processes that died and were started again.");
    sample(out, "portico_worker_restarts_total", "", load(&m->restarts));
    family(out, "portico_reloads_total", "counter", "Configuration reloads (SIGHUP) that took.");
    sample(out, "portico_reloads_total", "", load(&m->reloads));
    family(out, "portico_draining", "gauge", "1 while a graceful stop drains the instance.");
    sample(out, "portico_draining", "", (uint64_t)metrics_draining(m));
    family(out, "portico_uptime_seconds", "gauge", "Seconds since the instance started.");
    sample(out, "portico_uptime_seconds", "", now > m->started ? (uint64_t)(now - m->started) : 0);
}

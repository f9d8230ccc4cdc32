/* A generation's life: made (everything that can fail, before any fork), its
 * processes forked with only the descriptors they need, signalled, stopped and
 * freed. Supervision (respawn, reload, drain) is the master's. */
#include "build-config.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "portico/beneath.h"
#include "portico/devwatch.h"
#include "portico/event.h"
#include "portico/generation.h"
#include "portico/log.h"
#include "portico/metrics.h"
#include "portico/site.h"
#include "portico/tls.h"
#include "portico/worker.h"

enum slot_kind { SLOT_WORKER, SLOT_COMPRESSOR, SLOT_WATCHER };

/* The workers come first, then the compressor, then the watcher. */
static enum slot_kind slot_kind(const struct generation *g, int i)
{
    if (i < g->s.workers)
        return SLOT_WORKER;
    return i == g->s.workers && g->cc.jobs[0] >= 0 ? SLOT_COMPRESSOR : SLOT_WATCHER;
}

const char *generation_slot_name(const struct generation *g, int i)
{
    static const char *const names[] = {"worker", "compressor", "watcher"};

    return names[slot_kind(g, i)];
}

/* --watch: one datagram socket pair per worker slot, kept by the master for the
 * slot's next process: a batch of changes is one datagram, read whole or not at all. */
static int open_live(struct generation *g)
{
    int i, n = 2 * g->s.workers;

    if (!g->s.watch)
        return 0;
    if ((g->live = malloc((size_t)n * sizeof(int))) == NULL) {
        log_error("malloc");
        return -1;
    }
    for (i = 0; i < n; i++)
        g->live[i] = -1;
    for (i = 0; i < n; i += 2)
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, &g->live[i]) < 0) {
            log_error("socketpair for live reload");
            return -1;
        }
    return 0;
}

static void close_live(struct generation *g)
{
    int i;

    for (i = 0; g->live != NULL && i < 2 * g->s.workers; i++)
        if (g->live[i] >= 0)
            close(g->live[i]);
    free(g->live);
    g->live = NULL;
}

/* A file access log must open before anything is committed to it. */
static int access_log_openable(const char *path)
{
    int fd;

    if (!log_access_is_file(path))
        return 0;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        log_error("cannot open the access log %s", path);
        return -1;
    }
    close(fd);
    return 0;
}

static int open_listeners(struct generation *g, const struct generation *prev)
{
    struct listen_request ask = {&g->s, g->req_port, g->req_tls_port}, prev_ask;

    if (prev != NULL) {
        prev_ask.s = &prev->s;
        prev_ask.port = prev->req_port;
        prev_ask.tls_port = prev->req_tls_port;
    }
    return listeners_open(&g->ls, &g->s, &ask, prev ? &prev->ls : NULL, &prev_ask);
}

/* Opens each site's root: sites with the same root share its descriptor. */
static int open_roots(struct generation *g)
{
    const char *paths[1 + SETTINGS_MAX_SITES];
    int i;

    g->nroots = 1 + g->s.nsites;
    if ((g->rootfds = malloc((size_t)g->nroots * sizeof(int))) == NULL) {
        log_error("malloc");
        return -1;
    }
    for (i = 0; i < g->nroots; i++)
        paths[i] = site_settings(&g->s, i)->root_abs;
    if ((i = beneath_open_roots(paths, g->nroots, g->rootfds)) >= 0) {
        log_error("document root %s", paths[i]);
        return -1;
    }
    return 0;
}

static void close_roots(struct generation *g)
{
    if (g->rootfds != NULL)
        beneath_close_roots(g->rootfds, g->nroots);
    free(g->rootfds);
    g->rootfds = NULL;
    g->nroots = 0;
}

/* Everything that can fail for a generation, before any of its workers forks;
 * the TLS material comes last, so that a failure elsewhere rotates no keys and
 * rewrites no saved certificate. */
struct generation *generation_new(const struct settings *s, const struct generation *prev)
{
    struct generation *g = calloc(1, sizeof(*g));
    int i;

    if (g == NULL) {
        log_error("calloc");
        return NULL;
    }
    g->cc.dirfd = g->cc.jobs[0] = g->cc.jobs[1] = -1;
    g->s = *s;
    g->req_port = s->port;
    g->req_tls_port = s->tls_port;
    if (g->s.workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        g->s.workers = n > 0 ? (int)n : 1;
    }
    if (privilege_resolve(&g->s, &g->priv) < 0 || access_log_openable(g->s.access_log) < 0 ||
        open_roots(g) < 0 || open_listeners(g, prev) < 0 ||
        compressor_open(&g->s, g->priv.uid, g->priv.gid, g->priv.drop, &g->cc) < 0 ||
        open_live(g) < 0)
        goto fail;
    g->nslots = g->s.workers + (g->cc.jobs[0] >= 0) + (g->live != NULL);
    g->slots = calloc((size_t)g->nslots, sizeof(*g->slots));
    if (g->slots == NULL) {
        log_error("calloc");
        goto fail;
    }
    for (i = 0; i < g->nslots; i++)
        g->slots[i].metrics_slot = -1;
    if (g->s.tls && (g->tls = tls_server_new(&g->s, prev ? prev->tls : NULL)) == NULL)
        goto fail;
    return g;
fail:
    /* listeners bound for this generation alone go; shared ones stay */
    for (i = 0; i < g->ls.n; i++)
        if (prev == NULL || !listeners_have(&prev->ls, g->ls.l[i].fd))
            close(g->ls.l[i].fd);
    close_roots(g);
    compressor_close(&g->cc);
    close_live(g);
    free(g->slots);
    free(g);
    return NULL;
}

/* Releases a generation whose workers are gone; listeners still in use stay. */
void generation_free(struct generation *g, struct generation *const *live, int nlive)
{
    int i, j;

    for (i = 0; i < g->ls.n; i++) {
        int shared = 0;
        for (j = 0; j < nlive; j++)
            if (live[j] != g && listeners_have(&live[j]->ls, g->ls.l[i].fd))
                shared = 1;
        if (!shared && g->ls.l[i].fd >= 0) /* -1: closed by a final stop */
            close(g->ls.l[i].fd);
    }
    /* a compressor killed with its generation may be reaped after it is gone; a slot
     * whose fork failed still holds its place in the shared counts */
    for (i = 0; i < g->nslots; i++) {
        if (g->slots[i].ctl > 0)
            close(g->slots[i].ctl);
        metrics_slot_release(g->metrics, g->slots[i].metrics_slot);
    }
    close_roots(g);
    compressor_close(&g->cc);
    close_live(g);
    tls_server_free(g->tls);
    if (nlive == 0 || live[0] != g)
        config_free(&g->s);
    free(g->slots);
    free(g);
}

/* In a new process: every descriptor but what its kind needs goes (old listeners,
 * other workers' control sockets, another root a chroot would not hide). A worker
 * keeps its generation's listeners and roots, its ends of the compressor's and the
 * watcher's sockets, its control socket and the access log; the compressor its socket
 * and cache directory; the watcher the default site's root and its ends. */
static int keep_fds(const struct generation *g, int i, int ctl, int *keep)
{
    enum slot_kind kind = slot_kind(g, i);
    int n = 0, j;

    for (j = 0; j < g->ls.n && kind == SLOT_WORKER; j++)
        keep[n++] = g->ls.l[j].fd;
    for (j = 0; j < g->nroots && kind == SLOT_WORKER; j++)
        keep[n++] = g->rootfds[j];
    if (kind == SLOT_WATCHER)
        keep[n++] = g->rootfds[0];
    if (g->cc.dirfd >= 0 && kind != SLOT_WATCHER)
        keep[n++] = g->cc.dirfd;
    if (g->cc.jobs[0] >= 0 && kind != SLOT_WATCHER)
        keep[n++] = g->cc.jobs[kind == SLOT_COMPRESSOR ? 0 : 1];
    for (j = 0; g->live != NULL && j < g->s.workers; j++)
        if (kind == SLOT_WATCHER || (kind == SLOT_WORKER && j == i))
            keep[n++] = g->live[2 * j + (kind == SLOT_WORKER)];
    keep[n++] = ctl;
    if (log_access_fd() > STDERR_FILENO && kind == SLOT_WORKER)
        keep[n++] = log_access_fd();
    return n;
}

static int by_value(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static void close_foreign_fds(const struct generation *g, int i, int ctl)
{
    int *keep = malloc((size_t)(LISTENERS_MAX + g->nroots + g->s.workers + 8) * sizeof(int));
    int n, j, lo = 3;

    if (keep == NULL)
        _exit(1);
    n = keep_fds(g, i, ctl, keep);
    qsort(keep, (size_t)n, sizeof(int), by_value);
    for (j = 0; j < n; j++) {
        if (keep[j] > lo)
            close_range((unsigned)lo, (unsigned)keep[j] - 1, 0);
        if (keep[j] >= lo)
            lo = keep[j] + 1;
    }
    close_range((unsigned)lo, ~0u, 0);
    free(keep);
}

/* fork(), the child named name (in ps and /proc/PID/comm) from its first moment. */
static pid_t fork_named(const char *name)
{
    char mine[17] = "";
    pid_t pid;

    if (name == NULL || prctl(PR_GET_NAME, mine) < 0 || prctl(PR_SET_NAME, name) < 0)
        return fork();
    pid = fork();
    if (pid != 0)
        prctl(PR_SET_NAME, mine);
    return pid;
}

/* What the server writes beneath the root would report every request as a change,
 * and each reload of a page would make another: the access log, and stdout or stderr
 * sent to a file there (portico --dev . > server.log). The watcher ignores them: their
 * paths from the root into out[], how many. Read before a chroot hides the paths. */
static int writes_beneath_root(const struct settings *s, char out[][PATH_MAX])
{
    const char *named[3] = {log_access_is_file(s->access_log) ? s->access_log : NULL,
                            "/proc/self/fd/1", "/proc/self/fd/2"};
    size_t n = strcmp(s->root_abs, "/") == 0 ? 0 : strlen(s->root_abs);
    char real[PATH_MAX];
    int i, k = 0;

    for (i = 0; i < 3; i++)
        if (named[i] != NULL && realpath(named[i], real) != NULL &&
            strncmp(real, s->root_abs, n) == 0 && real[n] == '/')
            memcpy(out[k++], real + n, strlen(real + n) + 1);
    return k;
}

static int run_watcher(const struct generation *g, char written[][PATH_MAX], int nwritten)
{
    const char *ignore[SETTINGS_MAX_IGNORE + 3];
    int *out = malloc((size_t)g->s.workers * sizeof(int)), i, status, n = g->s.nwatch_ignore;
    struct devwatch_start ds = {.rootfd = g->rootfds[0],
                                .ignore = ignore,
                                .nignore = n + nwritten,
                                .out = out,
                                .nout = g->s.workers};

    if (out == NULL)
        return 1;
    memcpy(ignore, g->s.watch_ignore, (size_t)n * sizeof(ignore[0]));
    for (i = 0; i < nwritten; i++)
        ignore[n + i] = written[i];
    for (i = 0; i < g->s.workers; i++)
        out[i] = g->live[2 * i];
    status = devwatch_run(&ds);
    free(out);
    return status;
}

static int run_worker(const struct generation *g, int i, int ctl)
{
    struct worker_start ws = {.s = &g->s,
                              .ls = &g->ls,
                              .rootfds = g->rootfds,
                              .tls = g->tls,
                              .cc = &g->cc,
                              .ctl = ctl,
                              .metrics = g->metrics,
                              .metrics_slot = g->slots[i].metrics_slot,
                              .iplimit = g->iplimit,
                              .live_fd = g->live != NULL ? g->live[2 * i + 1] : -1};

    return worker_run(&ws);
}

void generation_spawn(struct generation *g, int i)
{
    int sv[2];
    pid_t pid;

    /* a control socket: the master hands a reopened access log over it */
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("socketpair");
        g->slots[i].respawn_at_ms = event_now_ms() + 1000;
        return;
    }
    if (i < g->s.workers && g->slots[i].metrics_slot < 0)
        g->slots[i].metrics_slot = metrics_slot_take(g->metrics);
    fflush(NULL);
    pid = fork_named(slot_kind(g, i) == SLOT_COMPRESSOR ? COMPRESSOR_NAME
                     : slot_kind(g, i) == SLOT_WATCHER  ? DEVWATCH_NAME
                                                        : NULL);
    if (pid < 0) {
        log_error("fork");
        close(sv[0]);
        close(sv[1]);
        g->slots[i].respawn_at_ms = event_now_ms() + 1000;
        return;
    }
    if (pid == 0) {
        static char written[3][PATH_MAX];
        int nwritten = slot_kind(g, i) == SLOT_WATCHER ? writes_beneath_root(&g->s, written) : 0;

        close_foreign_fds(g, i, sv[1]);
        if (privilege_drop(&g->s, &g->priv) < 0)
            _exit(1);
        if (slot_kind(g, i) == SLOT_COMPRESSOR)
            _exit(compressor_run(&g->s, &g->cc));
        if (slot_kind(g, i) == SLOT_WATCHER)
            _exit(run_watcher(g, written, nwritten));
        _exit(run_worker(g, i, sv[1]));
    }
    close(sv[1]);
    if (g->slots[i].ctl > 0)
        close(g->slots[i].ctl);
    g->slots[i].ctl = sv[0];
    g->slots[i].pid = pid;
    g->slots[i].started_ms = event_now_ms();
    g->slots[i].respawn_at_ms = 0;
}

/* The compressor has nothing in flight worth waiting for (a half-written temporary
 * file goes at the next start), nor has the watcher: both are killed at once, and
 * not waited for. */
void generation_signal(struct generation *g, int sig)
{
    int i;

    for (i = 0; i < g->nslots; i++)
        if (g->slots[i].pid > 0)
            kill(g->slots[i].pid, i < g->s.workers ? sig : SIGKILL);
}

/* Bounds how long a stopping generation may take before it is killed. */
void generation_stop(struct generation *g, int sig)
{
    unsigned bound = g->s.shutdown_timeout;
    uint64_t kill_at;

    if (sig == SIGQUIT) /* graceful: idle connections get a moment more */
        bound += 2;
    kill_at = event_now_ms() + (uint64_t)bound * 1000 + 2000;
    /* a fast stop after a graceful one never puts the end further off */
    if (!g->stopping || kill_at < g->kill_at_ms)
        g->kill_at_ms = kill_at;
    g->stopping = 1;
    generation_signal(g, sig);
}

/* Its workers still running. */
int generation_alive(const struct generation *g)
{
    int i, n = 0;

    for (i = 0; i < g->s.workers; i++)
        n += g->slots[i].pid != 0;
    return n;
}

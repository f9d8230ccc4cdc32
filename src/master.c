/* The master: makes a generation of workers (generation.c) and supervises it —
 * respawn with back-off, reload on SIGHUP as a new generation, log reopening, the
 * drain of a graceful stop, fast stop. Signal handlers only set flags; the loop
 * sleeps in ppoll with them unblocked. It never serves a request. */
#include "build-config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "portico/authrule.h"
#include "portico/devstart.h"
#include "portico/event.h"
#include "portico/generation.h"
#include "portico/iplimit.h"
#include "portico/log.h"
#include "portico/master.h"
#include "portico/metrics.h"
#include "portico/privilege.h"
#include "portico/site.h"
#include "portico/tls.h"
#include "portico/worker.h"

#define MAX_GENERATIONS 8
#define MAX_BACKOFF_MS  10000
#define STABLE_AFTER_MS 2000 /* a worker that lived this long did not crash-loop */

struct master {
    const struct config_source *src;
    struct generation *gen[MAX_GENERATIONS]; /* gen[0] serves; the rest drain */
    int ngen;
    struct metrics *metrics; /* the instance's shared counts and drain flag, or NULL */
    struct iplimit *iplimit; /* made with the first generation that limits per address */
    uint64_t drain_until_ms; /* a graceful stop's drain: health says 503, listeners open */
};

static volatile sig_atomic_t got_term, got_quit, got_hup, got_usr1, got_child;

static void on_signal(int sig)
{
    switch (sig) {
    case SIGCHLD: got_child = 1; break;
    case SIGHUP: got_hup = 1; break;
    case SIGUSR1: got_usr1 = 1; break;
    case SIGQUIT: got_quit = 1; break;
    default: got_term = 1; break;
    }
}

/* Connections and cached files both need descriptors: take what the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void url_host(const struct settings *s, char *out, size_t len)
{
    const char *b = s->bind_addr;

    if (listeners_bind_any(b))
        snprintf(out, len, "localhost");
    else if (strchr(b, ':') != NULL && b[0] != '[')
        snprintf(out, len, "[%s]", b);
    else
        snprintf(out, len, "%s", b);
}


static struct master the_master;


/* A process of a serving generation died: say so, and start another, ever more
 * slowly for one that dies young again and again. */
static void restart_later(struct master *m, struct generation *g, int i, pid_t pid, int status)
{
    struct slot *sl = &g->slots[i];
    uint64_t now = event_now_ms();

    if (WIFSIGNALED(status))
        log_warnx("%s %ld was killed by signal %d (%s); starting a new one",
                  generation_slot_name(g, i), (long)pid, WTERMSIG(status),
                  strsignal(WTERMSIG(status)));
    else
        log_warnx("%s %ld exited with status %d; starting a new one",
                  generation_slot_name(g, i), (long)pid, WEXITSTATUS(status));
    if (i < g->s.workers)
        metrics_count_restart(m->metrics);
    sl->failures = now - sl->started_ms < STABLE_AFTER_MS ? sl->failures + 1 : 0;
    if (sl->failures == 0) {
        sl->respawn_at_ms = now;
    } else {
        uint64_t delay = 100ull << (sl->failures < 8 ? sl->failures - 1 : 7);
        sl->respawn_at_ms = now + (delay > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : delay);
    }
}

static void reap(struct master *m)
{
    pid_t pid;
    int status, i, j;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (j = 0; j < m->ngen; j++) {
            struct generation *g = m->gen[j];
            for (i = 0; i < g->nslots; i++) {
                struct slot *sl = &g->slots[i];
                if (sl->pid != pid)
                    continue;
                sl->pid = 0;
                if (sl->ctl > 0) {
                    close(sl->ctl);
                    sl->ctl = 0;
                }
                /* its counts stay in the slot, for the next worker to count on from; the
                 * connections it counted per address are gone with it */
                iplimit_forget(m->iplimit, sl->metrics_slot);
                metrics_slot_release(m->metrics, sl->metrics_slot);
                sl->metrics_slot = -1;
                if (!g->stopping)
                    restart_later(m, g, i, pid, status);
            }
        }
    }
}

/* systemd's notification protocol (sd_notify), in the few lines it takes. */
static void notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t len;
    int fd;

    if (path == NULL || (path[0] != '/' && path[0] != '@') ||
        (len = strlen(path)) >= sizeof(sa.sun_path))
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, len);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0'; /* an abstract socket */
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
    close(fd);
}

static void print_banner(const struct generation *g)
{
    authrule_warn_plain(&g->s);
    const struct settings *s = &g->s;
    char host[300];

    url_host(s, host, sizeof(host));
    if (s->tls)
        printf("portico: serving %s at http://%s:%d/ and https://%s:%d/ (%d worker%s)\n",
               s->root_abs, host, s->port, host, s->tls_port, s->workers,
               s->workers == 1 ? "" : "s");
    else
        printf("portico: serving %s at http://%s:%d/ (%d worker%s)\n", s->root_abs, host, s->port,
               s->workers, s->workers == 1 ? "" : "s");
    if (s->dev)
        devstart_banner(s, host);
    if (s->tls && tls_generated_fingerprint(g->tls)) {
        printf("portico: HTTPS uses a new self-signed certificate for localhost, 127.0.0.1 and "
               "::1, SHA-256 fingerprint %s\n",
               tls_generated_fingerprint(g->tls));
        if (s->tls_save_cert)
            printf("portico: trust it with: curl --cacert %s https://localhost:%d/ (or import "
                   "it in the browser)\n",
                   s->tls_save_cert, s->tls_port);
        else
            printf("portico: to trust it, add --tls-save-cert cert.pem and use curl --cacert "
                   "cert.pem, or accept it in the browser\n");
    }
    fflush(stdout);
}

static void open_browser(const struct settings *s)
{
    char host[300];

    url_host(s, host, sizeof(host));
    devstart_open(s, host);
}

/* Opens the access log for a generation; as root, hands the file to the workers'
 * user so that nothing they write needs root. */
static int open_access_log(const struct generation *g)
{
    if (log_access_open(g->s.access_log) < 0) {
        log_error("cannot open the access log %s", g->s.access_log);
        return -1;
    }
    if (g->priv.drop && log_access_fd() > STDERR_FILENO)
        if (fchown(log_access_fd(), g->priv.uid, g->priv.gid) < 0) {
            /* a log file on a file system without owners: keep it as it is */
        }
    return 0;
}

/* SIGUSR1: the master reopens the access log and passes the new descriptor to
 * every worker, which may no longer be allowed to open the path itself. */
static void reopen_logs(struct master *m)
{
    struct generation *g = m->gen[0];
    int i, j, fd;

    if (open_access_log(g) < 0 || (fd = log_access_fd()) <= STDERR_FILENO)
        return;
    for (j = 0; j < m->ngen; j++)
        for (i = 0; i < m->gen[j]->s.workers; i++)
            if (m->gen[j]->slots[i].pid > 0 && worker_send_fd(m->gen[j]->slots[i].ctl, fd) < 0)
                log_warn("passing the reopened log to worker %ld",
                         (long)m->gen[j]->slots[i].pid);
    log_info("reopened the access log %s", g->s.access_log);
}

/* The instance's shared memory, for a new generation's workers. */
static void share(struct master *m, struct generation *g)
{
    if (g->s.max_conns_per_ip > 0 && m->iplimit == NULL)
        m->iplimit = iplimit_create();
    g->metrics = m->metrics;
    g->iplimit = m->iplimit;
}

/* SIGHUP: a new generation from the same sources, or the old one goes on. */
static void reload(struct master *m)
{
    struct settings s;
    struct generation *g;
    char err[1024];
    int i, rc;

    notify("RELOADING=1");
    rc = config_build(&s, m->src, err, sizeof(err));
    if (rc < 0) {
        log_errorx("reload failed, still serving the previous configuration: %s", err);
        goto keep;
    }
    if (m->ngen == MAX_GENERATIONS) {
        log_errorx("reload refused: %d generations of workers are still draining", m->ngen - 1);
        goto keep;
    }
    g = generation_new(&s, m->gen[0]);
    if (g == NULL) {
        log_errorx("reload failed, still serving the previous configuration");
        goto keep;
    }
    open_access_log(g);
    authrule_warn_plain(&g->s);
    share(m, g);
    metrics_count_reload(m->metrics);
    /* the new workers accept on the shared listeners before the old ones stop */
    for (i = 0; i < g->nslots; i++)
        generation_spawn(g, i);
    memmove(&m->gen[1], &m->gen[0], sizeof(m->gen[0]) * (size_t)m->ngen);
    m->gen[0] = g;
    m->ngen++;
    generation_stop(m->gen[1], SIGQUIT);
    log_info("reloaded: %d new worker%s serving %s", g->s.workers, g->s.workers == 1 ? "" : "s",
             g->s.root_abs);
    notify("READY=1");
    return;
keep:
    config_free(&s);
    notify("READY=1");
}

static void write_pid_file(const struct settings *s)
{
    FILE *f;

    if (s->pid_file == NULL)
        return;
    f = fopen(s->pid_file, "w");
    if (f == NULL || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0)
        log_warn("pid file %s", s->pid_file);
}

/* The master's copies of the listeners close with a final stop: once the workers
 * have closed theirs, a new connection is refused at once instead of waiting in a
 * backlog that no one accepts from any more. A socket two generations share closes
 * once. */
static void close_listeners(struct master *m)
{
    int i, j, k, l;

    for (j = 0; j < m->ngen; j++)
        for (i = 0; i < m->gen[j]->ls.n; i++) {
            int fd = m->gen[j]->ls.l[i].fd;
            if (fd < 0)
                continue;
            close(fd);
            for (k = 0; k < m->ngen; k++)
                for (l = 0; l < m->gen[k]->ls.n; l++)
                    if (m->gen[k]->ls.l[l].fd == fd)
                        m->gen[k]->ls.l[l].fd = -1;
        }
}

static void stop_all(struct master *m, int sig)
{
    int j;

    for (j = 0; j < m->ngen; j++)
        if (!m->gen[j]->stopping || sig == SIGTERM)
            generation_stop(m->gen[j], sig);
    close_listeners(m);
}

/* SIGTERM stops now; SIGQUIT gracefully, after the drain when a health check can
 * tell the balancer (its workers serve on, health says 503). A fast stop may
 * overtake a graceful one, not the other way round. */
static void take_stop_signal(struct master *m, int *stopping)
{
    int sig = got_term ? SIGTERM : SIGQUIT;
    const struct settings *s = &m->gen[0]->s;

    got_term = got_quit = 0;
    if (*stopping && sig == SIGQUIT)
        return;
    if (!*stopping)
        notify("STOPPING=1");
    *stopping = sig == SIGTERM ? 2 : 1;
    m->drain_until_ms = 0;
    if (sig == SIGQUIT && s->health && s->drain_time > 0 && m->metrics != NULL) {
        metrics_set_draining(m->metrics);
        m->drain_until_ms = event_now_ms() + (uint64_t)s->drain_time * 1000;
        log_info("draining: %s answers 503 for %u s while requests are served, then the "
                 "listeners close", s->health, s->drain_time);
        return;
    }
    stop_all(m, sig);
}

static int supervise(struct master *m, const sigset_t *waitmask)
{
    int stopping = 0, i, j;

    for (;;) {
        uint64_t now = event_now_ms(), next = 0;
        struct timespec ts, *tsp = NULL;

        if (got_term || got_quit)
            take_stop_signal(m, &stopping);
        if (m->drain_until_ms != 0 && now >= m->drain_until_ms) {
            m->drain_until_ms = 0;
            stop_all(m, SIGQUIT);
        }
        next = m->drain_until_ms;
        if (got_hup) {
            got_hup = 0;
            if (!stopping)
                reload(m);
            else
                log_warnx("reload ignored: the server is stopping");
        }
        if (got_usr1) {
            got_usr1 = 0;
            reopen_logs(m);
        }
        got_child = 0;
        reap(m);
        /* drained generations go; a generation that overstays is killed */
        for (j = m->ngen - 1; j >= 0; j--) {
            struct generation *g = m->gen[j];
            if (g->stopping && generation_alive(g) == 0) {
                memmove(&m->gen[j], &m->gen[j + 1], sizeof(m->gen[0]) * (size_t)(m->ngen - j - 1));
                m->ngen--;
                generation_free(g, m->gen, m->ngen);
                continue;
            }
            if (g->stopping && now >= g->kill_at_ms) {
                log_warnx("workers did not finish in time; killing them");
                generation_signal(g, SIGKILL);
                g->kill_at_ms = now + 1000;
            }
            if (g->stopping && (next == 0 || g->kill_at_ms < next))
                next = g->kill_at_ms;
        }
        if (stopping && m->ngen == 0)
            return 0;
        if (!stopping || m->drain_until_ms != 0) {
            struct generation *g = m->gen[0];
            for (i = 0; i < g->nslots; i++) {
                struct slot *sl = &g->slots[i];
                if (sl->pid != 0 || sl->respawn_at_ms == 0)
                    continue;
                if (sl->respawn_at_ms <= now)
                    generation_spawn(g, i);
                if (sl->respawn_at_ms != 0 && (next == 0 || sl->respawn_at_ms < next))
                    next = sl->respawn_at_ms;
            }
        }
        if (next != 0) {
            uint64_t wait = next > now ? next - now : 0;
            ts.tv_sec = (time_t)(wait / 1000);
            ts.tv_nsec = (long)(wait % 1000) * 1000000;
            tsp = &ts;
        }
        if (!got_term && !got_quit && !got_child && !got_hup && !got_usr1)
            ppoll(NULL, 0, tsp, waitmask);
    }
}

int master_check(struct settings *s)
{
    struct generation g;

    memset(&g, 0, sizeof(g));
    g.s = *s;
    g.s.tls_save_cert = NULL; /* a check writes nothing */
    if (privilege_resolve(&g.s, &g.priv) < 0)
        return 1;
    if (g.s.tls) {
        struct tls_server *t = tls_server_new(&g.s, NULL);
        if (t == NULL)
            return 1;
        tls_server_free(t);
    }
    site_report(&g.s);
    authrule_warn_plain(&g.s);
    printf("portico: configuration OK\n");
    return 0;
}

int master_run(struct settings *s, const struct config_source *src)
{
    struct master *m = &the_master;
    struct sigaction sa;
    sigset_t blocked, waitmask;
    struct generation *g;
    static const int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1};
    char *pid_file;
    size_t i;
    int rc;

    m->src = src;
    raise_fd_limit();
    g = generation_new(s, NULL);
    if (g == NULL) {
        config_free(s);
        return 1;
    }
    if (open_access_log(g) < 0) {
        generation_free(g, m->gen, m->ngen); /* the settings' strings go with it */
        return 1;
    }
    m->gen[0] = g;
    m->ngen = 1;
    m->metrics = metrics_create();
    share(m, g);

    sigemptyset(&blocked);
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&blocked, sigs[i]);
    sigprocmask(SIG_BLOCK, &blocked, &waitmask);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        sigdelset(&waitmask, sigs[i]);
        sigaction(sigs[i], &sa, NULL);
    }
    signal(SIGPIPE, SIG_IGN);

    print_banner(g);
    write_pid_file(&g->s);
    /* the settings' strings go with their generation; the pid file outlives it */
    pid_file = g->s.pid_file ? strdup(g->s.pid_file) : NULL;
    for (i = 0; i < (size_t)g->nslots; i++)
        generation_spawn(g, (int)i);
    notify("READY=1");
    if (g->s.open_browser)
        open_browser(&g->s);
    rc = supervise(m, &waitmask);
    if (pid_file != NULL)
        unlink(pid_file);
    free(pid_file);
    return rc;
}

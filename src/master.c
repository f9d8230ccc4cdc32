/* The master: opens the listeners (listener.c), forks the workers and supervises them —
 * respawn with back-off, reload on SIGHUP as a new generation of workers, log
 * reopening, graceful and fast stop, privilege drop. Signal handlers only set
 * flags; the loop sleeps in ppoll with them unblocked. It never serves a request. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "portico/authrule.h"
#include "portico/beneath.h"
#include "portico/compressor.h"
#include "portico/event.h"
#include "portico/listener.h"
#include "portico/log.h"
#include "portico/master.h"
#include "portico/privilege.h"
#include "portico/site.h"
#include "portico/tls.h"
#include "portico/worker.h"

#define MAX_GENERATIONS 8
#define MAX_BACKOFF_MS  10000
#define STABLE_AFTER_MS 2000 /* a worker that lived this long did not crash-loop */

struct slot {
    pid_t pid;
    int ctl;            /* the master's end of the worker's control socket */
    uint64_t started_ms;
    uint64_t respawn_at_ms;
    unsigned failures;
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
    struct slot *slots;
    int nslots;
    int stopping;
    uint64_t kill_at_ms;
};

struct master {
    const struct config_source *src;
    struct generation *gen[MAX_GENERATIONS]; /* gen[0] serves; the rest drain */
    int ngen;
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

/* Options every accepted connection inherits from its listener (Linux copies them),
 * set once here instead of two setsockopt calls per connection. */
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

    if (b == NULL || strcmp(b, "0.0.0.0") == 0 || strcmp(b, "::") == 0 ||
        strcmp(b, "[::]") == 0)
        snprintf(out, len, "localhost");
    else if (strchr(b, ':') != NULL && b[0] != '[')
        snprintf(out, len, "[%s]", b);
    else
        snprintf(out, len, "%s", b);
}


/* A file access log must open before anything is committed to it. */
static int access_log_openable(const char *path)
{
    int fd;

    if (path == NULL || strcmp(path, "-") == 0 || strcmp(path, "off") == 0)
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
static struct generation *generation_new(const struct settings *s, const struct generation *prev)
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
        compressor_open(&g->s, g->priv.uid, g->priv.gid, g->priv.drop, &g->cc) < 0)
        goto fail;
    g->nslots = g->s.workers + (g->cc.jobs[0] >= 0);
    g->slots = calloc((size_t)g->nslots, sizeof(*g->slots));
    if (g->slots == NULL) {
        log_error("calloc");
        goto fail;
    }
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
    free(g->slots);
    free(g);
    return NULL;
}

/* Releases a generation whose workers are gone; listeners still in use stay. */
static void generation_free(struct master *m, struct generation *g)
{
    int i, j;

    for (i = 0; i < g->ls.n; i++) {
        int shared = 0;
        for (j = 0; j < m->ngen; j++)
            if (m->gen[j] != g && listeners_have(&m->gen[j]->ls, g->ls.l[i].fd))
                shared = 1;
        if (!shared)
            close(g->ls.l[i].fd);
    }
    /* a compressor killed with its generation may be reaped after it is gone */
    for (i = 0; i < g->nslots; i++)
        if (g->slots[i].ctl > 0)
            close(g->slots[i].ctl);
    close_roots(g);
    compressor_close(&g->cc);
    tls_server_free(g->tls);
    if (m->ngen == 0 || m->gen[0] != g)
        config_free(&g->s);
    free(g->slots);
    free(g);
}

static struct master the_master;

/* In a new worker: every descriptor but its own generation's listeners and root,
 * its end of the compressor's socket and cache directory, its control socket, the
 * access log and stdio goes (old listeners, other workers' control sockets, another
 * root a chroot would not hide). The compressor keeps no listener and no root. */
static void close_foreign_fds(const struct generation *g, int ctl, int compressor)
{
    int keep[LISTENERS_MAX + SETTINGS_MAX_SITES + 6], n = 0, i, j, lo = 3;

    for (i = 0; i < g->ls.n && !compressor; i++)
        keep[n++] = g->ls.l[i].fd;
    for (i = 0; i < g->nroots && !compressor; i++)
        keep[n++] = g->rootfds[i];
    if (g->cc.dirfd >= 0)
        keep[n++] = g->cc.dirfd;
    if (g->cc.jobs[0] >= 0)
        keep[n++] = g->cc.jobs[compressor ? 0 : 1];
    keep[n++] = ctl;
    if (log_access_fd() > STDERR_FILENO && !compressor)
        keep[n++] = log_access_fd();
    for (i = 1; i < n; i++) /* a handful: insertion sort */
        for (j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    for (i = 0; i < n; i++) {
        if (keep[i] > lo)
            close_range((unsigned)lo, (unsigned)keep[i] - 1, 0);
        if (keep[i] >= lo)
            lo = keep[i] + 1;
    }
    close_range((unsigned)lo, ~0u, 0);
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

static void spawn(struct generation *g, int i)
{
    int sv[2];
    pid_t pid;

    /* a control socket: the master hands a reopened access log over it */
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
        log_error("socketpair");
        g->slots[i].respawn_at_ms = event_now_ms() + 1000;
        return;
    }
    fflush(NULL);
    pid = fork_named(i == g->s.workers ? COMPRESSOR_NAME : NULL);
    if (pid < 0) {
        log_error("fork");
        close(sv[0]);
        close(sv[1]);
        g->slots[i].respawn_at_ms = event_now_ms() + 1000;
        return;
    }
    if (pid == 0) {
        close_foreign_fds(g, sv[1], i == g->s.workers);
        if (privilege_drop(&g->s, &g->priv) < 0)
            _exit(1);
        if (i == g->s.workers)
            _exit(compressor_run(&g->s, &g->cc));
        _exit(worker_run(&g->s, &g->ls, g->rootfds, g->tls, &g->cc, sv[1]));
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
 * file goes at the next start): it is killed at once, and not waited for. */
static void signal_generation(struct generation *g, int sig)
{
    int i;

    for (i = 0; i < g->nslots; i++)
        if (g->slots[i].pid > 0)
            kill(g->slots[i].pid, i < g->s.workers ? sig : SIGKILL);
}

/* Bounds how long a stopping generation may take before it is killed. */
static void stop_generation(struct generation *g, int sig)
{
    unsigned bound = g->s.shutdown_timeout;

    if (sig == SIGQUIT) /* graceful: idle connections get a moment more */
        bound += 2;
    g->stopping = 1;
    g->kill_at_ms = event_now_ms() + (uint64_t)bound * 1000 + 2000;
    signal_generation(g, sig);
}

static void reap(struct master *m)
{
    pid_t pid;
    int status, i, j;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        uint64_t now = event_now_ms();
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
                if (g->stopping)
                    continue;
                if (WIFSIGNALED(status))
                    log_warnx("%s %ld was killed by signal %d (%s); starting a new one",
                              i < g->s.workers ? "worker" : "compressor", (long)pid,
                              WTERMSIG(status), strsignal(WTERMSIG(status)));
                else
                    log_warnx("%s %ld exited with status %d; starting a new one",
                              i < g->s.workers ? "worker" : "compressor", (long)pid,
                              WEXITSTATUS(status));
                /* a worker that dies young again and again is restarted ever more slowly */
                sl->failures = now - sl->started_ms < STABLE_AFTER_MS ? sl->failures + 1 : 0;
                if (sl->failures == 0) {
                    sl->respawn_at_ms = now;
                } else {
                    uint64_t delay = 100ull << (sl->failures < 8 ? sl->failures - 1 : 7);
                    sl->respawn_at_ms = now + (delay > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : delay);
                }
            }
        }
    }
}

/* Its workers still running. */
static int alive(const struct generation *g)
{
    int i, n = 0;

    for (i = 0; i < g->s.workers; i++)
        n += g->slots[i].pid != 0;
    return n;
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
    /* the new workers accept on the shared listeners before the old ones stop */
    for (i = 0; i < g->nslots; i++)
        spawn(g, i);
    memmove(&m->gen[1], &m->gen[0], sizeof(m->gen[0]) * (size_t)m->ngen);
    m->gen[0] = g;
    m->ngen++;
    stop_generation(m->gen[1], SIGQUIT);
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

static int supervise(struct master *m, const sigset_t *waitmask)
{
    int stopping = 0, i, j;

    for (;;) {
        uint64_t now = event_now_ms(), next = 0;
        struct timespec ts, *tsp = NULL;

        if (got_term || got_quit) {
            /* a fast stop may overtake a graceful one, not the other way round */
            int sig = got_term ? SIGTERM : SIGQUIT;
            if (!stopping || sig == SIGTERM) {
                if (!stopping)
                    notify("STOPPING=1");
                for (j = 0; j < m->ngen; j++)
                    if (!m->gen[j]->stopping || sig == SIGTERM)
                        stop_generation(m->gen[j], sig);
            }
            stopping = got_term ? 2 : (stopping ? stopping : 1);
            got_term = got_quit = 0;
        }
        if (got_hup) {
            got_hup = 0;
            if (!stopping)
                reload(m);
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
            if (g->stopping && alive(g) == 0) {
                memmove(&m->gen[j], &m->gen[j + 1], sizeof(m->gen[0]) * (size_t)(m->ngen - j - 1));
                m->ngen--;
                generation_free(m, g);
                continue;
            }
            if (g->stopping && now >= g->kill_at_ms) {
                log_warnx("workers did not finish in time; killing them");
                signal_generation(g, SIGKILL);
                g->kill_at_ms = now + 1000;
            }
            if (g->stopping && (next == 0 || g->kill_at_ms < next))
                next = g->kill_at_ms;
        }
        if (stopping && m->ngen == 0)
            return 0;
        if (!stopping) {
            struct generation *g = m->gen[0];
            for (i = 0; i < g->nslots; i++) {
                struct slot *sl = &g->slots[i];
                if (sl->pid != 0 || sl->respawn_at_ms == 0)
                    continue;
                if (sl->respawn_at_ms <= now)
                    spawn(g, i);
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
        generation_free(m, g); /* the settings' strings go with it */
        return 1;
    }
    m->gen[0] = g;
    m->ngen = 1;

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
        spawn(g, (int)i);
    notify("READY=1");
    rc = supervise(m, &waitmask);
    if (pid_file != NULL)
        unlink(pid_file);
    free(pid_file);
    return rc;
}

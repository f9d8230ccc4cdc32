/* The master: binds the listeners, forks the workers and supervises them —
 * respawn with back-off, graceful stop. Signal handlers only set flags; the loop
 * sleeps in ppoll with them unblocked. It never accepts or serves a request. */
#include "build-config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "portico/event.h"
#include "portico/log.h"
#include "portico/master.h"
#include "portico/beneath.h"
#include "portico/tls.h"
#include "portico/worker.h"

#define MAX_LISTENERS    8
#define MAX_BACKOFF_MS   10000
#define STABLE_AFTER_MS  2000 /* a worker that lived this long did not crash-loop */

struct slot {
    pid_t pid;
    uint64_t started_ms;
    uint64_t respawn_at_ms;
    unsigned failures;
};

#define MAX_FDS (2 * MAX_LISTENERS)

struct master {
    struct settings *s;
    int fds[MAX_FDS];
    int tls[MAX_FDS]; /* 1 for an HTTPS listener */
    int nfds;
    struct tls_server *tls_server;
    int rootfd;
    struct slot *slots;
    int nslots;
};

static volatile sig_atomic_t got_stop, got_child;

static void on_signal(int sig)
{
    if (sig == SIGCHLD)
        got_child = 1;
    else
        got_stop = 1;
}

static int listen_on(const struct sockaddr *sa, socklen_t len, int *err)
{
    int one = 1;
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        *err = errno;
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* v6 sockets take only v6, so the v4 wildcard can be bound beside them */
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, sa, len) < 0 || listen(fd, 511) < 0) {
        *err = errno;
        close(fd);
        return -1;
    }
    return fd;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

static int get_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void bind_error(const struct settings *s, const char *addr, int port, int err)
{
    if (err == EACCES && port < 1024)
        log_errorx("port %d needs root; try -p %d", port, PORTICO_DEFAULT_PORT);
    else if (err == EADDRINUSE)
        log_errorx("port %d is already in use (is another server running?); try -p %d or stop "
                   "the other server", port, port == 65535 ? 8081 : port + 1);
    else if (err == EADDRNOTAVAIL)
        log_errorx("cannot listen on %s: no such address on this machine", addr);
    else
        log_errorx("cannot listen on %s port %d: %s", addr, port, strerror(err));
    (void)s;
}

/* The addresses to listen on: every result for -b, else the v6 and v4 wildcards. */
static int resolve(const struct settings *s, struct sockaddr_storage *out, socklen_t *lens)
{
    struct addrinfo hints, *res, *ai;
    char host[256];
    const char *h = s->bind_addr;
    int n = 0, rc;
    size_t len;

    if (h == NULL) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&out[0];
        struct sockaddr_in *v4 = (struct sockaddr_in *)&out[1];
        memset(out, 0, 2 * sizeof(*out));
        v6->sin6_family = AF_INET6;
        v6->sin6_addr = in6addr_any;
        lens[0] = sizeof(*v6);
        v4->sin_family = AF_INET;
        v4->sin_addr.s_addr = htonl(INADDR_ANY);
        lens[1] = sizeof(*v4);
        return 2;
    }
    len = strlen(h);
    if (len >= 2 && h[0] == '[' && h[len - 1] == ']') { /* "[::1]" as in a URL */
        h++;
        len -= 2;
    }
    if (len >= sizeof(host)) {
        log_errorx("bind address too long: %s", s->bind_addr);
        return -1;
    }
    memcpy(host, h, len);
    host[len] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) {
        log_errorx("cannot listen on %s: %s", s->bind_addr, gai_strerror(rc));
        return -1;
    }
    for (ai = res; ai != NULL && n < MAX_LISTENERS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(out[0]))
            continue;
        memcpy(&out[n], ai->ai_addr, ai->ai_addrlen);
        lens[n++] = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    return n;
}

/* Binds every address to *port (0: one free port for them all); the sockets are
 * appended to m->fds with the given TLS flag. */
static int bind_port(struct master *m, int *port_io, int tls)
{
    struct sockaddr_storage addrs[MAX_LISTENERS];
    socklen_t lens[MAX_LISTENERS];
    const char *shown = m->s->bind_addr ? m->s->bind_addr : "*";
    int n = resolve(m->s, addrs, lens);
    int first = m->nfds, attempt, i;

    if (n <= 0)
        return -1;
    /* with port 0 the first socket picks the port and the others must get the
     * same one; if another program holds it on the other family, try again */
    for (attempt = 0; attempt < 20; attempt++) {
        int port = *port_io, err = 0, retry = 0;
        for (i = 0; i < n && m->nfds < MAX_FDS; i++) {
            int fd;
            set_port(&addrs[i], port);
            fd = listen_on((struct sockaddr *)&addrs[i], lens[i], &err);
            if (fd < 0) {
                /* no IPv6 on this machine: the IPv4 wildcard is enough */
                if (m->s->bind_addr == NULL && addrs[i].ss_family == AF_INET6 &&
                    (err == EAFNOSUPPORT || err == EADDRNOTAVAIL))
                    continue;
                if (*port_io == 0 && m->nfds > first && err == EADDRINUSE) {
                    retry = 1;
                    break;
                }
                bind_error(m->s, shown, port, err);
                goto fail;
            }
            m->tls[m->nfds] = tls;
            m->fds[m->nfds++] = fd;
            if (port == 0)
                port = get_port(fd);
        }
        if (!retry && m->nfds > first) {
            *port_io = port;
            return 0;
        }
        while (m->nfds > first)
            close(m->fds[--m->nfds]);
    }
    log_errorx("cannot find a free port on %s", shown);
    return -1;
fail:
    while (m->nfds > first)
        close(m->fds[--m->nfds]);
    return -1;
}

static int bind_listeners(struct master *m)
{
    if (m->s->tls && m->s->tls_port == m->s->port && m->s->port != 0) {
        log_errorx("port %d is already in use by plain HTTP (-p); give --tls-port another port",
                   m->s->port);
        return -1;
    }
    if (bind_port(m, &m->s->port, 0) < 0)
        return -1;
    if (m->s->tls && bind_port(m, &m->s->tls_port, 1) < 0) {
        while (m->nfds > 0)
            close(m->fds[--m->nfds]);
        return -1;
    }
    return 0;
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

    if (b == NULL || strcmp(b, "0.0.0.0") == 0 || strcmp(b, "::") == 0 ||
        strcmp(b, "[::]") == 0)
        snprintf(out, len, "localhost");
    else if (strchr(b, ':') != NULL && b[0] != '[')
        snprintf(out, len, "[%s]", b);
    else
        snprintf(out, len, "%s", b);
}

static void spawn(struct master *m, int i)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        log_error("fork");
        m->slots[i].respawn_at_ms = event_now_ms() + 1000;
        return;
    }
    if (pid == 0)
        _exit(worker_run(m->s, m->fds, m->tls, m->nfds, m->rootfd, m->tls_server));
    m->slots[i].pid = pid;
    m->slots[i].started_ms = event_now_ms();
    m->slots[i].respawn_at_ms = 0;
}

static void describe_exit(pid_t pid, int status)
{
    if (WIFSIGNALED(status))
        log_warnx("worker %ld was killed by signal %d (%s); starting a new one", (long)pid,
                  WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        log_warnx("worker %ld exited with status %d; starting a new one", (long)pid,
                  WEXITSTATUS(status));
}

static int reap(struct master *m, int stopping)
{
    pid_t pid;
    int status, i, alive = 0;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        uint64_t now = event_now_ms();
        for (i = 0; i < m->nslots; i++) {
            struct slot *sl = &m->slots[i];
            if (sl->pid != pid)
                continue;
            sl->pid = 0;
            if (stopping)
                break;
            describe_exit(pid, status);
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
    for (i = 0; i < m->nslots; i++)
        alive += m->slots[i].pid != 0;
    return alive;
}

static void signal_workers(struct master *m, int sig)
{
    int i;

    for (i = 0; i < m->nslots; i++)
        if (m->slots[i].pid > 0)
            kill(m->slots[i].pid, sig);
}

static int supervise(struct master *m, const sigset_t *waitmask)
{
    int stopping = 0, i;
    uint64_t kill_at = 0;

    for (;;) {
        uint64_t now = event_now_ms(), next = 0;
        struct timespec ts, *tsp = NULL;
        int alive;

        if (got_stop && !stopping) {
            stopping = 1;
            /* workers drain their in-flight responses within shutdown_timeout */
            signal_workers(m, SIGTERM);
            for (i = 0; i < m->nfds; i++)
                close(m->fds[i]);
            kill_at = now + (uint64_t)m->s->shutdown_timeout * 1000 + 1000;
        }
        got_child = 0;
        alive = reap(m, stopping);
        if (stopping) {
            if (alive == 0)
                return 0;
            if (now >= kill_at) {
                log_warnx("workers did not finish in time; killing them");
                signal_workers(m, SIGKILL);
                kill_at = now + 1000;
            }
            next = kill_at;
        } else {
            for (i = 0; i < m->nslots; i++) {
                struct slot *sl = &m->slots[i];
                if (sl->pid != 0 || sl->respawn_at_ms == 0)
                    continue;
                if (sl->respawn_at_ms <= now)
                    spawn(m, i);
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
        if (!got_stop && !got_child)
            ppoll(NULL, 0, tsp, waitmask);
    }
}

int master_run(struct settings *s)
{
    static struct master m;
    struct sigaction sa;
    sigset_t blocked, waitmask;
    char host[300];
    int i;

    m.s = s;
    raise_fd_limit();
    if (s->workers <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->workers = n > 0 ? (int)n : 1;
    }
    m.rootfd = beneath_open_root(s->root_abs);
    if (m.rootfd < 0) {
        log_error("document root %s", s->root_abs);
        return 1;
    }
    if (s->tls && (m.tls_server = tls_server_new(s)) == NULL)
        return 1;
    if (bind_listeners(&m) < 0)
        return 1;
    if (log_access_open(s->access_log) < 0) {
        log_error("cannot open the access log %s", s->access_log);
        return 1;
    }
    m.nslots = s->workers;
    m.slots = calloc((size_t)m.nslots, sizeof(*m.slots));
    if (m.slots == NULL) {
        log_error("calloc");
        return 1;
    }

    sigemptyset(&blocked);
    sigaddset(&blocked, SIGCHLD);
    sigaddset(&blocked, SIGTERM);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGQUIT);
    sigprocmask(SIG_BLOCK, &blocked, &waitmask);
    sigdelset(&waitmask, SIGCHLD);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGQUIT);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    url_host(s, host, sizeof(host));
    if (s->tls)
        printf("portico: serving %s at http://%s:%d/ and https://%s:%d/ (%d worker%s)\n",
               s->root_abs, host, s->port, host, s->tls_port, s->workers,
               s->workers == 1 ? "" : "s");
    else
        printf("portico: serving %s at http://%s:%d/ (%d worker%s)\n", s->root_abs, host,
               s->port, s->workers, s->workers == 1 ? "" : "s");
    if (s->tls && tls_generated_fingerprint(m.tls_server)) {
        printf("portico: HTTPS uses a new self-signed certificate for localhost, 127.0.0.1 and "
               "::1, SHA-256 fingerprint %s\n",
               tls_generated_fingerprint(m.tls_server));
        if (s->tls_save_cert)
            printf("portico: trust it with: curl --cacert %s https://localhost:%d/ (or import "
                   "it in the browser)\n",
                   s->tls_save_cert, s->tls_port);
        else
            printf("portico: to trust it, add --tls-save-cert cert.pem and use curl --cacert "
                   "cert.pem, or accept it in the browser\n");
    }
    fflush(stdout);

    for (i = 0; i < m.nslots; i++)
        spawn(&m, i);
    return supervise(&m, &waitmask);
}

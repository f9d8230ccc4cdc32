/* Listening sockets: resolving -b, binding (port 0: one free port for every
 * address), tuning, adopting systemd's sockets and keeping the previous
 * generation's across a reload. Never accepts a connection. */
#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "portico/conn.h"
#include "portico/listener.h"
#include "portico/log.h"

#define MAX_ADDRS 8 /* addresses -b may resolve to */

static void tune_listener(int fd)
{
    int one = 1, notsent_lowat = CONN_NOTSENT_LOWAT;

    /* a connection is handed over once its first bytes are there (or after about a
     * second without any, as the kernel retries its SYN-ACK): the worker then reads
     * the request at once, instead of registering the socket to wait for it */
    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &one, sizeof(one));
    /* responses are whole by the time they are written; do not let Nagle hold the tail */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* queue at most this much not yet sent: a client that reads slowly (or not at
     * all) then pins ~128 KiB of kernel memory rather than a whole autotuned send
     * buffer (MBs), and a worker never stalls copying MBs into one socket */
    setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &notsent_lowat, sizeof(notsent_lowat));
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
    tune_listener(fd);
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

static void bind_error(const char *addr, int port, int err)
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
    for (ai = res; ai != NULL && n < MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(out[0]))
            continue;
        memcpy(&out[n], ai->ai_addr, ai->ai_addrlen);
        lens[n++] = ai->ai_addrlen;
    }
    freeaddrinfo(res);
    return n;
}

static void add(struct listener_set *set, int fd, int port, int tls)
{
    struct listener *l = &set->l[set->n++];
    socklen_t len = sizeof(l->addr);

    l->fd = fd;
    if (getsockname(fd, (struct sockaddr *)&l->addr, &len) < 0)
        memset(&l->addr, 0, sizeof(l->addr));
    l->port = port;
    l->tls = (unsigned)tls;
}

static void close_from(struct listener_set *set, int first)
{
    while (set->n > first)
        close(set->l[--set->n].fd);
}

/* Binds every address to *port (0: one free port for them all), appending the
 * sockets to set. */
static int bind_port(struct listener_set *set, const struct settings *s, int *port_io, int tls)
{
    struct sockaddr_storage addrs[MAX_ADDRS];
    socklen_t lens[MAX_ADDRS];
    const char *shown = s->bind_addr ? s->bind_addr : "*";
    int n = resolve(s, addrs, lens);
    int first = set->n, attempt, i;

    if (n <= 0)
        return -1;
    /* with port 0 the first socket picks the port and the others must get the
     * same one; if another program holds it on the other family, try again */
    for (attempt = 0; attempt < 20; attempt++) {
        int port = *port_io, err = 0, retry = 0;
        for (i = 0; i < n && set->n < LISTENERS_MAX; i++) {
            int fd;
            set_port(&addrs[i], port);
            fd = listen_on((struct sockaddr *)&addrs[i], lens[i], &err);
            if (fd < 0) {
                /* no IPv6 on this machine: the IPv4 wildcard is enough */
                if (s->bind_addr == NULL && addrs[i].ss_family == AF_INET6 &&
                    (err == EAFNOSUPPORT || err == EADDRNOTAVAIL))
                    continue;
                if (*port_io == 0 && set->n > first && err == EADDRINUSE) {
                    retry = 1;
                    break;
                }
                bind_error(shown, port, err);
                goto fail;
            }
            if (port == 0)
                port = get_port(fd);
            add(set, fd, port, tls);
        }
        if (!retry && set->n > first) {
            *port_io = port;
            return 0;
        }
        close_from(set, first);
    }
    log_errorx("cannot find a free port on %s", shown);
    return -1;
fail:
    close_from(set, first);
    return -1;
}

/* Sockets handed over by systemd (LISTEN_FDS): the one on the TLS port serves
 * HTTPS, the others plain HTTP. Returns the number adopted. */
static int adopt_systemd_sockets(struct listener_set *set, struct settings *s)
{
    const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
    int i, count;

    if (pid == NULL || n == NULL || atol(pid) != (long)getpid())
        return 0;
    count = atoi(n);
    for (i = 0; i < count && set->n < LISTENERS_MAX; i++) {
        int fd = 3 + i, port = get_port(fd), tls;
        if (port < 0)
            continue;
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        tune_listener(fd);
        tls = s->tls && port == s->tls_port;
        add(set, fd, port, tls);
        if (tls)
            s->tls_port = port;
        else
            s->port = port;
    }
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    return set->n;
}

static int same_bind(const struct settings *a, const struct settings *b)
{
    if (a->bind_addr == NULL || b->bind_addr == NULL)
        return a->bind_addr == b->bind_addr;
    return strcmp(a->bind_addr, b->bind_addr) == 0;
}

static int count_kind(const struct listener_set *set, int tls)
{
    int i, n = 0;

    for (i = 0; i < set->n; i++)
        n += set->l[i].tls == (unsigned)tls;
    return n;
}

/* Takes over prev's listeners of one kind (plain or TLS) if what was asked for is
 * the same; returns their port, or -1. */
static int share(struct listener_set *set, const struct listen_request *ask,
                 const struct listener_set *prev, const struct listen_request *prev_ask, int tls)
{
    int i, port = -1;

    if (prev == NULL || count_kind(prev, tls) == 0 || !same_bind(ask->s, prev_ask->s) ||
        (tls ? ask->tls_port != prev_ask->tls_port : ask->port != prev_ask->port))
        return -1;
    for (i = 0; i < prev->n && set->n < LISTENERS_MAX; i++)
        if (prev->l[i].tls == (unsigned)tls) {
            set->l[set->n++] = prev->l[i];
            port = prev->l[i].port;
        }
    return port;
}

/* Which listeners expect a PROXY header is the generation's own choice, also for a
 * socket kept from the previous one. */
static void mark_proxy(struct listener_set *set, const struct settings *s)
{
    int on = strcmp(s->proxy_protocol, "on") == 0, i;

    for (i = 0; i < set->n; i++)
        set->l[i].proxy = on || strcmp(s->proxy_protocol, set->l[i].tls ? "https" : "http") == 0;
}

static int open_kinds(struct listener_set *set, struct settings *s, const struct listen_request *ask,
                      const struct listener_set *prev, const struct listen_request *prev_ask)
{
    int port;

    set->n = 0;
    if (s->tls && s->tls_port == s->port && s->port != 0) {
        log_errorx("port %d is already in use by plain HTTP (-p); give --tls-port another port",
                   s->port);
        return -1;
    }
    if (prev == NULL)
        adopt_systemd_sockets(set, s);
    if (count_kind(set, 0) == 0) {
        if ((port = share(set, ask, prev, prev_ask, 0)) >= 0)
            s->port = port;
        else if (bind_port(set, s, &s->port, 0) < 0)
            return -1;
    }
    if (!s->tls || count_kind(set, 1) > 0)
        return 0;
    if ((port = share(set, ask, prev, prev_ask, 1)) >= 0) {
        s->tls_port = port;
        return 0;
    }
    return bind_port(set, s, &s->tls_port, 1);
}

int listeners_open(struct listener_set *set, struct settings *s, const struct listen_request *ask,
                   const struct listener_set *prev, const struct listen_request *prev_ask)
{
    if (open_kinds(set, s, ask, prev, prev_ask) < 0)
        return -1;
    mark_proxy(set, s);
    return 0;
}

int listeners_have(const struct listener_set *set, int fd)
{
    int i;

    for (i = 0; set != NULL && i < set->n; i++)
        if (set->l[i].fd == fd)
            return 1;
    return 0;
}

int listeners_bind_any(const char *bind)
{
    return bind == NULL || strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0 ||
           strcmp(bind, "[::]") == 0;
}

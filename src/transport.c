/* The plain TCP transport and the socket options every transport shares. The
 * only file besides tls*.c that calls recv, send or sendfile on a connection. */
#include "build-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "portico/transport.h"

enum io_result transport_recv_raw(struct transport *t, void *buf, size_t len, int peek,
                                  size_t *got)
{
    ssize_t n;

    do
        n = recv(t->fd, buf, len, peek ? MSG_PEEK : 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        *got = (size_t)n;
        return IO_DONE;
    }
    if (n == 0)
        return IO_EOF;
    if (errno == EAGAIN) {
        t->readable = 0;
        return IO_AGAIN;
    }
    return IO_ERROR;
}

static enum io_result plain_recv(struct transport *t, void *buf, size_t len, size_t *got)
{
    enum io_result res = transport_recv_raw(t, buf, len, 0, got);

    /* a short read emptied the socket: edge-triggered epoll reports the next bytes, so
     * do not spend a recv on EAGAIN (unless the peer's FIN is pending) */
    if (res == IO_DONE && *got < len && !t->hup)
        t->readable = 0;
    return res;
}

/* What a send or sendfile came to; a full socket clears the writable flag. */
static enum io_result sent(struct transport *t, ssize_t n, size_t *put)
{
    if (n >= 0) {
        *put = (size_t)n;
        return IO_DONE;
    }
    if (errno == EAGAIN) {
        t->writable = 0;
        return IO_AGAIN;
    }
    return IO_ERROR;
}

static enum io_result plain_send(struct transport *t, const void *buf, size_t len, int more,
                                 size_t *put)
{
    ssize_t n;

    do
        n = send(t->fd, buf, len, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    while (n < 0 && errno == EINTR);
    return sent(t, n, put);
}

static enum io_result plain_sendfile(struct transport *t, int fd, off_t off, size_t len,
                                     size_t *put)
{
    ssize_t n;

    do
        n = sendfile(t->fd, fd, &off, len);
    while (n < 0 && errno == EINTR);
    return sent(t, n, put);
}

static void plain_shutdown(struct transport *t)
{
    shutdown(t->fd, SHUT_WR);
}

static void plain_close(struct transport *t)
{
    if (t->fd >= 0)
        close(t->fd); /* also removes it from the epoll set */
    t->fd = -1;
}

const struct transport_ops transport_plain = {
    .handshake = NULL,
    .recv = plain_recv,
    .send = plain_send,
    .sendfile = plain_sendfile,
    .shutdown = plain_shutdown,
    .close = plain_close,
    .gather = 0,
};

void transport_init(struct transport *t, int fd)
{
    t->ops = &transport_plain;
    t->fd = fd;
    t->layer = NULL;
    t->readable = t->writable = 1;
    t->hup = 0;
}

void transport_set_lowat(struct transport *t, int bytes)
{
    setsockopt(t->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof(bytes));
}

void transport_set_cork(struct transport *t, int on)
{
    setsockopt(t->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

void transport_reset_on_close(struct transport *t)
{
    struct linger reset = {1, 0};

    setsockopt(t->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
}

int transport_local_addr(const struct transport *t, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char addr[INET6_ADDRSTRLEN];

    if (getsockname(t->fd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr));
        snprintf(out, len, "[%s]", addr);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, len);
    }
    return 0;
}

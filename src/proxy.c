/* The client behind a load balancer. A PROXY header is parsed whole before anything
 * else; before TLS it is peeked at and then taken off the socket by its exact length,
 * so that the handshake behind it stays for the TLS layer. A header split over packets
 * is waited for under the header deadline. Forwarding headers count from trusted peers. */
#include "build-config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "portico/proxy.h"

/* Behind TLS: the header is peeked at, then only its own bytes are taken off the
 * socket; the rest is the TLS layer's to read. */
static enum io_result peek_header(struct transport *t, struct proxy_info *info)
{
    char buf[PROXY_HEADER_MAX];
    ssize_t n;

    do
        n = recv(t->fd, buf, sizeof(buf), MSG_PEEK);
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return IO_EOF;
    if (n < 0) {
        if (errno != EAGAIN)
            return IO_ERROR;
        t->readable = 0;
        return IO_AGAIN;
    }
    switch (proxy_parse(buf, (size_t)n, info)) {
    case PROXY_MORE:
        /* the rest comes as new bytes, which wake the connection again */
        t->readable = 0;
        return IO_AGAIN;
    case PROXY_DONE:
        do
            n = recv(t->fd, buf, info->len, 0);
        while (n < 0 && errno == EINTR);
        return n == (ssize_t)info->len ? IO_DONE : IO_ERROR;
    default:
        return IO_ERROR;
    }
}

/* On plain TCP: one read for the header and whatever came with it (a request,
 * usually), which stays in buf for the parser; no peek. */
static enum io_result read_header(struct transport *t, char *buf, uint32_t *len, uint32_t cap,
                                  struct proxy_info *info)
{
    size_t n = 0;
    enum io_result res = t->ops->recv(t, buf + *len, cap - *len, &n);

    if (res != IO_DONE)
        return res;
    *len += (uint32_t)n;
    switch (proxy_parse(buf, *len, info)) {
    case PROXY_MORE:
        return IO_AGAIN; /* a short read cleared readable: new bytes wake the connection */
    case PROXY_DONE:
        memmove(buf, buf + info->len, *len - info->len);
        *len -= (uint32_t)info->len;
        return IO_DONE;
    default:
        return IO_ERROR;
    }
}

enum io_result proxy_read_header(struct transport *t, char *buf, uint32_t *len, uint32_t cap,
                                 struct proxy_info *info)
{
    if (t->ops->handshake != NULL)
        return peek_header(t, info);
    return read_header(t, buf, len, cap, info);
}

static void span_lines(const struct span *in, int n, const char *base, struct str *out)
{
    int i;

    for (i = 0; i < n; i++) {
        out[i].p = base + in[i].off;
        out[i].len = in[i].len;
    }
}

const struct sockaddr *proxy_request_client(const struct request *r, const char *base,
                                            const struct sockaddr *peer,
                                            const struct netaddr_set *trusted, int forwarded,
                                            struct sockaddr_storage *room)
{
    struct str lines[4];
    int n = forwarded ? r->n_forwarded : r->n_forwarded_for;

    if (n == 0 || !netaddr_set_has(trusted, peer))
        return peer;
    span_lines(forwarded ? r->forwarded : r->forwarded_for, n, base, lines);
    if (!(forwarded ? netaddr_forwarded_client(NULL, 0, lines, n, trusted, room)
                    : netaddr_forwarded_client(lines, n, NULL, 0, trusted, room)))
        return peer;
    return (const struct sockaddr *)room;
}

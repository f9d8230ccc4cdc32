/* The client behind a load balancer. A PROXY header is parsed whole before anything
 * else; before TLS it is peeked at and then taken off the socket by its exact length,
 * so that the handshake behind it stays for the TLS layer. A header split over packets
 * is waited for under the header deadline. Forwarding headers count from trusted peers. */
#include "build-config.h"

#include <string.h>

#include "portico/proxy.h"

/* Behind TLS: the header is peeked at, then only its own bytes are taken off the
 * socket; the rest is the TLS layer's to read. */
static enum io_result peek_header(struct transport *t, struct proxy_info *info)
{
    char buf[PROXY_HEADER_MAX];
    size_t n = 0;
    enum io_result res = transport_recv_raw(t, buf, sizeof(buf), 1, &n);

    if (res != IO_DONE)
        return res;
    switch (proxy_parse(buf, n, info)) {
    case PROXY_MORE:
        /* the rest comes as new bytes, which wake the connection again */
        t->readable = 0;
        return IO_AGAIN;
    case PROXY_DONE:
        res = transport_recv_raw(t, buf, info->len, 0, &n);
        return res == IO_DONE && n == info->len ? IO_DONE : IO_ERROR;
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

const struct sockaddr *proxy_request_client(struct exchange *x, const struct sockaddr *peer,
                                            const struct netaddr_set *trusted, int forwarded)
{
    const struct request *r = x->req;
    struct str_list l = forwarded ? exchange_lines(x, r->forwarded, r->n_forwarded)
                                  : exchange_lines(x, r->forwarded_for, r->n_forwarded_for);

    if (l.n == 0 || !netaddr_set_has(trusted, peer))
        return peer;
    if (!(forwarded ? netaddr_forwarded_client(NULL, 0, l.line, l.n, trusted, &x->client_room)
                    : netaddr_forwarded_client(l.line, l.n, NULL, 0, trusted, &x->client_room)))
        return peer;
    return (const struct sockaddr *)&x->client_room;
}

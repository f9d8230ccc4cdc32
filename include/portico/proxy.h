/* Who the client really is behind a load balancer: the PROXY header read off a
 * connection before anything else, and X-Forwarded-For / Forwarded from trusted
 * proxies. Parsing is proxyproto.c's and netaddr.c's; this reads and decides. */
#ifndef PORTICO_PROXY_H
#define PORTICO_PROXY_H

#include <stdint.h>
#include <sys/socket.h>

#include "portico/handler.h"
#include "portico/netaddr.h"
#include "portico/proxyproto.h"
#include "portico/transport.h"

/* Reads the PROXY header at the start of the connection. On plain TCP the bytes are
 * read into buf (*len of cap used), and on IO_DONE what came after the header is left
 * at its start (*len bytes: a request begun); before TLS, only the header's bytes are
 * taken off the socket. IO_DONE with *info; IO_AGAIN while a valid beginning waits
 * for the rest (a header split over packets); IO_ERROR when the bytes are no header
 * (close, sending nothing); IO_EOF. */
enum io_result proxy_read_header(struct transport *t, char *buf, uint32_t *len, uint32_t cap,
                                 struct proxy_info *info);

/* The client of a request: when peer is a trusted proxy and the request carries the
 * header the proxies name clients in (forwarded: Forwarded, else X-Forwarded-For), the
 * address it names (kept in x->client_room); else peer. The other header is never read. */
const struct sockaddr *proxy_request_client(struct exchange *x, const struct sockaddr *peer,
                                            const struct netaddr_set *trusted, int forwarded);

#endif

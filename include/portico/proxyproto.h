/* The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a
 * load balancer sends before anything else: who the client really is. Pure parsing
 * of bytes already received; reading them off the socket is proxy.c's. */
#ifndef PORTICO_PROXYPROTO_H
#define PORTICO_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>

/* The longest header accepted: v1's 107 bytes, or v2's 16 plus addresses and the
 * TLVs a balancer adds (TLS details, a unique ID). Longer is refused as oversized. */
#define PROXY_HEADER_MAX 1024

enum proxy_result {
    PROXY_MORE,    /* a valid beginning: wait for more bytes */
    PROXY_DONE,    /* a whole header: info is filled in */
    PROXY_INVALID, /* not a PROXY header, malformed, oversized or mixed families */
};

struct proxy_info {
    size_t len;   /* the header's length: the bytes to consume, no more */
    int version;  /* 1 or 2 */
    /* 1: no client address in the header (v2 LOCAL, as in HAProxy's health checks;
     * v1 UNKNOWN; v2 AF_UNSPEC or AF_UNIX): the connection's own peer stands */
    int local;
    int ssl;      /* v2: the client spoke TLS to the balancer (PP2_TYPE_SSL, PP2_CLIENT_SSL) */
    struct sockaddr_storage src, dst; /* when !local: AF_INET or AF_INET6, with ports */
};

/* Parses the header at the start of buf[0..len). PROXY_MORE when len is a valid
 * prefix of a header shorter than PROXY_HEADER_MAX, PROXY_DONE with *out set, or
 * PROXY_INVALID as soon as the bytes cannot be one. Never reads past len. *out is
 * zeroed first and stays so unless PROXY_DONE. */
enum proxy_result proxy_parse(const void *buf, size_t len, struct proxy_info *out);

#endif

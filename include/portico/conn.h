/* One client connection: its state machine, buffers, keep-alive and pipelining. */
#ifndef PORTICO_CONN_H
#define PORTICO_CONN_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "portico/buf.h"
#include "portico/event.h"
#include "portico/http.h"
#include "portico/response.h"

struct worker;

#define CONN_IN_SIZE  16384
#define CONN_OUT_SIZE 16384
#define CONN_TLS_SIZE 16384 /* one TLS record's worth of plaintext */

/* Everything a connection needs only while a request is in progress. It lives in
 * one pooled block that an idle keep-alive connection gives back, so waiting
 * costs a few hundred bytes, not tens of kilobytes. */
struct conn_active {
    struct http_parser parser;
    struct response resp;
    struct buf out;
    struct segment seg[RESPONSE_MAX_SEGMENTS];
    int nseg, cur;            /* segments of the response, the one being sent */
    size_t seg_mem_sent;
    uint64_t seg_file_sent;
    size_t head_len;
    uint64_t bytes_sent;      /* head and body, for the access log */
    size_t tls_len, tls_sent; /* bytes staged in tlsbuf, and written of them */
    unsigned corked;          /* TCP_CORK is on for this response's records */
    uint64_t started_ms;      /* when the response was composed */
    char in[CONN_IN_SIZE];
    char outmem[CONN_OUT_SIZE];
    char tlsbuf[CONN_TLS_SIZE]; /* head and file bytes gathered into full records */
};

#define CONN_BLOCK_SIZE sizeof(struct conn_active)

enum conn_state { CONN_HANDSHAKE, CONN_READ, CONN_WRITE, CONN_LINGER };

/* Unsent bytes a socket may queue (TCP_NOTSENT_LOWAT, set on the listeners): a
 * slow reader cannot make the kernel hold megabytes for it. When the kernel has
 * taken CONN_FAST_BYTES of a response within CONN_FAST_MS, the client has read
 * them or holds them itself, and for the rest of that response the limit is
 * CONN_FAST_LOWAT. */
#define CONN_NOTSENT_LOWAT (128 * 1024)
#define CONN_FAST_BYTES    (1024 * 1024)
#define CONN_FAST_MS       100
#define CONN_FAST_LOWAT    (4 * CONN_FAST_BYTES)

struct conn {
    struct event_handler h; /* first: the event loop hands this back */
    struct worker *w;
    struct timer timer;
    int fd;
    enum conn_state state;
    unsigned readable : 1, writable : 1;
    unsigned hup : 1;              /* the peer has closed or reset (EPOLLRDHUP/HUP/ERR) */
    unsigned keep_alive : 1;       /* after the response being sent */
    unsigned continue_pending : 1; /* "100 Continue" owed before reading the body */
    unsigned early_response : 1;   /* answering before the body was read */
    unsigned tls_checked : 1;      /* the first byte on an HTTPS port was a handshake */
    unsigned lowat_lifted : 1;     /* CONN_FAST_LOWAT for the response being sent */
    uint32_t requests;             /* served on this connection */
    struct conn_active *a;         /* NULL while idle */
    struct ssl_st *ssl;            /* NULL on a plain connection */
    uint32_t in_len, in_pos, req_start, head_end;
    size_t continue_sent;
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } peer;
    struct conn *next_free;
};

/* Takes over an accepted, non-blocking socket (from an HTTPS listener when tls). */
void conn_accept(struct worker *w, int fd, const struct sockaddr *peer, socklen_t len, int tls);
/* A timer of this connection's expired. */
void conn_timeout(struct conn *c);
/* The worker is stopping: close the connection now if it is idle. */
void conn_stop_if_idle(struct conn *c);
/* Closes and releases everything the connection holds. */
void conn_close(struct conn *c);

#endif

/* One client connection: its state machine, buffers, keep-alive and pipelining. */
#ifndef PORTICO_CONN_H
#define PORTICO_CONN_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "portico/event.h"
#include "portico/http.h"
#include "portico/response.h"

struct worker;

/* An active connection borrows one block: input first, then the output head. */
#define CONN_IN_SIZE    16384
#define CONN_OUT_SIZE   16384
#define CONN_BLOCK_SIZE (CONN_IN_SIZE + CONN_OUT_SIZE)

enum conn_state { CONN_READ, CONN_WRITE, CONN_LINGER };

struct conn {
    struct event_handler h; /* first: the event loop hands this back */
    struct worker *w;
    struct timer timer;
    int fd;
    enum conn_state state;
    unsigned readable : 1, writable : 1;
    unsigned keep_alive : 1;       /* after the response being sent */
    unsigned continue_pending : 1; /* "100 Continue" owed before reading the body */
    unsigned early_response : 1;   /* answering before the body was read */
    size_t continue_sent;
    uint32_t requests;        /* served on this connection */
    uint64_t req_begin_ms;    /* when the current request's first byte arrived */
    char *block;              /* pooled: in = block, out = block + CONN_IN_SIZE */
    uint32_t in_len, in_pos, req_start, head_end;
    struct buf out;
    size_t out_sent, head_len;
    struct response resp;
    uint64_t file_sent;
    struct http_parser parser;
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } peer;
    struct conn *next_free;
};

/* Takes over an accepted, non-blocking socket. */
void conn_accept(struct worker *w, int fd, const struct sockaddr *peer, socklen_t len);
/* A timer of this connection's expired. */
void conn_timeout(struct conn *c);
/* The worker is stopping: close the connection now if it is idle. */
void conn_stop_if_idle(struct conn *c);
/* Closes and releases everything the connection holds. */
void conn_close(struct conn *c);

#endif

/* One client connection: its named states, buffers, keep-alive and pipelining.
 * It reads and sends through a transport and is answered by the handler table; it
 * knows neither sockets nor the worker that owns it, only a narrow environment. */
#ifndef PORTICO_CONN_H
#define PORTICO_CONN_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "portico/buf.h"
#include "portico/event.h"
#include "portico/handler.h"
#include "portico/http.h"
#include "portico/netaddr.h"
#include "portico/pool.h"
#include "portico/response.h"
#include "portico/send.h"
#include "portico/settings.h"
#include "portico/transport.h"

#define CONN_IN_SIZE  16384
#define CONN_OUT_SIZE 16384

/* Everything a connection needs only while a request is in progress. It lives in
 * one pooled block that an idle keep-alive connection gives back, so waiting
 * costs a few hundred bytes, not tens of kilobytes. */
struct conn_active {
    struct http_parser parser;
    struct response resp;
    struct buf out;
    size_t head_len;     /* of the response, for the access log's body byte count */
    uint64_t started_ms; /* when the response was composed */
    uint64_t begun_us;   /* when the head was complete (env->timed only), for the log */
    struct outgoing send;
    struct exchange x;
    /* CONN_STREAM: out holds what waits from stream_sent on; the source's list */
    size_t stream_sent;
    unsigned stream_ending : 1;  /* the last chunk is pushed: close once it is out */
    unsigned stream_blocked : 1; /* the transport holds bytes the socket had no room for */
    struct conn *stream_prev, *stream_next;
    char in[CONN_IN_SIZE];
    char outmem[CONN_OUT_SIZE];
};

#define CONN_BLOCK_SIZE sizeof(struct conn_active)

/* Every state a connection can be in. Transient ones are passed through within
 * one run of the loop; the others wait for the transport or a deadline, and the
 * state alone says what its deadline's expiry means. */
enum conn_state {
    CONN_PROXY_HEADER, /* a PROXY protocol header comes before anything else; the header deadline runs */
    CONN_HANDSHAKE,    /* the transport's handshake (TLS); the header deadline runs */
    CONN_READ_HEAD,    /* a request head is awaited or arriving; on expiry: 408 if begun, else close */
    CONN_HANDLE,       /* transient: the head is complete; the handlers plan the response */
    CONN_CONTINUE,     /* "100 Continue" owed before the body; the body deadline runs */
    CONN_READ_BODY,    /* the body is read and discarded (or a message of no body ends) */
    CONN_SEND,         /* the response goes out; on expiry the stalled reader is reset */
    CONN_STREAM,       /* a response held open, its body pushed by its source (connstream.c); on
                          expiry the source's keep-alive, or a stalled reader is reset */
    CONN_DONE,         /* transient: sent; logged, then the next request, idle, or close */
    CONN_IDLE,         /* keep-alive between requests, holding no block; on expiry: rest, then close */
    CONN_LINGER,       /* half-closed after an error, draining what the client still sends */
    CONN_CLOSED,       /* released; the slot is free */
};

/* The deadlines, one queue each in the worker. An idle connection whose transport
 * holds buffers while busy (TLS) first waits CONN_T_REST, a moment, then gives them
 * back and waits the rest of CONN_T_IDLE. */
enum conn_timeout { CONN_T_HEADER, CONN_T_BODY, CONN_T_IDLE, CONN_T_SEND, CONN_T_LINGER,
                    CONN_T_REST, CONN_T_STREAM, CONN_TIMEOUTS };

/* A stream with nothing to say says something this often, so that proxies and
 * browsers do not take it for dead (CONN_T_STREAM). */
#define CONN_STREAM_IDLE_MS 20000

/* Unsent bytes a socket may queue (TCP_NOTSENT_LOWAT, set on the listeners): a
 * slow reader cannot make the kernel hold megabytes for it. When the kernel has
 * taken CONN_FAST_BYTES of a response within CONN_FAST_MS, the client has read
 * them or holds them itself, and for the rest of that response the limit is
 * CONN_FAST_LOWAT. */
#define CONN_NOTSENT_LOWAT (128 * 1024)
#define CONN_FAST_BYTES    (1024 * 1024)
#define CONN_FAST_MS       100
#define CONN_FAST_LOWAT    (4 * CONN_FAST_BYTES)

struct conn;

/* What feeds a response held open (response.stream): an event stream's set of
 * listeners. A connection is the source's from attach until detach. */
struct stream_source {
    /* the head has gone out: c is held open, and may be pushed to from now on */
    void (*attach)(struct stream_source *src, struct conn *c);
    /* nothing was pushed for CONN_STREAM_IDLE_MS: push the stream's own keep-alive */
    void (*idle)(struct stream_source *src, struct conn *c);
    /* c is closing (the client left, it stalled, or the stream ended): forget it */
    void (*detach)(struct stream_source *src, struct conn *c);
};

/* What a connection may use of the worker that owns it. */
struct conn_env {
    const struct settings *settings;
    const struct http_limits *limits;
    const struct handler *handlers; /* in order; the last answers everything */
    int nhandlers;
    struct pool *blocks;            /* of CONN_BLOCK_SIZE */
    struct timer_queue *queue[CONN_TIMEOUTS];
    uint64_t now_ms;
    time_t now;
    int stopping;                   /* answer with Connection: close, then close */
    const struct netaddr_set *trusted; /* whose forwarding headers count; NULL: nobody's */
    int forwarded;                  /* 1: Forwarded names the client, 0: X-Forwarded-For */
    int timed;                      /* each request's duration is measured (the JSON log) */
    /* The connection's client is known (after its PROXY header, if any): 0 refuses it,
     * closed at once with nothing sent. NULL: every client is admitted. */
    int (*admit)(struct conn_env *env, struct conn *c);
    /* The connection is closed and its slot may be reused. */
    void (*closed)(struct conn_env *env, struct conn *c);
    /* A connection went idle between requests (its slot could be reclaimed). */
    void (*idle)(struct conn_env *env);
};

struct conn {
    struct event_handler h; /* first: the event loop hands this back */
    struct conn_env *env;
    struct timer timer;
    struct transport io;
    enum conn_state state;
    unsigned keep_alive : 1;   /* after the response being sent */
    unsigned secure : 1;       /* speaks TLS (the listener's, unless plain text came) */
    unsigned lowat_lifted : 1; /* CONN_FAST_LOWAT for the response being sent */
    unsigned rested : 1;       /* idle, and the transport's busy-time buffers given back */
    unsigned proxied : 1;      /* peer is the client a PROXY header named */
    uint32_t requests;         /* served on this connection */
    struct conn_active *a;     /* NULL while no request is in progress */
    uint32_t in_len, in_pos, req_start, head_end;
    size_t continue_sent;
    union {
        struct sockaddr sa;
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } peer;
    int ip_place;              /* where the worker counted its address (iplimit.h), or < 0 */
    struct conn *next_free;
};

/* Takes over an accepted connection with its transport (a TLS one starts with its
 * handshake, after a PROXY header when proxy is set) and serves what has already
 * arrived. Returns 1 when it is open and waits for the transport (register it for
 * events), 0 when it is closed. */
int conn_start(struct conn *c, struct conn_env *env, const struct transport *io,
               const struct sockaddr *peer, socklen_t len, int proxy);
/* The transport became ready (EVENT_* bits). */
void conn_on_event(struct conn *c, unsigned events);
/* The worker is stopping: close the connection now if no request is under way. */
void conn_stop_if_idle(struct conn *c);
/* Closes and releases everything the connection holds. */
void conn_close(struct conn *c);

/* Pushes len bytes to a held-open response (one chunk). 0, or -1 when the connection
 * is closed: the client left, or fell a whole output buffer behind. Either way it may
 * already have been detached from its source. */
int conn_stream_push(struct conn *c, const char *data, size_t len);
/* Ends a held-open response cleanly: the last chunk, then the close. */
void conn_stream_end(struct conn *c);

/* connstream.c, for conn.c: entering CONN_STREAM once the head is sent, its step
 * (0, or -1 when closed), its deadline, and what a closing stream owes. */
void conn_stream_begin(struct conn *c);
int conn_stream_step(struct conn *c);
void conn_stream_deadline(struct conn *c);
void conn_stream_closing(struct conn *c);

/* connlog.c, for conn.c: the access-log line of the response just sent, and the
 * monotonic clock (µs) request durations are measured with. */
void conn_log_request(const struct conn *c);
uint64_t conn_clock_us(void);

#endif

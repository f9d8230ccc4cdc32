/* A response held open (CONN_STREAM): once its head is sent, the connection's source
 * (an event stream) pushes bytes as they come, framed as chunks; nothing the client
 * sends is a request any more. It neither knows what the bytes mean nor who pushes. */
#include "build-config.h"

#include <stdio.h>
#include <string.h>

#include "portico/conn.h"
#include "portico/metrics.h"

#define CHUNK_HEAD_MAX 12 /* "ffffffff\r\n" */
static const char last_chunk[] = "0\r\n\r\n";

static int chunked(const struct conn *c)
{
    return !c->a->resp.http10;
}

static size_t pending(const struct conn *c)
{
    return c->a->out.len - c->a->stream_sent;
}

/* Bytes wait: in our buffer, or taken by the transport but not yet on the socket
 * (TLS records the socket had no room for). */
static int waiting(const struct conn *c)
{
    return pending(c) != 0 || c->a->stream_blocked;
}

/* The idle deadline while everything pushed has left; while bytes wait, the send
 * deadline: a reader who takes nothing for that long is stalled, not listening. */
static void arm_stream(struct conn *c)
{
    struct timer_queue *q = c->env->queue[waiting(c) ? CONN_T_SEND : CONN_T_STREAM];

    timer_arm(q, &c->timer, c->env->now_ms);
}

/* Sends what waits (and what the transport holds); 0 when all has gone, 1 when some
 * waits, -1 when the client is gone. */
static int flush(struct conn *c)
{
    struct conn_active *a = c->a;
    size_t sent = a->stream_sent;
    enum io_result res = send_bytes(&c->io, a->outmem, a->out.len, &sent);

    a->send.bytes_sent += sent - a->stream_sent;
    a->stream_sent = sent;
    if (res == IO_ERROR)
        return -1;
    if (pending(c) == 0)
        a->out.len = a->stream_sent = 0;
    a->stream_blocked = res == IO_AGAIN;
    return waiting(c);
}

void conn_stream_begin(struct conn *c)
{
    struct conn_active *a = c->a;

    c->state = CONN_STREAM;
    c->keep_alive = 0;
    buf_init(&a->out, a->outmem, CONN_OUT_SIZE);
    a->stream_sent = 0;
    a->stream_ending = a->stream_blocked = 0;
    a->stream_prev = a->stream_next = NULL;
    arm_stream(c);
    a->resp.stream->attach(a->resp.stream, c);
}

/* The bytes' room in the output buffer, moving what waits to its front first. */
static size_t room(struct conn *c)
{
    struct conn_active *a = c->a;

    if (a->stream_sent > 0) {
        memmove(a->outmem, a->outmem + a->stream_sent, pending(c));
        a->out.len -= a->stream_sent;
        a->stream_sent = 0;
    }
    return CONN_OUT_SIZE - a->out.len;
}

int conn_stream_push(struct conn *c, const char *data, size_t len)
{
    struct conn_active *a = c->a;
    char head[CHUNK_HEAD_MAX + 1];
    int hlen;

    if (c->state != CONN_STREAM)
        return -1;
    if (a->stream_ending || len == 0)
        return 0;
    hlen = chunked(c) ? snprintf(head, sizeof(head), "%zx\r\n", len) : 0;
    /* a client this far behind is not reading: it reconnects and starts afresh */
    if (room(c) < (size_t)hlen + len + 2) {
        conn_close(c);
        return -1;
    }
    buf_append(&a->out, head, (size_t)hlen);
    buf_append(&a->out, data, len);
    if (chunked(c))
        buf_append(&a->out, "\r\n", 2);
    c->io.writable = 1;
    return conn_stream_step(c) < 0 ? -1 : 0;
}

void conn_stream_end(struct conn *c)
{
    struct conn_active *a = c->a;

    if (c->state != CONN_STREAM || a->stream_ending)
        return;
    a->stream_ending = 1;
    if (chunked(c) && room(c) >= sizeof(last_chunk) - 1)
        buf_append(&a->out, last_chunk, sizeof(last_chunk) - 1);
    c->io.writable = 1;
    conn_stream_step(c);
}

/* Reads and drops what the client sends (it asked for a stream: there is no next
 * request to read), to see it leave: a few reads a wake-up, so that a client sending
 * without end cannot hold the worker. 0 while it stays, -1 when it has gone. */
static int drain_input(struct conn *c)
{
    char sink[4096];
    size_t n;
    enum io_result res;
    int budget = 16;

    while (c->io.readable && budget-- > 0) {
        n = 0;
        res = c->io.ops->recv(&c->io, sink, sizeof(sink), &n);
        if (res == IO_AGAIN)
            break;
        if (res != IO_DONE)
            return -1;
    }
    return 0;
}

int conn_stream_step(struct conn *c)
{
    uint64_t before = c->a->send.bytes_sent;
    int left = waiting(c);

    if (drain_input(c) < 0) {
        conn_close(c);
        return -1;
    }
    if (c->io.writable && (left = flush(c)) < 0) {
        conn_close(c);
        return -1;
    }
    if (left == 0 && c->a->stream_ending) {
        conn_close(c); /* the last chunk is out: the stream ended cleanly */
        return -1;
    }
    /* a stalled reader's send deadline runs on while nothing moves, whatever it sends */
    if (!left || c->timer.queue != c->env->queue[CONN_T_SEND] || c->a->send.bytes_sent != before)
        arm_stream(c);
    return 0;
}

void conn_stream_deadline(struct conn *c)
{
    if (waiting(c)) {
        /* stalled: reset rather than leave the kernel trickling to it (conn.c) */
        transport_reset_on_close(&c->io);
        conn_close(c);
        return;
    }
    arm_stream(c);
    c->a->resp.stream->idle(c->a->resp.stream, c);
}

void conn_stream_closing(struct conn *c)
{
    struct conn_active *a = c->a;

    conn_log_request(c);
    metrics_response(a->parser.req.method, (int)a->resp.status, a->send.bytes_sent);
    a->resp.stream->detach(a->resp.stream, c);
}

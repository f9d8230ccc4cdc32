/* The connection state machine: one loop over named states, from handshake
 * through reading, handling and sending to the next request, with pipelined bytes
 * kept in order and lingering close after errors. It reads and sends only through
 * its transport; exactly one function, conn_close, releases what it holds. */
#include "build-config.h"

#include <stddef.h>
#include <string.h>

#include "portico/conn.h"
#include "portico/log.h"
#include "portico/metrics.h"
#include "portico/proxy.h"
#include "portico/site.h"

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void conn_run(struct conn *c);
static void fail_request(struct conn *c, enum http_status status);

static void arm(struct conn *c, enum conn_timeout which)
{
    timer_arm(c->env->queue[which], &c->timer, c->env->now_ms);
}

/* What every handler and amend may read of a request, before anything is decided. */
static void exchange_start(struct conn *c)
{
    struct exchange *x = &c->a->x;

    x->req = &c->a->parser.req;
    x->base = c->a->in + c->req_start;
    x->io = &c->io;
    x->client = &c->peer.sa;
    x->secure = c->secure;
    x->site = c->env->settings;
    x->site_no = 0;
    x->path_len = 0;
    x->protected = 0;
    x->user = NULL;
}

/* A deadline ran out: what that means follows from the state alone. */
static void on_deadline(struct timer *t)
{
    struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, timer));

    switch (c->state) {
    case CONN_READ_HEAD:
        if (c->a == NULL || c->in_len == c->req_start)
            break; /* nothing of a request yet: just close */
        /* a request that started but did not finish in time */
        fail_request(c, HTTP_REQUEST_TIMEOUT);
        c->io.writable = 1;
        conn_run(c);
        return;
    case CONN_IDLE:
        if (c->rested || c->env->stopping)
            break;
        /* idle for a moment: keeping TLS buffers across back-to-back requests saves
         * their allocation, keeping them for every waiting connection costs ~34 KiB */
        c->io.ops->rest(&c->io);
        c->rested = 1;
        timer_arm_at(c->env->queue[CONN_T_IDLE], &c->timer,
                     c->env->now_ms + c->env->queue[CONN_T_IDLE]->duration_ms -
                         c->env->queue[CONN_T_REST]->duration_ms);
        return;
    case CONN_STREAM:
        conn_stream_deadline(c);
        return;
    case CONN_SEND:
        /* a stalled reader is reset, not closed: a plain close would leave the kernel
         * trickling our full send buffer to it as an orphan socket, for minutes, and a
         * slow-read attack's thousands of them would hold hundreds of MB of memory */
        transport_reset_on_close(&c->io);
        break;
    default:
        break;
    }
    conn_close(c);
}

void conn_on_event(struct conn *c, unsigned events)
{
    if (c->state == CONN_CLOSED)
        return; /* closed earlier in this batch of events */
    if (events & EVENT_READ)
        c->io.readable = 1;
    if (events & EVENT_WRITE)
        c->io.writable = 1;
    if (events & EVENT_HUP) {
        c->io.readable = c->io.writable = 1; /* let the next read or write report it */
        c->io.hup = 1;
    }
    conn_run(c);
}

static void on_event(struct event_handler *h, unsigned events)
{
    conn_on_event((struct conn *)h, events);
}

/* The state after the PROXY header, if any. */
static enum conn_state first_state(const struct conn *c)
{
    return c->io.ops->handshake != NULL ? CONN_HANDSHAKE : CONN_READ_HEAD;
}

int conn_start(struct conn *c, struct conn_env *env, const struct transport *io,
               const struct sockaddr *peer, socklen_t len, int proxy)
{
    memset(c, 0, sizeof(*c));
    c->h.on_event = on_event;
    c->env = env;
    c->io = *io;
    c->ip_place = -1;
    timer_init(&c->timer, on_deadline);
    c->secure = io->ops->handshake != NULL;
    c->state = proxy ? CONN_PROXY_HEADER : first_state(c);
    c->keep_alive = 1;
    if (len > sizeof(c->peer))
        len = sizeof(c->peer);
    memcpy(&c->peer, peer, len);
    if (!proxy && env->admit != NULL && !env->admit(env, c)) {
        conn_close(c);
        return 0;
    }
    /* the PROXY header, the handshake and the first request head share one deadline */
    arm(c, CONN_T_HEADER);
    /* the request usually arrives with the handshake's last packet: try it now, and
     * have epoll watch only a connection that must wait (a whole Connection: close
     * exchange then needs no epoll_ctl). Edge-triggered registration reports any
     * bytes that came after our try, so none are missed. */
    conn_run(c);
    return c->state != CONN_CLOSED;
}

/* Gives the active block back: no request is in progress. */
static void release_block(struct conn *c)
{
    if (c->a != NULL) {
        response_release(&c->a->resp);
        pool_put(c->env->blocks, c->a);
        c->a = NULL;
    }
    c->in_len = c->in_pos = c->req_start = c->head_end = 0;
}

void conn_close(struct conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->state == CONN_STREAM)
        conn_stream_closing(c);
    else if (c->state == CONN_SEND && c->a != NULL)
        metrics_response(-1, 0, c->a->send.bytes_sent); /* a response cut short */
    timer_cancel(&c->timer);
    release_block(c);
    c->io.ops->close(&c->io);
    c->state = CONN_CLOSED;
    c->env->closed(c->env, c);
}

/* A request's first bytes are here: its duration starts (for the JSON log). */
static void mark_begun(struct conn *c)
{
    if (c->env->timed)
        c->a->begun_us = conn_clock_us();
}

/* Asks the handlers, in order, for the plan of a complete, valid request head. */
static void decide(struct conn *c)
{
    const struct conn_env *env = c->env;
    struct conn_active *a = c->a;
    struct exchange *x = &a->x;
    const struct request *r = &a->parser.req;
    int i;

    x->base = a->in + c->req_start;
    /* a client a PROXY header named is no proxy, whatever its address */
    if (env->trusted != NULL && !c->proxied)
        x->client = proxy_request_client(x, &c->peer.sa, env->trusted, env->forwarded);
    response_init(&a->resp);
    a->resp.head_only = r->method == HTTP_HEAD;
    a->resp.status = site_route(x, env->settings);
    for (i = 0; i < env->nhandlers && a->resp.status == 0; i++)
        if (env->handlers[i].handle != NULL &&
            env->handlers[i].handle(env->handlers[i].ctx, x, &a->resp))
            break;
    /* a failure is worth a line; a planned answer with its own body (draining) is not */
    if ((a->resp.status == HTTP_INTERNAL_ERROR || a->resp.status == HTTP_SERVICE_UNAVAILABLE) &&
        a->resp.body == NULL)
        log_warnx("%s %.*s: %d %s", http_method_name(r->method), (int)r->target.len,
                  x->base + r->target.off, (int)a->resp.status, http_reason(a->resp.status));
}

/* Turns the plan into the head and segments to send. */
static void compose(struct conn *c)
{
    const struct conn_env *env = c->env;
    struct conn_active *a = c->a;
    struct response *resp = &a->resp;
    size_t head_len = 0;
    int i, nseg;

    /* a body held open ends with the connection: its head says so (HTTP/1.0's too) */
    resp->keep_alive = c->keep_alive && !env->stopping && !response_held_open(resp);
    resp->http10 = a->parser.req.minor == 0;
    if (c->secure)
        resp->hsts = a->x.site->hsts;
    for (i = 0; i < env->nhandlers; i++)
        if (env->handlers[i].amend != NULL)
            env->handlers[i].amend(env->handlers[i].ctx, &a->x, resp);
    buf_init(&a->out, a->outmem, CONN_OUT_SIZE);
    nseg = response_compose(&a->out, resp, a->send.seg, &head_len);
    if (a->out.overflow) {
        /* a head that does not fit would be cut mid-header: send a small 500 instead */
        log_warnx("response head larger than %d bytes; answering 500", CONN_OUT_SIZE);
        response_release(resp);
        response_init(resp);
        resp->status = HTTP_INTERNAL_ERROR;
        c->keep_alive = 0;
        resp->http10 = a->parser.req.minor == 0;
        buf_init(&a->out, a->outmem, CONN_OUT_SIZE);
        nseg = response_compose(&a->out, resp, a->send.seg, &head_len);
    }
    a->head_len = head_len;
    send_start(&a->send, a->outmem, nseg, response_body_fd(resp),
               !resp->keep_alive && !response_held_open(resp));
    for (i = 0; i < nseg && a->send.seg[i].file_len == 0; i++)
        ;
    if (resp->head_only || i == nseg)
        response_release(resp); /* the head is written; no file bytes will be sent */
    a->started_ms = env->now_ms;
}

/* An error that ends the conversation: framing is lost or the client is too slow. */
static void fail_request(struct conn *c, enum http_status status)
{
    /* the amends read the request's headers: from where its bytes are now */
    c->a->x.base = c->a->in + c->req_start;
    response_release(&c->a->resp);
    response_init(&c->a->resp);
    c->a->resp.status = status;
    c->keep_alive = 0;
    compose(c);
    c->state = CONN_SEND;
}

static void start_linger(struct conn *c)
{
    /* RFC 9112 §9.6: half-close (after a TLS goodbye), then drain what the client
     * still sends, so the kernel does not answer unread bytes with a reset that
     * destroys our response */
    c->io.ops->shutdown(&c->io);
    c->state = CONN_LINGER;
    arm(c, CONN_T_LINGER);
}

static void set_lowat(struct conn *c, int bytes)
{
    transport_set_lowat(&c->io, bytes);
    c->lowat_lifted = bytes > CONN_NOTSENT_LOWAT;
}

/* Called when the transport is full. The low-water mark guards against slow
 * readers; a client to whom the kernel passed CONN_FAST_BYTES within CONN_FAST_MS
 * is not one (or holds as much itself), and a larger queue spares it and us a
 * wake-up per 128 KiB. The mark goes back when the response is sent. Returns 1
 * when raised: there is room again. */
static int raise_lowat_if_fast(struct conn *c)
{
    if (c->lowat_lifted || c->a->send.bytes_sent < CONN_FAST_BYTES ||
        c->env->now_ms - c->a->started_ms > CONN_FAST_MS)
        return 0;
    set_lowat(c, CONN_FAST_LOWAT);
    return 1;
}

/* The file of the response was written in place after the response was composed.
 * Before any byte of it has left, a 200 or 206 is decided again from the file as it
 * is now; after, the bytes still to come may be another version's than its headers
 * said, so it ends short of Content-Length (RFC 9112 §6.3). Returns 0 when closed. */
static int file_still_current(struct conn *c)
{
    struct conn_active *a = c->a;

    if (a->resp.file == NULL || !a->resp.file->changed)
        return 1;
    if (a->send.bytes_sent == 0 &&
        (a->resp.status == HTTP_OK || a->resp.status == HTTP_PARTIAL_CONTENT)) {
        response_release(&a->resp);
        decide(c);
        compose(c);
        return 1;
    }
    log_warnx("file changed while being sent; closing the connection");
    conn_close(c);
    return 0;
}

/* Moves the unparsed bytes of the current request to the front of the buffer. */
static void compact(struct conn *c)
{
    char *in = c->a->in;

    if (c->req_start == 0)
        return;
    memmove(in, in + c->req_start, c->in_len - c->req_start);
    c->in_len -= c->req_start;
    c->in_pos -= c->req_start;
    c->head_end = c->head_end > c->req_start ? c->head_end - c->req_start : 0;
    c->req_start = 0;
}

/* nginx's lingering-close heuristic: a client that asked to close after a whole
 * request without a body, with nothing more from it in our buffer, sends nothing
 * more, so close now. After errors, bodies or pipelined bytes, drain first. */
static int may_close_at_once(const struct conn *c)
{
    const struct request *r = &c->a->parser.req;

    return r->state == HTTP_REQ_DONE && !r->has_body && r->method != HTTP_CONNECT &&
           c->in_pos == c->in_len && !c->env->stopping;
}

/* CONN_DONE: the response has gone out; log it, then the next request or close. */
static void finish_response(struct conn *c)
{
    struct conn_env *env = c->env;
    const struct request *r = &c->a->parser.req;

    conn_log_request(c);
    metrics_response(r->method_known ? r->method : -1, (int)c->a->resp.status,
                     c->a->send.bytes_sent);
    response_release(&c->a->resp);
    c->requests++;
    if (c->lowat_lifted)
        set_lowat(c, CONN_NOTSENT_LOWAT);
    if (!c->a->resp.keep_alive || env->stopping) {
        if (may_close_at_once(c))
            conn_close(c);
        else
            start_linger(c);
        return;
    }
    if (c->in_pos == c->in_len) {
        /* nothing pipelined: the connection goes idle and gives its block back
         * (and, after a moment, its transport's buffers: on_deadline); the next
         * request starts afresh in whichever block it borrows (ensure_active) */
        release_block(c);
        c->state = CONN_IDLE;
        c->rested = c->io.ops->rest == NULL;
        arm(c, c->rested ? CONN_T_IDLE : CONN_T_REST);
        env->idle(env);
    } else {
        http_parser_next(&c->a->parser);
        c->req_start = c->in_pos;
        exchange_start(c);
        c->head_end = c->in_pos;
        c->state = CONN_READ_HEAD; /* a pipelined request begins */
        mark_begun(c);
        arm(c, CONN_T_HEADER);
    }
}

/* CONN_HANDLE: the head is complete; plan the response, then read the body (a
 * message without one ends at once, under the head's deadline). */
static void handle(struct conn *c)
{
    struct conn_active *a = c->a;
    const struct request *r = &a->parser.req;

    decide(c);
    c->state = CONN_READ_BODY;
    if (r->has_body) {
        arm(c, CONN_T_BODY); /* once: a trickle cannot hold a connection forever */
        if (r->expect_continue && a->resp.status >= 300) {
            /* RFC 9110 §10.1.1: answer now instead of asking for a body we would
             * throw away, and close rather than read it */
            c->keep_alive = 0;
            c->state = CONN_SEND;
        } else if (r->expect_continue) {
            c->state = CONN_CONTINUE;
            c->continue_sent = 0;
        }
    }
    compose(c);
}

/* Runs the parser over the unparsed bytes; returns 1 to go on, 0 to wait for more. */
static int parse_step(struct conn *c)
{
    struct conn_active *a = c->a;
    char *in = a->in;
    struct request *r = &a->parser.req;
    size_t used = 0;
    enum http_parse_result res;

    res = http_parse(&a->parser, in + c->req_start, in + c->in_pos, c->in_len - c->in_pos, &used);
    c->in_pos += (uint32_t)used;
    switch (res) {
    case HTTP_PARSE_AGAIN:
        if (r->state == HTTP_REQ_BODY) {
            /* body bytes are discarded as they are parsed; the head stays for the log */
            memmove(in + c->head_end, in + c->in_pos, c->in_len - c->in_pos);
            c->in_len -= c->in_pos - c->head_end;
            c->in_pos = c->head_end;
        }
        return 0;
    case HTTP_PARSE_HEAD:
        c->head_end = c->in_pos;
        c->keep_alive = r->keep_alive;
        c->state = CONN_HANDLE;
        return 1;
    case HTTP_PARSE_DONE:
        c->state = CONN_SEND;
        return 1;
    case HTTP_PARSE_ERROR:
        if (!c->secure && (unsigned char)in[c->req_start] == 0x16) {
            /* a TLS ClientHello on the plain port: no HTTP answer would be read */
            start_linger(c);
            return 1;
        }
        fail_request(c, r->status);
        return 1;
    }
    return 1;
}

/* No memory for the block a request needs: the client still gets a clear answer,
 * a 503 composed on the stack and sent once (a fresh socket buffer has room for
 * it), then the lingering close. The worker and its other connections go on. */
static void refuse_out_of_memory(struct conn *c)
{
    char mem[1024];
    struct buf out;
    struct response resp;
    struct segment seg[RESPONSE_MAX_SEGMENTS];
    size_t head_len, sent = 0;

    response_init(&resp);
    resp.status = HTTP_SERVICE_UNAVAILABLE;
    buf_init(&out, mem, sizeof(mem));
    response_compose(&out, &resp, seg, &head_len);
    send_bytes(&c->io, mem, out.len, &sent);
    start_linger(c);
}

/* Borrows the block a request needs; 0 when there is none (the client is refused
 * and the connection is lingering). */
static int ensure_active(struct conn *c)
{
    if (c->a != NULL)
        return 1;
    c->a = pool_get(c->env->blocks);
    if (c->a == NULL) {
        refuse_out_of_memory(c);
        return 0;
    }
    http_parser_init(&c->a->parser, c->env->limits);
    response_init(&c->a->resp);
    exchange_start(c);
    return 1;
}

/* Reads what the transport has; returns 1 to go on, 0 to wait (or closed). */
static int read_step(struct conn *c)
{
    size_t n = 0;
    enum io_result res;

    if (!ensure_active(c))
        return 1; /* refused: on to the lingering close */
    if (c->in_len == CONN_IN_SIZE)
        compact(c);
    res = c->io.ops->recv(&c->io, c->a->in + c->in_len, CONN_IN_SIZE - c->in_len, &n);
    if (res == IO_DONE) {
        /* the first byte of a request starts its deadline (the body has its own,
         * armed once with the head) */
        if (c->in_len == c->req_start) {
            c->state = CONN_READ_HEAD;
            mark_begun(c);
            arm(c, CONN_T_HEADER);
        }
        c->in_len += (uint32_t)n;
        return 1;
    }
    if (res != IO_AGAIN) {
        /* the client is gone (or half-closed before a complete request) */
        conn_close(c);
        return 0;
    }
    if (c->in_len == c->req_start)
        release_block(c); /* nothing of a request yet: wait without the block */
    return 0;
}

/* CONN_READ_HEAD, CONN_READ_BODY, CONN_IDLE: parse what is here, then read more. */
static int step_read(struct conn *c)
{
    /* in a body, a call with no new bytes lets llhttp finish a message */
    if (c->a != NULL && (c->in_pos < c->in_len || c->state == CONN_READ_BODY) && parse_step(c))
        return 1;
    if (!c->io.readable)
        return 0;
    return read_step(c);
}

/* CONN_PROXY_HEADER: the balancer says who the client is (a LOCAL header, its own
 * health check, names nobody: the peer stands), and whether it came over TLS. Bad
 * bytes are closed on with nothing sent: no HTTP answer would reach a client. */
static int step_proxy(struct conn *c)
{
    struct proxy_info info;
    int plain = c->io.ops->handshake == NULL;
    char *buf = NULL;

    /* on plain TCP the request that comes with the header is read into the block;
     * before TLS nothing but the header is read, and no block is held */
    if (!c->io.readable || (plain && !ensure_active(c)))
        return 0;
    if (plain)
        buf = c->a->in;
    switch (proxy_read_header(&c->io, buf, &c->in_len, CONN_IN_SIZE, &info)) {
    case IO_DONE:
        break;
    case IO_AGAIN:
        if (c->in_len == 0)
            release_block(c); /* nothing yet: wait without the block */
        return 0;
    default:
        conn_close(c);
        return 0;
    }
    if (!info.local) {
        memcpy(&c->peer, &info.src, sizeof(c->peer));
        c->proxied = 1;
    }
    c->secure |= info.ssl;
    if (c->a != NULL)
        c->a->x.secure = c->secure; /* the exchange was begun before the header said so */
    c->state = first_state(c);
    if (c->env->admit != NULL && !c->env->admit(c->env, c)) {
        conn_close(c);
        return 0;
    }
    if (c->in_len > 0)
        mark_begun(c); /* a request came with the header */
    return 1;
}

static int step_handshake(struct conn *c)
{
    switch (c->io.ops->handshake(&c->io)) {
    case IO_DONE:
        c->state = CONN_READ_HEAD;
        return 1;
    case IO_AGAIN:
        return 0;
    case IO_PLAINTEXT:
        /* plain HTTP on the HTTPS port: a clear-text 400, as nginx gives */
        c->secure = 0;
        if (ensure_active(c))
            fail_request(c, HTTP_BAD_REQUEST);
        return 1;
    default:
        conn_close(c); /* a failed handshake: the alert, if any, is sent */
        return 0;
    }
}

static int step_continue(struct conn *c)
{
    enum io_result res =
        send_bytes(&c->io, continue_line, sizeof(continue_line) - 1, &c->continue_sent);

    if (res == IO_DONE) {
        c->state = CONN_READ_BODY;
        return 1;
    }
    if (res != IO_AGAIN)
        conn_close(c);
    return 0;
}

static int step_send(struct conn *c)
{
    enum io_result res;

    if (!c->io.writable || !file_still_current(c))
        return 0;
    res = send_segments(&c->a->send, &c->io);
    if (res == IO_DONE && response_held_open(&c->a->resp)) {
        conn_stream_begin(c); /* the head of a response held open */
        return 0;
    }
    if (res == IO_DONE) {
        c->state = CONN_DONE;
        return 1;
    }
    if (res == IO_AGAIN) {
        if (raise_lowat_if_fast(c)) {
            c->io.writable = 1;
            return 1;
        }
        arm(c, CONN_T_SEND); /* the deadline is for progress, not for the whole */
        return 0;
    }
    conn_close(c);
    return 0;
}

static int step_linger(struct conn *c)
{
    char sink[4096];
    size_t n = 0;
    enum io_result res;

    if (!c->io.readable)
        return 0;
    res = c->io.ops->recv(&c->io, sink, sizeof(sink), &n);
    if (res == IO_DONE)
        return 1;
    if (res != IO_AGAIN)
        conn_close(c);
    return 0;
}

/* The state machine: each step returns 1 when the connection may go on (a new
 * state, or progress), 0 when it waits for its transport or a deadline. */
static void conn_run(struct conn *c)
{
    int go = 1;

    while (go) {
        switch (c->state) {
        case CONN_PROXY_HEADER:
            go = step_proxy(c);
            break;
        case CONN_HANDSHAKE:
            go = step_handshake(c);
            break;
        case CONN_IDLE:
        case CONN_READ_HEAD:
        case CONN_READ_BODY:
            go = step_read(c);
            break;
        case CONN_HANDLE:
            handle(c);
            break;
        case CONN_CONTINUE:
            go = step_continue(c);
            break;
        case CONN_SEND:
            go = step_send(c);
            break;
        case CONN_DONE:
            finish_response(c);
            break;
        case CONN_LINGER:
            go = step_linger(c);
            break;
        case CONN_STREAM:
            conn_stream_step(c);
            go = 0;
            break;
        case CONN_CLOSED:
            go = 0;
            break;
        }
    }
}

void conn_stop_if_idle(struct conn *c)
{
    if (c->state == CONN_PROXY_HEADER || c->state == CONN_HANDSHAKE || c->state == CONN_IDLE ||
        (c->state == CONN_READ_HEAD && (c->a == NULL || c->in_len == c->req_start)))
        conn_close(c);
}

/* The connection state machine: read → parse → decide → write → next request,
 * with pipelined bytes kept in order and lingering close after errors. It owns the
 * socket and the response being sent; exactly one function, conn_close, releases them. */
#include "build-config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "portico/conn.h"
#include "portico/log.h"
#include "portico/static.h"
#include "portico/tls.h"
#include "portico/worker.h"

enum io_result { IO_DONE, IO_AGAIN, IO_ERROR, IO_EOF };

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static void conn_run(struct conn *c);

static void on_event(struct event_handler *h, unsigned events)
{
    struct conn *c = (struct conn *)h;

    if (c->fd < 0)
        return; /* closed earlier in this batch of events */
    if (events & EVENT_READ)
        c->readable = 1;
    if (events & EVENT_WRITE)
        c->writable = 1;
    if (events & EVENT_HUP) {
        c->readable = c->writable = 1; /* let the next read or write report it */
        c->hup = 1;
    }
    conn_run(c);
}

void conn_accept(struct worker *w, int fd, const struct sockaddr *peer, socklen_t len, int tls)
{
    struct conn *c = worker_conn_get(w);

    if (c == NULL) {
        close(fd);
        return;
    }
    memset(c, 0, sizeof(*c));
    c->h.on_event = on_event;
    c->w = w;
    c->fd = fd;
    c->state = CONN_READ;
    c->keep_alive = 1;
    if (len > sizeof(c->peer))
        len = sizeof(c->peer);
    memcpy(&c->peer, peer, len);
    if (tls) {
        c->ssl = tls_conn_new(w->tls, fd);
        if (c->ssl == NULL) {
            log_warnx("out of memory for a TLS connection; closing it");
            conn_close(c);
            return;
        }
        c->state = CONN_HANDSHAKE;
    }
    /* the handshake and the first request head share one deadline */
    timer_arm(&w->q_header, &c->timer, w->now_ms);
    /* the request usually arrives with the handshake's last packet: try it now, and
     * have epoll watch only a connection that must wait (a whole Connection: close
     * exchange then needs no epoll_ctl). Edge-triggered registration reports any
     * bytes that came after our try, so none are missed. */
    c->readable = c->writable = 1;
    conn_run(c);
    if (c->fd >= 0 && event_add_conn(w->loop, fd, &c->h) < 0) {
        log_warn("epoll_ctl");
        conn_close(c);
    }
}

/* The transport: plain socket calls, or OpenSSL's once the handshake is done.
 * Both clear the readiness flag that ran out, as edge-triggered epoll needs. */
static enum io_result map_tls(struct conn *c, enum tls_result r)
{
    switch (r) {
    case TLS_OK:
        return IO_DONE;
    case TLS_WANT_READ:
        c->readable = 0;
        return IO_AGAIN;
    case TLS_WANT_WRITE:
        c->writable = 0;
        return IO_AGAIN;
    case TLS_CLOSED:
        return IO_EOF;
    case TLS_FAILED:
        break;
    }
    return IO_ERROR;
}

static enum io_result conn_read(struct conn *c, void *buf, size_t len, size_t *got)
{
    enum tls_result r;
    ssize_t n;

    if (c->ssl != NULL) {
        *got = tls_read(c->ssl, buf, len, &r);
        if (r == TLS_OK && tls_drained(c->ssl) && !c->hup)
            c->readable = 0;
        return map_tls(c, r);
    }
    do
        n = recv(c->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        /* a short read emptied the socket: edge-triggered epoll reports the next
         * bytes, so do not spend a recv on EAGAIN (unless the peer's FIN is pending) */
        if ((size_t)n < len && !c->hup)
            c->readable = 0;
        *got = (size_t)n;
        return IO_DONE;
    }
    if (n == 0)
        return IO_EOF;
    if (errno == EAGAIN) {
        c->readable = 0;
        return IO_AGAIN;
    }
    return IO_ERROR;
}

static enum io_result conn_write(struct conn *c, const void *buf, size_t len, int more,
                                 size_t *put)
{
    enum tls_result r;
    ssize_t n;

    if (c->ssl != NULL) {
        *put = tls_write(c->ssl, buf, len, &r);
        return map_tls(c, r);
    }
    do
        n = send(c->fd, buf, len, MSG_NOSIGNAL | more);
    while (n < 0 && errno == EINTR);
    if (n >= 0) {
        *put = (size_t)n;
        return IO_DONE;
    }
    if (errno == EAGAIN) {
        c->writable = 0;
        return IO_AGAIN;
    }
    return IO_ERROR;
}

/* Gives the active block back: the connection is idle between requests. */
static void go_idle(struct conn *c)
{
    if (c->a != NULL) {
        response_release(&c->a->resp);
        worker_block_put(c->w, c->a);
        c->a = NULL;
    }
    c->in_len = c->in_pos = c->req_start = c->head_end = 0;
}

void conn_close(struct conn *c)
{
    timer_cancel(&c->timer);
    go_idle(c);
    tls_conn_free(c->ssl);
    c->ssl = NULL;
    if (c->fd >= 0)
        close(c->fd); /* also removes it from the epoll set */
    c->fd = -1;
    worker_conn_put(c->w, c);
}

static void log_request(struct conn *c)
{
    struct conn_active *a = c->a;
    struct log_access_entry e;
    struct request *r = &a->parser.req;
    const char *base = a->in + c->req_start;
    char addr[INET6_ADDRSTRLEN];

    if (!log_access_enabled())
        return;
    if (c->peer.sa.sa_family == AF_INET6)
        inet_ntop(AF_INET6, &c->peer.v6.sin6_addr, addr, sizeof(addr));
    else
        inet_ntop(AF_INET, &c->peer.v4.sin_addr, addr, sizeof(addr));
    memset(&e, 0, sizeof(e));
    e.client = addr;
    if (r->line_end > r->line_start) {
        e.request_line = base + r->line_start;
        e.request_line_len = r->line_end - r->line_start;
    }
    if (r->referer.len) {
        e.referer = base + r->referer.off;
        e.referer_len = r->referer.len;
    }
    if (r->user_agent.len) {
        e.user_agent = base + r->user_agent.off;
        e.user_agent_len = r->user_agent.len;
    }
    e.status = (int)a->resp.status;
    e.bytes = a->bytes_sent > a->head_len ? a->bytes_sent - a->head_len : 0;
    e.when = c->w->now;
    log_access(&e);
}

/* --redirect-https: the same host and target on the HTTPS port (308 keeps the
 * method). The host is the request's, without its port, else our own address. */
static void redirect_https(struct conn *c, const struct request *r, const char *base,
                           struct response *resp)
{
    static char location[8192];
    char local[INET6_ADDRSTRLEN + 2], portstr[8] = "";
    const char *host = base + r->host.off;
    size_t hlen = r->host.len, i;
    int port = c->w->settings->tls_port, n;

    if (r->path.off > r->target.off) { /* absolute-form: the authority is the host */
        host = base + r->target.off;
        hlen = r->path.off - r->target.off;
        for (i = 0; i + 2 < hlen && !(host[i] == '/' && host[i + 1] == '/'); i++)
            ;
        host += i + 2;
        hlen -= i + 2;
    }
    if (hlen > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', hlen);
        hlen = close ? (size_t)(close - host + 1) : hlen;
    } else {
        const char *colon = memchr(host, ':', hlen);
        if (colon != NULL)
            hlen = (size_t)(colon - host);
    }
    if (hlen == 0) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        char addr[INET6_ADDRSTRLEN];
        getsockname(c->fd, (struct sockaddr *)&ss, &len);
        if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, sizeof(addr));
            snprintf(local, sizeof(local), "[%s]", addr);
        } else {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, local, sizeof(local));
        }
        host = local;
        hlen = strlen(local);
    }
    if (port != 443)
        snprintf(portstr, sizeof(portstr), ":%d", port);
    n = snprintf(location, sizeof(location), "https://%.*s%s%.*s%s%.*s", (int)hlen, host,
                 portstr, r->path.len ? (int)r->path.len : 1,
                 r->path.len ? base + r->path.off : "/", r->has_query ? "?" : "",
                 (int)r->query.len, base + r->query.off);
    if (n < 0 || (size_t)n >= sizeof(location)) {
        resp->status = HTTP_URI_TOO_LONG;
        return;
    }
    resp->status = HTTP_PERMANENT_REDIRECT;
    resp->location = location;
}

/* Chooses the response to a complete, valid request head. */
static void decide(struct conn *c)
{
    struct request *r = &c->a->parser.req;
    struct response *resp = &c->a->resp;
    const char *base = c->a->in + c->req_start;

    if (c->ssl == NULL && c->w->settings->redirect_https && r->method != HTTP_OPTIONS) {
        response_init(resp);
        resp->head_only = r->method == HTTP_HEAD;
        redirect_https(c, r, base, resp);
    } else {
        static_respond(&c->w->sctx, r, base, resp);
    }
    if (resp->status == HTTP_INTERNAL_ERROR || resp->status == HTTP_SERVICE_UNAVAILABLE)
        log_warnx("%s %.*s: %d %s", http_method_name(r->method), (int)r->target.len,
                  base + r->target.off, (int)resp->status, http_reason(resp->status));
}

static void compose(struct conn *c)
{
    struct conn_active *a = c->a;
    struct response *resp = &a->resp;

    resp->keep_alive = c->keep_alive && !c->w->stopping;
    resp->http10 = a->parser.req.minor == 0;
    if (c->ssl != NULL)
        resp->hsts = c->w->settings->hsts;
    static_error_page(&c->w->sctx, resp);
    buf_init(&a->out, a->outmem, CONN_OUT_SIZE);
    a->nseg = response_compose(&a->out, resp, a->seg, &a->head_len);
    if (a->out.overflow) {
        /* a head that does not fit would be cut mid-header: send a small 500 instead */
        log_warnx("response head larger than %d bytes; answering 500", CONN_OUT_SIZE);
        response_release(resp);
        response_init(resp);
        resp->status = HTTP_INTERNAL_ERROR;
        c->keep_alive = 0;
        resp->http10 = a->parser.req.minor == 0;
        buf_init(&a->out, a->outmem, CONN_OUT_SIZE);
        a->nseg = response_compose(&a->out, resp, a->seg, &a->head_len);
    }
    if (resp->head_only || a->seg[0].file_len == 0)
        response_release(resp); /* the head is written; no file bytes will be sent */
    a->cur = 0;
    a->seg_mem_sent = 0;
    a->seg_file_sent = 0;
    a->bytes_sent = 0;
    a->tls_len = a->tls_sent = 0;
    a->corked = 0;
    a->started_ms = c->w->now_ms;
}

/* An error that ends the conversation: framing is lost or the client is too slow. */
static void fail_request(struct conn *c, enum http_status status)
{
    response_release(&c->a->resp);
    response_init(&c->a->resp);
    c->a->resp.status = status;
    c->keep_alive = 0;
    compose(c);
    c->state = CONN_WRITE;
}

static void start_linger(struct conn *c)
{
    if (c->ssl != NULL) {
        /* say goodbye in TLS, then stop speaking it: the drain below reads raw bytes */
        tls_conn_free(c->ssl);
        c->ssl = NULL;
    }
    /* RFC 9112 §9.6: half-close, then drain what the client still sends, so the
     * kernel does not answer unread bytes with a reset that destroys our response */
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_LINGER;
    timer_arm(&c->w->q_linger, &c->timer, c->w->now_ms);
}

/* Sends [*sent, len) of buf; the one loop for every byte we write from memory. */
static enum io_result send_bytes(struct conn *c, const char *buf, size_t len, size_t *sent,
                                 int flags)
{
    while (*sent < len) {
        size_t n = 0;
        enum io_result res = conn_write(c, buf + *sent, len - *sent, flags, &n);
        if (res != IO_DONE)
            return res == IO_EOF ? IO_ERROR : res;
        *sent += n;
    }
    return IO_DONE;
}

static enum io_result send_continue(struct conn *c)
{
    enum io_result res = send_bytes(c, continue_line, sizeof(continue_line) - 1,
                                    &c->continue_sent, 0);

    if (res == IO_DONE)
        c->continue_pending = 0;
    return res;
}

static void set_lowat(struct conn *c, int bytes)
{
    setsockopt(c->fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes, sizeof(bytes));
    c->lowat_lifted = bytes > CONN_NOTSENT_LOWAT;
}

/* Called when the socket is full. The low-water mark guards against slow readers;
 * a client to whom the kernel passed CONN_FAST_BYTES within CONN_FAST_MS is not
 * one (or holds as much itself), and a larger queue spares it and us a wake-up per
 * 128 KiB. The mark goes back when the response is sent. Returns 1 when raised:
 * the socket has room again. */
static int raise_lowat_if_fast(struct conn *c)
{
    if (c->lowat_lifted || c->a->bytes_sent < CONN_FAST_BYTES ||
        c->w->now_ms - c->a->started_ms > CONN_FAST_MS)
        return 0;
    set_lowat(c, CONN_FAST_LOWAT);
    return 1;
}

static uint64_t file_bytes(const struct conn_active *a)
{
    uint64_t n = 0;
    int i;

    for (i = 0; i < a->nseg; i++)
        n += a->seg[i].file_len;
    return n;
}

static void set_cork(struct conn *c, int on)
{
    setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
    c->a->corked = (unsigned)on;
}

/* Over TLS the head and the file bytes after it are gathered into one buffer, so
 * a small response is a single record; with kernel TLS the file goes by sendfile. */
static enum io_result send_response_tls(struct conn *c)
{
    struct conn_active *a = c->a;
    int body_fd = response_body_fd(&a->resp);
    int ktls = tls_ktls_send(c->ssl);

    /* A body of many records is corked, so they leave in full segments instead of
     * a packet per record: on loopback that cut the CPU per byte by a quarter. The
     * last record is pushed out by uncorking (sendfile corks by itself). */
    if (a->bytes_sent == 0 && a->tls_len == 0 && !a->corked && !ktls &&
        file_bytes(a) > CONN_TLS_SIZE)
        set_cork(c, 1);
    for (;;) {
        enum io_result res;
        const struct segment *sg;

        size_t before = a->tls_sent;

        res = send_bytes(c, a->tlsbuf, a->tls_len, &a->tls_sent, 0);
        a->bytes_sent += a->tls_sent - before;
        if (res == IO_AGAIN && raise_lowat_if_fast(c)) {
            c->writable = 1;
            continue;
        }
        if (res != IO_DONE)
            return res;
        a->tls_len = a->tls_sent = 0;
        while (a->cur < a->nseg && a->tls_len < CONN_TLS_SIZE) {
            sg = &a->seg[a->cur];
            if (a->seg_mem_sent < sg->mem_len) {
                size_t k = sg->mem_len - a->seg_mem_sent;
                if (k > CONN_TLS_SIZE - a->tls_len)
                    k = CONN_TLS_SIZE - a->tls_len;
                memcpy(a->tlsbuf + a->tls_len, a->outmem + sg->mem_off + a->seg_mem_sent, k);
                a->tls_len += k;
                a->seg_mem_sent += k;
            } else if (a->seg_file_sent < sg->file_len) {
                uint64_t left = sg->file_len - a->seg_file_sent;
                off_t off = (off_t)(sg->file_off + a->seg_file_sent);
                size_t k;
                ssize_t n;
                if (ktls)
                    break;
                k = left < CONN_TLS_SIZE - a->tls_len ? (size_t)left : CONN_TLS_SIZE - a->tls_len;
                n = pread(body_fd, a->tlsbuf + a->tls_len, k, off);
                if (n <= 0) {
                    log_warnx("file shrank while being sent; closing the connection");
                    return IO_ERROR;
                }
                a->tls_len += (size_t)n;
                a->seg_file_sent += (uint64_t)n;
            } else {
                a->cur++;
                a->seg_mem_sent = 0;
                a->seg_file_sent = 0;
            }
        }
        if (a->tls_len > 0)
            continue;
        if (a->cur >= a->nseg) {
            if (a->corked)
                set_cork(c, 0);
            return IO_DONE;
        }
        /* kernel TLS and nothing staged: the file part goes straight from the page cache */
        sg = &a->seg[a->cur];
        {
            uint64_t left = sg->file_len - a->seg_file_sent;
            enum tls_result r;
            size_t n = tls_sendfile(c->ssl, body_fd, (off_t)(sg->file_off + a->seg_file_sent),
                                    left > (1u << 30) ? (1u << 30) : (size_t)left, &r);
            if (n == 0 && r == TLS_OK)
                return IO_ERROR; /* the file shrank */
            res = map_tls(c, r);
            if (res != IO_DONE)
                return res == IO_EOF ? IO_ERROR : res;
            a->seg_file_sent += n;
            a->bytes_sent += n;
        }
    }
}

/* Sends the segments in order: memory with send, file ranges with sendfile. */
static enum io_result send_response(struct conn *c)
{
    struct conn_active *a = c->a;
    int body_fd = response_body_fd(&a->resp);

    if (c->ssl != NULL)
        return send_response_tls(c);

    while (a->cur < a->nseg) {
        const struct segment *sg = &a->seg[a->cur];
        /* MSG_MORE: a head and the file bytes after it leave in the same segments */
        int more = sg->file_len > 0 || a->cur + 1 < a->nseg ? MSG_MORE : 0;
        size_t before = a->seg_mem_sent;
        enum io_result res =
            send_bytes(c, a->outmem + sg->mem_off, sg->mem_len, &a->seg_mem_sent, more);

        a->bytes_sent += a->seg_mem_sent - before;
        if (res != IO_DONE)
            return res;
        while (a->seg_file_sent < sg->file_len) {
            uint64_t left = sg->file_len - a->seg_file_sent;
            off_t off = (off_t)(sg->file_off + a->seg_file_sent);
            ssize_t n = sendfile(c->fd, body_fd, &off, left > (1u << 30) ? (1u << 30) : left);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN) {
                    if (raise_lowat_if_fast(c))
                        continue;
                    c->writable = 0;
                    return IO_AGAIN;
                }
                return IO_ERROR;
            }
            if (n == 0) {
                /* the file shrank after Content-Length was sent: the only honest end
                 * is to abort the connection (RFC 9112 §6.3) */
                log_warnx("file shrank while being sent; closing the connection");
                return IO_ERROR;
            }
            a->seg_file_sent += (uint64_t)n;
            a->bytes_sent += (uint64_t)n;
        }
        a->cur++;
        a->seg_mem_sent = 0;
        a->seg_file_sent = 0;
    }
    return IO_DONE;
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
    if (a->bytes_sent == 0 &&
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

/* The response has gone out: log it and go on to the next request, or close.
 * Returns 0 when the connection is closed. */
static int finish_response(struct conn *c)
{
    struct worker *w = c->w;

    log_request(c);
    response_release(&c->a->resp);
    c->requests++;
    if (c->lowat_lifted)
        set_lowat(c, CONN_NOTSENT_LOWAT);
    if (!c->a->resp.keep_alive || c->early_response || w->stopping) {
        /* nginx's lingering-close heuristic: a client that asked to close after a
         * whole request without a body, with nothing more from it in our buffer,
         * sends nothing more; close now. After errors, bodies or pipelined bytes,
         * drain first (start_linger says why). */
        struct request *r = &c->a->parser.req;
        if (r->state == HTTP_REQ_DONE && !r->has_body && r->method != HTTP_CONNECT &&
            c->in_pos == c->in_len && !c->early_response && !w->stopping) {
            conn_close(c);
            return 0;
        }
        start_linger(c);
        return 1;
    }
    http_parser_next(&c->a->parser);
    c->req_start = c->in_pos;
    c->head_end = c->in_pos;
    c->state = CONN_READ;
    if (c->in_pos == c->in_len) {
        /* nothing pipelined: the connection goes idle and gives its block back */
        go_idle(c);
        timer_arm(&w->q_idle, &c->timer, w->now_ms);
        worker_conn_idle(w);
    } else {
        timer_arm(&w->q_header, &c->timer, w->now_ms); /* a pipelined request begins */
    }
    return 1;
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
        if (r->has_body)
            timer_arm(&c->w->q_body, &c->timer, c->w->now_ms);
        decide(c);
        if (r->has_body && r->expect_continue) {
            if (a->resp.status >= 300) {
                /* RFC 9110 §10.1.1: answer now instead of asking for a body we
                 * would throw away, and close rather than read it */
                c->keep_alive = 0;
                c->early_response = 1;
                compose(c);
                c->state = CONN_WRITE;
                return 1;
            }
            c->continue_pending = 1;
            c->continue_sent = 0;
        }
        compose(c);
        return 1;
    case HTTP_PARSE_DONE:
        c->continue_pending = 0; /* the body is here already (RFC 9110 §10.1.1) */
        c->state = CONN_WRITE;
        return 1;
    case HTTP_PARSE_ERROR:
        if (c->ssl == NULL && (unsigned char)in[c->req_start] == 0x16) {
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
    send_bytes(c, mem, out.len, &sent, 0);
    start_linger(c);
}

/* Borrows the block a request needs; 0 when there is none (the client is refused
 * and the connection is lingering). */
static int ensure_active(struct conn *c)
{
    if (c->a != NULL)
        return 1;
    c->a = worker_block_get(c->w);
    if (c->a == NULL) {
        refuse_out_of_memory(c);
        return 0;
    }
    http_parser_init(&c->a->parser, &c->w->limits);
    response_init(&c->a->resp);
    return 1;
}

/* Reads what the socket has; returns 1 to go on, 0 to wait. */
static int read_step(struct conn *c)
{
    struct worker *w = c->w;
    size_t n = 0;
    enum io_result res;

    if (!ensure_active(c))
        return 1; /* refused: on to the lingering close */
    if (c->in_len == CONN_IN_SIZE)
        compact(c);
    res = conn_read(c, c->a->in + c->in_len, CONN_IN_SIZE - c->in_len, &n);
    if (res == IO_DONE) {
        /* the first byte of a request starts its deadline (the body has its own,
         * armed once with the head: a trickle cannot hold a connection forever) */
        if (c->in_len == c->req_start)
            timer_arm(&w->q_header, &c->timer, w->now_ms);
        c->in_len += (uint32_t)n;
        return 1;
    }
    if (res != IO_AGAIN) {
        /* the client is gone (or half-closed before a complete request) */
        conn_close(c);
        return 0;
    }
    if (c->in_len == c->req_start)
        go_idle(c); /* nothing of a request yet: wait without the block */
    return 0;
}

/* The first byte on an HTTPS port says who is there: a TLS handshake record, or
 * someone speaking plain HTTP, who gets a clear-text 400 as nginx gives. Returns
 * 1 to go on (handshake, or the 400 now in CONN_WRITE), 0 to wait or when closed. */
static int check_plain_on_tls(struct conn *c)
{
    unsigned char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK);

    if (n < 0 && errno == EAGAIN) {
        c->readable = 0;
        return 0;
    }
    if (n <= 0) {
        conn_close(c);
        return 0;
    }
    if (b == 0x16)
        return 1;
    tls_conn_free(c->ssl);
    c->ssl = NULL;
    if (ensure_active(c))
        fail_request(c, HTTP_BAD_REQUEST);
    return 1;
}

static void conn_run(struct conn *c)
{
    struct worker *w = c->w;

    for (;;) {
        switch (c->state) {
        case CONN_HANDSHAKE: {
            enum io_result res;
            if (!c->tls_checked) {
                if (!check_plain_on_tls(c))
                    return;
                if (c->state != CONN_HANDSHAKE)
                    continue; /* plain HTTP: the 400 goes out */
                c->tls_checked = 1;
            }
            res = map_tls(c, tls_handshake(c->ssl));
            if (res == IO_AGAIN)
                return;
            if (res != IO_DONE) {
                conn_close(c); /* a failed handshake: the alert, if any, is sent */
                return;
            }
            c->state = CONN_READ;
            c->readable = 1; /* OpenSSL may hold the first request already */
            continue;
        }

        case CONN_READ:
            if (c->continue_pending) {
                enum io_result res = send_continue(c);
                if (res == IO_ERROR) {
                    conn_close(c);
                    return;
                }
                if (res == IO_AGAIN)
                    return;
            }
            /* in a body, a call with no new bytes lets llhttp finish a message */
            if (c->a && (c->in_pos < c->in_len || c->a->parser.req.state == HTTP_REQ_BODY)) {
                if (parse_step(c))
                    continue;
            }
            if (!c->readable)
                return;
            if (!read_step(c))
                return;
            continue;

        case CONN_WRITE: {
            enum io_result res;
            if (!c->writable || !file_still_current(c))
                return;
            res = send_response(c);
            if (res == IO_ERROR) {
                conn_close(c);
                return;
            }
            if (res == IO_AGAIN) {
                timer_arm(&w->q_send, &c->timer, w->now_ms);
                return;
            }
            if (!finish_response(c))
                return;
            continue;
        }

        case CONN_LINGER: {
            char sink[4096];
            ssize_t n;
            if (!c->readable)
                return;
            n = recv(c->fd, sink, sizeof(sink), 0);
            if (n > 0)
                continue;
            if (n < 0 && errno == EAGAIN) {
                c->readable = 0;
                return;
            }
            if (n < 0 && errno == EINTR)
                continue;
            conn_close(c);
            return;
        }
        }
    }
}

void conn_timeout(struct conn *c)
{
    /* a request that started but did not finish in time gets a 408; an idle
     * connection or a lingering close is simply closed */
    if (c->state == CONN_READ && c->a && c->in_len > c->req_start && !c->continue_pending &&
        c->a->parser.req.state == HTTP_REQ_HEAD) {
        fail_request(c, HTTP_REQUEST_TIMEOUT);
        c->writable = 1;
        conn_run(c);
        return;
    }
    if (c->state == CONN_WRITE) {
        /* a stalled reader is reset, not closed: a plain close would leave the kernel
         * trickling our full send buffer to it as an orphan socket, for minutes, and a
         * slow-read attack's thousands of them would hold hundreds of MB of memory */
        struct linger reset = {1, 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    }
    conn_close(c);
}

void conn_stop_if_idle(struct conn *c)
{
    if (c->state == CONN_HANDSHAKE ||
        (c->state == CONN_READ && (c->a == NULL || c->in_len == c->req_start)))
        conn_close(c);
}

/* A connection driven through its states without a socket: a fake transport
 * hands it scripted reads and takes its sends (or refuses them, to make it wait),
 * and test handlers plan the responses. The seam between conn.c and the rest. */
#include "build-config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "portico/conn.h"
#include "portico/settings.h"
#include "suites.h"

/* ------------------------------------------------------------ the fake transport */

struct fake {
    const char *in[8]; /* each recv returns the next of these, then IO_AGAIN (or EOF) */
    int nin, next;
    int eof;           /* after the scripted reads, the peer closes */
    char out[65536];
    size_t out_len;
    size_t room;       /* bytes sends may still take before IO_AGAIN */
    int handshakes;    /* handshake calls answered IO_AGAIN before the result */
    enum io_result handshake_result;
    int shutdowns, closes, rests;
};

static struct fake *fake_of(struct transport *t)
{
    return t->layer;
}

static enum io_result fake_recv(struct transport *t, void *buf, size_t len, size_t *got)
{
    struct fake *f = fake_of(t);
    size_t n;

    if (f->next == f->nin) {
        if (f->eof)
            return IO_EOF;
        t->readable = 0;
        return IO_AGAIN;
    }
    n = strlen(f->in[f->next]);
    ck_assert_uint_le(n, len);
    memcpy(buf, f->in[f->next++], n);
    *got = n;
    return IO_DONE;
}

static enum io_result fake_send(struct transport *t, const void *buf, size_t len, int more,
                                size_t *put)
{
    struct fake *f = fake_of(t);
    size_t n = len < f->room ? len : f->room;

    (void)more;
    if (n == 0) {
        t->writable = 0;
        return IO_AGAIN;
    }
    ck_assert_uint_le(f->out_len + n, sizeof(f->out));
    memcpy(f->out + f->out_len, buf, n);
    f->out_len += n;
    f->room -= n;
    *put = n;
    return IO_DONE;
}

static enum io_result fake_handshake(struct transport *t)
{
    struct fake *f = fake_of(t);

    if (f->handshakes-- > 0) {
        t->readable = 0;
        return IO_AGAIN;
    }
    return f->handshake_result;
}

static void fake_shutdown(struct transport *t)
{
    fake_of(t)->shutdowns++;
}

static void fake_close(struct transport *t)
{
    fake_of(t)->closes++;
}

static void fake_rest(struct transport *t)
{
    fake_of(t)->rests++;
}

/* no sendfile: file bytes go through the walker's stage, as over TLS */
static const struct transport_ops fake_plain = {
    .recv = fake_recv, .send = fake_send, .shutdown = fake_shutdown, .close = fake_close,
};
static const struct transport_ops fake_secure = {
    .handshake = fake_handshake, .recv = fake_recv, .send = fake_send,
    .shutdown = fake_shutdown, .rest = fake_rest, .close = fake_close, .gather = 1,
};

/* ------------------------------------------------------------ handlers and the world */

struct plan {
    enum http_status status;
    const char *body; /* a 200's body, from a file */
    int declines;     /* answers nothing: the next handler's turn */
    int calls;
};

static int plan_handle(void *ctx, struct exchange *x, struct response *resp)
{
    struct plan *p = ctx;
    FILE *f;

    (void)x;
    p->calls++;
    if (p->declines)
        return 0;
    resp->status = p->status;
    if (p->body != NULL) {
        f = tmpfile();
        ck_assert_ptr_nonnull(f);
        fputs(p->body, f);
        fflush(f);
        resp->own_fd = dup(fileno(f));
        fclose(f);
        resp->length = strlen(p->body);
        resp->content_type = "text/plain";
    }
    return 1;
}

static struct world {
    struct settings s;
    struct http_limits limits;
    struct pool blocks;
    struct timer_queue q[CONN_TIMEOUTS];
    struct handler handlers[2];
    struct plan first, second;
    struct conn_env env;
    struct conn c;
    struct fake fake;
    int closed, idled;
} W;

static void on_closed(struct conn_env *env, struct conn *c)
{
    (void)env;
    ck_assert_ptr_eq(c, &W.c);
    W.closed++;
}

static void on_idle(struct conn_env *env)
{
    (void)env;
    W.idled++;
}

static void world_init(void)
{
    int i;

    memset(&W, 0, sizeof(W));
    config_defaults(&W.s);
    W.limits.max_header_size = 8192;
    W.limits.max_headers = 100;
    W.limits.max_body_size = 1024;
    ck_assert_int_eq(pool_init(&W.blocks, CONN_BLOCK_SIZE, 4), 0);
    for (i = 0; i < CONN_TIMEOUTS; i++) {
        timer_queue_init(&W.q[i], (uint64_t)(i + 1) * 1000);
        W.env.queue[i] = &W.q[i];
    }
    W.q[CONN_T_REST].duration_ms = 500;
    W.first.declines = 1;
    W.second.status = HTTP_OK;
    W.second.body = "hello, world\n";
    W.handlers[0] = (struct handler){plan_handle, NULL, &W.first};
    W.handlers[1] = (struct handler){plan_handle, NULL, &W.second};
    W.env.settings = &W.s;
    W.env.limits = &W.limits;
    W.env.handlers = W.handlers;
    W.env.nhandlers = 2;
    W.env.blocks = &W.blocks;
    W.env.now_ms = 1000;
    W.env.closed = on_closed;
    W.env.idle = on_idle;
    W.fake.room = SIZE_MAX;
}

/* Starts the connection with the scripted reads (NULL-terminated), from 127.0.0.1,
 * after a PROXY header when proxy is set. */
static int start_as(const struct transport_ops *ops, const char *const *reads, int proxy)
{
    struct transport io = {ops, -1, &W.fake, 1, 1, 0};
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};

    for (W.fake.nin = 0; reads[W.fake.nin] != NULL; W.fake.nin++)
        W.fake.in[W.fake.nin] = reads[W.fake.nin];
    return conn_start(&W.c, &W.env, &io, (struct sockaddr *)&peer, sizeof(peer), proxy);
}

static int start(const struct transport_ops *ops, const char *const *reads)
{
    return start_as(ops, reads, 0);
}

static void more(const char *bytes, unsigned events)
{
    W.fake.in[W.fake.nin++] = bytes;
    conn_on_event(&W.c, events);
}

/* Lets time pass and runs the deadlines that expire. */
static void elapse(uint64_t ms)
{
    int i;

    W.env.now_ms += ms;
    for (i = 0; i < CONN_TIMEOUTS; i++)
        timer_run_expired(&W.q[i], W.env.now_ms);
}

static int count(const char *needle)
{
    const char *p = W.fake.out, *end = W.fake.out + W.fake.out_len;
    size_t n = strlen(needle);
    int k = 0;

    for (; p + n <= end; p++)
        k += memcmp(p, needle, n) == 0;
    return k;
}

static struct timer_queue *deadline(void)
{
    return W.c.timer.queue;
}

#define GET_KA  "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
#define GET_END "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

/* ------------------------------------------------------------ the cases */

/* Reads, hands the head to the handlers in order, sends, and goes idle without
 * its block; the keep-alive deadline runs, and its expiry closes. */
START_TEST(test_keepalive_request)
{
    static const char *const reads[] = {GET_KA, NULL};

    world_init();
    ck_assert_int_eq(start(&fake_plain, reads), 1);
    ck_assert_int_eq(W.first.calls, 1);
    ck_assert_int_eq(W.second.calls, 1);
    ck_assert_int_eq(count("HTTP/1.1 200 OK\r\n"), 1);
    ck_assert_int_eq(count("\r\n\r\nhello, world\n"), 1);
    ck_assert_int_eq(W.c.state, CONN_IDLE);
    ck_assert_ptr_null(W.c.a);
    ck_assert_ptr_eq(deadline(), &W.q[CONN_T_IDLE]);
    ck_assert_int_eq(W.idled, 1);
    elapse(W.q[CONN_T_IDLE].duration_ms);
    ck_assert_int_eq(W.c.state, CONN_CLOSED);
    ck_assert_int_eq(W.fake.closes, 1);
    ck_assert_int_eq(W.closed, 1);
}
END_TEST

/* Two requests in one read are answered in order; a third in another read too. */
START_TEST(test_pipelined)
{
    static const char *const reads[] = {GET_KA GET_KA, NULL};

    world_init();
    start(&fake_plain, reads);
    ck_assert_int_eq(count("HTTP/1.1 200 OK\r\n"), 2);
    ck_assert_int_eq(W.c.requests, 2);
    more(GET_KA, EVENT_READ);
    ck_assert_int_eq(count("HTTP/1.1 200 OK\r\n"), 3);
    ck_assert_int_eq(W.c.state, CONN_IDLE);
}
END_TEST

/* Connection: close after a whole request without a body: closed at once, no linger. */
START_TEST(test_close_at_once)
{
    static const char *const reads[] = {GET_END, NULL};

    world_init();
    ck_assert_int_eq(start(&fake_plain, reads), 0);
    ck_assert_int_eq(count("Connection: close\r\n"), 1);
    ck_assert_int_eq(W.c.state, CONN_CLOSED);
    ck_assert_int_eq(W.fake.shutdowns, 0);
}
END_TEST

/* A head that stops arriving: the header deadline's expiry means 408, then the
 * lingering close, whose own deadline closes. */
START_TEST(test_head_timeout)
{
    static const char *const reads[] = {"GET /a HT", NULL};

    world_init();
    start(&fake_plain, reads);
    ck_assert_int_eq(W.c.state, CONN_READ_HEAD);
    ck_assert_ptr_eq(deadline(), &W.q[CONN_T_HEADER]);
    elapse(W.q[CONN_T_HEADER].duration_ms);
    ck_assert_int_eq(count("HTTP/1.1 408 Request Timeout\r\n"), 1);
    ck_assert_int_eq(W.c.state, CONN_LINGER);
    ck_assert_int_eq(W.fake.shutdowns, 1);
    elapse(W.q[CONN_T_LINGER].duration_ms);
    ck_assert_int_eq(W.c.state, CONN_CLOSED);
}
END_TEST

/* A connection with nothing of a request yet holds no block, and its header
 * deadline just closes it (no 408 to nobody). */
START_TEST(test_silent_client)
{
    static const char *const reads[] = {NULL};

    world_init();
    start(&fake_plain, reads);
    ck_assert_int_eq(W.c.state, CONN_READ_HEAD);
    ck_assert_ptr_null(W.c.a);
    elapse(W.q[CONN_T_HEADER].duration_ms);
    ck_assert_int_eq(W.c.state, CONN_CLOSED);
    ck_assert_uint_eq(W.fake.out_len, 0);
}
END_TEST

/* Expect: 100-continue: the interim line is owed first, then the body under its
 * own deadline, then the answer. */
START_TEST(test_expect_continue)
{
    static const char *const reads[] = {
        "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", NULL};

    world_init();
    W.fake.room = 10; /* the interim line does not fit at once */
    start(&fake_plain, reads);
    ck_assert_int_eq(W.c.state, CONN_CONTINUE);
    ck_assert_ptr_eq(deadline(), &W.q[CONN_T_BODY]);
    W.fake.room = SIZE_MAX;
    conn_on_event(&W.c, EVENT_WRITE);
    ck_assert_int_eq(count("HTTP/1.1 100 Continue\r\n\r\n"), 1);
    ck_assert_int_eq(W.c.state, CONN_READ_BODY);
    ck_assert_int_eq(count("HTTP/1.1 200 OK"), 0);
    more("hello", EVENT_READ);
    ck_assert_int_eq(count("HTTP/1.1 200 OK"), 1);
    ck_assert_int_eq(W.c.state, CONN_IDLE);
}
END_TEST

/* A refusal before the body: no 100, the answer at once, then drain and close. */
START_TEST(test_expect_refused)
{
    static const char *const reads[] = {
        "PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", NULL};

    world_init();
    W.second.status = HTTP_METHOD_NOT_ALLOWED;
    W.second.body = NULL;
    start(&fake_plain, reads);
    ck_assert_int_eq(count("100 Continue"), 0);
    ck_assert_int_eq(count("HTTP/1.1 405 Method Not Allowed\r\n"), 1);
    ck_assert_int_eq(W.c.state, CONN_LINGER);
}
END_TEST

/* A full transport: the send waits under the send deadline, resumes when
 * writable, and a reader that stalls past it is dropped. */
START_TEST(test_send_waits)
{
    static const char *const reads[] = {GET_KA, NULL};

    world_init();
    W.fake.room = 20;
    start(&fake_plain, reads);
    ck_assert_int_eq(W.c.state, CONN_SEND);
    ck_assert_ptr_eq(deadline(), &W.q[CONN_T_SEND]);
    W.fake.room = 30;
    conn_on_event(&W.c, EVENT_WRITE);
    ck_assert_int_eq(W.c.state, CONN_SEND);
    ck_assert_uint_eq(W.fake.out_len, 50);
    elapse(W.q[CONN_T_SEND].duration_ms);
    ck_assert_int_eq(W.c.state, CONN_CLOSED);
    ck_assert_int_eq(W.closed, 1);
}
END_TEST

START_TEST(test_send_resumes)
{
    static const char *const reads[] = {GET_KA, NULL};

    world_init();
    W.fake.room = 7;
    start(&fake_plain, reads);
    ck_assert_int_eq(W.c.state, CONN_SEND);
    W.fake.room = SIZE_MAX;
    conn_on_event(&W.c, EVENT_WRITE);
    ck_assert_int_eq(count("HTTP/1.1 200 OK\r\n"), 1);
    ck_assert_int_eq(count("\r\n\r\nhello, world\n"), 1);
    ck_assert_int_eq(W.c.state, CONN_IDLE);
}
END_TEST

/* A handshaking transport: nothing is read until it is done, and a secure
 * connection's responses carry HSTS when it is set. */
START_TEST(test_handshake)
{
    static const char *const reads[] = {GET_KA, NULL};

    world_init();
    W.s.hsts = 60;
    W.fake.handshakes = 1;
    W.fake.handshake_result = IO_DONE;
    start(&fake_secure, reads);
    ck_assert_int_eq(W.c.state, CONN_HANDSHAKE);
    ck_assert_int_eq(W.fake.next, 0);
    conn_on_event(&W.c, EVENT_READ);
    ck_assert_int_eq(count("HTTP/1.1 200 OK\r\n"), 1);
    ck_assert_int_eq(count("Strict-Transport-Security: max-age=60"), 1);
    ck_assert_int_eq(W.c.state, CONN_IDLE);
}
END_TEST

/* Plain text on a TLS port: a clear-text 400 (without HSTS), then the linger. */
START_TEST(test_plaintext_on_tls)
{
    static const char *const reads[] = {NULL};

    world_init();
    W.s.hsts = 60;
    W.fake.handshake_result = IO_PLAINTEXT;
    start(&fake_secure, reads);
    ck_assert_int_eq(count("HTTP/1.1 400 Bad Request\r\n"), 1);
    ck_assert_int_eq(count("Strict-Transport-Security"), 0);
    ck_assert_int_eq(W.c.state, CONN_LINGER);
    ck_assert_int_eq(W.first.calls, 0);
}
END_TEST

/* Bad framing: 400 and a lingering close; the peer's EOF then closes. */
START_TEST(test_bad_request)
{
    static const char *const reads[] = {"GET /a HTTP/1.1\r\nHost x\r\n\r\n", NULL};

    world_init();
    start(&fake_plain, reads);
    ck_assert_int_eq(count("HTTP/1.1 400 Bad Request\r\n"), 1);
    ck_assert_int_eq(W.c.state, CONN_LINGER);
    W.fake.eof = 1;
    conn_on_event(&W.c, EVENT_READ);
    ck_assert_int_eq(W.c.state, CONN_CLOSED);
}
END_TEST

/* A stopping worker closes idle connections, not ones with a request under way. */
START_TEST(test_stop_if_idle)
{
    static const char *const reads[] = {GET_KA, NULL};

    world_init();
    W.fake.room = 10;
    start(&fake_plain, reads);
    conn_stop_if_idle(&W.c);
    ck_assert_int_eq(W.c.state, CONN_SEND);
    W.env.stopping = 1;
    W.fake.room = SIZE_MAX;
    conn_on_event(&W.c, EVENT_WRITE); /* composed before the stop: closed after it */
    ck_assert_int_eq(count("HTTP/1.1 200 OK\r\n"), 1);
    ck_assert_int_eq(W.c.state, CONN_LINGER);
}
END_TEST

START_TEST(test_stop_idle)
{
    static const char *const reads[] = {GET_KA, NULL};

    world_init();
    start(&fake_plain, reads);
    ck_assert_int_eq(W.c.state, CONN_IDLE);
    conn_stop_if_idle(&W.c);
    ck_assert_int_eq(W.c.state, CONN_CLOSED);
}
END_TEST

/* An idle connection whose transport holds buffers while busy keeps them for a
 * moment (back-to-back requests reuse them), then gives them back and waits the
 * rest of the keep-alive time. */
START_TEST(test_rest_when_idle)
{
    static const char *const reads[] = {GET_KA, NULL};

    world_init();
    start(&fake_secure, reads);
    ck_assert_int_eq(W.c.state, CONN_IDLE);
    ck_assert_ptr_eq(deadline(), &W.q[CONN_T_REST]);
    more(GET_KA, EVENT_READ); /* the next request before the moment is up */
    ck_assert_int_eq(W.fake.rests, 0);
    elapse(W.q[CONN_T_REST].duration_ms);
    ck_assert_int_eq(W.fake.rests, 1);
    ck_assert_int_eq(W.c.state, CONN_IDLE);
    ck_assert_ptr_eq(deadline(), &W.q[CONN_T_IDLE]);
    elapse(W.q[CONN_T_IDLE].duration_ms - W.q[CONN_T_REST].duration_ms - 1);
    ck_assert_int_eq(W.c.state, CONN_IDLE);
    elapse(1);
    ck_assert_int_eq(W.c.state, CONN_CLOSED);
    ck_assert_int_eq(W.fake.rests, 1);
}
END_TEST

/* A plain transport has nothing to give back: straight to the keep-alive deadline. */
START_TEST(test_no_rest_for_plain)
{
    static const char *const reads[] = {GET_KA, NULL};

    world_init();
    start(&fake_plain, reads);
    ck_assert_ptr_eq(deadline(), &W.q[CONN_T_IDLE]);
}
END_TEST

/* ------------------------------------------------------------ behind a balancer */

static int refuse_all(struct conn_env *env, struct conn *c)
{
    (void)env;
    (void)c;
    return 0;
}

/* A PROXY listener's connection, its reads one event each: what is answered and who
 * the client is then ("" when nothing may be sent: closed with no byte out). */
static const struct {
    const char *reads[4];
    const char *client; /* the peer after the header; NULL: closed, nothing sent */
    int proxied, admit_none;
} proxy_cases[] = {
    {{"PROXY TCP4 203.0.113.9 10.0.0.1 5555 80\r\n" GET_KA}, "203.0.113.9", 1, 0},
    {{"PROXY TCP4 203.0.", "113.9 10.0.0.1 5555 80\r\n", GET_KA}, "203.0.113.9", 1, 0},
    {{"PROXY TCP4 203.0.113.9 10.0.0.1 5555 80\r\nGET /a HT", "TP/1.1\r\nHost: x\r\n\r\n"},
     "203.0.113.9", 1, 0},
    {{"PROXY TCP6 2001:db8::7 2001:db8::1 5555 80\r\n", GET_KA}, "2001:db8::7", 1, 0},
    {{"PROXY UNKNOWN\r\n" GET_KA}, "127.0.0.1", 0, 0},
    {{GET_KA}, NULL, 0, 0},
    {{"PROXY TCP4 203.0.113.9 10.0.0.1 99999 80\r\n" GET_KA}, NULL, 0, 0},
    {{"PROXY TCP4 203.0.113.9 10.0.0.1 5555 80\r\n" GET_KA}, NULL, 1, 1},
};

START_TEST(test_proxy_header)
{
    const char *const *reads = proxy_cases[_i].reads;
    const char *first[] = {reads[0], NULL}, *want = proxy_cases[_i].client;
    char got[64] = "";
    int i;

    world_init();
    if (proxy_cases[_i].admit_none)
        W.env.admit = refuse_all;
    start_as(&fake_plain, first, 1);
    for (i = 1; i < 4 && reads[i] != NULL && W.c.state != CONN_CLOSED; i++)
        more(reads[i], EVENT_READ);
    if (want == NULL) {
        ck_assert_int_eq(W.c.state, CONN_CLOSED);
        ck_assert_uint_eq(W.fake.out_len, 0);
        return;
    }
    ck_assert_int_eq(count("HTTP/1.1 200 OK\r\n"), 1);
    inet_ntop(W.c.peer.sa.sa_family,
              W.c.peer.sa.sa_family == AF_INET6 ? (void *)&W.c.peer.v6.sin6_addr
                                                : (void *)&W.c.peer.v4.sin_addr,
              got, sizeof(got));
    ck_assert_str_eq(got, want);
    ck_assert_int_eq(W.c.proxied, proxy_cases[_i].proxied);
}
END_TEST

/* A header that stops arriving: the header deadline closes, nothing sent. */
START_TEST(test_proxy_header_timeout)
{
    static const char *const reads[] = {"PROXY TCP4 203.0", NULL};

    world_init();
    ck_assert_int_eq(start_as(&fake_plain, reads, 1), 1);
    ck_assert_int_eq(W.c.state, CONN_PROXY_HEADER);
    ck_assert_ptr_eq(deadline(), &W.q[CONN_T_HEADER]);
    elapse(W.q[CONN_T_HEADER].duration_ms);
    ck_assert_int_eq(W.c.state, CONN_CLOSED);
    ck_assert_uint_eq(W.fake.out_len, 0);
}
END_TEST

/* ------------------------------------------------------------ held-open responses */

static struct source {
    struct stream_source src;
    struct conn *attached;
    int attaches, idles, detaches;
} SRC;

static void src_attach(struct stream_source *src, struct conn *c)
{
    (void)src;
    SRC.attached = c;
    SRC.attaches++;
}

static void src_idle(struct stream_source *src, struct conn *c)
{
    (void)src;
    SRC.idles++;
    conn_stream_push(c, ": ping\n\n", 8);
}

static void src_detach(struct stream_source *src, struct conn *c)
{
    (void)src;
    ck_assert_ptr_eq(c, SRC.attached);
    SRC.detaches++;
}

static int stream_handle(void *ctx, struct exchange *x, struct response *resp)
{
    (void)ctx;
    (void)x;
    resp->status = HTTP_OK;
    resp->content_type = "text/event-stream";
    resp->stream = &SRC.src;
    return 1;
}

/* A world whose only handler answers with a stream. */
static void stream_world(void)
{
    world_init();
    memset(&SRC, 0, sizeof(SRC));
    SRC.src = (struct stream_source){src_attach, src_idle, src_detach};
    W.handlers[0] = (struct handler){stream_handle, NULL, NULL};
    W.env.nhandlers = 1;
}

/* The head says chunked and no length; pushes are chunks; the end is the last chunk
 * and the close, and the source hears of it once. */
START_TEST(test_stream_chunks)
{
    static const char *const reads[] = {GET_KA, NULL};

    stream_world();
    ck_assert_int_eq(start(&fake_plain, reads), 1);
    ck_assert_int_eq(W.c.state, CONN_STREAM);
    ck_assert_int_eq(SRC.attaches, 1);
    ck_assert_int_eq(count("Transfer-Encoding: chunked\r\n"), 1);
    ck_assert_int_eq(count("Content-Length"), 0);
    ck_assert_int_eq(conn_stream_push(&W.c, "data: x\n\n", 9), 0);
    ck_assert_int_eq(count("\r\n\r\n9\r\ndata: x\n\n\r\n"), 1);
    ck_assert_ptr_eq(deadline(), &W.q[CONN_T_STREAM]);
    conn_stream_end(&W.c);
    ck_assert_int_eq(W.closed, 1);
    ck_assert_int_eq(SRC.detaches, 1);
    ck_assert_int_eq(memcmp(W.fake.out + W.fake.out_len - 5, "0\r\n\r\n", 5), 0);
}
END_TEST

/* Nothing to say for the idle time: the source says its keep-alive, and the stream
 * is no idle connection, no slow reader, no request that timed out. */
START_TEST(test_stream_idle)
{
    static const char *const reads[] = {GET_KA, NULL};

    stream_world();
    start(&fake_plain, reads);
    elapse(W.q[CONN_T_STREAM].duration_ms);
    ck_assert_int_eq(SRC.idles, 1);
    ck_assert_int_eq(count("8\r\n: ping\n\n\r\n"), 1);
    elapse(W.q[CONN_T_STREAM].duration_ms);
    ck_assert_int_eq(SRC.idles, 2);
    ck_assert_int_eq(W.c.state, CONN_STREAM);
    ck_assert_int_eq(W.closed, 0);
}
END_TEST

/* A reader who takes nothing: the send deadline runs while bytes wait, and its
 * expiry closes the stream (with a reset); one who falls a whole buffer behind is
 * closed at once (test_stream_behind). */
START_TEST(test_stream_stalled)
{
    static const char *const reads[] = {GET_KA, NULL};

    stream_world();
    start(&fake_plain, reads);
    W.fake.room = 0;
    ck_assert_int_eq(conn_stream_push(&W.c, "data: x\n\n", 9), 0);
    ck_assert_ptr_eq(deadline(), &W.q[CONN_T_SEND]);
    /* bytes from the client do not put its deadline off */
    elapse(W.q[CONN_T_SEND].duration_ms - 1);
    more("junk", EVENT_READ);
    ck_assert_int_eq(W.closed, 0);
    elapse(1);
    ck_assert_int_eq(W.closed, 1);
    ck_assert_int_eq(SRC.detaches, 1);
}
END_TEST

START_TEST(test_stream_behind)
{
    static const char *const reads[] = {GET_KA, NULL};
    char big[CONN_OUT_SIZE / 2];

    stream_world();
    start(&fake_plain, reads);
    W.fake.room = 0;
    memset(big, 'x', sizeof(big));
    ck_assert_int_eq(conn_stream_push(&W.c, big, sizeof(big)), 0);
    ck_assert_int_eq(conn_stream_push(&W.c, big, sizeof(big)), -1);
    ck_assert_int_eq(W.closed, 1);
    ck_assert_int_eq(SRC.detaches, 1);
}
END_TEST

/* The client leaves: its EOF closes the stream and the source forgets it. HTTP/1.0
 * (test_stream_http10): no chunks, the close ends the body. */
START_TEST(test_stream_client_leaves)
{
    static const char *const reads[] = {GET_KA, NULL};

    stream_world();
    start(&fake_plain, reads);
    W.fake.eof = 1;
    conn_on_event(&W.c, EVENT_READ);
    ck_assert_int_eq(W.closed, 1);
    ck_assert_int_eq(SRC.detaches, 1);
}
END_TEST

START_TEST(test_stream_http10)
{
    static const char *const reads10[] = {"GET /a HTTP/1.0\r\n\r\n", NULL};

    stream_world();
    start(&fake_plain, reads10);
    ck_assert_int_eq(count("Transfer-Encoding"), 0);
    ck_assert_int_eq(conn_stream_push(&W.c, "data: y\n\n", 9), 0);
    ck_assert_int_eq(memcmp(W.fake.out + W.fake.out_len - 9, "data: y\n\n", 9), 0);
    conn_stream_end(&W.c);
    ck_assert_int_eq(count("0\r\n\r\n"), 0);
    ck_assert_int_eq(W.closed, 1);
}
END_TEST

Suite *conn_suite(void)
{
    Suite *s = suite_create("conn");
    TCase *tc = tcase_create("states");

    tcase_add_test(tc, test_keepalive_request);
    tcase_add_test(tc, test_pipelined);
    tcase_add_test(tc, test_close_at_once);
    tcase_add_test(tc, test_head_timeout);
    tcase_add_test(tc, test_silent_client);
    tcase_add_test(tc, test_expect_continue);
    tcase_add_test(tc, test_expect_refused);
    tcase_add_test(tc, test_send_waits);
    tcase_add_test(tc, test_send_resumes);
    tcase_add_test(tc, test_handshake);
    tcase_add_test(tc, test_plaintext_on_tls);
    tcase_add_test(tc, test_bad_request);
    tcase_add_test(tc, test_stop_if_idle);
    tcase_add_test(tc, test_stop_idle);
    tcase_add_test(tc, test_rest_when_idle);
    tcase_add_test(tc, test_no_rest_for_plain);
    tcase_add_loop_test(tc, test_proxy_header, 0,
                        (int)(sizeof(proxy_cases) / sizeof(proxy_cases[0])));
    tcase_add_test(tc, test_proxy_header_timeout);
    tcase_add_test(tc, test_stream_chunks);
    tcase_add_test(tc, test_stream_idle);
    tcase_add_test(tc, test_stream_stalled);
    tcase_add_test(tc, test_stream_behind);
    tcase_add_test(tc, test_stream_client_leaves);
    tcase_add_test(tc, test_stream_http10);
    suite_add_tcase(s, tc);
    return s;
}

/* A connection's TLS as a transport: the first byte sniffed (plain HTTP on the
 * HTTPS port is told so in plain text), the non-blocking handshake, records read
 * through our own read BIO and written through OpenSSL's socket BIO (or kernel
 * TLS, which then takes sendfile), and the close_notify before a lingering close. */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "portico/tls.h"
#include "portico/transport.h"

/* The read side of a connection. OpenSSL reads ahead through it, so one recv takes
 * a whole request's records instead of a header's 5 bytes and then the rest, and
 * it notes whether that recv emptied the socket: then the connection need not call
 * again only to be told EAGAIN before epoll reports more (edge-triggered, as on a
 * plain socket). Writes keep OpenSSL's socket BIO, which kernel TLS needs. */
struct rsock {
    int fd;
    unsigned drained : 1; /* in this read, a recv returned less than asked, or EAGAIN */
    unsigned eof : 1;
};

static BIO_METHOD *rsock_method;

static int rsock_read(BIO *b, char *buf, size_t len, size_t *got)
{
    struct rsock *s = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = recv(s->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        s->drained = (size_t)n < len;
        *got = (size_t)n;
        return 1;
    }
    s->drained = 1;
    if (n == 0)
        s->eof = 1;
    else if (errno == EAGAIN)
        BIO_set_retry_read(b);
    return 0;
}

static long rsock_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct rsock *s = BIO_get_data(b);

    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_EOF:
        return s->eof;
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return 0;
    }
}

static int rsock_destroy(BIO *b)
{
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);
    return 1;
}

/* Made once, before the workers are forked. */
int tls_io_init(void)
{
    if (rsock_method != NULL)
        return 0;
    rsock_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "portico recv");
    if (rsock_method == NULL || BIO_meth_set_read_ex(rsock_method, rsock_read) != 1 ||
        BIO_meth_set_ctrl(rsock_method, rsock_ctrl) != 1 ||
        BIO_meth_set_destroy(rsock_method, rsock_destroy) != 1) {
        BIO_meth_free(rsock_method);
        rsock_method = NULL;
        return -1;
    }
    return 0;
}

/* OpenSSL's answer as a transport result, clearing the readiness flag that ran
 * out, as edge-triggered epoll needs. */
static enum io_result result_of(struct transport *t, int rc)
{
    switch (SSL_get_error(t->layer, rc)) {
    case SSL_ERROR_WANT_READ:
        t->readable = 0;
        return IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        t->writable = 0;
        return IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return IO_EOF;
    default:
        /* a broken or hostile peer: not worth a log line each */
        ERR_clear_error();
        return IO_ERROR;
    }
}

static enum io_result tls_recv(struct transport *t, void *buf, size_t len, size_t *got)
{
    SSL *ssl = t->layer;
    struct rsock *s = BIO_get_data(SSL_get_rbio(ssl));
    int rc;

    /* drained speaks of a recv made by this call only: served from what OpenSSL
     * read ahead earlier, it says nothing of bytes that came since, whose edge
     * epoll may have reported already */
    s->drained = 0;
    *got = 0;
    rc = SSL_read_ex(ssl, buf, len, got);
    if (rc != 1)
        return result_of(t, rc);
    if (s->drained && !SSL_has_pending(ssl) && !t->hup)
        t->readable = 0;
    return IO_DONE;
}

static enum io_result tls_send(struct transport *t, const void *buf, size_t len, int more,
                               size_t *put)
{
    int rc;

    (void)more; /* records are gathered by the caller, and corked when there are many */
    *put = 0;
    rc = SSL_write_ex(t->layer, buf, len, put);
    return rc == 1 ? IO_DONE : result_of(t, rc);
}

static enum io_result ktls_sendfile(struct transport *t, int fd, off_t off, size_t len, size_t *put)
{
    ossl_ssize_t n = SSL_sendfile(t->layer, fd, off, len, 0);

    *put = n > 0 ? (size_t)n : 0;
    return n >= 0 ? IO_DONE : result_of(t, (int)n); /* 0 bytes: the file ended */
}

/* Frees the TLS state (after a best-effort close_notify): plain TCP from here on. */
static void to_plain(struct transport *t)
{
    SSL *ssl = t->layer;

    t->ops = &transport_plain;
    if (ssl == NULL)
        return;
    SSL_set_quiet_shutdown(ssl, 0);
    if (SSL_is_init_finished(ssl))
        SSL_shutdown(ssl);
    SSL_free(ssl);
    ERR_clear_error();
    t->layer = NULL;
}

/* Says goodbye in TLS, then stops speaking it: what follows is raw TCP. */
static void tls_shutdown(struct transport *t)
{
    to_plain(t);
    t->ops->shutdown(t);
}

/* Record buffers are kept while a connection is busy (allocating them for every
 * record cost about 6 % of a keep-alive request's instructions) and given back
 * when it goes idle; OpenSSL keeps them if they still hold unread bytes. */
static void tls_rest(struct transport *t)
{
    SSL_free_buffers(t->layer);
}

static void tls_close(struct transport *t)
{
    to_plain(t);
    t->ops->close(t);
}

static enum io_result tls_handshake(struct transport *t);

static const struct transport_ops tls_records = {
    .recv = tls_recv,
    .send = tls_send,
    .shutdown = tls_shutdown,
    .rest = tls_rest,
    .close = tls_close,
    .gather = 1,
};

/* kernel TLS: records go out through the kernel, so file bytes need not pass here */
static const struct transport_ops tls_kernel = {
    .recv = tls_recv,
    .send = tls_send,
    .sendfile = ktls_sendfile,
    .shutdown = tls_shutdown,
    .rest = tls_rest,
    .close = tls_close,
    .gather = 1,
};

static const struct transport_ops tls_handshaking = {
    .handshake = tls_handshake,
    .recv = tls_recv,
    .send = tls_send,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .gather = 1,
};

static enum io_result tls_handshake(struct transport *t)
{
    SSL *ssl = t->layer;
    int rc = SSL_do_handshake(ssl);

    if (rc != 1)
        return result_of(t, rc);
    t->ops = BIO_get_ktls_send(SSL_get_wbio(ssl)) == 1 ? &tls_kernel : &tls_records;
    t->readable = 1; /* OpenSSL may hold the first request already */
    return IO_DONE;
}

/* The first byte says who is there: a TLS handshake record, or someone speaking
 * plain HTTP, who is to be told so in plain text, as nginx does. */
static enum io_result tls_sniff(struct transport *t)
{
    unsigned char b;
    ssize_t n = recv(t->fd, &b, 1, MSG_PEEK);

    if (n < 0 && errno == EAGAIN) {
        t->readable = 0;
        return IO_AGAIN;
    }
    if (n < 0 && errno == EINTR)
        return tls_sniff(t);
    if (n <= 0)
        return n == 0 ? IO_EOF : IO_ERROR;
    if (b != 0x16) {
        to_plain(t); /* no handshake began: nothing to say goodbye to */
        return IO_PLAINTEXT;
    }
    t->ops = &tls_handshaking;
    return tls_handshake(t);
}

static const struct transport_ops tls_sniffing = {
    .handshake = tls_sniff,
    .recv = tls_recv,
    .send = tls_send,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .gather = 1,
};

int tls_transport_start(struct transport *t, struct tls_server *srv)
{
    SSL *ssl = SSL_new(tls_server_ctx(srv));
    BIO *rbio = BIO_new(rsock_method), *wbio = BIO_new_socket(t->fd, BIO_NOCLOSE);
    struct rsock *s = calloc(1, sizeof(*s));

    if (ssl == NULL || rbio == NULL || wbio == NULL || s == NULL) {
        SSL_free(ssl);
        BIO_free(rbio);
        BIO_free(wbio);
        free(s);
        return -1;
    }
    s->fd = t->fd;
    BIO_set_data(rbio, s);
    BIO_set_init(rbio, 1);
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_accept_state(ssl);
    t->layer = ssl;
    t->ops = &tls_sniffing;
    return 0;
}

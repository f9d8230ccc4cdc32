/* A connection's TLS as a transport: the first byte sniffed (plain HTTP on the
 * HTTPS port is told so in plain text), the non-blocking handshake, then records
 * gathered in memory and sent several at a time (file bytes read a chunk at a time
 * into one buffer and encrypted from there), or kernel TLS where the kernel has it,
 * which then takes sendfile; and the close_notify before a lingering close. */
#include "build-config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "portico/metrics.h"
#include "portico/tls.h"
#include "portico/tlsbio.h"
#include "portico/transport.h"

/* File bytes encrypted per read: eight full records, which leave in one send
 * (against four, 15 % less CPU a byte; sixteen saved nothing more). */
#define TLS_FILE_CHUNK (8 * 16384)

/* Where file bytes are read to be encrypted; a worker serves one connection at a
 * time, and nothing stays here between calls. */
static char file_chunk[TLS_FILE_CHUNK];

int tls_io_init(void)
{
    return tlsbio_init();
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
    BIO *r = SSL_get_rbio(ssl);
    int rc;

    /* drained speaks of a recv made by this call only: served from what OpenSSL
     * read ahead earlier, it says nothing of bytes that came since, whose edge
     * epoll may have reported already */
    tlsbio_reader_arm(r);
    *got = 0;
    rc = SSL_read_ex(ssl, buf, len, got);
    if (rc != 1)
        return result_of(t, rc);
    if (tlsbio_reader_drained(r) && !SSL_has_pending(ssl) && !t->hup)
        t->readable = 0;
    return IO_DONE;
}

/* Through OpenSSL's socket BIO: the handshake's, and kernel TLS's. */
static enum io_result direct_send(struct transport *t, const void *buf, size_t len, int more,
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

/* Sends the records gathered so far, until they are gone or the socket is full. */
static enum io_result flush(struct transport *t)
{
    BIO *w = SSL_get_wbio(t->layer);

    while (tlsbio_writer_pending(w) > 0) {
        if (!t->writable)
            return IO_AGAIN;
        if (tlsbio_writer_flush(w) < 0) {
            if (errno != EAGAIN)
                return IO_ERROR;
            t->writable = 0;
        }
    }
    return IO_DONE;
}

/* Records a send left behind go before any more are made: the writer then holds
 * at most a held head and one chunk, however slowly the client reads. Records
 * held only because more follows at once are not left behind: they go with it. */
static enum io_result drain_stalled(struct transport *t)
{
    return tlsbio_writer_stalled(SSL_get_wbio(t->layer)) ? flush(t) : IO_DONE;
}

/* Encrypts into the gathered records, then sends them unless more follows at once
 * and they are fewer than a chunk's; records the socket has no room for wait for
 * flush. The caller has drained what was left behind. */
static enum io_result seal(struct transport *t, const void *buf, size_t len, int more, size_t *put)
{
    enum io_result res;

    while (*put < len) { /* a record at a time (SSL_MODE_ENABLE_PARTIAL_WRITE) */
        size_t n = 0;
        int rc = SSL_write_ex(t->layer, (const char *)buf + *put, len - *put, &n);
        if (rc != 1)
            return result_of(t, rc); /* never a retry: the writer takes everything */
        *put += n;
    }
    if (more && tlsbio_writer_pending(SSL_get_wbio(t->layer)) < TLS_FILE_CHUNK)
        return IO_DONE;
    res = flush(t);
    return res == IO_AGAIN ? IO_DONE : res;
}

static enum io_result records_send(struct transport *t, const void *buf, size_t len, int more,
                                   size_t *put)
{
    enum io_result res = drain_stalled(t);

    *put = 0;
    return res == IO_DONE ? seal(t, buf, len, more, put) : res;
}

/* File bytes through memory: one read of a chunk, its records sent in one go. */
static enum io_result records_sendfile(struct transport *t, int fd, off_t off, size_t len,
                                       size_t *put)
{
    enum io_result res = drain_stalled(t);
    ssize_t n;

    *put = 0;
    if (res != IO_DONE)
        return res;
    do
        n = pread(fd, file_chunk, len < sizeof(file_chunk) ? len : sizeof(file_chunk), off);
    while (n < 0 && errno == EINTR);
    if (n <= 0)
        return n == 0 ? IO_DONE : IO_ERROR; /* 0 bytes: the file ended */
    return seal(t, file_chunk, (size_t)n, 0, put);
}

/* Frees the TLS state (after a best-effort close_notify): plain TCP from here on. */
static void to_plain(struct transport *t)
{
    const struct transport_ops *was = t->ops;
    SSL *ssl = t->layer;

    t->ops = &transport_plain;
    if (ssl == NULL)
        return;
    SSL_set_quiet_shutdown(ssl, 0);
    if (SSL_is_init_finished(ssl))
        SSL_shutdown(ssl);
    if (was->flush != NULL) {
        t->writable = 1; /* what the socket has room for */
        was->flush(t);
    }
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

static void records_rest(struct transport *t)
{
    tls_rest(t);
    tlsbio_writer_rest(SSL_get_wbio(t->layer));
}

static void tls_close(struct transport *t)
{
    to_plain(t);
    t->ops->close(t);
}

static enum io_result tls_handshake(struct transport *t);

static const char *server_name(const struct transport *t)
{
    return SSL_get_servername(t->layer, TLSEXT_NAMETYPE_host_name);
}

static const char *version(const struct transport *t)
{
    return SSL_get_version(t->layer);
}

static const struct transport_ops tls_records = {
    .recv = tls_recv,
    .send = records_send,
    .sendfile = records_sendfile,
    .flush = flush,
    .shutdown = tls_shutdown,
    .rest = records_rest,
    .close = tls_close,
    .server_name = server_name,
    .version = version,
    .gather = 1,
};

/* kernel TLS: records go out through the kernel, so file bytes need not pass here */
static const struct transport_ops tls_kernel = {
    .recv = tls_recv,
    .send = direct_send,
    .sendfile = ktls_sendfile,
    .shutdown = tls_shutdown,
    .rest = tls_rest,
    .close = tls_close,
    .server_name = server_name,
    .version = version,
    .gather = 1,
};

static const struct transport_ops tls_handshaking = {
    .handshake = tls_handshake,
    .recv = tls_recv,
    .send = direct_send,
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
    metrics_handshake(SSL_session_reused(ssl));
    if (BIO_get_ktls_send(SSL_get_wbio(ssl)) == 1) {
        t->ops = &tls_kernel;
    } else {
        /* records are gathered from now on: the socket BIO was kept for the
         * handshake only because kernel TLS is switched on through it */
        BIO *w = tlsbio_writer_new(t->fd);
        if (w == NULL)
            return IO_ERROR;
        SSL_set0_wbio(ssl, w);
        t->ops = &tls_records;
    }
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
    .send = direct_send,
    .shutdown = tls_shutdown,
    .close = tls_close,
    .gather = 1,
};

int tls_transport_start(struct transport *t, struct tls_server *srv)
{
    SSL *ssl = SSL_new(tls_server_ctx(srv));
    BIO *rbio = tlsbio_reader_new(t->fd), *wbio = BIO_new_socket(t->fd, BIO_NOCLOSE);

    if (ssl == NULL || rbio == NULL || wbio == NULL) {
        SSL_free(ssl);
        BIO_free(rbio);
        BIO_free(wbio);
        return -1;
    }
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_accept_state(ssl);
    t->layer = ssl;
    t->ops = &tls_sniffing;
    return 0;
}

/* The BIOs a connection's TLS reads and writes through. The reader lets OpenSSL
 * read ahead and notes whether a recv emptied the socket; the writer gathers the
 * records of a response in memory, so that a big body leaves in sends of several
 * records (a system call per 16 KiB record was most of the cost of a TLS download)
 * and OpenSSL never has to retry a write. */
#include "build-config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "portico/tlsbio.h"

/* The read side of a connection. OpenSSL reads ahead through it, so one recv takes
 * a whole request's records instead of a header's 5 bytes and then the rest, and
 * it notes whether that recv emptied the socket: then the connection need not call
 * again only to be told EAGAIN before epoll reports more (edge-triggered, as on a
 * plain socket). */
struct reader {
    int fd;               /* first: bio_new sets it */
    unsigned drained : 1; /* in this read, a recv returned less than asked, or EAGAIN */
    unsigned eof : 1;
};

/* The write side: records taken, [sent, len) of them still to go. */
struct writer {
    int fd; /* first: bio_new sets it */
    char *buf;
    size_t cap, len, sent;
    unsigned stalled : 1; /* a send left some behind: they go before any more are made */
};

static BIO_METHOD *reader_method, *writer_method;

static int reader_read(BIO *b, char *buf, size_t len, size_t *got)
{
    struct reader *r = BIO_get_data(b);
    ssize_t n;

    BIO_clear_retry_flags(b);
    do
        n = recv(r->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        r->drained = (size_t)n < len;
        *got = (size_t)n;
        return 1;
    }
    r->drained = 1;
    if (n == 0)
        r->eof = 1;
    else if (errno == EAGAIN)
        BIO_set_retry_read(b);
    return 0;
}

static long reader_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    struct reader *r = BIO_get_data(b);

    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_EOF:
        return r->eof;
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return 0;
    }
}

/* Appends the record; the buffer grows to what a response's largest write needs. */
static int writer_write(BIO *b, const char *data, size_t n, size_t *put)
{
    struct writer *w = BIO_get_data(b);

    if (w->len + n > w->cap) {
        size_t cap = w->cap * 2 > w->len + n ? w->cap * 2 : w->len + n;
        char *buf = realloc(w->buf, cap);
        if (buf == NULL)
            return 0; /* no retry flag: SSL_write fails, and the connection closes */
        w->buf = buf;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, n);
    w->len += n;
    *put = n;
    return 1;
}

static long writer_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    return cmd == BIO_CTRL_FLUSH; /* 1: the transport sends when it chooses */
}

static int reader_destroy(BIO *b)
{
    free(BIO_get_data(b));
    BIO_set_data(b, NULL);
    return 1;
}

static int writer_destroy(BIO *b)
{
    struct writer *w = BIO_get_data(b);

    if (w != NULL)
        free(w->buf);
    free(w);
    BIO_set_data(b, NULL);
    return 1;
}

static BIO_METHOD *method(const char *name, int (*read)(BIO *, char *, size_t, size_t *),
                          int (*write)(BIO *, const char *, size_t, size_t *),
                          long (*ctrl)(BIO *, int, long, void *), int (*destroy)(BIO *))
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, name);

    if (m == NULL || (read != NULL && BIO_meth_set_read_ex(m, read) != 1) ||
        (write != NULL && BIO_meth_set_write_ex(m, write) != 1) ||
        BIO_meth_set_ctrl(m, ctrl) != 1 || BIO_meth_set_destroy(m, destroy) != 1) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

int tlsbio_init(void)
{
    if (reader_method == NULL)
        reader_method = method("portico recv", reader_read, NULL, reader_ctrl, reader_destroy);
    if (writer_method == NULL)
        writer_method = method("portico send", NULL, writer_write, writer_ctrl, writer_destroy);
    return reader_method != NULL && writer_method != NULL ? 0 : -1;
}

/* A BIO of method m over a zeroed struct of size bytes whose first member is the
 * socket (struct reader, struct writer). */
static BIO *bio_new(BIO_METHOD *m, size_t size, int fd)
{
    int *data = calloc(1, size);
    BIO *b = data != NULL ? BIO_new(m) : NULL;

    if (b == NULL) {
        free(data);
        return NULL;
    }
    *data = fd;
    BIO_set_data(b, data);
    BIO_set_init(b, 1);
    return b;
}

BIO *tlsbio_reader_new(int fd)
{
    return bio_new(reader_method, sizeof(struct reader), fd);
}

int tlsbio_reader_drained(BIO *b)
{
    return ((struct reader *)BIO_get_data(b))->drained;
}

void tlsbio_reader_arm(BIO *b)
{
    ((struct reader *)BIO_get_data(b))->drained = 0;
}

BIO *tlsbio_writer_new(int fd)
{
    return bio_new(writer_method, sizeof(struct writer), fd);
}

size_t tlsbio_writer_pending(BIO *b)
{
    const struct writer *w = BIO_get_data(b);

    return w->len - w->sent;
}

int tlsbio_writer_flush(BIO *b)
{
    struct writer *w = BIO_get_data(b);
    ssize_t n;

    if (w->sent == w->len)
        return 0;
    do
        n = send(w->fd, w->buf + w->sent, w->len - w->sent, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    w->stalled = 1;
    if (n < 0)
        return -1;
    w->sent += (size_t)n;
    if (w->sent == w->len)
        w->len = w->sent = w->stalled = 0;
    return 0;
}

int tlsbio_writer_stalled(BIO *b)
{
    return ((struct writer *)BIO_get_data(b))->stalled;
}

void tlsbio_writer_rest(BIO *b)
{
    struct writer *w = BIO_get_data(b);

    if (w->len > 0)
        return;
    free(w->buf);
    w->buf = NULL;
    w->cap = 0;
}

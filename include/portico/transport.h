/* How a connection moves bytes: a small table of operations chosen at accept
 * (plain TCP, or TLS) and swapped when the layer changes (after the TLS handshake,
 * to kernel TLS, back to plain TCP for a lingering close). Nothing above it asks
 * which one it has. */
#ifndef PORTICO_TRANSPORT_H
#define PORTICO_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

enum io_result {
    IO_DONE,      /* some bytes moved (or the step finished) */
    IO_AGAIN,     /* wait for readiness: the flag that ran out is cleared */
    IO_ERROR,
    IO_EOF,       /* the peer closed */
    IO_PLAINTEXT, /* a handshake found a peer speaking plain text: the transport is plain now */
};

struct transport;

struct transport_ops {
    /* What must be agreed before any byte of HTTP, or NULL (plain TCP). */
    enum io_result (*handshake)(struct transport *t);
    enum io_result (*recv)(struct transport *t, void *buf, size_t len, size_t *got);
    /* more: further bytes of the same response follow at once */
    enum io_result (*send)(struct transport *t, const void *buf, size_t len, int more,
                           size_t *put);
    /* Sends file bytes, from the page cache where it can (plain TCP, kernel TLS),
     * else through one read into memory; *put 0 with IO_DONE: the file ended.
     * NULL while a handshake is under way: the walker then reads file bytes into
     * its own stage. */
    enum io_result (*sendfile)(struct transport *t, int fd, off_t off, size_t len, size_t *put);
    /* Sends what earlier sends left with the transport (TLS records gathered to
     * leave together): IO_DONE when it holds nothing. NULL: it never holds any. */
    enum io_result (*flush)(struct transport *t);
    /* Ends the layer above TCP politely, if there is one (TLS close_notify), and
     * half-closes the socket: raw TCP carries on, for draining what still comes. */
    void (*shutdown)(struct transport *t);
    /* The connection went idle between requests: give back what the layer needs
     * only while busy (TLS record buffers). NULL: nothing to give back. */
    void (*rest)(struct transport *t);
    /* Releases the layer's state and closes the socket. */
    void (*close)(struct transport *t);
    /* The host name the client named in its handshake (TLS SNI), or NULL. NULL: the
     * layer has none. */
    const char *(*server_name)(const struct transport *t);
    /* The protocol version agreed ("TLSv1.3"), or NULL: the layer has none. */
    const char *(*version)(const struct transport *t);
    /* 1: every send is framed (a TLS record), so small pieces are gathered first */
    unsigned gather;
};

struct transport {
    const struct transport_ops *ops;
    int fd;
    void *layer;                    /* the TLS state; NULL on plain TCP */
    unsigned readable : 1, writable : 1;
    unsigned hup : 1;               /* the peer has closed or reset */
};

extern const struct transport_ops transport_plain;

/* A plain TCP transport over fd, assumed ready both ways until it says otherwise. */
void transport_init(struct transport *t, int fd);

/* Reads from the socket itself, under any layer (a PROXY header before TLS); peek
 * leaves the bytes there. EAGAIN clears readable; a short read does not. */
enum io_result transport_recv_raw(struct transport *t, void *buf, size_t len, int peek,
                                  size_t *got);

/* Socket options that do not depend on the layer. */
void transport_set_lowat(struct transport *t, int bytes);
void transport_set_cork(struct transport *t, int on);
/* The next close resets the connection instead of queueing unsent bytes. */
void transport_reset_on_close(struct transport *t);
/* The host name the client asked for before any HTTP (TLS SNI), or NULL. */
static inline const char *transport_server_name(const struct transport *t)
{
    return t->ops->server_name ? t->ops->server_name(t) : NULL;
}
/* The TLS version in use ("TLSv1.3"), or NULL for plain TCP. */
static inline const char *transport_version(const struct transport *t)
{
    return t->ops->version ? t->ops->version(t) : NULL;
}
/* The address the peer connected to, for a URL naming this server. */
int transport_local_addr(const struct transport *t, char *out, size_t len);

#endif

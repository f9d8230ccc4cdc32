/* TLS for the HTTPS listener: OpenSSL contexts built in the master, and the
 * non-blocking handshake, reads and writes a worker does on a connection. */
#ifndef PORTICO_TLS_H
#define PORTICO_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "portico/settings.h"

struct tls_server;
struct ssl_st;

/* Loads or generates the certificates and builds one context per certificate,
 * with session-ticket keys shared by every worker forked later. A generated
 * certificate of prev (the previous generation's, on reload) is kept. Logs one
 * line and returns NULL on failure. */
struct tls_server *tls_server_new(const struct settings *s, const struct tls_server *prev);
void tls_server_free(struct tls_server *t);
/* SHA-256 fingerprint of a certificate generated for localhost, else NULL. */
const char *tls_generated_fingerprint(const struct tls_server *t);

enum tls_result {
    TLS_OK,
    TLS_WANT_READ,  /* call again when the socket is readable */
    TLS_WANT_WRITE, /* call again when the socket is writable */
    TLS_CLOSED,     /* the peer closed (close_notify or EOF) */
    TLS_FAILED,
};

struct ssl_st *tls_conn_new(struct tls_server *t, int fd);
void tls_conn_free(struct ssl_st *ssl);
enum tls_result tls_handshake(struct ssl_st *ssl);
/* Each returns the bytes moved (> 0) or 0 with *res saying why not. */
size_t tls_read(struct ssl_st *ssl, void *buf, size_t len, enum tls_result *res);
/* After tls_read: 1 when it emptied the socket and OpenSSL holds no unread bytes,
 * so nothing more is to be read until epoll says so. */
int tls_drained(struct ssl_st *ssl);
size_t tls_write(struct ssl_st *ssl, const void *buf, size_t len, enum tls_result *res);
/* Kernel TLS: 1 when records go out through the kernel, so tls_sendfile works. */
int tls_ktls_send(struct ssl_st *ssl);
size_t tls_sendfile(struct ssl_st *ssl, int fd, off_t off, size_t len, enum tls_result *res);

#endif

/* TLS for the HTTPS listener: OpenSSL contexts built in the master (tls.c), and
 * the transport a worker's connection speaks through (tlsio.c). */
#ifndef PORTICO_TLS_H
#define PORTICO_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include "portico/settings.h"

struct tls_server;
struct transport;
struct ssl_ctx_st;

/* Loads or generates the certificates and builds one context per certificate,
 * with session-ticket keys shared by every worker forked later. A generated
 * certificate of prev (the previous generation's, on reload) is kept. Logs one
 * line and returns NULL on failure. */
struct tls_server *tls_server_new(const struct settings *s, const struct tls_server *prev);
void tls_server_free(struct tls_server *t);
/* SHA-256 fingerprint of a certificate generated for localhost, else NULL. */
const char *tls_generated_fingerprint(const struct tls_server *t);

/* Made once before the workers are forked: the BIOs every connection uses. */
int tls_io_init(void);
/* The context a connection starts with (SNI may switch it). */
struct ssl_ctx_st *tls_server_ctx(struct tls_server *t);
/* Makes t, a plain transport over an accepted socket, a TLS server transport
 * whose handshake comes first; 0, or -1 when out of memory. */
int tls_transport_start(struct transport *t, struct tls_server *srv);

#endif

/* OpenSSL glue: contexts with Mozilla-intermediate settings, SNI, ALPN, session
 * tickets whose keys are made before fork so any worker resumes any session, and
 * non-blocking I/O results mapped for the event loop. Never parses HTTP. */
#include "build-config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "portico/log.h"
#include "portico/tls.h"
#include "portico/tlscert.h"

/* Mozilla "intermediate": ECDHE key exchange and AEAD ciphers only, for TLS 1.2 */
#define CIPHERS_TLS12                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                   \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                   \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
/* and Mozilla's order for TLS 1.3 (OpenSSL's own puts AES-256 first): with server
 * preference, AES-128-GCM, as browsers choose it, which costs a quarter less CPU a byte */
#define CIPHERS_TLS13 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"

struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
};

struct tls_server {
    SSL_CTX *ctx[SETTINGS_MAX_CERTS];
    X509 *cert[SETTINGS_MAX_CERTS]; /* for choosing by SNI */
    int n;
    /* made in the master for one generation of workers, so every worker of it
     * decrypts every other's tickets; a reload makes new ones */
    struct ticket_key key;
    struct tlscert generated; /* kept so a reload serves the same certificate */
    char fingerprint[100];
};

/* The read side of a connection. OpenSSL reads ahead through it, so one recv takes
 * a whole request's records instead of a header's 5 bytes and then the rest, and
 * it notes whether that recv emptied the socket: then the connection need not call
 * again only to be told EAGAIN before epoll reports more (edge-triggered, as on a
 * plain socket). Writes keep OpenSSL's socket BIO, which kernel TLS needs. */
struct rsock {
    int fd;
    unsigned drained : 1; /* in this tls_read, a recv returned less than asked, or EAGAIN */
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
static int rsock_method_init(void)
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

static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *ctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    const struct tls_server *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));
    const struct ticket_key *key = &t->key;
    OSSL_PARAM params[2];

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (enc) {
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
            return -1;
        memcpy(key_name, key->name, sizeof(key->name));
        if (EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key->aes, iv) != 1 ||
            EVP_MAC_init(hctx, key->hmac, sizeof(key->hmac), params) != 1)
            return -1;
        return 1;
    }
    if (memcmp(key_name, key->name, sizeof(key->name)) != 0)
        return 0; /* a ticket from another key: full handshake */
    if (EVP_MAC_init(hctx, key->hmac, sizeof(key->hmac), params) != 1 ||
        EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key->aes, iv) != 1)
        return -1;
    return 1;
}

static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char http11[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    unsigned char sellen = 0;

    (void)s;
    (void)arg;
    if (SSL_select_next_proto(&sel, &sellen, http11, sizeof(http11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol (RFC 7301 §3.2) */
    *out = sel;
    *outlen = sellen;
    return SSL_TLSEXT_ERR_OK;
}

static int sni_cb(SSL *s, int *alert, void *arg)
{
    struct tls_server *t = arg;
    const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
    int i;

    (void)alert;
    if (name == NULL)
        return SSL_TLSEXT_ERR_OK;
    for (i = 0; i < t->n; i++) {
        if (X509_check_host(t->cert[i], name, 0, 0, NULL) == 1) {
            if (i > 0)
                SSL_set_SSL_CTX(s, t->ctx[i]);
            break;
        }
    }
    return SSL_TLSEXT_ERR_OK; /* unknown names get the default certificate */
}

static SSL_CTX *make_ctx(struct tls_server *t, struct tlscert *tc)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL)
        return NULL;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, CIPHERS_TLS12) != 1 ||
        SSL_CTX_set_ciphersuites(ctx, CIPHERS_TLS13) != 1 ||
        SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1 ||
        SSL_CTX_use_cert_and_key(ctx, tc->cert, tc->key, tc->chain, 1) != 1) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_NO_COMPRESSION | SSL_OP_ENABLE_KTLS);
    /* idle connections keep no record buffers; writes may be partial and retried
     * from wherever the buffer has moved */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);
    /* workers share no session cache: resumption rides on tickets, whose keys all share */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
    SSL_CTX_set_tlsext_servername_arg(ctx, t);
    SSL_CTX_set_app_data(ctx, t);
    return ctx;
}

void tls_server_free(struct tls_server *t)
{
    int i;

    if (t == NULL)
        return;
    for (i = 0; i < t->n; i++) {
        SSL_CTX_free(t->ctx[i]);
        X509_free(t->cert[i]);
    }
    tlscert_free(&t->generated);
    free(t);
}

/* The generated certificate of prev, shared (reference counts), so that a reload
 * keeps the certificate a user may have chosen to trust. */
static int reuse_generated(struct tlscert *tc, const struct tls_server *prev)
{
    memset(tc, 0, sizeof(*tc));
    if (prev == NULL || prev->generated.cert == NULL)
        return 0;
    tc->cert = prev->generated.cert;
    tc->key = prev->generated.key;
    X509_up_ref(tc->cert);
    EVP_PKEY_up_ref(tc->key);
    return 1;
}

struct tls_server *tls_server_new(const struct settings *s, const struct tls_server *prev)
{
    struct tls_server *t = calloc(1, sizeof(*t));
    char err[512];
    int i;

    if (t == NULL) {
        log_errorx("out of memory for TLS");
        return NULL;
    }
    if (rsock_method_init() < 0) {
        log_errorx("out of memory for TLS");
        goto fail;
    }
    if (RAND_bytes((unsigned char *)&t->key, sizeof(t->key)) != 1) {
        log_errorx("cannot make TLS session-ticket keys");
        goto fail;
    }
    for (i = 0; i < (s->ntls_cert > 0 ? s->ntls_cert : 1); i++) {
        struct tlscert tc;
        int rc;

        if (s->ntls_cert > 0) {
            rc = tlscert_load(&tc, s->tls_cert[i], s->tls_key[i], err, sizeof(err));
            if (rc < 0) {
                log_errorx("%s", err);
                goto fail;
            }
            if (rc > 0)
                log_warnx("%s", err);
        } else if (!reuse_generated(&tc, prev)) {
            if (tlscert_generate(&tc, err, sizeof(err)) < 0) {
                log_errorx("%s", err);
                goto fail;
            }
            if (s->tls_save_cert && tlscert_save(tc.cert, s->tls_save_cert, err, sizeof(err)) < 0) {
                log_errorx("%s", err);
                tlscert_free(&tc);
                goto fail;
            }
        }
        if (s->ntls_cert == 0) {
            tlscert_fingerprint(tc.cert, t->fingerprint, sizeof(t->fingerprint));
            t->generated.cert = tc.cert;
            t->generated.key = tc.key;
            X509_up_ref(tc.cert);
            EVP_PKEY_up_ref(tc.key);
        }
        t->ctx[i] = make_ctx(t, &tc);
        if (t->ctx[i] == NULL) {
            log_errorx("TLS set-up for %s failed: %s", s->ntls_cert ? s->tls_cert[i] : "localhost",
                       ERR_reason_error_string(ERR_peek_last_error()));
            tlscert_free(&tc);
            goto fail;
        }
        t->cert[i] = X509_dup(tc.cert);
        tlscert_free(&tc);
        t->n = i + 1;
    }
    return t;
fail:
    tls_server_free(t);
    return NULL;
}

const char *tls_generated_fingerprint(const struct tls_server *t)
{
    return t->generated.cert ? t->fingerprint : NULL;
}

SSL *tls_conn_new(struct tls_server *t, int fd)
{
    SSL *ssl = SSL_new(t->ctx[0]);
    BIO *rbio = BIO_new(rsock_method), *wbio = BIO_new_socket(fd, BIO_NOCLOSE);
    struct rsock *s = calloc(1, sizeof(*s));

    if (ssl == NULL || rbio == NULL || wbio == NULL || s == NULL) {
        SSL_free(ssl);
        BIO_free(rbio);
        BIO_free(wbio);
        free(s);
        return NULL;
    }
    s->fd = fd;
    BIO_set_data(rbio, s);
    BIO_set_init(rbio, 1);
    SSL_set_bio(ssl, rbio, wbio);
    SSL_set_accept_state(ssl);
    return ssl;
}

void tls_conn_free(SSL *ssl)
{
    if (ssl == NULL)
        return;
    /* a best-effort close_notify; the socket is about to close either way */
    SSL_set_quiet_shutdown(ssl, 0);
    if (SSL_is_init_finished(ssl))
        SSL_shutdown(ssl);
    SSL_free(ssl);
    ERR_clear_error();
}

static enum tls_result result_of(SSL *ssl, int rc)
{
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ:
        return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        return TLS_CLOSED;
    default:
        /* a broken or hostile peer: not worth a log line each */
        ERR_clear_error();
        return TLS_FAILED;
    }
}

enum tls_result tls_handshake(SSL *ssl)
{
    int rc = SSL_do_handshake(ssl);

    return rc == 1 ? TLS_OK : result_of(ssl, rc);
}

size_t tls_read(SSL *ssl, void *buf, size_t len, enum tls_result *res)
{
    struct rsock *s = BIO_get_data(SSL_get_rbio(ssl));
    size_t n = 0;
    int rc;

    /* drained speaks of a recv made by this call only: served from what OpenSSL
     * read ahead earlier, it says nothing of bytes that came since, whose edge
     * epoll may have reported already */
    s->drained = 0;
    rc = SSL_read_ex(ssl, buf, len, &n);

    *res = rc == 1 ? TLS_OK : result_of(ssl, rc);
    return rc == 1 ? n : 0;
}

int tls_drained(SSL *ssl)
{
    const struct rsock *s = BIO_get_data(SSL_get_rbio(ssl));

    return s->drained && !SSL_has_pending(ssl);
}

size_t tls_write(SSL *ssl, const void *buf, size_t len, enum tls_result *res)
{
    size_t n = 0;
    int rc = SSL_write_ex(ssl, buf, len, &n);

    *res = rc == 1 ? TLS_OK : result_of(ssl, rc);
    return rc == 1 ? n : 0;
}

int tls_ktls_send(SSL *ssl)
{
    return BIO_get_ktls_send(SSL_get_wbio(ssl)) == 1;
}

size_t tls_sendfile(SSL *ssl, int fd, off_t off, size_t len, enum tls_result *res)
{
    ossl_ssize_t n = SSL_sendfile(ssl, fd, off, len, 0);

    if (n > 0) {
        *res = TLS_OK;
        return (size_t)n;
    }
    *res = result_of(ssl, (int)n);
    return 0;
}
